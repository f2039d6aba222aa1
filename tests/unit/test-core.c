/* Unit tests for lib/core-*: errors, allocation counting and injected
 * failures, arenas, buffers, atomic output files, the thread pool, CPU
 * dispatch levels and UTF-8 validation. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "vd-private.h"

static void add_rows(void *arg, int ith, int nth)
{
    long *v = arg;
    int64_t r0, r1;
    vd__split(1000, ith, nth, &r0, &r1);
    for (int64_t i = r0; i < r1; i++)
        v[i] = i * 2;
}

int main(void)
{
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    tap_ok(ctx != NULL, "ctx created");
    tap_ok(vd_ctx_new_abi(NULL, VD_ABI_VERSION + 1) == NULL,
           "ABI mismatch refused");

    /* first failure wins until cleared */
    vd__fail(ctx, VD_ERR_IO, "%s: first", "a.pdf");
    vd__fail(ctx, VD_ERR_FORMAT, "second");
    tap_ok(vd_ctx_status(ctx) == VD_ERR_IO, "first status kept");
    tap_ok(strcmp(vd_ctx_errmsg(ctx), "a.pdf: first") == 0,
           "first message kept: %s", vd_ctx_errmsg(ctx));
    vd__refail(ctx, VD_ERR_PASSWORD, "refined");
    tap_ok(vd_ctx_status(ctx) == VD_ERR_PASSWORD &&
               strcmp(vd_ctx_errmsg(ctx), "refined") == 0,
           "refail replaces");
    vd_ctx_clear(ctx);
    tap_ok(vd_ctx_status(ctx) == VD_OK && !*vd_ctx_errmsg(ctx), "cleared");
    tap_ok(strcmp(vd_status_str(VD_ERR_NOMEM), "out of memory") == 0,
           "status string");
    tap_ok(strcmp(vd_status_str((vd_status)999), "unknown status") == 0,
           "unknown status string");

    /* allocation counting and injected failure */
    long live0 = vd__alloc_live();
    void *p = vd__malloc(ctx, 10);
    tap_ok(vd__alloc_live() == live0 + 1, "malloc counted");
    vd__free(p);
    tap_ok(vd__alloc_live() == live0, "free counted");
    vd__alloc_fail_at(2);
    void *a = vd__malloc(ctx, 1), *b = vd__malloc(ctx, 1);
    tap_ok(a && !b && vd_ctx_status(ctx) == VD_ERR_NOMEM,
           "second allocation fails on request");
    vd__free(a);
    vd_ctx_clear(ctx);
    size_t big;
    tap_ok(!vd__mul_ok(SIZE_MAX / 2, 3, &big), "overflow detected");
    tap_ok(vd__calloc(ctx, SIZE_MAX / 2, 3) == NULL &&
               vd_ctx_status(ctx) == VD_ERR_NOMEM,
           "calloc overflow refused");
    vd_ctx_clear(ctx);

    /* arena */
    vd__arena *ar = vd__arena_new(ctx, 64);
    char *s1 = vd__arena_strdup(ctx, ar, "hello");
    int *z = vd__arena_alloc(ctx, ar, 1000 * sizeof(int));
    int zero = 1;
    for (int i = 0; i < 1000; i++)
        zero &= z[i] == 0;
    tap_ok(s1 && strcmp(s1, "hello") == 0 && zero, "arena zeroed, strings");
    tap_ok(((uintptr_t)z & 15) == 0, "arena 16-byte aligned");
    char *f = vd__arena_printf(ctx, ar, "%d-%s", 42, "x");
    tap_ok(f && strcmp(f, "42-x") == 0, "arena printf");
    vd__arena_free(ar);

    /* buffers with a ceiling */
    vd__buf bf;
    vd__buf_init(&bf, 8);
    vd__buf_puts(ctx, &bf, "1234");
    vd__buf_printf(ctx, &bf, "%d", 56);
    tap_ok(bf.len == 6 && strcmp(bf.data, "123456") == 0, "buf append");
    tap_ok(vd__buf_puts(ctx, &bf, "789") == VD_ERR_LIMIT, "buf ceiling");
    tap_ok(vd__buf_puts(ctx, &bf, "") == VD_ERR_LIMIT, "buf error sticky");
    vd__buf_free(&bf);
    vd_ctx_clear(ctx);
    vd__buf_init(&bf, 0);
    vd__buf_html_escape(ctx, &bf, "a<b&\"c\">", 8);
    tap_ok(strcmp(bf.data, "a&lt;b&amp;&quot;c&quot;&gt;") == 0,
           "html escape: %s", bf.data);
    vd__buf_free(&bf);

    /* atomic output: nothing visible until close; free discards */
    char path[] = "test-core-out.txt";
    unlink(path);
    vd_out *o;
    tap_ok(vd_out_open_file(ctx, path, &o) == VD_OK, "open file sink");
    vd_out_printf(o, "x=%d\n", 7);
    tap_ok(access(path, F_OK) != 0, "target absent before close");
    tap_ok(vd_out_close(ctx, o) == VD_OK, "close commits");
    vd_out_free(o);
    char *data;
    size_t len;
    tap_ok(vd__file_read(ctx, path, 100, &data, &len) == VD_OK && len == 4 &&
               memcmp(data, "x=7\n", 4) == 0,
           "content written");
    vd__free(data);
    tap_ok(vd__file_read(ctx, path, 2, &data, &len) == VD_ERR_LIMIT,
           "read ceiling");
    vd_ctx_clear(ctx);
    tap_ok(vd_out_open_file(ctx, path, &o) == VD_OK, "reopen");
    vd_out_puts(o, "partial");
    vd_out_free(o); /* not closed: the old file must survive */
    tap_ok(vd__file_read(ctx, path, 100, &data, &len) == VD_OK && len == 4,
           "uncommitted sink leaves the old file");
    vd__free(data);
    unlink(path);
    /* a writer killed mid-file leaves its temp; the supervisor removes
     * it, and only it */
    pid_t pid = fork();
    if (pid == 0) {
        vd_out *k;
        if (vd_out_open_file(ctx, path, &k) == VD_OK)
            vd_out_puts(k, "killed");
        _exit(0); /* neither closed nor freed */
    }
    waitpid(pid, NULL, 0);
    FILE *decoy = fopen(".test-core-other.txt.vldoc-abcdef", "w");
    if (decoy)
        fclose(decoy);
    tap_ok(vd_out_remove_stale(path) == 1 && vd_out_remove_stale(path) == 0 &&
               access(path, F_OK) != 0 &&
               access(".test-core-other.txt.vldoc-abcdef", F_OK) == 0,
           "a killed writer's temp file is removed, another file's kept");
    unlink(".test-core-other.txt.vldoc-abcdef");
    tap_ok(vd_out_open_file(ctx, "no-such-dir/x/y.txt", &o) == VD_ERR_IO &&
               strstr(vd_ctx_errmsg(ctx), "no-such-dir/x/y.txt"),
           "unwritable path names the file: %s", vd_ctx_errmsg(ctx));
    vd_ctx_clear(ctx);
    vd_out *mb;
    vd_out_open_buffer(ctx, 0, &mb);
    vd_out_printf(mb, "%s-%d", "buf", 1);
    size_t bl;
    tap_ok(strcmp(vd_out_buffer(mb, &bl), "buf-1") == 0 && bl == 5,
           "buffer sink");
    vd_out_free(mb);

    /* thread pool: every row written exactly once */
    vd__pool *pool;
    tap_ok(vd__pool_new(ctx, 3, &pool) == VD_OK, "pool of 3");
    long *v = calloc(1000, sizeof *v);
    for (int rep = 0; rep < 50; rep++)
        vd__pool_run(pool, add_rows, v);
    int good = 1;
    for (int i = 0; i < 1000; i++)
        good &= v[i] == i * 2;
    tap_ok(good, "pool covers all rows");
    free(v);
    vd__pool_free(pool);

    /* CPU dispatch level is consistent with the features */
    unsigned feat = vd__cpu_features();
    vd__isa isa = vd__isa_active();
    tap_ok(isa < VD_ISA_AVX2 || (feat & VD_CPU_AVX2), "isa %s matches cpu",
           vd__isa_name(isa));

    tap_ok(vd__utf8_valid("h\xc3\xa9llo", 6), "utf8 valid");
    tap_ok(!vd__utf8_valid("\xc3(", 2), "utf8 invalid continuation");
    tap_ok(!vd__utf8_valid("\xed\xa0\x80", 3), "utf8 surrogate rejected");
    tap_ok(!vd__utf8_valid("\xc0\xaf", 2), "utf8 overlong rejected");

    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

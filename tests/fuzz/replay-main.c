/* Fuzz replay: runs a libFuzzer target without libFuzzer, so every target
 * builds everywhere and its seeds run in `make check` under the
 * sanitizers. Each seed file (the arguments, or every file in
 * $VLDOC_SRCDIR/tests/fuzz/seeds/VD_FUZZ_NAME/) goes through the target
 * as is, then cut at every length and with deterministic byte changes.
 * One TAP line per seed; a crash or sanitizer report fails the test. */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef VD_FUZZ_NAME
#error "define VD_FUZZ_NAME (the seed folder under tests/fuzz/seeds/)"
#endif

/* Truncations of the first MAX_TRUNC bytes and this many byte changes. */
#define MAX_TRUNC 4096
#define N_FLIPS   256

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    *n = len;
    return buf;
}

/* Each input in a fresh heap block of exactly its size, so a read past
 * the end is caught by ASan. */
static void run(const unsigned char *data, size_t n)
{
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy)
        return;
    if (n)
        memcpy(copy, data, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

static int replay(const char *path)
{
    size_t n = 0;
    unsigned char *buf = slurp(path, &n);
    if (!buf)
        return tap_ok(0, "%s: cannot read", path);
    run(buf, n);
    size_t cut = n < MAX_TRUNC ? n : MAX_TRUNC;
    for (size_t k = 0; k < cut; k++)
        run(buf, k);
    uint64_t x = 0x9E3779B97F4A7C15ULL ^ n;
    unsigned char *m = malloc(n ? n : 1);
    for (int i = 0; m && n && i < N_FLIPS; i++) {
        memcpy(m, buf, n);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t at = (size_t)(x >> 33) % n;
        static const unsigned char vals[] = { 0x00, 0xFF, 0x7F, 0x80,
                                              '"',  '[',  '9',  '-' };
        m[at] = (i & 1) ? vals[(x >> 20) & 7] : (unsigned char)(m[at] ^ 1);
        run(m, n);
    }
    free(m);
    free(buf);
    return tap_ok(1, "%s (%zu bytes, %zu cuts, %d byte changes)", path, n, cut,
                  N_FLIPS);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    tap_plan_late();
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            replay(argv[i]);
        return tap_done();
    }
    const char *src = getenv("VLDOC_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/seeds/%s", src ? src : ".",
             VD_FUZZ_NAME);
    DIR *d = opendir(dir);
    if (!d)
        tap_skip_all("no seed folder %s", dir);
    char *names[1024];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 1024)
        if (de->d_name[0] != '.')
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        replay(p);
        free(names[i]);
    }
    if (n == 0)
        tap_ok(0, "no seeds in %s", dir);
    return tap_done();
}

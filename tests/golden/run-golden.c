/* Golden tests for QwenVL HTML -> tree -> every writer. Inputs: the real
 * Qwen2.5-VL outputs in $VLDOC_SHARED/corpus/qwenvl-html/ (model and image
 * size from their .prompt.json) and our own tests/golden/qwenvl/NAME.in.
 * Each is converted to json (indented), md, html, txt, jsonl and
 * sections.jsonl and compared byte for byte with tests/golden/qwenvl/.
 *
 *   run-golden            compare (TAP)
 *   run-golden -u         rewrite the expected files; review the diff
 *   run-golden -o DIR     only write the outputs to DIR (for the format
 *                         checks in test-formats.sh)
 *
 * NAME.in starts with <!-- vldoc-golden model=WxH page=WxH unit=pt|px -->
 * (model=0x0: unknown size); a line <!-- vldoc-golden-page --> starts the
 * next page. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tap.h"
#include "vd-private.h"

static vd_ctx *ctx;
static int update;
static const char *outdir;
static char golden_dir[2048];

typedef struct input {
    char name[256];
    char *html;
    size_t len;
    vd_pagemap map;
} input;

static char *slurp(const char *path, size_t *len)
{
    char *d = NULL;
    if (vd__file_read(ctx, path, (size_t)1 << 26, &d, len) != VD_OK) {
        vd_ctx_clear(ctx);
        return NULL;
    }
    return d;
}

static int write_file(const char *path, const char *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Sizes of a shared sample from NAME.prompt.json. */
static void shared_map(const char *dir, const char *base, vd_pagemap *m)
{
    char path[4608];
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/%s.prompt.json", dir, base);
    json_object *j = json_object_from_file(path);
    if (!j)
        return;
    json_object *ms, *is, *w, *h;
    if (json_object_object_get_ex(j, "model_input_size_after_smart_resize",
                                  &ms) &&
        json_object_is_type(ms, json_type_object) &&
        json_object_object_get_ex(ms, "width", &w) &&
        json_object_object_get_ex(ms, "height", &h)) {
        m->model_w = json_object_get_int(w);
        m->model_h = json_object_get_int(h);
        m->page_w = m->model_w;
        m->page_h = m->model_h;
        m->unit = VD_UNIT_PX;
    }
    if (m->model_w && json_object_object_get_ex(j, "input_image_size", &is) &&
        json_object_is_type(is, json_type_object) &&
        json_object_object_get_ex(is, "width", &w) &&
        json_object_object_get_ex(is, "height", &h)) {
        m->page_w = json_object_get_int(w);
        m->page_h = json_object_get_int(h);
    }
    json_object_put(j);
}

static void parse_directive(const char *html, vd_pagemap *m)
{
    memset(m, 0, sizeof *m);
    const char *d = strstr(html, "vldoc-golden ");
    if (!d)
        return;
    double pw = 0, ph = 0;
    char unit[8] = "px";
    const char *p = strstr(d, "model=");
    if (p)
        sscanf(p, "model=%dx%d", &m->model_w, &m->model_h);
    p = strstr(d, "page=");
    if (p)
        sscanf(p, "page=%lfx%lf", &pw, &ph);
    p = strstr(d, "unit=");
    if (p)
        sscanf(p, "unit=%7[a-z]", unit);
    m->page_w = pw > 0 ? pw : m->model_w;
    m->page_h = ph > 0 ? ph : m->model_h;
    m->unit = strcmp(unit, "pt") == 0 ? VD_UNIT_PT : VD_UNIT_PX;
}

static vd_doc *convert(const input *in)
{
    vd_doc *d = NULL;
    if (vd_doc_new(ctx, in->name, &d) != VD_OK)
        return NULL;
    static const char sep[] = "<!-- vldoc-golden-page -->";
    const char *s = in->html, *end = in->html + in->len;
    int page = 0;
    for (;;) {
        const char *next = NULL;
        for (const char *q = s; q + sizeof sep - 1 <= end; q++)
            if (*q == '<' && !memcmp(q, sep, sizeof sep - 1)) {
                next = q;
                break;
            }
        size_t n = (size_t)((next ? next : end) - s);
        if (vd_doc_add_page_html(ctx, d, page++, s, n, &in->map, NULL) !=
            VD_OK) {
            tap_diag("%s: %s", in->name, vd_ctx_errmsg(ctx));
            vd_doc_free(d);
            return NULL;
        }
        if (!next)
            break;
        s = next + sizeof sep - 1;
    }
    return d;
}

static const struct {
    const char *ext, *fmt;
    int pretty, section;
} outs[] = {
    { "json", "json", 1, 0 },   { "md", "md", 0, 0 },
    { "html", "html", 0, 0 },   { "txt", "text", 0, 0 },
    { "jsonl", "jsonl", 0, 0 }, { "sections.jsonl", "jsonl", 0, 1 },
};

/* Line number of the first difference, 0 when equal. */
static int first_diff(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0;
    int line = 1;
    while (i < na && i < nb && a[i] == b[i]) {
        if (a[i] == '\n')
            line++;
        i++;
    }
    return i == na && i == nb ? 0 : line;
}

static void run(const input *in)
{
    vd_doc *d = convert(in);
    if (!d) {
        tap_ok(0, "%s: converts", in->name);
        return;
    }
    for (size_t k = 0; k < sizeof outs / sizeof *outs; k++) {
        vd_out *o = NULL;
        vd_write_opts wo;
        vd_write_opts_init(&wo);
        wo.pretty = outs[k].pretty;
        wo.chunk_section = outs[k].section;
        vd_status st = vd_out_open_buffer(ctx, 0, &o);
        if (st == VD_OK)
            st = vd_doc_write(ctx, d, outs[k].fmt, &wo, o);
        size_t n = 0;
        const char *got = st == VD_OK ? vd_out_buffer(o, &n) : "";
        char path[4608];
        if (outdir) {
            snprintf(path, sizeof path, "%s/%s.%s", outdir, in->name,
                     outs[k].ext);
            if (write_file(path, got, n) != 0)
                tap_ok(0, "%s: write %s", in->name, path);
        } else {
            snprintf(path, sizeof path, "%s/%s.%s", golden_dir, in->name,
                     outs[k].ext);
            if (update) {
                tap_ok(st == VD_OK && write_file(path, got, n) == 0,
                       "%s.%s updated", in->name, outs[k].ext);
            } else {
                size_t en = 0;
                char *exp = slurp(path, &en);
                int line = exp ? first_diff(exp, en, got, n) : -1;
                tap_ok(st == VD_OK && line == 0, "%s.%s matches%s", in->name,
                       outs[k].ext,
                       !exp ? " (expected file missing; run -u)" : "");
                if (line > 0)
                    tap_diag("first difference on line %d", line);
                vd__free(exp);
            }
        }
        vd_out_free(o);
    }
    vd_doc_free(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in DIR ending with SUFFIX (suffix removed). */
static int list(const char *dir, const char *suffix, char ***names)
{
    DIR *dp = opendir(dir);
    int n = 0, cap = 0;
    *names = NULL;
    if (!dp)
        return 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *names = realloc(*names, sizeof **names * (size_t)cap);
        }
        (*names)[n++] = strndup(e->d_name, l - sl);
    }
    closedir(dp);
    qsort(*names, (size_t)n, sizeof **names, by_name);
    return n;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-u"))
            update = 1;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            outdir = argv[++i];
    }
    const char *src = getenv("VLDOC_SRCDIR");
    const char *shared = getenv("VLDOC_SHARED");
    snprintf(golden_dir, sizeof golden_dir, "%s/tests/golden/qwenvl",
             src && *src ? src : ".");
    if (outdir)
        mkdir(outdir, 0777);
    tap_plan_late();
    ctx = vd_ctx_new(NULL);

    char sdir[2048];
    char **names;
    int total = 0;
    if (shared && *shared) {
        snprintf(sdir, sizeof sdir, "%s/corpus/qwenvl-html", shared);
        int n = list(sdir, ".output.html", &names);
        for (int i = 0; i < n; i++) {
            input in;
            char path[4608];
            /* short names: the tarball's tar format keeps paths under
             * 100 bytes */
            const char *shortn = names[i];
            if (!strncmp(shortn, "qwen25vl_", 9))
                shortn += 9;
            snprintf(in.name, sizeof in.name, "%s", shortn);
            snprintf(path, sizeof path, "%s/%s.output.html", sdir, names[i]);
            in.html = slurp(path, &in.len);
            shared_map(sdir, names[i], &in.map);
            if (in.html)
                run(&in);
            else
                tap_ok(0, "%s: readable", path);
            vd__free(in.html);
            free(names[i]);
            total++;
        }
        free(names);
    } else {
        tap_skip("shared corpus not found: only our own inputs");
    }
    int n = list(golden_dir, ".in", &names);
    for (int i = 0; i < n; i++) {
        input in;
        char path[4608];
        snprintf(in.name, sizeof in.name, "%s", names[i]);
        snprintf(path, sizeof path, "%s/%s.in", golden_dir, names[i]);
        in.html = slurp(path, &in.len);
        if (in.html) {
            parse_directive(in.html, &in.map);
            /* the directive line is for us, not the converter */
            char *full = in.html;
            if (!strncmp(in.html, "<!-- vldoc-golden ", 18)) {
                char *nl = memchr(in.html, '\n', in.len);
                size_t skip = nl ? (size_t)(nl - in.html) + 1 : in.len;
                in.html += skip;
                in.len -= skip;
            }
            run(&in);
            in.html = full;
        } else {
            tap_ok(0, "%s: readable", path);
        }
        vd__free(in.html);
        free(names[i]);
        total++;
    }
    free(names);
    tap_ok(total >= 5 + 1 || !shared, "%d inputs converted", total);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks");
    return tap_done();
}

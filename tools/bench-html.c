/* Benchmark: MB/s of QwenVL HTML converted to each format (HTML ->
 * libxml2 -> tree -> writer) on the shared corpus's real model outputs
 * plus a dense generated page; medians in a table, next to libxml2's
 * parser alone on the same bytes. Goal: >= 50 MB/s for every format.
 * Usage: tools/bench-html [-n RUNS] [-m MB-per-run] [FILE.html...] */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/HTMLparser.h>

#include "vldoc/vldoc.h"

typedef struct page {
    char *html;
    size_t len;
    int model_w, model_h;
} page;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int load(page *p, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p->html = malloc((size_t)n + 1);
    if (!p->html || fread(p->html, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p->html);
        return -1;
    }
    fclose(f);
    p->html[n] = '\0';
    p->len = (size_t)n;
    p->model_w = 1008;
    p->model_h = 1540;
    return 0;
}

/* A dense generated page: headings, paragraphs with inline math, a
 * nested list, a table with a spanning cell and a formula, like a busy
 * report page. */
static void synth(page *p)
{
    size_t cap = 64 * 1024, n = 0;
    char *s = malloc(cap);
    if (!s)
        exit(1);
    n += (size_t)snprintf(s + n, cap - n, "```html\n<html><body>\n");
    int y = 20;
    for (int sec = 0; sec < 4; sec++) {
        n += (size_t)snprintf(s + n, cap - n,
                              "<h2 data-bbox=\"40 %d 600 %d\">%d. Results "
                              "&amp; discussion</h2>\n",
                              y, y + 30, sec + 1);
        y += 40;
        n += (size_t)snprintf(
            s + n, cap - n,
            "<p data-bbox=\"40 %d 960 %d\">The measured value of $x_%d$ "
            "was <b>%d.5</b> units (see Table %d), which is within the "
            "tolerance <i>[a, b]</i> given by the supplier; values above "
            "the limit are marked with * and discussed below.</p>\n",
            y, y + 60, sec, 40 + sec, sec + 1);
        y += 70;
        n += (size_t)snprintf(s + n, cap - n,
                              "<ul data-bbox=\"60 %d 900 %d\"><li "
                              "data-bbox=\"60 %d 900 %d\">first point with "
                              "a_b and c_d</li><li>second point<ol><li>"
                              "nested one</li><li>nested two</li></ol>"
                              "</li></ul>\n",
                              y, y + 80, y, y + 20);
        y += 90;
        n += (size_t)snprintf(s + n, cap - n,
                              "<table data-bbox=\"40 %d 960 %d\" "
                              "class=\"table%d\"><thead><tr><th>Item</th>"
                              "<th>Qty</th><th>Price</th></tr></thead>",
                              y, y + 160, sec);
        for (int r = 0; r < 6; r++)
            n += (size_t)snprintf(s + n, cap - n,
                                  "<tr><td>Part %d-%d</td><td>%d</td>"
                                  "<td>%d.00</td></tr>",
                                  sec, r, r + 1, (r + 3) * 7);
        n += (size_t)snprintf(s + n, cap - n,
                              "<tr><td colspan=\"2\">Total</td><td>99.00"
                              "</td></tr></table>\n");
        y += 170;
        n += (size_t)snprintf(
            s + n, cap - n,
            "<div class=\"formula\" data-bbox=\"300 %d 700 %d\"><img "
            "data-bbox=\"300 %d 700 %d\"/><div>$$E_%d = \\sum_{i=1}^{n} "
            "m_i c^2$$</div></div>\n",
            y, y + 40, y, y + 40, sec);
        y += 50;
    }
    n += (size_t)snprintf(s + n, cap - n,
                          "<p data-bbox=\"480 1500 530 1520\">7</p>\n"
                          "</body></html>\n```\n");
    p->html = s;
    p->len = n;
    p->model_w = 1008;
    p->model_h = 1540;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 5;
    double mb_per_run = 4;
    page pages[64];
    int np = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc)
            mb_per_run = atof(argv[++i]);
        else if (np < 63 && load(&pages[np], argv[i]) == 0)
            np++;
        else
            fprintf(stderr, "bench-html: cannot read %s\n", argv[i]);
    }
    const char *shared = getenv("VLDOC_SHARED");
    if (np == 0 && shared && *shared) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/corpus/qwenvl-html", shared);
        DIR *d = opendir(dir);
        struct dirent *e;
        char *names[64];
        int nn = 0;
        while (d && (e = readdir(d)) && nn < 60) {
            size_t l = strlen(e->d_name);
            if (l > 12 && !strcmp(e->d_name + l - 12, ".output.html"))
                names[nn++] = strdup(e->d_name);
        }
        if (d)
            closedir(d);
        for (int k = 0; k < nn; k++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[k]);
            if (load(&pages[np], path) == 0)
                np++;
            free(names[k]);
        }
    }
    synth(&pages[np++]);
    if (runs < 1)
        runs = 1;

    size_t total = 0;
    for (int k = 0; k < np; k++)
        total += pages[k].len;
    /* pages per document: as many passes over the sample set as make
     * about MB_PER_RUN megabytes */
    int reps = (int)(mb_per_run * 1e6 / (double)total);
    if (reps < 1)
        reps = 1;

    vd_ctx *ctx = vd_ctx_new(NULL);
    FILE *devnull = fopen("/dev/null", "wb");
    if (!ctx || !devnull)
        return 1;
    static const char *const fmts[] = {
        "libxml2", "(tree)", "json", "md", "html", "text", "jsonl", "qwenvl"
    };
    printf("QwenVL HTML -> format, %d sample pages (%.1f KB), %d pages "
           "(%.1f MB) per run, median of %d runs\n\n",
           np, (double)total / 1e3, reps * np, (double)total * reps / 1e6,
           runs);
    printf("%-8s %10s %10s %10s\n", "format", "MB/s", "min", "max");
    int failed = 0;
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++) {
        double *t = calloc((size_t)runs, sizeof *t);
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            if (f == 0) {
                for (int k = 0; k < reps; k++)
                    for (int q = 0; q < np; q++)
                        xmlFreeDoc(htmlReadMemory(
                            pages[q].html, (int)pages[q].len, NULL, "UTF-8",
                            HTML_PARSE_RECOVER | HTML_PARSE_NONET |
                                HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING));
                t[r] = now() - t0;
                continue;
            }
            vd_doc *doc = NULL;
            if (vd_doc_new(ctx, "bench", &doc) != VD_OK)
                return 1;
            int pn = 0;
            for (int k = 0; k < reps; k++)
                for (int q = 0; q < np; q++) {
                    vd_pagemap m = { pages[q].model_w, pages[q].model_h, 612,
                                     792, VD_UNIT_PT };
                    vd_doc_add_page_html(ctx, doc, pn++, pages[q].html,
                                         pages[q].len, &m, NULL);
                }
            if (f > 1) {
                vd_out *o = NULL;
                vd_out_open_stream(ctx, devnull, &o);
                vd_write_opts wo;
                vd_write_opts_init(&wo);
                if (vd_doc_write(ctx, doc, fmts[f], &wo, o) != VD_OK)
                    failed = 1;
                vd_out_close(ctx, o);
                vd_out_free(o);
            }
            vd_doc_free(doc);
            t[r] = now() - t0;
        }
        qsort(t, (size_t)runs, sizeof *t, cmp);
        double mb = (double)total * reps / 1e6;
        printf("%-8s %10.1f %10.1f %10.1f\n", fmts[f], mb / t[runs / 2],
               mb / t[runs - 1], mb / t[0]);
        free(t);
    }
    fclose(devnull);
    vd_ctx_free(ctx);
    for (int k = 0; k < np; k++)
        free(pages[k].html);
    return failed;
}

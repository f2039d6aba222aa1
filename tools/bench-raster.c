/* tools/bench-raster: pages per second and peak RSS of vldoc's rasterizer
 * on a 300-page PDF and a 300-page fax TIFF, side by side with pdftoppm at
 * the same DPI in the same run; median of RUNS runs, each in its own
 * process so its peak RSS is its own. Not a test; `make bench` runs it.
 *
 *   bench-raster [-n RUNS] [-p PAGES] [-d DIR]
 *
 * DIR (default bench.tmp) keeps the generated inputs between runs: the
 * PDF comes from tools/gen-corpus --long (env GEN_CORPUS), the TIFF is
 * that PDF through pdftoppm -mono -r 200 and tiffcp -c g4. Only the
 * public API is used. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vldoc/vldoc.h"

typedef struct sample {
    double secs; /* wall clock */
    double cpu;  /* user + system: steadier on a busy machine */
    long rss_kb;
    int ok;
} sample;

static double cpu_of(const struct rusage *ru)
{
    return ru->ru_utime.tv_sec + ru->ru_utime.tv_usec * 1e-6 +
           ru->ru_stime.tv_sec + ru->ru_stime.tv_usec * 1e-6;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Our rasterizer over PAGES pages of PATH in a child process; MODEL: the
 * model image (smart resize included), else the native raster. */
static sample ours(const char *path, int pages, int model)
{
    sample s = { 0, 0, 0, 0 };
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        vd_opts o;
        vd_opts_init(&o);
        o.threads = 1; /* pdftoppm is single-threaded too */
        vd_ctx *ctx = vd_ctx_new(&o);
        vd_input *in = NULL;
        if (!ctx || vd_input_open(ctx, path, NULL, &in) != VD_OK)
            _exit(2);
        int n = vd_input_page_count(in);
        for (int p = 0; p < n && p < pages; p++) {
            vd_image *img = NULL;
            vd_status st =
                model ? vd_input_render_model(ctx, in, p, NULL, &img, NULL)
                      : vd_input_render(ctx, in, p, NULL, &img);
            if (st != VD_OK) {
                fprintf(stderr, "bench-raster: %s\n", vd_ctx_errmsg(ctx));
                _exit(3);
            }
            vd_image_free(img);
        }
        vd_input_free(in);
        vd_ctx_free(ctx);
        _exit(0);
    }
    int status = 0;
    struct rusage ru;
    if (pid > 0 && wait4(pid, &status, 0, &ru) == pid) {
        s.secs = now() - t0;
        s.cpu = cpu_of(&ru);
        s.rss_kb = ru.ru_maxrss;
        s.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return s;
}

/* An external command with stdout to /dev/null. */
static sample run(char *const argv[])
{
    sample s = { 0, 0, 0, 0 };
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (pid > 0 && wait4(pid, &status, 0, &ru) == pid) {
        s.secs = now() - t0;
        s.cpu = cpu_of(&ru);
        s.rss_kb = ru.ru_maxrss;
        s.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return s;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_l(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Median time and RSS of RUNS samples. */
static sample median(const sample *s, int runs)
{
    double t[64], c[64];
    long r[64];
    sample m = { 0, 0, 0, 1 };
    for (int i = 0; i < runs; i++) {
        t[i] = s[i].secs;
        c[i] = s[i].cpu;
        r[i] = s[i].rss_kb;
        m.ok &= s[i].ok;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    qsort(c, (size_t)runs, sizeof *c, cmp_d);
    qsort(r, (size_t)runs, sizeof *r, cmp_l);
    m.secs = t[runs / 2];
    m.cpu = c[runs / 2];
    m.rss_kb = r[runs / 2];
    return m;
}

static void row(const char *what, int pages, sample m)
{
    if (!m.ok) {
        printf("%-46s failed\n", what);
        return;
    }
    printf("%-46s %6d %8.2f %8.1f %8.2f %8.1f %8.1f\n", what, pages, m.secs,
           pages / m.secs, m.cpu, pages / m.cpu, m.rss_kb / 1024.0);
}

static int sh(const char *cmd)
{
    int r = system(cmd);
    if (r != 0)
        fprintf(stderr, "bench-raster: failed: %s\n", cmd);
    return r;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

int main(int argc, char **argv)
{
    int runs = 3, pages = 300, c;
    const char *dir = "bench.tmp";
    while ((c = getopt(argc, argv, "n:p:d:")) != -1) {
        if (c == 'n')
            runs = atoi(optarg);
        else if (c == 'p')
            pages = atoi(optarg);
        else if (c == 'd')
            dir = optarg;
        else {
            fprintf(stderr, "usage: bench-raster [-n RUNS] [-p PAGES] "
                            "[-d DIR]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 64 || pages < 1)
        return 2;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    char pdf[1024], tif[1024], cmd[4096];
    snprintf(pdf, sizeof pdf, "%s/raster-%d.pdf", dir, pages);
    snprintf(tif, sizeof tif, "%s/raster-%d.tif", dir, pages);
    const char *gen = getenv("GEN_CORPUS");
    if (!exists(pdf)) {
        snprintf(cmd, sizeof cmd, "'%s' --long %d '%s'",
                 gen ? gen : "tools/gen-corpus", pages, pdf);
        if (sh(cmd))
            return 1;
    }
    if (!exists(tif)) {
        /* a fax-like document: 1-bit, 200 dpi, G4, one IFD per page */
        snprintf(cmd, sizeof cmd,
                 "pdftoppm -mono -r 200 -tiff -tiffcompression packbits '%s' "
                 "'%s/fax' && tiffcp -c g4 '%s'/fax-*.tif '%s' && rm -f "
                 "'%s'/fax-*.tif",
                 pdf, dir, dir, tif, dir);
        if (sh(cmd))
            return 1;
    }

    /* the DPI our born-digital pages get: pdftoppm renders at the same */
    vd_ctx *ctx = vd_ctx_new(NULL);
    vd_input *in = NULL;
    vd_page_geom g;
    if (!ctx || vd_input_open(ctx, pdf, NULL, &in) != VD_OK ||
        vd_input_page_geometry(ctx, in, 0, NULL, &g) != VD_OK) {
        fprintf(stderr, "bench-raster: %s\n", ctx ? vd_ctx_errmsg(ctx) : "");
        return 1;
    }
    vd_input_free(in);
    vd_page_info ti = { 0 };
    in = NULL;
    if (vd_input_open(ctx, tif, NULL, &in) == VD_OK)
        vd_input_page_info(ctx, in, 0, &ti);
    vd_input_free(in);
    vd_ctx_free(ctx);
    char dpi[32], last[32], dir_copy[1100];
    snprintf(dpi, sizeof dpi, "%.0f", g.model_dpi_x);
    snprintf(last, sizeof last, "%d", pages);
    snprintf(dir_copy, sizeof dir_copy, "%s/copy.tif", dir);

    sample s[6][64];
    for (int r = 0; r < runs; r++) {
        s[0][r] = ours(pdf, pages, 1);
        char *pp[] = { "pdftoppm", "-r", dpi, "-l", last, pdf, NULL };
        s[1][r] = run(pp);
        s[2][r] = ours(tif, pages, 0);
        s[3][r] = ours(tif, pages, 1);
        char *p200[] = {
            "pdftoppm", "-mono", "-r", "200", "-l", last, pdf, NULL
        };
        s[4][r] = run(p200);
        char *tc[] = { "tiffcp", "-c", "g4", tif, dir_copy, NULL };
        s[5][r] = run(tc);
    }
    printf("bench-raster: %d-page documents, median of %d runs, one "
           "thread\n",
           pages, runs);
    printf("%-46s %6s %8s %8s %8s %8s %8s\n", "", "pages", "wall s", "pages/s",
           "cpu s", "pg/cpu-s", "peak MiB");
    char what[128];
    snprintf(what, sizeof what, "PDF  vldoc model image (%d x %d, %s dpi)",
             g.map.model_w, g.map.model_h, dpi);
    row(what, pages, median(s[0], runs));
    snprintf(what, sizeof what, "PDF  pdftoppm -r %s (PPM to /dev/null)", dpi);
    row(what, pages, median(s[1], runs));
    snprintf(what, sizeof what, "TIFF vldoc decode (G4, %.0f x %.0f, %.0f dpi)",
             ti.width, ti.height, ti.dpi_x);
    row(what, pages, median(s[2], runs));
    row("TIFF vldoc model image (decode + resample)", pages,
        median(s[3], runs));
    row("PDF  pdftoppm -mono -r 200 (the TIFF's source)", pages,
        median(s[4], runs));
    row("TIFF tiffcp -c g4 (libtiff decode + encode)", pages,
        median(s[5], runs));
    sample a = median(s[0], runs), b = median(s[1], runs);
    if (a.ok && b.ok)
        printf("vldoc / pdftoppm at equal DPI: wall %.2f, cpu %.2f (goal "
               "<= 1)\n",
               a.secs / b.secs, a.cpu / b.cpu);
    remove(dir_copy);
    return 0;
}

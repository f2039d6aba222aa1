/* CLI: `vldoc render` - write the page images a vision model would see as
 * PNG files, one per page, and print each one's size and resolution, so
 * users can check what the model is given. Uses the public API only. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "Usage: vldoc render [OPTIONS] -o DIR/ FILE\n"
    "Write the page images the model sees as PNG files DIR/NAME-pN.png and\n"
    "print each page's size, image tokens and resolution.\n"
    "\n"
    "  -o, --output DIR      directory for the PNG files (created)\n"
    "  -p, --pages RANGES    pages to render, e.g. 1-3,7,10- (default all)\n"
    "      --password PW     password of an encrypted PDF\n"
    "      --dpi N           render PDF pages at N DPI (default: scans at\n"
    "                        their own resolution, other pages at the DPI\n"
    "                        that fills the pixel budget)\n"
    "      --min-pixels N    model image budget, lower bound (default\n"
    "                        802816 = 1024 tokens)\n"
    "      --max-pixels N    model image budget, upper bound (default\n"
    "                        1605632 = 2048 tokens)\n"
    "      --native          write the native raster (before Qwen2.5-VL's\n"
    "                        smart resize) instead of the model image\n"
    "  -t, --threads N       worker threads for resampling\n"
    "      --stall-timeout S a page that makes no progress for S seconds\n"
    "                        (a decoder stuck on a hostile file) is stopped\n"
    "                        and reported (default 300)\n"
    "      --worker-memory MB  stop a page whose decoder's memory grows past\n"
    "                        MB (default: 3/4 of the machine's; 0: none)\n"
    "      --no-isolate      render in this process (no worker process: a\n"
    "                        decoder crash or hang takes vldoc with it)\n"
    "  -q, --quiet           print nothing but errors\n"
    "  -v, --verbose         say how each page was rendered\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 every page written; 1 some page failed; 2 usage error.\n";

enum {
    OPT_PASSWORD = 256,
    OPT_DPI,
    OPT_MIN_PIXELS,
    OPT_MAX_PIXELS,
    OPT_NATIVE,
};

static const struct option long_opts[] = {
    { "output", required_argument, NULL, 'o' },
    { "pages", required_argument, NULL, 'p' },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "dpi", required_argument, NULL, OPT_DPI },
    { "min-pixels", required_argument, NULL, OPT_MIN_PIXELS },
    { "max-pixels", required_argument, NULL, OPT_MAX_PIXELS },
    { "native", no_argument, NULL, OPT_NATIVE },
    CLI_ISOLATION_LONGOPTS,
    { "threads", required_argument, NULL, 't' },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t interrupted;
static vd_ctx *sig_ctx;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (sig_ctx)
        vd_ctx_cancel(sig_ctx);
}

/* "dir/a/b.pdf" -> "b" */
static void stem(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

static int mkdir_p(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        return -1;
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

typedef struct render_job {
    const char *file, *dir;
    cli_ranges pages;
    vd_input_opts in_opts;
    vd_render_opts ro;
    int native, quiet, verbose;
    long threads;
    cli_isolation iso;
    int start;  /* first page to render (1-based) */
    int failed; /* pages failed before this worker */
} render_job;

static int render_pages(vd_ctx *ctx, const render_job *j)
{
    vd_input *in = NULL;
    vd_status st = vd_input_open(ctx, j->file, &j->in_opts, &in);
    if (st) {
        cli_error(st, vd_ctx_errmsg(ctx));
        return CLI_FAILED;
    }
    int n = vd_input_page_count(in), failed = 0;
    if (cli_ranges_max(&j->pages) > n)
        fprintf(stderr, "vldoc: %s: has %d page%s; pages after %d skipped\n",
                j->file, n, n == 1 ? "" : "s", n);
    int digits = 1;
    for (int v = n; v >= 10; v /= 10)
        digits++;
    char name[256];
    stem(j->file, name, sizeof name);
    const char *sep = j->dir[strlen(j->dir) - 1] == '/' ? "" : "/";
    for (int p = j->start > 1 ? j->start : 1; p <= n && !interrupted; p++) {
        if (!cli_ranges_has(&j->pages, p))
            continue;
        {
            /* the supervisor's view: which page, and its file, so a
             * temp file of a killed worker can be removed */
            char op[PATH_MAX];
            int ol = snprintf(op, sizeof op, "%s%s%s-p%0*d.png", j->dir, sep,
                              name, digits & 15, p);
            cli_ev_send(CLI_EV_PAGE_START, 0, p,
                        ol > 0 && (size_t)ol < sizeof op ? op : "",
                        ol > 0 && (size_t)ol < sizeof op ? (size_t)ol : 0);
            cli_test_crash(j->file, p);
        }
        vd_ctx_clear(ctx);
        vd_page_geom g;
        vd_image *img = NULL;
        if (j->native) {
            st = vd_input_page_geometry(ctx, in, p - 1, &j->ro, &g);
            if (!st)
                st = vd_input_render(ctx, in, p - 1, &j->ro, &img);
        } else {
            st = vd_input_render_model(ctx, in, p - 1, &j->ro, &img, &g);
        }
        char path[PATH_MAX];
        char num[16];
        snprintf(num, sizeof num, "%0*d", digits & 15, p);
        int pl = snprintf(path, sizeof path, "%s%s%s-p%s.png", j->dir, sep,
                          name, num);
        if (!st && (pl < 0 || (size_t)pl >= sizeof path)) {
            fprintf(stderr, "vldoc: %s: output path too long\n", j->dir);
            failed++;
            vd_image_free(img);
            continue;
        }
        if (!st)
            st = vd_image_write_png(ctx, img, path);
        if (st) {
            cli_error(st, vd_ctx_errmsg(ctx));
            vd_image_free(img);
            failed++;
            continue;
        }
        int w = vd_image_width(img), h = vd_image_height(img);
        if (!j->quiet) {
            const char *how =
                g.scan ? (g.direct ? "scan, drawn" : "scan") : "vector";
            if (j->native)
                printf("%s: page %d: %d x %d px at %.1f dpi (%s) -> %s\n",
                       j->file, p, w, h, vd_image_dpi_x(img), how, path);
            else
                printf("%s: page %d: %d x %d px, %d tokens, %.1f dpi (%s, "
                       "%s) -> %s\n",
                       j->file, p, w, h, w / 28 * (h / 28), vd_image_dpi_x(img),
                       how,
                       g.direct ? "rendered at this size"
                                : "resampled from the native raster",
                       path);
            if (j->verbose)
                printf("  native raster %d x %d px at %.1f x %.1f dpi; page "
                       "%.1f x %.1f %s; model %d x %d at %.1f x %.1f dpi\n",
                       g.raster_w, g.raster_h, g.dpi_x, g.dpi_y, g.map.page_w,
                       g.map.page_h, g.map.unit == VD_UNIT_PT ? "pt" : "px",
                       g.map.model_w, g.map.model_h, g.model_dpi_x,
                       g.model_dpi_y);
        }
        vd_image_free(img);
        if (cli_in_worker())
            fflush(stdout); /* a later crash must not lose this line */
    }
    cli_ev_send(CLI_EV_PAGE_DONE, 0, 0, NULL, 0); /* between pages */
    vd_input_free(in);
    if (interrupted)
        return CLI_INTERRUPTED;
    cli_ev_send(CLI_EV_DONE, failed, 0, NULL, 0);
    return failed ? CLI_FAILED : CLI_OK;
}

static vd_ctx *new_ctx(const render_job *j)
{
    vd_opts o;
    vd_opts_init(&o);
    o.threads = (int)j->threads;
    o.log = cli_log;
    o.level = j->verbose ? VD_LOG_INFO : j->quiet ? VD_LOG_ERROR : VD_LOG_WARN;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx)
        fprintf(stderr, "vldoc: out of memory\n");
    return ctx;
}

/* The worker: its own context (threads are made after the fork). */
static int render_worker(void *arg)
{
    const render_job *j = arg;
    vd_ctx *ctx = new_ctx(j);
    if (!ctx)
        return CLI_FAILED;
    sig_ctx = ctx;
    return render_pages(ctx, j);
}

/* Render in worker processes: one that crashes or stops making progress
 * is replaced, and the page it was on reported and skipped. */
static int render_isolated(render_job *j)
{
    cli_worker w;
    memset(&w, 0, sizeof w);
    j->start = 1;
    int failed = 0, rc = CLI_OK;
    char out[PATH_MAX] = "";
    char who[64];
    snprintf(who, sizeof who, "the %s decoder", cli_decoder_name(j->file));
    while (!interrupted) {
        int cur = -1;
        bool done = false;
        if (!cli_worker_start(&w, render_worker, j)) {
            rc = CLI_FAILED;
            break;
        }
        for (;;) {
            cli_ev ev;
            char why[256], death[128];
            if (cli_worker_too_big(&w, &j->iso, who, why, sizeof why))
                goto lost;
            int r = cli_worker_next(&w, 0.25, &ev);
            if (r == CLI_WN_EVENT) {
                if (ev.type == CLI_EV_PAGE_START) {
                    cur = ev.b;
                    snprintf(out, sizeof out, "%.*s", (int)ev.len, ev.data);
                } else if (ev.type == CLI_EV_PAGE_DONE) {
                    cur = -1;
                } else if (ev.type == CLI_EV_DONE) {
                    done = true;
                    failed += ev.a;
                }
                continue;
            }
            if (interrupted)
                break;
            if (r == CLI_WN_ENDED) {
                if (done || (WIFEXITED(w.status) && cur < 0 &&
                             WEXITSTATUS(w.status) == CLI_FAILED)) {
                    /* finished, or could not open the file (said so) */
                    if (!done)
                        failed++;
                    cur = -2;
                    break;
                }
                cli_death(w.status, death, sizeof death);
                snprintf(why, sizeof why, "%s %s", who, death);
            } else if (!cli_worker_stalled(&w, &j->iso, who, why, sizeof why)) {
                continue;
            }
        lost:
            failed++;
            if (cur > 0) {
                fprintf(stderr, "vldoc: %s: page %d: %s; skipped\n", j->file,
                        cur, why);
                if (out[0])
                    vd_out_remove_stale(out);
                j->start = cur + 1;
            } else {
                fprintf(stderr, "vldoc: %s: %s while opening it\n", j->file,
                        why);
                cur = -2; /* nothing more to try */
            }
            break;
        }
        if (interrupted || cur == -2)
            break;
    }
    if (interrupted) {
        if (w.pid > 0)
            cli_worker_stop(&w, SIGTERM, 2.0);
        if (out[0])
            vd_out_remove_stale(out);
        rc = CLI_INTERRUPTED;
    }
    cli_worker_free(&w);
    if (rc == CLI_OK && failed)
        rc = CLI_FAILED;
    return rc;
}

int cli_render_main(int argc, char **argv)
{
    render_job j;
    memset(&j, 0, sizeof j);
    vd_input_opts_init(&j.in_opts);
    vd_render_opts_init(&j.ro);
    cli_isolation_init(&j.iso);
    char err[160];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:p:t:qvh", long_opts, NULL)) != -1) {
        long lv;
        double dv;
        int iso = cli_isolation_opt(&j.iso, c, optarg);
        if (iso < 0)
            return CLI_USAGE;
        if (iso > 0)
            continue;
        switch (c) {
        case 'o':
            j.dir = optarg;
            break;
        case 'p':
            if (!cli_ranges_parse(optarg, &j.pages, err, sizeof err)) {
                cli_usage_error("%s", err);
                return CLI_USAGE;
            }
            break;
        case OPT_PASSWORD:
            j.in_opts.password = optarg;
            break;
        case OPT_DPI:
            if (!cli_double("--dpi", optarg, 1, 4800, &dv))
                return CLI_USAGE;
            j.ro.dpi = dv;
            break;
        case OPT_MIN_PIXELS:
            if (!cli_int("--min-pixels", optarg, 784, 1L << 30, &lv))
                return CLI_USAGE;
            j.ro.min_pixels = lv;
            break;
        case OPT_MAX_PIXELS:
            if (!cli_int("--max-pixels", optarg, 784, 1L << 30, &lv))
                return CLI_USAGE;
            j.ro.max_pixels = lv;
            break;
        case OPT_NATIVE:
            j.native = 1;
            break;
        case 't':
            if (!cli_int("--threads", optarg, 1, 256, &j.threads))
                return CLI_USAGE;
            break;
        case 'q':
            j.quiet = 1;
            break;
        case 'v':
            j.verbose++;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs("Try 'vldoc render --help' for more information.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_usage_error(optind >= argc ? "render: no input given"
                                       : "render: one input at a time");
        return CLI_USAGE;
    }
    if (!j.dir || !*j.dir) {
        cli_usage_error("render: an output directory is needed: -o DIR/");
        return CLI_USAGE;
    }
    if (j.ro.min_pixels > j.ro.max_pixels) {
        cli_usage_error("--min-pixels is larger than --max-pixels");
        return CLI_USAGE;
    }
    j.file = argv[optind];
    if (mkdir_p(j.dir) != 0) {
        fprintf(stderr, "vldoc: %s: cannot create directory\n", j.dir);
        return CLI_FAILED;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!j.iso.off)
        return render_isolated(&j);
    vd_ctx *ctx = new_ctx(&j);
    if (!ctx)
        return CLI_FAILED;
    sig_ctx = ctx;
    int rc = render_pages(ctx, &j);
    sig_ctx = NULL;
    vd_ctx_free(ctx);
    return rc;
}

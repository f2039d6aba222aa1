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
    OPT_NATIVE
};

static const struct option long_opts[] = {
    { "output", required_argument, NULL, 'o' },
    { "pages", required_argument, NULL, 'p' },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "dpi", required_argument, NULL, OPT_DPI },
    { "min-pixels", required_argument, NULL, OPT_MIN_PIXELS },
    { "max-pixels", required_argument, NULL, OPT_MAX_PIXELS },
    { "native", no_argument, NULL, OPT_NATIVE },
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
    for (int p = 1; p <= n && !interrupted; p++) {
        if (!cli_ranges_has(&j->pages, p))
            continue;
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
    }
    vd_input_free(in);
    if (interrupted)
        return CLI_INTERRUPTED;
    return failed ? CLI_FAILED : CLI_OK;
}

int cli_render_main(int argc, char **argv)
{
    render_job j;
    memset(&j, 0, sizeof j);
    vd_input_opts_init(&j.in_opts);
    vd_render_opts_init(&j.ro);
    char err[160];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:p:t:qvh", long_opts, NULL)) != -1) {
        long lv;
        double dv;
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
    vd_opts o;
    vd_opts_init(&o);
    o.threads = (int)j.threads;
    o.log = cli_log;
    o.level = j.verbose ? VD_LOG_INFO : j.quiet ? VD_LOG_ERROR : VD_LOG_WARN;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx) {
        fprintf(stderr, "vldoc: out of memory\n");
        return CLI_FAILED;
    }
    sig_ctx = ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = render_pages(ctx, &j);
    sig_ctx = NULL;
    vd_ctx_free(ctx);
    return rc;
}

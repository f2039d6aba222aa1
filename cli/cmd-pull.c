/* CLI: `vldoc pull [org/name]` - download a model from the Hugging Face
 * hub into its cache (the library does the work), with a progress bar on
 * stderr when it is a terminal; prints the snapshot folder. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "Usage: vldoc pull [OPTIONS] [REPO]\n"
    "Download a model from the Hugging Face hub (default\n"
    "Qwen/Qwen2.5-VL-3B-Instruct, about 7.5 GB) into the Hugging Face\n"
    "cache, where vldoc and the Python tools both find it. An interrupted\n"
    "download resumes; every weight file's SHA-256 is checked.\n"
    "\n"
    "  -r, --revision REV   branch, tag or commit (default main)\n"
    "      --cache-dir DIR  cache folder (default $HF_HUB_CACHE, else\n"
    "                       $HF_HOME/hub, else ~/.cache/huggingface/hub)\n"
    "  -q, --quiet          no progress bar\n"
    "  -v, --verbose        report retries and resumes\n"
    "  -h, --help           this help\n"
    "\n"
    "Environment: HF_ENDPOINT (hub URL, default https://huggingface.co),\n"
    "HF_TOKEN (for gated or private repositories; else the token file in\n"
    "$HF_HOME, as huggingface-cli login writes it).\n"
    "Exit status: 0 downloaded; 1 failed (run again to resume); 2 usage\n"
    "error; 130 interrupted.\n";

static vd_ctx *sig_ctx;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (sig_ctx)
        vd_ctx_cancel(sig_ctx);
}

typedef struct bar {
    bool on;
    double t0;
    uint64_t start_done;
    bool started;
} bar;

static void on_progress(void *user, const char *file, uint64_t done,
                        uint64_t total, uint64_t all_done, uint64_t all_total)
{
    bar *b = user;
    if (!b->on)
        return;
    if (!b->started) {
        b->started = true;
        b->t0 = cli_monotonic();
        b->start_done = all_done;
    }
    double dt = cli_monotonic() - b->t0;
    double rate = dt > 0.5 ? (double)(all_done - b->start_done) / dt : 0;
    enum { width = 30 };
    int fill =
        all_total ? (int)((double)all_done / (double)all_total * width) : 0;
    char line[width + 1];
    for (int i = 0; i < width; i++)
        line[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    line[width] = '\0';
    const char *base = strrchr(file, '/');
    fprintf(stderr, "\r\033[K%-28.28s [%s] %5.1f%% %.2f/%.2f GB %6.1f MB/s",
            base ? base + 1 : file, line,
            all_total ? 100.0 * (double)all_done / (double)all_total : 0.0,
            (double)all_done / 1e9, (double)all_total / 1e9, rate / 1e6);
    (void)done;
    (void)total;
    fflush(stderr);
}

int cli_pull_main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "revision", required_argument, NULL, 'r' },
        { "cache-dir", required_argument, NULL, 'C' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    vd_pull_opts po;
    vd_pull_opts_init(&po);
    bool quiet = false, verbose = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:qvh", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
            po.revision = optarg;
            break;
        case 'C':
            po.cache_dir = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs("Try 'vldoc pull --help' for more information.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (argc - optind > 1) {
        cli_usage_error("pull takes one repository id");
        return CLI_USAGE;
    }
    const char *repo =
        optind < argc ? argv[optind] : "Qwen/Qwen2.5-VL-3B-Instruct";
    bar b = { .on = !quiet && isatty(STDERR_FILENO) };
    po.progress = on_progress;
    po.progress_user = &b;
    vd_opts o;
    vd_opts_init(&o);
    o.level = verbose ? VD_LOG_INFO : VD_LOG_WARN;
    o.log = cli_log;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx) {
        fprintf(stderr, "vldoc: out of memory\n");
        return CLI_FAILED;
    }
    sig_ctx = ctx;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char *snap = NULL;
    vd_status s = vd_model_pull(ctx, repo, &po, &snap);
    if (b.on && b.started)
        fputs("\r\033[K", stderr);
    int rc = CLI_OK;
    if (s) {
        cli_error(s, vd_ctx_errmsg(ctx));
        rc = interrupted ? CLI_INTERRUPTED : CLI_FAILED;
    } else {
        printf("%s\n", snap);
        if (!quiet)
            fprintf(stderr, "vldoc: %s is ready: use --model %s\n", repo,
                    po.cache_dir ? snap : repo);
    }
    vd_free(snap);
    sig_ctx = NULL;
    vd_ctx_free(ctx);
    return rc;
}

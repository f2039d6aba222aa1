/* CLI: `vldoc quantize` - save a model with its text decoder quantized
 * (Q8 or Q4), so that --weights q8|q4 runs start at once instead of
 * quantizing at every load; and the parsers of the local engine's speed
 * options (--precision, --weights, --kv) the other subcommands share. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage[] =
    "Usage: vldoc quantize [OPTIONS] --weights q8|q4 -o OUT_DIR\n"
    "Quantize a Qwen2.5-VL model's text decoder and save it as a model\n"
    "folder that --model OUT_DIR then loads without a quantization pass.\n"
    "The vision tower stays as stored (bf16); the lm_head (the tied\n"
    "embedding) is saved in q8 whatever the layers' format.\n"
    "\n"
    "  -m, --model DIR     model folder or hub id org/name (default:\n"
    "                      $VLDOC_MODEL, then the Hugging Face cache)\n"
    "      --weights W     q8 (int8, 8.5 bits per weight) or q4 (4-bit,\n"
    "                      4.5 bits per weight)\n"
    "  -o, --output DIR    the new model folder (created if missing)\n"
    "  -t, --threads N     worker threads (default: all cores)\n"
    "  -v, --verbose       timings on stderr\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 saved; 1 failed; 2 usage error; 130 interrupted.\n";

bool cli_precision(const char *s, vd_precision *out)
{
    if (!strcmp(s, "exact"))
        *out = VD_PREC_EXACT;
    else if (!strcmp(s, "bf16"))
        *out = VD_PREC_BF16;
    else if (!strcmp(s, "int8"))
        *out = VD_PREC_INT8;
    else {
        cli_usage_error("--precision takes exact, bf16 or int8");
        return false;
    }
    return true;
}

bool cli_weights(const char *s, vd_weights *out)
{
    if (!strcmp(s, "bf16") || !strcmp(s, "stored"))
        *out = VD_WEIGHTS_AS_STORED;
    else if (!strcmp(s, "q8"))
        *out = VD_WEIGHTS_Q8;
    else if (!strcmp(s, "q4"))
        *out = VD_WEIGHTS_Q4;
    else {
        cli_usage_error("--weights takes bf16, q8 or q4");
        return false;
    }
    return true;
}

bool cli_kv(const char *s, int *bf16)
{
    if (!strcmp(s, "f32") || !strcmp(s, "fp32"))
        *bf16 = 0;
    else if (!strcmp(s, "bf16"))
        *bf16 = 1;
    else {
        cli_usage_error("--kv takes f32 or bf16");
        return false;
    }
    return true;
}

static vd_ctx *sig_ctx;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (sig_ctx)
        vd_ctx_cancel(sig_ctx);
}

int cli_quantize_main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "model", required_argument, NULL, 'm' },
        { "weights", required_argument, NULL, 'w' },
        { "output", required_argument, NULL, 'o' },
        { "threads", required_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *model = NULL, *outdir = NULL;
    vd_weights w = VD_WEIGHTS_AS_STORED;
    long threads = 0;
    bool verbose = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:t:vh", lo, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'w':
            if (!cli_weights(optarg, &w))
                return CLI_USAGE;
            break;
        case 'o':
            outdir = optarg;
            break;
        case 't':
            if (!cli_int("--threads", optarg, 1, 1024, &threads))
                return CLI_USAGE;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs("Try 'vldoc quantize --help' for more information.\n",
                  stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_usage_error("unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (w == VD_WEIGHTS_AS_STORED) {
        cli_usage_error("quantize needs --weights q8 or q4");
        return CLI_USAGE;
    }
    if (!outdir) {
        cli_usage_error("quantize needs an output folder: -o DIR");
        return CLI_USAGE;
    }
    vd_opts o;
    vd_opts_init(&o);
    o.threads = (int)threads;
    o.level = verbose ? VD_LOG_INFO : VD_LOG_WARN;
    o.log = cli_log;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx) {
        cli_error(VD_ERR_NOMEM, "out of memory");
        return CLI_FAILED;
    }
    sig_ctx = ctx;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vd_status s = vd_model_quantize(ctx, model, outdir, w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int rc = CLI_OK;
    if (s) {
        cli_error(s, vd_ctx_errmsg(ctx));
        rc = interrupted ? CLI_INTERRUPTED : CLI_FAILED;
    } else if (verbose) {
        fprintf(stderr, "vldoc: saved %s in %.1f s\n", outdir,
                (double)(t1.tv_sec - t0.tv_sec) +
                    1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    sig_ctx = NULL;
    vd_ctx_free(ctx);
    return rc;
}

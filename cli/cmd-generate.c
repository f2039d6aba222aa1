/* CLI: `vldoc generate` - one raw generation on a local model, the tool
 * for checking a model (like llama.cpp's mtmd CLI): prompt (and image) in,
 * text streamed to stdout, with --print-ids the prompt and generated
 * token ids for exact comparisons. */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage[] =
    "Usage: vldoc generate [OPTIONS] --prompt TEXT\n"
    "Run one generation on a local Qwen2.5-VL model and print the text.\n"
    "The prompt goes through the model's chat template (default system\n"
    "turn, then a user turn) unless --raw.\n"
    "\n"
    "  -m, --model DIR          model folder or hub id org/name (default:\n"
    "                           $VLDOC_MODEL, then the Hugging Face cache)\n"
    "      --prompt TEXT        the user prompt\n"
    "      --prompt-file FILE   read it from FILE ('-': stdin)\n"
    "      --system TEXT        system prompt (default: the template's)\n"
    "      --raw                the prompt is the literal model input\n"
    "      --image FILE         an image (PNG, JPEG, TIFF, PDF page 1)\n"
    "                           before the prompt\n"
    "      --min-pixels N       image budget, lower bound (default:\n"
    "      --max-pixels N       and upper: preprocessor_config.json)\n"
    "      --max-new-tokens N   default: generation_config.json, else 8192\n"
    "      --repetition-penalty F  1 = off (pure greedy); default: the\n"
    "                           model's generation_config.json\n"
    "      --temperature F      > 0; sampling only\n"
    "      --top-k N            sampling: keep the N best (0: off)\n"
    "      --top-p F            sampling: keep the top mass F (1: off)\n"
    "      --greedy / --sample  override generation_config's do_sample\n"
    "      --seed N             sampling RNG seed (default 0)\n"
    "      --timeout S          stop after S seconds\n"
    "      --print-ids          also print 'prompt_ids: ...' and\n"
    "                           'generated_ids: ...' lines\n"
    "      --precision P        exact (default), bf16 or int8 (see\n"
    "                           'vldoc --help')\n"
    "      --weights W          bf16 (as stored), q8 or q4\n"
    "      --kv T               KV cache in f32 (default) or bf16\n"
    "  -t, --threads N          worker threads (default: all cores)\n"
    "  -v, --verbose            timings and the stop reason on stderr\n"
    "  -h, --help               this help\n"
    "\n"
    "Exit status: 0 done; 1 the model or generation failed; 2 usage error;\n"
    "130 interrupted.\n";

enum {
    OPT_PROMPT = 256,
    OPT_PROMPT_FILE,
    OPT_SYSTEM,
    OPT_RAW,
    OPT_IMAGE,
    OPT_MIN_PIXELS,
    OPT_MAX_PIXELS,
    OPT_MAX_NEW_TOKENS,
    OPT_REP_PENALTY,
    OPT_TEMPERATURE,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_GREEDY,
    OPT_SAMPLE,
    OPT_SEED,
    OPT_TIMEOUT,
    OPT_PRINT_IDS,
    OPT_PRECISION,
    OPT_WEIGHTS,
    OPT_KV,
};

static const struct option long_opts[] = {
    { "model", required_argument, NULL, 'm' },
    { "prompt", required_argument, NULL, OPT_PROMPT },
    { "prompt-file", required_argument, NULL, OPT_PROMPT_FILE },
    { "system", required_argument, NULL, OPT_SYSTEM },
    { "raw", no_argument, NULL, OPT_RAW },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "min-pixels", required_argument, NULL, OPT_MIN_PIXELS },
    { "max-pixels", required_argument, NULL, OPT_MAX_PIXELS },
    { "max-new-tokens", required_argument, NULL, OPT_MAX_NEW_TOKENS },
    { "repetition-penalty", required_argument, NULL, OPT_REP_PENALTY },
    { "temperature", required_argument, NULL, OPT_TEMPERATURE },
    { "top-k", required_argument, NULL, OPT_TOP_K },
    { "top-p", required_argument, NULL, OPT_TOP_P },
    { "greedy", no_argument, NULL, OPT_GREEDY },
    { "sample", no_argument, NULL, OPT_SAMPLE },
    { "seed", required_argument, NULL, OPT_SEED },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "print-ids", no_argument, NULL, OPT_PRINT_IDS },
    { "precision", required_argument, NULL, OPT_PRECISION },
    { "weights", required_argument, NULL, OPT_WEIGHTS },
    { "kv", required_argument, NULL, OPT_KV },
    { "threads", required_argument, NULL, 't' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static vd_ctx *sig_ctx;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (sig_ctx)
        vd_ctx_cancel(sig_ctx);
}

static int on_token(void *user, int id, const char *piece, size_t len)
{
    (void)user;
    (void)id;
    if (len) {
        fwrite(piece, 1, len, stdout);
        fflush(stdout);
    }
    return 0;
}

static char *read_all(FILE *fp)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0)
            break;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    printf("%s:", label);
    for (size_t i = 0; i < n; i++)
        printf(" %d", ids[i]);
    printf("\n");
}

/* The image the model will see: page 1 of the file, as rendered for the
 * engine (a PNG/JPEG/TIFF at its own pixels). */
static vd_status load_image(vd_ctx *ctx, const char *path, vd_image **img)
{
    vd_input *in = NULL;
    vd_status s = vd_input_open(ctx, path, NULL, &in);
    if (s)
        return s;
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    s = vd_input_render(ctx, in, 0, &ro, img);
    vd_input_free(in);
    return s;
}

int cli_generate_main(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL;
    const char *image = NULL;
    bool verbose = false, ids = false;
    long threads = 0;
    vd_weights weights = VD_WEIGHTS_AS_STORED;
    vd_generate_opts go;
    vd_generate_opts_init(&go);
    int c;
    long lv;
    double dv;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:vh", long_opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case OPT_PROMPT:
            prompt = optarg;
            break;
        case OPT_PROMPT_FILE:
            prompt_file = optarg;
            break;
        case OPT_SYSTEM:
            go.system_prompt = optarg;
            break;
        case OPT_RAW:
            go.raw = 1;
            break;
        case OPT_IMAGE:
            image = optarg;
            break;
        case OPT_MIN_PIXELS:
            if (!cli_int("--min-pixels", optarg, 1, (long)1 << 40, &lv))
                return CLI_USAGE;
            go.min_pixels = lv;
            break;
        case OPT_MAX_PIXELS:
            if (!cli_int("--max-pixels", optarg, 1, (long)1 << 40, &lv))
                return CLI_USAGE;
            go.max_pixels = lv;
            break;
        case OPT_MAX_NEW_TOKENS:
            if (!cli_int("--max-new-tokens", optarg, 1, 1 << 20, &lv))
                return CLI_USAGE;
            go.max_new_tokens = (int)lv;
            break;
        case OPT_REP_PENALTY:
            if (!cli_double("--repetition-penalty", optarg, 1e-3, 1e3, &dv))
                return CLI_USAGE;
            go.repetition_penalty = dv;
            break;
        case OPT_TEMPERATURE:
            if (!cli_double("--temperature", optarg, 1e-6, 1e3, &dv))
                return CLI_USAGE;
            go.temperature = dv;
            break;
        case OPT_TOP_K:
            if (!cli_int("--top-k", optarg, 0, 1 << 24, &lv))
                return CLI_USAGE;
            go.top_k = (int)lv;
            break;
        case OPT_TOP_P:
            if (!cli_double("--top-p", optarg, 1e-9, 1, &dv))
                return CLI_USAGE;
            go.top_p = dv;
            break;
        case OPT_GREEDY:
            go.do_sample = 0;
            break;
        case OPT_SAMPLE:
            go.do_sample = 1;
            break;
        case OPT_SEED:
            if (!cli_int("--seed", optarg, 0, LONG_MAX, &lv))
                return CLI_USAGE;
            go.seed = (uint64_t)lv;
            break;
        case OPT_TIMEOUT:
            if (!cli_double("--timeout", optarg, 0, 1e9, &dv))
                return CLI_USAGE;
            go.timeout = dv;
            break;
        case OPT_PRINT_IDS:
            ids = true;
            break;
        case OPT_PRECISION:
            if (!cli_precision(optarg, &go.precision))
                return CLI_USAGE;
            break;
        case OPT_WEIGHTS:
            if (!cli_weights(optarg, &weights))
                return CLI_USAGE;
            break;
        case OPT_KV:
            if (!cli_kv(optarg, &go.kv_bf16))
                return CLI_USAGE;
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
            fputs("Try 'vldoc generate --help' for more information.\n",
                  stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        cli_usage_error("generate: unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (!prompt == !prompt_file) {
        cli_usage_error("generate needs one of --prompt or --prompt-file");
        return CLI_USAGE;
    }
    if (go.min_pixels && go.max_pixels && go.min_pixels > go.max_pixels) {
        cli_usage_error("--min-pixels is above --max-pixels");
        return CLI_USAGE;
    }
    char *pbuf = NULL;
    if (prompt_file) {
        FILE *fp = strcmp(prompt_file, "-") ? fopen(prompt_file, "rb") : stdin;
        if (!fp) {
            fprintf(stderr, "vldoc: %s: cannot open\n", prompt_file);
            return CLI_FAILED;
        }
        pbuf = read_all(fp);
        if (fp != stdin)
            fclose(fp);
        if (!pbuf) {
            fprintf(stderr, "vldoc: %s: cannot read\n", prompt_file);
            return CLI_FAILED;
        }
        prompt = pbuf;
    }
    go.prompt = prompt;

    vd_opts o;
    vd_opts_init(&o);
    o.threads = (int)threads;
    o.level = verbose ? VD_LOG_INFO : VD_LOG_WARN;
    o.log = cli_log;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx) {
        free(pbuf);
        fprintf(stderr, "vldoc: out of memory\n");
        return CLI_FAILED;
    }
    sig_ctx = ctx;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int rc = CLI_FAILED;
    vd_model *m = NULL;
    vd_image *img = NULL;
    vd_generation *g = NULL;
    vd_status s;
    if (image && (s = load_image(ctx, image, &img)) != VD_OK) {
        cli_error(s, vd_ctx_errmsg(ctx));
        goto done;
    }
    go.image = img;
    double t0 = cli_monotonic();
    if ((s = vd_model_load_weights(ctx, model, weights, &m)) != VD_OK) {
        cli_error(s, vd_ctx_errmsg(ctx));
        goto done;
    }
    if (verbose)
        fprintf(stderr,
                "vldoc: model %s (%.2f B parameters) loaded in %.2f "
                "s\n",
                vd_model_dir(m), (double)vd_model_params(m) / 1e9,
                cli_monotonic() - t0);
    go.on_token = on_token;
    if ((s = vd_model_generate(ctx, m, &go, &g)) != VD_OK) {
        fputs("\n", stdout);
        cli_error(s, vd_ctx_errmsg(ctx));
        rc = interrupted ? CLI_INTERRUPTED : CLI_FAILED;
        goto done;
    }
    fputs("\n", stdout);
    if (ids) {
        size_t n;
        const int32_t *p = vd_generation_prompt_ids(g, &n);
        print_ids("prompt_ids", p, n);
        p = vd_generation_ids(g, &n);
        print_ids("generated_ids", p, n);
    }
    if (verbose) {
        size_t np, ng;
        double tp, td;
        vd_generation_prompt_ids(g, &np);
        vd_generation_ids(g, &ng);
        vd_generation_times(g, &tp, &td);
        fprintf(stderr,
                "vldoc: %zu prompt tokens in %.2f s (%.1f tok/s), %zu "
                "generated in %.2f s (%.2f tok/s), stop: %s\n",
                np, tp, tp > 0 ? (double)np / tp : 0.0, ng, td,
                td > 0 ? (double)ng / td : 0.0, vd_generation_stop(g));
    }
    rc = CLI_OK;
done:
    fflush(stdout);
    vd_generation_free(g);
    vd_model_free(m);
    vd_image_free(img);
    sig_ctx = NULL;
    vd_ctx_free(ctx);
    free(pbuf);
    return rc;
}

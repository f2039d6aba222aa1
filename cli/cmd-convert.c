/* CLI: `vldoc [convert]` - the main job. Walks the inputs, runs the engine
 * page by page, writes each document atomically, and keeps going past bad
 * files and pages; the exit status says whether anything failed. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t interrupted;
static vd_ctx *sig_ctx;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    if (sig_ctx)
        vd_ctx_cancel(sig_ctx);
}

static const char usage[] =
    "Usage: vldoc [convert] [OPTIONS] INPUT...\n"
    "Convert PDF, TIFF, PNG and JPEG documents to Markdown, JSON, HTML or\n"
    "text. INPUT may be a file or a directory (walked recursively).\n"
    "\n"
    "Output:\n"
    "  -f, --format FMT      md (default), json, html, text, jsonl, qwenvl\n"
    "  -o, --output PATH     output file, or DIR/ for one file per input\n"
    "                        (default: stdout for a single input)\n"
    "      --skip-existing   skip inputs whose output already exists\n"
    "      --keep-furniture  keep page headers, footers and page numbers\n"
    "      --chunk MODE      jsonl: 'block' (default) or 'section'\n"
    "      --pretty          json: indent\n"
    "\n"
    "Input:\n"
    "  -p, --pages RANGES    pages to convert, e.g. 1-3,7,10- (default all)\n"
    "      --password PW     password of an encrypted PDF\n"
    "  -i, --input-format F  force the input format: pdf, tiff, png, jpeg,\n"
    "                        qwenvl (QwenVL HTML from your own server)\n"
    "      --image FILE      qwenvl input: the page image the model saw\n"
    "      --image-size WxH  qwenvl input: its size instead\n"
    "\n"
    "Engine:\n"
    "  -e, --engine NAME     text (PDF text layer), qwen (local\n"
    "                        Qwen2.5-VL), remote (OpenAI-compatible\n"
    "                        server), auto (default: text for PDFs with a\n"
    "                        text layer, else qwen when a model is set)\n"
    "  -m, --model DIR       Qwen2.5-VL model folder (default:\n"
    "                        $VLDOC_MODEL, then the Hugging Face cache)\n"
    "      --dpi N           render PDF pages at N DPI (default: what\n"
    "                        fills the model's pixel budget)\n"
    "      --min-pixels N    model image budget, lower bound (default\n"
    "                        802816 = 1024 tokens)\n"
    "      --max-pixels N    model image budget, upper bound (default\n"
    "                        1605632 = 2048 tokens)\n"
    "      --prompt TEXT     user prompt (default 'QwenVL HTML')\n"
    "      --prompt-file F   read the user prompt from F\n"
    "      --system-prompt T system prompt (default: the chat template's)\n"
    "      --max-new-tokens N  per page (default 8192)\n"
    "      --page-timeout S  stop generating a page after S seconds\n"
    "      --precision P     qwen: exact (default: fp32 activations), bf16\n"
    "                        (bf16 dot products: ~2x faster vision and\n"
    "                        prefill) or int8 (int8 activations for q8/q4\n"
    "                        weights, bf16 elsewhere)\n"
    "      --weights W       qwen: bf16 (as stored, default), q8 or q4:\n"
    "                        the text decoder quantized at load (or as\n"
    "                        saved by 'vldoc quantize'); faster decoding\n"
    "      --kv T            qwen: KV cache in f32 (default) or bf16\n"
    "      --endpoint URL    remote: server base URL ending in /v1\n"
    "      --remote-model M  remote: model name on the server\n"
    "      --jobs N          remote: requests in flight (default 4)\n"
    "  -t, --threads N       worker threads (default: all cores)\n"
    "\n"
    "Messages:\n"
    "  -q, --quiet           no progress bar, errors only\n"
    "  -v, --verbose         per-page engine, size, timing and tokens\n"
    "  -h, --help            this help\n"
    "  -V, --version         version and compiled-in features\n"
    "\n"
    "Other commands: vldoc render | generate | pull | serve (see\n"
    "'vldoc COMMAND --help').\n"
    "\n"
    "Exit status: 0 all inputs converted; 1 some input or page failed\n"
    "(the others were still converted, failed pages are marked in the\n"
    "output); 2 usage error; 130 interrupted.\n"
    "Environment: VLDOC_MODEL (model folder), VLDOC_API_KEY (remote key),\n"
    "VLDOC_ISA (force a CPU path: ref, avx2, avx512, avx512bf16).\n";

enum {
    OPT_PASSWORD = 256,
    OPT_SKIP_EXISTING,
    OPT_KEEP_FURNITURE,
    OPT_CHUNK,
    OPT_PRETTY,
    OPT_IMAGE,
    OPT_IMAGE_SIZE,
    OPT_DPI,
    OPT_MIN_PIXELS,
    OPT_MAX_PIXELS,
    OPT_PROMPT,
    OPT_PROMPT_FILE,
    OPT_SYSTEM_PROMPT,
    OPT_MAX_NEW_TOKENS,
    OPT_PAGE_TIMEOUT,
    OPT_ENDPOINT,
    OPT_REMOTE_MODEL,
    OPT_JOBS,
    OPT_PRECISION,
    OPT_WEIGHTS,
    OPT_KV,
};

static const struct option long_opts[] = {
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, 'o' },
    { "skip-existing", no_argument, NULL, OPT_SKIP_EXISTING },
    { "keep-furniture", no_argument, NULL, OPT_KEEP_FURNITURE },
    { "chunk", required_argument, NULL, OPT_CHUNK },
    { "pretty", no_argument, NULL, OPT_PRETTY },
    { "pages", required_argument, NULL, 'p' },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "input-format", required_argument, NULL, 'i' },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "image-size", required_argument, NULL, OPT_IMAGE_SIZE },
    { "engine", required_argument, NULL, 'e' },
    { "model", required_argument, NULL, 'm' },
    { "dpi", required_argument, NULL, OPT_DPI },
    { "min-pixels", required_argument, NULL, OPT_MIN_PIXELS },
    { "max-pixels", required_argument, NULL, OPT_MAX_PIXELS },
    { "prompt", required_argument, NULL, OPT_PROMPT },
    { "prompt-file", required_argument, NULL, OPT_PROMPT_FILE },
    { "system-prompt", required_argument, NULL, OPT_SYSTEM_PROMPT },
    { "max-new-tokens", required_argument, NULL, OPT_MAX_NEW_TOKENS },
    { "page-timeout", required_argument, NULL, OPT_PAGE_TIMEOUT },
    { "endpoint", required_argument, NULL, OPT_ENDPOINT },
    { "remote-model", required_argument, NULL, OPT_REMOTE_MODEL },
    { "jobs", required_argument, NULL, OPT_JOBS },
    { "precision", required_argument, NULL, OPT_PRECISION },
    { "weights", required_argument, NULL, OPT_WEIGHTS },
    { "kv", required_argument, NULL, OPT_KV },
    { "threads", required_argument, NULL, 't' },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

typedef struct job {
    const char *format;
    const char *output;
    bool out_dir;
    bool skip_existing;
    bool quiet;
    int verbose;
    cli_ranges pages;
    vd_input_opts in_opts;
    vd_engine_opts eng_opts;
    vd_write_opts wr_opts;
    char *prompt_buf;
} job;

static int print_version(void)
{
    printf("vldoc %s\nFeatures: %s\n", vd_version(), vd_features());
    return CLI_OK;
}

static vd_format parse_format(const char *s)
{
    static const struct {
        const char *n;
        vd_format f;
    } t[] = { { "pdf", VD_FORMAT_PDF },      { "tiff", VD_FORMAT_TIFF },
              { "tif", VD_FORMAT_TIFF },     { "png", VD_FORMAT_PNG },
              { "jpeg", VD_FORMAT_JPEG },    { "jpg", VD_FORMAT_JPEG },
              { "qwenvl", VD_FORMAT_QWENVL } };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (strcmp(s, t[i].n) == 0)
            return t[i].f;
    return VD_FORMAT_UNKNOWN;
}

/* Convert one input; returns true when every page succeeded. */
static bool convert_one(vd_ctx *ctx, vd_engine *eng, job *j, const char *path,
                        vd_out *out, cli_progress *prog)
{
    vd_ctx_clear(ctx);
    vd_input *in = NULL;
    vd_status st = vd_input_open(ctx, path, &j->in_opts, &in);
    if (st) {
        cli_error(st, vd_ctx_errmsg(ctx));
        return false;
    }
    int n = vd_input_page_count(in);
    int maxp = cli_ranges_max(&j->pages);
    if (maxp > n) {
        cli_progress_clear(prog);
        fprintf(stderr,
                "vldoc: warning: %s: has %d pages; pages above %d skipped\n",
                path, n, n);
    }
    int todo = 0;
    for (int p = 1; p <= n; p++)
        todo += cli_ranges_has(&j->pages, p);
    cli_progress_file(prog, path, todo);

    vd_doc *doc = NULL;
    bool ok = true;
    const char *engine_name = NULL;
    st = vd_doc_new(ctx, path, &doc);
    if (st == VD_OK)
        st = vd_engine_resolve(ctx, eng, in, &engine_name);
    if (st) {
        cli_error(st, vd_ctx_errmsg(ctx));
        vd_doc_free(doc);
        vd_input_free(in);
        return false;
    }
    for (int p = 1; p <= n && !interrupted; p++) {
        if (!cli_ranges_has(&j->pages, p))
            continue;
        vd_ctx_clear(ctx);
        st = vd_engine_run_page(ctx, eng, in, p - 1, doc);
        if (st) {
            ok = false;
            if (st != VD_ERR_CANCELLED)
                cli_error(st, vd_ctx_errmsg(ctx));
        }
        if (j->verbose) {
            vd_page *pg = vd_doc_page(doc, vd_doc_page_count(doc) - 1);
            const vd_page_stats *ps = vd_page_stats_get(pg);
            const vd_pagemap *m = vd_page_map(pg);
            cli_progress_clear(prog);
            fprintf(stderr,
                    "vldoc: %s: page %d: engine %s, model image %dx%d, "
                    "%.3f s",
                    path, p, ps->engine ? ps->engine : engine_name,
                    m ? m->model_w : 0, m ? m->model_h : 0, ps->seconds);
            if (ps->generated_tokens)
                fprintf(stderr, ", %d prompt + %d generated tokens",
                        ps->prompt_tokens, ps->generated_tokens);
            if (ps->encode_seconds > 0 || ps->decode_seconds > 0)
                fprintf(stderr,
                        " (encode %.2f s, prefill %.2f s, decode %.2f s, "
                        "%.1f tok/s)",
                        ps->encode_seconds, ps->prefill_seconds,
                        ps->decode_seconds,
                        ps->decode_seconds > 0
                            ? ps->generated_tokens / ps->decode_seconds
                            : 0.0);
            fputc('\n', stderr);
        }
        cli_progress_page_done(prog);
    }
    if (interrupted) {
        vd_doc_free(doc);
        vd_input_free(in);
        return false;
    }
    vd_ctx_clear(ctx);
    st = vd_doc_write(ctx, doc, j->format, &j->wr_opts, out);
    if (st) {
        cli_error(st, vd_ctx_errmsg(ctx));
        ok = false;
    }
    vd_doc_free(doc);
    vd_input_free(in);
    return ok;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Each generated token moves the progress bar's tokens/s. */
static int on_token(void *user, int token_id, const char *piece, size_t len)
{
    (void)user;
    (void)token_id;
    (void)piece;
    (void)len;
    cli_progress_tokens(cli_progress_current, 1);
    return 0;
}

static int run(job *j, cli_inputs *ins, int threads)
{
    vd_opts o;
    vd_opts_init(&o);
    o.threads = threads;
    o.log = cli_log;
    o.level = j->verbose ? VD_LOG_INFO : j->quiet ? VD_LOG_ERROR : VD_LOG_WARN;
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

    if (!j->eng_opts.on_token)
        j->eng_opts.on_token = on_token;
    vd_engine *eng = NULL;
    vd_status st = vd_engine_open(ctx, &j->eng_opts, &eng);
    if (st) {
        cli_error(st, vd_ctx_errmsg(ctx));
        vd_ctx_free(ctx);
        return CLI_FAILED;
    }
    const char *ext = vd_writer_ext(j->format);
    cli_progress *prog = cli_progress_new(ins->n, j->quiet);
    int failed = 0;
    for (int i = 0; i < ins->n && !interrupted; i++) {
        const char *path = ins->paths[i];
        vd_out *out = NULL;
        char *opath = NULL;
        bool ok = true;
        if (j->out_dir) {
            opath = cli_output_path(ins, i, j->output, ext);
            if (!opath) {
                failed++;
                continue;
            }
        } else if (j->output) {
            opath = strdup(j->output);
        }
        if (opath && cli_is_input(ins, opath)) {
            cli_progress_clear(prog);
            fprintf(stderr,
                    "vldoc: %s: output would overwrite an input; skipped\n",
                    opath);
            free(opath);
            failed++;
            continue;
        }
        if (opath && j->skip_existing && access(opath, F_OK) == 0) {
            free(opath);
            cli_progress_file_done(prog);
            continue;
        }
        vd_ctx_clear(ctx);
        st = opath ? vd_out_open_file(ctx, opath, &out)
                   : vd_out_open_stream(ctx, stdout, &out);
        if (st) {
            cli_error(st, vd_ctx_errmsg(ctx));
            free(opath);
            failed++;
            continue;
        }
        ok = convert_one(ctx, eng, j, path, out, prog);
        /* a document with failed pages is still written: the failures are
         * marked in it; an input that could not be opened writes nothing */
        if (!interrupted && (ok || vd_out_size(out) > 0)) {
            vd_ctx_clear(ctx);
            if (vd_out_close(ctx, out) != VD_OK) {
                cli_error(vd_ctx_status(ctx), vd_ctx_errmsg(ctx));
                ok = false;
            }
        }
        vd_out_free(out);
        free(opath);
        if (!ok)
            failed++;
        cli_progress_file_done(prog);
    }
    cli_progress_free(prog);
    if (!j->quiet && ins->n > 1 && failed)
        fprintf(stderr, "vldoc: %d of %d inputs had errors\n", failed, ins->n);
    sig_ctx = NULL;
    vd_engine_free(eng);
    vd_ctx_free(ctx);
    if (interrupted)
        return CLI_INTERRUPTED;
    return failed ? CLI_FAILED : CLI_OK;
}

static char *read_prompt_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_usage_error("--prompt-file %s: cannot read", path);
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

int cli_convert_main(int argc, char **argv)
{
    job j;
    memset(&j, 0, sizeof j);
    j.format = "md";
    vd_input_opts_init(&j.in_opts);
    vd_engine_opts_init(&j.eng_opts);
    vd_write_opts_init(&j.wr_opts);
    long threads = 0;
    char err[160];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:p:i:e:m:t:qvhV", long_opts,
                            NULL)) != -1) {
        long lv;
        double dv;
        switch (c) {
        case 'f':
            if (!vd_writer_ext(optarg)) {
                cli_usage_error("unknown format '%s' (use md, json, html, "
                                "text, jsonl or qwenvl)",
                                optarg);
                return CLI_USAGE;
            }
            j.format = optarg;
            break;
        case 'o':
            j.output = optarg;
            break;
        case OPT_SKIP_EXISTING:
            j.skip_existing = true;
            break;
        case OPT_KEEP_FURNITURE:
            j.wr_opts.keep_furniture = 1;
            break;
        case OPT_CHUNK:
            if (strcmp(optarg, "section") == 0)
                j.wr_opts.chunk_section = 1;
            else if (strcmp(optarg, "block") != 0) {
                cli_usage_error("--chunk takes 'block' or 'section'");
                return CLI_USAGE;
            }
            break;
        case OPT_PRETTY:
            j.wr_opts.pretty = 1;
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
        case 'i':
            j.in_opts.format = parse_format(optarg);
            if (!j.in_opts.format) {
                cli_usage_error("unknown input format '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_IMAGE:
            j.in_opts.image_path = optarg;
            break;
        case OPT_IMAGE_SIZE:
            if (!cli_size("--image-size", optarg, &j.in_opts.model_w,
                          &j.in_opts.model_h))
                return CLI_USAGE;
            break;
        case 'e':
            j.eng_opts.engine = optarg;
            break;
        case 'm':
            j.eng_opts.model_dir = optarg;
            break;
        case OPT_DPI:
            if (!cli_double("--dpi", optarg, 1, 4800, &dv))
                return CLI_USAGE;
            j.eng_opts.render.dpi = dv;
            break;
        case OPT_MIN_PIXELS:
            if (!cli_int("--min-pixels", optarg, 784, 1L << 30, &lv))
                return CLI_USAGE;
            j.eng_opts.render.min_pixels = lv;
            break;
        case OPT_MAX_PIXELS:
            if (!cli_int("--max-pixels", optarg, 784, 1L << 30, &lv))
                return CLI_USAGE;
            j.eng_opts.render.max_pixels = lv;
            break;
        case OPT_PROMPT:
            j.eng_opts.prompt = optarg;
            break;
        case OPT_PROMPT_FILE:
            free(j.prompt_buf);
            if (!(j.prompt_buf = read_prompt_file(optarg)))
                return CLI_USAGE;
            j.eng_opts.prompt = j.prompt_buf;
            break;
        case OPT_SYSTEM_PROMPT:
            j.eng_opts.system_prompt = optarg;
            break;
        case OPT_MAX_NEW_TOKENS:
            if (!cli_int("--max-new-tokens", optarg, 1, 131072, &lv))
                return CLI_USAGE;
            j.eng_opts.max_new_tokens = (int)lv;
            break;
        case OPT_PAGE_TIMEOUT:
            if (!cli_double("--page-timeout", optarg, 0, 1e7, &dv))
                return CLI_USAGE;
            j.eng_opts.page_timeout = dv;
            break;
        case OPT_ENDPOINT:
            j.eng_opts.endpoint = optarg;
            break;
        case OPT_REMOTE_MODEL:
            j.eng_opts.remote_model = optarg;
            break;
        case OPT_JOBS:
            if (!cli_int("--jobs", optarg, 1, 1024, &lv))
                return CLI_USAGE;
            j.eng_opts.jobs = (int)lv;
            break;
        case OPT_PRECISION:
            if (!cli_precision(optarg, &j.eng_opts.precision))
                return CLI_USAGE;
            break;
        case OPT_WEIGHTS:
            if (!cli_weights(optarg, &j.eng_opts.weights))
                return CLI_USAGE;
            break;
        case OPT_KV:
            if (!cli_kv(optarg, &j.eng_opts.kv_bf16))
                return CLI_USAGE;
            break;
        case 't':
            if (!cli_int("--threads", optarg, 1, 256, &threads))
                return CLI_USAGE;
            break;
        case 'q':
            j.quiet = true;
            break;
        case 'v':
            j.verbose++;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        case 'V':
            return print_version();
        default:
            fputs("Try 'vldoc --help' for more information.\n", stderr);
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        cli_usage_error("no input given");
        return CLI_USAGE;
    }
    cli_inputs ins;
    memset(&ins, 0, sizeof ins);
    int bad_args = 0;
    for (int i = optind; i < argc; i++)
        if (!cli_inputs_add(&ins, argv[i]))
            bad_args++;
    if (j.output) {
        size_t len = strlen(j.output);
        j.out_dir = j.output[len - 1] == '/' || is_dir(j.output);
        if (j.out_dir && !is_dir(j.output) && mkdir(j.output, 0777) != 0) {
            fprintf(stderr, "vldoc: %s: cannot create directory\n", j.output);
            cli_inputs_free(&ins);
            return CLI_FAILED;
        }
        if (!j.out_dir && ins.n > 1) {
            cli_usage_error("%d inputs need an output directory: -o DIR/",
                            ins.n);
            cli_inputs_free(&ins);
            return CLI_USAGE;
        }
    } else if (ins.n > 1 && (strcmp(j.format, "json") == 0 ||
                             strcmp(j.format, "html") == 0)) {
        cli_usage_error("%d inputs as %s need an output directory: -o DIR/",
                        ins.n, j.format);
        cli_inputs_free(&ins);
        return CLI_USAGE;
    }
    int rc = ins.n ? run(&j, &ins, (int)threads) : CLI_FAILED;
    cli_inputs_free(&ins);
    free(j.prompt_buf);
    if (rc == CLI_OK && bad_args)
        rc = CLI_FAILED;
    return rc;
}

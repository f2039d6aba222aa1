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
    "      --skip-existing   skip inputs whose output already exists (and\n"
    "                        that the --manifest does not record as failed)\n"
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
    "Batches:\n"
    "      --inputs-from FILE  read inputs, one per line, from FILE (- for\n"
    "                        stdin), as if given on the command line\n"
    "      --shard I/N       convert only shard I (0 <= I < N) of the\n"
    "                        inputs: a stable hash of each input's path\n"
    "                        relative to its argument, so N machines given\n"
    "                        the same inputs split them with no overlap\n"
    "      --manifest FILE   append one JSON line per input (input,\n"
    "                        status, output, pages, error, timings) as the\n"
    "                        batch runs; with --skip-existing it is read\n"
    "                        back to resume\n"
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
    "      --api-key-env VAR remote: environment variable holding the API\n"
    "                        key (default VLDOC_API_KEY); never on the\n"
    "                        command line\n"
    "      --request-timeout S  remote: seconds per request (default 600)\n"
    "      --retries N       remote: retries per page after timeouts,\n"
    "                        connection errors, 429 and 5xx (default 4)\n"
    "      --retry-wait S    remote: first retry delay, doubling, with\n"
    "                        jitter; Retry-After wins (default 1)\n"
    "      --stream          remote: stream tokens (tokens/s in the bar)\n"
    "      --image-format F  remote: auto (default: PNG, or JPEG when\n"
    "                        smaller for a photo-like page), png, jpeg\n"
    "  -t, --threads N       worker threads (default: all cores)\n"
    "\n"
    "Robustness:\n"
    "      --stall-timeout S a worker that reports no progress for S\n"
    "                        seconds is taken for hung, killed, and its page\n"
    "                        marked failed (default 300)\n"
    "      --worker-memory MB  a worker whose own (anonymous) memory grows\n"
    "                        past MB is stopped the same way (default: 3/4\n"
    "                        of the machine's memory; 0: no limit)\n"
    "      --no-isolate      decode and convert in this process: no fork,\n"
    "                        but a decoder that crashes or hangs on a hostile\n"
    "                        file takes the whole batch with it\n"
    "\n"
    "Messages:\n"
    "  -q, --quiet           no progress bar, errors only\n"
    "  -v, --verbose         per-page engine, size, timing and tokens\n"
    "  -h, --help            this help\n"
    "  -V, --version         version and compiled-in features\n"
    "\n"
    "Other commands: vldoc render | generate | pull | serve | quantize\n"
    "(see 'vldoc COMMAND --help').\n"
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
    OPT_INPUTS_FROM,
    OPT_SHARD,
    OPT_MANIFEST,
    OPT_API_KEY_ENV,
    OPT_REQUEST_TIMEOUT,
    OPT_RETRIES,
    OPT_RETRY_WAIT,
    OPT_STREAM,
    OPT_IMAGE_FORMAT,
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
    { "inputs-from", required_argument, NULL, OPT_INPUTS_FROM },
    { "shard", required_argument, NULL, OPT_SHARD },
    { "manifest", required_argument, NULL, OPT_MANIFEST },
    { "api-key-env", required_argument, NULL, OPT_API_KEY_ENV },
    { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
    { "retries", required_argument, NULL, OPT_RETRIES },
    { "retry-wait", required_argument, NULL, OPT_RETRY_WAIT },
    { "stream", no_argument, NULL, OPT_STREAM },
    { "image-format", required_argument, NULL, OPT_IMAGE_FORMAT },
    { "precision", required_argument, NULL, OPT_PRECISION },
    { "weights", required_argument, NULL, OPT_WEIGHTS },
    { "kv", required_argument, NULL, OPT_KV },
    CLI_ISOLATION_LONGOPTS,
    { "threads", required_argument, NULL, 't' },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

typedef struct job {
    const char *format;
    const char *manifest;
    unsigned shard_i, shard_n; /* shard_n 0: no sharding */
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
    cli_isolation iso;
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

/* ---- the batch: documents in, pages in flight, documents out ----
 *
 * Inputs are opened one after another on this thread (Poppler documents
 * must stay on the thread that opened them) and their pages submitted to
 * the engine; an engine that waits on a server keeps up to --jobs pages in
 * flight, so pages of several documents overlap. Finished pages come back
 * in any order and are put back in page order per document; a document is
 * written (atomically) once all its pages are back. At most about --jobs
 * pages are rendered and waiting at a time. */

typedef struct doc_job {
    int idx; /* input index */
    const char *path;
    vd_input *in;
    char *opath; /* output file; NULL: stdout */
    const char *engine_name;
    int jobs;         /* pages of this input to keep in flight */
    int *pages;       /* 0-based pages selected */
    int npages, next; /* selected; next to submit */
    int ndone, nfailed;
    int appended;         /* pages already in DOC, in page order */
    bool append_failed;   /* out of memory while building DOC */
    vd_page_result **res; /* by position in PAGES, until appended */
    char *first_error;
    double started;
    double engine_seconds;
    long prompt_tokens, generated_tokens;
    int attempts;
    vd_doc *doc; /* built as pages come back in order; for stdout kept
                    until its turn to be written */
    bool write_failed;
    struct doc_job *next_done;   /* stdout: waiting list */
    struct doc_job *next_active; /* isolated: documents being built */
} doc_job;

typedef struct batch {
    job *j;
    cli_inputs *ins;
    vd_ctx *ctx;
    vd_engine *eng;
    cli_progress *prog;
    cli_manifest *man;
    const char *ext;
    int next_input;             /* next input to open */
    int failed;                 /* inputs with any error */
    int stdout_next;            /* stdout: next input index to write */
    unsigned char *stdout_done; /* stdout: input finished (no output) */
    doc_job *waiting;           /* stdout: written in input order */
    /* isolated runs: the worker and what it is doing */
    unsigned char *todo; /* input still to be run by a worker */
    int todo_lo;         /* no input below this one is still to do */
    doc_job *active;     /* documents whose pages are coming back */
    cli_worker w;
    int cur_open;          /* input being opened, or -1 */
    int cur_idx, cur_page; /* page in the engine, or cur_idx -1 */
    int blameless;         /* workers lost with nothing to blame */
} batch;

static void manifest(batch *b, const doc_job *d, int idx, cli_mstatus st,
                     const char *error)
{
    if (!b->man)
        return;
    cli_mrecord r;
    memset(&r, 0, sizeof r);
    r.input = b->ins->paths[idx];
    r.status = st;
    r.error = error;
    r.finished = cli_wallclock();
    r.started = r.finished;
    if (d) {
        r.output = st == CLI_M_ERROR ? NULL : d->opath;
        r.engine = d->engine_name;
        r.pages = d->npages;
        r.pages_failed = d->nfailed;
        r.started = d->started;
        r.engine_seconds = d->engine_seconds;
        r.prompt_tokens = d->prompt_tokens;
        r.generated_tokens = d->generated_tokens;
        r.attempts = d->attempts;
    }
    if (!cli_manifest_write(b->man, &r))
        b->failed++;
}

static void doc_free(doc_job *d)
{
    if (!d)
        return;
    for (int k = 0; k < d->npages; k++)
        vd_page_result_free(d->res[k]);
    free(d->res);
    free(d->pages);
    free(d->opath);
    free(d->first_error);
    vd_doc_free(d->doc);
    vd_input_free(d->in);
    free(d);
}

/* An input that ends before any page ran (cannot open, no engine...). */
static void input_failed(batch *b, int idx, doc_job *d, const char *msg)
{
    b->failed++;
    manifest(b, d, idx, CLI_M_ERROR, msg);
    if (b->todo)
        b->todo[idx] = 0;
    if (b->stdout_done)
        b->stdout_done[idx] = 1;
    cli_progress_file_done(b->prog);
}

/* Write D's document: to its file now, or to stdout in input order. */
static bool write_doc(batch *b, doc_job *d, vd_out *out)
{
    vd_ctx_clear(b->ctx);
    vd_status st =
        vd_doc_write(b->ctx, d->doc, b->j->format, &b->j->wr_opts, out);
    if (st == VD_OK)
        st = vd_out_close(b->ctx, out);
    if (st)
        cli_error(st, vd_ctx_errmsg(b->ctx));
    return st == VD_OK;
}

static void record_done(batch *b, doc_job *d)
{
    cli_mstatus ms = d->write_failed ? CLI_M_ERROR
                     : d->nfailed    ? CLI_M_FAILED
                                     : CLI_M_OK;
    if (d->nfailed || d->write_failed)
        b->failed++;
    manifest(b, d, d->idx, ms,
             d->first_error    ? d->first_error
             : d->write_failed ? "writing the output failed"
                               : NULL);
}

/* stdout: write every finished document whose turn has come. */
static void flush_stdout(batch *b)
{
    for (;;) {
        int i = b->stdout_next;
        if (i >= b->ins->n)
            return;
        if (b->stdout_done[i]) {
            b->stdout_next++;
            continue;
        }
        doc_job **p = &b->waiting;
        while (*p && (*p)->idx != i)
            p = &(*p)->next_done;
        if (!*p)
            return;
        doc_job *d = *p;
        *p = d->next_done;
        vd_out *out = NULL;
        vd_ctx_clear(b->ctx);
        if (vd_out_open_stream(b->ctx, stdout, &out) != VD_OK ||
            !write_doc(b, d, out))
            d->write_failed = true;
        vd_out_free(out);
        record_done(b, d);
        doc_free(d);
        b->stdout_next++;
    }
}

/* All pages of D are back, and in its document: write it. */
static void active_remove(batch *b, doc_job *d)
{
    for (doc_job **p = &b->active; *p; p = &(*p)->next_active)
        if (*p == d) {
            *p = d->next_active;
            break;
        }
    if (b->todo)
        b->todo[d->idx] = 0;
}

static void finish_doc(batch *b, doc_job *d)
{
    active_remove(b, d);
    vd_input_free(d->in);
    d->in = NULL;
    cli_progress_file_done(b->prog);
    if (d->append_failed) {
        cli_error(VD_ERR_NOMEM, "out of memory");
        d->write_failed = true;
    } else if (d->opath) {
        vd_out *out = NULL;
        vd_ctx_clear(b->ctx);
        vd_status st = vd_out_open_file(b->ctx, d->opath, &out);
        if (st) {
            cli_error(st, vd_ctx_errmsg(b->ctx));
            d->write_failed = true;
        } else if (!write_doc(b, d, out)) {
            d->write_failed = true;
        }
        vd_out_free(out);
    } else {
        d->next_done = b->waiting;
        b->waiting = d;
        flush_stdout(b);
        return;
    }
    record_done(b, d);
    doc_free(d);
}

/* Open the next input that has pages to run; NULL when none is left.
 * Inputs that are skipped or fail are dealt with here. */
/* What is decided before input I is opened: its shard, its output path,
 * --skip-existing. NULL when it is not to be run (dealt with here). */
static doc_job *plan_input(batch *b, int i)
{
    job *j = b->j;
    const char *path = b->ins->paths[i];
    if (j->shard_n && cli_shard_of(b->ins->rel[i], j->shard_n) != j->shard_i) {
        if (b->stdout_done)
            b->stdout_done[i] = 1;
        return NULL;
    }
    doc_job *d = calloc(1, sizeof *d);
    if (!d) {
        fprintf(stderr, "vldoc: out of memory\n");
        input_failed(b, i, NULL, "out of memory");
        return NULL;
    }
    d->idx = i;
    d->path = path;
    d->started = cli_wallclock();
    if (j->out_dir) {
        d->opath = cli_output_path(b->ins, i, j->output, b->ext);
        if (!d->opath) {
            input_failed(b, i, d, "no output path");
            doc_free(d);
            return NULL;
        }
    } else if (j->output && !(d->opath = strdup(j->output))) {
        input_failed(b, i, d, "out of memory");
        doc_free(d);
        return NULL;
    }
    if (d->opath && cli_is_input(b->ins, d->opath)) {
        cli_progress_clear(b->prog);
        fprintf(stderr, "vldoc: %s: output would overwrite an input; skipped\n",
                d->opath);
        input_failed(b, i, d, "output would overwrite an input");
        doc_free(d);
        return NULL;
    }
    if (j->skip_existing) {
        cli_mstatus last = cli_manifest_last(b->man, path);
        bool exists = d->opath ? access(d->opath, F_OK) == 0 : last == CLI_M_OK;
        /* an input the manifest records as failed runs again */
        if (exists && last != CLI_M_FAILED && last != CLI_M_ERROR) {
            manifest(b, d, i, CLI_M_SKIPPED, NULL);
            if (b->stdout_done)
                b->stdout_done[i] = 1;
            doc_free(d);
            cli_progress_file_done(b->prog);
            return NULL;
        }
    }
    return d;
}

/* D's input has N pages: select them and start its document. False when
 * D is done with here (out of memory: D is freed). */
static bool doc_pages(batch *b, doc_job *d, int n)
{
    job *j = b->j;
    int maxp = cli_ranges_max(&j->pages);
    if (maxp > n) {
        cli_progress_clear(b->prog);
        fprintf(stderr,
                "vldoc: warning: %s: has %d pages; pages above %d "
                "skipped\n",
                d->path, n, n);
    }
    d->pages = malloc(sizeof *d->pages * (size_t)(n > 0 ? n : 1));
    d->res = calloc((size_t)(n > 0 ? n : 1), sizeof *d->res);
    if (!d->pages || !d->res || vd_doc_new(b->ctx, d->path, &d->doc)) {
        fprintf(stderr, "vldoc: out of memory\n");
        input_failed(b, d->idx, d, "out of memory");
        doc_free(d);
        return false;
    }
    for (int p = 1; p <= n; p++)
        if (cli_ranges_has(&j->pages, p))
            d->pages[d->npages++] = p - 1;
    cli_progress_file(b->prog, d->path, d->npages);
    return true;
}

static doc_job *open_next(batch *b)
{
    job *j = b->j;
    vd_ctx *ctx = b->ctx;
    while (b->next_input < b->ins->n && !interrupted) {
        int i = b->next_input++;
        const char *path = b->ins->paths[i];
        doc_job *d = plan_input(b, i);
        if (!d)
            continue;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, &j->in_opts, &d->in);
        if (st == VD_OK)
            st = vd_engine_resolve(ctx, b->eng, d->in, &d->engine_name);
        if (st) {
            cli_error(st, vd_ctx_errmsg(ctx));
            input_failed(b, i, d, vd_ctx_errmsg(ctx));
            doc_free(d);
            continue;
        }
        if (!doc_pages(b, d, vd_input_page_count(d->in)))
            continue;
        d->jobs = vd_engine_jobs(ctx, b->eng, d->in);
        if (d->npages == 0) {
            finish_doc(b, d);
            continue;
        }
        return d;
    }
    return NULL;
}

static void page_back(batch *b, vd_page_result *r)
{
    doc_job *d = vd_page_result_user(r);
    int page = vd_page_result_page(r);
    /* PAGES is ascending: find the slot without a scan, since a
     * document may have many thousands of pages */
    int lo = 0, hi = d->npages - 1, k = 0;
    while (lo <= hi) {
        k = lo + (hi - lo) / 2;
        if (d->pages[k] == page)
            break;
        if (d->pages[k] < page)
            lo = k + 1;
        else
            hi = k - 1;
    }
    d->res[k] = r;
    d->ndone++;
    const vd_page_stats *ps = vd_page_result_stats(r);
    vd_status st = vd_page_result_status(r);
    d->engine_seconds += ps->seconds;
    d->prompt_tokens += ps->prompt_tokens;
    d->generated_tokens += ps->generated_tokens;
    d->attempts += ps->attempts;
    if (st) {
        d->nfailed++;
        if (!d->first_error)
            d->first_error = strdup(vd_page_result_error(r));
        if (st != VD_ERR_CANCELLED)
            cli_error(st, vd_page_result_error(r));
    }
    if (b->j->verbose) {
        cli_progress_clear(b->prog);
        const vd_pagemap *m = vd_page_result_map(r);
        fprintf(stderr,
                "vldoc: %s: page %d: engine %s, model image %dx%d, %.3f s",
                d->path, page + 1, ps->engine ? ps->engine : d->engine_name,
                m->model_w, m->model_h, ps->seconds);
        if (ps->generated_tokens || ps->prompt_tokens)
            fprintf(stderr, ", %d prompt + %d generated tokens",
                    ps->prompt_tokens, ps->generated_tokens);
        if (ps->encode_seconds > 0 || ps->decode_seconds > 0)
            fprintf(stderr,
                    " (encode %.2f s, prefill %.2f s, decode %.2f s, "
                    "%.1f tok/s)",
                    ps->encode_seconds, ps->prefill_seconds, ps->decode_seconds,
                    ps->decode_seconds > 0
                        ? ps->generated_tokens / ps->decode_seconds
                        : 0.0);
        if (ps->attempts > 1)
            fprintf(stderr, ", %d attempts", ps->attempts);
        fputc('\n', stderr);
    }
    cli_progress_page_done(b->prog);
    /* into the document as soon as every page before it is there, so
     * only the pages that came back early wait in memory */
    while (d->appended < d->npages && d->res[d->appended]) {
        vd_ctx_clear(b->ctx);
        vd_page_result_append(b->ctx, d->res[d->appended], d->doc);
        if (vd_ctx_status(b->ctx) == VD_ERR_NOMEM)
            d->append_failed = true;
        vd_page_result_free(d->res[d->appended]);
        d->res[d->appended++] = NULL;
    }
    if (d->ndone == d->npages)
        finish_doc(b, d);
}

/* Interrupted: a page that comes back is dropped with its document once
 * the document has nothing left in flight (CUR is freed by the caller). */
static void drop(vd_page_result *r, doc_job *cur)
{
    doc_job *d = vd_page_result_user(r);
    vd_page_result_free(r);
    if (++d->ndone == d->next && d != cur)
        doc_free(d);
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
    if (cli_in_worker())
        cli_ev_send(CLI_EV_TOKENS, 1, 0, NULL, 0);
    else
        cli_progress_tokens(cli_progress_current, 1);
    return 0;
}

/* ---- isolation: the batch in a worker process ----
 *
 * The worker opens the inputs, runs the engine and sends each finished
 * page back packed; the parent builds and writes the documents, keeps the
 * manifest and the progress bar. A worker that dies or stops reporting is
 * replaced: the page it was on is marked failed, and the new worker,
 * forked from the parent's current state, resumes after it, skipping the
 * pages already back. */

/* The parent's document for input IDX, if its pages are coming back. */
static doc_job *find_active(batch *b, int idx)
{
    for (doc_job *d = b->active; d; d = d->next_active)
        if (d->idx == idx)
            return d;
    return NULL;
}

/* Is page PAGE of D back in the parent already (done or marked)? */
static bool page_known(const doc_job *d, int page)
{
    for (int k = 0; k < d->npages; k++)
        if (d->pages[k] == page)
            return k < d->appended || d->res[k] != NULL;
    return false;
}

typedef struct wdoc {
    int idx;
    vd_input *in;
    int *pages;
    int npages, next, out, jobs;
} wdoc;

static void wdoc_free(wdoc *w)
{
    if (!w)
        return;
    vd_input_free(w->in);
    free(w->pages);
    free(w);
}

/* Progress from inside the engine (vision blocks, prefill layers): at
 * most a few events a second. */
static void worker_beat(void *user)
{
    static _Atomic long last_ms;
    (void)user;
    long t = (long)(cli_monotonic() * 1000);
    if (t - last_ms >= 500) {
        last_ms = t;
        cli_ev_send(CLI_EV_ALIVE, 0, 0, NULL, 0);
    }
}

static void worker_log(void *user, vd_log_level level, const char *msg)
{
    (void)user;
    cli_ev_send(CLI_EV_LOG, (int)level, 0, msg, strlen(msg));
}

/* Worker: open the next input still to do and list its pages left. */
static wdoc *worker_open(batch *b, vd_engine *eng, int *next)
{
    vd_ctx *ctx = b->ctx;
    while (*next < b->ins->n && !interrupted) {
        int i = (*next)++;
        if (!b->todo[i])
            continue;
        const char *path = b->ins->paths[i];
        cli_ev_send(CLI_EV_FILE_OPEN, i, 0, NULL, 0);
        vd_input *in = NULL;
        const char *name = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, &b->j->in_opts, &in);
        if (st == VD_OK)
            st = vd_engine_resolve(ctx, eng, in, &name);
        if (st) {
            const char *m = vd_ctx_errmsg(ctx);
            cli_ev_send(CLI_EV_FILE_ERROR, i, (int)st, m, strlen(m));
            vd_input_free(in);
            continue;
        }
        int n = vd_input_page_count(in);
        cli_ev_send(CLI_EV_FILE_START, i, n, name, strlen(name));
        wdoc *w = calloc(1, sizeof *w);
        if (!w || !(w->pages = malloc(sizeof *w->pages * (size_t)(n + 1)))) {
            free(w);
            vd_input_free(in);
            _exit(CLI_FAILED); /* the parent reports the lost worker */
        }
        w->idx = i;
        w->in = in;
        /* resuming: the parent's document (inherited) says which pages
         * are back already */
        const doc_job *d = find_active(b, i);
        for (int p = 0; p < n; p++)
            if (cli_ranges_has(&b->j->pages, p + 1) && !(d && page_known(d, p)))
                w->pages[w->npages++] = p;
        w->jobs = vd_engine_jobs(ctx, eng, in);
        if (w->npages)
            return w;
        wdoc_free(w);
    }
    return NULL;
}

static int worker_main(void *arg)
{
    batch *b = arg;
    job *j = b->j;
    /* a fresh context: the parent's thread pool has no threads here */
    vd_opts o = *vd_ctx_opts(b->ctx);
    o.log = worker_log;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx)
        return CLI_FAILED;
    b->ctx = sig_ctx = ctx;
    b->prog = cli_progress_current = NULL;
    vd_ctx_set_progress(ctx, worker_beat, NULL);
    vd_engine *eng = b->eng;
    /* a remote engine of its own: its curl multi handle (with the wakeup
     * pipe inside) is no state for two processes to share */
    if (j->eng_opts.engine && strcmp(j->eng_opts.engine, "remote") == 0 &&
        vd_engine_open(ctx, &j->eng_opts, &eng) != VD_OK) {
        const char *m = vd_ctx_errmsg(ctx);
        cli_ev_send(CLI_EV_LOG, VD_LOG_ERROR, 0, m, strlen(m));
        return CLI_FAILED;
    }
    int next = b->todo_lo;
    wdoc *cur = NULL;
    while (!interrupted) {
        while (!interrupted) {
            if (!cur && !(cur = worker_open(b, eng, &next)))
                break;
            if (vd_engine_pending(eng) >= cur->jobs)
                break;
            int page = cur->pages[cur->next++];
            cli_ev_send(CLI_EV_PAGE_START, cur->idx, page, NULL, 0);
            cli_test_crash(b->ins->paths[cur->idx], page + 1);
            vd_ctx_clear(ctx);
            if (vd_engine_submit(ctx, eng, cur->in, page, cur) != VD_OK)
                return CLI_FAILED; /* out of memory */
            cur->out++;
            if (cur->next == cur->npages)
                cur = NULL;
        }
        if (!vd_engine_pending(eng))
            break;
        vd_page_result *r = NULL;
        vd_engine_next(ctx, eng, 1.0, &r);
        if (!r) {
            /* waiting on a server, not stuck in a decoder */
            cli_ev_send(CLI_EV_ALIVE, 0, 0, NULL, 0);
            continue;
        }
        wdoc *w = vd_page_result_user(r);
        void *data = NULL;
        size_t len = 0;
        if (vd_page_result_pack(ctx, r, &data, &len) != VD_OK)
            return CLI_FAILED;
        cli_ev_send(CLI_EV_PAGE_DONE, w->idx, vd_page_result_page(r), data,
                    len);
        vd_free(data);
        vd_page_result_free(r);
        if (--w->out == 0 && w->next == w->npages)
            wdoc_free(w);
    }
    if (interrupted)
        return CLI_INTERRUPTED;
    cli_ev_send(CLI_EV_DONE, 0, 0, NULL, 0);
    return CLI_OK;
}

/* The worker is gone (WHY: "crashed (...)", "hung ..."): mark what it was
 * on as failed with STATUS, so the next worker starts after it. */
static void worker_lost(batch *b, vd_status status, const char *why)
{
    char msg[1024];
    doc_job *d = b->cur_idx >= 0 ? find_active(b, b->cur_idx) : NULL;
    if (d) {
        snprintf(msg, sizeof msg, "%s: page %d: %s; skipped", d->path,
                 b->cur_page + 1, why);
        vd_page_result *r = NULL;
        vd_ctx_clear(b->ctx);
        if (vd_page_result_new_error(b->ctx, d->path, b->cur_page, status, msg,
                                     d, &r) == VD_OK) {
            cli_progress_clear(b->prog);
            page_back(b, r);
        }
        b->blameless = 0;
    } else if (b->cur_open >= 0) {
        int i = b->cur_open;
        snprintf(msg, sizeof msg, "%s: %s while opening it; skipped",
                 b->ins->paths[i], why);
        cli_progress_clear(b->prog);
        cli_error(status, msg);
        input_failed(b, i, NULL, msg);
        b->blameless = 0;
    } else if (++b->blameless >= 2) {
        /* lost twice between pages: give up on the input it was at */
        while (b->todo_lo < b->ins->n && !b->todo[b->todo_lo])
            b->todo_lo++;
        if (b->todo_lo >= b->ins->n)
            return;
        int i = b->todo_lo;
        snprintf(msg, sizeof msg, "%s: %s; skipped", b->ins->paths[i], why);
        cli_progress_clear(b->prog);
        cli_error(status, msg);
        if ((d = find_active(b, i))) {
            active_remove(b, d);
            b->failed++;
            manifest(b, d, i, CLI_M_ERROR, msg);
            if (b->stdout_done)
                b->stdout_done[i] = 1;
            cli_progress_file_done(b->prog);
            doc_free(d);
        } else {
            input_failed(b, i, NULL, msg);
        }
        b->blameless = 0;
    }
}

/* The worker's engine name as a string that lives as long as the batch
 * (the library's names are static in the worker, not here). */
static const char *engine_static(const char *name, size_t len)
{
    static char names[8][16];
    for (int i = 0; i < 8; i++) {
        if (!names[i][0] && len < sizeof names[i]) {
            memcpy(names[i], name, len);
            return names[i];
        }
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return names[i];
    }
    return NULL;
}

static void worker_event(batch *b, const cli_ev *ev)
{
    int i = ev->a;
    if (ev->type != CLI_EV_TOKENS && ev->type != CLI_EV_ALIVE &&
        ev->type != CLI_EV_LOG && ev->type != CLI_EV_DONE &&
        (i < 0 || i >= b->ins->n))
        return;
    switch (ev->type) {
    case CLI_EV_FILE_OPEN:
        b->cur_open = i;
        break;
    case CLI_EV_FILE_ERROR: {
        char msg[1024];
        snprintf(msg, sizeof msg, "%.*s", (int)ev->len, ev->data);
        b->cur_open = -1;
        cli_progress_clear(b->prog);
        cli_error((vd_status)ev->b, msg);
        input_failed(b, i, NULL, msg);
        break;
    }
    case CLI_EV_FILE_START: {
        b->cur_open = -1;
        if (find_active(b, i))
            break; /* resumed by a new worker */
        doc_job *d = plan_input(b, i);
        if (!d) {
            b->todo[i] = 0;
            break;
        }
        d->engine_name = engine_static(ev->data, ev->len);
        if (!doc_pages(b, d, ev->b))
            break;
        d->next = d->npages; /* every page is the worker's */
        d->next_active = b->active;
        b->active = d;
        if (d->npages == 0)
            finish_doc(b, d);
        break;
    }
    case CLI_EV_PAGE_START:
        b->cur_idx = i;
        b->cur_page = ev->b;
        break;
    case CLI_EV_PAGE_DONE: {
        if (b->cur_idx == i && b->cur_page == ev->b)
            b->cur_idx = -1;
        doc_job *d = find_active(b, i);
        vd_page_result *r = NULL;
        vd_ctx_clear(b->ctx);
        if (!d || page_known(d, ev->b))
            break;
        if (vd_page_result_unpack(b->ctx, ev->data, ev->len, d, &r) != VD_OK)
            vd_page_result_new_error(b->ctx, d->path, ev->b, VD_ERR_INTERNAL,
                                     vd_ctx_errmsg(b->ctx), d, &r);
        if (r)
            page_back(b, r);
        break;
    }
    case CLI_EV_TOKENS:
        cli_progress_tokens(b->prog, i);
        break;
    case CLI_EV_LOG: {
        char msg[1024];
        snprintf(msg, sizeof msg, "%.*s", (int)ev->len, ev->data);
        cli_log(NULL, (vd_log_level)i, msg);
        break;
    }
    case CLI_EV_DONE:
        b->w.done = true;
        break;
    default:
        break;
    }
}

/* The input whose decoder is most likely at fault: the page's, the file
 * being opened, or the next input. */
static int blame(const batch *b)
{
    return b->cur_idx >= 0    ? b->cur_idx
           : b->cur_open >= 0 ? b->cur_open
                              : b->todo_lo;
}

/* Run the batch in worker processes, replacing each one that dies or
 * hangs, until every input is done or the batch is interrupted. */
static void supervise(batch *b)
{
    int n = b->ins->n;
    b->todo = calloc((size_t)n + 1, 1);
    if (!b->todo) {
        fprintf(stderr, "vldoc: out of memory\n");
        b->failed++;
        return;
    }
    for (int i = 0; i < n && !interrupted; i++) {
        doc_job *d = plan_input(b, i);
        if (d)
            b->todo[i] = 1;
        doc_free(d);
    }
    char why[256], death[128], who[64];
    int who_of = -2; /* the input WHO names: its file's first bytes are
                        read again only when the blame moves */
    while (!interrupted) {
        while (b->todo_lo < n && !b->todo[b->todo_lo])
            b->todo_lo++;
        if (b->w.pid <= 0) {
            if (b->todo_lo >= n || b->w.done)
                break;
            b->cur_open = b->cur_idx = -1;
            if (!cli_worker_start(&b->w, worker_main, b)) {
                b->failed++;
                break;
            }
        }
        int culprit = blame(b);
        if (culprit != who_of) {
            who_of = culprit;
            snprintf(who, sizeof who, "the %s decoder or the engine",
                     who_of < n ? cli_decoder_name(b->ins->paths[who_of])
                                : "input");
        }
        if (cli_worker_too_big(&b->w, &b->j->iso, who, why, sizeof why)) {
            worker_lost(b, VD_ERR_LIMIT, why);
            continue;
        }
        cli_ev ev;
        int r = cli_worker_next(&b->w, 0.25, &ev);
        if (r == CLI_WN_EVENT) {
            worker_event(b, &ev);
            continue;
        }
        if (interrupted)
            break;
        if (r == CLI_WN_ENDED) {
            if (b->w.done)
                continue;
            cli_death(b->w.status, death, sizeof death);
            snprintf(why, sizeof why, "%s %s", who, death);
            worker_lost(b, VD_ERR_FORMAT, why);
        } else if (cli_worker_stalled(&b->w, &b->j->iso, who, why,
                                      sizeof why)) {
            worker_lost(b, VD_ERR_TIMEOUT, why);
        }
    }
    if (b->w.pid > 0)
        cli_worker_stop(&b->w, SIGTERM, 2.0);
    cli_worker_free(&b->w);
    /* interrupted (or a worker that ended early): whatever is not whole
     * is not written */
    while (b->active) {
        doc_job *d = b->active;
        b->active = d->next_active;
        if (!interrupted) {
            b->failed++;
            manifest(b, d, d->idx, CLI_M_ERROR, "the worker ended early");
        }
        doc_free(d);
    }
    if (!interrupted)
        for (int i = b->todo_lo; i < n; i++)
            if (b->todo[i]) {
                fprintf(stderr, "vldoc: %s: not converted\n", b->ins->paths[i]);
                input_failed(b, i, NULL, "not converted");
            }
    while (b->waiting) {
        doc_job *d = b->waiting;
        b->waiting = d->next_done;
        if (!interrupted)
            b->failed++;
        doc_free(d);
    }
    free(b->todo);
    b->todo = NULL;
}

/* The batch in this process (--no-isolate). */
static void run_here(batch *bp)
{
    batch b = *bp; /* (a copy; written back at the end) */
    vd_ctx *ctx = b.ctx;
    doc_job *cur = NULL; /* the document whose pages are being submitted */
    while (!interrupted) {
        while (!interrupted) {
            if (!cur && !(cur = open_next(&b)))
                break;
            if (vd_engine_pending(b.eng) >= cur->jobs)
                break;
            int page = cur->pages[cur->next++];
            vd_ctx_clear(ctx);
            if (vd_engine_submit(ctx, b.eng, cur->in, page, cur) != VD_OK) {
                cli_error(vd_ctx_status(ctx), vd_ctx_errmsg(ctx));
                interrupted = 1; /* out of memory: stop cleanly */
                break;
            }
            if (cur->next == cur->npages)
                cur = NULL;
        }
        if (!vd_engine_pending(b.eng))
            break;
        vd_page_result *r = NULL;
        vd_engine_next(ctx, b.eng, -1, &r);
        if (r && interrupted)
            drop(r, cur);
        else if (r)
            page_back(&b, r);
    }
    if (interrupted) {
        /* collect what is in flight (cancelled) and write nothing more:
         * a document is either whole and committed, or absent */
        vd_ctx_cancel(ctx);
        vd_page_result *r;
        while (vd_engine_pending(b.eng)) {
            vd_engine_next(ctx, b.eng, -1, &r);
            if (!r)
                break;
            drop(r, cur);
        }
        if (cur && cur->ndone == cur->next)
            doc_free(cur);
        while (b.waiting) {
            doc_job *d = b.waiting;
            b.waiting = d->next_done;
            doc_free(d);
        }
    }
    *bp = b;
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

    batch b;
    memset(&b, 0, sizeof b);
    b.j = j;
    b.ins = ins;
    b.ctx = ctx;
    b.ext = vd_writer_ext(j->format);
    if (j->manifest &&
        !(b.man = cli_manifest_open(j->manifest, j->skip_existing))) {
        vd_ctx_free(ctx);
        return CLI_FAILED;
    }
    int mine = ins->n;
    if (j->shard_n) {
        mine = 0;
        for (int i = 0; i < ins->n; i++)
            mine += cli_shard_of(ins->rel[i], j->shard_n) == j->shard_i;
    }
    b.prog = cli_progress_new(mine, j->quiet);
    if (!j->eng_opts.on_token)
        j->eng_opts.on_token = on_token;
    vd_status st = vd_engine_open(ctx, &j->eng_opts, &b.eng);
    if (st) {
        cli_error(st, vd_ctx_errmsg(ctx));
        cli_progress_free(b.prog);
        cli_manifest_close(b.man);
        vd_ctx_free(ctx);
        return CLI_FAILED;
    }
    if (!j->output) {
        b.stdout_done = calloc((size_t)ins->n + 1, 1);
        if (!b.stdout_done) {
            fprintf(stderr, "vldoc: out of memory\n");
            b.failed++;
            interrupted = 1;
        }
    }

    if (!j->iso.off && !interrupted)
        supervise(&b);
    else
        run_here(&b);
    cli_progress_free(b.prog);
    if (!j->quiet && mine > 1 && b.failed)
        fprintf(stderr, "vldoc: %d of %d inputs had errors\n", b.failed, mine);
    sig_ctx = NULL;
    vd_engine_free(b.eng);
    cli_manifest_close(b.man);
    free(b.stdout_done);
    vd_ctx_free(ctx);
    if (interrupted)
        return CLI_INTERRUPTED;
    return b.failed ? CLI_FAILED : CLI_OK;
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
    cli_isolation_init(&j.iso);
    vd_input_opts_init(&j.in_opts);
    vd_engine_opts_init(&j.eng_opts);
    vd_write_opts_init(&j.wr_opts);
    long threads = 0;
    const char *inputs_from = NULL;
    char err[160];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:p:i:e:m:t:qvhV", long_opts,
                            NULL)) != -1) {
        long lv;
        double dv;
        int iso = cli_isolation_opt(&j.iso, c, optarg);
        if (iso < 0)
            return CLI_USAGE;
        if (iso > 0)
            continue;
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
        case OPT_INPUTS_FROM:
            inputs_from = optarg;
            break;
        case OPT_SHARD:
            if (!cli_shard_parse(optarg, &j.shard_i, &j.shard_n)) {
                cli_usage_error("--shard needs I/N with 0 <= I < N, e.g. "
                                "0/4, not '%s'",
                                optarg);
                return CLI_USAGE;
            }
            break;
        case OPT_MANIFEST:
            j.manifest = optarg;
            break;
        case OPT_API_KEY_ENV:
            if (!optarg[0] || strchr(optarg, '=')) {
                cli_usage_error("--api-key-env takes the name of an "
                                "environment variable, not the key");
                return CLI_USAGE;
            }
            j.eng_opts.api_key_env = optarg;
            break;
        case OPT_REQUEST_TIMEOUT:
            if (!cli_double("--request-timeout", optarg, 0.001, 1e6, &dv))
                return CLI_USAGE;
            j.eng_opts.request_timeout = dv;
            break;
        case OPT_RETRIES:
            if (!cli_int("--retries", optarg, 0, 100, &lv))
                return CLI_USAGE;
            j.eng_opts.retries = (int)lv;
            break;
        case OPT_RETRY_WAIT:
            if (!cli_double("--retry-wait", optarg, 0.001, 3600, &dv))
                return CLI_USAGE;
            j.eng_opts.retry_wait = dv;
            break;
        case OPT_STREAM:
            j.eng_opts.stream = 1;
            break;
        case OPT_IMAGE_FORMAT:
            if (strcmp(optarg, "auto") == 0)
                j.eng_opts.image_format = 0;
            else if (strcmp(optarg, "png") == 0)
                j.eng_opts.image_format = 1;
            else if (strcmp(optarg, "jpeg") == 0 || strcmp(optarg, "jpg") == 0)
                j.eng_opts.image_format = 2;
            else {
                cli_usage_error("--image-format takes auto, png or jpeg");
                return CLI_USAGE;
            }
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
    if (optind >= argc && !inputs_from) {
        cli_usage_error("no input given");
        return CLI_USAGE;
    }
    cli_inputs ins;
    memset(&ins, 0, sizeof ins);
    int bad_args = 0;
    for (int i = optind; i < argc; i++)
        if (!cli_inputs_add(&ins, argv[i]))
            bad_args++;
    if (inputs_from && !cli_inputs_from(&ins, inputs_from, &bad_args)) {
        cli_inputs_free(&ins);
        return CLI_FAILED;
    }
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

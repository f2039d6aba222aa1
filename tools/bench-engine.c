/* tools/bench-engine: the local engine's numbers, printed as a table -
 * tokenizer encoding speed on real document text, and for a checkpoint
 * (a random one with the real 3B shapes from gen-checkpoint, say): load
 * time, prefill tokens/s, decode tokens/s and peak RSS. Timings are wall
 * clock; the tokenizer figure is the median of three runs.
 *
 *   bench-engine [--model DIR] [--prefill N] [--decode N] [--threads N]
 *                [--tokenizer FILE] [--text FILE]
 *                [--vision WxH,...] [--page FILE] [--page-tokens N]
 * The vision rows (tower at each size, a whole page end to end) come from
 * tools/bench-vision.c. */
#include "config.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qwen.h"

static const char usage[] =
    "Usage: bench-engine [OPTIONS]\n"
    "  --model DIR       checkpoint to time (load, prefill, decode, RSS)\n"
    "  --prefill N       prompt tokens (default 512)\n"
    "  --decode N        generated tokens (default 128)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --tokenizer FILE  tokenizer.json for the encoding benchmark\n"
    "                    (default: the model's, else the shared refs')\n"
    "  --text FILE       text to encode (default: the shared corpus's\n"
    "                    text files, repeated to 16 MB)\n"
    "  --vision LIST     vision tower on images of these sizes (default\n"
    "                    448x448,1008x1008,1288x1652; 'none' skips)\n"
    "  --page FILE       a whole page end to end: page 1 of FILE rendered\n"
    "                    at the engine's budget, encode, prefill, then\n"
    "                    --page-tokens generated tokens (default 256)\n";

void bench_vision(vd_ctx *ctx, const char *dir, const char *sizes,
                  const char *page_file, int ndec);

/* A table row, flushed at once: rows come minutes apart. */
static void row(const char *fmt, ...) VD_PRINTF(1, 2);
static void row(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static double peak_rss_gb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / (1024.0 * 1024.0); /* KB -> GB */
}

/* Every .md/.txt/.html under DIR (sorted walk), appended to B. */
static void gather(vd_ctx *ctx, const char *dir, vd__buf *b)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, nm);
        if (nm[0] != '.') {
            const char *dot = strrchr(nm, '.');
            if (ents[i]->d_type == DT_DIR)
                gather(ctx, p, b);
            else if (dot && (!strcmp(dot, ".md") || !strcmp(dot, ".txt") ||
                             !strcmp(dot, ".html"))) {
                char *d = NULL;
                size_t l = 0;
                if (vd__file_read(ctx, p, 1 << 26, &d, &l) == VD_OK &&
                    vd__utf8_valid(d, l))
                    vd__buf_append(ctx, b, d, l);
                vd__free(d);
            }
        }
        free(ents[i]);
    }
    free(ents);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_tok(vd_ctx *ctx, const char *tokpath, const char *textf)
{
    vd__qwen_tok *t = NULL;
    double t0 = vd__now();
    if (vd__qwen_tok_load(ctx, tokpath, &t) != VD_OK) {
        fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
        return;
    }
    double tload = vd__now() - t0;
    vd__buf text;
    vd__buf_init(&text, 0);
    const char *src = textf;
    if (textf) {
        char *d = NULL;
        size_t l = 0;
        if (vd__file_read(ctx, textf, (size_t)1 << 32, &d, &l) == VD_OK)
            vd__buf_append(ctx, &text, d, l);
        vd__free(d);
    } else {
        const char *sh = getenv("VLDOC_SHARED");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/corpus", sh ? sh : "../shared");
        vd__buf one;
        vd__buf_init(&one, 0);
        gather(ctx, dir, &one);
        while (one.len && text.len < ((size_t)16 << 20))
            vd__buf_append(ctx, &text, one.data, one.len);
        vd__buf_free(&one);
        src = "shared corpus text, repeated";
    }
    if (!text.len) {
        fprintf(stderr, "bench-engine: no text to encode\n");
        vd__qwen_tok_free(t);
        return;
    }
    double runs[3];
    int64_t ntok = 0;
    for (int r = 0; r < 3; r++) {
        vd__ivec ids = { 0 };
        t0 = vd__now();
        vd__qwen_tok_encode(ctx, t, text.data, text.len, &ids);
        runs[r] = vd__now() - t0;
        ntok = ids.n;
        vd__ivec_free(&ids);
    }
    qsort(runs, 3, sizeof *runs, cmp_d);
    row("| tokenizer load (tokenizer.json) | %.2f s |\n", tload);
    row("| tokenizer encode, %s (%.1f MB, %.2f M tokens) | %.1f MB/s "
        "(median of 3) |\n",
        src, (double)text.len / 1e6, (double)ntok / 1e6,
        (double)text.len / 1e6 / runs[1]);
    vd__buf_free(&text);
    vd__qwen_tok_free(t);
}

static void bench_model(vd_ctx *ctx, const char *dir, int npre, int ndec)
{
    double t0 = vd__now();
    vd__qwen_model *m = NULL;
    if (vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m) != VD_OK) {
        fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
        exit(1);
    }
    double tload = vd__now() - t0;
    const vd__qwen_text_cfg *c = &m->cfg.text;
    row("| model | %s: %.2f B parameters, %.2f GB stored, text %d "
        "layers x %d |\n",
        dir, (double)m->n_params / 1e9, (double)m->weight_bytes / 1e9,
        c->n_layer, c->hidden);
    row("| load (config, mmap, validate every tensor) | %.3f s |\n", tload);
    int V = c->vocab, H = c->hidden;
    vd__qwen_state *st = NULL;
    if (vd__qwen_state_new(ctx, m, npre + ndec + 1, &st) != VD_OK) {
        fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
        exit(1);
    }
    /* a fixed pseudo-random prompt of ordinary token ids */
    int32_t *ids = malloc((size_t)npre * sizeof *ids);
    int32_t *pos = malloc((size_t)npre * 3 * sizeof *pos);
    float *x = vd__aligned_alloc(ctx, (size_t)npre * (size_t)H * 4);
    float *logits = vd__aligned_alloc(ctx, (size_t)V * 4);
    float *e1 = vd__aligned_alloc(ctx, (size_t)H * 4);
    uint64_t r = 12345;
    for (int i = 0; i < npre; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((r >> 33) % 150000);
        pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = i;
    }
    vd__qwen_embed(ctx, m, ids, npre, x);
    t0 = vd__now();
    if (vd__qwen_forward(ctx, st, x, pos, npre, NULL, logits) != VD_OK) {
        fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
        exit(1);
    }
    double tpre = vd__now() - t0;
    row("| prefill %d tokens (first touch of the weights included) | "
        "%.1f s, %.2f tokens/s |\n",
        npre, tpre, npre / tpre);
    double *step = malloc((size_t)(ndec > 0 ? ndec : 1) * sizeof *step);
    t0 = vd__now();
    int done = 0;
    for (int k = 0; k < ndec; k++) {
        double ts = vd__now();
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (logits[i] > logits[best])
                best = i;
        int32_t p = npre + k, p3[3] = { p, p, p };
        if (vd__qwen_embed(ctx, m, &best, 1, e1) != VD_OK ||
            vd__qwen_forward(ctx, st, e1, p3, 1, NULL, logits) != VD_OK) {
            fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
            break;
        }
        step[done++] = vd__now() - ts;
    }
    double tdec = vd__now() - t0;
    if (done) {
        qsort(step, (size_t)done, sizeof *step, cmp_d);
        row("| decode %d tokens after the prompt | %.1f s, %.2f tokens/s "
            "(median step %.3f s) |\n",
            done, tdec, done / tdec, step[done / 2]);
    }
    row("| peak RSS (mapped weights that were read count) | %.2f GB |\n",
        peak_rss_gb());
    free(step);
    free(ids);
    free(pos);
    vd__aligned_free(x);
    vd__aligned_free(logits);
    vd__aligned_free(e1);
    vd__qwen_state_free(st);
    vd__qwen_free(m);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "model", required_argument, NULL, 'm' },
        { "prefill", required_argument, NULL, 'p' },
        { "decode", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' },
        { "tokenizer", required_argument, NULL, 'T' },
        { "text", required_argument, NULL, 'x' },
        { "vision", required_argument, NULL, 'V' },
        { "page", required_argument, NULL, 'P' },
        { "page-tokens", required_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *model = NULL, *tok = NULL, *text = NULL;
    const char *vsizes = "448x448,1008x1008,1288x1652", *page = NULL;
    int npre = 512, ndec = 128, threads = 0, c, page_tokens = 256;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'p':
            npre = atoi(optarg);
            break;
        case 'd':
            ndec = atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'T':
            tok = optarg;
            break;
        case 'x':
            text = optarg;
            break;
        case 'V':
            vsizes = strcmp(optarg, "none") ? optarg : NULL;
            break;
        case 'P':
            page = optarg;
            break;
        case 'N':
            page_tokens = atoi(optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (npre < 1 || ndec < 0 || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    vd_opts o;
    vd_opts_init(&o);
    o.threads = threads;
    vd_ctx *ctx = vd_ctx_new(&o);
    printf("\nvldoc engine benchmark: %d threads, kernel table %s (wall clock; "
           "preliminary on a shared machine)\n\n",
           vd_ctx_opts(ctx)->threads, vd__isa_name(vd__isa_active()));
    row("| what | figure |\n|---|---|\n");
    char tp[4096];
    if (!tok) {
        const char *sh = getenv("VLDOC_SHARED");
        snprintf(tp, sizeof tp, "%s/tokenizer.json", model ? model : "");
        if (!model || access(tp, R_OK) != 0)
            snprintf(tp, sizeof tp, "%s/refs/tokenizer/tokenizer.json",
                     sh ? sh : "../shared");
        tok = tp;
    }
    bench_tok(ctx, tok, text);
    fflush(stdout);
    /* the vision rows first, in a child process: each side's peak RSS is
     * then its own (no thread pool exists yet to upset fork) */
    if (model && (vsizes || page)) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            bench_vision(ctx, model, vsizes, page, page_tokens);
            fflush(stdout);
            _exit(0);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    if (model)
        bench_model(ctx, model, npre, ndec);
    vd_ctx_free(ctx);
    return 0;
}

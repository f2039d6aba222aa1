/* tools/bench-engine: the local engine's numbers as the tables of issue 7
 * - the machine's own peaks (fp32 FMA, bf16 and int8 dot products, memory
 * read bandwidth, all measured here), then for a checkpoint (the random
 * one with the real 3B shapes from gen-checkpoint, say): vision encoder
 * seconds per image size and precision, prefill tokens/s, decode
 * tokens/s, the first token of an A4 page, the whole page (256 tokens
 * generated) and peak RSS for each weight format and precision, with achieved
 * GFLOP/s or GB/s, their fraction of the measured peak and llama.cpp's figures
 * from the issue alongside; and the tokenizer's encoding speed. Medians of
 * --runs; wall clock. Each configuration runs in its own child process so its
 * load time and peak RSS are its own.
 *
 *   bench-engine [--model DIR] [--threads N] [--runs N] [--configs LIST]
 *                [--vision WxH,...|none] [--prefill N,...] [--decode N]
 *                [--page-size WxH|none] [--page FILE] [--page-decode N]
 *                [--kv f32|bf16] [--quant-dir DIR] [--quick]
 *                [--tokenizer FILE] [--text FILE] */
#include "config.h"

#include <dirent.h>
#include <getopt.h>
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-engine.h"
#include "bench-loops.h"

static const char usage[] =
    "Usage: bench-engine [OPTIONS]\n"
    "  --model DIR       checkpoint to time (without: machine peaks and\n"
    "                    the tokenizer only)\n"
    "  --threads N       worker threads (default: all cores)\n"
    "  --runs N          runs per figure, median printed (default 3)\n"
    "  --configs LIST    weights:precision pairs for the text rows and the\n"
    "                    page (default bf16:exact,bf16:bf16,q8:int8,"
    "q4:int8)\n"
    "  --vision LIST     vision tower sizes (default\n"
    "                    448x448,1008x1008,1288x1652; 'none' skips)\n"
    "  --prefill LIST    prompt lengths (default 512,2048)\n"
    "  --decode N        generated tokens after the first prompt (128)\n"
    "  --page-size WxH   the A4 page image (default 1288x1652: 2714\n"
    "                    tokens; 'none' skips)\n"
    "  --page FILE       page 1 of FILE rendered at the engine's budget\n"
    "                    instead of the synthetic page\n"
    "  --page-decode N   tokens generated after the page's prompt, for\n"
    "                    the whole page end to end (default 256)\n"
    "  --kv f32|bf16     KV cache type (default f32)\n"
    "  --quant-dir DIR   keep the q8 / q4 checkpoints there (made on\n"
    "                    first use with the load-time quantization timed,\n"
    "                    then mapped); default: quantize at every load\n"
    "  --quick           one run, 448x448 and 1008x1008 only\n"
    "  --tokenizer FILE  tokenizer.json for the encoding row\n"
    "  --text FILE       text to encode (default: the shared corpus)\n";

/* llama.cpp on this machine (issue 7), for the side-by-side columns:
 * vision by image side, prefill by format (F16, Q8_0, Q4_K_M) at 512 and
 * 2048 tokens, decode, first token of the A4 page (Q4_K_M). */
static const double llama_vis_448 = 5.4, llama_vis_page = 85;
static const double llama_pre[3][2] = { { 65, 60 }, { 48, 46 }, { 65, 59 } };
static const double llama_dec[3] = { 6.7, 11.9, 20.5 };
static const double llama_page = 131;

static void row(const char *fmt, ...) VD_PRINTF(1, 2);
static void row(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- the machine's peaks: independent multiply-add chains in
 * registers, and a read of a buffer far larger than the caches ---- */

typedef struct peak_arg {
    int kind; /* 0 fp32 FMA, 1 bf16 dot, 2 int8 dot */
    long it;
    const float *buf; /* bandwidth: the buffer, N floats */
    size_t n;
    volatile float sink;
    atomic_long next; /* bandwidth: next 4 MiB chunk */
} peak_arg;

static void peak_run(void *arg, int ith, int nth)
{
    peak_arg *p = arg;
    float r;
    if (p->buf) {
        /* chunks handed out as they are done, as the GEMVs do: with a
         * fixed split a worker that loses its core to another job held
         * the figure to half (29-77 GB/s from run to run on a shared
         * machine) */
        (void)nth;
        size_t ch = (size_t)1 << 20;
        r = 0;
        for (;;) {
            size_t c = (size_t)atomic_fetch_add(&p->next, 1);
            if (c * ch >= p->n)
                break;
            size_t m = p->n - c * ch < ch ? p->n - c * ch : ch;
            r += bench_sum256(p->buf + c * ch, m);
        }
    } else if (p->kind == 1) {
        r = bench_bf16(p->it);
    } else if (p->kind == 2) {
        r = bench_int8(p->it);
    } else if (vd__isa_active() >= VD_ISA_AVX512) {
        r = bench_fma512(p->it);
    } else {
        r = bench_fma256(p->it);
    }
    if (ith == 0)
        p->sink = r;
}

static double timed(vd__pool *pool, peak_arg *a)
{
    double t[5];
    atomic_store(&a->next, 0);
    vd__pool_run(pool, peak_run, a); /* warm up, clocks up */
    for (int i = 0; i < 5; i++) {
        atomic_store(&a->next, 0);
        double t0 = vd__now();
        vd__pool_run(pool, peak_run, a);
        t[i] = vd__now() - t0;
    }
    return b_median(t, 5);
}

/* A zeroed buffer of BYTES for read_bw (NULL when it cannot be had or
 * read with the loop's instructions). */
static float *bw_buf(vd_ctx *ctx, size_t bytes)
{
    if (vd__isa_active() < VD_ISA_AVX2)
        return NULL;
    float *buf = vd__aligned_alloc(ctx, bytes);
    if (buf)
        memset(buf, 0, bytes);
    return buf;
}

/* Read bandwidth over BUF's BYTES (0 without a buffer). */
static double read_bw(vd_ctx *ctx, const float *buf, size_t bytes)
{
    if (!buf)
        return 0;
    peak_arg b = { 0, 0, buf, bytes / sizeof *buf, 0, 0 };
    return (double)bytes / timed(vd__ctx_pool(ctx), &b);
}

static void machine(vd_ctx *ctx, b_machine *mc)
{
    vd__pool *pool = vd__ctx_pool(ctx);
    int nth = vd__pool_size(pool);
    vd__isa isa = vd__isa_active();
    long it = 3000000;
    peak_arg a = { 0, it, NULL, 0, 0, 0 };
    double lanes = isa >= VD_ISA_AVX512 ? 16 : 8;
    if (isa >= VD_ISA_AVX2)
        mc->fma = 2 * lanes * BENCH_CHAINS * (double)it * nth / timed(pool, &a);
    if (isa >= VD_ISA_AVX512BF16) {
        a.kind = 1; /* 32 pairs: 64 FLOP per lane group */
        mc->bf16 = 64.0 * BENCH_CHAINS * (double)it * nth / timed(pool, &a);
        a.kind = 2; /* 64 byte products, 128 OP */
        mc->int8 = 128.0 * BENCH_CHAINS * (double)it * nth / timed(pool, &a);
    }
    float *buf = bw_buf(ctx, (size_t)1 << 30);
    mc->bw = read_bw(ctx, buf, (size_t)1 << 30);
    vd__aligned_free(buf);
}

/* ---- tokenizer ---- */

/* Every .md/.txt/.html under DIR (sorted walk), appended to B. */
static void gather(vd_ctx *ctx, const char *dir, vd__buf *b)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0)
        return; /* no such folder: nothing to encode, said by the caller */
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

static void bench_tok(vd_ctx *ctx, const char *tokpath, const char *textf)
{
    vd__qwen_tok *t = NULL;
    if (vd__qwen_tok_load(ctx, tokpath, &t) != VD_OK) {
        fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
        return;
    }
    vd__buf text;
    vd__buf_init(&text, 0);
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
    }
    if (text.len) {
        double runs[3];
        int64_t ntok = 0;
        for (int r = 0; r < 3; r++) {
            vd__ivec ids = { 0 };
            double t0 = vd__now();
            vd__qwen_tok_encode(ctx, t, text.data, text.len, &ids);
            runs[r] = vd__now() - t0;
            ntok = ids.n;
            vd__ivec_free(&ids);
        }
        row("| tokenizer encode (%.1f MB, %.2f M tokens) | %.1f MB/s |\n",
            (double)text.len / 1e6, (double)ntok / 1e6,
            (double)text.len / 1e6 / b_median(runs, 3));
    }
    vd__buf_free(&text);
    vd__qwen_tok_free(t);
}

/* ---- text rows ---- */

/* FLOPs of a forward of N tokens after P0 cached ones (the lm_head for
 * the last token only, as prefill does). */
static double text_flops(const vd__qwen_text_cfg *c, int64_t n, int64_t p0)
{
    double H = c->hidden, I = c->intermediate, hd = c->head_dim;
    double Q = c->n_head * hd, KV = c->n_kv_head * hd;
    double per_tok = 2 * H * (Q + 2 * KV) + 2 * Q * H + 6 * H * I;
    /* token i attends to p0 + i + 1 keys: 4 * keys * hd per head */
    double keys = (double)n * (double)p0 + (double)n * (double)(n + 1) / 2;
    return c->n_layer * (per_tok * (double)n + 4 * keys * Q) + 2 * H * c->vocab;
}

/* Bytes a decoded token reads: every text matrix and the lm_head. */
static double text_bytes(const vd__qwen_model *m)
{
    double b = 0;
    const vd__qwen_text_cfg *c = &m->cfg.text;
    for (int l = 0; l < c->n_layer; l++) {
        const vd__qwen_layer *L = &m->text.layers[l];
        const vd__mat *w[7] = { &L->q,    &L->k,  &L->v,   &L->o,
                                &L->gate, &L->up, &L->down };
        for (int i = 0; i < 7; i++)
            b +=
                (double)(vd__mat_data_bytes(w[i]->dt, w[i]->rows, w[i]->cols) +
                         vd__mat_scale_bytes(w[i]->dt, w[i]->rows, w[i]->cols));
    }
    const vd__mat *h = &m->text.lm_head;
    return b + (double)(vd__mat_data_bytes(h->dt, h->rows, h->cols) +
                        vd__mat_scale_bytes(h->dt, h->rows, h->cols));
}

vd_status b_decode(vd_ctx *ctx, const vd__qwen_model *m, vd__qwen_state *s,
                   int64_t pos, int n, float *logits, float *e1)
{
    int V = m->cfg.text.vocab;
    vd_status st = VD_OK;
    for (int d = 0; st == VD_OK && d < n; d++) {
        int32_t best = 0, p = (int32_t)(pos + d);
        for (int32_t i = 1; i < V; i++)
            if (logits[i] > logits[best])
                best = i;
        int32_t p3[3] = { p, p, p };
        st = vd__qwen_embed(ctx, m, &best, 1, e1);
        if (st == VD_OK)
            st = vd__qwen_forward(ctx, s, e1, p3, 1, NULL, logits);
    }
    return st;
}

/* The logits of configuration CI after the first prompt against the exact
 * bf16 configuration's (kept when CI is that one). */
static void accuracy(const float *lg, int V, const b_config *c, int ci,
                     b_results *r)
{
    if (V > B_MAX_VOCAB)
        return;
    if (c->weights == VD_WEIGHTS_AS_STORED && c->prec == VD_PREC_EXACT) {
        memcpy(r->ref_logits, lg, (size_t)V * sizeof *lg);
        r->have_ref = 1;
        return;
    }
    if (!r->have_ref)
        return;
    const float *ref = r->ref_logits;
    double md = 0, sd = 0, sr = 0;
    int ag = 0, ar = 0;
    for (int i = 0; i < V; i++) {
        double d = (double)lg[i] - ref[i];
        md = fabs(d) > md ? fabs(d) : md;
        sd += d * d;
        sr += (double)ref[i] * ref[i];
        ag = lg[i] > lg[ag] ? i : ag;
        ar = ref[i] > ref[ar] ? i : ar;
    }
    /* how many of the reference's 10 best are among ours */
    int top[2][10];
    for (int w = 0; w < 2; w++) {
        const float *x = w ? lg : ref;
        for (int k = 0; k < 10; k++) {
            int best = -1;
            for (int i = 0; i < V; i++) {
                bool taken = false;
                for (int j = 0; j < k && !taken; j++)
                    taken = top[w][j] == i;
                if (!taken && (best < 0 || x[i] > x[best]))
                    best = i;
            }
            top[w][k] = best;
        }
    }
    int common = 0;
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++)
            common += top[0][a] == top[1][b];
    r->acc_max[ci] = md;
    r->acc_rms[ci] = sr > 0 ? sqrt(sd / sr) : 0;
    r->acc_argmax[ci] = ag == ar;
    r->acc_top10[ci] = common;
}

/* The read around each decode run: far larger than the caches, allocated
 * once for all runs. */
#define BW_BYTES ((size_t)512 << 20)

static void text_rows(vd_ctx *ctx, const vd__qwen_model *m, vd__qwen_state *s,
                      const b_opts *o, const b_config *c, int ci, b_results *r)
{
    int V = m->cfg.text.vocab, H = m->cfg.text.hidden, maxn = 0;
    for (int i = 0; i < o->nprefill; i++)
        maxn = o->prefill[i] > maxn ? o->prefill[i] : maxn;
    int32_t *ids = malloc((size_t)maxn * sizeof *ids);
    int32_t *pos = malloc((size_t)maxn * 3 * sizeof *pos);
    float *x = vd__aligned_alloc(ctx, (size_t)maxn * (size_t)H * 4);
    float *logits = vd__aligned_alloc(ctx, (size_t)V * 4);
    float *e1 = vd__aligned_alloc(ctx, (size_t)H * 4);
    float *bwb = o->decode ? bw_buf(ctx, BW_BYTES) : NULL;
    if (!ids || !pos || !x || !logits || !e1)
        goto done;
    /* a fixed pseudo-random prompt of ordinary token ids */
    uint64_t rs = 12345;
    for (int i = 0; i < maxn; i++) {
        rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((rs >> 33) % 150000);
        pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = i;
    }
    vd__qwen_embed(ctx, m, ids, maxn, x);
    /* a few tokens first: every text weight is read once (page faults of
     * the mapping, quantized copies paged in), so no figure pays for it */
    vd__qwen_state_reset(s);
    vd__qwen_forward(ctx, s, x, pos, maxn < 8 ? maxn : 8, NULL, logits);
    for (int pi = 0; pi < o->nprefill; pi++) {
        int n = o->prefill[pi];
        double tp[16], td[16], bw[32];
        int k = 0;
        for (; k < o->runs && k < 16; k++) {
            vd__qwen_state_reset(s);
            double t0 = vd__now();
            if (vd__qwen_forward(ctx, s, x, pos, n, NULL, logits) != VD_OK)
                break;
            tp[k] = vd__now() - t0;
            if (pi == 0 && k == 0)
                accuracy(logits, V, c, ci, r);
            if (pi != 0 || !o->decode)
                continue;
            /* decoding after the first prompt; this machine's bandwidth
             * moves with its neighbours from minute to minute, so the
             * decode's share is taken against reads just before and just
             * after it */
            bw[2 * k] = read_bw(ctx, bwb, BW_BYTES);
            t0 = vd__now();
            td[k] = b_decode(ctx, m, s, n, o->decode, logits, e1) == VD_OK
                        ? vd__now() - t0
                        : -1;
            bw[2 * k + 1] = read_bw(ctx, bwb, BW_BYTES);
        }
        if (k < o->runs && k < 16) {
            fprintf(stderr, "bench-engine: prefill %d: %s\n", n,
                    vd_ctx_errmsg(ctx));
            r->pre_s[ci][pi] = -1;
            continue;
        }
        r->pre_s[ci][pi] = b_median(tp, k);
        r->pre_gflop[pi] = text_flops(&m->cfg.text, n, 0) / 1e9;
        fprintf(stderr, "# prefill %d: %.2f s, %.1f tokens/s\n", n,
                r->pre_s[ci][pi], n / r->pre_s[ci][pi]);
        if (pi == 0 && o->decode) {
            r->dec_s[ci] = b_median(td, k);
            r->dec_bw[ci] = b_median(bw, 2 * k);
            fprintf(stderr,
                    "# decode %d: %.2f s, %.2f tokens/s; memory read %.1f "
                    "GB/s around it\n",
                    o->decode, r->dec_s[ci], o->decode / r->dec_s[ci],
                    r->dec_bw[ci] / 1e9);
        }
    }
    r->text_gb[ci] = text_bytes(m) / 1e9;
done:
    vd__qwen_state_release(s);
    free(ids);
    free(pos);
    vd__aligned_free(x);
    vd__aligned_free(logits);
    vd__aligned_free(e1);
    vd__aligned_free(bwb);
}

/* One configuration in this (child) process: load with its weights, the
 * text rows, the A4 page. */
static void run_config(vd_ctx *ctx, const b_opts *o, const b_config *c, int ci,
                       b_results *r)
{
    unsigned lf = c->weights == VD_WEIGHTS_Q8   ? VD_QWEN_LOAD_Q8
                  : c->weights == VD_WEIGHTS_Q4 ? VD_QWEN_LOAD_Q4
                                                : 0;
    vd__qwen_model *m = NULL;
    vd__qwen_state *s = NULL;
    const char *dir = o->model;
    char qdir[4096];
    if (lf && o->quant_dir) {
        /* the quantized folder is made once and then mapped like any
         * checkpoint: the load-time quantization is timed when it is */
        const char *base = strrchr(o->model, '/');
        base = base && base[1] ? base + 1 : o->model;
        snprintf(qdir, sizeof qdir, "%s/%s-%s", o->quant_dir, base,
                 lf == VD_QWEN_LOAD_Q8 ? "q8" : "q4");
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/model.safetensors", qdir);
        if (access(probe, R_OK) != 0) {
            double tq = vd__now();
            vd_status st = vd__qwen_load(ctx, o->model,
                                         lf | VD_QWEN_LOAD_NO_TOKENIZER, &m);
            r->quant_s[ci] = vd__now() - tq;
            if (st == VD_OK)
                st = vd__qwen_save(ctx, m, qdir);
            vd__qwen_free(m);
            m = NULL;
            if (st) {
                fprintf(stderr, "bench-engine: %s: %s\n", c->name,
                        vd_ctx_errmsg(ctx));
                r->load_s[ci] = -1;
                return;
            }
            fprintf(stderr, "# %s: quantized at load in %.1f s, saved to %s\n",
                    c->name, r->quant_s[ci], qdir);
        }
        dir = qdir;
        lf = 0;
    }
    double t0 = vd__now();
    if (vd__qwen_load(ctx, dir, lf, &m) != VD_OK ||
        vd__qwen_state_new(ctx, m, VD_QWEN_MAX_INPUT + VD_QWEN_MAX_OUTPUT,
                           &s) != VD_OK ||
        (o->kv_bf16 && vd__qwen_state_set_kv(ctx, s, VD_DT_BF16) != VD_OK)) {
        fprintf(stderr, "bench-engine: %s: %s\n", c->name, vd_ctx_errmsg(ctx));
        r->load_s[ci] = -1;
        goto done;
    }
    r->load_s[ci] = vd__now() - t0;
    if (lf)
        r->quant_s[ci] = r->load_s[ci];
    r->weight_gb[ci] = (double)m->weight_bytes / 1e9;
    fprintf(stderr, "# %s: loaded in %.1f s, %.2f GB of weights\n", c->name,
            r->load_s[ci], r->weight_gb[ci]);
    vd__qwen_state_set_precision(s, c->prec);
    text_rows(ctx, m, s, o, c, ci, r);
    if (o->page_w || o->page_file)
        b_page(ctx, m, s, o, c, ci, r);
    r->rss[ci] = b_rss_gb();
done:
    vd__qwen_state_free(s);
    vd__qwen_free(m);
}

/* ---- tables ---- */

static const char *prec_name(vd_precision p)
{
    return p == VD_PREC_BF16 ? "bf16" : p == VD_PREC_INT8 ? "int8" : "exact";
}

/* Peak FLOP/s of the instructions a precision uses. */
static double peak_for(const b_machine *mc, vd_precision p)
{
    if (p == VD_PREC_INT8 && mc->int8 > 0)
        return mc->int8;
    if (p != VD_PREC_EXACT && mc->bf16 > 0)
        return mc->bf16;
    return mc->fma;
}

static void fig(char *buf, size_t n, double s, double work, double peak,
                const char *unit)
{
    if (s < 0)
        snprintf(buf, n, "failed");
    else if (s == 0)
        snprintf(buf, n, "-");
    else if (peak > 0)
        snprintf(buf, n, "%.0f%s%s (%.0f%%)", work / s, *unit ? " " : "", unit,
                 100 * work * 1e9 / s / peak);
    else
        snprintf(buf, n, "%.0f%s%s", work / s, *unit ? " " : "", unit);
}

static void print_tables(const b_opts *o, const b_machine *mc,
                         const b_config *cf, int nc, const b_results *r)
{
    char a[64], b[64], c[64], d[64];
    if (o->nsizes) {
        row("\n### Vision encoder (weights bf16 in every format; median of "
            "%d)\n\n",
            o->runs);
        row("| image | patches / tokens | TFLOP | exact: s | exact: GFLOP/s "
            "(of fp32 peak) | bf16: s | bf16: GFLOP/s (of bf16 peak) | "
            "llama.cpp |\n|---|---|---|---|---|---|---|---|\n");
        for (int i = 0; i < o->nsizes; i++) {
            int w = o->sizes[i][0], h = o->sizes[i][1];
            fig(a, sizeof a, r->vis_s[i][0], r->vis_gflop[i], mc->fma,
                "GFLOP/s");
            fig(b, sizeof b, r->vis_s[i][1], r->vis_gflop[i], mc->bf16,
                "GFLOP/s");
            double ll = w == 448 && h == 448     ? llama_vis_448
                        : w == 1288 && h == 1652 ? llama_vis_page
                                                 : 0;
            if (ll > 0)
                snprintf(c, sizeof c, "%.1f s", ll);
            else
                snprintf(c, sizeof c, "-");
            row("| %dx%d | %d / %d | %.2f | %.2f | %s | %.2f | %s | %s |\n", w,
                h, r->vis_patches[i], r->vis_tokens[i], r->vis_gflop[i] / 1e3,
                r->vis_s[i][0], a, r->vis_s[i][1], b, c);
        }
    }
    if (!nc)
        return;
    row("\n### Text decoder (median of %d; prefill from an empty cache, "
        "decode after the %d-token prompt, KV cache %s)\n\n",
        o->runs, o->prefill[0], o->kv_bf16 ? "bf16" : "f32");
    row("| weights / precision | weights GB | load s (quantize s) |");
    for (int p = 0; p < o->nprefill; p++)
        row(" prefill %d: tok/s | GFLOP/s (of peak) | llama.cpp |",
            o->prefill[p]);
    row(" decode %d: tok/s | GB/s (of the read GB/s around it) | bound "
        "tok/s | llama.cpp "
        "|\n|---|---|---|",
        o->decode);
    for (int p = 0; p < o->nprefill; p++)
        row("---|---|---|");
    row("---|---|---|---|\n");
    for (int i = 0; i < nc; i++) {
        int fmt = cf[i].weights == VD_WEIGHTS_Q8   ? 1
                  : cf[i].weights == VD_WEIGHTS_Q4 ? 2
                                                   : 0;
        if (r->quant_s[i] > 0)
            snprintf(a, sizeof a, " (%.1f)", r->quant_s[i]);
        else
            a[0] = '\0';
        row("| %s | %.2f | %.1f%s |", cf[i].name, r->weight_gb[i], r->load_s[i],
            a);
        for (int p = 0; p < o->nprefill; p++) {
            double s = r->pre_s[i][p];
            fig(a, sizeof a, s, r->pre_gflop[p], peak_for(mc, cf[i].prec), "");
            double ll = o->prefill[p] == 512    ? llama_pre[fmt][0]
                        : o->prefill[p] == 2048 ? llama_pre[fmt][1]
                                                : 0;
            snprintf(b, sizeof b, ll > 0 ? "%.0f" : "-", ll);
            if (s > 0)
                row(" %.1f | %s | %s |", o->prefill[p] / s, a, b);
            else
                row(" %s | | %s |", s < 0 ? "failed" : "-", b);
        }
        double ds = r->dec_s[i], bwi = r->dec_bw[i] > 0 ? r->dec_bw[i] : mc->bw;
        if (ds > 0) {
            double gbs = o->decode * r->text_gb[i] / ds;
            snprintf(a, sizeof a, "%.1f (%.0f%% of %.1f)", gbs,
                     bwi > 0 ? 100 * gbs * 1e9 / bwi : 0, bwi / 1e9);
            snprintf(b, sizeof b, "%.1f",
                     bwi > 0 ? bwi / 1e9 / r->text_gb[i] : 0);
            snprintf(d, sizeof d, "%.2f", o->decode / ds);
        } else {
            snprintf(a, sizeof a, "-");
            snprintf(b, sizeof b, "-");
            snprintf(d, sizeof d, ds < 0 ? "failed" : "-");
        }
        row(" %s | %s | %s | %.1f |\n", d, a, b, llama_dec[fmt]);
    }
    if (r->have_ref) {
        row("\n### Logits after the %d-token prompt against bf16 / exact "
            "(random weights: the numeric error of each mode, not a "
            "model's quality)\n\n",
            o->prefill[0]);
        row("| weights / precision | max abs error | RMS error / RMS | "
            "argmax kept | top-10 kept |\n|---|---|---|---|---|\n");
        for (int i = 0; i < nc; i++)
            if (cf[i].weights != VD_WEIGHTS_AS_STORED ||
                cf[i].prec != VD_PREC_EXACT)
                row("| %s | %.3g | %.2g | %s | %d/10 |\n", cf[i].name,
                    r->acc_max[i], r->acc_rms[i],
                    r->acc_argmax[i] ? "yes" : "no", r->acc_top10[i]);
    }
    if (!o->page_w && !o->page_file)
        return;
    char pg[96];
    snprintf(pg, sizeof pg, "synthetic %dx%d", o->page_w, o->page_h);
    row("\n### The A4 page (%s): first token (encode + prefill of its %d "
        "tokens; median of %d), then %d tokens generated (first run): the "
        "whole page end to end\n\n",
        o->page_file ? o->page_file : pg, r->page_tokens, o->runs,
        o->page_decode);
    row("| weights / precision | encode s | prefill s | first token s | "
        "decode %d tokens s (tok/s) | whole page s | peak RSS GB | RSS "
        "above weights GB | whole run peak RSS GB | llama.cpp first token "
        "(Q4_K_M) |\n|---|---|---|---|---|---|---|---|---|---|\n",
        o->page_decode);
    for (int i = 0; i < nc; i++) {
        if (r->page_enc_s[i] <= 0) {
            row("| %s | %s | | | | | | | | |\n", cf[i].name,
                r->page_enc_s[i] < 0 ? "failed" : "-");
            continue;
        }
        double first = r->page_enc_s[i] + r->page_pre_s[i];
        double dec = r->page_dec_s[i];
        row("| %s | %.1f | %.1f | %.1f | %.1f (%.2f) | %.1f | %.2f | %.2f | "
            "%.2f | %.0f s |\n",
            cf[i].name, r->page_enc_s[i], r->page_pre_s[i], first, dec,
            dec > 0 ? o->page_decode / dec : 0.0, first + dec, r->page_rss[i],
            r->page_rss[i] - r->weight_gb[i], r->rss[i], llama_page);
    }
}

/* ---- options ---- */

static int parse_sizes(const char *s, int (*out)[2], int max)
{
    int k = 0;
    while (s && *s && k < max) {
        int w, h, n;
        if (sscanf(s, "%dx%d%n", &w, &h, &n) != 2 || w < 28 || h < 28)
            return -1;
        out[k][0] = w;
        out[k][1] = h;
        k++;
        s += n;
        if (*s == ',')
            s++;
    }
    return k;
}

static int parse_configs(const char *s, b_config *c)
{
    int k = 0;
    while (s && *s && k < B_MAX_CONFIGS) {
        char w[8], p[8];
        int n;
        if (sscanf(s, "%7[a-z0-9]:%7[a-z0-9]%n", w, p, &n) != 2)
            return -1;
        c[k].weights = !strcmp(w, "q8")   ? VD_WEIGHTS_Q8
                       : !strcmp(w, "q4") ? VD_WEIGHTS_Q4
                                          : VD_WEIGHTS_AS_STORED;
        c[k].prec = !strcmp(p, "bf16")   ? VD_PREC_BF16
                    : !strcmp(p, "int8") ? VD_PREC_INT8
                                         : VD_PREC_EXACT;
        snprintf(c[k].name, sizeof c[k].name, "%s / %s", w,
                 prec_name(c[k].prec));
        k++;
        s += n;
        if (*s == ',')
            s++;
    }
    return k;
}

static double loadavg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = -1;
    if (f && fscanf(f, "%lf", &l) != 1)
        l = -1;
    if (f)
        fclose(f);
    return l;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "model", required_argument, NULL, 'm' },
        { "threads", required_argument, NULL, 't' },
        { "runs", required_argument, NULL, 'r' },
        { "configs", required_argument, NULL, 'c' },
        { "vision", required_argument, NULL, 'V' },
        { "prefill", required_argument, NULL, 'p' },
        { "decode", required_argument, NULL, 'd' },
        { "page-size", required_argument, NULL, 'S' },
        { "page", required_argument, NULL, 'P' },
        { "page-decode", required_argument, NULL, 'D' },
        { "kv", required_argument, NULL, 'k' },
        { "quant-dir", required_argument, NULL, 'Q' },
        { "quick", no_argument, NULL, 'q' },
        { "tokenizer", required_argument, NULL, 'T' },
        { "text", required_argument, NULL, 'x' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    b_opts o;
    memset(&o, 0, sizeof o);
    o.runs = 3;
    o.decode = 128;
    o.page_w = 1288;
    o.page_h = 1652;
    o.page_decode = 256;
    const char *vsizes = "448x448,1008x1008,1288x1652";
    const char *configs = "bf16:exact,bf16:bf16,q8:int8,q4:int8";
    const char *prefill = "512,2048", *tok = NULL, *text = NULL;
    int threads = 0, c, quick = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm':
            o.model = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'r':
            o.runs = atoi(optarg);
            break;
        case 'c':
            configs = strcmp(optarg, "none") ? optarg : NULL;
            break;
        case 'V':
            vsizes = strcmp(optarg, "none") ? optarg : NULL;
            break;
        case 'p':
            prefill = optarg;
            break;
        case 'd':
            o.decode = atoi(optarg);
            break;
        case 'S':
            if (!strcmp(optarg, "none"))
                o.page_w = o.page_h = 0;
            else if (sscanf(optarg, "%dx%d", &o.page_w, &o.page_h) != 2)
                o.page_w = -1;
            break;
        case 'P':
            o.page_file = optarg;
            break;
        case 'D':
            o.page_decode = atoi(optarg);
            break;
        case 'k':
            o.kv_bf16 = !strcmp(optarg, "bf16");
            break;
        case 'Q':
            o.quant_dir = optarg;
            break;
        case 'q':
            quick = 1;
            break;
        case 'T':
            tok = optarg;
            break;
        case 'x':
            text = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (quick) {
        o.runs = 1;
        vsizes = "448x448,1008x1008";
    }
    b_config cf[B_MAX_CONFIGS];
    int nc = configs ? parse_configs(configs, cf) : 0;
    o.nsizes = vsizes ? parse_sizes(vsizes, o.sizes, B_MAX_SIZES) : 0;
    for (const char *p = prefill; *p && o.nprefill < B_MAX_PREFILL;) {
        char *e;
        long v = strtol(p, &e, 10);
        if (e == p || v < 1)
            break;
        o.prefill[o.nprefill++] = (int)v;
        p = *e == ',' ? e + 1 : e;
    }
    if (nc < 0 || o.nsizes < 0 || o.runs < 1 || o.decode < 0 ||
        o.page_decode < 0 || !o.nprefill || o.page_w < 0 || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    vd_opts op;
    vd_opts_init(&op);
    op.threads = threads;
    vd_ctx *ctx = vd_ctx_new(&op);
    /* children fill this in; the parent prints it */
    b_results *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!ctx || r == MAP_FAILED) {
        fprintf(stderr, "bench-engine: out of memory\n");
        return 1;
    }
    memset(r, 0, sizeof *r);
    double l0 = loadavg();
    double t0 = vd__now();
    /* every part in its own child: its pool, load time and peak RSS are
     * its own (and no thread pool exists in the parent to upset fork) */
    for (int part = -1; part < nc; part++) {
        if (part >= 0 && !o.model)
            break;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench-engine: fork");
            return 1;
        }
        if (pid == 0) {
            if (part < 0) {
                machine(ctx, &r->mc);
                fprintf(stderr,
                        "# machine: fp32 FMA %.0f GFLOP/s, bf16 %.0f, int8 "
                        "%.0f GOP/s, memory read %.1f GB/s\n",
                        r->mc.fma / 1e9, r->mc.bf16 / 1e9, r->mc.int8 / 1e9,
                        r->mc.bw / 1e9);
                if (o.model && o.nsizes) {
                    vd__qwen_model *m = NULL;
                    if (vd__qwen_load(ctx, o.model, VD_QWEN_LOAD_NO_TOKENIZER,
                                      &m) == VD_OK)
                        b_vision(ctx, m, &o, r);
                    else
                        fprintf(stderr, "bench-engine: %s\n",
                                vd_ctx_errmsg(ctx));
                    vd__qwen_free(m);
                }
            } else {
                run_config(ctx, &o, &cf[part], part, r);
            }
            fflush(NULL);
            _exit(0);
        }
        int wst = 0;
        waitpid(pid, &wst, 0);
        if (!WIFEXITED(wst) || WEXITSTATUS(wst))
            fprintf(stderr, "bench-engine: part %d ended abnormally\n", part);
    }
    double l1 = loadavg();
    vd__isa isa = vd__isa_active();
    row("\n## vldoc engine benchmark: %d threads, kernel table %s, %s\n\n",
        vd_ctx_opts(ctx)->threads, vd__isa_name(isa),
        o.model ? o.model : "no model");
    row("Load average %.2f before, %.2f after, on %d cores%s. %.0f s in "
        "all.\n\n",
        l0, l1, vd__ncpu(),
        l0 > 0.5 || l1 > 0.5 ? " (busy: figures are not the engine's own)" : "",
        vd__now() - t0);
    row("| machine, measured here (%d threads) | peak |\n|---|---|\n",
        vd_ctx_opts(ctx)->threads);
    row("| fp32 FMA (%s) | %.0f GFLOP/s |\n",
        isa >= VD_ISA_AVX512 ? "AVX-512" : "AVX2", r->mc.fma / 1e9);
    if (r->mc.bf16 > 0)
        row("| bf16 dot products (vdpbf16ps) | %.0f GFLOP/s |\n"
            "| int8 dot products (vpdpbusd) | %.0f GOP/s |\n",
            r->mc.bf16 / 1e9, r->mc.int8 / 1e9);
    row("| memory read bandwidth | %.1f GB/s |\n", r->mc.bw / 1e9);
    char tp[4096];
    if (!tok) {
        const char *sh = getenv("VLDOC_SHARED");
        snprintf(tp, sizeof tp, "%s/tokenizer.json", o.model ? o.model : "");
        if (!o.model || access(tp, R_OK) != 0)
            snprintf(tp, sizeof tp, "%s/refs/tokenizer/tokenizer.json",
                     sh ? sh : "../shared");
        tok = tp;
    }
    bench_tok(ctx, tok, text);
    if (o.model)
        print_tables(&o, &r->mc, cf, nc, r);
    munmap(r, sizeof *r);
    vd_ctx_free(ctx);
    return 0;
}

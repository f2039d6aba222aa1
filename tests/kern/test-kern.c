/* Kernel tests: every ISA path the CPU can run against the scalar
 * reference (kern-ref.c), op by op and dtype by dtype, with max-abs and
 * NMSE bounds: odd sizes, unaligned weights, decode (n = 1..4) and prefill
 * shapes, quantized formats against the bf16 product, causal / windowed /
 * GQA attention with fp32 and bf16 KV, the element-wise ops, VLDOC_ISA
 * forcing and the thread pool. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "kern.h"
#include "safetensors.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static float grand(void) /* roughly normal, mean 0, sd 1 */
{
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += urand();
    return (float)((s - 2.0) * 1.7320508);
}

static void fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = grand() * scale;
}

typedef struct cmp {
    double maxabs, nmse, refmax, rms;
} cmp;

static cmp compare(const float *y, const float *r, int64_t n)
{
    cmp c = { 0, 0, 0, 0 };
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)y[i] - r[i];
        if (!(fabs(d) <= c.maxabs)) /* NaN counts as +inf */
            c.maxabs = isnan(d) ? INFINITY : fabs(d);
        num += d * d;
        den += (double)r[i] * r[i];
        if (fabs(r[i]) > c.refmax)
            c.refmax = fabs(r[i]);
    }
    c.nmse = den > 0 ? num / den : num;
    c.rms = n > 0 ? sqrt(num / (double)n) : 0;
    return c;
}

static const char *dt_name[] = { "f32", "bf16", "f16", "q8", "q4" };
static const char *prec_name[] = { "exact", "bf16", "int8" };

/* A weight matrix of type DT from fp32 values SRC, its data placed OFF
 * bytes past an aligned address (mmapped tensors are unaligned). *MEM
 * receives what to free. */
static vd__mat make_mat(vd_ctx *ctx, vd__dtype dt, const float *src,
                        int64_t rows, int64_t cols, int off, void **mem)
{
    vd__mat m = { 0 };
    m.rows = rows;
    m.cols = cols;
    size_t n = (size_t)(rows * cols);
    *mem = NULL;
    if (dt == VD_DT_Q8 || dt == VD_DT_Q4) {
        uint16_t *b = malloc(n * 2 + 2);
        for (size_t i = 0; i < n; i++)
            b[i] = vd__f32_to_bf16(src[i]);
        vd__mat s = { VD_DT_BF16, rows, cols, b, NULL, NULL };
        if (vd__quantize(ctx, NULL, &s, dt, &m) != VD_OK)
            m.rows = 0;
        free(b);
        return m;
    }
    size_t es = dt == VD_DT_F32 ? 4 : 2;
    unsigned char *buf = malloc(n * es + 64);
    unsigned char *p = buf + off;
    for (size_t i = 0; i < n; i++) {
        if (dt == VD_DT_F32) {
            memcpy(p + 4 * i, &src[i], 4);
        } else {
            uint16_t h = dt == VD_DT_BF16 ? vd__f32_to_bf16(src[i])
                                          : vd__f32_to_f16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
    }
    m.dt = dt;
    m.data = p;
    *mem = buf;
    return m;
}

static void free_mat(vd__mat *m, void *mem)
{
    vd__mat_free(m);
    free(mem);
}

static const vd__kern *isas[4];
static int nisa;

/* ---- matmul ---- */

typedef struct mmcase {
    int64_t n, rows, cols;
} mmcase;

static void test_matmul(vd_ctx *ctx, vd__pool *pool)
{
    /* the last two: tokens wider than L1 (the GEMV's two-row path), odd
     * row counts */
    static const mmcase cases[] = {
        { 1, 37, 100 },   { 2, 64, 2048 },   { 3, 33, 3420 }, { 4, 17, 1 },
        { 1, 300, 1176 }, { 5, 40, 50 },     { 13, 70, 129 }, { 64, 100, 256 },
        { 100, 45, 80 },  { 300, 290, 520 }, { 31, 256, 64 }, { 1, 39, 6200 },
        { 4, 9, 1544 }
    };
    const vd__kern *ref = vd__kern_for(VD_ISA_REF);
    int ncase = (int)(sizeof cases / sizeof *cases);
    for (int c = 0; c < ncase; c++) {
        const mmcase *k = &cases[c];
        size_t nw = (size_t)(k->rows * k->cols);
        float *wf = malloc(nw * 4), *x = malloc((size_t)(k->n * k->cols) * 4);
        float *bias = malloc((size_t)k->rows * 4);
        float *yr = malloc((size_t)(k->n * k->rows) * 4);
        float *y = malloc((size_t)(k->n * k->rows) * 4);
        fill(wf, (int64_t)nw, 1.0f / sqrtf((float)k->cols));
        fill(x, k->n * k->cols, 1.0f);
        fill(bias, k->rows, 0.1f);
        for (int dt = 0; dt <= VD_DT_Q4; dt++) {
            void *mem;
            int off = (c * 3 + dt) % 7; /* odd byte offsets included */
            vd__mat w =
                make_mat(ctx, (vd__dtype)dt, wf, k->rows, k->cols, off, &mem);
            int quant = dt == VD_DT_Q8 || dt == VD_DT_Q4;
            for (int p = 0; p < 3; p++) {
                /* each weight type has two effective precisions */
                if ((quant && p == VD_PREC_BF16) || (!quant && p == 2))
                    continue;
                const float *b = (c & 1) ? bias : NULL;
                vd__matmul_k(ref, NULL, &w, x, k->n, b, yr, (vd_precision)p);
                for (int i = 1; i < nisa; i++) {
                    for (int pl = 0; pl < 2; pl++) {
                        memset(y, 0xFF, (size_t)(k->n * k->rows) * 4);
                        vd__matmul_k(isas[i], pl ? pool : NULL, &w, x, k->n, b,
                                     y, (vd_precision)p);
                        cmp r = compare(y, yr, k->n * k->rows);
                        /* fp32 sums in another order; the inputs are
                         * rounded identically, so the bounds are tight */
                        int good =
                            r.nmse < 1e-10 && r.maxabs < 2e-5 * (r.refmax + 1);
                        tap_ok(good,
                               "matmul %s %s/%s n=%lld %lldx%lld off=%d%s: "
                               "maxabs %.3g nmse %.3g",
                               vd__isa_name(isas[i]->isa), dt_name[dt],
                               prec_name[p], (long long)k->n,
                               (long long)k->rows, (long long)k->cols, off,
                               pl ? " pool" : "", r.maxabs, r.nmse);
                    }
                }
            }
            free_mat(&w, mem);
        }
        free(wf);
        free(x);
        free(bias);
        free(yr);
        free(y);
    }
}

/* vd__matmul_group against one reference product per matrix. The first
 * three groups decode (n <= GEMV_MAX, rows in whole 16-row runs) and run
 * as one GEMV over all rows, with runs that cross from one matrix into the
 * next; the others take one product each (a first matrix of 37 rows, a
 * width that differs, a prompt of 9 tokens). */
typedef struct grcase {
    int64_t n, cols;
    int nw;
    int64_t rows[3], cols2; /* cols2: the last matrix's width when > 0 */
} grcase;

static void test_matmul_group(vd_ctx *ctx, vd__pool *pool)
{
    static const grcase cases[] = {
        { 1, 200, 3, { 48, 16, 16 }, 0 },  { 3, 100, 2, { 64, 80, 0 }, 0 },
        { 2, 1544, 3, { 32, 16, 13 }, 0 }, { 1, 100, 2, { 37, 16, 0 }, 0 },
        { 1, 64, 2, { 32, 32, 0 }, 96 },   { 9, 70, 2, { 32, 48, 0 }, 0 },
    };
    const vd__kern *ref = vd__kern_for(VD_ISA_REF);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const grcase *k = &cases[c];
        int64_t kmax = k->cols2 > k->cols ? k->cols2 : k->cols;
        float *x = malloc((size_t)(k->n * kmax) * 4);
        fill(x, k->n * kmax, 1.0f);
        float *wf[3], *bias[3], *yr[3], *y[3];
        int64_t K[3];
        for (int j = 0; j < k->nw; j++) {
            K[j] = j == k->nw - 1 && k->cols2 ? k->cols2 : k->cols;
            wf[j] = malloc((size_t)(k->rows[j] * K[j]) * 4);
            bias[j] = malloc((size_t)k->rows[j] * 4);
            yr[j] = malloc((size_t)(k->n * k->rows[j]) * 4);
            y[j] = malloc((size_t)(k->n * k->rows[j]) * 4);
            fill(wf[j], k->rows[j] * K[j], 1.0f / sqrtf((float)K[j]));
            fill(bias[j], k->rows[j], 0.1f);
        }
        for (int dt = 0; dt <= VD_DT_Q4; dt++) {
            vd__mat w[3];
            void *mem[3];
            const vd__mat *wp[3];
            for (int j = 0; j < k->nw; j++) {
                w[j] = make_mat(ctx, (vd__dtype)dt, wf[j], k->rows[j], K[j],
                                (int)(c + j) % 5, &mem[j]);
                wp[j] = &w[j];
            }
            int quant = dt == VD_DT_Q8 || dt == VD_DT_Q4;
            for (int p = 0; p < 3; p++) {
                if ((quant && p == VD_PREC_BF16) || (!quant && p == 2))
                    continue;
                const float *const *b = (c & 1) ? NULL : (const float **)bias;
                for (int j = 0; j < k->nw; j++)
                    vd__matmul_k(ref, NULL, &w[j], x, k->n, b ? b[j] : NULL,
                                 yr[j], (vd_precision)p);
                for (int i = 0; i < nisa; i++)
                    for (int pl = 0; pl < 2; pl++) {
                        for (int j = 0; j < k->nw; j++)
                            memset(y[j], 0xFF, (size_t)(k->n * k->rows[j]) * 4);
                        vd__matmul_group_k(isas[i], pl ? pool : NULL, k->nw, wp,
                                           x, k->n, b, y, (vd_precision)p);
                        int good = 1;
                        double worst = 0;
                        for (int j = 0; j < k->nw; j++) {
                            cmp r = compare(y[j], yr[j], k->n * k->rows[j]);
                            good &= r.nmse < 1e-10 &&
                                    r.maxabs < 2e-5 * (r.refmax + 1);
                            worst = r.maxabs > worst ? r.maxabs : worst;
                        }
                        tap_ok(good,
                               "matmul group %s %s/%s n=%lld, %d matrices "
                               "(case %zu)%s: maxabs %.3g",
                               vd__isa_name(isas[i]->isa), dt_name[dt],
                               prec_name[p], (long long)k->n, k->nw, c,
                               pl ? " pool" : "", worst);
                    }
            }
            for (int j = 0; j < k->nw; j++)
                free_mat(&w[j], mem[j]);
        }
        for (int j = 0; j < k->nw; j++) {
            free(wf[j]);
            free(bias[j]);
            free(yr[j]);
            free(y[j]);
        }
        free(x);
    }
}

/* Quantized weights against the bf16 product: the formats' own error. */
static void test_quant_error(vd_ctx *ctx, vd__pool *pool)
{
    int64_t n = 8, rows = 256, cols = 2048;
    float *wf = malloc((size_t)(rows * cols) * 4);
    float *x = malloc((size_t)(n * cols) * 4);
    float *yb = malloc((size_t)(n * rows) * 4),
          *y = malloc((size_t)(n * rows) * 4);
    fill(wf, rows * cols, 0.02f);
    fill(x, n * cols, 1.0f);
    void *mb, *mq;
    vd__mat wb = make_mat(ctx, VD_DT_BF16, wf, rows, cols, 0, &mb);
    vd__matmul(pool, &wb, x, n, NULL, yb, VD_PREC_EXACT);
    static const struct {
        vd__dtype dt;
        vd_precision p;
        double bound;
    } q[] = { { VD_DT_Q8, VD_PREC_EXACT, 1e-4 },
              { VD_DT_Q8, VD_PREC_INT8, 2e-4 },
              { VD_DT_Q4, VD_PREC_EXACT, 1.2e-2 },
              { VD_DT_Q4, VD_PREC_INT8, 1.3e-2 } };
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        vd__mat w = make_mat(ctx, q[i].dt, wf, rows, cols, 0, &mq);
        vd__matmul(pool, &w, x, n, NULL, y, q[i].p);
        cmp r = compare(y, yb, n * rows);
        tap_ok(r.nmse < q[i].bound,
               "%s weights, %s activations vs bf16: nmse %.3g (< %.3g)",
               dt_name[q[i].dt], prec_name[q[i].p], r.nmse, q[i].bound);
        free_mat(&w, mq);
    }
    /* bf16 activations against exact ones */
    vd__matmul(pool, &wb, x, n, NULL, y, VD_PREC_BF16);
    cmp r = compare(y, yb, n * rows);
    tap_ok(r.nmse < 2e-5, "bf16 activations vs exact: nmse %.3g", r.nmse);
    /* the Q8 round trip is within half a step of each block */
    vd__mat w8 = make_mat(ctx, VD_DT_Q8, wf, rows, cols, 0, &mq);
    float *row = malloc((size_t)cols * 4);
    double worst = 0;
    for (int64_t rr = 0; rr < rows; rr++) {
        vd__mat_row_f32(&w8, rr, row);
        for (int64_t b = 0; b < cols; b += 32) {
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(vd__bf16_to_f32(vd__f32_to_bf16(
                                       wf[rr * cols + b + j]))));
            for (int j = 0; j < 32; j++) {
                double e = fabs(row[b + j] - vd__bf16_to_f32(vd__f32_to_bf16(
                                                 wf[rr * cols + b + j])));
                if (amax > 0 && e / (amax / 127.0) > worst)
                    worst = e / (amax / 127.0);
            }
        }
    }
    tap_ok(worst <= 0.51, "q8 round trip within half a step (%.3f)", worst);
    free(row);
    free_mat(&w8, mq);
    free_mat(&wb, mb);
    free(wf);
    free(x);
    free(yb);
    free(y);
}

/* ---- attention ---- */

typedef struct atcase {
    int64_t nq, nk;
    int n_head, n_kv_head, hd;
    int causal;
    int64_t q_pos0;
    const int64_t *seg;
    int nseg;
    const char *what;
} atcase;

static void test_attention(vd__pool *pool)
{
    static const int64_t win[] = { 0, 64, 128, 150 };
    static const int64_t win2[] = { 0, 16, 80, 144, 208, 256 };
    static const atcase cases[] = {
        { 1, 37, 16, 2, 128, 1, 36, NULL, 0, "decode GQA 16/2 hd128" },
        { 1, 300, 16, 2, 128, 1, 299, NULL, 0, "decode long" },
        { 3, 40, 4, 2, 64, 1, 37, NULL, 0, "3 tokens decode" },
        { 70, 70, 4, 2, 64, 1, 0, NULL, 0, "causal prefill" },
        { 20, 90, 4, 1, 128, 1, 70, NULL, 0, "chunked prefill" },
        { 150, 150, 4, 4, 80, 0, 0, win, 3, "vision windows hd80" },
        { 256, 256, 2, 2, 80, 0, 0, win2, 5, "windows of other sizes" },
        { 200, 200, 2, 2, 80, 0, 0, NULL, 0, "full attention hd80" },
        { 33, 45, 3, 1, 24, 0, 0, NULL, 0, "odd head_dim 24" },
        { 17, 17, 2, 2, 40, 1, 0, NULL, 0, "causal hd40" },
        { 5, 9, 2, 1, 8, 1, 4, NULL, 0, "tiny hd8" },
        /* decoding over long caches: split over keys, merged */
        { 1, 1500, 16, 2, 128, 1, 1499, NULL, 0, "decode split, 1500 keys" },
        { 2, 777, 8, 4, 64, 1, 775, NULL, 0, "2-token decode split" },
        { 1, 600, 4, 4, 80, 0, 0, NULL, 0, "one query, split, no mask" },
        { 1, 1200, 4, 2, 64, 1, 300, NULL, 0, "split with empty chunks" },
        /* three KV groups of 40 dims: each row's parts start off a line */
        { 1, 700, 6, 3, 40, 1, 699, NULL, 0, "decode split, hd40 x 3 groups" },
    };
    const vd__kern *ref = vd__kern_for(VD_ISA_REF);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const atcase *k = &cases[c];
        int64_t qs = (int64_t)k->n_head * k->hd + 3;
        int64_t kvs = (int64_t)k->n_kv_head * k->hd + 5;
        float *q = malloc((size_t)(k->nq * qs) * 4);
        float *kk = malloc((size_t)(k->nk * kvs) * 4);
        float *v = malloc((size_t)(k->nk * kvs) * 4);
        uint16_t *kb = malloc((size_t)(k->nk * kvs) * 2);
        uint16_t *vb = malloc((size_t)(k->nk * kvs) * 2);
        float * or = malloc((size_t)(k->nq * qs) * 4);
        float *o = malloc((size_t)(k->nq * qs) * 4);
        fill(q, k->nq * qs, 1.0f);
        fill(kk, k->nk * kvs, 1.0f);
        fill(v, k->nk * kvs, 1.0f);
        for (int64_t i = 0; i < k->nk * kvs; i++) {
            kb[i] = vd__f32_to_bf16(kk[i]);
            vb[i] = vd__f32_to_bf16(v[i]);
        }
        for (int bf = 0; bf < 2; bf++) {
            vd__attn_args a = { 0 };
            a.q = q;
            a.q_stride = qs;
            a.nq = k->nq;
            a.k = bf ? (const void *)kb : kk;
            a.v = bf ? (const void *)vb : v;
            a.kv_dt = bf ? VD_DT_BF16 : VD_DT_F32;
            a.kv_stride = kvs;
            a.nk = k->nk;
            a.o_stride = qs;
            a.n_head = k->n_head;
            a.n_kv_head = k->n_kv_head;
            a.head_dim = k->hd;
            a.scale = 1.0f / sqrtf((float)k->hd);
            a.causal = k->causal;
            a.q_pos0 = k->q_pos0;
            a.seg = k->seg;
            a.nseg = k->nseg;
            a.o = or ;
            memset(or, 0, (size_t)(k->nq * qs) * 4);
            vd__attention_k(ref, NULL, &a);
            for (int i = 1; i < nisa; i++) {
                for (int pl = 0; pl < 2; pl++) {
                    memset(o, 0, (size_t)(k->nq * qs) * 4);
                    a.o = o;
                    vd__attention_k(isas[i], pl ? pool : NULL, &a);
                    cmp r = compare(o, or, k->nq * qs);
                    tap_ok(r.maxabs < 2e-5 && r.nmse < 1e-10,
                           "attention %s %s kv=%s%s: maxabs %.3g nmse %.3g",
                           vd__isa_name(isas[i]->isa), k->what,
                           bf ? "bf16" : "f32", pl ? " pool" : "", r.maxabs,
                           r.nmse);
                }
            }
            a.o = o;
            /* the reference itself against a direct softmax for one row */
            if (!bf && !k->causal && k->nseg == 0) {
                int64_t i = k->nq / 2;
                int h = k->n_head - 1, kvh = h / (k->n_head / k->n_kv_head);
                double *s = malloc((size_t)k->nk * sizeof *s), m = -INFINITY,
                       l = 0, worst = 0;
                for (int64_t j = 0; j < k->nk; j++) {
                    double d = 0;
                    for (int e = 0; e < k->hd; e++)
                        d += (double)q[i * qs + h * k->hd + e] *
                             kk[j * kvs + kvh * k->hd + e];
                    s[j] = d / sqrt((double)k->hd);
                    m = fmax(m, s[j]);
                }
                for (int64_t j = 0; j < k->nk; j++)
                    l += exp(s[j] - m);
                for (int e = 0; e < k->hd; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < k->nk; j++)
                        acc += exp(s[j] - m) / l * v[j * kvs + kvh * k->hd + e];
                    worst =
                        fmax(worst, fabs(acc - or [i * qs + h * k->hd + e]));
                }
                tap_ok(worst < 1e-5,
                       "reference attention %s matches a direct "
                       "softmax (%.3g)",
                       k->what, worst);
                free(s);
            }
        }
        free(q);
        free(kk);
        free(v);
        free(kb);
        free(vb);
        free(or);
        free(o);
    }
}

/* ---- element-wise ops ---- */

static void test_rowops(vd__pool *pool)
{
    const vd__kern *ref = vd__kern_for(VD_ISA_REF);
    static const int64_t sizes[] = { 1, 7, 16, 37, 80, 1280, 2048, 3420 };
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t n = sizes[si];
        float *x = malloc((size_t)n * 4), *u = malloc((size_t)n * 4);
        float *w = malloc((size_t)n * 4), *yr = malloc((size_t)n * 4);
        float *y = malloc((size_t)n * 4);
        fill(x, n, 3.0f);
        fill(u, n, 1.0f);
        fill(w, n, 1.0f);
        if (n > 10) { /* the tails of the nonlinearities */
            x[0] = -30.0f;
            x[1] = 30.0f;
            x[2] = -9.5f;
            x[3] = 1e-30f;
            x[4] = -100.0f;
            x[5] = 90.0f;
        }
        for (int i = 1; i < nisa; i++) {
            const vd__kern *k = isas[i];
            const char *nm = vd__isa_name(k->isa);
            cmp r;
            ref->rmsnorm(yr, x, w, n, 1e-6f);
            k->rmsnorm(y, x, w, n, 1e-6f);
            r = compare(y, yr, n);
            tap_ok(r.maxabs < 2e-6 * (r.refmax + 1), "rmsnorm %s n=%lld (%.3g)",
                   nm, (long long)n, r.maxabs);
            ref->silu_mul(yr, x, u, n);
            k->silu_mul(y, x, u, n);
            r = compare(y, yr, n);
            tap_ok(r.nmse < 1e-12 && r.maxabs < 1e-5,
                   "silu_mul %s n=%lld (%.3g)", nm, (long long)n, r.maxabs);
            ref->gelu_erf(yr, x, n);
            k->gelu_erf(y, x, n);
            r = compare(y, yr, n);
            tap_ok(r.nmse < 1e-12 && r.maxabs < 1e-5, "gelu %s n=%lld (%.3g)",
                   nm, (long long)n, r.maxabs);
            memcpy(yr, x, (size_t)n * 4);
            memcpy(y, x, (size_t)n * 4);
            ref->softmax(yr, n);
            k->softmax(y, n);
            r = compare(y, yr, n);
            tap_ok(r.maxabs < 1e-6 && r.nmse < 1e-11,
                   "softmax %s n=%lld (%.3g)", nm, (long long)n, r.maxabs);
            uint16_t *hb = malloc((size_t)n * 2), *hr = malloc((size_t)n * 2);
            ref->f32_to_bf16(hr, x, n);
            k->f32_to_bf16(hb, x, n);
            tap_ok(memcmp(hb, hr, (size_t)n * 2) == 0, "f32->bf16 %s n=%lld",
                   nm, (long long)n);
            ref->bf16_to_f32(yr, hr, n);
            k->bf16_to_f32(y, hr, n);
            tap_ok(memcmp(y, yr, (size_t)n * 4) == 0, "bf16->f32 %s n=%lld", nm,
                   (long long)n);
            free(hb);
            free(hr);
            if (n % 32 == 0) {
                int64_t nb = n / 32;
                int8_t *qa = malloc((size_t)n), *qb = malloc((size_t)n);
                float *sa = malloc((size_t)nb * 4),
                      *sb = malloc((size_t)nb * 4);
                int32_t *ua = malloc((size_t)nb * 4),
                        *ub = malloc((size_t)nb * 4);
                ref->quant_act(qa, sa, ua, x, n);
                k->quant_act(qb, sb, ub, x, n);
                tap_ok(!memcmp(qa, qb, (size_t)n) &&
                           !memcmp(sa, sb, (size_t)nb * 4) &&
                           !memcmp(ua, ub, (size_t)nb * 4),
                       "quant_act %s n=%lld identical", nm, (long long)n);
                free(qa);
                free(qb);
                free(sa);
                free(sb);
                free(ua);
                free(ub);
            }
        }
        free(x);
        free(u);
        free(w);
        free(yr);
        free(y);
    }
    /* rope on several heads, both tower shapes */
    static const int hds[] = { 128, 80, 8, 40 };
    for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++) {
        int hd = hds[hi], nh = 3;
        float *x = malloc((size_t)(nh * hd) * 4),
              *xr = malloc((size_t)(nh * hd) * 4);
        float *c = malloc((size_t)hd / 2 * 4), *s = malloc((size_t)hd / 2 * 4);
        fill(x, nh * hd, 2.0f);
        for (int i = 0; i < hd / 2; i++) {
            double ang = 37.0 * pow(10000.0, -2.0 * i / hd);
            c[i] = (float)cos(ang);
            s[i] = (float)sin(ang);
        }
        for (int i = 1; i < nisa; i++) {
            memcpy(xr, x, (size_t)(nh * hd) * 4);
            ref->rope(xr, nh, hd, c, s);
            float *y = malloc((size_t)(nh * hd) * 4);
            memcpy(y, x, (size_t)(nh * hd) * 4);
            isas[i]->rope(y, nh, hd, c, s);
            cmp r = compare(y, xr, nh * hd);
            tap_ok(r.maxabs < 1e-6 * (r.refmax + 1), "rope %s hd=%d (%.3g)",
                   vd__isa_name(isas[i]->isa), hd, r.maxabs);
            free(y);
        }
        free(x);
        free(xr);
        free(c);
        free(s);
    }
    /* the threaded wrappers split rows correctly */
    int64_t n = 300, dim = 200;
    float *x = malloc((size_t)(n * dim) * 4), *w = malloc((size_t)dim * 4);
    float *y1 = malloc((size_t)(n * dim) * 4),
          *y2 = malloc((size_t)(n * dim) * 4);
    fill(x, n * dim, 1.0f);
    fill(w, dim, 1.0f);
    vd__rmsnorm(pool, y1, x, w, n, dim, 1e-6f);
    for (int64_t r = 0; r < n; r++)
        vd__kern_get()->rmsnorm(y2 + r * dim, x + r * dim, w, dim, 1e-6f);
    tap_ok(!memcmp(y1, y2, (size_t)(n * dim) * 4), "vd__rmsnorm over a pool");
    vd__gelu_erf(pool, y1, x, n * dim);
    vd__kern_get()->gelu_erf(y2, x, n * dim);
    tap_ok(!memcmp(y1, y2, (size_t)(n * dim) * 4), "vd__gelu_erf over a pool");
    free(x);
    free(w);
    free(y1);
    free(y2);
}

/* bf16 / f16 conversions at their edges */
static void test_convert(void)
{
    static const struct {
        float f;
        uint16_t bf;
    } bt[] = { { 1.0f, 0x3F80 },        { -2.0f, 0xC000 },
               { 1.00390625f, 0x3F80 }, /* tie -> even */
               { 1.01171875f, 0x3F82 }, /* tie -> even (up) */
               { INFINITY, 0x7F80 },    { 0.0f, 0 } };
    int good = 1;
    for (size_t i = 0; i < sizeof bt / sizeof *bt; i++)
        good &= vd__f32_to_bf16(bt[i].f) == bt[i].bf;
    uint16_t nan = vd__f32_to_bf16(NAN);
    good &= (nan & 0x7F80) == 0x7F80 && (nan & 0x7F) != 0;
    tap_ok(good, "f32 -> bf16 rounds to nearest even, keeps NaN");
    good = 1;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = vd__f16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        good &= vd__f32_to_f16(f) == h;
    }
    tap_ok(good, "f16 -> f32 -> f16 round trip for every half");
    tap_ok(vd__f32_to_f16(65520.0f) == 0x7C00 &&
               vd__f32_to_f16(65519.0f) == 0x7BFF &&
               vd__f32_to_f16(1e-8f) == 0 && vd__f32_to_f16(5.9604645e-8f) == 1,
           "f32 -> f16 overflow, underflow and the smallest subnormal");
}

/* ---- the shared reference vectors: logits of the tiny checkpoint ----
 * logits_last = last_hidden_state[-1] . E^T (tied lm_head, E bf16
 * [151936][64]), computed by HF in float32. Every ISA must match within
 * the refs' suggested 1e-4; the quantized formats report their error
 * against the bf16 product (and must keep the greedy token). */
static void test_refs(vd_ctx *ctx, vd__pool *pool)
{
    const char *sh = getenv("VLDOC_SHARED");
    if (!sh || !*sh) {
        tap_skip("VLDOC_SHARED not set: no reference vectors");
        return;
    }
    static const char *models[] = { "tiny", "tiny-untied" };
    for (int mi = 0; mi < 2; mi++) {
        char path[1024];
        vd__safetensors *ck = NULL, *rf = NULL;
        snprintf(path, sizeof path,
                 "%s/refs/qwen25vl/%s/checkpoint/model.safetensors", sh,
                 models[mi]);
        vd_status s1 = vd__st_open(ctx, path, &ck);
        snprintf(path, sizeof path, "%s/refs/qwen25vl/%s/text.safetensors", sh,
                 models[mi]);
        vd_status s2 = vd__st_open(ctx, path, &rf);
        const vd__st_tensor *e =
            ck ? vd__st_find(ck, mi ? "lm_head.weight"
                                    : "model.embed_tokens.weight")
               : NULL;
        const vd__st_tensor *hs =
            rf ? vd__st_find(rf, "last_hidden_state") : NULL;
        const vd__st_tensor *lg = rf ? vd__st_find(rf, "logits_last") : NULL;
        if (!tap_ok(s1 == VD_OK && s2 == VD_OK && e && hs && lg &&
                        e->dtype == VD_ST_BF16 && e->ndim == 2 &&
                        hs->shape[1] == e->shape[1] && lg->numel == e->shape[0],
                    "%s: reference checkpoint and vectors open", models[mi])) {
            vd__st_close(ck);
            vd__st_close(rf);
            continue;
        }
        int64_t V = e->shape[0], H = e->shape[1], S = hs->shape[0];
        float *h = malloc((size_t)(S * H) * 4), *want = malloc((size_t)V * 4);
        float *got = malloc((size_t)V * 4), *gb = malloc((size_t)V * 4);
        vd__st_to_f32(ctx, hs, h);
        vd__st_to_f32(ctx, lg, want);
        const float *last = h + (S - 1) * H;
        vd__mat E = { VD_DT_BF16, V, H, e->data, NULL, NULL };
        for (int i = 0; i < nisa; i++)
            for (int p = 0; p < 2; p++) {
                vd__matmul_k(isas[i], pool, &E, last, 1, NULL, got,
                             (vd_precision)p);
                cmp r = compare(got, want, V);
                double tol = p ? 0.05 : 1e-4; /* bf16 activations: report */
                tap_ok(r.maxabs < tol,
                       "%s logits, %s, %s precision: max abs %.3g (< %g)",
                       models[mi], vd__isa_name(isas[i]->isa), prec_name[p],
                       r.maxabs, tol);
            }
        /* quantized lm_head against the bf16 one */
        vd__matmul(pool, &E, last, 1, NULL, gb, VD_PREC_EXACT);
        int64_t top = 0;
        for (int64_t v = 1; v < V; v++)
            if (gb[v] > gb[top])
                top = v;
        static const struct {
            vd__dtype dt;
            vd_precision p;
            double bound;
        } q[] = { { VD_DT_Q8, VD_PREC_EXACT, 0.15 },
                  { VD_DT_Q8, VD_PREC_INT8, 0.2 },
                  { VD_DT_Q4, VD_PREC_EXACT, 2.0 },
                  { VD_DT_Q4, VD_PREC_INT8, 2.0 } };
        for (size_t k = 0; k < sizeof q / sizeof *q; k++) {
            vd__mat Q;
            if (vd__quantize(ctx, pool, &E, q[k].dt, &Q) != VD_OK)
                continue;
            vd__matmul(pool, &Q, last, 1, NULL, got, q[k].p);
            cmp r = compare(got, gb, V);
            int64_t qt = 0;
            for (int64_t v = 1; v < V; v++)
                if (got[v] > got[qt])
                    qt = v;
            tap_ok(r.maxabs < q[k].bound && qt == top,
                   "%s logits with %s weights, %s: max abs %.3g, rms %.3g "
                   "(of max %.3g), greedy token %s",
                   models[mi], dt_name[q[k].dt], prec_name[q[k].p], r.maxabs,
                   r.rms, r.refmax, qt == top ? "kept" : "changed");
            vd__mat_free(&Q);
        }
        free(h);
        free(want);
        free(got);
        free(gb);
        vd__st_close(ck);
        vd__st_close(rf);
    }
}

/* ---- VLDOC_ISA forcing, in children (the choice is made once) ---- */

static int child_isa(const char *val)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv("VLDOC_ISA", val, 1);
        const vd__kern *k = vd__kern_get();
        _exit(k && k->isa == vd__isa_active() ? (int)k->isa : 99);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs before anything in this process detects the CPU: the children
 * must make the choice themselves. */
static int isa_got[5];
static void run_isa_children(void)
{
    static const char *names[] = { "ref", "avx2", "avx512", "avx512bf16",
                                   "bogus" };
    for (int i = 0; i < 5; i++)
        isa_got[i] = child_isa(names[i]);
}

static void test_isa_env(void)
{
    vd__isa best = vd__isa_active();
    static const char *names[] = { "ref", "avx2", "avx512", "avx512bf16" };
    for (int i = 0; i < 4; i++) {
        int want = i < (int)best ? i : (int)best;
        tap_ok(isa_got[i] == want, "VLDOC_ISA=%s selects %s (got %d)", names[i],
               vd__isa_name((vd__isa)want), isa_got[i]);
    }
    tap_ok(isa_got[4] == (int)best, "an unknown VLDOC_ISA is ignored");
}

/* ---- thread pool ---- */

typedef struct {
    atomic_long sum;
    int nth_seen;
} pool_arg;

static void pool_add(void *arg, int ith, int nth)
{
    pool_arg *p = arg;
    atomic_fetch_add(&p->sum, ith + 1);
    p->nth_seen = nth;
}

static void test_pool(vd_ctx *ctx)
{
    for (int mode = 0; mode < 2; mode++) {
        /* mode 1: no spinning, every dispatch goes through sleep/wake */
        if (mode)
            setenv("VLDOC_POOL_SPIN_US", "0", 1);
        vd__pool *p = NULL;
        tap_ok(vd__pool_new(ctx, 3, &p) == VD_OK, "pool of 3 (spin %s)",
               mode ? "off" : "on");
        if (!p)
            continue;
        pool_arg a;
        atomic_init(&a.sum, 0);
        int runs = mode ? 2000 : 20000;
        for (int i = 0; i < runs; i++)
            vd__pool_run(p, pool_add, &a);
        tap_ok(atomic_load(&a.sum) == (long)runs * 6 && a.nth_seen == 3,
               "%d dispatches, every worker each time", runs);
        int good = 1;
        for (int i = 0; i <= 3; i++) {
            unsigned char *s = vd__pool_scratch(p, i);
            good &= s && ((uintptr_t)s & 63) == 0;
            if (s)
                memset(s, i, VD_POOL_SCRATCH);
        }
        tap_ok(good && !vd__pool_scratch(p, 4), "aligned scratch per worker");
        usleep(2000); /* let the workers fall asleep */
        vd__pool_run(p, pool_add, &a);
        tap_ok(atomic_load(&a.sum) == (long)runs * 6 + 6,
               "a dispatch after the workers slept");
        vd__pool_free(p);
    }
    unsetenv("VLDOC_POOL_SPIN_US");
}

int main(void)
{
    tap_plan_late();
    run_isa_children();
    vd_ctx *ctx = vd_ctx_new(NULL);
    for (int i = 0; i <= VD_ISA_AVX512BF16; i++)
        if (vd__kern_for((vd__isa)i))
            isas[nisa++] = vd__kern_for((vd__isa)i);
    tap_diag("ISA levels on this CPU: %d (best %s)", nisa,
             vd__isa_name(vd__isa_active()));
    vd__pool *pool = NULL;
    vd__pool_new(ctx, 3, &pool);

    test_convert();
    test_matmul(ctx, pool);
    test_matmul_group(ctx, pool);
    test_quant_error(ctx, pool);
    test_attention(pool);
    test_rowops(pool);
    test_refs(ctx, pool);
    test_isa_env();
    test_pool(ctx);

    vd__pool_free(pool);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

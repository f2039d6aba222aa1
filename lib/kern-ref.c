/* Kernels, scalar reference: plain C, always built, the yardstick every
 * fast path is tested against and the fallback when a fast path has no
 * scratch memory. Sums are taken in double so the reference is more exact
 * than anything it checks. It allocates nothing: rows are widened a chunk
 * at a time on the stack. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "kern.h"

#define CHUNK 256 /* a multiple of VD_QBLK */

static float dot_f32(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static float round_bf16(float f)
{
    return vd__bf16_to_f32(vd__f32_to_bf16(f));
}

/* Quantize one block of N <= 32 activations (the rest of the block is
 * zero) the way every ISA must: q = rint(x * (127 / amax)). */
static float quant_block(const float *x, int n, int8_t *q, int32_t *sum)
{
    float amax = 0;
    for (int i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    memset(q, 0, VD_QBLK);
    *sum = 0;
    if (amax == 0 || !isfinite(amax))
        return 0;
    float inv = 127.0f / amax;
    for (int i = 0; i < n; i++) {
        float v = rintf(x[i] * inv);
        v = v > 127 ? 127 : v < -127 ? -127 : v;
        q[i] = (int8_t)v;
        *sum += q[i];
    }
    return amax / 127.0f;
}

static void quant_act(int8_t *q, float *s, int32_t *sum, const float *x,
                      int64_t n)
{
    for (int64_t b = 0; b < n / VD_QBLK; b++)
        s[b] = quant_block(x + b * VD_QBLK, VD_QBLK, q + b * VD_QBLK, sum + b);
}

/* Integer value of element C of row R of a quantized matrix, and the
 * scale of its block. */
static int qval(const vd__mat *w, int64_t r, int64_t c, float *scale)
{
    int64_t b = c / VD_QBLK, e = c % VD_QBLK;
    const unsigned char *sc = w->scales;
    uint16_t h;
    if (w->dt == VD_DT_Q8) {
        int64_t nb = VD_Q8_NB(w->cols);
        memcpy(&h, sc + 2 * (size_t)(r * nb + b), 2);
        *scale = vd__f16_to_f32(h);
        return ((const int8_t *)w->data)[r * nb * VD_QBLK + c];
    }
    int64_t nb = VD_Q4_NB(w->cols);
    memcpy(&h, sc + 2 * (size_t)(r * nb + b), 2);
    *scale = vd__f16_to_f32(h);
    unsigned char byte =
        ((const unsigned char *)w->data)[r * nb * 16 + (b / 2) * 32 + e];
    return (b & 1 ? byte >> 4 : byte & 15) - 8;
}

static double dot_exact(const vd__mat *w, int64_t r, const float *x)
{
    float buf[CHUNK];
    double s = 0;
    for (int64_t c = 0; c < w->cols; c += CHUNK) {
        int64_t m = w->cols - c < CHUNK ? w->cols - c : CHUNK;
        vd__mat_row_part_f32(w, r, c, m, buf);
        for (int64_t j = 0; j < m; j++)
            s += (double)buf[j] * x[c + j];
    }
    return s;
}

static double dot_bf16(const vd__mat *w, int64_t r, const float *x)
{
    float buf[CHUNK];
    double s = 0;
    for (int64_t c = 0; c < w->cols; c += CHUNK) {
        int64_t m = w->cols - c < CHUNK ? w->cols - c : CHUNK;
        vd__mat_row_part_f32(w, r, c, m, buf);
        for (int64_t j = 0; j < m; j++)
            s += (double)round_bf16(buf[j]) * round_bf16(x[c + j]);
    }
    return s;
}

static double dot_int8(const vd__mat *w, int64_t r, const float *x)
{
    double s = 0;
    for (int64_t c = 0; c < w->cols; c += VD_QBLK) {
        int m = w->cols - c < VD_QBLK ? (int)(w->cols - c) : VD_QBLK;
        int8_t q[VD_QBLK];
        int32_t sum;
        float sx = quant_block(x + c, m, q, &sum), sw = 0;
        long d = 0;
        for (int j = 0; j < m; j++)
            d += (long)qval(w, r, c + j, &sw) * q[j];
        s += (double)sw * sx * (double)d;
    }
    return s;
}

static void matmul_rows(const vd__mat *w, const float *x, int64_t n,
                        const float *bias, float *y, int64_t r0, int64_t r1,
                        vd_precision prec)
{
    int quant = w->dt == VD_DT_Q8 || w->dt == VD_DT_Q4;
    for (int64_t r = r0; r < r1; r++) {
        double b = bias ? bias[r] : 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xi = x + i * w->cols;
            double s = prec == VD_PREC_EXACT ? dot_exact(w, r, xi)
                       : quant               ? dot_int8(w, r, xi)
                                             : dot_bf16(w, r, xi);
            y[i * w->rows + r] = (float)(s + b);
        }
    }
}

static float kv_at(const vd__attn_args *a, const void *base, int64_t off)
{
    if (a->kv_dt == VD_DT_BF16)
        return vd__bf16_to_f32(((const uint16_t *)base)[off]);
    return ((const float *)base)[off];
}

/* Keys [*k0, *k1) query I may see. */
static void key_range(const vd__attn_args *a, int64_t i, int64_t *k0,
                      int64_t *k1)
{
    *k0 = 0;
    *k1 = a->nk;
    if (a->nseg > 0) {
        for (int s = 0; s < a->nseg; s++)
            if (i >= a->seg[s] && i < a->seg[s + 1]) {
                *k0 = a->seg[s];
                *k1 = a->seg[s + 1];
            }
    }
    if (a->causal && a->q_pos0 + i + 1 < *k1)
        *k1 = a->q_pos0 + i + 1;
}

/* Query I of head H over keys [k0, k1): exact two-pass softmax in
 * double. With PART, the unnormalised output, the max score and the sum
 * of exponentials go there instead (hd + 2 floats). */
static void attn_row(const vd__attn_args *a, int h, int64_t i, int64_t k0,
                     int64_t k1, float *part)
{
    int hd = a->head_dim, group = a->n_head / a->n_kv_head;
    int64_t kvoff = (int64_t)(h / group) * hd;
    const float *q = a->q + i * a->q_stride + (int64_t)h * hd;
    float *o = a->o + i * a->o_stride + (int64_t)h * hd;
    double acc[512], m = -INFINITY, l = 0;
    if (hd > 512)
        return;
    for (int64_t j = k0; j < k1; j++) {
        double s = 0;
        for (int d = 0; d < hd; d++)
            s += (double)q[d] * kv_at(a, a->k, j * a->kv_stride + kvoff + d);
        s *= a->scale;
        if (s > m)
            m = s;
    }
    memset(acc, 0, sizeof acc);
    for (int64_t j = k0; j < k1; j++) {
        double s = 0;
        for (int d = 0; d < hd; d++)
            s += (double)q[d] * kv_at(a, a->k, j * a->kv_stride + kvoff + d);
        double p = exp(s * a->scale - m);
        l += p;
        for (int d = 0; d < hd; d++)
            acc[d] += p * kv_at(a, a->v, j * a->kv_stride + kvoff + d);
    }
    if (part) {
        for (int d = 0; d < hd; d++)
            part[d] = (float)acc[d];
        part[hd] = (float)m;
        part[hd + 1] = (float)l;
        return;
    }
    for (int d = 0; d < hd; d++)
        o[d] = l > 0 ? (float)(acc[d] / l) : 0.0f;
}

static void attn_heads(const vd__attn_args *a, int h0, int h1)
{
    for (int h = h0; h < h1; h++)
        for (int64_t i = 0; i < a->nq; i++) {
            int64_t k0, k1;
            key_range(a, i, &k0, &k1);
            attn_row(a, h, i, k0, k1, NULL);
        }
}

static int attn_block(const vd__attn_args *a, int h0, int h1, int64_t q0,
                      int64_t q1, int64_t k0, int64_t k1, float *part, void *s,
                      size_t scr)
{
    (void)s;
    (void)scr;
    int hd = a->head_dim;
    for (int h = h0; h < h1; h++)
        for (int64_t i = q0; i < q1; i++) {
            int64_t e = k1;
            if (a->causal && a->q_pos0 + i + 1 < e)
                e = a->q_pos0 + i + 1;
            attn_row(a, h, i, k0, e,
                     part ? part + ((i - q0) * (h1 - h0) + (h - h0)) * (hd + 2)
                          : NULL);
        }
    return 1;
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n,
                    float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++)
        y[i] = w[i] * (x[i] * r);
}

static void silu_mul(float *y, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
}

static void gelu_erf(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] * 0.70710678118654752)));
}

static void softmax(float *x, int64_t n)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = fmaxf(m, x[i]);
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += exp((double)x[i] - m);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(exp((double)x[i] - m) / s);
}

static void rope(float *x, int n_head, int hd, const float *c, const float *s)
{
    int half = hd / 2;
    for (int h = 0; h < n_head; h++) {
        float *p = x + (int64_t)h * hd;
        for (int i = 0; i < half; i++) {
            double a = p[i], b = p[i + half];
            p[i] = (float)(a * c[i] - b * s[i]);
            p[i + half] = (float)(b * c[i] + a * s[i]);
        }
    }
}

static void f32_to_bf16(uint16_t *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = vd__f32_to_bf16(x[i]);
}

static void bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = vd__bf16_to_f32(x[i]);
}

void vd__kern_init_ref(vd__kern *k)
{
    k->dot_f32 = dot_f32;
    k->matmul_rows = matmul_rows;
    for (int p = 0; p < 3; p++) {
        k->mm_tile[p] = NULL;
        k->mm_conv[p] = 0;
    }
    k->gemv_max_n = 0;
    k->attn_heads = attn_heads;
    k->attn_block = attn_block;
    k->attn_rows = 64;
    k->rmsnorm = rmsnorm;
    k->silu_mul = silu_mul;
    k->gelu_erf = gelu_erf;
    k->softmax = softmax;
    k->rope = rope;
    k->f32_to_bf16 = f32_to_bf16;
    k->bf16_to_f32 = bf16_to_f32;
    k->quant_act = quant_act;
}

/* Kernels: one dispatch table per ISA level, built lowest first so each
 * level inherits what a higher one does not override; the threaded entry
 * points that cut matrix products, attention and row-wise ops into tasks
 * for the pool; weight quantization (Q8, Q4) and the scalar conversions.
 * Nothing here allocates on the hot path: kernels use the pool's scratch. */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kern.h"

static vd__kern tables[4];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    vd__kern_init_ref(&tables[VD_ISA_REF]);
    tables[VD_ISA_REF].isa = VD_ISA_REF;
    unsigned f = vd__cpu_features();
    unsigned need2 = VD_CPU_AVX2 | VD_CPU_FMA | VD_CPU_F16C;
    unsigned need512 = need2 | VD_CPU_AVX512F | VD_CPU_AVX512BW |
                       VD_CPU_AVX512VL | VD_CPU_AVX512DQ;
    tables[VD_ISA_AVX2] = tables[VD_ISA_REF];
    tables[VD_ISA_AVX2].isa = VD_ISA_AVX2;
    if ((f & need2) == need2)
        vd__kern_init_avx2(&tables[VD_ISA_AVX2]);
    tables[VD_ISA_AVX512] = tables[VD_ISA_AVX2];
    tables[VD_ISA_AVX512].isa = VD_ISA_AVX512;
    if ((f & need512) == need512)
        vd__kern_init_avx512(&tables[VD_ISA_AVX512]);
    tables[VD_ISA_AVX512BF16] = tables[VD_ISA_AVX512];
    tables[VD_ISA_AVX512BF16].isa = VD_ISA_AVX512BF16;
    if ((f & need512) == need512 && (f & VD_CPU_AVX512BF16) &&
        (f & VD_CPU_AVX512VNNI))
        vd__kern_init_avx512bf16(&tables[VD_ISA_AVX512BF16]);
}

const vd__kern *vd__kern_for(vd__isa isa)
{
    pthread_once(&once, init);
    if ((unsigned)isa > VD_ISA_AVX512BF16 || isa > vd__isa_active())
        return NULL;
    return &tables[isa];
}

const vd__kern *vd__kern_get(void)
{
    return vd__kern_for(vd__isa_active());
}

/* ---- scalar conversions ---- */

float vd__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3FF;
            u = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7F800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t vd__f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

uint16_t vd__f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) /* NaN */
        return (uint16_t)(sign | 0x7E00);
    if (a >= 0x477FF000u) /* rounds to >= 65536: infinity */
        return (uint16_t)(sign | 0x7C00);
    if (a < 0x38800000u) {   /* below the smallest normal: subnormal or 0 */
        if (a < 0x33000000u) /* < 2^-25: rounds to zero */
            return (uint16_t)sign;
        uint32_t man = (a & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 14..24 */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xFFFu + ((a >> 13) & 1); /* round to nearest even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

void vd__f32_to_bf16_n(uint16_t *y, const float *x, int64_t n)
{
    vd__kern_get()->f32_to_bf16(y, x, n);
}

void vd__bf16_to_f32_n(float *y, const uint16_t *x, int64_t n)
{
    vd__kern_get()->bf16_to_f32(y, x, n);
}

/* ---- matrix rows ---- */

size_t vd__mat_data_bytes(vd__dtype dt, int64_t rows, int64_t cols)
{
    switch (dt) {
    case VD_DT_F32:
        return (size_t)rows * (size_t)cols * 4;
    case VD_DT_BF16:
    case VD_DT_F16:
        return (size_t)rows * (size_t)cols * 2;
    case VD_DT_Q8:
        return (size_t)rows * (size_t)VD_Q8_NB(cols) * VD_QBLK;
    case VD_DT_Q4:
        return (size_t)rows * (size_t)VD_Q4_NB(cols) * VD_QBLK / 2;
    }
    return 0;
}

size_t vd__mat_scale_bytes(vd__dtype dt, int64_t rows, int64_t cols)
{
    if (dt == VD_DT_Q8)
        return (size_t)rows * (size_t)VD_Q8_NB(cols) * 2;
    if (dt == VD_DT_Q4)
        return (size_t)rows * (size_t)VD_Q4_NB(cols) * 2;
    return 0;
}

void vd__mat_row_part_f32(const vd__mat *w, int64_t r, int64_t c0, int64_t n,
                          float *out)
{
    const unsigned char *base = w->data;
    const unsigned char *sc = w->scales;
    switch (w->dt) {
    case VD_DT_F32:
        memcpy(out, base + ((size_t)r * (size_t)w->cols + (size_t)c0) * 4,
               (size_t)n * 4);
        return;
    case VD_DT_BF16:
    case VD_DT_F16: {
        const unsigned char *p =
            base + ((size_t)r * (size_t)w->cols + (size_t)c0) * 2;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] =
                w->dt == VD_DT_BF16 ? vd__bf16_to_f32(h) : vd__f16_to_f32(h);
        }
        return;
    }
    case VD_DT_Q8: {
        int64_t nb = VD_Q8_NB(w->cols);
        const int8_t *q = (const int8_t *)base + r * nb * VD_QBLK;
        for (int64_t i = 0; i < n; i++) {
            int64_t c = c0 + i;
            uint16_t h;
            memcpy(&h, sc + 2 * (size_t)(r * nb + c / VD_QBLK), 2);
            out[i] = (float)q[c] * vd__f16_to_f32(h);
        }
        return;
    }
    case VD_DT_Q4: {
        int64_t nb = VD_Q4_NB(w->cols);
        const unsigned char *q = base + r * nb * (VD_QBLK / 2);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = c0 + i, b = c / VD_QBLK;
            uint16_t h;
            memcpy(&h, sc + 2 * (size_t)(r * nb + b), 2);
            unsigned char byte = q[(b / 2) * VD_QBLK + c % VD_QBLK];
            int v = (b & 1 ? byte >> 4 : byte & 15) - 8;
            out[i] = (float)v * vd__f16_to_f32(h);
        }
        return;
    }
    }
    memset(out, 0, (size_t)n * 4);
}

void vd__mat_row_f32(const vd__mat *w, int64_t r, float *out)
{
    vd__mat_row_part_f32(w, r, 0, w->cols, out);
}

void vd__mat_free(vd__mat *m)
{
    if (!m)
        return;
    vd__aligned_free(m->own);
    if (m->own) {
        m->own = NULL;
        m->data = m->scales = NULL;
    }
}

/* ---- quantization ---- */

/* Q8 block: the scale is amax / 127 rounded to fp16, and the values are
 * taken against the stored scale so that dequantization is what was
 * meant. */
static void quant_q8_block(const float *x, int n, int8_t *q, uint16_t *sh)
{
    float amax = 0;
    for (int i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    memset(q, 0, VD_QBLK);
    *sh = vd__f32_to_f16(amax / 127.0f);
    float s = vd__f16_to_f32(*sh);
    if (!(s > 0) || !isfinite(s))
        return;
    for (int i = 0; i < n; i++) {
        float v = rintf(x[i] / s);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}

/* Q4 block: values -8..7 times a scale that may be negative (so the value
 * of largest magnitude can take the -8 end). A few scales around the
 * largest value are tried; each is refitted by least squares to the
 * rounded values and the one with the least squared error wins. */
static void quant_q4_block(const float *x, int n, unsigned char *q,
                           uint16_t *sh)
{
    static const float tries[] = { -8.0f, -7.5f, -7.0f, -6.5f, 7.0f };
    float vmax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(vmax))
            vmax = x[i];
    memset(q, 8, VD_QBLK);
    *sh = 0;
    if (vmax == 0 || !isfinite(vmax))
        return;
    double best = INFINITY;
    float best_s = 0;
    for (size_t t = 0; t < sizeof tries / sizeof *tries; t++) {
        float inv = tries[t] / vmax;
        double sxq = 0, sqq = 0;
        for (int i = 0; i < n; i++) {
            float v = rintf(x[i] * inv);
            v = v > 7 ? 7 : v < -8 ? -8 : v;
            sxq += (double)x[i] * v;
            sqq += (double)v * v;
        }
        if (sqq == 0)
            continue;
        float s = (float)(sxq / sqq);
        s = vd__f16_to_f32(vd__f32_to_f16(s));
        if (s == 0)
            continue;
        double err = 0, is = 1.0 / s;
        for (int i = 0; i < n; i++) {
            double v = rint(x[i] * is);
            v = v > 7 ? 7 : v < -8 ? -8 : v;
            double d = x[i] - v * s;
            err += d * d;
        }
        if (err < best) {
            best = err;
            best_s = s;
        }
    }
    if (best_s == 0)
        return;
    *sh = vd__f32_to_f16(best_s);
    float is = 1.0f / best_s;
    for (int i = 0; i < n; i++) {
        float v = rintf(x[i] * is);
        v = v > 7 ? 7 : v < -8 ? -8 : v;
        q[i] = (unsigned char)(v + 8);
    }
}

typedef struct quant_task {
    const vd__mat *src;
    vd__mat *dst;
} quant_task;

static void quant_run(void *arg, int ith, int nth)
{
    quant_task *t = arg;
    const vd__mat *w = t->src;
    int64_t r0, r1;
    vd__split(w->rows, ith, nth, &r0, &r1);
    float x[VD_QBLK];
    for (int64_t r = r0; r < r1; r++) {
        if (t->dst->dt == VD_DT_Q8) {
            int64_t nb = VD_Q8_NB(w->cols);
            int8_t *q = (int8_t *)t->dst->data + r * nb * VD_QBLK;
            uint16_t *s = (uint16_t *)t->dst->scales + r * nb;
            for (int64_t b = 0; b < nb; b++) {
                int64_t c = b * VD_QBLK;
                int m = w->cols - c < VD_QBLK ? (int)(w->cols - c) : VD_QBLK;
                vd__mat_row_part_f32(w, r, c, m, x);
                quant_q8_block(x, m, q + c, s + b);
            }
        } else {
            int64_t nb = VD_Q4_NB(w->cols);
            unsigned char *q =
                (unsigned char *)t->dst->data + r * nb * (VD_QBLK / 2);
            uint16_t *s = (uint16_t *)t->dst->scales + r * nb;
            for (int64_t b = 0; b < nb; b += 2) {
                unsigned char v[2][VD_QBLK];
                for (int k = 0; k < 2; k++) {
                    int64_t c = (b + k) * VD_QBLK;
                    int m = c >= w->cols            ? 0
                            : w->cols - c < VD_QBLK ? (int)(w->cols - c)
                                                    : VD_QBLK;
                    if (m)
                        vd__mat_row_part_f32(w, r, c, m, x);
                    quant_q4_block(x, m, v[k], s + b + k);
                }
                unsigned char *p = q + (b / 2) * VD_QBLK;
                for (int j = 0; j < VD_QBLK; j++)
                    p[j] = (unsigned char)(v[0][j] | v[1][j] << 4);
            }
        }
    }
}

vd_status vd__quantize(vd_ctx *ctx, vd__pool *pool, const vd__mat *src,
                       vd__dtype dt, vd__mat *out)
{
    memset(out, 0, sizeof *out);
    if ((dt != VD_DT_Q8 && dt != VD_DT_Q4) ||
        (src->dt != VD_DT_F32 && src->dt != VD_DT_BF16 &&
         src->dt != VD_DT_F16) ||
        src->rows < 0 || src->cols < 0)
        return vd__fail(ctx, VD_ERR_ARG,
                        "quantize: unsupported dtypes %d -> %d", src->dt, dt);
    size_t nd = vd__mat_data_bytes(dt, src->rows, src->cols);
    size_t ns = vd__mat_scale_bytes(dt, src->rows, src->cols);
    size_t pad = (nd + 63) & ~(size_t)63, total;
    if (!vd__add_ok(pad, ns, &total))
        return vd__fail(ctx, VD_ERR_NOMEM, "quantize: matrix too large");
    unsigned char *mem = vd__aligned_alloc(ctx, total ? total : 64);
    if (!mem)
        return VD_ERR_NOMEM;
    out->dt = dt;
    out->rows = src->rows;
    out->cols = src->cols;
    out->data = mem;
    out->scales = mem + pad;
    out->own = mem;
    quant_task t = { src, out };
    vd__pool_run(pool, quant_run, &t);
    return VD_OK;
}

/* ---- matrix products ---- */

static vd_precision effective(const vd__mat *w, vd_precision prec)
{
    if (prec == VD_PREC_EXACT)
        return VD_PREC_EXACT;
    return w->dt == VD_DT_Q8 || w->dt == VD_DT_Q4 ? VD_PREC_INT8 : VD_PREC_BF16;
}

typedef struct mm_task {
    const vd__kern *k;
    vd__pool *pool;
    void *local; /* scratch when there is no pool */
    /* the products, one input: one for a GEMM, up to VD_MM_GROUP for a
     * GEMV, whose rows are counted over all of them in turn */
    vd__mm g[VD_MM_GROUP];
    int64_t goff[VD_MM_GROUP + 1];
    int ng;
    int64_t rchunk, tchunk, nr, nt; /* runs of rows (x tokens for a GEMM) */
    atomic_long next;
} mm_task;

static void *scratch_of(mm_task *t, int ith)
{
    return t->pool ? vd__pool_scratch(t->pool, ith) : t->local;
}

static void mm_tile_or_rows(mm_task *t, const vd__mm *m, int ith, int64_t r0,
                            int64_t r1, int64_t t0, int64_t t1)
{
    void *s = scratch_of(t, ith);
    if (s && t->k->mm_tile[m->prec](m, r0, r1, t0, t1, s, VD_POOL_SCRATCH))
        return;
    /* slow path, never fails */
    t->k->matmul_rows(m->w, m->x + t0 * m->w->cols, t1 - t0, m->bias,
                      m->y + t0 * m->w->rows, r0, r1, m->prec);
}

/* Levels without a fast kernel (the reference): rows split evenly. */
static void mm_run_rows(void *arg, int ith, int nth)
{
    mm_task *t = arg;
    const vd__mm *m = &t->g[0];
    int64_t r0, r1;
    vd__split(m->w->rows, ith, nth, &r0, &r1);
    if (r0 < r1)
        t->k->matmul_rows(m->w, m->x, m->n, m->bias, m->y, r0, r1, m->prec);
}

static void mm_run_grid(void *arg, int ith, int nth)
{
    mm_task *t = arg;
    (void)nth;
    long ntask = (long)(t->nr * t->nt);
    for (;;) {
        long i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (i >= ntask)
            break;
        int64_t rb = i / t->nt, tb = i % t->nt;
        int64_t r0 = rb * t->rchunk, t0 = tb * t->tchunk;
        const vd__mm *m = &t->g[0];
        int64_t r1 = r0 + t->rchunk < m->w->rows ? r0 + t->rchunk : m->w->rows;
        int64_t t1 = t0 + t->tchunk < m->n ? t0 + t->tchunk : m->n;
        mm_tile_or_rows(t, m, ith, r0, r1, t0, t1);
    }
}

/* GEMV runs of rows, counted over all the products in turn. */
static void mm_run_gemv(void *arg, int ith, int nth)
{
    mm_task *t = arg;
    (void)nth;
    for (;;) {
        long i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (i >= t->nr)
            break;
        int64_t r0 = i * t->rchunk, r1 = r0 + t->rchunk;
        for (int j = 0; j < t->ng; j++) {
            int64_t a = r0 > t->goff[j] ? r0 : t->goff[j];
            int64_t b = r1 < t->goff[j + 1] ? r1 : t->goff[j + 1];
            if (a < b)
                mm_tile_or_rows(t, &t->g[j], ith, a - t->goff[j],
                                b - t->goff[j], 0, t->g[j].n);
        }
    }
}

/* ---- activations converted once per call (vd__mm xb / xq) ---- */

typedef struct conv_task {
    const vd__kern *k;
    vd__mm *m;
    uint16_t *xb;
    int8_t *xq;
    float *xs;
    int32_t *xz;
    int32_t zp;
    int64_t pad; /* zero rows after the n real ones */
} conv_task;

static void conv_run(void *arg, int ith, int nth)
{
    conv_task *t = arg;
    vd__mm *m = t->m;
    int64_t K = m->w->cols, n = m->n, r0, r1;
    vd__split(n + t->pad, ith, nth, &r0, &r1);
    for (int64_t i = r0; i < r1; i++) {
        const float *xi = m->x + i * K;
        if (t->xb) {
            uint16_t *d = t->xb + i * m->xb_ld;
            int64_t done = 0;
            if (i < n) {
                t->k->f32_to_bf16(d, xi, K);
                done = K;
            }
            memset(d + done, 0, (size_t)(m->xb_ld - done) * 2);
            continue;
        }
        int64_t nb = m->xnb, K32 = i < n ? K & ~(int64_t)31 : 0;
        int8_t *q = t->xq + i * nb * VD_QBLK;
        float *s = t->xs + i * nb;
        int32_t *z = t->xz + i * nb;
        int64_t b = K32 / VD_QBLK;
        if (K32)
            t->k->quant_act(q, s, z, xi, K32);
        if (i < n && K32 < K) { /* the last, partial block */
            float tail[VD_QBLK] = { 0 };
            memcpy(tail, xi + K32, (size_t)(K - K32) * 4);
            t->k->quant_act(q + b * VD_QBLK, s + b, z + b, tail, VD_QBLK);
            b++;
        }
        memset(q + b * VD_QBLK, 0, (size_t)(nb - b) * VD_QBLK);
        for (int64_t j = b; j < nb; j++) {
            s[j] = 0;
            z[j] = 0;
        }
        for (int64_t j = 0; j < b; j++)
            z[j] *= -t->zp;
    }
}

/* Zero rows the GEMM's register tiles may read past the last token; the
 * GEMV reads only real rows. */
static int64_t conv_pad(const vd__kern *k, const vd__mm *m)
{
    return m->n <= k->gemv_max_n ? 0 : VD_MM_PAD;
}

/* Row stride of the bf16 activations: whole 64-byte lines, and never a
 * multiple of 512 bytes - at a 4 KiB stride (K = 2048) the 14 rows a GEMM
 * micro-kernel reads side by side fall into one L1 set and evict each
 * other. */
static int64_t conv_ld_bf16(int64_t K)
{
    int64_t ld = (K + 31) & ~(int64_t)31;
    return ld % 256 ? ld : ld + 32;
}

/* Bytes of M's converted activations. */
static size_t conv_bytes(const vd__kern *k, const vd__mm *m)
{
    size_t rows = (size_t)(m->n + conv_pad(k, m));
    int64_t K = m->w->cols;
    if (m->prec == VD_PREC_BF16)
        return rows * (size_t)conv_ld_bf16(K) * 2;
    int64_t nb = m->w->dt == VD_DT_Q8 ? VD_Q8_NB(K) : VD_Q4_NB(K);
    return rows * (size_t)nb * (VD_QBLK + 8);
}

static void conv_fill(const vd__kern *kern, vd__pool *pool, vd__mm *m,
                      void *buf)
{
    conv_task t;
    memset(&t, 0, sizeof t);
    t.k = kern;
    t.m = m;
    t.pad = conv_pad(kern, m);
    int64_t K = m->w->cols, rows = m->n + t.pad;
    if (m->prec == VD_PREC_BF16) {
        m->xb_ld = conv_ld_bf16(K);
        t.xb = buf;
    } else {
        m->xnb = m->w->dt == VD_DT_Q8 ? VD_Q8_NB(K) : VD_Q4_NB(K);
        t.xq = buf;
        t.xs = (float *)(t.xq + rows * m->xnb * VD_QBLK);
        t.xz = (int32_t *)(t.xs + rows * m->xnb);
        t.zp = m->w->dt == VD_DT_Q8 ? 128 : 8;
    }
    vd__pool_run(m->n * K < (1 << 14) ? NULL : pool, conv_run, &t);
    m->xb = t.xb;
    m->xq = t.xq;
    m->xs = t.xs;
    m->xz = t.xz;
}

/* Whether W[0..nw) can run as one GEMV: a fast kernel, one weight type
 * and width, every product but the last on whole 16-row runs. */
static int group_ok(const vd__kern *kern, int nw, const vd__mat *const *w,
                    int64_t n, vd_precision prec)
{
    if (nw > VD_MM_GROUP || n > kern->gemv_max_n ||
        !kern->mm_tile[effective(w[0], prec)])
        return 0;
    for (int j = 0; j < nw; j++)
        if (w[j]->dt != w[0]->dt || w[j]->cols != w[0]->cols ||
            w[j]->rows <= 0 || (j < nw - 1 && w[j]->rows % 16))
            return 0;
    return 1;
}

void vd__matmul_group_k(const vd__kern *kern, vd__pool *pool, int nw,
                        const vd__mat *const *w, const float *x, int64_t n,
                        const float *const *bias, float *const *y,
                        vd_precision prec)
{
    if (n <= 0 || nw <= 0)
        return;
    if (nw > 1 && !group_ok(kern, nw, w, n, prec)) {
        for (int j = 0; j < nw; j++)
            vd__matmul_group_k(kern, pool, 1, &w[j], x, n,
                               bias ? &bias[j] : NULL, &y[j], prec);
        return;
    }
    if (w[0]->rows <= 0)
        return;
    mm_task t;
    memset(&t, 0, sizeof t);
    t.k = kern;
    t.pool = pool;
    t.ng = nw;
    for (int j = 0; j < nw; j++) {
        vd__mm *m = &t.g[j];
        m->w = w[j];
        m->x = x;
        m->n = n;
        m->bias = bias ? bias[j] : NULL;
        m->y = y[j];
        m->prec = effective(w[j], prec);
        t.goff[j + 1] = t.goff[j] + w[j]->rows;
    }
    atomic_init(&t.next, 0);
    int fast = kern->mm_tile[t.g[0].prec] != NULL;
    void *own_conv = NULL;
    if (fast && !pool)
        t.local = vd__aligned_alloc(NULL, VD_POOL_SCRATCH);
    if (fast && kern->mm_conv[t.g[0].prec]) {
        /* activations converted once, not by every tile or product */
        size_t nb = conv_bytes(kern, &t.g[0]);
        void *conv = pool ? vd__pool_shared(pool, nb)
                          : (own_conv = vd__aligned_alloc(NULL, nb));
        if (conv) { /* else the kernels convert per tile */
            conv_fill(kern, pool, &t.g[0], conv);
            for (int j = 1; j < nw; j++) {
                vd__mm *m = &t.g[j];
                m->xb = t.g[0].xb;
                m->xb_ld = t.g[0].xb_ld;
                m->xq = t.g[0].xq;
                m->xs = t.g[0].xs;
                m->xz = t.g[0].xz;
                m->xnb = t.g[0].xnb;
            }
        }
    }
    int nth = vd__pool_size(pool);
    if (!fast) {
        vd__pool_run(pool, mm_run_rows, &t);
    } else if (n <= kern->gemv_max_n) {
        /* GEMV: one run of rows per worker (whole 16-row groups), each a
         * single stream. The runs are taken from a counter, so a worker
         * that starts late may find its run taken by one that finished.
         * Eight chunks per worker balanced a busy machine better but cost
         * 1-12% on a quiet one (q4 most: a worker's prefetch ran 16 KiB
         * past each of its chunks, into rows another worker reads) */
        int64_t rows = t.goff[nw], rc = (rows + nth - 1) / nth;
        rc = (rc + 15) & ~(int64_t)15;
        t.rchunk = rc < 64 ? 64 : rc;
        t.nr = (rows + t.rchunk - 1) / t.rchunk;
        vd__pool_run(pool, mm_run_gemv, &t);
    } else {
        /* GEMM (one product): tiles of up to 256 rows x 512 tokens (256
         * below 512 tokens), at least two per worker when the shape
         * allows, handed out in order; each tile packs its own weights, so
         * tiles are independent, and a 512-token prompt packs each weight
         * once (5-10% faster than two 256-token tiles on one core). */
        int64_t rows = w[0]->rows, rc = 256, tc = n >= 512 ? 512 : 256;
        while (rc > 64 &&
               ((rows + rc - 1) / rc) * ((n + tc - 1) / tc) < 2 * nth)
            rc /= 2;
        t.rchunk = rc;
        t.tchunk = tc;
        t.nr = (rows + rc - 1) / rc;
        t.nt = (n + tc - 1) / tc;
        vd__pool_run(pool, mm_run_grid, &t);
    }
    vd__aligned_free(t.local);
    vd__aligned_free(own_conv);
}

void vd__matmul_k(const vd__kern *kern, vd__pool *pool, const vd__mat *w,
                  const float *x, int64_t n, const float *bias, float *y,
                  vd_precision prec)
{
    vd__matmul_group_k(kern, pool, 1, &w, x, n, bias ? &bias : NULL, &y, prec);
}

void vd__matmul(vd__pool *pool, const vd__mat *w, const float *x, int64_t n,
                const float *bias, float *y, vd_precision prec)
{
    vd__matmul_k(vd__kern_get(), pool, w, x, n, bias, y, prec);
}

void vd__matmul_group(vd__pool *pool, int nw, const vd__mat *const *w,
                      const float *x, int64_t n, const float *const *bias,
                      float *const *y, vd_precision prec)
{
    vd__matmul_group_k(vd__kern_get(), pool, nw, w, x, n, bias, y, prec);
}

/* ---- attention ---- */

/* Query rows per task: as many as the kernel takes (each packed key block
 * is reused by every row), but at least two tasks per worker. */
static int64_t attn_qblock(const vd__kern *k, const vd__attn_args *a, int nth)
{
    int group = a->n_head / a->n_kv_head;
    int64_t qb = k->attn_rows / group;
    while (qb > 16 && ((a->nq + qb - 1) / qb) * a->n_kv_head < 2 * nth)
        qb /= 2;
    return qb < 1 ? 1 : qb;
}

typedef struct at_task {
    const vd__kern *k;
    vd__pool *pool;
    void *local;
    const vd__attn_args *a;
    int64_t qb;   /* queries per block */
    long nblocks; /* query blocks over all segments */
    long ntask;   /* nblocks x n_kv_head */
    atomic_long next;
} at_task;

/* Query block B (counted over all segments) -> queries and keys. */
static void attn_block_range(const at_task *t, long b, int64_t *q0, int64_t *q1,
                             int64_t *k0, int64_t *k1)
{
    const vd__attn_args *a = t->a;
    if (a->nseg <= 0) {
        *q0 = b * t->qb;
        *q1 = *q0 + t->qb < a->nq ? *q0 + t->qb : a->nq;
        *k0 = 0;
        *k1 = a->nk;
        return;
    }
    for (int s = 0; s < a->nseg; s++) {
        int64_t len = a->seg[s + 1] - a->seg[s];
        long nb = (long)((len + t->qb - 1) / t->qb);
        if (b < nb) {
            *q0 = a->seg[s] + b * t->qb;
            *q1 = *q0 + t->qb < a->seg[s + 1] ? *q0 + t->qb : a->seg[s + 1];
            *k0 = a->seg[s];
            *k1 = a->seg[s + 1];
            return;
        }
        b -= nb;
    }
    *q0 = *q1 = *k0 = *k1 = 0;
}

static void at_run(void *arg, int ith, int nth)
{
    at_task *t = arg;
    const vd__attn_args *a = t->a;
    (void)nth;
    int group = a->n_head / a->n_kv_head;
    void *s = t->pool ? vd__pool_scratch(t->pool, ith) : t->local;
    for (;;) {
        long i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (i >= t->ntask)
            break;
        /* the costliest causal blocks (the last queries) first */
        long b = t->nblocks - 1 - i / a->n_kv_head;
        int g = (int)(i % a->n_kv_head);
        int64_t q0, q1, k0, k1;
        attn_block_range(t, b, &q0, &q1, &k0, &k1);
        if (q0 >= q1)
            continue;
        int h0 = g * group, h1 = h0 + group;
        if (!s || !t->k->attn_block(a, h0, h1, q0, q1, k0, k1, NULL, s,
                                    VD_POOL_SCRATCH))
            vd__kern_for(VD_ISA_REF)
                ->attn_block(a, h0, h1, q0, q1, k0, k1, NULL, NULL, 0);
    }
}

/* ---- decoding: few query rows, many keys ----
 * Every task takes all heads over one chunk of the keys (whole key rows,
 * read in order: the cache streams at memory speed) and leaves a partial
 * result (unnormalised output, max score, sum of exponentials) per row;
 * the caller merges the chunks like the online softmax does. */

typedef struct split_task {
    const vd__kern *k;
    vd__pool *pool;
    void *local;
    const vd__attn_args *a;
    int64_t chunk;
    long nchunk;
    float *part; /* [nchunk][nq x n_head][head_dim + 2] */
    atomic_long next;
} split_task;

static void split_run(void *arg, int ith, int nth)
{
    split_task *t = arg;
    const vd__attn_args *a = t->a;
    (void)nth;
    void *s = t->pool ? vd__pool_scratch(t->pool, ith) : t->local;
    size_t per = (size_t)(a->nq * a->n_head) * (size_t)(a->head_dim + 2);
    for (;;) {
        long c = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (c >= t->nchunk)
            break;
        int64_t k0 = c * t->chunk;
        int64_t k1 = k0 + t->chunk < a->nk ? k0 + t->chunk : a->nk;
        float *part = t->part + (size_t)c * per;
        if (!s || !t->k->attn_block(a, 0, a->n_head, 0, a->nq, k0, k1, part, s,
                                    VD_POOL_SCRATCH))
            vd__kern_for(VD_ISA_REF)
                ->attn_block(a, 0, a->n_head, 0, a->nq, k0, k1, part, NULL, 0);
    }
}

static void split_merge(const split_task *t)
{
    const vd__attn_args *a = t->a;
    int hd = a->head_dim;
    size_t per = (size_t)(a->nq * a->n_head) * (size_t)(hd + 2);
    for (int64_t i = 0; i < a->nq; i++)
        for (int h = 0; h < a->n_head; h++) {
            size_t row =
                ((size_t)i * (size_t)a->n_head + (size_t)h) * (size_t)(hd + 2);
            float m = -INFINITY, l = 0;
            for (long c = 0; c < t->nchunk; c++)
                m = fmaxf(m, t->part[(size_t)c * per + row + hd]);
            float *o = a->o + i * a->o_stride + (int64_t)h * hd;
            for (int d = 0; d < hd; d++)
                o[d] = 0;
            for (long c = 0; c < t->nchunk; c++) {
                const float *p = t->part + (size_t)c * per + row;
                if (!(p[hd + 1] > 0))
                    continue; /* no key of this chunk for this row */
                float f = expf(p[hd] - m);
                l += p[hd + 1] * f;
                for (int d = 0; d < hd; d++)
                    o[d] += p[d] * f;
            }
            float inv = l > 0 ? 1.0f / l : 0.0f;
            for (int d = 0; d < hd; d++)
                o[d] *= inv;
        }
}

/* Decoding shapes go through the split; returns 0 when the call is not
 * one (or no memory for the partial results). */
static int attention_split(const vd__kern *kern, vd__pool *pool,
                           const vd__attn_args *a)
{
    int nth = vd__pool_size(pool);
    int64_t rows = a->nq * a->n_head;
    /* the reference keeps its exact per-row path */
    if (kern->isa == VD_ISA_REF || a->nseg > 0 || rows > kern->attn_rows ||
        a->nk < 512)
        return 0;
    split_task t;
    memset(&t, 0, sizeof t);
    /* one chunk per worker, at least 256 keys each, cut on 16 keys: two
     * per worker in whole 64-key blocks left one worker 5 blocks to the
     * other's 4 at 576 keys, and a cold first block per chunk */
    long nchunk = nth;
    if (a->nk / 256 < nchunk)
        nchunk = (long)(a->nk / 256);
    int64_t chunk = (a->nk + nchunk - 1) / nchunk;
    chunk = (chunk + 15) & ~(int64_t)15;
    t.nchunk = (long)((a->nk + chunk - 1) / chunk);
    t.chunk = chunk;
    size_t bytes = (size_t)t.nchunk * (size_t)rows * (size_t)(a->head_dim + 2) *
                   sizeof(float);
    void *own = NULL;
    t.part = pool ? vd__pool_shared(pool, bytes)
                  : (own = vd__aligned_alloc(NULL, bytes));
    if (!t.part)
        return 0;
    t.k = kern;
    t.pool = pool;
    t.a = a;
    atomic_init(&t.next, 0);
    if (!pool)
        t.local = vd__aligned_alloc(NULL, VD_POOL_SCRATCH);
    vd__pool_run(pool, split_run, &t);
    split_merge(&t);
    vd__aligned_free(t.local);
    vd__aligned_free(own);
    return 1;
}

void vd__attention_k(const vd__kern *kern, vd__pool *pool,
                     const vd__attn_args *a)
{
    if (a->nq <= 0 || a->n_kv_head <= 0 || a->n_head % a->n_kv_head)
        return;
    if (attention_split(kern, pool, a))
        return;
    at_task t;
    memset(&t, 0, sizeof t);
    t.k = kern;
    t.pool = pool;
    t.a = a;
    t.qb = attn_qblock(kern, a, vd__pool_size(pool));
    if (a->nseg > 0) {
        for (int s = 0; s < a->nseg; s++)
            t.nblocks += (long)((a->seg[s + 1] - a->seg[s] + t.qb - 1) / t.qb);
    } else {
        t.nblocks = (long)((a->nq + t.qb - 1) / t.qb);
    }
    t.ntask = t.nblocks * a->n_kv_head;
    atomic_init(&t.next, 0);
    if (!pool)
        t.local = vd__aligned_alloc(NULL, VD_POOL_SCRATCH);
    vd__pool_run(pool, at_run, &t);
    vd__aligned_free(t.local);
}

void vd__attention(vd__pool *pool, const vd__attn_args *a)
{
    vd__attention_k(vd__kern_get(), pool, a);
}

/* ---- row-wise ops ---- */

typedef enum { OP_RMS, OP_SILU, OP_GELU, OP_SOFTMAX, OP_ROPE } rowop;

typedef struct row_task {
    const vd__kern *k;
    rowop op;
    float *y;
    const float *x, *w, *u, *c, *s;
    int64_t n, dim, stride;
    int n_head, hd;
    float eps;
} row_task;

static void row_run(void *arg, int ith, int nth)
{
    row_task *t = arg;
    int64_t r0, r1;
    if (t->op == OP_SILU || t->op == OP_GELU) { /* flat: cut in 64s */
        vd__split((t->n + 63) / 64, ith, nth, &r0, &r1);
        r0 *= 64;
        r1 = r1 * 64 < t->n ? r1 * 64 : t->n;
        if (r0 >= r1)
            return;
        if (t->op == OP_SILU)
            t->k->silu_mul(t->y + r0, t->x + r0, t->u + r0, r1 - r0);
        else
            t->k->gelu_erf(t->y + r0, t->x + r0, r1 - r0);
        return;
    }
    vd__split(t->n, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        switch (t->op) {
        case OP_RMS:
            t->k->rmsnorm(t->y + r * t->dim, t->x + r * t->dim, t->w, t->dim,
                          t->eps);
            break;
        case OP_SOFTMAX:
            t->k->softmax(t->y + r * t->dim, t->dim);
            break;
        case OP_ROPE: {
            int64_t half = t->hd / 2;
            t->k->rope(t->y + r * t->stride, t->n_head, t->hd, t->c + r * half,
                       t->s + r * half);
            break;
        }
        default:
            break;
        }
    }
}

/* Small jobs stay on the calling thread: a dispatch costs more than
 * a few thousand elements of work. */
static void row_go(vd__pool *pool, row_task *t, int64_t elems)
{
    t->k = vd__kern_get();
    vd__pool_run(elems < (1 << 15) ? NULL : pool, row_run, t);
}

void vd__rmsnorm(vd__pool *pool, float *y, const float *x, const float *w,
                 int64_t n, int64_t dim, float eps)
{
    row_task t = {
        .op = OP_RMS, .y = y, .x = x, .w = w, .n = n, .dim = dim, .eps = eps
    };
    row_go(pool, &t, n * dim);
}

void vd__silu_mul(vd__pool *pool, float *y, const float *g, const float *u,
                  int64_t n)
{
    row_task t = { .op = OP_SILU, .y = y, .x = g, .u = u, .n = n };
    row_go(pool, &t, n);
}

void vd__gelu_erf(vd__pool *pool, float *y, const float *x, int64_t n)
{
    row_task t = { .op = OP_GELU, .y = y, .x = x, .n = n };
    row_go(pool, &t, n);
}

void vd__softmax(vd__pool *pool, float *x, int64_t n, int64_t dim)
{
    row_task t = { .op = OP_SOFTMAX, .y = x, .n = n, .dim = dim };
    row_go(pool, &t, n * dim);
}

void vd__rope(vd__pool *pool, float *x, int64_t n, int64_t stride, int n_head,
              int hd, const float *c, const float *s)
{
    row_task t = { .op = OP_ROPE,
                   .y = x,
                   .n = n,
                   .stride = stride,
                   .n_head = n_head,
                   .hd = hd,
                   .c = c,
                   .s = s };
    row_go(pool, &t, n * n_head * hd);
}

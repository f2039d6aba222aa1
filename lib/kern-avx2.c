/* Kernels, AVX2 + FMA (+ F16C): built with -mavx2 -mfma -mf16c and only
 * called after runtime detection. The same algorithms as kern-avx512.c at
 * 8 lanes and 16 registers: a prefetched GEMV for decoding, a 6x16 GEMM on
 * weight panels widened once per tile, int8 products through vpmaddubsw
 * (no VNNI at this level), tiled online-softmax attention, the row ops.
 * bf16 precision is emulated by rounding, exactly like the reference. */
#include "config.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kern.h"

#define INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------ */

/* lanes < N set (N clamped to 0..8), for maskload / maskstore */
INLINE __m256i lanes(int64_t n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE __m256 loadn(const float *p, int64_t n)
{
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes(n));
}

INLINE void storen(float *p, int64_t n, __m256 v)
{
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, lanes(n), v);
}

INLINE __m256 widen_bf16(__m128i h)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Round to bf16 bits (nearest even, NaN kept quiet), as the reference. */
INLINE __m256i bf16_bits(__m256 x)
{
    __m256i u = _mm256_castps_si256(x);
    __m256i lsb =
        _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r =
        _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb);
    __m256i nan =
        _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)),
                           _mm256_set1_epi32(0x7F800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)),
                           nan);
    return _mm256_srli_epi32(r, 16);
}

INLINE __m256 round_bf16(__m256 x)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(bf16_bits(x), 16));
}

INLINE float hsum(__m256 v)
{
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float hmax(__m256 v)
{
    __m128 s =
        _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE int32_t hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Transpose 8x8 floats in place. */
INLINE void tr8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) {
        u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int e = 0; e < 4; e++) {
        r[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
        r[4 + e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
    }
}

/* 8 values of row R from column C, N <= 8 valid, as fp32. */
INLINE __m256 load_w8(const vd__mat *w, int64_t r, int64_t c, int64_t n)
{
    const unsigned char *base = w->data;
    if (n >= 8) {
        switch (w->dt) {
        case VD_DT_F32:
            return _mm256_loadu_ps((const float *)base + r * w->cols + c);
        case VD_DT_BF16:
            return widen_bf16(_mm_loadu_si128(
                (const __m128i *)((const uint16_t *)base + r * w->cols + c)));
        case VD_DT_F16:
            return _mm256_cvtph_ps(_mm_loadu_si128(
                (const __m128i *)((const uint16_t *)base + r * w->cols + c)));
        default:
            break;
        }
    }
    float tmp[8] = { 0 };
    vd__mat_row_part_f32(w, r, c, n < 8 ? n : 8, tmp);
    return _mm256_loadu_ps(tmp);
}

/* ---------------------------------------------------------------------
 * exp and friends
 * ------------------------------------------------------------------ */

INLINE __m256 exp256(__m256 x)
{
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.37f)),
                      _mm256_set1_ps(-87.33f));
    __m256 n =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

INLINE __m256 silu256(__m256 g)
{
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* See gelu512 in kern-avx512.c: erfc through t exp(-z^2 + P(t)). */
INLINE __m256 gelu256(__m256 x)
{
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    __m256 t = _mm256_div_ps(
        _mm256_set1_ps(1.0f),
        _mm256_fmadd_ps(az, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
    p = _mm256_fnmadd_ps(az, az, p);
    /* exp of arguments below -87.33 is clamped: erfc is 0 there anyway */
    __m256 erfc = _mm256_mul_ps(t, exp256(p));
    erfc = _mm256_and_ps(erfc,
                         _mm256_cmp_ps(p, _mm256_set1_ps(-87.33f), _CMP_GT_OQ));
    __m256 pos = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GE_OQ);
    __m256 onep =
        _mm256_blendv_ps(erfc, _mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), pos);
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), onep);
}

/* ---------------------------------------------------------------------
 * row ops
 * ------------------------------------------------------------------ */

static float dot_f32(const float *a, const float *b, size_t n)
{
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i),
                              acc);
    float r = hsum(acc);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n,
                    float eps)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 v2 = _mm256_loadu_ps(x + i + 16);
        __m256 v3 = _mm256_loadu_ps(x + i + 24);
        a0 = _mm256_fmadd_ps(v0, v0, a0);
        a1 = _mm256_fmadd_ps(v1, v1, a1);
        a2 = _mm256_fmadd_ps(v2, v2, a2);
        a3 = _mm256_fmadd_ps(v3, v3, a3);
    }
    for (; i < n; i += 8) {
        __m256 v = loadn(x + i, n - i);
        a0 = _mm256_fmadd_ps(v, v, a0);
    }
    double ss = (double)hsum(_mm256_add_ps(a0, a1)) +
                (double)hsum(_mm256_add_ps(a2, a3));
    __m256 r = _mm256_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    for (i = 0; i < n; i += 8) {
        __m256 v = _mm256_mul_ps(loadn(x + i, n - i), r);
        storen(y + i, n - i, _mm256_mul_ps(loadn(w + i, n - i), v));
    }
}

static void silu_mul(float *y, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i += 8)
        storen(
            y + i, n - i,
            _mm256_mul_ps(silu256(loadn(g + i, n - i)), loadn(u + i, n - i)));
}

static void gelu_erf(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 8)
        storen(y + i, n - i, gelu256(loadn(x + i, n - i)));
}

static void softmax(float *x, int64_t n)
{
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 8)
        mx = _mm256_max_ps(
            mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), loadn(x + i, n - i),
                                 _mm256_castsi256_ps(lanes(n - i))));
    __m256 m = _mm256_set1_ps(hmax(mx)), s = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(loadn(x + i, n - i), m)),
                                 _mm256_castsi256_ps(lanes(n - i)));
        s = _mm256_add_ps(s, e);
        storen(x + i, n - i, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum(s));
    for (int64_t i = 0; i < n; i += 8)
        storen(x + i, n - i, _mm256_mul_ps(loadn(x + i, n - i), inv));
}

static void rope(float *x, int n_head, int hd, const float *c, const float *s)
{
    int half = hd / 2;
    for (int h = 0; h < n_head; h++) {
        float *p = x + (int64_t)h * hd;
        for (int i = 0; i < half; i += 8) {
            int64_t n = half - i;
            __m256 a = loadn(p + i, n), b = loadn(p + half + i, n);
            __m256 cc = loadn(c + i, n), ss = loadn(s + i, n);
            storen(p + i, n, _mm256_fmsub_ps(a, cc, _mm256_mul_ps(b, ss)));
            storen(p + half + i, n,
                   _mm256_fmadd_ps(b, cc, _mm256_mul_ps(a, ss)));
        }
    }
}

static void f32_to_bf16(uint16_t *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i b = bf16_bits(_mm256_loadu_ps(x + i));
        __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(b),
                                     _mm256_extracti128_si256(b, 1));
        _mm_storeu_si128((__m128i *)(y + i), p);
    }
    for (; i < n; i++)
        y[i] = vd__f32_to_bf16(x[i]);
}

static void bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         widen_bf16(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = vd__bf16_to_f32(x[i]);
}

/* One block of up to 32 activations, exactly as the reference. */
INLINE float quant_block32(const float *x, int64_t n, int8_t *q, int32_t *sum)
{
    __m256 v[4];
    __m256 am = _mm256_setzero_ps(), ab = _mm256_set1_ps(-0.0f);
    for (int c = 0; c < 4; c++) {
        v[c] = loadn(x + 8 * c, n - 8 * c);
        am = _mm256_max_ps(am, _mm256_andnot_ps(ab, v[c]));
    }
    float amax = hmax(am);
    if (amax == 0 || !isfinite(amax)) {
        memset(q, 0, VD_QBLK);
        *sum = 0;
        return 0;
    }
    __m256 inv = _mm256_set1_ps(127.0f / amax);
    __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    __m256i iv[4], s = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        iv[c] = _mm256_cvtps_epi32(_mm256_mul_ps(v[c], inv));
        iv[c] = _mm256_min_epi32(_mm256_max_epi32(iv[c], lo), hi);
        s = _mm256_add_epi32(s, iv[c]);
    }
    /* packs work per 128-bit lane: fix the order with one permute */
    __m256i w16a = _mm256_packs_epi32(iv[0], iv[1]);
    __m256i w16b = _mm256_packs_epi32(iv[2], iv[3]);
    __m256i b8 = _mm256_packs_epi16(w16a, w16b);
    b8 = _mm256_permutevar8x32_epi32(b8,
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, b8);
    *sum = hsum_i32(s);
    return amax / 127.0f;
}

static void quant_act(int8_t *q, float *s, int32_t *sum, const float *x,
                      int64_t n)
{
    for (int64_t b = 0; b < n / VD_QBLK; b++)
        s[b] =
            quant_block32(x + b * VD_QBLK, VD_QBLK, q + b * VD_QBLK, sum + b);
}

/* ---------------------------------------------------------------------
 * exact GEMV (f32 / bf16 / f16 rows), RB rows x NT tokens at a time
 * ------------------------------------------------------------------ */

#define GEMV_MAX 4

INLINE __m256 load_w8u(const vd__mat *w, const unsigned char *p)
{
    switch (w->dt) {
    case VD_DT_F32:
        return _mm256_loadu_ps((const float *)p);
    case VD_DT_BF16:
        return widen_bf16(_mm_loadu_si128((const __m128i *)p));
    default:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    }
}

/* Rows one at a time as one sequential stream, software-prefetched
 * PF_BYTES ahead (never past the matrix): the hardware prefetchers stop at
 * every 4 KiB row end. Faster than rows side by side (see kern-avx512.c). */
#define PF_BYTES 16384

INLINE void gemv_exact_nt(const vd__mat *w, const float *x, int NT, int rnd,
                          const float *bias, float *y, int64_t r0, int64_t r1)
{
    int64_t K = w->cols, rows = w->rows, K16 = K & ~(int64_t)15;
    int64_t es = w->dt == VD_DT_F32 ? 4 : 2, rs = K * es;
    const unsigned char *base = w->data, *end = base + rows * rs;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *wr = base + r * rs;
        __m256 acc[GEMV_MAX][2];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            acc[t][0] = acc[t][1] = _mm256_setzero_ps();
        for (int64_t k = 0; k < K16; k += 16) {
            const unsigned char *pf = wr + k * es + PF_BYTES;
            if ((k * es & 63) == 0 && pf < end)
                _mm_prefetch((const char *)pf, _MM_HINT_T0);
            __m256 w0 = load_w8u(w, wr + k * es);
            __m256 w1 = load_w8u(w, wr + (k + 8) * es);
            if (rnd) {
                w0 = round_bf16(w0);
                w1 = round_bf16(w1);
            }
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * K + k),
                                            acc[t][0]);
                acc[t][1] = _mm256_fmadd_ps(
                    w1, _mm256_loadu_ps(x + t * K + k + 8), acc[t][1]);
            }
        }
        for (int64_t k = K16; k < K; k += 8) {
            __m256 wv = load_w8(w, r, k, K - k);
            if (rnd)
                wv = round_bf16(wv);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                acc[t][0] =
                    _mm256_fmadd_ps(wv, loadn(x + t * K + k, K - k), acc[t][0]);
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            y[t * rows + r] = hsum(_mm256_add_ps(acc[t][0], acc[t][1])) +
                              (bias ? bias[r] : 0.0f);
    }
}

#define GEMV_EXACT_DT(name, DT)                                                \
    static void name(const vd__mat *w, const float *x, int nt, int rnd,        \
                     const float *bias, float *y, int64_t r0, int64_t r1)      \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        switch (nt) {                                                          \
        case 1:                                                                \
            gemv_exact_nt(&c, x, 1, rnd, bias, y, r0, r1);                     \
            break;                                                             \
        case 2:                                                                \
            gemv_exact_nt(&c, x, 2, rnd, bias, y, r0, r1);                     \
            break;                                                             \
        case 3:                                                                \
            gemv_exact_nt(&c, x, 3, rnd, bias, y, r0, r1);                     \
            break;                                                             \
        default:                                                               \
            gemv_exact_nt(&c, x, 4, rnd, bias, y, r0, r1);                     \
            break;                                                             \
        }                                                                      \
    }
GEMV_EXACT_DT(gemv_exact_f32, VD_DT_F32)
GEMV_EXACT_DT(gemv_exact_bf16, VD_DT_BF16)
GEMV_EXACT_DT(gemv_exact_f16, VD_DT_F16)

/* Q8 / Q4 rows dequantized in registers, one block (32 values) at a time,
 * two FMA chains per token. */
INLINE void gemv_exact_q_nt(const vd__mat *w, const float *x, int NT,
                            const float *bias, float *y, int64_t r0, int64_t r1)
{
    int64_t K = w->cols, rows = w->rows;
    int q8 = w->dt == VD_DT_Q8;
    int64_t nb = q8 ? VD_Q8_NB(K) : VD_Q4_NB(K);
    int64_t rs = q8 ? nb * VD_QBLK : nb * (VD_QBLK / 2);
    const unsigned char *base = w->data;
    const uint16_t *sc = w->scales;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *wr = base + r * rs;
        int64_t pfr = 16384 / rs > 4 ? 16384 / rs : 4; /* ~16 KiB ahead */
        const unsigned char *pf = r + pfr < r1 ? wr + pfr * rs : wr;
        __m256 acc[GEMV_MAX], acc2[GEMV_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            acc[t] = acc2[t] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb && b * VD_QBLK < K; b++) {
            int64_t k = b * VD_QBLK;
            float s = _cvtsh_ss(sc[r * nb + b]);
            __m256 v[4];
            if (q8) {
                _mm_prefetch((const char *)(pf + k), _MM_HINT_T0);
                __m256i q = _mm256_loadu_si256((const __m256i *)(wr + k));
                __m128i q0 = _mm256_castsi256_si128(q);
                __m128i q1 = _mm256_extracti128_si256(q, 1);
                __m256 sv = _mm256_set1_ps(s);
                v[0] = _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0)), sv);
                v[1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                         _mm_unpackhi_epi64(q0, q0))),
                                     sv);
                v[2] = _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1)), sv);
                v[3] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                         _mm_unpackhi_epi64(q1, q1))),
                                     sv);
            } else {
                _mm_prefetch((const char *)(pf + (b / 2) * VD_QBLK),
                             _MM_HINT_T0);
                __m256i q = _mm256_loadu_si256(
                    (const __m256i *)(wr + (b / 2) * VD_QBLK));
                if (b & 1)
                    q = _mm256_srli_epi16(q, 4);
                q = _mm256_and_si256(q, _mm256_set1_epi8(15));
                __m128i q0 = _mm256_castsi256_si128(q);
                __m128i q1 = _mm256_extracti128_si256(q, 1);
                __m256 sv = _mm256_set1_ps(s), m8 = _mm256_set1_ps(-8.0f * s);
                v[0] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q0)), sv, m8);
                v[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                           _mm_unpackhi_epi64(q0, q0))),
                                       sv, m8);
                v[2] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q1)), sv, m8);
                v[3] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                           _mm_unpackhi_epi64(q1, q1))),
                                       sv, m8);
            }
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const float *xt = x + t * K + k;
                acc[t] = _mm256_fmadd_ps(v[0], loadn(xt, K - k), acc[t]);
                acc2[t] =
                    _mm256_fmadd_ps(v[1], loadn(xt + 8, K - k - 8), acc2[t]);
                acc[t] =
                    _mm256_fmadd_ps(v[2], loadn(xt + 16, K - k - 16), acc[t]);
                acc2[t] =
                    _mm256_fmadd_ps(v[3], loadn(xt + 24, K - k - 24), acc2[t]);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            y[t * rows + r] =
                hsum(_mm256_add_ps(acc[t], acc2[t])) + (bias ? bias[r] : 0.0f);
    }
}

#define GEMV_EXACT_Q_DT(name, DT)                                              \
    static void name(const vd__mat *w, const float *x, int nt, int rnd,        \
                     const float *bias, float *y, int64_t r0, int64_t r1)      \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        (void)rnd;                                                             \
        switch (nt) {                                                          \
        case 1:                                                                \
            gemv_exact_q_nt(&c, x, 1, bias, y, r0, r1);                        \
            break;                                                             \
        case 2:                                                                \
            gemv_exact_q_nt(&c, x, 2, bias, y, r0, r1);                        \
            break;                                                             \
        case 3:                                                                \
            gemv_exact_q_nt(&c, x, 3, bias, y, r0, r1);                        \
            break;                                                             \
        default:                                                               \
            gemv_exact_q_nt(&c, x, 4, bias, y, r0, r1);                        \
            break;                                                             \
        }                                                                      \
    }
GEMV_EXACT_Q_DT(gemv_exact_q8, VD_DT_Q8)
GEMV_EXACT_Q_DT(gemv_exact_q4, VD_DT_Q4)

typedef void (*gemv_fn)(const vd__mat *, const float *, int, int, const float *,
                        float *, int64_t, int64_t);

static gemv_fn gemv_for(vd__dtype dt)
{
    switch (dt) {
    case VD_DT_F32:
        return gemv_exact_f32;
    case VD_DT_BF16:
        return gemv_exact_bf16;
    case VD_DT_F16:
        return gemv_exact_f16;
    case VD_DT_Q8:
        return gemv_exact_q8;
    default:
        return gemv_exact_q4;
    }
}

/* ---------------------------------------------------------------------
 * exact GEMM: 16-row panels widened and transposed per (tile, k block)
 * into [k][16] fp32, 6 x 16 register tiles
 * ------------------------------------------------------------------ */

#define MR     6
#define NR     16
#define KC     256
#define TILE_R 256

INLINE void pack_f32_panel(const vd__mat *w, int64_t r0, int nrv, int64_t k0,
                           int64_t kc, int round, float *dst)
{
    for (int half = 0; half < 2; half++) {
        int nv = nrv - 8 * half;
        nv = nv < 0 ? 0 : nv > 8 ? 8 : nv;
        for (int64_t kk = 0; kk < kc; kk += 8) {
            __m256 v[8];
            int64_t n = kc - kk;
            for (int i = 0; i < 8; i++) {
                v[i] = i < nv ? load_w8(w, r0 + 8 * half + i, k0 + kk, n)
                              : _mm256_setzero_ps();
                if (round)
                    v[i] = round_bf16(v[i]);
            }
            tr8(v);
            int64_t nc = n < 8 ? n : 8;
            for (int64_t c = 0; c < nc; c++)
                _mm256_store_ps(dst + (kk + c) * NR + 8 * half, v[c]);
        }
    }
}

#define PACK_F32_DT(name, DT)                                                  \
    static void name(const vd__mat *w, int64_t r0, int nrv, int64_t k0,        \
                     int64_t kc, int round, float *dst)                        \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        pack_f32_panel(&c, r0, nrv, k0, kc, round, dst);                       \
    }
PACK_F32_DT(pack_f32_f32, VD_DT_F32)
PACK_F32_DT(pack_f32_bf16, VD_DT_BF16)
PACK_F32_DT(pack_f32_f16, VD_DT_F16)

static void ukr_f32(int64_t kc, const float *x, int64_t ldx, const float *wp,
                    float *y, int64_t ldy, int mr, int64_t nrv,
                    const float *bias, int acc)
{
    __m256 c[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(wp + k * NR);
        __m256 b1 = _mm256_load_ps(wp + k * NR + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(x + i * ldx + k);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
        }
    }
    __m256 z0 = _mm256_setzero_ps(), z1 = z0;
    if (!acc && bias) {
        z0 = loadn(bias, nrv);
        z1 = loadn(bias + 8, nrv - 8);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        float *yi = y + i * ldy;
        __m256 a0 = acc ? loadn(yi, nrv) : z0;
        __m256 a1 = acc ? loadn(yi + 8, nrv - 8) : z1;
        storen(yi, nrv, _mm256_add_ps(c[i][0], a0));
        storen(yi + 8, nrv - 8, _mm256_add_ps(c[i][1], a1));
    }
}

static int gemm_f32(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                    int64_t t1, void *s, size_t scr, int round)
{
    const vd__mat *w = m->w;
    int64_t K = w->cols, rows = w->rows;
    size_t wp_bytes = (size_t)TILE_R * KC * 4, xp_bytes = (size_t)MR * KC * 4;
    if (scr < wp_bytes + xp_bytes)
        return 0;
    float *wp = s, *xp = (float *)((char *)s + wp_bytes);
    /* Q8 / Q4 take load_w8's generic path (rare: exact products on
     * quantized weights in prefill) */
    void (*pack)(const vd__mat *, int64_t, int, int64_t, int64_t, int,
                 float *) = w->dt == VD_DT_F32    ? pack_f32_f32
                            : w->dt == VD_DT_BF16 ? pack_f32_bf16
                            : w->dt == VD_DT_F16  ? pack_f32_f16
                                                  : NULL;
    for (int64_t rc = r0; rc < r1; rc += TILE_R) {
        int64_t rce = rc + TILE_R < r1 ? rc + TILE_R : r1;
        int np = (int)((rce - rc + NR - 1) / NR);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            for (int p = 0; p < np; p++) {
                int64_t pr = rc + (int64_t)p * NR;
                int nrv = (int)(rce - pr < NR ? rce - pr : NR);
                if (pack)
                    pack(w, pr, nrv, k0, kc, round, wp + (size_t)p * NR * KC);
                else
                    pack_f32_panel(w, pr, nrv, k0, kc, round,
                                   wp + (size_t)p * NR * KC);
            }
            for (int64_t i0 = t0; i0 < t1; i0 += MR) {
                int mr = (int)(t1 - i0 < MR ? t1 - i0 : MR);
                const float *xa = m->x + i0 * K + k0;
                int64_t ldx = K;
                if (mr < MR || round) {
                    for (int i = 0; i < MR; i++)
                        for (int64_t k = 0; k < kc; k += 8) {
                            __m256 v = i < mr ? loadn(xa + i * K + k, kc - k)
                                              : _mm256_setzero_ps();
                            if (round)
                                v = round_bf16(v);
                            storen(xp + i * KC + k, kc - k, v);
                        }
                    xa = xp;
                    ldx = KC;
                }
                for (int p = 0; p < np; p++) {
                    int64_t pr = rc + (int64_t)p * NR;
                    ukr_f32(kc, xa, ldx, wp + (size_t)p * NR * KC,
                            m->y + i0 * rows + pr, rows, mr, rce - pr,
                            m->bias ? m->bias + pr : NULL, k0 > 0);
                }
            }
        }
    }
    return 1;
}

static int mm_exact(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                    int64_t t1, void *s, size_t scr)
{
    if (t1 - t0 <= GEMV_MAX) {
        gemv_fn fn = gemv_for(m->w->dt);
        for (int64_t t = t0; t < t1; t += GEMV_MAX) {
            int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
            fn(m->w, m->x + t * m->w->cols, nt, 0, m->bias,
               m->y + t * m->w->rows, r0, r1);
        }
        return 1;
    }
    return gemm_f32(m, r0, r1, t0, t1, s, scr, 0);
}

/* bf16 precision: activations rounded into scratch, weights rounded as
 * they are loaded (bf16 weights need nothing) */
static int mm_bf16_emul(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                        int64_t t1, void *s, size_t scr)
{
    if (t1 - t0 > GEMV_MAX)
        return gemm_f32(m, r0, r1, t0, t1, s, scr, 1);
    int64_t K = m->w->cols;
    if ((size_t)(GEMV_MAX * K) * 4 > scr)
        return 0;
    float *xr = s;
    gemv_fn fn = gemv_for(m->w->dt);
    for (int64_t t = t0; t < t1; t += GEMV_MAX) {
        int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
        for (int64_t i = 0; i < nt * K; i += 8)
            storen(xr + i, nt * K - i,
                   round_bf16(loadn(m->x + t * K + i, nt * K - i)));
        fn(m->w, xr, nt, m->w->dt != VD_DT_BF16, m->bias, m->y + t * m->w->rows,
           r0, r1);
    }
    return 1;
}

/* ---------------------------------------------------------------------
 * int8 products (Q8 / Q4 weights): vpmaddubsw + vpmaddwd per block of 32,
 * block scales applied in fp32. Q8 uses the sign trick (|w| . sign(x, w))
 * so the 16-bit pair sums cannot saturate; Q4 nibbles are small enough to
 * go in directly, with the zero point 8 taken off through the block sums.
 * Prefill runs the same GEMV over groups of four tokens: the weight tile
 * stays in L2 between groups.
 * ------------------------------------------------------------------ */

/* Quantized activations as the GEMV reads them (see kern-avx512.c):
 * token t's blocks at q + t * ldq, scales at s + t * lds, -zp * sum at
 * z + t * lds (only Q4 needs it here: Q8 goes through the sign trick). */
typedef struct qx {
    const int8_t *q;
    const float *s;
    const int32_t *z;
    int64_t ldq, lds;
} qx;

static void quant_x(const float *x, int64_t K, int nt, int64_t nb, int32_t zp,
                    int8_t *q, float *s, int32_t *z)
{
    for (int t = 0; t < nt; t++)
        for (int64_t b = 0; b < nb; b++) {
            int8_t *qb = q + (t * nb + b) * VD_QBLK;
            int64_t c = b * VD_QBLK;
            int32_t sum = 0;
            float sx = 0;
            if (c < K)
                sx = quant_block32(x + t * K + c,
                                   K - c < VD_QBLK ? K - c : VD_QBLK, qb, &sum);
            else
                memset(qb, 0, VD_QBLK);
            s[t * nb + b] = sx;
            z[t * nb + b] = -zp * sum;
        }
}

INLINE __m256i dot8(__m256i u8, __m256i s8)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8),
                             _mm256_set1_epi16(1));
}

INLINE void gemv_q_nt(const vd__mat *w, const qx *x, int NT, const float *bias,
                      float *y, int64_t r0, int64_t r1)
{
    int64_t rows = w->rows;
    int q8 = w->dt == VD_DT_Q8;
    int64_t nb = q8 ? VD_Q8_NB(w->cols) : VD_Q4_NB(w->cols);
    int64_t rs = q8 ? nb * VD_QBLK : nb * (VD_QBLK / 2);
    const unsigned char *base = w->data;
    const uint16_t *sc = w->scales;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *wr = base + r * rs;
        int64_t pfr = 16384 / rs > 4 ? 16384 / rs : 4; /* ~16 KiB ahead */
        const unsigned char *pf = r + pfr < r1 ? wr + pfr * rs : wr;
        __m256 acc[GEMV_MAX], acc2[GEMV_MAX];
        float corr[GEMV_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            acc[t] = acc2[t] = _mm256_setzero_ps();
            corr[t] = 0;
        }
        for (int64_t b = 0; b < nb; b += 2) {
            __m256i wv[2];
            if (q8) {
                _mm_prefetch((const char *)(pf + b * VD_QBLK), _MM_HINT_T0);
                wv[0] = _mm256_loadu_si256((const __m256i *)(wr + b * VD_QBLK));
                wv[1] = b + 1 < nb
                            ? _mm256_loadu_si256(
                                  (const __m256i *)(wr + (b + 1) * VD_QBLK))
                            : _mm256_setzero_si256();
            } else {
                _mm_prefetch((const char *)(pf + (b / 2) * VD_QBLK),
                             _MM_HINT_T0);
                __m256i v = _mm256_loadu_si256(
                    (const __m256i *)(wr + (b / 2) * VD_QBLK));
                __m256i f = _mm256_set1_epi8(15);
                wv[0] = _mm256_and_si256(v, f);
                wv[1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), f);
            }
            int nblk = b + 1 < nb ? 2 : 1;
            for (int h = 0; h < nblk; h++) {
                float sw = _cvtsh_ss(sc[r * nb + b + h]);
                __m256i aw = q8 ? _mm256_abs_epi8(wv[h]) : wv[h];
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    __m256i xv = _mm256_loadu_si256(
                        (const __m256i *)(x->q + t * x->ldq +
                                          (b + h) * VD_QBLK));
                    if (q8)
                        xv = _mm256_sign_epi8(xv, wv[h]);
                    __m256 d = _mm256_cvtepi32_ps(dot8(aw, xv));
                    float ss = sw * x->s[t * x->lds + b + h];
                    __m256 sv = _mm256_set1_ps(ss);
                    if (h)
                        acc2[t] = _mm256_fmadd_ps(d, sv, acc2[t]);
                    else
                        acc[t] = _mm256_fmadd_ps(d, sv, acc[t]);
                    if (!q8)
                        corr[t] += ss * (float)x->z[t * x->lds + b + h];
                }
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            y[t * rows + r] = hsum(_mm256_add_ps(acc[t], acc2[t])) + corr[t] +
                              (bias ? bias[r] : 0.0f);
    }
}

#define GEMV_Q_DT(name, DT)                                                    \
    static void name(const vd__mat *w, const qx *x, int nt, const float *bias, \
                     float *y, int64_t r0, int64_t r1)                         \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        switch (nt) {                                                          \
        case 1:                                                                \
            gemv_q_nt(&c, x, 1, bias, y, r0, r1);                              \
            break;                                                             \
        case 2:                                                                \
            gemv_q_nt(&c, x, 2, bias, y, r0, r1);                              \
            break;                                                             \
        case 3:                                                                \
            gemv_q_nt(&c, x, 3, bias, y, r0, r1);                              \
            break;                                                             \
        default:                                                               \
            gemv_q_nt(&c, x, 4, bias, y, r0, r1);                              \
            break;                                                             \
        }                                                                      \
    }
GEMV_Q_DT(gemv_q8, VD_DT_Q8)
GEMV_Q_DT(gemv_q4, VD_DT_Q4)

static int mm_int8(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                   int64_t t1, void *s, size_t scr)
{
    const vd__mat *w = m->w;
    int q8 = w->dt == VD_DT_Q8;
    int64_t K = w->cols, rows = w->rows;
    int64_t nb = q8 ? VD_Q8_NB(K) : VD_Q4_NB(K);
    size_t need = (size_t)(GEMV_MAX * nb) * (VD_QBLK + 8);
    if (!m->xq && need > scr)
        return 0;
    int8_t *q = s;
    float *xs = (float *)(q + GEMV_MAX * nb * VD_QBLK);
    int32_t *xz = (int32_t *)(xs + GEMV_MAX * nb);
    /* a tile's rows a few at a time, so that the rows stay in L1/L2 while
     * every group of tokens passes over them */
    int64_t rstep = t1 - t0 <= GEMV_MAX ? r1 - r0 : 64;
    for (int64_t rc = r0; rc < r1; rc += rstep) {
        int64_t rce = rc + rstep < r1 ? rc + rstep : r1;
        for (int64_t t = t0; t < t1; t += GEMV_MAX) {
            int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
            qx x = { q, xs, xz, nb * VD_QBLK, nb };
            if (m->xq) { /* converted once for the whole call */
                x.q = m->xq + t * m->xnb * VD_QBLK;
                x.s = m->xs + t * m->xnb;
                x.z = m->xz + t * m->xnb;
                x.ldq = m->xnb * VD_QBLK;
                x.lds = m->xnb;
            } else {
                quant_x(m->x + t * K, K, nt, nb, q8 ? 128 : 8, q, xs, xz);
            }
            if (q8)
                gemv_q8(w, &x, nt, m->bias, m->y + t * rows, rc, rce);
            else
                gemv_q4(w, &x, nt, m->bias, m->y + t * rows, rc, rce);
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------
 * attention: as in kern-avx512.c, blocks of up to 64 query rows against
 * blocks of 32 keys
 * ------------------------------------------------------------------ */

#define ABK   32
#define AROWS 128
#define AHD   512
#define APF   16 /* key rows between a line's load and its prefetch */

/* S[rows][32] = Q[rows][hd] . Kt[hd][32], 6 rows x 16 keys at a time. */
static void attn_qk(const float *q, int64_t ldq, int rows, int hd,
                    const float *kt, float *s)
{
    for (int r0 = 0; r0 < rows; r0 += 6)
        for (int j0 = 0; j0 < ABK; j0 += 16) {
            __m256 c[6][2];
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++)
                c[i][0] = c[i][1] = _mm256_setzero_ps();
            const float *qr = q + r0 * ldq;
            for (int d = 0; d < hd; d++) {
                __m256 k0 = _mm256_load_ps(kt + d * ABK + j0);
                __m256 k1 = _mm256_load_ps(kt + d * ABK + j0 + 8);
#pragma GCC unroll 6
                for (int i = 0; i < 6; i++) {
                    __m256 a = _mm256_broadcast_ss(qr + i * ldq + d);
                    c[i][0] = _mm256_fmadd_ps(a, k0, c[i][0]);
                    c[i][1] = _mm256_fmadd_ps(a, k1, c[i][1]);
                }
            }
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                _mm256_store_ps(s + (r0 + i) * ABK + j0, c[i][0]);
                _mm256_store_ps(s + (r0 + i) * ABK + j0 + 8, c[i][1]);
            }
        }
}

/* O[rows][hdp] += P[rows][nk] . V[nk][hdp], 32 columns x 3 rows at a
 * time. */
static void attn_pv(const float *p, int rows, int nk, const float *v, int hdp,
                    float *o)
{
    for (int d0 = 0; d0 < hdp; d0 += 32) {
        int nv = (hdp - d0) / 8 < 4 ? (hdp - d0) / 8 : 4;
        for (int r0 = 0; r0 < rows; r0 += 3) {
            __m256 c[3][4];
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    c[i][j] =
                        j < nv ? _mm256_load_ps(o + (r0 + i) * hdp + d0 + 8 * j)
                               : _mm256_setzero_ps();
            for (int k = 0; k < nk; k++) {
                __m256 vv[4];
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    vv[j] = j < nv ? _mm256_load_ps(v + k * hdp + d0 + 8 * j)
                                   : _mm256_setzero_ps();
#pragma GCC unroll 3
                for (int i = 0; i < 3; i++) {
                    __m256 a = _mm256_broadcast_ss(p + (r0 + i) * ABK + k);
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++)
                        c[i][j] = _mm256_fmadd_ps(a, vv[j], c[i][j]);
                }
            }
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    if (j < nv)
                        _mm256_store_ps(o + (r0 + i) * hdp + d0 + 8 * j,
                                        c[i][j]);
        }
    }
}

INLINE __m256 kv_load(const vd__attn_args *a, const void *base, int64_t off,
                      int64_t n)
{
    if (a->kv_dt == VD_DT_BF16) {
        const uint16_t *p = (const uint16_t *)base + off;
        if (n >= 8)
            return widen_bf16(_mm_loadu_si128((const __m128i *)p));
        uint16_t tmp[8] = { 0 };
        memcpy(tmp, p, (size_t)(n > 0 ? n : 0) * 2);
        return widen_bf16(_mm_loadu_si128((const __m128i *)tmp));
    }
    return loadn((const float *)base + off, n);
}

/* As in kern-avx512.c: rows grouped by KV head, partial output on
 * request. */
static int attn_block(const vd__attn_args *a, int h0, int h1, int64_t q0,
                      int64_t q1, int64_t k0, int64_t k1, float *part,
                      void *scr, size_t scr_n)
{
    int hd = a->head_dim, group = a->n_head / a->n_kv_head;
    int g0 = h0 / group, ng = (h1 - 1) / group - g0 + 1;
    int G = ng > 1 ? group : h1 - h0;
    int hdp = (hd + 7) & ~7;
    int64_t nqr = q1 - q0;
    int rg = (int)(nqr * G), rgp = (rg + 5) / 6 * 6;
    int rowsp = rgp * ng;
    if (hd > AHD || rg * ng > AROWS || (ng > 1 && (h0 % group || h1 % group)))
        return 0;
    size_t need = ((size_t)rowsp * hdp * 2 + (size_t)rgp * ABK +
                   2 * (size_t)ng * hdp * ABK + 2 * (size_t)rowsp) *
                  4;
    if (need > scr_n)
        return 0;
    float *qs = scr;
    float *o = qs + (size_t)rowsp * hdp;
    float *sp = o + (size_t)rowsp * hdp;
    float *kt = sp + (size_t)rgp * ABK;      /* [ng][hdp][ABK] */
    float *vp = kt + (size_t)ng * hdp * ABK; /* [ng][ABK][hdp] */
    float *mrow = vp + (size_t)ng * ABK * hdp;
    float *lrow = mrow + rowsp;
    memset(qs, 0, (size_t)rowsp * hdp * 2 * 4);
    __m256 sc = _mm256_set1_ps(a->scale);
    for (int gi = 0; gi < ng; gi++)
        for (int r = 0; r < rgp; r++) {
            int rr = gi * rgp + r;
            mrow[rr] = -INFINITY;
            lrow[rr] = 0;
            if (r >= rg)
                continue;
            int64_t i = q0 + r / G;
            int h = (ng > 1 ? (g0 + gi) * group : h0) + r % G;
            const float *qi = a->q + i * a->q_stride + (int64_t)h * hd;
            for (int d = 0; d < hd; d += 8)
                storen(qs + rr * hdp + d, hd - d,
                       _mm256_mul_ps(loadn(qi + d, hd - d), sc));
        }
    int64_t kend = k1;
    if (a->causal && a->q_pos0 + q1 < kend)
        kend = a->q_pos0 + q1;
    size_t es = a->kv_dt == VD_DT_BF16 ? 2 : 4, ld = (size_t)a->kv_stride * es;
    const char *kbase = (const char *)a->k + (size_t)g0 * hd * es;
    const char *vbase = (const char *)a->v + (size_t)g0 * hd * es;
    for (int64_t kb = k0; kb < kend; kb += ABK) {
        int nk = (int)(kend - kb < ABK ? kend - kb : ABK);
        /* every group's K and V block first, rows whole and in order, one
         * prefetch a line, as the AVX-512 level does (kern-avx512.c) */
        for (int j0 = 0; j0 < ABK; j0 += 8)
            for (int gi = 0; gi < ng; gi++)
                for (int d0 = 0; d0 < hd; d0 += 8) {
                    size_t col = ((size_t)gi * hd + (size_t)d0) * es;
                    __m256 v[8];
                    for (int j = 0; j < 8; j++) {
                        int64_t kr = kb + j0 + j; /* past kend: unread */
                        if (col % 64 == 0 && kr + APF < kend)
                            _mm_prefetch(kbase + (size_t)(kr + APF) * ld + col,
                                         _MM_HINT_T0);
                        v[j] = j0 + j < nk
                                   ? kv_load(a, kbase + (size_t)kr * ld + col,
                                             0, hd - d0)
                                   : _mm256_setzero_ps();
                    }
                    tr8(v);
                    float *kg = kt + (size_t)gi * hdp * ABK;
                    int nd = hd - d0 < 8 ? hd - d0 : 8;
                    for (int d = 0; d < nd; d++)
                        _mm256_store_ps(kg + (d0 + d) * ABK + j0, v[d]);
                }
        for (int j = 0; j < nk; j++) {
            const char *row = vbase + (size_t)(kb + j) * ld;
            for (int gi = 0; gi < ng; gi++)
                for (int d = 0; d < hdp; d += 8) {
                    size_t col = ((size_t)gi * hd + (size_t)d) * es;
                    if (col % 64 == 0 && kb + j + APF < kend)
                        _mm_prefetch(row + APF * ld + col, _MM_HINT_T0);
                    _mm256_store_ps(vp + ((size_t)gi * ABK + j) * hdp + d,
                                    kv_load(a, row + col, 0, hd - d));
                }
        }
        for (int gi = 0; gi < ng; gi++) {
            float *qg = qs + (size_t)gi * rgp * hdp;
            float *og = o + (size_t)gi * rgp * hdp;
            float *mg = mrow + gi * rgp, *lg = lrow + gi * rgp;
            float *kg = kt + (size_t)gi * hdp * ABK;
            float *vg = vp + (size_t)gi * ABK * hdp;
            attn_qk(qg, hdp, rgp, hd, kg, sp);
            for (int r = 0; r < rg; r++) {
                int64_t i = q0 + r / G;
                int64_t lim = a->causal && a->q_pos0 + i + 1 < kend
                                  ? a->q_pos0 + i + 1
                                  : kend;
                int64_t nv = lim - kb;
                float *srow = sp + r * ABK;
                if (nv <= 0) {
                    memset(srow, 0, ABK * 4);
                    continue;
                }
                if (nv > nk)
                    nv = nk;
                __m256 mx = _mm256_set1_ps(-INFINITY);
                for (int j = 0; j < nv; j += 8)
                    mx = _mm256_max_ps(
                        mx,
                        _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
                                         _mm256_load_ps(srow + j),
                                         _mm256_castsi256_ps(lanes(nv - j))));
                float mnew = fmaxf(mg[r], hmax(mx));
                float alpha = expf(mg[r] - mnew);
                __m256 mv = _mm256_set1_ps(mnew), sum = _mm256_setzero_ps();
                for (int j = 0; j < ABK; j += 8) {
                    __m256 e = _mm256_and_ps(
                        exp256(_mm256_sub_ps(_mm256_load_ps(srow + j), mv)),
                        _mm256_castsi256_ps(lanes(nv - j)));
                    sum = _mm256_add_ps(sum, e);
                    _mm256_store_ps(srow + j, e);
                }
                lg[r] = lg[r] * alpha + hsum(sum);
                mg[r] = mnew;
                if (alpha != 1.0f) {
                    __m256 al = _mm256_set1_ps(alpha);
                    for (int d = 0; d < hdp; d += 8)
                        _mm256_store_ps(
                            og + r * hdp + d,
                            _mm256_mul_ps(_mm256_load_ps(og + r * hdp + d),
                                          al));
                }
            }
            for (int r = rg; r < rgp; r++)
                memset(sp + r * ABK, 0, ABK * 4);
            attn_pv(sp, rgp, nk, vg, hdp, og);
        }
    }
    int H = h1 - h0;
    for (int gi = 0; gi < ng; gi++)
        for (int r = 0; r < rg; r++) {
            int rr = gi * rgp + r;
            int64_t i = q0 + r / G;
            int h = (ng > 1 ? (g0 + gi) * group : h0) + r % G;
            const float *orow = o + (size_t)rr * hdp;
            if (part) {
                float *pr = part + ((i - q0) * H + (h - h0)) * (hd + 2);
                memcpy(pr, orow, (size_t)hd * 4);
                pr[hd] = mrow[rr];
                pr[hd + 1] = lrow[rr];
                continue;
            }
            float *oi = a->o + i * a->o_stride + (int64_t)h * hd;
            __m256 inv = _mm256_set1_ps(lrow[rr] > 0 ? 1.0f / lrow[rr] : 0.0f);
            for (int d = 0; d < hd; d += 8)
                storen(oi + d, hd - d,
                       _mm256_mul_ps(_mm256_load_ps(orow + d), inv));
        }
    return 1;
}

void vd__kern_init_avx2(vd__kern *k)
{
    k->dot_f32 = dot_f32;
    k->mm_tile[VD_PREC_EXACT] = mm_exact;
    k->mm_tile[VD_PREC_BF16] = mm_bf16_emul;
    k->mm_tile[VD_PREC_INT8] = mm_int8;
    k->mm_conv[VD_PREC_INT8] = 1;
    k->gemv_max_n = GEMV_MAX;
    k->attn_block = attn_block;
    k->attn_rows = AROWS;
    k->rmsnorm = rmsnorm;
    k->silu_mul = silu_mul;
    k->gelu_erf = gelu_erf;
    k->softmax = softmax;
    k->rope = rope;
    k->f32_to_bf16 = f32_to_bf16;
    k->bf16_to_f32 = bf16_to_f32;
    k->quant_act = quant_act;
}

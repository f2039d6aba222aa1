/* Kernels, AVX-512: built with AVX-512 flags and only called after runtime
 * detection. Level "avx512" (F/BW/VL/DQ) does exact fp32 products - a
 * bandwidth-bound GEMV for decoding and a register-blocked 14x32 GEMM on
 * weight tiles widened once per tile - plus tiled attention and the row
 * ops; bf16 precision is emulated there by rounding. Level "avx512bf16"
 * adds vdpbf16ps products straight from bf16 weights and vpdpbusd
 * products for Q8/Q4 weights. Functions of the second level are the only
 * ones that may contain BF16/VNNI instructions. */
#include "config.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kern.h"

#define INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------
 * small helpers
 * ------------------------------------------------------------------ */

INLINE __mmask16 mask16(int64_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

INLINE __mmask32 mask32(int64_t n)
{
    return n >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << n) - 1);
}

INLINE __m512 widen_bf16(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Round to bf16 (nearest even, NaN kept quiet) and back, in integers so it
 * matches the reference bit for bit, subnormals included. */
INLINE __m512i bf16_bits(__m512 x)
{
    __m512i u = _mm512_castps_si512(x);
    __m512i lsb =
        _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r =
        _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(
        _mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
        _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_mov_epi32(r, nan,
                              _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
    return _mm512_srli_epi32(r, 16);
}

INLINE __m512 round_bf16(__m512 x)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(bf16_bits(x), 16));
}

/* Transpose 16x16 32-bit elements in place. */
INLINE void tr16(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    __m512i u[16]; /* u[4g + e]: lane L = rows 4g..4g+3 of column 4L+e */
    for (int g = 0; g < 4; g++) {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int e = 0; e < 4; e++) {
        __m512i a0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x44);
        __m512i a1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xEE);
        __m512i b0 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x44);
        __m512i b1 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xEE);
        r[e] = _mm512_shuffle_i32x4(a0, b0, 0x88);
        r[4 + e] = _mm512_shuffle_i32x4(a0, b0, 0xDD);
        r[8 + e] = _mm512_shuffle_i32x4(a1, b1, 0x88);
        r[12 + e] = _mm512_shuffle_i32x4(a1, b1, 0xDD);
    }
}

INLINE float f16_scale(const vd__mat *w, int64_t r, int64_t b, int64_t nb)
{
    uint16_t h;
    memcpy(&h, (const unsigned char *)w->scales + 2 * (size_t)(r * nb + b), 2);
    return _cvtsh_ss(h);
}

/* 16 consecutive values of row R from column C (C % 16 == 0 for the
 * quantized types), N <= 16 of them valid, as fp32. */
INLINE __m512 load_w16(const vd__mat *w, int64_t r, int64_t c, int64_t n)
{
    const unsigned char *base = w->data;
    __mmask16 m = mask16(n);
    switch (w->dt) {
    case VD_DT_F32:
        return _mm512_maskz_loadu_ps(m, (const float *)base + r * w->cols + c);
    case VD_DT_BF16:
        return widen_bf16(_mm256_maskz_loadu_epi16(m, (const uint16_t *)base +
                                                          r * w->cols + c));
    case VD_DT_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(
            m, (const uint16_t *)base + r * w->cols + c));
    case VD_DT_Q8: {
        int64_t nb = VD_Q8_NB(w->cols);
        __m128i q = _mm_maskz_loadu_epi8(m, base + r * nb * VD_QBLK + c);
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
        return _mm512_mul_ps(v,
                             _mm512_set1_ps(f16_scale(w, r, c / VD_QBLK, nb)));
    }
    case VD_DT_Q4: {
        int64_t nb = VD_Q4_NB(w->cols), b = c / VD_QBLK;
        __m128i q = _mm_maskz_loadu_epi8(
            m, base + r * nb * (VD_QBLK / 2) + (b / 2) * VD_QBLK + c % VD_QBLK);
        if (b & 1)
            q = _mm_srli_epi16(q, 4);
        q = _mm_and_si128(q, _mm_set1_epi8(15));
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));
        float s = f16_scale(w, r, b, nb);
        v = _mm512_fmadd_ps(v, _mm512_set1_ps(s), _mm512_set1_ps(-8.0f * s));
        return _mm512_maskz_mov_ps(m, v);
    }
    }
    return _mm512_setzero_ps();
}

/* ---------------------------------------------------------------------
 * exp and friends
 * ------------------------------------------------------------------ */

/* e^x to about 1 ulp: x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial
 * for e^r and scalef for 2^n (exact underflow to 0 below -104). */
INLINE __m512 exp512(__m512 x)
{
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)),
                      _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(
        _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

INLINE __m512 silu512(__m512 g)
{
    __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    return _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* 0.5 x (1 + erf(x / sqrt 2)) through erfc(|z|) = t exp(-z^2 + P(t)),
 * t = 1 / (1 + |z| / 2) (relative error < 1.2e-7 everywhere), so both
 * tails keep their precision. */
INLINE __m512 gelu512(__m512 x)
{
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    __m512 az = _mm512_abs_ps(z);
    __m512 t = _mm512_div_ps(
        _mm512_set1_ps(1.0f),
        _mm512_fmadd_ps(az, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    p = _mm512_fnmadd_ps(az, az, p);
    __m512 erfc = _mm512_mul_ps(t, exp512(p));
    __mmask16 pos = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GE_OQ);
    __m512 onep = _mm512_mask_sub_ps(erfc, pos, _mm512_set1_ps(2.0f), erfc);
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), onep);
}

/* ---------------------------------------------------------------------
 * row ops
 * ------------------------------------------------------------------ */

static float dot_f32(const float *a, const float *b, size_t n)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i),
                              acc);
    if (i < n) {
        __mmask16 m = mask16((int64_t)(n - i));
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
                              _mm512_maskz_loadu_ps(m, b + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n,
                    float eps)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        __m512 v2 = _mm512_loadu_ps(x + i + 32);
        __m512 v3 = _mm512_loadu_ps(x + i + 48);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
        a2 = _mm512_fmadd_ps(v2, v2, a2);
        a3 = _mm512_fmadd_ps(v3, v3, a3);
    }
    for (; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(mask16(n - i), x + i);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    double ss = (double)_mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) +
                (double)_mm512_reduce_add_ps(_mm512_add_ps(a2, a3));
    __m512 r = _mm512_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    for (i = 0; i < n; i += 16) {
        __mmask16 m = mask16(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r);
        _mm512_mask_storeu_ps(
            y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + i), v));
    }
}

static void silu_mul(float *y, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = mask16(n - i);
        __m512 s = silu512(_mm512_maskz_loadu_ps(m, g + i));
        _mm512_mask_storeu_ps(
            y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

static void gelu_erf(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m,
                              gelu512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void softmax(float *x, int64_t n)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY),
                                                    mask16(n - i), x + i));
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 s = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = mask16(n - i);
        __m512 e = _mm512_maskz_mov_ps(
            k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m)));
        s = _mm512_add_ps(s, e);
        _mm512_mask_storeu_ps(x + i, k, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = mask16(n - i);
        _mm512_mask_storeu_ps(
            x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
    }
}

static void rope(float *x, int n_head, int hd, const float *c, const float *s)
{
    int half = hd / 2;
    for (int h = 0; h < n_head; h++) {
        float *p = x + (int64_t)h * hd;
        for (int i = 0; i < half; i += 16) {
            __mmask16 m = mask16(half - i);
            __m512 a = _mm512_maskz_loadu_ps(m, p + i);
            __m512 b = _mm512_maskz_loadu_ps(m, p + half + i);
            __m512 cc = _mm512_maskz_loadu_ps(m, c + i);
            __m512 ss = _mm512_maskz_loadu_ps(m, s + i);
            _mm512_mask_storeu_ps(p + i, m,
                                  _mm512_fmsub_ps(a, cc, _mm512_mul_ps(b, ss)));
            _mm512_mask_storeu_ps(p + half + i, m,
                                  _mm512_fmadd_ps(b, cc, _mm512_mul_ps(a, ss)));
        }
    }
}

static void f32_to_bf16(uint16_t *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = mask16(n - i);
        __m512i b = bf16_bits(_mm512_maskz_loadu_ps(m, x + i));
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(b));
    }
}

static void bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = mask16(n - i);
        _mm512_mask_storeu_ps(y + i, m,
                              widen_bf16(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

/* One block of 32: the same operations as the reference, so the same
 * integers come out. N <= 32 values are read; the rest count as 0. */
INLINE float quant_block32(const float *x, int64_t n, int8_t *q, int32_t *sum)
{
    __m512 v0 = _mm512_maskz_loadu_ps(mask16(n), x);
    __m512 v1 = _mm512_maskz_loadu_ps(mask16(n - 16 > 0 ? n - 16 : 0), x + 16);
    float amax = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    if (amax == 0 || !isfinite(amax)) {
        memset(q, 0, VD_QBLK);
        *sum = 0;
        return 0;
    }
    __m512 inv = _mm512_set1_ps(127.0f / amax);
    __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inv));
    __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inv));
    i0 = _mm512_min_epi32(_mm512_max_epi32(i0, lo), hi);
    i1 = _mm512_min_epi32(_mm512_max_epi32(i1, lo), hi);
    _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(i0));
    _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(i1));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
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
 * exact GEMV: n <= 4 tokens, weights streamed once, widened in registers
 * ------------------------------------------------------------------ */

#define GEMV_MAX 4

INLINE void gemv_exact_nt(const vd__mat *w, const float *x, int NT,
                          const float *bias, float *y, int64_t r0, int64_t r1)
{
    int64_t K = w->cols, rows = w->rows;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        __m512 acc[4][GEMV_MAX];
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < NT; t++)
                acc[j][t] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k += 16) {
            int64_t nk = K - k;
            __m512 xv[GEMV_MAX];
            for (int t = 0; t < NT; t++)
                xv[t] = _mm512_maskz_loadu_ps(mask16(nk), x + t * K + k);
            for (int j = 0; j < 4; j++) {
                __m512 wv = load_w16(w, r + j, k, nk);
                for (int t = 0; t < NT; t++)
                    acc[j][t] = _mm512_fmadd_ps(wv, xv[t], acc[j][t]);
            }
        }
        for (int j = 0; j < 4; j++)
            for (int t = 0; t < NT; t++)
                y[t * rows + r + j] = _mm512_reduce_add_ps(acc[j][t]) +
                                      (bias ? bias[r + j] : 0.0f);
    }
    for (; r < r1; r++) {
        __m512 acc[GEMV_MAX];
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k += 16) {
            __m512 wv = load_w16(w, r, k, K - k);
            for (int t = 0; t < NT; t++)
                acc[t] = _mm512_fmadd_ps(
                    wv, _mm512_maskz_loadu_ps(mask16(K - k), x + t * K + k),
                    acc[t]);
        }
        for (int t = 0; t < NT; t++)
            y[t * rows + r] =
                _mm512_reduce_add_ps(acc[t]) + (bias ? bias[r] : 0.0f);
    }
}

/* One instance per weight type, so the loads are resolved at compile
 * time. */
#define GEMV_EXACT_DT(name, DT)                                                \
    static void name(const vd__mat *w, const float *x, int nt,                 \
                     const float *bias, float *y, int64_t r0, int64_t r1)      \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        switch (nt) {                                                          \
        case 1:                                                                \
            gemv_exact_nt(&c, x, 1, bias, y, r0, r1);                          \
            break;                                                             \
        case 2:                                                                \
            gemv_exact_nt(&c, x, 2, bias, y, r0, r1);                          \
            break;                                                             \
        case 3:                                                                \
            gemv_exact_nt(&c, x, 3, bias, y, r0, r1);                          \
            break;                                                             \
        default:                                                               \
            gemv_exact_nt(&c, x, 4, bias, y, r0, r1);                          \
            break;                                                             \
        }                                                                      \
    }
GEMV_EXACT_DT(gemv_exact_f32, VD_DT_F32)
GEMV_EXACT_DT(gemv_exact_bf16, VD_DT_BF16)
GEMV_EXACT_DT(gemv_exact_f16, VD_DT_F16)
GEMV_EXACT_DT(gemv_exact_q8, VD_DT_Q8)
GEMV_EXACT_DT(gemv_exact_q4, VD_DT_Q4)

static void gemv_exact(const vd__mat *w, const float *x, int nt,
                       const float *bias, float *y, int64_t r0, int64_t r1)
{
    switch (w->dt) {
    case VD_DT_F32:
        gemv_exact_f32(w, x, nt, bias, y, r0, r1);
        break;
    case VD_DT_BF16:
        gemv_exact_bf16(w, x, nt, bias, y, r0, r1);
        break;
    case VD_DT_F16:
        gemv_exact_f16(w, x, nt, bias, y, r0, r1);
        break;
    case VD_DT_Q8:
        gemv_exact_q8(w, x, nt, bias, y, r0, r1);
        break;
    case VD_DT_Q4:
        gemv_exact_q4(w, x, nt, bias, y, r0, r1);
        break;
    }
}

/* ---------------------------------------------------------------------
 * exact GEMM: weight panels of NR = 32 rows widened and transposed once
 * per (tile, k block) into [k][32] fp32, a 14 x 32 register tile of
 * tokens x rows accumulated over the k block
 * ------------------------------------------------------------------ */

#define MR     14
#define NR     32
#define KC     256 /* fp32 k block: a 32-row panel is 32 KiB */
#define TILE_R 256 /* rows packed at once */

/* Pack rows [r0, r0 + nrv) (nrv <= 32) x columns [k0, k0 + kc) of W into
 * DST[kc][32], zero rows past nrv; ROUND rounds to bf16 (emulated bf16
 * precision). */
INLINE void pack_f32_panel(const vd__mat *w, int64_t r0, int nrv, int64_t k0,
                           int64_t kc, int round, float *dst)
{
    for (int half = 0; half < 2; half++) {
        int nv = nrv - 16 * half;
        nv = nv < 0 ? 0 : nv > 16 ? 16 : nv;
        for (int64_t kk = 0; kk < kc; kk += 16) {
            __m512i v[16];
            int64_t n = kc - kk;
            for (int i = 0; i < 16; i++) {
                __m512 f = i < nv ? load_w16(w, r0 + 16 * half + i, k0 + kk, n)
                                  : _mm512_setzero_ps();
                if (round)
                    f = round_bf16(f);
                v[i] = _mm512_castps_si512(f);
            }
            tr16(v);
            int64_t nc = n < 16 ? n : 16;
            for (int64_t c = 0; c < nc; c++)
                _mm512_store_si512((__m512i *)(dst + (kk + c) * NR + 16 * half),
                                   v[c]);
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
PACK_F32_DT(pack_f32_q8, VD_DT_Q8)
PACK_F32_DT(pack_f32_q4, VD_DT_Q4)

typedef void (*pack_f32_fn)(const vd__mat *, int64_t, int, int64_t, int64_t,
                            int, float *);

static pack_f32_fn pack_f32_for(vd__dtype dt)
{
    switch (dt) {
    case VD_DT_F32:
        return pack_f32_f32;
    case VD_DT_BF16:
        return pack_f32_bf16;
    case VD_DT_F16:
        return pack_f32_f16;
    case VD_DT_Q8:
        return pack_f32_q8;
    default:
        return pack_f32_q4;
    }
}

/* Y tile [14][32] (+)= X[14][kc] . WP[kc][32]: only MR rows and the rows of
 * masks M0/M1 are stored; BIAS is added when starting (ACC == 0). */
static void ukr_f32(int64_t kc, const float *x, int64_t ldx, const float *wp,
                    float *y, int64_t ldy, int mr, __mmask16 m0, __mmask16 m1,
                    const float *bias, int acc)
{
    __m512 c[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
        c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(wp + k * NR);
        __m512 b1 = _mm512_load_ps(wp + k * NR + 16);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(x[i * ldx + k]);
            c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
        }
    }
    __m512 z0 = _mm512_setzero_ps(), z1 = z0;
    if (!acc && bias) {
        z0 = _mm512_maskz_loadu_ps(m0, bias);
        z1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        float *yi = y + i * ldy;
        __m512 a0 = acc ? _mm512_maskz_loadu_ps(m0, yi) : z0;
        __m512 a1 = acc ? _mm512_maskz_loadu_ps(m1, yi + 16) : z1;
        _mm512_mask_storeu_ps(yi, m0, _mm512_add_ps(c[i][0], a0));
        _mm512_mask_storeu_ps(yi + 16, m1, _mm512_add_ps(c[i][1], a1));
    }
}

/* Exact (or bf16-emulating) GEMM over rows [r0, r1) x tokens [t0, t1). */
static int gemm_f32(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                    int64_t t1, void *s, size_t scr, int round)
{
    const vd__mat *w = m->w;
    int64_t K = w->cols, rows = w->rows;
    size_t wp_bytes = (size_t)TILE_R * KC * 4, xp_bytes = (size_t)MR * KC * 4;
    if (scr < wp_bytes + xp_bytes)
        return 0;
    float *wp = s, *xp = (float *)((char *)s + wp_bytes);
    pack_f32_fn pack = pack_f32_for(w->dt);
    for (int64_t rc = r0; rc < r1; rc += TILE_R) {
        int64_t rce = rc + TILE_R < r1 ? rc + TILE_R : r1;
        int np = (int)((rce - rc + NR - 1) / NR);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            for (int p = 0; p < np; p++) {
                int64_t pr = rc + (int64_t)p * NR;
                int nrv = (int)(rce - pr < NR ? rce - pr : NR);
                pack(w, pr, nrv, k0, kc, round, wp + (size_t)p * NR * KC);
            }
            for (int64_t i0 = t0; i0 < t1; i0 += MR) {
                int mr = (int)(t1 - i0 < MR ? t1 - i0 : MR);
                const float *xa = m->x + i0 * K + k0;
                int64_t ldx = K;
                if (mr < MR || round) { /* pad (and round) into XP */
                    for (int i = 0; i < MR; i++)
                        for (int64_t k = 0; k < kc; k += 16) {
                            __mmask16 mk = mask16(kc - k);
                            __m512 v =
                                i < mr
                                    ? _mm512_maskz_loadu_ps(mk, xa + i * K + k)
                                    : _mm512_setzero_ps();
                            if (round)
                                v = round_bf16(v);
                            _mm512_mask_storeu_ps(xp + i * KC + k, mk, v);
                        }
                    xa = xp;
                    ldx = KC;
                }
                for (int p = 0; p < np; p++) {
                    int64_t pr = rc + (int64_t)p * NR;
                    int64_t nrv = rce - pr;
                    ukr_f32(kc, xa, ldx, wp + (size_t)p * NR * KC,
                            m->y + i0 * rows + pr, rows, mr, mask16(nrv),
                            mask16(nrv - 16 > 0 ? nrv - 16 : 0),
                            m->bias ? m->bias + pr : NULL, k0 > 0);
                }
            }
        }
    }
    return 1;
}

/* GEMV for at most 4 tokens at a time, for the tokens of a tile. */
static void gemv_tokens(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                        int64_t t1, const float *x, int64_t ldx_tokens,
                        void (*fn)(const vd__mat *, const float *, int,
                                   const float *, float *, int64_t, int64_t))
{
    (void)ldx_tokens;
    for (int64_t t = t0; t < t1; t += GEMV_MAX) {
        int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
        fn(m->w, x + t * m->w->cols, nt, m->bias, m->y + t * m->w->rows, r0,
           r1);
    }
}

static int mm_exact(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                    int64_t t1, void *s, size_t scr)
{
    if (t1 - t0 <= GEMV_MAX) {
        gemv_tokens(m, r0, r1, t0, t1, m->x, 0, gemv_exact);
        return 1;
    }
    return gemm_f32(m, r0, r1, t0, t1, s, scr, 0);
}

/* bf16 precision without bf16 instructions: the same products on values
 * rounded to bf16 (identical to the reference). The GEMV rounds a copy of
 * the activations and goes through bf16 weights or rounded packs. */
static int mm_bf16_emul(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                        int64_t t1, void *s, size_t scr)
{
    if (t1 - t0 <= GEMV_MAX && m->w->dt == VD_DT_BF16) {
        int64_t K = m->w->cols;
        if ((size_t)(GEMV_MAX * K) * 4 > scr)
            return 0;
        float *xr = s;
        for (int64_t t = t0; t < t1; t += GEMV_MAX) {
            int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
            for (int64_t i = 0; i < nt * K; i += 16) {
                __mmask16 mk = mask16(nt * K - i);
                _mm512_mask_storeu_ps(
                    xr + i, mk,
                    round_bf16(_mm512_maskz_loadu_ps(mk, m->x + t * K + i)));
            }
            gemv_exact_bf16(m->w, xr, nt, m->bias, m->y + t * m->w->rows, r0,
                            r1);
        }
        return 1;
    }
    return gemm_f32(m, r0, r1, t0, t1, s, scr, 1);
}

/* ---------------------------------------------------------------------
 * attention: blocks of up to 64 query rows (queries x heads of one KV
 * group) against blocks of 64 keys, online softmax; K blocks transposed
 * and V blocks widened into scratch, so bf16 caches cost one pass each
 * ------------------------------------------------------------------ */

#define ABK   64 /* keys per block */
#define AROWS 64
#define AHD   512 /* largest head_dim handled here */

/* S[rows][64] = Q[rows][hd] . Kt[hd][64], 6 rows at a time. */
static void attn_qk(const float *q, int64_t ldq, int rows, int hd,
                    const float *kt, float *s)
{
    for (int r0 = 0; r0 < rows; r0 += 6) {
        __m512 c[6][4];
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
            c[i][0] = c[i][1] = c[i][2] = c[i][3] = _mm512_setzero_ps();
        const float *qr = q + r0 * ldq;
        for (int d = 0; d < hd; d++) {
            const float *kd = kt + d * ABK;
            __m512 k0 = _mm512_load_ps(kd), k1 = _mm512_load_ps(kd + 16);
            __m512 k2 = _mm512_load_ps(kd + 32), k3 = _mm512_load_ps(kd + 48);
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                __m512 a = _mm512_set1_ps(qr[i * ldq + d]);
                c[i][0] = _mm512_fmadd_ps(a, k0, c[i][0]);
                c[i][1] = _mm512_fmadd_ps(a, k1, c[i][1]);
                c[i][2] = _mm512_fmadd_ps(a, k2, c[i][2]);
                c[i][3] = _mm512_fmadd_ps(a, k3, c[i][3]);
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 4; j++)
                _mm512_store_ps(s + (r0 + i) * ABK + 16 * j, c[i][j]);
    }
}

/* O[rows][hdp] += P[rows][nk] . V[nk][hdp] for NV = hdp / 16 vectors. */
INLINE void attn_pv_nv(const float *p, int rows, int nk, const float *v,
                       int64_t ldv, float *o, int64_t ldo, int NV, int R)
{
    for (int r0 = 0; r0 < rows; r0 += R) {
        __m512 c[6][8];
        for (int i = 0; i < R; i++)
            for (int j = 0; j < NV; j++)
                c[i][j] = _mm512_load_ps(o + (r0 + i) * ldo + 16 * j);
        for (int k = 0; k < nk; k++) {
            __m512 vv[8];
            for (int j = 0; j < NV; j++)
                vv[j] = _mm512_load_ps(v + k * ldv + 16 * j);
            for (int i = 0; i < R; i++) {
                __m512 a = _mm512_set1_ps(p[(r0 + i) * ABK + k]);
                for (int j = 0; j < NV; j++)
                    c[i][j] = _mm512_fmadd_ps(a, vv[j], c[i][j]);
            }
        }
        for (int i = 0; i < R; i++)
            for (int j = 0; j < NV; j++)
                _mm512_store_ps(o + (r0 + i) * ldo + 16 * j, c[i][j]);
    }
}

static void attn_pv(const float *p, int rows, int nk, const float *v, int hdp,
                    float *o)
{
    /* rows is a multiple of 12; chunks of up to 8 vectors of V */
    for (int d0 = 0; d0 < hdp; d0 += 128) {
        int nv = (hdp - d0) / 16 < 8 ? (hdp - d0) / 16 : 8;
        const float *vd = v + d0;
        float *od = o + d0;
        switch (nv) {
        case 1:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 1, 6);
            break;
        case 2:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 2, 6);
            break;
        case 3:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 3, 6);
            break;
        case 4:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 4, 6);
            break;
        case 5:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 5, 4);
            break;
        case 6:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 6, 3);
            break;
        case 7:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 7, 3);
            break;
        default:
            attn_pv_nv(p, rows, nk, vd, hdp, od, hdp, 8, 3);
            break;
        }
    }
}

/* 16 values of key/value row J at dims [d, d + n) as fp32. */
INLINE __m512 kv_load(const vd__attn_args *a, const void *base, int64_t off,
                      int64_t n)
{
    if (a->kv_dt == VD_DT_BF16)
        return widen_bf16(
            _mm256_maskz_loadu_epi16(mask16(n), (const uint16_t *)base + off));
    return _mm512_maskz_loadu_ps(mask16(n), (const float *)base + off);
}

static int attn_block(const vd__attn_args *a, int h0, int h1, int64_t q0,
                      int64_t q1, int64_t k0, int64_t k1, void *scr,
                      size_t scr_n)
{
    int hd = a->head_dim, G = h1 - h0;
    int hdp = (hd + 15) & ~15;
    int64_t nqr = q1 - q0;
    int rows = (int)(nqr * G), rowsp = (rows + 11) / 12 * 12;
    if (hd > AHD || rows > AROWS)
        return 0;
    size_t need = ((size_t)rowsp * hdp * 2 + (size_t)rowsp * ABK +
                   (size_t)hdp * ABK + (size_t)ABK * hdp + 3 * AROWS) *
                  4;
    if (need > scr_n)
        return 0;
    float *qs = scr;                      /* [rowsp][hdp] */
    float *o = qs + (size_t)rowsp * hdp;  /* [rowsp][hdp] */
    float *sp = o + (size_t)rowsp * hdp;  /* [rowsp][ABK] */
    float *kt = sp + (size_t)rowsp * ABK; /* [hdp][ABK] */
    float *vp = kt + (size_t)hdp * ABK;   /* [ABK][hdp] */
    float *mrow = vp + (size_t)ABK * hdp; /* [AROWS] */
    float *lrow = mrow + AROWS;
    int64_t *lim = (int64_t *)(lrow + AROWS); /* [AROWS] (2 floats each) */
    (void)lim;
    int64_t kvoff = (int64_t)(h0 / G) * hd;
    /* scaled queries; rows past ROWS stay zero */
    memset(qs, 0, (size_t)rowsp * hdp * 2 * 4);
    __m512 sc = _mm512_set1_ps(a->scale);
    for (int r = 0; r < rows; r++) {
        int64_t i = q0 + r / G;
        const float *qi = a->q + i * a->q_stride + (int64_t)(h0 + r % G) * hd;
        for (int d = 0; d < hd; d += 16) {
            __mmask16 m = mask16(hd - d);
            _mm512_mask_storeu_ps(
                qs + r * hdp + d, m,
                _mm512_mul_ps(_mm512_maskz_loadu_ps(m, qi + d), sc));
        }
        mrow[r] = -INFINITY;
        lrow[r] = 0;
    }
    int64_t kend = k1;
    if (a->causal && a->q_pos0 + q1 < kend)
        kend = a->q_pos0 + q1;
    for (int64_t kb = k0; kb < kend; kb += ABK) {
        int nk = (int)(kend - kb < ABK ? kend - kb : ABK);
        /* K block transposed: kt[d][j] */
        for (int j0 = 0; j0 < ABK; j0 += 16) {
            for (int d0 = 0; d0 < hd; d0 += 16) {
                __m512i v[16];
                for (int j = 0; j < 16; j++)
                    v[j] = j0 + j < nk
                               ? _mm512_castps_si512(kv_load(
                                     a, a->k,
                                     (kb + j0 + j) * a->kv_stride + kvoff + d0,
                                     hd - d0))
                               : _mm512_setzero_si512();
                tr16(v);
                int nd = hd - d0 < 16 ? hd - d0 : 16;
                for (int d = 0; d < nd; d++)
                    _mm512_store_si512((__m512i *)(kt + (d0 + d) * ABK + j0),
                                       v[d]);
            }
        }
        /* V block widened: vp[j][d], zero past hd */
        for (int j = 0; j < nk; j++)
            for (int d = 0; d < hdp; d += 16)
                _mm512_store_ps(vp + j * hdp + d,
                                kv_load(a, a->v,
                                        (kb + j) * a->kv_stride + kvoff + d,
                                        hd - d));
        attn_qk(qs, hdp, rowsp, hd, kt, sp);
        /* online softmax, row by row */
        for (int r = 0; r < rows; r++) {
            int64_t i = q0 + r / G;
            int64_t lim_r = a->causal && a->q_pos0 + i + 1 < kend
                                ? a->q_pos0 + i + 1
                                : kend;
            int64_t nv = lim_r - kb;
            float *srow = sp + r * ABK;
            if (nv <= 0) { /* no key of this block for this row */
                memset(srow, 0, ABK * 4);
                continue;
            }
            if (nv > nk)
                nv = nk;
            __m512 mx = _mm512_set1_ps(-INFINITY);
            for (int j = 0; j < nv; j += 16)
                mx = _mm512_mask_max_ps(mx, mask16(nv - j), mx,
                                        _mm512_load_ps(srow + j));
            float mnew = fmaxf(mrow[r], _mm512_reduce_max_ps(mx));
            float alpha = expf(mrow[r] - mnew);
            __m512 mv = _mm512_set1_ps(mnew), sum = _mm512_setzero_ps();
            for (int j = 0; j < ABK; j += 16) {
                __m512 e = _mm512_maskz_mov_ps(
                    mask16(nv - j > 0 ? nv - j : 0),
                    exp512(_mm512_sub_ps(_mm512_load_ps(srow + j), mv)));
                sum = _mm512_add_ps(sum, e);
                _mm512_store_ps(srow + j, e);
            }
            lrow[r] = lrow[r] * alpha + _mm512_reduce_add_ps(sum);
            mrow[r] = mnew;
            if (alpha != 1.0f) {
                __m512 al = _mm512_set1_ps(alpha);
                for (int d = 0; d < hdp; d += 16)
                    _mm512_store_ps(
                        o + r * hdp + d,
                        _mm512_mul_ps(_mm512_load_ps(o + r * hdp + d), al));
            }
        }
        for (int r = rows; r < rowsp; r++)
            memset(sp + r * ABK, 0, ABK * 4);
        attn_pv(sp, rowsp, nk, vp, hdp, o);
    }
    for (int r = 0; r < rows; r++) {
        int64_t i = q0 + r / G;
        float *oi = a->o + i * a->o_stride + (int64_t)(h0 + r % G) * hd;
        __m512 inv = _mm512_set1_ps(lrow[r] > 0 ? 1.0f / lrow[r] : 0.0f);
        for (int d = 0; d < hd; d += 16) {
            __mmask16 m = mask16(hd - d);
            _mm512_mask_storeu_ps(
                oi + d, m, _mm512_mul_ps(_mm512_load_ps(o + r * hdp + d), inv));
        }
    }
    return 1;
}

void vd__kern_init_avx512(vd__kern *k)
{
    k->dot_f32 = dot_f32;
    k->mm_tile[VD_PREC_EXACT] = mm_exact;
    k->mm_tile[VD_PREC_BF16] = mm_bf16_emul;
    k->gemv_max_n = GEMV_MAX;
    k->attn_block = attn_block;
    k->rmsnorm = rmsnorm;
    k->silu_mul = silu_mul;
    k->gelu_erf = gelu_erf;
    k->softmax = softmax;
    k->rope = rope;
    k->f32_to_bf16 = f32_to_bf16;
    k->bf16_to_f32 = bf16_to_f32;
    k->quant_act = quant_act;
}

/* =====================================================================
 * Level avx512bf16: vdpbf16ps and vpdpbusd
 * ================================================================== */

void vd__kern_init_avx512bf16(vd__kern *k)
{
    (void)k;
}

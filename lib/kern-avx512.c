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

/* GEMV rows are read one at a time as one sequential stream, prefetched
 * this far ahead: about one DRAM latency of a core's stream (40 GB/s).
 * The hardware prefetchers stop at 4 KiB page ends (one bf16 row of 2048),
 * the software prefetch does not. Against 16 KiB, two threads: bf16 +2-4%,
 * exact +3-6%, q8 +2-4%, q4 +1-2% (4 KiB starved q4, 32-64 KiB were
 * slower).
 * Quantized rows prefetch at least PF_ROWS rows ahead. */
#define PF_BYTES 8192
#define PF_ROWS  4

/* Tokens wider than this (bytes) go two rows at a time. */
#define GEMV_L1_X 24576

INLINE int64_t pf_rows(int64_t rs)
{
    int64_t n = PF_BYTES / (rs > 0 ? rs : 1);
    return n < PF_ROWS ? PF_ROWS : n;
}

INLINE __m512 load_w16u(const vd__mat *w, const void *p)
{
    switch (w->dt) {
    case VD_DT_F32:
        return _mm512_loadu_ps(p);
    case VD_DT_BF16:
        return widen_bf16(_mm256_loadu_si256(p));
    default:
        return _mm512_cvtph_ps(_mm256_loadu_si256(p));
    }
}

/* f32 / bf16 / f16 rows, NT <= 4 tokens, R rows at a time: R = 1 is one
 * sequential stream, prefetched PF_BYTES ahead (into the next rows, never
 * past the matrix); four rows side by side were 15-30% slower: four
 * streams, each stopping the hardware prefetcher at every 4 KiB row end.
 * R = 2 is for tokens too wide to stay in L1 beside the weight stream
 * (the MLP down projection: 11008 fp32 = 43 KiB): each activation load
 * then serves two rows, halving the L2 traffic (22 -> 29-31 GB/s on one
 * core). Four accumulators in all, 64 bytes of weights per chain step,
 * so a late line is caught up at load speed, not FMA latency. R divides
 * r1 - r0 (the caller takes an odd last row with R = 1). */
INLINE void gemv_exact_nt(const vd__mat *w, const float *x, int NT, int R,
                          const float *bias, float *y, int64_t r0, int64_t r1)
{
    const int C = 4 / R; /* 16-value chunks per row per step */
    int64_t K = w->cols, rows = w->rows, step = 16 * C;
    int64_t KM = K / step * step;
    int64_t es = w->dt == VD_DT_F32 ? 4 : 2, rs = K * es;
    const unsigned char *base = w->data, *end = base + rows * rs;
    for (int64_t r = r0; r + R <= r1; r += R) {
        const unsigned char *wr = base + r * rs;
        __m512 acc[GEMV_MAX][4];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = _mm512_setzero_ps();
        for (int64_t k = 0; k < KM; k += step) {
            const unsigned char *pf = wr + k * es + PF_BYTES / R;
            if (pf + (R - 1) * rs < end)
#pragma GCC unroll 2
                for (int j = 0; j < R; j++)
                    for (int64_t c = 0; c < step * es; c += 64)
                        _mm_prefetch((const char *)pf + j * rs + c,
                                     _MM_HINT_T0);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) {
                __m512 wv[2];
#pragma GCC unroll 2
                for (int j = 0; j < R; j++)
                    wv[j] = load_w16u(w, wr + j * rs + (k + 16 * c) * es);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) {
                    __m512 xv = _mm512_loadu_ps(x + t * K + k + 16 * c);
#pragma GCC unroll 2
                    for (int j = 0; j < R; j++)
                        acc[t][j * C + c] =
                            _mm512_fmadd_ps(wv[j], xv, acc[t][j * C + c]);
                }
            }
        }
        for (int64_t k = KM; k < K; k += 16)
#pragma GCC unroll 2
            for (int j = 0; j < R; j++) {
                __m512 wv = load_w16(w, r + j, k, K - k);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++)
                    acc[t][j * C] = _mm512_fmadd_ps(
                        wv, _mm512_maskz_loadu_ps(mask16(K - k), x + t * K + k),
                        acc[t][j * C]);
            }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
#pragma GCC unroll 2
            for (int j = 0; j < R; j++) {
                __m512 s = acc[t][j * C];
#pragma GCC unroll 4
                for (int c = 1; c < C; c++)
                    s = _mm512_add_ps(s, acc[t][j * C + c]);
                y[t * rows + r + j] =
                    _mm512_reduce_add_ps(s) + (bias ? bias[r + j] : 0.0f);
            }
    }
}

/* Q8 / Q4 rows dequantized in registers, a pair of blocks (64 values) at
 * a time: values times the block scale, then FMAs with fp32 tokens. */
INLINE void gemv_exact_q_nt(const vd__mat *w, const float *x, int NT,
                            const float *bias, float *y, int64_t r0, int64_t r1)
{
    int64_t K = w->cols, rows = w->rows;
    int q8 = w->dt == VD_DT_Q8;
    int64_t nb = q8 ? VD_Q8_NB(K) : VD_Q4_NB(K);
    int64_t rs = q8 ? nb * VD_QBLK : nb * (VD_QBLK / 2), pfr = pf_rows(rs);
    const unsigned char *base = w->data;
    const uint16_t *sc = w->scales;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *wr = base + r * rs;
        /* ahead past the run, and the scales too (see gemv_q_nt) */
        int64_t rp = r + pfr < rows ? r + pfr : r;
        const unsigned char *pf = base + rp * rs;
        for (int64_t c = 0; c < nb * 2; c += 64)
            _mm_prefetch((const char *)(sc + rp * nb) + c, _MM_HINT_T0);
        __m512 acc[GEMV_MAX], acc2[GEMV_MAX]; /* two FMA chains */
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            acc[t] = acc2[t] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb && b * VD_QBLK < K; b += 2) {
            int64_t k = b * VD_QBLK;
            __m512 v[4];
            float s0 = _cvtsh_ss(sc[r * nb + b]);
            float s1 = b + 1 < nb ? _cvtsh_ss(sc[r * nb + b + 1]) : 0.0f;
            if (q8) {
                _mm_prefetch((const char *)(pf + k), _MM_HINT_T0);
                __m512i q =
                    b + 1 < nb ? _mm512_loadu_si512(wr + k)
                               : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, wr + k);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    v[c] =
                        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                          _mm512_extracti32x4_epi32(q, c))),
                                      _mm512_set1_ps(c < 2 ? s0 : s1));
            } else {
                _mm_prefetch((const char *)(pf + k / 2), _MM_HINT_T0);
                __m256i q = _mm256_loadu_si256((const __m256i *)(wr + k / 2));
                __m256i f = _mm256_set1_epi8(15);
                __m256i lo = _mm256_and_si256(q, f);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), f);
                __m128i part[4] = { _mm256_castsi256_si128(lo),
                                    _mm256_extracti128_si256(lo, 1),
                                    _mm256_castsi256_si128(hi),
                                    _mm256_extracti128_si256(hi, 1) };
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    float sc1 = c < 2 ? s0 : s1;
                    v[c] = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[c])),
                        _mm512_set1_ps(sc1), _mm512_set1_ps(-8.0f * sc1));
                }
            }
            if (k + 64 <= K) {
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) {
                    acc[t] = _mm512_fmadd_ps(
                        v[0], _mm512_loadu_ps(x + t * K + k), acc[t]);
                    acc2[t] = _mm512_fmadd_ps(
                        v[1], _mm512_loadu_ps(x + t * K + k + 16), acc2[t]);
                    acc[t] = _mm512_fmadd_ps(
                        v[2], _mm512_loadu_ps(x + t * K + k + 32), acc[t]);
                    acc2[t] = _mm512_fmadd_ps(
                        v[3], _mm512_loadu_ps(x + t * K + k + 48), acc2[t]);
                }
            } else {
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    int64_t n = K - k - 16 * c;
                    __mmask16 m = mask16(n > 0 ? n : 0);
#pragma GCC unroll 8
                    for (int t = 0; t < NT; t++)
                        acc[t] = _mm512_fmadd_ps(
                            v[c],
                            _mm512_maskz_loadu_ps(m, x + t * K + k + 16 * c),
                            acc[t]);
                }
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            y[t * rows + r] =
                _mm512_reduce_add_ps(_mm512_add_ps(acc[t], acc2[t])) +
                (bias ? bias[r] : 0.0f);
    }
}

/* NT as a constant for gemv_exact_nt, R rows at a time. */
INLINE void gemv_exact_r(const vd__mat *c, const float *x, int nt, int R,
                         const float *bias, float *y, int64_t r0, int64_t r1)
{
    switch (nt) {
    case 1:
        gemv_exact_nt(c, x, 1, R, bias, y, r0, r1);
        break;
    case 2:
        gemv_exact_nt(c, x, 2, R, bias, y, r0, r1);
        break;
    case 3:
        gemv_exact_nt(c, x, 3, R, bias, y, r0, r1);
        break;
    default:
        gemv_exact_nt(c, x, 4, R, bias, y, r0, r1);
        break;
    }
}

/* One instance per weight type, so the loads are resolved at compile
 * time. Tokens wider than GEMV_L1_X go two rows at a time (an odd last
 * row alone). */
#define GEMV_EXACT_DT(name, DT)                                                \
    static void name(const vd__mat *w, const float *x, int nt,                 \
                     const float *bias, float *y, int64_t r0, int64_t r1)      \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        int64_t rm = r0;                                                       \
        if (w->cols * nt * 4 > GEMV_L1_X) {                                    \
            rm = r0 + (r1 - r0) / 2 * 2;                                       \
            gemv_exact_r(&c, x, nt, 2, bias, y, r0, rm);                       \
        }                                                                      \
        gemv_exact_r(&c, x, nt, 1, bias, y, rm, r1);                           \
    }
GEMV_EXACT_DT(gemv_exact_f32, VD_DT_F32)
GEMV_EXACT_DT(gemv_exact_bf16, VD_DT_BF16)
GEMV_EXACT_DT(gemv_exact_f16, VD_DT_F16)
#define GEMV_EXACT_Q_DT(name, DT)                                              \
    static void name(const vd__mat *w, const float *x, int nt,                 \
                     const float *bias, float *y, int64_t r0, int64_t r1)      \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
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

/* how far ahead a weight pack prefetches each row (bytes) */
#define PACK_PF 256

/* A pack's loads wait on DRAM otherwise (half the prefill's time in bf16
 * precision): a row is often one 4 KiB page, where the hardware
 * prefetcher stops, and 16 rows are read side by side. While the pack of
 * rows [pr, pr + 16) is at column k0 + kk of the block [k0, k0 + kc), each
 * row prefetches PACK_PF bytes ahead, and past the block's end the same
 * offset of the next 16 rows, which are packed next. Only for the formats
 * stored one value per element (bf16, f16, f32). */
INLINE void pack_prefetch(const vd__mat *w, int64_t pr, int64_t k0, int64_t kc,
                          int64_t kk, int step)
{
    int64_t es = w->dt == VD_DT_F32                          ? 4
                 : w->dt == VD_DT_BF16 || w->dt == VD_DT_F16 ? 2
                                                             : 0;
    if (!es)
        return;
    int64_t rs = w->cols * es, off = kk * es + PACK_PF;
    if (off >= kc * es) {
        off -= kc * es;
        pr += 16;
    }
    if (pr + 16 > w->rows)
        return;
    const char *p = (const char *)w->data + pr * rs + k0 * es + off;
    for (int i = 0; i < 16; i++)
        for (int64_t e = 0; e < step * es; e += 64)
            _mm_prefetch(p + i * rs + e, _MM_HINT_T0);
}

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
            pack_prefetch(w, r0 + 16 * half, k0, kc, kk, 16);
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
                /* always through XP: pad (and round) the last tile, and
                 * in place the rows are K floats apart - at K = 2048 an
                 * 8 KiB stride puts all 14 in one L1 set */
                if (mr < MR || round || (K * 4) % 4096 == 0) {
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
                        int64_t t1,
                        void (*fn)(const vd__mat *, const float *, int,
                                   const float *, float *, int64_t, int64_t))
{
    for (int64_t t = t0; t < t1; t += GEMV_MAX) {
        int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
        fn(m->w, m->x + t * m->w->cols, nt, m->bias, m->y + t * m->w->rows, r0,
           r1);
    }
}

static int mm_exact(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                    int64_t t1, void *s, size_t scr)
{
    if (t1 - t0 <= GEMV_MAX) {
        gemv_tokens(m, r0, r1, t0, t1, gemv_exact);
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
#define AROWS 256
#define AHD   512 /* largest head_dim handled here */
#define APF   16  /* key rows between a line's load and its prefetch */

/* S[R][64] = Q[R][hd] . Kt[hd][64]: R rows x 64 keys in registers. */
INLINE void attn_qk_r(const float *qr, int64_t ldq, int hd, const float *kt,
                      float *s, int R)
{
    __m512 c[6][4];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
        c[i][0] = c[i][1] = c[i][2] = c[i][3] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const float *kd = kt + d * ABK;
        __m512 k0 = _mm512_load_ps(kd), k1 = _mm512_load_ps(kd + 16);
        __m512 k2 = _mm512_load_ps(kd + 32), k3 = _mm512_load_ps(kd + 48);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            __m512 a = _mm512_set1_ps(qr[i * ldq + d]);
            c[i][0] = _mm512_fmadd_ps(a, k0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, k1, c[i][1]);
            c[i][2] = _mm512_fmadd_ps(a, k2, c[i][2]);
            c[i][3] = _mm512_fmadd_ps(a, k3, c[i][3]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < 4; j++)
            _mm512_store_ps(s + i * ABK + 16 * j, c[i][j]);
}

/* S[rows][64] = Q[rows][hd] . Kt[hd][64]: 6 rows at a time, then 4, 2, 1
 * (decoding has 8 rows per KV head: no padded rows to compute). */
static void attn_qk(const float *q, int64_t ldq, int rows, int hd,
                    const float *kt, float *s)
{
    int r0 = 0;
    for (; rows - r0 >= 6; r0 += 6)
        attn_qk_r(q + r0 * ldq, ldq, hd, kt, s + r0 * ABK, 6);
    if (rows - r0 >= 4) {
        attn_qk_r(q + r0 * ldq, ldq, hd, kt, s + r0 * ABK, 4);
        r0 += 4;
    }
    if (rows - r0 >= 2) {
        attn_qk_r(q + r0 * ldq, ldq, hd, kt, s + r0 * ABK, 2);
        r0 += 2;
    }
    if (rows - r0 >= 1)
        attn_qk_r(q + r0 * ldq, ldq, hd, kt, s + r0 * ABK, 1);
}

/* O[R][16 NV] += P[R][nk] . V[nk][16 NV] */
INLINE void attn_pv_r(const float *p, int nk, const float *v, int64_t ldv,
                      float *o, int64_t ldo, int NV, int R)
{
    __m512 c[6][8];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++)
            c[i][j] = _mm512_load_ps(o + i * ldo + 16 * j);
    for (int k = 0; k < nk; k++) {
        __m512 vv[8];
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++)
            vv[j] = _mm512_load_ps(v + k * ldv + 16 * j);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 a = _mm512_set1_ps(p[i * ABK + k]);
#pragma GCC unroll 8
            for (int j = 0; j < NV; j++)
                c[i][j] = _mm512_fmadd_ps(a, vv[j], c[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++)
            _mm512_store_ps(o + i * ldo + 16 * j, c[i][j]);
}

/* Rows in tiles of R (as many as the registers allow for NV vectors),
 * then a tail of 2 and 1. */
INLINE void attn_pv_nv(const float *p, int rows, int nk, const float *v,
                       int64_t ldv, float *o, int64_t ldo, int NV, int R)
{
    int r0 = 0;
    for (; rows - r0 >= R; r0 += R)
        attn_pv_r(p + r0 * ABK, nk, v, ldv, o + r0 * ldo, ldo, NV, R);
    if (R > 2 && rows - r0 >= 2) {
        attn_pv_r(p + r0 * ABK, nk, v, ldv, o + r0 * ldo, ldo, NV, 2);
        r0 += 2;
    }
    for (; r0 < rows; r0++)
        attn_pv_r(p + r0 * ABK, nk, v, ldv, o + r0 * ldo, ldo, NV, 1);
}

static void attn_pv(const float *p, int rows, int nk, const float *v, int hdp,
                    float *o)
{
    /* chunks of up to 8 vectors of V; R x NV accumulators <= 24 */
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

/* Rows of a block are grouped by KV head: the NG groups of heads
 * [h0, h1) each hold their queries x heads, so one key block is packed per
 * KV head and used by all that head's rows, and a call over all heads
 * (decoding) reads every key row whole and in order. */
static int attn_block(const vd__attn_args *a, int h0, int h1, int64_t q0,
                      int64_t q1, int64_t k0, int64_t k1, float *part,
                      void *scr, size_t scr_n)
{
    int hd = a->head_dim, group = a->n_head / a->n_kv_head;
    int g0 = h0 / group, ng = (h1 - 1) / group - g0 + 1;
    int G = ng > 1 ? group : h1 - h0; /* heads per group in this call */
    int hdp = (hd + 15) & ~15;
    int64_t nqr = q1 - q0;
    int rg = (int)(nqr * G), rgp = rg; /* rows per group */
    int rowsp = rgp * ng;
    if (hd > AHD || rg * ng > AROWS || (ng > 1 && (h0 % group || h1 % group)))
        return 0;
    size_t need = ((size_t)rowsp * hdp * 2 + (size_t)rgp * ABK +
                   2 * (size_t)ng * hdp * ABK + 2 * (size_t)rowsp) *
                  4;
    if (need > scr_n)
        return 0;
    float *qs = scr;                         /* [rowsp][hdp] scaled queries */
    float *o = qs + (size_t)rowsp * hdp;     /* [rowsp][hdp] */
    float *sp = o + (size_t)rowsp * hdp;     /* [rgp][ABK] one group's scores */
    float *kt = sp + (size_t)rgp * ABK;      /* [ng][hdp][ABK] */
    float *vp = kt + (size_t)ng * hdp * ABK; /* [ng][ABK][hdp] */
    float *mrow = vp + (size_t)ng * ABK * hdp; /* [rowsp] */
    float *lrow = mrow + rowsp;
    memset(qs, 0, (size_t)rowsp * hdp * 2 * 4);
    __m512 sc = _mm512_set1_ps(a->scale);
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
            for (int d = 0; d < hd; d += 16) {
                __mmask16 m = mask16(hd - d);
                _mm512_mask_storeu_ps(
                    qs + rr * hdp + d, m,
                    _mm512_mul_ps(_mm512_maskz_loadu_ps(m, qi + d), sc));
            }
        }
    int64_t kend = k1;
    if (a->causal && a->q_pos0 + q1 < kend)
        kend = a->q_pos0 + q1;
    size_t es = a->kv_dt == VD_DT_BF16 ? 2 : 4, ld = (size_t)a->kv_stride * es;
    const char *kbase = (const char *)a->k + (size_t)g0 * hd * es;
    const char *vbase = (const char *)a->v + (size_t)g0 * hd * es;
    for (int64_t kb = k0; kb < kend; kb += ABK) {
        int nk = (int)(kend - kb < ABK ? kend - kb : ABK);
        /* Every group's K block transposed (kt[g][d][j]) and V block
         * widened (vp[g][j][d], zero past hd) before any is used: a
         * decoding call (all heads) then reads the cache's rows whole and
         * in order, prefetching each line APF rows ahead. One group's part
         * of 64 rows at a time read a cold cache at half this pace
         * (docs/performance.md). */
        for (int j0 = 0; j0 < ABK; j0 += 16)
            for (int gi = 0; gi < ng; gi++)
                for (int d0 = 0; d0 < hd; d0 += 16) {
                    size_t col = ((size_t)gi * hd + (size_t)d0) * es;
                    __m512i v[16];
                    for (int j = 0; j < 16; j++) {
                        int64_t kr = kb + j0 + j; /* past kend: unread */
                        if (kr + APF < kend)
                            _mm_prefetch(kbase + (size_t)(kr + APF) * ld + col,
                                         _MM_HINT_T0);
                        v[j] = j0 + j < nk
                                   ? _mm512_castps_si512(kv_load(
                                         a, kbase + (size_t)kr * ld + col, 0,
                                         hd - d0))
                                   : _mm512_setzero_si512();
                    }
                    tr16(v);
                    float *kg = kt + (size_t)gi * hdp * ABK;
                    int nd = hd - d0 < 16 ? hd - d0 : 16;
                    for (int d = 0; d < nd; d++)
                        _mm512_store_si512(
                            (__m512i *)(kg + (d0 + d) * ABK + j0), v[d]);
                }
        for (int j = 0; j < nk; j++) {
            const char *row = vbase + (size_t)(kb + j) * ld;
            for (int gi = 0; gi < ng; gi++)
                for (int d = 0; d < hdp; d += 16) {
                    size_t col = ((size_t)gi * hd + (size_t)d) * es;
                    if (kb + j + APF < kend)
                        _mm_prefetch(row + APF * ld + col, _MM_HINT_T0);
                    _mm512_store_ps(vp + ((size_t)gi * ABK + j) * hdp + d,
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
            /* online softmax, row by row */
            for (int r = 0; r < rg; r++) {
                int64_t i = q0 + r / G;
                int64_t lim = a->causal && a->q_pos0 + i + 1 < kend
                                  ? a->q_pos0 + i + 1
                                  : kend;
                int64_t nv = lim - kb;
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
                float mnew = fmaxf(mg[r], _mm512_reduce_max_ps(mx));
                float alpha = expf(mg[r] - mnew);
                __m512 mv = _mm512_set1_ps(mnew), sum = _mm512_setzero_ps();
                for (int j = 0; j < ABK; j += 16) {
                    __m512 e = _mm512_maskz_mov_ps(
                        mask16(nv - j > 0 ? nv - j : 0),
                        exp512(_mm512_sub_ps(_mm512_load_ps(srow + j), mv)));
                    sum = _mm512_add_ps(sum, e);
                    _mm512_store_ps(srow + j, e);
                }
                lg[r] = lg[r] * alpha + _mm512_reduce_add_ps(sum);
                mg[r] = mnew;
                if (alpha != 1.0f) {
                    __m512 al = _mm512_set1_ps(alpha);
                    for (int d = 0; d < hdp; d += 16)
                        _mm512_store_ps(
                            og + r * hdp + d,
                            _mm512_mul_ps(_mm512_load_ps(og + r * hdp + d),
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
            if (part) { /* unnormalised, with the row's max and sum */
                float *pr = part + ((i - q0) * H + (h - h0)) * (hd + 2);
                memcpy(pr, orow, (size_t)hd * 4);
                pr[hd] = mrow[rr];
                pr[hd + 1] = lrow[rr];
                continue;
            }
            float *oi = a->o + i * a->o_stride + (int64_t)h * hd;
            __m512 inv = _mm512_set1_ps(lrow[rr] > 0 ? 1.0f / lrow[rr] : 0.0f);
            for (int d = 0; d < hd; d += 16) {
                __mmask16 m = mask16(hd - d);
                _mm512_mask_storeu_ps(
                    oi + d, m, _mm512_mul_ps(_mm512_load_ps(orow + d), inv));
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

/* =====================================================================
 * Level avx512bf16: vdpbf16ps on bf16 pairs, vpdpbusd on int8 quads
 * ================================================================== */

typedef uint16_t bf16_t;

/* 32 values of row R from column C as bf16 pairs (N valid). f32/f16
 * weights are rounded by the hardware (nearest even). */
INLINE __m512bh load_w32_bh(const vd__mat *w, int64_t r, int64_t c, int64_t n)
{
    const unsigned char *base = w->data;
    switch (w->dt) {
    case VD_DT_BF16:
        return (__m512bh)_mm512_maskz_loadu_epi16(
            mask32(n), (const uint16_t *)base + r * w->cols + c);
    case VD_DT_F32: {
        const float *p = (const float *)base + r * w->cols + c;
        __m512 lo = _mm512_maskz_loadu_ps(mask16(n), p);
        __m512 hi = _mm512_maskz_loadu_ps(mask16(n > 16 ? n - 16 : 0), p + 16);
        return _mm512_cvtne2ps_pbh(hi, lo);
    }
    default: {
        const uint16_t *p = (const uint16_t *)base + r * w->cols + c;
        __m512 lo = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask16(n), p));
        __m512 hi = _mm512_cvtph_ps(
            _mm256_maskz_loadu_epi16(mask16(n > 16 ? n - 16 : 0), p + 16));
        return _mm512_cvtne2ps_pbh(hi, lo);
    }
    }
}

/* X rows [n][K] -> bf16 [n][ld] (rounded like the reference, zero past
 * K). */
static void x_to_bf16(const float *x, int64_t K, int n, int64_t ldx,
                      bf16_t *dst, int64_t ld)
{
    for (int t = 0; t < n; t++) {
        for (int64_t k = 0; k < ld; k += 16) {
            __m512 v = _mm512_maskz_loadu_ps(mask16(K - k > 0 ? K - k : 0),
                                             x + t * ldx + k);
            _mm256_storeu_si256((__m256i *)(dst + t * ld + k),
                                _mm512_cvtepi32_epi16(bf16_bits(v)));
        }
    }
}

INLINE __m512bh load_w32_bhu(const vd__mat *w, const unsigned char *p)
{
    switch (w->dt) {
    case VD_DT_BF16:
        return (__m512bh)_mm512_loadu_si512(p);
    case VD_DT_F32:
        return _mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + 64), _mm512_loadu_ps(p));
    default:
        return _mm512_cvtne2ps_pbh(
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32))),
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)));
    }
}

/* Rows one at a time, streamed like gemv_exact_nt. */
INLINE void gemv_bh_nt(const vd__mat *w, const bf16_t *xb, int64_t ldx, int NT,
                       const float *bias, float *y, int64_t r0, int64_t r1)
{
    int64_t K = w->cols, rows = w->rows, K32 = K & ~(int64_t)31;
    int64_t es = w->dt == VD_DT_F32 ? 4 : 2, rs = K * es;
    const unsigned char *base = w->data, *end = base + rows * rs;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *wr = base + r * rs;
        __m512 acc[GEMV_MAX][2];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            acc[t][0] = acc[t][1] = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 64 <= K32; k += 64) {
            const unsigned char *pf = wr + k * es + PF_BYTES;
            if (pf < end)
                for (int64_t c = 0; c < 64 * es; c += 64)
                    _mm_prefetch((const char *)pf + c, _MM_HINT_T0);
            __m512bh w0 = load_w32_bhu(w, wr + k * es);
            __m512bh w1 = load_w32_bhu(w, wr + (k + 32) * es);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                acc[t][0] = _mm512_dpbf16_ps(
                    acc[t][0], w0,
                    (__m512bh)_mm512_load_si512(xb + t * ldx + k));
                acc[t][1] = _mm512_dpbf16_ps(
                    acc[t][1], w1,
                    (__m512bh)_mm512_load_si512(xb + t * ldx + k + 32));
            }
        }
        for (; k < K; k += 32) {
            __m512bh wv = load_w32_bh(w, r, k, K - k);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++)
                acc[t][0] = _mm512_dpbf16_ps(
                    acc[t][0], wv,
                    (__m512bh)_mm512_load_si512(xb + t * ldx + k));
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            y[t * rows + r] =
                _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1])) +
                (bias ? bias[r] : 0.0f);
    }
}

#define GEMV_BH_DT(name, DT)                                                   \
    static void name(const vd__mat *w, const bf16_t *xb, int64_t ldx, int nt,  \
                     const float *bias, float *y, int64_t r0, int64_t r1)      \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        switch (nt) {                                                          \
        case 1:                                                                \
            gemv_bh_nt(&c, xb, ldx, 1, bias, y, r0, r1);                       \
            break;                                                             \
        case 2:                                                                \
            gemv_bh_nt(&c, xb, ldx, 2, bias, y, r0, r1);                       \
            break;                                                             \
        case 3:                                                                \
            gemv_bh_nt(&c, xb, ldx, 3, bias, y, r0, r1);                       \
            break;                                                             \
        default:                                                               \
            gemv_bh_nt(&c, xb, ldx, 4, bias, y, r0, r1);                       \
            break;                                                             \
        }                                                                      \
    }
GEMV_BH_DT(gemv_bh_f32, VD_DT_F32)
GEMV_BH_DT(gemv_bh_bf16, VD_DT_BF16)
GEMV_BH_DT(gemv_bh_f16, VD_DT_F16)

#define KC2 512 /* bf16 k block: a 32-row panel is 32 KiB */

/* Rows [r0, r0 + nrv) x columns [k0, k0 + kc) as pairs DST[kc/2][32]. */
INLINE void pack_bh_panel(const vd__mat *w, int64_t r0, int nrv, int64_t k0,
                          int64_t kc, uint32_t *dst)
{
    for (int half = 0; half < 2; half++) {
        int nv = nrv - 16 * half;
        nv = nv < 0 ? 0 : nv > 16 ? 16 : nv;
        for (int64_t kk = 0; kk < kc; kk += 32) {
            __m512i v[16];
            int64_t n = kc - kk;
            pack_prefetch(w, r0 + 16 * half, k0, kc, kk, 32);
            for (int i = 0; i < 16; i++)
                v[i] = i < nv ? (__m512i)load_w32_bh(w, r0 + 16 * half + i,
                                                     k0 + kk, n)
                              : _mm512_setzero_si512();
            tr16(v);
            int64_t np = (n + 1) / 2 < 16 ? (n + 1) / 2 : 16;
            for (int64_t c = 0; c < np; c++)
                _mm512_store_si512(
                    (__m512i *)(dst + (kk / 2 + c) * NR + 16 * half), v[c]);
        }
    }
}

#define PACK_BH_DT(name, DT)                                                   \
    static void name(const vd__mat *w, int64_t r0, int nrv, int64_t k0,        \
                     int64_t kc, uint32_t *dst)                                \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        pack_bh_panel(&c, r0, nrv, k0, kc, dst);                               \
    }
PACK_BH_DT(pack_bh_f32, VD_DT_F32)
PACK_BH_DT(pack_bh_bf16, VD_DT_BF16)
PACK_BH_DT(pack_bh_f16, VD_DT_F16)

/* Y tile [14][32] (+)= X[14][np pairs] . WP[np][32 pairs]. */
static void ukr_bh(int64_t np, const uint32_t *x, int64_t ldx,
                   const uint32_t *wp, float *y, int64_t ldy, int mr,
                   __mmask16 m0, __mmask16 m1, const float *bias, int acc)
{
    __m512 c[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
        c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < np; k++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(wp + k * NR);
        __m512bh b1 = (__m512bh)_mm512_load_si512(wp + k * NR + 16);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)x[i * ldx + k]);
            c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
            c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
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

#define TILE_T 256 /* tokens converted at once */

static int mm_bf16(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                   int64_t t1, void *s, size_t scr)
{
    const vd__mat *w = m->w;
    int64_t K = w->cols, rows = w->rows;
    if (t1 - t0 <= GEMV_MAX) {
        int64_t ld = (K + 31) & ~(int64_t)31;
        if (!m->xb && (size_t)(GEMV_MAX * ld) * 2 > scr)
            return 0;
        bf16_t *xb = s;
        for (int64_t t = t0; t < t1; t += GEMV_MAX) {
            int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
            const bf16_t *xt = xb;
            int64_t ldt = ld;
            if (m->xb) { /* converted once for the whole call */
                xt = m->xb + t * m->xb_ld;
                ldt = m->xb_ld;
            } else {
                x_to_bf16(m->x + t * K, K, nt, K, xb, ld);
            }
            float *yt = m->y + t * rows;
            if (w->dt == VD_DT_BF16)
                gemv_bh_bf16(w, xt, ldt, nt, m->bias, yt, r0, r1);
            else if (w->dt == VD_DT_F32)
                gemv_bh_f32(w, xt, ldt, nt, m->bias, yt, r0, r1);
            else
                gemv_bh_f16(w, xt, ldt, nt, m->bias, yt, r0, r1);
        }
        return 1;
    }
    size_t wp_bytes = (size_t)TILE_R * KC2 * 2;
    size_t xb_bytes = (size_t)(TILE_T + MR) * KC2 * 2;
    if (scr < wp_bytes + xb_bytes)
        return 0;
    uint32_t *wp = s;
    bf16_t *xb = (bf16_t *)((char *)s + wp_bytes);
    void (*pack)(const vd__mat *, int64_t, int, int64_t, int64_t, uint32_t *) =
        w->dt == VD_DT_BF16  ? pack_bh_bf16
        : w->dt == VD_DT_F32 ? pack_bh_f32
                             : pack_bh_f16;
    for (int64_t rc = r0; rc < r1; rc += TILE_R) {
        int64_t rce = rc + TILE_R < r1 ? rc + TILE_R : r1;
        int np = (int)((rce - rc + NR - 1) / NR);
        /* with the activations converted for the whole call, one weight
         * pack serves all the tile's tokens */
        int64_t tstep = m->xb ? t1 - t0 : TILE_T;
        for (int64_t tc = t0; tc < t1; tc += tstep) {
            int64_t tce = tc + tstep < t1 ? tc + tstep : t1;
            int64_t ntok = tce - tc, ntokp = (ntok + MR - 1) / MR * MR;
            for (int64_t k0 = 0; k0 < K; k0 += KC2) {
                int64_t kc = K - k0 < KC2 ? K - k0 : KC2;
                int64_t npair = (kc + 1) / 2;
                for (int p = 0; p < np; p++) {
                    int64_t pr = rc + (int64_t)p * NR;
                    int nrv = (int)(rce - pr < NR ? rce - pr : NR);
                    pack(w, pr, nrv, k0, kc, wp + (size_t)p * NR * (KC2 / 2));
                }
                const bf16_t *xt = xb; /* this tile's tokens, in bf16 */
                int64_t ldt = KC2;
                if (m->xb) {
                    xt = m->xb + tc * m->xb_ld + k0;
                    ldt = m->xb_ld;
                } else {
                    x_to_bf16(m->x + tc * K + k0, kc, (int)ntok, K, xb, KC2);
                    memset(xb + ntok * KC2, 0,
                           (size_t)(ntokp - ntok) * KC2 * 2);
                }
                for (int64_t i0 = 0; i0 < ntok; i0 += MR) {
                    int mr = (int)(ntok - i0 < MR ? ntok - i0 : MR);
                    for (int p = 0; p < np; p++) {
                        int64_t pr = rc + (int64_t)p * NR;
                        int64_t nrv = rce - pr;
                        ukr_bh(npair, (const uint32_t *)(xt + i0 * ldt),
                               ldt / 2, wp + (size_t)p * NR * (KC2 / 2),
                               m->y + (tc + i0) * rows + pr, rows, mr,
                               mask16(nrv), mask16(nrv - 16 > 0 ? nrv - 16 : 0),
                               m->bias ? m->bias + pr : NULL, k0 > 0);
                    }
                }
            }
        }
    }
    return 1;
}

/* ---- int8: Q8 / Q4 weights, activations quantized per 32-block ---- */

/* lane l of permutation j takes scale 2j (l < 8) or 2j + 1 (l >= 8) */
static const int32_t pair_idx[8][16] __attribute__((aligned(64))) = {
#define PI(j)                                                                  \
    {                                                                          \
        2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1,     \
            2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1,  \
            2 * j + 1                                                          \
    }
    PI(0), PI(1), PI(2), PI(3), PI(4), PI(5), PI(6), PI(7)
#undef PI
};

/* Values 64 k of row R from block B (even) as unsigned bytes (Q8 shifted
 * by 128, Q4 the raw nibbles), zero past NB blocks. */
INLINE __m512i load_q64(const vd__mat *w, int64_t r, int64_t b, int64_t nb)
{
    const unsigned char *base = w->data;
    if (w->dt == VD_DT_Q8) {
        const unsigned char *p = base + (r * nb + b) * VD_QBLK;
        __m512i v = b + 1 < nb ? _mm512_loadu_si512(p)
                               : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p);
        v = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
        return b + 1 < nb ? v : _mm512_maskz_mov_epi8(0xFFFFFFFFull, v);
    }
    /* both halves hold the 32 bytes; the upper one is shifted by 4 */
    __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(
        (const __m256i *)(base + r * nb * (VD_QBLK / 2) + (b / 2) * VD_QBLK)));
    v = _mm512_srlv_epi16(
        v, _mm512_set_epi64(0x0004000400040004ll, 0x0004000400040004ll,
                            0x0004000400040004ll, 0x0004000400040004ll, 0, 0, 0,
                            0));
    return _mm512_and_si512(v, _mm512_set1_epi8(15));
}

/* Quantized activations as the GEMV reads them: token t's blocks at
 * q + t * ldq, their scales at s + t * lds and -zp * (sum of the block's
 * q) at z + t * lds; either the once-per-call conversion (vd__mm xq) or
 * quant_x's into scratch. Blocks past nb read as zero. */
typedef struct qx {
    const int8_t *q;
    const float *s;
    const int32_t *z;
    int64_t ldq, lds, nb;
} qx;

static void quant_x(const float *x, int64_t K, int nt, int64_t nb, int32_t zp,
                    int8_t *q, float *s, int32_t *z)
{
    for (int t = 0; t < nt; t++) {
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
}

INLINE void gemv_q_nt(const vd__mat *w, const qx *x, int NT, const float *bias,
                      float *y, int64_t r0, int64_t r1)
{
    int64_t rows = w->rows;
    int q8 = w->dt == VD_DT_Q8;
    int64_t nb = q8 ? VD_Q8_NB(w->cols) : VD_Q4_NB(w->cols);
    int64_t qb = q8 ? VD_QBLK : VD_QBLK / 2; /* bytes per block */
    int64_t rs = nb * qb, pfr = pf_rows(rs);
    const uint16_t *sc = w->scales;
    const char *base = w->data;
    for (int64_t r = r0; r < r1; r++) {
        /* prefetch up to the matrix end, not the run's: a worker that
         * takes a second run (its neighbour started late) starts it warm,
         * and the overrun is pfr rows once per call; the scales are a
         * second stream the hardware prefetcher misses */
        int64_t rp = r + pfr < rows ? r + pfr : r;
        const char *pf = base + rp * rs;
        for (int64_t c = 0; c < nb * 2; c += 64)
            _mm_prefetch((const char *)(sc + rp * nb) + c, _MM_HINT_T0);
        /* four accumulators per token: the FMA latency is not a chain */
        __m512 acc[GEMV_MAX][4], corr[GEMV_MAX];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            corr[t] = _mm512_setzero_ps();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                acc[t][j] = _mm512_setzero_ps();
        }
        for (int64_t b16 = 0; b16 < nb; b16 += 16) {
            int64_t nbk = nb - b16 < 16 ? nb - b16 : 16;
            __m512 S = _mm512_cvtph_ps(
                _mm256_maskz_loadu_epi16(mask16(nbk), sc + r * nb + b16));
            __m512 St[GEMV_MAX];
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                St[t] =
                    _mm512_mul_ps(S, _mm512_maskz_loadu_ps(
                                         mask16(nbk), x->s + t * x->lds + b16));
                __m512 z = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(
                    mask16(nbk), x->z + t * x->lds + b16));
                corr[t] = _mm512_fmadd_ps(St[t], z, corr[t]);
            }
            for (int64_t c = 0; c < 16 * qb; c += 64)
                _mm_prefetch(pf + b16 * qb + c, _MM_HINT_T0);
            if (nbk == 16) {
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    __m512i wv = load_q64(w, r, b16 + 2 * j, nb);
                    __m512i idx = _mm512_load_si512(pair_idx[j]);
#pragma GCC unroll 8
                    for (int t = 0; t < NT; t++) {
                        __m512i d = _mm512_dpbusd_epi32(
                            _mm512_setzero_si512(), wv,
                            _mm512_loadu_si512(x->q + t * x->ldq +
                                               (b16 + 2 * j) * VD_QBLK));
                        acc[t][j & 3] = _mm512_fmadd_ps(
                            _mm512_cvtepi32_ps(d),
                            _mm512_permutexvar_ps(idx, St[t]), acc[t][j & 3]);
                    }
                }
            } else {
                for (int j = 0; 2 * j < nbk; j++) {
                    __m512i wv = load_q64(w, r, b16 + 2 * j, nb);
                    __m512i idx = _mm512_load_si512(pair_idx[j]);
#pragma GCC unroll 8
                    for (int t = 0; t < NT; t++) {
                        __m512i d = _mm512_dpbusd_epi32(
                            _mm512_setzero_si512(), wv,
                            _mm512_loadu_si512(x->q + t * x->ldq +
                                               (b16 + 2 * j) * VD_QBLK));
                        acc[t][0] = _mm512_fmadd_ps(
                            _mm512_cvtepi32_ps(d),
                            _mm512_permutexvar_ps(idx, St[t]), acc[t][0]);
                    }
                }
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            y[t * rows + r] =
                _mm512_reduce_add_ps(
                    _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]),
                                  _mm512_add_ps(acc[t][2], acc[t][3]))) -
                -_mm512_reduce_add_ps(corr[t]) + (bias ? bias[r] : 0.0f);
    }
}

/* lane l of permutation [j][h] takes scale 4j + h (l < 8) or 4j + h + 2
 * (l >= 8): the blocks of one 64-byte Q4 load's low (h = 0) or high (h =
 * 1) nibbles */
static const int32_t quad_idx[4][2][16] __attribute__((aligned(64))) = {
#define QI(j, h)                                                               \
    {                                                                          \
        4 * j + h, 4 * j + h, 4 * j + h, 4 * j + h, 4 * j + h, 4 * j + h,      \
            4 * j + h, 4 * j + h, 4 * j + h + 2, 4 * j + h + 2, 4 * j + h + 2, \
            4 * j + h + 2, 4 * j + h + 2, 4 * j + h + 2, 4 * j + h + 2,        \
            4 * j + h + 2                                                      \
    }
    { QI(0, 0), QI(0, 1) },
    { QI(1, 0), QI(1, 1) },
    { QI(2, 0), QI(2, 1) },
    { QI(3, 0), QI(3, 1) }
#undef QI
};

/* Blocks per row of the Q4 GEMV's regrouped activations. */
#define Q4_NB4(nb) (((nb) + 3) & ~(int64_t)3)

/* X's NT tokens of NB blocks regrouped for gemv_q4_nt into DST (rows of
 * Q4_NB4(nb) blocks): each group of four blocks in the order 0, 2, 1, 3,
 * zero past NB. One 64-byte load of Q4 weights holds block pairs (4g,
 * 4g + 1) and (4g + 2, 4g + 3), low nibbles the even blocks: after one
 * AND its low nibbles meet blocks 4g, 4g + 2 of the activations as one
 * contiguous 64 bytes, after a shift and an AND its high ones 4g + 1,
 * 4g + 3 as the next 64. */
static void q4_regroup(const qx *x, int nt, int64_t nb, int8_t *dst)
{
    static const int ord[4] = { 0, 2, 1, 3 };
    int64_t nb4 = Q4_NB4(nb);
    for (int t = 0; t < nt; t++) {
        const int8_t *src = x->q + t * x->ldq;
        int8_t *d = dst + t * nb4 * VD_QBLK;
        for (int64_t g = 0; g < nb4; g += 4)
            for (int i = 0; i < 4; i++) {
                int64_t b = g + ord[i];
                __m256i v = b < nb ? _mm256_loadu_si256(
                                         (const __m256i *)(src + b * VD_QBLK))
                                   : _mm256_setzero_si256();
                _mm256_storeu_si256((__m256i *)(d + (g + i) * VD_QBLK), v);
            }
    }
}

/* Q4 GEMV: 64 bytes of weights (four blocks) per load, the nibbles used
 * as vpdpbusd's unsigned operand as they are (the zero point 8 comes back
 * through the blocks' activation sums, CORR), activations regrouped by
 * q4_regroup (XO, LDO bytes per token). Per four blocks: one load, three
 * integer ops to split the nibbles, then per token two dot products and
 * two (convert, permute the scales, FMA) - half the unpacking work of
 * reading a block pair at a time. */
INLINE void gemv_q4_nt(const vd__mat *w, const qx *x, const int8_t *xo,
                       int64_t ldo, int NT, const float *bias, float *y,
                       int64_t r0, int64_t r1)
{
    int64_t rows = w->rows, nb = VD_Q4_NB(w->cols), rs = nb * (VD_QBLK / 2);
    int64_t pfr = pf_rows(rs);
    const uint16_t *sc = w->scales;
    const unsigned char *base = w->data;
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int64_t r = r0; r < r1; r++) {
        /* prefetch as gemv_q_nt does */
        int64_t rp = r + pfr < rows ? r + pfr : r;
        const char *pf = (const char *)base + rp * rs;
        for (int64_t c = 0; c < nb * 2; c += 64)
            _mm_prefetch((const char *)(sc + rp * nb) + c, _MM_HINT_T0);
        const unsigned char *wr = base + r * rs;
        __m512 acc[GEMV_MAX][4], corr[GEMV_MAX];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            corr[t] = _mm512_setzero_ps();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                acc[t][j] = _mm512_setzero_ps();
        }
        for (int64_t b16 = 0; b16 < nb; b16 += 16) {
            int64_t nbk = nb - b16 < 16 ? nb - b16 : 16;
            __m512 S = _mm512_cvtph_ps(
                _mm256_maskz_loadu_epi16(mask16(nbk), sc + r * nb + b16));
            __m512 St[GEMV_MAX];
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                St[t] =
                    _mm512_mul_ps(S, _mm512_maskz_loadu_ps(
                                         mask16(nbk), x->s + t * x->lds + b16));
                __m512 z = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(
                    mask16(nbk), x->z + t * x->lds + b16));
                corr[t] = _mm512_fmadd_ps(St[t], z, corr[t]);
            }
            for (int64_t c = 0; c < 8 * VD_QBLK; c += 64)
                _mm_prefetch(pf + b16 * (VD_QBLK / 2) + c, _MM_HINT_T0);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                int64_t b = b16 + 4 * j;
                if (b >= nb)
                    break;
                const unsigned char *p = wr + b * (VD_QBLK / 2);
                /* nb is even: a row's last load may hold one pair only */
                __m512i v = b + 4 <= nb
                                ? _mm512_loadu_si512(p)
                                : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p);
                __m512i lo = _mm512_and_si512(v, m4);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                __m512i il = _mm512_load_si512(quad_idx[j][0]);
                __m512i ih = _mm512_load_si512(quad_idx[j][1]);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) {
                    const int8_t *xp = xo + t * ldo + b * VD_QBLK;
                    __m512i dl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo,
                                                     _mm512_loadu_si512(xp));
                    __m512i dh =
                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi,
                                            _mm512_loadu_si512(xp + 64));
                    acc[t][(j & 1) * 2] = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(dl),
                        _mm512_permutexvar_ps(il, St[t]), acc[t][(j & 1) * 2]);
                    acc[t][(j & 1) * 2 + 1] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(dh),
                                        _mm512_permutexvar_ps(ih, St[t]),
                                        acc[t][(j & 1) * 2 + 1]);
                }
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++)
            y[t * rows + r] =
                _mm512_reduce_add_ps(
                    _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]),
                                  _mm512_add_ps(acc[t][2], acc[t][3]))) +
                _mm512_reduce_add_ps(corr[t]) + (bias ? bias[r] : 0.0f);
    }
}

static void gemv_q4x(const vd__mat *w, const qx *x, const int8_t *xo,
                     int64_t ldo, int nt, const float *bias, float *y,
                     int64_t r0, int64_t r1)
{
    switch (nt) {
    case 1:
        gemv_q4_nt(w, x, xo, ldo, 1, bias, y, r0, r1);
        break;
    case 2:
        gemv_q4_nt(w, x, xo, ldo, 2, bias, y, r0, r1);
        break;
    case 3:
        gemv_q4_nt(w, x, xo, ldo, 3, bias, y, r0, r1);
        break;
    default:
        gemv_q4_nt(w, x, xo, ldo, 4, bias, y, r0, r1);
        break;
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

#define MRI 6    /* int8 tile: 6 tokens x 32 rows */
#define KCI 1024 /* int8 k block: a 32-row panel is 32 KiB */

/* Rows [r0, r0 + nrv) x values [k0, k0 + kc) (k0 % 64 == 0, kc % 32 ==
 * 0) as quads DST[kc/4][32] and scales SDST[kc/32][32]. */
INLINE void pack_q_panel(const vd__mat *w, int64_t r0, int nrv, int64_t k0,
                         int64_t kc, uint32_t *dst, float *sdst)
{
    int q8 = w->dt == VD_DT_Q8;
    int64_t nb = q8 ? VD_Q8_NB(w->cols) : VD_Q4_NB(w->cols);
    for (int half = 0; half < 2; half++) {
        int nv = nrv - 16 * half;
        nv = nv < 0 ? 0 : nv > 16 ? 16 : nv;
        for (int64_t kk = 0; kk < kc; kk += 64) {
            __m512i v[16];
            int64_t b = (k0 + kk) / VD_QBLK;
            for (int i = 0; i < 16; i++)
                v[i] = i < nv ? load_q64(w, r0 + 16 * half + i, b, nb)
                              : _mm512_setzero_si512();
            tr16(v);
            int64_t nq = (kc - kk) / 4 < 16 ? (kc - kk) / 4 : 16;
            for (int64_t c = 0; c < nq; c++)
                _mm512_store_si512(
                    (__m512i *)(dst + (kk / 4 + c) * NR + 16 * half), v[c]);
        }
    }
    const uint16_t *sc = w->scales;
    for (int64_t blk = 0; blk < kc / VD_QBLK; blk++)
        for (int i = 0; i < NR; i++)
            sdst[blk * NR + i] =
                i < nrv ? _cvtsh_ss(sc[(r0 + i) * nb + k0 / VD_QBLK + blk])
                        : 0.0f;
}

#define PACK_Q_DT(name, DT)                                                    \
    static void name(const vd__mat *w, int64_t r0, int nrv, int64_t k0,        \
                     int64_t kc, uint32_t *dst, float *sdst)                   \
    {                                                                          \
        vd__mat c = *w;                                                        \
        c.dt = DT;                                                             \
        pack_q_panel(&c, r0, nrv, k0, kc, dst, sdst);                          \
    }
PACK_Q_DT(pack_q8, VD_DT_Q8)
PACK_Q_DT(pack_q4, VD_DT_Q4)

/* Y tile [6][32] (+)= sum over NBLK blocks of sx * sw * (q . w - zp sum):
 * int32 accumulation inside a block, fp32 across blocks. XZ holds
 * -zp * sum per token and block, XS the activation scales. */
static void ukr_i8(int64_t nblk, const uint32_t *x, int64_t ldx,
                   const float *xs, const int32_t *xz, int64_t lds,
                   const uint32_t *wp, const float *sp, float *y, int64_t ldy,
                   int mr, __mmask16 m0, __mmask16 m1, const float *bias,
                   int acc)
{
    __m512 f[MRI][2];
#pragma GCC unroll 6
    for (int i = 0; i < MRI; i++)
        f[i][0] = f[i][1] = _mm512_setzero_ps();
    for (int64_t blk = 0; blk < nblk; blk++) {
        __m512i c[MRI][2];
#pragma GCC unroll 6
        for (int i = 0; i < MRI; i++)
            c[i][0] = c[i][1] = _mm512_set1_epi32(xz[i * lds + blk]);
        const uint32_t *wb = wp + blk * 8 * NR;
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            __m512i b0 = _mm512_load_si512(wb + q * NR);
            __m512i b1 = _mm512_load_si512(wb + q * NR + 16);
#pragma GCC unroll 6
            for (int i = 0; i < MRI; i++) {
                __m512i a = _mm512_set1_epi32((int)x[i * ldx + blk * 8 + q]);
                c[i][0] = _mm512_dpbusd_epi32(c[i][0], b0, a);
                c[i][1] = _mm512_dpbusd_epi32(c[i][1], b1, a);
            }
        }
        __m512 s0 = _mm512_load_ps(sp + blk * NR);
        __m512 s1 = _mm512_load_ps(sp + blk * NR + 16);
#pragma GCC unroll 6
        for (int i = 0; i < MRI; i++) {
            __m512 sx = _mm512_set1_ps(xs[i * lds + blk]);
            f[i][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c[i][0]),
                                      _mm512_mul_ps(s0, sx), f[i][0]);
            f[i][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c[i][1]),
                                      _mm512_mul_ps(s1, sx), f[i][1]);
        }
    }
    __m512 z0 = _mm512_setzero_ps(), z1 = z0;
    if (!acc && bias) {
        z0 = _mm512_maskz_loadu_ps(m0, bias);
        z1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 6
    for (int i = 0; i < MRI; i++) {
        if (i >= mr)
            break;
        float *yi = y + i * ldy;
        __m512 a0 = acc ? _mm512_maskz_loadu_ps(m0, yi) : z0;
        __m512 a1 = acc ? _mm512_maskz_loadu_ps(m1, yi + 16) : z1;
        _mm512_mask_storeu_ps(yi, m0, _mm512_add_ps(f[i][0], a0));
        _mm512_mask_storeu_ps(yi + 16, m1, _mm512_add_ps(f[i][1], a1));
    }
}

static int mm_int8(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                   int64_t t1, void *s, size_t scr)
{
    const vd__mat *w = m->w;
    int q8 = w->dt == VD_DT_Q8;
    int64_t K = w->cols, rows = w->rows;
    int64_t nb = q8 ? VD_Q8_NB(K) : VD_Q4_NB(K), Kq = nb * VD_QBLK;
    if (t1 - t0 <= GEMV_MAX) {
        /* own quantized tokens (unless converted once per call), then
         * for Q4 their regrouped copy */
        size_t own = (size_t)(GEMV_MAX * nb) * (VD_QBLK + 8);
        size_t need = (m->xq ? 0 : own) +
                      (q8 ? 0 : (size_t)(GEMV_MAX * Q4_NB4(nb)) * VD_QBLK);
        if (need > scr)
            return 0;
        int8_t *q = s;
        float *xs = (float *)(q + GEMV_MAX * nb * VD_QBLK);
        int32_t *xz = (int32_t *)(xs + GEMV_MAX * nb);
        int8_t *xo = m->xq ? (int8_t *)s : (int8_t *)s + own;
        for (int64_t t = t0; t < t1; t += GEMV_MAX) {
            int nt = (int)(t1 - t < GEMV_MAX ? t1 - t : GEMV_MAX);
            qx x = { q, xs, xz, nb * VD_QBLK, nb, nb };
            if (m->xq) { /* converted once for the whole call */
                x.q = m->xq + t * m->xnb * VD_QBLK;
                x.s = m->xs + t * m->xnb;
                x.z = m->xz + t * m->xnb;
                x.ldq = m->xnb * VD_QBLK;
                x.lds = m->xnb;
            } else {
                quant_x(m->x + t * K, K, nt, nb, q8 ? 128 : 8, q, xs, xz);
            }
            float *yt = m->y + t * rows;
            if (q8)
                gemv_q8(w, &x, nt, m->bias, yt, r0, r1);
            else {
                q4_regroup(&x, nt, nb, xo);
                gemv_q4x(w, &x, xo, Q4_NB4(nb) * VD_QBLK, nt, m->bias, yt, r0,
                         r1);
            }
        }
        return 1;
    }
    size_t wp_bytes = (size_t)TILE_R * KCI, sp_bytes = (size_t)TILE_R * KCI / 8;
    int64_t ntmax = TILE_T + MRI, lds = KCI / VD_QBLK;
    size_t xq_bytes = (size_t)ntmax * KCI, xs_bytes = (size_t)ntmax * lds * 4;
    if (scr < wp_bytes + sp_bytes + xq_bytes + 2 * xs_bytes)
        return 0;
    uint32_t *wp = s;
    float *sp = (float *)((char *)s + wp_bytes);
    int8_t *xq = (int8_t *)sp + sp_bytes;
    float *xs = (float *)(xq + xq_bytes);
    int32_t *xz = (int32_t *)(xs + ntmax * lds);
    void (*pack)(const vd__mat *, int64_t, int, int64_t, int64_t, uint32_t *,
                 float *) = q8 ? pack_q8 : pack_q4;
    int32_t zp = q8 ? 128 : 8;
    for (int64_t rc = r0; rc < r1; rc += TILE_R) {
        int64_t rce = rc + TILE_R < r1 ? rc + TILE_R : r1;
        int np = (int)((rce - rc + NR - 1) / NR);
        /* with the activations converted for the whole call, one weight
         * pack serves all the tile's tokens */
        int64_t tstep = m->xq ? t1 - t0 : TILE_T;
        for (int64_t tc = t0; tc < t1; tc += tstep) {
            int64_t tce = tc + tstep < t1 ? tc + tstep : t1;
            int64_t ntok = tce - tc, ntokp = (ntok + MRI - 1) / MRI * MRI;
            for (int64_t k0 = 0; k0 < Kq; k0 += KCI) {
                int64_t kc = Kq - k0 < KCI ? Kq - k0 : KCI;
                int64_t nblk = kc / VD_QBLK;
                for (int p = 0; p < np; p++) {
                    int64_t pr = rc + (int64_t)p * NR;
                    int nrv = (int)(rce - pr < NR ? rce - pr : NR);
                    pack(w, pr, nrv, k0, kc, wp + (size_t)p * NR * (KCI / 4),
                         sp + (size_t)p * NR * lds);
                }
                const int8_t *xqt = xq;
                const float *xst = xs;
                const int32_t *xzt = xz;
                int64_t ldq = KCI, ldsx = lds;
                if (m->xq) {
                    xqt = m->xq + tc * m->xnb * VD_QBLK + k0;
                    xst = m->xs + tc * m->xnb + k0 / VD_QBLK;
                    xzt = m->xz + tc * m->xnb + k0 / VD_QBLK;
                    ldq = m->xnb * VD_QBLK;
                    ldsx = m->xnb;
                }
                for (int64_t i = 0; !m->xq && i < ntokp; i++) {
                    for (int64_t blk = 0; blk < nblk; blk++) {
                        int64_t c = k0 + blk * VD_QBLK;
                        int8_t *q = xq + i * KCI + blk * VD_QBLK;
                        int32_t sum = 0;
                        float sx = 0;
                        if (i < ntok && c < K)
                            sx = quant_block32(
                                m->x + (tc + i) * K + c,
                                K - c < VD_QBLK ? K - c : VD_QBLK, q, &sum);
                        else
                            memset(q, 0, VD_QBLK);
                        xs[i * lds + blk] = sx;
                        xz[i * lds + blk] = -zp * sum;
                    }
                }
                for (int64_t i0 = 0; i0 < ntok; i0 += MRI) {
                    int mr = (int)(ntok - i0 < MRI ? ntok - i0 : MRI);
                    for (int p = 0; p < np; p++) {
                        int64_t pr = rc + (int64_t)p * NR;
                        int64_t nrv = rce - pr;
                        ukr_i8(nblk, (const uint32_t *)(xqt + i0 * ldq),
                               ldq / 4, xst + i0 * ldsx, xzt + i0 * ldsx, ldsx,
                               wp + (size_t)p * NR * (KCI / 4),
                               sp + (size_t)p * NR * lds,
                               m->y + (tc + i0) * rows + pr, rows, mr,
                               mask16(nrv), mask16(nrv - 16 > 0 ? nrv - 16 : 0),
                               m->bias ? m->bias + pr : NULL, k0 > 0);
                    }
                }
            }
        }
    }
    return 1;
}

void vd__kern_init_avx512bf16(vd__kern *k)
{
    k->mm_tile[VD_PREC_BF16] = mm_bf16;
    k->mm_tile[VD_PREC_INT8] = mm_int8;
    k->mm_conv[VD_PREC_BF16] = 1;
    k->mm_conv[VD_PREC_INT8] = 1;
}

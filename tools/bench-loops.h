/* tools/bench-loops.h: the machine-peak loops of bench-kern and
 * bench-engine (FMA, bf16 and int8 dot products, memory reads), on sixteen
 * independent accumulator chains: enough to cover the instructions'
 * latency on every core these run on. */
#ifndef VD_BENCH_LOOPS_H
#define VD_BENCH_LOOPS_H

#include <immintrin.h>
#include <stddef.h>

/* 16 named accumulators (an array would be spilled to the stack): enough
 * independent chains to cover any latency at two operations per cycle. */
#define BENCH_CHAINS 16

/* distinct starting values, or the compiler merges identical chains */
#define DECL16(T, init)                                                        \
    T a0 = init(1), a1 = init(2), a2 = init(3), a3 = init(4), a4 = init(5),    \
      a5 = init(6), a6 = init(7), a7 = init(8), a8 = init(9), a9 = init(10),   \
      a10 = init(11), a11 = init(12), a12 = init(13), a13 = init(14),          \
      a14 = init(15), a15 = init(16)
#define STEP16(OP)                                                             \
    OP(a0);                                                                    \
    OP(a1);                                                                    \
    OP(a2);                                                                    \
    OP(a3);                                                                    \
    OP(a4);                                                                    \
    OP(a5);                                                                    \
    OP(a6);                                                                    \
    OP(a7);                                                                    \
    OP(a8);                                                                    \
    OP(a9);                                                                    \
    OP(a10);                                                                   \
    OP(a11);                                                                   \
    OP(a12);                                                                   \
    OP(a13);                                                                   \
    OP(a14);                                                                   \
    OP(a15)
#define SUM16(add)                                                             \
    add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))),     \
        add(add(add(a8, a9), add(a10, a11)),                                   \
            add(add(a12, a13), add(a14, a15))))

/* Peak loops: ITERS rounds of 16 independent FMAs / dot products; the
 * result only keeps the compiler from dropping the work. */
__attribute__((target("avx512f"))) static inline float bench_fma512(long iters)
{
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    DECL16(__m512, _mm512_set1_ps);
#define OPF(x) x = _mm512_fmadd_ps(x, b, c)
    for (long it = 0; it < iters; it++) {
        STEP16(OPF);
    }
#undef OPF
    return _mm512_reduce_add_ps(SUM16(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static inline float bench_fma256(long iters)
{
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    DECL16(__m256, _mm256_set1_ps);
#define OPF(x) x = _mm256_fmadd_ps(x, b, c)
    for (long it = 0; it < iters; it++) {
        STEP16(OPF);
    }
#undef OPF
    float out[8];
    _mm256_storeu_ps(out, SUM16(_mm256_add_ps));
    return out[0];
}

__attribute__((target("avx512f,avx512bf16"))) static inline float
bench_bf16(long iters)
{
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3F803F80);
    DECL16(__m512, _mm512_set1_ps);
#define OPB(v) v = _mm512_dpbf16_ps(v, x, x)
    for (long it = 0; it < iters; it++) {
        STEP16(OPB);
    }
#undef OPB
    return _mm512_reduce_add_ps(SUM16(_mm512_add_ps));
}

__attribute__((target("avx512f,avx512vnni"))) static inline float
bench_int8(long iters)
{
    __m512i x = _mm512_set1_epi8(1);
    DECL16(__m512i, _mm512_set1_epi32);
#define OPI(v) v = _mm512_dpbusd_epi32(v, x, x)
    for (long it = 0; it < iters; it++) {
        STEP16(OPI);
    }
#undef OPI
    return (float)_mm512_reduce_add_epi32(SUM16(_mm512_add_epi32));
}

/* Memory read loops: the sum of N floats at P (64-byte aligned). */
__attribute__((target("avx512f"))) static inline float
bench_sum512(const float *p, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

__attribute__((target("avx2"))) static inline float bench_sum256(const float *p,
                                                                 size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(
        out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return out[0];
}

#endif

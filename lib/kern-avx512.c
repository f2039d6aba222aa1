/* Kernels, AVX-512 (F/BW/VL/DQ, BF16, VNNI): built with AVX-512 flags and
 * only called after runtime detection. */
#include "config.h"

#include <immintrin.h>

#include "kern.h"

static float dot_f32(const float *a, const float *b, size_t n)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i),
                              acc);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
                              _mm512_maskz_loadu_ps(m, b + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

void vd__kern_init_avx512(vd__kern *k)
{
    k->dot_f32 = dot_f32;
}

void vd__kern_init_avx512bf16(vd__kern *k)
{
    (void)k;
}

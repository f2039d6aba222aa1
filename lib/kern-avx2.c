/* Kernels, AVX2 + FMA: built with -mavx2 -mfma -mf16c and only called
 * after runtime detection. */
#include "config.h"

#include <immintrin.h>

#include "kern.h"

static float dot_f32(const float *a, const float *b, size_t n)
{
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i),
                              acc);
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

void vd__kern_init_avx2(vd__kern *k)
{
    k->dot_f32 = dot_f32;
}

/* Kernels, scalar reference: plain C, always built, the yardstick for
 * every fast path. */
#include "config.h"

#include "kern.h"

static float dot_f32(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void vd__kern_init_ref(vd__kern *k)
{
    k->dot_f32 = dot_f32;
}

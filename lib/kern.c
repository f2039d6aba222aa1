/* Kernels: build one dispatch table per ISA level, lowest first, so each
 * level inherits what a higher one does not override. */
#include "config.h"

#include <pthread.h>

#include "kern.h"

static vd__kern tables[4];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    vd__kern_init_ref(&tables[VD_ISA_REF]);
    tables[VD_ISA_REF].isa = VD_ISA_REF;
    tables[VD_ISA_AVX2] = tables[VD_ISA_REF];
    vd__kern_init_avx2(&tables[VD_ISA_AVX2]);
    tables[VD_ISA_AVX2].isa = VD_ISA_AVX2;
    tables[VD_ISA_AVX512] = tables[VD_ISA_AVX2];
    vd__kern_init_avx512(&tables[VD_ISA_AVX512]);
    tables[VD_ISA_AVX512].isa = VD_ISA_AVX512;
    tables[VD_ISA_AVX512BF16] = tables[VD_ISA_AVX512];
    tables[VD_ISA_AVX512BF16].isa = VD_ISA_AVX512BF16;
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

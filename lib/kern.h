/* Kernels: the dispatch table of numeric kernels the engine uses, filled
 * once from the CPU's features (kern.c). kern-ref.c is the portable
 * reference every fast path is tested against; kern-avx2.c and
 * kern-avx512.c are the only files built with ISA flags. */
#ifndef VD_KERN_H
#define VD_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "vd-private.h"

typedef struct vd__kern {
    vd__isa isa;
    /* sum of a[i] * b[i] in fp32 */
    float (*dot_f32)(const float *a, const float *b, size_t n);
} vd__kern;

/* The table for the active ISA (VLDOC_ISA may lower it). */
const vd__kern *vd__kern_get(void);
/* The table for a given level, or NULL if the CPU cannot run it. */
const vd__kern *vd__kern_for(vd__isa isa);

/* Per-ISA fillers; each sets only what it accelerates. */
void vd__kern_init_ref(vd__kern *k);
void vd__kern_init_avx2(vd__kern *k);
void vd__kern_init_avx512(vd__kern *k);

#endif

/* Kernels: the numeric primitives the Qwen2.5-VL engine is built on -
 * matrix products against stored weights and tiled attention - behind one
 * dispatch table filled from the CPU's features (kern.c). kern-ref.c is the
 * portable reference every fast path is tested against; kern-avx2.c and
 * kern-avx512.c are the only files built with ISA flags. */
#ifndef VD_KERN_H
#define VD_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "vd-private.h"

/* Storage type of a weight matrix. */
typedef enum vd__dtype {
    VD_DT_F32 = 0,
    VD_DT_BF16 = 1,
    VD_DT_F16 = 2,
    VD_DT_Q8 = 3, /* int8 weights with block scales (kern.c documents) */
    VD_DT_Q4 = 4  /* 4-bit weights with block scales */
} vd__dtype;

/* A weight matrix W[rows][cols], row-major and contiguous. DATA may point
 * into an mmapped file and be unaligned: kernels load it with unaligned
 * loads or memcpy. */
typedef struct vd__mat {
    vd__dtype dt;
    int64_t rows, cols;
    const void *data;
    const void *scales; /* Q8/Q4 only */
} vd__mat;

/* Arguments of one attention call over all heads.
 * Q is [nq][n_head][head_dim] with q_stride floats between tokens; K and V
 * are [nk][n_kv_head][head_dim] with kv_stride floats between tokens; O is
 * [nq][n_head][head_dim] with o_stride. Query head h reads KV head
 * h / (n_head / n_kv_head). With CAUSAL, query i sits at absolute position
 * q_pos0 + i and sees keys 0..q_pos0 + i. Never materialises nq x nk. */
typedef struct vd__attn_args {
    const float *q;
    int64_t q_stride, nq;
    const float *k, *v;
    int64_t kv_stride, nk;
    float *o;
    int64_t o_stride;
    int n_head, n_kv_head, head_dim;
    float scale;
    int causal;
    int64_t q_pos0;
} vd__attn_args;

typedef struct vd__kern {
    vd__isa isa;
    /* sum of a[i] * b[i] in fp32 */
    float (*dot_f32)(const float *a, const float *b, size_t n);
    /* Rows [r0, r1) of Y[n][w->rows] = X[n][w->cols] . W^T (+ bias).
     * PREC selects how activations are rounded (VD_PREC_EXACT: not at
     * all). Called by vd__matmul on each worker's slice. */
    void (*matmul_rows)(const vd__mat *w, const float *x, int64_t n,
                        const float *bias, float *y, int64_t r0, int64_t r1,
                        vd_precision prec);
    /* Heads [h0, h1) of one attention call. */
    void (*attn_heads)(const vd__attn_args *a, int h0, int h1);
} vd__kern;

/* The table for the active ISA (VLDOC_ISA may lower it). */
const vd__kern *vd__kern_get(void);
/* The table for a given level, or NULL if the CPU cannot run it. */
const vd__kern *vd__kern_for(vd__isa isa);

/* Per-ISA fillers; each sets only what it accelerates. */
void vd__kern_init_ref(vd__kern *k);
void vd__kern_init_avx2(vd__kern *k);
void vd__kern_init_avx512(vd__kern *k);

/* Y[n][w->rows] = X[n][w->cols] . W^T (+ bias[w->rows] when not NULL),
 * split over POOL's workers (POOL may be NULL: one thread). */
void vd__matmul(vd__pool *pool, const vd__mat *w, const float *x, int64_t n,
                const float *bias, float *y, vd_precision prec);

/* Attention over all heads, split over POOL's workers by head. */
void vd__attention(vd__pool *pool, const vd__attn_args *a);

/* bf16 / f16 -> f32, exact. */
static inline float vd__bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = { (uint32_t)h << 16 };
    return v.f;
}
float vd__f16_to_f32(uint16_t h);
/* f32 -> bf16, round to nearest even (NaN kept quiet). */
uint16_t vd__f32_to_bf16(float f);

/* Row R of W widened to fp32 into OUT[w->cols]. */
void vd__mat_row_f32(const vd__mat *w, int64_t r, float *out);

#endif

/* Kernels: the numeric primitives the Qwen2.5-VL engine is built on -
 * matrix products against stored weights, tiled attention and the
 * element-wise ops around them - behind one dispatch table filled from the
 * CPU's features (kern.c). kern-ref.c is the portable reference every fast
 * path is tested against; kern-avx2.c and kern-avx512.c are the only files
 * built with ISA flags; kern-blas.c wraps OpenBLAS. */
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
    VD_DT_Q8 = 3, /* int8, one fp16 scale per 32 values (below) */
    VD_DT_Q4 = 4  /* 4-bit, one fp16 scale per 32 values (below) */
} vd__dtype;

/* Quantized rows. A row of COLS values is cut into nb = ceil(cols / 32)
 * blocks of 32 (VD_QBLK); the last is padded with zeros. Q4 rows hold an
 * even number of blocks (nb rounded up, VD_Q4_NB), because a pair of blocks
 * shares 32 bytes.
 *   Q8: data int8 [rows][nb * 32], value = q * scale (q in -127..127)
 *   Q4: data uint8 [rows][nb2 * 16]; byte j of pair p holds element j of
 *       block 2p in its low nibble and element j of block 2p+1 in its high
 *       nibble; value = (nibble - 8) * scale
 *   scales: fp16 [rows][nb] (Q8) or [rows][nb2] (Q4), IEEE binary16.
 * The layout keeps each block's values in order, so int8 activations need
 * no permutation, and one 32-byte load yields two whole blocks. */
#define VD_QBLK        32
#define VD_Q8_NB(cols) (((cols) + VD_QBLK - 1) / VD_QBLK)
#define VD_Q4_NB(cols) ((VD_Q8_NB(cols) + 1) & ~(int64_t)1)

/* A weight matrix W[rows][cols], row-major and contiguous. DATA may point
 * into an mmapped file and be unaligned: kernels load it with unaligned
 * loads or memcpy. */
typedef struct vd__mat {
    vd__dtype dt;
    int64_t rows, cols;
    const void *data;
    const void *scales; /* Q8/Q4 only */
    void *own;          /* allocation behind data/scales (vd__quantize);
                           NULL for a view of someone else's memory */
} vd__mat;

/* Arguments of one attention call over all heads.
 * Q is [nq][n_head][head_dim] with q_stride floats between tokens; K and V
 * are [nk][n_kv_head][head_dim] with kv_stride elements between tokens, of
 * type KV_DT (VD_DT_F32, the zero value, or VD_DT_BF16: a bf16 KV cache;
 * the math stays fp32); O is [nq][n_head][head_dim] with o_stride. Query
 * head h reads KV head h / (n_head / n_kv_head).
 * With CAUSAL, query i sits at absolute position q_pos0 + i and sees keys
 * 0..q_pos0 + i. With NSEG > 0 (not causal, nq == nk), SEG[0..nseg] are
 * increasing token offsets from 0 to nq and a query in [seg[s], seg[s+1])
 * sees only the keys of that range: the vision tower's windows, all in one
 * call. Never materialises nq x nk. */
typedef struct vd__attn_args {
    const float *q;
    int64_t q_stride, nq;
    const void *k, *v;
    int64_t kv_stride, nk;
    float *o;
    int64_t o_stride;
    int n_head, n_kv_head, head_dim;
    float scale;
    int causal;
    int64_t q_pos0;
    vd__dtype kv_dt;
    const int64_t *seg;
    int nseg;
} vd__attn_args;

/* One matrix product as the kernels see it (kern.c fills it). */
typedef struct vd__mm {
    const vd__mat *w;
    const float *x; /* [n][w->cols] */
    int64_t n;
    const float *bias; /* [w->rows] or NULL */
    float *y;          /* [n][w->rows] */
    vd_precision prec; /* effective: EXACT, BF16 (float weights) or INT8
                          (quantized weights) */
    /* X converted once per call (kern.c fills what the table's mm_conv
     * asks for when memory allows; NULL otherwise, and the kernels convert
     * per tile). For the GEMM (n > gemv_max_n) rows past n up to
     * n + VD_MM_PAD are zero, so register tiles may overrun. */
    const uint16_t *xb; /* BF16: [n + pad][xb_ld], zero past cols */
    int64_t xb_ld;
    const int8_t *xq;  /* INT8: [n + pad][xnb * 32], blocks as quant_act */
    const float *xs;   /* [n + pad][xnb] block scales */
    const int32_t *xz; /* [n + pad][xnb]: -zp * sum of the block's q, zp =
                          128 for Q8 and 8 for Q4 (the VNNI kernels' zero
                          points) */
    int64_t xnb;
} vd__mm;

#define VD_MM_PAD 16

typedef struct vd__kern {
    vd__isa isa;
    /* sum of a[i] * b[i] in fp32 */
    float (*dot_f32)(const float *a, const float *b, size_t n);

    /* Rows [r0, r1) of Y[n][w->rows] = X[n][w->cols] . W^T (+ bias),
     * all tokens, any dtype and precision; allocates nothing (slow paths
     * use the stack). Kept for callers of the first API. */
    void (*matmul_rows)(const vd__mat *w, const float *x, int64_t n,
                        const float *bias, float *y, int64_t r0, int64_t r1,
                        vd_precision prec);
    /* Tile [r0, r1) x [t0, t1) (rows x tokens) of M, one entry per
     * effective precision (vd_precision), with SCR bytes of scratch at S
     * (64-byte aligned). Returns 0 when it cannot (scratch too small):
     * the caller then uses matmul_rows. NULL: no fast path. */
    int (*mm_tile[3])(const vd__mm *m, int64_t r0, int64_t r1, int64_t t0,
                      int64_t t1, void *s, size_t scr);
    /* Whether mm_tile[p]'s GEMM reads the activations kern.c converts once
     * per call (vd__mm xb / xq). */
    int mm_conv[3];
    /* Tokens per call below which mm_tile streams the weights once per
     * call (GEMV) rather than packing tiles (GEMM). */
    int gemv_max_n;

    /* Heads [h0, h1) of one attention call, all queries. */
    void (*attn_heads)(const vd__attn_args *a, int h0, int h1);
    /* Queries [q0, q1) of heads [h0, h1), keys [k0, k1) before the causal
     * limit; scratch as for mm_tile. 0: cannot. At most attn_rows query
     * rows (queries x heads) per call; heads either within one KV head or
     * whole KV heads. With PART, row (i - q0) x (h1 - h0) + (h - h0) of
     * PART[][head_dim + 2] receives the unnormalised output, the max score
     * and the sum of exponentials (for a split over keys), not a->o. */
    int (*attn_block)(const vd__attn_args *a, int h0, int h1, int64_t q0,
                      int64_t q1, int64_t k0, int64_t k1, float *part, void *s,
                      size_t scr);
    int attn_rows;

    /* Element-wise ops on one row of N floats (Y may equal X). */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n,
                    float eps);
    void (*silu_mul)(float *y, const float *g, const float *u, int64_t n);
    void (*gelu_erf)(float *y, const float *x, int64_t n);
    void (*softmax)(float *x, int64_t n);
    /* Rotate-half RoPE on one token: N_HEAD heads of HD floats at X (head
     * stride HD); pair (i, i + hd/2) turns by the angle whose cosine and
     * sine are C[i], S[i]. */
    void (*rope)(float *x, int n_head, int hd, const float *c, const float *s);
    void (*f32_to_bf16)(uint16_t *y, const float *x, int64_t n);
    void (*bf16_to_f32)(float *y, const uint16_t *x, int64_t n);
    /* Quantize N (a multiple of 32) activations of one token for INT8. */
    void (*quant_act)(int8_t *q, float *s, int32_t *sum, const float *x,
                      int64_t n);
} vd__kern;

/* The table for the active ISA (VLDOC_ISA may lower it). */
const vd__kern *vd__kern_get(void);
/* The table for a given level, or NULL if the CPU cannot run it. */
const vd__kern *vd__kern_for(vd__isa isa);

/* Per-ISA fillers; each sets only what it accelerates. */
void vd__kern_init_ref(vd__kern *k);
void vd__kern_init_avx2(vd__kern *k);
void vd__kern_init_avx512(vd__kern *k);
void vd__kern_init_avx512bf16(vd__kern *k);

/* Y[n][w->rows] = X[n][w->cols] . W^T (+ bias[w->rows] when not NULL),
 * split over POOL's workers (POOL may be NULL: one thread). PREC:
 * VD_PREC_EXACT keeps X in fp32 and widens or dequantizes W exactly;
 * VD_PREC_BF16 rounds X (and f32/f16 weights) to bf16 for the bf16 dot
 * products; VD_PREC_INT8 quantizes X per 32-block to int8 for Q8/Q4
 * weights. Quantized weights take INT8 for any non-exact PREC, float
 * weights take BF16. Y must not overlap X. Never fails: without scratch
 * memory it takes a slower path. */
void vd__matmul(vd__pool *pool, const vd__mat *w, const float *x, int64_t n,
                const float *bias, float *y, vd_precision prec);
/* The same with the table of KERN (tests and benchmarks pin an ISA). */
void vd__matmul_k(const vd__kern *kern, vd__pool *pool, const vd__mat *w,
                  const float *x, int64_t n, const float *bias, float *y,
                  vd_precision prec);

/* Products of up to VD_MM_GROUP matrices with one input X: Y[j] = X .
 * W[j]^T (+ BIAS[j]; BIAS may be NULL). A decoding step (n <= the
 * table's gemv_max_n) with one weight type and width runs as one GEMV over
 * all their rows: one dispatch and one conversion of X, not one each
 * (attention's q, k, v; the MLP's gate and up). Otherwise one vd__matmul
 * each. */
#define VD_MM_GROUP 4
void vd__matmul_group(vd__pool *pool, int nw, const vd__mat *const *w,
                      const float *x, int64_t n, const float *const *bias,
                      float *const *y, vd_precision prec);
void vd__matmul_group_k(const vd__kern *kern, vd__pool *pool, int nw,
                        const vd__mat *const *w, const float *x, int64_t n,
                        const float *const *bias, float *const *y,
                        vd_precision prec);

/* Attention over all heads, split over POOL's workers by KV head and
 * query block (causal blocks balanced dynamically). */
void vd__attention(vd__pool *pool, const vd__attn_args *a);
void vd__attention_k(const vd__kern *kern, vd__pool *pool,
                     const vd__attn_args *a);

/* Row-wise ops over N rows, split over POOL when large. Y may equal X.
 * RMSNorm: y = w * x / sqrt(mean(x^2) + eps) per row of DIM floats. */
void vd__rmsnorm(vd__pool *pool, float *y, const float *x, const float *w,
                 int64_t n, int64_t dim, float eps);
/* y = silu(g) * u over N floats; Y may equal G or U. */
void vd__silu_mul(vd__pool *pool, float *y, const float *g, const float *u,
                  int64_t n);
/* y = 0.5 x (1 + erf(x / sqrt 2)) over N floats. */
void vd__gelu_erf(vd__pool *pool, float *y, const float *x, int64_t n);
/* Softmax in place over each of N rows of DIM floats. */
void vd__softmax(vd__pool *pool, float *x, int64_t n, int64_t dim);
/* RoPE (rotate-half) on N tokens of X (STRIDE floats apart), each with
 * N_HEAD heads of HD floats; token t uses C[t * hd/2 ..], S[t * hd/2 ..]. */
void vd__rope(vd__pool *pool, float *x, int64_t n, int64_t stride, int n_head,
              int hd, const float *c, const float *s);
void vd__f32_to_bf16_n(uint16_t *y, const float *x, int64_t n);
void vd__bf16_to_f32_n(float *y, const uint16_t *x, int64_t n);

/* Quantize SRC (F32, BF16 or F16) to DT (VD_DT_Q8 or VD_DT_Q4) into a new
 * matrix *OUT that owns its memory (vd__mat_free). Scales minimise the
 * squared error of each block. Split over POOL. Errors: VD_ERR_NOMEM,
 * VD_ERR_ARG (dtype). */
vd_status vd__quantize(vd_ctx *ctx, vd__pool *pool, const vd__mat *src,
                       vd__dtype dt, vd__mat *out);
/* Bytes of data and of scales a DT matrix of ROWS x COLS takes. */
size_t vd__mat_data_bytes(vd__dtype dt, int64_t rows, int64_t cols);
size_t vd__mat_scale_bytes(vd__dtype dt, int64_t rows, int64_t cols);
/* Frees what vd__quantize allocated; views are left alone. */
void vd__mat_free(vd__mat *m);

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
/* f32 -> f16, round to nearest even, overflow to infinity. */
uint16_t vd__f32_to_f16(float f);

/* Row R of W widened (or dequantized) to fp32 into OUT[w->cols]. */
void vd__mat_row_f32(const vd__mat *w, int64_t r, float *out);
/* Values R0..R0+N of row R: the same, for a part of a row. */
void vd__mat_row_part_f32(const vd__mat *w, int64_t r, int64_t c0, int64_t n,
                          float *out);

/* OpenBLAS (kern-blas.c). Y[n][rows] = X . W^T with W converted to fp32 a
 * block of rows at a time, OpenBLAS single-threaded inside each of POOL's
 * workers (never both thread pools at once). For the benchmark and for
 * shapes where it wins. */
void vd__matmul_blas(vd__pool *pool, const vd__mat *w, const float *x,
                     int64_t n, const float *bias, float *y);
/* Plain sgemm C[m][n] = A[m][k] . B^T (B is [n][k]), all fp32: the
 * columns of C split over POOL's workers, OpenBLAS single-threaded in
 * each. Use this rather than calling cblas_sgemm with OpenBLAS threads:
 * those spin after each call and would fight our workers for the cores. */
void vd__sgemm_nt(vd__pool *pool, int64_t m, int64_t n, int64_t k,
                  const float *a, int64_t lda, const float *b, int64_t ldb,
                  float *c, int64_t ldc);
/* Make sure OpenBLAS runs N threads (1 while our pool splits the work). */
void vd__blas_threads(int n);

#endif

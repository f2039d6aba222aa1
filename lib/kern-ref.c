/* Kernels, scalar reference: plain C, always built, the yardstick for
 * every fast path. Exact fp32 activations; weights widened row by row. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

static float dot_f32(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void matmul_rows(const vd__mat *w, const float *x, int64_t n,
                        const float *bias, float *y, int64_t r0, int64_t r1,
                        vd_precision prec)
{
    (void)prec;
    float *row = malloc((size_t)w->cols * sizeof *row);
    if (!row)
        return;
    for (int64_t r = r0; r < r1; r++) {
        vd__mat_row_f32(w, r, row);
        float b = bias ? bias[r] : 0.0f;
        for (int64_t i = 0; i < n; i++)
            y[i * w->rows + r] =
                dot_f32(x + i * w->cols, row, (size_t)w->cols) + b;
    }
    free(row);
}

/* Online softmax over keys, one query row at a time: no nq x nk matrix. */
static void attn_heads(const vd__attn_args *a, int h0, int h1)
{
    int hd = a->head_dim, group = a->n_head / a->n_kv_head;
    float *acc = malloc((size_t)hd * sizeof *acc);
    if (!acc)
        return;
    for (int h = h0; h < h1; h++) {
        int kvh = h / group;
        for (int64_t i = 0; i < a->nq; i++) {
            const float *q = a->q + i * a->q_stride + (int64_t)h * hd;
            int64_t nk = a->causal ? a->q_pos0 + i + 1 : a->nk;
            if (nk > a->nk)
                nk = a->nk;
            float m = -INFINITY, l = 0;
            memset(acc, 0, (size_t)hd * sizeof *acc);
            for (int64_t j = 0; j < nk; j++) {
                const float *k = a->k + j * a->kv_stride + (int64_t)kvh * hd;
                const float *v = a->v + j * a->kv_stride + (int64_t)kvh * hd;
                float s = dot_f32(q, k, (size_t)hd) * a->scale;
                if (s > m) {
                    float c = expf(m - s);
                    l *= c;
                    for (int d = 0; d < hd; d++)
                        acc[d] *= c;
                    m = s;
                }
                float p = expf(s - m);
                l += p;
                for (int d = 0; d < hd; d++)
                    acc[d] += p * v[d];
            }
            float *o = a->o + i * a->o_stride + (int64_t)h * hd;
            for (int d = 0; d < hd; d++)
                o[d] = l > 0 ? acc[d] / l : 0;
        }
    }
    free(acc);
}

void vd__kern_init_ref(vd__kern *k)
{
    k->dot_f32 = dot_f32;
    k->matmul_rows = matmul_rows;
    k->attn_heads = attn_heads;
}

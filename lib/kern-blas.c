/* Kernels, OpenBLAS: matrix products through cblas_sgemm on weights
 * converted to fp32 a block of rows at a time. One level of parallelism
 * only (STYLE.md section 6): our pool splits the work and OpenBLAS runs
 * single-threaded inside each worker for the call (the caller's setting
 * is restored after), so OpenBLAS's own threads never wake and never spin
 * against ours. */
#include "config.h"

#include <cblas.h>
#include <string.h>

#include "kern.h"

void vd__blas_threads(int n)
{
    if (openblas_get_num_threads() != n)
        openblas_set_num_threads(n);
}

typedef struct blas_task {
    const vd__mat *w;
    const float *x;
    int64_t n;
    const float *bias;
    float *y;
    int64_t chunk; /* rows converted at once */
    float **buf;   /* one conversion buffer per worker */
    atomic_long next;
} blas_task;

static void blas_run(void *arg, int ith, int nth)
{
    blas_task *t = arg;
    const vd__mat *w = t->w;
    (void)nth;
    long nchunk = (long)((w->rows + t->chunk - 1) / t->chunk);
    for (;;) {
        long c = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (c >= nchunk)
            break;
        int64_t r0 = c * t->chunk;
        int64_t nr = w->rows - r0 < t->chunk ? w->rows - r0 : t->chunk;
        const float *wf;
        if (w->dt == VD_DT_F32) {
            wf = (const float *)w->data + r0 * w->cols;
        } else {
            for (int64_t r = 0; r < nr; r++)
                vd__mat_row_f32(w, r0 + r, t->buf[ith] + r * w->cols);
            wf = t->buf[ith];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t->n, (int)nr,
                    (int)w->cols, 1.0f, t->x, (int)w->cols, wf, (int)w->cols,
                    0.0f, t->y + r0, (int)w->rows);
        if (t->bias)
            for (int64_t i = 0; i < t->n; i++)
                for (int64_t r = 0; r < nr; r++)
                    t->y[i * w->rows + r0 + r] += t->bias[r0 + r];
    }
}

void vd__matmul_blas(vd__pool *pool, const vd__mat *w, const float *x,
                     int64_t n, const float *bias, float *y)
{
    int nth = vd__pool_size(pool);
    blas_task t;
    memset(&t, 0, sizeof t);
    t.w = w;
    t.x = x;
    t.n = n;
    t.bias = bias;
    t.y = y;
    /* enough rows per sgemm call to keep OpenBLAS efficient, a few
     * chunks per worker for balance */
    t.chunk = 256;
    while (t.chunk > 32 && (w->rows + t.chunk - 1) / t.chunk < 2 * nth)
        t.chunk /= 2;
    atomic_init(&t.next, 0);
    float *bufs[256];
    t.buf = bufs;
    int ok = 1;
    for (int i = 0; i < nth; i++) {
        bufs[i] = w->dt == VD_DT_F32
                      ? NULL
                      : vd__aligned_alloc(NULL, (size_t)t.chunk *
                                                    (size_t)w->cols * 4);
        ok &= w->dt == VD_DT_F32 || bufs[i] != NULL;
    }
    if (ok) {
        int was = openblas_get_num_threads();
        vd__blas_threads(1);
        vd__pool_run(pool, blas_run, &t);
        vd__blas_threads(was);
    } else {
        vd__matmul(pool, w, x, n, bias, y, VD_PREC_EXACT);
    }
    for (int i = 0; i < nth; i++)
        vd__aligned_free(bufs[i]);
}

typedef struct sgemm_task {
    int64_t m, n, k;
    const float *a, *b;
    int64_t lda, ldb;
    float *c;
    int64_t ldc;
} sgemm_task;

static void sgemm_run(void *arg, int ith, int nth)
{
    sgemm_task *t = arg;
    int64_t j0, j1;
    /* columns of C in multiples of 16 */
    vd__split((t->n + 15) / 16, ith, nth, &j0, &j1);
    j0 *= 16;
    j1 = j1 * 16 < t->n ? j1 * 16 : t->n;
    if (j0 < j1)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t->m,
                    (int)(j1 - j0), (int)t->k, 1.0f, t->a, (int)t->lda,
                    t->b + j0 * t->ldb, (int)t->ldb, 0.0f, t->c + j0,
                    (int)t->ldc);
}

void vd__sgemm_nt(vd__pool *pool, int64_t m, int64_t n, int64_t k,
                  const float *a, int64_t lda, const float *b, int64_t ldb,
                  float *c, int64_t ldc)
{
    sgemm_task t = { m, n, k, a, b, lda, ldb, c, ldc };
    int was = openblas_get_num_threads();
    vd__blas_threads(1);
    vd__pool_run(pool, sgemm_run, &t);
    vd__blas_threads(was);
}

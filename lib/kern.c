/* Kernels: build one dispatch table per ISA level, lowest first, so each
 * level inherits what a higher one does not override; and the threaded
 * entry points that split work over the pool. */
#include "config.h"

#include <pthread.h>
#include <string.h>

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

float vd__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3FF;
            u = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7F800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t vd__f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void vd__mat_row_f32(const vd__mat *w, int64_t r, float *out)
{
    const unsigned char *base = w->data;
    switch (w->dt) {
    case VD_DT_F32:
        memcpy(out, base + (size_t)r * (size_t)w->cols * 4,
               (size_t)w->cols * 4);
        break;
    case VD_DT_BF16: {
        const unsigned char *p = base + (size_t)r * (size_t)w->cols * 2;
        for (int64_t i = 0; i < w->cols; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = vd__bf16_to_f32(h);
        }
        break;
    }
    case VD_DT_F16: {
        const unsigned char *p = base + (size_t)r * (size_t)w->cols * 2;
        for (int64_t i = 0; i < w->cols; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = vd__f16_to_f32(h);
        }
        break;
    }
    default:
        memset(out, 0, (size_t)w->cols * 4);
        break;
    }
}

typedef struct mm_task {
    const vd__kern *k;
    const vd__mat *w;
    const float *x;
    int64_t n;
    const float *bias;
    float *y;
    vd_precision prec;
} mm_task;

static void mm_run(void *arg, int ith, int nth)
{
    mm_task *t = arg;
    int64_t r0, r1;
    vd__split(t->w->rows, ith, nth, &r0, &r1);
    if (r0 < r1)
        t->k->matmul_rows(t->w, t->x, t->n, t->bias, t->y, r0, r1, t->prec);
}

void vd__matmul(vd__pool *pool, const vd__mat *w, const float *x, int64_t n,
                const float *bias, float *y, vd_precision prec)
{
    mm_task t = { vd__kern_get(), w, x, n, bias, y, prec };
    vd__pool_run(pool, mm_run, &t);
}

typedef struct at_task {
    const vd__kern *k;
    const vd__attn_args *a;
} at_task;

static void at_run(void *arg, int ith, int nth)
{
    at_task *t = arg;
    int64_t h0, h1;
    vd__split(t->a->n_head, ith, nth, &h0, &h1);
    if (h0 < h1)
        t->k->attn_heads(t->a, (int)h0, (int)h1);
}

void vd__attention(vd__pool *pool, const vd__attn_args *a)
{
    at_task t = { vd__kern_get(), a };
    vd__pool_run(pool, at_run, &t);
}

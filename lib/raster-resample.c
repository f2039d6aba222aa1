/* Raster: Pillow's bicubic resample, which takes a page image to its
 * smart-resized size bit for bit as Hugging Face's processor would (the
 * reference tests compare every byte). Grey pages are filtered on one
 * channel; the work is split over the ctx's threads by rows. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "raster.h"

/* Pillow (src/libImaging/Resample.c) is what Hugging Face's slow Qwen2-VL
 * processor resizes with, so the model was trained on exactly these
 * pixels. Reproduced step for step: double coefficients normalised to sum
 * 1, converted to 22-bit fixed point, horizontal pass first into a uint8
 * intermediate holding only the rows the vertical pass reads, then the
 * vertical pass. A float pipeline would differ by a level here and there,
 * which then shifts every pixel_value. */

#define PRECISION_BITS 22

static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

void vd__resample_axis_free(vd__resample_axis *a)
{
    VD_FREE(a->first);
    VD_FREE(a->count);
    VD_FREE(a->k);
}

vd_status vd__resample_axis_init(vd_ctx *ctx, vd__resample_axis *a, int in_size,
                                 int out_size)
{
    memset(a, 0, sizeof *a);
    if (in_size <= 0 || out_size <= 0)
        return vd__fail(ctx, VD_ERR_ARG, "resample %d -> %d: empty axis",
                        in_size, out_size);
    double scale = (double)in_size / out_size;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * fscale; /* bicubic support is 2 */
    double ks = ceil(support) * 2 + 1;
    if (ks > (double)in_size * 4 + 8)
        return vd__fail(ctx, VD_ERR_ARG, "resample %d -> %d: bad kernel",
                        in_size, out_size);
    int ksize = (int)ks;
    size_t nk;
    if (!vd__mul_ok((size_t)out_size, (size_t)ksize, &nk) ||
        !vd__mul_ok(nk, sizeof(int32_t), &nk))
        return vd__fail(ctx, VD_ERR_LIMIT, "resample %d -> %d: too large",
                        in_size, out_size);
    a->in_size = in_size;
    a->out_size = out_size;
    a->ksize = ksize;
    a->first = vd__malloc(ctx, sizeof(int) * (size_t)out_size);
    a->count = vd__malloc(ctx, sizeof(int) * (size_t)out_size);
    a->k = vd__calloc(ctx, 1, nk);
    double *w = vd__malloc(ctx, sizeof(double) * (size_t)ksize);
    if (!a->first || !a->count || !a->k || !w) {
        vd__free(w);
        vd__resample_axis_free(a);
        return VD_ERR_NOMEM;
    }
    double ss = 1.0 / fscale;
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        /* Pillow truncates toward zero here ("round the value") */
        int lo = (int)(center - support + 0.5);
        if (lo < 0)
            lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size)
            hi = in_size;
        int n = hi - lo;
        if (n > ksize)
            n = ksize; /* cannot happen; keeps the writes in bounds */
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            w[j] = bicubic((j + lo - center + 0.5) * ss);
            sum += w[j];
        }
        int32_t *k = a->k + (size_t)o * (size_t)ksize;
        for (int j = 0; j < n; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            v *= (double)(1 << PRECISION_BITS);
            k[j] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
        }
        a->first[o] = lo;
        a->count[o] = n;
    }
    vd__free(w);
    return VD_OK;
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

typedef struct resize_job {
    const vd__resample_axis *ax;
    const uint8_t *src;
    size_t src_stride;
    uint8_t *dst;
    size_t dst_stride;
    int rows;     /* horizontal: rows to filter; vertical: output rows */
    int src_row0; /* horizontal: first source row used */
    int width;    /* vertical: pixels per row */
    int grey;     /* R = G = B: filter one channel (a third of the work, the
                     same values), intermediate rows 1 byte a pixel */
} resize_job;

static void horizontal(void *arg, int ith, int nth)
{
    const resize_job *j = arg;
    const vd__resample_axis *ax = j->ax;
    int64_t r0, r1;
    vd__split(j->rows, ith, nth, &r0, &r1);
    for (int64_t y = r0; y < r1; y++) {
        const uint8_t *s = j->src + (size_t)(y + j->src_row0) * j->src_stride;
        uint8_t *d = j->dst + (size_t)y * j->dst_stride;
        if (j->grey) {
            for (int x = 0; x < ax->out_size; x++) {
                const int32_t *k = ax->k + (size_t)x * (size_t)ax->ksize;
                const uint8_t *p = s + (size_t)ax->first[x] * 3;
                int32_t v = 1 << (PRECISION_BITS - 1);
                for (int t = 0; t < ax->count[x]; t++, p += 3)
                    v += p[0] * k[t];
                d[x] = clip8(v);
            }
            continue;
        }
        for (int x = 0; x < ax->out_size; x++) {
            const int32_t *k = ax->k + (size_t)x * (size_t)ax->ksize;
            const uint8_t *p = s + (size_t)ax->first[x] * 3;
            int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
            for (int t = 0; t < ax->count[x]; t++, p += 3) {
                r += p[0] * k[t];
                g += p[1] * k[t];
                b += p[2] * k[t];
            }
            d[3 * x] = clip8(r);
            d[3 * x + 1] = clip8(g);
            d[3 * x + 2] = clip8(b);
        }
    }
}

/* Row by row: each tap adds a whole source row into 32-bit sums, a loop
 * the compiler vectorises; the sums are the same as Pillow's per-pixel
 * ones (integer addition is exact). */
#define VCHUNK 2048

static void vertical(void *arg, int ith, int nth)
{
    const resize_job *j = arg;
    const vd__resample_axis *ax = j->ax;
    int64_t r0, r1;
    vd__split(j->rows, ith, nth, &r0, &r1);
    size_t n = (size_t)j->width * (j->grey ? 1 : 3);
    int32_t acc[VCHUNK];
    for (int64_t y = r0; y < r1; y++) {
        const int32_t *k = ax->k + (size_t)y * (size_t)ax->ksize;
        /* first[] already counts from the intermediate's first row */
        const uint8_t *s = j->src + (size_t)ax->first[y] * j->src_stride;
        uint8_t *d = j->dst + (size_t)y * j->dst_stride;
        int cnt = ax->count[y];
        for (size_t i0 = 0; i0 < n; i0 += VCHUNK) {
            size_t m = n - i0 < VCHUNK ? n - i0 : VCHUNK;
            for (size_t i = 0; i < m; i++)
                acc[i] = 1 << (PRECISION_BITS - 1);
            for (int t = 0; t < cnt; t++) {
                const uint8_t *row = s + (size_t)t * j->src_stride + i0;
                int32_t kt = k[t];
                for (size_t i = 0; i < m; i++)
                    acc[i] += row[i] * kt;
            }
            if (j->grey)
                for (size_t i = 0; i < m; i++)
                    memset(d + 3 * (i0 + i), clip8(acc[i]), 3);
            else
                for (size_t i = 0; i < m; i++)
                    d[i0 + i] = clip8(acc[i]);
        }
    }
}

/* Run FN over the job on the ctx's workers when the work is worth it. */
static void run(vd_ctx *ctx, void (*fn)(void *, int, int), resize_job *j,
                double work)
{
    vd__pool *p =
        work > 2e6 && ctx->opts.threads != 1 ? vd__ctx_pool(ctx) : NULL;
    if (p && vd__pool_size(p) > 1)
        vd__pool_run(p, fn, j);
    else
        fn(j, 0, 1);
}

vd_status vd_image_resize(vd_ctx *ctx, const vd_image *img, int w, int h,
                          vd_image **out)
{
    *out = NULL;
    int iw = vd_image_width(img), ih = vd_image_height(img);
    vd_image *dst = NULL;
    vd_status st = vd__image_alloc(ctx, w, h, 0, &dst); /* all written */
    if (st)
        return st;
    vd_image_set_dpi(dst, vd_image_dpi_x(img) * w / iw,
                     vd_image_dpi_y(img) * h / ih);
    if (w == iw && h == ih) { /* Pillow returns a copy */
        for (int y = 0; y < h; y++)
            memcpy(vd_image_data(dst) + (size_t)y * vd_image_stride(dst),
                   vd_image_cdata(img) + (size_t)y * vd_image_stride(img),
                   (size_t)w * 3);
        vd__image_set_grey(dst, vd__image_is_grey(img));
        *out = dst;
        return VD_OK;
    }
    vd__resample_axis hx = { 0 }, vy = { 0 };
    uint8_t *tmp = NULL;
    size_t tmp_bytes = 0;
    if ((st = vd__resample_axis_init(ctx, &vy, ih, h)) != VD_OK ||
        (w != iw && (st = vd__resample_axis_init(ctx, &hx, iw, w)) != VD_OK))
        goto done;

    int grey = vd__image_is_grey(img);
    const uint8_t *vsrc = vd_image_cdata(img);
    size_t vstride = vd_image_stride(img);
    if (w != iw || grey) {
        /* only the source rows the vertical pass reads */
        int y0 = vy.first[0];
        int y1 = vy.first[h - 1] + vy.count[h - 1];
        size_t tstride = (size_t)w * (grey ? 1 : 3), tbytes;
        if (!vd__mul_ok(tstride, (size_t)(y1 - y0), &tbytes)) {
            st = vd__fail(ctx, VD_ERR_LIMIT, "resize: image too large");
            goto done;
        }
        tmp = vd__page_alloc(ctx, tbytes);
        tmp_bytes = tbytes;
        if (!tmp) {
            st = VD_ERR_NOMEM;
            goto done;
        }
        resize_job j = { .ax = &hx,
                         .src = vd_image_cdata(img),
                         .src_stride = vd_image_stride(img),
                         .dst = tmp,
                         .dst_stride = tstride,
                         .rows = y1 - y0,
                         .src_row0 = y0,
                         .grey = grey };
        if (w != iw) {
            run(ctx, horizontal, &j, (double)(y1 - y0) * w * hx.ksize);
        } else { /* no horizontal pass (as Pillow): just one channel */
            for (int y = y0; y < y1; y++) {
                const uint8_t *sr = j.src + (size_t)y * j.src_stride;
                uint8_t *d = tmp + (size_t)(y - y0) * tstride;
                for (int x = 0; x < w; x++)
                    d[x] = sr[3 * x];
            }
        }
        for (int y = 0; y < h; y++)
            vy.first[y] -= y0;
        vsrc = tmp;
        vstride = tstride;
    }
    if (h != ih) {
        resize_job j = { .ax = &vy,
                         .src = vsrc,
                         .src_stride = vstride,
                         .dst = vd_image_data(dst),
                         .dst_stride = vd_image_stride(dst),
                         .rows = h,
                         .width = w,
                         .grey = grey };
        run(ctx, vertical, &j, (double)h * w * vy.ksize);
    } else {
        for (int y = 0; y < h; y++) {
            uint8_t *d = vd_image_data(dst) + (size_t)y * vd_image_stride(dst);
            const uint8_t *sr = vsrc + (size_t)y * vstride;
            if (!grey)
                memcpy(d, sr, (size_t)w * 3);
            else
                for (int x = 0; x < w; x++)
                    memset(d + 3 * x, sr[x], 3);
        }
    }
done:
    vd__page_free(tmp, tmp_bytes);
    vd__resample_axis_free(&hx);
    vd__resample_axis_free(&vy);
    if (st) {
        vd_image_free(dst);
        return st;
    }
    vd__image_set_grey(dst, grey);
    *out = dst;
    return VD_OK;
}

/* Input: QwenVL HTML run elsewhere (-i qwenvl), one page: the file. The
 * page is the image the model was sent, in pixels (--image FILE, header
 * only, through the generic input API; or --image-size WxH); boxes are in
 * that size after Qwen2.5-VL's smart resize with the processor defaults,
 * which is what a stock server applies. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "input-private.h"

/* Qwen2-VL image processor defaults (preprocessor_config.json): a server
 * that was not told otherwise resizes with these. */
#define HF_MIN_PIXELS ((int64_t)56 * 56)
#define HF_MAX_PIXELS ((int64_t)28 * 28 * 16384)

typedef struct qv {
    char *html; /* owned, NUL-terminated */
    size_t len;
    int img_w, img_h;     /* 0: unknown */
    int model_w, model_h; /* 0: unknown */
} qv;

static vd_status qv_page_info(vd_ctx *ctx, vd_input *in, int page,
                              vd_page_info *info)
{
    (void)ctx;
    (void)page;
    qv *q = in->priv;
    info->width = q->img_w;
    info->height = q->img_h;
    info->unit = VD_UNIT_PX;
    return VD_OK;
}

static void qv_close(vd_input *in)
{
    qv *q = in->priv;
    if (q)
        vd__free(q->html);
    vd__free(q);
    in->priv = NULL;
}

static const vd__input_vt qwenvl_vt = {
    .format = VD_FORMAT_QWENVL,
    .page_info = qv_page_info,
    .render = NULL,
    .close = qv_close,
};

/* The size of the image at PATH from its header. */
static vd_status image_size(vd_ctx *ctx, const char *html_path,
                            const char *path, int *w, int *h)
{
    vd_input *img = NULL;
    vd_input_opts o;
    vd_input_opts_init(&o);
    vd_status st = vd_input_open(ctx, path, &o, &img);
    if (st) {
        char why[VD_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", vd_ctx_errmsg(ctx));
        return vd__refail(ctx, st, "%s: --image: %s", html_path, why);
    }
    vd_page_info pi;
    st = vd_input_page_info(ctx, img, 0, &pi);
    if (st == VD_OK && (pi.unit != VD_UNIT_PX || pi.width < 1 || pi.height < 1))
        st = vd__fail(ctx, VD_ERR_ARG,
                      "%s: --image %s is not a page image (PNG, JPEG or "
                      "TIFF)",
                      html_path, path);
    if (st == VD_OK) {
        *w = (int)(pi.width + 0.5);
        *h = (int)(pi.height + 0.5);
    }
    vd_input_free(img);
    return st;
}

vd_status vd__qwenvl_open(vd_ctx *ctx, vd_input *in)
{
    qv *q = vd__calloc(ctx, 1, sizeof *q);
    if (!q)
        return VD_ERR_NOMEM;
    in->priv = q;
    in->vt = &qwenvl_vt;
    in->npages = 1;
    vd_status st = vd__file_read(ctx, in->path, ctx->opts.limits.max_html_bytes,
                                 &q->html, &q->len);
    if (st)
        return st;
    if (in->opts.image_path) {
        st = image_size(ctx, in->path, in->opts.image_path, &q->img_w,
                        &q->img_h);
        if (st)
            return st;
    } else if (in->opts.model_w > 0 && in->opts.model_h > 0) {
        q->img_w = in->opts.model_w;
        q->img_h = in->opts.model_h;
    }
    if (q->img_w > 0) {
        uint64_t px = (uint64_t)q->img_w * (uint64_t)q->img_h;
        if (px > ctx->opts.limits.max_page_pixels)
            return vd__fail(
                ctx, VD_ERR_LIMIT,
                "%s: image size %dx%d is over the limit of "
                "%llu pixels",
                in->path, q->img_w, q->img_h,
                (unsigned long long)ctx->opts.limits.max_page_pixels);
        /* tiny images are enlarged first, as the processor does */
        int h = q->img_h < 28 ? 28 : q->img_h,
            w = q->img_w < 28 ? 28 : q->img_w;
        st = vd_smart_resize(ctx, h, w, 28, HF_MIN_PIXELS, HF_MAX_PIXELS,
                             &q->model_h, &q->model_w);
        if (st) {
            char why[VD_ERRMSG_MAX];
            snprintf(why, sizeof why, "%s", vd_ctx_errmsg(ctx));
            return vd__refail(ctx, st, "%s: image size %dx%d: %s", in->path,
                              q->img_w, q->img_h, why);
        }
    }
    return VD_OK;
}

vd_status vd__qwenvl_page(vd_input *in, const char **html, size_t *len,
                          vd_pagemap *map)
{
    qv *q = in->priv;
    *html = q->html;
    *len = q->len;
    memset(map, 0, sizeof *map);
    if (q->model_w > 0) {
        map->model_w = q->model_w;
        map->model_h = q->model_h;
        map->page_w = q->img_w;
        map->page_h = q->img_h;
        map->unit = VD_UNIT_PX;
    }
    return VD_OK;
}

/* Input, PNG: one page, decoded with libpng (the library Pillow uses) to
 * 8-bit RGB: every colour type and bit depth, interlaced or not, alpha
 * and tRNS composited on white, 16-bit samples cut to their high byte as
 * Pillow does for RGB. libpng reports errors by longjmp, so the setjmp
 * lives in decode() alone and everything it must clean up sits in the
 * png_dec struct, never in a local. */
#include "config.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "input-private.h"
#include "raster.h"

typedef struct png_page {
    int w, h;
    double dpi_x, dpi_y;
} png_page;

typedef struct png_dec {
    vd_ctx *ctx;
    const char *path;
    FILE *f;
    png_structp png;
    png_infop info;
    int want_pixels;
    char msg[200]; /* libpng's error message */
    vd_status st;  /* our own failure (limit, memory) */
    int w, h;
    double dpi_x, dpi_y;
    vd_image *img; /* the result; owned until handed over */
    uint8_t *buf;  /* one row, or the whole image when interlaced */
} png_dec;

static void on_error(png_structp png, png_const_charp msg)
{
    png_dec *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof d->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* benign: bad CRC in ancillary chunks, iCCP quirks */
}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n)
{
    (void)png;
    return vd__malloc(NULL, n);
}

static void on_free(png_structp png, png_voidp p)
{
    (void)png;
    vd__free(p);
}

/* Everything between png_read_info and png_read_end. Returns 0 on success;
 * -1 after a longjmp (d->msg) or our own failure (d->st). */
static int decode(png_dec *d)
{
    if (setjmp(png_jmpbuf(d->png)))
        return -1;
    png_init_io(d->png, d->f);
    /* refuse absurd headers before libpng allocates anything for them */
    png_set_user_limits(d->png, 1u << 24, 1u << 24);
    png_read_info(d->png, d->info);
    png_uint_32 w = png_get_image_width(d->png, d->info);
    png_uint_32 h = png_get_image_height(d->png, d->info);
    d->w = (int)w;
    d->h = (int)h;
    png_uint_32 rx, ry;
    int unit;
    if (png_get_pHYs(d->png, d->info, &rx, &ry, &unit) &&
        unit == PNG_RESOLUTION_METER && rx > 0 && ry > 0) {
        d->dpi_x = rx * 0.0254;
        d->dpi_y = ry * 0.0254;
    }
    if ((uint64_t)w * h > d->ctx->opts.limits.max_page_pixels) {
        d->st =
            vd__fail(d->ctx, VD_ERR_LIMIT,
                     "%s: page 1: image of %u x %u pixels is over the "
                     "limit of %llu pixels per page",
                     d->path, (unsigned)w, (unsigned)h,
                     (unsigned long long)d->ctx->opts.limits.max_page_pixels);
        return -1;
    }
    if (!d->want_pixels)
        return 0;

    int ct = png_get_color_type(d->png, d->info);
    png_set_strip_16(d->png);
    png_set_packing(d->png);
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(d->png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_expand_gray_1_2_4_to_8(d->png);
        png_set_gray_to_rgb(d->png);
    }
    if (png_get_valid(d->png, d->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(d->png);
    int passes = png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);
    int ch = png_get_channels(d->png, d->info);
    size_t rowbytes = png_get_rowbytes(d->png, d->info);
    if ((ch != 3 && ch != 4) || png_get_bit_depth(d->png, d->info) != 8 ||
        rowbytes != (size_t)w * (size_t)ch) {
        snprintf(d->msg, sizeof d->msg, "unexpected layout after transforms");
        return -1;
    }
    if ((d->st = vd_image_new(d->ctx, (int)w, (int)h, &d->img)) != VD_OK)
        return -1;
    vd_image_set_dpi(d->img, d->dpi_x, d->dpi_y);
    uint8_t *px = vd_image_data(d->img);
    size_t stride = vd_image_stride(d->img);
    if (ch == 3) { /* rows go straight into the image, every pass */
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < h; y++)
                png_read_row(d->png, px + (size_t)y * stride, NULL);
    } else if (passes == 1) {
        if (!(d->buf = vd__malloc(d->ctx, rowbytes))) {
            d->st = VD_ERR_NOMEM;
            return -1;
        }
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(d->png, d->buf, NULL);
            vd__rgba_on_white(px + (size_t)y * stride, d->buf, (int)w);
        }
    } else { /* interlaced RGBA: the passes refine a whole-image buffer */
        if (!(d->buf = vd__malloc(d->ctx, rowbytes * h))) {
            d->st = VD_ERR_NOMEM;
            return -1;
        }
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < h; y++)
                png_read_row(d->png, d->buf + rowbytes * y, NULL);
        for (png_uint_32 y = 0; y < h; y++)
            vd__rgba_on_white(px + (size_t)y * stride, d->buf + rowbytes * y,
                              (int)w);
    }
    png_read_end(d->png, NULL);
    vd__image_set_grey(d->img, !(ct & PNG_COLOR_MASK_COLOR));
    return 0;
}

/* Open, decode (header only unless WANT_PIXELS), close. */
static vd_status png_load(vd_ctx *ctx, const char *path, int want_pixels,
                          png_dec *d)
{
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->path = path;
    d->want_pixels = want_pixels;
    d->f = fopen(path, "rb");
    if (!d->f)
        return vd__fail(ctx, VD_ERR_IO, "%s: %s", path, strerror(errno));
    d->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, d, on_error,
                                      on_warning, NULL, on_malloc, on_free);
    if (d->png)
        d->info = png_create_info_struct(d->png);
    vd_status st = VD_OK;
    if (!d->png || !d->info)
        st = vd__fail(ctx, VD_ERR_NOMEM, "%s: out of memory", path);
    else if (decode(d) != 0)
        st = d->st ? d->st
                   : vd__fail(ctx, VD_ERR_FORMAT, "%s: page 1: bad PNG: %s",
                              path, d->msg[0] ? d->msg : "unknown error");
    png_destroy_read_struct(&d->png, &d->info, NULL);
    fclose(d->f);
    vd__free(d->buf);
    d->buf = NULL;
    if (st) {
        vd_image_free(d->img);
        d->img = NULL;
    }
    return st;
}

static vd_status png_page_info(vd_ctx *ctx, vd_input *in, int page,
                               vd_page_info *info)
{
    (void)ctx;
    (void)page;
    const png_page *p = in->priv;
    info->width = p->w;
    info->height = p->h;
    info->unit = VD_UNIT_PX;
    info->dpi_x = p->dpi_x;
    info->dpi_y = p->dpi_y;
    info->is_scan = 1;
    info->scan_w = p->w;
    info->scan_h = p->h;
    return VD_OK;
}

static vd_status png_render(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                            vd_image **out)
{
    (void)page;
    (void)w;
    (void)h;
    png_dec d;
    vd_status st = png_load(ctx, in->path, 1, &d);
    if (st)
        return st;
    *out = d.img;
    return VD_OK;
}

static void png_close(vd_input *in)
{
    VD_FREE(in->priv);
}

static const vd__input_vt png_vt = {
    .format = VD_FORMAT_PNG,
    .page_info = png_page_info,
    .render = png_render,
    .close = png_close,
};

vd_status vd__png_open(vd_ctx *ctx, vd_input *in)
{
    in->vt = &png_vt;
    png_dec d;
    vd_status st = png_load(ctx, in->path, 0, &d);
    if (st)
        return st;
    png_page *p = vd__calloc(ctx, 1, sizeof *p);
    if (!p)
        return VD_ERR_NOMEM;
    p->w = d.w;
    p->h = d.h;
    p->dpi_x = d.dpi_x;
    p->dpi_y = d.dpi_y;
    in->priv = p;
    in->npages = 1;
    return VD_OK;
}

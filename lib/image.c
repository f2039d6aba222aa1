/* Raster: the RGB page image every vision engine sees, and PNG output of
 * it (vldoc render). Sizes are checked against the pixel ceiling before
 * any allocation. */
#include "config.h"

#include <png.h>
#include <stdio.h>
#include <string.h>

#include "raster.h"

struct vd_image {
    int w, h;
    size_t stride;
    double dpi_x, dpi_y;
    uint8_t *px; /* owned, h * stride */
};

vd_status vd_image_new(vd_ctx *ctx, int w, int h, vd_image **out)
{
    *out = NULL;
    if (w <= 0 || h <= 0)
        return vd__fail(ctx, VD_ERR_ARG, "image size %d x %d is empty", w, h);
    uint64_t pixels = (uint64_t)w * (uint64_t)h;
    if (pixels > ctx->opts.limits.max_page_pixels)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "image of %d x %d pixels is over the limit of %llu "
                        "pixels per page",
                        w, h,
                        (unsigned long long)ctx->opts.limits.max_page_pixels);
    vd_image *img = vd__calloc(ctx, 1, sizeof *img);
    if (!img)
        return VD_ERR_NOMEM;
    img->w = w;
    img->h = h;
    img->stride = ((size_t)w * 3 + 63) & ~(size_t)63;
    img->px = vd__aligned_alloc(ctx, img->stride * (size_t)h);
    if (!img->px) {
        vd__free(img);
        return VD_ERR_NOMEM;
    }
    memset(img->px, 255, img->stride * (size_t)h);
    *out = img;
    return VD_OK;
}

void vd_image_free(vd_image *img)
{
    if (!img)
        return;
    vd__aligned_free(img->px);
    vd__free(img);
}

int vd_image_width(const vd_image *img)
{
    return img->w;
}

int vd_image_height(const vd_image *img)
{
    return img->h;
}

size_t vd_image_stride(const vd_image *img)
{
    return img->stride;
}

uint8_t *vd_image_data(vd_image *img)
{
    return img->px;
}

const uint8_t *vd_image_cdata(const vd_image *img)
{
    return img->px;
}

double vd_image_dpi_x(const vd_image *img)
{
    return img->dpi_x;
}

double vd_image_dpi_y(const vd_image *img)
{
    return img->dpi_y;
}

void vd_image_set_dpi(vd_image *img, double dx, double dy)
{
    img->dpi_x = dx;
    img->dpi_y = dy;
}

/* ---- helpers for the decoders ---- */

void vd__orient_size(int orientation, int w, int h, int *vw, int *vh)
{
    if (orientation >= 5 && orientation <= 8) {
        *vw = h;
        *vh = w;
    } else {
        *vw = w;
        *vh = h;
    }
}

/* TIFF 6.0 section 8 / EXIF 2.3 tag 0x0112: where stored row 0 and column
 * 0 sit in the picture. Stored (x, y) lands at visible (vx, vy). */
void vd__orient_put_row(vd__orient_dst *d, int y, const uint8_t *rgb)
{
    vd_image *img = d->img;
    int w = d->stored_w, h = d->stored_h;
    size_t stride = img->stride;
    uint8_t *px = img->px;
    if (y < 0 || y >= h)
        return;
    switch (d->orientation) {
    default: /* 1: top-left, as stored */
        memcpy(px + (size_t)y * stride, rgb, (size_t)w * 3);
        return;
    case 2: /* top-right: mirrored left to right */
    case 4: /* bottom-left: mirrored top to bottom */
    case 3: /* bottom-right: turned 180 degrees */
    {
        int vy = d->orientation == 2 ? y : h - 1 - y;
        uint8_t *o = px + (size_t)vy * stride;
        if (d->orientation == 4) {
            memcpy(o, rgb, (size_t)w * 3);
            return;
        }
        for (int x = 0; x < w; x++)
            memcpy(o + (size_t)(w - 1 - x) * 3, rgb + (size_t)x * 3, 3);
        return;
    }
    case 5: /* left-top: transposed */
    case 6: /* right-top: turned 90 degrees clockwise */
    case 7: /* right-bottom: transverse */
    case 8: /* left-bottom: turned 90 degrees counter-clockwise */
    {
        int vx = d->orientation == 5 || d->orientation == 8 ? y : h - 1 - y;
        int flip = d->orientation == 7 || d->orientation == 8;
        uint8_t *o = px + (size_t)vx * 3;
        for (int x = 0; x < w; x++) {
            int vy = flip ? w - 1 - x : x;
            memcpy(o + (size_t)vy * stride, rgb + (size_t)x * 3, 3);
        }
        return;
    }
    }
}

void vd__rgba_on_white(uint8_t *rgb, const uint8_t *rgba, int n)
{
    for (int i = 0; i < n; i++, rgb += 3, rgba += 4) {
        unsigned a = rgba[3], bg = 255 * (255 - a);
        rgb[0] = (uint8_t)((rgba[0] * a + bg + 127) / 255);
        rgb[1] = (uint8_t)((rgba[1] * a + bg + 127) / 255);
        rgb[2] = (uint8_t)((rgba[2] * a + bg + 127) / 255);
    }
}

const char *vd__orientation_name(int o)
{
    static const char *const names[] = {
        "top-left", "top-left",  "top-right",    "bottom-right", "bottom-left",
        "left-top", "right-top", "right-bottom", "left-bottom",
    };
    return o >= 1 && o <= 8 ? names[o] : names[0];
}

/* ---- PNG output ---- */

typedef struct png_err {
    char msg[256];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_png_write(png_structp png, png_bytep data, png_size_t n)
{
    vd_out_write(png_get_io_ptr(png), data, n);
}

static void on_png_flush(png_structp png)
{
    (void)png;
}

/* libpng reports errors by longjmp; nothing of ours is live across it
 * but the png structs, which png_destroy_write_struct releases. */
static int encode(vd_out *o, const vd_image *img, png_err *e)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e,
                                              on_png_error, on_png_warning);
    if (!png)
        return -1;
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, o, on_png_write, on_png_flush);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (img->dpi_x > 0 && img->dpi_y > 0)
        png_set_pHYs(png, info, (png_uint_32)(img->dpi_x / 0.0254 + 0.5),
                     (png_uint_32)(img->dpi_y / 0.0254 + 0.5),
                     PNG_RESOLUTION_METER);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++)
        png_write_row(png, img->px + (size_t)y * img->stride);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

vd_status vd_image_write_png(vd_ctx *ctx, const vd_image *img, const char *path)
{
    vd_out *o = NULL;
    vd_status st = vd_out_open_file(ctx, path, &o);
    if (st)
        return st;
    png_err e = { "" };
    if (encode(o, img, &e) != 0) {
        vd_out_free(o);
        return vd__fail(ctx, VD_ERR_IO, "%s: PNG encoding failed: %s", path,
                        e.msg[0] ? e.msg : "out of memory");
    }
    st = vd_out_close(ctx, o);
    vd_out_free(o);
    return st;
}

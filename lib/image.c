/* Raster: the RGB page image every vision engine sees, and PNG output of
 * it (vldoc render). Sizes are checked against the pixel ceiling before
 * any allocation. */
#include "config.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <jpeglib.h>

#include "raster.h"

struct vd_image {
    int w, h;
    size_t stride;
    double dpi_x, dpi_y;
    int grey;    /* R = G = B everywhere, as its producer knows; cleared by
                    vd_image_data, since the caller may then change it */
    uint8_t *px; /* owned, h * stride */
};

#define PAGE_MMAP_MIN ((size_t)1 << 20)
#define HUGE          ((size_t)2 << 20)

static size_t page_span(size_t n)
{
    return (n + HUGE - 1) & ~(HUGE - 1);
}

void *vd__page_alloc(vd_ctx *ctx, size_t n)
{
    if (n < PAGE_MMAP_MIN)
        return vd__aligned_alloc(ctx, n ? n : 1);
    /* 2 MiB aligned so the kernel can back it with huge pages: a fresh
     * page buffer then costs a few faults, not one per 4 KiB */
    size_t span = page_span(n);
    uint8_t *p = mmap(NULL, span + HUGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        vd__fail(ctx, VD_ERR_NOMEM, "out of memory (%zu bytes for a page)", n);
        return NULL;
    }
    uint8_t *a =
        (uint8_t *)(((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + span < p + span + HUGE)
        munmap(a + span, (size_t)(p + span + HUGE - (a + span)));
#ifdef MADV_HUGEPAGE
    madvise(a, span, MADV_HUGEPAGE);
#endif
    return a;
}

void vd__page_free(void *p, size_t n)
{
    if (!p)
        return;
    if (n < PAGE_MMAP_MIN)
        vd__aligned_free(p);
    else
        munmap(p, page_span(n));
}

vd_status vd_image_new(vd_ctx *ctx, int w, int h, vd_image **out)
{
    return vd__image_alloc(ctx, w, h, 1, out);
}

vd_status vd__image_alloc(vd_ctx *ctx, int w, int h, int white, vd_image **out)
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
    img->px = vd__page_alloc(ctx, img->stride * (size_t)h);
    if (!img->px) {
        vd__free(img);
        return VD_ERR_NOMEM;
    }
    if (white)
        memset(img->px, 255, img->stride * (size_t)h);
    *out = img;
    return VD_OK;
}

void vd_image_free(vd_image *img)
{
    if (!img)
        return;
    vd__page_free(img->px, img->stride * (size_t)img->h);
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
    img->grey = 0;
    return img->px;
}

void vd__image_set_grey(vd_image *img, int grey)
{
    img->grey = grey;
}

int vd__image_is_grey(const vd_image *img)
{
    return img->grey;
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

vd_status vd__image_encode_png(vd_ctx *ctx, const vd_image *img, vd_out *o)
{
    png_err e = { "" };
    if (encode(o, img, &e) != 0)
        return vd__fail(ctx, VD_ERR_IO, "PNG encoding failed: %s",
                        e.msg[0] ? e.msg : "out of memory");
    return VD_OK;
}

vd_status vd_image_write_png(vd_ctx *ctx, const vd_image *img, const char *path)
{
    vd_out *o = NULL;
    vd_status st = vd_out_open_file(ctx, path, &o);
    if (st)
        return st;
    st = vd__image_encode_png(ctx, img, o);
    if (st) {
        vd_out_free(o);
        return vd__refail(ctx, st, "%s: %s", path, vd_ctx_errmsg(ctx));
    }
    st = vd_out_close(ctx, o);
    vd_out_free(o);
    return st;
}

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_jpeg_error(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

typedef struct jpeg_dest {
    struct jpeg_destination_mgr mgr;
    vd_out *o;
    JOCTET buf[16384];
} jpeg_dest;

static void dest_init(j_compress_ptr c)
{
    jpeg_dest *d = (jpeg_dest *)c->dest;
    d->mgr.next_output_byte = d->buf;
    d->mgr.free_in_buffer = sizeof d->buf;
}

static boolean dest_empty(j_compress_ptr c)
{
    jpeg_dest *d = (jpeg_dest *)c->dest;
    vd_out_write(d->o, d->buf, sizeof d->buf);
    d->mgr.next_output_byte = d->buf;
    d->mgr.free_in_buffer = sizeof d->buf;
    return TRUE;
}

static void dest_term(j_compress_ptr c)
{
    jpeg_dest *d = (jpeg_dest *)c->dest;
    vd_out_write(d->o, d->buf, sizeof d->buf - d->mgr.free_in_buffer);
}

/* libjpeg reports errors by longjmp: only its own structs are live across
 * it, and jpeg_destroy_compress releases them. */
static int jpeg_encode(vd_out *o, const vd_image *img, int quality, jpeg_err *e)
{
    struct jpeg_compress_struct c;
    jpeg_dest d;
    memset(&c, 0, sizeof c);
    c.err = jpeg_std_error(&e->mgr);
    e->mgr.error_exit = on_jpeg_error;
    if (setjmp(e->jb)) {
        jpeg_destroy_compress(&c);
        return -1;
    }
    jpeg_create_compress(&c);
    d.o = o;
    d.mgr.init_destination = dest_init;
    d.mgr.empty_output_buffer = dest_empty;
    d.mgr.term_destination = dest_term;
    c.dest = &d.mgr;
    c.image_width = (JDIMENSION)img->w;
    c.image_height = (JDIMENSION)img->h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (img->dpi_x > 0 && img->dpi_y > 0) {
        c.density_unit = 1;
        c.X_density = (UINT16)(img->dpi_x + 0.5);
        c.Y_density = (UINT16)(img->dpi_y + 0.5);
    }
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row =
            (JSAMPROW)(img->px + (size_t)c.next_scanline * img->stride);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return 0;
}

vd_status vd__image_encode_jpeg(vd_ctx *ctx, const vd_image *img, int quality,
                                vd_out *o)
{
    jpeg_err e;
    memset(&e, 0, sizeof e);
    if (jpeg_encode(o, img, quality, &e) != 0)
        return vd__fail(ctx, VD_ERR_IO, "JPEG encoding failed: %s", e.msg);
    return VD_OK;
}

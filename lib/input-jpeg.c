/* Input, JPEG: one page, decoded with libjpeg(-turbo) at its defaults
 * (integer slow IDCT, fancy upsampling), the same decode Pillow does, to
 * 8-bit RGB: greyscale, YCbCr, and CMYK/YCCK (Adobe-inverted, converted
 * with Pillow's formula). The EXIF orientation is applied so pages come
 * out upright (Hugging Face's processor does not do this). libjpeg
 * reports errors by longjmp: the setjmp lives in decode() alone and all
 * it must release sits in the jpg_dec struct. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

#include "input-private.h"
#include "raster.h"

/* progressive files can hold thousands of tiny scans that each cost a
 * full pass; libjpeg-turbo's own advice is to cap them */
#define MAX_SCANS 1000

typedef struct jpg_page {
    int w, h;            /* visible orientation */
    double dpi_x, dpi_y; /* visible orientation */
    int orientation;
} jpg_page;

typedef struct jpg_dec {
    struct jpeg_error_mgr jerr; /* first: libjpeg hands us its address */
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    vd_ctx *ctx;
    const char *path;
    FILE *f;
    struct jpeg_decompress_struct cinfo;
    int created;
    int want_pixels;
    vd_status st;
    char msg[JMSG_LENGTH_MAX];
    int warned;
    int w, h, orientation;
    double dpi_x, dpi_y;
    vd_image *img;
    uint8_t *row, *rgb;
} jpg_dec;

static void on_error_exit(j_common_ptr c)
{
    jpg_dec *d = (jpg_dec *)c->err;
    c->err->format_message(c, d->msg);
    longjmp(d->jmp, 1);
}

static void on_message(j_common_ptr c, int level)
{
    jpg_dec *d = (jpg_dec *)c->err;
    if (level >= 0 || d->warned)
        return; /* trace messages */
    /* corrupt data (premature end, bad Huffman code): libjpeg fills the
     * rest in grey and goes on, as viewers do; say so once */
    char m[JMSG_LENGTH_MAX];
    c->err->format_message(c, m);
    d->warned = 1;
    if (d->want_pixels)
        vd__warn(d->ctx,
                 "%s: page 1: damaged JPEG data (%s); the page may "
                 "be incomplete",
                 d->path, m);
}

static void on_progress(j_common_ptr c)
{
    j_decompress_ptr di = (j_decompress_ptr)c;
    if (di->input_scan_number > MAX_SCANS) {
        jpg_dec *d = (jpg_dec *)c->err;
        snprintf(d->msg, sizeof d->msg, "more than %d progressive scans",
                 MAX_SCANS);
        longjmp(d->jmp, 1);
    }
}

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8
              : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Tag 0x0112 of IFD0 in an APP1 "Exif" segment; 1 when absent or bad. */
static int exif_orientation(const uint8_t *b, size_t n)
{
    if (n < 14 || memcmp(b, "Exif\0\0", 6) != 0)
        return 1;
    b += 6;
    n -= 6;
    int le;
    if (memcmp(b, "II*\0", 4) == 0)
        le = 1;
    else if (memcmp(b, "MM\0*", 4) == 0)
        le = 0;
    else
        return 1;
    uint32_t ifd = rd32(b + 4, le);
    if (ifd > n || n - ifd < 2)
        return 1;
    unsigned count = rd16(b + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            return 1;
        if (rd16(b + e, le) == 0x0112 && rd16(b + e + 2, le) == 3) {
            unsigned v = rd16(b + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

static int decode(jpg_dec *d)
{
    if (setjmp(d->jmp))
        return -1;
    struct jpeg_decompress_struct *ci = &d->cinfo;
    jpeg_create_decompress(ci);
    d->created = 1;
    ci->progress = &d->progress;
    jpeg_stdio_src(ci, d->f);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(ci, TRUE);
    d->orientation = 1;
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1) {
            d->orientation = exif_orientation(m->data, m->data_length);
            break;
        }
    double dx = 0, dy = 0;
    if (ci->saw_JFIF_marker && ci->X_density > 0 && ci->Y_density > 0) {
        double f = ci->density_unit == 1   ? 1.0
                   : ci->density_unit == 2 ? 2.54
                                           : 0.0;
        dx = ci->X_density * f;
        dy = ci->Y_density * f;
    }
    int sw = (int)ci->image_width, sh = (int)ci->image_height;
    vd__orient_size(d->orientation, sw, sh, &d->w, &d->h);
    if (d->orientation >= 5) {
        d->dpi_x = dy;
        d->dpi_y = dx;
    } else {
        d->dpi_x = dx;
        d->dpi_y = dy;
    }
    uint64_t pixels = (uint64_t)sw * (uint64_t)sh;
    if (pixels > d->ctx->opts.limits.max_page_pixels) {
        d->st =
            vd__fail(d->ctx, VD_ERR_LIMIT,
                     "%s: page 1: image of %d x %d pixels is over the "
                     "limit of %llu pixels per page",
                     d->path, sw, sh,
                     (unsigned long long)d->ctx->opts.limits.max_page_pixels);
        return -1;
    }
    if (!d->want_pixels)
        return 0;

    int cmyk = 0;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        ci->out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        ci->out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(ci);
    int nc = ci->output_components;
    if ((int)ci->output_width != sw || (int)ci->output_height != sh ||
        !(nc == 1 || nc == 3 || nc == 4)) {
        snprintf(d->msg, sizeof d->msg, "unexpected output layout");
        return -1;
    }
    if ((d->st = vd_image_new(d->ctx, d->w, d->h, &d->img)) != VD_OK)
        return -1;
    vd_image_set_dpi(d->img, d->dpi_x, d->dpi_y);
    d->row = vd__malloc(d->ctx, (size_t)sw * (size_t)nc);
    d->rgb = vd__malloc(d->ctx, (size_t)sw * 3);
    if (!d->row || !d->rgb) {
        d->st = VD_ERR_NOMEM;
        return -1;
    }
    vd__orient_dst dst = { d->img, sw, sh, d->orientation };
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        JSAMPROW r = d->row;
        if (jpeg_read_scanlines(ci, &r, 1) != 1)
            break;
        const uint8_t *s = d->row;
        uint8_t *o = d->rgb;
        if (nc == 3) {
            memcpy(o, s, (size_t)sw * 3);
        } else if (nc == 1) {
            for (int x = 0; x < sw; x++, o += 3)
                o[0] = o[1] = o[2] = s[x];
        } else if (cmyk) {
            /* Pillow reads CMYK JPEGs as Adobe-inverted ("CMYK;I") and
             * converts with cmyk2rgb: nk - round(c * nk / 255) */
            for (int x = 0; x < sw; x++, o += 3, s += 4) {
                int nk = s[3]; /* 255 - (255 - k) */
                for (int c = 0; c < 3; c++) {
                    int t = (255 - s[c]) * nk + 128;
                    int v = nk - (((t >> 8) + t) >> 8);
                    o[c] = (uint8_t)(v < 0 ? 0 : v);
                }
            }
        }
        vd__orient_put_row(&dst, y, d->rgb);
    }
    jpeg_finish_decompress(ci);
    vd__image_set_grey(d->img, nc == 1);
    return 0;
}

static vd_status jpg_load(vd_ctx *ctx, const char *path, int want_pixels,
                          jpg_dec *d)
{
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->path = path;
    d->want_pixels = want_pixels;
    d->f = fopen(path, "rb");
    if (!d->f)
        return vd__fail(ctx, VD_ERR_IO, "%s: %s", path, strerror(errno));
    d->cinfo.err = jpeg_std_error(&d->jerr);
    d->jerr.error_exit = on_error_exit;
    d->jerr.emit_message = on_message;
    d->progress.progress_monitor = on_progress;
    vd_status st = VD_OK;
    if (decode(d) != 0)
        st = d->st ? d->st
                   : vd__fail(ctx, VD_ERR_FORMAT, "%s: page 1: bad JPEG: %s",
                              path, d->msg[0] ? d->msg : "unknown error");
    if (d->created)
        jpeg_destroy_decompress(&d->cinfo);
    fclose(d->f);
    VD_FREE(d->row);
    VD_FREE(d->rgb);
    if (st) {
        vd_image_free(d->img);
        d->img = NULL;
    }
    return st;
}

static vd_status jpg_page_info(vd_ctx *ctx, vd_input *in, int page,
                               vd_page_info *info)
{
    (void)ctx;
    (void)page;
    const jpg_page *p = in->priv;
    info->width = p->w;
    info->height = p->h;
    info->unit = VD_UNIT_PX;
    info->dpi_x = p->dpi_x;
    info->dpi_y = p->dpi_y;
    info->is_scan = 1;
    info->scan_w = p->w;
    info->scan_h = p->h;
    info->rotate = p->orientation == 6   ? 90
                   : p->orientation == 3 ? 180
                   : p->orientation == 8 ? 270
                                         : 0;
    return VD_OK;
}

static vd_status jpg_render(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                            vd_image **out)
{
    (void)page;
    (void)w;
    (void)h;
    jpg_dec d;
    vd_status st = jpg_load(ctx, in->path, 1, &d);
    if (st)
        return st;
    *out = d.img;
    return VD_OK;
}

static void jpg_close(vd_input *in)
{
    VD_FREE(in->priv);
}

static const vd__input_vt jpg_vt = {
    .format = VD_FORMAT_JPEG,
    .page_info = jpg_page_info,
    .render = jpg_render,
    .close = jpg_close,
};

vd_status vd__jpeg_open(vd_ctx *ctx, vd_input *in)
{
    in->vt = &jpg_vt;
    jpg_dec d;
    vd_status st = jpg_load(ctx, in->path, 0, &d);
    if (st)
        return st;
    jpg_page *p = vd__calloc(ctx, 1, sizeof *p);
    if (!p)
        return VD_ERR_NOMEM;
    p->w = d.w;
    p->h = d.h;
    p->dpi_x = d.dpi_x;
    p->dpi_y = d.dpi_y;
    p->orientation = d.orientation;
    in->priv = p;
    in->npages = 1;
    return VD_OK;
}

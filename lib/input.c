/* Input: open a document by sniffing its first bytes (never the file
 * name) and hand it to the decoder that owns that format. Checks the file
 * size and page count against the ctx limits. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input-private.h"

static const char *const format_names[] = {
    [VD_FORMAT_UNKNOWN] = "unknown", [VD_FORMAT_PDF] = "pdf",
    [VD_FORMAT_TIFF] = "tiff",       [VD_FORMAT_PNG] = "png",
    [VD_FORMAT_JPEG] = "jpeg",       [VD_FORMAT_QWENVL] = "qwenvl",
};

const char *vd_format_name(vd_format f)
{
    if ((unsigned)f >= sizeof format_names / sizeof *format_names)
        return "unknown";
    return format_names[f];
}

void vd_input_opts_init(vd_input_opts *o)
{
    memset(o, 0, sizeof *o);
}

static vd_format sniff(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return VD_FORMAT_PNG;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return VD_FORMAT_JPEG;
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0 ||
                   memcmp(b, "II+\0", 4) == 0 || memcmp(b, "MM\0+", 4) == 0))
        return VD_FORMAT_TIFF;
    /* PDF readers accept junk before the header within the first 1 KiB */
    for (size_t i = 0; i + 5 <= n && i < 1024; i++)
        if (b[i] == '%' && memcmp(b + i, "%PDF-", 5) == 0)
            return VD_FORMAT_PDF;
    /* QwenVL HTML saved from a model: data-bbox, or an HTML document or
     * code fence near the start */
    static const char *const marks[] = { "data-bbox=", "```html", "<html",
                                         "<!DOCTYPE html", "<!doctype html" };
    for (size_t k = 0; k < sizeof marks / sizeof *marks; k++) {
        size_t m = strlen(marks[k]);
        for (size_t i = 0; i + m <= n; i++)
            if (b[i] == (unsigned char)marks[k][0] &&
                memcmp(b + i, marks[k], m) == 0)
                return VD_FORMAT_QWENVL;
    }
    return VD_FORMAT_UNKNOWN;
}

vd_status vd__input_check_page(vd_ctx *ctx, const vd_input *in, int page)
{
    if (page < 0 || page >= in->npages)
        return vd__fail(ctx, VD_ERR_RANGE,
                        "%s: page %d does not exist (the document has %d)",
                        in->path, page + 1, in->npages);
    return VD_OK;
}

vd_status vd_input_open(vd_ctx *ctx, const char *path,
                        const vd_input_opts *opts, vd_input **out)
{
    *out = NULL;
    vd_input_opts o;
    if (opts)
        o = *opts;
    else
        vd_input_opts_init(&o);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vd__fail(ctx, VD_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return vd__fail(ctx, VD_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > ctx->opts.limits.max_file_bytes) {
        close(fd);
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: file is %lld bytes, over the limit of %llu", path,
                        (long long)sb.st_size,
                        (unsigned long long)ctx->opts.limits.max_file_bytes);
    }
    unsigned char head[1024];
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n < 0)
        return vd__fail(ctx, VD_ERR_IO, "%s: %s", path, strerror(errno));
    if (n == 0)
        return vd__fail(ctx, VD_ERR_FORMAT, "%s: empty file (0 bytes)", path);

    vd_format f = o.format ? o.format : sniff(head, (size_t)n);
    vd_input *in = vd__calloc(ctx, 1, sizeof *in);
    if (!in)
        return VD_ERR_NOMEM;
    in->path = vd__strdup(ctx, path);
    if (!in->path) {
        vd__free(in);
        return VD_ERR_NOMEM;
    }
    in->format = f;
    in->opts = o;
    in->opts.password = NULL;

    vd_status st;
    switch (f) {
    case VD_FORMAT_PDF:
        st = vd__pdf_open(ctx, in, o.password);
        break;
    case VD_FORMAT_TIFF:
        st = vd__tiff_open(ctx, in);
        break;
    case VD_FORMAT_PNG:
        st = vd__png_open(ctx, in);
        break;
    case VD_FORMAT_JPEG:
        st = vd__jpeg_open(ctx, in);
        break;
    case VD_FORMAT_QWENVL:
        st = vd__qwenvl_open(ctx, in);
        break;
    case VD_FORMAT_UNKNOWN:
        st = vd__fail(ctx, VD_ERR_FORMAT,
                      "%s: not a PDF, TIFF, PNG or JPEG file "
                      "(unrecognised content)",
                      path);
        break;
    default:
        st = vd__fail(ctx, VD_ERR_UNSUPPORTED,
                      "%s: %s input is not supported by this build", path,
                      vd_format_name(f));
        break;
    }
    if (st == VD_OK && in->npages <= 0)
        st =
            vd__fail(ctx, VD_ERR_FORMAT, "%s: the document has no pages", path);
    if (st == VD_OK && in->npages > ctx->opts.limits.max_pages)
        st = vd__fail(ctx, VD_ERR_LIMIT, "%s: %d pages, over the limit of %d",
                      path, in->npages, ctx->opts.limits.max_pages);
    if (st) {
        vd_input_free(in);
        return st;
    }
    *out = in;
    return VD_OK;
}

void vd_input_free(vd_input *in)
{
    if (!in)
        return;
    if (in->vt && in->vt->close)
        in->vt->close(in);
    vd__free(in->path);
    vd__free(in);
}

vd_format vd_input_format(const vd_input *in)
{
    return in->format;
}

const char *vd_input_path(const vd_input *in)
{
    return in->path;
}

int vd_input_page_count(const vd_input *in)
{
    return in->npages;
}

vd_status vd_input_page_info(vd_ctx *ctx, vd_input *in, int page,
                             vd_page_info *info)
{
    memset(info, 0, sizeof *info);
    vd_status st = vd__input_check_page(ctx, in, page);
    if (st)
        return st;
    return in->vt->page_info(ctx, in, page, info);
}

int vd_input_has_text(vd_ctx *ctx, vd_input *in)
{
    if (in->format != VD_FORMAT_PDF)
        return 0;
    vd__errsave save;
    vd__err_save(ctx, &save);
    int n = in->npages < 5 ? in->npages : 5, found = 0;
    for (int i = 0; i < n && !found; i++) {
        vd_page_info pi;
        if (in->vt->page_info(ctx, in, i, &pi) == VD_OK && pi.has_text)
            found = 1;
    }
    vd__err_restore(ctx, &save);
    return found;
}

/* The page's info and geometry; a geometry failure gets the file name and
 * page in front of the reason. */
static vd_status page_geom(vd_ctx *ctx, vd_input *in, int page,
                           const vd_render_opts *opts, vd_page_info *info,
                           vd__page_geom *g)
{
    vd_render_opts ro;
    if (opts)
        ro = *opts;
    else
        vd_render_opts_init(&ro);
    in->geom_only = 1;
    vd_status st = vd_input_page_info(ctx, in, page, info);
    in->geom_only = 0;
    if (st)
        return st;
    if (!in->vt->render)
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: page %d: rendering %s is not supported", in->path,
                        page + 1, vd_format_name(in->format));
    vd__errsave save;
    vd__err_save(ctx, &save);
    st = vd__page_geometry(ctx, info, &ro, g);
    if (st) {
        char why[VD_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", vd_ctx_errmsg(ctx));
        vd__err_restore(ctx, &save);
        return vd__fail(ctx, st, "%s: page %d: %s", in->path, page + 1, why);
    }
    return VD_OK;
}

vd_status vd_input_page_geometry(vd_ctx *ctx, vd_input *in, int page,
                                 const vd_render_opts *opts, vd_page_geom *g)
{
    vd_page_info info;
    return page_geom(ctx, in, page, opts, &info, g);
}

/* The page at W x H: PDFs are drawn at that size, image files are decoded
 * at their own pixels and resampled only when those differ from W x H. */
static vd_status render_at(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                           vd_image **out)
{
    vd_image *img = NULL;
    vd_status st = in->vt->render(ctx, in, page, w, h, &img);
    if (st)
        return st;
    if (vd_image_width(img) != w || vd_image_height(img) != h) {
        vd_image *r = NULL;
        st = vd_image_resize(ctx, img, w, h, &r);
        vd_image_free(img);
        if (st)
            return st;
        img = r;
    }
    *out = img;
    return VD_OK;
}

vd_status vd_input_render(vd_ctx *ctx, vd_input *in, int page,
                          const vd_render_opts *opts, vd_image **out)
{
    *out = NULL;
    vd_page_info info;
    vd__page_geom g;
    vd_status st = page_geom(ctx, in, page, opts, &info, &g);
    if (st)
        return st;
    st = render_at(ctx, in, page, g.raster_w, g.raster_h, out);
    if (st == VD_OK)
        vd_image_set_dpi(*out, g.dpi_x, g.dpi_y);
    return st;
}

vd_status vd_input_render_model(vd_ctx *ctx, vd_input *in, int page,
                                const vd_render_opts *opts, vd_image **out,
                                vd_page_geom *gout)
{
    *out = NULL;
    vd_page_info info;
    vd__page_geom g;
    vd_status st = page_geom(ctx, in, page, opts, &info, &g);
    if (st)
        return st;
    int mw = g.map.model_w, mh = g.map.model_h;
    vd_image *img = NULL;
    if (g.direct) {
        st = in->vt->render(ctx, in, page, mw, mh, &img);
    } else {
        /* the page's own pixels, then one Pillow resample straight to the
         * model size - also for non-square fax pixels, never two */
        vd_image *src = NULL;
        st = in->vt->render(ctx, in, page, g.raster_w, g.raster_h, &src);
        if (st == VD_OK) {
            st = vd_image_resize(ctx, src, mw, mh, &img);
            vd_image_free(src);
        }
    }
    if (st)
        return st;
    vd_image_set_dpi(img, g.model_dpi_x, g.model_dpi_y);
    vd__info(ctx,
             "%s: page %d: %s, native %d x %d at %.1f x %.1f dpi, model "
             "%d x %d (%.1f dpi)%s",
             in->path, page + 1, g.scan ? "scan" : "vector", g.raster_w,
             g.raster_h, g.dpi_x, g.dpi_y, mw, mh, g.model_dpi_x,
             g.direct ? ", rendered at model size" : ", resampled");
    if (gout)
        *gout = g;
    *out = img;
    return VD_OK;
}

void vd_render_opts_init(vd_render_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_pixels = VD_DEFAULT_MIN_PIXELS;
    o->max_pixels = VD_DEFAULT_MAX_PIXELS;
}

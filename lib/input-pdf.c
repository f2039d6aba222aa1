/* Input, PDF: open with poppler-glib (password, damaged files), count
 * pages, measure them in their visible orientation, tell scanned pages
 * from born-digital ones, and render them with cairo onto white. The
 * PopplerDocument never leaves this file, and a document stays on the
 * thread that opened it (Poppler is not thread-safe per document). */
#include "config.h"

#include <cairo.h>
#include <math.h>
#include <poppler.h>
#include <string.h>

#include "input-private.h"

/* What scan detection found for one page (cached: it may decode the
 * page's images to learn their pixel size). */
typedef struct pdf_scan {
    int8_t known; /* 0: not looked yet */
    int8_t is_scan;
    int w, h; /* raster at the scan's resolution, visible orientation */
} pdf_scan;

typedef struct pdf {
    GMappedFile *map; /* the file, mapped read-only */
    PopplerDocument *doc;
    pdf_scan *scan; /* npages entries, made on first use */
} pdf;

static vd_status pdf_page_info(vd_ctx *ctx, vd_input *in, int page,
                               vd_page_info *info);
static vd_status pdf_render(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                            vd_image **out);
static void pdf_close(vd_input *in);

static const vd__input_vt pdf_vt = {
    .format = VD_FORMAT_PDF,
    .page_info = pdf_page_info,
    .render = pdf_render,
    .close = pdf_close,
};

vd_status vd__pdf_open(vd_ctx *ctx, vd_input *in, const char *password)
{
    GError *err = NULL;
    pdf *p = vd__calloc(ctx, 1, sizeof *p);
    if (!p)
        return VD_ERR_NOMEM;
    in->priv = p;
    in->vt = &pdf_vt;
    p->map = g_mapped_file_new(in->path, FALSE, &err);
    if (!p->map) {
        vd_status st = vd__fail(ctx, VD_ERR_IO, "%s: %s", in->path,
                                err ? err->message : "cannot map file");
        g_clear_error(&err);
        return st;
    }
    if (password) {
        /* poppler-glib 22.12's _from_bytes retries a rejected password on
         * a stream it has already freed and crashes (any wrong or
         * non-Latin-1 password); _from_file retries safely */
        char *uri = g_filename_to_uri(in->path, NULL, &err);
        if (uri)
            p->doc = poppler_document_new_from_file(uri, password, &err);
        g_free(uri);
    } else {
        GBytes *bytes = g_mapped_file_get_bytes(p->map);
        p->doc = poppler_document_new_from_bytes(bytes, NULL, &err);
        g_bytes_unref(bytes);
    }
    if (!p->doc) {
        vd_status st;
        if (err && err->domain == POPPLER_ERROR &&
            err->code == POPPLER_ERROR_ENCRYPTED)
            st = vd__fail(ctx, VD_ERR_PASSWORD,
                          password ? "%s: encrypted, and the password given "
                                     "is wrong"
                                   : "%s: encrypted, password required",
                          in->path);
        else
            st = vd__fail(ctx, VD_ERR_FORMAT,
                          "%s: not a readable PDF (%s)", in->path,
                          err ? err->message : "unknown error");
        g_clear_error(&err);
        return st;
    }
    int n = poppler_document_get_n_pages(p->doc);
    if (n <= 0)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: the document has no pages (damaged page tree?)",
                        in->path);
    in->npages = n;
    return VD_OK;
}

static void pdf_close(vd_input *in)
{
    pdf *p = in->priv;
    if (!p)
        return;
    if (p->doc)
        g_object_unref(p->doc);
    if (p->map)
        g_mapped_file_unref(p->map);
    vd__free(p->scan);
    vd__free(p);
    in->priv = NULL;
}

/* Poppler's page, or a message naming the page. Caller unrefs. */
static PopplerPage *get_page(vd_ctx *ctx, vd_input *in, int page)
{
    pdf *p = in->priv;
    PopplerPage *pg = poppler_document_get_page(p->doc, page);
    if (!pg)
        vd__fail(ctx, VD_ERR_FORMAT, "%s: page %d: cannot be read",
                 in->path, page + 1);
    return pg;
}

/* poppler-glib does not expose /Rotate; it renders and lays out text in
 * the visible orientation already. Whether the page is turned a quarter
 * shows in its size against the unrotated crop box. */
static int quarter_turned(PopplerPage *pg)
{
    PopplerRectangle crop;
    double w, h;
    poppler_page_get_crop_box(pg, &crop);
    poppler_page_get_size(pg, &w, &h);
    double cw = crop.x2 - crop.x1, ch = crop.y2 - crop.y1;
    if (cw < 0)
        cw = -cw;
    if (ch < 0)
        ch = -ch;
    return cw != ch && fabs(w - ch) < 0.01 && fabs(h - cw) < 0.01;
}

/* ---- scanned pages ---- */

/* A page counts as a scan when raster images cover essentially all of it
 * (a scanner's output, or a scan wrapped in a PDF by OCR software, whose
 * invisible text layer does not matter). Its resolution is the finest
 * among the images that cover a real part of the page, so a mixed-raster
 * page (high-resolution text mask over a coarse background) keeps its
 * text pixels. Each dpi is sqrt(pixels / area): the same whichever way the
 * image is turned on the page. */
/* images cover this share of the page */
#define SCAN_COVER 0.85
/* an image this big counts for the dpi */
#define SCAN_PART 0.10
/* below this a page with text is drawn as vectors: a coarse background
 * image under real text */
#define SCAN_MIN_TEXT_DPI 100

/* Area of an image mapping, at most the page's. Poppler 22.12 places the
 * mappings of a turned page at an offset, so only their size is used. */
static double clipped_area(const PopplerRectangle *r, double cw, double ch)
{
    double a = fabs((r->x2 - r->x1) * (r->y2 - r->y1));
    return a < cw * ch ? a : cw * ch;
}

static void detect_scan(vd_ctx *ctx, pdf *p, int npages, int page,
                        PopplerPage *pg, double w, double h, vd_page_info *info)
{
    if (!p->scan) {
        p->scan = vd__calloc(ctx, (size_t)npages, sizeof *p->scan);
        if (!p->scan) {
            vd_ctx_clear(ctx); /* detection is optional; render as vector */
            return;
        }
    }
    pdf_scan *sc = &p->scan[page];
    if (!sc->known) {
        sc->known = 1;
        /* mapping areas are in the unrotated crop box */
        double cw = quarter_turned(pg) ? h : w, ch = quarter_turned(pg) ? w : h;
        double page_area = cw * ch, cover = 0, dpi = 0;
        GList *maps = poppler_page_get_image_mapping(pg);
        for (GList *l = maps; l; l = l->next)
            cover +=
                clipped_area(&((PopplerImageMapping *)l->data)->area, cw, ch);
        int one_w = 0, one_h = 0; /* pixels of an image that alone covers */
        if (cover >= SCAN_COVER * page_area) {
            for (GList *l = maps; l; l = l->next) {
                PopplerImageMapping *m = l->data;
                double a =
                    fabs((m->area.x2 - m->area.x1) * (m->area.y2 - m->area.y1));
                if (clipped_area(&m->area, cw, ch) < SCAN_PART * page_area ||
                    !(a > 0))
                    continue;
                cairo_surface_t *s = poppler_page_get_image(pg, m->image_id);
                if (!s)
                    continue;
                int iw = cairo_image_surface_get_width(s);
                int ih = cairo_image_surface_get_height(s);
                cairo_surface_destroy(s);
                double d = 72.0 * sqrt((double)iw * ih / a);
                if (d > dpi) {
                    dpi = d;
                    int alone = clipped_area(&m->area, cw, ch) >=
                                SCAN_COVER * page_area;
                    one_w = alone ? iw : 0;
                    one_h = alone ? ih : 0;
                }
            }
        }
        poppler_page_free_image_mapping(maps);
        if (dpi > 0 && (!info->has_text || dpi >= SCAN_MIN_TEXT_DPI)) {
            sc->is_scan = 1;
            if (one_w > 0 && one_h > 0) {
                /* one image is the page: exactly its pixels, turned the
                 * way the page is shown */
                int swap = (one_w > one_h) != (w > h);
                sc->w = swap ? one_h : one_w;
                sc->h = swap ? one_w : one_h;
            } else {
                sc->w = (int)(w * dpi / 72.0 + 0.5);
                sc->h = (int)(h * dpi / 72.0 + 0.5);
            }
        }
    }
    info->is_scan = sc->is_scan;
    info->scan_w = sc->w;
    info->scan_h = sc->h;
    if (sc->is_scan) {
        info->dpi_x = sc->w * 72.0 / w;
        info->dpi_y = sc->h * 72.0 / h;
    }
}

static vd_status pdf_page_info(vd_ctx *ctx, vd_input *in, int page,
                               vd_page_info *info)
{
    PopplerPage *pg = get_page(ctx, in, page);
    if (!pg)
        return VD_ERR_FORMAT;
    double w = 0, h = 0;
    poppler_page_get_size(pg, &w, &h); /* already in visible orientation */
    info->width = w;
    info->height = h;
    info->unit = VD_UNIT_PT;
    info->rotate = quarter_turned(pg) ? 90 : 0;
    char *text = poppler_page_get_text(pg);
    info->has_text = 0;
    for (const char *s = text; s && *s; s++)
        if (!g_ascii_isspace(*s)) {
            info->has_text = 1;
            break;
        }
    g_free(text);
    vd_status st = VD_OK;
    if (!(w > 0.5 && h > 0.5) || w > 1e6 || h > 1e6)
        st = vd__fail(ctx, VD_ERR_FORMAT,
                      "%s: page %d: unusable page size %.1f x %.1f pt",
                      in->path, page + 1, w, h);
    else
        detect_scan(ctx, in->priv, in->npages, page, pg, w, h, info);
    g_object_unref(pg);
    return st;
}

/* ---- rendering ---- */

static void pdf_render_body(PopplerPage *pg, cairo_t *cr)
{
    /* poppler_page_render, not _for_printing: the page as a viewer shows
     * it, with annotation and form-field appearances that are visible on
     * screen (printing would drop those without the Print flag and show
     * ones marked NoView). */
    poppler_page_render(pg, cr);
}

static vd_status pdf_render(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                            vd_image **out)
{
    *out = NULL;
    if (w > 32767 || h > 32767) /* cairo's image surface limit */
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: page %d: a raster of %d x %d pixels is over "
                        "cairo's limit of 32767 per side (lower --dpi)",
                        in->path, page + 1, w, h);
    vd_image *img = NULL;
    vd_status st = vd_image_new(ctx, w, h, &img);
    if (st) {
        if (st == VD_ERR_LIMIT)
            vd__refail(ctx, st,
                       "%s: page %d: a raster of %d x %d pixels is over the "
                       "limit of %llu pixels per page",
                       in->path, page + 1, w, h,
                       (unsigned long long)ctx->opts.limits.max_page_pixels);
        return st;
    }
    PopplerPage *pg = get_page(ctx, in, page);
    if (!pg) {
        vd_image_free(img);
        return VD_ERR_FORMAT;
    }
    double pw, ph;
    poppler_page_get_size(pg, &pw, &ph);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        g_object_unref(pg);
        vd_image_free(img);
        return vd__fail(ctx, VD_ERR_NOMEM,
                        "%s: page %d: cannot make a %d x %d cairo surface",
                        in->path, page + 1, w, h);
    }
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* fill W x H exactly; the two scales differ by at most the rounding of
     * the model size to 28-px multiples */
    cairo_scale(cr, w / pw, h / ph);
    pdf_render_body(pg, cr);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    g_object_unref(pg);
    if (cs != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        vd_image_free(img);
        return vd__fail(ctx, VD_ERR_FORMAT, "%s: page %d: rendering failed: %s",
                        in->path, page + 1, cairo_status_to_string(cs));
    }
    const uint8_t *src = cairo_image_surface_get_data(s);
    int sstride = cairo_image_surface_get_stride(s);
    uint8_t *dst = vd_image_data(img);
    size_t dstride = vd_image_stride(img);
    for (int y = 0; y < h; y++) {
        const uint32_t *sr = (const uint32_t *)(src + (size_t)y * sstride);
        uint8_t *d = dst + (size_t)y * dstride;
        for (int x = 0; x < w; x++, d += 3) {
            uint32_t v = sr[x]; /* xRGB in native order */
            d[0] = (uint8_t)(v >> 16);
            d[1] = (uint8_t)(v >> 8);
            d[2] = (uint8_t)v;
        }
    }
    cairo_surface_destroy(s);
    vd_image_set_dpi(img, w * 72.0 / pw, h * 72.0 / ph);
    *out = img;
    return VD_OK;
}

/* ---- text layer ---- */

static int font_index(vd_ctx *ctx, vd__pdf_text *t, const char *name)
{
    for (int i = 0; i < t->nfonts; i++)
        if (strcmp(t->fonts[i], name) == 0)
            return i;
    char **f = vd__realloc(ctx, t->fonts, sizeof *f * (size_t)(t->nfonts + 1));
    if (!f)
        return -1;
    t->fonts = f;
    if (!(f[t->nfonts] = vd__strdup(ctx, name)))
        return -1;
    return t->nfonts++;
}

static uint8_t font_flags(const char *name)
{
    uint8_t fl = 0;
    char low[128];
    size_t i = 0;
    for (; name[i] && i < sizeof low - 1; i++)
        low[i] = (char)g_ascii_tolower(name[i]);
    low[i] = '\0';
    if (strstr(low, "bold") || strstr(low, "black") || strstr(low, "heavy") ||
        strstr(low, "semibold") || strstr(low, "demi"))
        fl |= VD__PDF_BOLD;
    if (strstr(low, "italic") || strstr(low, "oblique"))
        fl |= VD__PDF_ITALIC;
    return fl;
}

vd_status vd__pdf_page_text(vd_ctx *ctx, vd_input *in, int page,
                            vd__pdf_text *out)
{
    memset(out, 0, sizeof *out);
    vd_status st = vd__input_check_page(ctx, in, page);
    if (st)
        return st;
    PopplerPage *pg = get_page(ctx, in, page);
    if (!pg)
        return VD_ERR_FORMAT;
    double w, h;
    poppler_page_get_size(pg, &w, &h);
    out->page_w = w;
    out->page_h = h;
    out->rotate = quarter_turned(pg) ? 90 : 0;

    char *text = poppler_page_get_text(pg);
    PopplerRectangle *rects = NULL;
    guint nrects = 0;
    if (text && *text && !poppler_page_get_text_layout(pg, &rects, &nrects))
        nrects = 0;
    GList *attrs = text && *text ? poppler_page_get_text_attributes(pg)
                                 : NULL;
    size_t nchars = text ? (size_t)g_utf8_strlen(text, -1) : 0;
    if (nchars > 0) {
        out->chars = vd__calloc(ctx, nchars, sizeof *out->chars);
        if (!out->chars)
            st = VD_ERR_NOMEM;
    }
    GList *ai = attrs;
    const char *s = text;
    for (size_t i = 0; st == VD_OK && i < nchars; i++) {
        vd__pdf_char *c = &out->chars[i];
        c->cp = g_utf8_get_char(s);
        s = g_utf8_next_char(s);
        if (i < nrects) {
            /* already visible orientation, top-left origin */
            double ax = rects[i].x1, ay = rects[i].y1;
            double bx = rects[i].x2, by = rects[i].y2;
            c->x1 = (float)(ax < bx ? ax : bx);
            c->x2 = (float)(ax < bx ? bx : ax);
            c->y1 = (float)(ay < by ? ay : by);
            c->y2 = (float)(ay < by ? by : ay);
        }
        while (ai && ((PopplerTextAttributes *)ai->data)->end_index < (int)i)
            ai = ai->next;
        if (ai) {
            PopplerTextAttributes *a = ai->data;
            if ((int)i >= a->start_index && (int)i <= a->end_index) {
                const char *fname = a->font_name ? a->font_name : "";
                int fi = font_index(ctx, out, fname);
                if (fi < 0) {
                    st = VD_ERR_NOMEM;
                    break;
                }
                c->font = (uint16_t)fi;
                c->size = (float)a->font_size;
                c->flags = font_flags(fname);
                if (a->is_underlined)
                    c->flags |= VD__PDF_UNDERLINE;
            }
        }
    }
    out->n = st == VD_OK ? nchars : 0;
    poppler_page_free_text_attributes(attrs);
    g_free(rects);
    g_free(text);
    g_object_unref(pg);
    if (st)
        vd__pdf_text_free(out);
    return st;
}

void vd__pdf_text_free(vd__pdf_text *t)
{
    vd__free(t->chars);
    for (int i = 0; i < t->nfonts; i++)
        vd__free(t->fonts[i]);
    vd__free(t->fonts);
    memset(t, 0, sizeof *t);
}

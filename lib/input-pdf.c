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
#include "raster.h"

/* What scan detection found for one page (cached: it may decode the
 * page's images to learn their pixel size). */
typedef struct pdf_scan {
    int8_t known; /* 0: not looked yet */
    int8_t is_scan;
    int w, h; /* raster at the scan's resolution, visible orientation */
} pdf_scan;

enum { PDF_PAGE_CACHE = 8 };

typedef struct pdf {
    GMappedFile *map; /* the file, mapped read-only */
    PopplerDocument *doc;
    pdf_scan *scan; /* npages entries, made on first use */
    uint8_t *surf;  /* cairo's pixels, kept from page to page: mapping a
                       fresh page buffer costs more than the rendering */
    size_t surf_size;
    /* The pages last asked for. Poppler keeps a page's text layout on its
     * PopplerPage, so page_info, the text layer and the text engine's
     * look-ahead share one layout pass per page instead of each running
     * TextOutputDev again. */
    PopplerPage *cache[PDF_PAGE_CACHE];
    int cache_no[PDF_PAGE_CACHE];
    unsigned cache_next;
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
        /* poppler-glib 22.12 crashes in PDFDoc's constructor when a
         * password comes with new_from_bytes on some AES files (corpus
         * pdfjs_utf8-password_aeoa.pdf, any password); new_from_file
         * takes the same password safely */
        char *uri = g_filename_to_uri(in->path, NULL, NULL);
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
            st = vd__fail(ctx, VD_ERR_FORMAT, "%s: not a readable PDF (%s)",
                          in->path, err ? err->message : "unknown error");
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
    for (int i = 0; i < PDF_PAGE_CACHE; i++)
        if (p->cache[i])
            g_object_unref(p->cache[i]);
    if (p->doc)
        g_object_unref(p->doc);
    if (p->map)
        g_mapped_file_unref(p->map);
    vd__free(p->scan);
    vd__page_free(p->surf, p->surf_size);
    vd__free(p);
    in->priv = NULL;
}

/* Poppler's page, or a message naming the page. Caller unrefs. */
static PopplerPage *get_page(vd_ctx *ctx, vd_input *in, int page)
{
    pdf *p = in->priv;
    for (int i = 0; i < PDF_PAGE_CACHE; i++)
        if (p->cache[i] && p->cache_no[i] == page)
            return g_object_ref(p->cache[i]);
    PopplerPage *pg = poppler_document_get_page(p->doc, page);
    if (!pg) {
        vd__fail(ctx, VD_ERR_FORMAT, "%s: page %d: cannot be read", in->path,
                 page + 1);
        return NULL;
    }
    unsigned slot = p->cache_next++ % PDF_PAGE_CACHE;
    if (p->cache[slot])
        g_object_unref(p->cache[slot]);
    p->cache[slot] = g_object_ref(pg);
    p->cache_no[slot] = page;
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

/* Does the page have a text layer (anything but white space)? */
static int page_has_text(PopplerPage *pg)
{
    char *text = poppler_page_get_text(pg);
    int found = 0;
    for (const char *s = text; s && *s && !found; s++)
        found = !g_ascii_isspace(*s);
    g_free(text);
    return found;
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
        if (dpi > 0 && dpi < SCAN_MIN_TEXT_DPI && info->has_text < 0)
            info->has_text = page_has_text(pg);
        if (dpi > 0 && (info->has_text <= 0 || dpi >= SCAN_MIN_TEXT_DPI)) {
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
    /* the text probe is a full layout pass; geometry for rendering does
     * without it (scan detection asks for it only when it matters) */
    info->has_text = in->geom_only ? -1 : page_has_text(pg);
    vd_status st = VD_OK;
    if (!(w > 0.5 && h > 0.5) || w > 1e6 || h > 1e6)
        st = vd__fail(ctx, VD_ERR_FORMAT,
                      "%s: page %d: unusable page size %.1f x %.1f pt",
                      in->path, page + 1, w, h);
    else
        detect_scan(ctx, in->priv, in->npages, page, pg, w, h, info);
    if (info->has_text < 0)
        info->has_text = 0; /* not probed: geometry only */
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
    vd_status st = vd__image_alloc(ctx, w, h, 0, &img); /* all written */
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
    /* our own page buffer under the surface (see vd__page_alloc) */
    pdf *pd = in->priv;
    int sstride = cairo_format_stride_for_width(CAIRO_FORMAT_RGB24, w);
    size_t sbytes = (size_t)sstride * (size_t)h;
    if (sstride > 0 && pd->surf_size < sbytes) {
        vd__page_free(pd->surf, pd->surf_size);
        pd->surf_size = 0;
        if ((pd->surf = vd__page_alloc(ctx, sbytes)) != NULL)
            pd->surf_size = sbytes;
    }
    uint8_t *sdata = sstride > 0 ? pd->surf : NULL;
    cairo_surface_t *s = sdata ? cairo_image_surface_create_for_data(
                                     sdata, CAIRO_FORMAT_RGB24, w, h, sstride)
                               : NULL;
    if (!s || cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
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
    const uint8_t *src = sdata;
    uint8_t *dst = vd_image_data(img);
    size_t dstride = vd_image_stride(img);
    for (int y = 0; y < h; y++) {
        const uint32_t *restrict sr =
            (const uint32_t *)(src + (size_t)y * sstride);
        uint8_t *restrict d = dst + (size_t)y * dstride;
        int x = 0; /* restrict lets the compiler vectorise this */
        for (; x < w; x++, d += 3) {
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

/* Poppler gives one rectangle per character of its page text, in the
 * visible orientation with a top-left origin (checked on /Rotate 90, 180
 * and 270 pages: poppler-glib lays text out on the rotated page). Spaces
 * and line ends have rectangles too; they only separate words here. The
 * writing direction of a word comes from where its glyphs advance. */

static int font_index(vd_ctx *ctx, vd__pdf_text *t, const char *name)
{
    /* attribute runs come in page order, so the last font is the likely
     * one; documents use few fonts */
    for (int i = t->nfonts - 1; i >= 0; i--)
        if (strcmp(t->fonts[i], name) == 0)
            return i;
    if (t->nfonts >= 65535)
        return 0;
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
    for (; i < sizeof low - 1 && name[i]; i++)
        low[i] = (char)g_ascii_tolower(name[i]);
    low[i] = '\0';
    if (strstr(low, "bold") || strstr(low, "black") || strstr(low, "heavy") ||
        strstr(low, "semibold") || strstr(low, "demi") || strstr(low, ",bd") ||
        strstr(low, "-bd"))
        fl |= VD__PDF_BOLD;
    if (strstr(low, "italic") || strstr(low, "oblique") || strstr(low, "-it"))
        fl |= VD__PDF_ITALIC;
    return fl;
}

static int is_rtl(gunichar c)
{
    return (c >= 0x0590 && c <= 0x08FF) || (c >= 0xFB1D && c <= 0xFDFF) ||
           (c >= 0xFE70 && c <= 0xFEFF);
}

/* Poppler's page text is not its glyph list verbatim: reorderText() in
 * TextOutputDev.cc turns every right-to-left run of a word round into
 * logical order and brackets it with U+202B (RLE) ... U+202C (PDF), and
 * on right-to-left pages brackets the left-to-right runs inside with
 * U+202A (LRE) ... U+202C. The glyph boxes (and the attribute offsets)
 * stay in drawing order and the marks have none. BOX[i] gets the box
 * index of character I of the text, -1 for a mark: inside an RLE group
 * the items (characters and nested groups) run in reverse, inside an
 * LRE group forwards. Nesting is at most two deep in Poppler's output;
 * deeper or unbalanced marks are taken as they come. Returns the number
 * of boxes used. */
static int bidi_mark(gunichar c)
{
    return c == 0x202A || c == 0x202B || c == 0x202C;
}

/* Characters [I, END) of U at group depth DEPTH: the items of one group.
 * Each item's boxes are laid out from *BASE on, last item first when
 * REV. Returns the index after the group's closing mark (or END). */
static size_t bidi_group(const gunichar *u, size_t i, size_t end, int rev,
                         int depth, int *box, int *base)
{
    /* first pass: find the items and their box counts; a group holds few
     * items (one word), so walking it twice costs nothing */
    size_t start = i, close = end;
    int count = 0;
    for (size_t k = i; k < end; k++) {
        if (u[k] == 0x202C && depth > 0) {
            close = k;
            break;
        }
        if (u[k] == 0x202A || u[k] == 0x202B) {
            /* skip the nested group, counting its characters */
            int d = 1;
            for (k++; k < end && d > 0; k++) {
                if (u[k] == 0x202A || u[k] == 0x202B)
                    d++;
                else if (u[k] == 0x202C)
                    d--;
                else
                    count++;
            }
            k--;
            continue;
        }
        if (!bidi_mark(u[k]))
            count++;
    }
    int b = *base, hi = *base + count;
    size_t k = start;
    while (k < close) {
        if (u[k] == 0x202A || u[k] == 0x202B) {
            /* a nested group: count its boxes, then lay it out */
            int sub = 0, d = 1;
            size_t e = k + 1;
            for (; e < close && d > 0; e++) {
                if (u[e] == 0x202A || u[e] == 0x202B)
                    d++;
                else if (u[e] == 0x202C)
                    d--;
                else
                    sub++;
            }
            int at = rev ? hi - sub : b;
            if (depth < 8) {
                bidi_group(u, k + 1, close, u[k] == 0x202B, depth + 1, box,
                           &at);
            } else {
                for (size_t m = k + 1; m < e; m++)
                    box[m] = bidi_mark(u[m]) ? -1 : at++;
            }
            box[k] = -1;
            if (rev)
                hi -= sub;
            else
                b += sub;
            k = e;
            continue;
        }
        if (bidi_mark(u[k])) {
            box[k++] = -1; /* a stray close at the top level */
            continue;
        }
        box[k++] = rev ? --hi : b++;
    }
    *base += count;
    if (close < end) {
        box[close] = -1;
        return close + 1;
    }
    return end;
}

static int bidi_boxes(const gunichar *u, size_t n, int *box)
{
    int base = 0;
    bidi_group(u, 0, n, 0, 0, box, &base);
    return base;
}

/* Poppler reorders each of its words on its own, so where one bracketed
 * group closes and the next opens straight away its words meet with no
 * space between them (Arabic set with tight spacing); GROUP_START marks
 * the characters that open such a group. */
static void bidi_word_starts(const gunichar *u, size_t n, uint8_t *gs)
{
    int depth = 0, after_close = 0;
    for (size_t i = 0; i < n; i++) {
        gs[i] = 0;
        if (u[i] == 0x202A || u[i] == 0x202B) {
            if (depth == 0 && after_close)
                gs[i] = 1;
            depth++;
            after_close = 0;
        } else if (u[i] == 0x202C) {
            if (depth > 0)
                depth--;
            after_close = depth == 0;
        } else {
            after_close = 0;
        }
    }
}

/* The attribute run holding box RI (runs are sorted and disjoint). Boxes
 * mostly come in order: *HINT, the run found last, is tried first. */
static const PopplerTextAttributes *attr_at(const PopplerTextAttributes **av,
                                            size_t n, int ri, size_t *hint)
{
    for (size_t k = *hint; k < n && k < *hint + 2; k++)
        if (av[k]->start_index <= ri && av[k]->end_index >= ri) {
            *hint = k;
            return av[k];
        }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (av[mid]->end_index < ri)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && av[lo]->start_index <= ri) {
        *hint = lo;
        return av[lo];
    }
    return NULL;
}

/* Word being built from consecutive glyphs. */
typedef struct wacc {
    int open;
    size_t first, last;        /* glyph indexes */
    double fx, fy;             /* first glyph centre */
    double lx, ly;             /* last glyph centre */
    double px1, py1, px2, py2; /* last glyph box */
    int rtl, nglyph;
    vd__pdf_word w;
} wacc;

static void word_close(vd__pdf_text *t, wacc *a, char *u8, size_t *nb)
{
    if (!a->open)
        return;
    vd__pdf_word *w = &a->w;
    double dx = a->lx - a->fx, dy = a->ly - a->fy;
    if (a->nglyph < 2 || (fabs(dx) < 0.01 && fabs(dy) < 0.01))
        w->dir = 255; /* unknown: its line decides */
    else if (fabs(dx) >= fabs(dy))
        w->dir = dx >= 0 || a->rtl ? 0 : 2;
    else
        w->dir = dy > 0 ? 1 : 3;
    if (a->rtl * 2 > a->nglyph)
        w->flags |= VD__PDF_RTL;
    u8[(*nb)++] = '\0';
    t->words[t->nwords++] = *w;
    a->open = 0;
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

    /* Poppler selects the page's text from the area's first corner to
     * its second in reading order. On a page it reads right to left the
     * top-left corner falls at the end of the first lines, which are then
     * left out; selecting from the top-right corner takes them all. Such
     * pages show in their text as RLE-bracketed words. */
    PopplerRectangle area = { 0, 0, w, h };
    char *text = poppler_page_get_text_for_area(pg, &area);
    if (text && strstr(text, "\xE2\x80\xAB")) {
        PopplerRectangle ra = { w, 0, 0, h };
        char *rt = poppler_page_get_text_for_area(pg, &ra);
        if (rt && strlen(rt) > strlen(text)) {
            g_free(text);
            text = rt;
            area = ra;
        } else {
            g_free(rt);
        }
    }
    size_t tbytes = text ? strlen(text) : 0;
    size_t nchars = tbytes ? (size_t)g_utf8_strlen(text, -1) : 0;
    PopplerRectangle *rects = NULL;
    guint nrects = 0;
    GList *attrs = NULL;
    gunichar *ucs = NULL;
    int *box = NULL;
    uint8_t *gs = NULL; /* opens a bidi group right after another */
    if (nchars > VD__PDF_MAX_GLYPHS) {
        st = vd__fail(ctx, VD_ERR_LIMIT,
                      "%s: page %d: %zu characters of text (limit %u)",
                      in->path, page + 1, nchars, VD__PDF_MAX_GLYPHS);
    } else if (nchars > 0) {
        if (!poppler_page_get_text_layout_for_area(pg, &area, &rects, &nrects))
            nrects = 0;
        attrs = poppler_page_get_text_attributes_for_area(pg, &area);
        /* at most one word per glyph; the UTF-8 text plus one NUL each */
        out->words = vd__malloc(ctx, nchars * sizeof *out->words);
        out->utf8 = vd__malloc(ctx, tbytes + nchars + 1);
        if (!out->words || !out->utf8)
            st = VD_ERR_NOMEM;
        /* the marks (E2 80 AA..AC) only come with right-to-left text;
         * without them character I has box I */
        int marks = 0;
        for (const char *m = text; !marks && (m = strstr(m, "\xE2\x80"));
             m += 2)
            marks = (unsigned char)m[2] >= 0xAA && (unsigned char)m[2] <= 0xAC;
        if (marks && st == VD_OK) {
            ucs = vd__malloc(ctx, nchars * sizeof *ucs);
            box = vd__malloc(ctx, nchars * sizeof *box);
            gs = vd__malloc(ctx, nchars);
            if (!ucs || !box || !gs) {
                st = VD_ERR_NOMEM;
            } else {
                const char *p = text;
                for (size_t i = 0; i < nchars; i++, p = g_utf8_next_char(p))
                    ucs[i] = g_utf8_get_char(p);
                bidi_boxes(ucs, nchars, box);
                bidi_word_starts(ucs, nchars, gs);
            }
        }
    }
    /* the attribute runs as an array, in box order */
    size_t nav = 0;
    for (GList *l = attrs; l; l = l->next)
        nav++;
    const PopplerTextAttributes **av =
        st == VD_OK && nav ? vd__malloc(ctx, nav * sizeof *av) : NULL;
    if (nav && !av && st == VD_OK)
        st = VD_ERR_NOMEM;
    if (av) {
        size_t k = 0;
        for (GList *l = attrs; l; l = l->next)
            av[k++] = l->data;
    }
    const char *s = text;
    wacc a;
    memset(&a, 0, sizeof a);
    size_t nb = 0;
    int cur_font = 0;
    float cur_size = 0;
    uint8_t cur_flags = 0;
    const PopplerTextAttributes *cur_attr = NULL;
    int soft = 0;
    size_t hint = 0;
    for (size_t i = 0; st == VD_OK && i < nchars; i++) {
        gunichar c = ucs ? ucs[i] : g_utf8_get_char(s);
        const char *next = g_utf8_next_char(s);
        int ri = box ? box[i] : (int)i;
        if (ri < 0) { /* Poppler's bidi mark: no glyph */
            soft |= gs[i];
            s = next;
            continue;
        }
        /* zero-width spaces part words and draw nothing */
        int sep = c == '\n' || c == '\r' || g_unichar_isspace(c) ||
                  c == 0xFEFF || c == 0x200B || (guint)ri >= nrects;
        if (sep) {
            if (c == '\n' && a.open)
                a.w.line_end = 1;
            word_close(out, &a, out->utf8, &nb);
            if (c == '\n' && !a.open && out->nwords > 0)
                out->words[out->nwords - 1].line_end = 1;
            s = next;
            continue;
        }
        /* attribute offsets count glyph boxes, like the layout; boxes
         * run backwards inside right-to-left words, so look them up */
        const PopplerTextAttributes *at = attr_at(av, nav, ri, &hint);
        if (at && at != cur_attr) {
            {
                const char *fname = at->font_name ? at->font_name : "";
                int fi = font_index(ctx, out, fname);
                if (fi < 0) {
                    st = VD_ERR_NOMEM;
                    break;
                }
                cur_attr = at;
                cur_font = fi;
                cur_size = (float)at->font_size;
                cur_flags = font_flags(fname);
                if (at->is_underlined)
                    cur_flags |= VD__PDF_UNDERLINE;
            }
        }
        const PopplerRectangle *r = &rects[ri];
        double x1 = fmin(r->x1, r->x2), x2 = fmax(r->x1, r->x2);
        double y1 = fmin(r->y1, r->y2), y2 = fmax(r->y1, r->y2);
        if (a.open) {
            /* Poppler's text has no space where a PDF moved the pen
             * instead of drawing one (table cells, tab stops): a gap
             * between glyphs also ends a word */
            double cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
            double dx = cx - a.lx, dy = cy - a.ly, gap;
            double em = cur_size > 0.5f ? cur_size : fmax(y2 - y1, x2 - x1);
            if (fabs(dx) >= fabs(dy))
                gap = dx >= 0 ? x1 - a.px2 : a.px1 - x2;
            else
                gap = dy >= 0 ? y1 - a.py2 : a.py1 - y2;
            /* where Poppler saw two words without a space (soft), a
             * small gap is enough */
            if (gap > (soft ? 0.1 : 0.3) * em ||
                fmin(fabs(dx), fabs(dy)) > 0.8 * em)
                word_close(out, &a, out->utf8, &nb);
        }
        if (!a.open) {
            memset(&a, 0, sizeof a);
            a.open = 1;
            a.first = i;
            a.fx = (x1 + x2) / 2;
            a.fy = (y1 + y2) / 2;
            a.w.x1 = (float)x1;
            a.w.y1 = (float)y1;
            a.w.x2 = (float)x2;
            a.w.y2 = (float)y2;
            a.w.off = (uint32_t)nb;
            a.w.size = cur_size;
            a.w.font = (uint16_t)cur_font;
            a.w.flags = cur_flags;
        } else {
            a.w.x1 = fminf(a.w.x1, (float)x1);
            a.w.y1 = fminf(a.w.y1, (float)y1);
            a.w.x2 = fmaxf(a.w.x2, (float)x2);
            a.w.y2 = fmaxf(a.w.y2, (float)y2);
        }
        a.last = i;
        a.px1 = x1, a.px2 = x2, a.py1 = y1, a.py2 = y2;
        a.lx = (x1 + x2) / 2;
        a.ly = (y1 + y2) / 2;
        a.nglyph++;
        soft = 0;
        a.rtl += is_rtl(c);
        memcpy(out->utf8 + nb, s, (size_t)(next - s));
        nb += (size_t)(next - s);
        a.w.len = (uint32_t)(nb - a.w.off);
        s = next;
    }
    if (st == VD_OK && a.open) {
        a.w.line_end = 1;
        word_close(out, &a, out->utf8, &nb);
    }
    out->nbytes = nb;
    vd__free(ucs);
    vd__free(box);
    vd__free(gs);
    vd__free(av);
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
    vd__free(t->words);
    vd__free(t->utf8);
    for (int i = 0; i < t->nfonts; i++)
        vd__free(t->fonts[i]);
    vd__free(t->fonts);
    memset(t, 0, sizeof *t);
}

/* Input, PDF: open with poppler-glib (password, damaged files), count
 * pages, measure them in their visible orientation. PopplerDocument never
 * leaves this file, and a document stays on the thread that opened it
 * (Poppler is not thread-safe per document). */
#include "config.h"

#include <math.h>
#include <poppler.h>
#include <string.h>

#include "input-private.h"

typedef struct pdf {
    GMappedFile *map;    /* the file, mapped read-only */
    PopplerDocument *doc;
} pdf;

static vd_status pdf_page_info(vd_ctx *ctx, vd_input *in, int page,
                               vd_page_info *info);
static void pdf_close(vd_input *in);

static const vd__input_vt pdf_vt = {
    .format = VD_FORMAT_PDF,
    .page_info = pdf_page_info,
    .render = NULL,
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
    GBytes *bytes = g_mapped_file_get_bytes(p->map);
    p->doc = poppler_document_new_from_bytes(bytes, password, &err);
    g_bytes_unref(bytes);
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
    g_object_unref(pg);
    if (!(w > 0.5 && h > 0.5) || w > 1e6 || h > 1e6)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: page %d: unusable page size %.1f x %.1f pt",
                        in->path, page + 1, w, h);
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

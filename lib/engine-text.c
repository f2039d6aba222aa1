/* Engine "text": the PDF's own text layer, no model. Words from Poppler
 * (input-pdf.c) -> layout (engine-text-layout.c) -> QwenVL HTML with
 * data-bbox in the pixel space of the page image a vision model would
 * see, so every engine's boxes agree. Keeps a little per-document memory
 * (font sizes, the lines at the page edges) to tell headings and running
 * heads from text; pages of one document must come through one state. */
#include "config.h"

#include <string.h>

#include "engine-private.h"
#include "engine-text.h"

enum {
    AHEAD = 2,     /* pages read ahead for running heads and font sizes */
    NEAR = 2,      /* pages either side compared for running heads */
    MAX_EDGES = 16 /* edge lines kept per page */
};

typedef struct page_edges {
    vd__tl_edge *e; /* NULL until the page was analysed */
    uint8_t n;
} page_edges;

typedef struct text_state {
    vd_render_opts render;
    /* the document in hand */
    const vd_input *in;
    char *path;
    int npages;
    uint32_t hist[VD__TL_SIZE_BINS]; /* font sizes of the pages analysed */
    page_edges *edges;               /* [npages] */
    vd__pdf_text ahead[AHEAD];       /* pages read before their turn */
    int ahead_no[AHEAD];             /* -1: free */
} text_state;

static void doc_reset(text_state *t)
{
    if (t->edges)
        for (int i = 0; i < t->npages; i++)
            vd__free(t->edges[i].e);
    VD_FREE(t->edges);
    VD_FREE(t->path);
    for (int i = 0; i < AHEAD; i++) {
        vd__pdf_text_free(&t->ahead[i]);
        t->ahead_no[i] = -1;
    }
    memset(t->hist, 0, sizeof t->hist);
    t->in = NULL;
    t->npages = 0;
}

static vd_status text_open(vd_ctx *ctx, const vd_engine_opts *o, void **st)
{
    text_state *t = vd__calloc(ctx, 1, sizeof *t);
    if (!t)
        return VD_ERR_NOMEM;
    t->render = o->render;
    for (int i = 0; i < AHEAD; i++)
        t->ahead_no[i] = -1;
    *st = t;
    return VD_OK;
}

static void text_close(void *st)
{
    text_state *t = st;
    if (!t)
        return;
    doc_reset(t);
    vd__free(t);
}

static int text_accepts(vd_ctx *ctx, void *st, vd_input *in)
{
    (void)st;
    return vd_input_format(in) == VD_FORMAT_PDF && vd_input_has_text(ctx, in);
}

/* Make IN the document in hand (a new input forgets the last one). */
static vd_status doc_select(vd_ctx *ctx, text_state *t, vd_input *in)
{
    const char *path = vd_input_path(in);
    int n = vd_input_page_count(in);
    if (t->in == in && t->npages == n && t->path && path &&
        strcmp(t->path, path) == 0)
        return VD_OK;
    doc_reset(t);
    t->edges = vd__calloc(ctx, (size_t)(n > 0 ? n : 1), sizeof *t->edges);
    t->path = vd__strdup(ctx, path ? path : "");
    if (!t->edges || !t->path) {
        doc_reset(t);
        return VD_ERR_NOMEM;
    }
    t->in = in;
    t->npages = n;
    return VD_OK;
}

/* Count the page's font sizes and keep its edge lines, once. */
static vd_status analyse(vd_ctx *ctx, text_state *t, int page,
                         const vd__pdf_text *txt)
{
    page_edges *pe = &t->edges[page];
    if (pe->e)
        return VD_OK;
    vd__tl_edge tmp[MAX_EDGES];
    size_t n = vd__tl_edges(txt, tmp, MAX_EDGES);
    pe->e = vd__malloc(ctx, (n ? n : 1) * sizeof *pe->e);
    if (!pe->e)
        return VD_ERR_NOMEM;
    memcpy(pe->e, tmp, n * sizeof *tmp);
    pe->n = (uint8_t)n;
    vd__tl_size_hist(txt, t->hist);
    return VD_OK;
}

/* Analyse page Q if it was not, reading it now; pages after CUR are kept
 * for their own turn. Failures here only cost the comparison. */
static void look_at(vd_ctx *ctx, text_state *t, vd_input *in, int q, int cur)
{
    if (q < 0 || q >= t->npages || t->edges[q].e)
        return;
    vd__errsave save;
    vd__err_save(ctx, &save);
    vd__pdf_text txt;
    if (vd__pdf_page_text(ctx, in, q, &txt) == VD_OK) {
        analyse(ctx, t, q, &txt);
        int slot = -1;
        for (int i = 0; i < AHEAD && q > cur; i++)
            if (t->ahead_no[i] < 0 || t->ahead_no[i] <= cur)
                slot = i;
        if (slot >= 0) {
            vd__pdf_text_free(&t->ahead[slot]);
            t->ahead[slot] = txt;
            t->ahead_no[slot] = q;
        } else {
            vd__pdf_text_free(&txt);
        }
    }
    vd__err_restore(ctx, &save);
}

static vd_status page_text(vd_ctx *ctx, text_state *t, vd_input *in, int page,
                           vd__pdf_text *out)
{
    for (int i = 0; i < AHEAD; i++)
        if (t->ahead_no[i] == page) {
            *out = t->ahead[i];
            memset(&t->ahead[i], 0, sizeof t->ahead[i]);
            t->ahead_no[i] = -1;
            return VD_OK;
        }
    return vd__pdf_page_text(ctx, in, page, out);
}

static vd_status text_page(vd_ctx *ctx, void *stv, vd_input *in, int page,
                           vd__page_out *out)
{
    text_state *ts = stv;
    if (vd_input_format(in) != VD_FORMAT_PDF)
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: the text engine reads PDF text layers only",
                        vd_input_path(in));
    vd_status st = doc_select(ctx, ts, in);
    if (st)
        return st;
    vd__pdf_text t;
    st = page_text(ctx, ts, in, page, &t);
    if (st)
        return st;
    /* The page's geometry from its text layer's page size. The engine
     * draws no image, so it skips vd_input_page_info's probes (a text
     * dump for has_text, a pass over the page's images for scans): the
     * page map is the vector page's, and boxes in page coordinates come
     * out the same either way. */
    vd_page_info info;
    memset(&info, 0, sizeof info);
    info.width = t.page_w;
    info.height = t.page_h;
    info.unit = VD_UNIT_PT;
    info.rotate = t.rotate;
    info.has_text = t.nwords > 0;
    vd__page_geom g;
    if (!(t.page_w > 0.5 && t.page_h > 0.5) || t.page_w > 1e6 || t.page_h > 1e6)
        st = vd__fail(ctx, VD_ERR_FORMAT,
                      "%s: page %d: unusable page size %.1f x %.1f pt",
                      vd_input_path(in), page + 1, t.page_w, t.page_h);
    else
        st = vd__page_geometry(ctx, &info, &ts->render, &g);
    if (st) {
        vd__pdf_text_free(&t);
        return st;
    }
    out->map = g.map;
    st = analyse(ctx, ts, page, &t);
    for (int q = page - NEAR; q <= page + AHEAD && st == VD_OK; q++)
        if (q != page)
            look_at(ctx, ts, in, q, page);
    vd__tl_doc d;
    memset(&d, 0, sizeof d);
    vd__tl_doc_sizes(ts->hist, &d);
    vd__tl_edge near[2 * NEAR * MAX_EDGES];
    for (int q = page - NEAR; q <= page + NEAR; q++) {
        if (q == page || q < 0 || q >= ts->npages || !ts->edges[q].e)
            continue;
        d.neighbours++;
        memcpy(near + d.nedges, ts->edges[q].e, ts->edges[q].n * sizeof *near);
        d.nedges += ts->edges[q].n;
    }
    d.edges = near;
    double sx = g.map.model_w / info.width, sy = g.map.model_h / info.height;
    if (st == VD_OK)
        st = vd__tl_page_html(ctx, &t, &d, sx, sy, &out->html);
    vd__pdf_text_free(&t);
    return st;
}

const vd__engine_vt vd__engine_text = {
    .name = "text",
    .open = text_open,
    .accepts = text_accepts,
    .page = text_page,
    .close = text_close,
};

/* Engine "text", layout: Poppler's words -> line segments -> rows, tables,
 * paragraphs, headings and lists -> reading order -> QwenVL HTML. This file
 * runs the stages (engine-text-layout.h) on each writing direction of a
 * page and writes their blocks out; boxes go back from the frame to the
 * visible page. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-text-layout.h"

typedef vd__tl_word tw;
typedef vd__tl_seg seg;
typedef vd__tl_cell cell;
typedef vd__tl_blk blk;
typedef vd__tl_lay lay;

static const char *const cls_name[] = { NULL, "page_header", "page_footer",
                                        "page_number", "footnote" };

/* ---- HTML ---- */

typedef struct emit {
    lay *L;
    vd__buf *h;
    double sx, sy;
} emit;

static void put_bbox(emit *e, float x1, float y1, float x2, float y2)
{
    lay *L = e->L;
    float in[4] = { x1, y1, x2, y2 }, o[4];
    vd__tl_from_frame(L->frame, L->t->page_w, L->t->page_h, in, o);
    double mw = L->t->page_w * e->sx, mh = L->t->page_h * e->sy;
    long a = lrint(floor(o[0] * e->sx)), b = lrint(floor(o[1] * e->sy));
    long c = lrint(ceil(o[2] * e->sx)), d = lrint(ceil(o[3] * e->sy));
    a = a < 0 ? 0 : a, b = b < 0 ? 0 : b;
    c = c > lrint(mw) ? lrint(mw) : c, d = d > lrint(mh) ? lrint(mh) : d;
    if (c < a)
        c = a;
    if (d < b)
        d = b;
    vd__buf_printf(L->ctx, e->h, " data-bbox=\"%ld %ld %ld %ld\"", a, b, c, d);
}

static int ends_hyphen(const tw *w)
{
    if (w->len >= 2 && w->s[w->len - 1] == '-') {
        unsigned char p = (unsigned char)w->s[w->len - 2];
        return (p | 32) >= 'a' && (p | 32) <= 'z';
    }
    /* soft hyphen U+00AD, hyphen U+2010 */
    return (w->len >= 3 && (unsigned char)w->s[w->len - 2] == 0xC2 &&
            (unsigned char)w->s[w->len - 1] == 0xAD) ||
           (w->len >= 4 && (unsigned char)w->s[w->len - 3] == 0xE2 &&
            (unsigned char)w->s[w->len - 2] == 0x80 &&
            (unsigned char)w->s[w->len - 1] == 0x90);
}

/* A word, escaped; two single quotes set as one double quote (‘‘ ’’, as
 * TeX and some fonts draw them) come out as the double quote they show. */
static void put_word(emit *e, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    while (p < end) {
        /* the next U+2018 U+2018 or U+2019 U+2019 */
        const char *q = memchr(p, 0xE2, (size_t)(end - p));
        while (q && !(q + 6 <= end && q[1] == '\x80' &&
                      (q[2] == '\x98' || q[2] == '\x99') && q[3] == '\xE2' &&
                      q[4] == '\x80' && q[5] == q[2]))
            q = memchr(q + 1, 0xE2, (size_t)(end - q - 1));
        if (!q)
            q = end;
        vd__buf_html_escape(e->L->ctx, e->h, p, (size_t)(q - p));
        if (q == end)
            break;
        vd__buf_puts(e->L->ctx, e->h,
                     q[2] == '\x98' ? "\xE2\x80\x9C" : "\xE2\x80\x9D");
        p = q + 6;
    }
}

/* Text of segments FIRST.. (chained by next), lines joined with spaces
 * and words split at a line end re-joined; SKIP drops a list marker. */
static void put_text(emit *e, int first, int skip_marker)
{
    lay *L = e->L;
    int words = 0;
    int glue = 0; /* previous line ended in a hyphen to drop */
    for (int s = first; s >= 0; s = L->s[s].next) {
        const seg *g = &L->s[s];
        int w = g->first;
        if (skip_marker && s == first && g->marker)
            w = L->w[w].next;
        for (; w >= 0; w = L->w[w].next) {
            const tw *x = &L->w[w];
            if (words && !glue)
                vd__buf_putc(L->ctx, e->h, ' ');
            size_t len = x->len;
            glue = x->glue;
            if (L->w[w].next < 0 && L->s[s].next >= 0 && ends_hyphen(x)) {
                const seg *ng = &L->s[L->s[s].next];
                uint32_t c =
                    vd__tl_utf8_first(L->w[ng->first].s, L->w[ng->first].len);
                int soft = x->s[len - 1] != '-' &&
                           (unsigned char)x->s[len - 1] == 0xAD;
                if (soft || (c >= 'a' && c <= 'z') || c >= 0xDF) {
                    glue = 1;
                    len -= x->s[len - 1] == '-' ? 1 : soft ? 2 : 3;
                }
            }
            put_word(e, x->s, len);
            words++;
        }
    }
}

static void emit_block(emit *e, const blk *b)
{
    lay *L = e->L;
    vd__buf *h = e->h;
    vd_ctx *ctx = L->ctx;
    if (b->kind == VD__TL_TABLE) {
        vd__buf_puts(ctx, h, "<table");
        put_bbox(e, b->x1, b->y1, b->x2, b->y2);
        vd__buf_puts(ctx, h, ">");
        int ci = b->cell0, end = b->cell0 + b->ncell;
        for (int r = 0; r < b->nrow; r++) {
            int col = 0;
            if (ci >= end || L->c[ci].row != r)
                continue; /* a row that lost all its cells */
            vd__buf_puts(ctx, h, "<tr>");
            while (ci < end && L->c[ci].row == r) {
                const cell *c = &L->c[ci++];
                for (; col < c->col; col++)
                    vd__buf_puts(ctx, h, "<td></td>");
                float x1 = 1e30f, y1 = 1e30f, x2 = -1e30f, y2 = -1e30f;
                for (int s = c->first; s >= 0; s = L->s[s].next) {
                    x1 = fminf(x1, L->s[s].x1), y1 = fminf(y1, L->s[s].y1);
                    x2 = fmaxf(x2, L->s[s].x2), y2 = fmaxf(y2, L->s[s].y2);
                }
                vd__buf_puts(ctx, h, c->head ? "<th" : "<td");
                if (c->span > 1)
                    vd__buf_printf(ctx, h, " colspan=\"%d\"", c->span);
                put_bbox(e, x1, y1, x2, y2);
                vd__buf_puts(ctx, h, ">");
                put_text(e, c->first, 0);
                vd__buf_puts(ctx, h, c->head ? "</th>" : "</td>");
                if (c->col + c->span > col)
                    col = c->col + c->span;
            }
            for (; col < b->ncol; col++)
                vd__buf_puts(ctx, h, "<td></td>");
            vd__buf_puts(ctx, h, "</tr>");
        }
        vd__buf_puts(ctx, h, "</table>\n");
        return;
    }
    char tag[4] = "p";
    if (b->kind == VD__TL_HEAD)
        tag[0] = 'h', tag[1] = (char)('0' + b->level), tag[2] = 0;
    vd__buf_printf(ctx, h, "<%s", tag);
    if (b->cls)
        vd__buf_printf(ctx, h, " class=\"%s\"", cls_name[b->cls]);
    put_bbox(e, b->x1, b->y1, b->x2, b->y2);
    vd__buf_puts(ctx, h, ">");
    put_text(e, b->first, 0);
    vd__buf_printf(ctx, h, "</%s>\n", tag);
}

/* List items in a row of the reading order, same kind and indent, as one
 * list. Returns how many items it took. */
static int emit_list(emit *e, const int *order, int n)
{
    lay *L = e->L;
    const blk *b0 = &L->b[order[0]];
    int k = 1;
    float x1 = b0->x1, y1 = b0->y1, x2 = b0->x2, y2 = b0->y2;
    while (k < n) {
        const blk *b = &L->b[order[k]];
        if (b->kind != VD__TL_ITEM || b->ordered != b0->ordered ||
            fabsf(L->s[b->first].x1 - L->s[b0->first].x1) > b0->size * 1.5f)
            break;
        x1 = fminf(x1, b->x1), y1 = fminf(y1, b->y1);
        x2 = fmaxf(x2, b->x2), y2 = fmaxf(y2, b->y2);
        k++;
    }
    vd__buf_puts(L->ctx, e->h, b0->ordered ? "<ol" : "<ul");
    put_bbox(e, x1, y1, x2, y2);
    vd__buf_puts(L->ctx, e->h, ">\n");
    for (int i = 0; i < k; i++) {
        const blk *b = &L->b[order[i]];
        vd__buf_puts(L->ctx, e->h, "<li");
        put_bbox(e, b->x1, b->y1, b->x2, b->y2);
        vd__buf_puts(L->ctx, e->h, ">");
        put_text(e, b->first, 1);
        vd__buf_puts(L->ctx, e->h, "</li>\n");
    }
    vd__buf_puts(L->ctx, e->h, b0->ordered ? "</ol>\n" : "</ul>\n");
    return k;
}

/* Lay out the words of direction F and append their HTML. MAIN: the
 * page's main direction (furniture is looked for only there). */
static float blk_vc(const blk *b)
{
    return (b->y1 + b->y2) / 2;
}

/* Lay out the words of direction F & 3 in frame F and append their HTML.
 * MAIN: this is the page's main direction (furniture is looked for only
 * there). */
static vd_status layout_frame(vd_ctx *ctx, const vd__pdf_text *t,
                              const uint8_t *dir, int f, int main,
                              const vd__tl_doc *d, emit *e)
{
    lay L;
    int *order = NULL;
    vd_status st = vd__tl_lay_init(&L, ctx, t, dir, f);
    /* body size: the document's, else this page's */
    L.body = d && d->body_size > 0 ? d->body_size : 0;
    if (st == VD_OK && L.body <= 0 && L.ns > 0) {
        uint32_t *hist = vd__calloc(ctx, VD__TL_SIZE_BINS, sizeof *hist);
        if (!hist) {
            st = VD_ERR_NOMEM;
        } else {
            vd__tl_size_hist(t, hist);
            vd__tl_doc tmp;
            memset(&tmp, 0, sizeof tmp);
            vd__tl_doc_sizes(hist, &tmp);
            L.body = tmp.body_size;
            vd__free(hist);
        }
    }
    if (st == VD_OK && L.ns > 0) {
        if (main)
            vd__tl_furniture(&L, d);
        else
            vd__tl_margin_stamps(&L);
        st = vd__tl_tables(&L);
    }
    if (st == VD_OK && L.ns > 0)
        st = vd__tl_blocks(&L);
    if (st == VD_OK && L.ns > 0) {
        vd__tl_classify(&L, d);
        if (main)
            vd__tl_footnotes(&L);
        /* furniture segments become blocks of their own */
        for (int i = 0; i < L.ns && st == VD_OK; i++) {
            seg *g = &L.s[i];
            if (g->dead || !g->cls || g->blk >= 0)
                continue;
            blk *b = vd__tl_new_blk(&L, VD__TL_FURN);
            if (!b) {
                st = VD_ERR_NOMEM;
                break;
            }
            b->cls = g->cls;
            vd__tl_blk_add(&L, b, i);
        }
    }
    int n = 0;
    if (st == VD_OK && L.nb > 0) {
        order = vd__malloc(ctx, (size_t)L.nb * sizeof *order);
        if (!order)
            st = VD_ERR_NOMEM;
        else
            st = vd__tl_order(&L, order, &n);
    }
    /* the furniture after the text's order, top to bottom and along
     * each line */
    int nf = n;
    for (int i = 0; st == VD_OK && i < L.nb; i++) {
        if (L.b[i].kind != VD__TL_FURN)
            continue;
        int k = nf++;
        const blk *b = &L.b[i];
        for (; k > n; k--) {
            const blk *o = &L.b[order[k - 1]];
            float dy = blk_vc(o) - blk_vc(b);
            int after =
                fabsf(dy) < 0.5f * (b->y2 - b->y1) ? o->x1 > b->x1 : dy > 0;
            if (!after)
                break;
            order[k] = order[k - 1];
        }
        order[k] = i;
    }
    if (st == VD_OK) {
        /* the frame's own emitter: L lives only here */
        emit fe = *e;
        fe.L = &L;
        /* headers, then the text in reading order, then footnotes,
         * footers and page numbers */
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 1) {
                for (int i = 0; i < n;) {
                    const blk *b = &L.b[order[i]];
                    if (b->kind == VD__TL_ITEM)
                        i += emit_list(&fe, order + i, n - i);
                    else
                        emit_block(&fe, &L.b[order[i++]]);
                }
                continue;
            }
            for (int i = n; i < nf; i++) {
                const blk *b = &L.b[order[i]];
                int head =
                    b->cls == VD__TL_HEADER ||
                    (b->cls == VD__TL_PAGENUM && b->y1 < 0.5f * (float)L.fh);
                if ((pass == 0) == head)
                    emit_block(&fe, b);
            }
        }
        st = e->h->err;
    }
    vd__free(order);
    vd__tl_lay_free(&L);
    return st;
}

vd_status vd__tl_page_html(vd_ctx *ctx, const vd__pdf_text *t,
                           const vd__tl_doc *d, double sx, double sy,
                           vd__buf *html)
{
    uint8_t *dir = NULL;
    int counts[4];
    vd_status st = vd__tl_dirs(ctx, t, &dir, counts);
    if (st) {
        vd__free(dir);
        return st;
    }
    int main_dir = 0;
    for (int f = 1; f < 4; f++)
        if (counts[f] > counts[main_dir])
            main_dir = f;
    emit e = { NULL, html, sx, sy };
    vd__buf_puts(ctx, html, "<html><body>\n");
    /* the main direction first, then text set the other ways (margin
     * stamps, rotated table heads) in its own frame */
    for (int k = 0; k < 4 && st == VD_OK; k++) {
        int f = (main_dir + k) & 3;
        if (counts[f] > 0)
            st = layout_frame(
                ctx, t, dir,
                f | (vd__tl_rtl_frame(t, dir, f) ? VD__TL_MIRROR : 0),
                f == main_dir, d, &e);
    }
    vd__buf_puts(ctx, html, "</body></html>\n");
    vd__free(dir);
    return st ? st : html->err;
}

/* Engine "text", layout stage 3: document font statistics (body and
 * heading sizes), the edge lines pages share, and running heads, footers,
 * page numbers and footnotes marked among a page's segments. */
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

/* ---- document statistics ---- */

static int size_bin(float size)
{
    int b = (int)lrintf(size * 2);
    return b < 0 ? 0 : b >= VD__TL_SIZE_BINS ? VD__TL_SIZE_BINS - 1 : b;
}

void vd__tl_size_hist(const vd__pdf_text *t, uint32_t *hist)
{
    for (size_t i = 0; i < t->nwords; i++)
        if (t->words[i].size > 0)
            hist[size_bin(t->words[i].size)] += t->words[i].len;
}

void vd__tl_doc_sizes(const uint32_t *hist, vd__tl_doc *d)
{
    int best = 0;
    uint64_t total = 0;
    for (int i = 1; i < VD__TL_SIZE_BINS; i++) {
        total += hist[i];
        if (hist[i] > hist[best])
            best = i;
    }
    d->body_size = hist[best] ? best / 2.0f : 0;
    d->nhead = 0;
    if (!d->body_size)
        return;
    /* heading sizes: clearly larger than the body, used by a handful of
     * characters at least (not one decorative initial), largest first */
    int lo = size_bin(d->body_size * 1.15f);
    for (int i = VD__TL_SIZE_BINS - 1; i >= lo && d->nhead < 3; i--) {
        if (hist[i] < 4)
            continue;
        if (d->nhead > 0 && d->head_sizes[d->nhead - 1] - i / 2.0f < 0.6f)
            continue;
        d->head_sizes[d->nhead++] = i / 2.0f;
    }
    (void)total;
}

/* ---- furniture: running heads, page numbers ---- */

static uint32_t edge_hash(const lay *L, const seg *g)
{
    uint32_t h = 2166136261u;
    for (int i = g->first; i >= 0; i = L->w[i].next) {
        const tw *w = &L->w[i];
        for (uint32_t k = 0; k < w->len; k++) {
            unsigned char c = (unsigned char)w->s[k];
            if (c >= '0' && c <= '9')
                continue; /* page numbers and dates change */
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c - 'A' + 'a');
            h = (h ^ c) * 16777619u;
        }
        h = (h ^ ' ') * 16777619u;
    }
    return h;
}

/* Does the segment read like a page number: "3", "- 3 -", "Page 3 of 10",
 * "3/10", "iv"? */
static int page_number_text(const lay *L, const seg *g)
{
    char buf[64];
    size_t n = 0;
    for (int i = g->first; i >= 0 && n < sizeof buf - 2; i = L->w[i].next) {
        const tw *w = &L->w[i];
        if (n)
            buf[n++] = ' ';
        for (uint32_t k = 0; k < w->len && n < sizeof buf - 2; k++)
            buf[n++] = w->s[k];
    }
    buf[n] = '\0';
    if (g->nbytes > 40)
        return 0;
    char *p = buf;
    while (*p == ' ' || *p == '-' || (unsigned char)*p == 0xE2)
        p += (unsigned char)*p == 0xE2 ? 3 : 1; /* "- 3 -", "– 3 –" */
    static const char *const words[] = { "page ",   "p. ",     "seite ",
                                         "pagina ", "página ", "pag. ",
                                         "s. " };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strncasecmp(p, words[i], strlen(words[i])) == 0) {
            p += strlen(words[i]);
            break;
        }
    char *q = p;
    while (*q >= '0' && *q <= '9')
        q++;
    if (q == p) {
        while (*q && strchr("ivxlcdmIVXLCDM", *q))
            q++;
        if (q == p || q - p > 6)
            return 0;
    }
    while (*q == ' ')
        q++;
    if (strncasecmp(q, "of ", 3) == 0 || *q == '/' ||
        strncasecmp(q, "von ", 4) == 0 || strncasecmp(q, "de ", 3) == 0) {
        q += *q == '/' ? 1 : strncasecmp(q, "von ", 4) == 0 ? 4 : 3;
        while (*q == ' ')
            q++;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    while (*q == ' ' || *q == '-' || (unsigned char)*q == 0xE2)
        q += (unsigned char)*q == 0xE2 ? 3 : 1;
    return *q == '\0';
}

#define EDGE_BAND 0.085f /* top and bottom 8.5% of the page */

size_t vd__tl_edges(const vd__pdf_text *t, vd__tl_edge *out, size_t max)
{
    /* no ctx: this only feeds a cache; out of memory gives no edges */
    lay L;
    memset(&L, 0, sizeof L);
    uint8_t *dir = NULL, *sub_dir = NULL;
    vd__pdf_word *sub = NULL;
    int counts[4];
    size_t n = 0;
    if (vd__tl_dirs(NULL, t, &dir, counts) != VD_OK)
        goto out;
    int f = 0;
    for (int d = 1; d < 4; d++)
        if (counts[d] > counts[f])
            f = d;
    if (vd__tl_rtl_frame(t, dir, f))
        f |= VD__TL_MIRROR;
    /* only the words in the bands need laying out: every page is laid
     * out once more for its own turn */
    sub = vd__malloc(NULL, (t->nwords + 1) * sizeof *sub);
    sub_dir = vd__malloc(NULL, t->nwords + 1);
    if (!sub || !sub_dir)
        goto out;
    double fh = (f & 1) ? t->page_w : t->page_h;
    vd__pdf_text band = *t;
    band.words = sub;
    band.nwords = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        const vd__pdf_word *w = &t->words[i];
        float box[4] = { w->x1, w->y1, w->x2, w->y2 }, fb[4];
        vd__tl_to_frame(f, t->page_w, t->page_h, box, fb);
        int keep = dir[i] == (f & 3) &&
                   (fb[3] <= EDGE_BAND * fh || fb[1] >= (1 - EDGE_BAND) * fh);
        if (!keep) {
            /* a line cut short ends where its kept words end */
            if (band.nwords > 0)
                sub[band.nwords - 1].line_end = 1;
            continue;
        }
        sub_dir[band.nwords] = dir[i];
        sub[band.nwords++] = *w;
    }
    if (vd__tl_lay_init(&L, NULL, &band, sub_dir, f) == VD_OK) {
        for (int i = 0; i < L.ns && n < max; i++) {
            const seg *g = &L.s[i];
            float top = g->y1 / (float)L.fh, bot = g->y2 / (float)L.fh;
            if (g->dead || (bot > EDGE_BAND && top < 1 - EDGE_BAND))
                continue;
            out[n].hash = edge_hash(&L, g);
            out[n].vc = (top + bot) / 2;
            out[n].bottom = top >= 1 - EDGE_BAND;
            n++;
        }
    }
out:
    vd__free(dir);
    vd__free(sub);
    vd__free(sub_dir);
    vd__tl_lay_free(&L);
    return n;
}

/* Mark headers, footers and page numbers among the segments. */
void vd__tl_furniture(lay *L, const vd__tl_doc *d)
{
    const int *rs = L->rs;
    int nr = L->nr;
    float H = (float)L->fh;
    float body = L->body;
    for (int r = 0; r < nr; r++) {
        for (int k = rs[r]; k < rs[r + 1]; k++) {
            seg *g = &L->s[L->rows[k]];
            float top = g->y1 / H, bot = g->y2 / H;
            int in_top = bot <= EDGE_BAND, in_bot = top >= 1 - EDGE_BAND;
            if (!in_top && !in_bot) {
                /* page numbers sit further in on pages with wide margins:
                 * the outermost line, within a fifth of the edge */
                if ((bot <= 0.2f && r == 0) || (top >= 0.8f && r == nr - 1))
                    if (page_number_text(L, g))
                        g->cls = VD__TL_PAGENUM;
                continue;
            }
            if (page_number_text(L, g)) {
                g->cls = VD__TL_PAGENUM;
                continue;
            }
            int hit = 0;
            if (d && d->neighbours) {
                uint32_t h = edge_hash(L, g);
                float vc = (top + bot) / 2;
                for (size_t e = 0; e < d->nedges && !hit; e++)
                    hit = d->edges[e].hash == h &&
                          d->edges[e].bottom == in_bot &&
                          fabsf(d->edges[e].vc - vc) < 0.03f;
            } else {
                /* a page on its own: small print at the very edge, set
                 * apart from the text by a clear gap */
                float gap = 1e9f;
                for (int i = 0; i < L->ns; i++) {
                    const seg *o = &L->s[i];
                    if (o->dead || o == g || o->cls)
                        continue;
                    float dv = in_top ? o->y1 - g->y2 : g->y1 - o->y2;
                    if (dv > -0.5f * (g->y2 - g->y1) && dv < gap &&
                        !((in_top && o->y2 / H <= EDGE_BAND) ||
                          (in_bot && o->y1 / H >= 1 - EDGE_BAND)))
                        gap = dv;
                }
                hit = g->size <= body * 1.05f + 0.1f &&
                      gap > 1.2f * (g->y2 - g->y1);
            }
            if (hit)
                g->cls = in_top ? VD__TL_HEADER : VD__TL_FOOTER;
        }
    }
}

void vd__tl_footnotes(lay *L)
{
    float body = L->body;
    if (body <= 0)
        return;
    for (int i = 0; i < L->nb; i++) {
        blk *b = &L->b[i];
        if (b->kind != VD__TL_PARA || b->size > body * 0.88f ||
            b->y1 < 0.55f * (float)L->fh)
            continue;
        const tw *w = &L->w[L->s[b->first].first];
        uint32_t c = vd__tl_utf8_first(w->s, w->len);
        int mark = (c >= '0' && c <= '9') || c == '*' || c == 0x2020 ||
                   c == 0x2021 || c == 0xA7 || c == 0xB9 || c == 0xB2 ||
                   c == 0xB3 || (c >= 0x2070 && c <= 0x2079);
        if (!mark)
            continue;
        int below = 0;
        for (int j = 0; j < L->nb && !below; j++) {
            const blk *o = &L->b[j];
            below = j != i && o->kind != VD__TL_FURN && o->y1 > b->y2 &&
                    o->size > body * 0.95f && o->x2 > b->x1 && o->x1 < b->x2;
        }
        if (!below) {
            b->kind = VD__TL_FURN;
            b->cls = VD__TL_FOOTNOTE;
        }
    }
}

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

/* Append the words of segment G to BUF (N used, CAP size), letter-spaced
 * words closed up ("P a g e" -> "Page") and "|" read as a space. */
static size_t put_words(const lay *L, const seg *g, char *buf, size_t n,
                        size_t cap)
{
    int prev_single = 0;
    for (int i = g->first; i >= 0 && n < cap - 2; i = L->w[i].next) {
        const tw *w = &L->w[i];
        int single =
            w->len == 1 && (w->s[0] | 32) >= 'a' && (w->s[0] | 32) <= 'z';
        if (n && !(single && prev_single))
            buf[n++] = ' ';
        for (uint32_t k = 0; k < w->len && n < cap - 2; k++)
            buf[n++] = w->s[k] == '|' ? ' ' : w->s[k];
        prev_single = single;
    }
    buf[n] = '\0';
    return n;
}

/* Does BUF read like a page number: "3", "- 3 -", "7-45", "Page 3 of
 * 10", "P a g e | 23", "Seite 2 von 4", "Page 1 sur 1", "3/10", "iv"? 2
 * when it says so in words ("Page", "of"), 1 for a bare number, 0 when
 * not. */
static int page_number_str(const char *buf)
{
    const char *p = buf;
    while (*p == ' ' || *p == '-' || (unsigned char)*p == 0xE2)
        p += (unsigned char)*p == 0xE2 ? 3 : 1; /* "- 3 -", "– 3 –" */
    static const char *const words[] = { "page ",   "p. ",     "seite ",
                                         "pagina ", "página ", "pag. ",
                                         "s. ",     "pg. ",    "pp. " };
    int said = 0;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strncasecmp(p, words[i], strlen(words[i])) == 0) {
            p += strlen(words[i]);
            said = 1;
            break;
        }
    while (*p == ' ')
        p++;
    const char *q = p;
    while (*q >= '0' && *q <= '9')
        q++;
    if (q == p) {
        while (*q && strchr("ivxlcdmIVXLCDM", *q))
            q++;
        if (q == p || q - p > 6)
            return 0;
    } else if (*q == '-' && q[1] >= '0' && q[1] <= '9' && q - p <= 2) {
        /* chapter and page: "7-45" */
        q++;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    while (*q == ' ')
        q++;
    static const char *const of[] = { "of ", "von ", "de ", "sur ",
                                      "di ", "van ", "/" };
    for (size_t i = 0; i < sizeof of / sizeof *of; i++)
        if (strncasecmp(q, of[i], strlen(of[i])) == 0) {
            q += strlen(of[i]);
            while (*q == ' ')
                q++;
            while (*q >= '0' && *q <= '9')
                q++;
            said = 1;
            break;
        }
    while (*q == ' ' || *q == '-' || (unsigned char)*q == 0xE2)
        q += (unsigned char)*q == 0xE2 ? 3 : 1;
    return *q == '\0' ? 1 + said : 0;
}

static int page_number_text(const lay *L, const seg *g)
{
    char buf[64];
    if (g->nbytes > 40)
        return 0;
    put_words(L, g, buf, 0, sizeof buf);
    return page_number_str(buf);
}

int vd__tl_page_number(const lay *L, const seg *g)
{
    return page_number_text(L, g);
}

/* The same for the live segments of row R taken together ("Página" "1
 * de" "9" set as three pieces). */
static int page_number_row(const lay *L, int r)
{
    char buf[64];
    size_t n = 0;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
        const seg *g = &L->s[L->rows[k]];
        if (g->dead)
            continue;
        if (g->nbytes + n > 40)
            return 0;
        n = put_words(L, g, buf, n, sizeof buf);
    }
    return n ? page_number_str(buf) : 0;
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
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Where row R's line sits: the median top and bottom of its words (a
 * stray tall glyph in a scan's text layer does not move it), 0 when it
 * has no text worth the name (rules, dashes: skipped at the edge). */
static int row_box(const lay *L, int r, float *top, float *bot, float *h)
{
    float t[64], b[64];
    int n = 0, alnum = 0;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
        const seg *g = &L->s[L->rows[k]];
        if (g->dead)
            continue;
        for (int w = g->first; w >= 0 && n < 64; w = L->w[w].next) {
            const tw *x = &L->w[w];
            t[n] = x->y1, b[n++] = x->y2;
            for (uint32_t i = 0; i < x->len && !alnum; i++) {
                unsigned char c = (unsigned char)x->s[i];
                uint32_t u =
                    c >= 0xC0 ? vd__tl_utf8_first(x->s + i, x->len - i) : c;
                /* letters and digits; not dashes, rules and symbols
                 * (U+2000..U+2BFF) */
                alnum = (u >= '0' && u <= '9') ||
                        (unsigned)((u | 32) - 'a') < 26u ||
                        (u >= 0xC0 && !(u >= 0x2000 && u <= 0x2BFF));
            }
        }
    }
    if (!n || !alnum)
        return 0;
    *top = vd__tl_median(t, n), *bot = vd__tl_median(b, n);
    *h = *bot - *top;
    return *bot > *top;
}

/* Does segment G start like a caption: a label word and a number
 * ("Figure 7-26.", "Fig. 3", "Table 2:", "Abbildung 4")? */
static int caption(const lay *L, const seg *g)
{
    static const char *const labels[] = {
        "figure", "fig.",    "fig",       "table",        "tab.",    "chart",
        "plate",  "exhibit", "abbildung", "abb.",         "tabelle", "tableau",
        "figura", "tabla",   "tabela",    "illustration", "photo"
    };
    const tw *w = &L->w[g->first];
    if (w->next < 0 || w->len > 12)
        return 0;
    const tw *n = &L->w[w->next];
    if (!n->len || n->s[0] < '0' || n->s[0] > '9')
        return 0;
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
        if (strlen(labels[i]) == w->len &&
            strncasecmp(w->s, labels[i], w->len) == 0)
            return 1;
    return 0;
}

#define OUTER_BAND 0.12f /* running heads set apart sit this far out */

/* Do row R's segments line up with row Q's like a table's head with its
 * rows: two or more of its cells sharing an edge with Q's, one of them
 * inside the row (the margins of justified text line up anyway)? */
static int aligned_with(const lay *L, int r, int q)
{
    int n = 0, inner = 0, i = 0, cnt = 0;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++)
        cnt += !L->s[L->rows[k]].dead;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
        const seg *g = &L->s[L->rows[k]];
        if (g->dead)
            continue;
        float tol = 0.5f * fmaxf(g->size, 1);
        int hit = 0;
        for (int m = L->rs[q]; m < L->rs[q + 1] && !hit; m++) {
            const seg *o = &L->s[L->rows[m]];
            hit = !o->dead &&
                  (fabsf(o->x1 - g->x1) < tol || fabsf(o->x2 - g->x2) < tol);
        }
        n += hit;
        inner |= hit && i > 0 && i < cnt - 1;
        i++;
    }
    return n >= 2 && inner;
}

/* The rows at one edge of the page (TOP, else the bottom) that stand
 * apart from the text: a tight group of lines in the outer band, set off
 * from the text by a gap clearly wider than the page's line spacing (or,
 * in small print, by more than a line), in small print or holding a page
 * number ("400  BRITISH HUSBANDRY.  [Ch. XIX."), is a running head or
 * foot; the group after it may be too (a journal line over a section
 * line). With pages on either side, whose repeating lines are known,
 * only groups holding a page number are taken this way. Captions under a
 * figure, footnotes and the head row of a table are not furniture. Page
 * numbers: any on the outermost line within a fifth of the edge, and an
 * outermost line that is only a page number and set apart, anywhere in
 * its half of the page (a short page). */
static void outer_rows(lay *L, const vd__tl_doc *d, float med, int top)
{
    float H = (float)L->fh, body = L->body > 0 ? L->body : 10;
    float big = fmaxf(1.5f * med, 0.6f * body);
    int nr = L->nr, step = top ? 1 : -1;
    int r = top ? 0 : nr - 1;
    float t, b, h, t2, b2, h2;
    while (r >= 0 && r < nr && !row_box(L, r, &t, &b, &h))
        r += step;
    if (r < 0 || r >= nr)
        return;
    {
        int only = 1, any = 0;
        int near = top ? b <= 0.2f * H : t >= 0.8f * H;
        for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
            seg *g = &L->s[L->rows[k]];
            if (g->dead)
                continue;
            any = 1;
            int pn = g->cls == VD__TL_PAGENUM || page_number_text(L, g);
            only &= pn;
            if (pn && near)
                g->cls = VD__TL_PAGENUM;
        }
        int q = r + step;
        while (q >= 0 && q < nr && !row_box(L, q, &t2, &b2, &h2))
            q += step;
        float gap = q < 0 || q >= nr ? 1e30f : top ? t2 - b : t - b2;
        if (any && only && gap > big && (top ? b < 0.5f * H : t > 0.5f * H))
            for (int k = L->rs[r]; k < L->rs[r + 1]; k++)
                if (!L->s[L->rows[k]].dead)
                    L->s[L->rows[k]].cls = VD__TL_PAGENUM;
    }
    for (int groups = 0; groups < 2; groups++) {
        /* a tight group of rows from R inwards */
        int q = r, last = r, pagenum = 0, small = 1, tiny = 1, rows = 0;
        float gt = 1e30f, gb = -1e30f, gh = 0;
        for (;;) {
            if (q < 0 || q >= nr)
                return;
            if (!row_box(L, q, &t, &b, &h)) {
                q += step;
                continue;
            }
            if (rows) {
                float gap = top ? t - gb : gt - b;
                if (gap > big ||
                    (tiny && gap > 1.2f * gh && gap >= med && gap > 0))
                    break; /* the group ends before this row */
            }
            float band = pagenum ? 0.2f : OUTER_BAND;
            if ((top ? b > band * H : t < (1 - band) * H) || ++rows > 5)
                return;
            gt = fminf(gt, t), gb = fmaxf(gb, b), gh = fmaxf(gh, h);
            for (int k = L->rs[q]; k < L->rs[q + 1]; k++) {
                const seg *g = &L->s[L->rows[k]];
                if (g->dead)
                    continue;
                /* a page number: at an end of the outermost line, in
                 * figures or small roman numerals ("X" in a table is a
                 * mark) */
                int pn = page_number_text(L, g);
                if (page_number_row(L, q) == 2) {
                    pagenum = 1;
                    for (int m = L->rs[q]; m < L->rs[q + 1]; m++)
                        L->s[L->rows[m]].cls = VD__TL_PAGENUM;
                }
                if (k == L->rs[q] || k == L->rs[q + 1] - 1)
                    pagenum |=
                        pn == 2 ||
                        (q == r && (g->cls == VD__TL_PAGENUM ||
                                    (pn && !(L->w[g->last].s[0] >= 'A' &&
                                             L->w[g->last].s[0] <= 'Z'))));
                small &= g->cls || g->size <= body * 0.95f + 0.1f;
                tiny &= g->cls || g->size <= body * 0.9f;
            }
            last = q;
            q += step;
        }
        /* q: the first row past the gap */
        if (!(pagenum || (small && !(d && d->neighbours))))
            return;
        if (!pagenum) {
            const seg *g = NULL;
            for (int k = L->rs[r]; k < L->rs[r + 1] && !g; k++)
                if (!L->s[L->rows[k]].dead)
                    g = &L->s[L->rows[k]];
            if (!g || caption(L, g) || (top && aligned_with(L, last, q)))
                return;
            const tw *w0 = &L->w[g->first];
            uint32_t c = vd__tl_utf8_first(w0->s, w0->len);
            int digits = 1;
            for (uint32_t i = 0; i < w0->len; i++)
                digits &= w0->s[i] >= '0' && w0->s[i] <= '9';
            if (!top && (c == '*' || c == 0x2020 || c == 0x2021 || c == 0xA7 ||
                         c == 0xB9 || c == 0xB2 || c == 0xB3 ||
                         (c >= 0x2070 && c <= 0x2079) ||
                         (digits && w0->len <= 3 && g->nw > 1)))
                return;
        }
        for (int x = r; x != last + step; x += step)
            for (int k = L->rs[x]; k < L->rs[x + 1]; k++) {
                seg *g = &L->s[L->rows[k]];
                if (g->dead || g->cls)
                    continue;
                g->cls = page_number_text(L, g) ? VD__TL_PAGENUM
                         : top                  ? VD__TL_HEADER
                                                : VD__TL_FOOTER;
            }
        r = q;
    }
}

void vd__tl_margin_stamps(lay *L)
{
    /* text set another way than the page's, in a band along its edge:
     * a stamp in the margin ("Downloaded from ... on ...", an arXiv id),
     * furniture like a running head */
    float H = (float)L->fh;
    for (int i = 0; i < L->ns; i++) {
        seg *g = &L->s[i];
        if (!g->dead && !g->cls &&
            (g->y2 <= EDGE_BAND * H || g->y1 >= (1 - EDGE_BAND) * H))
            g->cls = page_number_text(L, g) ? VD__TL_PAGENUM : VD__TL_HEADER;
    }
}

void vd__tl_furniture(lay *L, const vd__tl_doc *d)
{
    const int *rs = L->rs;
    int nr = L->nr;
    float H = (float)L->fh;
    /* lines the neighbouring pages repeat at the same height, and page
     * numbers, in the edge bands */
    for (int r = 0; r < nr; r++) {
        for (int k = rs[r]; k < rs[r + 1]; k++) {
            seg *g = &L->s[L->rows[k]];
            float top = g->y1 / H, bot = g->y2 / H;
            int in_top = bot <= EDGE_BAND, in_bot = top >= 1 - EDGE_BAND;
            if (g->dead || (!in_top && !in_bot))
                continue;
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
            }
            if (hit)
                g->cls = in_top ? VD__TL_HEADER : VD__TL_FOOTER;
        }
    }
    /* the page's line spacing: the median gap between rows */
    if (nr < 2)
        return;
    float *gaps = vd__malloc(NULL, (size_t)nr * sizeof *gaps);
    if (!gaps)
        return; /* furniture is a refinement; the text stays */
    int ng = 0, have = 0;
    float pb = 0, t, b, h;
    for (int r = 0; r < nr; r++) {
        if (!row_box(L, r, &t, &b, &h))
            continue;
        if (have && t - pb > -0.5f * h)
            gaps[ng++] = t - pb;
        pb = b, have = 1;
    }
    float med = 0;
    if (ng >= 3) { /* fewer gaps tell nothing about the spacing */
        qsort(gaps, (size_t)ng, sizeof *gaps, cmp_float);
        med = gaps[ng / 2];
    }
    vd__free(gaps);
    outer_rows(L, d, fmaxf(med, 0), 1);
    outer_rows(L, d, fmaxf(med, 0), 0);
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

/* Engine "text", layout: Poppler's words -> line segments -> rows, tables,
 * paragraphs, headings and lists -> reading order -> QwenVL HTML. Works
 * in the frame of the page's main writing direction, so pages turned by
 * /Rotate or drawn sideways read like upright ones; boxes go back to the
 * visible page for output. Never allocates per word beyond a few arrays. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-text.h"

enum { CLS_NONE, CLS_HEADER, CLS_FOOTER, CLS_PAGENUM, CLS_FOOTNOTE };
static const char *const cls_name[] = { NULL, "page_header", "page_footer",
                                        "page_number", "footnote" };

enum { B_PARA, B_HEAD, B_ITEM, B_TABLE, B_FURN };

typedef struct tw { /* a word in the frame of its writing direction */
    float x1, y1, x2, y2;
    float size;
    const char *s;
    uint32_t len;
    uint8_t flags, line_end;
    int next; /* next word of its segment, -1 */
} tw;

typedef struct seg { /* words on one baseline with no wide gap */
    float x1, y1, x2, y2;
    float size;
    int first, last, nw;
    int nbytes;
    uint8_t bold, rtl, numeric, marker; /* marker: 1 bullet, 2 number */
    uint8_t cls;
    uint8_t dead; /* merged into another */
    float text_x; /* where the text after a list marker starts */
    int row;
    int blk;
    int next; /* next segment of its block or table cell, -1 */
} seg;

typedef struct cell {
    int row, col, span;
    int first, last; /* segments */
} cell;

typedef struct blk {
    int kind, cls, level, ordered;
    float x1, y1, x2, y2;
    float size;
    int first, last, nlines;
    float pitch, body_x, right; /* paragraph shape so far */
    int justified;
    uint8_t bold;
    int cell0, ncell, nrow, ncol; /* B_TABLE: cells[cell0 .. +ncell) */
    int done;                     /* placed in reading order */
} blk;

typedef struct lay {
    vd_ctx *ctx;
    const vd__pdf_text *t;
    int frame;     /* quarter turns of the main writing direction */
    double fw, fh; /* frame size in points */
    tw *w;
    int nw;
    seg *s;
    int ns;
    int *rows; /* segment indexes sorted by row */
    blk *b;
    int nb, capb;
    cell *c;
    int nc, capc;
    float body;
} lay;

/* ---- frames ---- */

static void to_frame(int f, double W, double H, const float *in, float *o)
{
    float x1 = in[0], y1 = in[1], x2 = in[2], y2 = in[3];
    switch (f & 3) {
    case 0:
        o[0] = x1, o[1] = y1, o[2] = x2, o[3] = y2;
        break;
    case 1: /* runs down: along = y, lines stack right to left */
        o[0] = y1, o[2] = y2, o[1] = (float)W - x2, o[3] = (float)W - x1;
        break;
    case 2:
        o[0] = (float)W - x2, o[2] = (float)W - x1;
        o[1] = (float)H - y2, o[3] = (float)H - y1;
        break;
    default: /* runs up */
        o[0] = (float)H - y2, o[2] = (float)H - y1, o[1] = x1, o[3] = x2;
        break;
    }
}

static void from_frame(int f, double W, double H, const float *in, float *o)
{
    float u1 = in[0], v1 = in[1], u2 = in[2], v2 = in[3];
    switch (f & 3) {
    case 0:
        o[0] = u1, o[1] = v1, o[2] = u2, o[3] = v2;
        break;
    case 1:
        o[0] = (float)W - v2, o[2] = (float)W - v1, o[1] = u1, o[3] = u2;
        break;
    case 2:
        o[0] = (float)W - u2, o[2] = (float)W - u1;
        o[1] = (float)H - v2, o[3] = (float)H - v1;
        break;
    default:
        o[0] = v1, o[2] = v2, o[1] = (float)H - u2, o[3] = (float)H - u1;
        break;
    }
}

/* Words whose direction Poppler's glyph order left open (one glyph) take
 * the direction of their line's other words. Returns per-word dirs. */
static void resolve_dirs(const vd__pdf_text *t, uint8_t *dir)
{
    size_t i = 0;
    while (i < t->nwords) {
        size_t j = i;
        int cnt[4] = { 0, 0, 0, 0 };
        for (;;) {
            if (t->words[j].dir < 4)
                cnt[t->words[j].dir] += (int)t->words[j].len;
            if (t->words[j].line_end || j + 1 == t->nwords)
                break;
            j++;
        }
        int best = 0;
        for (int d = 1; d < 4; d++)
            if (cnt[d] > cnt[best])
                best = d;
        for (size_t k = i; k <= j; k++)
            dir[k] = t->words[k].dir < 4 ? t->words[k].dir : (uint8_t)best;
        i = j + 1;
    }
}

/* ---- small text helpers ---- */

static uint32_t utf8_first(const char *s, uint32_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (!len)
        return 0;
    if (u[0] < 0x80 || len < 2)
        return u[0];
    if (u[0] < 0xE0)
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    if (u[0] < 0xF0 || len < 4)
        return len < 3 ? 0
                       : ((uint32_t)(u[0] & 0x0F) << 12) |
                             ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
           ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

static int is_bullet_cp(uint32_t c)
{
    static const uint32_t b[] = {
        0x2022, 0x25E6, 0x25AA, 0x25AB, 0x2023, 0x2043, 0x25CF, 0x25CB, 0x25A0,
        0x25A1, 0x25BA, 0x25B6, 0x2013, 0x00B7, 0xF0B7, 0xF0A7, 0x2713, 0x2714,
        0x27A2, 0x27A4, 0x2192, 0x2219, '-',    '*',    0x25C6, 0x2666
    };
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        if (b[i] == c)
            return 1;
    return 0;
}

static int is_roman(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ivxlcIVXLC", s[i]))
            return 0;
    return 1;
}

/* List marker in word W: 1 bullet, 2 number ("3." "iv)" "(b)"), 0. */
static int marker_of(const tw *w)
{
    const char *s = w->s;
    size_t n = w->len;
    uint32_t c = utf8_first(s, w->len);
    if (is_bullet_cp(c)) {
        size_t cl = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        /* a lone dash or star only counts as its own word */
        if (n == cl || (c >= 0x80 && c != 0x2013))
            return 1;
        return 0;
    }
    if (n >= 2 && n <= 6) {
        size_t a = s[0] == '(' ? 1 : 0;
        char end = s[n - 1];
        if (end != '.' && end != ')')
            return 0;
        if (a && end != ')')
            return 0;
        size_t m = n - 1 - a;
        const char *p = s + a;
        int digits = 1;
        for (size_t i = 0; i < m; i++)
            if (p[i] < '0' || p[i] > '9')
                digits = 0;
        if (m >= 1 && m <= 3 && digits)
            return 2;
        if (m == 1 && ((p[0] >= 'a' && p[0] <= 'z') ||
                       (p[0] >= 'A' && p[0] <= 'Z' && end == ')')))
            return 2;
        if (is_roman(p, m) && (end == ')' || m >= 2))
            return 2;
    }
    return 0;
}

static int numeric_word(const tw *w)
{
    int dig = 0, other = 0;
    for (uint32_t i = 0; i < w->len; i++) {
        unsigned char ch = (unsigned char)w->s[i];
        if (ch >= '0' && ch <= '9')
            dig++;
        else if (!strchr(".,%$()-+/:'", ch) && ch < 0x80)
            other++;
        else if (ch >= 0x80 && (ch & 0xC0) != 0x80)
            other++; /* a non-ASCII character, currency signs included */
    }
    return dig > 0 && dig >= other * 2;
}

/* ---- stage 1: words -> segments ---- */

static void lay_free(lay *L)
{
    vd__free(L->w);
    vd__free(L->s);
    vd__free(L->rows);
    vd__free(L->b);
    vd__free(L->c);
}

static void seg_add_word(lay *L, seg *g, int wi)
{
    tw *w = &L->w[wi];
    if (g->nw == 0) {
        g->x1 = w->x1, g->y1 = w->y1, g->x2 = w->x2, g->y2 = w->y2;
        g->first = wi;
    } else {
        L->w[g->last].next = wi;
        g->x1 = fminf(g->x1, w->x1), g->y1 = fminf(g->y1, w->y1);
        g->x2 = fmaxf(g->x2, w->x2), g->y2 = fmaxf(g->y2, w->y2);
    }
    g->last = wi;
    w->next = -1;
    g->nw++;
    g->nbytes += (int)w->len + 1;
}

/* Character-weighted size, boldness, numeric content and list marker. */
static void seg_finish(lay *L, seg *g)
{
    float best = 0;
    int bold = 0, all = 0, num = 0, rtl = 0;
    /* size: the one covering most bytes; words are few per segment */
    for (int i = g->first; i >= 0; i = L->w[i].next) {
        int cnt = 0;
        for (int j = g->first; j >= 0; j = L->w[j].next)
            if (fabsf(L->w[j].size - L->w[i].size) < 0.3f)
                cnt += (int)L->w[j].len;
        if (cnt > all) {
            all = cnt;
            best = L->w[i].size;
        }
    }
    all = 0;
    for (int i = g->first; i >= 0; i = L->w[i].next) {
        all += (int)L->w[i].len;
        if (L->w[i].flags & VD__PDF_BOLD)
            bold += (int)L->w[i].len;
        if (L->w[i].flags & VD__PDF_RTL)
            rtl += (int)L->w[i].len;
        num += numeric_word(&L->w[i]);
    }
    g->size = best > 0 ? best : g->y2 - g->y1;
    g->bold = all > 0 && bold * 10 >= all * 9;
    g->rtl = rtl * 2 > all;
    g->numeric = num * 2 > g->nw || (g->nw <= 2 && num > 0);
    g->marker = 0;
    g->text_x = g->x1;
    if (g->nw >= 2 && !g->rtl) {
        const tw *w0 = &L->w[g->first];
        g->marker = (uint8_t)marker_of(w0);
        if (g->marker)
            g->text_x = L->w[w0->next].x1;
    }
}

static int push_seg(lay *L, const seg *g)
{
    L->s[L->ns] = *g;
    return L->ns++;
}

static float word_gap(const tw *p, const tw *w)
{
    return (p->flags & w->flags & VD__PDF_RTL) ? p->x1 - w->x2 : w->x1 - p->x2;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    return v[n / 2];
}

/* Words of direction DIR -> segments: Poppler's lines cut where a gap
 * is wider than a space can be (table cells, columns, tab stops). */
static vd_status build_segments(lay *L, const uint8_t *dir, int want)
{
    const vd__pdf_text *t = L->t;
    L->w = vd__malloc(L->ctx, (t->nwords + 1) * sizeof *L->w);
    L->s = vd__malloc(L->ctx, (t->nwords + 1) * sizeof *L->s);
    if (!L->w || !L->s)
        return VD_ERR_NOMEM;
    L->nw = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        const vd__pdf_word *pw = &t->words[i];
        if (dir[i] != want) {
            /* a line's end may sit on a word of another direction */
            if (pw->line_end && L->nw > 0)
                L->w[L->nw - 1].line_end = 1;
            continue;
        }
        tw *w = &L->w[L->nw++];
        float box[4] = { pw->x1, pw->y1, pw->x2, pw->y2 };
        float fb[4];
        to_frame(L->frame, t->page_w, t->page_h, box, fb);
        w->x1 = fb[0], w->y1 = fb[1], w->x2 = fb[2], w->y2 = fb[3];
        w->size = pw->size > 0.5f ? pw->size : fb[3] - fb[1];
        w->s = t->utf8 + pw->off;
        w->len = pw->len;
        w->flags = pw->flags;
        w->line_end = pw->line_end;
        w->next = -1;
    }
    seg g;
    memset(&g, 0, sizeof g);
    int i = 0;
    while (i < L->nw) {
        /* one of Poppler's lines: [i, j] */
        int j = i;
        while (j + 1 < L->nw && !L->w[j].line_end)
            j++;
        /* a justified line stretches all its spaces alike: a gap is a
         * cell or column break only when it stands out from the others */
        float gaps[64];
        int ng = 0;
        for (int k = i; k < j && ng < 64; k++)
            gaps[ng++] = word_gap(&L->w[k], &L->w[k + 1]);
        float med = ng >= 3 ? median(gaps, ng) : 0;
        for (int k = i; k <= j; k++) {
            tw *w = &L->w[k];
            if (k > i) {
                const tw *p = &L->w[k - 1];
                float em = fmaxf(p->size, w->size);
                float gap = word_gap(p, w);
                float ov = fminf(p->y2, w->y2) - fmaxf(p->y1, w->y1);
                float mh = fminf(p->y2 - p->y1, w->y2 - w->y1);
                /* a list marker keeps its text even across a tab */
                int keep = g.nw == 1 && marker_of(&L->w[g.first]) &&
                           gap < 4 * em && gap > -0.2f * em;
                int wide = gap > 1.0f * em &&
                           (ng < 3 || gap > 2.5f * med || gap > 2.5f * em);
                if (ov < 0.4f * mh || (!keep && (wide || gap < -0.6f * em))) {
                    seg_finish(L, &g);
                    push_seg(L, &g);
                    memset(&g, 0, sizeof g);
                }
            }
            seg_add_word(L, &g, k);
        }
        if (g.nw > 0) {
            seg_finish(L, &g);
            push_seg(L, &g);
            memset(&g, 0, sizeof g);
        }
        i = j + 1;
    }
    for (int k = 0; k < L->ns; k++) {
        L->s[k].row = -1;
        L->s[k].blk = -1;
        L->s[k].next = -1;
    }
    return VD_OK;
}

static float seg_vc(const seg *g)
{
    return (g->y1 + g->y2) / 2;
}

/* qsort has no context argument in C11; the layout runs on one thread per
 * document, but keep it per thread anyway */
static _Thread_local const seg *sort_segs;
static int cmp_seg_vc(const void *a, const void *b)
{
    const seg *x = &sort_segs[*(const int *)a],
              *y = &sort_segs[*(const int *)b];
    float d = seg_vc(x) - seg_vc(y);
    if (d != 0)
        return d < 0 ? -1 : 1;
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}
static int cmp_seg_u(const void *a, const void *b)
{
    const seg *x = &sort_segs[*(const int *)a],
              *y = &sort_segs[*(const int *)b];
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}

/* Segments -> rows (same baseline band, anchored on the row's first
 * segment so that two columns with drifting baselines do not chain), and
 * neighbours in a row closer than a word gap merged into one segment
 * (Poppler sometimes ends a line at a font change). ROWS lists segment
 * indexes row by row, left to right; returns the number of rows. */
static int build_rows(lay *L, int **row_start_out)
{
    int n = L->ns;
    int *idx = L->rows;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    sort_segs = L->s;
    qsort(idx, (size_t)n, sizeof *idx, cmp_seg_vc);
    int *rs = vd__malloc(L->ctx, (size_t)(n + 1) * sizeof *rs);
    if (!rs)
        return -1;
    int nr = 0, i = 0;
    while (i < n) {
        const seg *a = &L->s[idx[i]];
        float ah = a->y2 - a->y1;
        int j = i + 1;
        while (j < n) {
            const seg *b = &L->s[idx[j]];
            float bh = b->y2 - b->y1;
            if (seg_vc(b) - seg_vc(a) > 0.45f * fminf(ah, bh))
                break;
            j++;
        }
        sort_segs = L->s;
        qsort(idx + i, (size_t)(j - i), sizeof *idx, cmp_seg_u);
        /* merge close neighbours */
        int k = i;
        for (int m = i + 1; m < j; m++) {
            seg *p = &L->s[idx[k]], *q = &L->s[idx[m]];
            float em = fmaxf(p->size, q->size);
            float gap = q->x1 - p->x2;
            if (!p->rtl && !q->rtl && gap < 0.8f * em && gap > -0.5f * em &&
                !q->marker) {
                L->w[p->last].next = q->first;
                p->last = q->last;
                p->nw += q->nw;
                p->nbytes += q->nbytes;
                p->x1 = fminf(p->x1, q->x1), p->y1 = fminf(p->y1, q->y1);
                p->x2 = fmaxf(p->x2, q->x2), p->y2 = fmaxf(p->y2, q->y2);
                q->dead = 1;
                seg_finish(L, p);
            } else {
                idx[++k] = idx[m];
            }
        }
        rs[nr++] = i;
        /* compact: rows keep [i, k] */
        int keep = k - i + 1;
        if (keep < j - i) {
            memmove(idx + i + keep, idx + j, (size_t)(n - j) * sizeof *idx);
            n -= (j - i) - keep;
            j = i + keep;
        }
        for (int m = i; m < j; m++)
            L->s[idx[m]].row = nr - 1;
        i = j;
    }
    rs[nr] = n;
    *row_start_out = rs;
    return nr;
}

/* Writing direction of every word, and how much text runs each way. */
static vd_status stage1(vd_ctx *ctx, const vd__pdf_text *t, lay *L,
                        uint8_t **dir_out, int *counts)
{
    memset(L, 0, sizeof *L);
    L->ctx = ctx;
    L->t = t;
    uint8_t *dir = vd__malloc(ctx, t->nwords + 1);
    if (!dir)
        return VD_ERR_NOMEM;
    resolve_dirs(t, dir);
    for (int d = 0; d < 4; d++)
        counts[d] = 0;
    for (size_t i = 0; i < t->nwords; i++)
        counts[dir[i]] += (int)t->words[i].len;
    *dir_out = dir;
    return VD_OK;
}

static vd_status frame_setup(lay *L, const uint8_t *dir, int f)
{
    const vd__pdf_text *t = L->t;
    L->frame = f;
    L->fw = (f & 1) ? t->page_h : t->page_w;
    L->fh = (f & 1) ? t->page_w : t->page_h;
    vd_status st = build_segments(L, dir, f);
    if (st)
        return st;
    L->rows = vd__malloc(L->ctx, (size_t)(L->ns + 1) * sizeof *L->rows);
    return L->rows ? VD_OK : VD_ERR_NOMEM;
}

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
    uint8_t *dir = NULL;
    int counts[4];
    size_t n = 0;
    if (stage1(NULL, t, &L, &dir, counts) == VD_OK) {
        int f = 0;
        for (int d = 1; d < 4; d++)
            if (counts[d] > counts[f])
                f = d;
        if (frame_setup(&L, dir, f) == VD_OK) {
            for (int i = 0; i < L.ns && n < max; i++) {
                const seg *g = &L.s[i];
                float top = g->y1 / (float)L.fh, bot = g->y2 / (float)L.fh;
                if (bot > EDGE_BAND && top < 1 - EDGE_BAND)
                    continue;
                out[n].hash = edge_hash(&L, g);
                out[n].vc = (top + bot) / 2;
                out[n].bottom = top >= 1 - EDGE_BAND;
                n++;
            }
        }
    }
    vd__free(dir);
    lay_free(&L);
    return n;
}

/* Mark headers, footers and page numbers among the segments. */
static void find_furniture(lay *L, const vd__tl_doc *d, const int *rs, int nr)
{
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
                        g->cls = CLS_PAGENUM;
                continue;
            }
            if (page_number_text(L, g)) {
                g->cls = CLS_PAGENUM;
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
                g->cls = in_top ? CLS_HEADER : CLS_FOOTER;
        }
    }
}

/* ---- tables ---- */

static int seg_long(const seg *g)
{
    return g->nw > 6;
}

static int row_cellular(lay *L, const int *rs, int r)
{
    int n = 0, longc = 0, num = 0, small = 1;
    for (int k = rs[r]; k < rs[r + 1]; k++) {
        const seg *g = &L->s[L->rows[k]];
        if (g->cls)
            continue;
        n++;
        longc += seg_long(g);
        num += g->numeric;
        if (g->nw > 4)
            small = 0;
    }
    return n >= 2 && longc <= 1 && (n >= 3 || num > 0 || small);
}

static float row_top(lay *L, const int *rs, int r)
{
    float v = 1e30f;
    for (int k = rs[r]; k < rs[r + 1]; k++)
        if (!L->s[L->rows[k]].cls)
            v = fminf(v, L->s[L->rows[k]].y1);
    return v;
}
static float row_bot(lay *L, const int *rs, int r)
{
    float v = -1e30f;
    for (int k = rs[r]; k < rs[r + 1]; k++)
        if (!L->s[L->rows[k]].cls)
            v = fmaxf(v, L->s[L->rows[k]].y2);
    return v;
}
static int row_live(lay *L, const int *rs, int r)
{
    int n = 0;
    for (int k = rs[r]; k < rs[r + 1]; k++)
        n += !L->s[L->rows[k]].cls;
    return n;
}

static blk *new_blk(lay *L, int kind)
{
    if (L->nb == L->capb) {
        int nc = L->capb ? L->capb * 2 : 64;
        blk *nbk = vd__realloc(L->ctx, L->b, (size_t)nc * sizeof *nbk);
        if (!nbk)
            return NULL;
        L->b = nbk;
        L->capb = nc;
    }
    blk *b = &L->b[L->nb++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->first = b->last = -1;
    b->x1 = b->y1 = 1e30f;
    b->x2 = b->y2 = -1e30f;
    return b;
}

static void blk_grow(blk *b, const seg *g)
{
    b->x1 = fminf(b->x1, g->x1), b->y1 = fminf(b->y1, g->y1);
    b->x2 = fmaxf(b->x2, g->x2), b->y2 = fmaxf(b->y2, g->y2);
}

typedef struct colr {
    float a, b;
} colr;

static int cmp_colr(const void *x, const void *y)
{
    const colr *p = x, *q = y;
    return (p->a > q->a) - (p->a < q->a);
}

/* Rows R0..R1 (inclusive) as a table; 0 when they do not line up into
 * two or more columns. */
static vd_status make_table(lay *L, const int *rs, int r0, int r1, int *ok)
{
    *ok = 0;
    /* the commonest cell count names the rows that define the columns */
    int hist[64] = { 0 }, mode = 0;
    for (int r = r0; r <= r1; r++) {
        int n = row_live(L, rs, r);
        if (n < 64)
            hist[n]++;
    }
    for (int i = 2; i < 64; i++)
        if (hist[i] > hist[mode] || (hist[i] == hist[mode] && i > mode))
            mode = i;
    if (mode < 2)
        return VD_OK;
    int nseg = 0;
    for (int r = r0; r <= r1; r++)
        nseg += rs[r + 1] - rs[r];
    colr *cr = vd__malloc(L->ctx, (size_t)(nseg + 1) * sizeof *cr);
    if (!cr)
        return VD_ERR_NOMEM;
    int ncr = 0;
    for (int r = r0; r <= r1; r++) {
        if (row_live(L, rs, r) != mode && hist[mode] >= 2)
            continue;
        for (int k = rs[r]; k < rs[r + 1]; k++) {
            const seg *g = &L->s[L->rows[k]];
            if (!g->cls)
                cr[ncr++] = (colr){ g->x1, g->x2 };
        }
    }
    qsort(cr, (size_t)ncr, sizeof *cr, cmp_colr);
    int ncol = 0;
    for (int i = 0; i < ncr; i++) {
        if (ncol && cr[i].a <= cr[ncol - 1].b)
            cr[ncol - 1].b = fmaxf(cr[ncol - 1].b, cr[i].b);
        else
            cr[ncol++] = cr[i];
    }
    if (ncol < 2) {
        vd__free(cr);
        return VD_OK;
    }
    /* place every segment of the rows into the columns it covers */
    int nrow = r1 - r0 + 1;
    int cell0 = L->nc, words = 0, cells = 0;
    for (int r = r0; r <= r1; r++) {
        for (int k = rs[r]; k < rs[r + 1]; k++) {
            seg *g = &L->s[L->rows[k]];
            if (g->cls)
                continue;
            int c0 = -1, c1 = -1;
            float bestd = 1e30f;
            int nearest = 0;
            for (int c = 0; c < ncol; c++) {
                float ov = fminf(g->x2, cr[c].b) - fmaxf(g->x1, cr[c].a);
                if (ov > 0.25f * fminf(g->x2 - g->x1, cr[c].b - cr[c].a) ||
                    ov > 0.5f * (g->x2 - g->x1)) {
                    if (c0 < 0)
                        c0 = c;
                    c1 = c;
                }
                float dd = fabsf((g->x1 + g->x2) / 2 - (cr[c].a + cr[c].b) / 2);
                if (dd < bestd)
                    bestd = dd, nearest = c;
            }
            if (c0 < 0)
                c0 = c1 = nearest;
            /* same column as the row's previous cell: one cell */
            if (L->nc > cell0 && L->c[L->nc - 1].row == r - r0 &&
                L->c[L->nc - 1].col + L->c[L->nc - 1].span - 1 >= c0) {
                cell *pc = &L->c[L->nc - 1];
                L->s[pc->last].next = L->rows[k];
                pc->last = L->rows[k];
                int e =
                    c1 > pc->col + pc->span - 1 ? c1 : pc->col + pc->span - 1;
                pc->span = e - pc->col + 1;
                words += g->nw;
                continue;
            }
            if (L->nc == L->capc) {
                int nc = L->capc ? L->capc * 2 : 64;
                cell *ncl = vd__realloc(L->ctx, L->c, (size_t)nc * sizeof *ncl);
                if (!ncl) {
                    vd__free(cr);
                    return VD_ERR_NOMEM;
                }
                L->c = ncl;
                L->capc = nc;
            }
            L->c[L->nc++] =
                (cell){ r - r0, c0, c1 - c0 + 1, L->rows[k], L->rows[k] };
            words += g->nw;
            cells++;
        }
    }
    vd__free(cr);
    /* two columns of running text are not a table */
    if (cells == 0 || (ncol == 2 && words > 5 * cells)) {
        L->nc = cell0;
        return VD_OK;
    }
    blk *b = new_blk(L, B_TABLE);
    if (!b)
        return VD_ERR_NOMEM;
    b->cell0 = cell0;
    b->ncell = L->nc - cell0;
    b->nrow = nrow;
    b->ncol = ncol;
    for (int i = cell0; i < L->nc; i++)
        for (int s = L->c[i].first; s >= 0; s = L->s[s].next) {
            blk_grow(b, &L->s[s]);
            L->s[s].blk = L->nb - 1;
        }
    *ok = 1;
    return VD_OK;
}

static vd_status find_tables(lay *L, const int *rs, int nr)
{
    int r = 0;
    while (r < nr) {
        if (!row_cellular(L, rs, r)) {
            r++;
            continue;
        }
        int r1 = r, cellular = 1;
        float h = row_bot(L, rs, r) - row_top(L, rs, r);
        for (int q = r + 1; q < nr; q++) {
            int live = row_live(L, rs, q);
            if (!live)
                continue;
            float gap = row_top(L, rs, q) - row_bot(L, rs, r1);
            if (gap > 2.5f * fmaxf(h, 1))
                break;
            if (row_cellular(L, rs, q)) {
                r1 = q;
                cellular++;
                continue;
            }
            /* a one-cell row (wrapped text, a group label) may sit inside
             * a table, but not a line of prose */
            if (live == 1 && q + 1 < nr && row_cellular(L, rs, q + 1)) {
                const seg *g = NULL;
                for (int k = rs[q]; k < rs[q + 1]; k++)
                    if (!L->s[L->rows[k]].cls)
                        g = &L->s[L->rows[k]];
                if (g && g->nw <= 6) {
                    r1 = q;
                    continue;
                }
            }
            break;
        }
        if (cellular >= 2) {
            int ok;
            vd_status st = make_table(L, rs, r, r1, &ok);
            if (st)
                return st;
        }
        r = r1 + 1;
    }
    return VD_OK;
}

/* ---- paragraphs, headings, list items ---- */

static int cmp_seg_top(const void *a, const void *b)
{
    const seg *x = &sort_segs[*(const int *)a],
              *y = &sort_segs[*(const int *)b];
    if (x->y1 != y->y1)
        return x->y1 < y->y1 ? -1 : 1;
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}

static int can_join(const lay *L, const blk *b, const seg *g)
{
    const seg *last = &L->s[b->last];
    float lh = fmaxf(g->y2 - g->y1, last->y2 - last->y1);
    float em = fmaxf(g->size, 1);
    if (b->kind == B_TABLE || b->kind == B_FURN || g->marker)
        return 0;
    if (g->y1 < last->y1 + 0.3f * lh)
        return 0;
    float dv = g->y1 - last->y2;
    if (dv > 0.85f * lh)
        return 0;
    if (fabsf(g->size - b->size) > 0.12f * fmaxf(g->size, b->size) + 0.3f)
        return 0;
    if (g->bold != last->bold && b->kind != B_ITEM)
        return 0;
    float ov = fminf(g->x2, b->x2) - fmaxf(g->x1, b->x1);
    if (ov < 0.5f * fminf(g->x2 - g->x1, b->x2 - b->x1))
        return 0;
    if (b->kind == B_ITEM && g->x1 < b->body_x - 0.6f * em)
        return 0;
    if (b->kind != B_ITEM && g->x1 < b->x1 - 1.5f * em)
        return 0;
    if (b->nlines >= 2 &&
        fabsf((seg_vc(g) - seg_vc(last)) - b->pitch) > 0.3f * lh)
        return 0;
    if (b->kind == B_PARA && b->nlines >= 2 && g->x1 > b->body_x + 0.8f * em)
        return 0; /* an indented first line */
    if (b->kind == B_PARA && b->nlines >= 3 && b->justified >= 2 &&
        last->x2 < b->right - 4 * em && g->x1 < b->body_x + 0.5f * em)
        return 0; /* the line before ended short: a paragraph ended */
    return 1;
}

static void blk_add(lay *L, blk *b, int si)
{
    seg *g = &L->s[si];
    if (b->last < 0) {
        b->first = si;
        b->size = g->size;
        b->bold = g->bold;
        b->body_x = b->kind == B_ITEM ? g->text_x : g->x1;
        b->right = g->x2;
    } else {
        const seg *last = &L->s[b->last];
        L->s[b->last].next = si;
        if (b->nlines == 1) {
            b->pitch = seg_vc(g) - seg_vc(last);
            if (b->kind != B_ITEM)
                b->body_x = g->x1;
        }
        if (b->kind != B_ITEM)
            b->body_x = fminf(b->body_x, g->x1);
    }
    float em = fmaxf(g->size, 1);
    if (g->x2 > b->right + em) {
        b->right = g->x2;
        b->justified = 1;
    } else if (g->x2 >= b->right - em) {
        b->right = fmaxf(b->right, g->x2);
        b->justified++;
    }
    b->last = si;
    g->next = -1;
    g->blk = (int)(b - L->b);
    b->nlines++;
    blk_grow(b, g);
}

static vd_status build_blocks(lay *L)
{
    int n = 0;
    for (int i = 0; i < L->ns; i++)
        if (!L->s[i].dead && L->s[i].blk < 0 && !L->s[i].cls)
            L->rows[n++] = i;
    sort_segs = L->s;
    qsort(L->rows, (size_t)n, sizeof *L->rows, cmp_seg_top);
    for (int k = 0; k < n; k++) {
        int si = L->rows[k];
        const seg *g = &L->s[si];
        int best = -1;
        float bestd = 1e30f;
        for (int bi = L->nb - 1; bi >= 0; bi--) {
            blk *b = &L->b[bi];
            if (b->kind == B_TABLE || b->kind == B_FURN || b->last < 0)
                continue;
            const seg *last = &L->s[b->last];
            if (g->y1 - last->y2 > 3 * (g->y2 - g->y1) + 20)
                continue;
            if (!can_join(L, b, g))
                continue;
            float d = g->y1 - last->y2;
            if (d < bestd)
                bestd = d, best = bi;
        }
        blk *b;
        if (best >= 0) {
            b = &L->b[best];
        } else {
            b = new_blk(L, g->marker ? B_ITEM : B_PARA);
            if (!b)
                return VD_ERR_NOMEM;
            b->ordered = g->marker == 2;
        }
        blk_add(L, b, si);
    }
    return VD_OK;
}

/* Headings from the block's size against the document's, or bold body
 * text standing alone in a short block. */
static void classify(lay *L, const vd__tl_doc *d)
{
    float body = L->body;
    for (int i = 0; i < L->nb; i++) {
        blk *b = &L->b[i];
        if (b->kind != B_PARA || b->nlines > 3)
            continue;
        int bytes = 0, alpha = 0;
        for (int s = b->first; s >= 0; s = L->s[s].next) {
            bytes += L->s[s].nbytes;
            for (int w = L->s[s].first; w >= 0; w = L->w[w].next)
                for (uint32_t k = 0; k < L->w[w].len; k++) {
                    unsigned char c = (unsigned char)L->w[w].s[k];
                    alpha += (c | 32) >= 'a' && (c | 32) <= 'z';
                    alpha += c >= 0xC0;
                }
        }
        if (alpha < 2 || bytes > 200)
            continue;
        const seg *ls = &L->s[b->last];
        const tw *lw = &L->w[ls->last];
        char endc = lw->len ? lw->s[lw->len - 1] : 0;
        int nh = d && d->nhead ? d->nhead : 0;
        if (body > 0 && b->size >= body * 1.15f) {
            int level = 1;
            for (int h = 0; h < nh; h++)
                if (b->size < d->head_sizes[h] - 0.3f)
                    level = h + 2;
            b->kind = B_HEAD;
            b->level = level > 3 ? 3 : level;
        } else if (b->bold && body > 0 && b->size >= body * 0.95f &&
                   b->nlines <= 2 && bytes <= 120 && endc != '.' &&
                   endc != ',' && endc != ';') {
            b->kind = B_HEAD;
            b->level = nh + 1 > 3 ? 3 : nh + 1;
        }
    }
}

/* Small print below the text that starts with a note mark. */
static void find_footnotes(lay *L)
{
    float body = L->body;
    if (body <= 0)
        return;
    for (int i = 0; i < L->nb; i++) {
        blk *b = &L->b[i];
        if (b->kind != B_PARA || b->size > body * 0.88f ||
            b->y1 < 0.55f * (float)L->fh)
            continue;
        const tw *w = &L->w[L->s[b->first].first];
        uint32_t c = utf8_first(w->s, w->len);
        int mark = (c >= '0' && c <= '9') || c == '*' || c == 0x2020 ||
                   c == 0x2021 || c == 0xA7 || c == 0xB9 || c == 0xB2 ||
                   c == 0xB3 || (c >= 0x2070 && c <= 0x2079);
        if (!mark)
            continue;
        int below = 0;
        for (int j = 0; j < L->nb && !below; j++) {
            const blk *o = &L->b[j];
            below = j != i && o->kind != B_FURN && o->y1 > b->y2 &&
                    o->size > body * 0.95f && o->x2 > b->x1 && o->x1 < b->x2;
        }
        if (!below) {
            b->kind = B_FURN;
            b->cls = CLS_FOOTNOTE;
        }
    }
}

/* ---- reading order ---- */

/* Breuel's rules on blocks: A before B when they share columns and A is
 * above, or when A lies wholly left of B and nothing spanning both sits
 * between them. Full-width blocks so fall between column runs. */
static int before(const lay *L, int a, int c)
{
    const blk *A = &L->b[a], *B = &L->b[c];
    float ov = fminf(A->x2, B->x2) - fmaxf(A->x1, B->x1);
    float ac = (A->y1 + A->y2) / 2, bc = (B->y1 + B->y2) / 2;
    if (ov > 0)
        return ac < bc || (ac == bc && A->x1 < B->x1);
    if (A->x2 > B->x1 + 1)
        return 0;
    float lo = fminf(ac, bc), hi = fmaxf(ac, bc);
    /* A wholly below B comes first only when A's column reaches up to B
     * (a column read before the next); a heading under a centred title
     * does not */
    int reach = A->y1 < B->y2;
    for (int k = 0; k < L->nb; k++) {
        const blk *C = &L->b[k];
        if (k == a || k == c || C->kind == B_FURN)
            continue;
        float cc = (C->y1 + C->y2) / 2;
        if (cc > lo && cc < hi && C->x1 < A->x2 && C->x2 > B->x1)
            return 0;
        if (!reach && C->x2 <= B->x1 + 1 && C->x2 > A->x1 && C->x1 < A->x2 &&
            C->y1 < B->y2)
            reach = 1;
    }
    return reach;
}

static vd_status reading_order(lay *L, int *order, int *n_out)
{
    int n = 0;
    for (int i = 0; i < L->nb; i++)
        if (L->b[i].kind != B_FURN)
            n++;
    int *ids = vd__malloc(L->ctx, (size_t)(n + 1) * sizeof *ids);
    int *indeg = vd__calloc(L->ctx, (size_t)(n + 1), sizeof *indeg);
    uint8_t *rel = n <= 400 ? vd__calloc(L->ctx, (size_t)n * n + 1, 1) : NULL;
    if (!ids || !indeg || (n <= 400 && !rel)) {
        vd__free(ids);
        vd__free(indeg);
        vd__free(rel);
        return VD_ERR_NOMEM;
    }
    n = 0;
    for (int i = 0; i < L->nb; i++)
        if (L->b[i].kind != B_FURN)
            ids[n++] = i;
    if (rel)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j && before(L, ids[i], ids[j])) {
                    rel[(size_t)i * n + j] = 1;
                    indeg[j]++;
                }
    int done = 0;
    while (done < n) {
        /* among blocks with nothing left before them, the top-most; when a
         * cycle leaves none, the top-most of all */
        int pick = -1, any = -1;
        for (int i = 0; i < n; i++) {
            const blk *b = &L->b[ids[i]];
            if (b->done)
                continue;
            if (any < 0 || b->y1 < L->b[ids[any]].y1 ||
                (b->y1 == L->b[ids[any]].y1 && b->x1 < L->b[ids[any]].x1))
                any = i;
            if (rel && indeg[i] == 0 &&
                (pick < 0 || b->y1 < L->b[ids[pick]].y1 ||
                 (b->y1 == L->b[ids[pick]].y1 && b->x1 < L->b[ids[pick]].x1)))
                pick = i;
        }
        if (pick < 0)
            pick = any;
        L->b[ids[pick]].done = 1;
        order[done++] = ids[pick];
        if (rel)
            for (int j = 0; j < n; j++)
                if (rel[(size_t)pick * n + j])
                    indeg[j]--;
    }
    *n_out = n;
    vd__free(ids);
    vd__free(indeg);
    vd__free(rel);
    return VD_OK;
}

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
    from_frame(L->frame, L->t->page_w, L->t->page_h, in, o);
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
            glue = 0;
            if (L->w[w].next < 0 && L->s[s].next >= 0 && ends_hyphen(x)) {
                const seg *ng = &L->s[L->s[s].next];
                uint32_t c = utf8_first(L->w[ng->first].s, L->w[ng->first].len);
                int soft = x->s[len - 1] != '-' &&
                           (unsigned char)x->s[len - 1] == 0xAD;
                if (soft || (c >= 'a' && c <= 'z') || c >= 0xDF) {
                    glue = 1;
                    len -= x->s[len - 1] == '-' ? 1 : soft ? 2 : 3;
                }
            }
            vd__buf_html_escape(L->ctx, e->h, x->s, len);
            words++;
        }
    }
}

static void emit_block(emit *e, const blk *b)
{
    lay *L = e->L;
    vd__buf *h = e->h;
    vd_ctx *ctx = L->ctx;
    if (b->kind == B_TABLE) {
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
                vd__buf_puts(ctx, h, "<td");
                if (c->span > 1)
                    vd__buf_printf(ctx, h, " colspan=\"%d\"", c->span);
                put_bbox(e, x1, y1, x2, y2);
                vd__buf_puts(ctx, h, ">");
                put_text(e, c->first, 0);
                vd__buf_puts(ctx, h, "</td>");
                col += c->span;
            }
            for (; col < b->ncol; col++)
                vd__buf_puts(ctx, h, "<td></td>");
            vd__buf_puts(ctx, h, "</tr>");
        }
        vd__buf_puts(ctx, h, "</table>\n");
        return;
    }
    char tag[4] = "p";
    if (b->kind == B_HEAD)
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
        if (b->kind != B_ITEM || b->ordered != b0->ordered ||
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
static vd_status layout_frame(vd_ctx *ctx, const vd__pdf_text *t,
                              const uint8_t *dir, int f, int main_dir,
                              const vd__tl_doc *d, emit *e)
{
    lay L;
    memset(&L, 0, sizeof L);
    L.ctx = ctx;
    L.t = t;
    vd_status st = frame_setup(&L, dir, f);
    int *rs = NULL, *order = NULL;
    int nr = 0;
    if (st == VD_OK && L.ns > 0) {
        nr = build_rows(&L, &rs);
        if (nr < 0)
            st = VD_ERR_NOMEM;
    }
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
        if (f == main_dir)
            find_furniture(&L, d, rs, nr);
        st = find_tables(&L, rs, nr);
    }
    if (st == VD_OK && L.ns > 0)
        st = build_blocks(&L);
    if (st == VD_OK && L.ns > 0) {
        classify(&L, d);
        if (f == main_dir)
            find_footnotes(&L);
        /* furniture segments become blocks of their own */
        for (int i = 0; i < L.ns && st == VD_OK; i++) {
            seg *g = &L.s[i];
            if (g->dead || !g->cls || g->blk >= 0)
                continue;
            blk *b = new_blk(&L, B_FURN);
            if (!b) {
                st = VD_ERR_NOMEM;
                break;
            }
            b->cls = g->cls;
            blk_add(&L, b, i);
        }
    }
    int n = 0;
    if (st == VD_OK && L.nb > 0) {
        order = vd__malloc(ctx, (size_t)L.nb * sizeof *order);
        if (!order)
            st = VD_ERR_NOMEM;
        else
            st = reading_order(&L, order, &n);
    }
    if (st == VD_OK) {
        e->L = &L;
        /* headers, then the text in reading order, then footnotes,
         * footers and page numbers */
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 1) {
                for (int i = 0; i < n;) {
                    const blk *b = &L.b[order[i]];
                    if (b->kind == B_ITEM)
                        i += emit_list(e, order + i, n - i);
                    else
                        emit_block(e, &L.b[order[i++]]);
                }
                continue;
            }
            for (int i = 0; i < L.nb; i++) {
                const blk *b = &L.b[i];
                if (b->kind != B_FURN)
                    continue;
                int head = b->cls == CLS_HEADER || (b->cls == CLS_PAGENUM &&
                                                    b->y1 < 0.5f * (float)L.fh);
                if ((pass == 0) == head)
                    emit_block(e, b);
            }
        }
        st = e->h->err;
    }
    vd__free(rs);
    vd__free(order);
    lay_free(&L);
    return st;
}

vd_status vd__tl_page_html(vd_ctx *ctx, const vd__pdf_text *t,
                           const vd__tl_doc *d, double sx, double sy,
                           vd__buf *html)
{
    lay tmp;
    uint8_t *dir = NULL;
    int counts[4];
    vd_status st = stage1(ctx, t, &tmp, &dir, counts);
    lay_free(&tmp);
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
            st = layout_frame(ctx, t, dir, f, main_dir, d, &e);
    }
    vd__buf_puts(ctx, html, "</body></html>\n");
    vd__free(dir);
    return st ? st : html->err;
}

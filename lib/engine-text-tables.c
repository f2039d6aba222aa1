/* Engine "text", layout stage 4: runs of rows whose segments line up in
 * columns -> tables with cells, column spans and header rows. Columns come
 * from where the rows' segments sit; a segment lying across a gap the
 * other rows keep open is cut at its word gaps there (monospaced rows run
 * cells together) or spans those columns; lines wrapped inside a cell
 * join their row; heads above the first row and the rows before the data
 * become header cells. */
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

enum { MAX_HEAD_ABOVE = 3, MAX_HEAD_ROWS = 5 };

static int live(const seg *g)
{
    return !g->cls && !g->dead;
}

/* ---- rows ---- */

static int row_cellular(const lay *L, int r)
{
    int n = 0, longc = 0, num = 0, small = 1;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
        const seg *g = &L->s[L->rows[k]];
        if (!live(g))
            continue;
        n++;
        longc += g->nw > 6;
        num += g->numeric;
        if (g->nw > 4)
            small = 0;
    }
    return n >= 2 && longc <= 1 && (n >= 3 || num > 0 || small);
}

static float row_top(const lay *L, int r)
{
    float v = 1e30f;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++)
        if (live(&L->s[L->rows[k]]))
            v = fminf(v, L->s[L->rows[k]].y1);
    return v;
}

static float row_bot(const lay *L, int r)
{
    float v = -1e30f;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++)
        if (live(&L->s[L->rows[k]]))
            v = fmaxf(v, L->s[L->rows[k]].y2);
    return v;
}

static int row_live(const lay *L, int r)
{
    int n = 0;
    for (int k = L->rs[r]; k < L->rs[r + 1]; k++)
        n += live(&L->s[L->rows[k]]);
    return n;
}

static void blk_grow(blk *b, const seg *g)
{
    b->x1 = fminf(b->x1, g->x1), b->y1 = fminf(b->y1, g->y1);
    b->x2 = fmaxf(b->x2, g->x2), b->y2 = fmaxf(b->y2, g->y2);
}

/* A segment that is only a currency sign ("$" printed apart from its
 * amount in a financial statement). */
static int currency_only(const lay *L, const seg *g)
{
    if (g->nw != 1)
        return 0;
    const tw *w = &L->w[g->first];
    static const char *const signs[] = { "$",        "\xE2\x82\xAC", "\xC2\xA3",
                                         "\xC2\xA5", "\xE2\x82\xB9", "US$" };
    for (size_t i = 0; i < sizeof signs / sizeof *signs; i++)
        if (w->len == strlen(signs[i]) && memcmp(w->s, signs[i], w->len) == 0)
            return 1;
    return 0;
}

/* Join Q to the end of P (same row, P before it). */
static void seg_join(lay *L, seg *p, seg *q)
{
    L->w[p->last].next = q->first;
    p->last = q->last;
    p->nw += q->nw;
    p->nbytes += q->nbytes;
    p->x1 = fminf(p->x1, q->x1), p->y1 = fminf(p->y1, q->y1);
    p->x2 = fmaxf(p->x2, q->x2), p->y2 = fmaxf(p->y2, q->y2);
    q->dead = 1;
    vd__tl_seg_finish(L, p);
}

/* A currency sign set apart from the amount after it belongs to it: a
 * column of "$" signs is not a column of the table. */
static void join_currency(lay *L)
{
    for (int r = 0; r < L->nr; r++) {
        int prev = -1;
        for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
            seg *q = &L->s[L->rows[k]];
            if (!live(q))
                continue;
            if (prev >= 0) {
                seg *p = &L->s[prev];
                if (currency_only(L, p) && q->numeric &&
                    q->x1 - p->x2 < 8 * fmaxf(p->size, 1))
                    seg_join(L, p, q);
            }
            if (live(q))
                prev = L->rows[k];
        }
    }
}

/* ---- columns ---- */

typedef struct colr {
    float a, b;
} colr;

/* The table being built: segments of its rows with their row. */
typedef struct piece {
    int si;  /* segment */
    int row; /* table row, then the row it joins */
    int c0, c1;
} piece;

typedef struct tbl {
    lay *L;
    int nrow;  /* table rows (page rows, heads above included) */
    int *prow; /* [nrow] page row of each */
    piece *p;  /* segments of the rows */
    int np, capp;
    colr *col;
    int ncol;
} tbl;

static int cmp_colr(const void *x, const void *y)
{
    const colr *p = x, *q = y;
    return (p->a > q->a) - (p->a < q->a);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The most values of V (sorted here) within TOL of each other. */
static int aligned(float *v, int n, float tol)
{
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    int best = 0;
    for (int i = 0, j = 0; j < n; j++) {
        while (v[j] - v[i] > tol)
            i++;
        if (j - i + 1 > best)
            best = j - i + 1;
    }
    return best;
}

/* Columns. Every gap between two cells of a row is a candidate column
 * boundary; one holds where more rows respect it (leave it open with
 * text edging up to it) than cross it with a segment. A few crossing
 * rows (group labels, a title row, cells run together in monospaced
 * rows) do not merge the columns the others keep apart. Each column is
 * the space between two boundaries; the gap a boundary leaves is what
 * the rows keep open there. */
static vd_status find_columns(tbl *T)
{
    lay *L = T->L;
    int n = T->np;
    /* a: the middle of a gap in a row, b: half its width */
    colr *cand = vd__malloc(L->ctx, ((size_t)n + 1) * sizeof *cand);
    colr *col = vd__malloc(L->ctx, ((size_t)n + 2) * sizeof *col);
    float *starts = vd__malloc(L->ctx, ((size_t)n + 1) * 2 * sizeof *starts);
    float *ends = starts ? starts + n + 1 : NULL;
    if (!cand || !col || !starts) {
        vd__free(cand);
        vd__free(col);
        vd__free(starts);
        return VD_ERR_NOMEM;
    }
    /* pieces are in row order, left to right within a row */
    int nc = 0;
    float lo = 1e30f, hi = -1e30f, em = 1;
    for (int i = 0; i < n; i++) {
        const seg *g = &L->s[T->p[i].si];
        lo = fminf(lo, g->x1), hi = fmaxf(hi, g->x2);
        em = fmaxf(em, g->size);
        if (i + 1 < n && T->p[i + 1].row == T->p[i].row) {
            const seg *h = &L->s[T->p[i + 1].si];
            if (h->x1 - g->x2 > 0.2f * g->size) {
                cand[nc].a = (g->x2 + h->x1) / 2;
                cand[nc++].b = (h->x1 - g->x2) / 2;
            }
        }
    }
    qsort(cand, (size_t)nc, sizeof *cand, cmp_colr);
    int ncol = 0;
    float cur = lo, skip = lo, tol = 0.5f * em;
    for (int k = 0; k < nc; k++) {
        float x = cand[k].a;
        if (x < skip)
            continue; /* inside the last gap taken */
        /* per row: does it cross X; where its text nearest X ends on the
         * left (ends[]) and starts on the right (starts[]) */
        int covers = 0, flank = 0, ne = 0, ns = 0, row = -1, crossed = 0;
        float le = -1e30f, rs = 1e30f, ga = -1e30f, gb = 1e30f;
        for (int i = 0; i <= n; i++) {
            if (i == n || T->p[i].row != row) {
                if (row >= 0) {
                    covers += crossed;
                    if (!crossed) {
                        flank += le > -1e30f && rs < 1e30f;
                        if (le > -1e30f)
                            ends[ne++] = le;
                        if (rs < 1e30f)
                            starts[ns++] = rs;
                    }
                }
                if (i == n)
                    break;
                row = T->p[i].row;
                crossed = 0;
                le = -1e30f, rs = 1e30f;
            }
            const seg *g = &L->s[T->p[i].si];
            if (g->x1 < x && g->x2 > x)
                crossed = 1;
            else if (g->x2 <= x)
                le = fmaxf(le, g->x2);
            else
                rs = fminf(rs, g->x1);
        }
        for (int i = 0; i < ne; i++)
            ga = fmaxf(ga, ends[i]);
        for (int i = 0; i < ns; i++)
            gb = fminf(gb, starts[i]);
        if (ga <= cur || gb >= hi)
            continue;
        /* a gap nobody crosses parts columns; one that some rows cross
         * holds only where more rows line their cells up along it (a
         * column's left edge, right-aligned figures) than cross it: the
         * ragged end of text is no evidence */
        int ok = covers == 0 && flank > 0;
        if (!ok) {
            int al = aligned(starts, ns, tol), ar = aligned(ends, ne, tol);
            ok = (al > ar ? al : ar) >= 2 && (al > ar ? al : ar) > covers;
        }
        if (!ok)
            continue;
        col[ncol++] = (colr){ cur, ga };
        cur = skip = gb;
    }
    col[ncol] = (colr){ cur, hi };
    T->ncol = ncol + 1;
    T->col = col;
    vd__free(cand);
    vd__free(starts);
    return VD_OK;
}

/* Columns segment G lies in: those it overlaps well, else the nearest. */
static void place(const tbl *T, const seg *g, int *c0, int *c1)
{
    *c0 = *c1 = -1;
    float bestd = 1e30f;
    int nearest = 0;
    for (int c = 0; c < T->ncol; c++) {
        const colr *k = &T->col[c];
        float ov = fminf(g->x2, k->b) - fmaxf(g->x1, k->a);
        if (ov > 0.25f * fminf(g->x2 - g->x1, k->b - k->a) ||
            ov > 0.5f * (g->x2 - g->x1)) {
            if (*c0 < 0)
                *c0 = c;
            *c1 = c;
        }
        float d = fabsf((g->x1 + g->x2) / 2 - (k->a + k->b) / 2);
        if (d < bestd)
            bestd = d, nearest = c;
    }
    if (*c0 < 0)
        *c0 = *c1 = nearest;
}

static void seg_bounds(lay *L, seg *g)
{
    g->nw = 0;
    g->nbytes = 0;
    for (int w = g->first; w >= 0; w = L->w[w].next) {
        const tw *x = &L->w[w];
        if (g->nw == 0)
            g->x1 = x->x1, g->y1 = x->y1, g->x2 = x->x2, g->y2 = x->y2;
        g->x1 = fminf(g->x1, x->x1), g->y1 = fminf(g->y1, x->y1);
        g->x2 = fmaxf(g->x2, x->x2), g->y2 = fmaxf(g->y2, x->y2);
        g->nw++;
        g->nbytes += (int)x->len + 1;
        g->last = w;
    }
}

/* Cut segment SI where its words leave the gap between columns C and
 * C + 1 open; the words after become a new segment. Returns it, or -1. */
static int cut_at(lay *L, int si, const colr *left, const colr *right)
{
    seg *g = &L->s[si];
    float tol = 0.15f * fmaxf(g->size, 1);
    for (int w = g->first; w >= 0 && L->w[w].next >= 0; w = L->w[w].next) {
        const tw *a = &L->w[w], *b = &L->w[a->next];
        /* the gap between the words is where the columns part, and
         * wider than a space (a head's words may happen to straddle the
         * gap), or it holds the columns' whole gap */
        int meets = a->x2 <= right->a + tol && b->x1 >= left->b - tol;
        int holds = a->x2 <= left->b + tol && b->x1 >= right->a - tol;
        float wg = b->x1 - a->x2;
        if (meets && (holds || wg > 0.5f * g->size) && L->ns < L->caps) {
            seg *n = &L->s[L->ns];
            *n = *g;
            n->first = a->next;
            L->w[w].next = -1;
            seg_bounds(L, g);
            seg_bounds(L, n);
            vd__tl_seg_finish(L, g);
            vd__tl_seg_finish(L, n);
            n->dead = 0;
            return L->ns++;
        }
    }
    return -1;
}

static vd_status add_piece(tbl *T, int si, int row)
{
    if (T->np == T->capp) {
        int nc = T->capp ? 2 * T->capp : 64;
        piece *np = vd__realloc(T->L->ctx, T->p, (size_t)nc * sizeof *np);
        if (!np)
            return VD_ERR_NOMEM;
        T->p = np;
        T->capp = nc;
    }
    T->p[T->np++] = (piece){ si, row, 0, 0 };
    return VD_OK;
}

/* Each segment into its columns; one lying across column gaps is cut at
 * its word gaps there when it has them. */
static vd_status place_all(tbl *T)
{
    lay *L = T->L;
    for (int i = 0; i < T->np; i++) {
        int c0, c1;
        place(T, &L->s[T->p[i].si], &c0, &c1);
        for (int c = c0; c < c1; c++) {
            int ns = cut_at(L, T->p[i].si, &T->col[c], &T->col[c + 1]);
            if (ns < 0)
                continue;
            vd_status st = add_piece(T, ns, T->p[i].row);
            if (st)
                return st;
            place(T, &L->s[T->p[i].si], &c0, &c1);
            break; /* the new piece is placed in its own turn */
        }
        T->p[i].c0 = c0;
        T->p[i].c1 = c1;
    }
    return VD_OK;
}

/* Columns of running text (many words in nearly every cell) make no
 * table, however well their lines line up. */
static int prose(const tbl *T)
{
    const lay *L = T->L;
    int prose_cols = 0;
    for (int c = 0; c < T->ncol; c++) {
        int cells = 0, words = 0, wordy = 0;
        for (int i = 0; i < T->np; i++) {
            int c0, c1;
            const seg *g = &L->s[T->p[i].si];
            place(T, g, &c0, &c1);
            if (c0 != c || c1 != c)
                continue;
            cells++;
            words += g->nw;
            wordy += g->nw >= 3 && !g->numeric;
        }
        if (cells >= 2 && words > 4 * cells && wordy * 10 >= cells * 7)
            prose_cols++;
    }
    /* two columns, one of running text: notes or a list with their
     * numbers set apart */
    int cells = 0, words = 0;
    for (int i = 0; i < T->np; i++) {
        cells++;
        words += L->s[T->p[i].si].nw;
    }
    return prose_cols >= 2 || (T->ncol == 2 && words > 5 * cells);
}

/* ---- rows of the table ---- */

static int cmp_piece(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    if (x->row != y->row)
        return x->row - y->row;
    if (x->c0 != y->c0)
        return x->c0 - y->c0;
    return 0;
}

/* Lines wrapped inside a cell come as rows of their own with only some
 * columns filled. Where the table sets its records apart (a clear gap
 * between rows), a row that follows its neighbour much closer than that
 * and fills only columns that row fills continues it. ROWMAP[r] gets the
 * row that R joins. */
static void join_wrapped(const tbl *T, int heads, int *rowmap)
{
    const lay *L = T->L;
    int n = T->nrow;
    for (int r = 0; r < n; r++)
        rowmap[r] = r;
    if (T->ncol > 64 || n < 3)
        return;
    float *top = vd__malloc(NULL, (size_t)n * 2 * sizeof *top);
    uint64_t *mask = vd__calloc(NULL, (size_t)n, sizeof *mask);
    if (!top || !mask) {
        vd__free(top);
        vd__free(mask);
        return;
    }
    float *bot = top + n, lh = 0;
    for (int r = 0; r < n; r++)
        top[r] = 1e30f, bot[r] = -1e30f;
    for (int i = 0; i < T->np; i++) {
        const seg *g = &L->s[T->p[i].si];
        int r = T->p[i].row;
        top[r] = fminf(top[r], g->y1);
        bot[r] = fmaxf(bot[r], g->y2);
        for (int c = T->p[i].c0; c <= T->p[i].c1; c++)
            mask[r] |= 1ull << c;
        lh = fmaxf(lh, fminf(g->y2 - g->y1, 3 * g->size));
    }
    /* a wrapped line fills only columns its row fills, never the first
     * (the record's number or label) */
    uint8_t *cand = vd__calloc(NULL, (size_t)n, 1);
    float *gaps = vd__malloc(NULL, (size_t)n * sizeof *gaps);
    int ng = 0;
    for (int r = 1; cand && gaps && r < n; r++) {
        uint64_t m = mask[r], pm = mask[r - 1];
        cand[r] = (m & ~pm) == 0 && m != pm && !(m & 1) && (pm & 1);
        if (!cand[r])
            gaps[ng++] = top[r] - bot[r - 1];
    }
    /* records set apart: the usual gap between records is clear */
    float rec = 0;
    if (ng > 0) {
        for (int i = 1; i < ng; i++) { /* few rows: insertion sort */
            float v = gaps[i];
            int j = i;
            for (; j > 0 && gaps[j - 1] > v; j--)
                gaps[j] = gaps[j - 1];
            gaps[j] = v;
        }
        rec = gaps[ng / 2];
    }
    /* heads on two lines ("to air" over "kg/year") are one head: tight
     * rows of heads whose columns the row above has */
    for (int r = 1, group = 0; r < heads; r++) {
        if ((mask[r] & ~mask[group]) == 0 && top[r] - bot[r - 1] < 0.3f * lh)
            rowmap[r] = group;
        else
            group = r;
    }
    if (cand && gaps && rec >= 0.25f * lh) {
        int group = heads;
        for (int r = heads + 1; r < n; r++) {
            float gap = top[r] - bot[r - 1];
            uint64_t m = mask[r], gm = mask[group];
            if ((cand[r] || rowmap[r - 1] != r - 1) && (m & ~gm) == 0 &&
                !(m & 1) && gap < 0.45f * rec && gap < 0.3f * lh) {
                rowmap[r] = group;
                continue;
            }
            group = r;
        }
    }
    vd__free(cand);
    vd__free(gaps);
    vd__free(top);
    vd__free(mask);
}

/* A column head that is a date or a year ("2024", "Jan 26, 2025", "FY
 * 2023"): figures, but not data. */
static int year_like(const lay *L, const seg *g)
{
    int years = 0;
    for (int w = g->first; w >= 0; w = L->w[w].next) {
        const tw *x = &L->w[w];
        int dig = 0, other = 0;
        for (uint32_t k = 0; k < x->len; k++) {
            unsigned char ch = (unsigned char)x->s[k];
            if (ch >= '0' && ch <= '9')
                dig++;
            else if (!strchr(",.()", ch) || k + 1 < x->len)
                other += !((ch | 32) >= 'a' && (ch | 32) <= 'z');
        }
        if (dig == 4 && other == 0 && (x->s[0] == '1' || x->s[0] == '2'))
            years++;
        else if (dig > 2 || (dig && other))
            return 0;
    }
    return years > 0;
}

/* Rows before the data are heads: those with an empty first column (the
 * stub above the row labels) or without a figure, ahead of the first row
 * holding both a label and figures; at most MAX_HEAD_ROWS. */
static int head_rows(const tbl *T, const int *rowmap)
{
    const lay *L = T->L;
    int heads = 0, labels = 0;
    for (int r = 0; r < T->nrow; r++) {
        if (rowmap[r] != r)
            continue;
        int first = 0, num = 0, any = 0;
        for (int i = 0; i < T->np; i++) {
            if (rowmap[T->p[i].row] != r)
                continue;
            const seg *g = &L->s[T->p[i].si];
            any = 1;
            first |= T->p[i].c0 == 0;
            num |= g->numeric && T->p[i].c0 > 0 && !year_like(L, g);
        }
        if (!any)
            continue;
        if (first && num)
            return heads <= MAX_HEAD_ROWS ? heads : 0;
        if (first && ++labels > 1)
            return 0;
        heads = r + 1;
    }
    return 0; /* no data rows: nothing tells the heads apart */
}

/* A head over a finer row of heads names a group of columns: of the
 * runs of free figure columns around the one it was placed in, the run
 * it stands centred over (the widest of those equally well centred; a
 * rule under the group is not in the text). */
static void widen_head(const tbl *T, const uint8_t *numcol, cell *c,
                       const cell *row, int nrowc)
{
    const lay *L = T->L;
    float x1 = 1e30f, x2 = -1e30f, em = 1;
    for (int s = c->first; s >= 0; s = L->s[s].next) {
        x1 = fminf(x1, L->s[s].x1), x2 = fmaxf(x2, L->s[s].x2);
        em = fmaxf(em, L->s[s].size);
    }
    /* the free run around the cell */
    int lo = c->col, hi = c->col + c->span - 1;
    for (;;) {
        int free_lo = lo > 0 && numcol[lo - 1],
            free_hi = hi + 1 < T->ncol && numcol[hi + 1];
        for (int i = 0; i < nrowc; i++) {
            const cell *o = &row[i];
            int e = o->col + o->span - 1;
            if (o == c)
                continue;
            if (o->col <= lo - 1 && e >= lo - 1)
                free_lo = 0;
            if (o->col <= hi + 1 && e >= hi + 1)
                free_hi = 0;
        }
        if (!free_lo && !free_hi)
            break;
        lo -= free_lo;
        hi += free_hi;
    }
    float mid = (x1 + x2) / 2, best = 1e30f;
    int b0 = c->col, b1 = c->col + c->span - 1;
    for (int i = lo; i <= c->col; i++)
        for (int j = c->col + c->span - 1; j <= hi; j++) {
            float d = fabsf((T->col[i].a + T->col[j].b) / 2 - mid);
            /* the text must fit over the run */
            if (x2 - x1 > T->col[j].b - T->col[i].a + 2 * em)
                continue;
            if (d < best - 0.5f * em ||
                (d < best + 0.5f * em && j - i > b1 - b0)) {
                best = fminf(best, d);
                b0 = i, b1 = j;
            }
        }
    c->col = b0;
    c->span = b1 - b0 + 1;
}

/* ---- a table from rows ---- */

static vd_status make_table(lay *L, int r0, int r1, int *ok)
{
    *ok = 0;
    tbl T;
    memset(&T, 0, sizeof T);
    T.L = L;
    int *rowmap = NULL;
    vd_status st = VD_OK;
    int nrow = r1 - r0 + 1 + MAX_HEAD_ABOVE;
    T.prow = vd__malloc(L->ctx, (size_t)nrow * sizeof *T.prow);
    if (!T.prow)
        return VD_ERR_NOMEM;
    for (int r = r0; r <= r1 && st == VD_OK; r++) {
        T.prow[T.nrow] = r;
        for (int k = L->rs[r]; k < L->rs[r + 1] && st == VD_OK; k++)
            if (live(&L->s[L->rows[k]]))
                st = add_piece(&T, L->rows[k], T.nrow);
        T.nrow++;
    }
    if (st == VD_OK)
        st = find_columns(&T);
    if (st || T.ncol < 2 || prose(&T))
        goto out;

    /* short heads just above the first row, clear of the label column
     * and within the table (a caption starts at the margin) */
    int above = 0;
    if (T.ncol >= 3) {
        float top = row_top(L, r0), em = L->s[T.p[0].si].size;
        for (int r = r0 - 1; r >= 0 && above < MAX_HEAD_ABOVE; r--) {
            int n = 0, fits = 1;
            float bot = row_bot(L, r);
            for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
                const seg *g = &L->s[L->rows[k]];
                if (!live(g))
                    continue;
                if (g->blk >= 0)
                    n = 99;
                const tw *lw = &L->w[g->last];
                char endc = lw->len ? lw->s[lw->len - 1] : 0;
                n++;
                fits &= g->nw <= 5 && endc != '.' && endc != ':' &&
                        g->x1 > T.col[0].b &&
                        g->x2 <= T.col[T.ncol - 1].b + em &&
                        g->size <= 1.25f * em;
            }
            if (n == 0 || n >= T.ncol || !fits || top - bot > 1.5f * em)
                break;
            top = row_top(L, r);
            above++;
        }
        if (above) {
            /* rows renumbered: the heads first */
            for (int i = 0; i < T.np; i++)
                T.p[i].row += above;
            memmove(T.prow + above, T.prow, (size_t)T.nrow * sizeof *T.prow);
            for (int a = 0; a < above; a++) {
                int r = r0 - above + a;
                T.prow[a] = r;
                for (int k = L->rs[r]; k < L->rs[r + 1] && st == VD_OK; k++)
                    if (live(&L->s[L->rows[k]]))
                        st = add_piece(&T, L->rows[k], a);
            }
            T.nrow += above;
            if (st)
                goto out;
        }
    }
    st = place_all(&T);
    if (st)
        goto out;
    rowmap = vd__malloc(L->ctx, (size_t)T.nrow * sizeof *rowmap);
    if (!rowmap) {
        st = VD_ERR_NOMEM;
        goto out;
    }
    for (int r = 0; r < T.nrow; r++)
        rowmap[r] = r;
    int heads = head_rows(&T, rowmap);
    join_wrapped(&T, heads, rowmap);
    for (int i = 0; i < T.np; i++)
        T.p[i].row = rowmap[T.p[i].row];
    /* cells: pieces of a row in column order; pieces whose columns meet
     * one cell's (wrapped lines, a long label) join it, top to bottom */
    qsort(T.p, (size_t)T.np, sizeof *T.p, cmp_piece);
    int cell0 = L->nc;
    for (int i = 0; i < T.np; i++) {
        piece *pc = &T.p[i];
        /* the earlier cell of this row that these columns fall in */
        cell *in = NULL;
        for (int j = L->nc - 1; j >= cell0 && L->c[j].row == pc->row; j--)
            if (L->c[j].col <= pc->c1 &&
                L->c[j].col + L->c[j].span - 1 >= pc->c0)
                in = &L->c[j];
        if (in) {
            /* insert by position: top to bottom, then along the line */
            const seg *g = &L->s[pc->si];
            int *link = &in->first;
            while (*link >= 0) {
                const seg *o = &L->s[*link];
                if (g->y1 > o->y2 - 0.3f * (o->y2 - o->y1) ||
                    (fabsf(vd__tl_vc(g) - vd__tl_vc(o)) <
                         0.3f * (o->y2 - o->y1) &&
                     g->x1 > o->x1))
                    link = &L->s[*link].next;
                else
                    break;
            }
            L->s[pc->si].next = *link;
            *link = pc->si;
            if (L->s[pc->si].next < 0)
                in->last = pc->si;
            int e = pc->c1 > in->col + in->span - 1 ? pc->c1
                                                    : in->col + in->span - 1;
            if (pc->c0 < in->col)
                in->col = pc->c0;
            in->span = e - in->col + 1;
            continue;
        }
        if (L->nc == L->capc) {
            int nc = L->capc ? L->capc * 2 : 64;
            cell *ncl = vd__realloc(L->ctx, L->c, (size_t)nc * sizeof *ncl);
            if (!ncl) {
                st = VD_ERR_NOMEM;
                goto out;
            }
            L->c = ncl;
            L->capc = nc;
        }
        L->s[pc->si].next = -1;
        L->c[L->nc++] = (cell){ pc->row, pc->c0, pc->c1 - pc->c0 + 1,
                                pc->si,  pc->si, (uint8_t)(pc->row < heads) };
    }
    if (L->nc == cell0)
        goto out;
    /* the rows that remain, numbered from 0 */
    int nout = 0, last = -1;
    for (int i = cell0; i < L->nc; i++) {
        if (L->c[i].row != last) {
            last = L->c[i].row;
            nout++;
        }
        L->c[i].row = nout - 1;
    }
    /* under head rows, a first column of short labels (or numbers) on
     * nearly every row heads its row (<th>: "Research and development"
     * for the figures beside it) */
    if (heads > 0 && T.ncol >= 3) {
        int rows = 0, labels = 0, last_row = -1;
        for (int i = cell0; i < L->nc; i++) {
            cell *c = &L->c[i];
            if (c->head || c->row == last_row)
                continue;
            last_row = c->row;
            rows++;
            int words = 0;
            for (int si = c->first; si >= 0; si = L->s[si].next)
                words += L->s[si].nw;
            labels += c->col == 0 && c->span == 1 && words <= 8;
        }
        if (rows >= 2 && labels * 10 >= rows * 6)
            for (int i = cell0; i < L->nc; i++)
                if (L->c[i].col == 0 && L->c[i].span == 1)
                    L->c[i].head = 1;
    }
    /* heads over figure columns widen to the group they stand over */
    uint8_t *numcol = vd__calloc(L->ctx, (size_t)T.ncol, 1);
    if (!numcol) {
        st = VD_ERR_NOMEM;
        goto out;
    }
    for (int c = 0; c < T.ncol; c++) {
        int num = 0, all = 0;
        for (int i = cell0; i < L->nc; i++)
            if (!L->c[i].head && L->c[i].col == c && L->c[i].span == 1) {
                all++;
                num += L->s[L->c[i].first].numeric;
            }
        numcol[c] = all > 0 && num * 2 > all;
    }
    for (int i = cell0; i < L->nc; i++) {
        if (!L->c[i].head)
            continue;
        /* only a head over a finer row of heads groups columns */
        int here = 0, finer = 0;
        for (int j = cell0; j < L->nc; j++) {
            here += L->c[j].row == L->c[i].row;
            if (L->c[j].head && L->c[j].row > L->c[i].row) {
                int n = 0;
                for (int k = cell0; k < L->nc; k++)
                    n += L->c[k].row == L->c[j].row;
                finer |= n;
            }
        }
        int most = 0;
        for (int j = cell0; j < L->nc; j++)
            if (L->c[j].head && L->c[j].row > L->c[i].row) {
                int n = 0;
                for (int k = cell0; k < L->nc; k++)
                    n += L->c[k].row == L->c[j].row;
                most = n > most ? n : most;
            }
        if (!finer || most <= here)
            continue;
        int r0c = i, r1c = i;
        while (r0c > cell0 && L->c[r0c - 1].row == L->c[i].row)
            r0c--;
        while (r1c + 1 < L->nc && L->c[r1c + 1].row == L->c[i].row)
            r1c++;
        widen_head(&T, numcol, &L->c[i], &L->c[r0c], r1c - r0c + 1);
    }
    vd__free(numcol);
    blk *b = vd__tl_new_blk(L, VD__TL_TABLE);
    if (!b) {
        st = VD_ERR_NOMEM;
        goto out;
    }
    b->cell0 = cell0;
    b->ncell = L->nc - cell0;
    b->nrow = nout;
    b->ncol = T.ncol;
    for (int i = cell0; i < L->nc; i++)
        for (int s = L->c[i].first; s >= 0; s = L->s[s].next) {
            blk_grow(b, &L->s[s]);
            L->s[s].blk = L->nb - 1;
        }
    *ok = 1;
out:
    vd__free(rowmap);
    vd__free(T.prow);
    vd__free(T.p);
    vd__free(T.col);
    return st;
}

vd_status vd__tl_tables(lay *L)
{
    int nr = L->nr;
    join_currency(L);
    int r = 0;
    while (r < nr) {
        if (!row_cellular(L, r)) {
            r++;
            continue;
        }
        int r1 = r, cellular = 1;
        float h = row_bot(L, r) - row_top(L, r);
        for (int q = r + 1; q < nr; q++) {
            int n = row_live(L, q);
            if (!n)
                continue;
            float gap = row_top(L, q) - row_bot(L, r1);
            if (gap > 2.5f * fmaxf(h, 1))
                break;
            if (row_cellular(L, q)) {
                r1 = q;
                cellular++;
                continue;
            }
            /* a one-cell row (wrapped text, a group label) may sit inside
             * a table, but not a line of prose */
            if (n == 1 && q + 1 < nr && row_cellular(L, q + 1)) {
                const seg *g = NULL;
                for (int k = L->rs[q]; k < L->rs[q + 1]; k++)
                    if (live(&L->s[L->rows[k]]))
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
            vd_status st = make_table(L, r, r1, &ok);
            if (st)
                return st;
        }
        r = r1 + 1;
    }
    return VD_OK;
}

/* Engine "text", layout stage 4: runs of rows whose segments line up in
 * columns -> tables with cells, column spans and header rows. */
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
                (cell){ r - r0, c0, c1 - c0 + 1, L->rows[k], L->rows[k], 0 };
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
    blk *b = vd__tl_new_blk(L, VD__TL_TABLE);
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

vd_status vd__tl_tables(lay *L)
{
    const int *rs = L->rs;
    int nr = L->nr;
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


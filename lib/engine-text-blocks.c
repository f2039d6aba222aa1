/* Engine "text", layout stage 5: the segments no table took -> paragraphs
 * (lines joined by pitch, alignment and size) and list items, then
 * headings from size and weight. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-text-layout.h"

typedef vd__tl_word tw;
typedef vd__tl_seg seg;
typedef vd__tl_blk blk;
typedef vd__tl_lay lay;

blk *vd__tl_new_blk(lay *L, int kind)
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

/* ---- paragraphs, headings, list items ---- */

/* qsort has no context argument in C11; keep the segments per thread */
static _Thread_local const seg *sort_segs;
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
    if (b->kind == VD__TL_TABLE || b->kind == VD__TL_FURN || g->marker)
        return 0;
    if (g->y1 < last->y1 + 0.3f * lh)
        return 0;
    float dv = g->y1 - last->y2;
    if (dv > 0.85f * lh)
        return 0;
    if (fabsf(g->size - b->size) > 0.12f * fmaxf(g->size, b->size) + 0.3f)
        return 0;
    if (g->bold != last->bold && b->kind != VD__TL_ITEM)
        return 0;
    float ov = fminf(g->x2, b->x2) - fmaxf(g->x1, b->x1);
    if (ov < 0.5f * fminf(g->x2 - g->x1, b->x2 - b->x1))
        return 0;
    if (b->kind == VD__TL_ITEM && g->x1 < b->body_x - 0.6f * em)
        return 0;
    if (b->kind != VD__TL_ITEM && g->x1 < b->x1 - 1.5f * em)
        return 0;
    /* a line in another size, far left of the one under it (a
     * right-aligned credit line over a column), is not that paragraph's
     * first line; a hanging indent is narrower, the lines of a centred
     * or right-aligned block share their size */
    if (b->kind == VD__TL_PARA && b->nlines == 1 && g->x1 > b->x1 + 3 * em &&
        fabsf(g->size - b->size) > 0.05f * fmaxf(g->size, b->size))
        return 0;
    if (b->nlines >= 2 &&
        fabsf((vd__tl_vc(g) - vd__tl_vc(last)) - b->pitch) > 0.3f * lh)
        return 0;
    if (b->kind == VD__TL_PARA && b->nlines >= 2 &&
        g->x1 > b->body_x + 0.8f * em)
        return 0; /* an indented first line */
    if (b->kind == VD__TL_PARA && b->nlines >= 3 && b->justified >= 2 &&
        last->x2 < b->right - 4 * em && g->x1 < b->body_x + 0.5f * em)
        return 0; /* the line before ended short: a paragraph ended */
    return 1;
}

void vd__tl_blk_add(lay *L, blk *b, int si)
{
    seg *g = &L->s[si];
    if (b->last < 0) {
        b->first = si;
        b->size = g->size;
        b->bold = g->bold;
        b->body_x = b->kind == VD__TL_ITEM ? g->text_x : g->x1;
        b->right = g->x2;
    } else {
        const seg *last = &L->s[b->last];
        L->s[b->last].next = si;
        if (b->nlines == 1) {
            b->pitch = vd__tl_vc(g) - vd__tl_vc(last);
            if (b->kind != VD__TL_ITEM)
                b->body_x = g->x1;
        }
        if (b->kind != VD__TL_ITEM)
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

vd_status vd__tl_blocks(lay *L)
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
            if (b->kind == VD__TL_TABLE || b->kind == VD__TL_FURN ||
                b->last < 0)
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
            b = vd__tl_new_blk(L, g->marker ? VD__TL_ITEM : VD__TL_PARA);
            if (!b)
                return VD_ERR_NOMEM;
            b->ordered = g->marker == 2;
        }
        vd__tl_blk_add(L, b, si);
    }
    return VD_OK;
}

/* A numbered item standing alone, set like a heading ("2. Pythagorean
 * Theorem" in bold): no item of its kind lines up with it nearby. */
static int lone_item(const lay *L, const blk *b)
{
    float lh = b->nlines ? (b->y2 - b->y1) / b->nlines : 0;
    for (int i = 0; i < L->nb; i++) {
        const blk *o = &L->b[i];
        if (o == b || o->kind != VD__TL_ITEM || o->ordered != b->ordered)
            continue;
        float dy = o->y1 > b->y2 ? o->y1 - b->y2 : b->y1 - o->y2;
        if (fabsf(o->x1 - b->x1) < 1.5f * fmaxf(b->size, 1) &&
            dy < 3 * fmaxf(lh, b->size))
            return 0;
    }
    return 1;
}

/* Headings from the block's size against the document's, or bold body
 * text standing alone in a short block; never a formula (an "=" or math
 * signs, few letters) nor a run of sentences (long, ending in a full
 * stop). */
void vd__tl_classify(lay *L, const vd__tl_doc *d)
{
    float body = L->body;
    for (int i = 0; i < L->nb; i++) {
        blk *b = &L->b[i];
        int item = b->kind == VD__TL_ITEM && b->ordered;
        if ((b->kind != VD__TL_PARA && !item) || b->nlines > 3)
            continue;
        int bytes = 0, alpha = 0, other = 0, words = 0, math = 0;
        for (int s = b->first; s >= 0; s = L->s[s].next) {
            bytes += L->s[s].nbytes;
            words += L->s[s].nw;
            for (int w = L->s[s].first; w >= 0; w = L->w[w].next)
                for (uint32_t k = 0; k < L->w[w].len; k++) {
                    const char *p = L->w[w].s + k;
                    unsigned char c = (unsigned char)*p;
                    if ((c & 0xC0) == 0x80)
                        continue;
                    uint32_t u =
                        c < 0x80 ? c : vd__tl_utf8_first(p, L->w[w].len - k);
                    /* letters of any script; not punctuation, symbols,
                     * CJK or full-width punctuation */
                    int letter = (u | 32) - 'a' < 26u ||
                                 (u >= 0xC0 && !(u >= 0x2000 && u < 0x2C00) &&
                                  !(u >= 0x3000 && u < 0x3040) &&
                                  !(u >= 0xFF00 && u < 0xFF10) &&
                                  !(u >= 0xFF1A && u < 0xFF21));
                    alpha += letter;
                    other += !letter && !(u >= '0' && u <= '9') &&
                             !(u >= 0xFF10 && u < 0xFF1A);
                    math += u == '=' || (u >= 0x2200 && u < 0x2300);
                }
        }
        if (alpha < 2 || bytes > 200 || math || alpha < other)
            continue;
        const seg *ls = &L->s[b->last];
        const tw *lw = &L->w[ls->last];
        char endc = lw->len ? lw->s[lw->len - 1] : 0;
        if (endc == '.' && words > 6)
            continue; /* a sentence */
        if (item && !((b->bold || b->size >= body * 1.1f) && bytes <= 120 &&
                      b->nlines == 1 && lone_item(L, b)))
            continue;
        int nh = d && d->nhead ? d->nhead : 0;
        if (body > 0 && b->size >= body * 1.15f) {
            int level = 1;
            for (int h = 0; h < nh; h++)
                if (b->size < d->head_sizes[h] - 0.3f)
                    level = h + 2;
            b->kind = VD__TL_HEAD;
            b->level = level > 3 ? 3 : level;
        } else if (b->bold && body > 0 && b->size >= body * 0.95f &&
                   b->nlines <= 2 && bytes <= 120 && endc != '.' &&
                   endc != ',' && endc != ';') {
            b->kind = VD__TL_HEAD;
            b->level = nh + 1 > 3 ? 3 : nh + 1;
        }
    }
}

/* Small print below the text that starts with a note mark. */

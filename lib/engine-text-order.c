/* Engine "text", layout stage 6: reading order of a page's blocks by
 * Breuel's rules (columns top to bottom, left to right; full-width blocks
 * between column runs). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-text-layout.h"

typedef vd__tl_blk blk;
typedef vd__tl_lay lay;

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
        if (k == a || k == c || C->kind == VD__TL_FURN)
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

vd_status vd__tl_order(lay *L, int *order, int *n_out)
{
    int n = 0;
    for (int i = 0; i < L->nb; i++)
        if (L->b[i].kind != VD__TL_FURN)
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
        if (L->b[i].kind != VD__TL_FURN)
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

/* Engine "text", layout stages 1 and 2: Poppler's words -> segments (words
 * on one baseline with no wide gap, cut where a table cell or a column
 * ends) -> rows (segments on one baseline band). Works in the frame of a
 * writing direction, so turned and right-to-left text reads like upright
 * left-to-right text to the later stages. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <fribidi.h>

#include "engine-text-layout.h"

typedef vd__tl_word tw;
typedef vd__tl_seg seg;
typedef vd__tl_cell cell;
typedef vd__tl_blk blk;
typedef vd__tl_lay lay;

/* ---- frames ---- */

void vd__tl_to_frame(int f, double W, double H, const float *in, float *o)
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
    if (f & VD__TL_MIRROR) {
        float along = (float)((f & 1) ? H : W), a = o[0];
        o[0] = along - o[2];
        o[2] = along - a;
    }
}

void vd__tl_from_frame(int f, double W, double H, const float *in, float *o)
{
    float u1 = in[0], v1 = in[1], u2 = in[2], v2 = in[3];
    if (f & VD__TL_MIRROR) {
        float along = (float)((f & 1) ? H : W), u = u1;
        u1 = along - u2;
        u2 = along - u;
    }
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

uint32_t vd__tl_utf8_first(const char *s, uint32_t len)
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
int vd__tl_marker(const tw *w)
{
    const char *s = w->s;
    size_t n = w->len;
    uint32_t c = vd__tl_utf8_first(s, w->len);
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

void vd__tl_lay_free(lay *L)
{
    vd__free(L->w);
    vd__free(L->s);
    vd__free(L->rows);
    vd__free(L->rs);
    vd__free(L->b);
    vd__free(L->c);
    memset(L, 0, sizeof *L);
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

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Character-weighted size, boldness, numeric content and list marker. */
void vd__tl_seg_finish(lay *L, seg *g)
{
    float best = 0;
    int bold = 0, all = 0, num = 0, rtl = 0;
    /* size: the one covering most bytes; words are few per segment, and
     * nearly always of one size */
    int uniform = 1;
    for (int i = L->w[g->first].next; i >= 0 && uniform; i = L->w[i].next)
        uniform = fabsf(L->w[i].size - L->w[g->first].size) < 0.3f;
    if (uniform)
        best = L->w[g->first].size;
    for (int i = g->first; i >= 0 && !uniform; i = L->w[i].next) {
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
    /* the line's middle and height from its words' medians */
    float t[32], b[32];
    int n = 0, same = 1;
    const tw *w0 = &L->w[g->first];
    for (int i = g->first; i >= 0 && n < 32; i = L->w[i].next) {
        t[n] = L->w[i].y1, b[n++] = L->w[i].y2;
        same &= fabsf(L->w[i].y1 - w0->y1) < 0.01f &&
                fabsf(L->w[i].y2 - w0->y2) < 0.01f;
    }
    if (same) { /* the common case: one font, one baseline */
        g->vc = (w0->y1 + w0->y2) / 2;
        g->lh = w0->y2 - w0->y1;
    } else if (n > 2) {
        float tm = vd__tl_median(t, n), bm = vd__tl_median(b, n);
        g->vc = (tm + bm) / 2;
        g->lh = bm - tm;
    } else {
        g->vc = (g->y1 + g->y2) / 2;
        g->lh = g->y2 - g->y1;
    }
    g->bold = all > 0 && bold * 10 >= all * 9;
    g->rtl = rtl * 2 > all;
    g->numeric = num * 2 > g->nw || (g->nw <= 2 && num > 0);
    g->marker = 0;
    g->text_x = g->x1;
    if (g->nw >= 2 && (!g->rtl || (L->frame & VD__TL_MIRROR))) {
        g->marker = (uint8_t)vd__tl_marker(w0);
        if (g->marker)
            g->text_x = L->w[w0->next].x1;
    }
}

static int push_seg(lay *L, const seg *g)
{
    L->s[L->ns] = *g;
    return L->ns++;
}

/* Words of a line come left to right in the frame (right-to-left lines
 * are put so before they are cut). */
static float word_gap(const tw *p, const tw *w)
{
    return w->x1 - p->x2;
}

static float median(float *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    return v[n / 2];
}

/* ---- right-to-left lines ---- */

static uint32_t utf8_next(const char *s, uint32_t len, uint32_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    uint32_t left = len - *i, c = u[0], n = 1;
    if (c >= 0xF0 && left >= 4)
        c = ((c & 7u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) |
            (u[3] & 0x3Fu),
        n = 4;
    else if (c >= 0xE0 && left >= 3)
        c = ((c & 0xFu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu), n = 3;
    else if (c >= 0xC0 && left >= 2)
        c = ((c & 0x1Fu) << 6) | (u[1] & 0x3Fu), n = 2;
    *i += n;
    return c;
}

static _Thread_local const tw *sort_words;
static int cmp_word_x(const void *a, const void *b)
{
    const tw *x = &sort_words[*(const int *)a],
             *y = &sort_words[*(const int *)b];
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}

/* Put the words of segment G in logical (reading) order. A line holding
 * right-to-left script is only known by where its words sit: Poppler
 * reverses the letters of each word into logical order but orders the
 * words of a line by its own rules. The words left to right on the page
 * spell the line's visual order; the Unicode Bidirectional Algorithm
 * (FriBidi) run on it gives back the logical order, since its reordering
 * of a line undoes itself (the levels of letters and digits do not depend
 * on which way the line is read). Left as they are on failure. */
static void bidi_order(lay *L, seg *g)
{
    int n = g->nw;
    if (n < 2)
        return;
    int *ix = vd__malloc(NULL, (size_t)n * sizeof *ix);
    if (!ix)
        return;
    size_t nch = 0;
    int k = 0, rtl = 0, ltr = 0;
    for (int w = g->first; w >= 0 && k < n; w = L->w[w].next) {
        ix[k++] = w;
        nch += L->w[w].len + 1;
        if (L->w[w].flags & VD__PDF_RTL)
            rtl += (int)L->w[w].len;
        else
            ltr += (int)L->w[w].len;
    }
    FriBidiChar *str = vd__malloc(NULL, nch * sizeof *str);
    int *owner = vd__malloc(NULL, nch * sizeof *owner);
    FriBidiCharType *types = vd__malloc(NULL, nch * sizeof *types);
    FriBidiBracketType *br = vd__malloc(NULL, nch * sizeof *br);
    FriBidiLevel *lev = vd__malloc(NULL, nch * sizeof *lev);
    FriBidiStrIndex *map = vd__malloc(NULL, nch * sizeof *map);
    if (!str || !owner || !types || !br || !lev || !map || k != n)
        goto out;
    /* the page's left-to-right order: the frame's, or its mirror */
    sort_words = L->w;
    qsort(ix, (size_t)n, sizeof *ix, cmp_word_x);
    int mirror = (L->frame & VD__TL_MIRROR) != 0;
    size_t m = 0;
    for (int v = 0; v < n; v++) {
        int wi = ix[mirror ? n - 1 - v : v];
        const tw *x = &L->w[wi];
        size_t at = m;
        for (uint32_t b = 0; b < x->len;) {
            owner[m] = wi;
            str[m++] = utf8_next(x->s, x->len, &b);
        }
        if (x->flags & VD__PDF_RTL) /* its letters as drawn */
            for (size_t a = at, z = m - 1; a < z; a++, z--) {
                FriBidiChar c = str[a];
                str[a] = str[z], str[z] = c;
            }
        if (v + 1 < n)
            owner[m] = -1, str[m++] = ' ';
    }
    FriBidiParType base =
        rtl > ltr || (mirror && rtl == ltr) ? FRIBIDI_PAR_RTL : FRIBIDI_PAR_LTR;
    fribidi_get_bidi_types(str, (FriBidiStrIndex)m, types);
    fribidi_get_bracket_types(str, (FriBidiStrIndex)m, types, br);
    if (!fribidi_get_par_embedding_levels_ex(types, br, (FriBidiStrIndex)m,
                                             &base, lev))
        goto out;
    for (size_t i = 0; i < m; i++)
        map[i] = (FriBidiStrIndex)i;
    if (!fribidi_reorder_line(FRIBIDI_FLAGS_DEFAULT, types, (FriBidiStrIndex)m,
                              0, base, lev, NULL, map))
        goto out;
    /* words in the order their first letters come */
    int prev = -1;
    k = 0;
    for (size_t i = 0; i < m; i++) {
        int wi = owner[map[i]];
        if (wi < 0 || L->w[wi].next == -2)
            continue;
        if (prev < 0)
            g->first = wi;
        else
            L->w[prev].next = wi;
        L->w[wi].next = -2; /* placed */
        prev = wi;
        k++;
    }
    if (prev >= 0)
        L->w[prev].next = -1;
    g->last = prev;
out:
    vd__free(ix);
    vd__free(str);
    vd__free(owner);
    vd__free(types);
    vd__free(br);
    vd__free(lev);
    vd__free(map);
}

/* Small capitals: only capital letters and figures. */
static int capitals(const tw *w)
{
    for (uint32_t i = 0; i < w->len; i++)
        if (!((w->s[i] >= 'A' && w->s[i] <= 'Z') ||
              (w->s[i] >= '0' && w->s[i] <= '9')))
            return 0;
    return w->len > 0;
}

static float word_vc(const tw *w)
{
    return (w->y1 + w->y2) / 2;
}

/* Is the word one letter (a drop cap, not a dash or a bullet)? */
static int one_letter(const tw *w)
{
    uint32_t c = vd__tl_utf8_first(w->s, w->len);
    size_t cl = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    return w->len == cl && ((c | 32) - 'a' < 26u || (c >= 0xC0 && c < 0x250));
}

/* Words of direction DIR -> segments: Poppler's lines cut where a gap
 * is wider than a space can be (table cells, columns, tab stops). */
static vd_status build_segments(lay *L, const uint8_t *dir, int want)
{
    const vd__pdf_text *t = L->t;
    L->w = vd__malloc(L->ctx, (t->nwords + 1) * sizeof *L->w);
    /* later stages may cut segments in two (table cells), never more
     * often than there are words */
    L->caps = 2 * ((int)t->nwords + 1);
    L->s = vd__malloc(L->ctx, (size_t)L->caps * sizeof *L->s);
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
        vd__tl_to_frame(L->frame, t->page_w, t->page_h, box, fb);
        w->x1 = fb[0], w->y1 = fb[1], w->x2 = fb[2], w->y2 = fb[3];
        w->size = pw->size > 0.5f ? pw->size : fb[3] - fb[1];
        w->s = t->utf8 + pw->off;
        w->len = pw->len;
        w->flags = pw->flags;
        w->line_end = pw->line_end;
        w->glue = 0;
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
        /* a line with right-to-left script: Poppler's word order is not
         * the page's; cut it where the page shows gaps, left to right in
         * the frame, and order each piece's words afterwards */
        int bidi = (L->frame & VD__TL_MIRROR) != 0;
        for (int k = i; k <= j && !bidi; k++)
            bidi = (L->w[k].flags & VD__PDF_RTL) != 0;
        if (bidi && j > i) {
            for (int k = i + 1; k <= j; k++) { /* lines are short */
                tw x = L->w[k];
                int m = k;
                for (; m > i && L->w[m - 1].x1 > x.x1; m--)
                    L->w[m] = L->w[m - 1];
                L->w[m] = x;
            }
            for (int k = i; k <= j; k++)
                L->w[k].line_end = k == j;
        }
        int first_seg = L->ns;
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
                int keep = g.nw == 1 && vd__tl_marker(&L->w[g.first]) &&
                           gap < 4 * em && gap > -0.2f * em;
                int wide = gap > 1.0f * em &&
                           (ng < 3 || gap > 2.5f * med || gap > 2.5f * em);
                /* a drop cap or a big symbol beside a line is no word of
                 * it (see drop_caps) */
                int big =
                    fmaxf(p->size, w->size) > 1.8f * fminf(p->size, w->size) &&
                    one_letter(p->size > w->size ? p : w);
                if (ov < 0.4f * mh || big ||
                    (!keep && (wide || gap < -0.6f * em))) {
                    vd__tl_seg_finish(L, &g);
                    push_seg(L, &g);
                    memset(&g, 0, sizeof g);
                }
            }
            /* Poppler's space between a word and the small capitals
             * that touch it ("GPT-4" "O") is none; other words set tight
             * may be the PDF's way to space them */
            if (g.nw > 0 && !bidi) {
                const tw *p = &L->w[k - 1];
                float em = fmaxf(p->size, w->size);
                float gap = word_gap(p, w);
                L->w[k - 1].glue = gap < 0.06f * em && gap > -0.2f * em &&
                                   fabsf(p->size - w->size) > 0.1f * em &&
                                   fabsf(word_vc(p) - word_vc(w)) < 0.3f * em &&
                                   capitals(p->size < w->size ? p : w);
            }
            seg_add_word(L, &g, k);
        }
        if (g.nw > 0) {
            vd__tl_seg_finish(L, &g);
            push_seg(L, &g);
            memset(&g, 0, sizeof g);
        }
        for (int k = first_seg; bidi && k < L->ns; k++) {
            bidi_order(L, &L->s[k]);
            vd__tl_seg_finish(L, &L->s[k]);
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

/* qsort has no context argument in C11; the layout runs on one thread per
 * document, but keep it per thread anyway */
static _Thread_local const seg *sort_segs;
static int cmp_seg_vc(const void *a, const void *b)
{
    const seg *x = &sort_segs[*(const int *)a],
              *y = &sort_segs[*(const int *)b];
    float d = vd__tl_vc(x) - vd__tl_vc(y);
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
        float ah = a->lh;
        int j = i + 1;
        while (j < n) {
            const seg *b = &L->s[idx[j]];
            float bh = b->lh;
            if (vd__tl_vc(b) - vd__tl_vc(a) > 0.45f * fminf(ah, bh))
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
            /* a drop cap stays apart from the line beside it */
            const seg *bs = p->size > q->size ? p : q;
            int big = bs->nw == 1 && one_letter(&L->w[bs->first]) &&
                      fmaxf(p->size, q->size) > 1.8f * fminf(p->size, q->size);
            if (gap < 0.8f * em && gap > -0.5f * em && !q->marker && !big) {
                L->w[p->last].next = q->first;
                p->last = q->last;
                p->nw += q->nw;
                p->nbytes += q->nbytes;
                p->x1 = fminf(p->x1, q->x1), p->y1 = fminf(p->y1, q->y1);
                p->x2 = fmaxf(p->x2, q->x2), p->y2 = fmaxf(p->y2, q->y2);
                q->dead = 1;
                if (p->rtl || q->rtl || (L->frame & VD__TL_MIRROR))
                    bidi_order(L, p);
                vd__tl_seg_finish(L, p);
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
vd_status vd__tl_dirs(vd_ctx *ctx, const vd__pdf_text *t, uint8_t **dir_out,
                      int counts[4])
{
    uint8_t *dir = vd__malloc(ctx, t->nwords + 1);
    *dir_out = dir;
    if (!dir)
        return VD_ERR_NOMEM;
    resolve_dirs(t, dir);
    for (int d = 0; d < 4; d++)
        counts[d] = 0;
    for (size_t i = 0; i < t->nwords; i++)
        counts[dir[i]] += (int)t->words[i].len;
    return VD_OK;
}

/* Does a row near R keep the gap [A, B] open: no text over it, and text
 * on both sides of it or lined up with one of its edges (a column's
 * gutter where the columns' lines do not share baselines, a table's
 * column)? Or is there no row near at all? EM: the text size. */
static int gap_kept(const lay *L, int r, float a, float b, float em)
{
    int rows = 0;
    float in = 0.25f * (b - a);
    for (int q = r - 3; q <= r + 3; q++) {
        if (q < 0 || q >= L->nr || q == r)
            continue;
        int open = 1, left = 0, right = 0, edge = 0;
        for (int k = L->rs[q]; k < L->rs[q + 1]; k++) {
            const seg *g = &L->s[L->rows[k]];
            if (g->dead)
                continue;
            if (g->x1 < b - in && g->x2 > a + in)
                open = 0; /* text runs over the gap */
            left |= g->x2 <= a + in;
            right |= g->x1 >= b - in;
            edge |= fabsf(g->x2 - a) < em || fabsf(g->x1 - b) < em;
        }
        if (open && ((left && right) || edge))
            return 1;
        rows += left || right || !open;
    }
    return rows == 0;
}

/* Scanned pages' text layers break lines where the OCR saw a wide space
 * (justified type): pieces of a row a little more than a space apart
 * join when no row around keeps that gap open. A page number stays
 * apart from the running title beside it at the page's edge. */
static void join_wide_spaces(lay *L)
{
    int out = 0;
    for (int r = 0; r < L->nr; r++) {
        int start = out, prev = -1;
        for (int k = L->rs[r]; k < L->rs[r + 1]; k++) {
            int si = L->rows[k];
            seg *q = &L->s[si];
            if (q->dead)
                continue;
            if (prev >= 0) {
                seg *p = &L->s[prev];
                float em = fmaxf(p->size, q->size), gap = q->x1 - p->x2;
                float vc = vd__tl_vc(q) / (float)L->fh;
                int edge = vc < 0.12f || vc > 0.88f;
                if (gap >= 0.8f * em && gap < 2.5f * em && !q->marker &&
                    !(edge &&
                      (vd__tl_page_number(L, p) || vd__tl_page_number(L, q))) &&
                    fmaxf(p->size, q->size) < 1.5f * fminf(p->size, q->size) &&
                    !gap_kept(L, r, p->x2, q->x1, em)) {
                    L->w[p->last].next = q->first;
                    p->last = q->last;
                    p->nw += q->nw;
                    p->nbytes += q->nbytes;
                    p->x1 = fminf(p->x1, q->x1), p->y1 = fminf(p->y1, q->y1);
                    p->x2 = fmaxf(p->x2, q->x2), p->y2 = fmaxf(p->y2, q->y2);
                    q->dead = 1;
                    if (p->rtl || q->rtl || (L->frame & VD__TL_MIRROR))
                        bidi_order(L, p);
                    vd__tl_seg_finish(L, p);
                    continue;
                }
            }
            L->rows[out++] = si;
            prev = si;
        }
        L->rs[r] = start;
    }
    L->rs[L->nr] = out;
}

/* A drop cap: one capital letter standing two or more lines tall at the
 * start of a paragraph, the first line beside it continuing its word
 * ("O" "ver the past ..."). It joins that line, glued to its first
 * word, and the line starts where the letter does. */
static void drop_caps(lay *L)
{
    for (int i = 0; i < L->ns; i++) {
        seg *g = &L->s[i];
        if (g->dead || g->nw != 1)
            continue;
        if (!one_letter(&L->w[g->first]))
            continue;
        /* the line beside its top, in text less than half its size */
        int best = -1;
        for (int j = 0; j < L->ns; j++) {
            const seg *h = &L->s[j];
            float lh = h->y2 - h->y1;
            if (j == i || h->dead || h->size * 1.8f > g->size ||
                g->y2 - g->y1 < 1.8f * lh || h->x1 < g->x2 - 1 ||
                h->x1 - g->x2 > 2 * h->size || fabsf(h->y1 - g->y1) > lh)
                continue;
            if (best < 0 || h->y1 < L->s[best].y1)
                best = j;
        }
        if (best < 0)
            continue;
        seg *h = &L->s[best];
        L->w[g->first].glue = 1;
        L->w[g->first].next = h->first;
        h->first = g->first;
        h->nw++;
        h->nbytes += g->nbytes;
        h->x1 = g->x1;
        h->text_x = g->x1;
        g->dead = 1;
    }
}

int vd__tl_rtl_frame(const vd__pdf_text *t, const uint8_t *dir, int f)
{
    /* a page reads right to left when most of its text of that direction
     * is in a right-to-left script; numbers and Latin words inside it
     * stay where the lines put them */
    size_t rtl = 0, other = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        if (dir[i] != (f & 3))
            continue;
        if (t->words[i].flags & VD__PDF_RTL)
            rtl += t->words[i].len;
        else
            other += t->words[i].len;
    }
    return rtl > other;
}

vd_status vd__tl_lay_init(lay *L, vd_ctx *ctx, const vd__pdf_text *t,
                          const uint8_t *dir, int f)
{
    memset(L, 0, sizeof *L);
    L->ctx = ctx;
    L->t = t;
    L->frame = f;
    L->fw = (f & 1) ? t->page_h : t->page_w;
    L->fh = (f & 1) ? t->page_w : t->page_h;
    vd_status st = build_segments(L, dir, f & 3);
    if (st)
        return st;
    L->rows = vd__malloc(ctx, (size_t)(L->ns + 1) * sizeof *L->rows);
    if (!L->rows)
        return VD_ERR_NOMEM;
    if (L->ns == 0)
        return VD_OK;
    L->nr = build_rows(L, &L->rs);
    if (L->nr < 0)
        return VD_ERR_NOMEM;
    join_wide_spaces(L);
    drop_caps(L);
    return VD_OK;
}

size_t vd__tl_seg_text(const lay *L, int si, char *buf, size_t n)
{
    size_t len = 0;
    const seg *g = &L->s[si];
    for (int w = g->first; w >= 0; w = L->w[w].next) {
        const tw *x = &L->w[w];
        if (len) {
            if (len + 1 < n)
                buf[len] = ' ';
            len++;
        }
        for (uint32_t k = 0; k < x->len; k++, len++)
            if (len + 1 < n)
                buf[len] = x->s[k];
    }
    if (n)
        buf[len < n ? len : n - 1] = '\0';
    return len;
}

/* Engine "text", the layout's stages and the data they share: words ->
 * segments and rows (engine-text-lines.c) -> running heads and page
 * numbers (engine-text-furniture.c) -> tables (engine-text-tables.c) ->
 * paragraphs, headings and lists (engine-text-blocks.c) -> reading order
 * (engine-text-order.c) -> QwenVL HTML (engine-text-layout.c). Internal to
 * those files and their unit tests (tests/unit/test-text-layout.c). */
#ifndef VD_ENGINE_TEXT_LAYOUT_H
#define VD_ENGINE_TEXT_LAYOUT_H

#include "engine-text.h"

enum {
    VD__TL_CLS_NONE,
    VD__TL_HEADER,
    VD__TL_FOOTER,
    VD__TL_PAGENUM,
    VD__TL_FOOTNOTE
};
enum { VD__TL_PARA, VD__TL_HEAD, VD__TL_ITEM, VD__TL_TABLE, VD__TL_FURN };

/* Frames: the page turned so its text of one writing direction runs left
 * to right, top to bottom. Bits 0-1: quarter turns (the word's dir);
 * VD__TL_MIRROR: then flipped left for right, for pages that read right
 * to left, so their lines start at the left of the frame like any. */
#define VD__TL_MIRROR 4

typedef struct vd__tl_word { /* a word in its frame */
    float x1, y1, x2, y2;
    float size;
    const char *s;
    uint32_t len;
    uint8_t flags, line_end;
    uint8_t glue; /* no space before the next word (a drop cap) */
    int next;     /* next word of its segment, -1 */
} vd__tl_word;

typedef struct vd__tl_seg { /* words on one baseline with no wide gap */
    float x1, y1, x2, y2;
    float size;
    int first, last, nw; /* words, chained by next, in reading order */
    int nbytes;
    uint8_t bold, rtl, numeric, marker; /* marker: 1 bullet, 2 number */
    uint8_t cls;                        /* VD__TL_HEADER .. */
    uint8_t dead;                       /* merged into another */
    float text_x; /* where the text after a list marker starts */
    float vc, lh; /* the line's middle and height: the median of its
                     words' (a stray tall glyph does not move them) */
    int row;
    int blk;
    int next; /* next segment of its block or table cell, -1 */
} vd__tl_seg;

typedef struct vd__tl_cell {
    int row, col, span;
    int first, last; /* segments */
    uint8_t head;    /* a header cell (<th>) */
} vd__tl_cell;

typedef struct vd__tl_blk {
    int kind, cls, level, ordered;
    float x1, y1, x2, y2;
    float size;
    int first, last, nlines;
    float pitch, body_x, right; /* paragraph shape so far */
    int justified;
    uint8_t bold;
    int cell0, ncell, nrow, ncol; /* tables: cells[cell0 .. +ncell) */
    int done;                     /* placed in reading order */
} vd__tl_blk;

/* One frame of one page being laid out. */
typedef struct vd__tl_lay {
    vd_ctx *ctx;
    const vd__pdf_text *t;
    int frame;     /* quarter turns | VD__TL_MIRROR */
    double fw, fh; /* frame size in points */
    vd__tl_word *w;
    int nw;
    vd__tl_seg *s;
    int ns, caps;
    int *rows; /* segment indexes, row by row, left to right */
    int *rs;   /* rows: rows[rs[r] .. rs[r + 1]) */
    int nr;
    vd__tl_blk *b;
    int nb, capb;
    vd__tl_cell *c;
    int nc, capc;
    float body; /* body text size (pt) */
} vd__tl_lay;

/* ---- engine-text-lines.c ---- */

/* Writing direction of each word of T (0..3, see vd__pdf_word.dir), words
 * Poppler left open taking their line's; and how many bytes run each way.
 * *DIR is the caller's (vd__free). CTX may be NULL (no message). */
vd_status vd__tl_dirs(vd_ctx *ctx, const vd__pdf_text *t, uint8_t **dir,
                      int counts[4]);
/* Does text of the directions counted read right to left (Arabic,
 * Hebrew)? Decides VD__TL_MIRROR for the frame of direction F. */
int vd__tl_rtl_frame(const vd__pdf_text *t, const uint8_t *dir, int f);
/* Set L up for the words of T with direction FRAME & 3, in FRAME: words
 * -> segments (stage 1) -> rows (stage 2). Free with vd__tl_lay_free (also
 * after a failure). */
vd_status vd__tl_lay_init(vd__tl_lay *L, vd_ctx *ctx, const vd__pdf_text *t,
                          const uint8_t *dir, int frame);
void vd__tl_lay_free(vd__tl_lay *L);
/* Box IN (frame F of a W x H page) to the page and back. */
void vd__tl_to_frame(int f, double w, double h, const float *in, float *out);
void vd__tl_from_frame(int f, double w, double h, const float *in, float *out);
/* The words of segment SI, space-separated, into BUF (always terminated;
 * cut at N - 1 bytes). Returns the length it would have. */
size_t vd__tl_seg_text(const vd__tl_lay *L, int si, char *buf, size_t n);
/* Recompute a segment's size, weight, numeric content and list marker
 * from its words. */
void vd__tl_seg_finish(vd__tl_lay *L, vd__tl_seg *g);

/* The median of V[0..N) (N small; V is reordered). */
static inline float vd__tl_median(float *v, int n)
{
    for (int i = 1; i < n; i++) { /* insertion sort: a line's words */
        float x = v[i];
        int j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return v[n / 2];
}

/* small text helpers shared by the stages */
uint32_t vd__tl_utf8_first(const char *s, uint32_t len);
int vd__tl_marker(const vd__tl_word *w); /* 1 bullet, 2 number, 0 */
static inline float vd__tl_vc(const vd__tl_seg *g)
{
    return g->vc;
}

/* ---- engine-text-furniture.c ---- */

/* Mark running heads, footers and page numbers among L's segments (their
 * cls), with D's edges of the neighbouring pages when it has any. */
void vd__tl_furniture(vd__tl_lay *L, const vd__tl_doc *d);
/* For a frame other than the page's main one: its lines along the
 * page's edge (stamps in the margin) are furniture. */
void vd__tl_margin_stamps(vd__tl_lay *L);
/* Does segment G read like a page number ("3", "Page 3 of 10", "7-45",
 * "iv")? 2 when it says so in words, 1 for a bare number, 0 if not. */
int vd__tl_page_number(const vd__tl_lay *L, const vd__tl_seg *g);
/* Small print under the text that starts with a note mark. */
void vd__tl_footnotes(vd__tl_lay *L);

/* ---- engine-text-tables.c ---- */

/* Runs of rows that line up in columns -> VD__TL_TABLE blocks with cells
 * (segments placed in them get blk). */
vd_status vd__tl_tables(vd__tl_lay *L);

/* ---- engine-text-blocks.c ---- */

vd__tl_blk *vd__tl_new_blk(vd__tl_lay *L, int kind);
void vd__tl_blk_add(vd__tl_lay *L, vd__tl_blk *b, int si);
/* The segments no table took -> paragraphs and list items, then headings
 * by size and weight against D (or the page's own body size). */
vd_status vd__tl_blocks(vd__tl_lay *L);
void vd__tl_classify(vd__tl_lay *L, const vd__tl_doc *d);

/* ---- engine-text-order.c ---- */

/* Blocks other than furniture in reading order into ORDER (L->nb
 * entries), their count in *N. */
vd_status vd__tl_order(vd__tl_lay *L, int *order, int *n);

#endif

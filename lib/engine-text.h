/* Engine "text", the layout half: one page's words (lib/input-pdf.c) plus
 * what is known about the rest of the document -> QwenVL HTML. Separate
 * from the engine so unit tests can feed it words they make up. */
#ifndef VD_ENGINE_TEXT_H
#define VD_ENGINE_TEXT_H

#include "input-private.h"

/* A line near the top or bottom edge of a page, reduced to what running
 * headers and footers share from page to page. */
typedef struct vd__tl_edge {
    uint32_t hash;  /* of the text with digits removed, lower case */
    float vc;       /* vertical centre, fraction of the page height */
    uint8_t bottom; /* 0: top band, 1: bottom band */
} vd__tl_edge;

/* What the layout knows about the document beyond the page. */
typedef struct vd__tl_doc {
    float body_size;     /* most common font size (pt), 0: unknown */
    float head_sizes[3]; /* h1..h3 font sizes, largest first; 0: none */
    int nhead;
    /* edge lines of the other pages near this one (running heads); when
     * NEIGHBOURS is 0 the page stands alone and position decides */
    const vd__tl_edge *edges;
    size_t nedges;
    int neighbours;
} vd__tl_doc;

/* Font size histogram: characters per half point, up to 200 pt. */
#define VD__TL_SIZE_BINS 400
void vd__tl_size_hist(const vd__pdf_text *t, uint32_t *hist);
/* Body size and heading sizes from HIST into D. */
void vd__tl_doc_sizes(const uint32_t *hist, vd__tl_doc *d);

/* The edge lines of page T (at most MAX). */
size_t vd__tl_edges(const vd__pdf_text *t, vd__tl_edge *out, size_t max);

/* Lay out page T and append its QwenVL HTML to HTML, boxes scaled from
 * points by SX, SY into model pixels. */
vd_status vd__tl_page_html(vd_ctx *ctx, const vd__pdf_text *t,
                           const vd__tl_doc *d, double sx, double sy,
                           vd__buf *html);

#endif

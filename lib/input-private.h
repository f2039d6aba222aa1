/* Input internals shared by lib/input.c and the decoders
 * (input-{pdf,tiff,png,jpeg}.c). Third-party handles stay inside each
 * decoder's PRIV. */
#ifndef VD_INPUT_PRIVATE_H
#define VD_INPUT_PRIVATE_H

#include "vd-private.h"

typedef struct vd__input_vt {
    vd_format format;
    vd_status (*page_info)(vd_ctx *ctx, vd_input *in, int page,
                           vd_page_info *info);
    /* Rasterize page PAGE. PDF: the visible page (crop box, /Rotate)
     * scaled to fill exactly W x H pixels. Images: W and H are ignored and
     * the page comes back decoded at its stored pixel grid, turned to its
     * visible orientation (page_info's width x height), with its DPI. */
    vd_status (*render)(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                        vd_image **out);
    void (*close)(vd_input *in);
} vd__input_vt;

struct vd_input {
    const vd__input_vt *vt;
    vd_format format;
    char *path; /* owned */
    int npages;
    vd_input_opts opts; /* password not kept */
    void *priv;         /* decoder state, freed by vt->close */
    int geom_only;      /* page_info for geometry: the PDF text probe (a
                           layout pass) may be skipped, has_text is then
                           unreliable */
};

/* Each decoder fills IN->vt, IN->priv and IN->npages, or fails with a
 * message naming IN->path. */
vd_status vd__pdf_open(vd_ctx *ctx, vd_input *in, const char *password);
vd_status vd__tiff_open(vd_ctx *ctx, vd_input *in);
vd_status vd__png_open(vd_ctx *ctx, vd_input *in);
vd_status vd__jpeg_open(vd_ctx *ctx, vd_input *in);
/* QwenVL HTML from elsewhere (input-qwenvl.c): one page, sized from
 * IN->opts.image_path or model_w/model_h. */
vd_status vd__qwenvl_open(vd_ctx *ctx, vd_input *in);
/* Its HTML (borrowed) and the map from model pixels to the image. */
vd_status vd__qwenvl_page(vd_input *in, const char **html, size_t *len,
                          vd_pagemap *map);

/* One word of a PDF page's text layer: a run of glyphs Poppler's text
 * layout put between spaces or line ends, in Poppler's reading order. */
typedef struct vd__pdf_word {
    float x1, y1, x2, y2; /* points, visible orientation, top-left origin */
    float size;           /* font size in points (its first glyph's) */
    uint32_t off, len;    /* UTF-8 bytes in vd__pdf_text.utf8 */
    uint16_t font;        /* index into vd__pdf_text.fonts */
    uint8_t flags;        /* VD__PDF_BOLD | ITALIC | UNDERLINE | RTL */
    uint8_t dir;          /* writing direction on the visible page, in
                             quarter turns clockwise: 0 left to right, 1
                             top to bottom, 2 upside down, 3 bottom to top */
    uint8_t line_end;     /* the last word of one of Poppler's lines */
} vd__pdf_word;

enum {
    VD__PDF_BOLD = 1,
    VD__PDF_ITALIC = 2,
    VD__PDF_UNDERLINE = 4,
    VD__PDF_RTL = 8 /* right-to-left script: glyphs run leftwards upright */
};

typedef struct vd__pdf_text {
    vd__pdf_word *words; /* owned */
    size_t nwords;
    char *utf8; /* owned; the words' text, NUL-separated */
    size_t nbytes;
    char **fonts; /* owned font names */
    int nfonts;
    double page_w, page_h; /* points, visible orientation */
    int rotate;
} vd__pdf_text;

/* The text layer of page PAGE of a PDF input as words with boxes, font
 * attributes and writing direction. Pages with more than
 * VD__PDF_MAX_GLYPHS glyphs fail with VD_ERR_LIMIT. Free with
 * vd__pdf_text_free (also after a failure). */
#define VD__PDF_MAX_GLYPHS (1u << 22)
vd_status vd__pdf_page_text(vd_ctx *ctx, vd_input *in, int page,
                            vd__pdf_text *out);
void vd__pdf_text_free(vd__pdf_text *t);

/* Check a page index and name the file in the message. */
vd_status vd__input_check_page(vd_ctx *ctx, const vd_input *in, int page);

#endif

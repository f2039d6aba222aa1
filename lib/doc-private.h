/* Document tree internals, shared by lib/doc.c (building, walking) and
 * lib/qwenhtml.c (HTML -> tree). Everything lives in the doc's arena
 * except the page array and the warning arrays. */
#ifndef VD_DOC_PRIVATE_H
#define VD_DOC_PRIVATE_H

#include "vd-private.h"

struct vd_block {
    vd_block_kind kind;
    int page;             /* 0-based input page */
    int level;            /* HEADING 1..6 */
    int ordered;          /* LIST */
    int display;          /* FORMULA */
    int derived;          /* model-written text (descriptions, chart data) */
    int rowspan, colspan; /* TABLE_CELL */
    int header;           /* TABLE_CELL th */
    int implicit;         /* made by the converter, not from an element */
    int has_bbox;
    vd_box bbox;        /* page coordinates */
    vd_box bbox_model;  /* model pixels */
    const char *text;   /* arena; never NULL */
    const char *cls;    /* arena; NULL when none */
    const char *figure; /* static; FIGURE only */
    const char *format; /* static or arena; CODE, FORMULA */
    vd_block *parent, *first, *last, *next, *prev;
};

struct vd_page {
    int number;
    vd_status status;
    const char *error; /* arena; NULL when OK */
    const char *html;  /* arena; the engine's HTML */
    vd_pagemap map;
    int has_map;
    unsigned flags; /* VD_PAGE_* */
    vd_block *first, *last;
    const char **warnings; /* vd__malloc'd array of arena strings */
    int *warn_counts;      /* repeats per warning */
    int nwarn, capwarn;
    vd_page_stats stats;
    char engine_name[16];
};

struct vd_doc {
    vd__arena *arena;
    void *parser; /* libxml2 parser context, reused per page */
    const char *source;
    vd_page **pages; /* vd__malloc'd */
    int npages, cap;
};

/* Make and append an empty page. */
vd_page *vd__doc_page_new(vd_ctx *ctx, vd_doc *doc, int page_no);
/* A new block appended as the last child of PARENT (or of the page when
 * PARENT is NULL). */
vd_block *vd__block_new(vd_ctx *ctx, vd_doc *doc, vd_page *pg, vd_block *parent,
                        vd_block_kind kind);
/* Unlink B from its parent (or page) list; B keeps its children. */
void vd__block_unlink(vd_page *pg, vd_block *b);
/* Insert B as the first (AT_END == 0) or last child of PARENT. */
void vd__block_adopt(vd_block *parent, vd_block *b, int at_end);

/* Copy S (N bytes) into the arena repaired by vd__utf8_repair. */
char *vd__doc_strdup_utf8(vd_ctx *ctx, vd_doc *doc, const char *s, size_t n);

/* Release a doc's parser context (qwenhtml.c). */
void vd__qwenhtml_free_parser(void *parser);

/* QwenVL HTML -> blocks of PG (qwenhtml.c). */
vd_status vd__qwenhtml_parse(vd_ctx *ctx, vd_doc *doc, vd_page *pg,
                             const char *html, size_t len);

/* Page furniture found by position and repetition across pages
 * (qwenhtml.c); run after PG's blocks are built. */
void vd__doc_mark_furniture(vd_ctx *ctx, vd_doc *doc, vd_page *pg);

/* Append S (N bytes) to B as valid UTF-8 that XML accepts: invalid
 * sequences, C0 controls other than \t \n \r, and U+FFFE/U+FFFF become
 * U+FFFD; a leading byte order mark is dropped. Returns the number of
 * replacements. (qwenhtml.c) */
size_t vd__utf8_repair(vd_ctx *ctx, vd__buf *b, const char *s, size_t n);

#endif

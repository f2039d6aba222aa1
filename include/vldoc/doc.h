/* vldoc document tree: document -> pages -> blocks in reading order, one
 * type for every engine. Built from QwenVL HTML; read with the walker
 * functions below or written out with vd_doc_write (out.h). All nodes and
 * strings are owned by the vd_doc and freed with it. */
#ifndef VLDOC_DOC_H
#define VLDOC_DOC_H

#include "core.h"
#include "input.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vd_block_kind {
    VD_BLOCK_UNKNOWN = 0, /* kept with its text */
    VD_BLOCK_TITLE,
    VD_BLOCK_HEADING,     /* vd_block_level: 1..6 */
    VD_BLOCK_PARAGRAPH,
    VD_BLOCK_LIST,        /* vd_block_ordered; children are LIST_ITEMs */
    VD_BLOCK_LIST_ITEM,   /* may contain a nested LIST */
    VD_BLOCK_TABLE,       /* children are TABLE_ROWs */
    VD_BLOCK_TABLE_ROW,   /* children are TABLE_CELLs */
    VD_BLOCK_TABLE_CELL,  /* rowspan, colspan, header */
    VD_BLOCK_FORMULA,     /* LaTeX text; vd_block_display */
    VD_BLOCK_FIGURE,      /* image, chart, ...; caption/description child */
    VD_BLOCK_CAPTION,
    VD_BLOCK_PAGE_HEADER,
    VD_BLOCK_PAGE_FOOTER,
    VD_BLOCK_PAGE_NUMBER,
    VD_BLOCK_FOOTNOTE,
    VD_BLOCK_CODE,
    VD_BLOCK_KIND_COUNT_ /* not a kind; keep last */
} vd_block_kind;

/* Lowercase name used in JSON ("paragraph", "list_item"...). */
const char *vd_block_kind_name(vd_block_kind k);

typedef struct vd_doc vd_doc;
typedef struct vd_page vd_page;
typedef struct vd_block vd_block;

/* A new empty document. SOURCE names the input (for ids and messages; may
 * be NULL). On VD_OK the caller owns *out (vd_doc_free). */
vd_status vd_doc_new(vd_ctx *ctx, const char *source, vd_doc **out);
void vd_doc_free(vd_doc *doc);

/* Parse QwenVL HTML for page PAGE_NO (0-based) with libxml2 and append
 * the page. MAP maps model pixels to page coordinates (NULL: boxes kept in
 * model pixels only). Repairs are recorded as page warnings. Errors:
 * VD_ERR_NOMEM, VD_ERR_LIMIT (HTML larger than limits.max_html_bytes). */
vd_status vd_doc_add_page_html(vd_ctx *ctx, vd_doc *doc, int page_no,
                               const char *html, size_t len,
                               const vd_pagemap *map, vd_page **out);

/* Append a page that failed: it keeps STATUS and MSG and has no blocks. */
vd_status vd_doc_add_page_error(vd_ctx *ctx, vd_doc *doc, int page_no,
                                vd_status status, const char *msg);

/* Add a warning to PAGE (copied). Identical consecutive warnings collapse
 * into one with a repeat count. */
vd_status vd_page_add_warning(vd_ctx *ctx, vd_doc *doc, vd_page *page,
                              const char *msg);

/* Engine facts recorded on a page (all optional; 0 when unknown). */
typedef struct vd_page_stats {
    const char *engine;      /* static name: "text", "qwen", "remote" */
    int prompt_tokens;       /* tokens in the prompt, image included */
    int image_tokens;        /* merged image tokens */
    int generated_tokens;    /* tokens generated */
    double seconds;          /* wall time for the page */
    double encode_seconds;   /* vision encoder */
    double prefill_seconds;  /* prompt prefill */
    double decode_seconds;   /* token generation */
    int truncated;           /* hit max_new_tokens or the time limit */
    int repetition;          /* stopped by the repetition guard */
    int attempts;            /* remote: requests made */
} vd_page_stats;

void vd_page_set_stats(vd_page *page, const vd_page_stats *st);
const vd_page_stats *vd_page_stats_get(const vd_page *page);

/* ---- walking ---- */

const char *vd_doc_source(const vd_doc *doc);
int vd_doc_page_count(const vd_doc *doc);
vd_page *vd_doc_page(const vd_doc *doc, int i);

int vd_page_number(const vd_page *p); /* 0-based page of the input */
vd_status vd_page_status(const vd_page *p);
const char *vd_page_error(const vd_page *p); /* NULL when VD_OK */
const vd_pagemap *vd_page_map(const vd_page *p);
int vd_page_warning_count(const vd_page *p);
const char *vd_page_warning(const vd_page *p, int i);
/* First top-level block in reading order; NULL when none. */
const vd_block *vd_page_first_block(const vd_page *p);
/* The QwenVL HTML the page was built from, as the engine gave it. */
const char *vd_page_html(const vd_page *p);

vd_block_kind vd_block_kind_get(const vd_block *b);
const vd_block *vd_block_next(const vd_block *b);
const vd_block *vd_block_first_child(const vd_block *b);
const vd_block *vd_block_parent(const vd_block *b);
/* Text of the block itself (UTF-8, never NULL; "" for containers). */
const char *vd_block_text(const vd_block *b);
int vd_block_page(const vd_block *b);
/* Box in page coordinates / model pixels; 0 when the block has none. */
int vd_block_bbox(const vd_block *b, vd_box *out);
int vd_block_bbox_model(const vd_block *b, vd_box *out);
int vd_block_level(const vd_block *b);   /* heading level 1..6 */
int vd_block_ordered(const vd_block *b); /* LIST: numbered */
int vd_block_display(const vd_block *b); /* FORMULA: display, not inline */
int vd_block_derived(const vd_block *b); /* text written by the model,
                                            not printed on the page */
int vd_block_rowspan(const vd_block *b); /* TABLE_CELL; >= 1 */
int vd_block_colspan(const vd_block *b); /* TABLE_CELL; >= 1 */
int vd_block_header(const vd_block *b);  /* TABLE_CELL: th */
/* Model's class attribute, e.g. "image caption"; NULL when none. */
const char *vd_block_class(const vd_block *b);

/* Depth-first walk. ENTER is called before a block's children, LEAVE
 * after (either may be NULL). A non-zero return stops the walk. */
typedef int (*vd_walk_fn)(void *user, const vd_block *b, int depth);
int vd_doc_walk(const vd_doc *doc, vd_walk_fn enter, vd_walk_fn leave,
                void *user);

#ifdef __cplusplus
}
#endif
#endif

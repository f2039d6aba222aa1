/* vldoc document tree: document -> pages -> blocks in reading order, one
 * type for every engine. Built from QwenVL HTML; read with the walker
 * functions below or written out with vd_doc_write (out.h). All nodes and
 * strings are owned by the vd_doc and freed with it.
 *
 * Reading a document (the whole manual for library users):
 *
 *     for (int i = 0; i < vd_doc_page_count(doc); i++) {
 *         const vd_page *pg = vd_doc_page(doc, i);
 *         if (vd_page_status(pg) != VD_OK)        // failed page: no blocks
 *             printf("page %d: %s\n", vd_page_number(pg) + 1,
 *                    vd_page_error(pg));
 *         for (const vd_block *b = vd_page_first_block(pg); b;
 *              b = vd_block_next(b))
 *             ...;            // top-level blocks in reading order
 *     }
 *
 * or let vd_doc_walk / vd_page_walk visit every block depth first. Blocks
 * nest: a LIST holds LIST_ITEMs (an item may hold a nested LIST), a TABLE
 * holds TABLE_ROWs (and CAPTIONs before or after them), a row holds
 * TABLE_CELLs, a FIGURE holds IMAGE regions, CAPTIONs, a derived TABLE
 * (chart data) or CODE (music, chemistry), a FORMULA may hold the IMAGE
 * region the model marked, and an UNKNOWN block may hold anything the
 * model nested inside an element vldoc does not know.
 *
 * Text is UTF-8, always valid (invalid input bytes become U+FFFD), never
 * NULL. Paragraph-like text has its whitespace collapsed, keeps line
 * breaks (<br>) as '\n' and keeps inline math as $...$ (\(...\) is
 * rewritten to $...$). FORMULA text is the LaTeX without delimiters; CODE
 * text keeps its whitespace. Text the model wrote rather than read off the
 * page (picture descriptions, chart data, music and chemistry notation) is
 * marked with vd_block_derived.
 *
 * Boxes: vd_block_bbox gives page coordinates (PDF points or image pixels,
 * top-left origin, see vd_page_map), vd_block_bbox_model the pixels of the
 * image the model saw. Both are absent together.
 *
 * Thread rules: a document is not locked; build it on one thread. Reading
 * a finished document from several threads at once is safe. */
#ifndef VLDOC_DOC_H
#define VLDOC_DOC_H

#include "core.h"
#include "input.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kinds are only ever appended. */
typedef enum vd_block_kind {
    VD_BLOCK_UNKNOWN = 0, /* kept with its text (and children) */
    VD_BLOCK_TITLE,       /* document title (class "title") */
    VD_BLOCK_HEADING,     /* vd_block_level: 1..6 */
    VD_BLOCK_PARAGRAPH,
    VD_BLOCK_LIST,       /* vd_block_ordered; children are LIST_ITEMs */
    VD_BLOCK_LIST_ITEM,  /* text; may contain a nested LIST */
    VD_BLOCK_TABLE,      /* children: TABLE_ROWs, CAPTIONs first/last */
    VD_BLOCK_TABLE_ROW,  /* children are TABLE_CELLs */
    VD_BLOCK_TABLE_CELL, /* rowspan, colspan, header */
    VD_BLOCK_FORMULA,    /* LaTeX text; vd_block_display */
    VD_BLOCK_FIGURE,     /* vd_block_figure: image, chart, music, ... */
    VD_BLOCK_CAPTION,    /* printed caption, or derived description */
    VD_BLOCK_PAGE_HEADER,
    VD_BLOCK_PAGE_FOOTER,
    VD_BLOCK_PAGE_NUMBER,
    VD_BLOCK_FOOTNOTE,
    VD_BLOCK_CODE,       /* text keeps whitespace; vd_block_format */
    VD_BLOCK_IMAGE,      /* a picture region (<img>): box, no text */
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
 * the page. MAP maps model pixels to page coordinates (NULL, or a map
 * with model_w == 0: the model's image size is unknown, boxes stay in
 * model pixels and are not clamped). The HTML may be wrapped in a
 * Markdown code fence, preceded by prose, truncated, misnested, repeated
 * or not valid UTF-8: what can be recovered is kept and every repair is
 * recorded as a page warning (and logged). HTML without any data-bbox
 * (a plain HTML answer) still converts, without boxes, and is flagged.
 * Errors: VD_ERR_NOMEM, VD_ERR_LIMIT (HTML larger than
 * limits.max_html_bytes). *out (optional) borrows the new page. */
vd_status vd_doc_add_page_html(vd_ctx *ctx, vd_doc *doc, int page_no,
                               const char *html, size_t len,
                               const vd_pagemap *map, vd_page **out);

/* Append a page that failed: it keeps STATUS and MSG and has no blocks. */
vd_status vd_doc_add_page_error(vd_ctx *ctx, vd_doc *doc, int page_no,
                                vd_status status, const char *msg);

/* Add a warning to PAGE (copied; invalid UTF-8 repaired) and log it.
 * Identical consecutive warnings collapse into one with a repeat count. */
vd_status vd_page_add_warning(vd_ctx *ctx, vd_doc *doc, vd_page *page,
                              const char *msg);

/* Engine facts recorded on a page (all optional; 0 when unknown). */
typedef struct vd_page_stats {
    const char *engine;     /* static name: "text", "qwen", "remote" */
    int prompt_tokens;      /* tokens in the prompt, image included */
    int image_tokens;       /* merged image tokens */
    int generated_tokens;   /* tokens generated */
    double seconds;         /* wall time for the page */
    double encode_seconds;  /* vision encoder */
    double prefill_seconds; /* prompt prefill */
    double decode_seconds;  /* token generation */
    int truncated;          /* hit max_new_tokens or the time limit */
    int repetition;         /* stopped by the repetition guard */
    int attempts;           /* remote: requests made */
} vd_page_stats;

void vd_page_set_stats(vd_page *page, const vd_page_stats *st);
const vd_page_stats *vd_page_stats_get(const vd_page *page);

/* ---- walking ---- */

const char *vd_doc_source(const vd_doc *doc);
int vd_doc_page_count(const vd_doc *doc);
/* Page I (0-based, in the order added); NULL when out of range. */
vd_page *vd_doc_page(const vd_doc *doc, int i);

int vd_page_number(const vd_page *p); /* 0-based page of the input */
vd_status vd_page_status(const vd_page *p);
const char *vd_page_error(const vd_page *p); /* NULL when VD_OK */
/* Model size and page size; NULL when the model's image size is unknown
 * (then page coordinates are model pixels). */
const vd_pagemap *vd_page_map(const vd_page *p);
int vd_page_warning_count(const vd_page *p);
/* Warning I (borrowed); NULL when out of range. */
const char *vd_page_warning(const vd_page *p, int i);
/* How many times warning I occurred in a row (>= 1; 0 out of range). */
int vd_page_warning_repeats(const vd_page *p, int i);
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
 * after (either may be NULL). A non-zero return stops the walk. DEPTH is 0
 * for top-level blocks. */
typedef int (*vd_walk_fn)(void *user, const vd_block *b, int depth);
int vd_doc_walk(const vd_doc *doc, vd_walk_fn enter, vd_walk_fn leave,
                void *user);

/* ---- additions (appended; see the notes at the top) ---- */

/* The same walk over one page. Returns non-zero when a callback stopped
 * it. */
int vd_page_walk(const vd_page *p, vd_walk_fn enter, vd_walk_fn leave,
                 void *user);

/* Blocks in DOC at every depth. */
int vd_doc_block_count(const vd_doc *doc);

/* FIGURE: what the region holds: "image" (a picture; class "image",
 * "image caption", "image ocr" or an <img>), "chart", "music" (class
 * "music sheet"), "chemistry" (class "chemical formula"). NULL for other
 * kinds. */
const char *vd_block_figure(const vd_block *b);

/* Notation of the text: "latex" for FORMULA; for CODE the language the
 * model named ("abc notation" for music, "smiles" for chemistry, a
 * class="language-X" value) or NULL when unknown. */
const char *vd_block_format(const vd_block *b);

/* Page flags: what the converter noticed about the engine's HTML. */
enum {
    VD_PAGE_TRUNCATED = 1 << 0, /* output ends inside an element or tag
                                   (token limit) */
    VD_PAGE_NO_BOXES = 1 << 1,  /* no data-bbox at all: plain HTML */
    VD_PAGE_REPAIRED = 1 << 2,  /* libxml2 repaired the markup */
    VD_PAGE_REPEATS = 1 << 3,   /* repeated elements (a generation loop)
                                   were collapsed */
    VD_PAGE_BAD_BOXES = 1 << 4, /* some data-bbox were clamped, swapped
                                   or dropped */
    VD_PAGE_ENVELOPE = 1 << 5   /* text outside the HTML (prose, fences,
                                   duplicate copies) was dropped */
};
unsigned vd_page_flags(const vd_page *p);

#ifdef __cplusplus
}
#endif
#endif

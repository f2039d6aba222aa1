/* Writers: the vtable each output format fills, and the one internal
 * helper they may use. formats/ builds against the public headers only,
 * which proves the walker API is enough to write any format. */
#ifndef VD_WRITER_H
#define VD_WRITER_H

#include "vldoc/vldoc.h"

typedef struct vd__writer {
    const char *name; /* -f NAME */
    const char *ext;  /* file extension */
    vd_status (*write)(vd_ctx *ctx, const vd_doc *doc,
                       const vd_write_opts *o, vd_out *out);
} vd__writer;

extern const vd__writer vd__writer_md, vd__writer_json, vd__writer_text,
    vd__writer_qwenvl;

/* Record a failure in CTX (defined in lib/core-error.c). */
vd_status vd__fail(vd_ctx *ctx, vd_status status, const char *fmt, ...)
    VD_PRINTF(3, 4);

/* Write S as a JSON string literal (quotes included), escaping control
 * characters and replacing invalid UTF-8 with U+FFFD. */
void vd__json_string(vd_out *o, const char *s);

/* Is this block page furniture (header, footer, page number)? */
static inline int vd__is_furniture(const vd_block *b)
{
    vd_block_kind k = vd_block_kind_get(b);
    return k == VD_BLOCK_PAGE_HEADER || k == VD_BLOCK_PAGE_FOOTER ||
           k == VD_BLOCK_PAGE_NUMBER;
}

#endif

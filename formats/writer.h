/* Writers: the vtable each output format fills, a small buffered emitter
 * they share, and the few internal helpers they may use. formats/ builds
 * against the public headers only, which proves the walker API is enough
 * to write any format. */
#ifndef VD_WRITER_H
#define VD_WRITER_H

#include <string.h>

#include "vldoc/vldoc.h"

typedef struct vd__writer {
    const char *name; /* -f NAME */
    const char *ext;  /* file extension */
    vd_status (*write)(vd_ctx *ctx, const vd_doc *doc, const vd_write_opts *o,
                       vd_out *out);
} vd__writer;

extern const vd__writer vd__writer_md, vd__writer_json, vd__writer_text,
    vd__writer_qwenvl, vd__writer_html, vd__writer_jsonl;

/* Record a failure in CTX (defined in lib/core-error.c). */
vd_status vd__fail(vd_ctx *ctx, vd_status status, const char *fmt, ...)
    VD_PRINTF(3, 4);
/* The one UTF-8 decoder of the library (lib/core-util.c): length of the
 * valid character at P, 0 for an incomplete prefix, < 0 when invalid. */
int vd__utf8_seq(const unsigned char *p, size_t avail);

/* ---- buffered emitter: writers produce many small pieces; vd_out takes
 * them in large writes ---- */

typedef struct vd__w {
    vd_out *o;
    size_t n;
    char buf[8192];
} vd__w;

static inline void vd__w_init(vd__w *w, vd_out *o)
{
    w->o = o;
    w->n = 0;
}

static inline void vd__w_flush(vd__w *w)
{
    if (w->n) {
        vd_out_write(w->o, w->buf, w->n);
        w->n = 0;
    }
}

static inline void vd__w_write(vd__w *w, const char *s, size_t n)
{
    if (n > sizeof w->buf - w->n) {
        vd__w_flush(w);
        if (n > sizeof w->buf) {
            vd_out_write(w->o, s, n);
            return;
        }
    }
    memcpy(w->buf + w->n, s, n);
    w->n += n;
}

static inline void vd__w_puts(vd__w *w, const char *s)
{
    vd__w_write(w, s, strlen(s));
}

static inline void vd__w_putc(vd__w *w, char ch)
{
    if (w->n == sizeof w->buf)
        vd__w_flush(w);
    w->buf[w->n++] = ch;
}

void vd__w_printf(vd__w *w, const char *fmt, ...) VD_PRINTF(2, 3);
/* A decimal integer. */
void vd__w_int(vd__w *w, long long v);
/* A coordinate: at most two decimals, no trailing zeros ("312", "94.5"). */
void vd__w_num(vd__w *w, double v);

/* Write S as a JSON string literal (quotes included), escaping control
 * characters and replacing invalid UTF-8 with U+FFFD. */
void vd__w_json_string(vd__w *w, const char *s);
/* The same for N bytes at S (NUL bytes become \u0000). */
void vd__w_json_stringn(vd__w *w, const char *s, size_t n);
/* The same straight to O (no emitter). */
void vd__json_string(vd_out *o, const char *s);
/* S with & < > " escaped for HTML text and attribute values; invalid
 * UTF-8 replaced with U+FFFD. */
void vd__w_html(vd__w *w, const char *s, size_t n);

/* Is this block page furniture (header, footer, page number)? */
static inline int vd__is_furniture(const vd_block *b)
{
    vd_block_kind k = vd_block_kind_get(b);
    return k == VD_BLOCK_PAGE_HEADER || k == VD_BLOCK_PAGE_FOOTER ||
           k == VD_BLOCK_PAGE_NUMBER;
}

/* Plain text of B and everything inside it, in reading order, to W: one
 * line per text block, list items as "- x" / "1. x" indented two spaces
 * per level, table rows with cells separated by tabs, FORMULA as its
 * LaTeX, no trailing newline. Derived text only when WITH_DERIVED,
 * furniture only when WITH_FURNITURE. LEAD (may be NULL) is written
 * before the first byte, if any. Returns 1 when it wrote anything. */
int vd__plain_block(vd__w *w, const vd_block *b, int with_derived,
                    int with_furniture, const char *lead);

#endif

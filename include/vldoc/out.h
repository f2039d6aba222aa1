/* vldoc output: byte sinks that commit atomically (temp file + rename),
 * and the writers that turn a document tree into JSON, Markdown, HTML,
 * plain text or JSONL search chunks. */
#ifndef VLDOC_OUT_H
#define VLDOC_OUT_H

#include <stdarg.h>

#include "core.h"
#include "doc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vd_out vd_out;

/* A sink writing to PATH through a temp file in the same directory; the
 * file appears only when vd_out_close succeeds. Errors: VD_ERR_IO. */
vd_status vd_out_open_file(vd_ctx *ctx, const char *path, vd_out **out);
/* Remove the temp files a writer of PATH left when it was killed before
 * vd_out_close or vd_out_free (a supervisor cleaning up after a worker it
 * had to stop). Returns how many it removed. */
int vd_out_remove_stale(const char *path);
/* A sink on an open stdio stream (not closed by vd_out_close). */
vd_status vd_out_open_stream(vd_ctx *ctx, void *FILE_ptr, vd_out **out);
/* A sink collecting bytes in memory, up to MAX bytes (0: no ceiling other
 * than memory); read them with vd_out_buffer. */
vd_status vd_out_open_buffer(vd_ctx *ctx, size_t max, vd_out **out);

/* Append N bytes. Errors are sticky: after one, writes do nothing and
 * vd_out_close reports it. */
void vd_out_write(vd_out *o, const void *data, size_t n);
void vd_out_puts(vd_out *o, const char *s);
void vd_out_printf(vd_out *o, const char *fmt, ...) VD_PRINTF(2, 3);
void vd_out_vprintf(vd_out *o, const char *fmt, va_list ap);
/* Bytes written so far. */
uint64_t vd_out_size(const vd_out *o);
/* Buffer sinks: the bytes so far, NUL-terminated (borrowed). */
const char *vd_out_buffer(const vd_out *o, size_t *len);

/* Flush and commit (rename into place). Errors: VD_ERR_IO, and any
 * earlier write error. The sink stays valid until vd_out_free. */
vd_status vd_out_close(vd_ctx *ctx, vd_out *o);
/* Free; an uncommitted file sink deletes its temp file. */
void vd_out_free(vd_out *o);

/* ---- writers ---- */

typedef struct vd_write_opts {
    int keep_furniture; /* md/text: keep page headers, footers, numbers */
    int chunk_section;  /* jsonl: one record per heading section */
    int page_breaks;    /* md/text: mark page boundaries */
    int pretty;         /* json: indented */
    const char *doc_id; /* jsonl: document id; NULL: the source name */
} vd_write_opts;

void vd_write_opts_init(vd_write_opts *o);

/* Names of the writers: "json", "md", "html", "text", "jsonl" (and
 * "qwenvl", the raw engine HTML). NULL-terminated, static. */
const char *const *vd_writer_names(void);
/* File extension for writer NAME ("md"); NULL for an unknown name. */
const char *vd_writer_ext(const char *name);

/* Write DOC with writer NAME to O. Errors: VD_ERR_ARG (unknown writer),
 * VD_ERR_NOMEM, VD_ERR_IO. */
vd_status vd_doc_write(vd_ctx *ctx, const vd_doc *doc, const char *name,
                       const vd_write_opts *opts, vd_out *o);

#ifdef __cplusplus
}
#endif
#endif

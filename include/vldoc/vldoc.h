/* vldoc: documents (PDF, TIFF, PNG, JPEG) in, structured JSON or Markdown
 * out. This is the one header users include.
 *
 *   vd_ctx *ctx = vd_ctx_new(NULL);
 *   vd_input *in; vd_engine *eng; vd_doc *doc; vd_out *o;
 *   vd_input_open(ctx, "a.pdf", NULL, &in);
 *   vd_engine_opts eo; vd_engine_opts_init(&eo);
 *   vd_engine_open(ctx, &eo, &eng);
 *   vd_doc_new(ctx, "a.pdf", &doc);
 *   for (int i = 0; i < vd_input_page_count(in); i++)
 *       vd_engine_run_page(ctx, eng, in, i, doc);
 *   vd_out_open_file(ctx, "a.md", &o);
 *   vd_doc_write(ctx, doc, "md", NULL, o);
 *   vd_out_close(ctx, o);
 *
 * Every call that can fail returns a vd_status; vd_ctx_errmsg says why. */
#ifndef VLDOC_H
#define VLDOC_H

#include "core.h"
#include "input.h"
#include "doc.h"
#include "engine.h"
#include "model.h"
#include "out.h"

#endif

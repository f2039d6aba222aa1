/* Writer "text": the page text in reading order, one block per paragraph
 * with a blank line between; no model-written (derived) text, no page
 * furniture unless asked for. Also "qwenvl": the raw HTML each engine
 * produced, for debugging and for converting again later. */
#include "config.h"

#include <stdio.h>

#include "writer.h"

static vd_status text_write(vd_ctx *ctx, const vd_doc *doc,
                            const vd_write_opts *opt, vd_out *o)
{
    (void)ctx;
    vd__w w;
    vd__w_init(&w, o);
    int any = 0;
    for (int i = 0; i < vd_doc_page_count(doc); i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        if (opt->page_breaks && i > 0)
            vd__w_putc(&w, '\f');
        for (const vd_block *b = vd_page_first_block(pg); b;
             b = vd_block_next(b))
            if (vd__plain_block(&w, b, 0, opt->keep_furniture,
                                any ? "\n" : NULL)) {
                vd__w_putc(&w, '\n');
                any = 1;
            }
    }
    vd__w_flush(&w);
    return VD_OK;
}

const vd__writer vd__writer_text = { "text", "txt", text_write };

static vd_status qwenvl_write(vd_ctx *ctx, const vd_doc *doc,
                              const vd_write_opts *opt, vd_out *o)
{
    (void)ctx;
    (void)opt;
    int n = vd_doc_page_count(doc);
    for (int i = 0; i < n; i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        const char *h = vd_page_html(pg);
        /* pages are marked when there is more than one, so the output can
         * be split again */
        if (n > 1 || !h)
            vd_out_printf(o, "<!-- vldoc page %d%s -->\n",
                          vd_page_number(pg) + 1, h ? "" : ": failed");
        if (h) {
            vd_out_puts(o, h);
            vd_out_puts(o, "\n");
        }
    }
    return VD_OK;
}

const vd__writer vd__writer_qwenvl = { "qwenvl", "qwenvl.html", qwenvl_write };

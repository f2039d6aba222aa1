/* Writer "text": plain text in reading order. Also "qwenvl": the raw
 * HTML each engine produced, for debugging and for re-conversion. */
#include "config.h"

#include "writer.h"

static int enter(void *u, const vd_block *b, int depth)
{
    vd_out *o = u;
    if (vd__is_furniture(b))
        return 0;
    const char *t = vd_block_text(b);
    if (*t) {
        vd_out_puts(o, t);
        vd_out_puts(o, "\n");
    }
    return 0;
}

static vd_status text_write(vd_ctx *ctx, const vd_doc *doc,
                            const vd_write_opts *opt, vd_out *o)
{
    vd_doc_walk(doc, enter, NULL, o);
    return VD_OK;
}

const vd__writer vd__writer_text = { "text", "txt", text_write };

static vd_status qwenvl_write(vd_ctx *ctx, const vd_doc *doc,
                              const vd_write_opts *opt, vd_out *o)
{
    for (int i = 0; i < vd_doc_page_count(doc); i++) {
        const char *h = vd_page_html(vd_doc_page(doc, i));
        if (h)
            vd_out_puts(o, h);
    }
    return VD_OK;
}

const vd__writer vd__writer_qwenvl = { "qwenvl", "html", qwenvl_write };

/* Writer "md": CommonMark with GFM tables, in reading order; page
 * furniture left out unless asked for. */
#include "config.h"

#include <string.h>

#include "writer.h"

static void md_text(vd_out *o, const char *s)
{
    /* escape characters that would start Markdown syntax */
    for (const char *p = s; *p; p++) {
        if (strchr("\\`*_[]<>#|", *p) ||
            ((p == s) && strchr("-+=", *p) && p[1] == ' '))
            vd_out_write(o, "\\", 1);
        vd_out_write(o, p, 1);
    }
}

static void block(vd_out *o, const vd_block *b, const vd_write_opts *opt,
                  int depth);

static void list(vd_out *o, const vd_block *l, const vd_write_opts *opt,
                 int depth)
{
    int i = 1;
    for (const vd_block *it = vd_block_first_child(l); it;
         it = vd_block_next(it), i++) {
        for (int d = 0; d < depth; d++)
            vd_out_puts(o, "   ");
        if (vd_block_ordered(l))
            vd_out_printf(o, "%d. ", i);
        else
            vd_out_puts(o, "- ");
        md_text(o, vd_block_text(it));
        vd_out_puts(o, "\n");
        for (const vd_block *c = vd_block_first_child(it); c;
             c = vd_block_next(c))
            if (vd_block_kind_get(c) == VD_BLOCK_LIST)
                list(o, c, opt, depth + 1);
    }
}

static void table(vd_out *o, const vd_block *t)
{
    int row = 0;
    for (const vd_block *r = vd_block_first_child(t); r;
         r = vd_block_next(r), row++) {
        int ncol = 0;
        vd_out_puts(o, "|");
        for (const vd_block *c = vd_block_first_child(r); c;
             c = vd_block_next(c), ncol++) {
            vd_out_puts(o, " ");
            md_text(o, vd_block_text(c));
            vd_out_puts(o, " |");
        }
        vd_out_puts(o, "\n");
        if (row == 0) {
            vd_out_puts(o, "|");
            for (int i = 0; i < ncol; i++)
                vd_out_puts(o, " --- |");
            vd_out_puts(o, "\n");
        }
    }
}

static void block(vd_out *o, const vd_block *b, const vd_write_opts *opt,
                  int depth)
{
    if (vd__is_furniture(b) && !opt->keep_furniture)
        return;
    switch (vd_block_kind_get(b)) {
    case VD_BLOCK_TITLE:
        vd_out_puts(o, "# ");
        md_text(o, vd_block_text(b));
        break;
    case VD_BLOCK_HEADING: {
        int l = vd_block_level(b);
        for (int i = 0; i < (l >= 1 && l <= 6 ? l : 2); i++)
            vd_out_puts(o, "#");
        vd_out_puts(o, " ");
        md_text(o, vd_block_text(b));
        break;
    }
    case VD_BLOCK_LIST:
        list(o, b, opt, 0);
        vd_out_puts(o, "\n");
        return;
    case VD_BLOCK_TABLE:
        table(o, b);
        vd_out_puts(o, "\n");
        return;
    default:
        if (!*vd_block_text(b))
            return;
        md_text(o, vd_block_text(b));
        break;
    }
    vd_out_puts(o, "\n\n");
}

static vd_status md_write(vd_ctx *ctx, const vd_doc *doc,
                          const vd_write_opts *opt, vd_out *o)
{
    for (int i = 0; i < vd_doc_page_count(doc); i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        for (const vd_block *b = vd_page_first_block(pg); b;
             b = vd_block_next(b))
            block(o, b, opt, 0);
    }
    return VD_OK;
}

const vd__writer vd__writer_md = { "md", "md", md_write };

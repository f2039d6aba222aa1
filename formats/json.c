/* Writer "json": the document tree as JSON (schema in docs/). */
#include "config.h"

#include "writer.h"

static void box(vd_out *o, const char *key, vd_box b)
{
    vd_out_printf(o, ",\"%s\":[%.2f,%.2f,%.2f,%.2f]", key, b.x1, b.y1, b.x2,
                  b.y2);
}

static void blocks(vd_out *o, const vd_block *b)
{
    vd_out_puts(o, "[");
    for (int first = 1; b; b = vd_block_next(b), first = 0) {
        if (!first)
            vd_out_puts(o, ",");
        vd_out_printf(o, "{\"kind\":\"%s\",\"page\":%d",
                      vd_block_kind_name(vd_block_kind_get(b)),
                      vd_block_page(b) + 1);
        vd_out_puts(o, ",\"text\":");
        vd__json_string(o, vd_block_text(b));
        vd_box bx;
        if (vd_block_bbox(b, &bx))
            box(o, "bbox", bx);
        if (vd_block_bbox_model(b, &bx))
            box(o, "bbox_model", bx);
        if (vd_block_kind_get(b) == VD_BLOCK_HEADING)
            vd_out_printf(o, ",\"level\":%d", vd_block_level(b));
        if (vd_block_first_child(b)) {
            vd_out_puts(o, ",\"children\":");
            blocks(o, vd_block_first_child(b));
        }
        vd_out_puts(o, "}");
    }
    vd_out_puts(o, "]");
}

static vd_status json_write(vd_ctx *ctx, const vd_doc *doc,
                            const vd_write_opts *opt, vd_out *o)
{
    vd_out_puts(o, "{\"schema\":\"vldoc/1\",\"source\":");
    vd__json_string(o, vd_doc_source(doc));
    vd_out_puts(o, ",\"pages\":[");
    for (int i = 0; i < vd_doc_page_count(doc); i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        if (i)
            vd_out_puts(o, ",");
        vd_out_printf(o, "{\"page\":%d", vd_page_number(pg) + 1);
        if (vd_page_error(pg)) {
            vd_out_puts(o, ",\"error\":");
            vd__json_string(o, vd_page_error(pg));
        }
        vd_out_puts(o, ",\"blocks\":");
        blocks(o, vd_page_first_block(pg));
        vd_out_puts(o, "}");
    }
    vd_out_puts(o, "]}\n");
    return VD_OK;
}

const vd__writer vd__writer_json = { "json", "json", json_write };

/* Writer "json": the document tree as one JSON object, schema "vldoc/1"
 * (docs/vldoc-schema.json). Streams as it walks, compact or indented;
 * always valid UTF-8. No timings: the same input gives the same bytes. */
#include "config.h"

#include "writer.h"

/* A streaming JSON emitter: commas and (when pretty) indentation. */
typedef struct jw {
    vd__w w;
    int pretty;
    int depth;
    int first[256]; /* per depth: no member written yet */
} jw;

static void newline(jw *j)
{
    if (!j->pretty)
        return;
    vd__w_putc(&j->w, '\n');
    for (int i = 0; i < j->depth; i++)
        vd__w_write(&j->w, "  ", 2);
}

static void member(jw *j)
{
    int d = j->depth < 256 ? j->depth : 255;
    if (!j->first[d])
        vd__w_putc(&j->w, ',');
    j->first[d] = 0;
    newline(j);
}

static void open_(jw *j, char ch)
{
    vd__w_putc(&j->w, ch);
    j->depth++;
    if (j->depth < 256)
        j->first[j->depth] = 1;
}

static void close_(jw *j, char ch)
{
    int empty = j->depth < 256 && j->first[j->depth];
    j->depth--;
    if (!empty)
        newline(j);
    vd__w_putc(&j->w, ch);
}

static void key(jw *j, const char *k)
{
    member(j);
    vd__w_putc(&j->w, '"');
    vd__w_puts(&j->w, k);
    vd__w_write(&j->w, j->pretty ? "\": " : "\":", j->pretty ? 3 : 2);
}

static void kv_str(jw *j, const char *k, const char *v)
{
    key(j, k);
    vd__w_json_string(&j->w, v);
}

static void kv_int(jw *j, const char *k, long long v)
{
    key(j, k);
    vd__w_int(&j->w, v);
}

static void kv_bool(jw *j, const char *k, int v)
{
    key(j, k);
    vd__w_puts(&j->w, v ? "true" : "false");
}

static void kv_box(jw *j, const char *k, vd_box b)
{
    key(j, k);
    vd__w_putc(&j->w, '[');
    vd__w_num(&j->w, b.x1);
    vd__w_putc(&j->w, ',');
    vd__w_num(&j->w, b.y1);
    vd__w_putc(&j->w, ',');
    vd__w_num(&j->w, b.x2);
    vd__w_putc(&j->w, ',');
    vd__w_num(&j->w, b.y2);
    vd__w_putc(&j->w, ']');
}

static void block(jw *j, const vd_block *b)
{
    vd_block_kind k = vd_block_kind_get(b);
    member(j);
    open_(j, '{');
    kv_str(j, "kind", vd_block_kind_name(k));
    kv_int(j, "page", vd_block_page(b) + 1);
    kv_str(j, "text", vd_block_text(b));
    vd_box bx;
    if (vd_block_bbox(b, &bx)) {
        kv_box(j, "bbox", bx);
        vd_block_bbox_model(b, &bx);
        kv_box(j, "bbox_model", bx);
    }
    switch (k) {
    case VD_BLOCK_HEADING:
        kv_int(j, "level", vd_block_level(b));
        break;
    case VD_BLOCK_LIST:
        kv_bool(j, "ordered", vd_block_ordered(b));
        break;
    case VD_BLOCK_FORMULA:
        kv_bool(j, "display", vd_block_display(b));
        break;
    case VD_BLOCK_FIGURE:
        if (vd_block_figure(b))
            kv_str(j, "figure", vd_block_figure(b));
        break;
    case VD_BLOCK_TABLE_CELL:
        kv_bool(j, "header", vd_block_header(b));
        kv_int(j, "rowspan", vd_block_rowspan(b));
        kv_int(j, "colspan", vd_block_colspan(b));
        break;
    default:
        break;
    }
    if (vd_block_format(b))
        kv_str(j, "format", vd_block_format(b));
    if (vd_block_derived(b))
        kv_bool(j, "derived", 1);
    if (vd_block_class(b))
        kv_str(j, "class", vd_block_class(b));
    if (vd_block_first_child(b)) {
        key(j, "children");
        open_(j, '[');
        for (const vd_block *c = vd_block_first_child(b); c;
             c = vd_block_next(c))
            block(j, c);
        close_(j, ']');
    }
    close_(j, '}');
}

static const char *const flag_names[] = {
    "truncated", "no_boxes", "repaired", "repeats", "bad_boxes", "envelope"
};

static void page(jw *j, const vd_page *pg)
{
    member(j);
    open_(j, '{');
    kv_int(j, "page", vd_page_number(pg) + 1);
    kv_str(j, "status", vd_page_status(pg) == VD_OK ? "ok" : "error");
    if (vd_page_status(pg) != VD_OK) {
        kv_str(j, "error", vd_page_error(pg) ? vd_page_error(pg) : "");
        kv_str(j, "error_status", vd_status_str(vd_page_status(pg)));
    }
    const vd_page_stats *ps = vd_page_stats_get(pg);
    if (ps->engine)
        kv_str(j, "engine", ps->engine);
    const vd_pagemap *m = vd_page_map(pg);
    if (m) {
        key(j, "width");
        vd__w_num(&j->w, m->page_w);
        key(j, "height");
        vd__w_num(&j->w, m->page_h);
        kv_str(j, "unit", m->unit == VD_UNIT_PX ? "px" : "pt");
        kv_int(j, "model_width", m->model_w);
        kv_int(j, "model_height", m->model_h);
    }
    unsigned fl = vd_page_flags(pg);
    if (fl) {
        key(j, "flags");
        open_(j, '[');
        for (unsigned i = 0; i < sizeof flag_names / sizeof *flag_names; i++)
            if (fl & (1u << i)) {
                member(j);
                vd__w_json_string(&j->w, flag_names[i]);
            }
        close_(j, ']');
    }
    if (ps->prompt_tokens || ps->generated_tokens || ps->truncated ||
        ps->repetition || ps->attempts) {
        key(j, "stats");
        open_(j, '{');
        if (ps->prompt_tokens)
            kv_int(j, "prompt_tokens", ps->prompt_tokens);
        if (ps->image_tokens)
            kv_int(j, "image_tokens", ps->image_tokens);
        if (ps->generated_tokens)
            kv_int(j, "generated_tokens", ps->generated_tokens);
        if (ps->truncated)
            kv_bool(j, "truncated", 1);
        if (ps->repetition)
            kv_bool(j, "repetition", 1);
        if (ps->attempts)
            kv_int(j, "attempts", ps->attempts);
        close_(j, '}');
    }
    if (vd_page_warning_count(pg)) {
        key(j, "warnings");
        open_(j, '[');
        for (int i = 0; i < vd_page_warning_count(pg); i++) {
            member(j);
            open_(j, '{');
            kv_str(j, "message", vd_page_warning(pg, i));
            kv_int(j, "count", vd_page_warning_repeats(pg, i));
            close_(j, '}');
        }
        close_(j, ']');
    }
    key(j, "blocks");
    open_(j, '[');
    for (const vd_block *b = vd_page_first_block(pg); b; b = vd_block_next(b))
        block(j, b);
    close_(j, ']');
    close_(j, '}');
}

static vd_status json_write(vd_ctx *ctx, const vd_doc *doc,
                            const vd_write_opts *opt, vd_out *o)
{
    (void)ctx;
    jw j;
    vd__w_init(&j.w, o);
    j.pretty = opt->pretty;
    j.depth = 0;
    j.first[0] = 1;
    open_(&j, '{');
    kv_str(&j, "schema", "vldoc/1");
    kv_str(&j, "source", vd_doc_source(doc));
    key(&j, "pages");
    open_(&j, '[');
    for (int i = 0; i < vd_doc_page_count(doc); i++)
        page(&j, vd_doc_page(doc, i));
    close_(&j, ']');
    close_(&j, '}');
    vd__w_putc(&j.w, '\n');
    vd__w_flush(&j.w);
    return VD_OK;
}

const vd__writer vd__writer_json = { "json", "json", json_write };

/* Writer "jsonl": search chunks, one JSON object per line (schema in
 * docs/vldoc-chunk-schema.json): a top-level block, or a heading section
 * with chunk_section; with doc id, page, box, heading path, page text and
 * derived text apart. A "page" record precedes the chunks of any page with
 * an error, flags or warnings. */
#include "config.h"

#include <string.h>

#include "writer.h"

#define MAX_PATH 16

typedef struct heading {
    int level; /* 0 for a title */
    const vd_block *b;
} heading;

typedef struct jl {
    vd_ctx *ctx;
    vd__w w;
    const vd_write_opts *opt;
    const char *doc_id;
    long chunk;
    heading path[MAX_PATH];
    int npath;
    /* scratch text (a buffer sink): page text and derived text */
    vd_out *tbuf, *dbuf;
    vd__w tw, dw;
    size_t t0, d0; /* where the current chunk's text starts */
    /* section being collected */
    int sec_open;
    int sec_page, sec_last_page;
    const vd_block *sec_kind_block;
    heading sec_path[MAX_PATH];
    int sec_npath;
    int sec_has_box;
    vd_box sec_box; /* union of the section's boxes on sec_page */
} jl;

static void key(jl *j, const char *k)
{
    vd__w_putc(&j->w, ',');
    vd__w_putc(&j->w, '"');
    vd__w_puts(&j->w, k);
    vd__w_write(&j->w, "\":", 2);
}

static void box(jl *j, vd_box b)
{
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

static void head(jl *j, const char *type, int page)
{
    vd__w_puts(&j->w, "{\"type\":");
    vd__w_json_string(&j->w, type);
    key(j, "doc_id");
    vd__w_json_string(&j->w, j->doc_id);
    key(j, "page");
    vd__w_int(&j->w, page);
}

static void path_json(jl *j, const heading *p, int n)
{
    key(j, "heading_path");
    vd__w_putc(&j->w, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            vd__w_putc(&j->w, ',');
        vd__w_json_string(&j->w, vd_block_text(p[i].b));
    }
    vd__w_putc(&j->w, ']');
}

/* Scratch text lives in two buffer sinks, made once per page and used
 * from an offset per chunk, so chunks cost no allocation. */
static const char *scratch(vd__w *w, size_t from, size_t *n)
{
    vd__w_flush(w);
    size_t len;
    const char *d = vd_out_buffer(w->o, &len);
    *n = len - from;
    return d + from;
}

static vd_status scratch_page(jl *j)
{
    vd_out_free(j->tbuf);
    vd_out_free(j->dbuf);
    j->tbuf = j->dbuf = NULL;
    vd_status st = vd_out_open_buffer(j->ctx, 0, &j->tbuf);
    if (st == VD_OK)
        st = vd_out_open_buffer(j->ctx, 0, &j->dbuf);
    if (st)
        return st;
    vd__w_init(&j->tw, j->tbuf);
    vd__w_init(&j->dw, j->dbuf);
    j->t0 = j->d0 = 0;
    return VD_OK;
}

/* Start a chunk's text at the current end of the scratch. */
static void scratch_reset(jl *j)
{
    vd__w_flush(&j->tw);
    vd__w_flush(&j->dw);
    j->t0 = (size_t)vd_out_size(j->tbuf);
    j->d0 = (size_t)vd_out_size(j->dbuf);
}

static void text_fields(jl *j)
{
    size_t n, dn;
    const char *t = scratch(&j->tw, j->t0, &n);
    const char *d = scratch(&j->dw, j->d0, &dn);
    key(j, "text");
    vd__w_json_stringn(&j->w, t ? t : "", t ? n : 0);
    if (dn) {
        key(j, "derived_text");
        vd__w_json_stringn(&j->w, d, dn);
    }
}

/* The heading path after B, when B is a heading or title. */
static void path_push(heading *p, int *n, const vd_block *b)
{
    vd_block_kind k = vd_block_kind_get(b);
    if (k != VD_BLOCK_HEADING && k != VD_BLOCK_TITLE)
        return;
    if (!*vd_block_text(b))
        return;
    int level = k == VD_BLOCK_TITLE ? 0 : vd_block_level(b);
    while (*n > 0 && p[*n - 1].level >= level)
        (*n)--;
    if (*n == MAX_PATH)
        (*n)--;
    p[*n].level = level;
    p[*n].b = b;
    (*n)++;
}

static int wanted(const jl *j, const vd_block *b)
{
    return !(vd__is_furniture(b) && !j->opt->keep_furniture) &&
           vd_block_kind_get(b) != VD_BLOCK_IMAGE;
}

/* The derived text in B (all of it when B is derived) to the derived
 * scratch; ANY: something is there already. Returns 1 when written. */
static int derived_parts(jl *j, const vd_block *b, int any)
{
    if (vd_block_derived(b))
        return vd__plain_block(&j->dw, b, 1, j->opt->keep_furniture,
                               any ? "\n" : NULL);
    int wrote = 0;
    for (const vd_block *c = vd_block_first_child(b); c; c = vd_block_next(c))
        wrote |= derived_parts(j, c, any || wrote);
    return wrote;
}

static vd_status block_chunk(jl *j, const vd_block *b)
{
    scratch_reset(j);
    int has_t = vd__plain_block(&j->tw, b, 0, j->opt->keep_furniture, NULL);
    int has_d = derived_parts(j, b, 0);
    if (!has_t && !has_d)
        return VD_OK;
    head(j, "chunk", vd_block_page(b) + 1);
    key(j, "chunk");
    vd__w_int(&j->w, j->chunk++);
    key(j, "kind");
    vd__w_json_string(&j->w, vd_block_kind_name(vd_block_kind_get(b)));
    vd_box bx;
    if (vd_block_bbox(b, &bx)) {
        key(j, "bbox");
        box(j, bx);
    }
    path_json(j, j->path, j->npath);
    text_fields(j);
    vd__w_write(&j->w, "}\n", 2);
    return VD_OK;
}

/* ---- sections ---- */

static vd_status section_start(jl *j, const vd_block *b, int page)
{
    /* a section may run over pages: its own scratch */
    vd_status st = scratch_page(j);
    if (st)
        return st;
    j->sec_open = 1;
    j->sec_page = j->sec_last_page = page;
    j->sec_kind_block = b;
    memcpy(j->sec_path, j->path, sizeof j->path);
    j->sec_npath = j->npath;
    j->sec_has_box = 0;
    return VD_OK;
}

static vd_status section_add(jl *j, const vd_block *b)
{
    int page = vd_block_page(b) + 1;
    size_t tn, dn;
    scratch(&j->tw, j->t0, &tn);
    scratch(&j->dw, j->d0, &dn);
    vd__plain_block(&j->tw, b, 0, j->opt->keep_furniture, tn ? "\n\n" : NULL);
    derived_parts(j, b, dn > 0);
    vd_box bx;
    if (vd_block_bbox(b, &bx)) {
        if (page == j->sec_page) {
            if (!j->sec_has_box) {
                j->sec_box = bx;
                j->sec_has_box = 1;
            } else {
                j->sec_box.x1 = bx.x1 < j->sec_box.x1 ? bx.x1 : j->sec_box.x1;
                j->sec_box.y1 = bx.y1 < j->sec_box.y1 ? bx.y1 : j->sec_box.y1;
                j->sec_box.x2 = bx.x2 > j->sec_box.x2 ? bx.x2 : j->sec_box.x2;
                j->sec_box.y2 = bx.y2 > j->sec_box.y2 ? bx.y2 : j->sec_box.y2;
            }
        }
    }
    j->sec_last_page = page;
    return VD_OK;
}

static void section_flush(jl *j)
{
    if (!j->sec_open)
        return;
    j->sec_open = 0;
    size_t n, dn;
    scratch(&j->tw, j->t0, &n);
    scratch(&j->dw, j->d0, &dn);
    if (!n && !dn)
        return;
    head(j, "chunk", j->sec_page);
    key(j, "chunk");
    vd__w_int(&j->w, j->chunk++);
    key(j, "kind");
    vd__w_json_string(&j->w, "section");
    if (j->sec_last_page != j->sec_page) {
        key(j, "last_page");
        vd__w_int(&j->w, j->sec_last_page);
    }
    if (j->sec_has_box) {
        key(j, "bbox");
        box(j, j->sec_box);
    }
    path_json(j, j->sec_path, j->sec_npath);
    text_fields(j);
    vd__w_write(&j->w, "}\n", 2);
}

static const char *const flag_names[] = {
    "truncated", "no_boxes", "repaired", "repeats", "bad_boxes", "envelope"
};

static void page_record(jl *j, const vd_page *pg)
{
    int ok = vd_page_status(pg) == VD_OK;
    unsigned fl = vd_page_flags(pg);
    if (ok && !fl && !vd_page_warning_count(pg))
        return;
    head(j, "page", vd_page_number(pg) + 1);
    key(j, "status");
    vd__w_puts(&j->w, ok ? "\"ok\"" : "\"error\"");
    if (!ok) {
        key(j, "error");
        vd__w_json_string(&j->w, vd_page_error(pg) ? vd_page_error(pg) : "");
    }
    if (fl) {
        key(j, "flags");
        vd__w_putc(&j->w, '[');
        int first = 1;
        for (unsigned i = 0; i < sizeof flag_names / sizeof *flag_names; i++)
            if (fl & (1u << i)) {
                if (!first)
                    vd__w_putc(&j->w, ',');
                first = 0;
                vd__w_json_string(&j->w, flag_names[i]);
            }
        vd__w_putc(&j->w, ']');
    }
    if (vd_page_warning_count(pg)) {
        key(j, "warnings");
        vd__w_putc(&j->w, '[');
        for (int i = 0; i < vd_page_warning_count(pg); i++) {
            if (i)
                vd__w_putc(&j->w, ',');
            vd__w_puts(&j->w, "{\"message\":");
            vd__w_json_string(&j->w, vd_page_warning(pg, i));
            vd__w_puts(&j->w, ",\"count\":");
            vd__w_int(&j->w, vd_page_warning_repeats(pg, i));
            vd__w_putc(&j->w, '}');
        }
        vd__w_putc(&j->w, ']');
    }
    vd__w_write(&j->w, "}\n", 2);
}

static vd_status jsonl_write(vd_ctx *ctx, const vd_doc *doc,
                             const vd_write_opts *opt, vd_out *o)
{
    jl j;
    memset(&j, 0, sizeof j);
    j.ctx = ctx;
    j.opt = opt;
    j.doc_id = opt->doc_id ? opt->doc_id : vd_doc_source(doc);
    vd__w_init(&j.w, o);
    vd_status st = VD_OK;
    for (int i = 0; i < vd_doc_page_count(doc) && !st; i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        page_record(&j, pg);
        if (!opt->chunk_section && (st = scratch_page(&j)) != VD_OK)
            break;
        for (const vd_block *b = vd_page_first_block(pg); b && !st;
             b = vd_block_next(b)) {
            if (!wanted(&j, b))
                continue;
            vd_block_kind k = vd_block_kind_get(b);
            int is_head = (k == VD_BLOCK_HEADING || k == VD_BLOCK_TITLE) &&
                          *vd_block_text(b);
            path_push(j.path, &j.npath, b);
            if (!opt->chunk_section) {
                st = block_chunk(&j, b);
                continue;
            }
            if (is_head || !j.sec_open) {
                section_flush(&j);
                st = section_start(&j, b, vd_block_page(b) + 1);
            }
            if (!st)
                st = section_add(&j, b);
        }
    }
    if (!st && opt->chunk_section)
        section_flush(&j);
    vd__w_flush(&j.w);
    vd_out_free(j.tbuf);
    vd_out_free(j.dbuf);
    return st;
}

const vd__writer vd__writer_jsonl = { "jsonl", "jsonl", jsonl_write };

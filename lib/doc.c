/* Document tree: pages and blocks owned by the document's arena, plus the
 * public walker. Building from HTML is in qwenhtml.c. */
#include "config.h"

#include <string.h>

#include "doc-private.h"

static const char *const kind_names[VD_BLOCK_KIND_COUNT_] = {
    [VD_BLOCK_UNKNOWN] = "unknown",
    [VD_BLOCK_TITLE] = "title",
    [VD_BLOCK_HEADING] = "heading",
    [VD_BLOCK_PARAGRAPH] = "paragraph",
    [VD_BLOCK_LIST] = "list",
    [VD_BLOCK_LIST_ITEM] = "list_item",
    [VD_BLOCK_TABLE] = "table",
    [VD_BLOCK_TABLE_ROW] = "table_row",
    [VD_BLOCK_TABLE_CELL] = "table_cell",
    [VD_BLOCK_FORMULA] = "formula",
    [VD_BLOCK_FIGURE] = "figure",
    [VD_BLOCK_CAPTION] = "caption",
    [VD_BLOCK_PAGE_HEADER] = "page_header",
    [VD_BLOCK_PAGE_FOOTER] = "page_footer",
    [VD_BLOCK_PAGE_NUMBER] = "page_number",
    [VD_BLOCK_FOOTNOTE] = "footnote",
    [VD_BLOCK_CODE] = "code",
};

const char *vd_block_kind_name(vd_block_kind k)
{
    if ((unsigned)k >= VD_BLOCK_KIND_COUNT_)
        return "unknown";
    return kind_names[k];
}

vd_status vd_doc_new(vd_ctx *ctx, const char *source, vd_doc **out)
{
    *out = NULL;
    vd_doc *d = vd__calloc(ctx, 1, sizeof *d);
    if (!d)
        return VD_ERR_NOMEM;
    d->arena = vd__arena_new(ctx, 0);
    if (!d->arena) {
        vd__free(d);
        return VD_ERR_NOMEM;
    }
    d->source = vd__arena_strdup(ctx, d->arena, source ? source : "");
    if (!d->source) {
        vd_doc_free(d);
        return VD_ERR_NOMEM;
    }
    *out = d;
    return VD_OK;
}

void vd_doc_free(vd_doc *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->npages; i++) {
        vd__free(d->pages[i]->warnings);
        vd__free(d->pages[i]->warn_counts);
    }
    vd__free(d->pages);
    vd__arena_free(d->arena);
    vd__free(d);
}

vd_page *vd__doc_page_new(vd_ctx *ctx, vd_doc *d, int page_no)
{
    if (d->npages == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        vd_page **p = vd__realloc(ctx, d->pages, sizeof *p * (size_t)cap);
        if (!p)
            return NULL;
        d->pages = p;
        d->cap = cap;
    }
    vd_page *pg = vd__arena_new_obj(ctx, d->arena, vd_page);
    if (!pg)
        return NULL;
    pg->number = page_no;
    d->pages[d->npages++] = pg;
    return pg;
}

vd_block *vd__block_new(vd_ctx *ctx, vd_doc *d, vd_page *pg,
                        vd_block *parent, vd_block_kind kind)
{
    vd_block *b = vd__arena_new_obj(ctx, d->arena, vd_block);
    if (!b)
        return NULL;
    b->kind = kind;
    b->page = pg->number;
    b->text = "";
    b->rowspan = b->colspan = 1;
    b->parent = parent;
    if (parent) {
        if (parent->last)
            parent->last->next = b;
        else
            parent->first = b;
        parent->last = b;
    } else {
        if (pg->last)
            pg->last->next = b;
        else
            pg->first = b;
        pg->last = b;
    }
    return b;
}

vd_status vd_doc_add_page_html(vd_ctx *ctx, vd_doc *d, int page_no,
                               const char *html, size_t len,
                               const vd_pagemap *map, vd_page **out)
{
    if (out)
        *out = NULL;
    if (len > ctx->opts.limits.max_html_bytes)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: page %d: HTML of %zu bytes is over the limit",
                        d->source, page_no + 1, len);
    vd_page *pg = vd__doc_page_new(ctx, d, page_no);
    if (!pg)
        return VD_ERR_NOMEM;
    pg->html = vd__arena_strndup(ctx, d->arena, html, len);
    if (!pg->html)
        return VD_ERR_NOMEM;
    if (map) {
        pg->map = *map;
        pg->has_map = 1;
    }
    vd_status st = vd__qwenhtml_parse(ctx, d, pg, html, len);
    if (st == VD_OK && out)
        *out = pg;
    return st;
}

vd_status vd_doc_add_page_error(vd_ctx *ctx, vd_doc *d, int page_no,
                                vd_status status, const char *msg)
{
    vd_page *pg = vd__doc_page_new(ctx, d, page_no);
    if (!pg)
        return VD_ERR_NOMEM;
    pg->status = status;
    pg->error = vd__arena_strdup(ctx, d->arena,
                                 msg && *msg ? msg : vd_status_str(status));
    return pg->error ? VD_OK : VD_ERR_NOMEM;
}

vd_status vd_page_add_warning(vd_ctx *ctx, vd_doc *d, vd_page *pg,
                              const char *msg)
{
    if (pg->nwarn > 0 && strcmp(pg->warnings[pg->nwarn - 1], msg) == 0) {
        pg->warn_counts[pg->nwarn - 1]++;
        return VD_OK;
    }
    if (pg->nwarn == pg->capwarn) {
        int cap = pg->capwarn ? pg->capwarn * 2 : 4;
        const char **w = vd__realloc(ctx, pg->warnings, sizeof *w * (size_t)cap);
        if (!w)
            return VD_ERR_NOMEM;
        pg->warnings = w;
        int *c = vd__realloc(ctx, pg->warn_counts, sizeof *c * (size_t)cap);
        if (!c)
            return VD_ERR_NOMEM;
        pg->warn_counts = c;
        pg->capwarn = cap;
    }
    const char *s = vd__arena_strdup(ctx, d->arena, msg);
    if (!s)
        return VD_ERR_NOMEM;
    pg->warnings[pg->nwarn] = s;
    pg->warn_counts[pg->nwarn] = 1;
    pg->nwarn++;
    return VD_OK;
}

void vd_page_set_stats(vd_page *pg, const vd_page_stats *st)
{
    pg->stats = *st;
    if (st->engine) {
        strncpy(pg->engine_name, st->engine, sizeof pg->engine_name - 1);
        pg->stats.engine = pg->engine_name;
    }
}

const vd_page_stats *vd_page_stats_get(const vd_page *pg)
{
    return &pg->stats;
}

const char *vd_doc_source(const vd_doc *d)
{
    return d->source;
}

int vd_doc_page_count(const vd_doc *d)
{
    return d->npages;
}

vd_page *vd_doc_page(const vd_doc *d, int i)
{
    return i >= 0 && i < d->npages ? d->pages[i] : NULL;
}

int vd_page_number(const vd_page *p)
{
    return p->number;
}

vd_status vd_page_status(const vd_page *p)
{
    return p->status;
}

const char *vd_page_error(const vd_page *p)
{
    return p->error;
}

const vd_pagemap *vd_page_map(const vd_page *p)
{
    return p->has_map ? &p->map : NULL;
}

int vd_page_warning_count(const vd_page *p)
{
    return p->nwarn;
}

const char *vd_page_warning(const vd_page *p, int i)
{
    return i >= 0 && i < p->nwarn ? p->warnings[i] : NULL;
}

const vd_block *vd_page_first_block(const vd_page *p)
{
    return p->first;
}

const char *vd_page_html(const vd_page *p)
{
    return p->html;
}

vd_block_kind vd_block_kind_get(const vd_block *b)
{
    return b->kind;
}

const vd_block *vd_block_next(const vd_block *b)
{
    return b->next;
}

const vd_block *vd_block_first_child(const vd_block *b)
{
    return b->first;
}

const vd_block *vd_block_parent(const vd_block *b)
{
    return b->parent;
}

const char *vd_block_text(const vd_block *b)
{
    return b->text;
}

int vd_block_page(const vd_block *b)
{
    return b->page;
}

int vd_block_bbox(const vd_block *b, vd_box *out)
{
    if (b->has_bbox && out)
        *out = b->bbox;
    return b->has_bbox;
}

int vd_block_bbox_model(const vd_block *b, vd_box *out)
{
    if (b->has_bbox && out)
        *out = b->bbox_model;
    return b->has_bbox;
}

int vd_block_level(const vd_block *b)
{
    return b->level;
}

int vd_block_ordered(const vd_block *b)
{
    return b->ordered;
}

int vd_block_display(const vd_block *b)
{
    return b->display;
}

int vd_block_derived(const vd_block *b)
{
    return b->derived;
}

int vd_block_rowspan(const vd_block *b)
{
    return b->rowspan;
}

int vd_block_colspan(const vd_block *b)
{
    return b->colspan;
}

int vd_block_header(const vd_block *b)
{
    return b->header;
}

const char *vd_block_class(const vd_block *b)
{
    return b->cls;
}

static int walk(const vd_block *b, int depth, vd_walk_fn enter,
                vd_walk_fn leave, void *user)
{
    for (; b; b = b->next) {
        if (enter && enter(user, b, depth))
            return 1;
        if (walk(b->first, depth + 1, enter, leave, user))
            return 1;
        if (leave && leave(user, b, depth))
            return 1;
    }
    return 0;
}

int vd_doc_walk(const vd_doc *d, vd_walk_fn enter, vd_walk_fn leave,
                void *user)
{
    for (int i = 0; i < d->npages; i++)
        if (walk(d->pages[i]->first, 0, enter, leave, user))
            return 1;
    return 0;
}

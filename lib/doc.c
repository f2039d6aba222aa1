/* Document tree: pages and blocks owned by the document's arena, plus the
 * public walker. Building from HTML is in qwenhtml.c; this file only links
 * nodes, keeps page warnings and answers the accessors. Never prints. */
#include "config.h"

#include <stdio.h>
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
    [VD_BLOCK_IMAGE] = "image",
};

const char *vd_block_kind_name(vd_block_kind k)
{
    if ((unsigned)k >= VD_BLOCK_KIND_COUNT_)
        return "unknown";
    return kind_names[k];
}

char *vd__doc_strdup_utf8(vd_ctx *ctx, vd_doc *d, const char *s, size_t n)
{
    vd__buf b;
    vd__buf_init(&b, 0);
    vd__utf8_repair(ctx, &b, s, n);
    char *r =
        b.err ? NULL
              : vd__arena_strndup(ctx, d->arena, b.data ? b.data : "", b.len);
    vd__buf_free(&b);
    return r;
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
    source = source ? source : "";
    d->source = vd__doc_strdup_utf8(ctx, d, source, strlen(source));
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
    vd__qwenhtml_free_parser(d->parser);
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

vd_block *vd__block_new(vd_ctx *ctx, vd_doc *d, vd_page *pg, vd_block *parent,
                        vd_block_kind kind)
{
    vd_block *b = vd__arena_new_obj(ctx, d->arena, vd_block);
    if (!b)
        return NULL;
    b->kind = kind;
    b->page = pg->number;
    b->text = "";
    b->rowspan = b->colspan = 1;
    b->parent = parent;
    vd_block **first = parent ? &parent->first : &pg->first;
    vd_block **last = parent ? &parent->last : &pg->last;
    b->prev = *last;
    if (*last)
        (*last)->next = b;
    else
        *first = b;
    *last = b;
    return b;
}

void vd__block_unlink(vd_page *pg, vd_block *b)
{
    vd_block **first = b->parent ? &b->parent->first : &pg->first;
    vd_block **last = b->parent ? &b->parent->last : &pg->last;
    if (b->prev)
        b->prev->next = b->next;
    else
        *first = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        *last = b->prev;
    b->prev = b->next = b->parent = NULL;
}

void vd__block_adopt(vd_block *parent, vd_block *b, int at_end)
{
    b->parent = parent;
    if (at_end) {
        b->prev = parent->last;
        b->next = NULL;
        if (parent->last)
            parent->last->next = b;
        else
            parent->first = b;
        parent->last = b;
    } else {
        b->next = parent->first;
        b->prev = NULL;
        if (parent->first)
            parent->first->prev = b;
        else
            parent->last = b;
        parent->first = b;
    }
}

vd_status vd_doc_add_page_html(vd_ctx *ctx, vd_doc *d, int page_no,
                               const char *html, size_t len,
                               const vd_pagemap *map, vd_page **out)
{
    if (out)
        *out = NULL;
    if (len > ctx->opts.limits.max_html_bytes)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: page %d: HTML of %zu bytes is over the limit "
                        "of %llu",
                        d->source, page_no + 1, len,
                        (unsigned long long)ctx->opts.limits.max_html_bytes);
    if (!html) {
        html = "";
        len = 0;
    }
    vd_page *pg = vd__doc_page_new(ctx, d, page_no);
    if (!pg)
        return VD_ERR_NOMEM;
    pg->html = vd__arena_strndup(ctx, d->arena, html, len);
    if (!pg->html)
        return VD_ERR_NOMEM;
    if (map && map->model_w > 0 && map->model_h > 0) {
        pg->map = *map;
        pg->has_map = 1;
    }
    vd_status st = vd__qwenhtml_parse(ctx, d, pg, html, len);
    if (st == VD_OK)
        vd__doc_mark_furniture(ctx, d, pg);
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
    pg->status = status ? status : VD_ERR_INTERNAL;
    if (!msg || !*msg)
        msg = vd_status_str(pg->status);
    pg->error = vd__doc_strdup_utf8(ctx, d, msg, strlen(msg));
    return pg->error ? VD_OK : VD_ERR_NOMEM;
}

/* MSG without a leading "SOURCE: page N: " of its own page: engine errors
 * that become warnings carry it, and the page and the log add their own. */
static const char *page_local(const vd_doc *d, const vd_page *pg,
                              const char *msg)
{
    char pre[64];
    size_t n = d->source ? strlen(d->source) : 0;
    if (!n || strncmp(msg, d->source, n) != 0)
        return msg;
    int k = snprintf(pre, sizeof pre, ": page %d: ", pg->number + 1);
    if (k > 0 && strncmp(msg + n, pre, (size_t)k) == 0)
        return msg + n + k;
    return msg;
}

vd_status vd_page_add_warning(vd_ctx *ctx, vd_doc *d, vd_page *pg,
                              const char *msg)
{
    msg = page_local(d, pg, msg);
    vd__warn(ctx, "%s: page %d: %s", d->source, pg->number + 1, msg);
    if (pg->nwarn > 0 && strcmp(pg->warnings[pg->nwarn - 1], msg) == 0) {
        pg->warn_counts[pg->nwarn - 1]++;
        return VD_OK;
    }
    if (pg->nwarn == pg->capwarn) {
        int cap = pg->capwarn ? pg->capwarn * 2 : 4;
        const char **w =
            vd__realloc(ctx, pg->warnings, sizeof *w * (size_t)cap);
        if (!w)
            return VD_ERR_NOMEM;
        pg->warnings = w;
        int *c = vd__realloc(ctx, pg->warn_counts, sizeof *c * (size_t)cap);
        if (!c)
            return VD_ERR_NOMEM;
        pg->warn_counts = c;
        pg->capwarn = cap;
    }
    const char *s = vd__doc_strdup_utf8(ctx, d, msg, strlen(msg));
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
    pg->stats.engine = NULL;
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

int vd_page_warning_repeats(const vd_page *p, int i)
{
    return i >= 0 && i < p->nwarn ? p->warn_counts[i] : 0;
}

unsigned vd_page_flags(const vd_page *p)
{
    return p->flags;
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

const char *vd_block_figure(const vd_block *b)
{
    return b->kind == VD_BLOCK_FIGURE ? b->figure : NULL;
}

const char *vd_block_format(const vd_block *b)
{
    return b->format;
}

/* Iterative so that no input can exhaust the stack, whatever the
 * nesting; the tree is at most as deep as qwenhtml.c builds it. */
static int walk(const vd_block *b, vd_walk_fn enter, vd_walk_fn leave,
                void *user)
{
    int depth = 0;
    while (b) {
        if (enter && enter(user, b, depth))
            return 1;
        if (b->first) {
            b = b->first;
            depth++;
            continue;
        }
        for (;;) {
            if (leave && leave(user, b, depth))
                return 1;
            if (b->next) {
                b = b->next;
                break;
            }
            if (depth == 0)
                return 0;
            b = b->parent;
            depth--;
        }
    }
    return 0;
}

int vd_page_walk(const vd_page *p, vd_walk_fn enter, vd_walk_fn leave,
                 void *user)
{
    return walk(p->first, enter, leave, user);
}

int vd_doc_walk(const vd_doc *d, vd_walk_fn enter, vd_walk_fn leave, void *user)
{
    for (int i = 0; i < d->npages; i++)
        if (walk(d->pages[i]->first, enter, leave, user))
            return 1;
    return 0;
}

static int count_one(void *user, const vd_block *b, int depth)
{
    (void)b;
    (void)depth;
    ++*(int *)user;
    return 0;
}

int vd_doc_block_count(const vd_doc *d)
{
    int n = 0;
    vd_doc_walk(d, count_one, NULL, &n);
    return n;
}

/* QwenVL HTML -> document tree. libxml2's HTML parser in recovery mode
 * takes the model's imperfect output; each element with data-bbox becomes
 * a block with its box in model pixels and, through the page map, in page
 * coordinates. Never trusts a box or drops recoverable text. */
#include "config.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc-private.h"

typedef struct conv {
    vd_ctx *ctx;
    vd_doc *doc;
    vd_page *pg;
    vd__buf text;
    vd_status st;
} conv;

static int name_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           xmlStrcasecmp(n->name, (const xmlChar *)name) == 0;
}

static void gather_node(conv *c, const xmlNode *n);

/* Whitespace-collapsed text of the list N and its siblings. */
static void gather(conv *c, const xmlNode *n)
{
    for (; n; n = n->next)
        gather_node(c, n);
}

static void gather_node(conv *c, const xmlNode *n)
{
    {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            for (const xmlChar *s = n->content; s && *s; s++) {
                int sp = *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r';
                if (sp) {
                    if (c->text.len && c->text.data[c->text.len - 1] != ' ')
                        vd__buf_putc(c->ctx, &c->text, ' ');
                } else {
                    vd__buf_putc(c->ctx, &c->text, *s);
                }
            }
        } else if (n->type == XML_ELEMENT_NODE) {
            if (name_is(n, "br") && c->text.len &&
                c->text.data[c->text.len - 1] != ' ')
                vd__buf_putc(c->ctx, &c->text, ' ');
            else if (!name_is(n, "style") && !name_is(n, "script"))
                gather(c, n->children);
        }
    }
}

static const char *text_of(conv *c, const xmlNode *n)
{
    vd__buf_reset(&c->text);
    gather(c, n->children);
    size_t a = 0, b = c->text.len;
    while (a < b && c->text.data[a] == ' ')
        a++;
    while (b > a && c->text.data[b - 1] == ' ')
        b--;
    const char *s = vd__arena_strndup(c->ctx, c->doc->arena,
                                      c->text.data ? c->text.data + a : "",
                                      b - a);
    if (!s)
        c->st = VD_ERR_NOMEM;
    return s ? s : "";
}

static void set_bbox(conv *c, vd_block *b, const xmlNode *n)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)"data-bbox");
    if (!v)
        return;
    double x[4];
    int used = 0;
    if (sscanf((const char *)v, "%lf %lf %lf %lf %n", &x[0], &x[1], &x[2],
               &x[3], &used) == 4 &&
        v[used] == '\0') {
        b->has_bbox = 1;
        vd_box m = { x[0] < x[2] ? x[0] : x[2], x[1] < x[3] ? x[1] : x[3],
                     x[0] < x[2] ? x[2] : x[0], x[1] < x[3] ? x[3] : x[1] };
        b->bbox_model = m;
        b->bbox = c->pg->has_map ? vd_pagemap_to_page(&c->pg->map, m) : m;
    } else {
        char w[128];
        snprintf(w, sizeof w, "malformed data-bbox \"%.60s\" dropped",
                 (const char *)v);
        vd_page_add_warning(c->ctx, c->doc, c->pg, w);
    }
    xmlFree(v);
}

static void convert(conv *c, const xmlNode *n, vd_block *parent);

static vd_block *add(conv *c, vd_block *parent, vd_block_kind k,
                     const xmlNode *n, int with_text)
{
    vd_block *b = vd__block_new(c->ctx, c->doc, c->pg, parent, k);
    if (!b) {
        c->st = VD_ERR_NOMEM;
        return NULL;
    }
    set_bbox(c, b, n);
    xmlChar *cls = xmlGetProp(n, (const xmlChar *)"class");
    if (cls) {
        b->cls = vd__arena_strdup(c->ctx, c->doc->arena, (const char *)cls);
        xmlFree(cls);
    }
    if (with_text)
        b->text = text_of(c, n);
    return b;
}

static void convert(conv *c, const xmlNode *n, vd_block *parent)
{
    for (; n && c->st == VD_OK; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            if (n->type == XML_TEXT_NODE && !parent) {
                vd__buf_reset(&c->text);
                gather_node(c, n);
                if (c->text.len > 1 || (c->text.len == 1 &&
                                        c->text.data[0] != ' ')) {
                    vd_block *b = vd__block_new(c->ctx, c->doc, c->pg, NULL,
                                                VD_BLOCK_UNKNOWN);
                    if (b)
                        b->text = vd__arena_strndup(c->ctx, c->doc->arena,
                                                    c->text.data,
                                                    c->text.len);
                }
            }
            continue;
        }
        const char *nm = (const char *)n->name;
        if (nm[0] == 'h' && nm[1] >= '1' && nm[1] <= '6' && !nm[2]) {
            vd_block *b = add(c, parent, VD_BLOCK_HEADING, n, 1);
            if (b)
                b->level = nm[1] - '0';
        } else if (name_is(n, "p")) {
            vd_block *b = add(c, parent, VD_BLOCK_PARAGRAPH, n, 1);
            /* page furniture classes written by the text engine */
            if (b && b->cls) {
                if (strcmp(b->cls, "page_header") == 0)
                    b->kind = VD_BLOCK_PAGE_HEADER;
                else if (strcmp(b->cls, "page_footer") == 0)
                    b->kind = VD_BLOCK_PAGE_FOOTER;
                else if (strcmp(b->cls, "page_number") == 0)
                    b->kind = VD_BLOCK_PAGE_NUMBER;
                else if (strcmp(b->cls, "footnote") == 0)
                    b->kind = VD_BLOCK_FOOTNOTE;
            }
        } else if (name_is(n, "ul") || name_is(n, "ol")) {
            vd_block *b = add(c, parent, VD_BLOCK_LIST, n, 0);
            if (b) {
                b->ordered = name_is(n, "ol");
                convert(c, n->children, b);
            }
        } else if (name_is(n, "li")) {
            add(c, parent, VD_BLOCK_LIST_ITEM, n, 1);
        } else if (name_is(n, "table")) {
            vd_block *b = add(c, parent, VD_BLOCK_TABLE, n, 0);
            if (b)
                convert(c, n->children, b);
        } else if (name_is(n, "tr")) {
            vd_block *b = add(c, parent, VD_BLOCK_TABLE_ROW, n, 0);
            if (b)
                convert(c, n->children, b);
        } else if (name_is(n, "td") || name_is(n, "th")) {
            vd_block *b = add(c, parent, VD_BLOCK_TABLE_CELL, n, 1);
            if (b)
                b->header = name_is(n, "th");
        } else if (name_is(n, "style") || name_is(n, "script") ||
                   name_is(n, "head")) {
            continue;
        } else {
            convert(c, n->children, parent);
        }
    }
}

vd_status vd__qwenhtml_parse(vd_ctx *ctx, vd_doc *doc, vd_page *pg,
                             const char *html, size_t len)
{
    /* strip a Markdown code fence or prose before the first tag */
    const char *start = memchr(html, '<', len);
    if (!start)
        start = html;
    size_t n = len - (size_t)(start - html);
    if (n > (size_t)INT32_MAX)
        return vd__fail(ctx, VD_ERR_LIMIT, "HTML too large");
    conv c = { ctx, doc, pg, { 0 }, VD_OK };
    vd__buf_init(&c.text, 0);
    htmlDocPtr h = htmlReadMemory(start, (int)n, NULL, "UTF-8",
                                  HTML_PARSE_RECOVER | HTML_PARSE_NONET |
                                      HTML_PARSE_NOERROR |
                                      HTML_PARSE_NOWARNING);
    if (h) {
        xmlNode *root = xmlDocGetRootElement(h);
        if (root)
            convert(&c, root, NULL);
        xmlFreeDoc(h);
    }
    vd__buf_free(&c.text);
    return c.st;
}

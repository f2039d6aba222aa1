/* Writer "html": clean HTML5 from the tree, one <section> per page, each
 * block with data-bbox in page coordinates. Every tag and attribute is
 * ours and every text is escaped, so nothing the model wrote (scripts,
 * event handlers, links, styles) can reach the output. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "writer.h"

typedef struct hw {
    vd__w w;
} hw;

static void text(hw *h, const char *t)
{
    /* line breaks from <br> come back as <br> */
    for (const char *p = t;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        vd__w_html(&h->w, p, n);
        if (!nl)
            break;
        vd__w_puts(&h->w, "<br>");
        p = nl + 1;
    }
}

/* <TAG class="CLS" data-bbox="..." data-derived="true"> */
static void open_tag(hw *h, const char *tag, const char *cls, const vd_block *b)
{
    vd__w_putc(&h->w, '<');
    vd__w_puts(&h->w, tag);
    if (cls) {
        vd__w_puts(&h->w, " class=\"");
        vd__w_puts(&h->w, cls);
        vd__w_putc(&h->w, '"');
    }
    vd_box bx;
    if (b && vd_block_bbox(b, &bx)) {
        vd__w_puts(&h->w, " data-bbox=\"");
        vd__w_num(&h->w, bx.x1);
        vd__w_putc(&h->w, ' ');
        vd__w_num(&h->w, bx.y1);
        vd__w_putc(&h->w, ' ');
        vd__w_num(&h->w, bx.x2);
        vd__w_putc(&h->w, ' ');
        vd__w_num(&h->w, bx.y2);
        vd__w_putc(&h->w, '"');
    }
    if (b && vd_block_derived(b))
        vd__w_puts(&h->w, " data-derived=\"true\"");
}

static void end_open(hw *h)
{
    vd__w_putc(&h->w, '>');
}

static void close_tag(hw *h, const char *tag)
{
    vd__w_write(&h->w, "</", 2);
    vd__w_puts(&h->w, tag);
    vd__w_write(&h->w, ">\n", 2);
}

static void simple(hw *h, const char *tag, const char *cls, const vd_block *b)
{
    open_tag(h, tag, cls, b);
    end_open(h);
    text(h, vd_block_text(b));
    close_tag(h, tag);
}

static void block(hw *h, const vd_block *b);

static void kids(hw *h, const vd_block *b)
{
    for (const vd_block *c = vd_block_first_child(b); c; c = vd_block_next(c))
        block(h, c);
}

static void list(hw *h, const vd_block *l)
{
    const char *tag = vd_block_ordered(l) ? "ol" : "ul";
    open_tag(h, tag, NULL, l);
    vd__w_puts(&h->w, ">\n");
    for (const vd_block *it = vd_block_first_child(l); it;
         it = vd_block_next(it)) {
        open_tag(h, "li", NULL, it);
        end_open(h);
        text(h, vd_block_text(it));
        if (vd_block_first_child(it)) {
            vd__w_putc(&h->w, '\n');
            kids(h, it);
        }
        close_tag(h, "li");
    }
    close_tag(h, tag);
}

static void table(hw *h, const vd_block *t)
{
    open_tag(h, "table", NULL, t);
    vd__w_puts(&h->w, ">\n");
    /* HTML allows one <caption>, first; others become rows' neighbours */
    int captioned = 0;
    for (const vd_block *r = vd_block_first_child(t); r; r = vd_block_next(r)) {
        if (vd_block_kind_get(r) == VD_BLOCK_CAPTION && !captioned) {
            simple(h, "caption", NULL, r);
            captioned = 1;
        }
    }
    for (const vd_block *r = vd_block_first_child(t); r; r = vd_block_next(r)) {
        if (vd_block_kind_get(r) != VD_BLOCK_TABLE_ROW) {
            if (vd_block_kind_get(r) == VD_BLOCK_CAPTION && captioned == 1) {
                captioned = 2; /* the one already written */
                continue;
            }
            vd__w_puts(&h->w, "<tr>");
            open_tag(h, "td", "caption", r);
            end_open(h);
            text(h, vd_block_text(r));
            vd__w_puts(&h->w, "</td></tr>\n");
            continue;
        }
        open_tag(h, "tr", NULL, r);
        end_open(h);
        for (const vd_block *c = vd_block_first_child(r); c;
             c = vd_block_next(c)) {
            const char *tag = vd_block_header(c) ? "th" : "td";
            open_tag(h, tag, NULL, c);
            if (vd_block_rowspan(c) > 1)
                vd__w_printf(&h->w, " rowspan=\"%d\"", vd_block_rowspan(c));
            if (vd_block_colspan(c) > 1)
                vd__w_printf(&h->w, " colspan=\"%d\"", vd_block_colspan(c));
            end_open(h);
            text(h, vd_block_text(c));
            vd__w_write(&h->w, "</", 2);
            vd__w_puts(&h->w, tag);
            vd__w_putc(&h->w, '>');
        }
        vd__w_puts(&h->w, "</tr>\n");
    }
    close_tag(h, "table");
}

static void block(hw *h, const vd_block *b)
{
    switch (vd_block_kind_get(b)) {
    case VD_BLOCK_TITLE:
        simple(h, "h1", "title", b);
        break;
    case VD_BLOCK_HEADING: {
        char tag[3] = { 'h', '2', 0 };
        int l = vd_block_level(b);
        if (l >= 1 && l <= 6)
            tag[1] = (char)('0' + l);
        simple(h, tag, NULL, b);
        break;
    }
    case VD_BLOCK_PARAGRAPH:
        simple(h, "p", NULL, b);
        break;
    case VD_BLOCK_LIST:
        list(h, b);
        break;
    case VD_BLOCK_LIST_ITEM:
        simple(h, "p", "list-item", b);
        break;
    case VD_BLOCK_TABLE:
        table(h, b);
        break;
    case VD_BLOCK_TABLE_ROW:
    case VD_BLOCK_TABLE_CELL:
        simple(h, "p", "table-cell", b);
        break;
    case VD_BLOCK_FORMULA: {
        int d = vd_block_display(b);
        open_tag(h, d ? "div" : "span", d ? "math display" : "math inline", b);
        end_open(h);
        vd__w_puts(&h->w, d ? "\\[" : "\\(");
        vd__w_html(&h->w, vd_block_text(b), strlen(vd_block_text(b)));
        vd__w_puts(&h->w, d ? "\\]" : "\\)");
        /* the image region the model marked, if any */
        for (const vd_block *c = vd_block_first_child(b); c;
             c = vd_block_next(c))
            block(h, c);
        close_tag(h, d ? "div" : "span");
        break;
    }
    case VD_BLOCK_FIGURE: {
        const char *f = vd_block_figure(b);
        /* our own vocabulary only */
        const char *cls = !f                        ? "image"
                          : !strcmp(f, "chart")     ? "chart"
                          : !strcmp(f, "music")     ? "music"
                          : !strcmp(f, "chemistry") ? "chemistry"
                                                    : "image";
        open_tag(h, "figure", cls, b);
        vd__w_puts(&h->w, ">\n");
        kids(h, b);
        close_tag(h, "figure");
        break;
    }
    case VD_BLOCK_CAPTION: {
        /* a figure's printed caption is its <figcaption>; the model's
         * description of it is a paragraph marked derived */
        const vd_block *p = vd_block_parent(b);
        int in_fig = p && vd_block_kind_get(p) == VD_BLOCK_FIGURE;
        if (in_fig && !vd_block_derived(b))
            simple(h, "figcaption", NULL, b);
        else
            simple(h, "p", in_fig ? "description" : "caption", b);
        break;
    }
    case VD_BLOCK_PAGE_HEADER:
        simple(h, "header", "page-header", b);
        break;
    case VD_BLOCK_PAGE_FOOTER:
        simple(h, "footer", "page-footer", b);
        break;
    case VD_BLOCK_PAGE_NUMBER:
        simple(h, "p", "page-number", b);
        break;
    case VD_BLOCK_FOOTNOTE:
        simple(h, "p", "footnote", b);
        break;
    case VD_BLOCK_CODE: {
        open_tag(h, "pre", NULL, b);
        vd__w_puts(&h->w, "><code");
        const char *f = vd_block_format(b);
        if (f && *f) {
            /* a class token from the model's format name: [a-z0-9-] */
            vd__w_puts(&h->w, " class=\"language-");
            for (const char *p = f; *p; p++) {
                char ch = *p;
                if (ch >= 'A' && ch <= 'Z')
                    ch = (char)(ch - 'A' + 'a');
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
                    ch = '-';
                vd__w_putc(&h->w, ch);
            }
            vd__w_putc(&h->w, '"');
        }
        vd__w_putc(&h->w, '>');
        const char *t = vd_block_text(b);
        vd__w_html(&h->w, t, strlen(t));
        vd__w_puts(&h->w, "</code></pre>\n");
        break;
    }
    case VD_BLOCK_IMAGE:
        /* a span: valid inside figures and inline formulas alike */
        open_tag(h, "span", "image-region", b);
        vd__w_puts(&h->w, "></span>");
        break;
    default: /* UNKNOWN: its text, then whatever it holds */
        open_tag(h, "div", "unknown", b);
        end_open(h);
        text(h, vd_block_text(b));
        if (vd_block_first_child(b)) {
            vd__w_putc(&h->w, '\n');
            kids(h, b);
        }
        close_tag(h, "div");
        break;
    }
}

/* <!-- PREFIX S -->, with "--" and a closing "-" made harmless. */
static void comment(hw *h, const char *prefix, const char *s)
{
    vd__w_puts(&h->w, "<!-- ");
    vd__w_puts(&h->w, prefix);
    for (const char *p = s; *p; p++) {
        if (*p == '-' && (p[1] == '-' || p[1] == '>' || !p[1]))
            vd__w_puts(&h->w, "- ");
        else if (*p == '<' || *p == '>')
            vd__w_putc(&h->w, ' ');
        else
            vd__w_putc(&h->w, *p);
    }
    vd__w_puts(&h->w, " -->\n");
}

static vd_status html_write(vd_ctx *ctx, const vd_doc *doc,
                            const vd_write_opts *opt, vd_out *o)
{
    (void)ctx;
    (void)opt;
    hw h;
    vd__w_init(&h.w, o);
    vd__w_puts(&h.w, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8"
                     "\">\n<meta name=\"generator\" content=\"vldoc\">\n"
                     "<title>");
    const char *src = vd_doc_source(doc);
    vd__w_html(&h.w, src, strlen(src));
    vd__w_puts(&h.w, "</title>\n</head>\n<body>\n");
    for (int i = 0; i < vd_doc_page_count(doc); i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        int ok = vd_page_status(pg) == VD_OK;
        vd__w_puts(&h.w, ok ? "<section class=\"page\""
                            : "<section class=\"page error\"");
        vd__w_printf(&h.w, " data-page=\"%d\"", vd_page_number(pg) + 1);
        const vd_pagemap *m = vd_page_map(pg);
        if (m) {
            vd__w_puts(&h.w, " data-width=\"");
            vd__w_num(&h.w, m->page_w);
            vd__w_puts(&h.w, "\" data-height=\"");
            vd__w_num(&h.w, m->page_h);
            vd__w_puts(&h.w, m->unit == VD_UNIT_PX ? "\" data-unit=\"px\""
                                                   : "\" data-unit=\"pt\"");
        }
        vd__w_puts(&h.w, ">\n");
        for (int k = 0; k < vd_page_warning_count(pg); k++)
            comment(&h, "warning: ", vd_page_warning(pg, k));
        if (!ok) {
            vd__w_puts(&h.w, "<p class=\"error\">");
            const char *e = vd_page_error(pg) ? vd_page_error(pg) : "error";
            vd__w_html(&h.w, e, strlen(e));
            vd__w_puts(&h.w, "</p>\n");
        }
        for (const vd_block *b = vd_page_first_block(pg); b;
             b = vd_block_next(b))
            block(&h, b);
        vd__w_puts(&h.w, "</section>\n");
    }
    vd__w_puts(&h.w, "</body>\n</html>\n");
    vd__w_flush(&h.w);
    return VD_OK;
}

const vd__writer vd__writer_html = { "html", "html", html_write };

/* Unit tests for lib/qwenhtml.c and lib/doc.c: QwenVL HTML -> tree on
 * small hand-written inputs, one behaviour each: boxes (strict parse,
 * swap, clamp, drop, mapping), the envelope (fences, prose, repeated
 * copies, truncation), byte repair, entities, loops, every block kind,
 * furniture, hostile markup, deep nesting, the walker API and an
 * allocation-failure sweep. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "doc-private.h"

static vd_ctx *ctx;

/* Parse HTML (LEN bytes, or strlen) as page 0 of a new doc; the model saw
 * MW x MH pixels (0: unknown) of a page twice that size in points. */
static vd_doc *parse_n(const char *html, size_t len, int mw, int mh)
{
    vd_doc *d = NULL;
    if (vd_doc_new(ctx, "t.html", &d) != VD_OK)
        return NULL;
    vd_pagemap m = { mw, mh, 2.0 * mw, 2.0 * mh, VD_UNIT_PT };
    vd_status st = vd_doc_add_page_html(ctx, d, 0, html, len, &m, NULL);
    if (st != VD_OK) {
        tap_diag("parse failed: %s", vd_ctx_errmsg(ctx));
        vd_doc_free(d);
        return NULL;
    }
    return d;
}

static vd_doc *parse(const char *html, int mw, int mh)
{
    return parse_n(html, strlen(html), mw, mh);
}

typedef struct finder {
    vd_block_kind kind;
    int want, seen;
    const vd_block *hit;
} finder;

static int find_cb(void *u, const vd_block *b, int depth)
{
    (void)depth;
    finder *f = u;
    if (vd_block_kind_get(b) == f->kind && f->seen++ == f->want) {
        f->hit = b;
        return 1;
    }
    return 0;
}

/* The N-th block of kind K in walk order (0-based); NULL when none. */
static const vd_block *nth(const vd_doc *d, vd_block_kind k, int n)
{
    finder f = { k, n, 0, NULL };
    vd_doc_walk(d, find_cb, NULL, &f);
    return f.hit;
}

static int count(const vd_doc *d, vd_block_kind k)
{
    finder f = { k, -1, 0, NULL };
    vd_doc_walk(d, find_cb, NULL, &f);
    return f.seen;
}

static int warned(const vd_doc *d, const char *sub)
{
    for (int p = 0; p < vd_doc_page_count(d); p++) {
        const vd_page *pg = vd_doc_page(d, p);
        for (int i = 0; i < vd_page_warning_count(pg); i++)
            if (strstr(vd_page_warning(pg, i), sub))
                return 1;
    }
    return 0;
}

static unsigned flags(const vd_doc *d)
{
    return vd_page_flags(vd_doc_page(d, 0));
}

static int text_is(const vd_block *b, const char *t)
{
    if (!b)
        return 0;
    if (strcmp(vd_block_text(b), t) != 0) {
        tap_diag("text \"%s\", expected \"%s\"", vd_block_text(b), t);
        return 0;
    }
    return 1;
}

static int box_is(const vd_block *b, double x1, double y1, double x2, double y2)
{
    vd_box m;
    if (!b || !vd_block_bbox_model(b, &m))
        return 0;
    int ok = m.x1 == x1 && m.y1 == y1 && m.x2 == x2 && m.y2 == y2;
    if (!ok)
        tap_diag("box %g %g %g %g, expected %g %g %g %g", m.x1, m.y1, m.x2,
                 m.y2, x1, y1, x2, y2);
    return ok;
}

typedef struct cat {
    char buf[8192];
    size_t n;
    int bad;
} cat;

static int cat_cb(void *u, const vd_block *b, int depth)
{
    (void)depth;
    cat *c = u;
    const char *t = vd_block_text(b);
    if (!vd__utf8_valid(t, strlen(t)))
        c->bad = 1;
    size_t l = strlen(t);
    if (c->n + l + 2 < sizeof c->buf) {
        memcpy(c->buf + c->n, t, l);
        c->n += l;
        c->buf[c->n++] = '|';
        c->buf[c->n] = '\0';
    }
    return 0;
}

/* All block texts joined with '|' in walk order. */
static const char *all_text(const vd_doc *d, int *bad_utf8)
{
    static cat c;
    c.n = 0;
    c.bad = 0;
    c.buf[0] = '\0';
    vd_doc_walk(d, cat_cb, NULL, &c);
    if (bad_utf8)
        *bad_utf8 = c.bad;
    return c.buf;
}

static void test_boxes(void)
{
    vd_doc *d = parse("<p data-bbox=\"10 20 300 40\">Total: 42</p>", 1000, 800);
    const vd_block *b = nth(d, VD_BLOCK_PARAGRAPH, 0);
    tap_ok(d && vd_doc_block_count(d) == 1 && text_is(b, "Total: 42"),
           "one paragraph with its text");
    vd_box pb;
    tap_ok(box_is(b, 10, 20, 300, 40) && vd_block_bbox(b, &pb) && pb.x1 == 20 &&
               pb.y1 == 40 && pb.x2 == 600 && pb.y2 == 80,
           "box kept in model pixels and mapped to the page (x2)");
    tap_ok(d && vd_page_warning_count(vd_doc_page(d, 0)) == 0 && !flags(d),
           "clean input: no warnings, no flags");
    vd_doc_free(d);

    d = parse("<p data-bbox=\"300 40 10 20\">s</p>", 1000, 800);
    tap_ok(box_is(nth(d, VD_BLOCK_PARAGRAPH, 0), 10, 20, 300, 40) &&
               warned(d, "swapped") && (flags(d) & VD_PAGE_BAD_BOXES),
           "swapped corners swapped back, with a warning");
    vd_doc_free(d);

    d = parse("<p data-bbox=\"-5 10 2000 40\">clamp me</p>", 1000, 800);
    tap_ok(box_is(nth(d, VD_BLOCK_PARAGRAPH, 0), 0, 10, 1000, 40) &&
               warned(d, "clamped"),
           "box reaching outside the image is clamped");
    vd_doc_free(d);

    d = parse("<p data-bbox=\"2000 10 2100 40\">o</p>", 1000, 800);
    b = nth(d, VD_BLOCK_PARAGRAPH, 0);
    tap_ok(b && !vd_block_bbox(b, NULL) && text_is(b, "o") &&
               warned(d, "outside"),
           "box wholly outside the image dropped, element kept");
    vd_doc_free(d);

    static const char *const bad[] = {
        "10 20 300", "a b c d", "10,20,30,40",   "1e3 1 2 3", "+1 2 3 4",
        "1 2 3 4 5", "",        "99999999 1 2 3"
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char h[128];
        snprintf(h, sizeof h, "<p data-bbox=\"%s\">kept</p>", bad[i]);
        d = parse(h, 1000, 800);
        b = nth(d, VD_BLOCK_PARAGRAPH, 0);
        if (!b || vd_block_bbox(b, NULL) || !text_is(b, "kept") ||
            !warned(d, "not four numbers")) {
            tap_diag("data-bbox \"%s\" not refused", bad[i]);
            ok = 0;
        }
        vd_doc_free(d);
    }
    tap_ok(ok, "malformed data-bbox dropped with a warning, text kept");

    d = parse("<p data-bbox=\" 10.5\t20 300  40 \">f</p>", 1000, 800);
    tap_ok(box_is(nth(d, VD_BLOCK_PARAGRAPH, 0), 10.5, 20, 300, 40) &&
               warned(d, "fractional"),
           "fractional values and extra whitespace accepted, counted");
    vd_doc_free(d);

    /* model size unknown: boxes stay in model pixels, not clamped */
    d = parse("<p data-bbox=\"5 6 5000 7000\">u</p>", 0, 0);
    b = nth(d, VD_BLOCK_PARAGRAPH, 0);
    vd_box p2;
    tap_ok(box_is(b, 5, 6, 5000, 7000) && vd_block_bbox(b, &p2) &&
               p2.x2 == 5000 && !vd_page_map(vd_doc_page(d, 0)),
           "without a model size boxes are model pixels, unclamped");
    vd_doc_free(d);
}

static void test_envelope(void)
{
    vd_doc *d = parse("Here is the page:\n```html\n<html><body>\n<p "
                      "data-bbox=\"1 2 3 4\">A</p>\n</body></html>\n```\n"
                      "Hope this helps!",
                      100, 100);
    tap_ok(d && vd_doc_block_count(d) == 1 &&
               text_is(nth(d, VD_BLOCK_PARAGRAPH, 0), "A") &&
               warned(d, "Here is the page:") &&
               warned(d, "Hope this helps!") && (flags(d) & VD_PAGE_ENVELOPE),
           "prose around a fence dropped and quoted in warnings");
    vd_doc_free(d);

    d = parse("```html\n<p>one</p>\n<p>two</p>\n```\nnoise\n```html\n<p>"
              "one</p>\n<p>tw",
              0, 0);
    tap_ok(d && count(d, VD_BLOCK_PARAGRAPH) == 2 &&
               !strcmp(all_text(d, NULL), "one|two|") &&
               warned(d, "repeated copy"),
           "a repeated copy of the output is kept once");
    vd_doc_free(d);

    d = parse("```html\n<p data-bbox=\"1 2 3 4\">A</p>\n```\n<p "
              "data-bbox=\"5 6 7 8\">B</p>\nThanks.",
              100, 100);
    tap_ok(d && !strcmp(all_text(d, NULL), "A|B|Thanks.|"),
           "boxed elements left outside the fence are kept");
    vd_doc_free(d);

    d = parse("Sure! <html><body><p>A</p></body></html>", 0, 0);
    tap_ok(d && !strcmp(all_text(d, NULL), "A|") &&
               warned(d, "text before the HTML"),
           "prose before an unfenced <html> dropped");
    vd_doc_free(d);

    d = parse("<html><body><pre>```\ncode\n```</pre></body></html>", 0, 0);
    tap_ok(d && text_is(nth(d, VD_BLOCK_CODE, 0), "```\ncode\n```") &&
               !(flags(d) & VD_PAGE_ENVELOPE),
           "a fence inside the HTML is page content");
    vd_doc_free(d);

    d = parse("<html><body><p>x</p></body></html>\n```\n", 0, 0);
    tap_ok(d && !strcmp(all_text(d, NULL), "x|"),
           "a closing fence without an opening one is dropped");
    vd_doc_free(d);

    d = parse("<html><body><p data-bbox=\"1 2 3 4\">Hello wor", 100, 100);
    tap_ok(d && text_is(nth(d, VD_BLOCK_PARAGRAPH, 0), "Hello wor") &&
               (flags(d) & VD_PAGE_TRUNCATED) && warned(d, "truncated"),
           "truncated output: text kept, page flagged");
    vd_doc_free(d);

    d = parse("<html><body><p>one</p><p data-bbox=\"32 13", 100, 100);
    tap_ok(d && !strcmp(all_text(d, NULL), "one|") &&
               warned(d, "ends inside a tag") && (flags(d) & VD_PAGE_TRUNCATED),
           "a tag cut by the token limit is dropped, not read as text");
    vd_doc_free(d);

    d = parse("", 10, 10);
    tap_ok(d && vd_doc_block_count(d) == 0 &&
               vd_page_status(vd_doc_page(d, 0)) == VD_OK,
           "empty output: a page without blocks");
    vd_doc_free(d);

    d = parse("<html><body><p>in</p></body></html><p>after</p>", 0, 0);
    tap_ok(d && !strcmp(all_text(d, NULL), "in|after|"),
           "text after </html> is kept");
    vd_doc_free(d);
}

static void test_bytes(void)
{
    static const char h[] = "\xEF\xBB\xBF<p>caf\xC3\xA9 \xFF bad \xE4\xB8"
                            "</p><p>a\0b\x01"
                            "c</p>";
    int bad = 1;
    vd_doc *d = parse_n(h, sizeof h - 1, 0, 0);
    const char *t = d ? all_text(d, &bad) : "";
    tap_ok(d &&
               !strcmp(t, "caf\xC3\xA9 \xEF\xBF\xBD bad \xEF\xBF\xBD|a"
                          "\xEF\xBF\xBD"
                          "b\xEF\xBF\xBD"
                          "c|") &&
               !bad,
           "invalid UTF-8, NUL and controls become U+FFFD; BOM dropped");
    tap_ok(d && warned(d, "U+FFFD"), "byte repairs are counted");
    vd_doc_free(d);

    d = parse("<p>a &amp; b &lt;c&gt; x&nbsp;y &#x4E2D;&#20013; &bogus; "
              "AT&T</p>",
              0, 0);
    tap_ok(d && text_is(nth(d, VD_BLOCK_PARAGRAPH, 0),
                        "a & b <c> x\xC2\xA0y \xE4\xB8\xAD\xE4\xB8\xAD "
                        "&bogus; AT&T"),
           "entities decoded, unknown ones kept as written");
    vd_doc_free(d);

    d = parse("<p><b>bold <i>both</b> italic</i></p><div>x<p>y</div>z", 0, 0);
    t = d ? all_text(d, NULL) : "";
    tap_ok(d && strstr(t, "bold both italic") && strstr(t, "x") &&
               strstr(t, "y") && strstr(t, "z"),
           "misnested markup keeps every word (%s)", t);
    vd_doc_free(d);
}

static void test_loops(void)
{
    char h[4096] = "<html><body>";
    for (int i = 0; i < 5; i++)
        strcat(h, "<p data-bbox=\"1 2 3 4\">same</p>\n");
    strcat(h, "<p data-bbox=\"1 2 3 4\">other</p></body></html>");
    vd_doc *d = parse(h, 100, 100);
    tap_ok(d && !strcmp(all_text(d, NULL), "same|other|") &&
               warned(d, "repeated 5 times") && (flags(d) & VD_PAGE_REPEATS),
           "identical boxed siblings collapse to one, with a warning");
    vd_doc_free(d);

    strcpy(h, "<table>");
    for (int i = 0; i < 20; i++)
        strcat(h, "<tr><td>-</td><td>-</td></tr>");
    strcat(h, "</table><table>");
    for (int i = 0; i < 10; i++)
        strcat(h, "<tr><td>0</td></tr>");
    strcat(h, "</table><p>a</p><p>a</p>");
    d = parse(h, 0, 0);
    const vd_block *t1 = nth(d, VD_BLOCK_TABLE, 0),
                   *t2 = nth(d, VD_BLOCK_TABLE, 1);
    int r1 = 0, r2 = 0;
    for (const vd_block *r = t1 ? vd_block_first_child(t1) : NULL; r;
         r = vd_block_next(r))
        r1++;
    for (const vd_block *r = t2 ? vd_block_first_child(t2) : NULL; r;
         r = vd_block_next(r))
        r2++;
    tap_ok(r1 == 1 && r2 == 10 && count(d, VD_BLOCK_PARAGRAPH) == 2,
           "20 identical rows collapse; 10 rows and two plain paragraphs "
           "are real (%d, %d)",
           r1, r2);
    vd_doc_free(d);
}

static void test_lists(void)
{
    vd_doc *d = parse("<ul data-bbox=\"1 1 90 90\"><li data-bbox=\"1 1 90 "
                      "9\">a<ul><li>b</li></ul></li><li>c</li></ul><ol><li>"
                      "x</li><ol><li>y</li></ol></ol><li>stray</li>",
                      100, 100);
    const vd_block *l = nth(d, VD_BLOCK_LIST, 0);
    const vd_block *a = l ? vd_block_first_child(l) : NULL;
    const vd_block *sub = a ? vd_block_first_child(a) : NULL;
    tap_ok(l && !vd_block_ordered(l) && text_is(a, "a") &&
               box_is(a, 1, 1, 90, 9) && sub &&
               vd_block_kind_get(sub) == VD_BLOCK_LIST &&
               text_is(vd_block_first_child(sub), "b") &&
               text_is(vd_block_next(a), "c"),
           "nested unordered list: item text without its sublist");
    const vd_block *o = nth(d, VD_BLOCK_LIST, 2);
    const vd_block *x = o ? vd_block_first_child(o) : NULL;
    tap_ok(o && vd_block_ordered(o) && text_is(x, "x") &&
               vd_block_first_child(x) &&
               text_is(vd_block_first_child(vd_block_first_child(x)), "y"),
           "ordered list; a sublist placed after an item joins it");
    const vd_block *s = nth(d, VD_BLOCK_LIST, 4);
    tap_ok(s && text_is(vd_block_first_child(s), "stray"),
           "an item outside a list gets a list");
    vd_doc_free(d);
}

static void test_tables(void)
{
    vd_doc *d = parse(
        "<style>.table1{border:1px}</style><table data-bbox=\"1 1 99 99\" "
        "class=\"table1\"><caption>Prices</caption><thead><tr><th>A</th>"
        "<td>B</td></tr></thead><tbody><tr><td rowspan=\"2\" colspan=\"3\">"
        "span</td><td colspan=\"x\">bad</td></tr><td>loose cell</td>"
        "<tr>text<td>c<table><tr><td>inner</td></tr></table></td></tr>"
        "</tbody></table>",
        100, 100);
    const vd_block *t = nth(d, VD_BLOCK_TABLE, 0);
    tap_ok(t && box_is(t, 1, 1, 99, 99) &&
               text_is(vd_block_first_child(t), "Prices") &&
               vd_block_kind_get(vd_block_first_child(t)) == VD_BLOCK_CAPTION,
           "table with its box and <caption>");
    const vd_block *th = nth(d, VD_BLOCK_TABLE_CELL, 0);
    const vd_block *tb = nth(d, VD_BLOCK_TABLE_CELL, 1);
    tap_ok(text_is(th, "A") && vd_block_header(th) && text_is(tb, "B") &&
               vd_block_header(tb),
           "cells in <thead> are header cells");
    const vd_block *sp = nth(d, VD_BLOCK_TABLE_CELL, 2);
    const vd_block *bd = nth(d, VD_BLOCK_TABLE_CELL, 3);
    tap_ok(text_is(sp, "span") && vd_block_rowspan(sp) == 2 &&
               vd_block_colspan(sp) == 3 && text_is(bd, "bad") &&
               vd_block_colspan(bd) == 1 && warned(d, "colspan=\"x\""),
           "rowspan/colspan parsed; a bad one is 1 with a warning");
    const char *all = all_text(d, NULL);
    tap_ok(strstr(all, "loose cell|") && strstr(all, "text|") &&
               strstr(all, "c inner") && warned(d, "flattened"),
           "cells outside rows, text outside cells, nested tables: all "
           "kept (%s)",
           all);
    tap_ok(!strstr(all, "border"), "the table's <style> is not text");
    vd_doc_free(d);
}

static void test_formulas(void)
{
    vd_doc *d =
        parse("<div class=\"formula\" data-bbox=\"380 366 610 410\"><img "
              "data-bbox=\"380 366 610 410\"/><div>$$E = h\\nu$$</div></div>"
              "<div class=\"formula.machine_printed\"><div>\\[ a^2 \\]</div>"
              "</div><p>$$x+y$$</p><p>\\(z_1\\)</p><p>Let \\(x\\) be \\[y\\] "
              "and $5, $6.</p><p>$a$ and $b$</p>",
              1000, 1000);
    const vd_block *f = nth(d, VD_BLOCK_FORMULA, 0);
    tap_ok(f && vd_block_display(f) && text_is(f, "E = h\\nu") &&
               !strcmp(vd_block_format(f), "latex") &&
               box_is(f, 380, 366, 610, 410) &&
               vd_block_kind_get(vd_block_first_child(f)) == VD_BLOCK_IMAGE,
           "div.formula: display LaTeX without $$, its image region kept");
    tap_ok(text_is(nth(d, VD_BLOCK_FORMULA, 1), "a^2"),
           "formula.machine_printed with \\[ \\] delimiters");
    const vd_block *p = nth(d, VD_BLOCK_FORMULA, 2),
                   *q = nth(d, VD_BLOCK_FORMULA, 3);
    tap_ok(text_is(p, "x+y") && vd_block_display(p) && text_is(q, "z_1") &&
               !vd_block_display(q),
           "a paragraph that is only math is a display/inline formula");
    tap_ok(text_is(nth(d, VD_BLOCK_PARAGRAPH, 0),
                   "Let $x$ be $$y$$ and $5, $6.") &&
               text_is(nth(d, VD_BLOCK_PARAGRAPH, 1), "$a$ and $b$"),
           "inline math normalised to $...$ inside text");
    vd_doc_free(d);
}

static void test_figures(void)
{
    vd_doc *d = parse(
        "<div class=\"image caption\" data-bbox=\"10 10 90 50\"><img "
        "data-bbox=\"10 10 90 50\"/><p>A line chart.</p></div>"
        "<p data-bbox=\"10 52 90 56\">Figure 2: Energy.</p>"
        "<div class=\"chart\" data-bbox=\"10 60 90 80\"><img/><table><tr>"
        "<td>x</td><td>1</td></tr></table></div>"
        "<div class=\"music sheet\" format=\"abc notation\"><img/><div>X:1\n"
        "K:C\nCDEF|</div></div>"
        "<div class=\"chemical formula\" format=\"smile\"><img/><div>CCO"
        "</div></div>"
        "<div class=\"image ocr\"><img/><p>STOP</p></div>"
        "<img data-bbox=\"1 1 5 5\" alt=\"a logo\">",
        100, 100);
    const vd_block *f = nth(d, VD_BLOCK_FIGURE, 0);
    const vd_block *img = f ? vd_block_first_child(f) : NULL;
    const vd_block *desc = img ? vd_block_next(img) : NULL;
    const vd_block *cap = desc ? vd_block_next(desc) : NULL;
    tap_ok(f && !strcmp(vd_block_figure(f), "image") &&
               box_is(f, 10, 10, 90, 50) &&
               vd_block_kind_get(img) == VD_BLOCK_IMAGE &&
               box_is(img, 10, 10, 90, 50) && text_is(desc, "A line chart.") &&
               vd_block_derived(desc),
           "image caption: region plus the model's description, derived");
    tap_ok(cap && vd_block_kind_get(cap) == VD_BLOCK_CAPTION &&
               text_is(cap, "Figure 2: Energy.") && !vd_block_derived(cap),
           "the printed caption after it joins the figure, not derived");
    const vd_block *ch = nth(d, VD_BLOCK_FIGURE, 1);
    const vd_block *cell = nth(d, VD_BLOCK_TABLE_CELL, 0);
    tap_ok(ch && !strcmp(vd_block_figure(ch), "chart") && cell &&
               vd_block_derived(cell) && text_is(cell, "x"),
           "chart data table is derived");
    const vd_block *mu = nth(d, VD_BLOCK_CODE, 0),
                   *chem = nth(d, VD_BLOCK_CODE, 1);
    tap_ok(mu && vd_block_derived(mu) &&
               !strcmp(vd_block_format(mu), "abc notation") &&
               text_is(mu, "X:1\nK:C\nCDEF|") &&
               !strcmp(vd_block_figure(vd_block_parent(mu)), "music"),
           "music sheet: ABC notation as derived code");
    tap_ok(chem && vd_block_derived(chem) &&
               !strcmp(vd_block_format(chem), "smile") && text_is(chem, "CCO"),
           "chemical formula: SMILES as derived code, format from the "
           "attribute");
    const vd_block *ocr = nth(d, VD_BLOCK_PARAGRAPH, 0);
    tap_ok(text_is(ocr, "STOP") && !vd_block_derived(ocr) &&
               vd_block_kind_get(vd_block_parent(ocr)) == VD_BLOCK_FIGURE,
           "image ocr: text in the picture is page text");
    const vd_block *lg = nth(d, VD_BLOCK_FIGURE, 5);
    tap_ok(lg && box_is(lg, 1, 1, 5, 5) &&
               text_is(vd_block_first_child(lg), "a logo") &&
               vd_block_derived(vd_block_first_child(lg)),
           "a lone <img> is a figure; its alt text is derived");
    vd_doc_free(d);
}

static void test_furniture(void)
{
    vd_doc *d = parse(
        "<p class=\"page_header\">Annual report</p><p class=\"footnote\">1 "
        "See above.</p><p class=\"page_footer\">ACME</p><p "
        "class=\"page_number\">4</p><p data-bbox=\"480 1500 530 1520\">- 7 "
        "-</p><p data-bbox=\"400 10 600 30\">Page 3 of 10</p><p "
        "data-bbox=\"400 10 600 30\">Introduction</p><p data-bbox=\"40 700 "
        "600 730\">12</p>",
        1008, 1540);
    tap_ok(count(d, VD_BLOCK_PAGE_HEADER) == 1 &&
               count(d, VD_BLOCK_FOOTNOTE) == 1 &&
               count(d, VD_BLOCK_PAGE_FOOTER) == 1,
           "the text engine's classes give header, footnote, footer");
    tap_ok(count(d, VD_BLOCK_PAGE_NUMBER) == 3 &&
               text_is(nth(d, VD_BLOCK_PAGE_NUMBER, 1), "- 7 -") &&
               text_is(nth(d, VD_BLOCK_PAGE_NUMBER, 2), "Page 3 of 10"),
           "page numbers by class and by position + pattern");
    tap_ok(text_is(nth(d, VD_BLOCK_PARAGRAPH, 0), "Introduction") &&
               text_is(nth(d, VD_BLOCK_PARAGRAPH, 1), "12"),
           "words in the band and numbers mid-page stay paragraphs");
    vd_doc_free(d);

    /* a running head repeated over pages */
    vd_doc_new(ctx, "r", &d);
    vd_pagemap m = { 1000, 1000, 1000, 1000, VD_UNIT_PX };
    for (int i = 0; i < 3; i++) {
        char h[256];
        snprintf(h, sizeof h,
                 "<p data-bbox=\"100 20 600 50\">ACME Report 2023 - "
                 "chapter %d</p><p data-bbox=\"100 300 900 600\">Body "
                 "%d</p>",
                 i + 1, i);
        vd_doc_add_page_html(ctx, d, i, h, strlen(h), &m, NULL);
    }
    tap_ok(count(d, VD_BLOCK_PAGE_HEADER) == 3 &&
               count(d, VD_BLOCK_PARAGRAPH) == 3,
           "a line repeated in the top band of every page is a header");
    vd_doc_free(d);
}

static void test_misc_kinds(void)
{
    vd_doc *d = parse(
        "<pre data-bbox=\"1 1 9 9\">  indented\n    code</pre><pre><code "
        "class=\"language-python\">x = 1</code></pre><chart data-bbox=\"1 "
        "1 5 5\">custom</chart><foo>inline</foo><h3 data-bbox=\"1 1 2 "
        "2\">Sub</h3><p class=\"title\">The Title</p><address "
        "class=\"author\"><p>Qwen Team</p></address>",
        100, 100);
    const vd_block *c = nth(d, VD_BLOCK_CODE, 0);
    tap_ok(text_is(c, "  indented\n    code") && box_is(c, 1, 1, 9, 9),
           "pre keeps its whitespace");
    const char *fmt = nth(d, VD_BLOCK_CODE, 1)
                          ? vd_block_format(nth(d, VD_BLOCK_CODE, 1))
                          : NULL;
    tap_ok(fmt && !strcmp(fmt, "python"), "language-X names the code's format");
    const vd_block *u = nth(d, VD_BLOCK_UNKNOWN, 0);
    tap_ok(text_is(u, "custom") && box_is(u, 1, 1, 5, 5),
           "an unknown element with a box is kept as unknown, with text");
    tap_ok(text_is(nth(d, VD_BLOCK_PARAGRAPH, 0), "inline"),
           "unknown inline elements keep their text");
    const vd_block *h = nth(d, VD_BLOCK_HEADING, 0);
    tap_ok(text_is(h, "Sub") && vd_block_level(h) == 3 &&
               text_is(nth(d, VD_BLOCK_TITLE, 0), "The Title") &&
               text_is(nth(d, VD_BLOCK_PARAGRAPH, 1), "Qwen Team"),
           "heading levels, class title, text inside <address>");
    vd_doc_free(d);

    d = parse("<script>alert(1)</script><style>p{color:red}</style><p "
              "onclick=\"steal()\">ok <a href=\"javascript:x()\">link</a>"
              "</p><iframe src=\"x\">frame</iframe>",
              0, 0);
    tap_ok(d && !strcmp(all_text(d, NULL), "ok link|") &&
               warned(d, "<script> dropped"),
           "scripts, styles and frames carry no text into the tree");
    vd_doc_free(d);

    d = parse("<html><head><title>T</title></head><body><nav><ul><li><a "
              "href=\"#\">Home</a></li></ul></nav><h2>Results</h2><p>text"
              "</p></body></html>",
              100, 100);
    tap_ok(d && (flags(d) & VD_PAGE_NO_BOXES) && warned(d, "no data-bbox") &&
               !vd_block_bbox(nth(d, VD_BLOCK_HEADING, 0), NULL) &&
               !strcmp(all_text(d, NULL), "|Home|Results|text|"),
           "plain HTML without boxes converts and is flagged");
    vd_doc_free(d);
}

static void test_deep(void)
{
    size_t n = 3000;
    char *h = malloc(n * 5 + n * 6 + 64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        memcpy(h + k, "<div>", 5), k += 5;
    memcpy(h + k, "deep", 4), k += 4;
    for (size_t i = 0; i < n; i++)
        memcpy(h + k, "</div>", 6), k += 6;
    memcpy(h + k, "<p>after</p>", 12), k += 12;
    vd_doc *d = parse_n(h, k, 0, 0);
    const char *t = d ? all_text(d, NULL) : "";
    tap_ok(d && strstr(t, "deep") && strstr(t, "after"),
           "3000 nested divs: the text survives (%.40s)", t);
    vd_doc_free(d);

    k = 0;
    for (size_t i = 0; i < 300; i++) {
        memcpy(h + k, "<table><tr><td>t", 16);
        k += 16;
    }
    memcpy(h + k, "end", 3), k += 3;
    d = parse_n(h, k, 0, 0);
    t = d ? all_text(d, NULL) : "";
    tap_ok(d && strstr(t, "end") && strstr(t, "t t t"),
           "a 300-level table loop keeps its text");
    vd_doc_free(d);
    free(h);
}

static int enter_cb(void *u, const vd_block *b, int depth)
{
    char *s = u;
    (void)b;
    size_t l = strlen(s);
    s[l] = (char)('0' + depth);
    s[l + 1] = '\0';
    return 0;
}

static int leave_cb(void *u, const vd_block *b, int depth)
{
    (void)b;
    char *s = u;
    size_t l = strlen(s);
    s[l] = (char)('a' + depth);
    s[l + 1] = '\0';
    return 0;
}

static void test_api(void)
{
    vd_doc *d = parse("<ul><li>a<ol><li>b</li></ol></li></ul><p>c</p>", 0, 0);
    char order[64] = "";
    vd_page_walk(vd_doc_page(d, 0), enter_cb, leave_cb, order);
    tap_ok(!strcmp(order, "0123dcba0a"), "walk order and depths (%s)", order);
    tap_ok(vd_doc_block_count(d) == 5, "block count at every depth");
    vd_page *pg = vd_doc_page(d, 0);
    int w0 = vd_page_warning_count(pg);
    vd_page_add_warning(ctx, d, pg, "w1");
    vd_page_add_warning(ctx, d, pg, "w1");
    vd_page_add_warning(ctx, d, pg, "bad \xff");
    tap_ok(vd_page_warning_count(pg) == w0 + 2 &&
               vd_page_warning_repeats(pg, w0) == 2 &&
               !strcmp(vd_page_warning(pg, w0 + 1), "bad \xEF\xBF\xBD"),
           "warnings collapse repeats and are repaired to UTF-8");
    vd_page_add_warning(ctx, d, pg, "t.html: page 1: cut at 6 tokens");
    vd_page_add_warning(ctx, d, pg, "t.html: page 2: other page");
    tap_ok(
        vd_page_warning_count(pg) == w0 + 4 &&
            !strcmp(vd_page_warning(pg, w0 + 2), "cut at 6 tokens") &&
            !strcmp(vd_page_warning(pg, w0 + 3), "t.html: page 2: other page"),
        "a warning drops its own file and page prefix, not another's");
    vd_page_stats st = { 0 };
    char eng[8] = "qwen";
    st.engine = eng;
    st.generated_tokens = 5;
    vd_page_set_stats(pg, &st);
    strcpy(eng, "xxxx");
    tap_ok(!strcmp(vd_page_stats_get(pg)->engine, "qwen") &&
               vd_page_stats_get(pg)->generated_tokens == 5,
           "stats keep their own copy of the engine name");
    tap_ok(vd_doc_add_page_error(ctx, d, 1, VD_ERR_MODEL, "no model") ==
                   VD_OK &&
               vd_doc_page_count(d) == 2 &&
               vd_page_status(vd_doc_page(d, 1)) == VD_ERR_MODEL &&
               !strcmp(vd_page_error(vd_doc_page(d, 1)), "no model") &&
               !vd_page_first_block(vd_doc_page(d, 1)),
           "an error page keeps status and message");
    tap_ok(!strcmp(vd_block_kind_name(VD_BLOCK_IMAGE), "image") &&
               !strcmp(vd_block_kind_name((vd_block_kind)99), "unknown"),
           "kind names");
    vd_doc_free(d);

    vd_opts o;
    vd_opts_init(&o);
    o.limits.max_html_bytes = 10;
    vd_ctx *small = vd_ctx_new(&o);
    vd_doc_new(small, "x", &d);
    tap_ok(vd_doc_add_page_html(small, d, 0, "<p>0123456789</p>", 17, NULL,
                                NULL) == VD_ERR_LIMIT,
           "HTML over max_html_bytes is refused");
    vd_doc_free(d);
    vd_ctx_free(small);
}

/* Every allocation in turn fails: the result is VD_ERR_NOMEM or success,
 * and nothing leaks either way. */
static void test_oom(void)
{
    static const char h[] =
        "```html\n<html><body><h1 data-bbox=\"1 1 9 9\">T</h1><p "
        "data-bbox=\"1 2 3\">x \xff</p><ul><li>a<ul><li>b</li></ul></li>"
        "</ul><table><tr><td colspan=\"2\">c</td></tr><td>d</td></table>"
        "<div class=\"formula\"><img/><div>$$e$$</div></div><div "
        "class=\"chart\"><table><tr><td>1</td></tr></table></div><p>f</p>"
        "<p>f</p>";
    long base = vd__alloc_live();
    int fails = 0, bad = 0, n;
    for (n = 1; n < 5000; n++) {
        vd_ctx_clear(ctx);
        vd_doc *d = NULL;
        vd__alloc_fail_at(n);
        vd_status st = vd_doc_new(ctx, "oom", &d);
        if (st == VD_OK)
            st = vd_doc_add_page_html(ctx, d, 0, h, sizeof h - 1, NULL, NULL);
        vd__alloc_fail_at(0);
        vd_doc_free(d);
        if (st != VD_OK && st != VD_ERR_NOMEM)
            bad++;
        if (vd__alloc_live() != base)
            bad++;
        if (st == VD_OK)
            break;
        fails++;
    }
    vd_ctx_clear(ctx);
    tap_ok(!bad && fails > 10 && n < 5000,
           "allocation failures: %d runs failed cleanly, then success", fails);
}

int main(void)
{
    tap_plan_late();
    ctx = vd_ctx_new(NULL);
    test_boxes();
    test_envelope();
    test_bytes();
    test_loops();
    test_lists();
    test_tables();
    test_formulas();
    test_figures();
    test_furniture();
    test_misc_kinds();
    test_deep();
    test_api();
    test_oom();
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

/* Unit tests for the text engine's layout, stage by stage, on words made
 * up here (no PDF): line segments, rows, paragraphs and de-hyphenation,
 * heading sizes, lists, tables, running heads and page numbers, reading
 * order, right-to-left lines and turned frames. Pages are built like
 * Poppler gives them: words with boxes in points, a font size, flags and
 * a direction, in Poppler's line order. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "engine-text-layout.h"

/* ---- building pages ---- */

typedef struct page {
    vd__pdf_text t;
    size_t capw, capb;
} page;

static page *pg_new(double w, double h)
{
    page *p = calloc(1, sizeof *p);
    p->t.page_w = w;
    p->t.page_h = h;
    p->capw = 64;
    p->capb = 1024;
    p->t.words = vd__malloc(NULL, p->capw * sizeof *p->t.words);
    p->t.utf8 = vd__malloc(NULL, p->capb);
    return p;
}

static void pg_free(page *p)
{
    vd__pdf_text_free(&p->t);
    free(p);
}

static size_t u8len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* One word, its box given. */
static void pg_word(page *p, float x1, float y1, float x2, float y2, float sz,
                    uint8_t flags, uint8_t dir, const char *s, size_t n,
                    int line_end)
{
    if (p->t.nwords == p->capw) {
        p->capw *= 2;
        p->t.words =
            vd__realloc(NULL, p->t.words, p->capw * sizeof *p->t.words);
    }
    while (p->t.nbytes + n + 1 > p->capb) {
        p->capb *= 2;
        p->t.utf8 = vd__realloc(NULL, p->t.utf8, p->capb);
    }
    vd__pdf_word *w = &p->t.words[p->t.nwords++];
    memset(w, 0, sizeof *w);
    w->x1 = x1, w->y1 = y1, w->x2 = x2, w->y2 = y2;
    w->size = sz;
    w->off = (uint32_t)p->t.nbytes;
    w->len = (uint32_t)n;
    w->flags = flags;
    w->dir = dir;
    w->line_end = (uint8_t)line_end;
    memcpy(p->t.utf8 + p->t.nbytes, s, n);
    p->t.nbytes += n;
    p->t.utf8[p->t.nbytes++] = '\0';
}

/* A line of TEXT from (X, Y) (top left) in size SZ: every character half
 * an em wide, words a quarter em apart, or GAP ems where the text has
 * "|" between words (a tab stop, a table cell). Returns its right end. */
static float pg_line_gap(page *p, float x, float y, float sz, uint8_t flags,
                         const char *text, float gap)
{
    const char *s = text;
    float cw = 0.5f * sz;
    while (*s) {
        float skip = 0.25f * sz;
        while (*s == ' ' || *s == '|') {
            if (*s == '|')
                skip = gap * sz;
            s++;
        }
        const char *e = s;
        while (*e && *e != ' ' && *e != '|')
            e++;
        if (e == s)
            break;
        const char *rest = e;
        while (*rest == ' ' || *rest == '|')
            rest++;
        float w = cw * (float)u8len(s, (size_t)(e - s));
        if (s != text)
            x += skip;
        pg_word(p, x, y, x + w, y + sz, sz, flags, 0, s, (size_t)(e - s),
                *rest == '\0');
        x += w;
        s = e;
    }
    return x;
}

static float pg_line(page *p, float x, float y, float sz, uint8_t flags,
                     const char *text)
{
    return pg_line_gap(p, x, y, sz, flags, text, 3);
}

/* ---- running the layout ---- */

static char *strip_bbox(const char *h)
{
    /* the HTML without data-bbox attributes, to compare structure */
    size_t n = strlen(h);
    char *o = malloc(n + 1), *q = o;
    static const char attr[] = " data-bbox=\"";
    while (*h) {
        if (strncmp(h, attr, sizeof attr - 1) == 0) {
            h = strchr(h + sizeof attr - 1, '"') + 1;
            continue;
        }
        *q++ = *h++;
    }
    *q = '\0';
    return o;
}

/* The page's QwenVL HTML (boxes in points), D optional. */
static char *page_html(vd_ctx *ctx, page *p, const vd__tl_doc *d, int bbox)
{
    vd__buf b;
    vd__buf_init(&b, 0);
    vd__tl_doc nd;
    memset(&nd, 0, sizeof nd);
    vd_status st = vd__tl_page_html(ctx, &p->t, d ? d : &nd, 1, 1, &b);
    char *r = NULL;
    if (st == VD_OK && b.data)
        r = bbox ? strdup(b.data) : strip_bbox(b.data);
    vd__buf_free(&b);
    return r ? r : strdup("");
}

/* Does H hold the strings in this order (END-terminated)? */
#define END ((const char *)0)
static int in_order(const char *h, ...)
{
    va_list ap;
    va_start(ap, h);
    const char *s, *at = h;
    int ok = 1;
    while ((s = va_arg(ap, const char *))) {
        const char *f = strstr(at, s);
        if (!f) {
            ok = 0;
            tap_diag("not found in order: %s", s);
            break;
        }
        at = f + strlen(s);
    }
    va_end(ap);
    return ok;
}

static int count(const char *h, const char *s)
{
    int n = 0;
    for (const char *f = strstr(h, s); f; f = strstr(f + 1, s))
        n++;
    return n;
}

/* Segments of the main frame, each as "[text]", in row order. */
static char *segments(vd_ctx *ctx, page *p, int *nrows)
{
    uint8_t *dir;
    int counts[4];
    vd__tl_lay L;
    memset(&L, 0, sizeof L);
    static char out[8192];
    out[0] = '\0';
    if (vd__tl_dirs(ctx, &p->t, &dir, counts) == VD_OK &&
        vd__tl_lay_init(&L, ctx, &p->t, dir, 0) == VD_OK) {
        char buf[512];
        for (int r = 0; r < L.nr; r++)
            for (int k = L.rs[r]; k < L.rs[r + 1]; k++) {
                vd__tl_seg_text(&L, L.rows[k], buf, sizeof buf);
                strcat(out, "[");
                strcat(out, buf);
                strcat(out, "]");
            }
        *nrows = L.nr;
    }
    vd__free(dir);
    vd__tl_lay_free(&L);
    return out;
}

/* ---- stage 1-2: words -> segments -> rows ---- */

static void test_lines(vd_ctx *ctx)
{
    int nr = 0;
    page *p = pg_new(600, 800);
    pg_line(p, 72, 100, 10, 0, "plain words on one line");
    const char *s = segments(ctx, p, &nr);
    tap_ok(strcmp(s, "[plain words on one line]") == 0 && nr == 1,
           "lines: a line of words is one segment: %s", s);
    pg_free(p);

    /* a gap of 3 em that stands out from the spaces: a cell break */
    p = pg_new(600, 800);
    pg_line(p, 72, 100, 10, 0, "Name|Quantity|Price");
    s = segments(ctx, p, &nr);
    tap_ok(strcmp(s, "[Name][Quantity][Price]") == 0 && nr == 1,
           "lines: wide gaps cut cells, one row: %s", s);
    pg_free(p);

    /* a justified line stretches every space to 1.3 em alike: no cut */
    p = pg_new(600, 800);
    pg_line_gap(p, 72, 100, 10, 0, "every|space|in|this|line|is|wide", 1.3f);
    s = segments(ctx, p, &nr);
    tap_ok(strcmp(s, "[every space in this line is wide]") == 0,
           "lines: justified spaces all alike stay one segment: %s", s);
    pg_free(p);

    /* Poppler ends a line at a font change: the pieces on one baseline a
     * space apart are one segment again */
    p = pg_new(600, 800);
    float x = pg_line(p, 72, 100, 10, 0, "bold start");
    pg_line(p, x + 2.5f, 100, 10, 0, "then regular");
    s = segments(ctx, p, &nr);
    tap_ok(strcmp(s, "[bold start then regular]") == 0,
           "lines: pieces a space apart on one baseline merge: %s", s);
    pg_free(p);

    /* a scan's text layer breaks a line at a wide space; no line around
     * keeps that gap open, so the pieces are one line again; a column
     * gutter kept by the lines around stays */
    p = pg_new(600, 800);
    x = pg_line(p, 72, 100, 10, 0, "a scanned line was very");
    pg_line(p, x + 18, 100, 10, 0, "trifling. Since the use of it");
    pg_line(p, 72, 112, 10, 0, "the next line of the scan runs right across");
    pg_line(p, 72, 124, 10, 0, "and so does this one all the way over there");
    s = segments(ctx, p, &nr);
    tap_ok(strstr(s, "[a scanned line was very trifling. Since the use of "
                     "it]") != NULL,
           "rows: a wide space no other line keeps open joins: %s", s);
    pg_free(p);
    /* columns whose lines do not share baselines: the gutter stays where
     * two lines happen to meet */
    p = pg_new(600, 800);
    pg_line(p, 72, 100, 10, 0, "left column text here");
    pg_line(p, 72, 112, 10, 0, "left column goes on");
    pg_line(p, 72, 124, 10, 0, "left column again x");
    pg_line(p, 190, 106, 10, 0, "right column text");
    pg_line(p, 190, 124, 10, 0, "right one meets it");
    pg_line(p, 190, 136, 10, 0, "right column ends");
    s = segments(ctx, p, &nr);
    tap_ok(strstr(s, "[left column again x][right one meets it]") != NULL,
           "rows: a column gutter lined up with other lines stays: %s", s);
    pg_free(p);

    /* two lines a baseline apart are two rows; a superscript-sized drift
     * within one row is not */
    p = pg_new(600, 800);
    pg_line(p, 72, 100, 10, 0, "first line");
    pg_line(p, 72, 112, 10, 0, "second line");
    pg_line(p, 300, 101.5f, 10, 0, "Name|Value");
    s = segments(ctx, p, &nr);
    tap_ok(nr == 2 && strcmp(s, "[first line][Name][Value][second line]") == 0,
           "rows: baselines band into rows, left to right: %s", s);
    pg_free(p);
}

/* ---- stage 5: paragraphs, de-hyphenation ---- */

/* Body text: lines of 10 pt at a 12 pt pitch from Y. */
static float para(page *p, float x, float y, const char *const *lines)
{
    for (; *lines; lines++, y += 12)
        pg_line(p, x, y, 10, 0, *lines);
    return y;
}

static void test_paragraphs(vd_ctx *ctx)
{
    page *p = pg_new(600, 800);
    static const char *const a[] = { "The first paragraph runs over two",
                                     "lines and ends here.", NULL };
    static const char *const b[] = { "A second paragraph after a blank",
                                     "line between them.", NULL };
    float y = para(p, 72, 100, a);
    para(p, 72, y + 12, b);
    char *h = page_html(ctx, p, NULL, 0);
    tap_ok(in_order(h,
                    "<p>The first paragraph runs over two lines and ends "
                    "here.</p>",
                    "<p>A second paragraph after a blank line between "
                    "them.</p>",
                    END),
           "paragraphs: lines joined, a blank line parts them");
    free(h);
    pg_free(p);

    /* an indented first line starts a paragraph with no gap above */
    p = pg_new(600, 800);
    static const char *const c[] = { "Lines of one paragraph that fill",
                                     "the column from edge to edge and",
                                     "then stop.", NULL };
    y = para(p, 72, 100, c);
    pg_line(p, 87, y, 10, 0, "Indented, the next one begins");
    pg_line(p, 72, y + 12, 10, 0, "and goes on.");
    h = page_html(ctx, p, NULL, 0);
    tap_ok(count(h, "<p>") == 2 &&
               in_order(h, "then stop.</p>",
                        "<p>Indented, the next one begins and goes on.</p>",
                        END),
           "paragraphs: an indented line starts a new one");
    free(h);
    pg_free(p);

    /* justified text: a short line ends the paragraph */
    p = pg_new(600, 800);
    static const char *const d[] = { "aaaa bbbb cccc dddd eeee ffff gggg",
                                     "hhhh iiii jjjj kkkk llll mmmm nnnn",
                                     "oooo pppp qqqq rrrr ssss tttt uuuu",
                                     "end of it.",
                                     "vvvv wwww xxxx yyyy zzzz aaaa bbbb",
                                     "and more.",
                                     NULL };
    para(p, 72, 100, d);
    h = page_html(ctx, p, NULL, 0);
    tap_ok(count(h, "<p>") == 2 &&
               in_order(h, "end of it.</p>", "<p>vvvv", END),
           "paragraphs: a short line in justified text ends the paragraph");
    free(h);
    pg_free(p);

    /* words split at a line end are joined; a capital after the hyphen
     * (a name) or a number keeps it */
    p = pg_new(600, 800);
    static const char *const e[] = { "the rain in Spain falls infor-",
                                     "mation on the well- Known anti-",
                                     "1984 campaign", NULL };
    para(p, 72, 100, e);
    h = page_html(ctx, p, NULL, 0);
    tap_ok(strstr(h, "falls information on the well- Known anti- 1984") != NULL,
           "paragraphs: de-hyphenation only before a small letter");
    free(h);
    pg_free(p);
}

static void test_drop_cap(vd_ctx *ctx)
{
    /* a capital three lines tall starts the paragraph; the lines beside
     * it are indented past it */
    page *p = pg_new(600, 800);
    pg_word(p, 72, 98, 96, 134, 32, 0, 0, "O", 1, 1);
    pg_line(p, 98, 100, 10, 0, "ver the past three decades ‘‘increasing");
    pg_line(p, 98, 112, 10, 0, "pressure’’ from the side has brought");
    pg_line(p, 98, 124, 10, 0, "change to the business and beyond,");
    pg_line(p, 72, 136, 10, 0, "well past the letter and to the end.");
    char *h = page_html(ctx, p, NULL, 0);
    tap_ok(strstr(h, "<p>Over the past three decades \xE2\x80\x9Cincreasing "
                     "pressure\xE2\x80\x9D from the side") != NULL &&
               count(h, "<p>") == 1,
           "paragraphs: a drop cap joins its word; doubled single quotes "
           "read as double");
    free(h);
    pg_free(p);
}

/* ---- headings ---- */

static void test_headings(vd_ctx *ctx)
{
    /* the size histogram: body 10 pt, headings 18 and 14 pt; one large
     * initial does not make a heading size */
    page *p = pg_new(600, 800);
    pg_line(p, 72, 60, 18, 0, "Main Title");
    pg_line(p, 72, 90, 14, 0, "Section One");
    static const char *const a[] = { "Body text of the section in ten point",
                                     "type, the most common size here.", NULL };
    float y = para(p, 72, 110, a);
    pg_line(p, 72, y + 12, 10, VD__PDF_BOLD, "Bold Run-in Title");
    para(p, 72, y + 26, a);
    pg_line(p, 72, y + 60, 30, 0, "W");
    uint32_t hist[VD__TL_SIZE_BINS];
    memset(hist, 0, sizeof hist);
    vd__tl_size_hist(&p->t, hist);
    vd__tl_doc d;
    memset(&d, 0, sizeof d);
    vd__tl_doc_sizes(hist, &d);
    tap_ok(d.body_size == 10 && d.nhead == 2 && d.head_sizes[0] == 18 &&
               d.head_sizes[1] == 14,
           "headings: body %.1f, %d heading sizes %.1f %.1f", d.body_size,
           d.nhead, d.head_sizes[0], d.head_sizes[1]);
    char *h = page_html(ctx, p, &d, 0);
    tap_ok(in_order(h, "<h1>Main Title</h1>", "<h2>Section One</h2>",
                    "<h3>Bold Run-in Title</h3>", END),
           "headings: levels from the sizes; bold body-size line below them");
    free(h);
    pg_free(p);

    /* larger than the body yet no heading: a formula, a sentence; a
     * numbered line in bold standing alone is one */
    p = pg_new(600, 800);
    pg_line(p, 72, 60, 10, VD__PDF_BOLD, "2. Pythagorean Theorem");
    pg_line(p, 200, 90, 14, 0, "a2 + b2 = c2");
    pg_line(p, 72, 120, 10, 0, "In right triangles the hypotenuse squared");
    pg_line(p, 72, 132, 10, 0, "equals the sum of the other squares.");
    pg_line(p, 72, 160, 14, 0,
            "We thank the department for its support of this work.");
    pg_line(p, 72, 190, 10, 0, "More body text follows the thanks here.");
    h = page_html(ctx, p, &d, 0);
    tap_ok(in_order(h, "<h3>2. Pythagorean Theorem</h3>", "<p>a2 + b2 = c2</p>",
                    "<p>In right triangles", "<p>We thank the department",
                    END) &&
               !strstr(h, "<ol>"),
           "headings: not a formula nor a sentence; a lone numbered bold "
           "line");
    free(h);
    pg_free(p);
}

/* ---- lists ---- */

static void test_lists(vd_ctx *ctx)
{
    page *p = pg_new(600, 800);
    pg_line(p, 72, 100, 10, 0, "Before the list.");
    pg_line(p, 72, 124, 10, 0, "\xE2\x80\xA2 first item");
    pg_line(p, 72, 136, 10, 0, "\xE2\x80\xA2 second item that wraps");
    pg_line(p, 81, 148, 10, 0, "onto a second line");
    pg_line(p, 72, 160, 10, 0, "\xE2\x80\xA2 third");
    pg_line(p, 72, 184, 10, 0, "1. one");
    pg_line(p, 72, 196, 10, 0, "2. two");
    pg_line(p, 72, 208, 10, 0, "(c) three");
    char *h = page_html(ctx, p, NULL, 0);
    tap_ok(in_order(h, "<ul>", "<li>first item</li>",
                    "<li>second item that wraps onto a second line</li>",
                    "<li>third</li>", "</ul>", "<ol>", "<li>one</li>",
                    "<li>two</li>", "<li>three</li>", "</ol>", END),
           "lists: bullets, a wrapped item, numbers and letters");
    free(h);
    pg_free(p);
}

/* ---- stage 4: tables ---- */

static void test_tables(vd_ctx *ctx)
{
    page *p = pg_new(600, 800);
    pg_line(p, 72, 80, 10, 0, "Some text before the table.");
    /* a heading spanning the two number columns, then the columns */
    pg_line(p, 262, 104, 10, 0, "Fiscal year");
    pg_line_gap(p, 72, 116, 10, 0, "Item|2024|2025", 11);
    pg_line_gap(p, 72, 128, 10, 0, "Apples|1,200|1,350", 9);
    pg_line_gap(p, 72, 140, 10, 0, "Pears|800|950", 11);
    pg_line_gap(p, 72, 152, 10, 0, "Total|2,000|2,300", 10);
    pg_line(p, 72, 176, 10, 0, "Some text after the table.");
    char *h = page_html(ctx, p, NULL, 0);
    tap_ok(in_order(h, "<p>Some text before the table.</p>", "<table>",
                    "<tr><th>Apples</th><td>1,200</td><td>1,350</td></tr>",
                    "<tr><th>Total</th><td>2,000</td><td>2,300</td></tr>",
                    "</table>", "<p>Some text after the table.</p>", END),
           "tables: rows and columns of cells between paragraphs; row "
           "labels head their rows");
    if (!tap_ok(strstr(h, "<tr><td></td><th colspan=\"2\">Fiscal "
                          "year</th></tr><tr><th>Item</th><th>2024</th>"
                          "<th>2025</th></tr>") != NULL,
                "tables: head rows; a head over two columns spans them"))
        tap_diag("%s", h);
    free(h);
    pg_free(p);

    /* two columns of running text are not a table */
    p = pg_new(600, 800);
    static const char *const l[] = { "Prose in the left column goes on",
                                     "for a few lines of ordinary",
                                     "words that read on and on until",
                                     "the column ends at the foot.", NULL };
    static const char *const r[] = { "And the right column has its own",
                                     "text that fills its lines just",
                                     "the same way, word after word",
                                     "to the bottom of the page.", NULL };
    para(p, 72, 100, l);
    para(p, 320, 100, r);
    h = page_html(ctx, p, NULL, 0);
    tap_ok(!strstr(h, "<table") && count(h, "<p>") == 2,
           "tables: two columns of prose stay paragraphs");
    free(h);
    pg_free(p);
}

/* ---- stage 3: running heads, page numbers ---- */

static page *journal_page(int no)
{
    page *p = pg_new(600, 800);
    char buf[64];
    pg_line(p, 72, 30, 8, 0, "Journal of Made-up Results, vol. 7");
    static const char *const a[] = { "Body text that differs from page to",
                                     "page and is never a running head.",
                                     NULL };
    static const char *const b[] = { "Other words on the odd pages, so the",
                                     "body never repeats between them.", NULL };
    para(p, 72, 100, no % 2 ? b : a);
    snprintf(buf, sizeof buf, "Page %d of 9", no);
    pg_line(p, 270, 760, 8, 0, buf);
    return p;
}

static void test_furniture(vd_ctx *ctx)
{
    page *pp[3];
    vd__tl_edge e[32];
    size_t ne = 0;
    for (int i = 0; i < 3; i++) {
        pp[i] = journal_page(i + 1);
        if (i != 1)
            ne += vd__tl_edges(&pp[i]->t, e + ne, 16);
    }
    tap_ok(ne == 4, "furniture: two edge lines per page (%zu)", ne);
    vd__tl_doc d;
    memset(&d, 0, sizeof d);
    d.edges = e;
    d.nedges = ne;
    d.neighbours = 2;
    char *h = page_html(ctx, pp[1], &d, 0);
    tap_ok(in_order(h,
                    "<p class=\"page_header\">Journal of Made-up Results, "
                    "vol. 7</p>",
                    "<p>Body text", "<p class=\"page_number\">Page 2 of 9</p>",
                    END),
           "furniture: the running head and the page number across pages");
    free(h);
    for (int i = 0; i < 3; i++)
        pg_free(pp[i]);
}

/* A page standing alone: what sets its running head and page numbers
 * apart is where they sit, not repetition. */
static void test_furniture_alone(vd_ctx *ctx)
{
    /* a book page: page number, running title and chapter on the first
     * line, a clear gap, then the text, the first lines of it in the top
     * band too */
    page *p = pg_new(300, 500);
    pg_line(p, 30, 20, 7, 0, "400");
    pg_line(p, 110, 20, 7, 0, "BRITISH HUSBANDRY.");
    pg_line(p, 230, 20, 7, 0, "[Ch. XIX.");
    static const char *const a[] = { "Body text starts here right under",
                                     "the running head and goes on down",
                                     "the page line by line as usual", NULL };
    float y = 40;
    for (const char *const *l = a; *l; l++, y += 10)
        pg_line(p, 30, y, 8, 0, *l);
    pg_line(p, 30, y + 12, 8, 0, "Figure 3. A caption at the foot");
    char *h = page_html(ctx, p, NULL, 0);
    if (!tap_ok(in_order(h, "<p class=\"page_number\">400</p>",
                         "<p class=\"page_header\">BRITISH HUSBANDRY.</p>",
                         "<p class=\"page_header\">[Ch. XIX.</p>",
                         "<p>Body text starts here", END) &&
                    strstr(h, "<p>Figure 3. A caption at the foot</p>"),
                "furniture alone: a running head with a page number; a caption "
                "at the foot is no footer"))
        tap_diag("%s", h);
    free(h);
    pg_free(p);

    /* journal page: a tight two-line head in small print, then the text
     * whose first lines are in the top band but not set apart */
    p = pg_new(600, 800);
    pg_line(p, 150, 8, 8, 0, "Downloaded from example.org on July 1, 2017");
    pg_line(p, 70, 18, 7.5f, 0, "Advocacy in Action");
    pg_line(p, 520, 18, 7.5f, 0, "447");
    static const char *const b[] = { "stakeholders has occurred in other",
                                     "nations, with groups and people",
                                     "refusing to risk being appropriated",
                                     "into the industry's relations and",
                                     "ambitions, as it now looks like.",
                                     NULL };
    para(p, 70, 48, b);
    pg_line(p, 300, 480, 8.5f, 0, "62");
    h = page_html(ctx, p, NULL, 0);
    tap_ok(count(h, "class=\"page_header\"") == 2 &&
               strstr(h, "<p class=\"page_number\">447</p>") &&
               strstr(h, "<p>stakeholders has occurred") &&
               strstr(h, "<p class=\"page_number\">62</p>"),
           "furniture alone: a two-line head over text; a page number "
           "ending a short page");
    free(h);
    pg_free(p);

    /* a table whose head row starts the page is no running head */
    p = pg_new(600, 800);
    pg_line_gap(p, 72, 20, 9, 0, "Animal|Action|Result", 8);
    pg_line_gap(p, 72, 45, 10, 0, "Cat|Says|Meow", 9.2f);
    pg_line_gap(p, 72, 57, 10, 0, "Dog|Says|Woof", 9.2f);
    pg_line_gap(p, 72, 69, 10, 0, "Cow|Says|Moo", 9.2f);
    h = page_html(ctx, p, NULL, 0);
    tap_ok(!strstr(h, "page_header") && strstr(h, "<table>"),
           "furniture alone: a table's head row is not a running head");
    free(h);
    pg_free(p);
}

/* ---- stage 6: reading order ---- */

static void test_order(vd_ctx *ctx)
{
    /* a title across both columns, two column runs, a figure caption
     * across both in between */
    page *p = pg_new(600, 800);
    pg_line(p, 150, 60, 18, 0, "A Title Across Both Columns");
    static const char *const a[] = { "Column one, part one: the text",
                                     "starts here at the top left and",
                                     "reads down this column first.", NULL };
    static const char *const b[] = { "Column two, part one: read after",
                                     "the first column's upper run is",
                                     "done, before the figure.", NULL };
    static const char *const c[] = { "Column one, part two: below the",
                                     "figure the left column comes",
                                     "first again, as before.", NULL };
    static const char *const dd[] = { "Column two, part two: the last",
                                      "text on the page, at the bottom",
                                      "right, read at the very end.", NULL };
    para(p, 72, 100, a);
    para(p, 320, 100, b);
    pg_line(p, 100, 200, 9, 0,
            "Figure 1: a caption set across the whole width of the page");
    para(p, 72, 240, c);
    para(p, 320, 240, dd);
    char *h = page_html(ctx, p, NULL, 0);
    tap_ok(in_order(h, "A Title Across", "Column one, part one",
                    "Column two, part one", "Figure 1:", "Column one, part two",
                    "Column two, part two", END),
           "order: columns top to bottom, left to right; full-width "
           "blocks between column runs");
    free(h);
    pg_free(p);
}

/* ---- frames ---- */

static void test_frames(vd_ctx *ctx)
{
    int good = 1;
    float box[4] = { 10, 20, 110, 40 }, f[4], back[4];
    for (int fr = 0; fr < 8; fr++) {
        vd__tl_to_frame(fr, 600, 800, box, f);
        vd__tl_from_frame(fr, 600, 800, f, back);
        for (int i = 0; i < 4; i++)
            good &= TAP_NEAR(back[i], box[i], 1e-3);
        good &= f[0] <= f[2] && f[1] <= f[3];
    }
    tap_ok(good, "frames: all eight frames map boxes and back");

    /* a page turned a quarter: the text runs down the page (dir 1), its
     * lines stack from right to left */
    page *p = pg_new(600, 800);
    static const char *const lines[] = { "Sideways text reads down the page",
                                         "and its second line sits to the",
                                         "left of the first one.", NULL };
    float x = 500;
    for (const char *const *l = lines; *l; l++, x -= 12) {
        const char *s = *l;
        float y = 100;
        while (*s) {
            const char *e = strchr(s, ' ');
            size_t n = e ? (size_t)(e - s) : strlen(s);
            float len = 5.0f * (float)n;
            pg_word(p, x - 10, y, x, y + len, 10, 0, 1, s, n, e == NULL);
            y += len + 2.5f;
            s += n + (e != NULL);
        }
    }
    char *h = page_html(ctx, p, NULL, 1);
    tap_ok(strstr(h, "<p data-bbox=\"466 100 500 ") != NULL &&
               strstr(h, ">Sideways text reads down the page and its second "
                         "line sits to the left of the first one.</p>"),
           "frames: a turned page reads as one paragraph, box upright");
    free(h);
    pg_free(p);
}

/* ---- right-to-left lines ---- */

static void test_rtl(vd_ctx *ctx)
{
    /* Arabic "in the language R and Python" set right to left: Poppler's
     * words come in its own order, each word's letters logical */
    page *p = pg_new(600, 800);
    static const struct {
        const char *s;
        float x1, x2;
        int rtl;
    } w[] = {
        { "Python", 300, 330, 0 },                           /* leftmost */
        { "\xD9\x88", 334, 339, 1 },                         /* wa */
        { "R", 343, 348, 0 },                                /* */
        { "\xD8\xA8\xD9\x84\xD8\xBA\xD8\xA9", 352, 372, 1 }, /* bi-lugha */
        { "\xD8\xA7\xD9\x84\xD8\xA8\xD8\xB1\xD9\x85\xD8\xAC\xD8\xA9", 376, 410,
          1 }, /* al-barmaja, rightmost: the first word */
    };
    /* Poppler's order: right to left for the Arabic, Latin words after */
    static const int order[] = { 4, 3, 1, 2, 0 };
    for (int i = 0; i < 5; i++) {
        int k = order[i];
        pg_word(p, w[k].x1, 100, w[k].x2, 110, 10, w[k].rtl ? VD__PDF_RTL : 0,
                0, w[k].s, strlen(w[k].s), i == 4);
    }
    char *h = page_html(ctx, p, NULL, 0);
    tap_ok(strstr(h, "<p>\xD8\xA7\xD9\x84\xD8\xA8\xD8\xB1\xD9\x85\xD8\xAC"
                     "\xD8\xA9 \xD8\xA8\xD9\x84\xD8\xBA\xD8\xA9 R "
                     "\xD9\x88 Python</p>") != NULL,
           "rtl: words of a mixed line in logical order");
    free(h);
    pg_free(p);
}

/* Every allocation of a page's layout failing in turn: the layout fails
 * with VD_ERR_NOMEM or succeeds (refinements give way), never crashes or
 * leaks. */
static void test_oom(vd_ctx *ctx)
{
    page *p = pg_new(600, 800);
    pg_line(p, 150, 30, 8, 0, "A Running Head");
    pg_line(p, 72, 60, 18, 0, "Title");
    static const char *const a[] = { "Some text in a column that wraps",
                                     "over lines and is hyphen-", "ated.",
                                     NULL };
    para(p, 72, 100, a);
    para(p, 320, 100, a);
    pg_line_gap(p, 72, 160, 10, 0, "Item|2024|2025", 11);
    pg_line_gap(p, 72, 172, 10, 0, "Apples|1,200|1,350", 9);
    pg_line_gap(p, 72, 184, 10, 0, "Pears|800|950", 11);
    pg_line(p, 72, 210, 10, 0, "\xE2\x80\xA2 an item");
    pg_word(p, 300, 250, 330, 260, 10, VD__PDF_RTL, 0,
            "\xD8\xA8\xD9\x84\xD8\xBA\xD8\xA9", 8, 0);
    pg_word(p, 260, 250, 290, 260, 10, 0, 0, "Python", 6, 1);
    pg_line(p, 290, 760, 8, 0, "3");
    int bad = 0, failed = 0, n;
    for (n = 1; n < 2000; n++) {
        vd__buf b;
        vd__buf_init(&b, 0);
        vd__tl_doc d;
        memset(&d, 0, sizeof d);
        vd__alloc_fail_at(n);
        vd_status st = vd__tl_page_html(ctx, &p->t, &d, 1, 1, &b);
        long left = vd__alloc_fail_at(0);
        vd__buf_free(&b);
        vd_ctx_clear(ctx);
        if (st != VD_OK && st != VD_ERR_NOMEM)
            bad++;
        failed += st != VD_OK;
        if (left > 0) /* the countdown outlived the layout: all tried */
            break;
    }
    tap_ok(!bad && failed > 0,
           "oom: each of %d allocations failing gives NOMEM or a page (%d "
           "failed)",
           n - 1, failed);
    pg_free(p);
}

int main(void)
{
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    test_lines(ctx);
    test_paragraphs(ctx);
    test_drop_cap(ctx);
    test_headings(ctx);
    test_lists(ctx);
    test_tables(ctx);
    test_furniture(ctx);
    test_furniture_alone(ctx);
    test_order(ctx);
    test_frames(ctx);
    test_rtl(ctx);
    test_oom(ctx);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no allocation left (%ld)", vd__alloc_live());
    return tap_done();
}

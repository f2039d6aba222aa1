/* Corpus generator: draws the project's own test documents with cairo's
 * PDF surface - an invoice, a two-column article with headings and lists,
 * a report with running header, footer and page numbers, and a long
 * report for the benchmark. Deterministic: fixed text, fixed fonts
 * (DejaVu), fixed PDF dates, so the same cairo and fonts give the same
 * bytes.
 *
 *   gen-corpus DIR            invoice.pdf article.pdf report.pdf in DIR
 *   gen-corpus --long N FILE  an N-page report (the benchmark's input) */
#include <cairo-pdf.h>
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SANS  "DejaVu Sans"
#define SERIF "DejaVu Serif"
#define A4_W  595.0
#define A4_H  842.0

static cairo_surface_t *new_pdf(const char *path, const char *title)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, A4_W, A4_H);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "gen-corpus: %s: cannot create\n", path);
        exit(1);
    }
    /* fixed dates: cairo stamps the current time otherwise */
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE,
                                   "2024-01-01T00:00:00Z");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_MOD_DATE,
                                   "2024-01-01T00:00:00Z");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR,
                                   "vldoc tools/gen-corpus");
    return s;
}

static void font(cairo_t *cr, const char *face, int bold, double size)
{
    cairo_select_font_face(cr, face, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD
                                : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

static void text_at(cairo_t *cr, double x, double y, const char *s)
{
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void text_right(cairo_t *cr, double xr, double y, const char *s)
{
    text_at(cr, xr - width(cr, s), y, s);
}

static void text_centre(cairo_t *cr, double xc, double y, const char *s)
{
    text_at(cr, xc - width(cr, s) / 2, y, s);
}

/* Draw S wrapped into lines of at most W points from (X, Y), the first
 * line starting at X + FIRST; LEAD is the baseline pitch. Returns the
 * baseline after the last line. */
static double flow(cairo_t *cr, double x, double y, double w, double first,
                   double lead, const char *s)
{
    char line[640], word[128];
    size_t ll = 0;
    double indent = first;
    const char *p = s;
    line[0] = '\0';
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = 0;
        while (p[n] && p[n] != ' ' && n < sizeof word - 1)
            n++;
        if (!n)
            break;
        memcpy(word, p, n);
        word[n] = '\0';
        p += n;
        char trial[640];
        snprintf(trial, sizeof trial, "%s%s%s", line, ll ? " " : "", word);
        if (ll && width(cr, trial) > w - indent) {
            text_at(cr, x + indent, y, line);
            y += lead;
            indent = 0;
            snprintf(line, sizeof line, "%s", word);
            ll = strlen(line);
        } else {
            snprintf(line, sizeof line, "%s", trial);
            ll = strlen(line);
        }
    }
    if (ll) {
        text_at(cr, x + indent, y, line);
        y += lead;
    }
    return y;
}

/* ---- invoice ---- */

static void invoice(const char *path)
{
    cairo_surface_t *s = new_pdf(path, "Invoice 2024-0173");
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    font(cr, SANS, 1, 16);
    text_at(cr, 56, 70, "Acme Tools Ltd");
    font(cr, SANS, 0, 9);
    text_at(cr, 56, 86, "12 Mill Road, Leeds LS1 4AB, United Kingdom");
    text_at(cr, 56, 98, "VAT GB 123 4567 89");
    font(cr, SANS, 1, 24);
    text_right(cr, 539, 76, "INVOICE");

    font(cr, SANS, 0, 10);
    static const char *const kv[][2] = { { "Invoice no.", "2024-0173" },
                                         { "Date", "14 March 2024" },
                                         { "Due date", "13 April 2024" },
                                         { "Customer no.", "C-20931" } };
    for (int i = 0; i < 4; i++) {
        text_at(cr, 360, 130 + 15 * i, kv[i][0]);
        text_right(cr, 539, 130 + 15 * i, kv[i][1]);
    }
    font(cr, SANS, 1, 10);
    text_at(cr, 56, 130, "Bill to");
    font(cr, SANS, 0, 10);
    text_at(cr, 56, 145, "Northwind Traders");
    text_at(cr, 56, 160, "Attn. Maria Anders");
    text_at(cr, 56, 175, "Obere Str. 57, 12209 Berlin");

    /* line items */
    static const char *const head[] = { "Description", "Qty", "Unit price",
                                        "Amount" };
    static const double col[] = { 56, 330, 420, 539 }; /* right edges but
                                                          the first */
    static const char *const items[][4] = {
        { "Hex key set, 9 pieces", "2", "9.50", "19.00" },
        { "Bench vise, 150 mm", "1", "64.00", "64.00" },
        { "Safety glasses", "5", "4.20", "21.00" },
        { "Cordless drill 18 V", "1", "129.00", "129.00" },
        { "Drill bit set, HSS", "3", "12.40", "37.20" },
    };
    double y = 230;
    font(cr, SANS, 1, 10);
    text_at(cr, col[0], y, head[0]);
    for (int c = 1; c < 4; c++)
        text_right(cr, col[c], y, head[c]);
    cairo_set_line_width(cr, 0.6);
    cairo_move_to(cr, 56, y + 6);
    cairo_line_to(cr, 539, y + 6);
    cairo_stroke(cr);
    font(cr, SANS, 0, 10);
    for (int r = 0; r < 5; r++) {
        y += 20;
        text_at(cr, col[0], y, items[r][0]);
        for (int c = 1; c < 4; c++)
            text_right(cr, col[c], y, items[r][c]);
    }
    cairo_move_to(cr, 56, y + 8);
    cairo_line_to(cr, 539, y + 8);
    cairo_stroke(cr);
    static const char *const tot[][2] = { { "Subtotal", "270.20" },
                                          { "VAT 20%", "54.04" },
                                          { "Total due (GBP)", "324.24" } };
    for (int i = 0; i < 3; i++) {
        y += 20;
        font(cr, SANS, i == 2, 10);
        text_at(cr, 360, y, tot[i][0]);
        text_right(cr, 539, y, tot[i][1]);
    }
    font(cr, SANS, 0, 10);
    y = flow(cr, 56, y + 50, 483, 0, 14,
             "Please pay within 30 days to the account below, quoting the "
             "invoice number. Thank you for your business.");
    text_at(cr, 56, y + 6, "IBAN GB33 BUKB 2020 1555 5555 55 - BIC BUKBGB22");
    font(cr, SANS, 0, 8);
    text_centre(cr, A4_W / 2, 800, "Page 1 of 1");
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* ---- two-column article ---- */

static const char *const lorem[] = {
    "Document conversion starts with the text a page already carries. A "
    "born-digital PDF knows every glyph it draws, where it draws it and in "
    "which font, so no model has to guess the words.",
    "What the file does not say is how the words group into lines, lines "
    "into paragraphs and paragraphs into columns. That structure has to be "
    "recovered from the geometry alone, page after page.",
    "Columns are read top to bottom and left to right. A title that spans "
    "both columns comes first, and a figure that spans them sits between "
    "the column runs above and below it.",
    "Headings stand out by size or weight against the body text of the "
    "whole document, not of one page, so the same style gets the same level "
    "everywhere.",
    "Lists are recognised by their markers and their hanging indent; the "
    "lines of one item stay together even when the item wraps.",
};

static void article(const char *path)
{
    cairo_surface_t *s = new_pdf(path, "Reading order on two columns");
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    font(cr, SERIF, 1, 20);
    text_centre(cr, A4_W / 2, 80, "Reading Order on Two Columns");
    font(cr, SERIF, 0, 11);
    text_centre(cr, A4_W / 2, 102, "A. Author and B. Writer");

    const double colw = 230, x0 = 56, x1 = 56 + colw + 23, lead = 13;
    double y = 150;
    font(cr, SERIF, 1, 14);
    text_at(cr, x0, y, "1 Introduction");
    y += 20;
    font(cr, SERIF, 0, 10);
    y = flow(cr, x0, y, colw, 0, lead, lorem[0]);
    y += 6;
    y = flow(cr, x0, y, colw, 0, lead, lorem[1]);
    y += 14;
    font(cr, SERIF, 1, 14);
    text_at(cr, x0, y, "2 Method");
    y += 20;
    font(cr, SERIF, 0, 10);
    y = flow(cr, x0, y, colw, 0, lead, lorem[2]);
    y += 8;
    static const char *const bullets[] = {
        "Words come from the glyph boxes of the text layer.",
        "Lines are words on one baseline without wide gaps.",
        "Blocks are lines with a steady pitch and a shared edge.",
    };
    for (int i = 0; i < 3; i++) {
        text_at(cr, x0 + 4, y, "\xe2\x80\xa2"); /* bullet */
        y = flow(cr, x0 + 16, y, colw - 16, 0, lead, bullets[i]);
        y += 3;
    }
    (void)y;

    y = 150;
    font(cr, SERIF, 0, 10);
    y = flow(cr, x1, y, colw, 0, lead, lorem[3]);
    y += 6;
    static const char *const steps[] = {
        "Find the main writing direction of the page.",
        "Group words into lines and lines into blocks.",
        "Order the blocks by Breuel's rules and write them out.",
    };
    for (int i = 0; i < 3; i++) {
        char num[8];
        snprintf(num, sizeof num, "%d.", i + 1);
        text_at(cr, x1 + 2, y, num);
        y = flow(cr, x1 + 16, y, colw - 16, 0, lead, steps[i]);
        y += 3;
    }
    y += 11;
    font(cr, SERIF, 1, 14);
    text_at(cr, x1, y, "3 Results");
    y += 20;
    font(cr, SERIF, 0, 10);
    y = flow(cr, x1, y, colw, 0, lead, lorem[4]);
    (void)y;
    font(cr, SERIF, 0, 9);
    text_centre(cr, A4_W / 2, 800, "1");
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* ---- report with running heads ---- */

static void report(const char *path, int pages)
{
    cairo_surface_t *s = new_pdf(path, "Quarterly report");
    cairo_t *cr = cairo_create(s);
    char buf[160];
    for (int p = 1; p <= pages; p++) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        font(cr, SANS, 0, 8);
        text_at(cr, 56, 40, "Northwind Traders - Quarterly report");
        text_right(cr, 539, 40, "Confidential");
        cairo_set_line_width(cr, 0.4);
        cairo_move_to(cr, 56, 46);
        cairo_line_to(cr, 539, 46);
        cairo_stroke(cr);
        double y = 90;
        if (p == 1) {
            font(cr, SANS, 1, 18);
            text_at(cr, 56, y, "Quarterly Report");
            y += 34;
        }
        for (int sct = 0; sct < 2; sct++) {
            font(cr, SANS, 1, 13);
            snprintf(buf, sizeof buf, "%d.%d Section %d of page %d", p, sct + 1,
                     sct + 1, p);
            text_at(cr, 56, y, buf);
            y += 20;
            font(cr, SANS, 0, 10);
            for (int k = 0; k < 3; k++) {
                const char *t = lorem[(p + sct * 3 + k) % 5];
                y = flow(cr, 56, y, 483, 0, 13.5, t);
                y += 8;
            }
            y += 10;
        }
        font(cr, SANS, 0, 8);
        snprintf(buf, sizeof buf, "Page %d of %d", p, pages);
        text_centre(cr, A4_W / 2, 805, buf);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--long") == 0) {
        int n = atoi(argv[2]);
        if (n < 1 || n > 100000) {
            fprintf(stderr, "gen-corpus: bad page count %s\n", argv[2]);
            return 2;
        }
        report(argv[3], n);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: gen-corpus DIR | gen-corpus --long N FILE\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/invoice.pdf", argv[1]);
    invoice(path);
    snprintf(path, sizeof path, "%s/article.pdf", argv[1]);
    article(path);
    snprintf(path, sizeof path, "%s/report.pdf", argv[1]);
    report(path, 3);
    return 0;
}

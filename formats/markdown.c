/* Writer "md": CommonMark with GFM tables, in reading order. Text is
 * escaped so it renders as written; inline math ($...$) passes through
 * verbatim for renderers with the usual dollar-math extension; tables
 * with merged cells fall back to an HTML table, which GFM cannot express
 * otherwise; page furniture is left out unless asked for. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "writer.h"

typedef struct md {
    vd__w w;
    const vd_write_opts *opt;
    int any; /* something written: blocks need a blank line between */
} md;

enum { T_PLAIN = 0, T_TABLE = 1, T_HEADING = 2 };

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

/* Index after the math span that starts at S[I] == '$' (pandoc's rules:
 * no space inside the delimiters, a closing $ not followed by a digit, so
 * "$5 and $10" is money), or 0 when none starts there. */
static size_t math_end(const char *s, size_t n, size_t i)
{
    if (i > 0 && s[i - 1] == '\\')
        return 0;
    if (i + 1 < n && s[i + 1] == '$') {
        for (size_t j = i + 2; j + 1 < n; j++)
            if (s[j] == '$' && s[j + 1] == '$')
                return j > i + 2 ? j + 2 : 0;
        return 0;
    }
    if (i + 1 >= n || is_space(s[i + 1]))
        return 0;
    for (size_t j = i + 1; j < n; j++) {
        if (s[j] == '\\') {
            j++;
            continue;
        }
        if (s[j] == '$' && !is_space(s[j - 1]) &&
            !(j + 1 < n && s[j + 1] >= '0' && s[j + 1] <= '9'))
            return j + 1;
    }
    return 0;
}

/* "&name;" or "&#123;": CommonMark would decode it. */
static int entity_at(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        j++;
        if (j < n && (s[j] == 'x' || s[j] == 'X'))
            j++;
    }
    size_t k = j;
    while (k < n && is_alnum(s[k]) && k - j < 32)
        k++;
    return k > j && k < n && s[k] == ';';
}

/* One line of text, escaped. LINE_START: block structure could begin
 * here. */
static void md_line(md *m, const char *s, size_t n, int mode, int line_start)
{
    vd__w *w = &m->w;
    size_t i = 0, run = 0;
    if (line_start && n) {
        /* block starters: # > - + = and "1." / "1)" */
        size_t d = 0;
        while (d < n && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d && d < 10 && d < n && (s[d] == '.' || s[d] == ')')) {
            vd__w_write(w, s, d);
            vd__w_putc(w, '\\');
            i = run = d;
        } else if (strchr("#>-+=", s[0])) {
            vd__w_putc(w, '\\');
        }
    }
    while (i < n) {
        char ch = s[i];
        const char *esc = NULL;
        switch (ch) {
        case '$': {
            size_t e = math_end(s, n, i);
            if (e) {
                /* verbatim, but a table still splits on | */
                vd__w_write(w, s + run, i - run);
                for (size_t k = i; k < e; k++) {
                    if (s[k] == '|' && mode == T_TABLE)
                        vd__w_putc(w, '\\');
                    vd__w_putc(w, s[k]);
                }
                i = run = e;
                continue;
            }
            if (i + 1 < n && !is_space(s[i + 1]) &&
                memchr(s + i + 1, '$', n - i - 1))
                esc = "\\$";
            break;
        }
        case '\\':
            esc = "\\\\";
            break;
        case '`':
            esc = "\\`";
            break;
        case '*':
            esc = "\\*";
            break;
        case '[':
            esc = "\\[";
            break;
        case ']':
            esc = "\\]";
            break;
        case '<':
            esc = "\\<";
            break;
        case '~':
            esc = "\\~";
            break;
        case '|':
            esc = "\\|";
            break;
        case '_':
            if (!(i > 0 && is_alnum(s[i - 1]) && i + 1 < n &&
                  is_alnum(s[i + 1])))
                esc = "\\_";
            break;
        case '&':
            if (entity_at(s, n, i))
                esc = "\\&";
            break;
        case '#':
            /* a closing sequence at the end of a heading is dropped */
            if (mode == T_HEADING && i + 1 == n)
                esc = "\\#";
            break;
        default:
            break;
        }
        if (esc) {
            vd__w_write(w, s + run, i - run);
            vd__w_puts(w, esc);
            run = i + 1;
        }
        i++;
    }
    vd__w_write(w, s + run, n - run);
}

/* Text T escaped; its line breaks become hard breaks (continuation lines
 * indented by INDENT), <br> in a table, spaces in a heading. */
static void md_text(md *m, const char *t, int mode, int indent, int line_start)
{
    size_t n = strlen(t);
    size_t a = 0;
    int first = 1;
    while (a <= n) {
        const char *nl = memchr(t + a, '\n', n - a);
        size_t e = nl ? (size_t)(nl - t) : n;
        size_t b = a;
        while (b < e && is_space(t[b]))
            b++;
        size_t z = e;
        while (z > b && is_space(t[z - 1]))
            z--;
        if (!first && z > b) {
            if (mode == T_TABLE) {
                vd__w_puts(&m->w, "<br>");
            } else if (mode == T_HEADING) {
                vd__w_putc(&m->w, ' ');
            } else {
                vd__w_write(&m->w, "\\\n", 2);
                for (int k = 0; k < indent; k++)
                    vd__w_putc(&m->w, ' ');
            }
        }
        if (z > b) {
            md_line(m, t + b, z - b, mode,
                    mode != T_TABLE && (line_start || !first));
            first = 0;
        }
        if (!nl)
            break;
        a = e + 1;
    }
}

static void blank(md *m)
{
    if (m->any)
        vd__w_putc(&m->w, '\n');
    m->any = 1;
}

static int skip(const md *m, const vd_block *b)
{
    return vd__is_furniture(b) && !m->opt->keep_furniture;
}

static void md_block(md *m, const vd_block *b, int *list_alt);

static void paragraph(md *m, const char *t)
{
    if (!*t)
        return;
    blank(m);
    md_text(m, t, T_PLAIN, 0, 1);
    vd__w_putc(&m->w, '\n');
}

/* ---- lists ---- */

static void list(md *m, const vd_block *l, int indent, int alt)
{
    int i = 1;
    for (const vd_block *it = vd_block_first_child(l); it;
         it = vd_block_next(it)) {
        if (skip(m, it))
            continue;
        for (int k = 0; k < indent; k++)
            vd__w_putc(&m->w, ' ');
        int width;
        if (vd_block_ordered(l)) {
            char num[16];
            int len = 0;
            for (int v = i; v; v /= 10)
                len++;
            snprintf(num, sizeof num, "%d%c", i, alt ? ')' : '.');
            vd__w_puts(&m->w, num);
            width = len + 2;
        } else {
            vd__w_putc(&m->w, alt ? '*' : '-');
            width = 2;
        }
        i++;
        const char *t = vd_block_text(it);
        if (*t) {
            vd__w_putc(&m->w, ' ');
            md_text(m, t, T_PLAIN, indent + width, 1);
        }
        vd__w_putc(&m->w, '\n');
        int sub_alt = 0;
        for (const vd_block *c = vd_block_first_child(it); c;
             c = vd_block_next(c)) {
            if (vd_block_kind_get(c) != VD_BLOCK_LIST)
                continue;
            list(m, c, indent + width, sub_alt);
            /* a second list right after would merge: switch marker */
            sub_alt = !sub_alt;
        }
    }
}

/* ---- tables ---- */

static int table_ok_for_gfm(const vd_block *t, int *ncol)
{
    int ok = 1;
    *ncol = 0;
    for (const vd_block *r = vd_block_first_child(t); r; r = vd_block_next(r)) {
        if (vd_block_kind_get(r) != VD_BLOCK_TABLE_ROW)
            continue;
        int n = 0;
        for (const vd_block *c = vd_block_first_child(r); c;
             c = vd_block_next(c)) {
            n++;
            if (vd_block_rowspan(c) > 1 || vd_block_colspan(c) > 1)
                ok = 0;
        }
        if (n > *ncol)
            *ncol = n;
    }
    return ok;
}

static void html_text(md *m, const char *t)
{
    /* inside an HTML block: no Markdown, so only HTML escaping; line
     * breaks must not leave a blank line, which would end the block */
    for (const char *p = t;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        vd__w_html(&m->w, p, n);
        if (!nl)
            break;
        vd__w_puts(&m->w, "<br>");
        p = nl + 1;
    }
}

static void table_html(md *m, const vd_block *t)
{
    vd__w_puts(&m->w, "<table>\n");
    for (const vd_block *r = vd_block_first_child(t); r; r = vd_block_next(r)) {
        if (vd_block_kind_get(r) != VD_BLOCK_TABLE_ROW)
            continue;
        vd__w_puts(&m->w, "<tr>");
        for (const vd_block *c = vd_block_first_child(r); c;
             c = vd_block_next(c)) {
            const char *tag = vd_block_header(c) ? "th" : "td";
            vd__w_printf(&m->w, "<%s", tag);
            if (vd_block_rowspan(c) > 1)
                vd__w_printf(&m->w, " rowspan=\"%d\"", vd_block_rowspan(c));
            if (vd_block_colspan(c) > 1)
                vd__w_printf(&m->w, " colspan=\"%d\"", vd_block_colspan(c));
            vd__w_putc(&m->w, '>');
            html_text(m, vd_block_text(c));
            vd__w_printf(&m->w, "</%s>", tag);
        }
        vd__w_puts(&m->w, "</tr>\n");
    }
    vd__w_puts(&m->w, "</table>\n");
}

static void table_gfm(md *m, const vd_block *t, int ncol)
{
    int row = 0;
    for (const vd_block *r = vd_block_first_child(t); r; r = vd_block_next(r)) {
        if (vd_block_kind_get(r) != VD_BLOCK_TABLE_ROW)
            continue;
        int n = 0;
        vd__w_putc(&m->w, '|');
        for (const vd_block *c = vd_block_first_child(r); c;
             c = vd_block_next(c), n++) {
            vd__w_putc(&m->w, ' ');
            md_text(m, vd_block_text(c), T_TABLE, 0, 0);
            vd__w_puts(&m->w, " |");
        }
        for (; n < ncol; n++)
            vd__w_puts(&m->w, "  |");
        vd__w_putc(&m->w, '\n');
        if (row++ == 0) {
            vd__w_putc(&m->w, '|');
            for (int i = 0; i < ncol; i++)
                vd__w_puts(&m->w, " --- |");
            vd__w_putc(&m->w, '\n');
        }
    }
}

static void table(md *m, const vd_block *t)
{
    int ncol;
    int gfm = table_ok_for_gfm(t, &ncol);
    /* captions before the first row print above the table, the rest
     * below */
    const vd_block *c = vd_block_first_child(t);
    for (; c && vd_block_kind_get(c) != VD_BLOCK_TABLE_ROW;
         c = vd_block_next(c))
        paragraph(m, vd_block_text(c));
    if (ncol > 0) {
        blank(m);
        if (gfm)
            table_gfm(m, t, ncol);
        else
            table_html(m, t);
    }
    for (; c; c = vd_block_next(c))
        if (vd_block_kind_get(c) != VD_BLOCK_TABLE_ROW)
            paragraph(m, vd_block_text(c));
}

/* ---- math and code ---- */

/* Would line P (N bytes) start a block that interrupts a paragraph? */
static int block_starter(const char *p, size_t n)
{
    char c0 = p[0], c1 = n > 1 ? p[1] : ' ';
    if (c0 == '>' || c0 == '<')
        return 1;
    if ((c0 == '#' || c0 == '-' || c0 == '+' || c0 == '*') && is_space(c1))
        return 1;
    if (n >= 3 && (!strncmp(p, "```", 3) || !strncmp(p, "~~~", 3)))
        return 1;
    size_t d = 0;
    while (d < n && p[d] >= '0' && p[d] <= '9')
        d++;
    if (d && d < 10 && d < n && (p[d] == '.' || p[d] == ')') &&
        (d + 1 == n || is_space(p[d + 1])))
        return 1;
    size_t k = 0;
    while (k < n && (p[k] == '=' || p[k] == '-' || p[k] == ' '))
        k++;
    return k == n; /* a setext underline */
}

static void formula(md *m, const vd_block *b)
{
    const char *t = vd_block_text(b);
    if (!*t)
        return;
    blank(m);
    int display = vd_block_display(b);
    vd__w_puts(&m->w, display ? "$$\n" : "$");
    /* one line: a LaTeX line starting "- x" or "# x" would otherwise end
     * the paragraph that $$ opened. Newlines are spaces in math, except
     * after a % comment, so those keep theirs */
    int keep_lines = strchr(t, '%') != NULL;
    const char *p = t;
    int line_start = 1;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        while (n && is_space(*p))
            p++, n--;
        size_t z = n;
        while (z && is_space(p[z - 1]))
            z--;
        if (z) {
            if (line_start && display && block_starter(p, z))
                vd__w_puts(&m->w, "{}"); /* an empty group: a no-op */
            vd__w_write(&m->w, p, z);
            line_start = 0;
        }
        if (!nl)
            break;
        if (z) {
            if (keep_lines && display) {
                vd__w_putc(&m->w, '\n');
                line_start = 1;
            } else {
                vd__w_putc(&m->w, ' ');
            }
        }
        p = nl + 1;
    }
    vd__w_puts(&m->w, display ? "\n$$\n" : "$\n");
}

static void code(md *m, const vd_block *b)
{
    const char *t = vd_block_text(b);
    if (!*t)
        return;
    /* a fence longer than any run of backticks inside */
    int longest = 0, cur = 0;
    for (const char *p = t; *p; p++) {
        cur = *p == '`' ? cur + 1 : 0;
        if (cur > longest)
            longest = cur;
    }
    int fence = longest >= 3 ? longest + 1 : 3;
    blank(m);
    for (int i = 0; i < fence; i++)
        vd__w_putc(&m->w, '`');
    const char *f = vd_block_format(b);
    if (f) {
        /* the info string's first word names the language */
        size_t n = strcspn(f, " \t\n`");
        vd__w_write(&m->w, f, n);
    }
    vd__w_putc(&m->w, '\n');
    vd__w_puts(&m->w, t);
    if (t[strlen(t) - 1] != '\n')
        vd__w_putc(&m->w, '\n');
    for (int i = 0; i < fence; i++)
        vd__w_putc(&m->w, '`');
    vd__w_putc(&m->w, '\n');
}

/* <!-- PREFIX S --> as an HTML block, "--" made harmless. */
static void comment(md *m, const char *prefix, const char *s)
{
    blank(m);
    vd__w_puts(&m->w, "<!-- ");
    vd__w_puts(&m->w, prefix);
    for (const char *p = s; *p; p++) {
        if (*p == '-' && (p[1] == '-' || p[1] == '>' || !p[1]))
            vd__w_puts(&m->w, "- ");
        else if (*p == '\n')
            vd__w_putc(&m->w, ' ');
        else
            vd__w_putc(&m->w, *p);
    }
    vd__w_puts(&m->w, " -->\n");
}

static void children(md *m, const vd_block *b)
{
    int alt = 0;
    for (const vd_block *c = vd_block_first_child(b); c; c = vd_block_next(c))
        md_block(m, c, &alt);
}

/* LIST_ALT: marker style of the previous sibling list (lists in a row
 * with the same marker would merge into one). */
static void md_block(md *m, const vd_block *b, int *list_alt)
{
    if (skip(m, b))
        return;
    vd_block_kind k = vd_block_kind_get(b);
    if (k != VD_BLOCK_LIST)
        *list_alt = -1;
    switch (k) {
    case VD_BLOCK_TITLE:
    case VD_BLOCK_HEADING: {
        const char *t = vd_block_text(b);
        if (!*t)
            break;
        int l = k == VD_BLOCK_TITLE ? 1 : vd_block_level(b);
        if (l < 1 || l > 6)
            l = 2;
        blank(m);
        vd__w_write(&m->w, "######", (size_t)l);
        vd__w_putc(&m->w, ' ');
        md_text(m, t, T_HEADING, 0, 0);
        vd__w_putc(&m->w, '\n');
        break;
    }
    case VD_BLOCK_LIST: {
        if (!vd_block_first_child(b))
            break;
        int alt = *list_alt == 0 ? 1 : 0;
        blank(m);
        list(m, b, 0, alt);
        *list_alt = alt;
        break;
    }
    case VD_BLOCK_TABLE:
        table(m, b);
        break;
    case VD_BLOCK_FORMULA:
        formula(m, b);
        children(m, b);
        break;
    case VD_BLOCK_CODE:
        code(m, b);
        break;
    case VD_BLOCK_FIGURE:
        comment(m, "", vd_block_figure(b) ? vd_block_figure(b) : "figure");
        children(m, b);
        break;
    case VD_BLOCK_IMAGE:
        break;
    case VD_BLOCK_TABLE_ROW:
    case VD_BLOCK_TABLE_CELL:
        paragraph(m, vd_block_text(b));
        break;
    default:
        paragraph(m, vd_block_text(b));
        children(m, b);
        break;
    }
}

static vd_status md_write(vd_ctx *ctx, const vd_doc *doc,
                          const vd_write_opts *opt, vd_out *o)
{
    (void)ctx;
    md m;
    vd__w_init(&m.w, o);
    m.opt = opt;
    m.any = 0;
    int alt = -1;
    for (int i = 0; i < vd_doc_page_count(doc); i++) {
        const vd_page *pg = vd_doc_page(doc, i);
        char note[48];
        if (opt->page_breaks && i > 0) {
            snprintf(note, sizeof note, "page %d", vd_page_number(pg) + 1);
            comment(&m, note, "");
        }
        if (vd_page_status(pg) != VD_OK) {
            snprintf(note, sizeof note,
                     "page %d failed: ", vd_page_number(pg) + 1);
            comment(&m, note, vd_page_error(pg) ? vd_page_error(pg) : "error");
            continue;
        }
        for (const vd_block *b = vd_page_first_block(pg); b;
             b = vd_block_next(b))
            md_block(&m, b, &alt);
    }
    vd__w_flush(&m.w);
    return VD_OK;
}

const vd__writer vd__writer_md = { "md", "md", md_write };

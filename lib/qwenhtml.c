/* QwenVL HTML -> document tree. Takes the engine's raw answer (fenced,
 * wrapped in prose, truncated, misnested, looping, not UTF-8), repairs the
 * envelope and the bytes, parses it with libxml2's recovering parser and
 * makes blocks with checked, mapped boxes. Every repair is a page warning;
 * recoverable text is never dropped and no input may crash it. */
#include "config.h"

#include <libxml/HTMLparser.h>
#include <libxml/globals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc-private.h"

/* Nesting our converter follows; deeper content is flattened into the
 * block around it (its text kept). Real pages nest a handful of levels. */
#define MAX_DEPTH 48
/* libxml2 messages kept as warnings per page; the rest are counted. */
#define MAX_PARSE_WARNINGS 16
/* Detailed box warnings per page before they are only counted. */
#define MAX_BOX_WARNINGS 8
/* A run of identical siblings this long is a generation loop. With a
 * data-bbox even two are: no two blocks share a box and a text. Without
 * one (rows, cells, items) real documents repeat, so the bar is high. */
#define LOOP_RUN_BOXED 2
#define LOOP_RUN_PLAIN 16
/* Largest coordinate accepted in a data-bbox. */
#define MAX_COORD 1e6

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* ---------------------------------------------------------------------- */
/* bytes: valid UTF-8 that XML accepts                                      */

/* Length of the valid UTF-8 character at S[I] that XML accepts, or 0
 * with *BAD the bytes to replace by one U+FFFD. */
static size_t seq_len(const unsigned char *s, size_t n, size_t i, size_t *bad)
{
    int k = vd__utf8_seq(s + i, n - i);
    /* U+FFFE and U+FFFF are not XML characters */
    if (k == 3 && s[i] == 0xEF && s[i + 1] == 0xBF &&
        (s[i + 2] == 0xBE || s[i + 2] == 0xBF))
        k = -3;
    if (k > 0)
        return (size_t)k;
    *bad = k < 0 ? (size_t)-k : n - i; /* 0: an incomplete tail */
    return 0;
}

/* Is S already valid UTF-8 with no character XML refuses and no BOM?
 * ASCII, the bulk of HTML, is checked eight bytes at a time. */
static int utf8_clean(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        return 0;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            /* no byte >= 0x80 and none < 0x20 */
            if (!(v & 0x8080808080808080ULL) &&
                !((v - 0x2020202020202020ULL) & ~v & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80) {
            i++;
        } else if (c < 0x20) {
            if (c != '\t' && c != '\n' && c != '\r')
                return 0;
            i++;
        } else {
            size_t bad, len = seq_len(s, n, i, &bad);
            if (!len)
                return 0;
            i += len;
        }
    }
    return 1;
}

size_t vd__utf8_repair(vd_ctx *ctx, vd__buf *b, const char *str, size_t n)
{
    static const char fffd[] = "\xEF\xBF\xBD";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run, fixes = 0;
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        i = 3;
    run = i;
    if (vd__buf_reserve(ctx, b, n - i) != VD_OK)
        return 0;
    while (i < n) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80) {
            i++;
            continue;
        }
        size_t bad;
        if (c < 0x20) {
            if (c == '\t' || c == '\n' || c == '\r') {
                i++;
                continue;
            }
            bad = 1;
        } else {
            size_t len = seq_len(s, n, i, &bad);
            if (len) {
                i += len;
                continue;
            }
        }
        vd__buf_append(ctx, b, s + run, i - run);
        vd__buf_append(ctx, b, fffd, 3);
        fixes++;
        i += bad;
        run = i;
    }
    vd__buf_append(ctx, b, s + run, n - run);
    return fixes;
}

/* ---------------------------------------------------------------------- */
/* conversion state                                                        */

typedef struct conv {
    vd_ctx *ctx;
    vd_doc *doc;
    vd_page *pg;
    vd_status st;
    vd__buf text;      /* scratch: gathered text */
    vd__buf tmp;       /* scratch: rewriting */
    int pending_space; /* gather: a space is owed before the next text */
    int nbbox;         /* elements with a data-bbox */
    int nparse;        /* libxml2 errors */
    int too_deep;      /* libxml2 gave up: nesting beyond its limit */
    int nbox_warn;     /* box problems */
    int nfrac;         /* fractional boxes */
    int nflat;         /* subtrees flattened for depth */
    long line0;        /* lines of the answer before the parsed HTML */
} conv;

static void warnf(conv *c, const char *fmt, ...) VD_PRINTF(2, 3);

/* Line of N in the engine's answer (libxml2 counts from the HTML). */
static long line_of(const conv *c, const xmlNode *n)
{
    return xmlGetLineNo(n) + c->line0;
}

static void warnf(conv *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (vd_page_add_warning(c->ctx, c->doc, c->pg, msg) != VD_OK)
        c->st = VD_ERR_NOMEM;
}

/* Up to MAX bytes of S for a message: whitespace as spaces, cut on a
 * character boundary, with an ellipsis when cut. */
static void quote(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    size_t o = 0, i = 0;
    while (i < n &&
           (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
        i++;
    while (i < n && o + 8 < cap && o < max) {
        unsigned char ch = (unsigned char)s[i];
        size_t len = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
        if (i + len > n || o + len + 8 > cap)
            break;
        if (ch < 0x20)
            dst[o++] = ' ';
        else
            memcpy(dst + o, s + i, len), o += len;
        i += len;
    }
    if (i < n)
        memcpy(dst + o, "...", 3), o += 3;
    dst[o] = '\0';
}

/* ---------------------------------------------------------------------- */
/* the envelope: code fences, prose, repeated copies, a cut-off tag         */

typedef struct span {
    size_t a, b; /* [a, b) */
} span;

static int is_ws(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

/* Is the line [A, B) a Markdown fence (``` or ~~~ with an optional info
 * word)? Sets *INFO when a word follows. */
static int fence_line(const char *s, size_t a, size_t b, int *info)
{
    size_t i = a, k = 0;
    while (i < b && i - a < 3 && s[i] == ' ')
        i++;
    char f = i < b ? s[i] : 0;
    if (f != '`' && f != '~')
        return 0;
    while (i < b && s[i] == f)
        i++, k++;
    if (k < 3)
        return 0;
    *info = 0;
    while (i < b && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (i < b && !is_ws((unsigned char)s[i])) {
        char ch = s[i];
        if (ch == '<' || ch == '>' || ch == '`')
            return 0;
        *info = 1;
        i++;
    }
    while (i < b && is_ws((unsigned char)s[i]))
        i++;
    return i == b;
}

static void trim(const char *s, span *sp)
{
    while (sp->a < sp->b && is_ws((unsigned char)s[sp->a]))
        sp->a++;
    while (sp->b > sp->a && is_ws((unsigned char)s[sp->b - 1]))
        sp->b--;
}

static int ci_prefix(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != p[i])
            return 0;
    }
    return 1;
}

/* P starts with '<' and is lowercase. */
static const char *ci_find(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    const char *e = s + n, *q = s;
    while ((q = memchr(q, '<', (size_t)(e - q))) != NULL) {
        if (ci_prefix(q, (size_t)(e - q), p))
            return q;
        q++;
    }
    (void)k;
    return NULL;
}

/* The last P in S: closing tags sit at the end. */
static const char *ci_rfind(const char *s, size_t n, const char *p)
{
    for (size_t i = n; i-- > 0;)
        if (s[i] == '<' && ci_prefix(s + i, n - i, p))
            return s + i;
    return NULL;
}

/* Text outside the document proper, kept in a warning so nothing vanishes
 * silently. */
static void note_dropped(conv *c, const char *what, const char *s, size_t n)
{
    span sp = { 0, n };
    trim(s, &sp);
    if (sp.b == sp.a)
        return;
    char q[200];
    quote(q, sizeof q, s + sp.a, sp.b - sp.a, 120);
    c->pg->flags |= VD_PAGE_ENVELOPE;
    warnf(c, "%s (%zu bytes dropped): \"%s\"", what, sp.b - sp.a, q);
}

/* Find the HTML in the engine's answer S (valid UTF-8) and append it to
 * OUT. A reply that starts with a code fence (possibly after prose) keeps
 * only the fenced blocks; a block that repeats an earlier one (the same
 * output printed twice, a retried request) is kept once. *HTML points into
 * S, or into OUT when blocks had to be joined. */
#define MAX_SEGS 64

/* Add [A, B) of S to the fenced blocks; past MAX_SEGS the last block
 * grows instead, so nothing is lost. */
static void add_seg(span *segs, int *nseg, size_t a, size_t b)
{
    if (*nseg < MAX_SEGS)
        segs[(*nseg)++] = (span){ a, b };
    else
        segs[MAX_SEGS - 1].b = b;
}

/* Text between fenced blocks: prose is dropped (and quoted in a warning),
 * but text holding elements with boxes is document content the model
 * left outside the fence, and is kept. */
static void outside(conv *c, const char *s, size_t a, size_t b, span *segs,
                    int *nseg, const char *what)
{
    if (b <= a)
        return;
    static const char mark[] = "data-bbox";
    for (size_t i = a; i + sizeof mark - 1 <= b; i++)
        if (s[i] == 'd' && !memcmp(s + i, mark, sizeof mark - 1)) {
            add_seg(segs, nseg, a, b);
            return;
        }
    note_dropped(c, what, s + a, b - a);
}

static void envelope(conv *c, const char *s, size_t n, vd__buf *out,
                     const char **html, size_t *html_len)
{
    span segs[MAX_SEGS];
    int nseg = 0;
    const char *lt = memchr(s, '<', n);
    size_t first_tag = lt ? (size_t)(lt - s) : n;
    /* fences count only when one comes before any HTML: a fence line
     * after the HTML has started may be page content (a code sample) */
    int fenced = 0;
    for (size_t pos = 0; pos < first_tag && !fenced;) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t eol = nl ? (size_t)(nl - s) : n;
        int info;
        fenced = fence_line(s, pos, eol, &info);
        pos = eol + 1;
    }
    if (!fenced) {
        segs[nseg++] = (span){ 0, n };
        /* a closing fence the model wrote without an opening one */
        span t = { 0, n };
        trim(s, &t);
        size_t ls = t.b;
        while (ls > t.a && s[ls - 1] != '\n')
            ls--;
        int info;
        if (t.b > t.a && ls > first_tag && fence_line(s, ls, t.b, &info))
            segs[0].b = ls;
    } else {
        int inside = 0;
        size_t seg_start = 0, out_start = 0, pos = 0;
        while (pos < n) {
            const char *nl = memchr(s + pos, '\n', n - pos);
            size_t eol = nl ? (size_t)(nl - s) : n;
            size_t next = eol < n ? eol + 1 : n;
            int info;
            if (fence_line(s, pos, eol, &info)) {
                if (inside) {
                    add_seg(segs, &nseg, seg_start, pos);
                    /* "```html" while inside: the output starts over */
                    inside = info;
                    seg_start = next;
                    out_start = next;
                } else {
                    outside(c, s, out_start, pos, segs, &nseg,
                            "text outside the HTML code fence");
                    inside = 1;
                    seg_start = next;
                }
            }
            pos = next;
        }
        if (inside)
            add_seg(segs, &nseg, seg_start, n);
        else
            outside(c, s, out_start, n, segs, &nseg,
                    "text after the HTML code fence");
    }

    /* repeated copies: a block that is a prefix of another is the same
     * output cut at another point; keep the longer */
    int keep[MAX_SEGS];
    for (int i = 0; i < nseg; i++) {
        keep[i] = 1;
        trim(s, &segs[i]);
    }
    for (int i = 0; i < nseg; i++) {
        for (int j = 0; j < i && keep[i]; j++) {
            if (!keep[j])
                continue;
            size_t li = segs[i].b - segs[i].a, lj = segs[j].b - segs[j].a;
            size_t m = li < lj ? li : lj;
            if (memcmp(s + segs[i].a, s + segs[j].a, m) != 0)
                continue;
            int drop = li <= lj ? i : j;
            keep[drop] = 0;
            c->pg->flags |= VD_PAGE_ENVELOPE;
            warnf(c,
                  "the output contains a repeated copy of itself; "
                  "%zu bytes kept once",
                  li <= lj ? li : lj);
        }
    }

    /* prose before an unfenced document ("Here is the HTML: <html>") */
    if (!fenced && first_tag < n) {
        const char *t = s + first_tag;
        size_t rest = n - first_tag;
        if (ci_prefix(t, rest, "<html") || ci_prefix(t, rest, "<!doctype") ||
            ci_prefix(t, rest, "<body")) {
            note_dropped(c, "text before the HTML", s, first_tag);
            segs[0].a = first_tag;
        }
    }

    /* one block (the usual case) is parsed where it lies; several are
     * joined in OUT */
    int nkept = 0, last = -1;
    for (int i = 0; i < nseg; i++)
        if (keep[i] && segs[i].b > segs[i].a)
            nkept++, last = i;
    const char *d = "";
    size_t len = 0;
    if (nkept == 1) {
        d = s + segs[last].a;
        len = segs[last].b - segs[last].a;
        /* libxml2 counts lines from here; warnings count from the top */
        for (size_t i = 0; i < segs[last].a; i++)
            c->line0 += s[i] == '\n';
    } else if (nkept > 1) {
        int any = 0;
        for (int i = 0; i < nseg; i++) {
            if (!keep[i] || segs[i].b == segs[i].a)
                continue;
            if (any)
                vd__buf_putc(c->ctx, out, '\n');
            vd__buf_append(c->ctx, out, s + segs[i].a, segs[i].b - segs[i].a);
            any = 1;
        }
        d = out->data ? out->data : "";
        len = out->len;
    }

    /* the token limit cut a tag in half: that tag is noise, and libxml2
     * would otherwise read the fragment as text */
    const char *lt2 = NULL;
    for (size_t i = len; i-- > 0;) {
        if (d[i] == '>')
            break;
        if (d[i] == '<') {
            lt2 = d + i;
            break;
        }
    }
    if (lt2 && (size_t)(lt2 - d) + 1 < len) {
        char ch = lt2[1];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '/' ||
            ch == '!') {
            char q[160];
            size_t cut = (size_t)(lt2 - d);
            quote(q, sizeof q, lt2, len - cut, 80);
            c->pg->flags |= VD_PAGE_TRUNCATED;
            warnf(c, "the output ends inside a tag; dropped \"%s\"", q);
            len = cut;
        }
    }
    if (!(c->pg->flags & VD_PAGE_TRUNCATED) && ci_find(d, len, "<html") &&
        !ci_rfind(d, len, "</html")) {
        c->pg->flags |= VD_PAGE_TRUNCATED;
        warnf(c, "the output is truncated (no </html>): the last element "
                 "may be incomplete");
    }
    *html = d;
    *html_len = len;
}

/* ---------------------------------------------------------------------- */
/* libxml2                                                                 */

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_err_t;
#else
typedef xmlErrorPtr xml_err_t;
#endif

static void on_xml_error(void *user, xml_err_t e)
{
    conv *c = user;
    if (!e || e->level == XML_ERR_NONE)
        return;
    /* an unknown tag name is kept as an element; nothing was repaired */
    if (e->code == XML_HTML_UNKNOWN_TAG)
        return;
    if (e->message && strstr(e->message, "Excessive depth"))
        c->too_deep = 1;
    c->pg->flags |= VD_PAGE_REPAIRED;
    if (++c->nparse > MAX_PARSE_WARNINGS)
        return;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "error");
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    warnf(c, "HTML repaired: line %ld: %s", e->line + c->line0, msg);
}

void vd__qwenhtml_free_parser(void *parser)
{
    if (parser)
        htmlFreeParserCtxt(parser);
}

/* One parser context per document, reset for each page: making one costs
 * as much as parsing a short page. */
static htmlDocPtr parse_html(conv *c, const char *s, size_t n)
{
    pthread_once(&xml_once, xml_init);
    htmlParserCtxtPtr px = c->doc->parser;
    if (!px)
        px = c->doc->parser = htmlNewParserCtxt();
    if (!px) {
        c->st = vd__fail(c->ctx, VD_ERR_NOMEM, "out of memory (libxml2)");
        return NULL;
    }
#if LIBXML_VERSION >= 21300
    xmlCtxtSetErrorHandler(px, on_xml_error, c);
#else
    /* Debian 12 has libxml2 2.9.14: no per-context error handler, so the
     * thread-local structured handler is set around the parse only. */
    xmlStructuredErrorFunc old_fn = xmlStructuredError;
    void *old_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(c, on_xml_error);
#endif
    /* HUGE lifts the nesting limit from 256 to 2048 levels: a table loop
     * nests deeper than 256 and libxml2 then throws the whole page away */
    htmlDocPtr h = htmlCtxtReadMemory(
        px, n ? s : " ", n ? (int)n : 1, NULL, "UTF-8",
        HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
            HTML_PARSE_NOWARNING | XML_PARSE_HUGE);
#if LIBXML_VERSION < 21300
    xmlSetStructuredErrorFunc(old_ctx, old_fn);
#endif
    if (c->nparse > MAX_PARSE_WARNINGS)
        warnf(c, "HTML repaired: %d more repairs not listed",
              c->nparse - MAX_PARSE_WARNINGS);
    return h;
}

/* ---------------------------------------------------------------------- */
/* elements                                                                */

typedef enum role {
    R_INLINE,
    R_SKIP, /* not document text: script, style, head */
    R_BR,
    R_HR,
    R_HEADING,
    R_PARA,
    R_LIST,
    R_ITEM,
    R_TABLE,
    R_SECTION, /* thead, tbody, tfoot */
    R_ROW,
    R_CELL,
    R_COLS, /* colgroup, col */
    R_CAPTION,
    R_FIGURE,
    R_FORMULA,
    R_IMG,
    R_CODE,
    R_CONTAINER,
    R_OTHER /* unknown element name */
} role;

static int eq(const xmlChar *a, const char *b)
{
    return strcmp((const char *)a, b) == 0;
}

/* The value of attribute NAME of N without allocating (libxml2 stores an
 * HTML attribute value as one text node); NULL when absent. */
static const char *attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (!eq(a->name, name))
            continue;
        const xmlNode *v = a->children;
        if (!v)
            return "";
        if (v->type == XML_TEXT_NODE && !v->next && v->content)
            return (const char *)v->content;
        return "";
    }
    return NULL;
}

static int has_attr(const xmlNode *n, const char *name)
{
    return attr(n, name) != NULL;
}

/* Does class attribute CLS contain WORD as a whole token (case
 * insensitive, '-' and '_' alike)? */
static int class_has(const char *cls, const char *word)
{
    if (!cls)
        return 0;
    size_t k = strlen(word);
    const char *p = cls;
    while (*p) {
        while (*p && is_ws((unsigned char)*p))
            p++;
        const char *e = p;
        while (*e && !is_ws((unsigned char)*e))
            e++;
        if ((size_t)(e - p) == k) {
            size_t i = 0;
            for (; i < k; i++) {
                char a = p[i], b = word[i];
                if (a >= 'A' && a <= 'Z')
                    a = (char)(a - 'A' + 'a');
                if (a == '-')
                    a = '_';
                if (a != b)
                    break;
            }
            if (i == k)
                return 1;
        }
        p = e;
    }
    return 0;
}

/* The class names QwenVL HTML uses, matched on the whole attribute as the
 * model writes them ("image caption", "music sheet", "chemical formula",
 * "formula.machine_printed"). */
enum cls_kind {
    C_NONE,
    C_IMAGE,
    C_IMAGE_CAPTION,
    C_IMAGE_OCR,
    C_CHART,
    C_MUSIC,
    C_CHEM,
    C_FORMULA,
    C_HEADER,
    C_FOOTER,
    C_PAGENO,
    C_FOOTNOTE,
    C_CAPTION,
    C_TITLE,
    C_CODE
};

static enum cls_kind class_kind(const char *cls)
{
    if (!cls || !*cls)
        return C_NONE;
    if (class_has(cls, "image") || class_has(cls, "picture") ||
        class_has(cls, "photo") || class_has(cls, "figure")) {
        if (class_has(cls, "caption"))
            return C_IMAGE_CAPTION;
        if (class_has(cls, "ocr"))
            return C_IMAGE_OCR;
        return C_IMAGE;
    }
    if (class_has(cls, "chart"))
        return C_CHART;
    if (class_has(cls, "music") || class_has(cls, "music_sheet"))
        return C_MUSIC;
    if (class_has(cls, "chemical") || class_has(cls, "chemical_formula") ||
        class_has(cls, "chemistry"))
        return C_CHEM;
    if (!strncmp(cls, "formula", 7) || class_has(cls, "formula") ||
        class_has(cls, "equation") || class_has(cls, "math"))
        return C_FORMULA;
    if (class_has(cls, "page_header") || class_has(cls, "header"))
        return C_HEADER;
    if (class_has(cls, "page_footer") || class_has(cls, "footer"))
        return C_FOOTER;
    if (class_has(cls, "page_number") || class_has(cls, "pagenumber"))
        return C_PAGENO;
    if (class_has(cls, "footnote") || class_has(cls, "footnotes"))
        return C_FOOTNOTE;
    if (class_has(cls, "caption") || class_has(cls, "figure_caption") ||
        class_has(cls, "table_caption"))
        return C_CAPTION;
    if (class_has(cls, "title") || class_has(cls, "doc_title"))
        return C_TITLE;
    if (class_has(cls, "code"))
        return C_CODE;
    return C_NONE;
}

static role role_lookup(const xmlNode *n);

/* The role of element N, cached in the node's application pointer: it is
 * asked for many times per element. */
static role role_of(const xmlNode *n)
{
    if (n->_private)
        return (role)((uintptr_t)n->_private - 1);
    role r = role_lookup(n);
    ((xmlNode *)n)->_private = (void *)((uintptr_t)r + 1);
    return r;
}

static role role_lookup(const xmlNode *n)
{
    const char *s = (const char *)n->name;
    switch (s[0]) {
    case 'a':
        if (!strcmp(s, "address") || !strcmp(s, "article") ||
            !strcmp(s, "aside"))
            return R_CONTAINER;
        if (!strcmp(s, "a") || !strcmp(s, "abbr") || !strcmp(s, "acronym"))
            return R_INLINE;
        if (!strcmp(s, "applet") || !strcmp(s, "audio"))
            return R_SKIP;
        break;
    case 'b':
        if (!strcmp(s, "br"))
            return R_BR;
        if (!strcmp(s, "body") || !strcmp(s, "blockquote"))
            return R_CONTAINER;
        if (!strcmp(s, "b") || !strcmp(s, "big") || !strcmp(s, "bdi") ||
            !strcmp(s, "bdo") || !strcmp(s, "blink"))
            return R_INLINE;
        if (!strcmp(s, "base") || !strcmp(s, "button"))
            return R_SKIP;
        break;
    case 'c':
        if (!strcmp(s, "caption"))
            return R_CAPTION;
        if (!strcmp(s, "center"))
            return R_CONTAINER;
        if (!strcmp(s, "code"))
            return R_CODE;
        if (!strcmp(s, "col") || !strcmp(s, "colgroup"))
            return R_COLS;
        if (!strcmp(s, "cite"))
            return R_INLINE;
        if (!strcmp(s, "canvas"))
            return R_SKIP;
        break;
    case 'd':
        if (!strcmp(s, "div") || !strcmp(s, "details") || !strcmp(s, "dialog"))
            return R_CONTAINER;
        if (!strcmp(s, "dl"))
            return R_LIST;
        if (!strcmp(s, "dt") || !strcmp(s, "dd"))
            return R_ITEM;
        if (!strcmp(s, "del") || !strcmp(s, "dfn") || !strcmp(s, "data"))
            return R_INLINE;
        break;
    case 'e':
        if (!strcmp(s, "em"))
            return R_INLINE;
        if (!strcmp(s, "embed"))
            return R_SKIP;
        break;
    case 'f':
        if (!strcmp(s, "figure"))
            return R_FIGURE;
        if (!strcmp(s, "figcaption"))
            return R_CAPTION;
        if (!strcmp(s, "footer") || !strcmp(s, "form") ||
            !strcmp(s, "fieldset"))
            return R_CONTAINER;
        if (!strcmp(s, "font"))
            return R_INLINE;
        if (!strcmp(s, "frame") || !strcmp(s, "frameset"))
            return R_SKIP;
        break;
    case 'h':
        if (s[1] >= '1' && s[1] <= '6' && !s[2])
            return R_HEADING;
        if (!strcmp(s, "hr"))
            return R_HR;
        if (!strcmp(s, "head"))
            return R_SKIP;
        if (!strcmp(s, "html") || !strcmp(s, "header") || !strcmp(s, "hgroup"))
            return R_CONTAINER;
        break;
    case 'i':
        if (!strcmp(s, "img") || !strcmp(s, "image"))
            return R_IMG;
        if (!strcmp(s, "i") || !strcmp(s, "ins"))
            return R_INLINE;
        if (!strcmp(s, "iframe") || !strcmp(s, "input"))
            return R_SKIP;
        break;
    case 'k':
        if (!strcmp(s, "kbd"))
            return R_INLINE;
        break;
    case 'l':
        if (!strcmp(s, "li"))
            return R_ITEM;
        if (!strcmp(s, "label") || !strcmp(s, "legend"))
            return R_INLINE;
        if (!strcmp(s, "link"))
            return R_SKIP;
        break;
    case 'm':
        if (!strcmp(s, "main") || !strcmp(s, "menu"))
            return s[1] == 'a' ? R_CONTAINER : R_LIST;
        if (!strcmp(s, "mark") || !strcmp(s, "math"))
            return R_INLINE;
        if (!strcmp(s, "meta"))
            return R_SKIP;
        break;
    case 'n':
        if (!strcmp(s, "nav") || !strcmp(s, "noscript"))
            return R_CONTAINER;
        if (!strcmp(s, "nobr"))
            return R_INLINE;
        if (!strcmp(s, "noframes") || !strcmp(s, "noembed"))
            return R_SKIP;
        break;
    case 'o':
        if (!strcmp(s, "ol"))
            return R_LIST;
        if (!strcmp(s, "object") || !strcmp(s, "option") ||
            !strcmp(s, "optgroup"))
            return R_SKIP;
        break;
    case 'p':
        if (!strcmp(s, "p"))
            return R_PARA;
        if (!strcmp(s, "pre") || !strcmp(s, "plaintext"))
            return R_CODE;
        if (!strcmp(s, "param") || !strcmp(s, "picture"))
            return R_SKIP;
        break;
    case 'q':
        if (!strcmp(s, "q"))
            return R_INLINE;
        break;
    case 'r':
        if (!strcmp(s, "rp") || !strcmp(s, "rt") || !strcmp(s, "ruby"))
            return R_INLINE;
        break;
    case 's':
        if (!strcmp(s, "span") || !strcmp(s, "strong") || !strcmp(s, "sup") ||
            !strcmp(s, "sub") || !strcmp(s, "small") || !strcmp(s, "s") ||
            !strcmp(s, "strike") || !strcmp(s, "samp"))
            return R_INLINE;
        if (!strcmp(s, "section") || !strcmp(s, "summary"))
            return R_CONTAINER;
        if (!strcmp(s, "script") || !strcmp(s, "style") || !strcmp(s, "svg") ||
            !strcmp(s, "select") || !strcmp(s, "source"))
            return R_SKIP;
        break;
    case 't':
        if (!strcmp(s, "table"))
            return R_TABLE;
        if (!strcmp(s, "tr"))
            return R_ROW;
        if (!strcmp(s, "td") || !strcmp(s, "th"))
            return R_CELL;
        if (!strcmp(s, "thead") || !strcmp(s, "tbody") || !strcmp(s, "tfoot"))
            return R_SECTION;
        if (!strcmp(s, "tt") || !strcmp(s, "time"))
            return R_INLINE;
        if (!strcmp(s, "title") || !strcmp(s, "template") ||
            !strcmp(s, "textarea") || !strcmp(s, "track"))
            return R_SKIP;
        break;
    case 'u':
        if (!strcmp(s, "ul"))
            return R_LIST;
        if (!strcmp(s, "u"))
            return R_INLINE;
        break;
    case 'v':
        if (!strcmp(s, "var"))
            return R_INLINE;
        if (!strcmp(s, "video"))
            return R_SKIP;
        break;
    case 'w':
        if (!strcmp(s, "wbr"))
            return R_INLINE;
        break;
    case 'x':
        if (!strcmp(s, "xmp"))
            return R_CODE;
        break;
    }
    return R_OTHER;
}

/* Roles that break text into separate words when gathered. */
static int breaks_text(role r)
{
    return r != R_INLINE && r != R_OTHER && r != R_IMG && r != R_SKIP;
}

/* ---------------------------------------------------------------------- */
/* text                                                                    */

/* Append text S (N bytes) to c->text: whitespace collapsed unless PRE. */
static void put_text(conv *c, const char *s, size_t n, int pre)
{
    vd__buf *t = &c->text;
    if (pre) {
        vd__buf_append(c->ctx, t, s, n);
        return;
    }
    /* collapsing never grows the text: reserve once, copy in place */
    if (vd__buf_reserve(c->ctx, t, n + 1) != VD_OK)
        return;
    char *d = t->data + t->len;
    int pend = c->pending_space;
    int after_nl = t->len == 0 || t->data[t->len - 1] == '\n';
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\f') {
            pend = 1;
            continue;
        }
        if (pend && !after_nl)
            *d++ = ' ';
        pend = 0;
        after_nl = 0;
        *d++ = ch;
    }
    t->len = (size_t)(d - t->data);
    t->data[t->len] = '\0';
    c->pending_space = pend;
}

static void put_break(conv *c, int pre)
{
    vd__buf *t = &c->text;
    if (!pre)
        while (t->len && t->data[t->len - 1] == ' ')
            t->data[--t->len] = '\0';
    if (pre || t->len)
        vd__buf_putc(c->ctx, t, '\n');
    c->pending_space = 0;
}

enum { G_PRE = 1, G_SKIP_LISTS = 2 };

/* Gather the text of nodes FIRST..LAST (inclusive; LAST NULL: to the end
 * of the sibling list) and their descendants into c->text. Iterative, so
 * nesting depth costs no stack. */
static void gather_range(conv *c, const xmlNode *first, const xmlNode *last,
                         int flags)
{
    int pre = flags & G_PRE;
    const xmlNode *top = first ? first->parent : NULL;
    const xmlNode *n = first;
    while (n) {
        int down = 0;
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content)
                put_text(c, (const char *)n->content,
                         strlen((const char *)n->content), pre);
        } else if (n->type == XML_ELEMENT_NODE) {
            role r = role_of(n);
            if (r == R_BR)
                put_break(c, pre);
            else if (r == R_SKIP || (r == R_LIST && (flags & G_SKIP_LISTS)))
                ;
            else {
                if (breaks_text(r)) {
                    if (pre)
                        put_break(c, 1);
                    else
                        c->pending_space = 1;
                }
                down = n->children != NULL;
            }
        }
        if (down) {
            n = n->children;
            continue;
        }
        /* next node: a sibling, or climb; never past LAST at the top */
        for (;;) {
            if (n->parent == top && n == last)
                return;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
            if (!n || n == top)
                return;
            if (n->type == XML_ELEMENT_NODE && breaks_text(role_of(n)))
                c->pending_space = 1;
        }
    }
}

/* \( \) -> $ and \[ \] -> $$ when paired, so inline math has one form. */
static void normalize_math(conv *c)
{
    vd__buf *t = &c->text;
    if (!t->len || !memchr(t->data, '\\', t->len))
        return;
    const char *s = t->data;
    size_t n = t->len;
    vd__buf_reset(&c->tmp);
    size_t run = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == '\\') { /* an escaped backslash */
            i++;
            continue;
        }
        char open = s[i + 1], close;
        const char *rep;
        if (open == '(') {
            close = ')';
            rep = "$";
        } else if (open == '[') {
            close = ']';
            rep = "$$";
        } else {
            continue;
        }
        /* find the matching \) or \] */
        size_t j = i + 2;
        for (; j + 1 < n; j++)
            if (s[j] == '\\' && s[j + 1] == close)
                break;
        if (j + 1 >= n)
            continue;
        vd__buf_append(c->ctx, &c->tmp, s + run, i - run);
        vd__buf_puts(c->ctx, &c->tmp, rep);
        vd__buf_append(c->ctx, &c->tmp, s + i + 2, j - i - 2);
        vd__buf_puts(c->ctx, &c->tmp, rep);
        run = j + 2;
        i = j + 1;
    }
    if (run == 0)
        return;
    vd__buf_append(c->ctx, &c->tmp, s + run, n - run);
    vd__buf tmp = c->text;
    c->text = c->tmp;
    c->tmp = tmp;
}

/* The gathered text, trimmed, copied into the doc's arena. */
static const char *take_text(conv *c, int pre)
{
    vd__buf *t = &c->text;
    if (t->err) {
        c->st = t->err;
        return "";
    }
    size_t a = 0, b = t->len;
    if (pre) {
        /* keep indentation; drop blank lines around the code */
        while (a < b && (t->data[a] == '\n' || t->data[a] == '\r'))
            a++;
        while (b > a && is_ws((unsigned char)t->data[b - 1]))
            b--;
    } else {
        while (a < b && is_ws((unsigned char)t->data[a]))
            a++;
        while (b > a && is_ws((unsigned char)t->data[b - 1]))
            b--;
    }
    if (a == b)
        return "";
    const char *s =
        vd__arena_strndup(c->ctx, c->doc->arena, t->data + a, b - a);
    if (!s) {
        c->st = VD_ERR_NOMEM;
        return "";
    }
    return s;
}

static const char *text_of_range(conv *c, const xmlNode *first,
                                 const xmlNode *last, int flags)
{
    vd__buf_reset(&c->text);
    c->pending_space = 0;
    if (first)
        gather_range(c, first, last, flags);
    if (!(flags & G_PRE))
        normalize_math(c);
    return take_text(c, flags & G_PRE);
}

static const char *text_of(conv *c, const xmlNode *n, int flags)
{
    return text_of_range(c, n->children, NULL, flags);
}

/* ---------------------------------------------------------------------- */
/* boxes                                                                   */

static void box_warn(conv *c, const xmlNode *n, const char *fmt, ...)
    VD_PRINTF(3, 4);

static void box_warn(conv *c, const xmlNode *n, const char *fmt, ...)
{
    c->pg->flags |= VD_PAGE_BAD_BOXES;
    if (++c->nbox_warn > MAX_BOX_WARNINGS)
        return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warnf(c, "line %ld: <%s> data-bbox %s", line_of(c, n),
          (const char *)n->name, msg);
}

/* One number: [-]digits[.digits]. Returns the end, or NULL. */
static const char *number(const char *p, double *v, int *frac)
{
    int neg = 0, digits = 0;
    double x = 0;
    if (*p == '-')
        neg = 1, p++;
    while (*p >= '0' && *p <= '9') {
        x = x * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (*p == '.') {
        double f = 0.1;
        p++;
        while (*p >= '0' && *p <= '9') {
            x += (*p - '0') * f;
            f *= 0.1;
            p++;
            digits++;
            *frac = 1;
        }
    }
    if (!digits || x > MAX_COORD)
        return NULL;
    *v = neg ? -x : x;
    return p;
}

/* data-bbox="x1 y1 x2 y2": four numbers separated by whitespace. The
 * model writes integers; decimal fractions are accepted (and counted in a
 * warning) because they are unambiguous. Anything else drops the box and
 * keeps the element. Swapped corners are swapped back, boxes are clamped
 * to the model's image, and a box wholly outside it is dropped. */
static void set_bbox(conv *c, vd_block *b, const xmlNode *n)
{
    const char *v = attr(n, "data-bbox");
    if (!v)
        return;
    c->nbbox++;
    double x[4];
    int frac = 0, k = 0;
    const char *p = v;
    while (is_ws((unsigned char)*p))
        p++;
    for (; k < 4; k++) {
        if (k && !is_ws((unsigned char)*p))
            break;
        while (is_ws((unsigned char)*p))
            p++;
        const char *e = number(p, &x[k], &frac);
        if (!e)
            break;
        p = e;
    }
    while (is_ws((unsigned char)*p))
        p++;
    if (k < 4 || *p) {
        char q[80];
        quote(q, sizeof q, v, strlen(v), 40);
        box_warn(c, n, "\"%s\" is not four numbers; box dropped", q);
        return;
    }
    if (frac)
        c->nfrac++;
    if (x[0] > x[2] || x[1] > x[3]) {
        box_warn(c, n, "\"%s\" has swapped corners; swapped back", v);
        if (x[0] > x[2]) {
            double t = x[0];
            x[0] = x[2];
            x[2] = t;
        }
        if (x[1] > x[3]) {
            double t = x[1];
            x[1] = x[3];
            x[3] = t;
        }
    }
    double w = c->pg->has_map ? c->pg->map.model_w : MAX_COORD;
    double h = c->pg->has_map ? c->pg->map.model_h : MAX_COORD;
    if (x[2] <= 0 || x[3] <= 0 || x[0] >= w || x[1] >= h) {
        box_warn(c, n, "\"%s\" lies outside the %gx%g image; box dropped", v, w,
                 h);
        return;
    }
    if (x[0] < 0 || x[1] < 0 || x[2] > w || x[3] > h) {
        box_warn(c, n, "\"%s\" reaches outside the %gx%g image; clamped", v, w,
                 h);
        x[0] = x[0] < 0 ? 0 : x[0];
        x[1] = x[1] < 0 ? 0 : x[1];
        x[2] = x[2] > w ? w : x[2];
        x[3] = x[3] > h ? h : x[3];
    }
    vd_box m = { x[0], x[1], x[2], x[3] };
    b->has_bbox = 1;
    b->bbox_model = m;
    b->bbox = c->pg->has_map ? vd_pagemap_to_page(&c->pg->map, m) : m;
}

/* ---------------------------------------------------------------------- */
/* generation loops: runs of identical siblings                             */

static int same_attrs(const xmlNode *a, const xmlNode *b)
{
    const xmlAttr *p = a->properties, *q = b->properties;
    for (; p && q; p = p->next, q = q->next) {
        if (!xmlStrEqual(p->name, q->name))
            return 0;
        const xmlNode *u = p->children, *v = q->children;
        if (!u || !v)
            return !u && !v;
        if (!xmlStrEqual(u->content, v->content))
            return 0;
    }
    return !p && !q;
}

static int same_tree(const xmlNode *a, const xmlNode *b, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    for (; a && b; a = a->next, b = b->next) {
        if (a->type != b->type)
            return 0;
        if (a->type == XML_TEXT_NODE || a->type == XML_CDATA_SECTION_NODE) {
            if (!xmlStrEqual(a->content, b->content))
                return 0;
        } else if (a->type == XML_ELEMENT_NODE) {
            if (!xmlStrEqual(a->name, b->name) || !same_attrs(a, b) ||
                !same_tree(a->children, b->children, depth + 1))
                return 0;
        }
    }
    return !a && !b;
}

static int same_element(const xmlNode *a, const xmlNode *b)
{
    return xmlStrEqual(a->name, b->name) && same_attrs(a, b) &&
           same_tree(a->children, b->children, 0);
}

static int blank_text(const xmlNode *n)
{
    if (n->type != XML_TEXT_NODE)
        return 0;
    for (const xmlChar *s = n->content; s && *s; s++)
        if (!is_ws(*s))
            return 0;
    return 1;
}

/* Collapse runs of identical element siblings under P to one copy. */
static void collapse_children(conv *c, xmlNode *p)
{
    xmlNode *n = p->children;
    while (n) {
        if (n->type != XML_ELEMENT_NODE) {
            n = n->next;
            continue;
        }
        /* count the run of copies of N, blank text between them allowed */
        int run = 1;
        xmlNode *end = n, *q = n->next;
        while (q) {
            if (blank_text(q)) {
                q = q->next;
                continue;
            }
            if (q->type != XML_ELEMENT_NODE || !same_element(n, q))
                break;
            run++;
            end = q;
            q = q->next;
        }
        int need = has_attr(n, "data-bbox") ? LOOP_RUN_BOXED : LOOP_RUN_PLAIN;
        if (run >= need) {
            xmlNode *r = n->next;
            while (r) {
                xmlNode *next = r->next;
                int last = r == end;
                xmlUnlinkNode(r);
                xmlFreeNode(r);
                if (last)
                    break;
                r = next;
            }
            c->pg->flags |= VD_PAGE_REPEATS;
            warnf(c,
                  "line %ld: <%s> repeated %d times in a row (a generation "
                  "loop); kept once",
                  line_of(c, n), (const char *)n->name, run);
        }
        n = n->next;
    }
}

/* Every element under ROOT, iteratively (libxml2 nests up to 2048
 * levels). */
static void collapse_loops(conv *c, xmlNode *root)
{
    xmlNode *n = root;
    for (;;) {
        if (n->type == XML_ELEMENT_NODE && n->children) {
            collapse_children(c, n);
            if (n->children) {
                n = n->children;
                continue;
            }
        }
        for (;;) {
            if (n == root)
                return;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* elements -> blocks                                                      */

/* Where new blocks go and what they are. */
typedef struct scope {
    vd_block *parent;        /* NULL: the page */
    int derived;             /* text here is the model's, not the page's */
    int in_figure;           /* <img> is a region of the figure */
    vd_block_kind loose;     /* kind of loose text and <p> here */
    const char *code_format; /* music/chemistry notation */
} scope;

static vd_block *new_block(conv *c, const scope *sc, vd_block_kind k,
                           const xmlNode *n)
{
    vd_block *b = vd__block_new(c->ctx, c->doc, c->pg, sc->parent, k);
    if (!b) {
        c->st = VD_ERR_NOMEM;
        return NULL;
    }
    b->derived = sc->derived;
    if (n) {
        set_bbox(c, b, n);
        const char *cls = attr(n, "class");
        if (cls && *cls) {
            /* the input was made valid UTF-8 before parsing */
            b->cls = vd__arena_strdup(c->ctx, c->doc->arena, cls);
            if (!b->cls)
                c->st = VD_ERR_NOMEM;
        }
    }
    return b;
}

static void conv_nodes(conv *c, const xmlNode *first, const scope *sc,
                       int depth);
static void conv_element(conv *c, const xmlNode *n, const scope *sc, int depth);

static int is_blockish(role r)
{
    return r != R_INLINE && r != R_BR && r != R_SKIP && r != R_OTHER;
}

/* Does N have an element child that makes blocks of its own? */
static int has_block_child(const xmlNode *n)
{
    for (const xmlNode *k = n->children; k; k = k->next) {
        if (k->type != XML_ELEMENT_NODE)
            continue;
        role r = role_of(k);
        if (is_blockish(r) && r != R_HR)
            return 1;
        if (r == R_OTHER && has_block_child(k))
            return 1;
    }
    return 0;
}

static int only_images(const xmlNode *n)
{
    int imgs = 0;
    for (const xmlNode *k = n->children; k; k = k->next) {
        if (k->type == XML_ELEMENT_NODE) {
            if (role_of(k) != R_IMG)
                return 0;
            imgs++;
        } else if (!blank_text(k) && k->type != XML_COMMENT_NODE) {
            return 0;
        }
    }
    return imgs > 0;
}

/* A block of kind K whose text is everything inside N. */
static vd_block *text_block(conv *c, const scope *sc, vd_block_kind k,
                            const xmlNode *n, int flags)
{
    vd_block *b = new_block(c, sc, k, n);
    if (b)
        b->text = text_of(c, n, flags);
    return b;
}

/* A run of inline nodes FIRST..LAST outside any text element. */
static void loose_run(conv *c, const xmlNode *first, const xmlNode *last,
                      const scope *sc)
{
    vd__buf_reset(&c->text);
    c->pending_space = 0;
    gather_range(c, first, last, sc->code_format ? G_PRE : 0);
    if (!sc->code_format)
        normalize_math(c);
    const char *t = take_text(c, sc->code_format != NULL);
    if (!*t)
        return;
    vd_block_kind k = sc->code_format ? VD_BLOCK_CODE : sc->loose;
    vd_block *b = vd__block_new(c->ctx, c->doc, c->pg, sc->parent, k);
    if (!b) {
        c->st = VD_ERR_NOMEM;
        return;
    }
    b->derived = sc->derived;
    b->text = t;
    if (sc->code_format)
        b->format = sc->code_format;
}

static void conv_list(conv *c, const xmlNode *n, vd_block *list, int depth);
static void conv_table(conv *c, const xmlNode *n, vd_block *table, int header,
                       int depth);

/* LIST_ITEM from <li>: its text without nested lists, which become child
 * LISTs of the item. */
static void conv_item(conv *c, const xmlNode *li, vd_block *list, int depth)
{
    scope sc = { list, list->derived, 0, VD_BLOCK_PARAGRAPH, NULL };
    vd_block *it = new_block(c, &sc, VD_BLOCK_LIST_ITEM, li);
    if (!it)
        return;
    it->text = text_of(c, li, G_SKIP_LISTS);
    /* nested lists anywhere below, outermost only */
    const xmlNode *k = li->children;
    while (k && c->st == VD_OK) {
        if (k->type == XML_ELEMENT_NODE && role_of(k) == R_LIST) {
            scope in = { it, it->derived, 0, VD_BLOCK_PARAGRAPH, NULL };
            vd_block *sub = new_block(c, &in, VD_BLOCK_LIST, k);
            if (sub) {
                sub->ordered = eq(k->name, "ol");
                conv_list(c, k, sub, depth + 1);
            }
        } else if (k->type == XML_ELEMENT_NODE && k->children &&
                   role_of(k) != R_SKIP) {
            k = k->children;
            continue;
        }
        while (k && !k->next && k != li) {
            k = k->parent;
            if (k == li)
                k = NULL;
        }
        if (k)
            k = k->next;
    }
}

static void conv_list(conv *c, const xmlNode *n, vd_block *list, int depth)
{
    if (depth > MAX_DEPTH) {
        vd_block *it =
            vd__block_new(c->ctx, c->doc, c->pg, list, VD_BLOCK_LIST_ITEM);
        if (!it) {
            c->st = VD_ERR_NOMEM;
            return;
        }
        it->text = text_of(c, n, 0);
        c->nflat++;
        return;
    }
    const xmlNode *run = NULL, *k;
    for (k = n->children; k && c->st == VD_OK; k = k->next) {
        role r = k->type == XML_ELEMENT_NODE ? role_of(k) : R_INLINE;
        if (k->type == XML_COMMENT_NODE || (r == R_SKIP))
            continue;
        if (r == R_ITEM || r == R_LIST || is_blockish(r)) {
            if (run) {
                vd_block *it = vd__block_new(c->ctx, c->doc, c->pg, list,
                                             VD_BLOCK_LIST_ITEM);
                if (it)
                    it->text = text_of_range(c, run, k->prev, 0);
                if (it && !*it->text)
                    vd__block_unlink(c->pg, it);
                run = NULL;
            }
            if (r == R_ITEM) {
                conv_item(c, k, list, depth);
            } else if (r == R_LIST) {
                /* <ul><li>a</li><ul>..</ul></ul>: the sublist belongs to
                 * the item before it */
                vd_block *owner = list->last;
                if (!owner) {
                    owner = vd__block_new(c->ctx, c->doc, c->pg, list,
                                          VD_BLOCK_LIST_ITEM);
                    if (!owner) {
                        c->st = VD_ERR_NOMEM;
                        return;
                    }
                }
                scope in = { owner, list->derived, 0, VD_BLOCK_PARAGRAPH,
                             NULL };
                vd_block *sub = new_block(c, &in, VD_BLOCK_LIST, k);
                if (sub) {
                    sub->ordered = eq(k->name, "ol");
                    conv_list(c, k, sub, depth + 1);
                }
            } else {
                scope in = { list, list->derived, 0, VD_BLOCK_PARAGRAPH, NULL };
                vd_block *it = new_block(c, &in, VD_BLOCK_LIST_ITEM, k);
                if (it)
                    it->text = text_of(c, k, 0);
            }
        } else if (!blank_text(k) || run) {
            if (!run)
                run = k;
        }
    }
    if (run && c->st == VD_OK) {
        vd_block *it =
            vd__block_new(c->ctx, c->doc, c->pg, list, VD_BLOCK_LIST_ITEM);
        if (!it) {
            c->st = VD_ERR_NOMEM;
            return;
        }
        it->text = text_of_range(c, run, NULL, 0);
        if (!*it->text)
            vd__block_unlink(c->pg, it);
    }
}

static int span_attr(conv *c, const xmlNode *n, const char *name)
{
    const char *v = attr(n, name);
    if (!v)
        return 1;
    char *e;
    long x = strtol(v, &e, 10);
    while (is_ws((unsigned char)*e))
        e++;
    if (e == v || *e || x < 1 || x > 1000) {
        char q[40];
        quote(q, sizeof q, v, strlen(v), 20);
        warnf(c,
              "line %ld: <%s %s=\"%s\"> is not a span of 1..1000; "
              "1 used",
              line_of(c, n), (const char *)n->name, name, q);
        return 1;
    }
    return (int)x;
}

static int contains_table(const xmlNode *n)
{
    for (const xmlNode *k = n->children; k; k = k->next)
        if (k->type == XML_ELEMENT_NODE &&
            (role_of(k) == R_TABLE || contains_table(k)))
            return 1;
    return 0;
}

static void conv_cell(conv *c, const xmlNode *n, vd_block *row, int header)
{
    scope sc = { row, row->derived, 0, VD_BLOCK_PARAGRAPH, NULL };
    vd_block *cell = text_block(c, &sc, VD_BLOCK_TABLE_CELL, n, 0);
    if (!cell)
        return;
    cell->header = header || eq(n->name, "th");
    cell->rowspan = span_attr(c, n, "rowspan");
    cell->colspan = span_attr(c, n, "colspan");
    if (contains_table(n))
        warnf(c,
              "line %ld: a table inside a table cell was flattened into "
              "the cell's text",
              line_of(c, n));
}

/* Cells of <tr> N; anything that is not a cell becomes one. */
static void conv_row(conv *c, const xmlNode *n, vd_block *row, int header)
{
    const xmlNode *run = NULL;
    for (const xmlNode *k = n->children; k && c->st == VD_OK; k = k->next) {
        role r = k->type == XML_ELEMENT_NODE ? role_of(k) : R_INLINE;
        if (k->type == XML_COMMENT_NODE || r == R_SKIP || r == R_COLS)
            continue;
        if (r == R_CELL) {
            if (run) {
                vd_block *x = vd__block_new(c->ctx, c->doc, c->pg, row,
                                            VD_BLOCK_TABLE_CELL);
                if (x)
                    x->text = text_of_range(c, run, k->prev, 0);
                if (x && !*x->text)
                    vd__block_unlink(c->pg, x);
                run = NULL;
            }
            conv_cell(c, k, row, header);
        } else if (!run && !blank_text(k)) {
            run = k;
        }
    }
    if (run && c->st == VD_OK) {
        vd_block *x =
            vd__block_new(c->ctx, c->doc, c->pg, row, VD_BLOCK_TABLE_CELL);
        if (!x) {
            c->st = VD_ERR_NOMEM;
            return;
        }
        x->text = text_of_range(c, run, NULL, 0);
        if (!*x->text)
            vd__block_unlink(c->pg, x);
        else
            x->derived = row->derived;
    }
}

/* Rows of TABLE from the children of N (a table or a row group). Cells
 * outside rows share an implicit row; other content gets a row and cell
 * of its own, so no text is lost. */
static void conv_table(conv *c, const xmlNode *n, vd_block *table, int header,
                       int depth)
{
    scope sc = { table, table->derived, 0, VD_BLOCK_CAPTION, NULL };
    vd_block *implicit = NULL;
    for (const xmlNode *k = n->children; k && c->st == VD_OK; k = k->next) {
        role r = k->type == XML_ELEMENT_NODE ? role_of(k) : R_INLINE;
        if (k->type == XML_COMMENT_NODE || r == R_SKIP || r == R_COLS ||
            blank_text(k))
            continue;
        if (r == R_ROW) {
            implicit = NULL;
            vd_block *row = new_block(c, &sc, VD_BLOCK_TABLE_ROW, k);
            if (row)
                conv_row(c, k, row, header);
        } else if (r == R_SECTION) {
            implicit = NULL;
            if (depth < MAX_DEPTH)
                conv_table(c, k, table, header || eq(k->name, "thead"),
                           depth + 1);
        } else if (r == R_CAPTION) {
            implicit = NULL;
            text_block(c, &sc, VD_BLOCK_CAPTION, k, 0);
        } else if (r == R_CELL) {
            if (!implicit)
                implicit = new_block(c, &sc, VD_BLOCK_TABLE_ROW, NULL);
            if (implicit)
                conv_cell(c, k, implicit, header);
        } else {
            implicit = NULL;
            const char *t = k->type == XML_ELEMENT_NODE
                                ? text_of(c, k, 0)
                                : text_of_range(c, k, k, 0);
            if (!*t)
                continue;
            vd_block *row = new_block(c, &sc, VD_BLOCK_TABLE_ROW, NULL);
            vd_block *cell = row ? vd__block_new(c->ctx, c->doc, c->pg, row,
                                                 VD_BLOCK_TABLE_CELL)
                                 : NULL;
            if (!cell) {
                c->st = VD_ERR_NOMEM;
                return;
            }
            cell->text = t;
            cell->derived = table->derived;
            warnf(c,
                  "line %ld: content outside table cells kept in a row "
                  "of its own",
                  line_of(c, k));
        }
    }
}

/* Strip $$..$$, \[..\], $..$, \(..\) around a formula. */
static const char *strip_delims(conv *c, const char *t, int *display)
{
    size_t n = strlen(t);
    static const struct {
        const char *open, *close;
        int display;
    } d[] = { { "$$", "$$", 1 },
              { "\\[", "\\]", 1 },
              { "\\(", "\\)", 0 },
              { "$", "$", 0 } };
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) {
        size_t lo = strlen(d[i].open), lc = strlen(d[i].close);
        if (n < lo + lc || strncmp(t, d[i].open, lo) ||
            strcmp(t + n - lc, d[i].close))
            continue;
        span sp = { lo, n - lc };
        trim(t, &sp);
        /* "$a$ and $b$" is not one formula */
        const char *in = t + sp.a;
        size_t m = sp.b - sp.a;
        if (!m)
            continue;
        if (!strcmp(d[i].open, "$") && memchr(in, '$', m))
            continue;
        if (!strcmp(d[i].open, "$$")) {
            int inner = 0;
            for (size_t j = 0; j + 1 < m; j++)
                if (in[j] == '$' && in[j + 1] == '$')
                    inner = 1;
            if (inner)
                continue;
        }
        if (display)
            *display = d[i].display;
        char *s = vd__arena_strndup(c->ctx, c->doc->arena, in, m);
        if (!s) {
            c->st = VD_ERR_NOMEM;
            return t;
        }
        return s;
    }
    return t;
}

/* IMAGE children for every <img> inside N (formula regions). */
static void image_regions(conv *c, const xmlNode *n, vd_block *parent)
{
    scope sc = { parent, 0, 1, VD_BLOCK_PARAGRAPH, NULL };
    for (const xmlNode *k = n->children; k && c->st == VD_OK; k = k->next) {
        if (k->type != XML_ELEMENT_NODE)
            continue;
        if (role_of(k) == R_IMG)
            new_block(c, &sc, VD_BLOCK_IMAGE, k);
        else
            image_regions(c, k, parent);
    }
}

/* A picture, chart, music sheet or chemical structure. Text inside is
 * the model's (derived) except in "image ocr" and in a plain <figure>,
 * whose <figcaption> is the printed caption. */
static void conv_figure(conv *c, const xmlNode *n, const scope *sc,
                        enum cls_kind ck, int depth)
{
    int plain = ck == C_NONE;
    vd_block *fig = new_block(c, sc, VD_BLOCK_FIGURE, n);
    if (!fig)
        return;
    scope in = { fig, sc->derived, 1, VD_BLOCK_CAPTION, NULL };
    const char *fmt = attr(n, "format");
    switch (ck) {
    case C_CHART:
        fig->figure = "chart";
        in.derived = 1;
        break;
    case C_MUSIC:
        fig->figure = "music";
        in.derived = 1;
        in.code_format = "abc notation";
        break;
    case C_CHEM:
        fig->figure = "chemistry";
        in.derived = 1;
        in.code_format = "smiles";
        break;
    case C_IMAGE_OCR:
        /* text read from inside the picture is page text */
        fig->figure = "image";
        in.loose = VD_BLOCK_PARAGRAPH;
        break;
    default:
        /* a description the model wrote */
        fig->figure = "image";
        in.derived = !plain;
        break;
    }
    if (in.code_format && fmt && *fmt) {
        char *f = vd__doc_strdup_utf8(c->ctx, c->doc, fmt, strlen(fmt));
        if (f)
            in.code_format = f;
    }
    conv_nodes(c, n->children, &in, depth + 1);
}

/* A container element with data-bbox and nothing but text inside. */
static vd_block_kind kind_for_class(enum cls_kind ck, vd_block_kind dflt)
{
    switch (ck) {
    case C_HEADER:
        return VD_BLOCK_PAGE_HEADER;
    case C_FOOTER:
        return VD_BLOCK_PAGE_FOOTER;
    case C_PAGENO:
        return VD_BLOCK_PAGE_NUMBER;
    case C_FOOTNOTE:
        return VD_BLOCK_FOOTNOTE;
    case C_CAPTION:
        return VD_BLOCK_CAPTION;
    case C_TITLE:
        return VD_BLOCK_TITLE;
    default:
        return dflt;
    }
}

static void conv_formula(conv *c, const xmlNode *n, const scope *sc,
                         int display)
{
    vd_block *f = new_block(c, sc, VD_BLOCK_FORMULA, n);
    if (!f)
        return;
    f->display = display;
    f->format = "latex";
    /* LaTeX keeps its line structure: % comments end at a newline */
    const char *t = text_of(c, n, G_PRE);
    while (is_ws((unsigned char)*t))
        t++;
    f->text = strip_delims(c, t, &f->display);
    image_regions(c, n, f);
}

static void conv_element(conv *c, const xmlNode *n, const scope *sc, int depth)
{
    role r = role_of(n);
    const char *cls = attr(n, "class");
    enum cls_kind ck = class_kind(cls);
    int boxed = has_attr(n, "data-bbox");

    if (depth > MAX_DEPTH) {
        /* flatten: keep the text, lose the structure */
        c->nflat++;
        text_block(c, sc, VD_BLOCK_UNKNOWN, n, 0);
        return;
    }
    switch (r) {
    case R_SKIP:
        /* active content is worth a warning; <head> may hold it too */
        for (const xmlNode *k = eq(n->name, "head") ? n->children : n; k;
             k = eq(n->name, "head") ? k->next : NULL)
            if (k->type == XML_ELEMENT_NODE &&
                (eq(k->name, "script") || eq(k->name, "iframe") ||
                 eq(k->name, "object") || eq(k->name, "embed")))
                warnf(c, "line %ld: <%s> dropped (not document content)",
                      line_of(c, k), (const char *)k->name);
        return;
    case R_BR:
    case R_HR:
    case R_COLS:
        return;
    case R_HEADING: {
        vd_block_kind k = ck == C_TITLE ? VD_BLOCK_TITLE
                          : sc->derived ? sc->loose
                                        : VD_BLOCK_HEADING;
        vd_block *b = text_block(c, sc, k, n, 0);
        if (b && k == VD_BLOCK_HEADING)
            b->level = n->name[1] - '0';
        return;
    }
    case R_PARA:
        if (ck == C_FORMULA) {
            conv_formula(c, n, sc, 1);
            return;
        }
        if (sc->code_format) {
            vd_block *b = text_block(c, sc, VD_BLOCK_CODE, n, G_PRE);
            if (b)
                b->format = sc->code_format;
            return;
        }
        text_block(c, sc, kind_for_class(ck, sc->loose), n, 0);
        return;
    case R_LIST: {
        vd_block *b = new_block(c, sc, VD_BLOCK_LIST, n);
        if (b) {
            b->ordered = eq(n->name, "ol");
            conv_list(c, n, b, depth + 1);
        }
        return;
    }
    case R_ITEM: {
        /* an item outside a list: give it one */
        vd_block *l = sc->parent ? sc->parent->last : c->pg->last;
        if (!l || l->kind != VD_BLOCK_LIST || !l->implicit) {
            l = new_block(c, sc, VD_BLOCK_LIST, NULL);
            if (!l)
                return;
            l->implicit = 1;
        }
        conv_item(c, n, l, depth + 1);
        return;
    }
    case R_TABLE:
    case R_SECTION:
    case R_ROW:
    case R_CELL: {
        vd_block *t = new_block(c, sc, VD_BLOCK_TABLE, r == R_TABLE ? n : NULL);
        if (!t)
            return;
        if (r == R_TABLE || r == R_SECTION) {
            conv_table(c, n, t, r == R_SECTION && eq(n->name, "thead"),
                       depth + 1);
        } else if (r == R_ROW) {
            scope in = { t, t->derived, 0, VD_BLOCK_CAPTION, NULL };
            vd_block *row = new_block(c, &in, VD_BLOCK_TABLE_ROW, n);
            if (row)
                conv_row(c, n, row, 0);
        } else {
            scope in = { t, t->derived, 0, VD_BLOCK_CAPTION, NULL };
            vd_block *row = new_block(c, &in, VD_BLOCK_TABLE_ROW, NULL);
            if (row)
                conv_cell(c, n, row, 0);
        }
        return;
    }
    case R_CAPTION:
        text_block(c, sc, VD_BLOCK_CAPTION, n, 0);
        return;
    case R_FIGURE:
        conv_figure(c, n, sc, ck, depth);
        return;
    case R_IMG: {
        scope in = *sc;
        if (sc->in_figure) {
            in.derived = 0;
            new_block(c, &in, VD_BLOCK_IMAGE, n);
            return;
        }
        vd_block *fig = new_block(c, sc, VD_BLOCK_FIGURE, n);
        if (!fig)
            return;
        fig->figure = "image";
        /* generic HTML: alt text is the model's description */
        const char *alt = attr(n, "alt");
        if (alt && *alt) {
            scope fs = { fig, 1, 1, VD_BLOCK_CAPTION, NULL };
            vd_block *cap = new_block(c, &fs, VD_BLOCK_CAPTION, NULL);
            if (cap) {
                vd__buf_reset(&c->text);
                c->pending_space = 0;
                put_text(c, alt, strlen(alt), 0);
                cap->text = take_text(c, 0);
            }
        }
        return;
    }
    case R_CODE: {
        vd_block *b = text_block(c, sc, VD_BLOCK_CODE, n, G_PRE);
        if (!b)
            return;
        b->format = sc->code_format;
        /* <pre class="language-x"> or <pre><code class="language-x"> */
        const char *lc = cls;
        for (const xmlNode *k = n->children; !lc && k; k = k->next)
            if (k->type == XML_ELEMENT_NODE && eq(k->name, "code"))
                lc = attr(k, "class");
        if (lc && !strncmp(lc, "language-", 9) && lc[9]) {
            const char *e = lc + 9;
            b->format = vd__arena_strndup(c->ctx, c->doc->arena, e,
                                          strcspn(e, " \t\n"));
            if (!b->format)
                c->st = VD_ERR_NOMEM;
        }
        return;
    }
    case R_CONTAINER:
    case R_FORMULA:
    case R_INLINE:
    case R_OTHER:
        break;
    }

    /* containers, <div class=...>, inline and unknown elements */
    if (ck == C_FORMULA) {
        conv_formula(c, n, sc, !(r == R_INLINE));
        return;
    }
    if (ck == C_IMAGE || ck == C_IMAGE_CAPTION || ck == C_IMAGE_OCR ||
        ck == C_CHART || ck == C_MUSIC || ck == C_CHEM) {
        conv_figure(c, n, sc, ck, depth);
        return;
    }
    if (boxed && !sc->in_figure && only_images(n)) {
        conv_figure(c, n, sc, C_IMAGE, depth);
        return;
    }
    int blocks = has_block_child(n);
    if (!blocks && (boxed || ck != C_NONE) && r != R_OTHER) {
        if (sc->code_format) {
            vd_block *b = text_block(c, sc, VD_BLOCK_CODE, n, G_PRE);
            if (b)
                b->format = sc->code_format;
            return;
        }
        vd_block_kind k = kind_for_class(ck, sc->loose);
        text_block(c, sc, k, n, 0);
        return;
    }
    if (r == R_OTHER && boxed) {
        /* an element we do not know, with a box: keep it and its text */
        if (!blocks) {
            text_block(c, sc, VD_BLOCK_UNKNOWN, n, 0);
            return;
        }
        vd_block *u = new_block(c, sc, VD_BLOCK_UNKNOWN, n);
        if (!u)
            return;
        scope in = { u, sc->derived, sc->in_figure, VD_BLOCK_PARAGRAPH,
                     sc->code_format };
        conv_nodes(c, n->children, &in, depth + 1);
        return;
    }
    if (boxed && blocks) {
        /* a boxed group: keep the box on an UNKNOWN holding the blocks */
        vd_block *u = new_block(c, sc, VD_BLOCK_UNKNOWN, n);
        if (!u)
            return;
        scope in = *sc;
        in.parent = u;
        conv_nodes(c, n->children, &in, depth + 1);
        return;
    }
    if (ck != C_NONE && blocks) {
        /* <div class="page_footer"><p>..</p></div>: the class applies to
         * what is inside */
        scope in = *sc;
        in.loose = kind_for_class(ck, sc->loose);
        conv_nodes(c, n->children, &in, depth + 1);
        return;
    }
    conv_nodes(c, n->children, sc, depth + 1);
}

/* Inline content between blocks becomes a block of its own (sc->loose). */
static void conv_nodes(conv *c, const xmlNode *first, const scope *sc,
                       int depth)
{
    const xmlNode *run = NULL, *prev = NULL;
    for (const xmlNode *k = first; k && c->st == VD_OK; k = k->next) {
        int inline_ = 0;
        if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) {
            inline_ = 1;
        } else if (k->type == XML_ELEMENT_NODE) {
            role r = role_of(k);
            if (r == R_INLINE || r == R_BR ||
                (r == R_CODE && eq(k->name, "code") &&
                 !has_attr(k, "data-bbox"))) {
                inline_ = !has_attr(k, "data-bbox") &&
                          class_kind(attr(k, "class")) == C_NONE;
            } else if (r == R_OTHER) {
                inline_ = !has_attr(k, "data-bbox") && !has_block_child(k);
            }
        } else {
            prev = k;
            continue; /* comments, processing instructions */
        }
        if (inline_) {
            if (!run)
                run = k;
            prev = k;
            continue;
        }
        if (run) {
            loose_run(c, run, prev, sc);
            run = NULL;
        }
        conv_element(c, k, sc, depth);
        prev = k;
    }
    if (run && c->st == VD_OK)
        loose_run(c, run, prev, sc);
}

/* ---------------------------------------------------------------------- */
/* after the blocks: formulas in paragraphs, captions                       */

static int caption_like(const char *t)
{
    static const char *const words[] = {
        "figure",  "fig.",    "fig",    "table",     "tab.", "chart",
        "plate",   "exhibit", "scheme", "abbildung", "abb.", "tabelle",
        "tableau", "figura",  "tabla",  "grafik",
    };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t k = strlen(words[i]);
        if (!ci_prefix(t, strlen(t), words[i]))
            continue;
        const char *p = t + k;
        while (*p == ' ' || *p == '\xc2' || *p == '\xa0')
            p++;
        if ((*p >= '0' && *p <= '9') ||
            ((*p == 'I' || *p == 'V' || *p == 'X' || *p == 'S' || *p == 'A') &&
             p[1] &&
             (p[1] == '.' || p[1] == ':' || p[1] == ' ' ||
              (p[1] >= '0' && p[1] <= '9') || p[1] == 'I' || p[1] == 'V')))
            return 1;
    }
    /* 图 1 / 表 2 / 圖 3 */
    static const char *const cjk[] = { "\xe5\x9b\xbe", "\xe8\xa1\xa8",
                                       "\xe5\x9c\x96" };
    for (size_t i = 0; i < 3; i++) {
        if (strncmp(t, cjk[i], 3) != 0)
            continue;
        const char *p = t + 3;
        while (*p == ' ')
            p++;
        if (*p >= '0' && *p <= '9')
            return 1;
    }
    return 0;
}

static int has_caption(const vd_block *b)
{
    for (const vd_block *k = b->first; k; k = k->next)
        if (k->kind == VD_BLOCK_CAPTION && !k->derived)
            return 1;
    return 0;
}

static void post_blocks(conv *c)
{
    vd_page *pg = c->pg;
    for (vd_block *b = pg->first; b; b = b->next) {
        /* a paragraph that is nothing but math is a formula */
        if (b->kind == VD_BLOCK_PARAGRAPH && b->text[0] &&
            (b->text[0] == '$' || b->text[0] == '\\')) {
            int display = 0;
            const char *t = strip_delims(c, b->text, &display);
            if (t != b->text) {
                b->kind = VD_BLOCK_FORMULA;
                b->display = display;
                b->format = "latex";
                b->text = t;
            }
        }
    }
    /* a printed caption right after a figure or table, or right before
     * one, belongs to it; order is unchanged, so reading order holds */
    for (vd_block *b = pg->first; b; b = b->next) {
        if (b->kind != VD_BLOCK_FIGURE && b->kind != VD_BLOCK_TABLE)
            continue;
        vd_block *nx = b->next, *pv = b->prev;
        if (nx && nx->kind == VD_BLOCK_PARAGRAPH && caption_like(nx->text) &&
            !has_caption(b)) {
            vd__block_unlink(pg, nx);
            nx->kind = VD_BLOCK_CAPTION;
            vd__block_adopt(b, nx, 1);
        } else if (pv && pv->kind == VD_BLOCK_PARAGRAPH &&
                   caption_like(pv->text) && !has_caption(b)) {
            vd__block_unlink(pg, pv);
            pv->kind = VD_BLOCK_CAPTION;
            vd__block_adopt(b, pv, 0);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* page furniture by position and repetition                                */

/* "12", "- 12 -", "Page 3", "page 3 of 10", "3 / 10", "iv", "S. 4",
 * "第 3 页" */
static int page_number_like(const char *t)
{
    char s[64];
    size_t n = 0;
    for (const char *p = t; *p && n + 1 < sizeof s; p++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        s[n++] = ch;
    }
    if (t[n])
        return 0; /* too long */
    s[n] = '\0';
    char *a = s, *e = s + n;
    /* decorations */
    for (;;) {
        if (a < e && strchr(" -|[](){}.\t", *a))
            a++;
        else if (e - a >= 3 && !strncmp(a, "\xe2\x80\x94", 3)) /* em dash */
            a += 3;
        else if (e - a >= 3 && !strncmp(a, "\xe2\x80\x93", 3)) /* en dash */
            a += 3;
        else
            break;
    }
    for (;;) {
        if (e > a && strchr(" -|[](){}.\t", e[-1]))
            e--;
        else if (e - a >= 3 && (!strncmp(e - 3, "\xe2\x80\x94", 3) ||
                                !strncmp(e - 3, "\xe2\x80\x93", 3)))
            e -= 3;
        else
            break;
    }
    *e = '\0';
    if (!strncmp(a, "\xe7\xac\xac", 3)) { /* 第 N 页 */
        a += 3;
        if (e - a >= 3 && (!strncmp(e - 3, "\xe9\xa1\xb5", 3) ||
                           !strncmp(e - 3, "\xe9\xa0\x81", 3)))
            e -= 3;
        else
            return 0;
        *e = '\0';
    } else {
        static const char *const pre[] = { "page ",   "pages ", "pg. ",
                                           "pg ",     "p. ",    "p ",
                                           "seite ",  "s. ",    "página ",
                                           "pagina ", "pag. " };
        for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
            if (!strncmp(a, pre[i], strlen(pre[i]))) {
                a += strlen(pre[i]);
                break;
            }
    }
    while (*a == ' ')
        a++;
    /* number [sep number]; roman numerals as front matter uses them
     * (i..xxxix), not any word made of c, d, l, m */
    int parts = 0;
    while (*a) {
        const char *b = a;
        while (*a >= '0' && *a <= '9')
            a++;
        if (a == b) {
            while (*a && strchr("ivx", *a))
                a++;
            if (a == b || a - b > 6)
                return 0;
        } else if (a - b > 4) {
            return 0;
        }
        parts++;
        while (*a == ' ')
            a++;
        if (!*a)
            break;
        if (parts > 1)
            return 0;
        if (*a == '/')
            a++;
        else if (!strncmp(a, "of ", 3))
            a += 3;
        else if (!strncmp(a, "von ", 4) || !strncmp(a, "sur ", 4))
            a += 4;
        else if (!strncmp(a, "de ", 3))
            a += 3;
        else
            return 0;
        while (*a == ' ')
            a++;
    }
    return parts >= 1;
}

static int band_of(const vd_page *pg, const vd_block *b, double frac)
{
    if (!pg->has_map || !b->has_bbox)
        return 0;
    double h = pg->map.model_h;
    if (b->bbox_model.y2 <= h * frac)
        return 1;
    if (b->bbox_model.y1 >= h * (1 - frac))
        return 2;
    return 0;
}

static int furniture_candidate(const vd_block *b)
{
    return (b->kind == VD_BLOCK_PARAGRAPH || b->kind == VD_BLOCK_HEADING ||
            b->kind == VD_BLOCK_UNKNOWN) &&
           !b->first && b->text[0] && strlen(b->text) <= 200;
}

/* Text with digits folded, so "Page 3" on page 3 matches "Page 4". */
static void furniture_key(const char *t, char *k, size_t cap)
{
    size_t o = 0;
    for (; *t && o + 1 < cap; t++) {
        char ch = *t;
        if (ch >= '0' && ch <= '9')
            ch = '#';
        else if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch == '#' && o && k[o - 1] == '#')
            continue;
        k[o++] = ch;
    }
    k[o] = '\0';
}

static int has_body(const vd_page *pg)
{
    for (const vd_block *b = pg->first; b; b = b->next)
        if (!band_of(pg, b, 0.10) && b->kind != VD_BLOCK_PAGE_NUMBER &&
            b->kind != VD_BLOCK_PAGE_HEADER && b->kind != VD_BLOCK_PAGE_FOOTER)
            return 1;
    return 0;
}

void vd__doc_mark_furniture(vd_ctx *ctx, vd_doc *d, vd_page *pg)
{
    (void)ctx;
    /* page numbers: short, in the top or bottom 10%, number-shaped */
    for (vd_block *b = pg->first; b; b = b->next)
        if (furniture_candidate(b) && band_of(pg, b, 0.10) &&
            page_number_like(b->text))
            b->kind = VD_BLOCK_PAGE_NUMBER;
    /* running heads and feet: the same text (digits aside) in the same
     * band of one of the two pages before; both pages must have text
     * outside the bands, or "Potato 1", "Potato 2" alone on their pages
     * would vanish as headers */
    if (!has_body(pg))
        return;
    for (int back = 1; back <= 2 && d->npages - 1 - back >= 0; back++) {
        vd_page *op = d->pages[d->npages - 1 - back];
        if (op->status != VD_OK || !op->has_map || !has_body(op))
            continue;
        for (vd_block *b = pg->first; b; b = b->next) {
            int band = band_of(pg, b, 0.10);
            if (!band || b->kind == VD_BLOCK_PAGE_NUMBER)
                continue;
            if (!furniture_candidate(b) && b->kind != VD_BLOCK_PAGE_HEADER &&
                b->kind != VD_BLOCK_PAGE_FOOTER)
                continue;
            char kb[256], ko[256];
            furniture_key(b->text, kb, sizeof kb);
            for (vd_block *o = op->first; o; o = o->next) {
                if (band_of(op, o, 0.10) != band ||
                    (!furniture_candidate(o) &&
                     o->kind != VD_BLOCK_PAGE_HEADER &&
                     o->kind != VD_BLOCK_PAGE_FOOTER))
                    continue;
                furniture_key(o->text, ko, sizeof ko);
                if (strcmp(kb, ko) != 0)
                    continue;
                vd_block_kind k =
                    band == 1 ? VD_BLOCK_PAGE_HEADER : VD_BLOCK_PAGE_FOOTER;
                b->kind = k;
                if (o->kind != VD_BLOCK_PAGE_NUMBER)
                    o->kind = k;
                break;
            }
        }
    }
}

/* ---------------------------------------------------------------------- */

/* Nesting beyond libxml2's limit (a runaway loop): keep the text only. */
static void text_only(conv *c, const char *s, size_t n)
{
    vd__buf_reset(&c->text);
    c->pending_space = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] == '<') {
            const char *gt = memchr(s + i, '>', n - i);
            c->pending_space = 1;
            i = gt ? (size_t)(gt - s) + 1 : n;
            continue;
        }
        const char *lt = memchr(s + i, '<', n - i);
        size_t j = lt ? (size_t)(lt - s) : n;
        put_text(c, s + i, j - i, 0);
        i = j;
    }
    const char *t = take_text(c, 0);
    if (!*t)
        return;
    vd_block *b = vd__block_new(c->ctx, c->doc, c->pg, NULL, VD_BLOCK_UNKNOWN);
    if (!b) {
        c->st = VD_ERR_NOMEM;
        return;
    }
    b->text = t;
    warnf(c, "elements nest deeper than the HTML parser allows (a "
             "generation loop?): the page's text is kept without structure "
             "(entities not decoded)");
}

vd_status vd__qwenhtml_parse(vd_ctx *ctx, vd_doc *doc, vd_page *pg,
                             const char *html, size_t len)
{
    conv c;
    memset(&c, 0, sizeof c);
    c.ctx = ctx;
    c.doc = doc;
    c.pg = pg;
    vd__buf_init(&c.text, 0);
    vd__buf_init(&c.tmp, 0);
    vd__buf clean, body;
    vd__buf_init(&clean, 0);
    vd__buf_init(&body, 0);

    const char *src = html;
    size_t srclen = len;
    if (!utf8_clean(html, len)) {
        size_t fixes = vd__utf8_repair(ctx, &clean, html, len);
        if (clean.err) {
            c.st = clean.err;
            goto done;
        }
        if (fixes)
            warnf(&c,
                  "%zu invalid UTF-8 sequences or control characters "
                  "replaced with U+FFFD",
                  fixes);
        src = clean.data ? clean.data : "";
        srclen = clean.len;
    }
    const char *doc_html;
    size_t doc_len;
    envelope(&c, src, srclen, &body, &doc_html, &doc_len);
    if (body.err) {
        c.st = body.err;
        goto done;
    }
    if (doc_len > (size_t)INT32_MAX - 1) {
        c.st = vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: page %d: HTML too large for the parser",
                        doc->source, pg->number + 1);
        goto done;
    }
    if (!doc_len)
        goto done;

    htmlDocPtr h = parse_html(&c, doc_html, doc_len);
    if (c.st) {
        if (h)
            xmlFreeDoc(h);
        goto done;
    }
    if (!h || c.too_deep) {
        if (h)
            xmlFreeDoc(h);
        text_only(&c, doc_html, doc_len);
        goto done;
    }
    for (xmlNode *top = h->children; top; top = top->next)
        if (top->type == XML_ELEMENT_NODE)
            collapse_loops(&c, top);
    scope sc = { NULL, 0, 0, VD_BLOCK_PARAGRAPH, NULL };
    conv_nodes(&c, h->children, &sc, 0);
    xmlFreeDoc(h);
    if (c.st)
        goto done;
    post_blocks(&c);
    if (c.nbox_warn > MAX_BOX_WARNINGS)
        warnf(&c, "%d more data-bbox problems not listed",
              c.nbox_warn - MAX_BOX_WARNINGS);
    if (c.nfrac)
        warnf(&c,
              "%d data-bbox with fractional values (Qwen2.5-VL writes "
              "integer pixels)",
              c.nfrac);
    if (c.nflat)
        warnf(&c,
              "%d elements nested deeper than %d levels: their text is "
              "kept, their structure flattened",
              c.nflat, MAX_DEPTH);
    if (!c.nbbox && pg->first) {
        pg->flags |= VD_PAGE_NO_BOXES;
        warnf(&c, "no data-bbox in the HTML (a plain HTML answer, not "
                  "QwenVL HTML): blocks have no boxes");
    }
done:
    vd__buf_free(&clean);
    vd__buf_free(&body);
    vd__buf_free(&c.text);
    vd__buf_free(&c.tmp);
    return c.st;
}

/* Writers: the registry behind vd_doc_write and -f NAME, and the helpers
 * every writer shares (numbers, JSON and HTML escaping, plain text of a
 * block). Output is always valid UTF-8 whatever the tree holds. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "writer.h"

static const vd__writer *const writers[] = {
    &vd__writer_json, &vd__writer_md,    &vd__writer_html,
    &vd__writer_text, &vd__writer_jsonl, &vd__writer_qwenvl,
};
#define N_WRITERS (sizeof writers / sizeof *writers)

static const char *const names[] = { "json",  "md",     "html", "text",
                                     "jsonl", "qwenvl", NULL };

void vd_write_opts_init(vd_write_opts *o)
{
    memset(o, 0, sizeof *o);
}

const char *const *vd_writer_names(void)
{
    return names;
}

static const vd__writer *find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_WRITERS; i++)
        if (strcmp(writers[i]->name, name) == 0)
            return writers[i];
    if (strcmp(name, "markdown") == 0)
        return &vd__writer_md;
    if (strcmp(name, "txt") == 0)
        return &vd__writer_text;
    return NULL;
}

const char *vd_writer_ext(const char *name)
{
    const vd__writer *w = find(name);
    return w ? w->ext : NULL;
}

vd_status vd_doc_write(vd_ctx *ctx, const vd_doc *doc, const char *name,
                       const vd_write_opts *opts, vd_out *out)
{
    const vd__writer *w = find(name);
    if (!w)
        return vd__fail(ctx, VD_ERR_ARG,
                        "unknown output format '%s' (use json, md, html, "
                        "text, jsonl or qwenvl)",
                        name ? name : "(null)");
    vd_write_opts def;
    if (!opts) {
        vd_write_opts_init(&def);
        opts = &def;
    }
    return w->write(ctx, doc, opts, out);
}

/* ---- emitter helpers ---- */

void vd__w_printf(vd__w *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        vd__w_write(w, tmp, (size_t)n);
        return;
    }
    vd__w_flush(w);
    va_start(ap, fmt);
    vd_out_vprintf(w->o, fmt, ap);
    va_end(ap);
}

void vd__w_int(vd__w *w, long long v)
{
    char tmp[24];
    int i = sizeof tmp;
    unsigned long long u =
        v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    vd__w_write(w, tmp + i, sizeof tmp - (size_t)i);
}

void vd__w_num(vd__w *w, double v)
{
    if (!isfinite(v))
        v = 0; /* JSON has no NaN; boxes are clamped, this is a guard */
    double r = round(v * 100.0);
    if (fabs(r) >= 9e15) {
        vd__w_printf(w, "%.0f", v);
        return;
    }
    long long c = (long long)r;
    if (c < 0) {
        vd__w_putc(w, '-');
        c = -c;
    }
    vd__w_int(w, c / 100);
    int frac = (int)(c % 100);
    if (frac) {
        char d[3] = { '.', (char)('0' + frac / 10), (char)('0' + frac % 10) };
        vd__w_write(w, d, frac % 10 ? 3 : 2);
    }
}

void vd__w_json_string(vd__w *w, const char *s)
{
    vd__w_json_stringn(w, s, strlen(s));
}

void vd__w_json_stringn(vd__w *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, i = 0;
    vd__w_putc(w, '"');
    while (i < n) {
        unsigned char ch = p[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\' && ch < 0x80) {
            i++;
            continue;
        }
        if (ch >= 0x80) {
            int len = vd__utf8_seq(p + i, n - i);
            if (len > 0) {
                i += (size_t)len;
                continue;
            }
        }
        vd__w_write(w, s + run, i - run);
        switch (ch) {
        case '"':
            vd__w_write(w, "\\\"", 2);
            break;
        case '\\':
            vd__w_write(w, "\\\\", 2);
            break;
        case '\n':
            vd__w_write(w, "\\n", 2);
            break;
        case '\t':
            vd__w_write(w, "\\t", 2);
            break;
        case '\r':
            vd__w_write(w, "\\r", 2);
            break;
        default:
            if (ch < 0x20) {
                char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };
                vd__w_write(w, e, 6);
            } else {
                vd__w_write(w, "\xEF\xBF\xBD", 3); /* U+FFFD */
            }
        }
        i++;
        run = i;
    }
    vd__w_write(w, s + run, n - run);
    vd__w_putc(w, '"');
}

void vd__json_string(vd_out *o, const char *s)
{
    vd__w w;
    vd__w_init(&w, o);
    vd__w_json_string(&w, s);
    vd__w_flush(&w);
}

void vd__w_html(vd__w *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char ch = p[i];
        const char *rep;
        if (ch >= 0x80) {
            int len = vd__utf8_seq(p + i, n - i);
            if (len > 0) {
                i += (size_t)len;
                continue;
            }
            rep = "\xEF\xBF\xBD";
        } else if (ch == '&') {
            rep = "&amp;";
        } else if (ch == '<') {
            rep = "&lt;";
        } else if (ch == '>') {
            rep = "&gt;";
        } else if (ch == '"') {
            rep = "&quot;";
        } else if (ch < 0x20 && ch != '\n' && ch != '\t') {
            rep = "\xEF\xBF\xBD";
        } else {
            i++;
            continue;
        }
        vd__w_write(w, s + run, i - run);
        vd__w_puts(w, rep);
        i++;
        run = i;
    }
    vd__w_write(w, s + run, n - run);
}

/* ---- plain text of a block ---- */

typedef struct plain {
    vd__w *w;
    int derived, furniture;
    int any;
    const char *lead;
} plain;

static void plain_sep(plain *p)
{
    if (p->any)
        vd__w_putc(p->w, '\n');
    else if (p->lead)
        vd__w_puts(p->w, p->lead);
    p->any = 1;
}

static void plain_text(plain *p, const char *t)
{
    plain_sep(p);
    vd__w_puts(p->w, t);
}

static int skip(const plain *p, const vd_block *b)
{
    return (!p->derived && vd_block_derived(b)) ||
           (!p->furniture && vd__is_furniture(b));
}

static void plain_rec(plain *p, const vd_block *b, int indent);

static void plain_list(plain *p, const vd_block *l, int indent)
{
    int i = 1;
    for (const vd_block *it = vd_block_first_child(l); it;
         it = vd_block_next(it)) {
        if (skip(p, it))
            continue;
        plain_sep(p);
        for (int k = 0; k < indent; k++)
            vd__w_putc(p->w, ' ');
        if (vd_block_ordered(l)) {
            vd__w_int(p->w, i++);
            vd__w_write(p->w, ". ", 2);
        } else {
            vd__w_write(p->w, "- ", 2);
        }
        vd__w_puts(p->w, vd_block_text(it));
        for (const vd_block *k = vd_block_first_child(it); k;
             k = vd_block_next(k))
            plain_rec(p, k, indent + 2);
    }
}

static void plain_rec(plain *p, const vd_block *b, int indent)
{
    if (skip(p, b))
        return;
    switch (vd_block_kind_get(b)) {
    case VD_BLOCK_LIST:
        plain_list(p, b, indent);
        return;
    case VD_BLOCK_TABLE_ROW: {
        int first = 1;
        plain_sep(p);
        for (const vd_block *c = vd_block_first_child(b); c;
             c = vd_block_next(c)) {
            if (!first)
                vd__w_putc(p->w, '\t');
            first = 0;
            /* a cell is one line: its line breaks become spaces */
            const char *t = vd_block_text(c);
            for (const char *q = t;;) {
                const char *nl = strchr(q, '\n');
                if (!nl) {
                    vd__w_puts(p->w, q);
                    break;
                }
                vd__w_write(p->w, q, (size_t)(nl - q));
                vd__w_putc(p->w, ' ');
                q = nl + 1;
            }
        }
        return;
    }
    case VD_BLOCK_IMAGE:
        return;
    default:
        if (*vd_block_text(b))
            plain_text(p, vd_block_text(b));
        for (const vd_block *c = vd_block_first_child(b); c;
             c = vd_block_next(c))
            plain_rec(p, c, indent);
    }
}

int vd__plain_block(vd__w *w, const vd_block *b, int with_derived,
                    int with_furniture, const char *lead)
{
    plain p = { w, with_derived, with_furniture, 0, lead };
    plain_rec(&p, b, 0);
    return p.any;
}

/* Writers: the registry behind vd_doc_write and -f NAME. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "writer.h"

static const vd__writer *const writers[] = {
    &vd__writer_json,
    &vd__writer_md,
    &vd__writer_text,
    &vd__writer_qwenvl,
};
#define N_WRITERS (sizeof writers / sizeof *writers)

static const char *const names[] = { "json", "md", "text", "qwenvl", NULL };

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
                        "text or jsonl)",
                        name);
    vd_write_opts def;
    if (!opts) {
        vd_write_opts_init(&def);
        opts = &def;
    }
    return w->write(ctx, doc, opts, out);
}

void vd__json_string(vd_out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    vd_out_write(o, "\"", 1);
    size_t run = 0, i = 0;
    for (;;) {
        unsigned char ch = p[i];
        const char *esc = NULL;
        char tmp[8];
        size_t adv = 1;
        if (ch == 0)
            break;
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch == '\n')
            esc = "\\n";
        else if (ch == '\t')
            esc = "\\t";
        else if (ch == '\r')
            esc = "\\r";
        else if (ch < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", ch);
            esc = tmp;
        } else if (ch >= 0x80) {
            /* validate one UTF-8 sequence */
            int len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC2 ? 2 : 0;
            int ok = len > 0 && ch < 0xF5;
            for (int k = 1; ok && k < len; k++)
                ok = (p[i + k] & 0xC0) == 0x80;
            if (ok && len == 3) {
                unsigned cp = ((ch & 0x0Fu) << 12) |
                              ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
                ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
            } else if (ok && len == 4) {
                unsigned cp = ((ch & 0x07u) << 18) |
                              ((p[i + 1] & 0x3Fu) << 12) |
                              ((p[i + 2] & 0x3Fu) << 6) | (p[i + 3] & 0x3Fu);
                ok = cp >= 0x10000 && cp <= 0x10FFFF;
            }
            if (ok) {
                i += (size_t)len;
                continue;
            }
            esc = "\xEF\xBF\xBD"; /* U+FFFD */
        } else {
            i++;
            continue;
        }
        vd_out_write(o, p + run, i - run);
        vd_out_puts(o, esc);
        i += adv;
        run = i;
    }
    vd_out_write(o, p + run, i - run);
    vd_out_write(o, "\"", 1);
}

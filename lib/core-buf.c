/* Core: growable NUL-terminated byte buffers with a ceiling, for HTML,
 * JSON and prompts. Errors are sticky so writers can check once. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vd-private.h"

void vd__buf_init(vd__buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void vd__buf_free(vd__buf *b)
{
    vd__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void vd__buf_reset(vd__buf *b)
{
    b->len = 0;
    b->err = VD_OK;
    if (b->data)
        b->data[0] = '\0';
}

vd_status vd__buf_reserve(vd_ctx *ctx, vd__buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    size_t need;
    if (!vd__add_ok(b->len, extra, &need) || !vd__add_ok(need, 1, &need))
        return b->err = vd__fail(ctx, VD_ERR_NOMEM, "buffer size overflow");
    if (b->max && need > b->max + 1)
        return b->err =
                   vd__fail(ctx, VD_ERR_LIMIT,
                            "output exceeds the limit of %zu bytes", b->max);
    if (need <= b->cap)
        return VD_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = vd__realloc(ctx, b->data, cap);
    if (!d)
        return b->err = VD_ERR_NOMEM;
    b->data = d;
    b->cap = cap;
    return VD_OK;
}

vd_status vd__buf_append(vd_ctx *ctx, vd__buf *b, const void *p, size_t n)
{
    vd_status st = vd__buf_reserve(ctx, b, n);
    if (st)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return VD_OK;
}

vd_status vd__buf_puts(vd_ctx *ctx, vd__buf *b, const char *s)
{
    return vd__buf_append(ctx, b, s, strlen(s));
}

vd_status vd__buf_putc(vd_ctx *ctx, vd__buf *b, int c)
{
    char ch = (char)c;
    return vd__buf_append(ctx, b, &ch, 1);
}

vd_status vd__buf_vprintf(vd_ctx *ctx, vd__buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        return b->err = vd__fail(ctx, VD_ERR_INTERNAL, "bad format");
    vd_status st = vd__buf_reserve(ctx, b, (size_t)n);
    if (st)
        return st;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return VD_OK;
}

vd_status vd__buf_printf(vd_ctx *ctx, vd__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd_status st = vd__buf_vprintf(ctx, b, fmt, ap);
    va_end(ap);
    return st;
}

vd_status vd__buf_html_escape(vd_ctx *ctx, vd__buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        default:
            continue;
        }
        vd__buf_append(ctx, b, s + run, i - run);
        vd__buf_puts(ctx, b, rep);
        run = i + 1;
    }
    return vd__buf_append(ctx, b, s + run, n - run);
}

char *vd__buf_steal(vd__buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

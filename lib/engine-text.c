/* Engine "text": the PDF's own text layer, no model. Characters from
 * Poppler -> lines -> QwenVL HTML with data-bbox in the pixel space of the
 * page image a vision model would see, so every engine's boxes agree. */
#include "config.h"

#include <string.h>

#include "engine-private.h"
#include "input-private.h"

typedef struct text_state {
    vd_render_opts render;
} text_state;

static vd_status text_open(vd_ctx *ctx, const vd_engine_opts *o, void **st)
{
    text_state *t = vd__calloc(ctx, 1, sizeof *t);
    if (!t)
        return VD_ERR_NOMEM;
    t->render = o->render;
    *st = t;
    return VD_OK;
}

static void text_close(void *st)
{
    vd__free(st);
}

static int text_accepts(vd_ctx *ctx, void *st, vd_input *in)
{
    return vd_input_format(in) == VD_FORMAT_PDF && vd_input_has_text(ctx, in);
}

static vd_status put_utf8(vd_ctx *ctx, vd__buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp == '&')
        return vd__buf_puts(ctx, b, "&amp;");
    if (cp == '<')
        return vd__buf_puts(ctx, b, "&lt;");
    if (cp == '>')
        return vd__buf_puts(ctx, b, "&gt;");
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return vd__buf_append(ctx, b, u, n);
}

static vd_status text_page(vd_ctx *ctx, void *stv, vd_input *in, int page,
                           vd__page_out *out)
{
    text_state *ts = stv;
    vd_page_info info;
    vd_status st = vd_input_page_info(ctx, in, page, &info);
    if (st)
        return st;
    vd__page_geom g;
    st = vd__page_geometry(ctx, &info, &ts->render, &g);
    if (st)
        return st;
    out->map = g.map;
    vd__pdf_text t;
    st = vd__pdf_page_text(ctx, in, page, &t);
    if (st)
        return st;
    double sx = g.map.model_w / info.width, sy = g.map.model_h / info.height;
    vd__buf *b = &out->html;
    vd__buf_puts(ctx, b, "<html><body>\n");
    size_t i = 0;
    while (i < t.n) {
        size_t j = i;
        while (j < t.n && t.chars[j].cp != '\n')
            j++;
        float x1 = 1e30f, y1 = 1e30f, x2 = -1e30f, y2 = -1e30f;
        int ink = 0;
        for (size_t k = i; k < j; k++) {
            vd__pdf_char *c = &t.chars[k];
            if (c->cp == ' ')
                continue;
            ink = 1;
            x1 = c->x1 < x1 ? c->x1 : x1;
            y1 = c->y1 < y1 ? c->y1 : y1;
            x2 = c->x2 > x2 ? c->x2 : x2;
            y2 = c->y2 > y2 ? c->y2 : y2;
        }
        if (ink) {
            vd__buf_printf(ctx, b, "<p data-bbox=\"%d %d %d %d\">",
                           (int)(x1 * sx), (int)(y1 * sy), (int)(x2 * sx + 0.5),
                           (int)(y2 * sy + 0.5));
            for (size_t k = i; k < j; k++)
                put_utf8(ctx, b, t.chars[k].cp);
            vd__buf_puts(ctx, b, "</p>\n");
        }
        i = j + 1;
    }
    vd__buf_puts(ctx, b, "</body></html>\n");
    vd__pdf_text_free(&t);
    return b->err;
}

const vd__engine_vt vd__engine_text = {
    .name = "text",
    .open = text_open,
    .accepts = text_accepts,
    .page = text_page,
    .close = text_close,
};

/* Engine "html" (internal): the pass-through for QwenVL HTML the user
 * brings (-i qwenvl). The file's HTML is the engine output and its page
 * map comes from the image size given, so these pages take the same
 * HTML -> tree path as every engine. Chosen automatically for qwenvl
 * inputs and for nothing else; not selectable with --engine. */
#include "config.h"

#include <string.h>

#include "engine-private.h"
#include "input-private.h"

static vd_status html_open(vd_ctx *ctx, const vd_engine_opts *o, void **st)
{
    (void)o;
    /* stateless; a non-NULL state marks the engine open */
    *st = vd__calloc(ctx, 1, 1);
    return *st ? VD_OK : VD_ERR_NOMEM;
}

static void html_close(void *st)
{
    vd__free(st);
}

static int html_accepts(vd_ctx *ctx, void *st, vd_input *in)
{
    (void)ctx;
    (void)st;
    return vd_input_format(in) == VD_FORMAT_QWENVL;
}

static vd_status html_page(vd_ctx *ctx, void *st, vd_input *in, int page,
                           vd__page_out *out)
{
    (void)st;
    (void)page;
    if (vd_input_format(in) != VD_FORMAT_QWENVL)
        return vd__fail(ctx, VD_ERR_ARG,
                        "%s: the html engine reads QwenVL HTML inputs only",
                        vd_input_path(in));
    const char *html;
    size_t len;
    vd_status s = vd__qwenvl_page(in, &html, &len, &out->map);
    if (s)
        return s;
    return vd__buf_append(ctx, &out->html, html, len);
}

const vd__engine_vt vd__engine_html = {
    .name = "html",
    .open = html_open,
    .accepts = html_accepts,
    .page = html_page,
    .close = html_close,
};

/* Engine: the registry of engines and the one path every page takes:
 * engine -> QwenVL HTML -> libxml2 -> document tree. "auto" picks the text
 * layer when a PDF has one, else the local model when one is configured. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine-private.h"
#include "input-private.h"

static const vd__engine_vt *const engines[] = {
    &vd__engine_text,
    &vd__engine_qwen,
    &vd__engine_html, /* internal: QwenVL HTML inputs, see pick() */
};
#define N_ENGINES (sizeof engines / sizeof *engines)

static const char *const engine_names[] = { "text", "qwen", "remote", "auto",
                                            NULL };

struct vd_engine {
    vd_engine_opts opts;
    const vd__engine_vt *fixed; /* NULL for auto */
    void *state[N_ENGINES];     /* opened lazily for auto */
    vd_status open_status[N_ENGINES];
};

void vd_engine_opts_init(vd_engine_opts *o)
{
    memset(o, 0, sizeof *o);
    o->engine = "auto";
    vd_render_opts_init(&o->render);
    o->max_new_tokens = 8192;
    o->temperature = -1;
    o->top_k = -1;
    o->top_p = -1;
    o->repetition_penalty = -1;
    o->do_sample = -1;
    o->api_key_env = "VLDOC_API_KEY";
    o->jobs = 4;
    o->request_timeout = 600;
    o->retries = 4;
}

const char *const *vd_engine_names(void)
{
    return engine_names;
}

static int find(const char *name)
{
    for (size_t i = 0; i < N_ENGINES; i++)
        if (strcmp(engines[i]->name, name) == 0)
            return (int)i;
    return -1;
}

static vd_status ensure_open(vd_ctx *ctx, vd_engine *e, int i)
{
    if (e->state[i])
        return VD_OK;
    if (e->open_status[i])
        return vd__fail(ctx, e->open_status[i], "engine %s could not start",
                        engines[i]->name);
    vd_status st = engines[i]->open(ctx, &e->opts, &e->state[i]);
    e->open_status[i] = st;
    return st;
}

vd_status vd_engine_open(vd_ctx *ctx, const vd_engine_opts *opts,
                         vd_engine **out)
{
    *out = NULL;
    vd_engine_opts def;
    if (!opts) {
        vd_engine_opts_init(&def);
        opts = &def;
    }
    const char *name = opts->engine ? opts->engine : "auto";
    int idx = -1;
    if (strcmp(name, "auto") != 0) {
        idx = find(name);
        if (idx >= 0 && engines[idx] == &vd__engine_html)
            idx = -1; /* internal, not for --engine */
        if (idx < 0) {
            for (const char *const *n = engine_names; *n; n++)
                if (strcmp(*n, name) == 0)
                    return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                                    "engine '%s' is not built into this "
                                    "vldoc",
                                    name);
            return vd__fail(ctx, VD_ERR_ARG,
                            "unknown engine '%s' (use text, qwen, remote or "
                            "auto)",
                            name);
        }
    }
    vd_engine *e = vd__calloc(ctx, 1, sizeof *e);
    if (!e)
        return VD_ERR_NOMEM;
    e->opts = *opts;
    if (idx >= 0) {
        e->fixed = engines[idx];
        vd_status st = ensure_open(ctx, e, idx);
        if (st) {
            vd_engine_free(e);
            return st;
        }
    }
    *out = e;
    return VD_OK;
}

void vd_engine_free(vd_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < N_ENGINES; i++)
        if (e->state[i])
            engines[i]->close(e->state[i]);
    vd__free(e);
}

static vd_status pick(vd_ctx *ctx, vd_engine *e, vd_input *in, int *idx)
{
    /* QwenVL HTML from elsewhere is already engine output, whatever
     * engine was asked for */
    if (vd_input_format(in) == VD_FORMAT_QWENVL) {
        int h = find("html");
        vd_status st = ensure_open(ctx, e, h);
        if (st)
            return st;
        *idx = h;
        return VD_OK;
    }
    if (e->fixed) {
        *idx = find(e->fixed->name);
        return VD_OK;
    }
    int t = find("text");
    if (t >= 0 && vd_input_format(in) == VD_FORMAT_PDF) {
        vd_status st = ensure_open(ctx, e, t);
        if (st == VD_OK &&
            (!engines[t]->accepts ||
             engines[t]->accepts(ctx, e->state[t], in))) {
            *idx = t;
            return VD_OK;
        }
    }
    int q = find("qwen");
    if (q >= 0 && (e->opts.model_dir || getenv("VLDOC_MODEL"))) {
        vd_status st = ensure_open(ctx, e, q);
        if (st)
            return st;
        *idx = q;
        return VD_OK;
    }
    int r = find("remote");
    if (r >= 0 && e->opts.endpoint) {
        vd_status st = ensure_open(ctx, e, r);
        if (st)
            return st;
        *idx = r;
        return VD_OK;
    }
    return vd__fail(
        ctx, VD_ERR_MODEL,
        "%s: has no text layer, so it needs a vision model: download one "
        "with `vldoc pull Qwen/Qwen2.5-VL-3B-Instruct` and use --engine "
        "qwen, or point --engine remote --endpoint URL at a Qwen2.5-VL "
        "server",
        vd_input_path(in));
}

vd_status vd_engine_resolve(vd_ctx *ctx, vd_engine *e, vd_input *in,
                            const char **name)
{
    int idx;
    *name = NULL;
    vd_status st = pick(ctx, e, in, &idx);
    if (st == VD_OK)
        *name = engines[idx]->name;
    return st;
}

static vd_status run(vd_ctx *ctx, vd_engine *e, vd_input *in, int page,
                     vd__page_out *po)
{
    int idx;
    vd_status st = vd__input_check_page(ctx, in, page);
    if (st)
        return st;
    st = pick(ctx, e, in, &idx);
    if (st)
        return st;
    po->stats.engine = engines[idx]->name;
    double t0 = vd__now();
    st = engines[idx]->page(ctx, e->state[idx], in, page, po);
    po->stats.seconds = vd__now() - t0;
    return st;
}

vd_status vd_engine_page_html(vd_ctx *ctx, vd_engine *e, vd_input *in,
                              int page, char **html, size_t *len,
                              vd_pagemap *map, vd_page_stats *st_out)
{
    vd__page_out po;
    memset(&po, 0, sizeof po);
    vd__buf_init(&po.html, ctx->opts.limits.max_html_bytes);
    *html = NULL;
    vd_status st = run(ctx, e, in, page, &po);
    if (map)
        *map = po.map;
    if (st_out)
        *st_out = po.stats;
    if (st) {
        vd__buf_free(&po.html);
        return st;
    }
    if (!po.html.data && vd__buf_puts(ctx, &po.html, "") != VD_OK)
        return VD_ERR_NOMEM;
    *html = vd__buf_steal(&po.html, len);
    return VD_OK;
}

vd_status vd_engine_run_page(vd_ctx *ctx, vd_engine *e, vd_input *in,
                             int page, vd_doc *doc)
{
    vd__page_out po;
    memset(&po, 0, sizeof po);
    vd__buf_init(&po.html, ctx->opts.limits.max_html_bytes);
    vd_status st = run(ctx, e, in, page, &po);
    vd_status ret = st;
    vd_page *pg = NULL;
    if (st == VD_OK || po.html.len > 0) {
        /* a failed generation that produced text still yields its page */
        vd__errsave save;
        vd__err_save(ctx, &save);
        if (st)
            vd_ctx_clear(ctx);
        vd_status st2 = vd_doc_add_page_html(ctx, doc, page,
                                             po.html.data ? po.html.data : "",
                                             po.html.len, &po.map, &pg);
        if (st) {
            if (pg)
                vd_page_add_warning(ctx, doc, pg, save.msg);
            vd__err_restore(ctx, &save);
        } else {
            ret = st2;
        }
    }
    if (!pg) {
        const char *msg = vd_ctx_errmsg(ctx);
        vd_doc_add_page_error(ctx, doc, page, ret ? ret : VD_ERR_INTERNAL,
                              msg);
    } else {
        vd_page_set_stats(pg, &po.stats);
    }
    vd__buf_free(&po.html);
    return ret;
}

/* Engine: the registry of engines and the one path every page takes:
 * engine -> QwenVL HTML -> libxml2 -> document tree. "auto" picks the text
 * layer when a PDF has one, else the local model when one is configured.
 * Pages run one at a time (vd_engine_run_page) or many in flight
 * (vd_engine_submit / vd_engine_next), which engines without asynchronous
 * hooks satisfy by running each page when it is submitted. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-private.h"
#include "input-private.h"

static const vd__engine_vt *const engines[] = {
    &vd__engine_text,
    &vd__engine_qwen,
    &vd__engine_html, /* internal: QwenVL HTML inputs, see pick() */
#ifdef HAVE_CURL
    &vd__engine_remote,
#endif
};
#define N_ENGINES (sizeof engines / sizeof *engines)

static const char *const engine_names[] = { "text", "qwen", "remote", "auto",
                                            NULL };

/* The public handle of a task: what vd_engine_next hands out. */
struct vd_page_result {
    vd__task t;
};

struct vd_engine {
    vd_engine_opts opts;
    const vd__engine_vt *fixed; /* NULL for auto */
    void *state[N_ENGINES];     /* opened lazily for auto */
    vd_status open_status[N_ENGINES];
    int inflight[N_ENGINES];     /* tasks held by each async engine */
    vd__task *ready, *ready_end; /* finished, not yet returned (FIFO) */
    int pending;                 /* submitted, not yet returned */
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
    o->image_format = 0;
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
    /* async engines free the tasks they still hold in close */
    for (size_t i = 0; i < N_ENGINES; i++)
        if (e->state[i])
            engines[i]->close(e->state[i]);
    while (e->ready) {
        vd__task *t = e->ready;
        e->ready = t->next;
        vd__task_free(t);
    }
    vd__free(e);
}

void vd__engine_call_opts(const vd_engine_opts *d, const vd_engine_opts *c,
                          vd_engine_opts *eff)
{
    *eff = *d;
    if (!c)
        return;
    if (c->prompt)
        eff->prompt = c->prompt;
    if (c->system_prompt)
        eff->system_prompt = c->system_prompt;
    if (c->max_new_tokens > 0)
        eff->max_new_tokens = c->max_new_tokens;
    if (c->temperature >= 0)
        eff->temperature = c->temperature;
    if (c->top_k >= 0)
        eff->top_k = c->top_k;
    if (c->top_p >= 0)
        eff->top_p = c->top_p;
    if (c->repetition_penalty >= 0)
        eff->repetition_penalty = c->repetition_penalty;
    if (c->do_sample >= 0)
        eff->do_sample = c->do_sample;
    if (c->seed)
        eff->seed = c->seed;
    if (c->on_token) {
        eff->on_token = c->on_token;
        eff->on_token_user = c->on_token_user;
    }
    if (c->render.min_pixels > 0)
        eff->render.min_pixels = c->render.min_pixels;
    if (c->render.max_pixels > 0)
        eff->render.max_pixels = c->render.max_pixels;
}

void *vd__engine_state(vd_ctx *ctx, vd_engine *e, const char *name)
{
    int i = find(name);
    if (i < 0 || ensure_open(ctx, e, i) != VD_OK)
        return NULL;
    return e->state[i];
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
        if (st == VD_OK && (!engines[t]->accepts ||
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

static vd_status page_html(vd_ctx *ctx, vd_engine *e, vd_input *in, int page,
                           const vd_engine_opts *call, bool keep_partial,
                           char **html, size_t *len, vd_pagemap *map,
                           vd_page_stats *st_out)
{
    vd__page_out po;
    memset(&po, 0, sizeof po);
    vd__buf_init(&po.html, ctx->opts.limits.max_html_bytes);
    po.call = call;
    *html = NULL;
    if (len)
        *len = 0;
    vd_status st = run(ctx, e, in, page, &po);
    if (map)
        *map = po.map;
    if (st_out)
        *st_out = po.stats;
    if (st && !(keep_partial && po.html.len > 0)) {
        vd__buf_free(&po.html);
        return st;
    }
    if (st == VD_OK && po.warning[0])
        vd__warn(ctx, "%s", po.warning);
    if (!po.html.data && vd__buf_puts(ctx, &po.html, "") != VD_OK)
        return VD_ERR_NOMEM;
    *html = vd__buf_steal(&po.html, len);
    return st;
}

vd_status vd_engine_page_html_opts(vd_ctx *ctx, vd_engine *e, vd_input *in,
                                   int page, const vd_engine_opts *call,
                                   char **html, size_t *len, vd_pagemap *map,
                                   vd_page_stats *st_out)
{
    return page_html(ctx, e, in, page, call, true, html, len, map, st_out);
}

vd_status vd_engine_page_html(vd_ctx *ctx, vd_engine *e, vd_input *in, int page,
                              char **html, size_t *len, vd_pagemap *map,
                              vd_page_stats *st_out)
{
    return page_html(ctx, e, in, page, NULL, false, html, len, map, st_out);
}

/* Append the page that ST and PO describe to DOC. A failed run that still
 * produced HTML (a truncated generation) keeps it, with MSG as a warning;
 * one without HTML becomes an error page. The ctx is left holding the
 * page's failure, if any. */
static vd_status add_to_doc(vd_ctx *ctx, vd_doc *doc, int page,
                            const vd__page_out *po, vd_status st,
                            const char *msg)
{
    vd_status ret = st;
    vd_page *pg = NULL;
    char m[VD_ERRMSG_MAX];
    snprintf(m, sizeof m, "%s", st ? msg : "");
    if (st == VD_OK || po->html.len > 0) {
        vd_ctx_clear(ctx);
        vd_status st2 = vd_doc_add_page_html(ctx, doc, page,
                                             po->html.data ? po->html.data : "",
                                             po->html.len, &po->map, &pg);
        if (st == VD_OK) {
            ret = st2;
            if (st2)
                snprintf(m, sizeof m, "%s", vd_ctx_errmsg(ctx));
        }
        if (pg && st)
            vd_page_add_warning(ctx, doc, pg, m);
        if (pg && po->warning[0])
            vd_page_add_warning(ctx, doc, pg, po->warning);
    }
    if (!pg)
        vd_doc_add_page_error(ctx, doc, page, ret ? ret : VD_ERR_INTERNAL, m);
    else
        vd_page_set_stats(pg, &po->stats);
    if (ret) {
        vd_ctx_clear(ctx);
        vd__fail(ctx, ret, "%s", m);
    }
    return ret;
}

vd_status vd_engine_run_page(vd_ctx *ctx, vd_engine *e, vd_input *in, int page,
                             vd_doc *doc)
{
    vd__page_out po;
    memset(&po, 0, sizeof po);
    vd__buf_init(&po.html, ctx->opts.limits.max_html_bytes);
    vd_status st = run(ctx, e, in, page, &po);
    if (st && !vd_ctx_status(ctx))
        vd__fail(ctx, st, "%s: page %d: %s", vd_input_path(in), page + 1,
                 vd_status_str(st));
    char msg[VD_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", vd_ctx_errmsg(ctx));
    vd_status ret = add_to_doc(ctx, doc, page, &po, st, msg);
    vd__buf_free(&po.html);
    return ret;
}

/* ---- many pages in flight ---- */

void vd__task_finish(vd_ctx *ctx, vd__task *t, vd_status status)
{
    t->status = status;
    t->msg[0] = '\0';
    if (status == VD_OK)
        return;
    const char *m = ctx ? vd_ctx_errmsg(ctx) : "";
    if (m[0])
        snprintf(t->msg, sizeof t->msg, "%s", m);
    else
        snprintf(t->msg, sizeof t->msg, "%s: page %d: %s",
                 t->path ? t->path : "input", t->page + 1,
                 vd_status_str(status));
}

void vd__task_free(vd__task *t)
{
    if (!t)
        return;
    vd__buf_free(&t->out.html);
    vd__free(t->path);
    vd__free(t);
}

static void push_ready(vd_engine *e, vd__task *t)
{
    t->next = NULL;
    if (e->ready_end)
        e->ready_end->next = t;
    else
        e->ready = t;
    e->ready_end = t;
}

int vd_engine_jobs(vd_ctx *ctx, vd_engine *e, vd_input *in)
{
    int idx;
    vd__errsave save;
    vd__err_save(ctx, &save);
    vd_status st = pick(ctx, e, in, &idx);
    vd__err_restore(ctx, &save);
    if (st || !engines[idx]->submit)
        return 1;
    int n =
        engines[idx]->slots ? engines[idx]->slots(e->state[idx]) : e->opts.jobs;
    return n > 0 ? n : 1;
}

int vd_engine_pending(const vd_engine *e)
{
    return e->pending;
}

vd_status vd_engine_submit(vd_ctx *ctx, vd_engine *e, vd_input *in, int page,
                           void *user)
{
    if (!e || !in)
        return vd__fail(ctx, VD_ERR_ARG, "vd_engine_submit: no %s",
                        e ? "input" : "engine");
    vd__task *t = vd__calloc(ctx, 1, sizeof(struct vd_page_result));
    if (!t)
        return VD_ERR_NOMEM;
    t->path = vd__strdup(ctx, vd_input_path(in));
    if (!t->path) {
        vd__free(t);
        return VD_ERR_NOMEM;
    }
    t->page = page;
    t->user = user;
    vd__buf_init(&t->out.html, ctx->opts.limits.max_html_bytes);
    e->pending++;
    vd_ctx_clear(ctx);
    int idx = -1;
    vd_status st = vd__input_check_page(ctx, in, page);
    if (st == VD_OK)
        st = pick(ctx, e, in, &idx);
    if (st == VD_OK) {
        const vd__engine_vt *vt = engines[idx];
        t->out.stats.engine = vt->name;
        if (vt->submit) {
            st = vt->submit(ctx, e->state[idx], in, page, t);
            if (st == VD_OK) {
                e->inflight[idx]++;
                return VD_OK;
            }
        } else {
            double t0 = vd__now();
            st = vt->page(ctx, e->state[idx], in, page, &t->out);
            t->out.stats.seconds = vd__now() - t0;
        }
    }
    vd__task_finish(ctx, t, st);
    push_ready(e, t);
    return VD_OK;
}

vd_status vd_engine_next(vd_ctx *ctx, vd_engine *e, double timeout,
                         vd_page_result **out)
{
    *out = NULL;
    double deadline = timeout < 0 ? -1 : vd__now() + timeout;
    for (;;) {
        if (e->ready) {
            vd__task *t = e->ready;
            e->ready = t->next;
            if (!e->ready)
                e->ready_end = NULL;
            t->next = NULL;
            e->pending--;
            *out = (vd_page_result *)t;
            return VD_OK;
        }
        int busy = 0;
        double left = deadline < 0 ? 1.0 : deadline - vd__now();
        if (left < 0)
            left = 0;
        for (size_t i = 0; i < N_ENGINES; i++) {
            if (!e->inflight[i])
                continue;
            busy = 1;
            vd__task *done = NULL;
            engines[i]->poll(ctx, e->state[i], left, &done);
            while (done) {
                vd__task *t = done;
                done = t->next;
                e->inflight[i]--;
                push_ready(e, t);
            }
            if (e->ready)
                left = 0; /* collect others that finished, then return */
        }
        if (!busy && !e->ready)
            return VD_OK;
        if (!e->ready && deadline >= 0 && vd__now() >= deadline)
            return VD_OK;
    }
}

void *vd_page_result_user(const vd_page_result *r)
{
    return r->t.user;
}

int vd_page_result_page(const vd_page_result *r)
{
    return r->t.page;
}

vd_status vd_page_result_status(const vd_page_result *r)
{
    return r->t.status;
}

const char *vd_page_result_error(const vd_page_result *r)
{
    return r->t.status ? r->t.msg : "";
}

const vd_page_stats *vd_page_result_stats(const vd_page_result *r)
{
    return &r->t.out.stats;
}

const vd_pagemap *vd_page_result_map(const vd_page_result *r)
{
    return &r->t.out.map;
}

const char *vd_page_result_html(const vd_page_result *r, size_t *len)
{
    if (len)
        *len = r->t.out.html.len;
    return r->t.out.html.data ? r->t.out.html.data : "";
}

vd_status vd_page_result_append(vd_ctx *ctx, const vd_page_result *r,
                                vd_doc *doc)
{
    return add_to_doc(ctx, doc, r->t.page, &r->t.out, r->t.status, r->t.msg);
}

void vd_page_result_free(vd_page_result *r)
{
    if (r)
        vd__task_free(&r->t);
}

/* ---- page results across processes ----
 * The CLI's supervisor runs the engine in a worker process and builds the
 * documents in the parent, so a result travels as bytes: a fixed header,
 * then the path, the message, the warning and the HTML. Both ends are the
 * same binary, so the layout is native; the length checks only guard
 * against a worker that died mid-message. */

typedef struct packed_head {
    uint32_t magic;
    int32_t page, status;
    vd_pagemap map;
    vd_page_stats stats; /* engine travels as engine_ix, not a pointer */
    int32_t engine_ix;   /* index into engines[], or -1 */
    uint32_t path_len, msg_len, warn_len;
    uint64_t html_len;
} packed_head;

#define PACK_MAGIC 0x76647072u /* "vdpr" */

static int engine_index(const char *name)
{
    for (size_t i = 0; name && i < N_ENGINES; i++)
        if (strcmp(engines[i]->name, name) == 0)
            return (int)i;
    return -1;
}

vd_status vd_page_result_pack(vd_ctx *ctx, const vd_page_result *r, void **data,
                              size_t *len)
{
    const vd__task *t = &r->t;
    packed_head h;
    memset(&h, 0, sizeof h);
    h.magic = PACK_MAGIC;
    h.page = t->page;
    h.status = (int32_t)t->status;
    h.map = t->out.map;
    h.stats = t->out.stats;
    h.stats.engine = NULL;
    h.engine_ix = engine_index(t->out.stats.engine);
    h.path_len = t->path ? (uint32_t)strlen(t->path) : 0;
    h.msg_len = (uint32_t)strlen(t->msg);
    h.warn_len = (uint32_t)strnlen(t->out.warning, sizeof t->out.warning);
    h.html_len = t->out.html.len;
    size_t n = sizeof h + h.path_len + h.msg_len + h.warn_len + h.html_len;
    char *p = vd__malloc(ctx, n);
    if (!p)
        return VD_ERR_NOMEM;
    char *w = p;
    memcpy(w, &h, sizeof h);
    w += sizeof h;
    memcpy(w, t->path ? t->path : "", h.path_len);
    w += h.path_len;
    memcpy(w, t->msg, h.msg_len);
    w += h.msg_len;
    memcpy(w, t->out.warning, h.warn_len);
    w += h.warn_len;
    if (h.html_len)
        memcpy(w, t->out.html.data, h.html_len);
    *data = p;
    *len = n;
    return VD_OK;
}

vd_status vd_page_result_unpack(vd_ctx *ctx, const void *data, size_t len,
                                void *user, vd_page_result **out)
{
    *out = NULL;
    packed_head h;
    if (len < sizeof h)
        return vd__fail(ctx, VD_ERR_FORMAT, "page result: truncated");
    memcpy(&h, data, sizeof h);
    if (h.magic != PACK_MAGIC || h.msg_len >= VD_ERRMSG_MAX ||
        h.warn_len >= sizeof(((vd__page_out *)0)->warning) ||
        (uint64_t)h.path_len + h.msg_len + h.warn_len + h.html_len !=
            len - sizeof h)
        return vd__fail(ctx, VD_ERR_FORMAT, "page result: malformed");
    vd__task *t = vd__calloc(ctx, 1, sizeof(struct vd_page_result));
    if (!t)
        return VD_ERR_NOMEM;
    const char *p = (const char *)data + sizeof h;
    vd__buf_init(&t->out.html, ctx->opts.limits.max_html_bytes);
    t->path = vd__strndup(ctx, p, h.path_len);
    p += h.path_len;
    if (!t->path || (h.html_len && vd__buf_append(ctx, &t->out.html,
                                                  p + h.msg_len + h.warn_len,
                                                  (size_t)h.html_len))) {
        vd__task_free(t);
        return VD_ERR_NOMEM;
    }
    memcpy(t->msg, p, h.msg_len);
    memcpy(t->out.warning, p + h.msg_len, h.warn_len);
    t->page = h.page;
    t->status = (vd_status)h.status;
    t->user = user;
    t->out.map = h.map;
    t->out.stats = h.stats;
    t->out.stats.engine = h.engine_ix >= 0 && (size_t)h.engine_ix < N_ENGINES
                              ? engines[h.engine_ix]->name
                              : NULL;
    *out = (vd_page_result *)t;
    return VD_OK;
}

vd_status vd_page_result_new_error(vd_ctx *ctx, const char *path, int page,
                                   vd_status status, const char *msg,
                                   void *user, vd_page_result **out)
{
    *out = NULL;
    vd__task *t = vd__calloc(ctx, 1, sizeof(struct vd_page_result));
    if (!t)
        return VD_ERR_NOMEM;
    vd__buf_init(&t->out.html, ctx->opts.limits.max_html_bytes);
    if (!(t->path = vd__strdup(ctx, path))) {
        vd__task_free(t);
        return VD_ERR_NOMEM;
    }
    t->page = page;
    t->status = status ? status : VD_ERR_INTERNAL;
    t->user = user;
    snprintf(t->msg, sizeof t->msg, "%s", msg);
    *out = (vd_page_result *)t;
    return VD_OK;
}

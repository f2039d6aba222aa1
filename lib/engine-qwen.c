/* Engine "qwen": Qwen2.5-VL run locally. One page in: rendered at the
 * size the model sees (Qwen smart resize), pixel_values, the vision
 * tower, the document-parsing prompt, generation; QwenVL HTML out, its
 * data-bbox in model pixels with the page map that takes them to the
 * page. A page cut short by a limit still yields what was generated. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "engine-private.h"
#include "qwen.h"
#include "raster.h"

/* The document-parsing request that gives QwenVL HTML (qwenvl-html.md
 * section 2): the chat template's default system turn and this text
 * before the page image, exactly as the Qwen cookbook's saved run sent it
 * (trailing space included). */
#define QWEN_HTML_PROMPT "QwenVL HTML "

typedef struct qwen_engine {
    vd__qwen_model *m;
    vd__qwen_state *s; /* KV cache, kept from page to page */
    vd_engine_opts o;  /* strings below are owned copies */
    char *prompt, *system;
} qwen_engine;

static void qwen_close(void *state)
{
    qwen_engine *e = state;
    if (!e)
        return;
    vd__qwen_state_free(e->s);
    vd__qwen_free(e->m);
    vd__free(e->prompt);
    vd__free(e->system);
    vd__free(e);
}

static vd_status qwen_open(vd_ctx *ctx, const vd_engine_opts *opts,
                           void **state)
{
    *state = NULL;
    qwen_engine *e = vd__calloc(ctx, 1, sizeof *e);
    if (!e)
        return VD_ERR_NOMEM;
    e->o = *opts;
    if ((opts->prompt && !(e->prompt = vd__strdup(ctx, opts->prompt))) ||
        (opts->system_prompt &&
         !(e->system = vd__strdup(ctx, opts->system_prompt)))) {
        qwen_close(e);
        return VD_ERR_NOMEM;
    }
    e->o.prompt = e->o.system_prompt = NULL;
    e->o.model_dir = NULL;
    char *dir = NULL;
    double t0 = vd__now();
    vd_status st = vd__qwen_locate(ctx, opts->model_dir, &dir);
    unsigned lf = opts->weights == VD_WEIGHTS_Q8   ? VD_QWEN_LOAD_Q8
                  : opts->weights == VD_WEIGHTS_Q4 ? VD_QWEN_LOAD_Q4
                                                   : 0;
    if (st == VD_OK)
        st = vd__qwen_load(ctx, dir, lf, &e->m);
    vd__free(dir);
    if (st) {
        qwen_close(e);
        return st;
    }
    int f = e->m->cfg.vision.patch * e->m->cfg.vision.merge;
    if (f != 28) {
        /* the rasterizer sizes pages for Qwen2.5-VL's 28-pixel grid */
        vd_status s2 =
            vd__fail(ctx, VD_ERR_UNSUPPORTED,
                     "%s: patch %d x merge %d: only 28-pixel "
                     "merged patches are supported",
                     e->m->dir, e->m->cfg.vision.patch, e->m->cfg.vision.merge);
        qwen_close(e);
        return s2;
    }
    /* one session for every page: sized for what the model card allows,
     * its KV cache allocated as tokens arrive */
    st = vd__qwen_state_new(ctx, e->m, VD_QWEN_MAX_INPUT + VD_QWEN_MAX_OUTPUT,
                            &e->s);
    if (st == VD_OK && opts->kv_bf16)
        st = vd__qwen_state_set_kv(ctx, e->s, VD_DT_BF16);
    if (st) {
        qwen_close(e);
        return st;
    }
    vd__qwen_state_set_precision(e->s, opts->precision);
    vd__info(ctx,
             "qwen: %s: %.2f B parameters (%s, %.2f GB), loaded in %.2f s; "
             "%s precision, %s KV cache",
             e->m->dir, (double)e->m->n_params / 1e9, e->m->weights,
             (double)e->m->weight_bytes / 1e9, vd__now() - t0,
             opts->precision == VD_PREC_BF16   ? "bf16"
             : opts->precision == VD_PREC_INT8 ? "int8"
                                               : "exact",
             opts->kv_bf16 ? "bf16" : "fp32");
    *state = e;
    return VD_OK;
}

static int qwen_accepts(vd_ctx *ctx, void *state, vd_input *in)
{
    (void)ctx;
    (void)state;
    return vd_input_format(in) != VD_FORMAT_QWENVL;
}

/* Decoding settings: the model's generation_config.json, overridden by
 * whatever the caller set. */
static vd_status gen_opts(vd_ctx *ctx, const qwen_engine *e,
                          const vd_engine_opts *o, vd__qwen_gen_opts *go)
{
    vd__qwen_gen_opts_init(go, e->m);
    if (o->max_new_tokens > 0)
        go->max_new_tokens = o->max_new_tokens;
    else if (go->max_new_tokens > 8192)
        go->max_new_tokens = 8192;
    if (o->do_sample >= 0)
        go->do_sample = o->do_sample != 0;
    if (o->temperature >= 0)
        go->temperature = (float)o->temperature;
    if (o->top_k >= 0)
        go->top_k = o->top_k;
    if (o->top_p >= 0)
        go->top_p = (float)o->top_p;
    if (o->repetition_penalty > 0)
        go->repetition_penalty = (float)o->repetition_penalty;
    if (go->do_sample && !(go->temperature > 0))
        return vd__fail(ctx, VD_ERR_ARG, "sampling needs a temperature > 0");
    go->seed = o->seed;
    go->on_token = o->on_token;
    go->on_token_user = o->on_token_user;
    return VD_OK;
}

static vd_status qwen_page(vd_ctx *ctx, void *state, vd_input *in, int page,
                           vd__page_out *out)
{
    qwen_engine *e = state;
    const vd__qwen_model *m = e->m;
    /* a request's own settings (vldoc serve) over the open-time ones */
    vd_engine_opts call_o;
    vd__engine_call_opts(&e->o, out->call, &call_o);
    const vd_engine_opts *o = &call_o;
    const char *prompt =
        out->call && out->call->prompt ? out->call->prompt : e->prompt;
    const char *system = out->call && out->call->system_prompt
                             ? out->call->system_prompt
                             : e->system;
    const char *path = vd_input_path(in);
    double t0 = vd__now();
    double deadline = o->page_timeout > 0 ? t0 + o->page_timeout : 0;
    vd_page_stats *ps = &out->stats;

    vd__qwen_gen_opts go;
    vd_status st = gen_opts(ctx, e, o, &go);
    if (st)
        return st;

    /* the page exactly as the model sees it */
    vd_image *img = NULL;
    vd_page_geom geom;
    if ((st = vd_input_render_model(ctx, in, page, &o->render, &img, &geom)))
        return st;
    out->map = geom.map;

    vd__qwen_vision_opts vo;
    vd__qwen_vision_opts_init(&vo);
    vo.prec = o->precision;
    vo.deadline = deadline;
    vd__qwen_grid grid;
    float *emb = NULL, *x = NULL;
    vd__qwen_mm_prompt pr = { 0 };
    vd__qwen_gen_result res;
    memset(&res, 0, sizeof res);
    double t1 = vd__now();
    st = vd__qwen_image_embed(ctx, m, img, 0, 0, &vo, &grid, &emb);
    vd_image_free(img);
    ps->encode_seconds = vd__now() - t1;
    if (st)
        goto done;

    st = vd__qwen_mm_prompt_build(
        ctx, m, system, prompt ? prompt : QWEN_HTML_PROMPT, false, &grid, &pr);
    if (st)
        goto done;
    int64_t n = pr.ids.n, H = m->cfg.text.hidden;
    ps->prompt_tokens = (int)n;
    ps->image_tokens = (int)pr.n_img;
    if (!(x = vd__aligned_alloc(ctx, (size_t)n * (size_t)H * sizeof *x))) {
        st = VD_ERR_NOMEM;
        goto done;
    }
    if ((st = vd__qwen_mm_embed(ctx, m, pr.ids.v, n, emb, pr.n_img, x)))
        goto done;
    vd__aligned_free(emb);
    emb = NULL;

    if (deadline > 0) {
        go.timeout = deadline - vd__now();
        if (go.timeout <= 0) {
            st = vd__fail(ctx, VD_ERR_TIMEOUT,
                          "%s: page %d: the time limit of %g s ran out in "
                          "the vision encoder",
                          path, page + 1, o->page_timeout);
            goto done;
        }
    }
    if (n > VD_QWEN_MAX_INPUT) {
        st = vd__fail(ctx, VD_ERR_LIMIT,
                      "%s: page %d: a prompt of %lld tokens is over the "
                      "model's %d (try a smaller --max-pixels)",
                      path, page + 1, (long long)n, VD_QWEN_MAX_INPUT);
        goto done;
    }
    vd__qwen_state_reset(e->s);
    st = vd__qwen_generate(ctx, e->s, pr.ids.v, x, pr.pos, n, pr.delta, &go,
                           &res);
    vd__qwen_state_release(e->s);
    ps->prefill_seconds = res.t_prefill;
    ps->decode_seconds = res.t_decode;
    ps->generated_tokens = (int)res.ids.n;
    if (res.text.len &&
        vd__buf_append(ctx, &out->html, res.text.data, res.text.len) &&
        st == VD_OK)
        st = out->html.err;
    if (st)
        goto done;
    /* a page cut short keeps its text; the error becomes the page's
     * warning (lib/engine.c) and the run's exit status says so */
    switch (res.stop) {
    case VD_QWEN_STOP_MAX:
        ps->truncated = 1;
        st = vd__fail(ctx, VD_ERR_LIMIT,
                      "%s: page %d: output cut at the limit of %d new "
                      "tokens (--max-new-tokens)",
                      path, page + 1, go.max_new_tokens);
        break;
    case VD_QWEN_STOP_TIMEOUT:
        ps->truncated = 1;
        st = vd__fail(ctx, VD_ERR_TIMEOUT,
                      "%s: page %d: output cut at the page time limit of "
                      "%g s after %lld tokens (--page-timeout)",
                      path, page + 1, o->page_timeout, (long long)res.ids.n);
        break;
    case VD_QWEN_STOP_REPEAT:
        ps->repetition = 1;
        st = vd__fail(ctx, VD_ERR_LIMIT,
                      "%s: page %d: output stopped after %lld tokens: the "
                      "model was repeating a span of %d tokens",
                      path, page + 1, (long long)res.ids.n, res.repeat_period);
        break;
    case VD_QWEN_STOP_CALLBACK:
        st = vd__fail(ctx, VD_ERR_CANCELLED,
                      "%s: page %d: generation stopped by the caller", path,
                      page + 1);
        break;
    default:
        break;
    }
    vd__debug(ctx,
              "%s: page %d: qwen: image %dx%d (%lld tokens), encode %.2f s, "
              "prefill %lld tokens %.2f s, %lld tokens in %.2f s (%.1f "
              "tok/s), stop: %s",
              path, page + 1, geom.map.model_w, geom.map.model_h,
              (long long)pr.n_img, ps->encode_seconds, (long long)n,
              res.t_prefill, (long long)res.ids.n, res.t_decode,
              res.t_decode > 0 ? (double)res.ids.n / res.t_decode : 0.0,
              vd__qwen_stop_name(res.stop));

done:
    /* messages from the layers below do not know the file and page */
    if (st && strncmp(vd_ctx_errmsg(ctx), path, strlen(path)) != 0) {
        char why[VD_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", vd_ctx_errmsg(ctx));
        vd__refail(ctx, st, "%s: page %d: %s", path, page + 1, why);
    }
    vd__qwen_gen_result_free(&res);
    vd__qwen_mm_prompt_free(&pr);
    vd__aligned_free(emb);
    vd__aligned_free(x);
    return st;
}

const vd__engine_vt vd__engine_qwen = {
    .name = "qwen",
    .open = qwen_open,
    .accepts = qwen_accepts,
    .page = qwen_page,
    .close = qwen_close,
};

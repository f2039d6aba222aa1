/* Qwen2.5-VL, public face: vd_model (a located and loaded checkpoint) and
 * vd_model_generate (prompt -> template -> ids -> prefill -> decoding),
 * the library side of `vldoc generate`. Each call makes its own decoding
 * session, so a loaded model may serve several threads. */
#include "config.h"

#include <string.h>

#include "qwen.h"

struct vd_model {
    vd__qwen_model *q;
};

struct vd_generation {
    vd__ivec prompt;
    vd__qwen_gen_result r;
};

vd_status vd_model_load(vd_ctx *ctx, const char *dir, vd_model **out)
{
    return vd_model_load_weights(ctx, dir, VD_WEIGHTS_AS_STORED, out);
}

static unsigned load_flags(vd_weights w)
{
    return w == VD_WEIGHTS_Q8   ? VD_QWEN_LOAD_Q8
           : w == VD_WEIGHTS_Q4 ? VD_QWEN_LOAD_Q4
                                : 0;
}

vd_status vd_model_load_weights(vd_ctx *ctx, const char *dir,
                                vd_weights weights, vd_model **out)
{
    *out = NULL;
    char *path = NULL;
    vd_status s = vd__qwen_locate(ctx, dir, &path);
    if (s)
        return s;
    vd_model *m = vd__calloc(ctx, 1, sizeof *m);
    if (!m) {
        vd__free(path);
        return VD_ERR_NOMEM;
    }
    s = vd__qwen_load(ctx, path, load_flags(weights), &m->q);
    vd__free(path);
    if (s) {
        vd__free(m);
        return s;
    }
    *out = m;
    return VD_OK;
}

vd_status vd_model_quantize(vd_ctx *ctx, const char *src, const char *dst,
                            vd_weights weights)
{
    if (weights != VD_WEIGHTS_Q8 && weights != VD_WEIGHTS_Q4)
        return vd__fail(ctx, VD_ERR_ARG, "quantize: q8 or q4 only");
    if (!dst || !*dst)
        return vd__fail(ctx, VD_ERR_ARG, "quantize: no output folder");
    char *path = NULL;
    vd_status s = vd__qwen_locate(ctx, src, &path);
    if (s)
        return s;
    vd__qwen_model *m = NULL;
    s = vd__qwen_load(ctx, path,
                      load_flags(weights) | VD_QWEN_LOAD_NO_TOKENIZER, &m);
    vd__free(path);
    if (s == VD_OK)
        s = vd__qwen_save(ctx, m, dst);
    vd__qwen_free(m);
    return s;
}

void vd_model_free(vd_model *m)
{
    if (!m)
        return;
    vd__qwen_free(m->q);
    vd__free(m);
}

const char *vd_model_dir(const vd_model *m)
{
    return m->q->dir;
}

int64_t vd_model_params(const vd_model *m)
{
    return m->q->n_params;
}

void vd_generate_opts_init(vd_generate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_new_tokens = -1;
    o->do_sample = -1;
    o->temperature = -1;
    o->top_k = -1;
    o->top_p = -1;
    o->repetition_penalty = -1;
}

/* The image item of the prompt: smart resize within the budget, pixel
 * values, the vision tower (qwen-vision.c); hands back its grid and its
 * embeddings (vd__aligned_free). The time limit covers the tower too. */
static vd_status image_part(vd_ctx *ctx, const vd__qwen_model *m,
                            const vd_generate_opts *o, vd__qwen_grid *grid,
                            float **embeds)
{
    vd__qwen_vision_opts vo;
    vd__qwen_vision_opts_init(&vo);
    vo.prec = o->precision;
    if (o->timeout > 0)
        vo.deadline = vd__now() + o->timeout;
    return vd__qwen_image_embed(ctx, m, o->image, o->min_pixels, o->max_pixels,
                                &vo, grid, embeds);
}

vd_status vd_model_generate(vd_ctx *ctx, const vd_model *vm,
                            const vd_generate_opts *o, vd_generation **out)
{
    *out = NULL;
    const vd__qwen_model *m = vm->q;
    if (!o->prompt)
        return vd__fail(ctx, VD_ERR_ARG, "no prompt given");
    vd__qwen_gen_opts go;
    vd__qwen_gen_opts_init(&go, m);
    if (o->max_new_tokens > 0)
        go.max_new_tokens = o->max_new_tokens;
    if (o->do_sample >= 0)
        go.do_sample = o->do_sample != 0;
    if (o->temperature >= 0)
        go.temperature = (float)o->temperature;
    if (o->top_k >= 0)
        go.top_k = o->top_k;
    if (o->top_p >= 0)
        go.top_p = (float)o->top_p;
    if (o->repetition_penalty > 0)
        go.repetition_penalty = (float)o->repetition_penalty;
    if (go.do_sample && go.temperature <= 0)
        return vd__fail(ctx, VD_ERR_ARG, "sampling needs a temperature > 0");
    go.seed = o->seed;
    go.timeout = o->timeout;
    go.on_token = o->on_token;
    go.on_token_user = o->on_token_user;

    vd_generation *g = vd__calloc(ctx, 1, sizeof *g);
    if (!g)
        return VD_ERR_NOMEM;
    vd__buf text;
    vd__buf_init(&text, 0);
    vd__qwen_grid grid = { 0, 0, 0 };
    float *img = NULL, *x = NULL;
    int32_t *pos = NULL;
    vd__qwen_state *st = NULL;
    int64_t delta = 0, npad = 0;
    vd_status s = VD_OK;
    if (o->image) {
        if ((s = image_part(ctx, m, o, &grid, &img)))
            goto fail;
        int M = m->cfg.vision.merge;
        npad = (int64_t)grid.t * (grid.h / M) * (grid.w / M);
    }
    if (o->raw) {
        s = vd__buf_puts(ctx, &text, o->prompt);
    } else {
        vd__qwen_msg msgs[2];
        vd__qwen_part parts[2] = { { VD_QWEN_IMAGE, NULL, npad },
                                   { VD_QWEN_TEXT, o->prompt, 0 } };
        int n = 0;
        if (o->system_prompt)
            msgs[n++] = (vd__qwen_msg){ "system", o->system_prompt, NULL, 0 };
        if (o->image)
            msgs[n++] = (vd__qwen_msg){ "user", NULL, parts, 2 };
        else
            msgs[n++] = (vd__qwen_msg){ "user", o->prompt, NULL, 0 };
        s = vd__qwen_chat_render(ctx, msgs, n, true, &text);
    }
    if (s || (s = vd__qwen_tok_encode(ctx, m->tok, text.data ? text.data : "",
                                      text.len, &g->prompt)))
        goto fail;
    int64_t n = g->prompt.n;
    if (n == 0) {
        s = vd__fail(ctx, VD_ERR_ARG, "the prompt is empty");
        goto fail;
    }
    if (o->image || npad) {
        /* image rows scattered into the token embeddings, in order */
        int H = m->cfg.text.hidden;
        pos = vd__malloc(ctx, (size_t)n * 3 * sizeof *pos);
        x = vd__aligned_alloc(ctx, (size_t)n * (size_t)H * sizeof *x);
        if (!pos || !x) {
            s = VD_ERR_NOMEM;
            goto fail;
        }
        if ((s = vd__qwen_rope_index(ctx, &m->cfg, g->prompt.v, n, &grid, 1,
                                     NULL, pos, &delta)) ||
            (s = vd__qwen_embed(ctx, m, g->prompt.v, n, x)))
            goto fail;
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (g->prompt.v[i] == m->cfg.image_token_id && k < npad)
                memcpy(x + i * H, img + (k++) * H, (size_t)H * sizeof *x);
    }
    if ((s = vd__qwen_state_new(ctx, m, n + go.max_new_tokens, &st)) ||
        (o->kv_bf16 && (s = vd__qwen_state_set_kv(ctx, st, VD_DT_BF16))))
        goto fail;
    vd__qwen_state_set_precision(st, o->precision);
    s = vd__qwen_generate(ctx, st, g->prompt.v, x, pos, n, delta, &go, &g->r);
    if (s)
        goto fail;
    vd__qwen_state_free(st);
    vd__buf_free(&text);
    vd__aligned_free(img);
    vd__aligned_free(x);
    vd__free(pos);
    *out = g;
    return VD_OK;
fail:
    vd__qwen_state_free(st);
    vd__buf_free(&text);
    vd__aligned_free(img);
    vd__aligned_free(x);
    vd__free(pos);
    vd_generation_free(g);
    return s;
}

void vd_generation_free(vd_generation *g)
{
    if (!g)
        return;
    vd__ivec_free(&g->prompt);
    vd__qwen_gen_result_free(&g->r);
    vd__free(g);
}

const char *vd_generation_text(const vd_generation *g, size_t *len)
{
    if (len)
        *len = g->r.text.len;
    return g->r.text.data ? g->r.text.data : "";
}

const int32_t *vd_generation_prompt_ids(const vd_generation *g, size_t *n)
{
    *n = (size_t)g->prompt.n;
    return g->prompt.v;
}

const int32_t *vd_generation_ids(const vd_generation *g, size_t *n)
{
    *n = (size_t)g->r.ids.n;
    return g->r.ids.v;
}

const char *vd_generation_stop(const vd_generation *g)
{
    return vd__qwen_stop_name(g->r.stop);
}

void vd_generation_times(const vd_generation *g, double *prefill,
                         double *decode)
{
    if (prefill)
        *prefill = g->r.t_prefill;
    if (decode)
        *decode = g->r.t_decode;
}

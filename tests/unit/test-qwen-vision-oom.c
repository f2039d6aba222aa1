/* Out-of-memory sweep over the multimodal path (lib/qwen-vision.c,
 * lib/engine-qwen.c): one image through the tower, the multimodal prompt
 * with its embeddings, and a whole page through the qwen engine (render,
 * tower, prompt, generation) fail at every allocation in turn and must
 * return VD_ERR_NOMEM with nothing leaked, then succeed once no allocation
 * fails. */
#include "config.h"

#include <string.h>

#include "../refs/qwen-refs.h"
#include "engine-private.h"

typedef vd_status (*step_fn)(vd_ctx *ctx, void *arg);

/* Run FN failing allocation 1, 2, ... until it succeeds. */
static void sweep(const char *what, step_fn fn, void *arg)
{
    long base = vd__alloc_live();
    int n, bad = 0;
    vd_status s = VD_ERR_NOMEM;
    for (n = 1; n < 5000; n++) {
        vd_opts o;
        vd_opts_init(&o);
        o.threads = 1;
        vd_ctx *ctx = vd_ctx_new(&o);
        vd__alloc_fail_at(n);
        s = fn(ctx, arg);
        long left = vd__alloc_fail_at(0);
        if (s != VD_OK && s != VD_ERR_NOMEM)
            tap_diag("%s: allocation %d: %s", what, n, vd_ctx_errmsg(ctx));
        vd_ctx_free(ctx);
        if (vd__alloc_live() != base || (s != VD_OK && s != VD_ERR_NOMEM)) {
            if (!bad++)
                tap_diag("%s: failing allocation %d: status %d, %ld live", what,
                         n, s, vd__alloc_live() - base);
        }
        if (left > 0) /* the N-th allocation never came: done */
            break;
    }
    tap_ok(s == VD_OK && !bad,
           "%s: every one of %d allocations can fail cleanly", what, n - 1);
}

typedef struct fixture {
    vd__qwen_model *m;
    vd_image *img; /* img_a, 300 x 200: resized on the way in */
    vd_input *in;  /* corpus/invoice.pdf, drawn straight at 56 x 56 */
    vd_engine *eng;
} fixture;

static vd_status tower(vd_ctx *ctx, void *arg)
{
    fixture *f = arg;
    vd__qwen_grid g;
    float *e = NULL;
    vd_status s = vd__qwen_image_embed(ctx, f->m, f->img, 0, 0, NULL, &g, &e);
    vd__aligned_free(e);
    return s;
}

static vd_status prompt(vd_ctx *ctx, void *arg)
{
    fixture *f = arg;
    vd__qwen_grid g = { 1, 4, 6 };
    vd__qwen_mm_prompt pr;
    vd_status s = vd__qwen_mm_prompt_build(ctx, f->m, "Be brief.",
                                           "QwenVL HTML ", false, &g, &pr);
    if (s)
        return s;
    int64_t H = f->m->cfg.text.hidden;
    float *img = vd__calloc(ctx, (size_t)(pr.n_img * H), sizeof *img);
    float *x = vd__malloc(ctx, (size_t)(pr.ids.n * H) * sizeof *x);
    if (!img || !x)
        s = VD_ERR_NOMEM;
    else
        s = vd__qwen_mm_embed(ctx, f->m, pr.ids.v, pr.ids.n, img, pr.n_img, x);
    vd__free(img);
    vd__free(x);
    vd__qwen_mm_prompt_free(&pr);
    return s;
}

static vd_status page(vd_ctx *ctx, void *arg)
{
    fixture *f = arg;
    char *html = NULL;
    size_t len = 0;
    vd_pagemap map;
    vd_page_stats st;
    vd_status s =
        vd_engine_page_html(ctx, f->eng, f->in, 0, &html, &len, &map, &st);
    vd_free(html);
    /* the tiny model never stops by itself: the token limit is expected */
    return s == VD_ERR_LIMIT ? VD_OK : s;
}

int main(void)
{
    const char *shared = vrefs_shared_or_skip();
    tap_plan_late();
    const char *dir = "test-qwen-vision-oom.tiny.tmp";
    refs_model_dir(shared, "tiny", dir);
    vd_opts o;
    vd_opts_init(&o);
    o.threads = 1;
    vd_ctx *ctx = vd_ctx_new(&o);
    fixture f = { 0 };
    char p[1024];
    vd_status s = vd__qwen_load(ctx, dir, 0, &f.m);
    snprintf(p, sizeof p, "%s/refs/qwen25vl/images/img_a_300x200.png", shared);
    vd_input *ina = NULL;
    if (s == VD_OK && (s = vd_input_open(ctx, p, NULL, &ina)) == VD_OK)
        s = vd_input_render(ctx, ina, 0, NULL, &f.img);
    vd_input_free(ina);
    /* a PDF: Poppler's allocations are its own, so every failure here is
     * one of ours (the image decoders are swept by their own tests) */
    const char *src = getenv("VLDOC_SRCDIR");
    snprintf(p, sizeof p, "%s/corpus/invoice.pdf", src ? src : "..");
    if (s == VD_OK)
        s = vd_input_open(ctx, p, NULL, &f.in);
    vd_engine_opts eo;
    vd_engine_opts_init(&eo);
    eo.engine = "qwen";
    eo.model_dir = dir;
    eo.render.min_pixels = 3136;
    eo.render.max_pixels = 3136;
    eo.max_new_tokens = 3;
    if (s == VD_OK)
        s = vd_engine_open(ctx, &eo, &f.eng);
    if (tap_ok(s == VD_OK, "fixture: model, images, engine (%s)",
               vd_ctx_errmsg(ctx))) {
        sweep("vision tower on a resized image", tower, &f);
        sweep("multimodal prompt and embeddings", prompt, &f);
        page(ctx, &f); /* the engine's KV cache is made once, here */
        sweep("a page through the qwen engine", page, &f);
    }
    vd_engine_free(f.eng);
    vd_input_free(f.in);
    vd_image_free(f.img);
    vd__qwen_free(f.m);
    vd_ctx_free(ctx);
    vrefs_model_dir_remove(dir);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

/* Reference test for multimodal generation (lib/qwen-vision.c's prompt,
 * embedding scatter and image path, on part 1's decoder) against Hugging
 * Face on both tiny checkpoints and every image case: the prompt's input
 * ids, 3-D position ids and rope_deltas exact; the decoder input
 * embeddings with the image rows scattered in, every layer and the final
 * norm at the debug positions, every position's hidden state and the final
 * logits within the README's tolerance; and the 20-token greedy
 * continuation token for token, with its decode positions. The image goes
 * the engine's way: rendered at the processor's budget, pixel_values,
 * vision tower (img_b's 5504-patch tower is checked by test-qwen-vision;
 * here its reference embeddings feed the decoder, to stay fast). */
#include "config.h"

#include <json-c/json.h>

#include "qwen-refs.h"

#define NDBG 12

typedef struct probe {
    int64_t pos[NDBG];
    int H, L;
    float *embed, *layers, *norm; /* (NDBG, H), (L, NDBG, H), (NDBG, H) */
} probe;

static void on_probe(void *user, const char *what, int layer, const float *x,
                     int64_t n, int64_t width)
{
    probe *p = user;
    for (int k = 0; k < NDBG; k++) {
        int64_t r = p->pos[k];
        if (r < 0 || r >= n) /* the prompt runs in one call */
            continue;
        float *dst = !strcmp(what, "embed") ? p->embed + k * width
                     : !strcmp(what, "norm")
                         ? p->norm + k * width
                         : p->layers + ((int64_t)layer * NDBG + k) * width;
        memcpy(dst, x + r * width, (size_t)width * sizeof(float));
    }
}

static json_object *manifest;

static const char *question(const char *shared, const char *cname)
{
    char p[1024];
    if (!manifest) {
        snprintf(p, sizeof p, "%s/refs/qwen25vl/manifest.json", shared);
        manifest = json_object_from_file(p);
    }
    snprintf(p, sizeof p, "processor/%s.safetensors", cname);
    json_object *f =
        json_object_object_get(json_object_object_get(manifest, "files"), p);
    return json_object_get_string(json_object_object_get(f, "question"));
}

static void run_case(vd_ctx *ctx, const char *shared, const char *model,
                     const vd__qwen_model *m, const ref_case *c)
{
    int H = m->cfg.text.hidden, L = m->cfg.text.n_layer;
    int V = m->cfg.text.vocab;
    char what[200];
    vd__safetensors *ps = vrefs_open(shared, "processor", c->name);
    vd__safetensors *rs = vrefs_open(shared, model, c->name);

    /* the image: pixels -> tower, or img_b's reference embeddings */
    vd__qwen_grid g = { 0, 0, 0 };
    float *img = NULL;
    int64_t n_img = 0;
    vd_status st;
    if (strcmp(c->name, "img_b") == 0) {
        int64_t *thw = refs_i64(ps, "image_grid_thw", NULL);
        if (thw)
            g = (vd__qwen_grid){ (int)thw[0], (int)thw[1], (int)thw[2] };
        free(thw);
        img = refs_f32(rs, "image_embeds", &n_img);
        n_img /= H;
        st = img ? VD_OK : VD_ERR_FORMAT;
    } else {
        float *pv = NULL;
        int64_t rows = 0;
        st = vrefs_pixel_values(ctx, shared, c, &m->cfg, &pv, &rows, &g);
        n_img = vd__qwen_image_tokens(&m->cfg, &g);
        if (st == VD_OK && (img = malloc((size_t)(n_img * H) * 4)))
            st = vd__qwen_vision_encode(ctx, m, pv, &g, NULL, img);
        vd__aligned_free(pv);
    }
    if (!tap_ok(st == VD_OK, "%s/%s: image embeddings (%s)", model, c->name,
                vd_ctx_errmsg(ctx))) {
        free(img);
        vd__st_close(ps);
        vd__st_close(rs);
        return;
    }

    /* prompt: [image, question] as the reference's one user message */
    vd__qwen_mm_prompt pr;
    st = vd__qwen_mm_prompt_build(ctx, m, NULL, question(shared, c->name), true,
                                  &g, &pr);
    int64_t n = pr.ids.n, nw = 0;
    int64_t *want = refs_i64(ps, "input_ids", &nw);
    int ok = st == VD_OK && want && nw == n && pr.n_img == n_img;
    for (int64_t i = 0; ok && i < n; i++)
        ok = pr.ids.v[i] == want[i];
    tap_ok(ok, "%s/%s: input ids equal (%lld tokens, %lld image)", model,
           c->name, (long long)n, (long long)pr.n_img);
    free(want);
    int64_t *wpos = refs_i64(rs, "position_ids", &nw);
    int64_t *wdelta = refs_i64(rs, "rope_deltas", NULL);
    ok = st == VD_OK && wpos && nw == 3 * n && wdelta && *wdelta == pr.delta;
    for (int64_t i = 0; ok && i < n; i++)
        for (int a = 0; a < 3; a++)
            ok = ok && pr.pos[3 * i + a] == wpos[a * n + i];
    tap_ok(ok, "%s/%s: 3-D position ids and rope delta %lld equal", model,
           c->name, (long long)pr.delta);
    free(wpos);
    free(wdelta);
    if (st) {
        free(img);
        vd__st_close(ps);
        vd__st_close(rs);
        return;
    }

    /* prefill, observed at the debug positions */
    probe pb = { .H = H, .L = L };
    int64_t *dp = refs_i64(rs, "debug_positions", &nw);
    for (int k = 0; k < NDBG; k++)
        pb.pos[k] = dp && nw == NDBG ? dp[k] : -1;
    free(dp);
    pb.embed = calloc(NDBG * (size_t)H, sizeof(float));
    pb.norm = calloc(NDBG * (size_t)H, sizeof(float));
    pb.layers = calloc(NDBG * (size_t)H * (size_t)L, sizeof(float));
    float *x = calloc((size_t)(n * H), sizeof(float));
    float *hid = calloc((size_t)(n * H), sizeof(float));
    float *logits = calloc((size_t)V, sizeof(float));
    vd__qwen_state *s = NULL;
    vd_ctx_clear(ctx);
    st = vd__qwen_mm_embed(ctx, m, pr.ids.v, n, img, n_img, x);
    if (st == VD_OK)
        st = vd__qwen_state_new(ctx, m, n + 24, &s);
    if (st == VD_OK) {
        vd__qwen_state_set_batch(s, (int)n); /* one call: probe rows = ids */
        vd__qwen_state_set_probe(s, on_probe, &pb);
        st = vd__qwen_forward(ctx, s, x, pr.pos, n, hid, logits);
    }
    tap_ok(st == VD_OK, "%s/%s: prefill (%s)", model, c->name,
           vd_ctx_errmsg(ctx));
    float *w;
    int64_t wn;
    w = refs_f32(rs, "debug_inputs_embeds", &wn);
    snprintf(what, sizeof what, "%s/%s: input embeddings, image rows in", model,
             c->name);
    vrefs_check(what, pb.embed, w, wn == NDBG * H ? wn : 0);
    free(w);
    w = refs_f32(rs, "debug_layer_outputs", &wn);
    int lok = w && wn == (int64_t)L * NDBG * H;
    double worst = 0;
    for (int l = 0; lok && l < L; l++) {
        double mref,
            d = vrefs_maxdiff(pb.layers + (int64_t)l * NDBG * H,
                              w + (int64_t)l * NDBG * H, NDBG * H, &mref);
        lok = d <= (REFS_ABS_TOL > REFS_REL_TOL * mref ? REFS_ABS_TOL
                                                       : REFS_REL_TOL * mref);
        worst = d > worst ? d : worst;
    }
    tap_ok(lok,
           "%s/%s: %d decoder layers at the debug positions (worst "
           "|diff| %.3g)",
           model, c->name, L, worst);
    free(w);
    w = refs_f32(rs, "debug_final_norm", &wn);
    snprintf(what, sizeof what, "%s/%s: final norm", model, c->name);
    vrefs_check(what, pb.norm, w, wn == NDBG * H ? wn : 0);
    free(w);
    w = refs_f32(rs, "last_hidden_state", &wn);
    snprintf(what, sizeof what, "%s/%s: hidden state at all %lld positions",
             model, c->name, (long long)n);
    vrefs_check(what, hid, w, wn == n * H ? wn : 0);
    free(w);
    w = refs_f32(rs, "logits_last", &wn);
    snprintf(what, sizeof what, "%s/%s: final logits", model, c->name);
    vrefs_check(what, logits, w, wn == V ? wn : 0);
    free(w);

    /* greedy continuation through vd__qwen_generate */
    int64_t *gen = refs_i64(rs, "generated_ids", &nw);
    int64_t *gpos = refs_i64(rs, "gen_step_position", NULL);
    vd__qwen_state_set_probe(s, NULL, NULL);
    vd__qwen_state_reset(s);
    vd__qwen_gen_opts o;
    vd__qwen_gen_opts_init(&o, m);
    o.max_new_tokens = 20;
    o.repetition_penalty = 1.0f;
    o.do_sample = false;
    vd__qwen_gen_result res;
    st = vd__qwen_generate(ctx, s, pr.ids.v, x, pr.pos, n, pr.delta, &o, &res);
    int same = 0;
    for (int k = 0; st == VD_OK && gen && nw == 20 && k < res.ids.n; k++)
        same += res.ids.v[k] == gen[k];
    tap_ok(st == VD_OK && same == 20 && res.ids.n == 20,
           "%s/%s: greedy continuation equal, %d of 20 tokens", model, c->name,
           same);
    ok = gpos != NULL;
    for (int k = 0; ok && k < 20; k++)
        ok = n + k + pr.delta == gpos[k];
    tap_ok(ok, "%s/%s: decode positions = index + rope delta", model, c->name);
    vd__qwen_gen_result_free(&res);
    free(gen);
    free(gpos);

    vd__qwen_state_free(s);
    free(pb.embed);
    free(pb.norm);
    free(pb.layers);
    free(x);
    free(hid);
    free(logits);
    free(img);
    vd__qwen_mm_prompt_free(&pr);
    vd__st_close(ps);
    vd__st_close(rs);
}

int main(void)
{
    const char *shared = vrefs_shared_or_skip();
    vd_opts opts;
    vd_opts_init(&opts);
    opts.threads = 2;
    vd_ctx *ctx = vd_ctx_new(&opts);
    tap_plan_late();
    for (int mi = 0; mi < 2; mi++) {
        char dir[256];
        snprintf(dir, sizeof dir, "test-qwen-mm.%s.tmp", ref_models[mi]);
        refs_model_dir(shared, ref_models[mi], dir);
        vd__qwen_model *m = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd__qwen_load(ctx, dir, 0, &m);
        if (!tap_ok(st == VD_OK, "%s: load with tokenizer (%s)", ref_models[mi],
                    vd_ctx_errmsg(ctx))) {
            vrefs_model_dir_remove(dir);
            continue;
        }
        for (int c = 0; c < N_REF_CASES; c++)
            run_case(ctx, shared, ref_models[mi], m, &ref_cases[c]);
        vd__qwen_free(m);
        vrefs_model_dir_remove(dir);
    }
    json_object_put(manifest);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

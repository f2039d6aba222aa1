/* Reference test for the text decoder and generation (lib/qwen-text.c,
 * lib/qwen-gen.c, lib/qwen-prompt.c) on both shared tiny checkpoints and
 * the text-only reference prompt: chat template and input ids, position
 * ids, input embeddings, every layer's residual stream, the final norm,
 * all-position hidden states and logits within the README's tolerance;
 * the 20-token greedy continuation token for token (step by step against
 * HF's top-5 logits, and through vd__qwen_generate with its text); the
 * same logits whatever the prefill batch size. */
#include "config.h"

#include <json-c/json.h>

#include "qwen.h"
#include "refs.h"

/* Collects the rows of the probe points at the reference's debug
 * positions. */
typedef struct probe {
    int64_t pos[8];
    int npos;
    int H, L;
    int64_t base;  /* sequence index of the first row of the call */
    float *embed;  /* (8, H) */
    float *layers; /* (L, 8, H) */
    float *norm;   /* (8, H) */
} probe;

static void on_probe(void *user, const char *what, int layer, const float *x,
                     int64_t n, int64_t width)
{
    probe *p = user;
    for (int k = 0; k < p->npos; k++) {
        int64_t r = p->pos[k] - p->base;
        if (r < 0 || r >= n)
            continue;
        float *dst = !strcmp(what, "embed") ? p->embed + k * width
                     : !strcmp(what, "norm")
                         ? p->norm + k * width
                         : p->layers + ((int64_t)layer * p->npos + k) * width;
        memcpy(dst, x + r * width, (size_t)width * sizeof(float));
    }
}

static json_object *manifest;

static json_object *manifest_entry(const char *shared, const char *key)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/refs/qwen25vl/manifest.json", shared);
    if (!manifest)
        manifest = json_object_from_file(p);
    json_object *root = manifest;
    json_object *files = json_object_object_get(root, "files");
    return json_object_object_get(files, key);
}

static void check_close(const char *what, const float *got, const float *want,
                        int64_t n)
{
    double md = -1;
    bool ok = got && want && refs_close(got, want, n, &md);
    tap_ok(ok, "%s within tolerance (max diff %.2g)", what, md);
}

static void run_model(vd_ctx *ctx, const char *shared, const char *name)
{
    char dir[512];
    snprintf(dir, sizeof dir, "test-qwen-text.%s.tmp", name);
    refs_model_dir(shared, name, dir);
    vd__qwen_model *m = NULL;
    vd_ctx_clear(ctx);
    vd_status s = vd__qwen_load(ctx, dir, 0, &m);
    tap_ok(s == VD_OK, "%s: loads with tokenizer: %s", name,
           vd_ctx_errmsg(ctx));
    if (s)
        return;
    int H = m->cfg.text.hidden, L = m->cfg.text.n_layer;
    int V = m->cfg.text.vocab;

    /* prompt: template, ids, positions */
    json_object *pm = manifest_entry(shared, "processor/text.safetensors");
    json_object *msgs = json_object_object_get(pm, "messages");
    json_object *m0 = json_object_array_get_idx(msgs, 0);
    vd__qwen_msg msg = {
        json_object_get_string(json_object_object_get(m0, "role")),
        json_object_get_string(json_object_object_get(m0, "content")), NULL, 0
    };
    vd__buf prompt;
    vd__buf_init(&prompt, 0);
    vd__qwen_chat_render(ctx, &msg, 1, true, &prompt);
    const char *want_prompt =
        json_object_get_string(json_object_object_get(pm, "prompt_text"));
    tap_ok(prompt.data && !strcmp(prompt.data, want_prompt),
           "%s: chat template renders HF's prompt", name);
    vd__ivec ids = { 0 };
    vd__qwen_tok_encode(ctx, m->tok, prompt.data, prompt.len, &ids);
    vd__buf_free(&prompt);
    vd__safetensors *ps = refs_open(shared, "processor/text.safetensors");
    int64_t nw = 0;
    int64_t *want_ids = refs_i64(ps, "input_ids", &nw);
    bool ids_eq = want_ids && nw == ids.n;
    for (int64_t i = 0; ids_eq && i < nw; i++)
        ids_eq = ids.v[i] == want_ids[i];
    tap_ok(ids_eq, "%s: input ids equal (%lld tokens)", name, (long long)ids.n);
    free(want_ids);
    vd__st_close(ps);
    int64_t n = ids.n;

    char rel[256];
    snprintf(rel, sizeof rel, "%s/text.safetensors", name);
    vd__safetensors *rs = refs_open(shared, rel);
    int32_t *pos = calloc((size_t)n * 3, sizeof *pos);
    int64_t delta = 99, np = 0;
    s = vd__qwen_rope_index(ctx, &m->cfg, ids.v, n, NULL, 0, NULL, pos, &delta);
    int64_t *wpos = refs_i64(rs, "position_ids", &np);
    int64_t *wdelta = refs_i64(rs, "rope_deltas", NULL);
    bool pos_eq =
        s == VD_OK && wpos && np == 3 * n && wdelta && *wdelta == delta;
    for (int64_t i = 0; pos_eq && i < n; i++)
        for (int a = 0; a < 3; a++)
            pos_eq = pos_eq && pos[3 * i + a] == wpos[a * n + i];
    tap_ok(pos_eq, "%s: position ids and rope delta equal", name);
    free(wpos);
    free(wdelta);

    /* one prefill with probes */
    probe pr = { .H = H, .L = L };
    int64_t *dp = refs_i64(rs, "debug_positions", NULL);
    pr.npos = 8;
    for (int k = 0; k < 8; k++)
        pr.pos[k] = dp ? dp[k] : 0;
    free(dp);
    pr.embed = calloc(8 * (size_t)H, sizeof(float));
    pr.norm = calloc(8 * (size_t)H, sizeof(float));
    pr.layers = calloc(8 * (size_t)H * (size_t)L, sizeof(float));
    float *x = calloc((size_t)(n * H), sizeof(float));
    float *hid = calloc((size_t)(n * H), sizeof(float));
    float *logits = calloc((size_t)V, sizeof(float));
    vd__qwen_embed(ctx, m, ids.v, n, x);
    vd__qwen_state *st = NULL;
    vd_ctx_clear(ctx);
    s = vd__qwen_state_new(ctx, m, n + 32, &st);
    if (s == VD_OK) {
        vd__qwen_state_set_probe(st, on_probe, &pr);
        s = vd__qwen_forward(ctx, st, x, pos, n, hid, logits);
    }
    tap_ok(s == VD_OK, "%s: prefill runs: %s", name, vd_ctx_errmsg(ctx));
    float *w;
    int64_t wn;
    w = refs_f32(rs, "debug_inputs_embeds", &wn);
    check_close("input embeddings", pr.embed, w, wn);
    free(w);
    w = refs_f32(rs, "debug_layer_outputs", &wn);
    tap_ok(wn == (int64_t)L * 8 * H, "%s: %d layers of debug outputs", name, L);
    for (int l = 0; w && l < L; l++) {
        char what[64];
        snprintf(what, sizeof what, "%s: layer %d output", name, l);
        check_close(what, pr.layers + (int64_t)l * 8 * H,
                    w + (int64_t)l * 8 * H, 8 * H);
    }
    free(w);
    w = refs_f32(rs, "debug_final_norm", &wn);
    check_close("final norm", pr.norm, w, wn);
    free(w);
    w = refs_f32(rs, "last_hidden_state", &wn);
    tap_ok(wn == n * H, "%s: last_hidden_state shape", name);
    check_close("last hidden state, every position", hid, w, n * H);
    free(w);
    w = refs_f32(rs, "logits_last", &wn);
    check_close("final logits", logits, w, V);
    free(w);
    /* logits at the debug positions (first 64 vocab ids) */
    float *dh = calloc(8 * (size_t)H, sizeof(float));
    float *dl = calloc(8 * (size_t)V, sizeof(float));
    float *dl64 = calloc(8 * 64, sizeof(float));
    for (int k = 0; k < 8; k++)
        memcpy(dh + k * H, hid + pr.pos[k] * H, (size_t)H * sizeof(float));
    vd__qwen_logits(ctx, st, dh, 8, dl);
    for (int k = 0; k < 8; k++)
        memcpy(dl64 + k * 64, dl + (int64_t)k * V, 64 * sizeof(float));
    w = refs_f32(rs, "debug_logits_at_positions", &wn);
    check_close("logits at the debug positions", dl64, w, 8 * 64);
    free(w);
    free(dh);
    free(dl);
    free(dl64);

    /* greedy decode by hand: each step's top-5 logits against HF's */
    int64_t *gen = refs_i64(rs, "generated_ids", NULL);
    int64_t *top5 = refs_i64(rs, "gen_top5_ids", NULL);
    float *top5l = refs_f32(rs, "gen_top5_logits", NULL);
    int64_t *gpos = refs_i64(rs, "gen_step_position", NULL);
    int steps_ok = 0, logit_ok = 0, pos_ok = 0;
    double worst = 0;
    float *e1 = calloc((size_t)H, sizeof(float));
    vd__qwen_state_set_probe(st, NULL, NULL);
    for (int k = 0; gen && top5 && top5l && gpos && k < 20; k++) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (logits[i] > logits[best])
                best = i;
        steps_ok += best == gen[k];
        bool lok = true;
        for (int j = 0; j < 5; j++) {
            double d = fabs(logits[top5[k * 5 + j]] - top5l[k * 5 + j]);
            if (d > worst)
                worst = d;
            lok = lok && d <= REFS_ABS_TOL;
        }
        logit_ok += lok;
        int64_t p = vd__qwen_state_len(st) + delta;
        pos_ok += p == gpos[k];
        int32_t p3[3] = { (int32_t)p, (int32_t)p, (int32_t)p };
        int32_t id = (int32_t)gen[k]; /* teacher forcing, as HF's run */
        vd__qwen_embed(ctx, m, &id, 1, e1);
        if (vd__qwen_forward(ctx, st, e1, p3, 1, NULL, logits))
            break;
    }
    tap_ok(steps_ok == 20, "%s: greedy steps match HF (%d/20)", name, steps_ok);
    tap_ok(logit_ok == 20,
           "%s: top-5 logits of every step within 1e-4 (worst %.2g)", name,
           worst);
    tap_ok(pos_ok == 20, "%s: decode positions = index + rope delta", name);
    free(e1);
    free(top5);
    free(top5l);
    free(gpos);

    /* the same through vd__qwen_generate */
    vd__qwen_state_reset(st);
    vd__qwen_gen_opts o;
    vd__qwen_gen_opts_init(&o, m);
    o.max_new_tokens = 20;
    o.repetition_penalty = 1.0f;
    o.do_sample = false;
    vd__qwen_gen_result res;
    s = vd__qwen_generate(ctx, st, ids.v, NULL, NULL, n, 0, &o, &res);
    bool geq = s == VD_OK && res.ids.n == 20 && gen;
    for (int k = 0; geq && k < 20; k++)
        geq = res.ids.v[k] == gen[k];
    tap_ok(geq && res.stop == VD_QWEN_STOP_MAX,
           "%s: vd__qwen_generate gives the 20 greedy tokens (stop: %s)", name,
           vd__qwen_stop_name(res.stop));
    snprintf(rel, sizeof rel, "%s/text.safetensors", name);
    const char *wtext = json_object_get_string(
        json_object_object_get(manifest_entry(shared, rel), "generated_text"));
    tap_ok(res.text.data && wtext && !strcmp(res.text.data, wtext),
           "%s: decoded continuation equals HF's text", name);
    vd__qwen_gen_result_free(&res);
    free(gen);

    /* prefill batch size does not change the result */
    vd__qwen_state_reset(st);
    vd__qwen_state_set_batch(st, 7);
    float *logits2 = calloc((size_t)V, sizeof(float));
    s = vd__qwen_forward(ctx, st, x, pos, n, NULL, logits2);
    float *wl = refs_f32(rs, "logits_last", NULL);
    check_close("logits with prefill batches of 7", logits2, wl, V);

    /* between pages the engine frees the cache and activations; the
     * session then allocates them again and gives the same logits */
    vd__qwen_state_release(st);
    memset(logits2, 0, (size_t)V * sizeof(float));
    s = vd__qwen_forward(ctx, st, x, pos, n, NULL, logits2);
    tap_ok(s == VD_OK, "%s: prefill after vd__qwen_state_release: %s", name,
           vd_ctx_errmsg(ctx));
    check_close("logits after the session's memory was released", logits2, wl,
                V);
    free(wl);
    free(logits2);

    vd__qwen_state_free(st);
    vd__st_close(rs);
    free(pr.embed);
    free(pr.norm);
    free(pr.layers);
    free(x);
    free(hid);
    free(logits);
    free(pos);
    vd__ivec_free(&ids);
    vd__qwen_free(m);
}

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    vd_opts op;
    vd_opts_init(&op);
    op.threads = 2;
    vd_ctx *ctx = vd_ctx_new(&op);
    run_model(ctx, shared, "tiny");
    run_model(ctx, shared, "tiny-untied");
    json_object_put(manifest);
    if (system("rm -rf test-qwen-text.tiny.tmp test-qwen-text.tiny-untied.tmp"))
        tap_diag("scratch folders left behind");
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

/* Reference test for the engine's fast modes (issue 7) on both shared tiny
 * checkpoints: bf16 precision, q8 and q4 weights (exact and int8
 * activations) and the bf16 KV cache, each against Hugging Face's fp32
 * references - the text case's final logits, img_a's final logits through
 * the vision tower in the same precision, and the 20-token greedy
 * continuation. The errors are printed (docs/performance.md quotes them)
 * and held to bounds a few times what they measure, so a broken fast path
 * fails while honest rounding passes. Also: a folder saved by
 * vd__qwen_save maps to the same matrices and logits as quantizing at
 * load; damaged quantized tensors are refused by name; the KV cache grows
 * with the sequence, half the size in bf16. */
#include "config.h"

#include <json-c/json.h>

#include "qwen-refs.h"

typedef struct mode {
    const char *name;
    unsigned load; /* VD_QWEN_LOAD_Q8 / Q4 */
    vd_precision prec;
    int kv_bf16;
    /* bounds: RMS of the logit error over RMS of the logits (text and
     * img_a), and the greedy tokens that must match HF's */
    double rms_bound;
    int greedy_min;
} mode;

/* The tiny checkpoints have 64-wide products and weights drawn large on
 * purpose, so quantization shows far more here than on a real model (and
 * their greedy text diverges after a token or two even with q8); the
 * bounds are about 3x what the modes measure. The exact path must match
 * the references to their tolerance (test-qwen-text). */
static const mode modes[] = {
    { "exact, bf16 KV cache", 0, VD_PREC_EXACT, 1, 0.02, 20 },
    { "bf16 precision", 0, VD_PREC_BF16, 0, 0.025, 5 },
    { "q8 weights, exact", VD_QWEN_LOAD_Q8, VD_PREC_EXACT, 0, 0.12, 1 },
    { "q8 weights, int8", VD_QWEN_LOAD_Q8, VD_PREC_INT8, 0, 0.12, 1 },
    { "q4 weights, exact", VD_QWEN_LOAD_Q4, VD_PREC_EXACT, 0, 0.8, 1 },
    { "q4 weights, int8", VD_QWEN_LOAD_Q4, VD_PREC_INT8, 1, 0.8, 1 },
};
#define N_MODES (int)(sizeof modes / sizeof *modes)

typedef struct err {
    double maxabs, rmsrel;
    int argmax_eq;
} err;

static err compare(const float *got, const float *ref, int64_t n)
{
    err e = { 0, 0, 0 };
    double sd = 0, sr = 0;
    int64_t ag = 0, ar = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        if (!(fabs(d) <= e.maxabs))
            e.maxabs = fabs(d); /* NaN sticks */
        sd += d * d;
        sr += (double)ref[i] * ref[i];
        if (got[i] > got[ag])
            ag = i;
        if (ref[i] > ref[ar])
            ar = i;
    }
    e.rmsrel = sr > 0 ? sqrt(sd / sr) : INFINITY;
    if (!(e.maxabs == e.maxabs))
        e.rmsrel = INFINITY;
    e.argmax_eq = ag == ar;
    return e;
}

/* Prompt ids, positions and delta of a reference case. */
typedef struct prompt {
    int32_t *ids, *pos;
    int64_t n, delta;
} prompt;

static bool load_prompt(vd_ctx *ctx, const char *shared, const char *cname,
                        const vd__qwen_model *m, const vd__qwen_grid *g,
                        prompt *p)
{
    char rel[256];
    snprintf(rel, sizeof rel, "processor/%s.safetensors", cname);
    vd__safetensors *ps = refs_open(shared, rel);
    int64_t n = 0, *ids = ps ? refs_i64(ps, "input_ids", &n) : NULL;
    vd__st_close(ps);
    if (!ids)
        return false;
    p->n = n;
    p->ids = malloc((size_t)n * sizeof *p->ids);
    p->pos = malloc((size_t)n * 3 * sizeof *p->pos);
    for (int64_t i = 0; i < n; i++)
        p->ids[i] = (int32_t)ids[i];
    free(ids);
    return vd__qwen_rope_index(ctx, &m->cfg, p->ids, n, g, g ? 1 : 0, NULL,
                               p->pos, &p->delta) == VD_OK;
}

static void prompt_free(prompt *p)
{
    free(p->ids);
    free(p->pos);
}

/* Final logits of the text case and of img_a, and the text case's greedy
 * continuation, for model M in mode MD. */
static void run_mode(vd_ctx *ctx, const char *shared, const char *mname,
                     const vd__qwen_model *m, const mode *md)
{
    int V = m->cfg.text.vocab, H = m->cfg.text.hidden;
    float *logits = calloc((size_t)V, sizeof *logits);
    char rel[256];
    err et = { INFINITY, INFINITY, 0 }, ei = et;
    int greedy = -1;

    /* text */
    prompt p = { 0 };
    vd__qwen_state *s = NULL;
    if (load_prompt(ctx, shared, "text", m, NULL, &p) &&
        vd__qwen_state_new(ctx, m, 4096, &s) == VD_OK &&
        (!md->kv_bf16 || vd__qwen_state_set_kv(ctx, s, VD_DT_BF16) == VD_OK)) {
        vd__qwen_state_set_precision(s, md->prec);
        float *x = calloc((size_t)(p.n * H), sizeof *x);
        snprintf(rel, sizeof rel, "%s/text.safetensors", mname);
        vd__safetensors *rs = refs_open(shared, rel);
        float *want = refs_f32(rs, "logits_last", NULL);
        int64_t *gen = refs_i64(rs, "generated_ids", NULL);
        if (vd__qwen_embed(ctx, m, p.ids, p.n, x) == VD_OK &&
            vd__qwen_forward(ctx, s, x, p.pos, p.n, NULL, logits) == VD_OK &&
            want)
            et = compare(logits, want, V);
        vd__qwen_state_reset(s);
        vd__qwen_gen_opts go;
        vd__qwen_gen_opts_init(&go, m);
        go.max_new_tokens = 20;
        go.do_sample = false;
        go.repetition_penalty = 1;
        go.repeat_window = 0;
        vd__qwen_gen_result res;
        if (gen && vd__qwen_generate(ctx, s, p.ids, NULL, p.pos, p.n, p.delta,
                                     &go, &res) == VD_OK) {
            greedy = 0;
            while (greedy < res.ids.n && greedy < 20 &&
                   res.ids.v[greedy] == gen[greedy])
                greedy++;
        }
        if (gen)
            vd__qwen_gen_result_free(&res);
        free(x);
        free(want);
        free(gen);
        vd__st_close(rs);
    }
    prompt_free(&p);

    /* img_a through the tower in the mode's precision */
    float *pv = NULL, *emb = NULL, *x = NULL;
    int64_t rows = 0;
    vd__qwen_grid g;
    prompt q = { 0 };
    vd__qwen_vision_opts vo;
    vd__qwen_vision_opts_init(&vo);
    vo.prec = md->prec;
    if (s &&
        vrefs_pixel_values(ctx, shared, &ref_cases[0], &m->cfg, &pv, &rows,
                           &g) == VD_OK &&
        load_prompt(ctx, shared, "img_a", m, &g, &q)) {
        int64_t ni = vd__qwen_image_tokens(&m->cfg, &g);
        emb = calloc((size_t)(ni * H), sizeof *emb);
        x = calloc((size_t)(q.n * H), sizeof *x);
        snprintf(rel, sizeof rel, "%s/img_a.safetensors", mname);
        vd__safetensors *rs = refs_open(shared, rel);
        float *want = refs_f32(rs, "logits_last", NULL);
        vd__qwen_state_reset(s);
        if (vd__qwen_vision_encode(ctx, m, pv, &g, &vo, emb) == VD_OK &&
            vd__qwen_mm_embed(ctx, m, q.ids, q.n, emb, ni, x) == VD_OK &&
            vd__qwen_forward(ctx, s, x, q.pos, q.n, NULL, logits) == VD_OK &&
            want)
            ei = compare(logits, want, V);
        else
            tap_diag("img_a: %s", vd_ctx_errmsg(ctx));
        free(want);
        vd__st_close(rs);
    }
    prompt_free(&q);
    vd__aligned_free(pv);
    free(emb);
    free(x);
    vd__qwen_state_free(s);
    free(logits);

    tap_diag("%s, %s: text logits max |err| %.3g, RMS %.2g of RMS, argmax "
             "%s; img_a logits max |err| %.3g, RMS %.2g, argmax %s; greedy "
             "%d/20 tokens as HF",
             mname, md->name, et.maxabs, et.rmsrel,
             et.argmax_eq ? "kept" : "changed", ei.maxabs, ei.rmsrel,
             ei.argmax_eq ? "kept" : "changed", greedy);
    tap_ok(et.rmsrel <= md->rms_bound && ei.rmsrel <= md->rms_bound,
           "%s, %s: logit error RMS %.2g / %.2g of RMS (bound %g)", mname,
           md->name, et.rmsrel, ei.rmsrel, md->rms_bound);
    tap_ok(greedy >= md->greedy_min,
           "%s, %s: the first %d greedy tokens are HF's (at least %d)", mname,
           md->name, greedy, md->greedy_min);
}

/* ---- saved quantized folders ---- */

static bool mats_equal(const vd__mat *a, const vd__mat *b)
{
    if (a->dt != b->dt || a->rows != b->rows || a->cols != b->cols)
        return false;
    size_t nd = vd__mat_data_bytes(a->dt, a->rows, a->cols);
    size_t ns = vd__mat_scale_bytes(a->dt, a->rows, a->cols);
    return !memcmp(a->data, b->data, nd) &&
           (!ns || !memcmp(a->scales, b->scales, ns));
}

/* Replace the first OLD in the header of DIR/model.safetensors with NEW
 * (same length: offsets stay). */
static bool patch_header(const char *dir, const char *old, const char *new)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "r+b");
    unsigned char len8[8];
    if (!f || fread(len8, 1, 8, f) != 8) {
        if (f)
            fclose(f);
        return false;
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | len8[i];
    char *h = malloc(hl + 1);
    bool ok = h && fread(h, 1, hl, f) == hl;
    char *at = NULL;
    if (ok) {
        h[hl] = '\0';
        at = strstr(h, old);
    }
    ok = at && fseek(f, 8 + (long)(at - h), SEEK_SET) == 0 &&
         fwrite(new, 1, strlen(new), f) == strlen(new);
    free(h);
    return fclose(f) == 0 && ok;
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {
        "config.json",    "generation_config.json", "preprocessor_config.json",
        "tokenizer.json", "tokenizer_config.json",  "vocab.json",
        "merges.txt",     "chat_template.json",     "model.safetensors"
    };
    char p[2048];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void saved(vd_ctx *ctx, const char *src, const char *mname)
{
    static const unsigned fl[2] = { VD_QWEN_LOAD_Q8, VD_QWEN_LOAD_Q4 };
    for (int k = 0; k < 2; k++) {
        const char *wn = k ? "q4" : "q8";
        char dir[256];
        snprintf(dir, sizeof dir, "test-qwen-fast.%s-%s.tmp", mname, wn);
        vd__qwen_model *a = NULL, *b = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd__qwen_load(ctx, src, fl[k], &a);
        if (st == VD_OK)
            st = vd__qwen_save(ctx, a, dir);
        if (st == VD_OK)
            st = vd__qwen_load(ctx, dir, 0, &b);
        tap_ok(st == VD_OK, "%s: saved as %s and loaded back: %s", mname, wn,
               vd_ctx_errmsg(ctx));
        bool eq =
            st == VD_OK && !strcmp(b->weights, wn) &&
            a->weight_bytes == b->weight_bytes && a->n_params == b->n_params &&
            mats_equal(&a->text.lm_head, &b->text.lm_head) &&
            mats_equal(&a->vision.blocks[0].qkv, &b->vision.blocks[0].qkv);
        for (int l = 0; eq && l < a->cfg.text.n_layer; l++) {
            const vd__qwen_layer *x = &a->text.layers[l],
                                 *y = &b->text.layers[l];
            eq = mats_equal(&x->q, &y->q) && mats_equal(&x->k, &y->k) &&
                 mats_equal(&x->v, &y->v) && mats_equal(&x->o, &y->o) &&
                 mats_equal(&x->gate, &y->gate) && mats_equal(&x->up, &y->up) &&
                 mats_equal(&x->down, &y->down);
        }
        tap_ok(eq,
               "%s, %s: the saved folder maps to the matrices quantized at "
               "load (lm_head %s, layers %s)",
               mname, wn, b && b->text.lm_head.dt == VD_DT_Q8 ? "q8" : "?",
               b ? b->weights : "?");
        vd__qwen_free(a);
        vd__qwen_free(b);
        b = NULL;
        if (k == 1) {
            /* damaged copies: scales under another name, a dtype that
             * does not fit the shape */
            vd_ctx_clear(ctx);
            bool p1 = patch_header(dir, ".vd_scales", ".vd_scalez");
            st = vd__qwen_load(ctx, dir, 0, &b);
            vd__qwen_free(b);
            b = NULL;
            tap_ok(p1 && st == VD_ERR_MODEL &&
                       strstr(vd_ctx_errmsg(ctx), ".vd_scalez"),
                   "%s: stray scales are refused by name: %s", mname,
                   vd_ctx_errmsg(ctx));
            patch_header(dir, ".vd_scalez", ".vd_scales");
            vd_ctx_clear(ctx);
            bool p2 = patch_header(dir, "\"dtype\":\"U8\"", "\"dtype\":\"I8\"");
            st = vd__qwen_load(ctx, dir, 0, &b);
            vd__qwen_free(b);
            tap_ok(p2 && st == VD_ERR_MODEL &&
                       strstr(vd_ctx_errmsg(ctx), "quantized"),
                   "%s: a quantized matrix of the wrong size is refused: %s",
                   mname, vd_ctx_errmsg(ctx));
        }
        remove_dir(dir);
    }
}

/* ---- the KV cache grows with the sequence ---- */

static void kv_growth(vd_ctx *ctx, const vd__qwen_model *m)
{
    const vd__qwen_text_cfg *c = &m->cfg.text;
    size_t row = (size_t)c->n_kv_head * c->head_dim * 2 * c->n_layer;
    int64_t n = 40;
    size_t b32 = 0, b16 = 0, b0 = 1, bgrown = 0;
    int H = c->hidden;
    float *x = calloc((size_t)(n * H), sizeof *x);
    int32_t *pos = calloc((size_t)n * 3, sizeof *pos);
    int32_t ids[40];
    for (int i = 0; i < n; i++) {
        ids[i] = 100 + i;
        pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = i;
    }
    vd__qwen_embed(ctx, m, ids, n, x);
    for (int k = 0; k < 2; k++) {
        vd__qwen_state *s = NULL;
        if (vd__qwen_state_new(ctx, m, VD_QWEN_MAX_INPUT + VD_QWEN_MAX_OUTPUT,
                               &s) != VD_OK)
            break;
        if (k)
            vd__qwen_state_set_kv(ctx, s, VD_DT_BF16);
        if (!k)
            b0 = vd__qwen_state_kv_bytes(s);
        vd__qwen_forward(ctx, s, x, pos, n, NULL, NULL);
        *(k ? &b16 : &b32) = vd__qwen_state_kv_bytes(s);
        if (!k) {
            /* 1100 more tokens: past the first step, grown and kept */
            int64_t more = 1100;
            float *y = calloc((size_t)(more * H), sizeof *y);
            int32_t *p2 = calloc((size_t)more * 3, sizeof *p2);
            for (int64_t i = 0; i < more; i++)
                p2[3 * i] = p2[3 * i + 1] = p2[3 * i + 2] = (int32_t)(n + i);
            for (int64_t i = 0; i < more; i++)
                memcpy(y + i * H, x + (i % n) * H, (size_t)H * sizeof *y);
            vd__qwen_state_set_batch(s, 256);
            if (vd__qwen_forward(ctx, s, y, p2, more, NULL, NULL) == VD_OK)
                bgrown = vd__qwen_state_kv_bytes(s);
            free(y);
            free(p2);
        }
        vd__qwen_state_free(s);
    }
    tap_ok(b0 == 0, "a new session holds no KV cache (%zu bytes)", b0);
    tap_ok(b32 == 1024 * row * 4,
           "after %lld tokens the fp32 cache holds 1024 tokens, not the "
           "137,216 it may grow to (%zu bytes)",
           (long long)n, b32);
    tap_ok(b16 * 2 == b32, "the bf16 cache is half the size (%zu bytes)", b16);
    tap_ok(bgrown == 2048 * row * 4, "it grows to 2048 tokens for %lld (%zu)",
           (long long)n + 1100, bgrown);
    free(x);
    free(pos);
}

int main(void)
{
    const char *shared = vrefs_shared_or_skip();
    tap_plan_late();
    vd_opts op;
    vd_opts_init(&op);
    op.threads = 2;
    vd_ctx *ctx = vd_ctx_new(&op);
    for (int mi = 0; mi < 2; mi++) {
        const char *mname = ref_models[mi];
        char dir[256];
        snprintf(dir, sizeof dir, "test-qwen-fast.%s.tmp", mname);
        refs_model_dir(shared, mname, dir);
        for (int k = 0; k < N_MODES; k++) {
            vd__qwen_model *m = NULL;
            vd_ctx_clear(ctx);
            vd_status st = vd__qwen_load(ctx, dir, modes[k].load, &m);
            if (!tap_ok(st == VD_OK, "%s: loads for %s: %s", mname,
                        modes[k].name, vd_ctx_errmsg(ctx)))
                continue;
            run_mode(ctx, shared, mname, m, &modes[k]);
            if (mi == 0 && k == 0)
                kv_growth(ctx, m);
            vd__qwen_free(m);
        }
        saved(ctx, dir, mname);
        vrefs_model_dir_remove(dir);
    }
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no allocation left (%lld)",
           (long long)vd__alloc_live());
    return tap_done();
}

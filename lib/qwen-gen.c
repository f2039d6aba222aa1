/* Qwen2.5-VL, generation: a prompt (ids, embeddings, positions) in, new
 * tokens and their text out. Logits go through HF's processors in HF's
 * order (repetition penalty; then, when sampling, temperature, top-k,
 * top-p), a seeded xoshiro256** draws the token, stop tokens come from
 * generation_config.json, and a guard stops a generation caught in a loop
 * of one repeated span (a warning; the text so far is kept). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qwen.h"

const char *vd__qwen_stop_name(vd__qwen_stop s)
{
    static const char *const names[] = { "none",   "eos",      "max_tokens",
                                         "repeat", "callback", "cancelled",
                                         "timeout" };
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

void vd__qwen_gen_opts_init(vd__qwen_gen_opts *o, const vd__qwen_model *m)
{
    memset(o, 0, sizeof *o);
    const vd__qwen_gen_cfg *g = &m->cfg.gen;
    o->max_new_tokens = g->max_new_tokens > 0 ? g->max_new_tokens : 8192;
    o->do_sample = g->do_sample;
    o->temperature = g->temperature > 0 ? g->temperature : 1.0f;
    o->top_k = g->top_k;
    o->top_p = g->top_p;
    o->repetition_penalty = g->repetition_penalty;
    /* 512 tokens made of one span of at most 128 repeated (4+ times) is
     * a loop, not a document: real tables and lists vary their text */
    o->repeat_window = 512;
    o->repeat_max_period = 128;
}

void vd__qwen_gen_result_free(vd__qwen_gen_result *r)
{
    vd__ivec_free(&r->ids);
    vd__buf_free(&r->text);
}

/* ---- random numbers: xoshiro256**, seeded by splitmix64 ---- */

void vd__qwen_rng_seed(uint64_t rng[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        rng[i] = z ^ (z >> 31);
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static double rng_uniform(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return (double)(r >> 11) * 0x1.0p-53; /* [0, 1) */
}

/* ---- sampling ---- */

typedef struct cand {
    float z;
    int32_t id;
} cand;

size_t vd__qwen_sample_scratch(int vocab)
{
    return (size_t)vocab * (sizeof(cand) + 1);
}

static int cmp_cand_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->z != y->z)
        return x->z > y->z ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void sift_down(cand *h, int n, int i) /* min-heap on z */
{
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && h[c + 1].z < h[c].z)
            c++;
        if (!(h[c].z < h[i].z))
            return;
        cand t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

int32_t vd__qwen_sample(float *z, int vocab, const int32_t *hist, int64_t nhist,
                        const vd__qwen_gen_opts *o, uint64_t rng[4],
                        void *scratch)
{
    cand *c = scratch;
    uint8_t *seen = (uint8_t *)(c + vocab);
    /* repetition penalty on every distinct id so far, prompt included:
     * positive logits divided, negative multiplied (HF) */
    float rp = o->repetition_penalty;
    if (rp != 1.0f && rp > 0) {
        memset(seen, 0, (size_t)vocab);
        for (int64_t i = 0; i < nhist; i++) {
            int32_t id = hist[i];
            if (id < 0 || id >= vocab || seen[id])
                continue;
            seen[id] = 1;
            z[id] = z[id] < 0 ? z[id] * rp : z[id] / rp;
        }
    }
    /* greedy: the largest, lowest id on ties */
    if (!o->do_sample) {
        int32_t best = 0;
        for (int32_t i = 1; i < vocab; i++)
            if (z[i] > z[best])
                best = i;
        return best;
    }
    float temp = o->temperature > 0 ? o->temperature : 1.0f;
    int n = vocab;
    int k = o->top_k > 0 && o->top_k < vocab ? o->top_k : 0;
    if (k) { /* the k largest by a min-heap, then ties of the k-th */
        for (int i = 0; i < k; i++)
            c[i] = (cand){ z[i] / temp, i };
        for (int i = k / 2 - 1; i >= 0; i--)
            sift_down(c, k, i);
        for (int32_t i = k; i < vocab; i++) {
            float v = z[i] / temp;
            if (v > c[0].z) {
                c[0] = (cand){ v, i };
                sift_down(c, k, 0);
            }
        }
        float kth = c[0].z;
        n = k;
        for (int32_t i = 0; i < vocab; i++) { /* HF keeps scores >= k-th */
            float v = z[i] / temp;
            if (v == kth) {
                bool have = false;
                for (int j = 0; j < n && !have; j++)
                    have = c[j].id == i;
                if (!have && n < vocab)
                    c[n++] = (cand){ v, i };
            }
        }
    } else {
        for (int32_t i = 0; i < vocab; i++)
            c[i] = (cand){ z[i] / temp, i };
    }
    qsort(c, (size_t)n, sizeof *c, cmp_cand_desc);
    /* softmax over what is left */
    double mx = c[0].z, sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)c[i].z - mx);
    /* top-p: drop the low tail whose total mass is <= 1 - top_p, always
     * keeping the best (HF sorts ascending and cuts the same tail) */
    if (o->top_p < 1.0f && o->top_p > 0) {
        double tail = 0, cut = (1.0 - (double)o->top_p) * sum;
        int keep = n;
        for (int i = n - 1; i > 0; i--) {
            double p = exp((double)c[i].z - mx);
            if (tail + p > cut)
                break;
            tail += p;
            keep = i;
        }
        n = keep;
        sum -= tail;
    }
    double u = rng_uniform(rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += exp((double)c[i].z - mx);
        if (u < acc)
            return c[i].id;
    }
    return c[n - 1].id;
}

/* ---- repetition guard ---- */

vd_status vd__qwen_guard_init(vd_ctx *ctx, vd__qwen_guard *g, int window,
                              int max_period)
{
    memset(g, 0, sizeof *g);
    if (window <= 0 || max_period <= 0)
        return VD_OK;
    g->window = window;
    /* a span must come at least twice to be a repetition */
    g->max_period = max_period < window / 2 ? max_period : window / 2;
    if (g->max_period < 1) {
        g->window = 0;
        return VD_OK;
    }
    g->run = vd__calloc(ctx, (size_t)g->max_period + 1, sizeof *g->run);
    return g->run ? VD_OK : VD_ERR_NOMEM;
}

void vd__qwen_guard_free(vd__qwen_guard *g)
{
    vd__free(g->run);
    g->run = NULL;
}

/* run[p] counts how many tokens in a row, ending at the newest, equal
 * the token p before them; the last WINDOW tokens are one span of p
 * repeated exactly when run[p] >= window - p. O(max_period) per token. */
int vd__qwen_guard_check(vd__qwen_guard *g, const int32_t *ids, int64_t n)
{
    if (!g->window || n < 1)
        return 0;
    int64_t last = n - 1;
    int stuck = 0;
    for (int p = 1; p <= g->max_period && p <= last; p++) {
        g->run[p] = ids[last] == ids[last - p] ? g->run[p] + 1 : 0;
        if (!stuck && g->run[p] + p >= g->window)
            stuck = p;
    }
    return stuck;
}

/* ---- the loop ---- */

static bool is_eos(const vd__qwen_cfg *cfg, int32_t id)
{
    for (int i = 0; i < cfg->gen.n_eos; i++)
        if (cfg->gen.eos[i] == id)
            return true;
    return false;
}

vd_status vd__qwen_generate(vd_ctx *ctx, vd__qwen_state *s, const int32_t *ids,
                            const float *embeds, const int32_t *pos, int64_t n,
                            int64_t delta, const vd__qwen_gen_opts *o,
                            vd__qwen_gen_result *res)
{
    const vd__qwen_model *m = vd__qwen_state_model(s);
    const vd__qwen_cfg *cfg = &m->cfg;
    int V = cfg->text.vocab, H = cfg->text.hidden;
    memset(res, 0, sizeof *res);
    vd__buf_init(&res->text, 0);
    res->n_prompt = n;
    if (n <= 0 || o->max_new_tokens <= 0)
        return vd__fail(ctx, VD_ERR_ARG, "empty prompt or no new tokens");
    if (!m->tok)
        return vd__fail(ctx, VD_ERR_ARG, "model loaded without tokenizer");
    if (vd__qwen_state_len(s) != 0)
        return vd__fail(ctx, VD_ERR_ARG, "generation needs an empty session");
    vd_status st = vd__qwen_state_reserve(ctx, s, n + o->max_new_tokens);
    if (st)
        return st;
    vd__qwen_guard guard;
    if ((st = vd__qwen_guard_init(ctx, &guard, o->repeat_window,
                                  o->repeat_max_period)))
        return st;
    vd__ivec hist = { 0 };
    float *x = NULL, *logits = vd__aligned_alloc(ctx, (size_t)V * 4);
    float *e1 = vd__aligned_alloc(ctx, (size_t)H * 4);
    int32_t *ppos = NULL;
    void *scratch = vd__malloc(ctx, vd__qwen_sample_scratch(V));
    if (!logits || !e1 || !scratch ||
        (st = vd__ivec_reserve(ctx, &hist, n + o->max_new_tokens))) {
        st = VD_ERR_NOMEM;
        goto done;
    }
    memcpy(hist.v, ids, (size_t)n * sizeof *ids);
    hist.n = n;
    if (!embeds) {
        if (!(x = vd__aligned_alloc(ctx, (size_t)n * (size_t)H * 4))) {
            st = VD_ERR_NOMEM;
            goto done;
        }
        if ((st = vd__qwen_embed(ctx, m, ids, n, x)))
            goto done;
        embeds = x;
    }
    if (!pos) {
        if (!(ppos = vd__malloc(ctx, (size_t)n * 3 * sizeof *ppos))) {
            st = VD_ERR_NOMEM;
            goto done;
        }
        for (int64_t i = 0; i < 3 * n; i++)
            ppos[i] = (int32_t)(i / 3);
        pos = ppos;
        delta = 0;
    }
    double t0 = vd__now();
    st = vd__qwen_forward(ctx, s, embeds, pos, n, NULL, logits);
    res->t_prefill = vd__now() - t0;
    if (st)
        goto done;
    t0 = vd__now();
    uint64_t rng[4];
    vd__qwen_rng_seed(rng, o->seed);
    vd__qwen_detok d;
    vd__qwen_detok_init(&d, m->tok, true);
    for (int step = 0;; step++) {
        if (vd__cancelled(ctx)) {
            res->stop = VD_QWEN_STOP_CANCELLED;
            st = vd__fail(ctx, VD_ERR_CANCELLED, "generation cancelled");
            break;
        }
        if (o->timeout > 0 && vd__now() - t0 + res->t_prefill > o->timeout) {
            res->stop = VD_QWEN_STOP_TIMEOUT;
            vd__warn(ctx,
                     "generation stopped at its time limit of %g s "
                     "after %lld tokens",
                     o->timeout, (long long)res->ids.n);
            break;
        }
        int32_t next =
            vd__qwen_sample(logits, V, hist.v, hist.n, o, rng, scratch);
        hist.v[hist.n++] = next;
        if ((st = vd__ivec_push(ctx, &res->ids, next)))
            break;
        if (is_eos(cfg, next)) {
            res->stop = VD_QWEN_STOP_EOS;
            break;
        }
        size_t before = res->text.len;
        if ((st = vd__qwen_detok_push(ctx, &d, next, &res->text)))
            break;
        if (o->on_token &&
            o->on_token(o->on_token_user, next, res->text.data + before,
                        res->text.len - before)) {
            res->stop = VD_QWEN_STOP_CALLBACK;
            break;
        }
        int stuck = vd__qwen_guard_check(&guard, res->ids.v, res->ids.n);
        if (stuck) {
            res->stop = VD_QWEN_STOP_REPEAT;
            res->repeat_period = stuck;
            vd__warn(ctx,
                     "generation stopped: the last %d tokens repeat one "
                     "span of %d tokens (text kept)",
                     o->repeat_window, stuck);
            break;
        }
        if (res->ids.n >= o->max_new_tokens) {
            res->stop = VD_QWEN_STOP_MAX;
            break;
        }
        /* feed it back: sequence index c sits at position c + delta */
        int64_t c = n + step;
        int32_t p1[3];
        p1[0] = p1[1] = p1[2] = (int32_t)(c + delta);
        if ((st = vd__qwen_embed(ctx, m, &next, 1, e1)) ||
            (st = vd__qwen_forward(ctx, s, e1, p1, 1, NULL, logits)))
            break;
    }
    vd__qwen_detok_flush(ctx, &d, &res->text);
    res->t_decode = vd__now() - t0;
done:
    if (!st && res->text.err)
        st = res->text.err;
    vd__ivec_free(&hist);
    vd__aligned_free(x);
    vd__aligned_free(logits);
    vd__aligned_free(e1);
    vd__free(ppos);
    vd__free(scratch);
    vd__qwen_guard_free(&guard);
    return st;
}

/* Unit tests for lib/qwen-gen.c: the logits processors (repetition
 * penalty, temperature, top-k, top-p) against hand-computed results and
 * sampled frequencies, seeded reproducibility, greedy ties; the
 * repetition guard on synthetic sequences; and, with the shared tiny
 * checkpoint, a generation pushed into a loop stopped by the guard with a
 * warning and its text kept, stop tokens, max_new_tokens and the
 * streaming callback. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "../tap.h"
#include "qwen.h"

static vd__qwen_gen_opts base(void)
{
    vd__qwen_gen_opts o;
    memset(&o, 0, sizeof o);
    o.max_new_tokens = 10;
    o.temperature = 1.0f;
    o.top_p = 1.0f;
    o.repetition_penalty = 1.0f;
    return o;
}

/* Frequencies of N draws over logits Z[v] (copied each time). */
static void draw(const float *z, int v, const vd__qwen_gen_opts *o, int n,
                 double *freq)
{
    float tmp[16];
    _Alignas(8) char scratch[16 * 16];
    uint64_t rng[4];
    vd__qwen_rng_seed(rng, o->seed);
    memset(freq, 0, (size_t)v * sizeof *freq);
    for (int i = 0; i < n; i++) {
        memcpy(tmp, z, (size_t)v * sizeof *z);
        freq[vd__qwen_sample(tmp, v, NULL, 0, o, rng, scratch)] += 1.0 / n;
    }
}

static void test_sampler(void)
{
    const float z[6] = { 1.0f, 2.0f, 3.0f, 0.5f, -1.0f, 3.0f };
    vd__qwen_gen_opts o = base();
    float t[6];
    _Alignas(8) char scratch[6 * 16];
    uint64_t rng[4];
    vd__qwen_rng_seed(rng, 1);
    memcpy(t, z, sizeof z);
    tap_ok(vd__qwen_sample(t, 6, NULL, 0, &o, rng, scratch) == 2,
           "greedy: the largest, lowest id on a tie");
    /* penalty 2: positive logits halved, negative doubled, once per id */
    o.repetition_penalty = 2.0f;
    const int32_t hist[] = { 2, 4, 2, 5 };
    memcpy(t, z, sizeof z);
    int32_t got = vd__qwen_sample(t, 6, hist, 4, &o, rng, scratch);
    tap_ok(got == 1 && t[2] == 1.5f && t[4] == -2.0f && t[5] == 1.5f &&
               t[1] == 2.0f,
           "repetition penalty over distinct ids (HF's rule)");
    o = base();
    o.do_sample = true;
    o.seed = 42;
    double f[6];
    int N = 40000;
    draw(z, 6, &o, N, f);
    double sum = 0, p[6], worst = 0;
    for (int i = 0; i < 6; i++)
        sum += exp(z[i]);
    for (int i = 0; i < 6; i++) {
        p[i] = exp(z[i]) / sum;
        if (fabs(f[i] - p[i]) > worst)
            worst = fabs(f[i] - p[i]);
    }
    tap_ok(worst < 0.01, "sampling follows softmax (worst %.4f)", worst);
    o.temperature = 0.5f;
    draw(z, 6, &o, N, f);
    sum = 0;
    for (int i = 0; i < 6; i++)
        sum += exp(2 * z[i]);
    worst = 0;
    for (int i = 0; i < 6; i++)
        if (fabs(f[i] - exp(2 * z[i]) / sum) > worst)
            worst = fabs(f[i] - exp(2 * z[i]) / sum);
    tap_ok(worst < 0.01, "temperature 0.5 sharpens (worst %.4f)", worst);
    o.temperature = 1.0f;
    o.top_k = 3; /* 3.0, 3.0, 2.0 */
    draw(z, 6, &o, N, f);
    tap_ok(f[0] == 0 && f[3] == 0 && f[4] == 0 && f[1] > 0.1 &&
               fabs(f[2] - f[5]) < 0.02,
           "top-k 3 keeps ids 1, 2, 5");
    o.top_k = 2; /* the k-th value ties: HF keeps every score >= k-th */
    draw(z, 6, &o, N, f);
    tap_ok(f[1] == 0 && fabs(f[2] - 0.5) < 0.02 && fabs(f[5] - 0.5) < 0.02,
           "top-k 2 on a tie: the two 3.0s");
    o.top_k = 0;
    o.top_p = 0.6f; /* p(2) = p(5) ~ 0.39: keeps both, mass 0.78 */
    draw(z, 6, &o, N, f);
    tap_ok(f[0] == 0 && f[1] == 0 && f[3] == 0 && f[2] > 0.4 && f[5] > 0.4,
           "top-p 0.6 keeps the smallest head with mass >= 0.6");
    o.top_p = 0.001f;
    o.top_k = 1;
    o.seed = 3;
    const float z2[6] = { 1.0f, 2.0f, 3.0f, 0.5f, -1.0f, 2.999f };
    draw(z2, 6, &o, 1000, f);
    tap_ok(f[2] > 0.999999, "top-k 1 / top-p 0.001 sampling is greedy");
    /* reproducible by seed */
    o = base();
    o.do_sample = true;
    o.seed = 7;
    double a[6], b[6];
    draw(z, 6, &o, 500, a);
    draw(z, 6, &o, 500, b);
    tap_ok(!memcmp(a, b, sizeof a), "same seed, same draws");
    o.seed = 8;
    draw(z, 6, &o, 500, b);
    tap_ok(memcmp(a, b, sizeof a) != 0, "another seed, other draws");
}

static void test_guard(vd_ctx *ctx)
{
    vd__qwen_guard g;
    int32_t ids[4096];
    /* period 3 from the start: fires when 32 tokens repeat */
    vd__qwen_guard_init(ctx, &g, 32, 8);
    int fired = 0, at = -1;
    for (int i = 0; i < 200 && !fired; i++) {
        ids[i] = 10 + i % 3;
        if ((fired = vd__qwen_guard_check(&g, ids, i + 1)))
            at = i + 1;
    }
    tap_ok(fired == 3 && at == 32, "period 3 caught at token 32 (%d, %d)",
           fired, at);
    vd__qwen_guard_free(&g);
    /* varied text then a loop: fires window tokens into the loop */
    vd__qwen_guard_init(ctx, &g, 32, 8);
    fired = 0;
    at = -1;
    for (int i = 0; i < 400 && !fired; i++) {
        ids[i] = i < 100 ? (i * 7919) % 1000 : 5 + (i - 100) % 5;
        if ((fired = vd__qwen_guard_check(&g, ids, i + 1)))
            at = i + 1;
    }
    tap_ok(fired == 5 && at == 132, "a loop after text caught at 132 (%d)", at);
    vd__qwen_guard_free(&g);
    /* a period beyond the limit, and a repeated structure whose content
     * varies (table rows) are left alone */
    vd__qwen_guard_init(ctx, &g, 32, 8);
    fired = 0;
    for (int i = 0; i < 400 && !fired; i++) {
        ids[i] = i % 12;
        fired = vd__qwen_guard_check(&g, ids, i + 1);
    }
    tap_ok(!fired, "period 12 above the max period of 8: not a loop");
    vd__qwen_guard_free(&g);
    vd__qwen_guard_init(ctx, &g, 32, 8);
    fired = 0;
    for (int i = 0; i < 2000 && !fired; i++) {
        ids[i] = i % 6 == 3 ? 100 + i / 6 : i % 6; /* <tr><td>N</td>... */
        fired = vd__qwen_guard_check(&g, ids, i + 1);
    }
    tap_ok(!fired, "rows of one shape with varying cells: not a loop");
    vd__qwen_guard_free(&g);
    vd__qwen_guard_init(ctx, &g, 0, 8);
    fired = 0;
    for (int i = 0; i < 100; i++) {
        ids[i] = 1;
        fired |= vd__qwen_guard_check(&g, ids, i + 1);
    }
    tap_ok(!fired, "window 0 turns the guard off");
    vd__qwen_guard_free(&g);
}

typedef struct cb {
    int calls, stop_at;
    vd__buf text;
    vd_ctx *ctx;
} cb;

static int on_token(void *user, int id, const char *piece, size_t len)
{
    cb *c = user;
    (void)id;
    vd__buf_append(c->ctx, &c->text, piece, len);
    return ++c->calls == c->stop_at;
}

static int warnings;
static void on_log(void *user, vd_log_level l, const char *msg)
{
    (void)user;
    if (l == VD_LOG_WARN && strstr(msg, "repeat"))
        warnings++;
}

static void test_model(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/refs/qwen25vl/tiny/checkpoint", shared);
    vd_opts op;
    vd_opts_init(&op);
    op.log = on_log;
    op.threads = 2;
    vd_ctx *ctx = vd_ctx_new(&op);
    vd__qwen_model *m = NULL;
    if (vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m) != VD_OK) {
        tap_ok(0, "tiny loads: %s", vd_ctx_errmsg(ctx));
        vd_ctx_free(ctx);
        return;
    }
    char tp[1100];
    snprintf(tp, sizeof tp, "%s/refs/tokenizer/tokenizer.json", shared);
    vd__qwen_tok_load(ctx, tp, &m->tok); /* the checkpoint has none */
    const int32_t prompt[] = { 151644, 872,    198,   9707, 151645,
                               198,    151644, 77091, 198 };
    vd__qwen_state *st = NULL;
    vd__qwen_state_new(ctx, m, 64, &st);
    vd__qwen_gen_opts o;
    vd__qwen_gen_opts_init(&o, m);
    tap_ok(o.max_new_tokens == 8192 && !o.do_sample &&
               o.repetition_penalty == 1.0f && o.repeat_window == 512,
           "defaults from generation_config.json (and the library)");
    /* a penalty below 1 rewards repeats: the model loops at once */
    o.repetition_penalty = 0.05f;
    o.max_new_tokens = 200;
    o.repeat_window = 24;
    o.repeat_max_period = 6;
    cb c = { 0, 0, { 0 }, ctx };
    vd__buf_init(&c.text, 0);
    o.on_token = on_token;
    o.on_token_user = &c;
    vd__qwen_gen_result r;
    vd_status s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 9, 0, &o, &r);
    tap_ok(s == VD_OK && r.stop == VD_QWEN_STOP_REPEAT && r.ids.n >= 24 &&
               r.ids.n < 200 && r.repeat_period >= 1 && warnings == 1,
           "a looping generation is stopped by the guard with one warning "
           "(%lld tokens, period %d)",
           (long long)r.ids.n, r.repeat_period);
    tap_ok(r.text.len > 0 && c.text.len == r.text.len &&
               !memcmp(c.text.data, r.text.data, r.text.len) &&
               c.calls == r.ids.n,
           "its text is kept, and streamed token by token");
    vd__qwen_gen_result_free(&r);
    vd__buf_free(&c.text);
    /* the callback can stop it */
    vd__qwen_state_reset(st);
    o.repetition_penalty = 1.0f;
    c = (cb){ 0, 3, { 0 }, ctx };
    vd__buf_init(&c.text, 0);
    s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 9, 0, &o, &r);
    tap_ok(s == VD_OK && r.stop == VD_QWEN_STOP_CALLBACK && r.ids.n == 3,
           "on_token returning non-zero stops after that token");
    int32_t first = r.ids.n ? r.ids.v[0] : -1;
    vd__qwen_gen_result_free(&r);
    vd__buf_free(&c.text);
    /* make the first greedy token a stop token: it is emitted, then stop */
    vd__qwen_state_reset(st);
    m->cfg.gen.eos[m->cfg.gen.n_eos++] = first;
    o.on_token = NULL;
    s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 9, 0, &o, &r);
    tap_ok(s == VD_OK && r.stop == VD_QWEN_STOP_EOS && r.ids.n == 1 &&
               r.ids.v[0] == first && r.text.len == 0,
           "a stop token ends generation and is kept in the ids");
    m->cfg.gen.n_eos--;
    vd__qwen_gen_result_free(&r);
    vd__qwen_state_reset(st);
    o.max_new_tokens = 4;
    s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 9, 0, &o, &r);
    tap_ok(s == VD_OK && r.stop == VD_QWEN_STOP_MAX && r.ids.n == 4 &&
               vd__qwen_state_len(st) == 9 + 3,
           "max_new_tokens: 4 tokens, the last one never fed back");
    vd__qwen_gen_result_free(&r);
    s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 9, 0, &o, &r);
    tap_ok(s == VD_ERR_ARG, "a used session is refused");
    vd__qwen_gen_result_free(&r);
    vd_ctx_clear(ctx);
    vd__qwen_state_reset(st);
    vd_ctx_cancel(ctx);
    s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 9, 0, &o, &r);
    tap_ok(s == VD_ERR_CANCELLED, "vd_ctx_cancel stops it");
    vd__qwen_gen_result_free(&r);
    vd__qwen_state_free(st);
    vd__qwen_free(m);
    vd_ctx_free(ctx);
}

int main(void)
{
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    test_sampler();
    test_guard(ctx);
    vd_ctx_free(ctx);
    const char *shared = getenv("VLDOC_SHARED");
    if (shared && *shared)
        test_model(shared);
    else
        tap_skip("VLDOC_SHARED not set: no tiny checkpoint");
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

/* Out-of-memory sweep over the engine's own allocations: loading the tiny
 * checkpoint, encoding and decoding text, and a short generation fail at
 * every allocation in turn (vd__alloc_fail_at) and must return
 * VD_ERR_NOMEM with nothing leaked, then succeed once no allocation
 * fails. */
#include "config.h"

#include <string.h>

#include "../refs/refs.h"
#include "qwen.h"

typedef vd_status (*step_fn)(vd_ctx *ctx, void *arg);

/* Run FN failing allocation 1, 2, ... until it succeeds. */
static void sweep(const char *what, step_fn fn, void *arg)
{
    long base = vd__alloc_live();
    int n, bad = 0;
    vd_status s = VD_ERR_NOMEM;
    for (n = 1; n < 5000; n++) {
        vd_ctx *ctx = vd_ctx_new(NULL);
        vd__alloc_fail_at(n);
        s = fn(ctx, arg);
        long left = vd__alloc_fail_at(0);
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

static const char *tiny;

static vd_status load(vd_ctx *ctx, void *arg)
{
    (void)arg;
    vd__qwen_model *m = NULL;
    vd_status s = vd__qwen_load(ctx, tiny, VD_QWEN_LOAD_NO_TOKENIZER, &m);
    vd__qwen_free(m);
    return s;
}

static vd_status encode(vd_ctx *ctx, void *arg)
{
    static const char text[] =
        "Café <|im_start|>user\n e\xCC\x81 2024 don't  中文 😀<|im_end|>";
    vd__ivec ids = { 0 };
    vd_status s = vd__qwen_tok_encode(ctx, arg, text, sizeof text - 1, &ids);
    vd__buf out;
    vd__buf_init(&out, 0);
    if (!s)
        s = vd__qwen_tok_decode(ctx, arg, ids.v, ids.n, true, &out);
    vd__buf_free(&out);
    vd__ivec_free(&ids);
    return s;
}

static vd_status generate(vd_ctx *ctx, void *arg)
{
    vd__qwen_model *m = arg;
    static const int32_t prompt[] = { 151644, 872, 198, 9707, 151645, 198 };
    vd__qwen_state *st = NULL;
    vd_status s = vd__qwen_state_new(ctx, m, 32, &st);
    if (s)
        return s;
    vd__qwen_gen_opts o;
    vd__qwen_gen_opts_init(&o, m);
    o.max_new_tokens = 3;
    vd__qwen_gen_result r;
    s = vd__qwen_generate(ctx, st, prompt, NULL, NULL, 6, 0, &o, &r);
    vd__qwen_gen_result_free(&r);
    vd__qwen_state_free(st);
    return s;
}

static vd_status api_generate(vd_ctx *ctx, void *arg)
{
    vd_generate_opts o;
    vd_generate_opts_init(&o);
    o.prompt = "What is the capital of France?";
    o.max_new_tokens = 3;
    vd_generation *g = NULL;
    vd_status s = vd_model_generate(ctx, arg, &o, &g);
    vd_generation_free(g);
    return s;
}

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    char dir[1024], tp[1100];
    snprintf(dir, sizeof dir, "%s/refs/qwen25vl/tiny/checkpoint", shared);
    snprintf(tp, sizeof tp, "%s/refs/tokenizer/tokenizer.json", shared);
    tiny = dir;
    vd_opts op;
    vd_opts_init(&op);
    op.threads = 1; /* the pool's threads are made once, outside the sweep */
    vd_ctx *ctx = vd_ctx_new(&op);
    vd__qwen_model *m = NULL;
    vd__qwen_tok *t = NULL;
    if (vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m) ||
        vd__qwen_tok_load(ctx, tp, &t))
        tap_skip_all("cannot load the tiny checkpoint: %s", vd_ctx_errmsg(ctx));
    m->tok = t;
    sweep("load the tiny checkpoint", load, NULL);
    sweep("encode and decode", encode, t);
    sweep("generate 3 tokens", generate, m);
    vd__qwen_free(m);
    /* the public path: template, tokenizer, session, generation */
    const char *md = refs_model_dir(shared, "tiny", "test-qwen-oom.tmp");
    vd_model *vm = NULL;
    if (vd_model_load(ctx, md, &vm) == VD_OK)
        sweep("vd_model_generate", api_generate, vm);
    else
        tap_ok(0, "vd_model_load: %s", vd_ctx_errmsg(ctx));
    vd_model_free(vm);
    if (system("rm -rf test-qwen-oom.tmp"))
        tap_diag("scratch folder left behind");
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

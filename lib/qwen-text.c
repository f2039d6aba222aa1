/* Qwen2.5-VL, text decoder: input embeddings + 3-D positions in, final
 * hidden states and logits out, the KV cache carried between calls. The
 * Qwen2 layer: RMSNorm, q/k/v projections with bias, M-RoPE, causal GQA
 * attention, o_proj, RMSNorm, SwiGLU MLP. fp32 activations; weights are
 * read in their stored (or load-time quantized) format. Every product,
 * attention and row op goes through the kernel layer (kern.h) in the
 * session's precision; prefill runs in batches, decoding one token at a
 * time. The KV cache (fp32 or bf16) grows with the sequence. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "qwen.h"

/* Prefill tokens per batch: at 1024 tokens a product takes the GEMM's
 * 512-token tiles (kern.c), so each packed weight tile serves twice the
 * tokens it does at 512: about 5% faster on a 2,048-token prompt, for
 * ~130 MB of activations at 3B. */
#define DEFAULT_BATCH 1024
#define MAX_CTX       ((int64_t)1 << 22)
/* The KV cache grows in steps of at least this many tokens (and at least
 * doubling), so a page of 3k tokens makes a handful of reallocations. */
#define KV_STEP 1024
/* Below this many tokens a product on a level without a fast GEMM (the
 * scalar reference) stays in the kernels; from here on OpenBLAS is
 * faster even counting the weight widening. */
#define BLAS_MIN_TOKENS 16

struct vd__qwen_state {
    const vd__qwen_model *m;
    int64_t len, cap; /* tokens cached; most it may hold */
    int64_t alloc;    /* tokens the KV buffers have room for */
    vd__dtype kv_dt;  /* VD_DT_F32 or VD_DT_BF16 */
    vd_precision prec;
    void **k, **v;   /* [n_layer] (alloc, n_kv*hd): keys after RoPE */
    int batch;       /* tokens per forward chunk */
    int abatch;      /* rows the activation buffers have */
    float *act;      /* one block for the buffers below */
    float *x;        /* (batch, H) residual stream */
    float *u;        /* (batch, H) normed input of a sublayer */
    float *q;        /* (batch, n_head*hd) */
    float *o;        /* (batch, n_head*hd) attention output */
    float *t;        /* (batch, H) sublayer output */
    float *g, *up;   /* (batch, I) */
    float *cs, *sn;  /* (batch, hd/2) RoPE cos / sin per token */
    float *kt, *vt;  /* (batch, n_kv*hd) new keys / values before a bf16
                        cache takes them */
    float *inv_freq; /* (hd/2) */
    vd__qwen_probe_fn probe;
    void *probe_user;
};

/* ---- products ---- */

vd_status vd__qwen_linear(vd_ctx *ctx, const vd__mat *w, const float *x,
                          int64_t n, const float *bias, float *y,
                          vd_precision prec)
{
    return vd__qwen_linear_group(ctx, 1, &w, x, n, bias ? &bias : NULL, &y,
                                 prec);
}

vd_status vd__qwen_linear_group(vd_ctx *ctx, int nw, const vd__mat *const *w,
                                const float *x, int64_t n,
                                const float *const *bias, float *const *y,
                                vd_precision prec)
{
    vd__pool *pool = vd__ctx_pool(ctx);
    if (!pool)
        return VD_ERR_NOMEM;
    const vd__kern *k = vd__kern_get();
    /* the kernels' own GEMM wherever the level has one (faster than
     * OpenBLAS on stored bf16 weights: docs/kernels.md); OpenBLAS on
     * widened rows for long inputs on the plain reference level */
    if (prec == VD_PREC_EXACT && !k->mm_tile[VD_PREC_EXACT] &&
        n >= BLAS_MIN_TOKENS) {
        for (int j = 0; j < nw; j++)
            vd__matmul_blas(pool, w[j], x, n, bias ? bias[j] : NULL, y[j]);
        return VD_OK;
    }
    vd__matmul_group(pool, nw, w, x, n, bias, y, prec);
    return VD_OK;
}

static vd_status linear(vd_ctx *ctx, vd__qwen_state *s, const vd__mat *w,
                        const float *x, int64_t n, const float *bias, float *y)
{
    return vd__qwen_linear(ctx, w, x, n, bias, y, s->prec);
}

/* ---- elementwise pieces ---- */

static void add_inplace(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* M-RoPE tables for N tokens: frequency j uses the t, h or w position by
 * mrope_section (counted in frequency pairs, one global index), angle =
 * position * inv_freq[j] as one fp32 product, as HF computes it. */
static void rope_tables(vd__qwen_state *s, const int32_t *pos, int64_t n)
{
    const vd__qwen_text_cfg *c = &s->m->cfg.text;
    int half = c->head_dim / 2;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < half; j++) {
            int axis = j < c->mrope[0]                 ? 0
                       : j < c->mrope[0] + c->mrope[1] ? 1
                                                       : 2;
            float a = (float)pos[3 * i + axis] * s->inv_freq[j];
            s->cs[i * half + j] = cosf(a);
            s->sn[i * half + j] = sinf(a);
        }
}

/* ---- the session ---- */

static size_t kv_elt(const vd__qwen_state *s)
{
    return s->kv_dt == VD_DT_BF16 ? 2 : 4;
}

static vd_status alloc_act(vd_ctx *ctx, vd__qwen_state *s, int batch)
{
    const vd__qwen_text_cfg *c = &s->m->cfg.text;
    size_t B = (size_t)batch, H = (size_t)c->hidden;
    size_t Q = (size_t)c->n_head * (size_t)c->head_dim;
    size_t KV = (size_t)c->n_kv_head * (size_t)c->head_dim;
    size_t F = (size_t)c->intermediate, half = (size_t)c->head_dim / 2;
    bool kvt = s->kv_dt == VD_DT_BF16;
    /* every buffer starts on a 64-byte line */
#define RUP(k) (((k) + 15) & ~(size_t)15)
    size_t sizes[11] = {
        B * H,           B * H, B * Q,    B * Q,    B * H,
        B * F,           B * F, B * half, B * half, kvt ? B * KV : 0,
        kvt ? B * KV : 0
    };
    size_t total = 0;
    for (int i = 0; i < 11; i++)
        total += RUP(sizes[i]);
    float *a = vd__aligned_alloc(ctx, total * sizeof(float));
    if (!a)
        return VD_ERR_NOMEM;
    vd__aligned_free(s->act);
    s->act = a;
    float **dst[11] = { &s->x,  &s->u,  &s->q,  &s->o,  &s->t, &s->g,
                        &s->up, &s->cs, &s->sn, &s->kt, &s->vt };
    for (int i = 0; i < 11; i++) {
        *dst[i] = sizes[i] ? a : NULL;
        a += RUP(sizes[i]);
    }
#undef RUP
    s->abatch = batch;
    return VD_OK;
}

vd_status vd__qwen_state_new(vd_ctx *ctx, const vd__qwen_model *m,
                             int64_t n_ctx, vd__qwen_state **out)
{
    *out = NULL;
    const vd__qwen_text_cfg *c = &m->cfg.text;
    vd__qwen_state *s = vd__calloc(ctx, 1, sizeof *s);
    if (!s)
        return VD_ERR_NOMEM;
    s->m = m;
    s->batch = DEFAULT_BATCH;
    s->kv_dt = VD_DT_F32;
    s->prec = VD_PREC_EXACT;
    s->k = vd__calloc(ctx, (size_t)c->n_layer, sizeof *s->k);
    s->v = vd__calloc(ctx, (size_t)c->n_layer, sizeof *s->v);
    s->inv_freq = vd__aligned_alloc(ctx, (size_t)c->head_dim * sizeof(float));
    vd_status st = VD_OK;
    if (!s->k || !s->v || !s->inv_freq)
        st = VD_ERR_NOMEM;
    /* 1 / theta^(2j / hd) in fp32, as HF builds inv_freq */
    for (int j = 0; !st && j < c->head_dim / 2; j++)
        s->inv_freq[j] =
            1.0f / powf(c->rope_theta, (float)(2 * j) / (float)c->head_dim);
    if (!st)
        st = vd__qwen_state_reserve(ctx, s, n_ctx);
    if (st) {
        vd__qwen_state_free(s);
        return st;
    }
    *out = s;
    return VD_OK;
}

static void kv_release(vd__qwen_state *s)
{
    for (int l = 0; l < s->m->cfg.text.n_layer; l++) {
        if (s->k)
            vd__aligned_free(s->k[l]);
        if (s->v)
            vd__aligned_free(s->v[l]);
        if (s->k)
            s->k[l] = NULL;
        if (s->v)
            s->v[l] = NULL;
    }
    s->alloc = 0;
}

void vd__qwen_state_free(vd__qwen_state *s)
{
    if (!s)
        return;
    kv_release(s);
    vd__free(s->k);
    vd__free(s->v);
    vd__aligned_free(s->act);
    vd__aligned_free(s->inv_freq);
    vd__free(s);
}

void vd__qwen_state_reset(vd__qwen_state *s)
{
    s->len = 0;
}

void vd__qwen_state_release(vd__qwen_state *s)
{
    s->len = 0;
    kv_release(s);
    vd__aligned_free(s->act);
    s->act = NULL;
    s->abatch = 0;
}

vd_status vd__qwen_state_reserve(vd_ctx *ctx, vd__qwen_state *s, int64_t n_ctx)
{
    if (n_ctx <= s->cap)
        return VD_OK;
    if (n_ctx > MAX_CTX)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "a context of %lld tokens is over the limit of %lld",
                        (long long)n_ctx, (long long)MAX_CTX);
    const vd__qwen_text_cfg *c = &s->m->cfg.text;
    size_t kvd = (size_t)c->n_kv_head * (size_t)c->head_dim, bytes;
    if (!vd__mul_ok((size_t)n_ctx, kvd * kv_elt(s), &bytes) ||
        !vd__mul_ok(bytes, (size_t)c->n_layer * 2, &bytes))
        return vd__fail(ctx, VD_ERR_LIMIT, "KV cache too large");
    s->cap = n_ctx;
    return VD_OK;
}

/* Room in the KV buffers for NEED tokens: grown (doubling, at least
 * KV_STEP, never past the cap) and the cached rows copied over. On
 * failure the buffers keep what they had. */
static vd_status kv_grow(vd_ctx *ctx, vd__qwen_state *s, int64_t need)
{
    if (need <= s->alloc)
        return VD_OK;
    const vd__qwen_text_cfg *c = &s->m->cfg.text;
    int64_t na = s->alloc * 2 > need ? s->alloc * 2 : need;
    na = (na + KV_STEP - 1) / KV_STEP * KV_STEP;
    if (na > s->cap)
        na = s->cap;
    size_t row = (size_t)c->n_kv_head * (size_t)c->head_dim * kv_elt(s);
    size_t bytes = (size_t)na * row; /* checked by reserve against cap */
    for (int l = 0; l < c->n_layer; l++) {
        void *nk = vd__aligned_alloc(ctx, bytes);
        void *nv = nk ? vd__aligned_alloc(ctx, bytes) : NULL;
        if (!nv) {
            vd__aligned_free(nk);
            /* layers already grown hold more than s->alloc: harmless */
            return VD_ERR_NOMEM;
        }
        if (s->len) {
            memcpy(nk, s->k[l], (size_t)s->len * row);
            memcpy(nv, s->v[l], (size_t)s->len * row);
        }
        vd__aligned_free(s->k[l]);
        vd__aligned_free(s->v[l]);
        s->k[l] = nk;
        s->v[l] = nv;
    }
    s->alloc = na;
    return VD_OK;
}

vd_status vd__qwen_state_set_kv(vd_ctx *ctx, vd__qwen_state *s, vd__dtype dt)
{
    if (dt != VD_DT_F32 && dt != VD_DT_BF16)
        return vd__fail(ctx, VD_ERR_ARG, "KV cache: fp32 or bf16 only");
    if (dt == s->kv_dt)
        return VD_OK;
    if (s->len)
        return vd__fail(ctx, VD_ERR_ARG,
                        "KV cache type changed while it holds tokens");
    kv_release(s);
    vd__aligned_free(s->act); /* the bf16 cache needs kt / vt */
    s->act = NULL;
    s->abatch = 0;
    s->kv_dt = dt;
    return VD_OK;
}

void vd__qwen_state_set_precision(vd__qwen_state *s, vd_precision prec)
{
    s->prec = prec;
}

int64_t vd__qwen_state_len(const vd__qwen_state *s)
{
    return s->len;
}

int64_t vd__qwen_state_cap(const vd__qwen_state *s)
{
    return s->cap;
}

size_t vd__qwen_state_kv_bytes(const vd__qwen_state *s)
{
    const vd__qwen_text_cfg *c = &s->m->cfg.text;
    return (size_t)s->alloc * (size_t)c->n_kv_head * (size_t)c->head_dim *
           kv_elt(s) * 2 * (size_t)c->n_layer;
}

const vd__qwen_model *vd__qwen_state_model(const vd__qwen_state *s)
{
    return s->m;
}

void vd__qwen_state_set_probe(vd__qwen_state *s, vd__qwen_probe_fn fn,
                              void *user)
{
    s->probe = fn;
    s->probe_user = user;
}

void vd__qwen_state_set_batch(vd__qwen_state *s, int batch)
{
    s->batch = batch < 1 ? 1 : batch > 8192 ? 8192 : batch;
}

/* ---- forward ---- */

vd_status vd__qwen_embed(vd_ctx *ctx, const vd__qwen_model *m,
                         const int32_t *ids, int64_t n, float *out)
{
    const vd__mat *e = &m->text.embed;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= e->rows)
            return vd__fail(ctx, VD_ERR_ARG,
                            "token id %d outside the vocabulary of %lld",
                            ids[i], (long long)e->rows);
        vd__mat_row_f32(e, ids[i], out + i * e->cols);
    }
    return VD_OK;
}

/* One layer on the C tokens in s->x, whose keys/values land at cache
 * rows [len, len + C). */
static vd_status layer(vd_ctx *ctx, vd__qwen_state *s, int l, int64_t c)
{
    const vd__qwen_text_cfg *cf = &s->m->cfg.text;
    const vd__qwen_layer *L = &s->m->text.layers[l];
    vd__pool *pool = vd__ctx_pool(ctx);
    int H = cf->hidden, hd = cf->head_dim;
    int64_t Q = (int64_t)cf->n_head * hd, KV = (int64_t)cf->n_kv_head * hd;
    bool b16 = s->kv_dt == VD_DT_BF16;
    size_t at = (size_t)(s->len * KV) * kv_elt(s);
    /* fp32 cache: the projections write straight into it */
    float *kc = b16 ? s->kt : (float *)((char *)s->k[l] + at);
    float *vc = b16 ? s->vt : (float *)((char *)s->v[l] + at);
    vd_status st;

    vd__rmsnorm(pool, s->u, s->x, L->in_norm, c, H, cf->rms_eps);
    const vd__mat *qkv[3] = { &L->q, &L->k, &L->v };
    const float *qkv_b[3] = { L->q_b, L->k_b, L->v_b };
    float *qkv_y[3] = { s->q, kc, vc };
    if ((st = vd__qwen_linear_group(ctx, 3, qkv, s->u, c, qkv_b, qkv_y,
                                    s->prec)))
        return st;
    vd__rope(pool, s->q, c, Q, cf->n_head, hd, s->cs, s->sn);
    vd__rope(pool, kc, c, KV, cf->n_kv_head, hd, s->cs, s->sn);
    if (b16) {
        vd__f32_to_bf16_n((uint16_t *)((char *)s->k[l] + at), kc, c * KV);
        vd__f32_to_bf16_n((uint16_t *)((char *)s->v[l] + at), vc, c * KV);
    }
    vd__attn_args a = {
        .q = s->q,
        .q_stride = Q,
        .nq = c,
        .k = s->k[l],
        .v = s->v[l],
        .kv_stride = KV,
        .nk = s->len + c,
        .o = s->o,
        .o_stride = Q,
        .n_head = cf->n_head,
        .n_kv_head = cf->n_kv_head,
        .head_dim = hd,
        .scale = 1.0f / sqrtf((float)hd),
        .causal = 1,
        .q_pos0 = s->len,
        .kv_dt = s->kv_dt,
    };
    vd__attention(pool, &a);
    if ((st = linear(ctx, s, &L->o, s->o, c, NULL, s->t)))
        return st;
    add_inplace(s->x, s->t, c * H);

    vd__rmsnorm(pool, s->u, s->x, L->post_norm, c, H, cf->rms_eps);
    const vd__mat *gu[2] = { &L->gate, &L->up };
    float *gu_y[2] = { s->g, s->up };
    if ((st = vd__qwen_linear_group(ctx, 2, gu, s->u, c, NULL, gu_y, s->prec)))
        return st;
    vd__silu_mul(pool, s->g, s->g, s->up, c * cf->intermediate);
    if ((st = linear(ctx, s, &L->down, s->g, c, NULL, s->t)))
        return st;
    add_inplace(s->x, s->t, c * H);
    return VD_OK;
}

vd_status vd__qwen_forward(vd_ctx *ctx, vd__qwen_state *s, const float *x,
                           const int32_t *pos, int64_t n, float *hidden,
                           float *logits)
{
    const vd__qwen_text_cfg *cf = &s->m->cfg.text;
    int H = cf->hidden;
    vd_status st;
    if (n <= 0)
        return vd__fail(ctx, VD_ERR_ARG, "no tokens to run");
    if (s->len + n > s->cap)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "KV cache full: %lld + %lld tokens, room for %lld",
                        (long long)s->len, (long long)n, (long long)s->cap);
    vd__pool *pool = vd__ctx_pool(ctx);
    if (!pool)
        return VD_ERR_NOMEM;
    if ((st = kv_grow(ctx, s, s->len + n)))
        return st;
    int64_t batch = s->batch;
    if (batch > n)
        batch = n;
    if (batch > s->abatch && (st = alloc_act(ctx, s, (int)batch)))
        return st;
    for (int64_t i0 = 0; i0 < n; i0 += batch) {
        int64_t c = n - i0 < batch ? n - i0 : batch;
        memcpy(s->x, x + i0 * H, (size_t)(c * H) * sizeof(float));
        if (s->probe)
            s->probe(s->probe_user, "embed", -1, s->x, c, H);
        rope_tables(s, pos + 3 * i0, c);
        for (int l = 0; l < cf->n_layer; l++) {
            if (vd__cancelled(ctx))
                return vd__fail(ctx, VD_ERR_CANCELLED, "cancelled");
            if ((st = layer(ctx, s, l, c)))
                return st;
            if (s->probe)
                s->probe(s->probe_user, "layer", l, s->x, c, H);
        }
        s->len += c;
        /* the final norm where someone needs it */
        bool last = i0 + c == n;
        if (hidden || s->probe) {
            vd__rmsnorm(pool, s->u, s->x, s->m->text.norm, c, H, cf->rms_eps);
            if (hidden)
                memcpy(hidden + i0 * H, s->u, (size_t)(c * H) * sizeof(float));
            if (s->probe)
                s->probe(s->probe_user, "norm", -1, s->u, c, H);
        }
        if (last && logits) {
            float *h = s->u + (c - 1) * H;
            vd__rmsnorm(NULL, h, s->x + (c - 1) * H, s->m->text.norm, 1, H,
                        cf->rms_eps);
            if ((st = linear(ctx, s, &s->m->text.lm_head, h, 1, NULL, logits)))
                return st;
        }
    }
    return VD_OK;
}

vd_status vd__qwen_logits(vd_ctx *ctx, vd__qwen_state *s, const float *h,
                          int64_t n, float *out)
{
    return linear(ctx, s, &s->m->text.lm_head, h, n, NULL, out);
}

/* Qwen2.5-VL, text decoder: input embeddings + 3-D positions in, final
 * hidden states and logits out, the KV cache carried between calls. The
 * Qwen2 layer: RMSNorm, q/k/v projections with bias, M-RoPE, causal GQA
 * attention, o_proj, RMSNorm, SwiGLU MLP. fp32 activations; weights are
 * read in their stored dtype from the mapping. Prefill runs in batches
 * (large products through OpenBLAS sgemm on widened weight panels),
 * decoding one token at a time through the kernel layer. */
#include "config.h"

#include <cblas.h>
#undef I /* <complex.h>, which cblas.h pulls in */
#include <math.h>
#include <string.h>

#include "qwen.h"

/* Below this many tokens a product goes to the kernels (memory-bound
 * matrix-vector work); from here on sgemm is faster even counting the
 * weight widening. */
#define GEMM_MIN_TOKENS 16
/* Weight panel widened to fp32 for one sgemm: 4M floats (16 MB). */
#define PANEL_FLOATS  ((size_t)4 << 20)
#define DEFAULT_BATCH 512
#define MAX_CTX       ((int64_t)1 << 22)

struct vd__qwen_state {
    const vd__qwen_model *m;
    int64_t len, cap; /* tokens cached; room */
    float **k, **v;   /* [n_layer] (cap, n_kv*hd): keys after RoPE */
    int batch;        /* tokens per forward chunk */
    int abatch;       /* rows the activation buffers have */
    float *act;       /* one block for the buffers below */
    float *x;         /* (batch, H) residual stream */
    float *u;         /* (batch, H) normed input of a sublayer */
    float *q;         /* (batch, n_head*hd) */
    float *o;         /* (batch, n_head*hd) attention output */
    float *t;         /* (batch, H) sublayer output */
    float *g, *up;    /* (batch, I) */
    float *cs, *sn;   /* (batch, hd/2) RoPE cos / sin per token */
    float *inv_freq;  /* (hd/2) */
    float *panel;     /* PANEL_FLOATS widened weights */
    vd__qwen_probe_fn probe;
    void *probe_user;
};

/* ---- products ---- */

typedef struct widen_task {
    const vd__mat *w;
    int64_t r0, nr;
    float *out;
} widen_task;

static void widen_run(void *arg, int ith, int nth)
{
    widen_task *t = arg;
    int64_t a, b;
    vd__split(t->nr, ith, nth, &a, &b);
    for (int64_t r = a; r < b; r++)
        vd__mat_row_f32(t->w, t->r0 + r, t->out + r * t->w->cols);
}

/* One level of parallelism at a time (STYLE 6): our pool widens a panel,
 * then OpenBLAS's threads multiply it; they never run together. */
vd_status vd__qwen_linear(vd_ctx *ctx, float **panel, const vd__mat *w,
                          const float *x, int64_t n, const float *bias,
                          float *y)
{
    vd__pool *pool = vd__ctx_pool(ctx);
    if (!pool)
        return VD_ERR_NOMEM;
    if (n < GEMM_MIN_TOKENS) {
        vd__matmul(pool, w, x, n, bias, y, VD_PREC_EXACT);
        return VD_OK;
    }
    if (!*panel &&
        !(*panel = vd__aligned_alloc(ctx, PANEL_FLOATS * sizeof(float))))
        return VD_ERR_NOMEM;
    int64_t step = (int64_t)(PANEL_FLOATS / (size_t)w->cols);
    if (step < 1)
        return vd__fail(ctx, VD_ERR_LIMIT, "matrix row of %lld too wide",
                        (long long)w->cols);
    for (int64_t r0 = 0; r0 < w->rows; r0 += step) {
        int64_t nr = w->rows - r0 < step ? w->rows - r0 : step;
        widen_task wt = { w, r0, nr, *panel };
        vd__pool_run(pool, widen_run, &wt);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n,
                    (blasint)nr, (blasint)w->cols, 1.0f, x, (blasint)w->cols,
                    *panel, (blasint)w->cols, 0.0f, y + r0, (blasint)w->rows);
    }
    if (bias)
        for (int64_t i = 0; i < n; i++)
            for (int64_t r = 0; r < w->rows; r++)
                y[i * w->rows + r] += bias[r];
    return VD_OK;
}

static vd_status linear(vd_ctx *ctx, vd__qwen_state *s, const vd__mat *w,
                        const float *x, int64_t n, const float *bias, float *y)
{
    return vd__qwen_linear(ctx, &s->panel, w, x, n, bias, y);
}

/* ---- elementwise pieces ---- */

/* y = w * (x / sqrt(mean(x^2) + eps)), per row; the sum of squares in
 * double so long rows lose nothing. */
static void rmsnorm(const float *x, const float *w, float *y, int64_t n, int d,
                    float eps)
{
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        double ss = 0;
        for (int j = 0; j < d; j++)
            ss += (double)xi[j] * xi[j];
        float r = 1.0f / sqrtf((float)(ss / d) + eps);
        for (int j = 0; j < d; j++)
            yi[j] = w[j] * (xi[j] * r);
    }
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

/* Rotate-half RoPE on N tokens of NH heads at X (STRIDE floats apart):
 * pairs (j, j + hd/2) turn by the token's angle j. */
static void rope_apply(const vd__qwen_state *s, float *x, int64_t n, int nh,
                       int64_t stride)
{
    int hd = s->m->cfg.text.head_dim, half = hd / 2;
    for (int64_t i = 0; i < n; i++) {
        const float *cs = s->cs + i * half, *sn = s->sn + i * half;
        for (int h = 0; h < nh; h++) {
            float *v = x + i * stride + (int64_t)h * hd;
            for (int j = 0; j < half; j++) {
                float a = v[j], b = v[j + half];
                v[j] = a * cs[j] - b * sn[j];
                v[j + half] = b * cs[j] + a * sn[j];
            }
        }
    }
}

/* ---- the session ---- */

static vd_status alloc_act(vd_ctx *ctx, vd__qwen_state *s, int batch)
{
    const vd__qwen_text_cfg *c = &s->m->cfg.text;
    size_t B = (size_t)batch, H = (size_t)c->hidden;
    size_t Q = (size_t)c->n_head * (size_t)c->head_dim;
    size_t F = (size_t)c->intermediate, half = (size_t)c->head_dim / 2;
    /* every buffer starts on a 64-byte line */
#define RUP(k) (((k) + 15) & ~(size_t)15)
    size_t sizes[9] = { B * H, B * H, B * Q,    B * Q,   B * H,
                        B * F, B * F, B * half, B * half };
    size_t total = 0;
    for (int i = 0; i < 9; i++)
        total += RUP(sizes[i]);
    float *a = vd__aligned_alloc(ctx, total * sizeof(float));
    if (!a)
        return VD_ERR_NOMEM;
    vd__aligned_free(s->act);
    s->act = a;
    float **dst[9] = { &s->x, &s->u,  &s->q,  &s->o, &s->t,
                       &s->g, &s->up, &s->cs, &s->sn };
    for (int i = 0; i < 9; i++) {
        *dst[i] = a;
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
    /* OpenBLAS fans out over the ctx's threads; our pool is idle while it
     * runs (see linear) */
    openblas_set_num_threads(ctx->opts.threads);
    *out = s;
    return VD_OK;
}

void vd__qwen_state_free(vd__qwen_state *s)
{
    if (!s)
        return;
    for (int l = 0; l < s->m->cfg.text.n_layer; l++) {
        if (s->k)
            vd__aligned_free(s->k[l]);
        if (s->v)
            vd__aligned_free(s->v[l]);
    }
    vd__free(s->k);
    vd__free(s->v);
    vd__aligned_free(s->act);
    vd__aligned_free(s->inv_freq);
    vd__aligned_free(s->panel);
    vd__free(s);
}

void vd__qwen_state_reset(vd__qwen_state *s)
{
    s->len = 0;
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
    if (!vd__mul_ok((size_t)n_ctx, kvd * sizeof(float), &bytes))
        return vd__fail(ctx, VD_ERR_LIMIT, "KV cache too large");
    for (int l = 0; l < c->n_layer; l++) {
        float *nk = vd__aligned_alloc(ctx, bytes);
        float *nv = nk ? vd__aligned_alloc(ctx, bytes) : NULL;
        if (!nv) {
            vd__aligned_free(nk);
            return VD_ERR_NOMEM;
        }
        if (s->len) {
            memcpy(nk, s->k[l], (size_t)s->len * kvd * sizeof(float));
            memcpy(nv, s->v[l], (size_t)s->len * kvd * sizeof(float));
        }
        vd__aligned_free(s->k[l]);
        vd__aligned_free(s->v[l]);
        s->k[l] = nk;
        s->v[l] = nv;
    }
    s->cap = n_ctx;
    return VD_OK;
}

int64_t vd__qwen_state_len(const vd__qwen_state *s)
{
    return s->len;
}

int64_t vd__qwen_state_cap(const vd__qwen_state *s)
{
    return s->cap;
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
    int H = cf->hidden, hd = cf->head_dim;
    int64_t Q = (int64_t)cf->n_head * hd, KV = (int64_t)cf->n_kv_head * hd;
    float *kc = s->k[l] + s->len * KV, *vc = s->v[l] + s->len * KV;
    vd_status st;

    rmsnorm(s->x, L->in_norm, s->u, c, H, cf->rms_eps);
    if ((st = linear(ctx, s, &L->q, s->u, c, L->q_b, s->q)) ||
        (st = linear(ctx, s, &L->k, s->u, c, L->k_b, kc)) ||
        (st = linear(ctx, s, &L->v, s->u, c, L->v_b, vc)))
        return st;
    rope_apply(s, s->q, c, cf->n_head, Q);
    rope_apply(s, kc, c, cf->n_kv_head, KV);
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
    };
    vd__attention(vd__ctx_pool(ctx), &a);
    if ((st = linear(ctx, s, &L->o, s->o, c, NULL, s->t)))
        return st;
    for (int64_t i = 0; i < c * H; i++)
        s->x[i] += s->t[i];

    rmsnorm(s->x, L->post_norm, s->u, c, H, cf->rms_eps);
    if ((st = linear(ctx, s, &L->gate, s->u, c, NULL, s->g)) ||
        (st = linear(ctx, s, &L->up, s->u, c, NULL, s->up)))
        return st;
    int64_t ni = c * cf->intermediate;
    for (int64_t i = 0; i < ni; i++) {
        float g = s->g[i];
        s->g[i] = g / (1.0f + expf(-g)) * s->up[i];
    }
    if ((st = linear(ctx, s, &L->down, s->g, c, NULL, s->t)))
        return st;
    for (int64_t i = 0; i < c * H; i++)
        s->x[i] += s->t[i];
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
            rmsnorm(s->x, s->m->text.norm, s->u, c, H, cf->rms_eps);
            if (hidden)
                memcpy(hidden + i0 * H, s->u, (size_t)(c * H) * sizeof(float));
            if (s->probe)
                s->probe(s->probe_user, "norm", -1, s->u, c, H);
        }
        if (last && logits) {
            float *h = s->u + (c - 1) * H;
            rmsnorm(s->x + (c - 1) * H, s->m->text.norm, h, 1, H, cf->rms_eps);
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

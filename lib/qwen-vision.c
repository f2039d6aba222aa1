/* Qwen2.5-VL vision tower: pixel_values of one image (or video) in, one
 * embedding per merged 2x2 patch group out, in raster order, ready to
 * replace the <|image_pad|> tokens; and the multimodal input embeddings.
 * Weights are read straight from the mapping; activations are fp32 and
 * allocated once per call. Attention runs in tiles: never a full
 * sequence x sequence matrix, even for 10k+ patch full-attention blocks.
 * Spec: docs/qwen25vl-inference.md sections 3 and 4.1 (shared folder). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "qwen.h"
#include "raster.h"

/* Rows per MLP / merger chunk: bounds the SwiGLU buffers (a page has
 * 10k+ patches) while keeping each product large enough to be fast. */
#define CHUNK_ROWS 2048

int64_t vd__qwen_image_tokens(const vd__qwen_cfg *cfg, const vd__qwen_grid *g)
{
    int64_t mm = (int64_t)cfg->vision.merge * cfg->vision.merge;
    return (int64_t)g->t * g->h * g->w / mm;
}

/* ---- window index ---- */

void vd__qwen_winidx_free(vd__qwen_winidx *w)
{
    if (!w)
        return;
    VD_FREE(w->order);
    VD_FREE(w->cu);
    w->n_tok = 0;
    w->n_cu = 0;
}

static vd_status check_grid(vd_ctx *ctx, const vd__qwen_vision_cfg *vc,
                            const vd__qwen_grid *g)
{
    int M = vc->merge;
    /* 2^15 patches a side is 458k pixels: far past any page limit, and it
     * keeps every product below in 64 bits */
    if (g->t < 1 || g->h < M || g->w < M || g->h % M || g->w % M ||
        g->t > 4096 || g->h > 32768 || g->w > 32768)
        return vd__fail(ctx, VD_ERR_ARG,
                        "vision: grid %d x %d x %d is not a positive "
                        "multiple of the merge size %d",
                        g->t, g->h, g->w, M);
    /* window order entries are int32; 2^26 patches is 13 gigapixels */
    if ((int64_t)g->t * g->h * g->w > ((int64_t)1 << 26))
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "vision: grid %d x %d x %d has too many patches", g->t,
                        g->h, g->w);
    if (vc->window_size / M / vc->patch < 1)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "vision: window_size %d is smaller than one merged "
                        "token (%d px)",
                        vc->window_size, M * vc->patch);
    return VD_OK;
}

/* HF's get_window_index: windows of wm x wm merged tokens laid on the
 * merged grid, raster order over windows and inside each, frames in
 * order; partial windows at the right and bottom edges. HF pads the grid
 * by wm - (l mod wm), a whole empty row/column of windows when l is a
 * multiple of wm; those windows are empty and their duplicate boundaries
 * are dropped, so walking only the windows that hold tokens is the same. */
vd_status vd__qwen_window_index(vd_ctx *ctx, const vd__qwen_vision_cfg *vc,
                                const vd__qwen_grid *g, vd__qwen_winidx *out)
{
    memset(out, 0, sizeof *out);
    vd_status st = check_grid(ctx, vc, g);
    if (st)
        return st;
    int M = vc->merge, wm = vc->window_size / M / vc->patch;
    int64_t lh = g->h / M, lw = g->w / M, mm = (int64_t)M * M;
    int64_t nwh = (lh + wm - 1) / wm, nww = (lw + wm - 1) / wm;
    int64_t ntok = g->t * lh * lw, nwin = g->t * nwh * nww;
    out->order = vd__malloc(ctx, (size_t)ntok * sizeof *out->order);
    out->cu = vd__malloc(ctx, (size_t)(nwin + 1) * sizeof *out->cu);
    if (!out->order || !out->cu) {
        vd__qwen_winidx_free(out);
        return VD_ERR_NOMEM;
    }
    int64_t j = 0;
    int nc = 0;
    out->cu[nc++] = 0;
    for (int64_t f = 0; f < g->t; f++)
        for (int64_t wy = 0; wy < nwh; wy++)
            for (int64_t wx = 0; wx < nww; wx++) {
                int64_t y1 = wy * wm + wm < lh ? wy * wm + wm : lh;
                int64_t x1 = wx * wm + wm < lw ? wx * wm + wm : lw;
                for (int64_t y = wy * wm; y < y1; y++)
                    for (int64_t x = wx * wm; x < x1; x++)
                        out->order[j++] = (int32_t)(f * lh * lw + y * lw + x);
                out->cu[nc++] = j * mm;
            }
    out->n_tok = ntok;
    out->n_cu = nc;
    return VD_OK;
}

/* ---- small ops ---- */

static void add_inplace(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* ---- 2-D rotary embedding ---- */

/* Angle table ANG[n][hd/2] in windowed order: for the patch at (row, col)
 * of its frame, hd/4 frequencies times the row, then the same hd/4 times
 * the column (HF's rot_pos_emb), permuted with the hidden states. */
static void rope_table(const vd__qwen_vision_cfg *vc, const vd__qwen_grid *g,
                       const vd__qwen_winidx *wi, float *ang)
{
    int hd = vc->head_dim, half = hd / 2, q = hd / 4, M = vc->merge;
    float inv[VD_QWEN_MAX_HEAD_DIM / 4];
    /* HF: dim = hd/2, inv_freq = 1 / 10000^(arange(0, dim, 2) / dim), all
     * in float32 */
    for (int j = 0; j < q; j++)
        inv[j] = 1.0f / powf(10000.0f, (float)(2 * j) / (float)half);
    int64_t lw = g->w / M, per = (int64_t)(g->h / M) * lw;
    float *a = ang;
    for (int64_t k = 0; k < wi->n_tok; k++) {
        int64_t r = wi->order[k] % per; /* frames share the table */
        int64_t bh = r / lw, bw = r % lw;
        for (int ih = 0; ih < M; ih++)
            for (int iw = 0; iw < M; iw++, a += half) {
                float row = (float)(bh * M + ih), col = (float)(bw * M + iw);
                for (int j = 0; j < q; j++) {
                    a[j] = row * inv[j];
                    a[q + j] = col * inv[j];
                }
            }
    }
}

/* ---- attention ---- */

/* Bidirectional attention of QKV[n][3D] inside each range
 * [cu[r], cu[r + 1]) into O[n][D]: the windows, or one range per frame for
 * the full-attention blocks. One tiled call over all ranges; the kernel
 * splits (range, head, query block) work over the pool. */
static void attention_ranges(vd__pool *pool, const float *qkv, float *o,
                             int64_t D, int nh, int hd, const int64_t *cu,
                             int n_cu)
{
    int64_t n = cu[n_cu - 1];
    vd__attn_args a = {
        .q = qkv,
        .q_stride = 3 * D,
        .nq = n,
        .k = qkv + D,
        .v = qkv + 2 * D,
        .kv_stride = 3 * D,
        .nk = n,
        .o = o,
        .o_stride = D,
        .n_head = nh,
        .n_kv_head = nh,
        .head_dim = hd,
        .scale = 1.0f / sqrtf((float)hd),
        .causal = 0,
        .kv_dt = VD_DT_F32,
        .seg = cu,
        .nseg = n_cu - 1,
    };
    vd__attention(pool, &a);
}

/* ---- the tower ---- */

static vd_status stop_check(vd_ctx *ctx, const vd__qwen_vision_opts *o)
{
    if (vd__cancelled(ctx))
        return vd__fail(ctx, VD_ERR_CANCELLED, "vision encoder: cancelled");
    if (o && o->deadline > 0 && vd__now() > o->deadline)
        return vd__fail(ctx, VD_ERR_TIMEOUT,
                        "vision encoder: page time limit reached");
    return VD_OK;
}

void vd__qwen_vision_opts_init(vd__qwen_vision_opts *o)
{
    memset(o, 0, sizeof *o);
    o->prec = VD_PREC_EXACT;
}

/* Scratch of one encode call, allocated together before the block loop. */
typedef struct vbufs {
    float *h;       /* [n][D] residual stream, windowed order */
    float *u;       /* [n][D] norm1 output, then attention output */
    float *qkv;     /* [n][3D] */
    float *cs, *sn; /* [n][hd/2] cos, sin of the angles */
    float *t1;      /* [C][max(D, out)] projection / down output */
    float *t2;      /* [C][D] norm2 output */
    float *g, *up;  /* [C][max(I, 4D)] SwiGLU, merger hidden */
} vbufs;

static void vbufs_free(vbufs *b)
{
    float **all[] = { &b->h,  &b->u,  &b->qkv, &b->cs, &b->sn,
                      &b->t1, &b->t2, &b->g,   &b->up };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        vd__aligned_free(*all[i]);
        *all[i] = NULL;
    }
}

static float *fbuf(vd_ctx *ctx, int64_t rows, int64_t cols, bool *fail)
{
    size_t n;
    if (!vd__mul_ok((size_t)rows, (size_t)cols, &n) ||
        !vd__mul_ok(n, sizeof(float), &n)) {
        *fail = true;
        vd__fail(ctx, VD_ERR_LIMIT, "vision encoder: buffer too large");
        return NULL;
    }
    float *p = vd__aligned_alloc(ctx, n ? n : sizeof(float));
    if (!p)
        *fail = true;
    return p;
}

static void block_mlp(vd__pool *pool, const vd__qwen_vblock *B,
                      const vd__qwen_vision_cfg *vc, vbufs *b, int64_t n,
                      vd_precision prec)
{
    int64_t D = vc->hidden, I = vc->intermediate;
    for (int64_t r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
        int64_t c = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
        float *h = b->h + r0 * D;
        /* attention projection and residual */
        vd__matmul(pool, &B->proj, b->u + r0 * D, c, B->proj_b, b->t1, prec);
        add_inplace(h, b->t1, c * D);
        /* SwiGLU MLP and residual */
        vd__rmsnorm(pool, b->t2, h, B->norm2, c, D, vc->eps);
        vd__matmul(pool, &B->gate, b->t2, c, B->gate_b, b->g, prec);
        vd__matmul(pool, &B->up, b->t2, c, B->up_b, b->up, prec);
        vd__silu_mul(pool, b->g, b->g, b->up, c * I);
        vd__matmul(pool, &B->down, b->g, c, B->down_b, b->t1, prec);
        add_inplace(h, b->t1, c * D);
    }
}

vd_status vd__qwen_vision_encode(vd_ctx *ctx, const vd__qwen_model *m,
                                 const float *pv, const vd__qwen_grid *g,
                                 const vd__qwen_vision_opts *o, float *out)
{
    const vd__qwen_vision_cfg *vc = &m->cfg.vision;
    const vd__qwen_vision_w *vw = &m->vision;
    vd__qwen_vision_opts def;
    if (!o) {
        vd__qwen_vision_opts_init(&def);
        o = &def;
    }
    if (vc->head_dim > VD_QWEN_MAX_HEAD_DIM || vc->head_dim % 4)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "vision: head size %d is not a multiple of 4 up to "
                        "%d",
                        vc->head_dim, VD_QWEN_MAX_HEAD_DIM);
    vd__qwen_winidx wi;
    vd_status st = vd__qwen_window_index(ctx, vc, g, &wi);
    if (st)
        return st;
    vd__pool *pool = vd__ctx_pool(ctx);
    if (!pool) {
        vd__qwen_winidx_free(&wi);
        return VD_ERR_NOMEM;
    }

    int M = vc->merge, mm = M * M, nh = vc->n_head, hd = vc->head_dim;
    int64_t D = vc->hidden, I = vc->intermediate, Dm = D * mm;
    int64_t OUT = vc->out_hidden, n = wi.n_tok * mm, N = wi.n_tok;
    int64_t C = CHUNK_ROWS, wide = I > Dm ? I : Dm;
    vbufs b = { 0 };
    bool fail = false;
    b.h = fbuf(ctx, n, D, &fail);
    b.u = fbuf(ctx, n, D, &fail);
    b.qkv = fbuf(ctx, n, 3 * D, &fail);
    b.cs = fbuf(ctx, n, hd / 2, &fail);
    b.sn = fbuf(ctx, n, hd / 2, &fail);
    b.t1 = fbuf(ctx, C, D > OUT ? D : OUT, &fail);
    b.t2 = fbuf(ctx, C, D, &fail);
    b.g = fbuf(ctx, C, wide, &fail);
    b.up = fbuf(ctx, C, I, &fail);
    if (fail) {
        st = vd_ctx_status(ctx) ? vd_ctx_status(ctx) : VD_ERR_NOMEM;
        goto done;
    }

    /* patch embedding: the Conv3d with stride = kernel is one product of
     * each 1176-wide row with the weight viewed as [D][1176] */
    vd__matmul(pool, &vw->patch_embed, pv, n, NULL, b.u, o->prec);
    if (o->probe)
        o->probe(o->probe_user, "vision.patch_embed", -1, b.u, n, D);
    /* into window order, 4 patch rows (one merged token) at a time */
    for (int64_t j = 0; j < N; j++)
        memcpy(b.h + j * mm * D, b.u + (int64_t)wi.order[j] * mm * D,
               (size_t)(mm * D) * sizeof(float));
    rope_table(vc, g, &wi, b.qkv); /* angles, parked in the qkv buffer */
    for (int64_t i = 0; i < n * (hd / 2); i++) {
        b.cs[i] = cosf(b.qkv[i]);
        b.sn[i] = sinf(b.qkv[i]);
    }

    /* full attention: one range per frame */
    int64_t cu_full_small[2] = { 0, n };
    int64_t *cu_full = cu_full_small;
    int n_full = 2;
    if (g->t > 1) {
        cu_full = vd__malloc(ctx, (size_t)(g->t + 1) * sizeof *cu_full);
        if (!cu_full) {
            st = VD_ERR_NOMEM;
            goto done;
        }
        for (int f = 0; f <= g->t; f++)
            cu_full[f] = n / g->t * f;
        n_full = g->t + 1;
    }

    for (int blk = 0; blk < vc->depth; blk++) {
        if ((st = stop_check(ctx, o)))
            break;
        const vd__qwen_vblock *B = &vw->blocks[blk];
        vd__rmsnorm(pool, b.u, b.h, B->norm1, n, D, vc->eps);
        vd__matmul(pool, &B->qkv, b.u, n, B->qkv_b, b.qkv, o->prec);
        /* q and k turn by the same angles; v stays */
        vd__rope(pool, b.qkv, n, 3 * D, nh, hd, b.cs, b.sn);
        vd__rope(pool, b.qkv + D, n, 3 * D, nh, hd, b.cs, b.sn);
        if (vc->fullatt[blk])
            attention_ranges(pool, b.qkv, b.u, D, nh, hd, cu_full, n_full);
        else
            attention_ranges(pool, b.qkv, b.u, D, nh, hd, wi.cu, wi.n_cu);
        block_mlp(pool, B, vc, &b, n, o->prec);
        if (o->probe)
            o->probe(o->probe_user, "vision.block", blk, b.h, n, D);
    }
    if (cu_full != cu_full_small)
        vd__free(cu_full);
    if (st == VD_OK)
        st = stop_check(ctx, o);
    if (st)
        goto done;

    /* merger: ln_q per patch, 2x2 groups concatenated (consecutive rows),
     * Linear -> erf GELU -> Linear, then back to raster order */
    vd__rmsnorm(pool, b.u, b.h, vw->ln_q, n, D, vc->eps);
    for (int64_t j0 = 0; j0 < N; j0 += C) {
        int64_t c = N - j0 < C ? N - j0 : C;
        vd__matmul(pool, &vw->mlp0, b.u + j0 * Dm, c, vw->mlp0_b, b.g, o->prec);
        vd__gelu_erf(pool, b.g, b.g, c * Dm);
        vd__matmul(pool, &vw->mlp2, b.g, c, vw->mlp2_b, b.t1, o->prec);
        if (o->probe)
            o->probe(o->probe_user, "vision.merger", (int)(j0 / C), b.t1, c,
                     OUT);
        for (int64_t j = 0; j < c; j++)
            memcpy(out + (int64_t)wi.order[j0 + j] * OUT, b.t1 + j * OUT,
                   (size_t)OUT * sizeof(float));
    }

done:
    vbufs_free(&b);
    vd__qwen_winidx_free(&wi);
    return st;
}

/* ---- one image through the tower ---- */

vd_status vd__qwen_image_embed(vd_ctx *ctx, const vd__qwen_model *m,
                               const vd_image *img, int64_t min_pixels,
                               int64_t max_pixels,
                               const vd__qwen_vision_opts *o,
                               vd__qwen_grid *grid, float **embeds)
{
    const vd__qwen_cfg *cfg = &m->cfg;
    const vd__qwen_vision_cfg *vc = &cfg->vision;
    *embeds = NULL;
    memset(grid, 0, sizeof *grid);
    int w = vd_image_width(img), h = vd_image_height(img), mw, mh;
    vd_status st = vd_smart_resize(
        ctx, h, w, vc->patch * vc->merge,
        min_pixels > 0 ? min_pixels : cfg->pre.min_pixels,
        max_pixels > 0 ? max_pixels : cfg->pre.max_pixels, &mh, &mw);
    if (st)
        return st;
    vd_image *sized = NULL;
    if (mw != w || mh != h) {
        if ((st = vd_image_resize(ctx, img, mw, mh, &sized)))
            return st;
        img = sized;
    }
    float *pv = NULL;
    int64_t rows = 0;
    int thw[3];
    st = vd__raster_pixel_values(ctx, img, vc->patch, vc->merge,
                                 vc->temporal_patch, &pv, &rows, thw);
    vd_image_free(sized);
    if (st)
        return st;
    vd__qwen_grid g = { thw[0], thw[1], thw[2] };
    int64_t ntok = vd__qwen_image_tokens(cfg, &g);
    float *e = vd__aligned_alloc(ctx, (size_t)ntok * (size_t)vc->out_hidden *
                                          sizeof(float));
    if (!e) {
        vd__aligned_free(pv);
        return VD_ERR_NOMEM;
    }
    st = vd__qwen_vision_encode(ctx, m, pv, &g, o, e);
    vd__aligned_free(pv);
    if (st) {
        vd__aligned_free(e);
        return st;
    }
    *grid = g;
    *embeds = e;
    return VD_OK;
}

/* ---- the multimodal prompt ---- */

void vd__qwen_mm_prompt_free(vd__qwen_mm_prompt *p)
{
    if (!p)
        return;
    vd__ivec_free(&p->ids);
    VD_FREE(p->pos);
    p->delta = 0;
    p->n_img = 0;
}

vd_status vd__qwen_mm_prompt_build(vd_ctx *ctx, const vd__qwen_model *m,
                                   const char *system, const char *user,
                                   bool image_first, const vd__qwen_grid *g,
                                   vd__qwen_mm_prompt *out)
{
    memset(out, 0, sizeof *out);
    if (!m->tok)
        return vd__fail(ctx, VD_ERR_ARG, "model loaded without tokenizer");
    out->n_img = g ? vd__qwen_image_tokens(&m->cfg, g) : 0;
    vd__qwen_part parts[2];
    vd__qwen_part txt = { VD_QWEN_TEXT, user ? user : "", 0 };
    vd__qwen_part pic = { VD_QWEN_IMAGE, NULL, out->n_img };
    parts[0] = image_first ? pic : txt;
    parts[1] = image_first ? txt : pic;
    vd__qwen_msg msgs[2];
    int n = 0;
    if (system)
        msgs[n++] = (vd__qwen_msg){ "system", system, NULL, 0 };
    if (g)
        msgs[n++] = (vd__qwen_msg){ "user", NULL, parts, 2 };
    else
        msgs[n++] = (vd__qwen_msg){ "user", txt.text, NULL, 0 };
    vd__buf text;
    vd__buf_init(&text, 0);
    vd_status st = vd__qwen_chat_render(ctx, msgs, n, true, &text);
    if (st == VD_OK)
        st = vd__qwen_tok_encode(ctx, m->tok, text.data ? text.data : "",
                                 text.len, &out->ids);
    vd__buf_free(&text);
    if (st == VD_OK &&
        !(out->pos = vd__malloc(ctx, (size_t)(out->ids.n ? out->ids.n : 1) * 3 *
                                         sizeof *out->pos)))
        st = VD_ERR_NOMEM;
    if (st == VD_OK)
        st = vd__qwen_rope_index(ctx, &m->cfg, out->ids.v, out->ids.n, g,
                                 g ? 1 : 0, NULL, out->pos, &out->delta);
    if (st)
        vd__qwen_mm_prompt_free(out);
    return st;
}

/* ---- multimodal input embeddings ---- */

vd_status vd__qwen_mm_embed(vd_ctx *ctx, const vd__qwen_model *m,
                            const int32_t *ids, int64_t n, const float *img,
                            int64_t n_img, float *out)
{
    int64_t pads = 0;
    for (int64_t i = 0; i < n; i++)
        pads += ids[i] == m->cfg.image_token_id;
    /* HF refuses a mismatch too: the pads are filled in order */
    if (pads != n_img)
        return vd__fail(ctx, VD_ERR_ARG,
                        "prompt has %lld image tokens but the images give "
                        "%lld embeddings",
                        (long long)pads, (long long)n_img);
    vd_status st = vd__qwen_embed(ctx, m, ids, n, out);
    if (st)
        return st;
    int64_t H = m->cfg.text.hidden, k = 0;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == m->cfg.image_token_id)
            memcpy(out + i * H, img + (k++) * H, (size_t)H * sizeof(float));
    return VD_OK;
}

/* Reference test for the vision tower (lib/qwen-vision.c) against Hugging
 * Face's Qwen2.5-VL on both tiny checkpoints and every image case: the
 * engine's own preprocessing (render at the model size, pixel_values and
 * image_grid_thw against the processor files), the window index and
 * cu_window_seqlens (exact), the patch embedding, every block's output in
 * window order, the merger output and the final image embeddings (README
 * tolerance). Also the multimodal embedding scatter and its refusals. */
#include "config.h"

#include "qwen-refs.h"

#define MAX_BLOCKS 8

typedef struct capture {
    int64_t rows[MAX_BLOCKS + 2]; /* rows to keep per probe point */
    float *pe, *blk[MAX_BLOCKS], *merger;
    int64_t width, out_width;
} capture;

static float *keep(const float *x, int64_t rows, int64_t n, int64_t w)
{
    int64_t r = rows < n ? rows : n;
    float *c = malloc((size_t)(r * w) * sizeof *c);
    if (c)
        memcpy(c, x, (size_t)(r * w) * sizeof *c);
    return c;
}

static void probe(void *user, const char *what, int layer, const float *x,
                  int64_t n, int64_t width)
{
    capture *c = user;
    if (strcmp(what, "vision.patch_embed") == 0) {
        c->pe = keep(x, c->rows[0], n, width);
    } else if (strcmp(what, "vision.block") == 0 && layer < MAX_BLOCKS) {
        c->blk[layer] = keep(x, c->rows[1], n, width);
    } else if (strcmp(what, "vision.merger") == 0 && layer == 0) {
        c->merger = keep(x, c->rows[2], n, width);
    }
}

/* ulp distance of two floats */
static int64_t ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t d = (int64_t)ia - (int64_t)ib;
    return d < 0 ? -d : d;
}

static int64_t max_ulps(const float *a, const float *b, int64_t n)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t u = ulps(a[i], b[i]);
        if (u > m)
            m = u;
    }
    return m;
}

/* pixel_values and the grid against the processor's output */
static void check_pixels(vd_ctx *ctx, const char *shared, const ref_case *c,
                         const float *pv, int64_t rows, const vd__qwen_grid *g)
{
    vd__safetensors *st = vrefs_open(shared, "processor", c->name);
    int64_t n = 0;
    int64_t *thw = refs_i64(st, "image_grid_thw", &n);
    tap_ok(thw && n == 3 && thw[0] == g->t && thw[1] == g->h && thw[2] == g->w,
           "%s: image_grid_thw %d %d %d", c->name, g->t, g->h, g->w);
    const int64_t W = 1176;
    if (vd__st_find(st, "pixel_values")) {
        float *ref = refs_f32(st, "pixel_values", &n);
        tap_ok(ref && n == rows * W && max_ulps(pv, ref, n) <= 1,
               "%s: pixel_values [%lld x 1176] within 1 ulp", c->name,
               (long long)rows);
        free(ref);
    } else {
        float *head = refs_f32(st, "pixel_values_head256", NULL);
        float *tail = refs_f32(st, "pixel_values_tail256", NULL);
        float *sums = refs_f32(st, "pixel_values_row_sums", &n);
        int ok = head && tail && sums && n == rows && rows >= 256;
        ok = ok && max_ulps(pv, head, 256 * W) <= 1 &&
             max_ulps(pv + (rows - 256) * W, tail, 256 * W) <= 1;
        double worst = 0;
        for (int64_t r = 0; ok && r < rows; r++) {
            double s = 0;
            for (int64_t k = 0; k < W; k++)
                s += pv[r * W + k];
            double e =
                fabs(s - sums[r]) / (fabs(sums[r]) > 1 ? fabs(sums[r]) : 1);
            if (e > worst)
                worst = e;
        }
        tap_ok(ok && worst < 1e-6,
               "%s: pixel_values [%lld x 1176]: head, tail within 1 ulp, row "
               "sums (worst rel %.2g)",
               c->name, (long long)rows, worst);
        free(head);
        free(tail);
        free(sums);
    }
    free(thw);
    vd__st_close(st);
}

static void check_case(vd_ctx *ctx, const char *shared, const char *model,
                       const vd__qwen_model *m, const ref_case *c, int check_pv)
{
    const vd__qwen_vision_cfg *vc = &m->cfg.vision;
    float *pv = NULL;
    int64_t rows = 0;
    vd__qwen_grid g = { 0, 0, 0 };
    vd_status st = vrefs_pixel_values(ctx, shared, c, &m->cfg, &pv, &rows, &g);
    if (!tap_ok(st == VD_OK, "%s/%s: pixel_values (%s)", model, c->name,
                vd_ctx_errmsg(ctx)))
        return;
    if (check_pv)
        check_pixels(ctx, shared, c, pv, rows, &g);

    vd__safetensors *ref = vrefs_open(shared, model, c->name);
    char what[160];

    /* window index */
    vd__qwen_winidx wi;
    int64_t n_order = 0, n_cu = 0;
    int64_t *order = refs_i64(ref, "vision_window_index", &n_order);
    int64_t *cu = refs_i64(ref, "vision_cu_window_seqlens", &n_cu);
    int ok = vd__qwen_window_index(ctx, vc, &g, &wi) == VD_OK && order && cu &&
             wi.n_tok == n_order && wi.n_cu == n_cu;
    for (int64_t i = 0; ok && i < n_order; i++)
        ok = wi.order[i] == order[i];
    for (int64_t i = 0; ok && i < n_cu; i++)
        ok = wi.cu[i] == cu[i];
    tap_ok(ok,
           "%s/%s: window index (%lld tokens) and cu_window_seqlens "
           "(%lld windows) exact",
           model, c->name, (long long)n_order, (long long)n_cu - 1);
    vd__qwen_winidx_free(&wi);
    free(order);
    free(cu);

    /* the tower, observed at every stage */
    capture cap;
    memset(&cap, 0, sizeof cap);
    cap.rows[0] = vrefs_rows(ref, "vision_patch_embed_out");
    cap.rows[1] = vrefs_rows(ref, "vision_block0_out_windowed");
    cap.rows[2] = vrefs_rows(ref, "vision_merger_out_windowed");
    int64_t ntok = vd__qwen_image_tokens(&m->cfg, &g);
    int64_t OUT = vc->out_hidden, D = vc->hidden;
    float *emb = malloc((size_t)(ntok * OUT) * sizeof *emb);
    vd__qwen_vision_opts o;
    vd__qwen_vision_opts_init(&o);
    o.probe = probe;
    o.probe_user = &cap;
    st = vd__qwen_vision_encode(ctx, m, pv, &g, &o, emb);
    tap_ok(st == VD_OK, "%s/%s: encode %lld patches (%s)", model, c->name,
           (long long)rows, vd_ctx_errmsg(ctx));

    float *r = refs_f32(ref, "vision_patch_embed_out", NULL);
    snprintf(what, sizeof what, "%s/%s: patch embedding (%lld rows)", model,
             c->name, (long long)cap.rows[0]);
    vrefs_check(what, cap.pe, r, r && cap.pe ? cap.rows[0] * D : 0);
    free(r);
    int blocks_ok = 1;
    double worst = 0;
    for (int b = 0; b < vc->depth && b < MAX_BLOCKS; b++) {
        char name[64];
        snprintf(name, sizeof name, "vision_block%d_out_windowed", b);
        r = refs_f32(ref, name, NULL);
        double mref = 0,
               d = r && cap.blk[b]
                       ? vrefs_maxdiff(cap.blk[b], r, cap.rows[1] * D, &mref)
                       : 1e9;
        double tol = 1e-4 > 2e-5 * mref ? 1e-4 : 2e-5 * mref;
        if (!(d <= tol)) {
            blocks_ok = 0;
            tap_diag("block %d: max |diff| %.3g > %.3g", b, d, tol);
        }
        if (d > worst)
            worst = d;
        free(r);
    }
    tap_ok(blocks_ok,
           "%s/%s: %d block outputs in window order (%lld rows, worst "
           "|diff| %.3g)",
           model, c->name, vc->depth, (long long)cap.rows[1], worst);
    r = refs_f32(ref, "vision_merger_out_windowed", NULL);
    snprintf(what, sizeof what, "%s/%s: merger output (%lld rows)", model,
             c->name, (long long)cap.rows[2]);
    vrefs_check(what, cap.merger, r, r && cap.merger ? cap.rows[2] * OUT : 0);
    free(r);
    int64_t n = 0;
    r = refs_f32(ref, "image_embeds", &n);
    snprintf(what, sizeof what, "%s/%s: image embeds [%lld x %lld]", model,
             c->name, (long long)ntok, (long long)OUT);
    vrefs_check(what, emb, r, r && n == ntok * OUT ? n : 0);
    free(r);

    free(cap.pe);
    free(cap.merger);
    for (int b = 0; b < MAX_BLOCKS; b++)
        free(cap.blk[b]);
    free(emb);
    vd__aligned_free(pv);
    vd__st_close(ref);
}

/* The scatter of image embeddings into the token embeddings. */
static void check_mm_embed(vd_ctx *ctx, const vd__qwen_model *m)
{
    int64_t H = m->cfg.text.hidden;
    int32_t pad = m->cfg.image_token_id;
    int32_t ids[6] = { 151644, m->cfg.vision_start_id, pad,
                       pad,    m->cfg.vision_end_id,   198 };
    float img[2 * 64], *out = malloc(6 * (size_t)H * sizeof *out);
    float row[64];
    for (int i = 0; i < 2 * H; i++)
        img[i] = (float)i + 0.5f;
    int ok = vd__qwen_mm_embed(ctx, m, ids, 6, img, 2, out) == VD_OK;
    vd__mat_row_f32(&m->text.embed, 198, row);
    ok = ok && memcmp(out + 2 * H, img, 2 * (size_t)H * sizeof *img) == 0 &&
         memcmp(out + 5 * H, row, (size_t)H * sizeof *row) == 0;
    tap_ok(ok, "mm_embed: image rows replace the pads in order");
    vd_ctx_clear(ctx);
    tap_ok(vd__qwen_mm_embed(ctx, m, ids, 6, img, 1, out) == VD_ERR_ARG &&
               strstr(vd_ctx_errmsg(ctx), "2 image tokens"),
           "mm_embed: pad count mismatch refused (%s)", vd_ctx_errmsg(ctx));
    vd_ctx_clear(ctx);
    ids[0] = (int32_t)m->text.embed.rows;
    tap_ok(vd__qwen_mm_embed(ctx, m, ids, 6, img, 2, out) == VD_ERR_ARG,
           "mm_embed: id outside the vocabulary refused");
    vd_ctx_clear(ctx);
    free(out);
}

/* HF's worked example (spec 3.4): lh 5, lw 6. */
static void check_window_example(vd_ctx *ctx, const vd__qwen_model *m)
{
    static const int32_t want[] = { 0,  1,  2,  3,  6,  7,  8,  9,  12, 13,
                                    14, 15, 18, 19, 20, 21, 4,  5,  10, 11,
                                    16, 17, 22, 23, 24, 25, 26, 27, 28, 29 };
    static const int64_t want_cu[] = { 0, 64, 96, 112, 120 };
    vd__qwen_grid g = { 1, 10, 12 };
    vd__qwen_winidx wi;
    int ok = vd__qwen_window_index(ctx, &m->cfg.vision, &g, &wi) == VD_OK &&
             wi.n_tok == 30 && wi.n_cu == 5 &&
             memcmp(wi.order, want, sizeof want) == 0 &&
             memcmp(wi.cu, want_cu, sizeof want_cu) == 0;
    tap_ok(ok, "window index: the spec's 10 x 12 patch example");
    vd__qwen_winidx_free(&wi);
    /* two frames: windows per frame, boundaries continue */
    g = (vd__qwen_grid){ 2, 8, 8 };
    ok = vd__qwen_window_index(ctx, &m->cfg.vision, &g, &wi) == VD_OK &&
         wi.n_tok == 32 && wi.n_cu == 3 && wi.cu[1] == 64 && wi.cu[2] == 128 &&
         wi.order[16] == 16 && wi.order[31] == 31;
    tap_ok(ok, "window index: two frames");
    vd__qwen_winidx_free(&wi);
    g = (vd__qwen_grid){ 1, 7, 8 };
    vd_ctx_clear(ctx);
    tap_ok(vd__qwen_window_index(ctx, &m->cfg.vision, &g, &wi) == VD_ERR_ARG,
           "window index: odd grid refused (%s)", vd_ctx_errmsg(ctx));
    vd_ctx_clear(ctx);
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
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/refs/qwen25vl/%s/checkpoint", shared,
                 ref_models[mi]);
        vd__qwen_model *m = NULL;
        vd_status st = vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m);
        if (!tap_ok(st == VD_OK, "%s: load (%s)", ref_models[mi],
                    vd_ctx_errmsg(ctx)))
            continue;
        for (int c = 0; c < N_REF_CASES; c++)
            check_case(ctx, shared, ref_models[mi], m, &ref_cases[c], mi == 0);
        if (mi == 0) {
            check_mm_embed(ctx, m);
            check_window_example(ctx, m);
        }
        vd__qwen_free(m);
    }
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

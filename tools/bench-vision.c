/* tools/bench-engine, vision part: the vision tower's wall-clock seconds
 * on images of given sizes (multiples of 28, so nothing is resampled) in
 * exact and bf16 precision with their FLOPs, and the first token of an A4
 * page as the qwen engine runs it - the image through the tower, the
 * document-parsing prompt, prefill of all its tokens - with the peak RSS
 * of that step. Medians over the runs asked for. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench-engine.h"
#include "raster.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double b_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Peak RSS since the last b_peak_reset: Linux's VmHWM, which writing "5"
 * to /proc/self/clear_refs resets, so each step shows its own peak
 * (weights already mapped in by an earlier step still count). Falls back
 * to getrusage's lifetime peak. */
void b_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

double b_rss_gb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return (double)kb * 1024.0 / 1e9;
}

/* A deterministic page-like picture: light background, dark strokes. */
static vd_image *picture(vd_ctx *ctx, int w, int h)
{
    vd_image *img = NULL;
    if (vd_image_new(ctx, w, h, &img) != VD_OK)
        return NULL;
    uint8_t *px = vd_image_data(img);
    size_t stride = vd_image_stride(img);
    uint32_t r = 2463534242u;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            r ^= r << 13;
            r ^= r >> 17;
            r ^= r << 5;
            int ink = (y / 9) % 3 != 0 && (r & 7) < 3;
            uint8_t v =
                ink ? (uint8_t)(r >> 24 & 63) : (uint8_t)(235 + (r & 15));
            uint8_t *p = px + (size_t)y * stride + (size_t)x * 3;
            p[0] = p[1] = p[2] = v;
        }
    return img;
}

double b_vision_flops(vd_ctx *ctx, const vd__qwen_model *m,
                      const vd__qwen_grid *g)
{
    const vd__qwen_vision_cfg *vc = &m->cfg.vision;
    vd__qwen_winidx wi;
    if (vd__qwen_window_index(ctx, vc, g, &wi) != VD_OK)
        return 0;
    double D = vc->hidden, I = vc->intermediate, mm = vc->merge * vc->merge;
    double n = (double)wi.n_tok * mm, N = (double)wi.n_tok, Dm = D * mm;
    double K =
        (double)vc->in_channels * vc->temporal_patch * vc->patch * vc->patch;
    double win = 0; /* sum of squared window lengths */
    for (int i = 0; i + 1 < wi.n_cu; i++) {
        double len = (double)(wi.cu[i + 1] - wi.cu[i]);
        win += len * len;
    }
    double per_frame = n / g->t, full = per_frame * per_frame * g->t;
    double f = 2 * n * K * D;
    for (int b = 0; b < vc->depth; b++) {
        f += 2 * n * D * (3 * D + D + 3 * I); /* qkv, proj, gate/up/down */
        f += 4 * D * (vc->fullatt[b] ? full : win); /* QK^T and PV */
    }
    f += 2 * N * Dm * (Dm + vc->out_hidden);
    vd__qwen_winidx_free(&wi);
    return f;
}

void b_vision(vd_ctx *ctx, const vd__qwen_model *m, const b_opts *o,
              b_results *r)
{
    /* a small image first: every vision weight is paged in once */
    vd_image *w0 = picture(ctx, 112, 112);
    float *e0 = NULL;
    vd__qwen_grid g0;
    if (w0)
        vd__qwen_image_embed(ctx, m, w0, 0, 0, NULL, &g0, &e0);
    vd__aligned_free(e0);
    vd_image_free(w0);
    for (int si = 0; si < o->nsizes; si++) {
        int w = o->sizes[si][0], h = o->sizes[si][1];
        vd_image *img = picture(ctx, w, h);
        for (int p = 0; p < 2 && img; p++) {
            vd__qwen_vision_opts vo;
            vd__qwen_vision_opts_init(&vo);
            vo.prec = p ? VD_PREC_BF16 : VD_PREC_EXACT;
            double t[16];
            int k = 0;
            b_peak_reset();
            for (; k < o->runs && k < 16; k++) {
                float *emb = NULL;
                vd__qwen_grid g;
                double t0 = vd__now();
                vd_status st =
                    vd__qwen_image_embed(ctx, m, img, 0, 0, &vo, &g, &emb);
                t[k] = vd__now() - t0;
                vd__aligned_free(emb);
                if (st) {
                    fprintf(stderr, "bench-engine: vision %dx%d: %s\n", w, h,
                            vd_ctx_errmsg(ctx));
                    r->vis_s[si][p] = -1;
                    k = 0;
                    break;
                }
                r->vis_patches[si] = g.t * g.h * g.w;
                r->vis_tokens[si] = (int)vd__qwen_image_tokens(&m->cfg, &g);
                r->vis_gflop[si] = b_vision_flops(ctx, m, &g) / 1e9;
            }
            if (k) {
                r->vis_s[si][p] = b_median(t, k);
                r->vis_rss[si][p] = b_rss_gb();
                fprintf(stderr,
                        "# vision %dx%d %s: %.2f s (median of %d), %.0f "
                        "GFLOP/s\n",
                        w, h, p ? "bf16" : "exact", r->vis_s[si][p], k,
                        r->vis_gflop[si] / r->vis_s[si][p]);
            }
        }
        vd_image_free(img);
    }
}

static vd_status page_decode(vd_ctx *ctx, const vd__qwen_model *m,
                             vd__qwen_state *s, const vd__qwen_mm_prompt *pr,
                             int n, float *logits, double *secs)
{
    float *e1 = vd__aligned_alloc(ctx, (size_t)m->cfg.text.hidden * 4);
    if (!e1)
        return VD_ERR_NOMEM;
    double t0 = vd__now();
    vd_status st = b_decode(ctx, m, s, pr->ids.n + pr->delta, n, logits, e1);
    *secs = vd__now() - t0;
    vd__aligned_free(e1);
    return st;
}

void b_page(vd_ctx *ctx, const vd__qwen_model *m, vd__qwen_state *s,
            const b_opts *o, const b_config *c, int ci, b_results *r)
{
    vd_image *img = NULL;
    if (o->page_file) {
        vd_input *in = NULL;
        vd_page_geom geom;
        if (vd_input_open(ctx, o->page_file, NULL, &in) == VD_OK)
            vd_input_render_model(ctx, in, 0, NULL, &img, &geom);
        vd_input_free(in);
    } else {
        img = picture(ctx, o->page_w, o->page_h);
    }
    int V = m->cfg.text.vocab, H = m->cfg.text.hidden;
    float *logits = vd__aligned_alloc(ctx, (size_t)V * sizeof *logits);
    double te[16], tp[16];
    int k = 0;
    vd_status st = img && logits ? VD_OK : VD_ERR_NOMEM;
    vd__qwen_state_set_precision(s, c->prec);
    b_peak_reset();
    for (; st == VD_OK && k < o->runs && k < 16; k++) {
        vd__qwen_vision_opts vo;
        vd__qwen_vision_opts_init(&vo);
        vo.prec = c->prec;
        vd__qwen_grid g;
        float *emb = NULL, *x = NULL;
        vd__qwen_mm_prompt pr = { 0 };
        double t0 = vd__now();
        st = vd__qwen_image_embed(ctx, m, img, 0, 0, &vo, &g, &emb);
        te[k] = vd__now() - t0;
        t0 = vd__now();
        if (st == VD_OK)
            st = vd__qwen_mm_prompt_build(ctx, m, NULL, "QwenVL HTML ", false,
                                          &g, &pr);
        if (st == VD_OK &&
            !(x = vd__aligned_alloc(ctx, (size_t)pr.ids.n * (size_t)H * 4)))
            st = VD_ERR_NOMEM;
        if (st == VD_OK)
            st =
                vd__qwen_mm_embed(ctx, m, pr.ids.v, pr.ids.n, emb, pr.n_img, x);
        vd__aligned_free(emb);
        vd__qwen_state_reset(s);
        if (st == VD_OK)
            st = vd__qwen_forward(ctx, s, x, pr.pos, pr.ids.n, NULL, logits);
        tp[k] = vd__now() - t0;
        r->page_tokens = (int)pr.ids.n;
        /* the whole page: the first run goes on generating, greedily,
         * at the positions after the prompt (rope_deltas applied) */
        if (st == VD_OK && k == 0 && o->page_decode > 0)
            st = page_decode(ctx, m, s, &pr, o->page_decode, logits,
                             &r->page_dec_s[ci]);
        vd__aligned_free(x);
        vd__qwen_mm_prompt_free(&pr);
        vd__qwen_state_release(s); /* as the engine does between pages */
    }
    if (st) {
        fprintf(stderr, "bench-engine: A4 page, %s: %s\n", c->name,
                vd_ctx_errmsg(ctx));
        r->page_enc_s[ci] = r->page_pre_s[ci] = -1;
    } else if (k) {
        r->page_enc_s[ci] = b_median(te, k);
        r->page_pre_s[ci] = b_median(tp, k);
        r->page_rss[ci] = b_rss_gb();
        fprintf(stderr,
                "# A4 page %s: encode %.1f s + prefill %d tokens %.1f s "
                "(median of %d) + decode %d tokens %.1f s, peak RSS %.2f "
                "GB\n",
                c->name, r->page_enc_s[ci], r->page_tokens, r->page_pre_s[ci],
                k, o->page_decode, r->page_dec_s[ci], r->page_rss[ci]);
    }
    vd__aligned_free(logits);
    vd_image_free(img);
}

/* tools/bench-engine, vision part: the vision tower's wall-clock seconds
 * on images of given sizes (multiples of 28, so nothing is resampled),
 * and one whole page end to end as the qwen engine runs it - render at the
 * model size, encode, the document-parsing prompt, prefill, N generated
 * tokens (argmax, never stopping early, so random weights time the same
 * work as a real model) - each row with its own peak RSS (mapped weights
 * it reads count). Prints rows of bench-engine's table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "qwen.h"
#include "raster.h"

void bench_vision(vd_ctx *ctx, const char *dir, const char *sizes,
                  const char *page_file, int ndec);

/* Peak RSS since the last peak_reset: Linux's VmHWM, which writing "5"
 * to /proc/self/clear_refs resets, so each row shows its own peak (weights
 * already mapped in by an earlier row still count). Falls back to
 * getrusage's lifetime peak. */
static void peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double rss_gb(void)
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
    return (double)kb / (1024.0 * 1024.0); /* KB -> GB */
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

static void encode_size(vd_ctx *ctx, const vd__qwen_model *m, int w, int h)
{
    vd_image *img = picture(ctx, w, h);
    float *emb = NULL;
    vd__qwen_grid g;
    vd__qwen_vision_opts vo;
    vd__qwen_vision_opts_init(&vo);
    peak_reset();
    double t0 = vd__now();
    vd_status st = img ? vd__qwen_image_embed(ctx, m, img, 0, 0, &vo, &g, &emb)
                       : VD_ERR_NOMEM;
    double t = vd__now() - t0;
    if (st)
        printf("| vision encoder %dx%d | failed: %s |\n", w, h,
               vd_ctx_errmsg(ctx));
    else
        printf("| vision encoder %dx%d (%d patches, %lld tokens) | %.2f s, "
               "peak RSS %.2f GB |\n",
               w, h, g.h * g.w, (long long)vd__qwen_image_tokens(&m->cfg, &g),
               t, rss_gb());
    fflush(stdout);
    vd__aligned_free(emb);
    vd_image_free(img);
}

static void whole_page(vd_ctx *ctx, const vd__qwen_model *m, const char *file,
                       int ndec)
{
    vd_input *in = NULL;
    vd_image *img = NULL;
    vd_page_geom geom;
    peak_reset();
    double t0 = vd__now();
    vd_status st = vd_input_open(ctx, file, NULL, &in);
    if (st == VD_OK)
        st = vd_input_render_model(ctx, in, 0, NULL, &img, &geom);
    vd_input_free(in);
    double trender = vd__now() - t0;
    vd__qwen_grid g;
    float *emb = NULL, *x = NULL;
    vd__qwen_mm_prompt pr = { 0 };
    vd__qwen_state *s = NULL;
    int V = m->cfg.text.vocab, H = m->cfg.text.hidden;
    float *logits = vd__aligned_alloc(ctx, (size_t)V * sizeof *logits);
    float *e1 = vd__aligned_alloc(ctx, (size_t)H * sizeof *e1);
    double tenc = 0, tpre = 0, tdec = 0;
    int done = 0;
    t0 = vd__now();
    if (st == VD_OK)
        st = vd__qwen_image_embed(ctx, m, img, 0, 0, NULL, &g, &emb);
    tenc = vd__now() - t0;
    if (st == VD_OK)
        st = vd__qwen_mm_prompt_build(ctx, m, NULL, "QwenVL HTML ", false, &g,
                                      &pr);
    if (st == VD_OK &&
        !(x = vd__aligned_alloc(ctx, (size_t)pr.ids.n * (size_t)H * 4)))
        st = VD_ERR_NOMEM;
    if (st == VD_OK)
        st = vd__qwen_mm_embed(ctx, m, pr.ids.v, pr.ids.n, emb, pr.n_img, x);
    if (st == VD_OK)
        st = vd__qwen_state_new(ctx, m, pr.ids.n + ndec + 1, &s);
    if (st == VD_OK && (!logits || !e1))
        st = VD_ERR_NOMEM;
    t0 = vd__now();
    if (st == VD_OK)
        st = vd__qwen_forward(ctx, s, x, pr.pos, pr.ids.n, NULL, logits);
    tpre = vd__now() - t0;
    t0 = vd__now();
    for (; st == VD_OK && done < ndec; done++) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (logits[i] > logits[best])
                best = i;
        int32_t p = (int32_t)(pr.ids.n + done + pr.delta), p3[3] = { p, p, p };
        if ((st = vd__qwen_embed(ctx, m, &best, 1, e1)) == VD_OK)
            st = vd__qwen_forward(ctx, s, e1, p3, 1, NULL, logits);
    }
    tdec = vd__now() - t0;
    if (st) {
        printf("| whole page %s | failed: %s |\n", file, vd_ctx_errmsg(ctx));
    } else {
        printf("| whole page: %s, model image %dx%d, render | %.2f s |\n", file,
               geom.map.model_w, geom.map.model_h, trender);
        printf("| whole page: encode %d patches | %.1f s |\n", g.h * g.w, tenc);
        printf("| whole page: prefill %lld tokens (%lld image) | %.1f s, "
               "%.1f tokens/s |\n",
               (long long)pr.ids.n, (long long)pr.n_img, tpre, pr.ids.n / tpre);
        printf("| whole page: decode %d tokens | %.1f s, %.2f tokens/s |\n",
               done, tdec, done / tdec);
        printf("| whole page: encode + prefill + %d tokens | %.1f s, peak "
               "RSS %.2f GB |\n",
               done, tenc + tpre + tdec, rss_gb());
    }
    fflush(stdout);
    vd__qwen_state_free(s);
    vd__qwen_mm_prompt_free(&pr);
    vd__aligned_free(emb);
    vd__aligned_free(x);
    vd__aligned_free(logits);
    vd__aligned_free(e1);
    vd_image_free(img);
}

void bench_vision(vd_ctx *ctx, const char *dir, const char *sizes,
                  const char *page_file, int ndec)
{
    vd__qwen_model *m = NULL;
    if (vd__qwen_load(ctx, dir, 0, &m) != VD_OK) {
        fprintf(stderr, "bench-engine: %s\n", vd_ctx_errmsg(ctx));
        return;
    }
    const vd__qwen_vision_cfg *vc = &m->cfg.vision;
    int nfull = 0;
    for (int b = 0; b < vc->depth; b++)
        nfull += vc->fullatt[b];
    printf("| vision tower | %d blocks x %d, %d heads, full attention in "
           "%d blocks |\n",
           vc->depth, vc->hidden, vc->n_head, nfull);
    for (const char *p = sizes; p && *p;) {
        int w = 0, h = 0, n = 0;
        if (sscanf(p, "%dx%d%n", &w, &h, &n) != 2 || w < 28 || h < 28) {
            fprintf(stderr, "bench-engine: bad size list at '%s'\n", p);
            break;
        }
        encode_size(ctx, m, w, h);
        p += n;
        if (*p == ',')
            p++;
    }
    if (page_file)
        whole_page(ctx, m, page_file, ndec);
    vd__qwen_free(m);
}

/* Helpers for the multimodal reference tests, on top of refs.h: the image
 * cases, a case's safetensors file, one TAP line per float comparison
 * under refs/README.md's tolerance, and a reference image rendered the
 * way the engine does (vd_input_render_model at the processor's budget). */
#ifndef VD_TEST_QWEN_REFS_H
#define VD_TEST_QWEN_REFS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qwen.h"
#include "raster.h"
#include "refs.h"

/* The cases every tiny model has, and the images behind them. */
typedef struct ref_case {
    const char *name;
    const char *image; /* NULL for the text-only case */
    int64_t max_pixels;
} ref_case;

static const ref_case ref_cases[] = {
    { "img_a", "img_a_300x200.png", 12845056 },
    { "img_b", "img_b_900x1200.png", 12845056 },
    { "img_b_maxpix", "img_b_900x1200.png", 200704 },
    { "img_c", "img_c_56x56.png", 12845056 },
    { "img_d", "img_d_30x40.png", 12845056 },
};
#define N_REF_CASES (int)(sizeof ref_cases / sizeof *ref_cases)
static const char *const ref_models[] = { "tiny", "tiny-untied" };

/* $VLDOC_SHARED when it holds the Qwen references; else skip the test. */
static inline const char *vrefs_shared_or_skip(void)
{
    const char *s = getenv("VLDOC_SHARED");
    char p[1024];
    snprintf(p, sizeof p, "%s/refs/qwen25vl/manifest.json", s ? s : "");
    FILE *f = s && *s ? fopen(p, "r") : NULL;
    if (!f)
        tap_skip_all("VLDOC_SHARED does not hold refs/qwen25vl");
    fclose(f);
    return s;
}

static inline vd__safetensors *vrefs_open(const char *shared, const char *sub,
                                          const char *name)
{
    char rel[512];
    snprintf(rel, sizeof rel, "%s/%s.safetensors", sub, name);
    return refs_open(shared, rel);
}

/* Rows of a 2-D reference tensor. */
static inline int64_t vrefs_rows(vd__safetensors *st, const char *name)
{
    const vd__st_tensor *t = st ? vd__st_find(st, name) : NULL;
    return t && t->ndim >= 1 ? t->shape[0] : -1;
}

/* Largest |a - b| over N values, and the largest |b|. */
static inline double vrefs_maxdiff(const float *a, const float *b, int64_t n,
                                   double *maxref)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d)) /* NaN counts as a failure */
            d = e;
        if (fabs((double)b[i]) > m)
            m = fabs((double)b[i]);
    }
    if (maxref)
        *maxref = m;
    return d;
}

/* One TAP line: GOT within the README's tolerance of REF. */
static inline int vrefs_check(const char *what, const float *got,
                              const float *ref, int64_t n)
{
    double m = 0, d = got && ref ? vrefs_maxdiff(got, ref, n, &m) : NAN;
    double tol =
        REFS_ABS_TOL > REFS_REL_TOL * m ? REFS_ABS_TOL : REFS_REL_TOL * m;
    return tap_ok(got && ref && n > 0 && d <= tol,
                  "%s: max |diff| %.3g (max |ref| %.3g, tol %.3g)", what, d, m,
                  tol);
}

/* Render reference image C the way the engine does and make its
 * pixel_values. Caller frees *PV with vd__aligned_free. */
static inline vd_status vrefs_pixel_values(vd_ctx *ctx, const char *shared,
                                           const ref_case *c,
                                           const vd__qwen_cfg *cfg, float **pv,
                                           int64_t *rows, vd__qwen_grid *g)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/refs/qwen25vl/images/%s", shared, c->image);
    vd_input *in = NULL;
    vd_status st = vd_input_open(ctx, p, NULL, &in);
    if (st)
        return st;
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    ro.min_pixels = cfg->pre.min_pixels;
    ro.max_pixels = c->max_pixels;
    vd_image *img = NULL;
    st = vd_input_render_model(ctx, in, 0, &ro, &img, NULL);
    vd_input_free(in);
    if (st)
        return st;
    int thw[3];
    st = vd__raster_pixel_values(ctx, img, cfg->vision.patch, cfg->vision.merge,
                                 cfg->vision.temporal_patch, pv, rows, thw);
    vd_image_free(img);
    g->t = thw[0];
    g->h = thw[1];
    g->w = thw[2];
    return st;
}

/* Remove a folder refs_model_dir made (its links, then itself), so the
 * build tree stays clean for distcheck. */
static inline void vrefs_model_dir_remove(const char *dir)
{
    static const char *const names[] = { "config.json",
                                         "generation_config.json",
                                         "preprocessor_config.json",
                                         "model.safetensors",
                                         "chat_template.json",
                                         "tokenizer.json",
                                         "tokenizer_config.json",
                                         "vocab.json",
                                         "merges.txt" };
    char p[2048];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

#endif

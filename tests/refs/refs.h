/* Helpers for the reference tests (tests/refs/test-*.c): read reference
 * tensors from the shared safetensors files, compare float arrays with the
 * tolerance of refs/README.md, and assemble a loadable model folder (the
 * reference checkpoint plus the shared tokenizer files) under the build
 * directory. Header-only, like tap.h. */
#ifndef VD_TEST_REFS_H
#define VD_TEST_REFS_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "safetensors.h"

/* refs/README.md: abs 1e-4, or 2e-5 relative to the tensor's max abs. */
#define REFS_ABS_TOL 1e-4
#define REFS_REL_TOL 2e-5

/* Tensor NAME of ST widened to float (caller frees with free), or NULL
 * (a failed TAP line says why). *N gets the element count. */
static inline float *refs_f32(vd__safetensors *st, const char *name, int64_t *n)
{
    const vd__st_tensor *t = st ? vd__st_find(st, name) : NULL;
    if (!t) {
        tap_ok(0, "reference tensor %s present", name);
        return NULL;
    }
    float *v = malloc((size_t)t->numel * sizeof *v + 1);
    if (!v || vd__st_to_f32(NULL, t, v) != VD_OK) {
        free(v);
        return NULL;
    }
    if (n)
        *n = t->numel;
    return v;
}

static inline int64_t *refs_i64(vd__safetensors *st, const char *name,
                                int64_t *n)
{
    const vd__st_tensor *t = st ? vd__st_find(st, name) : NULL;
    if (!t) {
        tap_ok(0, "reference tensor %s present", name);
        return NULL;
    }
    int64_t *v = malloc((size_t)t->numel * sizeof *v + 1);
    if (!v || vd__st_to_i64(NULL, t, v) != VD_OK) {
        free(v);
        return NULL;
    }
    if (n)
        *n = t->numel;
    return v;
}

/* Within tolerance: |got - want| <= max(abs, rel * max|want|). */
static inline bool refs_close(const float *got, const float *want, int64_t n,
                              double *maxdiff)
{
    double mx = 0, md = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(want[i]) > mx)
            mx = fabs(want[i]);
    bool finite = true;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d == d))
            finite = false;
        if (d > md)
            md = d;
    }
    if (maxdiff)
        *maxdiff = md;
    double tol =
        REFS_ABS_TOL > REFS_REL_TOL * mx ? REFS_ABS_TOL : REFS_REL_TOL * mx;
    return finite && md <= tol;
}

static inline void refs_link(const char *from, const char *to)
{
    unlink(to);
    if (symlink(from, to) != 0)
        tap_diag("symlink %s: %s", to, strerror(errno));
}

/* DIR (under the build dir) = shared checkpoint CKPT ("tiny",
 * "tiny-untied") + the shared tokenizer files, all as links. */
static inline const char *refs_model_dir(const char *shared, const char *ckpt,
                                         const char *dir)
{
    static const char *ck[] = { "config.json", "generation_config.json",
                                "preprocessor_config.json", "model.safetensors",
                                "chat_template.json" };
    static const char *tk[] = { "tokenizer.json", "tokenizer_config.json",
                                "vocab.json", "merges.txt" };
    char a[2048], b[2048];
    mkdir(dir, 0777);
    for (size_t i = 0; i < sizeof ck / sizeof *ck; i++) {
        snprintf(a, sizeof a, "%s/refs/qwen25vl/%s/checkpoint/%s", shared, ckpt,
                 ck[i]);
        snprintf(b, sizeof b, "%s/%s", dir, ck[i]);
        refs_link(a, b);
    }
    for (size_t i = 0; i < sizeof tk / sizeof *tk; i++) {
        snprintf(a, sizeof a, "%s/refs/tokenizer/%s", shared, tk[i]);
        snprintf(b, sizeof b, "%s/%s", dir, tk[i]);
        refs_link(a, b);
    }
    return dir;
}

static inline vd__safetensors *refs_open(const char *shared, const char *rel)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/refs/qwen25vl/%s", shared, rel);
    vd__safetensors *st = NULL;
    vd_ctx *ctx = vd_ctx_new(NULL);
    if (vd__st_open(ctx, p, &st) != VD_OK)
        tap_ok(0, "open %s: %s", p, vd_ctx_errmsg(ctx));
    vd_ctx_free(ctx);
    return st;
}

#endif

/* Reference test for the rasterizer's preprocessing against Hugging Face's
 * Qwen2.5-VL processor (refs/qwen25vl/processor): every smart_resize case
 * (sizes and errors) exactly, and for each reference image the PNG decode,
 * the Pillow bicubic resize (resized_image_u8, exact), pixel_values (at
 * most 1 ulp; the README's tolerance) and image_grid_thw (exact). */
#include "config.h"

#include <json.h>
#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "raster.h"
#include "safetensors.h"

static int64_t jint(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static void smart_resize_cases(vd_ctx *ctx, const char *shared)
{
    char path[1024];
    snprintf(path, sizeof path,
             "%s/refs/qwen25vl/processor/smart_resize_cases.json", shared);
    json_object *root = json_object_from_file(path);
    if (!tap_ok(root && json_object_is_type(root, json_type_array),
                "smart_resize_cases.json parses"))
        return;
    size_t n = json_object_array_length(root);
    int good = 0, errs = 0, errs_ok = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(root, i);
        int h = (int)jint(c, "height"), w = (int)jint(c, "width");
        int64_t minp = jint(c, "min_pixels"), maxp = jint(c, "max_pixels");
        int oh = 0, ow = 0;
        vd_ctx_clear(ctx);
        vd_status st = vd_smart_resize(ctx, h, w, 28, minp, maxp, &oh, &ow);
        json_object *e;
        if (json_object_object_get_ex(c, "error", &e)) {
            errs++;
            if (st == VD_ERR_ARG)
                errs_ok++;
            else
                tap_diag("%d x %d: expected an error, got %d x %d", w, h, ow,
                         oh);
            continue;
        }
        json_object *g;
        json_object_object_get_ex(c, "grid_thw", &g);
        int rh = (int)jint(c, "resized_height");
        int rw = (int)jint(c, "resized_width");
        int ok =
            st == VD_OK && oh == rh && ow == rw &&
            json_object_get_int(json_object_array_get_idx(g, 1)) == oh / 14 &&
            json_object_get_int(json_object_array_get_idx(g, 2)) == ow / 14 &&
            jint(c, "n_image_tokens") == (int64_t)(oh / 28) * (ow / 28);
        if (ok)
            good++;
        else
            tap_diag("%d x %d [%lld, %lld]: want %d x %d, got %d x %d (%s)", w,
                     h, (long long)minp, (long long)maxp, rw, rh, ow, oh,
                     vd_ctx_errmsg(ctx));
    }
    tap_ok(good + errs == (int)n && good > 20,
           "smart_resize: %d of %d sizes exact", good, (int)n - errs);
    tap_ok(errs == 2 && errs_ok == errs,
           "smart_resize: %d of %d error cases refused (aspect > 200, side "
           "< 28)",
           errs_ok, errs);
    json_object_put(root);
}

/* ulp distance of two floats (same sign assumed near equality) */
static int64_t ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0)
        ia = INT32_MIN - ia;
    if (ib < 0)
        ib = INT32_MIN - ib;
    int64_t d = (int64_t)ia - ib;
    return d < 0 ? -d : d;
}

static int64_t max_ulps(const float *got, const vd__st_tensor *t, size_t row0,
                        size_t nrows, size_t cols)
{
    const float *ref = t->data;
    int64_t worst = 0;
    for (size_t i = 0; i < nrows * cols; i++) {
        float r;
        memcpy(&r, ref + i, 4); /* the mapping may be unaligned */
        int64_t u = ulps(got[row0 * cols + i], r);
        if (u > worst)
            worst = u;
    }
    return worst;
}

static void image_case(vd_ctx *ctx, const char *shared, const char *name,
                       const char *image, int64_t max_pixels)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/qwen25vl/processor/%s.safetensors",
             shared, name);
    vd__safetensors *ref = NULL;
    if (!tap_ok(vd__st_open(ctx, path, &ref) == VD_OK, "%s: reference opens",
                name))
        return;
    snprintf(path, sizeof path, "%s/refs/qwen25vl/images/%s", shared, image);
    vd_input *in = NULL;
    vd_image *img = NULL;
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    ro.min_pixels = 3136; /* the published preprocessor_config.json */
    ro.max_pixels = max_pixels;
    vd_page_geom g;
    vd_ctx_clear(ctx);
    vd_status st = vd_input_open(ctx, path, NULL, &in);
    if (!st)
        st = vd_input_render_model(ctx, in, 0, &ro, &img, &g);
    tap_ok(st == VD_OK, "%s: %s decodes and resizes: %s", name, image,
           vd_ctx_errmsg(ctx));
    if (st) {
        vd_input_free(in);
        vd__st_close(ref);
        return;
    }
    const vd__st_tensor *u8 = vd__st_find(ref, "resized_image_u8");
    int w = vd_image_width(img), h = vd_image_height(img);
    int same_size = u8 && u8->ndim == 3 && u8->shape[0] == h &&
                    u8->shape[1] == w && u8->shape[2] == 3;
    tap_ok(same_size, "%s: model size %d x %d matches the processor's", name, w,
           h);
    long diff = 0;
    if (same_size) {
        const uint8_t *r = u8->data;
        for (int y = 0; y < h; y++) {
            const uint8_t *row =
                vd_image_cdata(img) + (size_t)y * vd_image_stride(img);
            for (int i = 0; i < w * 3; i++)
                diff += row[i] != r[(size_t)y * w * 3 + i];
        }
    }
    tap_ok(same_size && diff == 0,
           "%s: resized_image_u8 equal byte for byte (%ld differ)", name, diff);

    float *pv = NULL;
    int64_t rows = 0;
    int thw[3];
    st = vd__raster_pixel_values(ctx, img, 14, 2, 2, &pv, &rows, thw);
    const vd__st_tensor *grid = vd__st_find(ref, "image_grid_thw");
    int64_t gref[3] = { 0 };
    if (grid && grid->numel == 3)
        vd__st_to_i64(ctx, grid, gref);
    tap_ok(st == VD_OK && thw[0] == gref[0] && thw[1] == gref[1] &&
               thw[2] == gref[2] && rows == gref[0] * gref[1] * gref[2],
           "%s: image_grid_thw [%d, %d, %d], %lld rows", name, thw[0], thw[1],
           thw[2], (long long)rows);
    const size_t cols = 1176;
    const vd__st_tensor *full = vd__st_find(ref, "pixel_values");
    if (st == VD_OK && full) {
        int shape_ok = full->ndim == 2 && full->shape[0] == rows &&
                       full->shape[1] == (int64_t)cols;
        int64_t u = shape_ok ? max_ulps(pv, full, 0, (size_t)rows, cols) : -1;
        tap_ok(shape_ok && u >= 0 && u <= 1,
               "%s: pixel_values [%lld, 1176] within 1 ulp (worst %lld)", name,
               (long long)rows, (long long)u);
        if (u == 0)
            tap_diag("%s: pixel_values bit-exact", name);
    } else if (st == VD_OK) {
        const vd__st_tensor *head = vd__st_find(ref, "pixel_values_head256");
        const vd__st_tensor *tail = vd__st_find(ref, "pixel_values_tail256");
        const vd__st_tensor *sums = vd__st_find(ref, "pixel_values_row_sums");
        int ok = head && tail && sums && sums->numel == rows && rows >= 256;
        int64_t uh = ok ? max_ulps(pv, head, 0, 256, cols) : -1;
        int64_t ut =
            ok ? max_ulps(pv, tail, (size_t)rows - 256, 256, cols) : -1;
        tap_ok(ok && uh >= 0 && uh <= 1 && ut >= 0 && ut <= 1,
               "%s: pixel_values first and last 256 rows within 1 ulp "
               "(worst %lld, %lld)",
               name, (long long)uh, (long long)ut);
        /* every row: float64 sum, stored as float32 */
        int64_t bad = 0;
        for (int64_t r = 0; ok && r < rows; r++) {
            double s = 0;
            for (size_t k = 0; k < cols; k++)
                s += pv[(size_t)r * cols + k];
            float want;
            memcpy(&want, (const float *)sums->data + r, 4);
            if (ulps((float)s, want) > 1)
                bad++;
        }
        tap_ok(ok && bad == 0,
               "%s: all %lld row sums of pixel_values match (%lld differ)",
               name, (long long)rows, (long long)bad);
    }
    vd__aligned_free(pv);
    vd_image_free(img);
    vd_input_free(in);
    vd__st_close(ref);
}

/* The normalisation of every byte value in every channel against the
 * formula in double: catches a wrong constant or channel order even for
 * values no reference image contains. */
static void norm_table(void)
{
    static const double mean[3] = { 0.48145466, 0.4578275, 0.40821073 };
    static const double sd[3] = { 0.26862954, 0.26130258, 0.27577711 };
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            double want = (v / 255.0 - mean[c]) / sd[c];
            double d = fabs(vd__raster_norm(c, (uint8_t)v) - want);
            worst = d > worst ? d : worst;
        }
    tap_ok(worst < 1e-6,
           "CLIP normalisation of all 768 values within 1e-6 "
           "of the formula (worst %.2g)",
           worst);
}

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    smart_resize_cases(ctx, shared);
    norm_table();
    image_case(ctx, shared, "img_a", "img_a_300x200.png", 12845056);
    image_case(ctx, shared, "img_b", "img_b_900x1200.png", 12845056);
    image_case(ctx, shared, "img_b_maxpix", "img_b_900x1200.png", 200704);
    image_case(ctx, shared, "img_c", "img_c_56x56.png", 12845056);
    image_case(ctx, shared, "img_d", "img_d_30x40.png", 12845056);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

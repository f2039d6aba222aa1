/* Raster: the last preprocessing step before the vision tower. Takes the
 * smart-resized RGB page and produces Qwen2.5-VL's pixel_values (rescale,
 * CLIP normalise, temporal repeat, patch flattening in merge-group order)
 * and image_grid_thw, bit for bit as Hugging Face's slow processor. It
 * never resizes: the caller hands it an image already at its model size. */
#include "config.h"

#include <string.h>

#include "raster.h"

static const double clip_mean[3] = { VD_CLIP_MEAN_R, VD_CLIP_MEAN_G,
                                     VD_CLIP_MEAN_B };
static const double clip_std[3] = { VD_CLIP_STD_R, VD_CLIP_STD_G,
                                    VD_CLIP_STD_B };

/* HF rescales in float64 (u8 * (1/255)) and casts to float32, then
 * normalises in float32 against float32 copies of the constants. Two
 * roundings, in that order; fusing them into one division would be off
 * by an ulp on some values. volatile keeps the compiler from contracting
 * or reassociating anything. */
float vd__raster_norm(int c, uint8_t v)
{
    volatile float x = (float)((double)v * (1.0 / 255.0));
    volatile float d = x - (float)clip_mean[c];
    return d / (float)clip_std[c];
}

vd_status vd__raster_pixel_values(vd_ctx *ctx, const vd_image *img, int patch,
                                  int merge, int temporal, float **pv,
                                  int64_t *rows, int grid_thw[3])
{
    *pv = NULL;
    *rows = 0;
    grid_thw[0] = grid_thw[1] = grid_thw[2] = 0;
    int w = vd_image_width(img), h = vd_image_height(img);
    if (patch <= 0 || merge <= 0 || temporal <= 0 || patch > 1024 ||
        merge > 64 || temporal > 64)
        return vd__fail(ctx, VD_ERR_ARG,
                        "pixel_values: bad patch %d, merge %d, temporal %d",
                        patch, merge, temporal);
    int f = patch * merge;
    if (w % f != 0 || h % f != 0)
        return vd__fail(ctx, VD_ERR_ARG,
                        "pixel_values: image %d x %d is not a multiple of "
                        "%d (smart resize it first)",
                        w, h, f);
    int gh = h / patch, gw = w / patch;
    size_t cols = (size_t)3 * (size_t)temporal * (size_t)patch * (size_t)patch;
    size_t nrows = (size_t)gh * (size_t)gw, nbytes;
    if (!vd__mul_ok(nrows, cols, &nbytes) ||
        !vd__mul_ok(nbytes, sizeof(float), &nbytes))
        return vd__fail(ctx, VD_ERR_LIMIT, "pixel_values: too large");

    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = vd__raster_norm(c, (uint8_t)v);

    float *out = vd__aligned_alloc(ctx, nbytes);
    if (!out)
        return VD_ERR_NOMEM;
    const uint8_t *px = vd_image_cdata(img);
    size_t stride = vd_image_stride(img);
    size_t plane = (size_t)patch * (size_t)patch; /* one (c, t) block */
    int lh = gh / merge, lw = gw / merge;
    float *row = out;
    for (int bh = 0; bh < lh; bh++)
        for (int bw = 0; bw < lw; bw++)
            for (int ih = 0; ih < merge; ih++)
                for (int iw = 0; iw < merge; iw++, row += cols) {
                    int y0 = (bh * merge + ih) * patch;
                    int x0 = (bw * merge + iw) * patch;
                    for (int c = 0; c < 3; c++) {
                        float *dst = row + (size_t)c * temporal * plane;
                        for (int py = 0; py < patch; py++) {
                            const uint8_t *s = px + (size_t)(y0 + py) * stride +
                                               (size_t)x0 * 3 + (size_t)c;
                            float *d = dst + (size_t)py * patch;
                            for (int q = 0; q < patch; q++)
                                d[q] = lut[c][s[3 * q]];
                        }
                        /* the still image is every frame */
                        for (int t = 1; t < temporal; t++)
                            memcpy(dst + (size_t)t * plane, dst,
                                   plane * sizeof(float));
                    }
                }
    *pv = out;
    *rows = (int64_t)nrows;
    grid_thw[0] = 1;
    grid_thw[1] = gh;
    grid_thw[2] = gw;
    return VD_OK;
}

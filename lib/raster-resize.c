/* Raster: Qwen2.5-VL's smart resize (target size in multiples of 28 with
 * the pixel budget) computed exactly as Hugging Face does, in double with
 * round-half-to-even. Sizes only: the pixels are resampled in
 * raster-resample.c. */
#include "config.h"

#include <math.h>

#include "vd-private.h"

vd_status vd_smart_resize(vd_ctx *ctx, int height, int width, int factor,
                          int64_t min_pixels, int64_t max_pixels, int *out_h,
                          int *out_w)
{
    *out_h = *out_w = 0;
    if (height <= 0 || width <= 0 || factor <= 0)
        return vd__fail(ctx, VD_ERR_ARG, "image size %d x %d is empty", width,
                        height);
    if (height < factor || width < factor)
        return vd__fail(ctx, VD_ERR_ARG,
                        "image of %d x %d pixels is too small: each side "
                        "must be at least %d",
                        width, height, factor);
    double hi = height > width ? height : width;
    double lo = height > width ? width : height;
    if (hi / lo > 200)
        return vd__fail(ctx, VD_ERR_ARG,
                        "image of %d x %d pixels: aspect ratio must be "
                        "smaller than 200",
                        width, height);
    double f = factor;
    /* rint is round-half-even in the default rounding mode, as Python's
     * round(); C's round() would send 70/28 = 2.5 to 3 */
    double h_bar = rint(height / f) * f;
    double w_bar = rint(width / f) * f;
    if (h_bar * w_bar > (double)max_pixels) {
        double beta =
            sqrt(((double)height * (double)width) / (double)max_pixels);
        h_bar = floor(height / beta / f) * f;
        w_bar = floor(width / beta / f) * f;
    } else if (h_bar * w_bar < (double)min_pixels) {
        double beta =
            sqrt((double)min_pixels / ((double)height * (double)width));
        h_bar = ceil(height * beta / f) * f;
        w_bar = ceil(width * beta / f) * f;
    }
    if (h_bar < f || w_bar < f || h_bar > 1e6 || w_bar > 1e6)
        return vd__fail(ctx, VD_ERR_ARG,
                        "image of %d x %d pixels cannot be fitted into the "
                        "pixel budget %lld..%lld",
                        width, height, (long long)min_pixels,
                        (long long)max_pixels);
    *out_h = (int)h_bar;
    *out_w = (int)w_bar;
    return VD_OK;
}

/* Raster internals shared by lib/raster-*.c, lib/image.c, the decoders and
 * the Qwen engine: Pillow-exact resampling, Qwen2.5-VL pixel_values, and
 * the small pixel helpers every decoder needs. Never installed. */
#ifndef VD_RASTER_H
#define VD_RASTER_H

#include "vd-private.h"

/* ---- pixel_values (raster-patch.c) ---- */

/* The CLIP normalisation constants Qwen2.5-VL's processor uses. */
#define VD_CLIP_MEAN_R 0.48145466
#define VD_CLIP_MEAN_G 0.4578275
#define VD_CLIP_MEAN_B 0.40821073
#define VD_CLIP_STD_R  0.26862954
#define VD_CLIP_STD_G  0.26130258
#define VD_CLIP_STD_B  0.27577711

/* Turn IMG (already at its smart-resized size: both sides multiples of
 * PATCH * MERGE) into Qwen2.5-VL's pixel_values exactly as Hugging Face's
 * slow image processor does: u8 / 255 in double rounded to float, then
 * (x - mean) / std in float with the CLIP constants, the single frame
 * repeated TEMPORAL times, and rows ordered by MERGE x MERGE patch group
 * (docs/qwen25vl-inference.md section 2.6).
 * On VD_OK *PV holds (*ROWS, 3 * TEMPORAL * PATCH * PATCH) floats, 64-byte
 * aligned, owned by the caller (free with vd__aligned_free), and GRID_THW
 * is {1, h / PATCH, w / PATCH}.
 * Errors: VD_ERR_ARG (sizes not multiples, bad patch/merge/temporal),
 * VD_ERR_NOMEM. */
vd_status vd__raster_pixel_values(vd_ctx *ctx, const vd_image *img, int patch,
                                  int merge, int temporal, float **pv,
                                  int64_t *rows, int grid_thw[3]);

/* The normalised value of 8-bit sample V in channel C (0 R, 1 G, 2 B), the
 * exact float the processor produces. */
float vd__raster_norm(int c, uint8_t v);

/* ---- resampling (raster-resize.c) ---- */

/* Pillow's bicubic coefficients for one axis: output sample O reads
 * COUNT[O] input samples from FIRST[O] with 22-bit fixed-point weights
 * K[O * KSIZE ...]. */
typedef struct vd__resample_axis {
    int in_size, out_size;
    int ksize;
    int *first, *count; /* out_size each, owned */
    int32_t *k;         /* out_size * ksize, owned */
} vd__resample_axis;

vd_status vd__resample_axis_init(vd_ctx *ctx, vd__resample_axis *a, int in_size,
                                 int out_size);
void vd__resample_axis_free(vd__resample_axis *a);

/* ---- page-sized buffers (image.c) ---- */

/* A buffer for a whole page (raster, cairo surface, resample
 * intermediate), 64-byte aligned. Free with vd__page_free and the same N.
 * Large ones come straight from mmap, 2 MiB aligned and marked for huge
 * pages: glibc raises its mmap threshold after the first big free and then
 * serves page-sized blocks from the heap, where poppler's small
 * allocations in between keep them from being reused (RSS grew 3-4 MB a
 * page over a long PDF); plain 4 KiB mappings cost half the render time in
 * page faults. Errors: VD_ERR_NOMEM (message set). */
void *vd__page_alloc(vd_ctx *ctx, size_t n);
void vd__page_free(void *p, size_t n);

/* vd_image_new without the white fill when WHITE is 0: for producers
 * that write every pixel (renderers, resamplers). */
vd_status vd__image_alloc(vd_ctx *ctx, int w, int h, int white, vd_image **out);

/* Decoders of grey and bilevel pages say so once every pixel is written;
 * the resampler then filters one channel instead of three (the same
 * values, a third of the work). vd_image_data clears the mark. */
void vd__image_set_grey(vd_image *img, int grey);
int vd__image_is_grey(const vd_image *img);

/* ---- pixel helpers for decoders (image.c) ---- */

/* Where decoded rows go: an image in visible orientation, written row by
 * row in the file's stored order and turned by a TIFF/EXIF orientation
 * (1..8) on the way in, so no second full-size buffer is needed. */
typedef struct vd__orient_dst {
    vd_image *img; /* visible orientation: w x h, or h x w for 5..8 */
    int stored_w;  /* width and height as stored in the file */
    int stored_h;
    int orientation; /* 1..8 */
} vd__orient_dst;

/* Size of the visible image for a stored W x H under ORIENTATION. */
void vd__orient_size(int orientation, int w, int h, int *vw, int *vh);
/* Store RGB row Y (stored coordinates, W = stored_w pixels). */
void vd__orient_put_row(vd__orient_dst *d, int y, const uint8_t *rgb);

/* Composite one RGBA pixel row (not premultiplied) onto white, writing N
 * RGB pixels: out = c * a / 255 + 255 - a, rounded. */
void vd__rgba_on_white(uint8_t *rgb, const uint8_t *rgba, int n);

/* Orientation of the pages as named by TIFF and EXIF (1 = as stored). */
const char *vd__orientation_name(int orientation);

#endif

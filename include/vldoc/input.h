/* vldoc input: open a document (PDF, TIFF, PNG, JPEG), count and measure
 * its pages, render a page to 8-bit RGB, and map model-pixel boxes back to
 * page coordinates. */
#ifndef VLDOC_INPUT_H
#define VLDOC_INPUT_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vd_format {
    VD_FORMAT_UNKNOWN = 0,
    VD_FORMAT_PDF,
    VD_FORMAT_TIFF,
    VD_FORMAT_PNG,
    VD_FORMAT_JPEG,
    VD_FORMAT_QWENVL /* QwenVL HTML from elsewhere (-i qwenvl) */
} vd_format;

/* Short lowercase name ("pdf"); "unknown" for VD_FORMAT_UNKNOWN. */
const char *vd_format_name(vd_format f);

/* Units of page coordinates: PDF points (1/72 in) or image pixels. */
typedef enum vd_unit { VD_UNIT_PT = 0, VD_UNIT_PX = 1 } vd_unit;

typedef struct vd_input_opts {
    const char *password; /* PDF user or owner password; NULL: none */
    vd_format format;     /* force a format; UNKNOWN: sniff magic bytes */
    /* For VD_FORMAT_QWENVL: the image the model saw, or its size. */
    const char *image_path;
    int model_w, model_h;
} vd_input_opts;

void vd_input_opts_init(vd_input_opts *o);

typedef struct vd_input vd_input;

/* Open PATH, choosing the decoder from its first bytes (not the file
 * name). On VD_OK the caller owns *out (vd_input_free).
 * Errors: VD_ERR_IO, VD_ERR_FORMAT, VD_ERR_PASSWORD, VD_ERR_UNSUPPORTED,
 * VD_ERR_LIMIT (file size, page count). The file is never modified.
 * An input must stay on the thread that opened it. */
vd_status vd_input_open(vd_ctx *ctx, const char *path,
                        const vd_input_opts *opts, vd_input **out);
void vd_input_free(vd_input *in);

vd_format vd_input_format(const vd_input *in);
const char *vd_input_path(const vd_input *in);
int vd_input_page_count(const vd_input *in);

typedef struct vd_page_info {
    double width, height; /* visible orientation; unit below */
    vd_unit unit;         /* PT for PDF, PX for images */
    int rotate;           /* PDF /Rotate applied (0, 90, 180, 270) */
    double dpi_x, dpi_y;  /* native resolution; 0 when unknown */
    int has_text;         /* PDF page with a text layer */
    int is_scan;          /* page is essentially one raster image */
    int scan_w, scan_h;   /* pixel size of that image when is_scan */
} vd_page_info;

/* Describe page PAGE (0-based). Errors: VD_ERR_RANGE, VD_ERR_FORMAT. */
vd_status vd_input_page_info(vd_ctx *ctx, vd_input *in, int page,
                             vd_page_info *info);

/* Does the document have a usable text layer (PDF only)? Looks at up to
 * the first few pages. */
int vd_input_has_text(vd_ctx *ctx, vd_input *in);

/* ---- images ---- */

typedef struct vd_image vd_image;

/* A new white RGB image of W x H. Errors: VD_ERR_LIMIT, VD_ERR_NOMEM. */
vd_status vd_image_new(vd_ctx *ctx, int w, int h, vd_image **out);
void vd_image_free(vd_image *img);
int vd_image_width(const vd_image *img);
int vd_image_height(const vd_image *img);
/* Bytes per row (>= 3 * width); rows are RGB, top to bottom. */
size_t vd_image_stride(const vd_image *img);
uint8_t *vd_image_data(vd_image *img);
const uint8_t *vd_image_cdata(const vd_image *img);
/* Resolution the pixels were made at (dots per inch); 0 when unknown. */
double vd_image_dpi_x(const vd_image *img);
double vd_image_dpi_y(const vd_image *img);
void vd_image_set_dpi(vd_image *img, double dpi_x, double dpi_y);

/* Write IMG as an 8-bit RGB PNG, atomically (temp file + rename). */
vd_status vd_image_write_png(vd_ctx *ctx, const vd_image *img,
                             const char *path);

/* ---- rendering ---- */

typedef struct vd_render_opts {
    double dpi;         /* > 0: render PDFs at this DPI; 0: automatic */
    int64_t min_pixels; /* model budget (Qwen smart resize); 0: default */
    int64_t max_pixels; /* model budget; 0: default (2048 tokens) */
} vd_render_opts;

void vd_render_opts_init(vd_render_opts *o);

/* Default model budget for whole pages: 1024..2048 image tokens (see
 * docs/qwenvl-html.md section 8). */
#define VD_DEFAULT_MIN_PIXELS ((int64_t)1024 * 28 * 28)
#define VD_DEFAULT_MAX_PIXELS ((int64_t)2048 * 28 * 28)

/* Render page PAGE (0-based) as 8-bit RGB on white at its native
 * resolution: an image file at its own pixels (non-square fax pixels made
 * square along the coarser axis), a scanned PDF page at its image's own
 * DPI, a born-digital page at the DPI that fills the model budget (or
 * opts->dpi). On VD_OK the caller owns *out, which carries its DPI.
 * Errors: VD_ERR_RANGE, VD_ERR_FORMAT, VD_ERR_LIMIT (pixel ceiling). */
vd_status vd_input_render(vd_ctx *ctx, vd_input *in, int page,
                          const vd_render_opts *opts, vd_image **out);

/* A box: (x1, y1) top-left, (x2, y2) bottom-right. */
typedef struct vd_box {
    double x1, y1, x2, y2;
} vd_box;

/* How model pixels map to page coordinates for one page. */
typedef struct vd_pagemap {
    int model_w, model_h;  /* size of the image the model saw */
    double page_w, page_h; /* page size, visible orientation, in unit */
    vd_unit unit;
} vd_pagemap;

/* How a page becomes the image a vision model sees. */
typedef struct vd_page_geom {
    double dpi_x, dpi_y;    /* native raster resolution; 0 when unknown */
    int raster_w, raster_h; /* native raster (vd_input_render), square
                               pixels */
    vd_pagemap map;         /* model image size and page size */
    double model_dpi_x;     /* resolution of the model image on the page; */
    double model_dpi_y;     /* 0 when the file gives none */
    int scan;               /* the raster is the page's own image (an image
                               file, or a PDF page that is one scan) */
    int direct;             /* the model image is rendered straight at its
                               size: no resampling at all */
} vd_page_geom;

/* The geometry page PAGE gets under OPTS (NULL: defaults), without
 * rendering: what vd_input_render and vd_input_render_model will produce.
 * Errors: VD_ERR_RANGE, VD_ERR_FORMAT, VD_ERR_ARG (aspect ratio > 200). */
vd_status vd_input_page_geometry(vd_ctx *ctx, vd_input *in, int page,
                                 const vd_render_opts *opts, vd_page_geom *g);

/* Render page PAGE exactly as the vision model sees it: the size Qwen2.5-VL
 * smart resize gives the native raster under the OPTS budget, born-digital
 * PDF pages rendered straight at that size, scans and image files resized
 * from their own pixels with Pillow's bicubic filter (what Hugging Face's
 * processor does). G (may be NULL) receives the geometry. On VD_OK the
 * caller owns *out. Errors: as vd_input_render. */
vd_status vd_input_render_model(vd_ctx *ctx, vd_input *in, int page,
                                const vd_render_opts *opts, vd_image **out,
                                vd_page_geom *g);

/* ---- Qwen2.5-VL geometry ---- */

/* Qwen2.5-VL smart_resize: target size for an H x W image, multiples of
 * FACTOR (28), area within [min_pixels, max_pixels], exactly as Hugging
 * Face computes it (round half to even, double precision).
 * Errors: VD_ERR_ARG (side < factor, aspect ratio > 200). */
vd_status vd_smart_resize(vd_ctx *ctx, int h, int w, int factor,
                          int64_t min_pixels, int64_t max_pixels, int *out_h,
                          int *out_w);

/* Resize IMG to W x H with Pillow's antialiased bicubic filter, bit for
 * bit. On VD_OK the caller owns *out. */
vd_status vd_image_resize(vd_ctx *ctx, const vd_image *img, int w, int h,
                          vd_image **out);

/* Map a box from model pixels to page coordinates (top-left origin). */
vd_box vd_pagemap_to_page(const vd_pagemap *m, vd_box model_box);
/* And back. */
vd_box vd_pagemap_to_model(const vd_pagemap *m, vd_box page_box);

#ifdef __cplusplus
}
#endif
#endif

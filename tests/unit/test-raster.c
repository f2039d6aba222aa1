/* Unit tests for lib/raster-*.c and the pixel helpers in lib/image.c:
 * page geometry for every kind of page (born-digital fill, --dpi, scans,
 * non-square fax pixels, tiny and huge pages, the aspect limit), the
 * model <-> page box mapping, Pillow's resample on pictures whose result
 * is known, pixel_values layout against the index formula of the spec,
 * the orientation helper, compositing on white, and the PNG writer. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "raster.h"

static vd_ctx *ctx;

static vd_page_info pdf_page(double w, double h)
{
    vd_page_info pi;
    memset(&pi, 0, sizeof pi);
    pi.width = w;
    pi.height = h;
    pi.unit = VD_UNIT_PT;
    return pi;
}

static void geometry(void)
{
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    vd__page_geom g;

    /* born-digital letter page: fills the 2048-token budget */
    vd_page_info pi = pdf_page(612, 792);
    vd_status st = vd__page_geometry(ctx, &pi, &ro, &g);
    int64_t area = (int64_t)g.map.model_w * g.map.model_h;
    tap_ok(st == VD_OK && g.direct && !g.scan && g.map.model_w % 28 == 0 &&
               g.map.model_h % 28 == 0 && area <= VD_DEFAULT_MAX_PIXELS &&
               area > VD_DEFAULT_MAX_PIXELS * 95 / 100 &&
               TAP_NEAR(g.dpi_x, 72 * sqrt(1605632.0 / (612 * 792)), 1e-9),
           "letter: model %d x %d (%.1f%% of the budget) at %.2f dpi",
           g.map.model_w, g.map.model_h, 100.0 * area / VD_DEFAULT_MAX_PIXELS,
           g.dpi_x);
    /* a larger budget gives proportionally more pixels */
    ro.max_pixels = 4096 * 28 * 28;
    vd__page_geometry(ctx, &pi, &ro, &g);
    area = (int64_t)g.map.model_w * g.map.model_h;
    tap_ok(area <= ro.max_pixels && area > ro.max_pixels * 95 / 100,
           "--max-pixels 4096 tokens: model %d x %d", g.map.model_w,
           g.map.model_h);
    vd_render_opts_init(&ro);

    /* --dpi: the native raster follows it; smart resize decides the model */
    ro.dpi = 100;
    vd__page_geometry(ctx, &pi, &ro, &g);
    tap_ok(g.raster_w == 850 && g.raster_h == 1100 && g.dpi_x == 100 &&
               g.direct && g.map.model_w == 840 && g.map.model_h == 1092,
           "--dpi 100: native 850 x 1100, model %d x %d", g.map.model_w,
           g.map.model_h);
    vd_render_opts_init(&ro);

    /* a scan: its own pixels, never a vector render */
    pi.is_scan = 1;
    pi.scan_w = 2550;
    pi.scan_h = 3300;
    vd__page_geometry(ctx, &pi, &ro, &g);
    tap_ok(g.scan && !g.direct && g.raster_w == 2550 && g.raster_h == 3300 &&
               TAP_NEAR(g.dpi_x, 300, 1e-9) && TAP_NEAR(g.dpi_y, 300, 1e-9),
           "scan: native 2550 x 3300 at 300 dpi, model %d x %d", g.map.model_w,
           g.map.model_h);
    /* ... unless that scan is over the pixel ceiling: drawn at budget */
    vd_opts o;
    vd_opts_init(&o);
    o.limits.max_page_pixels = 1000000;
    vd_ctx *small = vd_ctx_new(&o);
    vd__page_geometry(small, &pi, &ro, &g);
    tap_ok(!g.scan && g.direct, "a scan over the pixel ceiling is drawn at "
                                "the model size instead");
    vd_ctx_free(small);

    /* images: their pixels; non-square fax pixels made square */
    vd_page_info im;
    memset(&im, 0, sizeof im);
    im.unit = VD_UNIT_PX;
    im.width = 1728;
    im.height = 1100;
    im.dpi_x = 204;
    im.dpi_y = 98;
    vd__page_geometry(ctx, &im, &ro, &g);
    tap_ok(g.raster_w == 1728 && g.raster_h == 2290 && g.dpi_y == 204 &&
               g.map.page_w == 1728 && g.map.page_h == 1100 && g.scan,
           "204 x 98 dpi fax: native 1728 x %d, page stays 1728 x 1100 px",
           g.raster_h);
    im.dpi_x = im.dpi_y = 0;
    im.width = 30;
    im.height = 40;
    vd__page_geometry(ctx, &im, &ro, &g);
    area = (int64_t)g.map.model_w * g.map.model_h;
    tap_ok(g.raster_w == 30 && area >= VD_DEFAULT_MIN_PIXELS,
           "30 x 40 image: enlarged to %d x %d (the minimum budget)",
           g.map.model_w, g.map.model_h);

    /* tiny PDF pages and huge ones */
    pi = pdf_page(3, 3);
    st = vd__page_geometry(ctx, &pi, &ro, &g);
    tap_ok(st == VD_OK && g.map.model_w == g.map.model_h &&
               (int64_t)g.map.model_w * g.map.model_h <= VD_DEFAULT_MAX_PIXELS,
           "3 x 3 pt page: %d x %d at %.0f dpi", g.map.model_w, g.map.model_h,
           g.dpi_x);
    pi = pdf_page(14400, 14400); /* the PDF maximum, 200 inches */
    st = vd__page_geometry(ctx, &pi, &ro, &g);
    tap_ok(st == VD_OK && g.dpi_x < 7 &&
               (int64_t)g.map.model_w * g.map.model_h <= VD_DEFAULT_MAX_PIXELS,
           "200 x 200 inch page: %d x %d at %.2f dpi", g.map.model_w,
           g.map.model_h, g.dpi_x);
    pi = pdf_page(5000, 10); /* 500:1 */
    vd_ctx_clear(ctx);
    st = vd__page_geometry(ctx, &pi, &ro, &g);
    tap_ok(st == VD_ERR_ARG && strstr(vd_ctx_errmsg(ctx), "aspect ratio"),
           "a 500:1 page is refused: %s", vd_ctx_errmsg(ctx));
    pi = pdf_page(0, 100);
    vd_ctx_clear(ctx);
    tap_ok(vd__page_geometry(ctx, &pi, &ro, &g) == VD_ERR_FORMAT,
           "an empty page is refused");
    vd_ctx_clear(ctx);
}

static void pagemap(void)
{
    /* the cookbook's worked example (qwenvl-html.md section 5) */
    vd_pagemap m = { 1008, 1540, 1014, 1532, VD_UNIT_PX };
    vd_box b = vd_pagemap_to_page(&m, (vd_box){ 310, 94, 658, 132 });
    tap_ok(TAP_NEAR(b.x1, 311.85, 0.01) && TAP_NEAR(b.y1, 93.51, 0.01) &&
               TAP_NEAR(b.x2, 661.92, 0.01) && TAP_NEAR(b.y2, 131.31, 0.01),
           "model box 310 94 658 132 -> %.2f %.2f %.2f %.2f px", b.x1, b.y1,
           b.x2, b.y2);
    vd_box back = vd_pagemap_to_model(&m, b);
    tap_ok(TAP_NEAR(back.x1, 310, 1e-9) && TAP_NEAR(back.y2, 132, 1e-9),
           "and back");
    vd_pagemap p = { 1120, 1428, 612, 792, VD_UNIT_PT };
    b = vd_pagemap_to_page(&p, (vd_box){ 0, 0, 1120, 1428 });
    tap_ok(TAP_NEAR(b.x2, 612, 1e-9) && TAP_NEAR(b.y2, 792, 1e-9),
           "whole model image = whole page");
}

/* ---- resampling ---- */

static vd_image *make(int w, int h, void (*fill)(int x, int y, uint8_t *p))
{
    vd_image *img = NULL;
    if (vd_image_new(ctx, w, h, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            fill(x, y,
                 vd_image_data(img) + (size_t)y * vd_image_stride(img) + 3 * x);
    return img;
}

static void fill_const(int x, int y, uint8_t *p)
{
    (void)x, (void)y;
    p[0] = 37, p[1] = 200, p[2] = 255;
}

static void fill_cols(int x, int y, uint8_t *p)
{
    (void)y;
    p[0] = p[1] = p[2] = (uint8_t)(x * 3);
}

static void fill_check(int x, int y, uint8_t *p)
{
    p[0] = p[1] = p[2] = ((x ^ y) & 1) ? 255 : 0;
}

static int all_equal(const vd_image *img, const uint8_t v[3])
{
    for (int y = 0; y < vd_image_height(img); y++)
        for (int x = 0; x < vd_image_width(img); x++)
            if (memcmp(vd_image_cdata(img) + (size_t)y * vd_image_stride(img) +
                           3 * x,
                       v, 3) != 0)
                return 0;
    return 1;
}

static void resample(void)
{
    /* a flat picture stays flat at any size: weights sum to one */
    vd_image *c = make(333, 211, fill_const), *r = NULL;
    const uint8_t cv[3] = { 37, 200, 255 };
    int ok = 1;
    static const int sizes[][2] = { { 28, 28 },   { 1000, 17 }, { 334, 212 },
                                    { 111, 700 }, { 333, 100 }, { 50, 211 } };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        ok &= vd_image_resize(ctx, c, sizes[i][0], sizes[i][1], &r) == VD_OK &&
              all_equal(r, cv);
        vd_image_free(r);
    }
    tap_ok(ok, "a flat image stays flat through up-, down- and one-axis "
               "resizes");
    /* same size: a copy */
    ok = vd_image_resize(ctx, c, 333, 211, &r) == VD_OK && all_equal(r, cv);
    vd_image_free(r);
    tap_ok(ok, "same size is a copy");
    vd_image_free(c);

    /* a ramp along x keeps every row equal and stays monotonic */
    c = make(85, 9, fill_cols);
    ok = vd_image_resize(ctx, c, 40, 20, &r) == VD_OK;
    for (int y = 1; ok && y < 20; y++)
        ok = memcmp(vd_image_cdata(r),
                    vd_image_cdata(r) + y * vd_image_stride(r), 40 * 3) == 0;
    for (int x = 1; ok && x < 40; x++)
        ok = vd_image_cdata(r)[3 * x] >= vd_image_cdata(r)[3 * (x - 1)];
    tap_ok(ok, "a horizontal ramp stays a monotonic ramp in every row");
    vd_image_free(r);
    vd_image_free(c);

    /* halving a 1-px checkerboard: Pillow's antialiasing averages it to
     * mid grey (127 or 128 by fixed-point rounding), never aliases */
    c = make(64, 64, fill_check);
    ok = vd_image_resize(ctx, c, 32, 32, &r) == VD_OK;
    int lo = 255, hi = 0;
    for (int y = 2; ok && y < 30; y++)
        for (int x = 2; x < 30; x++) {
            int v = vd_image_cdata(r)[(size_t)y * vd_image_stride(r) + 3 * x];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    tap_ok(ok && lo >= 120 && hi <= 135,
           "a halved checkerboard is grey inside (%d..%d)", lo, hi);
    vd_image_free(r);
    vd_image_free(c);

    /* the one-channel path for grey pages gives the very same pixels */
    static const int gs[][2] = {
        { 41, 70 }, { 200, 31 }, { 97, 53 }, { 97, 90 }
    };
    ok = 1;
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        vd_image *g = make(97, 53, fill_check), *a = NULL, *b = NULL;
        for (int y = 0; y < 53; y++) /* some grey levels, not just 0/255 */
            for (int x = 0; x < 97; x += 3)
                memset(vd_image_data(g) + (size_t)y * vd_image_stride(g) +
                           3 * x,
                       (x * 5 + y) & 255, 3);
        vd__image_set_grey(g, 0);
        ok &= vd_image_resize(ctx, g, gs[i][0], gs[i][1], &a) == VD_OK;
        vd__image_set_grey(g, 1);
        ok &= vd_image_resize(ctx, g, gs[i][0], gs[i][1], &b) == VD_OK &&
              vd__image_is_grey(b);
        for (int y = 0; ok && y < gs[i][1]; y++)
            ok = memcmp(vd_image_cdata(a) + (size_t)y * vd_image_stride(a),
                        vd_image_cdata(b) + (size_t)y * vd_image_stride(b),
                        (size_t)gs[i][0] * 3) == 0;
        vd_image_free(a);
        vd_image_free(b);
        vd_image_free(g);
    }
    tap_ok(ok, "grey pages: the one-channel resample equals the RGB one");

    /* 22-bit fixed point coefficients sum to 2^22 within rounding */
    vd__resample_axis ax;
    ok = vd__resample_axis_init(ctx, &ax, 1000, 333) == VD_OK;
    for (int o = 0; ok && o < ax.out_size; o++) {
        int64_t s = 0;
        for (int j = 0; j < ax.count[o]; j++)
            s += ax.k[(size_t)o * ax.ksize + j];
        ok = s >= (1 << 22) - ax.count[o] && s <= (1 << 22) + ax.count[o];
    }
    tap_ok(ok && ax.first[0] == 0 && ax.first[332] + ax.count[332] == 1000,
           "1000 -> 333 coefficients sum to one and cover the input");
    vd__resample_axis_free(&ax);
}

/* ---- pixel_values ---- */

static void fill_pos(int x, int y, uint8_t *p)
{
    p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = (uint8_t)(x * 7 + y * 13);
}

static void pixel_values(void)
{
    /* 84 x 56: gh = 4, gw = 6 patches, 2 x 3 merged groups */
    vd_image *img = make(84, 56, fill_pos);
    float *pv = NULL;
    int64_t rows = 0;
    int thw[3];
    vd_status st = vd__raster_pixel_values(ctx, img, 14, 2, 2, &pv, &rows, thw);
    tap_ok(st == VD_OK && rows == 24 && thw[0] == 1 && thw[1] == 4 &&
               thw[2] == 6,
           "84 x 56: 24 rows, grid [1, 4, 6]");
    /* every value against docs/qwen25vl-inference.md 2.6 */
    long bad = 0;
    for (int bh = 0; st == VD_OK && bh < 2; bh++)
        for (int bw = 0; bw < 3; bw++)
            for (int ih = 0; ih < 2; ih++)
                for (int iw = 0; iw < 2; iw++) {
                    int r = ((bh * 3 + bw) * 2 + ih) * 2 + iw;
                    for (int c = 0; c < 3; c++)
                        for (int tt = 0; tt < 2; tt++)
                            for (int py = 0; py < 14; py++)
                                for (int px = 0; px < 14; px++) {
                                    int k = ((c * 2 + tt) * 14 + py) * 14 + px;
                                    int y = (bh * 2 + ih) * 14 + py;
                                    int x = (bw * 2 + iw) * 14 + px;
                                    uint8_t v = vd_image_cdata(
                                        img)[(size_t)y * vd_image_stride(img) +
                                             3 * x + c];
                                    if (pv[(size_t)r * 1176 + k] !=
                                        vd__raster_norm(c, v))
                                        bad++;
                                }
                }
    tap_ok(st == VD_OK && bad == 0,
           "every one of 24 x 1176 values sits where the spec's index "
           "formula puts it (%ld wrong)",
           bad);
    vd__aligned_free(pv);
    pv = NULL;
    vd_ctx_clear(ctx);
    st = vd__raster_pixel_values(ctx, img, 14, 2, 1, &pv, &rows, thw);
    tap_ok(st == VD_OK && rows == 24, "temporal 1: 588 columns, 24 rows");
    vd__aligned_free(pv);
    vd_image_free(img);
    img = make(70, 56, fill_pos);
    vd_ctx_clear(ctx);
    pv = NULL;
    st = vd__raster_pixel_values(ctx, img, 14, 2, 2, &pv, &rows, thw);
    tap_ok(st == VD_ERR_ARG && !pv && strstr(vd_ctx_errmsg(ctx), "multiple"),
           "70 x 56 is refused: %s", vd_ctx_errmsg(ctx));
    vd_image_free(img);
    vd_ctx_clear(ctx);
}

/* ---- helpers ---- */

static void orientation(void)
{
    /* a 3 x 2 picture, each pixel its own value */
    static const uint8_t src[2][3] = { { 1, 2, 3 }, { 4, 5, 6 } };
    /* visible rows for orientations 1..8 (TIFF 6.0 / EXIF) */
    static const char *const want[9] = {
        "",         "123/456",  "321/654",  "654/321",  "456/123",
        "14/25/36", "41/52/63", "63/52/41", "36/25/14",
    };
    int ok = 1;
    for (int o = 1; o <= 8; o++) {
        int vw, vh;
        vd__orient_size(o, 3, 2, &vw, &vh);
        vd_image *img = NULL;
        vd_image_new(ctx, vw, vh, &img);
        vd__orient_dst d = { img, 3, 2, o };
        for (int y = 0; y < 2; y++) {
            uint8_t row[9];
            for (int x = 0; x < 3; x++)
                memset(row + 3 * x, src[y][x], 3);
            vd__orient_put_row(&d, y, row);
        }
        char got[32] = "";
        for (int y = 0; y < vh; y++) {
            if (y)
                strcat(got, "/");
            for (int x = 0; x < vw; x++) {
                char c[2] = {
                    (char)('0' + vd_image_cdata(
                                     img)[y * vd_image_stride(img) + 3 * x]),
                    0
                };
                strcat(got, c);
            }
        }
        if (strcmp(got, want[o]) != 0) {
            tap_diag("orientation %d (%s): got %s, want %s", o,
                     vd__orientation_name(o), got, want[o]);
            ok = 0;
        }
        vd_image_free(img);
    }
    tap_ok(ok, "all 8 orientations turn a 3 x 2 picture as TIFF 6.0 says");

    uint8_t rgba[] = { 0, 0, 0, 0, 0, 0, 0, 255, 100, 50, 200, 128 }, rgb[9];
    vd__rgba_on_white(rgb, rgba, 3);
    tap_ok(rgb[0] == 255 && rgb[3] == 0 && rgb[6] == 177 && rgb[7] == 152 &&
               rgb[8] == 227,
           "alpha on white: clear -> white, opaque -> itself, half -> "
           "between (%d %d %d)",
           rgb[6], rgb[7], rgb[8]);
}

static void png_out(void)
{
    vd_image *img = make(31, 17, fill_pos);
    vd_image_set_dpi(img, 300, 150);
    char path[1024];
    snprintf(path, sizeof path, "%s/test-raster.png",
             getenv("VLDOC_BUILDDIR") ? getenv("VLDOC_BUILDDIR") : ".");
    vd_status st = vd_image_write_png(ctx, img, path);
    vd_input *in = NULL;
    vd_image *back = NULL;
    vd_page_info pi;
    if (!st)
        st = vd_input_open(ctx, path, NULL, &in);
    if (!st)
        st = vd_input_page_info(ctx, in, 0, &pi);
    if (!st)
        st = vd_input_render(ctx, in, 0, NULL, &back);
    int same = st == VD_OK && vd_image_width(back) == 31 &&
               vd_image_height(back) == 34; /* 150 dpi rows made square */
    tap_ok(same && TAP_NEAR(pi.dpi_x, 300, 0.1) && TAP_NEAR(pi.dpi_y, 150, 0.1),
           "PNG written with its pHYs reads back at 300 x 150 dpi: %s",
           vd_ctx_errmsg(ctx));
    vd_image_free(back);
    vd_input_free(in);
    remove(path);
    vd_image_free(img);
}

int main(void)
{
    tap_plan_late();
    ctx = vd_ctx_new(NULL);
    geometry();
    pagemap();
    resample();
    pixel_values();
    orientation();
    png_out();
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

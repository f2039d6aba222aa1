/* Tests for PDF rendering (lib/input-pdf.c render and scan detection) and
 * the page geometry it feeds (lib/raster-map.c). Every PDF of the shared
 * corpus is rendered and compared twice: with pdftocairo at the same pixel
 * size (same backend: any crop box, /Rotate, scale or background slip of
 * ours shows as a large difference) and with pdftoppm (Splash, an
 * independent renderer: anti-aliasing and stroke weight differ, so
 * compared over 16x16 blocks; dense tables at 72 dpi differ by up to ~9
 * levels there, a page upside down by far more). Scanned pages must be found
 * and rendered at their image's own resolution; born-digital pages at the DPI
 * that fills the model budget, straight at the model size; encrypted files open
 * with their password; broken files fail clearly. */
#include "config.h"

#include <dirent.h>
#include <json.h>
#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "raster-test.h"
#include "vd-private.h"

static vd_ctx *ctx;

/* Mean over BxB blocks of the absolute difference of their means: blind
 * to anti-aliasing, sensitive to anything misplaced or missing. */
static double block_diff(const vd_image *img, const rt_img *ref, int b)
{
    int w = ref->w < vd_image_width(img) ? ref->w : vd_image_width(img);
    int h = ref->h < vd_image_height(img) ? ref->h : vd_image_height(img);
    double sum = 0;
    long n = 0;
    for (int by = 0; by + b <= h; by += b)
        for (int bx = 0; bx + b <= w; bx += b) {
            double s1 = 0, s2 = 0;
            for (int y = by; y < by + b; y++) {
                const uint8_t *p = vd_image_cdata(img) +
                                   (size_t)y * vd_image_stride(img) + 3 * bx;
                const uint8_t *q = ref->px + ((size_t)y * ref->w + bx) * 3;
                for (int i = 0; i < 3 * b; i++)
                    s1 += p[i], s2 += q[i];
            }
            sum += fabs(s1 - s2) / (3.0 * b * b);
            n++;
        }
    return n ? sum / n : 0;
}

/* Mean absolute difference over the common area (sizes may differ by a
 * pixel of rounding). */
static double common_diff(const vd_image *img, const rt_img *ref)
{
    int w = ref->w < vd_image_width(img) ? ref->w : vd_image_width(img);
    int h = ref->h < vd_image_height(img) ? ref->h : vd_image_height(img);
    double sum = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *p =
            vd_image_cdata(img) + (size_t)y * vd_image_stride(img);
        const uint8_t *q = ref->px + (size_t)y * ref->w * 3;
        for (int i = 0; i < 3 * w; i++)
            sum += p[i] > q[i] ? p[i] - q[i] : q[i] - p[i];
    }
    return w && h ? sum / (3.0 * w * h) : 255;
}

static void flip(rt_img *r)
{
    size_t n = (size_t)r->w * r->h;
    for (size_t i = 0; i < n / 2; i++)
        for (int c = 0; c < 3; c++) {
            uint8_t t = r->px[3 * i + c];
            r->px[3 * i + c] = r->px[3 * (n - 1 - i) + c];
            r->px[3 * (n - 1 - i) + c] = t;
        }
}

static int have_tools;
static int sensitivity_done;

/* Render PAGE of IN at 72 DPI and compare with both poppler tools. */
static void compare_page(vd_input *in, const char *path, const char *name,
                         int page, const char *pw)
{
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    ro.dpi = 72;
    vd_image *img = NULL;
    vd_ctx_clear(ctx);
    vd_status st = vd_input_render(ctx, in, page, &ro, &img);
    if (!tap_ok(st == VD_OK, "%s p%d renders at 72 dpi: %s", name, page + 1,
                vd_ctx_errmsg(ctx)))
        return;
    int w = vd_image_width(img), h = vd_image_height(img);
    char cmd[4096], pwopt[256] = "";
    if (pw)
        snprintf(pwopt, sizeof pwopt, "-upw '%s'", pw);
    if (!have_tools) {
        tap_skip("pdftocairo/pdftoppm/convert not installed");
        vd_image_free(img);
        return;
    }
    rt_img ref;
    vd_page_info pi;
    vd_input_page_info(ctx, in, page, &pi);
    /* pdftocairo downsamples big images slowly (seconds a page): scans are
     * checked against pdftoppm only */
    if (pi.is_scan) {
        tap_skip("%s p%d is a scan: pdftocairo comparison skipped", name,
                 page + 1);
    } else if (
        snprintf(
            cmd, sizeof cmd,
            "pdftocairo %s -cropbox -scale-to-x %d -scale-to-y %d -f %d -l "
            "%d -singlefile -png '%s' - 2>/dev/null | convert png:- -depth "
            "8 ppm:-",
            pwopt, w, h, page + 1, page + 1, path) > 0 &&
        rt_ppm_from(cmd, &ref) == 0) {
        double d = common_diff(img, &ref);
        tap_ok(d <= 1.5,
               "%s p%d: %d x %d equals pdftocairo's (mean diff "
               "%.3f)",
               name, page + 1, w, h, d);
        rt_free(&ref);
    } else {
        tap_ok(0, "%s p%d: pdftocairo ran", name, page + 1);
    }
    /* pdftoppm at the same DPI; its size may differ by a rounding pixel */
    snprintf(cmd, sizeof cmd,
             "pdftoppm %s -cropbox -r 72 -f %d -l %d '%s' 2>/dev/null", pwopt,
             page + 1, page + 1, path);
    if (rt_ppm_from(cmd, &ref) == 0) {
        double d = block_diff(img, &ref, 16);
        tap_ok(abs(ref.w - w) <= 1 && abs(ref.h - h) <= 1 && d <= 10.0,
               "%s p%d: matches pdftoppm (Splash) over 16x16 blocks (mean "
               "diff %.2f)",
               name, page + 1, d);
        if (!sensitivity_done && d < 3) {
            /* the check can fail: the same page upside down does */
            flip(&ref);
            double f = block_diff(img, &ref, 16);
            tap_ok(f > 10.0, "a page upside down fails that check (%.2f)", f);
            sensitivity_done = 1;
        }
        rt_free(&ref);
    } else {
        tap_ok(0, "%s p%d: pdftoppm ran", name, page + 1);
    }
    vd_image_free(img);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_pdfs(const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".pdf") == 0)
            names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    return n;
}

/* Born-digital, scan and document-level checks on every readable PDF. */
static void corpus_dir(const char *shared, const char *sub, int *npages)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/corpus/%s", shared, sub);
    char *names[128];
    int n = list_pdfs(dir, names, 128);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        vd_input *in = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, NULL, &in);
        if (tap_ok(st == VD_OK, "%s opens: %s", names[i], vd_ctx_errmsg(ctx))) {
            int np = vd_input_page_count(in);
            /* every page of the rotation sampler, the first elsewhere */
            int upto = strstr(names[i], "rotated_5pages") ? np : 1;
            for (int p = 0; p < upto; p++, (*npages)++)
                compare_page(in, path, names[i], p, NULL);
        }
        vd_input_free(in);
        free(names[i]);
    }
}

static void corpus(const char *shared)
{
    static const char *const subs[] = { "invoices",
                                        "tables",
                                        "layout",
                                        "scans",
                                        "hostile/page-geometry",
                                        "benchmarks/olmocr-bench" };
    int pages = 0;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        corpus_dir(shared, subs[i], &pages);
    tap_ok(pages >= 60,
           "%d corpus pages compared with pdftocairo and "
           "pdftoppm",
           pages);
}

/* ---- scans, geometry, model images ---- */

static vd_input *open_pdf(const char *shared, const char *rel)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/corpus/%s", shared, rel);
    vd_input *in = NULL;
    vd_ctx_clear(ctx);
    if (vd_input_open(ctx, path, NULL, &in) != VD_OK)
        return NULL;
    return in;
}

static void scans(const char *shared)
{
    /* page size in pt, image size in px -> expected raster */
    static const struct {
        const char *rel;
        int page, w, h; /* visible orientation */
    } s[] = {
        { "scans/docling_ocr_test.pdf", 0, 4960, 7016 },
        { "scans/docling_ocr_test_rotated_90.pdf", 0, 7016, 4960 },
        { "scans/docling_ocr_test_rotated_270.pdf", 0, 7016, 4960 },
        { "benchmarks/olmocr-bench/lincoln_letter.pdf", 0, 2449, 3023 },
    };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        vd_input *in = open_pdf(shared, s[i].rel);
        vd_page_info pi;
        vd_page_geom g;
        vd_status st =
            in ? vd_input_page_info(ctx, in, s[i].page, &pi) : VD_ERR_IO;
        if (!st)
            st = vd_input_page_geometry(ctx, in, s[i].page, NULL, &g);
        tap_ok(st == VD_OK && pi.is_scan && pi.scan_w == s[i].w &&
                   pi.scan_h == s[i].h && g.scan && !g.direct &&
                   g.raster_w == pi.scan_w,
               "%s: a scan of %d x %d px (found %d x %d at %.0f dpi)", s[i].rel,
               s[i].w, s[i].h, pi.scan_w, pi.scan_h, pi.dpi_x);
        vd_input_free(in);
    }
    /* born-digital pages are not scans */
    static const char *const born[] = {
        "invoices/invoice2data_AmazonWebServices.pdf",
        "layout/docling_2305.03393v1-pg9.pdf",
        "tables/icdar2013_eu-001.pdf",
    };
    for (size_t i = 0; i < sizeof born / sizeof *born; i++) {
        vd_input *in = open_pdf(shared, born[i]);
        vd_page_info pi;
        vd_status st = in ? vd_input_page_info(ctx, in, 0, &pi) : VD_ERR_IO;
        tap_ok(st == VD_OK && !pi.is_scan, "%s: born-digital, not a scan",
               born[i]);
        vd_input_free(in);
    }
    /* the scan's model image is the Pillow resample of the native one */
    vd_input *in = open_pdf(shared, "benchmarks/olmocr-bench/"
                                    "lincoln_letter.pdf");
    vd_image *native = NULL, *model = NULL, *want = NULL;
    vd_page_geom g;
    vd_status st = in ? vd_input_render(ctx, in, 0, NULL, &native) : VD_ERR_IO;
    if (!st)
        st = vd_input_render_model(ctx, in, 0, NULL, &model, &g);
    if (!st)
        st = vd_image_resize(ctx, native, g.map.model_w, g.map.model_h, &want);
    int same = st == VD_OK && vd_image_width(model) == vd_image_width(want) &&
               vd_image_height(model) == vd_image_height(want);
    for (int y = 0; same && y < vd_image_height(want); y++)
        same =
            memcmp(vd_image_cdata(model) + (size_t)y * vd_image_stride(model),
                   vd_image_cdata(want) + (size_t)y * vd_image_stride(want),
                   (size_t)vd_image_width(want) * 3) == 0;
    tap_ok(same && vd_image_width(native) == 2449,
           "scan page: model image = one Pillow resample of the %d x %d "
           "native raster",
           native ? vd_image_width(native) : 0,
           native ? vd_image_height(native) : 0);
    vd_image_free(native);
    vd_image_free(model);
    vd_image_free(want);
    vd_input_free(in);
}

static void born_digital(const char *shared)
{
    vd_input *in = open_pdf(shared, "invoices/invoice2data_AmazonWebServices."
                                    "pdf");
    vd_image *img = NULL;
    vd_page_geom g;
    vd_status st =
        in ? vd_input_render_model(ctx, in, 0, NULL, &img, &g) : VD_ERR_IO;
    int64_t area = (int64_t)g.map.model_w * g.map.model_h;
    int sh = 0, sw = 0;
    if (!st)
        vd_smart_resize(ctx, g.map.model_h, g.map.model_w, 28,
                        VD_DEFAULT_MIN_PIXELS, VD_DEFAULT_MAX_PIXELS, &sh, &sw);
    tap_ok(st == VD_OK && g.direct && !g.scan &&
               vd_image_width(img) == g.map.model_w &&
               area <= VD_DEFAULT_MAX_PIXELS &&
               area >= VD_DEFAULT_MAX_PIXELS * 9 / 10 && sh == g.map.model_h &&
               sw == g.map.model_w,
           "letter page: rendered straight at %d x %d (%.0f dpi), %.1f%% of "
           "the budget, which smart resize leaves alone",
           g.map.model_w, g.map.model_h, g.model_dpi_x,
           100.0 * area / VD_DEFAULT_MAX_PIXELS);
    /* and it is the vector rendering at that size: same as native at the
     * model size */
    vd_image_free(img);
    vd_input_free(in);

    /* --dpi: the native raster is exactly page x dpi / 72 */
    in = open_pdf(shared, "hostile/page-geometry/pdfjs_A0_rotate90_huge.pdf");
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    ro.dpi = 10;
    img = NULL;
    st = in ? vd_input_render(ctx, in, 0, &ro, &img) : VD_ERR_IO;
    tap_ok(st == VD_OK && vd_image_width(img) == 468 &&
               vd_image_height(img) == 331 &&
               TAP_NEAR(vd_image_dpi_x(img), 10, 1e-9),
           "A0 landscape (/Rotate 90) at --dpi 10: 468 x 331 px");
    vd_image_free(img);
    img = NULL;
    st = in ? vd_input_render_model(ctx, in, 0, NULL, &img, &g) : VD_ERR_IO;
    area = img ? (int64_t)vd_image_width(img) * vd_image_height(img) : 0;
    tap_ok(st == VD_OK && area <= VD_DEFAULT_MAX_PIXELS &&
               vd_image_width(img) > vd_image_height(img) && g.model_dpi_x < 40,
           "A0 page: model image %d x %d within the budget at %.1f dpi",
           img ? vd_image_width(img) : 0, img ? vd_image_height(img) : 0,
           g.model_dpi_x);
    vd_image_free(img);
    /* the pixel ceiling turns a huge raster into a clear error */
    vd_opts o;
    vd_opts_init(&o);
    o.limits.max_page_pixels = 1u << 20;
    vd_ctx *small = vd_ctx_new(&o);
    img = NULL;
    ro.dpi = 300;
    st = in ? vd_input_render(small, in, 0, &ro, &img) : VD_ERR_IO;
    tap_ok(st == VD_ERR_LIMIT && !img &&
               strstr(vd_ctx_errmsg(small), "page 1: a raster of"),
           "A0 at 300 dpi over a 1 Mpx ceiling: %s", vd_ctx_errmsg(small));
    vd_ctx_free(small);
    vd_input_free(in);

    /* tiny pages still give the model at least its minimum */
    in = open_pdf(shared, "hostile/page-geometry/pdfjs_tiny_3x3pt_10pages.pdf");
    img = NULL;
    st = in ? vd_input_render_model(ctx, in, 9, NULL, &img, &g) : VD_ERR_IO;
    area = img ? (int64_t)vd_image_width(img) * vd_image_height(img) : 0;
    tap_ok(st == VD_OK && area >= VD_DEFAULT_MIN_PIXELS &&
               area <= VD_DEFAULT_MAX_PIXELS,
           "3 x 3 pt page 10: model image %d x %d", g.map.model_w,
           g.map.model_h);
    vd_image_free(img);
    vd_input_free(in);

    /* crop box: the visible area only */
    in = open_pdf(shared, "hostile/page-geometry/"
                          "qpdf_boxes_crop_bleed_trim_art.pdf");
    vd_page_info pi;
    st = in ? vd_input_page_info(ctx, in, 0, &pi) : VD_ERR_IO;
    tap_ok(st == VD_OK && pi.width == 572 && pi.height == 732,
           "crop box [10 20 582 752] gives a 572 x 732 pt page (%g x %g)",
           pi.width, pi.height);
    vd_input_free(in);
}

/* ---- encrypted and broken files ---- */

static void encrypted(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/corpus/hostile/encrypted", shared);
    char *names[64];
    int n = list_pdfs(dir, names, 64);
    for (int i = 0; i < n; i++) {
        char path[2048], ej[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(ej, sizeof ej, "%s/%.*s.expect.json", dir,
                 (int)strlen(names[i]) - 4, names[i]);
        json_object *e = json_object_from_file(ej), *pw = NULL;
        const char *pass =
            e && json_object_object_get_ex(e, "user_password", &pw)
                ? json_object_get_string(pw)
                : NULL;
        vd_input_opts io;
        vd_input_opts_init(&io);
        vd_input *in = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, &io, &in);
        if (pass) {
            tap_ok(st == VD_ERR_PASSWORD && strstr(vd_ctx_errmsg(ctx), path),
                   "%s without its password: %s", names[i], vd_ctx_errmsg(ctx));
            vd_input_free(in);
            in = NULL;
            io.password = pass;
            vd_ctx_clear(ctx);
            st = vd_input_open(ctx, path, &io, &in);
        }
        if (st) {
            /* only the zero-size page may refuse, and clearly */
            tap_ok(strstr(names[i], "zero-size") != NULL, "%s: %s", names[i],
                   vd_ctx_errmsg(ctx));
        } else {
            vd_image *img = NULL;
            vd_ctx_clear(ctx);
            st = vd_input_render_model(ctx, in, 0, NULL, &img, NULL);
            tap_ok(st == VD_OK || (strstr(names[i], "zero-size") &&
                                   strstr(vd_ctx_errmsg(ctx), "page 1")),
                   "%s%s renders page 1: %s", names[i],
                   pass ? " with its password" : "", vd_ctx_errmsg(ctx));
            vd_image_free(img);
        }
        vd_input_free(in);
        json_object_put(e);
        free(names[i]);
    }
}

static void corrupt(const char *shared)
{
    /* must parse (recovered by poppler) */
    static const char *const parse[] = {
        "pdfjs_xref_command_missing.pdf",   "pypdf_trailing_zero_padding.pdf",
        "qpdf_xref_errors_recoverable.pdf", "qpdf_pages_loop.pdf",
        "pdfjs_scan-bad_utf8_mangled.pdf",
    };
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/corpus/hostile/corrupt-pdf", shared);
    char *names[64];
    int n = list_pdfs(dir, names, 64);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int must = 0;
        for (size_t k = 0; k < sizeof parse / sizeof *parse; k++)
            must |= strcmp(parse[k], names[i]) == 0;
        vd_input *in = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, NULL, &in);
        /* poppler loops for hours building this file's form fields (as do
         * pdftoppm and pdfinfo); only opening is checked */
        int hangs = strstr(names[i], "hangs_poppler") != NULL;
        if (st == VD_OK && !hangs) {
            vd_image *img = NULL;
            vd_ctx_clear(ctx);
            st = vd_input_render_model(ctx, in, 0, NULL, &img, NULL);
            vd_image_free(img);
        }
        tap_ok(must ? st == VD_OK
                    : st == VD_OK || strstr(vd_ctx_errmsg(ctx), path),
               "%s: %s%s", names[i], st ? vd_ctx_errmsg(ctx) : "renders",
               hangs ? " (render not tried: poppler hangs)" : "");
        vd_input_free(in);
        free(names[i]);
    }
}

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    ctx = vd_ctx_new(NULL);
    have_tools =
        rt_have("pdftocairo") && rt_have("pdftoppm") && rt_have("convert");
    scans(shared);
    born_digital(shared);
    encrypted(shared);
    corrupt(shared);
    corpus(shared);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

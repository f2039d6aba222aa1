/* Tests for lib/input-tiff.c. Every variant tools/gen-tiff writes is
 * decoded and compared with the generator's known pixels; every TIFF of
 * the shared corpus is checked against its .props.gt.json (page count,
 * sizes, resolution) and against an independent decode (ImageMagick, or
 * libtiff's own RGBA conversion where ImageMagick is known wrong); every
 * hostile file gives a clear error or a sane page, never a crash; pages
 * stream (nothing accumulates across 1000 pages); the pixel ceiling is
 * checked before any allocation. */
#include "config.h"

#include <dirent.h>
#include <json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>

#include "../tap.h"
#include "input-private.h"
#include "raster-test.h"

static vd_ctx *ctx;
static char tmpdir[1024];

/* The page as decoded, before any geometry: the decoder's own output. */
static vd_status decode(vd_input *in, int page, vd_image **out)
{
    return in->vt->render(ctx, in, page, 0, 0, out);
}

/* ---- generated variants ---- */

static void generated(void)
{
    const char *bd = getenv("VLDOC_BUILDDIR");
    char cmd[4096], path[2048];
    snprintf(cmd, sizeof cmd, "'%s/tools/gen-tiff' '%s/gen'", bd ? bd : ".",
             tmpdir);
    if (!tap_ok(system(cmd) == 0, "tools/gen-tiff writes its variants"))
        return;
    snprintf(path, sizeof path, "%s/gen/manifest.tsv", tmpdir);
    FILE *m = fopen(path, "r");
    if (!tap_ok(m != NULL, "manifest written"))
        return;
    char line[1024];
    int nvar = 0, have_im = rt_have("convert");
    while (fgets(line, sizeof line, m)) {
        char name[128], what[512];
        int pages, maxd;
        double meand, dx, dy;
        if (sscanf(line, "%127[^\t]\t%d\t%d\t%lf\t%lf\t%lf\t%511[^\n]", name,
                   &pages, &maxd, &meand, &dx, &dy, what) != 7)
            continue;
        nvar++;
        snprintf(path, sizeof path, "%s/gen/%s.tif", tmpdir, name);
        vd_input *in = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, NULL, &in);
        if (!tap_ok(st == VD_OK && vd_input_page_count(in) == pages,
                    "%s: opens with %d page(s): %s", name, pages,
                    vd_ctx_errmsg(ctx))) {
            vd_input_free(in);
            continue;
        }
        for (int p = 0; p < pages; p++) {
            vd_page_info pi;
            vd_image *img = NULL;
            rt_img ref;
            snprintf(path, sizeof path, "%s/gen/%s.p%d.ppm", tmpdir, name,
                     p + 1);
            vd_ctx_clear(ctx);
            st = vd_input_page_info(ctx, in, p, &pi);
            if (!st)
                st = decode(in, p, &img);
            if (!tap_ok(st == VD_OK && rt_load_ppm(path, &ref) == 0,
                        "%s p%d decodes: %s", name, p + 1,
                        vd_ctx_errmsg(ctx))) {
                vd_image_free(img);
                continue;
            }
            rt_diff d = rt_compare(img, &ref, maxd);
            tap_ok(d.over == 0 && d.mean <= meand + 1e-9 && pi.width == ref.w &&
                       pi.height == ref.h && TAP_NEAR(pi.dpi_x, dx, 0.01) &&
                       TAP_NEAR(pi.dpi_y, dy, 0.01),
                   "%s p%d (%s): %dx%d at %.0fx%.0f dpi, known pixels "
                   "within %d (max %d, mean %.3f)",
                   name, p + 1, what, ref.w, ref.h, pi.dpi_x, pi.dpi_y, maxd,
                   d.max, d.mean);
            /* lossy variants: libjpeg decodes the same for everyone */
            if (maxd > 0 && have_im) {
                char c2[4096];
                rt_img im;
                snprintf(c2, sizeof c2,
                         "convert '%s/gen/%s.tif[%d]' -depth 8 ppm:- "
                         "2>/dev/null",
                         tmpdir, name, p);
                if (rt_ppm_from(c2, &im) == 0) {
                    rt_diff e = rt_compare(img, &im, 0);
                    tap_ok(e.over == 0,
                           "%s p%d equals ImageMagick's libjpeg "
                           "decode (max %d)",
                           name, p + 1, e.max);
                    rt_free(&im);
                }
            }
            rt_free(&ref);
            vd_image_free(img);
        }
        vd_input_free(in);
    }
    fclose(m);
    tap_ok(nvar >= 30, "%d generated variants checked", nvar);

    /* the non-square fax is made square along its coarse axis, once */
    snprintf(path, sizeof path, "%s/gen/fax-g3-204x98.tif", tmpdir);
    vd_input *in = NULL;
    vd_image *img = NULL;
    vd_page_geom g;
    vd_ctx_clear(ctx);
    vd_status st = vd_input_open(ctx, path, NULL, &in);
    if (!st)
        st = vd_input_render(ctx, in, 0, NULL, &img);
    if (!st)
        st = vd_input_page_geometry(ctx, in, 0, NULL, &g);
    int want_h = (int)(110 * 204.0 / 98.0 + 0.5);
    tap_ok(st == VD_OK && vd_image_width(img) == 1728 &&
               vd_image_height(img) == want_h && g.dpi_x == 204 &&
               g.dpi_y == 204 && g.map.page_w == 1728 && g.map.page_h == 110,
           "204x98 dpi fax: native raster 1728 x %d at 204 dpi, page still "
           "1728 x 110 px (got %d x %d)",
           want_h, img ? vd_image_width(img) : 0,
           img ? vd_image_height(img) : 0);
    vd_image_free(img);
    img = NULL;
    if (!st)
        st = vd_input_render_model(ctx, in, 0, NULL, &img, &g);
    double aspect =
        img ? (double)vd_image_width(img) / vd_image_height(img) : 0;
    /* within the 28-px rounding of a 229-px side */
    tap_ok(st == VD_OK && fabs(aspect / (1728.0 / want_h) - 1) < 0.05,
           "fax model image keeps the page's real shape (%.3f vs %.3f)", aspect,
           1728.0 / want_h);
    vd_image_free(img);
    vd_input_free(in);
}

/* ---- the shared corpus ---- */

typedef struct corpus_ref {
    const char *name;
    int tol;     /* largest difference allowed per sample */
    double mean; /* mean difference allowed */
    int t2r;     /* compare with tiff2rgba, not ImageMagick */
    const char *why;
} corpus_ref;

/* Where the independent decoder and we legitimately differ. */
static const corpus_ref refs[] = {
    { "gray_12bit.tif", 1, 0.05, 0, "12 -> 8 bits: high byte vs rounding" },
    { "gray_16bit_libtiff.tiff", 1, 0.6, 0, "16-bit high byte vs rounding" },
    { "rgb_16bit.tiff", 1, 0.6, 0, "16-bit high byte vs rounding" },
    { "rgba_16bit.tiff", 1, 0.6, 0, "16-bit, alpha on white rounding" },
    { "palette_4bit_libtiff.tiff", 1, 0.6, 0, "16-bit colour map entries" },
    { "palette_8bit_libtiff.tiff", 1, 0.6, 0, "16-bit colour map entries" },
    { "cmyk_jpeg_strip.tif", 1, 0.5, 0,
      "Pillow's integer CMYK formula vs float" },
    { "cmyk_8bit_imagetiff.tiff", 1, 0.5, 0,
      "Pillow's integer CMYK formula vs float" },
    { "pillow_wrong_bits_per_sample.tiff", 1, 0.1, 0, "alpha rounding" },
    { "gray_alpha_libtiff.tiff", 0, 0, 1,
      "ImageMagick mis-reads planar grey + alpha" },
    { "lab_color.tif", 80, 16, 0,
      "CIE L*a*b*: libtiff's display model vs ImageMagick's sRGB" },
};

static const corpus_ref *ref_for(const char *name)
{
    static const corpus_ref exact = { NULL, 0, 0, 0, "lossless" };
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
        if (strcmp(refs[i].name, name) == 0)
            return &refs[i];
    return &exact;
}

/* An independent decode of directory DIR of PATH (visible orientation,
 * alpha on white). */
static int independent(const char *path, int dir, int t2r, rt_img *out)
{
    char cmd[8192];
    if (t2r) {
        snprintf(cmd, sizeof cmd,
                 "tiff2rgba -c none -d %d '%s' '%s/t2r.tif' 2>/dev/null && "
                 "convert '%s/t2r.tif' -background white -alpha remove "
                 "-alpha off -depth 8 ppm:- 2>/dev/null",
                 dir, path, tmpdir, tmpdir);
        /* tiff2rgba has no -d on every version: fall back to page 0 */
        if (rt_ppm_from(cmd, out) == 0)
            return 0;
        snprintf(cmd, sizeof cmd,
                 "tiff2rgba -c none '%s' '%s/t2r.tif' 2>/dev/null && "
                 "convert '%s/t2r.tif' -background white -alpha remove "
                 "-alpha off -depth 8 ppm:- 2>/dev/null",
                 path, tmpdir, tmpdir);
        return dir == 0 ? rt_ppm_from(cmd, out) : -1;
    }
    snprintf(cmd, sizeof cmd,
             "convert '%s[%d]' -auto-orient -colorspace sRGB -background "
             "white -alpha remove -alpha off -depth 8 ppm:- 2>/dev/null",
             path, dir);
    return rt_ppm_from(cmd, out);
}

static double props_dpi(json_object *pg, int x)
{
    json_object *r;
    if (!json_object_object_get_ex(pg, "resolution", &r) ||
        !json_object_is_type(r, json_type_string))
        return 0;
    double a = 0, b = 0;
    char unit[32] = "";
    if (sscanf(json_object_get_string(r), "%lf, %lf %31s", &a, &b, unit) < 2)
        return 0;
    double v = x ? a : b;
    if (strstr(unit, "cm"))
        v *= 2.54;
    return v;
}

static int orient_of(json_object *pg)
{
    static const char *const names[] = {
        "row 0 top, col 0 lhs",    "row 0 top, col 0 rhs",
        "row 0 bottom, col 0 rhs", "row 0 bottom, col 0 lhs",
        "row 0 lhs, col 0 top",    "row 0 rhs, col 0 top",
        "row 0 rhs, col 0 bottom", "row 0 lhs, col 0 bottom",
    };
    json_object *o;
    if (!json_object_object_get_ex(pg, "orientation", &o))
        return 1;
    for (int i = 0; i < 8; i++)
        if (strcmp(json_object_get_string(o), names[i]) == 0)
            return i + 1;
    return 1;
}

static void corpus_file(const char *dir, const char *file, int have_im)
{
    char path[2048], props[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(props, sizeof props, "%s/%.*s.props.gt.json", dir,
             (int)(strrchr(file, '.') - file), file);
    json_object *gt = json_object_from_file(props);
    json_object *pages = NULL;
    if (!gt || !json_object_object_get_ex(gt, "pages", &pages)) {
        tap_ok(0, "%s: ground truth %s readable", file, props);
        json_object_put(gt);
        return;
    }
    /* pages: directories with a size that are not thumbnails */
    int want = 0, dirs[64];
    for (size_t i = 0; i < json_object_array_length(pages) && want < 64; i++) {
        json_object *pg = json_object_array_get_idx(pages, i), *v;
        if (!json_object_object_get_ex(pg, "width", &v))
            continue;
        if (json_object_object_get_ex(pg, "subfile_type", &v) &&
            strstr(json_object_get_string(v), "reduced"))
            continue;
        dirs[want++] = (int)i;
    }
    const corpus_ref *cr = ref_for(file);
    vd_input *in = NULL;
    vd_ctx_clear(ctx);
    vd_status st = vd_input_open(ctx, path, NULL, &in);
    if (strcmp(file, "testfax3_1d_noEOL_libtiff.tif") == 0) {
        /* libtiff decodes none of its 63 strips (every tool warns
         * "Premature EOL"; Pillow raises): one clear page error */
        vd_image *img = NULL;
        if (!st)
            st = decode(in, 0, &img);
        tap_ok(st == VD_ERR_FORMAT &&
                   strstr(vd_ctx_errmsg(ctx), "page 1: no strip could be "
                                              "decoded"),
               "%s: clear page error: %s", file, vd_ctx_errmsg(ctx));
        vd_image_free(img);
        vd_input_free(in);
        json_object_put(gt);
        return;
    }
    if (!tap_ok(st == VD_OK && vd_input_page_count(in) == want,
                "%s: %d page(s) as in the ground truth (got %d) %s", file, want,
                in ? vd_input_page_count(in) : -1, vd_ctx_errmsg(ctx))) {
        vd_input_free(in);
        json_object_put(gt);
        return;
    }
    for (int p = 0; p < want; p++) {
        json_object *pg = json_object_array_get_idx(pages, (size_t)dirs[p]);
        json_object *jw, *jh;
        json_object_object_get_ex(pg, "width", &jw);
        json_object_object_get_ex(pg, "height", &jh);
        int o = orient_of(pg), sw = json_object_get_int(jw),
            sh = json_object_get_int(jh);
        int vw = o >= 5 ? sh : sw, vh = o >= 5 ? sw : sh;
        double dx = props_dpi(pg, o < 5), dy = props_dpi(pg, o >= 5);
        vd_page_info pi;
        vd_image *img = NULL;
        vd_ctx_clear(ctx);
        st = vd_input_page_info(ctx, in, p, &pi);
        tap_ok(st == VD_OK && pi.width == vw && pi.height == vh &&
                   TAP_NEAR(pi.dpi_x, dx, 0.05) && TAP_NEAR(pi.dpi_y, dy, 0.05),
               "%s p%d: %d x %d px at %.2f x %.2f dpi (orientation %d)", file,
               p + 1, vw, vh, dx, dy, o);
        if (!st)
            st = decode(in, p, &img);
        if (!tap_ok(st == VD_OK && img && vd_image_width(img) == vw &&
                        vd_image_height(img) == vh,
                    "%s p%d decodes: %s", file, p + 1, vd_ctx_errmsg(ctx))) {
            vd_image_free(img);
            continue;
        }
        rt_img ref;
        if (!have_im) {
            tap_skip("ImageMagick not installed");
        } else if (independent(path, dirs[p], cr->t2r, &ref) != 0) {
            tap_ok(0, "%s p%d: independent decode ran", file, p + 1);
        } else {
            rt_diff d = rt_compare(img, &ref, cr->tol);
            tap_ok(d.over == 0 && d.mean <= cr->mean + 1e-9,
                   "%s p%d vs %s: within %d (max %d, mean %.3f; %s)", file,
                   p + 1, cr->t2r ? "tiff2rgba" : "ImageMagick", cr->tol, d.max,
                   d.mean, cr->why);
            rt_free(&ref);
        }
        vd_image_free(img);
    }
    vd_input_free(in);
    json_object_put(gt);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in DIR ending in .tif/.tiff. */
static int list_tiffs(const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if ((l > 4 && strcmp(e->d_name + l - 4, ".tif") == 0) ||
            (l > 5 && strcmp(e->d_name + l - 5, ".tiff") == 0))
            names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    return n;
}

static void corpus(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/corpus/tiff", shared);
    char *names[128];
    int n = list_tiffs(dir, names, 128);
    tap_ok(n >= 30, "%d TIFFs in the corpus", n);
    int have_im = rt_have("convert") && rt_have("tiff2rgba");
    for (int i = 0; i < n; i++) {
        corpus_file(dir, names[i], have_im);
        free(names[i]);
    }
    /* the scan in scans/ too: 1 page with its resolution */
    snprintf(dir, sizeof dir,
             "%s/corpus/scans/ocrd_kant_aufklaerung_1784_p0017.tif", shared);
    vd_input *in = NULL;
    vd_page_info pi;
    vd_image *img = NULL;
    vd_ctx_clear(ctx);
    vd_status st = vd_input_open(ctx, dir, NULL, &in);
    if (!st)
        st = vd_input_page_info(ctx, in, 0, &pi);
    if (!st)
        st = decode(in, 0, &img);
    rt_img ref;
    int ok = st == VD_OK && have_im && independent(dir, 0, 0, &ref) == 0;
    rt_diff d = ok ? rt_compare(img, &ref, 0) : (rt_diff){ -1, 0, 0 };
    tap_ok(ok && d.over == 0,
           "kant scan: %g x %g px at %g dpi equals "
           "ImageMagick's decode (max %d) %s",
           pi.width, pi.height, pi.dpi_x, d.max, vd_ctx_errmsg(ctx));
    if (ok)
        rt_free(&ref);
    vd_image_free(img);
    vd_input_free(in);
}

/* ---- hostile files ---- */

typedef struct hostile {
    const char *name;
    int open_ok;   /* 1 opens, 0 refused at open, -1 either */
    int pages;     /* when it opens: page count (0 = do not check) */
    int render_ok; /* 1 every page renders, 0 page 1 fails, -1 either */
} hostile;

static const hostile hostiles[] = {
    { "imagetiff_fuzz_divide_by_zero.tif", 0, 0, 0 },
    { "imagetiff_fuzz_inf_loop.tif", -1, 0, -1 },
    { "libtiff_ifd_loop_subifd.tif", 1, 5, 1 }, /* loop ends the chain */
    { "libtiff_ifd_loop_to_self.tif", 1, 1, 1 },
    { "pillow_fuzz-crash-0c7e0e8e11ce787078f00b5b0ca40.tif", -1, 0, 0 },
    { "pillow_fuzz-crash-1152ec2d1a1a71395b6f2ce6721c3.tif", -1, 0, 0 },
    { "pillow_fuzz-crash-2020-10-test.tif.tif", -1, 0, -1 },
    { "pillow_fuzz-crash-338516dbd2f0e83caddb8ce256c22.tif", -1, 0, 0 },
    { "pillow_fuzz-crash-74d2a78403a5a59db1fb0a2b8735a.tif", -1, 0, -1 },
    { "pillow_libtiff_segfault.tif", -1, 0, 0 },
    { "pillow_lzma_unsupported_compression.tif", 1, 1, -1 },
    { "pillow_multipage_frame_loop.tiff", 1, 2, 1 }, /* distinct pages */
    { "pillow_oom_huge_dimensions.tif", 0, 0, 0 },
    { "pillow_overflow_rows_per_strip.tif", 1, 1, -1 },
    { "pillow_total_pages_zero.tif", 1, 3, 1 }, /* bogus PageNumber */
    { "pillow_wrong_bits_per_sample.tiff", 1, 1, -1 },
};

static void hostile_files(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/corpus/hostile/malformed-tiff", shared);
    char *names[64];
    int n = list_tiffs(dir, names, 64);
    tap_ok(n == (int)(sizeof hostiles / sizeof *hostiles),
           "%d malformed TIFFs, all with an expectation", n);
    for (int i = 0; i < n; i++) {
        const hostile *h = NULL;
        for (size_t k = 0; k < sizeof hostiles / sizeof *hostiles; k++)
            if (strcmp(hostiles[k].name, names[i]) == 0)
                h = &hostiles[k];
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (!tap_ok(h != NULL, "%s has an expectation", path))
            continue;
        vd_input *in = NULL;
        vd_ctx_clear(ctx);
        vd_status st = vd_input_open(ctx, path, NULL, &in);
        if (st) {
            tap_ok(h->open_ok != 1 && strstr(vd_ctx_errmsg(ctx), path) &&
                       (st == VD_ERR_FORMAT || st == VD_ERR_LIMIT ||
                        st == VD_ERR_UNSUPPORTED),
                   "%s: refused at open with a clear error: %s", h->name,
                   vd_ctx_errmsg(ctx));
            continue;
        }
        int np = vd_input_page_count(in), rendered = 0, clear = 1;
        char first[VD_ERRMSG_MAX] = "";
        for (int p = 0; p < np && p < 8; p++) {
            vd_image *img = NULL;
            vd_ctx_clear(ctx);
            st = vd_input_render_model(ctx, in, p, NULL, &img, NULL);
            if (st == VD_OK) {
                rendered++;
            } else {
                char tag[64];
                snprintf(tag, sizeof tag, "page %d: ", p + 1);
                if (!strstr(vd_ctx_errmsg(ctx), path) ||
                    !strstr(vd_ctx_errmsg(ctx), tag))
                    clear = 0;
                if (!first[0])
                    snprintf(first, sizeof first, "%s", vd_ctx_errmsg(ctx));
            }
            vd_image_free(img);
        }
        int shown = np < 8 ? np : 8;
        tap_ok(h->open_ok != 0 && (h->pages == 0 || np == h->pages) && clear &&
                   (h->render_ok == -1 ||
                    (h->render_ok == 1 && rendered == shown) ||
                    (h->render_ok == 0 && rendered < shown)),
               "%s: %d page(s), %d rendered%s%s", h->name, np, rendered,
               first[0] ? "; " : "", first);
        vd_input_free(in);
    }
}

/* ---- streaming and limits ---- */

static void streaming(void)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/many.tif", tmpdir);
    TIFF *t = TIFFOpen(path, "w");
    uint8_t row[200];
    for (int p = 0; p < 1000 && t; p++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 1600u);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, 40u);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, (uint16_t)p, (uint16_t)1000);
        for (int y = 0; y < 40; y++) {
            for (int i = 0; i < 200; i++)
                row[i] = (uint8_t)((i == p % 200 || y == 20) ? 0xFF : 0);
            TIFFWriteScanline(t, row, (uint32_t)y, 0);
        }
        TIFFWriteDirectory(t);
    }
    if (t)
        TIFFClose(t);
    vd_input *in = NULL;
    vd_ctx_clear(ctx);
    vd_status st = vd_input_open(ctx, path, NULL, &in);
    if (!tap_ok(st == VD_OK && vd_input_page_count(in) == 1000,
                "1000-page fax TIFF opens: %s", vd_ctx_errmsg(ctx))) {
        vd_input_free(in);
        return;
    }
    long base = vd__alloc_live(), worst = 0;
    int ok = 0, marks = 0;
    for (int p = 0; p < 1000; p++) {
        vd_image *img = NULL;
        if (decode(in, p, &img) == VD_OK) {
            ok++;
            /* the black column sits where the page put it */
            const uint8_t *px = vd_image_cdata(img) +
                                (size_t)5 * vd_image_stride(img) +
                                (size_t)((p % 200) * 8) * 3;
            marks += px[0] == 0;
        }
        long live = vd__alloc_live() - base;
        if (live > worst)
            worst = live;
        vd_image_free(img);
    }
    tap_ok(ok == 1000 && marks == 1000,
           "all 1000 pages decode in order (%d, %d marked right)", ok, marks);
    tap_ok(worst <= 2 && vd__alloc_live() == base,
           "one page at a time: at most %ld blocks live beyond the open "
           "file, none left after",
           worst);
    /* the last page without touching the others */
    vd_image *img = NULL;
    tap_ok(decode(in, 999, &img) == VD_OK, "page 1000 decodes directly");
    vd_image_free(img);
    vd_input_free(in);
}

static void ceiling(void)
{
    vd_opts o;
    vd_opts_init(&o);
    o.limits.max_page_pixels = 2000;
    vd_ctx *small = vd_ctx_new(&o);
    char path[2048];
    snprintf(path, sizeof path, "%s/gen/rgb8-strips.tif", tmpdir);
    vd_input *in = NULL;
    vd_image *img = NULL;
    vd_status st = vd_input_open(small, path, NULL, &in);
    long before = vd__alloc_live();
    if (!st)
        st = in->vt->render(small, in, 0, 0, 0, &img);
    tap_ok(st == VD_ERR_LIMIT && img == NULL && vd__alloc_live() == before &&
               strstr(vd_ctx_errmsg(small), "over the limit of 2000 pixels"),
           "63 x 44 page over a 2000-pixel ceiling: %s", vd_ctx_errmsg(small));
    vd_image_free(img);
    vd_input_free(in);
    vd_ctx_free(small);
}

int main(void)
{
    const char *shared = getenv("VLDOC_SHARED");
    tap_plan_late();
    ctx = vd_ctx_new(NULL);
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp.test-tiff",
             getenv("VLDOC_BUILDDIR") ? getenv("VLDOC_BUILDDIR") : ".");
    mkdir(tmpdir, 0777);
    generated();
    ceiling();
    streaming();
    if (shared && *shared) {
        corpus(shared);
        hostile_files(shared);
    } else {
        tap_skip("VLDOC_SHARED not set: corpus TIFFs not checked");
    }
    vd_ctx_free(ctx);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

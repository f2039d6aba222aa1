/* Input, TIFF: every page (directory) of a file through libtiff, decoded
 * one page at a time to 8-bit RGB in visible orientation. Strips and tiles
 * are read one band at a time, so a page costs its RGB image plus one
 * band; a 1000-page file costs one offset per page besides. Bilevel (fax
 * G3/G4 too), grey 1-16 bits, palette, RGB, CMYK, alpha (on white),
 * contiguous or planar, and JPEG-in-TIFF go through our own converter,
 * which follows Pillow's formulas; the rest (Lab, LogLuv, old JPEG,
 * uncompressed YCbCr) through libtiff's RGBA interface. libtiff's
 * messages are caught per handle and end up in vd__fail, never on
 * stderr. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tiffio.h>

#include "input-private.h"
#include "raster.h"

#define SLACK 8 /* bytes after every band: bit readers may look ahead */

typedef struct tif {
    TIFF *t;
    vd_ctx *ctx; /* of the call in progress, for the handlers */
    const char *path;
    char err[256];  /* first libtiff error since the last reset */
    char warn[256]; /* first warning */
    int nwarn;
    tdir_t *dir; /* directory number of each page */
} tif;

static int on_error(TIFF *t, void *ud, const char *module, const char *fmt,
                    va_list ap)
{
    (void)t;
    tif *h = ud;
    if (!h->err[0]) {
        char m[200];
        vsnprintf(m, sizeof m, fmt, ap);
        snprintf(h->err, sizeof h->err, "%s%s%s", module ? module : "",
                 module ? ": " : "", m);
    }
    return 1; /* handled: nothing reaches libtiff's global handler */
}

static int on_warning(TIFF *t, void *ud, const char *module, const char *fmt,
                      va_list ap)
{
    (void)t;
    (void)module;
    tif *h = ud;
    if (!h->nwarn++)
        vsnprintf(h->warn, sizeof h->warn, fmt, ap);
    return 1;
}

static void reset_msgs(tif *h, vd_ctx *ctx)
{
    h->ctx = ctx;
    h->err[0] = h->warn[0] = '\0';
    h->nwarn = 0;
}

static vd_status tiff_fail(tif *h, int page, vd_status st, const char *what)
{
    if (page >= 0)
        return vd__fail(h->ctx, st, "%s: page %d: %s%s%s", h->path, page + 1,
                        what, h->err[0] ? ": " : "", h->err);
    return vd__fail(h->ctx, st, "%s: %s%s%s", h->path, what,
                    h->err[0] ? ": " : "", h->err);
}

/* ---- opening: find the pages ---- */

static void tiff_close(vd_input *in)
{
    tif *h = in->priv;
    if (!h)
        return;
    if (h->t)
        TIFFClose(h->t);
    vd__free(h->dir);
    vd__free(h);
    in->priv = NULL;
}

static vd_status tiff_page_info(vd_ctx *ctx, vd_input *in, int page,
                                vd_page_info *info);
static vd_status tiff_render(vd_ctx *ctx, vd_input *in, int page, int w, int h,
                             vd_image **out);

static const vd__input_vt tiff_vt = {
    .format = VD_FORMAT_TIFF,
    .page_info = tiff_page_info,
    .render = tiff_render,
    .close = tiff_close,
};

vd_status vd__tiff_open(vd_ctx *ctx, vd_input *in)
{
    in->vt = &tiff_vt;
    tif *h = vd__calloc(ctx, 1, sizeof *h);
    if (!h)
        return VD_ERR_NOMEM;
    in->priv = h;
    h->path = in->path;
    reset_msgs(h, ctx);
    TIFFOpenOptions *oo = TIFFOpenOptionsAlloc();
    if (!oo)
        return vd__fail(ctx, VD_ERR_NOMEM, "%s: out of memory", in->path);
    TIFFOpenOptionsSetErrorHandlerExtR(oo, on_error, h);
    TIFFOpenOptionsSetWarningHandlerExtR(oo, on_warning, h);
    /* no single libtiff buffer beyond what a page at the ceiling needs
     * (RGBA, 16-bit samples) */
    uint64_t cap = ctx->opts.limits.max_page_pixels * 8;
    TIFFOpenOptionsSetMaxSingleMemAlloc(
        oo, (tmsize_t)(cap > ((uint64_t)1 << 40) ? (uint64_t)1 << 40 : cap));
    h->t = TIFFOpenExt(in->path, "r", oo);
    TIFFOpenOptionsFree(oo);
    if (!h->t)
        return tiff_fail(h, -1, VD_ERR_FORMAT, "not a readable TIFF");

    /* Walk the directory chain once. libtiff stops at IFD loops; we stop
     * at the page limit. Reduced-resolution copies (thumbnails) and
     * transparency masks are not pages, unless nothing else is. Each
     * entry is directory * 2 + is_page. */
    int cap_dirs = ctx->opts.limits.max_pages, nall = 0, npage = 0, size = 0;
    uint64_t *d = NULL;
    for (;;) {
        uint32_t sft = 0;
        TIFFGetField(h->t, TIFFTAG_SUBFILETYPE, &sft);
        int is_page = !(sft & (FILETYPE_REDUCEDIMAGE | FILETYPE_MASK));
        if (nall >= 2 * cap_dirs + 16 || (is_page && npage >= cap_dirs)) {
            vd__free(d);
            return vd__fail(ctx, VD_ERR_LIMIT,
                            "%s: more than %d pages, over the limit", in->path,
                            cap_dirs);
        }
        if (nall == size) {
            size = size ? size * 2 : 16;
            uint64_t *k = vd__realloc(ctx, d, sizeof *k * (size_t)size);
            if (!k) {
                vd__free(d);
                return VD_ERR_NOMEM;
            }
            d = k;
        }
        d[nall++] = (uint64_t)TIFFCurrentDirectory(h->t) * 2 + is_page;
        npage += is_page;
        if (!TIFFReadDirectory(h->t))
            break;
    }
    h->dir = vd__malloc(ctx, sizeof *h->dir * (size_t)nall);
    if (!h->dir) {
        vd__free(d);
        return VD_ERR_NOMEM;
    }
    int n = 0;
    for (int i = 0; i < nall; i++)
        if (!npage || (d[i] & 1))
            h->dir[n++] = (tdir_t)(d[i] >> 1);
    vd__free(d);
    in->npages = n;
    if (h->err[0])
        vd__warn(ctx,
                 "%s: directory %d is damaged; reading the %d page%s "
                 "before it (%s)",
                 in->path, nall + 1, n, n == 1 ? "" : "s", h->err);
    return VD_OK;
}

/* ---- one page's header ---- */

typedef struct tpage {
    uint32_t w, h; /* as stored */
    uint16_t bps, spp, photometric, planar, compression, orientation;
    uint16_t sampleformat, inkset;
    uint16_t nextra, *extra; /* libtiff's */
    double dpi_x, dpi_y;     /* as stored (not turned) */
    int tiled;
} tpage;

static vd_status select_page(tif *h, int page, tpage *p)
{
    memset(p, 0, sizeof *p);
    if (!TIFFSetDirectory(h->t, h->dir[page]))
        return tiff_fail(h, page, VD_ERR_FORMAT, "cannot read its directory");
    TIFF *t = h->t;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &p->w) ||
        !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &p->h) || p->w == 0 || p->h == 0)
        return tiff_fail(h, page, VD_ERR_FORMAT, "no image size");
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &p->bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &p->spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &p->planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &p->compression);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &p->sampleformat);
    TIFFGetFieldDefaulted(t, TIFFTAG_INKSET, &p->inkset);
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &p->nextra, &p->extra);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &p->photometric))
        p->photometric =
            p->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISWHITE; /* fax */
    if (!TIFFGetField(t, TIFFTAG_ORIENTATION, &p->orientation) ||
        p->orientation < 1 || p->orientation > 8)
        p->orientation = 1;
    p->tiled = TIFFIsTiled(t);
    float xr = 0, yr = 0;
    uint16_t unit = RESUNIT_INCH;
    TIFFGetFieldDefaulted(t, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (TIFFGetField(t, TIFFTAG_XRESOLUTION, &xr) &&
        TIFFGetField(t, TIFFTAG_YRESOLUTION, &yr) && unit != RESUNIT_NONE) {
        double f = unit == RESUNIT_CENTIMETER ? 2.54 : 1.0;
        double dx = xr * f, dy = yr * f;
        if (dx >= 1 && dy >= 1 && dx <= 1e5 && dy <= 1e5 && isfinite(dx) &&
            isfinite(dy)) {
            p->dpi_x = dx;
            p->dpi_y = dy;
        }
    }
    return VD_OK;
}

static vd_status tiff_page_info(vd_ctx *ctx, vd_input *in, int page,
                                vd_page_info *info)
{
    tif *h = in->priv;
    reset_msgs(h, ctx);
    tpage p;
    vd_status st = select_page(h, page, &p);
    if (st)
        return st;
    int vw, vh;
    vd__orient_size(p.orientation, (int)(p.w > INT32_MAX ? INT32_MAX : p.w),
                    (int)(p.h > INT32_MAX ? INT32_MAX : p.h), &vw, &vh);
    info->width = vw;
    info->height = vh;
    info->unit = VD_UNIT_PX;
    int turned = p.orientation >= 5;
    info->dpi_x = turned ? p.dpi_y : p.dpi_x;
    info->dpi_y = turned ? p.dpi_x : p.dpi_y;
    info->is_scan = 1;
    info->scan_w = vw;
    info->scan_h = vh;
    info->rotate = p.orientation == 6   ? 90
                   : p.orientation == 3 ? 180
                   : p.orientation == 8 ? 270
                                        : 0;
    return VD_OK;
}

/* ---- our converter ---- */

typedef struct conv {
    int bps, spp, nplanes; /* nplanes: 1 contiguous, spp separate */
    int kind;              /* K_GREY, K_PALETTE, K_RGB, K_CMYK */
    int nc;                /* colour samples: 1, 3 or 4 */
    int alpha;             /* sample index of alpha, -1 none */
    int assoc;             /* alpha is premultiplied */
    int invert;            /* min-is-white */
    uint32_t w;
    uint8_t *cmap;       /* palette: 3 bytes per index, owned */
    uint8_t bw[256][24]; /* 1-bit grey: one byte -> 8 RGB pixels */
} conv;

enum { K_GREY, K_PALETTE, K_RGB, K_CMYK };

static inline unsigned get_sample(const uint8_t *row, size_t i, int bps)
{
    if (bps == 8)
        return row[i];
    if (bps == 16) {
        uint16_t v;
        memcpy(&v, row + 2 * i, 2); /* libtiff swabs to host order */
        return v;
    }
    /* packed, most significant bit first, rows padded to a byte */
    size_t bit = i * (size_t)bps;
    const uint8_t *b = row + bit / 8;
    uint32_t v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
    return (v >> (24 - bps - bit % 8)) & ((1u << bps) - 1);
}

static inline uint8_t to8(unsigned v, int bps)
{
    if (bps == 8)
        return (uint8_t)v;
    if (bps > 8)
        return (uint8_t)(v >> (bps - 8)); /* Pillow's RGB;16: high byte */
    return (uint8_t)(v * 255 / ((1u << bps) - 1)); /* Pillow's L;1/L;2/L;4 */
}

/* Convert stored row ROW (one pointer per plane) into N RGB pixels. */
static void convert_row(const conv *c, const uint8_t *const *planes,
                        uint8_t *rgb)
{
    uint32_t w = c->w;
    int bps = c->bps;
    if (c->kind == K_GREY && bps == 1 && c->spp == 1) {
        const uint8_t *s = planes[0];
        uint32_t full = w / 8, x = 0;
        for (uint32_t i = 0; i < full; i++, x += 8)
            memcpy(rgb + 3 * x, c->bw[s[i]], 24);
        if (x < w)
            memcpy(rgb + 3 * x, c->bw[s[full]], 3 * (w - x));
        return;
    }
    if (c->kind == K_RGB && bps == 8 && c->spp == 3 && c->nplanes == 1) {
        memcpy(rgb, planes[0], (size_t)w * 3);
        return;
    }
    if (c->kind == K_GREY && bps == 8 && c->spp == 1 && !c->invert) {
        const uint8_t *s = planes[0];
        for (uint32_t x = 0; x < w; x++, rgb += 3)
            rgb[0] = rgb[1] = rgb[2] = s[x];
        return;
    }
    for (uint32_t x = 0; x < w; x++, rgb += 3) {
        unsigned v[5] = { 0 };
        int ns = c->nc + (c->alpha >= 0);
        for (int k = 0; k < ns; k++) {
            int si = k < c->nc ? k : c->alpha;
            v[k] = c->nplanes == 1
                       ? get_sample(planes[0], (size_t)x * c->spp + si, bps)
                       : get_sample(planes[si], x, bps);
        }
        uint8_t r, g, b;
        switch (c->kind) {
        case K_PALETTE: {
            const uint8_t *e = c->cmap + 3 * (size_t)v[0];
            r = e[0], g = e[1], b = e[2];
            break;
        }
        case K_RGB:
            r = to8(v[0], bps), g = to8(v[1], bps), b = to8(v[2], bps);
            break;
        case K_CMYK: {
            /* Pillow's cmyk2rgb: nk - round(c * nk / 255) */
            int nk = 255 - to8(v[3], bps), o[3];
            for (int k = 0; k < 3; k++) {
                int t = to8(v[k], bps) * nk + 128;
                o[k] = nk - (((t >> 8) + t) >> 8);
                o[k] = o[k] < 0 ? 0 : o[k];
            }
            r = (uint8_t)o[0], g = (uint8_t)o[1], b = (uint8_t)o[2];
            break;
        }
        default: {
            uint8_t y = to8(v[0], bps);
            r = g = b = c->invert ? (uint8_t)(255 - y) : y;
            break;
        }
        }
        if (c->alpha >= 0) {
            unsigned a = to8(v[c->nc], bps);
            if (c->assoc) { /* premultiplied: c + (1 - a) * white */
                unsigned bg = 255 - a;
                r = (uint8_t)(r + bg > 255 ? 255 : r + bg);
                g = (uint8_t)(g + bg > 255 ? 255 : g + bg);
                b = (uint8_t)(b + bg > 255 ? 255 : b + bg);
            } else {
                unsigned bg = 255 * (255 - a);
                r = (uint8_t)((r * a + bg + 127) / 255);
                g = (uint8_t)((g * a + bg + 127) / 255);
                b = (uint8_t)((b * a + bg + 127) / 255);
            }
        }
        rgb[0] = r, rgb[1] = g, rgb[2] = b;
    }
}

/* Can our converter take this page? Fills C (but not cmap) when so. */
static int conv_setup(TIFF *t, const tpage *p, conv *c)
{
    memset(c, 0, sizeof *c);
    c->w = p->w;
    c->bps = p->bps;
    c->spp = p->spp;
    c->alpha = -1;
    c->nplanes = p->planar == PLANARCONFIG_SEPARATE && p->spp > 1 ? p->spp : 1;
    if (p->bps < 1 || p->bps > 16 || p->spp < 1 || p->spp > 16)
        return 0;
    if (p->sampleformat != SAMPLEFORMAT_UINT &&
        p->sampleformat != SAMPLEFORMAT_VOID)
        return 0;
    if (p->compression == COMPRESSION_OJPEG)
        return 0;
    switch (p->photometric) {
    case PHOTOMETRIC_MINISWHITE:
    case PHOTOMETRIC_MINISBLACK:
        c->kind = K_GREY;
        c->nc = 1;
        c->invert = p->photometric == PHOTOMETRIC_MINISWHITE;
        break;
    case PHOTOMETRIC_PALETTE:
        c->kind = K_PALETTE;
        c->nc = 1;
        break;
    case PHOTOMETRIC_YCBCR:
        /* libjpeg converts to RGB for us; other YCbCr goes to libtiff's
         * RGBA path, which handles subsampled layouts */
        if (p->compression != COMPRESSION_JPEG || p->bps != 8 ||
            c->nplanes != 1 ||
            !TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
            return 0;
        /* fall through */
    case PHOTOMETRIC_RGB:
        c->kind = K_RGB;
        c->nc = 3;
        break;
    case PHOTOMETRIC_SEPARATED:
        if (p->inkset != INKSET_CMYK)
            return 0;
        c->kind = K_CMYK;
        c->nc = 4;
        break;
    default:
        return 0;
    }
    if (p->spp < c->nc)
        return 0;
    /* the first extra sample is alpha when it says so */
    int first_extra = p->spp - p->nextra;
    if (p->nextra > 0 && first_extra == c->nc && p->extra &&
        (p->extra[0] == EXTRASAMPLE_ASSOCALPHA ||
         p->extra[0] == EXTRASAMPLE_UNASSALPHA)) {
        c->alpha = c->nc;
        c->assoc = p->extra[0] == EXTRASAMPLE_ASSOCALPHA;
    }
    if (c->kind == K_GREY && c->bps == 1)
        for (int v = 0; v < 256; v++)
            for (int i = 0; i < 8; i++) {
                int bit = (v >> (7 - i)) & 1;
                uint8_t y = (uint8_t)((bit ^ c->invert) ? 255 : 0);
                memset(c->bw[v] + 3 * i, y, 3);
            }
    return 1;
}

static vd_status load_cmap(tif *h, int page, conv *c)
{
    uint16_t *r, *g, *b;
    if (!TIFFGetField(h->t, TIFFTAG_COLORMAP, &r, &g, &b))
        return tiff_fail(h, page, VD_ERR_FORMAT,
                         "palette image without a "
                         "colour map");
    size_t n = (size_t)1 << c->bps;
    c->cmap = vd__malloc(h->ctx, 3 * n);
    if (!c->cmap)
        return VD_ERR_NOMEM;
    /* Some writers store 8-bit maps; libtiff's tiff2rgba checks for that
     * and so do we (Pillow would make such a page black). */
    int eight = 1;
    for (size_t i = 0; i < n && eight; i++)
        if (r[i] > 255 || g[i] > 255 || b[i] > 255)
            eight = 0;
    int sh = eight ? 0 : 8;
    for (size_t i = 0; i < n; i++) {
        c->cmap[3 * i] = (uint8_t)(r[i] >> sh);
        c->cmap[3 * i + 1] = (uint8_t)(g[i] >> sh);
        c->cmap[3 * i + 2] = (uint8_t)(b[i] >> sh);
    }
    return VD_OK;
}

/* Decode the current directory with our converter into DST. */
static vd_status decode_own(tif *h, int page, const tpage *p, conv *c,
                            vd__orient_dst *dst)
{
    TIFF *t = h->t;
    vd_ctx *ctx = h->ctx;
    vd_status st = VD_OK;
    uint8_t *band[16] = { 0 }, *tile = NULL, *rgb = NULL;
    int np = c->nplanes;
    uint64_t line = (uint64_t)TIFFScanlineSize64(t); /* per plane */
    uint32_t bw = 0, bh = 0; /* tile size, or strip rows */
    if (p->tiled) {
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &bw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &bh);
    } else {
        TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &bh);
    }
    if (bh == 0 || bh > p->h)
        bh = p->h;
    uint64_t bits_px = (uint64_t)c->bps * (np == 1 ? c->spp : 1);
    uint64_t need_line = ((uint64_t)p->w * bits_px + 7) / 8;
    uint64_t ceiling = ctx->opts.limits.max_page_pixels;
    uint64_t tbytes = p->tiled ? (uint64_t)TIFFTileSize64(t) : 0;
    if (line == 0 || line < need_line ||
        (p->tiled &&
         (bw == 0 || bw > 65536 || tbytes == 0 || (uint64_t)bw * bh > ceiling ||
          tbytes > ceiling * 8 + 65536)))
        return tiff_fail(h, page, VD_ERR_FORMAT,
                         "inconsistent strip or tile "
                         "layout");
    if (line * bh > ceiling * 8 + 65536)
        return tiff_fail(h, page, VD_ERR_LIMIT, "strip too large");
    size_t band_bytes = (size_t)(line * bh) + SLACK;
    for (int k = 0; k < np; k++)
        if (!(band[k] = vd__calloc(ctx, 1, band_bytes))) {
            st = VD_ERR_NOMEM;
            goto done;
        }
    if (p->tiled && !(tile = vd__malloc(ctx, (size_t)tbytes + SLACK))) {
        st = VD_ERR_NOMEM;
        goto done;
    }
    if (!(rgb = vd__malloc(ctx, (size_t)p->w * 3 + SLACK))) {
        st = VD_ERR_NOMEM;
        goto done;
    }
    uint32_t nstrips_plane =
        p->tiled ? 0 : TIFFNumberOfStrips(t) / (uint32_t)np;
    /* A strip or tile that does not decode is left white and the page goes
     * on, as viewers do, with a warning. All-ones samples are white for RGB,
     * min-is-black grey and alpha; zero for CMYK and min-is-white. */
    int white = c->kind == K_CMYK || c->kind == K_PALETTE ||
                        (c->kind == K_GREY && c->invert)
                    ? 0x00
                    : 0xFF;
    uint32_t nblocks = 0, nbad = 0;
    for (uint32_t y0 = 0; y0 < p->h; y0 += bh) {
        uint32_t rows = p->h - y0 < bh ? p->h - y0 : bh;
        if (vd__cancelled(ctx)) {
            st = vd__fail(ctx, VD_ERR_CANCELLED, "%s: page %d: cancelled",
                          h->path, page + 1);
            goto done;
        }
        for (int k = 0; k < np; k++) {
            if (!p->tiled) {
                uint32_t s = y0 / bh + (uint32_t)k * nstrips_plane;
                tmsize_t want = (tmsize_t)(line * rows);
                nblocks++;
                if (s >= TIFFNumberOfStrips(t) ||
                    TIFFReadEncodedStrip(t, s, band[k], want) < 0) {
                    memset(band[k], white, (size_t)(line * rows));
                    nbad++;
                }
                continue;
            }
            uint64_t trow = (uint64_t)TIFFTileRowSize64(t);
            for (uint32_t x0 = 0; x0 < p->w; x0 += bw) {
                uint32_t ti = TIFFComputeTile(t, x0, y0, 0, (uint16_t)k);
                nblocks++;
                if (TIFFReadEncodedTile(t, ti, tile, (tmsize_t)tbytes) < 0) {
                    memset(tile, white, (size_t)tbytes);
                    nbad++;
                }
                uint32_t cols = p->w - x0 < bw ? p->w - x0 : bw;
                uint64_t off = (uint64_t)x0 * bits_px / 8;
                uint64_t n = ((uint64_t)cols * bits_px + 7) / 8;
                if (n > trow)
                    n = trow;
                if (off + n > line)
                    n = off < line ? line - off : 0;
                for (uint32_t r = 0; r < rows; r++)
                    memcpy(band[k] + r * line + off, tile + r * trow, n);
            }
        }
        for (uint32_t r = 0; r < rows; r++) {
            const uint8_t *pl[16];
            for (int k = 0; k < np; k++)
                pl[k] = band[k] + r * line;
            convert_row(c, pl, rgb);
            vd__orient_put_row(dst, (int)(y0 + r), rgb);
        }
    }
    if (nbad && nbad == nblocks) {
        /* nothing of the page decoded: an error, not a blank page */
        if (!h->err[0])
            snprintf(h->err, sizeof h->err, "%s", h->warn);
        st = tiff_fail(h, page, VD_ERR_FORMAT,
                       p->tiled ? "no tile could be decoded"
                                : "no strip could be decoded");
    } else if (nbad)
        vd__warn(ctx,
                 "%s: page %d: %u of %u %s could not be decoded and are "
                 "left white (%s)",
                 h->path, page + 1, nbad, nblocks,
                 p->tiled ? "tiles" : "strips",
                 h->err[0]    ? h->err
                 : h->warn[0] ? h->warn
                              : "corrupt data");
    h->nwarn = 0; /* said */
done:
    for (int k = 0; k < np; k++)
        vd__free(band[k]);
    vd__free(tile);
    vd__free(rgb);
    return st;
}

/* libtiff's own conversion for what our converter does not take. It is
 * asked for the rows as stored (no flips) so orientation stays ours. */
static vd_status decode_rgba(tif *h, int page, const tpage *p,
                             vd__orient_dst *dst)
{
    char emsg[1024] = "";
    TIFFRGBAImage img;
    if (!TIFFRGBAImageOK(h->t, emsg) ||
        !TIFFRGBAImageBegin(&img, h->t, 0, emsg)) {
        if (!h->err[0])
            snprintf(h->err, sizeof h->err, "%s", emsg);
        return tiff_fail(h, page, VD_ERR_UNSUPPORTED,
                         "this kind of TIFF image is not supported");
    }
    img.req_orientation = ORIENTATION_TOPLEFT;
    img.orientation = ORIENTATION_TOPLEFT;
    uint32_t chunk = (1u << 20) / p->w;
    chunk = chunk < 1 ? 1 : chunk > p->h ? p->h : chunk;
    vd_status st = VD_OK;
    uint32_t *raster = vd__malloc(h->ctx, sizeof *raster * p->w * chunk);
    uint8_t *rgb = vd__malloc(h->ctx, (size_t)p->w * 3);
    int unassoc_grey = img.alpha == EXTRASAMPLE_UNASSALPHA &&
                       (p->photometric == PHOTOMETRIC_MINISBLACK ||
                        p->photometric == PHOTOMETRIC_MINISWHITE);
    if (!raster || !rgb)
        st = VD_ERR_NOMEM;
    for (uint32_t y0 = 0; st == VD_OK && y0 < p->h; y0 += chunk) {
        uint32_t rows = p->h - y0 < chunk ? p->h - y0 : chunk;
        img.row_offset = (int)y0;
        img.col_offset = 0;
        if (!TIFFRGBAImageGet(&img, raster, p->w, rows)) {
            st = tiff_fail(h, page, VD_ERR_FORMAT, "cannot decode");
            break;
        }
        for (uint32_t r = 0; r < rows; r++) {
            const uint32_t *s = raster + (size_t)r * p->w;
            for (uint32_t x = 0; x < p->w; x++) {
                unsigned a = TIFFGetA(s[x]), bg = 255 - a;
                unsigned c[3] = { TIFFGetR(s[x]), TIFFGetG(s[x]),
                                  TIFFGetB(s[x]) };
                for (int k = 0; k < 3; k++) {
                    unsigned v = unassoc_grey
                                     ? (c[k] * a + 255 * bg + 127) / 255
                                     : c[k] + bg; /* premultiplied */
                    rgb[3 * x + k] = (uint8_t)(v > 255 ? 255 : v);
                }
            }
            vd__orient_put_row(dst, (int)(y0 + r), rgb);
        }
    }
    TIFFRGBAImageEnd(&img);
    vd__free(raster);
    vd__free(rgb);
    return st;
}

static vd_status tiff_render(vd_ctx *ctx, vd_input *in, int page, int w, int h_,
                             vd_image **out)
{
    (void)w;
    (void)h_;
    *out = NULL;
    tif *h = in->priv;
    reset_msgs(h, ctx);
    tpage p;
    vd_status st = select_page(h, page, &p);
    if (st)
        return st;
    /* tag trouble the directory survived is not the pixels' fault */
    reset_msgs(h, ctx);
    uint64_t pixels = (uint64_t)p.w * p.h;
    if (pixels > ctx->opts.limits.max_page_pixels || p.w > INT32_MAX ||
        p.h > INT32_MAX)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: page %d: image of %u x %u pixels is over the "
                        "limit of %llu pixels per page",
                        in->path, page + 1, p.w, p.h,
                        (unsigned long long)ctx->opts.limits.max_page_pixels);
    int vw, vh;
    vd__orient_size(p.orientation, (int)p.w, (int)p.h, &vw, &vh);
    vd_image *img = NULL;
    if ((st = vd_image_new(ctx, vw, vh, &img)) != VD_OK)
        return st;
    int turned = p.orientation >= 5;
    vd_image_set_dpi(img, turned ? p.dpi_y : p.dpi_x,
                     turned ? p.dpi_x : p.dpi_y);
    vd__orient_dst dst = { img, (int)p.w, (int)p.h, p.orientation };
    conv *c = vd__malloc(ctx, sizeof *c);
    if (!c) {
        vd_image_free(img);
        return VD_ERR_NOMEM;
    }
    if (conv_setup(h->t, &p, c)) {
        if (c->kind == K_PALETTE)
            st = load_cmap(h, page, c);
        if (st == VD_OK)
            st = decode_own(h, page, &p, c, &dst);
        vd__image_set_grey(img, st == VD_OK && c->kind == K_GREY);
        vd__free(c->cmap);
    } else {
        st = decode_rgba(h, page, &p, &dst);
    }
    vd__free(c);
    if (st == VD_OK && h->nwarn)
        vd__warn(ctx,
                 "%s: page %d: damaged image data (%s%s); the page may "
                 "be incomplete",
                 in->path, page + 1, h->warn, h->nwarn > 1 ? ", and more" : "");
    if (st) {
        vd_image_free(img);
        return st;
    }
    *out = img;
    return VD_OK;
}

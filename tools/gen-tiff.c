/* tools/gen-tiff: write one TIFF for every variant vldoc's TIFF reader must
 * handle, with libtiff, together with the pixels a correct reader shows
 * (binary PPM per page, visible orientation, alpha on white, CMYK and
 * 16-bit converted as Pillow does) and a manifest line per file:
 *
 *   NAME.tif  NAME.pN.ppm ...  and in manifest.tsv:
 *   name  pages  max_diff  mean_diff  dpi_x  dpi_y  what
 *
 * max_diff/mean_diff are 0 for lossless variants; JPEG variants carry
 * the bound of their compression error (the 8-px colour checks lose most
 * to 2x2 chroma subsampling). Usage: gen-tiff OUTDIR */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>

enum kind { BILEVEL, GREY, PALETTE, RGB, RGBA, GREYA, CMYK, YCBCR };

typedef struct variant {
    const char *name, *what;
    enum kind kind;
    int bps;
    int photometric; /* for BILEVEL/GREY: min-is-white or -black */
    int compression;
    int g3opts; /* CCITT G3 options */
    int tile;   /* tile side, 0 = strips */
    int rows_per_strip;
    int planar; /* PLANARCONFIG_* */
    int assoc;  /* RGBA/GREYA: premultiplied */
    int orientation;
    int w, h;
    float xres, yres;
    int unit;      /* RESUNIT_* */
    int pages;     /* > 1: multi-page (sizes vary per page) */
    int thumbnail; /* a reduced-resolution IFD after page 1 */
    int fillorder;
    int max_diff; /* lossy: bound on the difference per sample */
    double mean_diff;
} variant;

/* The picture: smooth ramps (kind to JPEG) with a few hard edges. */
static void pattern(int x, int y, int w, int h, int page, uint8_t rgb[3])
{
    rgb[0] = (uint8_t)((x * 255 / (w > 1 ? w - 1 : 1) + 40 * page) & 255);
    rgb[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
    rgb[2] = (uint8_t)((((x / 8) + (y / 8)) & 1) ? 200 : 60);
}

static uint8_t grey_of(int x, int y, int w, int h, int page)
{
    uint8_t c[3];
    pattern(x, y, w, h, page, c);
    return (uint8_t)((c[0] * 2 + c[1] * 5 + c[2]) / 8);
}

static int bit_of(int x, int y, int page)
{
    /* text-like strokes: bars and a diagonal */
    return ((x / 3 + y / 5 + page) % 4 == 0) || (x == y) || (x % 50 < 2);
}

static uint8_t alpha_of(int x, int y, int w)
{
    return (uint8_t)(x < w / 4 ? 0 : x < w / 2 ? (x * 37 + y * 11) & 255 : 255);
}

/* ---- expected pixels, as vldoc documents them ---- */

static uint8_t pil_cmyk(uint8_t c, uint8_t k)
{
    int nk = 255 - k, t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v);
}

static uint8_t on_white(uint8_t c, uint8_t a)
{
    return (uint8_t)((c * a + 255 * (255 - a) + 127) / 255);
}

static uint8_t premul(uint8_t c, uint8_t a)
{
    return (uint8_t)((c * a + 127) / 255);
}

/* CMYK from the pattern: c = 255 - r etc. with grey component removal */
static void cmyk_of(const uint8_t rgb[3], uint8_t cmyk[4])
{
    uint8_t k = (uint8_t)(255 - (rgb[0] > rgb[1]
                                     ? (rgb[0] > rgb[2] ? rgb[0] : rgb[2])
                                     : (rgb[1] > rgb[2] ? rgb[1] : rgb[2])));
    cmyk[3] = (uint8_t)(k / 2);
    for (int i = 0; i < 3; i++)
        cmyk[i] =
            (uint8_t)(255 - rgb[i] - k / 2 < 0 ? 0 : 255 - rgb[i] - k / 2);
}

static int page_w(const variant *v, int p)
{
    return v->w + 13 * p;
}

static int page_h(const variant *v, int p)
{
    return v->h + 7 * p;
}

/* Stored sample values of pixel (x, y); returns the count. */
static int samples(const variant *v, int x, int y, int w, int h, int p,
                   unsigned s[5])
{
    uint8_t c[3];
    pattern(x, y, w, h, p, c);
    switch (v->kind) {
    case BILEVEL: {
        int black = bit_of(x, y, p);
        s[0] = v->photometric == PHOTOMETRIC_MINISWHITE ? black : !black;
        return 1;
    }
    case GREY: {
        unsigned g = grey_of(x, y, w, h, p);
        if (v->bps == 16)
            s[0] = g * 257 ^ (unsigned)(x % 7); /* low byte is noise */
        else if (v->bps < 8)
            s[0] = g >> (8 - v->bps);
        else
            s[0] = g;
        if (v->photometric == PHOTOMETRIC_MINISWHITE)
            s[0] = ((1u << v->bps) - 1) - s[0];
        return 1;
    }
    case PALETTE:
        s[0] = (unsigned)(x / 5 + y / 3) % (1u << v->bps);
        return 1;
    case RGB:
    case YCBCR:
        for (int i = 0; i < 3; i++)
            s[i] = v->bps == 16 ? c[i] * 257u ^ (unsigned)(y % 5) : c[i];
        return 3;
    case RGBA: {
        uint8_t a = alpha_of(x, y, w);
        for (int i = 0; i < 3; i++)
            s[i] = v->assoc ? premul(c[i], a) : c[i];
        s[3] = a;
        if (v->bps == 16)
            for (int i = 0; i < 4; i++)
                s[i] = s[i] * 257;
        return 4;
    }
    case GREYA: {
        uint8_t a = alpha_of(x, y, w), g = grey_of(x, y, w, h, p);
        s[0] = v->assoc ? premul(g, a) : g;
        s[1] = a;
        return 2;
    }
    case CMYK: {
        uint8_t k[4];
        cmyk_of(c, k);
        for (int i = 0; i < 4; i++)
            s[i] = k[i];
        return 4;
    }
    }
    return 0;
}

static uint16_t cmap_entry(int i, int ch)
{
    uint8_t v = (uint8_t)((i * (ch == 0   ? 53
                                : ch == 1 ? 101
                                          : 29) +
                           17 * ch) &
                          255);
    return (uint16_t)(v * 257);
}

/* The visible colour of stored pixel (x, y). */
static void expected(const variant *v, int x, int y, int w, int h, int p,
                     uint8_t out[3])
{
    unsigned s[5];
    samples(v, x, y, w, h, p, s);
    uint8_t c[3];
    pattern(x, y, w, h, p, c);
    switch (v->kind) {
    case BILEVEL:
        out[0] = out[1] = out[2] = bit_of(x, y, p) ? 0 : 255;
        return;
    case GREY: {
        unsigned g = s[0];
        if (v->photometric == PHOTOMETRIC_MINISWHITE)
            g = ((1u << v->bps) - 1) - g;
        uint8_t e = v->bps == 16 ? (uint8_t)(g >> 8)
                    : v->bps < 8 ? (uint8_t)(g * 255 / ((1u << v->bps) - 1))
                                 : (uint8_t)g;
        out[0] = out[1] = out[2] = e;
        return;
    }
    case PALETTE:
        for (int i = 0; i < 3; i++)
            out[i] = (uint8_t)(cmap_entry((int)s[0], i) >> 8);
        return;
    case RGB:
    case YCBCR:
        memcpy(out, c, 3);
        return;
    case RGBA: {
        uint8_t a = alpha_of(x, y, w);
        for (int i = 0; i < 3; i++) {
            if (v->assoc) {
                int e = premul(c[i], a) + 255 - a;
                out[i] = (uint8_t)(e > 255 ? 255 : e);
            } else {
                out[i] = on_white(c[i], a);
            }
        }
        return;
    }
    case GREYA: {
        uint8_t a = alpha_of(x, y, w), g = grey_of(x, y, w, h, p);
        uint8_t e = v->assoc ? (uint8_t)(premul(g, a) + 255 - a > 255
                                             ? 255
                                             : premul(g, a) + 255 - a)
                             : on_white(g, a);
        out[0] = out[1] = out[2] = e;
        return;
    }
    case CMYK:
        for (int i = 0; i < 3; i++)
            out[i] = pil_cmyk((uint8_t)s[i], (uint8_t)s[3]);
        return;
    }
}

/* Pack stored samples of row Y for sample plane PLANE (-1: all). */
static void pack_row(const variant *v, int y, int w, int h, int p, int plane,
                     uint8_t *buf, size_t n)
{
    memset(buf, 0, n);
    size_t bit = 0;
    for (int x = 0; x < w; x++) {
        unsigned s[5];
        int ns = samples(v, x, y, w, h, p, s);
        for (int k = 0; k < ns; k++) {
            if (plane >= 0 && k != plane)
                continue;
            unsigned val = s[k];
            if (v->bps == 16) {
                uint16_t u = (uint16_t)val; /* host order; libtiff swabs */
                memcpy(buf + bit / 8, &u, 2);
            } else {
                for (int b = v->bps - 1; b >= 0; b--, bit++)
                    if ((val >> b) & 1)
                        buf[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
                continue;
            }
            bit += 16;
        }
    }
}

static int nsamples(const variant *v)
{
    switch (v->kind) {
    case RGB:
    case YCBCR:
        return 3;
    case RGBA:
    case CMYK:
        return 4;
    case GREYA:
        return 2;
    default:
        return 1;
    }
}

static int write_ifd(TIFF *t, const variant *v, int p, int w, int h, int thumb)
{
    int spp = nsamples(v);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)v->bps);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spp);
    TIFFSetField(t, TIFFTAG_COMPRESSION, (uint16_t)v->compression);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG,
                 (uint16_t)(v->planar ? v->planar : PLANARCONFIG_CONTIG));
    if (thumb)
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, (uint32_t)FILETYPE_REDUCEDIMAGE);
    else if (v->pages > 1)
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, (uint32_t)FILETYPE_PAGE);
    if (v->orientation)
        TIFFSetField(t, TIFFTAG_ORIENTATION, (uint16_t)v->orientation);
    if (v->fillorder)
        TIFFSetField(t, TIFFTAG_FILLORDER, (uint16_t)v->fillorder);
    if (v->xres > 0) {
        TIFFSetField(t, TIFFTAG_XRESOLUTION, v->xres);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, v->yres);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, (uint16_t)v->unit);
    }
    uint16_t photometric;
    switch (v->kind) {
    case BILEVEL:
    case GREY:
        photometric = (uint16_t)v->photometric;
        break;
    case GREYA: {
        photometric = PHOTOMETRIC_MINISBLACK;
        uint16_t ex =
            v->assoc ? EXTRASAMPLE_ASSOCALPHA : EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, &ex);
        break;
    }
    case PALETTE: {
        photometric = PHOTOMETRIC_PALETTE;
        int n = 1 << v->bps;
        uint16_t *r = calloc((size_t)n, 2), *g = calloc((size_t)n, 2),
                 *b = calloc((size_t)n, 2);
        for (int i = 0; i < n; i++) {
            r[i] = cmap_entry(i, 0);
            g[i] = cmap_entry(i, 1);
            b[i] = cmap_entry(i, 2);
        }
        TIFFSetField(t, TIFFTAG_COLORMAP, r, g, b);
        free(r);
        free(g);
        free(b);
        break;
    }
    case RGBA: {
        photometric = PHOTOMETRIC_RGB;
        uint16_t ex =
            v->assoc ? EXTRASAMPLE_ASSOCALPHA : EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, &ex);
        break;
    }
    case CMYK:
        photometric = PHOTOMETRIC_SEPARATED;
        TIFFSetField(t, TIFFTAG_INKSET, (uint16_t)INKSET_CMYK);
        break;
    case YCBCR:
        photometric = PHOTOMETRIC_YCBCR;
        break;
    default:
        photometric = PHOTOMETRIC_RGB;
    }
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric);
    if (v->compression == COMPRESSION_CCITTFAX3)
        TIFFSetField(t, TIFFTAG_GROUP3OPTIONS, (uint32_t)v->g3opts);
    if (v->compression == COMPRESSION_JPEG) {
        TIFFSetField(t, TIFFTAG_JPEGQUALITY, 92);
        if (v->kind == YCBCR) {
            TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, (uint16_t)2, (uint16_t)2);
            TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        }
    }
    if (v->compression == COMPRESSION_LZW ||
        v->compression == COMPRESSION_ADOBE_DEFLATE)
        TIFFSetField(
            t, TIFFTAG_PREDICTOR,
            (uint16_t)(v->bps >= 8 ? PREDICTOR_HORIZONTAL : PREDICTOR_NONE));

    int nplanes = v->planar == PLANARCONFIG_SEPARATE ? spp : 1;
    if (v->tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, (uint32_t)v->tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, (uint32_t)v->tile);
        tmsize_t ts = TIFFTileSize(t), rs = TIFFTileRowSize(t);
        size_t line = (size_t)TIFFScanlineSize(t);
        uint8_t *tile = calloc(1, (size_t)ts), *row = calloc(1, line + 8);
        for (int k = 0; k < nplanes; k++)
            for (int y0 = 0; y0 < h; y0 += v->tile)
                for (int x0 = 0; x0 < w; x0 += v->tile) {
                    memset(tile, 0, (size_t)ts);
                    for (int r = 0; r < v->tile && y0 + r < h; r++) {
                        pack_row(v, y0 + r, w, h, p, nplanes > 1 ? k : -1, row,
                                 line);
                        size_t bpp =
                            (size_t)v->bps * (nplanes > 1 ? 1 : (size_t)spp);
                        size_t off = (size_t)x0 * bpp / 8;
                        size_t n = (size_t)rs;
                        if (off + n > line)
                            n = line - off;
                        memcpy(tile + (size_t)r * (size_t)rs, row + off, n);
                    }
                    if (TIFFWriteTile(t, tile, (uint32_t)x0, (uint32_t)y0, 0,
                                      (uint16_t)k) < 0)
                        return -1;
                }
        free(tile);
        free(row);
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP,
                     (uint32_t)(v->rows_per_strip ? v->rows_per_strip : 8));
        size_t line = (size_t)TIFFScanlineSize(t);
        uint8_t *row = calloc(1, line + 8);
        for (int k = 0; k < nplanes; k++)
            for (int y = 0; y < h; y++) {
                pack_row(v, y, w, h, p, nplanes > 1 ? k : -1, row, line);
                if (TIFFWriteScanline(t, row, (uint32_t)y, (uint16_t)k) < 0)
                    return -1;
            }
        free(row);
    }
    return TIFFWriteDirectory(t) ? 0 : -1;
}

/* Visible position of stored (x, y) under orientation O (TIFF 6.0). */
static void turn(int o, int x, int y, int w, int h, int *vx, int *vy)
{
    switch (o) {
    case 2:
        *vx = w - 1 - x, *vy = y;
        break;
    case 3:
        *vx = w - 1 - x, *vy = h - 1 - y;
        break;
    case 4:
        *vx = x, *vy = h - 1 - y;
        break;
    case 5:
        *vx = y, *vy = x;
        break;
    case 6:
        *vx = h - 1 - y, *vy = x;
        break;
    case 7:
        *vx = h - 1 - y, *vy = w - 1 - x;
        break;
    case 8:
        *vx = y, *vy = w - 1 - x;
        break;
    default:
        *vx = x, *vy = y;
        break;
    }
}

static int write_ppm(const char *dir, const variant *v, int p)
{
    int w = page_w(v, p), h = page_h(v, p), o = v->orientation;
    int vw = o >= 5 ? h : w, vh = o >= 5 ? w : h;
    uint8_t *img = malloc((size_t)vw * vh * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int vx, vy;
            turn(o, x, y, w, h, &vx, &vy);
            expected(v, x, y, w, h, p, img + ((size_t)vy * vw + vx) * 3);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.p%d.ppm", dir, v->name, p + 1);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(img);
        return -1;
    }
    fprintf(f, "P6\n%d %d\n255\n", vw, vh);
    fwrite(img, 3, (size_t)vw * vh, f);
    free(img);
    return fclose(f);
}

#define LOSSLESS 0, 0.0
static const variant variants[] = {
    { "bilevel-miniswhite",
      "1-bit min-is-white, uncompressed",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_NONE,
      0,
      0,
      5,
      0,
      0,
      0,
      77,
      41,
      300,
      300,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "bilevel-minisblack-packbits",
      "1-bit min-is-black, PackBits",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISBLACK,
      COMPRESSION_PACKBITS,
      0,
      0,
      16,
      0,
      0,
      0,
      83,
      29,
      200,
      200,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "fax-g3-1d",
      "CCITT Group 3 1-D (Modified Huffman with EOLs)",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_CCITTFAX3,
      0,
      0,
      64,
      0,
      0,
      0,
      1728,
      96,
      204,
      196,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "fax-g3-2d",
      "CCITT Group 3 2-D",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_CCITTFAX3,
      GROUP3OPT_2DENCODING,
      0,
      40,
      0,
      0,
      0,
      1728,
      80,
      204,
      196,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "fax-g3-204x98",
      "CCITT G3 fax at standard resolution (non-square)",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_CCITTFAX3,
      0,
      0,
      50,
      0,
      0,
      0,
      1728,
      110,
      204,
      98,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "fax-g4",
      "CCITT Group 4, 3 pages",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_CCITTFAX4,
      0,
      0,
      0,
      0,
      0,
      0,
      640,
      90,
      300,
      300,
      RESUNIT_INCH,
      3,
      0,
      0,
      LOSSLESS },
    { "fax-g4-lsb",
      "CCITT Group 4, fill order LSB first",
      BILEVEL,
      1,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_CCITTFAX4,
      0,
      0,
      0,
      0,
      0,
      0,
      300,
      60,
      300,
      300,
      RESUNIT_INCH,
      1,
      0,
      FILLORDER_LSB2MSB,
      LOSSLESS },
    { "grey8-lzw",
      "8-bit grey, LZW with predictor",
      GREY,
      8,
      PHOTOMETRIC_MINISBLACK,
      COMPRESSION_LZW,
      0,
      0,
      9,
      0,
      0,
      0,
      71,
      45,
      150,
      150,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "grey8-miniswhite",
      "8-bit grey min-is-white",
      GREY,
      8,
      PHOTOMETRIC_MINISWHITE,
      COMPRESSION_NONE,
      0,
      0,
      9,
      0,
      0,
      0,
      33,
      21,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "grey16-deflate",
      "16-bit grey, Deflate (high byte kept)",
      GREY,
      16,
      PHOTOMETRIC_MINISBLACK,
      COMPRESSION_ADOBE_DEFLATE,
      0,
      0,
      11,
      0,
      0,
      0,
      67,
      39,
      118.11f,
      118.11f,
      RESUNIT_CENTIMETER,
      1,
      0,
      0,
      LOSSLESS },
    { "grey4",
      "4-bit grey",
      GREY,
      4,
      PHOTOMETRIC_MINISBLACK,
      COMPRESSION_NONE,
      0,
      0,
      7,
      0,
      0,
      0,
      45,
      23,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "grey2-packbits",
      "2-bit grey, PackBits",
      GREY,
      2,
      PHOTOMETRIC_MINISBLACK,
      COMPRESSION_PACKBITS,
      0,
      0,
      7,
      0,
      0,
      0,
      45,
      23,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "palette8-lzw",
      "8-bit palette, LZW",
      PALETTE,
      8,
      0,
      COMPRESSION_LZW,
      0,
      0,
      10,
      0,
      0,
      0,
      59,
      31,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "palette4", "4-bit palette",
      PALETTE,    4,
      0,          COMPRESSION_NONE,
      0,          0,
      10,         0,
      0,          0,
      59,         31,
      0,          0,
      0,          1,
      0,          0,
      LOSSLESS },
    { "rgb8-strips",
      "8-bit RGB, uncompressed, 7-row strips",
      RGB,
      8,
      0,
      COMPRESSION_NONE,
      0,
      0,
      7,
      0,
      0,
      0,
      63,
      44,
      72,
      72,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "rgb8-lzw-tiled",
      "8-bit RGB, LZW, 16x16 tiles over a ragged edge",
      RGB,
      8,
      0,
      COMPRESSION_LZW,
      0,
      16,
      0,
      0,
      0,
      0,
      75,
      53,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "rgb8-deflate-planar",
      "8-bit RGB, Deflate, separate planes",
      RGB,
      8,
      0,
      COMPRESSION_ADOBE_DEFLATE,
      0,
      0,
      6,
      PLANARCONFIG_SEPARATE,
      0,
      0,
      57,
      33,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "rgb8-planar-tiled",
      "8-bit RGB, separate planes in tiles",
      RGB,
      8,
      0,
      COMPRESSION_PACKBITS,
      0,
      32,
      0,
      PLANARCONFIG_SEPARATE,
      0,
      0,
      70,
      45,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "rgb16-lzw", "16-bit RGB, LZW (high byte kept)",
      RGB,         16,
      0,           COMPRESSION_LZW,
      0,           0,
      5,           0,
      0,           0,
      49,          27,
      0,           0,
      0,           1,
      0,           0,
      LOSSLESS },
    { "rgba-unassoc",
      "RGBA, unassociated alpha, composited on white",
      RGBA,
      8,
      0,
      COMPRESSION_ADOBE_DEFLATE,
      0,
      0,
      8,
      0,
      0,
      0,
      64,
      32,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "rgba-assoc-packbits",
      "RGBA, premultiplied alpha, PackBits",
      RGBA,
      8,
      0,
      COMPRESSION_PACKBITS,
      0,
      0,
      8,
      0,
      1,
      0,
      64,
      32,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "rgba16-assoc",
      "16-bit RGBA, premultiplied",
      RGBA,
      16,
      0,
      COMPRESSION_LZW,
      0,
      0,
      8,
      0,
      1,
      0,
      40,
      20,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "greya-planar",
      "grey + alpha, separate planes",
      GREYA,
      8,
      0,
      COMPRESSION_NONE,
      0,
      0,
      8,
      PLANARCONFIG_SEPARATE,
      0,
      0,
      48,
      24,
      0,
      0,
      0,
      1,
      0,
      0,
      LOSSLESS },
    { "cmyk8-lzw", "CMYK, LZW (Pillow's conversion)",
      CMYK,        8,
      0,           COMPRESSION_LZW,
      0,           0,
      8,           0,
      0,           0,
      61,          35,
      0,           0,
      0,           1,
      0,           0,
      LOSSLESS },
    { "ycbcr-jpeg",
      "YCbCr JPEG-in-TIFF, 2x2 subsampling, strips",
      YCBCR,
      8,
      0,
      COMPRESSION_JPEG,
      0,
      0,
      16,
      0,
      0,
      0,
      96,
      64,
      0,
      0,
      0,
      1,
      0,
      0,
      96,
      8.0 },
    { "ycbcr-jpeg-tiled",
      "YCbCr JPEG-in-TIFF in 32x32 tiles",
      YCBCR,
      8,
      0,
      COMPRESSION_JPEG,
      0,
      32,
      0,
      0,
      0,
      0,
      80,
      48,
      0,
      0,
      0,
      1,
      0,
      0,
      96,
      8.0 },
    { "rgb-jpeg", "RGB JPEG-in-TIFF (no YCbCr)",
      RGB,        8,
      0,          COMPRESSION_JPEG,
      0,          0,
      16,         0,
      0,          0,
      64,         48,
      0,          0,
      0,          1,
      0,          0,
      64,         3.0 },
    { "grey-jpeg",
      "greyscale JPEG-in-TIFF",
      GREY,
      8,
      PHOTOMETRIC_MINISBLACK,
      COMPRESSION_JPEG,
      0,
      0,
      16,
      0,
      0,
      0,
      64,
      48,
      0,
      0,
      0,
      1,
      0,
      0,
      48,
      3.0 },
    { "multipage-thumb",
      "3 pages of growing size and a thumbnail IFD",
      RGB,
      8,
      0,
      COMPRESSION_LZW,
      0,
      0,
      8,
      0,
      0,
      0,
      40,
      30,
      0,
      0,
      0,
      3,
      1,
      0,
      LOSSLESS },
    { "orient-2",
      "Orientation 2 (mirrored)",
      RGB,
      8,
      0,
      COMPRESSION_NONE,
      0,
      0,
      8,
      0,
      0,
      2,
      40,
      24,
      300,
      150,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "orient-3", "Orientation 3 (180 degrees)",
      RGB,        8,
      0,          COMPRESSION_NONE,
      0,          0,
      8,          0,
      0,          3,
      40,         24,
      0,          0,
      0,          1,
      0,          0,
      LOSSLESS },
    { "orient-4", "Orientation 4 (flipped)",
      RGB,        8,
      0,          COMPRESSION_NONE,
      0,          0,
      8,          0,
      0,          4,
      40,         24,
      0,          0,
      0,          1,
      0,          0,
      LOSSLESS },
    { "orient-5", "Orientation 5 (transposed)",
      RGB,        8,
      0,          COMPRESSION_NONE,
      0,          0,
      8,          0,
      0,          5,
      40,         24,
      0,          0,
      0,          1,
      0,          0,
      LOSSLESS },
    { "orient-6",
      "Orientation 6 (90 degrees clockwise), 300x150 dpi",
      RGB,
      8,
      0,
      COMPRESSION_NONE,
      0,
      0,
      8,
      0,
      0,
      6,
      40,
      24,
      300,
      150,
      RESUNIT_INCH,
      1,
      0,
      0,
      LOSSLESS },
    { "orient-7", "Orientation 7 (transverse)",
      RGB,        8,
      0,          COMPRESSION_NONE,
      0,          0,
      8,          0,
      0,          7,
      40,         24,
      0,          0,
      0,          1,
      0,          0,
      LOSSLESS },
    { "orient-8", "Orientation 8 (90 degrees counter-clockwise), tiled",
      RGB,        8,
      0,          COMPRESSION_NONE,
      0,          16,
      0,          0,
      0,          8,
      40,         24,
      0,          0,
      0,          1,
      0,          0,
      LOSSLESS },
};

static int gen(const char *dir, const variant *v, FILE *manifest)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.tif", dir, v->name);
    TIFF *t = TIFFOpen(path, "w");
    if (!t)
        return -1;
    for (int p = 0; p < v->pages; p++) {
        if (write_ifd(t, v, p, page_w(v, p), page_h(v, p), 0) != 0) {
            TIFFClose(t);
            return -1;
        }
        if (p == 0 && v->thumbnail &&
            write_ifd(t, v, 0, page_w(v, 0) / 4, page_h(v, 0) / 4, 1) != 0) {
            TIFFClose(t);
            return -1;
        }
    }
    TIFFClose(t);
    for (int p = 0; p < v->pages; p++)
        if (write_ppm(dir, v, p) != 0)
            return -1;
    double dx = v->xres, dy = v->yres;
    if (v->unit == RESUNIT_CENTIMETER)
        dx *= 2.54, dy *= 2.54;
    if (v->orientation >= 5) {
        double t2 = dx;
        dx = dy, dy = t2;
    }
    fprintf(manifest, "%s\t%d\t%d\t%.2f\t%.3f\t%.3f\t%s\n", v->name, v->pages,
            v->max_diff, v->mean_diff, dx, dy, v->what);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen-tiff OUTDIR\n");
        return 2;
    }
    if (mkdir(argv[1], 0777) != 0 && errno != EEXIST) {
        perror(argv[1]);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.tsv", argv[1]);
    FILE *m = fopen(path, "w");
    if (!m) {
        perror(path);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        if (gen(argv[1], &variants[i], m) != 0) {
            fprintf(stderr, "gen-tiff: %s: failed\n", variants[i].name);
            bad++;
        }
    if (fclose(m) != 0)
        bad++;
    return bad ? 1 : 0;
}

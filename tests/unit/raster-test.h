/* Test helpers for the rasterizer tests: read a binary PPM (from a file or
 * from an independent decoder run through popen), compare it with one of
 * our images, and run shell commands quietly. Header-only, tests only. */
#ifndef VD_RASTER_TEST_H
#define VD_RASTER_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vldoc/vldoc.h"

typedef struct rt_img {
    int w, h;
    uint8_t *px; /* w * h * 3, malloc'd */
} rt_img;

static inline int rt_tok(FILE *f)
{
    int c, v = 0, any = 0;
    while ((c = getc(f)) != EOF) {
        if (c == '#') {
            while ((c = getc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        if (c >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            any = 1;
        } else if (any) {
            return v;
        }
    }
    return any ? v : -1;
}

/* One P6 image (8- or 16-bit samples, the latter cut to their high byte)
 * from F; 0 on success. */
static inline int rt_read_ppm(FILE *f, rt_img *im)
{
    memset(im, 0, sizeof *im);
    if (getc(f) != 'P' || getc(f) != '6')
        return -1;
    int w = rt_tok(f), h = rt_tok(f), max = rt_tok(f);
    if (w <= 0 || h <= 0 || max <= 0 || max > 65535 ||
        (long long)w * h > 400000000LL)
        return -1;
    size_t n = (size_t)w * h * 3, bps = max > 255 ? 2 : 1;
    uint8_t *raw = malloc(n * bps);
    if (!raw || fread(raw, bps, n, f) != n) {
        free(raw);
        return -1;
    }
    if (bps == 2)
        for (size_t i = 0; i < n; i++)
            raw[i] = raw[2 * i];
    im->w = w;
    im->h = h;
    im->px = raw;
    return 0;
}

static inline int rt_load_ppm(const char *path, rt_img *im)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int r = rt_read_ppm(f, im);
    fclose(f);
    return r;
}

/* Run CMD and read the PPM it writes on stdout. */
static inline int rt_ppm_from(const char *cmd, rt_img *im)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int r = rt_read_ppm(f, im);
    while (r == 0 && getc(f) != EOF) /* let the writer finish */
        ;
    return pclose(f) == 0 ? r : -1;
}

static inline void rt_free(rt_img *im)
{
    free(im->px);
    im->px = NULL;
}

typedef struct rt_diff {
    long over;   /* samples differing by more than the tolerance */
    int max;     /* largest difference */
    double mean; /* mean absolute difference per sample */
} rt_diff;

/* Compare our IMG with REF; sizes must match (else over = -1). */
static inline rt_diff rt_compare(const vd_image *img, const rt_img *ref,
                                 int tol)
{
    rt_diff d = { 0, 0, 0 };
    if (vd_image_width(img) != ref->w || vd_image_height(img) != ref->h) {
        d.over = -1;
        return d;
    }
    double sum = 0;
    for (int y = 0; y < ref->h; y++) {
        const uint8_t *a =
            vd_image_cdata(img) + (size_t)y * vd_image_stride(img);
        const uint8_t *b = ref->px + (size_t)y * ref->w * 3;
        for (int i = 0; i < ref->w * 3; i++) {
            int v = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
            sum += v;
            if (v > d.max)
                d.max = v;
            if (v > tol)
                d.over++;
        }
    }
    d.mean = sum / ((double)ref->w * ref->h * 3);
    return d;
}

/* Is PROG on the PATH? */
static inline int rt_have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

#endif

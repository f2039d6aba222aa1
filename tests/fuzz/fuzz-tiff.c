/* libFuzzer target: the TIFF reader (lib/input-tiff.c) on arbitrary bytes,
 * through the public path a user's file takes: open (forced to TIFF, so
 * mutations that break the magic still reach libtiff), page info, the
 * decode, and a small model image. Whatever happens must end in VD_OK or
 * a message naming the file, never a crash, hang or leak. The bytes live
 * in a memfd, which libtiff reads like any file. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vd-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vd_opts o;
    vd_opts_init(&o);
    o.threads = 1;
    o.limits.max_page_pixels = 1 << 22; /* keep each run quick */
    o.limits.max_pages = 64;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx)
        return 0;
    long live = vd__alloc_live();
    int fd = memfd_create("fuzz-tiff", MFD_CLOEXEC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
        if (fd >= 0)
            close(fd);
        vd_ctx_free(ctx);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    vd_input_opts io;
    vd_input_opts_init(&io);
    io.format = VD_FORMAT_TIFF;
    vd_input *in = NULL;
    vd_status st = vd_input_open(ctx, path, &io, &in);
    if (st != VD_OK && !strstr(vd_ctx_errmsg(ctx), path))
        abort(); /* every refusal names the file */
    vd_render_opts ro;
    vd_render_opts_init(&ro);
    ro.min_pixels = 4 * 28 * 28;
    ro.max_pixels = 16 * 28 * 28;
    for (int p = 0; in && p < vd_input_page_count(in) && p < 4; p++) {
        vd_page_info pi;
        vd_image *img = NULL;
        vd_ctx_clear(ctx);
        if (vd_input_page_info(ctx, in, p, &pi) == VD_OK &&
            vd_input_render_model(ctx, in, p, &ro, &img, NULL) == VD_OK) {
            /* the model image is one smart resize leaves alone */
            int w = vd_image_width(img), h = vd_image_height(img), sw, sh;
            if (w % 28 || h % 28 ||
                vd_smart_resize(ctx, h, w, 28, ro.min_pixels, ro.max_pixels,
                                &sh, &sw) != VD_OK ||
                sw != w || sh != h)
                abort();
        } else if (!strstr(vd_ctx_errmsg(ctx), path)) {
            abort(); /* page errors name the file too */
        }
        vd_image_free(img);
    }
    vd_input_free(in);
    close(fd);
    if (vd__alloc_live() != live)
        abort(); /* nothing of ours outlives the input */
    vd_ctx_free(ctx);
    return 0;
}

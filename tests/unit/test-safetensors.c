/* Unit tests for lib/safetensors.c: the reference checkpoint and vectors
 * open and read back; hostile headers (lengths, offsets, overlaps, shapes,
 * dtypes) are refused with a message naming the file and tensor. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "safetensors.h"

/* A file image: 8-byte length, HEADER, then DATA_LEN zero bytes. */
static size_t make(unsigned char *buf, const char *header, size_t data_len)
{
    size_t n = strlen(header);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, 0, data_len);
    return 8 + n + data_len;
}

static vd_status try_mem(vd_ctx *ctx, const char *header, size_t data_len)
{
    static unsigned char buf[4096];
    size_t n = make(buf, header, data_len);
    vd__safetensors *st = NULL;
    vd_ctx_clear(ctx);
    vd_status s = vd__st_open_mem(ctx, "mem.safetensors", buf, n, &st);
    vd__st_close(st);
    return s;
}

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    char path[1024];

    snprintf(path, sizeof path,
             "%s/refs/qwen25vl/tiny/checkpoint/model.safetensors", shared);
    vd__safetensors *st = NULL;
    tap_ok(vd__st_open(ctx, path, &st) == VD_OK, "tiny checkpoint opens: %s",
           vd_ctx_errmsg(ctx));
    if (st) {
        const vd__st_tensor *e = vd__st_find(st, "model.embed_tokens.weight");
        tap_ok(e && e->dtype == VD_ST_BF16 && e->ndim == 2 &&
                   e->shape[0] == 151936 && e->shape[1] == 64,
               "embed_tokens is BF16 [151936, 64]");
        tap_ok(vd__st_find(st, "lm_head.weight") == NULL,
               "tied checkpoint has no lm_head");
        const char *fmt = vd__st_metadata(st, "format");
        tap_ok(fmt && strcmp(fmt, "pt") == 0, "metadata format = pt");
        tap_ok(vd__st_find(st, "visual.patch_embed.proj.weight") != NULL,
               "vision patch embedding present");
        vd__st_close(st);
    }

    snprintf(path, sizeof path, "%s/refs/qwen25vl/processor/img_a.safetensors",
             shared);
    tap_ok(vd__st_open(ctx, path, &st) == VD_OK, "processor vectors open");
    if (st) {
        const vd__st_tensor *pv = vd__st_find(st, "pixel_values");
        const vd__st_tensor *g = vd__st_find(st, "image_grid_thw");
        int64_t grid[3] = { 0 };
        tap_ok(pv && pv->dtype == VD_ST_F32 && pv->shape[0] == 308 &&
                   pv->shape[1] == 1176,
               "pixel_values F32 [308, 1176]");
        tap_ok(g && vd__st_to_i64(ctx, g, grid) == VD_OK && grid[0] == 1 &&
                   grid[1] == 14 && grid[2] == 22,
               "image_grid_thw = [1, 14, 22]");
        vd__st_close(st);
    }

    /* hostile headers */
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                   "\"data_offsets\":[0,8]}}",
                   8) == VD_OK,
           "minimal valid file");
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                   "\"data_offsets\":[0,8]}}",
                   4) == VD_ERR_FORMAT &&
               strstr(vd_ctx_errmsg(ctx), "truncated"),
           "offsets beyond the file: %s", vd_ctx_errmsg(ctx));
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],"
                   "\"data_offsets\":[0,8]}}",
                   8) == VD_ERR_FORMAT &&
               strstr(vd_ctx_errmsg(ctx), "'a'"),
           "shape/bytes mismatch names the tensor: %s", vd_ctx_errmsg(ctx));
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                   "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\","
                   "\"shape\":[2],\"data_offsets\":[4,12]}}",
                   12) == VD_ERR_FORMAT &&
               strstr(vd_ctx_errmsg(ctx), "overlap"),
           "overlapping tensors refused");
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],"
                   "\"data_offsets\":[0,2]}}",
                   2) == VD_ERR_FORMAT,
           "unknown dtype refused");
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":"
                   "[4294967296,4294967296,4294967296],"
                   "\"data_offsets\":[0,8]}}",
                   8) == VD_ERR_FORMAT,
           "shape overflow refused");
    tap_ok(try_mem(ctx,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],"
                   "\"data_offsets\":[0,8]}}",
                   8) == VD_ERR_FORMAT,
           "negative dimension refused");
    tap_ok(try_mem(ctx, "[1,2,3]", 0) == VD_ERR_FORMAT,
           "header that is not an object refused");
    tap_ok(try_mem(ctx, "{\"a\":{\"dtype\":\"F32\"", 0) == VD_ERR_FORMAT,
           "truncated JSON refused");
    tap_ok(try_mem(ctx, "{}     ", 0) == VD_OK, "space padding accepted");
    unsigned char big[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
    vd_ctx_clear(ctx);
    tap_ok(vd__st_open_mem(ctx, "big", big, sizeof big, &st) == VD_ERR_LIMIT &&
               strstr(vd_ctx_errmsg(ctx), "big: safetensors header"),
           "huge header length refused: %s", vd_ctx_errmsg(ctx));
    vd_ctx_clear(ctx);
    tap_ok(vd__st_open_mem(ctx, "tiny", big, 5, &st) == VD_ERR_FORMAT,
           "file shorter than the length field refused");

    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

/* libFuzzer target: the safetensors header parser (lib/safetensors.c) on
 * arbitrary bytes. Whatever it accepts must describe tensors inside the
 * input, of the stated byte length, findable by name, readable to the
 * last byte; whatever it refuses must leave a message and no leak. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vd_opts o;
    vd_opts_init(&o);
    o.threads = 1;
    o.limits.max_header_bytes = 1 << 20;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx)
        return 0;
    long live = vd__alloc_live();
    vd__safetensors *st = NULL;
    vd_status s = vd__st_open_mem(ctx, "fuzz.safetensors", data, size, &st);
    if (s == VD_OK) {
        for (int i = 0; i < vd__st_count(st); i++) {
            const vd__st_tensor *t = vd__st_at(st, i);
            const uint8_t *p = t->data;
            if (p < data || p + t->nbytes > data + size ||
                t->nbytes != (size_t)t->numel * vd__st_dtype_size(t->dtype) ||
                vd__st_find(st, t->name) != t)
                abort();
            unsigned sum = 0;
            for (size_t k = 0; k < t->nbytes; k++)
                sum += p[k];
            (void)sum;
            if (t->numel <= 4096) {
                float *f = malloc((size_t)t->numel * sizeof *f + 1);
                if (f) {
                    vd__st_to_f32(ctx, t, f);
                    free(f);
                }
            }
        }
        vd__st_metadata(st, "format");
        vd__st_close(st);
    } else if (!*vd_ctx_errmsg(ctx) && s != VD_ERR_NOMEM) {
        abort(); /* every refusal says why */
    }
    if (vd__alloc_live() != live)
        abort();
    vd_ctx_free(ctx);
    return 0;
}

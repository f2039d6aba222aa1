/* Core: the context (options, limits, log callback, last error), version
 * and feature strings. Holds no global mutable state. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vd-private.h"

void vd_opts_init(vd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 0;
    o->level = VD_LOG_WARN;
    o->limits.max_page_pixels = (uint64_t)1 << 28;
    o->limits.max_file_bytes = (uint64_t)64 << 30;
    o->limits.max_pages = 100000;
    o->limits.max_header_bytes = (uint64_t)100 << 20;
    o->limits.max_html_bytes = (uint64_t)64 << 20;
}

vd_ctx *vd_ctx_new_abi(const vd_opts *opts, int abi)
{
    if (abi != VD_ABI_VERSION)
        return NULL;
    vd_ctx *ctx = vd__calloc(NULL, 1, sizeof *ctx);
    if (!ctx)
        return NULL;
    if (opts)
        ctx->opts = *opts;
    else
        vd_opts_init(&ctx->opts);
    if (ctx->opts.threads <= 0)
        ctx->opts.threads = vd__ncpu();
    atomic_init(&ctx->cancel, 0);
    return ctx;
}

void vd_ctx_free(vd_ctx *ctx)
{
    if (!ctx)
        return;
    vd__log_flush(ctx);
    vd__pool_free(ctx->pool);
    vd__free(ctx);
}

const vd_opts *vd_ctx_opts(const vd_ctx *ctx)
{
    return &ctx->opts;
}

const char *vd_ctx_errmsg(const vd_ctx *ctx)
{
    return ctx->status == VD_OK ? "" : ctx->msg;
}

vd_status vd_ctx_status(const vd_ctx *ctx)
{
    return ctx->status;
}

void vd_ctx_clear(vd_ctx *ctx)
{
    vd__log_flush(ctx);
    ctx->status = VD_OK;
    ctx->msg[0] = '\0';
    ctx->last_warn[0] = '\0';
    ctx->warn_repeat = 0;
}

void vd_ctx_cancel(vd_ctx *ctx)
{
    atomic_store(&ctx->cancel, 1);
}

void vd_ctx_set_progress(vd_ctx *ctx, vd_progress_fn fn, void *user)
{
    ctx->progress = fn;
    ctx->progress_user = user;
}

vd__pool *vd__ctx_pool(vd_ctx *ctx)
{
    if (!ctx->pool && vd__pool_new(ctx, ctx->opts.threads, &ctx->pool))
        return NULL;
    return ctx->pool;
}

const char *vd_version(void)
{
    return VD_VERSION_STR;
}

const char *vd_features(void)
{
    static const char *const feats = "pdf tiff png jpeg qwen"
#ifdef HAVE_CURL
                                     " remote"
#endif
#ifdef HAVE_MHD
                                     " serve"
#endif
                                     " avx2 avx512 avx512bf16";
    return feats;
}

void vd_free(void *p)
{
    vd__free(p);
}

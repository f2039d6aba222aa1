/* Core: status strings and the first-failure-wins error message kept in
 * the ctx. Never prints. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vd-private.h"

static const char *const status_str[VD_STATUS_COUNT_] = {
    [VD_OK] = "success",
    [VD_ERR_NOMEM] = "out of memory",
    [VD_ERR_IO] = "input/output error",
    [VD_ERR_FORMAT] = "corrupt or unrecognised input",
    [VD_ERR_PASSWORD] = "password required or wrong",
    [VD_ERR_UNSUPPORTED] = "not supported",
    [VD_ERR_LIMIT] = "limit exceeded",
    [VD_ERR_RANGE] = "out of range",
    [VD_ERR_ARG] = "invalid argument",
    [VD_ERR_MODEL] = "model missing or invalid",
    [VD_ERR_REMOTE] = "remote server error",
    [VD_ERR_INTERNAL] = "internal error",
    [VD_ERR_TIMEOUT] = "time limit reached",
    [VD_ERR_CANCELLED] = "cancelled",
};

const char *vd_status_str(vd_status s)
{
    if ((unsigned)s >= VD_STATUS_COUNT_ || !status_str[s])
        return "unknown status";
    return status_str[s];
}

vd_status vd__vfail(vd_ctx *ctx, vd_status status, const char *fmt, va_list ap)
{
    if (!ctx || status == VD_OK || ctx->status != VD_OK)
        return status;
    ctx->status = status;
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    return status;
}

vd_status vd__fail(vd_ctx *ctx, vd_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd__vfail(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

vd_status vd__refail(vd_ctx *ctx, vd_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    char tmp[VD_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ctx->status = status;
    memcpy(ctx->msg, tmp, sizeof tmp);
    return status;
}

void vd__err_save(const vd_ctx *ctx, vd__errsave *s)
{
    s->status = ctx->status;
    memcpy(s->msg, ctx->msg, sizeof s->msg);
}

void vd__err_restore(vd_ctx *ctx, const vd__errsave *s)
{
    ctx->status = s->status;
    memcpy(ctx->msg, s->msg, sizeof s->msg);
}

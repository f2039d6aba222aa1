/* Core: warnings and notes to the caller's log callback, with identical
 * consecutive warnings collapsed into "(repeated N times)". */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vd-private.h"

static void emit(vd_ctx *ctx, vd_log_level level, const char *msg)
{
    if (ctx->opts.log)
        ctx->opts.log(ctx->opts.log_user, level, msg);
}

static void flush_repeats(vd_ctx *ctx)
{
    if (ctx->warn_repeat > 0) {
        char m[600];
        snprintf(m, sizeof m, "%s (repeated %d more times)", ctx->last_warn,
                 ctx->warn_repeat);
        emit(ctx, VD_LOG_WARN, m);
        ctx->warn_repeat = 0;
    }
}

void vd__vlog(vd_ctx *ctx, vd_log_level level, const char *fmt, va_list ap)
{
    if (!ctx || !ctx->opts.log || level > ctx->opts.level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (level == VD_LOG_WARN) {
        if (strncmp(msg, ctx->last_warn, sizeof ctx->last_warn - 1) == 0) {
            ctx->warn_repeat++;
            return;
        }
        flush_repeats(ctx);
        snprintf(ctx->last_warn, sizeof ctx->last_warn, "%.*s",
                 (int)sizeof ctx->last_warn - 1, msg);
    } else {
        flush_repeats(ctx);
    }
    emit(ctx, level, msg);
}

void vd__log(vd_ctx *ctx, vd_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd__vlog(ctx, level, fmt, ap);
    va_end(ap);
}

void vd__log_flush(vd_ctx *ctx)
{
    if (ctx)
        flush_repeats(ctx);
}

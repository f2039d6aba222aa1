/* vldoc core: status codes, the context that carries options, limits, the
 * log callback and the last error. Every call that can fail takes a vd_ctx
 * first, returns a vd_status and leaves a message in the ctx. */
#ifndef VLDOC_CORE_H
#define VLDOC_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "vldoc/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VD_PRINTF(f, a)
#endif

/* Codes are only ever appended; never renumbered or removed. */
typedef enum vd_status {
    VD_OK = 0,
    VD_ERR_NOMEM,       /* out of memory */
    VD_ERR_IO,          /* cannot read or write a file */
    VD_ERR_FORMAT,      /* input is corrupt or not what it claims */
    VD_ERR_PASSWORD,    /* encrypted: password missing or wrong */
    VD_ERR_UNSUPPORTED, /* valid input we do not handle, or not built in */
    VD_ERR_LIMIT,       /* a configured limit was hit (pixels, pages...) */
    VD_ERR_RANGE,       /* page or index out of range */
    VD_ERR_ARG,         /* caller bug: bad argument */
    VD_ERR_MODEL,       /* model missing, incomplete or inconsistent */
    VD_ERR_REMOTE,      /* remote server failed */
    VD_ERR_INTERNAL,    /* a bug in vldoc */
    VD_ERR_TIMEOUT,     /* a time limit was hit */
    VD_ERR_CANCELLED,   /* stopped on request */
    VD_STATUS_COUNT_    /* not a status; keep last */
} vd_status;

/* Short static description of a status ("out of memory"). Never NULL. */
const char *vd_status_str(vd_status s);

typedef enum vd_log_level {
    VD_LOG_ERROR = 0,
    VD_LOG_WARN = 1,
    VD_LOG_INFO = 2,
    VD_LOG_DEBUG = 3
} vd_log_level;

/* Called for warnings and progress notes. MSG has no trailing newline and
 * is valid only during the call. May be called from worker threads of the
 * ctx that logs, never concurrently for one ctx. */
typedef void (*vd_log_fn)(void *user, vd_log_level level, const char *msg);

/* Every size read from a file is checked against these before use. */
typedef struct vd_limits {
    uint64_t max_page_pixels;  /* raster ceiling per page, default 2^28 */
    uint64_t max_file_bytes;   /* inputs larger than this are refused */
    int max_pages;             /* pages per document, default 100000 */
    uint64_t max_header_bytes; /* safetensors/JSON headers, default 100 MB */
    uint64_t max_html_bytes;   /* QwenVL HTML per page, default 64 MB */
} vd_limits;

typedef struct vd_opts {
    int threads;        /* worker threads; 0 = all online cores */
    vd_log_level level; /* most verbose level passed to log */
    vd_log_fn log;      /* NULL: messages are dropped */
    void *log_user;     /* passed to log */
    vd_limits limits;   /* see vd_opts_init for defaults */
} vd_opts;

/* Fill O with defaults (all cores, warnings only, default limits). */
void vd_opts_init(vd_opts *o);

typedef struct vd_ctx vd_ctx;

/* Create a context. OPTS may be NULL for defaults; it is copied. Returns
 * NULL when out of memory or when the library was built for another
 * ABI. One ctx per thread. */
vd_ctx *vd_ctx_new_abi(const vd_opts *opts, int abi);
#define vd_ctx_new(opts) vd_ctx_new_abi((opts), VD_ABI_VERSION)
void vd_ctx_free(vd_ctx *ctx);

/* The options the ctx was made with (borrowed). */
const vd_opts *vd_ctx_opts(const vd_ctx *ctx);

/* Message of the first failure since the last vd_ctx_clear, as
 * "FILE[: page N]: what failed"; "" when none. Borrowed. */
const char *vd_ctx_errmsg(const vd_ctx *ctx);
/* Status of that failure; VD_OK when none. */
vd_status vd_ctx_status(const vd_ctx *ctx);
/* Forget the last error so the next failure sets a new message. */
void vd_ctx_clear(vd_ctx *ctx);

/* Ask long-running work (generation, batches) on CTX to stop soon with
 * VD_ERR_CANCELLED. Safe from a signal handler and from another thread. */
void vd_ctx_cancel(vd_ctx *ctx);

/* Called from inside long computations on CTX (each vision-encoder block,
 * each prefill layer, each generated token), where they also look for
 * vd_ctx_cancel, so a supervisor can tell slow work from a decoder that
 * hangs. Keep FN cheap (it may run thousands of times a second) and
 * thread-safe. NULL turns it off. */
typedef void (*vd_progress_fn)(void *user);
void vd_ctx_set_progress(vd_ctx *ctx, vd_progress_fn fn, void *user);

/* Run-time version string, e.g. "0.1.0". */
const char *vd_version(void);
/* Compiled-in features, space separated: "pdf tiff png jpeg qwen remote
 * serve avx2 avx512 avx512bf16". Run-time CPU support is marked with a
 * trailing '*' when the CPU lacks it. */
const char *vd_features(void);

/* Release memory returned by the library as plain char* (e.g. HTML). */
void vd_free(void *p);

#ifdef __cplusplus
}
#endif
#endif

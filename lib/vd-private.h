/* Declarations shared inside lib/ (and by tests linking libvd-core): the
 * ctx internals, error and warning helpers, counted allocation, arenas,
 * growable buffers, CPU features and the thread pool. Never installed. */
#ifndef VD_PRIVATE_H
#define VD_PRIVATE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vldoc/vldoc.h"

#define VD_ERRMSG_MAX 1024

struct vd_pool;

struct vd_ctx {
    vd_opts opts;
    vd_status status;        /* first failure since vd_ctx_clear */
    char msg[VD_ERRMSG_MAX]; /* its message */
    atomic_int cancel;       /* set by vd_ctx_cancel */
    char last_warn[512];     /* for collapsing repeated warnings */
    int warn_repeat;
    struct vd_pool *pool;    /* worker threads, made on first use */
    vd_progress_fn progress; /* vd_ctx_set_progress: told from where */
    void *progress_user;     /* long work looks for cancellation */
};

/* ---- errors and logging (core-error.c, core-log.c) ---- */

/* Record a failure (only if none is recorded yet) and return STATUS, so
 * callers can write `return vd__fail(ctx, VD_ERR_IO, "%s: ...", path);`.
 * CTX may be NULL (then it only returns STATUS). */
vd_status vd__fail(vd_ctx *ctx, vd_status status, const char *fmt, ...)
    VD_PRINTF(3, 4);
vd_status vd__vfail(vd_ctx *ctx, vd_status status, const char *fmt, va_list ap);
/* Like vd__fail but replaces an earlier message: for a wrapper that knows
 * better than the layer below (adds the file name, say). */
vd_status vd__refail(vd_ctx *ctx, vd_status status, const char *fmt, ...)
    VD_PRINTF(3, 4);

/* Save and restore the error state around an attempt that may fail and be
 * recovered from, so a later real failure keeps its own message. */
typedef struct vd__errsave {
    vd_status status;
    char msg[VD_ERRMSG_MAX];
} vd__errsave;
void vd__err_save(const vd_ctx *ctx, vd__errsave *s);
void vd__err_restore(vd_ctx *ctx, const vd__errsave *s);

void vd__log(vd_ctx *ctx, vd_log_level level, const char *fmt, ...)
    VD_PRINTF(3, 4);
void vd__vlog(vd_ctx *ctx, vd_log_level level, const char *fmt, va_list ap);
/* Emit a pending "(repeated N times)" line. */
void vd__log_flush(vd_ctx *ctx);
#define vd__warn(ctx, ...)  vd__log((ctx), VD_LOG_WARN, __VA_ARGS__)
#define vd__info(ctx, ...)  vd__log((ctx), VD_LOG_INFO, __VA_ARGS__)
#define vd__debug(ctx, ...) vd__log((ctx), VD_LOG_DEBUG, __VA_ARGS__)

/* Long loops call this between steps: it is also where they report
 * progress (vd_ctx_set_progress). */
static inline bool vd__cancelled(vd_ctx *ctx)
{
    if (!ctx)
        return false;
    if (ctx->progress)
        ctx->progress(ctx->progress_user);
    return atomic_load_explicit(&ctx->cancel, memory_order_relaxed);
}

/* ---- allocation (core-alloc.c) ---- */

/* All lib/ allocation goes through these. They count live blocks, set
 * VD_ERR_NOMEM on failure, and fail the Nth call when VLDOC_FAIL_ALLOC=N
 * (for the OOM sweep). CTX may be NULL (no message then). */
void *vd__malloc(vd_ctx *ctx, size_t n);
void *vd__calloc(vd_ctx *ctx, size_t n, size_t size);
void *vd__realloc(vd_ctx *ctx, void *p, size_t n);
/* 64-byte aligned, for tensors and activations. */
void *vd__aligned_alloc(vd_ctx *ctx, size_t n);
void vd__aligned_free(void *p);
char *vd__strdup(vd_ctx *ctx, const char *s);
char *vd__strndup(vd_ctx *ctx, const char *s, size_t n);
char *vd__asprintf(vd_ctx *ctx, const char *fmt, ...) VD_PRINTF(2, 3);
void vd__free(void *p);
#define VD_FREE(p)                                                             \
    do {                                                                       \
        vd__free(p);                                                           \
        (p) = NULL;                                                            \
    } while (0)

/* Blocks allocated and not freed (tests end with this == 0). */
long vd__alloc_live(void);
/* Fail the Nth allocation from now (0: off); returns the old setting. */
long vd__alloc_fail_at(long n);

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool vd__mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool vd__add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* ---- arenas (core-arena.c) ---- */

/* Bump allocator: things that live and die together. Allocations are
 * zeroed and 16-byte aligned; one vd__arena_free releases all of them. */
typedef struct vd__arena vd__arena;
vd__arena *vd__arena_new(vd_ctx *ctx, size_t chunk);
void vd__arena_free(vd__arena *a);
void *vd__arena_alloc(vd_ctx *ctx, vd__arena *a, size_t n);
char *vd__arena_strdup(vd_ctx *ctx, vd__arena *a, const char *s);
char *vd__arena_strndup(vd_ctx *ctx, vd__arena *a, const char *s, size_t n);
char *vd__arena_printf(vd_ctx *ctx, vd__arena *a, const char *fmt, ...)
    VD_PRINTF(3, 4);
#define vd__arena_new_obj(ctx, a, type)                                        \
    ((type *)vd__arena_alloc((ctx), (a), sizeof(type)))
/* Bytes handed out so far. */
size_t vd__arena_used(const vd__arena *a);

/* ---- growable byte buffers (core-buf.c) ---- */

/* A NUL-terminated byte string that grows up to MAX bytes (0: no ceiling
 * but memory). Errors are sticky in ERR; the data stays usable. */
typedef struct vd__buf {
    char *data; /* owned; NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    size_t max;
    vd_status err;
} vd__buf;

void vd__buf_init(vd__buf *b, size_t max);
void vd__buf_free(vd__buf *b);
void vd__buf_reset(vd__buf *b);
vd_status vd__buf_reserve(vd_ctx *ctx, vd__buf *b, size_t extra);
vd_status vd__buf_append(vd_ctx *ctx, vd__buf *b, const void *p, size_t n);
vd_status vd__buf_puts(vd_ctx *ctx, vd__buf *b, const char *s);
vd_status vd__buf_putc(vd_ctx *ctx, vd__buf *b, int c);
vd_status vd__buf_printf(vd_ctx *ctx, vd__buf *b, const char *fmt, ...)
    VD_PRINTF(3, 4);
vd_status vd__buf_vprintf(vd_ctx *ctx, vd__buf *b, const char *fmt, va_list ap);
/* Append S with & < > " escaped for HTML text and attributes. */
vd_status vd__buf_html_escape(vd_ctx *ctx, vd__buf *b, const char *s, size_t n);
/* Give the data away (caller frees with vd__free); B is reset. */
char *vd__buf_steal(vd__buf *b, size_t *len);

/* ---- files (core-file.c) ---- */

/* Read a whole file, NUL-terminated, refusing more than MAX bytes.
 * Errors: VD_ERR_IO, VD_ERR_LIMIT. */
vd_status vd__file_read(vd_ctx *ctx, const char *path, size_t max, char **out,
                        size_t *len);
/* Write DATA to PATH atomically (temp file in the same dir + rename). */
vd_status vd__file_write_atomic(vd_ctx *ctx, const char *path, const void *data,
                                size_t n);

/* ---- CPU features (core-cpu.c) ---- */

enum {
    VD_CPU_AVX2 = 1 << 0,
    VD_CPU_FMA = 1 << 1,
    VD_CPU_F16C = 1 << 2,
    VD_CPU_AVX512F = 1 << 3,
    VD_CPU_AVX512BW = 1 << 4,
    VD_CPU_AVX512VL = 1 << 5,
    VD_CPU_AVX512DQ = 1 << 6,
    VD_CPU_AVX512BF16 = 1 << 7,
    VD_CPU_AVX512VNNI = 1 << 8,
    VD_CPU_AVXVNNI = 1 << 9
};
/* What the CPU and OS support (XSAVE state checked). */
unsigned vd__cpu_features(void);

/* Instruction set levels for kernel dispatch, lowest first. */
typedef enum vd__isa {
    VD_ISA_REF = 0,       /* portable C, the reference */
    VD_ISA_AVX2 = 1,      /* AVX2 + FMA + F16C */
    VD_ISA_AVX512 = 2,    /* AVX-512 F/BW/VL/DQ */
    VD_ISA_AVX512BF16 = 3 /* plus BF16 and VNNI dot products */
} vd__isa;
/* Best level the CPU supports, lowered by VLDOC_ISA=ref|avx2|avx512|
 * avx512bf16 when set. */
vd__isa vd__isa_active(void);
const char *vd__isa_name(vd__isa isa);

/* ---- thread pool (core-pool.c) ---- */

/* Worker ITH of NTH runs FN(ARG, ith, nth); the caller is worker 0. */
typedef void (*vd__task_fn)(void *arg, int ith, int nth);
typedef struct vd_pool vd__pool;
vd_status vd__pool_new(vd_ctx *ctx, int nthreads, vd__pool **out);
void vd__pool_free(vd__pool *p);
int vd__pool_size(const vd__pool *p);
/* Run FN on every worker and wait for all. Not reentrant. */
void vd__pool_run(vd__pool *p, vd__task_fn fn, void *arg);
/* Scratch memory of worker ITH (0..n-1; n is a slot shared by all), 64-byte
 * aligned, VD_POOL_SCRATCH bytes, allocated with the pool; for the kernels,
 * so they never allocate. NULL for a NULL pool. */
#define VD_POOL_SCRATCH ((size_t)2 << 20)
void *vd__pool_scratch(vd__pool *p, int ith);
/* A buffer of at least N bytes shared by all workers, kept and grown by the
 * pool (64-byte aligned); for data a caller prepares before vd__pool_run.
 * Only the thread that runs the pool may call it. NULL when P is NULL or
 * memory is short. */
void *vd__pool_shared(vd__pool *p, size_t n);
/* The ctx's pool, made on first use with opts.threads workers. NULL only
 * when out of memory (then the error is set). */
vd__pool *vd__ctx_pool(vd_ctx *ctx);
/* Number of online cores (>= 1). */
int vd__ncpu(void);

/* Rows [*r0, *r1) of N for worker ITH of NTH. */
static inline void vd__split(int64_t n, int ith, int nth, int64_t *r0,
                             int64_t *r1)
{
    int64_t per = (n + nth - 1) / nth;
    int64_t a = per * ith, b = a + per;
    *r0 = a < n ? a : n;
    *r1 = b < n ? b : n;
}

/* ---- image encoding (image.c) ---- */

/* Encode IMG as 8-bit RGB PNG / baseline JPEG (QUALITY 1..100) to O. */
vd_status vd__image_encode_png(vd_ctx *ctx, const vd_image *img, vd_out *o);
vd_status vd__image_encode_jpeg(vd_ctx *ctx, const vd_image *img, int quality,
                                vd_out *o);

/* ---- page geometry (raster-map.c) ---- */

/* The raster size a page is rendered at and the model image size after
 * smart resize, for the page described by INFO under render options O:
 * scanned pages at their image's resolution, born-digital pages at the DPI
 * that fills o->max_pixels (or o->dpi). Every engine uses this, so the
 * text layer's boxes and the model's boxes share one pixel space. The
 * fields are those of the public vd_page_geom (input.h). Errors name no
 * file: VD_ERR_ARG (aspect ratio over 200), VD_ERR_FORMAT (empty page). */
typedef vd_page_geom vd__page_geom;
vd_status vd__page_geometry(vd_ctx *ctx, const vd_page_info *info,
                            const vd_render_opts *o, vd__page_geom *g);

/* ---- misc ---- */

/* Monotonic seconds. */
double vd__now(void);
/* Is S valid UTF-8? */
bool vd__utf8_valid(const char *s, size_t n);
/* The UTF-8 sequence at P (AVAIL >= 1 bytes readable): its length when it
 * is a valid character; 0 when P holds a valid but incomplete prefix; else
 * minus the length of its maximal ill-formed subpart, which a decoder
 * replaces by one U+FFFD (Unicode's "maximal subpart" practice, as
 * Python's errors="replace" does). */
int vd__utf8_seq(const unsigned char *p, size_t avail);

#endif

/* Core: counted allocation. Every lib/ allocation goes through here so
 * tests can check for leaks (vd__alloc_live) and sweep out-of-memory
 * paths (VLDOC_FAIL_ALLOC=N fails the Nth allocation). */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vd-private.h"

static atomic_long live;
static atomic_long fail_at; /* 0: off; else countdown to the failing call */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void read_env(void)
{
    const char *e = getenv("VLDOC_FAIL_ALLOC");
    if (e && *e)
        atomic_store(&fail_at, strtol(e, NULL, 10));
}

static bool should_fail(void)
{
    pthread_once(&env_once, read_env);
    long n = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (n <= 0)
        return false;
    return atomic_fetch_sub(&fail_at, 1) == 1;
}

long vd__alloc_fail_at(long n)
{
    pthread_once(&env_once, read_env);
    return atomic_exchange(&fail_at, n);
}

long vd__alloc_live(void)
{
    return atomic_load(&live);
}

static void *nomem(vd_ctx *ctx, size_t n)
{
    vd__fail(ctx, VD_ERR_NOMEM, "out of memory (allocating %zu bytes)", n);
    return NULL;
}

void *vd__malloc(vd_ctx *ctx, size_t n)
{
    if (should_fail())
        return nomem(ctx, n);
    void *p = malloc(n ? n : 1);
    if (!p)
        return nomem(ctx, n);
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *vd__calloc(vd_ctx *ctx, size_t n, size_t size)
{
    size_t t;
    if (!vd__mul_ok(n, size, &t))
        return nomem(ctx, SIZE_MAX);
    if (should_fail())
        return nomem(ctx, t);
    void *p = calloc(t ? t : 1, 1);
    if (!p)
        return nomem(ctx, t);
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *vd__realloc(vd_ctx *ctx, void *p, size_t n)
{
    if (!p)
        return vd__malloc(ctx, n);
    if (should_fail())
        return nomem(ctx, n);
    void *q = realloc(p, n ? n : 1);
    if (!q)
        return nomem(ctx, n);
    return q;
}

void *vd__aligned_alloc(vd_ctx *ctx, size_t n)
{
    if (should_fail())
        return nomem(ctx, n);
    void *p = NULL;
    size_t r = (n + 63) & ~(size_t)63;
    if (r < n || posix_memalign(&p, 64, r ? r : 64) != 0)
        return nomem(ctx, n);
    atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void vd__aligned_free(void *p)
{
    vd__free(p);
}

void vd__free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    free(p);
}

char *vd__strndup(vd_ctx *ctx, const char *s, size_t n)
{
    char *d = vd__malloc(ctx, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *vd__strdup(vd_ctx *ctx, const char *s)
{
    return vd__strndup(ctx, s, strlen(s));
}

char *vd__asprintf(vd_ctx *ctx, const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : vd__malloc(ctx, (size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return s;
}

/* Core: a fixed thread pool for the engine's kernels. The caller is worker
 * 0; the others spin for a short time on a generation counter (yielding
 * the core after the first few hundred nanoseconds) and then sleep, so the
 * ~250 small dispatches per decoded token cost well under a microsecond
 * each and an idle pool costs no CPU. The mutex and condition
 * variables are touched only when a thread really sleeps. Each worker also
 * owns a scratch buffer for the kernels, allocated up front so the kernels
 * never allocate. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vd-private.h"

/* How long an idle thread spins before it sleeps. Long enough to bridge
 * the gaps between the kernels of one token, short enough that a pool
 * left idle (or waiting on OpenBLAS, or on the rest of the program) hands
 * its core back almost at once. VLDOC_POOL_SPIN_US overrides. */
#define SPIN_US_DEFAULT 100

struct vd_pool {
    int n;         /* workers including the caller */
    pthread_t *th; /* n - 1 threads */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t done_cv;
    _Alignas(64) atomic_uint gen;    /* bumped for each run */
    _Alignas(64) atomic_int pending; /* workers still running the task */
    atomic_int sleepers;             /* workers blocked on WAKE */
    atomic_int waiting;              /* the caller is blocked on DONE_CV */
    atomic_int stop;
    vd__task_fn fn;
    void *arg;
    long spin_ns;
    unsigned char *scratch; /* n + 1 slots of VD_POOL_SCRATCH bytes */
    void *shared;           /* vd__pool_shared, SHARED_N bytes */
    size_t shared_n;
};

typedef struct {
    vd__pool *p;
    int ith;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* One step of a wait loop: pause at first, then yield the core, so that
 * on a busy machine (more runnable threads than cores) the thread we wait
 * for gets to run. Returns 0 when SPIN_NS have passed since *T0. */
static int spin_step(unsigned i, long *t0, long spin_ns)
{
    if (i < 64) {
        cpu_relax();
        return 1;
    }
    if ((i & 15) == 0) { /* the clock is read rarely: ~20 ns a call */
        long t = now_ns();
        if (!*t0)
            *t0 = t;
        else if (t - *t0 > spin_ns)
            return 0;
    }
    sched_yield();
    return 1;
}

/* Spin until *A differs from OLD (returns 1) or the spin time is over. */
static int spin_uint(atomic_uint *a, unsigned old, long spin_ns)
{
    long t0 = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(a, memory_order_acquire) != old)
            return 1;
        if (!spin_step(i, &t0, spin_ns))
            return 0;
    }
}

static void *worker(void *va)
{
    worker_arg *wa = va;
    vd__pool *p = wa->p;
    int ith = wa->ith;
    vd__free(wa);
    unsigned seen = 0;
    for (;;) {
        if (!spin_uint(&p->gen, seen, p->spin_ns)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen) /* woken by stop */
            return NULL;
        seen = g;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int vd__ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0 && c < n)
            n = c;
    }
    return n < 1 ? 1 : (int)n;
}

vd_status vd__pool_new(vd_ctx *ctx, int n, vd__pool **out)
{
    *out = NULL;
    if (n < 1)
        n = 1;
    if (n > 256)
        n = 256;
    vd__pool *p = vd__calloc(ctx, 1, sizeof *p);
    if (!p)
        return VD_ERR_NOMEM;
    p->n = 1; /* threads started so far, for vd__pool_free on failure */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->waiting, 0);
    atomic_init(&p->stop, 0);
    p->spin_ns = SPIN_US_DEFAULT * 1000L;
    const char *e = getenv("VLDOC_POOL_SPIN_US");
    if (e && *e) {
        long us = strtol(e, NULL, 10);
        p->spin_ns = us < 0 ? 0 : us > 1000000 ? 1000000000L : us * 1000L;
    }
    p->scratch = vd__aligned_alloc(ctx, ((size_t)n + 1) * VD_POOL_SCRATCH);
    if (!p->scratch) {
        vd__pool_free(p);
        return VD_ERR_NOMEM;
    }
    if (n > 1) {
        p->th = vd__calloc(ctx, (size_t)n - 1, sizeof *p->th);
        if (!p->th) {
            vd__pool_free(p);
            return VD_ERR_NOMEM;
        }
    }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = vd__malloc(ctx, sizeof *wa);
        if (!wa || (wa->p = p, wa->ith = i,
                    pthread_create(&p->th[i - 1], NULL, worker, wa) != 0)) {
            vd__free(wa);
            vd__pool_free(p);
            return vd__fail(ctx, VD_ERR_NOMEM, "cannot start worker threads");
        }
        p->n = i + 1;
    }
    *out = p;
    return VD_OK;
}

void vd__pool_free(vd__pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    vd__aligned_free(p->scratch);
    vd__aligned_free(p->shared);
    vd__free(p->th);
    vd__free(p);
}

int vd__pool_size(const vd__pool *p)
{
    return p ? p->n : 1;
}

void *vd__pool_scratch(vd__pool *p, int ith)
{
    if (!p || ith < 0 || ith > p->n)
        return NULL;
    return p->scratch + (size_t)ith * VD_POOL_SCRATCH;
}

void *vd__pool_shared(vd__pool *p, size_t n)
{
    if (!p)
        return NULL;
    if (n > p->shared_n) {
        vd__aligned_free(p->shared);
        p->shared_n = 0;
        /* grow by a quarter more than asked: fewer reallocations */
        size_t want = n + n / 4;
        p->shared = vd__aligned_alloc(NULL, want);
        if (!p->shared)
            return NULL;
        p->shared_n = want;
    }
    return p->shared;
}

void vd__pool_run(vd__pool *p, vd__task_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: ordered before the load */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    long t0 = 0;
    for (unsigned i = 1;
         atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        if (!spin_step(i, &t0, p->spin_ns)) {
            pthread_mutex_lock(&p->mu);
            atomic_store(&p->waiting, 1);
            while (atomic_load(&p->pending) > 0)
                pthread_cond_wait(&p->done_cv, &p->mu);
            atomic_store(&p->waiting, 0);
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
}

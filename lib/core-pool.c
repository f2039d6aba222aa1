/* Core: a fixed thread pool for the engine's kernels. The caller is worker
 * 0; the others spin briefly on a generation counter and then sleep, so the
 * many small per-token dispatches of decoding stay cheap. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "vd-private.h"

#define SPIN_ITERS 20000

struct vd_pool {
    int n;                  /* workers including the caller */
    pthread_t *th;          /* n - 1 threads */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t done_cv;
    atomic_uint gen;        /* bumped for each run */
    atomic_int pending;     /* workers still running the current task */
    int stop;
    vd__task_fn fn;
    void *arg;
};

typedef struct {
    vd__pool *p;
    int ith;
} worker_arg;

static void *worker(void *va)
{
    worker_arg *wa = va;
    vd__pool *p = wa->p;
    int ith = wa->ith;
    vd__free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) ==
                   seen &&
               spins < SPIN_ITERS) {
            spins++;
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop && g == seen)
                return NULL;
        }
        seen = g;
        if (p->stop && !p->fn)
            return NULL;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1,
                                      memory_order_acq_rel) == 1) {
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
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    if (n > 1) {
        p->th = vd__calloc(ctx, (size_t)n - 1, sizeof *p->th);
        if (!p->th) {
            p->n = 1;
            vd__pool_free(p);
            return VD_ERR_NOMEM;
        }
    }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = vd__malloc(ctx, sizeof *wa);
        if (!wa || (wa->p = p, wa->ith = i,
                    pthread_create(&p->th[i - 1], NULL, worker, wa) != 0)) {
            vd__free(wa);
            p->n = i;
            vd__pool_free(p);
            return vd__fail(ctx, VD_ERR_NOMEM, "cannot start worker threads");
        }
    }
    *out = p;
    return VD_OK;
}

void vd__pool_free(vd__pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    p->fn = NULL;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    vd__free(p->th);
    vd__free(p);
}

int vd__pool_size(const vd__pool *p)
{
    return p ? p->n : 1;
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
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 &&
           spins < SPIN_ITERS) {
        spins++;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

/* bench-kern: the kernels at the real Qwen2.5-VL-3B shapes, next to what
 * the machine can do. Measures the machine's peaks first (fp32 FMA, bf16
 * and int8 dot products, memory read bandwidth with 1 and N threads, pool
 * dispatch cost), then times each kernel (medians) and prints GFLOP/s or
 * GB/s and the fraction of the measured peak, with OpenBLAS sgemm on fp32
 * weights side by side. Usage: bench-kern [-t THREADS] [-r REPS] [-q]
 * [-s SECTIONS], SECTIONS a comma list of decode, prefill, vision,
 * attention (default: all; "none" for the machine's peaks only). */
#include "config.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kern.h"
#include "bench-loops.h"

static int nthreads, reps = 5, quick;
static const char *sections = "decode,prefill,vision,attention";

static int want(const char *name)
{
    return strstr(sections, name) != NULL;
}
static vd__pool *pool;
static double peak_fma, peak_bf16, peak_int8;
/* The read loop's buffer, kept for the reads around each decode format:
 * the VM's bandwidth moves within a minute (40 to 80 GB/s for two
 * threads), so a share against the figure taken at the start is not one. */
static float *bw_buf;
static size_t bw_n;
static double bw_ref; /* the read bandwidth the decode rows are shares of */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- peaks: loops of independent multiply-adds in registers ---- */

typedef struct peak_arg {
    int kind; /* 0 fma512, 1 fma256, 2 bf16, 3 int8 */
    long iters;
    double sink;
} peak_arg;

static void peak_run(void *arg, int ith, int nth)
{
    peak_arg *p = arg;
    double r = p->kind == 0   ? bench_fma512(p->iters)
               : p->kind == 1 ? bench_fma256(p->iters)
               : p->kind == 2 ? bench_bf16(p->iters)
                              : bench_int8(p->iters);
    if (ith == 0)
        p->sink = r;
    (void)nth;
}

/* Operations per second of one loop kind on NTH threads (median). */
static double peak(int kind, vd__pool *p)
{
    long iters = quick ? 2000000 : 10000000;
    double per = kind == 0   ? BENCH_CHAINS * 32.0
                 : kind == 1 ? BENCH_CHAINS * 16.0
                 : kind == 2 ? BENCH_CHAINS * 64.0
                             : BENCH_CHAINS * 128.0;
    double t[5];
    int n = quick ? 3 : 5;
    peak_arg a = { kind, iters, 0 };
    vd__pool_run(p, peak_run, &a); /* warm up, clocks up */
    for (int i = 0; i < n; i++) {
        double t0 = vd__now();
        vd__pool_run(p, peak_run, &a);
        t[i] = vd__now() - t0;
    }
    return per * (double)iters * vd__pool_size(p) / median(t, n);
}

/* ---- memory bandwidth: read a buffer far larger than the caches ---- */

typedef struct bw_arg {
    const float *buf;
    size_t n;
    double sink;
} bw_arg;

static void bw_run(void *arg, int ith, int nth)
{
    bw_arg *b = arg;
    int64_t c0, c1;
    vd__split((int64_t)(b->n / 4096), ith, nth, &c0, &c1);
    const float *p = b->buf + (size_t)c0 * 4096;
    size_t n = (size_t)(c1 - c0) * 4096;
    double s = vd__isa_active() >= VD_ISA_AVX512 ? bench_sum512(p, n)
                                                 : bench_sum256(p, n);
    if (ith == 0)
        b->sink = s;
}

/* Read bandwidth over N floats of BUF, PASSES reads per timing (a buffer
 * that fits the caches is read in microseconds). */
static double bandwidth(vd__pool *p, float *buf, size_t n, int passes)
{
    bw_arg b = { buf, n, 0 };
    double t[5];
    int k = quick ? 3 : 5;
    vd__pool_run(p, bw_run, &b);
    for (int i = 0; i < k; i++) {
        double t0 = vd__now();
        for (int j = 0; j < passes; j++)
            vd__pool_run(p, bw_run, &b);
        t[i] = (vd__now() - t0) / passes;
    }
    return (double)n * 4 / median(t, k);
}

/* Other processes' load, so a reader can tell a quiet run from a busy
 * one: figures taken on a busy machine are not the kernels' own. */
static void print_load(const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l1 = 0;
    if (f && fscanf(f, "%lf", &l1) == 1)
        printf("# load average %s: %.2f on %d cores%s\n", when, l1, vd__ncpu(),
               l1 > 0.5 ? " (busy: figures are not the kernels' own)" : "");
    if (f)
        fclose(f);
    printf("\n");
}

static void empty_task(void *arg, int ith, int nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

/* ---- weights: one large arena, matrices carved at moving offsets so a
 * decode measurement streams from memory, not from the caches ---- */

static unsigned char *arena;
static size_t arena_n, arena_off;

static void fill_random(void *p, size_t n, uint64_t seed)
{
    uint64_t *q = p;
    for (size_t i = 0; i < n / 8; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* bf16 / f16 / int8 values of moderate size: clear exponents */
        q[i] = seed & 0x3F7F3F7F3F7F3F7Full;
    }
}

/* A weight matrix of DT in the arena; each call takes the next slot. */
static vd__mat arena_mat(vd__dtype dt, int64_t rows, int64_t cols)
{
    size_t nd = vd__mat_data_bytes(dt, rows, cols);
    size_t ns = vd__mat_scale_bytes(dt, rows, cols);
    size_t need = ((nd + 4095) & ~(size_t)4095) + ((ns + 4095) & ~(size_t)4095);
    if (arena_off + need > arena_n)
        arena_off = 0;
    vd__mat m = { dt, rows, cols, arena + arena_off, NULL, NULL };
    arena_off += (nd + 4095) & ~(size_t)4095;
    if (ns) {
        uint16_t *s = (uint16_t *)(arena + arena_off);
        for (size_t i = 0; i < ns / 2; i++)
            s[i] = 0x1C00; /* fp16 2^-8 */
        m.scales = s;
        arena_off += (ns + 4095) & ~(size_t)4095;
    }
    return m;
}

static const char *dtn(vd__dtype dt)
{
    static const char *n[] = { "f32", "bf16", "f16", "q8", "q4" };
    return n[dt];
}

static const char *precn(vd_precision p)
{
    static const char *n[] = { "exact", "bf16", "int8" };
    return n[p];
}

static void row(const char *what, const char *shape, const char *fmt,
                double sec, double flop, double bytes, int bw_bound)
{
    double gf = flop / sec / 1e9, gb = bytes / sec / 1e9;
    double frac = bw_bound ? gb * 1e9 / bw_ref : 0;
    if (!bw_bound) { /* against the peak of the instructions used */
        double pk = strstr(fmt, "/int8") && peak_int8 > 0   ? peak_int8
                    : strstr(fmt, "/bf16") && peak_bf16 > 0 ? peak_bf16
                                                            : peak_fma;
        frac = pk > 0 ? gf * 1e9 / pk : 0;
    }
    printf("| %-22s | %-20s | %-16s | %9.3f | %8.1f | %7.2f | %5.0f%% %s |\n",
           what, shape, fmt, sec * 1e3, gf, gb, 100 * frac,
           bw_bound ? "bw " : "pk ");
    fflush(stdout);
}

/* Median seconds of vd__matmul over fresh weight copies (decode) or the
 * same weights (compute-bound shapes; weights held in cache), CALLS back
 * to back per timing: short calls from cache vary more than the rest. */
static double time_matmul(vd__dtype dt, vd_precision prec, int64_t n,
                          int64_t rows, int64_t cols, int fresh, int calls,
                          const float *x, float *y)
{
    vd__mat w = arena_mat(dt, rows, cols);
    int k = reps;
    double t[64];
    vd__matmul(pool, &w, x, n, NULL, y, prec); /* warm */
    for (int i = 0; i < k; i++) {
        if (fresh)
            w = arena_mat(dt, rows, cols);
        double t0 = vd__now();
        for (int j = 0; j < calls; j++)
            vd__matmul(pool, &w, x, n, NULL, y, prec);
        t[i] = (vd__now() - t0) / calls;
    }
    return median(t, k);
}

static double mat_bytes(vd__dtype dt, int64_t rows, int64_t cols)
{
    return (double)(vd__mat_data_bytes(dt, rows, cols) +
                    vd__mat_scale_bytes(dt, rows, cols));
}

typedef struct shape {
    const char *name;
    int64_t rows, cols, per_layer;
} shape;

/* The text decoder's products per layer (3B): q, k, v, o, gate, up,
 * down; lm_head once per token. */
static const shape text_shapes[] = {
    { "q_proj / o_proj", 2048, 2048, 2 },
    { "k_proj / v_proj", 256, 2048, 2 },
    { "gate / up", 11008, 2048, 2 },
    { "down", 2048, 11008, 1 },
};

static void bench_decode(float *x, float *y)
{
    static const struct {
        vd__dtype dt;
        vd_precision p;
    } fm[] = { { VD_DT_BF16, VD_PREC_EXACT },
               { VD_DT_BF16, VD_PREC_BF16 },
               { VD_DT_Q8, VD_PREC_INT8 },
               { VD_DT_Q4, VD_PREC_INT8 },
               { VD_DT_Q4, VD_PREC_EXACT } };
    printf("\ndecode: one token (n = 1), weights streamed from memory; shares "
           "of the\nread bandwidth measured just before each format (its "
           "total: around it)\n\n");
    printf("| %-22s | %-20s | %-16s | %9s | %8s | %7s | %-9s |\n", "kernel",
           "shape", "weights/prec", "ms", "GFLOP/s", "GB/s", "of peak");
    printf("|---|---|---|---:|---:|---:|---:|\n");
    for (size_t f = 0; f < sizeof fm / sizeof *fm; f++) {
        double tok = 0, bytes = 0;
        char fmt[32];
        snprintf(fmt, sizeof fmt, "%s/%s", dtn(fm[f].dt), precn(fm[f].p));
        double before = bandwidth(pool, bw_buf, bw_n, 1);
        bw_ref = before;
        for (size_t s = 0; s < sizeof text_shapes / sizeof *text_shapes; s++) {
            const shape *sh = &text_shapes[s];
            double t = time_matmul(fm[f].dt, fm[f].p, 1, sh->rows, sh->cols, 1,
                                   1, x, y);
            double b = mat_bytes(fm[f].dt, sh->rows, sh->cols);
            char sz[32];
            snprintf(sz, sizeof sz, "1x%lldx%lld", (long long)sh->cols,
                     (long long)sh->rows);
            row(sh->name, sz, fmt, t, 2.0 * sh->rows * sh->cols, b, 1);
            tok += 36.0 * sh->per_layer * t;
            bytes += 36.0 * sh->per_layer * b;
        }
        /* lm_head (tied embedding, 151936 x 2048) streams like gate/up */
        double t = time_matmul(fm[f].dt, fm[f].p, 1, 11008, 2048, 1, 1, x, y);
        tok += t * 151936.0 / 11008.0;
        bytes += mat_bytes(fm[f].dt, 151936, 2048);
        double after = bandwidth(pool, bw_buf, bw_n, 1);
        bw_ref = (before + after) / 2;
        printf("| %-22s | %-20s | %-16s | %9.3f | %8s | %7.2f | %5.0f%% bw  "
               "|\n",
               "= all products, 1 tok", "36 layers + lm_head", fmt, tok * 1e3,
               "", bytes / tok / 1e9, 100 * bytes / tok / bw_ref);
        printf("|   -> %.1f tok/s from the products alone (%.2f GB per token; "
               "read %.1f / %.1f GB/s before / after: bound %.1f tok/s) |\n",
               1.0 / tok, bytes / 1e9, before / 1e9, after / 1e9,
               bw_ref / bytes);
        /* the same kernel over weights that stay in L3: its arithmetic's
         * own pace, which the stream from memory cannot beat */
        printf("|   -> q_proj over weights held in L3: %.1f GB/s |\n",
               mat_bytes(fm[f].dt, 2048, 2048) /
                   time_matmul(fm[f].dt, fm[f].p, 1, 2048, 2048, 0, 16, x, y) /
                   1e9);
    }
}

static void bench_gemm(const char *title, const shape *sh, int nsh, int64_t n,
                       float *x, float *y, int vision)
{
    static const struct {
        vd__dtype dt;
        vd_precision p;
    } fm[] = { { VD_DT_BF16, VD_PREC_EXACT },
               { VD_DT_BF16, VD_PREC_BF16 },
               { VD_DT_Q8, VD_PREC_INT8 },
               { VD_DT_Q4, VD_PREC_INT8 } };
    int nfm = vision ? 2 : 4;
    printf("\n%s (n = %lld tokens)\n\n", title, (long long)n);
    printf("| %-22s | %-20s | %-16s | %9s | %8s | %7s | %-9s |\n", "kernel",
           "shape", "weights/prec", "ms", "GFLOP/s", "GB/s", "of peak");
    printf("|---|---|---|---:|---:|---:|---:|\n");
    for (int s = 0; s < nsh; s++) {
        char sz[48];
        snprintf(sz, sizeof sz, "%lldx%lldx%lld", (long long)n,
                 (long long)sh[s].cols, (long long)sh[s].rows);
        double fl = 2.0 * (double)n * sh[s].rows * sh[s].cols;
        for (int f = 0; f < nfm; f++) {
            char fmt[32];
            snprintf(fmt, sizeof fmt, "%s/%s", dtn(fm[f].dt), precn(fm[f].p));
            double t = time_matmul(fm[f].dt, fm[f].p, n, sh[s].rows, sh[s].cols,
                                   0, 1, x, y);
            row(sh[s].name, sz, fmt, t, fl,
                mat_bytes(fm[f].dt, sh[s].rows, sh[s].cols), 0);
        }
        /* OpenBLAS on the same bf16 weights, converted a block at a time
         * (our split), and on weights converted to fp32 beforehand with
         * OpenBLAS's own threads */
        vd__mat w = arena_mat(VD_DT_BF16, sh[s].rows, sh[s].cols);
        double t[16];
        vd__matmul_blas(pool, &w, x, n, NULL, y);
        for (int i = 0; i < reps; i++) {
            double t0 = vd__now();
            vd__matmul_blas(pool, &w, x, n, NULL, y);
            t[i] = vd__now() - t0;
        }
        row(sh[s].name, sz, "bf16->f32 sgemm", median(t, reps), fl,
            mat_bytes(VD_DT_BF16, sh[s].rows, sh[s].cols), 0);
        float *wf =
            vd__aligned_alloc(NULL, (size_t)(sh[s].rows * sh[s].cols) * 4);
        if (wf) {
            for (int64_t r = 0; r < sh[s].rows; r++)
                vd__mat_row_f32(&w, r, wf + r * sh[s].cols);
            vd__blas_threads(nthreads);
            for (int i = 0; i <= reps; i++) {
                double t0 = vd__now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n,
                            (int)sh[s].rows, (int)sh[s].cols, 1.0f, x,
                            (int)sh[s].cols, wf, (int)sh[s].cols, 0.0f, y,
                            (int)sh[s].rows);
                if (i)
                    t[i - 1] = vd__now() - t0;
            }
            vd__blas_threads(1);
            row(sh[s].name, sz, "f32 sgemm (own thr)", median(t, reps), fl,
                mat_bytes(VD_DT_F32, sh[s].rows, sh[s].cols), 0);
            vd__aligned_free(wf);
        }
    }
}

typedef struct atb {
    const char *name;
    int64_t nq, nk;
    int nh, nkv, hd, causal, window, bf16kv;
    int layers; /* >1: a cache per layer, called in turn, so each call
                   reads its cache from memory as decoding does */
} atb;

static void bench_attention(void)
{
    static const atb cases[] = {
        { "vision full", 10856, 10856, 4, 4, 80, 0, 0, 0, 0 },
        { "vision windows (64)", 10856, 10856, 16, 16, 80, 0, 64, 0, 0 },
        { "prefill causal GQA", 2048, 2048, 16, 2, 128, 1, 0, 0, 0 },
        { "decode GQA f32 KV", 1, 4096, 16, 2, 128, 1, 0, 0, 0 },
        { "decode GQA bf16 KV", 1, 4096, 16, 2, 128, 1, 0, 1, 0 },
        { "decode, cold f32 KV", 1, 576, 16, 2, 128, 1, 0, 0, 36 },
        { "decode, cold f32 KV", 1, 2048, 16, 2, 128, 1, 0, 0, 36 },
        { "decode, cold bf16 KV", 1, 2048, 16, 2, 128, 1, 0, 1, 36 },
    };
    printf("\nattention (fp32 math; flash-style tiles)\n\n");
    printf("| %-22s | %-20s | %-16s | %9s | %8s | %7s | %-9s |\n", "kernel",
           "shape", "heads", "ms", "GFLOP/s", "GB/s", "of peak");
    printf("|---|---|---|---:|---:|---:|---:|\n");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const atb *k = &cases[c];
        if (quick && k->nq > 4096)
            continue;
        int64_t qs = (int64_t)k->nh * k->hd, kvs = (int64_t)k->nkv * k->hd;
        float *q = vd__aligned_alloc(NULL, (size_t)(k->nq * qs) * 4);
        float *o = vd__aligned_alloc(NULL, (size_t)(k->nq * qs) * 4);
        size_t es = k->bf16kv ? 2 : 4;
        int nl = k->layers > 1 ? k->layers : 1;
        size_t cache = (size_t)(k->nk * kvs) * es; /* one layer's K or V */
        unsigned char *kk = vd__aligned_alloc(NULL, cache * (size_t)nl);
        unsigned char *vv = vd__aligned_alloc(NULL, cache * (size_t)nl);
        int64_t *seg = NULL;
        int nseg = 0;
        if (k->window) {
            nseg = (int)((k->nq + k->window - 1) / k->window);
            seg = malloc(((size_t)nseg + 1) * sizeof *seg);
            for (int i = 0; i <= nseg; i++)
                seg[i] = (int64_t)i * k->window < k->nq ? (int64_t)i * k->window
                                                        : k->nq;
        }
        if (q && o && kk && vv) {
            fill_random(kk, cache, 7);
            fill_random(vv, cache, 8);
            for (int64_t i = 0; i < k->nq * qs; i++)
                q[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
            if (!k->bf16kv) /* the fill gave bf16 bit patterns: widen */
                for (int64_t i = k->nk * kvs - 1; i >= 0; i--) {
                    ((float *)kk)[i] = 0.001f * (float)(i % 1000);
                    ((float *)vv)[i] = 0.002f * (float)(i % 500);
                }
            for (int l = 1; l < nl; l++) {
                memcpy(kk + (size_t)l * cache, kk, cache);
                memcpy(vv + (size_t)l * cache, vv, cache);
            }
            vd__attn_args a = { 0 };
            a.q = q;
            a.q_stride = qs;
            a.nq = k->nq;
            a.k = kk;
            a.v = vv;
            a.kv_stride = kvs;
            a.nk = k->nk;
            a.o = o;
            a.o_stride = qs;
            a.n_head = k->nh;
            a.n_kv_head = k->nkv;
            a.head_dim = k->hd;
            a.scale = 1.0f / sqrtf((float)k->hd);
            a.causal = k->causal;
            a.q_pos0 = k->causal ? k->nk - k->nq : 0;
            a.kv_dt = k->bf16kv ? VD_DT_BF16 : VD_DT_F32;
            a.seg = seg;
            a.nseg = nseg;
            int r = k->nq > 4096 ? (reps < 3 ? reps : 3) : reps;
            double t[16];
            vd__attention(pool, &a);
            for (int i = 0; i < r; i++) {
                double t0 = vd__now();
                for (int l = 0; l < nl; l++) {
                    a.k = kk + (size_t)l * cache;
                    a.v = vv + (size_t)l * cache;
                    vd__attention(pool, &a);
                }
                t[i] = (vd__now() - t0) / nl;
            }
            double pairs = 0; /* query-key pairs per head */
            if (k->window)
                pairs = (double)k->nq * k->window;
            else if (k->causal)
                pairs = (double)k->nq * (double)(k->nk - k->nq) +
                        (double)k->nq * (k->nq + 1) / 2;
            else
                pairs = (double)k->nq * k->nk;
            double fl = 4.0 * pairs * k->hd * k->nh;
            double by = 2.0 * (double)k->nk * kvs * es;
            char sz[48], hs[32];
            snprintf(sz, sizeof sz, "%lldq x %lldk hd%d", (long long)k->nq,
                     (long long)k->nk, k->hd);
            snprintf(hs, sizeof hs, "%d/%d%s", k->nh, k->nkv,
                     k->causal ? " causal" : "");
            row(k->name, sz, hs, median(t, r), fl, by, k->nq == 1);
        }
        vd__aligned_free(q);
        vd__aligned_free(o);
        vd__aligned_free(kk);
        vd__aligned_free(vv);
        free(seg);
    }
}

int main(int argc, char **argv)
{
    int opt;
    nthreads = vd__ncpu();
    while ((opt = getopt(argc, argv, "t:r:qs:")) != -1) {
        if (opt == 't')
            nthreads = atoi(optarg) > 0 ? atoi(optarg) : 1;
        else if (opt == 'r')
            reps = atoi(optarg) < 1 ? 1 : atoi(optarg) > 15 ? 15 : atoi(optarg);
        else if (opt == 'q')
            quick = 1;
        else if (opt == 's')
            sections = optarg;
        else {
            fprintf(stderr, "usage: bench-kern [-t THREADS] [-r REPS] [-q] "
                            "[-s decode,prefill,vision,attention]\n");
            return 2;
        }
    }
    if (quick)
        reps = reps > 3 ? 3 : reps;
    vd_ctx *ctx = vd_ctx_new(NULL);
    vd__pool *one = NULL;
    if (vd__pool_new(ctx, nthreads, &pool) || vd__pool_new(ctx, 1, &one)) {
        fprintf(stderr, "bench-kern: %s\n", vd_ctx_errmsg(ctx));
        return 1;
    }
    vd__blas_threads(1);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    vd__isa isa = vd__isa_active();
    printf("# bench-kern: ISA %s, %d threads, OPENBLAS_CORETYPE=%s, medians "
           "of %d\n",
           vd__isa_name(isa), nthreads, ct ? ct : "(unset)", reps);
    print_load("at start");

    /* ---- machine peaks ---- */
    int k512 = isa >= VD_ISA_AVX512;
    printf("| machine | 1 thread | %d threads |\n|---|---:|---:|\n", nthreads);
    if (isa >= VD_ISA_AVX2) {
        int kind = k512 ? 0 : 1;
        double p1 = peak(kind, one);
        peak_fma = peak(kind, pool);
        printf("| fp32 FMA (%s) GFLOP/s | %.1f | %.1f |\n",
               k512 ? "zmm" : "ymm", p1 / 1e9, peak_fma / 1e9);
    }
    if (isa >= VD_ISA_AVX512BF16) {
        double p1 = peak(2, one);
        peak_bf16 = peak(2, pool);
        printf("| bf16 dot (vdpbf16ps) GFLOP/s | %.1f | %.1f |\n", p1 / 1e9,
               peak_bf16 / 1e9);
        p1 = peak(3, one);
        peak_int8 = peak(3, pool);
        printf("| int8 dot (vpdpbusd) GOP/s | %.1f | %.1f |\n", p1 / 1e9,
               peak_int8 / 1e9);
    }
    size_t nbuf = (size_t)(quick ? 256 : 512) << 20;
    float *buf = vd__aligned_alloc(ctx, nbuf);
    if (!buf)
        return 1;
    memset(buf, 0, nbuf);
    double bw1 = bandwidth(one, buf, nbuf / 4, 1);
    bw_ref = bandwidth(pool, buf, nbuf / 4, 1);
    bw_buf = buf;
    bw_n = nbuf / 4;
    printf("| memory read GB/s (%zu MiB) | %.1f | %.1f |\n", nbuf >> 20,
           bw1 / 1e9, bw_ref / 1e9);
    size_t l3 = (size_t)8 << 20; /* a core's reach into memory vs L3 */
    printf("| read from L3 GB/s (8 MiB, one core) | %.1f | - |\n",
           bandwidth(one, buf, l3 / 4, 32) / 1e9);
    double td[11];
    for (int i = 0; i < 11; i++) {
        double t0 = vd__now();
        for (int j = 0; j < 10000; j++)
            vd__pool_run(pool, empty_task, NULL);
        td[i] = (vd__now() - t0) / 10000;
    }
    printf("| pool dispatch, empty task (us) | - | %.2f |\n",
           median(td, 11) * 1e6);

    /* ---- kernels ---- */
    arena_n = (size_t)(quick ? 512 : 1024) << 20;
    arena = vd__aligned_alloc(ctx, arena_n);
    int64_t nmax = 10856, kmax = 11008;
    float *x = vd__aligned_alloc(ctx, (size_t)(nmax * 3420) * 4);
    float *y = vd__aligned_alloc(ctx, (size_t)(nmax * 3840) * 4);
    if (!arena || !x || !y) {
        fprintf(stderr, "bench-kern: out of memory\n");
        return 1;
    }
    fill_random(arena, arena_n, 3);
    for (int64_t i = 0; i < nmax * 3420; i++)
        x[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
    (void)kmax;

    if (want("decode"))
        bench_decode(x, y);
    if (want("prefill"))
        bench_gemm("prefill GEMM", text_shapes, 4, 512, x, y, 0);
    static const shape vis[] = { { "vision mlp gate/up", 3420, 1280, 2 },
                                 { "vision mlp down", 1280, 3420, 1 },
                                 { "vision qkv", 3840, 1280, 1 },
                                 { "vision proj", 1280, 1280, 1 } };
    if (want("vision"))
        bench_gemm("vision GEMM (1288x1652 page)", vis, quick ? 1 : 4,
                   quick ? 2048 : 10856, x, y, 1);
    if (want("attention"))
        bench_attention();

    print_load("\nat end");
    vd__aligned_free(buf);
    vd__aligned_free(arena);
    vd__aligned_free(x);
    vd__aligned_free(y);
    vd__pool_free(pool);
    vd__pool_free(one);
    vd_ctx_free(ctx);
    return 0;
}

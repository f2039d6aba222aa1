/* tools/bench-engine: what the parts share - the machine's measured peaks,
 * the work each measured step does (FLOPs, bytes), and the results the
 * per-configuration child processes hand back to the parent that prints
 * the tables. */
#ifndef VD_BENCH_ENGINE_H
#define VD_BENCH_ENGINE_H

#include "qwen.h"

#define B_MAX_SIZES   6
#define B_MAX_CONFIGS 6
#define B_MAX_PREFILL 4
#define B_MAX_VOCAB   262144

/* Measured once by the parent. */
typedef struct b_machine {
    double fma, bf16, int8; /* FLOP/s (OP/s for int8), all threads */
    double bw;              /* memory read bytes/s, all threads */
} b_machine;

/* One weights + precision combination of the text rows. */
typedef struct b_config {
    vd_weights weights;
    vd_precision prec;
    char name[24]; /* "q4 / int8" */
} b_config;

/* What children write back (a MAP_SHARED page): medians in seconds, 0
 * when not measured, negative when the step failed. */
typedef struct b_results {
    b_machine mc;
    /* vision encoder [size][precision exact, bf16] */
    double vis_s[B_MAX_SIZES][2];
    double vis_gflop[B_MAX_SIZES], vis_rss[B_MAX_SIZES][2];
    int vis_patches[B_MAX_SIZES], vis_tokens[B_MAX_SIZES];
    /* text rows per configuration */
    double load_s[B_MAX_CONFIGS];
    double quant_s[B_MAX_CONFIGS];   /* quantizing at load, when timed */
    double weight_gb[B_MAX_CONFIGS]; /* weights in use */
    double text_gb[B_MAX_CONFIGS];   /* read per decoded token */
    double pre_s[B_MAX_CONFIGS][B_MAX_PREFILL];
    double pre_gflop[B_MAX_PREFILL];
    double dec_s[B_MAX_CONFIGS];  /* for all decoded tokens */
    double dec_bw[B_MAX_CONFIGS]; /* read bandwidth around decoding */
    /* the A4 page: encode + prefill of its prompt */
    double page_enc_s[B_MAX_CONFIGS], page_pre_s[B_MAX_CONFIGS];
    double page_rss[B_MAX_CONFIGS];
    double page_dec_s[B_MAX_CONFIGS]; /* then page_decode tokens (run 1) */
    int page_tokens;
    double rss[B_MAX_CONFIGS]; /* whole child */
    /* logits after the first prompt: the exact bf16 configuration's, and
     * each configuration's error against them */
    int have_ref;
    double acc_max[B_MAX_CONFIGS], acc_rms[B_MAX_CONFIGS];
    int acc_argmax[B_MAX_CONFIGS], acc_top10[B_MAX_CONFIGS];
    float ref_logits[B_MAX_VOCAB];
} b_results;

typedef struct b_opts {
    const char *model;
    int runs;
    int sizes[B_MAX_SIZES][2];
    int nsizes;
    int prefill[B_MAX_PREFILL];
    int nprefill;
    int decode;
    int page_w, page_h; /* the A4 page image (0: none) */
    const char *page_file;
    int page_decode;       /* tokens generated after the page's prompt */
    const char *quant_dir; /* saved q8 / q4 folders, made once */
    int kv_bf16;
} b_opts;

/* bench-engine.c: N greedy tokens after the prompt whose last logits are
 * in LOGITS, the first at position POS (all three rope sections); E1
 * holds one token's embedding. */
vd_status b_decode(vd_ctx *ctx, const vd__qwen_model *m, vd__qwen_state *s,
                   int64_t pos, int n, float *logits, float *e1);

/* bench-vision.c */
double b_median(double *v, int n);
void b_peak_reset(void);
double b_rss_gb(void);
/* The vision tower's FLOPs on grid G (products and attention). */
double b_vision_flops(vd_ctx *ctx, const vd__qwen_model *m,
                      const vd__qwen_grid *g);
/* Vision rows: every size in O, exact and bf16 precision. */
void b_vision(vd_ctx *ctx, const vd__qwen_model *m, const b_opts *o,
              b_results *r);
/* The A4 page's first token for configuration C (into R's slot C). */
void b_page(vd_ctx *ctx, const vd__qwen_model *m, vd__qwen_state *s,
            const b_opts *o, const b_config *c, int ci, b_results *r);

#endif

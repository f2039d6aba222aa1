/* Qwen2.5-VL engine internals: the model (config + weights mapped from a
 * Hugging Face folder), the tokenizer, the chat template and position ids,
 * the text decoder with its KV cache, and generation. The vision tower
 * (qwen-vision.c) plugs in through vd__qwen_vision_w, which the loader
 * already validates, and the decoder's input embeddings + 3-D positions.
 * Spec: docs/qwen25vl-inference.md in the shared folder. */
#ifndef VD_QWEN_H
#define VD_QWEN_H

#include <stdbool.h>
#include <stdint.h>

#include "kern.h"
#include "vd-private.h"

/* The model `vldoc pull` fetches and the HF cache is searched for. */
#define VD_QWEN_DEFAULT_REPO "Qwen/Qwen2.5-VL-3B-Instruct"

/* ---- configuration (qwen-load.c) ---- */

#define VD_QWEN_MAX_EOS   8
#define VD_QWEN_MAX_DEPTH 256 /* vision blocks */

/* Text model: config.json, read from "text_config" when that object has
 * the field, else from the top level (spec 1.2). */
typedef struct vd__qwen_text_cfg {
    int hidden;       /* H */
    int intermediate; /* I, SwiGLU width */
    int n_layer;
    int n_head;    /* query heads */
    int n_kv_head; /* GQA: query head h reads kv head h / (n_head/n_kv) */
    int head_dim;  /* hidden / n_head */
    int vocab;     /* rows of embed_tokens / lm_head */
    float rms_eps;
    float rope_theta;
    int mrope[3];    /* frequency pairs for t, h, w; sum = head_dim / 2 */
    bool tied;       /* lm_head is embed_tokens */
    int64_t max_pos; /* max_position_embeddings, informational */
} vd__qwen_text_cfg;

/* Vision tower: config.json "vision_config". */
typedef struct vd__qwen_vision_cfg {
    int depth;  /* blocks */
    int hidden; /* Dv */
    int n_head;
    int head_dim;          /* hidden / n_head */
    int intermediate;      /* Iv, SwiGLU width */
    int patch;             /* P, pixels per patch side (14) */
    int temporal_patch;    /* T, frames per patch (2) */
    int merge;             /* M, patches per merged token side (2) */
    int in_channels;       /* C (3; HF ignores the hub's "in_chans") */
    int window_size;       /* window side in pixels (112) */
    int out_hidden;        /* merger output width = text hidden */
    int tokens_per_second; /* video temporal positions */
    float eps;             /* RMSNorm epsilon: 1e-6, fixed by HF */
    uint8_t fullatt[VD_QWEN_MAX_DEPTH]; /* 1: block attends the whole
                                           image (fullatt_block_indexes) */
} vd__qwen_vision_cfg;

/* generation_config.json; library defaults where a field is absent. */
typedef struct vd__qwen_gen_cfg {
    int eos[VD_QWEN_MAX_EOS]; /* stop tokens */
    int n_eos;
    int pad_id, bos_id; /* -1 when absent */
    bool do_sample;
    float temperature;        /* 1.0 */
    int top_k;                /* 50; 0 disables */
    float top_p;              /* 1.0 */
    float repetition_penalty; /* 1.0 */
    int max_new_tokens;       /* 0: not set */
} vd__qwen_gen_cfg;

/* preprocessor_config.json (image processor). */
typedef struct vd__qwen_pre_cfg {
    int64_t min_pixels, max_pixels; /* smart_resize area bounds */
    int patch, temporal_patch, merge;
    float mean[3], std[3];
    double rescale; /* 1/255 */
} vd__qwen_pre_cfg;

typedef struct vd__qwen_cfg {
    vd__qwen_text_cfg text;
    vd__qwen_vision_cfg vision;
    vd__qwen_gen_cfg gen;
    vd__qwen_pre_cfg pre;
    int image_token_id, video_token_id; /* <|image_pad|>, <|video_pad|> */
    int vision_start_id, vision_end_id;
    char dtype[16]; /* torch_dtype / dtype, informational */
} vd__qwen_cfg;

/* Parse DIR's config.json (required), generation_config.json and
 * preprocessor_config.json (optional: HF defaults). Every size is checked
 * for sanity before anything is allocated from it.
 * Errors: VD_ERR_IO, VD_ERR_FORMAT, VD_ERR_MODEL (missing or inconsistent
 * key, message names the file and key), VD_ERR_UNSUPPORTED. */
vd_status vd__qwen_cfg_load(vd_ctx *ctx, const char *dir, vd__qwen_cfg *cfg);

struct json_object;
/* Parse the JSON file PATH (at most limits.max_header_bytes) into *OUT
 * (the caller puts it with json_object_put). With OPTIONAL a missing file
 * gives VD_OK and *OUT NULL. Errors: VD_ERR_IO, VD_ERR_LIMIT,
 * VD_ERR_FORMAT (message names the file). */
vd_status vd__qwen_json_load(vd_ctx *ctx, const char *path, bool optional,
                             struct json_object **out);

/* ---- weights (qwen-load.c) ---- */

/* Every matrix is a view into the mmapped checkpoint, in its stored dtype
 * (bf16 stays bf16); 1-D tensors (norm weights, biases) are widened to
 * fp32 once at load (a few MB at most) because every op reads them so. */

typedef struct vd__qwen_layer {
    const float *in_norm;   /* (H) input_layernorm */
    vd__mat q, k, v;        /* (n_head*hd, H), (n_kv*hd, H), (n_kv*hd, H) */
    const float *q_b;       /* (n_head*hd) */
    const float *k_b, *v_b; /* (n_kv*hd) */
    vd__mat o;              /* (H, n_head*hd), no bias */
    const float *post_norm; /* (H) post_attention_layernorm */
    vd__mat gate, up;       /* (I, H), no bias */
    vd__mat down;           /* (H, I), no bias */
} vd__qwen_layer;

typedef struct vd__qwen_text_w {
    vd__mat embed;          /* (vocab, H) */
    vd__qwen_layer *layers; /* [n_layer] */
    const float *norm;      /* (H) final RMSNorm */
    vd__mat lm_head;        /* (vocab, H); the embed view when tied */
} vd__qwen_text_w;

typedef struct vd__qwen_vblock {
    const float *norm1, *norm2; /* (Dv) */
    vd__mat qkv;                /* (3*Dv, Dv): rows q | k | v */
    const float *qkv_b;         /* (3*Dv) */
    vd__mat proj;               /* (Dv, Dv) */
    const float *proj_b;        /* (Dv) */
    vd__mat gate, up;           /* (Iv, Dv) */
    const float *gate_b, *up_b; /* (Iv) */
    vd__mat down;               /* (Dv, Iv) */
    const float *down_b;        /* (Dv) */
} vd__qwen_vblock;

typedef struct vd__qwen_vision_w {
    vd__mat patch_embed;     /* (Dv, C*T*P*P): Conv3d weight, no bias */
    vd__qwen_vblock *blocks; /* [depth] */
    const float *ln_q;       /* (Dv) merger RMSNorm */
    vd__mat mlp0;            /* (Dv*M*M, Dv*M*M) */
    const float *mlp0_b;     /* (Dv*M*M) */
    vd__mat mlp2;            /* (out_hidden, Dv*M*M) */
    const float *mlp2_b;     /* (out_hidden) */
} vd__qwen_vision_w;

typedef struct vd__qwen_tok vd__qwen_tok;
struct vd__safetensors;

/* A loaded model. Immutable after vd__qwen_load: may be shared by
 * threads, each with its own vd__qwen_state and ctx. */
typedef struct vd__qwen_model {
    char *dir; /* the model folder */
    vd__qwen_cfg cfg;
    vd__qwen_text_w text;
    vd__qwen_vision_w vision;
    vd__qwen_tok *tok;     /* NULL with VD_QWEN_LOAD_NO_TOKENIZER */
    int64_t n_params;      /* elements of every tensor used */
    uint64_t weight_bytes; /* bytes of the weights in use (quantized
                              matrices at their quantized size) */
    char weights[8];       /* the text layers' format: "bf16", "f16",
                              "f32", "q8", "q4" */
    /* owned internals */
    struct vd__safetensors **shards;
    int n_shards;
    float *vecs; /* widened 1-D tensors */
} vd__qwen_model;

enum {
    VD_QWEN_LOAD_NO_TOKENIZER = 1 << 0, /* skip tokenizer.json */
    /* Quantize the text decoder's float matrices at load (vd__quantize):
     * the layers to Q8 or Q4, the lm_head (the tied embedding) to Q8 in
     * both cases, as it weighs most on the logits. The vision tower stays
     * as stored: it is compute-bound, not bandwidth-bound. Each quantized
     * matrix replaces its view and the mapped pages it came from are
     * released, so the two copies never live together. */
    VD_QWEN_LOAD_Q8 = 1 << 1,
    VD_QWEN_LOAD_Q4 = 1 << 2
};

/* A quantized matrix NAME in a safetensors file (`vldoc quantize`): NAME
 * holds the data as I8 [rows][blocks * 32] (Q8) or U8 [rows][pairs * 32]
 * (Q4), NAME + this suffix the F16 scales [rows][blocks]; layouts of
 * kern.h. */
#define VD_QWEN_SCALES_SUFFIX ".vd_scales"

/* One tensor of a checkpoint for a config: hub name, shape, and (when
 * listing for a model) where the loader binds it. */
typedef struct vd__qwen_tinfo {
    char name[112]; /* hub naming: visual.*, model.*, lm_head.weight */
    int ndim;
    int64_t shape[5];
    int64_t numel;
    bool optional;     /* lm_head.weight of a tied model */
    vd__mat *mat;      /* a matrix: rows = shape[0], cols = the rest */
    const float **vec; /* a 1-D tensor widened to fp32 */
} vd__qwen_tinfo;

/* Call FN for every tensor a checkpoint for CFG holds, in the order and
 * naming of the published files (vision, then text, then lm_head). With
 * M, each entry points into M's weight structs (which must be allocated).
 * Returns the number of tensors. */
int vd__qwen_inventory(const vd__qwen_cfg *cfg, vd__qwen_model *m,
                       void (*fn)(void *user, const vd__qwen_tinfo *ti),
                       void *user);
/* The hub name for a tensor named either way ("model.language_model.X" ->
 * "model.X", "model.visual.X" -> "visual.X"); false when it does not
 * fit in N bytes. */
bool vd__qwen_canon_name(const char *name, char *buf, size_t n);

/* Load the Hugging Face model folder DIR: configs, every safetensors file
 * (model.safetensors, or the shards model.safetensors.index.json names),
 * mapped read-only and validated: header, every tensor's dtype (BF16, F16,
 * F32) and shape against the config, nothing missing, nothing unexpected,
 * under either tensor naming (visual.* / model.* or model.visual.* /
 * model.language_model.*). Then tokenizer.json unless FLAGS says not.
 * On VD_OK the caller owns *out (vd__qwen_free).
 * Errors: VD_ERR_IO, VD_ERR_FORMAT, VD_ERR_MODEL, VD_ERR_LIMIT,
 * VD_ERR_UNSUPPORTED; each message names the file and tensor or key. */
vd_status vd__qwen_load(vd_ctx *ctx, const char *dir, unsigned flags,
                        vd__qwen_model **out);
void vd__qwen_free(vd__qwen_model *m);

/* Write M as a model folder DST (created if missing, not M's own): its
 * config and tokenizer files copied, and one model.safetensors with every
 * tensor in hub naming - quantized matrices as I8/U8 data plus F16 scales
 * (VD_QWEN_SCALES_SUFFIX), the rest as stored - that vd__qwen_load maps
 * without a quantization pass. Errors: VD_ERR_IO, VD_ERR_ARG, VD_ERR_NOMEM,
 * VD_ERR_CANCELLED. (qwen-quant.c) */
vd_status vd__qwen_save(vd_ctx *ctx, const vd__qwen_model *m, const char *dst);

/* The Hugging Face hub cache folder: $HF_HUB_CACHE, else
 * $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 * Caller frees (vd__free). NULL only when out of memory or no home. */
char *vd__hf_cache_dir(vd_ctx *ctx);

/* Find the model folder: ARG when it is a directory; else, when ARG looks
 * like "org/name", that repo's snapshot in the HF cache; with ARG NULL,
 * $VLDOC_MODEL, then the default repo's snapshot in the HF cache. A
 * snapshot is the one refs/main names, else the newest. Caller frees
 * *out. Errors: VD_ERR_MODEL with a message that says how to get one. */
vd_status vd__qwen_locate(vd_ctx *ctx, const char *arg, char **out);

/* ---- int vectors ---- */

typedef struct vd__ivec {
    int32_t *v; /* owned */
    int64_t n, cap;
} vd__ivec;
vd_status vd__ivec_push(vd_ctx *ctx, vd__ivec *a, int32_t x);
vd_status vd__ivec_reserve(vd_ctx *ctx, vd__ivec *a, int64_t extra);
void vd__ivec_free(vd__ivec *a);

/* ---- tokenizer (qwen-tok.c) ---- */

/* Byte-level BPE as in tokenizer.json: added tokens split out on the raw
 * text (leftmost-longest), NFC on the rest, the pre-tokenizer regex
 * (PCRE2, JIT), byte-to-unicode mapping, BPE by merge rank. Immutable
 * once loaded: encode may run on several threads at once. */
vd_status vd__qwen_tok_load(vd_ctx *ctx, const char *path, vd__qwen_tok **out);
void vd__qwen_tok_free(vd__qwen_tok *t);

/* Append the ids of TEXT[LEN] (UTF-8; invalid bytes are refused with
 * VD_ERR_ARG) to OUT. No BOS/EOS is added. */
vd_status vd__qwen_tok_encode(vd_ctx *ctx, const vd__qwen_tok *t,
                              const char *text, size_t len, vd__ivec *out);

/* One past the largest id the tokenizer knows. */
int vd__qwen_tok_size(const vd__qwen_tok *t);
/* Raw bytes of token ID (not NUL-terminated); NULL with *len 0 for ids
 * the tokenizer does not have (the padding rows of the embedding). */
const char *vd__qwen_tok_bytes(const vd__qwen_tok *t, int32_t id, size_t *len);
/* Is ID an added token marked special (dropped by skip_special)? */
bool vd__qwen_tok_is_special(const vd__qwen_tok *t, int32_t id);
/* Id of an added token by its text ("<|im_end|>"), or -1. */
int32_t vd__qwen_tok_added(const vd__qwen_tok *t, const char *text);

/* Decode IDS to UTF-8, appending to OUT; invalid byte sequences become
 * U+FFFD as Python's errors="replace" does. */
vd_status vd__qwen_tok_decode(vd_ctx *ctx, const vd__qwen_tok *t,
                              const int32_t *ids, int64_t n, bool skip_special,
                              vd__buf *out);

/* Streaming decoder: feed ids one by one; text is emitted only up to the
 * last complete UTF-8 character, so a character split across tokens is
 * never broken. */
typedef struct vd__qwen_detok {
    const vd__qwen_tok *tok;
    bool skip_special;
    unsigned char pend[8]; /* bytes of an incomplete character */
    int npend;
} vd__qwen_detok;
void vd__qwen_detok_init(vd__qwen_detok *d, const vd__qwen_tok *t,
                         bool skip_special);
/* Append to OUT what token ID completes (possibly nothing). */
vd_status vd__qwen_detok_push(vd_ctx *ctx, vd__qwen_detok *d, int32_t id,
                              vd__buf *out);
/* End of stream: the held-back bytes, each bad sequence as U+FFFD. */
vd_status vd__qwen_detok_flush(vd_ctx *ctx, vd__qwen_detok *d, vd__buf *out);

/* ---- chat template and positions (qwen-prompt.c) ---- */

typedef enum vd__qwen_part_kind {
    VD_QWEN_TEXT = 0,
    VD_QWEN_IMAGE = 1,
    VD_QWEN_VIDEO = 2
} vd__qwen_part_kind;

/* One content item of a message. For an image, N_PAD is the number of
 * <|image_pad|> tokens (t*gh*gw / M^2; 0 leaves the single placeholder
 * of the template, as HF's template alone does). */
typedef struct vd__qwen_part {
    vd__qwen_part_kind kind;
    const char *text; /* VD_QWEN_TEXT */
    int64_t n_pad;
} vd__qwen_part;

/* A message: ROLE ("system", "user", "assistant") and either TEXT (a
 * string content) or PARTS (a list content). */
typedef struct vd__qwen_msg {
    const char *role;
    const char *text;
    const vd__qwen_part *parts;
    int n_parts;
} vd__qwen_msg;

#define VD_QWEN_DEFAULT_SYSTEM "You are a helpful assistant."

/* Render MSGS with the Qwen2.5-VL chat template (documented in
 * qwen-prompt.c) into OUT; ADD_GEN appends the assistant turn opener. */
vd_status vd__qwen_chat_render(vd_ctx *ctx, const vd__qwen_msg *msgs, int n,
                               bool add_gen, vd__buf *out);

/* One image or video grid in patch units (image_grid_thw). */
typedef struct vd__qwen_grid {
    int t, h, w;
} vd__qwen_grid;

/* get_rope_index: 3-D M-RoPE positions POS[n][3] (t, h, w) for IDS, with
 * GRIDS giving, in order of appearance, the grid of each image/video
 * whose pad tokens appear in IDS; *DELTA = max position + 1 - n (the
 * rope_deltas that decoding adds). SECOND_PER_GRID (video only, may be
 * NULL: 1.0 each). Errors: VD_ERR_ARG when pads and grids disagree. */
vd_status vd__qwen_rope_index(vd_ctx *ctx, const vd__qwen_cfg *cfg,
                              const int32_t *ids, int64_t n,
                              const vd__qwen_grid *grids, int n_grids,
                              const double *second_per_grid, int32_t *pos,
                              int64_t *delta);

/* ---- text decoder (qwen-text.c) ---- */

/* A decoding session: the KV cache (rotated keys; fp32 or bf16), grown
 * as the sequence grows, and activation buffers. Not thread-safe; one per
 * sequence. */
typedef struct vd__qwen_state vd__qwen_state;

/* Observe intermediate values (tests): WHAT is "embed", "layer" (the
 * residual stream after layer LAYER) or "norm" (after the final norm);
 * X is [n][width] for the tokens just run. */
typedef void (*vd__qwen_probe_fn)(void *user, const char *what, int layer,
                                  const float *x, int64_t n, int64_t width);

/* What the model card allows one request: input and generated tokens
 * (the engine's session is sized for both; memory follows use). */
#define VD_QWEN_MAX_INPUT  129024
#define VD_QWEN_MAX_OUTPUT 8192

/* A session for M holding up to N_CTX tokens. The KV cache is allocated
 * as tokens arrive, not up front. Errors: VD_ERR_NOMEM, VD_ERR_LIMIT
 * (n_ctx beyond the engine's ceiling). */
vd_status vd__qwen_state_new(vd_ctx *ctx, const vd__qwen_model *m,
                             int64_t n_ctx, vd__qwen_state **out);
void vd__qwen_state_free(vd__qwen_state *s);
/* Forget the cached tokens (keeps the memory). */
void vd__qwen_state_reset(vd__qwen_state *s);
/* Forget the cached tokens and free the KV cache and activation buffers:
 * between pages, so the next page's vision encoder does not run with the
 * last prompt's cache still held (0.3 GB for a 3B page in f32). */
void vd__qwen_state_release(vd__qwen_state *s);
/* Let the session hold up to N_CTX tokens (keeps what is cached; memory
 * still follows use). */
vd_status vd__qwen_state_reserve(vd_ctx *ctx, vd__qwen_state *s, int64_t n_ctx);
/* KV cache element type, VD_DT_F32 (default) or VD_DT_BF16 (half the
 * memory and bandwidth; attention math stays fp32). Only while empty.
 * Errors: VD_ERR_ARG. */
vd_status vd__qwen_state_set_kv(vd_ctx *ctx, vd__qwen_state *s, vd__dtype dt);
/* Precision of the session's matrix products (default VD_PREC_EXACT). */
void vd__qwen_state_set_precision(vd__qwen_state *s, vd_precision prec);
/* Tokens in the cache; the most it may hold; bytes the cache has now. */
int64_t vd__qwen_state_len(const vd__qwen_state *s);
int64_t vd__qwen_state_cap(const vd__qwen_state *s);
size_t vd__qwen_state_kv_bytes(const vd__qwen_state *s);
const vd__qwen_model *vd__qwen_state_model(const vd__qwen_state *s);
void vd__qwen_state_set_probe(vd__qwen_state *s, vd__qwen_probe_fn fn,
                              void *user);
/* Tokens per prefill batch (default 1024; memory grows with it). */
void vd__qwen_state_set_batch(vd__qwen_state *s, int batch);

/* Y[n][w->rows] = X[n][w->cols] . W^T (+ BIAS) in precision PREC: the
 * kernels (vd__matmul) wherever the CPU level has a fast GEMM, OpenBLAS on
 * widened rows for long exact products on the plain reference level. */
vd_status vd__qwen_linear(vd_ctx *ctx, const vd__mat *w, const float *x,
                          int64_t n, const float *bias, float *y,
                          vd_precision prec);

/* The same for NW matrices with one input (q, k, v; gate, up): a
 * decoding step runs them as one product (vd__matmul_group). BIAS may be
 * NULL. */
vd_status vd__qwen_linear_group(vd_ctx *ctx, int nw, const vd__mat *const *w,
                                const float *x, int64_t n,
                                const float *const *bias, float *const *y,
                                vd_precision prec);

/* Token embeddings: OUT[n][H] = embed_tokens[IDS]. Errors: VD_ERR_ARG for
 * an id outside the vocabulary. */
vd_status vd__qwen_embed(vd_ctx *ctx, const vd__qwen_model *m,
                         const int32_t *ids, int64_t n, float *out);

/* Run the decoder on N input embeddings X[n][H] (token embeddings with
 * image embeddings scattered in) at positions POS[n][3] (t, h, w), after
 * what the cache holds, appending their keys and values. Prefill goes in
 * batches; one token is a decode step. HIDDEN (optional) gets the
 * final-normed states [n][H]; LOGITS (optional) the last token's logits
 * [vocab]. Errors: VD_ERR_LIMIT (cache full), VD_ERR_CANCELLED. */
vd_status vd__qwen_forward(vd_ctx *ctx, vd__qwen_state *s, const float *x,
                           const int32_t *pos, int64_t n, float *hidden,
                           float *logits);

/* OUT[n][vocab] = H[n][hidden] (final-normed) . lm_head^T. */
vd_status vd__qwen_logits(vd_ctx *ctx, vd__qwen_state *s, const float *h,
                          int64_t n, float *out);

/* ---- generation (qwen-gen.c) ---- */

typedef enum vd__qwen_stop {
    VD_QWEN_STOP_NONE = 0,
    VD_QWEN_STOP_EOS,       /* a stop token was generated */
    VD_QWEN_STOP_MAX,       /* max_new_tokens reached */
    VD_QWEN_STOP_REPEAT,    /* the repetition guard fired */
    VD_QWEN_STOP_CALLBACK,  /* on_token asked to stop */
    VD_QWEN_STOP_CANCELLED, /* vd_ctx_cancel */
    VD_QWEN_STOP_TIMEOUT    /* time limit */
} vd__qwen_stop;

const char *vd__qwen_stop_name(vd__qwen_stop s);

typedef struct vd__qwen_gen_opts {
    int max_new_tokens;       /* > 0 */
    bool do_sample;           /* false: argmax of the processed logits */
    float temperature;        /* > 0 */
    int top_k;                /* 0: off */
    float top_p;              /* 1: off */
    float repetition_penalty; /* 1: off; over prompt + generated ids */
    uint64_t seed;
    /* Repetition guard: stop once the last REPEAT_WINDOW tokens repeat
     * one span of at most REPEAT_MAX_PERIOD tokens (0: off). */
    int repeat_window;
    int repeat_max_period;
    double timeout; /* seconds for the whole call; 0: none */
    /* Streaming: each token's text (special tokens skipped). */
    int (*on_token)(void *user, int token_id, const char *piece, size_t len);
    void *on_token_user;
} vd__qwen_gen_opts;

/* Defaults from M's generation_config.json (max_new_tokens from there,
 * else 8192); repetition guard on. */
void vd__qwen_gen_opts_init(vd__qwen_gen_opts *o, const vd__qwen_model *m);

typedef struct vd__qwen_gen_result {
    vd__ivec ids; /* generated ids, the stop token included */
    vd__buf text; /* their text, special tokens skipped */
    vd__qwen_stop stop;
    int64_t n_prompt;
    double t_prefill, t_decode; /* seconds */
    int repeat_period;          /* when the guard fired */
} vd__qwen_gen_result;
void vd__qwen_gen_result_free(vd__qwen_gen_result *r);

/* Prefill the prompt and generate. IDS[n] are the prompt tokens (for the
 * repetition penalty); EMBEDS[n][H] their input embeddings (NULL: looked
 * up from IDS; pass them when images are scattered in); POS[n][3] their
 * positions (NULL: 0..n-1 on all axes) and DELTA the rope_deltas for the
 * generated tokens. The session S must be empty and is left holding the
 * sequence. The repetition guard reports a warning and keeps the text.
 * Errors: as vd__qwen_forward; RES holds what was generated even then. */
vd_status vd__qwen_generate(vd_ctx *ctx, vd__qwen_state *s, const int32_t *ids,
                            const float *embeds, const int32_t *pos, int64_t n,
                            int64_t delta, const vd__qwen_gen_opts *o,
                            vd__qwen_gen_result *res);

/* The repetition guard on its own (vd__qwen_generate runs one). */
typedef struct vd__qwen_guard {
    int window, max_period; /* window 0: off */
    int *run;               /* [max_period + 1] */
} vd__qwen_guard;
vd_status vd__qwen_guard_init(vd_ctx *ctx, vd__qwen_guard *g, int window,
                              int max_period);
void vd__qwen_guard_free(vd__qwen_guard *g);
/* IDS[n-1] was just generated: the period of the span the last WINDOW
 * tokens repeat, or 0. Call once per token, in order. */
int vd__qwen_guard_check(vd__qwen_guard *g, const int32_t *ids, int64_t n);

/* Pick the next token from LOGITS[vocab] (modified in place) as HF's
 * processors do: repetition penalty over HIST[nhist], temperature,
 * top-k, top-p, then argmax or a draw from RNG (xoshiro256** state). */
int32_t vd__qwen_sample(float *logits, int vocab, const int32_t *hist,
                        int64_t nhist, const vd__qwen_gen_opts *o,
                        uint64_t rng[4], void *scratch);
/* Bytes of scratch vd__qwen_sample needs for VOCAB. */
size_t vd__qwen_sample_scratch(int vocab);
void vd__qwen_rng_seed(uint64_t rng[4], uint64_t seed);

/* ---- vision tower and multimodal input (qwen-vision.c) ---- */

#define VD_QWEN_MAX_HEAD_DIM 256 /* vision head size ceiling */

/* Merged tokens (<|image_pad|> count) of grid G: t*h*w / merge^2. */
int64_t vd__qwen_image_tokens(const vd__qwen_cfg *cfg, const vd__qwen_grid *g);

/* The window layout of one image or video (HF's get_window_index). */
typedef struct vd__qwen_winidx {
    int32_t *order; /* [n_tok] window-order slot j holds raster merged
                       token order[j]; owned */
    int64_t n_tok;
    int64_t *cu; /* [n_cu] window boundaries in patches, cu[0] = 0, empty
                    windows dropped; owned */
    int n_cu;
} vd__qwen_winidx;

/* Windows of window_size pixels over grid G, in raster order per frame,
 * partial at the right and bottom edges. On VD_OK free with
 * vd__qwen_winidx_free. Errors: VD_ERR_ARG (grid not a multiple of the
 * merge size), VD_ERR_MODEL, VD_ERR_NOMEM. */
vd_status vd__qwen_window_index(vd_ctx *ctx, const vd__qwen_vision_cfg *vc,
                                const vd__qwen_grid *g, vd__qwen_winidx *out);
void vd__qwen_winidx_free(vd__qwen_winidx *w);

typedef struct vd__qwen_vision_opts {
    vd_precision prec; /* of the matrix products */
    double deadline;   /* vd__now() time to give up at; 0: none */
    /* Observe intermediate values (tests): "vision.patch_embed" (layer -1,
     * raster order), "vision.block" (after block LAYER, window order),
     * "vision.merger" (chunk LAYER of the merger output, window order). */
    vd__qwen_probe_fn probe;
    void *probe_user;
} vd__qwen_vision_opts;
void vd__qwen_vision_opts_init(vd__qwen_vision_opts *o);

/* Run the vision tower on one image (or video) of grid G: PV holds its
 * pixel_values [t*h*w][C*T*P*P] (merge-group row order, as
 * vd__raster_pixel_values makes them); OUT gets
 * [vd__qwen_image_tokens][out_hidden] embeddings in raster order of the
 * merged tokens, the order of the <|image_pad|> tokens. Activations are
 * allocated for this call only; attention runs in tiles.
 * Errors: VD_ERR_ARG (grid), VD_ERR_NOMEM, VD_ERR_LIMIT, VD_ERR_CANCELLED,
 * VD_ERR_TIMEOUT (O->deadline). */
vd_status vd__qwen_vision_encode(vd_ctx *ctx, const vd__qwen_model *m,
                                 const float *pv, const vd__qwen_grid *g,
                                 const vd__qwen_vision_opts *o, float *out);

/* Decoder input embeddings OUT[n][H] for prompt IDS[n]: the token
 * embeddings, with the k-th <|image_pad|> row replaced by IMG[k]
 * (IMG[n_img][H], every image's embeddings in prompt order).
 * Errors: VD_ERR_ARG (pad count differs from N_IMG, id out of range). */
vd_status vd__qwen_mm_embed(vd_ctx *ctx, const vd__qwen_model *m,
                            const int32_t *ids, int64_t n, const float *img,
                            int64_t n_img, float *out);

/* One image through the tower: smart resize to multiples of patch*merge
 * within [MIN_PIXELS, MAX_PIXELS] (0: preprocessor_config.json's), the
 * Pillow bicubic resize when the size changes, pixel_values, encode. On
 * VD_OK *GRID is its image_grid_thw and *EMBEDS (vd__aligned_free) its
 * [image tokens][out_hidden] embeddings. Errors: as vd_smart_resize and
 * vd__qwen_vision_encode. */
vd_status vd__qwen_image_embed(vd_ctx *ctx, const vd__qwen_model *m,
                               const vd_image *img, int64_t min_pixels,
                               int64_t max_pixels,
                               const vd__qwen_vision_opts *o,
                               vd__qwen_grid *grid, float **embeds);

/* A prompt of one user turn (and SYSTEM, when not NULL) holding the text
 * USER and, with G, one image of grid G before or after it: ids with the
 * pads expanded, 3-D positions and rope_deltas. */
typedef struct vd__qwen_mm_prompt {
    vd__ivec ids;
    int32_t *pos;  /* [ids.n][3] (t, h, w); owned */
    int64_t delta; /* rope_deltas for the generated tokens */
    int64_t n_img; /* <|image_pad|> tokens */
} vd__qwen_mm_prompt;
/* Errors: as vd__qwen_chat_render, vd__qwen_tok_encode and
 * vd__qwen_rope_index. On failure OUT is left empty. */
vd_status vd__qwen_mm_prompt_build(vd_ctx *ctx, const vd__qwen_model *m,
                                   const char *system, const char *user,
                                   bool image_first, const vd__qwen_grid *g,
                                   vd__qwen_mm_prompt *out);
void vd__qwen_mm_prompt_free(vd__qwen_mm_prompt *p);

#endif

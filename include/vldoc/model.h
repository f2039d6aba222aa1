/* vldoc model: a local Qwen2.5-VL model (a Hugging Face folder, weights
 * mapped read-only), raw generation on it - what `vldoc generate` runs to
 * check a model - and downloading one from the Hugging Face hub. Document
 * conversion uses the same model through the "qwen" engine (engine.h). */
#ifndef VLDOC_MODEL_H
#define VLDOC_MODEL_H

#include "core.h"
#include "engine.h"
#include "input.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vd_model vd_model;

/* Find and load a model. DIR is a model folder (config.json,
 * tokenizer.json, model.safetensors or its shards), or a hub repository
 * id "org/name" looked up in the Hugging Face cache; NULL means
 * $VLDOC_MODEL, then Qwen/Qwen2.5-VL-3B-Instruct in the cache
 * ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub). Every tensor
 * is checked against config.json; weights are mapped, never copied. A
 * loaded model is immutable: threads may generate with it at once, each
 * with its own ctx. On VD_OK the caller owns *out (vd_model_free).
 * Errors: VD_ERR_MODEL (none found - the message says how to get one -,
 * or a missing, unexpected or misshapen tensor or config key, named with
 * its file), VD_ERR_IO, VD_ERR_FORMAT, VD_ERR_UNSUPPORTED. */
vd_status vd_model_load(vd_ctx *ctx, const char *dir, vd_model **out);
/* The same, with the text decoder's weights as WEIGHTS: VD_WEIGHTS_Q8 or
 * VD_WEIGHTS_Q4 quantize it at load (seconds to a minute for 3B; a folder
 * saved by vd_model_quantize loads at once). */
vd_status vd_model_load_weights(vd_ctx *ctx, const char *dir,
                                vd_weights weights, vd_model **out);
/* Load the model at SRC (as vd_model_load finds it), quantize its text
 * decoder to WEIGHTS (VD_WEIGHTS_Q8 or VD_WEIGHTS_Q4) and save it as the
 * model folder DST (created if missing; config and tokenizer files
 * copied). Errors: as vd_model_load, VD_ERR_ARG (DST is SRC, or WEIGHTS
 * is not a quantized format), VD_ERR_IO. */
vd_status vd_model_quantize(vd_ctx *ctx, const char *src, const char *dst,
                            vd_weights weights);
void vd_model_free(vd_model *m);
/* The folder it was loaded from (borrowed). */
const char *vd_model_dir(const vd_model *m);
/* Number of weights (informational). */
int64_t vd_model_params(const vd_model *m);

typedef struct vd_generate_opts {
    const char *prompt;        /* user text, UTF-8 */
    const char *system_prompt; /* NULL: the chat template's default */
    int raw;                   /* PROMPT is the literal model input (no
                                  chat template; added tokens spelled out
                                  in it still become those tokens) */
    const vd_image *image;     /* optional, placed before the prompt */
    int64_t min_pixels;        /* image budget; 0: preprocessor_config */
    int64_t max_pixels;
    /* decoding; negative = generation_config.json's value */
    int max_new_tokens; /* default: generation_config, else 8192 */
    int do_sample;      /* 0 greedy, 1 sample */
    double temperature;
    int top_k;                 /* 0: off */
    double top_p;              /* 1: off */
    double repetition_penalty; /* 1: off */
    uint64_t seed;             /* sampling RNG */
    double timeout;            /* seconds; 0: none */
    vd_token_fn on_token;      /* each token's text as it comes; may be
                                  NULL; non-zero return stops */
    void *on_token_user;
    vd_precision precision; /* of the matrix products (default exact) */
    int kv_bf16;            /* KV cache in bf16 instead of fp32 */
} vd_generate_opts;

/* Defaults: no prompt, everything else from the model's files. */
void vd_generate_opts_init(vd_generate_opts *o);

typedef struct vd_generation vd_generation;

/* Run one generation: the prompt through the chat template (unless
 * raw), prefill, then decoding until a stop token, max_new_tokens, the
 * time limit, the repetition guard (logged as a warning; the text is
 * kept) or on_token says stop. On VD_OK the caller owns *out
 * (vd_generation_free). Errors: VD_ERR_ARG (no prompt, text not UTF-8),
 * VD_ERR_UNSUPPORTED (an image while the vision tower is not built in),
 * VD_ERR_CANCELLED (vd_ctx_cancel), VD_ERR_NOMEM, VD_ERR_LIMIT. */
vd_status vd_model_generate(vd_ctx *ctx, const vd_model *m,
                            const vd_generate_opts *o, vd_generation **out);
void vd_generation_free(vd_generation *g);
/* The generated text, special tokens left out (borrowed). */
const char *vd_generation_text(const vd_generation *g, size_t *len);
/* The prompt's token ids and the generated ones (the stop token
 * included), borrowed. */
const int32_t *vd_generation_prompt_ids(const vd_generation *g, size_t *n);
const int32_t *vd_generation_ids(const vd_generation *g, size_t *n);
/* Why it stopped: "eos", "max_tokens", "repeat", "callback", "timeout". */
const char *vd_generation_stop(const vd_generation *g);
/* Seconds spent in prefill and in decoding. */
void vd_generation_times(const vd_generation *g, double *prefill,
                         double *decode);

/* ---- downloading from the Hugging Face hub ---- */

/* Progress of a download: FILE's DONE of TOTAL bytes, and the whole
 * repository's ALL_DONE of ALL_TOTAL. Called often; keep it cheap. */
typedef void (*vd_pull_progress_fn)(void *user, const char *file, uint64_t done,
                                    uint64_t total, uint64_t all_done,
                                    uint64_t all_total);

typedef struct vd_pull_opts {
    const char *revision;  /* NULL: "main" */
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else huggingface.co */
    const char *token;     /* NULL: $HF_TOKEN, else the token file in
                              $HF_HOME (as huggingface_hub reads it) */
    const char *cache_dir; /* NULL: the Hugging Face hub cache */
    vd_pull_progress_fn progress;
    void *progress_user;
} vd_pull_opts;

void vd_pull_opts_init(vd_pull_opts *o);

/* Download repository REPO ("org/name") into the Hugging Face cache
 * layout (blobs/, snapshots/REV/, refs/), as huggingface_hub does, so
 * both tools share it. The file list and sizes come from the hub's API;
 * a partial download resumes where it stopped; each LFS file's SHA-256 is
 * checked before it is put in place. On VD_OK *snapshot (vd_free) is the
 * folder to load. Errors: VD_ERR_REMOTE (HTTP failure, with the status
 * and URL), VD_ERR_FORMAT (a checksum or size mismatch; the file is
 * removed), VD_ERR_IO, VD_ERR_UNSUPPORTED (built without libcurl),
 * VD_ERR_CANCELLED. */
vd_status vd_model_pull(vd_ctx *ctx, const char *repo, const vd_pull_opts *o,
                        char **snapshot);

#ifdef __cplusplus
}
#endif
#endif

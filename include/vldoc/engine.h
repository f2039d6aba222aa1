/* vldoc engines: a page in, QwenVL HTML out. "text" reads the PDF text
 * layer, "qwen" runs Qwen2.5-VL locally, "remote" asks an OpenAI-compatible
 * server. Every engine's output goes through QwenVL HTML and libxml2 into
 * the document tree. */
#ifndef VLDOC_ENGINE_H
#define VLDOC_ENGINE_H

#include "core.h"
#include "doc.h"
#include "input.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numeric precision of the local engine's matrix products. EXACT keeps
 * activations in fp32 (the reference path); BF16 rounds activations to
 * bf16 for the AVX-512 BF16 dot products; INT8 quantizes them. */
typedef enum vd_precision {
    VD_PREC_EXACT = 0,
    VD_PREC_BF16 = 1,
    VD_PREC_INT8 = 2
} vd_precision;

/* How the local engine stores weights after loading. */
typedef enum vd_weights {
    VD_WEIGHTS_AS_STORED = 0, /* bf16/f16/f32 as in the checkpoint */
    VD_WEIGHTS_Q8 = 1,        /* int8, block scales */
    VD_WEIGHTS_Q4 = 2         /* 4-bit, block scales */
} vd_weights;

/* Called for each generated token's text (UTF-8, possibly empty while a
 * multi-byte character is incomplete). Return non-zero to stop. */
typedef int (*vd_token_fn)(void *user, int token_id, const char *piece,
                           size_t len);

typedef struct vd_engine_opts {
    const char *engine; /* "text", "qwen", "remote" or "auto" (NULL) */

    /* page images (qwen, remote) */
    vd_render_opts render;

    /* prompt (qwen, remote) */
    const char *prompt;        /* user text; NULL: "QwenVL HTML " (with the
                                  trailing space of the cookbook run) */
    const char *system_prompt; /* NULL: the chat template's default */

    /* generation (qwen, remote); negative / NULL = model's default */
    int max_new_tokens; /* default 8192 */
    double temperature;
    int top_k;
    double top_p;
    double repetition_penalty;
    int do_sample; /* -1: from generation_config.json */
    uint64_t seed;
    double page_timeout; /* seconds per page; 0: none */
    vd_token_fn on_token;
    void *on_token_user;

    /* local model (qwen) */
    const char *model_dir; /* NULL: $VLDOC_MODEL, then the HF cache */
    vd_precision precision;
    vd_weights weights;
    int kv_bf16; /* KV cache in bf16 instead of fp32 */

    /* remote server (remote) */
    const char *endpoint;     /* base URL ending in /v1 */
    const char *remote_model; /* model name on the server */
    const char *api_key_env;  /* environment variable with the key */
    int jobs;                 /* requests in flight */
    double request_timeout;   /* seconds */
    int retries;              /* attempts after the first */
    int stream;               /* use server-sent events */
} vd_engine_opts;

/* Defaults: engine "auto", 8192 new tokens, model defaults elsewhere. */
void vd_engine_opts_init(vd_engine_opts *o);

typedef struct vd_engine vd_engine;

/* Names of the engines built in, NULL-terminated, static. */
const char *const *vd_engine_names(void);

/* Open the engine OPTS->engine. "auto" is resolved per document by
 * vd_engine_resolve; opening "auto" keeps both choices ready lazily.
 * On VD_OK the caller owns *out (vd_engine_free).
 * Errors: VD_ERR_ARG (unknown engine), VD_ERR_MODEL (no model: the
 * message says how to get one), VD_ERR_UNSUPPORTED (not built in). */
vd_status vd_engine_open(vd_ctx *ctx, const vd_engine_opts *opts,
                         vd_engine **out);
void vd_engine_free(vd_engine *eng);

/* Which engine will run on IN ("text", "qwen", "remote"). For "auto": the
 * text layer for PDFs that have one, else qwen when a model is
 * configured. Errors: VD_ERR_MODEL with a message naming what is needed. */
vd_status vd_engine_resolve(vd_ctx *ctx, vd_engine *eng, vd_input *in,
                            const char **name);

/* Run the engine on page PAGE of IN and return its QwenVL HTML. On VD_OK
 * the caller owns *html (vd_free); *map tells how its data-bbox values
 * map to the page; *st (optional) gets timings and token counts. */
vd_status vd_engine_page_html(vd_ctx *ctx, vd_engine *eng, vd_input *in,
                              int page, char **html, size_t *len,
                              vd_pagemap *map, vd_page_stats *st);

/* Run the engine on page PAGE and append the result to DOC. A page that
 * fails is appended as an error page (and its status returned), so the
 * document always has one page per page asked for. */
vd_status vd_engine_run_page(vd_ctx *ctx, vd_engine *eng, vd_input *in,
                             int page, vd_doc *doc);

#ifdef __cplusplus
}
#endif
#endif

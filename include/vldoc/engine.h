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
    double retry_wait;        /* first retry delay, seconds (doubles each
                                 time, with jitter); 0: 1 s */
    int stream;               /* use server-sent events */
    int image_format;         /* 0: PNG, or JPEG for a photo-like page
                                 when smaller; 1: PNG; 2: JPEG */
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

/* As vd_engine_page_html, with per-call settings: CALL's prompt,
 * system_prompt, max_new_tokens, temperature, top_k, top_p,
 * repetition_penalty, do_sample, seed, on_token and render.min_pixels /
 * render.max_pixels are used instead of those given at open (CALL NULL:
 * those; NULL strings and negative numbers keep them too). For servers
 * that take a prompt per request. Unlike vd_engine_page_html, a run that
 * fails after producing text (a generation cut short: VD_ERR_LIMIT,
 * VD_ERR_TIMEOUT, VD_ERR_CANCELLED) still hands that text back in *html,
 * which the caller then frees. */
vd_status vd_engine_page_html_opts(vd_ctx *ctx, vd_engine *eng, vd_input *in,
                                   int page, const vd_engine_opts *call,
                                   char **html, size_t *len, vd_pagemap *map,
                                   vd_page_stats *st);

/* Run the engine on page PAGE and append the result to DOC. A page that
 * fails is appended as an error page (and its status returned), so the
 * document always has one page per page asked for. */
vd_status vd_engine_run_page(vd_ctx *ctx, vd_engine *eng, vd_input *in,
                             int page, vd_doc *doc);

/* ---- many pages in flight ----
 * Engines that wait on a server (remote) keep many pages in flight, from
 * many documents, and finish them in any order; engines that compute here
 * run each page when it is submitted. The same loop drives both:
 *
 *   while (pages left or vd_engine_pending(eng)) {
 *       while (pages left && vd_engine_pending(eng) < vd_engine_jobs(..))
 *           vd_engine_submit(ctx, eng, in, page, user);
 *       vd_engine_next(ctx, eng, -1, &res);  // handle res, then free it
 *   }
 */

typedef struct vd_page_result vd_page_result;

/* How many pages of IN to keep in flight: opts.jobs for an engine that
 * waits on a server, 1 for one that computes here. */
int vd_engine_jobs(vd_ctx *ctx, vd_engine *eng, vd_input *in);

/* Start page PAGE (0-based) of IN. An engine that computes here runs the
 * page now; remote renders it, sends it and returns. Either way its result
 * comes back once from vd_engine_next, carrying USER. Call on the thread
 * that opened IN; IN must stay open until the result is back. One thread
 * drives an engine: submit, next and free from that thread only. A page
 * that fails (even to render) comes back as a failed result, so the only
 * errors here are VD_ERR_NOMEM and VD_ERR_ARG. */
vd_status vd_engine_submit(vd_ctx *ctx, vd_engine *eng, vd_input *in, int page,
                           void *user);

/* Pages submitted and not yet returned by vd_engine_next. */
int vd_engine_pending(const vd_engine *eng);

/* Wait at most TIMEOUT seconds (negative: until one finishes) for a
 * finished page. *out is NULL when none finished in time or none is
 * pending; otherwise the caller owns it (vd_page_result_free). After
 * vd_ctx_cancel the pending pages come back as VD_ERR_CANCELLED. */
vd_status vd_engine_next(vd_ctx *ctx, vd_engine *eng, double timeout,
                         vd_page_result **out);

void *vd_page_result_user(const vd_page_result *r);
int vd_page_result_page(const vd_page_result *r); /* 0-based */
/* VD_OK, or why the page failed; the message names file and page. */
vd_status vd_page_result_status(const vd_page_result *r);
const char *vd_page_result_error(const vd_page_result *r); /* "" if OK */
const vd_page_stats *vd_page_result_stats(const vd_page_result *r);
/* How the page's model pixels map to the page (zero when it failed
 * before the engine knew). */
const vd_pagemap *vd_page_result_map(const vd_page_result *r);
/* The QwenVL HTML (possibly partial when the page failed); borrowed. */
const char *vd_page_result_html(const vd_page_result *r, size_t *len);

/* Append the page to DOC exactly as vd_engine_run_page would (an error
 * page when it failed without HTML) and return the page's status; on
 * failure the ctx holds its message. */
vd_status vd_page_result_append(vd_ctx *ctx, const vd_page_result *r,
                                vd_doc *doc);
void vd_page_result_free(vd_page_result *r);

/* A result as bytes, for another process running the same build (the
 * CLI's supervisor: pages computed in a worker, documents built in the
 * parent). On VD_OK the caller owns *data (vd_free). Unpack makes the
 * result back with USER; VD_ERR_FORMAT when DATA is cut short. */
vd_status vd_page_result_pack(vd_ctx *ctx, const vd_page_result *r, void **data,
                              size_t *len);
vd_status vd_page_result_unpack(vd_ctx *ctx, const void *data, size_t len,
                                void *user, vd_page_result **out);
/* A failed page that never reached an engine (its worker crashed or
 * hung): STATUS and MSG ("FILE: page N: reason"), page PAGE (0-based). */
vd_status vd_page_result_new_error(vd_ctx *ctx, const char *path, int page,
                                   vd_status status, const char *msg,
                                   void *user, vd_page_result **out);

#ifdef __cplusplus
}
#endif
#endif

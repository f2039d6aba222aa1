/* Engine internals: the vtable each engine (engine-{text,qwen,remote}.c)
 * fills, and what a page run hands back to lib/engine.c. Engines that
 * compute here fill `page`; engines that wait on something else (a remote
 * server) also fill the asynchronous hooks, so many pages are in flight. */
#ifndef VD_ENGINE_PRIVATE_H
#define VD_ENGINE_PRIVATE_H

#include "vd-private.h"

typedef struct vd__page_out {
    vd__buf html;   /* QwenVL HTML, data-bbox in model pixels */
    vd_pagemap map; /* model pixels -> page coordinates */
    vd_page_stats stats;
    char warning[512]; /* optional: recorded on the page when set */
    /* Per-call generation settings (vd_engine_page_html_opts; serve uses
     * it for a chat request's prompt, max_tokens and sampling): when
     * non-NULL, engines that generate take prompt, system_prompt,
     * max_new_tokens, temperature, top_k, top_p, repetition_penalty,
     * do_sample, seed, on_token and render.min_pixels/max_pixels from
     * here instead of from open (NULL strings, negative or zero numbers:
     * from open). */
    const vd_engine_opts *call;
} vd__page_out;

/* One page on its way through an engine (public name vd_page_result).
 * lib/engine.c owns it; between submit and the poll that returns it, the
 * asynchronous engine holds it and may use PRIV. */
typedef struct vd__task vd__task;
struct vd__task {
    vd__page_out out;
    vd_status status;        /* the page's result */
    char msg[VD_ERRMSG_MAX]; /* its message when status != VD_OK */
    int page;                /* 0-based page of the input */
    char *path;              /* input path, for messages (owned) */
    void *user;              /* the caller's, from vd_engine_submit */
    vd__task *next;          /* list link: whoever holds the task */
    void *priv;              /* the engine's, while it holds the task */
};

/* Finish T with STATUS and, when it failed, the ctx's message. */
void vd__task_finish(vd_ctx *ctx, vd__task *t, vd_status status);
/* Free a task the engine still holds when it is closed. */
void vd__task_free(vd__task *t);

typedef struct vd__engine_vt {
    const char *name;
    /* Make the engine's state from OPTS (copied as needed). */
    vd_status (*open)(vd_ctx *ctx, const vd_engine_opts *opts, void **state);
    /* Can the engine run on IN at all (e.g. text needs a text layer)? */
    int (*accepts)(vd_ctx *ctx, void *state, vd_input *in);
    /* One page in, QwenVL HTML out. On failure OUT may still hold partial
     * HTML (a truncated generation), which the caller keeps. */
    vd_status (*page)(vd_ctx *ctx, void *state, vd_input *in, int page,
                      vd__page_out *out);
    void (*close)(void *state);

    /* Optional asynchronous hooks; engines without them run through
     * `page`, one page at a time.
     * submit: on the thread that owns IN, take from IN what the request
     * needs (render the page), start it and return. On VD_OK the engine
     * holds T until poll hands it back; on failure it does not keep T.
     * poll: advance the work for at most TIMEOUT seconds (0: do not
     * wait) and prepend finished tasks to *DONE, each with status, msg
     * and out filled. Returns early once something finished. Cancelling
     * the ctx finishes every task with VD_ERR_CANCELLED.
     * slots: how many pages the engine wants in flight. */
    vd_status (*submit)(vd_ctx *ctx, void *state, vd_input *in, int page,
                        vd__task *t);
    void (*poll)(vd_ctx *ctx, void *state, double timeout, vd__task **done);
    int (*slots)(void *state);
} vd__engine_vt;

extern const vd__engine_vt vd__engine_text;
extern const vd__engine_vt vd__engine_qwen;
/* internal: pass-through for -i qwenvl inputs (engine-html.c) */
extern const vd__engine_vt vd__engine_html;
#ifdef HAVE_CURL
extern const vd__engine_vt vd__engine_remote;
/* Remote: send IMG (already at its model size; the engine takes it
 * over, even on failure) for task T as the engine would a rendered page;
 * MAP NULL maps to the image's own pixels. For tests that have no
 * renderer to hand. */
vd_status vd__remote_submit_image(vd_ctx *ctx, void *state, vd_image *img,
                                  const vd_pagemap *map, vd__task *t);
#endif

/* The settings a page run uses: DEFAULTS (the engine's open-time copy)
 * with CALL's per-call fields over them, as vd__page_out.call describes
 * (CALL NULL: DEFAULTS). Strings are borrowed from both. */
void vd__engine_call_opts(const vd_engine_opts *defaults,
                          const vd_engine_opts *call, vd_engine_opts *eff);

/* The state of engine NAME inside ENG, opening it when needed (tests). */
void *vd__engine_state(vd_ctx *ctx, vd_engine *eng, const char *name);

#endif

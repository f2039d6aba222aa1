/* Engine internals: the vtable each engine (engine-{text,qwen,remote}.c)
 * fills, and what a page run hands back to lib/engine.c. */
#ifndef VD_ENGINE_PRIVATE_H
#define VD_ENGINE_PRIVATE_H

#include "vd-private.h"

typedef struct vd__page_out {
    vd__buf html;       /* QwenVL HTML, data-bbox in model pixels */
    vd_pagemap map;     /* model pixels -> page coordinates */
    vd_page_stats stats;
} vd__page_out;

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
} vd__engine_vt;

extern const vd__engine_vt vd__engine_text;
extern const vd__engine_vt vd__engine_qwen;
/* internal: pass-through for -i qwenvl inputs (engine-html.c) */
extern const vd__engine_vt vd__engine_html;

#endif

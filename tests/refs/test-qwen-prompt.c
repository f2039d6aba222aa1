/* Reference test for lib/qwen-prompt.c on every shared case (text and the
 * five images): the chat template with an image item renders HF's prompt,
 * expanding the placeholder to the case's number of image tokens gives
 * the processor's input ids exactly, and get_rope_index's 3-D positions
 * and rope delta match HF's; bad grids are refused. */
#include "config.h"

#include <json-c/json.h>

#include "qwen.h"
#include "refs.h"

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    char p[1024];
    snprintf(p, sizeof p, "%s/refs/qwen25vl/manifest.json", shared);
    json_object *man = json_object_from_file(p);
    json_object *files = json_object_object_get(man, "files");
    snprintf(p, sizeof p, "%s/refs/tokenizer/tokenizer.json", shared);
    vd__qwen_tok *tok = NULL;
    if (vd__qwen_tok_load(ctx, p, &tok) != VD_OK)
        tap_skip_all("tokenizer: %s", vd_ctx_errmsg(ctx));
    vd__qwen_cfg cfg;
    snprintf(p, sizeof p, "%s/refs/qwen25vl/tiny/checkpoint", shared);
    if (vd__qwen_cfg_load(ctx, p, &cfg) != VD_OK)
        tap_skip_all("config: %s", vd_ctx_errmsg(ctx));

    static const char *cases[] = { "text",         "img_a", "img_b",
                                   "img_b_maxpix", "img_c", "img_d" };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char key[128];
        snprintf(key, sizeof key, "processor/%s.safetensors", cases[c]);
        json_object *e = json_object_object_get(files, key);
        json_object *m0 =
            json_object_array_get_idx(json_object_object_get(e, "messages"), 0);
        json_object *content = json_object_object_get(m0, "content");
        int64_t npad = json_object_get_int64(
            json_object_object_get(e, "n_image_pad_tokens"));
        vd__qwen_part parts[4];
        int np = 0;
        vd__qwen_msg msg = { "user", NULL, parts, 0 };
        if (json_object_is_type(content, json_type_string)) {
            msg.text = json_object_get_string(content);
        } else {
            for (size_t i = 0; i < json_object_array_length(content); i++) {
                json_object *it = json_object_array_get_idx(content, i);
                const char *ty =
                    json_object_get_string(json_object_object_get(it, "type"));
                if (!strcmp(ty, "image"))
                    parts[np++] = (vd__qwen_part){ VD_QWEN_IMAGE, NULL, 0 };
                else
                    parts[np++] = (vd__qwen_part){ VD_QWEN_TEXT,
                                                   json_object_get_string(
                                                       json_object_object_get(
                                                           it, "text")),
                                                   0 };
            }
            msg.n_parts = np;
        }
        /* the template alone: one placeholder, as HF's template renders */
        vd__buf b;
        vd__buf_init(&b, 0);
        vd__qwen_chat_render(ctx, &msg, 1, true, &b);
        const char *want =
            json_object_get_string(json_object_object_get(e, "prompt_text"));
        tap_ok(b.data && !strcmp(b.data, want), "%s: prompt text", cases[c]);
        /* expanded as the processor does, then tokenized */
        for (int i = 0; i < np; i++)
            if (parts[i].kind == VD_QWEN_IMAGE)
                parts[i].n_pad = npad;
        vd__buf_reset(&b);
        vd__qwen_chat_render(ctx, &msg, 1, true, &b);
        vd__ivec ids = { 0 };
        vd__qwen_tok_encode(ctx, tok, b.data, b.len, &ids);
        vd__buf_free(&b);
        vd__safetensors *ps = refs_open(shared, key);
        int64_t nw = 0;
        int64_t *wid = refs_i64(ps, "input_ids", &nw);
        bool eq = wid && nw == ids.n;
        for (int64_t i = 0; eq && i < nw; i++)
            eq = wid[i] == ids.v[i];
        tap_ok(eq, "%s: input ids equal (%lld tokens, %lld image pads)",
               cases[c], (long long)ids.n, (long long)npad);
        free(wid);
        /* positions */
        vd__qwen_grid g = { 0, 0, 0 };
        int ng = 0;
        if (npad) {
            int64_t *thw = refs_i64(ps, "image_grid_thw", NULL);
            if (thw) {
                g = (vd__qwen_grid){ (int)thw[0], (int)thw[1], (int)thw[2] };
                ng = 1;
            }
            free(thw);
        }
        vd__st_close(ps);
        snprintf(key, sizeof key, "tiny/%s.safetensors", cases[c]);
        vd__safetensors *rs = refs_open(shared, key);
        int64_t n = ids.n, npos = 0, delta = 0;
        int32_t *pos = calloc((size_t)n * 3 + 1, sizeof *pos);
        vd_status s =
            vd__qwen_rope_index(ctx, &cfg, ids.v, n, &g, ng, NULL, pos, &delta);
        int64_t *wp = refs_i64(rs, "position_ids", &npos);
        int64_t *wd = refs_i64(rs, "rope_deltas", NULL);
        eq = s == VD_OK && wp && wd && npos == 3 * n && *wd == delta;
        for (int64_t i = 0; eq && i < n; i++)
            for (int a = 0; a < 3; a++)
                eq = eq && pos[3 * i + a] == wp[a * n + i];
        tap_ok(eq, "%s: 3-D positions and rope delta %lld equal", cases[c],
               (long long)delta);
        free(wp);
        free(wd);
        if (ng) {
            /* the pads disagree with the grid: one pad short */
            vd_ctx_clear(ctx);
            vd__qwen_grid big = { g.t, g.h + 2, g.w };
            s = vd__qwen_rope_index(ctx, &cfg, ids.v, n, &big, 1, NULL, pos,
                                    &delta);
            tap_ok(s == VD_ERR_ARG,
                   "%s: a grid larger than the pads is "
                   "refused: %s",
                   cases[c], vd_ctx_errmsg(ctx));
            vd_ctx_clear(ctx);
            s = vd__qwen_rope_index(ctx, &cfg, ids.v, n, NULL, 0, NULL, pos,
                                    &delta);
            tap_ok(s == VD_ERR_ARG, "%s: pads without a grid are refused",
                   cases[c]);
        }
        free(pos);
        vd__st_close(rs);
        vd__ivec_free(&ids);
    }
    /* a system message replaces the default one; several turns */
    vd__qwen_msg conv[3] = { { "system", "Be terse.", NULL, 0 },
                             { "user", "Hi", NULL, 0 },
                             { "assistant", "Hello.", NULL, 0 } };
    vd__buf b;
    vd__buf_init(&b, 0);
    vd__qwen_chat_render(ctx, conv, 3, false, &b);
    tap_ok(b.data &&
               !strcmp(b.data, "<|im_start|>system\nBe terse.<|im_end|>\n"
                               "<|im_start|>user\nHi<|im_end|>\n"
                               "<|im_start|>assistant\nHello.<|im_end|>\n"),
           "system turn, multi-turn, no generation prompt");
    vd__buf_free(&b);
    json_object_put(man);
    vd__qwen_tok_free(tok);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

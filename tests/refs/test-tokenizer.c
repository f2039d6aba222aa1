/* Reference test for lib/qwen-tok.c: every vector of the shared
 * tokenizer_tests.json (ids from Hugging Face's Qwen2 tokenizer) encodes to
 * exactly the same ids and decodes back to the text (or its NFC form); the
 * spec's prompt vectors; the streaming decoder emits the same text as a
 * whole decode and never a broken character; invalid byte sequences turn
 * into U+FFFD as Python's errors="replace" does. */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "../tap.h"
#include "qwen.h"

static bool ids_equal(const vd__ivec *a, json_object *ids)
{
    if (a->n != (int64_t)json_object_array_length(ids))
        return false;
    for (int64_t i = 0; i < a->n; i++)
        if (a->v[i] !=
            json_object_get_int(json_object_array_get_idx(ids, (size_t)i)))
            return false;
    return true;
}

static void show(const char *what, const vd__ivec *a)
{
    char line[2048];
    size_t k = 0;
    for (int64_t i = 0; i < a->n && k < sizeof line - 16; i++)
        k += (size_t)snprintf(line + k, sizeof line - k, " %d", a->v[i]);
    line[k] = '\0';
    tap_diag("%s:%s", what, line);
}

static int32_t byte_token(vd__qwen_tok *t, unsigned char b)
{
    for (int32_t id = 0; id < 256 * 2; id++) {
        size_t l;
        const char *p = vd__qwen_tok_bytes(t, id, &l);
        if (l == 1 && (unsigned char)p[0] == b)
            return id;
    }
    return -1;
}

/* Decode IDS one by one through the streaming decoder. Every chunk must
 * be valid UTF-8 on its own. */
static bool stream_decode(vd_ctx *ctx, vd__qwen_tok *t, const int32_t *ids,
                          int64_t n, vd__buf *out, int *bad_chunks)
{
    vd__qwen_detok d;
    vd__qwen_detok_init(&d, t, true);
    for (int64_t i = 0; i < n; i++) {
        size_t before = out->len;
        if (vd__qwen_detok_push(ctx, &d, ids[i], out))
            return false;
        if (!vd__utf8_valid(out->data + before, out->len - before))
            (*bad_chunks)++;
    }
    return vd__qwen_detok_flush(ctx, &d, out) == VD_OK;
}

int main(void)
{
    const char *shared = tap_shared();
    tap_plan_late();
    vd_ctx *ctx = vd_ctx_new(NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s/refs/tokenizer/tokenizer.json", shared);
    vd__qwen_tok *t = NULL;
    double t0 = vd__now();
    vd_status s = vd__qwen_tok_load(ctx, path, &t);
    tap_ok(s == VD_OK, "tokenizer.json loads (%.2f s): %s", vd__now() - t0,
           vd_ctx_errmsg(ctx));
    if (s)
        return tap_done();
    tap_ok(vd__qwen_tok_size(t) == 151665, "151665 ids (151643 + 22 added)");
    tap_ok(vd__qwen_tok_added(t, "<|im_end|>") == 151645 &&
               vd__qwen_tok_is_special(t, 151645) &&
               !vd__qwen_tok_is_special(t, 151657) &&
               vd__qwen_tok_added(t, "<tool_call>") == 151657,
           "added tokens and their special flags");

    snprintf(path, sizeof path, "%s/refs/tokenizer/tokenizer_tests.json",
             shared);
    json_object *root = json_object_from_file(path);
    json_object *cases = NULL;
    json_object_object_get_ex(root, "cases", &cases);
    size_t nc = cases ? json_object_array_length(cases) : 0;
    tap_ok(nc == 65, "65 vectors in tokenizer_tests.json");
    int enc_ok = 0, dec_ok = 0, stream_ok = 0;
    for (size_t i = 0; i < nc; i++) {
        json_object *c = json_object_array_get_idx(cases, i);
        json_object *jt = json_object_object_get(c, "text");
        json_object *ids = json_object_object_get(c, "ids");
        const char *text = json_object_get_string(jt);
        size_t len = (size_t)json_object_get_string_len(jt);
        vd__ivec got = { 0 };
        vd_ctx_clear(ctx);
        s = vd__qwen_tok_encode(ctx, t, text, len, &got);
        bool eq = s == VD_OK && ids_equal(&got, ids);
        enc_ok += eq;
        if (!eq) {
            tap_diag("case %zu %s", i, vd_ctx_errmsg(ctx));
            show("got", &got);
        }
        /* decode: the input itself, or its NFC form when HF says so */
        vd__buf out;
        vd__buf_init(&out, 0);
        vd__qwen_tok_decode(ctx, t, got.v, got.n, false, &out);
        json_object *rt =
            json_object_object_get(c, "decode_roundtrip_equals_input");
        bool want_same = json_object_get_boolean(rt);
        bool same = out.len == len && (!len || !memcmp(out.data, text, len));
        if (same == want_same)
            dec_ok++;
        else
            tap_diag("case %zu decodes to '%s'", i, out.data ? out.data : "");
        vd__buf st;
        vd__buf_init(&st, 0);
        int bad = 0;
        /* skip_special=false above; the stream skips specials, so compare
         * with a skipping whole decode */
        vd__buf whole;
        vd__buf_init(&whole, 0);
        vd__qwen_tok_decode(ctx, t, got.v, got.n, true, &whole);
        if (stream_decode(ctx, t, got.v, got.n, &st, &bad) && !bad &&
            st.len == whole.len &&
            (!st.len || !memcmp(st.data, whole.data, st.len)))
            stream_ok++;
        else
            tap_diag("case %zu: streaming decode differs", i);
        vd__buf_free(&whole);
        vd__buf_free(&st);
        vd__buf_free(&out);
        vd__ivec_free(&got);
    }
    tap_ok(enc_ok == (int)nc, "all vectors encode to HF's ids (%d/%zu)", enc_ok,
           nc);
    /* all vectors in one long text (the piece cache and the run-wise NFC
     * of long inputs), kept apart by <|endoftext|>, three times over */
    vd__buf all;
    vd__buf_init(&all, 0);
    vd__ivec want = { 0 };
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < nc; i++) {
            json_object *c = json_object_array_get_idx(cases, i);
            json_object *jt = json_object_object_get(c, "text");
            json_object *ids = json_object_object_get(c, "ids");
            vd__buf_append(ctx, &all, json_object_get_string(jt),
                           (size_t)json_object_get_string_len(jt));
            vd__buf_puts(ctx, &all, "<|endoftext|>");
            for (size_t k = 0; k < json_object_array_length(ids); k++)
                vd__ivec_push(
                    ctx, &want,
                    json_object_get_int(json_object_array_get_idx(ids, k)));
            vd__ivec_push(ctx, &want, 151643);
        }
    vd__ivec got1 = { 0 };
    s = vd__qwen_tok_encode(ctx, t, all.data, all.len, &got1);
    tap_ok(s == VD_OK && got1.n == want.n &&
               !memcmp(got1.v, want.v, (size_t)got1.n * sizeof *got1.v),
           "all vectors in one %zu-byte text: the same ids (%lld)", all.len,
           (long long)got1.n);
    vd__ivec_free(&got1);
    vd__ivec_free(&want);
    vd__buf_free(&all);
    tap_ok(dec_ok == (int)nc,
           "all vectors decode back to the input (or its NFC form) (%d/%zu)",
           dec_ok, nc);
    tap_ok(stream_ok == (int)nc,
           "streaming decode equals whole decode, every chunk valid UTF-8 "
           "(%d/%zu)",
           stream_ok, nc);
    json_object_put(root);

    /* spec 5.2 / 6.7: the default system turn and a chat prompt */
    static const struct {
        const char *text;
        int n;
        int32_t ids[40];
    } spec[] = {
        { "Hello world", 2, { 9707, 1879 } },
        { " Hello world", 2, { 21927, 1879 } },
        { "What is 2 plus 2?", 8, { 3838, 374, 220, 17, 5519, 220, 17, 30 } },
        { "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
          11,
          { 151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645,
            198 } },
        { "<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|>"
          "<|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n",
          13,
          { 151644, 872, 198, 151652, 151655, 151655, 151653, 13048, 151645,
            198, 151644, 77091, 198 } },
    };
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++) {
        vd__ivec got = { 0 };
        vd__qwen_tok_encode(ctx, t, spec[i].text, strlen(spec[i].text), &got);
        bool eq = got.n == spec[i].n &&
                  !memcmp(got.v, spec[i].ids, (size_t)got.n * 4);
        if (!eq)
            show("got", &got);
        tap_ok(eq, "spec vector %zu", i);
        vd__ivec_free(&got);
    }

    /* a character split over tokens: held back until complete */
    int32_t e4 = byte_token(t, 0xE4), b8 = byte_token(t, 0xB8),
            ad = byte_token(t, 0xAD), x = byte_token(t, 'x');
    tap_ok(e4 >= 0 && b8 >= 0 && ad >= 0 && x >= 0, "single-byte tokens");
    vd__qwen_detok d;
    vd__qwen_detok_init(&d, t, true);
    vd__buf o;
    vd__buf_init(&o, 0);
    vd__qwen_detok_push(ctx, &d, e4, &o);
    size_t l1 = o.len;
    vd__qwen_detok_push(ctx, &d, b8, &o);
    size_t l2 = o.len;
    vd__qwen_detok_push(ctx, &d, ad, &o);
    tap_ok(l1 == 0 && l2 == 0 && o.len == 3 && !memcmp(o.data, "中", 3),
           "U+4E2D over three tokens comes out once complete");
    vd__buf_reset(&o);
    vd__qwen_detok_push(ctx, &d, e4, &o);
    vd__qwen_detok_push(ctx, &d, x, &o);
    vd__qwen_detok_push(ctx, &d, e4, &o);
    vd__qwen_detok_push(ctx, &d, b8, &o);
    vd__qwen_detok_flush(ctx, &d, &o);
    tap_ok(o.len == 7 && !memcmp(o.data, "\xEF\xBF\xBDx\xEF\xBF\xBD", 7),
           "a broken sequence and a cut-off tail each give one U+FFFD");
    vd__buf_reset(&o);
    int32_t bad[] = { e4, x, e4, b8 };
    vd__qwen_tok_decode(ctx, t, bad, 4, true, &o);
    tap_ok(o.len == 7 && !memcmp(o.data, "\xEF\xBF\xBDx\xEF\xBF\xBD", 7),
           "whole decode agrees");
    vd__buf_reset(&o);
    int32_t pads[] = { 151643, 151700, 9707, 151645 };
    vd__qwen_tok_decode(ctx, t, pads, 4, true, &o);
    tap_ok(o.len == 5 && !memcmp(o.data, "Hello", 5),
           "special tokens skipped, unknown ids decode as nothing");
    vd__buf_free(&o);
    vd__ivec inv = { 0 };
    vd_ctx_clear(ctx);
    tap_ok(vd__qwen_tok_encode(ctx, t, "a\xC3(", 3, &inv) == VD_ERR_ARG,
           "invalid UTF-8 is refused");
    vd__ivec_free(&inv);
    /* a long run of one punctuation character is a single regex piece:
     * BPE must stay fast on it */
    size_t big = 200000;
    char *eq = vd__malloc(ctx, big);
    memset(eq, '=', big);
    vd__ivec r = { 0 };
    t0 = vd__now();
    s = vd__qwen_tok_encode(ctx, t, eq, big, &r);
    double dt = vd__now() - t0;
    vd__buf_init(&o, 0);
    vd__qwen_tok_decode(ctx, t, r.v, r.n, true, &o);
    tap_ok(s == VD_OK && o.len == big && dt < 5.0,
           "200 kB of '=' in one piece: %lld tokens, round trip, %.2f s",
           (long long)r.n, dt);
    vd__buf_free(&o);
    vd__ivec_free(&r);
    vd__free(eq);

    vd__qwen_tok_free(t);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

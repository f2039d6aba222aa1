/* Qwen2.5-VL, checkpoint loader: a Hugging Face model folder in (config
 * files, one or sharded safetensors, tokenizer.json), a vd__qwen_model out
 * whose matrices are views into the read-only mappings. Every key and
 * every tensor is checked against the config before anything runs, and
 * each failure names the file and the key or tensor. Never copies a
 * matrix: bf16 stays bf16 in the page cache. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qwen.h"
#include "safetensors.h"

/* ---- JSON files ---- */

vd_status vd__qwen_json_load(vd_ctx *ctx, const char *path, bool optional,
                             json_object **out)
{
    *out = NULL;
    struct stat sb;
    if (optional && stat(path, &sb) != 0 && errno == ENOENT)
        return VD_OK;
    char *buf = NULL;
    size_t len = 0;
    vd_status s =
        vd__file_read(ctx, path, ctx->opts.limits.max_header_bytes, &buf, &len);
    if (s)
        return s;
    if (len > INT_MAX) { /* json-c takes an int length */
        vd__free(buf);
        return vd__fail(ctx, VD_ERR_LIMIT, "%s: too large", path);
    }
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) {
        vd__free(buf);
        return vd__fail(ctx, VD_ERR_NOMEM, "out of memory");
    }
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    bool trailing = false;
    for (size_t i = end; o && i < len; i++)
        if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t')
            trailing = true;
    vd__free(buf);
    if (!o || je != json_tokener_success || trailing ||
        !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return vd__fail(ctx, VD_ERR_FORMAT, "%s: not a JSON object (%s)", path,
                        je != json_tokener_success ? json_tokener_error_desc(je)
                        : trailing                 ? "trailing bytes"
                                                   : "wrong type");
    }
    *out = o;
    return VD_OK;
}

/* ---- config.json ---- */

/* Where config fields come from: the file, the top-level object and the
 * nested text_config (or NULL). */
typedef struct jsrc {
    const char *path;
    json_object *root, *tc;
} jsrc;

static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

/* A text field: from text_config when it has it, else the top level. */
static json_object *tfield(const jsrc *j, const char *key)
{
    json_object *v = field(j->tc, key);
    return v ? v : field(j->root, key);
}

static vd_status get_int(vd_ctx *ctx, const char *path, const char *key,
                         json_object *v, bool required, int64_t def, int64_t lo,
                         int64_t hi, int64_t *out)
{
    if (!v) {
        if (required)
            return vd__fail(ctx, VD_ERR_MODEL, "%s: missing key '%s'", path,
                            key);
        *out = def;
        return VD_OK;
    }
    int64_t x;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        x = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!(d == floor(d) && fabs(d) < 9e15))
            goto bad;
        x = (int64_t)d;
    } else {
        goto bad;
    }
    if (x < lo || x > hi)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: '%s' is %lld, outside [%lld, %lld]", path, key,
                        (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return VD_OK;
bad:
    return vd__fail(ctx, VD_ERR_MODEL, "%s: '%s' must be an integer", path,
                    key);
}

static vd_status get_i(vd_ctx *ctx, const char *path, const char *key,
                       json_object *v, bool required, int def, int lo, int hi,
                       int *out)
{
    int64_t x;
    vd_status s = get_int(ctx, path, key, v, required, def, lo, hi, &x);
    if (s == VD_OK)
        *out = (int)x;
    return s;
}

static vd_status get_num(vd_ctx *ctx, const char *path, const char *key,
                         json_object *v, double def, double lo, double hi,
                         double *out)
{
    if (!v) {
        *out = def;
        return VD_OK;
    }
    if (!json_object_is_type(v, json_type_int) &&
        !json_object_is_type(v, json_type_double))
        return vd__fail(ctx, VD_ERR_MODEL, "%s: '%s' must be a number", path,
                        key);
    double d = json_object_get_double(v);
    if (!(d >= lo && d <= hi))
        return vd__fail(ctx, VD_ERR_MODEL, "%s: '%s' is %g, outside [%g, %g]",
                        path, key, d, lo, hi);
    *out = d;
    return VD_OK;
}

static vd_status get_bool(vd_ctx *ctx, const char *path, const char *key,
                          json_object *v, bool def, bool *out)
{
    if (!v) {
        *out = def;
        return VD_OK;
    }
    if (!json_object_is_type(v, json_type_boolean))
        return vd__fail(ctx, VD_ERR_MODEL, "%s: '%s' must be true or false",
                        path, key);
    *out = json_object_get_boolean(v);
    return VD_OK;
}

/* Sanity ceilings: far above any published Qwen2.5-VL, low enough that
 * no product of them overflows or asks for absurd memory. */
#define MAX_WIDTH  (1 << 16)
#define MAX_FFN    (1 << 20)
#define MAX_LAYERS 1024
#define MAX_HEADS  1024
#define MAX_VOCAB  (1 << 24)

static vd_status parse_text(vd_ctx *ctx, const jsrc *j, vd__qwen_text_cfg *t)
{
    const char *p = j->path;
    vd_status s;
    int64_t mp;
    double eps, theta;
    if ((s = get_i(ctx, p, "hidden_size", tfield(j, "hidden_size"), true, 0, 1,
                   MAX_WIDTH, &t->hidden)) ||
        (s = get_i(ctx, p, "intermediate_size", tfield(j, "intermediate_size"),
                   true, 0, 1, MAX_FFN, &t->intermediate)) ||
        (s = get_i(ctx, p, "num_hidden_layers", tfield(j, "num_hidden_layers"),
                   true, 0, 1, MAX_LAYERS, &t->n_layer)) ||
        (s = get_i(ctx, p, "num_attention_heads",
                   tfield(j, "num_attention_heads"), true, 0, 1, MAX_HEADS,
                   &t->n_head)) ||
        (s = get_i(ctx, p, "num_key_value_heads",
                   tfield(j, "num_key_value_heads"), false, t->n_head, 1,
                   MAX_HEADS, &t->n_kv_head)) ||
        (s = get_i(ctx, p, "vocab_size", tfield(j, "vocab_size"), true, 0, 1,
                   MAX_VOCAB, &t->vocab)) ||
        /* HF's default when absent is 1e-5; published files say 1e-6 */
        (s = get_num(ctx, p, "rms_norm_eps", tfield(j, "rms_norm_eps"), 1e-5, 0,
                     1, &eps)) ||
        (s = get_int(ctx, p, "max_position_embeddings",
                     tfield(j, "max_position_embeddings"), false, 128000, 1,
                     INT32_MAX, &mp)) ||
        (s = get_bool(ctx, p, "tie_word_embeddings",
                      tfield(j, "tie_word_embeddings"), false, &t->tied)))
        return s;
    t->rms_eps = (float)eps;
    t->max_pos = mp;
    if (t->hidden % t->n_head != 0 || (t->hidden / t->n_head) % 2 != 0)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: hidden_size %d is not an even multiple of "
                        "num_attention_heads %d",
                        p, t->hidden, t->n_head);
    t->head_dim = t->hidden / t->n_head;
    if (t->n_head % t->n_kv_head != 0)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: num_attention_heads %d is not a multiple of "
                        "num_key_value_heads %d",
                        p, t->n_head, t->n_kv_head);

    /* rope_theta: top level / text_config, or inside rope_parameters (v5) */
    json_object *rp = field(j->tc, "rope_parameters");
    if (!rp)
        rp = field(j->root, "rope_parameters");
    json_object *th = tfield(j, "rope_theta");
    if (!th)
        th = field(rp, "rope_theta");
    if ((s = get_num(ctx, p, "rope_theta", th, 1e6, 1, 1e12, &theta)))
        return s;
    t->rope_theta = (float)theta;

    /* mrope_section: rope_scaling or rope_parameters, either level */
    json_object *ms = NULL;
    json_object *cands[4] = { field(j->tc, "rope_scaling"), rp,
                              field(j->root, "rope_scaling"),
                              field(j->root, "rope_parameters") };
    for (int i = 0; i < 4 && !ms; i++)
        ms = field(cands[i], "mrope_section");
    if (!ms)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: missing key 'rope_scaling.mrope_section'", p);
    if (!json_object_is_type(ms, json_type_array) ||
        json_object_array_length(ms) != 3)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: 'mrope_section' must be 3 integers", p);
    int sum = 0;
    for (int i = 0; i < 3; i++) {
        if ((s = get_i(ctx, p, "mrope_section",
                       json_object_array_get_idx(ms, (size_t)i), true, 0, 0,
                       MAX_WIDTH, &t->mrope[i])))
            return s;
        sum += t->mrope[i];
    }
    if (sum != t->head_dim / 2)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: mrope_section [%d, %d, %d] sums to %d, not "
                        "head_dim / 2 = %d",
                        p, t->mrope[0], t->mrope[1], t->mrope[2], sum,
                        t->head_dim / 2);

    json_object *act = tfield(j, "hidden_act");
    if (act && strcmp(json_object_get_string(act), "silu") != 0)
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: hidden_act '%s' (only silu is supported)", p,
                        json_object_get_string(act));
    bool sw = false;
    if ((s = get_bool(ctx, p, "use_sliding_window",
                      tfield(j, "use_sliding_window"), false, &sw)))
        return s;
    if (sw)
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: use_sliding_window is true; Qwen2.5-VL "
                        "checkpoints use full attention",
                        p);
    return VD_OK;
}

static vd_status parse_vision(vd_ctx *ctx, const char *p, json_object *vc,
                              vd__qwen_vision_cfg *v)
{
    vd_status s;
    if (!vc || !json_object_is_type(vc, json_type_object))
        return vd__fail(ctx, VD_ERR_MODEL, "%s: missing key 'vision_config'",
                        p);
    /* hidden_size and the widths have HF class defaults of the 7B-era
     * sizes (3584): never rely on them */
    if ((s = get_i(ctx, p, "vision_config.hidden_size",
                   field(vc, "hidden_size"), true, 0, 1, MAX_WIDTH,
                   &v->hidden)) ||
        (s = get_i(ctx, p, "vision_config.num_heads", field(vc, "num_heads"),
                   true, 0, 1, MAX_HEADS, &v->n_head)) ||
        (s = get_i(ctx, p, "vision_config.intermediate_size",
                   field(vc, "intermediate_size"), true, 0, 1, MAX_FFN,
                   &v->intermediate)) ||
        (s = get_i(ctx, p, "vision_config.out_hidden_size",
                   field(vc, "out_hidden_size"), true, 0, 1, MAX_WIDTH,
                   &v->out_hidden)) ||
        (s = get_i(ctx, p, "vision_config.depth", field(vc, "depth"), false, 32,
                   1, VD_QWEN_MAX_DEPTH, &v->depth)) ||
        (s = get_i(ctx, p, "vision_config.patch_size", field(vc, "patch_size"),
                   false, 14, 1, 256, &v->patch)) ||
        (s = get_i(ctx, p, "vision_config.temporal_patch_size",
                   field(vc, "temporal_patch_size"), false, 2, 1, 16,
                   &v->temporal_patch)) ||
        (s = get_i(ctx, p, "vision_config.spatial_merge_size",
                   field(vc, "spatial_merge_size"), false, 2, 1, 16,
                   &v->merge)) ||
        /* HF reads in_channels; the hub's in_chans is ignored */
        (s = get_i(ctx, p, "vision_config.in_channels",
                   field(vc, "in_channels"), false, 3, 1, 16,
                   &v->in_channels)) ||
        (s = get_i(ctx, p, "vision_config.window_size",
                   field(vc, "window_size"), false, 112, 1, 1 << 16,
                   &v->window_size)) ||
        (s = get_i(ctx, p, "vision_config.tokens_per_second",
                   field(vc, "tokens_per_second"), false, 4, 0, 1 << 16,
                   &v->tokens_per_second)))
        return s;
    if (v->hidden % v->n_head != 0 || (v->hidden / v->n_head) % 4 != 0)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: vision hidden_size %d / num_heads %d must be a "
                        "multiple of 4 (2-D rotary embedding)",
                        p, v->hidden, v->n_head);
    v->head_dim = v->hidden / v->n_head;
    v->eps = 1e-6f;
    json_object *act = field(vc, "hidden_act");
    if (act && strcmp(json_object_get_string(act), "silu") != 0)
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: vision hidden_act '%s' (only silu is supported)",
                        p, json_object_get_string(act));
    memset(v->fullatt, 0, sizeof v->fullatt);
    json_object *fa = field(vc, "fullatt_block_indexes");
    if (!fa) {
        static const int def[] = { 7, 15, 23, 31 };
        for (int i = 0; i < 4; i++)
            if (def[i] < v->depth)
                v->fullatt[def[i]] = 1;
    } else {
        if (!json_object_is_type(fa, json_type_array))
            return vd__fail(ctx, VD_ERR_MODEL,
                            "%s: 'fullatt_block_indexes' must be a list", p);
        for (size_t i = 0; i < json_object_array_length(fa); i++) {
            int b;
            if ((s = get_i(ctx, p, "fullatt_block_indexes",
                           json_object_array_get_idx(fa, i), true, 0, 0,
                           v->depth - 1, &b)))
                return s;
            v->fullatt[b] = 1;
        }
    }
    return VD_OK;
}

/* eos_token_id: an integer or a list of them. */
static vd_status parse_eos(vd_ctx *ctx, const char *p, json_object *e,
                           vd__qwen_gen_cfg *g, int vocab)
{
    vd_status s;
    if (!e)
        return VD_OK;
    if (json_object_is_type(e, json_type_array)) {
        size_t n = json_object_array_length(e);
        if (n > VD_QWEN_MAX_EOS)
            return vd__fail(ctx, VD_ERR_MODEL,
                            "%s: more than %d eos_token_id values", p,
                            VD_QWEN_MAX_EOS);
        g->n_eos = 0;
        for (size_t i = 0; i < n; i++)
            if ((s = get_i(ctx, p, "eos_token_id",
                           json_object_array_get_idx(e, i), true, 0, 0,
                           vocab - 1, &g->eos[g->n_eos++])))
                return s;
        return VD_OK;
    }
    g->n_eos = 1;
    return get_i(ctx, p, "eos_token_id", e, true, 0, 0, vocab - 1, &g->eos[0]);
}

static vd_status parse_gen(vd_ctx *ctx, const char *dir, const jsrc *cj,
                           vd__qwen_gen_cfg *g, int vocab)
{
    vd_status s;
    memset(g, 0, sizeof *g);
    g->pad_id = g->bos_id = -1;
    g->temperature = 1.0f;
    g->top_k = 50;
    g->top_p = 1.0f;
    g->repetition_penalty = 1.0f;
    /* without generation_config.json HF takes eos from config.json */
    if ((s = parse_eos(ctx, cj->path, tfield(cj, "eos_token_id"), g, vocab)))
        return s;
    char *path = vd__asprintf(ctx, "%s/generation_config.json", dir);
    if (!path)
        return VD_ERR_NOMEM;
    json_object *o = NULL;
    if ((s = vd__qwen_json_load(ctx, path, true, &o)) || !o) {
        vd__free(path);
        return s;
    }
    double t, tp, rp;
    int64_t mnt;
    if (!(s = parse_eos(ctx, path, field(o, "eos_token_id"), g, vocab)) &&
        !(s = get_i(ctx, path, "pad_token_id", field(o, "pad_token_id"), false,
                    -1, -1, vocab - 1, &g->pad_id)) &&
        !(s = get_i(ctx, path, "bos_token_id", field(o, "bos_token_id"), false,
                    -1, -1, vocab - 1, &g->bos_id)) &&
        !(s = get_bool(ctx, path, "do_sample", field(o, "do_sample"), false,
                       &g->do_sample)) &&
        !(s = get_num(ctx, path, "temperature", field(o, "temperature"), 1.0, 0,
                      1e6, &t)) &&
        !(s = get_i(ctx, path, "top_k", field(o, "top_k"), false, 50, 0,
                    INT32_MAX, &g->top_k)) &&
        !(s = get_num(ctx, path, "top_p", field(o, "top_p"), 1.0, 0, 1, &tp)) &&
        !(s = get_num(ctx, path, "repetition_penalty",
                      field(o, "repetition_penalty"), 1.0, 1e-6, 1e6, &rp)) &&
        !(s = get_int(ctx, path, "max_new_tokens", field(o, "max_new_tokens"),
                      false, 0, 0, INT32_MAX, &mnt))) {
        g->temperature = (float)t;
        g->top_p = (float)tp;
        g->repetition_penalty = (float)rp;
        g->max_new_tokens = (int)mnt;
    }
    json_object_put(o);
    vd__free(path);
    return s;
}

static vd_status parse_pre(vd_ctx *ctx, const char *dir, vd__qwen_pre_cfg *pp)
{
    static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
    static const float std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    vd_status s;
    pp->min_pixels = 56 * 56; /* the image processor's class defaults */
    pp->max_pixels = 28 * 28 * 1280;
    pp->patch = 14;
    pp->temporal_patch = 2;
    pp->merge = 2;
    memcpy(pp->mean, mean, sizeof mean);
    memcpy(pp->std, std, sizeof std);
    pp->rescale = 1.0 / 255.0;
    char *path = vd__asprintf(ctx, "%s/preprocessor_config.json", dir);
    if (!path)
        return VD_ERR_NOMEM;
    json_object *o = NULL;
    if ((s = vd__qwen_json_load(ctx, path, true, &o)) || !o) {
        vd__free(path);
        return s;
    }
    /* newer files write the pair as size.{shortest,longest}_edge (both
     * pixel counts despite the names) */
    json_object *size = field(o, "size");
    json_object *mn = field(o, "min_pixels"), *mx = field(o, "max_pixels");
    if (!mn)
        mn = field(size, "shortest_edge");
    if (!mx)
        mx = field(size, "longest_edge");
    const int64_t maxpx = (int64_t)1 << 40;
    double rs;
    if (!(s = get_int(ctx, path, "min_pixels", mn, false, pp->min_pixels, 1,
                      maxpx, &pp->min_pixels)) &&
        !(s = get_int(ctx, path, "max_pixels", mx, false, pp->max_pixels, 1,
                      maxpx, &pp->max_pixels)) &&
        !(s = get_i(ctx, path, "patch_size", field(o, "patch_size"), false, 14,
                    1, 256, &pp->patch)) &&
        !(s = get_i(ctx, path, "temporal_patch_size",
                    field(o, "temporal_patch_size"), false, 2, 1, 16,
                    &pp->temporal_patch)) &&
        !(s = get_i(ctx, path, "merge_size", field(o, "merge_size"), false, 2,
                    1, 16, &pp->merge)) &&
        !(s = get_num(ctx, path, "rescale_factor", field(o, "rescale_factor"),
                      1.0 / 255.0, 1e-9, 1e9, &rs))) {
        pp->rescale = rs;
        const char *keys[2] = { "image_mean", "image_std" };
        float *dst[2] = { pp->mean, pp->std };
        for (int k = 0; k < 2 && !s; k++) {
            json_object *a = field(o, keys[k]);
            if (!a)
                continue;
            if (!json_object_is_type(a, json_type_array) ||
                json_object_array_length(a) != 3) {
                s = vd__fail(ctx, VD_ERR_MODEL, "%s: '%s' must be 3 numbers",
                             path, keys[k]);
                break;
            }
            for (int c = 0; c < 3 && !s; c++) {
                double d;
                s = get_num(ctx, path, keys[k],
                            json_object_array_get_idx(a, (size_t)c), 0, -1e9,
                            1e9, &d);
                dst[k][c] = (float)d;
                if (!s && k == 1 && d == 0)
                    s = vd__fail(ctx, VD_ERR_MODEL, "%s: image_std is 0", path);
            }
        }
        if (!s && pp->min_pixels > pp->max_pixels)
            s = vd__fail(ctx, VD_ERR_MODEL,
                         "%s: min_pixels %lld is above max_pixels %lld", path,
                         (long long)pp->min_pixels, (long long)pp->max_pixels);
    }
    json_object_put(o);
    vd__free(path);
    return s;
}

vd_status vd__qwen_cfg_load(vd_ctx *ctx, const char *dir, vd__qwen_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char *path = vd__asprintf(ctx, "%s/config.json", dir);
    if (!path)
        return VD_ERR_NOMEM;
    json_object *root = NULL;
    vd_status s = vd__qwen_json_load(ctx, path, false, &root);
    if (s) {
        vd__free(path);
        return s;
    }
    jsrc j = { path, root, field(root, "text_config") };
    if (j.tc && !json_object_is_type(j.tc, json_type_object))
        j.tc = NULL;
    json_object *mt = field(root, "model_type");
    if (mt && strcmp(json_object_get_string(mt), "qwen2_5_vl") != 0) {
        s = vd__fail(ctx, VD_ERR_UNSUPPORTED,
                     "%s: model_type '%s' is not Qwen2.5-VL (qwen2_5_vl)", path,
                     json_object_get_string(mt));
        goto done;
    }
    if ((s = parse_text(ctx, &j, &cfg->text)) ||
        (s = parse_vision(ctx, path, field(root, "vision_config"),
                          &cfg->vision)))
        goto done;
    int V = cfg->text.vocab;
    if ((s = get_i(ctx, path, "image_token_id", tfield(&j, "image_token_id"),
                   false, 151655, 0, V - 1, &cfg->image_token_id)) ||
        (s = get_i(ctx, path, "video_token_id", tfield(&j, "video_token_id"),
                   false, 151656, 0, V - 1, &cfg->video_token_id)) ||
        (s = get_i(ctx, path, "vision_start_token_id",
                   tfield(&j, "vision_start_token_id"), false, 151652, 0, V - 1,
                   &cfg->vision_start_id)) ||
        (s = get_i(ctx, path, "vision_end_token_id",
                   tfield(&j, "vision_end_token_id"), false, 151653, 0, V - 1,
                   &cfg->vision_end_id)))
        goto done;
    if (cfg->vision.out_hidden != cfg->text.hidden) {
        s = vd__fail(ctx, VD_ERR_MODEL,
                     "%s: vision out_hidden_size %d differs from the text "
                     "hidden_size %d",
                     path, cfg->vision.out_hidden, cfg->text.hidden);
        goto done;
    }
    json_object *dt = tfield(&j, "torch_dtype");
    if (!dt)
        dt = tfield(&j, "dtype");
    snprintf(cfg->dtype, sizeof cfg->dtype, "%s",
             dt ? json_object_get_string(dt) : "");
    if ((s = parse_gen(ctx, dir, &j, &cfg->gen, V)) ||
        (s = parse_pre(ctx, dir, &cfg->pre)))
        goto done;
    if (cfg->pre.patch != cfg->vision.patch ||
        cfg->pre.merge != cfg->vision.merge ||
        cfg->pre.temporal_patch != cfg->vision.temporal_patch)
        s = vd__fail(ctx, VD_ERR_MODEL,
                     "%s/preprocessor_config.json: patch %d / merge %d / "
                     "temporal %d disagree with config.json (%d / %d / %d)",
                     dir, cfg->pre.patch, cfg->pre.merge,
                     cfg->pre.temporal_patch, cfg->vision.patch,
                     cfg->vision.merge, cfg->vision.temporal_patch);
done:
    json_object_put(root);
    vd__free(path);
    return s;
}

/* ---- tensor inventory ---- */

bool vd__qwen_canon_name(const char *name, char *buf, size_t n)
{
    static const char lm[] = "model.language_model.", mv[] = "model.visual.";
    const char *pre = "", *rest = name;
    if (strncmp(name, lm, sizeof lm - 1) == 0) {
        pre = "model.";
        rest = name + sizeof lm - 1;
    } else if (strncmp(name, mv, sizeof mv - 1) == 0) {
        pre = "visual.";
        rest = name + sizeof mv - 1;
    }
    int k = snprintf(buf, n, "%s%s", pre, rest);
    return k >= 0 && (size_t)k < n;
}

typedef struct inv {
    void (*fn)(void *user, const vd__qwen_tinfo *ti);
    void *user;
    int count;
} inv;

static void put(inv *iv, vd__mat *mat, const float **vec, bool optional,
                int ndim, const int64_t *shape, const char *fmt, ...)
    VD_PRINTF(7, 8);

static void put(inv *iv, vd__mat *mat, const float **vec, bool optional,
                int ndim, const int64_t *shape, const char *fmt, ...)
{
    vd__qwen_tinfo ti;
    memset(&ti, 0, sizeof ti);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ti.name, sizeof ti.name, fmt, ap);
    va_end(ap);
    ti.ndim = ndim;
    ti.numel = 1;
    for (int i = 0; i < ndim; i++) {
        ti.shape[i] = shape[i];
        ti.numel *= shape[i];
    }
    ti.optional = optional;
    ti.mat = mat;
    ti.vec = vec;
    iv->count++;
    iv->fn(iv->user, &ti);
}

#define S1(a)    ((const int64_t[]){ (a) })
#define S2(a, b) ((const int64_t[]){ (a), (b) })

int vd__qwen_inventory(const vd__qwen_cfg *cfg, vd__qwen_model *m,
                       void (*fn)(void *user, const vd__qwen_tinfo *ti),
                       void *user)
{
    inv iv = { fn, user, 0 };
    const vd__qwen_vision_cfg *vc = &cfg->vision;
    const vd__qwen_text_cfg *tc = &cfg->text;
    vd__qwen_vision_w *vw = m ? &m->vision : NULL;
    vd__qwen_text_w *tw = m ? &m->text : NULL;
#define MAT(field) (m ? &(field) : NULL)
#define VEC(field) (m ? &(field) : NULL)
    int64_t Dv = vc->hidden, Iv = vc->intermediate;
    int64_t Dm = Dv * vc->merge * vc->merge;
    const int64_t pe[5] = { Dv, vc->in_channels, vc->temporal_patch, vc->patch,
                            vc->patch };
    put(&iv, MAT(vw->patch_embed), NULL, false, 5, pe,
        "visual.patch_embed.proj.weight");
    for (int b = 0; b < vc->depth; b++) {
        vd__qwen_vblock *B = m ? &vw->blocks[b] : NULL;
        put(&iv, NULL, VEC(B->norm1), false, 1, S1(Dv),
            "visual.blocks.%d.norm1.weight", b);
        put(&iv, NULL, VEC(B->norm2), false, 1, S1(Dv),
            "visual.blocks.%d.norm2.weight", b);
        put(&iv, MAT(B->qkv), NULL, false, 2, S2(3 * Dv, Dv),
            "visual.blocks.%d.attn.qkv.weight", b);
        put(&iv, NULL, VEC(B->qkv_b), false, 1, S1(3 * Dv),
            "visual.blocks.%d.attn.qkv.bias", b);
        put(&iv, MAT(B->proj), NULL, false, 2, S2(Dv, Dv),
            "visual.blocks.%d.attn.proj.weight", b);
        put(&iv, NULL, VEC(B->proj_b), false, 1, S1(Dv),
            "visual.blocks.%d.attn.proj.bias", b);
        put(&iv, MAT(B->gate), NULL, false, 2, S2(Iv, Dv),
            "visual.blocks.%d.mlp.gate_proj.weight", b);
        put(&iv, NULL, VEC(B->gate_b), false, 1, S1(Iv),
            "visual.blocks.%d.mlp.gate_proj.bias", b);
        put(&iv, MAT(B->up), NULL, false, 2, S2(Iv, Dv),
            "visual.blocks.%d.mlp.up_proj.weight", b);
        put(&iv, NULL, VEC(B->up_b), false, 1, S1(Iv),
            "visual.blocks.%d.mlp.up_proj.bias", b);
        put(&iv, MAT(B->down), NULL, false, 2, S2(Dv, Iv),
            "visual.blocks.%d.mlp.down_proj.weight", b);
        put(&iv, NULL, VEC(B->down_b), false, 1, S1(Dv),
            "visual.blocks.%d.mlp.down_proj.bias", b);
    }
    put(&iv, NULL, VEC(vw->ln_q), false, 1, S1(Dv),
        "visual.merger.ln_q.weight");
    put(&iv, MAT(vw->mlp0), NULL, false, 2, S2(Dm, Dm),
        "visual.merger.mlp.0.weight");
    put(&iv, NULL, VEC(vw->mlp0_b), false, 1, S1(Dm),
        "visual.merger.mlp.0.bias");
    put(&iv, MAT(vw->mlp2), NULL, false, 2, S2(vc->out_hidden, Dm),
        "visual.merger.mlp.2.weight");
    put(&iv, NULL, VEC(vw->mlp2_b), false, 1, S1(vc->out_hidden),
        "visual.merger.mlp.2.bias");

    int64_t H = tc->hidden, I = tc->intermediate;
    int64_t Q = (int64_t)tc->n_head * tc->head_dim;
    int64_t KV = (int64_t)tc->n_kv_head * tc->head_dim;
    put(&iv, MAT(tw->embed), NULL, false, 2, S2(tc->vocab, H),
        "model.embed_tokens.weight");
    for (int l = 0; l < tc->n_layer; l++) {
        vd__qwen_layer *L = m ? &tw->layers[l] : NULL;
        put(&iv, MAT(L->q), NULL, false, 2, S2(Q, H),
            "model.layers.%d.self_attn.q_proj.weight", l);
        put(&iv, NULL, VEC(L->q_b), false, 1, S1(Q),
            "model.layers.%d.self_attn.q_proj.bias", l);
        put(&iv, MAT(L->k), NULL, false, 2, S2(KV, H),
            "model.layers.%d.self_attn.k_proj.weight", l);
        put(&iv, NULL, VEC(L->k_b), false, 1, S1(KV),
            "model.layers.%d.self_attn.k_proj.bias", l);
        put(&iv, MAT(L->v), NULL, false, 2, S2(KV, H),
            "model.layers.%d.self_attn.v_proj.weight", l);
        put(&iv, NULL, VEC(L->v_b), false, 1, S1(KV),
            "model.layers.%d.self_attn.v_proj.bias", l);
        put(&iv, MAT(L->o), NULL, false, 2, S2(H, Q),
            "model.layers.%d.self_attn.o_proj.weight", l);
        put(&iv, MAT(L->gate), NULL, false, 2, S2(I, H),
            "model.layers.%d.mlp.gate_proj.weight", l);
        put(&iv, MAT(L->up), NULL, false, 2, S2(I, H),
            "model.layers.%d.mlp.up_proj.weight", l);
        put(&iv, MAT(L->down), NULL, false, 2, S2(H, I),
            "model.layers.%d.mlp.down_proj.weight", l);
        put(&iv, NULL, VEC(L->in_norm), false, 1, S1(H),
            "model.layers.%d.input_layernorm.weight", l);
        put(&iv, NULL, VEC(L->post_norm), false, 1, S1(H),
            "model.layers.%d.post_attention_layernorm.weight", l);
    }
    put(&iv, NULL, VEC(tw->norm), false, 1, S1(H), "model.norm.weight");
    /* tied: published files leave lm_head out; when one is there anyway
     * it is the same matrix and embed_tokens is used (spec 1.5) */
    put(&iv, tc->tied ? NULL : MAT(tw->lm_head), NULL, tc->tied, 2,
        S2(tc->vocab, H), "lm_head.weight");
#undef MAT
#undef VEC
    return iv.count;
}

/* ---- binding tensors to the inventory ---- */

typedef struct want {
    vd__qwen_tinfo ti;
    const vd__st_tensor *t;  /* found */
    const vd__st_tensor *sc; /* its block scales (a quantized matrix) */
    const char *file;        /* where found (or expected) */
    const char *stored;      /* the name as stored */
} want;

typedef struct wantlist {
    want *w;
    int n, cap;
    vd_status err;
    vd_ctx *ctx;
} wantlist;

static void collect(void *user, const vd__qwen_tinfo *ti)
{
    wantlist *wl = user;
    if (wl->err)
        return;
    if (wl->n == wl->cap) {
        int nc = wl->cap ? 2 * wl->cap : 1024;
        want *nw = vd__realloc(wl->ctx, wl->w, (size_t)nc * sizeof *nw);
        if (!nw) {
            wl->err = VD_ERR_NOMEM;
            return;
        }
        wl->w = nw;
        wl->cap = nc;
    }
    want *w = &wl->w[wl->n++];
    memset(w, 0, sizeof *w);
    w->ti = *ti;
}

static int cmp_want(const void *a, const void *b)
{
    return strcmp(((const want *)a)->ti.name, ((const want *)b)->ti.name);
}

static want *find_want(wantlist *wl, const char *canon)
{
    want key;
    memset(&key, 0, sizeof key);
    snprintf(key.ti.name, sizeof key.ti.name, "%s", canon);
    return bsearch(&key, wl->w, (size_t)wl->n, sizeof *wl->w, cmp_want);
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

static bool plain_file_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 256 && !strchr(s, '/') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

/* Open every safetensors file of DIR; with an index, check each stored
 * tensor is where the index says. Fills WL's found tensors. */
static vd_status open_weights(vd_ctx *ctx, vd__qwen_model *m, wantlist *wl)
{
    const char *dir = m->dir;
    char *ipath = vd__asprintf(ctx, "%s/model.safetensors.index.json", dir);
    if (!ipath)
        return VD_ERR_NOMEM;
    json_object *idx = NULL, *wmap = NULL;
    vd_status s = vd__qwen_json_load(ctx, ipath, true, &idx);
    char **files = NULL;
    int nfiles = 0;
    if (s)
        goto done;
    if (idx) {
        wmap = field(idx, "weight_map");
        if (!wmap || !json_object_is_type(wmap, json_type_object)) {
            s = vd__fail(ctx, VD_ERR_MODEL, "%s: missing key 'weight_map'",
                         ipath);
            goto done;
        }
        int nmap = json_object_object_length(wmap);
        files = vd__calloc(ctx, (size_t)nmap + 1, sizeof *files);
        if (!files) {
            s = VD_ERR_NOMEM;
            goto done;
        }
        json_object_object_foreach(wmap, tname, tfile)
        {
            const char *f = json_object_get_string(tfile);
            if (!json_object_is_type(tfile, json_type_string) ||
                !plain_file_name(f)) {
                s = vd__fail(ctx, VD_ERR_MODEL,
                             "%s: tensor '%s' maps to '%s', not a file name "
                             "in the model folder",
                             ipath, tname, f ? f : "?");
                goto done;
            }
            char canon[112];
            want *w = vd__qwen_canon_name(tname, canon, sizeof canon)
                          ? find_want(wl, canon)
                          : NULL;
            if (!w) {
                s = vd__fail(ctx, VD_ERR_MODEL,
                             "%s: unexpected tensor '%s' (not part of "
                             "Qwen2.5-VL with this config.json)",
                             ipath, tname);
                goto done;
            }
            int k = 0;
            while (k < nfiles && strcmp(files[k], f) != 0)
                k++;
            if (k == nfiles)
                files[nfiles++] = (char *)f;
            w->file = files[k]; /* expected there */
        }
    } else {
        files = vd__calloc(ctx, 1, sizeof *files);
        if (!files) {
            s = VD_ERR_NOMEM;
            goto done;
        }
        files[nfiles++] = "model.safetensors";
        char *p1 = vd__asprintf(ctx, "%s/model.safetensors", dir);
        if (!p1) {
            s = VD_ERR_NOMEM;
            goto done;
        }
        struct stat sb;
        bool have = stat(p1, &sb) == 0;
        vd__free(p1);
        if (!have) {
            s = vd__fail(ctx, VD_ERR_MODEL,
                         "%s: no model.safetensors or "
                         "model.safetensors.index.json (not a Hugging Face "
                         "model folder?)",
                         dir);
            goto done;
        }
    }
    m->shards = vd__calloc(ctx, (size_t)nfiles, sizeof *m->shards);
    if (!m->shards) {
        s = VD_ERR_NOMEM;
        goto done;
    }
    for (int k = 0; k < nfiles; k++) {
        char *fp = vd__asprintf(ctx, "%s/%s", dir, files[k]);
        if (!fp) {
            s = VD_ERR_NOMEM;
            goto done;
        }
        s = vd__st_open(ctx, fp, &m->shards[k]);
        vd__free(fp);
        if (s)
            goto done;
        m->n_shards++;
        vd__safetensors *st = m->shards[k];
        const char *path = vd__st_path(st);
        for (int i = 0; i < vd__st_count(st); i++) {
            const vd__st_tensor *t = vd__st_at(st, i);
            char canon[112];
            /* a quantized matrix (vldoc quantize) stores its scales as
             * NAME + VD_QWEN_SCALES_SUFFIX next to it */
            size_t nl = strlen(t->name), sl = strlen(VD_QWEN_SCALES_SUFFIX);
            bool is_sc =
                nl > sl && !strcmp(t->name + nl - sl, VD_QWEN_SCALES_SUFFIX);
            char base[112];
            if (is_sc && nl - sl < sizeof base)
                snprintf(base, sizeof base, "%.*s", (int)(nl - sl), t->name);
            else
                is_sc = false;
            want *w =
                vd__qwen_canon_name(is_sc ? base : t->name, canon, sizeof canon)
                    ? find_want(wl, canon)
                    : NULL;
            if (w && is_sc) {
                if (w->sc || !w->ti.mat) {
                    s = vd__fail(ctx, VD_ERR_MODEL,
                                 "%s: unexpected tensor '%s' (scales stored "
                                 "twice, or for a vector)",
                                 path, t->name);
                    goto done;
                }
                w->sc = t;
                continue;
            }
            if (!w) {
                s = vd__fail(ctx, VD_ERR_MODEL,
                             "%s: unexpected tensor '%s' (not part of "
                             "Qwen2.5-VL with this config.json)",
                             path, t->name);
                goto done;
            }
            if (w->t) {
                s = vd__fail(ctx, VD_ERR_MODEL,
                             "%s: tensor '%s' is stored twice (also as "
                             "'%s' in %s)",
                             path, t->name, w->stored, w->file);
                goto done;
            }
            if (wmap) {
                json_object *f = field(wmap, t->name);
                if (!f || strcmp(json_object_get_string(f), files[k]) != 0) {
                    s = vd__fail(ctx, VD_ERR_MODEL,
                                 "%s: tensor '%s' is not listed for this "
                                 "file in model.safetensors.index.json",
                                 path, t->name);
                    goto done;
                }
            }
            w->t = t;
            w->file = path;
            w->stored = t->name;
        }
    }
done:
    /* file names point into the index JSON: resolve missing-tensor files
     * before it goes */
    for (int i = 0; s == VD_OK && i < wl->n; i++) {
        want *w = &wl->w[i];
        if (w->t || w->ti.optional)
            continue;
        if (w->file)
            s = vd__fail(ctx, VD_ERR_MODEL,
                         "%s/%s: missing tensor '%s' "
                         "(model.safetensors.index.json puts it there)",
                         dir, w->file, w->ti.name);
        else if (idx)
            s = vd__fail(ctx, VD_ERR_MODEL, "%s: missing tensor '%s'", ipath,
                         w->ti.name);
        else
            s = vd__fail(ctx, VD_ERR_MODEL,
                         "%s/model.safetensors: missing tensor '%s'", dir,
                         w->ti.name);
    }
    vd__free(files);
    json_object_put(idx);
    vd__free(ipath);
    return s;
}

/* A matrix stored quantized: int8 (Q8) or packed 4-bit (Q4) rows
 * [rows][bytes per row] and fp16 scales [rows][blocks], the layouts of
 * kern.h. Checked against the shape config.json implies. */
static vd_status bind_quant(vd_ctx *ctx, want *w)
{
    const vd__st_tensor *t = w->t, *sc = w->sc;
    int64_t rows = w->ti.shape[0], cols = w->ti.numel / rows;
    vd__dtype dt = t->dtype == VD_ST_I8 ? VD_DT_Q8 : VD_DT_Q4;
    int64_t nb = dt == VD_DT_Q8 ? VD_Q8_NB(cols) : VD_Q4_NB(cols);
    int64_t rb = dt == VD_DT_Q8 ? nb * VD_QBLK : nb * VD_QBLK / 2;
    if (!sc || sc->dtype != VD_ST_F16 || t->ndim != 2 || t->shape[0] != rows ||
        t->shape[1] != rb || sc->ndim != 2 || sc->shape[0] != rows ||
        sc->shape[1] != nb)
        return vd__fail(ctx, VD_ERR_MODEL,
                        "%s: tensor '%s' is %s: a quantized [%lld, %lld] "
                        "matrix needs %s [%lld, %lld] data and F16 "
                        "[%lld, %lld] scales ('%s%s')",
                        w->file, w->stored, vd__st_dtype_name(t->dtype),
                        (long long)rows, (long long)cols,
                        vd__st_dtype_name(t->dtype), (long long)rows,
                        (long long)rb, (long long)rows, (long long)nb,
                        w->stored, VD_QWEN_SCALES_SUFFIX);
    vd__mat *mt = w->ti.mat;
    mt->dt = dt;
    mt->rows = rows;
    mt->cols = cols;
    mt->data = t->data;
    mt->scales = sc->data;
    mt->own = NULL;
    return VD_OK;
}

static vd_status bind(vd_ctx *ctx, vd__qwen_model *m, wantlist *wl)
{
    size_t nvec = 0;
    for (int i = 0; i < wl->n; i++) {
        want *w = &wl->w[i];
        const vd__st_tensor *t = w->t;
        if (!t) {
            if (w->sc)
                return vd__fail(ctx, VD_ERR_MODEL,
                                "%s: scales '%s%s' without their matrix",
                                vd__st_path(m->shards[0]), w->ti.name,
                                VD_QWEN_SCALES_SUFFIX);
            continue;
        }
        if (w->ti.mat && (t->dtype == VD_ST_I8 || t->dtype == VD_ST_U8)) {
            vd_status s = bind_quant(ctx, w);
            if (s)
                return s;
            continue;
        }
        if (w->sc)
            return vd__fail(ctx, VD_ERR_MODEL,
                            "%s: tensor '%s' is %s but has scales", w->file,
                            w->stored, vd__st_dtype_name(t->dtype));
        if (t->dtype != VD_ST_BF16 && t->dtype != VD_ST_F16 &&
            t->dtype != VD_ST_F32)
            return vd__fail(ctx, VD_ERR_MODEL,
                            "%s: tensor '%s' is %s; BF16, F16 or F32 "
                            "expected",
                            w->file, w->stored, vd__st_dtype_name(t->dtype));
        bool same = t->ndim == w->ti.ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == w->ti.shape[d];
        if (!same) {
            char a[96], b[96];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, w->ti.ndim, w->ti.shape);
            return vd__fail(ctx, VD_ERR_MODEL,
                            "%s: tensor '%s' has shape %s; config.json "
                            "implies %s",
                            w->file, w->stored, a, b);
        }
        if (w->ti.vec)
            nvec += (size_t)t->numel;
    }
    if (nvec) {
        m->vecs = vd__aligned_alloc(ctx, nvec * sizeof(float));
        if (!m->vecs)
            return VD_ERR_NOMEM;
    }
    float *vp = m->vecs;
    for (int i = 0; i < wl->n; i++) {
        want *w = &wl->w[i];
        const vd__st_tensor *t = w->t;
        if (!t || (!w->ti.mat && !w->ti.vec))
            continue; /* a tied lm_head that is stored anyway */
        m->n_params += w->ti.numel;
        m->weight_bytes += t->nbytes + (w->sc ? w->sc->nbytes : 0);
        if (w->ti.mat && w->sc) {
            continue; /* bound by bind_quant */
        } else if (w->ti.vec) {
            vd_status s = vd__st_to_f32(ctx, t, vp);
            if (s)
                return s;
            *w->ti.vec = vp;
            vp += t->numel;
        } else {
            vd__mat *mt = w->ti.mat;
            mt->dt = t->dtype == VD_ST_BF16  ? VD_DT_BF16
                     : t->dtype == VD_ST_F16 ? VD_DT_F16
                                             : VD_DT_F32;
            mt->rows = t->shape[0];
            mt->cols = t->numel / t->shape[0];
            mt->data = t->data;
            mt->scales = NULL;
        }
    }
    if (m->cfg.text.tied)
        m->text.lm_head = m->text.embed;
    return VD_OK;
}

/* ---- quantization at load ---- */

/* Drop the whole pages of [P, P + N) of a read-only file mapping from this
 * process: they were read once to quantize and are not needed again (a
 * later read would fault them back in from the file). */
static void release_pages(const void *p, size_t n)
{
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || !p || !n)
        return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~((uintptr_t)ps - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Replace float matrix *W by its DT copy and release the mapped pages it
 * was read from. Matrices already quantized (a saved file) stay. */
static vd_status quant_one(vd_ctx *ctx, vd__qwen_model *m, vd__mat *w,
                           vd__dtype dt)
{
    if (w->dt == VD_DT_Q8 || w->dt == VD_DT_Q4)
        return VD_OK;
    vd__pool *pool = vd__ctx_pool(ctx);
    if (!pool)
        return VD_ERR_NOMEM;
    vd__mat q;
    vd_status s = vd__quantize(ctx, pool, w, dt, &q);
    if (s)
        return s;
    size_t was = vd__mat_data_bytes(w->dt, w->rows, w->cols);
    release_pages(w->data, was);
    m->weight_bytes = m->weight_bytes - was +
                      vd__mat_data_bytes(dt, q.rows, q.cols) +
                      vd__mat_scale_bytes(dt, q.rows, q.cols);
    *w = q;
    return VD_OK;
}

static vd_status quantize_text(vd_ctx *ctx, vd__qwen_model *m, vd__dtype dt)
{
    const vd__qwen_text_cfg *c = &m->cfg.text;
    vd_status s = VD_OK;
    for (int l = 0; l < c->n_layer && !s; l++) {
        vd__qwen_layer *L = &m->text.layers[l];
        vd__mat *mats[7] = { &L->q,    &L->k,  &L->v,   &L->o,
                             &L->gate, &L->up, &L->down };
        for (int i = 0; i < 7 && !s; i++)
            s = quant_one(ctx, m, mats[i], dt);
        if (!s && vd__cancelled(ctx))
            s = vd__fail(ctx, VD_ERR_CANCELLED, "cancelled");
    }
    /* every row of the lm_head is read for every token; the untied
     * embedding only a row per token, so it stays mapped as stored */
    if (!s && c->tied) {
        s = quant_one(ctx, m, &m->text.embed, VD_DT_Q8);
        m->text.lm_head = m->text.embed;
    } else if (!s) {
        s = quant_one(ctx, m, &m->text.lm_head, VD_DT_Q8);
    }
    return s;
}

static const char *dt_name(vd__dtype dt)
{
    static const char *const n[] = { "f32", "bf16", "f16", "q8", "q4" };
    return (unsigned)dt < 5 ? n[dt] : "?";
}

vd_status vd__qwen_load(vd_ctx *ctx, const char *dir, unsigned flags,
                        vd__qwen_model **out)
{
    *out = NULL;
    vd__qwen_model *m = vd__calloc(ctx, 1, sizeof *m);
    if (!m)
        return VD_ERR_NOMEM;
    wantlist wl = { .ctx = ctx };
    vd_status s;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    if (!(m->dir = vd__strndup(ctx, dir, dl))) {
        s = VD_ERR_NOMEM;
        goto fail;
    }
    if ((s = vd__qwen_cfg_load(ctx, m->dir, &m->cfg)))
        goto fail;
    m->text.layers =
        vd__calloc(ctx, (size_t)m->cfg.text.n_layer, sizeof *m->text.layers);
    m->vision.blocks =
        vd__calloc(ctx, (size_t)m->cfg.vision.depth, sizeof *m->vision.blocks);
    if (!m->text.layers || !m->vision.blocks) {
        s = VD_ERR_NOMEM;
        goto fail;
    }
    vd__qwen_inventory(&m->cfg, m, collect, &wl);
    if ((s = wl.err))
        goto fail;
    qsort(wl.w, (size_t)wl.n, sizeof *wl.w, cmp_want);
    if ((s = open_weights(ctx, m, &wl)) || (s = bind(ctx, m, &wl)))
        goto fail;
    if (flags & (VD_QWEN_LOAD_Q8 | VD_QWEN_LOAD_Q4)) {
        double t0 = vd__now();
        vd__dtype dt = flags & VD_QWEN_LOAD_Q4 ? VD_DT_Q4 : VD_DT_Q8;
        if ((s = quantize_text(ctx, m, dt)))
            goto fail;
        vd__info(ctx, "%s: text decoder quantized to %s in %.1f s", m->dir,
                 dt_name(dt), vd__now() - t0);
    }
    snprintf(m->weights, sizeof m->weights, "%s",
             dt_name(m->text.layers[0].gate.dt));
    if (!(flags & VD_QWEN_LOAD_NO_TOKENIZER)) {
        char *tp = vd__asprintf(ctx, "%s/tokenizer.json", m->dir);
        if (!tp) {
            s = VD_ERR_NOMEM;
            goto fail;
        }
        s = vd__qwen_tok_load(ctx, tp, &m->tok);
        vd__free(tp);
        if (s)
            goto fail;
        if (vd__qwen_tok_size(m->tok) > m->cfg.text.vocab) {
            s = vd__fail(ctx, VD_ERR_MODEL,
                         "%s/tokenizer.json: %d tokens but the model has "
                         "only %d embedding rows",
                         m->dir, vd__qwen_tok_size(m->tok), m->cfg.text.vocab);
            goto fail;
        }
    }
    vd__free(wl.w);
    *out = m;
    return VD_OK;
fail:
    vd__free(wl.w);
    vd__qwen_free(m);
    return s;
}

static void free_mat(void *user, const vd__qwen_tinfo *ti)
{
    (void)user;
    if (ti->mat)
        vd__mat_free(ti->mat);
}

void vd__qwen_free(vd__qwen_model *m)
{
    if (!m)
        return;
    /* quantized copies (a tied lm_head is not listed: it is the embed) */
    if (m->text.layers && m->vision.blocks)
        vd__qwen_inventory(&m->cfg, m, free_mat, NULL);
    vd__qwen_tok_free(m->tok);
    for (int i = 0; i < m->n_shards; i++)
        vd__st_close(m->shards[i]);
    vd__free(m->shards);
    vd__aligned_free(m->vecs);
    vd__free(m->text.layers);
    vd__free(m->vision.blocks);
    vd__free(m->dir);
    vd__free(m);
}

/* ---- finding the model folder ---- */

static bool is_dir(const char *p)
{
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

char *vd__hf_cache_dir(vd_ctx *ctx)
{
    const char *e;
    if ((e = getenv("HF_HUB_CACHE")) && *e)
        return vd__strdup(ctx, e);
    if ((e = getenv("HUGGINGFACE_HUB_CACHE")) && *e)
        return vd__strdup(ctx, e);
    if ((e = getenv("HF_HOME")) && *e)
        return vd__asprintf(ctx, "%s/hub", e);
    if ((e = getenv("XDG_CACHE_HOME")) && *e)
        return vd__asprintf(ctx, "%s/huggingface/hub", e);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return NULL;
    return vd__asprintf(ctx, "%s/.cache/huggingface/hub", home);
}

static bool repo_like(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') ||
        s[0] == '.' || slash[1] == '.')
        return false;
    for (const char *p = s; *p; p++)
        if (!(p == slash || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

/* The snapshot folder of REPO in the HF cache, or NULL. */
static char *cached_snapshot(vd_ctx *ctx, const char *repo)
{
    char *cache = vd__hf_cache_dir(ctx);
    if (!cache)
        return NULL;
    /* the cache names a repo "models--org--name" */
    const char *slash = strchr(repo, '/');
    char *base = vd__asprintf(ctx, "%s/models--%.*s--%s", cache,
                              (int)(slash - repo), repo, slash + 1);
    vd__free(cache);
    if (!base)
        return NULL;
    char *out = NULL;
    /* refs/main holds the commit of the snapshot the hub client chose */
    char *ref = vd__asprintf(ctx, "%s/refs/main", base);
    char *buf = NULL;
    size_t len = 0;
    vd__errsave es;
    vd__err_save(ctx, &es);
    if (ref && vd__file_read(ctx, ref, 256, &buf, &len) == VD_OK) {
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
            buf[--len] = '\0';
        if (plain_file_name(buf)) {
            out = vd__asprintf(ctx, "%s/snapshots/%s", base, buf);
            if (out && !is_dir(out))
                VD_FREE(out);
        }
    }
    vd__err_restore(ctx, &es);
    vd__free(buf);
    vd__free(ref);
    if (!out) { /* else the newest snapshot */
        char *sd = vd__asprintf(ctx, "%s/snapshots", base);
        DIR *d = sd ? opendir(sd) : NULL;
        struct dirent *de;
        double best = -1;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char *p = vd__asprintf(ctx, "%s/%s", sd, de->d_name);
            struct stat sb;
            if (p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) &&
                (double)sb.st_mtime > best) {
                best = (double)sb.st_mtime;
                vd__free(out);
                out = p;
                p = NULL;
            }
            vd__free(p);
        }
        if (d)
            closedir(d);
        vd__free(sd);
    }
    vd__free(base);
    return out;
}

#define HOW_TO_GET                                                             \
    "pass --model DIR (a Hugging Face folder with config.json, "               \
    "tokenizer.json and *.safetensors), set VLDOC_MODEL=DIR, or download "     \
    "the default model with `vldoc pull " VD_QWEN_DEFAULT_REPO "` (about "     \
    "7.5 GB, into the Hugging Face cache)"

vd_status vd__qwen_locate(vd_ctx *ctx, const char *arg, char **out)
{
    *out = NULL;
    if (arg && *arg) {
        if (is_dir(arg)) {
            *out = vd__strdup(ctx, arg);
            return *out ? VD_OK : VD_ERR_NOMEM;
        }
        if (repo_like(arg)) {
            *out = cached_snapshot(ctx, arg);
            if (*out)
                return VD_OK;
            return vd__fail(ctx, VD_ERR_MODEL,
                            "%s: no such folder, and that repository is not "
                            "in the Hugging Face cache; download it with "
                            "`vldoc pull %s`",
                            arg, arg);
        }
        return vd__fail(ctx, VD_ERR_MODEL, "%s: no such model folder; %s", arg,
                        HOW_TO_GET);
    }
    const char *env = getenv("VLDOC_MODEL");
    if (env && *env) {
        if (is_dir(env)) {
            *out = vd__strdup(ctx, env);
            return *out ? VD_OK : VD_ERR_NOMEM;
        }
        return vd__fail(ctx, VD_ERR_MODEL, "VLDOC_MODEL=%s is not a folder; %s",
                        env, HOW_TO_GET);
    }
    *out = cached_snapshot(ctx, VD_QWEN_DEFAULT_REPO);
    if (*out)
        return VD_OK;
    return vd__fail(ctx, VD_ERR_MODEL, "no Qwen2.5-VL model found: %s",
                    HOW_TO_GET);
}

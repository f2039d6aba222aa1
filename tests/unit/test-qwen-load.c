/* Unit tests for lib/qwen-load.c: the two reference checkpoints load with
 * the right config; the tensor inventory equals the published 3B/7B/72B
 * layouts; the newer tensor naming and sharded files load to the same
 * weights; and broken checkpoints made here from the tiny one (truncated,
 * lying offsets, wrong dtype or shape, missing or unexpected tensor,
 * missing config key, bad index) are refused with a message naming the
 * file and the tensor or key. Scratch files go under the build dir. */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "qwen.h"
#include "safetensors.h"

static const char *shared;
static char tiny[1024], untied[1024];
static const char *tmp = "test-qwen-load.tmp";

/* ---- a tiny safetensors rewriter ---- */

typedef struct stfile {
    char *buf; /* whole file */
    size_t len;
    json_object *header; /* parsed header */
    size_t data_off;     /* 8 + header length */
} stfile;

static int st_read(vd_ctx *ctx, const char *path, stfile *f)
{
    memset(f, 0, sizeof *f);
    if (vd__file_read(ctx, path, (size_t)1 << 30, &f->buf, &f->len))
        return -1;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | (unsigned char)f->buf[i];
    char *h = strndup(f->buf + 8, (size_t)n);
    f->header = json_tokener_parse(h);
    free(h);
    f->data_off = 8 + (size_t)n;
    return f->header ? 0 : -1;
}

static void st_release(stfile *f)
{
    json_object_put(f->header);
    vd__free(f->buf);
}

/* Write HEADER + DATA[DLEN] as a safetensors file. */
static int st_write_raw(const char *path, json_object *header, const char *data,
                        size_t dlen)
{
    const char *h =
        json_object_to_json_string_ext(header, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(h);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)n >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(h, 1, n, fp);
    fwrite(data, 1, dlen, fp);
    return fclose(fp);
}

static int st_write(const char *path, const stfile *f, size_t dlen)
{
    return st_write_raw(path, f->header, f->buf + f->data_off, dlen);
}

static size_t st_data_len(const stfile *f)
{
    return f->len - f->data_off;
}

/* ---- scratch model folders ---- */

static void rm_rf(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
}

/* A folder NAME under tmp with links to SRC's config files. */
static const char *mkmodel(const char *src, const char *name)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    rm_rf(dir);
    mkdir(tmp, 0777);
    mkdir(dir, 0777);
    const char *files[] = { "config.json", "generation_config.json",
                            "preprocessor_config.json" };
    for (int i = 0; i < 3; i++) {
        char a[2048], b[2048];
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        if (symlink(a, b) != 0)
            tap_diag("symlink %s: %s", b, strerror(errno));
    }
    return dir;
}

static void link_weights(const char *src, const char *dir)
{
    char a[2048], b[2048];
    snprintf(a, sizeof a, "%s/model.safetensors", src);
    snprintf(b, sizeof b, "%s/model.safetensors", dir);
    if (symlink(a, b) != 0)
        tap_diag("symlink %s: %s", b, strerror(errno));
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* Load DIR and expect failure with a message containing every NEEDLE. */
static void expect_fail(vd_ctx *ctx, const char *dir, const char *what,
                        const char *n1, const char *n2)
{
    vd_ctx_clear(ctx);
    vd__qwen_model *m = NULL;
    vd_status s = vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m);
    const char *msg = vd_ctx_errmsg(ctx);
    tap_ok(s != VD_OK && !m && strstr(msg, n1) && (!n2 || strstr(msg, n2)),
           "%s: refused (%s)", what, msg);
    vd__qwen_free(m);
}

static json_object *tensor(stfile *f, const char *name)
{
    json_object *t = NULL;
    json_object_object_get_ex(f->header, name, &t);
    return t;
}

static bool same_mat(const vd__mat *a, const vd__mat *b)
{
    if (a->dt != b->dt || a->rows != b->rows || a->cols != b->cols)
        return false;
    size_t es = a->dt == VD_DT_F32 ? 4 : 2;
    return memcmp(a->data, b->data, (size_t)(a->rows * a->cols) * es) == 0;
}

/* ---- the tests ---- */

static void test_reference(vd_ctx *ctx)
{
    vd__qwen_model *m = NULL;
    vd_ctx_clear(ctx);
    tap_ok(vd__qwen_load(ctx, tiny, VD_QWEN_LOAD_NO_TOKENIZER, &m) == VD_OK,
           "tiny loads: %s", vd_ctx_errmsg(ctx));
    if (!m)
        return;
    const vd__qwen_cfg *c = &m->cfg;
    tap_ok(c->text.hidden == 64 && c->text.intermediate == 128 &&
               c->text.n_layer == 2 && c->text.n_head == 4 &&
               c->text.n_kv_head == 2 && c->text.head_dim == 16 &&
               c->text.vocab == 151936 && c->text.tied,
           "tiny text config");
    tap_ok(c->text.mrope[0] == 2 && c->text.mrope[1] == 3 &&
               c->text.mrope[2] == 3 && c->text.rms_eps == 1e-6f &&
               c->text.rope_theta == 1e6f,
           "tiny rope and norm config");
    tap_ok(c->vision.depth == 4 && c->vision.hidden == 64 &&
               c->vision.n_head == 4 && c->vision.head_dim == 16 &&
               c->vision.intermediate == 128 && c->vision.out_hidden == 64 &&
               c->vision.patch == 14 && c->vision.merge == 2 &&
               c->vision.temporal_patch == 2 && c->vision.window_size == 112 &&
               !c->vision.fullatt[0] && c->vision.fullatt[1] &&
               !c->vision.fullatt[2] && c->vision.fullatt[3],
           "tiny vision config");
    tap_ok(c->gen.n_eos == 2 && c->gen.eos[0] == 151645 &&
               c->gen.eos[1] == 151643 && c->gen.pad_id == 151643 &&
               !c->gen.do_sample,
           "generation_config.json");
    tap_ok(c->pre.min_pixels == 3136 && c->pre.max_pixels == 12845056 &&
               c->pre.mean[0] == 0.48145466f && c->pre.std[2] == 0.27577711f,
           "preprocessor_config.json");
    tap_ok(c->image_token_id == 151655 && c->vision_start_id == 151652 &&
               c->vision_end_id == 151653 && !strcmp(c->dtype, "bfloat16"),
           "token ids and dtype");
    tap_ok(m->text.lm_head.data == m->text.embed.data &&
               m->text.embed.dt == VD_DT_BF16 && m->text.embed.rows == 151936 &&
               m->text.embed.cols == 64,
           "tied lm_head is the embedding (no copy)");
    tap_ok(m->vision.patch_embed.rows == 64 &&
               m->vision.patch_embed.cols == 1176 &&
               m->vision.mlp0.rows == 256 && m->vision.mlp2.rows == 64,
           "vision weights bound");
    /* norms widened exactly from bf16 */
    vd__safetensors *st = m->shards[0];
    const vd__st_tensor *t = vd__st_find(st, "model.layers.1.input_layernorm"
                                             ".weight");
    float tmpv[64];
    tap_ok(t && vd__st_to_f32(ctx, t, tmpv) == VD_OK &&
               memcmp(tmpv, m->text.layers[1].in_norm, sizeof tmpv) == 0,
           "input_layernorm widened exactly");
    int64_t sum = 0;
    for (int i = 0; i < vd__st_count(st); i++)
        sum += vd__st_at(st, i)->numel;
    tap_ok(m->n_params == sum, "parameter count %lld", (long long)sum);
    vd__qwen_free(m);

    m = NULL;
    tap_ok(vd__qwen_load(ctx, untied, VD_QWEN_LOAD_NO_TOKENIZER, &m) == VD_OK &&
               m && !m->cfg.text.tied &&
               m->text.lm_head.data != m->text.embed.data &&
               m->text.lm_head.rows == 151936 && m->cfg.text.mrope[0] == 4 &&
               m->cfg.text.n_layer == 3 && m->cfg.vision.hidden == 48 &&
               m->cfg.vision.fullatt[0] && m->cfg.vision.fullatt[2],
           "tiny-untied loads with its own lm_head: %s", vd_ctx_errmsg(ctx));
    vd__qwen_free(m);
}

typedef struct layout_cmp {
    FILE *fp;
    int n, bad;
    int64_t params;
    char first_bad[256];
} layout_cmp;

static void cmp_layout(void *user, const vd__qwen_tinfo *ti)
{
    layout_cmp *lc = user;
    char line[512];
    do {
        if (!fgets(line, sizeof line, lc->fp)) {
            lc->bad++;
            return;
        }
    } while (line[0] == '#');
    char want[512];
    int k = snprintf(want, sizeof want, "%s\t[", ti->name);
    for (int i = 0; i < ti->ndim; i++)
        k += snprintf(want + k, sizeof want - (size_t)k, "%s%lld",
                      i ? ", " : "", (long long)ti->shape[i]);
    snprintf(want + k, sizeof want - (size_t)k, "]\t%lld\t",
             (long long)ti->numel);
    if (strncmp(line, want, strlen(want)) != 0) {
        if (!lc->bad++)
            snprintf(lc->first_bad, sizeof lc->first_bad, "%s", ti->name);
    }
    lc->n++;
    if (!ti->optional)
        lc->params += ti->numel;
}

static void test_layouts(vd_ctx *ctx)
{
    static const struct {
        const char *size;
        int n;
        int64_t params;
    } real[] = { { "3B", 825, 3754622976LL },
                 { "7B", 729, 8292166656LL },
                 { "72B", 1353, 73410777344LL } };
    for (int i = 0; i < 3; i++) {
        char src[1200], dir[1200], layout[1200];
        snprintf(src, sizeof src,
                 "%s/refs/qwen25vl/real-configs/config-%s.json", shared,
                 real[i].size);
        snprintf(dir, sizeof dir, "%s/real-%s", tmp, real[i].size);
        rm_rf(dir);
        mkdir(tmp, 0777);
        mkdir(dir, 0777);
        char cj[1300];
        snprintf(cj, sizeof cj, "%s/config.json", dir);
        if (symlink(src, cj) != 0)
            tap_diag("symlink: %s", strerror(errno));
        vd__qwen_cfg cfg;
        vd_ctx_clear(ctx);
        vd_status s = vd__qwen_cfg_load(ctx, dir, &cfg);
        tap_ok(s == VD_OK, "%s config parses: %s", real[i].size,
               vd_ctx_errmsg(ctx));
        if (s)
            continue;
        snprintf(layout, sizeof layout, "%s/refs/qwen25vl/layout-%s.txt",
                 shared, real[i].size);
        layout_cmp lc = { fopen(layout, "r"), 0, 0, 0, "" };
        if (!lc.fp) {
            tap_ok(0, "open %s", layout);
            continue;
        }
        int n = vd__qwen_inventory(&cfg, NULL, cmp_layout, &lc);
        fclose(lc.fp);
        /* a tied model's state dict lists lm_head (optional here), its
         * files do not, and the published totals count it once */
        int64_t params = lc.params;
        tap_ok(n == real[i].n && lc.bad == 0 && params == real[i].params,
               "%s inventory equals the published layout (%d tensors, %lld "
               "parameters%s%s)",
               real[i].size, n, (long long)params,
               lc.bad ? "; first mismatch " : "", lc.first_bad);
    }
}

/* Rename every tensor to the newer naming and load. */
static void test_new_names(vd_ctx *ctx, const vd__qwen_model *ref)
{
    const char *dir = mkmodel(tiny, "newnames");
    char src[1200], dst[1200];
    snprintf(src, sizeof src, "%s/model.safetensors", tiny);
    stfile f;
    if (st_read(ctx, src, &f)) {
        tap_ok(0, "read %s", src);
        return;
    }
    json_object *nh = json_object_new_object();
    json_object_object_foreach(f.header, k, v)
    {
        char name[256];
        if (!strncmp(k, "visual.", 7))
            snprintf(name, sizeof name, "model.visual.%s", k + 7);
        else if (!strncmp(k, "model.", 6))
            snprintf(name, sizeof name, "model.language_model.%s", k + 6);
        else
            snprintf(name, sizeof name, "%s", k);
        json_object_object_add(nh, name, json_object_get(v));
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    st_write_raw(dst, nh, f.buf + f.data_off, st_data_len(&f));
    json_object_put(nh);
    st_release(&f);
    vd__qwen_model *m = NULL;
    vd_ctx_clear(ctx);
    vd_status s = vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m);
    tap_ok(s == VD_OK && m &&
               same_mat(&m->text.layers[1].down, &ref->text.layers[1].down) &&
               same_mat(&m->vision.blocks[2].qkv, &ref->vision.blocks[2].qkv) &&
               !memcmp(m->vision.mlp2_b, ref->vision.mlp2_b, 64 * 4),
           "model.language_model.* / model.visual.* naming loads the same "
           "weights: %s",
           vd_ctx_errmsg(ctx));
    vd__qwen_free(m);
}

/* Split the tiny checkpoint into two shards + index. MUTATE may spoil the
 * index before it is written. */
static const char *make_sharded(vd_ctx *ctx, const char *name,
                                void (*mutate)(json_object *wmap))
{
    const char *d = mkmodel(tiny, name);
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", d);
    char src[1200];
    snprintf(src, sizeof src, "%s/model.safetensors", tiny);
    stfile f;
    if (st_read(ctx, src, &f))
        return dir;
    json_object *h[2] = { json_object_new_object(), json_object_new_object() };
    json_object *wmap = json_object_new_object();
    static const char *names[2] = { "model-00001-of-00002.safetensors",
                                    "model-00002-of-00002.safetensors" };
    /* vision to shard 1, text to shard 2, offsets rebased */
    size_t off[2] = { 0, 0 };
    char *data[2] = { malloc(st_data_len(&f)), malloc(st_data_len(&f)) };
    json_object_object_foreach(f.header, k, v)
    {
        if (!strcmp(k, "__metadata__"))
            continue;
        int s = strncmp(k, "visual.", 7) == 0 ? 0 : 1;
        json_object *o = json_object_array_get_idx(
            json_object_object_get(v, "data_offsets"), 0);
        json_object *e = json_object_array_get_idx(
            json_object_object_get(v, "data_offsets"), 1);
        size_t b = (size_t)json_object_get_int64(o);
        size_t en = (size_t)json_object_get_int64(e);
        memcpy(data[s] + off[s], f.buf + f.data_off + b, en - b);
        json_object *t = json_object_new_object();
        json_object_object_add(
            t, "dtype", json_object_get(json_object_object_get(v, "dtype")));
        json_object_object_add(
            t, "shape", json_object_get(json_object_object_get(v, "shape")));
        json_object *offs = json_object_new_array();
        json_object_array_add(offs, json_object_new_int64((int64_t)off[s]));
        json_object_array_add(
            offs, json_object_new_int64((int64_t)(off[s] + en - b)));
        json_object_object_add(t, "data_offsets", offs);
        json_object_object_add(h[s], k, t);
        json_object_object_add(wmap, k, json_object_new_string(names[s]));
        off[s] += en - b;
    }
    for (int s = 0; s < 2; s++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, names[s]);
        st_write_raw(p, h[s], data[s], off[s]);
        json_object_put(h[s]);
        free(data[s]);
    }
    if (mutate)
        mutate(wmap);
    json_object *idx = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "total_size",
                           json_object_new_int64((int64_t)(off[0] + off[1])));
    json_object_object_add(idx, "metadata", meta);
    json_object_object_add(idx, "weight_map", wmap);
    char p[1200];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_text(p, json_object_to_json_string_ext(idx, JSON_C_TO_STRING_PRETTY));
    json_object_put(idx);
    st_release(&f);
    return dir;
}

static void spoil_move(json_object *wmap)
{
    json_object_object_add(
        wmap, "model.norm.weight",
        json_object_new_string("model-00001-of-00002.safetensors"));
}

static void spoil_escape(json_object *wmap)
{
    json_object_object_add(wmap, "model.norm.weight",
                           json_object_new_string("../../etc/passwd"));
}

static void spoil_extra(json_object *wmap)
{
    json_object_object_add(
        wmap, "model.layers.9.mlp.up_proj.weight",
        json_object_new_string("model-00002-of-00002.safetensors"));
}

static void test_sharded(vd_ctx *ctx, const vd__qwen_model *ref)
{
    const char *dir = make_sharded(ctx, "sharded", NULL);
    vd__qwen_model *m = NULL;
    vd_ctx_clear(ctx);
    vd_status s = vd__qwen_load(ctx, dir, VD_QWEN_LOAD_NO_TOKENIZER, &m);
    tap_ok(s == VD_OK && m && m->n_shards == 2 &&
               same_mat(&m->text.embed, &ref->text.embed) &&
               same_mat(&m->vision.patch_embed, &ref->vision.patch_embed) &&
               m->n_params == ref->n_params,
           "two shards + index load the same weights: %s", vd_ctx_errmsg(ctx));
    vd__qwen_free(m);
    dir = make_sharded(ctx, "shard-moved", spoil_move);
    expect_fail(ctx, dir, "index names the wrong shard", "model.norm.weight",
                "model-0000");
    dir = make_sharded(ctx, "shard-escape", spoil_escape);
    expect_fail(ctx, dir, "index file name outside the folder",
                "model.safetensors.index.json", "../../etc/passwd");
    dir = make_sharded(ctx, "shard-extra", spoil_extra);
    expect_fail(ctx, dir, "index lists an unexpected tensor",
                "unexpected tensor", "model.layers.9.mlp.up_proj.weight");
    /* a shard gone */
    char p[1200];
    dir = make_sharded(ctx, "shard-gone", NULL);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    unlink(p);
    expect_fail(ctx, dir, "missing shard file",
                "model-00002-of-00002.safetensors", NULL);
}

typedef void (*spoil_fn)(stfile *f, size_t *dlen);

static void bad_truncate(stfile *f, size_t *dlen)
{
    (void)f;
    *dlen /= 2;
}

static void bad_offsets(stfile *f, size_t *dlen)
{
    json_object *t = tensor(f, "model.layers.0.mlp.up_proj.weight");
    json_object *o = json_object_object_get(t, "data_offsets");
    int64_t b = json_object_get_int64(json_object_array_get_idx(o, 0));
    int64_t e = json_object_get_int64(json_object_array_get_idx(o, 1));
    json_object_array_put_idx(o, 0, json_object_new_int64(b + (int64_t)*dlen));
    json_object_array_put_idx(o, 1, json_object_new_int64(e + (int64_t)*dlen));
}

static void bad_overlap(stfile *f, size_t *dlen)
{
    (void)dlen;
    json_object *a = tensor(f, "model.layers.0.mlp.up_proj.weight");
    json_object *b = tensor(f, "model.layers.0.mlp.gate_proj.weight");
    json_object_object_add(
        b, "data_offsets",
        json_object_get(json_object_object_get(a, "data_offsets")));
}

static void bad_dtype(stfile *f, size_t *dlen)
{
    (void)dlen;
    json_object *t = tensor(f, "model.layers.1.self_attn.o_proj.weight");
    json_object_object_add(t, "dtype", json_object_new_string("I16"));
}

static void bad_shape(stfile *f, size_t *dlen)
{
    (void)dlen;
    json_object *t = tensor(f, "model.layers.1.self_attn.q_proj.weight");
    json_object *sh = json_object_new_array();
    json_object_array_add(sh, json_object_new_int(32));
    json_object_array_add(sh, json_object_new_int(128));
    json_object_object_add(t, "shape", sh);
}

static void bad_missing(stfile *f, size_t *dlen)
{
    (void)dlen;
    json_object_object_del(f->header, "visual.blocks.2.attn.proj.bias");
}

static void bad_unexpected(stfile *f, size_t *dlen)
{
    /* an empty tensor at the end: its only fault is its name */
    json_object *t = json_object_new_object();
    json_object_object_add(t, "dtype", json_object_new_string("BF16"));
    json_object *sh = json_object_new_array();
    json_object_array_add(sh, json_object_new_int(0));
    json_object_object_add(t, "shape", sh);
    json_object *o = json_object_new_array();
    json_object_array_add(o, json_object_new_int64((int64_t)*dlen));
    json_object_array_add(o, json_object_new_int64((int64_t)*dlen));
    json_object_object_add(t, "data_offsets", o);
    json_object_object_add(f->header, "model.extra_norm.weight", t);
}

static void test_bad(vd_ctx *ctx)
{
    static const struct {
        const char *name, *what;
        spoil_fn fn;
        const char *n1, *n2;
    } cases[] = {
        { "truncated", "truncated file", bad_truncate, "model.safetensors",
          "truncated" },
        { "offsets", "header lying about offsets", bad_offsets,
          "model.layers.0.mlp.up_proj.weight", "outside" },
        { "overlap", "overlapping tensors", bad_overlap, "overlap",
          "model.layers.0.mlp." },
        { "dtype", "wrong dtype", bad_dtype,
          "model.layers.1.self_attn.o_proj.weight", "I16" },
        { "shape", "wrong shape", bad_shape,
          "model.layers.1.self_attn.q_proj.weight", "[32, 128]" },
        { "missing", "missing tensor", bad_missing,
          "missing tensor 'visual.blocks.2.attn.proj.bias'",
          "model.safetensors" },
        { "unexpected", "unexpected tensor", bad_unexpected,
          "unexpected tensor 'model.extra_norm.weight'", "model.safetensors" },
    };
    char src[1200];
    snprintf(src, sizeof src, "%s/model.safetensors", tiny);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        stfile f;
        if (st_read(ctx, src, &f)) {
            tap_ok(0, "read %s", src);
            continue;
        }
        const char *dir = mkmodel(tiny, cases[i].name);
        size_t dlen = st_data_len(&f);
        cases[i].fn(&f, &dlen);
        char dst[1200];
        snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
        st_write(dst, &f, dlen);
        st_release(&f);
        expect_fail(ctx, dir, cases[i].what, cases[i].n1, cases[i].n2);
    }

    /* header length beyond the file */
    const char *dir = mkmodel(tiny, "hugeheader");
    char dst[1200];
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    FILE *fp = fopen(dst, "wb");
    if (fp) {
        unsigned char b[16] = { 0x00, 0x10, 0, 0, 0, 0, 0, 0, '{', '}' };
        fwrite(b, 1, sizeof b, fp);
        fclose(fp);
    }
    expect_fail(ctx, dir, "header length beyond the file", "model.safetensors",
                "header");
    dir = mkmodel(tiny, "badjson");
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    fp = fopen(dst, "wb");
    if (fp) {
        unsigned char b[16] = { 6, 0,   0,   0,   0,   0,   0,
                                0, '{', '"', 'a', '"', ':', '[' };
        fwrite(b, 1, 14, fp);
        fclose(fp);
    }
    expect_fail(ctx, dir, "header that is not JSON", "model.safetensors",
                "JSON");

    /* config problems */
    static const struct {
        const char *name, *from, *to, *what, *n1, *n2;
    } cfgs[] = {
        { "nohidden", "\"hidden_size\": 64,", "", "missing config key",
          "config.json", "missing key 'hidden_size'" },
        { "nomrope", "\"mrope_section\"", "\"mrope_sectio\"",
          "missing mrope_section", "config.json", "mrope_section" },
        { "badmrope", "      2,\n      3,\n      3",
          "      2,\n      3,\n  3,4", "mrope_section of 4", "config.json",
          "mrope_section" },
        { "headdiv", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3",
          "heads not divisible", "config.json", "num_key_value_heads" },
        { "layers3", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3",
          "more layers than stored", "missing tensor", "model.layers.2." },
        { "inter", "\"intermediate_size\": 128,\n  \"num_hidden_layers\"",
          "\"intermediate_size\": 96,\n  \"num_hidden_layers\"",
          "intermediate_size disagrees with the weights", "model.layers.0.mlp.",
          "implies" },
        { "qwen2vl", "\"model_type\": \"qwen2_5_vl\"",
          "\"model_type\": \"qwen2_vl\"", "another model type", "config.json",
          "qwen2_vl" },
        { "novision", "\"vision_config\"", "\"vision_confi\"",
          "missing vision_config", "config.json", "vision_config" },
        { "hugewidth", "\"hidden_size\": 64,", "\"hidden_size\": 99999999,",
          "absurd width", "config.json", "hidden_size" },
    };
    char cpath[1200];
    snprintf(cpath, sizeof cpath, "%s/config.json", tiny);
    char *cj = NULL;
    size_t cl;
    if (vd__file_read(ctx, cpath, 1 << 20, &cj, &cl)) {
        tap_ok(0, "read %s", cpath);
        return;
    }
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        dir = mkmodel(tiny, cfgs[i].name);
        char p[1200];
        snprintf(p, sizeof p, "%s/config.json", dir);
        unlink(p);
        char *at = strstr(cj, cfgs[i].from);
        if (!at) {
            tap_ok(0, "%s: pattern not in config.json", cfgs[i].name);
            continue;
        }
        FILE *o = fopen(p, "w");
        fwrite(cj, 1, (size_t)(at - cj), o);
        fputs(cfgs[i].to, o);
        fputs(at + strlen(cfgs[i].from), o);
        fclose(o);
        link_weights(tiny, dir);
        expect_fail(ctx, dir, cfgs[i].what, cfgs[i].n1, cfgs[i].n2);
    }
    vd__free(cj);
    dir = mkmodel(tiny, "noweights");
    expect_fail(ctx, dir, "no safetensors at all", "no model.safetensors",
                NULL);
}

static void test_locate(vd_ctx *ctx)
{
    char *d = NULL;
    char cache[1200], snap[1300], ref[1400];
    mkdir(tmp, 0777);
    snprintf(cache, sizeof cache, "%s/hfhome", tmp);
    rm_rf(cache);
    snprintf(snap, sizeof snap,
             "%s/hub/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/abc123",
             cache);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/../def456'", snap, snap);
    if (system(cmd) != 0)
        tap_diag("mkdir failed");
    snprintf(ref, sizeof ref,
             "%s/hub/models--Qwen--Qwen2.5-VL-3B-Instruct/refs", cache);
    mkdir(ref, 0777);
    strcat(ref, "/main");
    write_text(ref, "abc123\n");
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("VLDOC_MODEL");
    setenv("HF_HOME", cache, 1);
    vd_ctx_clear(ctx);
    vd_status s = vd__qwen_locate(ctx, NULL, &d);
    tap_ok(s == VD_OK && d && strcmp(d, snap) == 0,
           "HF cache snapshot named by refs/main");
    vd__free(d);
    d = NULL;
    tap_ok(vd__qwen_locate(ctx, "Qwen/Qwen2.5-VL-3B-Instruct", &d) == VD_OK &&
               d && strcmp(d, snap) == 0,
           "repo id resolves through the cache");
    vd__free(d);
    d = NULL;
    setenv("VLDOC_MODEL", tiny, 1);
    tap_ok(vd__qwen_locate(ctx, NULL, &d) == VD_OK && d && strcmp(d, tiny) == 0,
           "VLDOC_MODEL wins over the cache");
    vd__free(d);
    d = NULL;
    tap_ok(vd__qwen_locate(ctx, untied, &d) == VD_OK && d &&
               strcmp(d, untied) == 0,
           "an explicit folder wins over VLDOC_MODEL");
    vd__free(d);
    d = NULL;
    unsetenv("VLDOC_MODEL");
    snprintf(cache, sizeof cache, "%s/empty-home", tmp);
    setenv("HF_HOME", cache, 1);
    vd_ctx_clear(ctx);
    s = vd__qwen_locate(ctx, NULL, &d);
    tap_ok(s == VD_ERR_MODEL && !d && strstr(vd_ctx_errmsg(ctx), "--model") &&
               strstr(vd_ctx_errmsg(ctx), "VLDOC_MODEL") &&
               strstr(vd_ctx_errmsg(ctx), "vldoc pull Qwen/"),
           "no model: the message says how to get one (%s)",
           vd_ctx_errmsg(ctx));
    vd_ctx_clear(ctx);
    tap_ok(vd__qwen_locate(ctx, "Org/Missing-Model", &d) == VD_ERR_MODEL &&
               strstr(vd_ctx_errmsg(ctx), "vldoc pull Org/Missing-Model"),
           "uncached repo id: says to pull it");
    unsetenv("HF_HOME");
}

int main(void)
{
    shared = tap_shared();
    tap_plan_late();
    snprintf(tiny, sizeof tiny, "%s/refs/qwen25vl/tiny/checkpoint", shared);
    snprintf(untied, sizeof untied, "%s/refs/qwen25vl/tiny-untied/checkpoint",
             shared);
    vd_ctx *ctx = vd_ctx_new(NULL);
    test_reference(ctx);
    test_layouts(ctx);
    vd__qwen_model *ref = NULL;
    if (vd__qwen_load(ctx, tiny, VD_QWEN_LOAD_NO_TOKENIZER, &ref) == VD_OK) {
        test_new_names(ctx, ref);
        test_sharded(ctx, ref);
    }
    vd__qwen_free(ref);
    test_bad(ctx);
    test_locate(ctx);
    vd_ctx_free(ctx);
    rm_rf(tmp);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

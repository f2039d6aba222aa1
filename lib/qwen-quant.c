/* Qwen2.5-VL, saved quantized weights (`vldoc quantize`): a model folder
 * in, a model folder out whose model.safetensors holds the text decoder
 * already quantized (Q8 or Q4, layouts of kern.h) and everything else as
 * stored, so loading it is a plain mmap with no quantization pass. The
 * format is ordinary safetensors (I8 / U8 data, F16 scales under
 * NAME + VD_QWEN_SCALES_SUFFIX) that any safetensors reader can open;
 * docs/performance.md describes it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "qwen.h"
#include "safetensors.h"

/* Files of a model folder besides the weights, copied as they are. */
static const char *const side_files[] = { "config.json",
                                          "generation_config.json",
                                          "preprocessor_config.json",
                                          "tokenizer.json",
                                          "tokenizer_config.json",
                                          "vocab.json",
                                          "merges.txt",
                                          "chat_template.json",
                                          "chat_template.jinja",
                                          "special_tokens_map.json",
                                          "added_tokens.json",
                                          NULL };

/* One tensor of the output file. */
typedef struct otensor {
    char name[128];
    const char *dtype; /* safetensors dtype name */
    int ndim;
    int64_t shape[5];
    const void *data;
    size_t nbytes;
} otensor;

typedef struct olist {
    vd_ctx *ctx;
    const vd__qwen_model *m;
    otensor *t;
    int n, cap;
    vd_status err;
} olist;

static otensor *olist_add(olist *l)
{
    if (l->err)
        return NULL;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 1024;
        otensor *nt = vd__realloc(l->ctx, l->t, (size_t)nc * sizeof *nt);
        if (!nt) {
            l->err = VD_ERR_NOMEM;
            return NULL;
        }
        l->t = nt;
        l->cap = nc;
    }
    otensor *o = &l->t[l->n++];
    memset(o, 0, sizeof *o);
    return o;
}

/* The stored tensor of hub name NAME in M's files, under either naming. */
static const vd__st_tensor *find_stored(const vd__qwen_model *m,
                                        const char *name)
{
    char alt[160];
    alt[0] = '\0';
    if (!strncmp(name, "visual.", 7))
        snprintf(alt, sizeof alt, "model.%s", name);
    else if (!strncmp(name, "model.", 6))
        snprintf(alt, sizeof alt, "model.language_model.%s", name + 6);
    for (int i = 0; i < m->n_shards; i++) {
        const vd__st_tensor *t = vd__st_find(m->shards[i], name);
        if (!t && alt[0])
            t = vd__st_find(m->shards[i], alt);
        if (t)
            return t;
    }
    return NULL;
}

static void collect(void *user, const vd__qwen_tinfo *ti)
{
    olist *l = user;
    if (l->err || (ti->optional && !ti->mat))
        return; /* a tied lm_head: the embedding is it */
    const vd__mat *w = ti->mat;
    if (w && (w->dt == VD_DT_Q8 || w->dt == VD_DT_Q4)) {
        int64_t nb = w->dt == VD_DT_Q8 ? VD_Q8_NB(w->cols) : VD_Q4_NB(w->cols);
        otensor *d = olist_add(l), *s = d ? olist_add(l) : NULL;
        if (!s)
            return;
        d = s - 1; /* olist_add may have moved the array */
        snprintf(d->name, sizeof d->name, "%s", ti->name);
        d->dtype = w->dt == VD_DT_Q8 ? "I8" : "U8";
        d->ndim = 2;
        d->shape[0] = w->rows;
        d->shape[1] = w->dt == VD_DT_Q8 ? nb * VD_QBLK : nb * VD_QBLK / 2;
        d->data = w->data;
        d->nbytes = vd__mat_data_bytes(w->dt, w->rows, w->cols);
        snprintf(s->name, sizeof s->name, "%s%s", ti->name,
                 VD_QWEN_SCALES_SUFFIX);
        s->dtype = "F16";
        s->ndim = 2;
        s->shape[0] = w->rows;
        s->shape[1] = nb;
        s->data = w->scales;
        s->nbytes = vd__mat_scale_bytes(w->dt, w->rows, w->cols);
        return;
    }
    const vd__st_tensor *t = find_stored(l->m, ti->name);
    if (!t) { /* the loader found it: cannot happen */
        l->err = vd__fail(l->ctx, VD_ERR_MODEL, "%s: tensor '%s' not found",
                          l->m->dir, ti->name);
        return;
    }
    otensor *o = olist_add(l);
    if (!o)
        return;
    snprintf(o->name, sizeof o->name, "%s", ti->name);
    o->dtype = vd__st_dtype_name(t->dtype);
    o->ndim = t->ndim;
    for (int i = 0; i < t->ndim && i < 5; i++)
        o->shape[i] = t->shape[i];
    o->data = t->data;
    o->nbytes = t->nbytes;
}

/* The safetensors header: JSON of every tensor with its byte range, then
 * spaces to a multiple of 8 bytes. */
static vd_status header(vd_ctx *ctx, const olist *l, const char *wname,
                        vd__buf *h)
{
    vd_status s = vd__buf_printf(ctx, h,
                                 "{\"__metadata__\":{\"format\":\"pt\","
                                 "\"vldoc.weights\":\"%s\","
                                 "\"vldoc.layout\":\"1\"}",
                                 wname);
    uint64_t off = 0;
    for (int i = 0; i < l->n && !s; i++) {
        const otensor *o = &l->t[i];
        s = vd__buf_printf(ctx, h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                           o->name, o->dtype);
        for (int d = 0; d < o->ndim && !s; d++)
            s = vd__buf_printf(ctx, h, "%s%lld", d ? "," : "",
                               (long long)o->shape[d]);
        if (!s)
            s = vd__buf_printf(ctx, h, "],\"data_offsets\":[%llu,%llu]}",
                               (unsigned long long)off,
                               (unsigned long long)(off + o->nbytes));
        off += o->nbytes;
    }
    if (!s)
        s = vd__buf_putc(ctx, h, '}');
    while (!s && h->len % 8)
        s = vd__buf_putc(ctx, h, ' ');
    return s;
}

static vd_status copy_file(vd_ctx *ctx, const char *src, const char *dst)
{
    char *d = NULL;
    size_t n = 0;
    vd_status s =
        vd__file_read(ctx, src, ctx->opts.limits.max_header_bytes, &d, &n);
    if (s == VD_OK)
        s = vd__file_write_atomic(ctx, dst, d, n);
    vd__free(d);
    return s;
}

vd_status vd__qwen_save(vd_ctx *ctx, const vd__qwen_model *m, const char *dst)
{
    struct stat sb, ss;
    if (stat(dst, &sb) == 0 && stat(m->dir, &ss) == 0 &&
        sb.st_dev == ss.st_dev && sb.st_ino == ss.st_ino)
        return vd__fail(ctx, VD_ERR_ARG,
                        "%s: is the model's own folder; write to another", dst);
    if (stat(dst, &sb) != 0) {
        if (errno != ENOENT || mkdir(dst, 0777) != 0)
            return vd__fail(ctx, VD_ERR_IO, "%s: cannot create: %s", dst,
                            strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        return vd__fail(ctx, VD_ERR_ARG, "%s: not a folder", dst);
    }
    /* a stale shard index would make the loader look past the new file */
    char *idx = vd__asprintf(ctx, "%s/model.safetensors.index.json", dst);
    if (!idx)
        return VD_ERR_NOMEM;
    bool stale = stat(idx, &sb) == 0;
    vd__free(idx);
    if (stale)
        return vd__fail(ctx, VD_ERR_ARG,
                        "%s: holds a sharded model "
                        "(model.safetensors.index.json); use an empty folder",
                        dst);
    olist l = { .ctx = ctx, .m = m };
    vd__qwen_inventory(&m->cfg, (vd__qwen_model *)m, collect, &l);
    vd__buf h;
    vd__buf_init(&h, 0);
    vd_status s = l.err;
    if (!s)
        s = header(ctx, &l, m->weights, &h);
    char *path = s ? NULL : vd__asprintf(ctx, "%s/model.safetensors", dst);
    vd_out *o = NULL;
    if (!s && !path)
        s = VD_ERR_NOMEM;
    if (!s)
        s = vd_out_open_file(ctx, path, &o);
    if (!s) {
        unsigned char len8[8];
        uint64_t hl = h.len;
        for (int i = 0; i < 8; i++)
            len8[i] = (unsigned char)(hl >> (8 * i));
        vd_out_write(o, len8, 8);
        vd_out_write(o, h.data, h.len);
        for (int i = 0; i < l.n; i++) {
            vd_out_write(o, l.t[i].data, l.t[i].nbytes);
            if (vd__cancelled(ctx)) {
                s = vd__fail(ctx, VD_ERR_CANCELLED, "cancelled");
                break;
            }
        }
        if (!s)
            s = vd_out_close(ctx, o);
        vd_out_free(o);
    }
    vd__free(path);
    vd__buf_free(&h);
    vd__free(l.t);
    for (int i = 0; !s && side_files[i]; i++) {
        char *src = vd__asprintf(ctx, "%s/%s", m->dir, side_files[i]);
        char *dp = vd__asprintf(ctx, "%s/%s", dst, side_files[i]);
        if (!src || !dp)
            s = VD_ERR_NOMEM;
        else if (stat(src, &sb) == 0)
            s = copy_file(ctx, src, dp);
        vd__free(src);
        vd__free(dp);
    }
    return s;
}

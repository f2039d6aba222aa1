/* safetensors reader: mmap the file, parse and check its JSON header with
 * json-c, and hand out tensor views into the mapping. Every size in the
 * header is checked against the real file before it is used; data is
 * never assumed aligned. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kern.h"
#include "safetensors.h"

struct vd__safetensors {
    char *path;
    void *map; /* whole file when mapped */
    size_t map_size;
    const unsigned char *data; /* data section */
    size_t data_size;
    vd__st_tensor *t; /* sorted by name for lookup */
    int n;
    char **meta_kv; /* key, value, key, value... */
    int nmeta;
    char *names; /* all tensor names, NUL-separated */
};

static const struct {
    const char *name;
    size_t size;
} dtypes[VD_ST_DTYPE_COUNT_] = {
    [VD_ST_BOOL] = { "BOOL", 1 },       [VD_ST_U8] = { "U8", 1 },
    [VD_ST_I8] = { "I8", 1 },           [VD_ST_I16] = { "I16", 2 },
    [VD_ST_U16] = { "U16", 2 },         [VD_ST_F16] = { "F16", 2 },
    [VD_ST_BF16] = { "BF16", 2 },       [VD_ST_I32] = { "I32", 4 },
    [VD_ST_U32] = { "U32", 4 },         [VD_ST_F32] = { "F32", 4 },
    [VD_ST_I64] = { "I64", 8 },         [VD_ST_U64] = { "U64", 8 },
    [VD_ST_F64] = { "F64", 8 },         [VD_ST_F8_E4M3] = { "F8_E4M3", 1 },
    [VD_ST_F8_E5M2] = { "F8_E5M2", 1 },
};

const char *vd__st_dtype_name(vd__st_dtype d)
{
    return (unsigned)d < VD_ST_DTYPE_COUNT_ ? dtypes[d].name : "?";
}

size_t vd__st_dtype_size(vd__st_dtype d)
{
    return (unsigned)d < VD_ST_DTYPE_COUNT_ ? dtypes[d].size : 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const vd__st_tensor *)a)->name,
                  ((const vd__st_tensor *)b)->name);
}

typedef struct span {
    uint64_t b, e;
    int idx;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

static bool get_u64(json_object *o, uint64_t *v)
{
    if (!json_object_is_type(o, json_type_int))
        return false;
    errno = 0;
    int64_t x = json_object_get_int64(o);
    if (x < 0 || errno == EINVAL)
        return false;
    /* json-c clamps out-of-range values to INT64_MAX */
    if (x == INT64_MAX)
        return false;
    *v = (uint64_t)x;
    return true;
}

static vd_status parse_tensor(vd_ctx *ctx, vd__safetensors *st,
                              const char *name, json_object *o,
                              vd__st_tensor *t, span *sp)
{
    const char *p = st->path;
    json_object *jd, *js, *jo;
    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "dtype", &jd) ||
        !json_object_object_get_ex(o, "shape", &js) ||
        !json_object_object_get_ex(o, "data_offsets", &jo))
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: tensor '%s': needs dtype, shape and "
                        "data_offsets",
                        p, name);
    const char *ds = json_object_get_string(jd);
    int dt = -1;
    for (int i = 0; ds && i < VD_ST_DTYPE_COUNT_; i++)
        if (strcmp(ds, dtypes[i].name) == 0)
            dt = i;
    if (!json_object_is_type(jd, json_type_string) || dt < 0)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: tensor '%s': unknown dtype '%s'", p, name,
                        ds ? ds : "?");
    t->dtype = (vd__st_dtype)dt;
    if (!json_object_is_type(js, json_type_array) ||
        json_object_array_length(js) > VD_ST_MAX_DIMS)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: tensor '%s': shape must be an array of at most "
                        "%d sizes",
                        p, name, VD_ST_MAX_DIMS);
    t->ndim = (int)json_object_array_length(js);
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (!get_u64(json_object_array_get_idx(js, (size_t)i), &d) ||
            d > INT64_MAX || !vd__mul_ok(numel, (size_t)d, &numel))
            return vd__fail(ctx, VD_ERR_FORMAT,
                            "%s: tensor '%s': bad shape (dimension %d)", p,
                            name, i);
        t->shape[i] = (int64_t)d;
    }
    t->numel = (int64_t)numel;
    size_t nbytes;
    if (!vd__mul_ok(numel, dtypes[dt].size, &nbytes))
        return vd__fail(ctx, VD_ERR_FORMAT, "%s: tensor '%s': shape too large",
                        p, name);
    uint64_t b, e;
    if (!json_object_is_type(jo, json_type_array) ||
        json_object_array_length(jo) != 2 ||
        !get_u64(json_object_array_get_idx(jo, 0), &b) ||
        !get_u64(json_object_array_get_idx(jo, 1), &e))
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets must be [begin, end]", p,
                        name);
    if (b > e || e > st->data_size)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] outside "
                        "the %zu-byte data section (file truncated?)",
                        p, name, (unsigned long long)b, (unsigned long long)e,
                        st->data_size);
    if (e - b != nbytes)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: tensor '%s': %llu bytes stored but shape x %s "
                        "needs %zu",
                        p, name, (unsigned long long)(e - b), dtypes[dt].name,
                        nbytes);
    t->data = st->data + b;
    t->nbytes = nbytes;
    sp->b = b;
    sp->e = e;
    return VD_OK;
}

static vd_status parse(vd_ctx *ctx, vd__safetensors *st,
                       const unsigned char *buf, size_t size)
{
    const char *p = st->path;
    if (size < 8)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: not a safetensors file (%zu bytes, no header)", p,
                        size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | buf[i];
    uint64_t maxh = ctx ? ctx->opts.limits.max_header_bytes : 100u << 20;
    if (n > maxh)
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: safetensors header of %llu bytes is over the "
                        "limit of %llu",
                        p, (unsigned long long)n, (unsigned long long)maxh);
    if (n > size - 8)
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: safetensors header claims %llu bytes but the "
                        "file has %zu (truncated?)",
                        p, (unsigned long long)n, size - 8);
    st->data = buf + 8 + n;
    st->data_size = size - 8 - (size_t)n;

    json_tokener *tok = json_tokener_new_ex(16);
    if (!tok)
        return vd__fail(ctx, VD_ERR_NOMEM, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root =
        json_tokener_parse_ex(tok, (const char *)buf + 8, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    /* the header may be right-padded with spaces */
    bool trailing_ok = true;
    for (size_t i = used; root && i < n; i++)
        if (buf[8 + i] != ' ')
            trailing_ok = false;
    if (!root || jerr != json_tokener_success || !trailing_ok ||
        !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: safetensors header is not a JSON object (%s)", p,
                        root ? "trailing bytes"
                        : jerr == json_tokener_continue
                            ? "incomplete"
                            : json_tokener_error_desc(jerr));
    }
    int count = 0;
    json_object_object_foreach(root, k0, v0)
    {
        (void)v0;
        if (strcmp(k0, "__metadata__") != 0)
            count++;
    }
    vd_status s = VD_OK;
    span *spans = NULL;
    if (count > 0) {
        st->t = vd__calloc(ctx, (size_t)count, sizeof *st->t);
        spans = vd__calloc(ctx, (size_t)count, sizeof *spans);
        if (!st->t || !spans)
            s = VD_ERR_NOMEM;
    }
    size_t names_len = 0;
    json_object_object_foreach(root, k1, v1)
    {
        (void)v1;
        names_len += strlen(k1) + 1;
    }
    if (s == VD_OK && !(st->names = vd__malloc(ctx, names_len + 1)))
        s = VD_ERR_NOMEM;
    char *np = st->names;
    json_object_object_foreach(root, key, val)
    {
        if (s)
            break;
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_object_is_type(val, json_type_object)) {
                s = vd__fail(ctx, VD_ERR_FORMAT,
                             "%s: __metadata__ must be an object", p);
                break;
            }
            int nm = json_object_object_length(val);
            st->meta_kv = vd__calloc(ctx, (size_t)nm * 2 + 1, sizeof(char *));
            if (!st->meta_kv) {
                s = VD_ERR_NOMEM;
                break;
            }
            json_object_object_foreach(val, mk, mv)
            {
                const char *vs = json_object_get_string(mv);
                st->meta_kv[2 * st->nmeta] = vd__strdup(ctx, mk);
                st->meta_kv[2 * st->nmeta + 1] = vd__strdup(ctx, vs ? vs : "");
                st->nmeta++;
                if (!st->meta_kv[2 * st->nmeta - 1] ||
                    !st->meta_kv[2 * st->nmeta - 2]) {
                    s = VD_ERR_NOMEM;
                    break;
                }
            }
            continue;
        }
        vd__st_tensor *t = &st->t[st->n];
        size_t kl = strlen(key);
        memcpy(np, key, kl + 1);
        t->name = np;
        np += kl + 1;
        s = parse_tensor(ctx, st, key, val, t, &spans[st->n]);
        spans[st->n].idx = st->n;
        st->n++;
    }
    json_object_put(root);
    if (s == VD_OK && st->n > 1) {
        qsort(spans, (size_t)st->n, sizeof *spans, cmp_span);
        for (int i = 1; i < st->n && s == VD_OK; i++)
            if (spans[i].b < spans[i - 1].e)
                s = vd__fail(ctx, VD_ERR_FORMAT,
                             "%s: tensors '%s' and '%s' overlap in the file", p,
                             st->t[spans[i - 1].idx].name,
                             st->t[spans[i].idx].name);
        if (s == VD_OK)
            qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_name);
    }
    vd__free(spans);
    return s;
}

vd_status vd__st_open_mem(vd_ctx *ctx, const char *name, const void *data,
                          size_t size, vd__safetensors **out)
{
    *out = NULL;
    vd__safetensors *st = vd__calloc(ctx, 1, sizeof *st);
    if (!st)
        return VD_ERR_NOMEM;
    st->path = vd__strdup(ctx, name);
    vd_status s = st->path ? parse(ctx, st, data, size) : VD_ERR_NOMEM;
    if (s) {
        vd__st_close(st);
        return s;
    }
    *out = st;
    return VD_OK;
}

vd_status vd__st_open(vd_ctx *ctx, const char *path, vd__safetensors **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vd__fail(ctx, VD_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return vd__fail(ctx, VD_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return vd__fail(ctx, VD_ERR_IO, "%s: cannot map: %s", path,
                            strerror(e));
        }
    }
    close(fd);
    vd__safetensors *st = vd__calloc(ctx, 1, sizeof *st);
    if (!st) {
        if (map)
            munmap(map, size);
        return VD_ERR_NOMEM;
    }
    st->map = map;
    st->map_size = size;
    st->path = vd__strdup(ctx, path);
    vd_status s =
        st->path ? parse(ctx, st, map ? map : "", size) : VD_ERR_NOMEM;
    if (s) {
        vd__st_close(st);
        return s;
    }
    *out = st;
    return VD_OK;
}

void vd__st_close(vd__safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_size);
    for (int i = 0; i < 2 * st->nmeta; i++)
        vd__free(st->meta_kv[i]);
    vd__free(st->meta_kv);
    vd__free(st->t);
    vd__free(st->names);
    vd__free(st->path);
    vd__free(st);
}

int vd__st_count(const vd__safetensors *st)
{
    return st->n;
}

const vd__st_tensor *vd__st_at(const vd__safetensors *st, int i)
{
    return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const vd__st_tensor *vd__st_find(const vd__safetensors *st, const char *name)
{
    vd__st_tensor key = { .name = name };
    return st->n ? bsearch(&key, st->t, (size_t)st->n, sizeof *st->t, cmp_name)
                 : NULL;
}

const char *vd__st_metadata(const vd__safetensors *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_kv[2 * i], key) == 0)
            return st->meta_kv[2 * i + 1];
    return NULL;
}

const char *vd__st_path(const vd__safetensors *st)
{
    return st->path;
}

vd_status vd__st_to_f32(vd_ctx *ctx, const vd__st_tensor *t, float *out)
{
    const unsigned char *p = t->data;
    size_t es = dtypes[t->dtype].size;
    for (int64_t i = 0; i < t->numel; i++, p += es) {
        switch (t->dtype) {
        case VD_ST_F32:
            memcpy(&out[i], p, 4);
            break;
        case VD_ST_F64: {
            double d;
            memcpy(&d, p, 8);
            out[i] = (float)d;
            break;
        }
        case VD_ST_BF16:
        case VD_ST_F16: {
            uint16_t h;
            memcpy(&h, p, 2);
            out[i] =
                t->dtype == VD_ST_BF16 ? vd__bf16_to_f32(h) : vd__f16_to_f32(h);
            break;
        }
        case VD_ST_I64: {
            int64_t v;
            memcpy(&v, p, 8);
            out[i] = (float)v;
            break;
        }
        case VD_ST_I32: {
            int32_t v;
            memcpy(&v, p, 4);
            out[i] = (float)v;
            break;
        }
        case VD_ST_U8:
            out[i] = *p;
            break;
        default:
            return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                            "tensor '%s': cannot widen %s to float", t->name,
                            dtypes[t->dtype].name);
        }
    }
    return VD_OK;
}

vd_status vd__st_to_i64(vd_ctx *ctx, const vd__st_tensor *t, int64_t *out)
{
    const unsigned char *p = t->data;
    size_t es = dtypes[t->dtype].size;
    for (int64_t i = 0; i < t->numel; i++, p += es) {
        switch (t->dtype) {
        case VD_ST_I64:
            memcpy(&out[i], p, 8);
            break;
        case VD_ST_I32: {
            int32_t v;
            memcpy(&v, p, 4);
            out[i] = v;
            break;
        }
        case VD_ST_U8:
            out[i] = *p;
            break;
        default:
            return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                            "tensor '%s': %s is not an integer type", t->name,
                            dtypes[t->dtype].name);
        }
    }
    return VD_OK;
}

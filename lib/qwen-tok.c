/* Qwen2.5-VL, tokenizer: tokenizer.json (vocabulary, merges, added tokens,
 * pre-tokenizer regex) in; text -> ids and ids -> text out, exactly as
 * Hugging Face's fast tokenizer. Added tokens are split out of the raw
 * text first, the rest is NFC-normalised (utf8proc), cut into pieces by
 * the pre-tokenizer regex (PCRE2 JIT) and each piece's bytes merged by BPE
 * rank. Works on raw bytes throughout: the byte-to-unicode alphabet of
 * the file is undone once at load. Immutable after load. */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <json-c/json.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "qwen.h"

/* ---- int vectors ---- */

vd_status vd__ivec_reserve(vd_ctx *ctx, vd__ivec *a, int64_t extra)
{
    if (a->n + extra <= a->cap)
        return VD_OK;
    int64_t nc = a->cap ? a->cap : 64;
    while (nc < a->n + extra)
        nc *= 2;
    int32_t *nv = vd__realloc(ctx, a->v, (size_t)nc * sizeof *nv);
    if (!nv)
        return VD_ERR_NOMEM;
    a->v = nv;
    a->cap = nc;
    return VD_OK;
}

vd_status vd__ivec_push(vd_ctx *ctx, vd__ivec *a, int32_t x)
{
    if (a->n == a->cap) {
        vd_status s = vd__ivec_reserve(ctx, a, 1);
        if (s)
            return s;
    }
    a->v[a->n++] = x;
    return VD_OK;
}

void vd__ivec_free(vd__ivec *a)
{
    vd__free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* ---- hashing ---- */

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    return h ^ (h >> 32);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

typedef struct merge_slot {
    uint64_t key;   /* (left id << 32) | right id; 0 = empty (id pair 0,0
                       is never a merge: "!" "!" -> "!!" would be, so the
                       key is stored + 1) */
    int32_t rank;   /* merge order */
    int32_t merged; /* id of the concatenation */
} merge_slot;

struct vd__qwen_tok {
    int n_ids;            /* one past the largest id */
    uint32_t *off;        /* [n_ids + 1] byte offsets into blob */
    unsigned char *blob;  /* raw bytes of every token */
    uint8_t *flags;       /* [n_ids]: TOK_* */
    int32_t *vocab_slots; /* open addressing: id + 1, 0 = empty */
    uint64_t vocab_mask;
    merge_slot *merges;
    uint64_t merge_mask;
    int n_merges;
    int32_t byte_id[256]; /* the token of each single byte */
    struct added {
        const unsigned char *s; /* into blob */
        uint32_t len;
        int32_t id;
    } * added; /* longest first */
    int n_added;
    uint8_t added_first[256]; /* some added token starts with this byte */
    pcre2_code *re;
    bool jit;
    bool nfc;
};

enum { TOK_PRESENT = 1, TOK_ADDED = 2, TOK_SPECIAL = 4 };

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ---- */

/* Code point -> byte for the 256 characters of the alphabet; -1 else. */
static void byte_alphabet(int16_t inv[324])
{
    for (int i = 0; i < 324; i++)
        inv[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                    (b >= 0xAE && b <= 0xFF);
        if (keep)
            inv[b] = (int16_t)b;
        else
            inv[256 + n++] = (int16_t)b;
    }
}

/* Undo the alphabet: UTF-8 string S -> raw bytes in OUT (at most strlen
 * bytes). False if S has a character outside the alphabet. */
static bool unbyte(const int16_t inv[324], const char *s, size_t n,
                   unsigned char *out, size_t *olen)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0 || cp < 0 || cp >= 324 || inv[cp] < 0)
            return false;
        out[k++] = (unsigned char)inv[cp];
        i += (size_t)l;
    }
    *olen = k;
    return true;
}

/* ---- lookups ---- */

static int32_t vocab_find(const vd__qwen_tok *t, const unsigned char *p,
                          size_t n)
{
    uint64_t i = hash_bytes(p, n) & t->vocab_mask;
    for (;;) {
        int32_t v = t->vocab_slots[i];
        if (!v)
            return -1;
        int32_t id = v - 1;
        uint32_t len = t->off[id + 1] - t->off[id];
        if (len == n && memcmp(t->blob + t->off[id], p, n) == 0 &&
            !(t->flags[id] & TOK_ADDED))
            return id;
        i = (i + 1) & t->vocab_mask;
    }
}

static const merge_slot *merge_find(const vd__qwen_tok *t, int32_t a, int32_t b)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t i = hash_u64(key) & t->merge_mask;
    for (;;) {
        const merge_slot *s = &t->merges[i];
        if (s->key == key)
            return s;
        if (!s->key)
            return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

/* ---- loading ---- */

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = jget(o, k);
    return v && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* HF's engines use the Unicode White_Space property for \s; PCRE2's UCP
 * \s differs in corner cases, so the class is spelled out (spec 6.3). */
#define WS_CLASS                                                               \
    "\\x{09}-\\x{0D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"         \
    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Rewrite \s and \S of the tokenizer.json regex into explicit classes. */
static char *rewrite_regex(vd_ctx *ctx, const char *re)
{
    vd__buf b;
    vd__buf_init(&b, 1 << 20);
    bool in_class = false;
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            if (p[1] == 's')
                vd__buf_puts(ctx, &b, in_class ? WS_CLASS : "[" WS_CLASS "]");
            else if (p[1] == 'S' && !in_class)
                vd__buf_puts(ctx, &b, "[^" WS_CLASS "]");
            else
                vd__buf_append(ctx, &b, p, 2);
            p++;
            continue;
        }
        if (*p == '[' && !in_class) {
            in_class = true;
            vd__buf_putc(ctx, &b, '[');
            if (p[1] == '^') {
                vd__buf_putc(ctx, &b, '^');
                p++;
            }
            if (p[1] == ']') { /* a literal ] first in a class */
                vd__buf_putc(ctx, &b, ']');
                p++;
            }
            continue;
        }
        if (*p == ']' && in_class)
            in_class = false;
        vd__buf_putc(ctx, &b, *p);
    }
    if (b.err) {
        vd__buf_free(&b);
        return NULL;
    }
    return vd__buf_steal(&b, NULL);
}

/* The pre-tokenizer must be the Qwen2 shape: Split(regex, Isolated) then
 * ByteLevel without its own regex (or ByteLevel alone with use_regex,
 * which is GPT-2's pattern). */
static vd_status load_pretok(vd_ctx *ctx, vd__qwen_tok *t, const char *path,
                             json_object *root)
{
    static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
                               "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    json_object *pt = jget(root, "pre_tokenizer");
    const char *pattern = NULL;
    const char *type = jstr(pt, "type");
    if (type && !strcmp(type, "Sequence")) {
        json_object *list = jget(pt, "pretokenizers");
        size_t n = list && json_object_is_type(list, json_type_array)
                       ? json_object_array_length(list)
                       : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(list, i);
            const char *et = jstr(e, "type");
            if (et && !strcmp(et, "Split")) {
                const char *beh = jstr(e, "behavior");
                json_object *inv = jget(e, "invert");
                if (pattern || !beh || strcmp(beh, "Isolated") != 0 ||
                    (inv && json_object_get_boolean(inv)))
                    goto unsupported;
                pattern = jstr(jget(e, "pattern"), "Regex");
                if (!pattern)
                    goto unsupported;
            } else if (et && !strcmp(et, "ByteLevel")) {
                json_object *ur = jget(e, "use_regex");
                json_object *aps = jget(e, "add_prefix_space");
                if ((ur && json_object_get_boolean(ur)) ||
                    (aps && json_object_get_boolean(aps)) || i + 1 != n)
                    goto unsupported;
            } else {
                goto unsupported;
            }
        }
    } else if (type && !strcmp(type, "ByteLevel")) {
        json_object *aps = jget(pt, "add_prefix_space");
        if (aps && json_object_get_boolean(aps))
            goto unsupported;
        pattern = gpt2;
    }
    if (!pattern)
        goto unsupported;
    char *re = rewrite_regex(ctx, pattern);
    if (!re)
        return VD_ERR_NOMEM;
    int err;
    PCRE2_SIZE eoff;
    t->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err,
                          &eoff, NULL);
    vd__free(re);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return vd__fail(ctx, VD_ERR_FORMAT,
                        "%s: pre-tokenizer regex does not compile at %zu: %s",
                        path, (size_t)eoff, (const char *)msg);
    }
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    return VD_OK;
unsupported:
    return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                    "%s: pre_tokenizer is not the byte-level BPE kind this "
                    "tokenizer implements (Split regex + ByteLevel)",
                    path);
}

static int cmp_added(const void *a, const void *b)
{
    const struct added *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len ? -1 : 1)
                            : memcmp(x->s, y->s, x->len);
}

static vd_status load(vd_ctx *ctx, vd__qwen_tok *t, const char *path,
                      json_object *root)
{
    json_object *model = jget(root, "model");
    const char *mt = jstr(model, "type");
    json_object *vocab = jget(model, "vocab"), *merges = jget(model, "merges");
    json_object *added = jget(root, "added_tokens");
    json_object *bf = jget(model, "byte_fallback");
    if (!model || (mt && strcmp(mt, "BPE") != 0) || !vocab ||
        !json_object_is_type(vocab, json_type_object) || !merges ||
        !json_object_is_type(merges, json_type_array) ||
        (bf && json_object_get_boolean(bf)))
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: not a byte-level BPE tokenizer (model.type BPE "
                        "with vocab and merges)",
                        path);
    json_object *norm = jget(root, "normalizer");
    const char *nt = jstr(norm, "type");
    if (norm && !json_object_is_type(norm, json_type_null) &&
        (!nt || strcmp(nt, "NFC") != 0))
        return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                        "%s: normalizer '%s' (only NFC or none)", path,
                        nt ? nt : "?");
    t->nfc = nt != NULL;
    vd_status s = load_pretok(ctx, t, path, root);
    if (s)
        return s;

    /* ids and byte sizes: vocab + added tokens */
    int64_t max_id = -1;
    size_t bytes = 0;
    json_object_object_foreach(vocab, vk, vv)
    {
        int64_t id = json_object_get_int64(vv);
        if (!json_object_is_type(vv, json_type_int) || id < 0 ||
            id >= (1 << 24))
            return vd__fail(ctx, VD_ERR_FORMAT,
                            "%s: vocab entry '%s' has a bad id", path, vk);
        if (id > max_id)
            max_id = id;
        bytes += strlen(vk);
    }
    size_t nadded = added && json_object_is_type(added, json_type_array)
                        ? json_object_array_length(added)
                        : 0;
    for (size_t i = 0; i < nadded; i++) {
        json_object *a = json_object_array_get_idx(added, i);
        json_object *jid = jget(a, "id");
        const char *c = jstr(a, "content");
        int64_t id = jid ? json_object_get_int64(jid) : -1;
        if (!c || !*c || id < 0 || id >= (1 << 24))
            return vd__fail(ctx, VD_ERR_FORMAT,
                            "%s: added_tokens[%zu] needs content and id", path,
                            i);
        if (id > max_id)
            max_id = id;
        bytes += strlen(c);
    }
    if (max_id < 255)
        return vd__fail(ctx, VD_ERR_FORMAT, "%s: vocabulary too small", path);
    t->n_ids = (int)max_id + 1;
    t->off = vd__calloc(ctx, (size_t)t->n_ids + 1, sizeof *t->off);
    t->flags = vd__calloc(ctx, (size_t)t->n_ids, 1);
    t->blob = vd__malloc(ctx, bytes + 1);
    size_t cap = 1;
    while (cap < 2 * (size_t)t->n_ids)
        cap <<= 1;
    t->vocab_slots = vd__calloc(ctx, cap, sizeof *t->vocab_slots);
    t->vocab_mask = cap - 1;
    t->added = vd__calloc(ctx, nadded + 1, sizeof *t->added);
    uint32_t *len = vd__calloc(ctx, (size_t)t->n_ids, sizeof *len);
    const char **src = vd__calloc(ctx, (size_t)t->n_ids, sizeof *src);
    if (!t->off || !t->flags || !t->blob || !t->vocab_slots || !t->added ||
        !len || !src) {
        vd__free(len);
        vd__free(src);
        return VD_ERR_NOMEM;
    }
    /* place each token's raw bytes in id order */
    int16_t inv[324];
    byte_alphabet(inv);
    json_object_object_foreach(vocab, k2, v2)
    {
        int32_t id = (int32_t)json_object_get_int64(v2);
        if (src[id]) {
            s = vd__fail(ctx, VD_ERR_FORMAT, "%s: id %d used twice", path, id);
            break;
        }
        src[id] = k2;
    }
    for (size_t i = 0; !s && i < nadded; i++) {
        json_object *a = json_object_array_get_idx(added, i);
        int32_t id = (int32_t)json_object_get_int64(jget(a, "id"));
        json_object *sp = jget(a, "special");
        /* an added token may repeat a vocab entry: the added one wins */
        src[id] = jstr(a, "content");
        t->flags[id] |= TOK_ADDED;
        if (sp && json_object_get_boolean(sp))
            t->flags[id] |= TOK_SPECIAL;
    }
    size_t pos = 0;
    for (int32_t id = 0; !s && id < t->n_ids; id++) {
        t->off[id] = (uint32_t)pos;
        if (!src[id])
            continue;
        size_t n = strlen(src[id]), got = n;
        if (t->flags[id] & TOK_ADDED) {
            memcpy(t->blob + pos, src[id], n); /* added tokens: literal */
        } else if (!unbyte(inv, src[id], n, t->blob + pos, &got)) {
            s = vd__fail(ctx, VD_ERR_FORMAT,
                         "%s: vocab entry '%s' is not in the byte-level "
                         "alphabet",
                         path, src[id]);
            break;
        }
        pos += got;
        t->flags[id] |= TOK_PRESENT;
    }
    t->off[t->n_ids] = (uint32_t)pos;
    vd__free(len);
    vd__free(src);
    if (s)
        return s;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if ((t->flags[id] & (TOK_PRESENT | TOK_ADDED)) != TOK_PRESENT)
            continue;
        const unsigned char *p = t->blob + t->off[id];
        size_t n = t->off[id + 1] - t->off[id];
        if (vocab_find(t, p, n) >= 0)
            return vd__fail(ctx, VD_ERR_FORMAT,
                            "%s: token %d repeats an earlier entry", path, id);
        uint64_t i = hash_bytes(p, n) & t->vocab_mask;
        while (t->vocab_slots[i])
            i = (i + 1) & t->vocab_mask;
        t->vocab_slots[i] = id + 1;
    }
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        if ((t->byte_id[b] = vocab_find(t, &c, 1)) < 0)
            return vd__fail(ctx, VD_ERR_FORMAT,
                            "%s: byte 0x%02X has no token (not byte-level "
                            "BPE?)",
                            path, b);
    }
    for (size_t i = 0; i < nadded; i++) {
        json_object *a = json_object_array_get_idx(added, i);
        int32_t id = (int32_t)json_object_get_int64(jget(a, "id"));
        struct added *ad = &t->added[t->n_added++];
        ad->s = t->blob + t->off[id];
        ad->len = t->off[id + 1] - t->off[id];
        ad->id = id;
        t->added_first[ad->s[0]] = 1;
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);

    /* merges: "left right" strings or [left, right] pairs; rank = order */
    size_t nm = json_object_array_length(merges);
    if (nm > (1u << 24))
        return vd__fail(ctx, VD_ERR_LIMIT, "%s: %zu merges", path, nm);
    cap = 1;
    while (cap < 2 * nm + 2)
        cap <<= 1;
    t->merges = vd__calloc(ctx, cap, sizeof *t->merges);
    if (!t->merges)
        return VD_ERR_NOMEM;
    t->merge_mask = cap - 1;
    unsigned char *buf = vd__malloc(ctx, 4096);
    if (!buf)
        return VD_ERR_NOMEM;
    for (size_t r = 0; r < nm && !s; r++) {
        json_object *e = json_object_array_get_idx(merges, r);
        const char *l = NULL, *rr = NULL;
        size_t ll = 0, rl = 0;
        if (json_object_is_type(e, json_type_string)) {
            const char *str = json_object_get_string(e);
            const char *sp = strchr(str, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                l = str;
                ll = (size_t)(sp - str);
                rr = sp + 1;
                rl = strlen(rr);
            }
        } else if (json_object_is_type(e, json_type_array) &&
                   json_object_array_length(e) == 2) {
            json_object *a = json_object_array_get_idx(e, 0);
            json_object *b = json_object_array_get_idx(e, 1);
            if (json_object_is_type(a, json_type_string) &&
                json_object_is_type(b, json_type_string)) {
                l = json_object_get_string(a);
                ll = strlen(l);
                rr = json_object_get_string(b);
                rl = strlen(rr);
            }
        }
        size_t la, lb;
        if (!l || !ll || !rl || ll + rl > 2048 ||
            !unbyte(inv, l, ll, buf, &la) ||
            !unbyte(inv, rr, rl, buf + la, &lb)) {
            s = vd__fail(ctx, VD_ERR_FORMAT, "%s: merges[%zu] is malformed",
                         path, r);
            break;
        }
        int32_t a = vocab_find(t, buf, la), b = vocab_find(t, buf + la, lb);
        int32_t m = vocab_find(t, buf, la + lb);
        if (a < 0 || b < 0 || m < 0) {
            s = vd__fail(ctx, VD_ERR_FORMAT,
                         "%s: merges[%zu] uses a token not in the vocab", path,
                         r);
            break;
        }
        uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
        uint64_t i = hash_u64(key) & t->merge_mask;
        while (t->merges[i].key && t->merges[i].key != key)
            i = (i + 1) & t->merge_mask;
        if (t->merges[i].key)
            continue; /* a repeated merge keeps its first (lowest) rank */
        t->merges[i].key = key;
        t->merges[i].rank = (int32_t)r;
        t->merges[i].merged = m;
        t->n_merges++;
    }
    vd__free(buf);
    return s;
}

vd_status vd__qwen_tok_load(vd_ctx *ctx, const char *path, vd__qwen_tok **out)
{
    *out = NULL;
    json_object *root = NULL;
    vd_status s = vd__qwen_json_load(ctx, path, false, &root);
    if (s)
        return s;
    vd__qwen_tok *t = vd__calloc(ctx, 1, sizeof *t);
    if (!t) {
        json_object_put(root);
        return VD_ERR_NOMEM;
    }
    s = load(ctx, t, path, root);
    json_object_put(root);
    if (s) {
        vd__qwen_tok_free(t);
        return s;
    }
    *out = t;
    return VD_OK;
}

void vd__qwen_tok_free(vd__qwen_tok *t)
{
    if (!t)
        return;
    if (t->re)
        pcre2_code_free(t->re);
    vd__free(t->off);
    vd__free(t->blob);
    vd__free(t->flags);
    vd__free(t->vocab_slots);
    vd__free(t->merges);
    vd__free(t->added);
    vd__free(t);
}

/* ---- encoding ---- */

/* Scratch for one encode call. */
typedef struct enc {
    vd_ctx *ctx;
    const vd__qwen_tok *t;
    vd__ivec *out;
    pcre2_match_data *md;
    /* BPE working set, grown as needed */
    int32_t *id, *prev, *next;
    struct hent {
        int32_t rank, pos, left, right;
    } * heap;
    size_t cap, hcap;
    /* NFC output */
    utf8proc_int32_t *cp;
    size_t cpcap;
    vd__buf norm;
    /* piece -> ids cache for this call: most pieces of real text repeat,
     * and a lookup is far cheaper than BPE */
    struct centry {
        uint32_t key, klen; /* piece bytes in ckeys */
        uint32_t ids, nids; /* in cids */
    } * cache;
    uint32_t cmask, cused;
    vd__buf ckeys;
    vd__ivec cids;
} enc;

#define CACHE_SLOTS     (1u << 16)
#define CACHE_MAX_PIECE 64

static vd_status grow(enc *e, size_t n)
{
    if (n <= e->cap)
        return VD_OK;
    size_t nc = e->cap ? e->cap : 256;
    while (nc < n)
        nc *= 2;
    int32_t *a = vd__realloc(e->ctx, e->id, nc * sizeof *a);
    if (!a)
        return VD_ERR_NOMEM;
    e->id = a;
    if (!(a = vd__realloc(e->ctx, e->prev, nc * sizeof *a)))
        return VD_ERR_NOMEM;
    e->prev = a;
    if (!(a = vd__realloc(e->ctx, e->next, nc * sizeof *a)))
        return VD_ERR_NOMEM;
    e->next = a;
    /* n - 1 first pushes, then at most 2 per merge: under 3n */
    struct hent *h = vd__realloc(e->ctx, e->heap, 3 * nc * sizeof *h);
    if (!h)
        return VD_ERR_NOMEM;
    e->heap = h;
    e->hcap = 3 * nc;
    e->cap = nc;
    return VD_OK;
}

static bool hless(const struct hent *a, const struct hent *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void hpush(struct hent *h, size_t *n, struct hent x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static struct hent hpop(struct hent *h, size_t *n)
{
    struct hent top = h[0], x = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && hless(&h[c + 1], &h[c]))
            c++;
        if (!hless(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = x;
    return top;
}

/* BPE on one piece: repeatedly merge the adjacent pair of lowest rank,
 * leftmost first (HF's order), using a heap of candidate pairs whose
 * stale entries are skipped when popped. */
static vd_status bpe(enc *e, const unsigned char *p, size_t n)
{
    const vd__qwen_tok *t = e->t;
    if (n == 1)
        return vd__ivec_push(e->ctx, e->out, t->byte_id[p[0]]);
    vd_status s = grow(e, n);
    if (s)
        return s;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        e->id[i] = t->byte_id[p[i]];
        e->prev[i] = (int32_t)i - 1;
        e->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *m = merge_find(t, e->id[i], e->id[i + 1]);
        if (m)
            hpush(e->heap, &hn,
                  (struct hent){ m->rank, (int32_t)i, e->id[i], e->id[i + 1] });
    }
    while (hn) {
        struct hent h = hpop(e->heap, &hn);
        int32_t i = h.pos, j = e->next[i];
        /* stale: a side was merged away or changed since the push */
        if (e->id[i] != h.left || j < 0 || e->id[j] != h.right)
            continue;
        const merge_slot *m = merge_find(t, h.left, h.right);
        e->id[i] = m->merged;
        e->id[j] = -1;
        int32_t k = e->next[j];
        e->next[i] = k;
        if (k >= 0)
            e->prev[k] = i;
        int32_t pi = e->prev[i];
        if (hn + 2 > e->hcap)
            return vd__fail(e->ctx, VD_ERR_INTERNAL, "BPE heap overflow");
        if (pi >= 0 && (m = merge_find(t, e->id[pi], e->id[i])))
            hpush(e->heap, &hn,
                  (struct hent){ m->rank, pi, e->id[pi], e->id[i] });
        if (k >= 0 && (m = merge_find(t, e->id[i], e->id[k])))
            hpush(e->heap, &hn,
                  (struct hent){ m->rank, i, e->id[i], e->id[k] });
    }
    if ((s = vd__ivec_reserve(e->ctx, e->out, (int64_t)n)))
        return s;
    for (int32_t i = 0; i >= 0; i = e->next[i])
        e->out->v[e->out->n++] = e->id[i];
    return VD_OK;
}

/* BPE through the cache. */
static vd_status bpe_cached(enc *e, const unsigned char *p, size_t n)
{
    if (n == 1 || n > CACHE_MAX_PIECE || !e->cache)
        return bpe(e, p, n);
    uint64_t i = hash_bytes(p, n) & e->cmask;
    for (;;) {
        struct centry *c = &e->cache[i];
        if (!c->klen)
            break;
        if (c->klen == n && !memcmp(e->ckeys.data + c->key, p, n)) {
            vd_status s = vd__ivec_reserve(e->ctx, e->out, c->nids);
            if (s)
                return s;
            memcpy(e->out->v + e->out->n, e->cids.v + c->ids,
                   (size_t)c->nids * sizeof(int32_t));
            e->out->n += c->nids;
            return VD_OK;
        }
        i = (i + 1) & e->cmask;
    }
    int64_t before = e->out->n;
    vd_status s = bpe(e, p, n);
    if (s || e->cused >= CACHE_SLOTS / 4 * 3)
        return s; /* full at 3/4: later pieces just run BPE */
    uint32_t nids = (uint32_t)(e->out->n - before);
    struct centry *c = &e->cache[i];
    c->key = (uint32_t)e->ckeys.len;
    c->ids = (uint32_t)e->cids.n;
    if (vd__buf_append(e->ctx, &e->ckeys, p, n) ||
        vd__ivec_reserve(e->ctx, &e->cids, nids))
        return VD_ERR_NOMEM;
    memcpy(e->cids.v + e->cids.n, e->out->v + before,
           (size_t)nids * sizeof(int32_t));
    e->cids.n += nids;
    c->klen = (uint32_t)n;
    c->nids = nids;
    e->cused++;
    return VD_OK;
}

/* Pre-tokenize TEXT[n] (valid UTF-8, already normalised) and BPE each
 * piece. The regex alternatives cover every character, so pieces tile
 * the text; a gap would be a bug in the pattern and is BPE'd as is. */
static vd_status pieces(enc *e, const unsigned char *text, size_t n)
{
    size_t at = 0;
    while (at < n) {
        int rc = e->t->jit
                     ? pcre2_jit_match(e->t->re, text, n, at, 0, e->md, NULL)
                     : PCRE2_ERROR_JIT_STACKLIMIT;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* or no JIT: interpret */
            rc = pcre2_match(e->t->re, text, n, at,
                             PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, e->md, NULL);
        size_t b = n, en = n;
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
            b = ov[0];
            en = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            return vd__fail(e->ctx, VD_ERR_INTERNAL,
                            "pre-tokenizer regex failed (%d)", rc);
        }
        vd_status s;
        if (b > at && (s = bpe(e, text + at, b - at)))
            return s;
        if (en > b && (s = bpe_cached(e, text + b, en - b)))
            return s;
        if (en == b) { /* an empty match: step one character */
            if (en >= n)
                break;
            size_t step = 1;
            while (en + step < n && (text[en + step] & 0xC0) == 0x80)
                step++;
            if ((s = bpe(e, text + en, step)))
                return s;
            en += step;
        }
        at = en;
    }
    return VD_OK;
}

/* NFC of P[n] (valid UTF-8) appended to E->norm through utf8proc. */
static vd_status nfc_run(enc *e, const unsigned char *p, size_t n)
{
    const int opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t ncp =
        utf8proc_decompose(p, (utf8proc_ssize_t)n, NULL, 0, opt);
    if (ncp < 0)
        return vd__fail(e->ctx, VD_ERR_ARG, "text: %s", utf8proc_errmsg(ncp));
    if ((size_t)ncp + 1 > e->cpcap) {
        size_t nc = (size_t)ncp + 1;
        utf8proc_int32_t *np = vd__realloc(e->ctx, e->cp, nc * sizeof *np);
        if (!np)
            return VD_ERR_NOMEM;
        e->cp = np;
        e->cpcap = nc;
    }
    ncp = utf8proc_decompose(p, (utf8proc_ssize_t)n, e->cp, ncp, opt);
    /* composes in place and writes UTF-8 over the same buffer */
    utf8proc_ssize_t nb = ncp < 0 ? ncp : utf8proc_reencode(e->cp, ncp, opt);
    if (nb < 0)
        return vd__fail(e->ctx, VD_ERR_ARG, "text: %s", utf8proc_errmsg(nb));
    return vd__buf_append(e->ctx, &e->norm, e->cp, (size_t)nb);
}

/* One segment between added tokens: NFC, then pieces. NFC leaves every
 * code point below U+0300 alone (the first one it can change or combine
 * is U+0300), and nothing combines with a following ASCII character, so
 * only runs from the character before a code point >= U+0300 up to the
 * next ASCII byte go through utf8proc; the rest is copied. */
static vd_status segment(enc *e, const unsigned char *p, size_t n)
{
    if (!n)
        return VD_OK;
    size_t i = 0;
    while (i < n && p[i] < 0xCC) /* lead byte of U+0300 and up */
        i++;
    if (i == n || !e->t->nfc)
        return pieces(e, p, n);
    vd__buf_reset(&e->norm);
    size_t done = 0;
    vd_status s = VD_OK;
    while (i < n && !s) {
        if (p[i] < 0xCC || (p[i] & 0xC0) == 0x80) {
            i++;
            continue;
        }
        size_t k = i; /* back to the start of the previous character */
        if (k > done) {
            k--;
            while (k > done && (p[k] & 0xC0) == 0x80)
                k--;
        }
        size_t end = i;
        while (end < n && p[end] >= 0x80)
            end++;
        if ((s = vd__buf_append(e->ctx, &e->norm, p + done, k - done)) ||
            (s = nfc_run(e, p + k, end - k)))
            break;
        done = i = end;
    }
    if (!s)
        s = vd__buf_append(e->ctx, &e->norm, p + done, n - done);
    if (s)
        return s;
    return pieces(e, (const unsigned char *)e->norm.data, e->norm.len);
}

vd_status vd__qwen_tok_encode(vd_ctx *ctx, const vd__qwen_tok *t,
                              const char *text, size_t len, vd__ivec *out)
{
    if (!vd__utf8_valid(text, len))
        return vd__fail(ctx, VD_ERR_ARG, "text to tokenize is not UTF-8");
    enc e = { .ctx = ctx, .t = t, .out = out };
    vd__buf_init(&e.norm, 0);
    vd__buf_init(&e.ckeys, 0);
    e.md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!e.md)
        return vd__fail(ctx, VD_ERR_NOMEM, "out of memory");
    /* the cache pays off only on longer texts (its table is 1 MB) */
    if (len > 4096) {
        e.cache = vd__calloc(ctx, CACHE_SLOTS, sizeof *e.cache);
        e.cmask = CACHE_SLOTS - 1;
        if (!e.cache) {
            pcre2_match_data_free(e.md);
            return VD_ERR_NOMEM;
        }
    }
    const unsigned char *p = (const unsigned char *)text;
    size_t seg = 0;
    vd_status s = VD_OK;
    /* added tokens first, on the raw text: leftmost, then longest */
    for (size_t i = 0; i < len && !s;) {
        if (!t->added_first[p[i]]) {
            i++;
            continue;
        }
        const struct added *hit = NULL;
        for (int k = 0; k < t->n_added; k++) {
            const struct added *a = &t->added[k];
            if (a->len <= len - i && a->s[0] == p[i] &&
                memcmp(a->s, p + i, a->len) == 0) {
                hit = a; /* longest first: the first hit wins */
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        if (!(s = segment(&e, p + seg, i - seg)))
            s = vd__ivec_push(ctx, out, hit->id);
        i += hit->len;
        seg = i;
    }
    if (!s)
        s = segment(&e, p + seg, len - seg);
    pcre2_match_data_free(e.md);
    vd__free(e.id);
    vd__free(e.prev);
    vd__free(e.next);
    vd__free(e.heap);
    vd__free(e.cp);
    vd__buf_free(&e.norm);
    vd__free(e.cache);
    vd__buf_free(&e.ckeys);
    vd__ivec_free(&e.cids);
    return s;
}

/* ---- decoding ---- */

int vd__qwen_tok_size(const vd__qwen_tok *t)
{
    return t->n_ids;
}

const char *vd__qwen_tok_bytes(const vd__qwen_tok *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOK_PRESENT)) {
        *len = 0;
        return NULL;
    }
    *len = t->off[id + 1] - t->off[id];
    return (const char *)t->blob + t->off[id];
}

bool vd__qwen_tok_is_special(const vd__qwen_tok *t, int32_t id)
{
    return id >= 0 && id < t->n_ids && (t->flags[id] & TOK_SPECIAL);
}

int32_t vd__qwen_tok_added(const vd__qwen_tok *t, const char *text)
{
    size_t n = strlen(text);
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].len == n && !memcmp(t->added[k].s, text, n))
            return t->added[k].id;
    return -1;
}

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Append the valid prefix of P[n] to OUT, U+FFFD for bad parts; with
 * FINAL an incomplete tail is bad too, else its length is returned. */
static size_t emit_utf8(vd_ctx *ctx, const unsigned char *p, size_t n,
                        bool final, vd__buf *out)
{
    size_t i = 0, run = 0;
    while (i < n) {
        int k = vd__utf8_seq(p + i, n - i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (k == 0 && !final)
            break;
        vd__buf_append(ctx, out, p + run, i - run);
        vd__buf_puts(ctx, out, replacement);
        i += k == 0 ? n - i : (size_t)-k;
        run = i;
    }
    vd__buf_append(ctx, out, p + run, i - run);
    return n - i;
}

vd_status vd__qwen_tok_decode(vd_ctx *ctx, const vd__qwen_tok *t,
                              const int32_t *ids, int64_t n, bool skip_special,
                              vd__buf *out)
{
    vd__buf raw;
    vd__buf_init(&raw, 0);
    for (int64_t i = 0; i < n; i++) {
        if (skip_special && vd__qwen_tok_is_special(t, ids[i]))
            continue;
        size_t l;
        const char *b = vd__qwen_tok_bytes(t, ids[i], &l);
        vd__buf_append(ctx, &raw, b, l);
    }
    if (!raw.err && raw.len)
        emit_utf8(ctx, (const unsigned char *)raw.data, raw.len, true, out);
    vd_status s = raw.err ? raw.err : out->err;
    vd__buf_free(&raw);
    return s;
}

void vd__qwen_detok_init(vd__qwen_detok *d, const vd__qwen_tok *t,
                         bool skip_special)
{
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->skip_special = skip_special;
}

vd_status vd__qwen_detok_push(vd_ctx *ctx, vd__qwen_detok *d, int32_t id,
                              vd__buf *out)
{
    if (d->skip_special && vd__qwen_tok_is_special(d->tok, id))
        return VD_OK;
    size_t l;
    const unsigned char *b =
        (const unsigned char *)vd__qwen_tok_bytes(d->tok, id, &l);
    if (!l)
        return VD_OK;
    /* complete the held-back character first, then the token's bytes */
    unsigned char tmp[16];
    size_t i = 0;
    while (d->npend > 0 && i < l) {
        memcpy(tmp, d->pend, (size_t)d->npend);
        size_t take = l - i < 4 ? l - i : 4;
        memcpy(tmp + d->npend, b + i, take);
        int k = vd__utf8_seq(tmp, (size_t)d->npend + take);
        if (k == 0) { /* still incomplete: everything is held */
            memcpy(d->pend + d->npend, b + i, take);
            d->npend += (int)take;
            return out->err;
        }
        if (k > 0) {
            vd__buf_append(ctx, out, tmp, (size_t)k);
            i += (size_t)k - (size_t)d->npend;
        } else {
            vd__buf_puts(ctx, out, replacement);
            size_t bad = (size_t)-k;
            if (bad < (size_t)d->npend) { /* rest of pend restarts */
                memmove(d->pend, d->pend + bad, (size_t)d->npend - bad);
                d->npend -= (int)bad;
                continue;
            }
            i += bad - (size_t)d->npend;
        }
        d->npend = 0;
    }
    if (i < l) {
        size_t left = emit_utf8(ctx, b + i, l - i, false, out);
        memcpy(d->pend, b + l - left, left);
        d->npend = (int)left;
    }
    return out->err;
}

vd_status vd__qwen_detok_flush(vd_ctx *ctx, vd__qwen_detok *d, vd__buf *out)
{
    if (d->npend)
        emit_utf8(ctx, d->pend, (size_t)d->npend, true, out);
    d->npend = 0;
    return out->err;
}

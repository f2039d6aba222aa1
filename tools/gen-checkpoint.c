/* tools/gen-checkpoint: write a random-weight Qwen2.5-VL checkpoint in the
 * Hugging Face hub layout for any config.json - the tiny reference ones or
 * the real 3B/7B/72B shapes - for benchmarks and loader tests. BF16
 * safetensors shards (at most --shard-size bytes each) with
 * model.safetensors.index.json, or one model.safetensors when it fits,
 * plus config, generation, preprocessor and (optionally copied) tokenizer
 * files. Streams: the header is computed from the tensor inventory, then
 * every tensor's bytes are generated and written in blocks, so a 72B
 * checkpoint needs no more memory than a tiny one. Same seed, same bytes.
 *
 *   gen-checkpoint [--seed N] [--shard-size BYTES] [--tokenizer DIR]
 *                  [--generation-config F] [--preprocessor-config F]
 *                  CONFIG.json OUTDIR */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qwen.h"

static const char usage[] =
    "Usage: gen-checkpoint [OPTIONS] CONFIG.json OUTDIR\n"
    "Write a random-weight Qwen2.5-VL checkpoint (BF16, hub layout) for\n"
    "CONFIG.json into OUTDIR.\n"
    "  --seed N                 weights RNG seed (default 1)\n"
    "  --shard-size BYTES       largest shard (default 5000000000, as\n"
    "                           save_pretrained's 5GB)\n"
    "  --tokenizer DIR          copy tokenizer.json, tokenizer_config.json,\n"
    "                           vocab.json, merges.txt from DIR\n"
    "  --generation-config F    copy F (default: greedy, eos 151645 and\n"
    "                           151643)\n"
    "  --preprocessor-config F  copy F (default: the published values)\n";

static const char default_gen[] =
    "{\n  \"bos_token_id\": 151643,\n  \"pad_token_id\": 151643,\n"
    "  \"eos_token_id\": [151645, 151643],\n  \"do_sample\": false\n}\n";

static const char default_pre[] =
    "{\n  \"min_pixels\": 3136,\n  \"max_pixels\": 12845056,\n"
    "  \"patch_size\": 14,\n  \"temporal_patch_size\": 2,\n"
    "  \"merge_size\": 2,\n"
    "  \"image_mean\": [0.48145466, 0.4578275, 0.40821073],\n"
    "  \"image_std\": [0.26862954, 0.26130258, 0.27577711],\n"
    "  \"image_processor_type\": \"Qwen2VLImageProcessor\",\n"
    "  \"processor_class\": \"Qwen2_5_VLProcessor\"\n}\n";

static void die(const char *fmt, ...) VD_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen-checkpoint: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        die("%s: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out)
        die("%s: %s", to, strerror(errno));
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            die("%s: write failed", to);
    fclose(in);
    if (fclose(out) != 0)
        die("%s: write failed", to);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0)
        die("%s: cannot write", path);
}

/* ---- the tensor list ---- */

typedef struct tensor {
    vd__qwen_tinfo ti;
    int shard;
    uint64_t off; /* inside its shard's data section */
} tensor;

typedef struct tlist {
    tensor *t;
    int n, cap;
} tlist;

static void collect(void *user, const vd__qwen_tinfo *ti)
{
    tlist *l = user;
    if (ti->optional)
        return; /* a tied lm_head is not stored (save_pretrained) */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->t = realloc(l->t, (size_t)l->cap * sizeof *l->t);
        if (!l->t)
            die("out of memory");
    }
    memset(&l->t[l->n], 0, sizeof *l->t);
    l->t[l->n++].ti = *ti;
}

/* ---- values ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* Scale of a tensor's values: uniform in [-a, a] with the spread a
 * trained model has (1/sqrt(fan-in) for matrices, small biases, norms
 * near 1), so activations stay finite through every layer. */
static void value_law(const vd__qwen_tinfo *ti, float *center, float *a)
{
    bool norm = strstr(ti->name, "norm") || strstr(ti->name, "ln_q");
    *center = norm ? 1.0f : 0.0f;
    if (norm)
        *a = 0.1f;
    else if (ti->ndim == 1)
        *a = 0.02f;
    else {
        double fan = (double)(ti->numel / ti->shape[0]);
        *a = (float)(sqrt(3.0 / fan)); /* unit variance after the product */
        if (strstr(ti->name, "embed_tokens") || strstr(ti->name, "lm_head"))
            *a = 0.05f;
    }
}

/* Stream tensor T into FP: a seed derived from the global seed and the
 * tensor's index makes every tensor reproducible on its own. */
static void write_tensor(FILE *fp, const tensor *t, int idx, uint64_t seed)
{
    static uint16_t buf[1 << 16];
    uint64_t s =
        seed * 0x100000001B3ULL + (uint64_t)idx * 0x9E3779B97F4A7C15ULL;
    float c, a;
    value_law(&t->ti, &c, &a);
    int64_t left = t->ti.numel;
    while (left > 0) {
        int64_t n = left < (1 << 16) ? left : (1 << 16);
        for (int64_t i = 0; i < n; i += 2) {
            uint64_t r = rng_next(&s);
            float u0 = (float)(r >> 40) * (1.0f / 16777216.0f);
            float u1 = (float)(r & 0xFFFFFF) * (1.0f / 16777216.0f);
            buf[i] = to_bf16(c + a * (2 * u0 - 1));
            if (i + 1 < n)
                buf[i + 1] = to_bf16(c + a * (2 * u1 - 1));
        }
        if (fwrite(buf, 2, (size_t)n, fp) != (size_t)n)
            die("write failed: %s", strerror(errno));
        left -= n;
    }
}

static void json_shape(FILE *fp, const vd__qwen_tinfo *ti)
{
    fputc('[', fp);
    for (int i = 0; i < ti->ndim; i++)
        fprintf(fp, "%s%lld", i ? "," : "", (long long)ti->shape[i]);
    fputc(']', fp);
}

static void write_shard(const char *path, tlist *l, int shard, uint64_t seed)
{
    /* header first: offsets are known from the shapes */
    char *h = NULL;
    size_t hl = 0;
    FILE *hf = open_memstream(&h, &hl);
    fputs("{\"__metadata__\":{\"format\":\"pt\"}", hf);
    for (int i = 0; i < l->n; i++) {
        tensor *t = &l->t[i];
        if (t->shard != shard)
            continue;
        fprintf(hf, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":", t->ti.name);
        json_shape(hf, &t->ti);
        fprintf(hf, ",\"data_offsets\":[%llu,%llu]}",
                (unsigned long long)t->off,
                (unsigned long long)(t->off + 2 * (uint64_t)t->ti.numel));
    }
    fputc('}', hf);
    fclose(hf);
    size_t pad = (8 - hl % 8) % 8; /* spaces to 8 bytes, as safetensors */
    char *nh = realloc(h, hl + pad + 1);
    if (!nh)
        die("out of memory");
    h = nh;
    memset(h + hl, ' ', pad);
    hl += pad;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        die("%s: %s", tmp, strerror(errno));
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(h, 1, hl, fp);
    free(h);
    for (int i = 0; i < l->n; i++)
        if (l->t[i].shard == shard)
            write_tensor(fp, &l->t[i], i, seed);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        die("%s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "seed", required_argument, NULL, 's' },
        { "shard-size", required_argument, NULL, 'S' },
        { "tokenizer", required_argument, NULL, 'T' },
        { "generation-config", required_argument, NULL, 'G' },
        { "preprocessor-config", required_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    uint64_t seed = 1, shard_size = 5000000000ULL;
    const char *tokdir = NULL, *genf = NULL, *pref = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'S':
            shard_size = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            tokdir = optarg;
            break;
        case 'G':
            genf = optarg;
            break;
        case 'P':
            pref = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind != 2 || shard_size < 1024) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cfgpath = argv[optind], *out = argv[optind + 1];
    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        die("%s: %s", out, strerror(errno));
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", out);
    copy_file(cfgpath, p);
    snprintf(p, sizeof p, "%s/generation_config.json", out);
    if (genf)
        copy_file(genf, p);
    else
        write_text(p, default_gen);
    snprintf(p, sizeof p, "%s/preprocessor_config.json", out);
    if (pref)
        copy_file(pref, p);
    else
        write_text(p, default_pre);
    if (tokdir) {
        static const char *tf[] = { "tokenizer.json", "tokenizer_config.json",
                                    "vocab.json", "merges.txt" };
        for (int i = 0; i < 4; i++) {
            char a[4096];
            snprintf(a, sizeof a, "%s/%s", tokdir, tf[i]);
            snprintf(p, sizeof p, "%s/%s", out, tf[i]);
            if (access(a, R_OK) == 0)
                copy_file(a, p);
            else if (i == 0)
                die("%s: %s", a, strerror(errno));
        }
    }

    vd_ctx *ctx = vd_ctx_new(NULL);
    vd__qwen_cfg cfg;
    if (vd__qwen_cfg_load(ctx, out, &cfg) != VD_OK)
        die("%s", vd_ctx_errmsg(ctx));
    tlist l = { 0 };
    vd__qwen_inventory(&cfg, NULL, collect, &l);
    /* shards in inventory order, each under the size limit */
    int nshards = 1;
    uint64_t used = 0, total = 0;
    for (int i = 0; i < l.n; i++) {
        uint64_t b = 2 * (uint64_t)l.t[i].ti.numel;
        if (used && used + b > shard_size) {
            nshards++;
            used = 0;
        }
        l.t[i].shard = nshards - 1;
        l.t[i].off = used;
        used += b;
        total += b;
    }
    double t0 = vd__now();
    char name[64];
    for (int s = 0; s < nshards; s++) {
        if (nshards == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1,
                     nshards);
        snprintf(p, sizeof p, "%s/%s", out, name);
        write_shard(p, &l, s, seed);
        fprintf(stderr, "gen-checkpoint: wrote %s\n", p);
    }
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", out);
    if (nshards > 1) {
        FILE *fp = fopen(p, "w");
        if (!fp)
            die("%s: %s", p, strerror(errno));
        fprintf(fp,
                "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n"
                "  \"weight_map\": {\n",
                (unsigned long long)total);
        for (int i = 0; i < l.n; i++)
            fprintf(fp, "    \"%s\": \"model-%05d-of-%05d.safetensors\"%s\n",
                    l.t[i].ti.name, l.t[i].shard + 1, nshards,
                    i + 1 < l.n ? "," : "");
        fputs("  }\n}\n", fp);
        if (fclose(fp) != 0)
            die("%s: write failed", p);
    } else {
        unlink(p);
    }
    fprintf(stderr,
            "gen-checkpoint: %d tensors, %.3f B parameters, %.2f GB in %d "
            "file(s), %.1f s\n",
            l.n, (double)total / 2e9, (double)total / 1e9, nshards,
            vd__now() - t0);
    free(l.t);
    vd_ctx_free(ctx);
    return 0;
}

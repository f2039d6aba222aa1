/* CLI: the inputs of a batch (files and directories walked recursively,
 * in a stable sorted order, or read from a list), the output path of each
 * (derived from the input's name, never equal to an input), the shard an
 * input belongs to, and the JSONL manifest that lets a batch resume. */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static bool push(cli_inputs *in, const char *path, const char *rel)
{
    if (in->n == in->cap) {
        int cap = in->cap ? in->cap * 2 : 16;
        char **p = realloc(in->paths, sizeof *p * (size_t)cap);
        if (!p)
            return false;
        in->paths = p;
        char **r = realloc(in->rel, sizeof *r * (size_t)cap);
        if (!r)
            return false;
        in->rel = r;
        in->cap = cap;
    }
    in->paths[in->n] = strdup(path);
    in->rel[in->n] = strdup(rel);
    if (!in->paths[in->n] || !in->rel[in->n])
        return false;
    in->n++;
    return true;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool walk(cli_inputs *in, const char *dir, const char *rel, int depth)
{
    if (depth > 64) {
        fprintf(stderr, "vldoc: %s: directories nested too deeply\n", dir);
        return false;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "vldoc: %s: %s\n", dir, strerror(errno));
        return false;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* hidden files, ., .., and our own temp files */
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, sizeof *nn * cap);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], r[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            ok = walk(in, path, r, depth + 1) && ok;
        else if (S_ISREG(sb.st_mode))
            ok = push(in, path, r) && ok;
        free(names[i]);
    }
    free(names);
    return ok;
}

/* A listed path as a relative name: "/data/x/a.pdf" -> "data/x/a.pdf",
 * "./a.pdf" -> "a.pdf"; NULL when it has ".." (it would leave -o DIR). */
static char *listed_rel(const char *path)
{
    char *out = malloc(strlen(path) + 1), *o = out;
    if (!out)
        return NULL;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return NULL;
        }
        if (n && !(n == 1 && p[0] == '.')) {
            if (o != out)
                *o++ = '/';
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

static bool add(cli_inputs *in, const char *arg, bool listed)
{
    struct stat sb;
    if (stat(arg, &sb) != 0) {
        fprintf(stderr, "vldoc: %s: %s\n", arg, strerror(errno));
        return false;
    }
    if (S_ISDIR(sb.st_mode)) {
        size_t len = strlen(arg);
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s",
                 (int)(len > 1 && arg[len - 1] == '/' ? len - 1 : len), arg);
        return walk(in, dir, "", 0);
    }
    const char *base = strrchr(arg, '/');
    char *rel = listed ? listed_rel(arg) : NULL;
    bool ok = push(in, arg, rel ? rel : base ? base + 1 : arg);
    free(rel);
    return ok;
}

bool cli_inputs_add(cli_inputs *in, const char *arg)
{
    return add(in, arg, false);
}

bool cli_inputs_from(cli_inputs *in, const char *list, int *bad)
{
    FILE *f = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
    if (!f) {
        fprintf(stderr, "vldoc: --inputs-from %s: %s\n", list, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (!add(in, line, true))
            (*bad)++;
    }
    bool ok = !ferror(f);
    if (!ok)
        fprintf(stderr, "vldoc: --inputs-from %s: read error\n", list);
    free(line);
    if (f != stdin)
        fclose(f);
    return ok;
}

struct cli_fileid {
    dev_t dev;
    ino_t ino;
};

void cli_inputs_free(cli_inputs *in)
{
    for (int i = 0; i < in->n; i++) {
        free(in->paths[i]);
        free(in->rel[i]);
    }
    free(in->paths);
    free(in->rel);
    free(in->clash);
    free(in->clash_ext);
    free(in->ids);
    memset(in, 0, sizeof *in);
}

static bool mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0777);
        int e = errno;
        *p = '/';
        if (r != 0 && e != EEXIST) {
            fprintf(stderr, "vldoc: %s: cannot create directory: %s\n", path,
                    strerror(e));
            return false;
        }
    }
    return true;
}

/* REL with its extension replaced by EXT ("a/b.pdf" -> "a/b.md"). */
static void replace_ext(char *out, size_t n, const char *rel, const char *ext)
{
    const char *slash = strrchr(rel, '/');
    const char *dot = strrchr(rel, '.');
    size_t stem =
        dot && dot > (slash ? slash : rel) ? (size_t)(dot - rel) : strlen(rel);
    snprintf(out, n, "%.*s.%s", (int)stem, rel, ext);
}

typedef struct named {
    char *name;
    int i;
} named;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Mark the inputs whose output names collide, once per extension: sort
 * the names instead of comparing every pair, since a batch can list
 * millions of files. */
static bool find_clashes(cli_inputs *in, const char *ext)
{
    if (in->clash && strcmp(in->clash_ext, ext) == 0)
        return true;
    free(in->clash);
    free(in->clash_ext);
    in->clash = calloc((size_t)in->n + 1, 1);
    in->clash_ext = strdup(ext);
    named *v = calloc((size_t)in->n + 1, sizeof *v);
    bool ok = in->clash && in->clash_ext && v;
    for (int i = 0; ok && i < in->n; i++) {
        char name[PATH_MAX];
        replace_ext(name, sizeof name, in->rel[i], ext);
        v[i].i = i;
        ok = (v[i].name = strdup(name)) != NULL;
    }
    if (ok) {
        qsort(v, (size_t)in->n, sizeof *v, cmp_named);
        for (int k = 1; k < in->n; k++)
            if (strcmp(v[k].name, v[k - 1].name) == 0)
                in->clash[v[k].i] = in->clash[v[k - 1].i] = 1;
    }
    for (int i = 0; v && i < in->n; i++)
        free(v[i].name);
    free(v);
    if (!ok) {
        fprintf(stderr, "vldoc: out of memory\n");
        free(in->clash);
        in->clash = NULL;
    }
    return ok;
}

char *cli_output_path(cli_inputs *in, int i, const char *dir, const char *ext)
{
    char name[PATH_MAX], path[PATH_MAX];
    if (!find_clashes(in, ext))
        return NULL;
    /* another input with the same stem (a.pdf, a.tif): keep the full
     * input name so outputs never collide */
    if (in->clash[i])
        snprintf(name, sizeof name, "%s.%s", in->rel[i], ext);
    else
        replace_ext(name, sizeof name, in->rel[i], ext);
    size_t dl = strlen(dir);
    int w = snprintf(path, sizeof path, "%s%s%s", dir,
                     dl && dir[dl - 1] == '/' ? "" : "/", name);
    if (w < 0 || (size_t)w >= sizeof path) {
        fprintf(stderr, "vldoc: %s: output path too long\n", in->paths[i]);
        return NULL;
    }
    if (!mkdirs(path))
        return NULL;
    return strdup(path);
}

static int cmp_id(const void *a, const void *b)
{
    const struct cli_fileid *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return 0;
}

bool cli_is_input(cli_inputs *in, const char *path)
{
    struct stat a, b;
    if (stat(path, &a) != 0)
        return false;
    if (!in->ids) {
        in->ids = calloc((size_t)in->n + 1, sizeof *in->ids);
        if (!in->ids)
            return true; /* cannot tell: refuse to write */
        in->nids = 0;
        for (int i = 0; i < in->n; i++)
            if (stat(in->paths[i], &b) == 0) {
                in->ids[in->nids].dev = b.st_dev;
                in->ids[in->nids].ino = b.st_ino;
                in->nids++;
            }
        qsort(in->ids, (size_t)in->nids, sizeof *in->ids, cmp_id);
    }
    struct cli_fileid key = { a.st_dev, a.st_ino };
    return bsearch(&key, in->ids, (size_t)in->nids, sizeof *in->ids, cmp_id) !=
           NULL;
}

/* ---- shards ---- */

bool cli_shard_parse(const char *s, unsigned *i, unsigned *n)
{
    char *e;
    errno = 0;
    unsigned long a = strtoul(s, &e, 10);
    if (e == s || *e != '/' || errno || s[0] == '-')
        return false;
    const char *q = e + 1;
    unsigned long b = strtoul(q, &e, 10);
    if (e == q || *e || errno || q[0] == '-' || b < 1 || b > 1000000 || a >= b)
        return false;
    *i = (unsigned)a;
    *n = (unsigned)b;
    return true;
}

unsigned cli_shard_of(const char *rel, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    /* splitmix64 finalizer: FNV's low bits alone spread poorly mod N */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (unsigned)(h % n);
}

/* ---- manifest ---- */

static const char *const mstatus_names[] = { "none", "ok", "failed", "error",
                                             "skipped" };

const char *cli_mstatus_name(cli_mstatus s)
{
    return (unsigned)s < 5 ? mstatus_names[s] : "none";
}

typedef struct mentry {
    char *input; /* NULL: empty slot */
    cli_mstatus status;
} mentry;

struct cli_manifest {
    int fd;
    char *path;
    mentry *tab; /* open addressing, power-of-two size */
    size_t cap, used;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool tab_put(cli_manifest *m, char *input, cli_mstatus st)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        mentry *t = calloc(cap, sizeof *t);
        if (!t)
            return false;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->tab[i].input)
                continue;
            size_t k = hash_str(m->tab[i].input) & (cap - 1);
            while (t[k].input)
                k = (k + 1) & (cap - 1);
            t[k] = m->tab[i];
        }
        free(m->tab);
        m->tab = t;
        m->cap = cap;
    }
    size_t k = hash_str(input) & (m->cap - 1);
    while (m->tab[k].input && strcmp(m->tab[k].input, input) != 0)
        k = (k + 1) & (m->cap - 1);
    if (m->tab[k].input) {
        free(input); /* a later line for the same input wins */
    } else {
        m->tab[k].input = input;
        m->used++;
    }
    m->tab[k].status = st;
    return true;
}

/* The JSON string value of KEY in LINE (our own writer's output, one
 * object per line), unescaped; NULL when absent. */
static char *json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out)
        return NULL;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'u': {
            unsigned v = 0;
            for (int k = 1; k <= 4 && p[k]; k++) {
                char c = p[k];
                v = v * 16 + (unsigned)(c <= '9'   ? c - '0'
                                        : c <= 'F' ? c - 'A' + 10
                                                   : c - 'a' + 10);
            }
            *o++ = (char)v; /* we only escape control characters */
            p += 4;
            break;
        }
        case '\0':
            p--;
            break;
        default:
            *o++ = *p;
        }
    }
    if (*p != '"') {
        free(out); /* a torn line from an interrupted run */
        return NULL;
    }
    *o = '\0';
    return out;
}

static bool load(cli_manifest *m)
{
    FILE *f = fopen(m->path, "r");
    if (!f)
        return errno == ENOENT;
    char *line = NULL;
    size_t cap = 0;
    bool ok = true;
    while (ok && getline(&line, &cap, f) >= 0) {
        char *input = json_field(line, "input");
        char *st = json_field(line, "status");
        cli_mstatus s = CLI_M_NONE;
        for (int k = 1; st && k < 5; k++)
            if (strcmp(st, mstatus_names[k]) == 0)
                s = (cli_mstatus)k;
        free(st);
        if (input && s)
            ok = tab_put(m, input, s);
        else
            free(input);
    }
    free(line);
    fclose(f);
    return ok;
}

cli_manifest *cli_manifest_open(const char *path, bool load_it)
{
    cli_manifest *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        fprintf(stderr, "vldoc: out of memory\n");
        return NULL;
    }
    if (load_it && !load(m)) {
        fprintf(stderr, "vldoc: --manifest %s: cannot read: %s\n", path,
                strerror(errno));
        cli_manifest_close(m);
        return NULL;
    }
    m->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (m->fd < 0) {
        fprintf(stderr, "vldoc: --manifest %s: %s\n", path, strerror(errno));
        cli_manifest_close(m);
        return NULL;
    }
    return m;
}

void cli_manifest_close(cli_manifest *m)
{
    if (!m)
        return;
    if (m->fd > 0)
        close(m->fd);
    for (size_t i = 0; i < m->cap; i++)
        free(m->tab[i].input);
    free(m->tab);
    free(m->path);
    free(m);
}

cli_mstatus cli_manifest_last(const cli_manifest *m, const char *input)
{
    if (!m || !m->cap)
        return CLI_M_NONE;
    size_t k = hash_str(input) & (m->cap - 1);
    while (m->tab[k].input) {
        if (strcmp(m->tab[k].input, input) == 0)
            return m->tab[k].status;
        k = (k + 1) & (m->cap - 1);
    }
    return CLI_M_NONE;
}

/* Growable line buffer for one record. */
typedef struct line {
    char *p;
    size_t n, cap;
    bool oom;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (l->oom)
        return;
    if (l->n + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 512;
        while (cap < l->n + n + 1)
            cap *= 2;
        char *p = realloc(l->p, cap);
        if (!p) {
            l->oom = true;
            return;
        }
        l->p = p;
        l->cap = cap;
    }
    memcpy(l->p + l->n, s, n);
    l->n += n;
    l->p[l->n] = '\0';
}

static void putf(line *l, const char *fmt, ...) VD_PRINTF(2, 3);
static void putf(line *l, const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static void put_json(line *l, const char *s)
{
    if (!s) {
        put(l, "null", 4);
        return;
    }
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = { '\\', (char)*p };
            put(l, e, 2);
        } else if (*p < 0x20) {
            putf(l, "\\u%04x", *p);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_str(line *l, const char *key, const char *s)
{
    putf(l, ",\"%s\":", key);
    put_json(l, s);
}

static void put_time(line *l, const char *key, double t)
{
    time_t s = (time_t)t;
    struct tm tm;
    char b[40];
    gmtime_r(&s, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    putf(l, ",\"%s\":\"%s.%03dZ\"", key, b,
         (int)((t - (double)s) * 1000) % 1000);
}

bool cli_manifest_write(cli_manifest *m, const cli_mrecord *r)
{
    line l = { 0 };
    put(&l, "{\"input\":", 9);
    put_json(&l, r->input);
    put_str(&l, "status", cli_mstatus_name(r->status));
    put_str(&l, "output", r->output);
    putf(&l, ",\"pages\":%d,\"pages_failed\":%d", r->pages, r->pages_failed);
    put_str(&l, "error", r->error);
    put_str(&l, "engine", r->engine);
    put_time(&l, "started", r->started);
    put_time(&l, "finished", r->finished);
    putf(&l, ",\"seconds\":%.3f,\"engine_seconds\":%.3f",
         r->finished - r->started, r->engine_seconds);
    putf(&l, ",\"prompt_tokens\":%ld,\"generated_tokens\":%ld",
         r->prompt_tokens, r->generated_tokens);
    putf(&l, ",\"attempts\":%d}\n", r->attempts);
    if (l.oom) {
        free(l.p);
        fprintf(stderr, "vldoc: out of memory\n");
        return false;
    }
    /* one write: with O_APPEND a line is never interleaved or torn by
     * another writer, and an interruption loses at most this line */
    ssize_t w = write(m->fd, l.p, l.n);
    bool ok = w == (ssize_t)l.n;
    if (!ok)
        fprintf(stderr, "vldoc: --manifest %s: write failed: %s\n", m->path,
                w < 0 ? strerror(errno) : "short write");
    free(l.p);
    return ok;
}

double cli_wallclock(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

double cli_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

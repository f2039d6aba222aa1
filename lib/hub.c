/* Hub client: `vldoc pull org/name` - the file list (names, sizes, LFS
 * digests) from the Hugging Face API in, the repository out in the same
 * cache layout huggingface_hub uses (blobs/, snapshots/COMMIT/ links,
 * refs/REV), so vldoc and the Python tools share downloads. Honours
 * HF_ENDPOINT and HF_TOKEN like huggingface_hub; resumes partial files
 * with HTTP ranges; never puts a file in place before its size and, for
 * LFS files, its SHA-256 are checked. Only this file touches libcurl. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub.h"
#include "qwen.h"

#ifdef HAVE_CURL
#include <curl/curl.h>
#endif

bool vd__hub_safe_name(const char *name)
{
    if (!name || !*name || name[0] == '/' || strlen(name) > 1024)
        return false;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\' || p[i] == 0x7F)
                return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return name[strlen(name) - 1] != '/';
}

char *vd__hub_repo_dir(vd_ctx *ctx, const char *cache, const char *repo)
{
    const char *slash = repo ? strchr(repo, '/') : NULL;
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') ||
        repo[0] == '.' || slash[1] == '.')
        return NULL;
    for (const char *p = repo; *p; p++)
        if (!(p == slash || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return NULL;
    return vd__asprintf(ctx, "%s/models--%.*s--%s", cache, (int)(slash - repo),
                        repo, slash + 1);
}

void vd_pull_opts_init(vd_pull_opts *o)
{
    memset(o, 0, sizeof *o);
}

#ifndef HAVE_CURL

vd_status vd_model_pull(vd_ctx *ctx, const char *repo, const vd_pull_opts *o,
                        char **snapshot)
{
    (void)o;
    *snapshot = NULL;
    return vd__fail(ctx, VD_ERR_UNSUPPORTED,
                    "%s: this vldoc was built without libcurl, so it cannot "
                    "download (rebuild with libcurl4-openssl-dev, or fetch "
                    "the folder another way and pass --model DIR)",
                    repo);
}

#else

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One file of the listing. */
typedef struct hfile {
    const char *name;    /* rfilename, inside the listing JSON */
    uint64_t size;       /* 0: not listed */
    const char *sha256;  /* LFS files: the content digest */
    const char *blob_id; /* git blob id (non-LFS blob name) */
} hfile;

typedef struct pull {
    vd_ctx *ctx;
    const vd_pull_opts *o;
    CURL *curl;
    struct curl_slist *hdr;
    char *endpoint, *token;
    char *repo_dir;
    /* the response being received */
    long status;
    bool body_started;
    uint64_t range_start; /* from Content-Range */
    bool have_range;
    vd__buf mem; /* API body, or an error body */
    FILE *fp;    /* the .incomplete blob */
    vd__sha256 sha;
    uint64_t have;  /* bytes of the file so far */
    vd_status werr; /* failure inside a callback */
    /* progress */
    const char *file;
    uint64_t total, all_done, all_total;
    double last;
} pull;

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static size_t on_header(char *b, size_t sz, size_t n, void *user)
{
    pull *p = user;
    size_t len = sz * n;
    if (len > 5 && !strncmp(b, "HTTP/", 5)) { /* each response, redirects too */
        const char *sp = memchr(b, ' ', len);
        p->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        p->body_started = false;
        p->have_range = false;
    } else if (len > 14 && !strncasecmp(b, "Content-Range:", 14)) {
        const char *q = b + 14;
        while (*q == ' ')
            q++;
        if (!strncasecmp(q, "bytes ", 6)) {
            p->range_start = strtoull(q + 6, NULL, 10);
            p->have_range = true;
        }
    }
    return len;
}

static void progress(pull *p, bool force)
{
    if (!p->o->progress || !p->file)
        return;
    double t = vd__now();
    if (!force && t - p->last < 0.1)
        return;
    p->last = t;
    p->o->progress(p->o->progress_user, p->file, p->have, p->total,
                   p->all_done + p->have, p->all_total);
}

static size_t on_body(char *b, size_t sz, size_t n, void *user)
{
    pull *p = user;
    size_t len = sz * n;
    if (p->status >= 300 || !p->fp) { /* API body or an error page */
        if (p->fp && p->mem.len > 4096)
            return len;
        return vd__buf_append(p->ctx, &p->mem, b, len) ? 0 : len;
    }
    if (!p->body_started) {
        p->body_started = true;
        if (p->status == 200 && p->have > 0) {
            /* the server ignored the range: start the file over */
            if (fflush(p->fp) || ftruncate(fileno(p->fp), 0) ||
                fseeko(p->fp, 0, SEEK_SET)) {
                p->werr = VD_ERR_IO;
                return 0;
            }
            p->have = 0;
            vd__sha256_init(&p->sha);
        } else if (p->status == 206 &&
                   (!p->have_range || p->range_start != p->have)) {
            p->werr =
                vd__fail(p->ctx, VD_ERR_REMOTE,
                         "%s: the server resumed at the wrong offset", p->file);
            return 0;
        }
    }
    if (p->total && p->have + len > p->total) {
        p->werr = vd__fail(p->ctx, VD_ERR_FORMAT,
                           "%s: the server sent more than the %llu bytes the "
                           "hub lists",
                           p->file, (unsigned long long)p->total);
        return 0;
    }
    if (fwrite(b, 1, len, p->fp) != len) {
        p->werr = vd__fail(p->ctx, VD_ERR_IO, "%s: write failed: %s", p->file,
                           strerror(errno));
        return 0;
    }
    vd__sha256_update(&p->sha, b, len);
    p->have += len;
    progress(p, false);
    return len;
}

static int on_xfer(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                   curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return vd__cancelled(((pull *)user)->ctx) ? 1 : 0;
}

static vd_status http_error(pull *p, const char *url)
{
    long st = p->status;
    const char *why = st == 401 || st == 403
                          ? ": the repository is gated or private; set "
                            "HF_TOKEN to a token that may read it"
                      : st == 404 ? ": no such repository, revision or file"
                      : st == 429 ? ": rate limited; try again later"
                                  : "";
    return vd__fail(p->ctx, VD_ERR_REMOTE, "%s: HTTP %ld%s", url, st, why);
}

/* GET URL (to memory when p->fp is NULL). A curl-level failure is left
 * in *CRC for the caller to retry. */
static vd_status get(pull *p, const char *url, uint64_t from, CURLcode *crc)
{
    CURL *c = p->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    char range[64];
    if (from) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)from);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    } else {
        curl_easy_setopt(c, CURLOPT_RANGE, NULL);
    }
    p->status = 0;
    p->werr = VD_OK;
    vd__buf_reset(&p->mem);
    *crc = curl_easy_perform(c);
    if (p->werr)
        return p->werr;
    if (*crc == CURLE_ABORTED_BY_CALLBACK)
        return vd__fail(p->ctx, VD_ERR_CANCELLED, "download cancelled");
    if (*crc == CURLE_OK && p->status >= 400 && p->status != 429 &&
        p->status < 500)
        return http_error(p, url);
    return VD_OK;
}

static bool transient(CURLcode rc, long status)
{
    if (rc == CURLE_OK)
        return status == 429 || status >= 500;
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
           rc == CURLE_SEND_ERROR || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM ||
           rc == CURLE_SSL_CONNECT_ERROR;
}

#define MAX_TRIES 6

static vd_status get_retry(pull *p, const char *url, bool resume)
{
    vd_status s = VD_OK;
    for (int t = 0; t < MAX_TRIES; t++) {
        CURLcode rc;
        if ((s = get(p, url, resume ? p->have : 0, &rc)))
            return s;
        if (!transient(rc, p->status)) {
            if (rc != CURLE_OK)
                return vd__fail(p->ctx, VD_ERR_REMOTE, "%s: %s", url,
                                curl_easy_strerror(rc));
            if (p->status != 200 && p->status != 206)
                return http_error(p, url);
            return VD_OK;
        }
        vd__info(p->ctx, "%s: %s; retrying%s", url,
                 rc ? curl_easy_strerror(rc) : "server busy",
                 resume && p->have ? " from where it stopped" : "");
        for (int k = 0; k < t + 1 && !vd__cancelled(p->ctx); k++)
            sleep(1);
        if (vd__cancelled(p->ctx))
            return vd__fail(p->ctx, VD_ERR_CANCELLED, "download cancelled");
    }
    return vd__fail(p->ctx, VD_ERR_REMOTE, "%s: failed after %d attempts", url,
                    MAX_TRIES);
}

/* URL-escape S but keep its slashes (repo ids, file paths). */
static char *escape_path(pull *p, const char *s)
{
    vd__buf b;
    vd__buf_init(&b, 0);
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *x = curl_easy_escape(p->curl, s, (int)n);
        if (!x) {
            vd__buf_free(&b);
            return NULL;
        }
        vd__buf_puts(p->ctx, &b, x);
        curl_free(x);
        s += n;
        if (*s == '/') {
            vd__buf_putc(p->ctx, &b, '/');
            s++;
        }
    }
    if (b.err) {
        vd__buf_free(&b);
        return NULL;
    }
    return vd__buf_steal(&b, NULL);
}

static vd_status mkdirs(vd_ctx *ctx, const char *path)
{
    char *d = vd__strdup(ctx, path);
    if (!d)
        return VD_ERR_NOMEM;
    for (char *q = d + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(d, 0777) != 0 && errno != EEXIST) {
            vd_status s =
                vd__fail(ctx, VD_ERR_IO, "%s: %s", d, strerror(errno));
            vd__free(d);
            return s;
        }
        *q = '/';
    }
    vd_status s = VD_OK;
    if (mkdir(d, 0777) != 0 && errno != EEXIST)
        s = vd__fail(ctx, VD_ERR_IO, "%s: %s", d, strerror(errno));
    vd__free(d);
    return s;
}

/* The token: the option, $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN, then the
 * token file ($HF_TOKEN_PATH, else $HF_HOME/token), as huggingface_hub
 * looks for it. */
static char *find_token(vd_ctx *ctx, const vd_pull_opts *o)
{
    const char *e;
    if (o->token && *o->token)
        return vd__strdup(ctx, o->token);
    if ((e = getenv("HF_TOKEN")) && *e)
        return vd__strdup(ctx, e);
    if ((e = getenv("HUGGING_FACE_HUB_TOKEN")) && *e)
        return vd__strdup(ctx, e);
    char *path = NULL;
    if ((e = getenv("HF_TOKEN_PATH")) && *e)
        path = vd__strdup(ctx, e);
    else if ((e = getenv("HF_HOME")) && *e)
        path = vd__asprintf(ctx, "%s/token", e);
    else if ((e = getenv("XDG_CACHE_HOME")) && *e)
        path = vd__asprintf(ctx, "%s/huggingface/token", e);
    else if ((e = getenv("HOME")) && *e)
        path = vd__asprintf(ctx, "%s/.cache/huggingface/token", e);
    char *tok = NULL;
    size_t n = 0;
    vd__errsave es;
    vd__err_save(ctx, &es);
    if (path && access(path, R_OK) == 0 &&
        vd__file_read(ctx, path, 4096, &tok, &n) == VD_OK) {
        while (n &&
               (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
            tok[--n] = '\0';
        if (!n)
            VD_FREE(tok);
    }
    vd__err_restore(ctx, &es);
    vd__free(path);
    return tok;
}

static vd_status parse_listing(pull *p, const char *url, json_object *root,
                               const char **commit, hfile **files, int *n)
{
    json_object *sha = NULL, *sib = NULL;
    json_object_object_get_ex(root, "sha", &sha);
    json_object_object_get_ex(root, "siblings", &sib);
    *commit = sha ? json_object_get_string(sha) : NULL;
    if (!*commit || !vd__hub_safe_name(*commit) || strchr(*commit, '/') ||
        !sib || !json_object_is_type(sib, json_type_array))
        return vd__fail(p->ctx, VD_ERR_REMOTE,
                        "%s: the answer has no commit sha and file list", url);
    size_t ns = json_object_array_length(sib);
    if (ns > 100000)
        return vd__fail(p->ctx, VD_ERR_LIMIT, "%s: %zu files", url, ns);
    *files = vd__calloc(p->ctx, ns + 1, sizeof **files);
    if (!*files)
        return VD_ERR_NOMEM;
    *n = 0;
    for (size_t i = 0; i < ns; i++) {
        json_object *f = json_object_array_get_idx(sib, i), *v;
        hfile *h = &(*files)[(*n)++];
        h->name = json_object_object_get_ex(f, "rfilename", &v)
                      ? json_object_get_string(v)
                      : NULL;
        if (!vd__hub_safe_name(h->name))
            return vd__fail(p->ctx, VD_ERR_REMOTE,
                            "%s: refusing the file name '%s'", url,
                            h->name ? h->name : "?");
        if (json_object_object_get_ex(f, "size", &v))
            h->size = (uint64_t)json_object_get_int64(v);
        if (json_object_object_get_ex(f, "blobId", &v) &&
            is_hex(json_object_get_string(v), 40))
            h->blob_id = json_object_get_string(v);
        json_object *lfs;
        if (json_object_object_get_ex(f, "lfs", &lfs) &&
            json_object_object_get_ex(lfs, "sha256", &v)) {
            h->sha256 = json_object_get_string(v);
            if (!is_hex(h->sha256, 64))
                return vd__fail(p->ctx, VD_ERR_REMOTE,
                                "%s: bad sha256 for '%s'", url, h->name);
            json_object *ls;
            if (json_object_object_get_ex(lfs, "size", &ls))
                h->size = (uint64_t)json_object_get_int64(ls);
        }
    }
    return VD_OK;
}

/* The bytes already in a partial download: their count and digest. */
static vd_status hash_partial(pull *p, const char *part)
{
    FILE *in = fopen(part, "rb");
    if (!in)
        return VD_OK;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        vd__sha256_update(&p->sha, buf, n);
        p->have += n;
    }
    fclose(in);
    return VD_OK;
}

/* Link SNAP/NAME to ../../blobs/BLOB (one more ../ per folder level). */
static vd_status link_blob(vd_ctx *ctx, const char *snap, const char *name,
                           const char *blob)
{
    vd__buf t;
    vd__buf_init(&t, 0);
    vd__buf_puts(ctx, &t, "../../");
    for (const char *q = name; *q; q++)
        if (*q == '/')
            vd__buf_puts(ctx, &t, "../");
    vd__buf_printf(ctx, &t, "blobs/%s", blob);
    char *link = vd__asprintf(ctx, "%s/%s", snap, name);
    vd_status s = t.err ? t.err : link ? VD_OK : VD_ERR_NOMEM;
    if (!s) {
        char *slash = strrchr(link, '/');
        *slash = '\0';
        s = mkdirs(ctx, link);
        *slash = '/';
    }
    if (!s) {
        unlink(link);
        if (symlink(t.data, link) != 0)
            s = vd__fail(ctx, VD_ERR_IO, "%s: %s", link, strerror(errno));
    }
    vd__free(link);
    vd__buf_free(&t);
    return s;
}

/* Download one file into blobs/ (unless it is there already), check it,
 * and link it from the snapshot. */
static vd_status fetch(pull *p, const char *erepo, const char *commit,
                       const char *snap, const hfile *f)
{
    vd_ctx *ctx = p->ctx;
    vd_status s = VD_OK;
    char *blob = NULL, *part = NULL, *url = NULL, *ef = NULL, *ec = NULL;
    char digest[65], tmpname[80];
    /* the blob's name: the LFS digest, else the git blob id, else (an API
     * without blob ids) the digest computed while downloading */
    const char *bname = f->sha256 ? f->sha256 : f->blob_id;
    p->file = f->name;
    p->total = f->size;
    p->have = 0;
    vd__sha256_init(&p->sha);
    if (bname) {
        blob = vd__asprintf(ctx, "%s/blobs/%s", p->repo_dir, bname);
        struct stat sb;
        if (blob && stat(blob, &sb) == 0 && S_ISREG(sb.st_mode) &&
            (!f->size || (uint64_t)sb.st_size == f->size)) {
            p->all_done += (uint64_t)sb.st_size; /* have it already */
            s = link_blob(ctx, snap, f->name, bname);
            goto done;
        }
        part = vd__asprintf(ctx, "%s.incomplete", blob);
    } else {
        vd__sha256 h;
        vd__sha256_init(&h);
        vd__sha256_update(&h, f->name, strlen(f->name));
        vd__sha256_hex(&h, digest);
        snprintf(tmpname, sizeof tmpname, "tmp-%.40s", digest);
        part =
            vd__asprintf(ctx, "%s/blobs/%s.incomplete", p->repo_dir, tmpname);
    }
    ef = escape_path(p, f->name);
    ec = escape_path(p, commit);
    if (!part || !ef || !ec || (bname && !blob)) {
        s = VD_ERR_NOMEM;
        goto done;
    }
    url = vd__asprintf(ctx, "%s/%s/resolve/%s/%s", p->endpoint, erepo, ec, ef);
    if (!url) {
        s = VD_ERR_NOMEM;
        goto done;
    }
    /* a partial file from an earlier run: continue it */
    hash_partial(p, part);
    if (p->total && p->have > p->total) {
        p->have = 0;
        vd__sha256_init(&p->sha);
        unlink(part);
    }
    if (p->have)
        vd__info(ctx, "%s: resuming at %llu of %llu bytes", f->name,
                 (unsigned long long)p->have, (unsigned long long)p->total);
    if (!(p->fp = fopen(part, "ab"))) {
        s = vd__fail(ctx, VD_ERR_IO, "%s: %s", part, strerror(errno));
        goto done;
    }
    if (!p->total || p->have < p->total)
        s = get_retry(p, url, true);
    if (fclose(p->fp) != 0 && !s)
        s = vd__fail(ctx, VD_ERR_IO, "%s: %s", part, strerror(errno));
    p->fp = NULL;
    if (s)
        goto done; /* the partial file stays for the next run */
    vd__sha256_hex(&p->sha, digest);
    if (p->total && p->have != p->total) {
        unlink(part);
        s = vd__fail(ctx, VD_ERR_FORMAT,
                     "%s: got %llu bytes, the hub lists %llu; the download "
                     "was removed",
                     f->name, (unsigned long long)p->have,
                     (unsigned long long)p->total);
        goto done;
    }
    if (f->sha256 && strcmp(digest, f->sha256) != 0) {
        unlink(part);
        s = vd__fail(ctx, VD_ERR_FORMAT,
                     "%s: SHA-256 %s does not match the hub's %s (corrupted "
                     "in transfer?); the download was removed, run the pull "
                     "again",
                     f->name, digest, f->sha256);
        goto done;
    }
    if (!bname) {
        bname = digest;
        vd__free(blob);
        if (!(blob = vd__asprintf(ctx, "%s/blobs/%s", p->repo_dir, bname))) {
            s = VD_ERR_NOMEM;
            goto done;
        }
    }
    if (rename(part, blob) != 0) {
        s = vd__fail(ctx, VD_ERR_IO, "%s: %s", blob, strerror(errno));
        goto done;
    }
    progress(p, true);
    p->all_done += p->have;
    s = link_blob(ctx, snap, f->name, bname);
done:
    vd__free(blob);
    vd__free(part);
    vd__free(url);
    vd__free(ef);
    vd__free(ec);
    return s;
}

vd_status vd_model_pull(vd_ctx *ctx, const char *repo, const vd_pull_opts *o,
                        char **snapshot)
{
    *snapshot = NULL;
    vd_pull_opts defaults;
    if (!o) {
        vd_pull_opts_init(&defaults);
        o = &defaults;
    }
    pthread_once(&curl_once, curl_init);
    pull p = { .ctx = ctx, .o = o };
    vd__buf_init(&p.mem, (size_t)64 << 20);
    vd_status s = VD_OK;
    char *cache = NULL, *erepo = NULL, *erev = NULL, *url = NULL;
    char *snap = NULL, *refdir = NULL;
    hfile *files = NULL;
    int nf = 0;
    json_object *root = NULL;
    const char *rev = o->revision && *o->revision ? o->revision : "main";

    cache =
        o->cache_dir ? vd__strdup(ctx, o->cache_dir) : vd__hf_cache_dir(ctx);
    if (!cache) {
        s = vd__fail(ctx, VD_ERR_IO,
                     "no Hugging Face cache folder (set "
                     "HF_HOME or HF_HUB_CACHE)");
        goto done;
    }
    if (!(p.repo_dir = vd__hub_repo_dir(ctx, cache, repo))) {
        s = vd__fail(ctx, VD_ERR_ARG,
                     "'%s' is not a hub repository id (org/name, e.g. %s)",
                     repo ? repo : "", VD_QWEN_DEFAULT_REPO);
        goto done;
    }
    const char *ep = o->endpoint;
    if (!ep || !*ep)
        ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = "https://huggingface.co";
    size_t el = strlen(ep);
    while (el > 0 && ep[el - 1] == '/')
        el--;
    p.endpoint = vd__strndup(ctx, ep, el);
    p.token = find_token(ctx, o);
    p.curl = curl_easy_init();
    if (!p.endpoint || !p.curl) {
        s = vd__fail(ctx, VD_ERR_NOMEM, "out of memory");
        goto done;
    }
    char ua[128];
    snprintf(ua, sizeof ua, "vldoc/%s; %s", vd_version(), curl_version());
    CURL *c = p.curl;
    curl_easy_setopt(c, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &p);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &p);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &p);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled transfer (under 1 byte/s for a minute) is retried */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    if (p.token) {
        char *h = vd__asprintf(ctx, "Authorization: Bearer %s", p.token);
        if (h) {
            /* curl does not forward it to another host on a redirect (the
             * hub's CDN URLs are signed) */
            p.hdr = curl_slist_append(NULL, h);
            vd__free(h);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, p.hdr);
    }

    /* the listing: commit, names, sizes, LFS digests */
    erepo = escape_path(&p, repo);
    erev = escape_path(&p, rev);
    if (!erepo || !erev) {
        s = VD_ERR_NOMEM;
        goto done;
    }
    /* the revision is one path segment in the API (refs/pr/1 -> %2F) */
    char *erev1 = curl_easy_escape(c, rev, 0);
    url = erev1 ? vd__asprintf(ctx, "%s/api/models/%s/revision/%s?blobs=true",
                               p.endpoint, erepo, erev1)
                : NULL;
    curl_free(erev1);
    if (!url) {
        s = VD_ERR_NOMEM;
        goto done;
    }
    if ((s = get_retry(&p, url, false)))
        goto done;
    json_tokener *tok = json_tokener_new_ex(64);
    root = tok && p.mem.len < INT32_MAX
               ? json_tokener_parse_ex(tok, p.mem.data ? p.mem.data : "",
                                       (int)p.mem.len)
               : NULL;
    if (tok)
        json_tokener_free(tok);
    if (!root || !json_object_is_type(root, json_type_object)) {
        s = vd__fail(ctx, VD_ERR_REMOTE, "%s: the answer is not JSON", url);
        goto done;
    }
    const char *commit = NULL;
    if ((s = parse_listing(&p, url, root, &commit, &files, &nf)))
        goto done;
    snap = vd__asprintf(ctx, "%s/snapshots/%s", p.repo_dir, commit);
    char *blobs = vd__asprintf(ctx, "%s/blobs", p.repo_dir);
    s = !snap || !blobs ? VD_ERR_NOMEM : mkdirs(ctx, blobs);
    vd__free(blobs);
    if (s || (s = mkdirs(ctx, snap)))
        goto done;
    for (int i = 0; i < nf; i++)
        p.all_total += files[i].size;
    for (int i = 0; i < nf && !s; i++)
        s = fetch(&p, erepo, commit, snap, &files[i]);
    if (s)
        goto done;
    /* refs/REV names the commit, unless REV is the commit */
    if (strcmp(rev, commit) != 0 && vd__hub_safe_name(rev)) {
        refdir = vd__asprintf(ctx, "%s/refs/%s", p.repo_dir, rev);
        char *slash = refdir ? strrchr(refdir, '/') : NULL;
        if (!slash) {
            s = VD_ERR_NOMEM;
            goto done;
        }
        *slash = '\0';
        s = mkdirs(ctx, refdir);
        *slash = '/';
        if (!s)
            s = vd__file_write_atomic(ctx, refdir, commit, strlen(commit));
    }
    if (!s)
        *snapshot = vd__strdup(ctx, snap);
    if (!s && !*snapshot)
        s = VD_ERR_NOMEM;
done:
    if (p.hdr)
        curl_slist_free_all(p.hdr);
    if (p.curl)
        curl_easy_cleanup(p.curl);
    vd__buf_free(&p.mem);
    json_object_put(root);
    vd__free(files);
    vd__free(cache);
    vd__free(p.repo_dir);
    vd__free(p.endpoint);
    vd__free(p.token);
    vd__free(erepo);
    vd__free(erev);
    vd__free(url);
    vd__free(snap);
    vd__free(refdir);
    return s;
}

#endif

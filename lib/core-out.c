/* Core: output sinks. A file sink writes to a temp file beside the target
 * and renames it into place on vd_out_close, so readers never see half a
 * file; vd_out_free on an uncommitted sink removes the temp file. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vd-private.h"

enum kind { OUT_FILE, OUT_STREAM, OUT_BUFFER };

struct vd_out {
    enum kind kind;
    FILE *fp;    /* FILE: owned; STREAM: borrowed */
    char *path;  /* FILE: target */
    char *tmp;   /* FILE: temp path while uncommitted */
    vd__buf buf; /* BUFFER */
    uint64_t size;
    vd_status err; /* sticky */
    int err_errno;
    int committed;
};

static vd_out *out_new(vd_ctx *ctx, enum kind k)
{
    vd_out *o = vd__calloc(ctx, 1, sizeof *o);
    if (o)
        o->kind = k;
    return o;
}

/* The temp files of PATH are DIR/.NAME.vldoc-XXXXXX (DIR with its slash,
 * or empty). */
#define TMP_TAG ".vldoc-"

vd_status vd_out_open_file(vd_ctx *ctx, const char *path, vd_out **out)
{
    *out = NULL;
    vd_out *o = out_new(ctx, OUT_FILE);
    if (!o)
        return VD_ERR_NOMEM;
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    o->path = vd__strdup(ctx, path);
    o->tmp = vd__asprintf(ctx, "%.*s.%s" TMP_TAG "XXXXXX", (int)dlen, path,
                          slash ? slash + 1 : path);
    if (!o->path || !o->tmp) {
        vd_out_free(o);
        return VD_ERR_NOMEM;
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        VD_FREE(o->tmp);
        vd_out_free(o);
        return vd__fail(ctx, VD_ERR_IO, "%s: cannot create: %s", path,
                        strerror(e));
    }
    /* mkstemp makes 0600; give the file the mode a plain open would */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        close(fd);
        vd_out_free(o);
        return vd__fail(ctx, VD_ERR_IO, "%s: %s", path, strerror(errno));
    }
    *out = o;
    return VD_OK;
}

vd_status vd_out_open_stream(vd_ctx *ctx, void *fp, vd_out **out)
{
    *out = out_new(ctx, OUT_STREAM);
    if (!*out)
        return VD_ERR_NOMEM;
    (*out)->fp = fp;
    return VD_OK;
}

vd_status vd_out_open_buffer(vd_ctx *ctx, size_t max, vd_out **out)
{
    *out = out_new(ctx, OUT_BUFFER);
    if (!*out)
        return VD_ERR_NOMEM;
    vd__buf_init(&(*out)->buf, max);
    return VD_OK;
}

void vd_out_write(vd_out *o, const void *data, size_t n)
{
    if (o->err || n == 0)
        return;
    if (o->kind == OUT_BUFFER) {
        o->err = vd__buf_append(NULL, &o->buf, data, n);
    } else if (fwrite(data, 1, n, o->fp) != n) {
        o->err = VD_ERR_IO;
        o->err_errno = errno;
    }
    if (!o->err)
        o->size += n;
}

void vd_out_puts(vd_out *o, const char *s)
{
    vd_out_write(o, s, strlen(s));
}

void vd_out_vprintf(vd_out *o, const char *fmt, va_list ap)
{
    char small[512];
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    if (n < 0) {
        o->err = VD_ERR_INTERNAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        vd_out_write(o, small, (size_t)n);
        return;
    }
    char *big = vd__malloc(NULL, (size_t)n + 1);
    if (!big) {
        o->err = VD_ERR_NOMEM;
        return;
    }
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    vd_out_write(o, big, (size_t)n);
    vd__free(big);
}

void vd_out_printf(vd_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vd_out_vprintf(o, fmt, ap);
    va_end(ap);
}

uint64_t vd_out_size(const vd_out *o)
{
    return o->size;
}

const char *vd_out_buffer(const vd_out *o, size_t *len)
{
    if (len)
        *len = o->kind == OUT_BUFFER ? o->buf.len : 0;
    if (o->kind != OUT_BUFFER)
        return NULL;
    return o->buf.data ? o->buf.data : "";
}

vd_status vd_out_close(vd_ctx *ctx, vd_out *o)
{
    const char *what = o->kind == OUT_FILE ? o->path : "output";
    if (o->committed)
        return VD_OK;
    if (o->kind != OUT_BUFFER && !o->err && fflush(o->fp) != 0) {
        o->err = VD_ERR_IO;
        o->err_errno = errno;
    }
    if (o->err) {
        if (o->err == VD_ERR_IO)
            return vd__fail(ctx, VD_ERR_IO, "%s: write failed: %s", what,
                            strerror(o->err_errno));
        return vd__fail(ctx, o->err, "%s: %s", what, vd_status_str(o->err));
    }
    if (o->kind == OUT_FILE) {
        int e = 0;
        if (fsync(fileno(o->fp)) != 0 && errno != EINVAL)
            e = errno;
        if (fclose(o->fp) != 0 && !e)
            e = errno;
        o->fp = NULL;
        if (!e && rename(o->tmp, o->path) != 0)
            e = errno;
        if (e) {
            o->err = VD_ERR_IO;
            return vd__fail(ctx, VD_ERR_IO, "%s: cannot write: %s", o->path,
                            strerror(e));
        }
        VD_FREE(o->tmp);
    }
    o->committed = 1;
    return VD_OK;
}

void vd_out_free(vd_out *o)
{
    if (!o)
        return;
    if (o->kind == OUT_FILE) {
        if (o->fp)
            fclose(o->fp);
        if (o->tmp)
            unlink(o->tmp);
        vd__free(o->tmp);
        vd__free(o->path);
    }
    vd__buf_free(&o->buf);
    vd__free(o);
}

int vd_out_remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096], prefix[512];
    int dl = slash == path ? 1 : slash ? (int)(slash - path) : 0;
    if (dl >= (int)sizeof dir)
        return 0; /* longer than any path the system takes */
    snprintf(dir, sizeof dir, "%.*s", dl ? dl : 1, dl ? path : ".");
    int pl = snprintf(prefix, sizeof prefix, ".%s" TMP_TAG,
                      slash ? slash + 1 : path);
    if (pl <= 0 || (size_t)pl >= sizeof prefix)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, (size_t)pl) == 0 &&
            strlen(e->d_name) == (size_t)pl + 6) {
            char p[4096 + 256];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            n += unlink(p) == 0;
        }
    closedir(d);
    return n;
}

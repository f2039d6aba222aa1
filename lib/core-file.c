/* Core: whole-file reads with a size ceiling, and atomic writes (temp
 * file in the same directory, fsync, rename) so a crash never leaves half
 * a file and an input is never overwritten in place. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vd-private.h"

vd_status vd__file_read(vd_ctx *ctx, const char *path, size_t max, char **out,
                        size_t *len)
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
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        return vd__fail(ctx, VD_ERR_LIMIT,
                        "%s: file is %lld bytes, more than the limit of %zu",
                        path, (long long)sb.st_size, max);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = vd__malloc(ctx, n + 1);
    if (!buf) {
        close(fd);
        return VD_ERR_NOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            vd__free(buf);
            return vd__fail(ctx, VD_ERR_IO, "%s: %s", path,
                            e ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return VD_OK;
}

vd_status vd__file_write_atomic(vd_ctx *ctx, const char *path, const void *data,
                                size_t n)
{
    vd_out *o = NULL;
    vd_status st = vd_out_open_file(ctx, path, &o);
    if (st)
        return st;
    vd_out_write(o, data, n);
    st = vd_out_close(ctx, o);
    vd_out_free(o);
    return st;
}

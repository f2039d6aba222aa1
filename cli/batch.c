/* CLI: the inputs of a batch (files and directories walked recursively,
 * in a stable sorted order) and the output path of each, derived from the
 * input's name and never equal to an input. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

bool cli_inputs_add(cli_inputs *in, const char *arg)
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
    return push(in, arg, base ? base + 1 : arg);
}

void cli_inputs_free(cli_inputs *in)
{
    for (int i = 0; i < in->n; i++) {
        free(in->paths[i]);
        free(in->rel[i]);
    }
    free(in->paths);
    free(in->rel);
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

char *cli_output_path(const cli_inputs *in, int i, const char *dir,
                      const char *ext)
{
    char name[PATH_MAX], path[PATH_MAX];
    replace_ext(name, sizeof name, in->rel[i], ext);
    /* another input with the same stem (a.pdf, a.tif): keep the full
     * input name so outputs never collide */
    for (int j = 0; j < in->n; j++) {
        char other[PATH_MAX];
        if (j == i)
            continue;
        replace_ext(other, sizeof other, in->rel[j], ext);
        if (strcmp(other, name) == 0) {
            snprintf(name, sizeof name, "%s.%s", in->rel[i], ext);
            break;
        }
    }
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

bool cli_is_input(const cli_inputs *in, const char *path)
{
    struct stat a, b;
    if (stat(path, &a) != 0)
        return false;
    for (int i = 0; i < in->n; i++)
        if (stat(in->paths[i], &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return true;
    return false;
}

/* CLI: option value parsing (page ranges, numbers, sizes) and the error
 * printing every subcommand shares. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_ranges_parse(const char *s, cli_ranges *r, char *err, size_t n)
{
    r->n = 0;
    const char *p = s;
    while (*p) {
        if (r->n == (int)(sizeof r->r / sizeof r->r[0])) {
            snprintf(err, n, "too many page ranges in '%s'", s);
            return false;
        }
        char *e;
        long a = 1, b = 0;
        if (*p == '-') {
            a = 1;
        } else {
            errno = 0;
            a = strtol(p, &e, 10);
            if (e == p || errno || a < 1 || a > 10000000) {
                snprintf(err, n, "bad page range '%s' (use e.g. 1-3,7,10-)", s);
                return false;
            }
            p = e;
        }
        if (*p == '-') {
            p++;
            if (*p == ',' || *p == '\0') {
                b = 0;
            } else {
                errno = 0;
                b = strtol(p, &e, 10);
                if (e == p || errno || b < a || b > 10000000) {
                    snprintf(err, n, "bad page range '%s' (use e.g. 1-3,7,10-)",
                             s);
                    return false;
                }
                p = e;
            }
        } else {
            b = a;
        }
        r->r[r->n].from = (int)a;
        r->r[r->n].to = (int)b;
        r->n++;
        if (*p == ',')
            p++;
        else if (*p) {
            snprintf(err, n, "bad page range '%s' (use e.g. 1-3,7,10-)", s);
            return false;
        }
    }
    if (r->n == 0) {
        snprintf(err, n, "empty page range");
        return false;
    }
    return true;
}

bool cli_ranges_has(const cli_ranges *r, int p)
{
    if (r->n == 0)
        return true;
    for (int i = 0; i < r->n; i++)
        if (p >= r->r[i].from && (r->r[i].to == 0 || p <= r->r[i].to))
            return true;
    return false;
}

int cli_ranges_max(const cli_ranges *r)
{
    int m = 0;
    for (int i = 0; i < r->n; i++) {
        if (r->r[i].to == 0)
            return 0;
        if (r->r[i].to > m)
            m = r->r[i].to;
    }
    return m;
}

bool cli_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (e == s || *e || errno || v < lo || v > hi) {
        cli_usage_error("%s needs a whole number from %ld to %ld, not '%s'",
                        opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_double(const char *opt, const char *s, double lo, double hi,
                double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || *e || errno || !(v >= lo && v <= hi)) {
        cli_usage_error("%s needs a number from %g to %g, not '%s'", opt, lo,
                        hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_size(const char *opt, const char *s, int *w, int *h)
{
    char *e;
    long a = strtol(s, &e, 10);
    if (e == s || (*e != 'x' && *e != 'X')) {
        cli_usage_error("%s needs WIDTHxHEIGHT, e.g. 896x1204, not '%s'", opt,
                        s);
        return false;
    }
    const char *q = e + 1;
    long b = strtol(q, &e, 10);
    if (e == q || *e || a < 1 || b < 1 || a > 100000 || b > 100000) {
        cli_usage_error("%s needs WIDTHxHEIGHT, e.g. 896x1204, not '%s'", opt,
                        s);
        return false;
    }
    *w = (int)a;
    *h = (int)b;
    return true;
}

static const char *hint(vd_status st)
{
    switch (st) {
    case VD_ERR_PASSWORD:
        return "give the password with --password";
    case VD_ERR_LIMIT:
        return "the input exceeds a safety limit; see --help for the "
               "options that raise it";
    case VD_ERR_NOMEM:
        return "try fewer --threads or a smaller --max-pixels";
    default:
        return NULL;
    }
}

void cli_error(vd_status st, const char *msg)
{
    cli_progress_clear(cli_progress_current);
    const char *h = hint(st);
    if (h && !strstr(msg, "--"))
        fprintf(stderr, "vldoc: %s (%s)\n", msg, h);
    else
        fprintf(stderr, "vldoc: %s\n", msg);
}

void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vldoc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'vldoc --help' for more information.\n", stderr);
    va_end(ap);
}

void cli_log(void *user, vd_log_level level, const char *msg)
{
    (void)user;
    cli_progress_clear(cli_progress_current);
    const char *pre = level == VD_LOG_ERROR  ? "error: "
                      : level == VD_LOG_WARN ? "warning: "
                                             : "";
    fprintf(stderr, "vldoc: %s%s\n", pre, msg);
}

/* Tiny TAP emitter for the test programs: plan, ok, diag, skip. A whole
 * program is skipped with "1..0 # SKIP why" and exit status 0.
 * Header-only so every test stays one file. */
#ifndef VD_TAP_H
#define VD_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_planned;

static inline void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

/* Plan decided at the end ("done_testing"). */
static inline void tap_plan_late(void)
{
    tap_planned = -1;
}

static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond)
        tap_failed++;
    fflush(stdout);
    return cond;
}

static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* Skip the whole program: "1..0 # SKIP reason" and exit 0, which
 * tap-driver.sh reports as SKIP (it counts any other non-zero exit as an
 * ERROR, so LeakSanitizer and crashes still fail the test). */
static inline void tap_skip_all(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("1..0 # SKIP ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(0);
}

/* One skipped test with a reason. */
static inline void tap_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_n++;
    printf("ok %d # SKIP ", tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static inline int tap_done(void)
{
    if (tap_planned < 0)
        printf("1..%d\n", tap_n);
    else if (tap_n != tap_planned)
        printf("# planned %d tests but ran %d\n", tap_planned, tap_n);
    return tap_failed || (tap_planned >= 0 && tap_n != tap_planned) ? 1 : 0;
}

/* The shared corpus/refs directory, or skip the program. */
static inline const char *tap_shared(void)
{
    const char *s = getenv("VLDOC_SHARED");
    if (!s || !*s)
        tap_skip_all("VLDOC_SHARED not set: no shared corpus/refs "
                     "(configure --with-shared-dir)");
    return s;
}

#define TAP_NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

#endif

/* CLI: the supervisor around third-party decoders. Convert and render run
 * their loop in a worker process forked after option parsing (and after
 * the model is loaded, so its pages are shared); the worker reports
 * progress as small events on a pipe, and the parent restarts a fresh
 * worker when one dies by a signal or stops making progress. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* One event on the wire: this header, then LEN bytes of payload. */
typedef struct ev_head {
    int32_t type, a, b;
    uint32_t len;
} ev_head;

/* the worker's write end; -1 in the parent and in-process runs */
static int ev_fd = -1;
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;

bool cli_in_worker(void)
{
    return ev_fd >= 0;
}

bool cli_write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

bool cli_read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c += r;
        n -= (size_t)r;
    }
    return true;
}

bool cli_ev_send(int type, int a, int b, const void *data, size_t len)
{
    if (ev_fd < 0)
        return true;
    ev_head h = { type, a, b, (uint32_t)len };
    /* engines may report tokens from their own threads */
    pthread_mutex_lock(&ev_mu);
    bool ok = cli_write_full(ev_fd, &h, sizeof h) &&
              (!len || cli_write_full(ev_fd, data, len));
    pthread_mutex_unlock(&ev_mu);
    return ok;
}

bool cli_worker_start(cli_worker *w, int (*fn)(void *), void *arg)
{
    /* W starts zeroed; its buffer is kept from one worker to the next */
    char *buf = w->buf;
    size_t cap = w->cap;
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    w->pid = -1;
    w->fd = -1;
    int p[2];
    if (pipe(p) != 0) {
        fprintf(stderr, "vldoc: cannot create a pipe for the worker\n");
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        fprintf(stderr, "vldoc: cannot start a worker process\n");
        return false;
    }
    if (pid == 0) {
        close(p[0]);
        ev_fd = p[1];
        /* the parent reports and interrupts; a pipe to a dead parent
         * must end the worker, not hang it */
        signal(SIGPIPE, SIG_DFL);
        int rc = fn(arg);
        /* _exit: no atexit handlers or leak checks of the parent's state,
         * but what the worker printed must get out */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    close(p[1]);
    w->pid = pid;
    w->fd = p[0];
    w->last = cli_monotonic();
    return true;
}

/* Is a whole event buffered? Then fill EV and consume it. */
static bool take(cli_worker *w, cli_ev *ev)
{
    size_t have = w->len - w->off;
    if (have < sizeof(ev_head))
        return false;
    ev_head h;
    memcpy(&h, w->buf + w->off, sizeof h);
    if (have < sizeof h + h.len)
        return false;
    ev->type = h.type;
    ev->a = h.a;
    ev->b = h.b;
    ev->len = h.len;
    ev->data = w->buf + w->off + sizeof h;
    w->off += sizeof h + h.len;
    return true;
}

/* W's process has ended with STATUS (reaped). */
static void ended(cli_worker *w, int status)
{
    w->status = status;
    w->pid = -1;
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

static void reap(cli_worker *w)
{
    int status = 0;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
    ended(w, status);
}

int cli_worker_next(cli_worker *w, double timeout, cli_ev *ev)
{
    if (take(w, ev)) {
        w->last = cli_monotonic();
        return CLI_WN_EVENT;
    }
    if (w->fd < 0)
        return CLI_WN_ENDED;
    struct pollfd pf = { w->fd, POLLIN, 0 };
    int r = poll(&pf, 1, (int)(timeout * 1000));
    if (r <= 0)
        return CLI_WN_AGAIN; /* timeout or a signal: the caller decides */
    /* compact, then grow to fit at least one more read */
    if (w->off) {
        memmove(w->buf, w->buf + w->off, w->len - w->off);
        w->len -= w->off;
        w->off = 0;
    }
    if (w->cap - w->len < 65536) {
        size_t nc = w->cap ? w->cap * 2 : 131072;
        char *nb = realloc(w->buf, nc);
        if (!nb) {
            fprintf(stderr, "vldoc: out of memory\n");
            cli_worker_kill(w);
            return CLI_WN_ENDED;
        }
        w->buf = nb;
        w->cap = nc;
    }
    ssize_t n = read(w->fd, w->buf + w->len, w->cap - w->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return CLI_WN_AGAIN;
    if (n <= 0) {
        reap(w); /* end of the pipe: the worker has exited or died */
        return take(w, ev) ? CLI_WN_EVENT : CLI_WN_ENDED;
    }
    w->len += (size_t)n;
    if (take(w, ev)) {
        w->last = cli_monotonic();
        return CLI_WN_EVENT;
    }
    return CLI_WN_AGAIN;
}

void cli_worker_kill(cli_worker *w)
{
    /* SIGKILL: a decoder stuck in a loop may ignore anything gentler */
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        reap(w);
    }
}

bool cli_worker_stop(cli_worker *w, int sig, double grace)
{
    if (w->pid <= 0)
        return true;
    kill(w->pid, sig);
    double t0 = cli_monotonic();
    for (;;) {
        int status;
        pid_t r = waitpid(w->pid, &status, WNOHANG);
        if (r == w->pid) {
            ended(w, status);
            return true;
        }
        if (cli_monotonic() - t0 > grace)
            break;
        usleep(20000);
    }
    cli_worker_kill(w);
    return false;
}

void cli_worker_free(cli_worker *w)
{
    cli_worker_kill(w);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
    w->len = w->off = w->cap = 0;
}

void cli_death(int status, char *buf, size_t n)
{
    if (status >= 0 && WIFSIGNALED(status))
        snprintf(buf, n, "crashed (signal %d, %s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (status >= 0 && WIFEXITED(status))
        snprintf(buf, n, "stopped unexpectedly (exit status %d)",
                 WEXITSTATUS(status));
    else
        snprintf(buf, n, "stopped unexpectedly");
}

const char *cli_decoder_name(const char *path)
{
    unsigned char m[8] = { 0 };
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(m, 1, sizeof m, f) : 0;
    if (f)
        fclose(f);
    if (n >= 4 && memcmp(m, "%PDF", 4) == 0)
        return "PDF";
    if (n >= 4 && (memcmp(m, "II*\0", 4) == 0 || memcmp(m, "MM\0*", 4) == 0 ||
                   memcmp(m, "II+\0", 4) == 0 || memcmp(m, "MM\0+", 4) == 0))
        return "TIFF";
    if (n >= 4 && memcmp(m, "\x89PNG", 4) == 0)
        return "PNG";
    if (n >= 2 && m[0] == 0xff && m[1] == 0xd8)
        return "JPEG";
    return "input";
}

static bool hooks_on; /* a serve child: the testing hook applies too */

void cli_test_hooks(void)
{
    hooks_on = true;
}

bool cli_test_crash(const char *path, int page)
{
    /* testing hook, honoured only in a worker: VLDOC_TEST_CRASH_AT=F:P
     * crashes it on page P (1-based) of the input whose path ends in F
     * (F "*": any input) */
    const char *e =
        ev_fd >= 0 || hooks_on ? getenv("VLDOC_TEST_CRASH_AT") : NULL;
    if (!e)
        return false;
    const char *colon = strrchr(e, ':');
    if (!colon || atoi(colon + 1) != page)
        return false;
    size_t fl = (size_t)(colon - e), pl = strlen(path);
    if (!(fl == 1 && e[0] == '*') &&
        (fl > pl || memcmp(path + pl - fl, e, fl) != 0))
        return false;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return true;
}

/* A "Name:   N kB" line of a /proc file, in MB; -1 when absent. */
static long proc_kb_line(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            v = strtol(line + nl + 1, NULL, 10) / 1024;
            break;
        }
    fclose(f);
    return v;
}

static long anon_mb(const cli_worker *w)
{
    if (w->pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", w->pid);
    /* anonymous memory only: an mmapped model is file-backed and shared,
     * a decoder running away allocates anonymous pages */
    return proc_kb_line(path, "RssAnon");
}

void cli_isolation_init(cli_isolation *o)
{
    o->off = false;
    o->stall_timeout = CLI_STALL_DEFAULT;
    o->worker_mb = -1;
}

int cli_isolation_opt(cli_isolation *o, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_STALL_TIMEOUT:
        return cli_double("--stall-timeout", arg, 0.1, 1e7, &o->stall_timeout)
                   ? 1
                   : -1;
    case CLI_OPT_NO_ISOLATE:
        o->off = true;
        return 1;
    case CLI_OPT_WORKER_MEMORY:
        return cli_int("--worker-memory", arg, 0, 1L << 40, &o->worker_mb) ? 1
                                                                           : -1;
    default:
        return 0;
    }
}

bool cli_worker_too_big(cli_worker *w, const cli_isolation *o, const char *who,
                        char *why, size_t n)
{
    static long machine_mb = -2; /* 3/4 of MemTotal, 0 when unknown */
    double t = cli_monotonic();
    if (t - w->mem_checked < 0.5)
        return false;
    w->mem_checked = t;
    if (o->worker_mb < 0 && machine_mb == -2) {
        long total = proc_kb_line("/proc/meminfo", "MemTotal");
        machine_mb = total > 0 ? total / 4 * 3 : 0;
    }
    long limit = o->worker_mb >= 0 ? o->worker_mb : machine_mb;
    long mb = limit > 0 ? anon_mb(w) : -1;
    if (mb <= limit)
        return false;
    cli_worker_kill(w);
    snprintf(why, n,
             "%s grew to %ld MB of memory, over --worker-memory %ld, and "
             "was stopped",
             who, mb, limit);
    return true;
}

bool cli_worker_stalled(cli_worker *w, const cli_isolation *o, const char *who,
                        char *why, size_t n)
{
    if (cli_monotonic() - w->last <= o->stall_timeout)
        return false;
    cli_worker_kill(w);
    snprintf(why, n,
             "timed out: no progress for %g s (--stall-timeout); %s hung "
             "and was stopped",
             o->stall_timeout, who);
    return true;
}

/* CLI: `vldoc serve` - the local engine behind an HTTP server
 * (libmicrohttpd): OpenAI-compatible /v1/chat/completions and /v1/models,
 * /health, and a native POST /v1/convert that runs the normal pipeline.
 *
 * Design: libmicrohttpd runs one thread per connection; those threads only
 * parse, validate and wait. The engine runs on --workers worker threads
 * (default 1), each with its own vd_engine and a fresh vd_ctx per request,
 * fed by one bounded queue: a full queue answers 503 with Retry-After. One
 * worker is the right default because one page already uses every core
 * (--threads); a loaded model is mmapped, so more workers share its
 * weights. Every request has a time limit; SIGINT/SIGTERM stop accepting,
 * fail queued requests with 503, let running ones finish for
 * --shutdown-grace seconds, then cancel them (503), and exit. */
#include "config.h"

#include "cli.h"

#ifdef HAVE_MHD
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

/* OpenAI's processor defaults: an image a client already fitted to the
 * model is left exactly as it came (see the remote engine). */
#define CHAT_MIN_PIXELS ((int64_t)4 * 28 * 28)
#define CHAT_MAX_PIXELS ((int64_t)16384 * 28 * 28)
/* A body over the limit by at most this much is read and dropped before
 * the 413; a bigger one is refused at once and the connection closed. */
#define DRAIN_MAX ((size_t)64 << 20)

static const char usage[] =
    "Usage: vldoc serve [OPTIONS]\n"
    "Serve the local engine over HTTP:\n"
    "  POST /v1/chat/completions  OpenAI-compatible; one image (a data:\n"
    "                             URL) and text per request\n"
    "  GET  /v1/models            the served model\n"
    "  GET  /health               status, queue and workers\n"
    "  POST /v1/convert           a PDF, TIFF, PNG or JPEG body in, the\n"
    "                             document out (?format=json|md|html|text|\n"
    "                             jsonl, ?pages=1-3)\n"
    "\n"
    "  -m, --model DIR          Qwen2.5-VL model folder (default:\n"
    "                           $VLDOC_MODEL)\n"
    "  -e, --engine NAME        auto (default: PDF text layer when there is\n"
    "                           one, else the model), qwen, text, or remote\n"
    "                           (in front of another server: --endpoint URL,\n"
    "                           --remote-model M, --api-key-env VAR,\n"
    "                           --stream)\n"
    "      --host ADDR          address to bind (default 127.0.0.1)\n"
    "      --port N             port (default 8080; 0: any free port)\n"
    "      --port-file FILE     write the bound port to FILE\n"
    "      --served-model-name NAME  name in /v1/models (default: the\n"
    "                           model folder's name)\n"
    "      --workers N          engine instances (default 1)\n"
    "  -t, --threads N          threads per worker (default: all cores /\n"
    "                           workers)\n"
    "      --queue N            requests waiting beyond the workers before\n"
    "                           503 (default 16)\n"
    "      --max-connections N  open connections (default 64)\n"
    "      --max-body-mb N      largest request body (default 100)\n"
    "      --max-image-pixels N largest chat image (default 50000000)\n"
    "      --timeout S          per request, queue wait included\n"
    "                           (default 600)\n"
    "      --no-isolate         decode in the worker threads: no fork per\n"
    "                           request, but a decoder that hangs keeps its\n"
    "                           worker and a crash ends the server\n"
    "      --shutdown-grace S   on SIGINT/SIGTERM, let running requests\n"
    "                           finish this long before cancelling them\n"
    "                           (default 30)\n"
    "      --min-pixels N, --max-pixels N   /v1/convert image budget\n"
    "  -q, --quiet, -v, --verbose (one access-log line per request)\n"
    "  -h, --help\n";

/* ---- a growable byte string for response bodies ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) VD_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sb_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

/* Length of the valid UTF-8 sequence at S (N bytes left); 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min, v;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, min = 0x80, v = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, min = 0x800, v = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, min = 0x10000, v = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return len;
}

/* S as a JSON string; invalid UTF-8 becomes U+FFFD, so the body is always
 * valid JSON whatever the engine produced. */
static void sb_json(sbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    sb_put(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            sb_put(b, e, 2);
            i++;
        } else if (c == '\n') {
            sb_put(b, "\\n", 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            sb_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t l = utf8_len(s + i, n - i);
            if (l == 0) {
                sb_puts(b, "\xEF\xBF\xBD");
                i++;
            } else {
                sb_put(b, s + i, l);
                i += l;
            }
        }
    }
    sb_put(b, "\"", 1);
}

/* ---- the server ---- */

typedef enum { J_CHAT, J_CONVERT } jkind;
typedef enum { S_QUEUED, S_RUNNING, S_DONE } jstate;

typedef struct sjob {
    jkind kind;
    jstate state;
    int refs;       /* the waiting handler and the queue/worker */
    bool abandoned; /* the handler gave up waiting */
    bool shutdown;  /* cancelled because the server is stopping */
    pthread_cond_t done;
    vd_ctx *run_ctx; /* while running: cancel it to stop the engine */
    double t_queued;
    /* request */
    char *tmp; /* the body or the image, in a private temp file */
    vd_engine_opts call;
    char *prompt, *system;
    const char *format;
    cli_ranges pages;
    char *password;
    bool has_pages;
    /* response */
    int http;
    const char *ctype;
    const char *retry_after; /* header value, or NULL */
    sbuf body;
    int failed_pages;
    /* chat with "stream": true: server-sent events, written by the worker
     * as tokens come and read by the connection's thread */
    bool stream, stream_usage;
    bool streaming; /* events went out already: the answer is SSE */
    bool sse_done;  /* [DONE] is written */
    sbuf sse;
    size_t sse_sent;
    unsigned long long id;
    long long created;
    struct timespec deadline; /* streaming: when to give up */
    struct server *server;
    struct sjob *next;
} sjob;

typedef struct server {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, or stop */
    sjob *head, *tail;   /* the queue */
    int qlen, qmax;
    int nworkers, busy;
    pthread_t *threads;
    sjob **current;     /* per worker: the job it runs, or NULL */
    bool stopping;      /* no new jobs: shutting down */
    bool stop_workers;  /* workers exit when idle */
    double avg_seconds; /* recent request time, for Retry-After */
    long served, rejected;
    int active; /* requests not yet answered and sent */
    /* settings */
    vd_engine_opts eng;
    int threads_per_worker;
    size_t max_body;
    uint64_t max_image_pixels;
    double timeout;
    const char *model_name;
    const char *tmpdir;
    bool verbose, quiet;
    bool no_isolate; /* decode in the worker thread itself */
    time_t started;
} server;

/* Per-connection request state (MHD's con_cls). */
typedef struct sreq {
    sbuf body;
    bool too_big;
    size_t dropped; /* bytes of a too-big body read and dropped */
    bool answered;  /* a response was queued early */
    double t0;
    char what[96]; /* "METHOD /path", for the access log */
} sreq;

static void job_release(server *s, sjob *j)
{
    /* with s->mu held */
    if (--j->refs > 0)
        return;
    pthread_cond_destroy(&j->done);
    if (j->tmp) {
        unlink(j->tmp);
        free(j->tmp);
    }
    free(j->prompt);
    free(j->system);
    free(j->password);
    free(j->body.p);
    free(j->sse.p);
    free(j);
    (void)s;
}

/* OpenAI's error object, with our message. */
static void set_error(sjob *j, int http, const char *type, const char *fmt, ...)
    VD_PRINTF(4, 5);
static void set_error(sjob *j, int http, const char *type, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->body.n = 0;
    j->http = http;
    j->ctype = "application/json";
    sb_puts(&j->body, "{\"error\":{\"message\":");
    sb_json(&j->body, msg, strlen(msg));
    sb_printf(&j->body, ",\"type\":\"%s\",\"code\":%d}}\n", type, http);
}

static int http_of(vd_status st)
{
    switch (st) {
    case VD_ERR_FORMAT:
    case VD_ERR_PASSWORD:
    case VD_ERR_RANGE:
        return 422;
    case VD_ERR_LIMIT:
        return 413;
    case VD_ERR_UNSUPPORTED:
        return 415;
    case VD_ERR_ARG:
        return 400;
    case VD_ERR_MODEL:
        return 501;
    case VD_ERR_TIMEOUT:
        return 504;
    case VD_ERR_REMOTE: /* serve in front of --engine remote */
        return 502;
    case VD_ERR_CANCELLED:
    case VD_ERR_NOMEM:
        return 503;
    default:
        return 500;
    }
}

static void on_log(void *user, vd_log_level level, const char *msg)
{
    server *s = user;
    if (s->quiet && level > VD_LOG_ERROR)
        return;
    cli_log(NULL, level, msg);
}

static vd_ctx *job_ctx(server *s)
{
    vd_opts o;
    vd_opts_init(&o);
    o.threads = s->threads_per_worker;
    o.log = on_log;
    o.log_user = s;
    o.level = s->verbose ? VD_LOG_INFO : s->quiet ? VD_LOG_ERROR : VD_LOG_WARN;
    return vd_ctx_new(&o);
}

/* Has the request been given up on (timed out) or the server stopped?
 * Engines see this as a cancelled ctx; between pages we look here. */
static bool job_stopped(server *s, sjob *j)
{
    pthread_mutex_lock(&s->mu);
    bool stop = j->abandoned || j->shutdown;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* ---- streaming (chat "stream": true) ---- */

/* One chunk event: DELTA_JSON is the delta object's members, FINISH the
 * finish_reason or NULL. Called with s->mu held. */
static void sse_chunk(server *s, sjob *j, const char *content, size_t len,
                      const char *finish)
{
    sbuf *b = &j->sse;
    sb_printf(b,
              "data: {\"id\":\"chatcmpl-%llx\",\"object\":\"chat.completion."
              "chunk\",\"created\":%lld,\"model\":",
              j->id, j->created);
    sb_json(b, s->model_name, strlen(s->model_name));
    sb_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{");
    if (!j->streaming && !finish)
        sb_puts(b, "\"role\":\"assistant\",");
    if (content) {
        sb_puts(b, "\"content\":");
        sb_json(b, content, len);
    }
    if (b->n && b->p[b->n - 1] == ',')
        b->p[--b->n] = '\0';
    sb_printf(b, "},\"finish_reason\":%s%s%s}]}\n\n", finish ? "\"" : "",
              finish ? finish : "null", finish ? "\"" : "");
}

typedef struct tokctx {
    server *s;
    sjob *j;
} tokctx;

/* The engine's token callback: each piece becomes an event at once. */
static int on_piece(void *user, int id, const char *piece, size_t len)
{
    (void)id;
    tokctx *tc = user;
    server *s = tc->s;
    sjob *j = tc->j;
    pthread_mutex_lock(&s->mu);
    bool stop = j->abandoned || j->shutdown;
    if (!stop && len) {
        sse_chunk(s, j, piece, len, NULL);
        j->streaming = true;
        pthread_cond_signal(&j->done);
    }
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* The end of a streamed answer: what was not streamed yet (engines that
 * do not stream tokens send it all at once), the finish reason, usage
 * when asked, and [DONE]. HTML NULL: the run failed with MSG. */
static void sse_end(server *s, sjob *j, const char *html, size_t len,
                    const char *finish, const vd_page_stats *ps,
                    const char *msg)
{
    pthread_mutex_lock(&s->mu);
    if (html && !j->streaming)
        sse_chunk(s, j, html, len, NULL);
    if (html) {
        sse_chunk(s, j, NULL, 0, finish);
        if (j->stream_usage)
            sb_printf(&j->sse,
                      "data: {\"id\":\"chatcmpl-%llx\",\"object\":\"chat."
                      "completion.chunk\",\"created\":%lld,\"choices\":[],"
                      "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":"
                      "%d,\"total_tokens\":%d}}\n\n",
                      j->id, j->created, ps->prompt_tokens,
                      ps->generated_tokens,
                      ps->prompt_tokens + ps->generated_tokens);
    } else {
        sb_puts(&j->sse, "data: {\"error\":{\"message\":");
        sb_json(&j->sse, msg, strlen(msg));
        sb_puts(&j->sse, ",\"type\":\"server_error\"}}\n\n");
    }
    sb_puts(&j->sse, "data: [DONE]\n\n");
    j->streaming = true;
    j->sse_done = true;
    j->http = 200;
    j->ctype = "text/event-stream";
    pthread_mutex_unlock(&s->mu);
}

static void run_chat(server *s, vd_ctx *ctx, vd_engine *eng, sjob *j)
{
    tokctx tc = { s, j };
    if (j->stream) {
        j->call.on_token = on_piece;
        j->call.on_token_user = &tc;
    }
    vd_input *in = NULL;
    vd_status st = vd_input_open(ctx, j->tmp, NULL, &in);
    if (st) {
        set_error(j, st == VD_ERR_FORMAT ? 400 : http_of(st),
                  "invalid_request_error", "the image: %s", vd_ctx_errmsg(ctx));
        return;
    }
    vd_page_info info;
    st = vd_input_page_info(ctx, in, 0, &info);
    if (st == VD_OK && info.width * info.height > (double)s->max_image_pixels) {
        set_error(j, 413, "invalid_request_error",
                  "the image is %.0f x %.0f pixels, over this server's "
                  "limit of %llu pixels",
                  info.width, info.height,
                  (unsigned long long)s->max_image_pixels);
        vd_input_free(in);
        return;
    }
    const char *engine_name = NULL;
    if (st == VD_OK)
        st = vd_engine_resolve(ctx, eng, in, &engine_name);
    if (st == VD_OK && strcmp(engine_name, "text") == 0) {
        set_error(j, 501, "server_error",
                  "chat completions need a vision model: start vldoc serve "
                  "with --model DIR");
        vd_input_free(in);
        return;
    }
    char *html = NULL;
    size_t len = 0;
    vd_page_stats ps;
    memset(&ps, 0, sizeof ps);
    if (st == VD_OK)
        st = vd_engine_page_html_opts(ctx, eng, in, 0, &j->call, &html, &len,
                                      NULL, &ps);
    vd_input_free(in);
    j->call.on_token = NULL;
    if (!html) {
        const char *m = vd_ctx_errmsg(ctx);
        pthread_mutex_lock(&s->mu);
        bool streaming = j->streaming;
        pthread_mutex_unlock(&s->mu);
        if (streaming) /* the 200 went out: the error goes as an event */
            sse_end(s, j, NULL, 0, NULL, &ps, m[0] ? m : vd_status_str(st));
        else
            set_error(j, http_of(st),
                      st == VD_ERR_MODEL ? "server_error" : "error", "%s",
                      m[0] ? m : vd_status_str(st));
        return;
    }
    /* a generation cut short still answers, as OpenAI does, with
     * finish_reason "length" */
    const char *finish = st == VD_OK ? "stop" : "length";
    if (j->stream) {
        sse_end(s, j, html, len, finish, &ps, NULL);
        vd_free(html);
        return;
    }
    sbuf *b = &j->body;
    sb_printf(b,
              "{\"id\":\"chatcmpl-%llx\",\"object\":\"chat.completion\","
              "\"created\":%lld,\"model\":",
              j->id, j->created);
    sb_json(b, s->model_name, strlen(s->model_name));
    sb_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
               "\"assistant\",\"content\":");
    sb_json(b, html, len);
    sb_printf(b,
              "},\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":%d,"
              "\"completion_tokens\":%d,\"total_tokens\":%d},"
              "\"vldoc\":{\"seconds\":%.3f,\"image_tokens\":%d}}\n",
              finish, ps.prompt_tokens, ps.generated_tokens,
              ps.prompt_tokens + ps.generated_tokens, ps.seconds,
              ps.image_tokens);
    j->http = 200;
    j->ctype = "application/json";
    vd_free(html);
}

static void run_convert(server *s, vd_ctx *ctx, vd_engine *eng, sjob *j)
{
    vd_input_opts io;
    vd_input_opts_init(&io);
    io.password = j->password;
    vd_input *in = NULL;
    vd_status st = vd_input_open(ctx, j->tmp, &io, &in);
    if (st) {
        set_error(j, http_of(st), "invalid_request_error", "%s",
                  vd_ctx_errmsg(ctx));
        return;
    }
    vd_doc *doc = NULL;
    st = vd_doc_new(ctx, "request", &doc);
    const char *engine_name = NULL;
    if (st == VD_OK)
        st = vd_engine_resolve(ctx, eng, in, &engine_name);
    int n = vd_input_page_count(in);
    for (int p = 1; st == VD_OK && p <= n; p++) {
        if (j->has_pages && !cli_ranges_has(&j->pages, p))
            continue;
        if (job_stopped(s, j)) {
            st = VD_ERR_CANCELLED;
            break;
        }
        vd_ctx_clear(ctx);
        vd_status ps = vd_engine_run_page(ctx, eng, in, p - 1, doc);
        if (ps == VD_ERR_CANCELLED || ps == VD_ERR_NOMEM)
            st = ps;
        else if (ps)
            j->failed_pages++;
    }
    vd_out *out = NULL;
    if (st == VD_OK)
        st = vd_out_open_buffer(ctx, 0, &out);
    vd_write_opts wo;
    vd_write_opts_init(&wo);
    if (st == VD_OK)
        st = vd_doc_write(ctx, doc, j->format, &wo, out);
    if (st == VD_OK)
        st = vd_out_close(ctx, out);
    if (st == VD_OK) {
        size_t len;
        const char *data = vd_out_buffer(out, &len);
        sb_put(&j->body, data, len);
        j->http = 200;
        j->ctype = strcmp(j->format, "json") == 0   ? "application/json"
                   : strcmp(j->format, "md") == 0   ? "text/markdown; "
                                                      "charset=utf-8"
                   : strcmp(j->format, "html") == 0 ? "text/html; "
                                                      "charset=utf-8"
                   : strcmp(j->format, "jsonl") == 0
                       ? "application/jsonl"
                       : "text/plain; charset=utf-8";
    } else {
        set_error(j, http_of(st), "error", "%s",
                  vd_ctx_errmsg(ctx)[0] ? vd_ctx_errmsg(ctx)
                                        : vd_status_str(st));
    }
    vd_out_free(out);
    vd_doc_free(doc);
    vd_input_free(in);
}

/* ---- isolation: decoding in a child process ----
 * A hostile document can hang a decoder (Poppler on some form fields) or
 * crash it. The request timeout already answers 504, but a worker thread
 * stuck in Poppler would stay stuck, and a crash would end the server. So
 * each /v1/convert request, and the image decode of each chat request,
 * runs in a child process. The children come from a fork server forked
 * at start-up, before any thread exists: forking the threaded server
 * itself could copy a lock another thread holds (an allocator's, a
 * library's) into a child that then waits on it forever. A worker thread
 * sends the request and the write end of a pipe; the child writes its
 * answer there, and after reaping it the fork server appends its wait
 * status. A request given up on (504) or a server shutting down has its
 * child SIGKILLed; a child that dies answers 500. The fork server opens
 * its own engine on first use (a model is mmapped: the pages are
 * shared). */

typedef struct child_answer {
    int http, failed_pages, oom;
    const char *ctype; /* static strings: the same address in both */
    const char *retry_after;
    size_t n;
} child_answer;

/* What a child needs of the request (strings follow, NUL-terminated:
 * tmp, format, password). */
typedef struct child_req {
    int kind;
    int has_pages;
    cli_ranges pages;
    int64_t min_pixels, max_pixels;
    size_t tmp_len, format_len, password_len;
} child_req;

#define ZYG_TRAILER 0x7a796721 /* after the answer: magic, wait status */

static void decode_check(vd_ctx *ctx, sjob *j);

static int zyg_fd = -1; /* the server's end of the fork server's socket */
static pid_t zyg_pid = -1;
static pthread_mutex_t zyg_mu = PTHREAD_MUTEX_INITIALIZER;

/* Room for one descriptor beside a message's bytes. */
typedef union fd_ctl {
    char b[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
} fd_ctl;

static struct msghdr fd_msg(struct iovec *iov, fd_ctl *u)
{
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(u, 0, sizeof *u);
    m.msg_iov = iov;
    m.msg_iovlen = 1;
    m.msg_control = u->b;
    m.msg_controllen = sizeof u->b;
    return m;
}

/* Send BUF and the descriptor FD in one message. */
static bool send_fd(int sock, const void *buf, size_t n, int fd)
{
    struct iovec iov = { (void *)buf, n };
    fd_ctl u;
    struct msghdr m = fd_msg(&iov, &u);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t w;
    while ((w = sendmsg(sock, &m, 0)) < 0 && errno == EINTR)
        ;
    return w == (ssize_t)n;
}

static bool recv_fd(int sock, void *buf, size_t n, int *fd)
{
    struct iovec iov = { buf, n };
    fd_ctl u;
    struct msghdr m = fd_msg(&iov, &u);
    ssize_t r;
    while ((r = recvmsg(sock, &m, 0)) < 0 && errno == EINTR)
        ;
    if (r != (ssize_t)n)
        return false;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return false;
    memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return true;
}

/* In a child of the fork server: run the request, write the answer. */
static void zyg_child(server *s, vd_engine **engp, const child_req *rq,
                      char *strs, int out)
{
    sjob j;
    memset(&j, 0, sizeof j);
    j.kind = (jkind)rq->kind;
    j.tmp = strs;
    j.format = strs + rq->tmp_len + 1;
    j.password =
        rq->password_len ? strs + rq->tmp_len + rq->format_len + 2 : NULL;
    j.pages = rq->pages;
    j.has_pages = rq->has_pages;
    vd_engine_opts_init(&j.call);
    j.call.render.min_pixels = rq->min_pixels;
    j.call.render.max_pixels = rq->max_pixels;
    cli_test_hooks();
    cli_test_crash(j.tmp, 1);
    vd_ctx *ctx = job_ctx(s);
    vd_engine *e = *engp;
    /* the fork server's engine, or this child's own for remote: its curl
     * multi handle (with the wakeup pipe inside) is no state for sibling
     * processes to share */
    if (ctx && (!e || (s->eng.engine && strcmp(s->eng.engine, "remote") == 0)))
        if (vd_engine_open(ctx, &s->eng, &e) != VD_OK)
            e = NULL;
    if (!ctx)
        set_error(&j, 503, "server_error", "out of memory");
    else if (!e)
        set_error(&j, 503, "server_error", "the engine did not start: %s",
                  vd_ctx_errmsg(ctx));
    else if (j.kind == J_CHAT)
        decode_check(ctx, &j);
    else
        run_convert(s, ctx, e, &j);
    child_answer a = { j.http,  j.failed_pages, j.body.oom,
                       j.ctype, j.retry_after,  j.body.n };
    bool ok = cli_write_full(out, &a, sizeof a) &&
              (!a.n || cli_write_full(out, j.body.p, a.n));
    _exit(ok ? 0 : 1);
}

/* The fork server: one request at a time from SOCK, a child for each;
 * children reaped as they end, their status appended to their pipe. */
static void zygote(server *s, int sock)
{
    enum { MAXKIDS = 256 };
    pid_t kids[MAXKIDS];
    int outs[MAXKIDS];
    int nkids = 0;
    vd_engine *eng = NULL;
    /* the engine is made here once, at start-up (alongside the workers'
     * own), so every child shares its pages; not for remote: see
     * zyg_child. On failure each child says why. The ctx stays: the
     * engine may keep using what it set up. */
    if (!(s->eng.engine && strcmp(s->eng.engine, "remote") == 0)) {
        vd_ctx *octx = job_ctx(s);
        if (octx && vd_engine_open(octx, &s->eng, &eng) != VD_OK)
            eng = NULL;
    }
    for (;;) {
        struct pollfd pf = { sock, POLLIN, 0 };
        int r = poll(&pf, 1, nkids ? 20 : 1000);
        for (int k = 0; k < nkids; k++) {
            int st;
            if (waitpid(kids[k], &st, WNOHANG) == kids[k]) {
                int t[2] = { ZYG_TRAILER, st };
                cli_write_full(outs[k], t, sizeof t);
                close(outs[k]);
                kids[k] = kids[--nkids];
                outs[k] = outs[nkids];
                k--;
            }
        }
        if (r <= 0)
            continue;
        child_req rq;
        memset(&rq, 0, sizeof rq);
        int out = -1;
        if (!recv_fd(sock, &rq, sizeof rq, &out))
            break; /* the server is gone */
        size_t sl = rq.tmp_len + rq.format_len + rq.password_len + 3;
        char *strs = sl < 65536 ? malloc(sl) : NULL;
        if (!strs || !cli_read_full(sock, strs, sl)) {
            free(strs);
            close(out);
            break;
        }
        pid_t pid = nkids < MAXKIDS ? fork() : -1;
        if (pid == 0) {
            close(sock);
            zyg_child(s, &eng, &rq, strs, out);
        }
        free(strs);
        int32_t reply = (int32_t)pid;
        if (pid > 0) {
            kids[nkids] = pid;
            outs[nkids++] = out;
        } else {
            close(out);
        }
        if (!cli_write_full(sock, &reply, sizeof reply))
            break;
    }
    for (int k = 0; k < nkids; k++)
        kill(kids[k], SIGKILL);
    _exit(0);
}

/* Start the fork server; before any thread. False: run in-process. */
static bool zygote_start(server *s)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return false;
    }
    if (pid == 0) {
        close(sv[0]);
        zygote(s, sv[1]);
    }
    close(sv[1]);
    zyg_fd = sv[0];
    zyg_pid = pid;
    return true;
}

static void zygote_stop(void)
{
    if (zyg_pid > 0) {
        close(zyg_fd); /* EOF: it kills its children and exits */
        while (waitpid(zyg_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    zyg_fd = -1;
    zyg_pid = -1;
}

/* Run J in a child of the fork server; J's answer is what the child
 * answered. False when no child could be started. */
static bool run_in_child(server *s, sjob *j)
{
    if (zyg_fd < 0)
        return false;
    int p[2];
    if (pipe(p) != 0)
        return false;
    child_req rq;
    memset(&rq, 0, sizeof rq);
    rq.kind = (int)j->kind;
    rq.has_pages = j->has_pages;
    rq.pages = j->pages;
    rq.min_pixels = j->call.render.min_pixels;
    rq.max_pixels = j->call.render.max_pixels;
    const char *fmt = j->format ? j->format : "";
    const char *pw = j->password ? j->password : "";
    rq.tmp_len = strlen(j->tmp);
    rq.format_len = strlen(fmt);
    rq.password_len = strlen(pw);
    int32_t pid = -1;
    pthread_mutex_lock(&zyg_mu);
    bool sent = send_fd(zyg_fd, &rq, sizeof rq, p[1]) &&
                cli_write_full(zyg_fd, j->tmp, rq.tmp_len + 1) &&
                cli_write_full(zyg_fd, fmt, rq.format_len + 1) &&
                cli_write_full(zyg_fd, pw, rq.password_len + 1) &&
                cli_read_full(zyg_fd, &pid, sizeof pid);
    pthread_mutex_unlock(&zyg_mu);
    close(p[1]);
    if (!sent || pid <= 0) {
        close(p[0]);
        return false;
    }
    /* everything the child and then the fork server write, until EOF */
    sbuf got = { 0 };
    bool killed = false;
    for (;;) {
        if (!killed && job_stopped(s, j)) {
            /* answered 504 already, or shutting down: as a cancelled
             * engine would, give up even on an answer on its way */
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd pf = { p[0], POLLIN, 0 };
        int r = poll(&pf, 1, 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        char buf[65536];
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!killed)
            sb_put(&got, buf, (size_t)n);
    }
    close(p[0]);
    child_answer a;
    int t[2] = { 0, 0 };
    bool whole = got.n >= sizeof a + sizeof t && !got.oom;
    if (whole) {
        memcpy(&a, got.p, sizeof a);
        memcpy(t, got.p + got.n - sizeof t, sizeof t);
        whole = t[0] == ZYG_TRAILER && got.n == sizeof a + a.n + sizeof t;
    } else if (got.n >= sizeof t) {
        memcpy(t, got.p + got.n - sizeof t, sizeof t);
    }
    if (killed) {
        set_error(j, 504, "error", "the request was stopped");
    } else if (whole) {
        j->body.n = 0;
        if (a.n)
            sb_put(&j->body, got.p + sizeof a, a.n);
        j->http = a.http;
        j->ctype = a.ctype;
        j->retry_after = a.retry_after;
        j->failed_pages = a.failed_pages;
        j->body.oom = j->body.oom || a.oom;
    } else {
        char why[160];
        cli_death(t[0] == ZYG_TRAILER ? t[1] : -1, why, sizeof why);
        set_error(j, 500, "server_error",
                  "the decoder %s on this %s; the server is fine", why,
                  j->kind == J_CHAT ? "image" : "document");
    }
    free(got.p);
    return true;
}

/* Chat: decode the image as the engine will (the model image) in the
 * child; the generation then runs here on an image known to decode. */
static void decode_check(vd_ctx *ctx, sjob *j)
{
    vd_input *in = NULL;
    vd_image *img = NULL;
    vd_page_geom g;
    vd_render_opts ro = j->call.render;
    if (vd_input_open(ctx, j->tmp, NULL, &in) == VD_OK)
        vd_input_render_model(ctx, in, 0, &ro, &img, &g);
    /* a failure is not the child's to answer: the chat path says why */
    vd_image_free(img);
    vd_input_free(in);
    j->http = 200;
}

static void run_request(server *s, vd_ctx *ctx, vd_engine *eng, sjob *j)
{
    if (s->no_isolate || zyg_fd < 0) {
        if (j->kind == J_CHAT)
            run_chat(s, ctx, eng, j);
        else
            run_convert(s, ctx, eng, j);
        return;
    }
    if (!run_in_child(s, j)) {
        set_error(j, 503, "server_error",
                  "cannot start a process for the request");
        return;
    }
    if (j->kind == J_CONVERT || j->http != 200)
        return;
    j->body.n = 0;
    j->http = 0;
    run_chat(s, ctx, eng, j);
}

typedef struct worker_arg {
    server *s;
    int id;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    server *s = wa->s;
    int id = wa->id;
    free(wa);
    vd_ctx *octx = job_ctx(s);
    vd_engine *eng = NULL;
    vd_status st = octx ? vd_engine_open(octx, &s->eng, &eng) : VD_ERR_NOMEM;
    char openmsg[1024];
    snprintf(openmsg, sizeof openmsg, "%s",
             octx ? vd_ctx_errmsg(octx) : "out of memory");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop_workers)
            pthread_cond_wait(&s->work, &s->mu);
        if (!s->head)
            break;
        sjob *j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->qlen--;
        j->state = S_RUNNING;
        s->busy++;
        s->current[id] = j;
        vd_ctx *ctx = st == VD_OK ? job_ctx(s) : NULL;
        j->run_ctx = ctx;
        pthread_mutex_unlock(&s->mu);

        double t0 = cli_wallclock();
        if (st != VD_OK)
            set_error(j, 503, "server_error", "the engine did not start: %s",
                      openmsg);
        else if (!ctx)
            set_error(j, 503, "server_error", "out of memory");
        else
            run_request(s, ctx, eng, j);
        if (j->body.oom)
            set_error(j, 503, "server_error", "out of memory");
        double dt = cli_wallclock() - t0;

        pthread_mutex_lock(&s->mu);
        if (j->shutdown && j->streaming && !j->sse_done) {
            pthread_mutex_unlock(&s->mu);
            sse_end(s, j, NULL, 0, NULL, NULL,
                    "the server shut down before the request finished");
            pthread_mutex_lock(&s->mu);
        } else if (j->shutdown && !j->streaming && j->http != 200) {
            set_error(j, 503, "server_error",
                      "the server shut down before the request finished");
            j->retry_after = "5";
        }
        s->current[id] = NULL;
        j->run_ctx = NULL;
        vd_ctx_free(ctx);
        s->busy--;
        s->served++;
        s->avg_seconds =
            s->avg_seconds > 0 ? 0.8 * s->avg_seconds + 0.2 * dt : dt;
        j->state = S_DONE;
        pthread_cond_signal(&j->done);
        job_release(s, j);
    }
    pthread_mutex_unlock(&s->mu);
    vd_engine_free(eng);
    vd_ctx_free(octx);
    return NULL;
}

/* ---- HTTP ---- */

static enum MHD_Result send_body(struct MHD_Connection *c, int code,
                                 const char *ctype, const char *data, size_t n,
                                 const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int code,
                                  const char *retry_after, const char *fmt, ...)
    VD_PRINTF(4, 5);
static enum MHD_Result send_error(struct MHD_Connection *c, int code,
                                  const char *retry_after, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sbuf b = { 0 };
    sb_puts(&b, "{\"error\":{\"message\":");
    sb_json(&b, msg, strlen(msg));
    sb_printf(&b, ",\"type\":\"%s\",\"code\":%d}}\n",
              code >= 500 ? "server_error" : "invalid_request_error", code);
    enum MHD_Result ret =
        b.oom ? MHD_NO
              : send_body(c, code, "application/json", b.p, b.n, retry_after);
    free(b.p);
    return ret;
}

static bool ctype_is(struct MHD_Connection *c, const char *want)
{
    const char *ct =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!ct)
        return false;
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode base64 (standard or URL alphabet, padding optional, whitespace
 * ignored) into a malloc'd buffer. NULL on bad input. */
static unsigned char *unbase64(const char *s, size_t n, size_t *out_n)
{
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6 || pad > 2) {
        free(out);
        return NULL;
    }
    *out_n = o;
    return out;
}

/* Write DATA to a new private temp file; its malloc'd path, or NULL. */
static char *write_temp(server *s, const void *data, size_t n)
{
    size_t len = strlen(s->tmpdir) + 32;
    char *path = malloc(len);
    if (!path)
        return NULL;
    snprintf(path, len, "%s/vldoc-serve-XXXXXX", s->tmpdir);
    int fd = mkstemp(path); /* mode 0600: nobody else reads the upload */
    if (fd < 0) {
        free(path);
        return NULL;
    }
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(path);
            free(path);
            return NULL;
        }
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, k, &v))
        return v;
    return NULL;
}

static bool is_num(json_object *v)
{
    return v && (json_object_is_type(v, json_type_double) ||
                 json_object_is_type(v, json_type_int));
}

/* Append the text of a message's content to OUT; count and take the
 * image. Returns an error message, or NULL. */
static const char *read_content(json_object *content, sbuf *out,
                                json_object **image, int *nimages)
{
    if (json_object_is_type(content, json_type_string)) {
        sb_puts(out, json_object_get_string(content));
        return NULL;
    }
    if (!json_object_is_type(content, json_type_array))
        return "message content must be a string or an array of parts";
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *part = json_object_array_get_idx(content, i);
        json_object *type = jget(part, "type");
        const char *t = type && json_object_is_type(type, json_type_string)
                            ? json_object_get_string(type)
                            : "";
        if (strcmp(t, "text") == 0) {
            json_object *tx = jget(part, "text");
            if (!tx || !json_object_is_type(tx, json_type_string))
                return "a text part needs a \"text\" string";
            if (out->n)
                sb_puts(out, "\n");
            sb_puts(out, json_object_get_string(tx));
        } else if (strcmp(t, "image_url") == 0) {
            json_object *iu = jget(part, "image_url");
            json_object *url = json_object_is_type(iu, json_type_string)
                                   ? iu
                                   : jget(iu, "url");
            if (!url || !json_object_is_type(url, json_type_string))
                return "an image_url part needs {\"url\": \"data:...\"}";
            *image = url;
            (*nimages)++;
        } else {
            return "content parts must be of type text or image_url";
        }
    }
    return NULL;
}

/* Parse and check a chat request into J. On failure returns the HTTP
 * status and puts the message in ERR. */
static int parse_chat(server *s, const sreq *r, sjob *j, char *err, size_t errn)
{
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok) {
        snprintf(err, errn, "out of memory");
        return 503;
    }
    json_object *o = r->body.n > INT32_MAX
                         ? NULL
                         : json_tokener_parse_ex(
                               tok, r->body.p ? r->body.p : "", (int)r->body.n);
    enum json_tokener_error je = json_tokener_get_error(tok);
    json_tokener_free(tok);
    int code = 400;
    if (je != json_tokener_success || !o) {
        snprintf(err, errn, "the body is not valid JSON: %s",
                 je == json_tokener_continue ? "it ends too early"
                                             : json_tokener_error_desc(je));
        json_object_put(o);
        return 400;
    }
    sbuf prompt = { 0 }, system = { 0 };
    json_object *image = NULL;
    int nimages = 0;
    const char *bad = NULL;
    json_object *msgs = jget(o, "messages"), *v;
    if (!json_object_is_type(o, json_type_object)) {
        bad = "the body must be a JSON object";
    } else if (!msgs || !json_object_is_type(msgs, json_type_array) ||
               json_object_array_length(msgs) == 0) {
        bad = "\"messages\" must be a non-empty array";
    }
    for (size_t i = 0; !bad && i < json_object_array_length(msgs); i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        json_object *role = jget(m, "role"), *content = jget(m, "content");
        const char *rs = role && json_object_is_type(role, json_type_string)
                             ? json_object_get_string(role)
                             : "";
        if (!content)
            bad = "every message needs \"content\"";
        else if (strcmp(rs, "system") == 0 || strcmp(rs, "developer") == 0)
            bad = read_content(content, &system, &image, &nimages);
        else if (strcmp(rs, "user") == 0)
            bad = read_content(content, &prompt, &image, &nimages);
        else if (strcmp(rs, "assistant") == 0)
            bad = "conversations are not supported: send one user message "
                  "(and optionally a system message)";
        else
            bad = "message roles must be system or user";
    }
    if (!bad && nimages != 1)
        bad = nimages ? "send one image per request"
                      : "the request has no image: add an image_url part "
                        "with a data: URL";
    if (!bad && (v = jget(o, "model")) &&
        json_object_is_type(v, json_type_string) &&
        strcmp(json_object_get_string(v), s->model_name) != 0) {
        snprintf(err, errn,
                 "model '%s' is not served here; this server "
                 "serves '%s'",
                 json_object_get_string(v), s->model_name);
        code = 404;
    }
    if (!bad && code == 400) {
        vd_engine_opts *c = &j->call;
        if ((v = jget(o, "max_completion_tokens")) ||
            (v = jget(o, "max_tokens"))) {
            if (!json_object_is_type(v, json_type_int) ||
                json_object_get_int64(v) < 1 ||
                json_object_get_int64(v) > 131072)
                bad = "max_tokens must be a whole number from 1 to 131072";
            else
                c->max_new_tokens = json_object_get_int(v);
        }
        if (!bad && (v = jget(o, "temperature"))) {
            double t = json_object_get_double(v);
            if (!is_num(v) || t < 0 || t > 2)
                bad = "temperature must be a number from 0 to 2";
            else
                c->temperature = t, c->do_sample = t > 0;
        }
        if (!bad && (v = jget(o, "top_p"))) {
            double t = json_object_get_double(v);
            if (!is_num(v) || t <= 0 || t > 1)
                bad = "top_p must be a number in (0, 1]";
            else
                c->top_p = t;
        }
        if (!bad && (v = jget(o, "top_k")) &&
            !json_object_is_type(v, json_type_null)) {
            if (!json_object_is_type(v, json_type_int) ||
                json_object_get_int(v) < -1)
                bad = "top_k must be a whole number";
            else
                c->top_k = json_object_get_int(v);
        }
        if (!bad && (v = jget(o, "repetition_penalty"))) {
            double t = json_object_get_double(v);
            if (!is_num(v) || t <= 0 || t > 10)
                bad = "repetition_penalty must be a number in (0, 10]";
            else
                c->repetition_penalty = t;
        }
        if (!bad && (v = jget(o, "seed")) &&
            !json_object_is_type(v, json_type_null)) {
            if (!json_object_is_type(v, json_type_int))
                bad = "seed must be a whole number";
            else
                c->seed = (uint64_t)json_object_get_int64(v);
        }
        if (!bad && (v = jget(o, "n")) && json_object_get_int(v) != 1)
            bad = "n must be 1";
        if (!bad && (v = jget(o, "stream")) && json_object_get_boolean(v)) {
            j->stream = true;
            json_object *so = jget(o, "stream_options");
            json_object *iu = jget(so, "include_usage");
            j->stream_usage = iu && json_object_get_boolean(iu);
        }
    }
    if (!bad && code == 400) {
        const char *url = json_object_get_string(image);
        size_t ulen = (size_t)json_object_get_string_len(image);
        const char *comma = memchr(url, ',', ulen);
        if (strncmp(url, "data:", 5) != 0 || !comma) {
            bad = "only data: URLs are accepted (vldoc serve does not fetch "
                  "URLs): data:image/png;base64,...";
        } else if (comma - url < 12 || strncmp(comma - 7, ";base64", 7) != 0) {
            bad = "the data: URL must be base64 (data:image/png;base64,...)";
        } else {
            size_t n = 0;
            unsigned char *img =
                unbase64(comma + 1, ulen - (size_t)(comma + 1 - url), &n);
            bool known =
                img && n >= 8 &&
                (memcmp(img, "\x89PNG\r\n\x1a\n", 8) == 0 ||
                 (img[0] == 0xFF && img[1] == 0xD8) ||
                 memcmp(img, "II*\0", 4) == 0 || memcmp(img, "MM\0*", 4) == 0);
            if (!img) {
                bad = "the image's base64 is malformed";
            } else if (!known) {
                snprintf(err, errn, "the image must be PNG, JPEG or TIFF");
                code = 415;
            } else if (!(j->tmp = write_temp(s, img, n))) {
                snprintf(err, errn, "cannot store the image: %s",
                         strerror(errno));
                code = 503;
            }
            free(img);
        }
    }
    if (!bad && code == 400 && (prompt.oom || system.oom)) {
        snprintf(err, errn, "out of memory");
        code = 503;
    }
    if (!bad && code == 400) {
        j->prompt = prompt.p ? prompt.p : strdup("");
        j->system = system.p;
        prompt.p = system.p = NULL;
        j->call.prompt = j->prompt;
        j->call.system_prompt = j->system;
        /* an image the client already fitted is used exactly as sent */
        j->call.render.min_pixels = CHAT_MIN_PIXELS;
        j->call.render.max_pixels = CHAT_MAX_PIXELS;
        code = 0;
    } else if (bad) {
        snprintf(err, errn, "%s", bad);
    }
    free(prompt.p);
    free(system.p);
    json_object_put(o);
    return code;
}

static void init_call(vd_engine_opts *c)
{
    memset(c, 0, sizeof *c);
    c->max_new_tokens = -1;
    c->temperature = -1;
    c->top_k = -1;
    c->top_p = -1;
    c->repetition_penalty = -1;
    c->do_sample = -1;
}

/* MHD pulls a streamed answer through here, on the connection's own
 * thread: hand out the events written so far, waiting for more until the
 * worker writes [DONE] or the request's time is up. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sjob *j = cls;
    server *s = j->server;
    pthread_mutex_lock(&s->mu);
    while (j->sse_sent == j->sse.n && !j->sse_done) {
        if (pthread_cond_timedwait(&j->done, &s->mu, &j->deadline) ==
                ETIMEDOUT &&
            j->sse_sent == j->sse.n && !j->sse_done) {
            j->abandoned = true; /* the worker stops at the next token */
            if (j->run_ctx)
                vd_ctx_cancel(j->run_ctx);
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = j->sse.n - j->sse_sent;
    if (n > max)
        n = max;
    if (n)
        memcpy(buf, j->sse.p + j->sse_sent, n);
    j->sse_sent += n;
    pthread_mutex_unlock(&s->mu);
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* The streamed answer is over (sent, or the client went away): a
 * generation nobody reads any more is stopped. */
static void sse_free(void *cls)
{
    sjob *j = cls;
    server *s = j->server;
    pthread_mutex_lock(&s->mu);
    if (j->state != S_DONE) {
        j->abandoned = true;
        if (j->run_ctx)
            vd_ctx_cancel(j->run_ctx);
    }
    job_release(s, j);
    pthread_mutex_unlock(&s->mu);
}

/* Queue J, wait for it, answer. The handler thread blocks here. */
static enum MHD_Result run_job(server *s, struct MHD_Connection *c, sjob *j)
{
    char ra[32];
    pthread_mutex_lock(&s->mu);
    pthread_cond_init(&j->done, NULL);
    if (s->stopping) {
        j->refs = 1;
        job_release(s, j);
        pthread_mutex_unlock(&s->mu);
        return send_error(c, 503, "5", "the server is shutting down");
    }
    if (s->qlen >= s->qmax) {
        j->refs = 1;
        job_release(s, j);
        s->rejected++;
        /* when the queue should have room again, at the recent pace */
        double wait = s->avg_seconds * (s->qlen + s->busy) /
                      (s->nworkers > 0 ? s->nworkers : 1);
        int secs = wait < 1 ? 1 : wait > 600 ? 600 : (int)(wait + 0.999);
        snprintf(ra, sizeof ra, "%d", secs);
        int q = s->qlen;
        pthread_mutex_unlock(&s->mu);
        return send_error(c, 503, ra,
                          "the queue is full (%d requests waiting); retry "
                          "after %s s",
                          q, ra);
    }
    j->refs = 2;
    j->state = S_QUEUED;
    j->t_queued = cli_wallclock();
    j->server = s;
    j->created = (long long)time(NULL);
    j->id = ((unsigned long long)time(NULL) << 20) ^
            (unsigned long long)(uintptr_t)j;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->qlen++;
    pthread_cond_signal(&s->work);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double whole = (double)(long long)s->timeout;
    dl.tv_sec += (time_t)whole;
    dl.tv_nsec += (long)((s->timeout - whole) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    /* a streamed answer starts with its first event */
    while (j->state != S_DONE && !j->streaming) {
        int e = pthread_cond_timedwait(&j->done, &s->mu, &dl);
        if (e == ETIMEDOUT && j->state != S_DONE && !j->streaming)
            break;
    }
    enum MHD_Result ret;
    if (j->streaming) {
        j->deadline = dl;
        struct MHD_Response *r = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, j, sse_free);
        ret = MHD_NO;
        if (r) {
            MHD_add_response_header(r, "Content-Type", "text/event-stream");
            MHD_add_response_header(r, "Cache-Control", "no-cache");
            ret = MHD_queue_response(c, 200, r);
            MHD_destroy_response(r); /* the response keeps J until done */
        } else {
            job_release(s, j);
        }
        pthread_mutex_unlock(&s->mu);
        return ret;
    }
    if (j->state == S_DONE) {
        char fp[16];
        snprintf(fp, sizeof fp, "%d", j->failed_pages);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            j->body.n, j->body.p ? j->body.p : (void *)"",
            MHD_RESPMEM_MUST_COPY);
        ret = MHD_NO;
        if (r) {
            MHD_add_response_header(r, "Content-Type", j->ctype);
            if (j->retry_after)
                MHD_add_response_header(r, "Retry-After", j->retry_after);
            if (j->kind == J_CONVERT)
                MHD_add_response_header(r, "X-Vldoc-Failed-Pages", fp);
            ret = MHD_queue_response(c, (unsigned)j->http, r);
            MHD_destroy_response(r);
        }
        job_release(s, j);
        pthread_mutex_unlock(&s->mu);
        return ret;
    }
    /* timed out: take it off the queue, or stop the engine on it */
    bool queued = j->state == S_QUEUED;
    if (queued) {
        sjob **p = &s->head;
        while (*p != j)
            p = &(*p)->next;
        *p = j->next;
        if (s->tail == j) {
            s->tail = NULL;
            for (sjob *k = s->head; k; k = k->next)
                s->tail = k;
        }
        s->qlen--;
        j->refs--; /* the queue's reference */
    } else {
        j->abandoned = true;
        if (j->run_ctx)
            vd_ctx_cancel(j->run_ctx);
    }
    job_release(s, j);
    pthread_mutex_unlock(&s->mu);
    return send_error(c, 504, NULL, "the request took longer than %g s %s",
                      s->timeout,
                      queued ? "waiting in the queue" : "and was cancelled");
}

static enum MHD_Result health(server *s, struct MHD_Connection *c)
{
    sbuf b = { 0 };
    pthread_mutex_lock(&s->mu);
    sb_printf(&b,
              "{\"status\":\"%s\",\"model\":", s->stopping ? "stopping" : "ok");
    sb_json(&b, s->model_name, strlen(s->model_name));
    sb_printf(&b,
              ",\"engine\":\"%s\",\"workers\":%d,\"busy\":%d,\"queued\":%d,"
              "\"max_queue\":%d,\"served\":%ld,\"rejected\":%ld,"
              "\"uptime\":%lld}\n",
              s->eng.engine, s->nworkers, s->busy, s->qlen, s->qmax, s->served,
              s->rejected, (long long)(time(NULL) - s->started));
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result r = b.oom ? MHD_NO
                              : send_body(c, stopping ? 503 : 200,
                                          "application/json", b.p, b.n, NULL);
    free(b.p);
    return r;
}

static enum MHD_Result models(server *s, struct MHD_Connection *c)
{
    sbuf b = { 0 };
    sb_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    sb_json(&b, s->model_name, strlen(s->model_name));
    sb_printf(&b,
              ",\"object\":\"model\",\"created\":%lld,\"owned_by\":"
              "\"vldoc\"}]}\n",
              (long long)s->started);
    enum MHD_Result r =
        b.oom ? MHD_NO : send_body(c, 200, "application/json", b.p, b.n, NULL);
    free(b.p);
    return r;
}

static enum MHD_Result route(server *s, struct MHD_Connection *c,
                             const char *url, const char *method, sreq *r)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0)
        return get ? health(s, c) : send_error(c, 405, NULL, "use GET /health");
    if (strcmp(url, "/v1/models") == 0)
        return get ? models(s, c)
                   : send_error(c, 405, NULL, "use GET /v1/models");
    bool chat = strcmp(url, "/v1/chat/completions") == 0;
    bool convert = strcmp(url, "/v1/convert") == 0;
    if (!chat && !convert)
        return send_error(c, 404, NULL,
                          "no such endpoint: %s (try /v1/chat/completions, "
                          "/v1/convert, /v1/models or /health)",
                          url);
    if (!post)
        return send_error(c, 405, NULL, "use POST %s", url);
    if (r->too_big)
        return send_error(c, 413, NULL,
                          "the request body is over the limit of %zu bytes",
                          s->max_body);
    sjob *j = calloc(1, sizeof *j);
    if (!j)
        return send_error(c, 503, "1", "out of memory");
    init_call(&j->call);
    char err[1024];
    int code = 0;
    if (chat) {
        j->kind = J_CHAT;
        if (!ctype_is(c, "application/json")) {
            code = 415;
            snprintf(err, sizeof err,
                     "send the request as Content-Type: application/json");
        } else {
            code = parse_chat(s, r, j, err, sizeof err);
        }
    } else {
        j->kind = J_CONVERT;
        const char *f =
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
        const char *pages =
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pages");
        const char *pw =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Vldoc-Password");
        j->format = f ? f : "json";
        if (ctype_is(c, "application/json") ||
            ctype_is(c, "application/x-www-form-urlencoded") ||
            ctype_is(c, "multipart/form-data") || ctype_is(c, "text/plain")) {
            code = 415;
            snprintf(err, sizeof err,
                     "send the document itself as the body, with "
                     "Content-Type application/pdf, image/tiff, image/png, "
                     "image/jpeg or application/octet-stream");
        } else if (!vd_writer_ext(j->format)) {
            code = 400;
            snprintf(err, sizeof err,
                     "unknown format '%s' (use json, md, html, text or "
                     "jsonl)",
                     j->format);
        } else if (pages &&
                   !cli_ranges_parse(pages, &j->pages, err, sizeof err)) {
            code = 400;
        } else if (r->body.n == 0) {
            code = 400;
            snprintf(err, sizeof err,
                     "the request body is empty: send the "
                     "document as the body");
        } else if (!(j->tmp = write_temp(s, r->body.p, r->body.n))) {
            code = 503;
            snprintf(err, sizeof err, "cannot store the document: %s",
                     strerror(errno));
        }
        j->has_pages = pages != NULL;
        if (pw && !(j->password = strdup(pw))) {
            code = 503;
            snprintf(err, sizeof err, "out of memory");
        }
    }
    /* the body is in the temp file now */
    free(r->body.p);
    r->body = (sbuf){ 0 };
    if (code) {
        pthread_mutex_lock(&s->mu);
        j->refs = 1;
        pthread_cond_init(&j->done, NULL);
        job_release(s, j);
        pthread_mutex_unlock(&s->mu);
        return send_error(c, code, code == 503 ? "1" : NULL, "%s", err);
    }
    return run_job(s, c, j);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    server *s = cls;
    (void)version;
    sreq *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->t0 = cli_wallclock();
        snprintf(r->what, sizeof r->what, "%s %s", method, url);
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        s->active++;
        pthread_mutex_unlock(&s->mu);
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
        if (n > s->max_body + DRAIN_MAX) {
            /* refuse before reading it; MHD closes the connection */
            r->answered = true;
            return send_error(c, 413, NULL,
                              "the request body (%s bytes) is over the "
                              "limit of %zu bytes",
                              cl, s->max_body);
        }
        /* a little too big: read and drop it, so the client, which is
         * still sending, reliably gets the 413 */
        r->too_big = n > s->max_body;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->too_big) {
            r->dropped += *upload_data_size;
            if (r->dropped > DRAIN_MAX)
                return MHD_NO; /* endless: close the connection */
        } else if (!r->answered) {
            if (r->body.n + *upload_data_size > s->max_body) {
                r->too_big = true;
                r->dropped = r->body.n + *upload_data_size;
                free(r->body.p);
                r->body = (sbuf){ 0 };
            } else {
                sb_put(&r->body, upload_data, *upload_data_size);
                if (r->body.oom)
                    return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    r->answered = true;
    return route(s, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *s = cls;
    sreq *r = *con_cls;
    if (!r)
        return;
    if (s->verbose) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        fprintf(stderr, "vldoc: serve: %s: HTTP %u in %.3f s%s\n", r->what,
                ci ? ci->http_status : 0, cli_wallclock() - r->t0,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
                    ? ""
                    : " (connection ended early)");
    }
    free(r->body.p);
    free(r);
    *con_cls = NULL;
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_mutex_unlock(&s->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    server *s = cls;
    if (!s->verbose)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    fprintf(stderr, "vldoc: serve: %s\n", msg);
}

/* ---- main ---- */

enum {
    O_HOST = 256,
    O_PORT,
    O_PORT_FILE,
    O_NAME,
    O_WORKERS,
    O_QUEUE,
    O_MAXCONN,
    O_MAXBODY,
    O_MAXIMG,
    O_TIMEOUT,
    O_NO_ISOLATE,
    O_GRACE,
    O_MINPX,
    O_MAXPX,
    O_ENDPOINT,
    O_REMOTE_MODEL,
    O_API_KEY_ENV,
    O_STREAM,
};

static const struct option long_opts[] = {
    { "model", required_argument, NULL, 'm' },
    { "engine", required_argument, NULL, 'e' },
    { "host", required_argument, NULL, O_HOST },
    { "port", required_argument, NULL, O_PORT },
    { "port-file", required_argument, NULL, O_PORT_FILE },
    { "served-model-name", required_argument, NULL, O_NAME },
    { "workers", required_argument, NULL, O_WORKERS },
    { "threads", required_argument, NULL, 't' },
    { "queue", required_argument, NULL, O_QUEUE },
    { "max-connections", required_argument, NULL, O_MAXCONN },
    { "max-body-mb", required_argument, NULL, O_MAXBODY },
    { "max-image-pixels", required_argument, NULL, O_MAXIMG },
    { "timeout", required_argument, NULL, O_TIMEOUT },
    { "no-isolate", no_argument, NULL, O_NO_ISOLATE },
    { "shutdown-grace", required_argument, NULL, O_GRACE },
    { "min-pixels", required_argument, NULL, O_MINPX },
    { "max-pixels", required_argument, NULL, O_MAXPX },
    { "endpoint", required_argument, NULL, O_ENDPOINT },
    { "remote-model", required_argument, NULL, O_REMOTE_MODEL },
    { "api-key-env", required_argument, NULL, O_API_KEY_ENV },
    { "stream", no_argument, NULL, O_STREAM },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static bool write_port(const char *path, unsigned port)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return false;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0)
        return false;
    return rename(tmp, path) == 0;
}

static const char *base_name(const char *dir)
{
    static char name[256];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    snprintf(name, sizeof name, "%.*s", (int)(n - b), dir + b);
    return name[0] ? name : "vldoc";
}

int cli_serve_main(int argc, char **argv)
{
    server s;
    memset(&s, 0, sizeof s);
    vd_engine_opts_init(&s.eng);
    const char *host = "127.0.0.1", *port_file = NULL;
    long port = 8080, workers = 1, threads = 0, queue = 16, maxconn = 64;
    long maxbody_mb = 100, maximg = 50000000;
    double timeout = 600, grace = 30;
    int c;
    long lv;
    double dv;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:e:t:qvh", long_opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            s.eng.model_dir = optarg;
            break;
        case 'e':
            s.eng.engine = optarg;
            break;
        case O_HOST:
            host = optarg;
            break;
        case O_PORT:
            if (!cli_int("--port", optarg, 0, 65535, &port))
                return CLI_USAGE;
            break;
        case O_PORT_FILE:
            port_file = optarg;
            break;
        case O_NAME:
            s.model_name = optarg;
            break;
        case O_WORKERS:
            if (!cli_int("--workers", optarg, 1, 256, &workers))
                return CLI_USAGE;
            break;
        case 't':
            if (!cli_int("--threads", optarg, 1, 1024, &threads))
                return CLI_USAGE;
            break;
        case O_QUEUE:
            if (!cli_int("--queue", optarg, 0, 100000, &queue))
                return CLI_USAGE;
            break;
        case O_MAXCONN:
            if (!cli_int("--max-connections", optarg, 1, 100000, &maxconn))
                return CLI_USAGE;
            break;
        case O_MAXBODY:
            if (!cli_int("--max-body-mb", optarg, 1, 1L << 20, &maxbody_mb))
                return CLI_USAGE;
            break;
        case O_MAXIMG:
            if (!cli_int("--max-image-pixels", optarg, 784, 1L << 40, &maximg))
                return CLI_USAGE;
            break;
        case O_TIMEOUT:
            if (!cli_double("--timeout", optarg, 0.001, 1e7, &timeout))
                return CLI_USAGE;
            break;
        case O_NO_ISOLATE:
            s.no_isolate = true;
            break;
        case O_GRACE:
            if (!cli_double("--shutdown-grace", optarg, 0, 1e6, &grace))
                return CLI_USAGE;
            break;
        case O_MINPX:
            if (!cli_int("--min-pixels", optarg, 784, 1L << 30, &lv))
                return CLI_USAGE;
            s.eng.render.min_pixels = lv;
            break;
        case O_MAXPX:
            if (!cli_int("--max-pixels", optarg, 784, 1L << 30, &lv))
                return CLI_USAGE;
            s.eng.render.max_pixels = lv;
            break;
        case O_ENDPOINT:
            s.eng.endpoint = optarg;
            break;
        case O_REMOTE_MODEL:
            s.eng.remote_model = optarg;
            break;
        case O_API_KEY_ENV:
            s.eng.api_key_env = optarg;
            break;
        case O_STREAM:
            s.eng.stream = 1;
            break;
        case 'q':
            s.quiet = true;
            break;
        case 'v':
            s.verbose = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs("Try 'vldoc serve --help' for more information.\n", stderr);
            return CLI_USAGE;
        }
    }
    (void)dv;
    if (optind < argc) {
        cli_usage_error("serve takes no arguments ('%s')", argv[optind]);
        return CLI_USAGE;
    }
    const char *model =
        s.eng.model_dir ? s.eng.model_dir : getenv("VLDOC_MODEL");
    if (!s.model_name)
        s.model_name = model ? base_name(model) : "vldoc";
    if (model) {
        struct stat sb;
        if (stat(model, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "vldoc: serve: model folder %s: %s\n", model,
                    stat(model, &sb) != 0 ? strerror(errno)
                                          : "not a directory");
            return CLI_FAILED;
        }
    } else if (!s.quiet && strcmp(s.eng.engine, "text") != 0 &&
               strcmp(s.eng.engine, "remote") != 0) {
        fprintf(stderr,
                "vldoc: serve: warning: no model (--model DIR): only PDFs "
                "with a text layer can be converted, and chat requests "
                "will fail\n");
    }
    s.qmax = (int)queue;
    s.nworkers = (int)workers;
    s.timeout = timeout;
    s.max_body = (size_t)maxbody_mb << 20;
    s.max_image_pixels = (uint64_t)maximg;
    int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    s.threads_per_worker =
        threads ? (int)threads
                : (ncpu / s.nworkers > 0 ? ncpu / s.nworkers : 1);
    s.tmpdir =
        getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    s.started = time(NULL);

    /* the address */
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%ld", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "vldoc: serve: --host %s: %s\n", host,
                gai_strerror(gai));
        return CLI_USAGE;
    }

    /* signals: handled by sigwait on this thread only, so every thread we
     * or libmicrohttpd start inherits the blocked mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.work, NULL);
    if (!s.no_isolate && !zygote_start(&s))
        fprintf(stderr, "vldoc: serve: cannot start the fork server; "
                        "decoding in-process\n");
    s.threads = calloc((size_t)s.nworkers, sizeof *s.threads);
    s.current = calloc((size_t)s.nworkers, sizeof *s.current);
    int started = 0;
    for (int i = 0; s.threads && s.current && i < s.nworkers; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            break;
        wa->s = &s;
        wa->id = i;
        if (pthread_create(&s.threads[i], NULL, worker, wa) != 0) {
            free(wa);
            break;
        }
        started++;
    }
    struct MHD_Daemon *d = NULL;
    if (started == s.nworkers) {
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG;
        if (ai->ai_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        d = MHD_start_daemon(
            flags, (uint16_t)port, NULL, NULL, on_request, &s,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &s, MHD_OPTION_SOCK_ADDR,
            ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)maxconn,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_END);
    }
    freeaddrinfo(ai);
    int rc = CLI_OK;
    if (!d) {
        fprintf(stderr, "vldoc: serve: cannot listen on %s port %ld%s\n", host,
                port,
                started == s.nworkers ? " (in use, or not allowed)"
                                      : ": cannot start workers");
        rc = CLI_FAILED;
    } else {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        unsigned bound = di ? di->port : (unsigned)port;
        if (port_file && !write_port(port_file, bound)) {
            fprintf(stderr, "vldoc: serve: --port-file %s: %s\n", port_file,
                    strerror(errno));
            rc = CLI_FAILED;
        }
        if (!s.quiet)
            fprintf(stderr,
                    "vldoc: serving %s (engine %s, %d worker%s x %d "
                    "threads, queue %d) on http://%s:%u/v1\n",
                    s.model_name, s.eng.engine, s.nworkers,
                    s.nworkers == 1 ? "" : "s", s.threads_per_worker, s.qmax,
                    host, bound);
        int sig = 0;
        while (rc == CLI_OK && sigwait(&sigs, &sig) != 0)
            ;
        /* 1. stop taking requests; fail the queued ones explicitly */
        MHD_socket ls = MHD_quiesce_daemon(d);
        if (ls != MHD_INVALID_SOCKET)
            close(ls);
        pthread_mutex_lock(&s.mu);
        s.stopping = true;
        int failed = 0, running = s.busy;
        while (s.head) {
            sjob *j = s.head;
            s.head = j->next;
            s.qlen--;
            set_error(j, 503, "server_error",
                      "the server is shutting down; the request was not "
                      "started");
            j->retry_after = "5";
            j->state = S_DONE;
            pthread_cond_signal(&j->done);
            job_release(&s, j);
            failed++;
        }
        s.tail = NULL;
        pthread_mutex_unlock(&s.mu);
        if (!s.quiet && rc == CLI_OK)
            fprintf(stderr,
                    "vldoc: serve: %s: stopping; %d queued request%s "
                    "refused, %d running\n",
                    sig == SIGINT ? "SIGINT" : "SIGTERM", failed,
                    failed == 1 ? "" : "s", running);
        /* 2. let running requests finish, for a while; a second signal
         * or the end of the grace period cancels them */
        double until = cli_wallclock() + grace;
        for (;;) {
            pthread_mutex_lock(&s.mu);
            int busy = s.busy;
            pthread_mutex_unlock(&s.mu);
            double left = until - cli_wallclock();
            if (!busy || left <= 0)
                break;
            struct timespec ts = { 0, 50 * 1000000L };
            if (sigtimedwait(&sigs, NULL, &ts) > 0)
                break;
        }
        /* 3. cancel what still runs: its worker answers 503 */
        pthread_mutex_lock(&s.mu);
        int cancelled = 0;
        for (int i = 0; i < s.nworkers; i++) {
            sjob *j = s.current[i];
            if (j && j->run_ctx) {
                j->shutdown = true;
                vd_ctx_cancel(j->run_ctx);
                cancelled++;
            }
        }
        pthread_mutex_unlock(&s.mu);
        if (cancelled)
            fprintf(stderr, "vldoc: serve: cancelled %d running request%s\n",
                    cancelled, cancelled == 1 ? "" : "s");
    }
    pthread_mutex_lock(&s.mu);
    s.stop_workers = true;
    pthread_cond_broadcast(&s.work);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < started; i++)
        pthread_join(s.threads[i], NULL);
    zygote_stop();
    /* every job is answered now; let the answers reach the clients
     * before the connections are closed */
    for (int i = 0; d && i < 200; i++) {
        pthread_mutex_lock(&s.mu);
        int active = s.active;
        pthread_mutex_unlock(&s.mu);
        if (!active)
            break;
        struct timespec ts = { 0, 25 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (d)
        MHD_stop_daemon(d);
    free(s.threads);
    free(s.current);
    pthread_cond_destroy(&s.work);
    pthread_mutex_destroy(&s.mu);
    return rc;
}

#else /* !HAVE_MHD */

int cli_serve_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vldoc: serve is not built into this vldoc: install "
                    "libmicrohttpd (apt-get install libmicrohttpd-dev) and "
                    "run configure again\n");
    return CLI_FAILED;
}

#endif

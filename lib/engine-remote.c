/* Engine "remote": pages to an OpenAI-compatible chat-completions server
 * (vLLM, SGLang, llama-server, hosted APIs) over libcurl. Each page is
 * rendered (on the caller's thread: Poppler documents stay on theirs),
 * resized to a size Qwen2.5-VL's smart resize leaves unchanged, encoded as
 * a PNG or JPEG data URL with the document-parsing prompt by encoder
 * threads, and sent; the reply is the page's QwenVL HTML. Many requests
 * are in flight on one curl multi handle that poll drives; failures are
 * retried with backoff. The API key comes from the environment and is
 * never logged. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "engine-private.h"

#define DEFAULT_PROMPT                                                         \
    "QwenVL HTML "             /* as the qwen engine: the cookbook run's */
#define BACKOFF_CAP      30.0  /* seconds: longest computed retry wait */
#define RETRY_AFTER_CAP  300.0 /* seconds: longest Retry-After honoured */
#define JPEG_QUALITY     92
#define PNG_BPP_FOR_JPEG 1.5 /* try JPEG when PNG needs more bits/pixel */
#define POLL_SLICE       0.1 /* seconds between cancellation checks */

typedef struct req req;

typedef struct remote {
    char *endpoint;          /* base URL without trailing '/' (owned) */
    char *url;               /* .../chat/completions (owned) */
    char *model;             /* model name on the server (owned) */
    char *prompt;            /* user text (owned) */
    char *system_prompt;     /* NULL: the server's chat template default */
    char *key_env;           /* the key's variable name, for hints */
    struct curl_slist *hdrs; /* holds the secret Authorization header */
    vd_engine_opts o;        /* numbers and callbacks; strings above */
    CURLM *multi;
    req *active;    /* transfers in the multi handle */
    req *waiting;   /* sleeping until their retry time */
    vd__task *done; /* finished, not yet handed out by poll */
    uint64_t rng;   /* jitter */
    size_t resp_max;
    /* encoding off the caller's thread: PNG compression costs more than
     * rendering, so it must not hold up the next page's render */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    req *enc_head, *enc_tail; /* rendered, waiting for an encoder */
    req *ready;               /* encoded (or failed): to start */
    int encoding;             /* queued + being encoded + ready */
    pthread_t *enc;
    int nenc, want_enc; /* started, and to start with the first page */
    bool enc_stop;
} remote;

struct req {
    remote *r;
    vd__task *t;
    CURL *easy;
    char *body; /* request JSON (owned; kept for retries) */
    size_t body_len;
    vd__buf resp;       /* raw response body (non-streaming, or errors) */
    vd__buf line;       /* SSE: the line being assembled */
    vd__buf content;    /* SSE: the assistant text so far */
    long code;          /* HTTP status of the last response */
    double retry_after; /* from the last response; < 0: none */
    int attempts;       /* requests started */
    double t0;          /* submitted */
    double not_before;  /* waiting: start again at this time */
    int model_w, model_h;
    int max_tokens; /* asked for */
    int mode;       /* 0: no body yet, 1: event stream, 2: plain */
    int sse_done;   /* SSE: [DONE] seen */
    int stopped;    /* on_token asked to stop */
    int prompt_tokens, completion_tokens;
    char finish[32]; /* finish_reason */
    char errbuf[CURL_ERROR_SIZE];
    vd_image *img;              /* until encoded (owned) */
    const vd_engine_opts *call; /* per-call settings, or NULL */
    vd_status enc_status;       /* encoding failed: why */
    char enc_msg[512];
    req *next;
};

/* ---- one-time libcurl setup ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_status;

static void curl_init(void)
{
    curl_init_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- small helpers ---- */

static double jitter(remote *r)
{
    /* xorshift64*: only spreads retries, needs no quality */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (double)((r->rng * 0x2545F4914F6CDD1DULL) >> 11) /
           9007199254740992.0;
}

/* Append S as a JSON string. Fails on invalid UTF-8 rather than sending
 * bytes the server would reject or reinterpret. */
static vd_status json_str(vd_ctx *ctx, vd__buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!vd__utf8_valid(s, n))
        return vd__fail(ctx, VD_ERR_ARG, "prompt text is not valid UTF-8");
    vd__buf_putc(ctx, b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        vd__buf_append(ctx, b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            vd__buf_puts(ctx, b, "\\\"");
            break;
        case '\\':
            vd__buf_puts(ctx, b, "\\\\");
            break;
        case '\n':
            vd__buf_puts(ctx, b, "\\n");
            break;
        case '\r':
            vd__buf_puts(ctx, b, "\\r");
            break;
        case '\t':
            vd__buf_puts(ctx, b, "\\t");
            break;
        default:
            vd__buf_printf(ctx, b, "\\u%04x", c);
        }
    }
    vd__buf_append(ctx, b, s + run, n - run);
    return vd__buf_putc(ctx, b, '"');
}

/* A JSON number that does not depend on the C locale's decimal point. */
static void json_num(vd_ctx *ctx, vd__buf *b, const char *key, double v)
{
    char num[64];
    snprintf(num, sizeof num, "%.9g", v);
    for (char *p = num; *p; p++)
        if (*p == ',')
            *p = '.';
    vd__buf_printf(ctx, b, ",\"%s\":%s", key, num);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static vd_status base64(vd_ctx *ctx, vd__buf *b, const unsigned char *p,
                        size_t n)
{
    size_t out = (n + 2) / 3 * 4;
    vd_status st = vd__buf_reserve(ctx, b, out);
    if (st)
        return st;
    char *d = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *d++ = b64[v >> 18];
        *d++ = b64[(v >> 12) & 63];
        *d++ = b64[(v >> 6) & 63];
        *d++ = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        *d++ = b64[v >> 18];
        *d++ = b64[(v >> 12) & 63];
        *d++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    b->len += out;
    b->data[b->len] = '\0';
    return VD_OK;
}

/* ---- the request body ---- */

/* Encode IMG as PNG, or as JPEG when that is smaller for a photo-like page
 * (FORMAT 0), or as asked. Lossless PNG is the default because a
 * rendered document page is mostly flat colour and compresses well; scans
 * and photos are where JPEG wins. */
static vd_status encode_image(vd_ctx *ctx, const vd_image *img, int format,
                              vd_out **out, const char **mime)
{
    *out = NULL;
    vd_out *png = NULL, *jpg = NULL;
    vd_status st;
    double px = (double)vd_image_width(img) * vd_image_height(img);
    if (format != 2) {
        if ((st = vd_out_open_buffer(ctx, 0, &png)) ||
            (st = vd__image_encode_png(ctx, img, png)) ||
            (st = vd_out_close(ctx, png)))
            goto fail;
        if (format == 1 || vd_out_size(png) * 8.0 / px <= PNG_BPP_FOR_JPEG) {
            *out = png;
            *mime = "image/png";
            return VD_OK;
        }
    }
    if ((st = vd_out_open_buffer(ctx, 0, &jpg)) ||
        (st = vd__image_encode_jpeg(ctx, img, JPEG_QUALITY, jpg)) ||
        (st = vd_out_close(ctx, jpg)))
        goto fail;
    if (png && vd_out_size(png) <= vd_out_size(jpg)) {
        vd_out_free(jpg);
        *out = png;
        *mime = "image/png";
    } else {
        vd_out_free(png);
        *out = jpg;
        *mime = "image/jpeg";
    }
    return VD_OK;
fail:
    vd_out_free(png);
    vd_out_free(jpg);
    return st;
}

/* The request for IMG. CALL (may be NULL) overrides the prompt and the
 * generation settings given at open. */
static vd_status build_body(vd_ctx *ctx, remote *r, const vd_image *img,
                            const vd_engine_opts *call, vd__buf *b)
{
    vd_engine_opts g;
    vd__engine_call_opts(&r->o, call, &g);
    const char *prompt = call && call->prompt ? call->prompt : r->prompt;
    const char *sys =
        call && call->system_prompt ? call->system_prompt : r->system_prompt;
    vd_out *enc = NULL;
    const char *mime = NULL;
    vd_status st = encode_image(ctx, img, r->o.image_format, &enc, &mime);
    if (st)
        return st;
    size_t n;
    const char *bytes = vd_out_buffer(enc, &n);
    vd__buf_puts(ctx, b, "{\"model\":");
    json_str(ctx, b, r->model);
    vd__buf_puts(ctx, b, ",\"messages\":[");
    if (sys) {
        vd__buf_puts(ctx, b, "{\"role\":\"system\",\"content\":");
        json_str(ctx, b, sys);
        vd__buf_puts(ctx, b, "},");
    }
    /* text before the image, as the local engine's prompt has it */
    vd__buf_puts(ctx, b,
                 "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                 "\"text\":");
    json_str(ctx, b, prompt);
    vd__buf_printf(ctx, b,
                   "},{\"type\":\"image_url\",\"image_url\":{\"url\":"
                   "\"data:%s;base64,",
                   mime);
    base64(ctx, b, (const unsigned char *)bytes, n);
    vd__buf_puts(ctx, b, "\"}}]}]");
    vd__buf_printf(ctx, b, ",\"max_tokens\":%d",
                   g.max_new_tokens > 0 ? g.max_new_tokens : 8192);
    json_num(ctx, b, "temperature", g.temperature >= 0 ? g.temperature : 0.0);
    if (g.top_p >= 0)
        json_num(ctx, b, "top_p", g.top_p);
    if (g.top_k >= 0)
        vd__buf_printf(ctx, b, ",\"top_k\":%d", g.top_k);
    if (g.repetition_penalty >= 0)
        json_num(ctx, b, "repetition_penalty", g.repetition_penalty);
    if (g.seed)
        vd__buf_printf(ctx, b, ",\"seed\":%llu", (unsigned long long)g.seed);
    if (r->o.stream)
        vd__buf_puts(ctx, b,
                     ",\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":true}}");
    else
        vd__buf_puts(ctx, b, ",\"stream\":false}");
    vd_out_free(enc);
    return b->err;
}

/* ---- responses ---- */

static json_object *parse_json(const char *s, size_t n)
{
    if (n > INT32_MAX)
        return NULL;
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    } else if (o) {
        /* nothing but whitespace may follow the value */
        for (size_t i = json_tokener_get_parse_end(tok); i < n; i++)
            if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') {
                json_object_put(o);
                o = NULL;
                break;
            }
    }
    json_tokener_free(tok);
    return o;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

static json_object *first_choice(json_object *o)
{
    json_object *c = get(o, "choices");
    if (!c || !json_object_is_type(c, json_type_array) ||
        json_object_array_length(c) < 1)
        return NULL;
    return json_object_array_get_idx(c, 0);
}

static void read_usage(req *q, json_object *o)
{
    json_object *u = get(o, "usage");
    json_object *p = get(u, "prompt_tokens"), *c = get(u, "completion_tokens");
    if (p && json_object_is_type(p, json_type_int))
        q->prompt_tokens = json_object_get_int(p);
    if (c && json_object_is_type(c, json_type_int))
        q->completion_tokens = json_object_get_int(c);
}

static void read_finish(req *q, json_object *choice)
{
    json_object *f = get(choice, "finish_reason");
    if (f && json_object_is_type(f, json_type_string))
        snprintf(q->finish, sizeof q->finish, "%s", json_object_get_string(f));
}

/* Append message content to OUT: a string, or an array of text parts. */
static int append_content(req *q, json_object *c, vd__buf *out)
{
    if (!c || json_object_is_type(c, json_type_null))
        return 1;
    if (json_object_is_type(c, json_type_string)) {
        vd__buf_append(NULL, out, json_object_get_string(c),
                       (size_t)json_object_get_string_len(c));
        return out->err == VD_OK;
    }
    if (!json_object_is_type(c, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(c); i++) {
        json_object *t = get(json_object_array_get_idx(c, i), "text");
        if (t && json_object_is_type(t, json_type_string))
            vd__buf_append(NULL, out, json_object_get_string(t),
                           (size_t)json_object_get_string_len(t));
    }
    (void)q;
    return out->err == VD_OK;
}

/* The server's own words from an error body, for the message. */
static void error_text(const vd__buf *body, char *out, size_t n)
{
    out[0] = '\0';
    if (!body->len)
        return;
    json_object *o = parse_json(body->data, body->len);
    json_object *e = get(o, "error");
    json_object *m = get(e, "message");
    if (!m && e && json_object_is_type(e, json_type_string))
        m = e;
    if (!m)
        m = get(o, "detail");
    if (!m)
        m = get(o, "message");
    if (m && json_object_is_type(m, json_type_string)) {
        snprintf(out, n, "%s", json_object_get_string(m));
    } else {
        /* not JSON: the first line, printable bytes only */
        size_t k = 0;
        for (size_t i = 0; i < body->len && k + 1 < n && k < 200; i++) {
            unsigned char c = (unsigned char)body->data[i];
            if (c == '\n' || c == '\r')
                break;
            out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        out[k] = '\0';
    }
    json_object_put(o);
}

/* One "data:" payload of a server-sent event stream. */
static void sse_event(req *q, const char *data, size_t n)
{
    remote *r = q->r;
    if (n == 6 && memcmp(data, "[DONE]", 6) == 0) {
        q->sse_done = 1;
        return;
    }
    json_object *o = parse_json(data, n);
    if (!o)
        return; /* a keep-alive or a proxy's noise; the end decides */
    json_object *ch = first_choice(o);
    json_object *d = get(ch, "delta");
    json_object *c = get(d, "content");
    if (c && json_object_is_type(c, json_type_string)) {
        const char *piece = json_object_get_string(c);
        size_t len = (size_t)json_object_get_string_len(c);
        vd__buf_append(NULL, &q->content, piece, len);
        /* a per-call callback (serve streaming a chat) wins */
        const vd_engine_opts *cb =
            q->call && q->call->on_token ? q->call : &r->o;
        if (len && cb->on_token &&
            cb->on_token(cb->on_token_user, -1, piece, len))
            q->stopped = 1;
    }
    if (ch)
        read_finish(q, ch);
    if (get(o, "usage"))
        read_usage(q, o);
    json_object_put(o);
}

static void sse_feed(req *q, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            vd__buf_putc(NULL, &q->line, p[i]);
            continue;
        }
        size_t len = q->line.len;
        const char *l = q->line.data ? q->line.data : "";
        if (len && l[len - 1] == '\r')
            len--;
        if (len >= 5 && memcmp(l, "data:", 5) == 0) {
            size_t k = 5;
            if (k < len && l[k] == ' ')
                k++;
            sse_event(q, l + k, len - k);
        }
        vd__buf_reset(&q->line);
    }
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    req *q = user;
    size_t n = size * nmemb;
    if (!q->mode) {
        /* a server may answer stream:true with plain JSON, and errors
         * always come plain: go by what arrived, not what was asked */
        long code = 0;
        char *ct = NULL;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(q->easy, CURLINFO_CONTENT_TYPE, &ct);
        q->mode =
            code == 200 && ct && strncasecmp(ct, "text/event-stream", 17) == 0
                ? 1
                : 2;
    }
    if (q->mode == 1) {
        sse_feed(q, p, n);
        if (q->line.err || q->content.err || q->stopped)
            return 0;
        return n;
    }
    if (vd__buf_append(NULL, &q->resp, p, n))
        return 0; /* over the ceiling: curl fails with a write error */
    return n;
}

static size_t on_header(char *p, size_t size, size_t nitems, void *user)
{
    req *q = user;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
        q->retry_after = -1; /* a new response (after 100 Continue...) */
    if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        char v[64];
        size_t k = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, k);
        v[k] = '\0';
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e;
        errno = 0;
        double secs = strtod(s, &e);
        if (e != s && !errno && secs >= 0) {
            q->retry_after = secs;
        } else {
            time_t when = curl_getdate(s, NULL); /* an HTTP date */
            if (when > 0) {
                double d = difftime(when, time(NULL));
                q->retry_after = d > 0 ? d : 0;
            }
        }
    }
    return n;
}

/* ---- transfers ---- */

static void fail_task(req *q, vd_status st, const char *fmt, ...)
    VD_PRINTF(3, 4);
static void fail_task(req *q, vd_status st, const char *fmt, ...)
{
    vd__task *t = q->t;
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    t->status = st;
    snprintf(t->msg, sizeof t->msg, "%s: page %d: %s", t->path, t->page + 1,
             what);
}

static void req_free(req *q)
{
    if (!q)
        return;
    vd_image_free(q->img);
    if (q->easy)
        curl_easy_cleanup(q->easy);
    vd__free(q->body);
    vd__buf_free(&q->resp);
    vd__buf_free(&q->line);
    vd__buf_free(&q->content);
    vd__free(q);
}

static void list_remove(req **head, req *q)
{
    for (req **p = head; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            q->next = NULL;
            return;
        }
}

/* Hand the task back through the done list and drop the request. */
static void finish(remote *r, req *q)
{
    vd__task *t = q->t;
    t->out.stats.attempts = q->attempts;
    t->out.stats.seconds = vd__now() - q->t0;
    t->priv = NULL;
    t->next = r->done;
    r->done = t;
    req_free(q);
}

static double page_deadline(const remote *r, const req *q)
{
    return r->o.page_timeout > 0 ? q->t0 + r->o.page_timeout : -1;
}

static vd_status start(remote *r, req *q)
{
    double timeout = r->o.request_timeout > 0 ? r->o.request_timeout : 600;
    double dl = page_deadline(r, q);
    if (dl > 0 && dl - vd__now() < timeout)
        timeout = dl - vd__now();
    if (timeout < 0.001)
        timeout = 0.001;
    vd__buf_reset(&q->resp);
    vd__buf_reset(&q->line);
    vd__buf_reset(&q->content);
    q->code = 0;
    q->retry_after = -1;
    q->sse_done = 0;
    q->mode = 0;
    q->prompt_tokens = q->completion_tokens = 0;
    q->finish[0] = '\0';
    q->errbuf[0] = '\0';
    if (!q->easy) {
        CURL *e = q->easy = curl_easy_init();
        if (!e)
            return VD_ERR_NOMEM;
        curl_easy_setopt(e, CURLOPT_URL, r->url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)q->body_len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
        curl_easy_setopt(e, CURLOPT_PRIVATE, q);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(e, CURLOPT_USERAGENT, "vldoc/" VD_VERSION_STR);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    q->attempts++;
    if (curl_multi_add_handle(r->multi, q->easy) != CURLM_OK)
        return VD_ERR_INTERNAL;
    q->next = r->active;
    r->active = q;
    return VD_OK;
}

static int curl_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return 1;
    default:
        return 0;
    }
}

/* Try again after backoff, or fail the page for good. WHY says what went
 * wrong this time, for the final message. */
static void retry_or_fail(remote *r, req *q, vd_status st, const char *why)
{
    double now = vd__now();
    double dl = page_deadline(r, q);
    if (q->attempts <= r->o.retries && !q->stopped) {
        double first = r->o.retry_wait > 0 ? r->o.retry_wait : 1.0;
        double b = first * pow(2.0, q->attempts - 1);
        if (b > BACKOFF_CAP)
            b = BACKOFF_CAP;
        /* equal jitter: at least half the backoff, so retries spread out
         * without ever hammering a struggling server */
        double wait = b / 2 + jitter(r) * b / 2;
        if (q->retry_after >= 0) {
            double ra = q->retry_after < RETRY_AFTER_CAP ? q->retry_after
                                                         : RETRY_AFTER_CAP;
            wait = ra + jitter(r) * first / 4;
        }
        if (dl < 0 || now + wait < dl) {
            q->not_before = now + wait;
            q->next = r->waiting;
            r->waiting = q;
            return;
        }
    }
    fail_task(q, st, "remote: %s (gave up after %d attempt%s)", why,
              q->attempts, q->attempts == 1 ? "" : "s");
    finish(r, q);
}

/* The request ended (transfer done or failed): decide what happens. */
static void completed(remote *r, req *q, CURLcode cc)
{
    char why[700];
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->code);
    if (q->stopped) {
        vd__buf_append(NULL, &q->t->out.html, q->content.data, q->content.len);
        fail_task(q, VD_ERR_CANCELLED, "remote: stopped by the caller");
        finish(r, q);
        return;
    }
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR &&
            (q->resp.err || q->content.err || q->line.err)) {
            fail_task(q, VD_ERR_LIMIT,
                      "remote: response larger than the limit of %zu bytes",
                      r->resp_max);
            finish(r, q);
            return;
        }
        snprintf(why, sizeof why, "%s",
                 q->errbuf[0] ? q->errbuf : curl_easy_strerror(cc));
        if (curl_retryable(cc))
            retry_or_fail(r, q,
                          cc == CURLE_OPERATION_TIMEDOUT ? VD_ERR_TIMEOUT
                                                         : VD_ERR_REMOTE,
                          why);
        else {
            fail_task(q, VD_ERR_REMOTE, "remote: %s", why);
            finish(r, q);
        }
        return;
    }
    if (q->code != 200) {
        char text[512];
        error_text(&q->resp, text, sizeof text);
        bool auth = q->code == 401 || q->code == 403;
        snprintf(why, sizeof why, "HTTP %ld%s%s%s%s%s", q->code,
                 text[0] ? ": " : "", text, auth ? " (is the API key in $" : "",
                 auth ? r->key_env : "", auth ? " right?)" : "");
        if (q->code == 429 || q->code == 408 || q->code >= 500)
            retry_or_fail(r, q, VD_ERR_REMOTE, why);
        else {
            fail_task(q, q->code == 413 ? VD_ERR_LIMIT : VD_ERR_REMOTE,
                      "remote: %s", why);
            finish(r, q);
        }
        return;
    }
    /* 200: the assistant's message */
    vd__buf *html = &q->t->out.html;
    vd__buf_reset(html);
    if (q->mode == 1) {
        if (!q->sse_done && !q->finish[0]) {
            retry_or_fail(r, q, VD_ERR_REMOTE,
                          "the event stream ended before the reply did");
            return;
        }
        vd__buf_append(NULL, html, q->content.data ? q->content.data : "",
                       q->content.len);
    } else {
        json_object *o =
            parse_json(q->resp.data ? q->resp.data : "", q->resp.len);
        json_object *ch = first_choice(o);
        json_object *msg = get(ch, "message");
        json_object *c = get(msg, "content");
        if (!o || !msg || !c || !append_content(q, c, html)) {
            json_object_put(o);
            retry_or_fail(r, q, VD_ERR_REMOTE,
                          o ? "the reply is not a chat completion"
                            : "the reply is not valid JSON");
            return;
        }
        read_finish(q, ch);
        read_usage(q, o);
        json_object_put(o);
    }
    if (html->err) {
        fail_task(q, html->err, "remote: reply over the HTML limit");
        finish(r, q);
        return;
    }
    vd_page_stats *ps = &q->t->out.stats;
    ps->prompt_tokens = q->prompt_tokens;
    ps->generated_tokens = q->completion_tokens;
    ps->image_tokens = (q->model_w / 28) * (q->model_h / 28);
    if (q->prompt_tokens > 0 && q->prompt_tokens < ps->image_tokens)
        snprintf(q->t->out.warning, sizeof q->t->out.warning,
                 "%s: page %d: the server counted %d prompt tokens for an "
                 "image of %d tokens (%dx%d): it resized the image, so "
                 "boxes may be off; raise its max_pixels",
                 q->t->path, q->t->page + 1, q->prompt_tokens, ps->image_tokens,
                 q->model_w, q->model_h);
    if (strcmp(q->finish, "length") == 0) {
        ps->truncated = 1;
        /* worded as the local engine words it */
        fail_task(q, VD_ERR_LIMIT,
                  "output cut at the limit of %d new tokens "
                  "(--max-new-tokens)",
                  q->max_tokens);
    } else {
        q->t->status = VD_OK;
    }
    finish(r, q);
}

/* Run the transfers for at most TIMEOUT seconds; returns once something
 * is in r->done or the time is up. */
/* Take the encoded requests: start them, or fail those whose encoding
 * failed (all of them when CANCEL). Returns how many are still being
 * encoded. */
static int take_ready(remote *r, bool cancel)
{
    pthread_mutex_lock(&r->mu);
    req *list = r->ready;
    r->ready = NULL;
    if (cancel) {
        /* the queued ones need no encoding any more */
        for (req *q = r->enc_head, *n; q; q = n) {
            n = q->next;
            q->next = list;
            list = q;
        }
        r->enc_head = r->enc_tail = NULL;
    }
    for (req *q = list; q; q = q->next)
        r->encoding--;
    int left = r->encoding;
    pthread_mutex_unlock(&r->mu);
    while (list) {
        req *q = list;
        list = q->next;
        q->next = NULL;
        if (cancel) {
            fail_task(q, VD_ERR_CANCELLED, "cancelled");
            finish(r, q);
        } else if (q->enc_status) {
            fail_task(q, q->enc_status, "%s", q->enc_msg);
            finish(r, q);
        } else if (start(r, q) != VD_OK) {
            fail_task(q, VD_ERR_NOMEM, "cannot start a request");
            finish(r, q);
        }
    }
    return left;
}

static void step(vd_ctx *ctx, remote *r, double timeout)
{
    double deadline = vd__now() + (timeout > 0 ? timeout : 0);
    const vd__task *head = r->done; /* finish() prepends */
    for (;;) {
        if (vd__cancelled(ctx)) {
            /* pages an encoder holds right now come back on a later
             * poll; wait a little for them instead of spinning */
            if (take_ready(r, true) > 0 && r->done == head)
                curl_multi_poll(r->multi, NULL, 0, 10, NULL);
            while (r->active) {
                req *q = r->active;
                r->active = q->next;
                curl_multi_remove_handle(r->multi, q->easy);
                fail_task(q, VD_ERR_CANCELLED, "cancelled");
                finish(r, q);
            }
            while (r->waiting) {
                req *q = r->waiting;
                r->waiting = q->next;
                fail_task(q, VD_ERR_CANCELLED, "cancelled");
                finish(r, q);
            }
            return;
        }
        int encoding = take_ready(r, false);
        double now = vd__now();
        double next_wake = deadline;
        for (req **p = &r->waiting; *p;) {
            req *q = *p;
            if (q->not_before <= now) {
                *p = q->next;
                if (start(r, q) != VD_OK) {
                    fail_task(q, VD_ERR_NOMEM, "cannot start a request");
                    finish(r, q);
                }
                continue;
            }
            if (q->not_before < next_wake)
                next_wake = q->not_before;
            p = &q->next;
        }
        int running = 0;
        curl_multi_perform(r->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(r->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            req *q = NULL;
            CURLcode cc = m->data.result;
            CURL *e = m->easy_handle;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&q);
            curl_multi_remove_handle(r->multi, e);
            list_remove(&r->active, q);
            completed(r, q, cc);
        }
        if (r->done != head || (!r->active && !r->waiting && !encoding))
            return;
        now = vd__now();
        if (now >= deadline)
            return;
        double wait = next_wake - now;
        if (wait > POLL_SLICE)
            wait = POLL_SLICE;
        if (wait < 0)
            wait = 0;
        curl_multi_poll(r->multi, NULL, 0, (int)(wait * 1000) + 1, NULL);
    }
}

/* ---- the page: render, fit, encode ---- */

/* PAGE exactly as the local engine would see it (the rasterizer's model
 * image: multiples of 28 inside the pixel budget, which Qwen2.5-VL's
 * smart resize maps to itself): the server's own resize then leaves it
 * alone, so the data-bbox values in the reply are pixels of exactly this
 * image and the page map is exact. */
static vd_status page_image(vd_ctx *ctx, remote *r, vd_input *in, int page,
                            const vd_engine_opts *call, vd_image **out,
                            vd_pagemap *map)
{
    vd_engine_opts eff;
    vd__engine_call_opts(&r->o, call, &eff);
    vd_page_geom g;
    vd_status st = vd_input_render_model(ctx, in, page, &eff.render, out, &g);
    if (st == VD_OK)
        *map = g.map;
    return st;
}

/* The request body for Q, on an encoder thread or the caller's. */
static void encode(vd_ctx *ctx, remote *r, req *q)
{
    vd__buf body;
    vd__buf_init(&body, 0);
    if (ctx)
        vd_ctx_clear(ctx);
    /* no resolution in the file: the model image's pixels are not square
     * on the page, and a reader that honours pHYs (vldoc serve's own
     * decoder does) would stretch it off the size it must keep */
    vd_image_set_dpi(q->img, 0, 0);
    vd_status st = build_body(ctx, r, q->img, q->call, &body);
    vd_image_free(q->img);
    q->img = NULL;
    if (st) {
        vd__buf_free(&body);
        q->enc_status = st;
        snprintf(q->enc_msg, sizeof q->enc_msg, "%s",
                 ctx && vd_ctx_errmsg(ctx)[0] ? vd_ctx_errmsg(ctx)
                                              : vd_status_str(st));
        return;
    }
    q->body = vd__buf_steal(&body, &q->body_len);
}

static void *encoder(void *arg)
{
    remote *r = arg;
    vd_opts o;
    vd_opts_init(&o);
    o.threads = 1;
    vd_ctx *ctx = vd_ctx_new(&o); /* NULL: messages are lost, not work */
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->enc_head && !r->enc_stop)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->enc_stop)
            break;
        req *q = r->enc_head;
        r->enc_head = q->next;
        if (!r->enc_head)
            r->enc_tail = NULL;
        q->next = NULL;
        pthread_mutex_unlock(&r->mu);
        encode(ctx, r, q);
        pthread_mutex_lock(&r->mu);
        q->next = r->ready;
        r->ready = q;
        curl_multi_wakeup(r->multi);
    }
    pthread_mutex_unlock(&r->mu);
    vd_ctx_free(ctx);
    return NULL;
}

static void start_encoders(vd_ctx *ctx, remote *r)
{
    int n = r->want_enc;
    r->want_enc = 0;
    r->enc = vd__calloc(ctx, (size_t)n, sizeof *r->enc);
    for (int i = 0; r->enc && i < n; i++) {
        if (pthread_create(&r->enc[i], NULL, encoder, r) != 0)
            break;
        r->nenc++;
    }
}

/* Send IMG (already at its model size; owned from here) for task T. */
static vd_status submit_image(vd_ctx *ctx, remote *r, vd_image *img,
                              const vd_engine_opts *call, vd__task *t)
{
    req *q = vd__calloc(ctx, 1, sizeof *q);
    if (!q) {
        vd_image_free(img);
        return VD_ERR_NOMEM;
    }
    q->r = r;
    q->t = t;
    q->t0 = vd__now();
    q->img = img;
    q->call = call;
    q->max_tokens = call && call->max_new_tokens > 0 ? call->max_new_tokens
                    : r->o.max_new_tokens > 0        ? r->o.max_new_tokens
                                                     : 8192;
    q->model_w = vd_image_width(img);
    q->model_h = vd_image_height(img);
    vd__buf_init(&q->resp, r->resp_max);
    vd__buf_init(&q->line, r->resp_max);
    vd__buf_init(&q->content, ctx->opts.limits.max_html_bytes);
    t->priv = q;
    /* the first page starts the encoders; if none starts, pages encode
     * inline */
    if (r->want_enc)
        start_encoders(ctx, r);
    pthread_mutex_lock(&r->mu);
    r->encoding++;
    if (r->nenc > 0) {
        if (r->enc_tail)
            r->enc_tail->next = q;
        else
            r->enc_head = q;
        r->enc_tail = q;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
    } else {
        pthread_mutex_unlock(&r->mu);
        encode(ctx, r, q);
        pthread_mutex_lock(&r->mu);
        q->next = r->ready;
        r->ready = q;
        pthread_mutex_unlock(&r->mu);
    }
    /* one pass without waiting: start what the encoders have finished and
     * move the transfers along while the caller renders the next page */
    step(ctx, r, 0);
    return VD_OK;
}

vd_status vd__remote_submit_image(vd_ctx *ctx, void *state, vd_image *img,
                                  const vd_pagemap *map, vd__task *t)
{
    if (map)
        t->out.map = *map;
    else {
        t->out.map.model_w = vd_image_width(img);
        t->out.map.model_h = vd_image_height(img);
        t->out.map.page_w = vd_image_width(img);
        t->out.map.page_h = vd_image_height(img);
        t->out.map.unit = VD_UNIT_PX;
    }
    return submit_image(ctx, state, img, NULL, t);
}

static vd_status remote_submit(vd_ctx *ctx, void *state, vd_input *in, int page,
                               vd__task *t)
{
    remote *r = state;
    vd_image *img = NULL;
    vd_status st = page_image(ctx, r, in, page, t->out.call, &img, &t->out.map);
    if (st == VD_OK)
        st = submit_image(ctx, r, img, t->out.call, t);
    return st;
}

static void remote_poll(vd_ctx *ctx, void *state, double timeout,
                        vd__task **done)
{
    remote *r = state;
    if (!r->done)
        step(ctx, r, timeout);
    while (r->done) {
        vd__task *t = r->done;
        r->done = t->next;
        t->next = *done;
        *done = t;
    }
}

static int remote_slots(void *state)
{
    remote *r = state;
    return r->o.jobs > 0 ? r->o.jobs : 1;
}

/* One page, synchronously: submit, then drive the transfers until this
 * page is back. Other pages that finish meanwhile stay in r->done. */
static vd_status remote_page(vd_ctx *ctx, void *state, vd_input *in, int page,
                             vd__page_out *out)
{
    remote *r = state;
    vd__task t;
    memset(&t, 0, sizeof t);
    t.path = (char *)vd_input_path(in); /* borrowed, never freed here */
    t.page = page;
    t.out = *out;
    vd_status st = remote_submit(ctx, r, in, page, &t);
    if (st) {
        *out = t.out;
        return st;
    }
    for (;;) {
        for (vd__task **p = &r->done; *p; p = &(*p)->next)
            if (*p == &t) {
                *p = t.next;
                *out = t.out;
                if (t.status)
                    return vd__fail(ctx, t.status, "%s", t.msg);
                if (out->warning[0])
                    vd__warn(ctx, "%s", out->warning);
                return VD_OK;
            }
        step(ctx, r, POLL_SLICE);
    }
}

/* ---- open and close ---- */

static char *dup_opt(vd_ctx *ctx, const char *s, int *fail)
{
    if (!s)
        return NULL;
    char *d = vd__strdup(ctx, s);
    if (!d)
        *fail = 1;
    return d;
}

/* GET {endpoint}/models and take the first model's id, for servers that
 * serve one model and a user who did not name it. */
static vd_status discover_model(vd_ctx *ctx, remote *r)
{
    char *url = vd__asprintf(ctx, "%s/models", r->endpoint);
    if (!url)
        return VD_ERR_NOMEM;
    vd__buf body;
    vd__buf_init(&body, 4 << 20);
    vd_status st = VD_OK;
    CURL *e = curl_easy_init();
    char errbuf[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURLcode cc = CURLE_FAILED_INIT;
    for (int attempt = 0; e && attempt <= r->o.retries; attempt++) {
        vd__buf_reset(&body);
        req q;
        memset(&q, 0, sizeof q);
        q.r = r;
        q.easy = e;
        q.resp = body;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &q);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        cc = curl_easy_perform(e);
        body = q.resp;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        if ((cc == CURLE_OK && code < 500 && code != 429) ||
            (cc != CURLE_OK && !curl_retryable(cc)) || vd__cancelled(ctx))
            break;
        double first = r->o.retry_wait > 0 ? r->o.retry_wait : 1.0;
        double wait = first * pow(2.0, attempt);
        usleep((useconds_t)((wait < BACKOFF_CAP ? wait : BACKOFF_CAP) * 1e6));
    }
    if (!e) {
        st = VD_ERR_NOMEM;
    } else if (cc != CURLE_OK) {
        st = vd__fail(ctx, VD_ERR_REMOTE, "%s: %s", url,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (code != 200) {
        char text[512];
        error_text(&body, text, sizeof text);
        bool auth = code == 401 || code == 403;
        st = vd__fail(ctx, VD_ERR_REMOTE, "%s: HTTP %ld%s%s (%s%s%s)", url,
                      code, text[0] ? ": " : "", text,
                      auth ? "is the API key in $"
                           : "name the model with --remote-model, or check "
                             "--endpoint",
                      auth ? r->key_env : "", auth ? " right?" : "");
    } else {
        json_object *o = parse_json(body.data ? body.data : "", body.len);
        json_object *d = get(o, "data");
        json_object *id = NULL;
        if (d && json_object_is_type(d, json_type_array) &&
            json_object_array_length(d) > 0)
            id = get(json_object_array_get_idx(d, 0), "id");
        if (id && json_object_is_type(id, json_type_string)) {
            r->model = vd__strdup(ctx, json_object_get_string(id));
            if (!r->model)
                st = VD_ERR_NOMEM;
        } else {
            st = vd__fail(ctx, VD_ERR_REMOTE,
                          "%s: no model listed; name it with "
                          "--remote-model",
                          url);
        }
        json_object_put(o);
    }
    if (e)
        curl_easy_cleanup(e);
    vd__buf_free(&body);
    vd__free(url);
    return st;
}

static void remote_close(void *state)
{
    remote *r = state;
    if (!r)
        return;
    if (r->enc) {
        pthread_mutex_lock(&r->mu);
        r->enc_stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        for (int i = 0; i < r->nenc; i++)
            pthread_join(r->enc[i], NULL);
        vd__free(r->enc);
    }
    req *lists[2] = { r->enc_head, r->ready };
    for (int k = 0; k < 2; k++)
        for (req *q = lists[k], *n; q; q = n) {
            n = q->next;
            vd__task_free(q->t);
            req_free(q);
        }
    for (req *q = r->active, *n; q; q = n) {
        n = q->next;
        curl_multi_remove_handle(r->multi, q->easy);
        vd__task_free(q->t);
        req_free(q);
    }
    for (req *q = r->waiting, *n; q; q = n) {
        n = q->next;
        vd__task_free(q->t);
        req_free(q);
    }
    while (r->done) {
        vd__task *t = r->done;
        r->done = t->next;
        vd__task_free(t);
    }
    if (r->multi)
        curl_multi_cleanup(r->multi);
    if (r->hdrs)
        curl_slist_free_all(r->hdrs);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    vd__free(r->endpoint);
    vd__free(r->url);
    vd__free(r->model);
    vd__free(r->prompt);
    vd__free(r->system_prompt);
    vd__free(r->key_env);
    vd__free(r);
}

static vd_status remote_open(vd_ctx *ctx, const vd_engine_opts *o, void **state)
{
    *state = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_status != CURLE_OK)
        return vd__fail(ctx, VD_ERR_REMOTE, "libcurl failed to start: %s",
                        curl_easy_strerror(curl_init_status));
    if (!o->endpoint || !o->endpoint[0])
        return vd__fail(ctx, VD_ERR_ARG,
                        "the remote engine needs --endpoint URL, the "
                        "server's base URL ending in /v1 (e.g. "
                        "http://127.0.0.1:8000/v1)");
    if (strncmp(o->endpoint, "http://", 7) != 0 &&
        strncmp(o->endpoint, "https://", 8) != 0)
        return vd__fail(ctx, VD_ERR_ARG,
                        "--endpoint %s: must start with http:// or "
                        "https://",
                        o->endpoint);
    remote *r = vd__calloc(ctx, 1, sizeof *r);
    if (!r)
        return VD_ERR_NOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->o = *o;
    r->o.endpoint = r->o.remote_model = r->o.prompt = NULL;
    r->o.system_prompt = r->o.api_key_env = r->o.model_dir = NULL;
    r->rng = (uint64_t)(vd__now() * 1e9) ^ ((uint64_t)getpid() << 32) ^
             (uint64_t)(uintptr_t)r;
    if (!r->rng)
        r->rng = 1;
    /* a reply is escaped JSON around the HTML: allow for the escaping */
    uint64_t hm = ctx->opts.limits.max_html_bytes;
    r->resp_max = hm > SIZE_MAX / 8 ? SIZE_MAX / 2 : (size_t)hm * 6 + 65536;
    int fail = 0;
    r->endpoint = dup_opt(ctx, o->endpoint, &fail);
    r->model = dup_opt(ctx, o->remote_model, &fail);
    r->prompt = dup_opt(ctx, o->prompt ? o->prompt : DEFAULT_PROMPT, &fail);
    r->system_prompt = dup_opt(ctx, o->system_prompt, &fail);
    r->key_env =
        dup_opt(ctx, o->api_key_env ? o->api_key_env : "VLDOC_API_KEY", &fail);
    if (fail) {
        remote_close(r);
        return VD_ERR_NOMEM;
    }
    size_t el = strlen(r->endpoint);
    while (el > 0 && r->endpoint[el - 1] == '/')
        r->endpoint[--el] = '\0';
    /* accept the full URL too */
    static const char tail[] = "/chat/completions";
    if (el >= sizeof tail - 1 &&
        strcmp(r->endpoint + el - (sizeof tail - 1), tail) == 0)
        r->endpoint[el - (sizeof tail - 1)] = '\0';
    r->url = vd__asprintf(ctx, "%s/chat/completions", r->endpoint);
    r->multi = curl_multi_init();
    if (!r->url || !r->multi) {
        remote_close(r);
        return VD_ERR_NOMEM;
    }
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)(o->jobs > 0 ? o->jobs : 1));
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/json");
    if (h)
        r->hdrs = h;
    /* no "Expect: 100-continue" round trip before each large body */
    if (h && (h = curl_slist_append(r->hdrs, "Expect:")))
        r->hdrs = h;
    const char *env = r->key_env;
    const char *key = getenv(env);
    if (h && key && key[0]) {
        if (strpbrk(key, "\r\n")) {
            remote_close(r);
            return vd__fail(ctx, VD_ERR_ARG,
                            "$%s holds a line break; it must be the bare "
                            "API key",
                            env);
        }
        char *auth = vd__asprintf(ctx, "Authorization: Bearer %s", key);
        if (!auth) {
            remote_close(r);
            return VD_ERR_NOMEM;
        }
        h = curl_slist_append(r->hdrs, auth);
        /* wipe our copy; curl keeps its own in the list */
        memset(auth, 0, strlen(auth));
        vd__free(auth);
        if (h)
            r->hdrs = h;
    } else if (h) {
        vd__info(ctx, "remote: $%s is not set: sending no API key", env);
    }
    if (!h) {
        remote_close(r);
        return vd__fail(ctx, VD_ERR_NOMEM, "out of memory");
    }
    /* encoders: enough to keep up with one renderer, leaving a core for
     * it; none when pages go one at a time */
    int ncpu = ctx->opts.threads > 0 ? ctx->opts.threads : 1;
    int nenc = ncpu - 1 < 8 ? ncpu - 1 : 8;
    if (nenc > o->jobs)
        nenc = o->jobs;
    if (nenc < 1)
        nenc = 1;
    /* started with the first page, not here: a process that opens the
     * engine and then forks workers (vldoc convert's isolation) must not
     * fork while these threads run - one caught inside malloc would leave
     * its lock held in the child forever */
    r->want_enc = o->jobs > 1 ? nenc : 0;
    if (!r->model) {
        vd_status st = discover_model(ctx, r);
        if (st) {
            remote_close(r);
            return st;
        }
        vd__info(ctx, "remote: using model '%s' from %s/models", r->model,
                 r->endpoint);
    }
    *state = r;
    return VD_OK;
}

const vd__engine_vt vd__engine_remote = {
    .name = "remote",
    .open = remote_open,
    .accepts = NULL,
    .page = remote_page,
    .close = remote_close,
    .submit = remote_submit,
    .poll = remote_poll,
    .slots = remote_slots,
};

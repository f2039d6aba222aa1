/* Remote engine against the fault-injection server (tests/cli/
 * fault-server.py, started by tests/cli/test-remote-faults.sh, which passes
 * its base URL): requests as documented, many in flight, retries with
 * backoff on slow replies, dropped connections, 429 + Retry-After, 500s,
 * truncated bodies and invalid JSON, final errors that name the page, and
 * no page lost or duplicated (the server counts requests per page). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../tap.h"
#include "engine-private.h"

static const char *base; /* http://127.0.0.1:PORT */

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    vd__buf *b = u;
    vd__buf_append(NULL, b, p, s * n);
    return s * n;
}

/* POST /control BODY or GET /stats; the reply in OUT (may be NULL). */
static int call(const char *path, const char *body, vd__buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *e = curl_easy_init();
    vd__buf tmp;
    vd__buf_init(&tmp, 0);
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? out : &tmp);
    CURLcode cc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    vd__buf_free(&tmp);
    return cc == CURLE_OK;
}

static void control(const char *json)
{
    call("/control", json, NULL);
}

/* How many requests the server saw for the page of size WxH (stats JSON
 * as Python writes it: "WxH-HASH": [[time, "outcome"], ...]; every page
 * here has its own size) that ended with OUTCOME, or all of them when
 * OUTCOME is NULL. */
static int seen(const char *stats, int w, int h, const char *outcome)
{
    char key[64], want[32];
    snprintf(key, sizeof key, "\"%dx%d-", w, h);
    const char *p = stats ? strstr(stats, key) : NULL;
    if (!p || !(p = strstr(p, "\": [")))
        return 0;
    p += 4;
    const char *end = strstr(p, "]]");
    if (!end)
        return 0;
    snprintf(want, sizeof want, "\"%s\"]", outcome ? outcome : "");
    int n = 0;
    for (const char *q = p; q < end; q++)
        n += outcome ? strncmp(q, want, strlen(want)) == 0 : *q == '[';
    return n;
}

typedef struct page {
    int w, h;
    vd__task *t; /* the result */
} page;

static vd_image *make_image(vd_ctx *ctx, int w, int h, int noisy)
{
    vd_image *img = NULL;
    if (vd_image_new(ctx, w, h, &img))
        return NULL;
    uint8_t *px = vd_image_data(img);
    size_t stride = vd_image_stride(img);
    uint32_t r = 12345u + (uint32_t)w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < 3 * w; x++) {
            r = r * 1103515245u + 12345u;
            px[(size_t)y * stride + (size_t)x] =
                noisy ? (uint8_t)(r >> 16)
                      : (uint8_t)(((x / 3) / 7 + y / 5) % 2 ? 255 : 20);
        }
    return img;
}

/* Submit every page, poll until all are back; true when none is lost
 * and none comes back twice. */
static int run(vd_ctx *ctx, void *st, page *pg, int n, int noisy, double *secs)
{
    double t0 = vd__now();
    int back = 0, twice = 0;
    for (int i = 0; i < n; i++) {
        pg[i].t = NULL;
        vd__task *t = vd__calloc(ctx, 1, sizeof *t);
        t->path = vd__strdup(ctx, "mem.png");
        t->page = i;
        t->user = &pg[i];
        vd__buf_init(&t->out.html, 1 << 20);
        vd_image *img = make_image(ctx, pg[i].w, pg[i].h, noisy);
        vd_status s = vd__remote_submit_image(ctx, st, img, NULL, t);
        if (s) {
            tap_diag("submit failed: %s", vd_ctx_errmsg(ctx));
            vd__task_free(t);
            return 0;
        }
    }
    while (back < n && vd__now() - t0 < 60) {
        vd__task *done = NULL;
        vd__engine_remote.poll(ctx, st, 0.5, &done);
        while (done) {
            vd__task *t = done;
            done = t->next;
            page *p = t->user;
            if (p->t) {
                twice++;
                vd__task_free(t);
            } else {
                p->t = t;
                back++;
            }
        }
    }
    if (secs)
        *secs = vd__now() - t0;
    return back == n && !twice;
}

static void free_pages(page *pg, int n)
{
    for (int i = 0; i < n; i++) {
        vd__task_free(pg[i].t);
        pg[i].t = NULL;
    }
}

static double req_timeout = 1.0;

static void *open_remote(vd_ctx *ctx, vd_engine **eng, int stream, int retries,
                         int jobs, vd_token_fn tok, void *tu)
{
    vd_engine_opts o;
    vd_engine_opts_init(&o);
    char ep[300];
    snprintf(ep, sizeof ep, "%s/v1", base);
    o.engine = "remote";
    o.endpoint = ep;
    o.retries = retries;
    o.retry_wait = 0.05;
    o.request_timeout = req_timeout;
    o.jobs = jobs;
    o.stream = stream;
    o.on_token = tok;
    o.on_token_user = tu;
    o.api_key_env = "VLDOC_TEST_KEY";
    vd_ctx_clear(ctx);
    if (vd_engine_open(ctx, &o, eng)) {
        tap_diag("open: %s", vd_ctx_errmsg(ctx));
        return NULL;
    }
    return vd__engine_state(ctx, *eng, "remote");
}

static int right_html(const page *p)
{
    char want[64];
    snprintf(want, sizeof want, ">page %dx%d-", p->w, p->h);
    return p->t && p->t->out.html.data && strstr(p->t->out.html.data, want);
}

static int count_tokens(void *u, int id, const char *piece, size_t len)
{
    (void)id;
    (void)piece;
    (void)len;
    ++*(int *)u;
    return 0;
}

int main(int argc, char **argv)
{
    base = argc > 1 ? argv[1] : getenv("VLDOC_TEST_SERVER");
    if (!base)
        tap_skip_all("no fault server (run through test-remote-faults.sh)");
    tap_plan_late();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    vd_ctx *ctx = vd_ctx_new(NULL);
    vd__buf stats;
    vd__buf_init(&stats, 0);
    page pg[12];
    /* every page its own size: the server knows pages by size */
    for (int i = 0; i < 12; i++) {
        pg[i].w = 28 * (i + 2);
        pg[i].h = 56 + 28 * (i % 3);
    }
    setenv("VLDOC_TEST_KEY", "sekrit-key", 1);

    /* 1. all good, many in flight */
    vd_engine *eng = NULL;
    req_timeout = 10;
    void *st = open_remote(ctx, &eng, 0, 3, 8, NULL, NULL);
    tap_ok(st != NULL, "remote engine opens; model found via /v1/models");
    if (!st)
        return tap_done();
    control("{\"reset\": true, \"mode\": \"ok\", \"delay\": 0.3}");
    double secs = 0;
    tap_ok(run(ctx, st, pg, 8, 0, &secs), "8 pages: all back, none twice");
    int good = 1, once = 1, stats_ok = 1;
    vd__buf_reset(&stats);
    call("/stats", NULL, &stats);
    for (int i = 0; i < 8; i++) {
        good &= pg[i].t && pg[i].t->status == VD_OK && right_html(&pg[i]);
        once &= seen(stats.data, pg[i].w, pg[i].h, "ok") == 1;
        const vd_page_stats *ps = pg[i].t ? &pg[i].t->out.stats : NULL;
        int itok = (pg[i].w / 28) * (pg[i].h / 28);
        int ok1 = ps && ps->attempts == 1 && ps->image_tokens == itok &&
                  ps->prompt_tokens == itok + 20 &&
                  ps->generated_tokens == 17 && ps->seconds > 0;
        if (!ok1 && ps)
            tap_diag("page %d: attempts %d, image %d/%d, prompt %d, gen %d, "
                     "%.3f s",
                     i + 1, ps->attempts, ps->image_tokens, itok,
                     ps->prompt_tokens, ps->generated_tokens, ps->seconds);
        stats_ok &= ok1;
    }
    tap_ok(good, "each page got its own reply");
    tap_ok(once, "the server saw each page exactly once");
    tap_ok(stats_ok, "token usage, image tokens, attempts, latency recorded");
    const char *mi = strstr(stats.data, "\"max_inflight\": ");
    int inflight = mi ? atoi(mi + 16) : 0;
    tap_ok(inflight >= 6, "%d of 8 requests were in flight at once", inflight);
    tap_ok(secs < 2.0, "8 pages of 0.3 s each took %.2f s, not 2.4", secs);
    tap_ok(strstr(stats.data, "\"Bearer sekrit-key\"") != NULL,
           "API key sent from the environment variable");
    tap_ok(strstr(stats.data, "\"errors\": []") != NULL,
           "every request had the documented shape");
    free_pages(pg, 8);

    /* 2. every fault once, then success: nothing lost, nothing twice;
     * "slow" replies take 3 s against a 1.5 s request timeout */
    vd_engine_free(eng);
    req_timeout = 1.5;
    st = open_remote(ctx, &eng, 0, 3, 8, NULL, NULL);
    control("{\"reset\": true, \"mode\": \"mixed\", \"delay\": 0, "
            "\"slow\": 3.0, \"retry_after\": 1}");
    tap_ok(run(ctx, st, pg, 12, 0, &secs),
           "12 pages under faults: all back, none twice (%.2f s)", secs);
    vd__buf_reset(&stats);
    call("/stats", NULL, &stats);
    good = once = 1;
    int twice_each = 1;
    for (int i = 0; i < 12; i++) {
        /* a connection dropped before any reply is retried by libcurl
         * itself when it was a reused one: one attempt of ours, then */
        int drop = seen(stats.data, pg[i].w, pg[i].h, "drop");
        int att = pg[i].t ? pg[i].t->out.stats.attempts : 0;
        int att_ok = att == 2 || (drop && att == 1);
        good &=
            pg[i].t && pg[i].t->status == VD_OK && right_html(&pg[i]) && att_ok;
        if (pg[i].t && !att_ok)
            tap_diag("page %d (%dx%d): %d attempts, status %d", i + 1, pg[i].w,
                     pg[i].h, pg[i].t->out.stats.attempts, pg[i].t->status);
        once &= seen(stats.data, pg[i].w, pg[i].h, "ok") == 1;
        twice_each &= seen(stats.data, pg[i].w, pg[i].h, NULL) == 2;
    }
    tap_ok(good, "every page recovered on its second attempt");
    tap_ok(once && twice_each,
           "the server saw each page twice: one fault, one success");
    static const char *const faults[] = { "slow", "drop",      "429",
                                          "500",  "truncated", "invalid" };
    for (int f = 0; f < 6; f++) {
        int hit = 0;
        for (int i = 0; i < 12; i++)
            hit += seen(stats.data, pg[i].w, pg[i].h, faults[f]);
        tap_ok(hit > 0, "fault '%s' was injected and recovered from (%d)",
               faults[f], hit);
    }
    /* the 429 page waited for Retry-After (1 s), not the 0.05 s backoff */
    int waited = 1, found = 0;
    for (int i = 0; i < 12; i++) {
        if (!seen(stats.data, pg[i].w, pg[i].h, "429"))
            continue;
        char key[64];
        snprintf(key, sizeof key, "\"%dx%d-", pg[i].w, pg[i].h);
        const char *p = strstr(stats.data, key);
        if (p)
            p = strstr(p, "[[");
        double t1 = 0, t2 = 0;
        if (p && sscanf(p + 2, "%lf, \"429\"], [%lf", &t1, &t2) == 2) {
            found = 1;
            waited &= t2 - t1 >= 0.95;
        }
    }
    tap_ok(found && waited, "Retry-After honoured before the next attempt");
    free_pages(pg, 12);

    /* 3. a page that always fails: reported, the rest go on */
    char ctl[160];
    snprintf(ctl, sizeof ctl,
             "{\"reset\": true, \"mode\": \"fail\", \"fail\": [\"%dx%d-\"]}",
             pg[2].w, pg[2].h);
    control(ctl);
    tap_ok(run(ctx, st, pg, 4, 0, NULL), "4 pages, one failing: all back");
    vd__buf_reset(&stats);
    call("/stats", NULL, &stats);
    vd__task *bad = pg[2].t;
    tap_ok(bad && bad->status == VD_ERR_REMOTE &&
               strstr(bad->msg, "mem.png: page 3: remote: HTTP 500: GPU fell "
                                "over (gave up after 4 attempts)"),
           "final error names file, page, status, server message, attempts: "
           "%s",
           bad ? bad->msg : "(missing)");
    tap_ok(seen(stats.data, pg[2].w, pg[2].h, "500") == 4,
           "the failing page was tried 1 + 3 retries times");
    good = 1;
    for (int i = 0; i < 4; i++)
        if (pg[i].t != bad)
            good &= pg[i].t && pg[i].t->status == VD_OK &&
                    seen(stats.data, pg[i].w, pg[i].h, "ok") == 1;
    tap_ok(good, "the other pages succeeded, once each");
    free_pages(pg, 4);

    /* 4. 400 is final: no retry */
    control("{\"reset\": true, \"mode\": \"bad400\"}");
    run(ctx, st, pg, 1, 0, NULL);
    vd__buf_reset(&stats);
    call("/stats", NULL, &stats);
    tap_ok(pg[0].t && pg[0].t->status == VD_ERR_REMOTE &&
               strstr(pg[0].t->msg, "HTTP 400: max_tokens too large") &&
               seen(stats.data, pg[0].w, pg[0].h, NULL) == 1,
           "HTTP 400 is not retried: %s", pg[0].t ? pg[0].t->msg : "");
    free_pages(pg, 1);

    /* 4b. a wrong key: 401, not retried, the hint names the variable */
    control("{\"reset\": true, \"mode\": \"auth\"}");
    run(ctx, st, pg, 1, 0, NULL);
    vd__buf_reset(&stats);
    call("/stats", NULL, &stats);
    tap_ok(pg[0].t && pg[0].t->status == VD_ERR_REMOTE &&
               strstr(pg[0].t->msg, "HTTP 401: invalid api key (is the API "
                                    "key in $VLDOC_TEST_KEY right?)") &&
               seen(stats.data, pg[0].w, pg[0].h, NULL) == 1 &&
               !strstr(pg[0].t->msg, "sekrit"),
           "HTTP 401 is final and hints at the key's variable: %s",
           pg[0].t ? pg[0].t->msg : "");
    free_pages(pg, 1);

    /* 5. finish_reason length: the text is kept, the page is marked */
    control("{\"reset\": true, \"mode\": \"length\"}");
    run(ctx, st, pg, 1, 0, NULL);
    tap_ok(pg[0].t && pg[0].t->status == VD_ERR_LIMIT &&
               pg[0].t->out.stats.truncated && right_html(&pg[0]) &&
               strstr(pg[0].t->msg, "output cut at the limit of 8192 new "
                                    "tokens (--max-new-tokens)"),
           "a reply cut at max_tokens keeps its text and is marked");
    free_pages(pg, 1);

    /* 6. a server that resized the image is detected */
    control("{\"reset\": true, \"mode\": \"resized\"}");
    run(ctx, st, pg + 5, 1, 0, NULL);
    tap_ok(pg[5].t && pg[5].t->status == VD_OK &&
               strstr(pg[5].t->out.warning, "resized the image"),
           "fewer prompt tokens than image tokens gives a warning");
    free_pages(pg + 5, 1);

    /* 7. cancel: everything in flight comes back cancelled, promptly */
    control("{\"reset\": true, \"mode\": \"ok\", \"delay\": 5}");
    vd_ctx_cancel(ctx);
    tap_ok(run(ctx, st, pg, 3, 0, &secs) && secs < 1.5,
           "cancelled pages all come back (%.2f s)", secs);
    good = 1;
    for (int i = 0; i < 3; i++)
        good &= pg[i].t && pg[i].t->status == VD_ERR_CANCELLED;
    tap_ok(good, "with status cancelled");
    free_pages(pg, 3);
    vd_engine_free(eng);
    vd_ctx_free(ctx);
    ctx = vd_ctx_new(NULL);

    /* 8. streaming: tokens arrive, a cut stream is retried */
    int ntok = 0;
    unsetenv("VLDOC_TEST_KEY");
    st = open_remote(ctx, &eng, 1, 3, 4, count_tokens, &ntok);
    control("{\"reset\": true, \"mode\": \"mixed\", \"delay\": 0, "
            "\"slow\": 3.0}");
    tap_ok(st && run(ctx, st, pg, 12, 0, NULL),
           "streaming, under faults: all back, none twice");
    vd__buf_reset(&stats);
    call("/stats", NULL, &stats);
    good = once = 1;
    for (int i = 0; i < 12; i++) {
        good &= pg[i].t && pg[i].t->status == VD_OK && right_html(&pg[i]) &&
                pg[i].t->out.stats.generated_tokens == 17;
        once &= seen(stats.data, pg[i].w, pg[i].h, "ok") == 1;
    }
    tap_ok(good && once, "streamed replies assembled, usage read, once each");
    tap_ok(ntok > 12, "token callback called for streamed pieces (%d)", ntok);
    tap_ok(strstr(stats.data, "\"auth\": [\"\"") != NULL,
           "no Authorization header when the key variable is unset");
    free_pages(pg, 12);
    vd_engine_free(eng);

    /* 9. image formats: flat pages go as PNG, noisy ones as JPEG */
    control("{\"reset\": true, \"mode\": \"ok\"}");
    st = open_remote(ctx, &eng, 0, 1, 2, NULL, NULL);
    run(ctx, st, pg, 2, 1, NULL);
    tap_ok(pg[0].t && pg[0].t->status == VD_OK && right_html(&pg[0]),
           "a noisy page (sent as JPEG) round-trips");
    free_pages(pg, 2);
    vd_engine_free(eng);

    /* 10. nobody listening: a clear error after the retries */
    vd_engine_opts o;
    vd_engine_opts_init(&o);
    o.engine = "remote";
    o.endpoint = "http://127.0.0.1:9/v1";
    o.remote_model = "m";
    o.retries = 1;
    o.retry_wait = 0.01;
    vd_ctx_clear(ctx);
    tap_ok(vd_engine_open(ctx, &o, &eng) == VD_OK, "opens without a server "
                                                   "when the model is named");
    st = vd__engine_state(ctx, eng, "remote");
    run(ctx, st, pg, 1, 0, NULL);
    tap_ok(pg[0].t && pg[0].t->status == VD_ERR_REMOTE &&
               strstr(pg[0].t->msg, "gave up after 2 attempts"),
           "connection refused: %s", pg[0].t ? pg[0].t->msg : "");
    free_pages(pg, 1);
    vd_engine_free(eng);
    vd_ctx_clear(ctx);
    o.endpoint = "ftp://example.org/v1";
    vd_status ost = vd_engine_open(ctx, &o, &eng);
    tap_ok(ost == VD_ERR_ARG && strstr(vd_ctx_errmsg(ctx), "http://"),
           "a non-HTTP endpoint is refused: %s", vd_ctx_errmsg(ctx));

    vd__buf_free(&stats);
    vd_ctx_free(ctx);
    curl_global_cleanup();
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

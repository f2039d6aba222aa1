/* Unit tests for page results across processes (lib/engine.c): a page
 * packed and unpacked makes the same document as the original, every
 * truncation of the bytes is refused, a result made for a page that never
 * ran is an error page with its message, and the progress hook is called
 * from where long work looks for cancellation. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "vd-private.h"

static vd_ctx *ctx;

/* DOC as JSON; malloc'd, NULL on failure. */
static char *as_json(vd_doc *doc)
{
    vd_out *out = NULL;
    vd_write_opts wo;
    vd_write_opts_init(&wo);
    char *s = NULL;
    if (vd_out_open_buffer(ctx, 0, &out) == VD_OK &&
        vd_doc_write(ctx, doc, "json", &wo, out) == VD_OK &&
        vd_out_close(ctx, out) == VD_OK) {
        size_t len;
        const char *p = vd_out_buffer(out, &len);
        if ((s = malloc(len + 1))) {
            memcpy(s, p, len);
            s[len] = '\0';
        }
    }
    vd_out_free(out);
    return s;
}

static int beats;
static void beat(void *user)
{
    (void)user;
    beats++;
}

int main(void)
{
    tap_plan(13);
    ctx = vd_ctx_new(NULL);
    const char *src = getenv("VLDOC_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/invoice.pdf", src ? src : ".");

    vd_engine_opts eo;
    vd_engine_opts_init(&eo);
    eo.engine = "text";
    vd_engine *eng = NULL;
    vd_input *in = NULL;
    vd_page_result *r = NULL;
    int user = 7;
    if (vd_engine_open(ctx, &eo, &eng) != VD_OK ||
        vd_input_open(ctx, path, NULL, &in) != VD_OK ||
        vd_engine_submit(ctx, eng, in, 0, &user) != VD_OK ||
        vd_engine_next(ctx, eng, -1, &r) != VD_OK || !r) {
        tap_skip_all("cannot run the text engine on %s: %s", path,
                     vd_ctx_errmsg(ctx));
        return 0;
    }
    void *data = NULL;
    size_t len = 0;
    vd_status pst = vd_page_result_pack(ctx, r, &data, &len);
    tap_ok(pst == VD_OK && len > 200, "a page packs (%zu bytes)", len);

    vd_page_result *back = NULL;
    int other = 9;
    tap_ok(vd_page_result_unpack(ctx, data, len, &other, &back) == VD_OK &&
               back,
           "and unpacks");
    tap_ok(back && vd_page_result_user(back) == &other &&
               vd_page_result_page(back) == 0 &&
               vd_page_result_status(back) == VD_OK,
           "with the caller's user pointer, its page and status");
    size_t h1 = 0, h2 = 0;
    const char *html1 = vd_page_result_html(r, &h1);
    const char *html2 = back ? vd_page_result_html(back, &h2) : NULL;
    tap_ok(h1 > 0 && h1 == h2 && html2 && memcmp(html1, html2, h1) == 0,
           "the HTML is the same");
    tap_ok(back &&
               memcmp(vd_page_result_map(r), vd_page_result_map(back),
                      sizeof(vd_pagemap)) == 0 &&
               vd_page_result_stats(back)->engine &&
               strcmp(vd_page_result_stats(back)->engine, "text") == 0 &&
               vd_page_result_stats(back)->seconds ==
                   vd_page_result_stats(r)->seconds,
           "the map and the stats are the same (engine 'text')");

    vd_doc *d1 = NULL, *d2 = NULL;
    vd_doc_new(ctx, path, &d1);
    vd_doc_new(ctx, path, &d2);
    vd_page_result_append(ctx, r, d1);
    if (back)
        vd_page_result_append(ctx, back, d2);
    char *j1 = as_json(d1), *j2 = as_json(d2);
    tap_ok(j1 && j2 && strcmp(j1, j2) == 0,
           "the document made from it is the same JSON");
    free(j1);
    free(j2);

    int refused = 0;
    for (size_t n = 0; n < len; n += n < 200 ? 1 : 97) {
        vd_page_result *t = NULL;
        vd_ctx_clear(ctx);
        if (vd_page_result_unpack(ctx, data, n, NULL, &t) == VD_ERR_FORMAT &&
            !t)
            refused++;
        vd_page_result_free(t);
    }
    tap_ok(refused == (int)(200 + (len - 200 + 96) / 97),
           "every truncation is refused (%d)", refused);
    char *bad = malloc(len);
    memcpy(bad, data, len);
    bad[0] ^= 1;
    vd_page_result *t = NULL;
    tap_ok(vd_page_result_unpack(ctx, bad, len, NULL, &t) == VD_ERR_FORMAT &&
               !t,
           "a wrong magic is refused");
    free(bad);

    vd_page_result *e = NULL;
    const char *msg = "x.pdf: page 3: the PDF decoder crashed; skipped";
    tap_ok(vd_page_result_new_error(ctx, "x.pdf", 2, VD_ERR_FORMAT, msg, &user,
                                    &e) == VD_OK &&
               vd_page_result_status(e) == VD_ERR_FORMAT &&
               strcmp(vd_page_result_error(e), msg) == 0 &&
               vd_page_result_page(e) == 2,
           "an error result for a page that never ran");
    vd_doc *d3 = NULL;
    vd_doc_new(ctx, "x.pdf", &d3);
    vd_ctx_clear(ctx);
    vd_status st = e ? vd_page_result_append(ctx, e, d3) : VD_ERR_INTERNAL;
    const vd_page *pg = vd_doc_page(d3, 0);
    tap_ok(st == VD_ERR_FORMAT && pg && vd_page_status(pg) == VD_ERR_FORMAT &&
               strcmp(vd_page_error(pg), msg) == 0 && vd_page_number(pg) == 2,
           "it appends as a failed page with its message");

    vd_ctx_set_progress(ctx, beat, NULL);
    bool c = vd__cancelled(ctx);
    tap_ok(!c && beats == 1, "the progress hook runs where work looks for "
                             "cancellation");
    vd_ctx_set_progress(ctx, NULL, NULL);
    vd__cancelled(ctx);
    tap_ok(beats == 1, "and is turned off with NULL");

    vd_doc_free(d1);
    vd_doc_free(d2);
    vd_doc_free(d3);
    vd_page_result_free(e);
    vd_page_result_free(back);
    vd_page_result_free(r);
    vd_free(data);
    vd_input_free(in);
    vd_engine_free(eng);
    vd_ctx_free(ctx);
    if (vd__alloc_live() != 0)
        tap_diag("%ld blocks still live", vd__alloc_live());
    tap_ok(vd__alloc_live() == 0, "no allocation left");
    return tap_done();
}

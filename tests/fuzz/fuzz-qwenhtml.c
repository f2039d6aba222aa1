/* libFuzzer target: QwenVL HTML -> document tree -> every writer. The
 * first byte picks the options (model size known or not, furniture kept,
 * section chunks, indented JSON); the rest is the engine's answer, split
 * into pages at "<!--page-->". Whatever the bytes, conversion succeeds,
 * every block text and every output but the raw HTML is valid UTF-8, the
 * JSON and each JSONL line parse, the HTML carries nothing executable,
 * and nothing leaks. A violated invariant aborts, which the fuzzer (or
 * the seed replay in make check) reports. */
#include "config.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vd-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* json-c with a nesting limit above what the tree can reach (its
 * default, 32, is below it). NULL when S is not one JSON value. */
static json_object *parse_json(const char *s)
{
    json_tokener *tok = json_tokener_new_ex(1024);
    if (!tok)
        return NULL;
    json_object *j = json_tokener_parse_ex(tok, s, -1);
    if (j && json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(j);
        j = NULL;
    }
    json_tokener_free(tok);
    return j;
}

static int check_text(void *u, const vd_block *b, int depth)
{
    (void)u;
    (void)depth;
    const char *t = vd_block_text(b);
    if (!vd__utf8_valid(t, strlen(t)))
        abort();
    return 0;
}

/* Does HTML S (our writer's output) carry active content? Text is
 * escaped there, so every '<' outside a comment starts one of our tags:
 * only tags are examined (text may well say "onclick="). */
static int active(const char *s)
{
    for (const char *p = s; (p = strchr(p, '<')) != NULL;) {
        if (!strncmp(p, "<!--", 4)) {
            const char *e = strstr(p + 4, "-->");
            if (!e)
                return 1; /* an unclosed comment would swallow the page */
            p = e + 3;
            continue;
        }
        const char *e = strchr(p, '>');
        if (!e)
            return 1;
        size_t n = (size_t)(e - p);
        char tag[512];
        if (n >= sizeof tag)
            n = sizeof tag - 1;
        for (size_t i = 0; i < n; i++) {
            char ch = p[i];
            tag[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        tag[n] = '\0';
        if (!strncmp(tag, "<script", 7) || !strncmp(tag, "<iframe", 7) ||
            !strncmp(tag, "<style", 6) || !strncmp(tag, "<object", 7) ||
            !strncmp(tag, "<embed", 6) || strstr(tag, "javascript:") ||
            strstr(tag, " href=") || strstr(tag, " src="))
            return 1;
        for (const char *q = strstr(tag, " on"); q; q = strstr(q + 1, " on")) {
            const char *r = q + 3;
            while (*r >= 'a' && *r <= 'z')
                r++;
            if (*r == '=')
                return 1;
        }
        p = e + 1;
    }
    return 0;
}

static void write_all(vd_ctx *ctx, const vd_doc *doc, unsigned opt)
{
    static const char *const fmts[] = { "json", "md",    "html",
                                        "text", "jsonl", "qwenvl" };
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++) {
        vd_write_opts wo;
        vd_write_opts_init(&wo);
        wo.keep_furniture = opt & 2;
        wo.chunk_section = opt & 4;
        wo.pretty = opt & 8;
        wo.page_breaks = opt & 16;
        vd_out *o = NULL;
        if (vd_out_open_buffer(ctx, 0, &o) != VD_OK)
            abort();
        if (vd_doc_write(ctx, doc, fmts[f], &wo, o) != VD_OK)
            abort();
        size_t n;
        const char *s = vd_out_buffer(o, &n);
        if (f != 5 && !vd__utf8_valid(s, n))
            abort();
        if (f == 0) {
            json_object *j = parse_json(s);
            if (!j)
                abort();
            json_object_put(j);
        } else if (f == 4) {
            for (const char *p = s; *p;) {
                const char *nl = strchr(p, '\n');
                if (!nl)
                    abort(); /* every record ends its line */
                char *line = strndup(p, (size_t)(nl - p));
                json_object *j = line ? parse_json(line) : NULL;
                if (!j)
                    abort();
                json_object_put(j);
                free(line);
                p = nl + 1;
            }
        } else if (f == 2 && active(s)) {
            abort();
        }
        vd_out_free(o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned opt = data[0];
    const char *html = (const char *)data + 1;
    size_t len = size - 1;
    vd_opts o;
    vd_opts_init(&o);
    o.threads = 1;
    vd_ctx *ctx = vd_ctx_new(&o);
    if (!ctx)
        return 0;
    long live = vd__alloc_live();
    vd_doc *doc = NULL;
    if (vd_doc_new(ctx, "fuzz", &doc) != VD_OK)
        abort();
    vd_pagemap m = { 0 };
    if (opt & 1) {
        m.model_w = 1008;
        m.model_h = 1540;
        m.page_w = 612;
        m.page_h = 792;
        m.unit = VD_UNIT_PT;
    }
    static const char sep[] = "<!--page-->";
    int page = 0;
    while (page < 4) {
        const char *next = NULL;
        for (size_t i = 0; i + sizeof sep - 1 <= len; i++)
            if (html[i] == '<' && !memcmp(html + i, sep, sizeof sep - 1)) {
                next = html + i;
                break;
            }
        size_t n = next ? (size_t)(next - html) : len;
        if (vd_doc_add_page_html(ctx, doc, page++, html, n, &m, NULL) != VD_OK)
            abort();
        if (!next)
            break;
        len -= n + sizeof sep - 1;
        html = next + sizeof sep - 1;
    }
    if (opt & 32)
        vd_doc_add_page_error(ctx, doc, page, VD_ERR_FORMAT,
                              "page failed -- \xff <script>");
    vd_doc_walk(doc, check_text, NULL, NULL);
    write_all(ctx, doc, opt);
    vd_doc_free(doc);
    if (vd__alloc_live() != live)
        abort();
    vd_ctx_free(ctx);
    return 0;
}

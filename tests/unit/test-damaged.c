/* Damaged QwenVL HTML never crashes the converter and never loses text
 * that could be recovered. Inputs: the real model outputs in the shared
 * corpus and our golden inputs, each cut after every 37th byte, and (for
 * those without script-like elements) with its tags shuffled.
 *
 * Recoverable text, precisely. Take the HTML of the damaged input: the
 * first Markdown code fence block (from its opening line to the next fence
 * line or the end) when a fence line comes before the first '<', else the
 * whole input. Split it into markup and character data: markup is a
 * comment "<!--...-->", or '<' followed by a letter, '/', '!' or '?' up to
 * the next '>'; an unterminated comment or tag at the end is markup too.
 * Character data inside script, style, head, title, template, textarea,
 * svg, object, iframe, embed, select and the like (elements whose content
 * is not document text) does not count. The rest, with &amp; &lt; &gt;
 * &quot; &apos; &nbsp; and numeric references decoded, is the recoverable
 * text, one token per run of character data; for a cut input the last
 * token is left out (the cut may have split a character or an entity), and
 * a token equal to the one before it counts once (collapsed generation
 * loops repeat text, they do not add any).
 *
 * Assertion: every token, with whitespace, math delimiters ($, \( \) \[
 * \]), U+FFFD and invalid UTF-8 removed, occurs in the tree's text (every
 * block, derived text included, in reading order, normalised the same
 * way); for cut inputs the tokens occur in order. And every writer
 * succeeds with valid UTF-8 output, the JSON parses, every JSONL line
 * parses, and the HTML has no script, event handler or javascript: URL. */
#include "config.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../tap.h"
#include "vd-private.h"

static vd_ctx *ctx;

typedef struct sbuf {
    char *d;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->d = realloc(b->d, b->cap);
        if (!b->d)
            abort();
    }
    memcpy(b->d + b->n, s, n);
    b->n += n;
    b->d[b->n] = '\0';
}

/* ---- the independent reading of the damaged input ---- */

static int is_fence(const char *s, size_t n)
{
    size_t i = 0, k = 0;
    while (i < n && i < 3 && s[i] == ' ')
        i++;
    while (i < n && s[i] == '`')
        i++, k++;
    if (k < 3)
        return 0;
    while (i < n && s[i] != '\n' && s[i] != '`' && s[i] != '<')
        i++;
    return i == n || s[i] == '\n';
}

/* The HTML part: [*a, *b) of S. */
static void html_part(const char *s, size_t n, size_t *a, size_t *b)
{
    const char *lt = memchr(s, '<', n);
    size_t first_tag = lt ? (size_t)(lt - s) : n;
    *a = 0;
    *b = n;
    for (size_t pos = 0; pos < first_tag;) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t eol = nl ? (size_t)(nl - s) : n;
        if (is_fence(s + pos, eol - pos)) {
            *a = eol < n ? eol + 1 : n;
            for (size_t q = *a; q < n;) {
                const char *nl2 = memchr(s + q, '\n', n - q);
                size_t e2 = nl2 ? (size_t)(nl2 - s) : n;
                if (is_fence(s + q, e2 - q)) {
                    *b = q;
                    return;
                }
                q = e2 + 1;
            }
            return;
        }
        pos = eol + 1;
    }
}

static const char *const no_text[] = {
    "script",   "style",   "head",     "title",  "template", "textarea",
    "svg",      "object",  "iframe",   "embed",  "applet",   "canvas",
    "audio",    "video",   "select",   "option", "optgroup", "button",
    "noframes", "noembed", "frameset", "frame",  "picture",  "math-none",
};
#define N_NOTEXT (sizeof no_text / sizeof *no_text)

/* Append UTF-8 for code point CP. */
static void put_cp(sbuf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)),
        u[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63)),
        u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63)),
        n = 4;
    sb_put(b, u, n);
}

/* Decode the entities named above in S[0..N) into B. */
static void decode(sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] == '&') {
            static const struct {
                const char *name;
                unsigned cp;
            } ent[] = { { "&amp;", '&' },   { "&lt;", '<' },
                        { "&gt;", '>' },    { "&quot;", '"' },
                        { "&apos;", '\'' }, { "&nbsp;", 0xA0 } };
            size_t k;
            for (k = 0; k < sizeof ent / sizeof *ent; k++) {
                size_t l = strlen(ent[k].name);
                if (i + l <= n && !memcmp(s + i, ent[k].name, l)) {
                    put_cp(b, ent[k].cp);
                    i += l;
                    break;
                }
            }
            if (k < sizeof ent / sizeof *ent)
                continue;
            if (i + 2 < n && s[i + 1] == '#') {
                size_t j = i + 2;
                int hex = s[j] == 'x' || s[j] == 'X';
                j += (size_t)hex;
                unsigned long cp = 0;
                size_t d0 = j;
                while (j < n && j - d0 < 7 &&
                       ((s[j] >= '0' && s[j] <= '9') ||
                        (hex && ((s[j] | 32) >= 'a' && (s[j] | 32) <= 'f'))))
                    cp = cp * (hex ? 16 : 10) +
                         (unsigned long)(s[j] <= '9' ? s[j] - '0'
                                                     : (s[j] | 32) - 'a' + 10),
                    j++;
                if (j > d0 && j < n && s[j] == ';' && cp > 0 &&
                    cp <= 0x10FFFF) {
                    put_cp(b, (unsigned)cp);
                    i = j + 1;
                    continue;
                }
            }
        }
        sb_put(b, s + i, 1);
        i++;
    }
}

typedef struct tokens {
    sbuf *t;
    int n, cap;
} tokens;

static void tok_add(tokens *tk, sbuf *b)
{
    if (tk->n == tk->cap) {
        tk->cap = tk->cap ? tk->cap * 2 : 64;
        tk->t = realloc(tk->t, sizeof *tk->t * (size_t)tk->cap);
        if (!tk->t)
            abort();
    }
    tk->t[tk->n++] = *b;
    memset(b, 0, sizeof *b);
}

static void tok_free(tokens *tk)
{
    for (int i = 0; i < tk->n; i++)
        free(tk->t[i].d);
    free(tk->t);
    memset(tk, 0, sizeof *tk);
}

/* Markup at S[I]? Returns its end, or I when it is character data. */
static size_t markup_end(const char *s, size_t n, size_t i)
{
    if (s[i] != '<' || i + 1 >= n) {
        /* a lone '<' at the very end is a cut tag */
        return s[i] == '<' && i + 1 == n ? n : i;
    }
    if (i + 4 <= n && !memcmp(s + i, "<!--", 4)) {
        for (size_t j = i + 4; j + 3 <= n; j++)
            if (!memcmp(s + j, "-->", 3))
                return j + 3;
        return n;
    }
    char c = s[i + 1];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '/' ||
          c == '!' || c == '?'))
        return i;
    const char *gt = memchr(s + i, '>', n - i);
    return gt ? (size_t)(gt - s) + 1 : n;
}

static int tag_name(const char *s, size_t a, size_t b, char *name, size_t cap,
                    int *closing)
{
    size_t i = a + 1;
    *closing = 0;
    if (i < b && s[i] == '/')
        *closing = 1, i++;
    size_t k = 0;
    while (i < b && k + 1 < cap &&
           ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
            (s[i] >= '0' && s[i] <= '9'))) {
        char ch = s[i++];
        name[k++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    name[k] = '\0';
    /* <svg/> opens nothing */
    return k > 0 && !(b >= 2 && s[b - 2] == '/');
}

/* The recoverable tokens of S (see the top of the file). */
static void recoverable(const char *s, size_t n, int cut, tokens *out)
{
    size_t a, b;
    html_part(s, n, &a, &b);
    int depth[N_NOTEXT] = { 0 };
    sbuf cur = { 0 };
    size_t i = a;
    while (i < b) {
        size_t e = markup_end(s, b, i);
        if (e > i) {
            char name[32];
            int closing;
            if (tag_name(s, i, e, name, sizeof name, &closing))
                for (size_t k = 0; k < N_NOTEXT; k++)
                    if (!strcmp(name, no_text[k])) {
                        if (closing)
                            depth[k] -= depth[k] > 0;
                        else
                            depth[k]++;
                    }
            /* raw text: a script runs to its end tag whatever is inside */
            if (!closing &&
                (!strcmp(name, "script") || !strcmp(name, "style"))) {
                char end[16];
                snprintf(end, sizeof end, "</%s", name);
                size_t j = e;
                while (j < b && strncasecmp(s + j, end, strlen(end)) != 0)
                    j++;
                e = j;
            }
            if (cur.n)
                tok_add(out, &cur);
            i = e;
            continue;
        }
        size_t j = i + 1;
        while (j < b && markup_end(s, b, j) == j)
            j++;
        int hidden = 0;
        for (size_t k = 0; k < N_NOTEXT; k++)
            hidden |= depth[k] > 0;
        if (!hidden)
            decode(&cur, s + i, j - i);
        i = j;
    }
    if (cur.n)
        tok_add(out, &cur);
    if (cut && out->n) {
        free(out->t[out->n - 1].d);
        out->n--;
    }
}

/* Whitespace, math delimiters, U+FFFD, invalid UTF-8 and controls out. */
static void squeeze(sbuf *dst, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
            c == '$' || c < 0x20 || c == 0x7F) {
            i++;
            continue;
        }
        if (c == '\\' && i + 1 < n &&
            (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' ||
             s[i + 1] == ']')) {
            i += 2;
            continue;
        }
        if (c < 0x80) {
            sb_put(dst, s + i, 1);
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        int ok = len && i + len <= n && c <= 0xF4;
        for (size_t k = 1; ok && k < len; k++)
            ok = (u[i + k] & 0xC0) == 0x80;
        if (ok && len == 3 && c == 0xEF && u[i + 1] == 0xBF &&
            u[i + 2] == 0xBD) {
            i += 3; /* U+FFFD */
            continue;
        }
        if (!ok) {
            i++;
            continue;
        }
        sb_put(dst, s + i, len);
        i += len;
    }
}

static int text_cb(void *u, const vd_block *b, int depth)
{
    (void)depth;
    sbuf *out = u;
    const char *t = vd_block_text(b);
    squeeze(out, t, strlen(t));
    sb_put(out, "", 0);
    return 0;
}

/* ---- one damaged input ---- */

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

static int utf8_ok(const char *s, size_t n)
{
    return vd__utf8_valid(s, n);
}

/* Does HTML S (our writer's output) carry active content? Text is
 * escaped there, so every '<' outside a comment starts one of our tags:
 * only tags are examined (text may well say "onclick="). */
static int active_content(const char *s)
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

static int check_writers(const vd_doc *d, char *why, size_t cap)
{
    static const char *const fmts[] = { "json", "md",    "html",
                                        "text", "jsonl", "qwenvl" };
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++) {
        vd_out *o = NULL;
        vd_write_opts wo;
        vd_write_opts_init(&wo);
        if (vd_out_open_buffer(ctx, 0, &o) != VD_OK ||
            vd_doc_write(ctx, d, fmts[f], &wo, o) != VD_OK) {
            snprintf(why, cap, "%s writer failed", fmts[f]);
            vd_out_free(o);
            return 0;
        }
        size_t n;
        const char *s = vd_out_buffer(o, &n);
        int ok = 1;
        if (f != 5 && !utf8_ok(s, n)) {
            snprintf(why, cap, "%s output is not valid UTF-8", fmts[f]);
            ok = 0;
        }
        if (ok && f == 0) {
            json_object *j = parse_json(s);
            if (!j) {
                snprintf(why, cap, "json output does not parse");
                ok = 0;
            }
            json_object_put(j);
        }
        if (ok && f == 4) {
            for (const char *p = s; *p && ok;) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t)(nl - p) : strlen(p);
                char *line = strndup(p, l);
                json_object *j = parse_json(line);
                if (!j) {
                    snprintf(why, cap, "a jsonl line does not parse");
                    ok = 0;
                }
                json_object_put(j);
                free(line);
                p += l + (nl != NULL);
            }
        }
        if (ok && f == 2 && active_content(s)) {
            snprintf(why, cap, "html output carries active content");
            ok = 0;
        }
        vd_out_free(o);
        if (!ok)
            return 0;
    }
    return 1;
}

typedef struct stats {
    int cases, failed;
    long tokens;
} stats;

static void one(const char *name, const char *s, size_t n, int cut,
                vd_pagemap *map, stats *st)
{
    char why[256] = "";
    st->cases++;
    vd_doc *d = NULL;
    vd_status r = vd_doc_new(ctx, name, &d);
    if (r == VD_OK)
        r = vd_doc_add_page_html(ctx, d, 0, s, n, map, NULL);
    if (r != VD_OK) {
        snprintf(why, sizeof why, "conversion failed: %s", vd_ctx_errmsg(ctx));
        vd_ctx_clear(ctx);
    }
    int ok = r == VD_OK && check_writers(d, why, sizeof why);
    if (ok) {
        sbuf all = { 0 };
        sb_put(&all, "", 0);
        vd_doc_walk(d, text_cb, NULL, &all);
        tokens tk = { 0 };
        recoverable(s, n, cut, &tk);
        const char *from = all.d;
        sbuf prev = { 0 };
        for (int i = 0; i < tk.n && ok; i++) {
            sbuf q = { 0 };
            squeeze(&q, tk.t[i].d, tk.t[i].n);
            if (!q.n || (prev.d && !strcmp(prev.d, q.d))) {
                free(q.d);
                continue;
            }
            st->tokens++;
            const char *hit = strstr(cut ? from : all.d, q.d);
            if (!hit) {
                snprintf(why, sizeof why,
                         "recoverable text \"%.60s\" is missing%s", q.d,
                         strstr(all.d, q.d) ? " (out of order)" : "");
                ok = 0;
            } else if (cut) {
                from = hit;
            }
            free(prev.d);
            prev = q;
        }
        free(prev.d);
        tok_free(&tk);
        free(all.d);
    }
    vd_doc_free(d);
    if (!ok) {
        st->failed++;
        if (st->failed <= 5)
            tap_diag("%s (%s %zu bytes): %s", name, cut ? "cut at" : "size", n,
                     why);
    }
}

static int has_rawtext(const char *s)
{
    static const char *const bad[] = { "<script", "<style",   "<svg",
                                       "<object", "<iframe",  "<head",
                                       "<title",  "<textarea" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (strstr(s, bad[i]))
            return 1;
    return 0;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* S with its tags (and comments) permuted among their places. */
static char *shuffle(const char *s, size_t n, size_t *out_n)
{
    size_t a, b;
    html_part(s, n, &a, &b);
    size_t(*tags)[2] = malloc(sizeof *tags * (n + 1));
    int nt = 0;
    for (size_t i = a; i < b;) {
        size_t e = markup_end(s, b, i);
        /* complete tags only: a tag cut at the end stays there */
        if (e > i && s[e - 1] == '>') {
            tags[nt][0] = i;
            tags[nt][1] = e;
            nt++;
            i = e;
        } else {
            i = e > i ? e : i + 1;
        }
    }
    int *perm = malloc(sizeof *perm * (size_t)(nt + 1));
    for (int i = 0; i < nt; i++)
        perm[i] = i;
    for (int i = nt - 1; i > 0; i--) {
        int j = (int)(next_rand() % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    sbuf o = { 0 };
    size_t pos = 0;
    for (int i = 0; i < nt; i++) {
        sb_put(&o, s + pos, tags[i][0] - pos);
        sb_put(&o, s + tags[perm[i]][0], tags[perm[i]][1] - tags[perm[i]][0]);
        pos = tags[i][1];
    }
    sb_put(&o, s + pos, n - pos);
    free(tags);
    free(perm);
    *out_n = o.n;
    return o.d;
}

static void sample(const char *name, char *html, size_t len, vd_pagemap *m,
                   stats *cuts, stats *shuf)
{
    /* our golden inputs start with a directive line for run-golden */
    if (!strncmp(html, "<!-- vldoc-golden ", 18)) {
        char *nl = memchr(html, '\n', len);
        size_t k = nl ? (size_t)(nl - html) + 1 : len;
        memmove(html, html + k, len - k);
        len -= k;
        html[len] = '\0';
    }
    for (size_t k = 37; k < len + 37; k += 37) {
        size_t n = k < len ? k : len;
        one(name, html, n, n < len, m, cuts);
    }
    if (has_rawtext(html))
        return;
    for (int r = 0; r < 16; r++) {
        size_t n;
        char *s = shuffle(html, len, &n);
        one(name, s, n, 0, m, shuf);
        free(s);
    }
}

int main(void)
{
    tap_plan_late();
    ctx = vd_ctx_new(NULL);
    stats cuts = { 0 }, shuf = { 0 };
    int inputs = 0;
    const char *shared = getenv("VLDOC_SHARED");
    const char *src = getenv("VLDOC_SRCDIR");
    char dir[2][2048];
    snprintf(dir[0], sizeof dir[0], "%s/corpus/qwenvl-html",
             shared && *shared ? shared : "/nonexistent");
    snprintf(dir[1], sizeof dir[1], "%s/tests/golden/qwenvl",
             src && *src ? src : ".");
    for (int k = 0; k < 2; k++) {
        const char *suffix = k == 0 ? ".output.html" : ".in";
        DIR *dp = opendir(dir[k]);
        if (!dp) {
            tap_diag("%s: not found", dir[k]);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(dp))) {
            size_t l = strlen(e->d_name), sl = strlen(suffix);
            if (l <= sl || strcmp(e->d_name + l - sl, suffix))
                continue;
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", dir[k], e->d_name);
            char *html;
            size_t len;
            if (vd__file_read(ctx, path, 1 << 24, &html, &len) != VD_OK) {
                tap_ok(0, "%s readable", path);
                vd_ctx_clear(ctx);
                continue;
            }
            /* a map, so boxes are clamped and mapped as in real use */
            vd_pagemap m = { 1008, 1540, 612, 792, VD_UNIT_PT };
            sample(e->d_name, html, len, &m, &cuts, &shuf);
            vd__free(html);
            inputs++;
        }
        closedir(dp);
    }
    if (!inputs)
        tap_skip_all("no inputs (set VLDOC_SHARED and VLDOC_SRCDIR)");
    tap_ok(inputs >= 7, "%d samples", inputs);
    tap_ok(cuts.cases > 300 && cuts.failed == 0,
           "%d inputs cut after every 37th byte: no crash, valid outputs, "
           "all %ld recoverable tokens kept in order (%d failed)",
           cuts.cases, cuts.tokens, cuts.failed);
    tap_ok(shuf.cases >= 40 && shuf.failed == 0,
           "%d inputs with shuffled tags: no crash, valid outputs, all %ld "
           "recoverable tokens kept (%d failed)",
           shuf.cases, shuf.tokens, shuf.failed);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks");
    return tap_done();
}

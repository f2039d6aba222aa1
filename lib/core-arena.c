/* Core: arenas. Tree nodes, strings and warnings that live and die with a
 * document are bump-allocated here and released by one vd__arena_free. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vd-private.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct vd__arena {
    chunk *head;
    size_t chunk_size;
    size_t total;
};

vd__arena *vd__arena_new(vd_ctx *ctx, size_t chunk_size)
{
    vd__arena *a = vd__calloc(ctx, 1, sizeof *a);
    if (a)
        a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    return a;
}

void vd__arena_free(vd__arena *a)
{
    if (!a)
        return;
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        vd__free(c);
    }
    vd__free(a);
}

void *vd__arena_alloc(vd_ctx *ctx, vd__arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return vd__fail(ctx, VD_ERR_NOMEM, "out of memory"), NULL;
    chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t sz = need > a->chunk_size ? need : a->chunk_size;
        chunk *nc = vd__malloc(ctx, sizeof *nc + sz);
        if (!nc)
            return NULL;
        nc->size = sz;
        nc->used = 0;
        nc->next = a->head;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    memset(p, 0, need);
    return p;
}

char *vd__arena_strndup(vd_ctx *ctx, vd__arena *a, const char *s, size_t n)
{
    char *d = vd__arena_alloc(ctx, a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *vd__arena_strdup(vd_ctx *ctx, vd__arena *a, const char *s)
{
    return vd__arena_strndup(ctx, a, s, strlen(s));
}

char *vd__arena_printf(vd_ctx *ctx, vd__arena *a, const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : vd__arena_alloc(ctx, a, (size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return s;
}

size_t vd__arena_used(const vd__arena *a)
{
    return a->total;
}

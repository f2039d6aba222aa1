/* Hugging Face hub client internals: SHA-256 (hub-sha256.c) and the
 * pieces of the download path that are pure functions, so they can be
 * tested without a network (hub.c). */
#ifndef VD_HUB_H
#define VD_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "vd-private.h"

typedef struct vd__sha256 {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64]; /* pending partial block */
} vd__sha256;

void vd__sha256_init(vd__sha256 *s);
void vd__sha256_update(vd__sha256 *s, const void *data, size_t n);
/* The digest as 64 lowercase hex digits and a NUL. */
void vd__sha256_hex(vd__sha256 *s, char out[65]);

/* Is NAME a file name from the hub's listing that is safe to create under
 * a snapshot folder: relative, no "." or ".." component, no empty
 * component, no backslash or control character? */
bool vd__hub_safe_name(const char *name);

/* The cache folder of REPO ("org/name") under CACHE:
 * CACHE/models--org--name. NULL when REPO is not org/name. */
char *vd__hub_repo_dir(vd_ctx *ctx, const char *cache, const char *repo);

#endif

/* Unit tests for the hub client's pure parts: SHA-256 against the FIPS
 * 180-4 examples, fed whole and in odd pieces; which listed file names
 * may be created under a snapshot; cache folder names. The downloads
 * themselves are tested against a loopback hub (tests/cli/test-pull.sh). */
#include "config.h"

#include <string.h>

#include "../tap.h"
#include "hub.h"

static void hex_of(const void *p, size_t n, size_t step, char out[65])
{
    vd__sha256 s;
    vd__sha256_init(&s);
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i += step)
        vd__sha256_update(&s, c + i, n - i < step ? n - i : step);
    vd__sha256_hex(&s, out);
}

int main(void)
{
    tap_plan_late();
    static const struct {
        const char *in, *want;
    } v[] = {
        { "",
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc",
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijkl"
          "mnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char h1[65], h2[65];
        hex_of(v[i].in, strlen(v[i].in), 1 << 20, h1);
        hex_of(v[i].in, strlen(v[i].in), 7, h2);
        tap_ok(!strcmp(h1, v[i].want) && !strcmp(h2, v[i].want),
               "sha256 vector %zu, whole and in 7-byte pieces", i);
    }
    static char mil[1000000];
    memset(mil, 'a', sizeof mil);
    char h[65];
    hex_of(mil, sizeof mil, 4093, h);
    tap_ok(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e04"
                      "6d39ccc7112cd0"),
           "sha256 of a million 'a'");

    static const char *good[] = { "model.safetensors", "onnx/model.onnx",
                                  ".gitattributes", "a/b/c.json" };
    static const char *bad[] = { "",          "/etc/passwd", "../x",
                                 "a/../../x", "a//b",        "a/./b",
                                 "dir/",      "a\\b",        "x\ny" };
    int g = 0, b = 0;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        g += vd__hub_safe_name(good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        b += !vd__hub_safe_name(bad[i]);
    tap_ok(g == 4, "ordinary repository paths are accepted");
    tap_ok(b == 9, "absolute, dot-dot, empty and control paths refused");

    vd_ctx *ctx = vd_ctx_new(NULL);
    char *d = vd__hub_repo_dir(ctx, "/c", "Qwen/Qwen2.5-VL-3B-Instruct");
    tap_ok(d && !strcmp(d, "/c/models--Qwen--Qwen2.5-VL-3B-Instruct"),
           "cache folder models--org--name");
    vd__free(d);
    d = vd__hub_repo_dir(ctx, "/c", "a/b/c");
    char *e = vd__hub_repo_dir(ctx, "/c", "../x");
    char *f = vd__hub_repo_dir(ctx, "/c", "noslash");
    tap_ok(!d && !e && !f, "not org/name: refused");
    vd__free(d);
    vd__free(e);
    vd__free(f);
    vd_ctx_free(ctx);
    tap_ok(vd__alloc_live() == 0, "no leaks (%ld live)", vd__alloc_live());
    return tap_done();
}

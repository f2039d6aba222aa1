/* Qwen2.5-VL, prompt side: the chat template, written out in C, and the
 * 3-D M-RoPE position ids of a prompt (HF's get_rope_index). Takes
 * messages / token ids and image grids; produces the prompt string and
 * positions. Must reproduce the published template byte for byte: the
 * model was trained on exactly that text. */
#include "config.h"

#include <string.h>

#include "qwen.h"

/* The template, as the published chat_template (Jinja) has it:
 *
 *   for each message m (index i):
 *     if i == 0 and m.role != "system":
 *       "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
 *     "<|im_start|>" m.role "\n"
 *     if m.content is a string:  m.content
 *     else, for each item, with nothing in between:
 *       image (type "image", or an "image" / "image_url" key):
 *         "<|vision_start|><|image_pad|><|vision_end|>"
 *       video: "<|vision_start|><|video_pad|><|vision_end|>"
 *       text:  the text
 *     "<|im_end|>\n"
 *   if add_generation_prompt: "<|im_start|>assistant\n"
 *
 * No BOS is added, nothing is stripped or escaped: text that spells an
 * added token (say "<|im_end|>") becomes that token when tokenized, as in
 * HF. add_vision_id ("Picture k: ") is off in the published processor and
 * not offered here. The processor then repeats each <|image_pad|> once
 * per merged patch (t*gh*gw / M^2); a part's N_PAD does that here. */
vd_status vd__qwen_chat_render(vd_ctx *ctx, const vd__qwen_msg *msgs, int n,
                               bool add_gen, vd__buf *out)
{
    for (int i = 0; i < n; i++) {
        const vd__qwen_msg *m = &msgs[i];
        if (!m->role || !*m->role || strchr(m->role, '\n'))
            return vd__fail(ctx, VD_ERR_ARG, "message %d: bad role", i);
        if (i == 0 && strcmp(m->role, "system") != 0)
            vd__buf_puts(ctx, out,
                         "<|im_start|>system\n" VD_QWEN_DEFAULT_SYSTEM
                         "<|im_end|>\n");
        vd__buf_printf(ctx, out, "<|im_start|>%s\n", m->role);
        if (m->text)
            vd__buf_puts(ctx, out, m->text);
        for (int k = 0; !m->text && k < m->n_parts; k++) {
            const vd__qwen_part *p = &m->parts[k];
            if (p->kind == VD_QWEN_TEXT) {
                vd__buf_puts(ctx, out, p->text ? p->text : "");
                continue;
            }
            const char *pad =
                p->kind == VD_QWEN_IMAGE ? "<|image_pad|>" : "<|video_pad|>";
            vd__buf_puts(ctx, out, "<|vision_start|>");
            int64_t np = p->n_pad > 0 ? p->n_pad : 1;
            if (np > (1 << 24))
                return vd__fail(ctx, VD_ERR_LIMIT,
                                "message %d: %lld image tokens", i,
                                (long long)np);
            vd__buf_reserve(ctx, out, (size_t)np * strlen(pad));
            for (int64_t j = 0; j < np; j++)
                vd__buf_puts(ctx, out, pad);
            vd__buf_puts(ctx, out, "<|vision_end|>");
        }
        vd__buf_puts(ctx, out, "<|im_end|>\n");
    }
    if (add_gen)
        vd__buf_puts(ctx, out, "<|im_start|>assistant\n");
    return out->err;
}

/* Walk the ids keeping NEXT = max position so far + 1. Text tokens take
 * NEXT on all three axes. An image or video takes the next grid: its
 * lt*lh*lw pad tokens get (base + t index, base + row, base + column)
 * over the merged grid, and the text after it resumes at the block's
 * maximum + 1 (base + max(lh, lw) for an image), not base + count. */
vd_status vd__qwen_rope_index(vd_ctx *ctx, const vd__qwen_cfg *cfg,
                              const int32_t *ids, int64_t n,
                              const vd__qwen_grid *grids, int n_grids,
                              const double *second_per_grid, int32_t *pos,
                              int64_t *delta)
{
    int M = cfg->vision.merge;
    int64_t next = 0;
    int g = 0;
    for (int64_t i = 0; i < n;) {
        int32_t id = ids[i];
        bool img = id == cfg->image_token_id, vid = id == cfg->video_token_id;
        if (!img && !vid) {
            if (next > INT32_MAX)
                return vd__fail(ctx, VD_ERR_LIMIT, "positions overflow");
            pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = (int32_t)next;
            next++;
            i++;
            continue;
        }
        if (g >= n_grids)
            return vd__fail(ctx, VD_ERR_ARG,
                            "prompt has more image/video blocks than the %d "
                            "grid(s) given",
                            n_grids);
        const vd__qwen_grid *gr = &grids[g];
        if (gr->t < 1 || gr->h < M || gr->w < M || gr->h % M || gr->w % M)
            return vd__fail(ctx, VD_ERR_ARG, "grid %d (%d, %d, %d) is bad", g,
                            gr->t, gr->h, gr->w);
        int64_t lt = gr->t, lh = gr->h / M, lw = gr->w / M;
        int64_t cnt = lt * lh * lw;
        if (cnt > n - i)
            return vd__fail(ctx, VD_ERR_ARG,
                            "grid %d needs %lld pad tokens, the prompt has "
                            "%lld left",
                            g, (long long)cnt, (long long)(n - i));
        /* images sit at t = 0; video frame groups at
         * floor(ti * second_per_grid * tokens_per_second), in float32 as
         * torch computes it */
        float spg =
            img ? 0.0f : (float)(second_per_grid ? second_per_grid[g] : 1.0);
        int64_t base = next, top = 0;
        for (int64_t k = 0; k < cnt; k++) {
            if (ids[i + k] != id)
                return vd__fail(ctx, VD_ERR_ARG,
                                "grid %d: token %lld is not a pad token "
                                "(%lld expected)",
                                g, (long long)(i + k), (long long)cnt);
            int64_t ti = k / (lh * lw), r = (k / lw) % lh, c = k % lw;
            int64_t tt = (int64_t)((float)ti * spg *
                                   (float)cfg->vision.tokens_per_second);
            int64_t p[3] = { base + tt, base + r, base + c };
            for (int a = 0; a < 3; a++) {
                if (p[a] > INT32_MAX)
                    return vd__fail(ctx, VD_ERR_LIMIT, "positions overflow");
                pos[3 * (i + k) + a] = (int32_t)p[a];
                if (p[a] - base > top)
                    top = p[a] - base;
            }
        }
        next = base + top + 1;
        i += cnt;
        g++;
    }
    if (g != n_grids)
        return vd__fail(ctx, VD_ERR_ARG,
                        "%d grid(s) given but the prompt has %d image/video "
                        "block(s)",
                        n_grids, g);
    *delta = next - n;
    return VD_OK;
}

/* CLI: the progress bar on stderr (files and pages done, pages/s, ETA,
 * tokens/s while a model generates). Drawn only on a terminal. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

cli_progress *cli_progress_current;

struct cli_progress {
    int files_total, files_done;
    int pages_file, pages_file_done;
    long pages_done;
    long tokens;     /* in the current one-second window */
    double tok_rate; /* tokens/s over the last full window */
    double t0, t_last_draw, t_tok0;
    char name[48];
    bool shown;
};

cli_progress *cli_progress_new(int files_total, bool quiet)
{
    if (quiet || !isatty(2))
        return NULL;
    cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->files_total = files_total;
    p->t0 = cli_monotonic();
    cli_progress_current = p;
    return p;
}

void cli_progress_free(cli_progress *p)
{
    if (!p)
        return;
    cli_progress_clear(p);
    if (cli_progress_current == p)
        cli_progress_current = NULL;
    free(p);
}

static void fmt_time(char *b, size_t n, double s)
{
    if (s < 0 || s > 359999)
        snprintf(b, n, "--:--");
    else if (s >= 3600)
        snprintf(b, n, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60,
                 (int)s % 60);
    else
        snprintf(b, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void draw(cli_progress *p, bool force)
{
    double t = cli_monotonic();
    if (!force && t - p->t_last_draw < 0.1)
        return;
    p->t_last_draw = t;
    double el = t - p->t0;
    double frac =
        p->files_total > 0
            ? (p->files_done + (p->pages_file > 0
                                    ? (double)p->pages_file_done / p->pages_file
                                    : 0)) /
                  p->files_total
            : 0;
    double eta = frac > 0.001 ? el / frac - el : -1;
    char etas[16];
    fmt_time(etas, sizeof etas, eta);
    int width = 24, fill = (int)(frac * width + 0.5);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    char tok[32] = "";
    if (p->tok_rate > 0)
        snprintf(tok, sizeof tok, " %.1f tok/s", p->tok_rate);
    else if (p->tokens > 0 && t > p->t_tok0 + 0.2)
        snprintf(tok, sizeof tok, " %.1f tok/s", p->tokens / (t - p->t_tok0));
    fprintf(stderr,
            "\r\033[K[%s] %d/%d files, %ld pages, %.2f pages/s, ETA %s%s  "
            "%s",
            bar, p->files_done, p->files_total, p->pages_done,
            el > 0 ? p->pages_done / el : 0.0, etas, tok, p->name);
    fflush(stderr);
    p->shown = true;
}

void cli_progress_file(cli_progress *p, const char *name, int pages)
{
    if (!p)
        return;
    const char *base = strrchr(name, '/');
    snprintf(p->name, sizeof p->name, "%s", base ? base + 1 : name);
    p->pages_file = pages;
    p->pages_file_done = 0;
    draw(p, true);
}

void cli_progress_page_done(cli_progress *p)
{
    if (!p)
        return;
    p->pages_done++;
    p->pages_file_done++;
    draw(p, false);
}

void cli_progress_file_done(cli_progress *p)
{
    if (!p)
        return;
    p->files_done++;
    p->pages_file = p->pages_file_done = 0;
    draw(p, true);
}

void cli_progress_tokens(cli_progress *p, int ntok)
{
    if (!p)
        return;
    /* a rate over one-second windows: right for one page generating and
     * for many pages streaming at once (remote --stream) alike */
    double t = cli_monotonic();
    if (p->tokens == 0 && p->tok_rate == 0)
        p->t_tok0 = t;
    p->tokens += ntok;
    if (t - p->t_tok0 >= 1.0) {
        p->tok_rate = p->tokens / (t - p->t_tok0);
        p->tokens = 0;
        p->t_tok0 = t;
    }
    draw(p, false);
}

void cli_progress_clear(cli_progress *p)
{
    if (p && p->shown) {
        fputs("\r\033[K", stderr);
        p->shown = false;
    }
}

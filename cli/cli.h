/* The vldoc command: shared declarations of the subcommands, option
 * helpers, the batch walker and the progress bar. The CLI prints and
 * exits; the library never does. */
#ifndef VD_CLI_H
#define VD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "vldoc/vldoc.h"

/* exit statuses (documented in --help) */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* subcommands: argv[0] is the subcommand name */
int cli_convert_main(int argc, char **argv);
int cli_render_main(int argc, char **argv);
int cli_generate_main(int argc, char **argv);
int cli_pull_main(int argc, char **argv);
int cli_quantize_main(int argc, char **argv);

/* ---- cmd-quantize.c: the local engine's speed options ---- */

/* --precision exact|bf16|int8, --weights bf16|q8|q4, --kv f32|bf16; on
 * a bad value print a usage message and return false. */
bool cli_precision(const char *s, vd_precision *out);
bool cli_weights(const char *s, vd_weights *out);
bool cli_kv(const char *s, int *bf16);

/* ---- opts.c ---- */

/* Page ranges "1-3,7,10-" (1-based, inclusive, open ends). */
typedef struct cli_ranges {
    int n;
    struct {
        int from, to; /* 1-based; to == 0: to the end */
    } r[64];
} cli_ranges;

/* Parse S into R; false with a message in ERR on bad syntax. */
bool cli_ranges_parse(const char *s, cli_ranges *r, char *err, size_t n);
/* Is 1-based page P selected (an empty set selects every page)? */
bool cli_ranges_has(const cli_ranges *r, int p);
/* Largest page named explicitly (0 when open-ended or empty). */
int cli_ranges_max(const cli_ranges *r);

/* Parse an integer / number option; on error print a usage message
 * naming OPT and return false. */
bool cli_int(const char *opt, const char *s, long lo, long hi, long *out);
bool cli_double(const char *opt, const char *s, double lo, double hi,
                double *out);
/* "WxH" */
bool cli_size(const char *opt, const char *s, int *w, int *h);

/* Print "vldoc: MSG" (and a hint for STATUS) on stderr. */
void cli_error(vd_status st, const char *msg);
void cli_usage_error(const char *fmt, ...) VD_PRINTF(1, 2);

/* Log callback that prints to stderr, above the progress bar. */
void cli_log(void *user, vd_log_level level, const char *msg);

/* ---- progress.c ---- */

typedef struct cli_progress cli_progress;
/* A progress bar on stderr when it is a terminal and QUIET is false;
 * otherwise all calls do nothing. */
cli_progress *cli_progress_new(int files_total, bool quiet);
void cli_progress_free(cli_progress *p);
void cli_progress_file(cli_progress *p, const char *name, int pages);
void cli_progress_page_done(cli_progress *p);
void cli_progress_file_done(cli_progress *p);
void cli_progress_tokens(cli_progress *p, int ntok);
/* Clear the bar so a message can be printed; it redraws on next update. */
void cli_progress_clear(cli_progress *p);
/* The process-wide bar (for cli_log); may be NULL. */
extern cli_progress *cli_progress_current;

/* ---- batch.c ---- */

typedef struct cli_inputs {
    char **paths; /* files to convert, in order */
    char **rel;   /* path relative to the directory argument it came from */
    int n, cap;
} cli_inputs;

/* Add ARG: a file, or a directory walked recursively (sorted, hidden
 * entries skipped). False and a message on stderr if ARG is unreadable. */
bool cli_inputs_add(cli_inputs *in, const char *arg);
void cli_inputs_free(cli_inputs *in);

/* Output path for input I under directory DIR with extension EXT;
 * malloc'd. Parent directories are created. NULL with a message on
 * failure. */
char *cli_output_path(const cli_inputs *in, int i, const char *dir,
                      const char *ext);
/* Is PATH the same file as one of the inputs? */
bool cli_is_input(const cli_inputs *in, const char *path);

#endif

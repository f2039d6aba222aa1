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
int cli_serve_main(int argc, char **argv);
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
    char **rel;   /* path relative to the directory argument it came from
                     (the file name for a file argument, the listed path
                     for an --inputs-from line) */
    int n, cap;
    /* made on first use by cli_output_path / cli_is_input */
    unsigned char *clash; /* rel's output name collides with another's */
    char *clash_ext;
    struct cli_fileid *ids; /* sorted (device, inode) of the inputs */
    int nids;
} cli_inputs;

/* Add ARG: a file, or a directory walked recursively (sorted, hidden
 * entries skipped). False and a message on stderr if ARG is unreadable. */
bool cli_inputs_add(cli_inputs *in, const char *arg);
/* Add every line of LIST ("-": stdin) as cli_inputs_add would, except
 * that a listed file keeps its listed path as its relative name (without
 * leading '/' and "./"), so files of the same name in different folders
 * get different outputs under -o DIR and their own shards. Empty lines
 * are ignored. False with a message when LIST cannot be read; the count
 * of unreadable entries goes to *BAD. */
bool cli_inputs_from(cli_inputs *in, const char *list, int *bad);
void cli_inputs_free(cli_inputs *in);

/* Output path for input I under directory DIR with extension EXT;
 * malloc'd. Parent directories are created. NULL with a message on
 * failure. Two inputs whose names would give the same output keep their
 * full input name (a.pdf.md, a.tif.md), decided over all inputs, so every
 * shard of a batch agrees. */
char *cli_output_path(cli_inputs *in, int i, const char *dir, const char *ext);
/* Is PATH the same file as one of the inputs? */
bool cli_is_input(cli_inputs *in, const char *path);

/* Sharding: "I/N" with 0 <= I < N. */
bool cli_shard_parse(const char *s, unsigned *i, unsigned *n);
/* The shard (0..N-1) of an input, from its path relative to its argument
 * alone: splitmix64(fnv1a64(REL)) mod N. Stable across runs, machines and
 * input order. */
unsigned cli_shard_of(const char *rel, unsigned n);

/* The batch manifest: one JSON line per input, appended as the batch
 * runs, and read back to resume. */
typedef struct cli_manifest cli_manifest;
typedef enum cli_mstatus {
    CLI_M_NONE = 0, /* not recorded */
    CLI_M_OK,       /* converted, every page */
    CLI_M_FAILED,   /* written, but some page failed */
    CLI_M_ERROR,    /* nothing written */
    CLI_M_SKIPPED   /* output existed (--skip-existing) */
} cli_mstatus;
const char *cli_mstatus_name(cli_mstatus s);
/* Open PATH for appending; when LOAD, first read the latest status of
 * every input already recorded there. NULL with a message on failure. */
cli_manifest *cli_manifest_open(const char *path, bool load);
void cli_manifest_close(cli_manifest *m);
/* Latest recorded status of INPUT (CLI_M_NONE when none). */
cli_mstatus cli_manifest_last(const cli_manifest *m, const char *input);

typedef struct cli_mrecord {
    const char *input;
    const char *output; /* NULL: stdout or nothing written */
    const char *engine; /* NULL when unknown */
    int pages, pages_failed;
    cli_mstatus status;
    const char *error;        /* first error; NULL when none */
    double started, finished; /* wall-clock seconds since the epoch */
    double engine_seconds;    /* sum of page times */
    long prompt_tokens, generated_tokens;
    int attempts; /* remote requests, retries included */
} cli_mrecord;
/* Append R as one line, written whole with one write(2) and flushed, so
 * an interrupted batch leaves only complete lines. False on I/O error. */
bool cli_manifest_write(cli_manifest *m, const cli_mrecord *r);

/* Wall-clock seconds since the epoch; seconds on a clock that never goes
 * back, for intervals. */
double cli_wallclock(void);
double cli_monotonic(void);

/* ---- isolate.c: worker processes and their events ---- */

/* Write / read all N bytes on FD, through EINTR and short counts; false
 * on an error or end of file. */
bool cli_write_full(int fd, const void *p, size_t n);
bool cli_read_full(int fd, void *p, size_t n);

/* Events a worker sends its parent (A, B: numbers; data: payload). */
enum {
    CLI_EV_FILE_OPEN = 1, /* a: input; opening it */
    CLI_EV_FILE_START,    /* a: input, b: its page count; data: engine */
    CLI_EV_FILE_ERROR,    /* a: input, b: vd_status; data: message */
    CLI_EV_PAGE_START,    /* a: input, b: page (0-based) */
    CLI_EV_PAGE_DONE,     /* a: input, b: page; data: the packed result
                             (convert) or status + message (render) */
    CLI_EV_TOKENS,        /* a: tokens generated */
    CLI_EV_ALIVE,         /* waiting on something that is not stuck */
    CLI_EV_LOG,           /* a: level; data: message */
    CLI_EV_DONE           /* the worker finished its inputs */
};

typedef struct cli_ev {
    int type, a, b;
    size_t len;
    const char *data; /* valid until the next cli_worker_next */
} cli_ev;

typedef struct cli_worker {
    int pid, fd;
    int status;         /* wait status once it ended */
    double last;        /* monotonic time of its last event */
    bool done;          /* it sent CLI_EV_DONE */
    double mem_checked; /* when its memory was last looked at */
    char *buf;
    size_t len, off, cap;
} cli_worker;

/* Default --stall-timeout: seconds without any event before a worker is
 * taken for hung. Long enough for a slow page render or a CPU vision
 * encoder pass (token events keep long generations alive). */
#define CLI_STALL_DEFAULT 300.0

enum { CLI_WN_EVENT, CLI_WN_AGAIN, CLI_WN_ENDED };

/* Fork a worker running FN(ARG) and exiting with its return value. */
bool cli_worker_start(cli_worker *w, int (*fn)(void *), void *arg);
/* Next event within TIMEOUT seconds: CLI_WN_EVENT (EV filled),
 * CLI_WN_AGAIN (nothing yet, or a signal came), CLI_WN_ENDED (the worker
 * has exited and is reaped; W->status says how). */
int cli_worker_next(cli_worker *w, double timeout, cli_ev *ev);
/* SIGKILL and reap. */
void cli_worker_kill(cli_worker *w);
/* Send SIG, wait up to GRACE seconds, then SIGKILL; false if killed. */
bool cli_worker_stop(cli_worker *w, int sig, double grace);
void cli_worker_free(cli_worker *w);
/* How a process ended, from its wait STATUS (-1: not known):
 * "crashed (signal 11, Segmentation fault)". */
void cli_death(int status, char *buf, size_t n);
/* The limits convert and render hold their workers to, and their options
 * (CLI_ISOLATION_LONGOPTS in each command's table). */
typedef struct cli_isolation {
    bool off;             /* --no-isolate: run in this process */
    double stall_timeout; /* --stall-timeout: seconds without an event */
    long worker_mb;       /* --worker-memory; -1: 3/4 of the machine's */
} cli_isolation;

enum {
    CLI_OPT_STALL_TIMEOUT = 0x400,
    CLI_OPT_NO_ISOLATE,
    CLI_OPT_WORKER_MEMORY
};
/* clang-format off */
#define CLI_ISOLATION_LONGOPTS                                              \
    { "stall-timeout", required_argument, NULL, CLI_OPT_STALL_TIMEOUT },    \
    { "no-isolate", no_argument, NULL, CLI_OPT_NO_ISOLATE },                \
    { "worker-memory", required_argument, NULL, CLI_OPT_WORKER_MEMORY }
/* clang-format on */

void cli_isolation_init(cli_isolation *o);
/* Option OPT with ARG when it is one of the three: 1 taken, -1 a bad
 * value (said on stderr), 0 not one of them. */
int cli_isolation_opt(cli_isolation *o, int opt, const char *arg);

/* The guards, each killing W and saying why in WHY (WHO: what runs in
 * the worker, "the PDF decoder"): its anonymous memory (RssAnon, looked
 * at twice a second) over O's limit - a decoder looping on a hostile file
 * can grow without bound long before the stall timeout; no event for O's
 * stall timeout. */
bool cli_worker_too_big(cli_worker *w, const cli_isolation *o, const char *who,
                        char *why, size_t n);
bool cli_worker_stalled(cli_worker *w, const cli_isolation *o, const char *who,
                        char *why, size_t n);
/* "PDF", "TIFF", "PNG", "JPEG" from the file's first bytes, or "input". */
const char *cli_decoder_name(const char *path);

/* In a worker: send an event (true elsewhere, doing nothing). */
bool cli_ev_send(int type, int a, int b, const void *data, size_t len);
bool cli_in_worker(void);
/* The VLDOC_TEST_CRASH_AT testing hook (worker only; cli_test_hooks
 * turns it on in a serve child). */
bool cli_test_crash(const char *path, int page);
void cli_test_hooks(void);

#endif

/*
 * twin, the command-line client of twind.  twin never opens the store: every
 * subcommand is one or more requests over the control socket (include/twin/ctl.h).
 *
 * This header holds what the subcommand files share: the command table
 * entries, argument parsing, the control client (conn.c), terminal display
 * width (width.c) and output (out.c: aligned tables, JSON, CSV).
 *
 * Subcommands return an exit status: 0 ok, 1 error (message already printed
 * as "twin: ..."), 2 usage (message and short usage already printed).
 */
#ifndef TWIN_CLIENT_CLI_H
#define TWIN_CLIENT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "twin/limits.h"
#include "twin/mp.h"

enum { TW_EXIT_OK = 0, TW_EXIT_ERR = 1, TW_EXIT_USAGE = 2 };
/* Returned by the parsers when the command should go on. */
#define TW_CLI_CONTINUE (-1)

#define TW_CLI_PATH_MAX         4096u
#define TW_CLI_FPR_CHARS        10u     /* key characters shown in tables (as TW_FPR_CHARS) */

typedef struct tw_conn tw_conn;
typedef struct tw_cmd tw_cmd;

typedef struct tw_cli {
    const char *data_dir;   /* --data-dir */
    const char *socket;     /* --socket */
    bool json;              /* --json */
    bool tty;               /* stdout is a terminal: isolates and truncation */
    unsigned columns;       /* $COLUMNS, else TW_CLI_COLUMNS_DEFAULT */
    const tw_cmd *cmd;      /* the subcommand running, for usage messages */
    tw_conn *conn;          /* opened by the first tw_cli_call() */
} tw_cli;

struct tw_cmd {
    const char *name;
    const char *summary;    /* one line for `twin help` */
    const char *usage;      /* synopsis after "twin NAME " */
    const char *help;       /* the rest of `twin NAME --help` */
    int (*run)(tw_cli *cli, int argc, char **argv);  /* argv[0] is the name */
};

/* Options of one subcommand; the global ones (--json, --data-dir, --socket,
 * --help) are always accepted too. */
typedef struct tw_opt {
    const char *name;       /* long name without the dashes */
    char short_name;        /* 0 for none */
    const char **arg;       /* takes an argument, stored here ... */
    bool *flag;             /* ... or is a flag */
} tw_opt;

/* ---- args.c ---- */
void tw_cli_init(tw_cli *cli, bool tty, const char *columns_env);
/*
 * Parses argv[1..argc) of a subcommand: "--name VALUE", "--name=VALUE", "-x
 * VALUE", flags, "--" ending options.  Positional arguments are moved to
 * argv[0..*npos) in order.  Checks min_pos <= *npos <= max_pos (max_pos < 0:
 * no maximum).  Returns TW_CLI_CONTINUE, TW_EXIT_OK after printing --help,
 * or TW_EXIT_USAGE after printing a message and the short usage.
 */
int tw_cli_parse(tw_cli *cli, const tw_cmd *cmd, int argc, char **argv,
                 const tw_opt *opts, int min_pos, int max_pos, int *npos);
/* Global options before the subcommand: returns the index of the first
 * non-option argument in *first, or an exit status as tw_cli_parse(). */
int tw_cli_globals(tw_cli *cli, int argc, char **argv, int *first);
/* Prints "twin: MESSAGE" and the short usage of cmd on stderr; returns 2. */
int tw_cli_usage(const tw_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "twin: MESSAGE" on stderr; returns 1. */
int tw_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tw_cli_print_help(const tw_cmd *cmd);
/* Socket path: --socket, else --data-dir/twind.sock, else $TWIN_SOCKET,
 * else <default data dir>/twind.sock; TW_ETOOBIG if it does not fit. */
int tw_cli_socket_path(const tw_cli *cli, char *out, size_t outlen);
/* $XDG_DATA_HOME/twind, else ~/.local/share/twind (the daemon's rule). */
int tw_cli_default_data_dir(char *out, size_t outlen);
/* Reads a whole file (or stdin for "-"), at most max bytes, NUL-terminated. */
int tw_cli_read_file(const char *path, size_t max, char **data, size_t *len,
                     char *err, size_t errlen);
void tw_cli_close(tw_cli *cli);

/* ---- conn.c: the control client ---- */
int  tw_conn_open(tw_conn **out, const char *path, char *err, size_t errlen);
/*
 * Sends {"v","op","args"} and reads its response into *resp (the whole
 * response map; it stays valid until tw_conn_close()).  Returns 0 when the
 * daemon answered ok=true; its "code" (or TW_EPROTO if it has none) when it
 * answered ok=false, with its "error" text in err; or a transport error with
 * a message in err.
 */
int  tw_conn_call(tw_conn *c, tw_arena *a, const char *op, const tw_val *args,
                  tw_val *resp, char *err, size_t errlen);
void tw_conn_close(tw_conn *c);
/*
 * The two halves of tw_conn_call(), so that a caller can send its next
 * request before it works on the response it holds.  With body not NULL the
 * response is read into *body, reused from call to call (decoded strings
 * point into it until the next tw_conn_recv() with the same body), instead
 * of memory kept until tw_conn_close().
 */
int  tw_conn_send(tw_conn *c, tw_arena *a, const char *op, const tw_val *args,
                  char *err, size_t errlen);
int  tw_conn_recv(tw_conn *c, tw_arena *a, const char *op, tw_buf *body, tw_val *resp,
                  char *err, size_t errlen);
/*
 * Connects on first use, calls op and gives its "result".  On failure it
 * prints "twin: ..." and returns the code; *errresp (if not NULL) then holds
 * the daemon's error response (nil after a transport error).
 */
int tw_cli_call(tw_cli *cli, tw_arena *a, const char *op, const tw_val *args,
                tw_val *result, tw_val *errresp);
/* tw_cli_call() in two halves, as tw_conn_send() and tw_conn_recv(). */
int tw_cli_send(tw_cli *cli, tw_arena *a, const char *op, const tw_val *args);
int tw_cli_recv(tw_cli *cli, tw_arena *a, const char *op, tw_buf *body, tw_val *result,
                tw_val *errresp);
/* Opens cli->conn if needed; prints "twin: ..." and returns the code on failure. */
int tw_cli_connect(tw_cli *cli);

/* ---- width.c: terminal display width of UTF-8 text ---- */
#define TW_CP_BAD 0xFFFFFFFFu
/* Decodes one code point; returns the bytes used (1 for an invalid byte,
 * with *cp = TW_CP_BAD).  n must be > 0. */
size_t tw_width_decode(const char *s, size_t n, uint32_t *cp);
/* 0 (combining marks, Arabic harakat, format characters), 1, 2 (East Asian
 * wide and fullwidth), or -1 for characters tables show escaped (controls,
 * bidi embeddings, overrides and isolates). */
int    tw_width_cp(uint32_t cp);
/* Appends s with escaped characters spelt out ("\n", "\x1B", "\u202E"). */
int    tw_width_escape(tw_buf *out, const char *s, size_t n);
/* Display width of already escaped text. */
size_t tw_width_str(const char *s, size_t n);
/* Bytes of the longest prefix of s that fits in maxw columns, keeping the
 * zero-width marks that follow the last character; *w gets its width. */
size_t tw_width_fit(const char *s, size_t n, size_t maxw, size_t *w);
/* True when s holds a strong right-to-left character (Arabic, Hebrew ...). */
bool   tw_width_is_rtl(const char *s, size_t n);
/* Appends s as tw_width_escape() does and measures it in the same pass: *w
 * gets tw_width_str() and *rtl tw_width_is_rtl() of the text appended. */
int    tw_width_cell(tw_buf *out, const char *s, size_t n, size_t *w, bool *rtl);

/* ---- out.c: tables, JSON and CSV output ---- */
#define TW_COL_RIGHT 1u     /* right-align this column (numbers) */
#define TW_COL_NOCUT 2u     /* never narrow this column (dates, fingerprints, counts) */
#define TW_COL_HIDE  4u     /* leave this column out when laying the table out */
/* A cell: its escaped text is text.p[off .. off + len), measured once when
 * added so that laying out a large table decodes each cell only to print it. */
typedef struct tw_cell {
    size_t off;
    uint32_t len;
    uint32_t width;         /* display width of the escaped text */
    bool rtl;               /* holds right-to-left text */
} tw_cell;
typedef struct tw_table {
    size_t ncols, ncells, cap;
    tw_cell *cell;          /* row-major; row 0 is the header */
    tw_buf text;            /* escaped text of every cell, back to back */
    tw_buf scratch;         /* reused by tw_table_addv() */
    unsigned *flags;        /* per column */
    bool header;            /* row 0 holds the column heads */
    int fit;                /* TW_FIT_*: when long cells are cut to fit the width */
} tw_table;
/* When a table is narrowed to the width it is given: on a terminal only
 * (the default, for tables whose lines a script may read), always (record
 * tables, which have --json and --csv for scripts), or never (--wide). */
#define TW_FIT_TTY     0
#define TW_FIT_ALWAYS  1
#define TW_FIT_NEVER   (-1)
/* heads NULL: a table without a header row. */
int  tw_table_init(tw_table *t, size_t ncols, const char *const *heads);
void tw_table_align(tw_table *t, size_t col, unsigned flags);
/* Appends one cell; a row is complete after ncols cells. */
int  tw_table_add(tw_table *t, const char *s, size_t n);
int  tw_table_addz(tw_table *t, const char *s);
/* A value as a cell: strings as is, integers in decimal, booleans yes/no,
 * lists joined with "; ", binaries in hex, maps as JSON, nil empty. */
int  tw_table_addv(tw_table *t, const tw_val *v);
size_t tw_table_rows(const tw_table *t);   /* without the header */
/*
 * Lays the table out: columns as wide as their widest cell, two spaces
 * apart, no trailing blanks.  With tty, cells of right-to-left text are
 * wrapped in FSI ... PDI.  When a line would pass columns (0: never) and
 * the table's fit says so (with tty, or always), the widest columns are
 * narrowed and their long cells cut with an ellipsis.
 */
int  tw_table_render(const tw_table *t, bool tty, unsigned columns, tw_buf *out);
int  tw_table_print(const tw_table *t, const tw_cli *cli);
void tw_table_free(tw_table *t);

/* Writes a value as pretty JSON and a newline on stdout. */
int tw_out_json(const tw_val *v);
/* Text of a value as tw_table_addv() shows it. */
int tw_out_text(tw_buf *b, const tw_val *v);
/* "2024-05-01 12:30" (UTC) from ms since the epoch. */
void tw_out_time(char *out, size_t outlen, uint64_t ms);
/* Writes a buffer to stdout; TW_EIO on failure (e.g. a closed pipe). */
int tw_out_write(const tw_buf *b);
/* Writes b to f and empties it once it holds TW_CLI_OUT_CHUNK bytes, or
 * whatever it holds (then flushes f) when last; TW_EIO on failure. */
int tw_out_chunk(FILE *f, tw_buf *b, bool last);

/* Builds a map in the arena from n pairs (copied; strings are not). */
int tw_cli_map(tw_arena *a, tw_val *out, const tw_kv *kv, size_t n);

/* ---- records, shared by the subcommand files ---- */
typedef struct tw_recs { tw_val *v; size_t n, cap; } tw_recs;
void tw_recs_free(tw_recs *r);
/* A query for the list op; limit 0 means every matching record. */
typedef struct tw_list_q {
    const char *kind;
    const tw_val *where;    /* map field -> string, or NULL */
    const char *author;
    bool tombstones;
    size_t limit;
    bool hide_superseded;   /* leave out a hub's place listings that a committee's own record supersedes */
} tw_list_q;
/* Follows list pages ("after" = previous "next") until "next" is nil. */
int tw_cli_list_all(tw_cli *cli, tw_arena *a, const tw_list_q *q, tw_recs *out);
/*
 * Follows list pages as tw_cli_list_all() does, but hands each page to fn
 * and forgets it when fn returns, so memory stays the size of a page; the
 * next page is asked for before fn runs.  fn returns 0 or a code, which
 * stops the listing (fn prints its own message).  Errors of the listing
 * itself are printed.
 */
typedef int (*tw_page_fn)(void *ctx, const tw_val *recs, size_t n);
int tw_cli_list_pages(tw_cli *cli, const tw_list_q *q, tw_page_fn fn, void *ctx);
/* Writes the records of a listing to f as one pretty JSON array (what
 * tw_out_json() would write), a page at a time; *count (if not NULL) gets
 * the number written. */
int tw_cli_list_json(tw_cli *cli, const tw_list_q *q, FILE *f, size_t *count);
/* A string member of a record map ("" when absent). */
const char *tw_rec_str(const tw_val *rec, const char *key, size_t *len);
uint64_t tw_rec_uint(const tw_val *rec, const char *key);

/* A record read from a file, to publish or import. */
typedef struct tw_item {
    const char *kind;  size_t kind_len;
    const char *slot;  size_t slot_len;
    tw_val body;
    uint32_t line;
    const char *author; size_t author_len;  /* the file's "author", if it has one */
    bool not_mine;          /* the file says "mine": false (or no) */
} tw_item;
typedef struct tw_items {
    tw_item *v;
    size_t n, cap;
    size_t skipped;         /* records of other authors, left out (tw_cli_items_own) */
    size_t skipped_authors; /* how many other authors they have */
} tw_items;
void tw_items_free(tw_items *it);
/* Collects the errors of a file: prints the first TW_CLI_ERRORS_SHOWN as
 * "FILE:LINE: message", counts the rest. */
typedef struct tw_errs { const char *file; size_t n; } tw_errs;
void tw_errs_add(tw_errs *e, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints the count of errors not shown; returns the exit status. */
int  tw_errs_end(tw_errs *e);
/* Reads {"kind","slot","body"} objects (one, or an array; the metadata keys
 * of twin's own output are allowed and ignored) from JSON text. */
int tw_cli_items_json(const char *text, size_t len, tw_arena *a, tw_items *out, tw_errs *errs);
/*
 * Keeps the items this node may publish as its own: those whose author is
 * this node (own, the node's key), and those with no author (a file made
 * by hand; one that says "mine": false is another node's).  The others are
 * left out and counted in skipped and skipped_authors, unless adopt (the
 * node takes them over as its own listings).  An author that is not a key
 * is an error of its line.
 */
int tw_cli_items_own(tw_items *it, const uint8_t own[32], bool adopt, tw_errs *errs);
/* This node's key, from its status (prints the failure). */
int tw_cli_own_key(tw_cli *cli, tw_arena *a, uint8_t key[32]);
/* "twin: FILE: N records of M other authors skipped: ..." on stderr, if any. */
void tw_cli_say_skipped(const char *file, const tw_items *it);
/* Checks an item as the daemon will: known kind, slot rules, schema. */
int tw_cli_item_check(const tw_item *it, char *err, size_t errlen);
/* Writes records as CSV: kind,slot,<fields>,author,updated,mine; the
 * fields of kind (if not NULL) are columns even when no record has them. */
int tw_cli_records_csv(tw_buf *b, const char *kind, const tw_val *recs, size_t n,
                       unsigned flags);
/* Lists the records of q as tw_cli_records_csv() writes them, into out.
 * With a known kind it works a page at a time (its columns are the
 * schema's); else, or when a record has a field the schema lacks, it gets
 * every record first.  *count gets the number of records. */
int tw_cli_list_csv(tw_cli *cli, const tw_list_q *q, unsigned flags, tw_buf *out,
                    size_t *count);

/* ---- cmd_report.c ---- */
/* The label of a key of a report's count table (table names it, tl bytes):
 * "CODE Name" ("PS-RBH Ramallah and al-Bireh", "E12000007 London") when
 * the table counts codes (by governorate, subdivision, region, country) and
 * the key is in a code list; else the words the web interface uses for it
 * ("twinning_association": "twinning association"; "(none)": "(not
 * given)", "(unknown)": "(not found)"); else the key as it is;
 * NUL-terminated. */
void tw_cli_code_label(const char *table, size_t tl, const char *key, size_t kl, char *out, size_t cap);

/* "YYYY-MM-DD HH:MM" (UTC; also with T, or a date alone) or ms since the
 * epoch (10 digits or more) into ms: 0 or TW_EINVAL (cmd_device.c). */
int tw_cli_parse_time_ms(const char *s, uint64_t *out);

/* ---- commands (cmd_*.c), listed by main.c ---- */
extern const tw_cmd tw_cmd_status, tw_cmd_digest, tw_cmd_stats;
extern const tw_cmd tw_cmd_publish, tw_cmd_delete, tw_cmd_list, tw_cmd_show, tw_cmd_search;
extern const tw_cmd tw_cmd_export, tw_cmd_import;
extern const tw_cmd tw_cmd_peers, tw_cmd_sync;
extern const tw_cmd tw_cmd_gaps, tw_cmd_report;
extern const tw_cmd tw_cmd_device;
extern const tw_cmd tw_cmd_bundle;
extern const tw_cmd tw_cmd_key;
extern const tw_cmd tw_cmd_invite, tw_cmd_join;
extern const tw_cmd tw_cmd_vouch, tw_cmd_revoke, tw_cmd_members;
extern const tw_cmd tw_cmd_ui;

#endif

/*
 * The tail input's private interfaces, shared by its files:
 *   in_tail.c          the plugin: options, lifecycle, pause/resume/ack
 *   in_tail_scan.c     discovery: globs, inotify, periodic rescans
 *   in_tail_file.c     one followed file: reading, rotation, truncation
 *   in_tail_line.c     container line formats: CRI, docker json-file, raw
 *   in_tail_join.c     partial lines (CRI P/F, docker 16 KiB splits) joined
 *   in_tail_multiline.c stack traces and user rules joined into one record
 *   in_tail_offsets.c  the offsets database that survives crashes
 */
#ifndef GL_IN_TAIL_H
#define GL_IN_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct gl_regex;

/* ---- line formats (in_tail_line.c) -------------------------------------- */

enum tail_format { TAIL_RAW, TAIL_CRI, TAIL_DOCKER, TAIL_AUTO };
enum tail_stream { TAIL_STDOUT, TAIL_STDERR, TAIL_STREAM_NONE };

/* One decoded line. msg points into the line or into the scratch buffer given to the parser. */
struct tail_line {
    uint64_t ts_ns;           /* the line's own time; 0 when the format has none */
    const char *msg;
    size_t len;               /* without the trailing newline */
    enum tail_stream stream;
    bool partial;             /* CRI "P", or docker "log" without a trailing newline */
};

/*
 * Parses a CRI line "<RFC3339Nano> <stdout|stderr> <P|F> <message>" (len
 * excludes the newline). Returns 0 or GL_EPARSE. msg points into line.
 */
int tail_parse_cri(const char *line, size_t len, struct tail_line *out);

/*
 * Parses a docker json-file line {"log":"...","stream":"...","time":"..."}
 * with the project's JSON reader semantics (escapes decoded, invalid UTF-8
 * replaced). The decoded message is written to scratch (reset first) and
 * msg points there; a "log" ending in "\n" is complete (the newline is
 * removed), otherwise partial. Returns 0 or GL_EPARSE.
 */
int tail_parse_docker(const char *line, size_t len, struct tail_line *out,
                      struct gl_buf *scratch);

/* Guesses a file's format from its first line: CRI, docker, or raw. */
enum tail_format tail_detect_format(const char *line, size_t len);

/* RFC 3339 with optional fraction (up to 9 digits) and Z or ±hh:mm, to ns. 0 or GL_EPARSE. */
int tail_parse_rfc3339(const char *s, size_t len, uint64_t *ns);

/* ---- partial lines (in_tail_join.c) -------------------------------------- */

/*
 * Joins partial pieces of one stream of one file until the piece that
 * completes it. The joined message is bounded by max: past it, what is held
 * is emitted as a record flagged split and the rest continues as a new one.
 */
struct tail_join {
    struct gl_buf buf;
    uint64_t ts_ns;           /* time of the first piece */
    bool active;
    size_t max;
};

/* What tail_join_add() asks the caller to emit (0, 1 or 2 records). */
struct tail_joined {
    const char *msg;
    size_t len;
    uint64_t ts_ns;
    bool split;               /* this record is part of a longer line cut at max */
};

void tail_join_init(struct tail_join *j, size_t max);
void tail_join_close(struct tail_join *j);
/*
 * Adds one decoded line. Writes up to 2 records to emit into out[] and
 * returns how many (borrowed until the next call). A complete line with
 * nothing held is returned as is, without copying.
 */
int tail_join_add(struct tail_join *j, const struct tail_line *l, struct tail_joined out[2]);
/* Emits what is held (at end of file after a timeout, or on close); returns 0 or 1. */
int tail_join_flush(struct tail_join *j, struct tail_joined *out);

/* ---- multiline (in_tail_multiline.c) ------------------------------------- */

/*
 * A rule set that decides whether a line starts a new record or continues
 * the one being built. Built-ins: "java", "python", "go"; user rules come
 * from the config's multiline_parsers list (start_state regex, cont regex).
 */
struct tail_ml_rules;
struct tail_ml_rules *tail_ml_builtin(const char *name);  /* NULL when unknown; static */
struct tail_ml_rules *tail_ml_rules_new(const char *start_re, const char *cont_re,
                                        char *err, size_t errlen);
void tail_ml_rules_free(struct tail_ml_rules *r);         /* no-op for built-ins */

/* The group being built for one stream of one file. */
struct tail_ml {
    const struct tail_ml_rules *rules;
    struct gl_buf buf;
    uint64_t ts_ns;
    uint64_t last_ms;         /* when the last line was added, for flush_timeout */
    bool active;
    size_t max;               /* bound on a group's bytes: past it the group is emitted */
    int state;                /* rule state for multi-state built-ins */
};

void tail_ml_init(struct tail_ml *m, const struct tail_ml_rules *rules, size_t max);
void tail_ml_close(struct tail_ml *m);
/*
 * Feeds one complete line. When it starts a new group, the previous group is
 * written to *out and 1 is returned (borrowed until the next call); a
 * continuation line is appended ("\n" between lines) and 0 is returned.
 */
int tail_ml_add(struct tail_ml *m, const char *msg, size_t len, uint64_t ts_ns,
                uint64_t now_ms, struct tail_joined *out);
/* Emits the group if it has waited flush_ms since its last line (or always with flush_ms 0). */
int tail_ml_flush(struct tail_ml *m, uint64_t now_ms, uint64_t flush_ms,
                  struct tail_joined *out);

/* ---- offsets (in_tail_offsets.c) ----------------------------------------- */

/* A file's identity: device, inode and a fingerprint of its first bytes. */
struct tail_id {
    uint64_t dev;
    uint64_t ino;
    uint64_t fp;
};

struct tail_offsets;

/*
 * Opens (creating) the database at path: an append-only log of records,
 * each checksummed, replayed at open (a torn last record is ignored), and
 * compacted into a new file written to a temporary name, fsynced and renamed
 * over the old one when it grows past a few times the live entries.
 * Returns NULL with a message in err on failure.
 */
struct tail_offsets *tail_offsets_open(const char *path, char *err, size_t errlen);
void tail_offsets_close(struct tail_offsets *db);
/* Looks a file up; returns 0 with *offset set, or GL_ENOENT. */
int tail_offsets_get(struct tail_offsets *db, const struct tail_id *id, uint64_t *offset);
/* Records a new offset (in memory; written by the next sync). path is for humans. */
void tail_offsets_set(struct tail_offsets *db, const struct tail_id *id, uint64_t offset,
                      const char *path);
void tail_offsets_remove(struct tail_offsets *db, const struct tail_id *id);
/* Appends what changed since the last sync and fsyncs. Returns 0 or GL_EIO. */
int tail_offsets_sync(struct tail_offsets *db);
size_t tail_offsets_count(const struct tail_offsets *db);

#endif

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

#include <sys/stat.h>

#include "config/option.h"
#include "util/buf.h"

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

/* ---- partial lines (in_tail_join.c) -------------------------------------- */

/*
 * Joins partial pieces of one stream of one file until the piece that
 * completes it. The joined message is bounded by max: past it, the first max
 * bytes are emitted as a record flagged split and the rest continues (every
 * record of a line that was cut carries the flag and the first piece's time).
 * A single piece longer than max is cut to max and the bytes cut are counted
 * in dropped (the reader bounds lines, so only a docker line whose decoding
 * grew, or a max below the runtime's 16 KiB split, gets there).
 */
struct tail_join {
    struct gl_buf buf;        /* the line being joined */
    struct gl_buf done;       /* a record cut at max, kept until the next call */
    uint64_t ts_ns;           /* time of the first piece */
    uint64_t dropped;         /* bytes cut from pieces longer than max, for counters */
    bool active;
    bool cut;                 /* part of the line being joined was already emitted */
    size_t max;               /* 0 means unbounded */
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
 * returns how many (borrowed until the next call on j, and, when a record
 * points into l->msg, until l's memory changes). A complete line with
 * nothing held is returned as is, without copying.
 */
int tail_join_add(struct tail_join *j, const struct tail_line *l, struct tail_joined out[2]);
/* Emits what is held (at end of file after a timeout, or on close); returns 0 or 1. */
int tail_join_flush(struct tail_join *j, struct tail_joined *out);

/* ---- multiline (in_tail_multiline.c) ------------------------------------- */

/*
 * A rule set that decides whether a line starts a new record, continues the
 * one being built, ends it, or stands alone. Built-ins: "java", "python",
 * "go" (stack traces, Go panics; their regexes are compiled on first use).
 * User rules come from the config's multiline_parsers list: a line matching
 * start_re starts a group, a line matching cont_re continues a started group
 * (cont_re NULL: every line not matching start_re does), any other line is a
 * record of its own. tail_ml_rules_new() returns NULL with a message in err
 * when a regex does not compile.
 */
struct tail_ml_rules;
struct tail_ml_rules *tail_ml_builtin(const char *name);  /* NULL when unknown; static */
struct tail_ml_rules *tail_ml_rules_new(const char *start_re, const char *cont_re,
                                        char *err, size_t errlen);
void tail_ml_rules_free(struct tail_ml_rules *r);         /* no-op for built-ins */

/* The group being built for one stream of one file. */
struct tail_ml {
    const struct tail_ml_rules *rules;
    struct gl_buf buf;        /* the group being built */
    struct gl_buf done;       /* the group last emitted, kept until the next call */
    uint64_t ts_ns;           /* time of the group's first line */
    uint64_t last_ms;         /* when the last line was added, for flush_timeout */
    bool active;
    bool cut;                 /* the group reached max and part of it was emitted (split) */
    size_t max;               /* bound on a group's bytes: past it the group is emitted; 0 none */
    int state;                /* rule state: 0 when no group can be continued */
};

void tail_ml_init(struct tail_ml *m, const struct tail_ml_rules *rules, size_t max);
void tail_ml_close(struct tail_ml *m);
/*
 * Feeds one complete line and returns how many records it makes ready (0 or
 * 1), written to *out and borrowed until the next call on m (or, for a line
 * returned as is, until msg's memory changes). When the line starts a new
 * group, the previous group is emitted; a continuation line is appended ("\n"
 * between lines) and 0 is returned, unless it ends the group (a Python
 * exception line, Go's "exit status"): then the group including it is
 * emitted. A line that stands alone while nothing is held is returned
 * without copying. A continuation that would take the group past max emits
 * the group flagged split and starts the rest with this line.
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
 * over the old one when it grows past a few times the live entries. Replay
 * stops at the first torn or corrupt record and truncates the file there:
 * records after it are lost (see tail_offsets_discarded()). The directory
 * must exist; the file is locked against a second agent. Returns NULL with
 * a message in err on failure, leaving a file with an unknown header as is.
 */
struct tail_offsets *tail_offsets_open(const char *path, char *err, size_t errlen);
/* Frees without syncing: call tail_offsets_sync() first to keep changes. */
void tail_offsets_close(struct tail_offsets *db);
/*
 * Moves the file at path aside to <path>.corrupt so the next open starts
 * empty (after open refused it). Returns 0, or GL_EIO/GL_ESTATE with err.
 */
int tail_offsets_reset(const char *path, char *err, size_t errlen);
/* Bytes of torn or corrupt records cut off the file at open, for a log line. */
uint64_t tail_offsets_discarded(const struct tail_offsets *db);
/* Visits every entry, e.g. to remove those whose file is gone; cb may remove only its own. */
typedef void (*tail_offsets_each_cb)(const struct tail_id *id, uint64_t offset,
                                     const char *path, void *arg);
void tail_offsets_each(struct tail_offsets *db, tail_offsets_each_cb cb, void *arg);
/* Looks a file up; returns 0 with *offset set, or GL_ENOENT. */
int tail_offsets_get(struct tail_offsets *db, const struct tail_id *id, uint64_t *offset);
/* Records a new offset (in memory; written by the next sync). path is for humans. */
void tail_offsets_set(struct tail_offsets *db, const struct tail_id *id, uint64_t offset,
                      const char *path);
void tail_offsets_remove(struct tail_offsets *db, const struct tail_id *id);
/* Appends what changed since the last sync and fsyncs. Returns 0 or GL_EIO. */
int tail_offsets_sync(struct tail_offsets *db);
size_t tail_offsets_count(const struct tail_offsets *db);

/* ---- the plugin's own state (in_tail.c, in_tail_file.c, in_tail_scan.c) -- */

#include <uv.h>

struct gl_instance;
struct gl_metric;
struct gl_shared;
struct tail;

/* Kubernetes metadata read from a container log path (in_tail_k8s.c). */
struct tail_k8s {
    char *pod_name;
    char *namespace_name;
    char *container_name;
    char *docker_id;
    char *pod_id;
};

int tail_k8s_from_path(const char *path, const char *real, struct tail_k8s *k);
void tail_k8s_free(struct tail_k8s *k);
/* Expands a tag ending in `*` with the path, '/' turned into '.' (Fluent Bit's rule). */
char *tail_tag_expand(const char *tag, const char *path);

/* A byte range acknowledged ahead of the committed offset. */
struct tail_range {
    uint64_t start;
    uint64_t end;
};

/* The per-stream state of one file: partial lines and multiline groups. */
struct tail_stream_state {
    struct tail_join join;
    struct tail_ml ml;
    uint64_t start;           /* offset where the line being joined began */
    uint64_t gstart;          /* offset where the multiline group began */
    uint64_t gend;            /* offset after the group's last line */
    enum tail_stream stream;
};

struct tail_file {
    struct tail *t;
    uint64_t id;              /* the source id in acknowledgements */
    char *path;               /* as matched by the glob */
    char *real;               /* the resolved path (symlinks followed) */
    char *tag;
    struct tail_k8s k8s;      /* from the path, when it is a container log's */
    struct gl_shared *k8s_map; /* k8s as the map records carry (kubernetes_metadata), or NULL */
    uint64_t *c_bytes;        /* the container's series, or NULL for other files */
    uint64_t *c_lines;
    int fd;
    struct tail_id key;
    size_t fp_len;            /* bytes the fingerprint covers (grows to TAIL_FP_LEN) */
    uint64_t origin;          /* records' origin key once fp_len is TAIL_FP_LEN, else 0 */
    enum tail_format format;
    uint64_t read_off;        /* next byte to read */
    uint64_t line_off;        /* offset of the first byte in carry */
    uint64_t emitted;         /* everything before this is emitted or skipped */
    uint64_t committed;       /* everything before this is acknowledged */
    struct tail_range *acked;
    size_t n_acked;
    size_t cap_acked;
    struct gl_buf carry;      /* an incomplete line waiting for its newline */
    bool skipping;            /* inside a line over buffer_max_size (skip_long_lines) */
    bool in_long;             /* inside a line over buffer_max_size passed on in pieces */
    enum tail_stream long_stream;
    uint64_t long_ts;
    struct tail_stream_state streams[2];
    bool rotated;             /* the path now names another file: read to the end, then close */
    bool deleted;
    bool eof;
    bool pending;             /* may have more to read */
    uint64_t rotated_at_ms;
    uint64_t eof_since_ms;
    struct tail_file *next;
};

#define TAIL_FP_LEN 64

struct tail {
    /* options */
    struct gl_strlist paths;
    struct gl_strlist exclude;
    uint64_t refresh_ms;
    bool read_from_head;
    char *db_path;
    struct gl_strlist multiline_parser;
    char *ml_start;
    char *ml_continue;
    uint64_t ml_flush_ms;
    size_t chunk_size;
    size_t line_max;
    bool skip_long_lines;
    bool exit_on_eof;
    uint64_t rotate_wait_ms;
    int64_t rotated_max;
    char *path_key;
    bool k8s_metadata;
    char *key;
    char *parser_name;
    /* state */
    const struct gl_parser *parser; /* `parser`, or NULL */
    struct gl_instance *ins;
    enum tail_format format;  /* from multiline.parser: cri, docker, both (auto) or raw */
    const struct tail_ml_rules *ml_rules;
    struct tail_ml_rules *ml_user;
    struct tail_offsets *db;
    bool db_fresh;            /* the database did not exist: files found now start at their end */
    struct tail_file *files;
    size_t n_files;
    size_t n_rotated;
    uint64_t next_id;
    char *read_buf;
    struct gl_buf scratch;    /* docker lines' decoded messages */
    uv_idle_t reader;
    uv_timer_t scan_timer;
    uv_timer_t check_timer;
    uv_timer_t sync_timer;
    uv_timer_t rescan_timer;
    struct tail_watch *watches;
    uint64_t read_next;       /* id of the file a paused pass resumes at (0: the first) */
    size_t n_dangling;        /* glob matches that were dangling links at the last scan */
    uint64_t dangle_ms;       /* the delay of the rescan they asked for */
    bool paused;
    bool stopping;
    bool done;
    bool first_scan;
    bool watching;
    /* metrics */
    uint64_t *m_files_open;
    uint64_t *m_bytes;
    uint64_t *m_lines;
    uint64_t *m_rotations;
    uint64_t *m_truncations;
    uint64_t *m_split;
    uint64_t *m_skipped;
    uint64_t *m_invalid;
    uint64_t *m_lost_bytes;
    uint64_t *m_commit_lag;
    uint64_t *m_db_errors;
    struct gl_metric *m_container_bytes; /* labels namespace, pod, container */
    struct gl_metric *m_container_lines;
};

/* in_tail_file.c */
struct tail_file *tail_file_open(struct tail *t, const char *path, const char *real,
                                 const struct stat *st, bool from_end);
void tail_file_close(struct tail_file *f);
/* Reads at most quantum bytes and emits the records they complete. Returns bytes read. */
size_t tail_file_read(struct tail_file *f, size_t quantum);
void tail_file_check(struct tail_file *f, uint64_t now_ms);
void tail_file_ack(struct tail_file *f, uint64_t start, uint64_t end);
void tail_file_flush_pending(struct tail_file *f, uint64_t now_ms, bool force);
void tail_file_skip(struct tail_file *f, uint64_t start, uint64_t end);

/* A directory watched with inotify: a glob's directory (new files) or a file's (growth). */
struct tail_watch {
    uv_fs_event_t handle;
    struct tail *t;
    char *dir;
    bool glob_dir;
    bool active;              /* inotify accepted it (the directory exists) */
    struct tail_watch *next;
};

/* in_tail_scan.c */
void tail_scan(struct tail *t);
/* Reopens rotated files the database knows from before a restart (see in_tail_scan.c). */
void tail_recover(struct tail *t);
/* Whether the file (device and inode of st) is already followed. */
bool tail_followed(const struct tail *t, const struct stat *st);
int tail_watch_start(struct tail *t);
void tail_watch_stop(struct tail *t);
void tail_wake(struct tail *t);
void tail_watch_file_dir(struct tail *t, const char *real);
/* Stops watching file directories no followed file lives in any more. */
void tail_watch_gc(struct tail *t);
uint64_t tail_now_ms(void);

#endif

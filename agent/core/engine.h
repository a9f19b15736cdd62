/*
 * The pipeline, core-only: the instances built from one configuration, the
 * flush timer, and the orderly stop (stop inputs, flush within grace, stop
 * outputs, destroy). A SIGHUP reload builds a second engine from the new file
 * and swaps it in only when it is valid.
 */
#ifndef GL_ENGINE_H
#define GL_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "core/health.h"
#include "core/plugin.h"
#include "util/buf.h"

struct gl_regex;
struct gl_chunk;
struct gl_flush;
struct gl_storage;

struct gl_service {
    uint64_t flush_ms;
    uint64_t grace_ms;
    char *log_level;
    char *log_format;
    bool http_server;
    char *http_listen;
    int64_t http_port;
    char *storage_path;
    uint64_t sched_base_ms;
    uint64_t sched_cap_ms;
    struct gl_strlist parsers_files;
    char *storage_sync;
    bool storage_checksum;
    size_t storage_backlog_mem_limit;
    int64_t storage_max_chunks_up;
    /* Fluent Bit's daemon, accepted so that its configs run (its help says why) */
    bool daemon;
    /* health (health.c): Fluent Bit's check and counts, then stall thresholds (0: off) */
    bool health_check;
    int64_t hc_errors_count;
    int64_t hc_retry_failure_count;
    uint64_t hc_period_ms;
    uint64_t health_input_paused_ms;
    uint64_t health_output_stalled_ms;
    uint64_t health_data_lost_ms;
};

/* Options every section of a kind has, whatever the plugin. */
struct gl_common {
    char *alias;
    char *tag;
    char *match;
    struct gl_regex *match_regex;
    char *log_level;
    size_t mem_buf_limit;
    int64_t retry_limit;
    int64_t workers;
    char *storage_type;
    size_t total_limit_size;          /* outputs: storage.total_limit_size */
};

#define GL_LATENCY_BUCKETS 12

/* One series of a plugin metric with labels; `value` first, as handed out. */
struct gl_metric_series {
    uint64_t value;
    uint64_t hash;                /* of the label values, to skip most comparisons */
    unsigned refs;
    struct gl_metric_series *next;
    struct gl_metric_series **prevp;
    char *values[];               /* one per label of the family */
};

/*
 * A plugin's own metric, registered with gl_metric_counter()/gl_metric_gauge(),
 * or with labels of its own and series that come and go (gl_metric_counter_vec()).
 */
struct gl_metric {
    const char *name;
    const char *help;
    int gauge;
    uint64_t value;
    const char *const *labels;     /* n_labels names, or none */
    size_t n_labels;
    struct gl_metric_series *series;
};

struct gl_instance_core {
    struct gl_common opts;
    struct gl_config *cfg;            /* during init only, for gl_instance_error() */
    const struct gl_node *node;       /* the section, during building */
    bool initialised;
    bool bad;                         /* its section has errors: never initialised */
    bool done;                        /* an input with nothing more to read */
    bool started;
    /* inputs */
    struct gl_slot **slots;
    size_t slot_buckets;
    size_t slot_count;
    struct gl_slot *last_slot;
    size_t held_bytes;                /* the memory account: every live chunk's bytes */
    size_t open_bytes;                /* the part of it still in open chunks */
    unsigned pause_reasons;
    bool self_paused;
    uint64_t paused_since_ms;         /* health: when the pause began (0: running) */
    struct gl_storage *storage;       /* storage.type filesystem: its buffer (storage.h) */
    unsigned divert_reasons;          /* with storage: reasons to keep new chunks on disk */
    bool storage_paused;              /* with storage: paused after a failed write */
    bool writes_paused;               /* with storage: paused, GL_STORAGE_WRITES_MAX in flight */
    bool stopped;
    /* outputs */
    struct gl_chunk **queue;
    size_t q_head;
    size_t q_count;
    size_t q_cap;
    size_t buffer_bytes;
    bool full;
    unsigned inflight;
    struct gl_flush *flushes;         /* in flight or waiting to retry */
    struct gl_instance **feeders;     /* inputs that sent chunks here */
    size_t n_feeders;
    struct gl_instance **paused;      /* inputs this output paused */
    size_t n_paused;
    uint64_t progress_ms;             /* health: last send accepted, or when data came to it idle */
    uint64_t sent_ms;                 /* health: last send accepted (0: none yet) */
    const char *last_error;           /* health: why the last attempt failed (static) */
    uint64_t latency_buckets[GL_LATENCY_BUCKETS];
    uint64_t latency_count;
    double latency_sum;
    /* plugin metrics */
    struct gl_metric *metrics;
    size_t n_metrics;
};

enum gl_engine_state { GL_ENGINE_BUILT, GL_ENGINE_RUNNING, GL_ENGINE_STOPPING,
                       GL_ENGINE_STOPPED };

struct gl_engine;
typedef void (*gl_engine_stopped_cb)(struct gl_engine *e, void *data);

struct gl_engine {
    uv_loop_t *loop;
    struct gl_service svc;
    struct gl_instance **inputs;
    size_t n_inputs;
    struct gl_instance **filters;
    size_t n_filters;
    struct gl_instance **outputs;
    size_t n_outputs;
    enum gl_engine_state state;
    bool hard_stop;                 /* grace ran out: abandon what is in flight */
    uv_timer_t flush_timer;
    uv_timer_t grace_timer;
    uv_idle_t kick;
    bool kicked;
    int open_handles;
    gl_engine_stopped_cb stopped_cb;
    gl_engine_stopped_cb done_cb;   /* every input is done (main stops the agent) */
    void *done_data;
    void *stopped_data;
    uint64_t started_ns;
    uint64_t rng;
    uint64_t ticks;
    struct gl_buf scratch;          /* the router's buffer for records filters rewrite */
    size_t chunks_up;               /* filesystem-buffered chunks in memory */
    size_t backlog_up_bytes;        /* of those, bytes read back from a backlog */
    char *config_name;
    struct gl_health health;
};

/*
 * Builds a pipeline from a loaded config: service options, parsers, every
 * section's options and plugin init. Errors are added to cfg; returns NULL
 * when there is any. No I/O happens and nothing is armed.
 */
struct gl_engine *gl_engine_new(uv_loop_t *loop, struct gl_config *cfg);
int gl_engine_start(struct gl_engine *e);
/* Stops in order; cb runs once everything is flushed (or grace ran out) and closed. */
void gl_engine_stop(struct gl_engine *e, gl_engine_stopped_cb cb, void *data);
/* Frees a stopped (or never started) engine. */
void gl_engine_free(struct gl_engine *e);
/* Writes the routing graph (--dry-run). */
void gl_engine_describe(const struct gl_engine *e, struct gl_buf *out);
/* True when nothing is buffered, open or in flight. */
bool gl__engine_drained(const struct gl_engine *e);
/* Asks for a dispatch pass on the next loop turn. */
void gl__engine_kick(struct gl_engine *e);
uint64_t gl__engine_random(struct gl_engine *e);

/* The option tables of the service section and of each kind's common options. */
const struct gl_option *gl_engine_service_options(void);
const struct gl_option *gl_engine_common_options(enum gl_kind kind);

/* The router (router.c). */
bool gl_router_match(const char *pattern, const char *tag, size_t tag_len);
bool gl_router_overlap(const char *a, const char *b);
/* Whether an input's tag (as configured: it may hold `*`) may reach ins. */
bool gl__instance_may_match(const struct gl_instance *ins, const char *tag);
bool gl__instance_matches(const struct gl_instance *ins, const char *tag, size_t tag_len);
void gl__router_route(struct gl_slot *slot);
void gl__router_dispatch(struct gl_slot *slot, struct gl_chunk *c);

/* The output buffer (buffer.c). */
void gl__buffer_push(struct gl_instance *out, struct gl_chunk *c);
void gl__buffer_dispatch(struct gl_instance *out);
void gl__buffer_release(struct gl_instance *out, size_t bytes);
void gl__buffer_abandon(struct gl_instance *out);

/* Flushing (flush.c). */
void gl__flush_start(struct gl_instance *out, struct gl_chunk *const *chunks, unsigned n);
void gl__flush_abandon_all(struct gl_instance *out);
void gl__flush_free_all(struct gl_instance *out);

/* Chunk references (router.c). */
void gl__chunk_release(struct gl_chunk *c);

#endif

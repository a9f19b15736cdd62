/*
 * What a plugin is: one const struct gl_plugin (name, description, option
 * table, state size, callbacks) listed once in plugins/registry.c, and, at
 * run time, a struct gl_instance per configured section. The core allocates
 * the zeroed state, fills it from the option table, then calls init; plugins
 * never look options up by string.
 *
 * Lifecycle: init (allocate, compile, no I/O) -> start (arm libuv handles) ->
 * ... -> stop (close handles; close callbacks run before destroy) -> destroy
 * (free what init made; the core frees the state). Everything runs on the
 * one loop thread.
 */
#ifndef GL_PLUGIN_H
#define GL_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/option.h"

enum gl_kind { GL_INPUT, GL_FILTER, GL_OUTPUT };

/*
 * What flows: log records (core/event.h) or metrics batches
 * (metrics/batch.h). A chunk carries one of them; a plugin declares which
 * it emits (inputs) or accepts (filters, outputs) and only ever sees those.
 */
enum gl_data { GL_LOGS = 1 << 0, GL_METRICS = 1 << 1 };

/* What a filter did with one record. */
enum gl_filter_result {
    GL_FILTER_KEEP,     /* pass the record on unchanged */
    GL_FILTER_DROP,     /* remove it (the core counts it) */
    GL_FILTER_MODIFIED, /* replace it with what the filter wrote into `out` */
};

struct gl_instance;
struct gl_chunk;
struct gl_hold;
struct gl_record;
struct gl_event;
struct gl_flush;
struct gl_engine;

/* The acknowledgement an input gets once every output took a chunk: a byte range of one source. */
struct gl_ack {
    uint64_t source; /* the input's own id for where the records came from (a file) */
    uint64_t start;  /* position before the chunk's first record */
    uint64_t end;    /* position after its last record */
    uint32_t records;
};

struct gl_plugin {
    enum gl_kind kind;
    const char *name;
    const char *description;
    const char *other_name;   /* also accepted under this name (Fluent Bit's), or NULL */
    const struct gl_option *options;
    size_t state_size;
    unsigned data;      /* GL_LOGS and/or GL_METRICS: what it emits or accepts (0: GL_LOGS) */
    int workers;        /* outputs: flushes in flight at once unless `workers` is set (default 1) */
    size_t flush_max_bytes; /* outputs: a flush may carry queued chunks up to this size (0: one) */
    size_t mem_buf_limit;   /* inputs: mem_buf_limit unless it is set (0: the common 16 MiB) */

    int (*init)(struct gl_instance *ins);
    int (*start)(struct gl_instance *ins);
    /* Inputs: stop and restart producing (back-pressure); ack: a range was delivered. */
    void (*pause)(struct gl_instance *ins);
    void (*resume)(struct gl_instance *ins);
    void (*ack)(struct gl_instance *ins, const struct gl_ack *ack);
    /* Filters: look at one record; write a replacement into out to return GL_FILTER_MODIFIED. */
    enum gl_filter_result (*filter)(struct gl_instance *ins, const struct gl_record *rec,
                                    struct gl_event *out);
    /*
     * Filters, optional, instead of calling filter() per record: filters a
     * whole chunk, for filters that can do it without unpacking each record.
     * Writes the records it keeps into out (an empty chunk of the same tag),
     * sets out->records and returns GL_FILTER_MODIFIED, or returns
     * GL_FILTER_KEEP to pass the chunk on unchanged. References to shared
     * values written into out are kept in out->shared.
     */
    enum gl_filter_result (*filter_chunk)(struct gl_instance *ins, const struct gl_chunk *c,
                                          struct gl_chunk *out);
    /*
     * Filters, optional: asked once per chunk before its records are filtered.
     * Returning GL_EAGAIN holds the chunk, and the later chunks of its tag
     * behind it (order is kept), until the filter calls gl_hold_release(h)
     * once. A filter must release what it holds within seconds and in its stop.
     */
    int (*hold)(struct gl_instance *ins, const struct gl_chunk *c, struct gl_hold *h);
    /* Outputs: send one chunk; finish, now or later, with gl_flush_done(). */
    void (*flush)(struct gl_instance *ins, struct gl_flush *f);
    void (*stop)(struct gl_instance *ins);
    void (*destroy)(struct gl_instance *ins);
};

/* A dropped-records counter by reason, as /metrics shows it. */
struct gl_drop_count {
    const char *reason; /* static string */
    uint64_t records;
};

#define GL_DROP_REASONS_MAX 16

/* Counters every instance has; plugins add their own through metrics.h. */
struct gl_stats {
    uint64_t records_in;
    uint64_t bytes_in;
    uint64_t records_out;
    uint64_t bytes_out;
    uint64_t errors;
    uint64_t retries;
    uint64_t retries_failed;
    struct gl_drop_count dropped[GL_DROP_REASONS_MAX];
};

struct gl_instance {
    const struct gl_plugin *plugin;
    char *alias;      /* `alias`, or "<name>.<n>": the name in metrics and log lines */
    char *tag;        /* inputs: records' tag (may end in * to be expanded per source) */
    void *state;      /* plugin state, state_size bytes, options already applied */
    uv_loop_t *loop;
    struct gl_engine *engine;
    int index;        /* position among instances of the same kind, in config order */
    int log_level;    /* this instance's log level (service log_level unless overridden) */
    struct gl_stats stats;
    struct gl_instance_core *core; /* the core's private part */
};

/* Lets a held chunk (and those queued behind it) go on through the filters. */
void gl_hold_release(struct gl_hold *h);

/* Counts `records` dropped for `reason` (a static string) on an instance. */
void gl_instance_drop(struct gl_instance *ins, const char *reason, uint64_t records);

/*
 * Reports a problem found while an instance initialises (a bad value that the
 * option table cannot check): during init it becomes a configuration error
 * that --check prints and that rejects a reload; later it is logged.
 */
void gl_instance_error(struct gl_instance *ins, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same, pointing at the value of one option ("FILE:LINE:COL: plugin.option: ..."). */
void gl_instance_option_error(struct gl_instance *ins, const char *option, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Where the i-th value of an option was written in the section, as a number
 * that orders values as written (line, then column), for plugins whose
 * rules apply in the order the user wrote them whatever their option. During
 * init only; 0 when not known (a default, or no config).
 */
uint64_t gl_instance_option_rank(struct gl_instance *ins, const char *option, size_t i);

/*
 * An input has nothing more to read (exit_on_eof). When every input is done,
 * the agent stops as on SIGTERM: it flushes everything and exits 0.
 */
void gl_input_done(struct gl_instance *ins);

/* What a plugin emits or accepts: its .data, GL_LOGS when it says nothing. */
static inline unsigned gl_plugin_data(const struct gl_plugin *p)
{
    return p->data != 0 ? p->data : GL_LOGS;
}

/* "logs", "metrics" or "logs, metrics". */
const char *gl_data_name(unsigned data);

/* The registry (plugins/registry.c): NULL-terminated, in --plugins order. */
extern const struct gl_plugin *const gl_plugins[];
const struct gl_plugin *gl_plugin_find(enum gl_kind kind, const char *name);
const char *gl_plugin_kind_name(enum gl_kind kind);

#endif

/*
 * The engine: one pipeline built from one configuration. It reads the
 * service section, builds an instance per input, filter and output section
 * (core options and the plugin's own table applied, then init), starts them
 * outputs first, drives the flush timer and the dispatch pass, and stops in
 * order: inputs stop, open chunks are routed, outputs drain within `grace`,
 * everything is closed and destroyed.
 *
 * Invariant: a chunk is acknowledged to its input only when every output it
 * was pushed to accepted it or finally dropped it; what is abandoned at
 * shutdown is never acknowledged, so the input re-reads it next time.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "codec/gzip.h"
#include "codec/regex.h"
#include "codec/zstd.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/input.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/parser.h"
#include "core/storage.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/retry.h"

static const char *const log_levels[] = { "off", "error", "warn", "warning", "info", "debug",
                                          "trace", NULL };
static const char *const log_formats[] = { "logfmt", "json", NULL };

static const char *const storage_syncs[] = { "normal", "full", NULL };
static const char *const storage_types[] = { "memory", "filesystem", NULL };

static const char *check_chunks_up(const void *v)
{
    return *(const int64_t *)v >= 1 ? NULL : "must be at least 1";
}

static const char *check_daemon(const void *v)
{
    return *(const bool *)v ? "gleaner runs in the foreground only: remove daemon or set it off"
                            : NULL;
}

static const char *check_hc_count(const void *v)
{
    int64_t n = *(const int64_t *)v;
    return n >= 0 && n <= 100000 ? NULL : "must be between 0 and 100000";
}

static const char *check_positive_ms(const void *v)
{
    return *(const uint64_t *)v >= 1000 ? NULL : "must be at least 1s";
}

static const struct gl_option service_options[] = {
    { .name = "flush", .type = GL_OPT_DURATION, .def = "1s",
      .offset = offsetof(struct gl_service, flush_ms),
      .help = "How often open chunks are closed and sent to the outputs." },
    { .name = "grace", .type = GL_OPT_DURATION, .def = "5s",
      .offset = offsetof(struct gl_service, grace_ms),
      .help = "On SIGTERM, how long buffered records may take to flush before exit." },
    { .name = "log_level", .type = GL_OPT_STR, .def = "info", .choices = log_levels,
      .offset = offsetof(struct gl_service, log_level), .help = "The agent's own log level." },
    { .name = "log_format", .type = GL_OPT_STR, .def = "logfmt", .choices = log_formats,
      .offset = offsetof(struct gl_service, log_format),
      .help = "The agent's own log lines on stderr: logfmt or json." },
    { .name = "http_server", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct gl_service, http_server),
      .help = "Serve /metrics, /healthz, /readyz and /api/v1/status." },
    { .name = "http_listen", .type = GL_OPT_STR, .def = "0.0.0.0",
      .offset = offsetof(struct gl_service, http_listen),
      .help = "Address the HTTP server listens on." },
    { .name = "http_port", .type = GL_OPT_INT, .def = "2020",
      .offset = offsetof(struct gl_service, http_port), .help = "Port of the HTTP server." },
    { .name = "storage.path", .type = GL_OPT_STR, .def = "/var/lib/gleaner",
      .offset = offsetof(struct gl_service, storage_path),
      .help = "Directory for state that survives restarts (offsets, filesystem buffers)." },
    { .name = "scheduler.base", .type = GL_OPT_DURATION, .def = "1s",
      .offset = offsetof(struct gl_service, sched_base_ms),
      .help = "Shortest wait before retrying a failed flush." },
    { .name = "scheduler.cap", .type = GL_OPT_DURATION, .def = "60s",
      .offset = offsetof(struct gl_service, sched_cap_ms),
      .help = "Longest wait between retries of a failed flush." },
    { .name = "parsers_file", .type = GL_OPT_MULTI,
      .offset = offsetof(struct gl_service, parsers_files),
      .help = "Files of parsers loaded before the pipeline: YAML with a top-level parsers: list, "
              "or Fluent Bit's [PARSER] sections; one or a list, relative ones found from the "
              "working directory, else the config's." },
    { .name = "daemon", .type = GL_OPT_BOOL, .def = "off", .check = check_daemon,
      .offset = offsetof(struct gl_service, daemon),
      .help = "Fluent Bit's; gleaner always runs in the foreground, under its supervisor "
              "(only off is accepted)." },
    { .name = "health_check", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct gl_service, health_check),
      .help = "Fluent Bit's: /healthz and /api/v1/health also fail while the outputs' failed "
              "attempts or chunks given up within hc_period are over hc_errors_count or "
              "hc_retry_failure_count." },
    { .name = "hc_errors_count", .type = GL_OPT_INT, .def = "5", .check = check_hc_count,
      .offset = offsetof(struct gl_service, hc_errors_count),
      .help = "Fluent Bit's: failed flush attempts (a retry scheduled), summed over the outputs "
              "within hc_period, that health_check tolerates." },
    { .name = "hc_retry_failure_count", .type = GL_OPT_INT, .def = "5", .check = check_hc_count,
      .offset = offsetof(struct gl_service, hc_retry_failure_count),
      .help = "Fluent Bit's: chunks given up after retry_limit, summed over the outputs within "
              "hc_period, that health_check tolerates." },
    { .name = "hc_period", .type = GL_OPT_DURATION, .def = "60s", .check = check_positive_ms,
      .offset = offsetof(struct gl_service, hc_period_ms),
      .help = "Fluent Bit's: the window health_check counts in (a bare number is seconds)." },
    { .name = "health.input_paused", .type = GL_OPT_DURATION, .def = "5m",
      .offset = offsetof(struct gl_service, health_input_paused_ms),
      .help = "/healthz fails while an input has been paused by back-pressure for longer than "
              "this (0: not checked)." },
    { .name = "health.output_stalled", .type = GL_OPT_DURATION, .def = "5m",
      .offset = offsetof(struct gl_service, health_output_stalled_ms),
      .help = "/healthz fails while an output has data to send and none of it was accepted for "
              "longer than this (0: not checked)." },
    { .name = "health.data_lost", .type = GL_OPT_DURATION, .def = "10m",
      .offset = offsetof(struct gl_service, health_data_lost_ms),
      .help = "/healthz fails for this long after an input lost data for good, e.g. a rotated "
              "file given up unread over rotated_max_files (0: not checked)." },
    { .name = "storage.sync", .type = GL_OPT_STR, .def = "normal", .choices = storage_syncs,
      .offset = offsetof(struct gl_service, storage_sync),
      .help = "Filesystem buffer: normal writes each chunk file and renames it into place; "
              "full also fsyncs the file and its directory, so chunks survive a power loss." },
    { .name = "storage.checksum", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct gl_service, storage_checksum),
      .help = "Filesystem buffer: besides the crc32 every chunk file has (over its records "
              "when they are not compressed), zstd's checksum of the records of a compressed "
              "file, checked when a chunk is read back." },
    { .name = "storage.max_chunks_up", .type = GL_OPT_INT, .def = "128", .check = check_chunks_up,
      .offset = offsetof(struct gl_service, storage_max_chunks_up),
      .help = "Filesystem buffer: chunks of filesystem inputs kept in memory at once; the "
              "others wait on disk." },
    { .name = "storage.backlog.mem_limit", .type = GL_OPT_SIZE, .def = "5MiB",
      .offset = offsetof(struct gl_service, storage_backlog_mem_limit),
      .help = "Filesystem buffer: bytes of chunks read back from disk (the last run's, or "
              "those an outage put there) in memory at once." },
    { 0 }
};

static const struct gl_option input_options[] = {
    { .name = "alias", .type = GL_OPT_STR, .offset = offsetof(struct gl_common, alias),
      .help = "Name of this instance in metrics and logs (default <plugin>.<n>)." },
    { .name = "tag", .type = GL_OPT_STR, .offset = offsetof(struct gl_common, tag),
      .help = "Tag of the records this input emits (default the alias)." },
    { .name = "mem_buf_limit", .type = GL_OPT_SIZE, .def = "16MiB",
      .offset = offsetof(struct gl_common, mem_buf_limit),
      .help = "Pause this input while its records not yet delivered hold this many bytes, "
              "wherever they are: open chunks, filters, output buffers, flushes in flight, "
              "what outputs built from them (0: no limit of its own; default 16MiB, tail "
              "4MiB)." },
    { .name = "log_level", .type = GL_OPT_STR, .choices = log_levels,
      .offset = offsetof(struct gl_common, log_level),
      .help = "Log level for this instance (default the service's)." },
    { .name = "storage.type", .type = GL_OPT_STR, .def = "memory", .choices = storage_types,
      .offset = offsetof(struct gl_common, storage_type),
      .help = "memory: records wait in memory, the input pauses when they fill mem_buf_limit. "
              "filesystem: every chunk is also written under storage.path and kept there until "
              "delivered; when outputs are slow or down the input goes on and chunks wait on "
              "disk; a restart sends them first." },
    { 0 }
};

static const struct gl_option filter_options[] = {
    { .name = "alias", .type = GL_OPT_STR, .offset = offsetof(struct gl_common, alias),
      .help = "Name of this instance in metrics and logs (default <plugin>.<n>)." },
    { .name = "match", .type = GL_OPT_STR, .offset = offsetof(struct gl_common, match),
      .help = "Tags this filter applies to: * matches any run of characters, ? one." },
    { .name = "match_regex", .type = GL_OPT_REGEX,
      .offset = offsetof(struct gl_common, match_regex),
      .help = "Tags this filter applies to, as a regular expression." },
    { .name = "log_level", .type = GL_OPT_STR, .choices = log_levels,
      .offset = offsetof(struct gl_common, log_level),
      .help = "Log level for this instance (default the service's)." },
    { 0 }
};

static const char *check_workers(const void *v)
{
    return *(const int64_t *)v >= 1 && *(const int64_t *)v <= 64 ? NULL
                                                                   : "must be between 1 and 64";
}

static const struct gl_option output_options[] = {
    { .name = "alias", .type = GL_OPT_STR, .offset = offsetof(struct gl_common, alias),
      .help = "Name of this instance in metrics and logs (default <plugin>.<n>)." },
    { .name = "match", .type = GL_OPT_STR, .offset = offsetof(struct gl_common, match),
      .help = "Tags this output receives: * matches any run of characters, ? one." },
    { .name = "match_regex", .type = GL_OPT_REGEX,
      .offset = offsetof(struct gl_common, match_regex),
      .help = "Tags this output receives, as a regular expression." },
    { .name = "retry_limit", .type = GL_OPT_RETRIES, .def = "no_limits",
      .offset = offsetof(struct gl_common, retry_limit),
      .help = "Retries of a failed chunk before it is dropped: a number, no_limits or "
              "no_retries." },
    { .name = "workers", .type = GL_OPT_INT, .def = "1", .check = check_workers,
      .offset = offsetof(struct gl_common, workers),
      .help = "Flushes this output may have in flight at once (default 1, or the plugin's "
              "own: cloudwatch_logs 16, es 2)." },
    { .name = "mem_buf_limit", .type = GL_OPT_SIZE, .def = "32MiB",
      .offset = offsetof(struct gl_common, mem_buf_limit),
      .help = "Bytes buffered for this output before the inputs feeding it pause (filesystem "
              "inputs keep their new chunks on disk instead)." },
    { .name = "storage.total_limit_size", .type = GL_OPT_SIZE, .def = "0",
      .offset = offsetof(struct gl_common, total_limit_size),
      .help = "Most bytes of chunk files the filesystem inputs feeding this output keep; past "
              "it the oldest chunks waiting on disk are dropped and counted (0: no limit)." },
    { .name = "log_level", .type = GL_OPT_STR, .choices = log_levels,
      .offset = offsetof(struct gl_common, log_level),
      .help = "Log level for this instance (default the service's)." },
    { 0 }
};

static const struct gl_option *const common_tables[] = {
    [GL_INPUT] = input_options, [GL_FILTER] = filter_options, [GL_OUTPUT] = output_options,
};

const struct gl_option *gl_engine_service_options(void)
{
    return service_options;
}

const struct gl_option *gl_engine_common_options(enum gl_kind kind)
{
    return common_tables[kind];
}

/* ---- building ---------------------------------------------------------- */

/*
 * Splits a section's mapping in two shallow maps: the keys the core's table
 * knows and the rest (for the plugin's table). Nodes are shared, only the
 * item arrays are new; the caller frees those with free_shallow().
 */
static void split_map(const struct gl_node *map, const struct gl_option *core,
                      struct gl_node *mine, struct gl_node *theirs)
{
    memset(mine, 0, sizeof(*mine));
    memset(theirs, 0, sizeof(*theirs));
    mine->type = theirs->type = GL_NODE_MAP;
    mine->line = theirs->line = map->line;
    mine->col = theirs->col = map->col;
    mine->file = theirs->file = map->file;
    mine->items = gl_calloc(map->count + 1, sizeof(*mine->items));
    theirs->items = gl_calloc(map->count + 1, sizeof(*theirs->items));
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const char *key = map->items[i]->value;
        struct gl_node *dst = gl_option_find(core, key) != NULL ? mine : theirs;
        if (strcasecmp(key, "name") == 0) {
            continue;
        }
        dst->items[dst->count++] = map->items[i];
        dst->items[dst->count++] = map->items[i + 1];
    }
}

static char *default_alias(struct gl_engine *e, const struct gl_plugin *p)
{
    struct gl_instance **list = p->kind == GL_INPUT    ? e->inputs
                                : p->kind == GL_FILTER ? e->filters
                                                       : e->outputs;
    size_t n = p->kind == GL_INPUT ? e->n_inputs : p->kind == GL_FILTER ? e->n_filters
                                                                         : e->n_outputs;
    int same = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i]->plugin == p) {
            same++;
        }
    }
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_printf(&b, "%s.%d", p->name, same);
    return gl_buf_take(&b);
}

static bool alias_taken(const struct gl_engine *e, const char *alias)
{
    struct gl_instance **lists[] = { e->inputs, e->filters, e->outputs };
    size_t counts[] = { e->n_inputs, e->n_filters, e->n_outputs };
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            if (strcmp(lists[k][i]->alias, alias) == 0) {
                return true;
            }
        }
    }
    return false;
}

static void add_instance(struct gl_engine *e, struct gl_instance *ins)
{
    struct gl_instance ***list = ins->plugin->kind == GL_INPUT    ? &e->inputs
                                 : ins->plugin->kind == GL_FILTER ? &e->filters
                                                                  : &e->outputs;
    size_t *n = ins->plugin->kind == GL_INPUT    ? &e->n_inputs
                : ins->plugin->kind == GL_FILTER ? &e->n_filters
                                                 : &e->n_outputs;
    ins->index = (int)*n;
    *list = gl_realloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = ins;
}

static const struct gl_plugin *lookup_plugin(struct gl_config *cfg, enum gl_kind kind,
                                             const struct gl_node *name)
{
    const struct gl_plugin *p = gl_plugin_find(kind, name->value);
    if (p != NULL) {
        return p;
    }
    const char *best = NULL;
    for (size_t i = 0; gl_plugins[i] != NULL; i++) {
        const struct gl_option fake[] = { { .name = gl_plugins[i]->name }, { 0 } };
        const struct gl_option *const tables[] = { fake, NULL };
        if (gl_plugins[i]->kind == kind && gl_option_suggest(tables, name->value) != NULL) {
            best = gl_plugins[i]->name;
        }
    }
    if (best != NULL) {
        gl_config_error(cfg, name, "unknown %s plugin '%s' (did you mean '%s'?)",
                        gl_plugin_kind_name(kind), name->value, best);
    } else {
        gl_config_error(cfg, name, "unknown %s plugin '%s' (gleaner --plugins lists them)",
                        gl_plugin_kind_name(kind), name->value);
    }
    return NULL;
}

/* Applies the core's and the plugin's options of one section to a new instance. */
static int apply_section(struct gl_engine *e, struct gl_config *cfg, struct gl_instance *ins,
                         const struct gl_node *map, const char *section)
{
    const struct gl_plugin *p = ins->plugin;
    const struct gl_option *core_table = common_tables[p->kind];
    struct gl_node mine, theirs;
    split_map(map, core_table, &mine, &theirs);
    const struct gl_option *const ct[] = { core_table, NULL };
    int rc = gl_option_apply(cfg, section, ct, NULL, &mine, &ins->core->opts);
    static const struct gl_option none[] = { { 0 } };
    const struct gl_option *const pt[] = { p->options ? p->options : none, NULL };
    if (gl_option_apply(cfg, section, pt, NULL, &theirs, ins->state) < 0) {
        rc = GL_ECONFIG;
    }
    gl_free(mine.items);
    gl_free(theirs.items);
    struct gl_common *o = &ins->core->opts;
    if (p->kind != GL_INPUT && o->match == NULL && o->match_regex == NULL) {
        gl_config_error(cfg, map, "%s: needs match or match_regex to receive records", section);
        rc = GL_ECONFIG;
    }
    if (o->alias != NULL) {
        if (alias_taken(e, o->alias)) {
            const struct gl_node *at = gl_node_get(map, "alias");
            gl_config_error(cfg, at ? at : map, "%s: duplicate alias '%s'", section, o->alias);
            rc = GL_ECONFIG;
        }
        ins->alias = gl_strdup(o->alias);
    } else {
        ins->alias = default_alias(e, p);
    }
    ins->tag = gl_strdup(o->tag ? o->tag : ins->alias);
    if (p->kind == GL_OUTPUT && p->workers > 0 && gl_node_get(map, "workers") == NULL) {
        o->workers = p->workers;
    }
    if (p->kind == GL_INPUT && p->mem_buf_limit > 0 && gl_node_get(map, "mem_buf_limit") == NULL) {
        o->mem_buf_limit = p->mem_buf_limit;
    }
    ins->log_level = o->log_level ? gl_log_level_parse(o->log_level) : 0;
    return rc;
}

static struct gl_instance *instance_new(struct gl_engine *e, const struct gl_plugin *p)
{
    struct gl_instance *ins = gl_calloc(1, sizeof(*ins));
    ins->plugin = p;
    ins->core = gl_calloc(1, sizeof(*ins->core));
    ins->state = gl_calloc(1, p->state_size ? p->state_size : 1);
    ins->engine = e;
    ins->loop = e->loop;
    return ins;
}

static void build_section(struct gl_engine *e, struct gl_config *cfg, enum gl_kind kind,
                          const struct gl_node *map)
{
    if (map->type != GL_NODE_MAP) {
        gl_config_error(cfg, map, "expected a mapping with 'name' and the plugin's options");
        return;
    }
    const struct gl_node *name = gl_node_get(map, "name");
    if (name == NULL || name->type != GL_NODE_SCALAR) {
        gl_config_error(cfg, map, "%s section: missing 'name' (the plugin)",
                        gl_plugin_kind_name(kind));
        return;
    }
    const struct gl_plugin *p = lookup_plugin(cfg, kind, name);
    if (p == NULL) {
        return;
    }
    struct gl_instance *ins = instance_new(e, p);
    ins->core->node = map;
    char section[128];
    snprintf(section, sizeof(section), "%s", p->name);
    size_t before = cfg->error_count;
    apply_section(e, cfg, ins, map, section);
    ins->core->bad = cfg->error_count > before;
    add_instance(e, ins);
}

static void build_list(struct gl_engine *e, struct gl_config *cfg, enum gl_kind kind,
                       const struct gl_node *seq)
{
    if (seq == NULL) {
        return;
    }
    if (seq->type != GL_NODE_SEQ) {
        gl_config_error(cfg, seq, "expected a list of %s sections (- name: ...)",
                        gl_plugin_kind_name(kind));
        return;
    }
    for (size_t i = 0; i < seq->count; i++) {
        build_section(e, cfg, kind, seq->items[i]);
    }
}

/* Reports keys of a mapping that are not in `known`, with a suggestion. */
static void check_keys(struct gl_config *cfg, const struct gl_node *map, const char *where,
                       const char *const *known)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const struct gl_node *k = map->items[i];
        bool ok = false;
        for (size_t j = 0; known[j] != NULL && !ok; j++) {
            ok = strcasecmp(known[j], k->value) == 0;
        }
        if (ok) {
            continue;
        }
        struct gl_option fake[8] = { 0 };
        for (size_t j = 0; known[j] != NULL && j < 7; j++) {
            fake[j].name = known[j];
        }
        const struct gl_option *const tables[] = { fake, NULL };
        const char *s = gl_option_suggest(tables, k->value);
        if (s != NULL) {
            gl_config_error(cfg, k, "%s: unknown key '%s' (did you mean '%s'?)", where, k->value,
                            s);
        } else {
            gl_config_error(cfg, k, "%s: unknown key '%s'", where, k->value);
        }
    }
}

static void build_pipeline(struct gl_engine *e, struct gl_config *cfg,
                           const struct gl_node *pipe)
{
    static const char *const keys[] = { "inputs", "filters", "outputs", NULL };
    if (pipe->type != GL_NODE_MAP) {
        gl_config_error(cfg, pipe, "pipeline: expected a mapping with inputs, filters, outputs");
        return;
    }
    check_keys(cfg, pipe, "pipeline", keys);
    build_list(e, cfg, GL_INPUT, gl_node_get(pipe, "inputs"));
    build_list(e, cfg, GL_FILTER, gl_node_get(pipe, "filters"));
    build_list(e, cfg, GL_OUTPUT, gl_node_get(pipe, "outputs"));
    const struct gl_node *in = gl_node_get(pipe, "inputs");
    const struct gl_node *out = gl_node_get(pipe, "outputs");
    if (in == NULL || in->count == 0) {
        gl_config_error(cfg, pipe, "pipeline: no inputs");
    }
    if (out == NULL || out->count == 0) {
        gl_config_error(cfg, pipe, "pipeline: no outputs");
    }
}

static void build_service(struct gl_engine *e, struct gl_config *cfg,
                          const struct gl_node *svc)
{
    const struct gl_option *const tables[] = { service_options, NULL };
    if (svc == NULL) {
        gl_option_defaults(service_options, &e->svc);
        return;
    }
    if (svc->type != GL_NODE_MAP) {
        gl_config_error(cfg, svc, "service: expected a mapping");
        gl_option_defaults(service_options, &e->svc);
        return;
    }
    gl_option_apply(cfg, "service", tables, NULL, svc, &e->svc);
    if (e->svc.flush_ms == 0) {
        gl_config_error(cfg, gl_node_get(svc, "flush"), "service.flush: must be at least 1ms");
    }
    if (e->svc.http_port < 0 || e->svc.http_port > 65535) {
        gl_config_error(cfg, gl_node_get(svc, "http_port"),
                        "service.http_port: must be between 0 and 65535");
    }
}

void gl_instance_error(struct gl_instance *ins, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ins->core->cfg != NULL) {
        gl_config_error(ins->core->cfg, ins->core->node, "%s: %s", ins->plugin->name, msg);
    } else {
        gl_log_error(ins, "%s", msg);
    }
}

/*
 * Where a relative parsers_file is: from the working directory when it is
 * there, else from the config file's directory, as Fluent Bit looks.
 */
static char *parsers_path(const struct gl_config *cfg, const char *path)
{
    const char *slash = strrchr(cfg->file ? cfg->file : "", '/');
    struct gl_buf b;
    gl_buf_init(&b);
    if (path[0] != '/' && access(path, F_OK) != 0 && slash != NULL) {
        gl_buf_append(&b, cfg->file, (size_t)(slash + 1 - cfg->file));
    }
    gl_buf_puts(&b, path);
    return gl_buf_take(&b);
}

/*
 * Loads parsers from one service.parsers_file: YAML with a top-level
 * parsers: list or classic [PARSER] sections. Its errors, with their own
 * FILE:LINE:COL, join cfg's.
 */
static void load_parsers_file(struct gl_config *cfg, const char *file)
{
    char *path = parsers_path(cfg, file);
    struct gl_config *pc = gl_config_load_file(path);
    gl_free(path);
    const struct gl_node *seq = pc->root ? gl_node_get(pc->root, "parsers") : NULL;
    const struct gl_node *ml = pc->root ? gl_node_get(pc->root, "multiline_parsers") : NULL;
    if (ml != NULL) {
        /* Shared parser files define many; one in use fails where it is named. */
        gl_log_warn(NULL, "%s:%d:%d: multiline parsers are not supported and are skipped: use "
                    "the tail input's multiline.start and multiline.continue, or "
                    "multiline.parser", gl_node_file(pc, ml), ml->line, ml->col);
    }
    if (pc->error_count == 0 && seq == NULL && ml == NULL) {
        gl_config_error(pc, pc->root, pc->classic ? "expected [PARSER] sections"
                                                  : "expected a top-level 'parsers:' list");
    }
    if (pc->error_count == 0 && seq != NULL) {
        gl_parsers_load(pc, seq);
    }
    cfg->errors = gl_realloc(cfg->errors,
                             (cfg->error_count + pc->error_count + 1) * sizeof(*cfg->errors));
    for (size_t i = 0; i < pc->error_count; i++) {
        cfg->errors[cfg->error_count++] = pc->errors[i];
    }
    pc->error_count = 0;
    gl_config_free(pc);
}

void gl_instance_option_error(struct gl_instance *ins, const char *option, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ins->core->cfg == NULL) {
        gl_log_error(ins, "%s: %s", option, msg);
        return;
    }
    const struct gl_node *at = gl_node_get(ins->core->node, option);
    gl_config_error(ins->core->cfg, at ? at : ins->core->node, "%s.%s: %s", ins->plugin->name,
                    option, msg);
}

uint64_t gl_instance_option_rank(struct gl_instance *ins, const char *option, size_t i)
{
    const struct gl_node *v = ins->core->cfg ? gl_node_get(ins->core->node, option) : NULL;
    if (v != NULL && v->type == GL_NODE_SEQ) {
        v = i < v->count ? v->items[i] : NULL;
    }
    return v != NULL ? ((uint64_t)v->line << 20) | (uint64_t)v->col : 0;
}

void gl_input_done(struct gl_instance *ins)
{
    struct gl_engine *e = ins->engine;
    ins->core->done = true;
    for (size_t i = 0; i < e->n_inputs; i++) {
        if (!e->inputs[i]->core->done) {
            return;
        }
    }
    gl_log_info(NULL, "every input is done: stopping");
    if (e->done_cb != NULL) {
        e->done_cb(e, e->done_data);
    }
}

/*
 * A filter or output whose match covers only inputs emitting what it does
 * not take (a metrics output matching only log inputs) would never see a
 * record: that is a mistake in the config, reported at its match.
 */
static void check_route(struct gl_engine *e, struct gl_config *cfg, struct gl_instance *ins)
{
    unsigned seen = 0;
    const char *first = NULL;
    for (size_t i = 0; i < e->n_inputs; i++) {
        struct gl_instance *in = e->inputs[i];
        if (!in->core->bad && gl__instance_may_match(ins, in->tag)) {
            seen |= gl_plugin_data(in->plugin);
            first = first ? first : in->alias;
        }
    }
    unsigned takes = gl_plugin_data(ins->plugin);
    if (seen == 0 || (seen & takes) != 0) {
        return;
    }
    const char *key = ins->core->opts.match != NULL ? "match" : "match_regex";
    const struct gl_node *at = gl_node_get(ins->core->node, key);
    gl_config_error(cfg, at ? at : ins->core->node,
                    "%s %s: %s covers only inputs emitting %s (%s...), but %s takes %s",
                    gl_plugin_kind_name(ins->plugin->kind), ins->alias, key,
                    gl_data_name(seen), first, ins->plugin->name, gl_data_name(takes));
}

static void check_routes(struct gl_engine *e, struct gl_config *cfg)
{
    for (size_t i = 0; i < e->n_filters; i++) {
        if (!e->filters[i]->core->bad) {
            check_route(e, cfg, e->filters[i]);
        }
    }
    for (size_t i = 0; i < e->n_outputs; i++) {
        if (!e->outputs[i]->core->bad) {
            check_route(e, cfg, e->outputs[i]);
        }
    }
}

static void init_plugins(struct gl_engine *e, struct gl_config *cfg,
                         struct gl_instance **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct gl_instance *ins = list[i];
        if (ins->plugin->init == NULL || ins->core->bad) {
            continue;
        }
        ins->core->cfg = cfg;
        size_t before = cfg->error_count;
        int rc = ins->plugin->init(ins);
        ins->core->cfg = NULL;
        ins->core->node = NULL;
        if (rc < 0) {
            ins->core->bad = true;
            if (cfg->error_count == before) {
                gl_config_error(cfg, NULL, "%s %s: could not start: %s",
                                gl_plugin_kind_name(ins->plugin->kind), ins->alias,
                                gl_strerror(rc));
            }
            continue;
        }
        ins->core->initialised = true;
    }
    (void)e;
}

struct gl_engine *gl_engine_new(uv_loop_t *loop, struct gl_config *cfg)
{
    static const char *const top[] = { "service", "pipeline", "parsers", "multiline_parsers",
                                       NULL };
    struct gl_engine *e = gl_calloc(1, sizeof(*e));
    e->loop = loop;
    e->rng = uv_hrtime() | 1;
    gl_buf_init(&e->scratch);
    e->config_name = gl_strdup(cfg->file ? cfg->file : "");
    const struct gl_node *root = cfg->root;
    if (root == NULL || root->type != GL_NODE_MAP) {
        if (cfg->error_count == 0) {
            gl_config_error(cfg, root, "expected a mapping with service and pipeline");
        }
        gl_option_defaults(service_options, &e->svc);
        gl_engine_free(e);
        return NULL;
    }
    check_keys(cfg, root, "top level", top);
    build_service(e, cfg, gl_node_get(root, "service"));
    gl_parsers_reset();
    for (size_t i = 0; i < e->svc.parsers_files.count; i++) {
        load_parsers_file(cfg, e->svc.parsers_files.items[i]);
    }
    const struct gl_node *ml = gl_node_get(root, "multiline_parsers");
    if (ml != NULL) {
        gl_config_error(cfg, ml, "multiline parsers are not supported: use the tail input's "
                        "multiline.start and multiline.continue, or multiline.parser");
    }
    const struct gl_node *parsers = gl_node_get(root, "parsers");
    if (parsers != NULL) {
        gl_parsers_load(cfg, parsers);
    }
    const struct gl_node *pipe = gl_node_get(root, "pipeline");
    if (pipe == NULL) {
        gl_config_error(cfg, root, "missing 'pipeline' (inputs and outputs)");
    } else {
        build_pipeline(e, cfg, pipe);
        check_routes(e, cfg);
    }
    /* Sections without errors of their own still initialise, so --check shows theirs too. */
    init_plugins(e, cfg, e->outputs, e->n_outputs);
    init_plugins(e, cfg, e->filters, e->n_filters);
    init_plugins(e, cfg, e->inputs, e->n_inputs);
    if (cfg->error_count > 0) {
        gl_engine_free(e);
        return NULL;
    }
    gl__health_init(e);
    return e;
}

/* ---- running ----------------------------------------------------------- */

uint64_t gl__engine_random(struct gl_engine *e)
{
    return gl_retry_random(&e->rng);
}

static bool output_idle(const struct gl_instance *out)
{
    return out->core->q_count == 0 && out->core->inflight == 0;
}

bool gl__engine_drained(const struct gl_engine *e)
{
    for (size_t i = 0; i < e->n_outputs; i++) {
        if (!output_idle(e->outputs[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < e->n_inputs; i++) {
        const struct gl_instance_core *core = e->inputs[i]->core;
        if (core->held_bytes != 0 || (core->storage != NULL && core->storage->backlog != 0)) {
            return false;
        }
    }
    return true;
}

static void finish_stop(struct gl_engine *e);

/* The dispatch pass: start flushes on every output with work and room. */
static void kick_run(uv_idle_t *h)
{
    struct gl_engine *e = h->data;
    uv_idle_stop(h);
    e->kicked = false;
    for (size_t i = 0; i < e->n_outputs; i++) {
        gl__buffer_dispatch(e->outputs[i]);
    }
    /*
     * Stopping too: a chunk that waits on disk while its output has room is
     * sent within grace like the chunks in memory, not left for a restart
     * that may never come (a node scaled in takes its disk with it).
     */
    for (size_t i = 0; i < e->n_inputs && e->state != GL_ENGINE_STOPPED; i++) {
        if (e->inputs[i]->core->storage != NULL) {
            gl__input_replay(e->inputs[i]);
        }
    }
    if (e->state == GL_ENGINE_STOPPING && gl__engine_drained(e)) {
        finish_stop(e);
    }
}

void gl__engine_kick(struct gl_engine *e)
{
    if (!e->kicked && e->state != GL_ENGINE_STOPPED) {
        e->kicked = true;
        uv_idle_start(&e->kick, kick_run);
    }
}

static void flush_tick(uv_timer_t *t)
{
    struct gl_engine *e = t->data;
    e->ticks++;
    for (size_t i = 0; i < e->n_inputs; i++) {
        gl__input_storage_retry(e->inputs[i]);
        gl__input_flush_open(e->inputs[i]);
        if (e->ticks % 64 == 0) {
            gl__input_slots_gc(e->inputs[i], 5 * 60 * 1000);
        }
    }
    gl__health_tick(e);
    gl__engine_kick(e);
}

static int start_list(struct gl_instance **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct gl_instance *ins = list[i];
        if (ins->plugin->start != NULL) {
            int rc = ins->plugin->start(ins);
            if (rc < 0) {
                gl_log_error(ins, "could not start: %s", gl_strerror(rc));
                return rc;
            }
        }
        ins->core->started = true;
    }
    return 0;
}

/* Opens the filesystem buffer of every input that has storage.type filesystem. */
static int open_storage(struct gl_engine *e)
{
    for (size_t i = 0; i < e->n_inputs; i++) {
        struct gl_instance *in = e->inputs[i];
        if (strcmp(in->core->opts.storage_type, "filesystem") != 0) {
            continue;
        }
        in->core->storage = gl__storage_open(in);
        if (in->core->storage == NULL) {
            return GL_EIO;
        }
    }
    return 0;
}

int gl_engine_start(struct gl_engine *e)
{
    gl_log_configure(gl_log_level_parse(e->svc.log_level),
                     strcmp(e->svc.log_format, "json") == 0 ? GL_LOG_JSON : GL_LOG_LOGFMT);
    uv_timer_init(e->loop, &e->flush_timer);
    uv_timer_init(e->loop, &e->grace_timer);
    uv_idle_init(e->loop, &e->kick);
    e->flush_timer.data = e->grace_timer.data = e->kick.data = e;
    e->open_handles = 3;
    e->started_ns = uv_hrtime();
    e->state = GL_ENGINE_RUNNING;
    int rc = open_storage(e);
    if (rc == 0) {
        rc = start_list(e->outputs, e->n_outputs);
    }
    if (rc == 0) {
        rc = start_list(e->filters, e->n_filters);
    }
    if (rc == 0) {
        rc = start_list(e->inputs, e->n_inputs);
    }
    uv_timer_start(&e->flush_timer, flush_tick, e->svc.flush_ms, e->svc.flush_ms);
    /* A backlog left by the last run is read back from the first dispatch pass. */
    gl__engine_kick(e);
    return rc;
}

static void stop_list(struct gl_instance **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct gl_instance *ins = list[i];
        if (ins->core->started && !ins->core->stopped && ins->plugin->stop != NULL) {
            ins->plugin->stop(ins);
        }
        ins->core->stopped = true;
    }
}

static void handle_closed(uv_handle_t *h)
{
    struct gl_engine *e = h->data;
    if (--e->open_handles == 0 && e->stopped_cb != NULL) {
        e->stopped_cb(e, e->stopped_data);
    }
}

static void close_handles(uv_timer_t *t)
{
    struct gl_engine *e = t->data;
    for (size_t i = 0; i < e->n_inputs; i++) {
        if (gl__storage_pending(e->inputs[i]->core->storage) > 0) {
            /* A chunk is being written on the thread pool: its storage must outlive it. */
            uv_timer_start(&e->flush_timer, close_handles, 1, 0);
            return;
        }
    }
    uv_close((uv_handle_t *)&e->flush_timer, handle_closed);
    uv_close((uv_handle_t *)&e->grace_timer, handle_closed);
    uv_close((uv_handle_t *)&e->kick, handle_closed);
}

/* Everything is flushed or given up: close the rest and report. */
static void finish_stop(struct gl_engine *e)
{
    if (e->state == GL_ENGINE_STOPPED) {
        return;
    }
    e->state = GL_ENGINE_STOPPED;
    stop_list(e->filters, e->n_filters);
    stop_list(e->outputs, e->n_outputs);
    gl_log_info(NULL, "pipeline stopped%s", e->hard_stop ? " (grace ran out)" : "");
    /*
     * The plugins just closed their handles; libuv runs those close callbacks
     * at the end of this loop turn. Closing ours one turn later guarantees
     * theirs ran before stopped_cb lets anyone free the plugins' state.
     */
    uv_idle_stop(&e->kick);
    uv_timer_stop(&e->grace_timer);
    uv_timer_start(&e->flush_timer, close_handles, 0, 0);
}

static void grace_expired(uv_timer_t *t)
{
    struct gl_engine *e = t->data;
    size_t left = 0;
    uint64_t on_disk = 0;
    for (size_t i = 0; i < e->n_outputs; i++) {
        left += e->outputs[i]->core->buffer_bytes;
    }
    for (size_t i = 0; i < e->n_inputs; i++) {
        on_disk += e->inputs[i]->core->storage != NULL ? e->inputs[i]->core->storage->backlog : 0;
    }
    gl_log_warn(NULL, "grace of %llu ms ran out with %zu bytes not delivered and %" PRIu64
                " chunks waiting in filesystem buffers; they are not acknowledged and will be "
                "read again on restart", (unsigned long long)e->svc.grace_ms, left, on_disk);
    e->hard_stop = true;
    for (size_t i = 0; i < e->n_outputs; i++) {
        gl__buffer_abandon(e->outputs[i]);
        gl__flush_abandon_all(e->outputs[i]);
    }
    /* The outputs' stop cancels requests in flight; their flushes end as abandoned. */
    stop_list(e->outputs, e->n_outputs);
    finish_stop(e);
}

void gl_engine_stop(struct gl_engine *e, gl_engine_stopped_cb cb, void *data)
{
    e->stopped_cb = cb;
    e->stopped_data = data;
    if (e->state == GL_ENGINE_BUILT) {
        /* Never started (the HTTP server could not): nothing to wait for. */
        e->state = GL_ENGINE_STOPPED;
        cb(e, data);
        return;
    }
    if (e->state != GL_ENGINE_RUNNING) {
        return;
    }
    e->state = GL_ENGINE_STOPPING;
    stop_list(e->inputs, e->n_inputs);
    for (size_t i = 0; i < e->n_inputs; i++) {
        gl__input_flush_open(e->inputs[i]);
    }
    uv_timer_stop(&e->flush_timer);
    uv_timer_start(&e->grace_timer, grace_expired, e->svc.grace_ms, 0);
    gl__engine_kick(e);
}

/* ---- teardown ---------------------------------------------------------- */

static void instance_free(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    if (core->initialised && ins->plugin->destroy != NULL) {
        ins->plugin->destroy(ins);
    }
    if (ins->plugin->kind == GL_INPUT) {
        gl__input_slots_gc(ins, 0);
        gl__storage_free(core->storage);
    } else if (ins->plugin->kind == GL_OUTPUT) {
        gl__flush_free_all(ins);
        gl__buffer_abandon(ins);
    }
    if (ins->plugin->options != NULL) {
        gl_option_free(ins->plugin->options, ins->state);
    }
    gl_option_free(common_tables[ins->plugin->kind], &core->opts);
    gl_free(core->slots);
    gl_free(core->queue);
    gl_free(core->feeders);
    gl_free(core->paused);
    gl__metrics_free(ins);
    gl_free(core);
    gl_free(ins->state);
    gl_free(ins->alias);
    gl_free(ins->tag);
    gl_free(ins);
}

/* Frees an engine that is stopped or was never started; inputs go last (acks). */
void gl_engine_free(struct gl_engine *e)
{
    if (e == NULL) {
        return;
    }
    for (size_t i = 0; i < e->n_outputs; i++) {
        instance_free(e->outputs[i]);
    }
    for (size_t i = 0; i < e->n_filters; i++) {
        instance_free(e->filters[i]);
    }
    for (size_t i = 0; i < e->n_inputs; i++) {
        instance_free(e->inputs[i]);
    }
    gl_free(e->inputs);
    gl_free(e->filters);
    gl_free(e->outputs);
    gl_option_free(service_options, &e->svc);
    gl__health_close(e);
    gl_buf_close(&e->scratch);
    gl_free(e->config_name);
    gl_free(e);
    gl_buf_pool_drain();
    gl_shared_drain();
    gl_zstd_release();
    gl_gzip_release();
}

/* ---- description ------------------------------------------------------- */

static void describe_match(const struct gl_instance *ins, struct gl_buf *out)
{
    const struct gl_common *o = &ins->core->opts;
    if (o->match != NULL) {
        gl_buf_printf(out, "match=%s", o->match);
    }
    if (o->match_regex != NULL) {
        gl_buf_printf(out, "%smatch_regex=%s", o->match ? " " : "",
                      gl_regex_pattern(o->match_regex));
    }
}

/* One filter or output on an input's route, with what it carries of what the input emits. */
static void describe_hop(struct gl_buf *out, const char *what, const struct gl_instance *ins,
                         unsigned emits)
{
    gl_buf_printf(out, "%s %s (%s) ", what, ins->alias, ins->plugin->name);
    describe_match(ins, out);
    unsigned carries = gl_plugin_data(ins->plugin) & emits;
    if (carries != 0) {
        gl_buf_printf(out, " carries=%s\n", gl_data_name(carries));
    } else {
        gl_buf_printf(out, " carries=nothing (takes %s only)\n",
                      gl_data_name(gl_plugin_data(ins->plugin)));
    }
}

/*
 * Writes the routing graph: each input with its tag and, in order, the
 * filters and outputs whose match accepts that tag (an input tag with `*`
 * is expanded per source at run time; it is matched here as written).
 */
void gl_engine_describe(const struct gl_engine *e, struct gl_buf *out)
{
    for (size_t i = 0; i < e->n_inputs; i++) {
        const struct gl_instance *in = e->inputs[i];
        size_t tl = strlen(in->tag);
        gl_buf_printf(out, "input %s (%s) tag=%s emits=%s\n", in->alias, in->plugin->name,
                      in->tag, gl_data_name(gl_plugin_data(in->plugin)));
        size_t hits = 0;
        unsigned emits = gl_plugin_data(in->plugin);
        for (size_t j = 0; j < e->n_filters; j++) {
            if (gl__instance_matches(e->filters[j], in->tag, tl)) {
                describe_hop(out, "  -> filter", e->filters[j], emits);
            }
        }
        for (size_t j = 0; j < e->n_outputs; j++) {
            if (gl__instance_matches(e->outputs[j], in->tag, tl)) {
                describe_hop(out, "  => output", e->outputs[j], emits);
                hits += (gl_plugin_data(e->outputs[j]->plugin) & emits) != 0;
            }
        }
        if (hits == 0) {
            gl_buf_puts(out, "  (no output matches this tag: its records are discarded)\n");
        }
    }
}

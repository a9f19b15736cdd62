/*
 * The prometheus_remote_write output: metrics to any remote-write 1.0
 * receiver (Prometheus, Amazon Managed Service for Prometheus, Mimir,
 * Thanos, VictoriaMetrics), as snappy-compressed WriteRequest protobufs,
 * with Fluent Bit's option names. This file: options, the flush (a chunk's
 * series spread over the shards), the shard count (halved while the
 * receiver answers 429 or 5xx, doubled while the queues outgrow it), and the
 * lifecycle. The shards send and retry (out_prometheus_remote_write_shard.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/base64.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "out_prometheus_remote_write.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

#define TICK_MS 250
#define DECIDE_EVERY 40 /* ticks: a shard count decision every 10 s */

static const char *check_port(const void *v)
{
    int64_t p = *(const int64_t *)v;
    return p >= 1 && p <= 65535 ? NULL : "must be between 1 and 65535";
}

static const char *check_shards(const void *v)
{
    int64_t n = *(const int64_t *)v;
    return n >= 1 && n <= RW_SHARDS_MAX ? NULL : "must be between 1 and 64";
}

static const char *check_samples(const void *v)
{
    return *(const int64_t *)v >= 1 ? NULL : "must be at least 1";
}

static const struct gl_option rw_options[] = {
    { .name = "host", .type = GL_OPT_STR, .required = true, .offset = offsetof(struct rw, host),
      .help = "The receiver's host name or address." },
    { .name = "port", .type = GL_OPT_INT, .def = "80", .check = check_port,
      .offset = offsetof(struct rw, port), .help = "The receiver's port." },
    { .name = "uri", .type = GL_OPT_STR, .def = "/api/v1/write",
      .offset = offsetof(struct rw, uri), .help = "The path requests are sent to." },
    { .name = "tls", .type = GL_OPT_BOOL, .def = "off", .offset = offsetof(struct rw, tls),
      .help = "Send over HTTPS." },
    { .name = "header", .type = GL_OPT_MULTI, .offset = offsetof(struct rw, header),
      .help = "An extra request header, as 'Name value'; repeat for more." },
    { .name = "add_label", .type = GL_OPT_MULTI, .offset = offsetof(struct rw, add_label),
      .help = "A label added to every series, as 'name value' (a label the series has wins)." },
    { .name = "http_user", .type = GL_OPT_STR, .offset = offsetof(struct rw, http_user),
      .help = "User for basic authentication." },
    { .name = "http_passwd", .type = GL_OPT_STR, .offset = offsetof(struct rw, http_passwd),
      .help = "Password for basic authentication (use ${VAR}: it is never printed)." },
    { .name = "bearer_token_file", .type = GL_OPT_STR,
      .offset = offsetof(struct rw, bearer_token_file),
      .help = "A file holding a bearer token, read again for each request." },
    { .name = "aws_auth", .type = GL_OPT_BOOL, .def = "off", .offset = offsetof(struct rw, aws_auth),
      .help = "Sign requests with SigV4 (Amazon Managed Service for Prometheus)." },
    { .name = "aws_service", .type = GL_OPT_STR, .def = "aps",
      .offset = offsetof(struct rw, aws_service), .help = "The service name SigV4 signs for." },
    GL_AWS_PREFIXED_OPTIONS(struct rw, aws),
    { .name = "max_samples_per_send", .type = GL_OPT_INT, .def = "2000", .check = check_samples,
      .offset = offsetof(struct rw, max_samples),
      .help = "Most samples in one request." },
    { .name = "max_bytes_per_send", .type = GL_OPT_SIZE, .def = "4MiB",
      .offset = offsetof(struct rw, max_bytes),
      .help = "About the most bytes of one request before compression." },
    { .name = "batch_send_deadline", .type = GL_OPT_DURATION, .def = "5s",
      .offset = offsetof(struct rw, deadline_ms),
      .help = "Longest a sample waits for its batch to fill before it is sent." },
    { .name = "min_shards", .type = GL_OPT_INT, .def = "1", .check = check_shards,
      .offset = offsetof(struct rw, min_shards), .help = "Fewest requests in flight at once." },
    { .name = "max_shards", .type = GL_OPT_INT, .def = "8", .check = check_shards,
      .offset = offsetof(struct rw, max_shards), .help = "Most requests in flight at once." },
    { .name = "send_metadata", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct rw, send_metadata),
      .help = "Send each family's type, help and unit with its samples." },
    GL_HTTP_OPTIONS(struct rw, http),
    { 0 }
};

/* ---- init ---------------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
    const struct gl_label *x = a, *y = b;
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c != 0 ? c : (int)x->name_len - (int)y->name_len;
}

/* Splits 'name value' items at their first blank; false when one has no value. */
static bool split_pairs(const struct gl_strlist *l, char ***names, const char ***values)
{
    *names = gl_calloc(l->count + 1, sizeof(**names));
    *values = gl_calloc(l->count + 1, sizeof(**values));
    for (size_t i = 0; i < l->count; i++) {
        const char *item = l->items[i];
        size_t n = strcspn(item, " \t");
        const char *v = item + n + strspn(item + n, " \t");
        (*names)[i] = gl_strndup(item, n);
        (*values)[i] = v;
        if (n == 0 || *v == '\0') {
            return false;
        }
    }
    return true;
}

static int read_pairs(struct gl_instance *ins, struct rw *rw)
{
    const char **values;
    bool ok = split_pairs(&rw->add_label, &rw->label_names, &values);
    rw->extra = gl_calloc(rw->add_label.count + 1, sizeof(*rw->extra));
    for (size_t i = 0; ok && i < rw->add_label.count; i++) {
        const char *name = rw->label_names[i];
        rw->extra[rw->n_extra++] = (struct gl_label){ name, (uint32_t)strlen(name), values[i],
                                                      (uint32_t)strlen(values[i]) };
    }
    gl_free(values);
    qsort(rw->extra, rw->n_extra, sizeof(*rw->extra), label_cmp);
    if (!ok) {
        gl_instance_option_error(ins, "add_label", "expected 'name value'");
        return GL_ECONFIG;
    }
    if (!split_pairs(&rw->header, &rw->header_names, &rw->header_values)) {
        gl_instance_option_error(ins, "header", "expected 'Name value'");
        return GL_ECONFIG;
    }
    return 0;
}

static void build_url(struct rw *rw)
{
    struct gl_buf b;
    gl_buf_init(&b);
    bool default_port = rw->port == (rw->tls ? 443 : 80);
    if (default_port) {
        gl_buf_puts(&b, rw->host);
    } else {
        gl_buf_printf(&b, "%s:%lld", rw->host, (long long)rw->port);
    }
    rw->url_host = gl_buf_take(&b);
    rw->url_path = gl_strdup(rw->uri[0] == '/' ? rw->uri : "/");
    gl_buf_printf(&b, "%s://%s%s%s", rw->tls ? "https" : "http", rw->url_host,
                  rw->uri[0] == '/' ? "" : "/", rw->uri);
    rw->url = gl_buf_take(&b);
}

static void register_metrics(struct gl_instance *ins, struct rw *rw)
{
    rw->m_samples = gl_metric_counter(ins, "remote_write_samples_total",
                                      "Samples the receiver accepted.");
    rw->m_requests = gl_metric_counter(ins, "remote_write_requests_total", "Requests answered.");
    rw->m_failed = gl_metric_counter(ins, "remote_write_requests_failed_total",
                                     "Requests that failed (then retried or dropped).");
    rw->m_retries = gl_metric_counter(ins, "remote_write_retries_total", "Requests retried.");
    rw->m_shards = gl_metric_gauge(ins, "remote_write_shards", "Shards sending at once.");
    rw->m_pending = gl_metric_gauge(ins, "remote_write_pending_samples",
                                    "Samples queued in the shards.");
}

static void rw_destroy(struct gl_instance *ins);

static int rw_init(struct gl_instance *ins)
{
    struct rw *rw = ins->state;
    char err[256];
    rw->ins = ins;
    rw->rng = (uint64_t)(uintptr_t)rw | 1;
    int rc = read_pairs(ins, rw);
    if (rc == 0 && rw->min_shards > rw->max_shards) {
        gl_instance_option_error(ins, "min_shards", "is above max_shards");
        rc = GL_ECONFIG;
    }
    if (rc == 0 && rw->http_user != NULL) {
        struct gl_buf cred, b;
        gl_buf_init(&cred);
        gl_buf_init(&b);
        gl_buf_printf(&cred, "%s:%s", rw->http_user, rw->http_passwd ? rw->http_passwd : "");
        gl_buf_puts(&b, "Basic ");
        gl_base64_encode(cred.data, cred.len, &b);
        gl_buf_close(&cred);
        rw->basic = gl_buf_take(&b);
    }
    if (rc == 0 && gl_http_client_init(&rw->http) < 0) {
        gl_instance_error(ins, "the HTTP client cannot start");
        rc = GL_EIO;
    }
    if (rc == 0 && rw->aws_auth) {
        rw->provider = gl_aws_provider_new(&rw->aws, ins->loop, &rw->http, ins, err,
                                           sizeof(err));
        if (rw->provider == NULL) {
            gl_instance_option_error(ins, "aws_auth", "%s", err);
            rc = GL_ECONFIG;
        }
    }
    if (rc < 0) {
        rw_destroy(ins);
        return rc;
    }
    build_url(rw);
    register_metrics(ins, rw);
    return 0;
}

/* ---- flushing ------------------------------------------------------------ */

void rw_flush_release(struct rw *rw, struct rw_flush *fl, uint32_t n)
{
    (void)rw;
    fl->outstanding -= n;
    if (fl->outstanding == 0) {
        struct gl_flush *f = fl->f;
        gl_free(fl);
        gl_flush_done(f, GL_OK);
    }
}

static void put_series(struct rw *rw, struct rw_flush *fl, const struct gl_family *fam,
                       const struct gl_series *s, uint32_t index)
{
    struct rw_item it = {
        .fl = fl, .index = index,
        .s = { .name = fam->name, .name_len = fam->name_len, .type = fam->type,
               .help = fam->help, .help_len = fam->help_len, .unit = fam->unit,
               .unit_len = fam->unit_len, .raw = s->raw, .raw_len = (uint32_t)s->raw_len,
               .batch_ts_ms = fam->batch_ts_ms },
    };
    it.samples = gl_rw_samples(&it.s);
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, fam->name, fam->name_len);
    h = gl_hash_fnv1a64(h, s->labels, s->labels_len);
    fl->outstanding++;
    rw_shard_push(&rw->queues[h % (uint64_t)rw->n_queues], &it);
}

/* Spreads a flush's series over the shards; it ends when the last is delivered. */
static void dispatch(struct rw *rw, struct gl_flush *f)
{
    struct rw_flush *fl = gl_calloc(1, sizeof(*fl));
    fl->f = f;
    fl->outstanding = 1; /* held while the series are spread */
    uint32_t base = 0;
    for (unsigned i = 0; i < f->n_chunks; i++) {
        struct gl_batch_iter it;
        struct gl_family fam;
        struct gl_series s;
        gl_batch_iter_init(&it, f->chunks[i]);
        while (gl_batch_next_family(&it, &fam) == 0) {
            while (gl_batch_next_series(&it, &s) == 0) {
                put_series(rw, fl, &fam, &s, base + s.index);
            }
        }
        base += f->chunks[i]->records;
    }
    rw_flush_release(rw, fl, 1);
}

static void rw_flush(struct gl_instance *ins, struct gl_flush *f)
{
    dispatch(ins->state, f);
}

/* ---- the shard count ------------------------------------------------------ */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Lets waiting queues send while shards are free, in turn from where the last one was. */
static void grant(struct rw *rw)
{
    for (int k = 0; k < rw->n_queues && rw->in_flight < rw->shards; k++) {
        struct rw_shard *sh = &rw->queues[(rw->next_grant + k) % rw->n_queues];
        if (sh->waiting) {
            rw->next_grant = (sh->index + 1) % rw->n_queues;
            rw_shard_wake(sh);
        }
    }
}

static void set_shards(struct rw *rw, int n)
{
    n = n < rw->min_shards ? (int)rw->min_shards : n > rw->max_shards ? (int)rw->max_shards : n;
    if (n == rw->shards) {
        return;
    }
    gl_log_info(rw->ins, "shards: %d -> %d", rw->shards, n);
    rw->shards = n;
    *rw->m_shards = (uint64_t)n;
    grant(rw);
}

bool rw_shard_acquire(struct rw *rw)
{
    if (rw->in_flight >= rw->shards) {
        return false;
    }
    rw->in_flight++;
    return true;
}

void rw_shard_release(struct rw *rw)
{
    rw->in_flight--;
    grant(rw);
}

/* Halves the shards, at most once a second: one outage answers many requests at once. */
void rw_throttled(struct rw *rw)
{
    uint64_t now = mono_ms();
    rw->throttled++;
    if (now - rw->last_cut_ms >= 1000) {
        rw->last_cut_ms = now;
        set_shards(rw, rw->shards / 2);
    }
}

/* Every 10 s: more shards while the queues grow, one fewer after a minute of empty queues. */
static void decide(struct rw *rw)
{
    uint64_t pending = 0;
    for (int i = 0; i < rw->n_queues; i++) {
        pending += rw->queues[i].samples;
    }
    *rw->m_pending = pending;
    if (rw->throttled > 0) {
        rw->idle_ticks = 0;
    } else if (pending > (uint64_t)rw->max_samples * (uint64_t)rw->shards) {
        rw->idle_ticks = 0;
        set_shards(rw, rw->shards * 2);
    } else if (pending == 0 && ++rw->idle_ticks >= 6) {
        rw->idle_ticks = 0;
        set_shards(rw, rw->shards - 1);
    }
    rw->throttled = 0;
}

static void on_tick(uv_timer_t *t)
{
    struct rw *rw = t->data;
    if (!rw->stopping && rw->ins->engine->state == GL_ENGINE_STOPPING) {
        /* The agent stops: what waits for its batch to fill goes now. */
        rw->stopping = true;
        for (int i = 0; i < rw->n_queues; i++) {
            rw_shard_send_now(&rw->queues[i]);
        }
    }
    if (++rw->ticks % DECIDE_EVERY == 0) {
        decide(rw);
    }
}

/* ---- lifecycle ----------------------------------------------------------- */

static int rw_start(struct gl_instance *ins)
{
    struct rw *rw = ins->state;
    rw->n_queues = (int)rw->max_shards;
    rw->shards = (int)rw->min_shards;
    for (int i = 0; i < rw->n_queues; i++) {
        rw_shard_init(rw, &rw->queues[i], i);
    }
    *rw->m_shards = (uint64_t)rw->shards;
    uv_timer_init(ins->loop, &rw->tick);
    rw->tick.data = rw;
    rw->tick_open = true;
    uv_timer_start(&rw->tick, on_tick, TICK_MS, TICK_MS);
    gl_log_info(ins, "remote write to %s%s", rw->url, rw->aws_auth ? " (SigV4)" : "");
    return 0;
}

static void rw_stop(struct gl_instance *ins)
{
    struct rw *rw = ins->state;
    rw->stopping = true;
    /* Requests in flight are canceled; their flushes are ended by the core, not acknowledged. */
    gl_http_client_close(&rw->http);
    for (int i = 0; i < rw->n_queues; i++) {
        for (size_t j = 0; j < rw->queues[i].count; j++) {
            struct rw_item *it = &rw->queues[i].items[(rw->queues[i].head + j) %
                                                       rw->queues[i].cap];
            if (--it->fl->outstanding == 0) {
                gl_free(it->fl);
            }
        }
        rw_shard_abandon(&rw->queues[i]);
        rw_shard_close(&rw->queues[i]);
    }
    rw->n_queues = 0;
    if (rw->tick_open) {
        uv_close((uv_handle_t *)&rw->tick, NULL);
        rw->tick_open = false;
    }
}

static void rw_destroy(struct gl_instance *ins)
{
    struct rw *rw = ins->state;
    if (rw->provider != NULL) {
        gl_aws_provider_free(rw->provider);
        rw->provider = NULL;
    }
    for (size_t i = 0; rw->header_names != NULL && i < rw->header.count; i++) {
        gl_free(rw->header_names[i]);
    }
    for (size_t i = 0; rw->label_names != NULL && i < rw->add_label.count; i++) {
        gl_free(rw->label_names[i]);
    }
    gl_free(rw->header_names);
    gl_free(rw->label_names);
    rw->label_names = NULL;
    gl_free(rw->header_values);
    gl_free(rw->extra);
    gl_free(rw->basic);
    gl_free(rw->url);
    gl_free(rw->url_host);
    gl_free(rw->url_path);
    rw->header_names = NULL;
    rw->header_values = NULL;
    rw->extra = NULL;
    rw->basic = rw->url = rw->url_host = rw->url_path = NULL;
}

const struct gl_plugin gl_out_prometheus_remote_write = {
    .kind = GL_OUTPUT, .name = "prometheus_remote_write", .data = GL_METRICS, .workers = 16,
    .description = "Send metrics with Prometheus remote-write 1.0 (snappy protobuf, SigV4 for AMP)",
    .options = rw_options, .state_size = sizeof(struct rw),
    .init = rw_init, .start = rw_start, .flush = rw_flush, .stop = rw_stop,
    .destroy = rw_destroy,
};

/*
 * The cloudwatch_logs output: records to Amazon CloudWatch Logs with
 * PutLogEvents, signed with SigV4 and the AWS credential chain. Each record
 * is one event (its body as JSON, or one key's value with log_key); metrics
 * become Embedded Metric Format documents (out_cloudwatch_logs_emf.c); in a
 * log group and stream named by
 * fixed names or templates. A flush becomes a job of the queue
 * (out_cloudwatch_logs_queue.c), which cuts batches, sends them stream by
 * stream and retries each batch itself, so a chunk spread over many streams
 * never re-sends what was accepted; the flush ends (GL_OK, with per-record
 * drops) when its last batch is accepted or given up.
 * This file: options, lifecycle, records -> events, and the HTTP transport.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/json.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- options ---- */

static const char *check_retention(const void *v)
{
    static const int64_t days[] = { 0,   1,   3,   5,    7,    14,   30,   60,   90,
                                    120, 150, 180, 365,  400,  545,  731,  1096, 1827,
                                    2192, 2557, 2922, 3288, 3653 };
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        if (*(const int64_t *)v == days[i]) {
            return NULL;
        }
    }
    return "must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
           "1096, 1827, 2192, 2557, 2922, 3288, 3653";
}

static const char *check_concurrency(const void *v)
{
    int64_t n = *(const int64_t *)v;
    return n >= 1 && n <= 256 ? NULL : "must be between 1 and 256";
}

static const char *const formats[] = { "json", "json_emf", NULL };
static const char *check_tags(const void *v)
{
    const struct gl_strlist *l = v;
    for (size_t i = 0; i < l->count; i++) {
        if (strchr(l->items[i], '=') == NULL || l->items[i][0] == '=') {
            return "expected key=value items";
        }
    }
    return NULL;
}

static const char *const group_classes[] = { "STANDARD", "INFREQUENT_ACCESS", NULL };

static const struct gl_option cwl_options[] = {
    { .name = "log_group_name", .type = GL_OPT_STR, .offset = offsetof(struct cwl, group_name),
      .help = "Log group, or the fallback of log_group_template when a key is missing." },
    { .name = "log_group_template", .type = GL_OPT_STR,
      .offset = offsetof(struct cwl, group_template_text),
      .help = "Log group from the record: $TAG, $TAG[n] and $key['sub'] accessors." },
    { .name = "log_stream_name", .type = GL_OPT_STR,
      .offset = offsetof(struct cwl, stream_name),
      .help = "Log stream, or the fallback of log_stream_template." },
    { .name = "log_stream_prefix", .type = GL_OPT_STR,
      .offset = offsetof(struct cwl, stream_prefix),
      .help = "Log stream named this prefix followed by the record's tag." },
    { .name = "log_stream_template", .type = GL_OPT_STR,
      .offset = offsetof(struct cwl, stream_template_text),
      .help = "Log stream from the record, as log_group_template." },
    { .name = "log_key", .type = GL_OPT_STR, .offset = offsetof(struct cwl, log_key),
      .help = "Send only this key's value (a string as is) instead of the whole record." },
    { .name = "log_format", .type = GL_OPT_STR, .def = "json", .choices = formats,
      .offset = offsetof(struct cwl, log_format),
      .help = "json (metrics always go as Embedded Metric Format; json_emf is taken as a "
              "synonym for Fluent Bit configs)." },
    { .name = "log_retention_days", .type = GL_OPT_INT, .def = "0", .check = check_retention,
      .offset = offsetof(struct cwl, retention_days),
      .help = "Retention set on log groups this output creates (0: never expire)." },
    { .name = "log_group_class", .type = GL_OPT_STR, .choices = group_classes,
      .offset = offsetof(struct cwl, group_class),
      .help = "Class of the log groups this output creates (STANDARD or INFREQUENT_ACCESS)." },
    { .name = "log_group_tags", .type = GL_OPT_LIST, .check = check_tags,
      .offset = offsetof(struct cwl, group_tags),
      .help = "Tags of the log groups this output creates: key=value, comma-separated." },
    { .name = "auto_create_group", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct cwl, auto_create_group),
      .help = "Create a missing log group (streams are always created)." },
    { .name = "max_concurrency", .type = GL_OPT_INT, .def = "16", .check = check_concurrency,
      .offset = offsetof(struct cwl, max_concurrency),
      .help = "Most requests in flight over all streams (throttling halves the limit, success "
              "adds one). The output has 16 flushes in flight unless workers says otherwise." },
    { .name = "endpoint", .type = GL_OPT_STR, .offset = offsetof(struct cwl, endpoint),
      .help = "CloudWatch Logs endpoint (default https://logs.<region>.amazonaws.com)." },
    { .name = "metric_namespace", .type = GL_OPT_STR, .def = "gleaner",
      .offset = offsetof(struct cwl, metric_namespace),
      .help = "Namespace of the metrics sent as Embedded Metric Format." },
    { .name = "extra_user_agent", .type = GL_OPT_STR,
      .offset = offsetof(struct cwl, extra_user_agent),
      .help = "Appended to the User-Agent header (gleaner/<version> <this>), as AWS's set-ups "
              "use to tell their traffic apart." },
    { .name = "metric_dimensions", .type = GL_OPT_LIST,
      .offset = offsetof(struct cwl, metric_dimensions),
      .help = "Labels that become EMF dimensions (default every label, at most 30)." },
    GL_AWS_OPTIONS(struct cwl, aws),
    GL_HTTP_OPTIONS(struct cwl, http),
    { 0 }
};

/* ---- records to events ---- */

/*
 * The job's arena holds each message already escaped as the content of a
 * JSON string, so a request body is the messages copied between quotes.
 * A record's JSON is written escaped in one pass (gl_json_write_quoted);
 * other messages (a log_key value, an EMF document, a record too long for
 * one event) are made as plain text in `plain`, cut to the event limit,
 * then escaped into the arena.
 */
struct emit_ctx {
    struct cwl *c;
    struct cwl_job *j;
    struct cwl_stream *st;
    int64_t ts_ms;
    uint32_t index;
    int64_t now_ms;
    int64_t max_age_ms;
    struct gl_buf *plain;
};

/* The oldest event the service takes: 14 days, or the group's retention when shorter. */
static int64_t max_age_of(const struct cwl *c)
{
    return c->retention_days > 0 && c->retention_days < 14 ? c->retention_days * 24 * 3600 * 1000
                                                           : CWL_MAX_AGE_MS;
}

/* Adds the message escaped at arena[off..], plain bytes long in the service's count. */
static void add_escaped(struct emit_ctx *x, size_t off, size_t plain)
{
    struct gl_buf *arena = &x->j->arena;
    if (plain == 0) {
        arena->len = off;
        cwl_job_drop(x->j, x->index, "empty_message");
        return;
    }
    cwl_job_add(x->j, x->st, x->ts_ms, off, plain, arena->len - off, x->index);
}

/*
 * Adds a plain message (valid UTF-8, as the JSON writer or cwl_utf8_append
 * made it), cut to the event limit, escaped into the arena.
 */
static void add_plain(struct emit_ctx *x, char *text, size_t len)
{
    size_t fit = cwl_event_fit(text, len);
    if (fit != len) {
        (*x->c->m.truncated)++;
    }
    size_t off = x->j->arena.len;
    add_escaped(x, off, gl_json_escape(&x->j->arena, text, fit));
}

/* An EMF document (plain, at the end of x->plain): an event of its own time. */
static void emit_doc(void *data, size_t off, size_t len, int64_t ts_ms, uint32_t index)
{
    struct emit_ctx *x = data;
    x->ts_ms = ts_ms;
    x->index = index;
    const char *reason = cwl_event_age_check(ts_ms, x->now_ms, x->max_age_ms);
    if (reason != NULL) {
        cwl_job_drop(x->j, index, reason);
    } else {
        add_plain(x, x->plain->data + off, len);
    }
    x->plain->len = off;
}

static void drop_series(void *data, uint32_t index, const char *reason)
{
    struct emit_ctx *x = data;
    cwl_job_drop(x->j, index, reason);
}

/*
 * A name as its template renders it for one record, unsanitised, in out:
 * the template when every key is there, else the fixed name, else prefix +
 * tag, else what the template gave.
 */
static void render_raw(const struct cwl_template *t, const char *fixed, const char *prefix,
                       const struct gl_record *rec, struct gl_buf *out)
{
    gl_buf_reset(out);
    if (t->nparts == 0 || cwl_template_render(t, rec->tag, rec->tag_len, rec->body, out) < 0) {
        if (fixed != NULL || prefix != NULL) {
            gl_buf_reset(out);
        }
        if (fixed != NULL) {
            gl_buf_puts(out, fixed);
        } else if (prefix != NULL) {
            gl_buf_puts(out, prefix);
            gl_buf_append(out, rec->tag, rec->tag_len);
        }
    }
}

/* Sanitises a rendered name in place and NUL-terminates it; empty becomes `empty`. */
static const char *finish_name(struct gl_buf *out, enum cwl_name_kind kind, const char *empty)
{
    out->len = out->len > 0 ? cwl_name_sanitize(kind, out->data, out->len) : 0;
    if (out->len == 0) {
        gl_buf_puts(out, empty);
    }
    gl_buf_putc(out, '\0');
    return out->data;
}

/*
 * The buffers names are rendered in during a flush, and the stream the last
 * rendering led to: records of one pod follow each other, so most records
 * find their stream by comparing two short strings, not by sanitising and
 * hashing their names.
 */
struct names {
    struct gl_buf group, stream;        /* this record's, as rendered */
    struct gl_buf last_group, last_stream;
    struct cwl_stream *last;
    struct gl_buf plain;                /* a plain message's text */
};

static bool same(const struct gl_buf *a, const struct gl_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static struct cwl_stream *stream_of(struct cwl *c, const struct gl_record *rec, struct names *n)
{
    render_raw(&c->group_template, c->group_name, NULL, rec, &n->group);
    render_raw(&c->stream_template, c->stream_name, c->stream_prefix, rec, &n->stream);
    if (n->last != NULL && same(&n->group, &n->last_group) && same(&n->stream, &n->last_stream)) {
        return n->last;
    }
    gl_buf_reset(&n->last_group);
    gl_buf_append(&n->last_group, n->group.data, n->group.len);
    gl_buf_reset(&n->last_stream);
    gl_buf_append(&n->last_stream, n->stream.data, n->stream.len);
    const char *group = finish_name(&n->group, CWL_GROUP, "gleaner");
    const char *stream = finish_name(&n->stream, CWL_STREAM, "default");
    n->last = cwl_stream_get(c, group, stream);
    return n->last;
}

/*
 * Writes one record's message (JSON body or log_key value) into the job;
 * returns the record's stream, whether its event was kept or dropped.
 */
static struct cwl_stream *add_record(struct cwl *c, struct cwl_job *j,
                                     const struct gl_record *rec, int64_t now_ms,
                                     struct names *names)
{
    struct emit_ctx x = { .c = c, .j = j, .ts_ms = (int64_t)(rec->ts / 1000000),
                          .index = rec->index, .plain = &names->plain };
    x.st = stream_of(c, rec, names);
    const char *reason = cwl_event_age_check(x.ts_ms, now_ms, max_age_of(c));
    if (reason != NULL) {
        cwl_job_drop(j, rec->index, reason);
        return x.st;
    }
    struct gl_buf *plain = x.plain;
    gl_buf_reset(plain);
    if (c->log_key == NULL) {
        size_t off = j->arena.len;
        size_t n = gl_json_write_quoted(&j->arena, rec->body);
        if (n <= CWL_EVENT_BYTES_MAX) {
            add_escaped(&x, off, n);
            return x.st;
        }
        j->arena.len = off; /* too long for one event: cut as plain text */
        gl_json_write(plain, rec->body);
    } else {
        const msgpack_object *v = gl_accessor_get(&c->log_key_acc, rec->body);
        if (v == NULL) {
            cwl_job_drop(j, rec->index, "log_key_missing");
            return x.st;
        }
        if (v->type == MSGPACK_OBJECT_STR || v->type == MSGPACK_OBJECT_BIN) {
            cwl_utf8_append(plain, v->via.str.ptr, v->via.str.size);
        } else {
            gl_json_write(plain, v);
        }
    }
    add_plain(&x, plain->data != NULL ? plain->data : "", plain->len);
    return x.st;
}

/* The stream of a metrics chunk's documents (from its tag). */
static struct cwl_stream *metrics_stream(struct cwl *c, const struct gl_chunk *chunk,
                                         struct names *names)
{
    static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
    struct gl_record rec = { .tag = chunk->tag, .tag_len = chunk->tag_len, .body = &empty };
    return stream_of(c, &rec, names);
}

/*
 * A metrics chunk: EMF documents in the group and stream its tag names (a
 * template of record keys has no record here: the fixed name or the
 * prefix and tag stand in).
 */
static struct cwl_stream *add_metrics(struct cwl *c, struct cwl_job *j,
                                      const struct gl_chunk *chunk, uint32_t base,
                                      int64_t now_ms, struct names *names)
{
    struct emit_ctx x = { .c = c, .j = j, .now_ms = now_ms, .max_age_ms = max_age_of(c),
                          .plain = &names->plain };
    x.st = metrics_stream(c, chunk, names);
    struct cwl_emf e = { .ns = c->metric_namespace, .dims = &c->metric_dimensions };
    struct cwl_emf_sink sink = { .emit = emit_doc, .drop = drop_series, .data = &x };
    gl_buf_reset(x.plain);
    cwl_emf_write(&e, chunk, base, x.plain, &sink);
    return x.st;
}

/*
 * A flush is encoded in parts of about FILL_BYTES of arena: the next part
 * once the batches of the one before are done. The arena, not the chunks,
 * is what grows with what records carry (the kubernetes filter's metadata
 * makes a record's message several times its chunk bytes), so this is what
 * keeps a flush's memory bounded whatever its records are; 2 MiB makes two
 * full PutLogEvents for a busy stream.
 */
#define FILL_BYTES (2u << 20)

/* Where the encoding of a flush is: its chunk, the record in it, the names met. */
struct fill {
    struct gl_flush *f;
    unsigned chunk;
    uint32_t base;          /* record indexes of the chunks before */
    bool reading;           /* it is open on chunk `chunk` */
    bool claimed;           /* the job claimed the streams of the records after part 1 */
    struct gl_chunk_iter it;
    struct names names;
};

static void names_close(struct names *n)
{
    gl_buf_close(&n->group);
    gl_buf_close(&n->stream);
    gl_buf_close(&n->last_group);
    gl_buf_close(&n->last_stream);
    gl_buf_close(&n->plain);
}

static void fill_free(struct fill *x)
{
    if (x->reading) {
        gl_chunk_iter_close(&x->it);
    }
    names_close(&x->names);
    gl_free(x);
}

/*
 * After a first part that leaves records over: the job claims the stream of
 * each of them (queue.c), so that no later flush sends on those streams
 * before this one's next parts. Reads on from where the part stopped.
 */
static void claim_rest(struct cwl_job *j, struct fill *x)
{
    struct gl_flush *f = x->f;
    struct names names = { 0 };
    struct gl_record rec;
    for (unsigned i = x->chunk; i < f->n_chunks; i++) {
        const struct gl_chunk *chunk = f->chunks[i];
        if (chunk->type == GL_METRICS) {
            cwl_job_claim(j, metrics_stream(j->c, chunk, &names));
            continue;
        }
        struct gl_chunk_iter it;
        gl_chunk_iter_init(&it, chunk);
        if (i == x->chunk && x->reading) {
            it.off = x->it.off;
            it.index = x->it.index;
        }
        while (gl_chunk_next(&it, &rec) == 0) {
            cwl_job_claim(j, stream_of(j->c, &rec, &names));
        }
        gl_chunk_iter_close(&it);
    }
    names_close(&names);
}

/* Encodes records into the job until its arena passes FILL_BYTES or the flush ends. */
static void fill_job(struct cwl_job *j)
{
    struct fill *x = j->fill;
    struct gl_flush *f = x->f;
    struct cwl *c = j->c;
    struct gl_record rec;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    x->names.last = NULL; /* streams left idle since the last part may have been forgotten */
    while (x->chunk < f->n_chunks && j->arena.len < FILL_BYTES) {
        const struct gl_chunk *chunk = f->chunks[x->chunk];
        if (chunk->type == GL_METRICS) {
            struct cwl_stream *st = add_metrics(c, j, chunk, x->base, now_ms, &x->names);
            if (x->claimed) {
                cwl_job_unclaim(j, st);
            }
        } else {
            if (!x->reading) {
                gl_chunk_iter_init(&x->it, chunk);
                x->reading = true;
            }
            while (j->arena.len < FILL_BYTES && gl_chunk_next(&x->it, &rec) == 0) {
                rec.index += x->base;  /* indexes count across the flush's chunks */
                struct cwl_stream *st = add_record(c, j, &rec, now_ms, &x->names);
                if (x->claimed) {
                    cwl_job_unclaim(j, st);
                }
            }
            if (j->arena.len >= FILL_BYTES) {
                break; /* this chunk goes on in the next part */
            }
            gl_chunk_iter_close(&x->it);
            x->reading = false;
        }
        x->base += chunk->records;
        x->chunk++;
    }
    j->more = x->chunk < f->n_chunks;
    if (j->more && !x->claimed) {
        claim_rest(j, x);
        x->claimed = true;
    }
    if (!j->more) {
        j->fill = NULL;
        fill_free(x);
    }
    gl_flush_hold(f, cwl_job_bytes(j));
}

static void cwl_flush(struct gl_instance *ins, struct gl_flush *f)
{
    struct cwl *c = ins->state;
    struct cwl_job *j = cwl_job_new(c, f, f->records);
    struct fill *x = gl_calloc(1, sizeof(*x));
    x->f = f;
    j->fill = x;
    /*
     * Room for one part, FILL_BYTES and most records that pass it, taken at
     * once (pages never written cost nothing) and always of this size, so
     * that the pool's buffers fit every job.
     */
    gl_buf_pool_take(&j->arena, FILL_BYTES + (64u << 10));
    fill_job(j);
    cwl_job_submit(j);
}

/* ---- the queue's operations in the agent ---- */

static void op_drop(struct cwl_job *j, uint32_t index, const char *reason)
{
    gl_flush_drop(j->flush, index, reason);
}

static void op_done(struct cwl_job *j)
{
    gl_flush_done(j->flush, GL_OK);
}

/* A job given up at shutdown may still be part way through its flush. */
static void op_forget(struct cwl_job *j)
{
    if (j->fill != NULL) {
        fill_free(j->fill);
        j->fill = NULL;
    }
}

static void on_timer(uv_timer_t *t)
{
    cwl_pump(t->data);
}

static void op_arm(struct cwl *c, uint64_t delay_ms)
{
    if (c->timer_open) {
        uv_timer_start(&c->timer, on_timer, delay_ms, 0);
    }
}

static uint64_t op_now(struct cwl *c)
{
    return uv_now(c->ins->loop);
}

/* ---- lifecycle ---- */

/* Parses the name options; reports and returns GL_EINVAL when they are unusable. */
static int init_names(struct gl_instance *ins, struct cwl *c)
{
    if (c->group_name == NULL && c->group_template_text == NULL) {
        gl_instance_error(ins, "log_group_name or log_group_template is required");
        return GL_EINVAL;
    }
    if (c->stream_name == NULL && c->stream_prefix == NULL && c->stream_template_text == NULL) {
        gl_instance_error(ins, "log_stream_name, log_stream_prefix or log_stream_template is "
                               "required");
        return GL_EINVAL;
    }
    if (c->group_template_text != NULL &&
        cwl_template_parse(&c->group_template, c->group_template_text) < 0) {
        gl_instance_option_error(ins, "log_group_template", "bad record accessor");
        return GL_EINVAL;
    }
    if (c->stream_template_text != NULL &&
        cwl_template_parse(&c->stream_template, c->stream_template_text) < 0) {
        gl_instance_option_error(ins, "log_stream_template", "bad record accessor");
        return GL_EINVAL;
    }
    if (c->log_key != NULL && gl_accessor_parse(&c->log_key_acc, c->log_key,
                                                strlen(c->log_key)) < 0) {
        gl_instance_option_error(ins, "log_key", "expected key or $key['sub']");
        return GL_EINVAL;
    }
    return 0;
}

/*
 * Builds url and host from endpoint or the region's default. A region that
 * instance metadata is still to tell leaves them NULL: the first request
 * builds them (cwl_endpoint), once credentials, and so the region, came.
 */
static int init_endpoint(struct gl_instance *ins, struct cwl *c)
{
    struct gl_buf b;
    const char *region = gl_aws_provider_region(c->provider);
    if (c->endpoint == NULL && region == NULL) {
        return 0;
    }
    gl_buf_init(&b);
    if (c->endpoint != NULL) {
        gl_buf_puts(&b, c->endpoint);
    } else {
        gl_buf_printf(&b, "https://logs.%s.amazonaws.com", region);
    }
    while (b.len > 0 && b.data[b.len - 1] == '/') {
        b.len--;
    }
    gl_buf_putc(&b, '/');
    c->url = gl_buf_take(&b);
    const char *scheme = strstr(c->url, "://");
    if (scheme == NULL || scheme[3] == '/' || strchr(scheme + 3, '/') != strrchr(c->url, '/')) {
        gl_instance_option_error(ins, "endpoint", "expected http(s)://host[:port]");
        return GL_EINVAL;
    }
    c->host = gl_strndup(scheme + 3, strlen(scheme + 3) - 1);
    return 0;
}

void cwl_endpoint(struct cwl *c)
{
    if (c->url == NULL) {
        init_endpoint(c->ins, c);
    }
}

static void init_metrics(struct gl_instance *ins, struct cwl *c)
{
    static const char *const ok[CWL_ACTIONS][2] = {
        { "cloudwatch_put_log_events_total", "cloudwatch_put_log_events_failed_total" },
        { "cloudwatch_create_log_group_total", "cloudwatch_create_log_group_failed_total" },
        { "cloudwatch_create_log_stream_total", "cloudwatch_create_log_stream_failed_total" },
        { "cloudwatch_put_retention_policy_total",
          "cloudwatch_put_retention_policy_failed_total" },
    };
    for (int a = 0; a < CWL_ACTIONS; a++) {
        c->m.ok[a] = gl_metric_counter(ins, ok[a][0], "CloudWatch Logs requests that succeeded.");
        c->m.failed[a] = gl_metric_counter(ins, ok[a][1], "CloudWatch Logs requests that failed.");
    }
    c->m.events = gl_metric_counter(ins, "cloudwatch_events_sent_total", "Log events accepted.");
    c->m.bytes = gl_metric_counter(ins, "cloudwatch_bytes_sent_total",
                                   "Bytes of accepted batches (message bytes + 26 per event).");
    c->m.fill = gl_metric_gauge(ins, "cloudwatch_batch_fill_percent",
                                "Recent batches' average size, in percent of 1 MiB.");
    c->m.throttles = gl_metric_counter(ins, "cloudwatch_throttles_total",
                                       "ThrottlingException answers.");
    c->m.concurrency = gl_metric_gauge(ins, "cloudwatch_requests_in_flight",
                                       "Requests in flight now.");
    c->m.concurrency_limit = gl_metric_gauge(ins, "cloudwatch_concurrency_limit",
                                             "Requests allowed in flight now (adaptive).");
    c->m.truncated = gl_metric_counter(ins, "cloudwatch_events_truncated_total",
                                       "Events cut to 256 KiB - 26 bytes.");
}

static void cwl_destroy(struct gl_instance *ins)
{
    struct cwl *c = ins->state;
    c->stopping = true; /* credential waiters the provider calls back now only clean up */
    if (c->buckets != NULL) {
        cwl_queue_close(c);
    }
    gl_http_client_close(&c->http);
    gl_aws_provider_free(c->provider);
    c->provider = NULL;
    cwl_template_close(&c->group_template);
    cwl_template_close(&c->stream_template);
    gl_accessor_close(&c->log_key_acc);
    gl_free(c->url);
    gl_free(c->host);
    c->url = c->host = NULL;
}

static int cwl_init(struct gl_instance *ins)
{
    struct cwl *c = ins->state;
    char err[256] = "";
    int rc;
    c->ins = ins;
    rc = gl_http_client_init(&c->http);
    if (rc < 0) {
        gl_instance_error(ins, "the HTTP client cannot start");
        goto fail;
    }
    rc = init_names(ins, c);
    if (rc < 0) {
        goto fail;
    }
    c->provider = gl_aws_provider_new(&c->aws, ins->loop, &c->http, ins, err, sizeof(err));
    if (c->provider == NULL) {
        gl_instance_error(ins, "%s", err);
        rc = GL_EINVAL;
        goto fail;
    }
    rc = init_endpoint(ins, c);
    if (rc < 0) {
        goto fail;
    }
    init_metrics(ins, c);
    c->retry_base_ms = ins->engine ? ins->engine->svc.sched_base_ms : 1000;
    c->retry_cap_ms = ins->engine ? ins->engine->svc.sched_cap_ms : 60000;
    c->retry_limit = ins->core ? ins->core->opts.retry_limit : -1;
    c->ops = (struct cwl_ops){ .put = cwl_transport_put, .create = cwl_transport_create,
                               .drop = op_drop, .done = op_done, .fill = fill_job,
                               .forget = op_forget, .arm = op_arm,
                               .now = op_now };
    cwl_queue_init(c);
    return 0;
fail:
    cwl_destroy(ins);
    return rc;
}

static int cwl_start(struct gl_instance *ins)
{
    struct cwl *c = ins->state;
    uv_timer_init(ins->loop, &c->timer);
    c->timer.data = c;
    c->timer_open = true;
    return 0;
}

static void abandon_flush(void *flush)
{
    gl_flush_done(flush, GL_RETRY);
}

/*
 * Requests in flight are canceled (their answers are ignored), then every
 * job left ends with GL_RETRY: at stop that means not acknowledged, so the
 * records are read again on restart.
 */
static void cwl_stop(struct gl_instance *ins)
{
    struct cwl *c = ins->state;
    c->stopping = true;
    gl_http_client_close(&c->http);
    cwl_jobs_abandon(c, abandon_flush);
    /* Its refresh and retry timers must not outlive the pipeline (they kept the loop alive). */
    gl_aws_provider_free(c->provider);
    c->provider = NULL;
    if (c->timer_open) {
        c->timer_open = false;
        uv_close((uv_handle_t *)&c->timer, NULL);
    }
}

const struct gl_plugin gl_out_cloudwatch_logs = {
    .kind = GL_OUTPUT, .name = "cloudwatch_logs", .data = GL_LOGS | GL_METRICS,
    .description = "Send records to Amazon CloudWatch Logs (PutLogEvents, SigV4, EMF)",
    .options = cwl_options, .state_size = sizeof(struct cwl), .workers = 16,
    .flush_max_bytes = 1u << 20,
    .init = cwl_init, .start = cwl_start, .flush = cwl_flush, .stop = cwl_stop,
    .destroy = cwl_destroy,
};

/*
 * The es output: records to Elasticsearch 7/8 and OpenSearch 1/2 (self-hosted,
 * Elastic Cloud, Amazon OpenSearch Service and Serverless) with the bulk API,
 * under Fluent Bit's option names and meanings. A flush (several queued
 * chunks, up to flush_max_bytes) becomes a job of the queue
 * (out_es_queue.c): one bulk item per record, cut into requests of at most
 * bulk_max_size, each answer read item by item, so only what the cluster
 * refused for now is sent again, what it rejected for good is counted (or
 * dead-lettered), and with generate_id nothing is ever stored twice.
 * This file: options, lifecycle, the server's version, flushes -> jobs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/gzip.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "out_es.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- options ---- */

static const char *const operations[] = { "create", "index", "update", "upsert", NULL };
static const char *const compressions[] = { "gzip", NULL };
static const char *const aws_services[] = { "es", "aoss", NULL };

static const char *check_port(const void *v)
{
    int64_t n = *(const int64_t *)v;
    return n >= 1 && n <= 65535 ? NULL : "must be between 1 and 65535";
}

static const char *check_bulk_max(const void *v)
{
    size_t n = *(const size_t *)v;
    return n >= 1024 && n <= (1u << 30) ? NULL : "must be between 1KiB and 1GiB";
}

/* buffer_size: a size, or false (Fluent Bit's "unlimited"). */
static const char *check_buffer_size(const void *v)
{
    const char *s = *(char *const *)v;
    size_t n;
    bool b;
    if (s == NULL || gl_parse_size(s, &n) == 0 || (gl_parse_bool(s, &b) == 0 && !b)) {
        return NULL;
    }
    return "expected a size like 512KiB, or false for no limit";
}

static const char *check_version(const void *v)
{
    struct es_version ver;
    const char *s = *(char *const *)v;
    return s == NULL || es_version_parse_option(s, &ver) == 0
               ? NULL : "expected a version like 8.13, 7.17 or 'opensearch 2.11'";
}

#define ES_STR(n, f, d, h) { .name = n, .type = GL_OPT_STR, .def = d, \
                             .offset = offsetof(struct es, f), .help = h }
#define ES_BOOL(n, f, d, h) { .name = n, .type = GL_OPT_BOOL, .def = d, \
                              .offset = offsetof(struct es, f), .help = h }

static const struct gl_option es_options[] = {
    ES_STR("host", host, "127.0.0.1", "Host name or address of the cluster."),
    { .name = "port", .type = GL_OPT_INT, .def = "9200", .check = check_port,
      .offset = offsetof(struct es, port), .help = "TCP port of the cluster." },
    ES_STR("path", path, NULL, "Path prefix before /_bulk, for a cluster behind a proxy."),
    ES_BOOL("tls", tls, "off", "Connect with https (tls.* options below)."),
    ES_STR("index", index, "fluent-bit", "Index (or data stream) the records go to."),
    ES_STR("type", type, NULL, "Mapping type sent as _type, only to servers that still have "
           "types (Elasticsearch 7, OpenSearch 1) and unless suppress_type_name."),
    ES_BOOL("logstash_format", logstash_format, "off",
            "Index per day: logstash_prefix, separator and the record's date."),
    ES_STR("logstash_prefix", logstash_prefix, "logstash", "Index prefix with logstash_format."),
    ES_STR("logstash_prefix_key", logstash_prefix_key, NULL,
           "Record key ($a['b'] accessor) whose value is the prefix, when the record has it."),
    ES_STR("logstash_prefix_separator", logstash_prefix_separator, "-",
           "Between the prefix and the date."),
    ES_STR("logstash_dateformat", logstash_dateformat, "%Y.%m.%d",
           "strftime format of the index date (UTC)."),
    ES_STR("time_key", time_key, "@timestamp",
           "Key of the record's time in each document (kept as is when the record has it)."),
    ES_STR("time_key_format", time_key_format, "%Y-%m-%dT%H:%M:%S",
           "strftime format of time_key, followed by milliseconds (or nanoseconds) and Z."),
    ES_BOOL("time_key_nanos", time_key_nanos, "off", "Nanoseconds in time_key."),
    ES_BOOL("include_tag_key", include_tag_key, "off", "Add the record's tag as tag_key."),
    ES_STR("tag_key", tag_key, "_flb-key", "Key of the tag with include_tag_key."),
    ES_BOOL("generate_id", generate_id, "off",
            "Give each document an _id from where its record came from (a file and offset), "
            "else its time and content: sent twice, it is stored once."),
    ES_STR("id_key", id_key, NULL, "Record key whose value is the _id (wins over generate_id)."),
    { .name = "write_operation", .type = GL_OPT_STR, .def = "create", .choices = operations,
      .offset = offsetof(struct es, write_operation),
      .help = "Bulk action: create (data streams too), index, update or upsert (these two "
              "need id_key or generate_id)." },
    ES_BOOL("replace_dots", replace_dots, "off", "Replace dots in keys with underscores."),
    ES_BOOL("suppress_type_name", suppress_type_name, "off", "Never send _type."),
    ES_BOOL("current_time_index", current_time_index, "off",
            "Date the logstash index with the time of sending, not the record's."),
    ES_STR("pipeline", pipeline, NULL, "Ingest pipeline the cluster runs on each document."),
    { .name = "compress", .type = GL_OPT_STR, .choices = compressions,
      .offset = offsetof(struct es, compress), .help = "gzip: compress request bodies." },
    { .name = "buffer_size", .type = GL_OPT_STR, .check = check_buffer_size,
      .offset = offsetof(struct es, buffer_size),
      .help = "Largest response read (default net.response_max); false: up to 256MiB." },
    ES_STR("http_user", http_user, NULL, "User for basic authentication."),
    ES_STR("http_passwd", http_passwd, NULL,
           "Password for basic authentication; write ${VAR} to take it from the environment. "
           "Never logged."),
    ES_STR("http_passwd_file", http_passwd_file, NULL,
           "File holding the password (a mounted Secret), read when the configuration is loaded."),
    ES_STR("http_api_key", http_api_key, NULL,
           "API key (base64 of id:key), sent as Authorization: ApiKey."),
    ES_STR("cloud_id", cloud_id, NULL, "Elastic Cloud deployment ID: sets host, port and tls."),
    ES_STR("cloud_auth", cloud_auth, NULL, "Elastic Cloud user:password (basic authentication)."),
    ES_BOOL("aws_auth", aws_auth, "off",
            "Sign requests with SigV4 (Amazon OpenSearch Service and Serverless)."),
    ES_STR("aws_region", aws.region, NULL,
           "AWS region (default AWS_REGION or AWS_DEFAULT_REGION)."),
    ES_STR("aws_role_arn", aws.role_arn, NULL, "A role to assume with the credentials found."),
    ES_STR("aws_external_id", aws.external_id, NULL, "External ID for aws_role_arn."),
    ES_STR("aws_sts_endpoint", aws.sts_endpoint, NULL, "STS endpoint (default the regional one)."),
    ES_STR("aws_profile", aws.profile, NULL, "Profile of the shared credentials file."),
    { .name = "aws_service_name", .type = GL_OPT_STR, .def = "es", .choices = aws_services,
      .offset = offsetof(struct es, aws_service_name),
      .help = "Service SigV4 signs for: es (OpenSearch Service) or aoss (Serverless)." },
    ES_BOOL("trace_output", trace_output, "off", "Print every request body on stdout."),
    ES_BOOL("trace_error", trace_error, "off",
            "Print every rejected document with its error on stderr."),
    ES_STR("dead_letter_index", dead_letter_index, NULL,
           "Write documents rejected for good to this index, as text with the error."),
    { .name = "bulk_max_size", .type = GL_OPT_SIZE, .def = "5MiB", .check = check_bulk_max,
      .offset = offsetof(struct es, bulk_max),
      .help = "Largest bulk request body before compression; keep it below the server's "
              "http.max_content_length (a 413 splits the request)." },
    { .name = "server_version", .type = GL_OPT_STR, .check = check_version,
      .offset = offsetof(struct es, server_version),
      .help = "The server's version (8.13, 'opensearch 2.11') instead of asking GET /." },
    GL_HTTP_OPTIONS(struct es, http),
    { 0 }
};

/* ---- flushes ---- */

/* Builds the job of a flush: one item per record, then queued. */
static void build_job(struct es *e, struct gl_flush *f)
{
    struct es_job *j = es_job_new(e, f, f->records);
    struct gl_chunk_iter it;
    struct gl_record rec;
    /*
     * NDJSON takes about twice the msgpack, plus the action lines: no regrowth
     * (copy), and a pooled buffer whose pages are already there.
     */
    gl_buf_pool_take(&j->arena, 2 * f->bytes + (size_t)f->records * 96);
    uint32_t base = 0;
    for (unsigned i = 0; i < f->n_chunks; i++) {
        gl_chunk_iter_init(&it, f->chunks[i]);
        while (gl_chunk_next(&it, &rec) == 0) {
            rec.index += base; /* indexes count across the flush's chunks */
            const char *reason = es_item_add(e, j, &rec);
            if (reason != NULL) {
                es_job_drop(j, rec.index, reason);
            }
        }
        gl_chunk_iter_close(&it);
        base += f->chunks[i]->records;
    }
    /*
     * The documents count against their inputs' mem_buf_limit until the flush ends
     * (the arena's length: pages reserved but never written cost nothing).
     */
    gl_flush_hold(f, j->arena.len + (size_t)j->cap * sizeof(*j->items) + j->records / 8 + 1);
    es_job_submit(j);
}

/* Whether action lines depend on a version not known yet (a type to send or not). */
static bool needs_version(const struct es *e)
{
    return e->probe != ES_PROBE_DONE && e->type != NULL && !e->suppress_type_name;
}

/* The probe ended: decide on _type once, then build the jobs of the flushes that waited. */
static void probe_done(struct es *e, bool answered)
{
    e->send_type = e->type != NULL && !e->suppress_type_name &&
                   es_version_has_types(&e->version);
    es_format_init(e);
    if (answered && e->type != NULL && !e->suppress_type_name && !e->send_type &&
        !e->type_warned) {
        e->type_warned = true;
        gl_log_warn(e->ins, "type %s is not sent: %s %s has no mapping types", e->type,
                    es_version_name(&e->version), e->version.number);
    }
    struct gl_flush *f = e->parked;
    e->parked = NULL;
    while (f != NULL) {
        struct gl_flush *next = f->data;
        f->data = NULL;
        if (answered) {
            build_job(e, f);
        } else {
            gl_flush_done(f, GL_RETRY); /* the core's back-off, then a new probe */
        }
        f = next;
    }
}

static void es_flush(struct gl_instance *ins, struct gl_flush *f)
{
    struct es *e = ins->state;
    if (needs_version(e)) {
        f->data = e->parked;
        e->parked = f;
        es_probe_start(e, probe_done);
        return;
    }
    if (e->probe == ES_PROBE_NONE) {
        /* Not waited for: for the log, and to name bad credentials early; asked again
         * at the next flush until the server answers. */
        es_probe_start(e, probe_done);
    }
    build_job(e, f);
}

/* ---- the queue's operations in the agent ---- */

static void op_drop(struct es_job *j, uint32_t index, const char *reason)
{
    gl_flush_drop(j->flush, index, reason);
}

static void op_done(struct es_job *j)
{
    gl_flush_done(j->flush, GL_OK);
}

static void on_timer(uv_timer_t *t)
{
    es_pump(t->data);
}

static void op_arm(struct es *e, uint64_t delay_ms)
{
    if (e->timer_open) {
        uv_timer_start(&e->timer, on_timer, delay_ms, 0);
    }
}

static uint64_t op_now(struct es *e)
{
    return uv_now(e->ins->loop);
}

/* ---- lifecycle ---- */

/* Reads http_passwd_file (a trailing newline is not part of the password). */
static char *read_secret(const char *path, int *err)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        *err = errno;
        return NULL;
    }
    struct gl_buf b;
    char chunk[256];
    size_t n;
    gl_buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && b.len < 4096) {
        gl_buf_append(&b, chunk, n);
    }
    fclose(fp);
    explicit_bzero(chunk, sizeof(chunk));
    while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r')) {
        b.data[--b.len] = '\0';
    }
    return gl_buf_take(&b);
}

/* Sets e->authorization from http_user/http_passwd(_file), cloud_auth or http_api_key. */
static int init_auth(struct gl_instance *ins, struct es *e)
{
    int ways = (e->http_user != NULL || e->cloud_auth != NULL) + (e->http_api_key != NULL) +
               e->aws_auth;
    if (ways > 1) {
        gl_instance_error(ins, "choose one of http_user (or cloud_auth), http_api_key and "
                               "aws_auth");
        return GL_EINVAL;
    }
    struct gl_buf b;
    gl_buf_init(&b);
    if (e->http_api_key != NULL) {
        gl_buf_printf(&b, "ApiKey %s", e->http_api_key);
    } else if (e->http_user != NULL || e->cloud_auth != NULL) {
        struct gl_buf cred;
        gl_buf_init(&cred);
        char *file = NULL;
        int err = 0;
        if (e->http_user != NULL && e->http_passwd_file != NULL) {
            file = read_secret(e->http_passwd_file, &err);
            if (file == NULL) {
                gl_instance_option_error(ins, "http_passwd_file", "%s", strerror(err));
                gl_buf_close(&cred);
                return GL_EINVAL;
            }
        }
        if (e->http_user != NULL) {
            gl_buf_printf(&cred, "%s:%s", e->http_user,
                          file ? file : e->http_passwd ? e->http_passwd : "");
        } else {
            gl_buf_puts(&cred, e->cloud_auth);
        }
        gl_buf_puts(&b, "Basic ");
        es_base64(&b, cred.data, cred.len);
        explicit_bzero(cred.data, cred.len);
        gl_buf_close(&cred);
        if (file != NULL) {
            explicit_bzero(file, strlen(file));
            gl_free(file);
        }
    }
    e->authorization = b.len > 0 ? gl_buf_take(&b) : NULL;
    gl_buf_close(&b);
    return 0;
}

/* Builds the URLs, and what SigV4 signs, from host, port, path, tls or cloud_id. */
static int init_endpoint(struct gl_instance *ins, struct es *e)
{
    if (e->cloud_id != NULL) {
        char *host;
        if (es_cloud_id_decode(e->cloud_id, &host, &e->port) < 0) {
            gl_instance_option_error(ins, "cloud_id", "expected name:base64 as Elastic Cloud "
                                                      "shows it");
            return GL_EINVAL;
        }
        gl_free(e->host);
        e->host = host;
        e->tls = true;
    }
    const char *scheme = e->tls ? "https" : "http";
    bool default_port = e->port == (e->tls ? 443 : 80);
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_printf(&b, default_port ? "%s" : "%s:%lld", e->host, (long long)e->port);
    e->host_port = gl_buf_take(&b);
    const char *prefix = e->path != NULL ? e->path : "";
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/') {
        plen--;
    }
    gl_buf_printf(&b, "%s%.*s/_bulk", prefix[0] == '/' || plen == 0 ? "" : "/", (int)plen,
                  prefix);
    e->bulk_path = gl_buf_take(&b);
    gl_buf_printf(&b, "%s%.*s/", prefix[0] == '/' || plen == 0 ? "" : "/", (int)plen, prefix);
    e->root_path = gl_buf_take(&b);
    gl_buf_puts(&b, ES_FILTER_PATH);
    if (e->pipeline != NULL) {
        gl_buf_puts(&b, "&pipeline=");
        for (const unsigned char *p = (const unsigned char *)e->pipeline; *p; p++) {
            bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                         (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
            gl_buf_printf(&b, plain ? "%c" : "%%%02X", *p);
        }
    }
    e->bulk_query = gl_buf_take(&b);
    gl_buf_printf(&b, "%s://%s", scheme, e->host_port);
    gl_sigv4_uri_path(&b, e->bulk_path, 0);
    gl_buf_printf(&b, "?%s", e->bulk_query);
    e->url = gl_buf_take(&b);
    gl_buf_printf(&b, "%s://%s", scheme, e->host_port);
    gl_sigv4_uri_path(&b, e->root_path, 0);
    e->root_url = gl_buf_take(&b);
    return 0;
}

/* Checks the options that depend on each other; parses accessors. */
static int init_format(struct gl_instance *ins, struct es *e)
{
    for (int op = 0; operations[op] != NULL; op++) {
        if (strcmp(e->write_operation, operations[op]) == 0) {
            e->op = (enum es_op)op;
        }
    }
    if ((e->op == ES_OP_UPDATE || e->op == ES_OP_UPSERT) && e->id_key == NULL &&
        !e->generate_id) {
        gl_instance_option_error(ins, "write_operation", "%s needs id_key or generate_id",
                                 e->write_operation);
        return GL_EINVAL;
    }
    if (e->logstash_prefix_key != NULL &&
        gl_accessor_parse(&e->prefix_acc, e->logstash_prefix_key,
                          strlen(e->logstash_prefix_key)) < 0) {
        gl_instance_option_error(ins, "logstash_prefix_key", "expected key or $key['sub']");
        return GL_EINVAL;
    }
    if (e->id_key != NULL && gl_accessor_parse(&e->id_acc, e->id_key, strlen(e->id_key)) < 0) {
        gl_instance_option_error(ins, "id_key", "expected key or $key['sub']");
        return GL_EINVAL;
    }
    if (e->server_version != NULL) {
        es_version_parse_option(e->server_version, &e->version);
        e->probe = ES_PROBE_DONE;
    } else if (strcmp(e->aws_service_name, "aoss") == 0 && e->aws_auth) {
        e->probe = ES_PROBE_DONE; /* Serverless has no GET / and no types */
    }
    e->send_type = e->type != NULL && !e->suppress_type_name &&
                   es_version_has_types(&e->version);
    es_format_init(e);
    return 0;
}

static void init_metrics(struct gl_instance *ins, struct es *e)
{
    e->m.requests = gl_metric_counter(ins, "es_bulk_requests_total",
                                      "Bulk requests answered 2xx.");
    e->m.requests_failed = gl_metric_counter(ins, "es_bulk_requests_failed_total",
                                             "Bulk requests that failed as a whole.");
    e->m.items = gl_metric_counter(ins, "es_documents_indexed_total", "Documents stored.");
    e->m.duplicates = gl_metric_counter(ins, "es_documents_duplicate_total",
                                        "Documents sent again that were already stored "
                                        "(409 on a generated _id), counted as delivered.");
    e->m.retried = gl_metric_counter(ins, "es_documents_retried_total",
                                     "Documents sent again after a 429 or 5xx item answer.");
    e->m.rejections = gl_metric_counter(ins, "es_rejections_total",
                                        "Answers that said the cluster was busy (429).");
    e->m.dead_letters = gl_metric_counter(ins, "es_documents_dead_lettered_total",
                                          "Rejected documents written to dead_letter_index.");
    e->m.bytes = gl_metric_counter(ins, "es_bulk_bytes_total",
                                   "Body bytes of accepted bulk requests, as sent.");
    e->m.splits = gl_metric_counter(ins, "es_bulk_splits_total",
                                    "Bulk requests split in two after a 413.");
    e->m.concurrency = gl_metric_gauge(ins, "es_requests_in_flight", "Requests in flight now.");
    e->m.concurrency_limit = gl_metric_gauge(ins, "es_concurrency_limit",
                                             "Requests allowed in flight now (adaptive).");
}

static void es_destroy(struct gl_instance *ins)
{
    struct es *e = ins->state;
    e->stopping = true;
    es_jobs_abandon(e, NULL);
    gl_http_client_close(&e->http);
    gl_aws_provider_free(e->provider);
    e->provider = NULL;
    gl_accessor_close(&e->prefix_acc);
    gl_accessor_close(&e->id_acc);
    if (e->authorization != NULL) {
        explicit_bzero(e->authorization, strlen(e->authorization));
    }
    char **owned[] = { &e->authorization, &e->url, &e->root_url, &e->host_port, &e->bulk_path,
                       &e->bulk_query, &e->root_path };
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        gl_free(*owned[i]);
        *owned[i] = NULL;
    }
    struct gl_buf *bufs[] = { &e->name, &e->action_head, &e->type_part, &e->time_key_json,
                              &e->tag_key_json };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        gl_buf_close(bufs[i]);
    }
}

/* buffer_size, when given, sets the HTTP client's response_max. */
static void init_buffer_size(struct es *e)
{
    size_t n;
    if (e->buffer_size == NULL) {
        return;
    }
    e->http.response_max = gl_parse_size(e->buffer_size, &n) == 0 && n > 0
                               ? n : ES_BUFFER_SIZE_UNLIMITED;
}

static int es_init(struct gl_instance *ins)
{
    struct es *e = ins->state;
    char err[256] = "";
    int rc;
    e->ins = ins;
    init_buffer_size(e);
    rc = gl_http_client_init(&e->http);
    if (rc < 0) {
        gl_instance_error(ins, "the HTTP client cannot start");
        goto fail;
    }
    if ((rc = init_format(ins, e)) < 0 || (rc = init_endpoint(ins, e)) < 0 ||
        (rc = init_auth(ins, e)) < 0) {
        goto fail;
    }
    if (e->compress != NULL && gl_gzip_load(err, sizeof(err)) < 0) {
        gl_instance_error(ins, "compress gzip: %s", err);
        rc = GL_ENOENT;
        goto fail;
    }
    if (e->aws_auth) {
        e->provider = gl_aws_provider_new(&e->aws, ins->loop, &e->http, ins, err, sizeof(err));
        if (e->provider == NULL) {
            gl_instance_error(ins, "%s", err);
            rc = GL_EINVAL;
            goto fail;
        }
    }
    init_metrics(ins, e);
    e->retry_base_ms = ins->engine ? ins->engine->svc.sched_base_ms : 1000;
    e->retry_cap_ms = ins->engine ? ins->engine->svc.sched_cap_ms : 60000;
    e->retry_limit = ins->core ? ins->core->opts.retry_limit : -1;
    es_aimd_init(&e->aimd, ins->core ? (unsigned)ins->core->opts.workers : 2);
    e->ops = (struct es_ops){ .send = es_transport_send, .drop = op_drop, .done = op_done,
                              .arm = op_arm, .now = op_now };
    es_queue_init(e);
    return 0;
fail:
    es_destroy(ins);
    return rc;
}

static int es_start(struct gl_instance *ins)
{
    struct es *e = ins->state;
    uv_timer_init(ins->loop, &e->timer);
    e->timer.data = e;
    e->timer_open = true;
    return 0;
}

static void abandon_flush(void *flush)
{
    gl_flush_done(flush, GL_RETRY);
}

/*
 * Requests in flight are canceled (their answers ignored), then every job
 * and every flush waiting for the version ends with GL_RETRY: at stop that
 * means not acknowledged, so the records are read again on restart.
 */
static void es_stop(struct gl_instance *ins)
{
    struct es *e = ins->state;
    e->stopping = true;
    gl_http_client_close(&e->http);
    es_jobs_abandon(e, abandon_flush);
    while (e->parked != NULL) {
        struct gl_flush *f = e->parked;
        e->parked = f->data;
        f->data = NULL;
        gl_flush_done(f, GL_RETRY);
    }
    gl_aws_provider_free(e->provider);
    e->provider = NULL;
    if (e->timer_open) {
        e->timer_open = false;
        uv_close((uv_handle_t *)&e->timer, NULL);
    }
}

const struct gl_plugin gl_out_es = {
    .kind = GL_OUTPUT, .name = "es",
    .description = "Send records to Elasticsearch or OpenSearch (bulk API, per-item retries, "
                   "deterministic ids, SigV4)",
    .options = es_options, .state_size = sizeof(struct es), .workers = 2,
    .flush_max_bytes = 4u << 20,
    .init = es_init, .start = es_start, .flush = es_flush, .stop = es_stop,
    .destroy = es_destroy,
};

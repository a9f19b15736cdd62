/*
 * Private to the es output: its state and the seams between its files:
 * out_es.c (options, lifecycle, flushes -> jobs), out_es_record.c (a record
 * -> a bulk item: index names, deterministic ids, dead letters),
 * out_es_bulk.c (pure rules: the bulk answer reader, verdicts, drop
 * reasons, versions, cloud_id, base64, adaptive concurrency),
 * out_es_queue.c (jobs, batches, the pump, per-item results) and
 * out_es_http.c (bodies, gzip, auth, the version probe). The queue calls the
 * transport through struct es_ops, so tests drive it with a fake sender.
 */
#ifndef GL_OUT_ES_H
#define GL_OUT_ES_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "aws/credentials.h"
#include "codec/json.h"
#include "core/accessor.h"
#include "net/http_client.h"
#include "util/buf.h"

#define ES_ID_LEN 32                 /* a generated _id: 32 hex digits */
#define ES_BUFFER_SIZE_UNLIMITED (256u << 20) /* buffer_size false: still bounded */
#define ES_REASONS_LOGGED 32         /* distinct error types logged once each */
/* Only what the queue reads of each item; in canonical form, as SigV4 signs it. */
#define ES_FILTER_PATH "filter_path=errors%2Citems.%2A.status%2Citems.%2A.error.type" \
                       "%2Citems.%2A.error.reason"

enum es_op { ES_OP_CREATE, ES_OP_INDEX, ES_OP_UPDATE, ES_OP_UPSERT };

/* ---- versions, cloud_id, base64 ---- */

enum es_dist { ES_DIST_UNKNOWN, ES_DIST_ELASTICSEARCH, ES_DIST_OPENSEARCH };

struct es_version {
    enum es_dist dist;
    int major, minor;
    char number[32];   /* as the server said it, for the log */
};

/*
 * Reads GET /'s answer (version.number, version.distribution), returning 0
 * or GL_EPARSE, or server_version ("8", "7.17", "opensearch 2.11"),
 * returning 0 or GL_EINVAL. has_types: the server still takes _type
 * (Elasticsearch < 8, OpenSearch < 2). name: "Elasticsearch", "OpenSearch".
 */
int es_version_parse_root(const char *body, size_t len, struct es_version *v);
int es_version_parse_option(const char *s, struct es_version *v);
bool es_version_has_types(const struct es_version *v);
const char *es_version_name(const struct es_version *v);

/* Base64 (RFC 4648, padded) of s, appended to out; decoding returns 0 or GL_EINVAL. */
void es_base64(struct gl_buf *out, const char *s, size_t n);
int es_unbase64(struct gl_buf *out, const char *s, size_t n);
/*
 * Elastic Cloud's cloud_id "name:base64(domain[:port]$es_uuid$kibana_uuid)"
 * -> host "es_uuid.domain" (new string) and port (443 unless given).
 * Returns 0 or GL_EINVAL.
 */
int es_cloud_id_decode(const char *cloud_id, char **host, int64_t *port);

/* ---- bulk responses ---- */

/* One item's answer, or a whole request's error; strings point into the reply. */
struct es_result {
    long status;           /* 0 when absent */
    const char *type;      /* error.type, NULL when none */
    const char *reason;    /* error.reason, NULL when none */
    size_t type_len, reason_len;
};

struct es_reply {
    struct gl_json_doc doc;
    bool parsed, errors;           /* errors: "errors": true */
    const msgpack_object *items;   /* the "items" array, or NULL */
    size_t n_items;
};

/*
 * Reads a bulk response body. Returns 0 (items may still be NULL, as in a
 * whole-request error) or GL_EPARSE when the body is not a JSON object.
 * es_reply_free() releases it in both cases.
 */
int es_reply_parse(struct es_reply *r, const char *body, size_t len);
void es_reply_free(struct es_reply *r);
/* The answer to item i (i < n_items): its status and error, whatever the action's name. */
void es_reply_item(const struct es_reply *r, size_t i, struct es_result *out);
/* A whole request's error ({"error": {...} or "...", "status": n}), as far as it says. */
void es_reply_error(const struct es_reply *r, struct es_result *out);

enum es_verdict {
    ES_V_OK,         /* stored */
    ES_V_DUPLICATE,  /* create of a generated id that exists: stored before, delivered */
    ES_V_RETRY,      /* 5xx, 408, a transient block: send again after the back-off */
    ES_V_THROTTLED,  /* 429: send again, and lower the requests in flight */
    ES_V_REJECTED,   /* for good: dead letter or drop, counted by reason */
};

/* What to do with one item's answer; generated_create: a create with a generated _id. */
enum es_verdict es_item_verdict(const struct es_result *r, bool generated_create);
/* The static drop reason for an error type ("mapper_parsing_exception"...), else "rejected". */
const char *es_drop_reason(const char *type, size_t len);
/* The static reason for a whole request's status ("http_400"...). */
const char *es_status_reason(long status);

/* ---- adaptive concurrency ---- */

struct es_aimd {
    unsigned limit;     /* requests allowed in flight now */
    unsigned max, inflight;
};

/* rejected halves the limit (at least 1), success adds one (up to max). */
void es_aimd_init(struct es_aimd *a, unsigned max);
bool es_aimd_can_send(const struct es_aimd *a);
void es_aimd_rejected(struct es_aimd *a);
void es_aimd_success(struct es_aimd *a);

/* ---- jobs, items, batches ---- */

struct es;
struct es_job;
struct gl_record;

enum { ES_ITEM_PENDING, ES_ITEM_DONE };
/* ES_ITEM_GENERATED: a create of a generated _id (a 409 then means "stored before"). */
enum { ES_ITEM_DEAD = 1, ES_ITEM_GENERATED = 2 };

/* One bulk item: action and source lines (both ending in '\n') in an arena of its job. */
struct es_item {
    size_t off;
    uint32_t len;
    uint32_t action_len;   /* bytes of the action line, '\n' included */
    uint32_t index;        /* the record's index in the flush */
    uint64_t ts_ns;        /* the record's time, for its dead letter */
    uint8_t state, flags;  /* ES_ITEM_PENDING or _DONE; ES_ITEM_DEAD (in j->dead), _GENERATED */
};

struct es_batch {
    struct es_job *job;
    uint32_t *items;       /* indexes into job->items */
    uint32_t n;
    size_t bytes;
    unsigned attempts;
    bool reauthed;
    uint64_t ready_ms;     /* not sent before (monotonic ms) */
    struct es_batch *next;
};

struct es_job {
    struct es *e;
    void *flush;               /* struct gl_flush * in the agent, anything in tests */
    struct es_item *items;
    uint32_t n_items, cap;
    struct gl_buf arena;       /* the flush's items, never grown once submitted */
    struct gl_buf dead;        /* dead letters, appended as items are rejected */
    unsigned pending;          /* batches not ended, +1 while the job is built */
    uint8_t *dropped;          /* one bit per record index */
    uint32_t records;
    struct es_job *prev, *next;
};

/* The transport and the flush as the queue sees them. */
struct es_ops {
    void (*send)(struct es *e, struct es_batch *b);
    void (*drop)(struct es_job *j, uint32_t index, const char *reason);
    void (*done)(struct es_job *j);
    void (*arm)(struct es *e, uint64_t delay_ms);  /* call es_pump() after delay_ms */
    uint64_t (*now)(struct es *e);                 /* monotonic ms */
};

/* How a batch's request went. */
struct es_answer {
    long status;               /* 0 with err */
    uint64_t retry_after_ms;   /* the answer's Retry-After, 0 when none */
    const char *err;           /* a gl_http_err_*, or NULL */
    const struct es_reply *reply;  /* parsed body; NULL when it could not be read */
};

struct es_metrics {
    uint64_t *requests, *requests_failed, *items, *duplicates, *retried, *rejections;
    uint64_t *dead_letters, *bytes, *splits, *concurrency, *concurrency_limit;
};

/* Per-second caches of formatted times (index dates and time_key values). */
struct es_time_cache {
    int64_t sec;
    bool valid;
    size_t len;
    char text[64];
};

struct es {
    /* options */
    char *host;
    int64_t port;
    char *path;
    bool tls;
    char *index, *type;
    bool logstash_format;
    char *logstash_prefix, *logstash_prefix_key, *logstash_prefix_separator;
    char *logstash_dateformat;
    char *time_key, *time_key_format;
    bool time_key_nanos, include_tag_key;
    char *tag_key;
    bool generate_id;
    char *id_key, *write_operation;
    bool replace_dots, suppress_type_name, current_time_index;
    char *pipeline, *compress, *buffer_size;
    char *http_user, *http_passwd, *http_passwd_file, *http_api_key, *cloud_id, *cloud_auth;
    bool aws_auth;
    char *aws_service_name;
    struct gl_aws_settings aws;
    bool trace_output, trace_error;
    char *dead_letter_index;
    size_t bulk_max;
    char *server_version;
    struct gl_http_client http;
    /* built by init */
    struct gl_instance *ins;
    enum es_op op;
    struct gl_accessor prefix_acc, id_acc;
    bool send_type;            /* _type goes in action lines (decided before the first job) */
    char *url;                 /* scheme://host:port/path/_bulk?query */
    char *root_url;            /* scheme://host:port/path/ (GET / for the version) */
    char *host_port;           /* the Host header SigV4 signs */
    char *bulk_path, *root_path, *bulk_query; /* the raw paths and query SigV4 signs */
    char *authorization;       /* Basic/ApiKey header value; wiped at destroy */
    struct gl_aws_provider *provider;
    struct es_version version;
    int probe;                 /* ES_PROBE_NONE, _RUNNING, _DONE (below) */
    void *parked;              /* flushes waiting for the version (a list through f->data) */
    struct es_ops ops;
    struct es_metrics m;
    struct es_aimd aimd;
    struct es_batch *head, *tail; /* batches waiting to be sent, in order */
    struct es_job *jobs;
    bool pumping, repump;
    uint64_t retry_base_ms, retry_cap_ms;
    int64_t retry_limit;       /* -1: no limit */
    uint64_t rng;
    size_t bulk_now;           /* bulk_max, or less once the server refused a size (413) */
    struct gl_buf name;        /* an index name being built */
    struct gl_buf action_head, type_part, time_key_json, tag_key_json; /* es_format_init() */
    struct es_time_cache index_cache, time_cache;
    char logged[ES_REASONS_LOGGED][64];  /* error types already logged once, n_logged */
    unsigned n_logged;
    bool type_warned;          /* "type is not sent" said once */
    uv_timer_t timer;
    bool timer_open, stopping;
};

enum { ES_PROBE_NONE, ES_PROBE_RUNNING, ES_PROBE_DONE };

/* ---- records -> items (out_es_record.c) ---- */
/* Renders what items share (action head, _type, keys); again when send_type changes. */
void es_format_init(struct es *e);
/*
 * Appends the bulk item of one record to j's arena and its entry to
 * j->items. Returns NULL, or the static reason the record is dropped for
 * ("id_key_missing": update and upsert need an _id).
 */
const char *es_item_add(struct es *e, struct es_job *j, const struct gl_record *rec);
/*
 * Appends the dead letter of item i (rejected with r; not a dead letter itself) to
 * j->dead as a new item: the original source as text with the error attached, to
 * dead_letter_index. Returns the new item's index; j->items may have moved.
 */
uint32_t es_dead_letter_add(struct es *e, struct es_job *j, uint32_t i,
                            const struct es_result *r);
/* The item's bytes, in the arena or dead letters of its job, action line first. */
const char *es_item_data(const struct es_job *j, const struct es_item *it);

/* ---- queue (out_es_queue.c) ---- */

void es_queue_init(struct es *e);
/* Frees batches and jobs (each flush given to `each` first when not NULL). */
void es_jobs_abandon(struct es *e, void (*each)(void *flush));
struct es_job *es_job_new(struct es *e, void *flush, uint32_t records);
/* Records one drop per record index (later drops of the same record are ignored). */
void es_job_drop(struct es_job *j, uint32_t index, const char *reason);
/* Cuts the job's items into batches of at most bulk_now bytes, queues them, sends what may go. */
void es_job_submit(struct es_job *j);
/* Sends what may go now and arms the timer for what waits. */
void es_pump(struct es *e);
/* The transport reports how a batch's request went. */
void es_batch_result(struct es *e, struct es_batch *b, const struct es_answer *a);
void es_job_free(struct es_job *j);

/* ---- transport (out_es_http.c) ---- */
/* The agent's send op: body, auth, request, answer -> es_batch_result(). */
void es_transport_send(struct es *e, struct es_batch *b);
/* Asks GET / for the version; done() runs once it is answered (or not). */
bool es_probe_start(struct es *e, void (*done)(struct es *e, bool answered));

#endif

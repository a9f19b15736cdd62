/*
 * Private to the cloudwatch_logs output: its state, the CloudWatch Logs
 * service limits, and the seams between its files:
 *   out_cloudwatch_logs.c        options, lifecycle, records -> events
 *   out_cloudwatch_logs_names.c  group/stream name templates and sanitising
 *   out_cloudwatch_logs_batch.c  pure rules: event fitting, batch cutting, bodies,
 *                                responses, verdicts, adaptive concurrency
 *   out_cloudwatch_logs_queue.c  streams, jobs (one per flush), batches, the pump
 *   out_cloudwatch_logs_emf.c    metrics events -> Embedded Metric Format documents
 *   out_cloudwatch_logs_http.c   requests: body, credentials, SigV4, answer -> verdict
 * The queue calls the transport through struct cwl_ops, so tests drive it
 * with a fake sender.
 */
#ifndef GL_OUT_CLOUDWATCH_LOGS_H
#define GL_OUT_CLOUDWATCH_LOGS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "aws/credentials.h"
#include "config/option.h"
#include "core/accessor.h"
#include "net/http_client.h"
#include "util/buf.h"

/* ---- service limits (PutLogEvents) ---- */

#define CWL_BATCH_BYTES_MAX 1048576u           /* sum of (message bytes + 26) */
#define CWL_EVENT_OVERHEAD 26u
#define CWL_BATCH_EVENTS_MAX 10000u
#define CWL_BATCH_SPAN_MS (24ll * 3600 * 1000)  /* a batch spans strictly less */
#define CWL_EVENT_BYTES_MAX (262144u - CWL_EVENT_OVERHEAD)
#define CWL_TRUNCATED_MARKER "[truncated]"
#define CWL_NAME_MAX 512u
#define CWL_MAX_AGE_MS (14ll * 24 * 3600 * 1000)
#define CWL_MAX_FUTURE_MS (2ll * 3600 * 1000)
#define CWL_EMF_METRICS_MAX 100u
#define CWL_STREAMS_KEEP 4096u                 /* idle streams remembered past this are freed */

/* ---- names ---- */

enum cwl_part_kind { CWL_PART_TEXT, CWL_PART_TAG, CWL_PART_TAG_INDEX, CWL_PART_KEY };

struct cwl_part {
    enum cwl_part_kind kind;
    char *text;              /* CWL_PART_TEXT */
    size_t len;
    long tag_index;          /* CWL_PART_TAG_INDEX: $TAG[n], parts of the tag split on '.' */
    struct gl_accessor key;  /* CWL_PART_KEY */
};

struct cwl_template {
    struct cwl_part *parts;
    size_t nparts;
};

enum cwl_name_kind { CWL_GROUP, CWL_STREAM };

int cwl_template_parse(struct cwl_template *t, const char *text);
void cwl_template_close(struct cwl_template *t);
/*
 * Appends the template rendered for one record to out. Returns 0, or
 * GL_ENOENT when a key is missing or not a scalar (out then holds a partial
 * rendering the caller discards, or keeps when it has no fallback).
 */
int cwl_template_render(const struct cwl_template *t, const char *tag, size_t tag_len,
                        const msgpack_object *body, struct gl_buf *out);
/* Rewrites name in place to what CloudWatch accepts for kind; returns the new length. */
size_t cwl_name_sanitize(enum cwl_name_kind kind, char *name, size_t len);

/* ---- events and batches ---- */

/* One log event of a job: its message lives in the job's arena. */
struct cwl_event {
    int64_t ts_ms;
    struct cwl_stream *st;
    size_t off;      /* the message in the job's arena, escaped as JSON string content */
    uint32_t qlen;   /* its bytes there */
    uint32_t len;    /* its bytes as the service counts them (the text itself) */
    uint32_t index;  /* the record's position in the chunk */
    uint32_t order;  /* position in the job, so sorting is stable */
};

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0 when it is invalid. */
size_t cwl_utf8_seq(const unsigned char *p, size_t n);
/* Appends s as valid UTF-8 (each invalid byte becomes U+FFFD) to b. */
void cwl_utf8_append(struct gl_buf *b, const char *s, size_t len);
/*
 * Cuts the message that starts at msg (len bytes, valid UTF-8) to at most
 * CWL_EVENT_BYTES_MAX bytes, on a character boundary, ending with
 * CWL_TRUNCATED_MARKER. Returns the new length (len when it fits).
 */
size_t cwl_event_fit(char *msg, size_t len);
/* NULL when an event at ts_ms can be sent at now_ms, else "too_old" or "too_new". */
const char *cwl_event_age_check(int64_t ts_ms, int64_t now_ms, int64_t max_age_ms);
/* Sorts events by stream, then time, then order (stable for equal times). */
void cwl_events_sort(struct cwl_event *ev, size_t n);
/*
 * How many of ev[0..n) (one stream, sorted) go into the next PutLogEvents:
 * at least one when n > 0, stopping before the event that would pass 10,000
 * events, 1,048,576 bytes or a 24 h span. *bytes gets the batch's size.
 */
size_t cwl_batch_take(const struct cwl_event *ev, size_t n, size_t *bytes);

/* ---- requests and responses ---- */

enum cwl_action { CWL_PUT_LOG_EVENTS, CWL_CREATE_LOG_GROUP, CWL_CREATE_LOG_STREAM,
                  CWL_PUT_RETENTION_POLICY, CWL_ACTIONS };

enum cwl_error { CWL_E_NONE, CWL_E_THROTTLING, CWL_E_UNAVAILABLE, CWL_E_NOT_FOUND,
                 CWL_E_INVALID_PARAMETER, CWL_E_ALREADY_ACCEPTED, CWL_E_ALREADY_EXISTS,
                 CWL_E_AUTH, CWL_E_RETRYABLE, CWL_E_OTHER };

/* A response body, parsed. Indexes are -1 when absent. */
struct cwl_reply {
    enum cwl_error error;
    char type[64];         /* __type without its namespace, "" when none */
    int64_t too_new_start; /* rejectedLogEventsInfo.tooNewLogEventStartIndex (inclusive) */
    int64_t too_old_end;   /* tooOldLogEventEndIndex (exclusive) */
    int64_t expired_end;   /* expiredLogEventEndIndex (exclusive) */
};

/* What to do with an answer. */
enum cwl_verdict { CWL_V_OK, CWL_V_RETRY, CWL_V_THROTTLED, CWL_V_NOT_FOUND, CWL_V_BISECT,
                   CWL_V_REAUTH, CWL_V_EXISTS, CWL_V_DROP };

const char *cwl_action_target(enum cwl_action a);
/* Fills r from a response body (JSON, possibly empty or not JSON). */
void cwl_reply_parse(const char *body, size_t len, struct cwl_reply *r);
/* The verdict for an HTTP status (0 with a transport error) and a parsed reply. */
enum cwl_verdict cwl_verdict(long status, const char *err, const struct cwl_reply *r);
/* Why event i of a batch was rejected ("too_new", "too_old", "expired"), or NULL. */
const char *cwl_rejected_reason(const struct cwl_reply *r, size_t i);

/* Bodies, appended to out with the JSON writer. */
/*
 * A PutLogEvents body for the events ev[0..n) (messages in arena), produced
 * as it is read, so that it is never held whole: len is its size,
 * cwl_body_read() copies up to cap bytes from offset (going back to an
 * earlier offset works, more slowly) and returns how many, 0 at the end.
 * ev and arena are borrowed until close.
 */
struct cwl_body {
    struct gl_buf head;        /* {"logGroupName":..,"logStreamName":..,"logEvents":[ */
    const struct cwl_event *ev;
    size_t n;
    const char *arena;
    size_t len;
    /* where reading is */
    size_t pos;
    size_t i;                  /* the event */
    int part;
    size_t part_off;
    char open[48];             /* the event's ,{"timestamp":N,"message":" */
    size_t open_len;
};
void cwl_body_init(struct cwl_body *b, const char *group, const char *stream,
                   const struct cwl_event *ev, size_t n, const char *arena);
size_t cwl_body_read(struct cwl_body *b, size_t offset, char *out, size_t cap);
/* Calls fn with the body's bytes in order, a piece at a time, in place (to hash them). */
void cwl_body_pieces(struct cwl_body *b, void (*fn)(void *ctx, const char *p, size_t len),
                     void *ctx);
void cwl_body_close(struct cwl_body *b);
void cwl_body_create(struct gl_buf *out, enum cwl_action a, const char *group,
                     const char *stream, const char *group_class, int64_t retention_days,
                     const struct gl_strlist *tags);

/* ---- adaptive concurrency (AIMD over all streams) ---- */

struct cwl_aimd {
    unsigned limit;     /* requests allowed in flight now */
    unsigned max;       /* max_concurrency */
    unsigned inflight;
};

void cwl_aimd_init(struct cwl_aimd *a, unsigned max);
bool cwl_aimd_can_send(const struct cwl_aimd *a);
void cwl_aimd_throttled(struct cwl_aimd *a);  /* halves the limit, at least 1 */
void cwl_aimd_success(struct cwl_aimd *a);    /* one more, up to max */

/* ---- EMF ---- */

struct gl_chunk;

struct cwl_emf {
    const char *ns;                  /* metric_namespace */
    const struct gl_strlist *dims;   /* metric_dimensions (labels kept); NULL or empty: all */
};

/* Where the EMF writer sends documents and the series it cannot send. */
struct cwl_emf_sink {
    /* A document at arena[off..off+len): its time and the index of its first series. */
    void (*emit)(void *data, size_t off, size_t len, int64_t ts_ms, uint32_t index);
    void (*drop)(void *data, uint32_t index, const char *reason);
    void *data;
};

/*
 * Appends the EMF documents for the series of a metrics chunk to arena, one
 * after the other, calling sink->emit for each; series whose value is not
 * finite go to sink->drop. base is the index of the chunk's first series in
 * the flush. Returns the number of documents.
 */
int cwl_emf_write(const struct cwl_emf *e, const struct gl_chunk *c, uint32_t base,
                  struct gl_buf *arena, const struct cwl_emf_sink *sink);

/* ---- queue ---- */

struct cwl;
struct cwl_job;
struct cwl_batch;

enum cwl_step { CWL_STEP_PUT, CWL_STEP_CREATE_STREAM, CWL_STEP_CREATE_GROUP,
                CWL_STEP_RETENTION };

struct cwl_stream {
    char *group;
    char *name;
    uint64_t seq;
    enum cwl_step step;        /* what the next request for this stream is */
    bool busy;                 /* one request in flight per stream */
    bool active;               /* on the active list */
    struct cwl_batch *head;    /* batches in job order (then cut order within a job) */
    struct cwl_batch *tail;
    struct cwl_claim *claims;  /* jobs with records for it still to encode */
    struct cwl_stream *hnext;  /* hash chain */
    struct cwl_stream *anext;  /* active list */
};

struct cwl_batch {
    struct cwl_job *job;
    struct cwl_stream *st;
    size_t start;              /* range in job->events */
    size_t n;
    size_t bytes;
    unsigned attempts;
    bool reauthed;
    uint64_t ready_ms;         /* not sent before (monotonic ms) */
    struct cwl_batch *next;
};

/*
 * A job encoded in parts claims, for its later parts, every stream their
 * records go to: no batch of a later job is sent on a claimed stream, and
 * the claimant's batches, when they come, are queued before the later
 * job's, so a stream's events go out in flush order.
 */
struct cwl_claim {
    struct cwl_job *job;
    struct cwl_stream *st;
    uint32_t left;             /* records of the job for the stream not yet encoded */
    struct cwl_claim *snext;   /* the stream's claims */
    struct cwl_claim *jnext;   /* the job's claims */
};

struct cwl_job {
    struct cwl *c;
    void *flush;               /* struct gl_flush * in the agent, anything in tests */
    uint64_t seq;              /* jobs are numbered in flush order */
    struct cwl_claim *claims;
    struct cwl_event *events;
    size_t n_events;
    size_t cap;
    struct gl_buf arena;       /* messages */
    unsigned pending;          /* batches not finished, +1 while the job is built */
    bool more;                 /* records left to encode once these batches are done */
    void *fill;                /* where the agent's encoding of the flush is (ops.fill) */
    uint8_t *dropped;          /* one bit per record index */
    uint32_t records;
    struct cwl_job *prev;
    struct cwl_job *next;
};

/* The transport and the flush, as the queue sees them. */
struct cwl_ops {
    void (*put)(struct cwl *c, struct cwl_batch *b);
    void (*create)(struct cwl *c, struct cwl_stream *st, enum cwl_action a);
    void (*drop)(struct cwl_job *j, uint32_t index, const char *reason);
    void (*done)(struct cwl_job *j);
    /* Encodes the next part of a job whose `more` is set, into its emptied events and arena. */
    void (*fill)(struct cwl_job *j);
    /* Frees the job's `fill` (a job freed part way: shutdown). */
    void (*forget)(struct cwl_job *j);
    void (*arm)(struct cwl *c, uint64_t delay_ms);  /* call cwl_pump() after delay_ms */
    uint64_t (*now)(struct cwl *c);                 /* monotonic ms */
};

struct cwl_metrics {
    uint64_t *ok[CWL_ACTIONS];
    uint64_t *failed[CWL_ACTIONS];
    uint64_t *events;
    uint64_t *bytes;
    uint64_t *fill;
    uint64_t *throttles;
    uint64_t *concurrency;
    uint64_t *concurrency_limit;
    uint64_t *truncated;
};

struct cwl {
    /* options */
    char *extra_user_agent;
    char *group_name;
    char *stream_name;
    char *stream_prefix;
    char *group_template_text;
    char *stream_template_text;
    char *log_key;
    char *log_format;
    char *group_class;
    struct gl_strlist group_tags;
    int64_t retention_days;
    bool auto_create_group;
    int64_t max_concurrency;
    char *endpoint;
    char *metric_namespace;
    struct gl_strlist metric_dimensions;
    struct gl_aws_settings aws;
    struct gl_http_client http;
    /* built by init */
    struct gl_instance *ins;
    struct cwl_template group_template;
    struct cwl_template stream_template;
    struct gl_accessor log_key_acc;
    char *url;
    char *host;
    struct gl_aws_provider *provider;
    struct cwl_ops ops;
    struct cwl_metrics m;
    struct cwl_aimd aimd;
    struct cwl_stream **buckets;
    size_t nbuckets;
    size_t nstreams;
    uint64_t next_seq;
    struct cwl_stream *active;      /* streams with queued batches, in turn order */
    struct cwl_stream *active_tail;
    bool pumping;
    bool repump;
    struct cwl_job *jobs;
    uint64_t retry_base_ms;
    uint64_t retry_cap_ms;
    int64_t retry_limit;       /* -1: no limit */
    uint64_t rng;
    double fill_avg;
    uv_timer_t timer;
    bool timer_open;
    bool stopping;
};

/* Sets up the queue (ops, limits and metrics already filled). */
void cwl_queue_init(struct cwl *c);
/* Frees streams and batches; jobs must have ended. */
void cwl_queue_close(struct cwl *c);
struct cwl_job *cwl_job_new(struct cwl *c, void *flush, uint32_t records);
/* The memory a job holds (arena, events, drop marks), charged to its flush's inputs. */
size_t cwl_job_bytes(const struct cwl_job *j);
/* Finds or makes the stream for (group, stream); names already sanitised. */
struct cwl_stream *cwl_stream_get(struct cwl *c, const char *group, const char *stream);
/*
 * Adds an event whose message is arena[off, off + qlen), escaped as JSON
 * string content; len is the message's own length (what the service counts).
 */
void cwl_job_add(struct cwl_job *j, struct cwl_stream *st, int64_t ts_ms, size_t off,
                 size_t len, size_t qlen, uint32_t index);
/* Records one drop per record index (later drops of the same record are ignored). */
void cwl_job_drop(struct cwl_job *j, uint32_t index, const char *reason);
/*
 * Claims: a job whose encoding goes on in later parts claims st once per
 * record of those parts going to it, and gives one back per such record
 * encoded (or dropped); a job's last claims go when it ends.
 */
void cwl_job_claim(struct cwl_job *j, struct cwl_stream *st);
void cwl_job_unclaim(struct cwl_job *j, struct cwl_stream *st);
/*
 * Sorts, cuts into batches, queues them and sends what may go; may finish the
 * job at once. When `more` is set, ops.fill encodes the next part once these
 * batches are done, and so on until a part leaves `more` unset.
 */
void cwl_job_submit(struct cwl_job *j);
/* Ends every job with its batches (at stop): each(flush) instead of done; no more sends. */
void cwl_jobs_abandon(struct cwl *c, void (*each)(void *flush));
/* Sends what may go now and arms the timer for what waits. */
void cwl_pump(struct cwl *c);
/* The transport reports an answer. */
void cwl_put_result(struct cwl *c, struct cwl_batch *b, enum cwl_verdict v,
                    const struct cwl_reply *r);
void cwl_create_result(struct cwl *c, struct cwl_stream *st, enum cwl_action a,
                       enum cwl_verdict v);

/* ---- transport (out_cloudwatch_logs_http.c): the agent's put and create ops ---- */

/* Builds the endpoint's URL once the region is known (instance metadata may tell it late). */
void cwl_endpoint(struct cwl *c);
void cwl_transport_put(struct cwl *c, struct cwl_batch *b);
void cwl_transport_create(struct cwl *c, struct cwl_stream *st, enum cwl_action a);

#endif

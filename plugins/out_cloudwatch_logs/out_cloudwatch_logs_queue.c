/*
 * The delivery queue of the cloudwatch_logs output. A flush becomes a job:
 * its records' events, sorted per stream and cut into batches, each batch
 * queued on its (group, stream). A stream sends one request at a time (its
 * head batch, or the CreateLogStream/CreateLogGroup/PutRetentionPolicy that
 * the head batch waits for); many streams send in parallel, as many as the
 * AIMD limit allows. A flush encoded in parts claims the streams of its
 * later parts (struct cwl_claim), so that a later flush never overtakes it
 * on a stream. Failed batches wait for retry.c's back-off on their
 * stream; InvalidParameterException splits a batch in two until the bad
 * events stand alone and are dropped. A job ends when its last batch does.
 * Invariant: a batch is on exactly one stream's queue until it ends, and
 * only a queue's head is ever in flight.
 */
#include <string.h>

#include "core/health.h"
#include "core/log.h"
#include "out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"
#include "util/retry.h"

#define NBUCKETS 1024

static void pump(struct cwl *c);

/* ---- streams ---- */

static uint64_t hash_names(const char *group, const char *stream)
{
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, group, strlen(group));
    h = gl_hash_fnv1a64(h, "\xff", 1); /* no name holds 0xff: "ab","c" differs from "a","bc" */
    return gl_hash_fnv1a64(h, stream, strlen(stream));
}

static void stream_free(struct cwl_stream *st)
{
    gl_free(st->group);
    gl_free(st->name);
    gl_free(st);
}

/* Forgets idle streams (nothing queued, nothing in flight) once too many are remembered. */
static void streams_gc(struct cwl *c)
{
    for (size_t i = 0; i < c->nbuckets && c->nstreams > CWL_STREAMS_KEEP / 2; i++) {
        struct cwl_stream **pp = &c->buckets[i];
        while (*pp != NULL) {
            struct cwl_stream *st = *pp;
            if (st->busy || st->active || st->head != NULL || st->claims != NULL) {
                pp = &st->hnext;
                continue;
            }
            *pp = st->hnext;
            stream_free(st);
            c->nstreams--;
        }
    }
}

struct cwl_stream *cwl_stream_get(struct cwl *c, const char *group, const char *stream)
{
    size_t b = hash_names(group, stream) % c->nbuckets;
    for (struct cwl_stream *st = c->buckets[b]; st != NULL; st = st->hnext) {
        if (strcmp(st->group, group) == 0 && strcmp(st->name, stream) == 0) {
            return st;
        }
    }
    struct cwl_stream *st = gl_calloc(1, sizeof(*st));
    st->group = gl_strdup(group);
    st->name = gl_strdup(stream);
    st->seq = ++c->next_seq;
    st->hnext = c->buckets[b];
    c->buckets[b] = st;
    c->nstreams++;
    return st;
}

static void make_active(struct cwl *c, struct cwl_stream *st)
{
    if (st->active) {
        return;
    }
    st->active = true;
    st->anext = NULL;
    if (c->active_tail != NULL) {
        c->active_tail->anext = st;
    } else {
        c->active = st;
    }
    c->active_tail = st;
}

/*
 * Queues b after every batch of its job and of older jobs: a later job's
 * batches may already wait there when a job's next part comes (they are not
 * sent while it claims the stream, see blocked()).
 */
static void enqueue(struct cwl *c, struct cwl_stream *st, struct cwl_batch *b)
{
    struct cwl_batch **pp;
    if (st->tail == NULL || st->tail->job->seq <= b->job->seq) {
        pp = st->tail != NULL ? &st->tail->next : &st->head; /* the usual case */
    } else {
        pp = st->busy ? &st->head->next : &st->head; /* never before a request in flight */
        while (*pp != NULL && (*pp)->job->seq <= b->job->seq) {
            pp = &(*pp)->next;
        }
    }
    b->next = *pp;
    *pp = b;
    if (b->next == NULL) {
        st->tail = b;
    }
    make_active(c, st);
}

/* Whether an older job than the head batch's still has records to encode for st. */
static bool blocked(const struct cwl_stream *st)
{
    for (const struct cwl_claim *cl = st->claims; cl != NULL; cl = cl->snext) {
        if (cl->job->seq < st->head->job->seq) {
            return true;
        }
    }
    return false;
}

void cwl_queue_init(struct cwl *c)
{
    c->nbuckets = NBUCKETS;
    c->buckets = gl_calloc(c->nbuckets, sizeof(*c->buckets));
    cwl_aimd_init(&c->aimd, (unsigned)c->max_concurrency);
    c->rng = uv_hrtime() | 1;
}

void cwl_queue_close(struct cwl *c)
{
    cwl_jobs_abandon(c, NULL);
    for (size_t i = 0; i < c->nbuckets; i++) {
        while (c->buckets[i] != NULL) {
            struct cwl_stream *st = c->buckets[i];
            c->buckets[i] = st->hnext;
            stream_free(st);
        }
    }
    gl_free(c->buckets);
    c->buckets = NULL;
    c->nstreams = 0;
    c->active = c->active_tail = NULL;
}

/* ---- jobs ---- */

struct cwl_job *cwl_job_new(struct cwl *c, void *flush, uint32_t records)
{
    struct cwl_job *j = gl_calloc(1, sizeof(*j));
    j->c = c;
    j->flush = flush;
    j->records = records;
    j->dropped = gl_calloc((size_t)records / 8 + 1, 1);
    /* A record makes one event at most (a metrics series, at most one document). */
    j->cap = records > 0 ? records : 0;
    j->events = j->cap > 0 ? gl_malloc(j->cap * sizeof(*j->events)) : NULL;
    j->pending = 1;
    j->seq = ++c->next_seq;
    gl_buf_init(&j->arena);
    j->next = c->jobs;
    if (c->jobs != NULL) {
        c->jobs->prev = j;
    }
    c->jobs = j;
    return j;
}

static void claim_free(struct cwl_claim *cl)
{
    struct cwl_claim **pp = &cl->st->claims;
    while (*pp != cl) {
        pp = &(*pp)->snext;
    }
    *pp = cl->snext;
    gl_free(cl);
}

void cwl_job_claim(struct cwl_job *j, struct cwl_stream *st)
{
    struct cwl_claim *cl = j->claims;
    while (cl != NULL && cl->st != st) {
        cl = cl->jnext;
    }
    if (cl == NULL) {
        cl = gl_calloc(1, sizeof(*cl));
        cl->job = j;
        cl->st = st;
        cl->snext = st->claims;
        st->claims = cl;
        cl->jnext = j->claims;
        j->claims = cl;
    }
    cl->left++;
}

void cwl_job_unclaim(struct cwl_job *j, struct cwl_stream *st)
{
    struct cwl_claim **pp = &j->claims;
    while (*pp != NULL && (*pp)->st != st) {
        pp = &(*pp)->jnext;
    }
    struct cwl_claim *cl = *pp;
    if (cl != NULL && --cl->left == 0) {
        *pp = cl->jnext;
        claim_free(cl);
    }
}

static void job_free(struct cwl_job *j)
{
    struct cwl *c = j->c;
    while (j->claims != NULL) {
        struct cwl_claim *cl = j->claims;
        j->claims = cl->jnext;
        claim_free(cl);
    }
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        c->jobs = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    if (j->fill != NULL && c->ops.forget != NULL) {
        c->ops.forget(j);
    }
    gl_buf_pool_give(&j->arena);
    gl_free(j->events);
    gl_free(j->dropped);
    gl_free(j);
}

void cwl_job_add(struct cwl_job *j, struct cwl_stream *st, int64_t ts_ms, size_t off,
                 size_t len, size_t qlen, uint32_t index)
{
    if (j->n_events == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 64;
        j->events = gl_realloc(j->events, j->cap * sizeof(*j->events));
    }
    j->events[j->n_events] = (struct cwl_event){
        .ts_ms = ts_ms, .st = st, .off = off, .qlen = (uint32_t)qlen, .len = (uint32_t)len,
        .index = index,
        .order = (uint32_t)j->n_events,
    };
    j->n_events++;
}

size_t cwl_job_bytes(const struct cwl_job *j)
{
    /* The arena's length, not its capacity: pages reserved but never written cost nothing. */
    return j->arena.len + j->cap * sizeof(*j->events) + (size_t)j->records / 8 + 1;
}

void cwl_job_drop(struct cwl_job *j, uint32_t index, const char *reason)
{
    if (index >= j->records || (j->dropped[index / 8] & (1u << (index % 8))) != 0) {
        return;
    }
    j->dropped[index / 8] |= (uint8_t)(1u << (index % 8));
    j->c->ops.drop(j, index, reason);
}

static void job_cut(struct cwl_job *j);

/*
 * One batch of the job ended. With the last one the job ends, or, when the
 * flush has records left, the next part is encoded into the same arena and
 * cut into batches: a job never holds more than one part's encoding.
 */
static void job_unref(struct cwl_job *j)
{
    while (--j->pending == 0) {
        if (!j->more) {
            j->c->ops.done(j);
            job_free(j);
            return;
        }
        j->pending = 1;
        j->more = false;
        j->n_events = 0;
        j->arena.len = 0;
        j->c->ops.fill(j);
        job_cut(j);
    }
}

static struct cwl_batch *batch_new(struct cwl_job *j, struct cwl_stream *st, size_t start,
                                   size_t n, size_t bytes)
{
    struct cwl_batch *b = gl_calloc(1, sizeof(*b));
    b->job = j;
    b->st = st;
    b->start = start;
    b->n = n;
    b->bytes = bytes;
    j->pending++;
    return b;
}

/* Sorts the job's events and queues them as batches on their streams. */
static void job_cut(struct cwl_job *j)
{
    struct cwl *c = j->c;
    cwl_events_sort(j->events, j->n_events);
    size_t i = 0;
    while (i < j->n_events) {
        struct cwl_stream *st = j->events[i].st;
        size_t run = 1;
        while (i + run < j->n_events && j->events[i + run].st == st) {
            run++;
        }
        size_t end = i + run;
        while (i < end) {
            size_t bytes;
            size_t n = cwl_batch_take(&j->events[i], end - i, &bytes);
            enqueue(c, st, batch_new(j, st, i, n, bytes));
            i += n;
        }
    }
}

void cwl_job_submit(struct cwl_job *j)
{
    struct cwl *c = j->c;
    job_cut(j);
    job_unref(j); /* may end the job, or encode its next part */
    pump(c);
}

void cwl_jobs_abandon(struct cwl *c, void (*each)(void *flush))
{
    c->stopping = true;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (struct cwl_stream *st = c->buckets[i]; st != NULL; st = st->hnext) {
            while (st->head != NULL) {
                struct cwl_batch *b = st->head;
                st->head = b->next;
                gl_free(b);
            }
            st->tail = NULL;
            st->active = false;
        }
    }
    c->active = c->active_tail = NULL;
    while (c->jobs != NULL) {
        if (each != NULL) {
            each(c->jobs->flush);
        }
        job_free(c->jobs);
    }
}

/* ---- batches ---- */

/* Takes the head batch off its stream and releases it from its job. */
static void batch_end(struct cwl_batch *b)
{
    struct cwl_stream *st = b->st;
    struct cwl_job *j = b->job;
    st->head = b->next;
    if (st->head == NULL) {
        st->tail = NULL;
    }
    gl_free(b);
    job_unref(j);
}

static void batch_drop(struct cwl *c, struct cwl_batch *b, const char *reason)
{
    gl_log_warn(c->ins, "%zu events for %s/%s dropped: %s", b->n, b->st->group, b->st->name,
                reason);
    for (size_t i = 0; i < b->n; i++) {
        cwl_job_drop(b->job, b->job->events[b->start + i].index, reason);
    }
    batch_end(b);
}

/* Accepted: events the service refused one by one are dropped, the rest counted as sent. */
static void batch_accepted(struct cwl *c, struct cwl_batch *b, const struct cwl_reply *r)
{
    uint64_t sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct cwl_event *ev = &b->job->events[b->start + i];
        const char *reason = r != NULL ? cwl_rejected_reason(r, i) : NULL;
        if (reason != NULL) {
            cwl_job_drop(b->job, ev->index, reason);
        } else {
            sent++;
        }
    }
    *c->m.events += sent;
    *c->m.bytes += b->bytes;
    c->fill_avg = 0.8 * c->fill_avg + 0.2 * ((double)b->bytes / CWL_BATCH_BYTES_MAX);
    *c->m.fill = (uint64_t)(c->fill_avg * 100 + 0.5);
    batch_end(b);
}

/*
 * Schedules the head batch again after the back-off of its attempt, or drops
 * it once the output's retry_limit is spent. Returns false when dropped.
 */
static bool retry_later(struct cwl *c, struct cwl_batch *b)
{
    b->attempts++;
    if (c->retry_limit >= 0 && b->attempts > (uint64_t)c->retry_limit) {
        batch_drop(c, b, "retries_exhausted");
        return false;
    }
    uint64_t delay = gl_retry_delay(c->retry_base_ms, c->retry_cap_ms, b->attempts - 1,
                                    gl_retry_random(&c->rng));
    b->ready_ms = c->ops.now(c) + delay;
    return true;
}

/*
 * InvalidParameterException: the batch is split in two halves sent one after
 * the other, so good events go through and a bad one ends up alone and is
 * dropped. A batch of n events costs at most 2n - 1 requests.
 */
static void bisect(struct cwl *c, struct cwl_batch *b)
{
    if (b->n == 1) {
        batch_drop(c, b, "invalid_parameter");
        return;
    }
    size_t half = b->n / 2;
    size_t bytes = 0;
    for (size_t i = half; i < b->n; i++) {
        bytes += b->job->events[b->start + i].len + CWL_EVENT_OVERHEAD;
    }
    struct cwl_batch *second = batch_new(b->job, b->st, b->start + half, b->n - half, bytes);
    second->next = b->next;
    b->next = second;
    if (b->st->tail == b) {
        b->st->tail = second;
    }
    b->n = half;
    b->bytes -= bytes;
    b->attempts = 0;
}

/* ---- the pump ---- */

static void send_head(struct cwl *c, struct cwl_stream *st)
{
    static const enum cwl_action actions[] = {
        [CWL_STEP_PUT] = CWL_PUT_LOG_EVENTS,
        [CWL_STEP_CREATE_STREAM] = CWL_CREATE_LOG_STREAM,
        [CWL_STEP_CREATE_GROUP] = CWL_CREATE_LOG_GROUP,
        [CWL_STEP_RETENTION] = CWL_PUT_RETENTION_POLICY,
    };
    st->busy = true;
    c->aimd.inflight++;
    if (st->step == CWL_STEP_PUT) {
        c->ops.put(c, st->head);
    } else {
        c->ops.create(c, st, actions[st->step]);
    }
}

/*
 * One pass over the active streams: idle ones whose head is due are sent
 * while the AIMD limit allows, and a sent stream moves to the end of the
 * list so busy streams do not starve the others. Empty streams leave the
 * list. The timer is armed for the earliest head still waiting.
 */
static void pump_pass(struct cwl *c)
{
    uint64_t now = c->ops.now(c);
    uint64_t wait = UINT64_MAX;
    struct cwl_stream *prev = NULL;
    struct cwl_stream *st = c->active;
    struct cwl_stream *last = c->active_tail;
    while (st != NULL) {
        struct cwl_stream *next = st->anext;
        bool unlink = st->head == NULL;
        /* A head waiting for an older job's next part: that part's cut pumps again. */
        bool idle = !unlink && !st->busy && !blocked(st);
        if (idle && st->head->ready_ms > now) {
            wait = st->head->ready_ms - now < wait ? st->head->ready_ms - now : wait;
        } else if (idle && cwl_aimd_can_send(&c->aimd)) {
            unlink = st != c->active_tail;
            send_head(c, st);
        }
        if (unlink) {
            if (prev != NULL) {
                prev->anext = next;
            } else {
                c->active = next;
            }
            if (c->active_tail == st) {
                c->active_tail = prev;
            }
            st->active = false;
            if (st->head != NULL) {
                make_active(c, st);
            }
        } else {
            prev = st;
        }
        st = st == last ? NULL : next;
    }
    if (wait != UINT64_MAX) {
        c->ops.arm(c, wait);
    }
}

static void pump(struct cwl *c)
{
    if (c->stopping) {
        return;
    }
    if (c->pumping) {
        c->repump = true;
        return;
    }
    c->pumping = true;
    do {
        c->repump = false;
        pump_pass(c);
    } while (c->repump && !c->stopping);
    c->pumping = false;
    *c->m.concurrency = c->aimd.inflight;
    *c->m.concurrency_limit = c->aimd.limit;
    if (c->nstreams > CWL_STREAMS_KEEP) {
        streams_gc(c);
    }
}

void cwl_pump(struct cwl *c)
{
    pump(c);
}

/* ---- results ---- */

void cwl_put_result(struct cwl *c, struct cwl_batch *b, enum cwl_verdict v,
                    const struct cwl_reply *r)
{
    b->st->busy = false;
    c->aimd.inflight--;
    if (c->stopping) {
        return;
    }
    if (v == CWL_V_OK) {
        (*c->m.ok[CWL_PUT_LOG_EVENTS])++;
        gl_health_output_sent(c->ins);
    } else {
        (*c->m.failed[CWL_PUT_LOG_EVENTS])++;
        gl_health_output_failed(c->ins, v == CWL_V_THROTTLED ? "PutLogEvents throttled"
                                        : v == CWL_V_RETRY   ? "PutLogEvents failed, retrying"
                                                             : "PutLogEvents refused");
    }
    switch (v) {
    case CWL_V_OK:
        cwl_aimd_success(&c->aimd);
        batch_accepted(c, b, r);
        break;
    case CWL_V_THROTTLED:
        (*c->m.throttles)++;
        cwl_aimd_throttled(&c->aimd);
        retry_later(c, b);
        break;
    case CWL_V_REAUTH:
        if (!b->reauthed) {
            b->reauthed = true; /* the credentials were refreshed: retry at once */
            break;
        }
        retry_later(c, b);
        break;
    case CWL_V_RETRY:
        retry_later(c, b);
        break;
    case CWL_V_NOT_FOUND:
        b->st->step = CWL_STEP_CREATE_STREAM;
        break;
    case CWL_V_BISECT:
        bisect(c, b);
        break;
    case CWL_V_EXISTS:
    case CWL_V_DROP:
        batch_drop(c, b, "rejected");
        break;
    }
    pump(c);
}

/* The step after a create call succeeded (or found the resource there). */
static enum cwl_step step_after(const struct cwl *c, enum cwl_action a, enum cwl_verdict v)
{
    if (a == CWL_CREATE_LOG_GROUP && v == CWL_V_OK && c->retention_days > 0) {
        return CWL_STEP_RETENTION;
    }
    return a == CWL_CREATE_LOG_STREAM ? CWL_STEP_PUT : CWL_STEP_CREATE_STREAM;
}

/* A create call failed for good: its head batch is dropped, the next starts over. */
static void create_failed(struct cwl *c, struct cwl_stream *st, const char *reason)
{
    st->step = CWL_STEP_PUT;
    batch_drop(c, st->head, reason);
}

void cwl_create_result(struct cwl *c, struct cwl_stream *st, enum cwl_action a,
                       enum cwl_verdict v)
{
    st->busy = false;
    c->aimd.inflight--;
    if (c->stopping || st->head == NULL) {
        return;
    }
    bool ok = v == CWL_V_OK || v == CWL_V_EXISTS;
    (*(ok ? c->m.ok[a] : c->m.failed[a]))++;
    if (ok || a == CWL_PUT_RETENTION_POLICY) {
        if (!ok) {
            gl_log_warn(c->ins, "could not set the retention of log group %s", st->group);
        }
        st->step = step_after(c, a, v);
    } else if (v == CWL_V_NOT_FOUND && a == CWL_CREATE_LOG_STREAM && c->auto_create_group) {
        st->step = CWL_STEP_CREATE_GROUP;
    } else if (v == CWL_V_NOT_FOUND && a == CWL_CREATE_LOG_STREAM) {
        create_failed(c, st, "log_group_missing");
    } else if (v == CWL_V_THROTTLED || v == CWL_V_RETRY || v == CWL_V_REAUTH) {
        if (v == CWL_V_THROTTLED) {
            (*c->m.throttles)++;
            cwl_aimd_throttled(&c->aimd);
        }
        if (!retry_later(c, st->head)) {
            st->step = CWL_STEP_PUT;
        }
    } else {
        create_failed(c, st, "rejected");
    }
    pump(c);
}

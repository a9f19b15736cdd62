/*
 * The delivery queue of the es output. A flush becomes a job: one bulk item
 * per record, cut into batches of at most bulk_max_size bytes, queued in
 * order. As many batches are in flight as the adaptive limit allows (halved
 * when the cluster rejects work, one more after each success). An answer is
 * read item by item: stored items are done, items refused with 429 or 5xx
 * go into a new batch sent after retry.c's back-off, items rejected for good
 * are dropped by reason or become dead letters. 413 splits a batch in two.
 * A job ends, and its flush with it, when its last batch does.
 * Invariant: every item of a job is in exactly one batch until it is done,
 * and only batches off the queue are in flight.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/plugin.h"
#include "out_es.h"
#include "util/mem.h"
#include "util/retry.h"

static void pump(struct es *e);

/* ---- jobs ---- */

struct es_job *es_job_new(struct es *e, void *flush, uint32_t records)
{
    struct es_job *j = gl_calloc(1, sizeof(*j));
    j->e = e;
    j->flush = flush;
    j->records = records;
    j->dropped = gl_calloc((size_t)records / 8 + 1, 1);
    j->pending = 1;
    gl_buf_init(&j->arena);
    gl_buf_init(&j->dead);
    j->next = e->jobs;
    if (e->jobs != NULL) {
        e->jobs->prev = j;
    }
    e->jobs = j;
    return j;
}

void es_job_free(struct es_job *j)
{
    struct es *e = j->e;
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        e->jobs = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    gl_buf_pool_give(&j->arena);
    gl_buf_close(&j->dead);
    gl_free(j->items);
    gl_free(j->dropped);
    gl_free(j);
}

void es_job_drop(struct es_job *j, uint32_t index, const char *reason)
{
    if (index >= j->records || (j->dropped[index / 8] & (1u << (index % 8))) != 0) {
        return;
    }
    j->dropped[index / 8] |= (uint8_t)(1u << (index % 8));
    j->e->ops.drop(j, index, reason);
}

static void job_unref(struct es_job *j)
{
    if (--j->pending == 0) {
        j->e->ops.done(j);
        es_job_free(j);
    }
}

/* ---- batches ---- */

static struct es_batch *batch_new(struct es_job *j, uint32_t cap)
{
    struct es_batch *b = gl_calloc(1, sizeof(*b));
    b->job = j;
    b->items = gl_malloc((size_t)(cap > 0 ? cap : 1) * sizeof(*b->items));
    j->pending++;
    return b;
}

static void batch_add(struct es_batch *b, uint32_t i)
{
    b->items[b->n++] = i;
    b->bytes += b->job->items[i].len;
}

static void batch_free(struct es_batch *b)
{
    gl_free(b->items);
    gl_free(b);
}

/* A batch leaves the job: each of its items is done or in another batch now. */
static void batch_end(struct es_batch *b)
{
    struct es_job *j = b->job;
    batch_free(b);
    job_unref(j);
}

static void enqueue(struct es *e, struct es_batch *b)
{
    b->next = NULL;
    if (e->tail != NULL) {
        e->tail->next = b;
    } else {
        e->head = b;
    }
    e->tail = b;
}

void es_queue_init(struct es *e)
{
    e->rng = uv_hrtime() | 1;
    e->bulk_now = e->bulk_max;
}

void es_jobs_abandon(struct es *e, void (*each)(void *flush))
{
    e->stopping = true;
    while (e->head != NULL) {
        struct es_batch *b = e->head;
        e->head = b->next;
        batch_free(b);
    }
    e->tail = NULL;
    while (e->jobs != NULL) {
        if (each != NULL) {
            each(e->jobs->flush);
        }
        es_job_free(e->jobs);
    }
}

void es_job_submit(struct es_job *j)
{
    struct es *e = j->e;
    uint32_t i = 0;
    while (i < j->n_items) {
        uint32_t n = 0;
        size_t bytes = 0;
        while (i + n < j->n_items && (n == 0 || bytes + j->items[i + n].len <= e->bulk_now)) {
            bytes += j->items[i + n].len;
            n++;
        }
        struct es_batch *b = batch_new(j, n);
        for (uint32_t k = 0; k < n; k++) {
            batch_add(b, i + k);
        }
        enqueue(e, b);
        i += n;
    }
    job_unref(j);
    pump(e);
}

/* ---- the pump ---- */

/*
 * Sends, in queue order, the batches that are due while the adaptive limit
 * allows; arms the timer for the earliest one still waiting for its back-off.
 */
static void pump_pass(struct es *e)
{
    uint64_t now = e->ops.now(e);
    uint64_t wait = UINT64_MAX;
    struct es_batch **pp = &e->head;
    struct es_batch *prev = NULL;
    while (*pp != NULL) {
        struct es_batch *b = *pp;
        if (b->ready_ms > now) {
            wait = b->ready_ms - now < wait ? b->ready_ms - now : wait;
        } else if (es_aimd_can_send(&e->aimd)) {
            *pp = b->next;
            if (e->tail == b) {
                e->tail = prev;
            }
            e->aimd.inflight++;
            e->ops.send(e, b);
            continue;
        }
        prev = b;
        pp = &b->next;
    }
    if (wait != UINT64_MAX) {
        e->ops.arm(e, wait);
    }
}

static void pump(struct es *e)
{
    if (e->stopping) {
        return;
    }
    if (e->pumping) {
        e->repump = true;
        return;
    }
    e->pumping = true;
    do {
        e->repump = false;
        pump_pass(e);
    } while (e->repump && !e->stopping);
    e->pumping = false;
    *e->m.concurrency = e->aimd.inflight;
    *e->m.concurrency_limit = e->aimd.limit;
}

void es_pump(struct es *e)
{
    pump(e);
}

/* ---- failures ---- */

/* Drops every item of a batch that is not done, and ends the batch. */
static void batch_drop(struct es *e, struct es_batch *b, const char *reason)
{
    struct es_job *j = b->job;
    gl_log_error(e->ins, "%u documents dropped: %s", b->n, reason);
    for (uint32_t k = 0; k < b->n; k++) {
        struct es_item *it = &j->items[b->items[k]];
        it->state = ES_ITEM_DONE;
        es_job_drop(j, it->index, reason);
    }
    batch_end(b);
}

/*
 * Queues b again after the back-off of its next attempt (at least the
 * server's Retry-After, after_ms), or drops it once the output's
 * retry_limit is spent.
 */
static void retry_later(struct es *e, struct es_batch *b, uint64_t after_ms)
{
    b->attempts++;
    if (e->retry_limit >= 0 && b->attempts > (uint64_t)e->retry_limit) {
        batch_drop(e, b, "retries_exhausted");
        return;
    }
    uint64_t delay = gl_retry_delay_after(e->retry_base_ms, e->retry_cap_ms, b->attempts - 1,
                                          gl_retry_random(&e->rng), after_ms);
    b->ready_ms = e->ops.now(e) + delay;
    enqueue(e, b);
}

/*
 * 413 (or an answer too long to read): the batch goes out again as two
 * halves, so a request the server can take is found; a single item it
 * refuses is dropped as too large.
 */
static void split(struct es *e, struct es_batch *b, const char *why)
{
    if (b->n == 1) {
        batch_drop(e, b, "too_large");
        return;
    }
    gl_log_warn(e->ins, "a bulk request of %u documents (%zu bytes) %s: sent again in two "
                "halves; lower bulk_max_size below the server's limit", b->n, b->bytes, why);
    (*e->m.splits)++;
    /* Later requests are cut below what was refused, so they are not refused again. */
    if (b->bytes / 2 < e->bulk_now) {
        e->bulk_now = b->bytes / 2 > 1024 ? b->bytes / 2 : 1024;
    }
    uint32_t half = b->n / 2;
    struct es_batch *second = batch_new(b->job, b->n - half);
    for (uint32_t k = half; k < b->n; k++) {
        batch_add(second, b->items[k]);
    }
    b->n = half;
    b->bytes -= second->bytes;
    b->ready_ms = 0;
    enqueue(e, b);
    enqueue(e, second);
}

/* ---- items ---- */

/* Logs an error type the first time it is seen; trace_error prints every item with its document. */
static void log_rejected(struct es *e, const struct es_job *j, const struct es_item *it,
                         const struct es_result *r)
{
    const char *type = r->type ? r->type : "";
    int tlen = r->type ? (int)r->type_len : 0;
    int rlen = r->reason_len < 500 ? (int)r->reason_len : 500;
    if (e->trace_error) {
        const char *data = es_item_data(j, it);
        fprintf(stderr, "[output:es:%s] trace_error: HTTP %ld %.*s: %.*s\n%.*s",
                e->ins ? e->ins->alias : "es",
                r->status, tlen, type, rlen, r->reason ? r->reason : "", (int)it->len, data);
    }
    for (unsigned k = 0; k < e->n_logged; k++) {
        if ((size_t)tlen == strlen(e->logged[k]) && memcmp(e->logged[k], type, tlen) == 0) {
            return;
        }
    }
    if (e->n_logged < ES_REASONS_LOGGED && (size_t)tlen < sizeof(e->logged[0])) {
        memcpy(e->logged[e->n_logged], type, tlen);
        e->logged[e->n_logged++][tlen] = '\0';
    }
    gl_log_error(e->ins, "documents rejected with HTTP %ld %.*s: %.*s; %s%s (logged once per "
                 "error type; trace_error shows each)", r->status, tlen, type, rlen,
                 r->reason ? r->reason : "",
                 e->dead_letter_index && !(it->flags & ES_ITEM_DEAD) ? "written to "
                                                                     : "dropped and counted",
                 e->dead_letter_index && !(it->flags & ES_ITEM_DEAD) ? e->dead_letter_index
                                                                     : "");
}

/*
 * An item rejected for good: to the dead-letter index (into *dead, made for
 * at most cap items), or dropped by reason.
 */
static void reject(struct es *e, struct es_job *j, uint32_t i, const struct es_result *r,
                   struct es_batch **dead, uint32_t cap)
{
    struct es_item *it = &j->items[i];
    log_rejected(e, j, it, r);
    it->state = ES_ITEM_DONE;
    if (e->dead_letter_index == NULL || (it->flags & ES_ITEM_DEAD)) {
        es_job_drop(j, it->index, es_drop_reason(r->type, r->type_len));
        return;
    }
    uint32_t d = es_dead_letter_add(e, j, i, r);
    if (*dead == NULL) {
        *dead = batch_new(j, cap);
    }
    batch_add(*dead, d);
    (*e->m.dead_letters)++;
}

/*
 * Reads the answer of each item: stored and duplicates are done, retryable
 * ones go into one batch sent after the back-off, rejected ones are handled
 * by reject(). Throttling anywhere in the answer halves the requests in
 * flight once.
 */
static void per_item(struct es *e, struct es_batch *b, const struct es_reply *reply)
{
    struct es_job *j = b->job;
    struct es_batch *again = NULL;
    struct es_batch *dead = NULL;
    bool throttled = false;
    for (uint32_t k = 0; k < b->n; k++) {
        uint32_t i = b->items[k];
        struct es_item *it = &j->items[i];
        struct es_result r;
        es_reply_item(reply, k, &r);
        switch (es_item_verdict(&r, (it->flags & ES_ITEM_GENERATED) != 0)) {
        case ES_V_OK:
            it->state = ES_ITEM_DONE;
            (*e->m.items)++;
            break;
        case ES_V_DUPLICATE:
            it->state = ES_ITEM_DONE;
            (*e->m.duplicates)++;
            break;
        case ES_V_THROTTLED:
            throttled = true;
            /* fall through */
        case ES_V_RETRY:
            if (again == NULL) {
                again = batch_new(j, b->n - k);
                again->attempts = b->attempts;
            }
            batch_add(again, i);
            break;
        case ES_V_REJECTED:
            reject(e, j, i, &r, &dead, b->n - k);
            break;
        }
    }
    if (throttled) {
        (*e->m.rejections)++;
        es_aimd_rejected(&e->aimd);
    } else {
        es_aimd_success(&e->aimd);
    }
    if (again != NULL) {
        *e->m.retried += again->n;
        gl_log_debug(e->ins, "%u of %u documents refused for now%s: sent again", again->n, b->n,
                     throttled ? " (the cluster is busy)" : "");
        retry_later(e, again, 0);
    }
    if (dead != NULL) {
        enqueue(e, dead);
    }
    batch_end(b);
}

/* ---- answers ---- */

static void log_failure(struct es *e, const struct es_batch *b, const struct es_answer *a)
{
    struct es_result r = { 0 };
    if (a->reply != NULL) {
        es_reply_error(a->reply, &r);
    }
    if (a->err != NULL) {
        gl_log_warn(e->ins, "bulk request of %u documents: %s", b->n, a->err);
        return;
    }
    int rlen = r.reason_len < 300 ? (int)r.reason_len : 300;
    gl_log_warn(e->ins, "bulk request of %u documents: HTTP %ld %.*s%s%.*s", b->n, a->status,
                r.type ? (int)r.type_len : 0, r.type ? r.type : "", r.reason ? ": " : "", rlen,
                r.reason ? r.reason : "");
}

void es_batch_result(struct es *e, struct es_batch *b, const struct es_answer *a)
{
    e->aimd.inflight--;
    if (e->stopping) {
        batch_free(b);
        return;
    }
    long s = a->status;
    bool ok = a->err == NULL && s >= 200 && s < 300;
    (*(ok ? e->m.requests : e->m.requests_failed))++;
    if (!ok && s != 413 && a->err != gl_http_err_toobig) {
        log_failure(e, b, a);
    }
    if (s == 413 || a->err == gl_http_err_toobig) {
        split(e, b, s == 413 ? "was refused as too large (413)"
                             : "got an answer longer than buffer_size");
    } else if (s == 429) {
        (*e->m.rejections)++;
        es_aimd_rejected(&e->aimd);
        retry_later(e, b, a->retry_after_ms);
    } else if (a->err != NULL || s == 408 || s >= 500) {
        retry_later(e, b, a->retry_after_ms);
    } else if ((s == 401 || s == 403) && e->aws_auth && !b->reauthed) {
        b->reauthed = true; /* the credentials were refreshed: once more at once */
        enqueue(e, b);
    } else if (!ok) {
        batch_drop(e, b, es_status_reason(s));
    } else if (a->reply == NULL || a->reply->items == NULL || a->reply->n_items != b->n) {
        gl_log_warn(e->ins, "bulk answer of %u documents unreadable (%zu items): sent again",
                    b->n, a->reply && a->reply->items ? a->reply->n_items : 0);
        retry_later(e, b, 0);
    } else {
        per_item(e, b, a->reply);
    }
    pump(e);
}

/*
 * One remote-write queue: series sent in batches of at most
 * max_samples_per_send samples (and max_bytes_per_send bytes before
 * compression), when a batch is full or batch_send_deadline passed since the
 * oldest series came, and one of the shards is free. One request at a time:
 * it is retried, with the one back-off policy (429 and 5xx also honour
 * Retry-After), until it is accepted, refused for good (4xx: dropped,
 * counted, logged with the receiver's message) or out of retries
 * (retry_limit). A request waiting to be retried gives its shard back.
 * Invariant: the request is always the first `sending` items of the queue,
 * and they leave it only when it is accepted or dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aws/sigv4.h"
#include "codec/snappy.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/log.h"
#include "out_prometheus_remote_write.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/retry.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rw_shard_init(struct rw *rw, struct rw_shard *sh, int index)
{
    memset(sh, 0, sizeof(*sh));
    sh->rw = rw;
    sh->index = index;
    gl_buf_init(&sh->body);
    uv_timer_init(rw->ins->loop, &sh->timer);
    sh->timer.data = sh;
    sh->timer_open = true;
}

static struct rw_item *item_at(struct rw_shard *sh, size_t i)
{
    return &sh->items[(sh->head + i) % sh->cap];
}

/* Removes the first n items, telling their flushes; reason NULL when they were accepted. */
static void pop(struct rw_shard *sh, size_t n, const char *reason)
{
    for (size_t i = 0; i < n; i++) {
        struct rw_item *it = item_at(sh, 0);
        sh->samples -= it->samples;
        if (reason != NULL) {
            gl_flush_drop(it->fl->f, it->index, reason);
        }
        sh->head = (sh->head + 1) % sh->cap;
        sh->count--;
        rw_flush_release(sh->rw, it->fl, 1);
    }
    sh->oldest_ms = now_ms();
}

/* ---- sending ------------------------------------------------------------- */

static void send_body(struct rw_shard *sh);
static void on_timer(uv_timer_t *t);
static void after(struct rw_shard *sh);

/* The request: the first items up to max_samples_per_send samples (at least one). */
static size_t take(struct rw_shard *sh, struct gl_rw_series *out)
{
    const struct rw *rw = sh->rw;
    uint64_t samples = 0;
    size_t bytes = 0, n = 0;
    while (n < sh->count) {
        const struct rw_item *it = item_at(sh, n);
        /* About what a series costs encoded: its bytes, its name and labels again. */
        size_t cost = it->s.raw_len * 2 + it->s.name_len + 32;
        if (n > 0 && (samples + it->samples > (uint64_t)rw->max_samples ||
                      bytes + cost > rw->max_bytes)) {
            break;
        }
        out[n++] = it->s;
        samples += it->samples;
        bytes += cost;
    }
    return n;
}

/* Builds the next request's body from the head of the queue. */
static void prepare(struct rw_shard *sh)
{
    struct rw *rw = sh->rw;
    struct gl_rw_series *batch = gl_malloc((sh->count + 1) * sizeof(*batch));
    struct gl_buf pb;
    size_t n = take(sh, batch);
    gl_buf_init(&pb);
    gl_rw_encode(&pb, batch, n, rw->extra, rw->n_extra, rw->send_metadata);
    gl_free(batch);
    gl_buf_reset(&sh->body);
    gl_snappy_compress(pb.data ? pb.data : "", pb.len, &sh->body);
    gl_buf_close(&pb);
    sh->sending = n;
    sh->busy = true;
    sh->attempts = 0;
}

/*
 * Sends the queue's request (a new one, or the one waiting for its retry)
 * once a shard is free; else the queue waits for one (rw_shard_release).
 */
static void try_send(struct rw_shard *sh)
{
    if (sh->sending_now || (!sh->busy && sh->count == 0)) {
        return;
    }
    if (!rw_shard_acquire(sh->rw)) {
        sh->waiting = true;
        return;
    }
    sh->waiting = false;
    sh->sending_now = true;
    uv_timer_stop(&sh->timer);
    if (!sh->busy) {
        prepare(sh);
    }
    send_body(sh);
}

/* The request is over (answered or given up): the shard goes back. */
static void give_back(struct rw_shard *sh)
{
    if (sh->sending_now) {
        sh->sending_now = false;
        rw_shard_release(sh->rw);
    }
}

static void retry(struct rw_shard *sh, const struct gl_http_response *resp)
{
    struct rw *rw = sh->rw;
    struct gl_engine *e = rw->ins->engine;
    int64_t limit = rw->ins->core->opts.retry_limit;
    if (limit >= 0 && sh->attempts >= (uint64_t)limit) {
        gl_log_error(rw->ins, "%zu series dropped after %u retries", sh->sending, sh->attempts);
        rw->ins->stats.retries_failed++;
        gl_health_output_gave_up(rw->ins);
        pop(sh, sh->sending, "retries_exhausted");
        after(sh);
        return;
    }
    const char *after = resp != NULL ? gl_http_response_header(resp, "Retry-After") : NULL;
    uint64_t wait = gl_retry_delay_after(e->svc.sched_base_ms, e->svc.sched_cap_ms, sh->attempts,
                                         gl_retry_random(&rw->rng),
                                         gl_http_retry_after(after, time(NULL)));
    sh->attempts++;
    (*rw->m_retries)++;
    rw->ins->stats.retries++;
    give_back(sh);
    uv_timer_start(&sh->timer, on_timer, wait, 0);
}

/* 4xx but 429: the receiver will never take these samples (out of order, duplicate, bad). */
static void refused(struct rw_shard *sh, const struct gl_http_response *resp)
{
    static const char *const reasons[] = { "http_400", "http_401", "http_403", "http_404",
                                           "http_409", "http_413", "http_4xx" };
    long s = resp->status;
    const char *reason = s == 400 ? reasons[0] : s == 401 ? reasons[1] : s == 403 ? reasons[2]
                         : s == 404 ? reasons[3] : s == 409 ? reasons[4] : s == 413 ? reasons[5]
                                                                                : reasons[6];
    int n = resp->body_len < 300 ? (int)resp->body_len : 300;
    gl_log_error(sh->rw->ins, "%zu series refused (HTTP %ld): %.*s", sh->sending, s, n,
                 resp->body);
    pop(sh, sh->sending, reason);
    after(sh);
}

static void on_response(void *data, const struct gl_http_response *resp)
{
    struct rw_shard *sh = data;
    struct rw *rw = sh->rw;
    if (rw->ins->core->stopped && resp->err == gl_http_err_canceled) {
        return; /* the output stops: its flushes end without us */
    }
    (*rw->m_requests)++;
    if (resp->err == NULL && resp->status >= 200 && resp->status < 300) {
        for (size_t i = 0; i < sh->sending; i++) {
            *rw->m_samples += item_at(sh, i)->samples;
        }
        gl_health_output_sent(rw->ins);
        pop(sh, sh->sending, NULL);
        after(sh);
        return;
    }
    (*rw->m_failed)++;
    gl_health_output_failed(rw->ins, resp->err != NULL ? resp->err : "http_error");
    if (resp->err != NULL || gl_retry_http_status(resp->status)) {
        if (resp->err == NULL && (resp->status == 429 || resp->status >= 500)) {
            rw_throttled(rw);
        }
        if (resp->err != NULL) {
            gl_log_warn(rw->ins, "remote write to %s failed: %s%s%s; retrying", rw->url,
                        resp->err, resp->detail ? ": " : "", resp->detail ? resp->detail : "");
        } else {
            gl_log_warn(rw->ins, "remote write to %s: HTTP %ld; retrying", rw->url,
                        resp->status);
        }
        if (resp->status == 403 && rw->provider != NULL) {
            gl_aws_provider_invalidate(rw->provider);
        }
        retry(sh, resp);
        return;
    }
    if (resp->status == 403 && rw->provider != NULL) {
        gl_aws_provider_invalidate(rw->provider);
    }
    refused(sh, resp);
}

/* The bearer token, read from its file at each request (bound tokens rotate). */
static char *bearer(const struct rw *rw)
{
    struct gl_buf h;
    gl_buf_init(&h);
    gl_buf_puts(&h, "Bearer ");
    if (gl_fs_read_small(rw->bearer_token_file, 64 * 1024, &h) < 0 || h.len == 7) {
        gl_log_warn(rw->ins, "bearer_token_file %s: cannot read a token", rw->bearer_token_file);
        gl_buf_close(&h);
        return NULL;
    }
    return gl_buf_take(&h);
}

static const struct gl_sigv4_header sig_headers[] = {
    { "Content-Encoding", "snappy" },
    { "Content-Type", "application/x-protobuf" },
    { "X-Prometheus-Remote-Write-Version", "0.1.0" },
};

static void send_signed(struct rw_shard *sh, const struct gl_aws_creds *creds)
{
    struct rw *rw = sh->rw;
    struct gl_http_request *r = gl_http_new(&rw->http, GL_POST, rw->url);
    for (size_t i = 0; i < 3; i++) {
        gl_http_header(r, sig_headers[i].name, sig_headers[i].value);
    }
    gl_http_header(r, "User-Agent", "gleaner/" GL_VERSION);
    for (size_t i = 0; i < rw->header.count; i++) {
        gl_http_header(r, rw->header_names[i], rw->header_values[i]);
    }
    if (creds != NULL) {
        struct gl_sigv4_request req = {
            .method = "POST", .host = rw->url_host, .path = rw->url_path,
            .headers = sig_headers, .n_headers = 3, .payload = sh->body.data,
            .payload_len = sh->body.len, .region = gl_aws_provider_region(rw->provider),
            .service = rw->aws_service, .now = time(NULL),
        };
        struct gl_sigv4_result sig;
        if (gl_sigv4_sign(&req, creds, &sig) == 0) {
            gl_http_header(r, "X-Amz-Date", sig.amz_date);
            gl_http_header(r, "Authorization", sig.authorization);
            if (sig.security_token != NULL) {
                gl_http_header(r, "X-Amz-Security-Token", sig.security_token);
            }
        }
    } else if (rw->basic != NULL) {
        gl_http_header(r, "Authorization", rw->basic);
    } else if (rw->bearer_token_file != NULL) {
        char *token = bearer(rw);
        if (token != NULL) {
            gl_http_header(r, "Authorization", token);
            gl_free(token);
        }
    }
    gl_http_body_ref(r, sh->body.data, sh->body.len);
    gl_http_send(r, on_response, sh);
}

static void on_creds(void *data, const struct gl_aws_creds *creds, const char *err)
{
    struct rw_shard *sh = data;
    if (sh->rw->ins->core->stopped) {
        return;
    }
    if (creds == NULL) {
        gl_log_warn(sh->rw->ins, "no AWS credentials for remote write: %s",
                    err ? err : "unknown error");
        retry(sh, NULL);
        return;
    }
    send_signed(sh, creds);
}

static void send_body(struct rw_shard *sh)
{
    if (sh->rw->provider != NULL) {
        gl_aws_provider_get(sh->rw->provider, on_creds, sh);
    } else {
        send_signed(sh, NULL);
    }
}

/* ---- the queue ----------------------------------------------------------- */

static bool due(const struct rw_shard *sh)
{
    const struct rw *rw = sh->rw;
    return sh->count > 0 && (rw->stopping || sh->samples >= (uint64_t)rw->max_samples ||
                             now_ms() - sh->oldest_ms >= rw->deadline_ms);
}

/* What comes after a request: the next one when due, else the deadline's wait. */
static void after(struct rw_shard *sh)
{
    sh->busy = false;
    sh->sending = 0;
    give_back(sh);
    if (due(sh)) {
        try_send(sh);
    } else if (sh->count > 0) {
        uint64_t waited = now_ms() - sh->oldest_ms;
        uint64_t left = waited < sh->rw->deadline_ms ? sh->rw->deadline_ms - waited : 0;
        uv_timer_start(&sh->timer, on_timer, left, 0);
    }
}

/* The retry's wait, or the batch's deadline, is over. */
static void on_timer(uv_timer_t *t)
{
    try_send(t->data);
}

void rw_shard_push(struct rw_shard *sh, const struct rw_item *item)
{
    if (sh->count == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 256;
        struct rw_item *items = gl_malloc(cap * sizeof(*items));
        for (size_t i = 0; i < sh->count; i++) {
            items[i] = *item_at(sh, i);
        }
        gl_free(sh->items);
        sh->items = items;
        sh->head = 0;
        sh->cap = cap;
    }
    if (sh->count == 0) {
        sh->oldest_ms = now_ms();
        if (!sh->busy) {
            uv_timer_start(&sh->timer, on_timer, sh->rw->deadline_ms, 0);
        }
    }
    sh->items[(sh->head + sh->count) % sh->cap] = *item;
    sh->count++;
    sh->samples += item->samples;
    if (!sh->busy && !sh->waiting && due(sh)) {
        try_send(sh);
    }
}

void rw_shard_send_now(struct rw_shard *sh)
{
    if (!sh->busy && !sh->waiting && sh->count > 0) {
        try_send(sh);
    }
}

void rw_shard_wake(struct rw_shard *sh)
{
    if (sh->waiting) {
        try_send(sh);
    }
}

void rw_shard_abandon(struct rw_shard *sh)
{
    sh->count = 0;
    sh->samples = 0;
    sh->busy = false;
    sh->sending_now = false;
    sh->waiting = false;
}

void rw_shard_close(struct rw_shard *sh)
{
    if (sh->timer_open) {
        uv_close((uv_handle_t *)&sh->timer, NULL);
        sh->timer_open = false;
    }
    gl_free(sh->items);
    sh->items = NULL;
    gl_buf_close(&sh->body);
}

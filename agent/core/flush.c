/*
 * Flushes: one chunk on its way to one output. The buffer starts a flush,
 * the output finishes it with gl_flush_done(); a retry waits on the flush's
 * own timer (retry.c's back-off) and calls the output again with the same
 * flush, so at most `workers` chunks per output are in flight or waiting.
 * When a flush ends, its bytes leave the buffer and its chunk reference is
 * released; the last release acknowledges the input.
 * Invariant: a flush is on its output's list from start until it is freed.
 */
#include <time.h>

#include "core/chunk.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/input.h"
#include "core/log.h"
#include "util/mem.h"
#include "util/retry.h"

static const double latency_bounds[GL_LATENCY_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static void unlink_flush(struct gl_flush *f)
{
    struct gl_flush **pp = &f->out->core->flushes;
    while (*pp != NULL && *pp != f) {
        pp = &(*pp)->next;
    }
    if (*pp == f) {
        *pp = f->next;
    }
}

static void free_flush(struct gl_flush *f)
{
    gl_buf_close(&f->scratch);
    gl_free(f);
}

static void timer_closed(uv_handle_t *h)
{
    free_flush(h->data);
}

/* Ends a flush: accounting, chunk release, and the flush's memory. */
static void finish(struct gl_flush *f, bool abandon)
{
    struct gl_instance *out = f->out;
    unlink_flush(f);
    out->core->inflight--;
    gl__buffer_release(out, f->bytes);
    gl_flush_hold(f, 0);
    for (unsigned i = 0; i < f->n_chunks; i++) {
        struct gl_chunk *c = (struct gl_chunk *)f->chunks[i];
        if (abandon) {
            c->abandoned = true;
        }
        gl__chunk_release(c);
    }
    if (f->timer.data == f) {
        uv_close((uv_handle_t *)&f->timer, timer_closed);
    } else {
        free_flush(f);
    }
    gl__engine_kick(out->engine);
}

static void observe_latency(struct gl_instance_core *core, uint64_t ns)
{
    double s = (double)ns / 1e9;
    for (int i = 0; i < GL_LATENCY_BUCKETS; i++) {
        if (s <= latency_bounds[i]) {
            core->latency_buckets[i]++;
        }
    }
    core->latency_count++;
    core->latency_sum += s;
}

static void call_output(struct gl_flush *f)
{
    gl_buf_reset(&f->scratch);
    f->started_ns = uv_hrtime();
    f->out->plugin->flush(f->out, f);
}

static void retry_fire(uv_timer_t *t)
{
    struct gl_flush *f = t->data;
    call_output(f);
}

void gl__flush_start(struct gl_instance *out, struct gl_chunk *const *chunks, unsigned n)
{
    struct gl_flush *f = gl_calloc(1, sizeof(*f));
    f->out = out;
    f->chunk = chunks[0];
    for (unsigned i = 0; i < n; i++) {
        f->chunks[i] = chunks[i];
        f->records += chunks[i]->records;
        f->bytes += chunks[i]->data.len;
    }
    f->n_chunks = n;
    gl_buf_init(&f->scratch);
    f->next = out->core->flushes;
    out->core->flushes = f;
    out->core->inflight++;
    call_output(f);
}

void gl_flush_reason(struct gl_flush *f, const char *reason)
{
    f->reason = reason;
}

void gl_flush_drop(struct gl_flush *f, uint32_t index, const char *reason)
{
    (void)index;
    f->dropped++;
    gl_instance_drop(f->out, reason, 1);
}

void gl_flush_hold(struct gl_flush *f, size_t bytes)
{
    size_t left = bytes;
    for (unsigned i = 0; i < f->n_chunks; i++) {
        struct gl_chunk *c = (struct gl_chunk *)f->chunks[i];
        /* The last chunk takes what rounding left, so the shares add up to bytes. */
        size_t share = i + 1 == f->n_chunks || f->bytes == 0
                           ? left
                           : (size_t)((double)bytes * (double)c->data.len / (double)f->bytes);
        share = share < left ? share : left;
        left -= share;
        if (share != f->hold[i]) {
            gl__input_charge(c, (long)share - (long)f->hold[i]);
            f->hold[i] = share;
        }
    }
}

static void schedule_retry(struct gl_flush *f)
{
    struct gl_instance *out = f->out;
    struct gl_engine *e = out->engine;
    uint64_t delay = gl_retry_delay(e->svc.sched_base_ms, e->svc.sched_cap_ms, f->attempts,
                                    gl__engine_random(e));
    f->attempts++;
    if (f->timer.data != f) {
        uv_timer_init(out->loop, &f->timer);
        f->timer.data = f;
    }
    gl_log_warn(out, "%u records (tag %s) will be retried in %llu ms (attempt %u)",
                f->records, f->chunk->tag, (unsigned long long)delay, f->attempts);
    uv_timer_start(&f->timer, retry_fire, delay, 0);
}

void gl_flush_done(struct gl_flush *f, enum gl_flush_result result)
{
    struct gl_instance *out = f->out;
    struct gl_engine *e = out->engine;
    observe_latency(out->core, uv_hrtime() - f->started_ns);
    if (result == GL_OK) {
        gl_health_output_sent(out);
        out->stats.records_out += f->records - f->dropped;
        out->stats.bytes_out += f->bytes;
        finish(f, false);
        return;
    }
    out->stats.errors++;
    gl_health_output_failed(out, f->reason ? f->reason : result == GL_RETRY ? "retry" : "drop");
    if (result == GL_RETRY && !e->hard_stop) {
        int64_t limit = out->core->opts.retry_limit;
        if (limit < 0 || f->attempts < (uint64_t)limit) {
            out->stats.retries++;
            schedule_retry(f);
            return;
        }
        out->stats.retries_failed++;
        gl_health_output_gave_up(out);
        f->reason = "retries_exhausted";
    }
    if (result == GL_RETRY && e->hard_stop) {
        /* Shutting down past grace: not delivered, so not acknowledged. */
        finish(f, true);
        return;
    }
    const char *reason = f->reason ? f->reason : "rejected";
    gl_instance_drop(out, reason, f->records - f->dropped);
    gl_log_error(out, "dropped %u records (tag %s): %s", f->records - f->dropped,
                 f->chunk->tag, reason);
    finish(f, false);
}

/*
 * Grace ran out: flushes waiting for a retry are given up without an
 * acknowledgement; those in flight end when the output's stop cancels them.
 */
void gl__flush_abandon_all(struct gl_instance *out)
{
    struct gl_flush *f = out->core->flushes;
    while (f != NULL) {
        struct gl_flush *next = f->next;
        if (f->timer.data == f && uv_is_active((uv_handle_t *)&f->timer)) {
            uv_timer_stop(&f->timer);
            finish(f, true);
        }
        f = next;
    }
}

double gl__flush_latency_bound(int i)
{
    return latency_bounds[i];
}

/*
 * At teardown: an output's stop must end or cancel its flushes; any still
 * listed are released here without acknowledgement so nothing leaks (a
 * retry timer is closed; the caller turns the loop once more to free it).
 */
void gl__flush_free_all(struct gl_instance *out)
{
    while (out->core->flushes != NULL) {
        finish(out->core->flushes, true);
    }
}

/*
 * The output buffer and the acknowledgement path, with a test input and a
 * test output whose flushes the test completes by hand: mem_buf_limit pauses
 * and resumes the feeding input, retries follow the schedule up to
 * retry_limit, drops are counted by reason, and the input is acknowledged
 * only when every matching output is done with a chunk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "codec/shared.h"
#include "config/config.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/event.h"
#include "core/flush.h"
#include "core/input.h"
#include "core/log.h"
#include "metrics/batch.h"
#include "util/error.h"

#include "engine_harness.h"

/* ---- a test input and a test output ---------------------------------------- */

static int pauses, resumes, acks;
static struct gl_ack last_ack;
static struct gl_flush *held[256];
static int n_held, flush_calls;

static void tin_pause(struct gl_instance *ins) { (void)ins; pauses++; }
static void tin_resume(struct gl_instance *ins) { (void)ins; resumes++; }
static void tin_ack(struct gl_instance *ins, const struct gl_ack *a)
{
    (void)ins;
    acks++;
    last_ack = *a;
}

static void tout_flush(struct gl_instance *ins, struct gl_flush *f)
{
    (void)ins;
    flush_calls++;
    held[n_held++] = f;
}

static struct gl_hold *holding;
static int hold_calls, filter_calls;

static int tf_hold(struct gl_instance *ins, const struct gl_chunk *c, struct gl_hold *h)
{
    (void)ins;
    (void)c;
    hold_calls++;
    if (holding == NULL && hold_calls == 1) {
        holding = h;
        return GL_EAGAIN;
    }
    return 0;
}

static enum gl_filter_result tf_filter(struct gl_instance *ins, const struct gl_record *rec,
                                       struct gl_event *out)
{
    (void)ins;
    (void)rec;
    (void)out;
    filter_calls++;
    return GL_FILTER_KEEP;
}

static const struct gl_plugin test_hold = {
    .kind = GL_FILTER, .name = "test_hold", .description = "test",
    .hold = tf_hold, .filter = tf_filter,
};

/* Rewrites every record with 400 more bytes, as an enriching filter does. */
static enum gl_filter_result tf_grow(struct gl_instance *ins, const struct gl_record *rec,
                                     struct gl_event *out)
{
    static const char pad[400] = { 'y' };
    (void)ins;
    (void)rec;
    gl_event_kv_str(out, "more", pad, sizeof(pad));
    return GL_FILTER_MODIFIED;
}

static const struct gl_plugin test_grow = {
    .kind = GL_FILTER, .name = "test_grow", .description = "test", .filter = tf_grow,
};

static const struct gl_plugin test_in = {
    .kind = GL_INPUT, .name = "test_in", .description = "test",
    .pause = tin_pause, .resume = tin_resume, .ack = tin_ack,
};
static const struct gl_plugin test_metrics_in = {
    .kind = GL_INPUT, .name = "test_metrics_in", .description = "test", .data = GL_METRICS,
};
static const struct gl_plugin test_out = {
    .kind = GL_OUTPUT, .name = "test_out", .description = "test", .flush = tout_flush,
    .data = GL_LOGS | GL_METRICS,
};
static const struct gl_plugin test_logs_out = {
    .kind = GL_OUTPUT, .name = "test_logs_out", .description = "test", .flush = tout_flush,
};
const struct gl_plugin *const gl_plugins[] = { &test_in, &test_metrics_in, &test_hold,
                                                &test_grow, &test_out, &test_logs_out, NULL };

/* ---- fixture ---------------------------------------------------------------- */

static struct fx *fx_new(const char *yaml)
{
    pauses = resumes = acks = n_held = flush_calls = 0;
    return fx_open(yaml);
}

static void fx_free(struct fx *fx)
{
    fx_close(fx);
}

/* Emits up to n records of about 100 bytes covering [pos, pos + n), until paused. */
static int emit(struct gl_instance *in, int n, uint64_t pos)
{
    static const char pad[80] = { 'x' };
    int rc = 0;
    for (int i = 0; i < n; i++) {
        struct gl_event ev;
        gl_event_begin(&ev, in, 1000 + (uint64_t)i);
        gl_event_kv_str(&ev, "log", pad, sizeof(pad));
        gl_event_position(&ev, 7, pos + (uint64_t)i, pos + (uint64_t)i + 1);
        rc = gl_event_commit(&ev);
        if (rc == GL_EPAUSED) {
            break; /* as an input does */
        }
    }
    return rc;
}

#define ONE_OUTPUT(extra)                                                                     \
    "service: { flush: 1h, scheduler.base: 1ms, scheduler.cap: 4ms }\n"                      \
    "pipeline:\n"                                                                             \
    "  inputs: [ { name: test_in, tag: t } ]\n"                                               \
    "  outputs: [ { name: test_out, match: '*', mem_buf_limit: 1KiB " extra " } ]\n"

/* ---- tests ------------------------------------------------------------------ */

static void test_buffer_full_pauses_and_drain_resumes(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(""));
    struct gl_instance *in = fx->e->inputs[0], *out = fx->e->outputs[0];
    assert_int_equal(emit(in, 30, 0), 0);
    gl__input_flush_open(in);
    assert_true(out->core->full);
    assert_int_equal(pauses, 1);
    assert_int_equal(emit(in, 1, 30), GL_EPAUSED);
    turn(fx);
    assert_int_equal(n_held, 1);
    assert_int_equal(held[0]->chunk->records, 30);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(resumes, 1);
    assert_false(out->core->full);
    assert_int_equal(acks, 1);
    assert_int_equal(last_ack.source, 7);
    assert_int_equal(last_ack.start, 0);
    assert_int_equal(last_ack.end, 30);
    assert_int_equal(out->stats.records_out, 30);
    fx_free(fx);
}

static void test_buffer_under_limit_does_not_pause(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(""));
    struct gl_instance *in = fx->e->inputs[0];
    assert_int_equal(emit(in, 5, 0), 0);
    gl__input_flush_open(in);
    assert_int_equal(pauses, 0);
    turn(fx);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(acks, 1);
    fx_free(fx);
}

/* Sums the sizes of the chunks the test output holds, from index `from`. */
static size_t held_chunk_bytes(int from)
{
    size_t n = 0;
    for (int i = from; i < n_held; i++) {
        n += held[i]->chunk->data.len;
    }
    return n;
}

static void test_input_mem_buf_limit_pauses_until_ack(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: t, mem_buf_limit: 2KiB } ]\n"
                           "  outputs: [ { name: test_out, match: '*', workers: 64 } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    assert_int_equal(emit(in, 10, 0), 0);
    assert_int_equal(emit(in, 20, 10), GL_EPAUSED);
    assert_int_equal(pauses, 1);
    /* Pausing sent the open chunk on: nothing waits for the flush tick. */
    assert_null(in->core->slots[0] != NULL ? in->core->last_slot->open : NULL);
    turn(fx);
    /* At its limit, the input's chunks go out one flush at a time, the rest wait queued. */
    struct gl_instance *out = fx->e->outputs[0];
    assert_int_equal(n_held, 1);
    assert_true(out->core->q_count >= 1);
    assert_int_equal(in->core->held_bytes, out->core->buffer_bytes);
    /* The release that takes the account under the limit resumes the input, not a tick. */
    int i = 0;
    while (in->core->held_bytes >= 2048) {
        assert_int_equal(resumes, 0);
        gl_flush_done(held[i++], GL_OK);
        turn(fx);
    }
    assert_int_equal(resumes, 1);
    while (i < n_held) {
        gl_flush_done(held[i++], GL_OK);
        turn(fx);
    }
    assert_int_equal(out->core->q_count, 0);
    assert_int_equal(in->core->held_bytes, 0);
    assert_int_equal(in->core->open_bytes, 0);
    fx_free(fx);
}

/*
 * What an output holds for a flush (gl_flush_hold) counts against the
 * input's limit: it pauses the input, a second call replaces the amount, and
 * the end of the flush gives it back with the chunk.
 */
static void test_output_memory_of_a_flush_counts_for_its_input(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: t, mem_buf_limit: 4KiB } ]\n"
                           "  outputs: [ { name: test_out, match: '*' } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    assert_int_equal(emit(in, 10, 0), 0);
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 1);
    size_t chunk = held_chunk_bytes(0);
    assert_int_equal(in->core->held_bytes, chunk);
    assert_int_equal(pauses, 0);
    gl_flush_hold(held[0], 4096);
    assert_int_equal(in->core->held_bytes, chunk + 4096);
    assert_int_equal(pauses, 1);
    gl_flush_hold(held[0], 100);
    assert_int_equal(in->core->held_bytes, chunk + 100);
    assert_int_equal(resumes, 1);
    gl_flush_hold(held[0], 5000);
    assert_int_equal(pauses, 2);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(in->core->held_bytes, 0);
    assert_int_equal(resumes, 2);
    assert_int_equal(acks, 1);
    fx_free(fx);
}

/* Emits one record of about 100 bytes under its own tag. */
static int emit_tag(struct gl_instance *in, const char *tag, uint64_t source, uint64_t pos)
{
    static const char pad[80] = { 'x' };
    struct gl_event ev;
    gl_event_begin_tag(&ev, in, tag, strlen(tag), 1000);
    gl_event_kv_str(&ev, "log", pad, sizeof(pad));
    gl_event_position(&ev, source, pos, pos + 1);
    return gl_event_commit(&ev);
}

static void test_open_chunks_of_many_tags_go_at_half_the_limit(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: 'k.*', mem_buf_limit: 64KiB } ]\n"
                           "  outputs: [ { name: test_out, match: '*', workers: 64 } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    char tag[32];
    /* 100 tags, 3 records each: 30 KiB stays open, under half the limit. */
    for (int round = 0; round < 3; round++) {
        for (int t = 0; t < 100; t++) {
            snprintf(tag, sizeof(tag), "k.%d", t);
            assert_int_equal(emit_tag(in, tag, (uint64_t)t + 1, (uint64_t)round), 0);
        }
    }
    turn(fx);
    assert_int_equal(n_held, 0);
    assert_true(in->core->open_bytes > 25 * 1024);
    /* The record that takes the open chunks past 32 KiB sends them all. */
    for (int t = 0; in->core->open_bytes != 0; t++) {
        assert_true(t < 100);
        snprintf(tag, sizeof(tag), "k.%d", t);
        emit_tag(in, tag, (uint64_t)t + 1, 3);
    }
    turn(fx);
    struct gl_instance *out = fx->e->outputs[0];
    assert_int_equal(n_held + (int)out->core->q_count, 100);
    assert_int_equal(pauses, 0);
    assert_int_equal(in->core->held_bytes, out->core->buffer_bytes);
    fx_free(fx);
}

static void test_source_changes_keep_the_account_exact(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: t, mem_buf_limit: 1MiB } ]\n"
                           "  outputs: [ { name: test_out, match: '*', workers: 64 } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    for (int i = 0; i < 40; i++) {
        /* Each record from another source than the last starts a chunk of its own. */
        assert_int_equal(emit_tag(in, "t", (uint64_t)(i % 2) + 1, (uint64_t)i), 0);
    }
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 40);
    assert_int_equal(in->core->held_bytes, held_chunk_bytes(0));
    assert_int_equal(in->stats.bytes_in, held_chunk_bytes(0));
    assert_int_equal(pauses, 0);
    for (int i = 0; i < n_held; i++) {
        gl_flush_done(held[i], GL_OK);
    }
    assert_int_equal(in->core->held_bytes, 0);
    fx_free(fx);
}

static void test_held_and_rewritten_chunks_count_for_their_input(void **state)
{
    (void)state;
    holding = NULL;
    hold_calls = filter_calls = 0;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: t, mem_buf_limit: 3KiB } ]\n"
                           "  filters:\n"
                           "    - { name: test_grow, match: '*' }\n"
                           "    - { name: test_hold, match: '*' }\n"
                           "  outputs: [ { name: test_out, match: '*', workers: 64 } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    assert_int_equal(emit(in, 5, 0), 0);
    gl__input_flush_open(in);
    /* Rewritten to over 400 bytes a record (100 as emitted) and held by the second filter. */
    assert_non_null(holding);
    assert_true(in->core->held_bytes > 5 * 400);
    assert_int_equal(emit(in, 5, 5), 0);
    gl__input_flush_open(in);
    /* Waiting behind the held one, as emitted: the account is at about 2.6 KiB. */
    assert_true(in->core->held_bytes > 5 * 400 + 5 * 90);
    assert_int_equal(pauses, 0);
    /* The third chunk takes it past 3 KiB while nothing reached an output. */
    emit(in, 5, 10);
    gl__input_flush_open(in);
    assert_int_equal(pauses, 1);
    assert_int_equal(n_held, 0);
    gl_hold_release(holding);
    turn(fx);
    /* The input is at its limit: one flush at a time. */
    assert_int_equal(n_held, 1);
    assert_int_equal(in->core->held_bytes, fx->e->outputs[0]->core->buffer_bytes);
    for (int i = 0; i < n_held; i++) {
        gl_flush_done(held[i], GL_OK);
        turn(fx);
    }
    assert_int_equal(n_held, 3);
    assert_int_equal(resumes, 1);
    assert_int_equal(in->core->held_bytes, 0);
    fx_free(fx);
}

static void test_retry_until_limit_then_drop(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(", retry_limit: 2"));
    struct gl_instance *in = fx->e->inputs[0], *out = fx->e->outputs[0];
    emit(in, 3, 0);
    gl__input_flush_open(in);
    turn(fx);
    for (int attempt = 0; attempt < 3; attempt++) {
        assert_int_equal(n_held, 1);
        struct gl_flush *f = held[0];
        n_held = 0;
        assert_int_equal(f->attempts, attempt);
        gl_flush_done(f, GL_RETRY);
        while (n_held == 0 && attempt < 2) {
            uv_run(&fx->loop, UV_RUN_ONCE);
        }
    }
    assert_int_equal(flush_calls, 3);
    assert_int_equal(out->stats.retries, 2);
    assert_int_equal(out->stats.retries_failed, 1);
    assert_string_equal(out->stats.dropped[0].reason, "retries_exhausted");
    assert_int_equal(out->stats.dropped[0].records, 3);
    assert_int_equal(acks, 1);
    fx_free(fx);
}

static void test_drop_counts_reason_and_acks(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(""));
    struct gl_instance *in = fx->e->inputs[0], *out = fx->e->outputs[0];
    emit(in, 4, 0);
    gl__input_flush_open(in);
    turn(fx);
    gl_flush_drop(held[0], 1, "too_old");
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(out->stats.records_out, 3);
    assert_string_equal(out->stats.dropped[0].reason, "too_old");
    assert_int_equal(out->stats.dropped[0].records, 1);
    n_held = 0;
    emit(in, 2, 4);
    gl__input_flush_open(in);
    turn(fx);
    gl_flush_reason(held[0], "http_400");
    gl_flush_done(held[0], GL_DROP);
    assert_string_equal(out->stats.dropped[1].reason, "http_400");
    assert_int_equal(out->stats.dropped[1].records, 2);
    assert_int_equal(out->stats.errors, 1);
    assert_int_equal(acks, 2);
    fx_free(fx);
}

static void test_ack_waits_for_every_output(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: app.x } ]\n"
                           "  outputs:\n"
                           "    - { name: test_out, match: 'app.*' }\n"
                           "    - { name: test_out, match_regex: '^app' }\n"
                           "    - { name: test_out, match: 'other' }\n");
    struct gl_instance *in = fx->e->inputs[0];
    emit(in, 2, 100);
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 2);
    assert_ptr_equal(held[0]->chunk, held[1]->chunk);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(acks, 0);
    gl_flush_done(held[1], GL_OK);
    assert_int_equal(acks, 1);
    assert_int_equal(last_ack.start, 100);
    assert_int_equal(last_ack.end, 102);
    fx_free(fx);
}

static void test_workers_bound_flushes_in_flight(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(", workers: 2"));
    struct gl_instance *in = fx->e->inputs[0];
    for (int i = 0; i < 4; i++) {
        emit(in, 1, (uint64_t)i);
        gl__input_flush_open(in);
    }
    turn(fx);
    assert_int_equal(n_held, 2);
    assert_int_equal(fx->e->outputs[0]->core->q_count, 2);
    gl_flush_done(held[0], GL_OK);
    turn(fx);
    assert_int_equal(n_held, 3);
    fx_free(fx);
}

static void test_shutdown_past_grace_is_not_acknowledged(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(""));
    struct gl_instance *in = fx->e->inputs[0];
    emit(in, 3, 0);
    gl__input_flush_open(in);
    turn(fx);
    struct gl_flush *f = held[0];
    gl_flush_done(f, GL_RETRY);
    fx_free(fx);
    assert_int_equal(acks, 0);
}

static void test_source_change_splits_chunk(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(""));
    struct gl_instance *in = fx->e->inputs[0];
    struct gl_event ev;
    for (int i = 0; i < 2; i++) {
        gl_event_begin(&ev, in, 1);
        gl_event_kv_str(&ev, "log", "a", 1);
        gl_event_position(&ev, (uint64_t)(i + 1), 10, 20);
        gl_event_commit(&ev);
    }
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 1);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(last_ack.source, 1);
    turn(fx);
    assert_int_equal(n_held, 2);
    gl_flush_done(held[1], GL_OK);
    assert_int_equal(last_ack.source, 2);
    assert_int_equal(acks, 2);
    fx_free(fx);
}

/* A small shared map {"pod_name": "web-1"}, with one reference (the caller's). */
static struct gl_shared *new_pod_value(void)
{
    static const char m[] = "\x81\xa8pod_name\xa5web-1";
    struct gl_shared *v = gl_shared_new(m, sizeof(m) - 1);
    assert_non_null(v);
    return v;
}

/*
 * A memory input's records refer to a shared value (as tail's kubernetes
 * map): each carries the 10-byte reference, the chunks keep the value alive
 * after the input let go of it, a record moved to a new chunk by a source
 * change takes it along, and the value goes with the last chunk.
 */
static void test_input_records_refer_to_shared_values(void **state)
{
    (void)state;
    struct fx *fx = fx_new(ONE_OUTPUT(""));
    struct gl_instance *in = fx->e->inputs[0];
    struct gl_shared *v = new_pod_value();
    for (int i = 0; i < 3; i++) {
        struct gl_event ev;
        gl_event_begin(&ev, in, 1);
        gl_event_kv_str(&ev, "log", "a", 1);
        gl_event_kv_shared(&ev, "kubernetes", 10, v);
        gl_event_position(&ev, i < 2 ? 1 : 2, 10, 20); /* the third record splits */
        gl_event_commit(&ev);
    }
    gl_shared_unref(v);
    assert_int_equal(gl_shared_count(), 1);
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 1);
    const struct gl_chunk *c = held[0]->chunk;
    assert_int_equal(c->records, 2);
    assert_non_null(memmem(c->data.data, c->data.len, "\xd7\x01", 2));
    assert_null(memmem(c->data.data, c->data.len, "pod_name", 8));
    gl_flush_done(held[0], GL_OK);
    turn(fx);
    assert_int_equal(n_held, 2);
    assert_int_equal(held[1]->chunk->records, 1);
    assert_int_equal(gl_shared_count(), 1); /* the moved record's chunk holds it */
    struct gl_chunk_iter it;
    struct gl_record rec;
    gl_chunk_iter_init(&it, held[1]->chunk);
    assert_int_equal(gl_chunk_next(&it, &rec), 0);
    const msgpack_object *k8s = gl_shared_deref(&rec.body->via.map.ptr[1].val);
    assert_non_null(k8s);
    assert_int_equal(k8s->type, MSGPACK_OBJECT_MAP);
    gl_chunk_iter_close(&it);
    gl_flush_done(held[1], GL_OK);
    fx_free(fx);
    assert_int_equal(gl_shared_count(), 0);
}

static void test_held_chunk_keeps_order_of_its_tag(void **state)
{
    (void)state;
    holding = NULL;
    hold_calls = filter_calls = 0;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: t } ]\n"
                           "  filters: [ { name: test_hold, match: '*' } ]\n"
                           "  outputs: [ { name: test_out, match: '*', workers: 4 } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    emit(in, 2, 0);
    gl__input_flush_open(in);
    emit(in, 3, 2);
    gl__input_flush_open(in);
    turn(fx);
    assert_non_null(holding);
    assert_int_equal(hold_calls, 1);
    assert_int_equal(n_held, 0);
    gl_hold_release(holding);
    turn(fx);
    assert_int_equal(hold_calls, 2);
    assert_int_equal(filter_calls, 5);
    assert_int_equal(n_held, 2);
    assert_int_equal(held[0]->chunk->records, 2);
    assert_int_equal(held[1]->chunk->records, 3);
    gl_flush_done(held[1], GL_OK);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(acks, 2);
    fx_free(fx);
}

/* Commits a batch of n gauge series to a metrics input. */
static int emit_series(struct gl_instance *in, int n)
{
    struct gl_batch b;
    gl_batch_begin(&b, in, 1700000000000);
    gl_batch_family(&b, "g", 1, GL_METRIC_GAUGE, NULL, 0, NULL, 0);
    for (int i = 0; i < n; i++) {
        gl_batch_sample(&b, NULL, 0, 0, i);
    }
    return gl_batch_commit(&b);
}

static void test_metrics_reach_only_what_takes_them(void **state)
{
    (void)state;
    holding = NULL;
    hold_calls = filter_calls = 0;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs:\n"
                           "    - { name: test_metrics_in, tag: m }\n"
                           "    - { name: test_in, tag: l }\n"
                           "  filters: [ { name: test_hold, match: '*' } ]\n"
                           "  outputs:\n"
                           "    - { name: test_logs_out, match: '*' }\n"
                           "    - { name: test_out, match: '*' }\n"
                           "    - { name: test_out, match: 'other' }\n");
    struct gl_instance *in = fx->e->inputs[0];
    assert_int_equal(emit_series(in, 3), 0);
    assert_int_equal(in->stats.records_in, 3);
    gl__input_flush_open(in);
    turn(fx);
    /* The log filter is passed by; only the output that takes metrics gets the chunk. */
    assert_int_equal(hold_calls, 0);
    assert_int_equal(filter_calls, 0);
    assert_int_equal(n_held, 1);
    assert_ptr_equal(held[0]->out, fx->e->outputs[1]);
    assert_int_equal(held[0]->chunk->type, GL_METRICS);
    assert_int_equal(held[0]->chunk->records, 3);
    assert_int_equal(held[0]->chunk->refs, 1);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(in->core->held_bytes, 0);
    fx_free(fx);
}

/*
 * A batch written off the loop into a buffer of its own reaches the chunk
 * byte for byte; the chunk is made room for up to the size it is routed at.
 */
static void test_metrics_batch_written_elsewhere_is_taken_whole(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_metrics_in, tag: m } ]\n"
                           "  outputs: [ { name: test_out, match: '*' } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    struct gl_buf own;
    struct gl_batch b;
    gl_buf_init(&own);
    gl_batch_begin_buf(&b, &own, 1700000000000);
    gl_batch_family(&b, "g", 1, GL_METRIC_GAUGE, "help", 4, NULL, 0);
    gl_batch_sample(&b, &(struct gl_label){"k", 1, "v", 1}, 1, 0, 1.5);
    gl_batch_sample(&b, NULL, 0, 0, 2);
    gl_batch_commit(&b);
    assert_int_equal(gl_batch_commit_bytes(in, own.data, own.len, b.total), 0);
    assert_int_equal(gl_batch_commit_bytes(in, own.data, own.len, b.total), 0);
    assert_int_equal(gl_batch_commit_bytes(in, "", 0, 0), 0);
    assert_int_equal(in->stats.records_in, 4);
    assert_int_equal(in->stats.bytes_in, 2 * own.len);
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 1);
    const struct gl_chunk *c = held[0]->chunk;
    assert_int_equal(c->type, GL_METRICS);
    assert_int_equal(c->records, 4);
    assert_int_equal(c->data.len, 2 * own.len);
    assert_int_equal(c->data.cap, GL_CHUNK_SIZE); /* made room for at the first batch */
    assert_memory_equal(c->data.data, own.data, own.len);
    assert_memory_equal(c->data.data + own.len, own.data, own.len);
    gl_flush_done(held[0], GL_OK);
    gl_buf_close(&own);
    fx_free(fx);
}

static void test_logs_and_metrics_of_one_tag_never_share_a_chunk(void **state)
{
    (void)state;
    struct fx *fx = fx_new("service: { flush: 1h }\n"
                           "pipeline:\n"
                           "  inputs: [ { name: test_in, tag: t } ]\n"
                           "  outputs: [ { name: test_out, match: '*', workers: 8 } ]\n");
    struct gl_instance *in = fx->e->inputs[0];
    emit(in, 2, 0);
    emit_series(in, 4);
    emit(in, 1, 2);
    gl__input_flush_open(in);
    turn(fx);
    assert_int_equal(n_held, 3);
    assert_int_equal(held[0]->chunk->type, GL_LOGS);
    assert_int_equal(held[0]->chunk->records, 2);
    assert_int_equal(held[1]->chunk->type, GL_METRICS);
    assert_int_equal(held[1]->chunk->records, 4);
    assert_int_equal(held[2]->chunk->type, GL_LOGS);
    fx_free(fx);
}

static void test_route_that_can_carry_nothing_is_a_config_error(void **state)
{
    (void)state;
    const char *yaml = "pipeline:\n"
                       "  inputs:\n"
                       "    - { name: test_metrics_in, tag: node.metrics }\n"
                       "    - { name: test_in, tag: 'kube.*' }\n"
                       "  outputs:\n"
                       "    - name: test_logs_out\n"
                       "      match: 'node.*'\n"
                       "    - { name: test_logs_out, match: '*' }\n"
                       "    - { name: test_out, match: 'kube.var.*' }\n";
    uv_loop_t loop;
    uv_loop_init(&loop);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    struct gl_config *cfg = gl_config_load_text("t.yaml", yaml, strlen(yaml));
    assert_null(gl_engine_new(&loop, cfg));
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "t.yaml:7:14: output test_logs_out.0: match covers only inputs emitting "
                        "metrics (test_metrics_in.0...), but test_logs_out takes logs");
    gl_config_free(cfg);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_full_pauses_and_drain_resumes),
        cmocka_unit_test(test_buffer_under_limit_does_not_pause),
        cmocka_unit_test(test_input_mem_buf_limit_pauses_until_ack),
        cmocka_unit_test(test_output_memory_of_a_flush_counts_for_its_input),
        cmocka_unit_test(test_open_chunks_of_many_tags_go_at_half_the_limit),
        cmocka_unit_test(test_source_changes_keep_the_account_exact),
        cmocka_unit_test(test_held_and_rewritten_chunks_count_for_their_input),
        cmocka_unit_test(test_retry_until_limit_then_drop),
        cmocka_unit_test(test_drop_counts_reason_and_acks),
        cmocka_unit_test(test_ack_waits_for_every_output),
        cmocka_unit_test(test_workers_bound_flushes_in_flight),
        cmocka_unit_test(test_shutdown_past_grace_is_not_acknowledged),
        cmocka_unit_test(test_source_change_splits_chunk),
        cmocka_unit_test(test_input_records_refer_to_shared_values),
        cmocka_unit_test(test_held_chunk_keeps_order_of_its_tag),
        cmocka_unit_test(test_metrics_reach_only_what_takes_them),
        cmocka_unit_test(test_metrics_batch_written_elsewhere_is_taken_whole),
        cmocka_unit_test(test_logs_and_metrics_of_one_tag_never_share_a_chunk),
        cmocka_unit_test(test_route_that_can_carry_nothing_is_a_config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

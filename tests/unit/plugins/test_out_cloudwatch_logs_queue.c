/*
 * Tests for plugins/out_cloudwatch_logs/out_cloudwatch_logs_queue.c with a
 * fake sender: batches per stream, one request per stream, bisecting on
 * InvalidParameterException, creating streams and groups, retries, AIMD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "plugins/out_cloudwatch_logs/out_cloudwatch_logs.h"
#include "util/mem.h"

#define SENT_MAX 64

/* What the fake sender saw. */
struct fake {
    struct cwl c;
    uint64_t metrics[32];
    uint64_t now;
    struct cwl_batch *puts[SENT_MAX];
    int n_puts;
    enum cwl_action creates[SENT_MAX];
    struct cwl_stream *create_st;
    int n_creates;
    uint32_t drops[SENT_MAX];
    const char *reasons[SENT_MAX];
    int n_drops;
    int done;
    uint64_t armed;
};

static struct fake F;

static void fake_put(struct cwl *c, struct cwl_batch *b)
{
    (void)c;
    F.puts[F.n_puts++] = b;
}

static void fake_create(struct cwl *c, struct cwl_stream *st, enum cwl_action a)
{
    (void)c;
    F.create_st = st;
    F.creates[F.n_creates++] = a;
}

static void fake_drop(struct cwl_job *j, uint32_t index, const char *reason)
{
    (void)j;
    F.drops[F.n_drops] = index;
    F.reasons[F.n_drops++] = reason;
}

static void fake_done(struct cwl_job *j)
{
    (void)j;
    F.done++;
}

static void fake_arm(struct cwl *c, uint64_t delay)
{
    (void)c;
    F.armed = delay;
}

static uint64_t fake_now(struct cwl *c)
{
    (void)c;
    return F.now;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    struct cwl *c = &F.c;
    uint64_t *m = F.metrics;
    for (int a = 0; a < CWL_ACTIONS; a++) {
        c->m.ok[a] = m++;
        c->m.failed[a] = m++;
    }
    c->m.events = m++;
    c->m.bytes = m++;
    c->m.fill = m++;
    c->m.throttles = m++;
    c->m.concurrency = m++;
    c->m.concurrency_limit = m++;
    c->m.truncated = m++;
    c->max_concurrency = 4;
    c->retry_base_ms = 100;
    c->retry_cap_ms = 100;
    c->retry_limit = -1;
    c->ops = (struct cwl_ops){ .put = fake_put, .create = fake_create, .drop = fake_drop,
                               .done = fake_done, .arm = fake_arm, .now = fake_now };
    cwl_queue_init(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cwl_queue_close(&F.c);
    return 0;
}

/* A job of n events on one stream, at times ts0, ts0 + 1, ...; record i is event i. */
static struct cwl_job *job_of(const char *stream, uint32_t n, int64_t ts0)
{
    struct cwl_job *j = cwl_job_new(&F.c, NULL, n);
    struct cwl_stream *st = cwl_stream_get(&F.c, "g", stream);
    for (uint32_t i = 0; i < n; i++) {
        size_t off = j->arena.len;
        gl_buf_printf(&j->arena, "m%u", i);
        cwl_job_add(j, st, ts0 + i, off, j->arena.len - off, j->arena.len - off, i);
    }
    return j;
}

static struct cwl_reply no_reply(void)
{
    struct cwl_reply r;
    cwl_reply_parse("", 0, &r);
    return r;
}

static void answer(int put, enum cwl_verdict v)
{
    struct cwl_reply r = no_reply();
    cwl_put_result(&F.c, F.puts[put], v, &r);
}

static void test_cwl_queue_empty_job_ends_at_once(void **state)
{
    (void)state;
    struct cwl_job *j = cwl_job_new(&F.c, NULL, 2);
    cwl_job_drop(j, 1, "too_old");
    cwl_job_drop(j, 1, "too_old");
    cwl_job_submit(j);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 1);
    assert_int_equal(F.n_puts, 0);
}

static void test_cwl_queue_sends_one_request_per_stream(void **state)
{
    (void)state;
    cwl_job_submit(job_of("a", 2, 1000));
    cwl_job_submit(job_of("a", 2, 1000));
    cwl_job_submit(job_of("b", 3, 1000));
    assert_int_equal(F.n_puts, 2);
    assert_string_equal(F.puts[0]->st->name, "a");
    assert_string_equal(F.puts[1]->st->name, "b");
    assert_int_equal(F.puts[1]->n, 3);
    answer(0, CWL_V_OK);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_puts, 3);
    assert_string_equal(F.puts[2]->st->name, "a");
    answer(1, CWL_V_OK);
    answer(2, CWL_V_OK);
    assert_int_equal(F.done, 3);
    assert_int_equal(*F.c.m.events, 7);
    assert_int_equal(*F.c.m.bytes, 7 * 28);
}

/* A fill that adds two events a part, on streams "a" and "b", for `parts` parts in all. */
static int parts_left, fills;

static void fake_fill(struct cwl_job *j)
{
    fills++;
    struct cwl_stream *a = cwl_stream_get(&F.c, "g", "a"), *b = cwl_stream_get(&F.c, "g", "b");
    uint32_t base = (uint32_t)fills * 2;
    assert_int_equal(j->n_events, 0);
    assert_int_equal(j->arena.len, 0);
    gl_buf_puts(&j->arena, "xy");
    cwl_job_add(j, a, 1000 + base, 0, 1, 1, base);
    cwl_job_add(j, b, 1000 + base, 1, 1, 1, base + 1);
    j->more = --parts_left > 0;
}

/*
 * A job encoded in parts: the next part is made only when every batch of the
 * one before is done, in the same arena, and the job ends after the last.
 */
static void test_cwl_queue_job_in_parts(void **state)
{
    (void)state;
    F.c.ops.fill = fake_fill;
    parts_left = 2;
    fills = 0;
    struct cwl_job *j = job_of("a", 2, 1000);
    j->more = true;
    cwl_job_submit(j);
    assert_int_equal(F.n_puts, 1);
    assert_int_equal(fills, 0);
    answer(0, CWL_V_OK);
    /* The first part is done: the second is cut into one batch per stream. */
    assert_int_equal(fills, 1);
    assert_int_equal(F.n_puts, 3);
    assert_int_equal(F.done, 0);
    answer(1, CWL_V_THROTTLED);
    answer(2, CWL_V_OK);
    assert_int_equal(fills, 1); /* a batch of the part is waiting for its retry */
    F.now += 1000;
    cwl_pump(&F.c);
    answer(3, CWL_V_OK);
    assert_int_equal(fills, 2);
    assert_int_equal(F.n_puts, 6);
    answer(4, CWL_V_OK);
    assert_int_equal(F.done, 0);
    answer(5, CWL_V_OK);
    assert_int_equal(F.done, 1);
    assert_int_equal(*F.c.m.events, 6);
}

/* A last part of one event on stream "a", given back from the job's claim as a fill does. */
static void fill_one_on_a(struct cwl_job *j)
{
    struct cwl_stream *a = cwl_stream_get(&F.c, "g", "a");
    fills++;
    gl_buf_puts(&j->arena, "z");
    cwl_job_add(j, a, 1500, 0, 1, 1, 1);
    cwl_job_unclaim(j, a);
    j->more = false;
}

/* A job of one event on first_stream whose last part (fill_one_on_a) is still to come. */
static struct cwl_job *job_in_parts(const char *first_stream)
{
    F.c.ops.fill = fill_one_on_a;
    fills = 0;
    struct cwl_job *j = job_of(first_stream, 1, 1000);
    j->more = true;
    cwl_job_claim(j, cwl_stream_get(&F.c, "g", "a"));
    cwl_job_submit(j);
    return j;
}

/*
 * A later job never overtakes a job in parts on a stream the parts still to
 * come will use: its batch waits, even with the stream idle, and the older
 * job's next part goes before it. Other streams are not held.
 */
static void test_cwl_queue_later_job_waits_for_parts_to_come(void **state)
{
    (void)state;
    struct cwl_job *j1 = job_in_parts("b");
    struct cwl_job *j2 = job_of("a", 1, 2000);
    cwl_job_submit(j2);
    cwl_job_submit(job_of("c", 1, 3000));
    assert_int_equal(F.n_puts, 2);
    assert_string_equal(F.puts[0]->st->name, "b");
    assert_string_equal(F.puts[1]->st->name, "c"); /* "a" waits for j1's next part */
    answer(0, CWL_V_OK);
    assert_int_equal(fills, 1);
    assert_int_equal(F.n_puts, 3);
    assert_ptr_equal(F.puts[2]->job, j1);
    assert_string_equal(F.puts[2]->st->name, "a");
    answer(2, CWL_V_OK);
    assert_int_equal(F.n_puts, 4);
    assert_ptr_equal(F.puts[3]->job, j2);
    answer(1, CWL_V_OK);
    answer(3, CWL_V_OK);
    assert_int_equal(F.done, 3);
}

/* The same when the later job's batch is queued behind the older job's first part. */
static void test_cwl_queue_next_part_goes_before_a_later_job(void **state)
{
    (void)state;
    struct cwl_job *j1 = job_in_parts("a");
    struct cwl_job *j2 = job_of("a", 1, 2000);
    cwl_job_submit(j2);
    assert_int_equal(F.n_puts, 1);
    answer(0, CWL_V_OK);
    assert_int_equal(F.n_puts, 2);
    assert_ptr_equal(F.puts[1]->job, j1);
    answer(1, CWL_V_OK);
    assert_int_equal(F.n_puts, 3);
    assert_ptr_equal(F.puts[2]->job, j2);
    answer(2, CWL_V_OK);
    assert_int_equal(F.done, 2);
}

static void test_cwl_queue_sorts_events_of_a_stream(void **state)
{
    (void)state;
    struct cwl_job *j = cwl_job_new(&F.c, NULL, 3);
    struct cwl_stream *st = cwl_stream_get(&F.c, "g", "s");
    cwl_job_add(j, st, 30, 0, 1, 1, 0);
    cwl_job_add(j, st, 10, 0, 1, 1, 1);
    cwl_job_add(j, st, 30, 0, 1, 1, 2);
    cwl_job_submit(j);
    assert_int_equal(F.n_puts, 1);
    const struct cwl_event *ev = &j->events[F.puts[0]->start];
    assert_int_equal(ev[0].index, 1);
    assert_int_equal(ev[1].index, 0);
    assert_int_equal(ev[2].index, 2);
    answer(0, CWL_V_OK);
    assert_int_equal(F.done, 1);
}

static void test_cwl_queue_bisects_invalid_parameter(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 4, 1000));
    assert_int_equal(F.puts[0]->n, 4);
    answer(0, CWL_V_BISECT);
    assert_int_equal(F.n_puts, 2);
    assert_int_equal(F.puts[1]->n, 2);
    assert_int_equal(F.puts[1]->start, 0);
    answer(1, CWL_V_OK);
    assert_int_equal(F.puts[2]->start, 2);
    assert_int_equal(F.puts[2]->n, 2);
    answer(2, CWL_V_BISECT);
    assert_int_equal(F.puts[3]->start, 2);
    assert_int_equal(F.puts[3]->n, 1);
    answer(3, CWL_V_OK);
    assert_int_equal(F.puts[4]->start, 3);
    answer(4, CWL_V_BISECT);
    assert_int_equal(F.n_puts, 5);
    assert_int_equal(F.n_drops, 1);
    assert_int_equal(F.drops[0], 3);
    assert_string_equal(F.reasons[0], "invalid_parameter");
    assert_int_equal(F.done, 1);
    assert_int_equal(*F.c.m.events, 3);
}

static void test_cwl_queue_drops_rejected_events(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 4, 1000));
    const char *body = "{\"rejectedLogEventsInfo\":{\"tooOldLogEventEndIndex\":1,"
                       "\"tooNewLogEventStartIndex\":3}}";
    struct cwl_reply r;
    cwl_reply_parse(body, strlen(body), &r);
    cwl_put_result(&F.c, F.puts[0], CWL_V_OK, &r);
    assert_int_equal(F.n_drops, 2);
    assert_int_equal(F.drops[0], 0);
    assert_string_equal(F.reasons[0], "too_old");
    assert_int_equal(F.drops[1], 3);
    assert_string_equal(F.reasons[1], "too_new");
    assert_int_equal(*F.c.m.events, 2);
    assert_int_equal(F.done, 1);
}

static void test_cwl_queue_throttle_halves_and_waits(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 1, 1000));
    answer(0, CWL_V_THROTTLED);
    assert_int_equal(F.c.aimd.limit, 2);
    assert_int_equal(*F.c.m.throttles, 1);
    assert_int_equal(F.n_puts, 1);
    assert_int_equal(F.armed, 100);
    F.now = 99;
    cwl_pump(&F.c);
    assert_int_equal(F.n_puts, 1);
    F.now = 100;
    cwl_pump(&F.c);
    assert_int_equal(F.n_puts, 2);
    answer(1, CWL_V_OK);
    assert_int_equal(F.c.aimd.limit, 3);
    assert_int_equal(F.done, 1);
}

static void test_cwl_queue_limits_streams_in_flight(void **state)
{
    (void)state;
    F.c.aimd.limit = 2;
    cwl_job_submit(job_of("a", 1, 1000));
    cwl_job_submit(job_of("b", 1, 1000));
    cwl_job_submit(job_of("c", 1, 1000));
    assert_int_equal(F.n_puts, 2);
    assert_int_equal(*F.c.m.concurrency, 2);
    answer(0, CWL_V_OK);
    assert_int_equal(F.n_puts, 3);
    assert_string_equal(F.puts[2]->st->name, "c");
    answer(1, CWL_V_OK);
    answer(2, CWL_V_OK);
    assert_int_equal(F.done, 3);
}

static void test_cwl_queue_creates_stream_then_group(void **state)
{
    (void)state;
    F.c.auto_create_group = true;
    F.c.retention_days = 7;
    cwl_job_submit(job_of("s", 2, 1000));
    answer(0, CWL_V_NOT_FOUND);
    assert_int_equal(F.n_creates, 1);
    assert_int_equal(F.creates[0], CWL_CREATE_LOG_STREAM);
    cwl_create_result(&F.c, F.create_st, CWL_CREATE_LOG_STREAM, CWL_V_NOT_FOUND);
    assert_int_equal(F.creates[1], CWL_CREATE_LOG_GROUP);
    cwl_create_result(&F.c, F.create_st, CWL_CREATE_LOG_GROUP, CWL_V_OK);
    assert_int_equal(F.creates[2], CWL_PUT_RETENTION_POLICY);
    cwl_create_result(&F.c, F.create_st, CWL_PUT_RETENTION_POLICY, CWL_V_OK);
    assert_int_equal(F.creates[3], CWL_CREATE_LOG_STREAM);
    cwl_create_result(&F.c, F.create_st, CWL_CREATE_LOG_STREAM, CWL_V_EXISTS);
    assert_int_equal(F.n_creates, 4);
    assert_int_equal(F.n_puts, 2);
    assert_ptr_equal(F.puts[1], F.puts[0]);
    answer(1, CWL_V_OK);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 0);
}

static void test_cwl_queue_without_auto_create_drops_for_missing_group(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 2, 1000));
    answer(0, CWL_V_NOT_FOUND);
    cwl_create_result(&F.c, F.create_st, CWL_CREATE_LOG_STREAM, CWL_V_NOT_FOUND);
    assert_int_equal(F.n_creates, 1);
    assert_int_equal(F.n_drops, 2);
    assert_string_equal(F.reasons[0], "log_group_missing");
    assert_int_equal(F.done, 1);
}

static void test_cwl_queue_reauth_retries_once_at_once(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 1, 1000));
    answer(0, CWL_V_REAUTH);
    assert_int_equal(F.n_puts, 2);
    answer(1, CWL_V_REAUTH);
    assert_int_equal(F.n_puts, 2);
    assert_int_equal(F.armed, 100);
}

static void test_cwl_queue_drops_when_retries_run_out(void **state)
{
    (void)state;
    F.c.retry_limit = 1;
    cwl_job_submit(job_of("s", 2, 1000));
    answer(0, CWL_V_RETRY);
    F.now = 1000;
    cwl_pump(&F.c);
    answer(1, CWL_V_RETRY);
    assert_int_equal(F.n_drops, 2);
    assert_string_equal(F.reasons[1], "retries_exhausted");
    assert_int_equal(F.done, 1);
}

static void test_cwl_queue_cuts_batches_per_stream_limits(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 10001, 1000));
    assert_int_equal(F.puts[0]->n, 10000);
    answer(0, CWL_V_OK);
    assert_int_equal(F.puts[1]->n, 1);
    answer(1, CWL_V_OK);
    assert_int_equal(F.done, 1);
}

static void abandon_each(void *flush)
{
    (void)flush;
    F.done += 100;
}

static void test_cwl_queue_abandon_ends_jobs_without_done(void **state)
{
    (void)state;
    cwl_job_submit(job_of("s", 2, 1000));
    cwl_job_submit(job_of("t", 2, 1000));
    cwl_jobs_abandon(&F.c, abandon_each);
    assert_int_equal(F.done, 200);
    assert_null(F.c.jobs);
    cwl_pump(&F.c); /* nothing is sent once stopping */
    assert_int_equal(F.n_puts, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cwl_queue_empty_job_ends_at_once),
        T(test_cwl_queue_sends_one_request_per_stream),
        T(test_cwl_queue_job_in_parts),
        T(test_cwl_queue_later_job_waits_for_parts_to_come),
        T(test_cwl_queue_next_part_goes_before_a_later_job),
        T(test_cwl_queue_sorts_events_of_a_stream),
        T(test_cwl_queue_bisects_invalid_parameter),
        T(test_cwl_queue_drops_rejected_events),
        T(test_cwl_queue_throttle_halves_and_waits),
        T(test_cwl_queue_limits_streams_in_flight),
        T(test_cwl_queue_creates_stream_then_group),
        T(test_cwl_queue_without_auto_create_drops_for_missing_group),
        T(test_cwl_queue_reauth_retries_once_at_once),
        T(test_cwl_queue_drops_when_retries_run_out),
        T(test_cwl_queue_cuts_batches_per_stream_limits),
        T(test_cwl_queue_abandon_ends_jobs_without_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

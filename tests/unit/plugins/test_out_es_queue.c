/*
 * Tests for plugins/out_es/out_es_queue.c with a fake sender: batches cut by
 * bytes, requests in flight under the adaptive limit, items answered 429
 * sent again alone, rejected ones dropped by reason or dead-lettered,
 * duplicates counted as delivered, 413 splitting, whole-request failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "plugins/out_es/out_es.h"
#include "util/mem.h"

#define SENT_MAX 64

struct fake {
    struct es e;
    uint64_t metrics[16];
    uint64_t now;
    struct es_batch *sent[SENT_MAX];
    int n_sent;
    uint32_t drops[SENT_MAX];
    const char *reasons[SENT_MAX];
    int n_drops;
    int done;
    uint64_t armed;
};

static struct fake F;

static void fake_send(struct es *e, struct es_batch *b)
{
    (void)e;
    F.sent[F.n_sent++] = b;
}

static void fake_drop(struct es_job *j, uint32_t index, const char *reason)
{
    (void)j;
    F.drops[F.n_drops] = index;
    F.reasons[F.n_drops++] = reason;
}

static void fake_done(struct es_job *j)
{
    (void)j;
    F.done++;
}

static void fake_arm(struct es *e, uint64_t delay)
{
    (void)e;
    F.armed = delay;
}

static uint64_t fake_now(struct es *e)
{
    (void)e;
    return F.now;
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    struct es *e = &F.e;
    uint64_t **m[] = { &e->m.requests, &e->m.requests_failed, &e->m.items, &e->m.duplicates,
                       &e->m.retried, &e->m.rejections, &e->m.dead_letters, &e->m.bytes,
                       &e->m.splits, &e->m.concurrency, &e->m.concurrency_limit };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        *m[i] = &F.metrics[i];
    }
    e->ops = (struct es_ops){ .send = fake_send, .drop = fake_drop, .done = fake_done,
                              .arm = fake_arm, .now = fake_now };
    e->bulk_max = 1 << 20;
    e->retry_base_ms = 100;
    e->retry_cap_ms = 1000;
    e->retry_limit = -1;
    e->dead_letter_index = NULL;
    e->op = ES_OP_CREATE;
    es_aimd_init(&e->aimd, 8);
    es_queue_init(e);
    return 0;
}

/* Ends what is left; batches still in flight get their answer, which only frees them. */
static int teardown(void **state)
{
    (void)state;
    es_jobs_abandon(&F.e, NULL);
    struct es_answer a = { .err = gl_http_err_canceled };
    for (int k = 0; k < F.n_sent; k++) {
        if (F.sent[k] != NULL) {
            es_batch_result(&F.e, F.sent[k], &a);
        }
    }
    return 0;
}

/* A job of n items of `size` bytes each (a create action line and a source line). */
static struct es_job *job_of(uint32_t n, uint32_t size, uint8_t flags)
{
    struct es_job *j = es_job_new(&F.e, NULL, n);
    j->items = gl_calloc(n, sizeof(*j->items));
    j->cap = j->n_items = n;
    for (uint32_t i = 0; i < n; i++) {
        char line[64];
        int a = snprintf(line, sizeof(line), "{\"create\":{\"_index\":\"i\",\"_id\":\"%u\"}}\n", i);
        size_t off = j->arena.len;
        gl_buf_append(&j->arena, line, (size_t)a);
        while (j->arena.len < off + size - 1) {
            gl_buf_putc(&j->arena, 'x');
        }
        gl_buf_putc(&j->arena, '\n');
        j->items[i] = (struct es_item){ .off = off, .len = size, .action_len = (uint32_t)a,
                                        .index = i, .flags = flags };
    }
    return j;
}

/* Answers batch k of the sent list with a body (status 200) or a status alone. */
static void answer(int k, long status, const char *body)
{
    struct es_reply r;
    struct es_answer a = { .status = status };
    bool parsed = body != NULL && es_reply_parse(&r, body, strlen(body)) == 0;
    a.reply = parsed ? &r : NULL;
    es_batch_result(&F.e, F.sent[k], &a);
    F.sent[k] = NULL;
    if (body != NULL) {
        es_reply_free(&r);
    }
}

/* {"errors":...,"items":[{"create":{"status":S,...}},...]} for a list of statuses. */
static char *items_body(const long *status, int n, const char *error_type)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_puts(&b, "{\"took\":1,\"errors\":true,\"items\":[");
    for (int i = 0; i < n; i++) {
        gl_buf_printf(&b, "%s{\"create\":{\"status\":%ld", i ? "," : "", status[i]);
        if (status[i] >= 300) {
            gl_buf_printf(&b, ",\"error\":{\"type\":\"%s\",\"reason\":\"r\"}",
                          status[i] == 429 ? "es_rejected_execution_exception"
                          : status[i] == 409 ? "version_conflict_engine_exception"
                                             : error_type);
        }
        gl_buf_puts(&b, "}}");
    }
    gl_buf_puts(&b, "]}");
    return gl_buf_take(&b);
}

static void answer_items(int k, const long *status, int n, const char *error_type)
{
    char *body = items_body(status, n, error_type);
    answer(k, 200, body);
    gl_free(body);
}

static void test_es_queue_cuts_batches_by_bytes(void **state)
{
    (void)state;
    F.e.bulk_max = F.e.bulk_now = 350;
    es_job_submit(job_of(10, 100, 0));
    assert_int_equal(F.n_sent, 4);
    uint32_t want[] = { 3, 3, 3, 1 };
    for (int k = 0; k < 4; k++) {
        assert_int_equal(F.sent[k]->n, want[k]);
        assert_int_equal(F.sent[k]->bytes, want[k] * 100);
    }
    long ok[3] = { 201, 201, 201 };
    for (int k = 0; k < 4; k++) {
        answer_items(k, ok, (int)want[k], NULL);
    }
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 0);
    assert_int_equal(*F.e.m.items, 10);
}

static void test_es_queue_one_item_over_the_limit_goes_alone(void **state)
{
    (void)state;
    F.e.bulk_max = F.e.bulk_now = 150;
    es_job_submit(job_of(2, 200, 0));
    assert_int_equal(F.n_sent, 2);
    assert_int_equal(F.sent[0]->n, 1);
}

static void test_es_queue_limits_requests_in_flight(void **state)
{
    (void)state;
    F.e.bulk_max = F.e.bulk_now = 100;
    es_aimd_init(&F.e.aimd, 2);
    es_job_submit(job_of(4, 100, 0));
    assert_int_equal(F.n_sent, 2);
    long ok[1] = { 201 };
    answer_items(0, ok, 1, NULL);
    assert_int_equal(F.n_sent, 3);
    answer_items(1, ok, 1, NULL);
    answer_items(2, ok, 1, NULL);
    answer_items(3, ok, 1, NULL);
    assert_int_equal(F.done, 1);
}

/* Only the items answered 429 go again, after the back-off; the limit is halved once. */
static void test_es_queue_resends_only_throttled_items(void **state)
{
    (void)state;
    es_job_submit(job_of(3, 100, 0));
    long st[3] = { 201, 429, 429 };
    answer_items(0, st, 3, NULL);
    assert_int_equal(F.n_sent, 1);
    assert_int_equal(F.e.aimd.limit, 4);
    assert_int_equal(*F.e.m.retried, 2);
    assert_int_equal(*F.e.m.rejections, 1);
    assert_true(F.armed >= 100 && F.armed <= 1000);
    F.now += F.armed;
    es_pump(&F.e);
    assert_int_equal(F.n_sent, 2);
    assert_int_equal(F.sent[1]->n, 2);
    assert_int_equal(F.sent[1]->items[0], 1);
    assert_int_equal(F.sent[1]->items[1], 2);
    assert_int_equal(F.sent[1]->attempts, 1);
    long ok[2] = { 201, 500 };
    answer_items(1, ok, 2, "internal");
    assert_int_equal(F.e.aimd.limit, 5);
    F.now += 10000;
    es_pump(&F.e);
    assert_int_equal(F.sent[2]->n, 1);
    assert_int_equal(F.sent[2]->items[0], 2);
    answer_items(2, ok, 1, NULL);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 0);
    assert_int_equal(*F.e.m.items, 3);
}

static void test_es_queue_drops_rejected_by_reason(void **state)
{
    (void)state;
    es_job_submit(job_of(3, 100, 0));
    long st[3] = { 201, 400, 201 };
    answer_items(0, st, 3, "mapper_parsing_exception");
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 1);
    assert_int_equal(F.drops[0], 1);
    assert_string_equal(F.reasons[0], "mapper_parsing_exception");
    assert_int_equal(F.e.n_logged, 1);
    assert_string_equal(F.e.logged[0], "mapper_parsing_exception");
}

static void test_es_queue_dead_letters(void **state)
{
    (void)state;
    F.e.dead_letter_index = "dead";
    es_job_submit(job_of(2, 100, ES_ITEM_GENERATED));
    long st[2] = { 400, 400 };
    answer_items(0, st, 2, "mapper_parsing_exception");
    assert_int_equal(F.n_sent, 2);
    struct es_batch *d = F.sent[1];
    assert_int_equal(d->n, 2);
    const struct es_item *it = &d->job->items[d->items[0]];
    assert_true(it->flags & ES_ITEM_DEAD);
    assert_memory_equal(es_item_data(d->job, it), "{\"create\":{\"_index\":\"dead\"", 26);
    assert_int_equal(*F.e.m.dead_letters, 2);
    /* The first dead letter is stored; the second is rejected too and then dropped. */
    long st2[2] = { 201, 400 };
    answer_items(1, st2, 2, "illegal_argument_exception");
    assert_int_equal(F.n_sent, 2);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 1);
    assert_int_equal(F.drops[0], 1);
    assert_string_equal(F.reasons[0], "illegal_argument_exception");
}

static void test_es_queue_conflict_on_generated_id_is_delivered(void **state)
{
    (void)state;
    es_job_submit(job_of(2, 100, ES_ITEM_GENERATED));
    long st[2] = { 409, 201 };
    answer_items(0, st, 2, NULL);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 0);
    assert_int_equal(*F.e.m.duplicates, 1);
    /* Without a generated id, a conflict is a rejection. */
    es_job_submit(job_of(1, 100, 0));
    answer_items(1, st, 1, NULL);
    assert_int_equal(F.n_drops, 1);
    assert_string_equal(F.reasons[0], "version_conflict_engine_exception");
}

static void test_es_queue_413_splits_until_one(void **state)
{
    (void)state;
    es_job_submit(job_of(4, 100, 0));
    answer(0, 413, NULL);
    assert_int_equal(F.n_sent, 3);
    assert_int_equal(F.sent[1]->n, 2);
    assert_int_equal(F.sent[2]->n, 2);
    assert_int_equal(F.sent[2]->items[0], 2);
    assert_int_equal(*F.e.m.splits, 1);
    long ok[2] = { 201, 201 };
    answer_items(1, ok, 2, NULL);
    answer(2, 413, NULL);
    answer(3, 413, NULL);
    assert_int_equal(F.n_drops, 1);
    assert_int_equal(F.drops[0], 2);
    assert_string_equal(F.reasons[0], "too_large");
    answer_items(4, ok, 1, NULL);
    assert_int_equal(F.done, 1);
    /* Later jobs are cut below the size refused. */
    assert_int_equal(F.e.bulk_now, 1024);
    es_job_submit(job_of(30, 100, 0));
    assert_int_equal(F.sent[5]->n, 10);
}

static void test_es_queue_whole_failures(void **state)
{
    (void)state;
    F.e.retry_limit = 1;
    es_job_submit(job_of(2, 100, 0));
    answer(0, 503, "{\"error\":{\"type\":\"cluster_block_exception\"},\"status\":503}");
    assert_int_equal(F.n_sent, 1);
    F.now += 1000;
    es_pump(&F.e);
    assert_int_equal(F.n_sent, 2);
    answer(1, 503, NULL);
    assert_int_equal(F.done, 1);
    assert_int_equal(F.n_drops, 2);
    assert_string_equal(F.reasons[0], "retries_exhausted");
    /* Other 4xx answers are not retried. */
    es_job_submit(job_of(1, 100, 0));
    answer(2, 400, "{\"error\":{\"type\":\"illegal_argument_exception\"},\"status\":400}");
    assert_int_equal(F.n_drops, 3);
    assert_string_equal(F.reasons[2], "http_400");
    /* 429 as a whole halves the limit and retries, not before its Retry-After. */
    es_job_submit(job_of(1, 100, 0));
    struct es_answer a = { .status = 429, .retry_after_ms = 5000 };
    es_batch_result(&F.e, F.sent[3], &a);
    F.sent[3] = NULL;
    assert_int_equal(F.e.aimd.limit, 4);
    assert_true(F.armed >= 5000);
    assert_int_equal(F.done, 2);
}

static void test_es_queue_unreadable_answer_is_sent_again(void **state)
{
    (void)state;
    es_job_submit(job_of(2, 100, 0));
    long st[1] = { 201 };
    answer_items(0, st, 1, NULL); /* one item for two */
    F.now += 1000;
    es_pump(&F.e);
    assert_int_equal(F.n_sent, 2);
    assert_int_equal(F.sent[1]->n, 2);
    answer(1, 200, "not json");
    F.now += 1000;
    es_pump(&F.e);
    assert_int_equal(F.n_sent, 3);
    assert_int_equal(F.done, 0);
}

static int abandoned;

static void count_abandoned(void *flush)
{
    (void)flush;
    abandoned++;
}

static void test_es_queue_abandon_ends_every_job(void **state)
{
    (void)state;
    F.e.bulk_max = F.e.bulk_now = 100;
    es_aimd_init(&F.e.aimd, 1);
    es_job_submit(job_of(3, 100, 0));
    es_job_submit(job_of(1, 100, 0));
    abandoned = 0;
    es_jobs_abandon(&F.e, count_abandoned);
    assert_int_equal(abandoned, 2);
    /* The answer to what was in flight only frees its batch. */
    answer(0, 200, NULL);
    assert_int_equal(F.done, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_es_queue_cuts_batches_by_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_one_item_over_the_limit_goes_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_limits_requests_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_resends_only_throttled_items, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_drops_rejected_by_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_conflict_on_generated_id_is_delivered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_413_splits_until_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_whole_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_unreadable_answer_is_sent_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_es_queue_abandon_ends_every_job, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

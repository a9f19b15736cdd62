/*
 * Health (agent/core/health.c): Fluent Bit's counts within hc_period, an
 * input paused too long, an output with data and no accepted send, data
 * reported lost; each asked at chosen instants, with the reason's line. A
 * test input and a test output whose flushes the test ends by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/engine.h"
#include "core/event.h"
#include "core/flush.h"
#include "core/health.h"
#include "core/input.h"
#include "core/log.h"
#include "util/error.h"

static struct gl_flush *pending[16];
static int n_pending;

static void hout_flush(struct gl_instance *ins, struct gl_flush *f)
{
    (void)ins;
    pending[n_pending++] = f;
}

static const struct gl_plugin health_in = {
    .kind = GL_INPUT, .name = "health_in", .description = "test",
};
static const struct gl_plugin health_out = {
    .kind = GL_OUTPUT, .name = "health_out", .description = "test", .flush = hout_flush,
};
const struct gl_plugin *const gl_plugins[] = { &health_in, &health_out, NULL };

#define PIPELINE                                                                              \
    "pipeline:\n"                                                                             \
    "  inputs: [ { name: health_in, tag: t, alias: app } ]\n"                                 \
    "  outputs: [ { name: health_out, match: '*', alias: sink } ]\n"

/* ---- fixture ---------------------------------------------------------------- */

struct hx {
    uv_loop_t loop;
    struct gl_engine *e;
    struct gl_buf why;
};

static struct hx *hx_new(const char *service)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "service: { flush: 1h, %s }\n" PIPELINE, service);
    struct hx *hx = calloc(1, sizeof(*hx));
    n_pending = 0;
    uv_loop_init(&hx->loop);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    struct gl_config *cfg = gl_config_load_text("h.yaml", yaml, strlen(yaml));
    hx->e = gl_engine_new(&hx->loop, cfg);
    assert_non_null(hx->e);
    gl_config_free(cfg);
    assert_int_equal(gl_engine_start(hx->e), 0);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    gl_buf_init(&hx->why);
    return hx;
}

static void on_stopped(struct gl_engine *e, void *data)
{
    (void)e;
    *(int *)data = 1;
}

static void hx_free(struct hx *hx)
{
    int done = 0;
    while (n_pending > 0) {
        gl_flush_done(pending[--n_pending], GL_OK);
    }
    hx->e->svc.grace_ms = 0;
    gl_engine_stop(hx->e, on_stopped, &done);
    while (!done) {
        uv_run(&hx->loop, UV_RUN_ONCE);
    }
    gl_engine_free(hx->e);
    uv_run(&hx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&hx->loop), 0);
    gl_buf_close(&hx->why);
    free(hx);
}

/* The verdict at `now`, its text left in hx->why (NUL-terminated). */
static unsigned verdict(struct hx *hx, uint64_t now)
{
    gl_buf_reset(&hx->why);
    unsigned bad = gl_health_check(hx->e, now, false, &hx->why);
    gl_buf_putc(&hx->why, '\0');
    return bad;
}

/* One record into an open chunk, routed: the output's flush then waits in `pending`. */
static void send_one(struct hx *hx)
{
    struct gl_event ev;
    gl_event_begin(&ev, hx->e->inputs[0], 1);
    gl_event_kv_str(&ev, "log", "x", 1);
    assert_int_equal(gl_event_commit(&ev), 0);
    gl__input_flush_open(hx->e->inputs[0]);
    uv_run(&hx->loop, UV_RUN_NOWAIT);
    assert_int_equal(n_pending, 1);
}

#define BIT(r) (1u << (r))

/* ---- Fluent Bit's counts ---------------------------------------------------- */

static void test_health_ok_when_nothing_is_wrong(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health_check: on");
    assert_int_equal(verdict(hx, 1000000), 0);
    assert_string_equal(hx->why.data, "");
    hx_free(hx);
}

static void test_hc_errors_over_count_within_period_fail(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health_check: on, hc_errors_count: 2, hc_period: 10");
    assert_int_equal(hx->e->svc.hc_period_ms, 10000);
    struct gl_health_ring *r = &hx->e->health.errors;
    gl__health_note(r, 100000);
    gl__health_note(r, 101000);
    assert_int_equal(verdict(hx, 102000), 0); /* two are tolerated */
    gl__health_note(r, 102000);
    assert_int_equal(verdict(hx, 102000), BIT(GL_HEALTH_FLUSH_ERRORS));
    assert_string_equal(hx->why.data, "flush_errors: more than hc_errors_count 2 failed flush "
                                      "attempts in the last hc_period 10000 ms\n");
    assert_int_equal(verdict(hx, 109999), BIT(GL_HEALTH_FLUSH_ERRORS));
    assert_int_equal(verdict(hx, 110000), 0); /* the first left the period */
    hx_free(hx);
}

static void test_hc_counts_ignored_without_health_check(void **state)
{
    (void)state;
    struct hx *hx = hx_new("hc_errors_count: 0");
    gl__health_note(&hx->e->health.errors, 5000);
    assert_int_equal(verdict(hx, 5000), 0);
    hx_free(hx);
}

static void test_hc_retry_failures_over_count_fail(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health_check: on, hc_retry_failure_count: 0, hc_period: 1m");
    gl__health_note(&hx->e->health.retry_failures, 1000);
    assert_int_equal(verdict(hx, 2000), BIT(GL_HEALTH_RETRY_FAILURES));
    assert_string_equal(hx->why.data, "retry_failures: more than hc_retry_failure_count 0 "
                                      "chunks given up after their retries in the last "
                                      "hc_period 60000 ms\n");
    assert_int_equal(verdict(hx, 61000), 0);
    hx_free(hx);
}

static void test_hc_failed_flushes_are_counted_by_the_core(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health_check: on, hc_errors_count: 0");
    send_one(hx);
    struct gl_flush *f = pending[--n_pending];
    hx->e->outputs[0]->core->opts.retry_limit = 0;
    gl_flush_done(f, GL_RETRY); /* no retries left: an error and a retry failure */
    assert_int_equal(hx->e->health.errors.n, 1);
    assert_int_equal(hx->e->health.retry_failures.n, 1);
    unsigned bad = verdict(hx, gl_health_now_ms());
    assert_int_equal(bad, BIT(GL_HEALTH_FLUSH_ERRORS));
    hx_free(hx);
}

static void test_hc_count_option_is_bounded(void **state)
{
    (void)state;
    const char *yaml = "service: { hc_errors_count: -1 }\n" PIPELINE;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct gl_config *cfg = gl_config_load_text("h.yaml", yaml, strlen(yaml));
    assert_null(gl_engine_new(&loop, cfg));
    assert_int_equal(cfg->error_count, 1);
    assert_non_null(strstr(cfg->errors[0], "hc_errors_count: must be between 0 and 100000"));
    gl_config_free(cfg);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- stalls ----------------------------------------------------------------- */

static void test_input_paused_longer_than_threshold_fails(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.input_paused: 30s");
    struct gl_instance *in = hx->e->inputs[0];
    gl__input_pause(in);
    uint64_t since = in->core->paused_since_ms;
    assert_true(since > 0);
    assert_int_equal(verdict(hx, since + 30000), 0);
    assert_int_equal(verdict(hx, since + 30001), BIT(GL_HEALTH_INPUT_PAUSED));
    assert_non_null(strstr(hx->why.data, "input_paused: input app paused for 30001 ms "
                                         "(health.input_paused 30000 ms): an output it feeds "
                                         "has a full buffer"));
    gl__input_resume(in);
    assert_int_equal(in->core->paused_since_ms, 0);
    assert_int_equal(verdict(hx, since + 60000), 0);
    hx_free(hx);
}

static void test_input_paused_twice_counts_from_the_first_pause(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.input_paused: 1s");
    struct gl_instance *in = hx->e->inputs[0];
    gl__input_pause(in);
    uint64_t since = in->core->paused_since_ms;
    gl__input_pause(in);
    gl__input_resume(in);
    assert_int_equal(in->core->paused_since_ms, since); /* one reason is left */
    gl__input_resume(in);
    assert_int_equal(in->core->paused_since_ms, 0);
    hx_free(hx);
}

static void test_output_with_data_and_no_send_stalls(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.output_stalled: 1m");
    struct gl_instance *out = hx->e->outputs[0];
    send_one(hx);
    uint64_t busy = out->core->progress_ms;
    assert_true(busy > 0);
    gl_health_output_failed(out, "http_503");
    assert_int_equal(verdict(hx, busy + 60000), 0);
    assert_int_equal(verdict(hx, busy + 60001), BIT(GL_HEALTH_OUTPUT_STALLED));
    assert_non_null(strstr(hx->why.data, "output_stalled: output sink has "));
    assert_non_null(strstr(hx->why.data, "in 1 chunks to send and has sent nothing "
                                         "(health.output_stalled 60000 ms); last error: "
                                         "http_503"));
    hx_free(hx);
}

static void test_output_sending_recently_is_not_stalled(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.output_stalled: 1m");
    struct gl_instance *out = hx->e->outputs[0];
    send_one(hx);
    out->core->progress_ms = 1000;
    gl_health_output_sent(out); /* a request of a long flush was accepted just now */
    uint64_t now = out->core->sent_ms;
    assert_int_equal(verdict(hx, now + 59000), 0);
    assert_int_equal(verdict(hx, now + 61000), BIT(GL_HEALTH_OUTPUT_STALLED));
    assert_non_null(strstr(hx->why.data, "sent nothing for 61000 ms"));
    hx_free(hx);
}

static void test_idle_output_is_never_stalled(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.output_stalled: 1s");
    hx->e->outputs[0]->core->progress_ms = 1;
    assert_int_equal(verdict(hx, 10000000), 0);
    hx_free(hx);
}

static void test_zero_threshold_turns_a_check_off(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.output_stalled: 0, health.input_paused: 0");
    send_one(hx);
    gl__input_pause(hx->e->inputs[0]);
    assert_int_equal(verdict(hx, gl_health_now_ms() + 100000000), 0);
    gl__input_resume(hx->e->inputs[0]);
    hx_free(hx);
}

static void test_data_lost_fails_for_its_window(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.data_lost: 5m");
    gl_health_lost(hx->e->inputs[0], "rotated file %s given up with %d bytes unread", "a.log.1",
                   42);
    uint64_t at = hx->e->health.lost_ms;
    assert_int_equal(verdict(hx, at + 1000), BIT(GL_HEALTH_DATA_LOST));
    assert_non_null(strstr(hx->why.data, "data_lost: app 1000 ms ago: rotated file a.log.1 "
                                         "given up with 42 bytes unread"));
    assert_int_equal(verdict(hx, at + 300001), 0);
    hx_free(hx);
}

static void test_fluent_bit_view_sees_counts_only(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health_check: on, hc_errors_count: 0, health.input_paused: 1s");
    gl__input_pause(hx->e->inputs[0]);
    uint64_t later = hx->e->inputs[0]->core->paused_since_ms + 5000;
    assert_int_equal(gl_health_check(hx->e, later, true, NULL), 0);
    gl__health_note(&hx->e->health.errors, later);
    assert_int_equal(gl_health_check(hx->e, later, true, NULL), BIT(GL_HEALTH_FLUSH_ERRORS));
    gl__input_resume(hx->e->inputs[0]);
    hx_free(hx);
}

/* ---- the tick --------------------------------------------------------------- */

static void test_tick_counts_each_start_once(void **state)
{
    (void)state;
    struct hx *hx = hx_new("health.data_lost: 1h");
    struct gl_health *h = &hx->e->health;
    gl__health_tick(hx->e);
    assert_int_equal(h->failing, 0);
    gl_health_lost(hx->e->inputs[0], "gone");
    gl__health_tick(hx->e);
    gl__health_tick(hx->e);
    assert_int_equal(h->failing, BIT(GL_HEALTH_DATA_LOST));
    assert_int_equal(h->became_unhealthy[GL_HEALTH_DATA_LOST], 1);
    /* An hour and a second ago; not 1, which is within the hour of a machine up < 1 h. */
    h->lost_ms = gl_health_now_ms() - 3601000;
    gl__health_tick(hx->e);
    assert_int_equal(h->failing, 0);
    gl_health_lost(hx->e->inputs[0], "gone again");
    gl__health_tick(hx->e);
    assert_int_equal(h->became_unhealthy[GL_HEALTH_DATA_LOST], 2);
    hx_free(hx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ok_when_nothing_is_wrong),
        cmocka_unit_test(test_hc_errors_over_count_within_period_fail),
        cmocka_unit_test(test_hc_counts_ignored_without_health_check),
        cmocka_unit_test(test_hc_retry_failures_over_count_fail),
        cmocka_unit_test(test_hc_failed_flushes_are_counted_by_the_core),
        cmocka_unit_test(test_hc_count_option_is_bounded),
        cmocka_unit_test(test_input_paused_longer_than_threshold_fails),
        cmocka_unit_test(test_input_paused_twice_counts_from_the_first_pause),
        cmocka_unit_test(test_output_with_data_and_no_send_stalls),
        cmocka_unit_test(test_output_sending_recently_is_not_stalled),
        cmocka_unit_test(test_idle_output_is_never_stalled),
        cmocka_unit_test(test_zero_threshold_turns_a_check_off),
        cmocka_unit_test(test_data_lost_fails_for_its_window),
        cmocka_unit_test(test_fluent_bit_view_sees_counts_only),
        cmocka_unit_test(test_tick_counts_each_start_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

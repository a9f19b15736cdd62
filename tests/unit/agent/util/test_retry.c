/*
 * The retry schedule: exponential ceiling, full jitter within it, the cap,
 * which HTTP answers retry, and a server's Retry-After raising the wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/retry.h"

static void test_retry_first_attempt_waits_base(void **state)
{
    (void)state;
    for (uint64_t r = 0; r < 100; r++) {
        assert_int_equal(gl_retry_delay(1000, 60000, 0, r), 1000);
    }
}

static void test_retry_ceiling_doubles_per_attempt(void **state)
{
    (void)state;
    /* The largest random value reaches the ceiling: base * 2^attempt. */
    assert_int_equal(gl_retry_delay(1000, 60000, 1, 1000), 2000);
    assert_int_equal(gl_retry_delay(1000, 60000, 2, 3000), 4000);
    assert_int_equal(gl_retry_delay(1000, 60000, 3, 7000), 8000);
    assert_int_equal(gl_retry_delay(1000, 60000, 3, 7001), 1000);
}

static void test_retry_delay_capped(void **state)
{
    (void)state;
    for (unsigned a = 6; a < 200; a += 7) {
        uint64_t d = gl_retry_delay(1000, 60000, a, UINT64_MAX - a);
        assert_true(d >= 1000 && d <= 60000);
    }
    assert_int_equal(gl_retry_delay(1000, 60000, 100, 59000), 60000);
}

static void test_retry_jitter_spreads_over_range(void **state)
{
    (void)state;
    uint64_t rng = 42, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t d = gl_retry_delay(100, 100000, 4, gl_retry_random(&rng));
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        assert_true(d >= 100 && d <= 1600);
    }
    assert_true(lo < 200);
    assert_true(hi > 1500);
}

static void test_retry_zero_base_is_one_ms(void **state)
{
    (void)state;
    assert_int_equal(gl_retry_delay(0, 0, 5, 12345), 1);
}

static void test_retry_http_statuses(void **state)
{
    (void)state;
    assert_true(gl_retry_http_status(0));
    assert_true(gl_retry_http_status(429));
    assert_true(gl_retry_http_status(408));
    assert_true(gl_retry_http_status(500));
    assert_true(gl_retry_http_status(503));
    assert_false(gl_retry_http_status(400));
    assert_false(gl_retry_http_status(403));
    assert_false(gl_retry_http_status(404));
    assert_false(gl_retry_http_status(413));
}

static void test_retry_delay_after_waits_at_least_retry_after(void **state)
{
    (void)state;
    /* No Retry-After: the plain schedule. */
    assert_int_equal(gl_retry_delay_after(1000, 60000, 0, 77, 0), 1000);
    /* Retry-After over base raises the floor; the jitter stays under the cap. */
    assert_int_equal(gl_retry_delay_after(1000, 60000, 0, 77, 5000), 5000);
    uint64_t rng = 9;
    for (int i = 0; i < 1000; i++) {
        uint64_t d = gl_retry_delay_after(1000, 60000, 3, gl_retry_random(&rng), 5000);
        assert_true(d >= 5000 && d <= 40000);
    }
    /* Retry-After over the cap is honoured as is. */
    assert_int_equal(gl_retry_delay_after(1000, 60000, 9, 12345, 90000), 90000);
    /* Retry-After under base changes nothing. */
    assert_int_equal(gl_retry_delay_after(1000, 60000, 2, 3000, 200), 4000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_first_attempt_waits_base),
        cmocka_unit_test(test_retry_ceiling_doubles_per_attempt),
        cmocka_unit_test(test_retry_delay_capped),
        cmocka_unit_test(test_retry_jitter_spreads_over_range),
        cmocka_unit_test(test_retry_zero_base_is_one_ms),
        cmocka_unit_test(test_retry_http_statuses),
        cmocka_unit_test(test_retry_delay_after_waits_at_least_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests for plugins/in_tail/in_tail_join.c: partial pieces joined, bounded by max, flushed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "plugins/in_tail/in_tail.h"

static struct tail_line piece(const char *msg, bool partial, uint64_t ts)
{
    return (struct tail_line){ .ts_ns = ts, .msg = msg, .len = strlen(msg),
                               .stream = TAIL_STDOUT, .partial = partial };
}

static void assert_record(const struct tail_joined *r, const char *want, uint64_t ts, bool split)
{
    assert_int_equal(r->len, strlen(want));
    assert_memory_equal(r->msg, want, r->len);
    assert_int_equal(r->ts_ns, ts);
    assert_int_equal(r->split, split);
}

static void test_join_complete_line_returns_it_without_copy(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 100);
    struct tail_joined out[2];
    struct tail_line l = piece("whole line", false, 7);
    assert_int_equal(tail_join_add(&j, &l, out), 1);
    assert_ptr_equal(out[0].msg, l.msg);
    assert_record(&out[0], "whole line", 7, false);
    assert_false(j.active);
    tail_join_close(&j);
}

static void test_join_partials_until_full_line(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 100);
    struct tail_joined out[2];
    struct tail_line a = piece("one ", true, 1), b = piece("two ", true, 2);
    struct tail_line c = piece("three", false, 3);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 0);
    assert_true(j.active);
    assert_int_equal(tail_join_add(&j, &c, out), 1);
    assert_record(&out[0], "one two three", 1, false);
    assert_false(j.active);
    struct tail_line d = piece("next", false, 4);
    assert_int_equal(tail_join_add(&j, &d, out), 1);
    assert_record(&out[0], "next", 4, false);
    tail_join_close(&j);
}

static void test_join_one_per_stream_keeps_interleaved_pieces_apart(void **state)
{
    (void)state;
    struct tail_join out_j, err_j;
    tail_join_init(&out_j, 100);
    tail_join_init(&err_j, 100);
    struct tail_joined out[2];
    struct tail_line o1 = piece("out-a ", true, 1), e1 = piece("err-a ", true, 2);
    struct tail_line o2 = piece("out-b", false, 3), e2 = piece("err-b", false, 4);
    assert_int_equal(tail_join_add(&out_j, &o1, out), 0);
    assert_int_equal(tail_join_add(&err_j, &e1, out), 0);
    assert_int_equal(tail_join_add(&out_j, &o2, out), 1);
    assert_record(&out[0], "out-a out-b", 1, false);
    assert_int_equal(tail_join_add(&err_j, &e2, out), 1);
    assert_record(&out[0], "err-a err-b", 2, false);
    tail_join_close(&out_j);
    tail_join_close(&err_j);
}

static void test_join_empty_final_piece_ends_line(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 100);
    struct tail_joined out[2];
    struct tail_line a = piece("abc", true, 1), b = piece("", false, 2);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 1);
    assert_record(&out[0], "abc", 1, false);
    tail_join_close(&j);
}

static void test_join_exactly_max_is_not_split(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 6);
    struct tail_joined out[2];
    struct tail_line a = piece("abc", true, 1), b = piece("def", false, 2);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 1);
    assert_record(&out[0], "abcdef", 1, false);
    tail_join_close(&j);
}

static void test_join_over_max_emits_max_sized_split_records(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 5);
    struct tail_joined out[2];
    struct tail_line a = piece("abcd", true, 1), b = piece("efgh", true, 2);
    struct tail_line c = piece("ijklm", true, 3), d = piece("no", false, 4);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 1);
    assert_record(&out[0], "abcde", 1, true);
    assert_int_equal(tail_join_add(&j, &c, out), 1);
    assert_record(&out[0], "fghij", 1, true);
    assert_int_equal(tail_join_add(&j, &d, out), 1);
    assert_record(&out[0], "klmno", 1, true);
    assert_int_equal(j.dropped, 0);
    tail_join_close(&j);
}

static void test_join_final_piece_over_max_emits_two_records(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 4);
    struct tail_joined out[2];
    struct tail_line a = piece("abc", true, 1), b = piece("defg", false, 2);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 2);
    assert_record(&out[0], "abcd", 1, true);
    assert_record(&out[1], "efg", 1, true);
    struct tail_line c = piece("hi", false, 3);
    assert_int_equal(tail_join_add(&j, &c, out), 1);
    assert_record(&out[0], "hi", 3, false);
    tail_join_close(&j);
}

static void test_join_piece_longer_than_max_is_cut_and_counted(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 4);
    struct tail_joined out[2];
    struct tail_line a = piece("abcdefg", false, 1);
    assert_int_equal(tail_join_add(&j, &a, out), 1);
    assert_record(&out[0], "abcd", 1, false);
    assert_int_equal(j.dropped, 3);
    tail_join_close(&j);
}

static void test_join_flush_emits_what_is_held(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 100);
    struct tail_joined out[2];
    assert_int_equal(tail_join_flush(&j, &out[0]), 0);
    struct tail_line a = piece("never ", true, 5), b = piece("finished", true, 6);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 0);
    assert_int_equal(tail_join_flush(&j, &out[0]), 1);
    assert_record(&out[0], "never finished", 5, false);
    assert_int_equal(tail_join_flush(&j, &out[0]), 0);
    tail_join_close(&j);
}

static void test_join_flush_after_split_is_flagged_split(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 3);
    struct tail_joined out[2];
    struct tail_line a = piece("ab", true, 1), b = piece("cd", true, 2);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 1);
    assert_record(&out[0], "abc", 1, true);
    assert_int_equal(tail_join_flush(&j, &out[0]), 1);
    assert_record(&out[0], "d", 1, true);
    tail_join_close(&j);
}

static void test_join_zero_max_is_unbounded(void **state)
{
    (void)state;
    struct tail_join j;
    tail_join_init(&j, 0);
    struct tail_joined out[2];
    char big[70000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct tail_line a = piece(big, true, 1), b = piece(big, false, 2);
    assert_int_equal(tail_join_add(&j, &a, out), 0);
    assert_int_equal(tail_join_add(&j, &b, out), 1);
    assert_int_equal(out[0].len, 2 * (sizeof(big) - 1));
    assert_false(out[0].split);
    tail_join_close(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_complete_line_returns_it_without_copy),
        cmocka_unit_test(test_join_partials_until_full_line),
        cmocka_unit_test(test_join_one_per_stream_keeps_interleaved_pieces_apart),
        cmocka_unit_test(test_join_empty_final_piece_ends_line),
        cmocka_unit_test(test_join_exactly_max_is_not_split),
        cmocka_unit_test(test_join_over_max_emits_max_sized_split_records),
        cmocka_unit_test(test_join_final_piece_over_max_emits_two_records),
        cmocka_unit_test(test_join_piece_longer_than_max_is_cut_and_counted),
        cmocka_unit_test(test_join_flush_emits_what_is_held),
        cmocka_unit_test(test_join_flush_after_split_is_flagged_split),
        cmocka_unit_test(test_join_zero_max_is_unbounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests for plugins/in_tail/in_tail_multiline.c: Java, Python and Go traces
 * joined by the built-in rules, user rules, flush timeout, the max bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "plugins/in_tail/in_tail.h"
#include "util/mem.h"

#define SINK_MAX 32

/* The records a tail_ml emitted, copied, with their times and split flags. */
struct sink {
    char *text[SINK_MAX];
    uint64_t ts[SINK_MAX];
    bool split[SINK_MAX];
    int n;
};

static void keep(struct sink *s, const struct tail_joined *r)
{
    assert_true(s->n < SINK_MAX);
    s->text[s->n] = gl_strndup(r->msg, r->len);
    s->ts[s->n] = r->ts_ns;
    s->split[s->n] = r->split;
    s->n++;
}

/* Feeds lines (line i has time i + 1, arrives at i ms) and then flushes what is held. */
static void run(struct tail_ml *m, struct sink *s, const char *const *lines, size_t n)
{
    struct tail_joined out;
    for (size_t i = 0; i < n; i++) {
        if (tail_ml_add(m, lines[i], strlen(lines[i]), i + 1, i, &out) == 1) {
            keep(s, &out);
        }
    }
    if (tail_ml_flush(m, n, 0, &out) == 1) {
        keep(s, &out);
    }
}

static void sink_free(struct sink *s)
{
    for (int i = 0; i < s->n; i++) {
        gl_free(s->text[i]);
    }
}

static void run_builtin(const char *name, const char *const *lines, size_t n, struct sink *s)
{
    struct tail_ml m;
    const struct tail_ml_rules *rules = tail_ml_builtin(name);
    assert_non_null(rules);
    tail_ml_init(&m, rules, 0);
    run(&m, s, lines, n);
    tail_ml_close(&m);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Java ---- */

static const char *const java_log[] = {
    "2024-05-01 12:00:00.000 ERROR 1 --- [main] c.e.App : request failed",
    "java.lang.IllegalStateException: could not save order 42",
    "\tat com.example.OrderService.save(OrderService.java:57)",
    "\tat com.example.OrderController.post(OrderController.java:31)",
    "\tSuppressed: java.lang.RuntimeException: close failed",
    "\t\tat com.example.Db.close(Db.java:12)",
    "\t\t... 2 more",
    "Caused by: java.io.IOException: disk full",
    "\tat java.base/java.io.FileOutputStream.writeBytes(Native Method)",
    "\tat com.example.Store.write(Store.java:88)",
    "\t... 12 more",
    "2024-05-01 12:00:01.000 INFO 1 --- [main] c.e.App : next request",
    "2024-05-01 12:00:02.000 INFO 1 --- [main] c.e.App : done",
};

static void test_ml_java_trace_with_caused_by_is_one_record(void **state)
{
    (void)state;
    struct sink s = { 0 };
    run_builtin("java", java_log, COUNT(java_log), &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.text[0], java_log[0]);
    assert_string_equal(s.text[1],
                        "java.lang.IllegalStateException: could not save order 42\n"
                        "\tat com.example.OrderService.save(OrderService.java:57)\n"
                        "\tat com.example.OrderController.post(OrderController.java:31)\n"
                        "\tSuppressed: java.lang.RuntimeException: close failed\n"
                        "\t\tat com.example.Db.close(Db.java:12)\n"
                        "\t\t... 2 more\n"
                        "Caused by: java.io.IOException: disk full\n"
                        "\tat java.base/java.io.FileOutputStream.writeBytes(Native Method)\n"
                        "\tat com.example.Store.write(Store.java:88)\n"
                        "\t... 12 more");
    assert_int_equal(s.ts[1], 2);
    assert_false(s.split[1]);
    assert_string_equal(s.text[2], java_log[11]);
    assert_string_equal(s.text[3], java_log[12]);
    sink_free(&s);
}

static void test_ml_java_frames_without_a_start_stand_alone(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "\tat com.example.Orphan.run(Orphan.java:1)",
        "Caused by: x",
        "",
        "plain",
    };
    struct sink s = { 0 };
    run_builtin("java", lines, COUNT(lines), &s);
    assert_int_equal(s.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(s.text[i], lines[i]);
    }
    sink_free(&s);
}

/* ---- Python ---- */

static const char *const python_log[] = {
    "INFO:app:starting",
    "Traceback (most recent call last):",
    "  File \"/app/main.py\", line 10, in <module>",
    "    main()",
    "  File \"/app/main.py\", line 6, in main",
    "    raise ValueError(\"bad value\")",
    "ValueError: bad value",
    "INFO:app:after",
    "INFO:app:again",
};

static void test_ml_python_traceback_ends_at_exception_line(void **state)
{
    (void)state;
    struct tail_ml m;
    tail_ml_init(&m, tail_ml_builtin("python"), 0);
    struct tail_joined out;
    /* A normal line while nothing is held goes out at once, uncopied. */
    assert_int_equal(tail_ml_add(&m, python_log[0], strlen(python_log[0]), 1, 0, &out), 1);
    assert_ptr_equal(out.msg, python_log[0]);
    for (int i = 1; i < 6; i++) {
        assert_int_equal(tail_ml_add(&m, python_log[i], strlen(python_log[i]), 2, 0, &out), 0);
    }
    assert_int_equal(tail_ml_add(&m, python_log[6], strlen(python_log[6]), 3, 0, &out), 1);
    assert_int_equal(out.len, strlen("Traceback (most recent call last):\n"
                                     "  File \"/app/main.py\", line 10, in <module>\n"
                                     "    main()\n"
                                     "  File \"/app/main.py\", line 6, in main\n"
                                     "    raise ValueError(\"bad value\")\n"
                                     "ValueError: bad value"));
    assert_memory_equal(out.msg, "Traceback (most recent call last):\n"
                                 "  File \"/app/main.py\", line 10, in <module>\n"
                                 "    main()\n"
                                 "  File \"/app/main.py\", line 6, in main\n"
                                 "    raise ValueError(\"bad value\")\n"
                                 "ValueError: bad value", out.len);
    assert_int_equal(out.ts_ns, 2);
    assert_false(m.active);
    assert_int_equal(tail_ml_add(&m, python_log[7], strlen(python_log[7]), 4, 0, &out), 1);
    assert_ptr_equal(out.msg, python_log[7]);
    assert_int_equal(tail_ml_flush(&m, 0, 0, &out), 0);
    tail_ml_close(&m);
}

static void test_ml_python_interrupted_traceback_is_emitted(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "Traceback (most recent call last):",
        "  File \"/app/main.py\", line 10, in <module>",
        "2024-05-01 worker restarted",
        "plain",
    };
    struct sink s = { 0 };
    run_builtin("python", lines, COUNT(lines), &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.text[0], "Traceback (most recent call last):\n"
                                   "  File \"/app/main.py\", line 10, in <module>");
    assert_string_equal(s.text[1], lines[2]);
    assert_string_equal(s.text[2], lines[3]);
    sink_free(&s);
}

/* ---- Go ---- */

static const char *const go_log[] = {
    "2024/05/01 12:00:00 starting server",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a6]",
    "",
    "goroutine 1 [running]:",
    "main.(*Server).handle(0x0, {0x4c6f20, 0xc000012345})",
    "\t/app/server.go:42 +0x26",
    "main.main()",
    "\t/app/main.go:15 +0x45",
    "",
    "goroutine 18 [chan receive]:",
    "main.worker(0xc00001e0c0)",
    "\t/app/worker.go:20 +0x3b",
    "created by main.main in goroutine 1",
    "\t/app/main.go:12 +0x2f",
    "exit status 2",
    "2024/05/01 12:00:05 restarted",
};

static void test_ml_go_panic_with_goroutines_is_one_record(void **state)
{
    (void)state;
    struct sink s = { 0 };
    run_builtin("go", go_log, COUNT(go_log), &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.text[0], go_log[0]);
    assert_string_equal(s.text[1],
                        "panic: runtime error: invalid memory address or nil pointer dereference\n"
                        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a6]\n"
                        "\n"
                        "goroutine 1 [running]:\n"
                        "main.(*Server).handle(0x0, {0x4c6f20, 0xc000012345})\n"
                        "\t/app/server.go:42 +0x26\n"
                        "main.main()\n"
                        "\t/app/main.go:15 +0x45\n"
                        "\n"
                        "goroutine 18 [chan receive]:\n"
                        "main.worker(0xc00001e0c0)\n"
                        "\t/app/worker.go:20 +0x3b\n"
                        "created by main.main in goroutine 1\n"
                        "\t/app/main.go:12 +0x2f\n"
                        "exit status 2");
    assert_int_equal(s.ts[1], 2);
    assert_string_equal(s.text[2], go_log[16]);
    sink_free(&s);
}

static void test_ml_go_normal_lines_stay_single(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "level=info msg=one",
        "  indented but no panic",
        "level=info msg=two",
    };
    struct sink s = { 0 };
    run_builtin("go", lines, COUNT(lines), &s);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(s.text[i], lines[i]);
    }
    sink_free(&s);
}

static void test_ml_unknown_builtin_is_null(void **state)
{
    (void)state;
    assert_null(tail_ml_builtin("ruby"));
    assert_ptr_equal(tail_ml_builtin("java"), tail_ml_builtin("java"));
}

/* ---- user rules ---- */

static void test_ml_user_rules_start_and_continuation(void **state)
{
    (void)state;
    char err[128];
    struct tail_ml_rules *r = tail_ml_rules_new("^\\d{4}-\\d\\d-\\d\\d ", "^\\s", err, sizeof(err));
    assert_non_null(r);
    static const char *const lines[] = {
        "2024-05-01 first",  "  detail 1", "  detail 2", "stray line",
        "  after stray",     "2024-05-01 second",
    };
    struct tail_ml m;
    tail_ml_init(&m, r, 0);
    struct sink s = { 0 };
    run(&m, &s, lines, COUNT(lines));
    assert_int_equal(s.n, 4);
    assert_string_equal(s.text[0], "2024-05-01 first\n  detail 1\n  detail 2");
    assert_int_equal(s.ts[0], 1);
    assert_string_equal(s.text[1], "stray line");
    assert_string_equal(s.text[2], "  after stray");
    assert_string_equal(s.text[3], "2024-05-01 second");
    sink_free(&s);
    tail_ml_close(&m);
    tail_ml_rules_free(r);
}

static void test_ml_user_rules_without_cont_join_non_start_lines(void **state)
{
    (void)state;
    char err[128];
    struct tail_ml_rules *r = tail_ml_rules_new("^START", NULL, err, sizeof(err));
    assert_non_null(r);
    static const char *const lines[] = { "before", "START a", "b", "c", "START d" };
    struct tail_ml m;
    tail_ml_init(&m, r, 0);
    struct sink s = { 0 };
    run(&m, &s, lines, COUNT(lines));
    assert_int_equal(s.n, 3);
    assert_string_equal(s.text[0], "before");
    assert_string_equal(s.text[1], "START a\nb\nc");
    assert_string_equal(s.text[2], "START d");
    sink_free(&s);
    tail_ml_close(&m);
    tail_ml_rules_free(r);
}

static void test_ml_user_rules_bad_regex_reports_error(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(tail_ml_rules_new("^ok", "(unclosed", err, sizeof(err)));
    assert_memory_equal(err, "cont regex: ", 12);
    assert_true(strlen(err) > 12);
    assert_null(tail_ml_rules_new(NULL, "x", err, sizeof(err)));
    assert_string_equal(err, "start regex: missing");
}

/* ---- flush and bounds ---- */

static void test_ml_flush_waits_for_idle_time(void **state)
{
    (void)state;
    struct tail_ml m;
    tail_ml_init(&m, tail_ml_builtin("java"), 0);
    struct tail_joined out;
    assert_int_equal(tail_ml_add(&m, "java.lang.Error: x", 18, 7, 1000, &out), 0);
    assert_int_equal(tail_ml_add(&m, "\tat a.B.c(B.java:1)", 19, 8, 1400, &out), 0);
    assert_int_equal(tail_ml_flush(&m, 2399, 1000, &out), 0);
    assert_int_equal(tail_ml_flush(&m, 2400, 1000, &out), 1);
    assert_int_equal(out.len, 38);
    assert_memory_equal(out.msg, "java.lang.Error: x\n\tat a.B.c(B.java:1)", 38);
    assert_int_equal(out.ts_ns, 7);
    assert_int_equal(tail_ml_flush(&m, 5000, 1000, &out), 0);
    /* After a flush, a late frame has no group to continue. */
    const char *late = "\tat late";
    assert_int_equal(tail_ml_add(&m, late, 8, 9, 5000, &out), 1);
    assert_ptr_equal(out.msg, late);
    assert_int_equal(out.len, 8);
    tail_ml_close(&m);
}

static void test_ml_group_over_max_is_emitted_split(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "Exception: x",          /* 12 bytes */
        "\tat a.b(C.java:1)",    /* 17: 12 + 1 + 17 > 20, the group so far goes */
        "\tat d",                /* 5: 17 + 1 + 5 > 20 */
        "\tat e",                /* 5: 5 + 1 + 5 fits */
        "next",
    };
    struct tail_ml m;
    tail_ml_init(&m, tail_ml_builtin("java"), 20);
    struct sink s = { 0 };
    run(&m, &s, lines, COUNT(lines));
    assert_int_equal(s.n, 4);
    assert_string_equal(s.text[0], "Exception: x");
    assert_true(s.split[0]);
    assert_string_equal(s.text[1], "\tat a.b(C.java:1)");
    assert_true(s.split[1]);
    assert_string_equal(s.text[2], "\tat d\n\tat e");
    assert_true(s.split[2]);
    assert_int_equal(s.ts[2], 1);
    assert_string_equal(s.text[3], "next");
    assert_false(s.split[3]);
    sink_free(&s);
    tail_ml_close(&m);
}

static void test_ml_last_line_over_max_waits_for_next_line(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "Traceback (most recent call last):",
        "  File \"x.py\", line 1",
        "KeyError: 'a'",
        "after",
    };
    struct tail_ml m;
    tail_ml_init(&m, tail_ml_builtin("python"), 60);
    struct sink s = { 0 };
    run(&m, &s, lines, COUNT(lines));
    assert_int_equal(s.n, 3);
    assert_string_equal(s.text[0], "Traceback (most recent call last):\n  File \"x.py\", line 1");
    assert_true(s.split[0]);
    assert_string_equal(s.text[1], "KeyError: 'a'");
    assert_true(s.split[1]);
    assert_string_equal(s.text[2], "after");
    assert_false(s.split[2]);
    sink_free(&s);
    tail_ml_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml_java_trace_with_caused_by_is_one_record),
        cmocka_unit_test(test_ml_java_frames_without_a_start_stand_alone),
        cmocka_unit_test(test_ml_python_traceback_ends_at_exception_line),
        cmocka_unit_test(test_ml_python_interrupted_traceback_is_emitted),
        cmocka_unit_test(test_ml_go_panic_with_goroutines_is_one_record),
        cmocka_unit_test(test_ml_go_normal_lines_stay_single),
        cmocka_unit_test(test_ml_unknown_builtin_is_null),
        cmocka_unit_test(test_ml_user_rules_start_and_continuation),
        cmocka_unit_test(test_ml_user_rules_without_cont_join_non_start_lines),
        cmocka_unit_test(test_ml_user_rules_bad_regex_reports_error),
        cmocka_unit_test(test_ml_flush_waits_for_idle_time),
        cmocka_unit_test(test_ml_group_over_max_is_emitted_split),
        cmocka_unit_test(test_ml_last_line_over_max_waits_for_next_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

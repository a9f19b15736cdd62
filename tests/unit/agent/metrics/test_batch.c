/*
 * Metrics batches: what is written reads back exactly (families, types,
 * help, unit, labels sorted and unique, values, histograms, summaries,
 * times), series that cannot be written are refused and counted, 10,000
 * series cost a handful of allocations, the reader survives any bytes, and
 * the JSON lines stdout and file write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/chunk.h"
#include "metrics/batch.h"
#include "util/error.h"
#include "util/mem.h"

#define L(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

static void family(struct gl_batch *b, const char *name, enum gl_metric_type t,
                   const char *help, const char *unit)
{
    gl_batch_family(b, name, strlen(name), t, help, help ? strlen(help) : 0, unit,
                    unit ? strlen(unit) : 0);
}

static bool label_is(const struct gl_label *l, const char *name, const char *value)
{
    return l->name_len == strlen(name) && memcmp(l->name, name, l->name_len) == 0 &&
           l->value_len == strlen(value) && memcmp(l->value, value, l->value_len) == 0;
}

static void test_batch_reads_back_what_was_written(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_batch_begin_buf(&b, &buf, 1700000000123);
    family(&b, "http_requests_total", GL_METRIC_COUNTER, "Requests.", NULL);
    struct gl_label l1[] = { L("status", "500"), L("method", "GET") };
    assert_int_equal(gl_batch_sample(&b, l1, 2, 0, 7), 0);
    assert_int_equal(gl_batch_sample(&b, NULL, 0, 1700000000999, -0.5), 0);
    family(&b, "req_seconds", GL_METRIC_HISTOGRAM, "Latency.", "seconds");
    struct gl_bucket bk[] = { { 0.1, 1 }, { 1, 3 }, { INFINITY, 4 } };
    assert_int_equal(gl_batch_histogram(&b, l1, 1, 0, bk, 3, 2.5, 4), 0);
    family(&b, "rpc", GL_METRIC_SUMMARY, NULL, NULL);
    struct gl_quantile q[] = { { 0.5, 0.2 }, { 0.99, NAN } };
    assert_int_equal(gl_batch_summary(&b, NULL, 0, 0, q, 2, 10, 40), 0);
    assert_int_equal(gl_batch_commit(&b), 0);
    assert_int_equal(b.total, 4);

    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    struct gl_label l[GL_LABELS_MAX];
    gl_batch_iter_init_bytes(&it, buf.data, buf.len);
    assert_int_equal(gl_batch_next_family(&it, &f), 0);
    assert_int_equal(f.type, GL_METRIC_COUNTER);
    assert_int_equal(f.n_series, 2);
    assert_memory_equal(f.name, "http_requests_total", f.name_len);
    assert_memory_equal(f.help, "Requests.", f.help_len);
    assert_int_equal(f.unit_len, 0);
    assert_int_equal(gl_batch_next_series(&it, &s), 0);
    assert_int_equal(s.ts_ms, 1700000000123);
    assert_true(s.value == 7);
    assert_int_equal(gl_series_labels(&s, l), 2);
    assert_true(label_is(&l[0], "method", "GET"));
    assert_true(label_is(&l[1], "status", "500"));
    assert_int_equal(gl_batch_next_series(&it, &s), 0);
    assert_int_equal(s.ts_ms, 1700000000999);
    assert_true(s.value == -0.5);
    assert_int_equal(s.n_labels, 0);
    assert_int_equal(s.index, 1);
    assert_int_equal(gl_batch_next_series(&it, &s), GL_ENOENT);

    assert_int_equal(gl_batch_next_family(&it, &f), 0);
    assert_int_equal(f.type, GL_METRIC_HISTOGRAM);
    assert_memory_equal(f.unit, "seconds", 7);
    assert_int_equal(gl_batch_next_series(&it, &s), 0);
    assert_int_equal(s.n_points, 3);
    assert_true(s.sum == 2.5 && s.count == 4);
    double a, v;
    gl_series_point(&s, 1, &a, &v);
    assert_true(a == 1 && v == 3);
    gl_series_point(&s, 2, &a, &v);
    assert_true(isinf(a) && v == 4);

    assert_int_equal(gl_batch_next_family(&it, &f), 0);
    assert_int_equal(f.type, GL_METRIC_SUMMARY);
    assert_int_equal(gl_batch_next_series(&it, &s), 0);
    assert_int_equal(s.index, 3);
    gl_series_point(&s, 1, &a, &v);
    assert_true(a == 0.99 && isnan(v));
    assert_int_equal(gl_batch_next_family(&it, &f), GL_ENOENT);
    gl_buf_close(&buf);
}

static void test_batch_labels_sorted_unique_and_never_empty(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_batch_begin_buf(&b, &buf, 1);
    family(&b, "m", GL_METRIC_GAUGE, NULL, NULL);
    struct gl_label in[] = { L("zone", "a"), L("job", "x"), L("empty", ""), L("job", "y"),
                             L("instance", "i:1"), L("jo", "short") };
    gl_batch_sample(&b, in, 6, 0, 1);
    gl_batch_commit(&b);
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    struct gl_label l[GL_LABELS_MAX];
    gl_batch_iter_init_bytes(&it, buf.data, buf.len);
    gl_batch_next_family(&it, &f);
    gl_batch_next_series(&it, &s);
    assert_int_equal(gl_series_labels(&s, l), 4);
    assert_true(label_is(&l[0], "instance", "i:1"));
    assert_true(label_is(&l[1], "jo", "short"));
    assert_true(label_is(&l[2], "job", "x")); /* the first given wins */
    assert_true(label_is(&l[3], "zone", "a"));
    gl_buf_close(&buf);
}

static void test_batch_refuses_series_it_cannot_write(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    struct gl_label many[GL_LABELS_MAX + 1];
    char names[GL_LABELS_MAX + 1][16];
    for (int i = 0; i <= GL_LABELS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "l%d", i);
        many[i] = (struct gl_label){ names[i], (uint32_t)strlen(names[i]), "v", 1 };
    }
    gl_buf_init(&buf);
    gl_batch_begin_buf(&b, &buf, 1);
    assert_int_equal(gl_batch_sample(&b, NULL, 0, 0, 1), GL_ESTATE);
    family(&b, "m", GL_METRIC_GAUGE, NULL, NULL);
    assert_int_equal(gl_batch_sample(&b, many, GL_LABELS_MAX + 1, 0, 1), GL_ELIMIT);
    assert_int_equal(gl_batch_sample(&b, many, GL_LABELS_MAX, 0, 1), 0);
    assert_int_equal(b.refused, 2);
    assert_int_equal(b.total, 1);
    gl_batch_commit(&b);
    gl_buf_close(&buf);
}

static void test_batch_without_series_leaves_nothing(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_buf_puts(&buf, "x");
    gl_batch_begin_buf(&b, &buf, 1);
    family(&b, "m", GL_METRIC_GAUGE, "h", NULL);
    assert_int_equal(gl_batch_commit(&b), 0);
    assert_int_equal(buf.len, 1);
    gl_buf_close(&buf);
}

static void test_batch_next_family_skips_unread_series(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    gl_buf_init(&buf);
    for (int batch = 0; batch < 2; batch++) {
        gl_batch_begin_buf(&b, &buf, 10 + batch);
        family(&b, "a", GL_METRIC_GAUGE, NULL, NULL);
        gl_batch_sample(&b, NULL, 0, 0, 1);
        gl_batch_sample(&b, NULL, 0, 0, 2);
        family(&b, "b", GL_METRIC_GAUGE, NULL, NULL);
        gl_batch_sample(&b, NULL, 0, 0, 3);
        gl_batch_commit(&b);
    }
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    gl_batch_iter_init_bytes(&it, buf.data, buf.len);
    int families = 0;
    while (gl_batch_next_family(&it, &f) == 0) {
        families++;
        if (families == 2) {
            assert_int_equal(gl_batch_next_series(&it, &s), 0);
            assert_true(s.value == 3);
            assert_int_equal(s.index, 2);
        }
        if (families == 3) {
            assert_int_equal(f.batch_ts_ms, 11);
        }
    }
    assert_int_equal(families, 4);
    gl_buf_close(&buf);
}

static void test_batch_of_10000_series_costs_a_handful_of_allocations(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    char value[16];
    gl_buf_init(&buf);
    uint64_t before = gl_mem_allocations();
    gl_batch_begin_buf(&b, &buf, 1);
    family(&b, "container_cpu_usage_seconds_total", GL_METRIC_COUNTER, "CPU.", NULL);
    for (int i = 0; i < 10000; i++) {
        snprintf(value, sizeof(value), "pod-%d", i);
        struct gl_label l[] = { L("namespace", "default"), { "pod", 3, value,
                                (uint32_t)strlen(value) }, L("container", "app") };
        gl_batch_sample(&b, l, 3, 0, i);
    }
    gl_batch_commit(&b);
    uint64_t cost = gl_mem_allocations() - before;
    print_message("10,000 series: %zu bytes, %llu allocations\n", buf.len,
                  (unsigned long long)cost);
    assert_true(cost <= 20);
    /* Reading them back allocates nothing. */
    before = gl_mem_allocations();
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    struct gl_label l[GL_LABELS_MAX];
    int n = 0;
    gl_batch_iter_init_bytes(&it, buf.data, buf.len);
    while (gl_batch_next_family(&it, &f) == 0) {
        while (gl_batch_next_series(&it, &s) == 0) {
            n += gl_series_labels(&s, l) == 3;
        }
    }
    assert_int_equal(n, 10000);
    assert_int_equal(gl_mem_allocations() - before, 0);
    gl_buf_close(&buf);
}

static void test_batch_reader_survives_every_truncation_and_flip(void **state)
{
    (void)state;
    struct gl_buf buf;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_batch_begin_buf(&b, &buf, 5);
    family(&b, "h", GL_METRIC_HISTOGRAM, "help", "u");
    struct gl_label l[] = { L("a", "b") };
    struct gl_bucket bk[] = { { 1, 1 }, { INFINITY, 2 } };
    gl_batch_histogram(&b, l, 1, 0, bk, 2, 3, 2);
    family(&b, "g", GL_METRIC_GAUGE, NULL, NULL);
    gl_batch_sample(&b, l, 1, 0, 1);
    gl_batch_commit(&b);
    for (size_t cut = 0; cut <= buf.len; cut++) {
        for (size_t flip = 0; flip <= cut; flip++) {
            char copy[512];
            memcpy(copy, buf.data, cut);
            if (flip < cut) {
                copy[flip] ^= 0x5a;
            }
            struct gl_batch_iter it;
            struct gl_family f;
            struct gl_series s;
            struct gl_label out[GL_LABELS_MAX];
            gl_batch_iter_init_bytes(&it, copy, cut);
            int guard = 0;
            while (gl_batch_next_family(&it, &f) == 0 && guard++ < 100) {
                while (gl_batch_next_series(&it, &s) == 0 && guard++ < 100) {
                    gl_series_labels(&s, out);
                    for (uint32_t i = 0; i < s.n_points; i++) {
                        double x, y;
                        gl_series_point(&s, i, &x, &y);
                    }
                }
            }
            assert_true(guard < 100);
        }
    }
    gl_buf_close(&buf);
}

static void test_batch_json_lines(void **state)
{
    (void)state;
    struct gl_chunk *c = gl_chunk_new(NULL, "m", 1);
    struct gl_batch b;
    c->type = GL_METRICS;
    gl_batch_begin_buf(&b, &c->data, 1700000000000);
    family(&b, "up", GL_METRIC_GAUGE, "Up.", NULL);
    struct gl_label l[] = { L("job", "a\"b") };
    gl_batch_sample(&b, l, 1, 0, 1);
    gl_batch_sample(&b, NULL, 0, 0, gl_metric_stale());
    family(&b, "h", GL_METRIC_HISTOGRAM, NULL, "seconds");
    struct gl_bucket bk[] = { { 0.5, 1 }, { INFINITY, 2 } };
    gl_batch_histogram(&b, NULL, 0, 0, bk, 2, 0.75, 2);
    gl_batch_commit(&b);
    struct gl_buf out;
    gl_buf_init(&out);
    gl_batch_write_json(&out, c);
    assert_string_equal(out.data,
                        "{\"@timestamp\":\"2023-11-14T22:13:20.000000000Z\",\"name\":\"up\","
                        "\"type\":\"gauge\",\"help\":\"Up.\",\"labels\":{\"job\":\"a\\\"b\"},"
                        "\"value\":1.0}\n"
                        "{\"@timestamp\":\"2023-11-14T22:13:20.000000000Z\",\"name\":\"up\","
                        "\"type\":\"gauge\",\"help\":\"Up.\",\"labels\":{},\"value\":\"NaN\","
                        "\"stale\":true}\n"
                        "{\"@timestamp\":\"2023-11-14T22:13:20.000000000Z\",\"name\":\"h\","
                        "\"type\":\"histogram\",\"unit\":\"seconds\",\"labels\":{},"
                        "\"count\":2.0,\"sum\":0.75,\"buckets\":{\"0.5\":1.0,\"+Inf\":2.0}}\n");
    gl_buf_close(&out);
    gl_chunk_free(c);
    gl_buf_pool_drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_reads_back_what_was_written),
        cmocka_unit_test(test_batch_labels_sorted_unique_and_never_empty),
        cmocka_unit_test(test_batch_refuses_series_it_cannot_write),
        cmocka_unit_test(test_batch_without_series_leaves_nothing),
        cmocka_unit_test(test_batch_next_family_skips_unread_series),
        cmocka_unit_test(test_batch_of_10000_series_costs_a_handful_of_allocations),
        cmocka_unit_test(test_batch_reader_survives_every_truncation_and_flip),
        cmocka_unit_test(test_batch_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

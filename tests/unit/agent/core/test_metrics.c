/*
 * Plugin metrics with labels of their own: one series per label values,
 * shared by whoever takes it, gone with its last reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/engine.h"
#include "core/metrics.h"
#include "util/mem.h"

static const char *const labels[] = { "namespace", "pod", "container" };

static struct gl_instance *instance_new(void)
{
    struct gl_instance *ins = gl_calloc(1, sizeof(*ins));
    ins->core = gl_calloc(1, sizeof(*ins->core));
    return ins;
}

static void instance_free(struct gl_instance *ins)
{
    gl__metrics_free(ins);
    gl_free(ins->core);
    gl_free(ins);
}

static size_t series_count(const struct gl_metric *m)
{
    size_t n = 0;
    for (const struct gl_metric_series *s = m->series; s != NULL; s = s->next) {
        n++;
    }
    return n;
}

static void test_metrics_series_shared_by_label_values(void **state)
{
    (void)state;
    struct gl_instance *ins = instance_new();
    struct gl_metric *m = gl_metric_counter_vec(ins, "container_bytes_total", "Bytes.", labels, 3);
    const char *const a[] = { "shop", "web-1", "app" };
    const char *const a2[] = { "shop", "web-1", "app" };
    const char *const b[] = { "shop", "web-1", "sidecar" };
    uint64_t *va = gl_metric_series_get(m, a);
    uint64_t *va2 = gl_metric_series_get(m, a2);
    uint64_t *vb = gl_metric_series_get(m, b);
    assert_ptr_equal(va, va2);
    assert_ptr_not_equal(va, vb);
    *va += 10;
    *va2 += 5;
    *vb += 1;
    assert_int_equal(*va, 15);
    assert_int_equal(series_count(m), 2);
    assert_string_equal(m->series->values[2], "sidecar");
    assert_int_equal(m->series->value, 1);
    instance_free(ins);
}

static void test_metrics_series_removed_with_last_reference(void **state)
{
    (void)state;
    struct gl_instance *ins = instance_new();
    struct gl_metric *m = gl_metric_counter_vec(ins, "container_lines_total", "Lines.", labels, 3);
    const char *const a[] = { "pay", "api-7", "app" };
    const char *const b[] = { "pay", "api-8", "app" };
    uint64_t *v1 = gl_metric_series_get(m, a);
    uint64_t *v2 = gl_metric_series_get(m, a);
    uint64_t *vb = gl_metric_series_get(m, b);
    *v1 = 7;
    gl_metric_series_put(m, v1);
    assert_int_equal(series_count(m), 2);
    assert_int_equal(*v2, 7);
    gl_metric_series_put(m, v2);
    assert_int_equal(series_count(m), 1);
    assert_string_equal(m->series->values[1], "api-8");
    /* Taken again after it went: a new series, from 0. */
    uint64_t *v3 = gl_metric_series_get(m, a);
    assert_int_equal(*v3, 0);
    gl_metric_series_put(m, vb);
    gl_metric_series_put(m, v3);
    assert_null(m->series);
    instance_free(ins);
}

static void test_metrics_label_values_are_not_concatenated(void **state)
{
    (void)state;
    struct gl_instance *ins = instance_new();
    struct gl_metric *m = gl_metric_counter_vec(ins, "x_total", "X.", labels, 2);
    const char *const a[] = { "ab", "c" };
    const char *const b[] = { "a", "bc" };
    assert_ptr_not_equal(gl_metric_series_get(m, a), gl_metric_series_get(m, b));
    assert_int_equal(series_count(m), 2);
    instance_free(ins);
}

static void test_metrics_plain_and_labelled_registered_together(void **state)
{
    (void)state;
    struct gl_instance *ins = instance_new();
    uint64_t *plain = gl_metric_counter(ins, "read_bytes_total", "Bytes.");
    struct gl_metric *m = gl_metric_counter_vec(ins, "container_bytes_total", "Bytes.", labels, 3);
    *plain = 3;
    assert_int_equal(ins->core->n_metrics, 2);
    assert_null(ins->core->metrics[0].labels);
    assert_ptr_equal(ins->core->metrics[1].labels, labels);
    assert_int_equal(ins->core->metrics[1].n_labels, 3);
    assert_ptr_equal(m, &ins->core->metrics[1]);
    instance_free(ins);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_series_shared_by_label_values),
        cmocka_unit_test(test_metrics_series_removed_with_last_reference),
        cmocka_unit_test(test_metrics_label_values_are_not_concatenated),
        cmocka_unit_test(test_metrics_plain_and_labelled_registered_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests for plugins/filter_kubernetes/filter_kubernetes_merge.c: merge_log
 * (objects merged, everything else left as text), merge_log_key, keep_log,
 * merge_log_trim, and which key wins on a clash. The pod cache is a fake
 * holding one pod (this file's gl_pods_* win over the library's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "filter_harness.h"
#include "k8s/pods.h"

extern const struct gl_plugin gl_filter_kubernetes;

/* ---- the fake pod cache: pod p in namespace ns ---- */

static int fake_cache;
static struct gl_pod fake_pod = {
    .namespace_name = "ns", .pod_name = "p", .pod_id = "u", .host = "h",
};
static struct gl_pods_stats fake_stats;

struct gl_pod_cache *gl_pods_acquire(uv_loop_t *loop, const struct gl_pods_settings *s,
                                     const struct gl_http_client *http, char *err,
                                     size_t errlen)
{
    (void)loop, (void)s, (void)http, (void)err, (void)errlen;
    return (struct gl_pod_cache *)&fake_cache;
}

void gl_pods_release(struct gl_pod_cache *c)
{
    (void)c;
}

const struct gl_pod *gl_pods_find(struct gl_pod_cache *c, const char *ns, const char *name)
{
    (void)c;
    return strcmp(ns, "ns") == 0 && strcmp(name, "p") == 0 ? &fake_pod : NULL;
}

const msgpack_sbuffer *gl_pods_namespace_labels(struct gl_pod_cache *c, const char *ns)
{
    (void)c, (void)ns;
    return NULL;
}

void gl_pods_fetch(struct gl_pod_cache *c, const char *ns, const char *name, gl_pods_cb cb,
                   void *data)
{
    (void)c, (void)ns, (void)name, (void)cb, (void)data;
}

void gl_pods_cancel(struct gl_pod_cache *c, gl_pods_cb cb, void *data)
{
    (void)c, (void)cb, (void)data;
}

const struct gl_pods_stats *gl_pods_stats(const struct gl_pod_cache *c)
{
    (void)c;
    return &fake_stats;
}

bool gl_pods_synced(const struct gl_pod_cache *c)
{
    (void)c;
    return true;
}

/* ---- running the filter ---- */

#define K_IN "\"kubernetes\":{\"pod_name\":\"p\",\"namespace_name\":\"ns\"}"
#define K_OUT \
    "\"kubernetes\":{\"pod_name\":\"p\",\"namespace_name\":\"ns\",\"pod_id\":\"u\",\"host\":\"h\"}"

/* Runs one record {"log": <log_json>, kubernetes} through the filter; checks the output. */
static void expect(const char *yaml, const char *body, const char *json)
{
    struct fh h;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(gl_http_global_init(&loop), 0);
    assert_int_equal(fh_open(&h, &gl_filter_kubernetes, yaml), 0);
    h.ins.loop = &loop;
    assert_int_equal(gl_filter_kubernetes.start(&h.ins), 0);
    assert_int_equal(fh_run(&h, body, 7), GL_FILTER_MODIFIED);
    assert_string_equal(h.json, json);
    gl_filter_kubernetes.stop(&h.ins);
    gl_http_global_shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    fh_close(&h);
}

/* ---- merge_log ---- */

static void test_merge_object_merged_at_top(void **state)
{
    (void)state;
    expect("merge_log: on\n",
           "{\"log\":\"{\\\"level\\\":\\\"info\\\",\\\"n\\\":3,\\\"o\\\":{\\\"a\\\":[1]}}\"," K_IN
           ",\"stream\":\"stdout\"}",
           "{\"log\":\"{\\\"level\\\":\\\"info\\\",\\\"n\\\":3,\\\"o\\\":{\\\"a\\\":[1]}}\"," K_OUT
           ",\"stream\":\"stdout\",\"level\":\"info\",\"n\":3,\"o\":{\"a\":[1]}}");
}

static void test_merge_off_by_default(void **state)
{
    (void)state;
    expect("labels: on\n", "{\"log\":\"{\\\"a\\\":1}\"," K_IN "}",
           "{\"log\":\"{\\\"a\\\":1}\"," K_OUT "}");
}

static void test_merge_invalid_json_stays_text(void **state)
{
    (void)state;
    expect("merge_log: on\n", "{\"log\":\"{\\\"a\\\":1,}\"," K_IN "}",
           "{\"log\":\"{\\\"a\\\":1,}\"," K_OUT "}");
}

static void test_merge_array_and_string_not_merged(void **state)
{
    (void)state;
    expect("merge_log: on\n", "{\"log\":\"[1,2]\"," K_IN "}", "{\"log\":\"[1,2]\"," K_OUT "}");
    expect("merge_log: on\n", "{\"log\":\"\\\"s\\\"\"," K_IN "}",
           "{\"log\":\"\\\"s\\\"\"," K_OUT "}");
    expect("merge_log: on\n", "{\"log\":\"plain text\"," K_IN "}",
           "{\"log\":\"plain text\"," K_OUT "}");
}

static void test_merge_log_key_nests_keys(void **state)
{
    (void)state;
    expect("merge_log: on\nmerge_log_key: app\n",
           "{\"log\":\"{\\\"a\\\":1}\",\"app\":\"old\"," K_IN "}",
           "{\"log\":\"{\\\"a\\\":1}\"," K_OUT ",\"app\":{\"a\":1}}");
}

static void test_merge_keep_log_off_removes_log(void **state)
{
    (void)state;
    expect("merge_log: on\nkeep_log: off\n", "{\"log\":\"{\\\"a\\\":1}\"," K_IN "}",
           "{" K_OUT ",\"a\":1}");
    /* text that did not merge keeps its log */
    expect("merge_log: on\nkeep_log: off\n", "{\"log\":\"x\"," K_IN "}",
           "{\"log\":\"x\"," K_OUT "}");
}

static void test_merge_trim_ignores_surrounding_space(void **state)
{
    (void)state;
    expect("merge_log: on\n", "{\"log\":\" {\\\"a\\\":1}\\n\"," K_IN "}",
           "{\"log\":\" {\\\"a\\\":1}\\n\"," K_OUT ",\"a\":1}");
    expect("merge_log: on\nmerge_log_trim: off\n", "{\"log\":\" {\\\"a\\\":1}\\n\"," K_IN "}",
           "{\"log\":\" {\\\"a\\\":1}\\n\"," K_OUT "}");
}

static void test_merge_merged_keys_win_but_not_kubernetes(void **state)
{
    (void)state;
    expect("merge_log: on\n",
           "{\"stream\":\"stdout\",\"log\":\"{\\\"stream\\\":\\\"x\\\","
           "\\\"kubernetes\\\":1}\"," K_IN "}",
           "{\"log\":\"{\\\"stream\\\":\\\"x\\\",\\\"kubernetes\\\":1}\"," K_OUT
           ",\"stream\":\"x\"}");
}

static void test_merge_unknown_pod_still_merged(void **state)
{
    (void)state;
    expect("merge_log: on\n",
           "{\"log\":\"{\\\"a\\\":1}\",\"kubernetes\":{\"pod_name\":\"q\","
           "\"namespace_name\":\"ns\"}}",
           "{\"log\":\"{\\\"a\\\":1}\",\"kubernetes\":{\"pod_name\":\"q\","
           "\"namespace_name\":\"ns\",\"meta_missing\":true},\"a\":1}");
}

static void test_merge_empty_key_rejected(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_kubernetes, "merge_log_key: ''\n"), GL_EINVAL);
    assert_string_equal(fh_error(&h),
                        "test.yaml:1:16: kubernetes.merge_log_key: must not be empty");
    fh_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_object_merged_at_top),
        cmocka_unit_test(test_merge_off_by_default),
        cmocka_unit_test(test_merge_invalid_json_stays_text),
        cmocka_unit_test(test_merge_array_and_string_not_merged),
        cmocka_unit_test(test_merge_log_key_nests_keys),
        cmocka_unit_test(test_merge_keep_log_off_removes_log),
        cmocka_unit_test(test_merge_trim_ignores_surrounding_space),
        cmocka_unit_test(test_merge_merged_keys_win_but_not_kubernetes),
        cmocka_unit_test(test_merge_unknown_pod_still_merged),
        cmocka_unit_test(test_merge_empty_key_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

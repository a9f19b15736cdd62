/*
 * Tests for agent/k8s/pods_decode.c: Pod objects written inline as JSON are
 * decoded and every kept field is checked exactly; watch event lines are
 * parsed; the stream framing is fed pieces cut at every boundary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "codec/json.h"
#include "k8s/pods_private.h"
#include "util/error.h"
#include "util/mem.h"

static const char POD[] =
    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-7d4b9-x2x9q\","
    "\"namespace\":\"shop\",\"uid\":\"0b1c2d3e-0000-4000-8000-123456789abc\","
    "\"resourceVersion\":\"4242\",\"labels\":{\"app\":\"web\",\"tier\":\"front\"},"
    "\"annotations\":{\"prometheus.io/scrape\":\"true\"},"
    "\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n1\"},"
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-7d4b9\","
    "\"controller\":true}]},"
    "\"spec\":{\"nodeName\":\"ip-10-0-1-17\",\"containers\":["
    "{\"name\":\"web\",\"image\":\"nginx:1.25\"},{\"name\":\"sidecar\",\"image\":\"envoy:1\"}],"
    "\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox\"}]},"
    "\"status\":{\"containerStatuses\":[{\"name\":\"web\",\"image\":\"docker.io/nginx:1.25\","
    "\"imageID\":\"docker.io/nginx@sha256:aaaa\",\"containerID\":\"containerd://abc123\"},"
    "{\"name\":\"sidecar\",\"imageID\":\"envoy@sha256:bbbb\",\"containerID\":\"docker://def\"}],"
    "\"initContainerStatuses\":[{\"name\":\"init\",\"imageID\":\"busybox@sha256:cccc\","
    "\"containerID\":\"containerd://0123\"},{\"name\":\"late\",\"image\":\"late:2\"}]}}";

/* Parses JSON text and decodes it as a pod; returns decode's result. */
static int decode(const char *json, struct gl_pod *pod)
{
    struct gl_json_doc doc;
    assert_int_equal(gl_json_doc_parse(&doc, json, strlen(json), NULL), 0);
    int rc = gl__pod_decode(&doc.root, pod);
    gl_json_doc_free(&doc);
    return rc;
}

/* The JSON text of a packed map, for exact comparison. */
static char *map_json(const msgpack_sbuffer *sb)
{
    msgpack_unpacked u;
    size_t off = 0;
    struct gl_buf b;

    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb->size);
    gl_buf_init(&b);
    gl_json_write(&b, &u.data);
    msgpack_unpacked_destroy(&u);
    return gl_buf_take(&b);
}

static void assert_container(const struct gl_pod_container *k, const char *name,
                             const char *image, const char *image_id, const char *id)
{
    assert_string_equal(k->name, name);
    if (image != NULL) {
        assert_string_equal(k->image, image);
    } else {
        assert_null(k->image);
    }
    if (image_id != NULL) {
        assert_string_equal(k->image_id, image_id);
    } else {
        assert_null(k->image_id);
    }
    if (id != NULL) {
        assert_string_equal(k->container_id, id);
    } else {
        assert_null(k->container_id);
    }
}

static void test_pod_decode_keeps_exact_fields(void **state)
{
    struct gl_pod pod;

    (void)state;
    assert_int_equal(decode(POD, &pod), 0);
    assert_string_equal(pod.namespace_name, "shop");
    assert_string_equal(pod.pod_name, "web-7d4b9-x2x9q");
    assert_string_equal(pod.pod_id, "0b1c2d3e-0000-4000-8000-123456789abc");
    assert_string_equal(pod.host, "ip-10-0-1-17");
    assert_string_equal(pod.owner_kind, "ReplicaSet");
    assert_string_equal(pod.owner_name, "web-7d4b9");
    assert_int_equal(pod.deleted_ms, 0);
    char *labels = map_json(&pod.labels);
    char *annotations = map_json(&pod.annotations);
    assert_string_equal(labels, "{\"app\":\"web\",\"tier\":\"front\"}");
    assert_string_equal(annotations, "{\"prometheus.io/scrape\":\"true\"}");
    assert_int_equal(pod.labels.alloc, pod.labels.size);
    gl_free(labels);
    gl_free(annotations);
    gl__pod_close(&pod);
}

static void test_pod_decode_merges_containers_and_strips_runtime(void **state)
{
    struct gl_pod pod;

    (void)state;
    assert_int_equal(decode(POD, &pod), 0);
    assert_int_equal(pod.n_containers, 4);
    assert_container(&pod.containers[0], "web", "nginx:1.25", "docker.io/nginx@sha256:aaaa",
                     "abc123");
    assert_container(&pod.containers[1], "sidecar", "envoy:1", "envoy@sha256:bbbb", "def");
    assert_container(&pod.containers[2], "init", "busybox", "busybox@sha256:cccc", "0123");
    assert_container(&pod.containers[3], "late", "late:2", NULL, NULL);
    gl__pod_close(&pod);
}

static void test_pod_decode_reads_addresses_phase_readiness_and_ports(void **state)
{
    struct gl_pod pod;

    (void)state;
    assert_int_equal(decode("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},"
                            "\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":["
                            "{\"name\":\"metrics\",\"containerPort\":9100,"
                            "\"protocol\":\"TCP\"},{\"containerPort\":53},"
                            "{\"containerPort\":\"x\"}]}],"
                            "\"initContainers\":[{\"name\":\"init\"}]},"
                            "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.1.5\","
                            "\"hostIP\":\"10.0.1.17\",\"conditions\":["
                            "{\"type\":\"Initialized\",\"status\":\"True\"},"
                            "{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                            &pod),
                     0);
    assert_string_equal(pod.pod_ip, "10.0.1.5");
    assert_string_equal(pod.host_ip, "10.0.1.17");
    assert_string_equal(pod.phase, "Running");
    assert_true(pod.ready);
    assert_int_equal(pod.n_containers, 2);
    assert_false(pod.containers[0].init);
    assert_true(pod.containers[1].init);
    assert_int_equal(pod.containers[0].n_ports, 2);
    assert_string_equal(pod.containers[0].ports[0].name, "metrics");
    assert_int_equal(pod.containers[0].ports[0].number, 9100);
    assert_string_equal(pod.containers[0].ports[0].protocol, "TCP");
    assert_null(pod.containers[0].ports[1].name);
    assert_int_equal(pod.containers[0].ports[1].number, 53);
    assert_int_equal(pod.containers[1].n_ports, 0);
    gl__pod_close(&pod);
    assert_int_equal(decode("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},"
                            "\"status\":{\"phase\":\"Pending\",\"conditions\":["
                            "{\"type\":\"Ready\",\"status\":\"False\"}]}}",
                            &pod),
                     0);
    assert_null(pod.pod_ip);
    assert_false(pod.ready);
    gl__pod_close(&pod);
}

static void test_pod_decode_without_optional_fields(void **state)
{
    struct gl_pod pod;

    (void)state;
    assert_int_equal(decode("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\","
                            "\"labels\":[1],\"ownerReferences\":[{\"kind\":\"Job\","
                            "\"name\":\"j\",\"controller\":false}]},\"spec\":7}",
                            &pod),
                     0);
    assert_string_equal(pod.pod_name, "p");
    assert_null(pod.pod_id);
    assert_null(pod.host);
    assert_null(pod.owner_kind);
    assert_int_equal(pod.n_containers, 0);
    char *labels = map_json(&pod.labels);
    assert_string_equal(labels, "{}");
    gl_free(labels);
    gl__pod_close(&pod);
}

static void test_pod_decode_refuses_missing_name(void **state)
{
    struct gl_pod pod;

    (void)state;
    assert_int_equal(decode("{\"metadata\":{\"namespace\":\"n\"}}", &pod), GL_EPARSE);
    assert_int_equal(decode("{\"metadata\":{\"name\":1,\"namespace\":\"n\"}}", &pod), GL_EPARSE);
    assert_int_equal(decode("[]", &pod), GL_EPARSE);
    gl__pod_close(&pod);
}

/* ---- events ---- */

static int event(const char *line, enum gl__event *type, char *rv, size_t n)
{
    struct gl_json_doc doc;
    const msgpack_object *obj = NULL;
    int rc = gl__pods_event_parse(&doc, line, strlen(line), type, &obj);
    if (rc == 0) {
        const msgpack_object *v = gl__pods_path(obj, "metadata", "resourceVersion");
        snprintf(rv, n, "%.*s", v ? (int)v->via.str.size : 0, v ? v->via.str.ptr : "");
    }
    gl_json_doc_free(&doc);
    return rc;
}

static void test_event_parse_reads_type_and_object(void **state)
{
    enum gl__event type;
    char rv[32];

    (void)state;
    assert_int_equal(event("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
                           "{\"resourceVersion\":\"77\"}}}", &type, rv, sizeof(rv)), 0);
    assert_int_equal(type, GL__EV_BOOKMARK);
    assert_string_equal(rv, "77");
    assert_int_equal(event("{\"type\":\"DELETED\",\"object\":{}}", &type, rv, sizeof(rv)), 0);
    assert_int_equal(type, GL__EV_DELETED);
    assert_int_equal(event("{\"type\":\"ERROR\",\"object\":{\"code\":410}}", &type, rv,
                           sizeof(rv)), 0);
    assert_int_equal(type, GL__EV_ERROR);
}

static void test_event_parse_refuses_bad_lines(void **state)
{
    enum gl__event type;
    char rv[32];

    (void)state;
    assert_int_equal(event("{\"type\":\"RENAMED\",\"object\":{}}", &type, rv, 32), GL_EPARSE);
    assert_int_equal(event("{\"type\":\"ADDED\",\"object\":[]}", &type, rv, 32), GL_EPARSE);
    assert_int_equal(event("{\"type\":\"ADDED\",\"obj", &type, rv, 32), GL_EPARSE);
    assert_int_equal(event(" \r", &type, rv, 32), GL_EAGAIN);
}

/* ---- framing ---- */

struct frames_seen {
    struct gl_buf all;   /* frames joined with '|' */
    int n;
    int stop_at;         /* stop after this many; 0: never */
};

static int on_frame(void *data, const char *p, size_t len)
{
    struct frames_seen *s = data;
    gl_buf_append(&s->all, p, len);
    gl_buf_putc(&s->all, '|');
    return ++s->n == s->stop_at ? 7 : 0;
}

static void test_frames_join_pieces_cut_anywhere(void **state)
{
    static const char stream[] = "{\"a\":1}\n\n{\"b\":22}\nxyz\n{\"tail\"";

    (void)state;
    for (size_t cut1 = 0; cut1 <= sizeof(stream) - 1; cut1++) {
        for (size_t cut2 = cut1; cut2 <= sizeof(stream) - 1; cut2++) {
            struct gl__frames f;
            struct frames_seen s = { 0 };
            gl_buf_init(&s.all);
            gl__frames_init(&f, 64);
            assert_int_equal(gl__frames_feed(&f, stream, cut1, on_frame, &s), 0);
            assert_int_equal(gl__frames_feed(&f, stream + cut1, cut2 - cut1, on_frame, &s), 0);
            assert_int_equal(gl__frames_feed(&f, stream + cut2, sizeof(stream) - 1 - cut2,
                                             on_frame, &s), 0);
            gl_buf_putc(&s.all, '\0');
            assert_string_equal(s.all.data, "{\"a\":1}||{\"b\":22}|xyz|");
            assert_int_equal(f.line.len, 7);
            gl__frames_close(&f);
            gl_buf_close(&s.all);
        }
    }
}

static void test_frames_drop_oversized_and_count(void **state)
{
    struct gl__frames f;
    struct frames_seen s = { 0 };

    (void)state;
    gl_buf_init(&s.all);
    gl__frames_init(&f, 8);
    gl__frames_feed(&f, "12345", 5, on_frame, &s);
    gl__frames_feed(&f, "67890abc", 8, on_frame, &s);
    gl__frames_feed(&f, "def\nok\n0123456789\nlast\n", 23, on_frame, &s);
    gl_buf_putc(&s.all, '\0');
    assert_string_equal(s.all.data, "ok|last|");
    assert_int_equal(f.oversized, 2);
    gl__frames_close(&f);
    gl_buf_close(&s.all);
}

static void test_frames_stop_when_callback_refuses(void **state)
{
    struct gl__frames f;
    struct frames_seen s = { .stop_at = 2 };

    (void)state;
    gl_buf_init(&s.all);
    gl__frames_init(&f, 64);
    assert_int_equal(gl__frames_feed(&f, "a\nb\nc\n", 6, on_frame, &s), 7);
    assert_int_equal(s.n, 2);
    gl__frames_close(&f);
    gl_buf_close(&s.all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_decode_keeps_exact_fields),
        cmocka_unit_test(test_pod_decode_merges_containers_and_strips_runtime),
        cmocka_unit_test(test_pod_decode_reads_addresses_phase_readiness_and_ports),
        cmocka_unit_test(test_pod_decode_without_optional_fields),
        cmocka_unit_test(test_pod_decode_refuses_missing_name),
        cmocka_unit_test(test_event_parse_reads_type_and_object),
        cmocka_unit_test(test_event_parse_refuses_bad_lines),
        cmocka_unit_test(test_frames_join_pieces_cut_anywhere),
        cmocka_unit_test(test_frames_drop_oversized_and_count),
        cmocka_unit_test(test_frames_stop_when_callback_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

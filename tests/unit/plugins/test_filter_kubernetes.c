/*
 * Tests for plugins/filter_kubernetes: enrichment from the pod cache, which
 * fields the options add, the pod named by the tag, annotation hints, and
 * unknown pods (fetched once, held, then flagged). The pod cache is a fake:
 * this file defines the gl_pods_* functions, which win over the library's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/parser.h"
#include "filter_harness.h"
#include "k8s/pods.h"
#include "plugins/filter_kubernetes/filter_kubernetes.h"

extern const struct gl_plugin gl_filter_kubernetes;

/* ---- the fake pod cache ---- */

static int fake_cache;
static struct gl_pod *fake_pods[4];
static size_t n_fake_pods;
static msgpack_sbuffer fake_ns_labels;
static struct gl_pods_stats fake_stats;
static struct gl_pods_settings acquired; /* what the filter asked the cache for */
static struct {
    int calls;
    int canceled;
    char ns[64];
    char pod[64];
    gl_pods_cb cb;
    void *data;
} fetch;

struct gl_pod_cache *gl_pods_acquire(uv_loop_t *loop, const struct gl_pods_settings *s,
                                     const struct gl_http_client *http, char *err,
                                     size_t errlen)
{
    (void)loop, (void)http, (void)err, (void)errlen;
    acquired = *s;
    return (struct gl_pod_cache *)&fake_cache;
}

void gl_pods_release(struct gl_pod_cache *c)
{
    assert_ptr_equal(c, &fake_cache);
}

const struct gl_pod *gl_pods_find(struct gl_pod_cache *c, const char *ns, const char *name)
{
    (void)c;
    for (size_t i = 0; i < n_fake_pods; i++) {
        if (strcmp(fake_pods[i]->namespace_name, ns) == 0 &&
            strcmp(fake_pods[i]->pod_name, name) == 0) {
            return fake_pods[i];
        }
    }
    return NULL;
}

const msgpack_sbuffer *gl_pods_namespace_labels(struct gl_pod_cache *c, const char *ns)
{
    (void)c, (void)ns;
    return fake_ns_labels.size > 0 ? &fake_ns_labels : NULL;
}

void gl_pods_fetch(struct gl_pod_cache *c, const char *ns, const char *name, gl_pods_cb cb,
                   void *data)
{
    (void)c;
    fetch.calls++;
    snprintf(fetch.ns, sizeof(fetch.ns), "%s", ns);
    snprintf(fetch.pod, sizeof(fetch.pod), "%s", name);
    fetch.cb = cb;
    fetch.data = data;
}

void gl_pods_cancel(struct gl_pod_cache *c, gl_pods_cb cb, void *data)
{
    (void)c;
    if (cb == fetch.cb && data == fetch.data) {
        fetch.canceled++;
        fetch.cb = NULL;
    }
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

static void json_to_sbuf(msgpack_sbuffer *sb, const char *json)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    if (json != NULL) {
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        assert_int_equal(gl_json_read(json, strlen(json), &pk, 0, NULL), 0);
    }
}

/* A pod with containers nginx (all fields) and sidecar (name and image). */
static struct gl_pod *add_pod(const char *ns, const char *name, const char *labels,
                              const char *annotations, bool owner)
{
    struct gl_pod *p = gl_calloc(1, sizeof(*p));
    p->namespace_name = gl_strdup(ns);
    p->pod_name = gl_strdup(name);
    p->pod_id = gl_strdup("9f1c-uid");
    p->host = gl_strdup("node-a");
    if (owner) {
        p->owner_kind = gl_strdup("ReplicaSet");
        p->owner_name = gl_strdup("web-6d4");
    }
    json_to_sbuf(&p->labels, labels);
    json_to_sbuf(&p->annotations, annotations);
    p->n_containers = 2;
    p->containers = gl_calloc(2, sizeof(*p->containers));
    p->containers[0].name = gl_strdup("nginx");
    p->containers[0].image = gl_strdup("nginx:1.25");
    p->containers[0].image_id = gl_strdup("docker-pullable://nginx@sha256:ab");
    p->containers[0].container_id = gl_strdup("c0ffee");
    p->containers[1].name = gl_strdup("sidecar");
    p->containers[1].image = gl_strdup("envoy:1");
    fake_pods[n_fake_pods++] = p;
    return p;
}

static void free_pods(void)
{
    for (size_t i = 0; i < n_fake_pods; i++) {
        struct gl_pod *p = fake_pods[i];
        for (size_t c = 0; c < p->n_containers; c++) {
            gl_free(p->containers[c].name);
            gl_free(p->containers[c].image);
            gl_free(p->containers[c].image_id);
            gl_free(p->containers[c].container_id);
        }
        gl_free(p->containers);
        msgpack_sbuffer_destroy(&p->labels);
        msgpack_sbuffer_destroy(&p->annotations);
        gl_free(p->namespace_name);
        gl_free(p->pod_name);
        gl_free(p->pod_id);
        gl_free(p->host);
        gl_free(p->owner_kind);
        gl_free(p->owner_name);
        gl_free(p);
    }
    n_fake_pods = 0;
    msgpack_sbuffer_destroy(&fake_ns_labels);
    memset(&fake_ns_labels, 0, sizeof(fake_ns_labels));
    memset(&fetch, 0, sizeof(fetch));
}

static int teardown(void **state)
{
    (void)state;
    free_pods();
    gl_parsers_reset();
    gl_buf_pool_drain();
    return 0;
}

/* ---- running the filter ---- */

static void kube_open(struct fh *h, uv_loop_t *loop, const char *yaml)
{
    assert_int_equal(uv_loop_init(loop), 0);
    assert_int_equal(gl_http_global_init(loop), 0);
    assert_int_equal(fh_open(h, &gl_filter_kubernetes, yaml), 0);
    h->ins.loop = loop;
    assert_int_equal(gl_filter_kubernetes.start(&h->ins), 0);
}

static void kube_close(struct fh *h, uv_loop_t *loop)
{
    gl_filter_kubernetes.stop(&h->ins);
    gl_http_global_shutdown();
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
    fh_close(h);
}

/* The value of a plugin metric by name. */
static uint64_t metric(const struct fh *h, const char *name)
{
    for (size_t i = 0; i < h->ins.core->n_metrics; i++) {
        if (strcmp(h->ins.core->metrics[i].name, name) == 0) {
            return h->ins.core->metrics[i].value;
        }
    }
    fail_msg("no metric %s", name);
    return 0;
}

/* Runs one record through the filter with the options in yaml; checks result and output. */
static void expect(const char *yaml, const char *body, enum gl_filter_result r, const char *json)
{
    struct fh h;
    uv_loop_t loop;
    kube_open(&h, &loop, yaml);
    assert_int_equal(fh_run(&h, body, 7), r);
    if (json == NULL) {
        assert_null(h.json);
    } else {
        assert_string_equal(h.json, json);
    }
    kube_close(&h, &loop);
}

/* A chunk of one record (body as JSON) with a tag, as an input would close it. */
static struct gl_chunk *chunk_of(const char *tag, const char *body)
{
    struct gl_chunk *c = gl_chunk_new(NULL, tag, strlen(tag));
    struct gl_event ev;
    gl__event_begin_buf(&ev, &c->data, 5);
    size_t at = c->data.len - 5;
    c->data.len = at;  /* drop the empty body map: the JSON reader writes the body */
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->data, fh_buf_write);
    assert_int_equal(gl_json_read(body, strlen(body), &pk, 0, NULL), 0);
    c->records = 1;
    return c;
}

/* Runs the chunk's record through the filter as the router does; returns the output JSON. */
static enum gl_filter_result run_chunk(struct fh *h, const struct gl_chunk *c)
{
    struct gl_chunk_iter it;
    struct gl_record rec;
    struct gl_buf out;
    struct gl_event ev;
    msgpack_unpacked up;
    struct gl_record res;
    size_t off = 0;
    gl_free(h->json);
    h->json = NULL;
    gl_buf_init(&out);
    msgpack_unpacked_init(&up);
    gl_chunk_iter_init(&it, c);
    assert_int_equal(gl_chunk_next(&it, &rec), 0);
    gl__event_begin_buf(&ev, &out, rec.ts);
    enum gl_filter_result r = gl_filter_kubernetes.filter(&h->ins, &rec, &ev);
    gl__event_finish(&ev);
    if (r == GL_FILTER_MODIFIED) {
        assert_int_equal(gl_record_read(&up, out.data, out.len, &off, &res), 0);
        h->json = fh_render(res.body);
    }
    gl_chunk_iter_close(&it);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&out);
    return r;
}

#define WEB_REC                                                                                \
    "{\"log\":\"hello\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","  \
    "\"container_name\":\"nginx\",\"docker_id\":\"d0c\",\"pod_id\":\"9f1c-uid\","             \
    "\"source\":\"tail\"},\"n\":1}"
#define SIDECAR_REC                                                                            \
    "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","      \
    "\"container_name\":\"sidecar\"}}"
#define NGINX_REC                                                                              \
    "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","      \
    "\"container_name\":\"nginx\"}}"
#define NGINX_OUT                                                                              \
    "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","      \
    "\"pod_id\":\"9f1c-uid\",\"host\":\"node-a\",\"container_name\":\"nginx\","               \
    "\"docker_id\":\"c0ffee\",\"container_hash\":\"docker-pullable://nginx@sha256:ab\","      \
    "\"container_image\":\"nginx:1.25\"}}"
#define NO_META "labels: off\nannotations: off\n"

/* ---- enrichment ---- */

static void test_kube_enriches_every_field(void **state)
{
    (void)state;
    add_pod("shop", "web-1", "{\"app\":\"web\",\"tier\":\"front\"}", "{\"team\":\"a\"}", true);
    expect("labels: on\n", WEB_REC, GL_FILTER_MODIFIED,
           "{\"log\":\"hello\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","
           "\"pod_id\":\"9f1c-uid\",\"labels\":{\"app\":\"web\",\"tier\":\"front\"},"
           "\"annotations\":{\"team\":\"a\"},\"owner\":{\"kind\":\"ReplicaSet\","
           "\"name\":\"web-6d4\"},\"host\":\"node-a\",\"container_name\":\"nginx\","
           "\"docker_id\":\"d0c\",\"container_hash\":\"docker-pullable://nginx@sha256:ab\","
           "\"container_image\":\"nginx:1.25\",\"source\":\"tail\"},\"n\":1}");
}

static void test_kube_labels_and_annotations_off(void **state)
{
    (void)state;
    add_pod("shop", "web-1", "{\"app\":\"web\"}", "{\"team\":\"a\"}", false);
    expect(NO_META, NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
}

static void test_kube_empty_labels_are_left_out(void **state)
{
    (void)state;
    add_pod("shop", "web-1", "{}", "{}", false);
    expect("labels: on\n", NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
}

static void test_kube_namespace_labels_added_when_on(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, NULL, false);
    json_to_sbuf(&fake_ns_labels, "{\"env\":\"prod\"}");
    expect("namespace_labels: on\n", SIDECAR_REC, GL_FILTER_MODIFIED,
           "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","
           "\"pod_id\":\"9f1c-uid\",\"namespace_labels\":{\"env\":\"prod\"},"
           "\"host\":\"node-a\",\"container_name\":\"sidecar\",\"container_image\":\"envoy:1\"}}");
    /* off by default */
    add_pod("shop", "web-2", NULL, NULL, false);
    expect("labels: on\n",
           "{\"kubernetes\":{\"pod_name\":\"web-2\",\"namespace_name\":\"shop\"}}",
           GL_FILTER_MODIFIED,
           "{\"kubernetes\":{\"pod_name\":\"web-2\",\"namespace_name\":\"shop\","
           "\"pod_id\":\"9f1c-uid\",\"host\":\"node-a\"}}");
}

static void test_kube_record_without_pod_passes(void **state)
{
    (void)state;
    expect("labels: on\n", "{\"log\":\"x\",\"kubernetes\":{\"host\":\"h\"}}", GL_FILTER_KEEP,
           "{\"log\":\"x\",\"kubernetes\":{\"host\":\"h\"}}");
}

static void test_kube_counts_enriched_records(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", NULL, NULL, false);
    fake_stats.pods = 12;
    fake_stats.requests_watch = 3;
    kube_open(&h, &loop, NO_META);
    assert_int_equal(fh_run(&h, NGINX_REC, 1), GL_FILTER_MODIFIED);
    assert_int_equal(fh_run(&h, NGINX_REC, 2), GL_FILTER_MODIFIED);
    assert_int_equal(metric(&h, "records_enriched_total"), 2);
    assert_int_equal(metric(&h, "kube_cache_pods"), 12);
    assert_int_equal(metric(&h, "kube_api_watch_requests_total"), 3);
    kube_close(&h, &loop);
    memset(&fake_stats, 0, sizeof(fake_stats));
}

static void test_kube_api_pressure_counters_and_rate_options(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    fake_stats.throttled = 4;
    fake_stats.gets_delayed = 5;
    fake_stats.gets_avoided = 6;
    kube_open(&h, &loop, NO_META "kube_meta_get_rate: 2\nkube_meta_get_burst: 3\n");
    assert_int_equal(acquired.get_rate, 2);
    assert_int_equal(acquired.get_burst, 3);
    assert_int_equal(fh_run(&h, NGINX_REC, 1), GL_FILTER_MODIFIED);
    assert_int_equal(metric(&h, "kube_api_throttled_total"), 4);
    assert_int_equal(metric(&h, "kube_api_get_delayed_total"), 5);
    assert_int_equal(metric(&h, "kube_api_get_avoided_total"), 6);
    kube_close(&h, &loop);
    memset(&fake_stats, 0, sizeof(fake_stats));
    kube_open(&h, &loop, NO_META);
    assert_int_equal(acquired.get_rate, GL_PODS_GET_RATE);
    assert_int_equal(acquired.get_burst, GL_PODS_GET_BURST);
    kube_close(&h, &loop);
}

static void test_kube_get_rate_must_be_positive(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_kubernetes, "kube_meta_get_rate: 0\n"), GL_ECONFIG);
    assert_string_equal(fh_error(&h), "test.yaml:1:21: kubernetes.kube_meta_get_rate: "
                                      "must be from 1 to 1000");
    fh_close(&h);
}

static void test_kube_misspelled_option_suggests(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_kubernetes, "kube_urll: https://k\n"), GL_ECONFIG);
    assert_string_equal(fh_error(&h),
                        "test.yaml:1:1: kubernetes: unknown key 'kube_urll' "
                        "(did you mean 'kube_url'?)");
    fh_close(&h);
}

/* ---- the pod named by the tag ---- */

#define TAG_PREFIX "kube.var.log.containers."
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_kube_pod_parsed_from_tag(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", NULL, NULL, false);
    kube_open(&h, &loop, NO_META);
    struct gl_chunk *c = chunk_of(TAG_PREFIX "web-1_shop_nginx-" HEX64 ".log", "{\"log\":\"x\"}");
    assert_int_equal(run_chunk(&h, c), GL_FILTER_MODIFIED);
    assert_string_equal(h.json,
                        "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"web-1\","
                        "\"namespace_name\":\"shop\",\"pod_id\":\"9f1c-uid\","
                        "\"host\":\"node-a\",\"container_name\":\"nginx\","
                        "\"docker_id\":\"" HEX64 "\","
                        "\"container_hash\":\"docker-pullable://nginx@sha256:ab\","
                        "\"container_image\":\"nginx:1.25\"}}");
    gl_chunk_free(c);
    kube_close(&h, &loop);
}

static void test_kube_tag_with_other_prefix_passes(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", NULL, NULL, false);
    kube_open(&h, &loop, NO_META);
    struct gl_chunk *c = chunk_of("app.web-1_shop_nginx-" HEX64 ".log", "{\"log\":\"x\"}");
    assert_int_equal(run_chunk(&h, c), GL_FILTER_KEEP);
    gl_chunk_free(c);
    c = chunk_of(TAG_PREFIX "not-a-container-log", "{\"log\":\"x\"}");
    assert_int_equal(run_chunk(&h, c), GL_FILTER_KEEP);
    gl_chunk_free(c);
    kube_close(&h, &loop);
}

static void test_kube_tag_prefix_option(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", NULL, NULL, false);
    kube_open(&h, &loop, NO_META "kube_tag_prefix: k.\n");
    struct gl_chunk *c = chunk_of("k.web-1_shop_sidecar.log", "{}");
    assert_int_equal(run_chunk(&h, c), GL_FILTER_MODIFIED);
    assert_string_equal(h.json,
                        "{\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\","
                        "\"pod_id\":\"9f1c-uid\",\"host\":\"node-a\","
                        "\"container_name\":\"sidecar\",\"container_image\":\"envoy:1\"}}");
    gl_chunk_free(c);
    kube_close(&h, &loop);
}

/* ---- annotation hints ---- */

static void test_kube_exclude_hint_drops_pod(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", NULL, "{\"gleaner.io/exclude\":\"true\"}", false);
    kube_open(&h, &loop, NO_META);
    assert_int_equal(fh_run(&h, NGINX_REC, 1), GL_FILTER_DROP);
    assert_null(h.json);
    assert_int_equal(metric(&h, "records_excluded_total"), 1);
    assert_int_equal(metric(&h, "records_enriched_total"), 0);
    kube_close(&h, &loop);
}

static void test_kube_exclude_hint_per_container(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"gleaner.io/exclude-sidecar\":\"true\"}", false);
    expect(NO_META, SIDECAR_REC, GL_FILTER_DROP, NULL);
    expect(NO_META, NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
}

static void test_kube_exclude_container_false_overrides_pod(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL,
            "{\"gleaner.io/exclude\":\"true\",\"gleaner.io/exclude-nginx\":\"false\"}", false);
    expect(NO_META, NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
    expect(NO_META, SIDECAR_REC, GL_FILTER_DROP, NULL);
}

static void test_kube_exclude_hints_off(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"gleaner.io/exclude\":\"true\"}", false);
    expect(NO_META "annotation_hints: off\n", NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
}

static void test_kube_fluentbit_exclude_needs_option(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"fluentbit.io/exclude\":\"true\"}", false);
    expect(NO_META, NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
    expect(NO_META "k8s-logging.exclude: on\n", NGINX_REC, GL_FILTER_DROP, NULL);
}

static void test_kube_fluentbit_exclude_per_container(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"fluentbit.io/exclude-sidecar\":\"true\"}", false);
    expect(NO_META "K8S-Logging.Exclude: on\n", SIDECAR_REC, GL_FILTER_DROP, NULL);
    expect(NO_META "K8S-Logging.Exclude: on\n", NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
}

#define LOGFMT_REC                                                                             \
    "{\"log\":\"a=1 b=x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\"," \
    "\"container_name\":\"sidecar\"}}"
#define LOGFMT_PLAIN                                                                           \
    "{\"log\":\"a=1 b=x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\"," \
    "\"pod_id\":\"9f1c-uid\",\"host\":\"node-a\",\"container_name\":\"sidecar\","             \
    "\"container_image\":\"envoy:1\"}}"
#define LOGFMT_PARSED                                                                          \
    "{\"log\":\"a=1 b=x\",\"kubernetes\":{\"pod_name\":\"web-1\",\"namespace_name\":\"shop\"," \
    "\"pod_id\":\"9f1c-uid\",\"host\":\"node-a\",\"container_name\":\"sidecar\","             \
    "\"container_image\":\"envoy:1\"},\"a\":\"1\",\"b\":\"x\"}"

static void test_kube_parser_hint_parses_log(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"gleaner.io/parser\":\"logfmt\"}", false);
    expect(NO_META, LOGFMT_REC, GL_FILTER_MODIFIED, LOGFMT_PARSED);
}

static void test_kube_parser_hint_per_container(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL,
            "{\"gleaner.io/parser\":\"json\",\"gleaner.io/parser-sidecar\":\"logfmt\"}", false);
    expect(NO_META, LOGFMT_REC, GL_FILTER_MODIFIED, LOGFMT_PARSED);
}

static void test_kube_parser_hint_unknown_parser_ignored(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"gleaner.io/parser\":\"nosuch\"}", false);
    expect(NO_META, LOGFMT_REC, GL_FILTER_MODIFIED, LOGFMT_PLAIN);
}

static void test_kube_fluentbit_parser_needs_option(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL, "{\"fluentbit.io/parser-sidecar\":\"logfmt\"}", false);
    expect(NO_META, LOGFMT_REC, GL_FILTER_MODIFIED, LOGFMT_PLAIN);
    expect(NO_META "k8s-logging.parser: on\n", LOGFMT_REC, GL_FILTER_MODIFIED, LOGFMT_PARSED);
}

static void test_kube_gleaner_hint_wins_over_fluentbit(void **state)
{
    (void)state;
    add_pod("shop", "web-1", NULL,
            "{\"fluentbit.io/exclude\":\"true\",\"gleaner.io/exclude\":\"false\"}", false);
    expect(NO_META "k8s-logging.exclude: on\n", NGINX_REC, GL_FILTER_MODIFIED, NGINX_OUT);
}

/* ---- unknown pods ---- */

#define GHOST_REC                                                                              \
    "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"new-1\",\"namespace_name\":\"shop\","      \
    "\"container_name\":\"app\",\"pod_id\":\"u-9\"}}"
#define GHOST_FLAGGED                                                                          \
    "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"new-1\",\"namespace_name\":\"shop\","      \
    "\"container_name\":\"app\",\"pod_id\":\"u-9\",\"meta_missing\":true}}"

static int releases;

static void on_release(void *data, struct gl_instance *ins)
{
    (void)ins;
    (*(int *)data)++;
}

static void test_kube_unknown_pod_flagged_and_fetched_once(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    kube_open(&h, &loop, NO_META);
    assert_int_equal(fh_run(&h, GHOST_REC, 1), GL_FILTER_MODIFIED);
    assert_string_equal(h.json, GHOST_FLAGGED);
    assert_int_equal(fh_run(&h, GHOST_REC, 2), GL_FILTER_MODIFIED);
    assert_int_equal(fetch.calls, 1);
    assert_string_equal(fetch.ns, "shop");
    assert_string_equal(fetch.pod, "new-1");
    assert_int_equal(metric(&h, "records_unknown_pod_total"), 2);
    assert_int_equal(metric(&h, "pod_fetches_total"), 1);
    kube_close(&h, &loop);
    assert_int_equal(fetch.canceled, 1);
}

static void test_kube_hold_until_wait_then_flagged(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    releases = 0;
    kube_open(&h, &loop, NO_META "kube_meta_wait: 30ms\n");
    kube_hold_on_release(&h.ins, on_release, &releases);
    struct gl_chunk *c = chunk_of("t", GHOST_REC);
    assert_int_equal(kube_hold_check(&h.ins, c), 1);
    assert_int_equal(kube_hold_check(&h.ins, c), 1);
    assert_int_equal(fetch.calls, 1);
    assert_false(kube_pod_known(&h.ins, "shop", "new-1"));
    uv_run(&loop, UV_RUN_DEFAULT);   /* only the wait timer keeps the loop alive */
    assert_int_equal(releases, 1);
    assert_int_equal(kube_hold_check(&h.ins, c), 0);
    assert_int_equal(run_chunk(&h, c), GL_FILTER_MODIFIED);
    assert_string_equal(h.json, GHOST_FLAGGED);
    assert_int_equal(fetch.calls, 1);
    gl_chunk_free(c);
    kube_close(&h, &loop);
}

static void test_kube_hold_released_when_fetch_finds_pod(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    releases = 0;
    kube_open(&h, &loop, NO_META "kube_meta_wait: 10s\n");
    kube_hold_on_release(&h.ins, on_release, &releases);
    struct gl_chunk *c = chunk_of("t", NGINX_REC);
    assert_int_equal(kube_hold_check(&h.ins, c), 1);
    const struct gl_pod *pod = add_pod("shop", "web-1", NULL, NULL, false);
    fetch.cb(fetch.data, pod);
    fetch.cb = NULL;
    assert_int_equal(releases, 0);  /* told on the loop, not from inside the answer */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(releases, 1);
    assert_true(kube_pod_known(&h.ins, "shop", "web-1"));
    assert_int_equal(kube_hold_check(&h.ins, c), 0);
    assert_int_equal(run_chunk(&h, c), GL_FILTER_MODIFIED);
    assert_string_equal(h.json, NGINX_OUT);
    gl_chunk_free(c);
    kube_close(&h, &loop);
    assert_int_equal(fetch.canceled, 0);
}

static void test_kube_hold_not_for_known_pod(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", NULL, NULL, false);
    kube_open(&h, &loop, NO_META);
    struct gl_chunk *c = chunk_of("t", NGINX_REC);
    assert_int_equal(kube_hold_check(&h.ins, c), 0);
    gl_chunk_free(c);
    c = chunk_of("t", "{\"log\":\"no pod\"}");
    assert_int_equal(kube_hold_check(&h.ins, c), 0);
    gl_chunk_free(c);
    assert_int_equal(fetch.calls, 0);
    kube_close(&h, &loop);
}

static void test_kube_pod_not_found_not_refetched_at_once(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    kube_open(&h, &loop, NO_META);
    struct gl_chunk *c = chunk_of("t", GHOST_REC);
    assert_int_equal(kube_hold_check(&h.ins, c), 1);
    fetch.cb(fetch.data, NULL);
    fetch.cb = NULL;
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(kube_hold_check(&h.ins, c), 0);
    assert_int_equal(fetch.calls, 1);
    gl_chunk_free(c);
    kube_close(&h, &loop);
}

/* ---- the whole-chunk filter ---- */

/* Appends a record (body as JSON) to a chunk. */
static void chunk_add(struct gl_chunk *c, const char *body)
{
    struct gl_event ev;
    gl__event_begin_buf(&ev, &c->data, 5);
    c->data.len -= 5; /* the JSON reader writes the body */
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->data, fh_buf_write);
    assert_int_equal(gl_json_read(body, strlen(body), &pk, 0, NULL), 0);
    c->records++;
}

/* Every record of a chunk as JSON lines. */
static char *chunk_json(const struct gl_chunk *c)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_chunk_write_json(&b, c);
    return gl_buf_take(&b);
}

/* The chunk filtered one record at a time, references copied (the harness's way). */
static char *filtered_per_record(struct fh *h, const struct gl_chunk *c)
{
    struct gl_chunk *out = gl_chunk_new(NULL, c->tag, c->tag_len);
    struct gl_chunk_iter it;
    struct gl_record rec;
    struct gl_event ev;
    gl_chunk_iter_init(&it, c);
    while (gl_chunk_next(&it, &rec) == 0) {
        size_t at = out->data.len;
        gl__event_begin_buf(&ev, &out->data, rec.ts);
        enum gl_filter_result r = gl_filter_kubernetes.filter(&h->ins, &rec, &ev);
        gl__event_finish(&ev);
        if (r != GL_FILTER_MODIFIED) {
            out->data.len = at;
        }
        if (r == GL_FILTER_KEEP) {
            gl_buf_append(&out->data, rec.raw, rec.raw_len);
        }
    }
    gl_chunk_iter_close(&it);
    char *json = chunk_json(out);
    assert_int_equal(out->shared.n, 0);
    gl_chunk_free(out);
    return json;
}

#define TAIL_KUBE(pod, ctr) \
    "\"kubernetes\":{\"pod_name\":\"" pod "\",\"namespace_name\":\"shop\"," \
    "\"container_name\":\"" ctr "\",\"docker_id\":\"c0ffee\"}"

/*
 * The whole-chunk filter (records of a run handled as bytes, the pod's map
 * shared) writes what the per-record filter writes, record for record: runs
 * of one container, an excluded container, an unknown pod, records named by
 * the tag only, the map first or last, a parsed time left alone.
 */
static void test_kube_chunk_filter_equals_per_record(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    add_pod("shop", "web-1", "{\"app\":\"web\"}",
            "{\"team\":\"a\",\"gleaner.io/exclude-sidecar\":\"true\"}", true);
    kube_open(&h, &loop, "labels: on\n");
    struct gl_chunk *c = chunk_of("kube.var.log.containers.web-1_shop_nginx.log",
                                  "{\"log\":\"a0\",\"stream\":\"stdout\"," TAIL_KUBE("web-1", "nginx") "}");
    for (int i = 1; i < 4; i++) {
        chunk_add(c, "{\"log\":\"a\",\"stream\":\"stdout\"," TAIL_KUBE("web-1", "nginx") "}");
    }
    chunk_add(c, "{\"log\":\"s1\"," TAIL_KUBE("web-1", "sidecar") "}");
    chunk_add(c, "{\"log\":\"s2\"," TAIL_KUBE("web-1", "sidecar") "}");
    chunk_add(c, "{\"log\":\"g\"," TAIL_KUBE("ghost", "app") "}");
    chunk_add(c, "{\"log\":\"tag only 1\",\"stream\":\"stderr\"}");
    chunk_add(c, "{\"log\":\"tag only 2\"}");
    chunk_add(c, "{" TAIL_KUBE("web-1", "nginx") ",\"log\":\"map first\"}");
    chunk_add(c, "{\"log\":\"b\"," TAIL_KUBE("web-1", "nginx") ",\"n\":{\"x\":[1,2]}}");
    chunk_add(c, "{\"log\":\"b\"," TAIL_KUBE("web-1", "nginx") ",\"n\":{\"x\":[1,2]}}");

    char *want = filtered_per_record(&h, c);
    uint64_t enriched = metric(&h, "records_enriched_total");
    uint64_t excluded = metric(&h, "records_excluded_total");
    assert_int_equal(enriched, 9);
    assert_int_equal(excluded, 2);
    assert_non_null(strstr(want, "\"labels\":{\"app\":\"web\"}"));
    assert_non_null(strstr(want, "\"meta_missing\":true"));
    struct gl_chunk *out = gl_chunk_new(NULL, c->tag, c->tag_len);
    assert_int_equal(gl_filter_kubernetes.filter_chunk(&h.ins, c, out), GL_FILTER_MODIFIED);
    char *got = chunk_json(out);
    assert_string_equal(got, want);
    assert_int_equal(out->records, c->records - 2);
    assert_int_equal(metric(&h, "records_enriched_total") - enriched, enriched);
    assert_int_equal(metric(&h, "records_excluded_total") - excluded, excluded);
    /* A chunk of no pod passes as it is. */
    struct gl_chunk *other = chunk_of("app.other", "{\"log\":\"no pod\"}");
    chunk_add(other, "{\"log\":\"none either\"}");
    struct gl_chunk *spare = gl_chunk_new(NULL, other->tag, other->tag_len);
    assert_int_equal(gl_filter_kubernetes.filter_chunk(&h.ins, other, spare), GL_FILTER_KEEP);
    gl_chunk_free(other);
    gl_chunk_free(spare);
    /* The pod's map is shared, not copied: the chunk holds it and shrank. */
    assert_true(out->shared.n >= 1);
    assert_true(out->data.len < c->data.len);
    gl_free(want);
    gl_free(got);
    gl_chunk_free(c);
    gl_chunk_free(out);
    kube_close(&h, &loop);
    assert_int_equal(gl_shared_count(), 0);
}

/* The chunk of one nginx record of web-1, filtered whole on a new loop turn. */
static struct gl_chunk *filter_whole(struct fh *h, char **json)
{
    struct gl_chunk *c = chunk_of("kube.var.log.containers.web-1_shop_nginx.log",
                                  "{\"log\":\"a\"," TAIL_KUBE("web-1", "nginx") "}");
    struct gl_chunk *out = gl_chunk_new(NULL, c->tag, c->tag_len);
    ((struct kube *)h->ins.state)->last.valid = false; /* as a new loop turn does */
    assert_int_equal(gl_filter_kubernetes.filter_chunk(&h->ins, c, out), GL_FILTER_MODIFIED);
    assert_int_equal(out->shared.n, 1);
    *json = chunk_json(out);
    gl_chunk_free(c);
    return out;
}

/* A container's chunks share one map while the pod cache is unchanged; a change makes a new one. */
static void test_kube_shared_map_reused_until_cache_changes(void **state)
{
    (void)state;
    struct fh h;
    uv_loop_t loop;
    char *j1, *j2, *j3;
    struct gl_pod *pod = add_pod("shop", "web-1", "{\"app\":\"web\"}", NULL, false);
    kube_open(&h, &loop, "labels: on\n");
    struct gl_chunk *a = filter_whole(&h, &j1);
    struct gl_chunk *b = filter_whole(&h, &j2);
    assert_ptr_equal(a->shared.v[0], b->shared.v[0]);
    assert_string_equal(j1, j2);
    msgpack_sbuffer_destroy(&pod->labels);
    json_to_sbuf(&pod->labels, "{\"app\":\"web\",\"v\":\"2\"}");
    fake_stats.changes++;
    struct gl_chunk *c = filter_whole(&h, &j3);
    assert_ptr_not_equal(c->shared.v[0], a->shared.v[0]);
    assert_non_null(strstr(j3, "\"labels\":{\"app\":\"web\",\"v\":\"2\"}"));
    assert_null(strstr(j1, "\"v\":\"2\""));
    gl_chunk_free(a);
    gl_chunk_free(b);
    gl_chunk_free(c);
    gl_free(j1);
    gl_free(j2);
    gl_free(j3);
    kube_close(&h, &loop);
    fake_stats.changes = 0;
    assert_int_equal(gl_shared_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kube_enriches_every_field, teardown),
        cmocka_unit_test_teardown(test_kube_chunk_filter_equals_per_record, teardown),
        cmocka_unit_test_teardown(test_kube_shared_map_reused_until_cache_changes, teardown),
        cmocka_unit_test_teardown(test_kube_labels_and_annotations_off, teardown),
        cmocka_unit_test_teardown(test_kube_empty_labels_are_left_out, teardown),
        cmocka_unit_test_teardown(test_kube_namespace_labels_added_when_on, teardown),
        cmocka_unit_test_teardown(test_kube_record_without_pod_passes, teardown),
        cmocka_unit_test_teardown(test_kube_counts_enriched_records, teardown),
        cmocka_unit_test_teardown(test_kube_api_pressure_counters_and_rate_options, teardown),
        cmocka_unit_test_teardown(test_kube_get_rate_must_be_positive, teardown),
        cmocka_unit_test_teardown(test_kube_misspelled_option_suggests, teardown),
        cmocka_unit_test_teardown(test_kube_pod_parsed_from_tag, teardown),
        cmocka_unit_test_teardown(test_kube_tag_with_other_prefix_passes, teardown),
        cmocka_unit_test_teardown(test_kube_tag_prefix_option, teardown),
        cmocka_unit_test_teardown(test_kube_exclude_hint_drops_pod, teardown),
        cmocka_unit_test_teardown(test_kube_exclude_hint_per_container, teardown),
        cmocka_unit_test_teardown(test_kube_exclude_container_false_overrides_pod, teardown),
        cmocka_unit_test_teardown(test_kube_exclude_hints_off, teardown),
        cmocka_unit_test_teardown(test_kube_fluentbit_exclude_needs_option, teardown),
        cmocka_unit_test_teardown(test_kube_fluentbit_exclude_per_container, teardown),
        cmocka_unit_test_teardown(test_kube_parser_hint_parses_log, teardown),
        cmocka_unit_test_teardown(test_kube_parser_hint_per_container, teardown),
        cmocka_unit_test_teardown(test_kube_parser_hint_unknown_parser_ignored, teardown),
        cmocka_unit_test_teardown(test_kube_fluentbit_parser_needs_option, teardown),
        cmocka_unit_test_teardown(test_kube_gleaner_hint_wins_over_fluentbit, teardown),
        cmocka_unit_test_teardown(test_kube_unknown_pod_flagged_and_fetched_once, teardown),
        cmocka_unit_test_teardown(test_kube_hold_until_wait_then_flagged, teardown),
        cmocka_unit_test_teardown(test_kube_hold_released_when_fetch_finds_pod, teardown),
        cmocka_unit_test_teardown(test_kube_hold_not_for_known_pod, teardown),
        cmocka_unit_test_teardown(test_kube_pod_not_found_not_refetched_at_once, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

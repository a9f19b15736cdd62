/*
 * Tests for agent/k8s/pods.c and agent/k8s/pods_watch.c against the Kubernetes API
 * test server (tests/integration/lib_kube_api.py, run with /usr/bin/python3),
 * started fresh for each test on an ephemeral 127.0.0.1 port and killed by
 * the teardown. The test steers it through POST /_control and reads its
 * counters from GET /_stats (blocking libcurl calls between loop runs). Each
 * test runs its own loop until a condition holds, bounded by a guard, and
 * asserts uv_loop_close() == 0 after releasing the cache.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/json.h"
#include "k8s/pods.h"
#include "k8s/pods_private.h"
#include "util/buf.h"
#include "util/mem.h"

#define GUARD_MS 15000

static struct {
    pid_t pid;
    int port;
    char url[64];
    char token_file[64];
    uv_loop_t loop;
    struct gl_http_client http;
    struct gl_pods_settings s;
    struct gl_pod_cache *c;
} T;

/* ---- the server ---- */

static const char *server_path(char *out, size_t n)
{
    static const char rel[] = "tests/integration/lib_kube_api.py";
    if (access(rel, R_OK) == 0) {
        return rel;
    }
    const char *slash = strrchr(__FILE__, '/');
    snprintf(out, n, "%.*s/../../integration/lib_kube_api.py",
             slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
    return out;
}

static int read_port(int fd)
{
    char line[32];
    size_t n = 0;

    while (n < sizeof(line) - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, 10000) <= 0 || read(fd, line + n, 1) != 1) {
            return -1;
        }
        if (line[n] == '\n') {
            line[n] = '\0';
            return atoi(line);
        }
        n++;
    }
    return -1;
}

static void write_token(const char *tok)
{
    FILE *f = fopen(T.token_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", tok);
    fclose(f);
}

static int server_start(void **state)
{
    int fds[2];
    char path[512];
    const char *script = server_path(path, sizeof(path));

    (void)state;
    memset(&T, 0, sizeof(T));
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    if (pipe(fds) != 0) {
        return -1;
    }
    T.pid = fork();
    if (T.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script, "--lifetime", "120", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    T.port = T.pid > 0 ? read_port(fds[0]) : -1;
    close(fds[0]);
    if (T.port <= 0) {
        fprintf(stderr, "test_pods: the server needs /usr/bin/python3 (package python3)\n");
        return -1;
    }
    snprintf(T.url, sizeof(T.url), "http://127.0.0.1:%d", T.port);
    snprintf(T.token_file, sizeof(T.token_file), "/tmp/gl-test-pods-%d.token", (int)getpid());
    write_token("token-1");
    assert_int_equal(uv_loop_init(&T.loop), 0);
    assert_int_equal(gl_http_global_init(&T.loop), 0);
    T.http.tls_verify = true;
    T.http.connect_timeout_ms = 2000;
    T.http.timeout_ms = 10000;
    T.s.kube_url = T.url;
    T.s.kube_token_file = T.token_file;
    T.s.node_name = "node-a";
    T.s.token_reread_ms = 200;
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    gl_pods_release(T.c);
    gl_http_global_shutdown();
    uv_run(&T.loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&T.loop);
    if (T.pid > 0) {
        kill(T.pid, SIGKILL);
        waitpid(T.pid, NULL, 0);
    }
    unlink(T.token_file);
    assert_int_equal(closed, 0);
    return 0;
}

static size_t on_curl_body(char *p, size_t size, size_t n, void *userp)
{
    gl_buf_append(userp, p, size * n);
    return size * n;
}

/* A blocking request to the server's test endpoints; returns the body (caller frees). */
static char *server_call(const char *path, const char *json)
{
    char url[128];
    struct gl_buf b;
    CURL *e = curl_easy_init();

    gl_buf_init(&b);
    snprintf(url, sizeof(url), "%s%s", T.url, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    if (json != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
    }
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    gl_buf_putc(&b, '\0');
    return gl_buf_take(&b);
}

static void control(const char *json)
{
    gl_free(server_call("/_control", json));
}

/* The server's counter stats.counts.<name>. */
static uint64_t count(const char *name)
{
    char *body = server_call("/_stats", NULL);
    struct gl_json_doc doc;
    assert_int_equal(gl_json_doc_parse(&doc, body, strlen(body), NULL), 0);
    const msgpack_object *v = gl__pods_path(&doc.root, "counts", name);
    if (v == NULL) {
        v = gl_json_map_get(&doc.root, name);
    }
    assert_non_null(v);
    uint64_t n = v->via.u64;
    gl_json_doc_free(&doc);
    gl_free(body);
    return n;
}

/* The resourceVersion the last watch asked for. */
static uint64_t last_watch_rv(void)
{
    char *body = server_call("/_stats", NULL);
    struct gl_json_doc doc;
    assert_int_equal(gl_json_doc_parse(&doc, body, strlen(body), NULL), 0);
    const msgpack_object *v = gl_json_map_get(&doc.root, "watch_rvs");
    assert_true(v != NULL && v->via.array.size > 0);
    uint64_t n = v->via.array.ptr[v->via.array.size - 1].via.u64;
    gl_json_doc_free(&doc);
    gl_free(body);
    return n;
}

/* ---- loop ---- */

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until cond() holds or ms pass; returns whether it held. */
static bool run_until(bool (*cond)(void), uint64_t ms)
{
    uv_timer_t guard;
    bool expired = false;

    uv_timer_init(&T.loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, ms, 0);
    while ((cond == NULL || !cond()) && !expired) {
        uv_run(&T.loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&T.loop, UV_RUN_NOWAIT);
    return cond == NULL || cond();
}

static bool is_synced(void)
{
    return gl_pods_synced(T.c);
}

static void start_cache(void)
{
    char err[256] = "";
    T.c = gl_pods_acquire(&T.loop, &T.s, &T.http, err, sizeof(err));
    assert_non_null(T.c);
    assert_true(run_until(is_synced, GUARD_MS));
}

/* Live (not deleted) pods in the cache. */
static size_t live_pods(void)
{
    size_t n = 0;
    for (size_t i = 0; i < T.c->pods.n_slots; i++) {
        for (struct gl__entry *e = T.c->pods.slots[i]; e != NULL; e = e->next) {
            const char *slash = strchr(e->key, '/');
            char ns[256];
            snprintf(ns, sizeof(ns), "%.*s", (int)(slash - e->key), e->key);
            if (gl_pods_find(T.c, ns, slash + 1)->deleted_ms == 0) {
                n++;
            }
        }
    }
    return n;
}

/* The value of a label in a packed map, copied into out; false when absent. */
static bool label(const msgpack_sbuffer *sb, const char *key, char *out, size_t n)
{
    msgpack_unpacked u;
    size_t off = 0;
    bool found = false;

    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *v = gl_json_map_get(&u.data, key);
        if (v != NULL && v->type == MSGPACK_OBJECT_STR) {
            snprintf(out, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
            found = true;
        }
    }
    msgpack_unpacked_destroy(&u);
    return found;
}

/* ---- conditions ---- */

static const char *want_ns, *want_name;
static bool (*want_pred)(const struct gl_pod *p);
static uint64_t want_u64;

static bool pod_matches(void)
{
    const struct gl_pod *p = gl_pods_find(T.c, want_ns, want_name);
    return want_pred(p);
}

static bool is_present(const struct gl_pod *p)
{
    return p != NULL && p->deleted_ms == 0;
}

static bool is_absent(const struct gl_pod *p)
{
    return p == NULL;
}

static bool is_deleted(const struct gl_pod *p)
{
    return p != NULL && p->deleted_ms != 0;
}

static bool has_version_2(const struct gl_pod *p)
{
    char v[32];
    return p != NULL && label(&p->labels, "version", v, sizeof(v)) && strcmp(v, "2") == 0;
}

static bool wait_pod(const char *ns, const char *name, bool (*pred)(const struct gl_pod *))
{
    want_ns = ns;
    want_name = name;
    want_pred = pred;
    return run_until(pod_matches, GUARD_MS);
}

static bool watch_rv_reached(void)
{
    return T.c->pods_watch.rv != NULL && strtoull(T.c->pods_watch.rv, NULL, 10) == want_u64;
}

static bool watch_requests_reached(void)
{
    return T.c->stats.requests_watch >= want_u64;
}

static bool relists_reached(void)
{
    return T.c->stats.relists >= want_u64;
}

/* ---- list and watch ---- */

static void test_pods_initial_list_keeps_only_this_node(void **state)
{
    (void)state;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"cart-1\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"cart-2\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"far-1\",\"node\":\"node-z\"}");
    start_cache();
    const struct gl_pod *p = gl_pods_find(T.c, "shop", "cart-1");
    assert_non_null(p);
    assert_string_equal(p->host, "node-a");
    assert_string_equal(p->owner_kind, "ReplicaSet");
    assert_int_equal(p->n_containers, 3);
    assert_non_null(gl_pods_find(T.c, "shop", "cart-2"));
    assert_null(gl_pods_find(T.c, "shop", "far-1"));
    assert_int_equal(live_pods(), 2);
    assert_int_equal(gl_pods_stats(T.c)->pods, 2);
    assert_int_equal(gl_pods_stats(T.c)->requests_list, 1);
    assert_int_equal(count("list"), 1);
}

static void test_pods_list_follows_continue_tokens(void **state)
{
    (void)state;
    control("{\"op\":\"add_pods\",\"n\":1100}");
    start_cache();
    assert_int_equal(live_pods(), 1100);
    assert_int_equal(count("list"), 3);
    assert_int_equal(gl_pods_stats(T.c)->relists, 0);
}

static void test_pods_watch_applies_add_modify_delete_then_expires(void **state)
{
    (void)state;
    T.s.cache_ttl_ms = 400;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"old-1\"}");
    start_cache();
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"new-1\"}");
    assert_true(wait_pod("shop", "new-1", is_present));
    control("{\"op\":\"modify_pod\",\"ns\":\"shop\",\"name\":\"new-1\","
            "\"labels\":{\"version\":\"2\"}}");
    assert_true(wait_pod("shop", "new-1", has_version_2));
    control("{\"op\":\"delete_pod\",\"ns\":\"shop\",\"name\":\"old-1\"}");
    assert_true(wait_pod("shop", "old-1", is_deleted));
    assert_true(wait_pod("shop", "old-1", is_absent));
    assert_true(is_present(gl_pods_find(T.c, "shop", "new-1")));
    assert_int_equal(count("watch"), 1);
}

static void test_pods_bookmark_updates_version(void **state)
{
    (void)state;
    start_cache();
    char *body = server_call("/_control", "{\"op\":\"bookmark\"}");
    struct gl_json_doc doc;
    assert_int_equal(gl_json_doc_parse(&doc, body, strlen(body), NULL), 0);
    const msgpack_object *rv = gl_json_map_get(&doc.root, "result");
    want_u64 = strtoull(rv->via.str.ptr, NULL, 10);
    gl_json_doc_free(&doc);
    gl_free(body);
    assert_true(run_until(watch_rv_reached, GUARD_MS));
    assert_int_equal(gl_pods_stats(T.c)->requests_list, 1);
}

static void test_pods_rewatch_after_drop_starts_from_last_version(void **state)
{
    (void)state;
    start_cache();
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"a-1\"}");
    assert_true(wait_pod("shop", "a-1", is_present));
    uint64_t rv = strtoull(T.c->pods_watch.rv, NULL, 10);
    control("{\"op\":\"drop_watches\"}");
    want_u64 = 2;
    assert_true(run_until(watch_requests_reached, GUARD_MS));
    run_until(NULL, 300);
    assert_int_equal(count("watch"), 2);
    assert_int_equal(last_watch_rv(), rv);
    assert_int_equal(count("list"), 1);
    assert_int_equal(gl_pods_stats(T.c)->watch_restarts, 1);
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"a-2\"}");
    assert_true(wait_pod("shop", "a-2", is_present));
}

static void test_pods_error_410_event_relists(void **state)
{
    (void)state;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"a-1\"}");
    start_cache();
    control("{\"op\":\"delete_pod\",\"ns\":\"shop\",\"name\":\"a-1\"}");
    assert_true(wait_pod("shop", "a-1", is_deleted));
    control("{\"op\":\"error_410\"}");
    want_u64 = 1;
    assert_true(run_until(relists_reached, GUARD_MS));
    want_u64 = 2;
    assert_true(run_until(watch_requests_reached, GUARD_MS));
    assert_int_equal(count("list"), 2);
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"a-3\"}");
    assert_true(wait_pod("shop", "a-3", is_present));
}

static void test_pods_http_410_on_old_version_relists(void **state)
{
    (void)state;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"a-1\"}");
    start_cache();
    control("{\"op\":\"set\",\"gone_mode\":\"http\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"missed\"}");
    control("{\"op\":\"compact\"}");
    control("{\"op\":\"drop_watches\"}");
    want_u64 = 1;
    assert_true(run_until(relists_reached, GUARD_MS));
    /* the relist brings what the watch missed */
    assert_true(wait_pod("shop", "missed", is_present));
    assert_int_equal(count("gone"), 1);
    assert_int_equal(count("list"), 2);
}

static void test_pods_401_until_token_rotated(void **state)
{
    (void)state;
    start_cache();
    control("{\"op\":\"set_token\",\"token\":\"token-2\"}");
    control("{\"op\":\"drop_watches\"}");
    run_until(NULL, 1500);
    assert_true(count("unauthorized") >= 1);
    assert_true(gl_pods_stats(T.c)->errors >= 1);
    assert_int_equal(gl_pods_stats(T.c)->last_status, 401);
    write_token("token-2");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"after\"}");
    assert_true(wait_pod("shop", "after", is_present));
    assert_string_equal(T.c->token, "token-2");
}

/* ---- single pods ---- */

struct answer {
    int calls;
    char name[64];
    bool null;
};

static int answers;

static void on_pod(void *data, const struct gl_pod *pod)
{
    struct answer *a = data;
    a->calls++;
    a->null = pod == NULL;
    snprintf(a->name, sizeof(a->name), "%s", pod != NULL ? pod->pod_name : "");
    answers++;
}

static bool answers_reached(void)
{
    return answers >= (int)want_u64;
}

static void test_pods_fetch_merges_callers_and_404_is_null(void **state)
{
    struct answer a[3] = { 0 };
    struct answer canceled = { 0 };
    struct answer missing = { 0 };

    (void)state;
    start_cache();
    control("{\"op\":\"set\",\"delay_get\":0.3}");
    control("{\"op\":\"add_pod\",\"ns\":\"far\",\"name\":\"lonely\",\"node\":\"node-z\"}");
    answers = 0;
    for (int i = 0; i < 3; i++) {
        gl_pods_fetch(T.c, "far", "lonely", on_pod, &a[i]);
    }
    gl_pods_fetch(T.c, "far", "lonely", on_pod, &canceled);
    gl_pods_cancel(T.c, on_pod, &canceled);
    gl_pods_fetch(T.c, "far", "nobody", on_pod, &missing);
    want_u64 = 4;
    assert_true(run_until(answers_reached, GUARD_MS));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_string_equal(a[i].name, "lonely");
    }
    assert_int_equal(canceled.calls, 0);
    assert_int_equal(missing.calls, 1);
    assert_true(missing.null);
    assert_int_equal(count("get"), 2);
    assert_non_null(gl_pods_find(T.c, "far", "lonely"));
    assert_int_equal(gl_pods_stats(T.c)->requests_get, 2);
}

/* ---- kubelet ---- */

static bool polled_twice(void)
{
    return T.c->stats.requests_list >= 2 && !T.c->kubelet_busy;
}

static void test_pods_kubelet_polling_replaces_the_set(void **state)
{
    (void)state;
    T.s.use_kubelet = true;
    T.s.kubelet_url = T.url;
    T.s.kubelet_interval_ms = 200;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"k-1\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"k-2\"}");
    start_cache();
    assert_true(is_present(gl_pods_find(T.c, "shop", "k-1")));
    control("{\"op\":\"delete_pod\",\"ns\":\"shop\",\"name\":\"k-1\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"k-3\"}");
    assert_true(wait_pod("shop", "k-1", is_deleted));
    assert_true(wait_pod("shop", "k-3", is_present));
    assert_true(run_until(polled_twice, GUARD_MS));
    assert_true(count("kubelet") >= 2);
    assert_int_equal(count("watch"), 0);
    assert_int_equal(count("list"), 0);
}

/* ---- namespaces ---- */

static bool ns_team_is(const char *want)
{
    char v[32];
    const msgpack_sbuffer *sb = gl_pods_namespace_labels(T.c, "shop");
    return sb != NULL && label(sb, "team", v, sizeof(v)) && strcmp(v, want) == 0;
}

static bool ns_team_is_web(void)
{
    return ns_team_is("web");
}

static bool ns_team_is_payments(void)
{
    return ns_team_is("payments");
}

static void test_pods_namespace_labels_follow_the_watch(void **state)
{
    (void)state;
    T.s.namespace_labels = true;
    control("{\"op\":\"add_namespace\",\"name\":\"shop\",\"labels\":{\"team\":\"web\"}}");
    start_cache();
    assert_true(run_until(ns_team_is_web, GUARD_MS));
    control("{\"op\":\"modify_namespace\",\"name\":\"shop\",\"labels\":{\"team\":\"payments\"}}");
    assert_true(run_until(ns_team_is_payments, GUARD_MS));
    assert_null(gl_pods_namespace_labels(T.c, "nowhere"));
}

/* ---- steady state and load ---- */

static void test_pods_steady_state_is_one_watch_and_no_gets(void **state)
{
    (void)state;
    control("{\"op\":\"add_pods\",\"n\":20}");
    start_cache();
    for (int i = 0; i < 10; i++) {
        control("{\"op\":\"bookmark\"}");
        run_until(NULL, 100);
    }
    run_until(NULL, 500);
    assert_int_equal(count("watch"), 1);
    assert_int_equal(count("open_watches"), 1);
    assert_int_equal(count("max_watches"), 1);
    assert_int_equal(count("get"), 0);
    assert_int_equal(count("list"), 1);
    assert_int_equal(gl_pods_stats(T.c)->errors, 0);
    assert_int_equal(gl_pods_stats(T.c)->malformed, 0);
}

/* Whether every live pod of the server is in the cache with its version label, and no more. */
static bool cache_matches_server(void)
{
    char *body = server_call("/_control", "{\"op\":\"node_pods\"}");
    struct gl_json_doc doc;
    bool same = true;
    assert_int_equal(gl_json_doc_parse(&doc, body, strlen(body), NULL), 0);
    const msgpack_object *m = gl_json_map_get(&doc.root, "result");
    for (uint32_t i = 0; same && i < m->via.map.size; i++) {
        char key[256], want[32], got[32] = "";
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        snprintf(key, sizeof(key), "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
        const msgpack_object *v = gl_json_map_get(&kv->val, "version");
        snprintf(want, sizeof(want), "%.*s", (int)v->via.str.size, v->via.str.ptr);
        char *slash = strchr(key, '/');
        *slash = '\0';
        const struct gl_pod *p = gl_pods_find(T.c, key, slash + 1);
        same = is_present(p) && (label(&p->labels, "version", got, sizeof(got)) ||
                                 want[0] == '\0') && strcmp(got, want) == 0;
    }
    same = same && live_pods() == m->via.map.size;
    gl_json_doc_free(&doc);
    gl_free(body);
    return same;
}

static void test_pods_200_pods_at_50_changes_per_second_keep_up(void **state)
{
    (void)state;
    control("{\"op\":\"add_pods\",\"n\":200}");
    start_cache();
    control("{\"op\":\"churn\",\"rate\":50,\"seconds\":4}");
    run_until(NULL, 4300);
    control("{\"op\":\"churn_wait\"}");
    bool same = false;
    for (int i = 0; i < 20 && !same; i++) {
        run_until(NULL, 250);
        same = cache_matches_server();
    }
    assert_true(same);
    assert_int_equal(count("watch"), 1);
    assert_int_equal(count("list"), 1);
    assert_int_equal(count("get"), 0);
    assert_true(live_pods() >= 200);
}

static void test_pods_acquire_shares_and_refuses_without_server(void **state)
{
    char err[256] = "";
    struct gl_pods_settings none = { .node_name = "node-a" };

    (void)state;
    start_cache();
    struct gl_pod_cache *again = gl_pods_acquire(&T.loop, &T.s, &T.http, err, sizeof(err));
    assert_ptr_equal(again, T.c);
    gl_pods_release(again);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_null(gl_pods_acquire(&T.loop, &none, &T.http, err, sizeof(err)));
    assert_string_equal(err, "no API server: set kube_url or run in a cluster "
                             "(KUBERNETES_SERVICE_HOST)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T_(f) cmocka_unit_test_setup_teardown(f, server_start, server_stop)
        T_(test_pods_initial_list_keeps_only_this_node),
        T_(test_pods_list_follows_continue_tokens),
        T_(test_pods_watch_applies_add_modify_delete_then_expires),
        T_(test_pods_bookmark_updates_version),
        T_(test_pods_rewatch_after_drop_starts_from_last_version),
        T_(test_pods_error_410_event_relists),
        T_(test_pods_http_410_on_old_version_relists),
        T_(test_pods_401_until_token_rotated),
        T_(test_pods_fetch_merges_callers_and_404_is_null),
        T_(test_pods_kubelet_polling_replaces_the_set),
        T_(test_pods_namespace_labels_follow_the_watch),
        T_(test_pods_steady_state_is_one_watch_and_no_gets),
        T_(test_pods_200_pods_at_50_changes_per_second_keep_up),
        T_(test_pods_acquire_shares_and_refuses_without_server),
#undef T_
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

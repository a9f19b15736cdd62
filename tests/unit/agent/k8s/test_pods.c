/*
 * Tests for agent/k8s/pods.c and agent/k8s/pods_watch.c against the Kubernetes API
 * test server (tests/integration/lib_kube_api.py, run with /usr/bin/python3),
 * started fresh for each test on an ephemeral 127.0.0.1 port and killed by
 * the teardown. The test steers it through POST /_control and reads its
 * counters from GET /_stats (blocking libcurl calls between loop runs). Each
 * test runs its own loop until a condition holds, bounded by a guard, and
 * asserts uv_loop_close() == 0 after releasing the cache. The server made
 * slow, throttling or failing shows when requests went: no GET while a list
 * is answered, GETs within the rate limit, back-offs no shorter than a
 * Retry-After.
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

/* want_u64 relists done: started and answered (the list's request is counted by then). */
static bool relists_reached(void)
{
    return T.c->stats.relists >= want_u64 && !gl_pods_listing(T.c);
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

/* ---- single pods under a slow, throttling or failing server ---- */

/* One request as the server logged it: when it came and was answered (s), and how. */
struct req {
    char kind[8];
    double t;
    double done;
    long status;     /* -1: reset */
};

static double num(const msgpack_object *o)
{
    if (o == NULL) {
        return -1;
    }
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
        return o->via.f64;
    }
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)o->via.u64 : -1;
}

/* The server's log of requests of one kind ("list", "watch", "get"), oldest first. */
static size_t server_log(const char *kind, struct req *out, size_t max)
{
    char *body = server_call("/_stats", NULL);
    struct gl_json_doc doc;
    size_t n = 0;
    assert_int_equal(gl_json_doc_parse(&doc, body, strlen(body), NULL), 0);
    const msgpack_object *log = gl_json_map_get(&doc.root, "log");
    for (uint32_t i = 0; log != NULL && i < log->via.array.size && n < max; i++) {
        const msgpack_object *e = &log->via.array.ptr[i];
        const msgpack_object *k = gl_json_map_get(e, "kind");
        if (k->via.str.size != strlen(kind) || memcmp(k->via.str.ptr, kind, k->via.str.size)) {
            continue;
        }
        snprintf(out[n].kind, sizeof(out[n].kind), "%s", kind);
        out[n].t = num(gl_json_map_get(e, "t"));
        out[n].done = num(gl_json_map_get(e, "done"));
        const msgpack_object *st = gl_json_map_get(e, "status");
        out[n].status = st->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (long)st->via.u64 : -1;
        n++;
    }
    gl_json_doc_free(&doc);
    gl_free(body);
    return n;
}

/* When the first list answered 200 (s), or -1. */
static double first_list_done(void)
{
    struct req r[16];
    size_t n = server_log("list", r, 16);
    for (size_t i = 0; i < n; i++) {
        if (r[i].status == 200) {
            return r[i].done;
        }
    }
    return -1;
}

static void test_pods_rate_allows_burst_then_one_per_interval(void **state)
{
    struct gl__rate r;

    (void)state;
    gl__rate_init(&r, 5, 3);
    assert_int_equal(gl__rate_take(&r, 1000), 0);
    assert_int_equal(gl__rate_take(&r, 1000), 0);
    assert_int_equal(gl__rate_take(&r, 1000), 0);
    assert_int_equal(gl__rate_take(&r, 1000), 200);
    assert_int_equal(gl__rate_take(&r, 1150), 50);
    assert_int_equal(gl__rate_take(&r, 1200), 0);
    assert_int_equal(gl__rate_take(&r, 1200), 200);
    /* A quiet spell refills the burst, never more. */
    assert_int_equal(gl__rate_take(&r, 9000), 0);
    assert_int_equal(gl__rate_take(&r, 9000), 0);
    assert_int_equal(gl__rate_take(&r, 9000), 0);
    assert_int_equal(gl__rate_take(&r, 9000), 200);
    gl__rate_init(&r, 1000, 1);
    assert_int_equal(gl__rate_take(&r, 5), 0);
    assert_int_equal(gl__rate_take(&r, 5), 1);
    assert_int_equal(gl__rate_take(&r, 6), 0);
}

static void test_pods_no_get_while_the_list_is_under_way(void **state)
{
    char err[256] = "";
    struct answer listed[2] = { 0 }, absent = { 0 }, elsewhere = { 0 };

    (void)state;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"listed\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"far\",\"name\":\"lonely\",\"node\":\"node-z\"}");
    control("{\"op\":\"set_latency\",\"list\":1.0}");
    T.c = gl_pods_acquire(&T.loop, &T.s, &T.http, err, sizeof(err));
    assert_non_null(T.c);
    assert_true(gl_pods_listing(T.c));
    answers = 0;
    /* Two callers of a listed pod, one of a pod nobody has, one of another node's pod. */
    gl_pods_fetch(T.c, "shop", "listed", on_pod, &listed[0]);
    gl_pods_fetch(T.c, "shop", "listed", on_pod, &listed[1]);
    gl_pods_fetch(T.c, "shop", "absent", on_pod, &absent);
    gl_pods_fetch(T.c, "far", "lonely", on_pod, &elsewhere);
    want_u64 = 4;
    assert_true(run_until(answers_reached, GUARD_MS));
    assert_false(gl_pods_listing(T.c));
    assert_string_equal(listed[0].name, "listed");
    assert_string_equal(listed[1].name, "listed");
    assert_true(absent.null);
    assert_string_equal(elsewhere.name, "lonely");
    /* The list answered for the listed pod; the two others got a GET each, after it. */
    struct req gets[8];
    assert_int_equal(server_log("get", gets, 8), 2);
    double done = first_list_done();
    assert_true(done > 0.9);
    assert_true(gets[0].t >= done && gets[1].t >= done);
    assert_int_equal(gl_pods_stats(T.c)->gets_avoided, 1);
    assert_int_equal(gl_pods_stats(T.c)->requests_get, 2);
    assert_int_equal(count("list"), 1);
}

static void test_pods_404_not_asked_again_before_refetch(void **state)
{
    struct answer a = { 0 }, b = { 0 };

    (void)state;
    start_cache();
    answers = 0;
    gl_pods_fetch(T.c, "shop", "ghost", on_pod, &a);
    want_u64 = 1;
    assert_true(run_until(answers_reached, GUARD_MS));
    gl_pods_fetch(T.c, "shop", "ghost", on_pod, &b);
    want_u64 = 2;
    assert_true(run_until(answers_reached, GUARD_MS));
    assert_true(a.null && b.null);
    assert_int_equal(b.calls, 1);
    assert_int_equal(count("get"), 1);
    assert_int_equal(gl_pods_stats(T.c)->gets_avoided, 1);
}

/* Asks for n pods nobody has, shop/ghost-<i>, answers in a[i]; counts answers from 0. */
static void ask_for_ghosts(struct answer *a, int n)
{
    char name[32];

    answers = 0;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "ghost-%d", i);
        gl_pods_fetch(T.c, "shop", name, on_pod, &a[i]);
    }
}

static void test_pods_gets_within_the_rate_limit(void **state)
{
    struct answer a[6] = { 0 };

    (void)state;
    T.s.get_rate = 5;
    T.s.get_burst = 2;
    start_cache();
    ask_for_ghosts(a, 6);
    want_u64 = 6;
    assert_true(run_until(answers_reached, GUARD_MS));
    struct req gets[8];
    assert_int_equal(server_log("get", gets, 8), 6);
    /*
     * Two at once (the burst: only four were delayed), then one each 200 ms: the sixth at
     * least 800 ms after the first. Only lower bounds: a loaded machine may add time.
     */
    assert_true(gets[5].t - gets[0].t >= 0.78);
    for (int i = 3; i < 6; i++) {
        assert_true(gets[i].t - gets[i - 1].t >= 0.18);
    }
    assert_int_equal(gl_pods_stats(T.c)->gets_delayed, 4);
}

static bool one_get_answered(void)
{
    struct req gets[4];
    return server_log("get", gets, 4) == 1 && gets[0].status != 0 && gets[0].done > 0;
}

static void test_pods_get_429_waits_retry_after_then_asks_again(void **state)
{
    struct answer a = { 0 }, b = { 0 };

    (void)state;
    T.s.retry_base_ms = 100;
    start_cache();
    control("{\"op\":\"add_pod\",\"ns\":\"far\",\"name\":\"lonely\",\"node\":\"node-z\"}");
    control("{\"op\":\"throttle\",\"kinds\":[\"get\"],\"count\":1,\"retry_after\":2}");
    answers = 0;
    gl_pods_fetch(T.c, "far", "lonely", on_pod, &a);
    assert_true(run_until(one_get_answered, GUARD_MS));
    run_until(NULL, 100);
    /* Asked during the Retry-After: waits for it too. */
    gl_pods_fetch(T.c, "shop", "ghost", on_pod, &b);
    want_u64 = 2;
    assert_true(run_until(answers_reached, GUARD_MS));
    assert_string_equal(a.name, "lonely");
    assert_true(b.null);
    struct req gets[8];
    assert_int_equal(server_log("get", gets, 8), 3);
    assert_int_equal(gets[0].status, 429);
    assert_true(gets[1].t - gets[0].done >= 1.95);
    assert_true(gets[2].t - gets[0].done >= 1.95);
    assert_int_equal(gl_pods_stats(T.c)->throttled, 1);
    assert_int_equal(gl_pods_stats(T.c)->errors, 1);
    assert_int_equal(gl_pods_stats(T.c)->gets_delayed, 2); /* the retried one too */
}

static void test_pods_get_503_and_reset_back_off_one_at_a_time(void **state)
{
    struct answer a[3] = { 0 };

    (void)state;
    T.s.retry_base_ms = 300;
    T.s.retry_cap_ms = 300;
    start_cache();
    control("{\"op\":\"fail\",\"kinds\":[\"get\"],\"count\":1}");
    control("{\"op\":\"fail\",\"kinds\":[\"get\"],\"count\":1,\"mode\":\"reset\"}");
    ask_for_ghosts(a, 3);
    want_u64 = 3;
    assert_true(run_until(answers_reached, GUARD_MS));
    struct req gets[8];
    size_t n = server_log("get", gets, 8);
    /* The burst's three GETs: 503, reset, 404; then the two failed ones, one after the other. */
    assert_int_equal(n, 5);
    assert_int_equal(count("failed"), 1);
    assert_int_equal(count("reset"), 1);
    assert_true(gets[3].t - gets[1].done >= 0.29);
    assert_true(gets[4].t >= gets[3].done);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_true(a[i].null);
    }
}

static void test_pods_list_429_waits_for_an_http_date(void **state)
{
    char err[256] = "";
    struct answer a = { 0 };

    (void)state;
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"listed\"}");
    control("{\"op\":\"throttle\",\"kinds\":[\"list\"],\"count\":1,\"retry_after\":3,"
            "\"date\":true}");
    T.c = gl_pods_acquire(&T.loop, &T.s, &T.http, err, sizeof(err));
    answers = 0;
    gl_pods_fetch(T.c, "shop", "listed", on_pod, &a);
    want_u64 = 1;
    assert_true(run_until(answers_reached, GUARD_MS));
    assert_string_equal(a.name, "listed");
    struct req lists[4];
    assert_int_equal(server_log("list", lists, 4), 2);
    assert_int_equal(lists[0].status, 429);
    /* The date has whole seconds: 3 s from a time within the second, so over 2. */
    assert_true(lists[1].t - lists[0].done >= 2.0);
    assert_int_equal(count("get"), 0);
    assert_int_equal(gl_pods_stats(T.c)->throttled, 1);
}

static void test_pods_list_503_and_reset_back_off(void **state)
{
    (void)state;
    T.s.retry_base_ms = 200;
    T.s.retry_cap_ms = 400;
    control("{\"op\":\"fail\",\"kinds\":[\"list\"],\"count\":2}");
    control("{\"op\":\"fail\",\"kinds\":[\"list\"],\"count\":2,\"mode\":\"reset\"}");
    start_cache();
    struct req lists[8];
    assert_int_equal(server_log("list", lists, 8), 5);
    for (int i = 1; i < 5; i++) {
        assert_true(lists[i].t - lists[i - 1].done >= 0.19);
    }
    assert_int_equal(lists[4].status, 200);
    assert_int_equal(gl_pods_stats(T.c)->errors, 4);
}

static void test_pods_watch_cut_after_a_bookmark_backs_off(void **state)
{
    (void)state;
    T.s.retry_base_ms = 200;
    T.s.retry_cap_ms = 1000;
    start_cache();
    control("{\"op\":\"fail\",\"kinds\":[\"watch\"],\"mode\":\"reset\"}");
    want_u64 = T.c->stats.requests_watch + 3;
    control("{\"op\":\"drop_watches\"}");
    assert_true(run_until(watch_requests_reached, GUARD_MS));
    run_until(NULL, 100);
    struct req watches[32];
    size_t n = server_log("watch", watches, 32);
    /* 200, 200-400, 200-800, 200-1000 ms apart, however slow the machine: not hundreds. */
    assert_true(n >= 3 && n < 32);
    for (size_t i = 2; i < n; i++) {
        assert_true(watches[i].t - watches[i - 1].done >= 0.19);
    }
    control("{\"op\":\"clear_faults\"}");
    control("{\"op\":\"add_pod\",\"ns\":\"shop\",\"name\":\"after\"}");
    assert_true(wait_pod("shop", "after", is_present));
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
        cmocka_unit_test(test_pods_rate_allows_burst_then_one_per_interval),
        T_(test_pods_no_get_while_the_list_is_under_way),
        T_(test_pods_404_not_asked_again_before_refetch),
        T_(test_pods_gets_within_the_rate_limit),
        T_(test_pods_get_429_waits_retry_after_then_asks_again),
        T_(test_pods_get_503_and_reset_back_off_one_at_a_time),
        T_(test_pods_list_429_waits_for_an_http_date),
        T_(test_pods_list_503_and_reset_back_off),
        T_(test_pods_watch_cut_after_a_bookmark_backs_off),
        T_(test_pods_kubelet_polling_replaces_the_set),
        T_(test_pods_namespace_labels_follow_the_watch),
        T_(test_pods_steady_state_is_one_watch_and_no_gets),
        T_(test_pods_200_pods_at_50_changes_per_second_keep_up),
        T_(test_pods_acquire_shares_and_refuses_without_server),
#undef T_
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

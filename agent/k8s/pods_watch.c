/*
 * List then watch, for one kind of object (the node's pods, or namespaces):
 * LIST in pages of 500 following continue tokens, then WATCH from the list's
 * resourceVersion with bookmarks, reading the newline-delimited events as
 * they stream in. A watch that ends (the server's timeoutSeconds, a dropped
 * connection) is started again from the last version seen, at once when it
 * lasted, after a back-off when it ended within a second (a server that
 * cuts every watch gets one watch per back-off, not a storm); 410 Gone (an
 * ERROR event or the HTTP status) starts a new list; 401 re-reads the
 * token; other failures back off with the retry policy (full jitter from
 * scheduler.base doubling to scheduler.cap), never sooner than a
 * Retry-After says (429, 503).
 *
 * Invariant: at most one request per kind is in flight (busy) or one timer
 * armed, never both, so a cache holds exactly one watch connection per kind.
 */
#include <string.h>

#include "core/log.h"
#include "k8s/pods_private.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/retry.h"

#define ERRBODY_MAX 4096
#define QUICK_END_MS 1000 /* a watch ending sooner without events backs off */

static void start_list(struct gl__watch *w);
static void start_watch(struct gl__watch *w);

void gl__pods_escape(struct gl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            gl_buf_putc(b, (char)ch);
        } else {
            gl_buf_putc(b, '%');
            gl_buf_putc(b, hex[ch >> 4]);
            gl_buf_putc(b, hex[ch & 15]);
        }
    }
}

void gl__watch_init(struct gl__watch *w, struct gl_pod_cache *c, const struct gl__kind *k,
                    const char *path, const char *selector)
{
    struct gl_buf sel;

    memset(w, 0, sizeof(*w));
    w->cache = c;
    w->kind = k;
    w->path = gl_strdup(path);
    gl_buf_init(&sel);
    gl__pods_escape(&sel, selector);
    w->selector = gl_strdup(sel.data != NULL ? sel.data : "");
    gl_buf_close(&sel);
    gl__frames_init(&w->frames, GL__PODS_FRAME_MAX);
    gl_buf_init(&w->errbody);
    uv_timer_init(c->loop, &w->timer);
    w->timer.data = w;
    c->handles_open++;
}

void gl__watch_start(struct gl__watch *w)
{
    start_list(w);
}

void gl__watch_close(struct gl__watch *w, uv_close_cb cb)
{
    w->timer.data = w->cache;
    uv_close((uv_handle_t *)&w->timer, cb);
}

void gl__watch_free(struct gl__watch *w)
{
    gl_free(w->path);
    gl_free(w->selector);
    gl_free(w->rv);
    gl_free(w->cont);
    gl__frames_close(&w->frames);
    gl_buf_close(&w->errbody);
}

static void set_str(char **dst, const msgpack_object *o)
{
    gl_free(*dst);
    *dst = o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0
               ? gl_strndup(o->via.str.ptr, o->via.str.size)
               : NULL;
}

/* ---- timing ---- */

static void on_timer(uv_timer_t *t)
{
    struct gl__watch *w = t->data;
    if (w->relist || w->rv == NULL) {
        start_list(w);
    } else {
        start_watch(w);
    }
}

/*
 * Waits the back-off of the next attempt, at least after_ms (a Retry-After),
 * then lists (relist) or watches again. Returns the wait.
 */
static uint64_t back_off(struct gl__watch *w, bool relist, uint64_t after_ms)
{
    struct gl_pod_cache *c = w->cache;
    uint64_t ms = gl_retry_delay_after(c->s.retry_base_ms, c->s.retry_cap_ms, w->attempt++,
                                       gl_retry_random(&c->rnd), after_ms);
    w->relist = relist;
    /*
     * The loop's clock is that of the start of this iteration: after a busy one it is
     * behind, and a Retry-After counted from it would end early.
     */
    uv_update_time(w->cache->loop);
    uv_timer_start(&w->timer, on_timer, ms, 0);
    return ms;
}

/*
 * Handles a refused answer: 401 re-reads the token, everything is counted
 * and logged, then the next attempt waits its back-off. A Retry-After holds
 * single-pod GETs back as long.
 */
static void failed(struct gl__watch *w, const char *what, const struct gl_http_response *resp,
                   bool relist)
{
    struct gl_pod_cache *c = w->cache;
    uint64_t after = gl__pods_retry_after(resp);

    c->stats.errors++;
    if (resp->status == 429) {
        c->stats.throttled++;
    }
    if (resp->status == 401) {
        gl__pods_token_refresh(c, true);
    }
    uint64_t ms = back_off(w, relist, after);
    if (after > 0) {
        gl__pods_gets_wait(c, after);
    }
    gl_log_warn(NULL, "kubernetes: %s %s: %s%s%ld, again in %llu ms", what, w->kind->name,
                resp->err != NULL ? resp->err : "status ", resp->err != NULL ? ", status " : "",
                resp->status, (unsigned long long)ms);
}

/* ---- list ---- */

/* Applies a list page; returns the continue token's presence, or GL_EPARSE. */
static int take_page(struct gl__watch *w, const struct gl_http_response *resp)
{
    struct gl_pod_cache *c = w->cache;
    struct gl_json_doc doc;
    int rc = GL_EPARSE;

    if (gl_json_doc_parse(&doc, resp->body, resp->body_len, NULL) == 0) {
        const msgpack_object *items = gl_json_map_get(&doc.root, "items");
        uint32_t n = items != NULL && items->type == MSGPACK_OBJECT_ARRAY ? items->via.array.size
                                                                           : 0;
        for (uint32_t i = 0; i < n; i++) {
            w->kind->apply(c, GL__EV_ADDED, &items->via.array.ptr[i], w->gen);
        }
        set_str(&w->cont, gl__pods_path(&doc.root, "metadata", "continue"));
        set_str(&w->rv, gl__pods_path(&doc.root, "metadata", "resourceVersion"));
        rc = w->cont != NULL ? 1 : 0;
    }
    gl_json_doc_free(&doc);
    return rc;
}

static void on_list(void *data, const struct gl_http_response *resp)
{
    struct gl__watch *w = data;
    struct gl_pod_cache *c = w->cache;

    w->busy = false;
    if (c->closing) {
        return;
    }
    c->stats.last_status = (uint64_t)resp->status;
    if (resp->err != NULL || resp->status != 200) {
        bool expired = resp->status == 410 && w->cont != NULL;
        gl_free(w->cont);
        w->cont = NULL;
        if (expired) {
            start_list(w); /* the continue token expired: list afresh */
            return;
        }
        failed(w, "list", resp, true);
        return;
    }
    int rc = take_page(w, resp);
    if (rc < 0 || w->rv == NULL) {
        c->stats.malformed++;
        gl_free(w->cont);
        w->cont = NULL;
        failed(w, "list (unreadable)", resp, true);
    } else if (rc == 1) {
        start_list(w);
    } else {
        w->listing = false;
        w->attempt = 0;
        w->kind->sweep(c, w->gen);
        start_watch(w);
    }
}

/* Sends the first page's request (a new list) or the next page's. */
static void start_list(struct gl__watch *w)
{
    struct gl_pod_cache *c = w->cache;
    struct gl_buf url;

    if (c->closing) {
        return;
    }
    if (w->cont == NULL) {
        w->gen = ++c->gen;
        w->listing = true;
        if (w->rv != NULL) {
            c->stats.relists++;
        }
    }
    gl_buf_init(&url);
    gl_buf_printf(&url, "%s%s?", c->s.kube_url, w->path);
    if (w->selector[0] != '\0') {
        gl_buf_printf(&url, "fieldSelector=%s&", w->selector);
    }
    gl_buf_printf(&url, "limit=%d", GL__PODS_PAGE);
    if (w->cont != NULL) {
        gl_buf_puts(&url, "&continue=");
        gl__pods_escape(&url, w->cont);
    }
    w->busy = true;
    c->stats.requests_list++;
    gl_http_send(gl__pods_request(c, url.data), on_list, w);
    gl_buf_close(&url);
}

/* ---- watch ---- */

/* One event line: applied, or the watch is stopped (ERROR) with gone/failed set. */
static int on_frame(void *data, const char *p, size_t len)
{
    struct gl__watch *w = data;
    struct gl_pod_cache *c = w->cache;
    struct gl_json_doc doc;
    enum gl__event type;
    const msgpack_object *obj = NULL;
    int stop = 0;

    int rc = gl__pods_event_parse(&doc, p, len, &type, &obj);
    if (rc == GL_EPARSE) {
        c->stats.malformed++;
    } else if (rc == 0 && type == GL__EV_ERROR) {
        const msgpack_object *code = gl_json_map_get(obj, "code");
        bool gone = code != NULL && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                    code->via.u64 == 410;
        w->gone = gone;
        w->failed = !gone;
        stop = 1;
    } else if (rc == 0) {
        w->events++;
        if (type != GL__EV_BOOKMARK) {
            w->kind->apply(c, type, obj, 0);
        }
        const msgpack_object *rv = gl__pods_path(obj, "metadata", "resourceVersion");
        if (rv != NULL && rv->type == MSGPACK_OBJECT_STR && rv->via.str.size > 0) {
            set_str(&w->rv, rv);
        }
    }
    gl_json_doc_free(&doc);
    return stop;
}

/* The stream's bytes: events when accepted, else the refusal's Status (kept short). */
static int on_watch_data(void *data, long status, const char *p, size_t len)
{
    struct gl__watch *w = data;

    if (status != 200) {
        size_t room = ERRBODY_MAX - w->errbody.len;
        gl_buf_append(&w->errbody, p, len < room ? len : room);
        return 0;
    }
    w->got_200 = true;
    return gl__frames_feed(&w->frames, p, len, on_frame, w);
}

/*
 * The watch ended. 410 in any form lists again; a watch that was accepted
 * and ended (timeout, closed connection) watches again from the last
 * version, at once when it lasted QUICK_END_MS, else after a back-off that
 * grows while watches keep ending that soon (events in them or not: a
 * server that cuts each watch after a bookmark must not get a watch a
 * millisecond); the rest backs off.
 */
static void on_watch(void *data, const struct gl_http_response *resp)
{
    struct gl__watch *w = data;
    struct gl_pod_cache *c = w->cache;
    uint64_t lasted = uv_now(c->loop) - w->started_ms;

    w->busy = false;
    if (c->closing) {
        return;
    }
    c->stats.last_status = (uint64_t)(w->got_200 ? 200 : resp->status);
    c->stats.malformed += w->frames.oversized;
    w->frames.oversized = 0;
    if (w->gone || resp->status == 410) {
        gl_log_info(NULL, "kubernetes: watch of %s from version %s is gone (410): listing again",
                    w->kind->name, w->rv != NULL ? w->rv : "-");
        start_list(w);
        return;
    }
    bool ended = w->got_200 && !w->failed &&
                 (resp->err == NULL || resp->err == gl_http_err_closed ||
                  resp->err == gl_http_err_timeout);
    if (!ended) {
        failed(w, "watch", resp, false);
        return;
    }
    c->stats.watch_restarts++;
    if (lasted < QUICK_END_MS) {
        back_off(w, false, 0);
        return;
    }
    w->attempt = 0;
    start_watch(w);
}

static void start_watch(struct gl__watch *w)
{
    struct gl_pod_cache *c = w->cache;
    struct gl_buf url;

    if (c->closing) {
        return;
    }
    gl_buf_init(&url);
    gl_buf_printf(&url, "%s%s?", c->s.kube_url, w->path);
    if (w->selector[0] != '\0') {
        gl_buf_printf(&url, "fieldSelector=%s&", w->selector);
    }
    gl_buf_puts(&url, "watch=1&resourceVersion=");
    gl__pods_escape(&url, w->rv);
    gl_buf_printf(&url, "&allowWatchBookmarks=true&timeoutSeconds=%d", GL__PODS_WATCH_SECONDS);
    gl__frames_reset(&w->frames);
    gl_buf_reset(&w->errbody);
    w->got_200 = w->gone = w->failed = false;
    w->events = 0;
    w->started_ms = uv_now(c->loop);
    w->busy = true;
    c->stats.requests_watch++;
    struct gl_http_request *r = gl__pods_request(c, url.data);
    gl_http_on_data(r, on_watch_data, w);
    /* The server ends the watch at timeoutSeconds; past a minute more it is dead. */
    gl_http_timeout(r, (GL__PODS_WATCH_SECONDS + 60) * 1000ull);
    gl_http_send(r, on_watch, w);
    gl_buf_close(&url);
}

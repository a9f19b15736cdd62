/*
 * What pods.c (the cache, its tables, token, fetches, kubelet polling),
 * pods_watch.c (list then watch against the API server) and pods_decode.c
 * (pod objects, watch events, the watch stream's framing) share. Not for
 * plugins: they use pods.h.
 */
#ifndef GL_PODS_PRIVATE_H
#define GL_PODS_PRIVATE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec/json.h"
#include "k8s/pods.h"
#include "net/http_client.h"
#include "util/buf.h"

#define GL__PODS_FRAME_MAX (8u * 1024 * 1024) /* longest watch event line kept */
#define GL__PODS_PAGE 500                     /* items per list page */
#define GL__PODS_WATCH_SECONDS 300            /* the server ends a watch after this */
#define GL__PODS_RETRY_BASE_MS 1000
#define GL__PODS_RETRY_CAP_MS 30000

/* ---- framing and decoding (pods_decode.c) ---- */

/* Splits a byte stream into '\n'-terminated frames; a frame over max is dropped and counted. */
struct gl__frames {
    struct gl_buf line;  /* the frame being collected across pieces */
    size_t max;
    bool skipping;       /* inside a frame over max: dropped up to its newline */
    uint64_t oversized;
};

/* Gets one frame without its newline; non-zero stops the feed and is returned by it. */
typedef int (*gl__frame_cb)(void *data, const char *p, size_t len);

void gl__frames_init(struct gl__frames *f, size_t max);
void gl__frames_close(struct gl__frames *f);
/* Forgets a partial frame (a new stream starts). */
void gl__frames_reset(struct gl__frames *f);
int gl__frames_feed(struct gl__frames *f, const char *p, size_t len, gl__frame_cb cb,
                    void *data);

enum gl__event { GL__EV_ADDED, GL__EV_MODIFIED, GL__EV_DELETED, GL__EV_BOOKMARK, GL__EV_ERROR };

/*
 * Parses one watch event line into doc (freed by the caller with
 * gl_json_doc_free, also on failure) and finds its type and object (a map).
 * Returns 0, GL_EAGAIN for a blank line, or GL_EPARSE.
 */
int gl__pods_event_parse(struct gl_json_doc *doc, const char *p, size_t len,
                         enum gl__event *type, const msgpack_object **object);

/*
 * Fills pod from a Pod object (msgpack map). Returns 0, or GL_EPARSE when
 * metadata.namespace or metadata.name is missing (pod is then empty). The
 * pod owns its strings and buffers: gl__pod_close() frees them.
 */
int gl__pod_decode(const msgpack_object *obj, struct gl_pod *pod);
void gl__pod_close(struct gl_pod *pod);

/* Packs a msgpack map (or an empty map when o is not one) into sb, sized exactly. */
void gl__pods_pack_map(msgpack_sbuffer *sb, const msgpack_object *o);

/* The value at obj.a.b (b may be NULL: obj.a), or NULL. */
const msgpack_object *gl__pods_path(const msgpack_object *obj, const char *a, const char *b);

/* ---- the cache (pods.c) ---- */

/* A hash table entry header; pod and namespace entries start with it. */
struct gl__entry {
    struct gl__entry *next;
    uint32_t hash;
    uint64_t gen;        /* the list that last saw it */
    char *key;           /* "ns/name" for pods, the name for namespaces */
};

struct gl__table {
    struct gl__entry **slots;
    size_t n_slots;
    size_t count;
};

struct gl__watch;

/* A resource kept by list then watch: pods of the node, or namespaces. */
struct gl__kind {
    const char *name;    /* "pods", "namespaces", for log lines */
    /* Applies one object; gen is the list in progress (0 for a watch event). */
    void (*apply)(struct gl_pod_cache *c, enum gl__event type, const msgpack_object *obj,
                  uint64_t gen);
    /* After a complete list: what the list did not have is gone. */
    void (*sweep)(struct gl_pod_cache *c, uint64_t gen);
};

struct gl__watch {
    struct gl_pod_cache *cache;
    const struct gl__kind *kind;
    char *path;          /* "/api/v1/pods", "/api/v1/namespaces" */
    char *selector;      /* the query's fieldSelector part, escaped, or "" */
    uv_timer_t timer;    /* back-off before the next list or watch */
    char *rv;            /* the resourceVersion to watch from; NULL before a list */
    char *cont;          /* continue token of the list in progress */
    uint64_t gen;        /* the list in progress */
    unsigned attempt;    /* failures in a row, for the back-off */
    bool relist;         /* the timer starts a list, not a watch */
    bool busy;           /* a request in flight */
    bool got_200;        /* the watch in flight was accepted */
    bool gone;           /* an ERROR 410 event arrived */
    bool failed;         /* another ERROR event arrived */
    uint64_t events;     /* events on the watch in flight */
    uint64_t started_ms;
    struct gl__frames frames;
    struct gl_buf errbody; /* a refused watch's Status, bounded */
};

struct gl__waiter {
    gl_pods_cb cb;       /* NULL once canceled */
    void *data;
};

/* A GET in flight for one pod, with everyone waiting for it. */
struct gl__fetch {
    struct gl__fetch *next;
    struct gl_pod_cache *cache;
    char *ns;
    char *name;
    struct gl__waiter *waiters;
    size_t n_waiters;
    size_t cap_waiters;
    bool answering;      /* callbacks running: new callers start another fetch */
};

struct gl_pod_cache {
    struct gl_pod_cache *next;        /* the agent's caches */
    unsigned refs;
    uv_loop_t *loop;
    struct gl_pods_settings s;        /* resolved copies, defaults applied */
    bool tls_verify;
    struct gl_http_client http;       /* its own, so that release cancels what it sent */
    char *token;                      /* NULL when no token file is readable */
    char *token_file_error;           /* last failure reported, to log once */
    uint64_t token_read_ms;
    struct gl__table pods;
    struct gl__table nss;
    uint64_t gen;                     /* list counter across kinds */
    struct gl__watch pods_watch;
    struct gl__watch ns_watch;
    uv_timer_t kubelet_timer;
    uv_timer_t expire_timer;
    bool kubelet_busy;
    struct gl__fetch *fetches;
    struct gl__fetch *kubelet_waiting; /* kubelet mode: fetches answered by the next poll */
    struct gl_pods_stats stats;
    bool synced;
    bool closing;
    int handles_open;
    uint64_t rnd;
};

/* A GET request to the API server or kubelet, with the current token. */
struct gl_http_request *gl__pods_request(struct gl_pod_cache *c, const char *url);
/* Re-reads the token file when due (or now when forced, after a 401). */
void gl__pods_token_refresh(struct gl_pod_cache *c, bool force);

/* ---- list and watch (pods_watch.c) ---- */

void gl__watch_init(struct gl__watch *w, struct gl_pod_cache *c, const struct gl__kind *k,
                    const char *path, const char *selector);
/* Starts with a list. */
void gl__watch_start(struct gl__watch *w);
/* Closes the timer (counted in c->handles_open) and frees the rest once closed. */
void gl__watch_close(struct gl__watch *w, uv_close_cb cb);
void gl__watch_free(struct gl__watch *w);

/* Appends s percent-encoded for a query value. */
void gl__pods_escape(struct gl_buf *b, const char *s);

#endif

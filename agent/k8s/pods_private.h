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
#define GL__PODS_RETRY_BASE_MS 1000           /* scheduler.base's default */
#define GL__PODS_RETRY_CAP_MS 60000           /* scheduler.cap's default */

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
    bool listing;        /* from a new list's first page to its last, failures included */
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

/* A pod asked for, with everyone waiting for it: waiting for its GET, or with it in flight. */
struct gl__fetch {
    struct gl__fetch *next;
    struct gl_pod_cache *cache;
    char *ns;
    char *name;
    struct gl__waiter *waiters;
    size_t n_waiters;
    size_t cap_waiters;
    bool in_flight;      /* its GET was sent and has not answered */
    bool delayed;        /* counted in gets_delayed */
    bool answering;      /* callbacks running: new callers start another fetch */
};

/*
 * A rate limit (GCRA, the token bucket told as one time): requests may come
 * every interval on average, and burst of them at once after a quiet spell.
 */
struct gl__rate {
    uint64_t interval_us;
    uint64_t tolerance_us;   /* (burst - 1) intervals */
    uint64_t tat_us;         /* when the next request is due were there no burst */
};

void gl__rate_init(struct gl__rate *r, uint64_t per_second, uint64_t burst);
/* Takes one request at now_ms: returns 0 when it may go (and counts it), else the ms to wait. */
uint64_t gl__rate_take(struct gl__rate *r, uint64_t now_ms);

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
    struct gl__fetch *fetches;        /* in the order asked */
    struct gl__fetch *kubelet_waiting; /* kubelet mode: fetches answered by the next poll */
    struct gl__table missing;         /* pods answered 404, until GL_PODS_REFETCH_MS passed */
    struct gl__rate get_rate;
    uv_timer_t fetch_timer;           /* the next look at the fetches */
    unsigned get_attempt;             /* GETs failed in a row, for the back-off */
    unsigned gets_in_flight;
    uint64_t get_not_before_ms;       /* no GET before (a back-off, a Retry-After) */
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
/* No GET goes for ms from now (a back-off, a Retry-After); a longer wait set before stays. */
void gl__pods_gets_wait(struct gl_pod_cache *c, uint64_t ms);
/* The wait a refused answer asks for (Retry-After), in ms, 0 when none. */
uint64_t gl__pods_retry_after(const struct gl_http_response *resp);

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

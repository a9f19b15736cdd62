/*
 * The pod cache: the pods of this node, kept current with one list-then-watch
 * of the API server (fieldSelector=spec.nodeName=$NODE_NAME), or by polling
 * the kubelet's /pods where the API server must not be touched. One cache per
 * agent, shared by every kubernetes filter (and, later, the prometheus_scrape
 * input's pod discovery): instances with the same connection settings get the
 * same cache, reference-counted.
 *
 * Watch with resourceVersion and bookmarks; after a disconnect it re-watches
 * from the last version; on 410 Gone it re-lists; errors back off (retry.c).
 * The service-account token is re-read from its file at least every minute
 * (bound tokens rotate). A deleted pod stays for cache_ttl so that its last
 * lines are still enriched (10 minutes unless cache_ttl says otherwise). Pod
 * objects are decoded with the project's JSON reader; labels and annotations
 * are kept as msgpack maps, ready to copy into records. About 1.6 KiB per pod
 * (200 pods: about 320 KiB; see pods.c).
 *
 * Everything runs on the loop given to gl_pods_acquire(); the cache has its
 * own HTTP client (the caller's settings, the CA bundle kube_ca_file) so that
 * the last release cancels what it sent.
 */
#ifndef GL_PODS_H
#define GL_PODS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "net/http_client.h"

struct gl_instance;

struct gl_pods_settings {
    char *kube_url;          /* default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
    char *kube_token_file;   /* default /var/run/secrets/kubernetes.io/serviceaccount/token */
    char *kube_ca_file;      /* default /var/run/secrets/kubernetes.io/serviceaccount/ca.crt */
    char *node_name;         /* default $NODE_NAME */
    bool use_kubelet;        /* poll the kubelet's /pods instead of watching the API server */
    char *kubelet_url;       /* default https://$NODE_IP:10250 (or 127.0.0.1) */
    uint64_t kubelet_interval_ms; /* 0: 10 seconds */
    uint64_t cache_ttl_ms;   /* how long a deleted pod stays; 0: 10 minutes */
    bool namespace_labels;   /* a second watch on namespaces */
    uint64_t token_reread_ms; /* how often the token file is re-read; 0: every minute */
};

struct gl_pod_container {
    char *name;
    char *image;
    char *image_id;          /* container_hash */
    char *container_id;      /* docker_id: the id without the runtime:// prefix */
};

struct gl_pod {
    char *namespace_name;
    char *pod_name;
    char *pod_id;            /* metadata.uid */
    char *host;              /* spec.nodeName */
    char *owner_kind;        /* the controller owner reference, or NULL */
    char *owner_name;
    msgpack_sbuffer labels;       /* a msgpack map */
    msgpack_sbuffer annotations;  /* a msgpack map */
    struct gl_pod_container *containers;  /* spec containers and init containers */
    size_t n_containers;
    uint64_t deleted_ms;     /* 0 while the pod exists, else the loop time (uv_now) it went */
};

struct gl_pod_cache;

/* Counters for /metrics (the filter registers them on its instance). */
struct gl_pods_stats {
    uint64_t pods;               /* gauge: entries in the cache */
    uint64_t watch_restarts;
    uint64_t relists;
    uint64_t requests_list;
    uint64_t requests_watch;
    uint64_t requests_get;
    uint64_t errors;             /* failed requests (a status other than 200, or transport) */
    uint64_t changes;            /* entries stored, marked deleted or removed: what a user
                                    built from the cache is stale once this moved */
    uint64_t last_status;        /* status of the last API answer */
    uint64_t malformed;          /* watch frames or objects skipped as unreadable */
};

/*
 * Returns the agent's cache for these settings, starting it on first use
 * (list then watch). Returns NULL with a message in err when the settings
 * cannot work (no node name, no API server address).
 */
struct gl_pod_cache *gl_pods_acquire(uv_loop_t *loop, const struct gl_pods_settings *s,
                                     const struct gl_http_client *http, char *err,
                                     size_t errlen);
/* The last release frees the cache after the loop has run once more. */
void gl_pods_release(struct gl_pod_cache *c);

/*
 * A pod by namespace and name; borrowed until the next loop turn. NULL when
 * unknown. A deleted pod is still found (deleted_ms set) until cache_ttl.
 */
const struct gl_pod *gl_pods_find(struct gl_pod_cache *c, const char *ns, const char *name);

/* The labels (msgpack map) of a namespace when namespace_labels is on, or NULL. */
const msgpack_sbuffer *gl_pods_namespace_labels(struct gl_pod_cache *c, const char *ns);

/*
 * Asks the API server for one pod (GET), for a line whose pod the watch has
 * not delivered yet; callers look in the cache first (gl_pods_find). Requests
 * for the same pod are merged; cb runs once, later, on the loop, with the pod
 * (now also in the cache) or NULL (404, error). With use_kubelet the API
 * server is not asked: cb runs after the next kubelet poll. Callbacks of a
 * cache whose last reference is released are not called.
 */
typedef void (*gl_pods_cb)(void *data, const struct gl_pod *pod);
void gl_pods_fetch(struct gl_pod_cache *c, const char *ns, const char *name, gl_pods_cb cb,
                   void *data);
/* Forgets a callback registered with gl_pods_fetch (the caller is going away). */
void gl_pods_cancel(struct gl_pod_cache *c, gl_pods_cb cb, void *data);

const struct gl_pods_stats *gl_pods_stats(const struct gl_pod_cache *c);

/* True once the first list has completed. */
bool gl_pods_synced(const struct gl_pod_cache *c);

#endif

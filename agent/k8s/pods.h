/*
 * The pod cache: the pods of this node, kept current with one list-then-watch
 * of the API server (fieldSelector=spec.nodeName=$NODE_NAME), or by polling
 * the kubelet's /pods where the API server must not be touched. One cache per
 * agent, shared by every kubernetes filter and the prometheus_scrape input's
 * pod discovery (pods_targets.h): instances with the same connection settings
 * get the same cache, reference-counted, and one acquiring with share takes
 * any cache of the same node and source.
 *
 * Watch with resourceVersion and bookmarks; after a disconnect it re-watches
 * from the last version; on 410 Gone it re-lists; errors back off (retry.c,
 * between the service's scheduler.base and scheduler.cap, never sooner than
 * a 429's or 503's Retry-After). A pod the list and watch have not shown is
 * asked for with one GET, never while a list of the node's pods is under
 * way (the list answers for it), one at a time per pod, at most get_rate a
 * second (get_burst at once) per cache, and not again for
 * GL_PODS_REFETCH_MS after a 404.
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
    uint64_t get_rate;       /* single-pod GETs a second at most; 0: GL_PODS_GET_RATE */
    uint64_t get_burst;      /* GETs that may go at once; 0: GL_PODS_GET_BURST */
    uint64_t retry_base_ms;  /* shortest back-off after a failed request; 0: 1 s */
    uint64_t retry_cap_ms;   /* longest back-off; 0: 60 s */
    bool share;              /* any cache of the same node and source will do, whatever its
                                other settings (pod discovery: it only reads the pods) */
};

/* client-go's defaults for a client's queries per second and burst. */
#define GL_PODS_GET_RATE 5
#define GL_PODS_GET_BURST 10
/* A pod the API server did not have is not asked for again sooner. */
#define GL_PODS_REFETCH_MS 30000

/* A port a container declares (spec.containers[].ports[]). */
struct gl_pod_port {
    char *name;              /* or NULL */
    int32_t number;          /* containerPort */
    char *protocol;          /* TCP, UDP, SCTP; NULL when not given (TCP) */
};

struct gl_pod_container {
    char *name;
    char *image;
    char *image_id;          /* container_hash */
    char *container_id;      /* docker_id: the id without the runtime:// prefix */
    bool init;               /* an init container */
    struct gl_pod_port *ports;
    size_t n_ports;
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
    char *pod_ip;            /* status.podIP, NULL until the pod has one */
    char *host_ip;           /* status.hostIP */
    char *phase;             /* status.phase: Pending, Running, Succeeded, Failed */
    bool ready;              /* its Ready condition is True */
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
    uint64_t throttled;          /* of which 429 Too Many Requests */
    uint64_t gets_delayed;       /* pods whose GET waited for the rate limit or a back-off */
    uint64_t gets_avoided;       /* pods asked for that a list, the watch or an earlier 404
                                    answered without a GET */
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
 * Asks for one pod, for a line whose pod the cache does not hold; callers
 * look in the cache first (gl_pods_find). cb runs once, later, on the loop,
 * with the pod (now also in the cache) or NULL (404, another refusal). What
 * answers it, in this order: the cache, once the pod is there (the watch
 * brought it); the list of the node's pods while one is under way (no GET
 * is made meanwhile, however long the list takes or backs off); a 404 less
 * than GL_PODS_REFETCH_MS old; else one GET, shared by every caller of the
 * same pod and sent within the rate limit. A GET answered 429, 5xx or cut
 * is sent again after the back-off (Retry-After honoured), and meanwhile no
 * other GET goes but that one. With use_kubelet the API server is not asked:
 * cb runs after the next kubelet poll. Callbacks of a cache whose last
 * reference is released are not called.
 */
typedef void (*gl_pods_cb)(void *data, const struct gl_pod *pod);
void gl_pods_fetch(struct gl_pod_cache *c, const char *ns, const char *name, gl_pods_cb cb,
                   void *data);
/* Forgets a callback registered with gl_pods_fetch (the caller is going away). */
void gl_pods_cancel(struct gl_pod_cache *c, gl_pods_cb cb, void *data);

const struct gl_pods_stats *gl_pods_stats(const struct gl_pod_cache *c);

/* True once the first list has completed. */
bool gl_pods_synced(const struct gl_pod_cache *c);

/* True while a list of the node's pods (the first, or one after 410 Gone) is under way. */
bool gl_pods_listing(const struct gl_pod_cache *c);

#endif

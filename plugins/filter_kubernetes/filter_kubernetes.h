/*
 * The kubernetes filter's private interfaces, shared by its files:
 *   filter_kubernetes.c        the plugin: options, lifecycle, which pod a record
 *                              is from, the enriched `kubernetes` map, the hold
 *   filter_kubernetes_merge.c  merge_log and the parser hint: the `log` text
 *                              read into keys (JSON or a named parser)
 *   filter_kubernetes_chunk.c  the filter over a whole chunk: runs of records
 *                              from one container handled as bytes
 *   filter_kubernetes_hints.c  annotation hints: exclude and parser, pod-wide
 *                              and per container
 *
 * The hold (kube_hold_check, kube_hold_on_release) is also what the core
 * calls to keep a chunk back while its pod is fetched: see the contract below.
 */
#ifndef GL_FILTER_KUBERNETES_H
#define GL_FILTER_KUBERNETES_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "k8s/pods.h"
#include "net/http_client.h"
#include "util/buf.h"

struct gl_record;
struct gl_shared;

struct gl_instance;
struct gl_chunk;
struct gl_event;
struct gl_parser;

/* Kubernetes names: pods and namespaces at most 253 bytes (DNS subdomain), containers 63. */
#define KUBE_NAME_MAX 253

/* Which pod and container a record is from: borrowed from the record or its tag. */
struct kube_id {
    const char *ns;
    size_t ns_len;
    const char *pod;
    size_t pod_len;
    const char *container;   /* may be NULL */
    size_t container_len;
    const char *docker_id;   /* may be NULL */
    size_t docker_id_len;
    const msgpack_object *map; /* the record's own `kubernetes` map, or NULL */
};

/* What the annotations of a pod say about one of its containers. */
struct kube_hints {
    bool exclude;
    const struct gl_parser *parser; /* NULL: none, or merge_log's JSON */
};

/*
 * The last lookup, reused while records keep coming from the same container
 * in the same loop turn (a chunk's records come from one file). Pod pointers
 * are borrowed from the cache until the next turn, hence the turn number.
 */
struct kube_last {
    bool valid;
    uint64_t turn;
    char ns[KUBE_NAME_MAX + 1];
    size_t ns_len;
    char pod[KUBE_NAME_MAX + 1];
    size_t pod_len;
    char container[KUBE_NAME_MAX + 1];
    size_t container_len;
    const struct gl_pod *found;               /* NULL: unknown pod */
    const struct gl_pod_container *ctr;       /* NULL: container not in the pod */
    const msgpack_sbuffer *ns_labels;
    struct kube_hints hints;
    bool asked;                               /* unknown pod: its wait was looked at */
    struct gl_buf enc;                        /* where the kubernetes map is built */
    struct gl_shared *blob;                   /* the map last written for it, shared */
    uint64_t enc_fp;                          /* fingerprint of the record's own map then */
    bool enc_valid;
};

/*
 * The shared kubernetes maps built so far, by container and the record's own
 * map: a container's chunks keep referring to one value while the pod cache
 * is unchanged (a quiet container's one-line chunks would each hold a copy
 * of their own otherwise). Direct-mapped, allocated on first use.
 */
#define KUBE_BLOBS 512

struct kube_blob {
    char *id;                 /* "ns/pod/container/docker_id"; NULL: empty */
    uint64_t fp;              /* fingerprint of the record's own map */
    uint64_t changes;         /* the pod cache's count of changes when built */
    struct gl_shared *blob;
};

/* A pod asked for with gl_pods_fetch(): the hold waits on it, at most meta_wait. */
enum kube_wait_state { WAIT_FETCHING, WAIT_ANSWERED, WAIT_EXPIRED };

struct kube_wait {
    struct kube *k;
    char *ns;
    char *pod;
    enum kube_wait_state state;
    bool in_flight;          /* the fetch's callback has not run yet */
    uint64_t deadline_ms;    /* when a held chunk goes on without the pod */
    uint64_t forget_ms;      /* when an answered or expired wait may be fetched again */
    struct kube_wait *next;
};

/* Runs when a hold may end: a fetch answered, or meta_wait passed. */
typedef void (*kube_release_cb)(void *data, struct gl_instance *ins);

/* A chunk the engine holds for this filter (see kube_hold in filter_kubernetes.c). */
struct kube_held {
    struct gl_hold *hold;
    const struct gl_chunk *chunk;
};

struct kube {
    /* options */
    char *buffer_size;
    char *kube_url;
    char *kube_token_file;
    char *kube_ca_file;
    char *node_name;
    uint64_t cache_ttl_ms;
    bool use_kubelet;
    char *kubelet_url;
    char *kubelet_host;
    int64_t kubelet_port;
    uint64_t kubelet_interval_ms;
    bool labels;
    bool annotations;
    bool namespace_labels;
    char *tag_prefix;
    bool merge_log;
    char *merge_log_key;
    bool merge_log_trim;
    bool keep_log;
    bool hints_on;
    bool fb_exclude;
    bool fb_parser;
    uint64_t meta_wait_ms;
    int64_t get_rate;
    int64_t get_burst;
    struct gl_http_client http;

    /* run time */
    struct gl_instance *ins;
    size_t tag_prefix_len;
    size_t merge_key_len;
    char *kubelet_url_built;       /* https://kubelet_host:kubelet_port */
    struct gl_pod_cache *cache;
    struct kube_last last;
    struct kube_blob *blobs;       /* KUBE_BLOBS of them, or NULL */
    uint64_t turn;                 /* loop turns, counted by turn_handle */
    uv_prepare_t turn_handle;
    uv_timer_t wait_timer;         /* the earliest wait deadline */
    uv_timer_t stats_timer;        /* copies the cache's counters every second */
    bool handles_open;
    struct kube_wait *waits;
    kube_release_cb release_cb;
    void *release_data;
    struct kube_held *held;   /* chunks held until their pod is known or meta_wait passed */
    size_t n_held;
    size_t cap_held;
    bool release_pending;          /* a fetch answered: tell the core on the next timer pass */
    struct gl_buf scratch;         /* the parsed log, as one record */
    msgpack_unpacked up;
    msgpack_unpacked rec_up;       /* a record the chunk filter reads whole */
    bool ready;

    /* metrics */
    uint64_t *m_enriched;
    uint64_t *m_unknown;
    uint64_t *m_excluded;
    uint64_t *m_merged;
    uint64_t *m_fetches;
    uint64_t *m_pods;
    uint64_t *m_watch_restarts;
    uint64_t *m_relists;
    uint64_t *m_req_list;
    uint64_t *m_req_watch;
    uint64_t *m_req_get;
    uint64_t *m_errors;
    uint64_t *m_throttled;
    uint64_t *m_gets_delayed;
    uint64_t *m_gets_avoided;
};

/* ---- the hold (filter_kubernetes.c) -------------------------------------- */

/*
 * The hold contract, for the core (or a future `.hold` slot of struct
 * gl_plugin, which has this signature):
 *
 * Before running the filter over a chunk, the core calls kube_hold_check().
 * It reads the chunk's first record (one chunk = one file = one pod) and
 * returns 1 when that pod is not in the cache and the chunk should wait: a
 * fetch of the pod was started (or one is already running) and meta_wait has
 * not passed since it began. It returns 0 when the filter can run now: the
 * pod is known, the record names no pod, there is no cache, or the wait for
 * this pod is over (answered without the pod, or timed out; its records are
 * then flagged kubernetes.meta_missing = true, never dropped).
 *
 * When a wait ends (the fetch answered, or meta_wait passed), the callback
 * set with kube_hold_on_release() runs, on the loop, outside any filter
 * call; the core then calls kube_hold_check() again for the chunks it holds
 * and runs the filter over those that get 0. A chunk is never held past
 * meta_wait plus one timer turn. Without a registered callback the filter
 * still fetches unknown pods, and records are flagged at once.
 */
int kube_hold_check(struct gl_instance *ins, const struct gl_chunk *c);
/* The plugin's .hold (filter_kubernetes_hold.c), and the release of everything at stop. */
int kube_hold(struct gl_instance *ins, const struct gl_chunk *c, struct gl_hold *h);
void kube_hold_release_all(struct gl_instance *ins);
void kube_hold_on_release(struct gl_instance *ins, kube_release_cb cb, void *data);

/* True when the cache holds the pod (ns and pod NUL-terminated). */
bool kube_pod_known(struct gl_instance *ins, const char *ns, const char *pod);

/* ---- the filter (filter_kubernetes.c, filter_kubernetes_chunk.c) --------- */

/*
 * What the records after this one may reuse, when they carry the same
 * `kubernetes` map: the same shared value (enriched, nothing merged), or the
 * same exclusion. KUBE_RUN_NONE: each needs the filter of its own.
 */
enum kube_run_what { KUBE_RUN_NONE, KUBE_RUN_REF, KUBE_RUN_DROP };

struct kube_run {
    enum kube_run_what what;
    struct gl_shared *blob;   /* KUBE_RUN_REF: borrowed, held by the chunk written to */
};

/* Filters one record into out; fills run when not NULL. */
enum gl_filter_result kube_filter_record(struct kube *k, const struct gl_record *rec,
                                         struct gl_event *out, struct kube_run *run);

/* The plugin's .filter_chunk: the whole chunk, records of a run handled as bytes. */
enum gl_filter_result kube_filter_chunk(struct gl_instance *ins, const struct gl_chunk *c,
                                        struct gl_chunk *out);

/* ---- hints (filter_kubernetes_hints.c) ----------------------------------- */

/*
 * Reads the hints of a container from its pod's annotations (a msgpack map of
 * strings): gleaner.io/exclude[-C] and gleaner.io/parser[-C] when hints are
 * on, fluentbit.io/exclude[-C] and fluentbit.io/parser[-C] when the
 * k8s-logging options allow. The per-container form wins over the pod-wide
 * one, gleaner.io over fluentbit.io. A parser name that is not defined is
 * logged and ignored.
 */
void kube_hints_read(struct kube *k, const msgpack_sbuffer *annotations, const char *container,
                     size_t container_len, struct kube_hints *out);

/*
 * Finds a string key in a msgpack map of strings (bytes in p, n long);
 * returns true with *val and *vlen set when present. Stops at the first value
 * that is not a string, or at bytes that are not such a map (false).
 */
bool kube_strmap_get(const char *p, size_t n, const char *key, size_t klen, const char **val,
                     size_t *vlen);

/* ---- merge (filter_kubernetes_merge.c) ----------------------------------- */

/*
 * Reads the log text into the scratch record: with parser (the parser hint)
 * when set, else as a JSON object (merge_log; trimmed first with
 * merge_log_trim). Returns the parsed keys as a map, borrowed until the next
 * call, or NULL when the text is not an object / does not match. A parser's
 * time comes back in *ts_ns with *has_ts set.
 */
const msgpack_object *kube_merge_parse(struct kube *k, const struct gl_parser *parser,
                                       const char *text, size_t len, uint64_t *ts_ns,
                                       int *has_ts);

/*
 * Writes the record into out: the body's keys in order with `kubernetes`
 * written by write_kube (in place, or at the end when the body has none),
 * and the merged keys (top level, or under merge_log_key). Merged keys win
 * over the body's, except `kubernetes`, which stays the filter's; `log` is
 * left out when merged and keep_log is off.
 */
typedef void (*kube_write_cb)(struct kube *k, struct gl_event *out, void *data);
void kube_merge_write(struct kube *k, const struct gl_record *rec, const msgpack_object *merged,
                      struct gl_event *out, kube_write_cb write_kube, void *data);

#endif

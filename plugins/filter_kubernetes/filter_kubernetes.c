/*
 * filter kubernetes: adds the pod's metadata to each container log record,
 * as Fluent Bit's kubernetes filter does: kubernetes.{pod_name,
 * namespace_name, pod_id, labels, annotations, host, container_name,
 * docker_id, container_hash, container_image} plus owner {kind, name} and,
 * with namespace_labels, the namespace's labels. Pods come from the agent's
 * pod cache (agent/k8s/pods.c: one watch of this node's pods, shared by every
 * instance), acquired in start and released in stop.
 *
 * A record names its pod in the `kubernetes` map the tail input writes, or,
 * without one, in its tag (kube_tag_prefix + <pod>_<ns>_<container>-<id>.log).
 * The enriched map replaces the record's own in place and keeps the keys of
 * it that the pod does not provide. A pod the cache does not know is asked
 * for once (merged with other askers; the cache answers it from the node's
 * list while one is under way, else with a GET within its rate limit); its
 * records are flagged kubernetes.meta_missing = true and never dropped. The
 * hold (kube_hold_check) lets the core keep a chunk back until the answer,
 * at most kube_meta_wait.
 *
 * Hot path: a chunk's records come from one file, so the last lookup (pod,
 * container, hints) is reused while the names repeat in the same loop turn,
 * and the enriched map is one shared value (agent/codec/shared.h) the records
 * refer to rather than a copy in each (filter_kubernetes_chunk.c).
 */
#include <stdio.h>
#include <string.h>

#include "codec/shared.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/event.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "filter_kubernetes.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

/* ---- which pod ---- */

static bool str_of(const msgpack_object *o, const char **s, size_t *n)
{
    if (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN) {
        return false;
    }
    *s = o->via.str.ptr;
    *n = o->via.str.size;
    return true;
}

static bool key_is(const msgpack_object *k, const char *key, size_t klen)
{
    return (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
           k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key, size_t klen)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (key_is(&map->via.map.ptr[i].key, key, klen)) {
            return &map->via.map.ptr[i].val;
        }
    }
    return NULL;
}

/* The pod named by the record's `kubernetes` map (the tail input's); false when it names none. */
static bool id_from_map(const msgpack_object *body, struct kube_id *id)
{
    memset(id, 0, sizeof(*id));
    const msgpack_object *m = gl_shared_deref(map_get(body, "kubernetes", 10));
    if (m == NULL || m->type != MSGPACK_OBJECT_MAP) {
        return false;
    }
    id->map = m;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        if (key_is(&kv->key, "namespace_name", 14)) {
            str_of(&kv->val, &id->ns, &id->ns_len);
        } else if (key_is(&kv->key, "pod_name", 8)) {
            str_of(&kv->val, &id->pod, &id->pod_len);
        } else if (key_is(&kv->key, "container_name", 14)) {
            str_of(&kv->val, &id->container, &id->container_len);
        } else if (key_is(&kv->key, "docker_id", 9)) {
            str_of(&kv->val, &id->docker_id, &id->docker_id_len);
        }
    }
    return id->ns_len > 0 && id->pod_len > 0;
}

static bool is_hex64(const char *p, size_t n)
{
    if (n != 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/*
 * The pod named by the tag: kube_tag_prefix, then the container log's file
 * name <pod>_<namespace>_<container>-<64 hex id>.log (pod and namespace names
 * hold no '_'). Without the id, the rest is the container's name.
 */
static bool id_from_tag(const struct kube *k, const char *tag, size_t len, struct kube_id *id)
{
    memset(id, 0, sizeof(*id));
    if (tag == NULL || len <= k->tag_prefix_len ||
        memcmp(tag, k->tag_prefix, k->tag_prefix_len) != 0) {
        return false;
    }
    const char *s = tag + k->tag_prefix_len;
    size_t n = len - k->tag_prefix_len;
    if (n < 4 || memcmp(s + n - 4, ".log", 4) != 0) {
        return false;
    }
    n -= 4;
    const char *u1 = memchr(s, '_', n);
    const char *u2 = u1 ? memchr(u1 + 1, '_', (size_t)(s + n - u1 - 1)) : NULL;
    if (u2 == NULL || u1 == s || u2 == u1 + 1 || u2 + 1 == s + n) {
        return false;
    }
    const char *rest = u2 + 1;
    size_t rest_len = (size_t)(s + n - rest);
    const char *dash = memrchr(rest, '-', rest_len);
    id->pod = s;
    id->pod_len = (size_t)(u1 - s);
    id->ns = u1 + 1;
    id->ns_len = (size_t)(u2 - u1 - 1);
    id->container = rest;
    id->container_len = rest_len;
    if (dash != NULL && dash > rest && is_hex64(dash + 1, (size_t)(rest + rest_len - dash - 1))) {
        id->container_len = (size_t)(dash - rest);
        id->docker_id = dash + 1;
        id->docker_id_len = 64;
    }
    return true;
}

static bool identify(const struct kube *k, const struct gl_record *rec, struct kube_id *id)
{
    return id_from_map(rec->body, id) || id_from_tag(k, rec->tag, rec->tag_len, id);
}

/* ---- the last lookup ---- */

static void copy_stats(struct kube *k)
{
    if (k->cache == NULL) {
        return;
    }
    const struct gl_pods_stats *s = gl_pods_stats(k->cache);
    *k->m_pods = s->pods;
    *k->m_watch_restarts = s->watch_restarts;
    *k->m_relists = s->relists;
    *k->m_req_list = s->requests_list;
    *k->m_req_watch = s->requests_watch;
    *k->m_req_get = s->requests_get;
    *k->m_errors = s->errors;
    *k->m_throttled = s->throttled;
    *k->m_gets_delayed = s->gets_delayed;
    *k->m_gets_avoided = s->gets_avoided;
}

static bool same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The pod's container by name, else by the record's container id. */
static const struct gl_pod_container *find_container(const struct gl_pod *pod,
                                                     const struct kube_id *id)
{
    for (size_t i = 0; i < pod->n_containers && id->container != NULL; i++) {
        const char *name = pod->containers[i].name;
        if (name != NULL && same_name(name, strlen(name), id->container, id->container_len)) {
            return &pod->containers[i];
        }
    }
    for (size_t i = 0; i < pod->n_containers && id->docker_id != NULL; i++) {
        const char *cid = pod->containers[i].container_id;
        if (cid != NULL && same_name(cid, strlen(cid), id->docker_id, id->docker_id_len)) {
            return &pod->containers[i];
        }
    }
    return NULL;
}

static void set_name(char *dst, size_t *dlen, const char *src, size_t len)
{
    memcpy(dst, src, len);
    dst[len] = '\0';
    *dlen = len;
}

/*
 * Returns the lookup for the record's pod and container: the last one when
 * the names and the loop turn are the same, else a fresh one (cache lookup,
 * container, namespace labels, hints). NULL when a name is longer than
 * Kubernetes allows (such a record is not a pod's).
 */
static struct kube_last *lookup(struct kube *k, const struct kube_id *id)
{
    struct kube_last *l = &k->last;
    const char *ctr = id->container ? id->container : "";
    if (l->valid && l->turn == k->turn && same_name(l->ns, l->ns_len, id->ns, id->ns_len) &&
        same_name(l->pod, l->pod_len, id->pod, id->pod_len) &&
        same_name(l->container, l->container_len, ctr, id->container_len)) {
        return l;
    }
    if (id->ns_len > KUBE_NAME_MAX || id->pod_len > KUBE_NAME_MAX ||
        id->container_len > KUBE_NAME_MAX) {
        return NULL;
    }
    set_name(l->ns, &l->ns_len, id->ns, id->ns_len);
    set_name(l->pod, &l->pod_len, id->pod, id->pod_len);
    set_name(l->container, &l->container_len, ctr, id->container_len);
    l->valid = true;
    l->turn = k->turn;
    l->asked = false;
    l->enc_valid = false;
    gl_shared_unref(l->blob);
    l->blob = NULL;
    l->found = k->cache ? gl_pods_find(k->cache, l->ns, l->pod) : NULL;
    l->ctr = l->found ? find_container(l->found, id) : NULL;
    l->ns_labels = l->found && k->namespace_labels ? gl_pods_namespace_labels(k->cache, l->ns)
                                                    : NULL;
    memset(&l->hints, 0, sizeof(l->hints));
    if (l->found != NULL) {
        const char *cname = l->ctr && l->ctr->name ? l->ctr->name : l->container;
        kube_hints_read(k, &l->found->annotations, cname, strlen(cname), &l->hints);
    }
    copy_stats(k);
    return l;
}

/* ---- waits: unknown pods being fetched ---- */

static uint64_t now_ms(const struct kube *k)
{
    return uv_now(k->ins->loop);
}

static void on_wait_timer(uv_timer_t *t);

/* Arms the wait timer for the earliest deadline or forget time, or now for a release. */
static void arm_waits(struct kube *k)
{
    uint64_t next = UINT64_MAX, now = now_ms(k);
    for (struct kube_wait *w = k->waits; w != NULL; w = w->next) {
        uint64_t at = w->state == WAIT_FETCHING ? w->deadline_ms : w->forget_ms;
        if (w->state != WAIT_FETCHING && w->in_flight) {
            continue;
        }
        next = at < next ? at : next;
    }
    if (k->release_pending) {
        next = now;
    }
    if (next == UINT64_MAX) {
        uv_timer_stop(&k->wait_timer);
        return;
    }
    uv_timer_start(&k->wait_timer, on_wait_timer, next > now ? next - now : 0, 0);
}

/* gl_pods_fetch's answer: the wait ends; the core hears of it on the next timer pass. */
static void on_fetched(void *data, const struct gl_pod *pod)
{
    struct kube_wait *w = data;
    struct kube *k = w->k;
    uint64_t now = now_ms(k);
    w->in_flight = false;
    if (w->state == WAIT_FETCHING) {
        k->release_pending = true;
    }
    w->state = WAIT_ANSWERED;
    w->forget_ms = pod != NULL ? now : now + GL_PODS_REFETCH_MS;
    k->last.valid = false;
    arm_waits(k);
}

static struct kube_wait *wait_find(struct kube *k, const char *ns, const char *pod)
{
    for (struct kube_wait *w = k->waits; w != NULL; w = w->next) {
        if (strcmp(w->ns, ns) == 0 && strcmp(w->pod, pod) == 0) {
            return w;
        }
    }
    return NULL;
}

/*
 * Makes sure an unknown pod is being waited on: a new wait starts a fetch; a
 * wait whose answer is older than GL_PODS_REFETCH_MS starts another. Returns
 * true while the wait is on (the fetch has not answered and meta_wait has not
 * passed).
 *
 * meta_wait bounds the wait also while the node's first list is under way
 * and slower than meta_wait: the chunk then goes on flagged meta_missing
 * rather than held until the list answers. The option is the one bound on
 * the latency this filter adds, whatever the API server does, and the reason
 * a failing API server never stops the logs (a slow server is often one
 * about to fail). What is lost is bounded and shown: the records keep the
 * names the file gives (pod, namespace, container, id), are flagged and
 * counted, and later chunks are enriched. Who prefers enrichment to latency
 * raises kube_meta_wait: waiting for the list costs no request, and the held
 * chunks count against the input's mem_buf_limit, which pauses it.
 */
static bool wait_start(struct kube *k, struct kube_last *l)
{
    struct kube_wait *w = wait_find(k, l->ns, l->pod);
    uint64_t now = now_ms(k);
    if (w == NULL) {
        w = gl_calloc(1, sizeof(*w));
        w->k = k;
        w->ns = gl_strdup(l->ns);
        w->pod = gl_strdup(l->pod);
        w->state = WAIT_ANSWERED;
        w->next = k->waits;
        k->waits = w;
    }
    if (w->state != WAIT_FETCHING && !w->in_flight && now >= w->forget_ms) {
        w->state = WAIT_FETCHING;
        w->in_flight = true;
        w->deadline_ms = now + k->meta_wait_ms;
        (*k->m_fetches)++;
        gl_pods_fetch(k->cache, w->ns, w->pod, on_fetched, w);
        arm_waits(k);
    }
    l->asked = true;
    return w->state == WAIT_FETCHING;
}

/* Expires waits past meta_wait, frees the forgotten ones, and tells the core. */
static void on_wait_timer(uv_timer_t *t)
{
    struct kube *k = t->data;
    uint64_t now = now_ms(k);
    bool release = k->release_pending;
    k->release_pending = false;
    for (struct kube_wait **pw = &k->waits; *pw != NULL;) {
        struct kube_wait *w = *pw;
        if (w->state == WAIT_FETCHING && now >= w->deadline_ms) {
            w->state = WAIT_EXPIRED;
            w->forget_ms = now + GL_PODS_REFETCH_MS;
            release = true;
        }
        if (w->state != WAIT_FETCHING && !w->in_flight && now >= w->forget_ms) {
            *pw = w->next;
            gl_free(w->ns);
            gl_free(w->pod);
            gl_free(w);
            continue;
        }
        pw = &w->next;
    }
    arm_waits(k);
    if (release && k->release_cb != NULL) {
        k->release_cb(k->release_data, k->ins);
    }
}

/* Cancels the fetches still running and frees every wait. */
static void waits_free(struct kube *k)
{
    while (k->waits != NULL) {
        struct kube_wait *w = k->waits;
        k->waits = w->next;
        if (w->in_flight && k->cache != NULL) {
            gl_pods_cancel(k->cache, on_fetched, w);
        }
        gl_free(w->ns);
        gl_free(w->pod);
        gl_free(w);
    }
}

/* ---- the hold ---- */

int kube_hold_check(struct gl_instance *ins, const struct gl_chunk *c)
{
    struct kube *k = ins->state;
    struct gl_chunk_iter it;
    struct gl_record rec;
    struct kube_id id;
    int held = 0;
    if (k->cache == NULL) {
        return 0;
    }
    gl_chunk_iter_init(&it, c);
    if (gl_chunk_next(&it, &rec) == 0 && identify(k, &rec, &id)) {
        struct kube_last *l = lookup(k, &id);
        if (l != NULL && l->found == NULL) {
            held = wait_start(k, l) ? 1 : 0;
        }
    }
    gl_chunk_iter_close(&it);
    copy_stats(k);
    return held;
}

void kube_hold_on_release(struct gl_instance *ins, kube_release_cb cb, void *data)
{
    struct kube *k = ins->state;
    k->release_cb = cb;
    k->release_data = data;
}

bool kube_pod_known(struct gl_instance *ins, const char *ns, const char *pod)
{
    struct kube *k = ins->state;
    return k->cache != NULL && gl_pods_find(k->cache, ns, pod) != NULL;
}

/* ---- the kubernetes map ---- */

enum field {
    F_POD_NAME, F_NAMESPACE_NAME, F_POD_ID, F_LABELS, F_ANNOTATIONS, F_NAMESPACE_LABELS,
    F_OWNER, F_HOST, F_CONTAINER_NAME, F_DOCKER_ID, F_CONTAINER_HASH, F_CONTAINER_IMAGE,
    F_META_MISSING, F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "pod_name", "namespace_name", "pod_id", "labels", "annotations", "namespace_labels",
    "owner", "host", "container_name", "docker_id", "container_hash", "container_image",
    "meta_missing",
};

struct writer {
    struct gl_event *out;
    unsigned wrote;   /* bit per enum field */
};

static void put_str(struct writer *w, enum field f, const char *s, size_t len)
{
    if (s == NULL || (w->wrote & (1u << f))) {
        return;
    }
    gl_event_kv_strn(w->out, field_names[f], strlen(field_names[f]), s, len);
    w->wrote |= 1u << f;
}

static void put_cstr(struct writer *w, enum field f, const char *s)
{
    put_str(w, f, s, s ? strlen(s) : 0);
}

/* A msgpack map from the cache, when it has at least one key. */
static void put_map(struct writer *w, enum field f, const msgpack_sbuffer *sb)
{
    if (sb == NULL || sb->size == 0 || (unsigned char)sb->data[0] == 0x80) {
        return;
    }
    gl_event_kv_raw(w->out, field_names[f], strlen(field_names[f]), sb->data, sb->size);
    w->wrote |= 1u << f;
}

/* The record's own keys the filter did not write (the tail's pod_id for an unknown pod). */
static void put_rest(struct writer *w, const msgpack_object *map)
{
    for (uint32_t i = 0; map != NULL && i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        bool ours = false;
        for (int f = 0; f < F_COUNT && !ours; f++) {
            ours = (w->wrote & (1u << f)) &&
                   key_is(&kv->key, field_names[f], strlen(field_names[f]));
        }
        if (!ours && (kv->key.type == MSGPACK_OBJECT_STR || kv->key.type == MSGPACK_OBJECT_BIN)) {
            gl_event_kv_obj(w->out, kv->key.via.str.ptr, kv->key.via.str.size, &kv->val);
        }
    }
}

struct record_ctx {
    const struct kube_id *id;
    struct kube_last *l;
};

/* Writes kubernetes = {...}: the pod's metadata, or what the record knows and meta_missing. */
static void write_kube(struct kube *k, struct gl_event *out, void *data)
{
    const struct record_ctx *rc = data;
    const struct kube_id *id = rc->id;
    const struct gl_pod *pod = rc->l->found;
    const struct gl_pod_container *ctr = rc->l->ctr;
    struct writer w = { .out = out };
    gl_event_map_begin(out, "kubernetes", 10);
    if (pod != NULL) {
        put_cstr(&w, F_POD_NAME, pod->pod_name);
        put_cstr(&w, F_NAMESPACE_NAME, pod->namespace_name);
        put_cstr(&w, F_POD_ID, pod->pod_id);
        if (k->labels) {
            put_map(&w, F_LABELS, &pod->labels);
        }
        if (k->annotations) {
            put_map(&w, F_ANNOTATIONS, &pod->annotations);
        }
        put_map(&w, F_NAMESPACE_LABELS, rc->l->ns_labels);
        if (pod->owner_kind != NULL && pod->owner_name != NULL) {
            gl_event_map_begin(out, "owner", 5);
            gl_event_kv_str(out, "kind", pod->owner_kind, strlen(pod->owner_kind));
            gl_event_kv_str(out, "name", pod->owner_name, strlen(pod->owner_name));
            gl_event_map_end(out);
            w.wrote |= 1u << F_OWNER;
        }
        put_cstr(&w, F_HOST, pod->host);
    }
    put_str(&w, F_POD_NAME, id->pod, id->pod_len);
    put_str(&w, F_NAMESPACE_NAME, id->ns, id->ns_len);
    put_cstr(&w, F_CONTAINER_NAME, ctr ? ctr->name : NULL);
    put_str(&w, F_CONTAINER_NAME, id->container, id->container_len);
    put_str(&w, F_DOCKER_ID, id->docker_id, id->docker_id_len);
    if (ctr != NULL) {
        put_cstr(&w, F_DOCKER_ID, ctr->container_id);
        put_cstr(&w, F_CONTAINER_HASH, ctr->image_id);
        put_cstr(&w, F_CONTAINER_IMAGE, ctr->image);
    }
    if (pod == NULL) {
        w.wrote |= 1u << F_META_MISSING;
    }
    put_rest(&w, id->map);
    if (pod == NULL) {
        gl_event_kv_bool(out, "meta_missing", 1);
    }
    gl_event_map_end(out);
}

/* ---- the filter ---- */

/* Reads the record's `log` into keys when merge_log is on or a parser hint applies. */
static const msgpack_object *merge(struct kube *k, const struct gl_record *rec,
                                   const struct kube_last *l, struct gl_event *out)
{
    const struct gl_parser *parser = l->hints.parser;
    const char *text;
    size_t len;
    uint64_t ts = 0;
    int has_ts = 0;
    if (!k->merge_log && parser == NULL) {
        return NULL;
    }
    const msgpack_object *log = map_get(rec->body, "log", 3);
    if (log == NULL || !str_of(log, &text, &len)) {
        return NULL;
    }
    const msgpack_object *merged = kube_merge_parse(k, parser, text, len, &ts, &has_ts);
    if (merged == NULL) {
        return NULL;
    }
    if (has_ts) {
        gl_event_set_time(out, ts);
    }
    (*k->m_merged)++;
    return merged;
}

/*
 * A fingerprint of the string keys and values of the record's own kubernetes
 * map. It runs per record, so it hashes a word at a time; it lives in memory only.
 */
static uint64_t map_fingerprint(const msgpack_object *map)
{
    uint64_t h = GL_HASH_FNV1A64_BASIS;
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP) {
        return h;
    }
    h ^= map->via.map.size;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *kv[2] = { &map->via.map.ptr[i].key, &map->via.map.ptr[i].val };
        for (int j = 0; j < 2; j++) {
            if (kv[j]->type != MSGPACK_OBJECT_STR) {
                h = gl_hash_fnv1a64(h, "\xff", 1);
                continue;
            }
            h = gl_hash_words64(h, kv[j]->via.str.ptr, kv[j]->via.str.size);
        }
    }
    return h;
}

/* Builds the enriched map of the record's container as a new shared value, or NULL. */
static struct gl_shared *blob_build(struct kube *k, const struct record_ctx *rc)
{
    struct kube_last *l = rc->l;
    struct gl_event ev;
    gl_buf_reset(&l->enc);
    gl__event_begin_buf(&ev, &l->enc, 0);
    size_t at = l->enc.len;
    write_kube(k, &ev, (void *)rc);
    gl__event_finish(&ev);
    /* Skip the key: "kubernetes" packs as a fixstr, 1 + 10 bytes. */
    return gl_shared_new(l->enc.data + at + 11, l->enc.len - at - 11);
}

/* The container's shared map, from the cache of built ones when still current; a new reference. */
static struct gl_shared *blob_get(struct kube *k, const struct record_ctx *rc, uint64_t fp)
{
    const struct kube_last *l = rc->l;
    char id[4 * (KUBE_NAME_MAX + 1)];
    int n = snprintf(id, sizeof(id), "%s/%s/%s/%.*s", l->ns, l->pod, l->container,
                     (int)(rc->id->docker_id ? rc->id->docker_id_len : 0),
                     rc->id->docker_id ? rc->id->docker_id : "");
    uint64_t changes = k->cache ? gl_pods_stats(k->cache)->changes : 0;
    if (k->blobs == NULL) {
        k->blobs = gl_calloc(KUBE_BLOBS, sizeof(*k->blobs));
    }
    struct kube_blob *e = &k->blobs[gl_hash_words64(fp, id, (size_t)n) % KUBE_BLOBS];
    if (e->blob != NULL && e->fp == fp && e->changes == changes && strcmp(e->id, id) == 0) {
        return gl_shared_ref(e->blob);
    }
    struct gl_shared *b = blob_build(k, rc);
    if (b == NULL) {
        return NULL;
    }
    gl_shared_unref(e->blob);
    gl_free(e->id);
    e->id = gl_strdup(id);
    e->fp = fp;
    e->changes = changes;
    e->blob = gl_shared_ref(b);
    return b;
}

static void blobs_free(struct kube *k)
{
    for (size_t i = 0; k->blobs != NULL && i < KUBE_BLOBS; i++) {
        gl_shared_unref(k->blobs[i].blob);
        gl_free(k->blobs[i].id);
    }
    gl_free(k->blobs);
    k->blobs = NULL;
}

/*
 * The enriched map is the same for every record of one container while its
 * pod is unchanged: it is one shared value (agent/codec/shared.h) and each record
 * refers to it, which keeps the filter's cost per record to a few bytes.
 */
static void write_kube_cached(struct kube *k, struct gl_event *out, void *data)
{
    const struct record_ctx *rc = data;
    struct kube_last *l = rc->l;
    if (l->found == NULL) {
        write_kube(k, out, data);
        return;
    }
    uint64_t fp = map_fingerprint(rc->id->map);
    if (!l->enc_valid || l->enc_fp != fp) {
        gl_shared_unref(l->blob);
        l->blob = blob_get(k, rc, fp);
        l->enc_fp = fp;
        l->enc_valid = l->blob != NULL;
    }
    if (l->blob == NULL) {
        write_kube(k, out, data);
        return;
    }
    gl_event_kv_shared(out, "kubernetes", 10, l->blob);
}

enum gl_filter_result kube_filter_record(struct kube *k, const struct gl_record *rec,
                                         struct gl_event *out, struct kube_run *run)
{
    struct kube_id id;
    if (run != NULL) {
        memset(run, 0, sizeof(*run));
    }
    if (!identify(k, rec, &id)) {
        return GL_FILTER_KEEP;
    }
    struct kube_last *l = lookup(k, &id);
    if (l == NULL) {
        return GL_FILTER_KEEP;
    }
    if (l->found == NULL) {
        if (k->cache != NULL && !l->asked) {
            wait_start(k, l);
        }
        (*k->m_unknown)++;
    } else if (l->hints.exclude) {
        (*k->m_excluded)++;
        if (run != NULL) {
            run->what = KUBE_RUN_DROP;
        }
        return GL_FILTER_DROP;
    } else {
        (*k->m_enriched)++;
    }
    struct record_ctx rc = { .id = &id, .l = l };
    const msgpack_object *merged = merge(k, rec, l, out);
    kube_merge_write(k, rec, merged, out, write_kube_cached, &rc);
    if (run != NULL && l->found != NULL && !k->merge_log && l->hints.parser == NULL &&
        l->blob != NULL) {
        run->what = KUBE_RUN_REF;
        run->blob = l->blob;
    }
    return GL_FILTER_MODIFIED;
}

static enum gl_filter_result kube_filter(struct gl_instance *ins, const struct gl_record *rec,
                                         struct gl_event *out)
{
    return kube_filter_record(ins->state, rec, out, NULL);
}

/* ---- lifecycle ---- */

static void kube_destroy(struct gl_instance *ins);

static int kube_init(struct gl_instance *ins)
{
    struct kube *k = ins->state;
    k->ins = ins;
    k->tag_prefix_len = strlen(k->tag_prefix);
    if (k->merge_log_key != NULL && k->merge_log_key[0] == '\0') {
        gl_instance_option_error(ins, "merge_log_key", "must not be empty");
        return GL_EINVAL;
    }
    k->merge_key_len = k->merge_log_key ? strlen(k->merge_log_key) : 0;
    if (k->buffer_size != NULL) {
        size_t n;
        if (gl_parse_size(k->buffer_size, &n) < 0) {
            gl_instance_option_error(ins, "buffer_size", "expected a size like 32k, or 0");
            return GL_EINVAL;
        }
        /* 0 lifts the limit; a smaller one than the pod list needs only raises it. */
        if (n == 0 || n > k->http.response_max) {
            k->http.response_max = n == 0 ? SIZE_MAX : n;
        }
    }
    if (k->kubelet_url == NULL && k->kubelet_host != NULL) {
        struct gl_buf b;
        gl_buf_init(&b);
        gl_buf_printf(&b, "https://%s:%lld", k->kubelet_host, (long long)k->kubelet_port);
        k->kubelet_url_built = gl_buf_take(&b);
    }
    gl_buf_init(&k->scratch);
    msgpack_unpacked_init(&k->up);
    msgpack_unpacked_init(&k->rec_up);
    k->ready = true;
    k->m_enriched = gl_metric_counter(ins, "records_enriched_total",
                                      "Records given their pod's metadata.");
    k->m_unknown = gl_metric_counter(ins, "records_unknown_pod_total",
                                     "Records whose pod was not in the cache (meta_missing).");
    k->m_excluded = gl_metric_counter(ins, "records_excluded_total",
                                      "Records dropped by an exclude annotation.");
    k->m_merged = gl_metric_counter(ins, "logs_merged_total",
                                    "Records whose log was merged (merge_log or a parser hint).");
    k->m_fetches = gl_metric_counter(ins, "pod_fetches_total",
                                     "Pods asked of the API server because the cache lacked them.");
    k->m_pods = gl_metric_gauge(ins, "kube_cache_pods", "Pods in the pod cache.");
    k->m_watch_restarts = gl_metric_counter(ins, "kube_watch_restarts_total",
                                            "Pod watches restarted after a disconnect.");
    k->m_relists = gl_metric_counter(ins, "kube_relists_total",
                                     "Full pod lists (start, and after 410 Gone).");
    k->m_req_list = gl_metric_counter(ins, "kube_api_list_requests_total",
                                      "List requests to the API server or kubelet.");
    k->m_req_watch = gl_metric_counter(ins, "kube_api_watch_requests_total",
                                       "Watch requests to the API server.");
    k->m_req_get = gl_metric_counter(ins, "kube_api_get_requests_total",
                                     "Single-pod requests to the API server.");
    k->m_errors = gl_metric_counter(ins, "kube_api_errors_total",
                                    "Requests to the API server that failed.");
    k->m_throttled = gl_metric_counter(ins, "kube_api_throttled_total",
                                       "Requests the API server refused with 429 Too Many "
                                       "Requests (counted in kube_api_errors_total too).");
    k->m_gets_delayed = gl_metric_counter(ins, "kube_api_get_delayed_total",
                                          "Pods whose GET waited for kube_meta_get_rate or a "
                                          "back-off.");
    k->m_gets_avoided = gl_metric_counter(ins, "kube_api_get_avoided_total",
                                          "Pods asked for that the node's list, the watch or "
                                          "a recent 404 answered without a GET.");
    return 0;
}

static void on_turn(uv_prepare_t *h)
{
    struct kube *k = h->data;
    k->turn++;
}

static void on_stats_timer(uv_timer_t *t)
{
    copy_stats(t->data);
}

/* Acquires the pod cache (which starts its list and watch) and arms the filter's handles. */
static int kube_start(struct gl_instance *ins)
{
    struct kube *k = ins->state;
    char err[256] = "";
    struct gl_pods_settings s = {
        .kube_url = k->kube_url, .kube_token_file = k->kube_token_file,
        .kube_ca_file = k->kube_ca_file, .node_name = k->node_name,
        .use_kubelet = k->use_kubelet,
        .kubelet_url = k->kubelet_url ? k->kubelet_url : k->kubelet_url_built,
        .kubelet_interval_ms = k->kubelet_interval_ms, .cache_ttl_ms = k->cache_ttl_ms,
        .namespace_labels = k->namespace_labels, .get_rate = (uint64_t)k->get_rate,
        .get_burst = (uint64_t)k->get_burst,
        .retry_base_ms = ins->engine ? ins->engine->svc.sched_base_ms : 0,
        .retry_cap_ms = ins->engine ? ins->engine->svc.sched_cap_ms : 0,
    };
    int rc = gl_http_client_init(&k->http);
    if (rc < 0) {
        gl_log_error(ins, "pod metadata unavailable: the HTTP client cannot start");
        return rc;
    }
    k->cache = gl_pods_acquire(ins->loop, &s, &k->http, err, sizeof(err));
    if (k->cache == NULL) {
        gl_log_error(ins, "pod metadata unavailable: %s", err);
        return GL_EINVAL;
    }
    uv_prepare_init(ins->loop, &k->turn_handle);
    uv_timer_init(ins->loop, &k->wait_timer);
    uv_timer_init(ins->loop, &k->stats_timer);
    k->turn_handle.data = k->wait_timer.data = k->stats_timer.data = k;
    uv_prepare_start(&k->turn_handle, on_turn);
    uv_unref((uv_handle_t *)&k->turn_handle);
    uv_timer_start(&k->stats_timer, on_stats_timer, 1000, 1000);
    uv_unref((uv_handle_t *)&k->stats_timer);
    k->handles_open = true;
    return 0;
}

/* Drops the waits and the cache reference, then closes the handles. */
static void kube_stop(struct gl_instance *ins)
{
    struct kube *k = ins->state;
    kube_hold_release_all(ins);
    waits_free(k);
    if (k->cache != NULL) {
        gl_pods_release(k->cache);
        k->cache = NULL;
    }
    k->last.valid = false;
    gl_shared_unref(k->last.blob);
    k->last.blob = NULL;
    blobs_free(k);
    if (k->handles_open) {
        k->handles_open = false;
        uv_close((uv_handle_t *)&k->turn_handle, NULL);
        uv_close((uv_handle_t *)&k->wait_timer, NULL);
        uv_close((uv_handle_t *)&k->stats_timer, NULL);
    }
}

static void kube_destroy(struct gl_instance *ins)
{
    struct kube *k = ins->state;
    waits_free(k);
    if (k->cache != NULL) {
        gl_pods_release(k->cache);
        k->cache = NULL;
    }
    gl_http_client_close(&k->http);
    gl_free(k->kubelet_url_built);
    k->kubelet_url_built = NULL;
    gl_buf_close(&k->last.enc);
    k->last.enc_valid = false;
    gl_shared_unref(k->last.blob);
    k->last.blob = NULL;
    blobs_free(k);
    if (k->ready) {
        gl_buf_close(&k->scratch);
        msgpack_unpacked_destroy(&k->up);
        msgpack_unpacked_destroy(&k->rec_up);
        k->ready = false;
    }
}

/* ---- the plugin ---- */

static const char *check_get_rate(const void *v)
{
    int64_t n = *(const int64_t *)v;
    return n >= 1 && n <= 1000 ? NULL : "must be from 1 to 1000";
}

static const struct gl_option kube_options[] = {
    { .name = "buffer_size", .type = GL_OPT_STR, .offset = offsetof(struct kube, buffer_size),
      .help = "Fluent Bit's limit on an API response: 0 lifts every limit (net.response_max "
              "too); a size above net.response_max raises it, one below is not applied, since "
              "the node's pods come in one list." },
    { .name = "kube_url", .type = GL_OPT_STR, .offset = offsetof(struct kube, kube_url),
      .help = "API server URL (default https://$KUBERNETES_SERVICE_HOST:"
              "$KUBERNETES_SERVICE_PORT)." },
    { .name = "kube_token_file", .type = GL_OPT_STR,
      .def = "/var/run/secrets/kubernetes.io/serviceaccount/token",
      .offset = offsetof(struct kube, kube_token_file),
      .help = "Service-account token, re-read as it rotates." },
    { .name = "kube_ca_file", .type = GL_OPT_STR,
      .def = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
      .offset = offsetof(struct kube, kube_ca_file),
      .help = "CA bundle that signed the API server's certificate." },
    { .name = "kube_meta_cache_ttl", .type = GL_OPT_DURATION, .def = "10m",
      .offset = offsetof(struct kube, cache_ttl_ms),
      .help = "How long a deleted pod stays cached, so that its last lines are enriched." },
    { .name = "kube_meta_wait", .type = GL_OPT_DURATION, .def = "2s",
      .offset = offsetof(struct kube, meta_wait_ms),
      .help = "Longest a chunk of an unknown pod is held while the node's list or a GET "
              "looks for the pod, also when the first list is slower; then its records are "
              "flagged kubernetes.meta_missing." },
    { .name = "kube_meta_get_rate", .type = GL_OPT_INT, .def = "5", .check = check_get_rate,
      .offset = offsetof(struct kube, get_rate),
      .help = "Most GETs of single pods a second, for pods the node's list and watch have "
              "not shown (one per pod, none while the list is under way)." },
    { .name = "kube_meta_get_burst", .type = GL_OPT_INT, .def = "10", .check = check_get_rate,
      .offset = offsetof(struct kube, get_burst),
      .help = "GETs of single pods that may go at once before kube_meta_get_rate applies." },
    { .name = "kube_tag_prefix", .type = GL_OPT_STR, .def = "kube.var.log.containers.",
      .offset = offsetof(struct kube, tag_prefix),
      .help = "Tag prefix before <pod>_<namespace>_<container>-<id>.log, for records "
              "without a kubernetes map." },
    { .name = "node_name", .type = GL_OPT_STR, .offset = offsetof(struct kube, node_name),
      .help = "This node's name, whose pods are watched (default $NODE_NAME)." },
    { .name = "use_kubelet", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct kube, use_kubelet),
      .help = "Poll the kubelet's /pods instead of watching the API server." },
    { .name = "kubelet_url", .type = GL_OPT_STR, .offset = offsetof(struct kube, kubelet_url),
      .help = "Kubelet URL (default https://kubelet_host:kubelet_port, or $NODE_IP:10250)." },
    { .name = "kubelet_host", .type = GL_OPT_STR, .offset = offsetof(struct kube, kubelet_host),
      .help = "Kubelet host, as Fluent Bit's; kubelet_url wins when both are set." },
    { .name = "kubelet_port", .type = GL_OPT_INT, .def = "10250",
      .offset = offsetof(struct kube, kubelet_port), .help = "Kubelet port." },
    { .name = "kubelet_interval", .type = GL_OPT_DURATION, .def = "10s",
      .offset = offsetof(struct kube, kubelet_interval_ms),
      .help = "How often the kubelet's /pods is polled with use_kubelet." },
    { .name = "labels", .type = GL_OPT_BOOL, .def = "on", .offset = offsetof(struct kube, labels),
      .help = "Add the pod's labels as kubernetes.labels." },
    { .name = "annotations", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct kube, annotations),
      .help = "Add the pod's annotations as kubernetes.annotations." },
    { .name = "namespace_labels", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct kube, namespace_labels),
      .help = "Add the namespace's labels as kubernetes.namespace_labels (one more watch)." },
    { .name = "merge_log", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct kube, merge_log),
      .help = "Merge the keys of a log that is a JSON object into the record." },
    { .name = "merge_log_key", .type = GL_OPT_STR, .offset = offsetof(struct kube, merge_log_key),
      .help = "Put merged keys under this key instead of the record's top level." },
    { .name = "merge_log_trim", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct kube, merge_log_trim),
      .help = "Ignore spaces and newlines around the log when reading it as JSON." },
    { .name = "keep_log", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct kube, keep_log),
      .help = "Keep the log text once it was merged." },
    { .name = "annotation_hints", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct kube, hints_on),
      .help = "Honour the gleaner.io/exclude and gleaner.io/parser pod annotations." },
    { .name = "k8s-logging.exclude", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct kube, fb_exclude),
      .help = "Honour Fluent Bit's fluentbit.io/exclude pod annotation." },
    { .name = "k8s-logging.parser", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct kube, fb_parser),
      .help = "Honour Fluent Bit's fluentbit.io/parser pod annotation." },
    GL_HTTP_OPTIONS(struct kube, http),
    { 0 }
};

const struct gl_plugin gl_filter_kubernetes = {
    .kind = GL_FILTER, .name = "kubernetes", .data = GL_LOGS,
    .description = "Add pod metadata to container logs; merge JSON logs; annotation hints",
    .options = kube_options, .state_size = sizeof(struct kube),
    .init = kube_init, .start = kube_start, .filter = kube_filter,
    .filter_chunk = kube_filter_chunk, .hold = kube_hold,
    .stop = kube_stop, .destroy = kube_destroy,
};

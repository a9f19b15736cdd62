/*
 * The pod cache (pods.h): one per set of connection settings, shared and
 * reference-counted. This file owns the cache object, its hash tables
 * (pods by "namespace/name", namespaces by name, pods answered 404), the
 * service-account token, single-pod GETs (one per pod, none while a list is
 * under way, within a per-node rate limit, backed off after 429 and 5xx),
 * kubelet polling, and the expiry of deleted pods after cache_ttl.
 * pods_watch.c keeps the tables current from the API server; pods_decode.c
 * reads the objects.
 *
 * Memory: a pod costs its entry and key (about 80 bytes), struct gl_pod (120
 * bytes), its strings, one gl_pod_container per container and its labels and
 * annotations packed exactly. Measured on the test server's pods (two
 * containers, one init container, four labels, three annotations): about
 * 1.6 KiB each, so 200 pods hold about 320 KiB. Annotations such as
 * last-applied-configuration add their own size. A list page (500 pods) is
 * held twice while it is read (the body and its msgpack form), then freed.
 *
 * Invariant: the cache is freed only after its last libuv handle has closed;
 * once closing, no callback sends a request or calls a caller back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "k8s/pods_private.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"
#include "util/retry.h"

#define DEFAULT_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define DEFAULT_CA_FILE "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
#define DEFAULT_KUBELET_INTERVAL_MS 10000
#define DEFAULT_CACHE_TTL_MS (10 * 60 * 1000)
#define DEFAULT_TOKEN_REREAD_MS 60000
#define TOKEN_MAX 65536
#define RESPONSE_FLOOR (64u * 1024 * 1024) /* a list page of 500 pods can be tens of MiB */

static struct gl_pod_cache *caches;

static void fetches_kick(struct gl_pod_cache *c, uint64_t ms);

/* ---- tables ---- */

struct pod_entry {
    struct gl__entry e;
    struct gl_pod pod;
};

struct ns_entry {
    struct gl__entry e;
    msgpack_sbuffer labels;
};

/* Folds the high half in: slots are picked by the low bits, and FNV mixes upwards. */
static uint32_t hash_key(const char *s)
{
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, s, strlen(s));
    return (uint32_t)(h ^ (h >> 32));
}

static struct gl__entry *table_find(const struct gl__table *t, const char *key)
{
    if (t->n_slots == 0) {
        return NULL;
    }
    uint32_t h = hash_key(key);
    for (struct gl__entry *e = t->slots[h % t->n_slots]; e != NULL; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Adds e (its key set); the table doubles when it holds as many entries as slots. */
static void table_add(struct gl__table *t, struct gl__entry *e)
{
    if (t->count >= t->n_slots) {
        size_t n = t->n_slots ? t->n_slots * 2 : 64;
        struct gl__entry **slots = gl_calloc(n, sizeof(*slots));
        for (size_t i = 0; i < t->n_slots; i++) {
            while (t->slots[i] != NULL) {
                struct gl__entry *x = t->slots[i];
                t->slots[i] = x->next;
                x->next = slots[x->hash % n];
                slots[x->hash % n] = x;
            }
        }
        gl_free(t->slots);
        t->slots = slots;
        t->n_slots = n;
    }
    e->hash = hash_key(e->key);
    e->next = t->slots[e->hash % t->n_slots];
    t->slots[e->hash % t->n_slots] = e;
    t->count++;
}

/* Unlinks the entry at *link. */
static void table_unlink(struct gl__table *t, struct gl__entry **link)
{
    *link = (*link)->next;
    t->count--;
}

/* Takes the entry with this key out of the table; returns it, or NULL. */
static struct gl__entry *table_remove(struct gl__table *t, const char *key)
{
    struct gl__entry *e = table_find(t, key);
    if (e == NULL) {
        return NULL;
    }
    struct gl__entry **l = &t->slots[e->hash % t->n_slots];
    while (*l != e) {
        l = &(*l)->next;
    }
    table_unlink(t, l);
    return e;
}

static void pod_entry_free(struct gl__entry *e)
{
    struct pod_entry *p = (struct pod_entry *)e;
    gl__pod_close(&p->pod);
    gl_free(e->key);
    gl_free(p);
}

static void ns_entry_free(struct gl__entry *e)
{
    struct ns_entry *n = (struct ns_entry *)e;
    msgpack_sbuffer_destroy(&n->labels);
    gl_free(e->key);
    gl_free(n);
}

static void table_free(struct gl__table *t, void (*free_entry)(struct gl__entry *))
{
    for (size_t i = 0; i < t->n_slots; i++) {
        while (t->slots[i] != NULL) {
            struct gl__entry *e = t->slots[i];
            t->slots[i] = e->next;
            free_entry(e);
        }
    }
    gl_free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---- applying objects ---- */

static char *pod_key(const char *ns, const char *name)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_printf(&b, "%s/%s", ns, name);
    return gl_buf_take(&b);
}

/* Puts a decoded pod in the table (taking its contents), replacing the older one. */
static struct gl_pod *pod_store(struct gl_pod_cache *c, struct gl_pod *pod, uint64_t gen)
{
    char *key = pod_key(pod->namespace_name, pod->pod_name);
    struct pod_entry *p = (struct pod_entry *)table_find(&c->pods, key);

    if (p != NULL) {
        gl_free(key);
        gl__pod_close(&p->pod);
    } else {
        p = gl_calloc(1, sizeof(*p));
        p->e.key = key;
        table_add(&c->pods, &p->e);
    }
    p->pod = *pod;
    p->e.gen = gen;
    c->stats.pods = c->pods.count;
    c->stats.changes++;
    if (c->fetches != NULL) {
        fetches_kick(c, 0); /* the watch brought a pod someone may be asking for */
    }
    return &p->pod;
}

/* Watch or list item of kind pods: added, modified (stored), deleted (marked). */
static void apply_pod(struct gl_pod_cache *c, enum gl__event type, const msgpack_object *obj,
                      uint64_t gen)
{
    struct gl_pod pod;

    if (gl__pod_decode(obj, &pod) < 0) {
        c->stats.malformed++;
        return;
    }
    if (type != GL__EV_DELETED) {
        pod_store(c, &pod, gen);
        return;
    }
    char *key = pod_key(pod.namespace_name, pod.pod_name);
    struct pod_entry *p = (struct pod_entry *)table_find(&c->pods, key);
    if (p != NULL && p->pod.deleted_ms == 0) {
        p->pod.deleted_ms = uv_now(c->loop);
        c->stats.changes++;
    }
    gl_free(key);
    gl__pod_close(&pod);
}

/* After a complete list or poll: pods it did not have are marked deleted now. */
static void sweep_pods(struct gl_pod_cache *c, uint64_t gen)
{
    for (size_t i = 0; i < c->pods.n_slots; i++) {
        for (struct gl__entry *e = c->pods.slots[i]; e != NULL; e = e->next) {
            struct pod_entry *p = (struct pod_entry *)e;
            if (e->gen != gen && p->pod.deleted_ms == 0) {
                p->pod.deleted_ms = uv_now(c->loop);
                c->stats.changes++;
            }
        }
    }
}

/* Namespaces keep only their labels; a deleted one goes at once. */
static void apply_ns(struct gl_pod_cache *c, enum gl__event type, const msgpack_object *obj,
                     uint64_t gen)
{
    const msgpack_object *name = gl__pods_path(obj, "metadata", "name");

    if (name == NULL || name->type != MSGPACK_OBJECT_STR) {
        c->stats.malformed++;
        return;
    }
    char *key = gl_strndup(name->via.str.ptr, name->via.str.size);
    struct ns_entry *n = (struct ns_entry *)table_find(&c->nss, key);
    c->stats.changes++;
    if (type == GL__EV_DELETED) {
        struct gl__entry *gone = table_remove(&c->nss, key);
        if (gone != NULL) {
            ns_entry_free(gone);
        }
        gl_free(key);
        return;
    }
    if (n != NULL) {
        gl_free(key);
        msgpack_sbuffer_destroy(&n->labels);
    } else {
        n = gl_calloc(1, sizeof(*n));
        n->e.key = key;
        table_add(&c->nss, &n->e);
    }
    n->e.gen = gen;
    gl__pods_pack_map(&n->labels, gl__pods_path(obj, "metadata", "labels"));
}

static void sweep_nss(struct gl_pod_cache *c, uint64_t gen)
{
    for (size_t i = 0; i < c->nss.n_slots; i++) {
        struct gl__entry **l = &c->nss.slots[i];
        while (*l != NULL) {
            struct gl__entry *e = *l;
            if (e->gen != gen) {
                table_unlink(&c->nss, l);
                ns_entry_free(e);
                c->stats.changes++;
            } else {
                l = &e->next;
            }
        }
    }
}

/* A list of the node's pods is complete: what waited for it is answered, or gets its GET. */
static void pods_synced(struct gl_pod_cache *c, uint64_t gen)
{
    sweep_pods(c, gen);
    c->synced = true;
    fetches_kick(c, 0);
}

static const struct gl__kind kind_pods = { .name = "pods", .apply = apply_pod,
                                           .sweep = pods_synced };
static const struct gl__kind kind_nss = { .name = "namespaces", .apply = apply_ns,
                                          .sweep = sweep_nss };

/* ---- pods not found ---- */

/* Pods answered 404 are remembered by key with the time they may be asked for again. */
struct missing_entry {
    struct gl__entry e;
    uint64_t until_ms;
};

static void missing_entry_free(struct gl__entry *e)
{
    gl_free(e->key);
    gl_free(e);
}

static void missing_add(struct gl_pod_cache *c, const char *ns, const char *name)
{
    char *key = pod_key(ns, name);
    struct missing_entry *m = (struct missing_entry *)table_find(&c->missing, key);
    if (m != NULL) {
        gl_free(key);
    } else {
        m = gl_calloc(1, sizeof(*m));
        m->e.key = key;
        table_add(&c->missing, &m->e);
    }
    m->until_ms = uv_now(c->loop) + GL_PODS_REFETCH_MS;
}

static bool missing_now(struct gl_pod_cache *c, const char *ns, const char *name)
{
    char *key = pod_key(ns, name);
    struct missing_entry *m = (struct missing_entry *)table_find(&c->missing, key);
    gl_free(key);
    return m != NULL && uv_now(c->loop) < m->until_ms;
}

/* Frees the 404s whose time is up (on the expiry timer). */
static void missing_expire(struct gl_pod_cache *c, uint64_t now)
{
    for (size_t i = 0; i < c->missing.n_slots; i++) {
        struct gl__entry **l = &c->missing.slots[i];
        while (*l != NULL) {
            struct missing_entry *m = (struct missing_entry *)*l;
            if (now >= m->until_ms) {
                table_unlink(&c->missing, l);
                missing_entry_free(&m->e);
            } else {
                l = &(*l)->next;
            }
        }
    }
}

/* ---- expiry ---- */

/* Frees deleted pods older than cache_ttl; borrowed pointers last until this loop turn. */
static void on_expire(uv_timer_t *t)
{
    struct gl_pod_cache *c = t->data;
    uint64_t now = uv_now(c->loop);

    for (size_t i = 0; i < c->pods.n_slots; i++) {
        struct gl__entry **l = &c->pods.slots[i];
        while (*l != NULL) {
            struct pod_entry *p = (struct pod_entry *)*l;
            if (p->pod.deleted_ms != 0 && now - p->pod.deleted_ms >= c->s.cache_ttl_ms) {
                table_unlink(&c->pods, l);
                pod_entry_free(&p->e);
                c->stats.changes++;
            } else {
                l = &(*l)->next;
            }
        }
    }
    c->stats.pods = c->pods.count;
    missing_expire(c, now);
}

/* ---- token ---- */

/* Reads the token file; returns the trimmed token or NULL with the reason in why. */
static char *read_token(const char *path, const char **why)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    if (f == NULL) {
        *why = "cannot open";
        return NULL;
    }
    buf = gl_malloc(TOKEN_MAX + 1);
    n = fread(buf, 1, TOKEN_MAX, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) {
        n--;
    }
    if (n == 0 || n == TOKEN_MAX) {
        gl_free(buf);
        *why = n == 0 ? "empty" : "too long";
        return NULL;
    }
    buf[n] = '\0';
    return gl_realloc(buf, n + 1);
}

/*
 * Re-reads the token file when the last read is older than the re-read
 * interval, or now when forced (after a 401: a bound token was rotated). A
 * file that cannot be read keeps the token read before; the failure is logged
 * once until it changes.
 */
void gl__pods_token_refresh(struct gl_pod_cache *c, bool force)
{
    uint64_t now = uv_now(c->loop);
    const char *why = NULL;

    if (c->s.kube_token_file == NULL ||
        (!force && c->token_read_ms != 0 && now - c->token_read_ms < c->s.token_reread_ms)) {
        return;
    }
    c->token_read_ms = now != 0 ? now : 1;
    char *tok = read_token(c->s.kube_token_file, &why);
    if (tok == NULL) {
        if (c->token_file_error == NULL || strcmp(c->token_file_error, why) != 0) {
            gl_log_warn(NULL, "kubernetes token file %s: %s", c->s.kube_token_file, why);
            gl_free(c->token_file_error);
            c->token_file_error = gl_strdup(why);
        }
        return;
    }
    gl_free(c->token_file_error);
    c->token_file_error = NULL;
    gl_free(c->token);
    c->token = tok;
}

struct gl_http_request *gl__pods_request(struct gl_pod_cache *c, const char *url)
{
    struct gl_http_request *r = gl_http_new(&c->http, GL_GET, url);

    gl__pods_token_refresh(c, false);
    gl_http_header(r, "Accept", "application/json");
    if (c->token != NULL) {
        struct gl_buf auth;
        gl_buf_init(&auth);
        gl_buf_printf(&auth, "Bearer %s", c->token);
        gl_http_header(r, "Authorization", auth.data);
        gl_buf_close(&auth);
    }
    return r;
}

/* ---- single pods ---- */

void gl__rate_init(struct gl__rate *r, uint64_t per_second, uint64_t burst)
{
    r->interval_us = 1000000 / (per_second ? per_second : 1);
    r->tolerance_us = (burst ? burst - 1 : 0) * r->interval_us;
    r->tat_us = 0;
}

uint64_t gl__rate_take(struct gl__rate *r, uint64_t now_ms)
{
    uint64_t now = now_ms * 1000;
    if (r->tat_us > now + r->tolerance_us) {
        return (r->tat_us - r->tolerance_us - now + 999) / 1000;
    }
    r->tat_us = (r->tat_us > now ? r->tat_us : now) + r->interval_us;
    return 0;
}

static void fetch_free(struct gl__fetch *f)
{
    gl_free(f->ns);
    gl_free(f->name);
    gl_free(f->waiters);
    gl_free(f);
}

static void fetch_unlink(struct gl__fetch **list, struct gl__fetch *f)
{
    for (struct gl__fetch **l = list; *l != NULL; l = &(*l)->next) {
        if (*l == f) {
            *l = f->next;
            return;
        }
    }
}

/*
 * Calls every waiter still registered with pod (or NULL), then frees f. The
 * fetch stays listed while callbacks run so that gl_pods_cancel() finds it;
 * a caller asking again meanwhile gets a new fetch. Nobody is called back
 * once the cache is closing.
 */
static void fetch_answer(struct gl__fetch **list, struct gl__fetch *f, const struct gl_pod *pod)
{
    struct gl_pod_cache *c = f->cache;

    f->answering = true;
    for (size_t i = 0; i < f->n_waiters && !c->closing; i++) {
        struct gl__waiter w = f->waiters[i];
        if (w.cb != NULL) {
            f->waiters[i].cb = NULL;
            w.cb(w.data, pod);
        }
    }
    fetch_unlink(list, f);
    fetch_free(f);
}

static bool fetch_wanted(const struct gl__fetch *f)
{
    for (size_t i = 0; i < f->n_waiters; i++) {
        if (f->waiters[i].cb != NULL) {
            return true;
        }
    }
    return false;
}

static void on_fetch_timer(uv_timer_t *t);

/* Looks at the fetches after ms (0: on the next loop turn, never from inside a caller). */
static void fetches_kick(struct gl_pod_cache *c, uint64_t ms)
{
    if (c->closing) {
        return;
    }
    uint64_t due = uv_now(c->loop) + ms;
    if (uv_is_active((uv_handle_t *)&c->fetch_timer) &&
        uv_now(c->loop) + uv_timer_get_due_in(&c->fetch_timer) <= due) {
        return;
    }
    uv_timer_start(&c->fetch_timer, on_fetch_timer, ms, 0);
}

void gl__pods_gets_wait(struct gl_pod_cache *c, uint64_t ms)
{
    uv_update_time(c->loop); /* a Retry-After counts from now, not the iteration's start */
    uint64_t until = uv_now(c->loop) + ms;
    if (until > c->get_not_before_ms) {
        c->get_not_before_ms = until;
    }
}

uint64_t gl__pods_retry_after(const struct gl_http_response *resp)
{
    if (resp->err != NULL || (resp->status != 429 && resp->status < 500)) {
        return 0;
    }
    return gl_http_retry_after(gl_http_response_header(resp, "Retry-After"),
                               (int64_t)time(NULL));
}

/*
 * A GET failed and is to be sent again: the GETs wait the next back-off.
 * Failures of GETs that were already on the wire when an earlier one
 * started the back-off are the same news: they do not lengthen it, unless
 * their Retry-After asks for longer.
 */
static void get_failed(struct gl_pod_cache *c, uint64_t after_ms)
{
    if (uv_now(c->loop) < c->get_not_before_ms) {
        gl__pods_gets_wait(c, after_ms);
        return;
    }
    gl__pods_gets_wait(c, gl_retry_delay_after(c->s.retry_base_ms, c->s.retry_cap_ms,
                                               c->get_attempt++, gl_retry_random(&c->rnd),
                                               after_ms));
}

/*
 * The GET of one pod answered: 200 stores and passes the pod on, 404 is
 * remembered and passes NULL on. 429, 5xx and transport errors keep the
 * fetch for another GET after the back-off, during which no other GET goes;
 * other refusals (401, 403) pass NULL on.
 */
static void on_fetch(void *data, const struct gl_http_response *resp)
{
    struct gl__fetch *f = data;
    struct gl_pod_cache *c = f->cache;
    struct gl_pod *stored = NULL;
    struct gl_json_doc doc;

    f->in_flight = false;
    c->gets_in_flight--;
    if (c->closing) {
        return; /* freed with the cache */
    }
    c->stats.last_status = (uint64_t)resp->status;
    if (resp->err == NULL && (resp->status == 200 || resp->status == 404)) {
        c->get_attempt = 0;
    }
    if (resp->err == NULL && resp->status == 200) {
        struct gl_pod pod;
        if (gl_json_doc_parse(&doc, resp->body, resp->body_len, NULL) == 0 &&
            gl__pod_decode(&doc.root, &pod) == 0) {
            stored = pod_store(c, &pod, 0);
        } else {
            c->stats.malformed++;
        }
        gl_json_doc_free(&doc);
    } else if (resp->err == NULL && resp->status == 404) {
        missing_add(c, f->ns, f->name);
    } else {
        c->stats.errors++;
        if (resp->status == 429) {
            c->stats.throttled++;
        }
        if (resp->status == 401) {
            gl__pods_token_refresh(c, true);
        }
        bool again = gl_retry_http_status(resp->status);
        if (again) {
            get_failed(c, gl__pods_retry_after(resp));
        }
        gl_log_warn(NULL, "kubernetes: GET pod %s/%s: %s%s%ld%s", f->ns, f->name,
                    resp->err != NULL ? resp->err : "status ", resp->err != NULL ? ", status " : "",
                    resp->status, again ? ", asked again after the back-off" : "");
        if (again) {
            fetches_kick(c, 0);
            return;
        }
    }
    fetch_answer(&c->fetches, f, stored);
    fetches_kick(c, 0);
}

static void send_get(struct gl__fetch *f)
{
    struct gl_pod_cache *c = f->cache;
    struct gl_buf url;

    gl_buf_init(&url);
    gl_buf_printf(&url, "%s/api/v1/namespaces/", c->s.kube_url);
    gl__pods_escape(&url, f->ns);
    gl_buf_puts(&url, "/pods/");
    gl__pods_escape(&url, f->name);
    f->in_flight = true;
    c->gets_in_flight++;
    c->stats.requests_get++;
    gl_http_send(gl__pods_request(c, url.data), on_fetch, f);
    gl_buf_close(&url);
}

/*
 * Whether a GET may go now; when not, *wake is lowered to when one may. None
 * goes while a list of the node's pods is under way (its end looks again),
 * before a back-off or Retry-After is over, while the one GET sent after
 * failures has not answered, or over the rate limit.
 */
static bool get_allowed(struct gl_pod_cache *c, uint64_t now, uint64_t *wake)
{
    if (gl_pods_listing(c) || (c->get_attempt > 0 && c->gets_in_flight > 0)) {
        return false;
    }
    if (now < c->get_not_before_ms) {
        *wake = c->get_not_before_ms < *wake ? c->get_not_before_ms : *wake;
        return false;
    }
    uint64_t ms = gl__rate_take(&c->get_rate, now);
    if (ms > 0) {
        *wake = now + ms < *wake ? now + ms : *wake;
        return false;
    }
    return true;
}

/*
 * Goes over the fetches in the order asked: those nobody waits for any more
 * go; those the cache or a recent 404 can answer are answered; the rest wait
 * for the list, or get their GET as the limits allow, the first asked first.
 */
static void fetches_pump(struct gl_pod_cache *c)
{
    uint64_t now = uv_now(c->loop), wake = UINT64_MAX;
    bool blocked = false;

    for (struct gl__fetch *f = c->fetches, *next; f != NULL && !c->closing; f = next) {
        next = f->next;
        if (f->in_flight) {
            continue;
        }
        if (!fetch_wanted(f)) {
            fetch_unlink(&c->fetches, f);
            fetch_free(f);
            continue;
        }
        const struct gl_pod *pod = gl_pods_find(c, f->ns, f->name);
        if (pod != NULL || (!gl_pods_listing(c) && missing_now(c, f->ns, f->name))) {
            c->stats.gets_avoided++;
            fetch_answer(&c->fetches, f, pod);
            continue;
        }
        if (blocked || !get_allowed(c, now, &wake)) {
            blocked = true;
            if (!f->delayed && !gl_pods_listing(c)) {
                f->delayed = true;
                c->stats.gets_delayed++;
            }
            continue;
        }
        send_get(f);
    }
    if (wake != UINT64_MAX) {
        fetches_kick(c, wake - now);
    }
}

static void on_fetch_timer(uv_timer_t *t)
{
    fetches_pump(t->data);
}

static struct gl__fetch *fetch_new(struct gl_pod_cache *c, const char *ns, const char *name)
{
    struct gl__fetch *f = gl_calloc(1, sizeof(*f));
    f->cache = c;
    f->ns = gl_strdup(ns);
    f->name = gl_strdup(name);
    return f;
}

static void fetch_wait(struct gl__fetch *f, gl_pods_cb cb, void *data)
{
    if (f->n_waiters == f->cap_waiters) {
        f->cap_waiters = f->cap_waiters ? f->cap_waiters * 2 : 4;
        f->waiters = gl_realloc(f->waiters, f->cap_waiters * sizeof(*f->waiters));
    }
    f->waiters[f->n_waiters++] = (struct gl__waiter){ .cb = cb, .data = data };
}

static struct gl__fetch *fetch_find(struct gl__fetch *list, const char *ns, const char *name)
{
    for (struct gl__fetch *f = list; f != NULL; f = f->next) {
        if (!f->answering && strcmp(f->ns, ns) == 0 && strcmp(f->name, name) == 0) {
            return f;
        }
    }
    return NULL;
}

static void kubelet_poll(struct gl_pod_cache *c);

/*
 * Asks for one pod: callers of the same pod share one fetch, answered from
 * the pump on a later loop turn (see pods.h). With use_kubelet the API
 * server is not asked: the caller is answered after the next poll.
 */
void gl_pods_fetch(struct gl_pod_cache *c, const char *ns, const char *name, gl_pods_cb cb,
                   void *data)
{
    struct gl__fetch **list = c->s.use_kubelet ? &c->kubelet_waiting : &c->fetches;
    struct gl__fetch *f = fetch_find(*list, ns, name);

    if (f == NULL) {
        f = fetch_new(c, ns, name);
        if (c->s.use_kubelet) {
            f->next = *list;
            *list = f;
            kubelet_poll(c);
        } else {
            struct gl__fetch **l = list;
            while (*l != NULL) {
                l = &(*l)->next;
            }
            *l = f;
        }
    }
    fetch_wait(f, cb, data);
    if (!c->s.use_kubelet) {
        fetches_kick(c, 0);
    }
}

static void cancel_in(struct gl__fetch *list, gl_pods_cb cb, void *data)
{
    for (struct gl__fetch *f = list; f != NULL; f = f->next) {
        for (size_t i = 0; i < f->n_waiters; i++) {
            if (f->waiters[i].cb == cb && f->waiters[i].data == data) {
                f->waiters[i].cb = NULL;
            }
        }
    }
}

void gl_pods_cancel(struct gl_pod_cache *c, gl_pods_cb cb, void *data)
{
    cancel_in(c->fetches, cb, data);
    cancel_in(c->kubelet_waiting, cb, data);
}

/* ---- kubelet ---- */

/* Answers the fetches waiting for a poll from what the cache now holds. */
static void answer_kubelet_waiting(struct gl_pod_cache *c)
{
    while (c->kubelet_waiting != NULL && !c->closing) {
        struct gl__fetch *f = c->kubelet_waiting;
        const struct gl_pod *pod = gl_pods_find(c, f->ns, f->name);
        fetch_answer(&c->kubelet_waiting, f, pod != NULL && pod->deleted_ms == 0 ? pod : NULL);
    }
}

/* The kubelet's PodList replaces the set: pods it no longer has are marked deleted. */
static void on_kubelet(void *data, const struct gl_http_response *resp)
{
    struct gl_pod_cache *c = data;
    struct gl_json_doc doc;

    c->kubelet_busy = false;
    if (c->closing) {
        return;
    }
    c->stats.last_status = (uint64_t)resp->status;
    if (resp->err != NULL || resp->status != 200) {
        c->stats.errors++;
        if (resp->status == 401) {
            gl__pods_token_refresh(c, true);
        }
        gl_log_warn(NULL, "kubernetes: kubelet %s/pods: %s (status %ld)", c->s.kubelet_url,
                    resp->err != NULL ? resp->err : "refused", resp->status);
    } else if (gl_json_doc_parse(&doc, resp->body, resp->body_len, NULL) == 0) {
        const msgpack_object *items = gl_json_map_get(&doc.root, "items");
        uint64_t gen = ++c->gen;
        for (uint32_t i = 0; items != NULL && items->type == MSGPACK_OBJECT_ARRAY &&
                             i < items->via.array.size; i++) {
            apply_pod(c, GL__EV_ADDED, &items->via.array.ptr[i], gen);
        }
        pods_synced(c, gen);
        gl_json_doc_free(&doc);
    } else {
        c->stats.malformed++;
        gl_json_doc_free(&doc);
    }
    answer_kubelet_waiting(c);
}

static void kubelet_poll(struct gl_pod_cache *c)
{
    if (c->kubelet_busy || c->closing) {
        return;
    }
    struct gl_buf url;
    gl_buf_init(&url);
    gl_buf_printf(&url, "%s/pods", c->s.kubelet_url);
    c->kubelet_busy = true;
    c->stats.requests_list++;
    gl_http_send(gl__pods_request(c, url.data), on_kubelet, c);
    gl_buf_close(&url);
}

static void on_kubelet_timer(uv_timer_t *t)
{
    kubelet_poll(t->data);
}

/* ---- settings ---- */

static char *dup_or(const char *s, const char *def)
{
    return s != NULL && s[0] != '\0' ? gl_strdup(s) : (def != NULL ? gl_strdup(def) : NULL);
}

/* The API server from the in-cluster variables, or NULL. */
static char *in_cluster_url(void)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    struct gl_buf b;

    if (host == NULL || host[0] == '\0') {
        return NULL;
    }
    gl_buf_init(&b);
    gl_buf_printf(&b, strchr(host, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s", host,
                  port != NULL && port[0] != '\0' ? port : "443");
    return gl_buf_take(&b);
}

static void trim_slash(char *url)
{
    size_t n = url != NULL ? strlen(url) : 0;
    while (n > 0 && url[n - 1] == '/') {
        url[--n] = '\0';
    }
}

/* Copies s into c->s with every default applied. */
static void resolve(struct gl_pods_settings *r, const struct gl_pods_settings *s)
{
    char *cluster = in_cluster_url();
    const char *node_ip = getenv("NODE_IP");
    struct gl_buf kubelet;

    gl_buf_init(&kubelet);
    gl_buf_printf(&kubelet, "https://%s:10250", node_ip && node_ip[0] ? node_ip : "127.0.0.1");
    *r = *s;
    r->kube_url = dup_or(s->kube_url, cluster);
    r->kube_token_file = dup_or(s->kube_token_file, DEFAULT_TOKEN_FILE);
    r->kube_ca_file = dup_or(s->kube_ca_file, NULL);
    r->node_name = dup_or(s->node_name, getenv("NODE_NAME"));
    r->kubelet_url = dup_or(s->kubelet_url, kubelet.data);
    trim_slash(r->kube_url);
    trim_slash(r->kubelet_url);
    r->kubelet_interval_ms = s->kubelet_interval_ms ? s->kubelet_interval_ms
                                                    : DEFAULT_KUBELET_INTERVAL_MS;
    r->cache_ttl_ms = s->cache_ttl_ms ? s->cache_ttl_ms : DEFAULT_CACHE_TTL_MS;
    r->token_reread_ms = s->token_reread_ms ? s->token_reread_ms : DEFAULT_TOKEN_REREAD_MS;
    r->get_rate = s->get_rate ? s->get_rate : GL_PODS_GET_RATE;
    r->get_burst = s->get_burst ? s->get_burst : GL_PODS_GET_BURST;
    r->retry_base_ms = s->retry_base_ms ? s->retry_base_ms : GL__PODS_RETRY_BASE_MS;
    r->retry_cap_ms = s->retry_cap_ms ? s->retry_cap_ms : GL__PODS_RETRY_CAP_MS;
    if (r->kube_ca_file == NULL && access(DEFAULT_CA_FILE, R_OK) == 0) {
        r->kube_ca_file = gl_strdup(DEFAULT_CA_FILE);
    }
    gl_buf_close(&kubelet);
    gl_free(cluster);
}

static void settings_free(struct gl_pods_settings *s)
{
    gl_free(s->kube_url);
    gl_free(s->kube_token_file);
    gl_free(s->kube_ca_file);
    gl_free(s->node_name);
    gl_free(s->kubelet_url);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The same node's pods from the same place: what pod discovery needs of a cache (share). */
static bool same_source(const struct gl_pods_settings *a, const struct gl_pods_settings *b)
{
    return same_str(a->kube_url, b->kube_url) && same_str(a->node_name, b->node_name) &&
           a->use_kubelet == b->use_kubelet &&
           (!a->use_kubelet || same_str(a->kubelet_url, b->kubelet_url));
}

static bool same_settings(const struct gl_pods_settings *a, const struct gl_pods_settings *b)
{
    return same_str(a->kube_url, b->kube_url) && same_str(a->kube_token_file,
                                                          b->kube_token_file) &&
           same_str(a->kube_ca_file, b->kube_ca_file) && same_str(a->node_name, b->node_name) &&
           a->use_kubelet == b->use_kubelet && same_str(a->kubelet_url, b->kubelet_url) &&
           a->kubelet_interval_ms == b->kubelet_interval_ms &&
           a->cache_ttl_ms == b->cache_ttl_ms && a->namespace_labels == b->namespace_labels &&
           a->token_reread_ms == b->token_reread_ms && a->get_rate == b->get_rate &&
           a->get_burst == b->get_burst && a->retry_base_ms == b->retry_base_ms &&
           a->retry_cap_ms == b->retry_cap_ms;
}

/* ---- lifecycle ---- */

/* Checks what the mode needs; returns NULL or the message for the caller's err. */
static const char *check(const struct gl_pods_settings *s)
{
    if (s->use_kubelet) {
        return s->namespace_labels && s->kube_url == NULL
                   ? "namespace_labels needs the API server: set kube_url or run in a cluster"
                   : NULL;
    }
    if (s->kube_url == NULL) {
        return "no API server: set kube_url or run in a cluster (KUBERNETES_SERVICE_HOST)";
    }
    if (s->node_name == NULL) {
        return "no node name: set NODE_NAME (the downward API's spec.nodeName)";
    }
    return NULL;
}

/* The cache's own HTTP client: the caller's settings, the cluster's CA, room for a list page. */
static int http_init(struct gl_pod_cache *c, const struct gl_http_client *http)
{
    memset(&c->http, 0, sizeof(c->http));
    c->http.tls_verify = http->tls_verify;
    c->http.tls_ca_file = dup_or(c->s.kube_ca_file, http->tls_ca_file);
    c->http.tls_crt_file = dup_or(http->tls_crt_file, NULL);
    c->http.tls_key_file = dup_or(http->tls_key_file, NULL);
    c->http.connect_timeout_ms = http->connect_timeout_ms;
    c->http.timeout_ms = http->timeout_ms;
    c->http.response_max = http->response_max > RESPONSE_FLOOR ? http->response_max
                                                               : RESPONSE_FLOOR;
    return gl_http_client_init(&c->http);
}

/* Arms the timers and starts listing (or polling). */
static void cache_start(struct gl_pod_cache *c)
{
    struct gl_buf sel;
    uint64_t period = c->s.cache_ttl_ms / 2;

    uv_timer_init(c->loop, &c->expire_timer);
    uv_timer_init(c->loop, &c->kubelet_timer);
    uv_timer_init(c->loop, &c->fetch_timer);
    c->expire_timer.data = c;
    c->kubelet_timer.data = c;
    c->fetch_timer.data = c;
    c->handles_open = 3;
    gl__rate_init(&c->get_rate, c->s.get_rate, c->s.get_burst);
    period = period < 50 ? 50 : (period > 30000 ? 30000 : period);
    uv_timer_start(&c->expire_timer, on_expire, period, period);
    gl_buf_init(&sel);
    gl_buf_puts(&sel, "spec.nodeName=");
    gl_buf_puts(&sel, c->s.node_name != NULL ? c->s.node_name : "");
    gl__watch_init(&c->pods_watch, c, &kind_pods, "/api/v1/pods", sel.data);
    gl__watch_init(&c->ns_watch, c, &kind_nss, "/api/v1/namespaces", "");
    gl_buf_close(&sel);
    if (c->s.use_kubelet) {
        uv_timer_start(&c->kubelet_timer, on_kubelet_timer, 0, c->s.kubelet_interval_ms);
    } else {
        gl__watch_start(&c->pods_watch);
    }
    if (c->s.namespace_labels) {
        gl__watch_start(&c->ns_watch);
    }
}

struct gl_pod_cache *gl_pods_acquire(uv_loop_t *loop, const struct gl_pods_settings *s,
                                     const struct gl_http_client *http, char *err,
                                     size_t errlen)
{
    struct gl_pod_cache *c = gl_calloc(1, sizeof(*c));

    resolve(&c->s, s);
    for (struct gl_pod_cache *o = caches; o != NULL; o = o->next) {
        if (o->loop == loop && !o->closing &&
            (s->share ? same_source(&o->s, &c->s)
                      : o->tls_verify == http->tls_verify && same_settings(&o->s, &c->s))) {
            settings_free(&c->s);
            gl_free(c);
            o->refs++;
            return o;
        }
    }
    const char *why = check(&c->s);
    if (why != NULL || http_init(c, http) < 0) {
        snprintf(err, errlen, "%s", why != NULL ? why : "the HTTP client cannot start");
        gl_http_client_close(&c->http);
        settings_free(&c->s);
        gl_free(c);
        return NULL;
    }
    c->loop = loop;
    c->refs = 1;
    c->tls_verify = http->tls_verify;
    c->rnd = uv_hrtime() | 1;
    c->next = caches;
    caches = c;
    gl__pods_token_refresh(c, true);
    cache_start(c);
    return c;
}

/* Frees the cache once its last handle has closed. */
static void on_handle_closed(uv_handle_t *h)
{
    struct gl_pod_cache *c = h->data;
    if (--c->handles_open > 0) {
        return;
    }
    table_free(&c->pods, pod_entry_free);
    table_free(&c->nss, ns_entry_free);
    table_free(&c->missing, missing_entry_free);
    gl__watch_free(&c->pods_watch);
    gl__watch_free(&c->ns_watch);
    while (c->fetches != NULL) {
        struct gl__fetch *f = c->fetches;
        c->fetches = f->next;
        fetch_free(f);
    }
    while (c->kubelet_waiting != NULL) {
        struct gl__fetch *f = c->kubelet_waiting;
        c->kubelet_waiting = f->next;
        fetch_free(f);
    }
    settings_free(&c->s);
    gl_free(c->token);
    gl_free(c->token_file_error);
    gl_free(c);
}

/*
 * Drops a reference; the last one cancels the requests in flight (their
 * callbacks call nobody back), closes the handles and frees the cache after
 * they have closed (the loop must run once more).
 */
void gl_pods_release(struct gl_pod_cache *c)
{
    if (c == NULL || --c->refs > 0) {
        return;
    }
    c->closing = true;
    for (struct gl_pod_cache **l = &caches; *l != NULL; l = &(*l)->next) {
        if (*l == c) {
            *l = c->next;
            break;
        }
    }
    gl_http_client_close(&c->http);
    gl__watch_close(&c->pods_watch, on_handle_closed);
    gl__watch_close(&c->ns_watch, on_handle_closed);
    uv_close((uv_handle_t *)&c->expire_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->kubelet_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->fetch_timer, on_handle_closed);
}

/* ---- lookups ---- */

const struct gl_pod *gl_pods_find(struct gl_pod_cache *c, const char *ns, const char *name)
{
    char *key = pod_key(ns, name);
    struct pod_entry *p = (struct pod_entry *)table_find(&c->pods, key);
    gl_free(key);
    return p != NULL ? &p->pod : NULL;
}

const msgpack_sbuffer *gl_pods_namespace_labels(struct gl_pod_cache *c, const char *ns)
{
    if (!c->s.namespace_labels) {
        return NULL;
    }
    struct ns_entry *n = (struct ns_entry *)table_find(&c->nss, ns);
    return n != NULL ? &n->labels : NULL;
}

const struct gl_pods_stats *gl_pods_stats(const struct gl_pod_cache *c)
{
    return &c->stats;
}

bool gl_pods_synced(const struct gl_pod_cache *c)
{
    return c->synced;
}

bool gl_pods_listing(const struct gl_pod_cache *c)
{
    return !c->s.use_kubelet && c->pods_watch.listing;
}

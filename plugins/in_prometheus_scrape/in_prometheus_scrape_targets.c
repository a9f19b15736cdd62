/*
 * Targets, as Prometheus 2.42 makes them from discovery labels
 * (scrape/target.go's PopulateLabels): job, __scheme__, __metrics_path__,
 * __scrape_interval__ and __scrape_timeout__ added where absent, the
 * relabel_configs run (the pod annotations' rules first, for pods), the
 * address given its scheme's port when it has none, labels starting with
 * __ left out, instance defaulted to the address. A target is known by the
 * hash of its labels and URL: a discovery round that offers it again keeps
 * it (its schedule and the series it had), one that does not ends it.
 *
 * Scrapes are spread over the interval: each target starts at its own
 * offset, the hash of its identity and this node's seed modulo the
 * interval, counted from the wall clock as Prometheus does, so neither the
 * targets of one node nor the nodes of a cluster scrape together.
 *
 * Pods become discovery labels as Prometheus' kubernetes_sd role pod makes
 * them (__meta_kubernetes_pod_*): one set per declared container port, or
 * one per container without ports; with a prometheus.io/port annotation,
 * one per pod, on that port.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/msgpack_scan.h"
#include "core/log.h"
#include "in_prometheus_scrape.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

#define META "__meta_kubernetes_"

/* ---- labels -------------------------------------------------------------- */

static void set_str(struct gl_labelset *ls, const char *name, const char *value)
{
    if (value != NULL) {
        gl_labelset_set(ls, name, strlen(name), value, strlen(value));
    }
}

/* Sets a label whose name or value is made here: both copied to the set's arena. */
static void set_copy(struct gl_labelset *ls, const char *name, size_t nlen, const char *value,
                     size_t vlen)
{
    const char *n = gl_labelset_keep(ls, name, nlen);
    const char *v = vlen > 0 ? gl_labelset_keep(ls, value, vlen) : NULL;
    gl_labelset_set(ls, n, nlen, v, vlen);
}

static void set_if_absent(struct gl_labelset *ls, const char *name, const char *value)
{
    if (gl_labelset_get(ls, name, strlen(name)) == NULL) {
        set_copy(ls, name, strlen(name), value, strlen(value));
    }
}

/* A duration as Prometheus prints one (model.Duration): 15s, 1m30s, 500ms. */
static void duration_text(char *out, size_t cap, uint64_t ms)
{
    static const struct {
        const char *unit;
        uint64_t mult;
        bool exact;
    } units[] = { { "y", 31536000000ull, true }, { "w", 604800000ull, true },
                  { "d", 86400000ull, false },   { "h", 3600000ull, false },
                  { "m", 60000ull, false },      { "s", 1000ull, false },
                  { "ms", 1ull, false } };
    size_t n = 0;
    out[0] = '\0';
    if (ms == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if ((units[i].exact && ms % units[i].mult != 0) || ms / units[i].mult == 0) {
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "%llu%s",
                              (unsigned long long)(ms / units[i].mult), units[i].unit);
        ms %= units[i].mult;
    }
}

/* ---- addresses ------------------------------------------------------------ */

/*
 * Whether an address has a port, as Go's SplitHostPort sees it: "h:p",
 * "[v6]:p" yes; "h" and "[v6]" no (a port is added); "a:b:c" neither.
 */
static int has_port(const char *a)
{
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        return close == NULL ? -1 : close[1] == ':' ? 1 : close[1] == '\0' ? 0 : -1;
    }
    const char *colon = strchr(a, ':');
    return colon == NULL ? 0 : strchr(colon + 1, ':') == NULL ? 1 : -1;
}

/* Appends __param_<name> labels as the URL's query, escaped. */
static void put_params(struct gl_buf *url, const struct gl_labelset *ls)
{
    bool first = true;
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct gl_label *l = &ls->l[i];
        if (l->name_len <= 8 || memcmp(l->name, "__param_", 8) != 0) {
            continue;
        }
        gl_buf_putc(url, first ? '?' : '&');
        first = false;
        gl_buf_append(url, l->name + 8, l->name_len - 8);
        gl_buf_putc(url, '=');
        for (uint32_t k = 0; k < l->value_len; k++) {
            unsigned char c = (unsigned char)l->value[k];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '~') {
                gl_buf_putc(url, (char)c);
            } else {
                gl_buf_printf(url, "%%%02X", c);
            }
        }
    }
}

/*
 * The URL of a relabelled set, its address given a port when it has none.
 * Returns NULL with the reason logged when the set cannot be scraped.
 */
static char *target_url(struct scrape *s, struct gl_labelset *ls)
{
    const struct gl_label *a = gl_labelset_get(ls, "__address__", 11);
    const struct gl_label *sc = gl_labelset_get(ls, "__scheme__", 10);
    const struct gl_label *path = gl_labelset_get(ls, "__metrics_path__", 16);
    char addr[512], scheme[16];
    if (a == NULL || a->value_len >= sizeof(addr) - 8) {
        gl_log_warn(s->ins, "a target without a usable __address__ is left out");
        return NULL;
    }
    snprintf(addr, sizeof(addr), "%.*s", (int)a->value_len, a->value);
    snprintf(scheme, sizeof(scheme), "%.*s", sc ? (int)sc->value_len : 4, sc ? sc->value : "http");
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        gl_log_warn(s->ins, "target %s: invalid scheme \"%s\"", addr, scheme);
        return NULL;
    }
    if (has_port(addr) == 0) {
        strcat(addr, strcmp(scheme, "https") == 0 ? ":443" : ":80");
        set_copy(ls, "__address__", 11, addr, strlen(addr));
    }
    if (strchr(addr, '/') != NULL) {
        gl_log_warn(s->ins, "target \"%s\" is not a valid hostname", addr);
        return NULL;
    }
    struct gl_buf url;
    gl_buf_init(&url);
    gl_buf_printf(&url, "%s://%s", scheme, addr);
    if (path != NULL && path->value[0] != '/') {
        gl_buf_putc(&url, '/');
    }
    if (path != NULL) {
        gl_buf_append(&url, path->value, path->value_len);
    }
    put_params(&url, ls);
    return gl_buf_take(&url);
}

/* ---- targets ------------------------------------------------------------- */

static void on_timer(uv_timer_t *h)
{
    scrape_now(h->data);
}

/*
 * Keeps the labels not starting with __ (instance defaulted to the address
 * by the caller), each string NUL-terminated in one block; returns their
 * hash with the URL's: the target's identity.
 */
static uint64_t final_labels(struct target *t, const struct gl_labelset *ls, const char *url)
{
    struct gl_buf text;
    uint32_t n = 0;
    uint64_t h = gl_hash_words64(GL_HASH_FNV1A64_BASIS, url, strlen(url));
    gl_buf_init(&text);
    t->labels = gl_calloc(ls->n + 1, sizeof(*t->labels));
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct gl_label *l = &ls->l[i];
        if (l->name_len >= 2 && l->name[0] == '_' && l->name[1] == '_') {
            continue;
        }
        t->labels[n] = *l;
        t->labels[n].name = (const char *)text.len; /* an offset until the text is whole */
        gl_buf_append(&text, l->name, l->name_len);
        gl_buf_putc(&text, '\0');
        t->labels[n].value = (const char *)text.len;
        gl_buf_append(&text, l->value, l->value_len);
        gl_buf_putc(&text, '\0');
        h = gl_hash_words64(h, l->name, l->name_len);
        h = gl_hash_words64(h, l->value, l->value_len);
        n++;
    }
    t->labels_text = gl_buf_take(&text);
    t->instance = "";
    for (uint32_t i = 0; i < n; i++) {
        t->labels[i].name = t->labels_text + (size_t)t->labels[i].name;
        t->labels[i].value = t->labels_text + (size_t)t->labels[i].value;
        if (t->labels[i].name_len == 8 && memcmp(t->labels[i].name, "instance", 8) == 0) {
            t->instance = t->labels[i].value;
        }
    }
    t->n_labels = n;
    return h;
}

static struct target *find_target(struct scrape *s, int source, uint64_t id)
{
    for (struct target *t = s->targets; t != NULL; t = t->next) {
        if (t->source == source && t->id == id) {
            return t;
        }
    }
    return NULL;
}

/* The first scrape at the target's own offset in the interval, then every interval. */
static void schedule(struct scrape *s, struct target *t)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    uint64_t iv = s->interval_ms;
    uint64_t offset = (t->id ^ s->seed) % iv;
    uint64_t delay = (offset + iv - ms % iv) % iv;
    uv_timer_init(s->ins->loop, &t->timer);
    t->timer.data = t;
    t->timer_open = true;
    s->handles_open++;
    uv_timer_start(&t->timer, on_timer, delay, iv);
}

/* The labels and URL of the set in s->target_ls after relabelling, or a reason to skip it. */
static char *populate(struct scrape *s, const struct gl_relabel *rules)
{
    struct gl_labelset *ls = &s->target_ls;
    char iv[32], to[32];
    duration_text(iv, sizeof(iv), s->interval_ms);
    duration_text(to, sizeof(to), s->timeout_ms);
    set_if_absent(ls, "job", s->job_name);
    set_if_absent(ls, "__scrape_interval__", iv);
    set_if_absent(ls, "__scrape_timeout__", to);
    set_if_absent(ls, "__metrics_path__", s->metrics_path);
    set_if_absent(ls, "__scheme__", s->tls ? "https" : "http");
    if ((rules != NULL && !gl_relabel_apply(rules, ls)) || !gl_relabel_apply(&s->relabel, ls)) {
        return NULL;
    }
    char *url = target_url(s, ls);
    if (url == NULL) {
        return NULL;
    }
    const struct gl_label *addr = gl_labelset_get(ls, "__address__", 11);
    if (gl_labelset_get(ls, "instance", 8) == NULL) {
        gl_labelset_set(ls, "instance", 8, addr->value, addr->value_len);
    }
    for (uint32_t i = 0; i < ls->n; i++) {
        if (!gl_prom_utf8_valid(ls->l[i].value, ls->l[i].value_len)) {
            gl_log_warn(s->ins, "target %s: invalid label value for %.*s", url,
                        (int)ls->l[i].name_len, ls->l[i].name);
            gl_free(url);
            return NULL;
        }
    }
    return url;
}

int targets_offer(struct scrape *s, int source, struct group *g, const struct gl_relabel *rules,
                  uint64_t gen)
{
    char *url = populate(s, rules);
    if (url == NULL) {
        return 0; /* dropped by relabelling, or logged */
    }
    struct target *t = gl_calloc(1, sizeof(*t));
    t->id = final_labels(t, &s->target_ls, url);
    struct target *known = find_target(s, source, t->id);
    if (known != NULL) {
        known->gen = gen;
        gl_free(t->labels);
        gl_free(t->labels_text);
        gl_free(t);
        gl_free(url);
        return 0;
    }
    t->s = s;
    t->group = g;
    t->source = source;
    t->gen = gen;
    t->url = url;
    seen_init(&t->prev);
    t->next = s->targets;
    s->targets = t;
    (*s->m.targets)++;
    schedule(s, t);
    gl_log_debug(s->ins, "target %s added: %s", t->instance, t->url);
    return 0;
}

void targets_sweep(struct scrape *s, int source, uint64_t gen)
{
    struct target **l = &s->targets;
    while (*l != NULL) {
        struct target *t = *l;
        if (t->source == source && t->gen != gen) {
            *l = t->next;
            gl_log_debug(s->ins, "target %s removed: %s", t->instance, t->url);
            scrape_end(t, true);
        } else {
            l = &t->next;
        }
    }
}

void targets_remove_all(struct scrape *s)
{
    while (s->targets != NULL) {
        struct target *t = s->targets;
        s->targets = t->next;
        scrape_end(t, false);
    }
}

/* ---- pods ---------------------------------------------------------------- */

/* Appends prefix + name with what Prometheus' label names cannot hold made '_'. */
static size_t sanitized(char *out, size_t cap, const char *prefix, const char *name, size_t len)
{
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    return n;
}

/*
 * Sets <prefix>_<key> to each value of a pod's labels or annotations (a
 * msgpack map of strings), and <prefix>present_<key> to "true".
 */
static void set_map(struct gl_labelset *ls, const msgpack_sbuffer *map, const char *prefix,
                    const char *present)
{
    const char *p = map->data;
    size_t n = map->size, h;
    uint32_t count, klen, vlen;
    char name[320];
    if (p == NULL || (h = gl_msgpack_map_header(p, n, &count)) == 0) {
        return;
    }
    p += h;
    n -= h;
    for (uint32_t i = 0; i < count; i++) {
        size_t kh = gl_msgpack_str_header(p, n, &klen);
        if (kh == 0 || kh + klen > n) {
            return;
        }
        const char *key = p + kh;
        p += kh + klen;
        n -= kh + klen;
        size_t vh = gl_msgpack_str_header(p, n, &vlen);
        size_t skip = vh != 0 && vh + vlen <= n ? vh + vlen : gl_msgpack_skip(p, n);
        if (skip == 0) {
            return;
        }
        size_t nl = sanitized(name, sizeof(name), prefix, key, klen);
        set_copy(ls, name, nl, vh != 0 ? p + vh : "", vh != 0 ? vlen : 0);
        nl = sanitized(name, sizeof(name), present, key, klen);
        set_copy(ls, name, nl, "true", 4);
        p += skip;
        n -= skip;
    }
}

/* The labels every target of a pod has. */
static void pod_meta(struct gl_labelset *ls, const struct gl_pod *pod)
{
    gl_labelset_reset(ls);
    set_str(ls, META "namespace", pod->namespace_name);
    set_str(ls, META "pod_name", pod->pod_name);
    set_str(ls, META "pod_ip", pod->pod_ip);
    set_str(ls, META "pod_ready", pod->ready ? "true" : "false");
    set_str(ls, META "pod_phase", pod->phase);
    set_str(ls, META "pod_node_name", pod->host);
    set_str(ls, META "pod_host_ip", pod->host_ip);
    set_str(ls, META "pod_uid", pod->pod_id);
    set_str(ls, META "pod_controller_kind", pod->owner_kind);
    set_str(ls, META "pod_controller_name", pod->owner_name);
    set_map(ls, &pod->labels, META "pod_label_", META "pod_labelpresent_");
    set_map(ls, &pod->annotations, META "pod_annotation_", META "pod_annotationpresent_");
}

/* One target of a pod: its container and port (NULL: the pod's IP alone). */
static void offer_container(struct scrape *s, const struct gl_pod *pod,
                            const struct gl_pod_container *k, const struct gl_pod_port *port,
                            uint64_t gen)
{
    struct gl_labelset *ls = &s->target_ls;
    char addr[96], num[16];
    bool v6 = strchr(pod->pod_ip, ':') != NULL;
    pod_meta(ls, pod);
    if (port != NULL) {
        snprintf(num, sizeof(num), "%d", (int)port->number);
        snprintf(addr, sizeof(addr), v6 ? "[%s]:%s" : "%s:%s", pod->pod_ip, num);
        set_copy(ls, META "pod_container_port_number", strlen(META "pod_container_port_number"),
                 num, strlen(num));
        set_str(ls, META "pod_container_port_name", port->name);
        set_str(ls, META "pod_container_port_protocol", port->protocol ? port->protocol : "TCP");
    } else {
        snprintf(addr, sizeof(addr), "%s", pod->pod_ip);
    }
    set_copy(ls, "__address__", 11, addr, strlen(addr));
    if (k != NULL) {
        set_str(ls, META "pod_container_name", k->name);
        set_str(ls, META "pod_container_image", k->image);
        set_str(ls, META "pod_container_id", k->container_id);
        set_str(ls, META "pod_container_init", k->init ? "true" : "false");
    }
    targets_offer(s, SOURCE_PODS, &s->groups[GROUP_MAIN], &s->pod_rules, gen);
}

/* The value of one of a pod's annotations, copied into out; false when absent. */
static bool annotation(const struct gl_pod *pod, const char *key, char *out, size_t cap)
{
    const char *p = pod->annotations.data;
    size_t n = pod->annotations.size, h;
    uint32_t count, klen, vlen;
    if (p == NULL || (h = gl_msgpack_map_header(p, n, &count)) == 0) {
        return false;
    }
    for (p += h, n -= h; count-- > 0;) {
        size_t kh = gl_msgpack_str_header(p, n, &klen);
        if (kh == 0 || kh + klen > n) {
            return false;
        }
        bool hit = klen == strlen(key) && memcmp(p + kh, key, klen) == 0;
        p += kh + klen;
        n -= kh + klen;
        size_t vh = gl_msgpack_str_header(p, n, &vlen);
        if (hit) {
            snprintf(out, cap, "%.*s", vh != 0 && vh + vlen <= n ? (int)vlen : 0, p + vh);
            return vh != 0;
        }
        size_t skip = gl_msgpack_skip(p, n);
        if (skip == 0) {
            return false;
        }
        p += skip;
        n -= skip;
    }
    return false;
}

void targets_offer_pod(struct scrape *s, const struct gl_pod *pod, uint64_t gen)
{
    char scrape[16], port[16];
    if (pod->pod_ip == NULL || pod->pod_ip[0] == '\0' ||
        !annotation(pod, "prometheus.io/scrape", scrape, sizeof(scrape)) ||
        strcmp(scrape, "true") != 0) {
        return; /* no address yet, or not asking to be scraped: the keep rule would drop it */
    }
    if (annotation(pod, "prometheus.io/port", port, sizeof(port))) {
        /* One target on that port, attributed to the container that declares it. */
        int want = atoi(port);
        const struct gl_pod_container *first = NULL;
        for (size_t i = 0; i < pod->n_containers; i++) {
            const struct gl_pod_container *k = &pod->containers[i];
            first = first != NULL || k->init ? first : k;
            for (size_t j = 0; j < k->n_ports; j++) {
                if (k->ports[j].number == want) {
                    offer_container(s, pod, k, &k->ports[j], gen);
                    return;
                }
            }
        }
        offer_container(s, pod, first, NULL, gen);
        return;
    }
    for (size_t i = 0; i < pod->n_containers; i++) {
        const struct gl_pod_container *k = &pod->containers[i];
        for (size_t j = 0; j < k->n_ports; j++) {
            offer_container(s, pod, k, &k->ports[j], gen);
        }
        if (k->n_ports == 0) {
            offer_container(s, pod, k, NULL, gen);
        }
    }
}

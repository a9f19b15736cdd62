/*
 * The prometheus_scrape input: scrapes Prometheus targets on this node and
 * emits one metrics batch per scrape, as a Prometheus that scraped them
 * would store them. Fluent Bit's option names for one static target (host,
 * port, metrics_path, scrape_interval), Prometheus' scrape_config names for
 * the rest (relabel_configs, honor_labels, sample_limit...).
 *
 * Targets come from three places, each a discovery that offers targets
 * (in_prometheus_scrape_targets.c): a static list; the pods of this node
 * annotated prometheus.io/scrape, from the pod cache the kubernetes filter
 * reads (one watch for both), followed as they come and go; the kubelet's
 * /metrics endpoints over TLS with the service-account token. Static and
 * pod targets share the input's TLS settings and credentials; the kubelet
 * has its own (its serving certificate is often self-signed).
 *
 * This file: options, the two target groups (HTTP client, credentials),
 * discovery, and the lifecycle. Everything runs on the loop; scrapes are
 * requests through the one HTTP client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/base64.h"
#include "core/log.h"
#include "core/metrics.h"
#include "in_prometheus_scrape.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/mem.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount/"
#define TOKEN_REREAD_MS 60000
#define TOKEN_MAX 65536
#define FOLLOW_MS 1000 /* how soon a pod annotated or deleted is noticed */

/* ---- options ------------------------------------------------------------- */

static const char *check_interval(const void *v)
{
    return *(const uint64_t *)v >= 100 ? NULL : "must be at least 100ms";
}

static const char *check_port(const void *v)
{
    int64_t p = *(const int64_t *)v;
    return p >= 1 && p <= 65535 ? NULL : "must be between 1 and 65535";
}

static const char *check_body_limit(const void *v)
{
    return *(const size_t *)v >= 1024 ? NULL : "must be at least 1KiB";
}

static const char *check_limit(const void *v)
{
    return *(const int64_t *)v >= 0 ? NULL : "must be 0 (no limit) or more";
}

#define OPT(n, t, d, field, h) \
    { .name = n, .type = t, .def = d, .offset = offsetof(struct scrape, field), .help = h }
#define LIMIT(n, field, h) \
    { .name = n, .type = GL_OPT_INT, .def = "0", .check = check_limit, \
      .offset = offsetof(struct scrape, field), .help = h }

static const struct gl_option scrape_options[] = {
    OPT("host", GL_OPT_STR, NULL, host, "Host of one target to scrape (with port and "
        "metrics_path)."),
    { .name = "port", .type = GL_OPT_INT, .def = "80", .check = check_port,
      .offset = offsetof(struct scrape, port), .help = "Port of the host target." },
    OPT("metrics_path", GL_OPT_STR, "/metrics", metrics_path,
        "Path scraped on static targets (and pods without prometheus.io/path)."),
    { .name = "scrape_interval", .type = GL_OPT_DURATION, .def = "10s", .check = check_interval,
      .offset = offsetof(struct scrape, interval_ms), .help = "How often each target is "
      "scraped; the scrapes of the targets are spread over it." },
    OPT("scrape_timeout", GL_OPT_DURATION, NULL, timeout_ms, "Time allowed for a scrape "
        "(default 10s, or scrape_interval when shorter); a target slower than that is down."),
    OPT("tls", GL_OPT_BOOL, "off", tls, "Scrape the static targets over HTTPS."),
    OPT("tls.verify", GL_OPT_BOOL, "on", groups[GROUP_MAIN].http.tls_verify,
        "Verify the TLS certificate of static and pod targets."),
    OPT("tls.ca_file", GL_OPT_STR, NULL, groups[GROUP_MAIN].http.tls_ca_file,
        "CA bundle to verify static and pod targets with instead of the system's."),
    OPT("tls.crt_file", GL_OPT_STR, NULL, groups[GROUP_MAIN].http.tls_crt_file,
        "Client certificate (PEM) for static and pod targets."),
    OPT("tls.key_file", GL_OPT_STR, NULL, groups[GROUP_MAIN].http.tls_key_file,
        "Private key (PEM) of the client certificate."),
    OPT("http_user", GL_OPT_STR, NULL, http_user, "User for basic authentication."),
    OPT("http_passwd", GL_OPT_STR, NULL, http_passwd,
        "Password for basic authentication (use ${VAR}: it is never printed)."),
    OPT("bearer_token", GL_OPT_STR, NULL, bearer_token,
        "A bearer token sent to static and pod targets (use ${VAR})."),
    OPT("bearer_token_file", GL_OPT_STR, NULL, groups[GROUP_MAIN].token_file,
        "A file holding the bearer token, read again every minute."),
    OPT("targets", GL_OPT_LIST, NULL, targets_opt, "More static targets: host:port, or "
        "http(s)://host:port/path."),
    OPT("job_name", GL_OPT_STR, NULL, job_name, "The job label of every target (default the "
        "alias)."),
    OPT("honor_labels", GL_OPT_BOOL, "off", honor_labels, "A label the target exposes wins "
        "over the target's label of that name (else the exposed one becomes exported_<name>)."),
    OPT("honor_timestamps", GL_OPT_BOOL, "on", honor_timestamps,
        "Keep the timestamps the target exposes (else every sample has the scrape's time)."),
    OPT("relabel_configs", GL_OPT_MAPS, NULL, relabel_opt, "Prometheus relabel_configs over "
        "each target's discovery labels (__address__, __meta_kubernetes_pod_*...)."),
    OPT("metric_relabel_configs", GL_OPT_MAPS, NULL, metric_relabel_opt,
        "Prometheus metric_relabel_configs over each scraped sample."),
    { .name = "body_size_limit", .type = GL_OPT_SIZE, .def = "64MiB", .check = check_body_limit,
      .offset = offsetof(struct scrape, body_size_limit),
      .help = "Largest body (after gzip) a target may send; a larger one fails the scrape." },
    LIMIT("sample_limit", sample_limit, "Most samples left after metric relabelling; more "
          "fail the scrape (0: no limit)."),
    LIMIT("label_limit", label_limit, "Most labels of a sample; more fail the scrape (0: no "
          "limit)."),
    LIMIT("label_name_length_limit", label_name_length_limit, "Longest label name; longer "
          "fails the scrape (0: no limit)."),
    LIMIT("label_value_length_limit", label_value_length_limit, "Longest label value; longer "
          "fails the scrape (0: no limit)."),
    OPT("kubernetes_pods", GL_OPT_BOOL, "off", kubernetes_pods, "Scrape the pods of this node "
        "annotated prometheus.io/scrape: \"true\" (prometheus.io/port, path, scheme)."),
    OPT("kube_url", GL_OPT_STR, NULL, pods_opt.kube_url, "API server URL for the pods (default "
        "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)."),
    OPT("kube_token_file", GL_OPT_STR, NULL, pods_opt.kube_token_file,
        "Service-account token for the API server (default the pod's)."),
    OPT("kube_ca_file", GL_OPT_STR, NULL, pods_opt.kube_ca_file,
        "CA bundle of the API server (default the pod's)."),
    OPT("node_name", GL_OPT_STR, NULL, pods_opt.node_name,
        "This node's name, whose pods are scraped (default $NODE_NAME)."),
    OPT("use_kubelet", GL_OPT_BOOL, "off", pods_opt.use_kubelet,
        "Find the pods from the kubelet's /pods instead of the API server."),
    OPT("kubelet", GL_OPT_BOOL, "off", kubelet, "Scrape this node's kubelet "
        "(kubelet_endpoints)."),
    OPT("kubelet_url", GL_OPT_STR, NULL, kubelet_url, "The kubelet (default "
        "https://$NODE_IP:10250)."),
    OPT("kubelet_endpoints", GL_OPT_LIST, "/metrics/cadvisor, /metrics/resource",
        kubelet_endpoints, "The kubelet's paths scraped: /metrics, /metrics/cadvisor, "
        "/metrics/resource, /metrics/probes."),
    OPT("kubelet.tls.verify", GL_OPT_BOOL, "on", kubelet_tls_verify,
        "Verify the kubelet's serving certificate (often self-signed: then off)."),
    OPT("kubelet.tls.ca_file", GL_OPT_STR, NULL, kubelet_ca_file,
        "CA bundle for the kubelet (default the pod's service-account CA)."),
    OPT("kubelet.bearer_token_file", GL_OPT_STR, SA_DIR "token", kubelet_token_file,
        "The token sent to the kubelet, read again every minute."),
    { 0 }
};

/* ---- credentials ----------------------------------------------------------- */

/*
 * The group's Authorization header: fixed, or "Bearer " and its token file,
 * read again every minute (bound tokens rotate) and at once when forced (a
 * 401). A file that cannot be read keeps the token read before.
 */
const char *scrape_authorization(struct scrape *s, struct group *g, bool force)
{
    uint64_t now = uv_now(s->ins->loop);
    if (g->token_file == NULL ||
        (!force && g->token_read_ms != 0 && now - g->token_read_ms < TOKEN_REREAD_MS)) {
        return g->authorization;
    }
    g->token_read_ms = now != 0 ? now : 1;
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_puts(&b, "Bearer ");
    if (gl_fs_read_small(g->token_file, TOKEN_MAX, &b) < 0 || b.len == 7) {
        if (g->authorization == NULL) {
            gl_log_warn(s->ins, "bearer token file %s cannot be read", g->token_file);
        }
        gl_buf_close(&b);
        return g->authorization;
    }
    gl_free(g->authorization);
    g->authorization = gl_buf_take(&b);
    return g->authorization;
}

/* The main group's fixed credentials: a bearer token, or a user and password. */
static void main_credentials(struct scrape *s)
{
    struct group *g = &s->groups[GROUP_MAIN];
    struct gl_buf b;
    gl_buf_init(&b);
    if (s->bearer_token != NULL) {
        gl_buf_printf(&b, "Bearer %s", s->bearer_token);
        g->authorization = gl_buf_take(&b);
    } else if (s->http_user != NULL) {
        struct gl_buf pair;
        gl_buf_init(&pair);
        gl_buf_printf(&pair, "%s:%s", s->http_user, s->http_passwd ? s->http_passwd : "");
        gl_buf_puts(&b, "Basic ");
        gl_base64_encode(pair.data, pair.len, &b);
        gl_buf_close(&pair);
        g->authorization = gl_buf_take(&b);
    }
    gl_buf_close(&b);
}

/* Starts a group's HTTP client; bodies are bounded by body_size_limit. */
static int group_start(struct scrape *s, struct group *g)
{
    g->http.response_max = s->body_size_limit;
    g->http.timeout_ms = s->timeout_ms;
    g->http.connect_timeout_ms = s->timeout_ms;
    if (gl_http_client_init(&g->http) < 0) {
        gl_log_error(s->ins, "the HTTP client cannot start");
        return GL_EIO;
    }
    g->ready = true;
    return 0;
}

/* The kubelet group's TLS: its own verify flag and CA (copied: the client frees them). */
static void kubelet_group(struct scrape *s)
{
    struct group *g = &s->groups[GROUP_KUBELET];
    g->http.tls_verify = s->kubelet_tls_verify;
    if (s->kubelet_ca_file != NULL) {
        g->http.tls_ca_file = gl_strdup(s->kubelet_ca_file);
    } else if (access(SA_DIR "ca.crt", R_OK) == 0) {
        g->http.tls_ca_file = gl_strdup(SA_DIR "ca.crt");
    }
    g->token_file = s->kubelet_token_file != NULL ? gl_strdup(s->kubelet_token_file) : NULL;
}

/* ---- discovery ------------------------------------------------------------- */

/*
 * Offers a static target: host:port, or a URL whose scheme and path are
 * its __scheme__ and __metrics_path__.
 */
static void offer_static(struct scrape *s, const char *item, uint64_t gen)
{
    struct gl_labelset *ls = &s->target_ls;
    const char *p = item;
    gl_labelset_reset(ls);
    if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
        bool https = p[4] == 's';
        gl_labelset_set(ls, "__scheme__", 10, https ? "https" : "http", https ? 5 : 4);
        p += https ? 8 : 7;
        const char *slash = strchr(p, '/');
        if (slash != NULL) {
            gl_labelset_set(ls, "__metrics_path__", 16, slash, strlen(slash));
        }
        gl_labelset_set(ls, "__address__", 11, p, slash ? (size_t)(slash - p) : strlen(p));
    } else {
        gl_labelset_set(ls, "__address__", 11, p, strlen(p));
    }
    targets_offer(s, SOURCE_STATIC, &s->groups[GROUP_MAIN], NULL, gen);
}

static void discover_static(struct scrape *s)
{
    if (s->host != NULL) {
        char addr[300];
        snprintf(addr, sizeof(addr), strchr(s->host, ':') ? "[%s]:%lld" : "%s:%lld", s->host,
                 (long long)s->port);
        offer_static(s, addr, 1);
    }
    for (size_t i = 0; i < s->targets_opt.count; i++) {
        offer_static(s, s->targets_opt.items[i], 1);
    }
}

/* The kubelet's endpoints: labelled node and metrics_path, as kube-prometheus-stack does. */
static void discover_kubelet(struct scrape *s)
{
    const char *node = s->pods_opt.node_name ? s->pods_opt.node_name : getenv("NODE_NAME");
    const char *ip = getenv("NODE_IP");
    char url[300];
    snprintf(url, sizeof(url), "%s", s->kubelet_url ? s->kubelet_url : "");
    if (s->kubelet_url == NULL) {
        snprintf(url, sizeof(url), "https://%s:10250", ip && ip[0] ? ip : "127.0.0.1");
    }
    for (size_t i = 0; i < s->kubelet_endpoints.count; i++) {
        const char *path = s->kubelet_endpoints.items[i];
        struct gl_labelset *ls = &s->target_ls;
        bool https = strncmp(url, "https://", 8) == 0;
        const char *hostport = strstr(url, "://") ? strstr(url, "://") + 3 : url;
        size_t hl = strcspn(hostport, "/");
        gl_labelset_reset(ls);
        gl_labelset_set(ls, "__scheme__", 10, https ? "https" : "http", https ? 5 : 4);
        gl_labelset_set(ls, "__address__", 11, hostport, hl);
        gl_labelset_set(ls, "__metrics_path__", 16, path, strlen(path));
        gl_labelset_set(ls, "metrics_path", 12, path, strlen(path));
        if (node != NULL) {
            gl_labelset_set(ls, "node", 4, node, strlen(node));
        }
        targets_offer(s, SOURCE_KUBELET, &s->groups[GROUP_KUBELET], NULL, 1);
    }
}

static void visit_pod(void *data, const struct gl_pod *pod)
{
    struct scrape *s = data;
    targets_offer_pod(s, pod, s->gen);
}

/* The node's pods changed: offer them all again; those not offered go. */
static void pods_changed(void *data)
{
    struct scrape *s = data;
    if (s->stopping) {
        return;
    }
    s->gen++;
    gl_pods_visit(s->pods, visit_pod, s);
    targets_sweep(s, SOURCE_PODS, s->gen);
}

static int discover_pods(struct scrape *s)
{
    char err[256] = "";
    struct gl_pods_settings ps = s->pods_opt;
    /* The API server's connection is the cache's: verified, with its own CA. */
    struct gl_http_client api = { .tls_verify = true };
    ps.kubelet_url = s->kubelet_url;
    ps.share = true;
    s->pods = gl_pods_acquire(s->ins->loop, &ps, &api, err, sizeof(err));
    if (s->pods == NULL) {
        gl_log_error(s->ins, "pod discovery unavailable: %s", err);
        return GL_EINVAL;
    }
    gl_pods_follow_start(&s->follow, s->ins->loop, s->pods, FOLLOW_MS, pods_changed, s);
    s->follow_open = true;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */

/*
 * The prometheus.io annotations as relabelling rules, run before
 * relabel_configs on pod targets: the same rules Prometheus' example
 * kubernetes-pods job has, and the labels namespace, pod, container, node.
 */
static int pod_rules(struct scrape *s)
{
    static const struct {
        const char *action, *source, *regex, *target, *replacement;
    } rules[] = {
        { "keep", "__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true", NULL, NULL },
        { NULL, "__meta_kubernetes_pod_annotation_prometheus_io_scheme", "(https?)",
          "__scheme__", NULL },
        { NULL, "__meta_kubernetes_pod_annotation_prometheus_io_path", "(.+)",
          "__metrics_path__", NULL },
        { NULL, "__address__;__meta_kubernetes_pod_annotation_prometheus_io_port",
          "([^:]+)(?::\\d+)?;(\\d+)", "__address__", "$1:$2" },
        { NULL, "__meta_kubernetes_namespace", NULL, "namespace", NULL },
        { NULL, "__meta_kubernetes_pod_name", NULL, "pod", NULL },
        { NULL, "__meta_kubernetes_pod_container_name", NULL, "container", NULL },
        { NULL, "__meta_kubernetes_pod_node_name", NULL, "node", NULL },
    };
    char err[256];
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *src[2];
        const char *semi = strchr(rules[i].source, ';');
        char first[64];
        size_t n = 1;
        src[0] = rules[i].source;
        if (semi != NULL) {
            snprintf(first, sizeof(first), "%.*s", (int)(semi - rules[i].source),
                     rules[i].source);
            src[0] = first;
            src[1] = semi + 1;
            n = 2;
        }
        struct gl_relabel_spec spec = { .action = rules[i].action, .sources = src,
                                        .n_sources = n, .regex = rules[i].regex,
                                        .target = rules[i].target,
                                        .replacement = rules[i].replacement };
        if (gl_relabel_add(&s->pod_rules, &spec, err, sizeof(err)) < 0) {
            gl_instance_error(s->ins, "pod rule %zu: %s", i + 1, err);
            return GL_EINVAL;
        }
    }
    return 0;
}

static void register_metrics(struct scrape *s)
{
    struct gl_instance *ins = s->ins;
    s->m.targets = gl_metric_gauge(ins, "scrape_targets", "Targets being scraped.");
    s->m.scrapes = gl_metric_counter(ins, "scrapes_total", "Scrapes started.");
    s->m.failed = gl_metric_counter(ins, "scrapes_failed_total", "Scrapes that failed (up 0).");
    s->m.failed_timeout = gl_metric_counter(ins, "scrapes_failed_timeout_total",
                                            "Scrapes not answered within scrape_timeout.");
    s->m.failed_connect = gl_metric_counter(ins, "scrapes_failed_connect_total",
                                            "Scrapes refused or cut: connection, TLS.");
    s->m.failed_status = gl_metric_counter(ins, "scrapes_failed_status_total",
                                           "Scrapes answered with a status other than 200.");
    s->m.failed_body_limit = gl_metric_counter(ins, "scrapes_failed_body_size_total",
                                               "Scrapes whose body was over body_size_limit.");
    s->m.failed_parse = gl_metric_counter(ins, "scrapes_failed_parse_total",
                                          "Scrapes whose body could not be read.");
    s->m.failed_limits = gl_metric_counter(ins, "scrapes_failed_limits_total",
                                           "Scrapes over sample_limit or a label limit, or "
                                           "with invalid labels.");
    s->m.samples = gl_metric_counter(ins, "scrape_samples_total",
                                     "Samples kept from successful scrapes.");
    s->m.stale_markers = gl_metric_counter(ins, "scrape_stale_markers_total",
                                           "Staleness markers sent for series that went.");
}

/* Checks the options together and compiles the rules; no I/O. */
static int scrape_init(struct gl_instance *ins)
{
    struct scrape *s = ins->state;
    char err[300];
    s->ins = ins;
    if (s->host == NULL && s->targets_opt.count == 0 && !s->kubernetes_pods && !s->kubelet) {
        gl_instance_error(ins, "nothing to scrape: set host, targets, kubernetes_pods or "
                          "kubelet");
        return GL_EINVAL;
    }
    if (s->timeout_ms == 0) {
        s->timeout_ms = s->interval_ms < 10000 ? s->interval_ms : 10000;
    } else if (s->timeout_ms > s->interval_ms) {
        gl_instance_option_error(ins, "scrape_timeout", "must not be longer than "
                                 "scrape_interval");
        return GL_EINVAL;
    }
    if (gl_relabel_add_maps(&s->relabel, &s->relabel_opt, err, sizeof(err)) < 0) {
        gl_instance_option_error(ins, "relabel_configs", "%s", err);
        return GL_EINVAL;
    }
    if (gl_relabel_add_maps(&s->metric_relabel, &s->metric_relabel_opt, err, sizeof(err)) < 0) {
        gl_instance_option_error(ins, "metric_relabel_configs", "%s", err);
        return GL_EINVAL;
    }
    if (pod_rules(s) < 0) {
        return GL_EINVAL;
    }
    if (s->job_name == NULL) {
        s->job_name = gl_strdup(ins->alias);
    }
    const char *node = s->pods_opt.node_name ? s->pods_opt.node_name : getenv("NODE_NAME");
    s->seed = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, node ? node : "", node ? strlen(node) : 0);
    gl_prom_parser_init(&s->parser);
    gl_labelset_init(&s->ls);
    gl_labelset_init(&s->target_ls);
    seen_init(&s->cur);
    gl_buf_init(&s->body);
    gl_buf_init(&s->series_text);
    family_init(s);
    main_credentials(s);
    kubelet_group(s);
    register_metrics(s);
    return 0;
}

static int scrape_start(struct gl_instance *ins)
{
    struct scrape *s = ins->state;
    if (group_start(s, &s->groups[GROUP_MAIN]) < 0 ||
        (s->kubelet && group_start(s, &s->groups[GROUP_KUBELET]) < 0)) {
        return GL_EIO;
    }
    discover_static(s);
    if (s->kubelet) {
        discover_kubelet(s);
    }
    return s->kubernetes_pods ? discover_pods(s) : 0;
}

static void scrape_pause(struct gl_instance *ins)
{
    struct scrape *s = ins->state;
    s->paused = true;
}

static void scrape_resume(struct gl_instance *ins)
{
    struct scrape *s = ins->state;
    s->paused = false;
}

/*
 * Cancels the scrapes in flight, closes the targets' timers (they are freed
 * as they close) and lets the pod cache go. No staleness markers: an agent
 * that stops may start again where it was, as Prometheus assumes.
 */
static void scrape_stop(struct gl_instance *ins)
{
    struct scrape *s = ins->state;
    s->stopping = true;
    if (s->follow_open) {
        gl_pods_follow_stop(&s->follow, NULL);
        s->follow_open = false;
    }
    gl_pods_release(s->pods);
    s->pods = NULL;
    for (int i = 0; i < 2; i++) {
        if (s->groups[i].ready) {
            gl_http_client_close(&s->groups[i].http);
            s->groups[i].ready = false;
        }
    }
    targets_remove_all(s);
}

static void scrape_destroy(struct gl_instance *ins)
{
    struct scrape *s = ins->state;
    for (int i = 0; i < 2; i++) {
        struct group *g = &s->groups[i];
        gl_http_client_close(&g->http);
        gl_free(g->authorization);
        g->authorization = NULL;
    }
    gl_free(s->groups[GROUP_KUBELET].token_file); /* the main group's is the option's */
    s->groups[GROUP_KUBELET].token_file = NULL;
    gl_relabel_free(&s->relabel);
    gl_relabel_free(&s->metric_relabel);
    gl_relabel_free(&s->pod_rules);
    if (s->fam != NULL) {
        family_free(s);
        gl_prom_parser_close(&s->parser);
        gl_labelset_close(&s->ls);
        gl_labelset_close(&s->target_ls);
        seen_close(&s->cur);
        gl_buf_close(&s->body);
        gl_buf_close(&s->series_text);
    }
}

const struct gl_plugin gl_in_prometheus_scrape = {
    .kind = GL_INPUT, .name = "prometheus_scrape", .data = GL_METRICS,
    .description = "Scrape Prometheus targets: static, pods of this node by annotation, the "
                   "kubelet; up and staleness as Prometheus",
    .options = scrape_options, .state_size = sizeof(struct scrape),
    .init = scrape_init, .start = scrape_start, .pause = scrape_pause,
    .resume = scrape_resume, .stop = scrape_stop, .destroy = scrape_destroy,
};

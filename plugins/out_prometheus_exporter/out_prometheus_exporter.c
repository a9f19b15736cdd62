/*
 * The prometheus_exporter output: serves the latest value of every series it
 * received on http://host:port/metrics for a Prometheus that scrapes, in
 * the text format 0.0.4 or in OpenMetrics when the scraper's Accept asks for
 * it, gzip-compressed when its Accept-Encoding allows. Several inputs may
 * feed one exporter: the store merges them, and the same series (name and
 * labels) is one entry whoever sent it. Series not updated for series_ttl
 * are dropped; a staleness marker drops its series at once.
 * A flush is taken into the store and acknowledged at once: what the
 * exporter holds is the latest values, not a backlog.
 */
#include <string.h>
#include <time.h>

#include "codec/gzip.h"
#include "core/chunk.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "net/http_server.h"
#include "out_prometheus_exporter.h"
#include "util/error.h"
#include "util/mem.h"

struct exporter {
    /* options */
    char *host;
    int64_t port;
    struct gl_strlist add_label;
    bool add_timestamp;
    uint64_t ttl_ms;
    int64_t series_limit;

    /* run time */
    struct gl_instance *ins;
    struct gl_label *extra;         /* add_label, sorted by name */
    size_t n_extra;
    struct pe_store store;
    struct gl_http_server *server;
    uv_timer_t expire_timer;
    bool timer_open;
    uint64_t *m_series;
    uint64_t *m_scrapes;
    uint64_t *m_expired;
};

static const char *check_port(const void *v)
{
    int64_t p = *(const int64_t *)v;
    return p >= 0 && p <= 65535 ? NULL : "must be between 0 and 65535";
}

static const char *check_limit(const void *v)
{
    return *(const int64_t *)v >= 1 ? NULL : "must be at least 1";
}

static const struct gl_option exporter_options[] = {
    { .name = "host", .type = GL_OPT_STR, .def = "0.0.0.0",
      .offset = offsetof(struct exporter, host),
      .help = "Address to listen on (numeric IPv4 or IPv6)." },
    { .name = "port", .type = GL_OPT_INT, .def = "2021", .check = check_port,
      .offset = offsetof(struct exporter, port), .help = "Port serving /metrics." },
    { .name = "add_label", .type = GL_OPT_MULTI,
      .offset = offsetof(struct exporter, add_label),
      .help = "A label added to every series, as 'name value'; repeat for more (a label the "
              "series has wins)." },
    { .name = "add_timestamp", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct exporter, add_timestamp),
      .help = "Give each sample the time it was collected (by default Prometheus stamps it "
              "with the scrape's time)." },
    { .name = "series_ttl", .type = GL_OPT_DURATION, .def = "5m",
      .offset = offsetof(struct exporter, ttl_ms),
      .help = "A series not updated for this long is no longer served." },
    { .name = "series_limit", .type = GL_OPT_INT, .def = "1000000", .check = check_limit,
      .offset = offsetof(struct exporter, series_limit),
      .help = "Most series held; new ones past it are dropped and counted." },
    { 0 }
};

/* ---- options ------------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
    const struct gl_label *x = a, *y = b;
    uint32_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c != 0 ? c : (int)x->name_len - (int)y->name_len;
}

static bool valid_label_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

/* add_label items "name value" into the sorted extra labels (pointing into the items). */
static int read_labels(struct gl_instance *ins, struct exporter *x)
{
    x->extra = gl_calloc(x->add_label.count + 1, sizeof(*x->extra));
    for (size_t i = 0; i < x->add_label.count; i++) {
        const char *item = x->add_label.items[i];
        size_t name_len = strcspn(item, " \t");
        const char *value = item + name_len + strspn(item + name_len, " \t");
        if (!valid_label_name(item, name_len) || *value == '\0') {
            gl_instance_option_error(ins, "add_label",
                                     "'%s': expected 'name value' with a Prometheus label name",
                                     item);
            return GL_ECONFIG;
        }
        for (size_t j = 0; j < x->n_extra; j++) {
            if (x->extra[j].name_len == name_len && memcmp(x->extra[j].name, item, name_len) == 0) {
                gl_instance_option_error(ins, "add_label", "label '%.*s' given twice",
                                         (int)name_len, item);
                return GL_ECONFIG;
            }
        }
        x->extra[x->n_extra++] = (struct gl_label){ item, (uint32_t)name_len, value,
                                                    (uint32_t)strlen(value) };
    }
    qsort(x->extra, x->n_extra, sizeof(*x->extra), label_cmp);
    return 0;
}

static void exporter_destroy(struct gl_instance *ins);

static int exporter_init(struct gl_instance *ins)
{
    struct exporter *x = ins->state;
    x->ins = ins;
    int rc = read_labels(ins, x);
    if (rc < 0) {
        exporter_destroy(ins);
        return rc;
    }
    pe_store_init(&x->store, (size_t)x->series_limit);
    x->m_series = gl_metric_gauge(ins, "exporter_series", "Series the exporter serves.");
    x->m_scrapes = gl_metric_counter(ins, "exporter_scrapes_total", "Scrapes answered.");
    x->m_expired = gl_metric_counter(ins, "exporter_series_expired_total",
                                     "Series dropped after series_ttl without an update.");
    return 0;
}

/* ---- serving ------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether a header's comma-separated list names this token (parameters ignored). */
static bool lists(const char *header, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = header; (p = strstr(p, token)) != NULL; p += n) {
        bool start = p == header || p[-1] == ',' || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ';' || p[n] == ',' || p[n] == ' ';
        if (start && end) {
            return true;
        }
    }
    return false;
}

static int serve_metrics(void *data, const struct gl_http_request *req,
                         struct gl_http_reply *reply)
{
    struct exporter *x = data;
    enum gl_prom_format f =
        lists(req->accept, "application/openmetrics-text") ? GL_PROM_OPENMETRICS : GL_PROM_TEXT;
    (*x->m_scrapes)++;
    pe_store_expire(&x->store, wall_ms(), x->ttl_ms);
    reply->content_type = gl_prom_content_type(f);
    if (!lists(req->accept_encoding, "gzip")) {
        pe_store_render(&x->store, &reply->body, f, x->extra, x->n_extra, x->add_timestamp);
        return 200;
    }
    struct gl_buf text;
    gl_buf_init(&text);
    pe_store_render(&x->store, &text, f, x->extra, x->n_extra, x->add_timestamp);
    if (gl_gzip_compress(text.data, text.len, 1, &reply->body) == 0) {
        reply->content_encoding = "gzip";
    } else {
        gl_buf_reset(&reply->body);
        gl_buf_append(&reply->body, text.data, text.len);
    }
    gl_buf_close(&text);
    return 200;
}

static void on_expire(uv_timer_t *t)
{
    struct exporter *x = t->data;
    *x->m_expired += pe_store_expire(&x->store, wall_ms(), x->ttl_ms);
    *x->m_series = x->store.n_series;
}

static int exporter_start(struct gl_instance *ins)
{
    struct exporter *x = ins->state;
    char err[256];
    x->server = gl_http_server_new(ins->loop, x->host, (int)x->port, err, sizeof(err));
    if (x->server == NULL) {
        gl_log_error(ins, "%s", err);
        return GL_EIO;
    }
    gl_http_server_route(x->server, "/metrics", serve_metrics, x);
    uv_timer_init(ins->loop, &x->expire_timer);
    x->expire_timer.data = x;
    x->timer_open = true;
    uint64_t every = x->ttl_ms / 4 > 1000 ? x->ttl_ms / 4 : 1000;
    uv_timer_start(&x->expire_timer, on_expire, every, every);
    gl_log_info(ins, "serving metrics on http://%s:%d/metrics", x->host,
                gl_http_server_port(x->server));
    return 0;
}

/* ---- flushing ------------------------------------------------------------ */

static void exporter_flush(struct gl_instance *ins, struct gl_flush *f)
{
    struct exporter *x = ins->state;
    uint64_t now = wall_ms();
    uint64_t limit0 = x->store.refused_limit, type0 = x->store.refused_type;
    for (unsigned i = 0; i < f->n_chunks; i++) {
        pe_store_update(&x->store, f->chunks[i], now);
    }
    uint64_t over = x->store.refused_limit - limit0, clash = x->store.refused_type - type0;
    if (over > 0) {
        gl_instance_drop(ins, "series_limit", over);
        gl_log_warn(ins, "series_limit %lld reached: %llu new series dropped",
                    (long long)x->series_limit, (unsigned long long)over);
    }
    if (clash > 0) {
        gl_instance_drop(ins, "type_conflict", clash);
        gl_log_warn(ins, "%llu series dropped: their family is already served with another "
                    "type", (unsigned long long)clash);
    }
    *x->m_series = x->store.n_series;
    gl_flush_done(f, GL_OK);
}

/* ---- stop ---------------------------------------------------------------- */

static void exporter_stop(struct gl_instance *ins)
{
    struct exporter *x = ins->state;
    gl_http_server_free(x->server);
    x->server = NULL;
    if (x->timer_open) {
        uv_close((uv_handle_t *)&x->expire_timer, NULL);
        x->timer_open = false;
    }
}

static void exporter_destroy(struct gl_instance *ins)
{
    struct exporter *x = ins->state;
    pe_store_close(&x->store);
    gl_free(x->extra);
    x->extra = NULL;
}

const struct gl_plugin gl_out_prometheus_exporter = {
    .kind = GL_OUTPUT, .name = "prometheus_exporter", .data = GL_METRICS,
    .description = "Serve the latest metrics on /metrics for Prometheus to scrape",
    .options = exporter_options, .state_size = sizeof(struct exporter),
    .init = exporter_init, .start = exporter_start, .flush = exporter_flush,
    .stop = exporter_stop, .destroy = exporter_destroy,
};

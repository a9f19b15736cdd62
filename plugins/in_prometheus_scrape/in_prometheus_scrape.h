/*
 * What the files of the prometheus_scrape input share:
 *
 *   in_prometheus_scrape.c          options, lifecycle, the target groups
 *                                   (HTTP clients, credentials), discovery
 *   in_prometheus_scrape_targets.c  targets from discovery labels, as
 *                                   Prometheus builds them; their schedule;
 *                                   pods as discovery labels
 *   in_prometheus_scrape_scrape.c   one scrape: the request, the body, the
 *                                   report series, staleness, failures
 *   in_prometheus_scrape_append.c   each sample: labels, relabelling,
 *                                   limits, the series seen
 *   in_prometheus_scrape_family.c   samples into batch families: histograms
 *                                   and summaries put together
 */
#ifndef IN_PROMETHEUS_SCRAPE_H
#define IN_PROMETHEUS_SCRAPE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/option.h"
#include "core/plugin.h"
#include "k8s/pods_targets.h"
#include "metrics/batch.h"
#include "metrics/prom_parse.h"
#include "metrics/relabel.h"
#include "net/http_client.h"
#include "util/buf.h"

/* Prometheus 2.42's Accept: OpenMetrics first, the text format after. */
#define SCRAPE_ACCEPT                                                                          \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"   \
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

struct scrape;
struct target;

/* ---- groups: who is scraped with which client and credentials ---- */

enum group_kind { GROUP_MAIN, GROUP_KUBELET };

struct group {
    struct gl_http_client http;
    bool ready;                  /* http started */
    char *token_file;            /* bearer token file, re-read every minute and after a 401 */
    uint64_t token_read_ms;
    char *authorization;         /* "Bearer ..." or "Basic ...", or NULL */
};

/* ---- the series of one scrape (staleness, scrape_series_added, duplicates) ---- */

enum { SEEN_STALE = 1 };         /* tracked for staleness: no timestamp of its own */

/*
 * A series' text (as the target wrote it) is kept front-coded: the bytes it
 * shares with the text of the entry before it are not stored again (series
 * of one family share most of theirs), so texts are read in entry order.
 */
struct seen_entry {
    uint64_t hash;               /* of the series' final labels, its name included */
    uint32_t off;                /* the rest of its text in the set's text */
    uint32_t len;
    uint16_t prefix;             /* bytes shared with the previous entry's text */
    uint16_t fam_len;            /* its family's name: the first fam_len bytes of its name */
    uint8_t type;                /* enum gl_prom_type of the family */
    uint8_t role : 4;            /* enum gl_prom_role */
    uint8_t flags : 4;
};

struct seen {
    struct seen_entry *e;
    uint32_t n;
    uint32_t cap;
    uint32_t *slots;             /* open addressing: entry index + 1, 0 empty */
    uint32_t mask;
    struct gl_buf text;
    struct gl_buf last;          /* the last entry's whole text, to front-code the next */
};

void seen_init(struct seen *s);
void seen_close(struct seen *s);
void seen_clear(struct seen *s);
/* The entry of a hash, or NULL. */
const struct seen_entry *seen_find(const struct seen *s, uint64_t hash);
void seen_add(struct seen *s, uint64_t hash, const struct gl_prom_sample *sample, unsigned flags);
void seen_merge(struct seen *to, const struct seen *from);
/*
 * The whole text of entry i into cur, which holds entry i - 1's (empty for
 * entry 0): walk the entries in order.
 */
void seen_text(const struct seen *s, uint32_t i, struct gl_buf *cur);

/* ---- targets ---- */

struct target {
    struct target *next;
    struct scrape *s;
    struct group *group;
    int source;                  /* which discovery made it (SOURCE_*) */
    uint64_t id;                 /* hash of its labels and URL: the same target stays */
    uint64_t gen;                /* the discovery round that last produced it */
    char *url;
    struct gl_label *labels;     /* job, instance..., sorted; strings in labels_text */
    uint32_t n_labels;
    char *labels_text;
    const char *instance;        /* for log lines */
    uv_timer_t timer;
    bool timer_open;
    struct gl_http_request *req; /* the scrape in flight */
    int64_t ts_ms;               /* the scrape in flight's time, then the last one's */
    uint64_t start_ns;
    struct seen prev;            /* the series of the last successful scrape */
    bool prev_live;              /* no staleness markers were sent for them since */
    bool reported;               /* up and the other report series were sent */
    bool gone;                   /* removed: freed once its timer closed and nothing is in flight */
    uint64_t *down;              /* the failure counter of the reason logged, NULL while up */
};

enum { SOURCE_STATIC, SOURCE_KUBELET, SOURCE_PODS, SOURCE_COUNT };

/* A failed scrape's reason: a static string, or the text in detail. */
struct failure {
    const char *why;
    char detail[200];
};

/* Counters on /metrics. */
struct scrape_metrics {
    uint64_t *targets;
    uint64_t *scrapes;
    uint64_t *failed;
    uint64_t *failed_timeout;
    uint64_t *failed_connect;
    uint64_t *failed_status;
    uint64_t *failed_body_limit;
    uint64_t *failed_parse;
    uint64_t *failed_limits;
    uint64_t *samples;
    uint64_t *stale_markers;
};

/* ---- the plugin ---- */

struct scrape {
    struct gl_instance *ins;
    /* options */
    char *host;
    int64_t port;
    char *metrics_path;
    uint64_t interval_ms;
    uint64_t timeout_ms;
    bool tls;
    struct gl_strlist targets_opt;
    char *job_name;
    bool honor_labels;
    bool honor_timestamps;
    struct gl_maplist relabel_opt;
    struct gl_maplist metric_relabel_opt;
    size_t body_size_limit;
    int64_t sample_limit;
    int64_t label_limit;
    int64_t label_name_length_limit;
    int64_t label_value_length_limit;
    char *http_user;
    char *http_passwd;
    char *bearer_token;
    bool kubernetes_pods;
    struct gl_pods_settings pods_opt;
    bool kubelet;
    char *kubelet_url;
    struct gl_strlist kubelet_endpoints;
    bool kubelet_tls_verify;
    char *kubelet_ca_file;
    char *kubelet_token_file;
    /* state */
    struct group groups[2];
    struct gl_relabel relabel;
    struct gl_relabel pod_rules;          /* the prometheus.io annotations, as rules */
    struct gl_relabel metric_relabel;
    struct target *targets;
    uint64_t gen;
    uint64_t seed;                        /* spreads this node's scrapes differently */
    struct gl_pod_cache *pods;
    struct gl_pods_follow follow;
    bool follow_open;
    bool paused;
    bool stopping;
    int handles_open;
    /* scratch, one scrape at a time */
    struct gl_prom_parser parser;
    struct gl_labelset ls;
    struct gl_labelset target_ls;
    struct seen cur;
    struct gl_buf body;                   /* a gzip body inflated */
    struct gl_buf series_text;            /* a remembered series' text, read back */
    struct scrape_family *fam;            /* in_prometheus_scrape_family.c's state */
    struct scrape_metrics m;
};

/* ---- in_prometheus_scrape.c ---- */

/* The Authorization header of a group now (its token re-read when due), or NULL. */
const char *scrape_authorization(struct scrape *s, struct group *g, bool force_reread);

/* ---- in_prometheus_scrape_targets.c ---- */

/*
 * Builds the target for a discovery label set (in s->target_ls) as
 * Prometheus does: defaults, relabel_configs (rules first when given),
 * the address checked and given its scheme's port, meta labels removed,
 * instance defaulted. Keeps the target when one with the same labels and
 * URL exists, starts a new one otherwise; either way it belongs to round
 * gen. Returns 0, or GL_EINVAL (logged) for a set that cannot be scraped.
 */
int targets_offer(struct scrape *s, int source, struct group *g, const struct gl_relabel *rules,
                  uint64_t gen);
/* Removes the targets of source not offered in round gen (their series are ended). */
void targets_sweep(struct scrape *s, int source, uint64_t gen);
/* Ends every target (stop): staleness markers, then their handles close. */
void targets_remove_all(struct scrape *s);
/* Offers a pod's targets: one per declared port, or the prometheus.io/port one. */
void targets_offer_pod(struct scrape *s, const struct gl_pod *pod, uint64_t gen);

/* ---- in_prometheus_scrape_scrape.c ---- */

void scrape_now(struct target *t);
/*
 * The target goes: with stale, staleness markers for its series and report
 * series, at now (not when the agent stops: it may start again where it
 * was, as Prometheus assumes). It is freed once nothing of it is pending.
 */
void scrape_end(struct target *t, bool stale);

/* ---- in_prometheus_scrape_append.c ---- */

struct append_result {
    uint64_t total;              /* samples in the body */
    uint64_t added;              /* after metric_relabel_configs */
    uint64_t series_added;       /* not in the last successful scrape */
};

/*
 * Reads a body into the open batch (through family_add) and the scrape's
 * set of series (s->cur).
 * Returns 0, or GL_EPARSE / GL_ELIMIT with the reason in f (the batch then
 * holds part of the body and must be aborted).
 */
int append_body(struct scrape *s, struct target *t, const char *body, size_t len,
                enum gl_prom_format format, struct append_result *r, struct failure *f);
/*
 * Writes staleness markers into the open batch for the series of t->prev
 * that cur lacks (all of them when cur is NULL); ts_ms 0 is the batch's.
 * Returns how many.
 */
uint64_t append_stale(struct scrape *s, struct target *t, const struct seen *cur, int64_t ts_ms);
/* Hashes a final label set (the series' identity). */
uint64_t append_hash(const struct gl_labelset *ls);

/* ---- in_prometheus_scrape_family.c ---- */

void family_init(struct scrape *s);
void family_free(struct scrape *s);
/* Starts a batch's families. */
void family_begin(struct scrape *s, struct gl_batch *b);
/*
 * Takes one kept sample with its final labels (ls, __name__ included):
 * written at once, or held with the rest of its histogram or summary.
 * Returns 0, or GL_ELIMIT when it has more labels than a series may.
 */
int family_add(struct scrape *s, const struct gl_prom_family *fam, enum gl_prom_role role,
               const struct gl_labelset *ls, int64_t ts_ms, double value);
/* Writes what is held (call before committing the batch). */
void family_end(struct scrape *s);

#endif

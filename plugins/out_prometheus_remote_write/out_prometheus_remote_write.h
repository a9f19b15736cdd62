/*
 * The prometheus_remote_write output's private interfaces:
 *   out_prometheus_remote_write.c        the plugin: options, flushes into
 *                                        shards, shard count, lifecycle
 *   out_prometheus_remote_write_shard.c  one shard: its queue of series,
 *                                        batches, the request, retries
 *
 * A flush's series are spread over max_shards queues by a hash of name and
 * labels, so a series always goes through the same queue, and a queue sends
 * one request at a time, in order, retrying it until it is accepted or
 * dropped: the samples of a series reach the receiver in time order. How
 * many queues may have a request in flight at once (the shards) adapts to
 * the receiver: halved on 429 and 5xx, doubled while the queues grow,
 * lowered while they stay empty. A flush ends when every one of its series
 * was accepted or dropped; until then its chunks count in their input's
 * memory, which is the back-pressure.
 */
#ifndef GL_OUT_PROMETHEUS_REMOTE_WRITE_H
#define GL_OUT_PROMETHEUS_REMOTE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "aws/credentials.h"
#include "config/option.h"
#include "metrics/batch.h"
#include "metrics/remote_write.h"
#include "net/http_client.h"
#include "util/buf.h"

struct gl_flush;
struct gl_instance;
struct rw;

#define RW_SHARDS_MAX 64

/* A flush being delivered: it ends when no series of it is left in a shard. */
struct rw_flush {
    struct gl_flush *f;
    uint32_t outstanding;
};

/* One series waiting in a shard. */
struct rw_item {
    struct rw_flush *fl;
    struct gl_rw_series s;
    uint32_t index;                /* the series' index in its flush */
    uint32_t samples;
};

struct rw_shard {
    struct rw *rw;
    int index;
    struct rw_item *items;         /* a ring, oldest first */
    size_t head;
    size_t count;
    size_t cap;
    uint64_t samples;              /* over the queued items */
    uint64_t oldest_ms;            /* when the oldest item was queued */
    uv_timer_t timer;              /* batch_send_deadline, or the retry's wait */
    bool timer_open;
    bool busy;                     /* a request is in flight or waiting to be retried */
    bool sending_now;              /* it holds one of the shards (a request in flight) */
    bool waiting;                  /* due, waiting for a shard to be free */
    size_t sending;                /* items of the request (the first of the queue) */
    unsigned attempts;
    struct gl_buf body;            /* the request's compressed body, kept for retries */
};

struct rw {
    /* options */
    char *host;
    int64_t port;
    char *uri;
    bool tls;
    struct gl_strlist header;
    struct gl_strlist add_label;
    char *http_user;
    char *http_passwd;
    char *bearer_token_file;
    bool aws_auth;
    char *aws_service;
    struct gl_aws_settings aws;
    int64_t max_samples;
    size_t max_bytes;
    uint64_t deadline_ms;
    int64_t min_shards;
    int64_t max_shards;
    bool send_metadata;
    struct gl_http_client http;

    /* run time */
    struct gl_instance *ins;
    char *url;
    char *url_host;                /* host[:port] as SigV4 signs it */
    char *url_path;
    char *basic;                   /* "Basic ..." from http_user and http_passwd */
    struct gl_label *extra;        /* add_label, sorted (names in label_names) */
    size_t n_extra;
    char **label_names;
    char **header_names;           /* header, split (values point into the items) */
    const char **header_values;
    struct gl_aws_provider *provider;
    struct rw_shard queues[RW_SHARDS_MAX]; /* max_shards of them */
    int n_queues;
    int shards;                    /* requests allowed in flight at once */
    int in_flight;
    int next_grant;                /* where the search for a waiting queue starts */
    uint64_t last_cut_ms;          /* the last halving */
    uv_timer_t tick;               /* shard count decisions; the engine's stop */
    bool tick_open;
    unsigned throttled;            /* 429 and 5xx answers since the last decision */
    unsigned ticks;
    unsigned idle_ticks;
    bool stopping;
    uint64_t rng;
    /* metrics */
    uint64_t *m_samples;
    uint64_t *m_requests;
    uint64_t *m_failed;
    uint64_t *m_retries;
    uint64_t *m_shards;
    uint64_t *m_pending;
};

/* ---- shards (out_prometheus_remote_write_shard.c) ------------------------ */

void rw_shard_init(struct rw *rw, struct rw_shard *sh, int index);
/* Queues a series; a full batch goes at once. */
void rw_shard_push(struct rw_shard *sh, const struct rw_item *item);
/* Sends what is queued now, whatever its size (the deadline passed, or the agent stops). */
void rw_shard_send_now(struct rw_shard *sh);
/* A shard is free: a queue waiting for one sends. */
void rw_shard_wake(struct rw_shard *sh);
/* Drops what is queued without an answer (the agent stops past its grace). */
void rw_shard_abandon(struct rw_shard *sh);
void rw_shard_close(struct rw_shard *sh);

/* ---- the plugin (out_prometheus_remote_write.c) -------------------------- */

/* A queue is done with n series of fl: the flush ends with the last one. */
void rw_flush_release(struct rw *rw, struct rw_flush *fl, uint32_t n);
/* Takes one of the shards for a request (false when all are in use). */
bool rw_shard_acquire(struct rw *rw);
/* Gives it back and lets a waiting queue have it. */
void rw_shard_release(struct rw *rw);
/* The receiver pushed back (429, 5xx): fewer shards. */
void rw_throttled(struct rw *rw);

#endif

/*
 * The pods of this node as something to build on: pod discovery (the
 * prometheus_scrape input) visits them and is told when they changed, over
 * the same pod cache the kubernetes filter reads, so one list and one watch
 * of the API server serve both: acquire it with the settings' share set
 * (gl_pods_acquire then takes the cache already following this node, the
 * filter's, as filters start before inputs).
 */
#ifndef GL_PODS_TARGETS_H
#define GL_PODS_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "k8s/pods.h"

/* Calls cb for each pod of the node that exists (deleted ones are left out), in no order. */
typedef void (*gl_pods_visit_cb)(void *data, const struct gl_pod *pod);
void gl_pods_visit(struct gl_pod_cache *c, gl_pods_visit_cb cb, void *data);

/*
 * Follows the cache: cb runs on the loop once the first list is in, then
 * each time pods were added, changed or deleted, at most every interval.
 * The follower is embedded in its owner; stop closes its timer (closed runs
 * once it is closed, before which the follower must not be freed).
 */
typedef void (*gl_pods_changed_cb)(void *data);

struct gl_pods_follow {
    uv_timer_t timer;
    struct gl_pod_cache *cache;
    uint64_t seen;               /* the cache's change count at the last call */
    bool told;                   /* cb ran at least once */
    gl_pods_changed_cb cb;
    void *data;
};

void gl_pods_follow_start(struct gl_pods_follow *f, uv_loop_t *loop, struct gl_pod_cache *c,
                          uint64_t interval_ms, gl_pods_changed_cb cb, void *data);
void gl_pods_follow_stop(struct gl_pods_follow *f, uv_close_cb closed);

#endif

/*
 * The node's pods for pod discovery (pods_targets.h): visiting them, and
 * noticing changes
 * by its change count (gl_pods_stats()->changes), which moves with every
 * pod stored, marked deleted or expired. Reading the count on a timer
 * keeps the cache free of callbacks into its users: a follower costs one
 * timer and never runs inside the watch's own code.
 */
#include <string.h>

#include "k8s/pods_private.h"
#include "k8s/pods_targets.h"

/*
 * Walks the pods table and hands each live pod on as gl_pods_find() finds
 * it by its key ("namespace/name"): the lookup is the cache's public one,
 * so this file needs nothing of pods.c's own.
 */
void gl_pods_visit(struct gl_pod_cache *c, gl_pods_visit_cb cb, void *data)
{
    char ns[256];
    for (size_t i = 0; i < c->pods.n_slots; i++) {
        for (struct gl__entry *e = c->pods.slots[i]; e != NULL; e = e->next) {
            const char *slash = strchr(e->key, '/');
            size_t n = slash != NULL ? (size_t)(slash - e->key) : 0;
            if (slash == NULL || n >= sizeof(ns)) {
                continue;
            }
            memcpy(ns, e->key, n);
            ns[n] = '\0';
            const struct gl_pod *pod = gl_pods_find(c, ns, slash + 1);
            if (pod != NULL && pod->deleted_ms == 0) {
                cb(data, pod);
            }
        }
    }
}

static void on_follow(uv_timer_t *t)
{
    struct gl_pods_follow *f = t->data;
    const struct gl_pods_stats *st = gl_pods_stats(f->cache);
    if (!gl_pods_synced(f->cache) || (f->told && st->changes == f->seen)) {
        return;
    }
    f->seen = st->changes;
    f->told = true;
    f->cb(f->data);
}

void gl_pods_follow_start(struct gl_pods_follow *f, uv_loop_t *loop, struct gl_pod_cache *c,
                          uint64_t interval_ms, gl_pods_changed_cb cb, void *data)
{
    f->cache = c;
    f->seen = 0;
    f->told = false;
    f->cb = cb;
    f->data = data;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_follow, 0, interval_ms);
}

void gl_pods_follow_stop(struct gl_pods_follow *f, uv_close_cb closed)
{
    uv_close((uv_handle_t *)&f->timer, closed);
}

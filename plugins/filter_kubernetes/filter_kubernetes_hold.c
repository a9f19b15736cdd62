/*
 * The kubernetes filter's side of the engine's hold: a chunk whose pod is not
 * in the cache yet waits (with the later chunks of its file behind it) while
 * the pod cache looks for it (the node's list under way, else one GET), at
 * most kube_meta_wait; then it goes on, with the pod's metadata or flagged
 * meta_missing. The list of held chunks lives here; when a wait ends the
 * ready ones are released in the order they came.
 */
#include "core/chunk.h"
#include "core/plugin.h"
#include "filter_kubernetes.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- holding chunks for the engine ------------------------------------- */

static void add_held(struct kube *k, struct gl_hold *h, const struct gl_chunk *c)
{
    if (k->n_held == k->cap_held) {
        k->cap_held = k->cap_held ? k->cap_held * 2 : 8;
        k->held = gl_realloc(k->held, k->cap_held * sizeof(*k->held));
    }
    k->held[k->n_held++] = (struct kube_held){ h, c };
}

/*
 * A wait ended (the fetch answered or meta_wait passed): chunks whose pod is
 * now known, or that waited long enough, go on. Releasing may hold a chunk
 * queued behind anew, so the list is taken out before it is walked.
 */
static void release_ready(struct gl_instance *ins, bool all)
{
    struct kube *k = ins->state;
    struct kube_held *list = k->held;
    size_t n = k->n_held;
    k->held = NULL;
    k->n_held = k->cap_held = 0;
    for (size_t i = 0; i < n; i++) {
        if (all || kube_hold_check(ins, list[i].chunk) == 0) {
            gl_hold_release(list[i].hold);
        } else {
            add_held(k, list[i].hold, list[i].chunk);
        }
    }
    gl_free(list);
}

static void on_wait_over(void *data, struct gl_instance *ins)
{
    (void)data;
    release_ready(ins, false);
}

/*
 * The engine asks before filtering a chunk: when its pod is not in the cache
 * yet, the pod is being looked for and the chunk (with the later ones of its
 * file) waits for the answer, at most kube_meta_wait.
 */
int kube_hold(struct gl_instance *ins, const struct gl_chunk *c, struct gl_hold *h)
{
    struct kube *k = ins->state;
    if (kube_hold_check(ins, c) == 0) {
        return 0;
    }
    if (k->release_cb == NULL) {
        kube_hold_on_release(ins, on_wait_over, NULL);
    }
    add_held(k, h, c);
    return GL_EAGAIN;
}

/* At stop every held chunk goes on at once (its pod may never come). */
void kube_hold_release_all(struct gl_instance *ins)
{
    release_ready(ins, true);
}

/*
 * The thread node_metrics collects on. Reading /proc and /sys is quick on a
 * healthy node, but some reads are not: statfs on a hung NFS or FUSE mount
 * never returns, scaling_cur_freq sleeps 10 ms per CPU on some kernels, a
 * hwmon sensor may wait on a slow bus. None of that may stall the loop that
 * tails the logs, so a collection runs here, into a batch of its own, and
 * the loop hands the finished batch to the pipeline whole
 * (gl_batch_commit_bytes).
 *
 * Every call that may block is bracketed by node_op_begin/node_op_end. When
 * a statfs has not returned after filesystem.mount_timeout, the loop lets go
 * of the thread (it is "abandoned": detached, it frees itself when the call
 * returns) and starts another; the mount is then reported with
 * node_filesystem_device_error 1 and not stat'ed again until the hung call
 * returns, as node_exporter does. At stop a busy thread is let go the same
 * way, at the moment it is inside such a call.
 *
 * Invariant: the thread touches the instance (struct node) only between
 * guarded calls and only while it is not abandoned; the loop lets go of it
 * only while it is inside one (or idle), so the instance can be freed at any
 * time after node_worker_stop.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"
#include "util/mem.h"

/* A mount point whose statfs hung: shared by the loop and the thread stuck in it. */
struct node_stuck {
    atomic_int refs;
    atomic_bool returned; /* the hung call came back: the mount may be tried again */
    char path[PATH_MAX];
};

enum worker_state { W_IDLE, W_RUN, W_DONE };

struct node_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the thread waits here for a job */
    pthread_cond_t changed; /* the loop waits here for the thread to enter a call or finish */
    /* under lock */
    enum worker_state state;
    bool quit;
    bool abandoned;
    bool in_op;
    bool stopping; /* the loop waits on changed */
    int64_t op_since_ms;
    char op_path[PATH_MAX]; /* the statfs in progress, or "" */
    struct node_stuck *ticket;
    /* the job: written by the loop while idle, by the thread while running */
    uv_async_t *done;
    struct gl_buf stuck;
    struct node_job_result res;
    struct node_ctx ctx;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stuck_release(struct node_stuck *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
        gl_free(s);
    }
}

static void worker_free(struct node_worker *w)
{
    node_ctx_close(&w->ctx);
    gl_buf_close(&w->stuck);
    gl_buf_close(&w->res.batch);
    stuck_release(w->ticket);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    gl_free(w);
}

/* ---- the thread ---------------------------------------------------------- */

static void collect_job(struct node_worker *w)
{
    struct gl_batch b;
    gl_buf_reset(&w->res.batch);
    gl_batch_begin_buf(&b, &w->res.batch, w->res.ts_ms);
    w->ctx.b = &b;
    w->ctx.stuck = w->stuck.data;
    w->ctx.stuck_len = w->stuck.len;
    node_collect(&w->ctx);
    if (!w->ctx.abandoned) {
        gl_batch_commit(&b);
        w->res.series = b.total;
        memcpy(w->res.result, w->ctx.result, sizeof(w->res.result));
    }
}

static void *run(void *arg)
{
    struct node_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->state != W_RUN && !w->quit && !w->abandoned) {
            pthread_cond_wait(&w->wake, &w->lock);
        }
        if (w->quit || w->abandoned) {
            break;
        }
        pthread_mutex_unlock(&w->lock);
        collect_job(w);
        pthread_mutex_lock(&w->lock);
        if (w->abandoned) {
            break;
        }
        w->state = W_DONE;
        pthread_cond_broadcast(&w->changed);
        uv_async_send(w->done);
    }
    bool abandoned = w->abandoned;
    pthread_mutex_unlock(&w->lock);
    if (abandoned) {
        /* Detached and forgotten by the loop: nobody else will free it. */
        worker_free(w);
    }
    return NULL;
}

bool node_op_begin(struct node_ctx *c, const char *statfs_path)
{
    struct node_worker *w = c->w;
    if (w == NULL) {
        return true;
    }
    if (c->abandoned) {
        return false;
    }
    pthread_mutex_lock(&w->lock);
    if (w->abandoned) {
        c->abandoned = true;
        pthread_mutex_unlock(&w->lock);
        return false;
    }
    w->in_op = true;
    if (statfs_path != NULL) {
        /* Only a statfs is watched for hanging: other calls skip the clock and the copy. */
        w->op_since_ms = now_ms();
        snprintf(w->op_path, sizeof(w->op_path), "%s", statfs_path);
    } else {
        w->op_path[0] = '\0';
    }
    if (w->stopping) {
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    return true;
}

bool node_op_end(struct node_ctx *c)
{
    struct node_worker *w = c->w;
    if (w == NULL) {
        return true;
    }
    pthread_mutex_lock(&w->lock);
    w->in_op = false;
    bool abandoned = w->abandoned;
    if (abandoned && w->ticket != NULL) {
        atomic_store(&w->ticket->returned, true);
    }
    pthread_mutex_unlock(&w->lock);
    c->abandoned = abandoned;
    return !abandoned;
}

/* ---- the loop's side ----------------------------------------------------- */

/*
 * Starts the thread. Signals are blocked in it so that the loop's signal
 * handling keeps receiving them; its stack is small because a collection
 * keeps its data in the worker, not on the stack.
 */
static struct node_worker *worker_new(struct node *n)
{
    struct node_worker *w = gl_calloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->done = &n->done;
    node_ctx_init(&w->ctx, n);
    w->ctx.w = w;
    gl_buf_init(&w->stuck);
    gl_buf_init(&w->res.batch);
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 << 10);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* A thread of our own, not libuv's pool: a hung statfs must not take a pool thread. */
    int rc = pthread_create(&w->thread, &attr, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        gl_log_error(n->ins, "cannot start the collecting thread: %s", strerror(rc));
        worker_free(w);
        return NULL;
    }
    return w;
}

int node_worker_post(struct node *n, int64_t ts_ms)
{
    if (n->worker == NULL) {
        n->worker = worker_new(n);
        if (n->worker == NULL) {
            return GL_EIO;
        }
    }
    struct node_worker *w = n->worker;
    pthread_mutex_lock(&w->lock);
    if (w->state != W_IDLE) {
        pthread_mutex_unlock(&w->lock);
        return GL_EAGAIN;
    }
    gl_buf_reset(&w->stuck);
    for (size_t i = 0; i < n->n_stuck; i++) {
        gl_buf_append(&w->stuck, n->stuck[i]->path, strlen(n->stuck[i]->path) + 1);
    }
    w->res.ts_ms = ts_ms;
    w->state = W_RUN;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

bool node_worker_take(struct node *n, struct node_job_result *out)
{
    struct node_worker *w = n->worker;
    if (w == NULL) {
        return false;
    }
    pthread_mutex_lock(&w->lock);
    bool done = w->state == W_DONE;
    if (done) {
        struct gl_buf t = out->batch;
        out->batch = w->res.batch;
        w->res.batch = t;
        out->series = w->res.series;
        out->ts_ms = w->res.ts_ms;
        memcpy(out->result, w->res.result, sizeof(out->result));
        w->state = W_IDLE;
    }
    pthread_mutex_unlock(&w->lock);
    return done;
}

bool node_worker_busy(const struct node *n)
{
    struct node_worker *w = n->worker;
    if (w == NULL) {
        return false;
    }
    pthread_mutex_lock(&w->lock);
    bool busy = w->state == W_RUN;
    pthread_mutex_unlock(&w->lock);
    return busy;
}

/* Lets go of the thread (under its lock): it frees itself once its call returns. */
static void abandon(struct node *n, struct node_worker *w)
{
    w->abandoned = true;
    pthread_detach(w->thread);
    pthread_cond_broadcast(&w->wake);
    n->worker = NULL;
}

bool node_worker_check(struct node *n)
{
    struct node_worker *w = n->worker;
    if (w == NULL) {
        return false;
    }
    pthread_mutex_lock(&w->lock);
    int64_t waited = now_ms() - w->op_since_ms;
    if (w->state != W_RUN || !w->in_op || w->op_path[0] == '\0' ||
        waited < (int64_t)n->mount_timeout_ms) {
        pthread_mutex_unlock(&w->lock);
        return false;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", w->op_path);
    if (n->n_stuck < NODE_STUCK_MAX) {
        struct node_stuck *s = gl_calloc(1, sizeof(*s));
        atomic_init(&s->refs, 2);
        atomic_init(&s->returned, false);
        snprintf(s->path, sizeof(s->path), "%s", path);
        n->stuck[n->n_stuck++] = s;
        w->ticket = s;
    }
    abandon(n, w);
    pthread_mutex_unlock(&w->lock);
    gl_log_warn(n->ins,
                "statfs %s has not returned after %lld ms: reported with "
                "node_filesystem_device_error 1 until it does",
                path, (long long)waited);
    return true;
}

void node_stuck_prune(struct node *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n->n_stuck; i++) {
        if (atomic_load(&n->stuck[i]->returned)) {
            gl_log_info(n->ins, "statfs %s returned: the mount is collected again",
                        n->stuck[i]->path);
            stuck_release(n->stuck[i]);
        } else {
            n->stuck[kept++] = n->stuck[i];
        }
    }
    n->n_stuck = kept;
}

void node_worker_stop(struct node *n)
{
    struct node_worker *w = n->worker;
    if (w != NULL) {
        pthread_mutex_lock(&w->lock);
        /* Between two calls the thread reads the instance: wait until it is in one, or done. */
        w->stopping = true;
        while (w->state == W_RUN && !w->in_op) {
            pthread_cond_wait(&w->changed, &w->lock);
        }
        if (w->state == W_RUN) {
            abandon(n, w);
            pthread_mutex_unlock(&w->lock);
        } else {
            w->quit = true;
            pthread_cond_broadcast(&w->wake);
            pthread_mutex_unlock(&w->lock);
            pthread_join(w->thread, NULL);
            worker_free(w);
            n->worker = NULL;
        }
    }
    for (size_t i = 0; i < n->n_stuck; i++) {
        stuck_release(n->stuck[i]);
    }
    n->n_stuck = 0;
}

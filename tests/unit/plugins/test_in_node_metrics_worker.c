/*
 * Tests for plugins/in_node_metrics/in_node_metrics_worker.c: a collection
 * runs on the collecting thread and is handed to the loop; a thread stuck in
 * a read is let go at stop; a statfs stuck past the timeout is let go, its
 * mount reported with node_filesystem_device_error 1 until the call returns.
 * The worker file is included to reach its state (a read on a FIFO stands in
 * for a call that hangs, and the test says it was a statfs).
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "filter_harness.h"
#pragma GCC diagnostic pop
#include "plugins/in_node_metrics/in_node_metrics_worker.c"

extern const struct gl_plugin gl_in_node_metrics;

struct env {
    struct fh h;
    struct node *n;
    uv_loop_t loop;
    struct node_job_result res;
    bool taken;
    char root[64];
};

static void on_done(uv_async_t *a)
{
    struct env *e = a->data;
    e->taken = node_worker_take(e->n, &e->res) || e->taken;
}

static void put(const struct env *e, const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", e->root, rel);
    for (char *s = strchr(path + strlen(e->root) + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void env_open(struct env *e, const char *metrics)
{
    char yaml[512];
    memset(e, 0, sizeof(*e));
    snprintf(e->root, sizeof(e->root), "/tmp/gleaner-worker-XXXXXX");
    assert_non_null(mkdtemp(e->root));
    snprintf(yaml, sizeof(yaml),
             "metrics: %s\npath.procfs: %s/proc\npath.rootfs: %s/root\n"
             "filesystem.mount_timeout: 50ms\n",
             metrics, e->root, e->root);
    assert_int_equal(fh_open(&e->h, &gl_in_node_metrics, yaml), 0);
    e->n = e->h.ins.state;
    e->n->ins = &e->h.ins;
    gl_buf_init(&e->res.batch);
    uv_loop_init(&e->loop);
    uv_async_init(&e->loop, &e->n->done, on_done);
    e->n->done.data = e;
}

/* Runs the loop until a collection is taken (at most about two seconds). */
static bool env_wait(struct env *e)
{
    for (int i = 0; i < 200 && !e->taken; i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    bool taken = e->taken;
    e->taken = false;
    return taken;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void env_close(struct env *e)
{
    node_worker_stop(e->n);
    uv_close((uv_handle_t *)&e->n->done, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    gl_buf_close(&e->res.batch);
    fh_close(&e->h);
    nftw(e->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The value of one series of the collection taken, or -1. */
static double taken_value(const struct env *e, const char *family, const char *label_value)
{
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    struct gl_label l[GL_LABELS_MAX];
    gl_batch_iter_init_bytes(&it, e->res.batch.data, e->res.batch.len);
    while (gl_batch_next_family(&it, &f) == 0) {
        while (f.name_len == strlen(family) && memcmp(f.name, family, f.name_len) == 0 &&
               gl_batch_next_series(&it, &s) == 0) {
            uint32_t n = gl_series_labels(&s, l);
            for (uint32_t i = 0; i < n; i++) {
                if (l[i].value_len == strlen(label_value) &&
                    memcmp(l[i].value, label_value, l[i].value_len) == 0) {
                    return s.value;
                }
            }
            if (n == 0 && label_value[0] == '\0') {
                return s.value;
            }
        }
    }
    return -1;
}

/* Waits until the thread is inside a call (a blocked read). */
static void wait_in_op(struct node_worker *w)
{
    bool in = false;
    for (int i = 0; i < 200 && !in; i++) {
        pthread_mutex_lock(&w->lock);
        in = w->in_op;
        pthread_mutex_unlock(&w->lock);
        usleep(5000);
    }
    assert_true(in);
}

/* Gives the FIFO's reader what it waits for, so that its call returns. */
static void release_fifo(const struct env *e, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", e->root, rel);
    int fd = open(path, O_WRONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    assert_true(write(fd, "MemTotal: 1 kB\n", 15) == 15);
    close(fd);
}

static void test_node_worker_collects_off_the_loop(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "loadavg");
    put(&e, "proc/loadavg", "1.5 1 0.5 1/1 1\n");
    assert_int_equal(node_worker_post(e.n, 1700000000000), 0);
    assert_true(env_wait(&e));
    assert_int_equal(e.res.ts_ms, 1700000000000);
    assert_true(taken_value(&e, "node_load1", "") == 1.5);
    assert_true(taken_value(&e, "node_scrape_collector_success", "loadavg") == 1);
    assert_true(e.res.result[NODE_LOADAVG].ok);
    /* The same thread takes the next collection. */
    struct node_worker *w = e.n->worker;
    assert_int_equal(node_worker_post(e.n, 2), 0);
    assert_true(env_wait(&e));
    assert_ptr_equal(e.n->worker, w);
    env_close(&e);
}

static void test_node_worker_stop_lets_go_of_a_hung_read(void **state)
{
    (void)state;
    struct env e;
    char fifo[PATH_MAX];
    env_open(&e, "meminfo");
    put(&e, "proc/.keep", "");
    snprintf(fifo, sizeof(fifo), "%s/proc/meminfo", e.root);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(node_worker_post(e.n, 1), 0);
    wait_in_op(e.n->worker);
    assert_true(node_worker_busy(e.n));
    node_worker_stop(e.n); /* returns at once: the thread is let go */
    assert_null(e.n->worker);
    release_fifo(&e, "proc/meminfo");
    usleep(100000); /* the thread frees itself */
    env_close(&e);
}

static void test_node_worker_hung_statfs_reports_the_mount(void **state)
{
    (void)state;
    struct env e;
    char fifo[PATH_MAX], hung[PATH_MAX];
    env_open(&e, "meminfo, filesystem");
    put(&e, "proc/1/mounts", "/dev/a /hung ext4 rw 0 0\n/dev/b /ok ext4 rw 0 0\n");
    put(&e, "root/ok/.keep", "");
    put(&e, "root/hung/.keep", "");
    snprintf(fifo, sizeof(fifo), "%s/proc/meminfo", e.root);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(node_worker_post(e.n, 1), 0);
    struct node_worker *w = e.n->worker;
    wait_in_op(w);
    assert_false(node_worker_check(e.n)); /* a read, not a statfs: waited for */
    /* Say the call it is stuck in is the statfs of /hung, begun long ago. */
    snprintf(hung, sizeof(hung), "%s/root/hung", e.root);
    pthread_mutex_lock(&w->lock);
    snprintf(w->op_path, sizeof(w->op_path), "%s", hung);
    w->op_since_ms = 0;
    pthread_mutex_unlock(&w->lock);
    assert_true(node_worker_check(e.n));
    assert_null(e.n->worker);
    assert_int_equal(e.n->n_stuck, 1);
    /* The hung call returns; the thread, let go, frees itself. */
    release_fifo(&e, "proc/meminfo");
    usleep(100000);
    unlink(fifo);
    put(&e, "proc/meminfo", "MemTotal: 2 kB\n");
    /* Until the loop notices, the next collection, on a new thread, does not stat /hung. */
    assert_int_equal(node_worker_post(e.n, 2), 0);
    assert_true(env_wait(&e));
    assert_true(taken_value(&e, "node_filesystem_device_error", "/hung") == 1);
    assert_true(taken_value(&e, "node_filesystem_device_error", "/ok") == 0);
    assert_true(taken_value(&e, "node_filesystem_size_bytes", "/hung") == -1);
    /* Then it is tried again. */
    node_stuck_prune(e.n);
    assert_int_equal(e.n->n_stuck, 0);
    assert_int_equal(node_worker_post(e.n, 3), 0);
    assert_true(env_wait(&e));
    assert_true(taken_value(&e, "node_filesystem_device_error", "/hung") == 0);
    assert_true(taken_value(&e, "node_filesystem_size_bytes", "/hung") > 0);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_worker_collects_off_the_loop),
        cmocka_unit_test(test_node_worker_stop_lets_go_of_a_hung_read),
        cmocka_unit_test(test_node_worker_hung_statfs_reports_the_mount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests for kubelet's rotation as the tail input sees it, across its files:
 * the look at a followed file's path (in_tail_file.c), the scans and the
 * recovery of rotated files after a restart (in_tail_scan.c).
 *
 * Kubelet renames 0.log to 0.log.<time>, then the runtime creates the new
 * 0.log; in between, the containers/ link dangles. Each test builds that
 * layout in a temporary directory, starts the plugin on a loop of its own
 * (paused, as back-pressure would: nothing is read, so no engine is needed)
 * and looks at what it follows.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/engine.h"
#include "core/metrics.h"
#include "core/log.h"
#include "util/mem.h"
#include "config/option.h"
#include "core/plugin.h"
#include "plugins/in_tail/in_tail.h"

extern const struct gl_plugin gl_in_tail;

#define LINE1 "2024-05-01T10:11:12.000000001Z stdout F c0 seq=000001 first line of the file\n"
#define LINE2 "2024-05-01T10:11:12.000000002Z stdout F c0 seq=000002 second\n"
#define ROTATED "0.log.20240501-101113"

struct fixture {
    char dir[64];
    char pod[160];             /* <dir>/pods/default_pod-c0_uid/app-c0 */
    char log[192];             /* <pod>/0.log */
    char rotated[192];         /* <pod>/0.log.<time> */
    char yaml[512];
    uv_loop_t loop;
    struct gl_config *cfg;
    struct gl_instance ins;
};

static int setup(void **state)
{
    struct fixture *x = gl_calloc(1, sizeof(*x));
    char path[128];
    snprintf(x->dir, sizeof(x->dir), "/tmp/gl-rotation-XXXXXX");
    if (mkdtemp(x->dir) == NULL) {
        gl_free(x);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/pods", x->dir);
    mkdir(path, 0755);
    snprintf(x->pod, sizeof(x->pod), "%s/default_pod-c0_uid", path);
    mkdir(x->pod, 0755);
    strcat(x->pod, "/app-c0");
    mkdir(x->pod, 0755);
    snprintf(x->log, sizeof(x->log), "%s/0.log", x->pod);
    snprintf(x->rotated, sizeof(x->rotated), "%s/" ROTATED, x->pod);
    snprintf(path, sizeof(path), "%s/containers", x->dir);
    mkdir(path, 0755);
    /* A relative link, as some runtimes make them: followed by hand when it dangles. */
    strcat(path, "/pod-c0_default_app-c0-0123.log");
    if (symlink("../pods/default_pod-c0_uid/app-c0/0.log", path) < 0) {
        return -1;
    }
    snprintf(x->yaml, sizeof(x->yaml),
             "path: %s/containers/*.log\ndb: %s/tail.offsets\nread_from_head: on\n"
             "refresh_interval: 10s\nmultiline.parser: cri\n", x->dir, x->dir);
    uv_loop_init(&x->loop);
    *state = x;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *x = *state;
    nftw(x->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    gl_free(x);
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static void spit(const char *path, const char *data)
{
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fputs(data, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/*
 * Builds the instance from the fixture's options, as the engine would, and
 * starts it paused; returns its state.
 */
static struct tail *start_tail(struct fixture *x)
{
    static const char *const skip[] = { NULL };
    const struct gl_option *tables[] = { gl_in_tail.options, NULL };
    x->cfg = gl_config_load_text("test.yaml", x->yaml, strlen(x->yaml));
    assert_int_equal(x->cfg->error_count, 0);
    memset(&x->ins, 0, sizeof(x->ins));
    x->ins.plugin = &gl_in_tail;
    x->ins.alias = "tail.0";
    x->ins.tag = "kube.*";
    x->ins.loop = &x->loop;
    x->ins.state = gl_calloc(1, gl_in_tail.state_size);
    x->ins.core = gl_calloc(1, sizeof(*x->ins.core));
    assert_int_equal(gl_option_apply(x->cfg, "tail", tables, skip, x->cfg->root, x->ins.state),
                     0);
    assert_int_equal(gl_in_tail.init(&x->ins), 0);
    assert_int_equal(gl_in_tail.start(&x->ins), 0);
    struct tail *t = x->ins.state;
    t->paused = true;
    return t;
}

/* Stops the plugin as SIGTERM would, and frees it (the offsets are synced). */
static void stop_tail(struct fixture *x)
{
    gl_in_tail.stop(&x->ins);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    gl_in_tail.destroy(&x->ins);
    gl_option_free(gl_in_tail.options, x->ins.state);
    gl_free(x->ins.state);
    gl__metrics_free(&x->ins);
    gl_free(x->ins.core);
    gl_config_free(x->cfg);
}

/* The followed file that is the one at path now (same device and inode), or NULL. */
static const struct tail_file *file_at(const struct tail *t, const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    for (const struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (f->key.ino == (uint64_t)st.st_ino && f->key.dev == (uint64_t)st.st_dev) {
            return f;
        }
    }
    return NULL;
}

static void rotate_away(struct fixture *x)
{
    assert_int_equal(rename(x->log, x->rotated), 0);
}

/* Stops the loop once the plugin follows two files (checked every 10 ms). */
static void on_poll(uv_timer_t *h)
{
    struct fixture *x = h->data;
    struct tail *t = x->ins.state;
    if (t->n_files >= 2) {
        uv_stop(&x->loop);
    }
}

static void on_deadline(uv_timer_t *h)
{
    uv_stop(h->loop);
}

/* Runs the loop until two files are followed or ms pass; returns the time taken. */
static uint64_t run_until_two_files(struct fixture *x, uint64_t ms)
{
    uv_timer_t poll, deadline;
    uint64_t t0 = uv_now(&x->loop);
    uv_timer_init(&x->loop, &poll);
    uv_timer_init(&x->loop, &deadline);
    poll.data = x;
    uv_timer_start(&poll, on_poll, 10, 10);
    uv_timer_start(&deadline, on_deadline, ms, 0);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&poll, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&x->loop, UV_RUN_NOWAIT);
    uv_update_time(&x->loop);
    return uv_now(&x->loop) - t0;
}

/* ---- a look at the path while the runtime has not created 0.log yet ----- */

static void test_tail_rotation_late_new_file_is_followed(void **state)
{
    struct fixture *x = *state;
    spit(x->log, LINE1);
    struct tail *t = start_tail(x);
    assert_int_equal(t->n_files, 1);
    struct tail_file *f = t->files;

    rotate_away(x);
    tail_file_check(f, tail_now_ms());
    assert_true(f->deleted);
    assert_false(f->rotated);
    assert_int_equal(t->n_files, 1);

    spit(x->log, LINE2);
    tail_file_check(f, tail_now_ms());
    assert_true(f->rotated);
    assert_false(f->deleted);
    assert_int_equal(t->n_rotated, 1);
    assert_int_equal(t->n_files, 2);
    assert_non_null(file_at(t, x->log));
    assert_ptr_equal(file_at(t, x->rotated), f);
    stop_tail(x);
}

static void test_tail_path_naming_the_file_again_is_not_a_deletion(void **state)
{
    struct fixture *x = *state;
    spit(x->log, LINE1);
    struct tail *t = start_tail(x);
    struct tail_file *f = t->files;

    rotate_away(x);
    tail_file_check(f, tail_now_ms());
    assert_true(f->deleted);
    assert_int_equal(rename(x->rotated, x->log), 0);
    tail_file_check(f, tail_now_ms());
    assert_false(f->deleted);
    assert_false(f->rotated);
    assert_int_equal(t->n_files, 1);
    stop_tail(x);
}

/* ---- a restart while the link dangles ------------------------------------ */

static void test_tail_restart_mid_rotation_resumes_rotated_file(void **state)
{
    struct fixture *x = *state;
    spit(x->log, LINE1 LINE2);
    struct tail *t = start_tail(x);
    assert_int_equal(t->n_files, 1);
    /* The first line was delivered and its offset committed; the second was not. */
    tail_file_ack(t->files, 0, sizeof(LINE1) - 1);
    stop_tail(x);

    rotate_away(x);
    t = start_tail(x);
    assert_int_equal(t->n_files, 1);
    const struct tail_file *f = file_at(t, x->rotated);
    assert_non_null(f);
    assert_true(f->rotated);
    assert_int_equal(f->committed, sizeof(LINE1) - 1);
    assert_int_equal(f->read_off, sizeof(LINE1) - 1);
    stop_tail(x);
}

static void test_tail_restart_mid_rotation_follows_new_file_soon(void **state)
{
    struct fixture *x = *state;
    spit(x->log, LINE1);
    struct tail *t = start_tail(x);
    tail_file_ack(t->files, 0, sizeof(LINE1) - 1);
    stop_tail(x);

    rotate_away(x);
    t = start_tail(x);
    assert_int_equal(t->n_dangling, 1);
    assert_true(uv_is_active((uv_handle_t *)&t->rescan_timer));
    spit(x->log, LINE2);
    /* Long before refresh_interval's scan (10 s). */
    uint64_t took = run_until_two_files(x, 2000);
    assert_int_equal(t->n_files, 2);
    assert_in_range(took, 0, 1000);
    assert_non_null(file_at(t, x->log));
    assert_int_equal(t->n_dangling, 0);
    stop_tail(x);
}

int main(void)
{
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_tail_rotation_late_new_file_is_followed),
        T(test_tail_path_naming_the_file_again_is_not_a_deletion),
        T(test_tail_restart_mid_rotation_resumes_rotated_file),
        T(test_tail_restart_mid_rotation_follows_new_file_soon),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

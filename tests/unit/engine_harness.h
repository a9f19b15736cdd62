/*
 * A small harness for core tests that run a whole engine: builds it from
 * inline YAML with the test's own plugins (the test defines gl_plugins[]),
 * starts it on a private loop, turns the loop, and stops and frees it with
 * the loop closed cleanly (an assertion).
 *
 *   struct fx *fx = fx_open(ONE_OUTPUT(""));
 *   ... emit, turn(fx), complete flushes ...
 *   fx_close(fx);
 */
#ifndef GL_ENGINE_HARNESS_H
#define GL_ENGINE_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/engine.h"
#include "core/log.h"

struct fx {
    uv_loop_t loop;
    struct gl_engine *e;
};

static struct fx *fx_open(const char *yaml)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    struct gl_config *cfg = gl_config_load_text("t.yaml", yaml, strlen(yaml));
    fx->e = gl_engine_new(&fx->loop, cfg);
    for (size_t i = 0; cfg->error_count && i < cfg->error_count; i++) {
        print_error("%s\n", cfg->errors[i]);
    }
    assert_non_null(fx->e);
    gl_config_free(cfg);
    assert_int_equal(gl_engine_start(fx->e), 0);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    return fx;
}

static void fx_stopped(struct gl_engine *e, void *data)
{
    (void)e;
    *(int *)data = 1;
}

/* Stops with no grace (what is not delivered is abandoned) and frees everything. */
static void fx_close(struct fx *fx)
{
    int done = 0;
    fx->e->svc.grace_ms = 0;
    gl_engine_stop(fx->e, fx_stopped, &done);
    while (!done) {
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    gl_engine_free(fx->e);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
}

static void turn(struct fx *fx)
{
    uv_run(&fx->loop, UV_RUN_NOWAIT);
}

#endif

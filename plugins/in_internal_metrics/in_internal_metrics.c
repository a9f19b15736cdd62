/*
 * The internal_metrics input: the agent's own metrics (the numbers /metrics
 * shows, metrics/self.c) as one metrics batch every scrape_interval, so they
 * travel like any others: to prometheus_remote_write, the exporter, or
 * CloudWatch as Embedded Metric Format.
 */
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "metrics/self.h"

struct internal {
    uint64_t interval_ms;
    bool scrape_on_start;
    uv_timer_t timer;
    bool paused;
};

static const char *check_interval(const void *v)
{
    return *(const uint64_t *)v >= 100 ? NULL : "must be at least 100ms";
}

static const struct gl_option internal_options[] = {
    { .name = "scrape_interval", .type = GL_OPT_DURATION, .def = "2s", .check = check_interval,
      .offset = offsetof(struct internal, interval_ms), .help = "How often metrics are taken." },
    { .name = "scrape_on_start", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct internal, scrape_on_start),
      .help = "Take the first scrape at start instead of after one interval." },
    { 0 }
};

static void scrape(uv_timer_t *t)
{
    struct gl_instance *ins = t->data;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct gl_batch b;
    gl_batch_begin(&b, ins, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    gl_self_metrics(ins->engine, &b);
    gl_batch_commit(&b);
}

static int internal_start(struct gl_instance *ins)
{
    struct internal *m = ins->state;
    uv_timer_init(ins->loop, &m->timer);
    m->timer.data = ins;
    uv_timer_start(&m->timer, scrape, m->scrape_on_start ? 0 : m->interval_ms, m->interval_ms);
    return 0;
}

static void internal_pause(struct gl_instance *ins)
{
    struct internal *m = ins->state;
    uv_timer_stop(&m->timer);
}

static void internal_resume(struct gl_instance *ins)
{
    struct internal *m = ins->state;
    uv_timer_start(&m->timer, scrape, m->interval_ms, m->interval_ms);
}

static void internal_stop(struct gl_instance *ins)
{
    struct internal *m = ins->state;
    uv_close((uv_handle_t *)&m->timer, NULL);
}

const struct gl_plugin gl_in_internal_metrics = {
    .kind = GL_INPUT, .name = "internal_metrics", .data = GL_METRICS,
    .description = "The agent's own metrics as metrics events",
    .options = internal_options, .state_size = sizeof(struct internal),
    .start = internal_start, .pause = internal_pause, .resume = internal_resume,
    .stop = internal_stop,
};

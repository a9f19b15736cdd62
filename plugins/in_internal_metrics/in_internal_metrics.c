/*
 * The internal_metrics input: the agent's own metrics (the numbers /metrics
 * shows) as a metrics event every scrape_interval, so they can be routed to
 * any output like everything else. One record per scrape:
 *   {"metrics": [{"name", "type", "labels": {...}, "value"}, ...]}
 * Histogram series appear as their _bucket, _sum and _count series.
 */
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "core/event.h"
#include "core/metrics.h"
#include "core/plugin.h"

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

struct record_sink {
    struct gl_metrics_sink base;
    struct gl_event *ev;
    const char *type;
    uint32_t count;
};

static void on_family(struct gl_metrics_sink *s, const char *name, const char *type,
                      const char *help)
{
    (void)name;
    (void)help;
    ((struct record_sink *)s)->type = type;
}

/* Writes one series as a map into the open "metrics" array. */
static void on_sample(struct gl_metrics_sink *s, const char *name,
                      const struct gl_instance *ins, const char *k2, const char *v2,
                      double value)
{
    struct record_sink *rs = (struct record_sink *)s;
    msgpack_packer *pk = &rs->ev->pk;
    msgpack_pack_map(pk, 4);
    msgpack_pack_str_with_body(pk, "name", 4);
    msgpack_pack_str_with_body(pk, name, strlen(name));
    msgpack_pack_str_with_body(pk, "type", 4);
    msgpack_pack_str_with_body(pk, rs->type, strlen(rs->type));
    msgpack_pack_str_with_body(pk, "labels", 6);
    msgpack_pack_map(pk, (ins ? 2 : 0) + (k2 ? 1 : 0));
    if (ins != NULL) {
        msgpack_pack_str_with_body(pk, "name", 4);
        msgpack_pack_str_with_body(pk, ins->alias, strlen(ins->alias));
        msgpack_pack_str_with_body(pk, "plugin", 6);
        msgpack_pack_str_with_body(pk, ins->plugin->name, strlen(ins->plugin->name));
    }
    if (k2 != NULL) {
        msgpack_pack_str_with_body(pk, k2, strlen(k2));
        msgpack_pack_str_with_body(pk, v2, strlen(v2));
    }
    msgpack_pack_str_with_body(pk, "value", 5);
    msgpack_pack_double(pk, value);
    rs->count++;
}

static void count_family(struct gl_metrics_sink *s, const char *n, const char *t, const char *h)
{
    (void)s;
    (void)n;
    (void)t;
    (void)h;
}

static void count_sample(struct gl_metrics_sink *s, const char *name,
                         const struct gl_instance *ins, const char *k2, const char *v2,
                         double value)
{
    (void)name;
    (void)ins;
    (void)k2;
    (void)v2;
    (void)value;
    ((struct record_sink *)s)->count++;
}

static void scrape(uv_timer_t *t)
{
    struct gl_instance *ins = t->data;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* msgpack needs the array's length first: count the series, then write them. */
    struct record_sink counter = { .base = { .family = count_family, .sample = count_sample } };
    gl_metrics_walk(ins->engine, &counter.base);
    struct gl_event ev;
    gl_event_begin(&ev, ins, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
    gl_event_key(&ev, "metrics", 7);
    msgpack_pack_array(&ev.pk, counter.count);
    struct record_sink rs = { .base = { .family = on_family, .sample = on_sample }, .ev = &ev };
    gl_metrics_walk(ins->engine, &rs.base);
    gl_event_commit(&ev);
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
    .kind = GL_INPUT, .name = "internal_metrics",
    .description = "The agent's own metrics as metrics events",
    .options = internal_options, .state_size = sizeof(struct internal),
    .start = internal_start, .pause = internal_pause, .resume = internal_resume,
    .stop = internal_stop,
};

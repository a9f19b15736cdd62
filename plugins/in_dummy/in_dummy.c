/*
 * The dummy input: emits the record given by `dummy` (JSON) `rate` times a
 * second, stopping after `samples` when set, as Fluent Bit's. For tests,
 * benchmarks and the first run of a new install.
 *
 * The record body is read once at init and copied per record, so the input
 * itself costs next to nothing and benchmarks measure the pipeline. A timer
 * tick emits every record that is due since the start (capped per tick so
 * the loop stays responsive); while paused by back-pressure it emits nothing
 * and, on resume, carries on from where it was without a burst.
 */
#include <msgpack.h>
#include <string.h>
#include <time.h>

#include "codec/json.h"
#include "core/event.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/error.h"

#define PER_TICK_MAX 65536

struct dummy {
    char *json;
    int64_t rate;
    int64_t samples;
    bool fixed_timestamp;
    msgpack_sbuffer body;   /* the body map, encoded once */
    const char *pairs;      /* the body's key/value bytes, after the map header */
    size_t pairs_len;
    uint32_t n_pairs;
    uv_timer_t timer;
    uint64_t emitted;
    uint64_t started_ns;
    uint64_t start_wall;    /* fixed_timestamp's time */
    uint64_t paused_ns;     /* time spent paused, excluded from what is due */
    uint64_t paused_at;
    bool paused;
    bool done;
};

static const char *check_rate(const void *v)
{
    return *(const int64_t *)v >= 1 ? NULL : "must be at least 1";
}

static const char *check_samples(const void *v)
{
    return *(const int64_t *)v >= 0 ? NULL : "must be 0 (no limit) or more";
}

static const struct gl_option dummy_options[] = {
    { .name = "dummy", .type = GL_OPT_STR, .def = "{\"message\":\"dummy\"}",
      .offset = offsetof(struct dummy, json), .help = "The record to emit, as a JSON object." },
    { .name = "rate", .type = GL_OPT_INT, .def = "1", .check = check_rate,
      .offset = offsetof(struct dummy, rate), .help = "Records per second." },
    { .name = "samples", .type = GL_OPT_INT, .def = "0", .check = check_samples,
      .offset = offsetof(struct dummy, samples),
      .help = "Stop after this many records (0: never stop)." },
    { .name = "fixed_timestamp", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct dummy, fixed_timestamp),
      .help = "Give every record the time the input started instead of the current time." },
    { 0 }
};

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Finds where a packed map's pairs start: after its fixmap, map16 or map32 header. */
static size_t map_header_len(unsigned char b)
{
    if ((b & 0xf0) == 0x80) {
        return 1;
    }
    return b == 0xde ? 3 : 5;
}

static void dummy_destroy(struct gl_instance *ins)
{
    struct dummy *d = ins->state;
    msgpack_sbuffer_destroy(&d->body);
}

/* Reads the dummy record once; on failure frees what it made (destroy is not called). */
static int dummy_init(struct gl_instance *ins)
{
    struct dummy *d = ins->state;
    struct gl_json_error err;
    msgpack_packer pk;
    msgpack_sbuffer_init(&d->body);
    msgpack_packer_init(&pk, &d->body, msgpack_sbuffer_write);
    size_t len = strlen(d->json);
    if (gl_json_read(d->json, len, &pk, 0, &err) < 0) {
        gl_instance_option_error(ins, "dummy", "invalid JSON at byte %zu: %s", err.offset,
                                 err.what);
        dummy_destroy(ins);
        return GL_ECONFIG;
    }
    unsigned char first = (unsigned char)d->body.data[0];
    if ((first & 0xf0) != 0x80 && first != 0xde && first != 0xdf) {
        gl_instance_option_error(ins, "dummy", "expected a JSON object, got %s", d->json);
        dummy_destroy(ins);
        return GL_ECONFIG;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    msgpack_unpack_next(&up, d->body.data, d->body.size, NULL);
    d->n_pairs = up.data.via.map.size;
    msgpack_unpacked_destroy(&up);
    size_t h = map_header_len(first);
    d->pairs = d->body.data + h;
    d->pairs_len = d->body.size - h;
    return 0;
}

/* Emits what is due now; returns without emitting while paused or done. */
static void dummy_tick(uv_timer_t *t)
{
    struct gl_instance *ins = t->data;
    struct dummy *d = ins->state;
    uint64_t now = uv_hrtime();
    uint64_t elapsed = now - d->started_ns - d->paused_ns;
    uint64_t due = (uint64_t)((double)elapsed / 1e9 * (double)d->rate) + 1 - d->emitted;
    if (d->samples > 0 && d->emitted + due > (uint64_t)d->samples) {
        due = (uint64_t)d->samples - d->emitted;
    }
    if (due > PER_TICK_MAX) {
        due = PER_TICK_MAX;
    }
    uint64_t ts = d->fixed_timestamp ? d->start_wall : wall_ns();
    struct gl_event ev;
    for (uint64_t i = 0; i < due && !d->paused; i++) {
        gl_event_begin(&ev, ins, ts);
        gl_event_raw_pairs(&ev, d->pairs, d->pairs_len, d->n_pairs);
        d->emitted++;
        if (gl_event_commit(&ev) == GL_EPAUSED) {
            break;
        }
    }
    if (d->samples > 0 && d->emitted >= (uint64_t)d->samples && !d->done) {
        d->done = true;
        uv_timer_stop(&d->timer);
        gl_log_info(ins, "emitted %llu records (samples reached)",
                    (unsigned long long)d->emitted);
    }
}

static uint64_t tick_ms(const struct dummy *d)
{
    return d->rate >= 1000 ? 1 : (uint64_t)(1000 / d->rate);
}

static int dummy_start(struct gl_instance *ins)
{
    struct dummy *d = ins->state;
    uv_timer_init(ins->loop, &d->timer);
    d->timer.data = ins;
    d->started_ns = uv_hrtime();
    d->start_wall = wall_ns();
    uv_timer_start(&d->timer, dummy_tick, 0, tick_ms(d));
    return 0;
}

static void dummy_pause(struct gl_instance *ins)
{
    struct dummy *d = ins->state;
    d->paused = true;
    d->paused_at = uv_hrtime();
    uv_timer_stop(&d->timer);
}

static void dummy_resume(struct gl_instance *ins)
{
    struct dummy *d = ins->state;
    d->paused = false;
    d->paused_ns += uv_hrtime() - d->paused_at;
    if (!d->done) {
        uv_timer_start(&d->timer, dummy_tick, 0, tick_ms(d));
    }
}

static void dummy_stop(struct gl_instance *ins)
{
    struct dummy *d = ins->state;
    uv_close((uv_handle_t *)&d->timer, NULL);
}


const struct gl_plugin gl_in_dummy = {
    .kind = GL_INPUT, .name = "dummy", .data = GL_LOGS,
    .description = "Emit a fixed JSON record at a given rate (tests, benchmarks)",
    .options = dummy_options, .state_size = sizeof(struct dummy),
    .init = dummy_init, .start = dummy_start, .pause = dummy_pause, .resume = dummy_resume,
    .stop = dummy_stop, .destroy = dummy_destroy,
};

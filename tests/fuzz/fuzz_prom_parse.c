/*
 * Fuzzes the exposition reader (agent/metrics/prom_parse.c) and what the
 * prometheus_scrape input does with its samples: arbitrary bytes are read
 * as the text format or OpenMetrics (the first byte chooses), each sample's
 * series text must read back to the same name and labels (for valid names:
 * an indented sample's name keeps its spaces, as in Prometheus), and the whole
 * body goes through the input's sample path (target labels, relabelling,
 * histograms put together, staleness markers for a second, empty scrape)
 * into a batch that must read back with every series it says it has, and
 * be written as text. Nothing may read past the body or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/prom_parse.h"
#include "metrics/prom_text.h"
#include "plugins/in_prometheus_scrape/in_prometheus_scrape.h"

static uint64_t counters[16];

/* Every sample's series text reads back to its name and labels. */
static void round_trip(const char *body, size_t len, enum gl_prom_format f)
{
    static struct gl_prom_parser ps, again;
    static bool ready;
    if (!ready) {
        gl_prom_parser_init(&ps);
        gl_prom_parser_init(&again);
        ready = true;
    }
    gl_prom_parser_reset(&ps, body, len, f);
    while (gl_prom_parse_next(&ps) == 1) {
        const struct gl_prom_sample *s = &ps.sample;
        if (s->series < body || s->series + s->series_len > body + len) {
            abort();
        }
        if (!gl_prom_metric_name_valid(s->name, s->name_len)) {
            continue; /* an indented sample keeps its spaces in its name; the scrape fails */
        }
        if (gl_prom_parse_series(&again, s->series, s->series_len) < 0 ||
            again.sample.name_len != s->name_len || again.sample.n_labels != s->n_labels) {
            abort();
        }
        for (uint32_t i = 0; i < s->n_labels; i++) {
            if (again.sample.labels[i].value_len != s->labels[i].value_len ||
                memcmp(again.sample.labels[i].value, s->labels[i].value,
                       s->labels[i].value_len) != 0) {
                abort();
            }
        }
    }
}

/* The input's sample path over the body, then an empty scrape (staleness markers). */
static void sample_path(const char *body, size_t len, enum gl_prom_format f)
{
    static struct gl_instance ins;
    struct scrape s;
    struct target t;
    struct gl_label tl[] = { { "instance", 8, "i:1", 3 }, { "job", 3, "j", 1 } };
    struct gl_buf buf, text;
    struct gl_batch b;
    struct append_result r;
    struct failure fail;
    memset(&s, 0, sizeof(s));
    memset(&t, 0, sizeof(t));
    s.ins = &ins;
    s.honor_timestamps = true;
    s.sample_limit = 5000;
    uint64_t **m = (uint64_t **)&s.m;
    for (size_t i = 0; i < sizeof(s.m) / sizeof(uint64_t *); i++) {
        m[i] = &counters[i];
    }
    gl_prom_parser_init(&s.parser);
    gl_labelset_init(&s.ls);
    seen_init(&s.cur);
    gl_buf_init(&s.series_text);
    family_init(&s);
    t.s = &s;
    t.labels = tl;
    t.n_labels = 2;
    seen_init(&t.prev);
    gl_buf_init(&buf);
    gl_buf_init(&text);
    for (int round = 0; round < 2; round++) {
        gl_batch_begin_buf(&b, &buf, 1000 + round);
        family_begin(&s, &b);
        seen_clear(&s.cur);
        enum gl_prom_format fmt = round == 0 ? f : GL_PROM_TEXT;
        size_t n_body = round == 0 ? len : 0;
        if (append_body(&s, &t, round == 0 ? body : "", n_body, fmt, &r, &fail) < 0) {
            gl_batch_abort(&b);
            break;
        }
        family_end(&s);
        if (t.prev_live) {
            append_stale(&s, &t, &s.cur, 0);
        }
        gl_batch_commit(&b);
        struct seen spare = t.prev;
        t.prev = s.cur;
        s.cur = spare;
        t.prev_live = true;
    }
    struct gl_batch_iter it;
    struct gl_family fam;
    struct gl_series ser;
    uint32_t n = 0;
    gl_batch_iter_init_bytes(&it, buf.data, buf.len);
    while (gl_batch_next_family(&it, &fam) == 0) {
        while (gl_batch_next_series(&it, &ser) == 0) {
            n++;
        }
    }
    if (it.off != buf.len) {
        abort(); /* what the batch wrote must read back whole */
    }
    gl_prom_write(&text, buf.data, buf.len, GL_PROM_OPENMETRICS);
    (void)n;
    gl_buf_close(&buf);
    gl_buf_close(&text);
    seen_close(&t.prev);
    seen_close(&s.cur);
    gl_buf_close(&s.series_text);
    family_free(&s);
    gl_labelset_close(&s.ls);
    gl_prom_parser_close(&s.parser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    enum gl_prom_format f = data[0] & 1 ? GL_PROM_OPENMETRICS : GL_PROM_TEXT;
    /* A copy of exactly the body's size, so that a read past it is caught. */
    char *body = malloc(size - 1 ? size - 1 : 1);
    memcpy(body, data + 1, size - 1);
    round_trip(body, size - 1, f);
    sample_path(body, size - 1, f);
    double v;
    gl_prom_parse_float(body, size - 1 < 64 ? size - 1 : 64, &v);
    free(body);
    return 0;
}

/*
 * The WriteRequest encoder, byte for byte against what Google's protobuf
 * library writes for the same message (the expected bytes were made with
 * python3-protobuf), and its series: __name__ and extra labels sorted in,
 * a series' own label winning over an extra one, histograms and summaries as
 * their classic series, staleness markers kept bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics/batch.h"
#include "metrics/remote_write.h"

#define L(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

/* Reads the series of one batch in buf into rs; returns how many. */
static size_t series_of(struct gl_buf *buf, struct gl_rw_series *rs, size_t max)
{
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    size_t n = 0;
    gl_batch_iter_init_bytes(&it, buf->data, buf->len);
    while (gl_batch_next_family(&it, &f) == 0) {
        while (gl_batch_next_series(&it, &s) == 0 && n < max) {
            rs[n++] = (struct gl_rw_series){ f.name, f.name_len, f.type, f.help, f.help_len,
                                             f.unit, f.unit_len, s.raw, (uint32_t)s.raw_len,
                                             f.batch_ts_ms };
        }
    }
    return n;
}

static void hex(const struct gl_buf *b, char *out)
{
    for (size_t i = 0; i < b->len; i++) {
        sprintf(out + 2 * i, "%02x", (unsigned char)b->data[i]);
    }
}

static void test_rw_matches_protobuf_bytes(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    struct gl_batch b;
    struct gl_rw_series rs[4];
    char text[1024];
    gl_buf_init(&buf);
    gl_buf_init(&out);
    gl_batch_begin_buf(&b, &buf, 1700000000000);
    gl_batch_family(&b, "up", 2, GL_METRIC_GAUGE, "Up.", 3, NULL, 0);
    struct gl_label l[] = { L("job", "node") };
    gl_batch_sample(&b, l, 1, 0, 1.0);
    gl_batch_commit(&b);
    size_t n = series_of(&buf, rs, 4);
    gl_rw_encode(&out, rs, n, NULL, 0, true);
    hex(&out, text);
    assert_string_equal(text, "0a2f0a0e0a085f5f6e616d655f5f120275700a0b0a036a6f6212046e6f64651210"
                              "09000000000000f03f1080d095ffbc311a0b080212027570220355702e");
    assert_int_equal(gl_rw_samples(&rs[0]), 1);
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

/* The labels of each TimeSeries in a body, as "name=value,..." lines (a small reader). */
static void labels_of(const struct gl_buf *body, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)body->data, *end = p + body->len;
    size_t o = 0;
    out[0] = '\0';
    while (p < end && *p == 0x0a) {
        size_t ts_len = p[1];
        const unsigned char *q = p + 2, *ts_end = q + ts_len;
        while (q < ts_end && *q == 0x0a) {
            const unsigned char *lab = q + 2;
            size_t nl = lab[1], vl = lab[3 + nl];
            o += (size_t)snprintf(out + o, cap - o, "%.*s=%.*s,", (int)nl, lab + 2, (int)vl,
                                  lab + 4 + nl);
            q += 2 + q[1];
        }
        o += (size_t)snprintf(out + o, cap - o, "\n");
        p = ts_end;
    }
}

static void test_rw_labels_name_extra_and_classic_series(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    struct gl_batch b;
    struct gl_rw_series rs[4];
    char text[2048];
    gl_buf_init(&buf);
    gl_buf_init(&out);
    gl_batch_begin_buf(&b, &buf, 5);
    gl_batch_family(&b, "lat", 3, GL_METRIC_HISTOGRAM, NULL, 0, NULL, 0);
    struct gl_label l[] = { L("zone", "a"), L("Job", "api") };
    struct gl_bucket bk[] = { { 0.5, 1 }, { INFINITY, 2 } };
    gl_batch_histogram(&b, l, 2, 0, bk, 2, 0.75, 2);
    gl_batch_family(&b, "q", 1, GL_METRIC_SUMMARY, NULL, 0, NULL, 0);
    struct gl_quantile q[] = { { 0.99, 3 } };
    gl_batch_summary(&b, NULL, 0, 0, q, 1, 9, 4);
    gl_batch_commit(&b);
    size_t n = series_of(&buf, rs, 4);
    struct gl_label extra[] = { L("cluster", "prod"), L("zone", "extra-loses") };
    gl_rw_encode(&out, rs, n, extra, 2, false);
    labels_of(&out, text, sizeof(text));
    assert_string_equal(text, "Job=api,__name__=lat_bucket,cluster=prod,le=0.5,zone=a,\n"
                              "Job=api,__name__=lat_bucket,cluster=prod,le=+Inf,zone=a,\n"
                              "Job=api,__name__=lat_sum,cluster=prod,zone=a,\n"
                              "Job=api,__name__=lat_count,cluster=prod,zone=a,\n"
                              "__name__=q,cluster=prod,quantile=0.99,zone=extra-loses,\n"
                              "__name__=q_sum,cluster=prod,zone=extra-loses,\n"
                              "__name__=q_count,cluster=prod,zone=extra-loses,\n");
    assert_int_equal(gl_rw_samples(&rs[0]), 4);
    assert_int_equal(gl_rw_samples(&rs[1]), 3);
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

static void test_rw_keeps_stale_marker_bits(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    struct gl_batch b;
    struct gl_rw_series rs[1];
    gl_buf_init(&buf);
    gl_buf_init(&out);
    gl_batch_begin_buf(&b, &buf, 7);
    gl_batch_family(&b, "x", 1, GL_METRIC_GAUGE, NULL, 0, NULL, 0);
    gl_batch_sample(&b, NULL, 0, 0, gl_metric_stale());
    gl_batch_commit(&b);
    gl_rw_encode(&out, rs, series_of(&buf, rs, 1), NULL, 0, false);
    static const unsigned char stale[] = { 0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f };
    assert_non_null(memmem(out.data, out.len, stale, sizeof(stale)));
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rw_matches_protobuf_bytes),
        cmocka_unit_test(test_rw_labels_name_extra_and_classic_series),
        cmocka_unit_test(test_rw_keeps_stale_marker_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

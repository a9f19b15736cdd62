/* Tests for agent/codec/timefmt.c: the RFC 3339 fast path, its seconds form, strptime-like formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "codec/timefmt.h"
#include "util/error.h"

/* 2024-05-01T12:00:00Z in seconds. */
#define MAY1_NOON 1714564800ull
#define NS 1000000000ull

/* A copy of s in a block of exactly its length, so that reading past it is a sanitizer error. */
static char *exact(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static uint64_t rfc3339(const char *s)
{
    uint64_t ns = 12345;
    char *p = exact(s, strlen(s));
    assert_int_equal(gl_timefmt_parse_rfc3339(p, strlen(s), &ns), 0);
    free(p);
    return ns;
}

/* A time neither RFC 3339 reader takes, and that leaves the output as it was. */
static void assert_bad_time(const char *s)
{
    uint64_t ns = 12345;
    int64_t sec = 12345;
    char *p = exact(s, strlen(s));
    assert_int_equal(gl_timefmt_parse_rfc3339(p, strlen(s), &ns), GL_EPARSE);
    assert_int_equal(ns, 12345);
    assert_int_equal(gl_timefmt_parse_rfc3339_sec(p, strlen(s), &sec), GL_EPARSE);
    assert_int_equal(sec, 12345);
    free(p);
}

static int64_t sec(const char *s)
{
    int64_t t = 12345;
    char *p = exact(s, strlen(s));
    assert_int_equal(gl_timefmt_parse_rfc3339_sec(p, strlen(s), &t), 0);
    free(p);
    return t;
}

static uint64_t fmt(const char *format, const char *s)
{
    uint64_t ns = 12345;
    char *p = exact(s, strlen(s));
    assert_int_equal(gl_timefmt_parse(format, p, strlen(s), &ns), 0);
    free(p);
    return ns;
}

static void assert_bad_fmt(const char *format, const char *s)
{
    uint64_t ns = 12345;
    char *p = exact(s, strlen(s));
    assert_int_equal(gl_timefmt_parse(format, p, strlen(s), &ns), GL_EPARSE);
    assert_int_equal(ns, 12345);
    free(p);
}

/* ---- RFC 3339 ---- */

static void test_rfc3339_nine_digit_fraction_is_exact(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2024-05-01T12:00:00.123456789Z"), MAY1_NOON * NS + 123456789);
}

static void test_rfc3339_three_digit_fraction_scales_to_ns(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2024-05-01T12:00:00.123Z"), MAY1_NOON * NS + 123000000);
    assert_int_equal(rfc3339("2024-05-01T12:00:00.5Z"), MAY1_NOON * NS + 500000000);
}

/* Each length of fraction, before Z (short tails) and before an offset (eight bytes or more). */
static void test_rfc3339_fractions_of_one_to_nine_digits_scale_to_ns(void **state)
{
    static const char *const zones[] = {"Z", "+00:00"};
    static const uint64_t want[10] = {0,         900000000, 980000000, 987000000, 987600000,
                                      987650000, 987654000, 987654300, 987654320, 987654321};
    char s[64];
    (void)state;
    for (int z = 0; z < 2; z++) {
        for (int k = 1; k <= 9; k++) {
            snprintf(s, sizeof(s), "2024-05-01T12:00:00.%.*s%s", k, "987654321", zones[z]);
            assert_int_equal(rfc3339(s), MAY1_NOON * NS + want[k]);
        }
    }
    assert_int_equal(rfc3339("2024-05-01T12:00:00.000000000Z"), MAY1_NOON * NS);
    assert_int_equal(rfc3339("2024-05-01T12:00:00.00000001Z"), MAY1_NOON * NS + 10);
}

static void test_rfc3339_without_fraction(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2024-05-01T12:00:00Z"), MAY1_NOON * NS);
    assert_int_equal(rfc3339("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(rfc3339("2000-03-01T00:00:00z"), 951868800ull * NS);
    assert_int_equal(rfc3339("2000-03-01t00:00:00Z"), 951868800ull * NS);
}

static void test_rfc3339_digits_past_nine_are_ignored(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2024-05-01T12:00:00.1234567899Z"), MAY1_NOON * NS + 123456789);
    assert_int_equal(rfc3339("2024-05-01T12:00:00.12345678999999999999+00:00"),
                     MAY1_NOON * NS + 123456789);
}

static void test_rfc3339_offsets_convert_to_utc(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2024-05-01T14:00:00.000000001+02:00"), MAY1_NOON * NS + 1);
    assert_int_equal(rfc3339("2024-05-01T06:30:00-05:30"), MAY1_NOON * NS);
    assert_int_equal(rfc3339("2024-05-01T12:00:00+00:00"), MAY1_NOON * NS);
    assert_int_equal(rfc3339("2024-05-02T11:59:00+23:59"), MAY1_NOON * NS);
    assert_int_equal(rfc3339("2024-04-30T12:01:00-23:59"), MAY1_NOON * NS);
}

static void test_rfc3339_leap_day_and_leap_second(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2024-02-29T00:00:00Z"), 1709164800ull * NS);
    assert_int_equal(rfc3339("2000-02-29T00:00:00Z"), 951782400ull * NS);
    assert_int_equal(rfc3339("2400-02-29T00:00:00Z"), 13574563200ull * NS);
    assert_int_equal(rfc3339("2024-05-01T11:59:60Z"), MAY1_NOON * NS);
    assert_int_equal(rfc3339("2024-12-31T23:59:60Z"), 1735689600ull * NS);
    assert_bad_time("2023-02-29T12:00:00Z");
    assert_bad_time("2100-02-29T12:00:00Z");
}

static void test_rfc3339_limits_of_64_bit_ns(void **state)
{
    (void)state;
    assert_int_equal(rfc3339("2554-07-21T23:34:33.709551615Z"), UINT64_MAX);
    uint64_t ns = 12345;
    const char *past = "2554-07-21T23:34:33.709551616Z";
    assert_int_equal(gl_timefmt_parse_rfc3339(past, strlen(past), &ns), GL_EPARSE);
    const char *before = "1969-12-31T23:59:59Z";
    assert_int_equal(gl_timefmt_parse_rfc3339(before, strlen(before), &ns), GL_EPARSE);
    const char *shifted = "1970-01-01T00:30:00+01:00";
    assert_int_equal(gl_timefmt_parse_rfc3339(shifted, strlen(shifted), &ns), GL_EPARSE);
    assert_int_equal(ns, 12345);
}

static void test_rfc3339_rejects_malformed_times(void **state)
{
    (void)state;
    assert_bad_time("");
    assert_bad_time("2024-05-01T12:00:00");
    assert_bad_time("2024-05-01 12:00:00Z");
    assert_bad_time("2024-05-01T12:00:00.Z");
    assert_bad_time("2024-05-01T12:00:00.123");
    assert_bad_time("2024-05-01T12:00:00.123456789");
    assert_bad_time("2024-05-0aT12:00:00Z");
    assert_bad_time("2024-05-01T12:00:00+2:00");
    assert_bad_time("2024-05-01T12:00:00+0200");
    assert_bad_time("2024-05-01T12:00:00ZZ");
    assert_bad_time("2024-05-01T12:00:00.123Zx");
    assert_bad_time("2024-05-01T12:00:00.123456789Zx");
    assert_bad_time("2024/05/01T12:00:00Z");
    assert_bad_time("2024-05-01T12.00.00Z");
    assert_bad_time("+024-05-01T12:00:00Z");
    assert_bad_time(" 2024-05-01T12:00:00Z");
    assert_bad_time("2024-05-01T12:00:00Z ");
    /* Bytes next to the digits: '/' and ':', and high bytes whose adding-6 carries. */
    assert_bad_time("2024-05-/1T12:00:00Z");
    assert_bad_time("2024-05-01T12:0:00Z0");
    assert_bad_time("2024-05-01T1\xff:00:00Z");
    assert_bad_time("\xfa"
                    "024-05-01T12:00:00Z");
    assert_bad_time("2024-05-01T12:00:00.\xff"
                    "23456789Z");
    assert_bad_time("2024-05-01T12:00:00.12345678\xffZ");
}

static void test_rfc3339_rejects_out_of_range_fields(void **state)
{
    (void)state;
    assert_bad_time("2024-00-01T12:00:00Z");
    assert_bad_time("2024-13-01T12:00:00Z");
    assert_bad_time("2024-05-00T12:00:00Z");
    assert_bad_time("2024-05-32T12:00:00Z");
    assert_bad_time("2024-04-31T12:00:00Z");
    assert_bad_time("2024-06-31T12:00:00Z");
    assert_bad_time("2024-05-01T24:00:00Z");
    assert_bad_time("2024-05-01T12:60:00Z");
    assert_bad_time("2024-05-01T12:00:61Z");
    assert_bad_time("2024-05-01T12:00:00+24:00");
    assert_bad_time("2024-05-01T12:00:00+02:60");
}

/* Every prefix of a valid time is rejected, and none is read past its length. */
static void test_rfc3339_rejects_every_truncation(void **state)
{
    static const char *const full[] = {
        "2024-05-01T12:00:00Z",           "2024-05-01T12:00:00.5Z",
        "2024-05-01T12:00:00.123456789Z", "2024-05-01T12:00:00.123456789012+02:00",
        "2024-05-01T12:00:00-05:30",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
        for (size_t n = 0; n < strlen(full[i]); n++) {
            uint64_t ns = 12345;
            int64_t t = 12345;
            char *p = exact(full[i], n);
            assert_int_equal(gl_timefmt_parse_rfc3339(p, n, &ns), GL_EPARSE);
            assert_int_equal(gl_timefmt_parse_rfc3339_sec(p, n, &t), GL_EPARSE);
            free(p);
        }
        rfc3339(full[i]);
    }
}

/* The length bounds the time: what follows it in memory (a CRI line's stream) is not read. */
static void test_rfc3339_reads_only_its_length(void **state)
{
    const char *line = "2024-05-01T12:00:00.123Z stdout F hello";
    uint64_t ns;
    (void)state;
    assert_int_equal(gl_timefmt_parse_rfc3339(line, 24, &ns), 0);
    assert_int_equal(ns, MAY1_NOON * NS + 123000000);
    assert_int_equal(gl_timefmt_parse_rfc3339(line, 25, &ns), GL_EPARSE);
    assert_int_equal(gl_timefmt_parse_rfc3339(line, 23, &ns), GL_EPARSE);
}

/* ---- RFC 3339 in seconds (credential expirations) ---- */

static void test_rfc3339_sec_drops_fraction_and_applies_offset(void **state)
{
    (void)state;
    assert_int_equal(sec("2024-05-01T13:00:00Z"), 1714568400);
    assert_int_equal(sec("2024-05-01T13:00:00.123Z"), 1714568400);
    assert_int_equal(sec("2024-05-01T13:00:00.999999999999Z"), 1714568400);
    assert_int_equal(sec("2024-05-01T15:00:00+02:00"), 1714568400);
    assert_bad_time("2024-05-01 13:00:00Z");
    assert_bad_time("2024-13-01T13:00:00Z");
}

static void test_rfc3339_sec_reads_every_four_digit_year(void **state)
{
    (void)state;
    assert_int_equal(sec("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(sec("1900-03-01T00:00:00Z"), -2203891200);
    assert_int_equal(sec("0000-01-01T00:00:00+23:59"), -62167305540);
    assert_int_equal(sec("9999-12-31T23:59:60-23:59"), 253402387140);
    assert_int_equal(sec("2554-07-21T23:34:34Z"), 18446744074);
    assert_bad_time("1900-02-29T00:00:00Z");
}

/* ---- strptime-like formats ---- */

static void test_format_reads_iso8601(void **state)
{
    (void)state;
    assert_true(fmt("%Y-%m-%dT%H:%M:%S", "2024-02-29T23:59:59") == 1709251199ull * NS);
    assert_true(fmt("%Y-%m-%dT%H:%M:%S.%L%z", "2000-01-01T01:00:01.000000001+01:00") ==
                946684801000000001ull);
    assert_true(fmt("%Y-%m-%dT%H:%M:%S.%L%z", "2024-05-01T12:00:00.123Z") ==
                MAY1_NOON * NS + 123000000);
    assert_true(fmt("%FT%T%z", "2000-01-01T00:00:00Z") == 946684800ull * NS);
    assert_true(fmt("%Y-%m-%d %H:%M:%S%z", "2024-05-01 14:00:00+0200") == MAY1_NOON * NS);
    assert_true(fmt("%Y-%m-%d %H:%M:%S%z", "2024-05-01 14:00:00+02") == MAY1_NOON * NS);
}

static void test_format_reads_apache_and_nginx_times(void **state)
{
    (void)state;
    assert_true(fmt("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700") == 971211336ull * NS);
    assert_true(fmt("%d/%b/%Y:%H:%M:%S %z", "01/May/2024:14:00:00 +0200") == MAY1_NOON * NS);
    assert_true(fmt("%d/%b/%Y:%H:%M:%S %z", "01/may/2024:12:00:00 +0000") == MAY1_NOON * NS);
    assert_true(fmt("%a, %d %B %Y %T %Z", "Wed, 01 May 2024 12:00:00 GMT") == MAY1_NOON * NS);
}

static void test_format_reads_epoch_seconds(void **state)
{
    (void)state;
    assert_true(fmt("%s", "1700000000") == 1700000000ull * NS);
    assert_true(fmt("%s", "1700000000.000123") == 1700000000000123000ull);
    assert_true(fmt("%s", "0") == 0);
    assert_true(fmt("%s", "18446744073.709551615") == UINT64_MAX);
    assert_bad_fmt("%s", "18446744073.709551616");
    assert_bad_fmt("%s", "999999999999");
    assert_bad_fmt("%s", "-1");
    assert_bad_fmt("%s", "1700000000.");
}

static void test_format_reads_fraction_digits(void **state)
{
    char s[64];
    (void)state;
    assert_true(fmt("%H:%M:%S.%L %Y", "00:00:01.1 1970") == 1100000000ull);
    assert_true(fmt("%H:%M:%S,%L %Y", "00:00:01,1234567891 1970") == 1123456789ull);
    for (int k = 1; k <= 9; k++) {
        uint64_t want = 987654321;
        for (int i = k; i < 9; i++) {
            want = want / 10;
        }
        for (int i = k; i < 9; i++) {
            want *= 10;
        }
        snprintf(s, sizeof(s), "1970-01-01T00:00:01.%.*sZ", k, "987654321");
        assert_true(fmt("%Y-%m-%dT%H:%M:%S.%L%z", s) == NS + want);
    }
    assert_bad_fmt("%H:%M:%S.%L %Y", "00:00:01. 1970");
}

static void test_format_reads_12_hour_clock(void **state)
{
    (void)state;
    assert_true(fmt("%Y-%m-%d %I:%M %p", "1970-01-02 12:30 AM") == 88200ull * NS);
    assert_true(fmt("%Y-%m-%d %I:%M %p", "1970-01-01 01:00 pm") == 46800ull * NS);
}

static void test_format_reads_day_of_year_and_two_digit_year(void **state)
{
    (void)state;
    assert_true(fmt("%Y %j", "2024 122") == (MAY1_NOON - 12 * 3600) * NS);
    assert_true(fmt("%Y %j", "2024 366") == 1735603200ull * NS);
    assert_true(fmt("%y-%m-%e", "24-05- 1") == (MAY1_NOON - 12 * 3600) * NS);
    assert_true(fmt("%y", "70") == 0);
    assert_bad_fmt("%y", "69");
    assert_bad_fmt("%Y %j", "2023 366");
}

/* Without a year the time is in the current year (syslog's "%b %d %H:%M:%S"). */
static void test_format_without_year_takes_current_year(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    struct tm jan1 = {.tm_year = tm.tm_year, .tm_mon = 0, .tm_mday = 1};
    uint64_t want = (uint64_t)timegm(&jan1) * NS;
    assert_true(fmt("%b %d %H:%M:%S", "Jan 01 00:00:00") == want);
    assert_true(fmt("%b %e %H:%M:%S", "Jan  1 00:00:01") == want + NS);
}

static void test_format_rejects_mismatch(void **state)
{
    (void)state;
    assert_bad_fmt("%Y-%m-%d", "2024-13-01");
    assert_bad_fmt("%Y-%m-%d", "2024-01-01x");
    assert_bad_fmt("%Y-%m-%d", "2024/01/01");
    assert_bad_fmt("%d/%b/%Y", "01/Foo/2024");
    assert_bad_fmt("%Y", "1969");
    assert_bad_fmt("%Y-%m-%d", "");
    assert_bad_fmt("%Y-%m-%d %z", "2024-01-01 +2");
    assert_bad_fmt("%Y-%m-%d %z", "2024-01-01 0200");
}

static void test_format_rejects_out_of_range_fields(void **state)
{
    (void)state;
    assert_bad_fmt("%Y-%m-%d", "2024-00-01");
    assert_bad_fmt("%Y-%m-%d", "2024-05-00");
    assert_bad_fmt("%Y-%m-%d", "2024-05-32");
    assert_bad_fmt("%Y-%m-%d", "2024-04-31");
    assert_bad_fmt("%Y-%m-%d", "2023-02-29");
    assert_bad_fmt("%Y-%m-%d", "2100-02-29");
    assert_true(fmt("%Y-%m-%d", "2000-02-29") == 951782400ull * NS);
    assert_bad_fmt("%H:%M:%S %Y", "24:00:00 2024");
    assert_bad_fmt("%H:%M:%S %Y", "12:60:00 2024");
    assert_bad_fmt("%H:%M:%S %Y", "12:00:61 2024");
    assert_bad_fmt("%I %p %Y", "13 pm 2024");
    assert_bad_fmt("%I %p %Y", "00 am 2024");
    assert_bad_fmt("%Y %z", "2024 +24:00");
    assert_bad_fmt("%Y %z", "2024 +02:60");
    assert_bad_fmt("%Y-%m-%d", "2554-07-22");
}

/*
 * Every prefix of a whole time is rejected, but for one that is itself a
 * whole time: "-07" is a zone of hours only.
 */
static void test_format_rejects_every_truncation(void **state)
{
    static const struct {
        const char *format, *text;
        size_t whole; /* a shorter length that is a whole time, or 0 */
    } cases[] = {
        {"%Y-%m-%dT%H:%M:%S.%L%z", "2024-05-01T12:00:00.123456789Z", 0},
        {"%Y-%m-%dT%H:%M:%S.%L%z", "2024-05-01T12:00:00.123+02:00", 26},
        {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700", 24},
        {"%s", "1700000000.5", 10},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].text);
        for (size_t n = 0; n < len; n++) {
            uint64_t ns = 12345;
            char *p = exact(cases[i].text, n);
            int rc = gl_timefmt_parse(cases[i].format, p, n, &ns);
            free(p);
            if (n > 0 && n == cases[i].whole) {
                assert_int_equal(rc, 0);
            } else if (cases[i].format[1] == 's' && n > 0 && n < 10) {
                assert_int_equal(rc, 0); /* fewer epoch digits are an earlier time */
            } else {
                assert_int_equal(rc, GL_EPARSE);
            }
        }
    }
}

/* Where both readers apply, they give the same time. */
static void test_format_agrees_with_rfc3339(void **state)
{
    static const char *const times[] = {
        "2024-05-01T12:00:00.123456789Z",       "2024-05-01T12:00:00.5+02:00",
        "2024-02-29T23:59:60.1234567891-05:30", "1970-01-01T00:00:00.000000001Z",
        "2554-07-21T23:34:33.709551615Z",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        assert_true(fmt("%Y-%m-%dT%H:%M:%S.%L%z", times[i]) == rfc3339(times[i]));
    }
    assert_true(fmt("%Y-%m-%dT%H:%M:%S%z", "2000-03-01T00:00:00z") ==
                rfc3339("2000-03-01T00:00:00z"));
}

static void test_format_check_flags_unknown_conversions(void **state)
{
    (void)state;
    assert_null(gl_timefmt_check("%Y-%m-%dT%H:%M:%S.%L%z"));
    assert_null(gl_timefmt_check("%d/%b/%Y:%H:%M:%S %z"));
    assert_null(gl_timefmt_check("%s"));
    assert_non_null(gl_timefmt_check("%Q"));
    assert_string_equal(gl_timefmt_check("%Y%"), "ends with a lone %");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_nine_digit_fraction_is_exact),
        cmocka_unit_test(test_rfc3339_three_digit_fraction_scales_to_ns),
        cmocka_unit_test(test_rfc3339_fractions_of_one_to_nine_digits_scale_to_ns),
        cmocka_unit_test(test_rfc3339_without_fraction),
        cmocka_unit_test(test_rfc3339_digits_past_nine_are_ignored),
        cmocka_unit_test(test_rfc3339_offsets_convert_to_utc),
        cmocka_unit_test(test_rfc3339_leap_day_and_leap_second),
        cmocka_unit_test(test_rfc3339_limits_of_64_bit_ns),
        cmocka_unit_test(test_rfc3339_rejects_malformed_times),
        cmocka_unit_test(test_rfc3339_rejects_out_of_range_fields),
        cmocka_unit_test(test_rfc3339_rejects_every_truncation),
        cmocka_unit_test(test_rfc3339_reads_only_its_length),
        cmocka_unit_test(test_rfc3339_sec_drops_fraction_and_applies_offset),
        cmocka_unit_test(test_rfc3339_sec_reads_every_four_digit_year),
        cmocka_unit_test(test_format_reads_iso8601),
        cmocka_unit_test(test_format_reads_apache_and_nginx_times),
        cmocka_unit_test(test_format_reads_epoch_seconds),
        cmocka_unit_test(test_format_reads_fraction_digits),
        cmocka_unit_test(test_format_reads_12_hour_clock),
        cmocka_unit_test(test_format_reads_day_of_year_and_two_digit_year),
        cmocka_unit_test(test_format_without_year_takes_current_year),
        cmocka_unit_test(test_format_rejects_mismatch),
        cmocka_unit_test(test_format_rejects_out_of_range_fields),
        cmocka_unit_test(test_format_rejects_every_truncation),
        cmocka_unit_test(test_format_agrees_with_rfc3339),
        cmocka_unit_test(test_format_check_flags_unknown_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Fuzzes agent/codec/timefmt.c. The input goes whole to the RFC 3339 reader (in
 * nanoseconds and in seconds) and to the formats parsers use. A time the
 * RFC 3339 reader takes must be taken by the seconds form with the same
 * second, and by the format reader with the equivalent format with the same
 * nanosecond, which must also be what libc's timegm() and a plain reading of
 * the offset and fraction make of it. An input with a NUL is also read as a
 * format (the bytes before it) and a text (the bytes after it). The input
 * buffer has exactly its size, so a reader that looks past its length trips
 * the sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/timefmt.h"

#define NS 1000000000u

static const char *const formats[] = {
    "%Y-%m-%dT%H:%M:%S.%L%z", "%Y-%m-%dT%H:%M:%S%z", "%d/%b/%Y:%H:%M:%S %z", "%s",
    "%FT%T %p %j %y %e",      "%b %d %H:%M:%S",      "%a, %d %B %Y %T %Z",   NULL};

static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/*
 * What libc makes of an RFC 3339 time the reader took, read the slow way:
 * the fields through timegm(), the offset, and the first nine digits of the
 * fraction.
 */
static uint64_t libc_ns(const char *s, size_t n)
{
    struct tm tm = {.tm_year = num(s, 4) - 1900,
                    .tm_mon = num(s + 5, 2) - 1,
                    .tm_mday = num(s + 8, 2),
                    .tm_hour = num(s + 11, 2),
                    .tm_min = num(s + 14, 2),
                    .tm_sec = num(s + 17, 2)};
    int64_t t = (int64_t)timegm(&tm);
    if (s[n - 1] != 'Z' && s[n - 1] != 'z') {
        int64_t off = num(s + n - 5, 2) * 3600 + num(s + n - 2, 2) * 60;
        t -= s[n - 6] == '-' ? -off : off;
    }
    uint64_t frac = 0;
    size_t i = 20, digits = 0;
    if (s[19] == '.') {
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (digits < 9) {
                frac = frac * 10 + (uint64_t)(s[i] - '0');
                digits++;
            }
        }
    }
    for (; s[19] == '.' && digits < 9; digits++) {
        frac *= 10;
    }
    return (uint64_t)t * NS + frac;
}

/* Checks a time the RFC 3339 reader took (as ns) against the other readers and against libc. */
static void check_rfc3339(const char *s, size_t n, uint64_t ns)
{
    int64_t sec;
    if (gl_timefmt_parse_rfc3339_sec(s, n, &sec) != 0 || (uint64_t)sec != ns / NS) {
        abort();
    }
    char format[32] = "%Y-%m-%d?%H:%M:%S";
    format[8] = s[10];
    strcat(format, s[19] == '.' ? ".%L%z" : "%z");
    uint64_t ns2;
    if (gl_timefmt_parse(format, s, n, &ns2) != 0 || ns2 != ns) {
        abort();
    }
    if (libc_ns(s, n) != ns) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    uint64_t ns;
    int64_t sec;
    if (gl_timefmt_parse_rfc3339(text, size, &ns) == 0) {
        check_rfc3339(text, size, ns);
    } else if (gl_timefmt_parse_rfc3339_sec(text, size, &sec) == 0) {
        /* Only times outside what nanoseconds hold are for seconds alone. */
        if (sec >= 0 && sec < 18446744073) {
            abort();
        }
    }
    if (gl_timefmt_parse_rfc3339_sec(text, size, &sec) == 0 &&
        (sec < -62167305540 || sec > 253402387140)) {
        abort();
    }
    for (size_t i = 0; formats[i] != NULL; i++) {
        (void)gl_timefmt_parse(formats[i], text, size, &ns);
    }
    const char *nul = memchr(text, '\0', size);
    if (nul != NULL) {
        (void)gl_timefmt_check(text);
        (void)gl_timefmt_parse(text, nul + 1, size - (size_t)(nul - text) - 1, &ns);
    }
    return 0;
}

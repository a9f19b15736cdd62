/*
 * Container line formats: what the tail input finds in a log file line.
 *
 * The kubelet's CRI runtimes write "<time> <stream> <P|F> <message>"; the
 * docker json-file driver writes one JSON object per line with "log",
 * "stream" and "time". Each parser turns one line (without its newline) into
 * a struct tail_line: the line's time in nanoseconds, its stream, whether it
 * is a partial piece, and the message. The CRI parser runs on every line of
 * every container, so it allocates nothing and parses the time by hand. The
 * docker parser goes through the agent's one JSON reader so that escapes and
 * invalid UTF-8 read the same here as everywhere else.
 *
 * Invariant: a parser either returns 0 with every field of the line set, or
 * GL_EPARSE, after which the caller emits the line raw.
 */
#include <string.h>

#include <msgpack.h>

#include "error.h"
#include "json.h"
#include "in_tail.h"

/* Depth the unpacker can hold (msgpack-c's embedded stack), so that what reads also unpacks. */
#define DOCKER_DEPTH 32

/* ---- time ---- */

/* Reads n decimal digits at p; returns the value, or -1 when one is not a digit. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9) {
            return -1;
        }
        v = v * 10 + (int)d;
    }
    return v;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * Counts days from 1970-01-01 to the proleptic Gregorian date y-m-d. Years
 * are shifted to start in March, so that the leap day falls at the end of a
 * year, and counted in 400-year eras of 146097 days.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                       /* year of era, 0-399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* day of March-year */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            /* day of era */
    return era * 146097 + doe - 719468;
}

/*
 * Reads the optional fraction at *p (its '.') up to end: at least one digit,
 * of which the first nine count and the rest are ignored. Returns the
 * nanoseconds, or -1 when the dot has no digit after it.
 */
static int64_t fraction(const char **p, const char *end)
{
    const char *s = *p;
    if (s == end || *s != '.') {
        return 0;
    }
    s++;
    int64_t ns = 0;
    int n = 0;
    while (s < end && (unsigned)(unsigned char)*s - '0' <= 9) {
        if (n < 9) {
            ns = ns * 10 + (*s - '0');
            n++;
        }
        s++;
    }
    if (n == 0) {
        return -1;
    }
    for (; n < 9; n++) {
        ns *= 10;
    }
    *p = s;
    return ns;
}

/* Reads the zone at p (exactly up to end), Z or +hh:mm / -hh:mm, into *off (seconds east). */
static bool zone_offset(const char *p, const char *end, int64_t *off)
{
    if (end - p == 1 && (*p == 'Z' || *p == 'z')) {
        *off = 0;
        return true;
    }
    if (end - p != 6 || (*p != '+' && *p != '-') || p[3] != ':') {
        return false;
    }
    int hh = digits(p + 1, 2);
    int mm = digits(p + 4, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59) {
        return false;
    }
    *off = (int64_t)hh * 3600 + mm * 60;
    *off = *p == '-' ? -*off : *off;
    return true;
}

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)" exactly (no surrounding
 * text) into nanoseconds since the epoch. A second of 60 (a leap second) is
 * accepted and counts as the next second. Times before 1970 or past what 64
 * bits of nanoseconds hold (2554) are GL_EPARSE.
 */
int tail_parse_rfc3339(const char *s, size_t len, uint64_t *ns)
{
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':') {
        return GL_EPARSE;
    }
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 60) {
        return GL_EPARSE;
    }
    const char *p = s + 19, *end = s + len;
    int64_t frac = fraction(&p, end), off;
    if (frac < 0 || !zone_offset(p, end, &off)) {
        return GL_EPARSE;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (secs < 0 || (uint64_t)secs > (UINT64_MAX - (uint64_t)frac) / 1000000000u) {
        return GL_EPARSE;
    }
    *ns = (uint64_t)secs * 1000000000u + (uint64_t)frac;
    return 0;
}

/* ---- CRI ---- */

/*
 * Reads "stdout " or "stderr " at p (n bytes available) into *stream.
 * Returns the byte after the space, or NULL.
 */
static const char *cri_stream(const char *p, size_t n, enum tail_stream *stream)
{
    if (n < 7 || p[6] != ' ' || memcmp(p, "std", 3) != 0) {
        return NULL;
    }
    if (memcmp(p + 3, "out", 3) == 0) {
        *stream = TAIL_STDOUT;
    } else if (memcmp(p + 3, "err", 3) == 0) {
        *stream = TAIL_STDERR;
    } else {
        return NULL;
    }
    return p + 7;
}

/*
 * The tag field is P or F, optionally followed by further ':'-separated tags
 * (the CRI format reserves them). The message starts after one space and may
 * be empty, with or without that space.
 */
int tail_parse_cri(const char *line, size_t len, struct tail_line *out)
{
    const char *end = line + len;
    const char *sp = memchr(line, ' ', len);
    if (sp == NULL || tail_parse_rfc3339(line, (size_t)(sp - line), &out->ts_ns) != 0) {
        return GL_EPARSE;
    }
    const char *p = cri_stream(sp + 1, (size_t)(end - sp - 1), &out->stream);
    if (p == NULL || p == end || (*p != 'P' && *p != 'F')) {
        return GL_EPARSE;
    }
    out->partial = *p == 'P';
    p++;
    if (p < end && *p == ':') {
        while (p < end && *p != ' ') {
            p++;
        }
    }
    if (p < end && *p != ' ') {
        return GL_EPARSE;
    }
    p += p < end;
    out->msg = p;
    out->len = (size_t)(end - p);
    return 0;
}

/* ---- docker json-file ---- */

/* The packer's write callback: appends to the scratch buffer. */
static int scratch_write(void *data, const char *p, size_t n)
{
    gl_buf_append(data, p, n);
    return 0;
}

/* The string value of key in map, or false when it is absent or not a string. */
static bool map_str(const msgpack_object *map, const char *key, const char **s, size_t *n)
{
    const msgpack_object *v = gl_json_map_get(map, key);
    if (v == NULL || v->type != MSGPACK_OBJECT_STR) {
        return false;
    }
    *s = v->via.str.ptr;
    *n = v->via.str.size;
    return true;
}

/*
 * Fills out from the unpacked object. "log" must be a string; "stream" is
 * optional (any value other than stdout/stderr is TAIL_STREAM_NONE); "time"
 * is optional (0 when absent) but must be RFC 3339 when present.
 */
static int docker_fields(const msgpack_object *o, struct tail_line *out)
{
    const char *s;
    size_t n;
    if (o->type != MSGPACK_OBJECT_MAP || !map_str(o, "log", &out->msg, &out->len)) {
        return GL_EPARSE;
    }
    out->partial = out->len == 0 || out->msg[out->len - 1] != '\n';
    out->len -= !out->partial;
    out->stream = TAIL_STREAM_NONE;
    if (map_str(o, "stream", &s, &n) && n == 6 && memcmp(s, "stdout", 6) == 0) {
        out->stream = TAIL_STDOUT;
    } else if (map_str(o, "stream", &s, &n) && n == 6 && memcmp(s, "stderr", 6) == 0) {
        out->stream = TAIL_STDERR;
    }
    out->ts_ns = 0;
    if (gl_json_map_get(o, "time") == NULL) {
        return 0;
    }
    if (!map_str(o, "time", &s, &n) || tail_parse_rfc3339(s, n, &out->ts_ns) != 0) {
        return GL_EPARSE;
    }
    return 0;
}

/*
 * Reads the line with gl_json_read() into scratch as msgpack, unpacks it
 * over a zone kept between calls (cleared, not freed, so steady state
 * allocates nothing) and takes the fields; the message's bytes stay in
 * scratch.
 */
int tail_parse_docker(const char *line, size_t len, struct tail_line *out,
                      struct gl_buf *scratch)
{
    static msgpack_zone zone;
    static bool zone_ready;
    gl_buf_reset(scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, scratch, scratch_write);
    if (gl_json_read(line, len, &pk, DOCKER_DEPTH, NULL) != 0) {
        return GL_EPARSE;
    }
    if (!zone_ready) {
        zone_ready = msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
        if (!zone_ready) {
            return GL_ENOMEM;
        }
    }
    msgpack_object o;
    size_t off = 0;
    int rc = GL_EPARSE;
    if (msgpack_unpack(scratch->data, scratch->len, &off, &zone, &o) == MSGPACK_UNPACK_SUCCESS) {
        rc = docker_fields(&o, out);
    }
    msgpack_zone_clear(&zone);
    return rc;
}

/* ---- detection ---- */

/* A line that starts with '{' and reads as docker is docker; one that reads as CRI is CRI. */
enum tail_format tail_detect_format(const char *line, size_t len)
{
    struct tail_line l;
    if (len > 0 && line[0] == '{') {
        struct gl_buf scratch;
        gl_buf_init(&scratch);
        int rc = tail_parse_docker(line, len, &l, &scratch);
        gl_buf_close(&scratch);
        if (rc == 0) {
            return TAIL_DOCKER;
        }
    }
    if (tail_parse_cri(line, len, &l) == 0) {
        return TAIL_CRI;
    }
    return TAIL_RAW;
}

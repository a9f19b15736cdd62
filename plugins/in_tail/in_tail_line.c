/*
 * Container line formats: what the tail input finds in a log file line.
 *
 * The kubelet's CRI runtimes write "<time> <stream> <P|F> <message>"; the
 * docker json-file driver writes one JSON object per line with "log",
 * "stream" and "time". Each parser turns one line (without its newline) into
 * a struct tail_line: the line's time in nanoseconds, its stream, whether it
 * is a partial piece, and the message. The CRI parser runs on every line of
 * every container, so it allocates nothing; both read the time with the
 * agent's RFC 3339 fast path (timefmt.c). The docker parser goes through the
 * agent's one JSON reader so that escapes and invalid UTF-8 read the same
 * here as everywhere else.
 *
 * Invariant: a parser either returns 0 with every field of the line set, or
 * GL_EPARSE, after which the caller emits the line raw.
 */
#include <string.h>

#include <msgpack.h>

#include "codec/json.h"
#include "codec/timefmt.h"
#include "in_tail.h"
#include "util/error.h"

/* Depth the unpacker can hold (msgpack-c's embedded stack), so that what reads also unpacks. */
#define DOCKER_DEPTH 32

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
    if (sp == NULL || gl_timefmt_parse_rfc3339(line, (size_t)(sp - line), &out->ts_ns) != 0) {
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
    if (!map_str(o, "time", &s, &n) || gl_timefmt_parse_rfc3339(s, n, &out->ts_ns) != 0) {
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

/*
 * The one JSON reader and the one JSON writer of the agent.
 *
 * The reader turns JSON text into msgpack (the agent's record format) in one
 * pass, without building a tree; API responses, parser filters and log merges
 * all use it. The writer turns msgpack objects into JSON text with correct
 * escaping; invalid UTF-8 in strings is replaced by U+FFFD, so whatever a
 * container wrote, the output is valid JSON. Every output uses it.
 */
#ifndef GL_JSON_H
#define GL_JSON_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/*
 * msgpack-c's unpacker holds at most 32 open containers; a record body sits
 * two levels down ([ts, meta, body]) and a merged value one more, so JSON is
 * read at most 28 deep to stay readable everywhere it may be put.
 */
#define GL_JSON_MAX_DEPTH 28

struct gl_json_error {
    size_t offset;     /* byte offset in the text where reading stopped */
    const char *what;  /* static message: "unexpected character", "nesting too deep"... */
};

/*
 * Reads one JSON value from text (surrounding whitespace allowed, nothing
 * else after it) and packs it with pk: objects as maps, arrays as arrays,
 * integers as int/uint when they fit in 64 bits, other numbers as float64,
 * strings unescaped to UTF-8 (\u escapes and surrogate pairs decoded; lone
 * surrogates become U+FFFD). Nesting deeper than max_depth (0 means
 * GL_JSON_MAX_DEPTH) is an error. Returns 0, or GL_EPARSE with err filled
 * (err may be NULL); on error, what was packed so far is incomplete and the
 * caller discards it. GL_ENOMEM when the packer's write callback refuses bytes.
 */
int gl_json_read(const char *text, size_t len, msgpack_packer *pk, int max_depth,
                 struct gl_json_error *err);

/*
 * A parsed document for callers that navigate a response: the msgpack bytes
 * and the unpacked object tree over them. gl_json_doc_parse() returns 0 or
 * GL_EPARSE; gl_json_doc_free() releases everything (also after a failure).
 */
struct gl_json_doc {
    msgpack_sbuffer sbuf;
    msgpack_unpacked unpacked;
    msgpack_object root;
};
int gl_json_doc_parse(struct gl_json_doc *doc, const char *text, size_t len,
                      struct gl_json_error *err);
void gl_json_doc_free(struct gl_json_doc *doc);

/* Finds a key in a msgpack map object; returns the value or NULL. */
const msgpack_object *gl_json_map_get(const msgpack_object *map, const char *key);

/*
 * Writes a msgpack object as JSON text at the end of b. Maps with non-string
 * keys get their keys written as strings; binary values as strings (invalid
 * UTF-8 replaced); a shared value (agent/codec/shared.h) as the map it stands for, other
 * ext values as null; NaN and infinities as null. Floats are
 * written with enough digits to round-trip (%.17g, trimmed).
 */
void gl_json_write(struct gl_buf *b, const msgpack_object *o);

/* Writes s as a JSON string literal (with quotes), escaping and replacing invalid UTF-8. */
void gl_json_write_str(struct gl_buf *b, const char *s, size_t len);
/*
 * Writes what goes between the quotes of that literal; returns the length
 * of s once invalid UTF-8 is replaced (the text the literal stands for).
 */
size_t gl_json_escape(struct gl_buf *b, const char *s, size_t len);
/*
 * Writes the JSON text of o already escaped as the content of a JSON string
 * (no quotes around it), as a message holding a record's JSON is sent: in
 * one pass instead of writing the JSON then escaping it. Returns the length
 * of the JSON text itself (what gl_json_write would write).
 */
size_t gl_json_write_quoted(struct gl_buf *b, const msgpack_object *o);
/*
 * Writes a float64 as the shortest text that reads back to it (".0" added
 * to integral values); NaN and infinities as null.
 */
void gl_json_write_double(struct gl_buf *b, double d);

/*
 * Writes one record as a JSON object: the body's keys followed by (or, when
 * the body already has one, without) "@timestamp": RFC 3339 UTC with
 * nanoseconds, e.g. "2024-05-01T12:00:00.123456789Z". No trailing newline.
 */
void gl_json_write_record(struct gl_buf *b, uint64_t ts_ns, const msgpack_object *body);

/* Formats ts_ns as RFC 3339 UTC with 9 fractional digits into out (at least 31 bytes). */
size_t gl_json_format_time(char *out, uint64_t ts_ns);

#endif

/*
 * Named parsers: turn one line of text into record keys. The built-in
 * parsers are `json` and `logfmt`; the config's top-level `parsers:` list adds
 * more (format json, regex with named groups, or logfmt), each with an
 * optional time key and format and value types, in Fluent Bit's shape:
 *
 *   parsers:
 *     - name: apache
 *       format: regex
 *       regex: '^(?<host>\S+) \S+ \S+ \[(?<time>[^\]]+)\] "(?<method>\S+)'
 *       time_key: time
 *       time_format: '%d/%b/%Y:%H:%M:%S %z'
 *       types: 'code:integer size:integer'
 *
 * The filter `parser`, the tail input and the kubernetes filter look parsers
 * up by name and run them into the record they are writing.
 */
#ifndef GL_PARSER_H
#define GL_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gl_config;
struct gl_node;
struct gl_event;
struct gl_parser;

/*
 * Reads the config's `parsers:` sequence (each item a mapping) and adds its
 * parsers to the process-wide table. Errors (unknown keys, a regex parser
 * without `regex`, a bad time_format, duplicate names) are reported through
 * gl_config_error() with their position. Returns 0 or GL_ECONFIG; on error
 * nothing from this sequence is registered.
 */
int gl_parsers_load(struct gl_config *cfg, const struct gl_node *seq);

/* Frees every user-defined parser (before a reload, and at exit). */
void gl_parsers_reset(void);

/*
 * Returns the parser of that name: a user-defined one first (a user's `json`
 * with a time key replaces the built-in), then the built-ins `json` and
 * `logfmt`; NULL when there is none. Valid until gl_parsers_reset().
 */
const struct gl_parser *gl_parser_get(const char *name);

const char *gl_parser_name(const struct gl_parser *p);

/*
 * Parses text and writes the keys it yields into out's open map, with the
 * parser's types applied. When the parser has a time key that is present and
 * reads with its time format, *ts_ns gets the time, *has_ts is set to 1 and
 * the key is left out unless time_keep; otherwise *has_ts is 0 and the key
 * stays. Returns 0, or GL_EPARSE when the text does not match (not a JSON
 * object, regex did not match, not logfmt); then out is exactly as it was.
 * Runs on the loop thread only (it reuses module scratch memory).
 */
int gl_parser_run(const struct gl_parser *p, const char *text, size_t len, struct gl_event *out,
                  uint64_t *ts_ns, int *has_ts);

#endif

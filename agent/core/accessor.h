/*
 * Record accessors: the `$kubernetes['labels']['app']` syntax Fluent Bit's
 * users write to name a value inside a record body. Filters match on the
 * value (grep), outputs build names from it (cloudwatch_logs templates).
 * An accessor is parsed once at init into steps; looking it up walks the
 * msgpack body without allocating.
 */
#ifndef GL_ACCESSOR_H
#define GL_ACCESSOR_H

#include <msgpack.h>
#include <stddef.h>

/* One step: a map key (index -1), or an array index (key NULL). */
struct gl_accessor_step {
    char *key;
    size_t klen;
    long index;
};

struct gl_accessor {
    struct gl_accessor_step *steps;
    size_t nsteps;
};

/*
 * Parses `log`, `$log`, `$a['b']["c"][0]` (exactly len bytes) into a, whose
 * storage the caller owns. Returns 0, or GL_EINVAL with a left empty.
 */
int gl_accessor_parse(struct gl_accessor *a, const char *text, size_t len);

/*
 * The length of the accessor that starts at s (`$name` followed by any
 * ['key'], ["key"] or [N] steps), for text that embeds accessors, such as
 * name templates. Returns 0 when s does not start with `$` and a name.
 */
size_t gl_accessor_span(const char *s);

/* The value the accessor names in body, borrowed from it, or NULL when absent. */
const msgpack_object *gl_accessor_get(const struct gl_accessor *a, const msgpack_object *body);

/* Frees the steps; a is left empty (closing twice is harmless). */
void gl_accessor_close(struct gl_accessor *a);

#endif

/*
 * Shared values: one immutable msgpack map that many records refer to
 * instead of each carrying a copy. The kubernetes filter puts a pod's
 * metadata (labels, annotations, image: about 1 KiB) into every line of that
 * pod, the tail input the names it reads from a container log's path (about
 * 200 bytes); as a reference it costs a record 10 bytes, and outputs render
 * its JSON once instead of once per line.
 *
 * In a record a reference is a msgpack ext value of type GL_EXT_SHARED whose
 * 8 bytes are a slot number and a generation in this process's table, so a
 * stale or forged reference is recognised (it reads as absent), never
 * followed. References exist only inside the agent: the JSON writer, record
 * accessors and msgpack_pack_object() see through or carry them.
 *
 * Lifetime: a value is reference-counted. Every chunk whose records refer to
 * a value holds one reference in its gl_shared_set, taken when a record
 * referring to it is written there (gl_event_kv_shared) and inherited by the
 * chunks a filter derives from it; the last chunk's release frees it.
 * Everything runs on the loop thread: the counts are not atomic.
 */
#ifndef GL_SHARED_H
#define GL_SHARED_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define GL_EXT_SHARED 1
#define GL_SHARED_REF_SIZE 10 /* a fixext8: 0xd7, the type, 8 bytes */

struct gl_shared {
    uint32_t refs;
    uint32_t slot;
    uint32_t gen;
    msgpack_unpacked up;   /* the value, unpacked over data */
    struct gl_buf json;    /* its JSON text, rendered on first use by the JSON writer */
    struct gl_buf json_quoted;  /* the same escaped as string content, and what that added */
    size_t json_quoted_extra;
    size_t len;
    char data[];           /* the msgpack bytes */
};

/* A set of references a chunk holds. */
struct gl_shared_set {
    struct gl_shared **v;
    uint32_t n;
    uint32_t cap;
};

/* A new value from the msgpack bytes of one map, with one reference; NULL when not a map. */
struct gl_shared *gl_shared_new(const char *msgpack, size_t len);
struct gl_shared *gl_shared_ref(struct gl_shared *s);
void gl_shared_unref(struct gl_shared *s);

/* Writes the reference to s (GL_SHARED_REF_SIZE bytes) into out. */
void gl_shared_ref_bytes(const struct gl_shared *s, char out[GL_SHARED_REF_SIZE]);

/* The value a msgpack object refers to, or NULL when it is not a live reference. */
struct gl_shared *gl_shared_of(const msgpack_object *o);

/*
 * o itself, or the map it refers to when it is a reference, or NULL when it
 * is a reference gone stale (it reads as absent). The common case is inline.
 */
static inline const msgpack_object *gl_shared_deref(const msgpack_object *o)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_EXT || o->via.ext.type != GL_EXT_SHARED) {
        return o;
    }
    struct gl_shared *s = gl_shared_of(o);
    return s != NULL ? &s->up.data : NULL;
}

/* Adds s to the set with a reference of its own, unless the set holds it already. */
void gl_shared_set_add(struct gl_shared_set *set, struct gl_shared *s);
/* Moves every reference of src into dst (src is left empty). */
void gl_shared_set_take(struct gl_shared_set *dst, struct gl_shared_set *src);
/* Drops the set's references. */
void gl_shared_set_clear(struct gl_shared_set *set);

/* Live values, for /metrics and tests. */
uint32_t gl_shared_count(void);
/* Frees the table (at exit, once every chunk is gone). */
void gl_shared_drain(void);

#endif

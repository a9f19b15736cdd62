/*
 * Record accessors (see accessor.h): parsing `$a['b'][0]` into steps once,
 * and walking a msgpack body with them. The walk compares key lengths first
 * and allocates nothing, so it can run per record on the hot path of a
 * filter or an output. Invariant: a parsed accessor has at least one step
 * and its first step is a map key.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/shared.h"
#include "core/accessor.h"
#include "util/error.h"
#include "util/mem.h"

/* Reads one ['key'], ["key"] or [N] at *s; returns 0 or GL_EINVAL. */
static int parse_step(const char **s, struct gl_accessor_step *st)
{
    const char *p = *s + 1;
    if (*p == '\'' || *p == '"') {
        const char *close = strchr(p + 1, *p);
        if (close == NULL || close[1] != ']') {
            return GL_EINVAL;
        }
        st->klen = (size_t)(close - p - 1);
        st->key = gl_strndup(p + 1, st->klen);
        st->index = -1;
        *s = close + 2;
        return 0;
    }
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || *end != ']' || n < 0) {
        return GL_EINVAL;
    }
    st->key = NULL;
    st->klen = 0;
    st->index = n;
    *s = end + 1;
    return 0;
}

int gl_accessor_parse(struct gl_accessor *a, const char *text, size_t len)
{
    char *copy = gl_strndup(text, len);
    const char *s = copy[0] == '$' ? copy + 1 : copy;
    size_t cap = 4;
    a->nsteps = 0;
    a->steps = gl_calloc(cap, sizeof(*a->steps));
    const char *br = strchr(s, '[');
    size_t first = br ? (size_t)(br - s) : strlen(s);
    if (first == 0) {
        goto fail;
    }
    a->steps[a->nsteps++] =
        (struct gl_accessor_step){ .key = gl_strndup(s, first), .klen = first, .index = -1 };
    s += first;
    while (*s == '[') {
        if (a->nsteps == cap) {
            cap *= 2;
            a->steps = gl_realloc(a->steps, cap * sizeof(*a->steps));
        }
        if (parse_step(&s, &a->steps[a->nsteps]) < 0) {
            goto fail;
        }
        a->nsteps++;
    }
    if (*s != '\0') {
        goto fail;
    }
    gl_free(copy);
    return 0;
fail:
    gl_accessor_close(a);
    gl_free(copy);
    return GL_EINVAL;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

size_t gl_accessor_span(const char *s)
{
    size_t n = 1;
    if (s[0] != '$' || !name_char(s[1])) {
        return 0;
    }
    while (name_char(s[n])) {
        n++;
    }
    while (s[n] == '[') {
        struct gl_accessor_step st;
        const char *p = s + n;
        if (parse_step(&p, &st) < 0) {
            break;
        }
        gl_free(st.key);
        n = (size_t)(p - s);
    }
    return n;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key, size_t klen)
{
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &kv[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0) {
            return &kv[i].val;
        }
    }
    return NULL;
}

const msgpack_object *gl_accessor_get(const struct gl_accessor *a, const msgpack_object *body)
{
    const msgpack_object *o = body;
    for (size_t i = 0; i < a->nsteps && o != NULL; i++) {
        const struct gl_accessor_step *st = &a->steps[i];
        o = gl_shared_deref(o);
        if (o == NULL) {
            break;
        }
        if (st->index < 0) {
            o = o->type == MSGPACK_OBJECT_MAP ? map_get(o, st->key, st->klen) : NULL;
        } else if (o->type == MSGPACK_OBJECT_ARRAY && (uint64_t)st->index < o->via.array.size) {
            o = &o->via.array.ptr[st->index];
        } else {
            o = NULL;
        }
    }
    return gl_shared_deref(o);
}

void gl_accessor_close(struct gl_accessor *a)
{
    for (size_t i = 0; i < a->nsteps; i++) {
        gl_free(a->steps[i].key);
    }
    gl_free(a->steps);
    a->steps = NULL;
    a->nsteps = 0;
}

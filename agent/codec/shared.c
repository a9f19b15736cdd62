/*
 * Shared values and the table their references name. A reference is
 * (slot, generation): a slot is reused once its value is freed, with the
 * generation bumped, so an old reference no longer matches.
 */
#include <string.h>

#include "codec/shared.h"
#include "util/mem.h"

static struct gl_shared **slots;
static uint32_t *gens;
static uint32_t n_slots;
static uint32_t *free_slots;
static uint32_t n_free;
static uint32_t live;

static uint32_t slot_take(void)
{
    if (n_free == 0) {
        uint32_t cap = n_slots ? n_slots * 2 : 64;
        slots = gl_realloc(slots, cap * sizeof(*slots));
        gens = gl_realloc(gens, cap * sizeof(*gens));
        free_slots = gl_realloc(free_slots, cap * sizeof(*free_slots));
        for (uint32_t i = cap; i-- > n_slots;) {
            slots[i] = NULL;
            gens[i] = 0;
            free_slots[n_free++] = i;
        }
        n_slots = cap;
    }
    return free_slots[--n_free];
}

struct gl_shared *gl_shared_new(const char *msgpack, size_t len)
{
    if (len == 0) {
        return NULL;
    }
    struct gl_shared *s = gl_malloc(sizeof(*s) + len);
    memcpy(s->data, msgpack, len);
    s->len = len;
    /*
     * Unpacked into a zone sized for the value (strings stay in data): the
     * default zone of msgpack_unpack_next() is 8 KiB, which a tail input
     * following a thousand files would hold a thousand times.
     */
    msgpack_unpacked_init(&s->up);
    s->up.zone = msgpack_zone_new(256 + 2 * len);
    size_t off = 0;
    if (s->up.zone == NULL ||
        msgpack_unpack(s->data, len, &off, s->up.zone, &s->up.data) != MSGPACK_UNPACK_SUCCESS ||
        off != len || s->up.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&s->up);
        gl_free(s);
        return NULL;
    }
    gl_buf_init(&s->json);
    gl_buf_init(&s->json_quoted);
    s->refs = 1;
    s->slot = slot_take();
    s->gen = ++gens[s->slot];
    slots[s->slot] = s;
    live++;
    return s;
}

struct gl_shared *gl_shared_ref(struct gl_shared *s)
{
    s->refs++;
    return s;
}

void gl_shared_unref(struct gl_shared *s)
{
    if (s == NULL || --s->refs > 0) {
        return;
    }
    slots[s->slot] = NULL;
    free_slots[n_free++] = s->slot;
    live--;
    msgpack_unpacked_destroy(&s->up);
    gl_buf_close(&s->json);
    gl_buf_close(&s->json_quoted);
    gl_free(s);
}

void gl_shared_ref_bytes(const struct gl_shared *s, char out[GL_SHARED_REF_SIZE])
{
    out[0] = (char)0xd7;
    out[1] = GL_EXT_SHARED;
    memcpy(out + 2, &s->slot, 4);
    memcpy(out + 6, &s->gen, 4);
}

struct gl_shared *gl_shared_of(const msgpack_object *o)
{
    uint32_t slot, gen;
    if (o->type != MSGPACK_OBJECT_EXT || o->via.ext.type != GL_EXT_SHARED ||
        o->via.ext.size != 8) {
        return NULL;
    }
    memcpy(&slot, o->via.ext.ptr, 4);
    memcpy(&gen, o->via.ext.ptr + 4, 4);
    if (slot >= n_slots || slots[slot] == NULL || gens[slot] != gen) {
        return NULL;
    }
    return slots[slot];
}

void gl_shared_set_add(struct gl_shared_set *set, struct gl_shared *s)
{
    /* Records come in runs of one value: the last one is the likely hit. */
    for (uint32_t i = set->n; i-- > 0;) {
        if (set->v[i] == s) {
            return;
        }
    }
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 4;
        set->v = gl_realloc(set->v, set->cap * sizeof(*set->v));
    }
    set->v[set->n++] = gl_shared_ref(s);
}

void gl_shared_set_take(struct gl_shared_set *dst, struct gl_shared_set *src)
{
    if (dst->n == 0) {
        gl_free(dst->v);
        *dst = *src;
        memset(src, 0, sizeof(*src));
        return;
    }
    for (uint32_t i = 0; i < src->n; i++) {
        gl_shared_set_add(dst, src->v[i]);
    }
    gl_shared_set_clear(src);
}

void gl_shared_set_clear(struct gl_shared_set *set)
{
    for (uint32_t i = 0; i < set->n; i++) {
        gl_shared_unref(set->v[i]);
    }
    gl_free(set->v);
    memset(set, 0, sizeof(*set));
}

uint32_t gl_shared_count(void)
{
    return live;
}

void gl_shared_drain(void)
{
    if (live > 0) {
        return; /* still referenced: leave the table for the last holders */
    }
    gl_free(slots);
    gl_free(gens);
    gl_free(free_slots);
    slots = NULL;
    gens = NULL;
    free_slots = NULL;
    n_slots = n_free = 0;
}

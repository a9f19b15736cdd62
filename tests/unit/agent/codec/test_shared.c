/*
 * Shared values: creation, reference counts, references packed into records
 * and resolved back (stale and forged ones read as absent), the sets chunks
 * hold them in, and the readers that see through a reference: the JSON
 * writer, record accessors, the record encoder and msgpack_pack_object().
 * Every test leaves no value alive; the teardown checks that and frees the
 * table, so leak checkers see nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/json.h"
#include "codec/shared.h"
#include "core/accessor.h"
#include "core/chunk.h"
#include "core/event.h"
#include "util/mem.h"

#define POD_JSON                                                               \
    "{\"pod_name\":\"web-1\",\"labels\":{\"app\":\"web\",\"tier\":\"front\"}," \
    "\"image\":\"nginx:1.25\"}"

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* The msgpack of POD_JSON, packed with msgpack-c (the caller destroys sb). */
static void pack_pod(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "pod_name");
    pack_str(&pk, "web-1");
    pack_str(&pk, "labels");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "app");
    pack_str(&pk, "web");
    pack_str(&pk, "tier");
    pack_str(&pk, "front");
    pack_str(&pk, "image");
    pack_str(&pk, "nginx:1.25");
}

static struct gl_shared *new_pod(void)
{
    msgpack_sbuffer sb;
    pack_pod(&sb);
    struct gl_shared *s = gl_shared_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    assert_non_null(s);
    return s;
}

/* A value {"n": n}, distinct per n. */
static struct gl_shared *new_numbered(unsigned n)
{
    char m[] = { (char)0x81, (char)0xa1, 'n', (char)(n & 0x7f) };
    struct gl_shared *s = gl_shared_new(m, sizeof(m));
    assert_non_null(s);
    return s;
}

static char *json_of(const msgpack_object *o)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write(&b, o);
    return gl_buf_take(&b);
}

/* Unpacks the one object in p into up (which the caller destroys). */
static const msgpack_object *unpack(msgpack_unpacked *up, const char *p, size_t len)
{
    size_t off = 0;
    msgpack_unpacked_init(up);
    assert_int_equal(msgpack_unpack_next(up, p, len, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len);
    return &up->data;
}

/* A fixext8 of the given type and 8 payload bytes: slot then generation, as the table's. */
static void forge(char out[GL_SHARED_REF_SIZE], int8_t type, uint32_t slot, uint32_t gen)
{
    out[0] = (char)0xd7;
    out[1] = (char)type;
    memcpy(out + 2, &slot, 4);
    memcpy(out + 6, &gen, 4);
}

/* Writes the record [ts, {}, {"log": "x", "kubernetes": <ref or copy of s>}] into b. */
static void write_record(struct gl_buf *b, struct gl_shared_set *set, struct gl_shared *s)
{
    struct gl_event ev;
    gl__event_begin_buf(&ev, b, 1714564800123456789ull);
    ev.shared = set;
    gl_event_kv_str(&ev, "log", "x", 1);
    gl_event_kv_shared(&ev, "kubernetes", 10, s);
    gl__event_finish(&ev);
}

/* The same record with the map written inline, from msgpack-c's bytes. */
static void write_inline_record(struct gl_buf *b)
{
    msgpack_sbuffer sb;
    struct gl_event ev;
    pack_pod(&sb);
    gl__event_begin_buf(&ev, b, 1714564800123456789ull);
    gl_event_kv_str(&ev, "log", "x", 1);
    gl_event_kv_raw(&ev, "kubernetes", 10, sb.data, sb.size);
    gl__event_finish(&ev);
    msgpack_sbuffer_destroy(&sb);
}

static const msgpack_object *read_body(msgpack_unpacked *up, const struct gl_buf *b)
{
    struct gl_record rec;
    size_t off = 0;
    msgpack_unpacked_init(up);
    assert_int_equal(gl_record_read(up, b->data, b->len, &off, &rec), 0);
    assert_int_equal(off, b->len);
    return rec.body;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(gl_shared_count(), 0);
    gl_shared_drain();
    return 0;
}

/* ---- values and references ---- */

static void test_shared_new_rejects_non_maps_and_trailing_bytes(void **state)
{
    (void)state;
    static const char array[] = { (char)0x91, 0x01 };
    static const char str[] = { (char)0xa2, 'h', 'i' };
    static const char fixint[] = { 0x05 };
    static const char nil[] = { (char)0xc0 };
    static const char truncated[] = { (char)0x81, (char)0xa1, 'k' };
    static const char trailing[] = { (char)0x81, (char)0xa1, 'k', 0x01, (char)0xc0 };
    static const char two_maps[] = { (char)0x80, (char)0x80 };
    static const char bad[] = { (char)0xc1 };
    assert_null(gl_shared_new(array, sizeof(array)));
    assert_null(gl_shared_new(str, sizeof(str)));
    assert_null(gl_shared_new(fixint, sizeof(fixint)));
    assert_null(gl_shared_new(nil, sizeof(nil)));
    assert_null(gl_shared_new(truncated, sizeof(truncated)));
    assert_null(gl_shared_new(trailing, sizeof(trailing)));
    assert_null(gl_shared_new(two_maps, sizeof(two_maps)));
    assert_null(gl_shared_new(bad, sizeof(bad)));
    assert_null(gl_shared_new(two_maps, 0));
    assert_int_equal(gl_shared_count(), 0);

    struct gl_shared *empty = gl_shared_new(two_maps, 1);
    assert_non_null(empty);
    assert_int_equal(empty->up.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(empty->up.data.via.map.size, 0);
    gl_shared_unref(empty);
}

static void test_shared_unref_frees_at_zero(void **state)
{
    (void)state;
    struct gl_shared *s = new_pod();
    assert_int_equal(s->refs, 1);
    assert_int_equal(gl_shared_count(), 1);
    assert_ptr_equal(gl_shared_ref(s), s);
    assert_int_equal(s->refs, 2);
    gl_shared_unref(s);
    assert_int_equal(gl_shared_count(), 1);
    assert_int_equal(s->refs, 1);
    gl_shared_unref(s);
    assert_int_equal(gl_shared_count(), 0);
    gl_shared_unref(NULL);
}

static void test_shared_reference_resolves_to_the_map(void **state)
{
    (void)state;
    struct gl_shared *s = new_pod();
    char ref[GL_SHARED_REF_SIZE];
    gl_shared_ref_bytes(s, ref);
    assert_int_equal((unsigned char)ref[0], 0xd7);
    assert_int_equal(ref[1], GL_EXT_SHARED);

    msgpack_unpacked up;
    const msgpack_object *o = unpack(&up, ref, sizeof(ref));
    assert_int_equal(o->type, MSGPACK_OBJECT_EXT);
    assert_int_equal(o->via.ext.type, GL_EXT_SHARED);
    assert_int_equal(o->via.ext.size, 8);
    assert_ptr_equal(gl_shared_of(o), s);
    const msgpack_object *m = gl_shared_deref(o);
    assert_ptr_equal(m, &s->up.data);
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    char *j = json_of(m);
    assert_string_equal(j, POD_JSON);
    gl_free(j);
    msgpack_unpacked_destroy(&up);

    /* Anything but an ext is itself. */
    assert_ptr_equal(gl_shared_deref(m), m);
    assert_null(gl_shared_of(m));
    assert_null(gl_shared_deref(NULL));
    gl_shared_unref(s);
}

static void test_shared_stale_reference_resolves_to_null(void **state)
{
    (void)state;
    struct gl_shared *a = new_pod();
    uint32_t slot = a->slot, gen = a->gen;
    char old[GL_SHARED_REF_SIZE];
    gl_shared_ref_bytes(a, old);
    gl_shared_unref(a);

    /* The freed slot is the next one taken, under a new generation. */
    struct gl_shared *b = new_pod();
    assert_int_equal(b->slot, slot);
    assert_int_not_equal(b->gen, gen);
    msgpack_unpacked up;
    const msgpack_object *o = unpack(&up, old, sizeof(old));
    assert_null(gl_shared_of(o));
    assert_null(gl_shared_deref(o)); /* stale: absent, not the ext value */
    msgpack_unpacked_destroy(&up);

    char cur[GL_SHARED_REF_SIZE];
    gl_shared_ref_bytes(b, cur);
    o = unpack(&up, cur, sizeof(cur));
    assert_ptr_equal(gl_shared_of(o), b);
    msgpack_unpacked_destroy(&up);
    gl_shared_unref(b);

    /* Freed and not reused: absent too. */
    o = unpack(&up, cur, sizeof(cur));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);
}

static void test_shared_forged_references_resolve_to_null(void **state)
{
    (void)state;
    struct gl_shared *s = new_pod();
    struct gl_shared *t = new_pod();
    char ref[GL_SHARED_REF_SIZE];
    msgpack_unpacked up;
    const msgpack_object *o;

    forge(ref, GL_EXT_SHARED, s->slot, s->gen);
    o = unpack(&up, ref, sizeof(ref));
    assert_ptr_equal(gl_shared_of(o), s); /* the forger's format is the real one */
    msgpack_unpacked_destroy(&up);

    forge(ref, GL_EXT_SHARED + 1, s->slot, s->gen); /* another ext type */
    o = unpack(&up, ref, sizeof(ref));
    assert_null(gl_shared_of(o));
    assert_ptr_equal(gl_shared_deref(o), o);
    msgpack_unpacked_destroy(&up);

    forge(ref, GL_EXT_SHARED, s->slot, s->gen + 1); /* a generation not issued yet */
    o = unpack(&up, ref, sizeof(ref));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);

    uint32_t empty = 0; /* a slot in the table holding nothing */
    while (empty == s->slot || empty == t->slot) {
        empty++;
    }
    forge(ref, GL_EXT_SHARED, empty, 1);
    o = unpack(&up, ref, sizeof(ref));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);

    forge(ref, GL_EXT_SHARED, 1u << 20, 1); /* past the table */
    o = unpack(&up, ref, sizeof(ref));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);

    forge(ref, GL_EXT_SHARED, UINT32_MAX, s->gen);
    o = unpack(&up, ref, sizeof(ref));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);

    /* The right type with 4 bytes (fixext4), and with 9 (ext8). */
    char four[] = { (char)0xd6, GL_EXT_SHARED, 0, 0, 0, 0 };
    memcpy(four + 2, &s->slot, 4);
    o = unpack(&up, four, sizeof(four));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);
    char nine[12] = { (char)0xc7, 9, GL_EXT_SHARED };
    memcpy(nine + 3, &s->slot, 4);
    memcpy(nine + 7, &s->gen, 4);
    o = unpack(&up, nine, sizeof(nine));
    assert_null(gl_shared_of(o));
    msgpack_unpacked_destroy(&up);

    gl_shared_unref(s);
    gl_shared_unref(t);
}

static void test_shared_table_grows_keeping_references(void **state)
{
    (void)state;
    enum { N = 300 };
    struct gl_shared *v[N];
    char refs[N][GL_SHARED_REF_SIZE];
    for (unsigned i = 0; i < N; i++) {
        v[i] = new_numbered(i);
        gl_shared_ref_bytes(v[i], refs[i]);
    }
    assert_int_equal(gl_shared_count(), N);
    for (unsigned i = 0; i < N; i++) {
        msgpack_unpacked up;
        const msgpack_object *o = unpack(&up, refs[i], GL_SHARED_REF_SIZE);
        const msgpack_object *m = gl_shared_deref(o);
        assert_ptr_equal(m, &v[i]->up.data);
        assert_int_equal(m->via.map.ptr[0].val.via.u64, i & 0x7f);
        msgpack_unpacked_destroy(&up);
    }
    for (unsigned i = 0; i < N; i++) {
        gl_shared_unref(v[i]);
    }
}

/* ---- sets ---- */

static void test_shared_set_add_dedupes_and_holds_a_ref(void **state)
{
    (void)state;
    struct gl_shared_set set = { 0 };
    struct gl_shared *a = new_numbered(1);
    struct gl_shared *b = new_numbered(2);
    gl_shared_set_add(&set, a);
    gl_shared_set_add(&set, a);
    gl_shared_set_add(&set, b);
    gl_shared_set_add(&set, a);
    gl_shared_set_add(&set, b);
    assert_int_equal(set.n, 2);
    assert_ptr_equal(set.v[0], a);
    assert_ptr_equal(set.v[1], b);
    assert_int_equal(a->refs, 2);
    assert_int_equal(b->refs, 2);

    /* The set's references keep the values once their creator lets go. */
    gl_shared_unref(a);
    gl_shared_unref(b);
    assert_int_equal(gl_shared_count(), 2);
    gl_shared_set_clear(&set);
    assert_int_equal(gl_shared_count(), 0);
    assert_int_equal(set.n, 0);
    assert_null(set.v);
}

static void test_shared_set_grows_past_its_first_block(void **state)
{
    (void)state;
    enum { N = 40 };
    struct gl_shared_set set = { 0 };
    for (unsigned i = 0; i < N; i++) {
        struct gl_shared *s = new_numbered(i);
        gl_shared_set_add(&set, s);
        gl_shared_set_add(&set, s);
        gl_shared_unref(s);
    }
    assert_int_equal(set.n, N);
    assert_true(set.cap >= N);
    assert_int_equal(gl_shared_count(), N);
    gl_shared_set_clear(&set);
    assert_int_equal(gl_shared_count(), 0);
}

static void test_shared_set_take_moves_into_an_empty_set(void **state)
{
    (void)state;
    struct gl_shared_set src = { 0 }, dst = { 0 };
    struct gl_shared *a = new_numbered(1);
    struct gl_shared *b = new_numbered(2);
    gl_shared_set_add(&src, a);
    gl_shared_set_add(&src, b);
    gl_shared_unref(a);
    gl_shared_unref(b);

    /* dst once held something: its old array must not leak. */
    gl_shared_set_add(&dst, a);
    gl_shared_set_clear(&dst);
    dst.v = gl_malloc(sizeof(*dst.v));
    dst.cap = 1;

    gl_shared_set_take(&dst, &src);
    assert_int_equal(dst.n, 2);
    assert_ptr_equal(dst.v[0], a);
    assert_ptr_equal(dst.v[1], b);
    assert_int_equal(a->refs, 1);
    assert_int_equal(b->refs, 1);
    assert_int_equal(src.n, 0);
    assert_int_equal(src.cap, 0);
    assert_null(src.v);
    assert_int_equal(gl_shared_count(), 2);

    /* Taking from an empty set changes nothing. */
    gl_shared_set_take(&dst, &src);
    assert_int_equal(dst.n, 2);
    gl_shared_set_clear(&dst);
    assert_int_equal(gl_shared_count(), 0);
}

static void test_shared_set_take_merges_into_a_non_empty_set(void **state)
{
    (void)state;
    struct gl_shared_set src = { 0 }, dst = { 0 };
    struct gl_shared *a = new_numbered(1);
    struct gl_shared *b = new_numbered(2);
    struct gl_shared *c = new_numbered(3);
    gl_shared_set_add(&dst, a);
    gl_shared_set_add(&dst, b);
    gl_shared_set_add(&src, b);
    gl_shared_set_add(&src, c);
    gl_shared_unref(a);
    gl_shared_unref(b);
    gl_shared_unref(c);
    assert_int_equal(b->refs, 2);

    gl_shared_set_take(&dst, &src);
    assert_int_equal(dst.n, 3);
    assert_ptr_equal(dst.v[0], a);
    assert_ptr_equal(dst.v[1], b);
    assert_ptr_equal(dst.v[2], c);
    assert_int_equal(a->refs, 1);
    assert_int_equal(b->refs, 1);
    assert_int_equal(c->refs, 1);
    assert_int_equal(src.n, 0);
    assert_null(src.v);
    assert_int_equal(gl_shared_count(), 3);

    gl_shared_set_clear(&dst);
    assert_int_equal(gl_shared_count(), 0);
}

static void test_shared_set_clear_releases_and_repeats(void **state)
{
    (void)state;
    struct gl_shared_set set = { 0 };
    gl_shared_set_clear(&set);
    struct gl_shared *a = new_numbered(1);
    gl_shared_set_add(&set, a);
    assert_int_equal(a->refs, 2);
    gl_shared_set_clear(&set);
    assert_int_equal(a->refs, 1);
    assert_int_equal(gl_shared_count(), 1);
    gl_shared_set_clear(&set);
    assert_int_equal(set.n, 0);
    gl_shared_unref(a);
}

/* ---- readers ---- */

static void test_shared_json_writes_reference_as_the_map(void **state)
{
    (void)state;
    struct gl_shared_set set = { 0 };
    struct gl_shared *s = new_pod();
    struct gl_buf rec, inl;
    gl_buf_init(&rec);
    gl_buf_init(&inl);
    write_record(&rec, &set, s);
    write_inline_record(&inl);
    assert_true(rec.len < inl.len);

    msgpack_unpacked up_rec, up_inl;
    const msgpack_object *body = read_body(&up_rec, &rec);
    const msgpack_object *inline_body = read_body(&up_inl, &inl);
    assert_int_equal(body->via.map.ptr[1].val.type, MSGPACK_OBJECT_EXT);

    char *want = json_of(inline_body);
    assert_string_equal(want, "{\"log\":\"x\",\"kubernetes\":" POD_JSON "}");
    assert_int_equal(s->json.len, 0);
    char *first = json_of(body);
    assert_string_equal(first, want);
    size_t cached = s->json.len;
    assert_int_equal(cached, strlen(POD_JSON));
    assert_memory_equal(s->json.data, POD_JSON, cached);
    char *second = json_of(body);
    assert_string_equal(second, want);
    assert_int_equal(s->json.len, cached); /* copied from the cache, not rendered again */

    struct gl_buf r1, r2;
    gl_buf_init(&r1);
    gl_buf_init(&r2);
    gl_json_write_record(&r1, 1714564800123456789ull, body);
    gl_json_write_record(&r2, 1714564800123456789ull, inline_body);
    gl_buf_putc(&r1, '\0');
    gl_buf_putc(&r2, '\0');
    assert_string_equal(r1.data, r2.data);
    assert_string_equal(r1.data, "{\"log\":\"x\",\"kubernetes\":" POD_JSON
                                 ",\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\"}");

    gl_buf_close(&r1);
    gl_buf_close(&r2);
    gl_free(want);
    gl_free(first);
    gl_free(second);
    msgpack_unpacked_destroy(&up_rec);
    msgpack_unpacked_destroy(&up_inl);
    gl_buf_close(&rec);
    gl_buf_close(&inl);
    gl_shared_set_clear(&set);
    gl_shared_unref(s);
}

static void test_shared_json_writes_stale_reference_as_null(void **state)
{
    (void)state;
    struct gl_shared_set set = { 0 };
    struct gl_shared *s = new_pod();
    struct gl_buf rec;
    gl_buf_init(&rec);
    write_record(&rec, &set, s);
    gl_shared_set_clear(&set);
    gl_shared_unref(s);
    assert_int_equal(gl_shared_count(), 0);

    /* A new value in the same slot does not revive the old reference. */
    struct gl_shared *other = new_numbered(7);
    msgpack_unpacked up;
    const msgpack_object *body = read_body(&up, &rec);
    char *j = json_of(body);
    assert_string_equal(j, "{\"log\":\"x\",\"kubernetes\":null}");
    gl_free(j);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&rec);
    gl_shared_unref(other);
}

static void test_shared_accessor_reaches_through_reference(void **state)
{
    (void)state;
    struct gl_shared_set set = { 0 };
    struct gl_shared *s = new_pod();
    struct gl_buf rec;
    gl_buf_init(&rec);
    write_record(&rec, &set, s);
    msgpack_unpacked up;
    const msgpack_object *body = read_body(&up, &rec);

    struct gl_accessor a;
    const char *app = "$kubernetes['labels']['app']";
    assert_int_equal(gl_accessor_parse(&a, app, strlen(app)), 0);
    const msgpack_object *o = gl_accessor_get(&a, body);
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, 3);
    assert_memory_equal(o->via.str.ptr, "web", 3);
    gl_accessor_close(&a);

    const char *k8s = "$kubernetes";
    assert_int_equal(gl_accessor_parse(&a, k8s, strlen(k8s)), 0);
    o = gl_accessor_get(&a, body);
    assert_ptr_equal(o, &s->up.data);
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    gl_accessor_close(&a);

    const char *missing = "$kubernetes['labels']['nope']";
    assert_int_equal(gl_accessor_parse(&a, missing, strlen(missing)), 0);
    assert_null(gl_accessor_get(&a, body));
    gl_accessor_close(&a);

    const char *through = "$kubernetes['pod_name'][0]";
    assert_int_equal(gl_accessor_parse(&a, through, strlen(through)), 0);
    assert_null(gl_accessor_get(&a, body));
    gl_accessor_close(&a);

    /* Stale: nothing is reached through it. */
    gl_shared_set_clear(&set);
    gl_shared_unref(s);
    assert_int_equal(gl_accessor_parse(&a, app, strlen(app)), 0);
    assert_null(gl_accessor_get(&a, body));
    gl_accessor_close(&a);
    /* ...and the stale reference itself reads as absent. */
    assert_int_equal(gl_accessor_parse(&a, k8s, strlen(k8s)), 0);
    assert_null(gl_accessor_get(&a, body));
    gl_accessor_close(&a);

    msgpack_unpacked_destroy(&up);
    gl_buf_close(&rec);
}

static void test_shared_event_writes_reference_into_the_set(void **state)
{
    (void)state;
    struct gl_shared_set set = { 0 };
    struct gl_shared *s = new_pod();
    struct gl_buf rec;
    gl_buf_init(&rec);
    write_record(&rec, &set, s);
    write_record(&rec, &set, s);
    assert_int_equal(set.n, 1);
    assert_ptr_equal(set.v[0], s);
    assert_int_equal(s->refs, 2);

    /* The body's last value, in each record, is the 10-byte reference. */
    char ref[GL_SHARED_REF_SIZE];
    gl_shared_ref_bytes(s, ref);
    size_t one = rec.len / 2;
    assert_memory_equal(rec.data + one - GL_SHARED_REF_SIZE, ref, GL_SHARED_REF_SIZE);
    assert_memory_equal(rec.data + rec.len - GL_SHARED_REF_SIZE, ref, GL_SHARED_REF_SIZE);
    assert_memory_equal(rec.data + one - GL_SHARED_REF_SIZE - 11, "\xaakubernetes", 11);

    gl_buf_close(&rec);
    gl_shared_set_clear(&set);
    assert_int_equal(s->refs, 1);
    gl_shared_unref(s);
}

static void test_shared_event_without_set_writes_a_copy(void **state)
{
    (void)state;
    struct gl_shared *s = new_pod();
    struct gl_buf rec, inl;
    gl_buf_init(&rec);
    gl_buf_init(&inl);
    write_record(&rec, NULL, s);
    write_inline_record(&inl);
    assert_int_equal(s->refs, 1);
    assert_int_equal(rec.len, inl.len);
    assert_memory_equal(rec.data, inl.data, inl.len);
    assert_memory_equal(rec.data + rec.len - s->len, s->data, s->len);

    /* The copy outlives the value. */
    gl_shared_unref(s);
    msgpack_unpacked up;
    char *j = json_of(read_body(&up, &rec));
    assert_string_equal(j, "{\"log\":\"x\",\"kubernetes\":" POD_JSON "}");
    gl_free(j);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&rec);
    gl_buf_close(&inl);
}

static void test_shared_reference_repacks_as_the_same_bytes(void **state)
{
    (void)state;
    struct gl_shared *s = new_pod();
    char ref[GL_SHARED_REF_SIZE];
    gl_shared_ref_bytes(s, ref);
    msgpack_unpacked up;
    const msgpack_object *o = unpack(&up, ref, sizeof(ref));

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(msgpack_pack_object(&pk, *o), 0);
    assert_int_equal(sb.size, GL_SHARED_REF_SIZE);
    assert_memory_equal(sb.data, ref, GL_SHARED_REF_SIZE);

    /* Inside a body, too: a filter copying a record keeps the reference. */
    struct gl_shared_set set = { 0 };
    struct gl_buf rec;
    gl_buf_init(&rec);
    write_record(&rec, &set, s);
    msgpack_unpacked body_up;
    const msgpack_object *body = read_body(&body_up, &rec);
    msgpack_sbuffer_clear(&sb);
    assert_int_equal(msgpack_pack_object(&pk, *body), 0);
    assert_memory_equal(sb.data + sb.size - GL_SHARED_REF_SIZE, ref, GL_SHARED_REF_SIZE);
    msgpack_unpacked again;
    const msgpack_object *copy = unpack(&again, sb.data, sb.size);
    assert_ptr_equal(gl_shared_of(&copy->via.map.ptr[1].val), s);

    msgpack_unpacked_destroy(&again);
    msgpack_unpacked_destroy(&body_up);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    gl_buf_close(&rec);
    gl_shared_set_clear(&set);
    gl_shared_unref(s);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_shared_new_rejects_non_maps_and_trailing_bytes),
        T(test_shared_unref_frees_at_zero),
        T(test_shared_reference_resolves_to_the_map),
        T(test_shared_stale_reference_resolves_to_null),
        T(test_shared_forged_references_resolve_to_null),
        T(test_shared_table_grows_keeping_references),
        T(test_shared_set_add_dedupes_and_holds_a_ref),
        T(test_shared_set_grows_past_its_first_block),
        T(test_shared_set_take_moves_into_an_empty_set),
        T(test_shared_set_take_merges_into_a_non_empty_set),
        T(test_shared_set_clear_releases_and_repeats),
        T(test_shared_json_writes_reference_as_the_map),
        T(test_shared_json_writes_stale_reference_as_null),
        T(test_shared_accessor_reaches_through_reference),
        T(test_shared_event_writes_reference_into_the_set),
        T(test_shared_event_without_set_writes_a_copy),
        T(test_shared_reference_repacks_as_the_same_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

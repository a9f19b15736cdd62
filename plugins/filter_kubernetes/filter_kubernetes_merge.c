/*
 * merge_log and the parser hint of the kubernetes filter: the `log` text of
 * a record read into keys, and the record written back with them.
 *
 * merge_log reads `log` as JSON with the agent's one JSON reader; only an
 * object is merged (arrays, strings, numbers and invalid JSON stay text). A
 * parser hint reads it with the named parser instead, merge_log on or off.
 * The parsed keys go to the top level (they win over the record's keys of the
 * same name, except `kubernetes`, which is the filter's), or under
 * merge_log_key. `log` stays unless keep_log is off.
 *
 * The parse lands in the filter's scratch record, reused from record to
 * record: merging allocates nothing once the buffer has grown.
 */
#include <string.h>

#include "codec/json.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/parser.h"
#include "filter_kubernetes.h"
#include "util/error.h"

static int buf_write(void *data, const char *buf, size_t len)
{
    gl_buf_append(data, buf, len);
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool key_is(const msgpack_object *k, const char *key, size_t klen)
{
    return (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
           k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0;
}

static bool map_has(const msgpack_object *map, const msgpack_object *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (key_is(&map->via.map.ptr[i].key, key->via.str.ptr, key->via.str.size)) {
            return true;
        }
    }
    return false;
}

/*
 * Packs text as the body of a record [0, {}, body] into the scratch buffer
 * when it is a JSON object. With merge_log_trim, whitespace around it is
 * ignored; without, the text must be exactly the object. Returns 0 or GL_EPARSE.
 */
static int read_json(struct kube *k, const char *text, size_t len)
{
    static const char head[3] = { (char)0x93, 0x00, (char)0x80 };
    msgpack_packer pk;
    if (k->merge_log_trim) {
        while (len > 0 && is_space(text[0])) {
            text++;
            len--;
        }
        while (len > 0 && is_space(text[len - 1])) {
            len--;
        }
    }
    if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
        return GL_EPARSE;
    }
    gl_buf_append(&k->scratch, head, sizeof(head));
    msgpack_packer_init(&pk, &k->scratch, buf_write);
    return gl_json_read(text, len, &pk, 0, NULL);
}

const msgpack_object *kube_merge_parse(struct kube *k, const struct gl_parser *parser,
                                       const char *text, size_t len, uint64_t *ts_ns,
                                       int *has_ts)
{
    struct gl_record rec;
    size_t off = 0;
    *has_ts = 0;
    gl_buf_reset(&k->scratch);
    if (parser != NULL) {
        struct gl_event ev;
        gl__event_begin_buf(&ev, &k->scratch, 0);
        if (gl_parser_run(parser, text, len, &ev, ts_ns, has_ts) < 0) {
            return NULL;
        }
        gl__event_finish(&ev);
    } else if (read_json(k, text, len) < 0) {
        return NULL;
    }
    if (gl_record_read(&k->up, k->scratch.data, k->scratch.len, &off, &rec) < 0) {
        return NULL;
    }
    return rec.body;
}

/* Writes the merged keys at the top level (but `kubernetes`) or under merge_log_key. */
static void write_merged(struct kube *k, const msgpack_object *merged, struct gl_event *out)
{
    if (k->merge_log_key != NULL) {
        gl_event_map_begin(out, k->merge_log_key, k->merge_key_len);
    }
    for (uint32_t i = 0; i < merged->via.map.size; i++) {
        const msgpack_object_kv *kv = &merged->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR ||
            (k->merge_log_key == NULL && key_is(&kv->key, "kubernetes", 10))) {
            continue;
        }
        gl_event_kv_obj(out, kv->key.via.str.ptr, kv->key.via.str.size, &kv->val);
    }
    if (k->merge_log_key != NULL) {
        gl_event_map_end(out);
    }
}

/* Bytes of the msgpack header of a string of n bytes, as the encoder writes it. */
static size_t str_header(uint32_t n)
{
    return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
}

#define RAW_PAIRS_MAX 32

/*
 * Finds where each key/value pair of the record's body starts in the
 * record's bytes, from the key strings (which point into them), checking
 * each header byte. Returns false when that cannot be done safely; the
 * caller then re-packs the values one by one.
 */
static bool pair_starts(const struct gl_record *rec, const char **starts)
{
    const msgpack_object *body = rec->body;
    const char *lo = rec->raw, *hi = rec->raw + rec->raw_len;
    if (body->via.map.size == 0 || body->via.map.size > RAW_PAIRS_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *key = &body->via.map.ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR) {
            return false;
        }
        const char *p = key->via.str.ptr - str_header(key->via.str.size);
        if (key->via.str.ptr == NULL || p < lo || key->via.str.ptr + key->via.str.size > hi ||
            (i > 0 && p <= starts[i - 1])) {
            return false;
        }
        unsigned char h = (unsigned char)*p;
        bool ok = key->via.str.size < 32 ? h == (0xa0 | key->via.str.size)
                  : key->via.str.size < 256 ? h == 0xd9
                  : key->via.str.size < 65536 ? h == 0xda : h == 0xdb;
        if (!ok) {
            return false;
        }
        starts[i] = p;
    }
    starts[body->via.map.size] = hi;  /* the body is the record's last element */
    return true;
}

/*
 * The common case, nothing merged: the body's pairs are copied as bytes, in
 * runs, with the enriched kubernetes map in place of the record's own.
 */
static bool write_raw(struct kube *k, const struct gl_record *rec, struct gl_event *out,
                      kube_write_cb write_kube, void *data)
{
    const char *starts[RAW_PAIRS_MAX + 1];
    if (!pair_starts(rec, starts)) {
        return false;
    }
    const msgpack_object *body = rec->body;
    uint32_t run = 0;
    bool wrote_kube = false;
    for (uint32_t i = 0; i <= body->via.map.size; i++) {
        bool kube = i < body->via.map.size && key_is(&body->via.map.ptr[i].key, "kubernetes", 10);
        if (i < body->via.map.size && !kube) {
            run++;
            continue;
        }
        if (run > 0) {
            gl_event_raw_pairs(out, starts[i - run], (size_t)(starts[i] - starts[i - run]), run);
            run = 0;
        }
        if (kube) {
            write_kube(k, out, data);
            wrote_kube = true;
        }
    }
    if (!wrote_kube) {
        write_kube(k, out, data);
    }
    return true;
}

void kube_merge_write(struct kube *k, const struct gl_record *rec, const msgpack_object *merged,
                      struct gl_event *out, kube_write_cb write_kube, void *data)
{
    const msgpack_object *body = rec->body;
    if (merged == NULL && write_raw(k, rec, out, write_kube, data)) {
        return;
    }
    bool wrote_kube = false;
    bool drop_log = merged != NULL && !k->keep_log;
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object_kv *kv = &body->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR && kv->key.type != MSGPACK_OBJECT_BIN) {
            continue;
        }
        if (key_is(&kv->key, "kubernetes", 10)) {
            write_kube(k, out, data);
            wrote_kube = true;
            continue;
        }
        if (drop_log && key_is(&kv->key, "log", 3)) {
            continue;
        }
        if (merged != NULL &&
            (k->merge_log_key != NULL ? key_is(&kv->key, k->merge_log_key, k->merge_key_len)
                                      : map_has(merged, &kv->key))) {
            continue;
        }
        gl_event_kv_obj(out, kv->key.via.str.ptr, kv->key.via.str.size, &kv->val);
    }
    if (merged != NULL) {
        write_merged(k, merged, out);
    }
    if (!wrote_kube) {
        write_kube(k, out, data);
    }
}

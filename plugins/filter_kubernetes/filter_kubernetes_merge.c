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

#include "chunk.h"
#include "error.h"
#include "event.h"
#include "filter_kubernetes.h"
#include "json.h"
#include "parser.h"

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

void kube_merge_write(struct kube *k, const msgpack_object *body, const msgpack_object *merged,
                      struct gl_event *out, kube_write_cb write_kube, void *data)
{
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

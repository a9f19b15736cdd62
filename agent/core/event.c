/*
 * The record encoder. Sits at the very start of the pipeline: every input
 * writes its records through here into the open chunk of its tag, and
 * filters write replacement records through the same functions.
 *
 * A record is written in place: array header, the timestamp as a fixed
 * 9-byte uint64 (so gl_event_set_time() can patch it), a metadata map (empty
 * unless gl_event_origin() or gl__event_meta() replaces it before the first
 * body key) and a map32 header for the body whose count is patched when the
 * map is closed. Invariant: between begin and commit/abort nothing else writes to
 * the buffer, so offsets taken at begin stay valid.
 */
#include <stdbool.h>
#include <string.h>

#include "codec/msgpack_put.h"
#include "codec/shared.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/input.h"
#include "core/plugin.h"

static void open_map(struct gl_event *ev)
{
    static const char header[5] = { (char)0xdf, 0, 0, 0, 0 };
    ev->map_at[ev->depth] = ev->buf->len;
    ev->map_n[ev->depth] = 0;
    ev->depth++;
    gl_buf_append(ev->buf, header, sizeof(header));
}

/* Writes the record's frame: [ts, {}, {...body} into buf at its end. */
void gl__event_begin_buf(struct gl_event *ev, struct gl_buf *buf, uint64_t ts_ns)
{
    char head[11];
    ev->buf = buf;
    ev->start = buf->len;
    ev->depth = 0;
    ev->has_pos = 0;
    ev->shared = NULL;
    head[0] = (char)0x93;
    head[1] = (char)0xcf;
    gl_put_be64(head + 2, ts_ns);
    head[10] = (char)0x80;
    ev->ts_at = buf->len + 2;
    gl_buf_append(buf, head, sizeof(head));
    msgpack_packer_init(&ev->pk, buf, gl_buf_pack_write);
    open_map(ev);
}

void gl_event_begin_tag(struct gl_event *ev, struct gl_instance *ins, const char *tag,
                        size_t tag_len, uint64_t ts_ns)
{
    ev->ins = ins;
    ev->slot = gl__input_slot(ins, tag, tag_len);
    gl__event_begin_buf(ev, gl__slot_buf(ev->slot, GL_LOGS), ts_ns);
    ev->shared = gl__slot_shared(ev->slot);
}

void gl_event_begin(struct gl_event *ev, struct gl_instance *ins, uint64_t ts_ns)
{
    gl_event_begin_tag(ev, ins, ins->tag, strlen(ins->tag), ts_ns);
}

void gl_event_position(struct gl_event *ev, uint64_t source, uint64_t start, uint64_t end)
{
    ev->source = source;
    ev->pos_start = start;
    ev->pos_end = end;
    ev->has_pos = 1;
}

/*
 * Rewinds a record just begun to its metadata map, so that the caller packs
 * a new one; false when a body key was written already (the record is left
 * as it is). open_map() must follow the metadata to reopen the body.
 */
static bool rewind_meta(struct gl_event *ev)
{
    if (ev->depth != 1 || ev->map_n[0] != 0 || ev->buf->len != ev->map_at[0] + 5) {
        return false;
    }
    ev->buf->len = ev->ts_at + 8;
    ev->depth = 0;
    return true;
}

void gl_event_origin(struct gl_event *ev, uint64_t source, uint64_t offset)
{
    if (!rewind_meta(ev)) {
        return;
    }
    gl_mp_put_map(ev->buf, 1);
    gl_mp_put_str(ev->buf, GL_META_ORIGIN, sizeof(GL_META_ORIGIN) - 1);
    gl_mp_put_array(ev->buf, 2);
    gl_mp_put_uint(ev->buf, source);
    gl_mp_put_uint(ev->buf, offset);
    open_map(ev);
}

void gl__event_meta(struct gl_event *ev, const msgpack_object *meta)
{
    if (meta == NULL || meta->type != MSGPACK_OBJECT_MAP || meta->via.map.size == 0 ||
        !rewind_meta(ev)) {
        return;
    }
    gl_mp_put_object(ev->buf, meta);
    open_map(ev);
}

void gl_event_set_time(struct gl_event *ev, uint64_t ts_ns)
{
    gl_put_be64(ev->buf->data + ev->ts_at, ts_ns);
}

void gl_event_key(struct gl_event *ev, const char *key, size_t klen)
{
    ev->map_n[ev->depth - 1]++;
    gl_mp_put_str(ev->buf, key, klen);
}

void gl_event_kv_strn(struct gl_event *ev, const char *key, size_t klen, const char *val,
                      size_t len)
{
    gl_event_key(ev, key, klen);
    gl_mp_put_str(ev->buf, val, len);
}

void gl_event_kv_str(struct gl_event *ev, const char *key, const char *val, size_t len)
{
    gl_event_kv_strn(ev, key, strlen(key), val, len);
}

void gl_event_kv_int(struct gl_event *ev, const char *key, int64_t v)
{
    gl_event_key(ev, key, strlen(key));
    gl_mp_put_int(ev->buf, v);
}

void gl_event_kv_uint(struct gl_event *ev, const char *key, uint64_t v)
{
    gl_event_key(ev, key, strlen(key));
    gl_mp_put_uint(ev->buf, v);
}

void gl_event_kv_double(struct gl_event *ev, const char *key, double v)
{
    gl_event_key(ev, key, strlen(key));
    gl_mp_put_double(ev->buf, v);
}

void gl_event_kv_bool(struct gl_event *ev, const char *key, int v)
{
    gl_event_key(ev, key, strlen(key));
    gl_mp_put_bool(ev->buf, v != 0);
}

void gl_event_kv_nil(struct gl_event *ev, const char *key)
{
    gl_event_key(ev, key, strlen(key));
    gl_mp_put_nil(ev->buf);
}

void gl_event_kv_obj(struct gl_event *ev, const char *key, size_t klen,
                     const msgpack_object *val)
{
    gl_event_key(ev, key, klen);
    gl_mp_put_object(ev->buf, val);
}

void gl_event_kv_raw(struct gl_event *ev, const char *key, size_t klen, const char *msgpack,
                     size_t len)
{
    gl_event_key(ev, key, klen);
    gl_buf_append(ev->buf, msgpack, len);
}

void gl_event_kv_shared(struct gl_event *ev, const char *key, size_t klen, struct gl_shared *s)
{
    if (ev->shared == NULL) {
        /* Nothing would keep the value alive: write a copy instead. */
        gl_event_kv_raw(ev, key, klen, s->data, s->len);
        return;
    }
    char ref[GL_SHARED_REF_SIZE];
    gl_shared_ref_bytes(s, ref);
    gl_event_kv_raw(ev, key, klen, ref, sizeof(ref));
    gl_shared_set_add(ev->shared, s);
}

void gl_event_raw_pairs(struct gl_event *ev, const char *pairs, size_t len, uint32_t n)
{
    gl_buf_append(ev->buf, pairs, len);
    ev->map_n[ev->depth - 1] += n;
}

void gl_event_map_begin(struct gl_event *ev, const char *key, size_t klen)
{
    if (ev->depth >= GL_EVENT_DEPTH) {
        /* Deeper maps are a programming error; keep the record well-formed. */
        gl_event_kv_nil(ev, key);
        return;
    }
    gl_event_key(ev, key, klen);
    open_map(ev);
}

void gl_event_map_end(struct gl_event *ev)
{
    if (ev->depth <= 1) {
        return;
    }
    ev->depth--;
    gl_put_be32(ev->buf->data + ev->map_at[ev->depth] + 1, ev->map_n[ev->depth]);
}

void gl__event_finish(struct gl_event *ev)
{
    while (ev->depth > 1) {
        gl_event_map_end(ev);
    }
    ev->depth = 0;
    gl_put_be32(ev->buf->data + ev->map_at[0] + 1, ev->map_n[0]);
}

int gl_event_commit(struct gl_event *ev)
{
    gl__event_finish(ev);
    return gl__input_commit(ev->slot, ev);
}

void gl_event_abort(struct gl_event *ev)
{
    ev->buf->len = ev->start;
    ev->depth = 0;
}

/*
 * One record -> one bulk item: the action line ({"create":{"_index":...,
 * "_id":...}}) and the source line (the body as JSON plus time_key and
 * tag_key, or {"doc":...} for update and upsert), each ending in '\n', in
 * the job's arena. Index names follow logstash_format as Fluent Bit's do.
 *
 * Deterministic ids (generate_id): a record whose input said where it came
 * from (a tail line: its file's key and offset, core/event.h) is named by
 * that, so the same line read again after a crash gets the same _id; any
 * other record by its time and a hash of its tag and source. Either way a
 * batch sent twice overwrites (index) or is refused as a duplicate (create)
 * instead of being stored twice.
 * Invariant: an item's bytes never change once written; the arena only
 * grows while the job is built.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/chunk.h"
#include "out_es.h"
#include "util/hash.h"
#include "util/mem.h"

/* ---- times ---- */

/* strftime(format) of sec (UTC), cached while records come in the same second. */
static const char *format_time(struct es_time_cache *c, const char *format, int64_t sec,
                               size_t *len)
{
    if (!c->valid || c->sec != sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        c->len = strftime(c->text, sizeof(c->text), format, &tm);
        c->sec = sec;
        c->valid = true;
    }
    *len = c->len;
    return c->text;
}

/* Appends n decimal digits of v (zero-padded). */
static void put_digits(struct gl_buf *b, uint64_t v, int n)
{
    char d[20];
    for (int i = n - 1; i >= 0; i--) {
        d[i] = (char)('0' + v % 10);
        v /= 10;
    }
    gl_buf_append(b, d, (size_t)n);
}

/* Appends the time_key value: time_key_format, then milliseconds (or nanoseconds) and Z. */
static void write_time_value(struct es *e, struct gl_buf *b, uint64_t ts_ns)
{
    size_t len;
    const char *s = format_time(&e->time_cache, e->time_key_format,
                                (int64_t)(ts_ns / 1000000000u), &len);
    uint64_t frac = ts_ns % 1000000000u;
    gl_buf_putc(b, '"');
    gl_buf_append(b, s, len);
    gl_buf_putc(b, '.');
    if (e->time_key_nanos) {
        put_digits(b, frac, 9);
    } else {
        put_digits(b, frac / 1000000u, 3);
    }
    gl_buf_append(b, "Z\"", 2);
}

/*
 * What every action line and document starts the same way, rendered once
 * (again when the version probe decides on _type): the action and index,
 * the type, and the time and tag keys as JSON.
 */
void es_format_init(struct es *e)
{
    static const char *const ops[] = {
        [ES_OP_CREATE] = "create", [ES_OP_INDEX] = "index", [ES_OP_UPDATE] = "update",
        [ES_OP_UPSERT] = "update",
    };
    struct gl_buf *h = &e->action_head;
    gl_buf_reset(h);
    gl_buf_printf(h, "{\"%s\":{\"_index\":", ops[e->op]);
    if (!e->logstash_format) {
        gl_json_write_str(h, e->index, strlen(e->index));
    }
    gl_buf_reset(&e->type_part);
    if (e->send_type) {
        gl_buf_puts(&e->type_part, ",\"_type\":");
        gl_json_write_str(&e->type_part, e->type, strlen(e->type));
    }
    gl_buf_reset(&e->time_key_json);
    gl_json_write_str(&e->time_key_json, e->time_key, strlen(e->time_key));
    gl_buf_putc(&e->time_key_json, ':');
    gl_buf_reset(&e->tag_key_json);
    if (e->tag_key != NULL) {
        gl_json_write_str(&e->tag_key_json, e->tag_key, strlen(e->tag_key));
        gl_buf_putc(&e->tag_key_json, ':');
    }
}

/* ---- names ---- */

/* Appends the record's logstash index: the prefix (from the record or not), separator, date. */
static void write_index(struct es *e, struct gl_buf *b, const struct gl_record *rec)
{
    struct gl_buf *name = &e->name;
    const msgpack_object *v = e->logstash_prefix_key != NULL
                                  ? gl_accessor_get(&e->prefix_acc, rec->body) : NULL;
    gl_buf_reset(name);
    if (v != NULL && (v->type == MSGPACK_OBJECT_STR || v->type == MSGPACK_OBJECT_BIN) &&
        v->via.str.size > 0) {
        gl_buf_append(name, v->via.str.ptr, v->via.str.size);
    } else {
        gl_buf_puts(name, e->logstash_prefix);
    }
    gl_buf_puts(name, e->logstash_prefix_separator);
    int64_t sec = e->current_time_index ? (int64_t)time(NULL) : (int64_t)(rec->ts / 1000000000u);
    size_t len;
    const char *date = format_time(&e->index_cache, e->logstash_dateformat, sec, &len);
    gl_buf_append(name, date, len);
    gl_json_write_str(b, name->data, name->len);
}

/* Writes id_key's value as a JSON string; false when the record has none usable. */
static bool write_key_id(struct es *e, struct gl_buf *b, const struct gl_record *rec)
{
    const msgpack_object *v = gl_accessor_get(&e->id_acc, rec->body);
    if (v == NULL) {
        return false;
    }
    if ((v->type == MSGPACK_OBJECT_STR || v->type == MSGPACK_OBJECT_BIN) && v->via.str.size > 0 &&
        v->via.str.size <= 512) {
        gl_json_write_str(b, v->via.str.ptr, v->via.str.size);
        return true;
    }
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        gl_buf_printf(b, "\"%llu\"", (unsigned long long)v->via.u64);
        return true;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        gl_buf_printf(b, "\"%lld\"", (long long)v->via.i64);
        return true;
    }
    return false;
}

static void put_hex64(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

/* ---- the source line ---- */

static void write_dotted(struct gl_buf *b, const msgpack_object *o);

/* Writes a key with its dots replaced (a JSON escape never holds a dot). */
static void write_dotted_key(struct gl_buf *b, const msgpack_object *k)
{
    size_t at = b->len;
    if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
        gl_json_write_str(b, k->via.str.ptr, k->via.str.size);
    } else {
        struct gl_buf text;
        gl_buf_init(&text);
        gl_json_write(&text, k);
        gl_json_write_str(b, text.data, text.len);
        gl_buf_close(&text);
    }
    for (size_t i = at; i < b->len; i++) {
        if (b->data[i] == '.') {
            b->data[i] = '_';
        }
    }
}

/* replace_dots: the value with every map key's dots replaced, nested maps and arrays too. */
static void write_dotted(struct gl_buf *b, const msgpack_object *o)
{
    o = gl_shared_deref(o);
    if (o == NULL) {
        gl_buf_append(b, "null", 4);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        gl_buf_putc(b, '{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            gl_buf_puts(b, i > 0 ? "," : "");
            write_dotted_key(b, &o->via.map.ptr[i].key);
            gl_buf_putc(b, ':');
            write_dotted(b, &o->via.map.ptr[i].val);
        }
        gl_buf_putc(b, '}');
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        gl_buf_putc(b, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            gl_buf_puts(b, i > 0 ? "," : "");
            write_dotted(b, &o->via.array.ptr[i]);
        }
        gl_buf_putc(b, ']');
    } else {
        gl_json_write(b, o);
    }
}

/*
 * The document: the body, then time_key and (include_tag_key) tag_key
 * unless the body has them already (two keys of one name make Elasticsearch
 * refuse the document).
 */
static void write_doc(struct es *e, struct gl_buf *b, const struct gl_record *rec)
{
    size_t open = b->len;
    if (e->replace_dots) {
        write_dotted(b, rec->body);
    } else {
        gl_json_write(b, rec->body);
    }
    bool empty = b->len == open + 2;
    b->len--; /* the closing brace, put back below */
    if (gl_json_map_get(rec->body, e->time_key) == NULL) {
        gl_buf_puts(b, empty ? "" : ",");
        gl_buf_append(b, e->time_key_json.data, e->time_key_json.len);
        write_time_value(e, b, rec->ts);
        empty = false;
    }
    if (e->include_tag_key && gl_json_map_get(rec->body, e->tag_key) == NULL) {
        gl_buf_puts(b, empty ? "" : ",");
        gl_buf_append(b, e->tag_key_json.data, e->tag_key_json.len);
        gl_json_write_str(b, rec->tag, rec->tag_len);
    }
    gl_buf_putc(b, '}');
}

static void write_source(struct es *e, struct gl_buf *b, const struct gl_record *rec)
{
    if (e->op == ES_OP_UPDATE || e->op == ES_OP_UPSERT) {
        gl_buf_puts(b, "{\"doc\":");
        write_doc(e, b, rec);
        gl_buf_puts(b, e->op == ES_OP_UPSERT ? ",\"doc_as_upsert\":true}" : "}");
    } else {
        write_doc(e, b, rec);
    }
    gl_buf_putc(b, '\n');
}

/* ---- items ---- */

static struct es_item *item_new(struct es_job *j)
{
    if (j->n_items == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 256;
        j->items = gl_realloc(j->items, (size_t)j->cap * sizeof(*j->items));
    }
    struct es_item *it = &j->items[j->n_items++];
    memset(it, 0, sizeof(*it));
    return it;
}

/*
 * The action line, with room for a generated _id patched in once the source
 * is written. Returns where the id's 32 digits go, 0 when there are none.
 * *has_id says whether the line names an _id at all.
 */
static size_t write_action(struct es *e, struct gl_buf *b, const struct gl_record *rec,
                           bool *has_id)
{
    size_t id_at = 0;
    gl_buf_append(b, e->action_head.data, e->action_head.len);
    if (e->logstash_format) {
        write_index(e, b, rec);
    }
    gl_buf_append(b, e->type_part.data, e->type_part.len);
    *has_id = false;
    if (e->id_key != NULL) {
        size_t at = b->len;
        gl_buf_append(b, ",\"_id\":", 7);
        *has_id = write_key_id(e, b, rec);
        if (!*has_id) {
            b->len = at;
        }
    } else if (e->generate_id) {
        gl_buf_append(b, ",\"_id\":\"", 8);
        id_at = b->len;
        gl_buf_append(b, "00000000000000000000000000000000\"", ES_ID_LEN + 1);
        *has_id = true;
    }
    gl_buf_append(b, "}}\n", 3);
    return id_at;
}

/* The generated _id: the record's origin when it has one, else its time and content. */
static void generate_id(char *out, const struct gl_record *rec, const char *src, size_t len)
{
    uint64_t source;
    uint64_t offset;
    if (gl_record_origin(rec, &source, &offset) == 0) {
        put_hex64(out, source);
        put_hex64(out + 16, offset);
        return;
    }
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, rec->tag, rec->tag_len);
    h = gl_hash_fnv1a64(h, "\n", 1);
    put_hex64(out, rec->ts);
    put_hex64(out + 16, gl_hash_fnv1a64(h, src, len));
}

const char *es_item_add(struct es *e, struct es_job *j, const struct gl_record *rec)
{
    struct gl_buf *b = &j->arena;
    size_t off = b->len;
    bool has_id;
    size_t id_at = write_action(e, b, rec, &has_id);
    if (!has_id && (e->op == ES_OP_UPDATE || e->op == ES_OP_UPSERT)) {
        b->len = off;
        return "id_key_missing";
    }
    size_t src = b->len;
    write_source(e, b, rec);
    if (id_at != 0) {
        generate_id(b->data + id_at, rec, b->data + src, b->len - src);
    }
    struct es_item *it = item_new(j);
    it->off = off;
    it->len = (uint32_t)(b->len - off);
    it->action_len = (uint32_t)(src - off);
    it->index = rec->index;
    it->ts_ns = rec->ts;
    it->flags = id_at != 0 && e->op == ES_OP_CREATE ? ES_ITEM_GENERATED : 0;
    return NULL;
}

const char *es_item_data(const struct es_job *j, const struct es_item *it)
{
    return ((it->flags & ES_ITEM_DEAD) ? j->dead.data : j->arena.data) + it->off;
}

/* ---- dead letters ---- */

/*
 * {"@timestamp":..., "action": the original action line, "message": its
 * source line, "error": {"status", "type", "reason"}}: text fields only, so
 * the dead-letter index never has a mapping conflict of its own. Its _id is
 * derived from the original's when that had one, so a dead letter sent twice
 * is stored once.
 */
uint32_t es_dead_letter_add(struct es *e, struct es_job *j, uint32_t i,
                            const struct es_result *r)
{
    struct es_item orig = j->items[i];
    const char *data = es_item_data(j, &orig);
    size_t alen = orig.action_len - 1;
    size_t slen = orig.len - orig.action_len - 1;
    struct gl_buf *b = &j->dead;
    size_t off = b->len;
    bool create = e->op == ES_OP_CREATE;
    gl_buf_printf(b, "{\"%s\":{\"_index\":", create ? "create" : "index");
    gl_json_write_str(b, e->dead_letter_index, strlen(e->dead_letter_index));
    bool has_id = memmem(data, alen, "\"_id\":", 6) != NULL;
    if (has_id) {
        char id[ES_ID_LEN];
        put_hex64(id, gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, data, alen));
        put_hex64(id + 16, gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, data + alen + 1, slen));
        gl_buf_puts(b, ",\"_id\":\"");
        gl_buf_append(b, id, sizeof(id));
        gl_buf_putc(b, '"');
    }
    gl_buf_puts(b, "}}\n");
    size_t src = b->len;
    char ts[32];
    size_t tn = gl_json_format_time(ts, orig.ts_ns);
    gl_buf_puts(b, "{\"@timestamp\":\"");
    gl_buf_append(b, ts, tn);
    gl_buf_puts(b, "\",\"action\":");
    gl_json_write_str(b, data, alen);
    gl_buf_puts(b, ",\"message\":");
    gl_json_write_str(b, data + alen + 1, slen);
    gl_buf_printf(b, ",\"error\":{\"status\":%ld,\"type\":", r->status);
    gl_json_write_str(b, r->type ? r->type : "", r->type ? r->type_len : 0);
    gl_buf_puts(b, ",\"reason\":");
    gl_json_write_str(b, r->reason ? r->reason : "", r->reason ? r->reason_len : 0);
    gl_buf_puts(b, "}}\n");
    struct es_item *it = item_new(j);
    it->off = off;
    it->len = (uint32_t)(b->len - off);
    it->action_len = (uint32_t)(src - off);
    it->index = orig.index;
    it->ts_ns = orig.ts_ns;
    it->flags = ES_ITEM_DEAD | (has_id && create ? ES_ITEM_GENERATED : 0);
    return j->n_items - 1;
}

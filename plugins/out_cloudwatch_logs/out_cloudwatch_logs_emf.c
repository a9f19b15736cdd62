/*
 * CloudWatch Embedded Metric Format for the cloudwatch_logs output
 * (log_format json_emf). A metrics record, {"metrics": [{name, type, labels,
 * value}, ...]} as the internal_metrics input emits it, becomes documents
 *   {"_aws": {"Timestamp": ms, "CloudWatchMetrics": [{"Namespace": ns,
 *     "Dimensions": [["k", ...]], "Metrics": [{"Name": n, "Unit": u}, ...]}]},
 *    "k": "v", ..., "n": value, ...}
 * one per distinct set of dimension values, at most 100 metrics each, and a
 * name at most once per document (a document holds one value per name).
 * Invariant: every document is valid JSON written by the one JSON writer.
 */
#include <math.h>
#include <string.h>

#include "codec/json.h"
#include "out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

#define DIMS_MAX 30 /* the service's limit per dimension set */

struct series {
    const msgpack_object *name;
    const msgpack_object *type;
    const msgpack_object *value;
    const msgpack_object_kv *dims[DIMS_MAX];
    size_t ndims;
    bool used;
};

static bool str_eq(const msgpack_object *a, const msgpack_object *b)
{
    return a->type == MSGPACK_OBJECT_STR && b->type == MSGPACK_OBJECT_STR &&
           a->via.str.size == b->via.str.size &&
           memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
}

static bool str_is(const msgpack_object *o, const char *s)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* The labels kept as dimensions: metric_dimensions' in its order, or every string label. */
static void pick_dims(const struct cwl_emf *e, const msgpack_object *labels, struct series *s)
{
    if (labels == NULL || labels->type != MSGPACK_OBJECT_MAP) {
        return;
    }
    const msgpack_object_kv *kv = labels->via.map.ptr;
    uint32_t n = labels->via.map.size;
    if (e->dims == NULL || e->dims->count == 0) {
        for (uint32_t i = 0; i < n && s->ndims < DIMS_MAX; i++) {
            if (kv[i].key.type == MSGPACK_OBJECT_STR && kv[i].val.type == MSGPACK_OBJECT_STR) {
                s->dims[s->ndims++] = &kv[i];
            }
        }
        return;
    }
    for (size_t d = 0; d < e->dims->count && s->ndims < DIMS_MAX; d++) {
        for (uint32_t i = 0; i < n; i++) {
            if (str_is(&kv[i].key, e->dims->items[d]) && kv[i].val.type == MSGPACK_OBJECT_STR) {
                s->dims[s->ndims++] = &kv[i];
                break;
            }
        }
    }
}

static bool same_dims(const struct series *a, const struct series *b)
{
    if (a->ndims != b->ndims) {
        return false;
    }
    for (size_t i = 0; i < a->ndims; i++) {
        if (!str_eq(&a->dims[i]->key, &b->dims[i]->key) ||
            !str_eq(&a->dims[i]->val, &b->dims[i]->val)) {
            return false;
        }
    }
    return true;
}

static bool ends_with(const msgpack_object *o, const char *suffix)
{
    size_t n = strlen(suffix);
    return o->via.str.size >= n && memcmp(o->via.str.ptr + o->via.str.size - n, suffix, n) == 0;
}

static const char *unit_of(const struct series *s)
{
    if (ends_with(s->name, "_bytes") || ends_with(s->name, "_bytes_total")) {
        return "Bytes";
    }
    if (ends_with(s->name, "_seconds") || ends_with(s->name, "_seconds_total")) {
        return "Seconds";
    }
    return str_is(s->type, "counter") ? "Count" : "None";
}

/* Reads one series; false when it lacks a string name or a finite number. */
static bool read_series(const struct cwl_emf *e, const msgpack_object *m, struct series *s)
{
    memset(s, 0, sizeof(*s));
    if (m->type != MSGPACK_OBJECT_MAP) {
        return false;
    }
    s->name = gl_json_map_get(m, "name");
    s->type = gl_json_map_get(m, "type");
    s->value = gl_json_map_get(m, "value");
    if (s->name == NULL || s->name->type != MSGPACK_OBJECT_STR || s->name->via.str.size == 0 ||
        s->value == NULL) {
        return false;
    }
    switch (s->value->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(s->value->via.f64)) {
            return false;
        }
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        break;
    default:
        return false;
    }
    pick_dims(e, gl_json_map_get(m, "labels"), s);
    return true;
}

/* Writes one document with the series of members[0..n) (same dimensions, distinct names). */
static void write_doc(const struct cwl_emf *e, struct series **members, size_t n,
                      int64_t ts_ms, struct gl_buf *b)
{
    const struct series *first = members[0];
    gl_buf_printf(b, "{\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":",
                  (long long)ts_ms);
    gl_json_write_str(b, e->ns, strlen(e->ns));
    gl_buf_puts(b, ",\"Dimensions\":[[");
    for (size_t i = 0; i < first->ndims; i++) {
        gl_buf_puts(b, i ? "," : "");
        gl_json_write(b, &first->dims[i]->key);
    }
    gl_buf_puts(b, "]],\"Metrics\":[");
    for (size_t i = 0; i < n; i++) {
        gl_buf_puts(b, i ? ",{\"Name\":" : "{\"Name\":");
        gl_json_write(b, members[i]->name);
        gl_buf_printf(b, ",\"Unit\":\"%s\"}", unit_of(members[i]));
    }
    gl_buf_puts(b, "]}]}");
    for (size_t i = 0; i < first->ndims; i++) {
        gl_buf_putc(b, ',');
        gl_json_write(b, &first->dims[i]->key);
        gl_buf_putc(b, ':');
        gl_json_write(b, &first->dims[i]->val);
    }
    for (size_t i = 0; i < n; i++) {
        gl_buf_putc(b, ',');
        gl_json_write(b, members[i]->name);
        gl_buf_putc(b, ':');
        gl_json_write(b, members[i]->value);
    }
    gl_buf_putc(b, '}');
}

/* Gathers the unused series with s[start]'s dimensions and names not taken yet (≤ 100). */
static size_t gather(struct series *s, size_t n, size_t start, struct series **members)
{
    size_t count = 0;
    for (size_t i = start; i < n && count < CWL_EMF_METRICS_MAX; i++) {
        if (s[i].used || !same_dims(&s[start], &s[i])) {
            continue;
        }
        bool taken = false;
        for (size_t k = 0; k < count && !taken; k++) {
            taken = str_eq(members[k]->name, s[i].name);
        }
        if (!taken) {
            s[i].used = true;
            members[count++] = &s[i];
        }
    }
    return count;
}

int cwl_emf_write(const struct cwl_emf *e, const msgpack_object *body, int64_t ts_ms,
                  struct gl_buf *arena, void (*emit)(void *data, size_t off, size_t len),
                  void *data)
{
    const msgpack_object *list = gl_json_map_get(body, "metrics");
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
        return GL_ENOENT;
    }
    size_t n = 0;
    struct series *s = gl_calloc(list->via.array.size + 1, sizeof(*s));
    struct series **members = gl_calloc(CWL_EMF_METRICS_MAX, sizeof(*members));
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        if (read_series(e, &list->via.array.ptr[i], &s[n])) {
            n++;
        }
    }
    int docs = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].used) {
            continue;
        }
        size_t count = gather(s, n, i, members);
        size_t off = arena->len;
        write_doc(e, members, count, ts_ms, arena);
        emit(data, off, arena->len - off);
        docs++;
    }
    gl_free(members);
    gl_free(s);
    return docs;
}

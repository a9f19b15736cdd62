/*
 * The rules of the bulk API, as pure functions the queue and the tests call:
 * reading a bulk response item by item (the one JSON reader turns it into
 * msgpack first), what each item's answer means (stored, already stored,
 * send again, rejected for good), the static reasons drops are counted
 * under, the server's version, Elastic Cloud's cloud_id, base64, and the
 * adaptive concurrency arithmetic. Invariant: nothing here trusts the
 * response's shape; any body, however broken, reads as "unreadable" or as
 * items without a status, never as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out_es.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- responses ---- */

int es_reply_parse(struct es_reply *r, const char *body, size_t len)
{
    memset(r, 0, sizeof(*r));
    if (len == 0 || gl_json_doc_parse(&r->doc, body, len, NULL) < 0) {
        if (len > 0) {
            gl_json_doc_free(&r->doc);
        }
        return GL_EPARSE;
    }
    r->parsed = true;
    if (r->doc.root.type != MSGPACK_OBJECT_MAP) {
        return GL_EPARSE;
    }
    const msgpack_object *errors = gl_json_map_get(&r->doc.root, "errors");
    r->errors = errors != NULL && errors->type == MSGPACK_OBJECT_BOOLEAN && errors->via.boolean;
    const msgpack_object *items = gl_json_map_get(&r->doc.root, "items");
    if (items != NULL && items->type == MSGPACK_OBJECT_ARRAY) {
        r->items = items;
        r->n_items = items->via.array.size;
    }
    return 0;
}

void es_reply_free(struct es_reply *r)
{
    if (r->parsed) {
        gl_json_doc_free(&r->doc);
    }
    memset(r, 0, sizeof(*r));
}

static void read_str(const msgpack_object *o, const char **s, size_t *len)
{
    if (o != NULL && o->type == MSGPACK_OBJECT_STR) {
        *s = o->via.str.ptr;
        *len = o->via.str.size;
    }
}

/* Fills out from a status and an error that is an object ({type, reason}) or a string. */
static void read_result(const msgpack_object *status, const msgpack_object *error,
                        struct es_result *out)
{
    if (status != NULL && status->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        status->via.u64 < 1000) {
        out->status = (long)status->via.u64;
    }
    if (error != NULL && error->type == MSGPACK_OBJECT_MAP) {
        read_str(gl_json_map_get(error, "type"), &out->type, &out->type_len);
        read_str(gl_json_map_get(error, "reason"), &out->reason, &out->reason_len);
    } else {
        read_str(error, &out->reason, &out->reason_len);
    }
}

void es_reply_item(const struct es_reply *r, size_t i, struct es_result *out)
{
    memset(out, 0, sizeof(*out));
    if (r->items == NULL || i >= r->n_items) {
        return;
    }
    /* {"index": {...}}, or create/update/delete: one key naming the action. */
    const msgpack_object *item = &r->items->via.array.ptr[i];
    if (item->type != MSGPACK_OBJECT_MAP || item->via.map.size != 1) {
        return;
    }
    const msgpack_object *v = &item->via.map.ptr[0].val;
    if (v->type != MSGPACK_OBJECT_MAP) {
        return;
    }
    read_result(gl_json_map_get(v, "status"), gl_json_map_get(v, "error"), out);
}

void es_reply_error(const struct es_reply *r, struct es_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!r->parsed || r->doc.root.type != MSGPACK_OBJECT_MAP) {
        return;
    }
    read_result(gl_json_map_get(&r->doc.root, "status"),
                gl_json_map_get(&r->doc.root, "error"), out);
}

/* ---- verdicts and reasons ---- */

static bool is(const char *s, size_t len, const char *want)
{
    return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

static bool has(const char *s, size_t len, const char *want)
{
    size_t n = strlen(want);
    for (size_t i = 0; s != NULL && i + n <= len; i++) {
        if (memcmp(s + i, want, n) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * 2xx is stored; a 409 on a create of a generated _id is the same document
 * stored before (the id names where it came from); 429 and the thread pool's
 * rejections are back-pressure; 408, 5xx and the disk flood-stage block go
 * away by themselves. An item without a status (a broken answer) is sent
 * again too. The rest (mapping conflicts, bad values) would fail again.
 */
enum es_verdict es_item_verdict(const struct es_result *r, bool generated_create)
{
    long s = r->status;
    if (s >= 200 && s < 300) {
        return ES_V_OK;
    }
    if (s == 409 && generated_create) {
        return ES_V_DUPLICATE;
    }
    if (s == 429 || is(r->type, r->type_len, "es_rejected_execution_exception") ||
        is(r->type, r->type_len, "rejected_execution_exception") ||
        is(r->type, r->type_len, "circuit_breaking_exception")) {
        return ES_V_THROTTLED;
    }
    if (s == 0 || s == 408 || s >= 500) {
        return ES_V_RETRY;
    }
    if (is(r->type, r->type_len, "cluster_block_exception") &&
        (has(r->reason, r->reason_len, "allow delete") ||
         has(r->reason, r->reason_len, "flood-stage"))) {
        return ES_V_RETRY;
    }
    return ES_V_REJECTED;
}

const char *es_drop_reason(const char *type, size_t len)
{
    static const char *const known[] = {
        "mapper_parsing_exception",        "document_parsing_exception",
        "illegal_argument_exception",      "strict_dynamic_mapping_exception",
        "version_conflict_engine_exception", "document_missing_exception",
        "index_not_found_exception",       "invalid_index_name_exception",
        "cluster_block_exception",         "security_exception",
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (is(type, len, known[i])) {
            return known[i];
        }
    }
    return "rejected";
}

const char *es_status_reason(long status)
{
    switch (status) {
    case 400:
        return "http_400";
    case 401:
        return "http_401";
    case 403:
        return "http_403";
    case 404:
        return "http_404";
    case 413:
        return "too_large";
    default:
        return "http_4xx";
    }
}

/* ---- versions ---- */

/* Reads "major[.minor...]" into v. Returns 0 or GL_EINVAL. */
static int read_number(const char *s, size_t len, struct es_version *v)
{
    char buf[sizeof(v->number)];
    if (len == 0 || len >= sizeof(buf) || s[0] < '0' || s[0] > '9') {
        return GL_EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    long major = strtol(buf, &end, 10);
    long minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
    if (major <= 0 || major > 1000 || minor < 0 || minor > 1000) {
        return GL_EINVAL;
    }
    v->major = (int)major;
    v->minor = (int)minor;
    memcpy(v->number, buf, len + 1);
    return 0;
}

int es_version_parse_root(const char *body, size_t len, struct es_version *v)
{
    struct gl_json_doc doc;
    int rc = GL_EPARSE;
    memset(v, 0, sizeof(*v));
    if (len == 0 || gl_json_doc_parse(&doc, body, len, NULL) < 0) {
        if (len > 0) {
            gl_json_doc_free(&doc);
        }
        return GL_EPARSE;
    }
    const msgpack_object *ver = doc.root.type == MSGPACK_OBJECT_MAP
                                    ? gl_json_map_get(&doc.root, "version") : NULL;
    const msgpack_object *num = ver != NULL && ver->type == MSGPACK_OBJECT_MAP
                                    ? gl_json_map_get(ver, "number") : NULL;
    if (num != NULL && num->type == MSGPACK_OBJECT_STR &&
        read_number(num->via.str.ptr, num->via.str.size, v) == 0) {
        const msgpack_object *dist = gl_json_map_get(ver, "distribution");
        v->dist = dist != NULL && dist->type == MSGPACK_OBJECT_STR &&
                          is(dist->via.str.ptr, dist->via.str.size, "opensearch")
                      ? ES_DIST_OPENSEARCH : ES_DIST_ELASTICSEARCH;
        rc = 0;
    }
    gl_json_doc_free(&doc);
    return rc;
}

int es_version_parse_option(const char *s, struct es_version *v)
{
    static const struct {
        const char *name;
        enum es_dist dist;
    } names[] = { { "opensearch", ES_DIST_OPENSEARCH },
                  { "elasticsearch", ES_DIST_ELASTICSEARCH } };
    memset(v, 0, sizeof(*v));
    v->dist = ES_DIST_ELASTICSEARCH;
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(names[i].name);
        if (strncasecmp(s, names[i].name, n) == 0) {
            v->dist = names[i].dist;
            s += n;
            s += *s == ' ' || *s == ':' || *s == '-' || *s == '/' ? 1 : 0;
            break;
        }
    }
    if (read_number(s, strlen(s), v) < 0) {
        memset(v, 0, sizeof(*v));
        return GL_EINVAL;
    }
    return 0;
}

bool es_version_has_types(const struct es_version *v)
{
    switch (v->dist) {
    case ES_DIST_ELASTICSEARCH:
        return v->major < 8;
    case ES_DIST_OPENSEARCH:
        return v->major < 2;
    default:
        return false;
    }
}

const char *es_version_name(const struct es_version *v)
{
    return v->dist == ES_DIST_OPENSEARCH      ? "OpenSearch"
           : v->dist == ES_DIST_ELASTICSEARCH ? "Elasticsearch"
                                               : "a server of unknown version";
}

/* ---- base64 and cloud_id ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void es_base64(struct gl_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        char q[4] = { b64[v >> 18], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                      i + 2 < n ? b64[v & 63] : '=' };
        gl_buf_append(out, q, 4);
    }
}

int es_unbase64(struct gl_buf *out, const char *s, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *at = s[i] != '\0' ? strchr(b64, s[i]) : NULL;
        if (at == NULL) {
            return GL_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)(at - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            gl_buf_putc(out, (char)(acc >> bits));
            acc &= (1u << bits) - 1;
        }
    }
    return 0;
}

/* Splits "name:port" in place; returns the port given, or def. */
static int64_t split_port(char *s, int64_t def)
{
    char *colon = strrchr(s, ':');
    if (colon == NULL) {
        return def;
    }
    *colon = '\0';
    long port = strtol(colon + 1, NULL, 10);
    return port > 0 && port < 65536 ? port : def;
}

int es_cloud_id_decode(const char *cloud_id, char **host, int64_t *port)
{
    const char *colon = strchr(cloud_id, ':');
    const char *enc = colon != NULL ? colon + 1 : cloud_id;
    struct gl_buf dec;
    gl_buf_init(&dec);
    if (es_unbase64(&dec, enc, strlen(enc)) < 0 || dec.len == 0 ||
        memchr(dec.data, '\0', dec.len) != NULL) {
        gl_buf_close(&dec);
        return GL_EINVAL;
    }
    /* domain[:port]$es_uuid[:port]$kibana_uuid */
    char *domain = dec.data;
    char *uuid = strchr(domain, '$');
    if (uuid == NULL || uuid == domain || uuid[1] == '\0' || uuid[1] == '$') {
        gl_buf_close(&dec);
        return GL_EINVAL;
    }
    *uuid++ = '\0';
    char *kibana = strchr(uuid, '$');
    if (kibana != NULL) {
        *kibana = '\0';
    }
    int64_t p = split_port(domain, 443);
    p = split_port(uuid, p);
    struct gl_buf h;
    gl_buf_init(&h);
    gl_buf_printf(&h, "%s.%s", uuid, domain);
    *host = gl_buf_take(&h);
    *port = p;
    gl_buf_close(&dec);
    return 0;
}

/* ---- adaptive concurrency ---- */

void es_aimd_init(struct es_aimd *a, unsigned max)
{
    a->max = max > 0 ? max : 1;
    a->limit = a->max;
    a->inflight = 0;
}

bool es_aimd_can_send(const struct es_aimd *a)
{
    return a->inflight < a->limit;
}

void es_aimd_rejected(struct es_aimd *a)
{
    a->limit = a->limit / 2 > 0 ? a->limit / 2 : 1;
}

void es_aimd_success(struct es_aimd *a)
{
    if (a->limit < a->max) {
        a->limit++;
    }
}

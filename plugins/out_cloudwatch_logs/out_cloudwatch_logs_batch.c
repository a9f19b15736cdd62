/*
 * The rules of PutLogEvents, as pure functions the queue and the tests call:
 * fitting one event (valid UTF-8, at most 256 KiB - 26 bytes, a marker when
 * cut), which events are too old or too new, how a stream's sorted events
 * are cut into batches (10,000 events, 1,048,576 bytes counting 26 per
 * event, a span under 24 h), the request bodies, reading an answer into a
 * verdict, and the adaptive concurrency arithmetic. Invariant: a batch
 * cut here is always accepted by the service's size, count and span rules.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "out_cloudwatch_logs.h"
#include "util/error.h"

/* ---- events ---- */

size_t cwl_utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t min;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    uint32_t cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

void cwl_utf8_append(struct gl_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t run = 0;
    while (i < len) {
        size_t n = cwl_utf8_seq(p + i, len - i);
        if (n > 0) {
            i += n;
            continue;
        }
        gl_buf_append(b, s + run, i - run);
        gl_buf_append(b, "\xef\xbf\xbd", 3);
        i++;
        run = i;
    }
    gl_buf_append(b, s + run, len - run);
}

size_t cwl_event_fit(char *msg, size_t len)
{
    if (len <= CWL_EVENT_BYTES_MAX) {
        return len;
    }
    size_t marker = sizeof(CWL_TRUNCATED_MARKER) - 1;
    size_t cut = CWL_EVENT_BYTES_MAX - marker;
    /* Back up over continuation bytes so no character is split. */
    while (cut > 0 && ((unsigned char)msg[cut] & 0xc0) == 0x80) {
        cut--;
    }
    memcpy(msg + cut, CWL_TRUNCATED_MARKER, marker);
    return cut + marker;
}

const char *cwl_event_age_check(int64_t ts_ms, int64_t now_ms, int64_t max_age_ms)
{
    if (ts_ms < now_ms - max_age_ms) {
        return "too_old";
    }
    if (ts_ms > now_ms + CWL_MAX_FUTURE_MS) {
        return "too_new";
    }
    return NULL;
}

static int compare_events(const void *pa, const void *pb)
{
    const struct cwl_event *a = pa;
    const struct cwl_event *b = pb;
    if (a->st != b->st) {
        uint64_t sa = a->st ? a->st->seq : 0;
        uint64_t sb = b->st ? b->st->seq : 0;
        return sa < sb ? -1 : 1;
    }
    if (a->ts_ms != b->ts_ms) {
        return a->ts_ms < b->ts_ms ? -1 : 1;
    }
    return a->order < b->order ? -1 : a->order > b->order;
}

void cwl_events_sort(struct cwl_event *ev, size_t n)
{
    if (n < 2) {
        return;
    }
    qsort(ev, n, sizeof(*ev), compare_events);
}

size_t cwl_batch_take(const struct cwl_event *ev, size_t n, size_t *bytes)
{
    size_t total = 0;
    size_t i = 0;
    for (; i < n && i < CWL_BATCH_EVENTS_MAX; i++) {
        size_t size = (size_t)ev[i].len + CWL_EVENT_OVERHEAD;
        if (i > 0 && (total + size > CWL_BATCH_BYTES_MAX ||
                      ev[i].ts_ms - ev[0].ts_ms >= CWL_BATCH_SPAN_MS)) {
            break;
        }
        total += size;
    }
    *bytes = total;
    return i;
}

/* ---- requests ---- */

const char *cwl_action_target(enum cwl_action a)
{
    static const char *const targets[CWL_ACTIONS] = {
        [CWL_PUT_LOG_EVENTS] = "Logs_20140328.PutLogEvents",
        [CWL_CREATE_LOG_GROUP] = "Logs_20140328.CreateLogGroup",
        [CWL_CREATE_LOG_STREAM] = "Logs_20140328.CreateLogStream",
        [CWL_PUT_RETENTION_POLICY] = "Logs_20140328.PutRetentionPolicy",
    };
    return targets[a];
}

static void put_key(struct gl_buf *out, const char *key, const char *value)
{
    gl_json_write_str(out, key, strlen(key));
    gl_buf_putc(out, ':');
    gl_json_write_str(out, value, strlen(value));
}

/*
 * {"logGroupName":..,"logStreamName":..,"logEvents":[{"timestamp":..,"message":..},..]}
 * made in pieces: the head, then per event its opening (with the time), its
 * message copied from the arena and its close, then the tail. Nothing but
 * the head is stored: the body is produced again for hashing and sending.
 */
enum { PART_HEAD, PART_OPEN, PART_MESSAGE, PART_CLOSE, PART_TAIL, PART_END };

/* `,{"timestamp":N,"message":"` (no comma for the first event) at o; returns its length. */
static size_t put_open(char *o, bool comma, int64_t ts)
{
    static const char a[] = "{\"timestamp\":", b[] = ",\"message\":\"";
    char digits[24];
    size_t n = 0, len = 0;
    uint64_t v = ts < 0 ? (uint64_t)0 - (uint64_t)ts : (uint64_t)ts;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (comma) {
        o[len++] = ',';
    }
    memcpy(o + len, a, sizeof(a) - 1);
    len += sizeof(a) - 1;
    if (ts < 0) {
        o[len++] = '-';
    }
    while (n > 0) {
        o[len++] = digits[--n];
    }
    memcpy(o + len, b, sizeof(b) - 1);
    return len + sizeof(b) - 1;
}

/* The length put_open() writes, without writing it. */
static size_t open_len(bool comma, int64_t ts)
{
    uint64_t v = ts < 0 ? (uint64_t)0 - (uint64_t)ts : (uint64_t)ts;
    size_t digits = 1;
    while (v >= 10) {
        v /= 10;
        digits++;
    }
    return (comma ? 1 : 0) + sizeof("{\"timestamp\":") - 1 + (ts < 0 ? 1 : 0) + digits +
           sizeof(",\"message\":\"") - 1;
}

static void body_start(struct cwl_body *b)
{
    b->pos = 0;
    b->i = 0;
    b->part = PART_HEAD;
    b->part_off = 0;
}

void cwl_body_init(struct cwl_body *b, const char *group, const char *stream,
                   const struct cwl_event *ev, size_t n, const char *arena)
{
    gl_buf_init(&b->head);
    gl_buf_putc(&b->head, '{');
    put_key(&b->head, "logGroupName", group);
    gl_buf_putc(&b->head, ',');
    put_key(&b->head, "logStreamName", stream);
    gl_buf_puts(&b->head, ",\"logEvents\":[");
    b->ev = ev;
    b->n = n;
    b->arena = arena;
    b->len = b->head.len + 2;
    for (size_t i = 0; i < n; i++) {
        b->len += open_len(i > 0, ev[i].ts_ms) + ev[i].qlen + 2;
    }
    body_start(b);
}

void cwl_body_close(struct cwl_body *b)
{
    gl_buf_close(&b->head);
}

/* The bytes of the part reading is in. */
static const char *part_bytes(struct cwl_body *b, size_t *len)
{
    switch (b->part) {
    case PART_HEAD:
        *len = b->head.len;
        return b->head.data;
    case PART_OPEN:
        *len = b->open_len;
        return b->open;
    case PART_MESSAGE:
        *len = b->ev[b->i].qlen;
        return b->arena + b->ev[b->i].off;
    case PART_CLOSE:
        *len = 2;
        return "\"}";
    case PART_TAIL:
        *len = 2;
        return "]}";
    default:
        *len = 0;
        return "";
    }
}

/* Moves on to the part after the one just read. */
static void next_part(struct cwl_body *b)
{
    b->part_off = 0;
    if (b->part == PART_CLOSE) {
        b->i++;
    }
    if (b->part == PART_HEAD || b->part == PART_CLOSE) {
        if (b->i < b->n) {
            b->part = PART_OPEN;
            b->open_len = put_open(b->open, b->i > 0, b->ev[b->i].ts_ms);
        } else {
            b->part = PART_TAIL;
        }
    } else {
        b->part++;
    }
}

/* Copies up to cap bytes from where reading is; returns how many. */
static size_t body_copy(struct cwl_body *b, char *out, size_t cap)
{
    size_t done = 0;
    while (done < cap && b->part != PART_END) {
        size_t len;
        const char *p = part_bytes(b, &len);
        size_t k = len - b->part_off < cap - done ? len - b->part_off : cap - done;
        memcpy(out + done, p + b->part_off, k);
        done += k;
        b->part_off += k;
        if (b->part_off == len) {
            next_part(b);
        }
    }
    b->pos += done;
    return done;
}

void cwl_body_pieces(struct cwl_body *b, void (*fn)(void *ctx, const char *p, size_t len),
                     void *ctx)
{
    body_start(b);
    while (b->part != PART_END) {
        size_t len;
        const char *p = part_bytes(b, &len);
        if (len > 0) {
            fn(ctx, p, len);
        }
        next_part(b);
    }
    body_start(b);
}

size_t cwl_body_read(struct cwl_body *b, size_t offset, char *out, size_t cap)
{
    if (offset != b->pos) {
        /* Sent again from an earlier point (libcurl rewinds to 0): start over, skip ahead. */
        char skip[4096];
        if (offset < b->pos) {
            body_start(b);
        }
        while (b->pos < offset) {
            size_t want = offset - b->pos < sizeof(skip) ? offset - b->pos : sizeof(skip);
            if (body_copy(b, skip, want) == 0) {
                return 0;
            }
        }
    }
    return body_copy(b, out, cap);
}

/* "tags":{"k":"v",...} from "k=v" items (checked at init to hold a '='). */
static void put_tags(struct gl_buf *out, const struct gl_strlist *tags)
{
    gl_buf_puts(out, ",\"tags\":{");
    for (size_t i = 0; i < tags->count; i++) {
        const char *item = tags->items[i];
        const char *eq = strchr(item, '=');
        size_t klen = eq ? (size_t)(eq - item) : strlen(item);
        gl_buf_puts(out, i ? "," : "");
        gl_json_write_str(out, item, klen);
        gl_buf_putc(out, ':');
        gl_json_write_str(out, eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0);
    }
    gl_buf_putc(out, '}');
}

void cwl_body_create(struct gl_buf *out, enum cwl_action a, const char *group,
                     const char *stream, const char *group_class, int64_t retention_days,
                     const struct gl_strlist *tags)
{
    gl_buf_putc(out, '{');
    put_key(out, "logGroupName", group);
    if (a == CWL_CREATE_LOG_STREAM) {
        gl_buf_putc(out, ',');
        put_key(out, "logStreamName", stream);
    } else if (a == CWL_CREATE_LOG_GROUP) {
        if (group_class != NULL) {
            gl_buf_putc(out, ',');
            put_key(out, "logGroupClass", group_class);
        }
        if (tags != NULL && tags->count > 0) {
            put_tags(out, tags);
        }
    } else if (a == CWL_PUT_RETENTION_POLICY) {
        gl_buf_printf(out, ",\"retentionInDays\":%lld", (long long)retention_days);
    }
    gl_buf_putc(out, '}');
}

/* ---- responses ---- */

static const struct {
    const char *type;
    enum cwl_error error;
} error_types[] = {
    { "ThrottlingException", CWL_E_THROTTLING },
    { "ServiceUnavailableException", CWL_E_UNAVAILABLE },
    { "ResourceNotFoundException", CWL_E_NOT_FOUND },
    { "InvalidParameterException", CWL_E_INVALID_PARAMETER },
    { "DataAlreadyAcceptedException", CWL_E_ALREADY_ACCEPTED },
    { "ResourceAlreadyExistsException", CWL_E_ALREADY_EXISTS },
    { "ExpiredTokenException", CWL_E_AUTH },
    { "UnrecognizedClientException", CWL_E_AUTH },
    { "InvalidSequenceTokenException", CWL_E_RETRYABLE },
    { "OperationAbortedException", CWL_E_RETRYABLE },
    { "LimitExceededException", CWL_E_RETRYABLE },
    { "InternalFailure", CWL_E_UNAVAILABLE },
};

static int64_t int_field(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = map ? gl_json_map_get(map, key) : NULL;
    if (v != NULL && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 < INT64_MAX) {
        return (int64_t)v->via.u64;
    }
    return -1;
}

/* Reads "__type" ("com.amazonaws.logs#ThrottlingException" or the bare name). */
static void read_type(const msgpack_object *type, struct cwl_reply *r)
{
    const char *s = type->via.str.ptr;
    size_t n = type->via.str.size;
    const char *hash = memchr(s, '#', n);
    if (hash != NULL) {
        n -= (size_t)(hash + 1 - s);
        s = hash + 1;
    }
    const char *colon = memchr(s, ':', n);
    if (colon != NULL) {
        n = (size_t)(colon - s);
    }
    if (n >= sizeof(r->type)) {
        n = sizeof(r->type) - 1;
    }
    memcpy(r->type, s, n);
    r->type[n] = '\0';
    r->error = CWL_E_OTHER;
    for (size_t i = 0; i < sizeof(error_types) / sizeof(error_types[0]); i++) {
        if (strcmp(r->type, error_types[i].type) == 0) {
            r->error = error_types[i].error;
        }
    }
}

void cwl_reply_parse(const char *body, size_t len, struct cwl_reply *r)
{
    struct gl_json_doc doc;
    memset(r, 0, sizeof(*r));
    r->too_new_start = r->too_old_end = r->expired_end = -1;
    if (len == 0 || gl_json_doc_parse(&doc, body, len, NULL) < 0) {
        if (len > 0) {
            gl_json_doc_free(&doc);
        }
        return;
    }
    if (doc.root.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *type = gl_json_map_get(&doc.root, "__type");
        if (type != NULL && type->type == MSGPACK_OBJECT_STR) {
            read_type(type, r);
        }
        const msgpack_object *rej = gl_json_map_get(&doc.root, "rejectedLogEventsInfo");
        if (rej != NULL && rej->type == MSGPACK_OBJECT_MAP) {
            r->too_new_start = int_field(rej, "tooNewLogEventStartIndex");
            r->too_old_end = int_field(rej, "tooOldLogEventEndIndex");
            r->expired_end = int_field(rej, "expiredLogEventEndIndex");
        }
    }
    gl_json_doc_free(&doc);
}

/*
 * 2xx is success; a typed error decides the rest; without a type, transport
 * errors and 408/429/5xx are retried and other statuses dropped.
 */
enum cwl_verdict cwl_verdict(long status, const char *err, const struct cwl_reply *r)
{
    if (err != NULL) {
        return CWL_V_RETRY;
    }
    if (status >= 200 && status < 300) {
        return CWL_V_OK;
    }
    switch (r->error) {
    case CWL_E_THROTTLING:
        return CWL_V_THROTTLED;
    case CWL_E_UNAVAILABLE:
    case CWL_E_RETRYABLE:
        return CWL_V_RETRY;
    case CWL_E_NOT_FOUND:
        return CWL_V_NOT_FOUND;
    case CWL_E_INVALID_PARAMETER:
        return CWL_V_BISECT;
    case CWL_E_ALREADY_ACCEPTED:
        return CWL_V_OK;
    case CWL_E_ALREADY_EXISTS:
        return CWL_V_EXISTS;
    case CWL_E_AUTH:
        return CWL_V_REAUTH;
    default:
        break;
    }
    return status == 0 || status == 408 || status == 429 || status >= 500 ? CWL_V_RETRY
                                                                          : CWL_V_DROP;
}

const char *cwl_rejected_reason(const struct cwl_reply *r, size_t i)
{
    if (r->too_new_start >= 0 && (int64_t)i >= r->too_new_start) {
        return "too_new";
    }
    if ((int64_t)i < r->too_old_end) {
        return "too_old";
    }
    if ((int64_t)i < r->expired_end) {
        return "expired";
    }
    return NULL;
}

/* ---- adaptive concurrency ---- */

void cwl_aimd_init(struct cwl_aimd *a, unsigned max)
{
    a->max = max > 0 ? max : 1;
    a->limit = a->max;
    a->inflight = 0;
}

bool cwl_aimd_can_send(const struct cwl_aimd *a)
{
    return a->inflight < a->limit;
}

void cwl_aimd_throttled(struct cwl_aimd *a)
{
    a->limit = a->limit / 2 > 0 ? a->limit / 2 : 1;
}

void cwl_aimd_success(struct cwl_aimd *a)
{
    if (a->limit < a->max) {
        a->limit++;
    }
}

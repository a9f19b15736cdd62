/*
 * The JSON reader and writer of the agent.
 *
 * The reader turns strict RFC 8259 text into msgpack in two linear passes.
 * The first validates and records each container's member count in opening
 * order, because msgpack writes a count before the members; the second packs,
 * trusting the first. Neither allocates per value: the counts live in an
 * array on the stack that spills to the heap only for large documents, and
 * strings are packed straight from the text unless they hold escapes or
 * invalid UTF-8.
 *
 * The writer turns msgpack objects into JSON text, escaping as it goes.
 * Invariant: every string either side produces is valid UTF-8 (invalid
 * sequences become U+FFFD), so writer output always reads back as JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "codec/json.h"
#include "codec/shared.h"
#include "util/error.h"
#include "util/mem.h"

#define LOCAL_COUNTS 64
#define LOCAL_STRING 512

static const char replacement[3] = { '\xEF', '\xBF', '\xBD' };

/* ---- UTF-8 ---- */

/*
 * Measures the UTF-8 sequence at p, of which n >= 1 bytes are available.
 * Returns its length (1-4) when it is valid, or minus the length of its
 * maximal invalid subpart (the lead byte and the continuation bytes that
 * were still acceptable), which the caller replaces with one U+FFFD as
 * Unicode recommends. Overlongs, surrogates and values past U+10FFFF fail
 * on their first or second byte.
 */
static int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF, need;
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return -1;
    }
    for (unsigned i = 1; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            return -(int)i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return (int)need + 1;
}

/* Encodes code point cp (at most U+10FFFF, not a surrogate) at o; returns the end. */
static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* ---- reader: shared state ---- */

struct reader {
    const char *p;
    const char *end;
    int max_depth;
    uint32_t *counts; /* member counts of containers, in opening order */
    size_t ncounts;
    size_t cap;
    size_t next;      /* second pass: the next count to use */
    const char *what; /* first pass: the error, NULL while there is none */
    msgpack_packer *pk;
    int pack_rc;      /* ORed results of the packer: non-zero once a write failed */
    struct gl_buf scratch;
    uint32_t local[LOCAL_COUNTS];
};

static bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

static bool is_hex(char c)
{
    return is_digit(c) || (unsigned char)((c | 0x20) - 'a') < 6;
}

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) {
        r->p++;
    }
}

/* ---- reader: first pass, validation and counts ---- */

/* Records the first-pass error at offset at; returns -1 for the callers to pass up. */
static int fail(struct reader *r, const char *at, const char *what)
{
    r->p = at;
    r->what = what;
    return -1;
}

/* Reserves the next container's slot in the counts array; returns its index. */
static size_t push_count(struct reader *r)
{
    if (r->ncounts == r->cap) {
        size_t cap = r->cap * 2;
        if (r->counts == r->local) {
            r->counts = gl_malloc(cap * sizeof(*r->counts));
            memcpy(r->counts, r->local, sizeof(r->local));
        } else {
            r->counts = gl_realloc(r->counts, cap * sizeof(*r->counts));
        }
        r->cap = cap;
    }
    return r->ncounts++;
}

/* Checks one escape at p (the backslash); returns the byte after it, or NULL with the error set. */
static const char *scan_escape(struct reader *r, const char *p)
{
    if (p + 1 >= r->end) {
        fail(r, r->end, "unterminated string");
        return NULL;
    }
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 2;
    case 'u':
        for (int i = 2; i < 6; i++) {
            if (p + i >= r->end) {
                fail(r, r->end, "unterminated string");
                return NULL;
            }
            if (!is_hex(p[i])) {
                fail(r, p + i, "invalid \\u escape");
                return NULL;
            }
        }
        return p + 6;
    default:
        fail(r, p + 1, "invalid escape");
        return NULL;
    }
}

/* Checks a string starting at its opening quote. Bytes >= 0x80 pass: the packer repairs them. */
static int scan_string(struct reader *r)
{
    const char *p = r->p + 1;
    while (p < r->end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            r->p = p + 1;
            return 0;
        }
        if (c == '\\') {
            p = scan_escape(r, p);
            if (p == NULL) {
                return -1;
            }
            continue;
        }
        if (c < 0x20) {
            return fail(r, p, "control character in string");
        }
        p++;
    }
    return fail(r, r->end, "unterminated string");
}

static const char *scan_digits(const char *p, const char *end)
{
    while (p < end && is_digit(*p)) {
        p++;
    }
    return p;
}

/* Checks a number against the RFC grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(struct reader *r)
{
    const char *p = r->p, *end = r->end;
    if (*p == '-') {
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        return fail(r, p, "invalid number");
    }
    if (*p == '0' && p + 1 < end && is_digit(p[1])) {
        return fail(r, p + 1, "leading zero in number");
    }
    p = scan_digits(p, end);
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            return fail(r, p, "invalid number");
        }
        p = scan_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            return fail(r, p, "invalid number");
        }
        p = scan_digits(p, end);
    }
    r->p = p;
    return 0;
}

static int scan_literal(struct reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) {
        return fail(r, r->p, "invalid literal");
    }
    r->p += n;
    return 0;
}

static int scan_value(struct reader *r, int depth);

/*
 * After a member: skips whitespace and reads ',' or the closing byte. Returns
 * 1 at the close, 0 after a comma (with the next member ahead), -1 on error.
 */
static int scan_separator(struct reader *r, char close, const char *expected)
{
    skip_ws(r);
    if (r->p >= r->end) {
        return fail(r, r->end, "unexpected end of input");
    }
    if (*r->p == close) {
        r->p++;
        return 1;
    }
    if (*r->p != ',') {
        return fail(r, r->p, expected);
    }
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        return fail(r, r->p, "trailing comma");
    }
    return 0;
}

/* Checks an array at its '['; depth counts the containers around it. */
static int scan_array(struct reader *r, int depth)
{
    if (depth >= r->max_depth) {
        return fail(r, r->p, "nesting too deep");
    }
    size_t idx = push_count(r);
    uint32_t n = 0;
    r->p++;
    skip_ws(r);
    int sep = r->p < r->end && *r->p == ']';
    if (sep) {
        r->p++;
    }
    while (!sep) {
        if (scan_value(r, depth + 1) < 0) {
            return -1;
        }
        if (++n == UINT32_MAX) {
            return fail(r, r->p, "too many members");
        }
        sep = scan_separator(r, ']', "expected ',' or ']'");
        if (sep < 0) {
            return -1;
        }
    }
    r->counts[idx] = n;
    return 0;
}

/* Checks one "key": value member of an object, from its key. */
static int scan_member(struct reader *r, int depth)
{
    if (r->p >= r->end) {
        return fail(r, r->end, "unexpected end of input");
    }
    if (*r->p != '"') {
        return fail(r, r->p, "expected string key");
    }
    if (scan_string(r) < 0) {
        return -1;
    }
    skip_ws(r);
    if (r->p >= r->end) {
        return fail(r, r->end, "unexpected end of input");
    }
    if (*r->p != ':') {
        return fail(r, r->p, "expected ':'");
    }
    r->p++;
    return scan_value(r, depth + 1);
}

/* Checks an object at its '{'; depth counts the containers around it. */
static int scan_object(struct reader *r, int depth)
{
    if (depth >= r->max_depth) {
        return fail(r, r->p, "nesting too deep");
    }
    size_t idx = push_count(r);
    uint32_t n = 0;
    r->p++;
    skip_ws(r);
    int sep = r->p < r->end && *r->p == '}';
    if (sep) {
        r->p++;
    }
    while (!sep) {
        if (scan_member(r, depth) < 0) {
            return -1;
        }
        if (++n == UINT32_MAX) {
            return fail(r, r->p, "too many members");
        }
        sep = scan_separator(r, '}', "expected ',' or '}'");
        if (sep < 0) {
            return -1;
        }
    }
    r->counts[idx] = n;
    return 0;
}

/* Checks the value after any whitespace at r->p, leaving r->p after it. */
static int scan_value(struct reader *r, int depth)
{
    skip_ws(r);
    if (r->p >= r->end) {
        return fail(r, r->end, "unexpected end of input");
    }
    switch (*r->p) {
    case '{':
        return scan_object(r, depth);
    case '[':
        return scan_array(r, depth);
    case '"':
        return scan_string(r);
    case 't':
        return scan_literal(r, "true", 4);
    case 'f':
        return scan_literal(r, "false", 5);
    case 'n':
        return scan_literal(r, "null", 4);
    default:
        if (*r->p == '-' || is_digit(*r->p)) {
            return scan_number(r);
        }
        return fail(r, r->p, "unexpected character");
    }
}

/* ---- reader: second pass, packing (the text is known to be valid) ---- */

static uint32_t hex4(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)p[i];
        v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/*
 * Decodes the escape at p (the backslash) to o; returns the byte after it.
 * A high surrogate followed by a low one makes one code point; any other
 * surrogate becomes U+FFFD. *o advances past what was written.
 */
static const char *decode_escape(const char *p, char **o)
{
    /* Pairs of an escape letter and the byte it stands for. */
    static const char plain[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    if (p[1] != 'u') {
        *(*o)++ = strchr(plain, p[1])[1];
        return p + 2;
    }
    uint32_t cp = hex4(p + 2);
    p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF && p[0] == '\\' && p[1] == 'u') {
        uint32_t low = hex4(p + 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
            *o = put_utf8(*o, 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00));
            return p + 6;
        }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        memcpy(*o, replacement, 3);
        *o += 3;
        return p;
    }
    *o = put_utf8(*o, cp);
    return p;
}

/* Decodes the string body [p, end) to out, which holds at least 3 * (end - p) bytes. */
static size_t decode_string(const char *p, const char *end, char *out)
{
    char *o = out;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '\\') {
            p = decode_escape(p, &o);
        } else if (c < 0x80) {
            *o++ = (char)c;
            p++;
        } else {
            int n = utf8_seq((const unsigned char *)p, (size_t)(end - p));
            if (n > 0) {
                memcpy(o, p, (size_t)n);
                o += n;
                p += n;
            } else {
                memcpy(o, replacement, 3);
                o += 3;
                p -= n;
            }
        }
    }
    return (size_t)(o - out);
}

/* Packs a string that needs decoding; body starts the body, from is where trouble starts. */
static void pack_decoded(struct reader *r, const char *body, const char *from)
{
    const char *end = from;
    while (*end != '"') {
        end += *end == '\\' ? 2 : 1;
    }
    char local[LOCAL_STRING];
    char *out = local;
    size_t need = 3 * (size_t)(end - body);
    if (need > sizeof(local)) {
        gl_buf_reset(&r->scratch);
        gl_buf_reserve(&r->scratch, need);
        out = r->scratch.data;
    }
    size_t n = decode_string(body, end, out);
    r->pack_rc |= msgpack_pack_str(r->pk, n);
    r->pack_rc |= msgpack_pack_str_body(r->pk, out, n);
    r->p = end + 1;
}

/* Packs the string at r->p (its opening quote): straight from the text when it is clean. */
static void pack_string(struct reader *r)
{
    const char *body = r->p + 1, *p = body;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            pack_decoded(r, body, p);
            return;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        int n = utf8_seq((const unsigned char *)p, (size_t)(r->end - p));
        if (n < 0) {
            pack_decoded(r, body, p);
            return;
        }
        p += n;
    }
    r->pack_rc |= msgpack_pack_str(r->pk, (size_t)(p - body));
    r->pack_rc |= msgpack_pack_str_body(r->pk, body, (size_t)(p - body));
    r->p = p + 1;
}

/* Packs a number that is not a 64-bit integer as float64. */
static void pack_float(struct reader *r, const char *start, size_t len)
{
    char local[64];
    char *text = len < sizeof(local) ? local : gl_malloc(len + 1);
    memcpy(text, start, len);
    text[len] = '\0';
    r->pack_rc |= msgpack_pack_double(r->pk, strtod(text, NULL));
    if (text != local) {
        gl_free(text);
    }
}

/* Packs the number at r->p: int/uint when it is an integer that fits, float64 otherwise. */
static void pack_number(struct reader *r)
{
    const char *start = r->p, *p = start;
    bool neg = *p == '-', integral = true;
    uint64_t mag = 0;
    p += neg;
    for (; p < r->end && is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (mag > (UINT64_MAX - d) / 10) {
            integral = false;
        }
        mag = mag * 10 + d;
    }
    for (; p < r->end && (is_digit(*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' ||
                          *p == '-'); p++) {
        integral = false;
    }
    r->p = p;
    if (integral && !neg) {
        r->pack_rc |= msgpack_pack_uint64(r->pk, mag);
    } else if (integral && mag <= (uint64_t)INT64_MAX) {
        r->pack_rc |= msgpack_pack_int64(r->pk, -(int64_t)mag);
    } else if (integral && mag == (uint64_t)INT64_MAX + 1) {
        r->pack_rc |= msgpack_pack_int64(r->pk, INT64_MIN);
    } else {
        pack_float(r, start, (size_t)(p - start));
    }
}

static void pack_value(struct reader *r);

/* Packs the array or object at r->p with the member count the first pass recorded. */
static void pack_container(struct reader *r, bool object)
{
    uint32_t n = r->counts[r->next++];
    r->pack_rc |= object ? msgpack_pack_map(r->pk, n) : msgpack_pack_array(r->pk, n);
    r->p++;
    for (uint32_t i = 0; i < n; i++) {
        if (object) {
            skip_ws(r);
            pack_string(r);
            skip_ws(r);
            r->p++; /* ':' */
        }
        pack_value(r);
        skip_ws(r);
        r->p++; /* ',' or the close */
    }
    if (n == 0) {
        skip_ws(r);
        r->p++;
    }
}

/* Packs the value after any whitespace at r->p, leaving r->p after it. */
static void pack_value(struct reader *r)
{
    skip_ws(r);
    switch (*r->p) {
    case '{':
    case '[':
        pack_container(r, *r->p == '{');
        break;
    case '"':
        pack_string(r);
        break;
    case 't':
        r->pack_rc |= msgpack_pack_true(r->pk);
        r->p += 4;
        break;
    case 'f':
        r->pack_rc |= msgpack_pack_false(r->pk);
        r->p += 5;
        break;
    case 'n':
        r->pack_rc |= msgpack_pack_nil(r->pk);
        r->p += 4;
        break;
    default:
        pack_number(r);
        break;
    }
}

/* ---- reader: entry points ---- */

/*
 * Validates the whole text first, so nothing is packed for invalid input,
 * then packs. A packer whose write callback fails makes the read return
 * GL_ENOMEM ("output refused bytes").
 */
int gl_json_read(const char *text, size_t len, msgpack_packer *pk, int max_depth,
                 struct gl_json_error *err)
{
    struct reader r = { 0 };
    text = text != NULL ? text : "";
    r.p = text;
    r.end = text + len;
    r.max_depth = max_depth > 0 ? max_depth : GL_JSON_MAX_DEPTH;
    r.counts = r.local;
    r.cap = LOCAL_COUNTS;
    r.pk = pk;
    gl_buf_init(&r.scratch);

    int rc = 0;
    if (scan_value(&r, 0) == 0) {
        skip_ws(&r);
        if (r.p != r.end) {
            fail(&r, r.p, "unexpected character after value");
        }
    }
    if (r.what != NULL) {
        rc = GL_EPARSE;
    } else {
        r.p = text;
        pack_value(&r);
        if (r.pack_rc != 0) {
            rc = GL_ENOMEM;
            fail(&r, r.p, "output refused bytes");
        }
    }
    if (rc < 0 && err != NULL) {
        err->offset = (size_t)(r.p - text);
        err->what = r.what;
    }
    if (r.counts != r.local) {
        gl_free(r.counts);
    }
    gl_buf_close(&r.scratch);
    return rc;
}

/*
 * Reads with the depth msgpack-c's unpacker can hold, so that every document
 * read also unpacks, then unpacks the root.
 */
int gl_json_doc_parse(struct gl_json_doc *doc, const char *text, size_t len,
                      struct gl_json_error *err)
{
    msgpack_sbuffer_init(&doc->sbuf);
    msgpack_unpacked_init(&doc->unpacked);
    memset(&doc->root, 0, sizeof(doc->root));
    msgpack_packer pk;
    msgpack_packer_init(&pk, &doc->sbuf, msgpack_sbuffer_write);
    int rc = gl_json_read(text, len, &pk, GL_JSON_MAX_DEPTH, err);
    if (rc < 0) {
        return rc;
    }
    size_t off = 0;
    if (msgpack_unpack_next(&doc->unpacked, doc->sbuf.data, doc->sbuf.size, &off) !=
        MSGPACK_UNPACK_SUCCESS) {
        if (err != NULL) {
            err->offset = 0;
            err->what = "packed document does not unpack";
        }
        return GL_EPARSE;
    }
    doc->root = doc->unpacked.data;
    return 0;
}

void gl_json_doc_free(struct gl_json_doc *doc)
{
    msgpack_unpacked_destroy(&doc->unpacked);
    msgpack_sbuffer_destroy(&doc->sbuf);
}

const msgpack_object *gl_json_map_get(const msgpack_object *map, const char *key)
{
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        const char *p;
        size_t n;
        if (kv->key.type == MSGPACK_OBJECT_STR) {
            p = kv->key.via.str.ptr;
            n = kv->key.via.str.size;
        } else if (kv->key.type == MSGPACK_OBJECT_BIN) {
            p = kv->key.via.bin.ptr;
            n = kv->key.via.bin.size;
        } else {
            continue;
        }
        if (n == klen && (n == 0 || memcmp(p, key, n) == 0)) {
            return &kv->val;
        }
    }
    return NULL;
}

/* ---- writer ---- */

/*
 * The escapes of the bytes that have one (control characters, '"' and '\\'),
 * once and twice: twice is the escape escaped again, as it is inside a JSON
 * string that itself holds JSON text (\" becomes \\\", \n becomes \\n).
 * Made once at start; each is written with one 8-byte copy.
 */
struct escape {
    char text[8];
    uint8_t len;
};
static struct escape escapes[2][0x60];

__attribute__((constructor)) static void make_escapes(void)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned c = 0; c < 0x60; c++) {
        char once[8];
        size_t n = 0;
        once[n++] = '\\';
        switch (c) {
        case '\n': once[n++] = 'n'; break;
        case '\r': once[n++] = 'r'; break;
        case '\t': once[n++] = 't'; break;
        case '\b': once[n++] = 'b'; break;
        case '\f': once[n++] = 'f'; break;
        case '"': case '\\': once[n++] = (char)c; break;
        default:
            memcpy(once + n, "u00", 3);
            once[n + 3] = hex[c >> 4];
            once[n + 4] = hex[c & 15];
            n += 5;
            break;
        }
        memcpy(escapes[0][c].text, once, n);
        escapes[0][c].len = (uint8_t)n;
        /* Escaped again: its backslash doubles, and a quote or backslash after it too. */
        size_t m = 0;
        escapes[1][c].text[m++] = '\\';
        escapes[1][c].text[m++] = '\\';
        if (c == '"' || c == '\\') {
            escapes[1][c].text[m++] = '\\';
        }
        memcpy(escapes[1][c].text + m, once + 1, n - 1);
        escapes[1][c].len = (uint8_t)(m + n - 1);
    }
}

/*
 * Writes the escape of c (a control character, '"' or '\\') at o, which has
 * room for 8 bytes; returns the end. *extra counts the bytes the second
 * escaping adds.
 */
static inline char *put_escape(char *o, unsigned char c, bool twice, size_t *extra)
{
    const struct escape *e = &escapes[twice][c];
    memcpy(o, e->text, 8);
    *extra += (size_t)(e->len - escapes[0][c].len);
    return o + e->len;
}

static inline bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

/*
 * The bytes of a block at p that need attention in a string: control
 * characters, quotes, backslashes and non-ASCII bytes. Strings are mostly
 * runs of none (log lines), so they are checked a block at a time: 16 bytes
 * with SSE2 (bit i for byte i; a signed compare below 0x20 takes control
 * characters and non-ASCII bytes at once), else 8 in a word (the high bit of
 * each byte; only the lowest flagged byte is exact, as a borrow may flag the
 * bytes above it, and it is the one the caller wants).
 */
#ifdef __SSE2__
#define SCAN_WIDTH 16
#define SCAN_EXACT 1
typedef uint32_t scan_bits;

static inline scan_bits special_bits(const unsigned char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
                             _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    return (scan_bits)_mm_movemask_epi8(m);
}

/* The first flagged byte of bits (not 0). */
static inline size_t first_special(scan_bits bits)
{
    return (size_t)__builtin_ctz(bits);
}
#else
#define SCAN_WIDTH 8
#define SCAN_EXACT 0
typedef uint64_t scan_bits;

static inline scan_bits special_bits(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
    uint64_t below_space = (x - ones * 0x20) & ~x;     /* a byte < 0x20 */
    uint64_t is_quote = (quote - ones) & ~quote;       /* a zero byte after the xor */
    uint64_t is_bslash = (bslash - ones) & ~bslash;
    return (below_space | is_quote | is_bslash | x) & highs;
}

static inline size_t first_special(scan_bits bits)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(bits) >> 3;
#else
    (void)bits;
    return 0; /* the caller's byte loop finds it */
#endif
}
#endif

/* An input segment: its output (at most 6 bytes per input byte) is reserved at once. */
#define STR_SEGMENT 4096

/*
 * Escapes s[0, n) at o; returns the end. Each maximal invalid UTF-8
 * subpart becomes U+FFFD; a sequence cut by the segment's end is finished
 * from the bytes after it (up to `more` of them). Twice: escaped twice
 * (see put_escape), *extra counting what that adds; *fixed counts the bytes
 * the U+FFFD replacements add to the text.
 */
static char *put_escaped(char *o, const unsigned char *p, size_t n, size_t more,
                         const unsigned char **next, bool twice, size_t *extra, long *fixed)
{
    const unsigned char *end = p + n;
    while (p < end) {
        /*
         * The run of bytes that go out as they are: each block is copied as
         * it is checked (the output has room for 6 bytes per input byte),
         * then the end moves back to the first byte that needs attention.
         */
        while (end - p >= SCAN_WIDTH) {
            scan_bits m = special_bits(p);
            memcpy(o, p, SCAN_WIDTH);
            if (m == 0) {
                o += SCAN_WIDTH;
                p += SCAN_WIDTH;
                continue;
            }
            size_t k = first_special(m);
            o += k;
            p += k;
            /*
             * Quotes and backslashes, frequent in JSON logged as text, are
             * escaped here; where the bits are exact (SSE2) the block's next
             * flagged byte is found from them without another load.
             */
            while (*p == '"' || *p == '\\') {
                o = put_escape(o, *p, twice, extra);
                p++;
                m = SCAN_EXACT ? m >> (k + 1) : 0;
                if (m == 0) {
                    break;
                }
                k = first_special(m);
                memcpy(o, p, end - p >= SCAN_WIDTH ? SCAN_WIDTH : k); /* not past the input */
                o += k;
                p += k;
            }
            if (m != 0) {
                break; /* a byte for the paths below */
            }
        }
        while (p < end && plain_byte(*p)) {
            *o++ = (char)*p++;
        }
        if (p == end) {
            break;
        }
        unsigned char c = *p;
        if (c < 0x80) {
            o = put_escape(o, c, twice, extra);
            p++;
            continue;
        }
        int k = utf8_seq(p, (size_t)(end - p) + more);
        if (k > 0) {
            memcpy(o, p, (size_t)k);
            o += k;
            p += k;
        } else {
            memcpy(o, replacement, 3);
            o += 3;
            p -= k;
            *fixed += 3 + k;
        }
    }
    *next = p;
    return o;
}

/*
 * The escaped content of a string, without its quotes, at the end of b;
 * returns the bytes U+FFFD replacements added. Twice: see put_escape.
 */
static long put_content(struct gl_buf *b, const char *s, size_t len, bool twice, size_t *extra)
{
    long fixed = 0;
    /* An empty msgpack string may come with a NULL pointer: no arithmetic on it. */
    const unsigned char *p = (const unsigned char *)s, *end = len > 0 ? p + len : p;
    while (p < end) {
        size_t n = (size_t)(end - p) < STR_SEGMENT ? (size_t)(end - p) : STR_SEGMENT;
        gl_buf_reserve(b, n * 9 + 3 + 2);
        char *o = put_escaped(b->data + b->len, p, n, (size_t)(end - p) - n, &p, twice, extra,
                              &fixed);
        b->len = (size_t)(o - b->data);
    }
    b->data[b->len] = '\0';
    return fixed;
}

void gl_json_write_str(struct gl_buf *b, const char *s, size_t len)
{
    size_t unused = 0;
    gl_buf_putc(b, '"');
    put_content(b, s, len, false, &unused);
    gl_buf_putc(b, '"');
}

size_t gl_json_escape(struct gl_buf *b, const char *s, size_t len)
{
    size_t unused = 0;
    return (size_t)((long)len + put_content(b, s, len, false, &unused));
}

static void write_u64(struct gl_buf *b, uint64_t v, bool neg)
{
    char text[21];
    char *o = text + sizeof(text);
    do {
        *--o = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (neg) {
        *--o = '-';
    }
    gl_buf_append(b, o, (size_t)(text + sizeof(text) - o));
}

/*
 * Writes the shortest of the candidate precisions that reads back to the
 * same value (float32 values are checked as float32), with ".0" added to
 * integral values so they read back as floats. NaN and infinities are null.
 */
static void write_float(struct gl_buf *b, double d, bool single)
{
    if (!isfinite(d)) {
        gl_buf_append(b, "null", 4);
        return;
    }
    char text[40];
    int lo = single ? 6 : 15, hi = single ? 9 : 17, n = 0;
    for (int prec = lo; prec <= hi; prec++) {
        n = snprintf(text, sizeof(text), "%.*g", prec, d);
        if (single ? strtof(text, NULL) == (float)d : strtod(text, NULL) == d) {
            break;
        }
    }
    gl_buf_append(b, text, (size_t)n);
    if (strpbrk(text, ".eni") == NULL) {
        gl_buf_append(b, ".0", 2);
    }
}

void gl_json_write_double(struct gl_buf *b, double d)
{
    write_float(b, d, false);
}

/* Writes a map key: strings as they are, anything else as its JSON text inside a string. */
static void write_key(struct gl_buf *b, const msgpack_object *key)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        gl_json_write_str(b, key->via.str.ptr, key->via.str.size);
    } else if (key->type == MSGPACK_OBJECT_BIN) {
        gl_json_write_str(b, key->via.bin.ptr, key->via.bin.size);
    } else {
        struct gl_buf text;
        gl_buf_init(&text);
        gl_json_write(&text, key);
        gl_json_write_str(b, text.data, text.len);
        gl_buf_close(&text);
    }
}

/* Writes a map's pairs as "key":value,... without the braces. */
static void write_pairs(struct gl_buf *b, const msgpack_object_map *map)
{
    for (uint32_t i = 0; i < map->size; i++) {
        if (i > 0) {
            gl_buf_putc(b, ',');
        }
        write_key(b, &map->ptr[i].key);
        gl_buf_putc(b, ':');
        gl_json_write(b, &map->ptr[i].val);
    }
}

void gl_json_write(struct gl_buf *b, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        gl_buf_puts(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        write_u64(b, o->via.u64, false);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        write_u64(b, o->via.i64 < 0 ? 0 - (uint64_t)o->via.i64 : (uint64_t)o->via.i64,
                  o->via.i64 < 0);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        write_float(b, o->via.f64, o->type == MSGPACK_OBJECT_FLOAT32);
        break;
    case MSGPACK_OBJECT_STR:
        gl_json_write_str(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        gl_json_write_str(b, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        gl_buf_putc(b, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i > 0) {
                gl_buf_putc(b, ',');
            }
            gl_json_write(b, &o->via.array.ptr[i]);
        }
        gl_buf_putc(b, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        gl_buf_putc(b, '{');
        write_pairs(b, &o->via.map);
        gl_buf_putc(b, '}');
        break;
    case MSGPACK_OBJECT_EXT: {
        /* A shared value (agent/codec/shared.h): its JSON is rendered once and copied after. */
        struct gl_shared *sv = gl_shared_of(o);
        if (sv == NULL) {
            gl_buf_append(b, "null", 4);
            break;
        }
        if (sv->json.len == 0) {
            gl_json_write(&sv->json, &sv->up.data);
        }
        gl_buf_append(b, sv->json.data, sv->json.len);
        break;
    }
    default: /* nil */
        gl_buf_append(b, "null", 4);
        break;
    }
}

/* ---- JSON text inside a JSON string ---- */

/* The quoted writer: b, and the bytes its second escaping added so far. */
struct quoted {
    struct gl_buf *b;
    size_t extra;
};

static void q_quote(struct quoted *q)
{
    gl_buf_append(q->b, "\\\"", 2);
    q->extra++;
}

static void q_str(struct quoted *q, const char *s, size_t len)
{
    q_quote(q);
    put_content(q->b, s, len, true, &q->extra);
    q_quote(q);
}

static void q_value(struct quoted *q, const msgpack_object *o);

static void q_pairs(struct quoted *q, const msgpack_object_map *map)
{
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        if (i > 0) {
            gl_buf_putc(q->b, ',');
        }
        if (key->type == MSGPACK_OBJECT_STR || key->type == MSGPACK_OBJECT_BIN) {
            q_str(q, key->via.str.ptr, key->via.str.size);
        } else {
            struct gl_buf text;
            gl_buf_init(&text);
            gl_json_write(&text, key);
            q_str(q, text.data, text.len);
            gl_buf_close(&text);
        }
        gl_buf_putc(q->b, ':');
        q_value(q, &map->ptr[i].val);
    }
}

/* A shared value's quoted text, rendered once (as its plain text is) and copied after. */
static void q_shared(struct quoted *q, struct gl_shared *sv)
{
    if (sv->json_quoted.len == 0) {
        struct quoted mine = { &sv->json_quoted, 0 };
        q_value(&mine, &sv->up.data);
        sv->json_quoted_extra = mine.extra;
    }
    gl_buf_append(q->b, sv->json_quoted.data, sv->json_quoted.len);
    q->extra += sv->json_quoted_extra;
}

static void q_value(struct quoted *q, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
        q_str(q, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        gl_buf_putc(q->b, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i > 0) {
                gl_buf_putc(q->b, ',');
            }
            q_value(q, &o->via.array.ptr[i]);
        }
        gl_buf_putc(q->b, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        gl_buf_putc(q->b, '{');
        q_pairs(q, &o->via.map);
        gl_buf_putc(q->b, '}');
        break;
    case MSGPACK_OBJECT_EXT: {
        struct gl_shared *sv = gl_shared_of(o);
        if (sv != NULL) {
            q_shared(q, sv);
        } else {
            gl_buf_append(q->b, "null", 4);
        }
        break;
    }
    default:
        /* Numbers, booleans and null hold nothing that needs escaping. */
        gl_json_write(q->b, o);
        break;
    }
}

size_t gl_json_write_quoted(struct gl_buf *b, const msgpack_object *o)
{
    size_t start = b->len;
    struct quoted q = { b, 0 };
    q_value(&q, o);
    return b->len - start - q.extra;
}

/*
 * A map body keeps its pairs and gains "@timestamp" at the end unless it has
 * one; any other body becomes {"@timestamp":...,"log":body}.
 */
void gl_json_write_record(struct gl_buf *b, uint64_t ts_ns, const msgpack_object *body)
{
    char ts[32];
    size_t n = gl_json_format_time(ts, ts_ns);
    bool is_map = body != NULL && body->type == MSGPACK_OBJECT_MAP;
    gl_buf_putc(b, '{');
    if (is_map) {
        write_pairs(b, &body->via.map);
        if (gl_json_map_get(body, "@timestamp") != NULL) {
            gl_buf_putc(b, '}');
            return;
        }
        if (body->via.map.size > 0) {
            gl_buf_putc(b, ',');
        }
    }
    gl_buf_append(b, "\"@timestamp\":\"", 14);
    gl_buf_append(b, ts, n);
    gl_buf_putc(b, '"');
    if (!is_map) {
        gl_buf_append(b, ",\"log\":", 7);
        if (body != NULL) {
            gl_json_write(b, body);
        } else {
            gl_buf_append(b, "null", 4);
        }
    }
    gl_buf_putc(b, '}');
}

/* ---- time ---- */

/*
 * Writes "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" and a NUL; returns 30. The part up
 * to the seconds is cached per thread, as records come in runs of one second.
 */
size_t gl_json_format_time(char *out, uint64_t ts_ns)
{
    static _Thread_local int64_t cached_sec = -1;
    static _Thread_local char cached[64];
    int64_t sec = (int64_t)(ts_ns / 1000000000u);
    uint32_t ns = (uint32_t)(ts_ns % 1000000000u);
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_sec = sec;
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    for (int i = 28; i >= 20; i--) {
        out[i] = (char)('0' + ns % 10);
        ns /= 10;
    }
    out[29] = 'Z';
    out[30] = '\0';
    return 30;
}

/*
 * Log group and stream names for the cloudwatch_logs output. A template such
 * as `/aws/eks/prod/$kubernetes['namespace_name']` is parsed once into parts
 * (text, $TAG, $TAG[n], record accessors; ${ENV} was expanded by the config
 * loader) and rendered per record. Every rendered name is sanitised to what
 * CloudWatch accepts: groups keep [.-_/#A-Za-z0-9], streams lose ':' and
 * '*', both at most 512 bytes. Invariant: a sanitised name is valid UTF-8
 * and within CWL_NAME_MAX bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- templates ---- */

static struct cwl_part *add_part(struct cwl_template *t, enum cwl_part_kind kind)
{
    t->parts = gl_realloc(t->parts, (t->nparts + 1) * sizeof(*t->parts));
    struct cwl_part *p = &t->parts[t->nparts++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    return p;
}

static void add_text(struct cwl_template *t, const char *s, size_t len)
{
    if (len > 0) {
        struct cwl_part *p = add_part(t, CWL_PART_TEXT);
        p->text = gl_strndup(s, len);
        p->len = len;
    }
}

/* Parses `$TAG` or `$TAG[n]` at s; returns its length, 0 when s is not one. */
static size_t parse_tag(struct cwl_template *t, const char *s)
{
    if (strncmp(s, "$TAG", 4) != 0) {
        return 0;
    }
    if (s[4] == '[') {
        char *end;
        long n = strtol(s + 5, &end, 10);
        if (end != s + 5 && *end == ']' && n >= 0) {
            add_part(t, CWL_PART_TAG_INDEX)->tag_index = n;
            return (size_t)(end + 1 - s);
        }
    }
    if ((s[4] >= 'a' && s[4] <= 'z') || (s[4] >= 'A' && s[4] <= 'Z') || s[4] == '_' ||
        (s[4] >= '0' && s[4] <= '9')) {
        return 0; /* $TAGS or $TAG_x: a key named so */
    }
    add_part(t, CWL_PART_TAG);
    return 4;
}

/*
 * Splits text into parts. A '$' that starts neither $TAG nor an accessor is
 * kept as text. Returns 0, or GL_EINVAL for an accessor that does not parse.
 */
int cwl_template_parse(struct cwl_template *t, const char *text)
{
    const char *s = text;
    const char *lit = text;
    memset(t, 0, sizeof(*t));
    while (*s != '\0') {
        if (*s != '$') {
            s++;
            continue;
        }
        add_text(t, lit, (size_t)(s - lit));
        size_t n = parse_tag(t, s);
        if (n == 0 && (n = gl_accessor_span(s)) > 0) {
            struct cwl_part *p = add_part(t, CWL_PART_KEY);
            if (gl_accessor_parse(&p->key, s, n) < 0) {
                cwl_template_close(t);
                return GL_EINVAL;
            }
        }
        if (n == 0) {
            add_text(t, s, 1);
            n = 1;
        }
        s += n;
        lit = s;
    }
    add_text(t, lit, (size_t)(s - lit));
    return 0;
}

void cwl_template_close(struct cwl_template *t)
{
    for (size_t i = 0; i < t->nparts; i++) {
        gl_free(t->parts[i].text);
        gl_accessor_close(&t->parts[i].key);
    }
    gl_free(t->parts);
    t->parts = NULL;
    t->nparts = 0;
}

/* Appends part n of the tag split on '.'; false when the tag has fewer parts. */
static bool put_tag_part(const char *tag, size_t tag_len, long n, struct gl_buf *out)
{
    const char *end = tag + tag_len;
    const char *p = tag;
    for (long i = 0; i < n; i++) {
        p = memchr(p, '.', (size_t)(end - p));
        if (p == NULL) {
            return false;
        }
        p++;
    }
    const char *dot = memchr(p, '.', (size_t)(end - p));
    gl_buf_append(out, p, (size_t)((dot ? dot : end) - p));
    return true;
}

/* Appends a scalar value as text; false for maps, arrays, nil and the rest. */
static bool put_value(const msgpack_object *v, struct gl_buf *out)
{
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        gl_buf_append(out, v->via.str.ptr, v->via.str.size);
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        gl_buf_printf(out, "%" PRIu64, v->via.u64);
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        gl_buf_printf(out, "%" PRId64, v->via.i64);
        return true;
    case MSGPACK_OBJECT_BOOLEAN:
        gl_buf_puts(out, v->via.boolean ? "true" : "false");
        return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        gl_buf_printf(out, "%g", v->via.f64);
        return true;
    default:
        return false;
    }
}

int cwl_template_render(const struct cwl_template *t, const char *tag, size_t tag_len,
                        const msgpack_object *body, struct gl_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        const struct cwl_part *p = &t->parts[i];
        const msgpack_object *v;
        switch (p->kind) {
        case CWL_PART_TEXT:
            gl_buf_append(out, p->text, p->len);
            break;
        case CWL_PART_TAG:
            gl_buf_append(out, tag, tag_len);
            break;
        case CWL_PART_TAG_INDEX:
            if (!put_tag_part(tag, tag_len, p->tag_index, out)) {
                rc = GL_ENOENT;
            }
            break;
        case CWL_PART_KEY:
            v = gl_accessor_get(&p->key, body);
            if (v == NULL || !put_value(v, out)) {
                rc = GL_ENOENT;
            }
            break;
        }
    }
    return rc;
}

/* ---- sanitising ---- */

static bool group_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_' || c == '/' || c == '#';
}

/*
 * Groups: every byte outside the allowed set becomes '_' (so a multi-byte
 * character becomes several), then the name is cut to 512 bytes. Streams:
 * ':' and '*' become '_', invalid UTF-8 bytes and control characters too,
 * and the name is cut to 512 bytes on a character boundary.
 */
size_t cwl_name_sanitize(enum cwl_name_kind kind, char *name, size_t len)
{
    unsigned char *s = (unsigned char *)name;
    size_t i = 0;
    size_t keep = 0;
    while (i < len) {
        size_t n = 1;
        if (kind == CWL_GROUP) {
            if (!group_char(s[i])) {
                s[i] = '_';
            }
        } else if (s[i] < 0x80) {
            if (s[i] == ':' || s[i] == '*' || s[i] < 0x20 || s[i] == 0x7f) {
                s[i] = '_';
            }
        } else if ((n = cwl_utf8_seq(s + i, len - i)) == 0) {
            s[i] = '_';
            n = 1;
        }
        if (i + n > CWL_NAME_MAX) {
            break;
        }
        i += n;
        keep = i;
    }
    return keep;
}

/*
 * Annotation hints of the kubernetes filter: a pod tells the agent what to do
 * with its logs through annotations, pod-wide or for one container.
 *
 *   gleaner.io/exclude: "true"          drop the pod's records
 *   gleaner.io/exclude-<container>      the same for one container
 *   gleaner.io/parser: <parser name>    parse `log` with that parser
 *   gleaner.io/parser-<container>       the same for one container
 *
 * The gleaner.io hints apply unless `annotation_hints` is off; Fluent Bit's
 * fluentbit.io/exclude[-C] and fluentbit.io/parser[-C] apply when
 * k8s-logging.exclude and k8s-logging.parser are on (both off by default, as
 * in Fluent Bit). Hints are read once per container and loop turn (the
 * filter caches them with its last lookup), straight from the cache's msgpack
 * bytes: nothing is allocated.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/parser.h"
#include "filter_kubernetes.h"

/* ---- a msgpack map of strings, read in place ---- */

static uint32_t be(const unsigned char *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/*
 * Reads a str or bin header at p[*at]; on success *at is past the bytes and
 * *s, *len name them. Returns false for other types or truncated data.
 */
static bool read_str(const unsigned char *p, size_t n, size_t *at, const char **s, size_t *len)
{
    if (*at >= n) {
        return false;
    }
    unsigned char b = p[*at];
    size_t head = 1, size_bytes = 0;
    uint32_t l;
    if (b >= 0xa0 && b <= 0xbf) {
        l = b & 0x1f;
    } else if (b == 0xd9 || b == 0xc4) {
        size_bytes = 1;
    } else if (b == 0xda || b == 0xc5) {
        size_bytes = 2;
    } else if (b == 0xdb || b == 0xc6) {
        size_bytes = 4;
    } else {
        return false;
    }
    if (size_bytes > 0) {
        if (n - *at < 1 + size_bytes) {
            return false;
        }
        l = be(p + *at + 1, size_bytes);
        head += size_bytes;
    }
    if (n - *at - head < l) {
        return false;
    }
    *s = (const char *)p + *at + head;
    *len = l;
    *at += head + l;
    return true;
}

bool kube_strmap_get(const char *data, size_t n, const char *key, size_t klen, const char **val,
                     size_t *vlen)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t at = 1;
    uint32_t count;
    if (n == 0) {
        return false;
    }
    if (p[0] >= 0x80 && p[0] <= 0x8f) {
        count = p[0] & 0x0f;
    } else if (p[0] == 0xde && n >= 3) {
        count = be(p + 1, 2);
        at = 3;
    } else if (p[0] == 0xdf && n >= 5) {
        count = be(p + 1, 4);
        at = 5;
    } else {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        const char *k, *v;
        size_t kl, vl;
        if (!read_str(p, n, &at, &k, &kl) || !read_str(p, n, &at, &v, &vl)) {
            return false;
        }
        if (kl == klen && memcmp(k, key, klen) == 0) {
            *val = v;
            *vlen = vl;
            return true;
        }
    }
    return false;
}

/* ---- hints ---- */

/*
 * Looks up <prefix><what>-<container>, then <prefix><what>; returns the value
 * of the first present.
 */
static bool lookup(const msgpack_sbuffer *a, const char *prefix, const char *what,
                   const char *container, size_t container_len, const char **val, size_t *vlen)
{
    char key[64 + KUBE_NAME_MAX];
    int n = snprintf(key, sizeof(key), "%s%s", prefix, what);
    if (container != NULL && container_len <= KUBE_NAME_MAX) {
        key[n] = '-';
        memcpy(key + n + 1, container, container_len);
        if (kube_strmap_get(a->data, a->size, key, (size_t)n + 1 + container_len, val, vlen)) {
            return true;
        }
    }
    return kube_strmap_get(a->data, a->size, key, (size_t)n, val, vlen);
}

static bool is_true(const char *v, size_t len)
{
    return len == 4 && strncasecmp(v, "true", 4) == 0;
}

/* Finds the parser named by a hint; NULL (logged) when no parser has that name. */
static const struct gl_parser *hint_parser(struct kube *k, const char *name, size_t len)
{
    char buf[128];
    if (len >= sizeof(buf)) {
        gl_log_warn(k->ins, "parser hint of %zu bytes is too long to be a parser name", len);
        return NULL;
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    const struct gl_parser *p = gl_parser_get(buf);
    if (p == NULL) {
        gl_log_warn(k->ins, "annotation names parser '%s', which is not defined; ignored", buf);
    }
    return p;
}

void kube_hints_read(struct kube *k, const msgpack_sbuffer *annotations, const char *container,
                     size_t container_len, struct kube_hints *out)
{
    const char *v;
    size_t vl;
    out->exclude = false;
    out->parser = NULL;
    if (annotations == NULL || annotations->size == 0) {
        return;
    }
    if (k->hints_on &&
        lookup(annotations, "gleaner.io/", "exclude", container, container_len, &v, &vl)) {
        out->exclude = is_true(v, vl);
    } else if (k->fb_exclude &&
               lookup(annotations, "fluentbit.io/", "exclude", container, container_len, &v,
                      &vl)) {
        out->exclude = is_true(v, vl);
    }
    if (k->hints_on &&
        lookup(annotations, "gleaner.io/", "parser", container, container_len, &v, &vl)) {
        out->parser = hint_parser(k, v, vl);
    } else if (k->fb_parser &&
               lookup(annotations, "fluentbit.io/", "parser", container, container_len, &v,
                      &vl)) {
        out->parser = hint_parser(k, v, vl);
    }
}

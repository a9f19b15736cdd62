/*
 * filter grep: keeps or drops records by regular expressions on their values,
 * as Fluent Bit's grep. Each rule is "KEY REGEX", KEY a top-level key (`log`)
 * or a record accessor (`$kubernetes['labels']['app']`). Only string values
 * match; a missing key or another type is no match.
 *
 * logical_op legacy: every `regex` rule must match and any `exclude` rule
 * that matches drops the record. AND / OR combine rules of one kind (mixing
 * regex and exclude is refused, as Fluent Bit does).
 *
 * The hot path looks values up by scanning the body map (length compared
 * first) and runs a JIT-compiled pattern: nothing is allocated per record.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chunk.h"
#include "error.h"
#include "log.h"
#include "mem.h"
#include "plugin.h"
#include "regex.h"

/* One step of an accessor: a map key, or an array index. */
struct step {
    char *key;
    size_t klen;
    long index;  /* -1 for a map key */
};

struct rule {
    struct step *steps;
    size_t nsteps;
    struct gl_regex *re;
    bool exclude;
};

enum op { OP_LEGACY, OP_AND, OP_OR };

struct grep {
    struct gl_strlist regex;
    struct gl_strlist exclude;
    char *logical_op;
    struct rule *rules;
    size_t nrules;
    enum op op;
};

/* ---- record accessors ---- */

/* Reads one ['key'], ["key"] or [N] at *s; returns 0 or GL_EINVAL. */
static int parse_step(const char **s, struct step *st)
{
    const char *p = *s + 1;
    if (*p == '\'' || *p == '"') {
        const char *close = strchr(p + 1, *p);
        if (close == NULL || close[1] != ']') {
            return GL_EINVAL;
        }
        st->klen = (size_t)(close - p - 1);
        st->key = gl_strndup(p + 1, st->klen);
        st->index = -1;
        *s = close + 2;
        return 0;
    }
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || *end != ']' || n < 0) {
        return GL_EINVAL;
    }
    st->key = NULL;
    st->klen = 0;
    st->index = n;
    *s = end + 1;
    return 0;
}

static void steps_free(struct step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gl_free(steps[i].key);
    }
    gl_free(steps);
}

/*
 * Parses `log`, `$log` or `$a['b'][0]` (klen bytes) into steps. Returns the
 * number of steps (at least 1), or GL_EINVAL; *out is owned by the caller.
 */
static long parse_accessor(const char *text, size_t klen, struct step **out)
{
    char *copy = gl_strndup(text, klen);
    const char *s = copy[0] == '$' ? copy + 1 : copy;
    size_t cap = 4;
    long n = 0;
    struct step *steps = gl_calloc(cap, sizeof(*steps));
    const char *br = strchr(s, '[');
    size_t first = br ? (size_t)(br - s) : strlen(s);
    if (first == 0) {
        goto fail;
    }
    steps[n++] = (struct step){ .key = gl_strndup(s, first), .klen = first, .index = -1 };
    s += first;
    while (*s == '[') {
        if ((size_t)n == cap) {
            cap *= 2;
            steps = gl_realloc(steps, cap * sizeof(*steps));
        }
        if (parse_step(&s, &steps[n]) < 0) {
            goto fail;
        }
        n++;
    }
    if (*s != '\0') {
        goto fail;
    }
    gl_free(copy);
    *out = steps;
    return n;
fail:
    steps_free(steps, (size_t)n);
    gl_free(copy);
    return GL_EINVAL;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key, size_t klen)
{
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &kv[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0) {
            return &kv[i].val;
        }
    }
    return NULL;
}

static const msgpack_object *lookup(const msgpack_object *body, const struct rule *r)
{
    const msgpack_object *o = body;
    for (size_t i = 0; i < r->nsteps && o != NULL; i++) {
        const struct step *st = &r->steps[i];
        if (st->index < 0) {
            o = o->type == MSGPACK_OBJECT_MAP ? map_get(o, st->key, st->klen) : NULL;
        } else if (o->type == MSGPACK_OBJECT_ARRAY && (uint64_t)st->index < o->via.array.size) {
            o = &o->via.array.ptr[st->index];
        } else {
            o = NULL;
        }
    }
    return o;
}

/* ---- rules ---- */

/* Splits "KEY REGEX" at the first run of spaces; false when either part is empty. */
static bool split_rule(const char *item, size_t *klen, const char **pattern)
{
    const char *sp = strpbrk(item, " \t");
    if (sp == NULL || sp == item) {
        return false;
    }
    *klen = (size_t)(sp - item);
    while (*sp == ' ' || *sp == '\t') {
        sp++;
    }
    *pattern = sp;
    return *sp != '\0';
}

static const char *check_rules(const void *value)
{
    const struct gl_strlist *l = value;
    for (size_t i = 0; i < l->count; i++) {
        size_t klen;
        const char *pattern;
        struct step *steps;
        if (!split_rule(l->items[i], &klen, &pattern)) {
            return "expected 'KEY REGEX'";
        }
        long n = parse_accessor(l->items[i], klen, &steps);
        if (n < 0) {
            return "bad KEY: expected key or $key['sub']['sub2']";
        }
        steps_free(steps, (size_t)n);
    }
    return NULL;
}

static int add_rules(struct gl_instance *ins, struct grep *g, const struct gl_strlist *l,
                     bool exclude)
{
    char err[256];
    const char *opt = exclude ? "exclude" : "regex";
    for (size_t i = 0; i < l->count; i++) {
        struct rule *r = &g->rules[g->nrules];
        size_t klen;
        const char *pattern;
        if (!split_rule(l->items[i], &klen, &pattern)) {
            gl_instance_option_error(ins, opt, "rule '%s': expected 'KEY REGEX'", l->items[i]);
            return GL_EINVAL;
        }
        long n = parse_accessor(l->items[i], klen, &r->steps);
        if (n < 0) {
            gl_instance_option_error(ins, opt, "rule '%s': bad key", l->items[i]);
            return GL_EINVAL;
        }
        r->nsteps = (size_t)n;
        r->exclude = exclude;
        g->nrules++;
        r->re = gl_regex_new(pattern, err, sizeof(err));
        if (r->re == NULL) {
            gl_instance_option_error(ins, opt, "bad regex in '%s': %s", l->items[i], err);
            return GL_EINVAL;
        }
    }
    return 0;
}

static void grep_destroy(struct gl_instance *ins)
{
    struct grep *g = ins->state;
    for (size_t i = 0; i < g->nrules; i++) {
        steps_free(g->rules[i].steps, g->rules[i].nsteps);
        gl_regex_free(g->rules[i].re);
    }
    gl_free(g->rules);
    g->rules = NULL;
    g->nrules = 0;
}

static int grep_init(struct gl_instance *ins)
{
    struct grep *g = ins->state;
    int rc;
    g->op = OP_LEGACY;
    if (g->logical_op != NULL && strcasecmp(g->logical_op, "AND") == 0) {
        g->op = OP_AND;
    } else if (g->logical_op != NULL && strcasecmp(g->logical_op, "OR") == 0) {
        g->op = OP_OR;
    }
    if (g->op != OP_LEGACY && g->regex.count > 0 && g->exclude.count > 0) {
        gl_instance_option_error(ins, "logical_op", "%s cannot combine regex and exclude rules",
                                 g->logical_op);
        return GL_EINVAL;
    }
    g->rules = gl_calloc(g->regex.count + g->exclude.count + 1, sizeof(*g->rules));
    rc = add_rules(ins, g, &g->regex, false);
    if (rc == 0) {
        rc = add_rules(ins, g, &g->exclude, true);
    }
    if (rc < 0) {
        grep_destroy(ins);
    }
    return rc;
}

static bool rule_matches(const struct rule *r, const msgpack_object *body)
{
    const msgpack_object *v = lookup(body, r);
    if (v == NULL || v->type != MSGPACK_OBJECT_STR) {
        return false;
    }
    return gl_regex_match(r->re, v->via.str.ptr, v->via.str.size);
}

static enum gl_filter_result grep_filter(struct gl_instance *ins, const struct gl_record *rec,
                                         struct gl_event *out)
{
    const struct grep *g = ins->state;
    (void)out;
    if (g->nrules == 0) {
        return GL_FILTER_KEEP;
    }
    if (g->op == OP_LEGACY) {
        for (size_t i = 0; i < g->nrules; i++) {
            if (rule_matches(&g->rules[i], rec->body) != !g->rules[i].exclude) {
                return GL_FILTER_DROP;
            }
        }
        return GL_FILTER_KEEP;
    }
    /* AND/OR: decide whether the combination matched, then what that means for this kind. */
    bool want = g->op == OP_OR;
    bool matched = !want;
    for (size_t i = 0; i < g->nrules; i++) {
        if (rule_matches(&g->rules[i], rec->body) == want) {
            matched = want;
            break;
        }
    }
    bool exclude = g->rules[0].exclude;
    return matched != exclude ? GL_FILTER_KEEP : GL_FILTER_DROP;
}

static const char *const logical_ops[] = { "legacy", "AND", "OR", NULL };

static const struct gl_option grep_options[] = {
    { .name = "regex", .type = GL_OPT_MULTI, .check = check_rules,
      .offset = offsetof(struct grep, regex),
      .help = "Rules 'KEY REGEX': keep records whose KEY (or $a['b'] accessor) matches." },
    { .name = "exclude", .type = GL_OPT_MULTI, .check = check_rules,
      .offset = offsetof(struct grep, exclude),
      .help = "Rules 'KEY REGEX': drop records whose KEY matches." },
    { .name = "logical_op", .type = GL_OPT_STR, .def = "legacy", .choices = logical_ops,
      .offset = offsetof(struct grep, logical_op),
      .help = "legacy (all regex rules must match, any exclude drops), AND or OR across rules." },
    { 0 }
};

const struct gl_plugin gl_filter_grep = {
    .kind = GL_FILTER, .name = "grep",
    .description = "Keep or drop records by regular expressions on their values",
    .options = grep_options, .state_size = sizeof(struct grep),
    .init = grep_init, .filter = grep_filter, .destroy = grep_destroy,
};

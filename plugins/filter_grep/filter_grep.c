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
#include <string.h>
#include <strings.h>

#include "codec/regex.h"
#include "core/accessor.h"
#include "core/chunk.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

struct rule {
    struct gl_accessor key;
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
        struct gl_accessor key;
        if (!split_rule(l->items[i], &klen, &pattern)) {
            return "expected 'KEY REGEX'";
        }
        if (gl_accessor_parse(&key, l->items[i], klen) < 0) {
            return "bad KEY: expected key or $key['sub']['sub2']";
        }
        gl_accessor_close(&key);
    }
    return NULL;
}

/*
 * The regex of a rule as PCRE2 takes it. Fluent Bit accepts it between
 * slashes, /.../ (and /.../i for case-insensitive), so those are unwrapped.
 * Returns a new string.
 */
static char *unwrap_pattern(const char *pattern)
{
    size_t n = strlen(pattern);
    struct gl_buf b;
    gl_buf_init(&b);
    if (n >= 3 && pattern[0] == '/' && pattern[n - 1] == 'i' && pattern[n - 2] == '/') {
        gl_buf_puts(&b, "(?i)");
        gl_buf_append(&b, pattern + 1, n - 3);
    } else if (n >= 2 && pattern[0] == '/' && pattern[n - 1] == '/') {
        gl_buf_append(&b, pattern + 1, n - 2);
    } else {
        gl_buf_puts(&b, pattern);
    }
    return gl_buf_take(&b);
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
        if (gl_accessor_parse(&r->key, l->items[i], klen) < 0) {
            gl_instance_option_error(ins, opt, "rule '%s': bad key", l->items[i]);
            return GL_EINVAL;
        }
        r->exclude = exclude;
        g->nrules++;
        char *unwrapped = unwrap_pattern(pattern);
        r->re = gl_regex_new(unwrapped, err, sizeof(err));
        gl_free(unwrapped);
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
        gl_accessor_close(&g->rules[i].key);
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
    const msgpack_object *v = gl_accessor_get(&r->key, body);
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
      .help = "Rules 'KEY REGEX': keep records whose KEY (or $a['b'] accessor) matches; "
              "REGEX may be written /.../ or /.../i." },
    { .name = "exclude", .type = GL_OPT_MULTI, .check = check_rules,
      .offset = offsetof(struct grep, exclude),
      .help = "Rules 'KEY REGEX': drop records whose KEY matches." },
    { .name = "logical_op", .type = GL_OPT_STR, .def = "legacy", .choices = logical_ops,
      .offset = offsetof(struct grep, logical_op),
      .help = "legacy (all regex rules must match, any exclude drops), AND or OR across rules." },
    { 0 }
};

const struct gl_plugin gl_filter_grep = {
    .kind = GL_FILTER, .name = "grep", .data = GL_LOGS,
    .description = "Keep or drop records by regular expressions on their values",
    .options = grep_options, .state_size = sizeof(struct grep),
    .init = grep_init, .filter = grep_filter, .destroy = grep_destroy,
};

/*
 * filter modify: sets, adds, removes, renames and copies top-level keys, with
 * Fluent Bit's rule and condition names. Each rule kind is a list option
 * ("KEY VALUE" strings; values with spaces in double quotes). Rules apply
 * only when every `condition` holds on the incoming record, and they apply
 * kind by kind in this order: remove, remove_wildcard, remove_regex, rename,
 * hard_rename, copy, hard_copy, add, set; each works on the result of the
 * ones before.
 *
 * A record is edited as a list of (key, value) entries that borrow from the
 * record and from the rules, then written into `out`; nothing is written and
 * the record is kept when no rule changed anything.
 */
#include <string.h>
#include <strings.h>

#include "codec/regex.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/error.h"
#include "util/mem.h"

enum rule_op {
    R_REMOVE, R_REMOVE_WILDCARD, R_REMOVE_REGEX, R_RENAME, R_HARD_RENAME,
    R_COPY, R_HARD_COPY, R_ADD, R_SET, R_COUNT
};

enum cond_op {
    C_KEY_EXISTS, C_KEY_DOES_NOT_EXIST, C_VALUE_EQUALS, C_VALUE_DOES_NOT_EQUAL,
    C_VALUE_MATCHES, C_VALUE_DOES_NOT_MATCH, C_A_KEY_MATCHES, C_NO_KEY_MATCHES, C_COUNT
};

/* A rule or a condition: op and up to two arguments (the regex compiled from the last one). */
struct rule {
    int op;
    uint64_t rank;  /* where it was written: rules apply in that order, as Fluent Bit's */
    char *a;
    size_t alen;
    char *b;
    size_t blen;
    struct gl_regex *re;
};

/* One key of the record being edited: the value is obj, or the string s when obj is NULL. */
struct kv {
    const char *k;
    size_t klen;
    const msgpack_object *obj;
    const char *s;
    size_t slen;
    bool dead;
};

struct modify {
    struct gl_strlist lists[R_COUNT];  /* in rule_op order */
    struct gl_strlist condition;
    struct rule *rules;
    size_t nrules;
    struct rule *conds;
    size_t nconds;
    struct kv *kv;
    size_t nkv;
    size_t kvcap;
};

static const char *const cond_names[C_COUNT] = {
    "key_exists", "key_does_not_exist", "key_value_equals", "key_value_does_not_equal",
    "key_value_matches", "key_value_does_not_match", "a_key_matches", "no_key_matches",
};
static const int cond_arity[C_COUNT] = { 1, 1, 2, 2, 2, 2, 1, 1 };
static const int rule_arity[R_COUNT] = { 1, 1, 1, 2, 2, 2, 2, 2, 2 };
static const char *const rule_names[R_COUNT] = {
    "remove", "remove_wildcard", "remove_regex", "rename", "hard_rename",
    "copy", "hard_copy", "add", "set",
};

/* ---- rule text ---- */

/*
 * Splits s into up to max words; a word in double quotes may hold spaces,
 * \" and \\ (other backslashes stay, for regexes). Returns the number of
 * words, max + 1 when there are more, or -1 for an unterminated quote. With
 * words NULL it only counts; otherwise the words are the caller's to free.
 */
static int split_words(const char *s, char **words, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '\0') {
            return n;
        }
        if (n == max) {
            return max + 1;
        }
        char *w = gl_malloc(strlen(s) + 1);
        size_t len = 0;
        if (*s == '"') {
            for (s++; *s != '"'; s++) {
                if (*s == '\0') {
                    gl_free(w);
                    return -1;
                }
                if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) {
                    s++;
                }
                w[len++] = *s;
            }
            s++;
        } else {
            while (*s != '\0' && *s != ' ' && *s != '\t') {
                w[len++] = *s++;
            }
        }
        w[len] = '\0';
        if (words != NULL) {
            words[n] = w;
        } else {
            gl_free(w);
        }
        n++;
    }
}

static const char *check_arity(const struct gl_strlist *l, int arity, const char *message)
{
    for (size_t i = 0; i < l->count; i++) {
        if (split_words(l->items[i], NULL, 2) != arity) {
            return message;
        }
    }
    return NULL;
}

static const char *check_key(const void *value)
{
    return check_arity(value, 1, "expected 'KEY'");
}

static const char *check_key_value(const void *value)
{
    return check_arity(value, 2, "expected 'KEY VALUE' (quote values with spaces)");
}

static int cond_find(const char *name)
{
    for (int i = 0; i < C_COUNT; i++) {
        if (strcasecmp(name, cond_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static const char *check_conditions(const void *value)
{
    const struct gl_strlist *l = value;
    for (size_t i = 0; i < l->count; i++) {
        char *w[4] = { 0 };
        int n = split_words(l->items[i], w, 3);
        int c = n > 0 && n <= 3 ? cond_find(w[0]) : -1;
        for (int j = 0; j < 3; j++) {
            gl_free(w[j]);
        }
        if (c < 0) {
            return "expected 'CONDITION ARGS' with CONDITION one of key_exists, "
                   "key_does_not_exist, key_value_equals, key_value_does_not_equal, "
                   "key_value_matches, key_value_does_not_match, a_key_matches, no_key_matches";
        }
        if (n - 1 != cond_arity[c]) {
            return cond_arity[c] == 1 ? "this condition takes one argument"
                                      : "this condition takes 'KEY VALUE'";
        }
    }
    return NULL;
}

/* ---- init and destroy ---- */

static void rule_close(struct rule *r)
{
    gl_free(r->a);
    gl_free(r->b);
    gl_regex_free(r->re);
}

static void modify_destroy(struct gl_instance *ins)
{
    struct modify *m = ins->state;
    for (size_t i = 0; i < m->nrules; i++) {
        rule_close(&m->rules[i]);
    }
    for (size_t i = 0; i < m->nconds; i++) {
        rule_close(&m->conds[i]);
    }
    gl_free(m->rules);
    gl_free(m->conds);
    gl_free(m->kv);
    m->rules = m->conds = NULL;
    m->kv = NULL;
    m->nrules = m->nconds = 0;
}

/* Fills r from words (moved into r) and compiles a regex from the last one when asked. */
static int rule_build(struct gl_instance *ins, struct rule *r, int op, char **w, int n,
                      bool regex)
{
    char err[256];
    r->op = op;
    r->a = w[0];
    r->alen = strlen(w[0]);
    if (n > 1) {
        r->b = w[1];
        r->blen = strlen(w[1]);
    }
    if (regex) {
        const char *pattern = n > 1 ? r->b : r->a;
        r->re = gl_regex_new(pattern, err, sizeof(err));
        if (r->re == NULL) {
            gl_instance_error(ins, "bad regex '%s': %s", pattern, err);
            return GL_EINVAL;
        }
    }
    return 0;
}

static int add_rules(struct gl_instance *ins, struct modify *m, int op)
{
    const struct gl_strlist *l = &m->lists[op];
    for (size_t i = 0; i < l->count; i++) {
        char *w[3] = { 0 };
        int n = split_words(l->items[i], w, 2);
        if (n != rule_arity[op]) {
            gl_instance_error(ins, "rule '%s': wrong number of arguments", l->items[i]);
            for (int j = 0; j < 3; j++) {
                gl_free(w[j]);
            }
            return GL_EINVAL;
        }
        struct rule *r = &m->rules[m->nrules++];
        if (rule_build(ins, r, op, w, n, op == R_REMOVE_REGEX) < 0) {
            return GL_EINVAL;
        }
        r->rank = gl_instance_option_rank(ins, rule_names[op], i);
    }
    return 0;
}

/*
 * Puts the rules in the order they were written (a rename before the
 * remove_regex that relies on it); rules of unknown place keep the order of
 * their kinds. Insertion sort: stable, and the rules are few.
 */
static void order_rules(struct modify *m)
{
    for (size_t i = 1; i < m->nrules; i++) {
        struct rule r = m->rules[i];
        size_t j = i;
        while (j > 0 && m->rules[j - 1].rank > r.rank) {
            m->rules[j] = m->rules[j - 1];
            j--;
        }
        m->rules[j] = r;
    }
}

static int add_conditions(struct gl_instance *ins, struct modify *m)
{
    for (size_t i = 0; i < m->condition.count; i++) {
        char *w[4] = { 0 };
        int n = split_words(m->condition.items[i], w, 3);
        int c = n > 0 && n <= 3 ? cond_find(w[0]) : -1;
        gl_free(w[0]);
        if (c < 0 || n - 1 != cond_arity[c]) {
            gl_instance_option_error(ins, "condition", "'%s' is not understood",
                                     m->condition.items[i]);
            gl_free(w[1]);
            gl_free(w[2]);
            return GL_EINVAL;
        }
        bool regex = c == C_VALUE_MATCHES || c == C_VALUE_DOES_NOT_MATCH ||
                     c == C_A_KEY_MATCHES || c == C_NO_KEY_MATCHES;
        if (rule_build(ins, &m->conds[m->nconds++], c, w + 1, n - 1, regex) < 0) {
            return GL_EINVAL;
        }
    }
    return 0;
}

static int modify_init(struct gl_instance *ins)
{
    struct modify *m = ins->state;
    size_t total = 0;
    int rc = 0;
    for (int op = 0; op < R_COUNT; op++) {
        total += m->lists[op].count;
    }
    m->rules = gl_calloc(total + 1, sizeof(*m->rules));
    m->conds = gl_calloc(m->condition.count + 1, sizeof(*m->conds));
    for (int op = 0; op < R_COUNT && rc == 0; op++) {
        rc = add_rules(ins, m, op);
    }
    if (rc == 0) {
        order_rules(m);
        rc = add_conditions(ins, m);
    }
    if (rc < 0) {
        modify_destroy(ins);
    }
    return rc;
}

/* ---- conditions ---- */

static bool key_is(const msgpack_object *k, const char *key, size_t klen)
{
    return (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
           k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0;
}

static const msgpack_object *body_get(const msgpack_object *body, const char *key, size_t klen)
{
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        if (key_is(&body->via.map.ptr[i].key, key, klen)) {
            return &body->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static bool any_key_matches(const msgpack_object *body, struct gl_regex *re)
{
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *k = &body->via.map.ptr[i].key;
        if ((k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
            gl_regex_match(re, k->via.str.ptr, k->via.str.size)) {
            return true;
        }
    }
    return false;
}

static bool cond_holds(const struct rule *c, const msgpack_object *body)
{
    const msgpack_object *v = body_get(body, c->a, c->alen);
    bool str = v != NULL && v->type == MSGPACK_OBJECT_STR;
    switch (c->op) {
    case C_KEY_EXISTS: return v != NULL;
    case C_KEY_DOES_NOT_EXIST: return v == NULL;
    case C_VALUE_EQUALS:
        return str && v->via.str.size == c->blen && memcmp(v->via.str.ptr, c->b, c->blen) == 0;
    case C_VALUE_DOES_NOT_EQUAL:
        return v != NULL &&
               !(str && v->via.str.size == c->blen && memcmp(v->via.str.ptr, c->b, c->blen) == 0);
    case C_VALUE_MATCHES: return str && gl_regex_match(c->re, v->via.str.ptr, v->via.str.size);
    case C_VALUE_DOES_NOT_MATCH:
        return v != NULL && !(str && gl_regex_match(c->re, v->via.str.ptr, v->via.str.size));
    case C_A_KEY_MATCHES: return any_key_matches(body, c->re);
    case C_NO_KEY_MATCHES: return !any_key_matches(body, c->re);
    default: return false;
    }
}

/* ---- rules ---- */

static struct kv *kv_add(struct modify *m, const char *k, size_t klen)
{
    if (m->nkv == m->kvcap) {
        m->kvcap = m->kvcap ? m->kvcap * 2 : 32;
        m->kv = gl_realloc(m->kv, m->kvcap * sizeof(*m->kv));
    }
    struct kv *e = &m->kv[m->nkv++];
    *e = (struct kv){ .k = k, .klen = klen };
    return e;
}

static struct kv *kv_find(struct modify *m, const char *k, size_t klen)
{
    for (size_t i = 0; i < m->nkv; i++) {
        struct kv *e = &m->kv[i];
        if (!e->dead && e->klen == klen && memcmp(e->k, k, klen) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Marks every entry named k dead; returns whether there was one. */
static bool kv_remove(struct modify *m, const char *k, size_t klen)
{
    bool any = false;
    struct kv *e;
    while ((e = kv_find(m, k, klen)) != NULL) {
        e->dead = true;
        any = true;
    }
    return any;
}

/* Removes keys that start with the rule's key up to its first '*' (or matching its regex). */
static bool remove_matching(struct modify *m, const struct rule *r)
{
    const char *star = memchr(r->a, '*', r->alen);
    size_t plen = star ? (size_t)(star - r->a) : r->alen;
    bool any = false;
    for (size_t i = 0; i < m->nkv; i++) {
        struct kv *e = &m->kv[i];
        bool hit = r->re ? gl_regex_match(r->re, e->k, e->klen)
                         : e->klen >= plen && memcmp(e->k, r->a, plen) == 0;
        if (!e->dead && hit) {
            e->dead = true;
            any = true;
        }
    }
    return any;
}

static bool apply_copy(struct modify *m, const struct rule *r, bool hard)
{
    struct kv *src = kv_find(m, r->a, r->alen);
    struct kv *dst = kv_find(m, r->b, r->blen);
    if (src == NULL || (dst != NULL && !hard)) {
        return false;
    }
    struct kv value = *src;
    if (dst == NULL) {
        dst = kv_add(m, r->b, r->blen);
    }
    dst->obj = value.obj;
    dst->s = value.s;
    dst->slen = value.slen;
    return true;
}

/* Applies one rule to the entries; returns whether anything changed. */
static bool apply(struct modify *m, const struct rule *r)
{
    struct kv *e;
    switch (r->op) {
    case R_REMOVE: return kv_remove(m, r->a, r->alen);
    case R_REMOVE_WILDCARD:
    case R_REMOVE_REGEX: return remove_matching(m, r);
    case R_RENAME:
    case R_HARD_RENAME:
        e = kv_find(m, r->a, r->alen);
        if (e == NULL || (r->op == R_RENAME && kv_find(m, r->b, r->blen) != NULL)) {
            return false;
        }
        e->dead = true;
        kv_remove(m, r->b, r->blen);
        e->dead = false;
        e->k = r->b;
        e->klen = r->blen;
        return true;
    case R_COPY: return apply_copy(m, r, false);
    case R_HARD_COPY: return apply_copy(m, r, true);
    case R_ADD:
    case R_SET:
        e = kv_find(m, r->a, r->alen);
        if (e != NULL && r->op == R_ADD) {
            return false;
        }
        e = e ? e : kv_add(m, r->a, r->alen);
        e->obj = NULL;
        e->s = r->b;
        e->slen = r->blen;
        return true;
    default: return false;
    }
}

static enum gl_filter_result modify_filter(struct gl_instance *ins, const struct gl_record *rec,
                                           struct gl_event *out)
{
    struct modify *m = ins->state;
    const msgpack_object *body = rec->body;
    bool changed = false;
    for (size_t i = 0; i < m->nconds; i++) {
        if (!cond_holds(&m->conds[i], body)) {
            return GL_FILTER_KEEP;
        }
    }
    m->nkv = 0;
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object *k = &body->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
            kv_add(m, k->via.str.ptr, k->via.str.size)->obj = &body->via.map.ptr[i].val;
        }
    }
    for (size_t i = 0; i < m->nrules; i++) {
        changed |= apply(m, &m->rules[i]);
    }
    if (!changed) {
        return GL_FILTER_KEEP;
    }
    for (size_t i = 0; i < m->nkv; i++) {
        const struct kv *e = &m->kv[i];
        if (e->dead) {
            continue;
        }
        if (e->obj != NULL) {
            gl_event_kv_obj(out, e->k, e->klen, e->obj);
        } else {
            gl_event_kv_strn(out, e->k, e->klen, e->s, e->slen);
        }
    }
    return GL_FILTER_MODIFIED;
}

#define RULE(n, f, chk, h) \
    { .name = n, .type = GL_OPT_MULTI, .check = chk, \
      .offset = offsetof(struct modify, lists) + (f) * sizeof(struct gl_strlist), .help = h }

static const struct gl_option modify_options[] = {
    RULE("remove", R_REMOVE, check_key, "Keys to remove."),
    RULE("remove_wildcard", R_REMOVE_WILDCARD, check_key,
         "Key prefixes ('kube_*'): remove every key that starts with one."),
    RULE("remove_regex", R_REMOVE_REGEX, check_key,
         "Remove every key matching one of these regexes."),
    RULE("rename", R_RENAME, check_key_value,
         "'OLD NEW': rename OLD when NEW does not exist."),
    RULE("hard_rename", R_HARD_RENAME, check_key_value,
         "'OLD NEW': rename OLD, replacing NEW."),
    RULE("copy", R_COPY, check_key_value,
         "'SRC DST': copy SRC's value to DST when DST does not exist."),
    RULE("hard_copy", R_HARD_COPY, check_key_value,
         "'SRC DST': copy SRC's value to DST, replacing it."),
    RULE("add", R_ADD, check_key_value, "'KEY VALUE': add KEY when it does not exist."),
    RULE("set", R_SET, check_key_value, "'KEY VALUE': set KEY, replacing its value."),
    { .name = "condition", .type = GL_OPT_MULTI, .check = check_conditions,
      .offset = offsetof(struct modify, condition),
      .help = "Conditions that must all hold for the rules to apply, "
              "e.g. 'key_value_equals level debug'. Rules apply in the order written." },
    { 0 }
};

const struct gl_plugin gl_filter_modify = {
    .kind = GL_FILTER, .name = "modify", .data = GL_LOGS,
    .description = "Set, add, remove, rename and copy record keys, under conditions",
    .options = modify_options, .state_size = sizeof(struct modify),
    .init = modify_init, .filter = modify_filter, .destroy = modify_destroy,
};

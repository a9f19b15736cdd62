/*
 * The labels filter: sets, renames and removes labels of metrics series,
 * with the operations of Fluent Bit's labels processor (insert, upsert,
 * update, delete, hash) plus rename. The cluster and node labels every SRE
 * adds are `insert: cluster ${CLUSTER_NAME}` and `insert: node ${NODE_NAME}`
 * (the config expands ${VAR}). Each option may be given several times (a
 * YAML list). Per series they apply in this order: delete, rename, update,
 * upsert, insert, hash; the result is stored sorted, as every label set.
 */
#include <openssl/evp.h>
#include <string.h>

#include "core/chunk.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "net/dl.h"
#include "util/error.h"
#include "util/mem.h"

enum op { OP_DELETE, OP_RENAME, OP_UPDATE, OP_UPSERT, OP_INSERT, OP_HASH, OP_COUNT };

/* One operation: a label name and, for those that take one, a value or a new name. */
struct rule {
    enum op op;
    char *name;
    uint32_t name_len;
    char *arg;
    uint32_t arg_len;
};

struct labels {
    /* options */
    struct gl_strlist lists[OP_COUNT];

    /* run time */
    struct rule *rules;            /* in the order they apply */
    size_t n_rules;
    char hex[GL_LABELS_MAX][65];   /* hashed values of the series being written */
};

static const struct gl_option labels_options[] = {
    { .name = "delete", .type = GL_OPT_MULTI, .offset = offsetof(struct labels, lists[OP_DELETE]),
      .help = "Remove the label 'name'." },
    { .name = "rename", .type = GL_OPT_MULTI, .offset = offsetof(struct labels, lists[OP_RENAME]),
      .help = "'name new_name': the label takes the new name (replacing one of that name)." },
    { .name = "update", .type = GL_OPT_MULTI, .offset = offsetof(struct labels, lists[OP_UPDATE]),
      .help = "'name value': set the label where the series has it." },
    { .name = "upsert", .type = GL_OPT_MULTI, .offset = offsetof(struct labels, lists[OP_UPSERT]),
      .help = "'name value': set the label, adding it where missing." },
    { .name = "insert", .type = GL_OPT_MULTI, .offset = offsetof(struct labels, lists[OP_INSERT]),
      .help = "'name value': add the label where the series does not have it." },
    { .name = "hash", .type = GL_OPT_MULTI, .offset = offsetof(struct labels, lists[OP_HASH]),
      .help = "Replace the value of the label 'name' with its SHA-256, in hex." },
    { 0 }
};

static const char *const op_names[] = { "delete", "rename", "update", "upsert", "insert", "hash" };

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

/* Reads one item of an option into a rule; reports and returns GL_ECONFIG when malformed. */
static int read_rule(struct gl_instance *ins, enum op op, const char *item, struct rule *r)
{
    bool takes_arg = op != OP_DELETE && op != OP_HASH;
    size_t n = strcspn(item, " \t");
    const char *arg = item + n + strspn(item + n, " \t");
    bool ok = valid_name(item, n) && (takes_arg ? *arg != '\0' : *arg == '\0');
    if (ok && op == OP_RENAME) {
        ok = valid_name(arg, strlen(arg));
    }
    if (!ok) {
        gl_instance_option_error(ins, op_names[op], "'%s': expected %s", item,
                                 op == OP_RENAME ? "'name new_name' (label names)"
                                 : takes_arg    ? "'name value' with a label name"
                                                : "a label name");
        return GL_ECONFIG;
    }
    *r = (struct rule){ op, gl_strndup(item, n), (uint32_t)n, NULL, 0 };
    if (takes_arg) {
        r->arg = gl_strdup(arg);
        r->arg_len = (uint32_t)strlen(arg);
    }
    return 0;
}

static void labels_destroy(struct gl_instance *ins)
{
    struct labels *l = ins->state;
    for (size_t i = 0; i < l->n_rules; i++) {
        gl_free(l->rules[i].name);
        gl_free(l->rules[i].arg);
    }
    gl_free(l->rules);
    l->rules = NULL;
    l->n_rules = 0;
}

static int labels_init(struct gl_instance *ins)
{
    struct labels *l = ins->state;
    size_t total = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        total += l->lists[op].count;
    }
    if (total == 0) {
        gl_instance_error(ins, "needs at least one of delete, rename, update, upsert, insert, "
                          "hash");
        return GL_ECONFIG;
    }
    if (l->lists[OP_HASH].count > 0) {
        char err[256];
        if (gl_dl_crypto(err, sizeof(err)) < 0) {
            gl_instance_option_error(ins, "hash", "%s", err);
            return GL_ECONFIG;
        }
    }
    l->rules = gl_calloc(total, sizeof(*l->rules));
    for (int op = 0; op < OP_COUNT; op++) {
        for (size_t i = 0; i < l->lists[op].count; i++) {
            if (read_rule(ins, (enum op)op, l->lists[op].items[i], &l->rules[l->n_rules]) < 0) {
                labels_destroy(ins);
                return GL_ECONFIG;
            }
            l->n_rules++;
        }
    }
    return 0;
}

/* ---- applying ---------------------------------------------------------------- */

static int find(const struct gl_label *set, uint32_t n, const char *name, uint32_t len)
{
    for (uint32_t i = 0; i < n; i++) {
        if (set[i].name_len == len && memcmp(set[i].name, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void remove_at(struct gl_label *set, uint32_t *n, int i)
{
    memmove(&set[i], &set[i + 1], (*n - (uint32_t)i - 1) * sizeof(*set));
    (*n)--;
}

static void hash_value(struct labels *l, struct gl_label *lab, uint32_t slot)
{
    unsigned char md[32];
    unsigned int len = 0;
    static const char digits[] = "0123456789abcdef";
    gl_crypto->evp_digest(lab->value, lab->value_len, md, &len, gl_crypto->evp_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        l->hex[slot][2 * i] = digits[md[i] >> 4];
        l->hex[slot][2 * i + 1] = digits[md[i] & 15];
    }
    lab->value = l->hex[slot];
    lab->value_len = 64;
}

/* Applies one rule to a label set of n labels (room for GL_LABELS_MAX). */
static void apply(struct labels *l, const struct rule *r, struct gl_label *set, uint32_t *n)
{
    int at = find(set, *n, r->name, r->name_len);
    struct gl_label value = { r->name, r->name_len, r->arg, r->arg_len };
    switch (r->op) {
    case OP_DELETE:
        if (at >= 0) {
            remove_at(set, n, at);
        }
        break;
    case OP_RENAME:
        if (at >= 0) {
            int clash = find(set, *n, r->arg, r->arg_len);
            set[at].name = r->arg;
            set[at].name_len = r->arg_len;
            if (clash >= 0) {
                remove_at(set, n, clash);
            }
        }
        break;
    case OP_UPDATE:
    case OP_UPSERT:
        if (at >= 0) {
            set[at] = value;
        } else if (r->op == OP_UPSERT && *n < GL_LABELS_MAX) {
            set[(*n)++] = value;
        }
        break;
    case OP_INSERT:
        if (at < 0 && *n < GL_LABELS_MAX) {
            set[(*n)++] = value;
        }
        break;
    case OP_HASH:
        if (at >= 0) {
            hash_value(l, &set[at], (uint32_t)at);
        }
        break;
    case OP_COUNT:
        break;
    }
}

static enum gl_filter_result labels_filter_chunk(struct gl_instance *ins,
                                                 const struct gl_chunk *c, struct gl_chunk *out)
{
    struct labels *l = ins->state;
    struct gl_batch_iter it;
    struct gl_batch_rewrite rw;
    struct gl_family fam;
    struct gl_series s;
    struct gl_label set[GL_LABELS_MAX];
    gl_batch_iter_init(&it, c);
    gl_batch_rewrite_init(&rw, &out->data);
    while (gl_batch_next_family(&it, &fam) == 0) {
        gl_batch_rewrite_family(&rw, &fam);
        while (gl_batch_next_series(&it, &s) == 0) {
            uint32_t n = gl_series_labels(&s, set);
            for (size_t i = 0; i < l->n_rules; i++) {
                apply(l, &l->rules[i], set, &n);
            }
            gl_batch_relabel(gl_batch_rewrite_out(&rw), &s, set, n);
        }
    }
    out->records = gl_batch_rewrite_end(&rw);
    return GL_FILTER_MODIFIED;
}

const struct gl_plugin gl_filter_labels = {
    .kind = GL_FILTER, .name = "labels", .data = GL_METRICS,
    .description = "Add, set, rename, hash and remove labels of metrics series",
    .options = labels_options, .state_size = sizeof(struct labels),
    .init = labels_init, .filter_chunk = labels_filter_chunk, .destroy = labels_destroy,
};

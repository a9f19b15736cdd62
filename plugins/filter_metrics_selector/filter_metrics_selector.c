/*
 * The metrics_selector filter, with Fluent Bit's options: keeps (action
 * include) or drops (action exclude) the series whose metric name matches
 * metric_name: a regular expression when written /like this/, otherwise a
 * prefix (operation_type prefix, the default) or a substring. With context
 * delete_label_value it matches series by one label's value instead
 * (label: "name value"). A chunk whose series are all kept goes on as it is;
 * otherwise the kept series are copied as bytes into a new chunk.
 */
#include <string.h>

#include "codec/regex.h"
#include "core/chunk.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "util/error.h"
#include "util/mem.h"

static const char *const actions[] = { "include", "exclude", NULL };
static const char *const operations[] = { "prefix", "substring", NULL };
static const char *const contexts[] = { "metric_name", "delete_label_value", NULL };

struct selector {
    /* options */
    char *metric_name;
    char *action;
    char *operation_type;
    char *context;
    char *label;

    /* run time */
    struct gl_regex *re;           /* metric_name written /.../ */
    bool include;
    bool substring;
    bool by_label;
    char *label_name;              /* label split at its first blank */
    const char *label_value;
};

static const struct gl_option selector_options[] = {
    { .name = "metric_name", .type = GL_OPT_STR,
      .offset = offsetof(struct selector, metric_name),
      .help = "The names to select: /a regular expression/, or a prefix or substring "
              "(operation_type)." },
    { .name = "action", .type = GL_OPT_STR, .required = true, .choices = actions,
      .offset = offsetof(struct selector, action),
      .help = "include: keep only the series selected; exclude: drop them." },
    { .name = "operation_type", .type = GL_OPT_STR, .def = "prefix", .choices = operations,
      .offset = offsetof(struct selector, operation_type),
      .help = "How a metric_name that is not /a regex/ matches: prefix or substring." },
    { .name = "context", .type = GL_OPT_STR, .def = "metric_name", .choices = contexts,
      .offset = offsetof(struct selector, context),
      .help = "metric_name selects by name; delete_label_value selects by the label given." },
    { .name = "label", .type = GL_OPT_STR, .offset = offsetof(struct selector, label),
      .help = "With context delete_label_value: 'name value', the label that selects a "
              "series." },
    { 0 }
};

static void selector_destroy(struct gl_instance *ins)
{
    struct selector *s = ins->state;
    gl_regex_free(s->re);
    s->re = NULL;
    gl_free(s->label_name);
    s->label_name = NULL;
}

static int read_label(struct gl_instance *ins, struct selector *s)
{
    if (s->label == NULL) {
        gl_instance_option_error(ins, "label", "context delete_label_value needs a label "
                                 "('name value')");
        return GL_ECONFIG;
    }
    size_t n = strcspn(s->label, " \t");
    const char *v = s->label + n + strspn(s->label + n, " \t");
    if (n == 0 || *v == '\0') {
        gl_instance_option_error(ins, "label", "expected 'name value', got '%s'", s->label);
        return GL_ECONFIG;
    }
    s->label_name = gl_strndup(s->label, n);
    s->label_value = v;
    return 0;
}

static int read_name(struct gl_instance *ins, struct selector *s)
{
    const char *m = s->metric_name;
    size_t n = m != NULL ? strlen(m) : 0;
    if (n == 0) {
        gl_instance_option_error(ins, "metric_name", "is required with context metric_name");
        return GL_ECONFIG;
    }
    if (n >= 2 && m[0] == '/' && m[n - 1] == '/') {
        char pattern[1024], err[256];
        snprintf(pattern, sizeof(pattern), "%.*s", (int)(n - 2), m + 1);
        s->re = gl_regex_new(pattern, err, sizeof(err));
        if (s->re == NULL) {
            gl_instance_option_error(ins, "metric_name", "%s", err);
            return GL_ECONFIG;
        }
    }
    return 0;
}

static int selector_init(struct gl_instance *ins)
{
    struct selector *s = ins->state;
    s->include = strcmp(s->action, "include") == 0;
    s->substring = strcmp(s->operation_type, "substring") == 0;
    s->by_label = strcmp(s->context, "delete_label_value") == 0;
    int rc = s->by_label ? read_label(ins, s) : read_name(ins, s);
    if (rc < 0) {
        selector_destroy(ins);
    }
    return rc;
}

static bool name_matches(const struct selector *s, const struct gl_family *f)
{
    if (s->re != NULL) {
        return gl_regex_match(s->re, f->name, f->name_len);
    }
    size_t n = strlen(s->metric_name);
    if (!s->substring) {
        return f->name_len >= n && memcmp(f->name, s->metric_name, n) == 0;
    }
    return memmem(f->name, f->name_len, s->metric_name, n) != NULL;
}

static bool label_matches(const struct selector *s, const struct gl_series *series,
                          struct gl_label *labels)
{
    uint32_t n = gl_series_labels(series, labels);
    size_t kn = strlen(s->label_name), vn = strlen(s->label_value);
    for (uint32_t i = 0; i < n; i++) {
        if (labels[i].name_len == kn && memcmp(labels[i].name, s->label_name, kn) == 0) {
            return labels[i].value_len == vn && memcmp(labels[i].value, s->label_value, vn) == 0;
        }
    }
    return false;
}

static enum gl_filter_result selector_filter_chunk(struct gl_instance *ins,
                                                   const struct gl_chunk *c,
                                                   struct gl_chunk *out)
{
    struct selector *s = ins->state;
    struct gl_batch_iter it;
    struct gl_batch_rewrite rw;
    struct gl_family fam;
    struct gl_series series;
    struct gl_label labels[GL_LABELS_MAX];
    uint32_t dropped = 0;
    gl_batch_iter_init(&it, c);
    gl_batch_rewrite_init(&rw, &out->data);
    while (gl_batch_next_family(&it, &fam) == 0) {
        bool named = s->by_label || name_matches(s, &fam);
        gl_batch_rewrite_family(&rw, &fam);
        while (gl_batch_next_series(&it, &series) == 0) {
            bool selected = named && (!s->by_label || label_matches(s, &series, labels));
            if (selected == s->include) {
                gl_batch_copy(gl_batch_rewrite_out(&rw), &series);
            } else {
                dropped++;
            }
        }
    }
    out->records = gl_batch_rewrite_end(&rw);
    return dropped == 0 ? GL_FILTER_KEEP : GL_FILTER_MODIFIED;
}

const struct gl_plugin gl_filter_metrics_selector = {
    .kind = GL_FILTER, .name = "metrics_selector", .data = GL_METRICS,
    .description = "Keep or drop metrics series by name (prefix, substring, /regex/) or label",
    .options = selector_options, .state_size = sizeof(struct selector),
    .init = selector_init, .filter_chunk = selector_filter_chunk, .destroy = selector_destroy,
};

/*
 * Each scraped sample, as Prometheus 2.42's scrape loop appends it: its
 * labels with __name__, the target's labels attached (honor_labels decides
 * who wins a clash; the loser becomes exported_<name>), then
 * metric_relabel_configs; a sample they drop is not counted as added. What
 * remains must have a valid name and labels within the label limits, and
 * at most sample_limit samples may remain, or the scrape fails.
 *
 * The series kept are remembered by the hash of their final labels (struct
 * seen): a second sample of a series in one body is dropped (Prometheus
 * keeps the first), a series not in the last successful scrape counts in
 * scrape_series_added, and a series of the last scrape missing from this
 * one gets a staleness marker. For that each remembers the text the target
 * wrote for it (front-coded: what it shares with the one before is not kept
 * twice), so its labels are made again the same way; samples with
 * their own timestamps are not tracked for staleness, as in Prometheus.
 */
#include <stdio.h>
#include <string.h>

#include "in_prometheus_scrape.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

/* ---- the series seen --------------------------------------------------- */

void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    gl_buf_init(&s->text);
    gl_buf_init(&s->last);
}

void seen_close(struct seen *s)
{
    gl_free(s->e);
    gl_free(s->slots);
    gl_buf_close(&s->text);
    gl_buf_close(&s->last);
    memset(s, 0, sizeof(*s));
}

void seen_clear(struct seen *s)
{
    s->n = 0;
    if (s->slots != NULL) {
        memset(s->slots, 0, ((size_t)s->mask + 1) * sizeof(*s->slots));
    }
    gl_buf_reset(&s->text);
    gl_buf_reset(&s->last);
}

const struct seen_entry *seen_find(const struct seen *s, uint64_t hash)
{
    if (s->slots == NULL) {
        return NULL;
    }
    for (uint32_t i = (uint32_t)hash & s->mask; s->slots[i] != 0; i = (i + 1) & s->mask) {
        const struct seen_entry *e = &s->e[s->slots[i] - 1];
        if (e->hash == hash) {
            return e;
        }
    }
    return NULL;
}

static void slot_put(struct seen *s, uint32_t index)
{
    uint32_t i = (uint32_t)s->e[index].hash & s->mask;
    while (s->slots[i] != 0) {
        i = (i + 1) & s->mask;
    }
    s->slots[i] = index + 1;
}

void seen_add(struct seen *s, uint64_t hash, const struct gl_prom_sample *sample, unsigned flags)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->e = gl_realloc(s->e, s->cap * sizeof(*s->e));
    }
    if ((s->n + 1) * 2 > s->mask + 1 || s->slots == NULL) {
        uint32_t n = s->slots ? (s->mask + 1) * 2 : 128;
        gl_free(s->slots);
        s->slots = gl_calloc(n, sizeof(*s->slots));
        s->mask = n - 1;
        for (uint32_t i = 0; i < s->n; i++) {
            slot_put(s, i);
        }
    }
    size_t fam = sample->family->name_len, prefix = 0;
    size_t most = sample->series_len < s->last.len ? sample->series_len : s->last.len;
    while (prefix < most && prefix < UINT16_MAX && sample->series[prefix] == s->last.data[prefix]) {
        prefix++;
    }
    s->e[s->n] = (struct seen_entry){
        .hash = hash, .off = (uint32_t)s->text.len,
        .len = (uint32_t)(sample->series_len - prefix), .prefix = (uint16_t)prefix,
        .fam_len = (uint16_t)(fam < UINT16_MAX ? fam : UINT16_MAX),
        .type = (uint8_t)sample->family->type, .role = sample->role, .flags = flags & 0xf,
    };
    gl_buf_append(&s->text, sample->series + prefix, sample->series_len - prefix);
    gl_buf_reset(&s->last);
    gl_buf_append(&s->last, sample->series, sample->series_len);
    slot_put(s, s->n++);
}

void seen_text(const struct seen *s, uint32_t i, struct gl_buf *cur)
{
    const struct seen_entry *e = &s->e[i];
    cur->len = e->prefix <= cur->len ? e->prefix : cur->len;
    gl_buf_append(cur, s->text.data + e->off, e->len);
}

/* Adds what from has and to lacks (the series of a failed scrape stay known). */
void seen_merge(struct seen *to, const struct seen *from)
{
    struct gl_buf text;
    gl_buf_init(&text);
    for (uint32_t i = 0; i < from->n; i++) {
        const struct seen_entry *e = &from->e[i];
        seen_text(from, i, &text);
        if (seen_find(to, e->hash) != NULL) {
            continue;
        }
        struct gl_prom_family fam = { .name_len = e->fam_len, .type = e->type };
        struct gl_prom_sample smp = { .series = text.data, .series_len = (uint32_t)text.len,
                                      .family = &fam, .role = (enum gl_prom_role)e->role };
        seen_add(to, e->hash, &smp, e->flags);
    }
    gl_buf_close(&text);
}

/* ---- a sample's labels ------------------------------------------------- */

static bool sample_has(const struct gl_prom_sample *smp, const char *name, size_t len)
{
    if (len == 8 && memcmp(name, "__name__", 8) == 0) {
        return true;
    }
    for (uint32_t i = 0; i < smp->n_labels; i++) {
        if (smp->labels[i].name_len == len && memcmp(smp->labels[i].name, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool target_has(const struct target *t, const char *name, size_t len)
{
    for (uint32_t i = 0; i < t->n_labels; i++) {
        if (t->labels[i].name_len == len && memcmp(t->labels[i].name, name, len) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * A sample's labels that the target's clash with are kept as exported_<name>
 * (exported_exported_<name> when that is taken too), shortest names first.
 */
static void keep_exported(struct scrape *s, struct target *t, const struct gl_prom_sample *smp,
                          struct gl_label *clash, uint32_t n)
{
    char name[256];
    for (uint32_t i = 1; i < n; i++) { /* stable: by length, then as found */
        struct gl_label c = clash[i];
        uint32_t j = i;
        while (j > 0 && clash[j - 1].name_len > c.name_len) {
            clash[j] = clash[j - 1];
            j--;
        }
        clash[j] = c;
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t len = clash[i].name_len;
        if (len + 9 > sizeof(name)) {
            continue;
        }
        memcpy(name + sizeof(name) - len, clash[i].name, len);
        char *p = name + sizeof(name) - len;
        bool taken;
        do {
            if (p - name < 9) {
                break;
            }
            p -= 9;
            memcpy(p, "exported_", 9);
            len += 9;
            taken = sample_has(smp, p, len) || target_has(t, p, len);
            for (uint32_t k = 0; k < i && !taken; k++) {
                taken = clash[k].name_len == len && memcmp(clash[k].name, p, len) == 0;
            }
        } while (taken);
        clash[i].name = gl_labelset_keep(&s->ls, p, len);
        clash[i].name_len = (uint32_t)len;
    }
    for (uint32_t i = 0; i < n; i++) {
        gl_labelset_set(&s->ls, clash[i].name, clash[i].name_len, clash[i].value,
                        clash[i].value_len);
    }
}

/* Puts the target's labels on the sample's (s->ls), as honor_labels says. */
static void attach_target(struct scrape *s, struct target *t, const struct gl_prom_sample *smp)
{
    struct gl_label clash[64];
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_labels; i++) {
        const struct gl_label *l = &t->labels[i];
        const struct gl_label *have = gl_labelset_get(&s->ls, l->name, l->name_len);
        if (have != NULL && s->honor_labels) {
            continue;
        }
        if (have != NULL && n < 64) {
            clash[n++] = *have;
        }
        gl_labelset_set(&s->ls, l->name, l->name_len, l->value, l->value_len);
    }
    if (n > 0) {
        keep_exported(s, t, smp, clash, n);
    }
}

/* A label's bytes in a message: at most 50 of them, as Prometheus prints them. */
#define CLIP(p, n) (int)((n) > 50 ? 50 : (n)), (p)

/* The label limits; returns 0 or GL_ELIMIT with the reason. */
static int check_limits(struct scrape *s, const struct gl_label *name, struct failure *f)
{
    const struct gl_labelset *ls = &s->ls;
    if (s->label_limit > 0 && ls->n > (uint64_t)s->label_limit) {
        snprintf(f->detail, sizeof(f->detail), "label_limit exceeded (metric: %.*s, number of "
                 "labels: %u, limit: %lld)", CLIP(name->value, name->value_len), ls->n,
                 (long long)s->label_limit);
        return GL_ELIMIT;
    }
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct gl_label *l = &ls->l[i];
        bool long_name = s->label_name_length_limit > 0 &&
                         l->name_len > (uint64_t)s->label_name_length_limit;
        bool long_value = s->label_value_length_limit > 0 &&
                          l->value_len > (uint64_t)s->label_value_length_limit;
        if (long_name || long_value) {
            snprintf(f->detail, sizeof(f->detail), "%s exceeded (metric: %.*s, label name: "
                     "%.*s, length: %u, limit: %lld)",
                     long_name ? "label_name_length_limit" : "label_value_length_limit",
                     CLIP(name->value, name->value_len), CLIP(l->name, l->name_len),
                     long_name ? l->name_len : l->value_len,
                     (long long)(long_name ? s->label_name_length_limit
                                           : s->label_value_length_limit));
            return GL_ELIMIT;
        }
    }
    return 0;
}

/* Checks the final labels as Prometheus does before it appends. Returns 0 or GL_ELIMIT. */
static int check_labels(struct scrape *s, struct failure *f)
{
    const struct gl_labelset *ls = &s->ls;
    const struct gl_label *name = gl_labelset_get(ls, "__name__", 8);
    if (name == NULL) {
        f->why = "missing metric name (__name__ label)";
        return GL_ELIMIT;
    }
    bool valid = gl_prom_metric_name_valid(name->value, name->value_len);
    for (uint32_t i = 0; i < ls->n && valid; i++) {
        valid = gl_prom_label_name_valid(ls->l[i].name, ls->l[i].name_len);
    }
    if (!valid) {
        snprintf(f->detail, sizeof(f->detail), "invalid metric name or label names (metric "
                 "\"%.*s\")", CLIP(name->value, name->value_len));
        return GL_ELIMIT;
    }
    return check_limits(s, name, f);
}

/*
 * Makes the final labels of a sample in s->ls. Returns 1 when kept, 0
 * when metric_relabel_configs dropped it, or GL_ELIMIT with the reason.
 */
static int sample_labels(struct scrape *s, struct target *t, const struct gl_prom_sample *smp,
                         struct failure *f)
{
    struct gl_labelset *ls = &s->ls;
    gl_labelset_reset(ls);
    gl_labelset_add(ls, "__name__", 8, smp->name, smp->name_len);
    for (uint32_t i = 0; i < smp->n_labels; i++) {
        const struct gl_label *l = &smp->labels[i];
        if (gl_labelset_add(ls, l->name, l->name_len, l->value, l->value_len) < 0) {
            snprintf(f->detail, sizeof(f->detail), "label name \"%.*s\" is not unique: invalid "
                     "sample", CLIP(l->name, l->name_len));
            return GL_ELIMIT;
        }
    }
    attach_target(s, t, smp);
    if (!gl_relabel_apply(&s->metric_relabel, ls)) {
        return 0;
    }
    return check_labels(s, f) < 0 ? GL_ELIMIT : 1;
}

uint64_t append_hash(const struct gl_labelset *ls)
{
    uint64_t h = GL_HASH_FNV1A64_BASIS;
    for (uint32_t i = 0; i < ls->n; i++) {
        h = gl_hash_words64(h, ls->l[i].name, ls->l[i].name_len);
        h = gl_hash_words64(h, ls->l[i].value, ls->l[i].value_len);
    }
    return h;
}

/* ---- bodies ------------------------------------------------------------ */

/* One sample of a body: counted, labelled, checked, remembered, written. */
static int append_sample(struct scrape *s, struct target *t, const struct gl_prom_sample *smp,
                         struct append_result *r, bool *over, struct failure *f)
{
    int kept = sample_labels(s, t, smp, f);
    if (kept <= 0) {
        return kept;
    }
    uint64_t h = append_hash(&s->ls);
    if (seen_find(&s->cur, h) != NULL) {
        r->added++; /* a repeated series: Prometheus keeps the first value */
        return 0;
    }
    if (s->sample_limit > 0 && r->added >= (uint64_t)s->sample_limit) {
        *over = true;
    }
    r->added++;
    int64_t ts = s->honor_timestamps && smp->has_ts ? smp->ts_ms : 0;
    r->series_added += !*over && seen_find(&t->prev, h) == NULL;
    seen_add(&s->cur, h, smp, ts != 0 ? 0 : SEEN_STALE);
    if (*over) {
        return 0; /* the scrape fails; its samples are counted to the end, as Prometheus does */
    }
    if (family_add(s, smp->family, smp->role, &s->ls, ts, smp->value) < 0) {
        snprintf(f->detail, sizeof(f->detail), "a series of %.*s with more than %d labels",
                 CLIP(smp->name, smp->name_len), GL_LABELS_MAX);
        return GL_ELIMIT;
    }
    return 0;
}

int append_body(struct scrape *s, struct target *t, const char *body, size_t len,
                enum gl_prom_format format, struct append_result *r, struct failure *f)
{
    struct gl_prom_parser *ps = &s->parser;
    bool over = false;
    int rc;
    memset(r, 0, sizeof(*r));
    gl_prom_parser_reset(ps, body, len, format);
    while ((rc = gl_prom_parse_next(ps)) == 1) {
        r->total++;
        if (append_sample(s, t, &ps->sample, r, &over, f) < 0) {
            return GL_ELIMIT;
        }
    }
    if (rc < 0) {
        snprintf(f->detail, sizeof(f->detail), "%s (line %d)", ps->err, ps->line);
        return GL_EPARSE;
    }
    if (over) {
        snprintf(f->detail, sizeof(f->detail), "sample limit exceeded (%llu samples, limit %lld)",
                 (unsigned long long)r->added, (long long)s->sample_limit);
        return GL_ELIMIT;
    }
    *s->m.samples += r->added;
    return 0;
}

/* ---- staleness --------------------------------------------------------- */

uint64_t append_stale(struct scrape *s, struct target *t, const struct seen *cur, int64_t ts_ms)
{
    struct failure f;
    uint64_t n = 0;
    gl_buf_reset(&s->series_text);
    for (uint32_t i = 0; i < t->prev.n; i++) {
        const struct seen_entry *e = &t->prev.e[i];
        seen_text(&t->prev, i, &s->series_text);
        if (!(e->flags & SEEN_STALE) || (cur != NULL && seen_find(cur, e->hash) != NULL)) {
            continue;
        }
        struct gl_prom_parser *ps = &s->parser;
        if (gl_prom_parse_series(ps, s->series_text.data, s->series_text.len) < 0) {
            continue;
        }
        struct gl_prom_family fam = { .name = ps->sample.name, .type = e->type };
        fam.name_len = e->fam_len < ps->sample.name_len ? e->fam_len : ps->sample.name_len;
        ps->sample.family = &fam;
        ps->sample.role = (enum gl_prom_role)e->role;
        if (sample_labels(s, t, &ps->sample, &f) == 1 &&
            family_add(s, &fam, ps->sample.role, &s->ls, ts_ms, gl_metric_stale()) == 0) {
            n++;
        }
    }
    family_end(s);
    *s->m.stale_markers += n;
    return n;
}

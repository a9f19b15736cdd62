/*
 * Samples into batch families. Relabelling works on flat samples, as in
 * Prometheus (each _bucket line is one), so a histogram or summary is put
 * back together here: its samples are held until its family ends, grouped
 * by their labels without le (or quantile), and each group whose pieces
 * are all there -- _sum, _count and, for a histogram, a +Inf bucket, all at
 * one time, no bound written twice -- becomes one histogram or summary
 * series, its le and quantile texts kept as the target wrote them.
 *
 * What relabelling or the target left incomplete still reaches receivers
 * exactly as Prometheus stores it: each piece as an untyped series named
 * by its sample (h_bucket{le="0.5"}, h_sum), which remote-write sends with
 * the same labels and values as the whole histogram would have. Gauge
 * histograms, _created and samples renamed by relabelling are written the
 * same way; counters, gauges and untyped samples keep their family's type,
 * help and unit.
 *
 * Invariant: what is held lives in this file's own buffers (offsets, not
 * pointers, so they may grow); the caller's labels are borrowed only for
 * the call.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "in_prometheus_scrape.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

/* A string held in the arena. */
struct ref {
    uint32_t off;
    uint32_t len;
};

struct piece {
    uint8_t role;
    uint32_t group;
    struct ref name;             /* its final name */
    uint32_t labels;             /* its labels (without __name__, le, quantile) in refs */
    uint32_t n_labels;
    struct ref bound;            /* le or quantile as written; len 0 when absent */
    double bound_value;          /* NaN when absent or unreadable */
    int64_t ts;
    double value;
};

struct series_group {
    uint64_t hash;
    uint32_t first;              /* its first piece, whose labels are the group's */
    uint32_t sum, count;         /* piece index + 1, 0 while absent */
    uint32_t n_points;
    bool has_inf;
    bool bad;                    /* a piece that cannot be part of a whole series */
    bool complete;
};

struct scrape_family {
    struct gl_batch *b;
    struct gl_buf open_name;     /* the batch family open for single values */
    enum gl_metric_type open_type;
    bool open;
    /* the histogram or summary held */
    bool holding;
    enum gl_prom_type type;
    struct gl_buf name, help, unit;
    struct gl_buf arena;
    struct ref *refs;            /* label names and values, in pairs */
    uint32_t n_refs, cap_refs;
    struct piece *pieces;
    uint32_t n_pieces, cap_pieces;
    struct series_group *groups;
    uint32_t n_groups, cap_groups;
    uint32_t *slots;             /* groups by hash: index + 1 */
    uint32_t mask;
    uint32_t *order;             /* bucket or quantile pieces by group, then bound */
    struct gl_label labels[GL_LABELS_MAX];
    struct gl_bucket *buckets;
    uint32_t cap_buckets;
    struct gl_quantile *quantiles;
    uint32_t cap_quantiles;
};

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap) {
        return p;
    }
    uint32_t n = *cap ? *cap : 16;
    while (n < need) {
        n *= 2;
    }
    *cap = n;
    return gl_realloc(p, (size_t)n * size);
}

void family_init(struct scrape *s)
{
    struct scrape_family *f = gl_calloc(1, sizeof(*f));
    gl_buf_init(&f->open_name);
    gl_buf_init(&f->name);
    gl_buf_init(&f->help);
    gl_buf_init(&f->unit);
    gl_buf_init(&f->arena);
    s->fam = f;
}

void family_free(struct scrape *s)
{
    struct scrape_family *f = s->fam;
    if (f == NULL) {
        return;
    }
    gl_buf_close(&f->open_name);
    gl_buf_close(&f->name);
    gl_buf_close(&f->help);
    gl_buf_close(&f->unit);
    gl_buf_close(&f->arena);
    gl_free(f->refs);
    gl_free(f->pieces);
    gl_free(f->groups);
    gl_free(f->slots);
    gl_free(f->order);
    gl_free(f->buckets);
    gl_free(f->quantiles);
    gl_free(f);
    s->fam = NULL;
}

void family_begin(struct scrape *s, struct gl_batch *b)
{
    struct scrape_family *f = s->fam;
    f->b = b;
    f->open = false;
    f->holding = false;
}

static const char *at(const struct scrape_family *f, struct ref r)
{
    return f->arena.data + r.off;
}

static struct ref keep(struct scrape_family *f, const char *p, size_t n)
{
    struct ref r = { (uint32_t)f->arena.len, (uint32_t)n };
    gl_buf_append(&f->arena, p, n);
    return r;
}

/* ---- single values ------------------------------------------------------- */

/* Opens a batch family unless the one open has that name and type. */
static void open_family(struct scrape_family *f, const char *name, size_t len,
                        enum gl_metric_type type, const char *help, size_t help_len,
                        const char *unit, size_t unit_len)
{
    if (f->open && f->open_type == type && f->open_name.len == len &&
        memcmp(f->open_name.data, name, len) == 0) {
        return;
    }
    gl_batch_family(f->b, name, len, type, help, help_len, unit, unit_len);
    gl_buf_reset(&f->open_name);
    gl_buf_append(&f->open_name, name, len);
    f->open_type = type;
    f->open = true;
}

/* The labels of a set but __name__, into f->labels; returns how many, or -1 past the max. */
static int batch_labels(struct scrape_family *f, const struct gl_labelset *ls, const char **name,
                        size_t *name_len)
{
    int n = 0;
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct gl_label *l = &ls->l[i];
        if (l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0) {
            *name = l->value;
            *name_len = l->value_len;
            continue;
        }
        if (n == GL_LABELS_MAX) {
            return -1;
        }
        f->labels[n++] = *l;
    }
    return n;
}

static enum gl_metric_type single_type(enum gl_prom_type t)
{
    switch (t) {
    case GL_PROM_COUNTER:
        return GL_METRIC_COUNTER;
    case GL_PROM_GAUGE:
    case GL_PROM_INFO:
    case GL_PROM_STATESET:
        return GL_METRIC_GAUGE;
    default:
        return GL_METRIC_UNTYPED;
    }
}

/* A sample written at once: a counter, a gauge..., or a piece on its own (untyped). */
static int write_single(struct scrape_family *f, const struct gl_prom_family *fam, bool own,
                        const struct gl_labelset *ls, int64_t ts, double value)
{
    const char *name = "";
    size_t name_len = 0;
    int n = batch_labels(f, ls, &name, &name_len);
    if (n < 0) {
        return GL_ELIMIT;
    }
    if (own) {
        open_family(f, name, name_len, single_type(fam->type), fam->help, fam->help_len,
                    fam->unit, fam->unit_len);
    } else {
        open_family(f, name, name_len, GL_METRIC_UNTYPED, NULL, 0, NULL, 0);
    }
    gl_batch_sample(f->b, f->labels, (size_t)n, ts, value);
    return 0;
}

/* ---- holding a histogram or summary ------------------------------------- */

static const char *suffix_of(enum gl_prom_role role)
{
    static const char *const suffixes[] = { "", "_bucket", "_sum", "_count", "_created",
                                            "_gsum", "_gcount" };
    return suffixes[role];
}

/* Whether the sample is a piece of a whole series of its family, under its expected name. */
static bool holdable(const struct gl_prom_family *fam, enum gl_prom_role role, const char *name,
                     size_t len)
{
    bool hist = fam->type == GL_PROM_HISTOGRAM, summary = fam->type == GL_PROM_SUMMARY;
    if (!((hist && role == GL_PROM_BUCKET) || (summary && role == GL_PROM_PLAIN) ||
          ((hist || summary) && (role == GL_PROM_SUM || role == GL_PROM_COUNT)))) {
        return false;
    }
    const char *sfx = suffix_of(role);
    size_t k = strlen(sfx);
    return len == fam->name_len + k && memcmp(name, fam->name, fam->name_len) == 0 &&
           memcmp(name + fam->name_len, sfx, k) == 0;
}

static bool same_held(const struct scrape_family *f, const struct gl_prom_family *fam)
{
    return f->holding && f->type == fam->type && f->name.len == fam->name_len &&
           memcmp(f->name.data, fam->name, fam->name_len) == 0;
}

/* Empties the groups' table: only the slots in use, as the table may be large. */
static void clear_groups(struct scrape_family *f)
{
    for (uint32_t g = 0; g < f->n_groups; g++) {
        uint32_t i = (uint32_t)f->groups[g].hash & f->mask;
        while (f->slots[i] != g + 1) {
            i = (i + 1) & f->mask;
        }
        f->slots[i] = 0;
    }
    f->n_groups = 0;
}

static void hold_family(struct scrape_family *f, const struct gl_prom_family *fam)
{
    f->holding = true;
    f->type = fam->type;
    gl_buf_reset(&f->name);
    gl_buf_append(&f->name, fam->name, fam->name_len);
    gl_buf_reset(&f->help);
    gl_buf_append(&f->help, fam->help, fam->help_len);
    gl_buf_reset(&f->unit);
    gl_buf_append(&f->unit, fam->unit, fam->unit_len);
    gl_buf_reset(&f->arena);
    clear_groups(f);
    f->n_refs = f->n_pieces = 0;
}

/* The group of a piece's labels, made when new. */
static uint32_t group_of(struct scrape_family *f, uint64_t h, uint32_t piece)
{
    const struct piece *p = &f->pieces[piece];
    if (f->n_groups * 2 >= f->mask) {
        uint32_t n = f->mask ? (f->mask + 1) * 2 : 64;
        f->slots = gl_realloc(f->slots, n * sizeof(*f->slots));
        memset(f->slots, 0, n * sizeof(*f->slots));
        f->mask = n - 1;
        for (uint32_t g = 0; g < f->n_groups; g++) {
            uint32_t i = (uint32_t)f->groups[g].hash & f->mask;
            while (f->slots[i] != 0) {
                i = (i + 1) & f->mask;
            }
            f->slots[i] = g + 1;
        }
    }
    for (uint32_t i = (uint32_t)h & f->mask;; i = (i + 1) & f->mask) {
        if (f->slots[i] == 0) {
            f->groups = grow(f->groups, &f->cap_groups, f->n_groups + 1, sizeof(*f->groups));
            f->groups[f->n_groups] = (struct series_group){ .hash = h, .first = piece };
            f->slots[i] = ++f->n_groups;
            return f->n_groups - 1;
        }
        const struct series_group *g = &f->groups[f->slots[i] - 1];
        const struct piece *q = &f->pieces[g->first];
        if (g->hash == h && q->n_labels == p->n_labels) {
            bool same = true;
            for (uint32_t k = 0; k < 2 * p->n_labels && same; k++) {
                struct ref a = f->refs[q->labels + k], b = f->refs[p->labels + k];
                same = a.len == b.len && memcmp(at(f, a), at(f, b), a.len) == 0;
            }
            if (same) {
                return f->slots[i] - 1;
            }
        }
    }
}

/* Keeps a piece's labels but __name__ and its bound; returns their hash. */
static uint64_t keep_labels(struct scrape_family *f, struct piece *p, const struct gl_labelset *ls,
                            const char *bound_name)
{
    uint64_t h = GL_HASH_FNV1A64_BASIS;
    p->labels = f->n_refs;
    p->n_labels = 0;
    p->bound = (struct ref){ 0, 0 };
    for (uint32_t i = 0; i < ls->n; i++) {
        const struct gl_label *l = &ls->l[i];
        if (l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0) {
            continue;
        }
        if (bound_name != NULL && l->name_len == strlen(bound_name) &&
            memcmp(l->name, bound_name, l->name_len) == 0) {
            p->bound = keep(f, l->value, l->value_len);
            continue;
        }
        f->refs = grow(f->refs, &f->cap_refs, f->n_refs + 2, sizeof(*f->refs));
        f->refs[f->n_refs++] = keep(f, l->name, l->name_len);
        f->refs[f->n_refs++] = keep(f, l->value, l->value_len);
        p->n_labels++;
        h = gl_hash_words64(h, l->name, l->name_len);
        h = gl_hash_words64(h, l->value, l->value_len);
    }
    return h;
}

/* Records what a piece brings to its group. */
static void count_piece(struct scrape_family *f, uint32_t idx)
{
    struct piece *p = &f->pieces[idx];
    struct series_group *g = &f->groups[p->group];
    const struct piece *first = &f->pieces[g->first];
    if (p->ts != first->ts) {
        g->bad = true; /* pieces of one series at different times: not one series */
    }
    if (p->role == GL_PROM_SUM || p->role == GL_PROM_COUNT) {
        uint32_t *slot = p->role == GL_PROM_SUM ? &g->sum : &g->count;
        g->bad |= *slot != 0;
        *slot = idx + 1;
        return;
    }
    if (p->bound.len == 0 ||
        gl_prom_parse_float(at(f, p->bound), p->bound.len, &p->bound_value) < 0) {
        g->bad = true;
        p->bound_value = NAN;
        return;
    }
    g->has_inf |= isinf(p->bound_value) && p->bound_value > 0;
    g->n_points++;
}

static int hold(struct scrape_family *f, enum gl_prom_role role, const struct gl_labelset *ls,
                const char *name, size_t name_len, int64_t ts, double value)
{
    const char *bound = role == GL_PROM_BUCKET ? "le" : role == GL_PROM_PLAIN ? "quantile" : NULL;
    if (ls->n > GL_LABELS_MAX + 1) {
        return GL_ELIMIT;
    }
    f->pieces = grow(f->pieces, &f->cap_pieces, f->n_pieces + 1, sizeof(*f->pieces));
    uint32_t idx = f->n_pieces++;
    struct piece *p = &f->pieces[idx];
    *p = (struct piece){ .role = (uint8_t)role, .ts = ts, .value = value };
    p->name = keep(f, name, name_len);
    uint64_t h = keep_labels(f, p, ls, bound);
    p->group = group_of(f, h, idx);
    count_piece(f, idx);
    return 0;
}

/* ---- writing what is held ------------------------------------------------ */

/* Bucket and quantile pieces by group, then histograms' by le (summaries keep their order). */
static int by_group_bound(const void *a, const void *b, void *ctx)
{
    const struct scrape_family *f = ctx;
    const struct piece *p = &f->pieces[*(const uint32_t *)a];
    const struct piece *q = &f->pieces[*(const uint32_t *)b];
    if (p->group != q->group) {
        return p->group < q->group ? -1 : 1;
    }
    if (f->type == GL_PROM_HISTOGRAM && p->bound_value != q->bound_value) {
        return p->bound_value < q->bound_value ? -1 : 1;
    }
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Sorts the point pieces; marks groups whose points repeat a bound. Returns how many. */
static uint32_t sort_points(struct scrape_family *f)
{
    uint32_t n = 0;
    f->order = gl_realloc(f->order, (f->n_pieces + 1) * sizeof(*f->order));
    for (uint32_t i = 0; i < f->n_pieces; i++) {
        uint8_t r = f->pieces[i].role;
        if (r != GL_PROM_SUM && r != GL_PROM_COUNT) {
            f->order[n++] = i;
        }
    }
    qsort_r(f->order, n, sizeof(*f->order), by_group_bound, f);
    for (uint32_t i = 1; i < n; i++) {
        const struct piece *p = &f->pieces[f->order[i - 1]], *q = &f->pieces[f->order[i]];
        if (p->group == q->group && p->bound_value == q->bound_value) {
            f->groups[p->group].bad = true;
        }
    }
    return n;
}

static void judge_groups(struct scrape_family *f)
{
    bool hist = f->type == GL_PROM_HISTOGRAM;
    for (uint32_t i = 0; i < f->n_groups; i++) {
        struct series_group *g = &f->groups[i];
        g->complete = !g->bad && g->sum != 0 && g->count != 0 &&
                      (!hist || (g->n_points > 0 && g->has_inf));
    }
}

/* The group's labels as batch labels (into f->labels). */
static uint32_t group_labels(struct scrape_family *f, const struct series_group *g)
{
    const struct piece *p = &f->pieces[g->first];
    for (uint32_t k = 0; k < p->n_labels; k++) {
        struct ref n = f->refs[p->labels + 2 * k], v = f->refs[p->labels + 2 * k + 1];
        f->labels[k] = (struct gl_label){ at(f, n), n.len, at(f, v), v.len };
    }
    return p->n_labels;
}

/* Writes one whole series: its points are order[from, from + g->n_points). */
static void write_whole(struct scrape_family *f, const struct series_group *g, uint32_t from)
{
    uint32_t n = group_labels(f, g);
    const struct piece *sum = &f->pieces[g->sum - 1], *count = &f->pieces[g->count - 1];
    if (f->type == GL_PROM_HISTOGRAM) {
        f->buckets = grow(f->buckets, &f->cap_buckets, g->n_points, sizeof(*f->buckets));
        for (uint32_t k = 0; k < g->n_points; k++) {
            const struct piece *p = &f->pieces[f->order[from + k]];
            f->buckets[k] = (struct gl_bucket){ p->bound_value, p->value, at(f, p->bound),
                                                p->bound.len };
        }
        gl_batch_histogram(f->b, f->labels, n, sum->ts, f->buckets, g->n_points, sum->value,
                           count->value);
        return;
    }
    f->quantiles = grow(f->quantiles, &f->cap_quantiles, g->n_points + 1, sizeof(*f->quantiles));
    for (uint32_t k = 0; k < g->n_points; k++) {
        const struct piece *p = &f->pieces[f->order[from + k]];
        f->quantiles[k] = (struct gl_quantile){ p->bound_value, p->value, at(f, p->bound),
                                                p->bound.len };
    }
    gl_batch_summary(f->b, f->labels, n, sum->ts, f->quantiles, g->n_points, sum->value,
                     count->value);
}

/* Writes a piece on its own, untyped under its name. */
static void write_piece(struct scrape_family *f, const struct piece *p)
{
    uint32_t n = group_labels(f, &f->groups[p->group]);
    if (p->bound.len > 0 && n < GL_LABELS_MAX) {
        const char *bn = p->role == GL_PROM_BUCKET ? "le" : "quantile";
        f->labels[n++] = (struct gl_label){ bn, (uint32_t)strlen(bn), at(f, p->bound),
                                            p->bound.len };
    }
    open_family(f, at(f, p->name), p->name.len, GL_METRIC_UNTYPED, NULL, 0, NULL, 0);
    gl_batch_sample(f->b, f->labels, n, p->ts, p->value);
}

/* Opens the batch family of the whole series held, once. */
static void open_whole(struct scrape_family *f, bool *opened)
{
    if (*opened) {
        return;
    }
    gl_batch_family(f->b, f->name.data, f->name.len,
                    f->type == GL_PROM_HISTOGRAM ? GL_METRIC_HISTOGRAM : GL_METRIC_SUMMARY,
                    f->help.data, f->help.len, f->unit.data, f->unit.len);
    f->open = false;
    *opened = true;
}

/* Writes the family held: its whole series, then every piece of the others. */
static void flush(struct scrape_family *f)
{
    if (!f->holding) {
        return;
    }
    f->holding = false;
    uint32_t n = sort_points(f);
    judge_groups(f);
    bool opened = false;
    for (uint32_t i = 0; i < n;) {
        uint32_t gi = f->pieces[f->order[i]].group, run = 1;
        while (i + run < n && f->pieces[f->order[i + run]].group == gi) {
            run++;
        }
        if (f->groups[gi].complete) {
            open_whole(f, &opened);
            write_whole(f, &f->groups[gi], i);
        }
        i += run;
    }
    for (uint32_t i = 0; i < f->n_groups; i++) {
        const struct series_group *g = &f->groups[i];
        if (g->complete && g->n_points == 0) {
            open_whole(f, &opened);
            write_whole(f, g, 0); /* a summary without quantiles */
        }
    }
    for (uint32_t i = 0; i < f->n_pieces; i++) {
        if (!f->groups[f->pieces[i].group].complete) {
            write_piece(f, &f->pieces[i]);
        }
    }
}

int family_add(struct scrape *s, const struct gl_prom_family *fam, enum gl_prom_role role,
               const struct gl_labelset *ls, int64_t ts_ms, double value)
{
    struct scrape_family *f = s->fam;
    const struct gl_label *nl = gl_labelset_get(ls, "__name__", 8);
    const char *name = nl != NULL ? nl->value : "";
    size_t name_len = nl != NULL ? nl->value_len : 0;
    if (!same_held(f, fam)) {
        flush(f);
    }
    if (holdable(fam, role, name, name_len)) {
        if (!f->holding) {
            hold_family(f, fam);
        }
        return hold(f, role, ls, name, name_len, ts_ms, value);
    }
    /* The family's own sample keeps its type; the name may have gained _total or _info. */
    bool own = role == GL_PROM_PLAIN && fam->type != GL_PROM_HISTOGRAM &&
               fam->type != GL_PROM_SUMMARY && fam->type != GL_PROM_GAUGEHISTOGRAM &&
               name_len >= fam->name_len && memcmp(name, fam->name, fam->name_len) == 0 &&
               (name_len == fam->name_len ||
                (name_len == fam->name_len + 6 && memcmp(name + fam->name_len, "_total", 6) == 0) ||
                (name_len == fam->name_len + 5 && memcmp(name + fam->name_len, "_info", 5) == 0));
    return write_single(f, fam, own, ls, ts_ms, value);
}

void family_end(struct scrape *s)
{
    flush(s->fam);
}

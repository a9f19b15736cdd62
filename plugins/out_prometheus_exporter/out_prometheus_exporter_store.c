/*
 * The exporter's store: the latest value of each series, kept as the
 * series' own batch bytes (labels, time, value) so that rendering reads it
 * back with the batch reader and writes it with the one exposition writer.
 * Two hash tables (series by family and labels, families by name) and a
 * list per family for the order of output.
 * Invariant: a family is listed while it has series; an empty family is
 * removed with its last series, so no TYPE line ever comes without samples.
 */
#include <string.h>

#include "core/chunk.h"
#include "out_prometheus_exporter.h"
#include "util/hash.h"
#include "util/mem.h"

struct pe_family {
    char *name;
    uint32_t name_len;
    enum gl_metric_type type;
    char *help;
    uint32_t help_len;
    char *unit;
    uint32_t unit_len;
    uint64_t hash;
    struct pe_series *first;
    struct pe_series *last;
    struct pe_family *prev;        /* arrival order */
    struct pe_family *next;
    struct pe_family *hnext;       /* hash chain */
};

struct pe_series {
    uint64_t hash;
    struct pe_family *fam;
    char *raw;                     /* the series' batch bytes */
    uint32_t raw_len;
    uint32_t labels_off;
    uint32_t labels_len;
    int64_t ts_ms;                 /* the batch's time, for a series that has none */
    uint64_t seen_ms;
    struct pe_series *prev;        /* the family's order */
    struct pe_series *next;
    struct pe_series *hnext;       /* hash chain */
};

void pe_store_init(struct pe_store *st, size_t limit)
{
    memset(st, 0, sizeof(*st));
    st->limit = limit;
    st->n_buckets = 1024;
    st->buckets = gl_calloc(st->n_buckets, sizeof(*st->buckets));
    st->n_fbuckets = 256;
    st->fbuckets = gl_calloc(st->n_fbuckets, sizeof(*st->fbuckets));
}

static void family_free(struct pe_family *f)
{
    gl_free(f->name);
    gl_free(f->help);
    gl_free(f->unit);
    gl_free(f);
}

void pe_store_close(struct pe_store *st)
{
    for (size_t i = 0; i < st->n_buckets; i++) {
        for (struct pe_series *s = st->buckets[i], *next; s != NULL; s = next) {
            next = s->hnext;
            gl_free(s->raw);
            gl_free(s);
        }
    }
    for (struct pe_family *f = st->families, *next; f != NULL; f = next) {
        next = f->next;
        family_free(f);
    }
    gl_free(st->buckets);
    gl_free(st->fbuckets);
    memset(st, 0, sizeof(*st));
}

/* ---- families ------------------------------------------------------------ */

static char *copy(const char *s, uint32_t n)
{
    return gl_strndup(n > 0 ? s : "", n);
}

static struct pe_family *family_get(struct pe_store *st, const struct gl_family *g)
{
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, g->name, g->name_len);
    struct pe_family **slot = &st->fbuckets[h & (st->n_fbuckets - 1)];
    for (struct pe_family *f = *slot; f != NULL; f = f->hnext) {
        if (f->hash == h && f->name_len == g->name_len &&
            memcmp(f->name, g->name, g->name_len) == 0) {
            return f;
        }
    }
    struct pe_family *f = gl_calloc(1, sizeof(*f));
    f->name = copy(g->name, g->name_len);
    f->name_len = g->name_len;
    f->type = g->type;
    f->hash = h;
    f->hnext = *slot;
    *slot = f;
    f->prev = st->last_family;
    if (st->last_family != NULL) {
        st->last_family->next = f;
    } else {
        st->families = f;
    }
    st->last_family = f;
    return f;
}

/* The latest help and unit win: a source that fixed its HELP text is believed. */
static void family_describe(struct pe_family *f, const struct gl_family *g)
{
    if (f->help == NULL || f->help_len != g->help_len ||
        memcmp(f->help, g->help, g->help_len) != 0) {
        gl_free(f->help);
        f->help = copy(g->help, g->help_len);
        f->help_len = g->help_len;
    }
    if (f->unit == NULL || f->unit_len != g->unit_len ||
        memcmp(f->unit, g->unit, g->unit_len) != 0) {
        gl_free(f->unit);
        f->unit = copy(g->unit, g->unit_len);
        f->unit_len = g->unit_len;
    }
}

static void family_remove(struct pe_store *st, struct pe_family *f)
{
    struct pe_family **pp = &st->fbuckets[f->hash & (st->n_fbuckets - 1)];
    while (*pp != f) {
        pp = &(*pp)->hnext;
    }
    *pp = f->hnext;
    if (f->prev != NULL) {
        f->prev->next = f->next;
    } else {
        st->families = f->next;
    }
    if (f->next != NULL) {
        f->next->prev = f->prev;
    } else {
        st->last_family = f->prev;
    }
    family_free(f);
}

/* ---- series (a family left empty is removed by the caller, once done with it) ---- */

static uint64_t series_hash(const struct pe_family *f, const struct gl_series *s)
{
    return gl_hash_fnv1a64(f->hash, s->labels, s->labels_len);
}

static struct pe_series **series_slot(struct pe_store *st, uint64_t h)
{
    return &st->buckets[h & (st->n_buckets - 1)];
}

static struct pe_series *series_find(struct pe_store *st, const struct pe_family *f,
                                     const struct gl_series *s, uint64_t h)
{
    for (struct pe_series *e = *series_slot(st, h); e != NULL; e = e->hnext) {
        if (e->hash == h && e->fam == f && e->labels_len == s->labels_len &&
            memcmp(e->raw + e->labels_off, s->labels, s->labels_len) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Doubles the series table when it is as full as it is long. */
static void grow(struct pe_store *st)
{
    size_t n = st->n_buckets * 2;
    struct pe_series **b = gl_calloc(n, sizeof(*b));
    for (size_t i = 0; i < st->n_buckets; i++) {
        for (struct pe_series *e = st->buckets[i], *next; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    gl_free(st->buckets);
    st->buckets = b;
    st->n_buckets = n;
}

static void series_set(struct pe_series *e, const struct gl_series *s, int64_t batch_ts,
                       uint64_t now_ms)
{
    if (e->raw_len != s->raw_len) {
        e->raw = gl_realloc(e->raw, s->raw_len);
        e->raw_len = (uint32_t)s->raw_len;
    }
    memcpy(e->raw, s->raw, s->raw_len);
    e->labels_off = (uint32_t)s->labels_off;
    e->labels_len = (uint32_t)s->labels_len;
    e->ts_ms = batch_ts;
    e->seen_ms = now_ms;
}

static struct pe_series *series_add(struct pe_store *st, struct pe_family *f, uint64_t h)
{
    if (st->n_series >= st->n_buckets) {
        grow(st);
    }
    struct pe_series *e = gl_calloc(1, sizeof(*e));
    e->hash = h;
    e->fam = f;
    e->hnext = *series_slot(st, h);
    *series_slot(st, h) = e;
    e->prev = f->last;
    if (f->last != NULL) {
        f->last->next = e;
    } else {
        f->first = e;
    }
    f->last = e;
    st->n_series++;
    return e;
}

static void series_remove(struct pe_store *st, struct pe_series *e)
{
    struct pe_series **pp = series_slot(st, e->hash);
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    struct pe_family *f = e->fam;
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        f->first = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        f->last = e->prev;
    }
    gl_free(e->raw);
    gl_free(e);
    st->n_series--;
}

/* Takes one series of family f; returns false when it is refused. */
static bool take(struct pe_store *st, struct pe_family *f, const struct gl_family *g,
                 const struct gl_series *s, uint64_t now_ms)
{
    if (f->type != g->type) {
        st->refused_type++;
        return false;
    }
    uint64_t h = series_hash(f, s);
    struct pe_series *e = series_find(st, f, s, h);
    /* A histogram or summary that went comes as one whose pieces are all markers. */
    bool scalar = g->type != GL_METRIC_HISTOGRAM && g->type != GL_METRIC_SUMMARY;
    if (gl_metric_is_stale(scalar ? s->value : s->count)) {
        if (e != NULL) {
            series_remove(st, e);
        }
        return true;
    }
    if (e == NULL) {
        if (st->n_series >= st->limit) {
            st->refused_limit++;
            return false;
        }
        e = series_add(st, f, h);
    }
    series_set(e, s, g->batch_ts_ms, now_ms);
    return true;
}

uint32_t pe_store_update(struct pe_store *st, const struct gl_chunk *c, uint64_t now_ms)
{
    struct gl_batch_iter it;
    struct gl_family g;
    struct gl_series s;
    uint32_t refused = 0;
    gl_batch_iter_init(&it, c);
    while (gl_batch_next_family(&it, &g) == 0) {
        struct pe_family *f = family_get(st, &g);
        if (f->type == g.type) {
            family_describe(f, &g);
        }
        while (gl_batch_next_series(&it, &s) == 0) {
            refused += !take(st, f, &g, &s, now_ms);
        }
        if (f->first == NULL) {
            family_remove(st, f); /* only stale markers, or refused */
        }
    }
    return refused;
}

size_t pe_store_expire(struct pe_store *st, uint64_t now_ms, uint64_t ttl_ms)
{
    size_t n = 0;
    for (struct pe_family *f = st->families, *next_f; f != NULL; f = next_f) {
        next_f = f->next;
        for (struct pe_series *e = f->first, *next; e != NULL; e = next) {
            next = e->next;
            if (e->seen_ms + ttl_ms < now_ms) {
                series_remove(st, e);
                n++;
            }
        }
        if (f->first == NULL) {
            family_remove(st, f);
        }
    }
    return n;
}

void pe_store_render(const struct pe_store *st, struct gl_buf *out, enum gl_prom_format f,
                     const struct gl_label *extra, size_t n_extra, bool timestamps)
{
    for (const struct pe_family *fam = st->families; fam != NULL; fam = fam->next) {
        struct gl_family g = {
            .name = fam->name, .name_len = fam->name_len, .type = fam->type,
            .help = fam->help, .help_len = fam->help_len,
            .unit = fam->unit, .unit_len = fam->unit_len,
        };
        gl_prom_family(out, &g, f);
        for (const struct pe_series *e = fam->first; e != NULL; e = e->next) {
            struct gl_series s;
            if (gl_batch_read_series(e->raw, e->raw_len, fam->type, e->ts_ms, &s) == 0) {
                gl_prom_series(out, &g, &s, extra, n_extra, timestamps, f);
            }
        }
    }
    if (f == GL_PROM_OPENMETRICS) {
        gl_buf_puts(out, "# EOF\n");
    }
}

/*
 * The kubernetes filter over a whole chunk. A chunk's records come from one
 * container log, so nearly all of them carry the same `kubernetes` map (the
 * tail input's names of the pod). The first record of such a run goes
 * through the per-record filter; when its outcome depends on nothing but
 * that map (enriched with the pod's shared value and nothing merged, or
 * excluded by a hint), every following record with the same map bytes is
 * handled as bytes: copied with a reference to the shared value in place of
 * its map, or dropped. Unpacking each record with msgpack-c cost more than
 * the whole tail input did.
 */
#include <string.h>

#include "codec/msgpack_scan.h"
#include "codec/shared.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/plugin.h"
#include "filter_kubernetes.h"

/* Where the parts of a record [ts, meta, body] are, as offsets from its start. */
struct rec_span {
    size_t len;
    size_t body_at;      /* the body's map header */
    size_t body_head;    /* its length */
    uint32_t pairs;
    size_t kube_at;      /* the value of `kubernetes`, 0 when the body has none */
    size_t kube_len;
    bool kube_twice;     /* a body with two `kubernetes` keys: the per-record filter decides */
    bool kube_same;      /* its value is the bytes `want` given to scan_record */
};

/*
 * Finds the parts of the record at p. The `kubernetes` value is compared
 * with want first: a msgpack object is self-delimiting, so when the bytes
 * match, the value is exactly want and need not be walked.
 */
static bool scan_record(const char *p, size_t n, const char *want, size_t want_len,
                        struct rec_span *sp)
{
    memset(sp, 0, sizeof(*sp));
    if (n < 1 || (unsigned char)p[0] != 0x93) {
        return false;
    }
    size_t off = 1;
    for (int i = 0; i < 2; i++) { /* ts, meta */
        size_t len = gl_msgpack_skip(p + off, n - off);
        if (len == 0) {
            return false;
        }
        off += len;
    }
    sp->body_at = off;
    sp->body_head = gl_msgpack_map_header(p + off, n - off, &sp->pairs);
    if (sp->body_head == 0) {
        return false;
    }
    off += sp->body_head;
    for (uint32_t i = 0; i < sp->pairs; i++) {
        uint32_t klen;
        size_t kh = gl_msgpack_str_header(p + off, n - off, &klen);
        size_t key = gl_msgpack_skip(p + off, n - off);
        if (key == 0) {
            return false;
        }
        bool is_kube = kh > 0 && klen == 10 && memcmp(p + off + kh, "kubernetes", 10) == 0;
        off += key;
        bool same = is_kube && want_len > 0 && want_len <= n - off &&
                    memcmp(p + off, want, want_len) == 0;
        size_t val = same ? want_len : gl_msgpack_skip(p + off, n - off);
        if (val == 0) {
            return false;
        }
        if (is_kube) {
            sp->kube_same = same;
            sp->kube_twice = sp->kube_at != 0;
            sp->kube_at = off;
            sp->kube_len = val;
        }
        off += val;
    }
    sp->len = off;
    return true;
}

/* Writes the record with the reference in place of its own map (or after its keys). */
static void write_ref(struct gl_buf *out, const char *rec, const struct rec_span *sp,
                      const char ref[GL_SHARED_REF_SIZE])
{
    gl_buf_reserve(out, sp->len + 16 + GL_SHARED_REF_SIZE);
    char *w = out->data + out->len;
    if (sp->kube_at != 0) {
        size_t tail = sp->len - sp->kube_at - sp->kube_len;
        memcpy(w, rec, sp->kube_at);
        w += sp->kube_at;
        memcpy(w, ref, GL_SHARED_REF_SIZE);
        w += GL_SHARED_REF_SIZE;
        memcpy(w, rec + sp->kube_at + sp->kube_len, tail);
        w += tail;
    } else {
        uint32_t n = sp->pairs + 1;
        char head[5] = { (char)0xdf, (char)(n >> 24), (char)(n >> 16), (char)(n >> 8), (char)n };
        size_t pairs = sp->len - sp->body_at - sp->body_head;
        memcpy(w, rec, sp->body_at);
        w += sp->body_at;
        memcpy(w, head, sizeof(head));
        w += sizeof(head);
        memcpy(w, rec + sp->body_at + sp->body_head, pairs);
        w += pairs;
        memcpy(w, "\xaa" "kubernetes", 11);
        w += 11;
        memcpy(w, ref, GL_SHARED_REF_SIZE);
        w += GL_SHARED_REF_SIZE;
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
}

/* The per-record filter on the record at off; fills run. Returns the record's length, 0 if bad. */
static size_t filter_one(struct kube *k, const struct gl_chunk *c, size_t off, uint32_t index,
                         struct gl_chunk *out, struct kube_run *run, uint32_t *kept,
                         bool *changed)
{
    struct gl_record rec;
    struct gl_event ev;
    size_t end = off;
    if (gl_record_read(&k->rec_up, c->data.data, c->data.len, &end, &rec) != 0) {
        return 0;
    }
    rec.tag = c->tag;
    rec.tag_len = c->tag_len;
    rec.index = index;
    size_t at = out->data.len;
    gl__event_begin_buf(&ev, &out->data, rec.ts);
    gl__event_meta(&ev, rec.meta);
    ev.shared = &out->shared;
    enum gl_filter_result r = kube_filter_record(k, &rec, &ev, run);
    *changed |= r != GL_FILTER_KEEP;
    switch (r) {
    case GL_FILTER_MODIFIED:
        gl__event_finish(&ev);
        (*kept)++;
        break;
    case GL_FILTER_KEEP:
        out->data.len = at;
        gl_buf_append(&out->data, rec.raw, rec.raw_len);
        (*kept)++;
        break;
    case GL_FILTER_DROP:
        out->data.len = at;
        break;
    }
    return end - off;
}

enum gl_filter_result kube_filter_chunk(struct gl_instance *ins, const struct gl_chunk *c,
                                        struct gl_chunk *out)
{
    struct kube *k = ins->state;
    struct kube_run run = { KUBE_RUN_NONE, NULL };
    const char *run_map = NULL;   /* the map bytes of the run's first record */
    size_t run_map_len = 0;
    char ref[GL_SHARED_REF_SIZE];
    uint32_t kept = 0;
    bool changed = false;         /* a record was rewritten or dropped */
    const char *data = c->data.data;
    gl_buf_reserve(&out->data, c->data.len);
    for (size_t off = 0, index = 0; off < c->data.len; index++) {
        struct rec_span sp;
        if (!scan_record(data + off, c->data.len - off, run_map, run_map_len, &sp)) {
            break; /* not a record: the rest of the chunk is skipped, as by the iterator */
        }
        const char *map = sp.kube_at ? data + off + sp.kube_at : NULL;
        if (run.what != KUBE_RUN_NONE && !sp.kube_twice &&
            (sp.kube_same || (run_map_len == 0 && sp.kube_at == 0))) {
            if (run.what == KUBE_RUN_REF) {
                write_ref(&out->data, data + off, &sp, ref);
                (*k->m_enriched)++;
                kept++;
            } else {
                (*k->m_excluded)++;
            }
            off += sp.len;
            continue;
        }
        size_t len = filter_one(k, c, off, (uint32_t)index, out, &run, &kept, &changed);
        if (len == 0) {
            break;
        }
        if (sp.kube_twice) {
            run.what = KUBE_RUN_NONE;
        }
        if (run.what == KUBE_RUN_REF) {
            gl_shared_ref_bytes(run.blob, ref);
        }
        run_map = map;
        run_map_len = sp.kube_len;
        off += len;
    }
    out->records = kept;
    /* Records of no pod (another tag) pass as they are: the copy is not needed. */
    return changed ? GL_FILTER_MODIFIED : GL_FILTER_KEEP;
}

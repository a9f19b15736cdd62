/*
 * The parsers of the pod cache's outside input: the watch stream's framing
 * (newline-delimited events in pieces cut anywhere), watch events, and Pod
 * objects. Objects are read with the project's JSON reader into msgpack and
 * navigated there; a pod keeps only what enrichment needs (names, ids, owner,
 * containers) plus its labels and annotations packed as msgpack maps, ready
 * to copy into records.
 *
 * Invariant: nothing here trusts the input's shape; a missing or mistyped
 * field is absent (NULL), never a crash, and a frame is bounded by its max.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s/pods_private.h"
#include "util/error.h"
#include "util/mem.h"

#define LINE_KEEP (64 * 1024) /* a frame buffer grown past this is released after use */

/* ---- framing ---- */

void gl__frames_init(struct gl__frames *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    gl_buf_init(&f->line);
    f->max = max;
}

void gl__frames_close(struct gl__frames *f)
{
    gl_buf_close(&f->line);
}

void gl__frames_reset(struct gl__frames *f)
{
    if (f->line.cap > LINE_KEEP) {
        gl_buf_close(&f->line);
        gl_buf_init(&f->line);
    }
    gl_buf_reset(&f->line);
    f->skipping = false;
}

/*
 * Takes the part of a frame up to a newline (nl) or the end of the piece.
 * Returns what cb returned for a completed frame, else 0. A frame over max is
 * counted once and dropped up to its newline.
 */
static int take(struct gl__frames *f, const char *p, size_t n, bool nl, gl__frame_cb cb,
                void *data)
{
    int rc = 0;

    if (f->skipping) {
        f->skipping = !nl;
        return 0;
    }
    if (n > f->max - f->line.len) {
        f->oversized++;
        gl__frames_reset(f);
        f->skipping = !nl;
        return 0;
    }
    if (!nl) {
        gl_buf_append(&f->line, p, n);
        return 0;
    }
    if (f->line.len == 0) {
        return cb(data, p, n); /* whole in this piece: no copy */
    }
    gl_buf_append(&f->line, p, n);
    rc = cb(data, f->line.data, f->line.len);
    gl__frames_reset(f);
    return rc;
}

/*
 * Feeds a piece of the stream: every frame completed by it goes to cb, in
 * order. Returns 0, or the first non-zero cb returned (the rest of the piece
 * is then left unread).
 */
int gl__frames_feed(struct gl__frames *f, const char *p, size_t len, gl__frame_cb cb,
                    void *data)
{
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - p) : len;
        int rc = take(f, p, n, nl != NULL, cb, data);
        if (rc != 0) {
            return rc;
        }
        if (nl == NULL) {
            break;
        }
        p += n + 1;
        len -= n + 1;
    }
    return 0;
}

/* ---- helpers ---- */

const msgpack_object *gl__pods_path(const msgpack_object *obj, const char *a, const char *b)
{
    const msgpack_object *o = gl_json_map_get(obj, a);
    return b != NULL ? gl_json_map_get(o, b) : o;
}

static bool is_str(const msgpack_object *o)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR;
}

static bool str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return is_str(o) && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

/* A copy of a string value, or NULL when o is not a string. */
static char *dup_str(const msgpack_object *o)
{
    return is_str(o) ? gl_strndup(o->via.str.ptr, o->via.str.size) : NULL;
}

static uint32_t array_size(const msgpack_object *o)
{
    return o != NULL && o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 0;
}

void gl__pods_pack_map(msgpack_sbuffer *sb, const msgpack_object *o)
{
    msgpack_packer pk;

    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (o != NULL && o->type == MSGPACK_OBJECT_MAP) {
        msgpack_pack_object(&pk, *o);
    } else {
        msgpack_pack_map(&pk, 0);
    }
    /* The packer starts at 8 KiB; a cache of pods keeps only what it needs. */
    sb->data = gl_realloc(sb->data, sb->size);
    sb->alloc = sb->size;
}

/* ---- events ---- */

static const char *const event_names[] = {
    [GL__EV_ADDED] = "ADDED", [GL__EV_MODIFIED] = "MODIFIED", [GL__EV_DELETED] = "DELETED",
    [GL__EV_BOOKMARK] = "BOOKMARK", [GL__EV_ERROR] = "ERROR",
};

/* True when the line holds nothing but whitespace (a keep-alive newline, a CR). */
static bool blank(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
            return false;
        }
    }
    return true;
}

int gl__pods_event_parse(struct gl_json_doc *doc, const char *p, size_t len,
                         enum gl__event *type, const msgpack_object **object)
{
    if (blank(p, len)) {
        memset(doc, 0, sizeof(*doc));
        msgpack_sbuffer_init(&doc->sbuf);
        msgpack_unpacked_init(&doc->unpacked);
        return GL_EAGAIN;
    }
    if (gl_json_doc_parse(doc, p, len, NULL) < 0) {
        return GL_EPARSE;
    }
    const msgpack_object *t = gl_json_map_get(&doc->root, "type");
    const msgpack_object *o = gl_json_map_get(&doc->root, "object");
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP) {
        return GL_EPARSE;
    }
    for (size_t i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
        if (str_is(t, event_names[i])) {
            *type = (enum gl__event)i;
            *object = o;
            return 0;
        }
    }
    return GL_EPARSE;
}

/* ---- pods ---- */

/* The container named like o's "name", or NULL. */
static struct gl_pod_container *find_container(struct gl_pod *pod, const msgpack_object *name)
{
    for (size_t i = 0; i < pod->n_containers; i++) {
        const char *n = pod->containers[i].name;
        if (strlen(n) == name->via.str.size && memcmp(n, name->via.str.ptr, strlen(n)) == 0) {
            return &pod->containers[i];
        }
    }
    return NULL;
}

/* The ports a container spec declares, for pod discovery. */
static void add_ports(struct gl_pod_container *k, const msgpack_object *list)
{
    uint32_t n = array_size(list);
    if (n == 0) {
        return;
    }
    k->ports = gl_calloc(n, sizeof(*k->ports));
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *port = gl_json_map_get(&list->via.array.ptr[i], "containerPort");
        if (port == NULL || port->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            port->via.u64 > 65535) {
            continue;
        }
        struct gl_pod_port *p = &k->ports[k->n_ports++];
        p->number = (int32_t)port->via.u64;
        p->name = dup_str(gl_json_map_get(&list->via.array.ptr[i], "name"));
        p->protocol = dup_str(gl_json_map_get(&list->via.array.ptr[i], "protocol"));
    }
}

/* Adds the containers of a spec list (containers, initContainers) by name and image. */
static void add_specs(struct gl_pod *pod, const msgpack_object *list, bool init)
{
    for (uint32_t i = 0; i < array_size(list); i++) {
        const msgpack_object *name = gl_json_map_get(&list->via.array.ptr[i], "name");
        if (!is_str(name) || find_container(pod, name) != NULL) {
            continue;
        }
        struct gl_pod_container *k = &pod->containers[pod->n_containers++];
        k->name = dup_str(name);
        k->image = dup_str(gl_json_map_get(&list->via.array.ptr[i], "image"));
        k->init = init;
        add_ports(k, gl_json_map_get(&list->via.array.ptr[i], "ports"));
    }
}

/* The container id without its runtime prefix ("containerd://<id>" gives <id>). */
static char *container_id(const msgpack_object *o)
{
    if (!is_str(o)) {
        return NULL;
    }
    const char *p = o->via.str.ptr;
    size_t n = o->via.str.size;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(p + i, "://", 3) == 0) {
            return gl_strndup(p + i + 3, n - i - 3);
        }
    }
    return gl_strndup(p, n);
}

/* Fills image ids and container ids from a status list; a name the spec lacks is added. */
static void add_statuses(struct gl_pod *pod, const msgpack_object *list)
{
    for (uint32_t i = 0; i < array_size(list); i++) {
        const msgpack_object *st = &list->via.array.ptr[i];
        const msgpack_object *name = gl_json_map_get(st, "name");
        if (!is_str(name)) {
            continue;
        }
        struct gl_pod_container *k = find_container(pod, name);
        if (k == NULL) {
            k = &pod->containers[pod->n_containers++];
            k->name = dup_str(name);
        }
        if (k->image == NULL) {
            k->image = dup_str(gl_json_map_get(st, "image"));
        }
        gl_free(k->image_id);
        k->image_id = dup_str(gl_json_map_get(st, "imageID"));
        gl_free(k->container_id);
        k->container_id = container_id(gl_json_map_get(st, "containerID"));
    }
}

/* The kind and name of the owner reference with controller: true. */
static void decode_owner(struct gl_pod *pod, const msgpack_object *refs)
{
    for (uint32_t i = 0; i < array_size(refs); i++) {
        const msgpack_object *ref = &refs->via.array.ptr[i];
        const msgpack_object *ctl = gl_json_map_get(ref, "controller");
        if (ctl != NULL && ctl->type == MSGPACK_OBJECT_BOOLEAN && ctl->via.boolean) {
            pod->owner_kind = dup_str(gl_json_map_get(ref, "kind"));
            pod->owner_name = dup_str(gl_json_map_get(ref, "name"));
            return;
        }
    }
}

/* Spec containers, then init containers, then status-only names; statuses fill the ids. */
static void decode_containers(struct gl_pod *pod, const msgpack_object *obj)
{
    const msgpack_object *specs = gl__pods_path(obj, "spec", "containers");
    const msgpack_object *inits = gl__pods_path(obj, "spec", "initContainers");
    const msgpack_object *sts = gl__pods_path(obj, "status", "containerStatuses");
    const msgpack_object *ists = gl__pods_path(obj, "status", "initContainerStatuses");
    size_t most = (size_t)array_size(specs) + array_size(inits) + array_size(sts) +
                  array_size(ists);

    if (most == 0) {
        return;
    }
    pod->containers = gl_calloc(most, sizeof(*pod->containers));
    add_specs(pod, specs, false);
    add_specs(pod, inits, true);
    add_statuses(pod, sts);
    add_statuses(pod, ists);
}

/* Where the pod runs and how it is: IP addresses, phase, the Ready condition. */
static void decode_status(struct gl_pod *pod, const msgpack_object *status)
{
    const msgpack_object *conds = gl_json_map_get(status, "conditions");
    pod->pod_ip = dup_str(gl_json_map_get(status, "podIP"));
    pod->host_ip = dup_str(gl_json_map_get(status, "hostIP"));
    pod->phase = dup_str(gl_json_map_get(status, "phase"));
    for (uint32_t i = 0; i < array_size(conds); i++) {
        const msgpack_object *c = &conds->via.array.ptr[i];
        if (str_is(gl_json_map_get(c, "type"), "Ready")) {
            pod->ready = str_is(gl_json_map_get(c, "status"), "True");
        }
    }
}

int gl__pod_decode(const msgpack_object *obj, struct gl_pod *pod)
{
    const msgpack_object *meta = gl_json_map_get(obj, "metadata");
    const msgpack_object *ns = gl_json_map_get(meta, "namespace");
    const msgpack_object *name = gl_json_map_get(meta, "name");

    memset(pod, 0, sizeof(*pod));
    if (!is_str(ns) || !is_str(name)) {
        return GL_EPARSE;
    }
    pod->namespace_name = dup_str(ns);
    pod->pod_name = dup_str(name);
    pod->pod_id = dup_str(gl_json_map_get(meta, "uid"));
    pod->host = dup_str(gl__pods_path(obj, "spec", "nodeName"));
    decode_owner(pod, gl_json_map_get(meta, "ownerReferences"));
    gl__pods_pack_map(&pod->labels, gl_json_map_get(meta, "labels"));
    gl__pods_pack_map(&pod->annotations, gl_json_map_get(meta, "annotations"));
    decode_containers(pod, obj);
    decode_status(pod, gl_json_map_get(obj, "status"));
    return 0;
}

void gl__pod_close(struct gl_pod *pod)
{
    gl_free(pod->namespace_name);
    gl_free(pod->pod_name);
    gl_free(pod->pod_id);
    gl_free(pod->host);
    gl_free(pod->owner_kind);
    gl_free(pod->owner_name);
    msgpack_sbuffer_destroy(&pod->labels);
    msgpack_sbuffer_destroy(&pod->annotations);
    for (size_t i = 0; i < pod->n_containers; i++) {
        gl_free(pod->containers[i].name);
        gl_free(pod->containers[i].image);
        gl_free(pod->containers[i].image_id);
        gl_free(pod->containers[i].container_id);
        for (size_t j = 0; j < pod->containers[i].n_ports; j++) {
            gl_free(pod->containers[i].ports[j].name);
            gl_free(pod->containers[i].ports[j].protocol);
        }
        gl_free(pod->containers[i].ports);
    }
    gl_free(pod->containers);
    gl_free(pod->pod_ip);
    gl_free(pod->host_ip);
    gl_free(pod->phase);
    memset(pod, 0, sizeof(*pod));
}

/*
 * filter aws: stamps each record with EC2 instance metadata (availability
 * zone, instance id and type, private IP, VPC, AMI, account, hostname and,
 * with tags_enabled, the instance's tags), with Fluent Bit's option and key
 * names. The values are fetched through IMDS (agent/aws/imds.c, IMDSv2
 * unless imds_version is v1) once at start and again every
 * refresh_interval, never per record.
 *
 * A fetch asks for each wanted value in turn into `next`; only a fetch that
 * got every value replaces `meta`, the set records are stamped with. While
 * no fetch has succeeded, records pass unchanged and are counted; a failure
 * is logged once (not again until a fetch succeeded) and retried after
 * retry_interval_s. Instance tags that IMDS does not expose (404: tags in
 * metadata are off for the instance) are logged once and left out.
 */
#include <stdio.h>
#include <string.h>

#include "aws/imds.h"
#include "codec/json.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "util/error.h"
#include "util/mem.h"

#define MD "/latest/meta-data/"
#define TAG_VALUE_MAX 256
#define TAGS_MAX 50

enum step { S_AZ, S_ID, S_TYPE, S_IP, S_AMI, S_HOST, S_ACCOUNT, S_MAC, S_VPC, S_TAGS, S_TAG,
            S_DONE };

/* The values fetched one by one: Fluent Bit's key names and IMDS paths. */
static const struct {
    const char *key;
    const char *path;
} values[] = {
    [S_AZ] = { "az", MD "placement/availability-zone" },
    [S_ID] = { "ec2_instance_id", MD "instance-id" },
    [S_TYPE] = { "ec2_instance_type", MD "instance-type" },
    [S_IP] = { "private_ip", MD "local-ipv4" },
    [S_AMI] = { "ami_id", MD "ami-id" },
    [S_HOST] = { "hostname", MD "hostname" },
    [S_ACCOUNT] = { "account_id", "/latest/dynamic/instance-identity/document" },
    [S_MAC] = { NULL, MD "mac" },
    [S_VPC] = { "vpc_id", NULL },
    [S_TAGS] = { NULL, MD "tags/instance" },
};

struct kv {
    char *key;
    char *value;
};

struct kvs {
    struct kv *items;
    size_t count;
};

struct aws {
    /* options */
    char *imds_version;
    bool want[S_DONE];
    struct gl_strlist tags_include;
    struct gl_strlist tags_exclude;
    uint64_t refresh_ms;
    uint64_t retry_ms;
    /* state */
    struct gl_instance *ins;
    struct gl_imds imds;
    bool imds_ready;
    uv_timer_t timer;
    bool timer_open;
    bool stopping;
    enum step step;
    struct kvs next;           /* the fetch under way */
    struct kvs meta;           /* what records get */
    char *mac;
    struct gl_strlist tag_keys;
    size_t tag_i;
    bool failing;              /* a failure was logged: not again until a fetch succeeds */
    bool tags_warned;
    uint64_t *m_fetches;
    uint64_t *m_failures;
    uint64_t *m_bare;
};

/* ---- values ---- */

static void kvs_clear(struct kvs *l)
{
    for (size_t i = 0; i < l->count; i++) {
        gl_free(l->items[i].key);
        gl_free(l->items[i].value);
    }
    gl_free(l->items);
    l->items = NULL;
    l->count = 0;
}

static void kvs_add(struct kvs *l, const char *key, const char *value, size_t len)
{
    l->items = gl_realloc(l->items, (l->count + 1) * sizeof(*l->items));
    l->items[l->count].key = gl_strdup(key);
    l->items[l->count].value = gl_strndup(value, len);
    l->count++;
}

/* The first line of an answer, without its end of line. */
static size_t first_line(const char *body, size_t len)
{
    size_t n = 0;
    while (n < len && body[n] != '\r' && body[n] != '\n') {
        n++;
    }
    return n;
}

static bool listed(const struct gl_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Keeps the tag names of the listing that tags_include and tags_exclude let through. */
static void read_tag_keys(struct aws *a, const char *body, size_t len)
{
    for (size_t i = 0; i < a->tag_keys.count; i++) {
        gl_free(a->tag_keys.items[i]);
    }
    a->tag_keys.count = 0;
    const char *end = body + len;
    while (body < end && a->tag_keys.count < TAGS_MAX) {
        size_t n = first_line(body, (size_t)(end - body));
        char *name = gl_strndup(body, n);
        bool keep = n > 0 && strchr(name, '/') == NULL &&
                    (a->tags_include.count == 0 || listed(&a->tags_include, name)) &&
                    !listed(&a->tags_exclude, name);
        if (keep) {
            a->tag_keys.items = gl_realloc(a->tag_keys.items,
                                           (a->tag_keys.count + 1) * sizeof(char *));
            a->tag_keys.items[a->tag_keys.count++] = name;
        } else {
            gl_free(name);
        }
        body += n;
        while (body < end && (*body == '\r' || *body == '\n')) {
            body++;
        }
    }
}

/* The accountId of the instance identity document; GL_EPARSE when it has none. */
static int add_account(struct aws *a, const char *body, size_t len)
{
    struct gl_json_doc doc;
    int rc = GL_EPARSE;
    if (gl_json_doc_parse(&doc, body, len, NULL) == 0 && doc.root.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *v = gl_json_map_get(&doc.root, "accountId");
        if (v != NULL && v->type == MSGPACK_OBJECT_STR) {
            kvs_add(&a->next, "account_id", v->via.str.ptr, v->via.str.size);
            rc = 0;
        }
    }
    gl_json_doc_free(&doc);
    return rc;
}

/* ---- fetching ---- */

static void ask(struct aws *a);

static void arm(struct aws *a, uint64_t ms);

static void fetch_failed(struct aws *a, const char *why)
{
    (*a->m_failures)++;
    kvs_clear(&a->next);
    if (!a->failing) {
        gl_log_warn(a->ins, "instance metadata unavailable (%s); %s, retried every %llu ms", why,
                    a->meta.count ? "records keep the last values fetched"
                                  : "records pass without it",
                    (unsigned long long)a->retry_ms);
        a->failing = true;
    }
    arm(a, a->retry_ms);
}

static void fetch_done(struct aws *a)
{
    kvs_clear(&a->meta);
    a->meta = a->next;
    memset(&a->next, 0, sizeof(a->next));
    (*a->m_fetches)++;
    if (a->failing) {
        gl_log_info(a->ins, "instance metadata fetched again");
        a->failing = false;
    }
    arm(a, a->refresh_ms);
}

/* Takes in the answer to the current step; returns a static message on failure. */
static const char *take(struct aws *a, long status, const char *body, size_t len)
{
    size_t n = first_line(body, len);
    if (a->step == S_TAGS || a->step == S_TAG) {
        if (status == 404 && a->step == S_TAGS && !a->tags_warned) {
            gl_log_warn(a->ins, "instance tags are not in instance metadata (allow tags in "
                        "metadata on the instance); records carry none");
            a->tags_warned = true;
        }
        if (status == 200 && a->step == S_TAGS) {
            read_tag_keys(a, body, len);
        } else if (status == 200 && len <= TAG_VALUE_MAX) {
            kvs_add(&a->next, a->tag_keys.items[a->tag_i - 1], body, len);
        }
        return NULL;
    }
    if (status != 200 || n == 0) {
        return "a value is missing (HTTP 404 or empty)";
    }
    if (a->step == S_ACCOUNT) {
        return add_account(a, body, len) == 0 ? NULL : "the identity document has no accountId";
    }
    if (a->step == S_MAC) {
        gl_free(a->mac);
        a->mac = gl_strndup(body, n);
        return NULL;
    }
    kvs_add(&a->next, values[a->step].key, body, n);
    return NULL;
}

static void on_answer(void *data, long status, const char *body, size_t len, const char *err)
{
    struct aws *a = data;
    if (a->stopping) {
        return;
    }
    const char *why = err ? err : take(a, status, body, len);
    if (why != NULL) {
        char msg[320];
        snprintf(msg, sizeof(msg), "%s%s%s", why, err ? "" : ": ",
                 err ? "" : values[a->step].path ? values[a->step].path : "vpc-id");
        fetch_failed(a, msg);
        return;
    }
    if (a->step != S_TAG) {
        a->step++;
        a->tag_i = 0;
    }
    ask(a);
}

/* Asks for the next wanted value, or ends the fetch when there is none left. */
static void ask(struct aws *a)
{
    while (a->step < S_DONE && a->step != S_TAG && !a->want[a->step]) {
        a->step++;
    }
    if (a->step == S_TAG && a->tag_i == a->tag_keys.count) {
        a->step = S_DONE;
    }
    if (a->step == S_DONE) {
        fetch_done(a);
        return;
    }
    char path[512];
    if (a->step == S_VPC) {
        snprintf(path, sizeof(path), MD "network/interfaces/macs/%s/vpc-id", a->mac);
    } else if (a->step == S_TAG) {
        snprintf(path, sizeof(path), MD "tags/instance/%s", a->tag_keys.items[a->tag_i++]);
    } else {
        snprintf(path, sizeof(path), "%s", values[a->step].path);
    }
    gl_imds_get(&a->imds, path, on_answer, a);
}

static void on_timer(uv_timer_t *t)
{
    struct aws *a = t->data;
    if (gl_imds_disabled()) {
        fetch_failed(a, "AWS_EC2_METADATA_DISABLED is true");
        return;
    }
    a->step = S_AZ;
    a->tag_i = 0;
    for (size_t i = 0; i < a->tag_keys.count; i++) {
        gl_free(a->tag_keys.items[i]);
    }
    a->tag_keys.count = 0;
    kvs_clear(&a->next);
    ask(a);
}

static void arm(struct aws *a, uint64_t ms)
{
    if (!a->stopping) {
        uv_timer_start(&a->timer, on_timer, ms, 0);
    }
}

/* ---- the plugin ---- */

static void aws_destroy(struct gl_instance *ins)
{
    struct aws *a = ins->state;
    if (a->imds_ready) {
        gl_imds_close(&a->imds);
        a->imds_ready = false;
    }
    kvs_clear(&a->next);
    kvs_clear(&a->meta);
    for (size_t i = 0; i < a->tag_keys.count; i++) {
        gl_free(a->tag_keys.items[i]);
    }
    gl_free(a->tag_keys.items);
    a->tag_keys.items = NULL;
    a->tag_keys.count = 0;
    gl_free(a->mac);
    a->mac = NULL;
}

static int aws_init(struct gl_instance *ins)
{
    struct aws *a = ins->state;
    a->ins = ins;
    a->want[S_MAC] = a->want[S_VPC];
    a->want[S_TAG] = a->want[S_TAGS];
    a->m_fetches = gl_metric_counter(ins, "metadata_fetches_total",
                                     "Complete fetches of the instance metadata.");
    a->m_failures = gl_metric_counter(ins, "metadata_failures_total",
                                      "Fetches of the instance metadata that failed.");
    a->m_bare = gl_metric_counter(ins, "records_without_metadata_total",
                                  "Records passed on unchanged: no metadata fetched yet.");
    return 0;
}

static int aws_start(struct gl_instance *ins)
{
    struct aws *a = ins->state;
    int rc = gl_imds_init(&a->imds, ins->loop, NULL, strcmp(a->imds_version, "v1") == 0);
    if (rc < 0) {
        return rc;
    }
    a->imds_ready = true;
    uv_timer_init(ins->loop, &a->timer);
    a->timer.data = a;
    a->timer_open = true;
    arm(a, 0);
    return 0;
}

static void aws_stop(struct gl_instance *ins)
{
    struct aws *a = ins->state;
    a->stopping = true;
    if (a->imds_ready) {
        gl_http_client_close(&a->imds.http);
    }
    if (a->timer_open) {
        uv_close((uv_handle_t *)&a->timer, NULL);
        a->timer_open = false;
    }
}

/* Copies the record's keys but those the metadata sets, then the metadata. */
static enum gl_filter_result aws_filter(struct gl_instance *ins, const struct gl_record *rec,
                                        struct gl_event *out)
{
    struct aws *a = ins->state;
    if (a->meta.count == 0) {
        (*a->m_bare)++;
        return GL_FILTER_KEEP;
    }
    const msgpack_object_map *m = &rec->body->via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        bool ours = false;
        for (size_t j = 0; k->type == MSGPACK_OBJECT_STR && j < a->meta.count && !ours; j++) {
            ours = strlen(a->meta.items[j].key) == k->via.str.size &&
                   memcmp(a->meta.items[j].key, k->via.str.ptr, k->via.str.size) == 0;
        }
        if (!ours && k->type == MSGPACK_OBJECT_STR) {
            gl_event_kv_obj(out, k->via.str.ptr, k->via.str.size, &m->ptr[i].val);
        }
    }
    for (size_t j = 0; j < a->meta.count; j++) {
        const struct kv *e = &a->meta.items[j];
        gl_event_kv_str(out, e->key, e->value, strlen(e->value));
    }
    return GL_FILTER_MODIFIED;
}

static const char *const versions[] = { "v1", "v2", NULL };

#define WANT(n, s, d, h) \
    { .name = n, .type = GL_OPT_BOOL, .def = d, \
      .offset = offsetof(struct aws, want) + (s) * sizeof(bool), .help = h }

static const struct gl_option aws_options[] = {
    { .name = "imds_version", .type = GL_OPT_STR, .def = "v2", .choices = versions,
      .offset = offsetof(struct aws, imds_version),
      .help = "v2: a session token first (IMDSv2); v1: plain GETs." },
    WANT("az", S_AZ, "on", "Add az, the availability zone."),
    WANT("ec2_instance_id", S_ID, "on", "Add ec2_instance_id."),
    WANT("ec2_instance_type", S_TYPE, "off", "Add ec2_instance_type."),
    WANT("private_ip", S_IP, "off", "Add private_ip, the instance's private IPv4 address."),
    WANT("vpc_id", S_VPC, "off", "Add vpc_id, the VPC of the primary network interface."),
    WANT("ami_id", S_AMI, "off", "Add ami_id, the image the instance started from."),
    WANT("account_id", S_ACCOUNT, "off", "Add account_id, from the instance identity document."),
    WANT("hostname", S_HOST, "off", "Add hostname, the instance's private DNS name."),
    WANT("tags_enabled", S_TAGS, "off",
         "Add the instance's tags, each as a key (needs tags allowed in instance metadata)."),
    { .name = "tags_include", .type = GL_OPT_LIST, .offset = offsetof(struct aws, tags_include),
      .help = "Only these tags (comma-separated names)." },
    { .name = "tags_exclude", .type = GL_OPT_LIST, .offset = offsetof(struct aws, tags_exclude),
      .help = "Not these tags (comma-separated names)." },
    { .name = "refresh_interval", .type = GL_OPT_DURATION, .def = "1h",
      .offset = offsetof(struct aws, refresh_ms),
      .help = "How often the metadata is fetched again (tags can change)." },
    { .name = "retry_interval_s", .type = GL_OPT_DURATION, .def = "300",
      .offset = offsetof(struct aws, retry_ms),
      .help = "Wait before a failed fetch is tried again (a bare number is seconds)." },
    { 0 }
};

const struct gl_plugin gl_filter_aws = {
    .kind = GL_FILTER, .name = "aws", .data = GL_LOGS,
    .description = "Add EC2 instance metadata (IMDSv2): zone, instance, account, VPC, tags",
    .options = aws_options, .state_size = sizeof(struct aws),
    .init = aws_init, .start = aws_start, .filter = aws_filter, .stop = aws_stop,
    .destroy = aws_destroy,
};

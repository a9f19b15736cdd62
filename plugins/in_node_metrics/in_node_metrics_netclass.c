/*
 * The netclass collector: the properties of each network device under
 * /sys/class/net/<device> (operstate, MTU, speed, carrier changes...). A
 * property the kernel refuses to give (the carrier of a device that is
 * down, the speed of a virtual one) is left out, as node_exporter does.
 */
#include <fcntl.h>
#include <linux/if.h>
#include <stdio.h>
#include <string.h>

#include "codec/regex.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

/* node_exporter reads sysfs values 128 bytes at a time. */
#define VALUE_MAX 129

enum { S_ADDRESS, S_BROADCAST, S_DUPLEX, S_OPERSTATE, S_IFALIAS, S_COUNT };

static const char *const string_files[S_COUNT] = {"address", "broadcast", "duplex", "operstate",
                                                  "ifalias"};

static const struct {
    const char *file, *metric;
    enum gl_metric_type type;
} props[16] = {
    {"addr_assign_type", "address_assign_type", GL_METRIC_GAUGE},
    {"carrier", "carrier", GL_METRIC_GAUGE},
    {"carrier_changes", "carrier_changes_total", GL_METRIC_COUNTER},
    {"carrier_up_count", "carrier_up_changes_total", GL_METRIC_COUNTER},
    {"carrier_down_count", "carrier_down_changes_total", GL_METRIC_COUNTER},
    {"dev_id", "device_id", GL_METRIC_GAUGE},
    {"dormant", "dormant", GL_METRIC_GAUGE},
    {"flags", "flags", GL_METRIC_GAUGE},
    {"ifindex", "iface_id", GL_METRIC_GAUGE},
    {"iflink", "iface_link", GL_METRIC_GAUGE},
    {"link_mode", "iface_link_mode", GL_METRIC_GAUGE},
    {"mtu", "mtu_bytes", GL_METRIC_GAUGE},
    {"name_assign_type", "name_assign_type", GL_METRIC_GAUGE},
    {"netdev_group", "net_dev_group", GL_METRIC_GAUGE},
    {"speed", "speed_bytes", GL_METRIC_GAUGE},
    {"tx_queue_len", "transmit_queue_length", GL_METRIC_GAUGE},
};

static const struct {
    const char *file, *metric;
} last_prop = {"type", "protocol_type"};

struct iface {
    uint32_t name_at;         /* in c->names */
    uint32_t str_at[S_COUNT]; /* in c->aux */
    uint32_t str_len[S_COUNT];
    int64_t v[17]; /* props, then protocol_type */
    uint32_t has;  /* a bit per value read */
};

/*
 * Properties the kernel gives only while the device is up (it answers
 * EINVAL otherwise): not asked for when flags say the device is down.
 */
static bool needs_up(const char *file)
{
    return strcmp(file, "carrier") == 0 || strcmp(file, "dormant") == 0 ||
           strcmp(file, "speed") == 0 || strcmp(file, "duplex") == 0;
}

static void read_strings(struct node_ctx *c, const char *dir, struct iface *f, bool down)
{
    for (int k = 0; k < S_COUNT; k++) {
        char buf[VALUE_MAX];
        size_t len = 0;
        if ((down && needs_up(string_files[k])) ||
            node_read_at(c, dir, string_files[k], buf, sizeof(buf), &len) != 0) {
            len = 0;
        }
        f->str_at[k] = (uint32_t)c->aux.len;
        f->str_len[k] = (uint32_t)len;
        gl_buf_append(&c->aux, buf, len);
    }
}

/* Reads flags first: whether the device is up decides which other files can answer. */
static void read_numbers(struct node_ctx *c, const char *dir, struct iface *f, bool *down)
{
    enum { FLAGS = 7 };
    char buf[VALUE_MAX];
    size_t len;
    if (node_read_at(c, dir, "flags", buf, sizeof(buf), &len) == 0 &&
        node_parse_int_auto((struct node_tok){buf, len}, &f->v[FLAGS])) {
        f->has |= 1u << FLAGS;
        *down = !(f->v[FLAGS] & 1); /* IFF_UP */
    }
    for (int k = 0; k < 17; k++) {
        const char *file = k < 16 ? props[k].file : last_prop.file;
        if (k == FLAGS || (*down && needs_up(file))) {
            continue;
        }
        if (node_read_at(c, dir, file, buf, sizeof(buf), &len) == 0 &&
            node_parse_int_auto((struct node_tok){buf, len}, &f->v[k])) {
            f->has |= 1u << k;
        }
    }
}

/* Reads one device's directory from its files; false when the thread was let go. */
static bool read_iface(struct node_ctx *c, const char *dir, struct iface *f)
{
    bool down = false;
    memset(f, 0, sizeof(*f));
    read_numbers(c, dir, f, &down);
    read_strings(c, dir, f, down);
    return !c->abandoned;
}

/* ---- the same from the netlink dump, with the files it lacks ------------- */

static const char *const operstates[] = {"unknown", "notpresent", "down", "lowerlayerdown",
                                         "testing", "dormant",    "up"};

/* Which props[] entries the dump gives, and from which of its values. */
static const struct {
    int prop, link;
} from_link[] = {
    {2, NODE_LINK_CHANGES}, {3, NODE_LINK_UP},    {4, NODE_LINK_DOWN}, {8, NODE_LINK_INDEX},
    {9, NODE_LINK_IFLINK},  {10, NODE_LINK_MODE}, {11, NODE_LINK_MTU}, {13, NODE_LINK_GROUP},
    {15, NODE_LINK_TXQLEN}, {16, NODE_LINK_TYPE},
};

static void put_str(struct node_ctx *c, struct iface *f, int k, const char *s, size_t n)
{
    f->str_at[k] = (uint32_t)c->aux.len;
    f->str_len[k] = (uint32_t)n;
    gl_buf_append(&c->aux, s, n);
}

static void link_values(struct node_ctx *c, const struct node_link *l, struct iface *f, bool down)
{
    const char *text = c->link_text.data;
    uint64_t op = l->v[NODE_LINK_OPERSTATE];
    bool has_op = l->has & (1u << NODE_LINK_OPERSTATE) && op < 7;
    put_str(c, f, S_ADDRESS, text + l->addr_at, l->addr_len);
    put_str(c, f, S_BROADCAST, text + l->brd_at, l->brd_len);
    put_str(c, f, S_OPERSTATE, has_op ? operstates[op] : "", has_op ? strlen(operstates[op]) : 0);
    put_str(c, f, S_IFALIAS, text + l->alias_at, l->alias_len);
    for (size_t i = 0; i < sizeof(from_link) / sizeof(from_link[0]); i++) {
        int slot = from_link[i].link;
        if (slot == NODE_LINK_INDEX || slot == NODE_LINK_TYPE || slot == NODE_LINK_IFLINK ||
            l->has & (1u << slot)) {
            f->v[from_link[i].prop] = (int64_t)l->v[slot];
            f->has |= 1u << from_link[i].prop;
        }
    }
    if (!down && l->has & (1u << NODE_LINK_CARRIER)) {
        f->v[1] = (int64_t)l->v[NODE_LINK_CARRIER];
        f->has |= 1u << 1;
    }
}

/*
 * What a device keeps from its registration to its removal: dev_id,
 * addr_assign_type and name_assign_type, kept between collections by name
 * (sorted, as the listing is) with the index and address they went with. A
 * device removed and made again has a new index; a new address may come
 * with a new addr_assign_type: either reads them again.
 */
struct life_props {
    char name[64];
    char addr[48];
    int64_t index;
    int64_t v[3];
    uint8_t has;
};

static const int life_files[3] = {5, 0, 12}; /* dev_id, addr_assign_type, name_assign_type */

static const struct life_props *life_find(const struct gl_buf *b, const char *name)
{
    const struct life_props *p = (const struct life_props *)b->data;
    size_t lo = 0, hi = b->len / sizeof(*p);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(p[mid].name, name);
        if (r == 0) {
            return &p[mid];
        }
        *(r < 0 ? &lo : &hi) = r < 0 ? mid + 1 : mid;
    }
    return NULL;
}

/* Takes the kept values, or reads them; keeps them for the next collection either way. */
static void life_values(struct node_ctx *c, const char *dir, const char *name,
                        const struct node_link *l, struct iface *f)
{
    struct gl_buf *kept = &c->n->link_props[0], *next = &c->n->link_props[1];
    const struct life_props *old = life_find(kept, name);
    struct life_props p = {.index = (int64_t)l->v[NODE_LINK_INDEX]};
    snprintf(p.name, sizeof(p.name), "%s", name);
    snprintf(p.addr, sizeof(p.addr), "%.*s", (int)l->addr_len, c->link_text.data + l->addr_at);
    if (old != NULL && old->index == p.index && strcmp(old->addr, p.addr) == 0) {
        p = *old;
    } else {
        for (int i = 0; i < 3; i++) {
            char buf[VALUE_MAX];
            size_t len;
            int k = life_files[i];
            if (node_read_at(c, dir, props[k].file, buf, sizeof(buf), &len) == 0 &&
                node_parse_int_auto((struct node_tok){buf, len}, &p.v[i])) {
                p.has |= (uint8_t)(1u << i);
            }
        }
    }
    if (c->abandoned) {
        return;
    }
    for (int i = 0; i < 3; i++) {
        f->v[life_files[i]] = p.v[i];
        f->has |= (p.has >> i & 1u) << life_files[i];
    }
    if (strlen(name) < sizeof(p.name)) {
        gl_buf_append(next, &p, sizeof(p));
    }
}

/*
 * A device the dump has: flags and, when up, speed and duplex from their
 * files; the properties kept for life; dormant from the dump's IFF_DORMANT,
 * given for a device that is up, as its file is.
 */
static bool read_iface_link(struct node_ctx *c, const char *dir, const char *name,
                            const struct node_link *l, struct iface *f)
{
    static const int files[2] = {7, 14}; /* flags first: it says "down" */
    enum { DORMANT = 6 };
    bool down = false;
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < 2 && !(down && i >= 1); i++) {
        char buf[VALUE_MAX];
        size_t len;
        int k = files[i];
        if (node_read_at(c, dir, props[k].file, buf, sizeof(buf), &len) == 0 &&
            node_parse_int_auto((struct node_tok){buf, len}, &f->v[k])) {
            f->has |= 1u << k;
            down = k == 7 ? !(f->v[k] & 1) : down;
        }
    }
    if (c->abandoned) {
        return false; /* let go during a read: the instance's kept values are not ours now */
    }
    if (l->ifi_flags & IFF_UP) {
        f->v[DORMANT] = (l->ifi_flags & IFF_DORMANT) != 0;
        f->has |= 1u << DORMANT;
    }
    life_values(c, dir, name, l, f);
    char duplex[VALUE_MAX];
    size_t dl = 0;
    if (down || node_read_at(c, dir, "duplex", duplex, sizeof(duplex), &dl) != 0) {
        dl = 0;
    }
    put_str(c, f, S_DUPLEX, duplex, dl);
    link_values(c, l, f, down);
    return !c->abandoned;
}

/* The dump describes these devices when it lists exactly the ones /sys does. */
static bool same_devices(struct node_ctx *c, size_t count)
{
    size_t at = 0;
    if (node_rtnl_count(c) != count) {
        return false;
    }
    for (const char *name; (name = node_list_next(c, &at)) != NULL;) {
        if (node_rtnl_find(c, name, strlen(name)) == NULL) {
            return false;
        }
    }
    return true;
}

static struct gl_label str_label(const struct node_ctx *c, const struct iface *f, const char *name,
                                 int k)
{
    struct gl_label l = {name, (uint32_t)strlen(name), c->aux.data + f->str_at[k], f->str_len[k]};
    return l;
}

static void emit_up_info(struct node_ctx *c, const struct iface *f, size_t n)
{
    node_family(c, "node_network_up", GL_METRIC_GAUGE,
                "Value is 1 if operstate is 'up', 0 otherwise.");
    for (size_t i = 0; i < n; i++) {
        struct gl_label l = NODE_LS("device", c->names.data + f[i].name_at);
        bool up = f[i].str_len[S_OPERSTATE] == 2 &&
                  memcmp(c->aux.data + f[i].str_at[S_OPERSTATE], "up", 2) == 0;
        node_sample(c, &l, 1, up ? 1 : 0);
    }
    node_family(c, "node_network_info", GL_METRIC_GAUGE,
                "Non-numeric data from /sys/class/net/<iface>, value is always 1.");
    for (size_t i = 0; i < n; i++) {
        struct gl_label l[6] = {
            NODE_LS("device", c->names.data + f[i].name_at),
            str_label(c, &f[i], "address", S_ADDRESS),
            str_label(c, &f[i], "broadcast", S_BROADCAST),
            str_label(c, &f[i], "duplex", S_DUPLEX),
            str_label(c, &f[i], "operstate", S_OPERSTATE),
            str_label(c, &f[i], "ifalias", S_IFALIAS),
        };
        node_sample(c, l, 6, 1);
    }
}

static void emit_props(struct node_ctx *c, const struct iface *f, size_t n)
{
    for (int k = 0; k < 17; k++) {
        const char *metric = k < 16 ? props[k].metric : last_prop.metric;
        char name[80], help[96];
        struct node_tok m = NODE_TS(metric);
        size_t nl =
            node_concat(name, sizeof(name), (struct node_tok[]){NODE_T("node_network_"), m}, 2);
        size_t hl = node_concat(help, sizeof(help),
                                (struct node_tok[]){NODE_T("Network device property: "), m}, 2);
        node_family_n(c, name, nl, k < 16 ? props[k].type : GL_METRIC_GAUGE, help, hl);
        for (size_t i = 0; i < n; i++) {
            if (!(f[i].has & (1u << k))) {
                continue;
            }
            double v = (double)f[i].v[k];
            if (k == 14) {
                v *= 1000.0 * 1000.0 / 8.0; /* Mbit/s to bytes/s */
            }
            struct gl_label l = NODE_LS("device", c->names.data + f[i].name_at);
            node_sample(c, &l, 1, v);
        }
    }
}

int node_collect_netclass(struct node_ctx *c)
{
    char base[PATH_MAX], dir[PATH_MAX];
    size_t count, at = 0;
    int rc = node_path(c, c->n->sysfs, "class/net");
    snprintf(base, sizeof(base), "%s", c->path);
    rc = rc < 0 ? rc : node_list_dirs(c, base, &count);
    if (rc == GL_ENOENT) {
        return node_fail(c, NODE_NODATA, "no %s", base);
    }
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : node_fail(c, rc, "cannot list %s", base);
    }
    int lr = rc < 0 ? rc : node_rtnl_links(c);
    bool dump = lr == 0 && same_devices(c, count);
    rc = lr == GL_ESTATE ? lr : rc;
    gl_buf_reset(&c->scratch);
    gl_buf_reset(&c->aux);
    gl_buf_reset(&c->n->link_props[1]);
    struct gl_regex *re = c->n->netclass_device_exclude;
    for (const char *name; rc == 0 && (name = node_list_next(c, &at)) != NULL;) {
        struct iface f;
        size_t nl = strlen(name);
        int dl = snprintf(dir, sizeof(dir), "%s/%s", base, name);
        if ((re != NULL && gl_regex_match(re, name, nl)) || dl < 0 || (size_t)dl >= sizeof(dir)) {
            continue;
        }
        bool ok = dump ? read_iface_link(c, dir, name, node_rtnl_find(c, name, nl), &f)
                       : read_iface(c, dir, &f);
        if (ok) {
            f.name_at = (uint32_t)(name - c->names.data);
            gl_buf_append(&c->scratch, &f, sizeof(f));
        }
        rc = c->abandoned ? GL_ESTATE : 0;
    }
    if (rc < 0) {
        return rc;
    }
    struct gl_buf t = c->n->link_props[0];
    c->n->link_props[0] = c->n->link_props[1];
    c->n->link_props[1] = t;
    const struct iface *f = (const struct iface *)c->scratch.data;
    size_t n = c->scratch.len / sizeof(*f);
    emit_up_info(c, f, n);
    emit_props(c, f, n);
    return 0;
}

/*
 * Netlink dumps of the agent's own network namespace. First, its network
 * devices from one RTM_GETLINK
 * dump: most of what the files of /sys/class/net/<device> and its statistics hold, for
 * the price of a few system calls instead of a file per value. netclass and
 * netdev use it only when it lists the very devices they found in /sys or
 * /proc (the same namespace: the host's when the agent runs with
 * hostNetwork), and read the files otherwise.
 *
 * Every value taken from the dump is one the kernel fills from the same
 * field as the sysfs file: operstate ("down" when not running), address and
 * broadcast (addr_len bytes), carrier counts, MTU, queue length, link mode,
 * group, alias, type, iflink (the index itself when IFLA_LINK is absent),
 * dormant (IFF_DORMANT of ifi_flags, which the kernel sets when the device
 * is running and dormant, as sysfs answers only for a running device).
 * Not flags: ifi_flags is dev_get_flags(), which differs from the dev->flags
 * sysfs prints (promiscuity and allmulti as asked, running and lower-up).
 *
 * Then its UDP sockets from a sock_diag dump: the send and receive queues
 * /proc/net/udp{,6} print, from the same kernel fields, in one pass over
 * the socket table, where every read of those files walks it again.
 * Both sockets stay open between collections.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

#define RECV_BUF 32768

/* Appends n bytes of an address as "aa:bb:cc" to the names arena; returns its offset. */
static uint32_t put_address(struct gl_buf *arena, const unsigned char *a, size_t n, uint32_t *len)
{
    static const char hex[] = "0123456789abcdef";
    uint32_t at = (uint32_t)arena->len;
    for (size_t i = 0; i < n && i < 32; i++) {
        char b[3] = {hex[a[i] >> 4], hex[a[i] & 15], ':'};
        gl_buf_append(arena, b, i + 1 < n && i + 1 < 32 ? 3 : 2);
    }
    *len = (uint32_t)(arena->len - at);
    return at;
}

static uint32_t u32_of(const struct rtattr *a)
{
    uint32_t v = 0;
    if (RTA_PAYLOAD(a) >= sizeof(v)) {
        memcpy(&v, RTA_DATA(a), sizeof(v));
    }
    return v;
}

static uint8_t u8_of(const struct rtattr *a)
{
    return RTA_PAYLOAD(a) >= 1 ? *(const uint8_t *)RTA_DATA(a) : 0;
}

/* A NUL-terminated (or not) string attribute into the arena, without trailing spaces. */
static uint32_t put_string(struct gl_buf *arena, const struct rtattr *a, uint32_t *len)
{
    const char *s = RTA_DATA(a);
    size_t n = strnlen(s, RTA_PAYLOAD(a));
    struct node_tok t = node_trim((struct node_tok){s, n});
    uint32_t at = (uint32_t)arena->len;
    gl_buf_append(arena, t.p, t.n);
    gl_buf_putc(arena, '\0');
    *len = (uint32_t)t.n;
    return at;
}

/* Numeric attributes and where they go. */
static const struct {
    unsigned short attr;
    uint8_t slot;
    uint8_t width;
} numbers[] = {
    {IFLA_MTU, NODE_LINK_MTU, 4},
    {IFLA_TXQLEN, NODE_LINK_TXQLEN, 4},
    {IFLA_LINK, NODE_LINK_IFLINK, 4},
    {IFLA_GROUP, NODE_LINK_GROUP, 4},
    {IFLA_LINKMODE, NODE_LINK_MODE, 1},
    {IFLA_CARRIER, NODE_LINK_CARRIER, 1},
    {IFLA_CARRIER_CHANGES, NODE_LINK_CHANGES, 4},
    {IFLA_CARRIER_UP_COUNT, NODE_LINK_UP, 4},
    {IFLA_CARRIER_DOWN_COUNT, NODE_LINK_DOWN, 4},
    {IFLA_OPERSTATE, NODE_LINK_OPERSTATE, 1},
};

static void link_stats(struct node_link *l, const struct rtattr *a)
{
    struct rtnl_link_stats64 st;
    size_t n = RTA_PAYLOAD(a);
    if (n < offsetof(struct rtnl_link_stats64, rx_nohandler) + sizeof(st.rx_nohandler)) {
        return; /* a kernel older than 4.6 */
    }
    memset(&st, 0, sizeof(st));
    memcpy(&st, RTA_DATA(a), n < sizeof(st) ? n : sizeof(st));
    l->rx_nohandler = st.rx_nohandler;
    l->has |= 1u << NODE_LINK_NOHANDLER;
}

static void link_attr(struct node_ctx *c, struct node_link *l, const struct rtattr *a)
{
    struct gl_buf *arena = &c->link_text;
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        if (a->rta_type == numbers[i].attr) {
            l->v[numbers[i].slot] = numbers[i].width == 1 ? u8_of(a) : u32_of(a);
            l->has |= 1u << numbers[i].slot;
            return;
        }
    }
    if (a->rta_type == IFLA_IFNAME) {
        l->name_at = put_string(arena, a, &l->name_len);
        l->has |= 1u << NODE_LINK_NAME;
    } else if (a->rta_type == IFLA_ADDRESS) {
        l->addr_at = put_address(arena, RTA_DATA(a), RTA_PAYLOAD(a), &l->addr_len);
    } else if (a->rta_type == IFLA_BROADCAST) {
        l->brd_at = put_address(arena, RTA_DATA(a), RTA_PAYLOAD(a), &l->brd_len);
    } else if (a->rta_type == IFLA_IFALIAS) {
        l->alias_at = put_string(arena, a, &l->alias_len);
    } else if (a->rta_type == IFLA_STATS64) {
        link_stats(l, a);
    }
}

/* One RTM_NEWLINK message into c->links. */
static void add_link(struct node_ctx *c, const struct nlmsghdr *h, void *arg)
{
    (void)arg;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi))) {
        return;
    }
    struct node_link l;
    memset(&l, 0, sizeof(l));
    l.v[NODE_LINK_INDEX] = ifi->ifi_index;
    l.v[NODE_LINK_TYPE] = ifi->ifi_type;
    l.ifi_flags = ifi->ifi_flags;
    int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
    for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        link_attr(c, &l, a);
    }
    if (!(l.has & (1u << NODE_LINK_IFLINK))) {
        l.v[NODE_LINK_IFLINK] = l.v[NODE_LINK_INDEX];
    }
    if ((l.has & (1u << NODE_LINK_NAME)) && c->links.len < NODE_DIR_MAX * sizeof(l)) {
        gl_buf_append(&c->links, &l, sizeof(l));
    }
}

/* An error a dump answers with (negative errno) as a GL_E* code. */
static int dump_error(int e)
{
    return e == -ENOENT ? GL_ENOENT : GL_EIO;
}

/* The error an NLMSG_ERROR or NLMSG_DONE message carries (0 for none). */
static int message_error(const struct nlmsghdr *h)
{
    int e = 0;
    size_t off = h->nlmsg_type == NLMSG_ERROR ? offsetof(struct nlmsgerr, error) : 0;
    if (h->nlmsg_len >= NLMSG_LENGTH(off + sizeof(e))) {
        memcpy(&e, (const char *)NLMSG_DATA(h) + off, sizeof(e));
    }
    return h->nlmsg_type == NLMSG_ERROR && e == 0 ? -EIO : e;
}

typedef void (*dump_cb)(struct node_ctx *c, const struct nlmsghdr *h, void *arg);

/*
 * Reads a dump's answers, each message of type `type` given to each. Returns
 * 0 at NLMSG_DONE, GL_ENOENT when the kernel has no handler for the request
 * (a module it cannot load), GL_EIO on any other error or a broken message.
 */
static int read_dump(struct node_ctx *c, int fd, uint16_t type, dump_cb each, void *arg)
{
    char *buf = c->recv.data;
    for (;;) {
        ssize_t n = recv(fd, buf, RECV_BUF, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return GL_EIO;
        }
        unsigned int len = (unsigned int)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                int e = message_error(h);
                return e < 0 ? dump_error(e) : 0;
            }
            if (h->nlmsg_type == type) {
                each(c, h, arg);
            }
        }
    }
}

/*
 * Sends the dump request req (len bytes) on *fd, the socket of protocol kept
 * open between collections (made when it is -1), and reads its answers as
 * read_dump. A socket whose dump failed is closed: what is left of it must
 * not be read as the next answer. Returns as read_dump, or GL_ESTATE.
 */
static int dump(struct node_ctx *c, int *fd, int protocol, const void *req, size_t len,
                uint16_t type, dump_cb each, void *arg)
{
    gl_buf_reset(&c->recv);
    gl_buf_reserve(&c->recv, RECV_BUF);
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    int rc = GL_EIO;
    if (*fd < 0) {
        *fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    }
    if (*fd >= 0 && send(*fd, req, len, 0) == (ssize_t)len) {
        rc = read_dump(c, *fd, type, each, arg);
    }
    if (rc < 0) {
        node_close(*fd);
        *fd = -1;
    }
    return node_op_end(c) ? rc : GL_ESTATE;
}

static int by_name(const void *a, const void *b, void *arena)
{
    const struct node_link *x = a, *y = b;
    return strcmp((const char *)arena + x->name_at, (const char *)arena + y->name_at);
}

int node_rtnl_links(struct node_ctx *c)
{
    if (c->links_state != 0) {
        return c->links_state > 0 ? 0 : GL_EIO;
    }
    struct {
        struct nlmsghdr h;
        struct ifinfomsg ifi;
    } req = {.h = {.nlmsg_len = sizeof(req),
                   .nlmsg_type = RTM_GETLINK,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                   .nlmsg_seq = 1},
             .ifi = {.ifi_family = AF_UNSPEC}};
    gl_buf_reset(&c->links);
    gl_buf_reset(&c->link_text);
    int rc = dump(c, &c->rtnl_fd, NETLINK_ROUTE, &req, sizeof(req), RTM_NEWLINK, add_link, NULL);
    if (rc == GL_ESTATE) {
        return rc;
    }
    c->links_state = rc == 0 ? 1 : -1;
    qsort_r(c->links.data, c->links.len / sizeof(struct node_link), sizeof(struct node_link),
            by_name, c->link_text.data);
    return rc;
}

const struct node_link *node_rtnl_find(const struct node_ctx *c, const char *name, size_t len)
{
    const struct node_link *l = (const struct node_link *)c->links.data;
    size_t lo = 0, hi = c->links.len / sizeof(*l);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = c->link_text.data + l[mid].name_at;
        size_t ml = l[mid].name_len;
        int r = memcmp(m, name, ml < len ? ml : len);
        r = r != 0 ? r : (ml > len) - (ml < len);
        if (r == 0) {
            return &l[mid];
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

size_t node_rtnl_count(const struct node_ctx *c)
{
    return c->links.len / sizeof(struct node_link);
}

/* ---- UDP sockets (sock_diag) --------------------------------------------- */

/* Adds one socket's queues to the sums (tx, rx). */
static void add_udp(struct node_ctx *c, const struct nlmsghdr *h, void *arg)
{
    (void)c;
    double *q = arg;
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*m))) {
        q[0] += (double)m->idiag_wqueue;
        q[1] += (double)m->idiag_rqueue;
    }
}

int node_diag_udp(struct node_ctx *c, int family, double *tx, double *rx)
{
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req = {
        .h = {.nlmsg_len = sizeof(req),
              .nlmsg_type = SOCK_DIAG_BY_FAMILY,
              .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
              .nlmsg_seq = 1},
        .r = {.sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_UDP, .idiag_states = ~0u}};
    double q[2] = {0, 0};
    int rc =
        dump(c, &c->diag_fd, NETLINK_SOCK_DIAG, &req, sizeof(req), SOCK_DIAG_BY_FAMILY, add_udp, q);
    *tx = q[0];
    *rx = q[1];
    return rc;
}

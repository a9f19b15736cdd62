/*
 * What the node_metrics collectors share (in_node_metrics_read.c and
 * in_node_metrics_rtnl.c): guarded, bounded reads of /proc and /sys; tokens
 * and numbers that must be whole; writing families and series; the network
 * devices of the netlink dump; and the parsers of each /proc text, which the
 * tests and the fuzzer call directly.
 */
#ifndef GL_IN_NODE_METRICS_READ_H
#define GL_IN_NODE_METRICS_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/statfs.h>

#include "metrics/batch.h"
#include "util/buf.h"

struct gl_regex;
struct node_ctx;
struct node_fds;
struct node_match_cache;

/* A network device from the RTM_GETLINK dump (in_node_metrics_rtnl.c). */
enum {
    NODE_LINK_INDEX,
    NODE_LINK_TYPE,
    NODE_LINK_MTU,
    NODE_LINK_TXQLEN,
    NODE_LINK_IFLINK,
    NODE_LINK_GROUP,
    NODE_LINK_MODE,
    NODE_LINK_CARRIER,
    NODE_LINK_CHANGES,
    NODE_LINK_UP,
    NODE_LINK_DOWN,
    NODE_LINK_OPERSTATE,
    NODE_LINK_VALUES,
    NODE_LINK_NAME = NODE_LINK_VALUES,
    NODE_LINK_NOHANDLER
};

struct node_link {
    uint32_t name_at, name_len; /* strings in c->link_text */
    uint32_t addr_at, addr_len;
    uint32_t brd_at, brd_len;
    uint32_t alias_at, alias_len;
    uint64_t v[NODE_LINK_VALUES];
    uint64_t rx_nohandler;
    uint32_t ifi_flags; /* dev_get_flags(): IFF_UP as sysfs flags has it, IFF_DORMANT when up */
    uint32_t has;       /* a bit per value given (1 << NODE_LINK_*) */
};

/* ---- in_node_metrics_read.c ---------------------------------------------- */

struct node_tok {
    const char *p;
    size_t n;
};

/* Formats the current collector's failure message; returns rc for `return node_fail(...)`. */
int node_fail(struct node_ctx *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* base + "/" + rel into c->path; GL_ELIMIT when it does not fit. */
int node_path(struct node_ctx *c, const char *base, const char *rel);
/*
 * Reads a whole file (at most NODE_FILE_MAX bytes) into buf, NUL-terminated.
 * Returns 0, GL_ENOENT, GL_ELIMIT (larger), GL_EIO, or GL_ESTATE when the
 * thread was let go; on error c->err says which file and why.
 */
int node_read(struct node_ctx *c, struct gl_buf *buf, const char *base, const char *rel);
/*
 * node_read for a file that says when it changes: a mount table, which
 * poll marks POLLPRI after a mount, an unmount or a remount (proc(5)).
 * When the descriptor that read it last (*opened, 0 for none) is still kept
 * and has nothing to say, buf is left as that read made it and the answer
 * is NODE_UNCHANGED; otherwise the file is read into buf (0 or an error, as
 * node_read) and *opened names the descriptor, 0 when it is not kept (a
 * file outside /proc, read every time).
 */
int node_read_changed(struct node_ctx *c, struct gl_buf *buf, const char *base, const char *rel,
                      uint32_t *opened);
/*
 * Whether base/rel is there (0) and a file of a proc filesystem (*proc):
 * then what it shows of /proc/net is the agent's own network namespace, as
 * netlink is. Opens it and keeps it open, so asking again costs no system
 * call. Returns 0, GL_ENOENT, GL_EIO or GL_ESTATE.
 */
int node_proc_file(struct node_ctx *c, const char *base, const char *rel, bool *proc);
/* /proc/stat into c->proc_stat, once per collection. */
int node_read_proc_stat(struct node_ctx *c);
/*
 * Reads the small file dir/name into buf (at most cap - 1 bytes, as one
 * read), without surrounding spaces. Returns 0, GL_ENOENT, GL_EIO (the errno
 * in c->sys_errno) or GL_ESTATE; sets no message.
 */
int node_read_at(struct node_ctx *c, const char *dir, const char *name, char *buf, size_t cap,
                 size_t *len);
/*
 * Reads a file of one value (a /proc/sys entry) as node_read_at does, in one
 * read of at most cap - 1 bytes, with node_read's errors and messages; a
 * value that fills the buffer is refused (GL_ELIMIT) rather than cut.
 */
int node_read_value(struct node_ctx *c, const char *base, const char *rel, char *buf, size_t cap,
                    size_t *len);
/* The same for a file holding one unsigned number (GL_EPARSE when it does not). */
int node_read_u64(struct node_ctx *c, const char *base, const char *rel, uint64_t *v);
/* Closes the files kept open; tidy does it when too many slots belong to files given up. */
void node_fds_close(struct node_fds *f);
void node_fds_tidy(struct node_fds *f);
/* Opens a directory (O_RDONLY | O_DIRECTORY); returns the fd or a GL_E* code. */
int node_open_dir(struct node_ctx *c, int dirfd, const char *path);
void node_close(int fd);
/*
 * Lists the directory path into c->names as
 * sorted NUL-terminated names, without "." and ".."; *count is how many.
 */
int node_list(struct node_ctx *c, const char *path, size_t *count);
/* The same without regular files (directories and links only). */
int node_list_dirs(struct node_ctx *c, const char *path, size_t *count);
/* The next name of a listing (start with *at = 0); NULL after the last. */
const char *node_list_next(const struct node_ctx *c, size_t *at);
int node_statfs(struct node_ctx *c, const char *path, struct statfs *st);
/* True when path (a mount point) is among the ones found hung. */
bool node_is_stuck(const struct node_ctx *c, const char *path);

/* Starts the lookups of one collection; node_match answers as gl_regex_match would. */
void node_match_begin(struct node_match_cache *mc);
bool node_match(struct node_match_cache *mc, struct gl_regex *re, const char *s, size_t n);
void node_match_close(struct node_match_cache *mc);

bool node_next_line(const char **p, const char *end, struct node_tok *line);
bool node_next_field(struct node_tok *line, struct node_tok *field);
/* Splits on one byte (sockstat and netstat use single spaces); empty fields count. */
bool node_next_split(struct node_tok *line, char sep, struct node_tok *field);
bool node_tok_eq(struct node_tok t, const char *s);
bool node_parse_u64(struct node_tok t, uint64_t *v);
bool node_parse_i64(struct node_tok t, int64_t *v);
bool node_parse_hex(struct node_tok t, uint64_t *v);
/* An integer with Go's base prefixes: 0x.., 0o../0.., 0b.., else decimal. */
bool node_parse_int_auto(struct node_tok t, int64_t *v);
bool node_parse_f64(struct node_tok t, double *v);
struct node_tok node_trim(struct node_tok t);
/*
 * Joins the parts into out (cap bytes, NUL-terminated) by copying: the
 * family names and HELP texts made of a file's fields, collection after
 * collection. Returns the length, or 0 when they do not fit.
 */
size_t node_concat(char *out, size_t cap, const struct node_tok *parts, size_t n);
/* A literal as a token: NODE_T("node_memory_"); NODE_TS for a NUL-terminated string. */
#define NODE_T(s) ((struct node_tok){(s), sizeof(s) - 1})
#define NODE_TS(s) ((struct node_tok){(s), strlen(s)})
bool node_utf8_valid(const char *s, size_t n);

/*
 * Names the family the next series belong to. It is written with its first
 * series: a family none follows (no device of that kind here) is left out,
 * as node_exporter leaves it out.
 */
void node_family(struct node_ctx *c, const char *name, enum gl_metric_type type, const char *help);
void node_family_n(struct node_ctx *c, const char *name, size_t name_len, enum gl_metric_type type,
                   const char *help, size_t help_len);
void node_sample(struct node_ctx *c, const struct gl_label *l, size_t n, double v);

/* A label with a literal name: NODE_L("cpu", s, n); NODE_LS for a NUL-terminated value. */
#define NODE_L(name, v, n) ((struct gl_label){(name), sizeof(name) - 1, (v), (uint32_t)(n)})
#define NODE_LS(name, v) NODE_L(name, (v), strlen(v))

/* ---- in_node_metrics_rtnl.c --------------------------------------------- */

/* Dumps the devices of this network namespace into c->links, once per collection. */
int node_rtnl_links(struct node_ctx *c);
const struct node_link *node_rtnl_find(const struct node_ctx *c, const char *name, size_t len);
size_t node_rtnl_count(const struct node_ctx *c);
/*
 * Sums the send (*tx) and receive (*rx) queues of this network namespace's
 * UDP sockets of family (AF_INET, AF_INET6), as /proc/net/udp{,6} show them.
 * Returns 0, GL_ENOENT when the kernel has no UDP sock_diag (udp_diag cannot
 * be loaded), GL_EIO, or GL_ESTATE.
 */
int node_diag_udp(struct node_ctx *c, int family, double *tx, double *rx);

/* ---- the parsers -------------------------------------------------------- */

/*
 * The parsers behind the collectors, one per /proc text, for the fuzzer and
 * the tests: each parses the whole text and writes its series into c->b
 * only when all of it parsed. Returns 0 or GL_EPARSE (c->err says where).
 */
int node_parse_stat_cpu(struct node_ctx *c, const char *text, size_t len);
int node_parse_stat(struct node_ctx *c, const char *text, size_t len);
int node_parse_schedstat(struct node_ctx *c, const char *text, size_t len);
int node_parse_softnet(struct node_ctx *c, const char *text, size_t len);
int node_parse_meminfo(struct node_ctx *c, const char *text, size_t len);
int node_parse_vmstat(struct node_ctx *c, const char *text, size_t len);
int node_parse_pressure(struct node_ctx *c, const char *resource, const char *text, size_t len);
int node_parse_mounts(struct node_ctx *c, char *text, size_t len);
int node_parse_diskstats(struct node_ctx *c, const char *text, size_t len);
int node_parse_netdev(struct node_ctx *c, const char *text, size_t len);
int node_parse_netstat(struct node_ctx *c, const char *text, size_t len, bool snmp6);
int node_parse_sockstat(struct node_ctx *c, const char *text, size_t len, bool v6);
int node_parse_arp(struct node_ctx *c, const char *text, size_t len);
int node_parse_udp(const char *text, size_t len, double *tx, double *rx);
int node_parse_conntrack_stat(struct node_ctx *c, const char *text, size_t len);
int node_parse_loadavg(struct node_ctx *c, const char *text, size_t len);
int node_parse_filefd(struct node_ctx *c, const char *text, size_t len);
int node_parse_os_release(struct node_ctx *c, const char *text, size_t len);

#endif

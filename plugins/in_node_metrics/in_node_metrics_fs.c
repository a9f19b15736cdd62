/*
 * The filesystem collector: the mounts of /proc/1/mounts (the host's, when
 * the agent shares its PID namespace; else /proc/mounts), less those the
 * mount point and type patterns exclude, each stat'ed below path.rootfs.
 * A statfs that fails, or that hung before (see the worker), gives
 * node_filesystem_device_error 1 and no other series for that mount.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/regex.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

/* The most mounts reported; a longer table is taken as a broken file. */
#define MOUNTS_MAX 65536

struct mount {
    const char *dev, *mp, *fstype;
    uint32_t dev_len, mp_len, fstype_len;
    uint32_t index;
    bool ro, error, dup;
    double v[5]; /* size, free, avail, files, files_free */
};

/* Replaces the octal escapes node_exporter replaces (\040 space, \011 tab), in place. */
static size_t unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool esc = s[i] == '\\' && n - i >= 4;
        if (esc && memcmp(s + i, "\\040", 4) == 0) {
            s[o++] = ' ';
            i += 3;
        } else if (esc && memcmp(s + i, "\\011", 4) == 0) {
            s[o++] = '\t';
            i += 3;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

/* path.rootfs taken off the front of a mount point, as node_exporter does. */
static void strip_rootfs(const char *rootfs, const char **mp, uint32_t *len)
{
    size_t rl = strlen(rootfs);
    while (rl > 0 && rootfs[rl - 1] == '/') {
        rl--;
    }
    if (rl == 0 || *len < rl || memcmp(*mp, rootfs, rl) != 0) {
        return;
    }
    *mp += rl;
    *len -= (uint32_t)rl;
    if (*len == 0) {
        *mp = "/";
        *len = 1;
    }
}

static bool option_ro(struct node_tok opts)
{
    struct node_tok o;
    while (opts.p != NULL && node_next_split(&opts, ',', &o)) {
        if (node_tok_eq(o, "ro")) {
            return true;
        }
    }
    return false;
}

/*
 * Parses a mounts table (writable: escapes are replaced in place) into
 * c->mounts, keeping the mounts the patterns do not exclude; they point
 * into the text.
 */
int node_parse_mounts(struct node_ctx *c, char *text, size_t len)
{
    const char *p = text, *end = text + len;
    struct node_tok line, f[4];
    gl_buf_reset(&c->mounts);
    node_match_begin(&c->n->match[NODE_MATCH_MOUNTS]);
    node_match_begin(&c->n->match[NODE_MATCH_FSTYPES]);
    for (uint32_t no = 0; node_next_line(&p, end, &line); no++) {
        int n = 0;
        while (n < 4 && node_next_field(&line, &f[n])) {
            n++;
        }
        if (n < 4 || no >= MOUNTS_MAX) {
            return node_fail(c, GL_EPARSE, "mounts line %u: malformed", no + 1);
        }
        struct mount m = {.dev = f[0].p,
                          .dev_len = (uint32_t)f[0].n,
                          .mp = f[1].p,
                          .fstype = f[2].p,
                          .fstype_len = (uint32_t)f[2].n,
                          .index = no};
        m.mp_len = (uint32_t)unescape((char *)f[1].p, f[1].n);
        strip_rootfs(c->n->rootfs, &m.mp, &m.mp_len);
        m.ro = option_ro(f[3]);
        if (node_match(&c->n->match[NODE_MATCH_MOUNTS], c->n->mount_exclude, m.mp, m.mp_len) ||
            node_match(&c->n->match[NODE_MATCH_FSTYPES], c->n->fstype_exclude, m.fstype,
                       m.fstype_len)) {
            continue;
        }
        gl_buf_append(&c->mounts, &m, sizeof(m));
    }
    return 0;
}

static int tokcmp(const char *a, uint32_t an, const char *b, uint32_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    return r != 0 ? r : (an > bn) - (an < bn);
}

static int by_labels(const void *x, const void *y)
{
    const struct mount *a = *(struct mount *const *)x, *b = *(struct mount *const *)y;
    int r = tokcmp(a->dev, a->dev_len, b->dev, b->dev_len);
    r = r != 0 ? r : tokcmp(a->mp, a->mp_len, b->mp, b->mp_len);
    r = r != 0 ? r : tokcmp(a->fstype, a->fstype_len, b->fstype, b->fstype_len);
    return r != 0 ? r : (a->index > b->index) - (a->index < b->index);
}

/* Marks every mount whose three labels an earlier one already has. */
static void mark_duplicates(struct node_ctx *c, struct mount *m, size_t n)
{
    gl_buf_reset(&c->index);
    for (size_t i = 0; i < n; i++) {
        struct mount *pm = &m[i];
        gl_buf_append(&c->index, &pm, sizeof(pm));
    }
    struct mount **s = (struct mount **)c->index.data;
    qsort(s, n, sizeof(*s), by_labels);
    for (size_t i = 1; i < n; i++) {
        struct mount *a = s[i - 1], *b = s[i];
        b->dup = tokcmp(a->dev, a->dev_len, b->dev, b->dev_len) == 0 &&
                 tokcmp(a->mp, a->mp_len, b->mp, b->mp_len) == 0 &&
                 tokcmp(a->fstype, a->fstype_len, b->fstype, b->fstype_len) == 0;
    }
}

static int stat_mounts(struct node_ctx *c, struct mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char mp[PATH_MAX];
        struct statfs st;
        if (m[i].dup) {
            continue;
        }
        snprintf(mp, sizeof(mp), "%.*s", (int)m[i].mp_len, m[i].mp);
        if (node_path(c, c->n->rootfs, mp[0] == '/' ? mp + 1 : mp) < 0 ||
            node_is_stuck(c, c->path)) {
            m[i].error = true;
            continue;
        }
        int rc = node_statfs(c, c->path, &st);
        if (rc == GL_ESTATE) {
            return rc;
        }
        m[i].error = rc < 0;
        if (rc < 0) {
            continue;
        }
        double bsize = (double)st.f_bsize;
        m[i].v[0] = (double)st.f_blocks * bsize;
        m[i].v[1] = (double)st.f_bfree * bsize;
        m[i].v[2] = (double)st.f_bavail * bsize;
        m[i].v[3] = (double)st.f_files;
        m[i].v[4] = (double)st.f_ffree;
    }
    return 0;
}

static void emit_mounts(struct node_ctx *c, const struct mount *m, size_t n)
{
    static const char *const names[7] = {
        "node_filesystem_device_error", "node_filesystem_size_bytes", "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes",  "node_filesystem_files",      "node_filesystem_files_free",
        "node_filesystem_readonly",
    };
    static const char *const help[7] = {
        "Whether an error occurred while getting statistics for the given device.",
        "Filesystem size in bytes.",
        "Filesystem free space in bytes.",
        "Filesystem space available to non-root users in bytes.",
        "Filesystem total file nodes.",
        "Filesystem total free file nodes.",
        "Filesystem read-only status.",
    };
    for (int k = 0; k < 7; k++) {
        node_family(c, names[k], GL_METRIC_GAUGE, help[k]);
        for (size_t i = 0; i < n; i++) {
            if (m[i].dup || (k > 0 && m[i].error)) {
                continue;
            }
            struct gl_label l[3] = {NODE_L("device", m[i].dev, m[i].dev_len),
                                    NODE_L("mountpoint", m[i].mp, m[i].mp_len),
                                    NODE_L("fstype", m[i].fstype, m[i].fstype_len)};
            double v = k == 0 ? (m[i].error ? 1 : 0) : k == 6 ? (m[i].ro ? 1 : 0) : m[i].v[k - 1];
            node_sample(c, l, 3, v);
        }
    }
}

static size_t stuck_count(const struct node_ctx *c)
{
    size_t n = 0;
    for (size_t at = 0; at < c->stuck_len; at += strlen(c->stuck + at) + 1) {
        n++;
    }
    return n;
}

/*
 * The mounts, parsed and their duplicates marked, in c->mounts: read and
 * parsed again only when the mount table says it changed, as the kernel
 * tells whoever keeps it open. Their statfs values are taken every time.
 */
static int read_mounts(struct node_ctx *c)
{
    int rc = node_read_changed(c, &c->mounts_text, c->n->procfs, "1/mounts", &c->mounts_opened);
    if (rc == GL_ENOENT) {
        rc = node_read_changed(c, &c->mounts_text, c->n->procfs, "mounts", &c->mounts_opened);
    }
    if (rc == NODE_UNCHANGED || rc < 0) {
        return rc < 0 ? rc : 0;
    }
    rc = node_parse_mounts(c, c->mounts_text.data, c->mounts_text.len);
    if (rc < 0) {
        c->mounts_opened = 0;
        return rc;
    }
    mark_duplicates(c, (struct mount *)c->mounts.data, c->mounts.len / sizeof(struct mount));
    return 0;
}

int node_collect_filesystem(struct node_ctx *c)
{
    int rc = read_mounts(c);
    if (rc < 0) {
        return rc;
    }
    if (stuck_count(c) >= NODE_STUCK_MAX) {
        return node_fail(c, GL_ELIMIT, "%d mounts hang: no statfs until one answers",
                         NODE_STUCK_MAX);
    }
    struct mount *m = (struct mount *)c->mounts.data;
    size_t n = c->mounts.len / sizeof(*m);
    rc = stat_mounts(c, m, n);
    if (rc == 0) {
        emit_mounts(c, m, n);
    }
    return rc;
}

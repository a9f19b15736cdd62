/*
 * Kubernetes metadata from container log paths, so that routing and output
 * names work even without the kubernetes filter:
 *   /var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log
 *   /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
 * A containers/ symlink is resolved to its pods/ target for the pod's uid.
 * Also the Fluent Bit tag expansion: `kube.*` + path -> kube.var.log....
 */
#include <string.h>

#include "in_tail.h"
#include "util/error.h"
#include "util/mem.h"

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool is_hex64(const char *p, size_t n)
{
    if (n != 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* <pod>_<namespace>_<container>-<id>.log; pod names cannot hold '_', namespaces neither. */
static int from_containers(const char *name, struct tail_k8s *k)
{
    size_t n = strlen(name);
    if (n < 4 || strcmp(name + n - 4, ".log") != 0) {
        return GL_EINVAL;
    }
    n -= 4;
    const char *u1 = memchr(name, '_', n);
    const char *u2 = u1 ? memchr(u1 + 1, '_', (size_t)(name + n - u1 - 1)) : NULL;
    const char *dash = u2 ? memrchr(u2 + 1, '-', (size_t)(name + n - u2 - 1)) : NULL;
    if (dash == NULL || u1 == name || u2 == u1 + 1 || dash == u2 + 1) {
        return GL_EINVAL;
    }
    k->pod_name = gl_strndup(name, (size_t)(u1 - name));
    k->namespace_name = gl_strndup(u1 + 1, (size_t)(u2 - u1 - 1));
    size_t idlen = (size_t)(name + n - dash - 1);
    if (is_hex64(dash + 1, idlen)) {
        k->container_name = gl_strndup(u2 + 1, (size_t)(dash - u2 - 1));
        k->docker_id = gl_strndup(dash + 1, idlen);
    } else {
        k->container_name = gl_strndup(u2 + 1, (size_t)(name + n - u2 - 1));
    }
    return 0;
}

/* .../pods/<namespace>_<pod>_<uid>/<container>/<n>.log */
static int from_pods(const char *real, struct tail_k8s *k)
{
    const char *p = strstr(real, "/pods/");
    if (p == NULL) {
        return GL_EINVAL;
    }
    p += 6;
    const char *slash1 = strchr(p, '/');
    const char *slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;
    if (slash2 == NULL || strchr(slash2 + 1, '/') != NULL) {
        return GL_EINVAL;
    }
    const char *u1 = memchr(p, '_', (size_t)(slash1 - p));
    const char *u2 = u1 ? memchr(u1 + 1, '_', (size_t)(slash1 - u1 - 1)) : NULL;
    if (u2 == NULL) {
        return GL_EINVAL;
    }
    if (k->pod_name == NULL) {
        k->namespace_name = gl_strndup(p, (size_t)(u1 - p));
        k->pod_name = gl_strndup(u1 + 1, (size_t)(u2 - u1 - 1));
        k->container_name = gl_strndup(slash1 + 1, (size_t)(slash2 - slash1 - 1));
    }
    k->pod_id = gl_strndup(u2 + 1, (size_t)(slash1 - u2 - 1));
    return 0;
}

int tail_k8s_from_path(const char *path, const char *real, struct tail_k8s *k)
{
    memset(k, 0, sizeof(*k));
    int a = from_containers(base_name(path), k);
    int b = from_pods(real, k);
    if (a < 0 && b < 0) {
        return GL_EINVAL;
    }
    return 0;
}

void tail_k8s_free(struct tail_k8s *k)
{
    gl_free(k->pod_name);
    gl_free(k->namespace_name);
    gl_free(k->container_name);
    gl_free(k->docker_id);
    gl_free(k->pod_id);
    memset(k, 0, sizeof(*k));
}

char *tail_tag_expand(const char *tag, const char *path)
{
    size_t tl = strlen(tag);
    if (tl == 0 || tag[tl - 1] != '*') {
        return gl_strdup(tag);
    }
    while (*path == '/') {
        path++;
    }
    size_t pl = strlen(path);
    char *out = gl_malloc(tl - 1 + pl + 1);
    memcpy(out, tag, tl - 1);
    for (size_t i = 0; i < pl; i++) {
        out[tl - 1 + i] = path[i] == '/' ? '.' : path[i];
    }
    out[tl - 1 + pl] = '\0';
    return out;
}

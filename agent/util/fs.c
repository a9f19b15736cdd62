/*
 * File-system helpers (see fs.h). Blocking calls: used for local files only,
 * each bounded by what one chunk holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

int gl_fs_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return GL_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int gl_fs_mkdir_p(const char *path)
{
    char *copy = gl_strdup(path);
    int rc = 0;
    for (char *p = copy + 1; ; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char c = *p;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
            rc = GL_EIO;
            break;
        }
        *p = c;
        if (c == '\0') {
            break;
        }
    }
    gl_free(copy);
    return rc;
}

int gl_fs_read_small(const char *path, size_t max, struct gl_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return GL_EIO;
    }
    size_t start = out->len;
    gl_buf_reserve(out, max + 1);
    ssize_t n;
    do {
        n = read(fd, out->data + out->len, max + 1 - (out->len - start));
        if (n > 0) {
            out->len += (size_t)n;
        }
    } while ((n > 0 && out->len - start <= max) || (n < 0 && errno == EINTR));
    close(fd);
    if (n < 0 || out->len - start > max) {
        out->len = start;
        out->data[out->len] = '\0';
        return n < 0 ? GL_EIO : GL_ELIMIT;
    }
    while (out->len > start && strchr(" \t\r\n", out->data[out->len - 1]) != NULL) {
        out->len--;
    }
    out->data[out->len] = '\0';
    return 0;
}

/*
 * File-system helpers (see fs.h). Blocking calls: used for local files only,
 * each bounded by what one chunk holds.
 */
#include <errno.h>
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

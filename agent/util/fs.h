/*
 * Small file-system helpers shared by plugins: writing a whole buffer and
 * creating a directory path. Errors are GL_E* codes; errno is left for the
 * caller's log line.
 */
#ifndef GL_FS_H
#define GL_FS_H

#include <stddef.h>

#include "util/buf.h"

/* Writes all n bytes, retrying short writes and EINTR. Returns 0 or GL_EIO. */
int gl_fs_write_all(int fd, const char *p, size_t n);

/* Creates a directory and its parents (mode 0755); an existing directory is fine. */
int gl_fs_mkdir_p(const char *path);

/*
 * Appends a small file (a token, a password) to out, without the blanks and
 * newlines that end it. Returns 0, GL_EIO when it cannot be read, GL_ELIMIT
 * when it is longer than max.
 */
int gl_fs_read_small(const char *path, size_t max, struct gl_buf *out);

#endif

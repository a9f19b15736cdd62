/*
 * Error codes shared by every layer of the agent.
 *
 * Functions return 0 on success or one of the negative GL_E* codes below; a
 * function that returns a pointer returns NULL instead. gl_strerror() turns a
 * code into a short static string for log lines. Flush outcomes (GL_OK,
 * GL_RETRY, GL_DROP) are not errors and live in flush.h.
 */
#ifndef GL_ERROR_H
#define GL_ERROR_H

enum gl_error {
    GL_EINVAL = -1,   /* a value is not what was expected */
    GL_ENOMEM = -2,   /* a data-sized allocation was refused by its limit */
    GL_EIO = -3,      /* a system call failed */
    GL_ENOENT = -4,   /* no such file, key or plugin */
    GL_EAGAIN = -5,   /* nothing now, try again later */
    GL_ELIMIT = -6,   /* over a configured limit */
    GL_EPARSE = -7,   /* malformed input (JSON, YAML, msgpack, a log line) */
    GL_ECONFIG = -8,  /* the configuration has errors, already reported */
    GL_ETIMEDOUT = -9,
    GL_EPAUSED = -10, /* the pipeline asked the input to pause */
    GL_EHTTP = -11,   /* an HTTP exchange failed */
    GL_ESTATE = -12,  /* called in the wrong state */
};

const char *gl_strerror(int rc);

#endif

/*
 * Error strings. One table, indexed by the negated code, so that a log line
 * can say "rc=-7 (malformed input)" without every caller knowing the list.
 */
#include "util/error.h"

static const char *const messages[] = {
    [0] = "success",
    [-GL_EINVAL] = "invalid value",
    [-GL_ENOMEM] = "out of memory",
    [-GL_EIO] = "input/output error",
    [-GL_ENOENT] = "not found",
    [-GL_EAGAIN] = "try again",
    [-GL_ELIMIT] = "over the limit",
    [-GL_EPARSE] = "malformed input",
    [-GL_ECONFIG] = "configuration error",
    [-GL_ETIMEDOUT] = "timed out",
    [-GL_EPAUSED] = "paused",
    [-GL_EHTTP] = "HTTP error",
    [-GL_ESTATE] = "wrong state",
};

const char *gl_strerror(int rc)
{
    if (rc > 0 || -rc >= (int)(sizeof(messages) / sizeof(messages[0]))) {
        return "unknown error";
    }
    return messages[-rc];
}

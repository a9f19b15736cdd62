/*
 * The agent's own log: to stderr, as logfmt (default) or JSON lines
 * (service.log_format), filtered by service.log_level. Lines about a plugin
 * instance carry its kind, name and alias ("[output:es:es.0]" in logfmt's
 * `plugin=` field). At most 10 warnings or errors from one place (format
 * string and instance) go out per 10 seconds; the rest are counted and the
 * count is reported with the next line from there, so an error that repeats
 * per record or per retry never floods.
 */
#ifndef GL_LOG_H
#define GL_LOG_H

#include <stdarg.h>

struct gl_instance;

enum gl_log_level { GL_LOG_OFF, GL_LOG_ERROR, GL_LOG_WARN, GL_LOG_INFO, GL_LOG_DEBUG,
                    GL_LOG_TRACE };
enum gl_log_format { GL_LOG_LOGFMT, GL_LOG_JSON };

void gl_log_configure(enum gl_log_level level, enum gl_log_format format);
/* Parses "error", "warn"/"warning", "info", "debug", "trace", "off"; returns -1 when unknown. */
int gl_log_level_parse(const char *s);
enum gl_log_level gl_log_level_get(void);

void gl_log(enum gl_log_level level, const struct gl_instance *ins, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gl_logv(enum gl_log_level level, const struct gl_instance *ins, const char *fmt,
             va_list ap);

#define gl_log_error(ins, ...) gl_log(GL_LOG_ERROR, (ins), __VA_ARGS__)
#define gl_log_warn(ins, ...) gl_log(GL_LOG_WARN, (ins), __VA_ARGS__)
#define gl_log_info(ins, ...) gl_log(GL_LOG_INFO, (ins), __VA_ARGS__)
#define gl_log_debug(ins, ...) gl_log(GL_LOG_DEBUG, (ins), __VA_ARGS__)

/* Lines suppressed by the rate limit so far (for /metrics). */
unsigned long gl_log_suppressed(void);

#endif

/*
 * Self-logging to stderr. Formatting happens into a stack buffer and goes out
 * with one write(2), so lines from the agent never interleave. Repeats are
 * detected by hashing the format string and instance: the same message from
 * the same place within WINDOW_NS is counted, not printed, and the count is
 * attached to the next line from that place that is printed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "codec/json.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/buf.h"

#define WINDOW_NS (10ull * 1000000000ull)
#define SLOTS 64

struct repeat {
    const char *fmt;
    const struct gl_instance *ins;
    uint64_t window_ns;       /* start of the current window */
    unsigned count;           /* lines let through in this window */
    unsigned long suppressed;
};

#define BURST 10

static enum gl_log_level log_level = GL_LOG_INFO;
static enum gl_log_format log_format = GL_LOG_LOGFMT;
static struct repeat repeats[SLOTS];
static unsigned long total_suppressed;

static const char *const level_names[] = { "off", "error", "warn", "info", "debug", "trace" };

void gl_log_configure(enum gl_log_level level, enum gl_log_format format)
{
    log_level = level;
    log_format = format;
}

enum gl_log_level gl_log_level_get(void)
{
    return log_level;
}

int gl_log_level_parse(const char *s)
{
    if (strcasecmp(s, "warning") == 0) {
        return GL_LOG_WARN;
    }
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

unsigned long gl_log_suppressed(void)
{
    return total_suppressed;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Decides whether a line from (fmt, ins) goes out now. Returns the number of
 * earlier lines from there held back to report with it, or -1 to hold this
 * one back. Errors and warnings are limited; info and debug lines are rare by
 * design and always go out.
 */
static long admit(enum gl_log_level level, const char *fmt, const struct gl_instance *ins,
                  uint64_t now)
{
    if (level > GL_LOG_WARN) {
        return 0;
    }
    struct repeat *r = &repeats[(((uintptr_t)fmt >> 3) ^ ((uintptr_t)ins >> 4)) % SLOTS];
    if (r->fmt != fmt || r->ins != ins || now - r->window_ns >= WINDOW_NS) {
        long held = r->fmt == fmt && r->ins == ins ? (long)r->suppressed : 0;
        r->fmt = fmt;
        r->ins = ins;
        r->window_ns = now;
        r->count = 1;
        r->suppressed = 0;
        return held;
    }
    if (r->count < BURST) {
        r->count++;
        return 0;
    }
    r->suppressed++;
    total_suppressed++;
    return -1;
}

static void plugin_label(char *out, size_t len, const struct gl_instance *ins)
{
    if (ins == NULL) {
        snprintf(out, len, "core");
        return;
    }
    snprintf(out, len, "%s:%s:%s", gl_plugin_kind_name(ins->plugin->kind), ins->plugin->name,
             ins->alias);
}

static void format_line(struct gl_buf *b, enum gl_log_level level, const char *plugin,
                        const char *msg, size_t msg_len, long suppressed, uint64_t now)
{
    char ts[40];
    gl_json_format_time(ts, now);
    if (log_format == GL_LOG_JSON) {
        gl_buf_printf(b, "{\"time\":\"%s\",\"level\":\"%s\",\"plugin\":", ts,
                      level_names[level]);
        gl_json_write_str(b, plugin, strlen(plugin));
        gl_buf_puts(b, ",\"msg\":");
        gl_json_write_str(b, msg, msg_len);
        if (suppressed > 0) {
            gl_buf_printf(b, ",\"repeated\":%ld", suppressed);
        }
        gl_buf_puts(b, "}\n");
        return;
    }
    gl_buf_printf(b, "time=%s level=%s plugin=%s msg=", ts, level_names[level], plugin);
    gl_json_write_str(b, msg, msg_len);
    if (suppressed > 0) {
        gl_buf_printf(b, " repeated=%ld", suppressed);
    }
    gl_buf_putc(b, '\n');
}

void gl_logv(enum gl_log_level level, const struct gl_instance *ins, const char *fmt,
             va_list ap)
{
    int limit = ins != NULL && ins->log_level ? ins->log_level : (int)log_level;
    if ((int)level > limit) {
        return;
    }
    uint64_t now = now_ns();
    long suppressed = admit(level, fmt, ins, now);
    if (suppressed < 0) {
        return;
    }
    char msg[2048];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t msg_len = n < 0 ? 0 : ((size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n);
    char plugin[160];
    plugin_label(plugin, sizeof(plugin), ins);
    struct gl_buf b;
    gl_buf_init(&b);
    format_line(&b, level, plugin, msg, msg_len, suppressed, now);
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    gl_buf_close(&b);
}

void gl_log(enum gl_log_level level, const struct gl_instance *ins, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gl_logv(level, ins, fmt, ap);
    va_end(ap);
}

/*
 * Fuzzes agent/core/parser.c on arbitrary bytes: the logfmt parser, a regex parser
 * with named groups and types, the json parser, and the time reader with the
 * formats parsers use. Every run writes into a fresh record that must read
 * back as a well-formed record.
 */
#include <stdint.h>
#include <string.h>

#include "codec/timefmt.h"
#include "config/config.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/parser.h"
#include "util/buf.h"

static const char parsers_yaml[] =
    "parsers:\n"
    "  - name: kv\n"
    "    format: regex\n"
    "    regex: '^(?<time>[^ ]*) (?<level>\\w*)(?: (?<code>\\d+))?(?: (?<msg>.*))?$'\n"
    "    time_key: time\n"
    "    time_format: '%Y-%m-%dT%H:%M:%S.%L%z'\n"
    "    types: 'code:integer level:bool'\n"
    "  - name: lf\n"
    "    format: logfmt\n"
    "    time_key: t\n"
    "    time_format: '%d/%b/%Y:%H:%M:%S %z'\n"
    "    types: 'n:float'\n";

static const char *const time_formats[] = { "%s", "%Y-%m-%dT%H:%M:%S.%L%z", "%FT%T %p %j %y %e",
                                            "%d/%b/%Y:%H:%M:%S %z", NULL };

static void run_one(const struct gl_parser *p, const char *text, size_t len)
{
    struct gl_buf b;
    struct gl_event ev;
    struct gl_record rec;
    msgpack_unpacked up;
    uint64_t ts;
    int has_ts;
    size_t off = 0;
    gl_buf_init(&b);
    msgpack_unpacked_init(&up);
    gl__event_begin_buf(&ev, &b, 0);
    gl_parser_run(p, text, len, &ev, &ts, &has_ts);
    gl__event_finish(&ev);
    if (gl_record_read(&up, b.data, b.len, &off, &rec) != 0 || off != b.len) {
        __builtin_trap();
    }
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gl_config *cfg;
    if (cfg == NULL) {
        cfg = gl_config_load_text("fuzz.yaml", parsers_yaml, sizeof(parsers_yaml) - 1);
        if (gl_parsers_load(cfg, gl_node_get(cfg->root, "parsers")) != 0) {
            __builtin_trap();
        }
    }
    const char *text = (const char *)data;
    run_one(gl_parser_get("logfmt"), text, size);
    run_one(gl_parser_get("lf"), text, size);
    run_one(gl_parser_get("kv"), text, size);
    run_one(gl_parser_get("json"), text, size);
    for (size_t i = 0; time_formats[i] != NULL; i++) {
        uint64_t ns;
        gl_timefmt_parse(time_formats[i], text, size, &ns);
    }
    return 0;
}

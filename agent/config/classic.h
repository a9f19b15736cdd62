/*
 * Fluent Bit's classic configuration format, read into the same tree of
 * gl_node that config.c builds from YAML, so that option tables, checks,
 * errors and --help-plugin are shared:
 *
 *   [SERVICE]            -> service: {...}       (several are merged)
 *   [INPUT] [FILTER] [OUTPUT]
 *                        -> pipeline: inputs/filters/outputs: [{name: ...}, ...]
 *   [PARSER]             -> parsers: [...]
 *   [MULTILINE_PARSER]   -> multiline_parsers: [...]
 *
 * Keys are lower-cased; a key written more than once in a section becomes a
 * sequence of its values (marked `repeated`), which options taking several
 * values (rename, regex, systemd_filter...) accept and the others refuse.
 * `@INCLUDE` reads files relative to the including one (globs allowed),
 * `@SET name=value` defines a variable that ${name} finds before the
 * environment does. Every node keeps the file, line and column it was
 * written at, and the comment lines above it (for --convert).
 */
#ifndef GL_CLASSIC_H
#define GL_CLASSIC_H

#include <stdbool.h>
#include <stddef.h>

struct gl_config;

/*
 * True when the text is in the classic format: its first line that is
 * neither blank nor a comment is a [SECTION] header or an @INCLUDE/@SET.
 */
bool gl__classic_detect(const char *text, size_t len);

/*
 * Reads classic text (the file `path`, for includes and messages) into
 * cfg->root, recording every error found in the whole text and its
 * includes. With expand_env false (--convert), ${VAR} the environment would
 * give is kept as written; @SET variables are always substituted.
 */
void gl__classic_load(struct gl_config *cfg, const char *path, const char *text, size_t len,
                      bool expand_env);

#endif

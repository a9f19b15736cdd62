/*
 * gleaner --convert: a config in Fluent Bit's classic format written out as
 * gleaner YAML, so that a set-up moved over unchanged can leave the classic
 * format at leisure. The YAML is the tree the classic reader builds (the
 * engine sees the same pipeline either way), with the comments kept above
 * the keys and sections they were written over, @SET variables substituted,
 * @INCLUDEd files inlined (each marked by a comment) and ${VAR} of the
 * environment kept as written.
 */
#ifndef GL_CONVERT_H
#define GL_CONVERT_H

struct gl_config;
struct gl_buf;
struct gl_node;

/*
 * Reads the classic file at path and writes it as YAML into out. Returns the
 * config, whose errors (a file that is not in the classic format, or what
 * the reader found) mean nothing was written; the caller frees it.
 */
struct gl_config *gl_convert_classic(const char *path, struct gl_buf *out);

/* Writes a config tree as YAML that the YAML reader loads into the same tree. */
void gl_convert_write(const struct gl_node *root, struct gl_buf *out);

#endif

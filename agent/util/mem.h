/*
 * Small allocations. They abort the process on failure, as Redis' zmalloc:
 * an agent that cannot get 64 bytes cannot do anything useful, and checking
 * every small allocation hides the real error handling. Data-sized memory
 * (chunks, bodies, lines) is bounded by configured limits instead.
 */
#ifndef GL_MEM_H
#define GL_MEM_H

#include <stddef.h>
#include <stdint.h>

void *gl_malloc(size_t n);
void *gl_calloc(size_t count, size_t size);
void *gl_realloc(void *p, size_t n);
char *gl_strdup(const char *s);
char *gl_strndup(const char *s, size_t n);
void gl_free(void *p);
/*
 * How many allocations (gl_malloc, gl_calloc, gl_realloc) the calling thread
 * made: tests assert what a path costs with it.
 */
uint64_t gl_mem_allocations(void);

#endif

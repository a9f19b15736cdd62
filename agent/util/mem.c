/*
 * Allocation wrappers that abort on failure (see mem.h for why).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/*
 * Calls that may have allocated, for tests and benchmarks: each thread counts
 * its own (a plugin's collecting thread allocates too), and the loop thread
 * reads its own.
 */
static _Thread_local uint64_t allocations;

uint64_t gl_mem_allocations(void)
{
    return allocations;
}

static void out_of_memory(size_t n)
{
    fprintf(stderr, "gleaner: out of memory allocating %zu bytes\n", n);
    abort();
}

void *gl_malloc(size_t n)
{
    allocations++;
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        out_of_memory(n);
    }
    return p;
}

void *gl_calloc(size_t count, size_t size)
{
    allocations++;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        out_of_memory(count * size);
    }
    return p;
}

void *gl_realloc(void *p, size_t n)
{
    allocations++;
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        out_of_memory(n);
    }
    return q;
}

char *gl_strndup(const char *s, size_t n)
{
    char *d = gl_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *gl_strdup(const char *s)
{
    return gl_strndup(s, strlen(s));
}

void gl_free(void *p)
{
    free(p);
}

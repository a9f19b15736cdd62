/*
 * Hashes of byte strings, for the agent's tables and fingerprints. Two of
 * them, inline because their callers run per record:
 *
 *   gl_hash_fnv1a64  FNV-1a, one byte at a time. Its values are stable: the
 *                    tail input stores the fingerprint of a file's first bytes
 *                    in its offsets database (plugins/in_tail/in_tail_file.c),
 *                    so for the same seed and bytes it must return the same
 *                    value in every release. Also keys the input's tag slots
 *                    (agent/core/input.c) and the pod cache's tables (agent/k8s/pods.c).
 *   gl_hash_words64  Eight bytes per step, for longer strings on hot paths:
 *                    the kubernetes filter's fingerprint of a record's own
 *                    kubernetes map and its cache of built maps. Its values
 *                    depend on the byte order of the host and live only in
 *                    memory; never store them.
 *
 * Both take the running value as their first argument, so pieces can be
 * hashed one after another; start from GL_HASH_FNV1A64_BASIS.
 */
#ifndef GL_HASH_H
#define GL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GL_HASH_FNV1A64_BASIS 0xcbf29ce484222325ull /* the published offset basis */
#define GL_HASH_FNV1A64_PRIME 0x100000001b3ull
#define GL_HASH_WORD_PRIME 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio, odd */

/* FNV-1a of n bytes, continuing from h. */
static inline uint64_t gl_hash_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * GL_HASH_FNV1A64_PRIME;
    }
    return h;
}

/*
 * Hashes n bytes into h a 64-bit word at a time, the last n % 8 bytes as
 * FNV-1a. The shift after each multiply brings the high bits, where a
 * multiply puts its mixing, down to the low bits that pick a bucket. The
 * closing separator byte (0x1f, the unit separator) tells the pieces "ab",
 * "c" from "a", "bc" when several are hashed one after another.
 */
static inline uint64_t gl_hash_words64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * GL_HASH_WORD_PRIME;
        h ^= h >> 29;
    }
    h = gl_hash_fnv1a64(h, p, n);
    return (h ^ 0x1f) * GL_HASH_FNV1A64_PRIME;
}

#endif

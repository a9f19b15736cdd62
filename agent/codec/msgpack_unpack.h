/*
 * Unpacking one msgpack object into msgpack-c's object tree, for the record
 * readers on the hot path. msgpack_unpack_next() frees and allocates its
 * 8 KiB zone for every object and runs a general state machine; records are
 * read one after the other, a few dozen objects each, so this reuses the
 * zone and decodes recursively.
 *
 * What it builds is what msgpack_unpack_next() builds from the same bytes
 * (types, values, strings pointing into the bytes), and it refuses what
 * that refuses, containers nested deeper than MSGPACK_EMBED_STACK_SIZE
 * included (tests/fuzz/fuzz_msgpack_scan.c compares the two).
 */
#ifndef GL_MSGPACK_UNPACK_H
#define GL_MSGPACK_UNPACK_H

#include <msgpack.h>
#include <stddef.h>

/*
 * Unpacks the object at data + *off into up (its zone kept across calls,
 * its last object dropped) and moves *off past it. Returns 0, or GL_EPARSE
 * for bytes that are not one whole object (up then holds nothing usable,
 * *off is unchanged).
 */
int gl_msgpack_unpack(msgpack_unpacked *up, const char *data, size_t len, size_t *off);

#endif

/*
 * Fuzzes agent/codec/json.c: arbitrary bytes are read as JSON; what reads is
 * unpacked, written back and must read again (the writer always produces
 * valid JSON). The raw bytes are also written as a string literal, which must
 * read back as one string.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/json.h"
#include "util/error.h"

/*
 * Reads text, which must be valid JSON, and returns the packed size. The
 * depth allowed is generous: what is checked here is validity, and a record
 * writer adds a level around what it was given.
 */
static size_t read_valid(const char *text, size_t len)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    struct gl_json_error err;
    int rc = gl_json_read(text, len, &pk, 128, &err);
    assert(rc == 0);
    size_t n = sbuf.size;
    msgpack_sbuffer_destroy(&sbuf);
    return n;
}

/* Writes the packed value back as JSON (when msgpack-c can unpack its depth) and rereads it. */
static void write_back(const msgpack_sbuffer *sbuf)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, sbuf->data, sbuf->size, &off) == MSGPACK_UNPACK_SUCCESS) {
        struct gl_buf b;
        gl_buf_init(&b);
        gl_json_write(&b, &u.data);
        read_valid(b.data, b.len);
        gl_buf_close(&b);
    }
    msgpack_unpacked_destroy(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    struct gl_json_error err = { 0 };
    int rc = gl_json_read(text, size, &pk, 0, &err);
    if (rc == 0) {
        write_back(&sbuf);
    } else {
        assert(rc == GL_EPARSE && err.what != NULL && err.offset <= size);
    }
    msgpack_sbuffer_destroy(&sbuf);

    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write_str(&b, text, size);
    read_valid(b.data, b.len);
    gl_buf_close(&b);

    struct gl_json_doc doc;
    if (gl_json_doc_parse(&doc, text, size, NULL) == 0) {
        gl_buf_init(&b);
        gl_json_write_record(&b, (uint64_t)size * 1000003u, &doc.root);
        read_valid(b.data, b.len);
        gl_buf_close(&b);
    }
    gl_json_doc_free(&doc);
    return 0;
}

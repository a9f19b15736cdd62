/*
 * Fuzzes the pod cache's parsers of outside input (agent/k8s/pods_decode.c): the
 * bytes are a watch stream, fed to the framing in pieces whose sizes come
 * from the first byte; every frame is parsed as a watch event and its object
 * decoded as a pod, which is then freed. A small frame bound makes the
 * oversized path reachable.
 */
#include <stddef.h>
#include <stdint.h>

#include "codec/json.h"
#include "k8s/pods_private.h"

static int on_frame(void *data, const char *p, size_t len)
{
    struct gl_json_doc doc;
    enum gl__event type;
    const msgpack_object *obj = NULL;
    struct gl_pod pod;

    (void)data;
    if (gl__pods_event_parse(&doc, p, len, &type, &obj) == 0 && type != GL__EV_ERROR) {
        if (gl__pod_decode(obj, &pod) == 0) {
            gl__pod_close(&pod);
        }
    }
    gl_json_doc_free(&doc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gl__frames f;
    size_t step;

    if (size == 0) {
        return 0;
    }
    step = (size_t)(data[0] % 61) + 1;
    gl__frames_init(&f, 4096);
    for (size_t off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        gl__frames_feed(&f, (const char *)data + off, n, on_frame, NULL);
    }
    gl__frames_close(&f);
    return 0;
}

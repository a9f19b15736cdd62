/*
 * Benchmark: remote-write encoding and snappy compression, in samples per
 * second on one core, for 100,000 series of four labels (name, namespace,
 * pod, container, as kubelet metrics have), and the compression ratio.
 * Run by bench/run.py; timings are measured, never asserted.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/snappy.h"
#include "metrics/batch.h"
#include "metrics/remote_write.h"
#include "util/mem.h"

#define SERIES 100000
#define ROUNDS 10

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    struct gl_buf batch, pb, out;
    struct gl_batch b;
    char pod[32];
    gl_buf_init(&batch);
    gl_batch_begin_buf(&b, &batch, 1700000000000);
    gl_batch_family(&b, "container_memory_working_set_bytes", 34, GL_METRIC_GAUGE,
                    "Current working set in bytes.", 29, NULL, 0);
    for (int i = 0; i < SERIES; i++) {
        int n = snprintf(pod, sizeof(pod), "api-%d-7c9f8", i);
        struct gl_label l[] = { { "namespace", 9, "default", 7 },
                                { "pod", 3, pod, (uint32_t)n },
                                { "container", 9, "app", 3 } };
        gl_batch_sample(&b, l, 3, 0, 1e6 + i);
    }
    gl_batch_commit(&b);
    struct gl_rw_series *rs = gl_calloc(SERIES, sizeof(*rs));
    struct gl_batch_iter it;
    struct gl_family fam;
    struct gl_series s;
    size_t n = 0;
    gl_batch_iter_init_bytes(&it, batch.data, batch.len);
    while (gl_batch_next_family(&it, &fam) == 0) {
        while (gl_batch_next_series(&it, &s) == 0) {
            rs[n++] = (struct gl_rw_series){ fam.name, fam.name_len, fam.type, fam.help,
                                             fam.help_len, fam.unit, fam.unit_len, s.raw,
                                             (uint32_t)s.raw_len, fam.batch_ts_ms };
        }
    }
    gl_buf_init(&pb);
    gl_buf_init(&out);
    double enc = 0, comp = 0;
    for (int r = 0; r < ROUNDS; r++) {
        gl_buf_reset(&pb);
        gl_buf_reset(&out);
        double t0 = cpu_now();
        /* In requests of 2,000 samples, as the output sends them. */
        for (size_t i = 0; i < n; i += 2000) {
            gl_rw_encode(&pb, rs + i, n - i < 2000 ? n - i : 2000, NULL, 0, true);
        }
        double t1 = cpu_now();
        gl_snappy_compress(pb.data, pb.len, &out);
        enc += t1 - t0;
        comp += cpu_now() - t1;
    }
    printf("remote-write: 100,000 series encoded (WriteRequest)\t%.2fM samples/s\t"
           "one core\n", n * ROUNDS / enc / 1e6);
    printf("remote-write: snappy compression\t%.2fM samples/s\t%.0f MB/s of protobuf\n",
           n * ROUNDS / comp / 1e6, pb.len * (double)ROUNDS / comp / 1e6);
    printf("remote-write: encode + compress (target 2M samples/s)\t%.2fM samples/s\t"
           "ratio %.1f\n", n * ROUNDS / (enc + comp) / 1e6, (double)pb.len / (double)out.len);
    printf("remote-write: 100,000 series every 15 s (encode + compress, HTTP aside)\t-\t"
           "%.1f ms CPU per push, %.2f%% of a core\n", (enc + comp) / ROUNDS * 1e3,
           (enc + comp) / ROUNDS / 15 * 100);
    gl_free(rs);
    gl_buf_close(&batch);
    gl_buf_close(&pb);
    gl_buf_close(&out);
    return 0;
}

/*
 * Benchmark: text-format parse throughput on one core, for two bodies a
 * node serves: cAdvisor's (long label sets: id, image, name, namespace,
 * pod, container) and node_exporter's (short lines, few labels, HELP and
 * TYPE for each family). Each is read whole many times; the figure is MB
 * of exposition per CPU second. Prints one row per body. Run by
 * bench/run.py; timings are measured, never asserted.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics/prom_parse.h"
#include "util/buf.h"

#define BODY_BYTES (16u << 20)

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* cAdvisor's shape: a few families, thousands of containers with long ids. */
static void cadvisor_body(struct gl_buf *b)
{
    static const char *const families[] = { "container_cpu_usage_seconds_total",
                                            "container_memory_working_set_bytes",
                                            "container_network_receive_bytes_total",
                                            "container_fs_reads_total" };
    for (int f = 0; b->len < BODY_BYTES; f = (f + 1) % 4) {
        gl_buf_printf(b, "# HELP %s A cAdvisor metric.\n# TYPE %s %s\n", families[f],
                      families[f], f == 1 ? "gauge" : "counter");
        for (int i = 0; i < 2000; i++) {
            gl_buf_printf(b,
                          "%s{container=\"app-%d\",cpu=\"total\",id=\"/kubepods/burstable/"
                          "pod5a1c%04d-7d3e-4c8a-9f1b-2e6d8c0a%04d/0a1b2c3d4e5f60718293a4b5c6d7e8"
                          "f9%06d\",image=\"registry.example.com/team/app:1.%d.0\",name=\""
                          "0a1b2c3d4e5f60718293a4b5c6d7e8f9%06d\",namespace=\"ns-%d\",pod=\""
                          "app-%d-7d9f8c6b5-x%04d\"} %d.%03d 1700000000%03d\n",
                          families[f], i % 7, i, i, i, i % 9, i, i % 13, i % 7, i, i * 37,
                          i % 1000, i % 1000);
        }
    }
}

/* node_exporter's shape: many small families, short lines. */
static void node_body(struct gl_buf *b)
{
    for (int f = 0; b->len < BODY_BYTES; f++) {
        gl_buf_printf(b, "# HELP node_metric_%d A node metric.\n# TYPE node_metric_%d gauge\n",
                      f, f);
        for (int i = 0; i < 8; i++) {
            gl_buf_printf(b, "node_metric_%d{cpu=\"%d\",mode=\"idle\"} %d.%d\n", f, i,
                          f * 1000 + i, i);
        }
    }
}

static void run(const char *title, const struct gl_buf *body)
{
    struct gl_prom_parser ps;
    gl_prom_parser_init(&ps);
    size_t samples = 0, rounds = 0;
    double t0 = cpu_now(), spent = 0;
    while (spent < 2.0) {
        gl_prom_parser_reset(&ps, body->data, body->len, GL_PROM_TEXT);
        while (gl_prom_parse_next(&ps) == 1) {
            samples++;
        }
        if (ps.err != NULL) {
            fprintf(stderr, "%s: %s at line %d\n", title, ps.err, ps.line);
            break;
        }
        rounds++;
        spent = cpu_now() - t0;
    }
    double mb = (double)body->len * (double)rounds / 1e6;
    printf("text-format parse, %s (%.0f MB body)\t%.0f MB/s, %.1fM samples/s\t"
           "one core (target: at least 250 MB/s)\n",
           title, (double)body->len / 1e6, mb / spent, (double)samples / spent / 1e6);
    gl_prom_parser_close(&ps);
}

int main(void)
{
    struct gl_buf body;
    gl_buf_init(&body);
    cadvisor_body(&body);
    run("cAdvisor-shaped", &body);
    gl_buf_reset(&body);
    node_body(&body);
    run("node_exporter-shaped", &body);
    gl_buf_close(&body);
    return 0;
}

/*
 * Fuzzes the metrics batch reader (agent/metrics/batch.c), which will read
 * chunks back from disk: arbitrary bytes are read as batches, every series'
 * labels and points are visited, and everything read is written again as
 * JSON lines and as Prometheus text. The reader must stay within the bytes
 * and stop; what it reads must re-encode into a batch that reads back the
 * same number of series.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/batch.h"
#include "metrics/prom_text.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gl_batch_iter it;
    struct gl_family fam;
    struct gl_series s;
    static struct gl_label labels[GL_LABELS_MAX];
    struct gl_buf again, text;
    struct gl_batch b;
    uint32_t read = 0;
    gl_buf_init(&again);
    gl_buf_init(&text);
    gl_batch_begin_buf(&b, &again, 1);
    gl_batch_iter_init_bytes(&it, (const char *)data, size);
    while (gl_batch_next_family(&it, &fam) == 0) {
        gl_prom_family(&text, &fam, GL_PROM_OPENMETRICS);
        gl_batch_family(&b, fam.name, fam.name_len, fam.type, fam.help, fam.help_len, fam.unit,
                        fam.unit_len);
        while (gl_batch_next_series(&it, &s) == 0) {
            uint32_t n = gl_series_labels(&s, labels);
            if (n != s.n_labels) {
                abort();
            }
            gl_prom_series(&text, &fam, &s, NULL, 0, true, GL_PROM_TEXT);
            gl_batch_sample(&b, labels, n, s.ts_ms, s.value);
            read++;
        }
    }
    gl_batch_commit(&b);
    /* Labels may shrink (empty values, repeats) but every series is written again. */
    if (b.total + b.refused != read) {
        abort();
    }
    gl_buf_close(&again);
    gl_buf_close(&text);
    return 0;
}

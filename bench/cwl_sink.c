/*
 * A CloudWatch Logs endpoint for benchmarks that is never the bottleneck:
 * libmicrohttpd with a thread per connection, over TLS when given a
 * certificate, answering every PutLogEvents with a sequence token and every
 * other action with {}. It checks nothing (the integration tests' server
 * checks signatures, limits and order); it counts requests, body bytes and
 * events, and prints them as JSON on SIGTERM or at GET /_stats.
 *
 *   cwl_sink PORTFILE [CERT KEY]
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong requests, puts_seen, body_bytes, events;

struct upload {
    size_t bytes;
    unsigned long events;
    char tail[16];   /* the end of the last piece: a marker may straddle two */
    size_t tail_len;
    int put;
};

static const char marker[] = "{\"timestamp\":";

static unsigned long count_events(struct upload *u, const char *p, size_t n)
{
    unsigned long c = 0;
    char joined[64];
    size_t m = sizeof(marker) - 1;
    /* Markers that straddle the previous piece and this one. */
    size_t head = n < m - 1 ? n : m - 1;
    memcpy(joined, u->tail, u->tail_len);
    memcpy(joined + u->tail_len, p, head);
    for (const char *q = joined; (q = memmem(q, u->tail_len + head - (size_t)(q - joined),
                                             marker, m)) != NULL; q++) {
        c++;
    }
    for (const char *q = p; (q = memmem(q, n - (size_t)(q - p), marker, m)) != NULL; q++) {
        c++;
    }
    size_t keep = n < m - 1 ? n : m - 1;
    memcpy(u->tail, p + n - keep, keep);
    u->tail_len = keep;
    return c;
}

static enum MHD_Result reply(struct MHD_Connection *c, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/x-amz-json-1.1");
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **state)
{
    (void)cls;
    (void)url;
    (void)version;
    struct upload *u = *state;
    if (strcmp(method, "GET") == 0) {
        char stats[256];
        snprintf(stats, sizeof(stats),
                 "{\"requests\":%lu,\"puts\":%lu,\"body_bytes\":%lu,\"events\":%lu}",
                 atomic_load(&requests), atomic_load(&puts_seen), atomic_load(&body_bytes),
                 atomic_load(&events));
        return reply(c, stats);
    }
    if (u == NULL) {
        u = calloc(1, sizeof(*u));
        const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");
        u->put = target != NULL && strstr(target, "PutLogEvents") != NULL;
        *state = u;
        return MHD_YES;
    }
    if (*size > 0) {
        u->bytes += *size;
        if (u->put) {
            u->events += count_events(u, data, *size);
        }
        *size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&requests, 1);
    atomic_fetch_add(&body_bytes, u->bytes);
    if (u->put) {
        atomic_fetch_add(&puts_seen, 1);
        atomic_fetch_add(&events, u->events);
    }
    enum MHD_Result rc = reply(c, u->put ? "{\"nextSequenceToken\":\"1\"}" : "{}");
    free(u);
    *state = NULL;
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    static char buf[2][65536];
    static int which;
    char *b = buf[which++ & 1];
    size_t n = fread(b, 1, sizeof(buf[0]) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: cwl_sink PORTFILE [CERT KEY]\n");
        return 2;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    struct MHD_Daemon *d;
    if (argc == 4) {
        d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL,
                             MHD_OPTION_HTTPS_MEM_CERT, slurp(argv[2]),
                             MHD_OPTION_HTTPS_MEM_KEY, slurp(argv[3]),
                             MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    } else {
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    }
    if (d == NULL) {
        fprintf(stderr, "cwl_sink: cannot start\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "%u\n", info->port);
    fclose(f);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop) {
        pause();
    }
    MHD_stop_daemon(d);
    printf("{\"requests\":%lu,\"puts\":%lu,\"body_bytes\":%lu,\"events\":%lu}\n",
           atomic_load(&requests), atomic_load(&puts_seen), atomic_load(&body_bytes),
           atomic_load(&events));
    return 0;
}

"""tail -> es keeps exactly one copy of every line through a struggling
cluster: 10% of bulk items are answered 429 es_rejected_execution_exception,
5% of bulk requests 503, and 1% are answered only after the agent's
net.timeout (the server stores them anyway, so the agent sends again what is
already there). With generate_id and write_operation create, every line of
20 container logs ends up in the index exactly once (a resent one is a 409
that counts as delivered), with gzip bodies and a password from the
environment. The requests in flight are halved under rejections.

ES_RECORDS sets the number of lines (default 200,000; the full run is
ES_RECORDS=1000000). The agent reads from the head and exits by itself once
everything is delivered (exit_on_eof)."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, fail, free_port, http_get, start, stderr_of, tmpdir, write  # noqa
from lib_es_server import EsServer  # noqa: E402
from lib_kubelet import Container  # noqa: E402

RECORDS = int(os.environ.get("ES_RECORDS", "200000"))
FILES = 20
LINES = RECORDS // FILES
DEADLINE = 120 + RECORDS // 2000
PASSWORD = "pw-not-in-logs-7431"
d = tmpdir("es-delivery")
root = os.path.join(d, "node")


def write_logs():
    """FILES CRI logs of LINES numbered lines each; returns the containers."""
    base = time.time_ns() - 3600 * 10 ** 9
    out = []
    for i in range(FILES):
        c = Container(root, i, namespace="ns%d" % (i % 4), mode="none", seed=21)
        c.close()
        lines = []
        for j in range(LINES):
            ns = base + j * 1000
            t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10 ** 9))
            lines.append("%s.%09dZ stdout F %s seq=%07d %s\n"
                         % (t, ns % 10 ** 9, c.cid, j, "q" * (30 + j % 50)))
        with open(c.log, "w") as f:
            f.write("".join(lines))
        out.append(c)
    return out


def key_of(doc):
    """What the server keeps of a document: its container and number."""
    return " ".join(doc["log"].split(" ", 2)[:2])


def watch_limit(port, seen, stop):
    """Samples the adaptive limit the agent reports (0 before the first request) until
    stop is set."""
    name = "gleaner_output_es_concurrency_limit"
    while not stop.is_set():
        st, text = http_get(port, "/metrics", timeout=2)
        for line in text.splitlines() if st == 200 else []:
            if line.startswith(name) and float(line.rsplit(" ", 1)[1]) > 0:
                seen.append(float(line.rsplit(" ", 1)[1]))
        time.sleep(0.1)


t0 = time.time()
containers = write_logs()
print("wrote %d lines in %d files in %.1fs" % (RECORDS, FILES, time.time() - t0))
with EsServer(flavor="es8", seed=7, item_429_rate=0.10, request_503_rate=0.05, delay=4.0,
              delay_rate=0.01, users={"gleaner": PASSWORD}, keep=key_of) as srv:
    port = free_port()
    cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 500ms
  grace: 30s
  log_level: info
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s/storage
  scheduler.base: 200ms
  scheduler.cap: 2s
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
      # Room for several flushes in flight while some of their documents wait for a
      # retry (each flush's NDJSON counts against this limit until its last document is in).
      mem_buf_limit: 64MB
  outputs:
    - name: es
      match: 'kube.*'
      port: %d
      index: k8s-logs
      generate_id: on
      compress: gzip
      http_user: gleaner
      http_passwd: ${ES_PASSWORD}
      workers: 8
      net.timeout: 3s
""" % (port, d, root, srv.port))
    os.environ["ES_PASSWORD"] = PASSWORD
    seen, stop = [], threading.Event()
    watcher = threading.Thread(target=watch_limit, args=(port, seen, stop), daemon=True)
    t1 = time.time()
    p = start(cfg)
    watcher.start()
    try:
        rc = p.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        rc = None
    secs = time.time() - t1
    stop.set()
    watcher.join(5)
    stats = srv.stats()
    print("requests %s, items %s, results %s" % (json.dumps(stats["requests"]),
                                                 json.dumps(stats["items"]),
                                                 json.dumps(stats["results"])))
    if rc != 0:
        fail("the agent did not exit 0 by itself within %ds (rc=%s)\n%s"
             % (DEADLINE, rc, stderr_of(p)[-3000:]))
    print("ok: the agent exits 0 by itself after the last line (%.1fs)" % secs)
    docs = srv.docs("k8s-logs")
    want = {"%s seq=%07d" % (c.cid, j) for c in containers for j in range(LINES)}
    got = list(docs.values())
    check(len(got) == RECORDS and set(got) == want,
          "every line indexed exactly once: %d documents for %d lines, %d distinct, %d missing"
          % (len(got), RECORDS, len(set(got)), len(want - set(got))))
    items, bulks = stats["items"], stats["bulks"]
    check(items.get("429", 0) > RECORDS // 20, "items answered 429 and sent again: %d"
          % items.get("429", 0))
    n503 = sum(1 for b in bulks if b["status"] == 503)
    check(n503 > 0, "bulk requests answered 503 and sent again: %d of %d" % (n503, len(bulks)))
    check(stats["results"].get("created") == RECORDS, "each document created once, never "
          "overwritten (%s)" % json.dumps(stats["results"]))
    late = stats["client_closed"]
    check(late == 0 or items.get("409", 0) > 0, "answers lost to the timeout: %d; their "
          "documents, sent again, were 409 and counted as delivered: %d"
          % (late, items.get("409", 0)))
    check(all(b["gzip"] for b in bulks if b["items"]), "bodies gzipped (%.1f MB sent for "
          "%.1f MB of NDJSON)" % (sum(b["bytes"] for b in bulks) / 1e6,
                                   sum(b["raw"] for b in bulks) / 1e6))
    check(stats["auth_failures"] == 0, "every request authenticated")
    check(PASSWORD not in stderr_of(p), "the password never appears in the agent's log")
    check(seen and min(seen) < 8, "the requests in flight were lowered under rejections "
          "(limit between %s and %s)" % (min(seen) if seen else "?", max(seen) if seen else "?"))
    print("delivered %d lines in %.1fs (%.0f lines/s): %d bulk requests, %d items answered "
          "429, %d requests 503, %d answers lost, at most %d requests in flight"
          % (RECORDS, secs, RECORDS / secs, len(bulks), items.get("429", 0), n503, late,
             stats["max_concurrent"]))

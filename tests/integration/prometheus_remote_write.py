"""prometheus_remote_write against a receiver built on independent decoders
(python3-snappy, python3-protobuf): headers, labels sorted and unique with
__name__, histograms as _bucket/_sum/_count, metadata, add_label; a receiver
answering 400 is not retried and the samples are counted as dropped; 429 with
Retry-After and 503 are retried until every sample is in, in order, with
fewer shards meanwhile; SigV4 (service aps) checked by botocore."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_rw_server import RwServer, snappy  # noqa

if snappy is None:
    fail("python3-snappy is missing: install the Debian package python3-snappy")
d = tmpdir("remote-write")


def agent(srv, name, extra="", env=None):
    port = free_port()
    cfg = write(os.path.join(d, name + ".yaml"), """
service:
  flush: 200ms
  log_level: info
  scheduler.base: 100ms
  scheduler.cap: 500ms
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: internal_metrics
      tag: self
      scrape_interval: 300ms
      scrape_on_start: on
  outputs:
    - name: prometheus_remote_write
      match: '*'
      host: 127.0.0.1
      port: %d
      batch_send_deadline: 300ms
      add_label:
        - cluster rw-test
%s""" % (port, srv.port, extra))
    if env:
        os.environ.update(env)
    p = start(cfg)
    p.http_port = port
    return p


def metric(p, name):
    _, text = http_get(p.http_port, "/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---- the request, decoded independently ----
with RwServer() as srv:
    p = agent(srv, "ok")
    wait_for("samples at the receiver", lambda: srv.stats()["samples"] > 200, timeout=20)
    rc = stop(p)
    check(rc == 0, "exit 0 (rc=%s)" % rc)
    st = srv.stats()
    check(not st["errors"], "every request decodes and follows the specification: %s"
          % st["errors"][:3])
    series = srv.series()
    names = {dict(k)["__name__"] for k in series}
    check({"gleaner_build_info", "gleaner_input_records_total",
           "gleaner_output_flush_duration_seconds_bucket",
           "gleaner_output_flush_duration_seconds_sum",
           "gleaner_output_flush_duration_seconds_count"} <= names,
          "counters, gauges and histograms as their classic series (%d names)" % len(names))
    les = {dict(k).get("le") for k in series
           if dict(k)["__name__"] == "gleaner_output_flush_duration_seconds_bucket"}
    check({"0.005", "1", "30", "+Inf"} <= les, "bucket bounds as Prometheus writes them: %s"
          % sorted(les, key=lambda x: float(x)))
    check(all(dict(k).get("cluster") == "rw-test" for k in series), "add_label on every series")
    meta = srv.metadata()
    check(meta.get("gleaner_input_records_total", (None,))[0] == 1 and
          meta.get("gleaner_output_flush_duration_seconds", (None,))[0] == 3 and
          meta["gleaner_input_records_total"][1] == "Records emitted by the input.",
          "metadata: type and help of each family")

# ---- 400: refused for good, never retried ----
with RwServer(status=400) as srv:
    p = agent(srv, "refused")
    wait_for("a few refused requests", lambda: srv.stats()["requests"] >= 3, timeout=20)
    time.sleep(1.0)
    dropped = metric(p, 'gleaner_output_dropped_records_total{name="prometheus_remote_write.0"'
                        ',plugin="prometheus_remote_write",reason="http_400"}')
    retries = metric(p, "gleaner_output_remote_write_retries_total")
    stop(p)
    err = stderr_of(p)
    check(retries == 0 and dropped > 0, "400 is not retried (%d retries) and the samples are "
          "counted as dropped (%d)" % (retries, dropped))
    check("(HTTP 400): out of order sample" in err, "the receiver's message is logged")

# ---- 429 with Retry-After: the wait asked for is kept (one shard: each request follows the last) ----
with RwServer(fail_rate=0.5, fail_status=429, retry_after=1) as srv:
    p = agent(srv, "throttled", "      max_shards: 1\n")
    wait_for("samples despite throttling", lambda: srv.stats()["samples"] > 200 and
             srv.stats()["by_status"].get(429, 0) >= 3, timeout=40)
    retries = metric(p, "gleaner_output_remote_write_retries_total")
    rc = stop(p)
    st = srv.stats()
    answers = st["answers"]
    gaps = [answers[i + 1][0] - t for i, (t, s) in enumerate(answers[:-1]) if s == 429]
    check(rc == 0 and retries > 0 and gaps and min(gaps) >= 0.95,
          "429 is retried after its Retry-After of 1 s (%d retries; shortest wait %.2f s)"
          % (retries, min(gaps) if gaps else -1))
    check(not st["errors"], "every series in time order across retries: %s" % st["errors"][:3])

# ---- the shard count: up while the receiver is slow and the queue grows, down on 503 ----
with RwServer(delay=1.0) as srv:
    p = agent(srv, "shards", "      max_shards: 4\n      max_samples_per_send: 100\n")
    shards = lambda: metric(p, "gleaner_output_remote_write_shards")  # noqa: E731
    wait_for("more shards for a slow receiver", lambda: shards() > 1, timeout=40)
    most = shards()
    srv.delay, srv.fail_rate, srv.fail_status = 0.0, 1.0, 503
    wait_for("fewer shards while the receiver fails", lambda: shards() < most, timeout=40)
    srv.fail_rate = 0.0
    wait_for("the backlog delivered", lambda: metric(
        p, "gleaner_output_remote_write_pending_samples") == 0, timeout=60)
    rc = stop(p)
    st = srv.stats()
    check(rc == 0 and st["by_status"].get(503, 0) > 0 and not st["errors"],
          "shards rose to %d and fell on 503 (answers %s); every series in time order"
          % (most, st["by_status"]))

# ---- SigV4 for Amazon Managed Service for Prometheus ----
creds = {"AKIDGLEANERRW0000001": ("rw-test-secret", None)}
env = {"AWS_ACCESS_KEY_ID": "AKIDGLEANERRW0000001", "AWS_SECRET_ACCESS_KEY": "rw-test-secret",
       "AWS_EC2_METADATA_DISABLED": "true"}
os.environ.pop("AWS_SESSION_TOKEN", None)
with RwServer(sigv4=creds, region="eu-west-1") as srv:
    p = agent(srv, "sigv4", "      aws_auth: on\n      aws_region: eu-west-1\n", env=env)
    wait_for("signed samples", lambda: srv.stats()["samples"] > 100, timeout=20)
    stop(p)
    st = srv.stats()
    check(st["by_status"].get(403, 0) == 0 and not st["errors"],
          "every request signed for aps in eu-west-1, as botocore computes it (%s)"
          % st["by_status"])

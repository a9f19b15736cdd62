"""prometheus_remote_write into a real Prometheus (its remote-write receiver):
the agent's own metrics are queryable through the HTTP API with their labels
and values, histogram_quantile works over the buckets sent; then Prometheus is
stopped for two minutes (GLEANER_OUTAGE_S) and started again, and the samples
of the outage arrive afterwards with no gap."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
import lib  # noqa: E402

need("prometheus", "prometheus")
OUTAGE = int(os.environ.get("GLEANER_OUTAGE_S", "120"))
d = tmpdir("rw-prometheus")
pport = free_port()


def prometheus():
    p = prometheus_receiver(d, pport)
    wait_for("Prometheus ready", lambda: http_get(pport, "/-/ready")[0] == 200, timeout=60)
    return p


def query(q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())["data"]["result"]


prom = prometheus()
aport = free_port()
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 500ms
  log_level: info
  scheduler.base: 500ms
  scheduler.cap: 2s
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: internal_metrics
      tag: self
      scrape_interval: 1s
      scrape_on_start: on
  outputs:
    - name: prometheus_remote_write
      match: '*'
      host: 127.0.0.1
      port: %d
      batch_send_deadline: 1s
      add_label:
        - node node-a
""" % (aport, pport))
agent = start(cfg)
wait_for("the agent's metrics in Prometheus",
         lambda: query('gleaner_uptime_seconds{node="node-a"}'), timeout=30)
r = query('gleaner_build_info')
check(len(r) == 1 and r[0]["metric"] == {"__name__": "gleaner_build_info", "node": "node-a",
                                         "version": r[0]["metric"].get("version")}
      and r[0]["value"][1] == "1", "gleaner_build_info with its labels and value: %s" % r)
r = query('gleaner_input_pending_limit_bytes{name="internal_metrics.0"}')
check(r and r[0]["value"][1] == str(16 << 20) and r[0]["metric"]["plugin"] == "internal_metrics",
      "a gauge with its instance labels and value")
time.sleep(3)
r = query('histogram_quantile(0.5, gleaner_output_flush_duration_seconds_bucket)')
check(r and 0 < float(r[0]["value"][1]) <= 30,
      "histogram_quantile over the buckets sent: %s" % (r and r[0]["value"][1]))

# An outage: Prometheus stopped, then started again on the same data.
down_at = time.time()
prom.send_signal(signal.SIGTERM)
prom.wait(60)
print("Prometheus stopped for %d s" % OUTAGE)
time.sleep(OUTAGE)
prom = prometheus()
up_at = time.time()


def caught_up():
    """A sample taken after the restart is in: a queue sends a series' samples in order,
    so every sample of the outage came before it."""
    r = query('timestamp(gleaner_uptime_seconds{node="node-a"})')
    return r and float(r[0]["value"][1]) > up_at + 3


wait_for("the outage's backlog sent", caught_up, timeout=120)
window = int(time.time() - down_at) + 30
r = query('gleaner_uptime_seconds{node="node-a"}[%ds]' % window)
stamps = [float(t) for t, _ in r[0]["values"]]
inside = [t for t in stamps if down_at - 10 <= t <= up_at + 10]
gaps = [b - a for a, b in zip(stamps, stamps[1:])]
check(len(inside) >= OUTAGE and max(gaps) < 3.0,
      "the outage's samples arrived after it: %d samples around the %d s outage, longest gap "
      "%.1f s" % (len(inside), OUTAGE, max(gaps)))
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)

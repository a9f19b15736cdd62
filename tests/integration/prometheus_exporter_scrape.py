"""prometheus_exporter against a real Prometheus: the agent's own metrics from
two internal_metrics inputs go to one exporter; its text passes promtool
check metrics with no complaint and holds every series once; a Prometheus
started here scrapes it (OpenMetrics, gzip, as Prometheus asks) and stores the
same series with the same values; histogram_quantile works on the histogram
it serves."""
import gzip
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

need("prometheus", "prometheus")
need("promtool", "prometheus")
d = tmpdir("exporter")
port = free_port()
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  log_level: info
pipeline:
  inputs:
    - name: internal_metrics
      tag: self.a
      scrape_interval: 500ms
      scrape_on_start: on
    - name: internal_metrics
      tag: self.b
      scrape_interval: 700ms
      scrape_on_start: on
  outputs:
    - name: prometheus_exporter
      match: 'self.*'
      host: 127.0.0.1
      port: %d
      add_label:
        - cluster test-cluster
""" % port)
agent = start(cfg)


def get(path, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers, r.read()


def series_of(text):
    """The sample lines of exposition text as {name{labels}: value}, in order."""
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out.append((key, value))
    return out


wait_for("the exporter to serve", lambda: http_get(port, "/metrics")[0] == 200 and
         "gleaner_build_info" in http_get(port, "/metrics")[1], timeout=20)
_, body = get("/metrics")
text = body.decode()
r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
      "promtool check metrics has no complaint (%s%s)" % (r.stdout.decode(), r.stderr.decode()))
lines = series_of(text)
keys = [k for k, _ in lines]
check(len(keys) == len(set(keys)), "every series is served once although two inputs send it "
      "(%d series)" % len(keys))
check(all('cluster="test-cluster"' in k for k in keys), "add_label is on every series")
headers, zbody = get("/metrics", {"Accept-Encoding": "gzip"})
check(headers.get("Content-Encoding") == "gzip" and
      gzip.decompress(zbody).decode().startswith("# HELP"), "gzip when asked")
headers, om = get("/metrics", {"Accept": "application/openmetrics-text;version=1.0.0"})
check(headers.get("Content-Type", "").startswith("application/openmetrics-text") and
      om.decode().endswith("# EOF\n"), "OpenMetrics when asked, ending with # EOF")

# A real Prometheus scrapes it as it scrapes any target.
pport = free_port()
pcfg = write(os.path.join(d, "prometheus.yml"), """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: gleaner
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % port)
prom = subprocess.Popen(["prometheus", "--config.file=" + pcfg,
                         "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
                         "--web.listen-address=127.0.0.1:%d" % pport],
                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "prom.log"), "w"))
import lib  # noqa: E402
lib._procs.append(prom)


def query(q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, urllib.parse.quote(q))
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())["data"]["result"]
    except OSError:
        return None


wait_for("Prometheus to scrape the exporter", lambda: query('up{job="gleaner"} == 1'),
         timeout=60)
time.sleep(2.5)
stored = query('{job="gleaner",__name__!~"up|scrape_.*"}')


def prom_key(metric):
    labels = {k: v for k, v in metric.items() if k not in ("__name__", "job", "instance")}
    inner = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
    return "%s{%s}" % (metric["__name__"], inner)


def canonical(key):
    """name{a="1",b="2"} with labels sorted (values hold no quotes or commas here)."""
    name, _, rest = key.partition("{")
    pairs = sorted(p for p in rest.rstrip("}").split(",") if p)
    return "%s{%s}" % (name, ",".join(pairs))


_, body = get("/metrics")
served = {canonical(k): v for k, v in series_of(body.decode())}
stored_keys = {prom_key(s["metric"]): s["value"][1] for s in stored}
missing = set(served) - set(stored_keys)
extra = set(stored_keys) - set(served)
check(not missing and not extra, "Prometheus stores exactly the served series (%d; missing %s, "
      "extra %s)" % (len(served), sorted(missing)[:3], sorted(extra)[:3]))
constant = [k for k in served if k.startswith(("gleaner_input_pending_limit_bytes",
                                               "gleaner_output_buffer_limit_bytes",
                                               "gleaner_build_info"))]
same = [k for k in constant if float(stored_keys[k]) == float(served[k])]
check(len(constant) >= 3 and same == constant,
      "the same values for what does not change (%d of %d)" % (len(same), len(constant)))
q = query('histogram_quantile(0.5, gleaner_output_flush_duration_seconds_bucket{job="gleaner"})')
check(q and 0 <= float(q[0]["value"][1]) <= 30,
      "histogram_quantile over the served histogram: %s" % (q and q[0]["value"][1]))
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)

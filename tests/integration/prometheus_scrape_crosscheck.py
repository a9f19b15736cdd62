"""The same targets and the same relabelling scraped by the agent and by a real
Prometheus 2.42 (Debian prometheus) give the same series, labels and values,
up included. Prometheus A scrapes the targets itself; the agent scrapes them
with an equivalent config and sends what it scraped by remote-write into
Prometheus B (--web.enable-remote-write-receiver); both are queried and every
series compared: its labels exactly, its value exactly (scrape_duration_seconds
only for being there), its timestamp where the target gave one.

The targets: a text-format one with escapes, NaN, infinities, a repeated
series, empty label values and labels that clash with job and instance; an
OpenMetrics one (negotiated through Accept as Prometheus does) with _total,
_created, units, an exemplar, info, stateset and a gauge histogram; a gzip
one; one with its own timestamps and job label (honor_labels,
honor_timestamps and the lack of it); one over sample_limit; one refusing
connections, one answering 500 and one sending garbage. relabel_configs and
metric_relabel_configs use replace, keep, drop, labeldrop, labelmap, hashmod,
uppercase and a renamed metric. Then a series is removed and a target goes
down: the staleness markers must end the same series in both."""
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
import lib  # noqa: E402
from lib_prom_targets import Target, refused_port  # noqa: E402

need("prometheus", "prometheus")
INTERVAL = 2
d = tmpdir("scrape-crosscheck")
NOW_MS = int(time.time() * 1000) - 30000  # a timestamp both TSDBs take

TEXT = """# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027
http_requests_total{method="post",code="500",path="/a\\"b\\\\c\\nd"} 3
http_requests_total{method="get",code="200"} 9
# HELP temp_celsius Temperature, with a \\\\ and a \\n in its help.
# TYPE temp_celsius gauge
temp_celsius{room="a",job="exposed",instance="elsewhere"} -3.25
temp_celsius{room="b",empty=""} NaN
temp_celsius{room="c"} +Inf
temp_celsius{room="d"} -Inf
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.05"} 1
lat_seconds_bucket{le="0.5"} 3
lat_seconds_bucket{le="+Inf"} 4
lat_seconds_sum 0.0025
lat_seconds_count 4
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.125
rpc_seconds{quantile="0.99"} 1e+21
rpc_seconds_sum 17
rpc_seconds_count 9
untyped_thing 42
go_goroutines 12
"""

OM = """# TYPE http_requests counter
# HELP http_requests Requests served.
http_requests_total{method="get",code="200"} 1027
http_requests_created{method="get",code="200"} 1.7e+09
# TYPE lat_seconds histogram
# UNIT lat_seconds seconds
lat_seconds_bucket{le="0.05"} 1
lat_seconds_bucket{le="0.5"} 3 # {trace_id="abc"} 0.3 1.7e+09
lat_seconds_bucket{le="1.0"} 4
lat_seconds_bucket{le="+Inf"} 4
lat_seconds_sum 0.0025
lat_seconds_count 4
lat_seconds_created 1.7e+09
# TYPE build info
build_info{version="1.2.3"} 1
# TYPE feature stateset
feature{feature="a"} 1
feature{feature="b"} 0
# TYPE queue gaugehistogram
queue_bucket{le="1"} 2
queue_bucket{le="+Inf"} 3
queue_gcount 3
queue_gsum 4
# EOF
"""

TIMED = ("# TYPE jobs_done counter\njobs_done_total{job=\"batch\"} 7 %d\n"
         "queue_depth{queue=\"q1\"} 3 %d\nno_time 1\n" % (NOW_MS, NOW_MS))
LIMITED = "a 1\nb 2\nc 3\nd 4\ne 5\n"

text_t = Target(text=TEXT)
om_t = Target(text=TEXT, om=OM)
gzip_t = Target(text=TEXT, gzip=True)
timed_t = Target(text=TIMED)
limited_t = Target(text=LIMITED)
fail_t = Target(text="oops\n", status=500)
garbage_t = Target(text="this is not exposition\n")
refused = "127.0.0.1:%d" % refused_port()

RELABEL = """
      - source_labels: [__address__]
        target_label: addr
      - target_label: team
        replacement: blue
      - source_labels: [__address__]
        regex: '.*:(\\d+)'
        target_label: port_%s
        replacement: '$1'"""

METRIC_RELABEL = """
      - source_labels: [__name__]
        regex: go_.*
        action: drop
      - source_labels: [room]
        target_label: room_upper
        action: uppercase
      - source_labels: [method]
        target_label: shard
        action: hashmod
        modulus: 4
      - regex: path
        action: labeldrop
      - source_labels: [__name__]
        regex: untyped_(.*)
        target_label: __name__
        replacement: renamed_${1}
      - source_labels: [code]
        regex: 5..
        target_label: class
        replacement: server_error
      - source_labels: [le]
        regex: '0\\.05'
        action: drop
      - regex: (port)_(.*)
        replacement: ${2}_$1
        action: labelmap"""

# (job, targets, extra options): the same in both configs.
JOBS = [
    ("xc-app", [text_t.address, om_t.address, gzip_t.address],
     {"relabel_configs": RELABEL % "num", "metric_relabel_configs": METRIC_RELABEL}),
    ("xc-honor", [timed_t.address], {"honor_labels": "true", "honor_timestamps": "true"}),
    ("xc-notime", [timed_t.address], {"honor_timestamps": "false"}),
    ("xc-limit", [limited_t.address], {"sample_limit": "3"}),
    ("xc-bad", [refused, fail_t.address, garbage_t.address], {}),
]


def prometheus_config():
    out = "global:\n  scrape_interval: %ds\n  scrape_timeout: %ds\nscrape_configs:\n" % (
        INTERVAL, INTERVAL)
    for job, targets, opts in JOBS:
        out += "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n" % (
            job, ", ".join("'%s'" % t for t in targets))
        for k, v in opts.items():
            out += "    %s:%s\n" % (k, v if v.startswith("\n") else " " + v)
    return out


def agent_config(rw_port):
    out = """service:
  flush: 200ms
  log_level: info
  scheduler.base: 500ms
  scheduler.cap: 2s
pipeline:
  inputs:
"""
    for job, targets, opts in JOBS:
        out += ("    - name: prometheus_scrape\n      alias: %s\n      job_name: %s\n"
                "      scrape_interval: %ds\n      targets: [%s]\n" % (
                    job, job, INTERVAL, ", ".join(targets)))
        for k, v in opts.items():
            # The agent expands ${VAR} in its config: ${1} is written $${1} there.
            v = v.replace("${", "$${")
            out += "      %s:%s\n" % (k, v.replace("\n      ", "\n        ")
                                      if v.startswith("\n") else " " + v)
    out += """  outputs:
    - name: prometheus_remote_write
      match: '*'
      host: 127.0.0.1
      port: %d
      batch_send_deadline: 500ms
""" % rw_port
    return out


def prometheus(name, port, cfg, receiver=False):
    path = write(os.path.join(d, name + ".yml"), cfg)
    cmd = ["prometheus", "--config.file=" + path, "--storage.tsdb.path=" + os.path.join(d, name),
           "--web.listen-address=127.0.0.1:%d" % port]
    if receiver:
        cmd.append("--web.enable-remote-write-receiver")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, name + ".log"), "w"))
    lib._procs.append(p)
    wait_for("Prometheus %s ready" % name, lambda: http_get(port, "/-/ready")[0] == 200,
             timeout=60)
    return p


def query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())["data"]["result"]


TIMED_NAMES = ("jobs_done_total", "queue_depth")


def series(port):
    """{labels as a sorted tuple: (value, its sample's timestamp or None)} of every xc- series
    now; the timestamp for the samples that carried one (the honor_timestamps job)."""
    out = {}
    stamps = {}
    for name in TIMED_NAMES:
        for r in query(port, 'timestamp(%s{job="xc-honor"})' % name):
            stamps[name] = r["value"][1]
    for r in query(port, '{job=~"xc-.*"}'):
        key = tuple(sorted(r["metric"].items()))
        timed = r["metric"].get("job") == "xc-honor" and r["metric"]["__name__"] in TIMED_NAMES
        out[key] = (r["value"][1], stamps.get(r["metric"]["__name__"]) if timed else None)
    return out


def compare(what):
    """Compares both Prometheus servers; returns (series compared, differences)."""
    a, b = series(pa), series(pb)
    diffs = []
    for key in sorted(set(a) | set(b)):
        name = dict(key).get("__name__")
        job = dict(key).get("job")
        if key not in a or key not in b:
            diffs.append("%s only in %s" % (dict(key), "Prometheus" if key in a else "agent"))
        elif name != "scrape_duration_seconds" and a[key][0] != b[key][0]:
            diffs.append("%s: Prometheus %s, agent %s" % (dict(key), a[key][0], b[key][0]))
        elif a[key][1] != b[key][1] or (job == "xc-honor" and name in TIMED_NAMES and
                                        round(float(a[key][1]) * 1000) != NOW_MS):
            diffs.append("%s: timestamps %s and %s" % (dict(key), a[key][1], b[key][1]))
    for line in diffs:
        print("  difference: " + line)
    print("%s: %d series compared, %d differences" % (what, len(set(a) | set(b)), len(diffs)))
    return len(set(a) | set(b)), diffs


pa, pb = free_port(), free_port()
prometheus("direct", pa, prometheus_config())
prometheus("receiver", pb, "global:\n  scrape_interval: 1m\n", receiver=True)
agent = start(write(os.path.join(d, "g.yaml"), agent_config(pb)))


def settled():
    a, b = series(pa), series(pb)
    return len(a) > 40 and len(b) == len(a)


wait_for("both Prometheus servers holding the targets' series", settled, timeout=60)
time.sleep(3 * INTERVAL)  # every target scraped a few times by both
n, diffs = compare("steady state")
check(n > 60 and not diffs, "the agent's series equal Prometheus' own scrape: %d series, %d "
      "differences" % (n, len(diffs)))
up = {dict(k).get("instance"): v[0] for k, v in series(pb).items() if dict(k)["__name__"] == "up"}
check(up.get(refused) == "0" and up.get(fail_t.address) == "0" and
      up.get(garbage_t.address) == "0" and up.get(limited_t.address) == "0" and
      up.get(text_t.address) == "1", "up is 0 for the refused, failing, garbage and over-limit "
      "targets and 1 for the others: %s" % up)

# Staleness: a series goes from every app target, the gzip target goes down.
for t in (text_t, om_t, gzip_t):
    t.set(text=TEXT.replace('temp_celsius{room="c"} +Inf\n', ""),
          om=None if t is not om_t else OM.replace('build_info{version="1.2.3"} 1\n', ""))
gzip_t.set(status=503)
time.sleep(4 * INTERVAL)
gone = [k for k in series(pb) if dict(k).get("room") == "c" or dict(k).get("__name__") ==
        "build_info" or (dict(k).get("instance") == gzip_t.address and
                         dict(k)["__name__"].startswith("http"))]
check(not gone, "series removed from a target or of a target gone are ended at once by "
      "staleness markers (none left: %s)" % gone)
n, diffs = compare("after a series and a target went")
check(not diffs, "after the change the agent's series still equal Prometheus': %d series, %d "
      "differences" % (n, len(diffs)))
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)

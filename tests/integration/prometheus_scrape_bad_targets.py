"""Bad targets never hurt the others: beside a good target, one that never
answers, one that sends without end (about 1 GB), a gzip bomb, one sending
garbage and one with a million labels on a line each end as up 0 within
scrape_timeout, in bounded memory, their reason logged once (not at every
scrape) and counted on /metrics, while the good target is scraped at every
interval with up 1."""
import json
import os
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_prom_targets import Target  # noqa: E402

d = tmpdir("scrape-bad")
INTERVAL, TIMEOUT = 2.0, 1.0


def bomb(size):
    """A gzip member that inflates to size bytes of exposition, compressed about 1000 times."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    line = b"bomb 1\n" * (1 << 16)
    out = [z.compress(line) for _ in range(size // len(line))]
    return b"".join(out) + z.flush()


good = Target(text="# TYPE ok gauge\nok{a=\"1\"} 1\nok{a=\"2\"} 2\n")
hang = Target(mode="hang")
endless = Target(mode="endless")
# Not led by a NUL: Prometheus' lexer (and the agent's) reads a NUL at a line's start as the end.
garbage = Target(text="\x01\x02binary\xff\xfe garbage {{{ 1\n")
labels = Target(text="wide{" + ",".join('l%d="v"' % i for i in range(1000000)) + "} 1\n")
gz = Target(mode="raw", raw=bomb(256 << 20),
            headers={"Content-Type": "text/plain; version=0.0.4", "Content-Encoding": "gzip"})
bad = {"hang": hang, "endless": endless, "garbage": garbage, "labels": labels, "gzip": gz}
port = free_port()
out = os.path.join(d, "out")
os.makedirs(out)
cfg = write(os.path.join(d, "g.yaml"), """service:
  flush: 200ms
  log_level: info
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: prometheus_scrape
      alias: bad
      scrape_interval: %ds
      scrape_timeout: %ds
      body_size_limit: 16MiB
      targets: [%s]
  outputs:
    - name: file
      match: '*'
      path: %s
      file: series.json
""" % (port, INTERVAL, TIMEOUT, ", ".join(t.address for t in [good] + list(bad.values())),
       out))
t0 = time.time()
agent = start(cfg)
time.sleep(6 * INTERVAL)
rows = []
with open(os.path.join(out, "series.json")) as f:
    for line in f:
        rows.append(json.loads(line))
instance = {t.address: name for name, t in bad.items()}
instance[good.address] = "good"


def reports(name, metric):
    return [r["value"] for r in rows if r["name"] == metric and
            instance.get(r["labels"].get("instance")) == name]


ups = {name: reports(name, "up") for name in list(bad) + ["good"]}
check(len(ups["good"]) >= 5 and all(v == 1.0 for v in ups["good"]),
      "the good target is up at every scrape beside the bad ones: %s" % ups["good"])
check(len(reports("good", "ok")) >= 2 * 5, "the good target's samples arrive at every scrape")
for name in bad:
    check(len(ups[name]) >= 4 and all(v == 0.0 for v in ups[name]),
          "%s: up 0 at every scrape (%d scrapes)" % (name, len(ups[name])))
slowest = max(reports("hang", "scrape_duration_seconds"))
check(TIMEOUT * 0.9 <= slowest <= TIMEOUT + 0.5,
      "the hanging target is given up after scrape_timeout (%.2fs)" % slowest)
err = stderr_of(agent)
for name, t in bad.items():
    n = err.count("target %s " % t.address)
    check(n == 1, "%s: its reason logged once over %d scrapes: %s" % (
        name, len(ups[name]), [l for l in err.splitlines() if t.address in l][:1]))
for reason in ("no answer within scrape_timeout", "body size limit exceeded",
               "a sample with more than 128 labels", "not a valid start token"):
    check(reason in err, "the log says why: '%s'" % reason)
status, metrics = http_get(port, "/metrics")
counts = {}
for line in metrics.splitlines():
    if line.startswith("gleaner_input_scrapes_failed") and 'name="bad"' in line:
        counts[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
check(counts.get("gleaner_input_scrapes_failed_timeout_total", 0) >= 4 and
      counts.get("gleaner_input_scrapes_failed_body_size_total", 0) >= 8 and
      counts.get("gleaner_input_scrapes_failed_parse_total", 0) >= 8,
      "failures are counted by kind on /metrics: %s" % counts)
with open("/proc/%d/status" % agent.pid) as f:
    hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM")][0] // 1024
check(hwm < 120, "memory stays bounded while targets send 1 GB, a 256 MB gzip bomb and 10 MB "
      "lines: peak RSS %d MiB" % hwm)
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)

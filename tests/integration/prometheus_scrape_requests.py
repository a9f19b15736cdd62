"""Scrapes as Prometheus 2.42 makes them: its Accept header (OpenMetrics first),
Accept-Encoding gzip, X-Prometheus-Scrape-Timeout-Seconds, the path and a
bearer token or basic credentials as configured; and spread over the
interval, each target at its own offset, not all at the top of it."""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_prom_targets import Target  # noqa: E402

INTERVAL, N = 4, 20
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
d = tmpdir("scrape-requests")
targets = [Target(text="a %d\n" % i) for i in range(N)]
token = write(os.path.join(d, "token"), "secret-token\n")
basic = Target(text="b 1\n")
cfg = write(os.path.join(d, "g.yaml"), """service:
  flush: 500ms
  log_level: info
pipeline:
  inputs:
    - name: prometheus_scrape
      scrape_interval: %ds
      scrape_timeout: 3s
      metrics_path: /custom/path
      bearer_token_file: %s
      targets: [%s]
    - name: prometheus_scrape
      scrape_interval: %ds
      http_user: scraper
      http_passwd: pa:ss
      targets: [%s]
  outputs:
    - name: null
      match: '*'
""" % (INTERVAL, token, ", ".join(t.address for t in targets), INTERVAL, basic.address))
agent = start(cfg)
wait_for("three rounds of scrapes", lambda: all(len(t.requests) >= 3 for t in targets),
         timeout=5 * INTERVAL)
path, headers = targets[0].requests[0]
check(path == "/custom/path", "metrics_path is the path scraped")
check(headers.get("Accept") == ACCEPT, "the Accept header is Prometheus 2.42's: %s"
      % headers.get("Accept"))
check(headers.get("Accept-Encoding") == "gzip", "gzip is accepted")
check(headers.get("X-Prometheus-Scrape-Timeout-Seconds") == "3",
      "the timeout is told: %s" % headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
check(headers.get("Authorization") == "Bearer secret-token", "the bearer token file is sent")
check(basic.requests[0][1].get("Authorization") == "Basic " +
      base64.b64encode(b"scraper:pa:ss").decode(), "basic credentials are sent")
# Each target keeps its own offset in the interval: the first scrapes of the N targets
# fall at N different moments spread across it, and a target's scrapes one interval apart.
offsets = sorted(t.times[1] % INTERVAL for t in targets)
gaps = [b - a for a, b in zip(offsets, offsets[1:])] + [offsets[0] + INTERVAL - offsets[-1]]
check(max(gaps) < INTERVAL / 2 and len([o for o in offsets if o < INTERVAL / 4]) < N * 0.6,
      "the %d targets' scrapes are spread over the %ds interval (offsets %s)" % (
          N, INTERVAL, ["%.2f" % o for o in offsets]))
periods = [b - a for t in targets for a, b in zip(t.times[1:], t.times[2:])]
check(all(abs(p - INTERVAL) < 0.3 for p in periods),
      "each target is scraped every interval (%.2f..%.2fs)" % (min(periods), max(periods)))
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)

"""valgrind reports no leak and no error after prometheus_scrape ran through
its paths: static targets up and down, a histogram and a summary, staleness
markers, a pod target added and removed through the pod cache, a reload
(SIGHUP) and SIGTERM; and the loop closes cleanly."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kube_api import KubeApi, make_pod  # noqa: E402
from lib_prom_targets import Target, refused_port  # noqa: E402

need("valgrind", "valgrind")
d = tmpdir("scrape-valgrind")
token = write(os.path.join(d, "token"), "token-1\n")
BODY = ("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"
        "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\na{x=\"1\"} 1\nb 2\n")
good = Target(text=BODY, gzip=True)
pod_t = Target(text=BODY, host="127.0.0.7", port=9700)
api = KubeApi(token="token-1", node="node-a").start()
with api.lock:
    pod = make_pod("ns", "p-1", "node-a", containers=1, init=0)
    pod["metadata"]["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": "9700"}
    pod["status"]["podIP"] = "127.0.0.7"
    api.pods[("ns", "p-1")] = pod
    api._event("pods", "ADDED", pod)
out = os.path.join(d, "out")
os.makedirs(out)
cfg = write(os.path.join(d, "g.yaml"), """service:
  flush: 200ms
pipeline:
  inputs:
    - name: prometheus_scrape
      scrape_interval: 1s
      targets: [%s, 127.0.0.1:%d]
      metric_relabel_configs:
        - source_labels: [x]
          target_label: y
          action: uppercase
    - name: prometheus_scrape
      scrape_interval: 1s
      kubernetes_pods: on
      kube_url: %s
      kube_token_file: %s
      node_name: node-a
  outputs:
    - name: file
      match: '*'
      path: %s
      file: series.json
""" % (good.address, refused_port(), api.url, token, out))
log = os.path.join(d, "valgrind.log")
p = start(cfg, wrapper=["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                        "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                        "--log-file=" + log])
series = os.path.join(out, "series.json")
wait_for("the pod scraped", lambda: len(pod_t.requests) >= 2, timeout=60)
good.set(text=BODY.replace("b 2\n", ""))          # a series goes: a staleness marker
time.sleep(2)
api.delete_pod("ns", "p-1")                         # a target goes
wait_for("the pod's series ended", lambda: '"stale":true' in open(series).read(), timeout=30)
p.send_signal(signal.SIGHUP)                        # everything stops and starts again
time.sleep(4)
n = len(good.requests)
wait_for("scrapes after the reload", lambda: len(good.requests) > n + 1, timeout=30)
rc = stop(p, timeout=120)
report = open(log).read()
errors = re.search(r"ERROR SUMMARY: (\d+) errors", report)
check(rc == 0 and errors and errors.group(1) == "0",
      "valgrind: no leak and no error (rc=%s, %s)" % (rc, errors and errors.group(0)))
check("configuration reloaded" in stderr_of(p), "the reload went through")
check("exited cleanly" in stderr_of(p), "the loop closed with nothing left open")
api.stop()

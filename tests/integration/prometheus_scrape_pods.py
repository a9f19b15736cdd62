"""Pod discovery against the Kubernetes API test server (lib_kube_api.py):
the pods of this node annotated prometheus.io/scrape are scraped on their
prometheus.io/port and prometheus.io/path with job, instance, namespace,
pod, container and node labels (and pod labels through a labelmap rule); a
pod not annotated, or on another node, is not; one annotated after start is
scraped within one interval; a pod refusing connections has up 0; a deleted
pod's series and up get staleness markers at once. The kubernetes filter
and pod discovery share one list and one watch of the API server.

Pod IPs are loopback addresses (127.0.0.2...), each with a target bound to
it, so every pod listens on its own address as in a cluster."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kube_api import KubeApi, make_pod  # noqa: E402
from lib_prom_targets import Target  # noqa: E402

INTERVAL = 2
d = tmpdir("scrape-pods")
token = write(os.path.join(d, "token"), "token-1\n")


def put_pod(api, ns, name, ip, port, annotations, labels=None, node=None):
    """A running pod with one container declaring port, at ip, with exactly these
    annotations."""
    with api.lock:
        pod = make_pod(ns, name, node or api.node, containers=1, init=0, labels=labels)
        pod["metadata"]["annotations"] = dict(annotations)
        pod["spec"]["containers"][0]["ports"] = [{"name": "metrics", "containerPort": port,
                                                  "protocol": "TCP"}]
        pod["status"]["podIP"] = ip
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        api.pods[(ns, name)] = pod
        api._event("pods", "ADDED", pod)


def scrape(port, path=None):
    a = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port)}
    if path:
        a["prometheus.io/path"] = path
    return a


BODY = "# TYPE app_requests_total counter\napp_requests_total{code=\"200\"} 5\n"
web = Target(text=BODY, host="127.0.0.2", port=9100)
db = Target(text=BODY, host="127.0.0.3", port=9200)
quiet = Target(text=BODY, host="127.0.0.5", port=9400)
far = Target(text=BODY, host="127.0.0.6", port=9500)

api = KubeApi(token="token-1", node="node-a").start()
put_pod(api, "shop", "web-1", "127.0.0.2", 9100, scrape(9100), labels={"tier": "front"})
put_pod(api, "shop", "db-1", "127.0.0.3", 9200, scrape(9200, "/custom/metrics"))
put_pod(api, "shop", "refuse-1", "127.0.0.4", 9300, scrape(9300))
put_pod(api, "shop", "quiet-1", "127.0.0.5", 9400, {"team": "quiet"})
put_pod(api, "other", "far-1", "127.0.0.6", 9500, scrape(9500), node="node-z")

out = os.path.join(d, "out")
os.makedirs(out)
logs = write(os.path.join(d, "app.log"), "")
cfg = write(os.path.join(d, "g.yaml"), """service:
  flush: 200ms
  log_level: info
pipeline:
  inputs:
    - name: prometheus_scrape
      alias: pods
      tag: metrics.pods
      job_name: kubernetes-pods
      kubernetes_pods: on
      kube_url: %s
      kube_token_file: %s
      node_name: node-a
      scrape_interval: %ds
      relabel_configs:
        - action: labelmap
          regex: __meta_kubernetes_pod_label_(.+)
    - name: dummy
      tag: kube.app
      rate: 5
  filters:
    - name: kubernetes
      match: kube.*
      kube_url: %s
      kube_token_file: %s
      node_name: node-a
  outputs:
    - name: file
      match: 'metrics.*'
      path: %s
      file: series.json
    - name: null
      match: 'kube.*'
""" % (api.url, token, INTERVAL, api.url, token, out))
agent = start(cfg)


def rows():
    try:
        with open(os.path.join(out, "series.json")) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def of_pod(pod, name=None):
    return [r for r in rows() if r["labels"].get("pod") == pod and
            (name is None or r["name"] == name)]


wait_for("web-1 scraped", lambda: of_pod("web-1", "app_requests_total"), timeout=30)
r = of_pod("web-1", "app_requests_total")[0]
check(r["labels"] == {"code": "200", "job": "kubernetes-pods", "instance": "127.0.0.2:9100",
                      "namespace": "shop", "pod": "web-1", "container": "web",
                      "node": "node-a", "app": "web", "tier": "front",
                      "app_kubernetes_io_name": "web",
                      "pod_template_hash": r["labels"].get("pod_template_hash")} and
      r["value"] == 5.0, "a pod's series carry job, instance, namespace, pod, container, node "
      "and its labels: %s" % r["labels"])
wait_for("db-1 scraped", lambda: of_pod("db-1", "app_requests_total"), timeout=30)
check(db.requests and db.requests[0][0] == "/custom/metrics",
      "prometheus.io/path is the path scraped: %s" % db.requests[0][0])
wait_for("refuse-1 reported", lambda: of_pod("refuse-1", "up"), timeout=30)
check(all(x["value"] == 0.0 for x in of_pod("refuse-1", "up")),
      "a pod refusing connections has up 0")
check(not quiet.requests and not far.requests and not of_pod("quiet-1"),
      "a pod not annotated, or on another node, is not scraped")

# Annotated after start: scraped within one interval (and the cache's next look).
annotated_at = time.time()
api.modify_pod("shop", "quiet-1", annotations=scrape(9400))
wait_for("quiet-1 scraped", lambda: quiet.requests, timeout=30)
waited = time.time() - annotated_at
check(waited <= INTERVAL + 1.5, "a pod annotated after start is scraped %.1fs later (interval "
      "%ds)" % (waited, INTERVAL))

# Deleted: its series end at once.
wait_for("web-1 scraped twice", lambda: len(of_pod("web-1", "up")) >= 2, timeout=30)
deleted_at = time.time()
api.delete_pod("shop", "web-1")


def ended():
    stale = [x for x in of_pod("web-1") if x.get("stale")]
    names = {x["name"] for x in stale}
    return stale if {"app_requests_total", "up"} <= names else None


stale = wait_for("staleness markers for web-1", ended, timeout=15)
check(time.time() - deleted_at < 2 + 1.5,
      "a deleted pod's series and up get staleness markers at once (%.1fs): %s" % (
          time.time() - deleted_at, sorted({x["name"] for x in stale})))
n = len(web.requests)
time.sleep(2 * INTERVAL)
check(len(web.requests) == n, "a deleted pod is not scraped any more")
stats = api.stats()
check(stats["counts"]["list"] == 1 and stats["counts"]["watch"] == 1 and
      stats["max_watches"] == 1, "the kubernetes filter and pod discovery share one list and "
      "one watch: %s" % stats["counts"])
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)
api.stop()

"""The kubelet's endpoints over TLS with a self-signed serving certificate and
the service-account token (lib_kubelet_server.py): scraped with
kubelet.tls.verify off, or on with the certificate as the CA; refused (up 0,
a TLS failure) with verification on and no such CA. Series carry job,
instance, node and metrics_path; cAdvisor's series are cut down by
metric_relabel_configs as users do; the resource endpoint's own timestamps
are kept. A wrong token gets 401 and up 0; once the token file holds the
right one, the next scrape reads it again (a 401 forces it) and is up."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet_server import Kubelet  # noqa: E402

need("openssl", "openssl")
INTERVAL = 2
d = tmpdir("scrape-kubelet")
kubelet = Kubelet(d, token="kubelet-token", pods=40)
good_token = write(os.path.join(d, "token"), "kubelet-token\n")
bad_token = write(os.path.join(d, "token-wrong"), "someone-else\n")
out = os.path.join(d, "out")
os.makedirs(out)


def scrape_input(alias, verify, extra=""):
    return """    - name: prometheus_scrape
      alias: %s
      tag: metrics.%s
      job_name: kubelet
      kubelet: on
      kubelet_url: %s
      kubelet_endpoints: /metrics, /metrics/cadvisor, /metrics/resource, /metrics/probes
      kubelet.tls.verify: %s
      node_name: node-a
      scrape_interval: %ds
%s""" % (alias, alias, kubelet.url, verify, INTERVAL, extra)


cfg = write(os.path.join(d, "g.yaml"), """service:
  flush: 200ms
  log_level: info
pipeline:
  inputs:
%s%s%s%s  outputs:
    - name: file
      match: 'metrics.*'
      path: %s
""" % (scrape_input("insecure", "off", """      kubelet.bearer_token_file: %s
      metric_relabel_configs:
        - source_labels: [__name__]
          regex: container_(fs|network)_.*
          action: drop
        - regex: id|name|image
          action: labeldrop
""" % good_token),
       scrape_input("verified", "on", "      kubelet.bearer_token_file: %s\n"
                    "      kubelet.tls.ca_file: %s\n" % (good_token, kubelet.cert)),
       scrape_input("unverifiable", "on", "      kubelet.bearer_token_file: %s\n" % good_token),
       scrape_input("rotated", "off", "      kubelet.bearer_token_file: %s\n" % bad_token),
       out))
agent = start(cfg)


def rows(alias):
    """What one input sent (the file output writes each tag to its own file)."""
    try:
        with open(os.path.join(out, "metrics." + alias)) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def ups(alias):
    """{metrics_path: [up values]} of one input."""
    out = {}
    for r in rows(alias):
        if r["name"] == "up":
            out.setdefault(r["labels"]["metrics_path"], []).append(r["value"])
    return out


ENDPOINTS = ("/metrics", "/metrics/cadvisor", "/metrics/resource", "/metrics/probes")
wait_for("a few scrapes of each endpoint by each input",
         lambda: all(len(ups(a).get(p, [])) >= 2 for a in ("insecure", "verified",
                                                            "unverifiable", "rotated")
                     for p in ENDPOINTS), timeout=40)
for alias, want in (("insecure", 1.0), ("verified", 1.0), ("unverifiable", 0.0),
                    ("rotated", 0.0)):
    u = ups(alias)
    check(all(v == want for p in ENDPOINTS for v in u[p]),
          "%s: every endpoint up %d" % (alias, want))
cad = [r for r in rows("verified") if r["name"] == "container_memory_working_set_bytes"]
check(len(cad) >= 40 and all(r["labels"]["node"] == "node-a" and
                             r["labels"]["metrics_path"] == "/metrics/cadvisor" and
                             r["labels"]["job"] == "kubelet" and
                             r["labels"]["instance"] == "127.0.0.1:%d" % kubelet.port
                             for r in cad),
      "cAdvisor series carry job, instance, node and metrics_path: %s" % cad[0]["labels"])
names = {r["name"] for r in rows("verified")}
kept = {r["name"] for r in rows("insecure")}
check("container_fs_reads_total" in names and "container_fs_reads_total" not in kept and
      "container_network_receive_bytes_total" not in kept,
      "metric_relabel_configs drop cAdvisor's families as asked (container_fs_*, "
      "container_network_*)")
check(all("id" not in r["labels"] and "image" not in r["labels"] for r in rows("insecure")
          if r["name"].startswith("container_")), "and labels (id, name, image)")
res = [r for r in rows("verified") if r["name"] == "node_cpu_usage_seconds_total"]
stamp = res[0]["@timestamp"]
check(stamp < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 4)),
      "the resource endpoint's own timestamps are kept (honor_timestamps): %s" % stamp)
err = stderr_of(agent)
check("tls failed" in err, "the unverifiable kubelet is reported as a TLS failure")
check("server returned HTTP status 401" in err, "the wrong token is reported as a 401")
refused = [p for p, ok in kubelet.requests if not ok]
check(refused, "the kubelet refused the wrong token (%d requests)" % len(refused))

# The token rotates: the next scrape after a 401 reads the file again.
write(bad_token, "kubelet-token\n")
n = len(kubelet.requests)
wait_for("the rotated token accepted", lambda: [ok for p, ok in kubelet.requests[n:] if ok]
         and len([1 for p, ok in kubelet.requests[n:] if not ok]) <= 2 * 4, timeout=20)
time.sleep(INTERVAL + 1)
recent = [ok for p, ok in kubelet.requests[-8:]]
check(all(recent), "after the token file changed, every scrape is accepted again")
rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)
kubelet.stop()

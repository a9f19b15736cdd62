"""tail -> kubernetes -> file against the test API server: records of a known
pod get its metadata (labels, annotations, owner, container image and hash)
and their JSON log merged; an exclude hint drops one container's lines; a
pod the API server does not know is fetched once and its lines are flagged
kubernetes.meta_missing, never dropped."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kube_api import KubeApi, hexid  # noqa

d = tmpdir("kube")
logs = os.path.join(d, "containers")
os.makedirs(logs)
token = write(os.path.join(d, "token"), "token-1\n")

api = KubeApi(token="token-1", node="node-a").start()
api.add_pod("shop", "web-5d8f9-aaaaa", annotations={"gleaner.io/exclude-c1": "true"})


def container_log(pod, ns, container, lines):
    cid = hexid(ns + pod + container)
    path = os.path.join(logs, "%s_%s_%s-%s.log" % (pod, ns, container, cid))
    with open(path, "w") as f:
        for i, line in enumerate(lines):
            f.write("2024-05-01T10:00:%02d.000000000Z stdout F %s\n" % (i, line))
    return cid


web_id = container_log("web-5d8f9-aaaaa", "shop", "web",
                       ['{"level":"info","n":%d}' % i for i in range(5)])
container_log("web-5d8f9-aaaaa", "shop", "c1", ["excluded %d" % i for i in range(5)])
container_log("ghost-1", "shop", "app", ["ghost %d" % i for i in range(3)])

out = os.path.join(d, "out")
os.makedirs(out)
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  log_level: info
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/*.log
      read_from_head: on
      multiline.parser: cri
      db: %s/tail.db
  filters:
    - name: kubernetes
      match: kube.*
      kube_url: %s
      kube_token_file: %s
      node_name: node-a
      merge_log: on
      kube_meta_wait: 1s
  outputs:
    - name: file
      match: kube.*
      path: %s
      file: all
""" % (logs, d, api.url, token, out))

p = start(cfg)
target = os.path.join(out, "all")
wait_for("8 records in %s" % target, lambda: count_lines(target) >= 8 or p.poll() is not None,
         timeout=30)
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s): %s" % (rc, stderr_of(p)[-2000:]))
with open(target) as f:
    recs = [json.loads(line) for line in f]
api.stop()

web = [r for r in recs if r["kubernetes"].get("container_name") == "web"]
ghost = [r for r in recs if r["kubernetes"].get("pod_name") == "ghost-1"]
check(len(recs) == 8, "5 web + 3 ghost records, c1 excluded (got %d)" % len(recs))
check(len(web) == 5 and len(ghost) == 3, "web %d, ghost %d" % (len(web), len(ghost)))
k = web[0]["kubernetes"]
check(k["namespace_name"] == "shop" and k["pod_name"] == "web-5d8f9-aaaaa", "names: %r" % k)
check(k["host"] == "node-a" and k["labels"]["app"] == "web", "host and labels: %r" % k)
check(k["annotations"]["gleaner.io/exclude-c1"] == "true", "annotations: %r" % k)
check(k["owner"]["kind"] == "ReplicaSet", "owner: %r" % k)
check(k["docker_id"] == web_id, "docker_id from the file: %r" % k)
check(k["container_image"] == "registry.example.com/shop/web:1.0.0", "image: %r" % k)
check(k["container_hash"].startswith("registry.example.com/shop/web@sha256:"), "hash: %r" % k)
check(sorted(r.get("n", -1) for r in web) == list(range(5)) and web[0]["level"] == "info",
      "JSON logs merged: %r" % web[0])
check(all(r["kubernetes"].get("meta_missing") is True for r in ghost),
      "unknown pod's records flagged: %r" % ghost[0])
gets = api.stats()["gets"]
check(sum(v for key, v in gets.items() if "ghost-1" in key) >= 1,
      "unknown pod fetched from the API server: %r" % gets)
print("kubernetes_enrichment: ok")

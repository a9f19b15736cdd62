"""tail -> kubernetes -> file against the test API server: records of a known
pod get its metadata (labels, annotations, owner, container image and hash)
and their JSON log merged; an exclude hint drops one container's lines; a
pod the API server does not know is fetched once and its lines are flagged
kubernetes.meta_missing, never dropped. Then, with the agent running: a pod
created after the start, the last lines of a deleted pod, a rotated
service-account token and a relist after 410 Gone all keep records enriched."""
import json
import os
import sys
import time

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


def append_log(pod, ns, container, lines):
    cid = hexid(ns + pod + container)
    path = os.path.join(logs, "%s_%s_%s-%s.log" % (pod, ns, container, cid))
    with open(path, "a") as f:
        for i, line in enumerate(lines):
            f.write("2024-05-01T10:01:%02d.000000000Z stdout F %s\n" % (i, line))


api.add_pod("shop", "late-7c9d8-bbbbb")
time.sleep(0.5)
append_log("late-7c9d8-bbbbb", "shop", "late", ["late %d" % i for i in range(3)])
wait_for("the late pod's lines", lambda: count_lines(target) >= 11, timeout=20)
api.delete_pod("shop", "web-5d8f9-aaaaa")
time.sleep(0.5)
append_log("web-5d8f9-aaaaa", "shop", "web", ['{"level":"info","n":%d}' % i for i in (5, 6)])
wait_for("the deleted pod's last lines", lambda: count_lines(target) >= 13, timeout=20)
api.set_token("token-2")
write(token, "token-2\n")
api.drop_watches()
time.sleep(1.0)
api.add_pod("shop", "rotated-6b5c4-ccccc")
time.sleep(0.5)
append_log("rotated-6b5c4-ccccc", "shop", "rotated", ["rotated %d" % i for i in range(2)])
wait_for("lines after the token rotation", lambda: count_lines(target) >= 15, timeout=30)
api.compact()
api.error_410()
time.sleep(1.0)
api.add_pod("shop", "relisted-5a4b3-ddddd")
time.sleep(0.5)
append_log("relisted-5a4b3-ddddd", "shop", "relisted", ["relisted %d" % i for i in range(2)])
wait_for("lines after the relist", lambda: count_lines(target) >= 17, timeout=30)
watches = api.stats()
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s): %s" % (rc, stderr_of(p)[-2000:]))
with open(target) as f:
    recs = [json.loads(line) for line in f]
api.stop()

web = [r for r in recs if r["kubernetes"].get("container_name") == "web"]
ghost = [r for r in recs if r["kubernetes"].get("pod_name") == "ghost-1"]
check(len(recs) == 17, "7 web + 3 ghost + 7 later records, c1 excluded (got %d)" % len(recs))
check(len(web) == 7 and len(ghost) == 3, "web %d, ghost %d" % (len(web), len(ghost)))
for pod in ("late-7c9d8-bbbbb", "rotated-6b5c4-ccccc", "relisted-5a4b3-ddddd"):
    rs = [r for r in recs if r["kubernetes"].get("pod_name") == pod]
    check(len(rs) >= 2 and all("labels" in r["kubernetes"] and "meta_missing" not in
                                r["kubernetes"] for r in rs),
          "%s, created while the agent ran, is enriched (%d records)" % (pod, len(rs)))
k = web[0]["kubernetes"]
check(k["namespace_name"] == "shop" and k["pod_name"] == "web-5d8f9-aaaaa", "names: %r" % k)
check(k["host"] == "node-a" and k["labels"]["app"] == "web", "host and labels: %r" % k)
check(k["annotations"]["gleaner.io/exclude-c1"] == "true", "annotations: %r" % k)
check(k["owner"]["kind"] == "ReplicaSet", "owner: %r" % k)
check(k["docker_id"] == web_id, "docker_id from the file: %r" % k)
check(k["container_image"] == "registry.example.com/shop/web:1.0.0", "image: %r" % k)
check(k["container_hash"].startswith("registry.example.com/shop/web@sha256:"), "hash: %r" % k)
check(sorted(r.get("n", -1) for r in web) == list(range(7)) and web[0]["level"] == "info",
      "JSON logs merged, also the deleted pod's last lines: %r" % web[-1])
check(all("labels" in r["kubernetes"] and "meta_missing" not in r["kubernetes"] for r in web),
      "the deleted pod's last lines are still enriched")
check(all(r["kubernetes"].get("meta_missing") is True for r in ghost),
      "unknown pod's records flagged: %r" % ghost[0])
gets = api.stats()["gets"]
check(sum(v for key, v in gets.items() if "ghost-1" in key) >= 1,
      "unknown pod fetched from the API server: %r" % gets)
print("kubernetes_enrichment: ok")

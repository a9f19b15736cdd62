"""A stream's events arrive in order when its flushes are encoded in parts.
On the main path (tail -> kubernetes -> cloudwatch_logs) a record's event
carries the pod's metadata, several times the record's own bytes, so one
flush is encoded in several parts of about 2 MiB, the next part once the
batches of the one before are done. A later flush of the same pod must not
send its batches in between: with the service answering in 50 ms, two busy
pods of 40,000 lines each, every line arrives exactly once and in the order
it was written, in its pod's stream (on the build before the fix, a later
flush's batch went first at every part)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_kube_api import KubeApi  # noqa
from lib_kubelet import Container  # noqa

PODS = 2
LINES = 40000
d = tmpdir("cwl-order")
root = os.path.join(d, "node")
base = int(time.time()) - 3600  # an hour ago: within what the service takes
stamp = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(base))
pods = []
for i in range(PODS):
    c = Container(root, i, mode="none", seed=7)
    c.close()
    with open(c.log, "w") as f:  # one line a millisecond
        f.write("".join('%s:%02d.%03d000000Z stdout F {"pod":"%s","seq":%d}\n'
                        % (stamp, j // 1000, j % 1000, c.pod, j) for j in range(LINES)))
    pods.append(c)
token = write(os.path.join(d, "token"), "order-token")
api = KubeApi(token="order-token", node="order-node")
api.start()
for c in pods:
    api.add_pod(c.namespace, c.pod)

with CwlServer(delay=0.05) as srv:
    os.environ.update(srv.env())
    cfg = write(os.path.join(d, "order.yaml"), """service:
  flush: 200ms
  storage.path: %s/storage
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
  filters:
    - name: kubernetes
      match: 'kube.*'
      kube_url: http://127.0.0.1:%d
      kube_token_file: %s
      node_name: order-node
  outputs:
    - name: cloudwatch_logs
      match: 'kube.*'
      endpoint: %s
      log_group_name: /order
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: unknown
""" % (d, root, api.port, token, srv.endpoint))
    p = start(cfg)
    try:
        rc = p.wait(240)
    except Exception:
        p.kill()
        fail("the agent did not exit at the end of its files within 240 s")
    check(rc == 0, "exit 0 at the end of the files (rc=%s)" % rc)
    stats = srv.stats()
    for c in pods:
        seqs = [json.loads(json.loads(e["message"])["log"])["seq"]
                for e in srv.events("/order", c.pod)]
        first = next((i for i, s in enumerate(seqs) if s != i), None)
        check(seqs == list(range(LINES)),
              "%s: %d lines exactly once, in order (got %d events; first out of place at %s)"
              % (c.pod, LINES, len(seqs), first))
    puts = [b for b in stats["batches"] if b["stream"] == pods[0].pod]
    check(len(puts) > 2 * PODS,
          "the flushes were sent in several batches each (%d PutLogEvents for %s)"
          % (len(puts), pods[0].pod))
api.stop()

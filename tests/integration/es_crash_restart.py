"""SIGKILL of the agent mid-run and a restart leave no line missing and none
twice. 8 container logs are read from their head into Elasticsearch through
a modify filter (records rewritten on the way keep their origin); the agent
is killed 6 times at seeded random moments and restarted on the same
storage.path. What it sent but had not yet committed is read and sent
again, under the same generated _id: the server answers 409 (create) and
the agent counts it as delivered, so every line is stored exactly once. A
second run with write_operation index overwrites instead ("updated").
The _id of a tail line is its file's key and its byte offset."""
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, fail, start, stderr_of, tmpdir, write  # noqa: E402
from lib_es_server import EsServer  # noqa: E402
from lib_kubelet import Container  # noqa: E402

FILES = 8
LINES = 15000
rng = random.Random(2024)
d = tmpdir("es-crash")
root = os.path.join(d, "node")


def write_logs():
    """FILES CRI logs; returns {(cid, seq): byte offset of its line}."""
    base = time.time_ns() - 3600 * 10 ** 9
    offsets = {}
    for i in range(FILES):
        c = Container(root, i, mode="none", seed=31)
        c.close()
        out, at = [], 0
        for j in range(LINES):
            ns = base + j * 1000
            t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10 ** 9))
            line = "%s.%09dZ stdout F %s seq=%06d %s\n" % (t, ns % 10 ** 9, c.cid, j,
                                                           "z" * (20 + j % 90))
            offsets[(c.cid, j)] = at
            at += len(line)
            out.append(line)
        with open(c.log, "w") as f:
            f.write("".join(out))
    return offsets


def key_of(doc):
    cid, seq = doc["log"].split(" ", 2)[:2]
    return (cid, int(seq[4:]), doc.get("shard"))


def run(srv, name, op, kills):
    """Runs the agent to the end of the logs, killing it `kills` times on the way."""
    cfg = write(os.path.join(d, name + ".yaml"), """
service:
  flush: 200ms
  grace: 20s
  log_level: info
  storage.path: %s/%s
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
      mem_buf_limit: 4MB
  filters:
    - name: modify
      match: 'kube.*'
      add: shard blue
  outputs:
    - name: es
      match: 'kube.*'
      port: %d
      index: %s
      write_operation: %s
      generate_id: on
      workers: 4
""" % (d, name, root, srv.port, name, op))
    p = start(cfg)
    for k in range(kills):
        time.sleep(rng.uniform(0.3, 1.2))
        if p.poll() is not None:
            fail("the agent ended before kill %d (rc=%s)\n%s" % (k + 1, p.returncode,
                                                                 stderr_of(p)[-2000:]))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p = start(cfg, stderr_path=cfg + ".stderr.%d" % (k + 1))
    try:
        rc = p.wait(120)
    except subprocess.TimeoutExpired:
        rc = None
    if rc != 0:
        fail("the agent did not finish after the last restart (rc=%s)\n%s"
             % (rc, stderr_of(p)[-3000:]))


offsets = write_logs()
want = set((cid, seq, "blue") for cid, seq in offsets)
# A slow cluster keeps requests in flight, so that kills find some.
with EsServer(flavor="es8", seed=3, delay=0.15, delay_rate=0.5) as srv:
    t0 = time.time()
    run(srv, "create", "create", 6)
    docs = srv.docs("create")
    stats = srv.stats()
    got = [key_of(x) for x in docs.values()]
    print("6 kills, %.1fs; items %s" % (time.time() - t0, json.dumps(stats["items"])))
    check(len(got) == len(want) and set(got) == want,
          "no line missing, none twice over 6 kills: %d documents for %d lines (%d missing)"
          % (len(got), len(want), len(want - set(got))))
    check(stats["items"].get("409", 0) > 0,
          "lines sent again after a kill were already stored: %d answered 409, counted as "
          "delivered" % stats["items"].get("409", 0))
    check(stats["results"] == {"created": len(want)}, "each stored once, never overwritten")
    ids = {}
    for i, x in docs.items():
        cid, seq, _ = key_of(x)
        ids.setdefault(cid, set()).add(i[:16])
        if int(i[16:], 16) != offsets[(cid, seq)]:
            fail("the _id %s of %s seq=%d does not end in its offset %d"
                 % (i, cid, seq, offsets[(cid, seq)]))
    check(all(len(v) == 1 for v in ids.values()) and len(set().union(*ids.values())) == FILES,
          "a line's _id is its file's key (one per file) and its byte offset")

    run(srv, "index", "index", 3)
    got = [key_of(x) for x in srv.docs("index").values()]
    res = srv.stats()["results"]
    check(len(got) == len(want) and set(got) == want,
          "write_operation index: every line once over 3 kills (%d documents)" % len(got))
    print("index run: results %s" % json.dumps(res))

"""valgrind reports no error and no leak for tail -> cloudwatch_logs over TLS,
in two runs: one delivering every line of files whose flushes are encoded in
several parts (a chunk's events pass the 2 MiB a part holds), and one stopped
by SIGTERM with a short grace while the server answers slowly, so that jobs
are given up part way through their flush and requests are in flight. The
first run's lines all arrive, exactly once."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_kubelet import Container  # noqa

need("valgrind", "valgrind")
need("openssl", "openssl")
PODS = 3
LINES = 12000
d = tmpdir("cwl-valgrind")
root = os.path.join(d, "node")

cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)

base_ns = time.time_ns() - 3600 * 10 ** 9
pods = []
for i in range(PODS):
    c = Container(root, i, mode="none", seed=3)
    c.close()
    lines = []
    for j in range(LINES):
        s, frac = divmod(base_ns + j * 1000000, 1000000000)
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac
        # JSON text in the line: escaped twice in the message, so events outgrow chunks.
        lines.append('%s stdout F {"pod":"%s","seq":%d,"msg":"%s"}\n'
                     % (t, c.pod, j, "\\\"v\\\" " * 25))
    with open(c.log, "w") as f:
        f.write("".join(lines))
    pods.append(c)


def config(name, endpoint, grace):
    return write(os.path.join(d, name + ".yaml"), """
service:
  flush: 200ms
  grace: %s
  log_level: info
  storage.path: %s/storage-%s
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
  outputs:
    - name: cloudwatch_logs
      match: 'kube.*'
      endpoint: %s
      tls.ca_file: %s
      log_group_name: /aws/eks/valgrind
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: unknown
""" % (grace, d, name, root, endpoint, cert))


def valgrind_clean(log, what):
    text = open(log).read()
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    check(m is not None and m.group(1) == "0", "%s: valgrind reports 0 errors" % what)
    check(("definitely lost: 0 bytes" in text or "All heap blocks were freed" in text) and
          ("indirectly lost: 0 bytes" in text or "All heap blocks were freed" in text),
          "%s: nothing lost" % what)


def under_valgrind(log):
    return ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--log-file=" + log]


with CwlServer(tls_cert=cert, tls_key=key) as srv:
    os.environ.update(srv.env())
    log = os.path.join(d, "whole.valgrind")
    p = start(config("whole", srv.endpoint, "30s"), wrapper=under_valgrind(log))
    try:
        rc = p.wait(600)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, "delivered and exited by itself under valgrind (rc=%s)\n%s"
          % (rc, stderr_of(p)[-2000:]))
    valgrind_clean(log, "a run delivering everything")
    for c in pods:
        seqs = [json.loads(json.loads(e["message"])["log"])["seq"]
                for e in srv.events("/aws/eks/valgrind", c.pod)]
        check(seqs == list(range(LINES)), "%s: %d lines exactly once, in order (got %d)"
              % (c.pod, LINES, len(seqs)))
    stats = srv.stats()
    puts = sum(stats["requests"]["PutLogEvents"].values())
    print("%d PutLogEvents for %d lines" % (puts, PODS * LINES))

with CwlServer(tls_cert=cert, tls_key=key, delay=3.0) as srv:
    os.environ.update(srv.env())
    log = os.path.join(d, "stopped.valgrind")
    p = start(config("stopped", srv.endpoint, "1s"), wrapper=under_valgrind(log))
    wait_for("requests in flight", lambda: sum(
        srv.stats()["requests"].get("PutLogEvents", {}).values()) > 0 or
        srv.stats()["requests"].get("CreateLogStream"), timeout=120)
    time.sleep(2)
    rc = stop(p, timeout=300)
    check(rc == 0, "stopped by SIGTERM past its grace under valgrind (rc=%s)" % rc)
    valgrind_clean(log, "a run stopped with flushes part way")

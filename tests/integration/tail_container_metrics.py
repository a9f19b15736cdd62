"""tail's per-container counters on /metrics, against what was written.

Three containers' log files in the kubelet's /var/log/containers naming
(<pod>_<namespace>_<container>-<id>.log); pay/api-7/app has two, as after
a restart, and they count into one series; a file of another name counts in
none. gleaner_input_container_bytes_total must be every byte of the
container's files (a last line without its newline too) and
gleaner_input_container_lines_total their newlines, after the first read and
after more is written. A container's series goes when its last file is
deleted and closed, and not before."""
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_observe import agent_config  # noqa: E402

d = tmpdir("tail-container-metrics")
logs = os.path.join(d, "containers")
os.makedirs(logs)


def container_log(pod, ns, container, restart=0):
    cid = hashlib.sha256(("%s/%s/%s/%d" % (ns, pod, container, restart)).encode()).hexdigest()
    return os.path.join(logs, "%s_%s_%s-%s.log" % (pod, ns, container, cid))


def cri(i, text):
    return "2026-01-02T03:04:%02d.%09dZ stdout F %s\n" % (i % 60, i, text)


def append(path, data):
    with open(path, "a") as f:
        f.write(data)


FILES = {
    ("shop", "web-1", "app"): [container_log("web-1", "shop", "app")],
    ("shop", "web-1", "sidecar"): [container_log("web-1", "shop", "sidecar")],
    ("pay", "api-7", "app"): [container_log("api-7", "pay", "app", 0),
                              container_log("api-7", "pay", "app", 1)],
}
OTHER = os.path.join(logs, "not-a-container.log")


def write_round(r):
    """Writes lines of several lengths to every file; returns nothing, the files are the truth."""
    n = 0
    for key, paths in sorted(FILES.items()):
        for j, path in enumerate(paths):
            if not os.path.exists(path) and r > 0:
                continue
            for i in range(20 + 7 * j + len(key[1])):
                n += 1
                append(path, cri(n, "%s %d %s" % (key[2], i, "x" * ((i * 37 + r) % 300))))
    append(OTHER, "a line of no container\n")


def expected(keys=None):
    """{(namespace, pod, container): (bytes, lines)} from the files on disk plus what is gone."""
    out = {}
    for key, paths in FILES.items():
        if keys is not None and key not in keys:
            continue
        b = gone_bytes.get(key, 0)
        n = gone_lines.get(key, 0)
        for path in paths:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data = f.read()
                b += len(data)
                n += data.count(b"\n")
        out[key] = (b, n)
    return out


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def series(text, family):
    """{(namespace, pod, container): value} of one family, from the agent's /metrics."""
    out = {}
    for m in re.finditer(r"^%s\{([^}]*)\} (\S+)$" % family, text, re.M):
        labels = dict(LABEL.findall(m.group(1)))
        if labels.get("plugin") != "tail" or labels.get("name") != "containers":
            fail("unexpected labels %s" % labels)
        out[(labels["namespace"], labels["pod"], labels["container"])] = float(m.group(2))
    return out


def observed():
    status, text = http_get(port, "/metrics")
    if status != 200:
        return None
    b = series(text, "gleaner_input_container_bytes_total")
    n = series(text, "gleaner_input_container_lines_total")
    if set(b) != set(n):
        fail("bytes and lines series differ: %s / %s" % (sorted(b), sorted(n)))
    return {k: (int(b[k]), int(n[k])) for k in b}


def settle(what, want, timeout=20):
    """Waits until /metrics shows want; fails with what it shows after timeout."""
    deadline = time.time() + timeout
    got = observed()
    while got != want and time.time() < deadline:
        time.sleep(0.2)
        got = observed()
    check(got == want, "%s: %s" % (what, ", ".join("%s/%s/%s %d B %d lines" % (k + v)
                                                 for k, v in sorted(want.items()))) if
          got == want else "%s: /metrics shows %s, the files hold %s" % (what, got, want))


gone_bytes, gone_lines = {}, {}


def delete(key, path):
    with open(path, "rb") as f:
        data = f.read()
    gone_bytes[key] = gone_bytes.get(key, 0) + len(data)
    gone_lines[key] = gone_lines.get(key, 0) + data.count(b"\n")
    os.unlink(path)


write_round(0)
append(FILES[("shop", "web-1", "app")][0], cri(0, "no newline yet")[:-1])
cfg, port = agent_config(d, """
  inputs:
    - name: tail
      alias: containers
      tag: kube.*
      path: %s/*.log
      read_from_head: on
      refresh_interval: 1s
      rotate_wait: 1s
  outputs:
    - name: null
      match: '*'
""" % logs)
p = start(cfg)
wait_for("the agent's /metrics", lambda: http_get(port, "/metrics")[0] == 200, timeout=10)

settle("after the first read", expected())
write_round(1)
append(FILES[("shop", "web-1", "app")][0], "\n")
settle("after more lines", expected())

key = ("shop", "web-1", "sidecar")
delete(key, FILES[key][0])
want = expected()
del want[key]
settle("the sidecar's series gone with its deleted file", want)

key = ("pay", "api-7", "app")
delete(key, FILES[key][0])
write_round(2)
settle("api-7's series kept, counting on, while one of its files is left", expected(
    [k for k in FILES if k != ("shop", "web-1", "sidecar")]))
delete(key, FILES[key][1])
settle("api-7's series gone with its last file", expected([("shop", "web-1", "app")]))

rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)

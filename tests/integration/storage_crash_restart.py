"""SIGKILL during an outage: with storage.type filesystem a dummy input's
closed chunks and a tail input's read lines are on disk, so the agent
killed mid-outage and started again (the service back) loses nothing of
them. Dummy: every record that was in a closed chunk arrives, once (the
kill comes after its last flush). Tail: every line arrives; a line sent
twice was on disk before the kill while its offset was not yet synced
(the offsets are synced every 200 ms), so duplicates are bounded by what
is read in well under a second, and counted. The tail input's file is
named as kubelet names a container's log, so every line carries the
kubernetes map tail takes from the name; its chunk files hold that map
once, and every line read back after the restart still carries it. An agent without a
filesystem input (nor an HTTP output: libcurl links libzstd) never maps
libzstd, nor one whose filesystem input's chunks all go on from memory
(they are written as they are); one whose chunks wait on disk through an
outage does (they are compressed)."""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
import lib_storage  # noqa
from lib_storage import cloudwatch, dummy, file_output, limit, tail  # noqa

N = 10000
RATE = 4000        # tail lines per second
DOCKER_ID = "ab" * 32
LOG = "web-1_shop_app-%s.log" % DOCKER_ID
KUBERNETES = {"pod_name": "web-1", "namespace_name": "shop", "container_name": "app",
              "docker_id": DOCKER_ID}
d = tmpdir("storage-crash")
logs = os.path.join(d, "logs")
os.makedirs(logs)


def config(srv, samples, msg):
    return lib_storage.config(d, "g-" + msg, [
        dummy("gen", samples, msg), tail("app", os.path.join(logs, LOG))],
        [limit(cloudwatch(srv.endpoint), "1MiB")])


def maps_zstd(p):
    with open("/proc/%d/maps" % p.pid) as f:
        return "libzstd" in f.read()


written = [0]
done = threading.Event()


def writer():
    with open(os.path.join(logs, LOG), "a") as f:
        while not done.is_set():
            n = RATE // 10
            f.write("".join("line %07d %s\n" % (written[0] + i, "y" * 80) for i in range(n)))
            f.flush()
            written[0] += n
            time.sleep(0.1)


for kind in ("memory", "filesystem"):
    p = start(lib_storage.config(d, "plain-" + kind, [dummy("plain", 0, "x", kind, rate=100)],
                                 [file_output(d)]))
    time.sleep(1.5)
    check(not maps_zstd(p), "storage.type %s, the output keeping up: libzstd not mapped" % kind)
    stop(p)

with CwlServer(seed=11, unavailable_rate=1.0) as srv:
    os.environ.update(srv.env())

    t = threading.Thread(target=writer)
    t.start()
    p = start(config(srv, N, "before"))
    wait_for("the dummy input to emit %d records" % N,
             lambda: "samples reached" in stderr_of(p), timeout=30)
    time.sleep(3)  # chunks closed and written; tail reads on through the outage
    check(maps_zstd(p), "chunks waiting on disk through the outage: libzstd mapped")
    p.send_signal(signal.SIGKILL)
    p.wait()
    done.set()
    t.join()
    print("ok: SIGKILL during the outage, %d lines written" % written[0])

    srv.set_faults(unavailable_rate=0.0)
    p = start(config(srv, 1, "after"))

    def arrived():
        ev = srv.events("g")
        if len(ev.get("s-gen", [])) < N + 1:
            return False
        lines = {json.loads(e["message"])["log"].split()[1] for e in ev.get("s-app", [])}
        return len(lines) >= written[0] and ev
    ev = wait_for("every record after the restart", arrived, timeout=90)
    gen = [json.loads(e["message"])["m"] for e in ev["s-gen"]]
    check(gen.count("before") == N and gen.count("after") == 1,
          "dummy: all %d records of the killed run, once (%d), and the new one"
          % (N, gen.count("before")))
    app = [json.loads(e["message"]) for e in ev["s-app"]]
    got = [int(r["log"].split()[1]) for r in app]
    wrong = [r for r in app if r.get("kubernetes") != KUBERNETES]
    check(not wrong, "tail: every line carries its kubernetes map after the restart (%d do not%s)"
          % (len(wrong), ": %r" % wrong[0].get("kubernetes") if wrong else ""))
    dup = len(got) - len(set(got))
    check(set(got) == set(range(written[0])), "tail: every one of the %d lines arrived"
          % written[0])
    check(dup <= RATE, "tail: %d lines sent twice, at most one second of reading (%d)"
          % (dup, RATE))
    check(stop(p) == 0, "the second run exits 0")

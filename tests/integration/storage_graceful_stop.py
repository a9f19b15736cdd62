"""SIGTERM during an outage loses nothing: CloudWatch Logs answers every
PutLogEvents with 503 while three inputs produce (dummy and tail with
storage.type filesystem, tail with the default memory buffer). The agent
is stopped with SIGTERM; grace runs out, it exits 0, and what it could not
send stays on disk (chunk files) or behind uncommitted offsets. The
service comes back, the agent is started again on the same storage.path:
every record arrives, exactly once, the last run's before the new run's
(dummy) and in order (tail)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
import lib_storage  # noqa
from lib_storage import cloudwatch, dummy, limit, tail  # noqa

N = 20000          # dummy records in the first run
LINES = 20000      # lines in each log file
d = tmpdir("storage-stop")
logs = os.path.join(d, "logs")
os.makedirs(logs)


def write_lines(name, start, n):
    with open(os.path.join(logs, name), "a") as f:
        f.write("".join("%s %06d %s\n" % (name, i, "z" * 60) for i in range(start, start + n)))


def config(srv, samples, msg):
    return lib_storage.config(d, "g-" + msg, [
        limit(dummy("gen", samples, msg), "1MiB"),
        limit(tail("fs", os.path.join(logs, "fs.log")), "1MiB"),
        limit(tail("mem", os.path.join(logs, "mem.log"), kind="memory"), "1MiB"),
    ], [limit(cloudwatch(srv.endpoint), "1MiB")])


def buffered():
    n = 0
    for root, _, files in os.walk(os.path.join(d, "storage")):
        n += sum(f.endswith(".chunk") for f in files)
    return n


write_lines("fs.log", 0, LINES)
write_lines("mem.log", 0, LINES)
with CwlServer(seed=3, unavailable_rate=1.0) as srv:
    os.environ.update(srv.env())
    p = start(config(srv, N, "before"))
    wait_for("the dummy input to emit its %d records" % N,
             lambda: "samples reached" in stderr_of(p), timeout=30)
    wait_for("503s from the service", lambda: srv.stats()["errors"], timeout=10)
    rc = stop(p)
    err = stderr_of(p)
    check(rc == 0, "exit 0 after SIGTERM during the outage (rc=%s)" % rc)
    check("grace of 2000 ms ran out" in err, "grace ran out with records not delivered")
    check(srv.events("g") == {}, "nothing was accepted during the outage")
    files = buffered()
    check(files > 0, "the filesystem inputs' chunks wait on disk (%d files)" % files)

    srv.set_faults(unavailable_rate=0.0)
    p = start(config(srv, 1, "after"))
    write_lines("fs.log", LINES, 100)
    write_lines("mem.log", LINES, 100)

    def arrived():
        ev = srv.events("g")
        return (len(ev.get("s-gen", [])) >= N + 1 and len(ev.get("s-fs", [])) >= LINES + 100
                and len(ev.get("s-mem", [])) >= LINES + 100) and ev
    ev = wait_for("every record after the restart", arrived, timeout=90)
    gen = [json.loads(e["message"])["m"] for e in ev["s-gen"]]
    check(gen.count("before") == N and gen.count("after") == 1 and gen[-1] == "after",
          "dummy: all %d records of the first run, once, before the new run's (%d, %d)"
          % (N, gen.count("before"), gen.count("after")))
    for name in ("fs", "mem"):
        got = [int(json.loads(e["message"])["log"].split()[1]) for e in ev["s-%s" % name]]
        check(got == list(range(LINES + 100)),
              "tail %s: every line once and in order (%d events for %d lines)"
              % (name, len(got), LINES + 100))
    wait_for("the delivered chunk files to be removed", lambda: buffered() == 0, timeout=10)
    print("ok: no chunk file left once delivered")
    check(stop(p) == 0, "the second run exits 0")

"""A stop sends what waits on disk when the service can take it. With
storage.max_chunks_up 1 and a CloudWatch Logs service that answers slowly,
most chunks of a filesystem input are written and leave memory (the
backlog); the agent is then stopped while they wait, once its input has
read the whole file (a stop before that leaves the rest of the file
behind its offset, for the next run). With a grace long
enough to send them, every line arrives exactly once, the agent exits
before its grace runs out, and no chunk file is left behind: a node that is
scaled in takes its disk with it, so what could be sent must not wait for
a restart. The same holds when the input reaches the end of its file
(exit_on_eof) with chunks on disk, and when a filter drops every record, so
that no flush acknowledges the last chunks; a SIGHUP with chunks on disk
loses and repeats nothing. When the service fails instead, the
chunks read back for the stop are not lost when grace runs out: their files
stay, the warning counts them, and the next run sends every line once."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_storage import cloudwatch  # noqa

LINES = 200000     # about 20 MB read: a dozen chunks or more
d = tmpdir("storage-stop-backlog")
logs = os.path.join(d, "logs")
os.makedirs(logs)


def config(name, path, grace, eof, filters="", http_port=0):
    return write(os.path.join(d, name + ".yaml"), """service:
  flush: 200ms
  grace: %s
  http_server: %s
  http_listen: 127.0.0.1
  http_port: %d
  scheduler.base: 100ms
  scheduler.cap: 500ms
  storage.path: %s/storage-%s
  storage.max_chunks_up: 1
pipeline:
  inputs:
    - name: tail
      alias: fs
      tag: %s
      path: %s
      read_from_head: on
      exit_on_eof: %s
      storage.type: filesystem
%s  outputs:
%s""" % (grace, "on" if http_port else "off", http_port, d, name, name, path,
         "on" if eof else "off", filters, cloudwatch(srv.endpoint)))


def chunk_files(name, stored=None):
    """Chunk files of run name; with stored True or False, only those whose data is
    stored as it is (or compressed): flag 0x02 of the header's byte 6."""
    n = 0
    for root, _, files in os.walk(os.path.join(d, "storage-" + name)):
        for f in files:
            if f.endswith(".chunk") and stored is not None:
                with open(os.path.join(root, f), "rb") as fp:
                    n += (fp.read(7)[6:] == b"\x02") == stored
            elif f.endswith(".chunk"):
                n += 1
    return n


def lines_of(name):
    path = os.path.join(logs, name + ".log")
    with open(path, "w") as f:
        f.write("".join("%s %06d %s\n" % (name, i, "y" * 80) for i in range(LINES)))
    return path


def delivered(name):
    got = [int(json.loads(e["message"])["log"].split()[1])
           for e in srv.events("g").get("s-" + name, [])]
    return got


def check_all_once(name, what, wait=False):
    """Every line of name arrived once and in order (waiting for them when wait), and
    its delivered chunk files are removed."""
    if wait:
        wait_for("every line " + what,
                 lambda: len(delivered(name)) >= LINES and delivered(name), timeout=60)
    got = delivered(name)
    check(got == list(range(LINES)), "every line once and in order %s (%d events for %d lines)"
          % (what, len(got), LINES))
    wait_for("the delivered chunk files to be removed", lambda: chunk_files(name) == 0,
             timeout=10)
    print("ok: no chunk file left %s" % what)


def records_read(port):
    """The records the input has emitted, from the agent's /metrics."""
    _, body = http_get(port, "/metrics")
    return metric_value(body or "", "gleaner_input_records_total", 'name="fs"') or 0


def exit_at_eof(p):
    """The agent's exit status at the end of its file, and what it logged."""
    try:
        rc = p.wait(50)
    except Exception:
        p.kill()
        fail("the agent did not exit at the end of its file within 50 s")
    return rc, stderr_of(p)


with CwlServer(seed=5, delay=0.15) as srv:
    os.environ.update(srv.env())

    # SIGTERM while chunks wait on disk, the whole file read.
    port = free_port()
    p = start(config("term", lines_of("term"), "60s", False, http_port=port))
    wait_for("the whole file read", lambda: records_read(port) >= LINES, timeout=30)
    check(chunk_files("term") >= 3, "%d chunks waiting on disk at the stop" % chunk_files("term"))
    t0 = time.time()
    rc = stop(p, timeout=50)
    took = time.time() - t0
    err = stderr_of(p)
    check(rc == 0, "exit 0 after SIGTERM (rc=%s)" % rc)
    check("ran out" not in err, "grace did not run out: the backlog was sent (%.1f s)" % took)
    check_all_once("term", "after the stop")

    # End of file with chunks on disk.
    rc, err = exit_at_eof(start(config("eof", lines_of("eof"), "60s", True)))
    check(rc == 0, "exit 0 at the end of the file (rc=%s)" % rc)
    check("ran out" not in err, "grace did not run out")
    check_all_once("eof", "at the end of the file")

    # SIGHUP while chunks wait on disk: the old pipeline sends them or leaves them to the
    # new one, which reads on; every line still arrives once and in order.
    p = start(config("reload", lines_of("reload"), "60s", False))
    wait_for("chunks waiting on disk", lambda: chunk_files("reload") >= 3, timeout=30)
    p.send_signal(signal.SIGHUP)
    wait_for("the reload", lambda: "configuration reloaded" in stderr_of(p), timeout=60)
    check_all_once("reload", "after the reload", wait=True)
    check(stop(p) == 0, "exit 0 after the reload")

    # Every record filtered out: the chunks are acknowledged without a flush.
    t0 = time.time()
    rc, err = exit_at_eof(start(config("dropped", lines_of("dropped"), "60s", True, """  filters:
    - name: grep
      match: '*'
      exclude: log .
""")))
    check(rc == 0 and "ran out" not in err,
          "every record filtered out: exit 0 without waiting for grace (rc=%s, %.1f s)"
          % (rc, time.time() - t0))
    check(delivered("dropped") == [] and chunk_files("dropped") == 0,
          "nothing sent, no chunk file left")

    # The service fails through the stop: grace runs out, the files stay.
    srv.set_faults(unavailable_rate=1.0, delay=0.0)
    p = start(config("fail", lines_of("fail"), "2s", False))
    wait_for("chunks waiting on disk", lambda: chunk_files("fail") >= 3, timeout=30)
    rc = stop(p, timeout=50)
    err = stderr_of(p)
    check(rc == 0, "exit 0 after SIGTERM during the outage (rc=%s)" % rc)
    check("grace of 2000 ms ran out" in err and "chunks waiting in filesystem buffers" in err,
          "grace ran out, with the chunks left on disk in the warning")
    left = chunk_files("fail")
    check(left > 0 and delivered("fail") == [],
          "nothing accepted, %d chunk files kept on disk" % left)
    # The one chunk in memory and the writes in flight when the output filled may be
    # as they are; every chunk that waited on disk is compressed.
    check(chunk_files("fail", stored=True) <= 4,
          "%d of them compressed, %d as they are (at most 4)"
          % (chunk_files("fail", stored=False), chunk_files("fail", stored=True)))
    srv.set_faults(unavailable_rate=0.0)
    p = start(config("fail", os.path.join(logs, "fail.log"), "60s", False))
    check_all_once("fail", "after the restart", wait=True)
    check(stop(p) == 0, "the second run exits 0")

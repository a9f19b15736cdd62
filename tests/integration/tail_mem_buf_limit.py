"""Catch-up under memory limits: many container logs read from head into the
file output with the input's mem_buf_limit at 5MB, at its default, off, and
with only the output's limit at 5MB. Each run must deliver every line exactly
once, keep its peak RSS within the bound README gives (limit, chunk pool,
fixed part, per file), and never sit paused while nothing is on its way out
(the input paused with an empty output buffer waits for nothing but a tick).
Throughput and peak RSS are printed, not asserted."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

MIB = 1 << 20
# (files, lines per file): tens of files with long backlogs, a thousand short ones.
CORPORA = [(50, 3000), (1000, 300)]
PAD = "x" * 180


def make_corpus(d, files, lines):
    """CRI files named as kubelet names them; every 50th line split in P + F pieces."""
    logs = os.path.join(d, "logs-%d" % files)
    os.makedirs(logs)
    for i in range(files):
        name = "pod%04d_ns%d_app-%064x.log" % (i, i % 7, i)
        with open(os.path.join(logs, name), "w") as f:
            for j in range(lines):
                ts = "2024-05-01T12:%02d:%02d.%09dZ" % (j // 3600 % 60, j // 60 % 60, j)
                msg = "file=%04d seq=%06d %s" % (i, j, PAD)
                if j % 50 == 0:
                    f.write("%s stdout P %s\n" % (ts, msg[:40]))
                    f.write("%s stdout F %s\n" % (ts, msg[40:]))
                else:
                    f.write("%s stdout F %s\n" % (ts, msg))
    return logs


def config(d, logs, tag, in_limit, out_limit, port):
    return write(os.path.join(d, "g.yaml"), """
service:
  flush: 1s
  log_level: warn
  storage.path: %s/state
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: tail
      path: %s/*.log
      tag: %s
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
      mem_buf_limit: %s
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.jsonl
      mem_buf_limit: %s
""" % (d, port, logs, tag, in_limit, d, out_limit))


def watch_status(port, proc, seen):
    """Samples /api/v1/status until the agent exits; records a pause with nothing held out."""
    while proc.poll() is None:
        code, body = http_get(port, "/api/v1/status", timeout=2)
        if code == 200:
            st = json.loads(body)
            paused = st["inputs"][0]["paused"]
            buffered = st["outputs"][0]["buffer_bytes"]
            seen["samples"] += 1
            if paused and buffered == 0:
                seen["idle_pauses"] += 1
        time.sleep(0.02)


def verify(out, files, lines, in_turn):
    """Every (file, seq) exactly once, and the files read in turn."""
    got = {}
    first = {}
    n = 0
    with open(out) as f:
        for line in f:
            rec = json.loads(line)
            words = rec["log"].split(" ", 2)
            key = (words[0], words[1])
            got[key] = got.get(key, 0) + 1
            first.setdefault(words[0], n)
            n += 1
    # Read in turn, every file has begun before a third of the lines are out; read one
    # after the other (a pass always restarting at the first file), the last begins at the end.
    latest = max(first.values())
    if in_turn:
        check(latest < n / 3, "files read in turn: the last file began at record %d of %d"
              % (latest, n))
    twice = sum(1 for v in got.values() if v > 1)
    check(n == files * lines and len(got) == files * lines and twice == 0,
          "every line exactly once (%d records, %d distinct, %d repeated, %d written)"
          % (n, len(got), twice, files * lines))


def run(root, logs, files, lines, tag, in_limit, out_limit):
    d = tmpdir("membuf")
    port = free_port()
    cfg = config(d, logs, tag, in_limit, out_limit, port)
    t0 = time.time()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", GLEANER, "-c", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = {"samples": 0, "idle_pauses": 0}
    w = threading.Thread(target=watch_status, args=(port, p, seen))
    w.start()
    try:
        _, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("%d files, mem_buf_limit %s/%s: not done in 240 s" % (files, in_limit, out_limit))
    w.join()
    wall = time.time() - t0
    err = err.decode()
    check(p.returncode == 0, "%d files, input %s, output %s: exits 0 at the end (rc=%d)%s"
          % (files, in_limit, out_limit, p.returncode, "" if p.returncode == 0 else err[-2000:]))
    peak = int(err.strip().splitlines()[-1]) * 1024
    size = sum(os.path.getsize(os.path.join(logs, f)) for f in os.listdir(logs))
    # A file of a few reads (64 KiB each) or less is read whole in one turn.
    in_turn = size / files > 5 * 64 * 1024
    verify(os.path.join(d, "out.jsonl"), files, lines, in_turn)
    # README's bound: fixed part with the HTTP server (9 MiB) + chunk pool (8 MiB) + the
    # input's limit + one read (64 KiB) + about 5 KiB per file; an input without a limit of
    # its own is bounded by 8 MiB of open chunks plus the output's limit. The file output's
    # own buffer (the JSON of one chunk, about 4 MiB) is its "request body".
    limit = parse_size(in_limit)
    held = limit if limit else 8 * MIB + parse_size(out_limit)
    bound = 9 * MIB + 8 * MIB + held + 64 * 1024 + files * 5 * 1024 + 4 * MIB
    print("  %4d files, input %-5s output %-5s: %.1f MB/s, peak RSS %.1f MiB (bound %.1f), "
          "%d status samples" % (files, in_limit, out_limit, size / wall / 1e6, peak / MIB,
                                 bound / MIB, seen["samples"]))
    check(peak <= bound, "peak RSS %.1f MiB within the bound %.1f MiB" % (peak / MIB,
                                                                        bound / MIB))
    check(seen["idle_pauses"] == 0,
          "never paused with nothing on its way out (%d of %d samples were)"
          % (seen["idle_pauses"], seen["samples"]))


def parse_size(s):
    units = {"MB": 1000 * 1000, "MiB": MIB, "KiB": 1024}
    for u, m in units.items():
        if s.endswith(u):
            return int(s[:-len(u)]) * m
    return int(s)


root = tmpdir("membuf-corpus")
for files, lines in CORPORA:
    logs = make_corpus(root, files, lines)
    for in_limit, out_limit in (("5MB", "32MiB"), ("16MiB", "32MiB"), ("0", "32MiB"),
                                ("0", "5MB")):
        run(root, logs, files, lines, "kube.*", in_limit, out_limit)
    # One tag for every file: records of many sources share one open chunk.
    run(root, logs, files, lines, "all", "5MB", "32MiB")

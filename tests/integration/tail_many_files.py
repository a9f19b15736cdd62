"""5,000 tailed files work: every line of every file arrives once, and the
memory they cost is printed (peak RSS over the idle baseline)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

FILES = 5000
LINES = 10
d = tmpdir("many")
logs = os.path.join(d, "logs")
os.makedirs(logs)
for i in range(FILES):
    with open(os.path.join(logs, "f%05d.log" % i), "w") as f:
        for j in range(LINES):
            f.write("2024-05-01T12:00:00.%09dZ stdout F file %05d line %02d\n" % (j, i, j))
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  storage.path: %s/state
pipeline:
  inputs:
    - name: tail
      path: %s/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
      refresh_interval: 60s
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.jsonl
""" % (d, logs, d))
r = subprocess.run(["/usr/bin/time", "-f", "%M", GLEANER, "-c", cfg], capture_output=True,
                   timeout=300)
err = r.stderr.decode()
check(r.returncode == 0, "exit_on_eof exits 0 after %d files (rc=%d)\n%s"
      % (FILES, r.returncode, err[-2000:]))
peak_kib = int(err.strip().splitlines()[-1])
out = os.path.join(d, "out.jsonl")
seen = set()
with open(out) as f:
    for line in f:
        seen.add(json.loads(line)["log"])
check(count_lines(out) == FILES * LINES, "%d records for %d lines" % (count_lines(out),
                                                                      FILES * LINES))
check(len(seen) == FILES * LINES, "every line exactly once (%d distinct)" % len(seen))
print("memory: peak RSS %.1f MiB with %d files open" % (peak_kib / 1024.0, FILES))

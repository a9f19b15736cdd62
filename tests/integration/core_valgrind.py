"""valgrind reports no leak and no error after a run through the whole
pipeline (dummy -> grep -> modify -> file, HTTP server, SIGTERM), one of
the inputs with the filesystem buffer (zstd, chunk writes on the thread
pool)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

need("valgrind", "valgrind")
d = tmpdir("valgrind")
port = free_port()
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 100ms
  storage.path: %s/storage
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: dummy
      dummy: '{"log":"{\\"k\\":1} level=info msg=hi","keep":true}'
      rate: 500
    - name: dummy
      dummy: '{"log":"level=info from disk"}'
      rate: 200
      storage.type: filesystem
  filters:
    - name: grep
      match: '*'
      regex: log level
    - name: modify
      match: '*'
      set: env test
      rename: keep kept
    - name: parser
      match: '*'
      key_name: log
      parser: logfmt
      reserve_data: on
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.jsonl
""" % (d, port, d))
log = os.path.join(d, "valgrind.log")
p = start(cfg, wrapper=["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                        "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                        "--log-file=" + log])
wait_for("records through valgrind", lambda: count_lines(os.path.join(d, "out.jsonl")) > 100,
         timeout=60)
wait_for("/metrics", lambda: http_get(port, "/metrics")[0] == 200, timeout=30)
rc = stop(p, timeout=120)
text = open(log).read()
check(rc == 0, "agent under valgrind exits 0 (rc=%s)\n%s" % (rc, text[-3000:]))
m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
check(m and m.group(1) == "0", "valgrind: 0 errors")
check("definitely lost: 0 bytes" in text or "All heap blocks were freed" in text,
      "valgrind: nothing definitely lost")
check("indirectly lost: 0 bytes" in text or "All heap blocks were freed" in text,
      "valgrind: nothing indirectly lost")

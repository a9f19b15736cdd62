"""gleaner without -c runs its embedded default: it follows container logs
(here a sample tree given by GLEANER_LOG_PATH), prints records on stdout
within 5 seconds, and serves /metrics on 127.0.0.1:2020."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

d = tmpdir("embedded")
logs = os.path.join(d, "containers")
os.makedirs(logs)
env = dict(os.environ, GLEANER_LOG_PATH=logs + "/*.log", GLEANER_STORAGE_PATH=d + "/state")
out = open(os.path.join(d, "stdout"), "w")
p = subprocess.Popen([GLEANER], stdout=out, stderr=subprocess.DEVNULL, env=env)
try:
    wait_for("the HTTP server", lambda: http_get(2020, "/healthz")[0] == 200, timeout=10)
    name = "web-7d9f8c6b5-x2k4p_shop_web-%s.log" % ("a" * 64)
    t0 = time.time()
    with open(os.path.join(logs, name), "w") as f:
        f.write("2024-05-01T12:00:00.000000000Z stdout F hello from a container\n")
    wait_for("the record on stdout", lambda: "hello from a container" in
             open(os.path.join(d, "stdout")).read(), timeout=5)
    print("record shown %.2f s after it was written" % (time.time() - t0))
    rec = json.loads(open(os.path.join(d, "stdout")).readline())
    check(rec["log"] == "hello from a container" and rec["kubernetes"]["pod_name"] ==
          "web-7d9f8c6b5-x2k4p", "the record is parsed, with metadata from the path: %r" % rec)
    status, text = http_get(2020, "/metrics")
    check(status == 200 and "gleaner_input_read_lines_total" in text,
          "/metrics answers on 127.0.0.1:2020")
finally:
    p.terminate()
    rc = p.wait(30)
check(rc == 0, "exit 0 on SIGTERM (rc=%s)" % rc)

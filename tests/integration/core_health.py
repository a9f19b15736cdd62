"""/healthz tells the truth, /livez and /readyz do not flap with it.

Tail into the CloudWatch Logs test server, which goes down: /healthz turns
503 naming the stalled output (and, with health_check on, Fluent Bit's
error count, which /api/v1/health answers as Fluent Bit does: 500 "error")
while /livez and /readyz stay 200, a reload included; the agent logs the
problem and counts it in /metrics. The server comes back: /healthz is 200
again, the log says so, and every line arrived. Then a second agent whose
rotated files are given up unread over rotated_max_files: /healthz names the
lost file."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer

d = tmpdir("health")
logs = os.path.join(d, "logs")
os.makedirs(logs)
log = os.path.join(logs, "app.log")
port = free_port()


def cri(i):
    return "2026-01-01T00:00:00.000000000Z stdout F line-%06d %s\n" % (i, "x" * 100)


def config(extra_service, tail_extra, output):
    return write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s
  scheduler.base: 200ms
  scheduler.cap: 1s
%s
pipeline:
  inputs:
    - name: tail
      alias: app
      path: %s/*.log
      read_from_head: on
      refresh_interval: 1s
      kubernetes_metadata: off
      mem_buf_limit: 64KiB
%s
  outputs:
%s
""" % (port, d, extra_service, logs, tail_extra, output))


def metric(name):
    return metric_value(http_get(port, "/metrics")[1], name)


srv = CwlServer().start()
srv.call("CreateLogGroup", {"logGroupName": "/health"})
os.environ.update(srv.env(), AWS_EC2_METADATA_DISABLED="true")
cfg = config("""  health_check: on
  hc_errors_count: 2
  hc_period: 30s
  health.output_stalled: 3s
  health.input_paused: 3s""", "", """    - name: cloudwatch_logs
      alias: cwl
      match: '*'
      region: us-east-1
      log_group_name: /health
      log_stream_name: app
      endpoint: %s
      net.timeout: 2s""" % srv.endpoint)
with open(log, "w") as f:
    f.writelines(cri(i) for i in range(1000))
p = start(cfg)
wait_for("/readyz 200", lambda: http_get(port, "/readyz")[0] == 200, timeout=10)
wait_for("the first lines in CloudWatch", lambda: len(srv.events("/health", "app")) == 1000)
check(http_get(port, "/healthz") == (200, "ok\n"), "/healthz 200 ok while lines flow")
check(http_get(port, "/api/v1/health") == (200, "ok\n"), "/api/v1/health 200 ok")

srv.down()
with open(log, "a") as f:
    f.writelines(cri(i) for i in range(1000, 3000))
status, body = wait_for("/healthz 503", lambda: (lambda r: r if r[0] == 503 and
                        "output_stalled" in r[1] else None)(http_get(port, "/healthz")),
                        timeout=20)
print(body)
check("output_stalled: output cwl has " in body and "last error: PutLogEvents failed" in body,
      "/healthz names the stalled output and its last error")
check("flush_errors: more than hc_errors_count 2 failed flush attempts" in body,
      "health_check counts the failed attempts")
wait_for("input_paused", lambda: "input_paused: input app paused for" in
         http_get(port, "/healthz")[1], timeout=10)
check(http_get(port, "/api/v1/health") == (500, "error\n"),
      "/api/v1/health answers 500 error, as Fluent Bit's")
check(http_get(port, "/livez") == (200, "ok\n"), "/livez stays 200: a restart would not help")
check(http_get(port, "/readyz")[0] == 200, "/readyz stays 200")
check(metric("gleaner_healthy") == 0, "gleaner_healthy 0")
wait_for("gleaner_unhealthy_total to count the stall (checked every flush)",
         lambda: metric('gleaner_unhealthy_total{reason="output_stalled"}') == 1, timeout=5)
check("unhealthy: output_stalled: output cwl" in stderr_of(p), "the agent logs the stall")

p.send_signal(signal.SIGHUP)
ready = []
deadline = time.time() + 20  # the old pipeline drains for grace (5s): the output is down
while time.time() < deadline and "configuration reloaded" not in stderr_of(p):
    ready.append(http_get(port, "/readyz")[0])
    time.sleep(0.02)
check("configuration reloaded" in stderr_of(p) and set(ready) == {200},
      "/readyz stays 200 through a reload (%d probes: %s)" % (len(ready), set(ready)))

wait_for("the reloaded pipeline to find the output stalled too", lambda: stderr_of(p).count(
    "unhealthy: output_stalled") == 2, timeout=20)
srv.up()
wait_for("/healthz 200 again", lambda: http_get(port, "/healthz")[0] == 200, timeout=40)
wait_for("the agent to log the recovery", lambda: "healthy again after" in stderr_of(p), timeout=10)
wait_for("every line in CloudWatch", lambda: len(srv.events("/health", "app")) >= 3000,
         timeout=30)
got = sorted({e["message"] for e in srv.events("/health", "app")})
check(len(got) == 3000, "all 3000 lines arrived (%d distinct)" % len(got))
rc = stop(p)
check(rc == 0, "exit 0 after SIGTERM")
srv.stop()

# A rotated file given up unread: data lost, for health.data_lost.
os.remove(os.path.join(d, "app.offsets"))
for f in os.listdir(logs):
    os.remove(os.path.join(logs, f))
cfg = config("  health.data_lost: 1m", "      rotated_max_files: 1\n      rotate_wait: 1h",
             """    - name: file
      match: '*'
      path: %s/nowhere""" % d)
p = start(cfg)
wait_for("/readyz 200", lambda: http_get(port, "/readyz")[0] == 200, timeout=10)
for n in range(3):
    with open(log, "w") as f:
        f.writelines(cri(i) for i in range(2000))
    time.sleep(1.5)
    os.rename(log, "%s.%d" % (log, n))
with open(log, "w") as f:
    f.write(cri(0))
status, body = wait_for("data_lost", lambda: (lambda r: r if "data_lost" in r[1] else None)(
    http_get(port, "/healthz")), timeout=20)
print(body)
check(status == 503 and "data_lost: app" in body and "given up with" in body and
      "over rotated_max_files 1" in body, "/healthz names the rotated file given up")
rc = stop(p, timeout=30)
check(rc == 0, "exit 0 after SIGTERM")

"""The three workload alerts fire end to end, in a real Prometheus evaluating the rule files
as the Helm chart renders them: the test app (lib_testapp.py) is made to answer 30% of its
requests with 5xx (HighErrorRate fires), then to answer in 1.5 s (HighLatency fires, and
HighErrorRate resolves), then it is stopped (InstanceDown fires). While it is healthy (1%
of 5xx, 50 ms) no alert of alerts/ is pending or firing, the agent's own included: the
agent sends its metrics to the same Prometheus with remote-write. Prometheus sends its
alerts to Alertmanager running the example config of alerts/alertmanager/ (its Slack webhook
and SMTP server replaced by sinks on 127.0.0.1): critical alerts reach Slack #oncall and
email, warnings Slack #observability alone, and its inhibition holds.

Windows are short so that this takes minutes: the rules are rendered through the chart's
values with every window 20s and every for: 10s (InstanceDown 5s). What those durations
mean exactly, at their real length, is what alerts/tests/ checks with promtool.

The app is scraped by the agent's prometheus_scrape input when `gleaner --plugins` lists
it; until then Prometheus scrapes it itself, with the labels the agent would add, and the
test says so. node_metrics joins the agent's inputs when it is listed."""
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_observe import (ALERTS, APP_JOB, Prometheus, SmtpSink, Sources,  # noqa: E402
                         WebhookSink, agent_config, plugins_available, render_rules, rules_of,
                         start_alertmanager)
from lib_testapp import TestApp, control  # noqa: E402

need("prometheus", "prometheus")
SHORT = {"window": "20s", "for": "10s"}
JOB = APP_JOB

t0 = time.time()
d = tmpdir("alerts-firing")
plugins = plugins_available()
deferred = []

# ---- the rules, through the chart's values ----
# Every alert's window and for: (the keys its rule reads are those of its defaults).
with open(os.path.join(ROOT, "helm-chart", "gleaner", "values.yaml")) as f:
    defaults = yaml.safe_load(f)["prometheusRule"]["alerts"]
values = {"alerts": {name: {k: SHORT[k] for k in SHORT if k in keys}
                     for name, keys in defaults.items()}}
values["alerts"]["InstanceDown"]["for"] = "5s"
rules_dir = os.path.join(d, "rules")
files = render_rules({"prometheusRule": values}, rules_dir)
alerts = sorted(r["alert"] for _, r in rules_of(files))
print("rules rendered by the chart with windows 20s and for: 10s (InstanceDown 5s): %s"
      % ", ".join(alerts))

# ---- the app, the agent, Prometheus ----
app = TestApp(rate=20, error_share=0.01, latency=0.05).start()
src = Sources(app.port, plugins)
deferred += src.deferred
scrape_configs = src.scrape_configs

# The example Alertmanager config, with what its comment says to replace pointed at sinks
# on 127.0.0.1 (a Slack webhook, an SMTP server) and its waits shortened.
slack, smtp = WebhookSink(), SmtpSink()
with open(os.path.join(ALERTS, "alertmanager", "alertmanager.yaml")) as f:
    am_config = yaml.safe_load(f)
hook = write(os.path.join(d, "slack-webhook-url"), slack.url + "\n")
am_config["global"].update(slack_api_url_file=hook, smtp_smarthost=smtp.address,
                           smtp_require_tls=False)
for k in ("smtp_auth_username", "smtp_auth_password_file"):
    del am_config["global"][k]
for route in [am_config["route"]] + am_config["route"]["routes"]:
    route.update(group_wait="1s", group_interval="2s", repeat_interval="1h")
_, am_port = start_alertmanager(yaml.safe_dump(am_config), d)
prom = Prometheus("alerts", scrape_configs=scrape_configs,
                  rule_files=[os.path.join(rules_dir, f) for f in sorted(files)],
                  alertmanagers=["127.0.0.1:%d" % am_port]).start()


def slack_posts(channel, alertname):
    return [p for p in slack.received() if p.get("channel") == channel and
            any(alertname in a.get("title", "") and "FIRING" in a.get("title", "")
                for a in p.get("attachments", []))]


def emails(alertname):
    return [(to, text) for to, text in smtp.received()
            if re.search(r"^Subject: .*%s" % alertname, text, re.M)]


def notified(alertname, channel, email):
    got = wait_for("%s on Slack %s%s" % (alertname, channel, " and by email" if email else ""),
                   lambda: slack_posts(channel, alertname) and
                   (not email or emails(alertname)), timeout=40)
    return got


# ---- the agent ----
inputs = """
    - name: internal_metrics
      tag: metrics.agent
      scrape_interval: 1s
      scrape_on_start: on""" + src.inputs
filters = "\n  filters:" + src.filters if src.filters else ""
cfg, _ = agent_config(d, """
  inputs:%s%s
  outputs:
    - name: prometheus_remote_write
      match: metrics.*
      host: 127.0.0.1
      port: %d
      batch_send_deadline: 1s
      add_label:
        - cluster test
        - node node-a
""" % (inputs, filters, prom.port))
agent = start(cfg)


def active():
    """Alerts pending or firing now, as (name, state, labels)."""
    return [(a["labels"]["alertname"], a["state"], a["labels"]) for a in prom.alerts()]


def firing(name):
    return [a for a in active() if a[0] == name and a[1] == "firing"]


def rate_of(q):
    r = prom.query(q)
    return float(r[0]["value"][1]) if r else None


wait_for("the app's requests and the agent's metrics in Prometheus",
         lambda: (agent.poll() is None or fail("the agent exited:\n" + stderr_of(agent))) and
         rate_of('sum(rate(http_requests_total{job="%s"}[20s]))' % JOB) and
         prom.query('gleaner_build_info{node="node-a"}'), timeout=60)
print("data flowing (%.0fs)" % (time.time() - t0))

# A rule's window only holds the share it is written for once it is full: over the first
# seconds of a series, one 5xx among a few requests is above any threshold. The healthy
# check starts when Prometheus holds a whole window of the app's samples.
wait_for("a whole %s window of the app's samples" % SHORT["window"],
         lambda: prom.query('max(count_over_time(http_requests_total{job="%s",status="200"}'
                            '[1h])) > %d' % (JOB, int(SHORT["window"][:-1]) + 2)), timeout=60)
print("a whole window of data (%.0fs)" % (time.time() - t0))

# ---- healthy: nothing pending, nothing firing ----
t = time.time()
polls = 0
while time.time() - t < 35:
    now = active()
    if now:
        fail("alerts active while the app is healthy (1%% 5xx, 50 ms) and the agent runs: %s"
             % now)
    polls += 1
    time.sleep(1)
share = rate_of('sum(rate(http_requests_total{job="%s",status=~"5.."}[1m])) / '
                'sum(rate(http_requests_total{job="%s"}[1m]))' % (JOB, JOB))
check(share is not None and share < 0.05,
      "healthy for 35 s (%.1f%% 5xx): none of the %d alerts pending or firing in %d polls"
      % (100 * (share or 0), len(alerts), polls))

# ---- errors: HighErrorRate ----
control(app.url, error_share=0.3)
t = time.time()
got = wait_for("HighErrorRate firing", lambda: firing("HighErrorRate") or
               ([a for a in active() if a[0] == "HighLatency"] and
                fail("HighLatency active while only errors rose: %s" % active())), timeout=90)
labels = got[0][2]
check(labels.get("namespace") == "shop" and labels.get("job") == JOB and
      labels.get("severity") == "critical",
      "30%% 5xx: HighErrorRate fires %.0f s later for namespace shop, job %s, severity "
      "critical" % (time.time() - t, JOB))
notified("HighErrorRate", "#oncall", True)
check(all(to == ["oncall@example.com"] for to, _ in emails("HighErrorRate")),
      "Alertmanager (the example config) pages Slack #oncall and mails oncall@example.com")

# ---- slow: HighLatency; errors gone: HighErrorRate resolves ----
control(app.url, error_share=0.01, latency=1.5)
t = time.time()
wait_for("HighLatency firing", lambda: firing("HighLatency"), timeout=120)
p95 = rate_of('histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
              '{job="%s"}[20s])))' % JOB)
check(True, "answers in 1.5 s: HighLatency fires %.0f s later (p95 %.2f s)"
      % (time.time() - t, p95 or 0))
notified("HighLatency", "#observability", False)
check(not emails("HighLatency") and not slack_posts("#oncall", "HighLatency"),
      "a warning goes to Slack #observability only, no page, no email")
wait_for("HighErrorRate resolved", lambda: not [a for a in active() if a[0] == "HighErrorRate"],
         timeout=60)
check(True, "back to 1%% 5xx: HighErrorRate resolved %.0f s after the errors stopped"
      % (time.time() - t))

# ---- stopped: InstanceDown ----
# No 5xx in the last window before the stop: once, with windows of 20 s and `for` of 10 s,
# the 1% error share over the last samples of the job that went away put HighErrorRate in
# pending while InstanceDown fired; this test's subject is InstanceDown.
control(app.url, error_share=0.0, latency=0.05)
time.sleep(int(SHORT["window"].rstrip("s")) + 2)
app.stop()
t = time.time()
got = wait_for("InstanceDown firing", lambda: firing("InstanceDown"), timeout=60)
check(got[0][2].get("job") == JOB and got[0][2].get("instance") == "127.0.0.1:%d" % app.port,
      "app stopped: InstanceDown fires %.0f s later for job %s, instance 127.0.0.1:%d"
      % (time.time() - t, JOB, app.port))
notified("InstanceDown", "#oncall", True)
check(True, "InstanceDown pages Slack #oncall and mails oncall@example.com")

# Inhibition, on two alerts posted to Alertmanager: an agent down silences the InstanceDown
# of the same target.
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
posted = [{"labels": {"alertname": name, "cluster": "test", "instance": "10.0.1.5:2020",
                      "job": "gleaner", "severity": "critical"}, "startsAt": now}
          for name in ("GleanerAgentDown", "InstanceDown")]
req = urllib.request.Request("http://127.0.0.1:%d/api/v2/alerts" % am_port, method="POST",
                             data=json.dumps(posted).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()


def inhibited():
    url = ("http://127.0.0.1:%d/api/v2/alerts?filter=%s" %
           (am_port, urllib.parse.quote('instance="10.0.1.5:2020"')))
    with urllib.request.urlopen(url, timeout=10) as r:
        got = {a["labels"]["alertname"]: a["status"] for a in json.loads(r.read())}
    return got.get("InstanceDown", {}).get("inhibitedBy") and \
        not got.get("GleanerAgentDown", {}).get("inhibitedBy")


wait_for("InstanceDown inhibited by GleanerAgentDown", inhibited, timeout=20)
check(True, "the example config's inhibition: GleanerAgentDown silences InstanceDown of the "
      "same instance")
others = sorted({a[0] for a in active()} - {"InstanceDown", "HighLatency"})
check(not others, "no other alert active at the end: %s" % (others or "none"))

rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)
prom.stop()
slack.stop()
smtp.stop()
print("deferred:")
for line in deferred or ["none"]:
    print("  " + line)
print("alerts fired end to end in %.0fs" % (time.time() - t0))

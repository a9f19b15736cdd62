"""The alert rules as the Helm chart renders them with its default values pass `promtool
check rules`, and every unit test of alerts/tests/ passes `promtool test rules` on them.
Every alert has test cases that must fire and cases that must not. The example Alertmanager
config passes amtool and routes each alert by its severity. The gleaner_* metrics
the rules read are ones this build exports (asked of the agent's /metrics); the other
families they read come from node_metrics (deferred until `gleaner --plugins` lists it),
from scrapes (up) or from kube-state-metrics and the workloads themselves."""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_observe import (ALERTS, agent_families, family_of, metric_names,  # noqa
                         plugins_available, render_rules, rules_of)

import yaml  # noqa: E402

need("promtool", "prometheus")

# Families the rules read that come from elsewhere than the agent's own metrics.
ELSEWHERE = {
    "up": "Prometheus' scrapes (and prometheus_scrape's)",
    "http_requests_total": "the workloads",
    "http_request_duration_seconds_bucket": "the workloads",
    "kube_node_info": "kube-state-metrics",
    "node_uname_info": "node_metrics",
}

t0 = time.time()
d = tmpdir("alerts")
rules_dir = os.path.join(d, "alerts")
files = render_rules({}, rules_dir)
shutil.copytree(os.path.join(ALERTS, "tests"), os.path.join(rules_dir, "tests"))
print("rendered %s with the chart's default values (%.1fs)" % (", ".join(sorted(files)),
                                                              time.time() - t0))

for name in sorted(files):
    p = subprocess.run(["promtool", "check", "rules", os.path.join(rules_dir, name)],
                       capture_output=True, text=True)
    check(p.returncode == 0, "promtool check rules %s: %s" % (name, (p.stdout + p.stderr)
                                                           .strip().splitlines()[-1].strip()))

tests = sorted(f for f in os.listdir(os.path.join(rules_dir, "tests")) if f.endswith(".yaml"))
fires, quiet, named = {}, {}, set()
for t in tests:
    path = os.path.join(rules_dir, "tests", t)
    p = subprocess.run(["promtool", "test", "rules", path], capture_output=True, text=True,
                       cwd=os.path.dirname(path))
    if p.returncode != 0:
        fail("promtool test rules %s:\n%s%s" % (t, p.stdout, p.stderr))
    with open(path) as f:
        spec = yaml.safe_load(f)
    named |= {os.path.basename(r) for r in spec["rule_files"]}
    n = 0
    for case in spec["tests"]:
        for a in case.get("alert_rule_test", []):
            n += 1
            (fires if a.get("exp_alerts") else quiet).setdefault(a["alertname"], 0)
            (fires if a.get("exp_alerts") else quiet)[a["alertname"]] += 1
    check(True, "promtool test rules %s: %d evaluations in %d cases pass" %
          (t, n, len(spec["tests"])))

alerts = [r["alert"] for _, r in rules_of(files)]
check(named == set(files), "the unit tests cover every rule file: %s" % ", ".join(sorted(named)))
missing = [a for a in alerts if not fires.get(a) or not quiet.get(a)]
check(not missing, "every alert (%d) has cases that fire and cases that must not%s"
      % (len(alerts), ": not " + ", ".join(missing) if missing else ""))
for r in [r for _, r in rules_of(files)]:
    for k in ("severity",):
        if not r.get("labels", {}).get(k):
            fail("%s has no %s label" % (r["alert"], k))
    for k in ("summary", "description", "runbook_url"):
        if not r.get("annotations", {}).get(k):
            fail("%s has no %s annotation" % (r["alert"], k))
check(True, "every alert has a severity, a summary, a description and a runbook_url")

runbooks = open(os.path.join(ROOT, "docs", "runbooks.md")).read()
anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.+)$", runbooks, re.M)}
lost = [r["alert"] for _, r in rules_of(files)
        if r["annotations"]["runbook_url"].split("#", 1)[1] not in anchors]
check(not lost, "every runbook_url points at a section of docs/runbooks.md%s"
      % (": not " + ", ".join(lost) if lost else ""))

# The example Alertmanager config: valid, and each alert of the rules routed by severity.
need("amtool", "prometheus-alertmanager")
am = os.path.join(ALERTS, "alertmanager", "alertmanager.yaml")
p = subprocess.run(["amtool", "check-config", am], capture_output=True, text=True, cwd=d)
if p.returncode != 0:
    fail("amtool check-config %s:\n%s%s" % (am, p.stdout, p.stderr))
wrong = []
for _, r in rules_of(files):
    labels = ["alertname=%s" % r["alert"]] + ["%s=%s" % kv for kv in r["labels"].items()]
    p = subprocess.run(["amtool", "config", "routes", "test", "--config.file=" + am] + labels,
                       capture_output=True, text=True, cwd=d)
    want = "oncall" if r["labels"]["severity"] == "critical" else "slack-observability"
    if p.stdout.split() != [want]:
        wrong.append("%s -> %s (want %s)" % (r["alert"], p.stdout.strip(), want))
check(not wrong, "amtool: the example Alertmanager config is valid and routes every critical "
      "alert to oncall (Slack and email), every other to slack-observability%s"
      % (": " + "; ".join(wrong) if wrong else ""))

# The metric families the rules read, and where each comes from.
have = agent_families()
plugins = plugins_available()
deferred = []
for _, r in rules_of(files):
    for n in sorted(metric_names(r["expr"])):
        family = family_of(n)
        if n.startswith("gleaner_") or n.startswith("process_"):
            if family in have or n in have:
                continue
            fail("%s reads %s, which this build of the agent does not export"
                 % (r["alert"], n))
        elif n in ELSEWHERE:
            if ELSEWHERE[n] == "node_metrics" and "node_metrics" not in plugins:
                deferred.append("%s reads %s: node_metrics is not in gleaner --plugins yet "
                                "(its unit tests run; its data from the agent does not)"
                                % (r["alert"], n))
        else:
            fail("%s reads %s: say where it comes from (ELSEWHERE)" % (r["alert"], n))
check(True, "the gleaner_* families the rules read are in this build's /metrics (%d families"
      " exported), but for the deferred ones below" % len(have))
print("deferred:")
for line in deferred or ["none"]:
    print("  " + line)
print("alerts: rules checked and unit-tested in %.1fs" % (time.time() - t0))

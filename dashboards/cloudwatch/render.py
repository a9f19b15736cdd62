"""Writes the CloudWatch side of gleaner's dashboards and alerts for one cluster, as the API
requests that create them, and a script that sends them with the AWS CLI:

    python3 dashboards/cloudwatch/render.py --cluster CLUSTER --region REGION \\
        --account-id ACCOUNT_ID --namespace shop --namespace payments [--sns-topic-arn ARN] OUT
    sh OUT/apply.sh

From the templates beside this script:
    dashboard.json        the dashboard body: Logs Insights widgets over the namespaces' log
                          groups (/aws/eks/CLUSTER/NAMESPACE) and the agent's, and metric
                          widgets over the agent's own metrics sent as Embedded Metric Format
    metric-filters.json   PutMetricFilter requests: HTTP requests, 5xx and durations from JSON
                          access logs per namespace; AWS credential failures from the agent's log
    alarms.json           PutMetricAlarm requests: HighErrorRate and HighLatency per namespace,
                          CredentialsRefreshFailing once
Each Logs Insights widget of the dashboard is also written as a saved query
(PutQueryDefinition, in the folder gleaner/), so the dashboard's queries and the saved ones
are the same text.

OUT gets one JSON file per request, named <service>-<operation>-<what>.json, each exactly
the operation's input (aws ... --cli-input-json file://...). Nothing is sent by this script.
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNBOOKS = "https://github.com/gleaner/gleaner/blob/main/docs/runbooks.md"


def load(name):
    with open(os.path.join(HERE, name)) as f:
        data = json.load(f)
    if isinstance(data, dict):
        data.pop("_comment", None)
    return data


def fill(obj, values):
    """obj with every ${NAME} of its strings replaced by values[NAME] (all must be known)."""
    if isinstance(obj, dict):
        return {k: fill(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fill(v, values) for v in obj]
    if isinstance(obj, str):
        def one(m):
            if m.group(1) not in values:
                raise KeyError("no value for ${%s}" % m.group(1))
            return values[m.group(1)]
        return re.sub(r"\$\{([A-Z_]+)\}", one, obj)
    return obj


def sources(groups):
    """A dashboard log widget's SOURCE part for several log groups."""
    return " | ".join("SOURCE '%s'" % g for g in groups)


def cli_name(operation):
    """PutMetricAlarm -> put-metric-alarm, as the AWS CLI names it."""
    return re.sub(r"(?<!^)([A-Z])", r"-\1", operation).lower()


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def requests(cluster, region, account, namespaces, agent_namespace="logging",
             sns_topic_arn=None, metric_namespace="gleaner", logs_metric_namespace=None,
             runbook_url=RUNBOOKS):
    """[(service, operation, what, params)] for the cluster."""
    logs_ns = logs_metric_namespace or "%s/logs" % metric_namespace
    base = {"CLUSTER_NAME": cluster, "AWS_REGION": region, "METRIC_NAMESPACE": metric_namespace,
            "LOGS_METRIC_NAMESPACE": logs_ns, "RUNBOOK_URL": runbook_url,
            "AGENT_LOG_GROUP": "/aws/eks/%s/%s" % (cluster, agent_namespace),
            "SNS_TOPIC_ARN": sns_topic_arn or ""}
    groups = ["/aws/eks/%s/%s" % (cluster, ns) for ns in namespaces]
    out = []

    filters = load("metric-filters.json")
    for ns in namespaces:
        for f in filters["perNamespace"]:
            out.append(("logs", "PutMetricFilter", "%s-%s" % (ns, f["filterName"]),
                        fill(f, dict(base, NAMESPACE=ns))))
    for f in filters["agent"]:
        out.append(("logs", "PutMetricFilter", f["filterName"], fill(f, base)))

    alarms = load("alarms.json")
    made = []
    for ns in namespaces:
        for a in alarms["perNamespace"]:
            made.append(fill(a, dict(base, NAMESPACE=ns)))
    for a in alarms["agent"]:
        made.append(fill(a, base))
    for a in made:
        if not sns_topic_arn:
            for k in ("AlarmActions", "OKActions"):
                a.pop(k, None)
        out.append(("cloudwatch", "PutMetricAlarm", a["AlarmName"], a))
    arns = ["arn:aws:cloudwatch:%s:%s:alarm:%s" % (region, account, a["AlarmName"])
            for a in made]

    body = load("dashboard.json")
    for w in body["widgets"]:
        p = w["properties"]
        if w["type"] == "log":
            p["query"] = p["query"].replace("SOURCE '${LOG_GROUPS}'", sources(groups))
        if w["type"] == "alarm":
            p["alarms"] = arns
    body = fill(body, base)
    out.append(("cloudwatch", "PutDashboard", "gleaner-" + cluster,
                {"DashboardName": "gleaner-%s" % cluster,
                 "DashboardBody": json.dumps(body, separators=(",", ":"))}))

    for w in body["widgets"]:
        if w["type"] != "log":
            continue
        query = w["properties"]["query"]
        named = re.findall(r"SOURCE '([^']+)' \| ", query)
        text = re.sub(r"^(SOURCE '[^']+' \| )+", "", query)
        out.append(("logs", "PutQueryDefinition", slug(w["properties"]["title"]),
                    {"name": "gleaner/%s/%s" % (cluster, w["properties"]["title"]),
                     "queryString": text, "logGroupNames": named}))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--account-id", required=True, help="for the alarms' ARNs on the dashboard")
    ap.add_argument("--namespace", action="append", required=True,
                    help="a workload namespace whose log group the dashboard and the metric "
                    "filters read; repeat for more")
    ap.add_argument("--agent-namespace", default="logging")
    ap.add_argument("--sns-topic-arn", help="where the alarms send their notifications")
    ap.add_argument("--metric-namespace", default="gleaner",
                    help="the cloudwatch_logs output's metric_namespace (EMF)")
    ap.add_argument("--runbook-url", default=RUNBOOKS)
    ap.add_argument("out")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    script = ["#!/bin/sh", "# Creates gleaner's CloudWatch dashboard, saved queries, metric "
              "filters and alarms for %s." % a.cluster, "set -eu", 'cd "$(dirname "$0")"']
    for service, op, what, params in requests(a.cluster, a.region, a.account_id, a.namespace,
                                              a.agent_namespace, a.sns_topic_arn,
                                              a.metric_namespace, runbook_url=a.runbook_url):
        cli = cli_name(op)
        name = "%s-%s-%s.json" % (service, cli, slug(what))
        with open(os.path.join(a.out, name), "w") as f:
            json.dump(params, f, indent=2)
            f.write("\n")
        script.append("aws %s %s --region %s --cli-input-json file://%s"
                      % (service, cli, a.region, name))
    with open(os.path.join(a.out, "apply.sh"), "w") as f:
        f.write("\n".join(script) + "\n")
    print("wrote %d requests and apply.sh to %s" % (len(script) - 4, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

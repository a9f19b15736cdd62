"""The CloudWatch definitions of dashboards/cloudwatch/ are valid requests for their APIs and
read what the agent really sends.

Requests: render.py's output for a cluster (with and without an SNS topic) is checked
against botocore's service models (Debian python3-botocore): every parameter known to its
operation's input shape, required ones there, types, lengths, patterns and enums (botocore's
own ParamValidator, then the lengths, patterns and enums it leaves to the service). What the
models do not say but the API references do is checked too: the dashboard body's structure
(widget types, the 24-column grid, log widgets' SOURCE, metric widgets' ids and periods),
the alarms' metric math (one result, ids, references), the metric filters' dimensions. The
saved queries are the dashboard's log widgets' text, and the alarms' thresholds and windows
are the alert rules' defaults (helm-chart/gleaner/values.yaml).

Data: the agent tails the test app's access log and a gleaner container's log holding a
real agent's credential failures, enriches them (kubernetes, merge_log) and sends them to
the CloudWatch Logs test server, and sends its own metrics there as EMF. On those events:
the metric filters' patterns (evaluated here: JSON comparisons and quoted terms, what they
use) count exactly the app's requests and 5xx answers and read every duration, and the
credential filter matches the failure lines and nothing else; every field a Logs Insights
query reads is in the events; every metric a dashboard widget searches for is in the EMF
documents with exactly the dimensions the search names."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa: E402
from lib_kube_api import KubeApi, hexid  # noqa: E402
from lib_testapp import TestApp, control  # noqa: E402

try:
    import botocore.session
    import botocore.validate
except ImportError:
    fail("python3 cannot import botocore: install the Debian package python3-botocore")
import yaml  # noqa: E402

CW = os.path.join(ROOT, "dashboards", "cloudwatch")
sys.path.insert(0, CW)
import render  # noqa: E402

t0 = time.time()
session = botocore.session.get_session()


# ---- requests against the service models ----

def strict(value, shape, path, problems):
    """What botocore's ParamValidator leaves to the service: lengths, patterns, enums, ranges,
    at every depth of the input."""
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                strict(v, shape.members[k], "%s.%s" % (path, k), problems)
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append("%s: %d items, at most %d" % (path, len(value), meta["max"]))
        for i, v in enumerate(value):
            strict(v, shape.member, "%s[%d]" % (path, i), problems)
    elif shape.type_name == "map" and isinstance(value, dict):
        for k, v in value.items():
            strict(k, shape.key, "%s key" % path, problems)
            strict(v, shape.value, "%s.%s" % (path, k), problems)
    elif shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append("%s: %d characters, at most %d" % (path, len(value), meta["max"]))
        if "pattern" in meta and not re.search(meta["pattern"], value):
            problems.append("%s: %r does not match %s" % (path, value, meta["pattern"]))
        if "enum" in meta and value not in meta["enum"]:
            problems.append("%s: %r is none of %s" % (path, value, meta["enum"]))
    elif shape.type_name in ("integer", "long", "double") and isinstance(value, (int, float)):
        if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
            problems.append("%s: %s out of [%s, %s]" % (path, value, meta.get("min"),
                                                          meta.get("max")))


def validate(service, operation, params):
    shape = session.get_service_model(service).operation_model(operation).input_shape
    report = botocore.validate.ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    strict(params, shape, operation, problems)
    return problems


def check_body(body):
    """The dashboard body as CloudWatch's Dashboard Body Structure and Syntax describes it."""
    problems = []
    widgets = body.get("widgets")
    if not isinstance(widgets, list) or not 0 < len(widgets) <= 500:
        return ["widgets: a list of 1 to 500"]
    cells = {}
    for i, w in enumerate(widgets):
        where = "widget %d (%s)" % (i, w.get("properties", {}).get("title", w.get("type")))
        if w.get("type") not in ("metric", "text", "log", "alarm", "explorer"):
            problems.append("%s: type %s" % (where, w.get("type")))
        x, y, wd, h = w.get("x"), w.get("y"), w.get("width", 6), w.get("height", 6)
        if not (isinstance(x, int) and isinstance(y, int) and 0 <= x <= 23 and y >= 0 and
                1 <= wd <= 24 and 1 <= h <= 1000 and x + wd <= 24):
            problems.append("%s: position %s,%s size %sx%s" % (where, x, y, wd, h))
            continue
        for cx in range(x, x + wd):
            for cy in range(y, y + h):
                if (cx, cy) in cells:
                    problems.append("%s overlaps %s" % (where, cells[cx, cy]))
                cells[cx, cy] = where
        p = w.get("properties")
        if not isinstance(p, dict):
            problems.append("%s: no properties" % where)
            continue
        if w["type"] == "text" and not p.get("markdown"):
            problems.append("%s: no markdown" % where)
        if w["type"] == "log":
            if not re.match(r"^(SOURCE '[^']+' \| )+\S", p.get("query", "")):
                problems.append("%s: query does not start with SOURCE 'group' |" % where)
            if p.get("view") not in ("table", "timeSeries", "bar", "pie"):
                problems.append("%s: view %s" % (where, p.get("view")))
            if p["view"] in ("timeSeries", "bar", "pie") and "stats" not in p["query"]:
                problems.append("%s: a %s view needs stats" % (where, p["view"]))
            if p["view"] == "timeSeries" and "bin(" not in p["query"]:
                problems.append("%s: a timeSeries view needs stats ... by bin()" % where)
            if not p.get("region"):
                problems.append("%s: no region" % where)
        if w["type"] == "metric":
            if p.get("view", "timeSeries") not in ("timeSeries", "singleValue", "gauge", "bar",
                                                   "pie", "table"):
                problems.append("%s: view %s" % (where, p.get("view")))
            period = p.get("period", 300)
            if period not in (1, 5, 10, 30) and period % 60:
                problems.append("%s: period %s" % (where, period))
            ids = []
            for m in p.get("metrics", []):
                if not isinstance(m, list) or not m:
                    problems.append("%s: a metric that is not an array" % where)
                    continue
                opts = m[-1] if isinstance(m[-1], dict) else {}
                if "expression" in opts:
                    ids.append(opts.get("id", ""))
                elif len([s for s in m if isinstance(s, str)]) % 2:
                    problems.append("%s: %s is not namespace, name, dimension pairs" % (where, m))
            for mid in ids:
                if not re.fullmatch(r"[a-z][a-zA-Z0-9_]*", mid) or ids.count(mid) > 1:
                    problems.append("%s: metric id %r" % (where, mid))
            if not p.get("region"):
                problems.append("%s: no region" % where)
        if w["type"] == "alarm" and not (isinstance(p.get("alarms"), list) and p["alarms"]):
            problems.append("%s: no alarms" % where)
    return problems


def check_alarm(a):
    problems = []
    if "Metrics" in a:
        if any(k in a for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                                "Dimensions", "Period")):
            problems.append("Metrics with a single metric's parameters")
        ids = [m["Id"] for m in a["Metrics"]]
        if sum(1 for m in a["Metrics"] if m.get("ReturnData")) != 1:
            problems.append("not exactly one metric with ReturnData")
        for m in a["Metrics"]:
            if not re.fullmatch(r"[a-z][a-zA-Z0-9_]*", m["Id"]) or ids.count(m["Id"]) > 1:
                problems.append("id %r" % m["Id"])
            if ("Expression" in m) == ("MetricStat" in m):
                problems.append("%s: one of Expression or MetricStat" % m["Id"])
            for ref in re.findall(r"\b([a-z][a-zA-Z0-9_]*)\b", m.get("Expression", "")):
                if ref not in ids and ref.upper() not in ("FILL", "IF", "AND", "OR"):
                    problems.append("%s reads %s, no metric's id" % (m["Id"], ref))
            if "MetricStat" in m and m["MetricStat"]["Period"] % 60:
                problems.append("%s: period not a multiple of 60" % m["Id"])
    else:
        if ("Statistic" in a) == ("ExtendedStatistic" in a):
            problems.append("one of Statistic or ExtendedStatistic")
        if "ExtendedStatistic" in a and not re.fullmatch(r"p\d{1,2}(\.\d+)?",
                                                         a["ExtendedStatistic"]):
            problems.append("ExtendedStatistic %s" % a["ExtendedStatistic"])
        if a["Period"] % 60 and a["Period"] not in (10, 30):
            problems.append("Period %s" % a["Period"])
    if a.get("DatapointsToAlarm", 1) > a["EvaluationPeriods"]:
        problems.append("DatapointsToAlarm above EvaluationPeriods")
    if a.get("TreatMissingData") not in ("breaching", "notBreaching", "ignore", "missing"):
        problems.append("TreatMissingData %s" % a.get("TreatMissingData"))
    return problems


for topic in (None, "arn:aws:sns:eu-west-1:123456789012:oncall"):
    reqs = render.requests("prod-eks", "eu-west-1", "123456789012", ["shop", "payments"],
                           sns_topic_arn=topic)
    counts = {}
    for service, op, what, params in reqs:
        problems = validate(service, op, params)
        if op == "PutDashboard":
            problems += check_body(json.loads(params["DashboardBody"]))
        if op == "PutMetricAlarm":
            problems += check_alarm(params)
        if op == "PutMetricFilter":
            dims = params["metricTransformations"][0].get("dimensions", {})
            if len(dims) > 3 or (dims and "defaultValue" in params["metricTransformations"][0]):
                problems.append("at most 3 dimensions, and no defaultValue with them")
        if problems:
            fail("%s %s (%s): %s" % (service, op, what, "; ".join(problems)))
        counts[op] = counts.get(op, 0) + 1
    check(True, "%s SNS topic: %s valid for botocore's %s models and the API references"
          % ("with an" if topic else "without an", ", ".join(
              "%d %s" % (n, op) for op, n in sorted(counts.items())),
             " and ".join(sorted({s for s, _, _, _ in reqs}))))

d = tmpdir("cloudwatch-defs")
p = subprocess.run([sys.executable, os.path.join(CW, "render.py"), "--cluster", "prod-eks",
                    "--region", "eu-west-1", "--account-id", "123456789012", "--namespace",
                    "shop", os.path.join(d, "out")], capture_output=True, text=True)
out = os.path.join(d, "out")
written = sorted(os.listdir(out)) if p.returncode == 0 else []
with open(os.path.join(out, "apply.sh")) as f:
    script = f.read()
expected = render.requests("prod-eks", "eu-west-1", "123456789012", ["shop"])
check(p.returncode == 0 and len(written) == 1 + len(expected) and
      all("file://" + n in script for n in written if n.endswith(".json")) and
      subprocess.run(["sh", "-n", os.path.join(out, "apply.sh")]).returncode == 0,
      "render.py writes %d request files and an apply.sh (sh -n) that sends each with the AWS "
      "CLI's --cli-input-json" % (len(written) - 1))

reqs = render.requests("prod-eks", "eu-west-1", "123456789012", ["shop"])
body = json.loads([p for _, op, _, p in reqs if op == "PutDashboard"][0]["DashboardBody"])
saved = {p["name"].split("/", 2)[2]: p for _, op, _, p in reqs if op == "PutQueryDefinition"}
logw = [w["properties"] for w in body["widgets"] if w["type"] == "log"]
check(len(saved) == len(logw) and all(
    re.sub(r"^(SOURCE '[^']+' \| )+", "", w["query"]) == saved[w["title"]]["queryString"] and
    re.findall(r"SOURCE '([^']+)'", w["query"]) == saved[w["title"]]["logGroupNames"]
    for w in logw),
    "the %d saved queries are the dashboard's Logs Insights widgets, text and log groups"
    % len(saved))

with open(os.path.join(ROOT, "helm-chart", "gleaner", "values.yaml")) as f:
    rules = yaml.safe_load(f)["prometheusRule"]["alerts"]
alarms = {p["AlarmName"].rsplit("-", 1)[1]: p for _, op, _, p in reqs if op == "PutMetricAlarm"}


def minutes(duration):
    return int(duration[:-1]) * {"s": 1 / 60, "m": 1, "h": 60}[duration[-1]]


her, hl = alarms["HighErrorRate"], alarms["HighLatency"]
check(her["Threshold"] == 100 * rules["HighErrorRate"]["threshold"] and
      her["DatapointsToAlarm"] == her["EvaluationPeriods"] == minutes(rules["HighErrorRate"]["for"])
      and hl["Threshold"] == rules["HighLatency"]["threshold"] and
      hl["ExtendedStatistic"] == "p%g" % (100 * rules["HighLatency"]["quantile"]) and
      hl["Period"] * hl["DatapointsToAlarm"] == 60 * minutes(rules["HighLatency"]["for"]),
      "the alarms' thresholds are the alert rules' (5xx above %g%%, p%g above %g s, for %s)"
      % (100 * rules["HighErrorRate"]["threshold"], 100 * rules["HighLatency"]["quantile"],
         rules["HighLatency"]["threshold"], rules["HighErrorRate"]["for"]))


# ---- on what the agent sends ----

def flat(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        key = prefix + k
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = v
    return out


def filter_matches(pattern, message):
    """A metric filter pattern on one event: { $.a OP v && ... } or quoted terms, all of
    which must be in the message (the forms metric-filters.json uses)."""
    pattern = pattern.strip()
    if pattern.startswith("{"):
        try:
            event = flat(json.loads(message))
        except ValueError:
            return False
        for cond in pattern.strip("{} ").split("&&"):
            m = re.fullmatch(r"\s*\$\.([\w.]+)\s*(>=|<=|!=|=|>|<)\s*(\"[^\"]*\"|[-\d.]+)\s*", cond)
            if not m:
                fail("unsupported filter pattern here: %s" % pattern)
            field, op, want = m.groups()
            if field not in event:
                return False
            have = event[field]
            if want.startswith('"'):
                want, ok = want.strip('"'), None
                ok = (have == want) if op == "=" else (have != want) if op == "!=" else False
            else:
                if not isinstance(have, (int, float)) or isinstance(have, bool):
                    return False
                want = float(want)
                ok = {">=": have >= want, "<=": have <= want, ">": have > want,
                      "<": have < want, "=": have == want, "!=": have != want}[op]
            if not ok:
                return False
        return True
    terms = re.findall(r'"([^"]*)"', pattern)
    if not terms:
        fail("unsupported filter pattern here: %s" % pattern)
    return all(t in message for t in terms)


INSIGHTS_WORDS = {"fields", "filter", "stats", "sort", "limit", "by", "as", "and", "or", "not",
                  "like", "in", "desc", "asc", "parse", "count", "sum", "pct", "bin", "strlen",
                  "ispresent", "least", "greatest", "avg", "min", "max", "display", "SOURCE"}


def insights_fields(query):
    """The event fields a Logs Insights query reads (aliases and parsed names left out)."""
    q = re.sub(r"SOURCE '[^']*' \| ", "", query)
    made = set(re.findall(r"\bas (\w+)", q)) | set(re.findall(r"\(\?<(\w+)>", q))
    q = re.sub(r"/[^/]*/", " ", q)
    q = re.sub(r'"[^"]*"', " ", q)
    q = re.sub(r"\b\d+(\.\d+)?[a-z]*\b", " ", q)
    words = set(re.findall(r"[A-Za-z_@][\w.@]*", q))
    return {w for w in words if w not in INSIGHTS_WORDS and w not in made and
            not w.startswith("@") and not re.fullmatch(r"\d+\w*", w)}


logs = os.path.join(d, "containers")
os.makedirs(logs)


def container_log(pod, ns, container):
    return os.path.join(logs, "%s_%s_%s-%s.log" % (pod, ns, container,
                                                   hexid(ns + pod + container)))


# A real agent's credential failures: web identity against an STS that is not there.
sts = free_port()
token_file = write(os.path.join(d, "web-identity-token"), "eyJhbGciOi.test.token\n")
failing = write(os.path.join(d, "failing.yaml"), """
service:
  flush: 200ms
  storage.path: %s
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 5
  outputs:
    - name: cloudwatch_logs
      match: app
      region: eu-west-1
      endpoint: http://127.0.0.1:%d
      sts_endpoint: http://127.0.0.1:%d
      log_group_name: g
      log_stream_name: s
""" % (d, free_port(), sts))
saved_env = dict(os.environ)
for k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[k]
os.environ.update(AWS_ROLE_ARN="arn:aws:iam::123456789012:role/gleaner",
                  AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_EC2_METADATA_DISABLED="true")
bad = start(failing)
agent_lines = wait_for("the agent's credential failures", lambda: [
    line for line in stderr_of(bad).splitlines() if "AWS credentials from" in line] or None,
    timeout=30)
stop(bad)
os.environ.clear()
os.environ.update(saved_env)
own = stderr_of(bad).splitlines()
with open(container_log("gleaner-x7k2p", "logging", "gleaner"), "w") as f:
    for line in own:
        f.write("%s stderr F %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z",
                                                     time.gmtime()), line))

# Lines 20 days old: CloudWatch Logs takes none older than 14, so the agent drops them
# (too_old) and its drop counter has a reason to show.
with open(container_log("batch-4k2j7-qqqqq", "jobs", "batch"), "w") as f:
    for i in range(10):
        f.write("%s stdout F old line %d\n" % (time.strftime(
            "%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(time.time() - 20 * 86400 + i)), i))
token = write(os.path.join(d, "token"), "token-1\n")
api = KubeApi(token="token-1", node="node-a").start()
api.add_pod("jobs", "batch-4k2j7-qqqqq", containers=1)
api.add_pod("shop", "web-7d4b9c-x2x2x", containers=1)
api.add_pod("logging", "gleaner-x7k2p", containers=1)
app = TestApp(rate=30, error_share=0.02, latency=0.02,
              log_path=container_log("web-7d4b9c-x2x2x", "shop", "web")).start()
cwl = CwlServer(seed=9).start()
os.environ.update(cwl.env())
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 300ms
  storage.path: %s
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/*.log
      multiline.parser: cri
      read_from_head: on
    - name: internal_metrics
      tag: metrics.agent
      scrape_interval: 1s
  filters:
    - name: kubernetes
      match: kube.*
      kube_url: %s
      kube_token_file: %s
      node_name: node-a
      merge_log: on
    - name: labels
      match: metrics.*
      insert:
        - cluster prod-eks
        - node node-a
  outputs:
    - name: cloudwatch_logs
      match: kube.*
      endpoint: %s
      log_group_template: /aws/eks/prod-eks/$kubernetes['namespace_name']
      log_stream_template: $kubernetes['pod_name']/$kubernetes['container_name']
      log_group_name: /aws/eks/prod-eks/other
      log_stream_name: other
    - name: cloudwatch_logs
      match: metrics.*
      endpoint: %s
      log_group_name: /aws/eks/prod-eks/gleaner-metrics
      log_stream_name: node-a
""" % (d, logs, api.url, token, cwl.endpoint, cwl.endpoint))
agent = start(cfg)
time.sleep(6)
control(app.url, error_share=0.25, latency=0.3)
time.sleep(4)
control(app.url, rate=0)
time.sleep(1)
answered = app.totals()
app.stop()


def events(group):
    return [e for stream in cwl.events(group).values() for e in stream]


total = sum(answered.values())
wait_for("every request's log line in CloudWatch Logs", lambda: len(events(
    "/aws/eks/prod-eks/shop")) >= total, timeout=30)
shop = [e["message"] for e in events("/aws/eks/prod-eks/shop")]
own_events = [e["message"] for e in events("/aws/eks/prod-eks/logging")]
emf = [json.loads(e["message"]) for e in events("/aws/eks/prod-eks/gleaner-metrics")]
rc = stop(agent)
check(rc == 0 and len(shop) == total,
      "the agent delivered the app's %d access-log lines (%d of them 5xx), the agent log's %d "
      "lines and %d EMF documents" % (total, sum(n for (_, _, s), n in answered.items()
                                               if s >= 500), len(own_events), len(emf)))

filters = {p["filterName"]: p for _, op, _, p in reqs if op == "PutMetricFilter"}
pattern = {name: f["filterPattern"] for name, f in filters.items()}
n_req = sum(1 for m in shop if filter_matches(pattern["gleaner-http-requests"], m))
n_5xx = sum(1 for m in shop if filter_matches(pattern["gleaner-http-5xx"], m))
durations = [flat(json.loads(m)).get("duration_seconds") for m in shop
             if filter_matches(pattern["gleaner-http-duration"], m)]
want_5xx = sum(n for (_, _, s), n in answered.items() if s >= 500)
check(n_req == total and n_5xx == want_5xx and len(durations) == total and
      all(isinstance(x, (int, float)) for x in durations),
      "on the delivered events the HTTP metric filters count %d requests and %d 5xx, as the "
      "app answered, and read %d durations" % (n_req, n_5xx, len(durations)))
dims = {f["filterName"]: f["metricTransformations"][0].get("dimensions", {})
        for f in filters.values()}
check(all(flat(json.loads(m)).get(v[2:]) == "shop" for m in shop[:50]
          for d_ in dims.values() for v in d_.values()),
      "the filters' dimension Namespace ($.kubernetes.namespace_name) is shop on those events")
fails = [m for m in own_events if filter_matches(pattern["gleaner-credentials-failures"], m)]
check(len(fails) == len([line for line in own if "AWS credentials from" in line and
                         "failed" in line]) and fails and len(fails) < len(own_events),
      "the credential filter matches the %d failure lines of the agent's own log and none of "
      "its %d others" % (len(fails), len(own_events) - len(fails)))

# Logs Insights: the fields each query reads are in the events it reads.
fields_shop = set()
for m in shop:
    fields_shop |= set(flat(json.loads(m)))
fields_own = set()
for m in own_events:
    fields_own |= set(flat(json.loads(m)))
missing = []
for w in logw:
    have = fields_own if "gleaner warnings" in w["title"] else fields_shop
    for f in insights_fields(w["query"]):
        if f not in have:
            missing.append("%s: %s" % (w["title"], f))
check(not missing, "every field the %d Logs Insights queries read is in the delivered events "
      "(%s)%s" % (len(logw), ", ".join(sorted(set().union(*[insights_fields(w["query"])
                                                              for w in logw]))),
                  ": not " + "; ".join(missing) if missing else ""))

# EMF: each SEARCH's schema and metric name.
sets = set()
for doc in emf:
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimset in directive["Dimensions"]:
            for metric in directive["Metrics"]:
                sets.add((directive["Namespace"], metric["Name"], tuple(sorted(dimset))))
searched = []
for w in body["widgets"]:
    if w["type"] != "metric":
        continue
    for m in w["properties"]["metrics"]:
        for expr in [o.get("expression", "") for o in m if isinstance(o, dict)]:
            for schema, name in re.findall(r"SEARCH\('\{([^}]*)\} MetricName=\"([^\"]+)\"",
                                           expr):
                parts = schema.split(",")
                searched.append((parts[0], name, tuple(sorted(parts[1:]))))
lost = [s for s in searched if s not in sets]
check(searched and not lost, "the %d metric searches find their metric with exactly their "
      "dimensions in the agent's EMF documents%s" % (len(searched), ": not %s" % lost
                                                     if lost else ""))
cwl.stop()
api.stop()
print("cloudwatch: definitions checked in %.0fs" % (time.time() - t0))

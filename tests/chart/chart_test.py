"""The Helm chart as a cluster would take it. The default values and every value set of
tests/chart/values/ are rendered with helm-template (and linted), validated with
k8s-validate (strict Kubernetes 1.29 schemas), the config in every rendered ConfigMap
passes `gleaner --check` with the environment the pod gets, and the DaemonSet, RBAC and
monitoring objects carry what the values ask for (asserted below). Every value set of
tests/chart/bad/ is refused with the message its "# refused:" lines give. The chart's
README is in step with values.yaml, and the packaged chart holds alerts/ and dashboards/
byte for byte.

Configs that name a plugin this build does not have yet are checked once it has it: which
plugins are expected to come, and what they turn on, is PENDING below; whether one is there
is asked of `gleaner --plugins` at every run, so its checks start by themselves.

    python3 tests/chart/chart_test.py        (make chart-test)
"""
import copy
import glob
import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from lib import ROOT, GLEANER, check, fail, need, tmpdir  # noqa: E402

try:
    import yaml  # noqa: E402
except ImportError:
    fail("python3 cannot import yaml: install the Debian package python3-yaml (make deps does)")

CHART = os.path.join(ROOT, "helm-chart", "gleaner")
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("GLEANER_SHARED_TOOLS", os.path.join(ROOT, "..", "shared", "tools"))
HELM_TEMPLATE = os.path.join(TOOLS, "helm-template", "helm-template")
K8S_VALIDATE = os.path.join(TOOLS, "k8s-validate", "k8s-validate")
NAMESPACE = "logging"

# Plugins the chart writes config for that this build may not have yet, and the values
# that use them. A config naming one of these is checked as soon as `gleaner --plugins`
# lists it; a config naming any other plugin the build lacks is a failure.
PENDING = {}

# What the downward API and the cluster give a pod, for the configs' ${...}.
FIELD_VALUES = {"spec.nodeName": "node-a", "status.hostIP": "127.0.0.1",
                "metadata.name": "gleaner-x7k2p", "metadata.namespace": NAMESPACE}
POD_ENV = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
           "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true", "HOME": "/tmp"}


# ---- tools ----

def need_tool(path, what):
    if not os.path.isfile(path):
        fail("%s not found at %s: the chart tests need %s (set GLEANER_SHARED_TOOLS to the "
             "folder holding helm-template and k8s-validate)" % (os.path.basename(path), path,
                                                               what))


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def render(chart, files=(), sets=(), extra=()):
    cmd = ["sh", HELM_TEMPLATE, "gleaner", chart, "-n", NAMESPACE]
    for f in files:
        cmd += ["-f", f]
    for s in sets:
        cmd += ["--set", s]
    return run(cmd + list(extra))


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and
             (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        fail("expected one %s%s, found %d" % (kind, " " + name if name else "", len(found)))
    return found[0]


# ---- values ----

def merge(base, over):
    """Helm's coalescing: maps merge deeply, anything else replaces, null deletes."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def values_of(path):
    with open(os.path.join(CHART, "values.yaml")) as f:
        v = yaml.safe_load(f)
    if path:
        with open(path) as f:
            v = merge(v, yaml.safe_load(f) or {})
    return v


def seconds(d):
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h)?", str(d))
    n, unit = int(m.group(1)), m.group(2) or "s"
    return {"ms": (n + 999) // 1000, "s": n, "m": n * 60, "h": n * 3600}[unit]


def image_user():
    """The user the Dockerfile's image runs as: uid, gid."""
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        m = re.search(r"^USER ([0-9]+):([0-9]+)$", f.read(), re.M)
    if m is None:
        fail("Dockerfile: no USER uid:gid line")
    return int(m.group(1)), int(m.group(2))


# ---- the config ----

def pod_env(container):
    """The environment the agent container gets, with made-up values for what the cluster
    fills in (downward API, Secrets) and what IRSA's webhook and the kubelet add."""
    env = dict(POD_ENV)
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "fieldRef" in e.get("valueFrom", {}):
            env[e["name"]] = FIELD_VALUES[e["valueFrom"]["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in e.get("valueFrom", {}):
            env[e["name"]] = "from-secret"
    return env


def plugins_available():
    out = subprocess.run([GLEANER, "--plugins"], capture_output=True, text=True, check=True)
    return {line.split()[1] for line in out.stdout.splitlines() if line.strip()}


def plugins_used(config):
    pipeline = config.get("pipeline") or {}
    return {s["name"] for kind in ("inputs", "filters", "outputs")
            for s in pipeline.get(kind) or []}


def stand_ins(config, missing):
    """The config with every section of a missing plugin replaced by a stand-in that keeps
    its place in the routing: an input by dummy with its tag, a filter dropped, an output by
    null with its match."""
    config = copy.deepcopy(config)
    pipeline = config["pipeline"]
    keep = {"inputs": ("tag", "alias"), "outputs": ("match", "match_regex", "alias")}
    for kind in ("inputs", "filters", "outputs"):
        sections = []
        for s in pipeline.get(kind) or []:
            if s["name"] not in missing:
                sections.append(s)
            elif kind in keep:
                stand_in = {k: s[k] for k in keep[kind] if k in s}
                stand_in["name"] = "dummy" if kind == "inputs" else "null"
                sections.append(stand_in)
        pipeline[kind] = sections
    return config


def check_config(name, text, env, available, deferred):
    """gleaner --check on the config; the sections of plugins still PENDING are checked once
    the build has them, and until then stand-ins take their place so the rest is checked."""
    config = yaml.safe_load(text)
    missing = plugins_used(config) - available
    unknown = missing - set(PENDING)
    if unknown:
        fail("%s: the config names plugins gleaner does not know and none is expected: %s"
             % (name, ", ".join(sorted(unknown))))
    if missing:
        deferred.append((name, sorted(missing)))
        text = yaml.safe_dump(stand_ins(config, missing), sort_keys=False)
    d = tmpdir("chart-config")
    path = os.path.join(d, "gleaner.yaml")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([GLEANER, "--check", "-c", path], capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        fail("%s: gleaner --check refuses the rendered config:\n%s%s\n%s"
             % (name, p.stdout, p.stderr, text))
    if missing:
        check(True, "%s: the rendered config passes gleaner --check but for its %s sections, "
              "deferred until the build has %s" % (name, ", ".join(sorted(missing)),
                                                   "it" if len(missing) == 1 else "them"))
    else:
        check(True, "%s: the rendered config passes gleaner --check" % name)


# ---- the DaemonSet and its companions ----

def by_name(items):
    return {i["name"]: i for i in items or []}


def check_daemonset(name, docs, v):
    ds = one(docs, "DaemonSet")
    cm = one(docs, "ConfigMap", ds["metadata"]["name"])
    text = cm["data"]["gleaner.yaml"]
    config = yaml.safe_load(text)
    pod = ds["spec"]["template"]
    spec = pod["spec"]
    c = by_name(spec["containers"])["gleaner"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = by_name(spec["volumes"])
    uid, gid = image_user()

    def mounted(path, host, read_only):
        m = mounts.get(path)
        return (m is not None and volumes[m["name"]].get("hostPath", {}).get("path") == host
                and bool(m.get("readOnly")) == read_only)

    check(spec["priorityClassName"] == v["priorityClassName"] == "system-node-critical",
          "%s: priorityClassName system-node-critical" % name)
    check(ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": v["maxUnavailable"]}},
        "%s: RollingUpdate, maxUnavailable %s" % (name, v["maxUnavailable"]))
    check(spec["tolerations"] == v["tolerations"] and
          {"operator": "Exists"} in spec["tolerations"],
          "%s: tolerates every taint (operator: Exists)" % name)
    check(mounted("/var/log", "/var/log", True), "%s: /var/log from the host, read-only" % name)
    storage = volumes[mounts["/var/lib/gleaner"]["name"]]["hostPath"]
    check(storage == {"path": v["storage"]["hostPath"], "type": "DirectoryOrCreate"} and
          not mounts["/var/lib/gleaner"].get("readOnly"),
          "%s: /var/lib/gleaner from the host's %s, DirectoryOrCreate, writable"
          % (name, v["storage"]["hostPath"]))
    node = v["metrics"]["node"]["enabled"]
    check(mounted("/host/proc", "/proc", True) == node and
          mounted("/host/sys", "/sys", True) == node and
          mounted("/host/root", "/", True) == node and
          (not node or mounts["/host/root"].get("mountPropagation") == "HostToContainer"),
          "%s: the host's /proc, /sys and / read-only under /host %s" %
          (name, "(node metrics on)" if node else "only with node metrics: absent"))
    rw = [o for o in config["pipeline"].get("outputs", [])
          if o["name"] == "prometheus_remote_write"]
    if v["metrics"]["remoteWrite"]["enabled"] and not v["config"].get("raw"):
        labels = rw[0].get("add_label", []) if len(rw) == 1 else []
        check("cluster ${CLUSTER_NAME}" in labels and "node ${NODE_NAME}" in labels,
              "%s: remote-written series carry cluster and node labels" % name)
    if node:
        nm = [i for i in config["pipeline"]["inputs"] if i["name"] == "node_metrics"]
        check(len(nm) == 1 and nm[0].get("path.procfs") == "/host/proc" and
              nm[0].get("path.sysfs") == "/host/sys" and nm[0].get("path.rootfs") == "/host/root",
              "%s: node_metrics reads the host's /proc, /sys and / where they are mounted" % name)
    check(volumes[mounts["/etc/gleaner"]["name"]]["configMap"]["name"] == cm["metadata"]["name"]
          and mounts["/etc/gleaner"].get("readOnly") and
          c["args"] == ["-c", "/etc/gleaner/gleaner.yaml"],
          "%s: the ConfigMap read-only at /etc/gleaner, run with -c /etc/gleaner/gleaner.yaml"
          % name)

    env = by_name(c["env"])
    downward = {n: env.get(n, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                for n in ("NODE_NAME", "NODE_IP", "POD_NAME", "POD_NAMESPACE")}
    check(downward == {"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP",
                       "POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"},
          "%s: NODE_NAME, NODE_IP, POD_NAME, POD_NAMESPACE from the downward API" % name)
    check(all(env.get(e["name"]) == e for e in v["extraEnv"]), "%s: extraEnv set" % name)
    check(all(volumes.get(e["name"]) == e for e in v["extraVolumes"]) and
          all(mounts.get(m["mountPath"]) == m for m in v["extraVolumeMounts"]),
          "%s: extraVolumes and extraVolumeMounts set" % name)

    http_port = (config.get("service") or {}).get("http_port", 2020)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http-metrics"} and
          c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"} and
          ports["http-metrics"] == http_port == v["agent"]["httpPort"],
          "%s: liveness /livez, readiness /readyz on the config's http_port %d"
          % (name, http_port))
    grace = seconds((config.get("service") or {}).get("grace", "5s"))
    check(spec["terminationGracePeriodSeconds"] > grace,
          "%s: terminationGracePeriodSeconds %d above the agent's grace %ds"
          % (name, spec["terminationGracePeriodSeconds"], grace))
    check(c["resources"] == v["resources"] and c["resources"].get("requests") and
          c["resources"].get("limits"), "%s: requests and limits" % name)
    digest = hashlib.sha256(text.rstrip("\n").encode()).hexdigest()
    check(pod["metadata"]["annotations"]["checksum/config"] == digest,
          "%s: checksum/config is the sha256 of the ConfigMap's config" % name)
    check(all(pod["metadata"]["annotations"].get(k) == x for k, x in v["podAnnotations"].items())
          and all(pod["metadata"]["labels"].get(k) == x for k, x in v["podLabels"].items()),
          "%s: podAnnotations and podLabels set" % name)
    check(spec.get("nodeSelector") == (v["nodeSelector"] or None) and
          spec.get("affinity") == (v["affinity"] or None),
          "%s: nodeSelector and affinity as given" % name)
    host_net = v["hostNetwork"] or node
    check(bool(spec.get("hostNetwork")) == host_net and
          (not host_net or spec.get("dnsPolicy") == "ClusterFirstWithHostNet"),
          "%s: hostNetwork %s (asked, or node metrics on)" % (name, host_net))

    image = v["image"]
    want = ("%s@%s" % (image["repository"], image["digest"]) if image["digest"] else
            "%s:%s" % (image["repository"], image["tag"] or chart_yaml()["appVersion"]))
    check(c["image"] == want and c["imagePullPolicy"] == image["pullPolicy"] and
          spec.get("imagePullSecrets", []) == v["imagePullSecrets"],
          "%s: image %s, pullPolicy %s, imagePullSecrets" % (name, want, image["pullPolicy"]))

    sc = c["securityContext"]
    psc = spec["securityContext"]
    check(sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False and
          sc["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]} and
          sc["seccompProfile"] == {"type": "RuntimeDefault"} and
          psc["seccompProfile"] == {"type": "RuntimeDefault"},
          "%s: read-only root, no privilege escalation, capabilities ALL dropped but "
          "DAC_READ_SEARCH, seccomp RuntimeDefault" % name)
    check(psc["runAsNonRoot"] is True and (psc["runAsUser"], psc["runAsGroup"]) == (uid, gid),
          "%s: runs as non-root %d:%d, the image's user" % (name, uid, gid))
    init = by_name(spec.get("initContainers"))
    if v["storage"]["chown"]:
        o = init["storage-owner"]
        check(o["command"] == ["/usr/bin/chown", "%d:%d" % (uid, gid), "/var/lib/gleaner"] and
              o["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]} and
              o["securityContext"]["readOnlyRootFilesystem"] is True and
              o["securityContext"]["allowPrivilegeEscalation"] is False and
              o["volumeMounts"] == [{"name": mounts["/var/lib/gleaner"]["name"],
                                     "mountPath": "/var/lib/gleaner"}],
              "%s: init container chowns /var/lib/gleaner alone, as root with CHOWN only"
              % name)

    sa = one(docs, "ServiceAccount")
    check(spec["serviceAccountName"] == sa["metadata"]["name"] and
          sa["metadata"].get("annotations", {}) == v["serviceAccount"]["annotations"],
          "%s: ServiceAccount %s with annotations %s" % (name, sa["metadata"]["name"],
                                                         v["serviceAccount"]["annotations"]))
    check_rbac(name, docs, v, sa)
    check_service(name, docs, v, c)
    return ds, cm, c


def check_rbac(name, docs, v, sa):
    role = one(docs, "ClusterRole")
    rules = [(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]]
    want = [(("pods",), ("get", "list", "watch"))]
    if v["kubernetes"]["namespaceLabels"]:
        want.append((("namespaces",), ("get", "list", "watch")))
    if v["metrics"]["kubelet"]["enabled"]:
        want.append((("nodes/metrics",), ("get",)))
    if v["kubernetes"]["useKubelet"]:
        want.append((("nodes/proxy",), ("get",)))
    check(rules == want and all(r["apiGroups"] == [""] for r in role["rules"]),
          "%s: ClusterRole is exactly %s" % (name, rules))
    binding = one(docs, "ClusterRoleBinding")
    check(binding["roleRef"]["name"] == role["metadata"]["name"] and binding["subjects"] == [{
        "kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}],
        "%s: the ClusterRole is bound to the ServiceAccount" % name)


def check_service(name, docs, v, c):
    svc = one(docs, "Service")
    want = {"http-metrics": v["agent"]["httpPort"]}
    if v["metrics"]["exporter"]["enabled"]:
        want["exporter"] = v["metrics"]["exporter"]["port"]
    got = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    check(got == want and {p["name"]: p["containerPort"] for p in c["ports"]} == want,
          "%s: Service and container ports %s" % (name, want))


def chart_yaml():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        return yaml.safe_load(f)


# ---- the value sets ----

def good_set(path, available, deferred, chart=CHART):
    name = os.path.basename(path)[:-5] if path else "default values"
    files = [path] if path else []
    rc, out, err = render(chart, files, extra=["--lint", "--strict"])
    if rc != 0:
        fail("%s: helm lint --strict fails:\n%s%s" % (name, out, err))
    rc, out, err = render(chart, files)
    if rc != 0:
        fail("%s: does not render:\n%s" % (name, err))
    rc, vout, verr = run(["sh", K8S_VALIDATE, "-"], stdin=out)
    if rc != 0:
        fail("%s: k8s-validate refuses the rendered objects:\n%s%s" % (name, vout, verr))
    check(True, "%s: renders, lints and validates (%s)" % (name, vout.strip().splitlines()[-1]))
    docs = documents(out)
    v = values_of(path)
    ds, cm, c = check_daemonset(name, docs, v)
    for m in [d for d in docs if d["kind"] == "ConfigMap" and "gleaner.yaml" in d["data"]]:
        check_config(name, m["data"]["gleaner.yaml"], pod_env(c), available, deferred)
    return docs, v, cm


def refused(path, chart, package):
    """A value set that must not render. "# by: chart" says the chart's templates refuse it
    (else values.schema.json must); "# with: package" renders it with the packaged chart
    (alerts and dashboards inside) instead of the chart directory."""
    with open(path) as f:
        head = [line for line in f.read().splitlines() if line.startswith("#")]
    wants = [line.split(":", 1)[1].strip() for line in head if line.startswith("# refused:")]
    by_chart = "# by: chart" in head
    if "# with: package" in head:
        chart = package
    if not wants:
        fail("%s: no '# refused:' line says what the refusal reads" % path)
    rc, out, err = render(chart, [path])
    name = os.path.basename(path)
    if rc == 0:
        fail("%s: rendered, but must be refused (%s)" % (name, "; ".join(wants)))
    if not by_chart and "values don't meet the specifications of the schema" not in err:
        fail("%s: refused, but not by values.schema.json:\n%s" % (name, err))
    for w in wants:
        if w not in err:
            fail("%s: the refusal does not read %r:\n%s" % (name, w, err))
    check(True, "%s: refused by %s: %s" % (name, "the chart" if by_chart else
                                         "values.schema.json", "; ".join(wants)))


def main():
    need_tool(HELM_TEMPLATE, "helm-template")
    need_tool(K8S_VALIDATE, "k8s-validate")
    need("promtool", "prometheus")
    if not os.access(GLEANER, os.X_OK):
        fail("%s not built: run make" % GLEANER)
    available = plugins_available()
    deferred = []

    with open(os.path.join(ROOT, "VERSION")) as f:
        version = f.read().strip()
    check(str(chart_yaml()["appVersion"]) == version, "Chart.yaml appVersion is VERSION (%s)"
          % version)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "chart-readme.py"),
                        "--check", CHART], capture_output=True, text=True)
    if p.returncode != 0:
        fail("chart README or values.yaml:\n" + p.stderr)
    check(True, "the chart's README lists every value of values.yaml, each described, and "
          "values.yaml and values.schema.json name the same keys")

    docs, _, cm = good_set(None, available, deferred)
    rc, out, _ = render(CHART, sets=["agent.flush=2s"])
    ds2 = one(documents(out), "DaemonSet")
    ds1 = one(docs, "DaemonSet")
    check(ds1["spec"]["template"]["metadata"]["annotations"]["checksum/config"] !=
          ds2["spec"]["template"]["metadata"]["annotations"]["checksum/config"],
          "a config change changes checksum/config, so the pods roll")
    config = yaml.safe_load(cm["data"]["gleaner.yaml"])
    check(plugins_used(config) == {"tail", "kubernetes", "cloudwatch_logs"},
          "default values run tail, kubernetes and cloudwatch_logs, nothing else")

    # The monitoring set needs the packaged chart (rules and dashboards inside).
    alerts = os.path.join(ROOT, "alerts")
    dashboards = os.path.join(ROOT, "dashboards")
    out_dir = tmpdir("chart-package")
    p = subprocess.run(["sh", os.path.join(ROOT, "tools", "chart-package.sh"), out_dir, alerts,
                        dashboards], capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        fail("tools/chart-package.sh fails:\n" + p.stderr)
    package = p.stdout.strip()
    check(os.path.isfile(package), "the chart packages into %s with alerts/ and dashboards/ "
          "byte for byte" % os.path.basename(package))

    for path in sorted(glob.glob(os.path.join(HERE, "values", "*.yaml"))):
        chart = package if os.path.basename(path) == "monitoring.yaml" else CHART
        docs, v, _ = good_set(path, available, deferred, chart)
        if os.path.basename(path) == "monitoring.yaml":
            check_monitoring(docs, v, alerts, dashboards)
        if os.path.basename(path) == "elasticsearch-secret.yaml":
            check_secret_refs(docs)

    check_rule_values(package, alerts)
    for path in sorted(glob.glob(os.path.join(HERE, "bad", "*.yaml"))):
        refused(path, CHART, package)

    print("deferred gleaner --check runs (they start once gleaner --plugins lists the plugin):")
    if not deferred:
        print("  none")
    for name, missing in deferred:
        print("  %-22s until %s" % (name, ", ".join("%s (%s)" % (m, PENDING[m])
                                                   for m in missing)))
    landed = sorted(set(PENDING) & available)
    if landed:
        print("note: %s in this build now: their checks ran; take them out of PENDING"
              % ", ".join(landed))
    print("chart: all checks passed")


PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


def rule_groups(alerts, pr):
    """The groups of the rule files in alerts/ as the chart must render them with the
    values pr (prometheusRule): each ${Alert.key} replaced by the text of
    pr.alerts.Alert.key as Helm prints it, ${runbookUrl} by pr.runbookUrl, the rules of
    disabled alerts left out. Written apart from the chart's template, to check it."""
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v == int(v):
            return str(int(v))
        return str(v)

    params = {"runbookUrl": pr["runbookUrl"]}
    for alert, keys in pr["alerts"].items():
        for k, x in keys.items():
            params["%s.%s" % (alert, k)] = text(x)
    groups = []
    for path in sorted(glob.glob(os.path.join(alerts, "*.yaml"))):
        with open(path) as f:
            source = PLACEHOLDER.sub(lambda m: params[m.group(1)], f.read())
        for g in (yaml.safe_load(source) or {}).get("groups") or []:
            g["rules"] = [r for r in g["rules"] if "alert" not in r or
                          pr["alerts"].get(r["alert"], {}).get("enabled", True)]
            if g["rules"]:
                groups.append(g)
    return groups


def promtool_check(groups, name):
    """promtool check rules on the groups, written as a rule file."""
    path = os.path.join(tmpdir("chart-rules"), "rules.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)
    p = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    if p.returncode != 0:
        fail("%s: promtool check rules refuses the rendered rules:\n%s%s"
             % (name, p.stdout, p.stderr))
    return p.stdout.strip().splitlines()[-1].strip()


def check_monitoring(docs, v, alerts, dashboards):
    groups = rule_groups(alerts, v["prometheusRule"])
    rule = one(docs, "PrometheusRule")
    check(rule["spec"]["groups"] == groups and
          rule["metadata"]["namespace"] == v["prometheusRule"]["namespace"] and
          all(rule["metadata"]["labels"].get(k) == x for k, x in v["prometheusRule"]["labels"]
              .items()),
          "PrometheusRule holds every group of %s (%d), its values written in, in its "
          "namespace, with its labels" % (os.path.relpath(alerts, ROOT), len(groups)))
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    her = rules["HighErrorRate"]
    check("${" not in yaml.safe_dump(rule["spec"]) and her["for"] == "1m" and
          her["expr"].count("[2m]") == 2 and her["expr"].rstrip().endswith(") > 0.1") and
          her["labels"]["severity"] == "page" and "GleanerAgentMissing" not in rules,
          "the monitoring values are in the rules (HighErrorRate: threshold 0.1, window 2m, "
          "for 1m, severity page) and GleanerAgentMissing (enabled: false) is left out")
    check(True, "the rendered rules pass promtool check rules (%s)"
          % promtool_check(rule["spec"]["groups"], "monitoring"))
    boards = [d for d in docs if d["kind"] == "ConfigMap" and
              d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    files = sorted(glob.glob(os.path.join(dashboards, "*.json")))
    contents = {}
    for path in files:
        with open(path) as f:
            contents[os.path.basename(path)] = f.read()
    got = {k: x for b in boards for k, x in b["data"].items()}
    check(len(boards) == len(files) and
          {k: x.rstrip("\n") for k, x in got.items()} ==
          {k: x.rstrip("\n") for k, x in contents.items()} and
          all(b["metadata"]["namespace"] == v["dashboards"]["namespace"] and
              b["metadata"].get("annotations") == v["dashboards"]["annotations"]
              for b in boards),
          "one ConfigMap per dashboard of %s, labelled grafana_dashboard: \"1\", as the file"
          % os.path.relpath(dashboards, ROOT))
    sm = one(docs, "ServiceMonitor")
    check(sm["metadata"]["namespace"] == v["serviceMonitor"]["namespace"] and
          sm["metadata"]["labels"]["release"] == "kube-prometheus-stack" and
          [e["port"] for e in sm["spec"]["endpoints"]] == ["http-metrics", "exporter"] and
          sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]},
          "ServiceMonitor scrapes both metrics ports from its own namespace")
    np = one(docs, "NetworkPolicy")
    check([p["port"] for p in np["spec"]["ingress"][0]["ports"]] == [2020, 2021] and
          np["spec"]["ingress"][0]["from"] == v["networkPolicy"]["metricsFrom"],
          "NetworkPolicy lets only the metrics ports in, from the peers given")


def check_rule_values(package, alerts):
    """The alerts' values as the chart's defaults give them: every placeholder of the rule
    files has a value, every value is read by a rule, the rendering is the rule files with
    the defaults written in and passes promtool; every alert is a rule of alerts/."""
    rc, out, err = render(package, sets=["prometheusRule.enabled=true"],
                          extra=["-s", "templates/prometheusrule.yaml"])
    if rc != 0:
        fail("the packaged chart does not render its PrometheusRule with the default values:"
             "\n%s" % err)
    rule = one(documents(out), "PrometheusRule")
    v = values_of(None)["prometheusRule"]
    groups = rule_groups(alerts, v)
    defined = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    check(rule["spec"]["groups"] == groups and defined == set(v["alerts"]),
          "default values: the PrometheusRule is alerts/*.yaml with every default written in; "
          "prometheusRule.alerts names exactly its %d alerts" % len(defined))
    check(True, "default values: the rendered rules pass promtool check rules (%s)"
          % promtool_check(rule["spec"]["groups"], "default values"))


def check_secret_refs(docs):
    ds = one(docs, "DaemonSet")
    env = by_name(by_name(ds["spec"]["template"]["spec"]["containers"])["gleaner"]["env"])
    ref = env["GLEANER_ES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    cm = one(docs, "ConfigMap")
    es = [o for o in yaml.safe_load(cm["data"]["gleaner.yaml"])["pipeline"]["outputs"]
          if o["name"] == "es"][0]
    check(ref == {"name": "es-credentials", "key": "password"} and
          es["http_passwd"] == "${GLEANER_ES_PASSWORD}" and
          not any(d["kind"] == "Secret" for d in docs),
          "the Elasticsearch password comes from the Secret through the environment, never "
          "into the ConfigMap")


if __name__ == "__main__":
    main()

"""The image runs as the chart's default DaemonSet runs it. The chart is rendered with its
default values (only the metrics port and the CloudWatch endpoint moved to this machine's
loopback), and the pod it describes is started with podman: the init container, then the
agent with the same user, a read-only root filesystem, every capability dropped but
DAC_READ_SEARCH, no new privileges, the rendered config where the ConfigMap goes, a
directory of root-owned 0640 container logs at /var/log, a root-owned directory at
/var/lib/gleaner (as the kubelet creates it), the downward API's variables, the service
account's token and CA, and the variables IRSA's webhook adds. runc runs it the way
containerd does (runc-cri: no ambient capabilities). A TLS API server on 127.0.0.1 serves
the pod of the log, and a CloudWatch Logs server receives the records.

Checked: the agent process holds DAC_READ_SEARCH and nothing else, as the user the chart
names, with no_new_privs; /healthz and /readyz answer; lines written to the root-owned log
reach CloudWatch Logs with the pod's labels; the offsets are written under
/var/lib/gleaner; SIGTERM stops it with exit 0 within the pod's grace. Also: the image has
no shell, and a runtime that does not grant DAC_READ_SEARCH cannot start the binary.

    GLEANER_IMAGE=gleaner:0.1.0 python3 tests/chart/image_test.py    (make image-test; root)
"""
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from lib import ROOT, check, fail, free_port, http_get, tmpdir, wait_for  # noqa: E402
import lib_kube_api  # noqa: E402
from lib_cwl_server import CwlServer  # noqa: E402

try:
    import yaml  # noqa: E402
except ImportError:
    fail("python3 cannot import yaml: install the Debian package python3-yaml (make deps does)")

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("GLEANER_SHARED_TOOLS", os.path.join(ROOT, "..", "shared", "tools"))
HELM_TEMPLATE = os.path.join(TOOLS, "helm-template", "helm-template")
OCI_IMAGE = os.path.join(TOOLS, "oci-image", "oci-image")
RUNTIME = os.path.join(HERE, "runc-cri")
NODE, NAMESPACE = "node-a", "logging"
POD, POD_NS, CONTAINER = "web-5d8f9-aaaaa", "shop", "web"
FIELD_VALUES = {"spec.nodeName": NODE, "status.hostIP": "127.0.0.1",
                "metadata.name": "gleaner-x7k2p", "metadata.namespace": NAMESPACE}
CAP_DAC_READ_SEARCH = 1 << 2
MAX_IMAGE_BYTES = 40 * 10**6
containers = []


def podman(*args, check_rc=True):
    p = subprocess.run(["podman"] + list(args), capture_output=True, text=True, env=ENV)
    if check_rc and p.returncode != 0:
        fail("podman %s: %s" % (" ".join(args[:3]), p.stderr.strip()))
    return p


def cleanup():
    for name in containers:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, env=ENV)


def pod_flags(sc, psc):
    """podman flags for a container's securityContext (over the pod's), as a pod gets them."""
    merged = dict(psc, **sc)
    flags = ["--user", "%d:%d" % (merged["runAsUser"], merged.get("runAsGroup",
                                                                   merged["runAsUser"]))]
    if merged.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if merged.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for cap in merged.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", cap]
    for cap in merged.get("capabilities", {}).get("add", []):
        flags += ["--cap-add", cap]
    if merged.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail("the test knows only seccompProfile RuntimeDefault")
    return flags


def mount_flags(container, volumes, host_root, configmap_dir):
    flags = []
    for m in container.get("volumeMounts", []):
        vol = volumes[m["name"]]
        if "hostPath" in vol:
            src = host_root + vol["hostPath"]["path"]
        elif "configMap" in vol:
            src = configmap_dir
        else:
            fail("the test knows only hostPath and configMap volumes, not %s" % m["name"])
        flags += ["-v", "%s:%s%s" % (src, m["mountPath"], ":ro" if m.get("readOnly") else "")]
    return flags


def tls_kube_api(d):
    """The API server of the cluster at https://127.0.0.1:PORT with a CA of its own."""
    key, cert = os.path.join(d, "apiserver.key"), os.path.join(d, "apiserver.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=kube-apiserver",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    api = lib_kube_api.KubeApi(token="token-1", node=NODE)
    server = lib_kube_api._Server(("127.0.0.1", 0), lib_kube_api._Handler)
    server.api = api
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    api.server = server
    api.port = server.server_address[1]
    api.thread = threading.Thread(target=server.serve_forever, daemon=True)
    api.thread.start()
    return api, cert


def cri_line(text):
    now = datetime.now(timezone.utc)
    return "%s.%09dZ stdout F %s\n" % (now.strftime("%Y-%m-%dT%H:%M:%S"),
                                       now.microsecond * 1000, text)


def status_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def need_tools():
    """The image to run, once every tool the test needs is there."""
    if os.geteuid() != 0:
        fail("the image test builds and runs containers with oci-image, which needs root")
    for path, what in ((HELM_TEMPLATE, "helm-template"), (OCI_IMAGE, "oci-image")):
        if not os.path.isfile(path):
            fail("%s not found at %s (set GLEANER_SHARED_TOOLS)" % (what, path))
    for binary, package in (("podman", "podman"), ("runc", "runc"), ("openssl", "openssl")):
        if shutil.which(binary) is None:
            fail("%s not found: install the Debian package %s (oci-image installs podman and "
                 "runc on first use)" % (binary, package))
    with open(os.path.join(ROOT, "VERSION")) as f:
        image = os.environ.get("GLEANER_IMAGE", "gleaner:" + f.read().strip())
    if podman("image", "exists", image, check_rc=False).returncode != 0:
        fail("no image %s: build it with make image" % image)
    return image


def render_pod(http_port, endpoint):
    """The pod spec and the ConfigMap of the default values, on this machine's ports."""
    out = subprocess.run(["sh", HELM_TEMPLATE, "gleaner",
                          os.path.join(ROOT, "helm-chart", "gleaner"), "-n", NAMESPACE,
                          "--set", "agent.httpPort=%d" % http_port,
                          "--set", "logs.cloudwatch.endpoint=" + endpoint],
                         capture_output=True, text=True)
    if out.returncode != 0:
        fail("the chart does not render: " + out.stderr)
    docs = [x for x in yaml.safe_load_all(out.stdout) if x]
    ds = [x for x in docs if x["kind"] == "DaemonSet"][0]
    cm = [x for x in docs if x["kind"] == "ConfigMap"][0]
    return ds["spec"]["template"]["spec"], cm


def make_node(d, spec, cm, ca):
    """The node's files under d/host: a root-owned container log (0640) as containerd
    writes it and the symlink the kubelet makes, the storage directory as the kubelet
    creates it (root, 0755); beside them the ConfigMap's files and the service account's
    token, CA and namespace, as the kubelet projects them."""
    host = os.path.join(d, "host")
    pod_dir = "%s/var/log/pods/%s_%s_%s/%s" % (host, POD_NS, POD, lib_kube_api.uid_of(
        POD_NS + "/" + POD), CONTAINER)
    os.makedirs(pod_dir, mode=0o755)
    os.makedirs(host + "/var/log/containers", mode=0o755)
    log = pod_dir + "/0.log"
    with open(log, "w") as f:
        f.write(cri_line("written before the agent started"))
    os.chmod(log, 0o640)
    os.chown(log, 0, 0)
    cid = lib_kube_api.hexid(POD_NS + POD + CONTAINER)
    os.symlink(log.replace(host, ""), "%s/var/log/containers/%s_%s_%s-%s.log" % (
        host, POD, POD_NS, CONTAINER, cid))
    volumes = {v["name"]: v for v in spec["volumes"]}
    storage = host + volumes["storage"]["hostPath"]["path"]
    os.makedirs(storage, mode=0o755)
    configmap = os.path.join(d, "configmap")
    os.makedirs(configmap)
    for key, text in cm["data"].items():
        with open(os.path.join(configmap, key), "w") as f:
            f.write(text)
    sa = os.path.join(d, "serviceaccount")
    os.makedirs(sa)
    shutil.copy(ca, os.path.join(sa, "ca.crt"))
    for key, text in (("token", "token-1"), ("namespace", NAMESPACE)):
        with open(os.path.join(sa, key), "w") as f:
            f.write(text)
    os.chmod(d, 0o755)
    return {"host": host, "log": log, "storage": storage, "configmap": configmap, "sa": sa}


def pod_environment(agent, api, cwl):
    """The downward API's variables, the kubelet's service variables, and what IRSA's
    webhook adds (the region; the credentials here as plain variables); no instance
    metadata."""
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port),
           "AWS_REGION": cwl.region, "AWS_ACCESS_KEY_ID": cwl.access_key,
           "AWS_SECRET_ACCESS_KEY": cwl.secret_key, "AWS_EC2_METADATA_DISABLED": "true"}
    for e in agent["env"]:
        env[e["name"]] = e["value"] if "value" in e else \
            FIELD_VALUES[e["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def check_process(pid, spec):
    s = status_of(pid)
    uid, gid = spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]
    check(s["Uid"].split()[:2] == [str(uid)] * 2 and s["Gid"].split()[0] == str(gid),
          "the agent runs as %d:%d, the chart's user" % (uid, gid))
    check(int(s["CapEff"], 16) == CAP_DAC_READ_SEARCH and int(s["CapPrm"], 16) ==
          CAP_DAC_READ_SEARCH and int(s["CapAmb"], 16) == 0 and
          int(s["CapBnd"], 16) == CAP_DAC_READ_SEARCH,
          "its capabilities are DAC_READ_SEARCH alone, from the binary's file capability "
          "(CapEff %s, CapAmb %s)" % (s["CapEff"], s["CapAmb"]))
    check(s["NoNewPrivs"] == "1" and s["Seccomp"] == "2", "no_new_privs set, seccomp filtering")


def check_delivery(cwl, node, env, uid):
    """Lines appended to the root-owned log reach CloudWatch Logs, enriched."""
    lines = ["line %d from a root-owned 0640 log" % i for i in range(5)]
    with open(node["log"], "a") as f:
        for line in lines:
            f.write(cri_line(line))
    group = "/aws/eks/%s/%s" % (env["CLUSTER_NAME"], POD_NS)
    stream = "%s/%s" % (POD, CONTAINER)

    def received():
        return [json.loads(e["message"]) for e in cwl.events(group, stream)]
    wait_for("the container's lines in CloudWatch Logs %s %s" % (group, stream),
             lambda: len(received()) >= len(lines), timeout=30)
    records = received()
    check([r["log"] for r in records] == lines, "the container's %d lines reach CloudWatch "
          "Logs (%s, %s), and none written before the first start" % (len(lines), group,
                                                                     stream))
    k = records[0]["kubernetes"]
    check(k.get("labels", {}).get("app") == "web" and k.get("host") == NODE and
          "meta_missing" not in k,
          "with the pod's labels, from the API server over TLS with the service account's "
          "token and CA")
    storage = node["storage"]
    offsets = [f for f in os.listdir(storage) if f.endswith(".offsets")]
    check(offsets and all(os.stat(os.path.join(storage, f)).st_uid == uid for f in offsets),
          "offsets written under /var/lib/gleaner by the agent's user: %s" % offsets)


def check_image(image):
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())
    check(size < MAX_IMAGE_BYTES, "the image is %.1f MB (at most %d MB): the agent, the "
          "libraries it loads, CA certificates" % (size / 1e6, MAX_IMAGE_BYTES // 10**6))
    p = podman("run", "--rm", "--pull", "never", "--cap-add", "DAC_READ_SEARCH",
               "--entrypoint", "/bin/sh", image, "-c", "true", check_rc=False)
    check(p.returncode != 0, "the image has no shell (/bin/sh cannot be run)")
    p = podman("run", "--rm", "--pull", "never", "--cap-drop", "ALL", image, "--version",
               check_rc=False)
    check(p.returncode != 0 and "operation not permitted" in p.stderr,
          "without DAC_READ_SEARCH granted, the kernel refuses to start the binary")
    p = podman("run", "--rm", "--pull", "never", "--cap-drop", "ALL", "--cap-add",
               "DAC_READ_SEARCH", image, "--version")
    check(p.stdout.startswith("gleaner "), "with it, %s" % p.stdout.strip())


def main():
    image = need_tools()
    os.umask(0o022)
    d = tmpdir("image")
    cwl = CwlServer(region="us-east-1").start()
    api, ca = tls_kube_api(d)
    api.add_pod(POD_NS, POD)
    http_port = free_port()
    spec, cm = render_pod(http_port, cwl.endpoint)
    volumes = {v["name"]: v for v in spec["volumes"]}
    agent, init = spec["containers"][0], spec["initContainers"][0]
    node = make_node(d, spec, cm, ca)
    env = pod_environment(agent, api, cwl)
    common = ["--runtime", RUNTIME, "--network", "host", "--pull", "never"]
    name = "gleaner-image-test-%d" % os.getpid()

    t0 = time.time()
    containers.append(name + "-init")
    podman("run", "--name", name + "-init", *common,
           *pod_flags(init["securityContext"], spec["securityContext"]),
           *mount_flags(init, volumes, node["host"], node["configmap"]),
           "--entrypoint", init["command"][0], image, *init["command"][1:])
    st = os.stat(node["storage"])
    check((st.st_uid, st.st_gid) == (spec["securityContext"]["runAsUser"],
                                     spec["securityContext"]["runAsGroup"]),
          "the init container gives %s to %d:%d, as root with CHOWN only" % (
              volumes["storage"]["hostPath"]["path"], st.st_uid, st.st_gid))

    containers.append(name)
    podman("run", "-d", "--name", name, *common,
           *pod_flags(agent["securityContext"], spec["securityContext"]),
           *mount_flags(agent, volumes, node["host"], node["configmap"]),
           "-v", "%s:/var/run/secrets/kubernetes.io/serviceaccount:ro" % node["sa"],
           *[x for k, v in sorted(env.items()) for x in ("-e", "%s=%s" % (k, v))],
           image, *agent["args"])
    pid = int(podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip() or 0)
    if pid <= 0:
        fail("the agent container is not running:\n" + podman("logs", name).stderr)
    check_process(pid, spec)

    def ready():
        return http_get(http_port, "/readyz")[0] == 200 or podman(
            "inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true"
    wait_for("/readyz", ready, timeout=30)
    started = time.time() - t0
    code_h, _ = http_get(http_port, "/healthz")
    code_r, _ = http_get(http_port, "/readyz")
    if code_r != 200:
        fail("the agent stopped:\n" + podman("logs", name).stderr[-3000:])
    check(code_h == 200 and code_r == 200,
          "/healthz and /readyz answer 200 (ready %.1fs after the init container)" % started)

    check_delivery(cwl, node, env, spec["securityContext"]["runAsUser"])

    grace = spec["terminationGracePeriodSeconds"]
    t = time.time()
    podman("stop", "--time", str(grace), name)
    took = time.time() - t
    rc = podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
    logs = podman("logs", name).stderr
    check(rc == "0" and took < grace, "SIGTERM stops it with exit 0 in %.1fs, within the pod's "
          "grace of %ds (exit %s)" % (took, grace, rc))
    check("level=error" not in logs, "no error in the agent's log:\n%s" % logs[-2000:]
          if "level=error" in logs else "no error in the agent's log")

    check_image(image)
    api.stop()
    cwl.stop()
    print("image: all checks passed")


ENV = dict(os.environ)
if __name__ == "__main__":
    if os.path.isfile(OCI_IMAGE):
        for line in subprocess.run(["bash", OCI_IMAGE, "env"], capture_output=True,
                                   text=True).stdout.split():
            if "=" in line:
                k, v = line.split("=", 1)
                ENV[k] = v
    try:
        main()
    finally:
        cleanup()

"""A Kubernetes API server for the tests of the pod cache: the pods and
namespaces of a cluster, served the way the real API server serves them. A
library and a command line tool, not a test (run.sh skips files named lib*).

Endpoints (all need "Authorization: Bearer <token>", else 401 and a Status):
    GET /api/v1/pods?fieldSelector=spec.nodeName%3DN&limit=L&continue=C
        a PodList with metadata.resourceVersion and, when cut by limit,
        metadata.continue (a snapshot: later pages are from the same version)
    GET /api/v1/pods?watch=1&resourceVersion=RV&fieldSelector=...
        &allowWatchBookmarks=true&timeoutSeconds=S
        chunked newline-delimited events {"type", "object"} after RV; a
        version older than the compaction point is 410 Gone, as an HTTP
        status (gone_mode "http") or as an ERROR event with a Status object
        (gone_mode "event", the real server's way since 1.x)
    GET /api/v1/namespaces/NS/pods/NAME   one pod, or 404 and a Status
    GET /api/v1/namespaces[?watch=1...]   namespaces, list and watch alike
    GET /pods                             the kubelet's PodList of the node
Test-only endpoints (no token):
    POST /_control  {"op": name, ...arguments}: any KubeApi method below
    GET /_stats     the counters (stats())

Requests are counted by kind as they arrive ("list", "watch", "get",
"kubelet"; a namespaces list or watch counts as one too), and each is logged
with the time it came, the time it was answered and how (stats()["log"]):
tests read from it how many requests of each kind were made, when, and
whether any GET came while a list was being answered.

Faults: drop_watches() cuts every open watch mid-stream (half a frame
written); error_410() sends an ERROR 410 event to every open watch and ends
it; compact() makes every version so far too old; set_token() rotates the
token (the old one gets 401); churn() changes pods at a rate in a thread.
A slow, throttling or failing server: set_latency() delays every answer of
a kind (the list, each watch's headers, GETs); throttle() answers a share
of requests, or all of them for a while, with 429 TooManyRequests and a
Retry-After in seconds or as an HTTP-date, as the API server's priority and
fairness does; fail() answers 503 ServiceUnavailable, or resets the
connection half-way through the answer (a watch after its first event).
The Status objects are the API server's (kind, status, message, reason,
details, code).
For the agent's tests against it: NodeLogs writes a node's container logs,
node_with_logs() the pods to go with them, run_tail_kubernetes() runs tail ->
kubernetes -> file over them, check_delivery() finds each line once with
the right metadata, and requests_of(), too_soon(), busiest_second() read
the request log.
Command line: python3 lib_kube_api.py [--port P] [--token T] [--node N]
[--pods N]; prints the port on the first line of stdout.
"""
import argparse
import copy
import email.utils
import hashlib
import json
import os
import random
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def hexid(seed, n=64):
    """A deterministic hex id of n digits from a seed string."""
    out = ""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (seed, i)).encode()).hexdigest()
        i += 1
    return out[:n]


def uid_of(seed):
    h = hexid(seed, 32)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def status_obj(code, reason, message, details=None):
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details is not None:
        obj["details"] = details
    return obj


KINDS = ("list", "watch", "get", "kubelet")


class Fault:
    """A rule answering requests of some kinds with 429, 503 or a reset."""

    def __init__(self, mode, kinds, share, until, count, retry_after, date):
        self.mode = mode
        self.kinds = set(kinds or KINDS)
        self.share = share
        self.until = until
        self.count = count
        self.retry_after = retry_after
        self.date = date


def make_pod(ns, name, node, containers=2, init=1, labels=None, annotations=None):
    """A pod as a Deployment's ReplicaSet leaves it running on a node."""
    app = name.rsplit("-", 2)[0]
    rs = app + "-" + hexid(ns + app, 10)
    pod_labels = {"app": app, "pod-template-hash": hexid(ns + app, 10),
                  "app.kubernetes.io/name": app}
    pod_labels.update(labels or {})
    pod_annotations = {"kubernetes.io/psp": "eks.privileged", "prometheus.io/scrape": "true",
                       "prometheus.io/port": "8080"}
    pod_annotations.update(annotations or {})
    spec_containers = []
    statuses = []
    for i in range(containers):
        cname = "c%d" % i if i else app
        image = "registry.example.com/%s/%s:1.%d.0" % (ns, cname, i)
        spec_containers.append({
            "name": cname, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
            "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}},
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.name"}}}],
            "terminationMessagePath": "/dev/termination-log"})
        statuses.append({
            "name": cname, "image": image,
            "imageID": "registry.example.com/%s/%s@sha256:%s" % (ns, cname, hexid(image)),
            "containerID": "containerd://" + hexid(ns + name + cname),
            "ready": True, "restartCount": 0, "started": True,
            "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}}, "lastState": {}})
    init_containers = []
    init_statuses = []
    for i in range(init):
        cname = "init-%d" % i
        image = "registry.example.com/tools/init:%d" % i
        init_containers.append({"name": cname, "image": image, "command": ["sh", "-c", "true"]})
        init_statuses.append({
            "name": cname, "image": image,
            "imageID": "registry.example.com/tools/init@sha256:" + hexid(image),
            "containerID": "containerd://" + hexid(ns + name + cname),
            "ready": True, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": ns, "uid": uid_of(ns + "/" + name),
            "resourceVersion": "0", "generateName": rs + "-",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": pod_labels, "annotations": pod_annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                 "uid": uid_of(rs), "controller": True,
                                 "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                               "apiVersion": "v1", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]},
        "spec": {"nodeName": node, "containers": spec_containers,
                 "initContainers": init_containers, "restartPolicy": "Always",
                 "serviceAccountName": "default", "dnsPolicy": "ClusterFirst"},
        "status": {"phase": "Running", "hostIP": "10.0.1.17", "podIP": "10.0.1.%d" %
                   (sum(name.encode()) % 250 + 2), "qosClass": "Burstable",
                   "containerStatuses": statuses, "initContainerStatuses": init_statuses}}


def make_namespace(name, labels=None):
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": uid_of("ns/" + name), "resourceVersion": "0",
                         "labels": dict({"kubernetes.io/metadata.name": name},
                                        **(labels or {}))},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


class Watch:
    """One open watch connection, as the server sees it."""

    def __init__(self, kind, rv, node):
        self.kind = kind
        self.rv = rv
        self.node = node
        self.drop = False
        self.gone = False


class KubeApi:
    """The cluster's state, its history of events and the HTTP server over them."""

    def __init__(self, token="token-1", node="node-a", port=0):
        self.token = token
        self.node = node
        self.port = port
        self.lock = threading.Condition()
        self.rv = 1000
        self.compacted = 0
        self.pods = {}
        self.namespaces = {}
        self.history = []  # (rv, kind, type, object)
        self.watches = []
        self.snapshots = {}
        self.gone_mode = "event"
        self.split = True
        self.delay_get = 0.0
        self.latency = dict.fromkeys(KINDS, 0.0)
        self.faults = []
        self.t0 = time.monotonic()
        self.random = random.Random(7)
        self.churning = None
        self.reset_stats()

    # ---- lifecycle ----

    def start(self):
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.api = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_churn()
        with self.lock:
            for w in self.watches:
                w.drop = True
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    # ---- counters ----

    def reset_stats(self):
        with self.lock:
            self.counts = {"list": 0, "watch": 0, "get": 0, "kubelet": 0, "unauthorized": 0,
                           "gone": 0, "throttled": 0, "failed": 0, "reset": 0}
            self.gets = {}
            self.watch_rvs = []
            self.max_watches = 0
            self.log = []
        return True

    def stats(self):
        """The counters; log is every request: {kind, path, t, done, status} with t and
        done in seconds since the server started (done None while unanswered), status
        the HTTP status, or "reset", and for a fault its retry_after (seconds, None) and
        date (whether it went as an HTTP-date)."""
        with self.lock:
            return {"counts": dict(self.counts), "gets": dict(self.gets),
                    "watch_rvs": list(self.watch_rvs), "open_watches": len(self.watches),
                    "max_watches": self.max_watches, "rv": self.rv, "pods": len(self.pods),
                    "log": [dict(e) for e in self.log], "now": self.now()}

    def now(self):
        return time.monotonic() - self.t0

    def _arrive(self, kind, path):
        """Counts and logs a request as it comes; returns its log entry. Its done time
        is stamped as the answer starts (_answered)."""
        with self.lock:
            entry = {"kind": kind, "path": path, "t": self.now(), "done": None,
                     "status": None}
            if kind is not None:
                self.counts[kind] += 1
                self.log.append(entry)
            if kind == "get":
                self.gets[pod_of(path)] = self.gets.get(pod_of(path), 0) + 1
            return entry

    def _answered(self, entry, status):
        with self.lock:
            if entry is not None and entry["status"] is None:
                entry["status"] = status
                entry["done"] = self.now()

    def node_pods(self):
        """{ns/name: {"uid", "labels", "containers": [ids]}} of the node's pods, to compare."""
        with self.lock:
            out = {}
            for (ns, name), p in self.pods.items():
                if p["spec"].get("nodeName") != self.node:
                    continue
                out[ns + "/" + name] = {
                    "uid": p["metadata"]["uid"], "labels": p["metadata"].get("labels", {}),
                    "version": p["metadata"]["labels"].get("version", "")}
            return out

    # ---- changes ----

    def _event(self, kind, etype, obj):
        """Bumps the version, stamps obj with it and records the event. Lock held."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, kind, etype, copy.deepcopy(obj)))
        if len(self.history) > 20000:
            del self.history[:10000]
            self.compacted = self.history[0][0] - 1
        self.lock.notify_all()

    def add_pod(self, ns, name, node=None, **kw):
        with self.lock:
            pod = make_pod(ns, name, node or self.node, **kw)
            self.pods[(ns, name)] = pod
            self._event("pods", "ADDED", pod)
            return pod["metadata"]["resourceVersion"]

    def add_pods(self, n, ns="default", prefix="app", node=None):
        for i in range(n):
            self.add_pod(ns if i % 3 else ns + "-b", "%s%d-%s-%s" % (
                prefix, i % 7, hexid("rs%d" % i, 10), hexid("p%d" % i, 5)), node=node)
        return True

    def modify_pod(self, ns, name, labels=None, annotations=None):
        with self.lock:
            pod = self.pods[(ns, name)]
            pod["metadata"]["labels"].update(labels or {})
            pod["metadata"]["annotations"].update(annotations or {})
            self._event("pods", "MODIFIED", pod)
            return pod["metadata"]["resourceVersion"]

    def delete_pod(self, ns, name):
        with self.lock:
            pod = self.pods.pop((ns, name))
            self._event("pods", "DELETED", pod)
            return pod["metadata"]["resourceVersion"]

    def add_namespace(self, name, labels=None):
        with self.lock:
            obj = make_namespace(name, labels)
            self.namespaces[name] = obj
            self._event("namespaces", "ADDED", obj)
            return obj["metadata"]["resourceVersion"]

    def modify_namespace(self, name, labels):
        with self.lock:
            obj = self.namespaces[name]
            obj["metadata"]["labels"].update(labels)
            self._event("namespaces", "MODIFIED", obj)
            return obj["metadata"]["resourceVersion"]

    def bookmark(self):
        """Moves the version on with a BOOKMARK to every watch (no object change)."""
        with self.lock:
            self.rv += 1
            self.history.append((self.rv, "*", "BOOKMARK", None))
            self.lock.notify_all()
            return str(self.rv)

    # ---- faults ----

    def set_token(self, token):
        with self.lock:
            self.token = token
        return True

    def set(self, **kw):
        """Sets plain settings: gone_mode ("event"/"http"), split, delay_get."""
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)
        return True

    # ---- a slow, throttling or failing server ----

    def set_latency(self, seconds=None, **kinds):
        """Delays every answer: seconds for every kind, or list=, watch=, get=, kubelet=."""
        with self.lock:
            for k in KINDS:
                if seconds is not None:
                    self.latency[k] = float(seconds)
                if k in kinds:
                    self.latency[k] = float(kinds[k])
        return True

    def _add_fault(self, mode, kinds, share, seconds, count, retry_after, date):
        until = None if seconds is None else time.monotonic() + seconds
        with self.lock:
            self.faults.append(Fault(mode, kinds, share, until, count, retry_after, date))
        return True

    def throttle(self, kinds=None, share=1.0, seconds=None, count=None, retry_after=1,
                 date=False):
        """429 TooManyRequests with Retry-After: retry_after seconds (an HTTP-date when
        date is true), for a share of the requests of kinds (default all), during
        seconds from now or for count requests (default: until clear_faults)."""
        return self._add_fault("429", kinds, share, seconds, count, retry_after, date)

    def fail(self, kinds=None, share=1.0, seconds=None, count=None, mode="503",
             retry_after=None):
        """mode "503": 503 ServiceUnavailable (with Retry-After when retry_after is set);
        mode "reset": the connection is reset half-way through the answer. Same
        selection as throttle()."""
        return self._add_fault(mode, kinds, share, seconds, count, retry_after, False)

    def clear_faults(self):
        with self.lock:
            self.faults = []
        return True

    def _fault(self, kind):
        """The fault this request gets, or None; counts it. Lock taken here."""
        with self.lock:
            now = time.monotonic()
            self.faults = [f for f in self.faults if (f.until is None or now < f.until)
                           and (f.count is None or f.count > 0)]
            for f in self.faults:
                if kind in f.kinds and self.random.random() < f.share:
                    if f.count is not None:
                        f.count -= 1
                    key = {"429": "throttled", "503": "failed"}.get(f.mode, "reset")
                    self.counts[key] += 1
                    return f
            return None

    def drop_watches(self):
        with self.lock:
            for w in self.watches:
                w.drop = True
            self.lock.notify_all()
        return True

    def error_410(self):
        with self.lock:
            for w in self.watches:
                w.gone = True
            self.lock.notify_all()
        return True

    def compact(self):
        """Every version so far is too old to watch from (the next watch gets 410):
        history is dropped past a change no watcher saw."""
        with self.lock:
            self.rv += 1
            self.compacted = self.rv
            self.history.clear()
        return True

    def churn(self, rate=50.0, seconds=5.0, ns="churn"):
        """Adds, modifies and deletes pods of namespace ns at rate changes/s, in a thread."""
        stop = threading.Event()

        def run():
            n = 0
            t0 = time.monotonic()
            while not stop.is_set() and time.monotonic() - t0 < seconds:
                n += 1
                with self.lock:
                    mine = [k for k in self.pods if k[0] == ns]
                r = self.random.random()
                if not mine or (r < 0.4 and len(mine) < 400):
                    self.add_pod(ns, "churn%d-%s-%s" % (n % 5, hexid("c", 10), hexid("%d" % n, 5)))
                elif r < 0.8:
                    k = self.random.choice(mine)
                    self.modify_pod(k[0], k[1], labels={"version": str(n)})
                else:
                    k = self.random.choice(mine)
                    self.delete_pod(k[0], k[1])
                stop.wait(max(0.0, t0 + n / rate - time.monotonic()))

        self.churning = (stop, threading.Thread(target=run, daemon=True))
        self.churning[1].start()
        return True

    def churn_wait(self):
        if self.churning is not None:
            self.churning[1].join()
            self.churning = None
        return True

    def stop_churn(self):
        if self.churning is not None:
            self.churning[0].set()
        return self.churn_wait()

    # ---- serving ----

    def _objects(self, kind, node):
        if kind == "pods":
            items = [p for k, p in sorted(self.pods.items())
                     if node is None or p["spec"].get("nodeName") == node]
        else:
            items = [o for k, o in sorted(self.namespaces.items())]
        return copy.deepcopy(items)

    def list(self, kind, node, limit, cont):
        """A page of a list: (status, body). Lock taken here."""
        with self.lock:
            if cont:
                snap = self.snapshots.pop(cont, None)
                if snap is None:
                    return 410, status_obj(410, "Expired", "The provided continue parameter "
                                           "is too old")
                rv, items = snap
            else:
                rv, items = self.rv, self._objects(kind, node)
            meta = {"resourceVersion": str(rv)}
            if limit and len(items) > limit:
                token = hexid("%s%d%f" % (kind, rv, time.monotonic()), 24)
                self.snapshots[token] = (rv, items[limit:])
                items = items[:limit]
                meta["continue"] = token
                meta["remainingItemCount"] = len(self.snapshots[token][1])
            kind_name = "PodList" if kind == "pods" else "NamespaceList"
            return 200, {"kind": kind_name, "apiVersion": "v1", "metadata": meta, "items": items}

    def get(self, ns, name):
        with self.lock:
            pod = self.pods.get((ns, name))
            if pod is None:
                return 404, status_obj(404, "NotFound", 'pods "%s" not found' % name)
            return 200, copy.deepcopy(pod)

    def kubelet_pods(self):
        with self.lock:
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": self._objects("pods", self.node)}

    def _pending(self, w):
        """The events a watch has not seen yet, and the fault to act on. Lock held."""
        out = []
        for rv, kind, etype, obj in self.history:
            if rv <= w.rv:
                continue
            if etype == "BOOKMARK":
                meta = {"resourceVersion": str(rv)}
                out.append((rv, {"type": "BOOKMARK", "object": {
                    "kind": "Pod" if w.kind == "pods" else "Namespace", "apiVersion": "v1",
                    "metadata": meta}}))
            elif kind == w.kind and (w.node is None or obj["spec"].get("nodeName") == w.node):
                out.append((rv, {"type": etype, "object": obj}))
        return out


def pod_of(path):
    """"ns/name" of a GET's path /api/v1/namespaces/NS/pods/NAME."""
    return "/".join(path.split("/")[4:7:2])


def request_kind(path, parts, query):
    """"list", "watch", "get" or "kubelet", or None for a path the API does not serve."""
    if path == "/pods":
        return "kubelet"
    if parts[:2] == ["api", "v1"] and len(parts) == 6 and parts[2] == "namespaces" \
            and parts[4] == "pods":
        return "get"
    if path in ("/api/v1/pods", "/api/v1/namespaces"):
        return "watch" if query.get("watch", ["0"])[0] in ("1", "true") else "list"
    return None


def selector_node(query):
    sel = query.get("fieldSelector", [""])[0]
    for part in sel.split(","):
        if part.startswith("spec.nodeName="):
            return part[len("spec.nodeName="):]
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def handle_error(self, request, addr):
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    entry = None

    def reply(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        # Stamped before a byte goes: the client cannot have the answer any sooner.
        self.server.api._answered(self.entry, code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reset(self, head):
        """Writes head, then resets the connection (RST, not a clean close)."""
        self.server.api._answered(self.entry, "reset")
        self.wfile.write(head)
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def faulted(self, f, kind):
        """Answers with fault f as the API server would."""
        headers = []
        with self.server.api.lock:
            self.entry["retry_after"] = f.retry_after
            self.entry["date"] = f.date
        if f.retry_after is not None:
            value = str(int(f.retry_after))
            if f.date:
                value = email.utils.formatdate(time.time() + f.retry_after, usegmt=True)
            headers.append(("Retry-After", value))
        if f.mode == "429":
            return self.reply(429, status_obj(
                429, "TooManyRequests", "Too many requests, please try again later.",
                {"retryAfterSeconds": int(f.retry_after or 1)}), headers)
        if f.mode == "503":
            return self.reply(503, status_obj(
                503, "ServiceUnavailable", "the server is currently unable to handle the "
                "request", {"causes": [{"reason": "UnexpectedServerResponse",
                                        "message": "etcdserver: leader changed"}]}), headers)
        if kind == "watch":
            # Accepted, one BOOKMARK at the version asked for, then cut inside the next event.
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            rv = q.get("resourceVersion", ["0"])[0] or "0"
            event = json.dumps({"type": "BOOKMARK", "object": {
                "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}})
            event = event.encode() + b"\n"
            return self.reset(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n"
                              b"40\r\n{\"type\":\"ADD" % (len(event), event))
        return self.reset(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 4096\r\n\r\n{\"kind\":\"PodList\",\"items\":[")

    def authorized(self):
        api = self.server.api
        got = self.headers.get("Authorization", "")
        with api.lock:
            ok = got == "Bearer " + api.token
            if not ok:
                api.counts["unauthorized"] += 1
        if not ok:
            self.reply(401, status_obj(401, "Unauthorized", "Unauthorized"))
        return ok

    def do_POST(self):
        api = self.server.api
        self.entry = None
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path != "/_control":
            return self.reply(404, status_obj(404, "NotFound", "not found"))
        op = req.pop("op", "")
        if op.startswith("_") or not hasattr(api, op):
            return self.reply(400, {"error": "unknown op " + op})
        self.reply(200, {"result": getattr(api, op)(**req)})

    def do_GET(self):
        api = self.server.api
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = [p for p in u.path.split("/") if p]
        self.entry = None
        if u.path == "/_stats":
            return self.reply(200, api.stats())
        kind = request_kind(u.path, parts, q)
        self.entry = api._arrive(kind, u.path)
        if not self.authorized():
            return None
        if kind is not None:
            with api.lock:
                delay = api.latency[kind]
            if kind == "get":
                delay = max(delay, api.delay_get)
            if delay > 0:
                time.sleep(delay)
            f = api._fault(kind)
            if f is not None:
                return self.faulted(f, kind)
        if u.path == "/pods":
            return self.reply(*api.kubelet_pods())
        if parts[:2] == ["api", "v1"] and len(parts) == 6 and parts[2] == "namespaces" \
                and parts[4] == "pods":
            return self.reply(*api.get(parts[3], parts[5]))
        if u.path in ("/api/v1/pods", "/api/v1/namespaces"):
            kind = parts[2]
            node = selector_node(q) if kind == "pods" else None
            if q.get("watch", ["0"])[0] in ("1", "true"):
                return self.watch(kind, node, q)
            limit = int(q.get("limit", ["0"])[0] or 0)
            return self.reply(*api.list(kind, node, limit, q.get("continue", [""])[0]))
        return self.reply(404, status_obj(404, "NotFound", "the server could not find the "
                                          "requested resource"))

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def frame(self, api, obj):
        """Writes one event line, cut into random chunks when api.split is on."""
        line = json.dumps(obj).encode() + b"\n"
        if not api.split or len(line) < 4:
            return self.chunk(line)
        cut = sorted(api.random.sample(range(1, len(line)), 2))
        for a, b in ((0, cut[0]), (cut[0], cut[1]), (cut[1], len(line))):
            self.chunk(line[a:b])

    def watch(self, kind, node, q):
        api = self.server.api
        rv = int(q.get("resourceVersion", ["0"])[0] or 0)
        timeout = float(q.get("timeoutSeconds", ["1800"])[0])
        w = Watch(kind, rv, node)
        with api.lock:
            api.watch_rvs.append(rv)
            too_old = rv and rv < api.compacted
            if too_old:
                api.counts["gone"] += 1
            mode = api.gone_mode
        if too_old and mode == "http":
            return self.reply(410, status_obj(410, "Expired", "too old resource version: "
                                              "%d (%d)" % (rv, api.compacted)))
        api._answered(self.entry, 200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if too_old:
            w.gone = True
        elif rv == 0:
            with api.lock:
                initial = [{"type": "ADDED", "object": o} for o in api._objects(kind, node)]
                w.rv = api.rv
            for ev in initial:
                self.frame(api, ev)
        with api.lock:
            api.watches.append(w)
            api.max_watches = max(api.max_watches, len(api.watches))
        try:
            self.stream(api, w, time.monotonic() + timeout)
        finally:
            with api.lock:
                api.watches.remove(w)

    def stream(self, api, w, deadline):
        """Sends events until the deadline, a drop or a 410; ends the stream or cuts it."""
        while True:
            with api.lock:
                while not (w.drop or w.gone or api._pending(w)) and time.monotonic() < deadline:
                    api.lock.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                events = api._pending(w)
                drop, gone = w.drop, w.gone
            if gone:
                self.frame(api, {"type": "ERROR", "object": status_obj(
                    410, "Expired", "too old resource version")})
                self.chunk(b"")
                self.close_connection = True
                return
            if drop:
                self.wfile.write(b"40\r\n{\"type\":\"MODIFIED\",\"obj")
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            for rv, ev in events:
                self.frame(api, ev)
                w.rv = rv
            if time.monotonic() >= deadline:
                self.chunk(b"")
                return


# ---- a node's container logs and what the agent made of them, for the agent's tests ----

class NodeLogs:
    """Container log files as the kubelet lays them out, <pod>_<ns>_<container>-<id>.log
    in CRI format, one container per pod. Every line's log text starts with a unique
    id "<file>:<n>", so that a test finds each line exactly once in what came out."""

    PAD = "x" * 96

    def __init__(self, directory):
        self.dir = directory
        self.files = []  # (pod, ns, container, lines written)
        os.makedirs(directory, exist_ok=True)

    def path(self, i):
        pod, ns, container, _ = self.files[i]
        return os.path.join(self.dir, "%s_%s_%s-%s.log" % (pod, ns, container,
                                                            hexid(ns + pod + container)))

    def add(self, pod, ns, lines, container=None):
        """A log file for pod (its app container) with lines lines; returns its index."""
        container = container or pod.rsplit("-", 2)[0]
        self.files.append((pod, ns, container, 0))
        self.append(len(self.files) - 1, lines)
        return len(self.files) - 1

    def append(self, i, lines):
        pod, ns, container, n = self.files[i]
        with open(self.path(i), "a") as f:
            f.write("".join("2024-05-01T10:00:%02d.%09dZ stdout F %d:%d %s\n" % (
                (n + j) // 1000000000 % 60, (n + j) % 1000000000, i, n + j, self.PAD)
                for j in range(lines)))
        self.files[i] = (pod, ns, container, n + lines)

    def total(self):
        return sum(f[3] for f in self.files)


MEM_BUF_LIMIT = 4 << 20  # the tail input's in run_tail_kubernetes()


def rss_bound(mem_buf_limit, files, pods):
    """The README's bound on the agent's memory (Delivery) for AGENT_CONFIG: 9 MiB fixed
    with the pod cache's HTTP client, 8 MiB of chunk pool, the tail input's mem_buf_limit
    (every byte held for it: open chunks, chunks waiting for their pod, the output's queue,
    the write in flight) and one read of 64 KiB, 5 KiB per file, 1.6 KiB per pod; plus
    8 MiB the formula leaves to the allocator and to the JSON the file output writes."""
    return (9 << 20) + (8 << 20) + mem_buf_limit + (64 << 10) + files * 5 * 1024 + \
        pods * 1640 + (8 << 20)


RSS_BOUND = rss_bound(MEM_BUF_LIMIT, 50, 50)  # 29.4 MiB for the 50 files of start_node()


def node_with_logs(api, logs, lines, here=43, elsewhere=2, nowhere=5):
    """Pods with one log file each: here of them on api.node, elsewhere on node-z (the
    node's list does not show them, a GET finds them), nowhere in no API at all. Returns
    (enriched, flagged): the ns/name of the pods that exist, and of those that do not."""
    enriched, flagged = set(), set()
    for i in range(here + elsewhere + nowhere):
        pod, ns = "app%d-7c9d8f6b5-%05d" % (i % 7, i), "shop" if i % 3 else "web"
        if i < here + elsewhere:
            api.add_pod(ns, pod, node=api.node if i < here else "node-z")
            enriched.add(ns + "/" + pod)
        else:
            flagged.add(ns + "/" + pod)
        logs.add(pod, ns, lines)
    return enriched, flagged


def start_node(d, lines):
    """A started API server for node-a and, under d/containers, the logs of the pods of
    node_with_logs(). Returns (api, logs, enriched, flagged, unshown): unshown are the
    ns/name of the pods the node's list does not show (elsewhere and nowhere)."""
    api = KubeApi(token="token-1", node="node-a").start()
    logs = NodeLogs(os.path.join(d, "containers"))
    enriched, flagged = node_with_logs(api, logs, lines)
    unshown = {"%s/%s" % (f[1], f[0]) for f in logs.files[43:]}
    return api, logs, enriched, flagged, unshown


AGENT_CONFIG = """
service:
  flush: 200ms
  log_level: info
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %(logs)s/*.log
      read_from_head: on
      multiline.parser: cri
      db: %(dir)s/tail.db
      mem_buf_limit: %(mem_buf_limit)d
  filters:
    - name: kubernetes
      match: kube.*
      kube_url: %(url)s
      kube_token_file: %(token)s
      node_name: %(node)s
      labels: off
      annotations: off
%(options)s  outputs:
    - name: file
      match: kube.*
      path: %(dir)s/out
      file: all
"""


def run_tail_kubernetes(d, api, logs, options="", mem_buf_limit=MEM_BUF_LIMIT, during=None,
                        timeout=90):
    """Runs build/gleaner on tail (read_from_head, mem_buf_limit) -> kubernetes (options:
    more lines of its YAML, indented by 6) -> file, until every line of logs is out;
    during(p, target) runs once the agent started (to change the server meanwhile).
    Stops the agent with SIGTERM. Returns a dict: proc, rc, out (the file), secs, rss
    (its peak), stats (the server's, once all was out)."""
    import lib
    token = lib.write(os.path.join(d, "token"), api.token + "\n")
    os.makedirs(os.path.join(d, "out"), exist_ok=True)
    cfg = lib.write(os.path.join(d, "g.yaml"), AGENT_CONFIG % {
        "logs": logs.dir, "dir": d, "mem_buf_limit": mem_buf_limit, "url": api.url,
        "token": token, "node": api.node, "options": options})
    target = os.path.join(d, "out", "all")
    t0 = time.time()
    p = lib.start(cfg)
    if during is not None:
        during(p, target)
    lib.wait_for("%d lines in %s" % (logs.total(), target),
                 lambda: lib.count_lines(target) >= logs.total() or p.poll() is not None,
                 timeout=timeout)
    if p.poll() is not None:
        lib.fail("the agent exited (status %s) before every line was out; its log ends:\n%s"
                 % (p.returncode, lib.stderr_of(p)[-3000:]))
    run = {"proc": p, "out": target, "secs": time.time() - t0, "rss": peak_rss(p.pid)}
    time.sleep(0.3)
    run["stats"] = api.stats()
    run["rc"] = lib.stop(p)
    return run


def figures(run, logs):
    """One line of what a run measured: lines, time, peak RSS and requests by kind."""
    c = run["stats"]["counts"]
    return ("%d lines in %.1fs, peak RSS %.1f MiB; lists %d, watches %d, GETs %d, 429 %d, "
            "503 %d, resets %d" % (logs.total(), run["secs"], run["rss"] / 1048576.0,
                                   c["list"], c["watch"], c["get"], c["throttled"],
                                   c["failed"], c["reset"]))


def read_records(path):
    """The records the file output wrote (one JSON object a line), one at a time."""
    with open(path) as f:
        for line in f:
            yield json.loads(line)


def check_delivery(records, logs, enriched, flagged):
    """Every line exactly once; the lines of pods in enriched (ns/name) carry their pod's
    metadata, those of pods in flagged carry meta_missing; any other pod's lines carry
    one or the other. records may be read as they are checked. Returns a list of
    complaints (empty when all holds) and the count of lines enriched per pod."""
    seen = {}
    bad = []
    per_pod = {}
    for r in records:
        key = r.get("log", "").split(" ", 1)[0]
        seen[key] = seen.get(key, 0) + 1
        k = r.get("kubernetes", {})
        pod = "%s/%s" % (k.get("namespace_name"), k.get("pod_name"))
        has_meta = "pod_id" in k and k.get("host") is not None and "meta_missing" not in k
        is_flagged = k.get("meta_missing") is True and "labels" not in k
        if pod in enriched and not has_meta:
            bad.append("not enriched: %r" % r)
        elif pod in flagged and not is_flagged:
            bad.append("not flagged meta_missing: %r" % r)
        elif not (has_meta or is_flagged):
            bad.append("neither enriched nor flagged: %r" % r)
        if has_meta and k.get("pod_id") != uid_of(pod):
            bad.append("wrong pod's metadata: %r" % r)
        if has_meta:
            per_pod[pod] = per_pod.get(pod, 0) + 1
        if len(bad) > 20:
            break
    want = {"%d:%d" % (i, n) for i, f in enumerate(logs.files) for n in range(f[3])}
    missing = want - set(seen)
    dup = [key for key, n in seen.items() if n > 1]
    extra = set(seen) - want
    if missing:
        bad.append("%d lines missing, e.g. %s" % (len(missing), sorted(missing)[:5]))
    if dup:
        bad.append("%d lines delivered more than once, e.g. %s" % (len(dup), dup[:5]))
    if extra:
        bad.append("%d lines nobody wrote, e.g. %s" % (len(extra), sorted(extra)[:5]))
    return bad, per_pod


def peak_rss(pid):
    """The process's peak resident memory so far (VmHWM), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def requests_of(stats, kind, status=None):
    """The logged requests of a kind (and answer status), oldest first."""
    return [e for e in stats["log"] if e["kind"] == kind and
            (status is None or e["status"] == status)]


def refused_gets(stats):
    """{ns/name: GETs of that pod refused (429, 503) or cut}."""
    out = {}
    for g in requests_of(stats, "get"):
        if g["status"] not in (200, 404):
            out[pod_of(g["path"])] = out.get(pod_of(g["path"]), 0) + 1
    return out


def too_soon(stats, kind, crossing=0.3):
    """Requests of a kind that came before the Retry-After of an earlier 429 or 503 of the
    same kind was over (an HTTP-date counts whole seconds: one less is allowed). One that
    came within crossing seconds of that answer may have been sent before it, in the same
    burst, and waited to be accepted on a connection of its own: it is not counted."""
    out = []
    log = requests_of(stats, kind)
    for e in log:
        if e["status"] not in (429, 503) or not e.get("retry_after"):
            continue
        wait = e["retry_after"] - (1.0 if e.get("date") else 0.0)
        out += [x for x in log if e["done"] + crossing <= x["t"] < e["done"] + wait]
    return out


def busiest_second(entries):
    """The most requests that came within any one second."""
    ts = sorted(e["t"] for e in entries)
    most = 0
    j = 0
    for i, t in enumerate(ts):
        while ts[j] < t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return most


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="token-1")
    ap.add_argument("--node", default="node-a")
    ap.add_argument("--pods", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    api = KubeApi(token=a.token, node=a.node, port=a.port).start()
    api.add_namespace("default", {"team": "core"})
    api.add_pods(a.pods)
    api.add_pods(3, ns="other", prefix="far", node="node-z")
    print(api.port, flush=True)
    # Gone on its own after --lifetime in case whoever started it does not stop it.
    try:
        time.sleep(a.lifetime)
    except KeyboardInterrupt:
        pass
    api.stop()


if __name__ == "__main__":
    main()

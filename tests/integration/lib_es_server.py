"""An Elasticsearch / OpenSearch endpoint for the integration tests: the bulk
API's documented request and response shapes, dynamic mappings, auth,
SigV4, fault injection and a view of what was stored. A library and a
command line tool, not a test (run.sh skips files named lib*).

Flavors (GET / answers as each does): "es7" (Elasticsearch 7.17.21: bulk
items carry "_type": "_doc", a _type other than the index's is refused),
"es8" (8.13.4: "_type" in an action line refuses the whole request, parse
errors are document_parsing_exception) and "os2" (OpenSearch 2.11.1:
"distribution": "opensearch", no types, mapper_parsing_exception).

POST /_bulk and POST /{index}/_bulk (after an optional path_prefix): NDJSON
with Content-Type application/x-ndjson or application/json, ending in a
newline; Content-Encoding gzip is read. Action lines are index, create,
update and delete with _index (or the URL's), _id, _type, pipeline,
routing; sources are JSON objects ({"doc": ..., "doc_as_upsert": true}
for update). The answer is {"took", "errors", "items": [{action: {_index,
_id, _version, result, _shards, _seq_no, _primary_term, status}}]}, an
item's failure being {action: {_index, _id, status, error: {type, reason,
...}}}. filter_path (comma-separated, * for any key) trims the answer.
    - dynamic mapping: the first document to hold a field fixes its type
      (long, float, boolean, date for date-looking strings, text, object;
      dotted keys are objects, as Elasticsearch expands them); a later value
      that does not fit is 400 mapper_parsing_exception (es8:
      document_parsing_exception) with Elasticsearch's reason text; more than
      1000 fields in an index is 400 illegal_argument_exception.
    - create of an existing _id: 409 version_conflict_engine_exception;
      update of a missing one: 404 document_missing_exception.
    - data streams (indices matching data_streams, default logs-*-*): only
      op_type create, and @timestamp is required.
    - an unknown ingest pipeline: the whole request is 400.
    - a body over max_content_length (default 100 MiB, as
      http.max_content_length): 413 and the connection closed.
Auth (any of): users {name: password} for Basic, api_keys [base64(id:key)]
for ApiKey (401 security_exception otherwise), aws {"region", "service"
(es or aoss), "access_key", "secret_key", "session_token"} for SigV4
recomputed with botocore (403 {"message"} as Amazon OpenSearch Service
answers otherwise; aoss needs X-Amz-Content-Sha256).

Faults (constructor keywords, set_faults(), POST /_test/control):
    item_429_rate     fraction of items answered 429 es_rejected_execution_exception
    request_503_rate  fraction of bulk requests answered 503 (no master)
    request_429_rate  fraction of bulk requests answered 429 as a whole
    drop_rate         fraction whose connection is closed without an answer
    delay, delay_rate seconds to wait before answering, and for which fraction
    max_content_length  bytes of body above which the answer is 413
Each decision depends only on the seed and the request's ordinal (items: and
their position), so a run is repeatable whatever the thread interleaving.

Library:
    with EsServer(flavor="es8", seed=1, item_429_rate=0.1) as s:
        s.url                    # http://127.0.0.1:PORT
        s.docs("idx")            # {_id: source (or what keep= made of it)}
        s.count("idx"); s.indices(); s.mapping("idx"); s.index_type("idx")
        s.stats(); s.reset_stats(); s.set_faults(request_503_rate=0.05)
        s.down(); s.up()         # refused, then back on the same port (CwlServer's)
keep=callable(source) stores what it returns instead of the source (big runs).

run_agent() and dummy_to_es() run the agent for the es tests.

Test-only endpoints (no auth): GET /_test/stats, GET /_test/docs?index=I,
POST /_test/control (fault settings and "reset_stats": true).

Command line: python3 lib_es_server.py [--flavor F] [--port N] [--port-file F]
[--seed N] [--item-429-rate F] [--request-503-rate F] [--count-only] [--verbose]
"""
import argparse
import base64
import calendar
import gzip
import hashlib
import hmac
import json
import os
import random
import re
import sys
import threading
import time
import uuid
import zlib
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.awsrequest
import botocore.credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The HTTP plumbing is the CloudWatch Logs test server's (a threaded server, connections
# tracked so stop() closes them all, its request lifecycle), and so is the SigV4 check:
# botocore's signer over exactly the headers the client signed.
from lib_cwl_server import CwlServer, _Signer  # noqa: E402
from lib_cwl_server import _Handler as _CwlHandler  # noqa: E402
from lib_cwl_server import _HTTPServer, serve  # noqa: E402

FLAVORS = {
    "es7": {"number": "7.17.21", "dist": None, "lucene": "8.11.3", "types": True,
            "parse": "mapper_parsing_exception",
            "tagline": "You Know, for Search"},
    "es8": {"number": "8.13.4", "dist": None, "lucene": "9.10.0", "types": False,
            "parse": "document_parsing_exception",
            "tagline": "You Know, for Search"},
    "os2": {"number": "2.11.1", "dist": "opensearch", "lucene": "9.7.0", "types": False,
            "parse": "mapper_parsing_exception",
            "tagline": "The OpenSearch Project: https://opensearch.org/"},
}
FAULT_DEFAULTS = {
    "item_429_rate": 0.0,
    "request_503_rate": 0.0,
    "request_429_rate": 0.0,
    "drop_rate": 0.0,
    "delay": 0.0,
    "delay_rate": 1.0,
    "max_content_length": 100 << 20,
}
FIELDS_LIMIT = 1000
MAX_SKEW_S = 15 * 60
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
                     r"(Z|[+-]\d{2}:?\d{2})?$")
ACTIONS = ("index", "create", "update", "delete")
ACTION_PARAMS = {"_index", "_id", "_type", "pipeline", "routing", "require_alias", "if_seq_no",
                 "if_primary_term", "version", "version_type", "retry_on_conflict",
                 "dynamic_templates", "_source"}
REJECTED_REASON = ("rejected execution of org.elasticsearch.action.support.replication."
                   "TransportWriteAction$1/WrappedActionListener{} on EsThreadPoolExecutor"
                   "[name = node-1/write, queue capacity = 10000, task execution EWMA = 1.2ms]")
_MISSING = object()


class EsError(Exception):
    """A whole request's error: HTTP status and the body to answer."""

    def __init__(self, status, body, headers=None):
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


class ItemError(Exception):
    """One item's failure: status, error type, reason."""

    def __init__(self, status, kind, reason):
        super().__init__(reason)
        self.status = status
        self.kind = kind
        self.reason = reason


class Drop(Exception):
    """The connection is closed without an answer."""


def es_error(status, kind, reason, **extra):
    """The {"error": {"root_cause": [...], "type", "reason"}, "status"} shape."""
    cause = dict({"type": kind, "reason": reason}, **extra)
    return EsError(status, {"error": dict(cause, root_cause=[cause]), "status": status})


def preview(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s=%s" % (k, preview(x)) for k, x in v.items()) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)[:100]


def kind_of(v):
    """The field type dynamic mapping gives a JSON value (None for null)."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "date" if DATE_RE.match(v) else "text"
    if isinstance(v, dict):
        return "object"
    return None


def fits(t, v):
    """Whether a scalar value can be indexed into a field of type t (coercion as ES does)."""
    if t == "text":
        return isinstance(v, (str, int, float, bool))
    if t in ("long", "float"):
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            return True
        try:
            float(v)
            return True
        except (TypeError, ValueError):
            return False
    if t == "boolean":
        return isinstance(v, bool) or v in ("true", "false", "")
    if t == "date":
        return (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, str) and (DATE_RE.match(v) is not None or v.isdigit()))
    return False


def filter_path(obj, patterns):
    """The answer trimmed to the paths of filter_path, as Elasticsearch does it."""
    def walk(o, pats):
        if any(not p for p in pats):
            return o
        if isinstance(o, list):
            out = [y for y in (walk(x, pats) for x in o) if y is not _MISSING]
            return out if out else _MISSING
        if isinstance(o, dict):
            out = {}
            for k, v in o.items():
                sub = [p[1:] for p in pats if p[0] in ("*", k)]
                if sub:
                    y = walk(v, sub)
                    if y is not _MISSING:
                        out[k] = y
            return out if out else _MISSING
        return _MISSING
    r = walk(obj, [tuple(p.split(".")) for p in patterns if p])
    return {} if r is _MISSING else r


class Index:
    def __init__(self, name, data_stream):
        self.name = name
        self.data_stream = data_stream
        self.uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes)[:22].decode()
        self.mapping = {}
        self.type = None
        self.docs = {}
        self.seq = 0


class EsServer:
    """The endpoint: indices, auth, faults and statistics under one lock; the
    HTTP side runs in a thread from start() to stop()."""

    def __init__(self, flavor="es8", seed=1, port=0, users=None, api_keys=None, aws=None,
                 path_prefix="", pipelines=("add-pipeline-field",), data_streams=("logs-*-*",),
                 keep=None, verbose=False, **faults):
        if flavor not in FLAVORS:
            raise ValueError("flavor must be one of %s" % ", ".join(FLAVORS))
        self.flavor = flavor
        self.info = FLAVORS[flavor]
        self.seed = seed
        self.users = dict(users or {})
        self.api_keys = set(api_keys or ())
        self.aws = dict(aws) if aws else None
        self.path_prefix = path_prefix.rstrip("/")
        self.pipelines = set(pipelines)
        self.data_streams = [re.compile("^" + re.escape(p).replace(r"\*", ".*") + "$")
                             for p in data_streams]
        self.keep = keep
        self.verbose = verbose
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._indices = {}
        self._faults = dict(FAULT_DEFAULTS)
        self.set_faults(**faults)
        self._ordinal = 0
        self._reset_counters()
        self._conns = set()
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.tls = None
        self._httpd.cwl = self._httpd.es = self  # cwl: for the inherited handler
        self.port = self._httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = None
        self._down = False

    # ---- lifecycle: the CloudWatch Logs server's (threads, connections, handshake,
    # going down and coming back) ----

    start, stop = CwlServer.start, CwlServer.stop
    down, up, is_down = CwlServer.down, CwlServer.up, CwlServer.is_down
    reset_connections = CwlServer.reset_connections
    __enter__, __exit__ = CwlServer.__enter__, CwlServer.__exit__
    _handshake = CwlServer._handshake

    # ---- faults ----

    def set_faults(self, **kw):
        """Changes fault settings and returns them all; a bad name or value raises ValueError."""
        with self._lock:
            for k, v in kw.items():
                if k not in FAULT_DEFAULTS:
                    raise ValueError("unknown fault setting %r" % k)
                if k.endswith("_rate") and not 0 <= v <= 1:
                    raise ValueError("%s must be between 0 and 1" % k)
                self._faults[k] = v
            return dict(self._faults)

    def _decide(self):
        """The request's fault ("unavailable", "throttle", "drop" or None), its delay,
        and the random source its items' decisions draw from."""
        with self._lock:
            n = self._ordinal
            self._ordinal += 1
            f = dict(self._faults)
        rng = random.Random("%s/%d" % (self.seed, n))
        draws = [rng.random() for _ in range(4)]
        fault = None
        if draws[0] < f["drop_rate"]:
            fault = "drop"
        elif draws[1] < f["request_503_rate"]:
            fault = "unavailable"
        elif draws[2] < f["request_429_rate"]:
            fault = "throttle"
        delay = float(f["delay"]) if f["delay"] > 0 and draws[3] < f["delay_rate"] else 0.0
        return fault, delay, rng, f["item_429_rate"]

    # ---- what tests read ----

    def docs(self, index):
        """{_id: source (or what keep made of it)} of one index (empty when missing)."""
        with self._lock:
            ix = self._indices.get(index)
            return {k: v[1] for k, v in ix.docs.items()} if ix else {}

    def count(self, index):
        with self._lock:
            ix = self._indices.get(index)
            return len(ix.docs) if ix else 0

    def indices(self):
        with self._lock:
            return sorted(self._indices)

    def index_type(self, index):
        """The mapping type an es7 index was given by a _type (None: none was)."""
        with self._lock:
            ix = self._indices.get(index)
            return ix.type if ix else None

    def mapping(self, index):
        with self._lock:
            ix = self._indices.get(index)
            return dict(ix.mapping) if ix else {}

    def stats(self):
        """Counts so far: requests by kind and status, items by status and error
        type, bulk requests (items, body bytes as sent and raw, gzip, status),
        the most bulk requests seen in flight at once, results (created,
        updated, conflicts), auth failures, signatures checked."""
        with self._lock:
            return json.loads(json.dumps({
                "requests": self._requests, "items": self._items, "errors": self._errors,
                "bulks": self._bulks, "max_concurrent": self._max_inflight,
                "results": self._results, "auth_failures": self._auth_failures,
                "signatures": self._signatures, "dropped": self._dropped,
                "client_closed": self._client_closed, "user_agents": self._agents}))

    def reset_stats(self):
        with self._lock:
            self._reset_counters()

    def _reset_counters(self):
        self._requests = {}
        self._items = {}
        self._errors = {}
        self._bulks = []
        self._inflight = 0
        self._max_inflight = 0
        self._results = {}
        self._auth_failures = 0
        self._signatures = 0
        self._dropped = 0
        self._client_closed = 0
        self._agents = {}

    def _enter(self):
        with self._lock:
            self._inflight += 1
            self._max_inflight = max(self._max_inflight, self._inflight)

    def _leave(self):
        with self._lock:
            self._inflight -= 1

    def _count(self, kind, status):
        with self._lock:
            by = self._requests.setdefault(kind, {})
            by[str(status)] = by.get(str(status), 0) + 1

    # ---- auth ----

    def authenticate(self, method, path, headers, body):
        """Checks Basic, ApiKey or SigV4 as configured; raises EsError as the server would."""
        if self.aws is not None:
            self._verify_sigv4(method, path, headers, body)
            return
        if not self.users and not self.api_keys:
            return
        auth = headers.get("Authorization") or ""
        scheme, _, cred = auth.partition(" ")
        user = None
        if scheme == "Basic":
            try:
                user, _, pw = base64.b64decode(cred, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, pw = "", None
            if self.users.get(user) is not None and hmac.compare_digest(self.users[user], pw):
                return
        elif scheme == "ApiKey" and cred in self.api_keys:
            return
        with self._lock:
            self._auth_failures += 1
        reason = ("unable to authenticate user [%s] for REST request [%s]" % (user, path)
                  if user is not None or scheme == "ApiKey"
                  else "missing authentication credentials for REST request [%s]" % path)
        e = es_error(401, "security_exception", reason,
                     header={"WWW-Authenticate": ['Basic realm="security" charset="UTF-8"',
                                                  "ApiKey"]})
        e.headers = {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'}
        raise e

    def _verify_sigv4(self, method, path, headers, body):
        """Amazon OpenSearch Service's checks, the signature recomputed with botocore."""
        def refuse(msg):
            with self._lock:
                self._auth_failures += 1
            raise EsError(403, {"message": msg})
        a = self.aws
        auth = headers.get("Authorization") or ""
        alg, _, rest = auth.strip().partition(" ")
        parts = dict(item.strip().partition("=")[::2] for item in rest.split(","))
        if alg != "AWS4-HMAC-SHA256" or not all(k in parts for k in
                                                 ("Credential", "SignedHeaders", "Signature")):
            refuse("Authorization header requires 'Credential' parameter. Authorization "
                   "header requires 'Signature' parameter. Authorization header requires "
                   "'SignedHeaders' parameter.")
        scope = parts["Credential"].split("/")
        amz_date = headers.get("X-Amz-Date") or ""
        if len(scope) != 5 or scope[4] != "aws4_request" or scope[1] != amz_date[:8]:
            refuse("Credential should be scoped to a valid region.")
        if scope[0] != a["access_key"] or (headers.get("X-Amz-Security-Token") or None) != \
                (a.get("session_token") or None):
            refuse("The security token included in the request is invalid.")
        if scope[2] != a["region"] or scope[3] != a.get("service", "es"):
            refuse("Credential should be scoped to correct service: '%s'."
                   % a.get("service", "es"))
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            refuse("Authorization header requires existence of either a 'X-Amz-Date' or a "
                   "'Date' header.")
        if abs(time.time() - t) > MAX_SKEW_S:
            refuse("Signature expired: %s is now earlier than the allowed skew." % amz_date)
        sha = headers.get("X-Amz-Content-SHA256")
        if a.get("service") == "aoss" and sha is None:
            refuse("x-amz-content-sha256 header is required for OpenSearch Serverless.")
        if sha is not None and sha != hashlib.sha256(body).hexdigest():
            refuse("The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method.")
        signed = [h.strip().lower() for h in parts["SignedHeaders"].split(";")]
        cred = botocore.credentials.Credentials(a["access_key"], a["secret_key"],
                                                a.get("session_token"))
        signer = _Signer(cred, a.get("service", "es"), a["region"], signed, headers)
        req = _request(method, "http://%s%s" % (headers.get("Host"), path), body, amz_date)
        want = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
        if not hmac.compare_digest(want, parts["Signature"]):
            refuse("The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult "
                   "the service documentation for details.")
        with self._lock:
            self._signatures += 1

    # ---- GET / ----

    def root(self):
        info = self.info
        version = {"number": info["number"], "build_type": "deb", "build_hash": "0" * 40,
                   "build_date": "2024-04-01T00:00:00.000000Z", "build_snapshot": False,
                   "lucene_version": info["lucene"],
                   "minimum_wire_compatibility_version": "7.10.0",
                   "minimum_index_compatibility_version": "7.0.0"}
        if info["dist"]:
            version = dict({"distribution": info["dist"]}, **version)
        else:
            version = dict({"build_flavor": "default"}, **version)
        return {"name": "node-1", "cluster_name": "gleaner-test",
                "cluster_uuid": "b4t3sT-cLuStEr-uUiD00", "version": version,
                "tagline": info["tagline"]}

    # ---- bulk ----

    def bulk(self, url_index, query, body, rng, item_429_rate):
        """Runs a bulk request body (already decompressed); returns the answer or raises
        EsError for the whole request."""
        t0 = time.time()
        pipeline = query.get("pipeline")
        if pipeline is not None and pipeline not in self.pipelines:
            raise es_error(400, "illegal_argument_exception",
                           "pipeline with id [%s] does not exist" % pipeline)
        if body and not body.endswith(b"\n"):
            raise es_error(400, "illegal_argument_exception",
                           "The bulk request must be terminated by a newline [\\n]")
        ops = self._parse_ops(body.split(b"\n")[:-1], url_index)
        items, errors = [], False
        for line, action, meta, source in ops:
            try:
                if rng.random() < item_429_rate:
                    raise ItemError(429, "es_rejected_execution_exception", REJECTED_REASON)
                with self._lock:
                    out = self._apply(action, meta, source, pipeline or meta.get("pipeline"))
            except ItemError as e:
                errors = True
                out = self._item_error(meta, e)
            items.append({action: out})
        with self._lock:
            for it in items:
                v = next(iter(it.values()))
                self._items[str(v["status"])] = self._items.get(str(v["status"]), 0) + 1
                if "error" in v:
                    t = v["error"]["type"]
                    self._errors[t] = self._errors.get(t, 0) + 1
        return {"took": int((time.time() - t0) * 1000), "errors": errors, "items": items}

    def _parse_ops(self, lines, url_index):
        """[(line number, action, metadata, source)]; a bad action line fails the request."""
        ops, i = [], 0
        while i < len(lines):
            n = i + 1
            try:
                act = json.loads(lines[i])
            except ValueError:
                raise es_error(400, "x_content_parse_exception",
                               "[%d:1] Unexpected character: malformed action/metadata "
                               "line [%d]" % (n, n))
            if not isinstance(act, dict) or len(act) != 1 or next(iter(act)) not in ACTIONS:
                raise es_error(400, "illegal_argument_exception",
                               "Malformed action/metadata line [%d], expected a simple value "
                               "for field [%s]" % (n, next(iter(act), "") if
                                                   isinstance(act, dict) else ""))
            action, meta = next(iter(act.items()))
            for k in meta:
                if k not in ACTION_PARAMS or (k == "_type" and not self.info["types"]):
                    raise es_error(400, "illegal_argument_exception",
                                   "Action/metadata line [%d] contains an unknown parameter "
                                   "[%s]" % (n, k))
            meta = dict(meta)
            meta.setdefault("_index", url_index)
            if not meta.get("_index"):
                raise es_error(400, "action_request_validation_exception",
                               "Validation Failed: 1: index is missing;")
            source = None
            if action != "delete":
                i += 1
                if i >= len(lines):
                    raise es_error(400, "illegal_argument_exception",
                                   "The bulk request must be terminated by a newline [\\n]")
                source = lines[i]
            ops.append((n, action, meta, source))
            i += 1
        return ops

    def _item_error(self, meta, e):
        ix = self._indices.get(meta["_index"])
        err = {"type": e.kind, "reason": e.reason}
        if ix is not None:
            err.update({"index_uuid": ix.uuid, "shard": "0", "index": ix.name})
        out = {"_index": meta["_index"], "_id": meta.get("_id"), "status": e.status,
               "error": err}
        if self.info["types"]:
            out["_type"] = "_doc"
        return out

    def _index(self, name):
        ix = self._indices.get(name)
        if ix is None:
            if name.startswith(("_", "-", "+")) or name != name.lower() or \
                    any(c in name for c in '\\/*?"<>| ,#:'):
                raise ItemError(400, "invalid_index_name_exception",
                                "Invalid index name [%s], must be lowercase" % name)
            ds = any(p.match(name) for p in self.data_streams)
            ix = self._indices[name] = Index(name, ds)
        return ix

    def _apply(self, action, meta, source, pipeline):
        """One item, with the lock held: checks, mapping, storage. Returns the item's
        answer or raises ItemError."""
        ix = self._index(meta["_index"])
        doc_id = meta.get("_id")
        if ix.data_stream and action != "create":
            raise ItemError(400, "illegal_argument_exception",
                            "only write ops with an op_type of create are allowed in data "
                            "streams")
        if self.info["types"] and meta.get("_type") not in (None, "_doc", ix.type):
            if ix.type is not None or ix.docs:
                raise ItemError(400, "illegal_argument_exception",
                                "Rejecting mapping update to [%s] as the final mapping would "
                                "have more than 1 type: [%s, %s]"
                                % (ix.name, ix.type or "_doc", meta["_type"]))
        doc = None
        if source is not None:
            try:
                doc = json.loads(source)
            except ValueError:
                raise ItemError(400, self.info["parse"], "failed to parse")
            if not isinstance(doc, dict):
                raise ItemError(400, self.info["parse"], "failed to parse")
        if action == "delete":
            return self._delete(ix, doc_id)
        if action == "update":
            doc = self._merge(ix, doc_id, doc)
        elif pipeline is not None:
            doc["pipeline"] = pipeline
        if ix.data_stream and "@timestamp" not in doc:
            raise ItemError(400, self.info["parse"],
                            "data stream timestamp field [@timestamp] is missing")
        if action == "create" and doc_id in ix.docs:
            raise ItemError(409, "version_conflict_engine_exception",
                            "[%s]: version conflict, document already exists (current "
                            "version [%d])" % (doc_id, ix.docs[doc_id][0]))
        self._map(ix, doc, doc_id)
        if self.info["types"] and meta.get("_type"):
            ix.type = meta["_type"]
        return self._store(ix, doc_id, doc)

    def _merge(self, ix, doc_id, upd):
        if not isinstance(upd, dict) or not isinstance(upd.get("doc"), dict):
            raise ItemError(400, "action_request_validation_exception",
                            "Validation Failed: 1: script or doc is missing;")
        old = ix.docs.get(doc_id)
        if old is None:
            if not upd.get("doc_as_upsert"):
                raise ItemError(404, "document_missing_exception",
                                "[%s]: document missing" % doc_id)
            return dict(upd["doc"])
        if self.keep is not None:
            return dict(upd["doc"])
        return dict(old[1], **upd["doc"])

    def _store(self, ix, doc_id, doc):
        created = doc_id not in ix.docs
        if doc_id is None:
            doc_id = base64.urlsafe_b64encode(uuid.uuid4().bytes)[:20].decode()
        version = 1 if created else ix.docs[doc_id][0] + 1
        ix.docs[doc_id] = (version, self.keep(doc) if self.keep else doc)
        ix.seq += 1
        result = "created" if created else "updated"
        self._results[result] = self._results.get(result, 0) + 1
        name = ix.name
        if ix.data_stream:
            name = ".ds-%s-%s-000001" % (ix.name, time.strftime("%Y.%m.%d"))
        out = {"_index": name, "_id": doc_id, "_version": version, "result": result,
               "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": ix.seq - 1,
               "_primary_term": 1, "status": 201 if created else 200}
        if self.info["types"]:
            out["_type"] = "_doc"
        return out

    def _delete(self, ix, doc_id):
        found = doc_id in ix.docs
        version = ix.docs.pop(doc_id)[0] + 1 if found else 1
        ix.seq += 1
        return {"_index": ix.name, "_id": doc_id, "_version": version,
                "result": "deleted" if found else "not_found",
                "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": ix.seq - 1,
                "_primary_term": 1, "status": 200 if found else 404}

    # ---- dynamic mapping ----

    def _map(self, ix, doc, doc_id):
        """Checks doc against the index's mapping and adds its new fields, or raises
        ItemError (nothing is added then)."""
        new = {}
        self._walk(ix, doc, "", new, doc_id)
        if new and len(ix.mapping) + len(new) > FIELDS_LIMIT:
            raise ItemError(400, "illegal_argument_exception",
                            "Limit of total fields [%d] has been exceeded while adding new "
                            "fields [%d]" % (FIELDS_LIMIT, len(new)))
        ix.mapping.update(new)

    def _walk(self, ix, obj, prefix, new, doc_id):
        for k, v in obj.items():
            parts = k.split(".")
            path = prefix
            for p in parts[:-1]:
                path = path + "." + p if path else p
                t = ix.mapping.get(path) or new.get(path)
                if t is None:
                    new[path] = "object"
                elif t != "object":
                    raise ItemError(400, self.info["parse"],
                                    "Could not dynamically add mapping for field [%s.%s]. "
                                    "Existing mapping for [%s] must be of type object but "
                                    "found [%s]." % (path, parts[-1], path, t))
            path = path + "." + parts[-1] if path else parts[-1]
            self._value(ix, path, v, new, doc_id)

    def _value(self, ix, path, v, new, doc_id):
        if v is None:
            return
        if isinstance(v, list):
            for x in v:
                self._value(ix, path, x, new, doc_id)
            return
        t = ix.mapping.get(path) or new.get(path)
        if isinstance(v, dict):
            if t is None:
                new[path] = "object"
            elif t != "object":
                raise ItemError(400, self.info["parse"],
                                "failed to parse field [%s] of type [%s] in document with id "
                                "'%s'. Preview of field's value: '%s'"
                                % (path, t, doc_id, preview(v)))
            self._walk(ix, v, path, new, doc_id)
            return
        if t is None:
            new[path] = kind_of(v)
        elif t == "object":
            raise ItemError(400, self.info["parse"],
                            "object mapping for [%s] tried to parse field [%s] as object, "
                            "but found a concrete value" % (path, path.split(".")[-1]))
        elif not fits(t, v):
            raise ItemError(400, self.info["parse"],
                            "failed to parse field [%s] of type [%s] in document with id "
                            "'%s'. Preview of field's value: '%s'"
                            % (path, t, doc_id, preview(v)))


def _request(method, url, body, amz_date):
    """The request botocore signs, dated as the client dated it."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    req.context["timestamp"] = amz_date
    return req


# ---- HTTP ----

class _Handler(_CwlHandler):
    """The CloudWatch Logs server's handler (connections, TLS, drop), answering as
    Elasticsearch does."""

    def log_message(self, fmt, *args):
        if self.server.es.verbose:
            sys.stderr.write("es: " + (fmt % args) + "\n")

    def reply(self, status, obj, headers=None):
        """Answers JSON (obj None: an empty body); a client that hung up is counted."""
        body = b"" if obj is None else json.dumps(obj, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.server.es.flavor.startswith("es"):
                self.send_header("X-Elastic-Product", "Elasticsearch")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            with self.server.es._lock:
                self.server.es._client_closed += 1

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is None or not n.isdigit():
            return b""
        return self.rfile.read(int(n))

    def route(self):
        """(kind, index) for a request path after the prefix; kind is root, bulk or None."""
        es = self.server.es
        path = urlsplit(self.path).path
        if es.path_prefix:
            if not path.startswith(es.path_prefix + "/"):
                return None, None
            path = path[len(es.path_prefix):]
        parts = [unquote(p) for p in path.split("/") if p]
        if not parts:
            return "root", None
        if parts == ["_bulk"]:
            return "bulk", None
        if len(parts) == 2 and parts[1] == "_bulk":
            return "bulk", parts[0]
        return None, None

    def do_GET(self):
        es = self.server.es
        u = urlsplit(self.path)
        if u.path.startswith("/_test/"):
            self.test_get(u)
            return
        kind, _ = self.route()
        try:
            es.authenticate("GET", self.path, self.headers, self.read_body())
            if kind != "root":
                raise es_error(400, "illegal_argument_exception",
                               "request [%s] contains unrecognized parameter" % u.path)
            es._count("root", 200)
            self.reply(200, es.root())
        except EsError as e:
            es._count("root", e.status)
            self.reply(e.status, e.body, e.headers)

    def test_get(self, u):
        es = self.server.es
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/_test/stats":
            self.reply(200, es.stats())
        elif u.path == "/_test/docs":
            self.reply(200, es.docs(q.get("index", "")))
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        es = self.server.es
        if self.path == "/_test/control":
            try:
                req = json.loads(self.read_body() or b"{}")
                if req.pop("reset_stats", False):
                    es.reset_stats()
                self.reply(200, es.set_faults(**req))
            except (ValueError, TypeError) as e:
                self.reply(400, {"error": str(e)})
            return
        kind, index = self.route()
        with es._lock:
            ua = self.headers.get("User-Agent") or ""
            es._agents[ua] = es._agents.get(ua, 0) + 1
        n = int(self.headers.get("Content-Length") or 0)
        if n > es._faults["max_content_length"]:
            self.rfile.read(n)
            self.close_connection = True
            with es._lock:
                es._bulks.append({"items": 0, "bytes": n, "raw": n, "gzip": False,
                                  "status": 413})
            es._count("bulk", 413)
            self.reply(413, None, {"Connection": "close"})
            return
        body = self.read_body()
        es._enter()
        try:
            self.bulk(kind, index, body)
        except Drop:
            with es._lock:
                es._dropped += 1
            es._count(kind or "other", 0)
            self.drop()
        finally:
            es._leave()

    def bulk(self, kind, index, body):
        """One bulk request: auth, content checks, fault, the operations, the answer.
        What is counted is counted before the answer goes out."""
        es = self.server.es
        raw = body
        items = 0
        try:
            es.authenticate("POST", self.path, self.headers, body)
            if kind != "bulk":
                raise es_error(405, "illegal_argument_exception", "no handler found")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in ("application/x-ndjson", "application/json"):
                raise es_error(406, "illegal_argument_exception",
                               "Content-Type header [%s] is not supported" % ctype)
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                try:
                    raw = gzip.decompress(body)
                except (OSError, EOFError, zlib.error):
                    raise es_error(400, "illegal_argument_exception", "invalid gzip body")
            fault, delay, rng, item_rate = es._decide()
            if delay and es._stopping.wait(delay):
                raise Drop()
            if fault == "drop":
                raise Drop()
            if fault == "unavailable":
                raise es_error(503, "cluster_block_exception",
                               "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
            if fault == "throttle":
                raise es_error(429, "es_rejected_execution_exception", REJECTED_REASON)
            q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            out = es.bulk(index, q, raw, rng, item_rate)
            items = len(out["items"])
            if q.get("filter_path"):
                out = filter_path(out, q["filter_path"].split(","))
            status, headers = 200, None
        except EsError as e:
            status, out, headers = e.status, e.body, e.headers
        with es._lock:
            es._bulks.append({"items": items, "bytes": len(body), "raw": len(raw),
                              "gzip": raw is not body, "status": status})
        es._count(kind or "other", status)
        self.reply(status, out, headers)


# ---- the agent's side, for the es tests ----

def run_agent(d, name, pipeline, until, timeout=30, settle=0.3):
    """Runs build/gleaner on <d>/<name>.yaml (the service: flush 200ms, /metrics on a
    free port, storage under <d>/<name>; then the given pipeline: section), waits until
    until(process) is true and settle seconds more (for the agent to count the last
    answers), reads /metrics and stops it with SIGTERM. Returns (process, /metrics
    text); lib.stderr_of(process) is its log."""
    from lib import free_port, http_get, start, stop, wait_for, write
    port = free_port()
    cfg = write(os.path.join(d, name + ".yaml"), """service:
  flush: 200ms
  log_level: info
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s
%s""" % (port, os.path.join(d, name), pipeline))
    p = start(cfg)
    wait_for("%s: %s" % (name, until.__doc__ or "the records answered for"),
             lambda: until(p), timeout=timeout)
    time.sleep(settle)
    _, metrics = http_get(port, "/metrics")
    stop(p)
    return p, metrics


def dummy_to_es(srv, record, n, outputs):
    """The pipeline: section of n dummy records (tag app.web, 4,000/s) into one es output
    at srv with the option lines of outputs (indented 6 spaces)."""
    return """pipeline:
  inputs:
    - name: dummy
      tag: app.web
      dummy: '%s'
      rate: 4000
      samples: %d
  outputs:
    - name: es
      match: 'app.*'
      port: %d
%s""" % (record, n, srv.port, outputs)


# ---- command line ----

def main(argv=None):
    ap = argparse.ArgumentParser(description="Elasticsearch / OpenSearch test endpoint")
    ap.add_argument("--flavor", choices=sorted(FLAVORS), default="es8")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--item-429-rate", type=float, default=0.0)
    ap.add_argument("--request-503-rate", type=float, default=0.0)
    ap.add_argument("--count-only", action="store_true",
                    help="keep no document bodies (for benchmarks)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    s = EsServer(flavor=a.flavor, seed=a.seed, port=a.port, verbose=a.verbose,
                 keep=(lambda d: None) if a.count_only else None,
                 item_429_rate=a.item_429_rate, request_503_rate=a.request_503_rate)
    s.start()
    serve(s, s.url, a.port_file)


if __name__ == "__main__":
    main()

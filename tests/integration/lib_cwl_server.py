"""A CloudWatch Logs endpoint for the integration tests: the real service's
JSON 1.1 protocol, SigV4 checks, limits and errors, plus fault injection and
a view of what was stored. A library and a command line tool, not a test
(run.sh skips files named lib*).

Protocol, as the service model (logs 2014-03-28) and the API reference give
it: POST / with X-Amz-Target: Logs_20140328.<Action> and Content-Type
application/x-amz-json-1.1; errors are 4xx/5xx with {"__type", "message"}.
Actions: CreateLogGroup, CreateLogStream, PutLogEvents, PutRetentionPolicy,
DescribeLogStreams, TagResource.

Every request's SigV4 signature is recomputed with botocore over the method,
path, the headers it names as signed and the body, using the credentials the
server knows: a mismatch is 403 InvalidSignatureException, an unknown key or
wrong session token 400 UnrecognizedClientException, an expired credential
400 ExpiredTokenException.

PutLogEvents limits: batch <= 1,048,576 bytes (sum of UTF-8 message bytes + 26
per event), <= 10,000 events, chronological order, span <= 24 h, each event
<= 256 KiB counted the same way (message + 26). Events older than 14 days
-> rejectedLogEventsInfo.tooOldLogEventEndIndex; older than the group's
retention -> expiredLogEventEndIndex; more than 2 h ahead ->
tooNewLogEventStartIndex. Sequence tokens are accepted and ignored.

Test-only endpoints (unsigned):
    POST /_control  JSON of fault settings (below) and/or "expire": true or an
                    access key, "credentials": [{"access_key", "secret_key",
                    "session_token"}], "reset_stats": true; answers the faults
    GET /_events?group=G&stream=S  {"events": [{"timestamp", "message",
                    "ingestionTime"}]}; without stream, {"events": {stream: [...]}}
    GET /_groups    {group: {"retentionInDays", "tags", "streams"}}
    GET /_stats     {"requests": {action: {status: n}}, "errors": {type: n},
                    "batches": [{"group", "stream", "events", "bytes", "status",
                    "body"}], "max_concurrent": {"group/stream": n},
                    "max_concurrent_total", "dropped", "client_closed", "total"}
    GET /_faults    the fault settings
With tls_cert and tls_key the endpoint is https:// (same host and port
rules); with tls_client_ca as well, a client must present a certificate
signed by that CA. The handshake runs in the connection's thread; stats()
counts "tls_handshakes" and "tls_failures" (with the last failure's reason
in "tls_last_failure").
A request goes: signature, Content-Type and target, JSON, fault decision,
quota, the action. Requests refused before the fault decision never consume
a fault ordinal; a request whose client timed out during a delay is still
carried out (and counted in client_closed), as the real service would.

Faults (CLI flags, constructor keywords, /_control keys, set_faults()):
    throttle_rate     fraction answered 400 ThrottlingException "Rate exceeded"
    unavailable_rate  fraction answered 503 ServiceUnavailableException
    drop_rate         fraction whose connection is closed without an answer
    reset_rate        fraction carried out, whose answer is then cut halfway and the
                      connection reset (the client cannot know it succeeded)
    delay, delay_rate seconds to wait before answering, and for which fraction
    tls_untrusted     (https) handshakes present tls_untrusted_cert, which the client
                      does not trust, so every handshake fails
    fail_first, fail_with  the first N targeted requests fail with one of
                      throttle, unavailable, internal (500), drop
    fault_actions     actions the faults above apply to (PutLogEvents)
    rps               {action: max requests per second, account-wide};
                      quotas=True starts from the documented quotas
Each decision depends only on the seed, the action and the request's ordinal
for that action, so a run is repeatable whatever the thread interleaving.
fail_first counts from when it is set.
down() and up() (library only): the endpoint goes away as a crashed host's
does, its listening socket closed (connections refused) and open connections
reset, and comes back on the same port with everything it stored.

Library:
    with CwlServer(seed=1, throttle_rate=0.2) as s:   # start() ... stop()
        env = s.env()            # AWS_* variables for the agent
        s.endpoint, s.port       # http://127.0.0.1:PORT
        s.call("CreateLogGroup", {"logGroupName": "/g"})  # setup, no HTTP/faults
        s.events("/g", "s")      # [{"timestamp", "message", "ingestionTime"}]
        s.groups(); s.stats(); s.reset_stats()
        s.set_faults(drop_rate=0.5, fault_actions=["PutLogEvents"])
        s.down(); s.up(); s.reset_connections()
        s.expire(); s.add_credentials("AKID2", "secret2", "token2")
keep=callable(group, stream, events) is handed the events a PutLogEvents
stores (with the lock held) instead of the server keeping them (long runs).

Command line: python3 lib_cwl_server.py [--port N] [--port-file F] [--seed N]
[--access-key K] [--secret-key S] [--session-token T] [--region R]
[--throttle-rate F] [--unavailable-rate F] [--drop-rate F] [--delay S]
[--delay-rate F] [--reset-rate F] [--fail-first N] [--fail-with KIND] [--fault-actions A,B]
[--rps ACTION=N ...] [--quotas] [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]
[--verbose]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import botocore.awsrequest
import botocore.credentials

from lib_sigv4 import Signer as _Signer

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPES = ("application/x-amz-json-1.1",)
ACCOUNT = "123456789012"

MAX_BATCH_BYTES = 1048576
MAX_BATCH_EVENTS = 10000
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262144
MAX_SPAN_MS = 24 * 3600 * 1000
MAX_AGE_MS = 14 * 24 * 3600 * 1000
MAX_AHEAD_MS = 2 * 3600 * 1000
MAX_SKEW_S = 15 * 60
MAX_BODY = 16 << 20
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                  1827, 2192, 2557, 2922, 3288, 3653)
GROUP_RE = re.compile(r"[\.\-_/#A-Za-z0-9]+")
STREAM_RE = re.compile(r"[^:*]*")
GROUP_PATTERN = r"[\.\-_/#A-Za-z0-9]+"
STREAM_PATTERN = r"[^:*]*"

# Approximately the documented per-account, per-Region quotas (requests per
# second), used when quotas=True; rps entries override them.
DOCUMENTED_RPS = {
    "PutLogEvents": 5000,
    "CreateLogStream": 50,
    "CreateLogGroup": 5,
    "DescribeLogStreams": 5,
    "PutRetentionPolicy": 5,
    "TagResource": 5,
}

FAULT_DEFAULTS = {
    "throttle_rate": 0.0,
    "unavailable_rate": 0.0,
    "drop_rate": 0.0,
    "reset_rate": 0.0,
    "tls_untrusted": False,
    "delay": 0.0,
    "delay_rate": 1.0,
    "fail_first": 0,
    "fail_with": "unavailable",
    "fault_actions": ["PutLogEvents"],
    "rps": {},
    "quotas": False,
}
FAIL_KINDS = ("throttle", "unavailable", "internal", "drop")

BAD_SIGNATURE = ("The request signature we calculated does not match the signature you "
                 "provided. Check your AWS Secret Access Key and signing method. Consult "
                 "the service documentation for details.")


class CwlError(Exception):
    """An error answer: HTTP status, the __type and the message."""

    def __init__(self, status, kind, message):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


class Drop(Exception):
    """The connection is to be closed without an answer."""


def invalid(message):
    return CwlError(400, "InvalidParameterException", message)


def now_ms():
    return int(time.time() * 1000)


# ---- validation of request fields, as the service model constrains them ----

def constraint(field, value, text):
    return invalid("1 validation error detected: Value %s at '%s' failed to satisfy "
                   "constraint: %s" % (json.dumps(value)[:200], field, text))


def need_str(req, field, required=True, pattern=None, regex=None, lo=1, hi=512):
    """Returns req[field] checked as the model's string shape, or None when an
    optional field is absent. Raises InvalidParameterException otherwise."""
    v = req.get(field)
    if v is None:
        if required:
            raise constraint(field, None, "Member must not be null")
        return None
    if not isinstance(v, str):
        raise CwlError(400, "SerializationException", "%s must be a string" % field)
    if len(v) < lo:
        raise constraint(field, v, "Member must have length greater than or equal to %d" % lo)
    if len(v) > hi:
        raise constraint(field, v, "Member must have length less than or equal to %d" % hi)
    if regex is not None and not regex.fullmatch(v):
        raise constraint(field, v, "Member must satisfy regular expression pattern: " + pattern)
    return v


def group_name(req, field="logGroupName", required=True):
    return need_str(req, field, required, GROUP_PATTERN, GROUP_RE)


def stream_name(req, field="logStreamName", required=True):
    return need_str(req, field, required, STREAM_PATTERN, STREAM_RE)


def need_int(req, field, required=True):
    v = req.get(field)
    if v is None:
        if required:
            raise constraint(field, None, "Member must not be null")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise CwlError(400, "SerializationException", "%s must be an integer" % field)
    return v


# ---- storage ----

class Stream:
    """One log stream: its events in arrival order and its describe fields."""

    def __init__(self, group, name, created):
        self.group = group
        self.name = name
        self.created = created
        self.events = []
        self.first_ts = None
        self.last_ts = None
        self.last_ingestion = None
        self.seq = 0

    def token(self):
        return "49%054d" % self.seq

    def describe(self, region):
        d = {
            "logStreamName": self.name,
            "creationTime": self.created,
            "arn": "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s" % (
                region, ACCOUNT, self.group.name, self.name),
            "uploadSequenceToken": self.token(),
            # Deprecated in the API: the real service always answers 0.
            "storedBytes": 0,
        }
        if self.first_ts is not None:
            d["firstEventTimestamp"] = self.first_ts
            d["lastEventTimestamp"] = self.last_ts
            d["lastIngestionTime"] = self.last_ingestion
        return d


class Group:
    def __init__(self, name, created, tags=None):
        self.name = name
        self.created = created
        self.retention = None
        self.tags = dict(tags or {})
        self.streams = {}


# ---- the server ----

class CwlServer:
    """The endpoint: storage, credentials, faults and statistics, all under
    one lock; the HTTP side runs in a thread from start() to stop()."""

    def __init__(self, access_key="AKIDGLEANERTEST00001", secret_key="gleaner-test-secret",
                 session_token=None, region="us-east-1", seed=1, port=0, verbose=False,
                 tls_cert=None, tls_key=None, tls_client_ca=None, tls_untrusted_cert=None,
                 tls_untrusted_key=None, keep=None, **faults):
        self.region = region
        self.keep = keep
        self.seed = seed
        self.verbose = verbose
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._creds = {}
        self.add_credentials(access_key, secret_key, session_token)
        self._groups = {}
        self._faults = dict(FAULT_DEFAULTS)
        self.set_faults(**faults)
        self._ordinals = {}
        self._failed_first = 0
        self._window = {}
        self._reset_counters()
        self._conns = set()
        self._down = False
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.cwl = self
        self._httpd.tls = None
        self._httpd.tls_untrusted = None
        if tls_untrusted_cert:
            bad = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            bad.load_cert_chain(tls_untrusted_cert, tls_untrusted_key)
            self._httpd.tls_untrusted = bad
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert, tls_key)
            if tls_client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(tls_client_ca)
            self._httpd.tls = ctx
        self.port = self._httpd.server_address[1]
        self.endpoint = "%s://127.0.0.1:%d" % ("https" if tls_cert else "http", self.port)
        self._thread = None

    # ---- lifecycle ----

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops serving, closes every open connection (keep-alive ones and
        those waiting in a delay) and the listening socket."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(10)
            self._thread = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def down(self):
        """The endpoint goes away as a crashed host's does: the listening
        socket is closed, so connecting is refused, and open connections are
        reset. What it stored stays; up() brings it back on the same port."""
        with self._lock:
            if self._down:
                return
            self._down = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(10)
            self._thread = None
        self._httpd.socket.close()
        self.reset_connections()

    def reset_connections(self):
        """Resets every open connection, as an endpoint restarted behind the
        same address does: the client's next request connects (and, over
        TLS, shakes hands) again."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _reset(c)

    def up(self):
        """Listens again on the same port after down()."""
        with self._lock:
            if not self._down:
                return
            self._down = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(self._httpd.request_queue_size)
        self._httpd.socket = sock
        self.start()

    def is_down(self):
        with self._lock:
            return self._down

    def env(self):
        """The AWS_* environment a client needs to reach and sign for this server."""
        e = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
             "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
             "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": self.endpoint}
        if self.session_token:
            e["AWS_SESSION_TOKEN"] = self.session_token
        return e

    # ---- credentials and faults ----

    def add_credentials(self, access_key, secret_key, session_token=None):
        with self._lock:
            self._creds[access_key] = {"secret": secret_key, "token": session_token,
                                       "expired": False}

    def expire(self, access_key=None):
        """Marks a credential (default: the one the server started with) expired:
        its requests get ExpiredTokenException from now on."""
        with self._lock:
            self._creds[access_key or self.access_key]["expired"] = True

    def set_faults(self, **kw):
        """Changes fault settings (see the module comment) and returns them all;
        a bad name or value raises ValueError. Setting fail_first starts its
        count again; the ordinals the random decisions use are never reset."""
        with self._lock:
            for k, v in kw.items():
                if k not in FAULT_DEFAULTS:
                    raise ValueError("unknown fault setting %r" % k)
                if type(v) is not type(FAULT_DEFAULTS[k]) and not (
                        isinstance(v, int) and isinstance(FAULT_DEFAULTS[k], float)):
                    raise ValueError("%s must be a %s" % (k, type(FAULT_DEFAULTS[k]).__name__))
                if k.endswith("_rate") and not 0 <= v <= 1:
                    raise ValueError("%s must be between 0 and 1" % k)
                if k == "fail_with" and v not in FAIL_KINDS:
                    raise ValueError("fail_with must be one of %s" % ", ".join(FAIL_KINDS))
                self._faults[k] = v
                if k == "fail_first":
                    self._failed_first = 0
            return dict(self._faults)

    def faults(self):
        with self._lock:
            return json.loads(json.dumps(self._faults))

    # ---- what tests read ----

    def events(self, group, stream=None):
        """Stored events of one stream (a list), or of every stream of a group
        (a dict by stream name). Missing ones are empty."""
        with self._lock:
            g = self._groups.get(group)
            if stream is not None:
                s = g.streams.get(stream) if g else None
                return [dict(e) for e in s.events] if s else []
            if g is None:
                return {}
            return {n: [dict(e) for e in s.events] for n, s in g.streams.items()}

    def groups(self):
        """Every group: retention, tags and stream names."""
        with self._lock:
            return {n: {"retentionInDays": g.retention, "tags": dict(g.tags),
                        "streams": sorted(g.streams)} for n, g in self._groups.items()}

    def stats(self):
        """Counts so far: requests by action and status, errors by type, the
        PutLogEvents batches (group, stream, events, bytes, status), the most
        requests seen in flight at once per stream and overall, dropped
        connections, answers the client closed before reading."""
        with self._lock:
            return json.loads(json.dumps({
                "requests": self._requests, "errors": self._errors,
                "batches": self._batches, "max_concurrent": self._max_per_stream,
                "max_concurrent_total": self._max_total, "dropped": self._dropped,
                "client_closed": self._client_closed, "total": self._total,
                "reset": self._reset, "delayed": self._delayed,
                "tls_handshakes": self._tls_handshakes, "tls_failures": self._tls_failures,
                "tls_last_failure": self._tls_last_failure}))

    def reset_stats(self):
        with self._lock:
            self._reset_counters()

    def _reset_counters(self):
        self._requests = {}
        self._errors = {}
        self._batches = []
        self._max_per_stream = {}
        self._max_total = 0
        self._dropped = 0
        self._total = 0
        self._client_closed = 0
        self._reset = 0
        self._delayed = 0
        self._inflight = {}
        self._inflight_total = 0
        self._tls_handshakes = 0
        self._tls_failures = 0
        self._tls_last_failure = None

    # ---- statistics ----

    def _count(self, action, status, kind=None):
        with self._lock:
            by = self._requests.setdefault(action or "-", {})
            by[str(status)] = by.get(str(status), 0) + 1
            self._total += 1
            if kind:
                self._errors[kind] = self._errors.get(kind, 0) + 1

    def _handshake(self, conn):
        """Completes a TLS connection's handshake (bounded in time); counts
        it and returns whether it succeeded. Plain connections pass."""
        if not isinstance(conn, ssl.SSLSocket):
            return True
        try:
            conn.settimeout(10)
            conn.do_handshake()
            conn.settimeout(None)
            ok, why = True, None
        except (ssl.SSLError, OSError) as e:
            ok, why = False, str(e)
        with self._lock:
            if ok:
                self._tls_handshakes += 1
            else:
                self._tls_failures += 1
                self._tls_last_failure = why
        return ok

    def _enter(self, key):
        with self._lock:
            self._inflight_total += 1
            self._max_total = max(self._max_total, self._inflight_total)
            if key:
                n = self._inflight.get(key, 0) + 1
                self._inflight[key] = n
                self._max_per_stream[key] = max(self._max_per_stream.get(key, 0), n)

    def _leave(self, key):
        with self._lock:
            self._inflight_total -= 1
            if key:
                self._inflight[key] -= 1

    # ---- faults ----

    def _decide(self, action):
        """Returns the fault for this request ("throttle", "unavailable",
        "internal", "drop", "quota" or None) and the delay to apply."""
        with self._lock:
            f = self._faults
            n = self._ordinals.get(action, 0)
            self._ordinals[action] = n + 1
            fault, delay = None, 0.0
            if action in f["fault_actions"]:
                rng = random.Random("%s/%s/%d" % (self.seed, action, n))
                draws = [rng.random() for _ in range(5)]
                if self._failed_first < f["fail_first"]:
                    self._failed_first += 1
                    fault = f["fail_with"]
                elif draws[0] < f["drop_rate"]:
                    fault = "drop"
                elif draws[1] < f["unavailable_rate"]:
                    fault = "unavailable"
                elif draws[2] < f["throttle_rate"]:
                    fault = "throttle"
                elif draws[4] < f["reset_rate"]:
                    fault = "reset"
                if f["delay"] > 0 and draws[3] < f["delay_rate"]:
                    delay = float(f["delay"])
            if fault is None and self._over_quota(action):
                fault = "quota"
            return fault, delay

    def _over_quota(self, action):
        """Sliding one-second window of accepted requests per action; called
        with the lock held."""
        limit = self._faults["rps"].get(action)
        if limit is None and self._faults["quotas"]:
            limit = DOCUMENTED_RPS.get(action)
        if limit is None:
            return False
        t = time.monotonic()
        w = [x for x in self._window.get(action, []) if t - x < 1.0]
        self._window[action] = w
        if len(w) >= limit:
            return True
        w.append(t)
        return False

    # ---- SigV4 ----

    def verify(self, method, path, headers, body):
        """Checks the request's SigV4 Authorization header by recomputing the
        signature with botocore. Raises CwlError as the real service answers."""
        auth = headers.get("Authorization")
        if not auth:
            raise CwlError(400, "MissingAuthenticationTokenException",
                           "Missing Authentication Token")
        alg, _, rest = auth.strip().partition(" ")
        parts = {}
        for item in rest.split(","):
            k, _, v = item.strip().partition("=")
            parts[k] = v
        if alg != "AWS4-HMAC-SHA256" or not all(k in parts for k in
                                                 ("Credential", "SignedHeaders", "Signature")):
            raise CwlError(400, "IncompleteSignatureException",
                           "Authorization header requires 'Credential', 'Signature' and "
                           "'SignedHeaders' parameters. Authorization=%s" % auth)
        scope = parts["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise CwlError(400, "IncompleteSignatureException",
                           "Credential is malformed: %s" % parts["Credential"])
        akid, date, region, service = scope[:4]
        amz_date = headers.get("X-Amz-Date")
        if not amz_date or not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
            raise CwlError(400, "IncompleteSignatureException",
                           "Authorization header requires existence of either a "
                           "'X-Amz-Date' or a 'Date' header.")
        cred = self._credential(akid, headers.get("X-Amz-Security-Token"))
        signed = [h.strip().lower() for h in parts["SignedHeaders"].split(";")]
        self._check_scope(date, region, service, amz_date, signed)
        sha = headers.get("X-Amz-Content-SHA256")
        if sha is not None and sha != hashlib.sha256(body).hexdigest():
            raise CwlError(403, "InvalidSignatureException", BAD_SIGNATURE)
        want = self._signature(cred, region, service, signed, method, path, headers, body,
                               amz_date)
        if not hmac.compare_digest(want, parts["Signature"]):
            raise CwlError(403, "InvalidSignatureException", BAD_SIGNATURE)

    def _credential(self, akid, token):
        with self._lock:
            c = self._creds.get(akid)
            c = dict(c) if c else None
        if c is None or (c["token"] or None) != (token or None):
            raise CwlError(400, "UnrecognizedClientException",
                           "The security token included in the request is invalid.")
        if c["expired"]:
            raise CwlError(400, "ExpiredTokenException",
                           "The security token included in the request is expired")
        return botocore.credentials.Credentials(akid, c["secret"], c["token"])

    def _check_scope(self, date, region, service, amz_date, signed):
        if date != amz_date[:8]:
            raise CwlError(403, "InvalidSignatureException",
                           "Date in Credential scope does not match YYYYMMDD from "
                           "ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'."
                           % (date, amz_date[:8], amz_date))
        if service != "logs":
            raise CwlError(403, "InvalidSignatureException",
                           "Credential should be scoped to correct service: 'logs'. ")
        if region != self.region:
            raise CwlError(403, "InvalidSignatureException",
                           "Credential should be scoped to a valid region. ")
        if "host" not in signed:
            raise CwlError(403, "InvalidSignatureException",
                           "'Host' or ':authority' must be a 'SignedHeader' in the "
                           "AWS Authorization.")
        t = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        skew = abs(time.time() - t.timestamp())
        if skew > MAX_SKEW_S:
            raise CwlError(403, "InvalidSignatureException",
                           "Signature expired: %s is now earlier or later than the allowed "
                           "%d minutes of skew." % (amz_date, MAX_SKEW_S // 60))

    def _signature(self, cred, region, service, signed, method, path, headers, body,
                   amz_date):
        signer = _Signer(cred, service, region, signed, headers)
        host = headers.get("Host", "127.0.0.1:%d" % self.port)
        req = botocore.awsrequest.AWSRequest(method=method, url="http://%s%s" % (host, path),
                                             data=body)
        req.context["timestamp"] = amz_date
        canonical = signer.canonical_request(req)
        return signer.signature(signer.string_to_sign(req, canonical), req)

    # ---- actions ----

    def call(self, action, req):
        """Runs one action on a parsed request body; returns the response
        object or raises CwlError."""
        fn = ACTIONS.get(action)
        if fn is None:
            raise CwlError(400, "UnknownOperationException", "Unknown operation %s" % action)
        if not isinstance(req, dict):
            raise CwlError(400, "SerializationException", "Start of structure expected")
        with self._lock:
            return fn(self, req)

    def _group(self, name):
        g = self._groups.get(name)
        if g is None:
            raise CwlError(400, "ResourceNotFoundException",
                           "The specified log group does not exist.")
        return g

    def _stream(self, group, name):
        s = self._group(group).streams.get(name)
        if s is None:
            raise CwlError(400, "ResourceNotFoundException",
                           "The specified log stream does not exist.")
        return s

    def create_log_group(self, req):
        name = group_name(req)
        tags = req.get("tags")
        if tags is not None and (not isinstance(tags, dict) or not 1 <= len(tags) <= 50):
            raise constraint("tags", tags, "Member must have length less than or equal to 50")
        if name in self._groups:
            raise CwlError(400, "ResourceAlreadyExistsException",
                           "The specified log group already exists")
        self._groups[name] = Group(name, now_ms(), tags)
        return None

    def create_log_stream(self, req):
        gname = group_name(req)
        sname = stream_name(req)
        g = self._group(gname)
        if sname in g.streams:
            raise CwlError(400, "ResourceAlreadyExistsException",
                           "The specified log stream already exists")
        g.streams[sname] = Stream(g, sname, now_ms())
        return None

    def put_retention_policy(self, req):
        gname = group_name(req)
        days = need_int(req, "retentionInDays")
        if days not in RETENTION_DAYS:
            raise constraint("retentionInDays", days, "Member must satisfy enum value set: "
                             "[%s]" % ", ".join(str(d) for d in RETENTION_DAYS))
        self._group(gname).retention = days
        return None

    def tag_resource(self, req):
        arn = need_str(req, "resourceArn", hi=1011)
        tags = req.get("tags")
        if not isinstance(tags, dict) or not tags:
            raise constraint("tags", tags, "Member must have length greater than or equal to 1")
        m = re.fullmatch(r"arn:aws:logs:([^:]+):(\d+):log-group:([^:]+)(:\*)?", arn)
        if m is None or m.group(1) != self.region:
            raise invalid("Invalid resource ARN %s" % arn)
        g = self._group(m.group(3))
        if len(dict(g.tags, **tags)) > 50:
            raise CwlError(400, "TooManyTagsException", "Too many tags for %s" % arn)
        g.tags.update(tags)
        return None

    def describe_log_streams(self, req):
        gname = group_name(req, required=False)
        ident = need_str(req, "logGroupIdentifier", required=False, hi=2048)
        if (gname is None) == (ident is None):
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if ident is not None:
            gname = ident.split("log-group:", 1)[-1].split(":", 1)[0]
        prefix = stream_name(req, "logStreamNamePrefix", required=False)
        order = req.get("orderBy", "LogStreamName")
        if order not in ("LogStreamName", "LastEventTime"):
            raise constraint("orderBy", order, "Member must satisfy enum value set: "
                             "[LogStreamName, LastEventTime]")
        if order == "LastEventTime" and prefix is not None:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = need_int(req, "limit", required=False) or 50
        if not 1 <= limit <= 50:
            raise constraint("limit", limit, "Member must have value less than or equal to 50")
        streams = [s for s in self._group(gname).streams.values()
                   if prefix is None or s.name.startswith(prefix)]
        if order == "LogStreamName":
            streams.sort(key=lambda s: s.name)
        else:
            streams.sort(key=lambda s: (s.last_ts or 0, s.name))
        if req.get("descending"):
            streams.reverse()
        start = 0
        if req.get("nextToken"):
            try:
                start = int(base64.b64decode(req["nextToken"]).decode().split(":")[1])
            except (ValueError, IndexError, UnicodeDecodeError):
                raise invalid("The specified nextToken is invalid.")
        page = streams[start:start + limit]
        out = {"logStreams": [s.describe(self.region) for s in page]}
        if start + limit < len(streams):
            out["nextToken"] = base64.b64encode(b"page:%d" % (start + limit)).decode()
        return out

    def put_log_events(self, req):
        gname = group_name(req)
        sname = stream_name(req)
        evs = req.get("logEvents")
        if evs is None:
            raise constraint("logEvents", None, "Member must not be null")
        if not isinstance(evs, list):
            raise CwlError(400, "SerializationException", "logEvents must be a list")
        if not evs:
            raise constraint("logEvents", evs, "Member must have length greater than or "
                             "equal to 1")
        if len(evs) > MAX_BATCH_EVENTS:
            raise constraint("logEvents", "[%d events]" % len(evs), "Member must have length "
                             "less than or equal to %d" % MAX_BATCH_EVENTS)
        for i, e in enumerate(evs):
            field = "logEvents.%d.member" % (i + 1)
            if not isinstance(e, dict):
                raise CwlError(400, "SerializationException", "Start of structure expected")
            need_int(e, "timestamp")
            need_str(e, "message", hi=1 << 30)
            if e["timestamp"] < 0:
                raise constraint(field + ".timestamp", e["timestamp"],
                                 "Member must have value greater than or equal to 0")
        s = self._stream(gname, sname)
        check_batch(evs)
        return self._store(s, evs)

    def _store(self, s, evs):
        """Keeps the events that are neither too old, expired nor too new and
        answers which were rejected, by index."""
        now = now_ms()
        old, expired, new = -1, -1, len(evs)
        for i, e in enumerate(evs):
            ts = e["timestamp"]
            if ts < now - MAX_AGE_MS:
                old = i
            elif s.group.retention and ts < now - s.group.retention * 86400000:
                expired = i
            elif ts > now + MAX_AHEAD_MS:
                new = min(new, i)
        keep = evs[max(old, expired) + 1:new]
        if self.keep is not None:
            self.keep(s.group.name, s.name, keep)
        else:
            for e in keep:
                s.events.append({"timestamp": e["timestamp"], "message": e["message"],
                                 "ingestionTime": now})
        if keep:
            if s.first_ts is None:
                s.first_ts = keep[0]["timestamp"]
            s.first_ts = min(s.first_ts, keep[0]["timestamp"])
            s.last_ts = max(s.last_ts or 0, keep[-1]["timestamp"])
            s.last_ingestion = now
        s.seq += 1
        out = {"nextSequenceToken": s.token()}
        info = {}
        # The end indexes are exclusive, as the API reference says ("This
        # field is exclusive"): events [0, end) were rejected.
        if old >= 0:
            info["tooOldLogEventEndIndex"] = old + 1
        if expired >= 0:
            info["expiredLogEventEndIndex"] = expired + 1
        if new < len(evs):
            info["tooNewLogEventStartIndex"] = new
        if info:
            out["rejectedLogEventsInfo"] = info
        return out


def batch_bytes(evs):
    return sum(len(e["message"].encode("utf-8")) + EVENT_OVERHEAD for e in evs)


def check_batch(evs):
    """The batch-wide constraints of PutLogEvents: total size, each event's
    size, chronological order, span. Raises InvalidParameterException."""
    total = batch_bytes(evs)
    if total > MAX_BATCH_BYTES:
        raise invalid("Upload too large: %d bytes exceeds limit of %d"
                      % (total, MAX_BATCH_BYTES))
    for e in evs:
        n = len(e["message"].encode("utf-8")) + EVENT_OVERHEAD
        if n > MAX_EVENT_BYTES:
            raise invalid("Log event too large: %d bytes exceeds limit of %d"
                          % (n, MAX_EVENT_BYTES))
    for a, b in zip(evs, evs[1:]):
        if b["timestamp"] < a["timestamp"]:
            raise invalid("Log events in a single PutLogEvents request must be in "
                          "chronological order.")
    if evs[-1]["timestamp"] - evs[0]["timestamp"] > MAX_SPAN_MS:
        raise invalid("The batch of log events in a single PutLogEvents request cannot "
                      "span more than 24 hours.")


ACTIONS = {
    "CreateLogGroup": CwlServer.create_log_group,
    "CreateLogStream": CwlServer.create_log_stream,
    "PutLogEvents": CwlServer.put_log_events,
    "PutRetentionPolicy": CwlServer.put_retention_policy,
    "DescribeLogStreams": CwlServer.describe_log_streams,
    "TagResource": CwlServer.tag_resource,
}

FAULT_ERRORS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "quota": (400, "ThrottlingException", "Rate exceeded"),
    "unavailable": (503, "ServiceUnavailableException",
                    "The service cannot complete the request."),
    "internal": (500, "InternalFailure",
                 "The request processing has failed because of an unknown error, "
                 "exception or failure."),
}


# ---- HTTP ----

class _HTTPServer(ThreadingHTTPServer):
    # Agents under test open many connections at once; 5 would refuse some.
    request_queue_size = 128

    def get_request(self):
        """Wraps an accepted connection in TLS when serving https (with the
        untrusted certificate while that fault is on); the handshake waits
        for the connection's own thread (_Handler.setup)."""
        conn, addr = super().get_request()
        ctx = self.tls
        if ctx is not None and getattr(self.cwl, "_faults", {}).get("tls_untrusted"):
            if self.tls_untrusted is None:
                raise ValueError("tls_untrusted needs tls_untrusted_cert and tls_untrusted_key")
            ctx = self.tls_untrusted
        if ctx is not None:
            conn = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr


def _reset(conn):
    """Closes a connection with a TCP reset (SO_LINGER 0), as a crashed peer's."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Server"
    sys_version = ""

    def setup(self):
        super().setup()
        with self.server.cwl._lock:
            self.server.cwl._conns.add(self.connection)
        self.tls_ok = self.server.cwl._handshake(self.connection)

    def handle(self):
        if self.tls_ok:
            super().handle()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.cwl._lock:
                self.server.cwl._conns.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.server.cwl.verbose:
            sys.stderr.write("cwl: " + (fmt % args) + "\n")

    def version_string(self):
        return "Server"

    def done_inflight(self):
        """The request stops counting as in flight before its answer is written:
        a client may send the stream's next request as soon as it reads it."""
        entered = getattr(self, "inflight", None)
        if entered is not None:
            self.inflight = None
            self.server.cwl._leave(entered[0])

    def reply(self, status, obj, cut=False):
        """Answers status with obj as JSON (None: an empty body). A client that
        hung up first (its timeout fired during a delay) is counted, not raised.
        With cut, half of the answer is sent, then the connection is reset."""
        body = b"" if obj is None else json.dumps(obj).encode()
        self.done_inflight()
        if cut:
            self.cut(status, body)
            return
        try:
            self.send_response(status)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            with self.server.cwl._lock:
                self.server.cwl._client_closed += 1

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is None or not n.isdigit():
            self.close_connection = True
            self.reply(411, {"__type": "SerializationException",
                             "message": "Content-Length required"})
            return None
        if int(n) > MAX_BODY:
            self.close_connection = True
            self.reply(413, {"__type": "SerializationException",
                             "message": "Request entity too large"})
            return None
        return self.rfile.read(int(n))

    def cut(self, status, body):
        head = ("HTTP/1.1 %d %s\r\nx-amzn-RequestId: %s\r\nContent-Type: "
                "application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n"
                % (status, self.responses.get(status, ("",))[0], uuid.uuid4(), len(body)))
        # The headers whole and half the body: the client sees the answer begin
        # and the connection end (curl takes headers cut short as complete).
        data = head.encode() + body[:len(body) // 2]
        self.close_connection = True
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass
        _reset(self.connection)
        with self.server.cwl._lock:
            self.server.cwl._reset += 1

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        cwl = self.server.cwl
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/_events":
            self.reply(200, {"events": cwl.events(q.get("group", ""), q.get("stream"))})
        elif u.path == "/_groups":
            self.reply(200, cwl.groups())
        elif u.path == "/_stats":
            self.reply(200, cwl.stats())
        elif u.path == "/_faults":
            self.reply(200, cwl.faults())
        else:
            self.reply(404, {"__type": "UnknownOperationException", "message": "Not found"})

    def do_POST(self):
        body = self.read_body()
        if body is None:
            return
        if self.path == "/_control":
            self.control(body)
            return
        self.api(body)

    def control(self, body):
        cwl = self.server.cwl
        try:
            req = json.loads(body or b"{}")
            if req.pop("reset_stats", False):
                cwl.reset_stats()
            exp = req.pop("expire", None)
            if exp:
                cwl.expire(None if exp is True else exp)
            for c in req.pop("credentials", []):
                cwl.add_credentials(c["access_key"], c["secret_key"], c.get("session_token"))
            self.reply(200, cwl.set_faults(**req))
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"__type": "InvalidParameterException", "message": str(e)})

    def api(self, body):
        """One API request: signature, protocol, fault decision, the action;
        counted by action and status whatever happens."""
        cwl = self.server.cwl
        target = self.headers.get("X-Amz-Target", "")
        action = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else None
        key = None
        status, kind = 200, None
        try:
            cwl.verify("POST", self.path, self.headers, body)
            req = self.parse(action, body)
            if action == "PutLogEvents" and isinstance(req, dict):
                key = "%s/%s" % (req.get("logGroupName"), req.get("logStreamName"))
            cwl._enter(key)
            self.inflight = (key,)
            try:
                status, kind = self.run(action, req, body, key)
            finally:
                self.done_inflight()
        except CwlError as e:
            status, kind = e.status, e.kind
            self.reply(e.status, {"__type": e.kind, "message": e.message})
        except Drop:
            status, kind = 0, "dropped"
            with cwl._lock:
                cwl._dropped += 1
            self.drop()
        cwl._count(action or target or "-", status, kind)

    def parse(self, action, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in CONTENT_TYPES:
            raise CwlError(400, "SerializationException",
                           "Content-Type must be application/x-amz-json-1.1, not %r" % ctype)
        if action not in ACTIONS:
            raise CwlError(400, "UnknownOperationException", "Unknown operation %s"
                           % self.headers.get("X-Amz-Target"))
        try:
            return json.loads(body.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            raise CwlError(400, "SerializationException", "Malformed JSON body")

    def run(self, action, req, body, key):
        """Applies the fault decided for this request, then the action.
        Returns (status, error type or None) after replying."""
        cwl = self.server.cwl
        fault, delay = cwl._decide(action)
        if delay:
            with cwl._lock:
                cwl._delayed += 1
            if cwl._stopping.wait(delay):
                raise Drop()
        if fault == "drop" or cwl.is_down():
            raise Drop()
        status, kind = 200, None
        try:
            if fault is not None and fault != "reset":
                raise CwlError(*FAULT_ERRORS[fault])
            out = cwl.call(action, req)
            self.reply(200, out, cut=fault == "reset")
        except CwlError as e:
            status, kind = e.status, e.kind
            self.reply(e.status, {"__type": e.kind, "message": e.message})
        if action == "PutLogEvents":
            evs = req.get("logEvents") if isinstance(req.get("logEvents"), list) else []
            size = sum(len(str(e.get("message", "")).encode("utf-8")) + EVENT_OVERHEAD
                       for e in evs if isinstance(e, dict))
            with cwl._lock:
                cwl._batches.append({"group": req.get("logGroupName"),
                                     "stream": req.get("logStreamName"), "events": len(evs),
                                     "bytes": size, "status": status, "body": len(body)})
        return status, kind


# ---- command line ----

def main(argv=None):
    ap = argparse.ArgumentParser(description="CloudWatch Logs test endpoint")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--access-key", default="AKIDGLEANERTEST00001")
    ap.add_argument("--secret-key", default="gleaner-test-secret")
    ap.add_argument("--session-token")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--throttle-rate", type=float, default=0.0)
    ap.add_argument("--unavailable-rate", type=float, default=0.0)
    ap.add_argument("--drop-rate", type=float, default=0.0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--delay-rate", type=float, default=1.0)
    ap.add_argument("--reset-rate", type=float, default=0.0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-with", choices=FAIL_KINDS, default="unavailable")
    ap.add_argument("--fault-actions", default="PutLogEvents")
    ap.add_argument("--rps", action="append", default=[], metavar="ACTION=N")
    ap.add_argument("--quotas", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    rps = {}
    for item in a.rps:
        k, _, v = item.partition("=")
        rps[k] = int(v)
    s = CwlServer(access_key=a.access_key, secret_key=a.secret_key,
                  session_token=a.session_token, region=a.region, seed=a.seed, port=a.port,
                  verbose=a.verbose, throttle_rate=a.throttle_rate,
                  unavailable_rate=a.unavailable_rate, drop_rate=a.drop_rate, delay=a.delay,
                  delay_rate=a.delay_rate, reset_rate=a.reset_rate, fail_first=a.fail_first,
                  fail_with=a.fail_with,
                  fault_actions=a.fault_actions.split(","), rps=rps, quotas=a.quotas,
                  tls_cert=a.tls_cert, tls_key=a.tls_key, tls_client_ca=a.tls_client_ca)
    s.start()
    serve(s, s.endpoint, a.port_file)


def serve(s, url, port_file=None):
    """Runs the started server s until SIGTERM or ^C, its port written to port_file."""
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % s.port)
        os.rename(port_file + ".tmp", port_file)
    print("listening on %s" % url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        s.stop()


if __name__ == "__main__":
    main()

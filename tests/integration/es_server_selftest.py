"""The Elasticsearch test endpoint answers as the bulk API documents: GET /
for Elasticsearch 7.17 and 8.x and OpenSearch 2.x, per-item status with
errors: true, 201/200 created and updated, 409 version_conflict_engine_
exception on create of an existing _id, a mapping conflict as 400
mapper_parsing_exception (document_parsing_exception on 8.x) naming the
field, 429 es_rejected_execution_exception per item, a whole-request 503,
413 over http.max_content_length, gzip bodies, Basic and ApiKey auth,
_type refused by 8.x, filter_path, data streams, pipelines, and SigV4
checked by botocore's signer. The agent's tests rely on these shapes."""
import base64
import gzip
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, fail  # noqa: E402

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
except ImportError:
    fail("botocore not found: install the Debian package python3-botocore")

from lib_es_server import EsServer  # noqa: E402


def call(s, method, path, body=None, headers=None):
    """(status, parsed JSON or None, headers) of one request to server s."""
    h = {"Content-Type": "application/x-ndjson"}
    h.update(headers or {})
    req = urllib.request.Request(s.url + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
            return r.status, json.loads(data) if data else None, r.headers
    except urllib.error.HTTPError as e:
        data = e.read()
        return e.code, json.loads(data) if data else None, e.headers


def ndjson(*objs):
    return "".join(json.dumps(o) + "\n" for o in objs).encode()


def bulk(s, *objs, path="/_bulk", headers=None):
    return call(s, "POST", path, ndjson(*objs), headers)


def item(body, i):
    return next(iter(body["items"][i].values()))


# ---- GET / ----
for flavor, number, dist in (("es7", "7.17.21", None), ("es8", "8.13.4", None),
                             ("os2", "2.11.1", "opensearch")):
    with EsServer(flavor=flavor) as s:
        st, body, _ = call(s, "GET", "/")
        check(st == 200 and body["version"]["number"] == number and
              body["version"].get("distribution") == dist and "tagline" in body,
              "GET / answers as %s %s" % (dist or "elasticsearch", number))

# ---- items: created, updated, conflict, errors flag ----
with EsServer(flavor="es8") as s:
    st, b, _ = bulk(s, {"create": {"_index": "a", "_id": "1"}}, {"n": 1, "s": "x"},
                    {"index": {"_index": "a", "_id": "2"}}, {"n": 2},
                    {"index": {"_index": "a", "_id": "2"}}, {"n": 3},
                    {"create": {"_index": "a", "_id": "1"}}, {"n": 4},
                    {"create": {"_index": "a"}}, {"n": 5})
    check(st == 200 and b["errors"] is True and len(b["items"]) == 5, "bulk answers per item")
    check([item(b, i)["status"] for i in range(5)] == [201, 201, 200, 409, 201],
          "statuses 201 created, 200 updated, 409 on create of an existing _id")
    check(item(b, 1)["result"] == "created" and item(b, 2)["result"] == "updated" and
          item(b, 2)["_version"] == 2, "result and _version")
    e = item(b, 3)["error"]
    check(e["type"] == "version_conflict_engine_exception" and
          e["reason"].startswith("[1]: version conflict, document already exists"),
          "409 version_conflict_engine_exception: %s" % e["reason"])
    check(len(item(b, 4)["_id"]) == 20 and s.count("a") == 3, "an _id is made when none is given")
    check("_type" not in item(b, 0), "8.x items have no _type")
    # Mapping: n is a long now; a string that is not a number is refused, naming the field.
    st, b, _ = bulk(s, {"index": {"_index": "a", "_id": "9"}}, {"n": "twelve"},
                    {"index": {"_index": "a", "_id": "10"}}, {"n": "12"},
                    {"index": {"_index": "a", "_id": "11"}}, {"s": {"inner": 1}},
                    {"index": {"_index": "a", "_id": "12"}}, {"x.y": 1},
                    {"index": {"_index": "a", "_id": "13"}}, {"x": "text"})
    e = item(b, 0)["error"]
    check(item(b, 0)["status"] == 400 and e["type"] == "document_parsing_exception" and
          "failed to parse field [n] of type [long] in document with id '9'" in e["reason"],
          "mapping conflict: 400 %s: %s" % (e["type"], e["reason"]))
    check(item(b, 1)["status"] == 201, "a numeric string is coerced into a long field")
    check(item(b, 2)["status"] == 400 and item(b, 4)["status"] == 400,
          "an object in a text field, a value where dotted keys made an object: 400")
    check(s.mapping("a")["x.y"] == "long" and s.mapping("a")["x"] == "object",
          "dotted keys are objects, as Elasticsearch expands them")

with EsServer(flavor="os2") as s:
    bulk(s, {"index": {"_index": "b"}}, {"t": "2024-05-01T12:00:00.123Z"})
    st, b, _ = bulk(s, {"index": {"_index": "b"}}, {"t": "soon"})
    check(item(b, 0)["error"]["type"] == "mapper_parsing_exception" and
          s.mapping("b")["t"] == "date", "OpenSearch: a date field refuses text with "
          "mapper_parsing_exception")

# ---- _type ----
with EsServer(flavor="es8") as s:
    st, b, _ = bulk(s, {"index": {"_index": "a", "_type": "_doc"}}, {"n": 1})
    check(st == 400 and b["error"]["type"] == "illegal_argument_exception" and
          "unknown parameter [_type]" in b["error"]["reason"] and b["status"] == 400,
          "8.x refuses _type for the whole request: %s" % b["error"]["reason"])
with EsServer(flavor="es7") as s:
    st, b, _ = bulk(s, {"index": {"_index": "a", "_type": "_doc"}}, {"n": 1},
                    {"index": {"_index": "a", "_type": "other"}}, {"n": 2})
    check(st == 200 and item(b, 0)["status"] == 201 and item(b, 0)["_type"] == "_doc" and
          item(b, 1)["status"] == 400, "7.17 takes _type _doc, refuses a second type")

# ---- faults, filter_path, gzip, size ----
with EsServer(flavor="es8", seed=5, item_429_rate=0.5) as s:
    st, b, _ = bulk(s, *[x for i in range(40) for x in ({"create": {"_index": "c"}},
                                                        {"i": i})],
                    path="/_bulk?filter_path=errors,items.*.status,items.*.error.type")
    statuses = [item(b, i)["status"] for i in range(40)]
    check(set(statuses) == {201, 429} and
          all(item(b, i)["error"]["type"] == "es_rejected_execution_exception"
              for i in range(40) if statuses[i] == 429) and
          set(item(b, 0)) <= {"status", "error"}, "per-item 429 es_rejected_execution_exception "
          "(%d of 40), filter_path keeps only what it names" % statuses.count(429))
    check(s.count("c") == statuses.count(201), "items answered 429 are not stored")
with EsServer(flavor="es8", request_503_rate=1.0) as s:
    st, b, _ = bulk(s, {"create": {"_index": "c"}}, {"i": 1})
    check(st == 503 and b["status"] == 503 and s.count("c") == 0,
          "whole-request 503: %s" % b["error"]["reason"])
with EsServer(flavor="es8", max_content_length=1000) as s:
    st, b, h = bulk(s, {"create": {"_index": "c"}}, {"pad": "x" * 2000})
    check(st == 413 and b is None and s.count("c") == 0, "413 over max_content_length")
    gz = gzip.compress(ndjson({"create": {"_index": "c"}}, {"i": 1}))
    st, b, _ = call(s, "POST", "/c/_bulk", gz, {"Content-Encoding": "gzip"})
    check(st == 200 and s.count("c") == 1 and s.stats()["bulks"][-1]["gzip"],
          "gzip bodies read; the index from the URL")
    st, b, _ = call(s, "POST", "/_bulk", b'{"create":{"_index":"c"}}\n{"i":1}')
    check(st == 400 and "terminated by a newline" in b["error"]["reason"],
          "a body without its final newline is refused")

# ---- data streams, pipelines ----
with EsServer(flavor="es8") as s:
    st, b, _ = bulk(s, {"create": {"_index": "logs-app-default"}}, {"@timestamp": "2024-05-01"},
                    {"index": {"_index": "logs-app-default"}}, {"@timestamp": "2024-05-01"},
                    {"create": {"_index": "logs-app-default"}}, {"m": 1})
    check([item(b, i)["status"] for i in range(3)] == [201, 400, 400] and
          item(b, 0)["_index"].startswith(".ds-logs-app-default-"),
          "data streams: create only, @timestamp required")
    st, b, _ = bulk(s, {"create": {"_index": "p"}}, {"m": 1}, path="/_bulk?pipeline=nope")
    check(st == 400 and "pipeline with id [nope] does not exist" in b["error"]["reason"],
          "an unknown pipeline refuses the request")

# ---- auth ----
with EsServer(flavor="es8", users={"elastic": "s3cret"}, api_keys=["aWQ6a2V5"]) as s:
    st, b, h = call(s, "GET", "/")
    check(st == 401 and b["error"]["type"] == "security_exception" and
          "WWW-Authenticate" in h, "401 security_exception without credentials")
    basic = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    wrong = "Basic " + base64.b64encode(b"elastic:nope").decode()
    check(call(s, "GET", "/", headers={"Authorization": basic})[0] == 200, "Basic auth")
    check(call(s, "GET", "/", headers={"Authorization": wrong})[0] == 401, "a wrong password")
    st, b, _ = bulk(s, {"create": {"_index": "k"}}, {"i": 1},
                    headers={"Authorization": "ApiKey aWQ6a2V5"})
    check(st == 200 and s.count("k") == 1, "ApiKey auth")

# ---- SigV4 ----
AWS = {"region": "eu-west-1", "service": "es", "access_key": "AKIDES", "secret_key": "sk"}
for service in ("es", "aoss"):
    with EsServer(flavor="os2", aws=dict(AWS, service=service)) as s:
        body = ndjson({"create": {"_index": "s"}}, {"i": 1})
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=s.url + "/_bulk?filter_path=errors", data=body,
            headers={"Content-Type": "application/x-ndjson",
                     "X-Amz-Content-SHA256": __import__("hashlib").sha256(body).hexdigest()})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDES", "sk"), service,
                                "eu-west-1").add_auth(req)
        st, b, _ = call(s, "POST", "/_bulk?filter_path=errors", body, dict(req.headers.items()))
        check(st == 200 and s.count("s") == 1, "%s: a request botocore signed is taken" % service)
        h = dict(req.headers.items())
        h["Authorization"] = h["Authorization"][:-4] + "0000"
        st, b, _ = call(s, "POST", "/_bulk?filter_path=errors", body, h)
        check(st == 403 and "signature we calculated does not match" in b["message"],
              "%s: a wrong signature is 403" % service)
        check(call(s, "GET", "/")[0] == 403, "%s: unsigned is 403" % service)

#!/usr/bin/python3
"""Generates requests signed by botocore's SigV4Auth, one JSON object a line.

test_aws_sigv4.c runs this and signs every request again with gl_sigv4_sign();
the Authorization headers must be equal. Each line holds:

  method, host, path (raw, not percent-encoded), query (as sent, or null),
  headers [[name, value], ...], body_hex, s3 (0/1), region, service,
  time (Unix seconds), akid, secret, token (or null),
  expected_authorization, expected_amz_date, expected_canonical

The request is handed to botocore the way its serializers build one: the URL
carries the path percent-encoded once (quote(path or '/', safe='/~')), the query
parameters are the decoded pairs of the query string, and the clock is fixed
at `time`. Requests for service s3 are signed with S3SigV4Auth, which adds
X-Amz-Content-SHA256; the line lists that header so the C side signs it too.

Usage: sigv4_botocore.py --count N --seed S
"""

import argparse
import base64
import datetime
import hashlib
import json
import random
import sys
import types
from urllib.parse import quote, unquote

try:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:
    sys.stderr.write(f"sigv4_botocore.py: botocore is missing ({e}); "
                     "install the Debian package python3-botocore\n")
    sys.exit(2)

REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1",
           "me-central-1"]
SERVICES = ["logs", "sts", "es", "aps"]
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"

PATH_SEGMENTS = [
    "a", "b", "logs", "my index", "_bulk", "é", "日本語", "..", ".", "", "...", "%2F", "%",
    "a+b", "~user", "_-.~", "q?x", "frag#x", "x=y", ":", "@", "!$&'()*,;", "\t", "ü ü",
    "api", "v1", "remote_write", "workspaces", "ws-1234abcd", "😀", "A%20B", "%zz",
]
QUERY_WORDS = [
    "Action", "Version", "Param1", "param1", "Param2", "a", "A", "b", "_", "x-y", "z~",
    "key with space", "é", "日本", "a+b", "a/b", "a=b", "&", "%", "1", "", "Zebra", "zebra",
    "2011-06-15", "GetCallerIdentity", "val ue", "😀", "a.b", "%zz",
]
HEADER_NAMES = [
    "Content-Type", "X-Amz-Target", "X-Custom-Thing", "x-AMZ-meta-Foo", "CONTENT-ENCODING",
    "x-a", "X-b", "Accept", "X-Amz-User-Agent", "x-amz-meta-list",
]
HEADER_VALUES = [
    "application/x-amz-json-1.1", "Logs_20140328.PutLogEvents", "  a   b\t c  ", "gzip",
    "", "   ", "value", "x\t\ty", "MiXeD CaSe  Value", "a,b,c", "1", "text/plain; charset=utf-8",
    "\x0bvt\x0cff\x1cfs", "spaces\u00a0nbsp", "ideo\u3000space", "\u2003em\u2003",
]


class FixedClock(datetime.datetime):
    """datetime.datetime whose utcnow() is the request's signing time."""
    now = None

    @classmethod
    def utcnow(cls):
        return cls.now


def random_path(rnd):
    if rnd.random() < 0.08:
        return rnd.choice(["", "/"])
    segs = [rnd.choice(PATH_SEGMENTS) for _ in range(rnd.randint(1, 6))]
    path = "/" + "/".join(segs)
    if rnd.random() < 0.25:
        path += "/"
    if rnd.random() < 0.1:
        path = "/" + path
    return path


def encode_query_char(rnd, ch, keep_equal):
    """One character of a query part as a client might send it."""
    if ch in UNRESERVED:
        if rnd.random() < 0.1:
            return "".join(f"%{b:02x}" if rnd.random() < 0.5 else f"%{b:02X}"
                           for b in ch.encode())
        return ch
    if ch in ":/@!$'()*,;+" or (keep_equal and ch == "="):
        if rnd.random() < 0.5:
            return ch
    return "".join(f"%{b:02x}" if rnd.random() < 0.3 else f"%{b:02X}" for b in ch.encode())


def encode_query_part(rnd, text, keep_equal):
    if text == "%zz":
        return "%zz"   # an invalid escape, sent as is
    return "".join(encode_query_char(rnd, ch, keep_equal) for ch in text)


def random_query(rnd):
    r = rnd.random()
    if r < 0.15:
        return None
    if r < 0.2:
        return rnd.choice(["", "&", "a=1&&b=2", "=", "flag", "a=1&"])
    pieces = []
    for _ in range(rnd.randint(1, 7)):
        key = encode_query_part(rnd, rnd.choice(QUERY_WORDS) or "k", False)
        shape = rnd.random()
        if shape < 0.15:
            pieces.append(key)
        elif shape < 0.25:
            pieces.append(key + "=")
        else:
            pieces.append(key + "=" + encode_query_part(rnd, rnd.choice(QUERY_WORDS), True))
    if rnd.random() < 0.3:
        pieces.append(pieces[0])
    rnd.shuffle(pieces)
    return "&".join(pieces)


def query_params(query):
    """The decoded pairs botocore's serializers would have put in request.params."""
    params = []
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        params.append((unquote(key), unquote(value)))
    return params


def random_headers(rnd, token, service, body_hash):
    headers = []
    for _ in range(rnd.randint(0, 5)):
        headers.append([rnd.choice(HEADER_NAMES), rnd.choice(HEADER_VALUES)])
    if headers and rnd.random() < 0.2:
        headers.append([headers[0][0].swapcase(), rnd.choice(HEADER_VALUES)])
    extra = rnd.random()
    if extra < 0.05:
        headers.append(["User-Agent", "gleaner/1.0"])
    elif extra < 0.1:
        headers.append(["Expect", "100-continue"])
    elif extra < 0.15:
        headers.append(["X-Amz-Date", "20000101T000000Z"])
    elif extra < 0.2:
        headers.append(["X-Amz-Security-Token", "given-token"])
    elif extra < 0.25:
        headers.append(["Authorization", "stale"])
    elif extra < 0.3:
        headers.append(["Host", "Proxy.Example.COM:8080"])
    elif extra < 0.35:
        headers.append(["X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"])
    if service in ("es", "aps") and rnd.random() < 0.6:
        value = "UNSIGNED-PAYLOAD" if rnd.random() < 0.1 else body_hash
        headers.append(["X-Amz-Content-Sha256", value])
    rnd.shuffle(headers)
    return headers


def random_body(rnd, index):
    if index == 7:
        return rnd.randbytes(1 << 20)
    r = rnd.random()
    if r < 0.3:
        return b""
    if r < 0.6:
        return json.dumps({"logEvents": [{"message": "x" * rnd.randint(0, 200)}]}).encode()
    if r < 0.99:
        return rnd.randbytes(rnd.randint(1, 4096))
    return rnd.randbytes(rnd.randint(4097, 1 << 20))


def random_host(rnd, service, region):
    r = rnd.random()
    if r < 0.05:
        return "[fd00::1]:9200"
    host = f"{service}.{region}.amazonaws.com"
    if r < 0.15:
        host = host.upper()
    elif r < 0.25:
        host = f"search-domain-{rnd.randint(0, 99)}.{region}.es.amazonaws.com:8443"
    return host


def random_creds(rnd):
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    secret = base64.b64encode(rnd.randbytes(30)).decode()
    r = rnd.random()
    if r < 0.5:
        return "AKIA" + "".join(rnd.choice(alnum) for _ in range(16)), secret, None
    if r < 0.55:
        return "AKIA" + "".join(rnd.choice(alnum) for _ in range(16)), secret, ""
    token = base64.b64encode(rnd.randbytes(rnd.randint(100, 600))).decode()
    return "ASIA" + "".join(rnd.choice(alnum) for _ in range(16)), secret, token


def sign(req, auth_cls, akid, secret, token, service, region, when):
    FixedClock.now = when
    auth = auth_cls(Credentials(akid, secret, token), service, region)
    auth.add_auth(req)
    authorization = req.headers["Authorization"]
    del req.headers["Authorization"]
    return authorization, req.context["timestamp"], auth.canonical_request(req)


def one_request(rnd, index):
    s3 = rnd.random() < 0.05
    service = "s3" if s3 else rnd.choice(SERVICES)
    region = rnd.choice(REGIONS)
    host = random_host(rnd, service, region)
    method = rnd.choice(["GET", "POST", "POST", "PUT", "DELETE", "HEAD", "post"])
    path = random_path(rnd)
    query = random_query(rnd)
    body = random_body(rnd, index)
    body_hash = hashlib.sha256(body).hexdigest()
    akid, secret, token = random_creds(rnd)
    headers = random_headers(rnd, token, service, body_hash)
    if s3:
        headers.append(["X-Amz-Content-SHA256", body_hash])
    when = rnd.randint(1420070400, 2082758399)

    # The URL carries the path as gl_sigv4_uri_path() sends it: "" is "/".
    url = "https://" + host + quote(path or "/", safe="/~")
    req = AWSRequest(method=method, url=url, data=body,
                     params=query_params(query) if query else None)
    for name, value in headers:
        req.headers[name] = value
    auth_cls = botocore.auth.S3SigV4Auth if s3 else botocore.auth.SigV4Auth
    clock = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).replace(tzinfo=None)
    authorization, amz_date, canonical = sign(req, auth_cls, akid, secret, token, service,
                                              region, clock)
    return {
        "method": method, "host": host, "path": path, "query": query, "headers": headers,
        "body_hex": body.hex(), "s3": int(s3), "region": region, "service": service,
        "time": when, "akid": akid, "secret": secret, "token": token,
        "expected_authorization": authorization, "expected_amz_date": amz_date,
        "expected_canonical": canonical,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    botocore.auth.datetime = types.SimpleNamespace(datetime=FixedClock)
    rnd = random.Random(args.seed)
    out = sys.stdout
    for i in range(args.count):
        out.write(json.dumps(one_request(rnd, i), ensure_ascii=False) + "\n")
    out.flush()


if __name__ == "__main__":
    main()

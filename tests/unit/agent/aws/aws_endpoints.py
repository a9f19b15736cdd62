"""AWS credential endpoints for tests/unit/agent/aws/test_aws_credentials.c.

One HTTP server on 127.0.0.1 (ephemeral port) playing three peers:
  POST /sts            STS: AssumeRoleWithWebIdentity (unsigned) and AssumeRole,
                       whose SigV4 signature is recomputed with botocore and compared
  GET  /pod/creds      Pod Identity: requires Authorization: pod-token-secret
  PUT  /latest/api/token and GET /latest/meta-data/iam/security-credentials/[role]:
                       IMDSv2, answering 401 without the session token header

It prints "port N" first, then one line per request it handled ("event ...")
so that the test can assert on what it received. Tokens and role ARNs steer
the answers: web identity token "bad-token" gets InvalidIdentityToken; a role
ARN ending in "short" gets credentials that expire in 4 seconds. It exits on
its own after two minutes in case nobody kills it.
"""
import datetime
import http.server
import json
import sys
import threading
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ENV_KEYS = {"AKIDENVEXAMPLE": ("envSecretKeyExample/+=", None)}
POD_TOKEN = "pod-token-secret"
IMDS_TOKEN = "imds-session-token-1"
LOCK = threading.Lock()
ISSUED = dict(ENV_KEYS)
COUNTER = [0]


def event(line):
    with LOCK:
        sys.stdout.write("event " + line + "\n")
        sys.stdout.flush()


def expiration(role):
    life = 4 if role.endswith("short") else 3600
    t = datetime.datetime.utcnow() + datetime.timedelta(seconds=life)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(prefix):
    with LOCK:
        COUNTER[0] += 1
        n = COUNTER[0]
        key = "ASIA%s%d" % (prefix, n)
        secret = "%sSecret%d/+=" % (prefix.lower(), n)
        token = "%sToken%d" % (prefix.lower(), n)
        ISSUED[key] = (secret, token)
    return key, secret, token


def sts_xml(action, role):
    key, secret, token = issue("ROLE" if action == "AssumeRole" else "WEB")
    return (
        '<%sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
        "  <%sResult>\n"
        "    <Credentials>\n"
        "      <AccessKeyId>%s</AccessKeyId>\n"
        "      <SecretAccessKey>%s</SecretAccessKey>\n"
        "      <SessionToken>%s</SessionToken>\n"
        "      <Expiration>%s</Expiration>\n"
        "    </Credentials>\n"
        "  </%sResult>\n"
        "  <ResponseMetadata><RequestId>1-2-3</RequestId></ResponseMetadata>\n"
        "</%sResponse>\n"
        % (action, action, key, secret, token, expiration(role), action, action)
    ).encode()


def sts_error(code, message):
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
        "  <Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>\n"
        "  <RequestId>4-5-6</RequestId>\n"
        "</ErrorResponse>\n" % (code, message)
    ).encode()


def json_creds(prefix, role, code=None):
    key, secret, token = issue(prefix)
    doc = {"AccessKeyId": key, "SecretAccessKey": secret, "Token": token,
           "Expiration": expiration(role)}
    if code:
        doc["Code"] = code
        doc["Type"] = "AWS-HMAC"
    return json.dumps(doc).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="text/xml"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def signature_ok(self, body):
        """Recomputes the SigV4 signature of this request with botocore."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "unsigned"
        parts = dict(p.strip().split("=", 1) for p in auth[17:].split(","))
        key, date, region, service, _ = parts["Credential"].split("/")
        if key not in ISSUED:
            return "unknown-key"
        secret, token = ISSUED[key]
        if token is not None and self.headers.get("X-Amz-Security-Token") != token:
            return "bad-token"
        signed = parts["SignedHeaders"].split(";")
        headers = {h: self.headers.get(h, "") for h in signed}
        host = self.headers.get("Host")
        req = AWSRequest(method=self.command, url="http://%s%s" % (host, self.path),
                         data=body, headers=headers)
        req.context["timestamp"] = self.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(key, secret, token), service, region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if expected != parts["Signature"]:
            return "mismatch"
        if service != "sts" or region != "us-west-2":
            return "scope"
        return "ok key=" + key

    def sts(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        action = form.get("Action")
        role = form.get("RoleArn", "")
        if form.get("Version") != "2011-06-15" or not form.get("RoleSessionName"):
            self.reply(400, sts_error("MissingParameter", "Version or RoleSessionName"))
            return
        if action == "AssumeRoleWithWebIdentity":
            token = form.get("WebIdentityToken", "")
            event("web_identity token=%s role=%s session=%s signed=%s"
                  % (token, role, form["RoleSessionName"], "Authorization" in self.headers))
            if token == "bad-token":
                self.reply(400, sts_error("InvalidIdentityToken",
                                          "Token &quot;bad&quot; rejected &amp; logged"))
                return
            self.reply(200, sts_xml(action, role))
        elif action == "AssumeRole":
            verdict = self.signature_ok(body)
            event("assume_role %s role=%s external_id=%s"
                  % (verdict, role, form.get("ExternalId", "-")))
            if not verdict.startswith("ok"):
                self.reply(403, sts_error("SignatureDoesNotMatch", verdict))
                return
            self.reply(200, sts_xml(action, role))
        else:
            self.reply(400, sts_error("InvalidAction", "unknown action"))

    def imds(self):
        p = self.path
        if self.command == "PUT" and p == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            event("imds token ttl=%s" % ttl)
            if ttl != "21600":
                self.reply(400, b"missing ttl", "text/plain")
                return
            self.reply(200, IMDS_TOKEN.encode(), "text/plain")
            return
        if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
            event("imds unauthorized path=%s" % p)
            self.reply(401, b"", "text/plain")
            return
        base = "/latest/meta-data/iam/security-credentials/"
        if p == "/latest/meta-data/placement/region":
            event("imds region")
            self.reply(200, b"eu-north-1", "text/plain")
        elif p == base:
            event("imds role")
            self.reply(200, b"test-role\n", "text/plain")
        elif p == base + "test-role":
            event("imds creds")
            self.reply(200, json_creds("IMDS", "r", "Success"), "text/plain")
        else:
            self.reply(404, b"", "text/plain")

    def route(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/sts" and self.command == "POST":
            self.sts(body)
        elif self.path == "/pod/creds" and self.command == "GET":
            auth = self.headers.get("Authorization")
            event("pod auth=%s" % ("ok" if auth == POD_TOKEN else "bad"))
            if auth != POD_TOKEN:
                body = json.dumps({"code": "AccessDeniedException", "message": "bad token"})
                self.reply(401, body.encode(), "application/json")
                return
            self.reply(200, json_creds("POD", "r"), "application/json")
        elif self.path.startswith("/latest/"):
            self.imds()
        else:
            self.reply(404, b"", "text/plain")

    do_GET = do_POST = do_PUT = route


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write("port %d\n" % server.server_address[1])
    sys.stdout.flush()
    time.sleep(120)


if __name__ == "__main__":
    main()

"""An EC2 instance metadata (IMDS) test server on 127.0.0.1, in the shape of
the real one: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
gives an IMDSv2 session token; GETs under /latest/meta-data/ and
/latest/dynamic/ need it (401 without, or once it expired) unless v1 is
allowed; instance tags answer 404 unless tags are allowed in metadata.
Tokens expire after `token_ttl` seconds of the server's clock, whatever the
client asked for, so a test can make a token lapse. Every request is logged."""
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAC = "0e:12:34:56:78:9a"


class Imds:
    def __init__(self, port=0, token_ttl=21600.0, tags=None, allow_v1=False):
        self.token_ttl = token_ttl
        self.tags = tags  # None: tags not allowed in metadata (404)
        self.allow_v1 = allow_v1
        self.tokens = {}
        self.log = []  # (method, path, token or None, status)
        self.lock = threading.Lock()
        self.values = {
            "/latest/meta-data/placement/availability-zone": "us-east-1a",
            "/latest/meta-data/instance-id": "i-0123456789abcdef0",
            "/latest/meta-data/instance-type": "m5.large",
            "/latest/meta-data/local-ipv4": "10.0.1.23",
            "/latest/meta-data/ami-id": "ami-0abcdef1234567890",
            "/latest/meta-data/hostname": "ip-10-0-1-23.ec2.internal",
            "/latest/meta-data/mac": MAC,
            "/latest/meta-data/network/interfaces/macs/%s/vpc-id" % MAC: "vpc-0a1b2c3d",
            "/latest/dynamic/instance-identity/document": json.dumps({
                "accountId": "123456789012", "region": "us-east-1",
                "instanceId": "i-0123456789abcdef0"}),
        }
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body=b""):
                # Logged before the answer leaves, so the log is in the order the client saw.
                with server.lock:
                    server.log.append((self.command, self.path,
                                       self.headers.get("X-aws-ec2-metadata-token"), status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                if self.path != "/latest/api/token" or not ttl or not ttl.isdigit():
                    return self.answer(400)
                token = uuid.uuid4().hex
                with server.lock:
                    server.tokens[token] = time.time() + min(float(ttl), server.token_ttl)
                self.answer(200, token.encode())

            def do_GET(self):
                token = self.headers.get("X-aws-ec2-metadata-token")
                with server.lock:
                    until = server.tokens.get(token)
                if token is None and not server.allow_v1:
                    return self.answer(401)
                if token is not None and (until is None or until < time.time()):
                    return self.answer(401)
                body = server.value(self.path)
                if body is None:
                    return self.answer(404)
                self.answer(200, body.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def value(self, path):
        prefix = "/latest/meta-data/tags/instance"
        if path.startswith(prefix):
            if self.tags is None:
                return None
            if path == prefix:
                return "\n".join(self.tags)
            return self.tags.get(path[len(prefix) + 1:])
        return self.values.get(path)

    def requests(self, method=None, status=None):
        with self.lock:
            return [r for r in self.log
                    if (method is None or r[0] == method) and (status is None or r[3] == status)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

"""SigV4 checking for the integration tests' AWS endpoints: the signature of a
request recomputed with botocore (an implementation independent of the
agent's) over exactly the headers the client says it signed. A library, not a
test (run.sh skips files named lib*)."""
import hmac
import re

import botocore.auth
import botocore.awsrequest
import botocore.credentials


class Signer(botocore.auth.SigV4Auth):
    """botocore's SigV4 over exactly the headers the client said it signed
    (botocore alone would pick its own set and skip e.g. User-Agent)."""

    def __init__(self, cred, service, region, signed, received):
        super().__init__(cred, service, region)
        self._signed = signed
        self._received = received

    def headers_to_sign(self, request):
        m = botocore.awsrequest.HTTPHeaders()
        for name in self._signed:
            for v in self._received.get_all(name) or []:
                m[name] = v
        return m


def parse(auth):
    """The parts of an Authorization header: (akid, date, region, service,
    signed header names, signature), or None when it is not SigV4."""
    if not auth:
        return None
    alg, _, rest = auth.strip().partition(" ")
    parts = {}
    for item in rest.split(","):
        k, _, v = item.strip().partition("=")
        parts[k] = v
    if alg != "AWS4-HMAC-SHA256" or not all(k in parts for k in
                                             ("Credential", "SignedHeaders", "Signature")):
        return None
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return None
    signed = [h.strip().lower() for h in parts["SignedHeaders"].split(";")]
    return scope[0], scope[1], scope[2], scope[3], signed, parts["Signature"]


def valid(auth, headers, method, path, body, secrets, region, service, host):
    """'' when the request's signature is right for the key's secret (secrets:
    {akid: (secret, token)}), the region and the service; else why not."""
    p = parse(auth)
    if p is None:
        return "no SigV4 Authorization header"
    akid, date, got_region, got_service, signed, signature = p
    amz_date = headers.get("X-Amz-Date") or ""
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or date != amz_date[:8]:
        return "bad X-Amz-Date %r for scope date %s" % (amz_date, date)
    if got_region != region or got_service != service:
        return "scope %s/%s, expected %s/%s" % (got_region, got_service, region, service)
    if akid not in secrets:
        return "unknown access key %s" % akid
    secret, token = secrets[akid]
    if (token or None) != (headers.get("X-Amz-Security-Token") or None):
        return "wrong session token"
    if "host" not in signed:
        return "host not signed"
    cred = botocore.credentials.Credentials(akid, secret, token)
    signer = Signer(cred, service, region, signed, headers)
    req = botocore.awsrequest.AWSRequest(method=method, url="http://%s%s" % (host, path),
                                         data=body)
    req.context["timestamp"] = amz_date
    want = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    return "" if hmac.compare_digest(want, signature) else "signature mismatch"

"""Helpers of the gcf suites: tokens from the simulator's token endpoint
with the stack's service-account key, the pool's functions as Cloud
Functions lists them, and a probe of a function's agent."""
import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

RUN = os.environ.get("SK_RUN_DIR", "")


def sim_url():
    port = os.environ.get("SK_GCP_SIM_PORT")
    if not port:
        port = str(int(os.environ.get("SK_SIM_PORT", "35201")) + 1)
    return f"http://127.0.0.1:{port}"


def grant(**extra):
    """A token from the simulator's token endpoint with the stack's
    service-account key (an RS256 assertion signed by openssl, as Google's
    client libraries make it): an ID token with target_audience, else an
    access token."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    with open(os.path.join(RUN, "gcp", "sa-key.json")) as f:
        key = json.load(f)
    now = int(time.time())
    head = {"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}
    claims = dict({"iss": key["client_email"], "aud": key["token_uri"], "iat": now,
                   "exp": now + 600}, **extra)
    signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
    pem = os.path.join(RUN, "gcp", "e2e-sign.pem")
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key["private_key"])
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem], input=signing.encode(),
                         check=True, capture_output=True).stdout
    os.unlink(pem)
    form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                   "assertion": signing + "." + b64(sig)}).encode()
    with urllib.request.urlopen(key["token_uri"], form, timeout=30) as r:
        answer = json.load(r)
    return answer.get("id_token") or answer["access_token"]


def id_token(audience):
    return grant(target_audience=audience)


def pool_urls():
    """The URLs of the pool's functions, as Cloud Functions lists them."""
    token = grant(scope="https://www.googleapis.com/auth/cloud-platform")
    req = urllib.request.Request(
        sim_url() + "/v2/projects/sockerless-local/locations/us-central1/functions",
        headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return [f["url"] for f in json.load(r).get("functions", [])
                if (f.get("labels") or {}).get("sockerless-pool") == "1"]


def probe(url, token):
    """A POST without argv: 400 from an idle agent (its image has no
    command of its own), 429 from a busy one, 404 for a deleted function."""
    req = urllib.request.Request(url, b"{}", {"Authorization": "Bearer " + token,
                                              "Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(req, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code

"""The OAuth2 token endpoint verifies the JWT-bearer assertion's RS256
signature against the service account's key (signed here by openssl, as
the backend signs with OpenSSL) and refuses expired, over-long, wrongly
addressed or wrongly signed assertions in OAuth's error shape; API calls
need a token the simulator issued; ID tokens, refresh tokens, STS,
iamcredentials and the metadata server work as Google's do."""

import base64
import json
import os
import subprocess
import time
import urllib.parse

from conftest import JWT_BEARER, PROJECT, http

LIST = "/v2/entries:list"
BODY = {"resourceNames": ["projects/%s" % PROJECT]}


def grant(sim, assertion):
    return sim.token_request({"grant_type": JWT_BEARER, "assertion": assertion})


def test_key_file_shape(sim):
    key = sim.key()
    assert key["type"] == "service_account" and key["project_id"] == PROJECT
    assert key["token_uri"] == sim.endpoint + "/token"
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(os.stat(sim.key_file).st_mode & 0o777) == "0o600"


def test_jwt_bearer_grant_and_api_call(sim):
    resp = grant(sim, sim.assertion())
    assert resp.status == 200, resp.body
    answer = resp.json()
    assert answer["token_type"] == "Bearer" and 0 < answer["expires_in"] <= 3600
    assert sim.call("POST", LIST, BODY, token=answer["access_token"]).status == 200


def test_refusals(sim, workdir):
    now = int(time.time())
    cases = [
        sim.assertion(iat=now - 7200, exp=now - 3600),          # expired
        sim.assertion(iat=now, exp=now + 7200),                 # longer than an hour
        sim.assertion(aud="https://example.com/token"),         # wrong audience
        sim.assertion(iss="other@sockerless-local.iam.gserviceaccount.com"),
    ]
    other = os.path.join(workdir, "other.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", other], check=True, capture_output=True)
    with open(other) as f:
        key = sim.key()
        claims = {"iss": key["client_email"], "scope": "s", "aud": key["token_uri"],
                  "iat": now, "exp": now + 600}
        cases.append(sim.sign({"alg": "RS256", "kid": key["private_key_id"]}, claims, f.read()))
    good = sim.assertion()
    head, body, sig = good.split(".")
    cases.append(head + "." + body + "." + sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB"))
    cases.append("not-a-jwt")
    for assertion in cases:
        resp = grant(sim, assertion)
        assert resp.status == 400, assertion
        assert resp.json()["error"] == "invalid_grant", resp.json()
        assert resp.json()["error_description"]
    resp = sim.token_request({"grant_type": "password"})
    assert resp.json()["error"] == "unsupported_grant_type"


def test_unauthenticated(sim):
    resp = http("POST", sim.endpoint + LIST, BODY)
    assert resp.status == 401 and resp.json()["error"]["status"] == "UNAUTHENTICATED"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = sim.call("POST", LIST, BODY, token="ya29.made-up")
    assert resp.status == 401 and "invalid authentication" in resp.json()["error"]["message"]


def test_expired_token_is_refused(fresh_sim):
    s = fresh_sim()
    token = s.token()
    assert s.call("POST", LIST, BODY, token=token).status == 200
    s.post("/_sim/tokens/expire", {"token": token})
    assert s.call("POST", LIST, BODY, token=token).status == 401


def test_id_token_grant(sim):
    resp = grant(sim, sim.assertion(scope=None, target_audience="https://fn.example/"))
    assert resp.status == 200, resp.body
    token = resp.json()["id_token"]
    header, claims = [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
                      for p in token.split(".")[:2]]
    assert header["alg"] == "RS256"
    assert claims["aud"] == "https://fn.example/" and claims["email"] == sim.key()["client_email"]


def test_refresh_token_grant(sim):
    with open(sim.adc_file) as f:
        adc = json.load(f)
    assert adc["type"] == "authorized_user"
    form = {"grant_type": "refresh_token", "client_id": adc["client_id"],
            "client_secret": adc["client_secret"], "refresh_token": adc["refresh_token"]}
    resp = sim.token_request(form)
    assert resp.status == 200
    assert sim.call("POST", LIST, BODY, token=resp.json()["access_token"]).status == 200
    resp = sim.token_request(dict(form, refresh_token="1//wrong"))
    assert resp.status == 400 and resp.json()["error"] == "invalid_grant"


def test_sts_and_impersonation(sim):
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": "//iam.googleapis.com/projects/1/locations/global/"
                        "workloadIdentityPools/p/providers/x",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "subject_token": "sockerless-sim-subject-token"}
    resp = http("POST", sim.endpoint + "/v1/token", urllib.parse.urlencode(form).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, resp.body
    federated = resp.json()["access_token"]
    assert resp.json()["issued_token_type"].endswith("access_token")
    bad = http("POST", sim.endpoint + "/v1/token", dict(form, subject_token="forged"),
               {"Content-Type": "application/json"})
    assert bad.status == 400 and bad.json()["error"] == "invalid_grant"
    sa = "/v1/projects/-/serviceAccounts/runner@%s.iam.gserviceaccount.com" % PROJECT
    resp = sim.call("POST", sa + ":generateAccessToken",
                    {"scope": ["https://www.googleapis.com/auth/cloud-platform"],
                     "lifetime": "600s"}, token=federated)
    assert resp.status == 200, resp.body
    assert sim.call("POST", LIST, BODY, token=resp.json()["accessToken"]).status == 200
    resp = sim.call("POST", sa + ":generateIdToken", {"audience": "https://svc/"},
                    token=federated)
    assert resp.status == 200 and resp.json()["token"].count(".") == 2
    resp = http("POST", sim.endpoint + sa + ":generateAccessToken", {"scope": ["s"]})
    assert resp.status == 401
    other = "/v1/projects/-/serviceAccounts/x@elsewhere.iam.gserviceaccount.com"
    assert sim.call("POST", other + ":generateAccessToken", {"scope": ["s"]}).status == 403


def test_metadata_server(sim):
    path = "/computeMetadata/v1/instance/service-accounts/default/token"
    resp = sim.get(path)
    assert resp.status == 403 and resp.headers["Metadata-Flavor"] == "Google"
    resp = sim.get(path, {"Metadata-Flavor": "Google"})
    assert resp.status == 200 and resp.headers["Metadata-Flavor"] == "Google"
    token = resp.json()["access_token"]
    assert sim.call("POST", LIST, BODY, token=token).status == 200
    flavor = {"Metadata-Flavor": "Google"}
    assert sim.get("/computeMetadata/v1/project/project-id", flavor).body == PROJECT.encode()
    email = sim.get("/computeMetadata/v1/instance/service-accounts/default/email", flavor)
    assert email.body.decode() == sim.key()["client_email"]
    ident = sim.get("/computeMetadata/v1/instance/service-accounts/default/identity"
                    "?audience=https://svc/", flavor)
    assert ident.status == 200 and ident.body.count(b".") == 2
    assert sim.get("/computeMetadata/v1/instance/region", flavor).body.endswith(
        b"/regions/us-central1")
    assert sim.get("/computeMetadata/v1/nothing", flavor).status == 404


def test_check_id_token():
    import sys
    import tempfile
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from gcpsim_auth import Auth, Tokens
    from gcpsim_core import ApiError
    auth = Auth(PROJECT, "us-central1", 1, tempfile.mkdtemp(), Tokens(), "x")
    token = auth.id_token(auth.email, "https://svc/")
    assert auth.check_id_token(token, "https://svc/")["email"] == auth.email
    for bad, aud in ((token, "https://other/"), (token[:-3] + "abc", "https://svc/"),
                     ("opaque", "https://svc/")):
        try:
            auth.check_id_token(bad, aud)
            raise AssertionError("accepted")
        except ApiError as exc:
            assert exc.http_status == 401

"""Entra ID's v2 token endpoint (client secret, certificate assertion,
federated assertion; each good and bad), the managed identity endpoints
(App Service / Container Apps and IMDS), token audiences on ARM and Log
Analytics routes, and the credentials env file."""

import json
import os
import subprocess
import time
import urllib.parse

from conftest import (ARM_SCOPE, LOGS_SCOPE, SUBSCRIPTION, TENANT, http, jwt_claims,
                      read_env_file, unb64url)


def entra_error(resp):
    body = resp.json()
    assert set(body) >= {"error", "error_description", "error_codes", "timestamp", "trace_id",
                         "correlation_id"}
    return body["error"], body["error_codes"][0], body["error_description"]


def test_creds_file_has_what_clients_need(azsim):
    creds = read_env_file(azsim.creds_file)
    for key in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                "AZURE_AUTHORITY_HOST", "AZURE_SK_CERT_PATH", "AZURE_SK_FEDERATED_TOKEN_FILE",
                "AZURE_SK_IDENTITY_ENDPOINT", "AZURE_SK_IDENTITY_HEADER"):
        assert creds[key], key
    assert creds["AZURE_TENANT_ID"] == TENANT
    assert creds["AZURE_AUTHORITY_HOST"] == azsim.url
    assert os.stat(azsim.creds_file).st_mode & 0o077 == 0
    with open(creds["AZURE_SK_CERT_PATH"]) as f:
        pem = f.read()
    assert "PRIVATE KEY" in pem and "BEGIN CERTIFICATE" in pem


def test_client_secret(azsim):
    resp = azsim.token_request(azsim.secret_form())
    assert resp.status == 200, resp.body
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    claims = jwt_claims(body["access_token"])
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["tid"] == TENANT and claims["appid"] == azsim.creds["AZURE_CLIENT_ID"]
    assert claims["exp"] > claims["nbf"] >= claims["iat"] - 1


def test_wrong_secret(azsim):
    resp = azsim.token_request(azsim.secret_form(client_secret="nope"))
    assert resp.status == 401
    error, code, text = entra_error(resp)
    assert (error, code) == ("invalid_client", 7000215)
    assert text.startswith("AADSTS7000215:")
    assert azsim.creds["AZURE_CLIENT_SECRET"] not in resp.body.decode()


def test_wrong_tenant(azsim):
    resp = azsim.token_request(azsim.secret_form(), tenant="00000000-dead-beef-0000-000000000000")
    assert resp.status == 400
    assert entra_error(resp)[1] == 90002


def test_unknown_client(azsim):
    resp = azsim.token_request(azsim.secret_form(client_id="11111111-2222-3333-4444-555555555555"))
    assert resp.status == 400
    assert entra_error(resp)[:2] == ("unauthorized_client", 700016)


def test_scopes(azsim):
    logs = azsim.token_request(azsim.secret_form(LOGS_SCOPE))
    assert logs.status == 200
    assert jwt_claims(logs.json()["access_token"])["aud"] == "https://api.loganalytics.io"
    alias = azsim.token_request(azsim.secret_form("https://management.core.windows.net//.default"))
    assert alias.status == 200
    no_default = azsim.token_request(azsim.secret_form("https://management.azure.com/"))
    assert no_default.status == 400 and entra_error(no_default)[:2] == ("invalid_scope", 1002012)
    unknown = azsim.token_request(azsim.secret_form("https://vault.azure.net/.default"))
    assert unknown.status == 400 and entra_error(unknown)[1] == 500011
    grant = azsim.token_request(azsim.secret_form(grant_type="password"))
    assert grant.status == 400 and entra_error(grant)[:2] == ("unsupported_grant_type", 70003)


def test_certificate_assertion(azsim):
    resp = azsim.token_request(azsim.assertion_form(azsim.cert_assertion()))
    assert resp.status == 200, resp.body
    assert jwt_claims(resp.json()["access_token"])["aud"] == "https://management.azure.com/"
    # azure-identity's own assertion keeps base64 padding and x5t#S256 is accepted too
    padded = azsim.sign({"alg": "RS256", "typ": "JWT", "x5t#S256": azsim.thumbprint(True)},
                        jwt_claims(azsim.cert_assertion()), padded=True)
    assert azsim.token_request(azsim.assertion_form(padded)).status == 200


def test_certificate_assertion_bad_signature(azsim, tmp_path):
    other = str(tmp_path / "other.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", other], check=True, capture_output=True)
    resp = azsim.token_request(azsim.assertion_form(azsim.cert_assertion(key_path=other)))
    assert resp.status == 401
    assert entra_error(resp)[:2] == ("invalid_client", 700027)
    tampered = azsim.cert_assertion().split(".")
    tampered[1] = tampered[1][:-2] + ("AA" if tampered[1][-2:] != "AA" else "BB")
    resp = azsim.token_request(azsim.assertion_form(".".join(tampered)))
    assert resp.status in (400, 401) and entra_error(resp)[1] in (700027, 50027)
    unknown_cert = azsim.cert_assertion(header={"x5t": "AAAAAAAAAAAAAAAAAAAAAAAAAAA"})
    assert entra_error(azsim.token_request(azsim.assertion_form(unknown_cert)))[1] == 700027


def test_certificate_assertion_expired_and_wrong_claims(azsim):
    now = int(time.time())
    expired = azsim.cert_assertion(nbf=now - 7200, exp=now - 3600)
    resp = azsim.token_request(azsim.assertion_form(expired))
    assert resp.status == 400
    assert entra_error(resp)[:2] == ("invalid_client", 700024)
    wrong_aud = azsim.cert_assertion(aud="https://login.microsoftonline.com/x/oauth2/v2.0/token")
    assert azsim.token_request(azsim.assertion_form(wrong_aud)).status == 401
    wrong_iss = azsim.cert_assertion(iss="someone-else")
    assert entra_error(azsim.token_request(azsim.assertion_form(wrong_iss)))[1] == 700021
    hs = azsim.cert_assertion(header={"alg": "HS256"})
    assert azsim.token_request(azsim.assertion_form(hs)).status == 401


def test_federated_assertion(azsim):
    with open(azsim.creds["AZURE_SK_FEDERATED_TOKEN_FILE"]) as f:
        token = f.read().strip()
    resp = azsim.token_request(azsim.assertion_form(token, LOGS_SCOPE))
    assert resp.status == 200, resp.body
    assert jwt_claims(resp.json()["access_token"])["aud"] == "https://api.loganalytics.io"


def test_federated_assertion_expired_and_forged(fresh_azsim):
    sim = fresh_azsim()
    path = sim.creds["AZURE_SK_FEDERATED_TOKEN_FILE"]
    assert sim.post("/_sim/federated-token", {"lifetime": -3600}).status == 200
    with open(path) as f:
        expired = f.read().strip()
    resp = sim.token_request(sim.assertion_form(expired))
    assert resp.status == 400 and entra_error(resp)[1] == 700024
    assert sim.post("/_sim/federated-token", {"lifetime": 3600}).status == 200
    with open(path) as f:
        good = f.read().strip()
    assert good != expired
    assert sim.token_request(sim.assertion_form(good)).status == 200
    header = json.loads(unb64url(good.split(".")[0]))
    forged = sim.sign(header, jwt_claims(good))  # same kid, signed with the client cert's key
    resp = sim.token_request(sim.assertion_form(forged))
    assert resp.status == 401 and entra_error(resp)[1] == 700027


def test_app_service_managed_identity(azsim):
    endpoint = azsim.creds["AZURE_SK_IDENTITY_ENDPOINT"]
    header = {"X-IDENTITY-HEADER": azsim.creds["AZURE_SK_IDENTITY_HEADER"]}
    query = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    resp = http("GET", endpoint + "?" + urllib.parse.urlencode(query), headers=header)
    assert resp.status == 200, resp.body
    body = resp.json()
    assert isinstance(body["expires_on"], str) and int(body["expires_on"]) > time.time()
    assert body["token_type"] == "Bearer" and body["resource"] == query["resource"]
    assert jwt_claims(body["access_token"])["aud"] == "https://management.azure.com/"
    assert azsim.call("GET", azsim.arm_path("jobs/x"), token=body["access_token"]).status != 401
    missing = http("GET", endpoint + "?" + urllib.parse.urlencode(query))
    assert missing.status == 400
    wrong = http("GET", endpoint + "?" + urllib.parse.urlencode(query),
                 headers={"X-IDENTITY-HEADER": "wrong"})
    assert wrong.status == 401
    old = dict(query, **{"api-version": "2017-09-01"})
    assert http("GET", endpoint + "?" + urllib.parse.urlencode(old), headers=header).status == 400
    other = dict(query, client_id="99999999-9999-9999-9999-999999999999")
    assert http("GET", endpoint + "?" + urllib.parse.urlencode(other),
                headers=header).status == 400


def test_imds(azsim):
    url = azsim.url + "/metadata/identity/oauth2/token?" + urllib.parse.urlencode(
        {"api-version": "2018-02-01", "resource": "https://api.loganalytics.io"})
    resp = http("GET", url, headers={"Metadata": "true"})
    assert resp.status == 200, resp.body
    body = resp.json()
    for key in ("expires_in", "expires_on", "ext_expires_in", "not_before"):
        assert isinstance(body[key], str) and body[key].isdigit(), key
    assert jwt_claims(body["access_token"])["aud"] == "https://api.loganalytics.io"
    no_header = http("GET", url)
    assert no_header.status == 400
    assert no_header.json()["error_description"] == "Required metadata header not specified"


def test_token_audience_is_checked(azsim_base):
    arm = azsim_base.token(ARM_SCOPE)
    logs = azsim_base.token(LOGS_SCOPE)
    ws = "/v1/workspaces/00000000-0000-0000-0000-000000000001/query"
    resp = azsim_base.call("POST", ws, {"query": "T"}, token=arm, api_version=None)
    assert resp.status == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert "authorization_uri=" in resp.headers["WWW-Authenticate"]
    resp = azsim_base.call("GET", azsim_base.arm_path("jobs"), token=logs)
    assert resp.status == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert azsim_base.call("POST", ws, {"query": "T"}, token=logs, api_version=None).status == 200


def test_unknown_missing_and_expired_tokens(azsim_base):
    path = azsim_base.arm_path("jobs")
    none = azsim_base.call("GET", path, headers={"Authorization": ""})
    assert none.status == 401
    assert none.headers["WWW-Authenticate"].startswith(
        'Bearer authorization_uri="%s/%s"' % (azsim_base.url, TENANT))
    token = azsim_base.token()
    head, claims, sig = token.split(".")
    forged = azsim_base.call("GET", path, token=head + "." + claims + "." + sig[::-1])
    assert forged.status == 401
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    fresh = azsim_base.token_request(azsim_base.secret_form()).json()["access_token"]
    assert azsim_base.call("GET", path, token=fresh).status == 200
    azsim_base.post("/_sim/tokens/expire", {"token": fresh})
    expired = azsim_base.call("GET", path, token=fresh)
    assert expired.status == 401
    assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_principal_reaches_the_handler(azsim_base):
    resp = azsim_base.call("GET", "/subscriptions/%s/resourceGroups/sockerless/_test/echo"
                           % SUBSCRIPTION)
    assert resp.status == 200, resp.body
    principal = resp.json()["principal"]
    assert principal["appid"] == azsim_base.creds["AZURE_CLIENT_ID"]
    assert principal["tid"] == TENANT and principal["oid"]

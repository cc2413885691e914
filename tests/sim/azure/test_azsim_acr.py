"""The Azure Container Registry host: the token exchange (an ARM token
for a refresh token), Docker's token flow (Basic with the null GUID user,
or the refresh_token grant) and the registry API proxied to the local
registry with ACR's Bearer challenge, walked through as `docker pull` and
`docker push` do it (python requests). Needs the test bed's registry
(SK_REGISTRY); the token endpoints' refusals are checked too."""

import hashlib
import json
import re

import pytest
import requests

from conftest import TENANT, needs_bed

NULL = "00000000-0000-0000-0000-000000000000"
MANIFESTS = "application/vnd.docker.distribution.manifest.v2+json, " \
    "application/vnd.docker.distribution.manifest.list.v2+json, " \
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"


@pytest.fixture(scope="module")
def acr(azsim):
    needs_bed()
    return azsim


def challenge(resp):
    assert resp.status_code == 401
    header = resp.headers["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def exchange(sim, token=None):
    return requests.post(sim.acr_url + "/oauth2/exchange", data={
        "grant_type": "access_token", "service": "127.0.0.1:%d" % sim.acr_port,
        "tenant": TENANT, "access_token": token or sim.token()}, timeout=30)


def access_token(sim, params, refresh):
    resp = requests.get(params["realm"], params={"service": params["service"],
                                                 "scope": params["scope"]},
                        auth=(NULL, refresh), timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["access_token"] == body["token"]
    return body["access_token"]


def test_pull_sequence(acr):
    base = acr.acr_url + "/v2/"
    ping = challenge(requests.get(base, timeout=30))
    assert ping["realm"] == acr.acr_url + "/oauth2/token"
    assert ping["service"] == "127.0.0.1:%d" % acr.acr_port
    refresh = exchange(acr).json()["refresh_token"]
    url = base + "library/busybox/manifests/latest"
    params = challenge(requests.get(url, headers={"Accept": MANIFESTS}, timeout=30))
    assert params["scope"] == "repository:library/busybox:pull"
    token = access_token(acr, params, refresh)
    auth = {"Authorization": "Bearer " + token, "Accept": MANIFESTS}
    assert requests.get(base, headers=auth, timeout=30).status_code == 200
    manifest = requests.get(url, headers=auth, timeout=30)
    assert manifest.status_code == 200, manifest.text
    digest = json.loads(manifest.content)["config"]["digest"]
    blob = requests.get(base + "library/busybox/blobs/" + digest, headers=auth, timeout=60)
    assert blob.status_code == 200
    assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == digest
    # the token is for that repository only
    other = requests.get(base + "library/alpine/manifests/latest", headers=auth, timeout=30)
    assert challenge(other)["scope"] == "repository:library/alpine:pull"


def test_push_needs_a_push_scope(acr):
    base = acr.acr_url + "/v2/"
    refresh = exchange(acr).json()["refresh_token"]
    repo = "azsim/pushed"
    pull_only = access_token(acr, {"realm": acr.acr_url + "/oauth2/token",
                                   "service": "127.0.0.1:%d" % acr.acr_port,
                                   "scope": "repository:%s:pull" % repo}, refresh)
    start = requests.post(base + repo + "/blobs/uploads/",
                          headers={"Authorization": "Bearer " + pull_only}, timeout=30)
    assert challenge(start)["scope"] == "repository:%s:pull,push" % repo
    form = requests.post(acr.acr_url + "/oauth2/token", data={
        "grant_type": "refresh_token", "service": "127.0.0.1:%d" % acr.acr_port,
        "scope": "repository:%s:pull,push" % repo, "refresh_token": refresh}, timeout=30)
    assert form.status_code == 200, form.text
    auth = {"Authorization": "Bearer " + form.json()["access_token"]}
    start = requests.post(base + repo + "/blobs/uploads/", headers=auth, timeout=30)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    assert location.startswith(acr.acr_url) or location.startswith("/v2/")
    if location.startswith("/"):
        location = acr.acr_url + location
    data = b"sockerless azure simulator blob\n"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    put = requests.put(location, params={"digest": digest}, data=data,
                       headers=dict(auth, **{"Content-Type": "application/octet-stream"}),
                       timeout=30)
    assert put.status_code == 201, put.text
    head = requests.head(base + repo + "/blobs/" + digest, headers=auth, timeout=30)
    assert head.status_code == 200


def test_exchange_and_token_refusals(acr):
    logs = acr.token("https://api.loganalytics.io/.default")
    assert exchange(acr, logs).status_code == 401
    assert exchange(acr, "not-a-token").status_code == 401
    wrong_grant = requests.post(acr.acr_url + "/oauth2/exchange", data={
        "grant_type": "password", "service": "127.0.0.1:%d" % acr.acr_port,
        "access_token": acr.token()}, timeout=30)
    assert wrong_grant.status_code == 400
    bad = requests.get(acr.acr_url + "/oauth2/token",
                       params={"service": "127.0.0.1:%d" % acr.acr_port,
                               "scope": "repository:x:pull"},
                       auth=(NULL, acr.token()), timeout=30)  # an ARM token is no refresh token
    assert bad.status_code == 401
    errors = bad.json()["errors"]
    assert errors[0]["code"] == "UNAUTHORIZED"
    forged = requests.get(acr.acr_url + "/v2/library/busybox/manifests/latest",
                          headers={"Authorization": "Bearer " + acr.token()}, timeout=30)
    assert forged.status_code == 401


def test_acr_names_map_to_the_local_registry(azsim):
    from azuresim_engine import Engine
    engine = Engine.__new__(Engine)
    engine.registry, engine.acr_host = "127.0.0.1:5000", "127.0.0.1:6000"
    assert engine.resolve("myreg.azurecr.io/app/web:1") == "127.0.0.1:5000/app/web:1"
    assert engine.resolve("127.0.0.1:6000/app/web:1") == "127.0.0.1:5000/app/web:1"
    assert engine.resolve("busybox") == "127.0.0.1:5000/library/busybox"

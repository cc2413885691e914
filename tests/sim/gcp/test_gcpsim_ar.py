"""The Artifact Registry host: Docker's token flow (401 challenge with a
Bearer realm, /v2/token taking oauth2accesstoken and an access token the
simulator issued), pushes and pulls proxied to the local registry under
<project>/<repo>/<image>, other projects denied; the repositories REST
API; and the engine wrapper's mapping of Artifact Registry names."""

import base64
import hashlib
import json
import re

import pytest

from conftest import PROJECT, REGION, http

IMAGE = "%s/sockerless/probe" % PROJECT


def ar(sim):
    if not sim.ar_port:
        pytest.skip("SK_REGISTRY not set (no test bed registry behind the Artifact Registry host)")
    return "http://127.0.0.1:%d" % sim.ar_port


def basic(token):
    return "Basic " + base64.b64encode(("oauth2accesstoken:" + token).encode()).decode()


def test_token_flow_push_pull(sim):
    host = ar(sim)
    resp = http("GET", host + "/v2/")
    assert resp.status == 401
    challenge = resp.headers["WWW-Authenticate"]
    realm = re.search(r'realm="([^"]+)"', challenge).group(1)
    assert realm == host + "/v2/token"
    assert 'service="%s-docker.pkg.dev"' % REGION in challenge
    assert http("GET", realm, headers={"Authorization": basic("ya29.forged")}).status == 401
    resp = http("GET", realm + "?service=x&scope=repository:%s:pull,push" % IMAGE,
                headers={"Authorization": basic(sim.token())})
    assert resp.status == 200
    bearer = {"Authorization": "Bearer " + resp.json()["token"]}
    assert http("GET", host + "/v2/", headers=bearer).status == 200
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    start = http("POST", host + "/v2/%s/blobs/uploads/" % IMAGE, b"", bearer)
    assert start.status == 202, start.body
    location = start.headers["Location"]
    assert location.startswith("/") or location.startswith(host), location
    url = (host + location if location.startswith("/") else location)
    url += ("&" if "?" in url else "?") + "digest=" + digest
    put = http("PUT", url, config, dict(bearer, **{"Content-Type": "application/octet-stream"}))
    assert put.status == 201, put.body
    manifest = json.dumps({"schemaVersion": 2, "mediaType":
                           "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                      "size": len(config), "digest": digest},
                           "layers": []}).encode()
    mtype = "application/vnd.docker.distribution.manifest.v2+json"
    put = http("PUT", host + "/v2/%s/manifests/v1" % IMAGE, manifest,
               dict(bearer, **{"Content-Type": mtype}))
    assert put.status == 201, put.body
    got = http("GET", host + "/v2/%s/manifests/v1" % IMAGE, headers=dict(bearer, Accept=mtype))
    assert got.status == 200 and got.body == manifest
    # The same image in the local registry, where the engine pulls it from.
    direct = http("GET", "http://%s/v2/%s/manifests/v1" % (sim.registry, IMAGE),
                  headers={"Accept": mtype})
    assert direct.status == 200 and direct.body == manifest
    # Basic credentials work without the token step.
    got = http("HEAD", host + "/v2/%s/manifests/v1" % IMAGE,
               headers={"Authorization": basic(sim.token()), "Accept": mtype})
    assert got.status == 200


def test_other_project_denied(sim):
    host = ar(sim)
    resp = http("GET", host + "/v2/someone-else/repo/img/tags/list",
                headers={"Authorization": basic(sim.token())})
    assert resp.status == 403 and resp.json()["errors"][0]["code"] == "DENIED"
    resp = http("GET", host + "/v2/%s/img/manifests/x" % PROJECT,
                headers={"Authorization": basic(sim.token())})
    assert resp.status == 404 and resp.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_repositories_api(sim):
    base = "/v1/projects/%s/locations/%s/repositories" % (PROJECT, REGION)
    resp = sim.call("POST", base + "?repositoryId=images", {"format": "DOCKER"})
    assert resp.status == 200 and resp.json()["done"] is True
    assert resp.json()["response"]["name"].endswith("/repositories/images")
    assert sim.call("GET", base + "/images").json()["format"] == "DOCKER"
    assert sim.call("POST", base + "?repositoryId=images", {"format": "DOCKER"}).status == 409
    assert sim.call("GET", base + "/missing").status == 404
    assert sim.call("POST", base + "?repositoryId=x", {"format": "NOPE"}).status == 400
    names = [r["name"] for r in sim.call("GET", base).json()["repositories"]]
    assert any(n.endswith("/images") for n in names)


def test_engine_maps_artifact_registry_names():
    pytest.importorskip("docker")
    from gcpsim_engine import Engine
    engine = Engine("unix:///nonexistent.sock", "127.0.0.1:5000", ar_host="127.0.0.1:6000")
    assert engine.resolve("us-central1-docker.pkg.dev/p/r/img:1") == "127.0.0.1:5000/p/r/img:1"
    assert engine.resolve("127.0.0.1:6000/p/r/img") == "127.0.0.1:5000/p/r/img"
    assert engine.resolve("gcr.io/p/img") == "127.0.0.1:5000/p/img"
    assert engine.resolve("alpine") == "127.0.0.1:5000/library/alpine"

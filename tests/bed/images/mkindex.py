#!/usr/bin/python3
"""Seed sockerless/multiarch in the bed registry from library/busybox.

usage: mkindex.py 127.0.0.1:PORT

Pushes (all in repository sockerless/multiarch):
  docker-amd64, docker-arm64   Docker v2 schema2 manifests
  oci-amd64, oci-arm64         OCI image manifests (same blobs)
  latest                       OCI image index  -> oci-amd64, oci-arm64
  manifestlist                 Docker manifest list -> docker-amd64, docker-arm64
The arm64 entries share the amd64 layers; only their config says arm64, so
they resolve but do not run here. Talks only to the given loopback registry
(http.client: no proxy environment is honoured).
"""
import hashlib
import http.client
import json
import sys

SRC = "library/busybox"
DST = "sockerless/multiarch"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    if not host.startswith("127."):
        sys.exit("mkindex: registry must be on loopback")

    def req(method, path, body=None, headers=None, ok=(200,)):
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status not in ok:
            sys.exit("mkindex: %s %s -> %d %s" % (method, path, r.status, data[:300]))
        return r, data

    def digest(b):
        return "sha256:" + hashlib.sha256(b).hexdigest()

    def put_blob(b):
        d = digest(b)
        r, _ = req("HEAD", "/v2/%s/blobs/%s" % (DST, d), ok=(200, 404))
        if r.status == 200:
            return d
        r, _ = req("POST", "/v2/%s/blobs/uploads/" % DST, ok=(202,))
        loc = r.getheader("Location")
        if loc.startswith("http"):
            loc = "/" + loc.split("/", 3)[3]
        loc += ("&" if "?" in loc else "?") + "digest=" + d
        req("PUT", loc, body=b, headers={"Content-Type": "application/octet-stream"}, ok=(201,))
        return d

    def mount_blob(d):
        r, _ = req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (DST, d, SRC), ok=(201, 202))
        if r.status == 202:  # mount refused: copy the bytes instead
            _, b = req("GET", "/v2/%s/blobs/%s" % (SRC, d))
            put_blob(b)

    def put_manifest(ref, mt, b):
        req("PUT", "/v2/%s/manifests/%s" % (DST, ref), body=b, headers={"Content-Type": mt}, ok=(201,))
        return {"mediaType": mt, "digest": digest(b), "size": len(b)}

    _, mbytes = req("GET", "/v2/%s/manifests/latest" % SRC, headers={"Accept": DOCKER_MANIFEST})
    m = json.loads(mbytes)
    if m.get("mediaType") != DOCKER_MANIFEST:
        sys.exit("mkindex: %s:latest is not a schema2 manifest" % SRC)
    _, cfg_amd = req("GET", "/v2/%s/blobs/%s" % (SRC, m["config"]["digest"]))
    cfg = json.loads(cfg_amd)
    cfg["architecture"] = "arm64"
    cfg["variant"] = "v8"
    cfg_arm = json.dumps(cfg, separators=(",", ":")).encode()

    for layer in m["layers"]:
        mount_blob(layer["digest"])
    mount_blob(m["config"]["digest"])
    put_blob(cfg_arm)

    plats = {"amd64": {"architecture": "amd64", "os": "linux"},
             "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    cfgs = {"amd64": cfg_amd, "arm64": cfg_arm}
    docker_refs, oci_refs = [], []
    for arch in ("amd64", "arm64"):
        c = {"size": len(cfgs[arch]), "digest": digest(cfgs[arch])}
        dm = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
              "config": dict(c, mediaType=DOCKER_CONFIG),
              "layers": [dict(l, mediaType=l["mediaType"]) for l in m["layers"]]}
        om = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
              "config": dict(c, mediaType=OCI_CONFIG),
              "layers": [{"mediaType": OCI_LAYER, "digest": l["digest"], "size": l["size"]}
                         for l in m["layers"]]}
        d = put_manifest("docker-" + arch, DOCKER_MANIFEST, json.dumps(dm, indent=3).encode())
        o = put_manifest("oci-" + arch, OCI_MANIFEST, json.dumps(om, indent=2).encode())
        docker_refs.append(dict(d, platform=plats[arch]))
        oci_refs.append(dict(o, platform=plats[arch]))

    put_manifest("latest", OCI_INDEX, json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": oci_refs}, indent=2).encode())
    put_manifest("manifestlist", DOCKER_LIST, json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": docker_refs}, indent=3).encode())


if __name__ == "__main__":
    main()

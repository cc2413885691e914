#!/usr/bin/python3
"""Builds the sockerless agent image and pushes it to a registry, or writes
it as an OCI image layout.

The image is FROM scratch with one layer holding /sockerless-agent (the
static binary, mode 0755), Entrypoint ["/sockerless-agent"] and Cmd
["--version"]. The ECS backend runs it as each task's init container
(`/sockerless-agent --install /sockerless/agent`), so `ecs.agent_image`
must name where this script pushed it (mirror it into ECR for tasks in
private subnets).

    deploy/agent-image.py --agent build/sockerless-agent \\
        --push 127.0.0.1:5000/sockerless/agent:0.1.0
    deploy/agent-image.py --agent build/sockerless-agent --oci-dir DIR [--tag 0.1.0]

Pushing speaks the Registry HTTP API v2 (monolithic blob uploads, then the
manifest): plain http for loopback registries (or --insecure), https
otherwise, with Basic or Bearer-token authentication when the registry asks
(--user USER:PASSWORD, e.g. AWS:$(aws ecr get-login-password)). Python 3
standard library only. The image is reproducible: the same binary gives
the same digest."""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$")


def die(message):
    print("agent-image: %s" % message, file=sys.stderr)
    sys.exit(1)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(agent_path, fmt):
    """Returns (manifest bytes, manifest media type, {digest: blob})."""
    with open(agent_path, "rb") as f:
        binary = f.read()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("sockerless-agent")
        info.size = len(binary)
        info.mode = 0o755
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(binary))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/sockerless-agent"], "Cmd": ["--version"],
                   "Labels": {"org.opencontainers.image.title": "sockerless-agent"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": "deploy/agent-image.py: /sockerless-agent"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    oci = fmt == "oci"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                   "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "digest": sha256(layer), "size": len(layer)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, indent=2).encode()
    blobs = {sha256(config_bytes): config_bytes, sha256(layer): layer}
    return manifest_bytes, manifest["mediaType"], blobs


def write_layout(directory, tag, manifest, media_type, blobs):
    """An OCI image layout (skopeo copy oci:DIR:TAG docker://...)."""
    blob_dir = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blob_dir, exist_ok=True)
    for digest, data in list(blobs.items()) + [(sha256(manifest), manifest)]:
        with open(os.path.join(blob_dir, digest.split(":", 1)[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": media_type, "digest": sha256(manifest),
                            "size": len(manifest),
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f, indent=2)


def split_reference(ref):
    """host, repository, tag of HOST/REPO[:TAG]."""
    host, sep, rest = ref.partition("/")
    if not sep or not ("." in host or ":" in host or host == "localhost"):
        die("%s: name the registry host (e.g. 127.0.0.1:5000/sockerless/agent:0.1.0)" % ref)
    repo, tag = rest, "latest"
    if ":" in rest.rsplit("/", 1)[-1]:
        repo, tag = rest.rsplit(":", 1)
    return host, repo, tag


class Registry:
    def __init__(self, host, repo, scheme, user):
        self.base = "%s://%s" % (scheme, host)
        self.repo = repo
        self.user = user
        self.auth = None  # the Authorization header once a challenge was met

    def request(self, method, url, data=None, headers=None, retry=True):
        if not url.startswith("http"):
            url = self.base + url
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=dict(headers or {}))
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            if exc.code == 401 and retry and self._authenticate(exc.headers):
                return self.request(method, url, data, headers, retry=False)
            return exc.code, exc.headers, body

    def _authenticate(self, headers):
        challenge = headers.get("WWW-Authenticate", "")
        scheme, _, params = challenge.partition(" ")
        basic = None
        if self.user:
            basic = "Basic " + base64.b64encode(self.user.encode()).decode()
        if scheme.lower() == "basic" and basic:
            self.auth = basic
            return True
        if scheme.lower() != "bearer":
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        query = {"service": fields.get("service", ""),
                 "scope": "repository:%s:pull,push" % self.repo}
        url = fields.get("realm", "") + "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url)
        if basic:
            req.add_header("Authorization", basic)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                answer = json.loads(resp.read())
        except (urllib.error.URLError, ValueError) as exc:
            die("getting a token from %s: %s" % (fields.get("realm"), exc))
        token = answer.get("token") or answer.get("access_token")
        if not token:
            return False
        self.auth = "Bearer " + token
        return True

    def push_blob(self, digest, data):
        status, _, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (self.repo, digest))
        if status == 200:
            return
        status, headers, body = self.request("POST", "/v2/%s/blobs/uploads/" % self.repo,
                                             data=b"")
        if status != 202:
            die("starting the upload of %s: HTTP %d %s" % (digest, status, body[:300]))
        location = urllib.parse.urljoin(self.base + "/", headers["Location"])
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode(
            {"digest": digest})
        status, _, body = self.request(
            "PUT", location, data=data,
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": str(len(data))})
        if status != 201:
            die("uploading %s: HTTP %d %s" % (digest, status, body[:300]))

    def push_manifest(self, tag, manifest, media_type):
        status, _, body = self.request(
            "PUT", "/v2/%s/manifests/%s" % (self.repo, tag), data=manifest,
            headers={"Content-Type": media_type})
        if status != 201:
            die("putting the manifest: HTTP %d %s" % (status, body[:300]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", required=True, help="the static sockerless-agent binary")
    parser.add_argument("--push", metavar="HOST/REPO:TAG", help="push to this registry")
    parser.add_argument("--oci-dir", metavar="DIR", help="write an OCI image layout")
    parser.add_argument("--tag", default="0.1.0", help="the tag in the OCI layout")
    parser.add_argument("--format", choices=("oci", "docker"), default="oci",
                        help="manifest media type (default oci)")
    parser.add_argument("--insecure", action="store_true",
                        help="plain http also for a non-loopback registry")
    parser.add_argument("--user", metavar="USER:PASSWORD",
                        default=os.environ.get("SOCKERLESS_REGISTRY_USER"),
                        help="registry credentials (or $SOCKERLESS_REGISTRY_USER)")
    args = parser.parse_args()
    if not args.push and not args.oci_dir:
        parser.error("give --push HOST/REPO:TAG or --oci-dir DIR (or both)")
    if not os.access(args.agent, os.R_OK):
        die("%s: not readable (build it with make)" % args.agent)
    manifest, media_type, blobs = build(args.agent, args.format)
    digest = sha256(manifest)
    if args.oci_dir:
        write_layout(args.oci_dir, args.tag, manifest, media_type, blobs)
        print("agent-image: wrote %s:%s (%s)" % (args.oci_dir, args.tag, digest),
              file=sys.stderr)
    if args.push:
        host, repo, tag = split_reference(args.push)
        scheme = "http" if args.insecure or LOOPBACK.match(host) else "https"
        registry = Registry(host, repo, scheme, args.user)
        for blob_digest, data in blobs.items():
            registry.push_blob(blob_digest, data)
        registry.push_manifest(tag, manifest, media_type)
        print("agent-image: pushed %s@%s" % (args.push, digest), file=sys.stderr)
    print(digest)


if __name__ == "__main__":
    main()

"""Artifact Registry: the Docker registry host (a second listener on
--ar-port, the registry v2 API proxied to the local --registry with
Docker's token flow) and the artifactregistry v1 REST API's
repositories (get, list, create).

The token flow, as Google's registry hosts do it: a request without
credentials gets 401 and `WWW-Authenticate: Bearer
realm="http://127.0.0.1:<ar port>/v2/token",service="<region>-docker.pkg.dev"`;
GET /v2/token with Basic `oauth2accesstoken:<access token the simulator
issued>` answers {"token": ...}, which the client then sends as Bearer.
Basic credentials are also accepted on every request. Image paths are
<project>/<repo>/<image>: another project is 403 DENIED. Pushes land in
the local registry under the same path, where the engine wrapper
(gcpsim_engine) resolves <region>-docker.pkg.dev names."""

import base64
import http.client
import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gcpsim_core import ApiError, rfc3339

log = logging.getLogger("gcpsim.ar")
USER = "oauth2accesstoken"
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "authorization"}
NAME = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags)(/|$)")
CHUNK = 1 << 16


class ArServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(sim, port):
    """Starts the registry host's listener; returns the server."""
    handler = type("ArHandler", (ArHandler,), {"sim": sim,
                                               "service": "%s-docker.pkg.dev" % sim.region})
    server = ArServer(("127.0.0.1", port), handler)
    import threading
    threading.Thread(target=server.serve_forever, args=(0.2,), name="ar-host",
                     daemon=True).start()
    return server


class ArHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body go out in separate writes: without TCP_NODELAY
    # the body waits for the client's delayed ACK of the head (40 ms).
    disable_nagle_algorithm = True
    sim = None
    service = None

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self):
        path = self.path.split("?", 1)[0]
        self.sim.calls.add("artifactregistry.docker.%s" % ("token" if path == "/v2/token"
                                                            else self.command))
        if self.sim.call_log.path and path != "/v2/token":
            self.sim.call_log.add("artifactregistry.docker.%s" % self.command, path,
                                  self.headers.get("User-Agent"))
        body = self._read_body()
        if path == "/v2/token":
            return self._token()
        principal = self._principal()
        if principal is None:
            return self._challenge(path)
        match = NAME.match(path)
        if match and not match.group("name").startswith(self.sim.project + "/"):
            project = match.group("name").split("/")[0]
            return self._registry_error(403, "DENIED", "Permission \"artifactregistry."
                                        "repositories.downloadArtifacts\" denied on resource "
                                        "\"projects/%s/locations/%s/repositories/%s\" (or it may "
                                        "not exist)" % (project, self.sim.region,
                                                        (match.group("name").split("/") +
                                                         [""])[1]))
        if match and match.group("name").count("/") < 2:
            return self._registry_error(404, "NAME_UNKNOWN", "Artifact Registry names are "
                                        "<project>/<repository>/<image>: %s has no image part"
                                        % match.group("name"))
        self._proxy(body)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _basic(self):
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if user not in (USER, "_token"):
            return None
        return self.sim.tokens.principal(password)

    def _principal(self):
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.sim.tokens.principal(value.strip())
        return self._basic()

    def _token(self):
        principal = self._basic()
        if principal is None:
            return self._registry_error(401, "UNAUTHORIZED", "authentication failed: log in "
                                        "as \"oauth2accesstoken\" with a Google access token "
                                        "as the password", challenge=True)
        token = self.sim.tokens.issue(principal)
        self._send(200, json.dumps({"token": token, "access_token": token,
                                    "expires_in": 3600, "issued_at": rfc3339(time.time())})
                   .encode(), {"Content-Type": "application/json"})

    def _challenge(self, path):
        match = NAME.match(path)
        scope = ""
        if match:
            actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
            scope = ',scope="repository:%s:%s"' % (match.group("name"), actions)
        self._registry_error(401, "UNAUTHORIZED", "authentication required", challenge=True,
                             scope=scope)

    def _registry_error(self, status, code, message, challenge=False, scope=""):
        headers = {"Content-Type": "application/json",
                   "Docker-Distribution-API-Version": "registry/2.0"}
        if challenge:
            headers["WWW-Authenticate"] = 'Bearer realm="http://127.0.0.1:%d/v2/token",' \
                'service="%s"%s' % (self.server.server_address[1], self.service, scope)
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._send(status, body, headers)

    def _send(self, status, body, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _proxy(self, body):
        host, _, port = self.sim.registry.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status)
            length = resp.getheader("Content-Length")
            for name, value in resp.getheaders():
                if name.lower() in HOP or name.lower() == "content-length":
                    continue
                if name.lower() == "location":
                    value = value.replace("http://%s" % self.sim.registry,
                                          "http://%s" % self.headers.get("Host", ""))
                self.send_header(name, value)
            if length is None and self.command != "HEAD":
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            while self.command != "HEAD":
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                self.wfile.write(chunk)
        except OSError as exc:
            log.warning("registry %s unreachable: %s", self.sim.registry, exc)
            self.close_connection = True
            try:
                self._registry_error(503, "UNAVAILABLE", "the registry behind the simulated "
                                     "Artifact Registry is unreachable")
            except OSError:
                pass
        finally:
            conn.close()


class Repositories:
    """artifactregistry.projects.locations.repositories get/list/create."""

    PARENT = r"/v1/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)"

    def __init__(self, sim):
        self.sim = sim
        self.repos = {}
        sim.add_state("artifactregistry", lambda: dict(self.repos), self._restore)

    def _restore(self, state):
        self.repos = dict(state)

    def register(self):
        base = self.PARENT + r"/repositories"
        self.sim.route("POST", base, self.create,
                       "artifactregistry.projects.locations.repositories.create")
        self.sim.route("GET", base, self.list,
                       "artifactregistry.projects.locations.repositories.list")
        self.sim.route("GET", base + r"/(?P<r>[^/]+)", self.get,
                       "artifactregistry.projects.locations.repositories.get")
        self.sim.route("GET", self.PARENT + r"/operations/(?P<o>[^/]+)", self.operation,
                       "artifactregistry.projects.locations.operations.get")

    def _parent(self, req):
        if req.match.group("p") != self.sim.project:
            raise ApiError(403, "PERMISSION_DENIED", "Permission denied on resource project "
                           "%s (the simulator serves %s only)." % (req.match.group("p"),
                                                                    self.sim.project))
        return "projects/%s/locations/%s" % (req.match.group("p"), req.match.group("l"))

    def create(self, req):
        parent = self._parent(req)
        repo_id = req.param("repositoryId") or ""
        if not re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", repo_id):
            raise ApiError(400, "INVALID_ARGUMENT", "repositoryId %r is not valid: lower-case "
                           "letters, digits and hyphens, starting with a letter." % repo_id)
        name = "%s/repositories/%s" % (parent, repo_id)
        if name in self.repos:
            raise ApiError(409, "ALREADY_EXISTS", "the repository already exists")
        body = req.body or {}
        if body.get("format", "DOCKER") != "DOCKER":
            raise ApiError(400, "INVALID_ARGUMENT", "the simulator serves DOCKER repositories "
                           "only, not %s." % body.get("format"))
        now = rfc3339(time.time())
        repo = dict(body, name=name, format="DOCKER", createTime=now, updateTime=now,
                    mode=body.get("mode", "STANDARD_REPOSITORY"))
        self.repos[name] = repo
        meta = {"@type": "type.googleapis.com/google.devtools.artifactregistry.v1."
                "OperationMetadata"}
        op = self.sim.op_new(meta)
        return 200, self.sim.op_done(op["name"], response=dict(
            repo, **{"@type": "type.googleapis.com/google.devtools.artifactregistry.v1."
                     "Repository"}))

    def list(self, req):
        parent = self._parent(req) + "/repositories/"
        return 200, {"repositories": [r for n, r in sorted(self.repos.items())
                                      if n.startswith(parent)]}

    def get(self, req):
        name = "%s/repositories/%s" % (self._parent(req), req.match.group("r"))
        if name not in self.repos:
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        return 200, self.repos[name]

    def operation(self, req):
        self._parent(req)
        op = self.sim.op_get(req.path[len("/v1/"):])
        if op is None:
            raise ApiError(404, "NOT_FOUND", "Operation not found.")
        return 200, op

#!/usr/bin/python3
"""gcpsim: a local Google Cloud simulator for Sockerless' Cloud Run and
Cloud Functions backends.

One HTTP endpoint (127.0.0.1:--port) serves every Google service by path,
since the backends' `endpoint` key gives one URL for all:
  POST /token                      OAuth2 (jwt-bearer, refresh_token, ID tokens)
  POST /v1/token                   STS token exchange
  POST /v1/projects/-/serviceAccounts/E:generateAccessToken|:generateIdToken
  GET  /computeMetadata/v1/...     the metadata server (GCE_METADATA_HOST=127.0.0.1:P)
  POST /v2/entries:list|:write     Cloud Logging
  /v2/projects/...                 Cloud Run v2, Cloud Functions v2 (modules), operations
  /v1/projects/...                 Artifact Registry repositories
  /storage/v1/..., /upload/storage/v1/...  Cloud Storage JSON API (gcpsim_storage;
                                   objects are files under --state-dir/gcs)
Every API request's bearer token, path, query and body are checked against
the vendored discovery documents (specs/) before its handler runs. The
Artifact Registry Docker host listens on --ar-port (gcpsim_ar).

Debug endpoints (no auth):
  GET  /_sim/health            {"ok": true}
  GET  /_sim/calls             {"run.projects.locations.jobs.run": 3, ...}
  POST /_sim/calls/reset
  GET|POST|DELETE /_sim/faults  list / add (gcpsim_faults) / clear
  GET|POST /_sim/config        {"logging_read_per_minute": N}
  POST /_sim/tokens/expire     {"token": T}: make an issued token expired

State (operations, log entries, issued tokens, module state) is saved as
JSON in --state-dir and reloaded on start; the RSA keys live there too, so
a restarted simulator accepts the same key file. SIGTERM/SIGINT remove
every container the simulator created, then save the state."""

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gcpsim_ar  # noqa: E402
from gcpsim_auth import Auth, OAuthError, Tokens, parse_form  # noqa: E402
from gcpsim_core import WAIT_CAP, ApiError, Request, Sim  # noqa: E402
from gcpsim_logging import Logging  # noqa: E402

log = logging.getLogger("gcpsim")
MAX_BODY = 64 * 1024 * 1024
STATE_FILE = "state.json"
MODULES = ("gcpsim_run", "gcpsim_functions", "gcpsim_storage")
# Cloud Storage's object names are one %-encoded path segment ("a%2Fb"):
# its paths are matched before decoding.
RAW_PATHS = ("/storage/v1/", "/upload/storage/v1/", "/download/storage/v1/")
IAM = "/v1/projects/-/serviceAccounts/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gcpsim"
    # The head and the body go out in separate writes: without TCP_NODELAY
    # the body waits for the client's delayed ACK of the head (40 ms).
    disable_nagle_algorithm = True
    sim = None
    auth = None
    logging_api = None

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self):
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query, keep_blank_values=True)
        if url.path.startswith(RAW_PATHS):
            path = url.path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._error(ApiError(413, "INVALID_ARGUMENT", "request body too large"))
        raw = self.rfile.read(length) if length else b""
        try:
            if path.startswith("/_sim/"):
                return self._debug(path, raw)
            if path == "/" or path.startswith("/computeMetadata/"):
                return self._metadata(path, query)
            if self.command == "POST" and path in ("/token", "/v1/token"):
                return self._oauth(path, raw)
            if path.startswith(IAM):
                return self._iam(path, raw)
            body = None
            if raw.strip() and not path.startswith("/upload/"):
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. "
                                   "%s." % exc)
            req = Request(self.command, path, query, body, self.headers, raw)
            status, obj = self.sim.serve(req)
            if hasattr(obj, "content_type"):  # media (gcpsim_storage.Media)
                return self._send(status, obj.data, obj.content_type)
            self._json(status, obj)
        except ApiError as exc:
            self._error(exc)
        except Exception:  # a simulator bug: Google's 500, and the trace in the log
            log.exception("%s %s failed", self.command, path)
            self._error(ApiError(500, "INTERNAL", "Internal error encountered."))

    def _json(self, status, obj, headers=None):
        body = b"" if status == 204 else json.dumps(obj).encode()
        self._send(status, body, "application/json; charset=UTF-8", headers)

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, exc):
        self._json(exc.http_status, exc.to_json(), exc.headers)

    # Authentication endpoints.

    def _oauth(self, path, raw):
        try:
            form = parse_form(raw, self.headers.get("Content-Type"))
            if path == "/token":
                self.sim.count("oauth2", "oauth2.token")
                answer = self.auth.token(form)
            else:
                self.sim.count("sts", "sts.token")
                answer = self.auth.sts(form)
        except OAuthError as exc:
            return self._json(exc.status, {"error": exc.error,
                                           "error_description": exc.description})
        except ValueError:
            return self._json(400, {"error": "invalid_request",
                                    "error_description": "The request body is not valid."})
        self._json(200, answer, {"Cache-Control": "no-cache, no-store, max-age=0"})

    def _iam(self, path, raw):
        email, sep, verb = path[len(IAM):].rpartition(":")
        if not sep or verb not in ("generateAccessToken", "generateIdToken") or "/" in email:
            raise ApiError(404, "NOT_FOUND", "Method not found.")
        self.sim.count("iamcredentials", "iamcredentials." + verb)
        self.sim.call_log.add("iamcredentials." + verb, "serviceAccounts/" + email,
                              self.headers.get("User-Agent"))
        header = self.headers.get("Authorization") or ""
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        principal = self.sim.tokens.principal(token) if token else None
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if self.command != "POST":
            raise ApiError(404, "NOT_FOUND", "Method not found.")
        if verb == "generateAccessToken":
            return self._json(200, self.auth.generate_access_token(email, principal, body))
        return self._json(200, self.auth.generate_id_token(email, principal, body))

    def _metadata(self, path, query):
        self.sim.count("metadata", "metadata.get")
        if self.headers.get("Metadata-Flavor") != "Google" or \
                self.headers.get("X-Forwarded-For"):
            return self._send(403, b"Missing required header: \"Metadata-Flavor: Google\"\n",
                              "text/html; charset=UTF-8", {"Metadata-Flavor": "Google"})
        if path in ("/", "/computeMetadata/v1/", "/computeMetadata/v1"):
            return self._send(200, b"computeMetadata/\n", "application/text",
                              {"Metadata-Flavor": "Google"})
        status, ctype, body = self.auth.metadata(path[len("/computeMetadata/v1/"):], query)
        self._send(status, body.encode(), ctype, {"Metadata-Flavor": "Google"})

    # Debug endpoints.

    def _debug(self, path, raw):
        try:
            spec = json.loads(raw) if raw.strip() else None
        except ValueError:
            return self._json(400, {"message": "the body is not JSON"})
        if path == "/_sim/health":
            return self._json(200, {"ok": True})
        if path == "/_sim/calls":
            return self._json(200, self.sim.calls.snapshot())
        if path == "/_sim/calls/reset":
            self.sim.calls.reset()
            return self._json(200, {})
        if path == "/_sim/faults":
            if self.command == "DELETE":
                self.sim.faults.clear()
            elif self.command == "POST":
                try:
                    for item in spec if isinstance(spec, list) else [spec]:
                        self.sim.fault(item)
                except ValueError as exc:
                    return self._json(400, {"message": str(exc)})
            return self._json(200, self.sim.faults.list())
        if path == "/_sim/config":
            if self.command == "POST":
                quota = (spec or {}).get("logging_read_per_minute")
                if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
                    return self._json(400, {"message": "logging_read_per_minute is a "
                                            "non-negative integer (0: no quota)"})
                self.logging_api.read_quota = quota
            return self._json(200, {"logging_read_per_minute": self.logging_api.read_quota})
        if path == "/_sim/tokens/expire" and self.command == "POST":
            self.sim.tokens.expire((spec or {}).get("token", ""))
            return self._json(200, {})
        self._json(404, {"message": "no debug endpoint %s" % path})


class Operations:
    """operations get/list/delete/:wait, shared by Cloud Run and Cloud
    Functions (one store; both APIs name operations the same way)."""

    BASE = r"/v2/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/operations"

    def __init__(self, sim):
        self.sim = sim

    def register(self):
        one = self.BASE + r"/(?P<o>[^/:]+)"
        self.sim.route("GET", one, self.get, "run.projects.locations.operations.get")
        self.sim.route("DELETE", one, self.delete, "run.projects.locations.operations.delete")
        self.sim.route("POST", one + ":wait", self.wait, "run.projects.locations.operations.wait")
        self.sim.route("GET", self.BASE, self.list, "run.projects.locations.operations.list")

    def _name(self, req):
        return "projects/%s/locations/%s/operations/%s" % (
            req.match.group("p"), req.match.group("l"), req.match.group("o"))

    def _find(self, name):
        op = self.sim.operations.get(name)
        if op is None:
            raise ApiError(404, "NOT_FOUND", "Operation %s not found." % name)
        return op

    def get(self, req):
        return 200, self._find(self._name(req))

    def delete(self, req):
        self._find(self._name(req))
        del self.sim.operations[self._name(req)]
        self.sim.touch()
        return 200, {}

    def wait(self, req):
        name = self._name(req)
        if "google.cloud.functions." in str(self._find(name).get("metadata", {}).get("@type")):
            # Cloud Functions v2 has operations get and list only.
            raise ApiError(404, "NOT_FOUND", "Method not found: Cloud Functions operations "
                           "have no :wait; poll operations.get.")
        timeout = WAIT_CAP
        text = (req.body or {}).get("timeout")
        if text:
            timeout = min(WAIT_CAP, max(0.0, float(text[:-1])))
        deadline = time.monotonic() + timeout
        while not self._find(name)["done"]:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sim.changed.wait(left)  # releases sim.lock while it waits
        return 200, self._find(name)

    def list(self, req):
        prefix = "projects/%s/locations/%s/operations/" % (req.match.group("p"),
                                                           req.match.group("l"))
        ops = [op for name, op in sorted(self.sim.operations.items()) if name.startswith(prefix)]
        size = int(req.param("pageSize") or 100) or 100
        token = req.param("pageToken") or "0"
        if not token.isdigit():
            raise ApiError(400, "INVALID_ARGUMENT", "The page token is not valid: pass the "
                           "nextPageToken of the previous page.")
        start = int(token)
        out = {"operations": ops[start:start + size]}
        if start + size < len(ops):
            out["nextPageToken"] = str(start + size)
        return 200, out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--engine", default=None,
                    help="Docker engine URL of the workloads, unix:///path (none: the "
                    "modules that run containers refuse to)")
    ap.add_argument("--registry", default=None, help="the local registry host:port behind "
                    "the Artifact Registry host")
    ap.add_argument("--project", default="sockerless-local")
    ap.add_argument("--region", default="us-central1")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--ar-port", type=int, default=None,
                    help="the Artifact Registry Docker host's port (needs --registry)")
    ap.add_argument("--key-out", default=None,
                    help="write the service account's key file (token_uri: this simulator)")
    ap.add_argument("--adc-out", default=None,
                    help="write an authorized_user credentials file (refresh token grant)")
    ap.add_argument("--sts-subject-token", default="sockerless-sim-subject-token",
                    help="the subject token STS accepts for token exchange")
    ap.add_argument("--logging-read-quota", type=int, default=600,
                    help="entries:list calls per minute per project (0: no quota)")
    ap.add_argument("--bucket", action="append", default=[],
                    help="a Cloud Storage bucket to have at start (repeatable; kept across "
                    "restarts in the state directory)")
    ap.add_argument("--shutdown-stop-timeout", type=float, default=2.0)
    ap.add_argument("--log-level", default="INFO")
    return ap.parse_args(argv)


def write_secret_json(path, obj):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def load_modules(sim):
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if getattr(exc, "name", None) != name:
                raise
            log.info("%s is absent: its API is not served", name)
            continue
        module.register(sim)
        log.info("%s registered", name)


class Saver:
    def __init__(self, sim, path):
        self.sim = sim
        self.path = path
        self.closing = threading.Event()
        self.last = None

    def load(self):
        if os.path.exists(self.path):
            with open(self.path) as f:
                state = json.load(f)
            self.sim.restore(state)
            self.sim.tokens.restore(state.get("tokens", {}))
            log.info("restored state from %s", self.path)

    def save(self):
        state = self.sim.snapshot()
        state["tokens"] = self.sim.tokens.snapshot()
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, separators=(",", ":"))
        os.replace(tmp, self.path)

    def loop(self):
        while not self.closing.wait(2.0):
            current = (self.sim.version, self.sim.tokens.version)
            if current != self.last:
                try:
                    self.save()
                    self.last = current
                except Exception:
                    log.exception("saving the state failed")


def remove_containers(sim, owner):
    """Removes the containers this simulator's state directory owns (a
    crashed run's leftovers at start, everything at shutdown)."""
    if sim.engine is None:
        return
    from gcpsim_engine import LABEL
    try:
        for c in sim.engine.docker.containers.list(
                all=True, filters={"label": "%s.owner=%s" % (LABEL, owner)}):
            c.remove(force=True)
        for v in sim.engine.docker.volumes.list(
                filters={"label": "%s.owner=%s" % (LABEL, owner)}):
            v.remove(force=True)
    except Exception:
        log.exception("removing the simulator's containers failed")


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    os.makedirs(args.state_dir, exist_ok=True)
    owner = "gcpsim:" + os.path.realpath(args.state_dir)
    if args.ar_port and not args.registry:
        log.error("--ar-port needs --registry (the registry the host proxies to)")
        return 2
    engine = None
    ar_host = "127.0.0.1:%d" % args.ar_port if args.ar_port else None
    if args.engine:
        from gcpsim_engine import Engine
        engine = Engine(args.engine, args.registry or "", owner=owner, ar_host=ar_host)
        try:
            engine.ping()
        except Exception as exc:
            log.error("cannot reach the engine at %s: %s", args.engine, exc)
            return 1
    tokens = Tokens()
    auth = Auth(args.project, args.region, args.port, args.state_dir, tokens,
                args.sts_subject_token)
    sim = Sim(args.project, args.region, args.state_dir, engine=engine, ar_host=ar_host,
              registry=args.registry, tokens=tokens)
    sim.auth = auth
    sim.id_token_checker = auth.check_id_token
    logging_api = Logging(sim, args.logging_read_quota)
    logging_api.register()
    Operations(sim).register()
    gcpsim_ar.Repositories(sim).register()
    sim.buckets_at_start = args.bucket
    load_modules(sim)
    remove_containers(sim, owner)
    saver = Saver(sim, os.path.join(args.state_dir, STATE_FILE))
    saver.load()
    if args.key_out:
        write_secret_json(args.key_out, auth.key_file())
    if args.adc_out:
        write_secret_json(args.adc_out, auth.adc_file())
    Handler.sim, Handler.auth, Handler.logging_api = sim, auth, logging_api
    server = Server(("127.0.0.1", args.port), Handler)
    ar_server = gcpsim_ar.serve(sim, args.ar_port) if args.ar_port else None
    stopping = threading.Event()

    def on_signal(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=saver.loop, name="saver", daemon=True).start()
    log.info("gcpsim listening on 127.0.0.1:%d (project %s, region %s, Artifact Registry "
             "host %s, engine %s)", args.port, args.project, args.region, ar_host, args.engine)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        log.info("shutting down: removing containers, saving state")
        saver.closing.set()
        for close in sim.closers:
            try:
                close()
            except Exception:
                log.exception("a module's shutdown failed")
        remove_containers(sim, owner)
        saver.save()
        server.server_close()
        if ar_server is not None:
            ar_server.shutdown()
            ar_server.server_close()
        log.info("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())

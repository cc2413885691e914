#!/usr/bin/python3
"""azuresim: a local Azure simulator for Sockerless' Container Apps and
Azure Functions backends.

One HTTP endpoint (127.0.0.1:--port) serves every Azure service by path,
since the backends point every endpoint key at one URL:
  POST /{tenant}/oauth2/v2.0/token      Entra ID v2 (azuresim_auth)
  GET  /msi/token                       App Service / Container Apps managed identity
  GET  /metadata/identity/oauth2/token  IMDS
  /subscriptions/...                    ARM (modules: azuresim_app, ...), and the
                                        operation status URLs (azuresim_core)
  /v1/workspaces/{id}/query             Log Analytics (azuresim_la)
Every ARM and Log Analytics request's bearer token, api-version, path,
query and body are checked against the vendored specs (specs/) before its
handler runs. The Azure Container Registry host listens on --acr-port
(azuresim_acr).

Debug endpoints (no auth):
  GET  /_sim/health              {"ok": true}
  GET  /_sim/calls               {"Jobs_Start": 3, ...}
  POST /_sim/calls/reset
  GET|POST|DELETE /_sim/faults   list / add (azuresim_faults) / clear
  POST /_sim/tokens/expire       {"token": T}: make an issued token expired
  POST /_sim/federated-token     {"lifetime": S}: rewrite the federated token file

SIGTERM/SIGINT remove every container the simulator created. The keys,
client secret and certificate live in --state-dir, so a restarted
simulator accepts the same credentials (issued tokens do not survive a
restart: clients get 401 and fetch new ones)."""

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azuresim_acr  # noqa: E402
from azuresim_auth import Entra, EntraError, MsiError  # noqa: E402
from azuresim_core import ArmError, Request, Sim, Stream  # noqa: E402

log = logging.getLogger("azuresim")
MAX_BODY = 64 * 1024 * 1024
MODULES = ("azuresim_msi", "azuresim_app", "azuresim_storage", "azuresim_la", "azuresim_web")
TOKEN_PATH = "/oauth2/v2.0/token"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azuresim"
    # The head and the body go out in separate writes: without TCP_NODELAY
    # the body waits for the client's delayed ACK of the head (40 ms).
    disable_nagle_algorithm = True
    sim = None
    entra = None

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self):
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query, keep_blank_values=True)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._ids = {"x-ms-request-id": str(uuid.uuid4()),
                         "x-ms-correlation-request-id": str(uuid.uuid4())}
            return self._error(ArmError(413 if length > 0 else 400, "InvalidContentLength",
                                        "The Content-Length must be a number of bytes from 0 "
                                        "to %d." % MAX_BODY))
        raw = self.rfile.read(length) if length else b""
        self._ids = {"x-ms-request-id": str(uuid.uuid4()),
                     "x-ms-correlation-request-id":
                         self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())}
        if self.headers.get("x-ms-client-request-id"):
            self._ids["x-ms-client-request-id"] = self.headers["x-ms-client-request-id"]
        front = self.sim.front_for(self.headers.get("Host"))
        if front is not None:
            try:
                return front[0](self, front[1], raw)
            except Exception:  # a simulator bug: the trace in the log
                log.exception("%s %s (front) failed", self.command, path)
                self.close_connection = True
                return
        try:
            if path.startswith("/_sim/"):
                return self._debug(path, raw)
            if self.command == "POST" and path.endswith(TOKEN_PATH) and path.count("/") == 4:
                return self._entra(path[1:-len(TOKEN_PATH)], raw)
            if path == "/msi/token":
                return self._msi(self.entra.msi, query)
            if path == "/metadata/identity/oauth2/token":
                return self._msi(self.entra.imds, query)
            body = None
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise ArmError(400, "InvalidRequestContent", "The request content was "
                                   "invalid and could not be deserialized: '%s'." % exc)
            req = Request(self.command, path, query, body, self.headers, raw)
            status, obj, headers = self.sim.serve(req)
            if isinstance(obj, Stream):
                return self._stream(status, obj, headers)
            self._json(status, obj, headers)
        except ArmError as exc:
            self._error(exc)
        except Exception:  # a simulator bug: ARM's 500, and the trace in the log
            log.exception("%s %s failed", self.command, path)
            self._error(ArmError(500, "InternalServerError", "Encountered internal server "
                                 "error (a simulator bug: see its log)."))

    def _json(self, status, obj, headers=None):
        body = b"" if obj is None or status == 204 else json.dumps(obj).encode()
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        for name, value in list(self._ids.items()) + list((headers or {}).items()):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, status, stream, headers):
        """A Stream answer, chunked; ends when the iterable does or the
        client goes away."""
        self.send_response(status)
        self.send_header("Content-Type", stream.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in list(self._ids.items()) + list((headers or {}).items()):
            self.send_header(name, value)
        self.end_headers()
        chunks = iter(stream.chunks)
        try:
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _error(self, exc):
        headers = dict(exc.headers)
        headers.setdefault("x-ms-failure-cause", "gateway" if exc.http_status in (401, 429)
                           else "service")
        self._json(exc.http_status, exc.to_json(), headers)

    # Identity.

    def _entra(self, tenant, raw):
        # Entra takes form bodies only: anything else lacks grant_type
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"),
                                              keep_blank_values=True).items()}
        try:
            answer = self.entra.token(tenant, form)
        except EntraError as exc:
            return self._json(exc.status, exc.to_json())
        self._json(200, answer, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def _msi(self, serve, query):
        flat = {k: v[-1] for k, v in query.items()}
        try:
            answer = serve(self.headers, flat)
        except MsiError as exc:
            return self._json(exc.status, exc.body)
        self._json(200, answer)

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
        if path == "/_sim/tokens/expire" and self.command == "POST":
            self.sim.tokens.expire((spec or {}).get("token", ""))
            return self._json(200, {})
        if path == "/_sim/federated-token" and self.command == "POST":
            lifetime = (spec or {}).get("lifetime", 86400)
            if isinstance(lifetime, bool) or not isinstance(lifetime, int):
                return self._json(400, {"message": "lifetime is an integer (seconds; "
                                        "negative: an expired token)"})
            self.entra.write_federated_token(lifetime)
            return self._json(200, {"path": self.entra.fed_path})
        self._json(404, {"message": "no debug endpoint %s" % path})


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
                    "the ACR host")
    ap.add_argument("--subscription", default="6a2bd1a0-0000-4000-8000-00000000a5c1")
    ap.add_argument("--resource-group", default="sockerless")
    ap.add_argument("--location", default="westeurope")
    ap.add_argument("--tenant", default="7f3c9b0e-0000-4000-8000-0000000071d1")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--acr-port", type=int, default=None,
                    help="the Azure Container Registry host's port (needs --registry)")
    ap.add_argument("--creds-out", default=None,
                    help="write a shell env file of the credentials (AZURE_TENANT_ID, ...)")
    ap.add_argument("--module", action="append", default=[],
                    help="an extra module to import and register (tests: "
                    "azuresim_testroutes); repeatable")
    ap.add_argument("--log-level", default="INFO")
    return ap.parse_args(argv)


def load_modules(sim, extra=()):
    for name in extra:
        importlib.import_module(name).register(sim)
        log.info("%s registered (--module)", name)
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


def remove_containers(sim, owner):
    """Removes the containers this simulator's state directory owns (a
    crashed run's leftovers at start, everything at shutdown)."""
    if sim.engine is None:
        return
    from azuresim_engine import LABEL
    try:
        for c in sim.engine.docker.containers.list(
                all=True, filters={"label": "%s.owner=%s" % (LABEL, owner)}):
            c.remove(force=True)
        for v in sim.engine.docker.volumes.list(
                filters={"label": "%s.owner=%s" % (LABEL, owner)}):
            v.remove(force=True)
    except Exception:
        log.exception("removing the simulator's containers failed")


def write_secret(path, text):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def build(args):
    """(sim, entra, server, acr_server) of parsed arguments: the servers
    are bound, not yet serving. ValueError when an argument is wrong."""
    os.makedirs(args.state_dir, exist_ok=True)
    owner = "azuresim:" + os.path.realpath(args.state_dir)
    if args.acr_port and not args.registry:
        raise ValueError("--acr-port needs --registry (the registry the ACR host proxies to)")
    url = "http://127.0.0.1:%d" % args.port
    acr_host = "127.0.0.1:%d" % args.acr_port if args.acr_port else None
    engine = None
    if args.engine:
        from azuresim_engine import Engine
        engine = Engine(args.engine, args.registry or "", owner=owner, acr_host=acr_host)
        try:
            engine.ping()
        except Exception as exc:
            raise ValueError("cannot reach the engine at %s: %s" % (args.engine, exc))
    sim = Sim(args.subscription, args.resource_group, args.location, args.tenant,
              args.state_dir, url, engine=engine, acr_host=acr_host, registry=args.registry)
    sim.owner = owner
    entra = Entra(sim, args.state_dir)
    sim.entra = entra
    entra.write_federated_token()
    load_modules(sim, args.module)
    remove_containers(sim, owner)
    for start in sim.starters:
        start()
    if args.creds_out:
        write_secret(args.creds_out, entra.creds_env(url))
    handler = type("BoundHandler", (Handler,), {"sim": sim, "entra": entra})
    server = Server(("127.0.0.1", args.port), handler)
    acr_server = azuresim_acr.serve(sim, args.acr_port) if args.acr_port else None
    return sim, entra, server, acr_server


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    try:
        sim, _, server, acr_server = build(args)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    owner, url, acr_host = sim.owner, sim.url, sim.acr_host
    stopping = threading.Event()

    def on_signal(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("azuresim listening on %s (subscription %s, resource group %s, ACR host %s, "
             "engine %s)", url, args.subscription, args.resource_group, acr_host, args.engine)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        log.info("shutting down: removing containers")
        for close in sim.closers:
            try:
                close()
            except Exception:
                log.exception("a module's shutdown failed")
        remove_containers(sim, owner)
        server.server_close()
        if acr_server is not None:
            acr_server.shutdown()
            acr_server.server_close()
        log.info("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())

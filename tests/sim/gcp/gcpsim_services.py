"""Cloud Run Admin API v2 services in the GCP simulator (Interface S),
as far as the gcf backend uses them: get, list and patch (a new revision
with the new image, an LRO), and the services' data plane.

Real service URLs (*.run.app) cannot resolve here, so each service's URL
is on the simulator's data-plane listener (127.0.0.1, a port of its own,
since the API port validates every request as JSON against the discovery
documents): http://127.0.0.1:<data port>/_svc/<service id>. A request
there needs an ID token whose audience is that URL (sim.check_id_token;
401 otherwise), then goes to an instance of the service's latest ready
revision: a real container on the engine (host networking, PORT set to
a free loopback port, plus SOCKERLESS_HTTP_LISTEN=127.0.0.1:<port> so the
sockerless agent listens on loopback only, where Cloud Run would give the
container its own network), started on demand, waited for until it
listens, forwarded the request with the service's request timeout (504
past it), and stopped after GCPSIM_SERVICE_IDLE seconds without requests
(scale to zero; default 30). At most template.scaling.maxInstanceCount
instances (default 100) take at most maxInstanceRequestConcurrency
requests each (default 80); a request finding none free gets 429, as
Cloud Run answers when it cannot scale further. Instance output goes to
Cloud Logging as Cloud Run writes it: resource.type cloud_run_revision
with service_name / revision_name / configuration_name, stdout and
stderr under their own log names.

Services are created by the Cloud Functions module (a function's build)
through create_for_function; a revision whose image came from a source
build is not run by the simulator (it has no build toolchain): requests
to it get 500 with a sentence saying so."""

import copy
import http.client
import logging
import os
import random
import re
import socket
import string
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gcpsim_core import ApiError, rfc3339

log = logging.getLogger("gcpsim.services")

SERVICES = r"/v2/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/services"
SERVICE = SERVICES + r"/(?P<s>[^/:]+)"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
SOURCE_BUILT = "sockerless.gcpsim/source-built"
START_TIMEOUT = 60.0
STOP_GRACE = 10
MAX_TIMEOUT = 3600
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
               "upgrade", "proxy-authorization", "proxy-authenticate", "host",
               "content-length"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds(text, what):
    if not isinstance(text, str) or not re.fullmatch(r"\d+(\.\d+)?s", text):
        raise ApiError(400, "INVALID_ARGUMENT", "%s must be a duration such as \"300s\"." % what)
    return float(text[:-1])


class Instance:
    """One running container of a revision."""

    def __init__(self, revision, container_id, port):
        self.revision = revision
        self.container_id = container_id
        self.port = port
        self.busy = 0
        self.last_used = time.monotonic()
        self.ready = threading.Event()
        self.failed = None


class Services:
    def __init__(self, sim):
        self.sim = sim
        self.services = {}      # full name -> Service (API shape)
        self.revisions = {}     # revision name -> {"service", "template", "image"}
        self.instances = {}     # full name -> [Instance]
        self.ilock = threading.Lock()   # instances only (never held with sim.lock)
        self.idle = float(os.environ.get("GCPSIM_SERVICE_IDLE") or 30)
        self.uploads = None     # the functions module's upload handler
        self.data = DataPlane(self)
        self.closed = False
        threading.Thread(target=self._reaper, name="services-reaper", daemon=True).start()

    # Names and URLs.

    def parent(self):
        return "projects/%s/locations/%s" % (self.sim.project, self.sim.region)

    def uri(self, service_id):
        return "http://127.0.0.1:%d/_svc/%s" % (self.data.port, service_id)

    def _name(self, req):
        p, loc = req.match.group("p"), req.match.group("l")
        if p != self.sim.project or loc != self.sim.region:
            raise ApiError(404, "NOT_FOUND", "Location %s/%s is not served by this "
                           "simulator (project %s, region %s)."
                           % (p, loc, self.sim.project, self.sim.region))
        return "projects/%s/locations/%s/services/%s" % (p, loc, req.match.group("s"))

    def _find(self, name):
        svc = self.services.get(name)
        if svc is None:
            raise ApiError(404, "NOT_FOUND", "Resource '%s' was not found"
                           % name.rsplit("/", 1)[1])
        return svc

    # Creation by a function's build.

    def create_for_function(self, service_id, image, service_config, labels):
        """The Cloud Run service a function's build made (its name is the
        function's); returns it. Called with sim.lock held."""
        name = "%s/services/%s" % (self.parent(), service_id)
        now = rfc3339(time.time())
        template = {
            "containers": [{"image": image, "ports": [{"name": "http1", "containerPort": 8080}],
                            "env": [{"name": k, "value": v} for k, v in
                                    sorted((service_config.get("environmentVariables")
                                            or {}).items())],
                            "resources": {"limits": {
                                "memory": service_config.get("availableMemory") or "256M",
                                "cpu": service_config.get("availableCpu") or "0.1666"}}}],
            "scaling": {"maxInstanceCount": service_config.get("maxInstanceCount") or 100},
            "timeout": "%ds" % (service_config.get("timeoutSeconds") or 60),
            "maxInstanceRequestConcurrency":
                service_config.get("maxInstanceRequestConcurrency") or 1,
        }
        if service_config.get("serviceAccountEmail"):
            template["serviceAccount"] = service_config["serviceAccountEmail"]
        svc = {"name": name, "uid": str(uuid.uuid4()), "generation": "0", "labels": labels,
               "createTime": now, "updateTime": now, "creator": "gcf",
               "lastModifier": "gcf", "ingress": "INGRESS_TRAFFIC_ALL",
               "launchStage": "GA", "template": template,
               "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
               "uri": self.uri(service_id), "urls": [self.uri(service_id)]}
        self.services[name] = svc
        self._deploy(svc, source_built=True)
        self._ready(svc)
        return copy.deepcopy(svc)

    def delete_for_function(self, name):
        """The function is gone: its service and instances too."""
        self.services.pop(name, None)
        for rev in [r for r, v in self.revisions.items() if v["service"] == name]:
            del self.revisions[rev]
        with self.ilock:
            gone = self.instances.pop(name, [])
        for inst in gone:
            self._stop(inst)
        self.sim.touch()

    def _deploy(self, svc, source_built=False):
        """A new revision of svc's template (generation + 1)."""
        gen = int(svc["generation"]) + 1
        svc["generation"] = str(gen)
        sid = svc["name"].rsplit("/", 1)[1]
        rev = "%s-%05d-%s" % (sid, gen, "".join(random.choice(string.ascii_lowercase)
                                                for _ in range(3)))
        svc["latestCreatedRevision"] = "%s/revisions/%s" % (svc["name"], rev)
        svc["reconciling"] = True
        svc["updateTime"] = rfc3339(time.time())
        svc["etag"] = '"%s"' % uuid.uuid4().hex
        self.revisions[svc["latestCreatedRevision"]] = {
            "service": svc["name"], "template": copy.deepcopy(svc["template"]),
            "image": svc["template"]["containers"][0]["image"], "source_built": source_built}
        return svc["latestCreatedRevision"]

    def _ready(self, svc, error=None):
        svc["reconciling"] = False
        svc["observedGeneration"] = svc["generation"]
        cond = {"type": "Ready", "lastTransitionTime": rfc3339(time.time())}
        if error is None:
            svc["latestReadyRevision"] = svc["latestCreatedRevision"]
            cond["state"] = "CONDITION_SUCCEEDED"
        else:
            cond["state"] = "CONDITION_FAILED"
            cond["message"] = error
        svc["terminalCondition"] = cond
        svc["trafficStatuses"] = [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
                                   "percent": 100}]
        self.sim.touch()

    # The API.

    def get(self, req):
        return 200, copy.deepcopy(self._find(self._name(req)))

    def list(self, req):
        prefix = "projects/%s/locations/%s/services/" % (req.match.group("p"),
                                                         req.match.group("l"))
        items = [copy.deepcopy(s) for n, s in sorted(self.services.items())
                 if n.startswith(prefix)]
        size = int(req.param("pageSize") or 100) or 100
        token = req.param("pageToken") or "0"
        if not token.isdigit():
            raise ApiError(400, "INVALID_ARGUMENT", "The page token is not valid.")
        start = int(token)
        out = {"services": items[start:start + size]}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return 200, out

    def patch(self, req):
        """Replaces the mutable parts the body (or updateMask) names; a
        changed template makes a new revision, deployed by an LRO whose
        image the engine must be able to pull."""
        name = self._name(req)
        svc = self._find(name)
        body = req.body or {}
        if body.get("name") not in (None, name):
            raise ApiError(400, "INVALID_ARGUMENT", "The name in the body (%s) does not match "
                           "the URL (%s)." % (body.get("name"), name))
        if body.get("etag") and body["etag"] != svc.get("etag"):
            raise ApiError(409, "ABORTED", "The etag does not match: the service changed "
                           "since it was read.")
        mask = [m for m in (req.param("updateMask") or "").split(",") if m]
        fields = mask or [k for k in ("template", "labels", "annotations", "traffic",
                                      "ingress", "scaling", "description") if k in body]
        template = body.get("template", svc["template"]) if "template" in fields \
            else svc["template"]
        self._check_template(template)
        if req.param("validateOnly") == "true":
            return 200, self.sim.op_done(self.sim.op_new(
                dict(svc, **{"@type": SERVICE_TYPE}))["name"],
                response=dict(svc, **{"@type": SERVICE_TYPE}))
        for field in fields:
            top = field.split(".")[0]
            if top in body:
                svc[top] = copy.deepcopy(body[top])
        new_rev = "template" in fields or req.param("forceNewRevision") == "true"
        if new_rev:
            self._deploy(svc)
        op = self.sim.op_new(dict(copy.deepcopy(svc), **{"@type": SERVICE_TYPE}))
        if not new_rev:
            svc["updateTime"] = rfc3339(time.time())
            self.sim.op_done(op["name"], response=dict(copy.deepcopy(svc), **{"@type": SERVICE_TYPE}))
            return 200, self.sim.op_get(op["name"])
        threading.Thread(target=self._rollout, args=(name, svc["latestCreatedRevision"],
                                                     op["name"]), daemon=True).start()
        return 200, op

    def _check_template(self, t):
        containers = t.get("containers") or []
        if len(containers) != 1:
            raise ApiError(400, "INVALID_ARGUMENT", "template.containers: a function's service "
                           "takes exactly one container (found %d)." % len(containers))
        if not containers[0].get("image"):
            raise ApiError(400, "INVALID_ARGUMENT", "template.containers[0].image is required.")
        for e in containers[0].get("env") or []:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", e.get("name") or ""):
                raise ApiError(400, "INVALID_ARGUMENT", "template.containers[0].env: %r is not "
                               "a valid environment variable name." % e.get("name"))
            if e["name"] in ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"):
                raise ApiError(400, "INVALID_ARGUMENT", "template.containers[0].env: %s is "
                               "reserved by Cloud Run." % e["name"])
        if "timeout" in t and not 0 < seconds(t["timeout"], "template.timeout") <= MAX_TIMEOUT:
            raise ApiError(400, "INVALID_ARGUMENT", "template.timeout must be between 1s and "
                           "3600s.")

    def _rollout(self, name, revision, op_name):
        image = self.revisions[revision]["image"]
        error = None
        try:
            self.sim.engine.pull(image)
        except Exception as exc:  # EngineError, or no engine
            error = "Revision '%s' is not ready and cannot serve traffic. Image '%s' not " \
                    "found: %s" % (revision.rsplit("/", 1)[1], image, exc)
        with self.sim.lock:
            svc = self.services.get(name)
            if svc is None or svc.get("latestCreatedRevision") != revision:
                error = error or "The revision was replaced before it became ready."
            if svc is not None and svc.get("latestCreatedRevision") == revision:
                self._ready(svc, error)
            if error:
                self.sim.op_done(op_name, error={"code": 9, "message": error, "details": []})
            else:
                self.sim.op_done(op_name, response=dict(copy.deepcopy(svc),
                                                        **{"@type": SERVICE_TYPE}))

    # The data plane.

    def invoke(self, service_id, handler):
        """Serves one request to a service URL on handler (the data
        plane's BaseHTTPRequestHandler)."""
        with self.sim.lock:
            name = "%s/services/%s" % (self.parent(), service_id)
            svc = self.services.get(name)
            svc = copy.deepcopy(svc) if svc else None
            rev = self.revisions.get(svc.get("latestReadyRevision")) if svc else None
        if svc is None:
            return handler.text(404, "The requested URL was not found on this server.")
        self.sim.call_log.add("run.services.invoke", name, handler.headers.get("User-Agent"))
        token = handler.headers.get("Authorization") or ""
        token = token[7:].strip() if token.lower().startswith("bearer ") else ""
        if not token:
            return handler.text(401, "Your client does not have permission to the requested "
                                "URL: no ID token (Authorization: Bearer).")
        try:
            self.sim.check_id_token(token, svc["uri"])
        except ApiError:
            try:
                self.sim.check_id_token(token, svc["uri"] + "/")
            except ApiError as exc:
                return handler.text(401, "The ID token was refused: %s" % exc.message)
        if rev is None:
            return handler.text(503, "The service has no ready revision.")
        if rev["source_built"]:
            return handler.text(500, "gcpsim does not run functions built from source "
                                "(revision %s has no image it can run); point the service at "
                                "an image with services.patch." % svc["latestReadyRevision"])
        inst = self._take(svc, svc["latestReadyRevision"], rev)
        if inst is None:
            return handler.text(429, "Rate exceeded.")
        try:
            inst.ready.wait(START_TIMEOUT)
            if inst.failed or not inst.ready.is_set():
                return handler.text(503, "The request failed because the instance could not "
                                    "start successfully: %s" % (inst.failed or "it did not "
                                                                "listen on $PORT in time"))
            self._forward(inst, rev, handler)
        finally:
            with self.ilock:
                inst.busy -= 1
                inst.last_used = time.monotonic()

    def _take(self, svc, revision, rev):
        t = rev["template"]
        conc = t.get("maxInstanceRequestConcurrency") or 80
        most = (t.get("scaling") or {}).get("maxInstanceCount") or 100
        with self.ilock:
            insts = self.instances.setdefault(svc["name"], [])
            for inst in insts:
                if inst.revision == revision and not inst.failed and inst.busy < conc:
                    inst.busy += 1
                    return inst
            if len([i for i in insts if i.busy > 0 or i.revision == revision]) >= most:
                return None
            inst = Instance(revision, None, free_port())
            inst.busy = 1
            insts.append(inst)
        threading.Thread(target=self._start, args=(svc, rev, inst), daemon=True).start()
        return inst

    def _start(self, svc, rev, inst):
        c = rev["template"]["containers"][0]
        sid = svc["name"].rsplit("/", 1)[1]
        rname = inst.revision.rsplit("/", 1)[1]
        env = {e["name"]: e.get("value", "") for e in c.get("env") or []}
        env.update({"PORT": str(inst.port), "K_SERVICE": sid, "K_REVISION": rname,
                    "K_CONFIGURATION": sid,
                    "SOCKERLESS_HTTP_LISTEN": "127.0.0.1:%d" % inst.port})
        options = {"environment": env, "detach": True,
                   "labels": {"gcpsim.service": sid, "gcpsim.revision": rname}}
        if c.get("command"):
            options["entrypoint"] = c["command"]
        if c.get("args"):
            options["command"] = c["args"]
        if c.get("workingDir"):
            options["working_dir"] = c["workingDir"]
        try:
            self.sim.engine.pull(c["image"])
            inst.container_id = self.sim.engine.start(c["image"], **options)
        except Exception as exc:
            inst.failed = str(exc)
            inst.ready.set()
            return
        for stream in ("stdout", "stderr"):
            threading.Thread(target=self._logs, args=(svc, inst, stream), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and not self.closed:
            try:
                socket.create_connection(("127.0.0.1", inst.port), 0.5).close()
                inst.ready.set()
                return
            except OSError:
                pass
            try:
                if self.sim.engine.state(inst.container_id)["Status"] != "running":
                    inst.failed = "the container exited before listening on $PORT"
                    break
            except Exception:
                inst.failed = "the container is gone"
                break
            time.sleep(0.05)
        inst.failed = inst.failed or "it did not listen on $PORT within %ds" % START_TIMEOUT
        inst.ready.set()

    def _logs(self, svc, inst, stream):
        sid = svc["name"].rsplit("/", 1)[1]
        rname = inst.revision.rsplit("/", 1)[1]
        resource = {"type": "cloud_run_revision",
                    "labels": {"service_name": sid, "revision_name": rname,
                               "configuration_name": sid, "location": self.sim.region,
                               "project_id": self.sim.project}}
        log_name = "projects/%s/logs/run.googleapis.com%%2F%s" % (self.sim.project, stream)
        try:
            chunks = self.sim.engine.docker.api.logs(
                inst.container_id, stdout=stream == "stdout", stderr=stream == "stderr",
                stream=True, follow=True, timestamps=True)
            pending = b""
            for chunk in chunks:
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self._log_line(line, log_name, resource, inst)
            if pending:
                self._log_line(pending, log_name, resource, inst)
        except Exception:  # the container is gone: nothing more to read
            pass

    def _log_line(self, line, log_name, resource, inst):
        stamp, _, text = line.decode("utf-8", "replace").partition(" ")
        self.sim.log_write({"logName": log_name, "resource": resource, "timestamp": stamp,
                            "textPayload": text, "severity": "DEFAULT",
                            "labels": {"instanceId": inst.container_id}})

    def _forward(self, inst, rev, handler):
        timeout = seconds(rev["template"].get("timeout") or "300s", "timeout")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_HEADERS}
        conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=timeout)
        try:
            conn.request(handler.command, handler.rest or "/", body=handler.body,
                         headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except socket.timeout:
            return handler.text(504, "upstream request timeout")
        except (OSError, http.client.HTTPException) as exc:
            return handler.text(503, "The instance failed to answer: %s" % exc)
        finally:
            conn.close()
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_HEADERS]
        handler.raw(resp.status, out, body)

    def _stop(self, inst):
        if inst.container_id:
            self.sim.engine.stop(inst.container_id, STOP_GRACE)
            self.sim.engine.remove(inst.container_id)

    def _reaper(self):
        """Scale to zero: instances idle for self.idle seconds go."""
        while not self.closed:
            time.sleep(1)
            now, gone = time.monotonic(), []
            with self.ilock:
                for insts in self.instances.values():
                    for inst in list(insts):
                        if inst.busy == 0 and (inst.failed or now - inst.last_used > self.idle):
                            insts.remove(inst)
                            gone.append(inst)
            for inst in gone:
                self._stop(inst)

    def close(self):
        self.closed = True
        with self.ilock:
            gone = [i for insts in self.instances.values() for i in insts]
            self.instances = {}
        for inst in gone:
            self._stop(inst)
        self.data.shutdown()

    # Persistence: the URLs follow the data plane's port of this run.

    def snapshot(self):
        return {"services": self.services, "revisions": self.revisions}

    def restore(self, state):
        self.services = state.get("services", {})
        self.revisions = state.get("revisions", {})
        for svc in self.services.values():
            sid = svc["name"].rsplit("/", 1)[1]
            svc["uri"] = self.uri(sid)
            svc["urls"] = [svc["uri"]]


class DataHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Google Frontend"
    # The head and the body go out in separate writes: without TCP_NODELAY
    # the body waits for the client's delayed ACK of the head (40 ms).
    disable_nagle_algorithm = True
    services = None

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else None
        path, _, query = self.path.partition("?")
        m = re.fullmatch(r"/_svc/([a-z][a-z0-9-]{0,62})(/.*)?", path)
        try:
            if m:
                self.rest = (m.group(2) or "/") + ("?" + query if query else "")
                return self.services.invoke(m.group(1), self)
            if path.startswith("/_upload/") and self.services.uploads is not None:
                return self.services.uploads(self, path[len("/_upload/"):], query)
            self.text(404, "The requested URL %s was not found on this server." % path)
        except Exception:
            log.exception("%s %s failed", self.command, path)
            self.text(500, "gcpsim: internal error")

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def text(self, status, message):
        self.raw(status, [("Content-Type", "text/plain; charset=utf-8")],
                 (message + "\n").encode())

    def raw(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class DataPlane(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, services):
        handler = type("BoundDataHandler", (DataHandler,), {"services": services})
        super().__init__(("127.0.0.1", int(os.environ.get("GCPSIM_DATA_PORT") or 0)), handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, name="gcpsim-data", daemon=True).start()


def register(sim):
    """Registers the services API once (the functions module calls it)."""
    if getattr(sim, "run_services", None) is not None:
        return sim.run_services
    services = Services(sim)
    sim.run_services = services
    base = "run.projects.locations.services."
    sim.route("GET", SERVICES, services.list, base + "list")
    sim.route("GET", SERVICE, services.get, base + "get")
    sim.route("PATCH", SERVICE, services.patch, base + "patch")
    sim.add_closer(services.close)
    sim.add_state("run_services", services.snapshot, services.restore)
    log.info("Cloud Run Admin API v2 services served; service URLs on 127.0.0.1:%d",
             services.data.port)
    return services

"""Cloud Functions v2 in the GCP simulator (Interface S): functions
create / get / list / patch / delete (LROs with metadata
google.cloud.functions.v2.OperationMetadata), generateUploadUrl with its
upload target (a PUT of a zip on the data-plane listener of
gcpsim_services), and the "build": the simulator has no build toolchain,
so a build checks the uploaded source the way the buildpack would fail
on it (a zip; for Python runtimes a main.py defining the entry point;
for Node.js an index.js or package.json) and then makes the function's
Cloud Run service (named as the function, gcpsim_services) whose
revision names the image a build would push. That image is not run (the
services module says so on invocation); the gcf backend points the
service at its own image with services.patch."""

import copy
import io
import logging
import re
import threading
import time
import uuid
import zipfile

import gcpsim_services
from gcpsim_core import ApiError, rfc3339

log = logging.getLogger("gcpsim.functions")

FUNCS = r"/v2/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/functions"
FUNC = FUNCS + r"/(?P<f>[^/:]+)"
META_TYPE = "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"
FUNC_TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"
FUNCTION_ID = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]|[a-z]")
RUNTIMES = {"python310", "python311", "python312", "python313", "nodejs18", "nodejs20",
            "nodejs22", "go121", "go122", "go123", "java17", "java21"}
UPLOAD_MAX = 100 * 1024 * 1024
BUILD_SECONDS = 0.2
MAX_TIMEOUT = 3600
MEMORY = re.compile(r"(\d+)(M|Mi|G|Gi)")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
FILTER_TERM = re.compile(r'\s*labels\.([a-z0-9_-]+)\s*=\s*"?([a-z0-9_-]*)"?\s*')


def memory_mb(text):
    m = MEMORY.fullmatch(text or "")
    if not m:
        return None
    n = int(m.group(1))
    return n * (1024 if m.group(2).startswith("G") else 1)


class Functions:
    def __init__(self, sim, services):
        self.sim = sim
        self.services = services
        self.functions = {}   # full name -> Function
        self.uploads = {}     # object name -> {"data": bytes or None, "expires": epoch}
        services.uploads = self.upload

    def _parent(self, req):
        p, loc = req.match.group("p"), req.match.group("l")
        if p != self.sim.project or loc != self.sim.region:
            raise ApiError(404, "NOT_FOUND", "Location %s/%s is not served by this simulator "
                           "(project %s, region %s)."
                           % (p, loc, self.sim.project, self.sim.region))
        return "projects/%s/locations/%s" % (p, loc)

    def _find(self, name):
        fn = self.functions.get(name)
        if fn is None:
            raise ApiError(404, "NOT_FOUND", "Resource '%s' was not found" % name)
        return fn

    def _op(self, verb, target):
        now = rfc3339(time.time())
        return self.sim.op_new({"@type": META_TYPE, "createTime": now, "target": target,
                                "verb": verb, "cancelRequested": False, "apiVersion": "v2",
                                "stages": [{"name": "BUILD", "state": "NOT_STARTED"},
                                           {"name": "SERVICE", "state": "NOT_STARTED"}]})

    def _finish(self, op_name, fn=None, error=None):
        op = self.sim.op_get(op_name)
        meta = op["metadata"]
        meta["endTime"] = rfc3339(time.time())
        for stage in meta["stages"]:
            stage["state"] = "COMPLETE"
        self.sim.op_update(op_name, meta)
        if error is not None:
            self.sim.op_done(op_name, error=error)
        else:
            self.sim.op_done(op_name, response=dict(copy.deepcopy(fn or {}),
                                                    **({"@type": FUNC_TYPE} if fn else {})))

    # Uploads.

    def generate_upload_url(self, req):
        self._parent(req)
        obj = "%s.zip" % uuid.uuid4()
        self.uploads[obj] = {"data": None, "expires": time.time() + 300}
        bucket = "gcf-v2-uploads-%s-%s" % (self.sim.project, self.sim.region)
        url = "http://127.0.0.1:%d/_upload/%s?X-Goog-Algorithm=GOOG4-RSA-SHA256" % (
            self.services.data.port, obj)
        return 200, {"uploadUrl": url, "storageSource": {"bucket": bucket, "object": obj}}

    def upload(self, handler, obj, query):
        """The signed URL: PUT of a zip (Content-Type application/zip, as
        generateUploadUrl's URLs are signed for)."""
        with self.sim.lock:
            slot = self.uploads.get(obj)
            if handler.command != "PUT":
                return handler.text(405, "The upload URL takes PUT.")
            if slot is None or slot["expires"] < time.time() or "X-Goog-Algorithm" not in query:
                return handler.text(403, "SignatureDoesNotMatch: the upload URL is not valid "
                                    "or has expired.")
            if (handler.headers.get("Content-Type") or "") != "application/zip":
                return handler.text(403, "SignatureDoesNotMatch: the URL is signed for "
                                    "Content-Type: application/zip.")
            data = handler.body or b""
            if len(data) > UPLOAD_MAX or not zipfile.is_zipfile(io.BytesIO(data)):
                return handler.text(400, "The upload is not a zip archive.")
            slot["data"] = data
        handler.raw(200, [("Content-Type", "text/plain")], b"")

    def runtimes(self, req):
        """runtimes.list: what gcloud functions deploy checks first."""
        self._parent(req)
        return 200, {"runtimes": [{"name": n, "displayName": n, "stage": "GA",
                                   "environment": "GEN_2"} for n in sorted(RUNTIMES)]}

    # Functions.

    def create(self, req):
        parent = self._parent(req)
        fid = req.param("functionId") or ""
        if not FUNCTION_ID.fullmatch(fid):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid function id %r: it must start with "
                           "a lowercase letter, hold lowercase letters, digits and hyphens, "
                           "end with a letter or digit and have at most 63 characters." % fid)
        name = "%s/functions/%s" % (parent, fid)
        if name in self.functions:
            raise ApiError(409, "ALREADY_EXISTS", "Function %s already exists." % fid)
        fn = copy.deepcopy(req.body or {})
        if fn.get("name") not in (None, name):
            raise ApiError(400, "INVALID_ARGUMENT", "The name in the body does not match "
                           "functionId.")
        self._check(fn)
        now = rfc3339(time.time())
        fn.update({"name": name, "state": "DEPLOYING", "environment": "GEN_2",
                   "createTime": now, "updateTime": now})
        fn.setdefault("serviceConfig", {})
        self.functions[name] = fn
        op = self._op("create", name)
        threading.Thread(target=self._build, args=(name, op["name"], True), daemon=True).start()
        return 200, op

    def _check(self, fn):
        build = fn.get("buildConfig") or {}
        if build.get("runtime") not in RUNTIMES:
            raise ApiError(400, "INVALID_ARGUMENT", "buildConfig.runtime %r is not a supported "
                           "runtime (for example python312, nodejs20)." % build.get("runtime"))
        if not build.get("entryPoint"):
            raise ApiError(400, "INVALID_ARGUMENT", "buildConfig.entryPoint is required.")
        src = (build.get("source") or {}).get("storageSource") or {}
        if not src.get("object"):
            raise ApiError(400, "INVALID_ARGUMENT", "buildConfig.source.storageSource: the "
                           "object of a generateUploadUrl answer is required.")
        sc = fn.get("serviceConfig") or {}
        if "timeoutSeconds" in sc and not 1 <= sc["timeoutSeconds"] <= MAX_TIMEOUT:
            raise ApiError(400, "INVALID_ARGUMENT", "serviceConfig.timeoutSeconds must be "
                           "between 1 and 3600 for HTTP functions.")
        if "availableMemory" in sc:
            mb = memory_mb(sc["availableMemory"])
            if mb is None or not 128 <= mb <= 32768:
                raise ApiError(400, "INVALID_ARGUMENT", "serviceConfig.availableMemory %r: use "
                               "128M to 32Gi, such as 256M or 1Gi." % sc["availableMemory"])
        for k, v in (fn.get("labels") or {}).items():
            if not LABEL_KEY.fullmatch(k) or not LABEL_VALUE.fullmatch(v or ""):
                raise ApiError(400, "INVALID_ARGUMENT", "Label %r=%r breaks Google's label rules "
                               "(lowercase letters, digits, _ and -; keys start with a letter)."
                               % (k, v))
        for k in (sc.get("environmentVariables") or {}):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) or k.startswith("X_GOOGLE_") \
                    or k in ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"):
                raise ApiError(400, "INVALID_ARGUMENT", "serviceConfig.environmentVariables: "
                               "%r is not allowed." % k)

    def _source_error(self, build):
        """Why a buildpack build of the uploaded source fails, or None."""
        src = build["source"]["storageSource"]
        slot = self.uploads.get(src["object"])
        if slot is None or slot["data"] is None:
            return "Build failed: the source object gs://%s/%s does not exist (PUT the zip to " \
                   "the upload URL first)." % (src.get("bucket"), src["object"])
        names = zipfile.ZipFile(io.BytesIO(slot["data"])).namelist()
        runtime, entry = build["runtime"], build["entryPoint"]
        if runtime.startswith("python"):
            if "main.py" not in names:
                return "Build failed: missing main.py and GOOGLE_FUNCTION_SOURCE not specified."
            text = zipfile.ZipFile(io.BytesIO(slot["data"])).read("main.py").decode(
                "utf-8", "replace")
            if not re.search(r"^def\s+%s\s*\(" % re.escape(entry), text, re.M):
                return "Build failed: function %s is not defined in main.py." % entry
        elif runtime.startswith("nodejs") and not {"index.js", "package.json"} & set(names):
            return "Build failed: no index.js or package.json in the source."
        return None

    def _build(self, name, op_name, create):
        time.sleep(BUILD_SECONDS)
        with self.sim.lock:
            fn = self.functions.get(name)
            if fn is None:
                return self._finish(op_name, error={"code": 10, "message": "The function was "
                                                    "deleted during its deployment."})
            build = fn["buildConfig"]
            why = self._source_error(build)
            if why is not None:
                fn["state"] = "FAILED"
                fn["stateMessages"] = [{"severity": "ERROR", "type": "BuildFailed",
                                        "message": why}]
                self.sim.touch()
                return self._finish(op_name, error={"code": 3, "message": why})
            fid = name.rsplit("/", 1)[1]
            image = "%s-docker.pkg.dev/%s/gcf-artifacts/%s--%s--%s:version_%d" % (
                self.sim.region, self.sim.project, self.sim.project, self.sim.region, fid,
                int(fn.get("_version", 0)) + 1)
            fn["_version"] = int(fn.get("_version", 0)) + 1
            build["dockerRepository"] = "projects/%s/locations/%s/repositories/gcf-artifacts" % (
                self.sim.project, self.sim.region)
            build["build"] = "projects/%s/locations/%s/builds/%s" % (
                self.sim.project, self.sim.region, uuid.uuid4())
            svc_name = "projects/%s/locations/%s/services/%s" % (self.sim.project,
                                                                 self.sim.region, fid)
            if create or svc_name not in self.services.services:
                svc = self.services.create_for_function(fid, image, fn["serviceConfig"],
                                                        dict(fn.get("labels") or {}))
            else:  # a redeploy points the service back at the build's image
                svc = self.services.services[svc_name]
                svc["template"]["containers"][0]["image"] = image
                self.services._deploy(svc, source_built=True)
                self.services._ready(svc)
            sc = fn["serviceConfig"]
            sc["service"] = svc_name
            sc["uri"] = svc["uri"]
            sc["revision"] = svc["latestReadyRevision"].rsplit("/", 1)[1]
            sc.setdefault("availableMemory", "256M")
            sc.setdefault("timeoutSeconds", 60)
            sc.setdefault("maxInstanceCount", 100)
            sc.setdefault("ingressSettings", "ALLOW_ALL")
            sc.setdefault("maxInstanceRequestConcurrency", 1)
            fn["url"] = svc["uri"]
            fn["state"] = "ACTIVE"
            fn.pop("stateMessages", None)
            fn["updateTime"] = rfc3339(time.time())
            self.sim.touch()
            self._finish(op_name, self._public(fn))

    def _public(self, fn):
        return {k: copy.deepcopy(v) for k, v in fn.items() if not k.startswith("_")}

    def get(self, req):
        name = "%s/functions/%s" % (self._parent(req), req.match.group("f"))
        return 200, self._public(self._find(name))

    def list(self, req):
        prefix = self._parent(req) + "/functions/"
        terms = self._filter(req.param("filter") or "")
        items = [self._public(f) for n, f in sorted(self.functions.items())
                 if n.startswith(prefix) and all(
                     (f.get("labels") or {}).get(k) == v for k, v in terms)]
        size = int(req.param("pageSize") or 100) or 100
        token = req.param("pageToken") or "0"
        if not token.isdigit():
            raise ApiError(400, "INVALID_ARGUMENT", "The page token is not valid.")
        start = int(token)
        out = {"functions": items[start:start + size]}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return 200, out

    def _filter(self, text):
        """The filters the simulator understands: labels.K="V" terms joined
        with AND; anything else is refused rather than ignored."""
        if not text.strip():
            return []
        terms = []
        for part in re.split(r"\s+AND\s+", text.strip()):
            m = FILTER_TERM.fullmatch(part)
            if not m:
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid filter %r: the simulator "
                               "takes labels.KEY=\"VALUE\" terms joined by AND." % text)
            terms.append((m.group(1), m.group(2)))
        return terms

    def patch(self, req):
        name = "%s/functions/%s" % (self._parent(req), req.match.group("f"))
        fn = self._find(name)
        if fn["state"] == "DEPLOYING":
            raise ApiError(409, "ABORTED", "Function %s is being deployed; retry once its "
                           "operation is done." % name)
        body = req.body or {}
        mask = [m for m in (req.param("updateMask") or "").split(",") if m]
        fields = mask or [k for k in ("buildConfig", "serviceConfig", "labels",
                                      "description", "kmsKeyName") if k in body]
        merged = copy.deepcopy(fn)
        for field in fields:
            path = field.split(".")
            src, dst = body, merged
            for key in path[:-1]:
                src = src.get(key) or {}
                dst = dst.setdefault(key, {})
            if path[-1] in src:
                dst[path[-1]] = copy.deepcopy(src[path[-1]])
            else:
                dst.pop(path[-1], None)
        self._check(merged)
        merged["state"] = "DEPLOYING"
        self.functions[name] = merged
        op = self._op("update", name)
        threading.Thread(target=self._build, args=(name, op["name"], False),
                         daemon=True).start()
        return 200, op

    def delete(self, req):
        name = "%s/functions/%s" % (self._parent(req), req.match.group("f"))
        fn = self._find(name)
        fn["state"] = "DELETING"
        op = self._op("delete", name)
        threading.Thread(target=self._delete, args=(name, op["name"]), daemon=True).start()
        return 200, op

    def _delete(self, name, op_name):
        time.sleep(BUILD_SECONDS / 2)
        with self.sim.lock:
            fn = self.functions.pop(name, None)
            svc = (fn or {}).get("serviceConfig", {}).get("service")
        if svc:
            self.services.delete_for_function(svc)
        with self.sim.lock:
            self._finish(op_name)

    # Persistence.

    def snapshot(self):
        return {"functions": self.functions}

    def restore(self, state):
        self.functions = state.get("functions", {})
        for fn in self.functions.values():
            svc = self.services.services.get((fn.get("serviceConfig") or {}).get("service"))
            if svc is not None:
                fn["url"] = fn["serviceConfig"]["uri"] = svc["uri"]


def register(sim):
    services = gcpsim_services.register(sim)
    functions = Functions(sim, services)
    sim.cloud_functions = functions
    base = "cloudfunctions.projects.locations.functions."
    sim.route("POST", FUNCS, functions.create, base + "create")
    sim.route("GET", FUNCS, functions.list, base + "list")
    sim.route("POST", FUNCS + ":generateUploadUrl", functions.generate_upload_url,
              base + "generateUploadUrl")
    sim.route("GET", FUNC, functions.get, base + "get")
    sim.route("GET", r"/v2/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)/runtimes",
              functions.runtimes, "cloudfunctions.projects.locations.runtimes.list")
    sim.route("PATCH", FUNC, functions.patch, base + "patch")
    sim.route("DELETE", FUNC, functions.delete, base + "delete")
    sim.add_state("cloud_functions", functions.snapshot, functions.restore)
    log.info("Cloud Functions v2 served")
    return functions

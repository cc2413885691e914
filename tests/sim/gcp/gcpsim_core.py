"""The GCP simulator's base (Interface S): Google's error shape, the
request a handler sees, routing with discovery validation, bearer-token
checks, faults and counters, the long-running operations store and the
Cloud Logging store. Service modules (gcpsim_run, gcpsim_functions)
register their handlers with sim.route()."""

import copy
import json
import logging
import re
import threading
import time
import uuid

from gcpsim_discovery import Discovery, check_body, check_query
from gcpsim_faults import CallCounter, CallLog, Faults

log = logging.getLogger("gcpsim")

STATUS_HTTP = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
               "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
               "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
               "CANCELLED": 499, "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500,
               "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
# google.rpc.Code numbers, for the error field of a finished operation.
RPC_CODE = {"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3,
            "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5, "ALREADY_EXISTS": 6,
            "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
            "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13,
            "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16}
MISSING_CREDENTIAL = ("Request is missing required authentication credential. Expected OAuth 2 "
                      "access token, login cookie or other valid authentication credential. See "
                      "https://developers.google.com/identity/sign-in/web/devconsole-project.")
INVALID_CREDENTIAL = ("Request had invalid authentication credentials. Expected OAuth 2 access "
                      "token, login cookie or other valid authentication credential. See "
                      "https://developers.google.com/identity/sign-in/web/devconsole-project.")
WAIT_CAP = 60.0


class ApiError(Exception):
    """A google.rpc.Status answer: ApiError(404, "NOT_FOUND", "Resource ...
    not found.", details=[...])."""

    def __init__(self, http_status, status_name, message, details=None, headers=None):
        super().__init__(message)
        self.http_status = http_status
        self.status_name = status_name
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def to_json(self):
        error = {"code": self.http_status, "message": self.message,
                 "status": self.status_name}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def rpc_status(self):
        """The google.rpc.Status of an operation's error field."""
        status = {"code": RPC_CODE.get(self.status_name, 2), "message": self.message}
        if self.details:
            status["details"] = self.details
        return status


def invalid_argument(violations):
    message = "\n".join(v.description for v in violations)
    detail = {"@type": "type.googleapis.com/google.rpc.BadRequest",
              "fieldViolations": [{"field": v.field, "description": v.description}
                                  for v in violations]}
    return ApiError(400, "INVALID_ARGUMENT", message, [detail])


def implied_permissions(req):
    """The permissions a request implies beyond its method's (for the call
    log): run.jobs.runWithOverrides for a jobs:run with overrides, and
    iam.serviceAccounts.actAs for a job or function given a service
    account to run as."""
    body = req.body if isinstance(req.body, dict) else {}
    out = []
    if req.path.endswith(":run") and body.get("overrides"):
        out.append("run.jobs.runWithOverrides")
    template = (body.get("template") or {}).get("template") or {} \
        if isinstance(body.get("template"), dict) else {}
    service_config = body.get("serviceConfig") if isinstance(body.get("serviceConfig"),
                                                              dict) else {}
    account = (template.get("serviceAccount") if isinstance(template, dict) else None) or \
        service_config.get("serviceAccountEmail")
    if account:
        out.append("iam.serviceAccounts.actAs")
    return out


class Request:
    """What a handler sees: .method .path .query (dict of lists) .body
    (parsed JSON, readOnly fields dropped; None when absent) .raw (the
    body's bytes: an upload's media) .headers .match .principal (the
    token's service account e-mail) .method_id."""

    def __init__(self, method, path, query, body, headers, raw=b""):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.raw = raw
        self.headers = headers
        self.match = None
        self.principal = None
        self.method_id = None

    def param(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default


class Route:
    def __init__(self, method, regex, handler, method_id):
        self.method = method
        self.regex = re.compile(regex)
        self.handler = handler
        self.method_id = method_id


class Sim:
    def __init__(self, project, region, state_dir, engine=None, ar_host=None, registry=None,
                 tokens=None):
        self.project = project
        self.region = region
        self.state_dir = state_dir
        self.engine = engine
        self.ar_host = ar_host
        self.registry = registry
        self.tokens = tokens
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.discovery = Discovery()
        self.faults = Faults()
        self.calls = CallCounter()
        self.call_log = CallLog()
        self.routes = []
        self.operations = {}
        self.entries = []
        self.entry_seq = 0
        self.version = 0
        self.id_token_checker = None
        self.state_hooks = {}
        self.closers = []
        self.auth = None

    # Registration (Interface S).

    def route(self, method, path_regex, handler, method_id):
        self.discovery.method(method_id)  # a typo fails at start-up, not per call
        self.routes.append(Route(method, path_regex, handler, method_id))

    def count(self, service, method_id):
        key = method_id if method_id.startswith(service + ".") else "%s.%s" % (service, method_id)
        self.calls.add(key)

    def fault(self, spec):
        """Adds a fault (the spec of POST /_sim/faults, gcpsim_faults)."""
        return self.faults.add(spec)

    def check_id_token(self, token, audience):
        """The claims of an ID token the simulator issued for audience;
        ApiError 401 UNAUTHENTICATED otherwise."""
        return self.id_token_checker(token, audience)

    def add_state(self, name, snapshot, restore):
        """Persistence of a module's state: snapshot() -> JSON-able,
        restore(obj) at start-up when the state directory has it."""
        self.state_hooks[name] = (snapshot, restore)

    def add_closer(self, close):
        """close() runs at shutdown, before the simulator removes its
        containers and saves its state."""
        self.closers.append(close)

    def touch(self):
        """Something worth saving changed; wakes :wait callers."""
        with self.lock:
            self.version += 1
            self.changed.notify_all()

    # Operations.

    def op_new(self, metadata):
        name = "projects/%s/locations/%s/operations/%s" % (self.project, self.region,
                                                           uuid.uuid4())
        op = {"name": name, "metadata": copy.deepcopy(metadata), "done": False}
        with self.lock:
            self.operations[name] = op
            self.touch()
        return copy.deepcopy(op)

    def op_done(self, name, response=None, error=None):
        with self.lock:
            op = self.operations.get(name)
            if op is None:
                raise KeyError("no operation %s" % name)
            op["done"] = True
            op.pop("response", None)
            op.pop("error", None)
            if error is not None:
                op["error"] = copy.deepcopy(error)
            else:
                op["response"] = copy.deepcopy(response if response is not None else {})
            self.touch()
            return copy.deepcopy(op)

    def op_update(self, name, metadata):
        """Replaces a running operation's metadata (progress)."""
        with self.lock:
            self.operations[name]["metadata"] = copy.deepcopy(metadata)
            self.touch()

    def op_get(self, name):
        with self.lock:
            op = self.operations.get(name)
            return copy.deepcopy(op) if op else None

    # Logging.

    def log_write(self, entry):
        entry = copy.deepcopy(entry)
        now = time.time()
        with self.lock:
            self.entry_seq += 1
            entry.setdefault("insertId", "%016x%08x" % (int(now * 1e6), self.entry_seq))
            entry.setdefault("receiveTimestamp", rfc3339(now))
            entry.setdefault("timestamp", entry["receiveTimestamp"])
            entry["_seq"] = self.entry_seq
            self.entries.append(entry)
            self.touch()

    # Dispatch.

    def find(self, method, path):
        """(route, match) for a request; ApiError 404 when no route
        takes it."""
        seen = False
        for route in self.routes:
            match = route.regex.fullmatch(path)
            if match:
                seen = True
                if route.method == method:
                    return route, match
        if seen:
            raise ApiError(404, "NOT_FOUND", "Method not found: %s %s has no such verb."
                           % (method, path))
        raise ApiError(404, "NOT_FOUND", "The requested URL %s was not found on this server "
                       "(no simulated Google API serves it)." % path)

    def serve(self, req):
        """(status, obj, headers) of a request for a registered route."""
        route, match = self.find(req.method, req.path)
        method = self.discovery.method(route.method_id)
        self.count(route.method_id.split(".", 1)[0], route.method_id)
        if self.call_log.path:
            self.call_log.add(route.method_id, req.path.lstrip("/"),
                              req.headers.get("User-Agent"), implied_permissions(req))
        req.match = match
        req.method_id = route.method_id
        req.principal = self._authenticate(req)
        fault = self.faults.take(route.method_id)
        if fault is not None:
            if fault.latency_ms:
                time.sleep(fault.latency_ms / 1000.0)
            if fault.error:
                raise ApiError(fault.http_status, fault.error, fault.message, fault.details())
        if not method.path_re.fullmatch(req.path) and \
                not (method.upload_re and method.upload_re.fullmatch(req.path)):
            raise ApiError(404, "NOT_FOUND", "%s does not match %s's path %s"
                           % (req.path, route.method_id,
                              method.spec.get("flatPath") or method.spec.get("path")))
        violations = check_query(method, req.query)
        if req.body is not None and not isinstance(req.body, (dict, list)):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. "
                           "Expected an object.")
        body_violations, req.body = check_body(method, req.body)
        violations += body_violations
        if violations:
            raise invalid_argument(violations)
        with self.lock:
            status, obj = route.handler(req)
        return status, obj

    def _authenticate(self, req):
        header = req.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if not token and req.query.get("access_token"):
            token, scheme = req.query["access_token"][-1], "Bearer"
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "UNAUTHENTICATED", MISSING_CREDENTIAL,
                           headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        principal = self.tokens.principal(token.strip())
        if principal is None:
            raise ApiError(401, "UNAUTHENTICATED", INVALID_CREDENTIAL,
                           [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED"
                             if token.count(".") == 2 else "CREDENTIALS_MISSING",
                             "domain": "googleapis.com"}],
                           headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                    'error="invalid_token"'})
        return principal

    # Persistence.

    def snapshot(self):
        with self.lock:
            state = {"version": 1, "operations": list(self.operations.values()),
                     "entries": self.entries, "entry_seq": self.entry_seq}
            for name, (snap, _) in self.state_hooks.items():
                state[name] = snap()
            return json.loads(json.dumps(state, default=str))

    def restore(self, state):
        with self.lock:
            self.operations = {op["name"]: op for op in state.get("operations", [])}
            self.entries = state.get("entries", [])
            self.entry_seq = state.get("entry_seq", len(self.entries))
            for name, (_, restore) in self.state_hooks.items():
                if name in state:
                    restore(state[name])


def rfc3339(epoch):
    """RFC 3339 UTC with nanoseconds, as Google writes timestamps."""
    seconds = int(epoch)
    nanos = int(round((epoch - seconds) * 1e9))
    if nanos >= 1000000000:
        seconds, nanos = seconds + 1, nanos - 1000000000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%09dZ" % nanos


def parse_rfc3339(text):
    """Epoch seconds (float) of an RFC 3339 timestamp; ValueError when it
    is not one. Nanoseconds are kept as far as a float can."""
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d{1,9})?"
                         r"([Zz]|[+-]\d\d:\d\d)", text)
    if not match:
        raise ValueError("not an RFC 3339 timestamp: %r" % text)
    import calendar
    parts = [int(match.group(i)) for i in range(1, 7)]
    epoch = calendar.timegm((parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], 0, 0, 0))
    frac = float("0" + match.group(7)) if match.group(7) else 0.0
    zone = match.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return epoch + frac


def timestamp_key(text):
    """An exact sort key (seconds, nanos) of an RFC 3339 timestamp."""
    epoch = parse_rfc3339(text)
    match = re.search(r"\.(\d{1,9})", text)
    nanos = int((match.group(1) + "000000000")[:9]) if match else 0
    return (int(epoch // 1), nanos)

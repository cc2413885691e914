"""The Azure simulator's base (Interface S): ARM's error envelope, the
request a handler sees, routing with spec validation (azuresim_spec),
bearer-token checks per audience, faults and counters, the asynchronous
operation store (Azure-AsyncOperation and Location URLs), nextLink paging
and the Log Analytics row store. Service modules (azuresim_app,
azuresim_la) register their handlers with sim.route()."""

import copy
import json
import logging
import re
import threading
import time
import uuid

from azuresim_faults import CallCounter, CallLog, Faults
from azuresim_spec import API_VERSION, Spec

log = logging.getLogger("azuresim")

ARM_AUDIENCE = "https://management.azure.com/"
LOGS_AUDIENCE = "https://api.loganalytics.io"
AUDIENCES = {"arm": ARM_AUDIENCE, "logs": LOGS_AUDIENCE}
# The api-version of the simulator's own operation status URLs (the one
# Microsoft.App writes into Azure-AsyncOperation and Location).
OP_API_VERSION = "2025-07-01"
OP_STATUS = r"/subscriptions/(?P<s>[^/]+)/providers/Microsoft\.App/locations/(?P<l>[^/]+)/" \
    r"(?P<kind>containerappOperationStatuses|containerappOperationResults)/(?P<id>[^/]+)"
SKIPTOKEN = "$skiptoken"
MAX_PAGES = 1000  # stored paging cursors; the oldest go first


class ArmError(Exception):
    """An ARM error answer: {"error": {"code", "message", "target"?,
    "details"?}} with http_status and extra headers."""

    def __init__(self, http_status, code, message, details=None, target=None, headers=None):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.details = details
        self.target = target
        self.headers = headers or {}

    def to_json(self):
        error = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_content(violations):
    """400 InvalidRequestContent naming the first violation's JSON path,
    every violation in details."""
    first = violations[0]
    message = "The request content was invalid and could not be deserialized: '%s'" \
        % first.message
    details = [{"code": "InvalidRequestContent", "target": v.target, "message": v.message}
               for v in violations]
    return ArmError(400, "InvalidRequestContent", message, details, target=first.target)


def invalid_parameter(violations):
    first = violations[0]
    details = [{"code": "InvalidParameter", "target": v.target, "message": v.message}
               for v in violations]
    return ArmError(400, "InvalidParameter", first.message, details, target=first.target)


class Request:
    """What a handler sees: .method .path .query (dict of lists) .body
    (parsed JSON with readOnly properties dropped; None when absent)
    .raw_body .headers .match .principal (the token's claims: oid, appid,
    tid, aud) .api_version .op_id."""

    def __init__(self, method, path, query, body, headers, raw_body=b""):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.raw_body = raw_body
        self.headers = headers
        self.match = None
        self.principal = None
        self.api_version = None
        self.op_id = None

    def param(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default


class Stream:
    """A handler's streamed answer body: `chunks` (an iterable of bytes,
    e.g. a generator that follows a log) is sent as it comes, with
    Transfer-Encoding: chunked, after sim.lock is released (so the
    iterable takes the lock itself around what it reads). Iteration stops
    when the client goes away (the generator is closed)."""

    def __init__(self, chunks, content_type="text/plain; charset=utf-8"):
        self.chunks = chunks
        self.content_type = content_type


class Route:
    def __init__(self, method, regex, handler, op_id, audience):
        self.method = method
        self.regex = re.compile(regex)
        self.handler = handler
        self.op_id = op_id
        self.audience = audience


class Tokens:
    """Access tokens the simulator issued: JWT-shaped
    (header.claims.signature, base64url), looked up in the store (so a
    forged one fails however it is signed)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens = {}

    def issue(self, audience, claims, lifetime=3600):
        now = int(time.time())
        claims = dict(claims, aud=audience, iat=now, nbf=now, exp=now + lifetime,
                      uti=uuid.uuid4().hex, ver="1.0")
        header = {"typ": "JWT", "alg": "RS256", "kid": "sockerless-azuresim"}
        token = "%s.%s.%s" % (b64url(json.dumps(header).encode()),
                              b64url(json.dumps(claims).encode()),
                              b64url(uuid.uuid4().bytes + uuid.uuid4().bytes))
        with self._lock:
            self._tokens = {t: c for t, c in self._tokens.items() if c["exp"] > now}
            self._tokens[token] = claims
        return token

    def lookup(self, token):
        """The claims of an issued, unexpired token; None otherwise."""
        with self._lock:
            claims = self._tokens.get(token)
            if claims is None or claims["exp"] <= time.time():
                return None
            return dict(claims)

    def expire(self, token):
        with self._lock:
            if token in self._tokens:
                self._tokens[token]["exp"] = 0


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Sim:
    def __init__(self, subscription, resource_group, location, tenant, state_dir, url,
                 engine=None, acr_host=None, registry=None, workspace_id=None):
        self.subscription = subscription
        self.resource_group = resource_group
        self.location = location
        self.tenant = tenant
        self.state_dir = state_dir
        self.url = url
        self.engine = engine
        self.acr_host = acr_host
        self.registry = registry
        self.workspace_id = workspace_id or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                           url + "/workspace"))
        self.lock = threading.RLock()
        self.spec = Spec()
        self.faults = Faults()
        self.calls = CallCounter()
        self.call_log = CallLog()
        self.tokens = Tokens()
        self.routes = []
        self.providers = set()
        self.operations = {}
        self.pages = {}
        self.la_tables = {}
        self.closers = []
        self.starters = []
        self.fronts = []
        self.creds_extra = {}
        self._local = threading.local()

    # Registration.

    def route(self, method, path_regex, handler, op_id=None, audience="arm"):
        if op_id is not None:
            self.spec.operation(op_id)  # a typo fails at start-up, not per call
        if audience is not None and not isinstance(audience, str):
            raise ValueError("audience is 'arm', 'logs', another audience string or None")
        match = re.search(r"providers/(Microsoft(?:\\\.|\.)[A-Za-z]+)", path_regex)
        if match:
            self.providers.add(match.group(1).replace("\\", "").lower())
        self.routes.append(Route(method, path_regex, handler, op_id, audience))

    def count(self, op_id):
        self.calls.add(op_id)

    def fault(self, spec):
        return self.faults.add(spec)

    def add_closer(self, close):
        """close() runs at shutdown, before the engine's containers go."""
        self.closers.append(close)

    def add_starter(self, start):
        """start() runs once the simulator's leftover containers are gone,
        before it serves (a module re-creating its containers after a
        restart)."""
        self.starters.append(start)

    def front(self, host_regex, serve):
        """Requests whose Host header (without the port) fully matches
        host_regex (case-insensitive) go to serve(handler, match, raw_body)
        instead of the ARM routes: no token or api-version check; serve
        writes the whole answer on the BaseHTTPRequestHandler itself,
        without sim.lock held (Microsoft.Web's function host front)."""
        self.fronts.append((re.compile(host_regex, re.IGNORECASE), serve))

    def front_for(self, host):
        """(serve, match) of the front a Host header names; None."""
        name = (host or "").strip()
        if name.startswith("["):
            return None
        name = name.rsplit(":", 1)[0] if ":" in name else name
        for regex, serve in self.fronts:
            match = regex.fullmatch(name)
            if match:
                return serve, match
        return None

    # Tokens.

    def issue_token(self, audience, claims):
        """A token for audience ("arm", "logs" or the audience URL)."""
        return self.tokens.issue(AUDIENCES.get(audience, audience), claims)

    def check_token(self, token, audience):
        claims = self.tokens.lookup(token or "")
        if claims is None or claims.get("aud") != AUDIENCES.get(audience, audience):
            return None
        return claims

    # Asynchronous operations.

    def op_new(self, kind="async", result=None, polls=None):
        if kind not in ("async", "location"):
            raise ValueError("an operation's kind is 'async' or 'location'")
        op_id = str(uuid.uuid4())
        leaf = "containerappOperationStatuses" if kind == "async" \
            else "containerappOperationResults"
        url = "%s/subscriptions/%s/providers/Microsoft.App/locations/%s/%s/%s?api-version=%s" % (
            self.url, self.subscription, self.location.replace(" ", ""), leaf, op_id,
            OP_API_VERSION)
        slow = getattr(self._local, "slow_polls", 0) or 0
        op = {"id": op_id, "url": url, "kind": kind, "status": "InProgress",
              "startTime": now_iso(), "result": copy.deepcopy(result), "error": None,
              "polls": (polls or 0) + slow}
        with self.lock:
            self.operations[op_id] = op
        return copy.deepcopy(op)

    def op_done(self, op_id, status="Succeeded", error=None, result=None):
        if status not in ("Succeeded", "Failed", "Canceled"):
            raise ValueError("a finished operation's status is Succeeded, Failed or Canceled")
        with self.lock:
            op = self.operations[op_id]
            op["status"] = status
            op["endTime"] = now_iso()
            op["error"] = copy.deepcopy(error)
            if result is not None:
                op["result"] = copy.deepcopy(result)
            return copy.deepcopy(op)

    def op_answer(self, op_id, kind):
        """(status, body, headers) of a poll of an operation URL."""
        with self.lock:
            op = self.operations.get(op_id)
            if op is None or op["kind"] != kind:
                raise ArmError(404, "OperationNotFound", "The operation '%s' could not be "
                               "found." % op_id)
            running = op["status"] == "InProgress"
            if not running and op["polls"] > 0:
                op["polls"] -= 1
                running = True
            op = copy.deepcopy(op)
        if kind == "async":
            body = {"id": op["url"].split("?")[0][len(self.url):], "name": op["id"],
                    "status": "InProgress" if running else op["status"],
                    "startTime": op["startTime"]}
            if not running:
                body["endTime"] = op["endTime"]
                if op["error"]:
                    body["error"] = op["error"]
            return 200, body, {"Retry-After": "1"} if running else {}
        if running:
            return 202, None, {"Location": op["url"], "Retry-After": "1"}
        if op["status"] != "Succeeded":
            return 400, {"error": op["error"] or {"code": op["status"], "message":
                                                  "The operation ended %s." % op["status"]}}, {}
        if op["result"] is None:
            return 204, None, {}
        return 200, op["result"], {}

    # Paging.

    def page(self, req, items, page_size=100):
        """The list body {"value", "nextLink"?} of items' first page; the
        rest is stored and served by the base on a GET with the
        nextLink's $skiptoken."""
        items = copy.deepcopy(list(items))
        body = {"value": items[:page_size]}
        if len(items) > page_size:
            token = uuid.uuid4().hex
            with self.lock:
                if len(self.pages) >= MAX_PAGES:
                    self.pages.pop(next(iter(self.pages)))
                self.pages[token] = {"path": req.path, "items": items[page_size:],
                                     "size": page_size}
            body["nextLink"] = "%s%s?api-version=%s&%s=%s" % (
                self.url, req.path, req.api_version or "", SKIPTOKEN, token) \
                if req.api_version else "%s%s?%s=%s" % (self.url, req.path, SKIPTOKEN, token)
        return body

    def _next_page(self, req):
        token = req.param(SKIPTOKEN)
        with self.lock:
            cursor = self.pages.pop(token, None)
        if cursor is None or cursor["path"].lower() != req.path.lower():
            raise ArmError(400, "InvalidSkipToken", "The $skiptoken '%s' is not valid: follow "
                           "the nextLink of the previous page as it is." % token)
        return self.page(req, cursor["items"], cursor["size"])

    # Log Analytics.

    def la_ingest(self, table, row):
        row = dict(row)
        if "_timestamp_ns" not in row:
            given = row.get("TimeGenerated")
            row["_timestamp_ns"] = parse_time_ns(given) if given else time.time_ns()
        row.setdefault("TimeGenerated", la_time(row["_timestamp_ns"]))
        with self.lock:
            self.la_tables.setdefault(table, []).append(row)

    # Dispatch.

    def serve(self, req):
        """(status, obj, headers) of an ARM, Log Analytics or operation
        status request."""
        audience = "logs" if req.path.startswith("/v1/") else "arm"
        op_match = re.fullmatch(OP_STATUS, req.path)
        if op_match:
            self.count("OperationStatus_Get" if op_match.group("kind").endswith("Statuses")
                       else "OperationResult_Get")
            self.call_log.arm(req.method, req.path, "OperationStatus_Get",
                              req.headers.get("User-Agent"))
            req.principal = self._authenticate(req, "arm")
            self._check_scope(req.path)
            kind = "async" if op_match.group("kind").endswith("Statuses") else "location"
            return self.op_answer(op_match.group("id"), kind)
        try:
            route, match = self.find(req)
            wrong_method = None
        except ArmError as exc:  # 405, answered after the token check
            route, match, wrong_method = None, None, exc
        op_id = route.op_id if route else None
        if op_id:
            self.count(op_id)
        if self.call_log.path and route is not None and route.audience is not None:
            self.call_log.arm(req.method, req.path, op_id, req.headers.get("User-Agent"),
                              req.body)
        if route is None or route.audience is not None:
            req.principal = self._authenticate(req, route.audience if route else audience)
        op = self._check_api_version(req, route)
        if wrong_method is not None:
            raise wrong_method
        if route is None:
            raise self._not_found(req)
        req.match = match
        req.op_id = op_id
        self._check_scope(req.path)
        fault = self.faults.take(op_id or "")
        if fault is not None and fault.kind == "latency":
            time.sleep(fault.ms / 1000.0)
        elif fault is not None and fault.kind in ("throttle", "error"):
            raise fault.error(req.method)
        if op is not None:
            self._validate(req, op)
        if req.method == "GET" and req.param(SKIPTOKEN) is not None:
            answer = (200, self._next_page(req))  # checked and stripped as the first page
        else:
            answer = self._run(route, req, fault)
        status, obj = answer[0], answer[1]
        headers = dict(answer[2]) if len(answer) > 2 else {}
        if req.path.startswith("/subscriptions/"):
            # ARM's remaining budget (CLOUD-WIRE.md 3.2), far from empty
            kind = "reads" if req.method in ("GET", "HEAD") else "writes"
            headers.setdefault("x-ms-ratelimit-remaining-subscription-" + kind,
                               "11999" if kind == "reads" else "1199")
        if op is not None and isinstance(obj, (dict, list)) and \
                req.method in ("GET", "PUT", "PATCH"):
            schema = self.spec.response_schema(op, status)
            if schema is not None:
                obj = self.spec.strip_secrets(schema, copy.deepcopy(obj))
        return status, obj, headers

    def _run(self, route, req, fault):
        self._local.slow_polls = fault.polls if fault is not None and fault.kind == "slow" \
            else 0
        try:
            with self.lock:
                return route.handler(req)
        finally:
            self._local.slow_polls = 0

    def find(self, req):
        """(route, match) for a request; (None, None) when no route's path
        matches; ArmError 405 when one does for another method."""
        seen = False
        for route in self.routes:
            match = route.regex.fullmatch(req.path)
            if match:
                seen = True
                if route.method == req.method:
                    return route, match
        if seen:
            raise ArmError(405, "MethodNotAllowed", "The requested resource does not support "
                           "http method '%s'." % req.method)
        return None, None

    def _authenticate(self, req, audience):
        header = req.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        challenge = 'Bearer authorization_uri="%s/%s", error="invalid_token", ' \
            'error_description="%%s"' % (self.url, self.tenant)
        if scheme.lower() != "bearer" or not token.strip():
            text = "The authentication failed because of missing 'Authorization' header."
            raise ArmError(401, "AuthenticationFailed", text,
                           headers={"WWW-Authenticate": challenge % text})
        claims = self.tokens.lookup(token.strip())
        if claims is None:
            text = "The access token is invalid or has expired (the simulator did not issue " \
                "it, or its expiry time has passed)."
            raise ArmError(401, "InvalidAuthenticationToken", text,
                           headers={"WWW-Authenticate": challenge % text})
        want = AUDIENCES.get(audience, audience)
        if claims.get("aud") != want:
            text = "The access token has been obtained for wrong audience or resource '%s'. " \
                "It should exactly match with one of the allowed audiences '%s'." % (
                    claims.get("aud"), want)
            raise ArmError(401, "InvalidAuthenticationTokenAudience", text,
                           headers={"WWW-Authenticate": challenge % text})
        return claims

    def _check_api_version(self, req, route):
        """The spec operation for the request's api-version (None for
        routes without one); ArmError when it is missing or unknown."""
        versions = req.query.get("api-version")
        req.api_version = versions[-1] if versions else None
        needs = req.path.startswith("/subscriptions/")
        # A route that checks its own token (audience None: the log
        # stream) is no ARM call and takes no api-version.
        if route is not None and route.audience is None and not route.op_id:
            needs = False
        op = None
        if route is not None and route.op_id:
            ops = self.spec.operation(route.op_id)
            needs = ops[0].arm
            if not needs:
                return ops[-1]
        if not needs:
            return None
        if not req.api_version:
            raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter "
                           "(?api-version=) is required for all requests.")
        if not API_VERSION.fullmatch(req.api_version):
            raise ArmError(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. "
                           "The supported versions are '%s'." % (req.api_version,
                                                                 OP_API_VERSION))
        if route is not None and route.op_id:
            op = self.spec.pick(route.op_id, req.api_version)
            if op is None:
                raise ArmError(400, "NoRegisteredProviderFound", "No registered resource "
                               "provider found for location '%s' and API version '%s' for "
                               "type '%s'. The supported api-versions are '%s'. The supported "
                               "locations are '%s'." % (
                                   self.location, req.api_version, resource_type(req.path),
                                   ", ".join(self.spec.versions(route.op_id)), self.location))
        return op

    def _check_scope(self, path):
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0].lower() == "subscriptions" and \
                parts[1].lower() != self.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", "The subscription '%s' could not be "
                           "found." % parts[1])
        if len(parts) >= 4 and parts[2].lower() == "resourcegroups" and \
                parts[3].lower() != self.resource_group.lower():
            raise ArmError(404, "ResourceGroupNotFound", "Resource group '%s' could not be "
                           "found." % parts[3])

    def _not_found(self, req):
        if not req.path.startswith("/subscriptions/"):
            return ArmError(404, "NotFound", "No simulated Azure API serves %s." % req.path)
        self._check_scope(req.path)
        match = re.search(r"/providers/([^/]+)", req.path)
        if match and match.group(1).lower() not in self.providers:
            return ArmError(404, "NoRegisteredProviderFound", "No registered resource provider "
                            "found for namespace '%s' (the simulator serves %s)." % (
                                match.group(1), ", ".join(sorted(self.providers)) or "none"))
        return ArmError(404, "ResourceNotFound", "The Resource '%s' under resource group '%s' "
                        "was not found. For more details please go to "
                        "https://aka.ms/ARMResourceNotFoundFix" % (
                            resource_type(req.path, with_name=True), self.resource_group))

    def _validate(self, req, op):
        bad = self.spec.check_path(op, req.path) + self.spec.check_query(op, req.query)
        if bad:
            raise invalid_parameter(bad)
        present = bool(req.raw_body.strip())
        bad, req.body = self.spec.check_body(op, req.body, present)
        if bad:
            raise invalid_content(bad)


def resource_type(path, with_name=False):
    """"Microsoft.App/jobs" (or ".../jobs/name") of an ARM path."""
    match = re.search(r"/providers/([^/]+)/(.*)$", path)
    if not match:
        return path
    rest = match.group(2).split("/")
    types = rest[0::2]
    names = rest[1::2]
    text = "/".join([match.group(1)] + types)
    if with_name and names:
        text = "%s/%s" % (text, "/".join(names))
    return text


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%07dZ" % (
        int(time.time() * 1e7) % 10 ** 7)


def la_time(ns):
    """RFC 3339 with 7 fraction digits, as Log Analytics writes TimeGenerated."""
    seconds, rest = divmod(int(ns), 10 ** 9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%07dZ" % (rest // 100)


def parse_time_ns(text):
    """Epoch nanoseconds of an RFC 3339 UTC time ("...Z", up to 9 fraction
    digits); ValueError otherwise."""
    import calendar
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", text)
    if not match:
        raise ValueError("not an RFC 3339 UTC time: %r" % (text,))
    seconds = calendar.timegm(tuple(int(match.group(i)) for i in range(1, 7)) + (0, 0, 0))
    return seconds * 10 ** 9 + int((match.group(7) or "").ljust(9, "0"))

"""Fault injection for the Azure simulator, driven through /_sim/faults,
and the per-operation call counter served at /_sim/calls (the GCP
simulator's CallCounter, imported by path: the same thing).

A fault spec (POST /_sim/faults, a JSON object or a list of them):
  {"op": "Jobs_Start",      the spec's operationId (or a prefix ending "*")
   "kind": "throttle" | "error" | "latency" | "slow",
   "times": 2,              calls it strikes (default 1; null: every call)
   "status": 503,           the HTTP status of an "error" (default 500)
   "retry_after": 1,        Retry-After seconds of a throttle (default 1)
   "ms": 200,               the delay of a "latency" fault
   "polls": 3}              "slow": the operation the call starts answers
                            "running" for this many more polls after it is done
throttle: 429 TooManyRequests with Retry-After and
x-ms-ratelimit-remaining-subscription-writes (or -reads for a GET): 0."""

import json
import os
import sys
import threading

GCP_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gcp")
if GCP_DIR not in sys.path:
    sys.path.append(GCP_DIR)

from gcpsim_faults import CallCounter  # noqa: E402

__all__ = ["CallCounter", "CallLog", "Fault", "Faults", "arm_action"]
FIELDS = {"op", "kind", "times", "status", "retry_after", "ms", "polls"}
KINDS = ("throttle", "error", "latency", "slow")
ERROR_CODES = {500: ("InternalServerError", "Encountered internal server error. Please try "
                     "again."),
               502: ("BadGateway", "The gateway did not receive a response in time."),
               503: ("ServiceUnavailable", "The service is temporarily unavailable. Please try "
                     "again later."),
               504: ("GatewayTimeout", "The gateway did not receive a response from "
                     "'Microsoft.App' within the specified time period."),
               409: ("Conflict", "The operation conflicts with another operation in progress."),
               400: ("BadRequest", "The request is not valid."),
               404: ("ResourceNotFound", "The resource was not found."),
               403: ("AuthorizationFailed", "The client does not have authorization to perform "
                     "this action.")}


def _int(spec, name, default, low, high):
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError("%s must be an integer from %d to %d" % (name, low, high))
    return value


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object, e.g. {\"op\": \"Jobs_Start\", "
                             "\"kind\": \"throttle\"}")
        unknown = set(spec) - FIELDS
        if unknown:
            raise ValueError("unknown fault fields: %s (known: %s)"
                             % (", ".join(sorted(unknown)), ", ".join(sorted(FIELDS))))
        self.op = spec.get("op")
        if not isinstance(self.op, str) or not self.op:
            raise ValueError("a fault needs an op: an operationId such as \"Jobs_Start\", or "
                             "a prefix ending in \"*\"")
        self.kind = spec.get("kind")
        if self.kind not in KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(KINDS))
        self.times = spec.get("times", 1)
        if self.times is not None:
            self.times = _int(spec, "times", 1, 1, 10 ** 6)
        self.status = _int(spec, "status", 500, 400, 599)
        if self.kind == "error" and self.status not in ERROR_CODES:
            raise ValueError("status must be one of %s"
                             % ", ".join(str(s) for s in sorted(ERROR_CODES)))
        self.retry_after = _int(spec, "retry_after", 1, 0, 3600)
        self.ms = _int(spec, "ms", 0, 0, 600000)
        self.polls = _int(spec, "polls", 0, 0, 1000)
        if self.kind == "latency" and not self.ms:
            raise ValueError("a latency fault needs ms (the delay)")
        if self.kind == "slow" and not self.polls:
            raise ValueError("a slow fault needs polls (how many more polls answer running)")

    def matches(self, op_id):
        if self.op.endswith("*"):
            return op_id.startswith(self.op[:-1])
        return op_id == self.op

    def error(self, method):
        """The ArmError a throttle or error fault answers."""
        from azuresim_core import ArmError
        if self.kind == "throttle":
            budget = "x-ms-ratelimit-remaining-subscription-%s" % (
                "reads" if method in ("GET", "HEAD") else "writes")
            return ArmError(429, "TooManyRequests", "The request is being throttled as the "
                            "limit has been reached for operation type '%s'. Please retry "
                            "after %d seconds." % (self.op, self.retry_after),
                            headers={"Retry-After": str(self.retry_after), budget: "0"})
        code, message = ERROR_CODES[self.status]
        return ArmError(self.status, code, message)

    def to_json(self):
        return {name: getattr(self, name) for name in sorted(FIELDS)}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, spec):
        fault = Fault(spec)
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._rules.clear()

    def list(self):
        with self._lock:
            return [f.to_json() for f in self._rules]

    def take(self, op_id):
        """The first rule matching this call, used up by one; or None."""
        if not op_id:
            return None
        with self._lock:
            for fault in self._rules:
                if fault.matches(op_id):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._rules.remove(fault)
                    return fault
        return None


class CallLog:
    """The opt-in call log: with SK_SIM_CALL_LOG=<file> in the environment
    at start, one JSON line per API call served, appended to that file
    (opened per line, so renaming it starts a new one):
    {"action": "Microsoft.App/jobs/start/action", "resource": "/subscriptions/
    .../jobs/j/start", "op": "Jobs_Start", "ua": "<User-Agent>"}. action is
    the operation as Azure RBAC names it (arm_action); a linked resource the
    request names (an environment to join, an identity to assign) is a line
    of its own. tests/deploy/check_policies.py reads it."""

    def __init__(self, path=None):
        self.path = path if path is not None else os.environ.get("SK_SIM_CALL_LOG") or None
        self._lock = threading.Lock()

    def add(self, action, resource, op, ua):
        if not self.path:
            return
        line = json.dumps({"action": action, "resource": resource or "*", "op": op or "",
                           "ua": ua or ""}, sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)

    def arm(self, method, path, op, ua, body=None):
        """The lines of one ARM or Log Analytics request."""
        if not self.path:
            return
        self.add(arm_action(method, path), path, op, ua)
        props = body.get("properties") if isinstance(body, dict) else None
        props = props if isinstance(props, dict) else {}
        if method in ("PUT", "PATCH"):
            for key, action in LINKED.items():
                linked = props.get(key)
                if isinstance(linked, str) and linked:
                    self.add(action, linked, op, ua)
            identity = body.get("identity") if isinstance(body, dict) else None
            ids = identity.get("userAssignedIdentities") if isinstance(identity, dict) else None
            for rid in (ids or {}):
                self.add("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
                         rid, op, ua)


# Properties naming a resource the caller links to, and the action Azure
# authorizes that link as.
LINKED = {
    "environmentId": "Microsoft.App/managedEnvironments/join/action",
    "managedEnvironmentId": "Microsoft.App/managedEnvironments/join/action",
    "serverFarmId": "Microsoft.Web/serverfarms/join/action",
}

VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


def arm_action(method, path):
    """The RBAC action of an ARM request, as Azure names operations: the
    provider namespace, the resource types along the path, then read,
    write or delete by method; a POST to a name after a resource is that
    name's /action (.../jobs/j/start: Microsoft.App/jobs/start/action).
    Log Analytics queries are Microsoft.OperationalInsights/workspaces/
    query/read; resource groups Microsoft.Resources/subscriptions/
    resourceGroups/<verb>."""
    segs = [s for s in path.split("?", 1)[0].split("/") if s]
    low = [s.lower() for s in segs]
    if low[:1] == ["v1"] and "workspaces" in low:
        return "Microsoft.OperationalInsights/workspaces/query/read"
    if "providers" not in low:
        if low[:1] == ["subscriptions"] and len(segs) in (3, 4) and low[2] == "resourcegroups":
            return "Microsoft.Resources/subscriptions/resourceGroups/" + VERBS.get(method, "read")
        return "UNMAPPED:%s %s" % (method, path)
    i = len(low) - 1 - low[::-1].index("providers")
    if i + 1 >= len(segs):
        return "UNMAPPED:%s %s" % (method, path)
    ns, rest = segs[i + 1], segs[i + 2:]
    if len(rest) % 2 == 1 and method == "POST":
        return "/".join([ns] + rest[:-1][0::2] + [rest[-1], "action"])
    types = rest[0::2]
    if not types:
        return "UNMAPPED:%s %s" % (method, path)
    return "/".join([ns] + types + [VERBS.get(method, "action")])

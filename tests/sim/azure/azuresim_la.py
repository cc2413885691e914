"""The Log Analytics query API of the Azure simulator (data plane v1):
POST /v1/workspaces/{workspaceId}/query {"query", "timespan"?, "workspaces"?}
and GET ...?query=&timespan=, over sim.la_tables with the KQL subset of
azuresim_kql (parser) and azuresim_kql_eval (evaluator). Sources and the
places where the simulator is stricter than Azure: README-la.md."""

import logging
import re
import threading
import time
import uuid

from azuresim_kql import KqlSyntaxError
from azuresim_kql_eval import (DT, KqlSemanticError, Table, coerce, execute, parse_datetime,
                               to_wire, type_of_value)

log = logging.getLogger("azuresim.la")

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
INVALID_PROPERTIES = "The request had some invalid properties"
MAX_ROWS = 500000  # the service's record limit per result

# Tables every workspace has (Azure tables: they resolve even when empty),
# with their documented columns (learn.microsoft.com/azure/azure-monitor/
# reference/tables/containerappconsolelogs, .../containerappsystemlogs).
# Columns a row carries that the table does not have are not visible, as a
# fixed schema drops them.
_S = "string"
BUILTIN = {
    "ContainerAppConsoleLogs": [
        ("TenantId", _S), ("TimeGenerated", "datetime"), ("ContainerAppName", _S),
        ("ContainerGroupId", _S), ("ContainerGroupName", _S), ("ContainerId", _S),
        ("ContainerImage", _S), ("ContainerName", _S), ("EnvironmentName", _S),
        ("JobName", _S), ("Location", _S), ("Log", _S), ("OperationName", _S),
        ("RevisionName", _S), ("SourceSystem", _S), ("Stream", _S), ("Type", _S),
        ("_BilledSize", "real"), ("_IsBillable", _S), ("_ResourceId", _S),
        ("_SubscriptionId", _S)],
    "ContainerAppSystemLogs": [
        ("TenantId", _S), ("TimeGenerated", "datetime"), ("ContainerAppName", _S),
        ("EnvironmentName", _S), ("JobName", _S), ("ExecutionName", _S), ("ReplicaName", _S),
        ("RevisionName", _S), ("Level", _S), ("Log", _S), ("Reason", _S), ("Type", _S),
        ("_ResourceId", _S), ("_SubscriptionId", _S)],
}
# Custom log (_CL) tables exist once data arrived; their columns are the
# standard ones, the ones Container Apps is documented to write and any
# other a row carries, typed by suffix (_s string, _d real, _b bool, _t
# datetime, _g guid) as the HTTP Data Collector API names them.
CL_STANDARD = [("TenantId", _S), ("SourceSystem", _S), ("TimeGenerated", "datetime"),
               ("Computer", _S), ("RawData", _S), ("Type", _S), ("_ResourceId", _S)]
CL_KNOWN = {
    "ContainerAppConsoleLogs_CL": [
        ("ContainerAppName_s", _S), ("ContainerJobName_s", _S), ("ContainerGroupId_g", "guid"),
        ("ContainerGroupName_s", _S), ("ContainerId_s", _S), ("ContainerImage_s", _S),
        ("ContainerName_s", _S), ("EnvironmentName_s", _S), ("Log_s", _S),
        ("RevisionName_s", _S), ("Stream_s", _S), ("_timestamp_d", "real")],
    "ContainerAppSystemLogs_CL": [
        ("ContainerAppName_s", _S), ("ContainerJobName_s", _S), ("EnvironmentName_s", _S),
        ("ExecutionName_s", _S), ("Log_s", _S), ("Reason_s", _S), ("ReplicaName_s", _S),
        ("RevisionName_s", _S), ("Type_s", _S), ("_timestamp_d", "real")],
}
SUFFIX_TYPES = {"_s": _S, "_d": "real", "_b": "bool", "_t": "datetime", "_g": "guid"}
HIDDEN = {"_timestamp_ns"}


def la_error(status, code, message, inner=None, headers=None):
    """The data plane's error answer (errorResponse of OperationalInsights.json)."""
    error = {"message": message, "code": code, "correlationId": str(uuid.uuid4())}
    if inner:
        error["innererror"] = inner
    return status, {"error": error}, dict(headers or {})


def syntax_error(exc):
    log.info("KQL refused: %s (%s)", exc, exc.reason)
    return la_error(400, "BadArgumentError", INVALID_PROPERTIES, {
        "code": "SyntaxError", "message": "A recognition error occurred in the query.",
        "innererror": {"code": "SYN0002", "message": "%s (simulator: %s)" % (exc, exc.reason)}})


def semantic_error(exc):
    return la_error(400, "BadArgumentError", INVALID_PROPERTIES, {
        "code": "SemanticError", "message": "A semantic error occurred.",
        "innererror": {"code": exc.code, "message": exc.message}})


# --- timespans --------------------------------------------------------------

DURATION_RE = re.compile(r"P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
                         r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def parse_duration(text):
    """ISO 8601 duration (PT1H, P1D, P2DT3H, PT0.5S) -> ns; None when not one
    (years and months are refused: their length is not fixed)."""
    m = DURATION_RE.fullmatch(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        return None
    weeks, days, hours, mins, secs = (float(g or 0) for g in m.groups())
    return int(round(((((weeks * 7 + days) * 24 + hours) * 60 + mins) * 60 + secs) * 10**9))


def parse_timespan(text, now_ns):
    """'PT1H' (ending now), '<start>/<end>', '<start>/<duration>',
    '<duration>/<end>' -> (start_ns, end_ns); None when malformed."""
    parts = text.split("/")
    if len(parts) == 1:
        dur = parse_duration(parts[0])
        return None if dur is None else (now_ns - dur, now_ns)
    if len(parts) != 2:
        return None
    a, b = parts
    start, end = parse_datetime(a), parse_datetime(b)
    if start is not None and end is not None:
        return (start, end) if start <= end else None
    if start is not None:
        dur = parse_duration(b)
        return None if dur is None else (start, start + dur)
    dur = parse_duration(a)
    return None if dur is None or end is None else (end - dur, end)


# --- the workspace's tables -----------------------------------------------------

def cl_schema(name, rows):
    cols = list(CL_STANDARD) + list(CL_KNOWN.get(name, []))
    seen = {c[0] for c in cols}
    for row in rows:
        for key, val in row.items():
            if key in seen or key in HIDDEN:
                continue
            typ = SUFFIX_TYPES.get(key[-2:]) if len(key) > 2 else None
            cols.append((key, typ or type_of_value(val)))
            seen.add(key)
    return cols


def load_table(name, rows, workspace, span, cols=None):
    """A Table of the workspace's rows of name, restricted to span
    ((start_ns, end_ns) or None) on TimeGenerated; cols: the table's
    columns when known (else from rows)."""
    if cols is None:
        cols = list(BUILTIN[name]) if name in BUILTIN else cl_schema(name, rows)
    out = []
    for row in rows:
        r = {c: coerce(row.get(c), t) for c, t in cols}
        r["Type"], r["TenantId"] = name, workspace
        if r.get("_timestamp_d") is None and "_timestamp_d" in r:
            # The line's own time in seconds, as Container Apps sends it.
            t, ts = r.get("TimeGenerated"), row.get("_timestamp_ns")
            r["_timestamp_d"] = t.ns / 1e9 if isinstance(t, DT) else \
                (ts / 1e9 if isinstance(ts, int) else None)
        if span is not None:
            t = r.get("TimeGenerated")
            if not isinstance(t, DT) or not span[0] <= t.ns < span[1]:
                continue
        out.append(r)
    # Ingestion order is time order for the store (la_ingest appends).
    return Table(cols, out, name)


class LogAnalytics:
    def __init__(self, sim):
        self.sim = sim
        self._tables = {}  # (table, workspace) -> [rows, count, cols, coerced]
        self._cache_lock = threading.Lock()
        self.limits = {}  # workspace -> the set_limits body, and "hits"
        self.limits_lock = threading.Lock()

    def workspaces(self):
        extra = getattr(self.sim, "la_workspaces", None) or ()
        return {self.sim.workspace_id.lower(), *(w.lower() for w in extra)}

    def resolver(self, workspace, span):
        tables = self.sim.la_tables

        def resolve(name):
            if name in tables:
                return self._cached_table(name, tables[name], workspace, span)
            if name in BUILTIN:
                return load_table(name, [], workspace, span)
            return None
        return resolve

    def _cached_table(self, name, rows, workspace, span):
        """load_table(name, rows, workspace, span), with the rows coerced
        once: the store only appends, so a query after the first coerces
        the rows ingested since, not the whole table (a large container
        output is read in pages of 1000 rows, each one query). The rows
        are shared between queries; the evaluator copies what it changes."""
        count = len(rows)
        with self._cache_lock:
            cached = self._tables.get((name, workspace))
            if cached is None or cached[0] is not rows or cached[1] > count:
                cached = [rows, 0, None, []]
            new = rows[cached[1]:count]
            cols = cl_schema(name, new) if name not in BUILTIN else list(BUILTIN[name])
            if cached[2] is not None:
                known = {k for k, _ in cached[2]}
                if any(c[0] not in known for c in cols):
                    # A new column: every row is coerced again with it.
                    cached, new = [rows, 0, None, []], rows[:count]
                    cols = cl_schema(name, new) if name not in BUILTIN else cols
                else:
                    cols = cached[2]
            cached[3].extend(load_table(name, new, workspace, None, cols).rows)
            cached[1], cached[2] = count, cols
            self._tables[(name, workspace)] = cached
            out = cached[3]
        if span is not None:
            out = [r for r in out if isinstance(r.get("TimeGenerated"), DT)
                   and span[0] <= r["TimeGenerated"].ns < span[1]]
        else:
            out = list(out)
        return Table(list(cols), out, name)

    def throttled(self, workspace):
        """The 429 answer when the workspace's query budget is spent."""
        with self.limits_lock:
            lim = self.limits.get(workspace)
            if lim is None or lim.get("requests") is None:
                return None
            now = time.monotonic()
            hits = [t for t in lim["hits"] if now - t < lim["per_seconds"]]
            lim["hits"] = hits
            if len(hits) >= lim["requests"]:
                return la_error(429, "ThrottledError",
                                "The request was throttled: more than %d queries in %d seconds "
                                "on this workspace. Retry after %d seconds."
                                % (lim["requests"], lim["per_seconds"], lim["retry_after"]),
                                headers={"Retry-After": str(lim["retry_after"])})
            hits.append(now)
            return None

    def max_rows(self, workspace):
        with self.limits_lock:
            return self.limits.get(workspace, {}).get("max_rows", MAX_ROWS)

    def query(self, req, text, timespan, workspaces):
        ws = req.match.group("workspaceId")
        known = self.workspaces()
        if not GUID_RE.fullmatch(ws):
            return la_error(404, "PathNotFoundError", "The requested path does not exist")
        for w in [ws] + list(workspaces or []):
            if w.lower() not in known:
                return la_error(404, "WorkspaceNotFoundError",
                                "The workspace could not be found: '%s'" % w)
        prefer = parse_prefer(req.headers.get("Prefer"))
        if isinstance(prefer, tuple):
            return prefer
        busy = self.throttled(ws.lower())
        if busy:
            return busy
        if not isinstance(text, str) or not text.strip():
            return la_error(400, "BadArgumentError", INVALID_PROPERTIES, {
                "code": "QueryValidationError", "message": "The query is empty."})
        now_ns = time.time_ns()
        span = None
        if timespan:
            span = parse_timespan(timespan, now_ns)
            if span is None:
                return la_error(400, "BadArgumentError", INVALID_PROPERTIES, {
                    "code": "InvalidTimespan",
                    "message": "Failed to parse the timespan '%s': expected an ISO 8601 "
                               "duration (PT1H, P1D), <start>/<end> or <start>/<duration>"
                               % timespan})
        started = time.monotonic()
        try:
            with self.sim.lock:
                table = execute(text, self.resolver(ws, span), now_ns)
        except KqlSyntaxError as exc:
            return syntax_error(exc)
        except KqlSemanticError as exc:
            return semantic_error(exc)
        answer = {"tables": [to_wire(table)]}
        limit = self.max_rows(ws.lower())
        if len(table.rows) > limit:
            # Log Analytics' partial result: 200, the rows up to the
            # limit, and an error a client must not take for success.
            answer["tables"][0]["rows"] = answer["tables"][0]["rows"][:limit]
            answer["error"] = partial_error(limit)
        if prefer.get("include-statistics") == "true":
            answer["statistics"] = {"query": {
                "executionTime": time.monotonic() - started,
                "datasetStatistics": [{"tableRowCount": len(table.rows)}]}}
        headers = {}
        if prefer:
            headers["Preference-Applied"] = ",".join("%s=%s" % kv for kv in prefer.items())
        return 200, answer, headers

    # --- handlers ---------------------------------------------------------
    def post(self, req):
        body = req.body if isinstance(req.body, dict) else {}
        return self.query(req, body.get("query"), body.get("timespan"), body.get("workspaces"))

    def get(self, req):
        q = req.query
        text = (q.get("query") or [None])[0]
        timespan = (q.get("timespan") or [None])[0]
        return self.query(req, text, timespan, None)

    def set_limits(self, req):
        """{"requests"?, "per_seconds"?, "retry_after"?, "max_rows"?}: at
        most requests queries per per_seconds (default 60) on the workspace,
        then 429 with Retry-After retry_after (default 1); results over
        max_rows rows (default 500000, the service's) are cut there and
        answered as a partial error."""
        body = req.body if isinstance(req.body, dict) else {}
        ws = req.match.group("workspaceId").lower()
        lim = {"requests": None, "per_seconds": 60, "retry_after": 1, "max_rows": MAX_ROWS,
               "hits": []}
        for key in ("requests", "per_seconds", "retry_after", "max_rows"):
            val = body.get(key, lim[key])
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 0):
                return 400, {"message": "%s is a whole number >= 0" % key}
            lim[key] = val
        unknown = set(body) - set(lim)
        if unknown:
            return 400, {"message": "unknown keys %s (requests, per_seconds, retry_after, "
                                    "max_rows)" % sorted(unknown)}
        with self.limits_lock:
            self.limits[ws] = lim
        return 200, {k: v for k, v in lim.items() if k != "hits"}

    def clear_limits(self, req):
        with self.limits_lock:
            self.limits.pop(req.match.group("workspaceId").lower(), None)
        return 204, None


def partial_error(limit):
    """The error of a truncated result (Log Analytics' wording for its
    record limit)."""
    return {"code": "PartialError", "message": "There were some errors when processing your "
            "query.", "details": [{
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": {
                    "code": "-2133196532",
                    "message": "Query result set has exceeded the internal record count limit "
                               "%d records (E_QUERY_RESULT_SET_TOO_LARGE)." % limit,
                    "severity": 2, "severityName": "Error"}}]}


def parse_prefer(value):
    """Prefer: wait=N, include-statistics=true, include-render=true -> dict;
    an error answer for what the API does not take."""
    out = {}
    if not value:
        return out
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        key, _, val = part.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "wait" and val.isdigit():
            out[key] = val
        elif key in ("include-statistics", "include-render") and val in ("true", "false"):
            out[key] = val
        elif key == "ai.response-thinning" and val in ("true", "false"):
            out[key] = val
        else:
            return la_error(400, "BadArgumentError", INVALID_PROPERTIES, {
                "code": "InvalidPreferHeader",
                "message": "The Prefer header value '%s' is not supported (wait=<seconds>, "
                           "include-statistics=true, include-render=true)" % part})
    return out


def register(sim):
    """Routes the query API (spec-checked by the base: Query_Execute,
    Query_Get; tokens for https://api.loganalytics.io) and the simulator's
    own control of a workspace's limits, POST|DELETE
    /v1/workspaces/{id}/_sim/limits (under the workspace rather than
    /_sim/, which the base serves itself; a logs token is needed)."""
    la = LogAnalytics(sim)
    sim.la = la
    path = r"/v1/workspaces/(?P<workspaceId>[^/]+)/query"
    sim.route("POST", path, la.post, op_id="Query_Execute", audience="logs")
    sim.route("GET", path, la.get, op_id="Query_Get", audience="logs")
    control = r"/v1/workspaces/(?P<workspaceId>[^/]+)/_sim/limits"
    sim.route("POST", control, la.set_limits, op_id=None, audience="logs")
    sim.route("DELETE", control, la.clear_limits, op_id=None, audience="logs")
    log.info("Log Analytics query API served at /v1/workspaces/%s/query", sim.workspace_id)
    return la

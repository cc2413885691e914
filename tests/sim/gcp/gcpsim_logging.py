"""Cloud Logging: entries:list (resourceNames/projectIds, the filter
language subset real clients send, orderBy, paging, a per-minute read
quota) and entries:write, over the store sim.log_write fills.

The filter language (cloud.google.com/logging/docs/view/logging-query-
language): comparisons `field OP value` with = != > >= < <= : (has,
case-insensitive substring), values quoted ("...") or bare, fields dotted
with quoted segments (labels."run.googleapis.com/execution_name"), NOT
(or a leading -), AND, OR and juxtaposition (an implicit AND),
parentheses. As in Logging, NOT binds tightest, then OR, then AND.
timestamp and receiveTimestamp compare as times, severity by level. A
construct outside this subset (regular expressions =~ !~, functions such
as SEARCH() or sample(), a bare full-text term) is refused with 400
INVALID_ARGUMENT naming it: it never silently matches."""

import base64
import bisect
import collections
import hashlib
import json
import re
import threading
import time
from urllib.parse import quote, unquote

from gcpsim_core import ApiError, timestamp_key

SEVERITY = {"DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400,
            "ERROR": 500, "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800}
TIME_FIELDS = {"timestamp", "receiveTimestamp"}
MAX_PAGE = 1000
DEFAULT_PAGE = 50
TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>>=|<=|!=|=~|!~|[=<>:()])|'
                   r'(?P<word>[^\s"()=<>:!]+)|(?P<bad>\S))')


class FilterError(Exception):
    pass


def _tokens(text):
    out, pos = [], 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        if match.group("str") is not None:
            value = re.sub(r"\\(.)", r"\1", match.group("str")[1:-1])
            if out and out[-1][0] == "word" and out[-1][1].endswith(".") and \
                    text[match.start():match.end()].lstrip().startswith('"') and \
                    not text[match.start()].isspace():
                # labels."a/b": a quoted segment of a field name
                out[-1] = ("word", out[-1][1] + quote(value, safe="").replace(".", "%2E"))
            else:
                out.append(("str", value))
        elif match.group("op") is not None:
            out.append(("op", match.group("op")))
        elif match.group("word") is not None:
            out.append(("word", match.group("word")))
        else:
            raise FilterError("unexpected character %r" % match.group("bad"))
    return out


class Parser:
    """Recursive descent over the token list; parse() returns a predicate
    entry -> bool."""

    def __init__(self, text):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, kind=None, value=None):
        if self.i >= len(self.toks):
            return None
        tok = self.toks[self.i]
        if (kind and tok[0] != kind) or (value and tok[1] != value):
            return None
        return tok

    def take(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self):
        if not self.toks:
            return lambda entry: True
        pred = self.and_expr()
        if self.i < len(self.toks):
            raise FilterError("unexpected %r" % self.toks[self.i][1])
        return pred

    def and_expr(self):
        parts = [self.or_expr()]
        while self.i < len(self.toks) and not self.peek("op", ")"):
            if self.peek("word", "AND"):
                self.take()
            parts.append(self.or_expr())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def or_expr(self):
        parts = [self.unary()]
        while self.peek("word", "OR"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def unary(self):
        if self.peek("word", "NOT"):
            self.take()
            inner = self.unary()
            return lambda e: not inner(e)
        tok = self.peek("word")
        if tok and tok[1].startswith("-") and len(tok[1]) > 1:
            self.toks[self.i] = ("word", tok[1][1:])
            inner = self.unary()
            return lambda e: not inner(e)
        if self.peek("op", "("):
            self.take()
            inner = self.and_expr()
            if not self.peek("op", ")"):
                raise FilterError("missing )")
            self.take()
            return inner
        return self.comparison()

    def comparison(self):
        if self.i >= len(self.toks):
            raise FilterError("the filter ends where a comparison was expected")
        kind, first = self.take()
        if kind != "word":
            raise FilterError("a comparison must start with a field name, not %r" % first)
        path = _field_path(first)
        if self.peek("op", "("):
            raise FilterError("the function %s() is not supported by the simulator" % first)
        op = self.peek("op")
        if not op or op[1] in ("(", ")"):
            raise FilterError("the bare term %r (a global full-text restriction) is not "
                              "supported by the simulator; compare a field, e.g. "
                              "textPayload:%s" % (first, first))
        self.take()
        if op[1] in ("=~", "!~"):
            raise FilterError("the regular-expression operator %s is not supported by the "
                              "simulator" % op[1])
        if self.i >= len(self.toks) or self.peek("op"):
            raise FilterError("%s %s needs a value" % (first, op[1]))
        value = self.take()[1]
        return _compare(path, op[1], value)


def _field_path(word):
    """A dotted field name; segments may be quoted in the word the
    tokenizer split off (labels."a/b" arrives as labels. + a string)."""
    return [unquote(part) for part in word.split(".")]


def _lookup(entry, path):
    node = entry
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _compare(path, op, value):
    name = path[0] if len(path) == 1 else None
    if name in TIME_FIELDS:
        try:
            want = timestamp_key(value)
        except ValueError:
            raise FilterError("%s needs an RFC 3339 time, not %r" % (name, value))
        key = lambda v: timestamp_key(v)  # noqa: E731
    elif name == "severity":
        if value.upper() not in SEVERITY:
            raise FilterError("unknown severity %r" % value)
        want = SEVERITY[value.upper()]
        key = lambda v: SEVERITY.get(str(v).upper(), 0)  # noqa: E731
    elif name == "logName":
        want = unquote(value)
        key = lambda v: unquote(v)  # noqa: E731
    else:
        want = value
        key = None

    def pred(entry):
        got = _lookup(entry, path)
        if got is None and name == "severity":
            got = "DEFAULT"
        if got is None or isinstance(got, (dict, list)):
            return op == "!="
        if key is not None:
            got = key(got)
        elif isinstance(got, bool):
            got = "true" if got else "false"
        elif isinstance(got, (int, float)):
            try:
                return _ordered(op, got, float(want))
            except ValueError:
                got = str(got)
        if op == ":":
            return str(want).lower() in str(got).lower()
        return _ordered(op, got, want)
    return pred


def _ordered(op, got, want):
    return {"=": got == want, "!=": got != want, ">": got > want, ">=": got >= want,
            "<": got < want, "<=": got <= want, ":": got == want}[op]


def parse_filter(text):
    try:
        return Parser(text or "").parse()
    except FilterError as exc:
        raise ApiError(400, "INVALID_ARGUMENT", "Unparseable filter: %s (in %r)" % (exc, text))


class Logging:
    def __init__(self, sim, read_quota):
        self.sim = sim
        self.read_quota = read_quota
        self._reads = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        # Per query (projects, filter): the matching entries in timestamp
        # order and how far into sim.entries they were looked for, so that
        # the next page of a large result costs the page and the entries
        # written since, not a filter and sort of every entry.
        self._matches = collections.OrderedDict()
        self._match_lock = threading.Lock()

    def register(self):
        self.sim.route("POST", r"/v2/entries:list", self.list, "logging.entries.list")
        self.sim.route("POST", r"/v2/entries:write", self.write, "logging.entries.write")

    def _projects(self, body):
        names = list(body.get("resourceNames") or [])
        names += ["projects/%s" % p for p in body.get("projectIds") or []]
        if not names:
            raise ApiError(400, "INVALID_ARGUMENT", "resourceNames is required: name the "
                           "project, e.g. \"projects/%s\"." % self.sim.project)
        projects = set()
        for name in names:
            match = re.fullmatch(r"projects/([^/]+)", name)
            if not match:
                raise ApiError(400, "INVALID_ARGUMENT", "The resource name %r is not "
                               "supported by the simulator: use projects/PROJECT." % name)
            if match.group(1) != self.sim.project:
                raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission "
                               "(the simulator serves project %s only)." % self.sim.project)
            projects.add(match.group(1))
        return projects

    def _charge(self, project):
        if not self.read_quota:
            return
        now = time.monotonic()
        with self._lock:
            window = self._reads[project]
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= self.read_quota:
                wait = max(1, int(window[0] + 60 - now + 0.999))
                raise ApiError(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric "
                               "'Read requests' and limit 'Read requests per minute' of "
                               "service 'logging.googleapis.com' for consumer 'project_number:"
                               "%s'." % project,
                               [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "RATE_LIMIT_EXCEEDED",
                                 "domain": "googleapis.com",
                                 "metadata": {"service": "logging.googleapis.com",
                                              "quota_limit_value": str(self.read_quota)}},
                                {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                 "retryDelay": "%ds" % wait}])
            window.append(now)

    def list(self, req):
        body = req.body or {}
        projects = self._projects(body)
        for project in projects:
            self._charge(project)
        text = body.get("filter") or ""
        pred = parse_filter(text)
        order = (body.get("orderBy") or "timestamp asc").strip()
        if order not in ("timestamp asc", "timestamp desc", "timestamp"):
            raise ApiError(400, "INVALID_ARGUMENT", "orderBy must be \"timestamp asc\" or "
                           "\"timestamp desc\", not %r." % order)
        desc = order == "timestamp desc"
        size = int(body.get("pageSize") or DEFAULT_PAGE)
        if size < 0:
            raise ApiError(400, "INVALID_ARGUMENT", "pageSize must not be negative.")
        size = min(size or DEFAULT_PAGE, MAX_PAGE)
        query_id = hashlib.sha256(json.dumps([sorted(projects), text, desc]).encode()).hexdigest()
        after = self._token(body.get("pageToken"), query_id)
        keys, entries = self._matching((tuple(sorted(projects)), text), pred)
        if desc:
            end = len(keys) if after is None else bisect.bisect_left(keys, after)
            lo = max(0, end - size)
            page = list(zip(keys[lo:end], entries[lo:end]))[::-1]
            more = lo > 0
        else:
            lo = 0 if after is None else bisect.bisect_right(keys, after)
            page = list(zip(keys[lo:lo + size], entries[lo:lo + size]))
            more = len(keys) - lo > size
        out = {"entries": [_view(e) for _, e in page]}
        if more:
            token = json.dumps({"q": query_id, "k": list(page[-1][0])}).encode()
            out["nextPageToken"] = base64.urlsafe_b64encode(token).decode()
        if not out["entries"]:
            del out["entries"]
        return 200, out

    def _matching(self, key, pred):
        """(keys, entries): the entries pred matches, in (timestamp, seq)
        order, as copies of the cached lists. Entries are only appended
        (a reload replaces the list), so only the new ones are filtered."""
        with self.sim.lock:
            pool = self.sim.entries
            count = len(pool)
        with self._match_lock:
            cached = self._matches.pop(key, None)
            if cached is None or cached[0] is not pool or cached[1] > count:
                cached = [pool, 0, [], []]
            _, seen, keys, entries = cached
            for e in pool[seen:count]:
                if pred(_view(e)):
                    k = (timestamp_key(e["timestamp"]), e["_seq"])
                    i = bisect.bisect_right(keys, k)
                    keys.insert(i, k)
                    entries.insert(i, e)
            cached[1] = count
            self._matches[key] = cached
            while len(self._matches) > 64:
                self._matches.popitem(last=False)
            return list(keys), list(entries)

    def _token(self, token, query_id):
        if not token:
            return None
        try:
            obj = json.loads(base64.urlsafe_b64decode(token))
            key = obj["k"]
            if obj["q"] != query_id:
                raise ValueError
            return ((int(key[0][0]), int(key[0][1])), int(key[1]))
        except (ValueError, KeyError, TypeError, IndexError):
            raise ApiError(400, "INVALID_ARGUMENT", "The page token is not valid for this "
                           "request: a page token continues the request (resourceNames, filter, "
                           "orderBy) that returned it.")

    def write(self, req):
        body = req.body or {}
        entries = body.get("entries") or []
        if not entries:
            raise ApiError(400, "INVALID_ARGUMENT", "entries is required: write at least "
                           "one LogEntry.")
        prepared = []
        for i, entry in enumerate(entries):
            entry = dict(entry)
            for name in ("logName", "resource"):
                if name not in entry and name in body:
                    entry[name] = body[name]
            labels = dict(body.get("labels") or {})
            labels.update(entry.get("labels") or {})
            if labels:
                entry["labels"] = labels
            if not entry.get("logName") or not entry.get("resource"):
                raise ApiError(400, "INVALID_ARGUMENT", "entries[%d] needs a logName and a "
                               "resource (its own or the request's)." % i)
            prepared.append(entry)
        if not body.get("dryRun"):
            for entry in prepared:
                self.sim.log_write(entry)
        return 200, {}


def _view(entry):
    return {k: v for k, v in entry.items() if k != "_seq"}

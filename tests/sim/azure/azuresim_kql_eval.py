"""Runs the AST of azuresim_kql over tables of row dicts, as Kusto does:
columns are typed and resolved before any row is looked at (a misspelt
column is a SemanticError even over an empty table), a string column has no
null (a missing string is ""), comparisons of incompatible types are
refused, union fills the columns a leg lacks with nulls and with
isfuzzy=true drops the legs that do not resolve. Values: None, str, int
(long), float (real), bool, DT (datetime), TS (timespan), dict/list
(dynamic)."""

import calendar
import functools
import json
import math
import re

from azuresim_kql import parse

NUMERIC = {"long", "int", "real", "decimal"}


class KqlSemanticError(Exception):
    """Log Analytics' SemanticError: code as the service's innermost
    error code (SEM0100: a name did not resolve)."""

    def __init__(self, message, code="SEM0100"):
        super().__init__(message)
        self.message, self.code = message, code


@functools.total_ordering
class DT:
    __slots__ = ("ns",)

    def __init__(self, ns):
        self.ns = ns

    def __eq__(self, other):
        return isinstance(other, DT) and other.ns == self.ns

    def __lt__(self, other):
        return self.ns < other.ns

    def __hash__(self):
        return hash(("DT", self.ns))

    def __repr__(self):
        return "DT(%s)" % format_datetime(self.ns)


@functools.total_ordering
class TS:
    __slots__ = ("ns",)

    def __init__(self, ns):
        self.ns = ns

    def __eq__(self, other):
        return isinstance(other, TS) and other.ns == self.ns

    def __lt__(self, other):
        return self.ns < other.ns

    def __hash__(self):
        return hash(("TS", self.ns))

    def __repr__(self):
        return "TS(%s)" % format_timespan(self.ns)


DT_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
                   r"\s*(Z|[+-]\d{2}:?\d{2})?")


def parse_datetime(text):
    """ISO 8601 / RFC 3339 forms -> ns since the epoch (UTC); None when not."""
    m = DT_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g or 0) for g in m.group(1, 2, 3, 4, 5, 6))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    try:
        secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    frac = int((m.group(7) or "")[:9].ljust(9, "0"))
    tz = m.group(8)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * 10**9 + frac


def format_datetime(ns):
    """7 fraction digits and Z, as Log Analytics and ARM send."""
    secs, rem = divmod(ns, 10**9)
    t = calendar.datetime.datetime.utcfromtimestamp(0) + \
        calendar.datetime.timedelta(seconds=secs)
    return "%s.%07dZ" % (t.strftime("%Y-%m-%dT%H:%M:%S"), rem // 100)


def format_timespan(ns):
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    secs, rem = divmod(ns, 10**9)
    days, secs = divmod(secs, 86400)
    text = "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)
    if days:
        text = "%d.%s" % (days, text)
    if rem:
        text += ".%07d" % (rem // 100)
    return sign + text


def type_of_value(v):
    """The Kusto type of a raw ingested value (tables without a schema)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "real"
    if isinstance(v, (dict, list)):
        return "dynamic"
    return "string"


def coerce(v, typ):
    """An ingested value as a value of the column's type."""
    if v is None:
        return "" if typ == "string" else None
    if typ == "datetime":
        if isinstance(v, DT):
            return v
        ns = parse_datetime(v) if isinstance(v, str) else None
        return DT(ns) if ns is not None else None
    if typ == "string":
        return v if isinstance(v, str) else to_string(v)
    if typ == "real" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


class Table:
    """cols: [(name, type)]; rows: [dict name -> value]."""

    def __init__(self, cols, rows, name=None):
        self.cols, self.rows, self.name = list(cols), rows, name

    def schema(self):
        return dict(self.cols)


# --- static typing --------------------------------------------------------

def cat(t):
    return "num" if t in NUMERIC else ("string" if t == "guid" else t)


def compatible(a, b):
    return cat(a) == cat(b) or "dynamic" in (a, b)


STRING_OPS = {"=~", "!~", "has", "!has", "has_cs", "!has_cs", "contains", "!contains",
              "contains_cs", "!contains_cs", "startswith", "!startswith", "startswith_cs",
              "!startswith_cs", "endswith", "!endswith", "endswith_cs", "!endswith_cs",
              "hasprefix", "!hasprefix", "hassuffix", "!hassuffix", "matches"}


class Ctx:
    def __init__(self, resolve, now_ns):
        self.resolve, self.now_ns, self.op = resolve, now_ns, "where"

    def fail(self, message, code="SEM0100"):
        raise KqlSemanticError("'%s' operator: %s" % (self.op, message), code)

    def etype(self, e, schema):
        kind = e[0]
        if kind == "lit":
            return e[2]
        if kind == "col":
            if e[1] not in schema:
                self.fail("Failed to resolve scalar expression named '%s'" % e[1])
            return schema[e[1]]
        if kind == "neg":
            t = self.etype(e[1], schema)
            if cat(t) not in ("num", "timespan", "dynamic"):
                self.fail("unary '-' needs a number or a timespan, not %s" % t, "SEM0001")
            return t
        if kind == "in":
            lt = self.etype(e[2], schema)
            for item in e[3]:
                it = self.etype(item, schema)
                if not compatible(lt, it) and not (e[1].endswith("~") and cat(it) == "string"):
                    self.fail("Cannot compare values of types %s and %s. Try adding explicit casts"
                              % (lt, it), "SEM0002")
            return "bool"
        if kind == "bin":
            return self.bin_type(e, schema)
        if kind == "between":
            return self.between_type(e, schema)
        return self.call_type(e, schema)

    def between_type(self, e, schema):
        """x between (low .. high); for a datetime, high may be a timespan
        (low + high), as in Kusto."""
        t, lo, hi = (self.etype(x, schema) for x in e[2:5])
        if not compatible(t, lo) or not (compatible(t, hi) or (cat(t), hi) == (
                "datetime", "timespan")):
            self.fail("Cannot compare values of types %s and %s. Try adding explicit casts"
                      % (t, lo if not compatible(t, lo) else hi), "SEM0002")
        if cat(t) not in ("num", "datetime", "timespan", "dynamic"):
            self.fail("between needs numbers, datetimes or timespans, not %s" % t, "SEM0002")
        return "bool"

    def bin_type(self, e, schema):
        op, lt, rt = e[1], self.etype(e[2], schema), self.etype(e[3], schema)
        if op in ("and", "or"):
            for t in (lt, rt):
                if t not in ("bool", "dynamic"):
                    self.fail("'%s' needs bool operands, not %s" % (op, t), "SEM0001")
            return "bool"
        if op in STRING_OPS:
            if cat(rt) not in ("string", "dynamic") or cat(lt) not in ("string", "dynamic"):
                self.fail("the '%s' operator compares strings, not %s and %s" % (op, lt, rt),
                          "SEM0002")
            return "bool"
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if not compatible(lt, rt):
                self.fail("Cannot compare values of types %s and %s. Try adding explicit casts"
                          % (lt, rt), "SEM0002")
            return "bool"
        return self.arith_type(op, lt, rt)

    def arith_type(self, op, lt, rt):
        cl, cr = cat(lt), cat(rt)
        if "dynamic" in (lt, rt):
            return "dynamic"
        if cl == cr == "num":
            return "real" if "real" in (lt, rt) else "long"
        table = {("-", "datetime", "datetime"): "timespan",
                 ("+", "datetime", "timespan"): "datetime",
                 ("-", "datetime", "timespan"): "datetime",
                 ("+", "timespan", "datetime"): "datetime",
                 ("+", "timespan", "timespan"): "timespan",
                 ("-", "timespan", "timespan"): "timespan",
                 ("*", "timespan", "num"): "timespan", ("*", "num", "timespan"): "timespan",
                 ("/", "timespan", "num"): "timespan", ("/", "timespan", "timespan"): "real"}
        t = table.get((op, cl, cr))
        if t is None:
            self.fail("arithmetic '%s' is not defined for %s and %s" % (op, lt, rt), "SEM0002")
        return t

    def call_type(self, e, schema):
        name, args = e[1], e[2]
        if name == "column_ifexists":
            return schema[args[0][1]] if args[0][1] in schema else self.etype(args[1], schema)
        types = [self.etype(a, schema) for a in args]
        if name == "not":
            if types[0] not in ("bool", "dynamic"):
                self.fail("not() needs a bool, not %s" % types[0], "SEM0001")
            return "bool"
        if name in ("isempty", "isnotempty", "isnull", "isnotnull"):
            return "bool"
        fixed = {"tostring": "string", "todatetime": "datetime", "tolong": "long",
                 "toint": "int", "toreal": "real", "todouble": "real", "tobool": "bool",
                 "totimespan": "timespan", "strcat": "string", "strlen": "long",
                 "tolower": "string", "toupper": "string", "substring": "string",
                 "trim": "string", "now": "datetime", "ago": "datetime"}
        if name in ("ago", "now") and args and types[0] != "timespan":
            self.fail("%s() takes a timespan, not %s" % (name, types[0]), "SEM0002")
        if name in fixed:
            return fixed[name]
        if name == "coalesce":
            for t in types[1:]:
                if not compatible(types[0], t):
                    self.fail("coalesce() arguments must have one type, not %s and %s"
                              % (types[0], t), "SEM0002")
            return types[0]
        if name in ("iif", "iff"):
            if not compatible(types[1], types[2]):
                self.fail("iif() branches must have one type, not %s and %s"
                          % (types[1], types[2]), "SEM0002")
            return types[1]
        if name in ("bin", "floor"):
            return types[0]
        return self.agg_type(name, types)

    def agg_type(self, name, types):
        if name in ("count", "countif", "dcount"):
            return "long"
        if name in ("max", "min", "any", "take_any"):
            return types[0]
        if name == "sum":
            return "real" if types[0] == "real" else types[0] if cat(types[0]) == "num" \
                else "timespan" if types[0] == "timespan" else self.fail(
                    "sum() needs numbers, not %s" % types[0], "SEM0002")
        if name == "avg":
            return "real"
        return "dynamic"

    # --- evaluation -------------------------------------------------------
    def ev(self, e, row):
        kind = e[0]
        if kind == "lit":
            if e[2] == "datetime":
                return DT(e[1])
            return TS(e[1]) if e[2] == "timespan" else e[1]
        if kind == "col":
            return row.get(e[1])
        if kind == "neg":
            v = self.ev(e[1], row)
            return None if v is None else (TS(-v.ns) if isinstance(v, TS) else -v)
        if kind == "in":
            return self.ev_in(e, row)
        if kind == "bin":
            return self.ev_bin(e, row)
        if kind == "between":
            v, lo, hi = (self.ev(x, row) for x in e[2:5])
            if v is None or lo is None or hi is None:
                return None
            if isinstance(lo, DT) and isinstance(hi, TS):
                hi = DT(lo.ns + hi.ns)
            inside = norm(lo) <= norm(v) <= norm(hi)
            return inside if e[1] == "between" else not inside
        return self.ev_call(e, row)

    def ev_in(self, e, row):
        v = self.ev(e[2], row)
        items = [self.ev(i, row) for i in e[3]]
        if e[1].endswith("~"):
            v = v.lower() if isinstance(v, str) else v
            items = [i.lower() if isinstance(i, str) else i for i in items]
        found = v is not None and v in items
        return found if not e[1].startswith("!") else not found

    def ev_bin(self, e, row):
        op = e[1]
        if op in ("and", "or"):
            left = self.ev(e[2], row)
            if op == "and" and left is False:
                return False
            if op == "or" and left is True:
                return True
            right = self.ev(e[3], row)
            if op == "and":
                return False if right is False else (None if None in (left, right) else True)
            return True if right is True else (None if None in (left, right) else False)
        a, b = self.ev(e[2], row), self.ev(e[3], row)
        if op in STRING_OPS:
            return string_op(op, to_string(a), to_string(b))
        if a is None or b is None:
            return None
        if op in ("==", "!="):
            eq = norm(a) == norm(b)
            return eq if op == "==" else not eq
        if op in ("<", "<=", ">", ">="):
            a, b = norm(a), norm(b)
            try:
                return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
            except TypeError:
                return None
        return arith(op, a, b)

    def ev_call(self, e, row):
        name, args = e[1], e[2]
        if name in ("iif", "iff"):
            return self.ev(args[1] if self.ev(args[0], row) is True else args[2], row)
        if name == "column_ifexists":
            return row[args[0][1]] if args[0][1] in row else self.ev(args[1], row)
        vals = [self.ev(a, row) for a in args]
        if name == "now":
            return DT(self.now_ns + (vals[0].ns if vals and vals[0] is not None else 0))
        if name == "ago":
            return None if vals[0] is None else DT(self.now_ns - vals[0].ns)
        if name == "coalesce":
            for v in vals:
                if v is not None and v != "":
                    return v
            return "" if isinstance(vals[0], str) else None
        if name == "strcat":
            return "".join(to_string(v) for v in vals)
        return scalar_fn(name, vals)


def norm(v):
    """Numbers compare across long and real; bools as themselves."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def to_string(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, DT):
        return format_datetime(v.ns)
    if isinstance(v, TS):
        return format_timespan(v.ns)
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def has_term(hay, needle, prefix=False, suffix=False):
    """Kusto's term match: needle starts and ends at term (alphanumeric)
    boundaries of hay (hasprefix/hassuffix: one end only)."""
    start = 0
    while True:
        i = hay.find(needle, start)
        if i < 0:
            return False
        before_ok = i == 0 or not hay[i - 1].isalnum() or not needle[:1].isalnum()
        end = i + len(needle)
        after_ok = end == len(hay) or not hay[end].isalnum() or not needle[-1:].isalnum()
        if (before_ok or suffix) and (after_ok or prefix):
            return True
        start = i + 1


def string_op(op, a, b):
    neg = op.startswith("!")
    base = op.lstrip("!")
    if base == "matches":
        return re.search(b, a) is not None
    if base in ("=~", "~"):
        return (a.lower() == b.lower()) != (op == "!~")
    cs = base.endswith("_cs")
    base = base[:-3] if cs else base
    if not cs:
        a, b = a.lower(), b.lower()
    if base == "has":
        r = has_term(a, b)
    elif base == "hasprefix":
        r = has_term(a, b, prefix=True)
    elif base == "hassuffix":
        r = has_term(a, b, suffix=True)
    elif base == "contains":
        r = b in a
    elif base == "startswith":
        r = a.startswith(b)
    else:
        r = a.endswith(b)
    return r != neg


def arith(op, a, b):
    if isinstance(a, DT) and isinstance(b, DT):
        return TS(a.ns - b.ns)
    if isinstance(a, DT):
        return DT(a.ns + b.ns if op == "+" else a.ns - b.ns)
    if isinstance(b, DT):
        return DT(a.ns + b.ns)
    if isinstance(a, TS) and isinstance(b, TS):
        if op == "/":
            return a.ns / b.ns if b.ns else None
        return TS(a.ns + b.ns if op == "+" else a.ns - b.ns)
    if isinstance(a, TS):
        return TS(int(a.ns * b if op == "*" else a.ns / b)) if (op == "*" or b) else None
    if isinstance(b, TS):
        return TS(int(a * b.ns))
    if op in ("/", "%") and b == 0:
        return None
    if op == "/" and isinstance(a, int) and isinstance(b, int):
        return int(a / b)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if op == "/" else None,
            "%": math.fmod(a, b) if op == "%" else None}[op]


def scalar_fn(name, vals):
    v = vals[0]
    if name == "not":
        return None if v is None else not v
    if name in ("isempty", "isnotempty"):
        empty = v is None or v == ""
        return empty if name == "isempty" else not empty
    if name in ("isnull", "isnotnull"):
        return (v is None) == (name == "isnull")
    if name == "tostring":
        return to_string(v)
    if name == "todatetime":
        if isinstance(v, DT) or v is None:
            return v
        ns = parse_datetime(v) if isinstance(v, str) else None
        return DT(ns) if ns is not None else None
    if name in ("tolong", "toint", "toreal", "todouble"):
        return to_number(v, float if name in ("toreal", "todouble") else int)
    if name == "tobool":
        if isinstance(v, bool) or v is None:
            return v
        return {"true": True, "false": False}.get(to_string(v).lower())
    if name == "totimespan":
        from azuresim_kql import parse_timespan_literal
        if isinstance(v, TS) or v is None:
            return v
        ns = parse_timespan_literal(to_string(v))
        return TS(ns) if ns is not None else None
    return string_fn(name, vals)


def to_number(v, kind):
    if v is None:
        return None
    try:
        if isinstance(v, (DT, TS)):
            return kind(v.ns // 100)
        return kind(float(v)) if kind is int and isinstance(v, str) and "." in v else kind(v)
    except (TypeError, ValueError):
        return None


def string_fn(name, vals):
    v = vals[0]
    if name == "strlen":
        return len(to_string(v))
    if name == "tolower":
        return to_string(v).lower()
    if name == "toupper":
        return to_string(v).upper()
    if name == "trim":
        pat = to_string(vals[1])
        return re.sub(r"^(?:%s)+|(?:%s)+$" % (pat, pat), "", to_string(v))
    if name == "substring":
        s, start = to_string(v), vals[1] or 0
        length = vals[2] if len(vals) > 2 else None
        return s[start:] if length is None else s[start:start + length]
    # bin / floor
    size = vals[1]
    if v is None or size is None:
        return None
    if isinstance(v, DT):
        return DT(v.ns // size.ns * size.ns) if size.ns else None
    if isinstance(v, TS):
        return TS(v.ns // size.ns * size.ns) if size.ns else None
    return (v // size) * size if size else None


# --- tabular operators ------------------------------------------------------

def item_name(expr, n):
    """A column's name when the query gives none: the column itself, the
    column under bin()/floor(), else Column1, Column2... as Kusto does."""
    if expr[0] == "col":
        return expr[1], n
    if expr[0] == "call" and expr[1] in ("bin", "floor") and expr[2][0][0] == "col":
        return expr[2][0][1], n
    return "Column%d" % (n + 1), n + 1


def agg_name(call):
    fn, args = call[1], call[2]
    if fn in ("count", "countif"):
        return fn + "_"
    if args and args[0][0] == "col":
        return "%s_%s" % (fn, args[0][1])
    return fn + "_"


class Runner(Ctx):
    """Runs a tabular AST. resolve(name) -> Table or None (the workspace's
    tables, already restricted to the request's timespan)."""

    def run(self, node, context="table"):
        """context names the operator a missing table is reported under
        (Kusto names the first operator applied to it)."""
        kind = node[0]
        if kind == "table":
            table = self.resolve(node[1])
            if table is None:
                raise KqlSemanticError("'%s' operator: Failed to resolve table or column "
                                       "expression named '%s'" % (context, node[1]))
            return table
        if kind == "union":
            return self.union(node[1], node[2])
        first = node[2][0][0] if node[2] else context
        table = self.run(node[1], {"sort": "order"}.get(first, first))
        for op in node[2]:
            self.op = {"sort": "order"}.get(op[0], op[0])
            table = getattr(self, "op_" + op[0].replace("-", "_"))(table, op)
        return table

    def union(self, params, legs, first=None):
        tables, errors = ([first] if first is not None else []), []
        for i, leg in enumerate(legs):
            try:
                t = self.run(leg, "union")
            except KqlSemanticError as exc:
                if not params["isfuzzy"]:
                    raise
                errors.append(exc)
                continue
            if params["withsource"]:
                src = t.name or ("union_arg%d" % i)
                t = Table([(params["withsource"], "string")] + t.cols,
                          [dict(r, **{params["withsource"]: src}) for r in t.rows])
            tables.append(t)
        if not tables:
            raise errors[0]
        return merge_tables(tables)

    def op_union(self, table, op):
        return self.union(op[1], op[2], first=table)

    def op_where(self, table, op):
        t = self.etype(op[1], table.schema())
        if t not in ("bool", "dynamic"):
            self.fail("the predicate must be a bool, not %s" % t, "SEM0001")
        return Table(table.cols, [r for r in table.rows if self.ev(op[1], r) is True])

    def computed(self, table, items, extend):
        schema, out_cols, n = table.schema(), [], 0
        named = []
        for name, expr in items:
            typ = self.etype(expr, schema)
            if name is None:
                name, n = item_name(expr, n)
            if not extend and name in [c[0] for c in out_cols]:
                self.fail("A column named '%s' is already defined" % name, "SEM0001")
            out_cols.append((name, typ))
            named.append((name, expr, typ))
        rows = []
        for r in table.rows:
            vals = {name: fix_string(self.ev(expr, r), typ) for name, expr, typ in named}
            rows.append(dict(r, **vals) if extend else vals)
        if not extend:
            return Table(out_cols, rows)
        cols = list(table.cols)
        for name, typ in out_cols:
            idx = [i for i, c in enumerate(cols) if c[0] == name]
            if idx:
                cols[idx[0]] = (name, typ)
            else:
                cols.append((name, typ))
        return Table(cols, rows)

    def op_project(self, table, op):
        return self.computed(table, op[1], extend=False)

    def op_extend(self, table, op):
        return self.computed(table, op[1], extend=True)

    def op_project_away(self, table, op):
        names = [c[0] for c in table.cols]
        for n in op[1]:
            if n not in names:
                self.fail("Failed to resolve scalar expression named '%s'" % n)
        cols = [c for c in table.cols if c[0] not in op[1]]
        keep = [c[0] for c in cols]
        return Table(cols, [{k: r.get(k) for k in keep} for r in table.rows])

    def op_project_rename(self, table, op):
        cols = list(table.cols)
        rows = [dict(r) for r in table.rows]
        for new, old in op[1]:
            idx = [i for i, c in enumerate(cols) if c[0] == old]
            if not idx:
                self.fail("Failed to resolve scalar expression named '%s'" % old)
            cols[idx[0]] = (new, cols[idx[0]][1])
            for r in rows:
                r[new] = r.pop(old, None)
        return Table(cols, rows)

    def sort_rows(self, table, keys):
        schema = table.schema()
        for expr, _desc, _nf in keys:
            self.etype(expr, schema)
        rows = list(table.rows)
        for expr, desc, nulls_first in reversed(keys):
            vals = [self.ev(expr, r) for r in rows]
            present = [(norm(v), i) for i, v in enumerate(vals) if v is not None]
            missing = [i for i, v in enumerate(vals) if v is None]
            try:
                present.sort(key=lambda p: p[0], reverse=desc)
            except TypeError:
                present.sort(key=lambda p: (type(p[0]).__name__, str(p[0])), reverse=desc)
            if desc:  # keep ties in their input order, as a stable sort does
                present = stable_desc(present)
            order = ([*missing, *[i for _, i in present]] if nulls_first
                     else [*[i for _, i in present], *missing])
            rows = [rows[i] for i in order]
        return rows

    def op_sort(self, table, op):
        return Table(table.cols, self.sort_rows(table, op[1]))

    def op_take(self, table, op):
        return Table(table.cols, table.rows[:op[1]])

    def op_top(self, table, op):
        return Table(table.cols, self.sort_rows(table, [op[2]])[:op[1]])

    def op_count(self, table, op):
        return Table([("Count", "long")], [{"Count": len(table.rows)}])

    def op_distinct(self, table, op):
        projected = self.computed(table, op[1], extend=False)
        seen, rows = set(), []
        for r in projected.rows:
            key = tuple(norm_key(r.get(c[0])) for c in projected.cols)
            if key not in seen:
                seen.add(key)
                rows.append(r)
        return Table(projected.cols, rows)

    def op_summarize(self, table, op):
        schema, n = table.schema(), 0
        bys = []
        for name, expr in op[2]:
            typ = self.etype(expr, schema)
            if name is None:
                name, n = item_name(expr, n)
            bys.append((name, expr, typ))
        aggs = []
        for name, call in op[1]:
            typ = self.call_type(call, schema)
            aggs.append((name or agg_name(call), call, typ))
        groups = {}
        for r in table.rows:
            key = tuple(norm_key(self.ev(e, r)) for _, e, _ in bys)
            groups.setdefault(key, ([self.ev(e, r) for _, e, _ in bys], []))[1].append(r)
        if not bys and not groups:
            groups[()] = ([], [])
        cols = [(b[0], b[2]) for b in bys] + [(a[0], a[2]) for a in aggs]
        rows = []
        for keyvals, members in groups.values():
            row = {b[0]: fix_string(v, b[2]) for b, v in zip(bys, keyvals)}
            for name, call, typ in aggs:
                row[name] = fix_string(self.aggregate(call, members), typ)
            rows.append(row)
        return Table(cols, rows)

    def aggregate(self, call, rows):
        fn, args = call[1], call[2]
        if fn == "count":
            return len(rows)
        if fn == "countif":
            return sum(1 for r in rows if self.ev(args[0], r) is True)
        vals = [v for v in (self.ev(args[0], r) for r in rows) if v is not None]
        if fn in ("any", "take_any"):
            return vals[0] if vals else None
        if fn in ("make_list", "make_set"):
            out = [to_json_value(v) for v in vals]
            if fn == "make_list":
                return out
            unique = {}
            for v in out:
                unique.setdefault(json.dumps(v, sort_keys=True), v)
            return list(unique.values())
        if fn == "dcount":
            return len(set(norm_key(v) for v in vals))
        if not vals:
            return None
        if fn in ("max", "min"):
            return (max if fn == "max" else min)(vals, key=norm)
        if fn == "sum":
            return TS(sum(v.ns for v in vals)) if isinstance(vals[0], TS) else sum(vals)
        return sum(vals) / len(vals)


def stable_desc(present):
    """present sorted descending; equal keys back in input order."""
    out, i = [], 0
    while i < len(present):
        j = i
        while j < len(present) and present[j][0] == present[i][0]:
            j += 1
        out.extend(sorted(present[i:j], key=lambda p: p[1]))
        i = j
    return out


def norm_key(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return (type(v).__name__ if isinstance(v, bool) else "", v)


def fix_string(v, typ):
    return "" if v is None and typ == "string" else v


def to_json_value(v):
    if isinstance(v, (DT, TS)):
        return to_string(v)
    return v


def merge_tables(tables):
    """union: columns in order of first appearance; one name with two types
    becomes name_type for each (Kusto's rule); a leg's missing columns are
    null ("" for strings)."""
    types = {}
    for t in tables:
        for name, typ in t.cols:
            types.setdefault(name, [])
            if typ not in types[name]:
                types[name].append(typ)
    out_cols = []  # (output name, type, source name)
    for name, typs in types.items():
        for typ in typs:
            out_cols.append((name if len(typs) == 1 else "%s_%s" % (name, typ), typ, name))
    rows = []
    for t in tables:
        own = t.schema()
        for r in t.rows:
            rows.append({out: fix_string(r.get(src) if own.get(src) == typ else None, typ)
                         for out, typ, src in out_cols})
    return Table([(o, t) for o, t, _ in out_cols], rows)


# --- the query API's table format ---------------------------------------------

def wire_value(v, typ):
    if v is None:
        return "" if typ == "string" else None
    if typ == "datetime":
        return format_datetime(v.ns) if isinstance(v, DT) else to_string(v)
    if typ == "timespan":
        return format_timespan(v.ns) if isinstance(v, TS) else to_string(v)
    if typ == "dynamic":
        return json.dumps(to_json_value(v), separators=(",", ":"))
    if typ == "real" and isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if typ in ("long", "int") and isinstance(v, float):
        return int(v)
    return v


def to_wire(table, name="PrimaryResult"):
    """{"name", "columns": [{"name", "type"}], "rows": [[...]]}."""
    return {"name": name,
            "columns": [{"name": n, "type": t} for n, t in table.cols],
            "rows": [[wire_value(r.get(n), t) for n, t in table.cols] for r in table.rows]}


def execute(query, resolve, now_ns):
    """Parses and runs query; resolve(name) -> Table or None. Raises
    KqlSyntaxError or KqlSemanticError."""
    ast = parse(query)
    try:
        return Runner(resolve, now_ns).run(ast)
    except RecursionError:
        raise KqlSemanticError("The query is too complex: its expressions are nested too "
                               "deeply", "SEM0001") from None

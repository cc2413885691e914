"""The KQL subset the Log Analytics simulator understands: a lexer and a
recursive-descent parser producing a small AST that azuresim_kql_eval runs.

What is not understood is refused with KqlSyntaxError (the query API's 400
SyntaxError, "Query could not be parsed at 'x' on line [l,c]"), never
matched loosely: a backend that sends KQL the simulator cannot check must
find out here, not against Azure. The subset and its sources are in
tests/sim/azure/README-la.md.

AST: expressions are tuples whose first item names the node
  ("lit", value, type) ("col", name, pos) ("call", name, args, pos)
  ("bin", op, left, right, pos) ("neg", expr, pos)
  ("in", op, expr, [exprs], pos) with op in in, !in, in~, !in~
  ("between", op, expr, low, high, pos) with op between or !between
tabular expressions
  ("table", name, pos) ("union", {"isfuzzy": bool, "withsource": name},
  [legs], pos) ("pipe", source, [operators])
operators ("where", expr, pos) ("project", [(name|None, expr)], pos)
  ("project-away", [names], pos) ("project-rename", [(new, old)], pos)
  ("extend", [(name|None, expr)], pos) ("sort", [(expr, desc, nulls_first)], pos)
  ("take", n, pos) ("top", n, (expr, desc, nulls_first), pos)
  ("summarize", [(name|None, agg call)], [(name|None, expr)], pos)
  ("distinct", [(name|None, expr)], pos) ("count", pos)
  ("union", params, [legs], pos)."""

import re
import warnings

# Words made of two parts joined by '-' (KQL operator names).
HYPHEN_WORDS = {"project-away", "project-rename", "project-keep", "project-reorder",
                "mv-expand", "mv-apply", "make-series", "top-nested", "top-hitters",
                "parse-where", "project-smart", "parse-kv"}
# Timespan literal units in ns.
UNITS = {"d": 86400 * 10**9, "day": 86400 * 10**9, "days": 86400 * 10**9,
         "h": 3600 * 10**9, "hr": 3600 * 10**9, "hrs": 3600 * 10**9,
         "hour": 3600 * 10**9, "hours": 3600 * 10**9,
         "m": 60 * 10**9, "min": 60 * 10**9, "minute": 60 * 10**9, "minutes": 60 * 10**9,
         "s": 10**9, "sec": 10**9, "second": 10**9, "seconds": 10**9,
         "ms": 10**6, "milli": 10**6, "millis": 10**6, "millisecond": 10**6,
         "milliseconds": 10**6, "microsecond": 1000, "microseconds": 1000,
         "tick": 100, "ticks": 100}
# Binary string and comparison operators (the comparison precedence level).
CMP_OPS = {"==", "!=", "=~", "!~", "<", "<=", ">", ">=",
           "has", "!has", "has_cs", "!has_cs", "contains", "!contains",
           "contains_cs", "!contains_cs", "startswith", "!startswith",
           "startswith_cs", "!startswith_cs", "endswith", "!endswith",
           "endswith_cs", "!endswith_cs", "hasprefix", "!hasprefix",
           "hassuffix", "!hassuffix"}
IN_OPS = {"in", "!in", "in~", "!in~"}
# Scalar functions the evaluator implements, with (min, max) argument counts.
FUNCTIONS = {"not": (1, 1), "isempty": (1, 1), "isnotempty": (1, 1), "isnull": (1, 1),
             "isnotnull": (1, 1), "tostring": (1, 1), "todatetime": (1, 1),
             "tolong": (1, 1), "toint": (1, 1), "toreal": (1, 1), "todouble": (1, 1),
             "tobool": (1, 1), "totimespan": (1, 1), "ago": (1, 1), "now": (0, 1),
             "coalesce": (2, 64), "strcat": (1, 64), "strlen": (1, 1), "tolower": (1, 1),
             "toupper": (1, 1), "substring": (2, 3), "iif": (3, 3), "iff": (3, 3),
             "bin": (2, 2), "floor": (2, 2), "trim": (2, 2), "column_ifexists": (2, 2)}
# Aggregation functions of summarize.
AGGREGATES = {"count": (0, 0), "countif": (1, 1), "max": (1, 1), "min": (1, 1),
              "sum": (1, 1), "avg": (1, 1), "dcount": (1, 1), "any": (1, 1),
              "take_any": (1, 1), "make_list": (1, 1), "make_set": (1, 1)}
OPERATORS = {"where", "filter", "project", "project-away", "project-rename", "extend",
             "order", "sort", "take", "limit", "top", "summarize", "distinct", "count",
             "union"}


class KqlSyntaxError(Exception):
    """A query the parser refuses; message in Log Analytics' words, reason
    the simulator's own explanation."""

    def __init__(self, text, line, col, reason):
        self.text, self.line, self.col, self.reason = text, line, col, reason
        super().__init__("Query could not be parsed at '%s' on line [%d,%d]"
                         % (text, line, col))


class Tok:
    __slots__ = ("kind", "value", "text", "line", "col")

    def __init__(self, kind, value, text, line, col):
        self.kind, self.value, self.text, self.line, self.col = kind, value, text, line, col

    def is_op(self, *ops):
        return self.kind == "op" and self.value in ops

    def is_word(self, *words):
        return self.kind == "id" and not self.value[1] and self.value[0] in words


ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
TWO_CHAR_OPS = ("==", "!=", "=~", "!~", "<=", ">=", "..")
ONE_CHAR_OPS = "<>=+-*/%(),|;.[]"


class Lexer:
    """Splits a query into tokens with 1-based lines and 0-based columns.
    Identifiers are ("id", (name, bracketed)); numbers ("num", int|float);
    timespans ("ts", ns); strings ("str", text); raw literal text inside
    datetime(...) is ("raw", text)."""

    def __init__(self, src):
        self.src, self.i, self.line, self.linestart = src, 0, 1, 0
        self.toks = []

    def err(self, i, reason):
        line = self.src.count("\n", 0, i) + 1
        col = i - (self.src.rfind("\n", 0, i) + 1)
        raise KqlSyntaxError(self.src[i:i + 1] or "<EOF>", line, col, reason)

    def add(self, kind, value, start):
        line = self.src.count("\n", 0, start) + 1
        col = start - (self.src.rfind("\n", 0, start) + 1)
        self.toks.append(Tok(kind, value, self.src[start:self.i], line, col))

    def run(self):
        src = self.src
        while True:
            self.skip_space()
            if self.i >= len(src):
                break
            c, start = src[self.i], self.i
            if c in "'\"" or (c == "@" and src[self.i + 1:self.i + 2] in ("'", '"')):
                self.add("str", self.string(), start)
            elif c in "hH" and src[self.i + 1:self.i + 2] in ("'", '"'):
                self.i += 1
                self.add("str", self.string(), start)
            elif c == "[" and src[self.i + 1:self.i + 2] in ("'", '"'):
                self.i += 1
                name = self.string()
                if src[self.i:self.i + 1] != "]":
                    self.err(self.i, "a bracketed name ends with ]")
                self.i += 1
                self.add("id", (name, True), start)
            elif c.isdigit():
                self.number(start)
            elif c.isalpha() or c in "_$":
                self.word(start)
            elif c == "!" and (src[self.i + 1:self.i + 2].isalpha()):
                self.i += 1
                m = re.compile(r"[A-Za-z_]+~?").match(src, self.i)
                self.i = m.end()
                self.add("op", "!" + m.group(0), start)
            elif src[self.i:self.i + 2] in TWO_CHAR_OPS:
                self.i += 2
                self.add("op", src[start:self.i], start)
            elif c in ONE_CHAR_OPS:
                self.i += 1
                self.add("op", c, start)
            else:
                self.err(self.i, "unexpected character")
        self.toks.append(Tok("eof", None, "<EOF>", self.src.count("\n") + 1,
                             len(src) - (src.rfind("\n") + 1)))
        return self.toks

    def skip_space(self):
        src = self.src
        while self.i < len(src):
            if src[self.i].isspace():
                self.i += 1
            elif src.startswith("//", self.i):
                end = src.find("\n", self.i)
                self.i = len(src) if end < 0 else end
            else:
                break

    def string(self):
        src, verbatim = self.src, False
        if src[self.i] == "@":
            verbatim = True
            self.i += 1
        quote, start = src[self.i], self.i
        self.i += 1
        out = []
        while True:
            if self.i >= len(src) or src[self.i] == "\n":
                self.err(start, "the string literal is not closed")
            c = src[self.i]
            if c == quote:
                self.i += 1
                return "".join(out)
            if c == "\\" and not verbatim:
                nxt = src[self.i + 1:self.i + 2]
                if nxt in ESCAPES:
                    out.append(ESCAPES[nxt])
                    self.i += 2
                    continue
                if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", src[self.i + 2:self.i + 6]):
                    out.append(chr(int(src[self.i + 2:self.i + 6], 16)))
                    self.i += 6
                    continue
                self.err(self.i, "unknown escape sequence")
            out.append(c)
            self.i += 1

    def number(self, start):
        m = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?").match(self.src, self.i)
        self.i = m.end()
        text = m.group(0)
        u = re.compile(r"[A-Za-z]+").match(self.src, self.i)
        if u:
            unit = u.group(0)
            if unit.lower() not in UNITS:
                self.err(self.i, "unknown timespan unit '%s'" % unit)
            self.i = u.end()
            self.add("ts", int(round(float(text) * UNITS[unit.lower()])), start)
        elif m.group(1) or m.group(2):
            self.add("num", float(text), start)
        else:
            self.add("num", int(text), start)

    def word(self, start):
        src = self.src
        m = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*").match(src, self.i)
        self.i = m.end()
        name = m.group(0)
        if src[self.i:self.i + 1] == "-":
            m2 = re.compile(r"-[A-Za-z]+").match(src, self.i)
            if m2 and (name + m2.group(0)) in HYPHEN_WORDS:
                self.i = m2.end()
                name += m2.group(0)
        if name == "in" and src[self.i:self.i + 1] == "~":
            self.i += 1
            self.add("op", "in~", start)
            return
        self.add("id", (name, False), start)
        if name in ("datetime", "timespan", "time"):
            self.raw_arg()

    def raw_arg(self):
        """datetime(2026-12-05T10:00:00Z): the text between the parentheses."""
        self.skip_space()
        if self.src[self.i:self.i + 1] != "(":
            return
        start = self.i
        self.i += 1
        self.add("op", "(", start)
        end = self.src.find(")", self.i)
        if end < 0:
            self.err(start, "datetime( is not closed")
        raw_start = self.i
        self.i = end
        self.add("raw", self.src[raw_start:end].strip(), raw_start)
        self.i = end + 1
        self.add("op", ")", end)


def pos_of(tok):
    return (tok.line, tok.col)


class Parser:
    """query := statement (';' statement)* [';'] where statements before
    the last are let statements and the last is a tabular expression."""

    def __init__(self, src):
        self.toks = Lexer(src).run()
        self.k = 0
        self.scalar_lets = {}
        self.tabular_lets = {}

    # --- token helpers --------------------------------------------------
    def peek(self, ahead=0):
        return self.toks[min(self.k + ahead, len(self.toks) - 1)]

    def next(self):
        tok = self.peek()
        self.k += 1
        return tok

    def fail(self, tok, reason):
        raise KqlSyntaxError(tok.text, tok.line, tok.col, reason)

    def expect_op(self, op):
        tok = self.next()
        if not tok.is_op(op):
            self.fail(tok, "expected '%s'" % op)
        return tok

    def expect_word(self, *words):
        tok = self.next()
        if not tok.is_word(*words):
            self.fail(tok, "expected %s" % " or ".join(words))
        return tok

    def name(self):
        tok = self.next()
        if tok.kind != "id":
            self.fail(tok, "expected a column name")
        return tok.value[0]

    # --- statements -----------------------------------------------------
    def parse(self):
        result = None
        while self.peek().kind != "eof":
            if self.peek().is_word("let"):
                self.let()
            else:
                if result is not None:
                    self.fail(self.peek(), "only one tabular expression per query")
                result = self.tabular()
            tok = self.peek()
            if tok.is_op(";"):
                self.next()
            elif tok.kind != "eof":
                self.fail(tok, "expected '|', ';' or the end of the query")
        if result is None:
            self.fail(self.peek(), "the query has no tabular expression")
        return result

    def let(self):
        self.next()
        name_tok = self.next()
        if name_tok.kind != "id":
            self.fail(name_tok, "expected the name of the let")
        self.expect_op("=")
        if self.starts_tabular():
            self.tabular_lets[name_tok.value[0]] = self.tabular()
        else:
            self.scalar_lets[name_tok.value[0]] = self.expr()

    def starts_tabular(self):
        tok = self.peek()
        if tok.is_word("union"):
            return True
        if tok.kind == "id" and tok.value[0] not in self.scalar_lets \
                and not self.peek(1).is_op("("):
            return self.peek(1).is_op("|") or tok.value[0] in self.tabular_lets \
                or (self.peek(1).is_op(";") and tok.value[0] not in FUNCTIONS)
        return False

    # --- tabular expressions --------------------------------------------
    def tabular(self):
        source = self.source()
        ops = []
        while self.peek().is_op("|"):
            self.next()
            ops.append(self.operator())
        return ("pipe", source, ops) if ops else source

    def source(self):
        tok = self.peek()
        if tok.is_word("union"):
            self.next()
            params = self.union_params()
            return ("union", params, self.union_legs(), pos_of(tok))
        if tok.is_op("("):
            self.next()
            inner = self.tabular()
            self.expect_op(")")
            return inner
        if tok.kind == "id":
            self.next()
            if self.peek().is_op("("):
                self.fail(self.peek(), "a query starts with a table, not a function")
            if tok.value[0] in self.tabular_lets:
                return self.tabular_lets[tok.value[0]]
            return ("table", tok.value[0], pos_of(tok))
        self.fail(tok, "expected a table name")

    def union_params(self):
        params = {"isfuzzy": False, "withsource": None}
        while self.peek().kind == "id" and self.peek(1).is_op("=") \
                and self.peek().value[0] in ("isfuzzy", "withsource", "kind"):
            key = self.next().value[0]
            self.next()
            val = self.next()
            if key == "isfuzzy":
                if not val.is_word("true", "false"):
                    self.fail(val, "isfuzzy takes true or false")
                params["isfuzzy"] = val.value[0] == "true"
            elif key == "withsource":
                if val.kind != "id":
                    self.fail(val, "withsource takes a column name")
                params["withsource"] = val.value[0]
            else:
                if not val.is_word("outer"):
                    self.fail(val, "the simulator implements union kind=outer only")
        return params

    def union_legs(self):
        legs = [self.union_leg()]
        while self.peek().is_op(","):
            self.next()
            legs.append(self.union_leg())
        return legs

    def union_leg(self):
        tok = self.peek()
        if tok.is_op("("):
            self.next()
            inner = self.tabular()
            self.expect_op(")")
            return inner
        if tok.kind == "id" and not self.peek(1).is_op("("):
            self.next()
            if "*" in tok.value[0]:
                self.fail(tok, "table wildcards are not implemented")
            if tok.value[0] in self.tabular_lets:
                return self.tabular_lets[tok.value[0]]
            return ("table", tok.value[0], pos_of(tok))
        self.fail(tok, "expected a table name or a parenthesised query")

    def operator(self):
        tok = self.next()
        if tok.kind != "id" or tok.value[1]:
            self.fail(tok, "expected a tabular operator")
        op, pos = tok.value[0], pos_of(tok)
        if op not in OPERATORS:
            self.fail(tok, "the simulator does not implement the '%s' operator" % op)
        if op in ("where", "filter"):
            return ("where", self.expr(), pos)
        if op in ("project", "extend"):
            return (op, self.items(), pos)
        if op == "project-away":
            return (op, self.names(), pos)
        if op == "project-rename":
            pairs = []
            while True:
                new = self.name()
                self.expect_op("=")
                pairs.append((new, self.name()))
                if not self.peek().is_op(","):
                    return (op, pairs, pos)
                self.next()
        if op in ("order", "sort"):
            self.expect_word("by")
            keys = [self.sort_key()]
            while self.peek().is_op(","):
                self.next()
                keys.append(self.sort_key())
            return ("sort", keys, pos)
        if op in ("take", "limit"):
            return ("take", self.count_arg(), pos)
        if op == "top":
            n = self.count_arg()
            self.expect_word("by")
            return ("top", n, self.sort_key(), pos)
        if op == "summarize":
            return self.summarize(pos)
        if op == "distinct":
            return ("distinct", self.items(), pos)
        if op == "count":
            return ("count", pos)
        params = self.union_params()
        return ("union", params, self.union_legs(), pos)

    def names(self):
        out = [self.name()]
        while self.peek().is_op(","):
            self.next()
            out.append(self.name())
        for n in out:
            if "*" in n:
                self.fail(self.peek(), "column wildcards are not implemented")
        return out

    def items(self):
        out = [self.item()]
        while self.peek().is_op(","):
            self.next()
            out.append(self.item())
        return out

    def item(self):
        if self.peek().kind == "id" and self.peek(1).is_op("="):
            name = self.next().value[0]
            self.next()
            return (name, self.expr())
        return (None, self.expr())

    def count_arg(self):
        tok = self.next()
        if tok.kind == "num" and isinstance(tok.value, int):
            return tok.value
        if tok.kind == "id" and tok.value[0] in self.scalar_lets:
            lit = self.scalar_lets[tok.value[0]]
            if lit[0] == "lit" and lit[2] == "long":
                return lit[1]
        self.fail(tok, "expected a whole number of rows")

    def sort_key(self):
        expr = self.expr()
        desc = True
        if self.peek().is_word("asc", "desc"):
            desc = self.next().value[0] == "desc"
        nulls_first = not desc
        if self.peek().is_word("nulls"):
            self.next()
            nulls_first = self.expect_word("first", "last").value[0] == "first"
        return (expr, desc, nulls_first)

    def summarize(self, pos):
        aggs = []
        if not self.peek().is_word("by"):
            while True:
                name = None
                if self.peek().kind == "id" and self.peek(1).is_op("="):
                    name = self.next().value[0]
                    self.next()
                aggs.append((name, self.aggregate()))
                if not self.peek().is_op(","):
                    break
                self.next()
        bys = []
        if self.peek().is_word("by"):
            self.next()
            bys = self.items()
        if not aggs and not bys:
            self.fail(self.peek(), "summarize needs an aggregation or a by clause")
        return ("summarize", aggs, bys, pos)

    def aggregate(self):
        tok = self.next()
        if tok.kind != "id" or tok.value[0] not in AGGREGATES or not self.peek().is_op("("):
            self.fail(tok, "expected an aggregation function (%s)" % ", ".join(sorted(AGGREGATES)))
        self.next()
        args = self.args()
        lo, hi = AGGREGATES[tok.value[0]]
        if not lo <= len(args) <= hi:
            self.fail(tok, "%s() takes %d to %d arguments" % (tok.value[0], lo, hi))
        return ("call", tok.value[0], args, pos_of(tok))

    # --- scalar expressions ---------------------------------------------
    def expr(self):
        return self.or_expr()

    def or_expr(self):
        left = self.and_expr()
        while self.peek().is_word("or"):
            tok = self.next()
            left = ("bin", "or", left, self.and_expr(), pos_of(tok))
        return left

    def and_expr(self):
        left = self.cmp_expr()
        while self.peek().is_word("and"):
            tok = self.next()
            left = ("bin", "and", left, self.cmp_expr(), pos_of(tok))
        return left

    def cmp_expr(self):
        left = self.add_expr()
        tok = self.peek()
        word = tok.value[0] if tok.kind == "id" and not tok.value[1] else None
        op = tok.value if tok.kind == "op" else word
        if op in CMP_OPS:
            self.next()
            return ("bin", op, left, self.add_expr(), pos_of(tok))
        if op in IN_OPS:
            self.next()
            self.expect_op("(")
            return ("in", op, left, self.args(), pos_of(tok))
        if op in ("between", "!between"):
            self.next()
            self.expect_op("(")
            low = self.add_expr()
            self.expect_op("..")
            high = self.add_expr()
            self.expect_op(")")
            return ("between", op, left, low, high, pos_of(tok))
        if word == "matches":
            self.next()
            self.expect_word("regex")
            right = self.add_expr()
            if right[0] != "lit" or right[2] != "string":
                self.fail(tok, "matches regex takes a string literal")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    re.compile(right[1])
            except re.error as exc:
                self.fail(tok, "the regular expression does not compile: %s" % exc)
            return ("bin", "matches", left, right, pos_of(tok))
        if tok.kind == "op" and tok.value.startswith("!") and tok.value not in ("!=", "!~"):
            self.fail(tok, "the simulator does not implement the '%s' operator" % tok.value)
        if word in ("has_any", "has_all", "contains_any", "matches", "like"):
            self.fail(tok, "the simulator does not implement the '%s' operator" % word)
        return left

    def add_expr(self):
        left = self.mul_expr()
        while self.peek().is_op("+", "-"):
            tok = self.next()
            left = ("bin", tok.value, left, self.mul_expr(), pos_of(tok))
        return left

    def mul_expr(self):
        left = self.unary()
        while self.peek().is_op("*", "/", "%"):
            tok = self.next()
            left = ("bin", tok.value, left, self.unary(), pos_of(tok))
        return left

    def unary(self):
        tok = self.peek()
        if tok.is_op("-"):
            self.next()
            return ("neg", self.unary(), pos_of(tok))
        if tok.is_op("+"):
            self.next()
            return self.unary()
        return self.primary()

    def primary(self):
        tok = self.next()
        if tok.kind == "str":
            return ("lit", tok.value, "string")
        if tok.kind == "num":
            return ("lit", tok.value, "long" if isinstance(tok.value, int) else "real")
        if tok.kind == "ts":
            return ("lit", tok.value, "timespan")
        if tok.is_op("("):
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.kind != "id":
            self.fail(tok, "expected a value, a column or a function")
        name, bracketed = tok.value
        if not bracketed and self.peek().is_op("("):
            return self.call(tok)
        if self.peek().is_op(".", "["):
            self.fail(self.peek(), "member access on dynamic values is not implemented")
        if not bracketed and name in ("true", "false"):
            return ("lit", name == "true", "bool")
        if not bracketed and name in self.scalar_lets:
            return self.scalar_lets[name]
        return ("col", name, pos_of(tok))

    def call(self, tok):
        name = tok.value[0]
        self.next()
        if name in ("datetime", "timespan", "time"):
            return self.raw_literal(tok, name)
        if name not in FUNCTIONS:
            if name in AGGREGATES:
                self.fail(tok, "%s() is an aggregation: use it in summarize" % name)
            self.fail(tok, "the simulator does not implement the function '%s'" % name)
        args = self.args()
        lo, hi = FUNCTIONS[name]
        if not lo <= len(args) <= hi:
            self.fail(tok, "%s() takes %d to %d arguments" % (name, lo, hi))
        if name == "column_ifexists" and (args[0][0] != "lit" or args[0][2] != "string"):
            self.fail(tok, "column_ifexists() takes the column's name as a string literal")
        return ("call", name, args, pos_of(tok))

    def args(self):
        """The arguments after '(' up to and including ')'."""
        out = []
        if self.peek().is_op(")"):
            self.next()
            return out
        while True:
            out.append(self.expr())
            tok = self.next()
            if tok.is_op(")"):
                return out
            if not tok.is_op(","):
                self.fail(tok, "expected ',' or ')'")

    def raw_literal(self, tok, name):
        raw = self.next()
        if raw.kind != "raw":
            self.fail(raw, "expected a literal")
        self.expect_op(")")
        text = raw.value
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        if name == "datetime":
            from azuresim_kql_eval import parse_datetime
            ns = parse_datetime(text)
            if ns is None:
                self.fail(raw, "not a datetime literal")
            return ("lit", ns, "datetime")
        ns = parse_timespan_literal(text)
        if ns is None:
            self.fail(raw, "not a timespan literal")
        return ("lit", ns, "timespan")


def parse_timespan_literal(text):
    """timespan(1h), timespan(00:05:00), timespan(1.02:03:04.5)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text)
    if m:
        unit = m.group(2).lower()
        return int(round(float(m.group(1)) * UNITS[unit])) if unit in UNITS else None
    m = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?", text)
    if not m:
        return None
    days, hours, mins = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    secs, frac = int(m.group(4) or 0), (m.group(5) or "").ljust(7, "0")
    return (((days * 24 + hours) * 60 + mins) * 60 + secs) * 10**9 + int(frac) * 100


def parse(src):
    """The AST of a query; KqlSyntaxError when refused (also a query
    nested deeper than Python's stack: refused, never a crash)."""
    try:
        return Parser(src).parse()
    except RecursionError:
        raise KqlSyntaxError(src[:1] or "<EOF>", 1, 0, "the query is nested too deeply") \
            from None

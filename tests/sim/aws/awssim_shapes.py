"""The published AWS API models (Debian's python3-botocore) and a validator of
values against their shapes, used on every request the simulator receives
and, by the tests, on every response it sends."""

import functools
import re

import botocore.session

_SESSION = botocore.session.get_session()

# Members real AWS accepts that Debian's botocore 1.29.27 (Dec 2022) models
# lack: {service: {shape name: {member: member model}}}. RunTask's
# clientToken (idempotency, 2023) is sent by current SDKs and by
# backend-ecs. Lambda's LoggingConfig (Nov 2023: JSON/Text log format, log
# levels, a log group of one's choice) is sent by backend-lambda; it needs
# shapes of its own, defined in MODEL_SHAPES first.
MODEL_SHAPES = {
    "lambda": {
        "LogFormat": {"type": "string", "enum": ["JSON", "Text"]},
        "ApplicationLogLevel": {"type": "string",
                                "enum": ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]},
        "SystemLogLevel": {"type": "string", "enum": ["DEBUG", "INFO", "WARN"]},
        "LogGroup": {"type": "string", "max": 512, "min": 1,
                     "pattern": "[\\.\\-_/#A-Za-z0-9]+"},
        "LoggingConfig": {"type": "structure", "members": {
            "LogFormat": {"shape": "LogFormat"},
            "ApplicationLogLevel": {"shape": "ApplicationLogLevel"},
            "SystemLogLevel": {"shape": "SystemLogLevel"},
            "LogGroup": {"shape": "LogGroup"}}},
    },
}
MODEL_ADDITIONS = {
    "ecs": {
        "RunTaskRequest": {"clientToken": {"shape": "String"}},
    },
    "lambda": {
        "CreateFunctionRequest": {"LoggingConfig": {"shape": "LoggingConfig"}},
        "FunctionConfiguration": {"LoggingConfig": {"shape": "LoggingConfig"}},
    },
}


@functools.lru_cache(maxsize=None)
def service_model(name):
    model = _SESSION.get_service_model(name)
    shapes = model._shape_resolver._shape_map
    for shape_name, spec in MODEL_SHAPES.get(name, {}).items():
        shapes.setdefault(shape_name, spec)
    for shape_name, members in MODEL_ADDITIONS.get(name, {}).items():
        for member, spec in members.items():
            shapes[shape_name]["members"].setdefault(member, spec)
    return model


class Problem:
    """One way a value does not fit its shape. kind is 'type' (wrong JSON
    type: AWS answers SerializationException), 'constraint' (required, enum,
    length, range, pattern) or 'unknown' (a member the shape lacks)."""

    def __init__(self, kind, path, value, message):
        self.kind = kind
        self.path = path
        self.value = value
        self.message = message

    def __str__(self):
        return "%s at '%s': %s" % (self.kind, self.path, self.message)


def validate(shape, value, timestamps="number"):
    """All problems of value against shape. timestamps says how the
    protocol carries timestamps: 'number' (JSON epoch seconds) or 'any'
    (already parsed by the caller)."""
    problems = []
    _check(shape, value, "", problems, timestamps)
    return problems


def known_members(shape, value):
    """value without the members its shape lacks (AWS ignores them), for a
    value that validate() found well typed."""
    if value is None:
        return None
    if shape.type_name == "structure":
        return {name: known_members(shape.members[name], item)
                for name, item in value.items() if name in shape.members}
    if shape.type_name == "list":
        return [known_members(shape.member, item) for item in value]
    if shape.type_name == "map":
        return {key: known_members(shape.value, item) for key, item in value.items()}
    return value


def validation_message(problems):
    """AWS's own wording for constraint failures, e.g. "1 validation error
    detected: Value 'x' at 'family' failed to satisfy constraint: ..."."""
    parts = ["Value %s at '%s' failed to satisfy constraint: %s"
             % (_coral_repr(p.value), p.path, p.message) for p in problems]
    noun = "error" if len(parts) == 1 else "errors"
    return "%d validation %s detected: %s" % (len(parts), noun, "; ".join(parts))


def _coral_repr(value):
    if value is None:
        return "null"
    if isinstance(value, str):
        return "'%s'" % value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[%s]" % ", ".join(str(v) for v in value)
    return str(value)


def _join(path, name):
    return "%s.%s" % (path, name) if path else name


_JSON_TYPES = {
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
    "string": (str,),
    "blob": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (int, float),
}


def _type_ok(type_name, value, timestamps):
    if type_name == "timestamp" and timestamps == "any":
        return True
    if isinstance(value, bool) and type_name != "boolean":
        return False
    return isinstance(value, _JSON_TYPES[type_name])


def _check(shape, value, path, problems, timestamps):
    if not _type_ok(shape.type_name, value, timestamps):
        problems.append(Problem(
            "type", path, value, "expected %s (%s), got %s"
            % (shape.type_name, shape.name, type(value).__name__)))
        return
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, problems, timestamps)
    elif kind == "list":
        _check_size(shape, len(value), value, path, problems, "length")
        for i, item in enumerate(value):
            _check(shape.member, item, "%s.%d.member" % (path, i + 1), problems, timestamps)
    elif kind == "map":
        _check_size(shape, len(value), value, path, problems, "length")
        for key, item in value.items():
            _check(shape.key, key, path, problems, timestamps)
            _check(shape.value, item, _join(path, key), problems, timestamps)
    elif kind == "string":
        _check_string(shape, value, path, problems)
    elif kind in ("integer", "long"):
        _check_size(shape, value, value, path, problems, "value")


def _check_structure(shape, value, path, problems, timestamps):
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(Problem("constraint", _join(path, name), None,
                                    "Member must not be null"))
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            problems.append(Problem("unknown", _join(path, name), item,
                                    "not a member of %s" % shape.name))
        elif item is not None:
            _check(member, item, _join(path, name), problems, timestamps)


def _check_size(shape, size, value, path, problems, what):
    meta = shape.metadata
    if "min" in meta and size < meta["min"]:
        problems.append(Problem("constraint", path, value, "Member must have %s greater than or equal to %s" % (what, meta["min"])))
    if "max" in meta and size > meta["max"]:
        problems.append(Problem("constraint", path, value, "Member must have %s less than or equal to %s" % (what, meta["max"])))


def _check_string(shape, value, path, problems):
    if shape.enum and value not in shape.enum:
        problems.append(Problem("constraint", path, value, "Member must satisfy enum value set: [%s]" % ", ".join(shape.enum)))
    _check_size(shape, len(value), value, path, problems, "length")
    pattern = _pattern(shape.metadata.get("pattern"))
    if pattern is not None and not pattern.fullmatch(value):
        problems.append(Problem("constraint", path, value, "Member must satisfy regular expression pattern: %s" % shape.metadata["pattern"]))


@functools.lru_cache(maxsize=None)
def _pattern(java_regex):
    """The model's Java regex compiled for Python, or None when it uses
    syntax Python lacks (\\p{L} classes): such patterns are not checked."""
    if java_regex is None:
        return None
    python_regex = re.sub(r"\\u([0-9A-Fa-f]{5,6})",
                          lambda m: "\\U%08X" % int(m.group(1), 16), java_regex)
    try:
        return re.compile(python_regex)
    except re.error:
        return None

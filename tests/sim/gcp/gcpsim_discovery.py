"""Google discovery documents: loading, method lookup and request
validation in Google's words.

Every request the simulator serves names a discovery method id
("run.projects.locations.jobs.create"); before its handler runs, the path
must match the method's flatPath, the query may hold only the method's
query parameters (plus the global ones every Google API takes) with the
right types, and the body must fit the method's request schema. A
violation is a 400 INVALID_ARGUMENT whose message is the one Google's
ESF front end writes ("Invalid JSON payload received. Unknown name ...")
with a google.rpc.BadRequest detail listing the field violations.
readOnly fields are accepted and dropped, as Google does ("Output only"
fields sent back by a client that read the resource first)."""

import json
import os
import re

SPEC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs")
SPEC_FILES = ("run__v2.json", "cloudfunctions__v2.json", "logging__v2.json",
              "artifactregistry__v1.json", "file__v1.json", "storage__v1.json")
DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
INTEGER = re.compile(r"^-?\d+$")
INT_RANGE = {"int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1),
             "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}
# Schema name prefixes stripped to find the request message's body field
# (GoogleCloudRunV2Job is CreateJobRequest's "job").
SCHEMA_PREFIXES = ("GoogleCloudRunV2", "GoogleLongrunning", "GoogleIamV1", "GoogleRpc")


class Violation(Exception):
    """One field violation: field (dotted, snake_case, Google's 'at'
    path) and its description."""

    def __init__(self, field, description):
        super().__init__(description)
        self.field = field
        self.description = description


def snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class Method:
    def __init__(self, doc, spec):
        self.doc = doc
        self.spec = spec
        self.id = spec["id"]
        self.http_method = spec["httpMethod"]
        template = spec.get("flatPath") or spec["path"]
        pattern = re.escape("/" + doc.service_path + template)
        pattern = re.sub(r"\\\{\\\+[^}]*\\\}", ".+", pattern)
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", pattern)
        self.path_re = re.compile(pattern + "$")
        # A media upload's own path (Cloud Storage's /upload/storage/v1/...);
        # upload_re is the method's second path.
        upload = ((spec.get("mediaUpload") or {}).get("protocols") or {}).get("simple") or {}
        self.upload_re = None
        if upload.get("path"):
            pattern = re.escape(upload["path"])
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", pattern)
            self.upload_re = re.compile(pattern + "$")
        # Media downloads' own path (Cloud Storage's mediaLink, /download/...).
        if spec.get("useMediaDownloadService"):
            pattern = re.escape("/download/" + doc.service_path + template)
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", pattern)
            self.upload_re = re.compile(pattern + "$")
        self.params = dict(doc.global_params)
        self.params.update(spec.get("parameters") or {})
        ref = (spec.get("request") or {}).get("$ref")
        self.request = ref
        self.body_root = _body_root(ref) if ref else None


def _body_root(ref):
    """The name Google's messages give the body: the request message's
    field holding it ("job"), or "" when the body is the request itself."""
    if ref.endswith("Request"):
        return ""
    name = ref
    for prefix in SCHEMA_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return snake(name[:1].lower() + name[1:])


class Document:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = json.load(f)
        self.name = self.raw["name"]
        self.service_path = self.raw.get("servicePath") or ""
        self.schemas = self.raw.get("schemas") or {}
        self.global_params = self.raw.get("parameters") or {}
        self.methods = {}
        self._walk(self.raw)

    def _walk(self, node):
        for spec in (node.get("methods") or {}).values():
            method = Method(self, spec)
            self.methods[method.id] = method
        for child in (node.get("resources") or {}).values():
            self._walk(child)


class Discovery:
    def __init__(self, spec_dir=SPEC_DIR):
        self.methods = {}
        for name in SPEC_FILES:
            doc = Document(os.path.join(spec_dir, name))
            self.methods.update(doc.methods)

    def method(self, method_id):
        try:
            return self.methods[method_id]
        except KeyError:
            raise KeyError("no discovery method %r in %s" % (method_id, ", ".join(SPEC_FILES)))


# Query parameters.

def check_query(method, query):
    """Violations of the query string (dict of lists)."""
    out = []
    for name, values in query.items():
        spec = method.params.get(name)
        if spec is None or spec.get("location") != "query":
            out.append(Violation(name, 'Invalid JSON payload received. Unknown name "%s": '
                                 "Cannot bind query parameter. Field '%s' could not be found "
                                 "in request message." % (name, name)))
            continue
        if len(values) > 1 and not spec.get("repeated"):
            out.append(Violation(name, "Invalid value at '%s': the parameter is not repeated, "
                                 "but %d values were given" % (snake(name), len(values))))
            continue
        for value in values:
            problem = _query_value(spec, value)
            if problem:
                out.append(Violation(name, "Invalid value at '%s' (%s), \"%s\"%s"
                                     % (snake(name), problem[0], value, problem[1])))
    return out


def _query_value(spec, value):
    kind, fmt = spec.get("type"), spec.get("format")
    if kind == "integer" or fmt in INT_RANGE:
        if not INTEGER.match(value) or not _in_range(int(value), fmt or "int32"):
            return ("TYPE_%s" % (fmt or "int32").upper(), "")
    elif kind == "boolean":
        if value.lower() not in ("true", "false", "1", "0"):
            return ("TYPE_BOOL", "")
    elif kind == "number":
        try:
            float(value)
        except ValueError:
            return ("TYPE_DOUBLE", "")
    if spec.get("enum") and value not in spec["enum"]:
        return ("TYPE_ENUM", "")
    if fmt == "google-duration" and not DURATION.match(value):
        return ("type.googleapis.com/google.protobuf.Duration", ": the value is not a duration "
                "such as \"3.5s\"")
    return None


def _in_range(number, fmt):
    low, high = INT_RANGE.get(fmt, INT_RANGE["int64"])
    return low <= number <= high


# Request bodies.

def check_body(method, body):
    """(violations, body without readOnly fields) of a request body; body
    is the parsed JSON (None: absent)."""
    if method.request is None:
        return [], body
    if body is None:
        body = {}
    out = []
    cleaned = _value(method.doc, {"$ref": method.request}, body, method.body_root, out)
    return out, cleaned


def _at(path):
    return " at '%s'" % path if path else ""


def _type_name(doc, spec):
    if "$ref" in spec:
        return "type.googleapis.com/%s" % spec["$ref"]
    kind, fmt = spec.get("type"), spec.get("format")
    if spec.get("enum"):
        return "TYPE_ENUM"
    if kind == "integer":
        return "TYPE_%s" % (fmt or "int32").upper()
    if kind == "string" and fmt in INT_RANGE:
        return "TYPE_%s" % fmt.upper()
    return {"string": "TYPE_STRING", "boolean": "TYPE_BOOL", "number": "TYPE_DOUBLE",
            "array": "TYPE_MESSAGE", "object": "TYPE_MESSAGE"}.get(kind, "TYPE_MESSAGE")


def _bad(doc, spec, value, path, out, why=""):
    shown = json.dumps(value) if not isinstance(value, str) else '"%s"' % value
    if isinstance(value, (dict, list)):
        shown = "{...}" if isinstance(value, dict) else "[...]"
    out.append(Violation(path, "Invalid value at '%s' (%s), %s%s"
                         % (path, _type_name(doc, spec), shown, why)))
    return value


def _value(doc, spec, value, path, out):
    if value is None:
        return None
    if "$ref" in spec:
        schema = doc.schemas.get(spec["$ref"])
        if schema is None:
            return value
        return _value(doc, schema, value, path, out)
    kind = spec.get("type")
    if kind == "any":
        return value
    if kind == "object":
        return _object(doc, spec, value, path, out)
    if kind == "array":
        if not isinstance(value, list):
            return _bad(doc, spec, value, path, out)
        items = spec.get("items") or {"type": "any"}
        return [_value(doc, items, v, "%s[%d]" % (path, i), out) for i, v in enumerate(value)]
    return _scalar(doc, spec, value, path, out)


def _object(doc, spec, value, path, out):
    if not isinstance(value, dict):
        return _bad(doc, spec, value, path, out)
    props = spec.get("properties")
    extra = spec.get("additionalProperties")
    if props is None:
        if extra is None:
            return value  # a free-form object (Struct, Any's fields)
        return {k: _value(doc, extra, v, "%s[%s]" % (path, k) if path else k, out)
                for k, v in value.items()}
    cleaned = {}
    for key, item in value.items():
        name = key if key in props else _camel(key)
        prop = props.get(name)
        if prop is None:
            if key == "@type" and path is not None:
                cleaned[key] = item
                continue
            out.append(Violation(path, 'Invalid JSON payload received. Unknown name "%s"%s: '
                                 "Cannot find field." % (key, _at(path))))
            continue
        if prop.get("readOnly"):
            continue
        sub = "%s.%s" % (path, snake(name)) if path else snake(name)
        cleaned[name] = _value(doc, prop, item, sub, out)
    return cleaned


def _scalar(doc, spec, value, path, out):
    kind, fmt = spec.get("type"), spec.get("format")
    if kind == "boolean":
        return value if isinstance(value, bool) else _bad(doc, spec, value, path, out)
    if kind == "integer" or (kind == "string" and fmt in INT_RANGE):
        return _integer(doc, spec, value, path, out, fmt or "int32")
    if kind == "number":
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or \
            value in ("NaN", "Infinity", "-Infinity")
        return value if ok else _bad(doc, spec, value, path, out)
    if not isinstance(value, str):
        return _bad(doc, spec, value, path, out)
    if spec.get("enum") and value not in spec["enum"]:
        return _bad(doc, spec, value, path, out)
    if fmt == "google-duration" and not DURATION.match(value):
        return _bad(doc, spec, value, path, out,
                    ": a duration is seconds with an \"s\" suffix, e.g. \"600s\" or \"1.5s\"")
    if fmt == "google-datetime" and not DATETIME.match(value):
        return _bad(doc, spec, value, path, out,
                    ": a timestamp is RFC 3339, e.g. \"2026-01-02T03:04:05.000000006Z\"")
    return value


def _integer(doc, spec, value, path, out, fmt):
    if isinstance(value, bool):
        return _bad(doc, spec, value, path, out)
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and INTEGER.match(value):
        number = int(value)
    else:
        return _bad(doc, spec, value, path, out)
    if not _in_range(number, fmt):
        return _bad(doc, spec, value, path, out, ": out of range")
    return value

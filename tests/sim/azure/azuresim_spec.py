"""Microsoft's Swagger 2.0 specs (the vendored copies under specs/) as the
Azure simulator reads them: every file loaded with its $refs made
absolute ("<file>#/<pointer>", across files by relative path), operations
indexed by operationId and api-version, and requests checked against
them: path parameters (pattern, length), query parameters (required,
type, enum), api-version (one of the spec files' versions) and bodies,
recursively (allOf flattened, required, types and formats, enums strictly
(x-ms-enum modelAsString too), additionalProperties, unknown properties
refused, readOnly properties accepted and dropped). x-ms-secret
properties are removed from what GET/PUT/PATCH answer. None of the
Microsoft.App or Log Analytics files use discriminators, so there is no
support for them (load() refuses a file that has one).

Stricter than Azure on purpose: an unknown property is an error (Azure
ignores most of them), so a typo in the C code's bodies fails a test."""

import copy
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_ROOT = os.path.join(HERE, "specs", "specification")
APP_DIR = "app/resource-manager/Microsoft.App/ContainerApps/stable/2025-07-01"
LA_DIR = "operationalinsights/data-plane/Microsoft.OperationalInsights/stable"
# The files whose operations the simulator serves; their $refs pull in
# the common types.
SPEC_FILES = (APP_DIR + "/Jobs.json", APP_DIR + "/ManagedEnvironments.json",
              APP_DIR + "/ManagedEnvironmentsStorages.json",
              LA_DIR + "/v1/OperationalInsights.json",
              LA_DIR + "/2022-10-27/OperationalInsights.json",
              # Microsoft.Web: the field table generated from azure-mgmt-web's
              # models (tools/gen_web_fields.py), not a vendored file
              "../web-fields.json")
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head")

DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]\d\d:\d\d)?")
DURATION = re.compile(r"-?P(?=\d|T\d)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                      r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                  r"[0-9a-fA-F]{12}")
API_VERSION = re.compile(r"\d{4}-\d\d-\d\d(-[a-z]+)?")
INT_RANGE = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1)}


class Violation:
    """One thing wrong with a request: target is the JSON path of a body
    value ("properties.configuration.triggerType") or a parameter's
    name."""

    def __init__(self, target, message):
        self.target = target
        self.message = message

    def __repr__(self):
        return "Violation(%r, %r)" % (self.target, self.message)


class Operation:
    """One operation of one spec file."""

    def __init__(self, spec, file, method, template, raw, base_path):
        self.spec = spec
        self.file = file
        self.method = method.upper()
        self.template = template
        self.op_id = raw["operationId"]
        self.version = spec.docs[file].get("info", {}).get("version")
        self.params = [spec.resolve(p) for p in raw.get("parameters", [])]
        self.arm = any(p.get("name") == "api-version" and p.get("in") == "query"
                       for p in self.params)
        names = []

        def group(m):
            names.append(m.group(1))
            return "(?P<p%d>.+)" % (len(names) - 1) if m.group(1) == "resourceId" \
                else "(?P<p%d>[^/]+)" % (len(names) - 1)
        path = template.split("?", 1)[0]
        self.path_re = re.compile(re.sub(r"\{([^}]+)\}", group,
                                         re.escape(base_path + path)
                                         .replace(r"\{", "{").replace(r"\}", "}")),
                                  re.IGNORECASE)
        self.path_names = names
        self.responses = raw.get("responses", {})

    def body_param(self):
        for p in self.params:
            if p.get("in") == "body":
                return p
        return None


class Spec:
    def __init__(self, root=SPEC_ROOT, files=SPEC_FILES):
        self.root = root
        self.docs = {}
        self.by_id = {}  # operationId -> [Operation], newest file last
        for rel in files:
            self._load(os.path.normpath(os.path.join(root, rel)))
        for rel in files:
            path = os.path.normpath(os.path.join(root, rel))
            doc = self.docs[path]
            base = doc.get("basePath", "") if "api.loganalytics.io" in doc.get("host", "") \
                else ""
            for key in ("paths", "x-ms-paths"):
                for template, item in doc.get(key, {}).items():
                    for method, raw in item.items():
                        if method in HTTP_METHODS:
                            op = Operation(self, path, method, template, raw, base)
                            self.by_id.setdefault(op.op_id, []).append(op)

    # Loading.

    def _load(self, path):
        if path in self.docs:
            return
        with open(path, "rb") as f:
            doc = json.load(f)
        self.docs[path] = doc
        doc.pop("x-ms-examples", None)
        pending = []
        self._absolutise(doc, path, pending)
        if '"discriminator"' in json.dumps(doc.get("definitions", {})):
            raise ValueError("%s uses discriminators, which the simulator's validator does "
                             "not implement" % path)
        for other in pending:
            self._load(other)

    def _absolutise(self, node, path, pending):
        """Rewrites every $ref below node to "<absolute file>#<pointer>"."""
        if isinstance(node, dict):
            node.pop("x-ms-examples", None)
            ref = node.get("$ref")
            if isinstance(ref, str):
                file, _, pointer = ref.partition("#")
                target = os.path.normpath(os.path.join(os.path.dirname(path), file)) \
                    if file else path
                node["$ref"] = target + "#" + pointer
                if target != path and target not in pending:
                    pending.append(target)
            for value in node.values():
                self._absolutise(value, path, pending)
        elif isinstance(node, list):
            for value in node:
                self._absolutise(value, path, pending)

    def resolve(self, node):
        """node with $refs followed (to a node without one)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            file, _, pointer = node["$ref"].partition("#")
            target = self.docs[file]
            for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
            if seen > 50:
                raise ValueError("a $ref loop at %s" % pointer)
        return node

    def flatten(self, schema):
        """A schema with $ref and allOf folded in: properties, required,
        readOnly names merged from every part."""
        schema = self.resolve(schema)
        if "allOf" not in schema:
            return schema
        out = {k: v for k, v in schema.items() if k != "allOf"}
        props = dict(out.get("properties", {}))
        required = list(out.get("required", []))
        for part in schema["allOf"]:
            flat = self.flatten(part)
            for name, prop in flat.get("properties", {}).items():
                props.setdefault(name, prop)
            required += [r for r in flat.get("required", []) if r not in required]
            for key in ("type", "additionalProperties"):
                if key in flat and key not in out:
                    out[key] = flat[key]
        out["properties"] = props
        out["required"] = required
        return out

    # Lookup.

    def operation(self, op_id):
        """The operations of an operationId (KeyError when no file has
        it)."""
        return self.by_id[op_id]

    def versions(self, op_id):
        return sorted({op.version for op in self.by_id[op_id]})

    def pick(self, op_id, api_version):
        """The operation of op_id for an api-version (None: no file of
        that version has it); data-plane operations (no api-version
        parameter) take the newest file."""
        ops = self.by_id[op_id]
        if not ops[0].arm:
            return ops[-1]
        for op in ops:
            if op.version == api_version:
                return op
        return None

    # Checks.

    def check_path(self, op, path):
        match = op.path_re.fullmatch(path)
        if not match:
            return [Violation("path", "%s does not match %s's path %s"
                              % (path, op.op_id, op.template))]
        values = {op.path_names[i]: match.group("p%d" % i) for i in range(len(op.path_names))}
        out = []
        for p in op.params:
            if p.get("in") == "path" and p["name"] in values:
                out += check_scalar(p, values[p["name"]], p["name"], as_text=True)
        return out

    def check_query(self, op, query):
        out = []
        for p in op.params:
            if p.get("in") != "query" or p["name"] == "api-version":
                continue
            values = query.get(p["name"])
            if not values:
                if p.get("required"):
                    out.append(Violation(p["name"], "The query parameter '%s' is required."
                                         % p["name"]))
                continue
            out += check_scalar(p, values[-1], p["name"], as_text=True)
        return out

    def check_body(self, op, body, present):
        """(violations, body without readOnly properties)."""
        param = op.body_param()
        if param is None:
            return [], body
        if not present:
            if param.get("required"):
                return [Violation("", "The request content was invalid: a request body is "
                                  "required.")], body
            return [], body
        body = copy.deepcopy(body)
        out = []
        self.check_value(param.get("schema", {}), body, "", out)
        return out, body

    def check_value(self, schema, value, where, out):
        name = schema.get("$ref", "").rpartition("/")[2] if isinstance(schema, dict) else ""
        schema = self.flatten(schema)
        if name and "x-ms-client-name" not in schema:
            schema = dict(schema, title=name)
        kind = schema.get("type") or ("object" if "properties" in schema
                                      or "additionalProperties" in schema else None)
        if kind == "object":
            return self._check_object(schema, value, where, out)
        if kind == "array":
            if not isinstance(value, list):
                out.append(Violation(where, "Error converting value %s to type 'array'. "
                                     "Path '%s'." % (short(value), where)))
                return None
            for i, item in enumerate(value):
                self.check_value(schema.get("items", {}), item, "%s[%d]" % (where, i), out)
            return None
        out += check_scalar(schema, value, where)
        return None

    def _check_object(self, schema, value, where, out):
        if not isinstance(value, dict):
            out.append(Violation(where, "Error converting value %s to type 'object'. Path "
                                 "'%s'." % (short(value), where)))
            return
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name in schema.get("required", []):
            if name not in value:
                out.append(Violation(join(where, name), "Required property '%s' not found in "
                                     "JSON. Path '%s'." % (name, where)))
        for name in list(value):
            target = join(where, name)
            if name in props:
                prop = self.flatten(props[name])
                if prop.get("readOnly"):
                    del value[name]  # accepted and ignored, as ARM does
                    continue
                if value[name] is None:
                    continue  # JSON null: the property left unset
                self.check_value(props[name], value[name], target, out)
            elif isinstance(extra, dict):
                self.check_value(extra, value[name], target, out)
            elif extra is not True:
                out.append(Violation(target, "Could not find member '%s' on object of type "
                                     "'%s'. Path '%s'." % (name, type_name(schema), target)))

    def strip_secrets(self, schema, value):
        """value without the x-ms-secret properties its schema names."""
        schema = self.flatten(schema)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for name in list(value):
                if name in props:
                    if self.flatten(props[name]).get("x-ms-secret"):
                        del value[name]
                    else:
                        self.strip_secrets(props[name], value[name])
                elif isinstance(extra, dict):
                    self.strip_secrets(extra, value[name])
        elif isinstance(value, list) and "items" in schema:
            for item in value:
                self.strip_secrets(schema["items"], item)
        return value

    def response_schema(self, op, status):
        resp = op.responses.get(str(status))
        return resp.get("schema") if resp else None


def join(where, name):
    return "%s.%s" % (where, name) if where else name


def short(value):
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def type_name(schema):
    return schema.get("x-ms-client-name") or schema.get("title") or "object"


def check_scalar(schema, value, where, as_text=False):
    """Violations of a string, number, integer or boolean value. as_text:
    value is a path or query parameter's text, converted first."""
    kind = schema.get("type", "string")
    if as_text and kind in ("integer", "number", "boolean"):
        value = convert_text(kind, value)
        if value is None:
            return [Violation(where, "The value of '%s' is not a valid %s." % (where, kind))]
    out = []
    if kind == "string":
        if not isinstance(value, str):
            return [Violation(where, "Error converting value %s to type 'string'. Path '%s'."
                              % (short(value), where))]
        fmt = schema.get("format")
        bad = (fmt == "date-time" and not DATE_TIME.fullmatch(value)) or \
            (fmt == "duration" and not DURATION.fullmatch(value)) or \
            (fmt == "uuid" and not UUID.fullmatch(value))
        if bad:
            out.append(Violation(where, "The value %s of '%s' is not a valid %s."
                                 % (short(value), where, fmt)))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(Violation(where, "The value %s of '%s' does not match the pattern %s."
                                 % (short(value), where, schema["pattern"])))
        if len(value) < schema.get("minLength", 0) or \
                len(value) > schema.get("maxLength", len(value)):
            out.append(Violation(where, "The length of '%s' must be from %s to %s characters."
                                 % (where, schema.get("minLength", 0),
                                    schema.get("maxLength", "any number of"))))
    elif kind == "boolean":
        if not isinstance(value, bool):
            return [Violation(where, "Error converting value %s to type 'boolean'. Path "
                              "'%s'." % (short(value), where))]
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [Violation(where, "Error converting value %s to type 'integer'. Path "
                              "'%s'." % (short(value), where))]
        low, high = INT_RANGE.get(schema.get("format"), INT_RANGE["int64"])
        if not low <= value <= high:
            out.append(Violation(where, "The value %d of '%s' is out of range for %s."
                                 % (value, where, schema.get("format", "int64"))))
        out += check_bounds(schema, value, where)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [Violation(where, "Error converting value %s to type 'number'. Path "
                              "'%s'." % (short(value), where))]
        out += check_bounds(schema, value, where)
    if "enum" in schema and value not in schema["enum"]:
        out.append(Violation(where, "The value %s of '%s' is not one of the allowed values: "
                             "%s." % (short(value), where,
                                      ", ".join(json.dumps(e) for e in schema["enum"]))))
    return out


def check_bounds(schema, value, where):
    if "minimum" in schema and value < schema["minimum"]:
        return [Violation(where, "The value of '%s' must be at least %s." % (where,
                                                                          schema["minimum"]))]
    if "maximum" in schema and value > schema["maximum"]:
        return [Violation(where, "The value of '%s' must be at most %s." % (where,
                                                                         schema["maximum"]))]
    return []


def convert_text(kind, text):
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower())
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return None

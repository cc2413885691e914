"""The rest-json protocol (Lambda, EFS), driven by the botocore model: each
operation's http.method and http.requestUri route a request; its input
members are read from where their "location" says (uri label, querystring,
header, headers prefix map, the payload member, or the JSON body); outputs
go back the same way (statusCode, header members, payload or JSON body),
and errors as rest-json clients parse them (X-Amzn-ErrorType header plus a
JSON body; EFS's error shapes add "ErrorCode")."""

import base64
import json
import re
from urllib.parse import unquote

from awssim_shapes import known_members, validate
from awssim_util import AwsError


class Route:
    def __init__(self, op_model):
        http = op_model.http
        self.op_model = op_model
        self.name = op_model.name
        self.method = http["method"].upper()
        path, _, query = http["requestUri"].partition("?")
        # Literal query parts of the URI ("?List=ALL", "?find=LayerVersion")
        # must be present in the request.
        self.required_query = [tuple(p.partition("=")[::2]) for p in query.split("&") if p]
        self.labels = []
        pattern = ""
        for piece in re.split(r"(\{[^}]+\})", path):
            if piece.startswith("{"):
                label = piece[1:-1]
                greedy = label.endswith("+")
                label = label.rstrip("+")
                self.labels.append(label)
                pattern += "(?P<%s>%s)" % (_group(label), ".+" if greedy else "[^/]+")
            else:
                pattern += re.escape(piece)
        self.regex = re.compile(pattern + "$")
        # More literal text first: /functions/{F}/configuration before
        # /functions/{F}.
        self.weight = (len(re.sub(r"\{[^}]+\}", "", path)), len(self.required_query))

    def match(self, method, raw_path, query_pairs):
        if method != self.method:
            return None
        m = self.regex.match(raw_path)
        if m is None:
            return None
        keys = {k for k, _ in query_pairs}
        for name, value in self.required_query:
            if name not in keys:
                return None
        return {label: unquote(m.group(_group(label))) for label in self.labels}


def _group(label):
    return "L" + re.sub(r"\W", "_", label)


class RestRouter:
    """The operations of one rest-json service model, by method and path."""

    def __init__(self, model):
        self.model = model
        self.routes = sorted((Route(model.operation_model(name)) for name in model.operation_names),
                             key=lambda r: r.weight, reverse=True)
        self.prefixes = {r.op_model.http["requestUri"].split("/")[1] for r in self.routes}

    def owns(self, raw_path):
        """Whether the path starts like one of this service's URIs."""
        return raw_path.split("/")[1] in self.prefixes if raw_path.startswith("/") else False

    def match(self, method, raw_path, query_pairs):
        """(operation name, uri labels) or None; a path that matches with
        another method gives (None, None)."""
        path_matched = False
        for route in self.routes:
            labels = route.match(method, raw_path, query_pairs)
            if labels is not None:
                return route.name, labels
            if route.regex.match(raw_path):
                path_matched = True
        return (None, None) if path_matched else None


def _scalar(shape, text):
    """A querystring or header value in its shape's type (the text itself
    when it does not parse: validation reports it)."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "jsonvalue" or shape.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text))
        except ValueError:
            return text
    return text


def parse_input(op_model, labels, query_pairs, headers, body):
    """The input parameters of a rest-json request and the validation
    problems found; a raw (blob/string) payload member is returned as
    bytes/str and left out of validation. Raises AwsError
    (code "SerializationException") for a body that is not JSON."""
    shape = op_model.input_shape
    if shape is None:
        return {}, []
    params = {}
    payload_name = shape.serialization.get("payload")
    body_members = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = labels[wire]
        elif location == "querystring":
            if member.type_name == "list":
                values = [v for k, v in query_pairs if k == wire]
                if values:
                    params[name] = [_scalar(member.member, v) for v in values]
            elif member.type_name == "map":
                taken = {m.serialization.get("name", n) for n, m in shape.members.items()
                         if m.serialization.get("location") == "querystring"}
                values = {k: v for k, v in query_pairs if k not in taken}
                if values:
                    params[name] = values
            else:
                values = [v for k, v in query_pairs if k == wire]
                if values:
                    params[name] = _scalar(member, values[0])
        elif location == "header":
            value = headers.get(wire)
            if value is not None:
                params[name] = _scalar(member, value)
        elif location == "headers":
            prefix = wire.lower()
            values = {k[len(prefix):]: v for k, v in headers.items()
                      if k.lower().startswith(prefix)}
            if values:
                params[name] = values
        elif name == payload_name:
            pass
        else:
            body_members[name] = member
    raw = None
    if payload_name is not None:
        member = shape.members[payload_name]
        if member.type_name in ("blob", "string"):
            raw = body if member.type_name == "blob" else body.decode("utf-8", "replace")
        elif body:
            params[payload_name] = _json(body)
    elif body_members and body:
        document = _json(body)
        for name in body_members:
            wire = body_members[name].serialization.get("name", name)
            if wire in document:
                params[name] = document.pop(wire)
        for name, value in document.items():  # unknown: reported, then dropped
            params[name] = value
    problems = validate(shape, params, timestamps="any")
    if not any(p.kind == "type" for p in problems):
        params = known_members(shape, params)
    if raw is not None:
        params[payload_name] = raw
    return params, problems


def _json(body):
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise AwsError("SerializationException", str(exc)) from exc
    if not isinstance(document, dict):
        raise AwsError("SerializationException", "Start of list found where not expected")
    return document


def output_for_validation(op_model, result):
    """result without a raw payload member (bytes), for validate()."""
    shape = op_model.output_shape
    if shape is None or result is None:
        return result or {}
    payload = shape.serialization.get("payload")
    if payload and shape.members[payload].type_name in ("blob", "string"):
        return {k: v for k, v in result.items() if k != payload}
    return result


def serialize_output(op_model, result):
    """(status, headers, body bytes, content type) of a result dict."""
    status = op_model.http.get("responseCode", 200)
    headers = {}
    shape = op_model.output_shape
    if shape is None or result is None:
        return status, headers, b"", None
    body_doc = {}
    payload_name = shape.serialization.get("payload")
    raw = None
    for name, value in result.items():
        member = shape.members.get(name)
        if member is None or value is None:
            continue
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "statusCode":
            status = value
        elif location == "header":
            headers[wire] = _header_text(value)
        elif location == "headers":
            for key, item in value.items():
                headers[wire + key] = _header_text(item)
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                raw = value.encode() if isinstance(value, str) else value
            else:
                raw = json.dumps(value).encode()
        else:
            body_doc[wire] = value
    if payload_name is not None:
        return status, headers, raw or b"", "application/json"
    if not body_doc and status == 204:
        return status, headers, b"", None
    return status, headers, json.dumps(body_doc).encode(), "application/json"


def _header_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error_document(model, code, message, status):
    """The JSON body of a rest-json error; the message member is spelled
    as the model's error shape spells it (Lambda uses both "Message" and
    "message")."""
    key = "message"
    document = {"Type": "Service" if status >= 500 else "User"}
    try:
        shape = model.shape_for(code)
        if "Message" in shape.members and "message" not in shape.members:
            key = "Message"
        if "ErrorCode" in shape.members:  # EFS: {"ErrorCode": ..., "Message": ...}
            document["ErrorCode"] = code
    except Exception:  # not a modelled error (auth, validation)
        pass
    document[key] = message
    return document

#!/usr/bin/python3
"""Generates specs/web-fields.json, the field table the Azure simulator
validates Microsoft.Web requests against (azuresim_web), from the models
of azure-mgmt-web as Debian's python3-azure ships them.

Run at development time only, against the package unpacked into /tmp:

    cd /tmp && apt-get download python3-azure && dpkg-deb -x python3-azure_*.deb azpkg
    tests/sim/azure/tools/gen_web_fields.py \\
        /tmp/azpkg/usr/lib/python3/dist-packages/azure/mgmt/web > tests/sim/azure/specs/web-fields.json

The models are read with `ast` (nothing is imported, so azure-core and
msrest need not be installed): each class's `_attribute_map` (wire name,
flattened "properties.x" keys included, and msrest type), `_validation`
(readonly, required, minimum/maximum) and the `:vartype` lines of its
docstring (the enum a string property takes, whose values come from the
enums module). The URL of each operation comes from the operations
modules' `<method>.metadata = {'url': ...}`, checked against the path the
table serves. The output is a Swagger 2.0 document (paths with
operationIds, parameters, definitions), so the simulator's spec loader
(azuresim_spec.Spec) reads it like the vendored specs.

The newest models python3-azure 20230112 ships are v2022_03_01 (azure-mgmt-web
7.0.0); Interface W fixes api-version 2022-09-01 for every call, so the table
serves those models under 2022-09-01 (info.version) and says where they came
from in x-generated-from."""

import ast
import json
import os
import re
import sys

MODELS_VERSION = "v2022_03_01"
API_VERSION = "2022-09-01"
SITES = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" \
    "Microsoft.Web/sites"
FARMS = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" \
    "Microsoft.Web/serverfarms"
# (operationId, method, path, operations module, python method, body model,
#  response model, extra query parameters [(name, type)], answer codes)
OPERATIONS = [
    ("WebApps_ListByResourceGroup", "get", SITES, "_web_apps_operations",
     "list_by_resource_group", None, "WebAppCollection", [("includeSlots", "boolean")],
     ["200"]),
    ("WebApps_Get", "get", SITES + "/{name}", "_web_apps_operations", "get", None, "Site", [],
     ["200", "404"]),
    ("WebApps_CreateOrUpdate", "put", SITES + "/{name}", "_web_apps_operations",
     "begin_create_or_update", "Site", "Site", [], ["200", "202"]),
    ("WebApps_Delete", "delete", SITES + "/{name}", "_web_apps_operations", "delete", None,
     None, [("deleteMetrics", "boolean"), ("deleteEmptyServerFarm", "boolean")],
     ["200", "204"]),
    ("WebApps_UpdateApplicationSettings", "put", SITES + "/{name}/config/appsettings",
     "_web_apps_operations", "update_application_settings", "StringDictionary",
     "StringDictionary", [], ["200"]),
    ("WebApps_ListApplicationSettings", "post", SITES + "/{name}/config/appsettings/list",
     "_web_apps_operations", "list_application_settings", None, "StringDictionary", [],
     ["200"]),
    ("WebApps_UpdateConfiguration", "patch", SITES + "/{name}/config/web",
     "_web_apps_operations", "update_configuration", "SiteConfigResource",
     "SiteConfigResource", [], ["200"]),
    ("WebApps_Restart", "post", SITES + "/{name}/restart", "_web_apps_operations", "restart",
     None, None, [("softRestart", "boolean"), ("synchronous", "boolean")], ["200"]),
    ("WebApps_Stop", "post", SITES + "/{name}/stop", "_web_apps_operations", "stop", None,
     None, [], ["200"]),
    ("WebApps_Start", "post", SITES + "/{name}/start", "_web_apps_operations", "start", None,
     None, [], ["200"]),
    ("WebApps_ListHostKeys", "post", SITES + "/{name}/host/default/listkeys",
     "_web_apps_operations", "list_host_keys", None, "HostKeys", [], ["200"]),
    ("AppServicePlans_ListByResourceGroup", "get", FARMS, "_app_service_plans_operations",
     "list_by_resource_group", None, "AppServicePlanCollection", [("detailed", "boolean")],
     ["200"]),
    ("AppServicePlans_Get", "get", FARMS + "/{name}", "_app_service_plans_operations", "get",
     None, "AppServicePlan", [], ["200", "404"]),
]
SCALARS = {"str": {"type": "string"}, "int": {"type": "integer", "format": "int32"},
           "long": {"type": "integer", "format": "int64"}, "bool": {"type": "boolean"},
           "float": {"type": "number"}, "iso-8601": {"type": "string", "format": "date-time"},
           "rfc-1123": {"type": "string"}, "duration": {"type": "string", "format": "duration"},
           "bytearray": {"type": "string"}, "base64": {"type": "string"},
           "date": {"type": "string"},
           # msrest "object": any JSON; the table takes an object of anything
           "object": {"type": "object", "additionalProperties": True}}
VARTYPE = re.compile(r":vartype (\w+): (?:str|list\[str\]) or ~azure\.mgmt\.web\.\w+\.models\."
                     r"(\w+)")


def literal_dicts(cls):
    out = {}
    for node in cls.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in ("_attribute_map", "_validation", "_subtype_map"):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def load_models(models_dir):
    with open(os.path.join(models_dir, "_models_py3.py")) as f:
        tree = ast.parse(f.read())
    models = {}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            d = literal_dicts(cls)
            d["enums"] = dict(VARTYPE.findall(ast.get_docstring(cls) or ""))
            models[cls.name] = d
    with open(os.path.join(models_dir, "_web_site_management_client_enums.py")) as f:
        tree = ast.parse(f.read())
    enums = {}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            enums[cls.name] = [ast.literal_eval(n.value) for n in cls.body
                               if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)]
    return models, enums


class Builder:
    def __init__(self, models, enums):
        self.models = models
        self.enums = enums
        self.definitions = {}

    def type_schema(self, msrest_type):
        if msrest_type in SCALARS:
            return dict(SCALARS[msrest_type])
        if msrest_type.startswith("[") and msrest_type.endswith("]"):
            return {"type": "array", "items": self.type_schema(msrest_type[1:-1])}
        if msrest_type.startswith("{") and msrest_type.endswith("}"):
            return {"type": "object", "additionalProperties": self.type_schema(msrest_type[1:-1])}
        if msrest_type in self.enums:
            return {"type": "string", "enum": self.enums[msrest_type]}
        self.define(msrest_type)
        return {"$ref": "#/definitions/" + msrest_type}

    def define(self, name):
        if name in self.definitions:
            return
        model = self.models.get(name)
        if model is None:
            raise SystemExit("gen_web_fields: no model %s" % name)
        if model.get("_subtype_map"):
            raise SystemExit("gen_web_fields: %s is polymorphic (the validator has no "
                             "discriminators)" % name)
        schema = {"type": "object", "properties": {}}
        self.definitions[name] = schema
        validation = model.get("_validation", {})
        for attr, info in model.get("_attribute_map", {}).items():
            prop = self.type_schema(info["type"])
            enum = model["enums"].get(attr)
            if enum in self.enums:
                target = prop["items"] if prop.get("type") == "array" else prop
                if target.get("type") == "string":
                    target["enum"] = self.enums[enum]
            rules = validation.get(attr, {})
            for key in ("minimum", "maximum", "pattern", "max_length", "min_length"):
                if key in rules:
                    prop[{"max_length": "maxLength", "min_length": "minLength"}.get(key, key)] = \
                        rules[key]
            if rules.get("readonly"):
                prop["readOnly"] = True
            parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", info["key"])]
            holder = schema
            for part in parts[:-1]:
                holder = holder["properties"].setdefault(
                    part, {"type": "object", "x-ms-client-flatten": True, "properties": {}})
            holder["properties"][parts[-1]] = prop
            if rules.get("required"):
                holder.setdefault("required", []).append(parts[-1])


def operation_url(ops_dir, module, method):
    with open(os.path.join(ops_dir, module + ".py")) as f:
        text = f.read()
    match = re.search(r"^    %s\.metadata = \{'url': \"([^\"]+)\"\}" % re.escape(method), text,
                      re.MULTILINE)
    if not match:
        raise SystemExit("gen_web_fields: %s.%s has no metadata url" % (module, method))
    return match.group(1)


def main(argv):
    if len(argv) != 2:
        raise SystemExit("usage: gen_web_fields.py <.../dist-packages/azure/mgmt/web>")
    root = os.path.join(argv[1], MODELS_VERSION)
    models, enums = load_models(os.path.join(root, "models"))
    builder = Builder(models, enums)
    common = {
        "subscriptionId": {"name": "subscriptionId", "in": "path", "required": True,
                           "type": "string"},
        "resourceGroupName": {"name": "resourceGroupName", "in": "path", "required": True,
                              "type": "string", "minLength": 1, "maxLength": 90,
                              "pattern": r"^[-\w\._\(\)]+[^\.]$"},
        "name": {"name": "name", "in": "path", "required": True, "type": "string"},
        "api-version": {"name": "api-version", "in": "query", "required": True,
                        "type": "string"},
    }
    paths = {}
    for op_id, method, path, module, pymethod, body, answer, query, codes in OPERATIONS:
        url = operation_url(os.path.join(root, "operations"), module, pymethod)
        if url != path:
            raise SystemExit("gen_web_fields: %s is %s in the package, not %s"
                             % (op_id, url, path))
        params = [{"$ref": "#/parameters/" + n} for n in ("subscriptionId", "resourceGroupName")]
        if "{name}" in path:
            params.append({"$ref": "#/parameters/name"})
        params.append({"$ref": "#/parameters/api-version"})
        params += [{"name": n, "in": "query", "required": False, "type": t} for n, t in query]
        if body:
            params.append({"name": body[0].lower() + body[1:], "in": "body", "required": True,
                           "schema": builder.type_schema(body)})
        responses = {}
        for code in codes:
            responses[code] = {"description": "answer"}
            if answer and code in ("200", "202") and not (op_id.endswith("CreateOrUpdate") and
                                                          code == "202"):
                responses[code]["schema"] = builder.type_schema(answer)
        responses["default"] = {"description": "error"}
        paths.setdefault(path, {})[method] = {"operationId": op_id, "parameters": params,
                                              "responses": responses}
    doc = {
        "swagger": "2.0",
        "info": {"title": "WebSiteManagementClient (Microsoft.Web field table)",
                 "version": API_VERSION},
        "x-generated-from": "python3-azure 20230112 (azure-mgmt-web 7.0.0), models %s, by "
                            "tests/sim/azure/tools/gen_web_fields.py" % MODELS_VERSION,
        "host": "management.azure.com",
        "paths": paths,
        "parameters": common,
        "definitions": dict(sorted(builder.definitions.items())),
    }
    json.dump(doc, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)

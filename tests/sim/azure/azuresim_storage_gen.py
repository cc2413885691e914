"""Writes specs/storage-fields.json, the field table azuresim_storage
validates Microsoft.Storage bodies against, from the models of
azure-mgmt-storage (Debian's python3-azure, not a dependency: download
and unpack it, do not install it):

    apt-get download python3-azure
    dpkg -x python3-azure_*.deb /tmp/pyaz
    python3 azuresim_storage_gen.py \
        /tmp/pyaz/usr/lib/python3/dist-packages/azure/mgmt/storage v2022_09_01

The models are read as text (ast), never imported. For each model the
table has its wire fields ("properties.shareQuota"), their msrest types
("int", "str", "{str}", "[SignedIdentifier]", "iso-8601"), readonly,
required and the numeric/length bounds of _validation, and the enum
values (the "Known values" of the enums module) of the string fields
whose docstring names one."""

import ast
import json
import os
import re
import sys

MODELS = ("FileShare", "FileShareItem", "FileShareItems", "SignedIdentifier", "AccessPolicy",
          "StorageAccount", "StorageAccountKey", "StorageAccountListKeysResult", "Sku",
          "Endpoints")
ENUMS = {"FileShare.properties.enabledProtocols": "EnabledProtocols",
         "FileShare.properties.rootSquash": "RootSquashType",
         "FileShare.properties.accessTier": "ShareAccessTier"}


def _classes(path):
    tree = ast.parse(open(path).read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = node
    return out


def _class_dict(node, name):
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            return ast.literal_eval(stmt.value)
    return {}


def _enum_values(node):
    values = []
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
            values.append(stmt.value.value)
    return values


def main(root, version):
    base = os.path.join(root, version, "models")
    classes = _classes(os.path.join(base, "_models_py3.py"))
    enums = _classes(os.path.join(base, "_storage_management_client_enums.py"))
    conf = open(os.path.join(root, version, "_configuration.py")).read()
    api = re.search(r'api_version", "([0-9-]+)"', conf).group(1)
    pkg = re.search(r'VERSION = "([^"]+)"', open(os.path.join(root, "_version.py")).read())
    table = {"source": "azure-mgmt-storage %s, models %s (Debian python3-azure)"
                       % (pkg.group(1), version),
             "api_version": api, "models": {}}
    for name in MODELS:
        node = classes[name]
        amap = _class_dict(node, "_attribute_map")
        # Inherited fields (Resource, AzureEntityResource, TrackedResource).
        for b in node.bases:
            parent = classes.get(getattr(b, "id", ""))
            while parent is not None:
                amap = dict(_class_dict(parent, "_attribute_map"), **amap)
                nxt = [classes.get(getattr(x, "id", "")) for x in parent.bases]
                parent = nxt[0] if nxt else None
        valid = _class_dict(node, "_validation")
        fields = {}
        for attr, spec in amap.items():
            f = {"type": spec["type"]}
            f.update(valid.get(attr, {}))
            enum = ENUMS.get("%s.%s" % (name, spec["key"]))
            if enum:
                f["enum"] = _enum_values(enums[enum])
            fields[spec["key"]] = f
        table["models"][name] = fields
    return table


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs",
                       "storage-fields.json")
    with open(out, "w") as f:
        json.dump(main(sys.argv[1], sys.argv[2]), f, indent=1, sort_keys=True)
        f.write("\n")
    print(out)

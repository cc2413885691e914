"""Helpers of the azfunc suites: an ARM token from the Azure simulator with
the stack's client secret, ARM calls of the resource group (Microsoft.Web
unless told), the pool's sites as Microsoft.Web lists them, and the
simulator's call counts."""
import json
import os
import urllib.parse
import urllib.request

RUN = os.environ.get("SK_RUN_DIR", "")
API = "2022-09-01"


def sim_url():
    port = os.environ.get("SK_AZ_SIM_PORT")
    if not port:
        port = str(int(os.environ.get("SK_SIM_PORT", "35201")) + 4)
    return f"http://127.0.0.1:{port}"


def creds():
    out = {}
    with open(os.path.join(RUN, "azure", "creds.env")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                out[k] = v.strip("'\"")
    return out


def token():
    c = creds()
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": c["AZURE_CLIENT_ID"],
        "client_secret": c["AZURE_CLIENT_SECRET"],
        "scope": "https://management.azure.com/.default"}).encode()
    url = f"{c['AZURE_AUTHORITY_HOST'].rstrip('/')}/{c['AZURE_TENANT_ID']}/oauth2/v2.0/token"
    with urllib.request.urlopen(url, form, timeout=30) as r:
        return json.load(r)["access_token"]


def rg_path():
    c = creds()
    return (f"/subscriptions/{c['AZURE_SUBSCRIPTION_ID']}/resourceGroups/"
            f"{c.get('AZURE_SK_RESOURCE_GROUP', 'sockerless')}")


def arm(method, path, body=None, provider="Microsoft.Web", api=API):
    sep = "&" if "?" in path else "?"
    url = f"{sim_url()}{rg_path()}/providers/{provider}/{path}{sep}api-version={api}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, method=method,
                                 headers={"Authorization": "Bearer " + token(),
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def pool_sites():
    """The names of the pool's sites (tag sockerless-pool), every page."""
    names, page = [], arm("GET", "sites")
    while True:
        names += [s["name"] for s in page.get("value", [])
                  if (s.get("tags") or {}).get("sockerless-pool") == "1"]
        if not page.get("nextLink"):
            return names
        req = urllib.request.Request(page["nextLink"],
                                     headers={"Authorization": "Bearer " + token()})
        with urllib.request.urlopen(req, timeout=30) as r:
            page = json.load(r)


def sim_calls():
    with urllib.request.urlopen(sim_url() + "/_sim/calls", timeout=10) as r:
        return json.load(r)

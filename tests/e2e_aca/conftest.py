"""Fixtures of the Container Apps end-to-end suite: the same helpers as
tests/e2e (e2e_lib, backend_suite), run against a stack whose backend is
sockerless-backend-aca on the Azure simulator. tests/run.sh swaps the
backend of the running stack to aca before this suite, without restarting
the frontend."""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import backend_suite  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.environ.get("SK_RUN_DIR", "")


def az_sim_url():
    """The Azure simulator of the stack (SK_AZ_SIM_PORT, or the ports.env
    of SK_RUN_DIR), or None."""
    port = os.environ.get("SK_AZ_SIM_PORT")
    if not port and RUN and os.path.exists(os.path.join(RUN, "ports.env")):
        with open(os.path.join(RUN, "ports.env")) as f:
            for line in f:
                if line.startswith("SK_AZ_SIM_PORT="):
                    port = line.split("=", 1)[1].strip()
    return f"http://127.0.0.1:{port}" if port else None


def az_sim_calls():
    """GET /_sim/calls: {"Jobs_Start": n, ...}."""
    with urllib.request.urlopen(az_sim_url() + "/_sim/calls", timeout=30) as resp:
        return json.loads(resp.read())


def az_jobs():
    """The simulator's jobs by name (its saved state, written on every
    change), or None without the stack's run directory."""
    path = os.path.join(RUN, "azure", "sim", "azapp.json") if RUN else ""
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f).get("jobs") or {}


globals().update(backend_suite.fixtures(HERE, "aca", "skaca", rm_timeout=300))

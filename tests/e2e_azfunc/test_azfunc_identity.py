"""azfunc.registry_identity: the backend restarted with a user-assigned
identity (made on the simulator's Microsoft.ManagedIdentity) reads its
clientId at start-up, its sites carry the identity and pull the derived
image from the private registry (the simulator's ACR) with it, and a
`docker run --rm` works; an identity that does not exist stops the start-up
with a sentence naming azfunc.registry_identity."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))
from hard_durable_lib import RUN, kill_backend, restart_backend  # noqa: E402
from azfunc_lib import arm, pool_sites, rg_path  # noqa: E402

pytestmark = pytest.mark.skipif(not RUN, reason="needs SK_RUN_DIR (the local default)")
MSI = "Microsoft.ManagedIdentity"
MSI_API = "2023-01-31"


def _tail(path, size):
    with open(path, errors="replace") as f:
        f.seek(size)
        return f.read()


def test_registry_identity_pulls_private_images(docker):
    ident = arm("PUT", "userAssignedIdentities/sk-e2e-pull", {"location": "westeurope"},
                provider=MSI, api=MSI_API)
    cid = ident["properties"]["clientId"]
    sim_log = os.path.join(RUN, "azuresim.log")
    # The pool has a site made without the identity: found again after the
    # restart, it is re-pointed with the identity before it serves a run.
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)
    before = set(pool_sites())
    assert before
    size = os.path.getsize(sim_log)
    kill_backend()
    try:
        restart_backend({"SK_AZFUNC_REGISTRY_IDENTITY": ident["id"]})
        p = docker("run", "--rm", "busybox", "echo", "with-identity", timeout=600)
        assert p.returncode == 0, p.stderr
        assert p.stdout == "with-identity\n"
        sites = {name: arm("GET", "sites/" + name) for name in pool_sites()}
        served = [name for name, site in sites.items()
                  if list(site.get("identity", {}).get("userAssignedIdentities", {})) == [ident["id"]]]
        assert served and set(served) <= before, (served, before)
        for name in served:
            site = sites[name]
            assert site["identity"]["type"] == "UserAssigned"
            config = site["properties"]["siteConfig"]
            assert config["acrUserManagedIdentityID"] == cid
            assert config["acrUseManagedIdentityCreds"] is True
        text = _tail(sim_log, size)
        assert "with the user-assigned identity %s (clientId %s)" % (ident["id"], cid) in text
    finally:
        # Without the identity again: the sites that carry it are
        # re-pointed with their own before their next run.
        restart_backend()


def test_unknown_registry_identity_fails_start_up(docker):
    missing = rg_path() + "/providers/%s/userAssignedIdentities/sk-e2e-none" % MSI
    log = os.path.join(RUN, "backend.log")
    size = os.path.getsize(log)
    try:
        with pytest.raises(Exception):
            restart_backend({"SK_AZFUNC_REGISTRY_IDENTITY": missing})
        text = _tail(log, size)
        assert "reading azfunc.registry_identity " + missing in text, text[-2000:]
        assert "was not found" in text, text[-2000:]
    finally:
        restart_backend()
    docker("run", "--rm", "busybox", "true", check=True, timeout=300)

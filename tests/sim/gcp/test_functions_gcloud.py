"""Google's own client against the simulated Cloud Functions v2 (where
gcloud is installed): `gcloud functions describe --gen2` and `gcloud
functions list --v2` read a function the stub-function flow made, with
the endpoint overridden to the simulator. (`gcloud functions deploy`
first asks Service Usage whether the Run API is enabled, which the
simulator does not serve, so the deploy flow is driven by test_functions'
own client instead.)"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import PROJECT, REGION
from test_functions import create, wait_op

GCLOUD = shutil.which("gcloud") or "/usr/bin/gcloud"


def gcloud(sim, config, *args):
    env = dict(os.environ, CLOUDSDK_CONFIG=config, CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS=sim.endpoint + "/",
               CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1",
               CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1")
    return subprocess.run([GCLOUD] + list(args), env=env, capture_output=True, text=True,
                          timeout=120)


def test_gcloud_describes_and_lists_functions(sim, workdir):
    if not os.path.exists(GCLOUD):
        pytest.skip("gcloud is not installed (/usr/bin/gcloud)")
    config = os.path.join(workdir, "gcloud-config-functions")
    os.makedirs(config, exist_ok=True)
    done = gcloud(sim, config, "auth", "activate-service-account", "--key-file", sim.key_file)
    if done.returncode != 0 and "network" in done.stderr.lower():
        pytest.skip("gcloud needs the network here: " + done.stderr[-300:])
    assert done.returncode == 0, done.stderr
    fn = wait_op(sim, create(sim, "fn-gcloud").json())["response"]
    done = gcloud(sim, config, "functions", "describe", "fn-gcloud", "--gen2", "--region",
                  REGION, "--project", PROJECT, "--format", "json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["state"] == "ACTIVE" and got["url"] == fn["url"]
    assert got["serviceConfig"]["service"].endswith("/services/fn-gcloud")
    done = gcloud(sim, config, "functions", "list", "--v2", "--regions", REGION,
                  "--project", PROJECT, "--format", "value(name)")
    assert done.returncode == 0, done.stderr
    assert "fn-gcloud" in done.stdout.split()
    done = gcloud(sim, config, "functions", "describe", "no-such-fn", "--gen2", "--region",
                  REGION, "--project", PROJECT)
    assert done.returncode != 0 and "was not found" in done.stderr

"""Google's own client against the simulator: gcloud (where installed)
activates the simulator's service-account key (the RS256 grant against
the key file's token_uri), writes a log entry and reads it back with
`gcloud logging read` (its filter, with the freshness timestamp gcloud
adds, orderBy and pageSize), the endpoint overridden to the simulator."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import PROJECT

GCLOUD = shutil.which("gcloud") or "/usr/bin/gcloud"


def gcloud(sim, config, *args):
    env = dict(os.environ, CLOUDSDK_CONFIG=config, CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING=sim.endpoint + "/",
               CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1",
               CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1")
    return subprocess.run([GCLOUD] + list(args), env=env, capture_output=True, text=True,
                          timeout=120)


def test_gcloud_logging_write_and_read(sim, workdir):
    if not os.path.exists(GCLOUD):
        pytest.skip("gcloud is not installed (/usr/bin/gcloud)")
    config = os.path.join(workdir, "gcloud-config")
    os.makedirs(config, exist_ok=True)
    done = gcloud(sim, config, "auth", "activate-service-account", "--key-file", sim.key_file)
    if done.returncode != 0 and "network" in done.stderr.lower():
        pytest.skip("gcloud needs the network here: " + done.stderr[-300:])
    assert done.returncode == 0, done.stderr
    sim.post("/_sim/calls/reset")
    done = gcloud(sim, config, "logging", "write", "sk-gcloud", "hello from gcloud",
                  "--project", PROJECT)
    assert done.returncode == 0, done.stderr
    done = gcloud(sim, config, "logging", "read",
                  'logName="projects/%s/logs/sk-gcloud" AND textPayload:hello' % PROJECT,
                  "--project", PROJECT, "--limit", "5", "--format", "json")
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    assert [e["textPayload"] for e in entries] == ["hello from gcloud"]
    calls = sim.get("/_sim/calls").json()
    assert calls.get("logging.entries.write") == 1 and calls.get("logging.entries.list") == 1
    done = gcloud(sim, config, "logging", "read", 'textPayload=~"x"', "--project", PROJECT)
    assert done.returncode != 0 and "=~" in done.stderr

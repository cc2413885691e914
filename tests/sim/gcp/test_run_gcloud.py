"""Google's own client reads what a Cloud Run job wrote: `gcloud logging
read` (Cloud Logging v2 entries:list) against the simulator finds the
job's stdout, stderr and system lines under Cloud Run's log names.
(`gcloud run jobs` speaks the v1 Knative API, which the simulator does not
serve, so it cannot drive the jobs themselves.) Skipped without gcloud."""

import os
import shutil
import subprocess
import time

import pytest

from gcpsim_run_testlib import PROJECT, gsim  # noqa: F401

GCLOUD = shutil.which("gcloud")


def _read(gsim, flt):
    env = dict(os.environ, CLOUDSDK_CONFIG=os.path.join(gsim.workdir, "gcloud"),
               CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
               CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1",
               CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING=gsim.endpoint + "/")
    token = os.path.join(gsim.workdir, "token")
    with open(token, "w") as f:
        f.write(gsim.token)
    out = subprocess.run([GCLOUD, "logging", "read", flt, "--project", PROJECT,
                          "--access-token-file", token, "--order", "asc",
                          "--format", "value(logName,textPayload,severity)"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def test_gcloud_logging_read(gsim):
    if GCLOUD is None:
        pytest.skip("the gcloud CLI is not installed")
    if "_standin" in gsim.script:
        pytest.skip("the stand-in base serves no Logging filter language")
    gsim.create_job("gcloud-read", command=["sh", "-c", "echo to-out; echo to-err >&2; exit 2"])
    op = gsim.wait_op(gsim.run_job("gcloud-read"))
    ex_id = op["metadata"]["name"].rsplit("/", 1)[1]
    flt = ('resource.type="cloud_run_job" AND resource.labels.job_name="gcloud-read" AND '
           'labels."run.googleapis.com/execution_name"="%s"' % ex_id)
    deadline = time.time() + 30
    while True:
        rows = _read(gsim, flt)
        if len(rows) >= 3 or time.time() > deadline:
            break
        time.sleep(1)
    logs = "projects/%s/logs/run.googleapis.com%%2F" % PROJECT
    assert sorted(rows) == sorted([[logs + "stdout", "to-out", "DEFAULT"],
                                   [logs + "stderr", "to-err", "ERROR"],
                                   [logs + "varlog%2Fsystem", "Container called exit(2).",
                                    "WARNING"]])

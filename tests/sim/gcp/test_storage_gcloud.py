"""Google's own client against the simulator's Cloud Storage: `gcloud
storage` copies a file in (a multipart upload with bare-LF lines and a
quoted boundary), lists it (booleans spelled "True"), reads it back (the
/download/ media path with a generation), describes the bucket and
removes the object. Skipped without gcloud."""

import os
import shutil
import subprocess
import uuid

import pytest

from conftest import PROJECT

GCLOUD = shutil.which("gcloud")


def _gcloud(sim, *args):
    env = dict(os.environ, CLOUDSDK_CONFIG=os.path.join(sim.dir, "gcloud"),
               CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
               CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1",
               CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=sim.endpoint + "/storage/v1/")
    token = os.path.join(sim.dir, "gcloud-token")
    with open(token, "w") as f:
        f.write(sim.token())
    out = subprocess.run([GCLOUD, "storage"] + list(args) + [
        "--access-token-file", token, "--project", PROJECT], env=env, capture_output=True,
        text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_gcloud_storage(sim, tmp_path):
    if GCLOUD is None:
        pytest.skip("the gcloud CLI is not installed")
    bucket = "gcloud-" + uuid.uuid4().hex[:8]
    assert sim.call("POST", "/storage/v1/b?project=%s" % PROJECT,
                    {"name": bucket, "location": "us-central1"}).status == 200
    src = tmp_path / "f.txt"
    src.write_text("from gcloud\n")
    _gcloud(sim, "cp", str(src), "gs://%s/vol/f.txt" % bucket)
    with open(os.path.join(sim.state_dir, "gcs", bucket, "vol", "f.txt")) as f:
        assert f.read() == "from gcloud\n"
    # gcloud shows the directory placeholder "vol/" as a directory of its own.
    listed = _gcloud(sim, "ls", "gs://%s/vol/" % bucket).split()
    assert "gs://%s/vol/f.txt" % bucket in listed, listed
    assert _gcloud(sim, "cat", "gs://%s/vol/f.txt" % bucket) == "from gcloud\n"
    described = _gcloud(sim, "buckets", "describe", "gs://%s" % bucket,
                        "--format", "value(name,location)").split()
    assert described == [bucket, "US-CENTRAL1"]
    _gcloud(sim, "rm", "gs://%s/vol/f.txt" % bucket)
    assert not os.path.exists(os.path.join(sim.state_dir, "gcs", bucket, "vol", "f.txt"))

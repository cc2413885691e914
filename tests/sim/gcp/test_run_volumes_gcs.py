"""Volumes of Cloud Run jobs on the simulator (gcpsim_run_volumes): a
Cloud Storage volume (only-dir prefix) that one job writes and the
bucket's listing shows, a second job reads and a read-only mount refuses
to write to; an NFS volume kept across executions; an in-memory emptyDir;
a missing bucket failing the task; and Cloud Run's checks of volumes and
volume mounts."""

import os
import uuid

from gcpsim_run_testlib import IMAGE, PARENT, PROJECT, error_of, gsim  # noqa: F401


def _job(gsim, job_id, script, volumes, mounts, **tt):
    body = {"template": {"taskCount": 1, "template": dict({
        "containers": [{"image": IMAGE, "command": ["sh", "-c", script],
                        "volumeMounts": mounts}],
        "volumes": volumes, "maxRetries": 0, "timeout": "120s"}, **tt)}}
    return gsim.call("POST", "/v2/%s/jobs?jobId=%s" % (PARENT, job_id), body)


def _run(gsim, job_id, script, volumes, mounts):
    """The finished execution's operation and its task."""
    gsim.wait_op(_job(gsim, job_id, script, volumes, mounts))
    op = gsim.wait_op(gsim.run_job(job_id))
    (task,) = gsim.tasks(op["metadata"]["name"])
    return op, task


def _bucket(gsim):
    name = "vols-" + uuid.uuid4().hex[:8]
    gsim.call("POST", "/storage/v1/b?project=%s" % PROJECT, {"name": name})
    return name


def _gcs(bucket, prefix, read_only=False):
    return [{"name": "data", "gcs": {"bucket": bucket, "readOnly": read_only,
                                     "mountOptions": ["only-dir=" + prefix]}}]


DATA = [{"name": "data", "mountPath": "/data"}]


def test_gcs_volume_write_list_read(gsim):
    bucket = _bucket(gsim)
    op, task = _run(gsim, "gcs-writer", "echo hello > /data/hello.txt && mkdir /data/sub",
                    _gcs(bucket, "volumes/v1"), DATA)
    assert "error" not in op, op
    listing = gsim.call("GET", "/storage/v1/b/%s/o?prefix=volumes%%2Fv1%%2F" % bucket)
    names = [o["name"] for o in listing["items"]]
    assert "volumes/v1/hello.txt" in names and "volumes/v1/sub/" in names, names
    obj = [o for o in listing["items"] if o["name"] == "volumes/v1/hello.txt"][0]
    assert obj["size"] == "6"
    # Only the prefix is visible: a file beside it is not.
    gsim_file = os.path.join(gsim.state_dir, "gcs", bucket, "outside.txt")
    with open(gsim_file, "w") as f:
        f.write("not in the volume")
    op, task = _run(gsim, "gcs-reader",
                    'test "$(cat /data/hello.txt)" = hello && test ! -e /data/outside.txt',
                    _gcs(bucket, "volumes/v1"), DATA)
    assert "error" not in op, (op, task)


def test_gcs_read_only(gsim):
    bucket = _bucket(gsim)
    _run(gsim, "gcs-seed", "echo seed > /data/f", _gcs(bucket, "ro"), DATA)
    op, task = _run(gsim, "gcs-ro", "cat /data/f >/dev/null || exit 5; "
                    "touch /data/new 2>/dev/null && exit 6; exit 0",
                    _gcs(bucket, "ro", read_only=True), DATA)
    assert "error" not in op, task
    listing = gsim.call("GET", "/storage/v1/b/%s/o?prefix=ro%%2F" % bucket)
    assert [o["name"] for o in listing["items"]] == ["ro/", "ro/f"]


def test_gcs_missing_bucket_fails_the_task(gsim):
    op, task = _run(gsim, "gcs-missing", "true", _gcs("no-such-bucket-x1", "v"), DATA)
    assert op["error"], op
    status = task["lastAttemptResult"]["status"]
    assert status["code"] == 9 and "no-such-bucket-x1 of a volume does not exist" in \
        status["message"], task


def test_nfs_volume(gsim):
    nfs = [{"name": "share", "nfs": {"server": "filer.local", "path": "/exports/team"}}]
    mounts = [{"name": "share", "mountPath": "/mnt/share"}]
    op, _ = _run(gsim, "nfs-writer", "echo 42 > /mnt/share/answer", nfs, mounts)
    assert "error" not in op, op
    path = os.path.join(gsim.state_dir, "nfs", "filer.local", "exports", "team", "answer")
    with open(path) as f:
        assert f.read() == "42\n"
    ro = [{"name": "share", "nfs": dict(nfs[0]["nfs"], readOnly=True)}]
    op, task = _run(gsim, "nfs-reader", 'test "$(cat /mnt/share/answer)" = 42 || exit 5; '
                    "touch /mnt/share/x 2>/dev/null && exit 6; exit 0", ro, mounts)
    assert "error" not in op, task


def test_empty_dir(gsim):
    vols = [{"name": "scratch", "emptyDir": {"medium": "MEMORY", "sizeLimit": "16Mi"}}]
    mounts = [{"name": "scratch", "mountPath": "/scratch"}]
    op, task = _run(gsim, "empty-dir", "grep -q ' /scratch tmpfs ' /proc/mounts || exit 5; "
                    "grep ' /scratch ' /proc/mounts | grep -q 'size=16384k' || exit 6; "
                    "echo x > /scratch/f && test -s /scratch/f", vols, mounts)
    assert "error" not in op, task


def _refused(gsim, volumes, mounts, words, **tt):
    err = error_of(_job, gsim, "refused-" + uuid.uuid4().hex[:6], "true", volumes, mounts,
                   **tt)
    assert err.status == 400 and err.error["status"] == "INVALID_ARGUMENT", err.body
    assert words in err.error["message"], err.error["message"]
    return err


def test_volume_checks(gsim):
    gcs = _gcs("some-bucket", "v")
    _refused(gsim, gcs, [{"name": "other", "mountPath": "/data"}],
             'Volume "other" is not defined')
    for path in ("/proc/x", "/", "/dev", "/sys/fs"):
        _refused(gsim, gcs, [{"name": "data", "mountPath": path}], "is reserved")
    for path in ("data", "/a:b", "/a/../b"):
        _refused(gsim, gcs, [{"name": "data", "mountPath": path}], "absolute path")
    _refused(gsim, gcs, DATA + DATA, "used by more than one volume mount")
    opts = [{"name": "data", "gcs": {"bucket": "b-1", "mountOptions": ["--only-dir=x"]}}]
    _refused(gsim, opts, DATA, 'without the leading "--"')
    opts[0]["gcs"]["mountOptions"] = ["uid=1000"]
    _refused(gsim, opts, DATA, '"uid" is not served by the simulator')
    opts[0]["gcs"]["mountOptions"] = ["only-dir=../x"]
    _refused(gsim, opts, DATA, "only-dir names a directory")
    _refused(gsim, [{"name": "data", "emptyDir": {"medium": "DISK"}}], DATA,
             "only MEMORY or none")
    _refused(gsim, [{"name": "data", "emptyDir": {"sizeLimit": "lots"}}], DATA, "quantity")
    _refused(gsim, [{"name": "data", "gcs": {"bucket": "b-1"}, "emptyDir": {}}], DATA,
             "Exactly one volume type")
    _refused(gsim, [{"name": "data", "secret": {"secret": "s"}}], DATA, "not served")
    _refused(gsim, [{"name": "Data_1", "emptyDir": {}}], [], "DNS label")
    _refused(gsim, [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}], [],
             "used more than once")
    _refused(gsim, [{"name": "data", "gcs": {}}], DATA, "require a bucket")
    _refused(gsim, [{"name": "data", "nfs": {"server": "f", "path": "rel"}}], DATA,
             "absolute path")
    _refused(gsim, gcs, DATA, "second generation",
             executionEnvironment="EXECUTION_ENVIRONMENT_GEN1")
    # The discovery document: an unknown field of a volume source.
    err = error_of(_job, gsim, "refused-schema", "true",
                   [{"name": "data", "gcs": {"bucket": "b-1", "bogus": 1}}], DATA)
    assert err.status == 400 and 'Unknown name "bogus"' in err.error["message"]

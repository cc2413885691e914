"""Microsoft.Storage on the simulator (azuresim_storage): the pre-made
account and its keys, file shares (create, get, list, delete, the
service's refusals, the field table's checks), and Container Apps
environment storages mounting those shares: files kept between
executions, subPath, a wrong key or a missing share failing the mount,
a share deleted while in use, the key file and the shared-paths share of
deploy/local.sh, and state across a restart."""

import os
import shutil
import tempfile

import pytest

from azapp_testlib import (ACCOUNT, BASE, ENV_ID, SHARES, STORAGE_API, AzureSim, HttpError,
                           appsim, container, needs_engine)  # noqa: F401


def storage(sim, method, path, body=None, api=STORAGE_API):
    return sim.arm(method, path, body, api=api)


def share_dir(sim, name):
    return os.path.join(sim.state_dir, "azurefiles", "azurefile", "sockerlessvols", name)


def refused(fn, *args, **kw):
    with pytest.raises(HttpError) as err:
        fn(*args, **kw)
    return err.value


def test_premade_account_and_keys(appsim):
    acct = storage(appsim, "GET", ACCOUNT)[1]
    assert acct["kind"] == "StorageV2"
    assert acct["properties"]["largeFileSharesState"] == "Enabled"
    assert acct["id"].endswith("/storageAccounts/sockerlessvols")
    keys = storage(appsim, "POST", ACCOUNT + "/listKeys")[1]["keys"]
    assert [k["keyName"] for k in keys] == ["key1", "key2"]
    assert keys[0]["value"] != keys[1]["value"]
    assert all(k["permissions"] == "FULL" for k in keys)


def test_account_refusals(appsim):
    other = ACCOUNT.replace("sockerlessvols", "nosuchaccount")
    assert refused(storage, appsim, "GET", other).status == 404
    bad = ACCOUNT.replace("sockerlessvols", "Bad_Name")
    assert refused(storage, appsim, "GET", bad).error["code"] == "AccountNameInvalid"
    err = refused(storage, appsim, "GET", ACCOUNT, api="2019-01-01")
    assert err.error["code"] == "NoRegisteredProviderFound"


def test_share_lifecycle(appsim):
    status, share, _ = storage(appsim, "PUT", SHARES + "/life", {"properties": {
        "shareQuota": 100, "enabledProtocols": "SMB", "metadata": {"owner": "sockerless"}}})
    assert status == 201
    assert share["properties"]["shareQuota"] == 100
    assert share["type"] == "Microsoft.Storage/storageAccounts/fileServices/shares"
    assert os.path.isdir(share_dir(appsim, "life"))
    got = storage(appsim, "GET", SHARES + "/life")[1]
    assert got["properties"]["metadata"] == {"owner": "sockerless"}
    assert got["properties"]["enabledProtocols"] == "SMB"
    names = [s["name"] for s in storage(appsim, "GET", SHARES)[1]["value"]]
    assert "life" in names
    err = refused(storage, appsim, "PUT", SHARES + "/life", {"properties": {"shareQuota": 1}})
    assert (err.status, err.error["code"]) == (409, "ShareAlreadyExists")
    assert storage(appsim, "DELETE", SHARES + "/life")[0] == 200
    assert not os.path.exists(share_dir(appsim, "life"))
    err = refused(storage, appsim, "GET", SHARES + "/life")
    assert (err.status, err.error["code"]) == (404, "ShareNotFound")
    err = refused(storage, appsim, "DELETE", SHARES + "/life")
    assert (err.status, err.error["code"]) == (404, "ShareNotFound")


def test_share_list_pages(appsim):
    for i in range(3):
        storage(appsim, "PUT", SHARES + "/page-%d" % i, {"properties": {"shareQuota": 1}})
    status, first, _ = storage(appsim, "GET", SHARES)
    seen = [s["name"] for s in first["value"]]
    link = first.get("nextLink")
    while link:
        _, page, _ = appsim.arm("GET", link)
        seen += [s["name"] for s in page["value"]]
        link = page.get("nextLink")
    assert {"page-0", "page-1", "page-2"} <= set(seen)


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Upper", "two--hyphens", "-start", "end-",
                                  "under_score"])
def test_share_name_rules(appsim, name):
    err = refused(storage, appsim, "PUT", SHARES + "/" + name, {"properties": {}})
    assert (err.status, err.error["code"]) == (400, "InvalidResourceName")


@pytest.mark.parametrize("props,target", [
    ({"shareQuota": 0}, "properties.shareQuota"),
    ({"shareQuota": 102401}, "properties.shareQuota"),
    ({"shareQuota": "5"}, "properties.shareQuota"),
    ({"enabledProtocols": "CIFS"}, "properties.enabledProtocols"),
    ({"metadata": {"a": 1}}, "properties.metadata"),
    ({"quota": 5}, "properties.quota"),
])
def test_share_body_checked_against_the_field_table(appsim, props, target):
    err = refused(storage, appsim, "PUT", SHARES + "/badbody", {"properties": props})
    assert (err.status, err.error["code"], err.error["target"]) == \
        (400, "InvalidRequestContent", target)


def test_share_readonly_fields_dropped_and_limits(appsim):
    status, share, _ = storage(appsim, "PUT", SHARES + "/rofields", {"properties": {
        "shareQuota": 102400, "shareUsageBytes": 5, "leaseState": "leased"}})
    assert status == 201 and share["properties"]["leaseState"] == "available"
    err = refused(storage, appsim, "PUT", SHARES + "/nfsshare", {"properties": {
        "enabledProtocols": "NFS"}})
    assert err.status == 400


def test_share_faults(appsim):
    appsim.raw("POST", "/_sim/faults", b'{"op": "FileShares_Create", "kind": "error", '
               b'"status": 500}', {"Content-Type": "application/json"})
    err = refused(storage, appsim, "PUT", SHARES + "/faulty", {"properties": {}})
    assert err.status == 500
    assert appsim.calls()["FileShares_Create"] >= 1
    assert storage(appsim, "PUT", SHARES + "/faulty", {"properties": {}})[0] == 201


# Environment storages on shares (executions: the engine).

def _job(sim, name, storage_name, mount):
    sim.create_job(name, [container(command=["sh", "-c"], args=["true"],
                                    volumeMounts=[mount])],
                   volumes=[{"name": "s", "storageType": "AzureFile",
                             "storageName": storage_name}])


def _run(sim, job, script):
    ex = sim.start(job, {"containers": [{"name": "main", "args": [script]}]})
    return sim.wait_done(job, ex)["properties"]


@needs_engine
def test_share_files_kept_and_seen_on_the_host(appsim):
    appsim.share_storage("keep-st", "keep-files")
    _job(appsim, "keep-job", "keep-st", {"volumeName": "s", "mountPath": "/data"})
    assert _run(appsim, "keep-job", "echo one > /data/f")["status"] == "Succeeded"
    with open(os.path.join(share_dir(appsim, "keep-files"), "f")) as f:
        assert f.read() == "one\n"
    assert _run(appsim, "keep-job", "grep -q one /data/f")["status"] == "Succeeded"
    usage = storage(appsim, "GET", SHARES + "/keep-files")[1]["properties"]["shareUsageBytes"]
    assert usage == 4


@needs_engine
def test_sub_path_is_made_inside_the_share(appsim):
    appsim.share_storage("sub-st", "sub-files")
    _job(appsim, "sub-job", "sub-st",
         {"volumeName": "s", "mountPath": "/data", "subPath": "a/b"})
    assert _run(appsim, "sub-job", "echo deep > /data/x")["status"] == "Succeeded"
    with open(os.path.join(share_dir(appsim, "sub-files"), "a", "b", "x")) as f:
        assert f.read() == "deep\n"


@needs_engine
def test_wrong_key_fails_the_mount(appsim):
    props = appsim.share("wrongkey")
    props["accountKey"] = "bm90IHRoZSBrZXk="
    appsim.arm("PUT", ENV_ID + "/storages/wrongkey-st", {"properties": {"azureFile": props}})
    _job(appsim, "wrongkey-job", "wrongkey-st", {"volumeName": "s", "mountPath": "/data"})
    assert _run(appsim, "wrongkey-job", "true")["status"] == "Failed"
    assert "mount error(13)" in appsim.log_text()


@needs_engine
def test_missing_share_fails_the_mount_and_delete_in_use_succeeds(appsim):
    appsim.share_storage("gone-st", "gone")
    _job(appsim, "gone-job", "gone-st", {"volumeName": "s", "mountPath": "/data"})
    ex = appsim.start("gone-job", {"containers": [{"name": "main", "args": [
        "echo x > /data/f; sleep 3"]}]})
    # Azure Files deletes a share with open handles: the running replica
    # loses its files, the delete is not refused.
    assert storage(appsim, "DELETE", SHARES + "/gone")[0] == 200
    appsim.wait_done("gone-job", ex)
    assert not os.path.exists(share_dir(appsim, "gone"))
    assert _run(appsim, "gone-job", "true")["status"] == "Failed"
    assert "the share 'gone' does not exist" in appsim.log_text()


@needs_engine
def test_key_file_shared_share_and_restart():
    workdir = tempfile.mkdtemp(prefix="azstorage-")
    shared = os.path.join(workdir, "shared")
    key_out = os.path.join(workdir, "storage-key")
    sim = AzureSim(workdir, env={"AZURESIM_STORAGE_KEY_OUT": key_out,
                                 "AZURESIM_SHARED_DIR": shared}, ports=4)
    try:
        sim.launch()
        with open(key_out) as f:
            assert f.read().strip() == sim.account_key()
        assert os.stat(key_out).st_mode & 0o077 == 0
        st = sim.get(ENV_ID + "/storages/sockerless-shared")["properties"]["azureFile"]
        assert st["shareName"] == "sockerless-shared"
        assert os.path.islink(share_dir(sim, "sockerless-shared"))
        _job(sim, "shared-job", "sockerless-shared",
             {"volumeName": "s", "mountPath": "/mnt", "subPath": "proj/out"})
        assert _run(sim, "shared-job", "echo built > /mnt/art")["status"] == "Succeeded"
        with open(os.path.join(shared, "proj", "out", "art")) as f:
            assert f.read() == "built\n"
        sim.share("survivor")
        key = sim.account_key()
        sim.stop()
        sim.launch()
        assert sim.account_key() == key
        assert storage(sim, "GET", SHARES + "/survivor")[1]["name"] == "survivor"
        # The shared share stays the host's directory.
        assert os.path.exists(os.path.join(shared, "proj", "out", "art"))
        storage(sim, "DELETE", SHARES + "/sockerless-shared")
        assert os.path.exists(os.path.join(shared, "proj", "out", "art"))
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_storage_module_listed(appsim):
    # (BASE is Microsoft.App's: both providers answer on one port)
    assert appsim.get(BASE + "/managedEnvironments")["value"]


@needs_engine
def test_mount_options_ro_makes_the_mount_read_only(appsim):
    appsim.share_storage("rw-st", "rw-files")
    appsim.create_job("ro-opt-job", [container(command=["sh", "-c"], args=["true"],
                                               volumeMounts=[{"volumeName": "s",
                                                              "mountPath": "/data"}])],
                      volumes=[{"name": "s", "storageType": "AzureFile",
                                "storageName": "rw-st", "mountOptions": "ro"}])
    assert _run(appsim, "ro-opt-job", "touch /data/x")["status"] == "Failed"
    assert _run(appsim, "ro-opt-job", "ls /data")["status"] == "Succeeded"


@pytest.mark.parametrize("volume,mount,code", [
    ({"name": "s", "storageType": "EmptyDir", "mountOptions": "ro"}, {},
     "ContainerAppInvalidVolume"),
    ({"name": "s", "storageType": "AzureFile", "storageName": "opts-st",
      "mountOptions": "ro;rm -rf"}, {}, "ContainerAppInvalidVolume"),
    ({"name": "s", "storageType": "AzureFile", "storageName": "opts-st"},
     {"subPath": "../up"}, "ContainerAppVolumeMountInvalid"),
    ({"name": "s", "storageType": "AzureFile", "storageName": "opts-st"},
     {"subPath": "/abs"}, "ContainerAppVolumeMountInvalid"),
])
def test_volume_options_checked(appsim, volume, mount, code):
    if "opts-st" not in [s["name"] for s in appsim.get(ENV_ID + "/storages")["value"]]:
        appsim.share_storage("opts-st", "opts-files")
    vm = dict({"volumeName": "s", "mountPath": "/data"}, **mount)
    with pytest.raises(HttpError) as err:
        appsim.create_job("opts-job", [container(volumeMounts=[vm])], volumes=[volume])
    assert err.value.error["code"] == code

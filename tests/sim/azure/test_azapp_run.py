"""Job executions on the engine: start with an override, Succeeded and
Failed, replicaTimeout, stop, replicaRetryLimit, init containers handing
files over through an EmptyDir volume, an Azure Files share seen by two
executions, delete stopping a running execution, the executions list and
its $filter, and the cloud calls one run takes."""

import json
import time

import pytest

from azapp_testlib import BASE, ENV_ID, HttpError, appsim, container, needs_engine  # noqa: F401

pytestmark = needs_engine
ENV = BASE + "/managedEnvironments/sockerless-env"


def test_start_with_override_succeeds(appsim):
    appsim.create_job("ok-job", [container(command=["sh", "-c"], args=["exit 3"])])
    ex = appsim.start("ok-job", {"containers": [{"name": "main",
                                                "args": ["test \"$GREETING\" = hi"],
                                                "env": [{"name": "GREETING", "value": "hi"}]}]})
    view = appsim.execution("ok-job", ex)
    assert view["properties"]["status"] in ("Running", "Processing", "Succeeded")
    assert view["properties"]["template"]["containers"][0]["env"] == [
        {"name": "GREETING", "value": "hi"}]
    done = appsim.wait_done("ok-job", ex)
    assert done["properties"]["status"] == "Succeeded"
    assert done["properties"]["startTime"] and done["properties"]["endTime"]


def test_nonzero_exit_fails(appsim):
    appsim.create_job("fail-job", [container(command=["sh", "-c", "exit 7"])])
    ex = appsim.start("fail-job")
    assert appsim.wait_done("fail-job", ex)["properties"]["status"] == "Failed"


def test_override_of_unknown_container_refused(appsim):
    appsim.create_job("ovr-job", [container(command=["true"])])
    with pytest.raises(HttpError) as err:
        appsim.arm("POST", BASE + "/jobs/ovr-job/start",
                  {"containers": [{"name": "nosuch", "image": "busybox"}]})
    assert err.value.status == 400


def test_replica_timeout_fails(appsim):
    appsim.create_job("slow-job", [container(command=["sleep", "60"])], timeout=2)
    ex = appsim.start("slow-job")
    t0 = time.time()
    assert appsim.wait_done("slow-job", ex)["properties"]["status"] == "Failed"
    assert time.time() - t0 < 50


def test_stop_execution(appsim):
    appsim.create_job("stop-job", [container(command=["sleep", "120"])])
    ex = appsim.start("stop-job")
    status, _, headers = appsim.arm("POST", BASE + "/jobs/stop-job/executions/%s/stop" % ex)
    assert status == 202
    appsim.poll(headers, deadline=60)
    assert appsim.execution("stop-job", ex)["properties"]["status"] == "Stopped"


def test_stop_multiple_executions(appsim):
    appsim.create_job("stopall-job", [container(command=["sleep", "120"])])
    first, second = appsim.start("stopall-job"), appsim.start("stopall-job")
    status, body, headers = appsim.arm("POST", BASE + "/jobs/stopall-job/stop")
    assert status == 202
    assert {e["name"] for e in body["value"]} == {first, second}
    final = appsim.poll(headers, deadline=60)
    assert {e["properties"]["status"] for e in final["value"]} == {"Stopped"}


def test_retry_limit_runs_replacement_replicas(appsim):
    # Each replica appends to a shared file; the third succeeds.
    appsim.share_storage("retry-share", "retry")
    script = "echo x >> /data/tries; test $(wc -l < /data/tries) -ge 3"
    appsim.create_job("retry-job", [container(command=["sh", "-c", script],
                                             volumeMounts=[{"volumeName": "d",
                                                            "mountPath": "/data"}])],
                     volumes=[{"name": "d", "storageType": "AzureFile",
                               "storageName": "retry-share"}], retries=2)
    ex = appsim.start("retry-job")
    assert appsim.wait_done("retry-job", ex)["properties"]["status"] == "Succeeded"
    _, replicas, _ = appsim.arm("GET", BASE + "/jobs/retry-job/executions/%s/replicas" % ex,
                               api="2023-11-02-preview")
    assert len(replicas["value"]) == 3


def test_retry_limit_exhausted_fails(appsim):
    appsim.create_job("retry2-job", [container(command=["false"])], retries=1)
    ex = appsim.start("retry2-job")
    assert appsim.wait_done("retry2-job", ex)["properties"]["status"] == "Failed"
    _, replicas, _ = appsim.arm("GET", BASE + "/jobs/retry2-job/executions/%s/replicas" % ex,
                               api="2023-11-02-preview")
    assert len(replicas["value"]) == 2


def test_init_container_hands_over_through_emptydir(appsim):
    init = [container("init", command=["sh", "-c", "echo from-init > /work/handoff"],
                      volumeMounts=[{"volumeName": "scratch", "mountPath": "/work"}])]
    main = [container("main", command=["sh", "-c", "grep -q from-init /work/handoff"],
                      volumeMounts=[{"volumeName": "scratch", "mountPath": "/work"}])]
    appsim.create_job("init-job", main, init=init,
                     volumes=[{"name": "scratch", "storageType": "EmptyDir"}])
    ex = appsim.start("init-job")
    assert appsim.wait_done("init-job", ex)["properties"]["status"] == "Succeeded"


def test_failing_init_container_fails_the_execution(appsim):
    appsim.create_job("badinit-job", [container(command=["true"])],
                     init=[container("init", command=["false"])])
    ex = appsim.start("badinit-job")
    assert appsim.wait_done("badinit-job", ex)["properties"]["status"] == "Failed"


def test_azure_file_share_seen_by_two_executions(appsim):
    appsim.share_storage("shared", "two")
    mount = [{"volumeName": "s", "mountPath": "/mnt/s"}]
    appsim.create_job("share-job", [container(command=["sh", "-c"], args=["true"],
                                             volumeMounts=mount)],
                     volumes=[{"name": "s", "storageType": "AzureFile", "storageName": "shared"}])
    first = appsim.start("share-job", {"containers": [{"name": "main",
                                                      "args": ["echo hello > /mnt/s/f"]}]})
    assert appsim.wait_done("share-job", first)["properties"]["status"] == "Succeeded"
    second = appsim.start("share-job", {"containers": [{"name": "main",
                                                       "args": ["grep -q hello /mnt/s/f"]}]})
    assert appsim.wait_done("share-job", second)["properties"]["status"] == "Succeeded"


def test_read_only_share(appsim):
    appsim.share_storage("ro", "ro-share", "ReadOnly")
    appsim.create_job("ro-job", [container(command=["sh", "-c", "touch /mnt/x"],
                                          volumeMounts=[{"volumeName": "s",
                                                         "mountPath": "/mnt"}])],
                     volumes=[{"name": "s", "storageType": "AzureFile", "storageName": "ro"}])
    ex = appsim.start("ro-job")
    assert appsim.wait_done("ro-job", ex)["properties"]["status"] == "Failed"


def test_delete_stops_running_execution(appsim):
    appsim.create_job("del-job", [container(command=["sleep", "120"])])
    ex = appsim.start("del-job")
    status, _, headers = appsim.arm("DELETE", BASE + "/jobs/del-job")
    assert status == 202
    appsim.poll(headers, deadline=60)
    with pytest.raises(HttpError) as err:
        appsim.execution("del-job", ex)
    assert err.value.status == 404
    names = [c.name for c in _engine_containers()]
    assert not [n for n in names if ex in n]


def test_executions_list_filter_and_paging(appsim):
    appsim.create_job("list-job", [container(command=["true"])])
    started = [appsim.start("list-job") for _ in range(3)]
    for ex in started:
        appsim.wait_done("list-job", ex)
    seen, url = [], BASE + "/jobs/list-job/executions"
    while url:
        _, body, _ = appsim.arm("GET", url)
        seen += [e["name"] for e in body["value"]]
        url = body.get("nextLink")
    assert sorted(seen) == sorted(started)
    _, body, _ = appsim.arm("GET", BASE + "/jobs/list-job/executions?$filter=" +
                           "properties/status%20eq%20'Running'")
    assert body["value"] == []
    with pytest.raises(HttpError) as err:
        appsim.arm("GET", BASE + "/jobs/list-job/executions?$filter=name%20eq%20'x'")
    assert err.value.status == 400


def test_calls_per_run(appsim):
    appsim.create_job("count-job", [container(command=["true"])])
    appsim.raw("POST", "/_sim/calls/reset")
    ex = appsim.start("count-job")
    appsim.wait_done("count-job", ex)
    calls = appsim.calls()
    assert calls.get("Jobs_Start") == 1
    assert calls.get("JobExecution", 0) >= 1


def _engine_containers():
    import docker
    from azapp_testlib import ENGINE
    client = docker.DockerClient(base_url=ENGINE, version="1.41")
    return client.containers.list(all=True, ignore_removed=True,
                                  filters={"label": "sockerless.azuresim.app"})


def test_throttled_start_creates_no_execution(appsim):
    appsim.create_job("thr-job", [container(command=["true"])])
    status, _, _ = appsim.raw("POST", "/_sim/faults", json.dumps(
        {"op": "Jobs_Start", "times": 1, "kind": "throttle", "retry_after": 1}).encode(),
        {"Content-Type": "application/json"})
    assert status == 200
    with pytest.raises(HttpError) as err:
        appsim.arm("POST", BASE + "/jobs/thr-job/start")
    assert err.value.status == 429 and err.value.headers.get("Retry-After")
    assert appsim.get(BASE + "/jobs/thr-job/executions")["value"] == []
    ex = appsim.start("thr-job")
    assert appsim.wait_done("thr-job", ex)["properties"]["status"] == "Succeeded"


def test_image_that_cannot_be_pulled_fails(appsim):
    appsim.create_job("pull-job", [container(image="example.com/no/such:image")])
    ex = appsim.start("pull-job")
    assert appsim.wait_done("pull-job", ex)["properties"]["status"] == "Failed"


def test_acr_image_needs_registry_credentials(appsim):
    image = "sockerless.azurecr.io/library/busybox:latest"
    appsim.create_job("acr-job", [container(image=image, command=["true"])])
    ex = appsim.start("acr-job")
    assert appsim.wait_done("acr-job", ex)["properties"]["status"] == "Failed"
    body = {"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {
        "environmentId": ENV_ID, "configuration": {
            "triggerType": "Manual", "replicaTimeout": 60,
            "registries": [{"server": "sockerless.azurecr.io", "identity": "system"}]},
        "template": {"containers": [container(image=image, command=["true"])]}}}
    _, job, headers = appsim.arm("PUT", BASE + "/jobs/acr2-job", body)
    assert job["identity"]["principalId"]
    appsim.poll(headers)
    ex = appsim.start("acr2-job")
    assert appsim.wait_done("acr2-job", ex)["properties"]["status"] == "Succeeded"


def test_registry_credentials_must_resolve(appsim):
    config = {"triggerType": "Manual", "replicaTimeout": 60}
    for registries, identity in (
            ([{"server": "x.azurecr.io", "identity": "system"}], None),
            ([{"server": "x.azurecr.io", "identity": "/subscriptions/s/resourceGroups/r/"
               "providers/Microsoft.ManagedIdentity/userAssignedIdentities/u"}],
             {"type": "SystemAssigned"}),
            ([{"server": "x.azurecr.io", "username": "u", "passwordSecretRef": "nope"}],
             None)):
        body = {"location": "westeurope", "properties": {
            "environmentId": ENV_ID, "configuration": dict(config, registries=registries),
            "template": {"containers": [container()]}}}
        if identity:
            body["identity"] = identity
        with pytest.raises(HttpError) as err:
            appsim.arm("PUT", BASE + "/jobs/reg-job", body)
        assert err.value.status == 400, err.value.body

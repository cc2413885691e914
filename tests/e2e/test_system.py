"""docker version, docker info, docker system df."""
import json

from e2e_lib import TARGET, dk_ok


def test_version_has_server_and_api_version():
    out = dk_ok("version")
    assert "Server:" in out, out
    api = dk_ok("version", "--format", "{{.Server.APIVersion}}").strip()
    if TARGET == "sockerless":
        assert api == "1.44", out
    else:
        # The reference bed runs Debian's dockerd, whatever API it speaks.
        major, minor = (int(x) for x in api.split("."))
        assert (major, minor) >= (1, 41), api
    # The CLI negotiated down to the server's version (client speaks newer).
    client_api = dk_ok("version", "--format", "{{.Client.APIVersion}}").strip()
    assert client_api == api, (client_api, api)


def test_version_json_fields():
    v = json.loads(dk_ok("version", "--format", "{{json .Server}}"))
    for key in ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch"):
        assert v.get(key), (key, v)
    assert v["Os"] == "linux"


def test_info():
    out = dk_ok("info")
    assert "Server:" in out or "Containers:" in out, out
    info = json.loads(dk_ok("info", "--format", "{{json .}}"))
    for key in ("Containers", "ContainersRunning", "ContainersStopped",
                "ContainersPaused", "Images"):
        assert isinstance(info.get(key), int), (key, info.get(key))
    # Docker counts a created container as stopped, so the three add up
    # (other clients may create containers between the reads: one query).
    assert info["Containers"] == (info["ContainersRunning"] + info["ContainersPaused"]
                                  + info["ContainersStopped"]), info
    assert info.get("ServerVersion"), info
    if TARGET == "sockerless":
        # The backend's name (and its cloud region/cluster) is in the text a
        # user reads.
        assert "sockerless" in out.lower(), out


def test_system_df():
    out = dk_ok("system", "df")
    for word in ("TYPE", "Images", "Containers"):
        assert word in out, out
    rows = [json.loads(line) for line in
            dk_ok("system", "df", "--format", "{{json .}}").splitlines() if line.strip()]
    types = {r["Type"] for r in rows}
    assert {"Images", "Containers"} <= types, rows

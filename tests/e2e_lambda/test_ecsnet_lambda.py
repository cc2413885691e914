"""Issue 13 (slice ecsnet) on Lambda: the Linux options Lambda's fixed sandbox
cannot take are refused with a 400 naming the option; --read-only holds as
it is (Lambda's root file system is always read-only but /tmp)."""
import pytest

from e2e_lib import dk, dk_ok, inspect

BUSYBOX = "busybox"


@pytest.mark.parametrize("args, words", [
    (["--cap-add", "SYS_PTRACE"], ["--cap-add", "lambda backend"]),
    (["--cap-drop", "NET_RAW"], ["--cap-drop", "lambda backend"]),
    (["--ulimit", "nofile=100:200"], ["--ulimit", "lambda backend"]),
    (["--tmpfs", "/run"], ["--tmpfs", "lambda backend"]),
    (["--pid", "host"], ["--pid=host", "lambda backend"]),
])
def test_refused_with_a_sentence(docker, name, args, words):
    p = dk("create", "--name", name, *args, BUSYBOX, "true")
    assert p.returncode != 0, p.stdout
    for w in words:
        assert w in p.stderr, (w, p.stderr)
    assert "Run the container without" in p.stderr, p.stderr
    assert dk("inspect", name).returncode != 0


def test_read_only_accepted(docker, name):
    dk_ok("create", "--name", name, "--read-only", BUSYBOX, "true")
    assert inspect(name)["HostConfig"]["ReadonlyRootfs"] is True
    dk("rm", "-f", name)

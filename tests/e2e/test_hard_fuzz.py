"""Defects the fuzz harnesses led to (docs/fuzzing.md), seen from the
Docker CLI: a name filter whose regex glibc would spend minutes on is
refused at once with Docker's 400, and the daemon goes on answering."""
import time

from e2e_lib import BUSYBOX, TARGET, dk_ok


def test_name_filter_huge_repeat_refused_fast(docker, names):
    name = names()
    dk_ok("create", "--name", name, BUSYBOX, "true")
    t0 = time.monotonic()
    p = docker("ps", "-a", "--filter", "name=(.*){1,32000}x")
    took = time.monotonic() - t0
    assert took < 10, f"the filter took {took:.1f} s"
    assert p.returncode != 0, p.stdout
    if TARGET == "sockerless":
        assert "invalid repeat count" in p.stderr, p.stderr
    # The daemon still answers, and a sane regex still matches.
    out = dk_ok("ps", "-a", "--filter", f"name=^/?{name}$",
                "--format", "{{.Names}}")
    assert out.split() == [name], out

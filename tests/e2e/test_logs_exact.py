"""docker logs gives back exactly the bytes the process wrote, as dockerd
does: a last line without its newline stays without one, on stdout and
stderr, with a TTY ("\\r\\n" line ends, one stream) and without; a line
longer than the log capture's 16 KiB comes back whole. And `docker start
-a` of an exited container prints the new run's output (only it) and ends
with its exit code, as dockerd does.

Compared byte for byte (the docker fixture's text mode would fold the
TTY's "\\r\\n"), against the expected bytes that the reference dockerd gives
too (SK_TARGET=reference)."""
import subprocess

import pytest

from e2e_lib import BUSYBOX, DOCKER, _env, _inject, dk_ok

LONG = 40000  # over the 16 KiB line of the runtime's log capture


def raw(*args, timeout=120):
    """The docker CLI's (rc, stdout bytes, stderr bytes)."""
    p = subprocess.run([DOCKER, *_inject(args)], env=_env(), capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def logs_of(name):
    rc, out, err = raw("logs", name)
    assert rc == 0, err
    return out, err


SCRIPT = 'printf "x\\ny"; printf "e\\nf" >&2'


def test_last_line_without_newline(name):
    """stdout and stderr each end in a piece without its newline."""
    rc, _, err = raw("run", "--name", name, BUSYBOX, "sh", "-c", SCRIPT)
    assert rc == 0, err
    assert logs_of(name) == (b"x\ny", b"e\nf")


def test_printf_abc(name):
    rc, out, err = raw("run", "--name", name, BUSYBOX, "printf", "abc")
    assert (rc, out) == (0, b"abc"), err
    assert logs_of(name) == (b"abc", b"")


def test_tty_last_line_without_newline(name):
    """A TTY: one stream, each newline written as "\\r\\n" by the terminal,
    the last piece without one."""
    rc, out, err = raw("run", "-t", "--name", name, BUSYBOX, "sh", "-c", SCRIPT)
    assert rc == 0, err
    assert logs_of(name) == (b"x\r\nye\r\nf", b"")


def test_tty_printf_abc(name):
    rc, _, err = raw("run", "-t", "--name", name, BUSYBOX, "printf", "abc")
    assert rc == 0, err
    assert logs_of(name) == (b"abc", b"")


@pytest.mark.parametrize("tty", [False, True], ids=["plain", "tty"])
def test_long_line_whole(name, tty):
    """A line longer than the log capture's line, then an unterminated
    end: both whole, nothing added."""
    script = "head -c %d /dev/zero | tr '\\0' a; echo; printf end" % LONG
    flags = ["-t"] if tty else []
    rc, _, err = raw("run", *flags, "--name", name, BUSYBOX, "sh", "-c", script)
    assert rc == 0, err
    nl = b"\r\n" if tty else b"\n"
    out, err = logs_of(name)
    assert (len(out), err) == (LONG + len(nl) + 3, b"")
    assert out == b"a" * LONG + nl + b"end"


def test_start_attach_of_exited(name):
    """The second run's output only, on its own streams, and its exit code;
    logs then hold both runs."""
    script = "echo out; echo err >&2; exit 3"
    rc, out, err = raw("run", "--name", name, BUSYBOX, "sh", "-c", script)
    assert (rc, out, err) == (3, b"out\n", b"err\n")
    rc, out, err = raw("start", "-a", name)
    assert (rc, out, err) == (3, b"out\n", b"err\n")
    assert dk_ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
                 name).split() == ["exited", "3"]
    assert logs_of(name) == (b"out\nout\n", b"err\nerr\n")


def test_start_attach_tty_of_exited(name):
    rc, out, _ = raw("run", "-t", "--name", name, BUSYBOX, "printf", "abc")
    assert (rc, out) == (0, b"abc")
    rc, out, err = raw("start", "-a", name)
    assert (rc, out) == (0, b"abc"), err
    assert logs_of(name) == (b"abcabc", b"")

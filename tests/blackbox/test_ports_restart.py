"""Published ports survive a backend restart: the re-adopted running
container's recorded host port listens again and still reaches the
workload (docs/networks.md, "Published ports"). Host and workload ports:
SK_TEST_PORT_BASE + 180..181."""
import os
import time
import urllib.request

BASE = int(os.environ.get("SK_TEST_PORT_BASE") or "35100") + 180


def fetch(port, timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                return r.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def test_published_port_after_backend_restart(docker, name, local):
    host, cport = BASE, BASE + 1
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{host}:{cport}", "busybox",
           "sh", "-c", "mkdir -p /www && echo kept > /www/index.html && "
           f"httpd -f -p {cport} -h /www", check=True)
    assert fetch(host) == b"kept\n"
    local("restart-backend")
    assert fetch(host) == b"kept\n"
    out = docker("port", name, str(cport), check=True).stdout.split()
    assert out == [f"127.0.0.1:{host}"], out
    docker("rm", "-f", name, check=True)

"""Measures the agent resolver's answer latency: N sequential UDP queries
for a name of the table, then N for a name forwarded to a local fake
upstream, and the same fake upstream asked directly (what forwarding
adds). Prints numbers; asserts nothing.

    /usr/bin/python3 tests/agent/bench_dns.py [N] [PORT]

N defaults to 10000; PORT (UDP and TCP, loopback) to an ephemeral one.
SK_AGENT names the agent (default build/sockerless-agent)."""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_agentnet import AGENT, Upstream, free_dual_port, query  # noqa: E402


def run(port, msg, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    lat = []
    for i in range(n):
        m = bytes([i >> 8 & 0xFF, i & 0xFF]) + msg[2:]
        t0 = time.perf_counter()
        s.send(m)
        r = s.recv(65535)
        lat.append(time.perf_counter() - t0)
        assert r[:2] == m[:2] and r[3] & 0xF == 0, r
    s.close()
    lat.sort()
    return (f"median {statistics.median(lat) * 1e6:.0f} us, "
            f"p99 {lat[int(len(lat) * 0.99) - 1] * 1e6:.0f} us, "
            f"mean {statistics.fmean(lat) * 1e6:.0f} us, "
            f"{n / sum(lat):.0f} queries/s")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    port = int(sys.argv[2]) if len(sys.argv) > 2 else free_dual_port()
    names = {f"peer{i}": [f"10.0.{i // 256}.{i % 256}"] for i in range(100)}
    up = Upstream()
    etc = tempfile.mkdtemp(prefix="sk-bench-dns.")
    env = dict(os.environ, SOCKERLESS_ETC=etc,
               SOCKERLESS_DNS_LISTEN=f"127.0.0.1:{port}",
               SOCKERLESS_NET=json.dumps({"resolver": True, "names": names,
                                          "dns": [f"127.0.0.1:{up.port}"]}))
    p = subprocess.Popen([AGENT, "--", "sleep", "600"], env=env)
    try:
        deadline = time.time() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.02)
        print(f"{n} queries, table of {len(names)} names")
        print("table name (peer99):   " + run(port, query("peer99"), n))
        print("forwarded (example.org): " + run(port, query("example.org"), n))
        print("upstream asked directly: " + run(up.port, query("example.org"), n))
    finally:
        p.kill()
        p.wait()
        up.close()


if __name__ == "__main__":
    main()

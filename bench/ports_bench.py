#!/usr/bin/env python3
"""Published port vs direct connection (docs/networks.md): the round trip
of a small request/response over one connection, and the throughput of a
large download, through HOST:PORT published by sockerless and straight to
the workload's own address.

    bench/ports_bench.py --echo PUB_HOST:PORT DIRECT_HOST:PORT \\
        --http PUB_HOST:PORT DIRECT_HOST:PORT [--rounds 2000] [--mb 64]

--echo: an echo server in the workload (busybox `nc -ll -p P -e cat`);
--http: busybox httpd serving /www/big of --mb MiB."""
import argparse
import socket
import statistics
import time


def addr(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def connect(a, deadline=30):
    end = time.time() + deadline
    while True:
        try:
            s = socket.create_connection(a, timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.2)


def echo_rtt(a, rounds):
    """Median and p99 round trip (µs) of 64-byte messages on one connection."""
    s = connect(a)
    msg = b"x" * 63 + b"\n"
    for _ in range(3):  # the server may start late: warm up
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(4096)
            if not d:
                raise EOFError("echo server closed")
            got += d
    rtt = []
    for _ in range(rounds):
        t = time.perf_counter()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(4096)
        rtt.append((time.perf_counter() - t) * 1e6)
    s.close()
    rtt.sort()
    return statistics.median(rtt), rtt[int(len(rtt) * 0.99)]


def http_get(a, path):
    s = connect(a)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    n = 0
    t = time.perf_counter()
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        n += len(d)
    s.close()
    return n, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", nargs=2, metavar=("PUBLISHED", "DIRECT"))
    ap.add_argument("--http", nargs=2, metavar=("PUBLISHED", "DIRECT"))
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    if args.echo:
        for label, a in zip(("published", "direct"), args.echo):
            med, p99 = echo_rtt(addr(a), args.rounds)
            print(f"echo rtt {label:9} {a}: median {med:.0f} us, p99 {p99:.0f} us")
    if args.http:
        for label, a in zip(("published", "direct"), args.http):
            best = 0
            for _ in range(3):
                n, dt = http_get(addr(a), "/big")
                best = max(best, n / dt / 1e6)
            print(f"download {label:9} {a}: {n / 1e6:.0f} MB, best of 3 {best:.0f} MB/s")


if __name__ == "__main__":
    main()

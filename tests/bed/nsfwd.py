#!/usr/bin/python3
"""Forwards 127.0.0.1:PORT inside a network namespace to 127.0.0.1:PORT of
the namespace this process starts in (the host's loopback).

    nsfwd.py NETNS_PATH PORT [PIDFILE]

The test bed's reference dockerd runs in its own network namespace; its
registry mirror and pushes name 127.0.0.1:PORT, the bed's registry, which
listens on the host's loopback. A socket belongs to the namespace its
thread was in when it was made, so the listener is made after setns(2) into
NETNS_PATH and every outgoing socket after returning to the host's: one
process joins both loopbacks and nothing leaves them.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def listen_in(netns, port):
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        setns(target)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(64)
        finally:
            setns(host)
    finally:
        os.close(host)
        os.close(target)
    return s


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(conn, port):
    try:
        up = socket.create_connection(("127.0.0.1", port), timeout=30)
        up.settimeout(None)
    except OSError:
        conn.close()
        return
    t = threading.Thread(target=pump, args=(up, conn), daemon=True)
    t.start()
    pump(conn, up)
    t.join()
    conn.close()
    up.close()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: nsfwd.py NETNS_PATH PORT [PIDFILE]")
    netns, port = sys.argv[1], int(sys.argv[2])
    lsock = listen_in(netns, port)
    if len(sys.argv) == 4:
        with open(sys.argv[3] + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(sys.argv[3] + ".tmp", sys.argv[3])
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, port), daemon=True).start()


if __name__ == "__main__":
    main()

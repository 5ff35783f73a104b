#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Holds N keep-alive connections to a proxy on 127.0.0.1:PORT, each of
which has had one answer, then times 300 requests on new connections
meanwhile. Prints "RSS_MiB P99_MS": PID's resident memory with the N
connections held, and the p99 of those requests (connect to last byte).
Usage: idle_conns.py PORT KEY N PID"""
import resource
import selectors
import socket
import sys
import time

PATH = "/compatible-mode/v1/chat/completions"


def request(port, key):
    body = b"{}"
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (PATH, port, key, len(body))).encode() + body


def answered(buf):
    """Whether buf holds a whole response with a Content-Length."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(rest) >= int(v)
    return False


def main():
    port, key, n, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = request(port, key)
    sel = selectors.DefaultSelector()
    held, bufs, done = [], {}, 0
    # open and ask in batches, so that no listen backlog overflows
    for start in range(0, n, 200):
        batch = []
        for _ in range(min(200, n - start)):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(req)
            s.setblocking(False)
            bufs[s] = b""
            sel.register(s, selectors.EVENT_READ)
            batch.append(s)
        pending = len(batch)
        while pending:
            for k, _ in sel.select(timeout=30):
                d = k.fileobj.recv(65536)
                if not d:
                    raise SystemExit("a connection closed")
                bufs[k.fileobj] += d
                if answered(bufs[k.fileobj]):
                    sel.unregister(k.fileobj)
                    pending -= 1
                    done += 1
        held += batch
    time.sleep(1)
    rss = 0
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    times = []
    for _ in range(300):
        t0 = time.perf_counter()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        buf = b""
        while not answered(buf):
            d = s.recv(65536)
            if not d:
                break
            buf += d
        times.append(time.perf_counter() - t0)
        s.close()
    times.sort()
    print("%.1f %.3f" % (rss / 1024.0, times[int(len(times) * 0.99) - 1] * 1000))
    for s in held:
        s.close()


main()

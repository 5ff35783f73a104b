#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What another user on the machine does to the proxy (test_proxy_peer.sh),
run as that user:
  request PORT KEY         one keyed request; prints "closed" when the
                           connection was closed without an answer, else
                           "answered STATUS"
  idle PORT N              opens N connections and keeps them, sending a
                           byte now and then; prints "ready" once all N
                           were tried, then "closed K" each time it counts
                           the ones the proxy closed; runs until killed
  squat PORT FILE          listens on 127.0.0.1:PORT, prints "listening",
                           and writes each Authorization header it is sent
                           to FILE (a proxy key a tool handed it)"""
import resource
import socket
import sys
import time


def request(port, key):
    s = socket.create_connection(("127.0.0.1", port))
    body = b"{}"
    try:
        s.sendall(b"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\n"
                  b"Host: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (port, key.encode(), len(body), body))
        data = s.recv(4096)
    except OSError:
        data = b""
    print("answered " + data.split(b" ")[1].decode() if data else "closed", flush=True)


def idle(port, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"P")  # the start of a request that never ends
            conns.append(s)
        except OSError:
            pass
    print("ready", flush=True)
    while True:
        closed = 0
        for s in conns:
            try:
                s.setblocking(False)
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        print("closed %d" % closed, flush=True)
        time.sleep(1)


def squat(port, path):
    ls = socket.socket()
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    print("listening", flush=True)
    while True:
        c, _ = ls.accept()
        head = c.recv(65536).decode("latin-1")
        for line in head.split("\r\n"):
            if line.lower().startswith("authorization: bearer "):
                with open(path, "a") as f:
                    f.write(line.split(" ", 2)[2] + "\n")
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        c.close()


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "request":
        request(int(sys.argv[2]), sys.argv[3])
    elif what == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]))
    else:
        squat(int(sys.argv[2]), sys.argv[3])

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""200 keep-alive connections to the proxy, each used once and then left
idle, and 64 streams at once beside them; then REUSE (10 unless given) of
the idle ones used again, and all closed.

Usage: idle_and_streams.py PORT KEY CHAT-PATH PROXY-PID [REUSE]
Prints "peak N" (the proxy's descriptors while the streams run) and
"streams N" (how many came whole); an assertion ends it otherwise."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import raw_http  # noqa: E402

port, key, chat, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
reuse = int(sys.argv[5]) if len(sys.argv) > 5 else 10


def req(path):
    return raw_http.request(port, key, "POST", path, b"{}")


def answer(c):
    r = c.response()
    assert r is not None, "the connection closed"
    return r[0], r[2]


idle = []
for i in range(200):
    c = raw_http.Conn(port, timeout=20)
    c.send(req(chat))
    st, _ = answer(c)
    assert st == 200, st
    idle.append(c)
res = {}


def stream(i):
    c = raw_http.Conn(port, timeout=20)
    c.send(req(chat + "?mode=slowsse&id=m%d&n=6&ms=250" % i))
    st, body = answer(c)
    res[i] = st == 200 and body.count(b"data: ") == 6
    c.close()


ts = [threading.Thread(target=stream, args=(i,)) for i in range(64)]
for t in ts:
    t.start()
# a look while the streams run (a figure for the log, not a condition)
time.sleep(0.8)
print("peak", len(os.listdir("/proc/%s/fd" % pid)))
for t in ts:
    t.join()
# the idle ones still work
for c in idle[:reuse]:
    c.send(req(chat))
    st, _ = answer(c)
    assert st == 200, st
for c in idle:
    c.close()
print("streams", sum(res.values()))

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A refused request (wrong key, unknown path, body over the cap) whose
body reads as a request of its own, were it taken for one, with a good
request pipelined after it; each refusal on a connection of its own.

Usage: refused_pipeline.py PORT KEY CHAT-PATH
Prints a line a connection: the status it should start with, then the
statuses read until the proxy closed (or the error that ended the read)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import raw_http  # noqa: E402

port, key, chat = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def req(path, k, body):
    return raw_http.request(port, k, "POST", path, body)


inner = req(chat + "?mode=sum&id=smuggled", key, b"{}")
for first, want in ((req(chat + "?mode=sum&id=r1", "sk-local-wrong", inner), "401"),
                    (req("/v2/x", key, inner), "404"),
                    (req(chat + "?mode=sum&id=r3", key, inner + b"x" * 1000), "413")):
    c = raw_http.Conn(port)
    c.send(first + req(chat + "?mode=sum&id=r4", key, b"{}"))
    out = []
    try:
        for _ in range(2):
            r = c.response()
            if r is None:
                break
            out.append(str(r[0]))
            if r[3]:
                break
    except (OSError, EOFError, ValueError) as e:
        out.append(repr(e))
    c.close()
    print(want, " ".join(out))

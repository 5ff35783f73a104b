#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Three requests written to the proxy at once on one connection (a
stream, a plain answer and a small one), then their three answers read in
order.

Usage: pipeline.py PORT KEY CHAT-PATH
Prints a JSON list of {"status", "body"}, one per answer."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import raw_http  # noqa: E402

port, key, chat = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def req(path, body):
    return raw_http.request(port, key, "POST", path, body.encode(), ["Content-Type: application/json"])


c = raw_http.Conn(port)
c.send(req(chat + "?mode=slowsse&id=p1&n=3&ms=200", "{}") + req(chat, '{"model":"m2"}') +
       req(chat + "?mode=sum&id=p3", "third"))
out = []
for _ in range(3):
    status, _, body, _ = c.response()
    out.append({"status": str(status), "body": body.decode()})
print(json.dumps(out))

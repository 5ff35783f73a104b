#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Requests in order on one keep-alive connection to the proxy, each
response framed as RFC 9112 section 6.3 says, the way strict clients
(Node's) read them (raw_http.py): a byte no response accounts for becomes
the start of the next response.

Usage: one_connection.py PORT KEY METHOD PATH [HEADER:VALUE...] [-- METHOD PATH ...]
Prints one JSON object a response, then {"extra": bytes left over}; exits
1 when a response cannot be read."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import raw_http  # noqa: E402

port, key, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
reqs, cur = [], []
for a in args + ["--"]:
    if a == "--":
        reqs.append(cur)
        cur = []
    else:
        cur.append(a)
c = raw_http.Conn(port)
for method, path, *hdrs in reqs:
    c.send(raw_http.request(port, key, method, path, b"{}" if method == "POST" else b"", hdrs))
    try:
        r = c.response(method)
        if r is None:
            raise EOFError("the connection closed")
    except (ValueError, EOFError, OSError) as e:
        print(json.dumps({"error": repr(e)}))
        sys.exit(1)
    code, headers, data, closes = r
    print(json.dumps({"status": code, "headers": headers, "body": data.decode("latin-1"), "closes": closes}))
print(json.dumps({"extra": c.rest().decode("latin-1")}))

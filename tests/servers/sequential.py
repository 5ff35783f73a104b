#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""N requests one after the other, each on a new connection.

Usage: sequential.py PORT KEY CHAT-PATH N
Exits non-zero, naming it, at the first answer other than 200."""
import http.client
import sys

port, key, chat, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", chat, body="{}", headers={"Authorization": "Bearer " + key})
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        sys.exit("request %d: %d" % (i, r.status))

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""N streams one after the other, each left by its client once its first
event has come.

Usage: abort_streams.py PORT KEY CHAT-PATH N
Exits non-zero, naming it, when a stream closes before its first event."""
import socket
import sys

port, key, chat, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(("POST %s?mode=slowsse&id=ab%d&n=100&ms=30 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Authorization: Bearer %s\r\nContent-Length: 2\r\n\r\n{}" % (chat, i, port, key)).encode())
    got = b""
    while b"data: " not in got:
        d = s.recv(4096)
        if not d:
            sys.exit("stream %d closed" % i)
        got += d
    s.close()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A client that asks for 100-continue and sends no body: with a key the
proxy refuses, its first answer must be the refusal.

Usage: expect_refused.py PORT KEY CHAT-PATH
Prints the status line of the first answer."""
import socket
import sys

port, key, chat = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=60)
s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
           "Expect: 100-continue\r\nContent-Length: 3000000\r\n\r\n" % (chat, port, key)).encode())
print(s.recv(200).split(b"\r\n")[0].decode())

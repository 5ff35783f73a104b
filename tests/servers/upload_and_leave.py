#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A client that leaves half-way through its upload: it announces a
1,000,000-byte body, sends 300,000 bytes and closes.

Usage: upload_and_leave.py PORT KEY PATH"""
import socket
import sys
import time

port, key, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
           "Content-Length: 1000000\r\n\r\n" % (path, port, key)).encode() + b"x" * 300000)
# a moment for the proxy to take in part of the body before the client
# leaves (what is asked holds whatever it took in)
time.sleep(0.3)
s.close()

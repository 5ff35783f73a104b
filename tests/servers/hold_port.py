#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Holds a loopback port: listens on one the kernel picks, prints its
number and waits until killed (for "the port is in use" cases).

Usage: hold_port.py"""
import signal
import socket

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
signal.pause()

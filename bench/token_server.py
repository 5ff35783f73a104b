#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plain-HTTP loopback token endpoint for bench/run: every POST to
/api/v1/tokens with a Bearer sk- key gets a fresh st- key, as the real
service answers (SPEC section 7). Prints its port on stdout, then serves
until killed or until its parent exits.

Usage: token_server.py
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        auth = self.headers.get("Authorization", "")
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length:
            self.rfile.read(length)
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if path != "/api/v1/tokens" or not auth.startswith("Bearer sk-"):
            status, obj = 401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.",
                                "request_id": "bench"}
        else:
            now = int(time.time())
            status = 200
            obj = {"token": "st-bench%d" % time.monotonic_ns(),
                   "expires_at": now + int(params.get("expire_in_seconds", "60"))}
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
print(srv.server_address[1], flush=True)
parent = os.getppid()
while os.getppid() == parent:
    time.sleep(0.5)

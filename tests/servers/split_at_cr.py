#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A hostile plain-HTTP upstream for the proxy's door tests: its parser is
as lax as the worst on the Internet. It ends a line at CRLF, at LF alone
and at a bare CR, so a CR the proxy let through inside a header value
splits a request in two (request smuggling), and it keeps connections
alive so that a smuggled request waits on a pooled connection for the
next client. It mints temporary keys like the token endpoint (SPEC 7).

Usage: split_at_cr.py DIR. Writes DIR/port when it listens; appends to
DIR/requests.log one JSON object per request it parsed (and one per
connection that closed with bytes it could not parse: "leftover").
Answers: POST /api/v1/tokens with a key; any other path 200 with a JSON
body naming the request it parsed (path, X-Tag header, key); a path with
mode=tecl in its query gets a head with both Transfer-Encoding and
Content-Length, mode=twocl two different Content-Lengths, mode=crhead a
bare CR inside a header value. Stops on SIGTERM or when its parent
exits."""
import json
import os
import socket
import sys
import threading
import time

DIR = sys.argv[1]
LOG = os.path.join(DIR, "requests.log")
lock = threading.Lock()
seq = [0]


def log(entry):
    with lock:
        seq[0] += 1
        entry["seq"] = seq[0]
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")


def split_line(buf):
    """(line, rest) with the line ended by CRLF, LF or a bare CR; None
    when no line end has come yet (a CR last in buf may be a CRLF)."""
    for i, b in enumerate(buf):
        if b == 0x0A:
            return buf[:i], buf[i + 1:]
        if b == 0x0D:
            if i + 1 == len(buf):
                return None
            return buf[:i], buf[i + 2 if buf[i + 1] == 0x0A else i + 1:]
    return None


class Conn:
    def __init__(self, sock, cid):
        self.s, self.cid, self.buf = sock, cid, b""

    def more(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while True:
            r = split_line(self.buf)
            if r is not None:
                self.buf = r[1]
                return r[0]
            self.more()

    def request(self):
        while not self.buf:
            self.more()
        start_line = self.line().decode("latin-1")
        headers = []
        while True:
            l = self.line()
            if not l:
                break
            k, _, v = l.decode("latin-1").partition(":")
            headers.append([k.strip(), v.strip()])
        hmap = {k.lower(): v for k, v in headers}
        body = b""
        if hmap.get("transfer-encoding", "").lower().endswith("chunked"):
            while True:
                n = int(self.line().split(b";")[0] or b"0", 16)
                if not n:
                    while self.line():
                        pass
                    break
                while len(self.buf) < n + 2:
                    self.more()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
        else:
            n = int(hmap.get("content-length", "0") or 0)
            while len(self.buf) < n:
                self.more()
            body, self.buf = self.buf[:n], self.buf[n:]
        return start_line, headers, hmap, body

    def answer(self, status, body, extra=()):
        head = ["HTTP/1.1 %d X" % status, "Content-Type: application/json"] + list(extra)
        if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in extra):
            head.append("Content-Length: %d" % len(body))
        self.s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def serve(self):
        while True:
            try:
                start_line, headers, hmap, body = self.request()
            except (EOFError, OSError, ValueError):
                if self.buf:
                    log({"conn": self.cid, "leftover": self.buf.decode("latin-1")})
                return
            parts = start_line.split(" ")
            method = parts[0]
            target = parts[1] if len(parts) > 1 else ""
            path, _, query = target.partition("?")
            auth = hmap.get("authorization", "")
            key = auth[7:] if auth.startswith("Bearer ") else hmap.get("x-api-key", "")
            log({"conn": self.cid, "method": method, "path": path, "query": query,
                 "headers": headers, "key": key, "tag": hmap.get("x-tag", "")})
            if method == "POST" and path == "/api/v1/tokens" and key.startswith("sk-"):
                life = int(dict(p.partition("=")[::2] for p in query.split("&")).get(
                    "expire_in_seconds", "60"))
                token = "st-split-%d-%d" % (self.cid, seq[0])
                out = json.dumps({"token": token, "expires_at": int(time.time()) + life})
                self.answer(200, out.encode())
                continue
            out = json.dumps({"path": path, "tag": hmap.get("x-tag", ""), "key": key,
                              "conn": self.cid}).encode()
            if "mode=tecl" in query:
                chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(out), out)
                self.answer(200, chunked, ["Transfer-Encoding: chunked",
                                           "Content-Length: %d" % (len(out) // 2)])
            elif "mode=twocl" in query:
                self.answer(200, out, ["Content-Length: %d" % len(out),
                                       "Content-Length: %d" % (len(out) + 1)])
            elif "mode=crhead" in query:
                self.answer(200, out, ["X-Odd: a\rSet-Cookie: b=c"])
            else:
                self.answer(200, out)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(os.path.join(DIR, "port.tmp"), "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    cid = 0
    while True:
        s, _ = srv.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid += 1
        threading.Thread(target=Conn(s, cid).serve, daemon=True).start()


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""HTTP/1.1 on a bare socket, for the proxy tests that need what no client
library gives: requests written as given (pipelined, several at once), and
responses framed exactly as RFC 9112 section 6.3 says (no body after HEAD,
1xx, 204 or 304, whatever the headers say), the way strict clients (Node's)
read them: a byte no response accounts for becomes the start of the next
response. (curl and Python's http.client forgive such bytes.)"""
import socket


def request(port, key, method, path, body=b"", headers=()):
    """One request's bytes, with Host, the key as a Bearer token and a
    Content-Length when there is a body."""
    h = ["Host: 127.0.0.1:%d" % port, "Authorization: Bearer " + key] + list(headers)
    if body:
        h.append("Content-Length: %d" % len(body))
    return ("%s %s HTTP/1.1\r\n%s\r\n\r\n" % (method, path, "\r\n".join(h))).encode() + body


class Conn:
    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()

    def more(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("the connection closed")
        self.buf += d

    def take(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while b"\r\n" not in self.buf:
            self.more()
        return self.take(self.buf.index(b"\r\n") + 2)[:-2]

    def response(self, method="POST"):
        """The next response as (status, headers, body, closes), headers
        with lower-case names; None when the connection closed before
        one began. EOFError when it closed inside one, ValueError when
        what came is not a response."""
        if not self.buf:
            try:
                self.more()
            except EOFError:
                return None
        status = self.line().decode("latin-1")
        if not status.startswith("HTTP/1.1 "):
            raise ValueError("not a status line: %r" % status)
        code = int(status.split()[1])
        headers = {}
        while True:
            l = self.line().decode("latin-1")
            if not l:
                break
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        data = b""
        closes = headers.get("connection", "").lower() == "close"
        if method == "HEAD" or code < 200 or code in (204, 304):
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                n = int(self.line().split(b";")[0], 16)
                if not n:
                    while self.line():
                        pass
                    break
                data += self.take(n)
                self.take(2)
        elif "content-length" in headers:
            data = self.take(int(headers["content-length"]))
        else:
            closes = True
            try:
                while True:
                    self.more()
            except EOFError:
                data, self.buf = self.buf, b""
        return code, headers, data, closes

    def rest(self, wait=0.5):
        """What else the peer sends within wait seconds (or before it
        closes): bytes no response accounted for."""
        self.s.settimeout(wait)
        try:
            while True:
                self.more()
        except (socket.timeout, EOFError):
            pass
        out, self.buf = self.buf, b""
        return out


if __name__ == "__main__":
    # raw_http.py PORT < REQUEST: sends the bytes as they are and prints the
    # first response's status and whether it says the connection closes
    # ("400 close"), or "none" when the connection closed with no response.
    import sys
    c = Conn(int(sys.argv[1]))
    c.send(sys.stdin.buffer.read())
    r = c.response()
    print("none" if r is None else "%d %s" % (r[0], "close" if r[3] else "open"))

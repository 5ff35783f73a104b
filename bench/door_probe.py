# SPDX-License-Identifier: MIT
"""What each front door does with the malformed requests the proxy refuses
(tests/test_proxy_door.sh, SPEC section 10): each request is written as
given on a fresh connection and the first line of the answer is kept.
A 2xx means the request was parsed and handed on to the upstream: a
request-smuggling or header-injection path where a back end reads it
another way. Not a test: bench/proxy prints the table beside its figures.

Usage: door_probe.py KEY LABEL=PORT [LABEL=PORT ...]
Prints a markdown table, a column per LABEL."""
import socket
import sys

CHAT = "/compatible-mode/v1/chat/completions"

# (what, request line's method and target, header lines, body); the
# header lines are raw bytes, each ending as the case wants
CASES = [
    ("a strict request", "POST", b"X-Tag: plain\r\n", b"{}"),
    ("bare CR in a header value", "POST", b"X-Tag: a\rX-Other: b\r\n", b"{}"),
    ("bare LF as a line end", "POST", b"X-Tag: a\nX-Other: b\r\n", b"{}"),
    ("NUL in a header value", "POST", b"X-Tag: a\0b\r\n", b"{}"),
    ("control byte in a header value", "POST", b"X-Tag: a\x01b\r\n", b"{}"),
    ("space before the colon", "POST", b"X-Tag : a\r\n", b"{}"),
    ("obs-fold line", "POST", b"X-Tag: a\r\n folded\r\n", b"{}"),
    ("method not a token", "PO(ST", b"", b"{}"),
    ("header name not a token", "POST", b"X(Tag): a\r\n", b"{}"),
    ("second Host", "POST", b"Host: 127.0.0.1:%(port)d\r\n", b"{}"),
    ("Content-Length and Transfer-Encoding", "POST",
     b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", None),
    ("transfer-coding list", "POST",
     b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n", None),
    ("two Content-Lengths", "POST", b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", None),
]


def request(port, key, method, extra, body):
    head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n" % (
        method.encode(), CHAT.encode(), port, key.encode())
    extra = extra.replace(b"%(port)d", str(port).encode())
    if body is None:  # the case writes its own framing and body, as the test's
        return head + extra + b"\r\n"
    return head + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def answer(port, data):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            first = s.recv(4096).split(b"\r\n", 1)[0]
    except socket.timeout:
        return "no answer in 5 s"
    except OSError as e:
        return "error: %s" % (e.strerror or e)
    if not first:
        return "closed"
    parts = first.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 else "?"


def main():
    key = sys.argv[1]
    targets = [a.split("=", 1) for a in sys.argv[2:]]
    print("| request | " + " | ".join(label for label, _ in targets) + " |")
    print("|---|" + "---:|" * len(targets))
    for what, method, extra, body in CASES:
        row = []
        for _, port in targets:
            got = answer(int(port), request(int(port), key, method, extra, body))
            row.append("**%s**" % got if got.startswith("2") and what != "a strict request" else got)
        print("| %s | %s |" % (what, " | ".join(row)))


if __name__ == "__main__":
    main()

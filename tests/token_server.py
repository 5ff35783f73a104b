#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Loopback HTTPS server that behaves like the Model Studio token endpoint
(SPEC section 7, reference/dashscope-api.md), scripted per test by the
long-lived key it receives: the key "sk-test-<scenario>-..." selects the
answer. Every request is appended to a log (one JSON object a line) so tests
can check what arrived where. It generates nothing itself: the certificates
come from tests/make-certs.sh.

Usage: token_server.py DIR   (DIR holds the certificates; ports.json and
requests.log are written there). Stops on SIGTERM, when its parent exits, or after 15 minutes.
"""
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers"))
from publish import publish_and_wait  # noqa: E402

DIR = sys.argv[1]
LOG = os.path.join(DIR, "requests.log")
lock = threading.Lock()
counts = {}
ports = {}
# every temporary key this server minted, with its expiry (Unix seconds):
# the model endpoints take these and nothing else
minted_keys = {}
once = set()  # ids of 401once requests already refused
# mode=gather: by id, how many requests came in, whether closeidle asked
# their idle connections to close, and how many have
gathered = {}
gather_cv = threading.Condition()


def managed_key(key):
    """What the key-management double (tests/servers/modelstudio.py, same
    DIR) says of KEY: "deleted" (401 InvalidApiKey, as the service answers
    a deleted key), "refused" (a key rotate created, while the test's
    faults.json says "mint": "refuse"), "live", or None (not its key)."""
    try:
        with open(os.path.join(DIR, "modelstudio-state.json")) as f:
            state = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    if key in state.get("deleted", []):
        return "deleted"
    for keys in state.get("workspaces", {}).values():
        for k in keys:
            if k["value"] == key:
                try:
                    with open(os.path.join(DIR, "faults.json")) as f:
                        refuse = json.load(f).get("mint") == "refuse"
                except FileNotFoundError:
                    refuse = False
                return "refused" if refuse and k.get("by_rotate") else "live"
    return None


def log(entry):
    with lock:
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")


EDGE_MODES = ("status", "nocontent", "etag", "interim", "cut", "eof", "headers", "sum", "hangup",
              "slowhead", "trickle", "endless", "endlesshead", "bighead", "excess", "headbody")
MODEL_PATHS = ("/compatible-mode/v1/chat/completions", "/apps/anthropic/v1/messages",
               "/compatible-mode/v1/responses", "/compatible-mode/v1/models")


def remember_minted(token, expires_at):
    with lock:
        minted_keys[token] = expires_at


def minted_and_unexpired(key):
    """True when KEY is a temporary key this server minted and it has not
    expired: what the real endpoints accept from a client holding a
    temporary key (a long-lived or made-up key is refused with 401)."""
    with lock:
        exp = minted_keys.get(key)
    return exp is not None and exp > time.time()


def log_headers(handler):
    """headers.log: every request's headers, for tests that check what
    reached upstream (the proxy key never may)."""
    with lock:
        with open(os.path.join(DIR, "headers.log"), "a") as f:
            f.write(json.dumps({"listener": handler.listener, "method": handler.command,
                                "path": handler.path.partition("?")[0],
                                "headers": [[k, v] for k, v in handler.headers.items()]}) + "\n")


def key_valid(handler):
    """A chat request is served only with a key minted here and not yet
    expired, sent as Bearer or x-api-key."""
    auth = handler.headers.get("Authorization", "")
    key = auth[7:] if auth.startswith("Bearer ") else handler.headers.get("x-api-key", "")
    return minted_and_unexpired(key)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    listener = "main"
    # headers and body in separate small writes: without this, Nagle and
    # delayed ACKs stall each keep-alive request ~40 ms
    disable_nagle_algorithm = True

    def proxy_chat(self, path, params, body):
        """The chat endpoints as the proxy tests need them (requests with a
        mode in the query): only valid keys, and mode=slowsse (n chunks, ms apart),
        mode=bigsse (mb megabytes as fast as possible), mode=401once (the
        first request with that id gets 401), mode=gather and mode=closeidle
        (connections the server closes once idle), and the answers of
        edge_reply."""
        mode = params.get("mode", "")
        rid = params.get("id", "")
        if mode == "closeidle":
            return self.close_idle(rid)
        if mode == "401endless":
            with lock:
                first = rid not in once
                once.add(rid)
            if first:
                return self.endless_401(rid)
            mode = ""
        if mode in ("401once", "early"):
            with lock:
                first = rid not in once
                once.add(rid)
            if first:
                return self.error(401, "InvalidApiKey", "Invalid API-key provided.")
        if not key_valid(self):
            return self.error(401, "InvalidApiKey", "Invalid API-key provided.")
        if mode == "early":
            mode = "sum"
        if mode == "gather":
            return self.gather(rid, params)
        if mode in ("slowsse", "bigsse"):
            return self.stream(mode, rid, params)
        if mode in ("slowhead", "trickle", "endless", "endlesshead", "bighead", "excess", "headbody"):
            return self.misbehave(mode, rid, params)
        if mode in EDGE_MODES:
            return self.edge_reply(mode, rid, params, body)
        return self.model_reply(path, body)

    def edge_reply(self, mode, rid, params, body):
        """Answers other than 200, SSE and 401, for the proxy's edge cases:
        status (code=N with a JSON error; 307 with a Location), nocontent (204), etag (304 to a
        matching If-None-Match), interim (100 and 103 before the 200), cut
        (the body stops short of its Content-Length, or of its last chunk
        with chunked=1, and the connection closes), eof (no length, no
        chunks: the body ends at close), headers (end-to-end and hop-by-hop
        response headers), sum (logs the sha256 of the request body; mb=N
        answers N MiB of bytes and logs their sha256), hangup (the connection
        closes with no answer). HEAD gets the head of the same answer."""
        if mode == "status":
            code = int(params.get("code", "500"))
            extra = {429: {"Retry-After": "7"}, 307: {"Location": "https://elsewhere.invalid/x"}}
            return self.error(code, "Edge%d" % code, "edge answer %d" % code, extra.get(code))
        if mode == "hangup":
            self.close_connection = True
            return self.connection.shutdown(socket.SHUT_RDWR)
        if mode == "nocontent":
            self.send_response(204)
            self.send_header("x-request-id", "req-" + rid)
            return self.end_headers()
        if mode == "etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                return self.end_headers()
            return self.send_json(200, {"v": 1}, {"ETag": '"v1"'})
        if mode == "interim":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </hint.css>; rel=preload\r\n"
                             b"X-Interim: 1\r\n\r\n")
            return self.send_json(200, {"final": True}, {"X-Final": "1"})
        if mode in ("cut", "eof"):
            data = b"x" * 1000
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            if mode == "eof":
                self.send_header("Connection", "close")
            elif params.get("chunked"):
                self.send_header("Transfer-Encoding", "chunked")
                data = b"%x\r\n%s\r\n" % (len(data), data)
            else:
                self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
            return
        if mode == "headers":
            self.send_response(200)
            for k, v in (("Content-Type", "application/json"), ("Set-Cookie", "edge=1; Path=/"),
                         ("Set-Cookie", "edge2=2"),
                         ("x-request-id", "req-" + rid), ("Connection", "keep-alive, X-Hop"),
                         ("X-Hop", "1"), ("Keep-Alive", "timeout=5"), ("Trailer", "X-Trail"),
                         ("Upgrade", "h2c"), ("Proxy-Authenticate", "Basic"),
                         ("Access-Control-Allow-Origin", "*"),
                         ("Access-Control-Allow-Headers", "authorization"),
                         ("Transfer-Encoding", "chunked")):
                self.send_header(k, v)
            self.end_headers()
            data = b'{"headers": true}'
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
            return
        # sum
        log({"sum": rid, "body_sha256": hashlib.sha256(body).hexdigest()})
        data = b""
        if int(params.get("mb", "0")):
            # deterministic bytes of every value, not a run of one
            seed = hashlib.sha256(rid.encode()).digest()
            data = b"".join(hashlib.sha256(seed + n.to_bytes(4, "big")).digest()
                            for n in range(int(params["mb"]) * 32768))
        log({"sent": rid, "sha256": hashlib.sha256(data).hexdigest()})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def endless_401(self, rid):
        """mode=401endless: the first request with an id gets a 401 whose
        chunked body never ends (until the peer goes away); the next is
        answered as usual."""
        log({"endless401": rid, "t": time.time()})
        self.close_connection = True
        try:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            blob = b" " * 4096
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(blob), blob))
        except OSError:
            log({"endless401_closed": rid, "t": time.time()})

    def gather(self, rid, params):
        """mode=gather: answered once n requests with its id are in (so each
        came on a connection of its own), then its connection stays open and
        idle until mode=closeidle with the same id closes it, as nginx closes
        a keep-alive connection idle past keepalive_timeout: a TLS
        close_notify, then the socket shut down."""
        n = int(params.get("n", "2"))
        with gather_cv:
            g = gathered.setdefault(rid, {"in": 0, "closing": False, "closed": 0})
            g["in"] += 1
            gather_cv.notify_all()
            gather_cv.wait_for(lambda: g["in"] >= n, 120)
        self.send_json(200, {"gathered": rid})
        with gather_cv:
            gather_cv.wait_for(lambda: g["closing"], 600)
        self.close_connection = True
        try:
            # non-blocking: close_notify goes out, the peer's is not awaited
            self.connection.settimeout(0)
            self.connection.unwrap()
        except (OSError, ValueError):
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with gather_cv:
            g["closed"] += 1
            gather_cv.notify_all()

    def close_idle(self, rid):
        """mode=closeidle: closes the idle connections of mode=gather with
        the same id; answers how many it closed once they all are."""
        with gather_cv:
            g = gathered.setdefault(rid, {"in": 0, "closing": False, "closed": 0})
            g["closing"] = True
            gather_cv.notify_all()
            gather_cv.wait_for(lambda: g["closed"] >= g["in"], 120)
            closed = g["closed"]
        log({"closed_idle": rid, "n": closed})
        return self.send_json(200, {"closed": closed})

    def early_answer(self):
        """mode=early: the first request with an id gets a 401 before its
        body is read (as servers refuse a request by its head), then the
        connection closes; the next is read and answered as mode=sum."""
        rid = dict(p.split("=", 1) for p in self.path.partition("?")[2].split("&") if "=" in p).get("id", "")
        with lock:
            first = rid not in once
            once.add(rid)
        if not first:
            return False
        log({"early": rid, "t": time.time()})
        self.close_connection = True
        self.error(401, "InvalidApiKey", "Invalid API-key provided.", {"Connection": "close"})
        self.wfile.flush()
        # Early on purpose, then lingering on purpose (as nginx's lingering
        # close): the body is read and discarded before the close. Closing
        # with the upload unread would reset the connection, and the proxy
        # would see a send error this server caused instead of the 401.
        log({"early_discarded": rid, "bytes": self.discard_body()})
        return True

    def discard_body(self):
        """Reads and drops the request body (Content-Length bytes, or up to
        the end of a chunked one), stopping early when the peer closes;
        returns the bytes read."""
        left = int(self.headers.get("Content-Length", "0") or 0)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        got = 0
        self.connection.settimeout(60)
        try:
            while chunked or left > 0:
                d = self.rfile.read1(min(left, 65536) if not chunked else 65536)
                if not d:
                    break
                got += len(d)
                left -= len(d)
                if chunked and d.endswith(b"0\r\n\r\n"):
                    break
        except (OSError, ValueError):
            pass
        return got

    def wait_for_close(self, seconds):
        """Waits up to SECONDS for the peer to close the connection; logs
        {"aborted": id} and returns True when it did."""
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.connection], [], [], 0.05)
            if not r:
                continue
            self.connection.settimeout(0.05)
            try:
                if not self.connection.recv(1):
                    return True
            except socket.timeout:
                pass
            except (OSError, ValueError):
                return True
            finally:
                self.connection.settimeout(None)
        return False

    def misbehave(self, mode, rid, params):
        """Upstreams that break the rules or test patience: slowhead (no
        answer for ms milliseconds, then a small one; a close meanwhile is
        logged as aborted), trickle (n body bytes, one every ms), endless
        (a chunked body that never ends), endlesshead (a head that never
        ends), bighead (kb KiB of response headers), excess (more body
        than the Content-Length, bytes that read as a second answer),
        headbody (an answer to HEAD that carries a body)."""
        ms = int(params.get("ms", "1000")) / 1000.0
        try:
            if mode == "slowhead":
                log({"waiting": rid, "t": time.time()})
                if self.wait_for_close(ms):
                    log({"aborted": rid, "t": time.time()})
                    self.close_connection = True
                    return
                return self.send_json(200, {"slow": rid})
            if mode == "trickle":
                n = int(params.get("n", "5"))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                self.wfile.flush()
                for i in range(n):
                    time.sleep(ms)
                    self.wfile.write(b"t")
                    self.wfile.flush()
                    log({"trickle": rid, "n": i, "t": time.time()})
                return
            if mode == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                blob = b"data: " + b"e" * 16384 + b"\n\n"
                sent = 0
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(blob), blob))
                    sent += len(blob)
                    if sent % (len(blob) * 64) == 0:
                        log({"endless": rid, "bytes": sent, "t": time.time()})
            if mode == "endlesshead":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
                n = 0
                while True:
                    self.wfile.write(b"X-Pad-%d: %s\r\n" % (n, b"p" * 1000))
                    n += 1
                    if n % 100 == 0:
                        log({"endlesshead": rid, "n": n, "t": time.time()})
            if mode == "bighead":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                for i in range(int(params.get("kb", "200"))):
                    self.send_header("X-Pad-%d" % i, "p" * 1000)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                return
            if mode == "excess":
                stale = b'{"stale": "%s"}' % rid.encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 2\r\n\r\n{}" +
                                 b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(stale), stale))
                return
            # headbody
            stale = b'{"stale": "%s"}' % rid.encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(stale), stale))
        except OSError:
            log({"aborted": rid, "t": time.time()})
            self.close_connection = True

    def stream(self, mode, rid, params):
        n = int(params.get("n", "5"))
        gap = int(params.get("ms", "300")) / 1000.0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req-" + (rid or "sse"))
        self.end_headers()
        try:
            if mode == "bigsse":
                blob = b"data: " + b"x" * 65536 + b"\n\n"
                for _ in range(int(params.get("mb", "16")) * 16):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(blob), blob))
            for i in range(n):
                if i:
                    time.sleep(gap)
                ev = b"data: " + json.dumps({"n": i, "id": rid}).encode() + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                self.wfile.flush()
                log({"sse": rid, "n": i, "t": time.time()})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            log({"aborted": rid, "t": time.time()})
            self.close_connection = True

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, extra=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, extra=None):
        self.send_json(status, {"code": code, "message": message,
                                "request_id": "req-%s-%d" % (code, status)}, extra)

    def model_reply(self, path, body):
        """Answers a chat request the way the OpenAI-compatible and the
        Anthropic-compatible endpoints do (streamed when asked), so that
        real clients (tests/test_clients.sh) finish their turn."""
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        model = req.get("model", "qwen-plus")
        text = "E2E-OK"
        if path.endswith("/chat/completions"):
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            if not req.get("stream"):
                return self.send_json(200, {
                    "id": "chatcmpl-e2e", "object": "chat.completion", "created": int(time.time()),
                    "model": model, "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}]})
            chunk = {"id": "chatcmpl-e2e", "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model}
            events = [(None, dict(chunk, choices=[{"index": 0, "finish_reason": None,
                                                   "delta": {"role": "assistant", "content": text}}])),
                      (None, dict(chunk, choices=[{"index": 0, "finish_reason": "stop", "delta": {}}],
                                  usage=usage)),
                      (None, "[DONE]")]
        else:
            usage = {"input_tokens": 1, "output_tokens": 1}
            message = {"id": "msg_e2e", "type": "message", "role": "assistant", "model": model,
                       "stop_reason": None, "stop_sequence": None, "usage": usage}
            if not req.get("stream"):
                return self.send_json(200, dict(message, content=[{"type": "text", "text": text}],
                                                stop_reason="end_turn"))
            events = [("message_start", {"type": "message_start", "message": dict(message, content=[])}),
                      ("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}),
                      ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": text}}),
                      ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                      ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 1},
                                         "delta": {"stop_reason": "end_turn", "stop_sequence": None}}),
                      ("message_stop", {"type": "message_stop"})]
        return self.send_sse(events)

    def model_endpoint(self, path, body, key):
        """The model API: only minted, unexpired keys (Bearer or x-api-key)
        get an answer; GET only for the model list, POST for the rest."""
        if not (minted_and_unexpired(key) or minted_and_unexpired(self.headers.get("x-api-key", ""))):
            # tests look for keys sent after they died
            log({"refused": key or self.headers.get("x-api-key", ""), "refused_at": path})
            return self.error(401, "InvalidApiKey", "Invalid API-key provided.")
        if path.endswith("/models"):
            if self.command != "GET":
                return self.error(405, "MethodNotAllowed", "use GET")
            return self.models_reply()
        if self.command != "POST":
            return self.error(405, "MethodNotAllowed", "use POST")
        if path.endswith("/responses"):
            return self.responses_reply(body)
        return self.model_reply(path, body)

    def send_sse(self, events):
        """Sends (event name or None, data) pairs as one text/event-stream body."""
        out = b""
        for name, data in events:
            if name:
                out += b"event: " + name.encode() + b"\n"
            out += b"data: " + (data if isinstance(data, str) else json.dumps(data)).encode() + b"\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def models_reply(self):
        """GET /compatible-mode/v1/models, as the OpenAI-compatible API lists models."""
        now = int(time.time())
        self.send_json(200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": now, "owned_by": "system"}
            for m in ("qwen-plus", "qwen3-max", "qwen3-coder-plus")]})

    def responses_reply(self, body):
        """POST /compatible-mode/v1/responses: the OpenAI Responses API, whole
        or streamed as named events from response.created to
        response.completed (what Codex CLI speaks)."""
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        if not isinstance(req, dict):
            req = {}
        text = "E2E-OK"
        now = int(time.time())
        rid, mid = "resp_e2e%d" % now, "msg_e2e%d" % now
        usage = {"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 2}
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"id": mid, "type": "message", "status": "completed", "role": "assistant",
                "content": [part]}
        response = {"id": rid, "object": "response", "created_at": now, "status": "completed",
                    "model": req.get("model", "qwen-plus"), "output": [item], "usage": usage,
                    "error": None, "incomplete_details": None}
        if not req.get("stream"):
            return self.send_json(200, response)
        started = dict(response, status="in_progress", output=[], usage=None)
        where = {"item_id": mid, "output_index": 0, "content_index": 0}
        events = [("response.created", {"type": "response.created", "response": started}),
                  ("response.in_progress", {"type": "response.in_progress", "response": started}),
                  ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                                  "item": dict(item, status="in_progress", content=[])}),
                  ("response.content_part.added", dict(where, type="response.content_part.added",
                                                       part=dict(part, text=""))),
                  ("response.output_text.delta", dict(where, type="response.output_text.delta", delta=text)),
                  ("response.output_text.done", dict(where, type="response.output_text.done", text=text)),
                  ("response.content_part.done", dict(where, type="response.content_part.done", part=part)),
                  ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0,
                                                 "item": item}),
                  ("response.completed", {"type": "response.completed", "response": response})]
        for n, (_, data) in enumerate(events):
            data["sequence_number"] = n
        self.send_sse(events)

    def do_GET(self):
        self.do_POST()

    def do_HEAD(self):
        self.do_POST()

    def do_POST(self):
        log_headers(self)
        auth = self.headers.get("Authorization", "")
        length = int(self.headers.get("Content-Length", "0") or 0)
        if "mode=early" in self.path and self.early_answer():
            return
        body = self.rfile.read(length) if length else b""
        key = auth[7:] if auth.startswith("Bearer ") else ""
        path, _, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        log({"listener": self.listener, "method": self.command, "path": path,
             "query": query, "key": key, "body_len": len(body),
             "host": self.headers.get("Host", ""), "x_api_key": self.headers.get("x-api-key", "")})
        if self.listener != "main":
            return self.send_json(200, {"token": "st-from-elsewhere", "expires_at": int(time.time()) + 60})
        if path in MODEL_PATHS:
            if params.get("mode"):
                return self.proxy_chat(path, params, body)
            return self.model_endpoint(path, body, key)
        if self.command != "POST" or path != "/api/v1/tokens":
            return self.error(404, "NotFound", "no such path")
        if not key.startswith("sk-"):
            return self.error(401, "InvalidApiKey", "Invalid API-key provided.")
        managed = managed_key(key)
        if managed == "deleted":
            return self.error(401, "InvalidApiKey", "Invalid API-key provided.")
        if managed == "refused":
            return self.error(403, "AccessDenied", "Access denied.")
        parts = key.split("-")
        scenario = parts[2] if len(parts) > 2 and parts[1] == "test" else "ok"
        if managed == "live":
            scenario = "ok"
        with lock:
            counts[key] = counts.get(key, 0) + 1
            n = counts[key]
        lifetime = int(params.get("expire_in_seconds", "60"))
        now = int(time.time())
        good = {"token": "st-%s-%d-%d" % (scenario, n, now), "expires_at": now + lifetime}
        if scenario == "firstdead":
            # the first key minted for this long-lived key dies at once on the
            # model endpoints (401): a client must run its key command again
            remember_minted(good["token"], good["expires_at"] if n > 1 else 0)
            log({"minted": good["token"]})
            return self.send_json(200, good)
        if scenario == "slowmint":
            # a token endpoint that takes its time (ms in the key's 4th part)
            log({"minting": key[-6:], "t": time.time()})
            time.sleep(int(parts[3]) / 1000.0 if len(parts) > 3 and parts[3].isdigit() else 2)
            remember_minted(good["token"], good["expires_at"])
            log({"minted": good["token"], "t": time.time()})
            return self.send_json(200, good)
        if scenario == "onceok":
            # the first mint succeeds, every later one is refused
            if n > 1:
                return self.error(403, "AccessDenied", "Access denied.")
            remember_minted(good["token"], good["expires_at"])
            log({"minted": good["token"]})
            return self.send_json(200, good)
        if scenario in ("ok", "sp"):
            remember_minted(good["token"], good["expires_at"])
            log({"minted": good["token"]})
            return self.send_json(200, good)
        if scenario == "extra":
            return self.send_json(200, dict(good, other="ignored"))
        if scenario == "e400":
            return self.error(400, "InvalidParameter", "expire_in_seconds out of range")
        if scenario == "e401":
            return self.error(401, "InvalidApiKey", "Invalid API-key provided.")
        if scenario == "e401echo":
            # a server that echoes what it was sent: our key must not reach stderr
            return self.error(401, "InvalidApiKey", "Invalid API-key provided: %s (Bearer %s)" % (key, key))
        if scenario in ("e401b64", "e401b64url", "e401upper", "e401pct"):
            # echoes of the key in other encodings: none may reach stderr
            import base64, urllib.parse
            shown = {"e401b64": base64.b64encode(("Bearer " + key).encode()).decode(),
                     "e401b64url": base64.urlsafe_b64encode(("x" + key).encode()).decode(),
                     "e401upper": key.upper(),
                     "e401pct": "".join("%%%02X" % b for b in key.encode())}[scenario]
            return self.error(401, "InvalidApiKey", "Invalid API-key provided: " + shown)
        if scenario in ("e401jsonb64", "e401jsonupper"):
            # the same echoes written with JSON escapes (as PHP writes "\/"):
            # the raw body holds no encoding of the key, the decoded text does
            import base64
            shown = {"e401jsonb64": base64.b64encode(("Bearer " + key).encode()).decode(),
                     "e401jsonupper": key.upper()}[scenario]
            esc = "".join("\\u%04x" % ord(c) for c in shown)
            raw = ('{"code": "InvalidApiKey", "message": "Invalid API-key provided: %s", '
                   '"request_id": "r1"}' % esc).encode()
            return self.send_json(401, None, raw=raw)
        if scenario == "e403":
            return self.error(403, "AccessDenied", "Access denied.")
        if scenario == "e429":
            return self.error(429, "Throttling.RateQuota", "Requests rate limit exceeded.", {"Retry-After": "1"})
        if scenario == "e429bare":
            return self.error(429, "Throttling.RateQuota", "Requests rate limit exceeded.")
        if scenario == "e500":
            return self.error(500, "SystemError", "An internal error has occured.")
        if scenario == "e503once":
            if n == 1:
                return self.error(503, "SystemError", "Service unavailable.")
            return self.send_json(200, good)
        if scenario == "nonjson":
            return self.send_json(200, None, raw=b"<html>gateway</html>")
        if scenario == "errbody":
            return self.send_json(200, {"code": "SystemError", "message": "oops", "request_id": "r1"})
        if scenario == "notoken":
            return self.send_json(200, {"expires_at": now + lifetime})
        if scenario == "numtoken":
            return self.send_json(200, {"token": 12345, "expires_at": now + lifetime})
        if scenario == "emptytoken":
            return self.send_json(200, {"token": "", "expires_at": now + lifetime})
        for name, bad in (("lftoken", "st-a\nb"), ("crtoken", "st-a\rb"), ("sqtoken", "st-a'b"),
                          ("dqtoken", 'st-a"b'), ("subtoken", "st-$(id)"), ("bqtoken", "st-`id`"),
                          ("semitoken", "st-a;b"), ("sptoken", "st-a b")):
            if scenario == name:
                return self.send_json(200, {"token": bad, "expires_at": now + lifetime})
        if scenario == "echotoken":
            # a broken gateway that hands the long-lived key back as the token
            return self.send_json(200, {"token": key, "expires_at": now + lifetime})
        if scenario == "noexp":
            return self.send_json(200, {"token": good["token"]})
        if scenario == "strexp":
            return self.send_json(200, {"token": good["token"], "expires_at": str(now + lifetime)})
        if scenario == "pastexp":
            return self.send_json(200, {"token": good["token"], "expires_at": now - 10})
        if scenario == "farexp":
            return self.send_json(200, {"token": good["token"], "expires_at": now + lifetime + 3600})
        if scenario == "dupkey":
            raw = ('{"token": "st-one", "token": "st-two", "expires_at": %d}' % (now + lifetime)).encode()
            return self.send_json(200, None, raw=raw)
        if scenario == "big":
            chunk = b"x" * 65536
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(160):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        if scenario == "chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 8192
            try:
                for _ in range(1280):  # 10 MB, and no final chunk
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                time.sleep(30)
            except OSError:
                pass
            self.close_connection = True
            return
        if scenario == "stall":
            time.sleep(30)
            return
        if scenario == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if scenario == "redirect":
            self.send_response(307)
            self.send_header("Location", "https://127.0.0.1:%d/api/v1/tokens" % ports["other"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        return self.error(400, "Unknown", "unknown scenario")


def serve(name, certfile, keyfile, tls=True):
    handler = type("H_" + name, (Handler,), {"listener": name})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(DIR, certfile), os.path.join(DIR, keyfile))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    ports[name] = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()


serve("main", "server.pem", "server.key")
serve("other", "server.pem", "server.key")
serve("wrongname", "wrongname.pem", "wrongname.key")
serve("selfsigned", "selfsigned.pem", "selfsigned.key")
serve("expired", "expired.pem", "expired.key")
serve("plain", None, None, tls=False)
# a listener that accepts and never answers, not even the TLS handshake
mute = socket.socket()
mute.bind(("127.0.0.1", 0))
mute.listen(16)
ports["mute"] = mute.getsockname()[1]

# stop with the test that started us, even if it dies without cleaning up
publish_and_wait(DIR, "ports.json", ports)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Loopback test double of Model Studio's key-management OpenAPI (product
ModelStudio, version 2026-02-10: CreateApiKey, ListApiKeys, DeleteApiKey;
HTTPS with the suite's certificate) and of the ECS metadata service
(IMDSv2, plain HTTP), for `rotate` (SPEC section 16,
reference/modelstudio-keys.md).

Every management request must carry a valid ACS3-HMAC-SHA256 signature,
recomputed here with the same algorithm from what arrived: an AccessKey of
the state's "access_keys", or STS credentials this server's metadata
service handed out (then with their x-acs-security-token header), an
x-acs-date within 15 minutes, a nonce never seen before, and an
x-acs-content-sha256 that is the body's. Keys live per workspace (id,
value, masked value, description, auth); the full value is only in
Create's answer; lists are paginated; a workspace holds 20 keys at most.

State is one JSON file, DIR/modelstudio-state.json, read and written on
every request under a lock (tests seed it and read it; the token server,
tests/token_server.py, reads it to refuse a deleted key with 401
InvalidApiKey). Faults a test wants are in DIR/faults.json, read on every
request: {"CreateApiKey": "refuse" | "lose", "DeleteApiKey": "refuse",
"ListApiKeys": "refuse", "mint": "refuse"} ("lose": the key is created,
the answer is never sent). Every request is logged to DIR/modelstudio.log,
one JSON object a line, without any secret.

Usage: modelstudio.py DIR   (DIR holds the certificates; writes
modelstudio-ports.json with "api" and "metadata"). Stops when its parent
exits.
"""
import datetime
import hashlib
import hmac
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from publish import publish_and_wait

DIR = sys.argv[1]
STATE = os.path.join(DIR, "modelstudio-state.json")
FAULTS = os.path.join(DIR, "faults.json")
LOG = os.path.join(DIR, "modelstudio.log")
QUOTA = 20
PAGE = 10  # the most keys a page holds, whatever maxResults asks: 20 keys take two pages
WINDOW = 15 * 60
lock = threading.Lock()
nonces = set()


def load():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save(st):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.rename(tmp, STATE)


def faults():
    try:
        with open(FAULTS) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def log(entry):
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


def mask(value):
    """As the console shows a key: its start and end around five stars."""
    return value[:10] + "*****" + value[-4:]


def enc(s):
    return urllib.parse.quote(s, safe="~")


def canonical_request(method, raw_path, query, headers, names, payload_hash):
    path = urllib.parse.unquote(raw_path) or "/"
    uri = "/".join(enc(seg) for seg in path.split("/"))
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    cq = "&".join("%s=%s" % (enc(k), enc(v)) for k, v in pairs)
    ch = "".join("%s:%s\n" % (n, headers.get(n, "").strip()) for n in names)
    return "\n".join([method, uri, cq, ch, ";".join(names), payload_hash])


def new_value():
    # a new-style key: "sk-ws-" and a "." inside (reference: never assume
    # an alphabet beyond SPEC section 3)
    return "sk-ws-%s.%s" % (secrets.token_urlsafe(6).replace("-", "x"), secrets.token_hex(12))


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, obj, action=""):
        obj = dict({"requestId": "req-%s" % secrets.token_hex(4), "httpStatusCode": status,
                    "success": status == 200, "code": "" if status == 200 else obj.get("code", ""),
                    "message": ""}, **obj)
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, status, code, message, action):
        log({"action": action, "refused": code})
        return self.answer(status, {"code": code, "message": message})

    def check_signature(self, st, body):
        """The signature check of the real service: None when it holds,
        else (status, code, message)."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            return (400, "IncompleteSignature", "no ACS3-HMAC-SHA256 Authorization")
        parts = dict(p.split("=", 1) for p in auth[len("ACS3-HMAC-SHA256 "):].split(",") if "=" in p)
        key_id, names = parts.get("Credential", ""), parts.get("SignedHeaders", "").split(";")
        sts = st.get("sts", {}).get(key_id)
        secret = st.get("access_keys", {}).get(key_id) or (sts or {}).get("secret")
        if not secret:
            return (404, "InvalidAccessKeyId.NotFound", "the AccessKey does not exist")
        if sts:
            if self.headers.get("x-acs-security-token") != sts["token"] or \
                    "x-acs-security-token" not in names:
                return (400, "InvalidSecurityToken.Mismatch", "STS credentials need their token")
            if sts["expires"] < time.time():
                return (400, "InvalidSecurityToken.Expired", "the STS token expired")
        needed = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                  "x-acs-content-sha256"}
        if body:
            needed.add("content-type")
        lower = {k.lower(): v for k, v in self.headers.items()}
        if not needed <= set(names) or names != sorted(names) or any(n not in lower for n in names):
            return (400, "IncompleteSignature", "a required header is not signed")
        if lower["x-acs-version"] != "2026-02-10":
            return (400, "InvalidVersion", "unknown version")
        if lower["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
            return (400, "InvalidContentSha256", "x-acs-content-sha256 is not the body's")
        try:
            when = datetime.datetime.strptime(lower["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
            when = when.replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            return (400, "InvalidTimeStamp.Format", "bad x-acs-date")
        if abs(when - time.time()) > WINDOW:
            return (400, "InvalidTimeStamp.Expired", "x-acs-date is not within 15 minutes")
        path, _, query = self.path.partition("?")
        cr = canonical_request(self.command, path, query, lower, names, lower["x-acs-content-sha256"])
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(cr.encode()).hexdigest()
        want = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, parts.get("Signature", "")):
            return (400, "SignatureDoesNotMatch", "the signature does not match")
        nonce = lower["x-acs-signature-nonce"]
        with lock:
            if nonce in nonces:
                return (400, "SignatureNonceUsed", "the nonce was used before")
            nonces.add(nonce)
        return None

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        action = self.headers.get("x-acs-action", "")
        with lock:
            st = load()
        bad = self.check_signature(st, body)
        if bad:
            return self.refuse(bad[0], bad[1], bad[2], action)
        fault = faults().get(action)
        segs = path.strip("/").split("/")
        if action == "CreateApiKey" and self.command == "POST" and segs == ["modelstudio", "apikeys"]:
            return self.create(params, body, fault)
        if action == "ListApiKeys" and self.command == "GET" and segs == ["modelstudio", "apikeys"]:
            if fault == "refuse":
                return self.refuse(403, "Forbidden.NoPermission", "not allowed", action)
            return self.list(params)
        if action == "DeleteApiKey" and self.command == "DELETE" and segs[:2] == ["modelstudio", "apikeys"] \
                and len(segs) == 3:
            if fault == "refuse":
                return self.refuse(403, "Forbidden.NoPermission", "not allowed", action)
            return self.delete(segs[2])
        return self.refuse(404, "InvalidAction.NotFound", "no such action here", action)

    do_GET = do_POST = do_DELETE = do_PUT = handle_any

    def create(self, params, body, fault):
        if fault == "refuse":
            return self.refuse(403, "Forbidden.NoPermission", "not allowed", "CreateApiKey")
        ws = params.get("workspaceId", "")
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        with lock:
            st = load()
            keys = st.setdefault("workspaces", {}).setdefault(ws, [])
            if len(keys) >= QUOTA:
                log({"action": "CreateApiKey", "refused": "quota", "workspace": ws})
                return self.answer(400, {"code": "ApiKeyQuotaExceeded",
                                         "message": "a workspace holds %d keys at most" % QUOTA})
            st["next_id"] = st.get("next_id", 1000) + 1
            key = {"id": st["next_id"], "value": new_value(), "description": params.get("description", ""), "ws": ws,
                   "created": int(time.time() * 1000), "auth": form, "by_rotate": True}
            # what a later list shows of its auth (as the old key's was given)
            ips = [form[k] for k in sorted((k for k in form if k.startswith("auth.accessIps.")),
                                           key=lambda k: int(k.rsplit(".", 1)[1]))]
            key["auth_out"] = dict({"type": form.get("auth.type", "All")}, **({"accessIps": ips} if ips else {}))
            keys.append(key)
            save(st)
        log({"action": "CreateApiKey", "workspace": ws, "id": key["id"], "auth": form,
             "description": key["description"], "lost": fault == "lose",
             "sts": self.headers.get("x-acs-security-token") is not None})
        if fault == "lose":
            # created, and the answer never arrives
            self.close_connection = True
            return
        return self.answer(200, {"apiKey": {"apiKeyId": key["id"], "apiKeyValue": key["value"],
                                            "createdBy": "test", "description": key["description"],
                                            "gmtCreate": key["created"], "workspaceId": ws}})

    def list(self, params):
        ws = params.get("workspaceId", "")
        with lock:
            spaces = load().get("workspaces", {})
        # no workspace: every key the caller may see
        keys = spaces.get(ws, []) if ws else [k for v in spaces.values() for k in v]
        if params.get("apiKeyId"):
            keys = [k for k in keys if str(k["id"]) == params["apiKeyId"]]
        if params.get("description"):
            keys = [k for k in keys if params["description"] in k["description"]]
        size = min(int(params.get("maxResults") or PAGE), PAGE)
        start = int(params.get("nextToken") or 0)
        page = keys[start:start + size]
        nxt = str(start + size) if start + size < len(keys) else ""
        log({"action": "ListApiKeys", "workspace": ws, "start": start, "n": len(page)})
        return self.answer(200, {"apiKeys": [
            {"apiKeyId": k["id"], "apiKeyValue": mask(k["value"]), "description": k["description"],
             "gmtCreate": k["created"], "workspaceId": k.get("ws", ws), "disabled": 0, "createdBy": "test",
             "auth": k.get("auth_out", {"type": "All"})} for k in page],
            "nextToken": nxt, "totalCount": len(keys), "maxResults": size})

    def delete(self, key_id):
        with lock:
            st = load()
            for ws, keys in st.get("workspaces", {}).items():
                for k in keys:
                    if str(k["id"]) == key_id:
                        keys.remove(k)
                        st.setdefault("deleted", []).append(k["value"])
                        save(st)
                        log({"action": "DeleteApiKey", "id": int(key_id), "workspace": ws})
                        return self.answer(200, {})
        return self.refuse(404, "ApiKey.NotFound", "no such key", "DeleteApiKey")


class Metadata(BaseHTTPRequestHandler):
    """The ECS metadata service in hardened mode (IMDSv2): a token first,
    then the role's name, then its temporary credentials."""
    protocol_version = "HTTP/1.1"
    tokens = set()

    def log_message(self, *args):
        pass

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path != "/latest/api/token" or \
                not self.headers.get("X-aliyun-ecs-metadata-token-ttl-seconds", "").isdigit():
            return self.reply(400, "bad token request")
        tok = secrets.token_hex(16)
        with lock:
            Metadata.tokens.add(tok)
        log({"metadata": "token"})
        return self.reply(200, tok)

    def do_GET(self):
        prefix = "/latest/meta-data/ram/security-credentials/"
        with lock:
            known = self.headers.get("X-aliyun-ecs-metadata-token") in Metadata.tokens
            st = load()
        if not known:
            log({"metadata": "refused", "path": self.path})
            return self.reply(401, "token required")
        role = st.get("role")
        if not role or not self.path.startswith(prefix):
            log({"metadata": "no role", "path": self.path})
            return self.reply(404, "Not Found")
        if self.path == prefix:
            log({"metadata": "role"})
            return self.reply(200, role)
        if self.path[len(prefix):] != role:
            return self.reply(404, "Not Found")
        key_id = "STS.%s" % secrets.token_hex(8)
        cred = {"secret": secrets.token_hex(16), "token": secrets.token_urlsafe(48),
                "expires": time.time() + 3600}
        with lock:
            st = load()
            st.setdefault("sts", {})[key_id] = cred
            save(st)
        log({"metadata": "credentials", "role": role})
        exp = datetime.datetime.fromtimestamp(cred["expires"], datetime.timezone.utc)
        return self.reply(200, json.dumps({
            "Code": "Success", "AccessKeyId": key_id, "AccessKeySecret": cred["secret"],
            "SecurityToken": cred["token"], "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))


def serve(handler, tls):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(DIR, "server.pem"), os.path.join(DIR, "server.key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


ports = {"api": serve(Api, True), "metadata": serve(Metadata, False)}
publish_and_wait(DIR, "modelstudio-ports.json", ports)

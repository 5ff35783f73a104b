#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Probes the key-management double (tests/servers/modelstudio.py) with
requests signed here, to show that it refuses what the real service
refuses: a replayed nonce, a date outside 15 minutes, STS credentials
without their token, a body that is not the one hashed. A test that
rotates against the double passes only because the double checks; this
shows it does.

Usage: ms_probe.py DIR KEY_ID SECRET CASE
CASE: ok, replay, stale, sts, sts-without-token, body-changed.
Prints the HTTP status and the answer's code of the (last) request.
"""
import hashlib
import hmac
import json
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DIR, KEY_ID, SECRET, CASE = sys.argv[1:5]
PORT = json.load(open(DIR + "/modelstudio-ports.json"))["api"]


def enc(s):
    return urllib.parse.quote(s, safe="~")


def send(action, method, path, query, body=b"", nonce=None, when=None, key_id=KEY_ID,
         secret=SECRET, token=None, sent_body=None):
    host = "127.0.0.1:%d" % PORT
    h = {"host": host, "x-acs-action": action, "x-acs-version": "2026-02-10",
         "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when or time.time())),
         "x-acs-signature-nonce": nonce or secrets.token_hex(16),
         "x-acs-content-sha256": hashlib.sha256(body).hexdigest()}
    if body:
        h["content-type"] = "application/x-www-form-urlencoded"
    if token:
        h["x-acs-security-token"] = token
    names = sorted(h)
    cq = "&".join("%s=%s" % (enc(k), enc(v)) for k, v in sorted(query.items()))
    cr = "\n".join([method, path, cq, "".join("%s:%s\n" % (n, h[n]) for n in names),
                    ";".join(names), h["x-acs-content-sha256"]])
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(cr.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    h["Authorization"] = "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s" % (
        key_id, ";".join(names), sig)
    ctx = ssl.create_default_context(cafile=DIR + "/ca.pem")
    data = sent_body if sent_body is not None else body
    req = urllib.request.Request("https://%s%s?%s" % (host, path, cq), data=data or None,
                                 method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=ctx) as f:
            return f.status, json.load(f).get("code", "")
    except urllib.error.HTTPError as e:
        return e.code, json.load(e).get("code", "")


def list_keys(**kw):
    return send("ListApiKeys", "GET", "/modelstudio/apikeys", {"workspaceId": "ws-rot"}, **kw)


if CASE == "ok":
    result = list_keys()
elif CASE == "replay":
    list_keys(nonce="probe-nonce")
    result = list_keys(nonce="probe-nonce")
elif CASE == "stale":
    result = list_keys(when=time.time() - 16 * 60)
elif CASE in ("sts", "sts-without-token"):
    # credentials of the role, as an ECS instance gets them (IMDSv2)
    md = "http://127.0.0.1:%d" % json.load(open(DIR + "/modelstudio-ports.json"))["metadata"]
    put = urllib.request.Request(md + "/latest/api/token", method="PUT",
                                 headers={"X-aliyun-ecs-metadata-token-ttl-seconds": "60"})
    tok = urllib.request.urlopen(put).read().decode()
    prefix = md + "/latest/meta-data/ram/security-credentials/"
    get = lambda url: urllib.request.urlopen(urllib.request.Request(
        url, headers={"X-aliyun-ecs-metadata-token": tok})).read().decode()
    cred = json.loads(get(prefix + get(prefix)))
    result = list_keys(key_id=cred["AccessKeyId"], secret=cred["AccessKeySecret"],
                       token=cred["SecurityToken"] if CASE == "sts" else None)
elif CASE == "body-changed":
    result = send("CreateApiKey", "POST", "/modelstudio/apikeys",
                  {"workspaceId": "ws-rot", "description": "x"}, body=b"auth.type=All",
                  sent_body=b"auth.type=Custom")
else:
    sys.exit("unknown case")
print(result[0], result[1])

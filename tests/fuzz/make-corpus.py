#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the fuzz targets into corpus/<target>/.

Every hostile input of shared/reference/protocol-and-threats.md that a
parser sees is here, named after its number, next to ordinary inputs.
The files are committed; run this again only to change the seeds.
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

REQ = b"protocol=https\nhost=dashscope-intl.aliyuncs.com\n"


def protocol():
    yield "ok-get", REQ + b"\n"
    yield "ok-full", (b"protocol=https\nhost=dashscope.aliyuncs.com\npath=compatible-mode/v1\n"
                      b"username=work\nprofile=work\nregion=cn-beijing\nlifetime=120\n"
                      b"capability[]=authtype\ncapability[]=state\n\n")
    yield "ok-url", b"url=https://ws-abc.eu-central-1.maas.aliyuncs.com/api/v1/x\n\n"
    yield "ok-store", REQ + b"username=work\npassword=sk-abcdef0123456789\nephemeral=1\n\n"
    yield "h01-duplicate-scalar", b"host=a\nhost=b\n\n"
    yield "h02-bare-cr", b"protocol=https\nhost=a\rhost=b\n\n"
    yield "h03-crlf", b"protocol=https\r\nhost=dashscope-intl.aliyuncs.com\r\n\r\n"
    yield "h04-nul", b"protocol=https\nhost=dashscope\0.evil\n\n"
    yield "h05-long-line", b"host=" + b"a" * 70000 + b"\n\n"
    yield "h06-wwwauth-filler", b"wwwauth[]=" + b"x" * 1001 + b"host=victim\n\n"
    yield "h07-no-equals", REQ + b"garbage\n\n"
    yield "h08-empty-name", b"=value\nho st=a\n host=b\n\n"
    yield "h09-equals-in-value", REQ + b"password=a=b=c\n\n"
    yield "h10-empty", b""
    yield "h11-no-final-empty-line", REQ
    yield "h12-after-empty-line", REQ + b"\nhost=evil\n"
    yield "h13-many-lines", b"x=1\n" * 5000
    yield "h14-bad-utf8", b"protocol=https\nhost=\xff\xfe\nusername=\xc3\x28\n\n"
    yield "h15-no-host", b"protocol=https\n\n"
    yield "h15-empty-host", b"protocol=https\nhost=\n\n"
    yield "h15-http", b"protocol=http\nhost=dashscope.aliyuncs.com\n\n"
    yield "h15-unknown-host", b"protocol=https\nhost=example.com\n\n"
    for i, port in enumerate([b"99999", b"abc", b"-1", b"", b"0443", b"443"]):
        yield "h16-port-%d" % i, b"protocol=https\nhost=dashscope-intl.aliyuncs.com:" + port + b"\n\n"
    yield "h17-erase-other-key", REQ + b"password=sk-other\n\n"
    yield "h17-erase-st-key", REQ + b"password=st-temporary\n\n"
    yield "h18-ephemeral", REQ + b"password=sk-abc123456789\nephemeral=1\n\n"
    for i, v in enumerate([b"abc", b"-5", b"0", b"1801", b"99999999999999999999", b"+5", b" 5"]):
        yield "h19-lifetime-%d" % i, REQ + b"lifetime=" + v + b"\n\n"
    yield "h20-no-caps", REQ + b"capability[]=\ncapability[]=unknown\n\n"
    yield "h21-control-profile", REQ + b"profile=a\x1b[31mb\nusername=x\x07\n\n"
    yield "h22-url-lf", b"url=https://a.example?%0ahost=b\n\n"
    yield "h22-url-cr", b"url=https://example%0d.com/\n\n"
    yield "h22-url-nul", b"url=https://example.com/%00x\n\n"
    yield "url-with-password", b"url=https://user:sk-secret@dashscope.aliyuncs.com/\n\n"
    yield "url-conflicting-host", b"url=https://dashscope.aliyuncs.com/\nhost=other.example\n\n"
    yield "caps-clear", b"capability[]=authtype\ncapability[]=\ncapability[]=state\n\n"


CONF_SPEC = b"""[defaults]
profile = work
store = auto
lifetime = 60
timeout = 10

[profile work]
lifetime = 120
model = qwen-plus

[profile sg-coding]
model = "qwen3-coder-plus"
region = ap-southeast-1
endpoint = https://127.0.0.1:8443/api/v1/tokens
ca_file = /tmp/ca.pem

[policy]
allowed_regions = eu-central-1, cn-beijing
max_lifetime = 300
allow_long_lived = no
require_temporary = no
allowed_stores = secret-service

[pam]
alice = region=eu-central-1 workspace=ws-alice
@research = region=eu-central-1 workspace=ws-research
* = profile=team region=eu
"""


def config():
    # first byte: bit 0 set = system file
    yield "spec-user", b"\0" + CONF_SPEC
    yield "spec-system", b"\1" + CONF_SPEC
    yield "bad-section", b"\1[nope\nx=1\n"
    yield "bad-key", b"\0[defaults]\nwhat = ever\n"
    yield "no-equals", b"\0[defaults]\njust words\n"
    yield "bad-lifetime", b"\0[defaults]\nlifetime = 1801\n[profile a]\nlifetime=-1\n"
    yield "huge-number", b"\0[defaults]\ntimeout = 99999999999999999999999\n"
    yield "control-chars", b"\1[profile a\x1b[31m]\nmodel = \x07x\n[pam]\nbob\x1b = region=sg\n"
    yield "crlf", b"\0[defaults]\r\nprofile = a\r\n"
    yield "nul", b"\0[defaults]\nprofile = a\0b\n"
    yield "quotes", b"\0[profile q]\nmodel = \"unterminated\nmodel = ''\n"
    yield "duplicate", b"\1[defaults]\nprofile=a\nprofile=b\n[policy]\nmax_lifetime=1\nmax_lifetime=2\n"
    yield "long-line", b"\0[defaults]\nprofile = " + b"a" * 5000 + b"\n"
    yield "pam-bad-rule", b"\1[pam]\nalice = colour=blue\n@ = region=sg\n* =\n"
    yield "comments", b"\0# c\n; c\n  [defaults]  \n  profile=a ; trailing\n"


def token_response():
    now = 1800000000
    ok = b'{"token": "st-abcdef0123456789", "expires_at": %d}' % (now + 60)
    yield "ok", ok
    yield "ok-extra-fields", b'{"token": "st-x", "expires_at": %d, "other": [1, {"a": null}]}' % (now + 60)
    yield "h23-error-401", b'{"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "abc-123"}'
    yield "h23-error-control", b'{"code": "X\\u001b[31m", "message": "line\\nbreak\\u0007", "request_id": "\\u0000"}'
    yield "h24-not-json", b"<html>502 Bad Gateway</html>"
    yield "h24-200-error-body", b'{"code": "Throttling", "message": "slow down"}'
    yield "h24-token-missing", b'{"expires_at": %d}' % (now + 60)
    yield "h24-token-number", b'{"token": 12345, "expires_at": %d}' % (now + 60)
    yield "h24-token-empty", b'{"token": "", "expires_at": %d}' % (now + 60)
    for i, bad in enumerate([b"st-a\\nb", b"st-a\\rb", b"st-a'b", b'st-a\\"b', b"st-$(id)",
                             b"st-`id`", b"st-a;b", b"st-a b", b"st-a\\u0000b", b"st-\\u00e9"]):
        yield "h24-token-unsafe-%d" % i, b'{"token": "' + bad + b'", "expires_at": %d}' % (now + 60)
    yield "h25-expiry-missing", b'{"token": "st-x"}'
    yield "h25-expiry-string", b'{"token": "st-x", "expires_at": "%d"}' % (now + 60)
    yield "h25-expiry-past", b'{"token": "st-x", "expires_at": %d}' % (now - 10)
    yield "h25-expiry-far", b'{"token": "st-x", "expires_at": %d}' % (now + 60 + 3600)
    yield "h25-expiry-float", b'{"token": "st-x", "expires_at": %d.5}' % (now + 60)
    yield "h25-expiry-huge", b'{"token": "st-x", "expires_at": 99999999999999999999999}'
    yield "duplicate-keys", b'{"token": "st-one", "token": "st-two", "expires_at": %d}' % (now + 60)
    yield "not-object", b'["st-x", %d]' % (now + 60)
    yield "deep-nesting", b"[" * 3000 + b"]" * 3000
    yield "h26-large", b'{"token": "st-' + b"a" * 8000 + b'", "expires_at": %d}' % (now + 60)


def pam_opts():
    yield "ok", b"profile=team\nregion=eu\nworkspace=ws-pam\nfor=dashscope,openai,anthropic\nhelper=/usr/bin/dashscope-credential\ntimeout=5\nconf=/etc/dashscope-credential.conf\nstrict\ndebug\nquiet"
    yield "rule", b"profile=team region=eu-central-1 workspace=ws-a"
    yield "bad-values", b"profile=a\x1bb\nregion=mars\nworkspace=..\nfor=\nfor=evil\nhelper=relative\ntimeout=0\ntimeout=61\ntimeout=abc\nconf=etc/x\nnope"
    yield "helper-control", b"helper=/bin/sh\x07\nconf=/etc/\x1b"
    yield "rule-bad", b"colour=blue region=eu,workspace=ws"
    yield "many", b"\0".join([b"debug"] * 40)


def pam_output():
    good = (b"DASHSCOPE_API_REGION=eu-central-1\n"
            b"DASHSCOPE_HTTP_BASE_URL=https://dashscope-intl.aliyuncs.com/api/v1\n"
            b"OPENAI_BASE_URL=https://dashscope-intl.aliyuncs.com/compatible-mode/v1\n"
            b"OPENAI_MODEL=qwen-plus\nDASHSCOPE_CREDENTIAL_PROFILE=team\n")
    yield "ok", good
    yield "keys", b"OPENAI_API_KEY=sk-leak\nOPENAI_MODEL=sk-leak\nANTHROPIC_MODEL=st-leak\n"
    yield "not-allowed", b"LD_PRELOAD=/tmp/x.so\nPATH=/tmp\nBASH_ENV=/tmp/x\n"
    yield "controls", b"OPENAI_MODEL=a\x1b[31m\nOPENAI_MODEL=a\rb\nOPENAI_MODEL=\x7f\n"
    yield "no-final-lf", good + b"OPENAI_MODEL=cut"
    yield "no-equals", b"OPENAI_MODEL\n=x\n\n"
    yield "long-value", b"OPENAI_MODEL=" + b"a" * 1100 + b"\n"
    yield "bad-utf8", b"OPENAI_MODEL=\xff\xfe\nOPENAI_MODEL=\xc3\xa9\n"
    yield "nul", b"OPENAI_MODEL=a\0b\n"
    # the same bytes are the helper's stderr for pam_reason_clean
    yield "reason-key", b"store unavailable: key sk-abc123 \x1b[31mred\nsecond line sk-x\n"
    yield "reason-key-case", b"ST-abc:SK-def,(sk-ghi) xsk-jkl \xc3\xa9sk-mno"
    yield "reason-long", b"why " * 100 + b"sk-" + b"k" * 300 + b"\n"


def keyfile():
    head = b"# dashscope-credential keys v1: profile, region, workspace, plan, key (TAB-separated)\n"
    rec = b"work\tap-southeast-1\t\tpayg\tsk-abcdef0123456789\n"
    yield "ok", head + rec + b"ws\teu-central-1\tws-abc\tpayg\tsk-0123456789abcdef\n"
    yield "ok-coding", head + b"c\tcn-beijing\t\tcoding\tsk-sp-abcdef0123456789\n"
    yield "empty", b""
    yield "truncated", head + rec[:-5]
    yield "few-fields", head + b"work\tap-southeast-1\tsk-abc\n"
    yield "bad-region", head + b"work\tmars\t\tpayg\tsk-abcdef0123456789\n"
    yield "bad-name", head + b"w\x1bk\tap-southeast-1\t\tpayg\tsk-abcdef0123456789\n"
    yield "temporary-key", head + b"work\tap-southeast-1\t\tpayg\tst-abcdef0123456789\n"
    yield "nul", head + b"work\tap-southeast-1\t\tpayg\tsk-abc\0def\n"
    yield "crlf", head + rec.replace(b"\n", b"\r\n")
    yield "extra-tab", head + b"work\tap-southeast-1\t\tpayg\tsk-abc\tdef\n"
    yield "plan-mismatch", head + b"work\tap-southeast-1\t\tpayg\tsk-sp-abcdef0123456789\n"


def shell_quote():
    # first byte: 0 sh, 1 fish, 2 csh, 3 dotenv, 4 pam
    values = [b"plain", b"it's", b'say "hi"', b"$HOME", b"`id`", b"$(id)", b"back\\slash",
              b"bang!", b"100%", b"two words", b"'\\''", b"\\'", b"!!", b"\x1b[31m",
              b"line\nbreak", b"cr\rhere", b"\xc3\xa9t\xc3\xa9", b"", b"a'b\\c!d$e`f\"g"]
    for k in range(5):
        for i, v in enumerate(values):
            yield "h29-%d-%02d" % (k, i), bytes([k]) + v


def toml():
    # Codex's config.toml (setup codex, doctor): the user's tables, header-like
    # lines inside strings and arrays, our tables defined other ways
    yield "ok-user", (b'model = "o3"\n# mine\n[projects."/home/u/p"]\ntrust_level = "trusted"\n\n'
                      b'[tui]\nnotifications = [\n  "a", # [b]\n]\n')
    yield "ok-ours", (b'[model_providers.dashscope]\nname = "x"\n\n[model_providers.dashscope.auth]\n'
                      b'command = "/x"\nargs = ["token"]\n\n# note\n[after]\nx = 1\n')
    yield "ok-profiles", b'[profiles.dashscope]\nmodel = "m"\n[profiles.other]\nmodel = "n"\n'
    yield "ok-root-keys", b'model_provider = "openai"\nmodel = [\n "a",\n]\n[t]\n'
    yield "ok-crlf", b'a = 1\r\n[t]\r\nb = "x"\r\n'
    yield "ok-no-final-newline", b'[t]\nx = 1'
    yield "ok-quoted-headers", b'[ model_providers . "dash\\u0073cope" ]\nname = 1\n[\'a\'."b c"]\n'
    yield "ok-ml-strings", (b'x = """\n[model_providers.dashscope]\n"""\ny = \'\'\'\n[a]\'\'\'\n'
                            b'z = """a \\""" \\\n [c]""""\n')
    yield "ok-subtable", b'[model_providers.dashscope.http_headers]\nX = "1"\n'
    yield "ok-empty", b""
    yield "bad-dotted", b'model_providers.dashscope.name = "x"\n'
    yield "bad-inline", b'[model_providers]\ndashscope = { name = "x" }\n'
    yield "bad-array-table", b'[[model_providers]]\nname = 1\n[model]\n'
    yield "bad-open-ml", b'[t]\nx = """\nnever\n'
    yield "bad-open-array", b'a = [\n1,\n'
    yield "bad-header", b'[t\n'
    yield "bad-control-key", b'"a\\u0001" = 1\n'
    yield "bad-nul", b'a = 1\n\0b = 2\n'
    yield "bad-escape", b'a = "\\q"\n'


TARGETS = {
    "protocol": protocol, "config": config, "token_response": token_response,
    "pam_opts": pam_opts, "pam_output": pam_output, "keyfile": keyfile,
    "shell_quote": shell_quote, "toml": toml,
}


def main():
    for target, gen in TARGETS.items():
        d = os.path.join(OUT, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in gen():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end with the real clients (issue 4): Qwen Code and the OpenAI
# Node SDK through `exec`, Claude Code through `apiKeyHelper` and `exec`, both pointed by the helper's own
# variables at the loopback server, which answers the token endpoint and
# the OpenAI- and Anthropic-compatible chat endpoints. The key each client
# sends must be one the server minted, never the long-lived key.
# Skipped (77) unless tests/e2e/install-clients.sh has installed them.
. "$(dirname "$0")/lib.sh"

BIN="${DS_E2E_DIR:-$abs_top_srcdir/tests/e2e}/node_modules/.bin"
command -v node >/dev/null || { echo "# SKIP: node is not installed"; exit 77; }
[ -x "$BIN/qwen" ] && [ -x "$BIN/claude" ] && [ -d "$BIN/../openai" ] ||
	{ echo "# SKIP: run tests/e2e/install-clients.sh to install Claude Code and Qwen Code"; exit 77; }

fresh_user
start_server || { echo "could not start the test server"; exit 99; }
use_server
export NODE_EXTRA_CA_CERTS="$CA"
# no update checks, telemetry or other calls to hosts this machine cannot reach
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1
mkdir -p "$HOME/.config/dashscope-credential"
printf '[profile e2e]\nmodel = qwen-plus\n' >"$HOME/.config/dashscope-credential/config"
snapshot_home

# minted: every key the server handed out; model_keys PATH: the keys (Bearer
# and x-api-key) that arrived at that model endpoint.
minted() { python3 -c 'import json,sys; [print(e["minted"]) for e in map(json.loads, open(sys.argv[1])) if "minted" in e]' "$SERVER_LOG"; }
model_keys() {
	python3 -c 'import json,sys
for e in map(json.loads, open(sys.argv[1])):
    if e.get("path") == sys.argv[2]:
        print(e["key"] or "-"); print(e["x_api_key"] or "-")' "$SERVER_LOG" "$1" | grep -v '^-$' | sort -u
}
# Every key that reached PATH was minted for this test and is not KEY.
expect_minted_keys_at() {
	local got mint k
	got=$(model_keys "$1")
	mint=$(minted)
	[ -n "$got" ] || { diag "no request reached $1"; return 1; }
	for k in $got; do
		[ "$k" != "$KEY" ] || { diag "the long-lived key reached $1"; return 1; }
		printf '%s\n' "$mint" | grep -qxF -- "$k" || { diag "$1 got $k, which was not minted"; return 1; }
	done
	diag "$1 received $(printf '%s ' $got)"
}
new_key() {
	: >"$SERVER_LOG"
	KEY="sk-test-ok-e2e$RANDOM$RANDOM"
	add_key e2e "$KEY" --region singapore || { diag "add failed"; return 1; }
}

test_qwen_code_through_exec_sends_a_minted_key() {
	new_key || return 1
	"$DS" exec -p e2e --for openai --lifetime 300 -- "$BIN/qwen" "Say ping" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		grep -q '"query": "expire_in_seconds=300"' "$SERVER_LOG" &&
		expect_minted_keys_at /compatible-mode/v1/chat/completions
}
# The README's recipe as written: apiKeyHelper and the base URL in
# ~/.claude/settings.json, the URL taken from `env --shell pam --no-key`.
test_claude_code_api_key_helper_sends_a_minted_key() {
	local url
	new_key || return 1
	url=$("$DS" env -p e2e --for anthropic --shell pam --no-key | sed -n 's/^ANTHROPIC_BASE_URL=//p')
	mkdir -p "$HOME/.claude"
	printf '{\n  "apiKeyHelper": "%s token -p e2e",\n  "env": { "ANTHROPIC_BASE_URL": "%s" }\n}\n' \
		"$DS" "$url" >"$HOME/.claude/settings.json"
	"$BIN/claude" -p "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /apps/anthropic/v1/messages
}
test_claude_code_through_exec_ignores_a_stale_api_key() {
	new_key || return 1
	ANTHROPIC_API_KEY=sk-ant-stale-value "$DS" exec -p e2e --for anthropic -- \
		"$BIN/claude" -p "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" &&
		! model_keys /apps/anthropic/v1/messages | grep -q sk-ant-stale &&
		expect_minted_keys_at /apps/anthropic/v1/messages
}

test_openai_sdk_through_exec_sends_a_minted_key() {
	new_key || return 1
	[ -d "$BIN/../openai" ] || { diag "the openai package is not installed"; return 1; }
	"$DS" exec -p e2e --for openai -- node -e '
		const OpenAI = require(process.argv[1]);
		new OpenAI().chat.completions.create({ model: process.env.OPENAI_MODEL,
			messages: [{ role: "user", content: "Say ping" }] })
		.then(r => console.log(r.choices[0].message.content))
		.catch(e => { console.error(String(e)); process.exit(1); });' "$BIN/../openai" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_minted_keys_at /compatible-mode/v1/chat/completions
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish

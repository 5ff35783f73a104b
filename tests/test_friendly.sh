#!/bin/bash
# SPDX-License-Identifier: MIT
# Friendliness (SPEC section 13): status, doctor's checks, add's order of
# questions, env's default shell and notes, exec without a command,
# --debug tracing, a mistyped command or hook word answered with a
# suggestion, per-command help, setup for Claude Code, Qwen Code and Codex.
. "$(dirname "$0")/lib.sh"

fresh_user
# the standalone proxy's fixed port (127.0.0.1:8418) is used here: one
# such script at a time
machine_lock port-8418 || bail_out "could not lock the port 8418"
start_server || bail_out "could not start the test server"
use_server
export DASHSCOPE_CREDENTIAL_BROKER="$HOME/no-broker.sock"
unset ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN OPENAI_API_KEY DASHSCOPE_API_KEY CLAUDE_CONFIG_DIR
KEY=sk-test-ok-friendly-1
add_key work "$KEY" --region sg || bail_out "could not store a test key"
add_key cn sk-test-ok-friendly-2 --region beijing || bail_out "could not store a test key"
CONF="$HOME/.config/dashscope-credential/config"
SYS="$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
snapshot_home

# json EXPR: evaluates a Python expression over the JSON on stdout (j).
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT" "$1" ||
	{ diag "json: $1 is false: $(head -c 600 "$OUT" | tr '\n' ' ')"; return 1; }; }
user_default() { mkdir -p "$(dirname "$CONF")"; printf '[defaults]\nprofile = %s\n' "$1" >>"$CONF"; }

# ---- status ----
test_status_names_the_profile_from_the_environment() {
	DASHSCOPE_CREDENTIAL_PROFILE=cn run status --json
	expect_rc 0 && json 'j["profile"] == {"name": "cn", "region": "cn-beijing", "source": "environment", "problem": None}'
}
test_status_names_the_default_from_the_system_file() {
	printf '[defaults]\nprofile = work\n' >"$SYS"
	run status --json
	expect_rc 0 && json 'j["profile"]["name"] == "work" and j["profile"]["source"] == "system"' || return 1
	run status
	grep -q "^Profile:  work (ap-southeast-1), chosen by the default in $SYS$" "$OUT" ||
		{ diag "$(cat "$OUT")"; return 1; }
}
test_status_user_default_beats_the_system_file() {
	printf '[defaults]\nprofile = work\n' >"$SYS"
	user_default cn
	run status --json
	expect_rc 0 && json 'j["profile"]["name"] == "cn" and j["profile"]["source"] == "user"'
}
test_status_option_beats_every_default() {
	user_default cn
	run -p work status --json
	expect_rc 0 && json 'j["profile"]["name"] == "work" and j["profile"]["source"] == "option"'
}
test_status_says_why_no_profile_is_chosen_and_exits_1() {
	run status --json
	expect_rc 1 && json 'j["profile"]["name"] is None and "Several profiles match (cn, work)" in j["profile"]["problem"]' || return 1
	DASHSCOPE_CREDENTIAL_PROFILE=gone run status
	expect_rc 1 && grep -q '^Profile:  none: .*gone.*not stored' "$OUT"
}
# the endpoint override is visible, and whose it is (issue 25)
test_status_shows_the_endpoint_and_who_set_it() {
	run status -p work
	expect_rc 0 && grep -q "^Endpoint: https://127.0.0.1:$PORT_MAIN/api/v1/tokens (overridden by DASHSCOPE_CREDENTIAL_ENDPOINT)$" "$OUT" ||
		{ diag "$(cat "$OUT")"; return 1; }
	run status -p work --json
	expect_rc 0 && json 'j["endpoint"]["token_url"] == "https://127.0.0.1:'"$PORT_MAIN"'/api/v1/tokens" and "DASHSCOPE_CREDENTIAL_ENDPOINT" in j["endpoint"]["why"]'
}
test_network_error_names_the_url_it_tried() {
	DASHSCOPE_CREDENTIAL_ENDPOINT=https://127.0.0.1:1 run token -p work
	expect_rc 5 && expect_err_has "Could not reach the token endpoint https://127.0.0.1:1/api/v1/tokens: "
}
test_status_shows_store_and_why_and_every_profile() {
	run status -p work --json
	expect_rc 0 && json 'j["store"]["kind"] == "file" and "DASHSCOPE_CREDENTIAL_STORE" in j["store"]["why"]' &&
		json '[p["profile"] for p in j["profiles"]] == ["cn", "work"] and j["profiles"][1]["key"] == "sk-…ly-1"' &&
		expect_no_leak "$KEY"
}
test_status_shows_the_policy() {
	printf '[policy]\nallowed_regions = sg\nmax_lifetime = 300\n' >"$SYS"
	run status -p work --json
	expect_rc 0 && json 'j["policy"]["allowed_regions"] == ["ap-southeast-1"] and j["policy"]["max_lifetime"] == 300' || return 1
	run status -p work
	grep -q '^Policy:   allowed_regions = ap-southeast-1; max_lifetime = 300$' "$OUT"
}
test_status_broker_socket_absent_is_not_running() {
	run status -p work --json
	expect_rc 0 && json 'j["broker"] == {"socket": "'"$DASHSCOPE_CREDENTIAL_BROKER"'", "answers": False}'
}
test_status_broker_socket_that_accepts_answers() {
	local sock="$HOME/broker.sock" pid
	python3 -c 'import signal,socket,sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); print("up", flush=True); signal.pause()' \
		"$sock" >"$HOME/broker.up" &
	pid=$!
	wait_file "$HOME/broker.up" || return 1
	DASHSCOPE_CREDENTIAL_BROKER="$sock" run status -p work --json
	kill "$pid"
	expect_rc 0 && json 'j["broker"]["answers"] is True'
}
test_status_socket_nobody_listens_on_is_not_running() {
	local sock="$HOME/dead.sock"
	python3 -c 'import socket,sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
	DASHSCOPE_CREDENTIAL_BROKER="$sock" run status -p work --json
	expect_rc 0 && json 'j["broker"]["answers"] is False'
}
up_or_gone() { [ -s "$1" ] || pid_gone "$2"; }
# The standalone proxy's fixed port may be taken by a real proxy on this
# machine: the test then reports itself skipped.
status_proxy_answers() {
	local pid
	python3 -c 'import signal,socket
s = socket.socket(); s.bind(("127.0.0.1", 8418)); s.listen(4); print("up", flush=True); signal.pause()' \
		>"$HOME/proxy.up" 2>/dev/null &
	pid=$!
	# up, or gone because the port is taken
	wait_for up_or_gone "$HOME/proxy.up" "$pid"
	if [ ! -s "$HOME/proxy.up" ]; then
		echo "# 127.0.0.1:8418 is in use"
		return 77
	fi
	run status -p work --json
	kill "$pid"
	expect_rc 0 && json 'j["proxy"] == {"address": "127.0.0.1:8418", "answers": True, "held_by": None}'
}
test_status_lists_variables_that_win_without_their_values() {
	ANTHROPIC_AUTH_TOKEN=sk-secret-winner-1 OPENAI_API_KEY=st-temp-winner-2 run status -p work
	expect_rc 0 && grep -q '^Environment: ANTHROPIC_AUTH_TOKEN holds a long-lived key: Claude Code' "$OUT" &&
		grep -q '^Environment: OPENAI_API_KEY holds a temporary key' "$OUT" &&
		expect_no_leak sk-secret-winner-1 && expect_no_leak st-temp-winner-2 || return 1
	ANTHROPIC_API_KEY=sk-x1234567 run status -p work --json
	json '[e["name"] for e in j["environment"]] == ["ANTHROPIC_API_KEY"]'
}
test_status_shows_a_config_that_does_not_parse_and_goes_on() {
	printf '[defaults]\nlifetime = forever\n' >"$SYS"
	run status -p work
	expect_rc 0 && grep -q "^Config:   does not parse: $SYS:2: 'lifetime'" "$OUT" || return 1
	run status -p work --json
	expect_rc 0 && json 'j["config"]["error"].startswith("'"$SYS"':2:")'
}
test_status_exits_1_when_the_store_is_unreadable() {
	chmod 644 "$KEYFILE"
	run status
	expect_rc 1 && grep -q '^Profile:  none' "$OUT" && grep -q 'chmod 600' "$OUT"
}

# ---- doctor, each check both ways ----
doctor_line() { grep -qE "^$1" "$OUT" || { diag "doctor lacks /$1/: $(cat "$OUT" | tr '\n' '|')"; return 1; }; }
test_doctor_fails_on_a_default_profile_that_is_not_stored() {
	user_default gone
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] the default profile gone \(from user config\) is not stored; fix: .*add gone'
}
test_doctor_passes_a_default_profile_that_is_stored() {
	user_default work
	run doctor
	expect_rc 0 && doctor_line '\[ok\]   the default profile work is stored$'
}
test_doctor_fails_on_a_profile_the_policy_refuses_naming_the_rule() {
	printf '[policy]\nallowed_regions = sg\n' >"$SYS"
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] profile cn \(cn-beijing\) is refused: Policy allowed_regions does not include cn-beijing; use a profile of an allowed region or ask your administrator$' &&
		doctor_line '\[ok\]   profile work: ap-southeast-1'
}
test_doctor_fails_on_a_coding_profile_when_temporary_keys_are_required() {
	add_key cp sk-sp-friendly-coding1 || return 1
	printf '[policy]\nrequire_temporary = yes\n' >"$SYS"
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] profile cp \(cn-beijing\) is refused: Policy require_temporary refuses the long-lived key of profile cp'
}
test_doctor_fails_on_a_pam_rule_that_does_not_parse() {
	printf '[pam]\n* = region=sg\n@root = region=atlantis\n' >"$SYS"
	run doctor
	expect_rc 1 && doctor_line "\[FAIL\] $SYS:3: the \[pam\] rule for @root does not parse: unknown region in region=atlantis"
}
test_doctor_passes_pam_rules_that_parse() {
	printf '[pam]\n* = region=sg\nroot = profile=work workspace=ws-1\n' >"$SYS"
	run doctor
	expect_rc 0 && doctor_line "\[ok\]   2 \[pam\] rules in $SYS parse"
}
test_doctor_warns_about_a_pam_rule_for_a_user_that_does_not_exist() {
	printf '[pam]\nno-such-user-x = region=sg\n' >"$SYS"
	run doctor
	expect_rc 0 && doctor_line '\[warn\] .*names user no-such-user-x, which does not exist'
}
test_doctor_warns_about_a_broker_rule_for_a_user_that_does_not_exist() {
	printf '[broker]\nno-such-user-y = org\n@root = org\n' >"$SYS"
	run doctor
	expect_rc 0 && doctor_line "\[warn\] $SYS:2: the \[broker\] rule names user no-such-user-y, which does not exist"
}
test_doctor_passes_broker_rules_for_existing_users() {
	printf '[broker]\nroot = org, research\n* = org\n' >"$SYS"
	run doctor
	expect_rc 0 && doctor_line "\[ok\]   2 \[broker\] rules in $SYS parse and name existing users and groups"
}
test_doctor_fails_on_a_broker_rule_that_does_not_parse() {
	printf '[broker]\nroot = not a profile!\n' >"$SYS"
	run doctor
	expect_rc 1 && doctor_line "\[FAIL\] configuration: $SYS:2:"
}
test_doctor_reports_a_config_that_does_not_parse_and_goes_on() {
	printf '[defaults]\nlifetime = forever\n' >"$SYS"
	run doctor
	expect_rc 1 && doctor_line "\[FAIL\] configuration: $SYS:2: 'lifetime'" &&
		doctor_line '\[ok\]   no variable in the environment wins over the helper'
}
# the user's config, not the system file: a check that cannot fail goes
# (outside review of issue 11, class 17)
cfg() { printf '%s' "$CONF"; }
test_doctor_reports_a_config_that_does_not_parse() {
	mkdir -p "$(dirname "$(cfg)")"
	printf '[defaults]\nlifetime = forever\n' >"$(cfg)"
	run doctor
	expect_rc 1 && grep -q '^\[FAIL\] configuration: .*config:2' "$OUT"
}
test_doctor_warns_about_a_lifetime_the_policy_lowers() {
	printf '[policy]\nmax_lifetime = 30\n' >"$SYS"
	mkdir -p "$(dirname "$CONF")"
	printf '[defaults]\nlifetime = 600\n' >"$CONF"
	run doctor
	expect_rc 0 && doctor_line '\[warn\] lifetime = 600 is lowered to 30 seconds by the system policy' || return 1
	printf '[defaults]\nlifetime = 20\n' >"$CONF"
	run doctor
	expect_rc 0 && ! grep -q lowered "$OUT"
}
test_doctor_warns_about_variables_that_win() {
	ANTHROPIC_AUTH_TOKEN=sk-doctor-secret-1 run doctor
	expect_rc 0 && doctor_line '\[warn\] ANTHROPIC_AUTH_TOKEN holds a long-lived key: .*; fix: unset ANTHROPIC_AUTH_TOKEN$' &&
		expect_no_leak sk-doctor-secret-1 || return 1
	run doctor
	doctor_line '\[ok\]   no variable in the environment wins over the helper'
}
test_doctor_accepts_a_key_env_set_until_it_expires() {
	local now
	now=$(date +%s)
	OPENAI_API_KEY=st-from-env-1 DASHSCOPE_CREDENTIAL_EXPIRES_AT=$((now + 50)) run doctor
	expect_rc 0 && doctor_line "\[ok\]   OPENAI_API_KEY holds a temporary key from 'env' or 'exec', valid for" || return 1
	OPENAI_API_KEY=st-from-env-1 DASHSCOPE_CREDENTIAL_EXPIRES_AT=$((now - 120)) run doctor
	expect_rc 0 && doctor_line "\[warn\] OPENAI_API_KEY holds a temporary key from 'env' or 'exec' that expired 1[0-9][0-9] s ago" &&
		expect_no_leak st-from-env-1
}
claude_settings() { mkdir -p "$HOME/.claude"; printf '%s\n' "$1" >"$HOME/.claude/settings.json"; }
test_doctor_warns_when_claude_code_runs_another_helper() {
	claude_settings '{"apiKeyHelper": "~/bin/get-key.sh"}'
	run doctor
	expect_rc 0 && doctor_line '\[warn\] .*settings.json: apiKeyHelper runs another program'
}
test_doctor_fails_when_claude_code_settings_set_a_winning_key() {
	claude_settings '{"apiKeyHelper": "/usr/bin/dashscope-credential token", "env": {"ANTHROPIC_API_KEY": "sk-in-settings-9"}}'
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] .*settings.json sets env.ANTHROPIC_API_KEY \(a long-lived key\), which Claude Code sends in place of apiKeyHelper.s key' &&
		expect_no_leak sk-in-settings-9
}
test_doctor_passes_claude_code_settings_that_use_the_helper() {
	claude_settings '{"apiKeyHelper": "/usr/bin/dashscope-credential token -p work"}'
	run doctor
	expect_rc 0 && doctor_line '\[ok\]   .*settings.json: apiKeyHelper runs dashscope-credential'
}
test_doctor_json_lists_the_checks() {
	user_default gone
	run doctor --json
	expect_rc 1 && json 'j["problems"] == 1 and all(c["status"] in ("ok", "warn", "fail") for c in j["checks"])' &&
		json '[c for c in j["checks"] if c["status"] == "fail"][0]["fix"].startswith("'"'"'dashscope-credential add gone")'
}
test_doctor_every_line_is_one_check() {
	printf '[pam]\nbad = region=x\n' >"$SYS"
	ANTHROPIC_API_KEY=sk-abcdefgh run doctor
	grep -qvE '^\[(ok\]  |warn\]|FAIL\]) ' "$OUT" && { diag "$(grep -vE '^\[(ok|warn|FAIL)' "$OUT")"; return 1; }
	return 0
}

# ---- add ----
# The key sits on stdin after a bad option: add must leave it unread.
add_leaves_stdin() {
	local rest
	rest=$( { "$DS" add x "$@" >/dev/null 2>"$ERR"; echo "rc=$?"; cat; } <<<"sk-test-ok-unread-1")
	printf '%s\n' "$rest" | grep -q '^rc=2$\|^rc=6$' || { diag "$rest / $(cat "$ERR")"; return 1; }
	printf '%s\n' "$rest" | grep -qx 'sk-test-ok-unread-1' || { diag "add read the key: $rest"; return 1; }
}
test_add_with_a_bad_region_never_reads_stdin() { add_leaves_stdin --region singapor; }
test_add_with_a_bad_workspace_never_reads_stdin() { add_leaves_stdin --region sg -w 'bad_ws!'; }
test_add_with_a_bad_plan_never_reads_stdin() { add_leaves_stdin --region sg --plan monthly; }
test_add_with_a_bad_lifetime_never_reads_stdin() { add_leaves_stdin --region sg -l 9999; }
test_add_without_a_needed_workspace_never_reads_stdin() { add_leaves_stdin --region frankfurt; }
test_add_in_a_region_the_policy_forbids_never_reads_stdin() {
	printf '[policy]\nallowed_regions = us\n' >"$SYS"
	add_leaves_stdin --region sg && grep -q 'allowed_regions' "$ERR"
}
test_add_with_a_bad_name_never_reads_stdin() {
	local rest
	rest=$( { "$DS" add 'bad name' --region sg >/dev/null 2>&1; cat; } <<<"sk-test-ok-unread-2")
	[ "$rest" = sk-test-ok-unread-2 ]
}
test_add_suggests_the_closest_region() {
	run add x --region singapor
	expect_rejected && expect_err_has "did you mean singapore?" || return 1
	run token -r tokio
	expect_rejected && expect_err_has "did you mean tokyo?"
}
test_add_says_what_it_replaced() {
	printf 'sk-test-ok-replaced-2\n' | "$DS" add work --region us >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_err_has "Replaced profile work (was ap-southeast-1, payg, key sk-…ly-1)." &&
		expect_no_leak "$KEY" && expect_no_leak sk-test-ok-replaced-2
}
test_add_says_nothing_about_replacing_a_new_profile() {
	printf 'sk-test-ok-new-3\n' | "$DS" add fresh --region us >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && ! grep -q Replaced "$ERR"
}
# the terminal of script(1)'s child PID has echo off (the key prompt's)
tty_is_quiet() {
	local tty
	tty=$(readlink "/proc/$1/fd/0" 2>/dev/null) || return 1
	stty -a -F "$tty" 2>/dev/null | grep -qw -- -echo
}
test_add_shows_a_region_menu_at_a_terminal() {
	command -v script >/dev/null || { echo "# script is missing"; return 1; }
	local in="$TMPROOT/menu.in" pid child
	mkfifo "$in"
	script -qec "$DS add menu" /dev/null <"$in" >"$OUT" 2>&1 &
	pid=$!
	exec 8>"$in"
	# each answer is typed when its question is on the screen; the key only
	# once echo is off (the prompt is written before the terminal goes
	# quiet, and going quiet discards what was typed ahead)
	wait_grep 'Region \[1-6 or a name\]: ' "$OUT" && printf 'nowhere\n2\n' >&8 &&
		wait_grep 'input hidden' "$OUT" && child=$(pgrep -P "$pid" | head -1) &&
		wait_for tty_is_quiet "$child" && printf 'sk-test-ok-menu-7\n' >&8 &&
		wait_gone "$child"
	# script(1) ends with the command; its input stays open until then
	exec 8>&-
	wait_gone "$pid" || kill "$pid"
	wait "$pid"
	grep -q '2) ap-southeast-1' "$OUT" && grep -q 'Region \[1-6 or a name\]' "$OUT" &&
		! grep -q sk-test-ok-menu-7 "$OUT" || { diag "$(tr -d '\r' <"$OUT")"; return 1; }
	run list --json
	json '[p["region"] for p in j if p["profile"] == "menu"] == ["ap-southeast-1"]'
}

# ---- env and exec ----
test_env_takes_fish_syntax_from_SHELL() {
	command -v fish >/dev/null || { echo "# fish missing"; return 1; }
	local got
	got=$(SHELL=/usr/bin/fish fish -c '$argv[1] env -p work | source; and printenv OPENAI_API_KEY' "$DS" 2>"$ERR")
	[[ $got == st-ok-* ]] || { diag "got [$got] $(cat "$ERR")"; return 1; }
}
test_env_takes_csh_syntax_from_SHELL() {
	command -v tcsh >/dev/null || { echo "# tcsh missing"; return 1; }
	local got
	got=$(SHELL=/bin/tcsh DS="$DS" tcsh -c 'eval "`$DS:q env -p work`" && printenv OPENAI_API_KEY' 2>"$ERR")
	[[ $got == st-ok-* ]] || { diag "got [$got] $(cat "$ERR")"; return 1; }
}
test_env_takes_sh_syntax_from_any_other_SHELL() {
	SHELL=/bin/zsh run env -p work
	expect_rc 0 && grep -q "^OPENAI_API_KEY='st-ok-" "$OUT"
}
test_env_shell_option_beats_SHELL() {
	SHELL=/usr/bin/fish run env -p work --shell sh
	expect_rc 0 && grep -q "^OPENAI_API_KEY='st-ok-" "$OUT"
}
test_env_notes_the_expiry_at_a_terminal() {
	script -qec "$DS env -p work >/dev/null" /dev/null >"$OUT" 2>&1
	grep -q 'this key expires in [0-9]* s (at [0-9:]*)' "$OUT" || { diag "$(cat "$OUT")"; return 1; }
	run env -p work
	expect_rc 0 && ! grep -q expires "$ERR"
}
test_env_notes_a_lifetime_the_policy_lowers() {
	printf '[policy]\nmax_lifetime = 30\n' >"$SYS"
	run env -p work -l 600
	expect_rc 0 && expect_err_has "max_lifetime = 30) lowers the lifetime from 600 to 30 seconds" &&
		grep -q '"query": "expire_in_seconds=30"' "$SERVER_LOG"
}
test_env_says_nothing_when_the_policy_lowers_nothing() {
	printf '[policy]\nmax_lifetime = 300\n' >"$SYS"
	run env -p work -l 100
	expect_rc 0 && [ ! -s "$ERR" ]
}
test_exec_without_a_command_runs_SHELL() {
	printf '#!/bin/sh\necho "shell got ${OPENAI_API_KEY%%%%-*} $DASHSCOPE_CREDENTIAL_PROFILE"\n' >"$HOME/myshell"
	chmod 755 "$HOME/myshell"
	SHELL="$HOME/myshell" run exec -p work
	expect_rc 0 && expect_out_has "shell got st work"
}

# ---- --debug ----
test_debug_traces_files_store_selection_and_url_never_a_key() {
	local tok
	run --debug token -p work
	expect_rc 0 || return 1
	tok=$(cat "$OUT")
	expect_err_has "debug: " && expect_err_has "reading config file $SYS" &&
		expect_err_has "reading key file $KEYFILE" &&
		expect_err_has "store file: store = file is set in DASHSCOPE_CREDENTIAL_STORE" &&
		expect_err_has "profile selection: profile work" &&
		grep -qE "POST https://127.0.0.1:$PORT_MAIN/api/v1/tokens\?expire_in_seconds=60: HTTP 200 in [0-9]+ ms" "$ERR" || return 1
	grep -qF -- "$KEY" "$ERR" && { diag "the long-lived key is in the trace"; return 1; }
	grep -qF -- "$tok" "$ERR" && { diag "the minted key is in the trace"; return 1; }
	return 0
}
test_debug_variable_turns_tracing_on() {
	DASHSCOPE_CREDENTIAL_DEBUG=1 run list
	expect_rc 0 && expect_err_has "debug: " || return 1
	run list
	! grep -q "debug: " "$ERR"
}
test_debug_traces_a_failed_call() {
	DASHSCOPE_CREDENTIAL_ENDPOINT=https://127.0.0.1:1 run --debug token -p work
	expect_rc 5 && grep -qE 'POST https://127.0.0.1:1/api/v1/tokens.*(Couldn|Could not|connect)' "$ERR"
}

# ---- mistyped words ----
# only get/store/erase/capability are protocol actions: anything else is
# an error, with the closest command (outside review of issue 11, class 10)
test_mistyped_command_fails_with_a_suggestion() {
	run_limited tokn || return 1
	expect_rejected && expect_err_has "did you mean 'token'"
}
test_unknown_word_in_a_hook_is_not_silent_success() {
	run_in $'protocol=https\nhost=dashscope-intl.aliyuncs.com\n\n' gett
	expect_rejected && expect_err_has "did you mean 'get'"
}

# ---- help ----
test_every_command_help_describes_its_options() {
	local c o
	for c in add list remove token env exec proxy regions doctor status setup get store erase capability broker; do
		"$DS" "$c" --help >"$OUT" 2>"$ERR" || { diag "$c --help failed"; return 1; }
		# every option of the usage line has a line of its own below it
		for o in $(head -1 "$OUT" | grep -oE -- '--[a-z][a-z-]*'); do
			grep -qE "^ +(-[a-zA-Z], )?$o( |$)" "$OUT" || { diag "$c --help does not describe $o"; return 1; }
		done
	done
}

# ---- doctor: tools set up earlier that drifted (issue 25) ----
# each fails, and the line is gone after the fix it names
test_doctor_fails_on_a_helper_naming_a_removed_profile() {
	claude_settings '{"apiKeyHelper": "/usr/bin/dashscope-credential token -p gone"}'
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] .*settings.json: the helper names profile gone, which is not stored; fix: .*setup claude-code' || return 1
	"$DS" setup claude-code -p work >/dev/null 2>&1 || return 1
	run doctor
	! grep -q 'names profile gone' "$OUT"
}
test_doctor_fails_on_a_long_lived_key_in_a_project_settings_file() {
	mkdir -p "$HOME/proj/.claude"
	printf '{"env": {"ANTHROPIC_AUTH_TOKEN": "sk-in-project-7"}}\n' >"$HOME/proj/.claude/settings.local.json"
	(cd "$HOME/proj" && "$DS" doctor) >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 1 && expect_no_leak sk-in-project-7 &&
		doctor_line '\[FAIL\] .*/proj/.claude/settings.local.json sets env.ANTHROPIC_AUTH_TOKEN \(a long-lived key\).*; fix: remove env.ANTHROPIC_AUTH_TOKEN' || return 1
	rm "$HOME/proj/.claude/settings.local.json"
	(cd "$HOME/proj" && "$DS" doctor) >"$OUT" 2>"$ERR"
	! grep -q 'ANTHROPIC_AUTH_TOKEN' "$OUT"
}
test_doctor_fails_on_a_stale_proxy_key_in_qwen_code_settings() {
	mkdir -p "$HOME/.qwen"
	printf '{"security": {"auth": {"baseUrl": "http://127.0.0.1:8418/compatible-mode/v1", "apiKey": "sk-local-old"}}}\n' >"$HOME/.qwen/settings.json"
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] .*settings.json holds a proxy key the standalone proxy no longer takes.*; fix: .*setup qwen-code' || return 1
	"$DS" setup qwen-code -p work >/dev/null 2>&1 || return 1
	run doctor
	! grep -q 'no longer takes' "$OUT" && grep -q 'Qwen Code uses the standalone proxy with its key' "$OUT"
}
test_doctor_fails_when_a_tool_points_at_a_stopped_proxy() {
	tools_tcp_free=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 8418))' 2>/dev/null && echo 1)
	[ -n "$tools_tcp_free" ] || return 77
	"$DS" setup claude-code -p work >/dev/null 2>&1 || return 1
	run doctor
	expect_rc 1 && doctor_line '\[FAIL\] .*settings.json points Claude Code at the standalone proxy on 127.0.0.1:8418, which does not answer; fix: .*dashscope-credential proxy'
}

# `work` re-added in another region: a settings file still sending it to
# the old region's URL fails, and setup's fix clears that line. The real
# addresses are compared, so doctor runs without the test server's override.
test_doctor_fails_on_a_helper_whose_profile_moved_region() {
	local sg
	sg=$(env -u DASHSCOPE_CREDENTIAL_ENDPOINT "$DS" env -p work --for anthropic --shell pam --no-key |
		sed -n 's/^ANTHROPIC_BASE_URL=//p')
	[ -n "$sg" ] || { diag "env gave no Anthropic URL for work"; return 1; }
	claude_settings "{\"apiKeyHelper\": \"$DS token -p work\", \"env\": {\"ANTHROPIC_BASE_URL\": \"$sg\"}}"
	env -u DASHSCOPE_CREDENTIAL_ENDPOINT "$DS" doctor >"$OUT" 2>"$ERR"
	RC=$?
	! grep -q 'another region' "$OUT" || { diag "flagged before the move: $(grep 'another region' "$OUT")"; return 1; }
	add_key work "$KEY" --region beijing || { diag "re-add failed"; return 1; }
	env -u DASHSCOPE_CREDENTIAL_ENDPOINT "$DS" doctor >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 1 && doctor_line "\[FAIL\] .*settings.json: the base URL $sg is not profile work's \(cn-beijing, .*\): the key would go to another region; fix: .*setup claude-code" || return 1
	"$DS" setup claude-code -p work >/dev/null 2>&1 || return 1
	env -u DASHSCOPE_CREDENTIAL_ENDPOINT "$DS" doctor >"$OUT" 2>"$ERR"
	! grep -q 'another region' "$OUT"
}

# ---- small things (issue 25) ----
test_add_trims_whitespace_around_a_pasted_key() {
	printf ' \tsk-test-ok-trimmed-1 \n' | "$DS" add trimmed --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && run token -p trimmed && expect_rc 0 &&
		grep -q '"key": "sk-test-ok-trimmed-1"' "$SERVER_LOG"
}
test_add_still_refuses_inner_whitespace() {
	printf 'sk-test-ok inner\n' | "$DS" add inner --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 2
}
test_dev_null_is_an_empty_config() {
	DASHSCOPE_CREDENTIAL_CONFIG=/dev/null run token -p work
	expect_rc 0 && grep -q '^st-ok-' "$OUT"
}
test_doctor_fix_follows_a_sentence_without_a_stray_period() {
	user_default gone
	printf '[profile work]\nregion = nowhere\n' >>"$CONF"
	run doctor
	! grep -q '\.; fix:' "$OUT" || { diag "$(grep '\.; fix:' "$OUT")"; return 1; }
}

# ---- proxy log ----
# A request the proxy answers 502 because the mint failed: its log line
# says why (issue 25), not a bare 502.
test_proxy_log_says_why_a_mint_failed() {
	local pp port pk
	pk=$("$DS" proxy --print-key) || return 1
	DASHSCOPE_CREDENTIAL_ENDPOINT=https://127.0.0.1:1 \
		"$DS" proxy -p work --listen 127.0.0.1:0 >"$TMPROOT/proxy.out" 2>"$TMPROOT/proxy.err" &
	pp=$!
	wait_grep listening "$TMPROOT/proxy.err" || { kill "$pp"; return 1; }
	port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TMPROOT/proxy.err")
	printf 'header = "Authorization: Bearer %s"\n' "$pk" |
		curl -s -K - -o /dev/null -d '{}' "http://127.0.0.1:$port/compatible-mode/v1/chat/completions"
	wait_grep ' 502 ' "$TMPROOT/proxy.err"
	kill "$pp"
	wait "$pp" 2>/dev/null
	grep -q ' 502 .*error: Minting a temporary key failed: .*https://127.0.0.1:1' "$TMPROOT/proxy.err" ||
		{ diag "$(cat "$TMPROOT/proxy.err")"; return 1; }
}

# ---- setup ----
test_setup_claude_code_keeps_unrelated_settings() {
	local f="$HOME/.claude/settings.json"
	claude_settings '{"model": "opus", "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
  "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo done"}]}]},
  "n": 1.5e3, "flag": true, "none": null, "env": {"FOO": "bar", "ANTHROPIC_BASE_URL": "old"}}'
	cp "$f" "$HOME/before.json"
	run setup claude-code -p work
	expect_rc 0 || return 1
	python3 - "$HOME/before.json" "$f" "$DS_REAL" "$PORT_MAIN" <<'PY' || return 1
import json, sys
old, new = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
env = new.pop("env"); old_env = old.pop("env")
assert new.pop("apiKeyHelper") == sys.argv[3] + " proxy --print-key", "apiKeyHelper"
assert old == new, (old, new)
assert env.pop("FOO") == "bar"
assert env.pop("ANTHROPIC_BASE_URL") == "http://127.0.0.1:8418/apps/anthropic"
assert env == {}, env
PY
}
test_setup_claude_code_refuses_when_settings_set_a_winning_key() {
	local f="$HOME/.claude/settings.json" sum
	for k in ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN; do
		claude_settings "{\"env\": {\"$k\": \"sk-winner-12345\"}}"
		sum=$(sha256sum <"$f")
		run setup claude-code
		expect_rc 1 && expect_out_empty && expect_err_one_line && expect_err_has "env.$k" &&
			expect_no_leak sk-winner-12345 || return 1
		[ "$(sha256sum <"$f")" = "$sum" ] || { diag "the file changed"; return 1; }
		[ -z "$(ls "$HOME/.claude" | grep bak)" ] || { diag "a backup was made"; return 1; }
	done
}
test_setup_claude_code_writes_a_backup() {
	local f="$HOME/.claude/settings.json" b
	claude_settings '{"model": "opus"}'
	cp "$f" "$HOME/before.json"
	run setup claude-code -p work
	expect_rc 0 || return 1
	b=$(ls "$HOME/.claude/"settings.json.bak-* 2>/dev/null)
	[ -n "$b" ] && cmp -s "$b" "$HOME/before.json" && expect_err_has "the old file is in $b"
}
test_setup_claude_code_creates_the_file_when_missing() {
	run setup claude-code -p work
	expect_rc 0 && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["apiKeyHelper"].endswith(" proxy --print-key")' \
		"$HOME/.claude/settings.json"
}
test_setup_claude_code_dry_run_prints_and_changes_nothing() {
	claude_settings '{"model": "opus"}'
	local sum
	sum=$(sha256sum <"$HOME/.claude/settings.json")
	run setup claude-code -p work --dry-run
	expect_rc 0 && json 'j["model"] == "opus" and j["apiKeyHelper"].endswith(" proxy --print-key")' &&
		[ "$(sha256sum <"$HOME/.claude/settings.json")" = "$sum" ] &&
		[ -z "$(ls "$HOME/.claude" | grep bak)" ]
}
# the TTL an earlier setup wrote is no use with a key that does not expire
test_setup_claude_code_removes_the_helper_ttl_and_sets_the_model() {
	mkdir -p "$(dirname "$CONF")"
	printf '[profile work]\nlifetime = 300\nmodel = qwen3-coder-plus\n' >"$CONF"
	claude_settings '{"env": {"CLAUDE_CODE_API_KEY_HELPER_TTL_MS": "45000"}}'
	run setup claude-code -p work --dry-run
	expect_rc 0 && json '"CLAUDE_CODE_API_KEY_HELPER_TTL_MS" not in j["env"] and j["env"]["ANTHROPIC_MODEL"] == "qwen3-coder-plus"'
}
test_setup_writes_no_backup_when_nothing_changes() {
	claude_settings '{"model": "opus"}'
	run setup claude-code -p work
	expect_rc 0 || return 1
	rm -f "$HOME/.claude/"settings.json.bak-*
	run setup claude-code -p work
	expect_rc 0 && expect_err_has "nothing was changed" &&
		[ -z "$(ls "$HOME/.claude" | grep bak)" ]
}
# the helper Claude Code runs: the standalone proxy's key, the same each time
test_proxy_print_key_prints_the_standalone_proxy_key() {
	run proxy --print-key
	expect_rc 0 && grep -qx 'sk-local-[A-Za-z0-9_-]*' "$OUT" &&
		[ "$(cat "$OUT")" = "$(cat "$HOME/.config/dashscope-credential/proxy-key")" ]
}
test_setup_claude_code_honours_CLAUDE_CONFIG_DIR() {
	CLAUDE_CONFIG_DIR="$HOME/cc" run setup claude-code -p work
	expect_rc 0 && [ -s "$HOME/cc/settings.json" ] && [ ! -e "$HOME/.claude/settings.json" ]
}
test_setup_qwen_code_points_at_the_standalone_proxy() {
	mkdir -p "$HOME/.qwen"
	printf '{"ui": {"theme": "dark"}}\n' >"$HOME/.qwen/settings.json"
	run setup qwen-code -p work
	expect_rc 0 || return 1
	local key
	key=$(cat "$HOME/.config/dashscope-credential/proxy-key")
	[[ $key =~ ^sk-local-[A-Za-z0-9_-]{43}$ ]] || { diag "proxy key [$key]"; return 1; }
	[ "$(stat -c %a "$HOME/.qwen/settings.json")" = 600 ] &&
		[ "$(stat -c %a "$HOME/.config/dashscope-credential/proxy-key")" = 600 ] || { diag "modes"; return 1; }
	python3 - "$HOME/.qwen/settings.json" "$key" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
a = j["security"]["auth"]
assert a == {"selectedType": "openai", "apiKey": sys.argv[2],
             "baseUrl": "http://127.0.0.1:8418/compatible-mode/v1"}, a
assert j["model"]["name"] == "qwen3-coder-plus" and j["ui"] == {"theme": "dark"}
PY
}
test_setup_qwen_code_keeps_an_existing_proxy_key() {
	mkdir -p "$HOME/.config/dashscope-credential"
	( umask 077; printf 'sk-local-existingKEYexistingKEYexistingKEY0123456789\n' >"$HOME/.config/dashscope-credential/proxy-key" )
	run setup qwen-code -p work
	expect_rc 0 && grep -q '"apiKey": "sk-local-existingKEYexistingKEYexistingKEY0123456789"' "$HOME/.qwen/settings.json" &&
		expect_no_leak sk-local-existingKEYexistingKEYexistingKEY0123456789
}
test_setup_codex_prints_the_config_section() {
	run setup codex -p work
	expect_rc 0 || return 1
	python3 - "$OUT" "$DS_REAL" "$PORT_MAIN" <<'PY'
import sys, tomllib
t = tomllib.load(open(sys.argv[1], "rb"))
assert t["model_provider"] == "dashscope" and t["model"] == "qwen3-coder-plus", t
p = t["model_providers"]["dashscope"]
assert p["base_url"] == "https://127.0.0.1:%s/compatible-mode/v1" % sys.argv[3], p
assert p["wire_api"] == "responses"
assert p["auth"] == {"command": sys.argv[2], "args": ["token", "-p", "work"],
                     "refresh_interval_ms": 45000}, p["auth"]
PY
}
test_setup_unknown_tool_suggests_the_closest() {
	run setup claude
	expect_rejected && expect_err_has "did you mean claude-code?"
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
( status_proxy_answers ) >"$TMPROOT/proxy.log"
case $? in
0) printf 'ok - test_status_standalone_proxy_that_accepts_answers\n'; passed=$((passed + 1)) ;;
77) skip test_status_standalone_proxy_that_accepts_answers "127.0.0.1:8418 is in use" ;;
*) tap_comment <"$TMPROOT/proxy.log"; printf 'not ok - test_status_standalone_proxy_that_accepts_answers\n'; failed=$((failed + 1)) ;;
esac
finish

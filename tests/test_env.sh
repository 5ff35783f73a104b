#!/bin/bash
# SPDX-License-Identifier: MIT
# env and exec (SPEC section 5): variables per --for, quoting evaluated by
# the real shells (hostile input 29), values that must be refused, exec's
# environment (stale variables removed), the child's umask, core limit,
# SIGPIPE and options, exit status and signals; token's stdout discipline
# and output that does not arrive (/dev/full, a closed stdout).
. "$(dirname "$0")/lib.sh"

fresh_user
start_server || bail_out "could not start the test server"
use_server
KEY=sk-test-ok-env-1
add_key work "$KEY" --region sg --default || bail_out "could not store a test key"
CONF="$HOME/.config/dashscope-credential/config"
snapshot_home

HOSTILE=(
	"it's"
	'say "hi"'
	'$HOME $(id) ${x}'
	'`id`'
	'back\slash \\ \n'
	'bang! !! !$ !-1'
	'100% %s %n'
	'  spaces  and	tab '
	'通义千问 ünïcödé'
	'semi;colon & amp | pipe > gt < lt'
	'# not a comment'
	'*?[glob]'
	'~tilde {a,b}'
)

# set_model VALUE: writes the value into [profile work] model, quoted for
# our INI syntax.
set_model() {
	local v=${1//\\/\\\\}
	v=${v//\"/\\\"}
	mkdir -p "$(dirname "$CONF")"
	printf '[defaults]\nprofile = work\n[profile work]\nmodel = "%s"\n' "$v" >"$CONF"
}

# roundtrip SHELLNAME: every hostile value must come back byte for byte.
roundtrip() {
	local sh=$1 v got
	for v in "${HOSTILE[@]}"; do
		set_model "$v"
		case $sh in
		sh|dash|bash|zsh)
			got=$("$sh" -c 'eval "$("$0" env --for openai)" && printenv OPENAI_MODEL' "$DS") ;;
		fish)
			got=$(fish -c '$argv[1] env --shell fish --for openai | source; and printenv OPENAI_MODEL' "$DS") ;;
		tcsh|csh)
			got=$(DS="$DS" "$sh" -c 'eval "`$DS:q env --shell csh --for openai`" && printenv OPENAI_MODEL') ;;
		esac
		if [ "$got" != "$v" ]; then
			diag "$sh: sent [$v] got [$got]"
			return 1
		fi
	done
}

shell_test() {
	local sh=$1
	if ! command -v "$sh" >/dev/null; then
		skip "test_env_roundtrips_hostile_values_in_$sh" "$sh is not installed"
		return
	fi
	eval "test_env_roundtrips_hostile_values_in_$sh() { roundtrip $sh; }"
	t "test_env_roundtrips_hostile_values_in_$sh"
}

test_env_sets_key_and_urls_for_default_list() {
	run env
	expect_rc 0 || return 1
	local base="https://127.0.0.1:$PORT_MAIN" out
	out=$(sh -c 'eval "$(cat "$0")"; for v in DASHSCOPE_API_KEY DASHSCOPE_HTTP_BASE_URL DASHSCOPE_COMPATIBLE_BASE_URL DASHSCOPE_API_REGION OPENAI_API_KEY OPENAI_BASE_URL DASHSCOPE_CREDENTIAL_PROFILE; do printf "%s=%s\n" $v "$(printenv $v)"; done' "$OUT")
	grep -q "^DASHSCOPE_API_KEY=st-ok-" <<<"$out" &&
		grep -qx "DASHSCOPE_HTTP_BASE_URL=$base/api/v1" <<<"$out" &&
		grep -qx "DASHSCOPE_COMPATIBLE_BASE_URL=$base/compatible-mode/v1" <<<"$out" &&
		grep -qx "DASHSCOPE_API_REGION=ap-southeast-1" <<<"$out" &&
		grep -q "^OPENAI_API_KEY=st-ok-" <<<"$out" &&
		grep -qx "OPENAI_BASE_URL=$base/compatible-mode/v1" <<<"$out" &&
		grep -qx "DASHSCOPE_CREDENTIAL_PROFILE=" <<<"$out" &&
		grep -q '^DASHSCOPE_CREDENTIAL_EXPIRES_AT=' "$OUT" && ! grep -q ANTHROPIC "$OUT" &&
		expect_no_leak "$KEY" || { diag "$out"; return 1; }
}
# A shell that ran eval "$(env)" follows a later `add --default` (issue
# 25); -p pins the profile on purpose.
test_env_pins_the_profile_only_when_p_was_given() {
	run env -p work
	expect_rc 0 && grep -q "^DASHSCOPE_CREDENTIAL_PROFILE='work'; export" "$OUT" || return 1
	run env
	expect_rc 0 && ! grep -q DASHSCOPE_CREDENTIAL_PROFILE "$OUT" || return 1
	# the default follows add --default in the same shell
	add_key other sk-test-ok-other-1 --region beijing --default >/dev/null || return 1
	(eval "$(cat "$OUT")" && "$DS" status) >"$TMPROOT/status" 2>&1
	grep -q '^Profile:  other (cn-beijing), chosen by the default' "$TMPROOT/status" ||
		{ diag "$(cat "$TMPROOT/status")"; return 1; }
}
test_env_one_key_shared_by_all_variables() {
	run env --for dashscope,openai,anthropic --shell pam
	expect_rc 0 || return 1
	[ "$(grep -E '^(DASHSCOPE_API_KEY|OPENAI_API_KEY|ANTHROPIC_AUTH_TOKEN)=' "$OUT" | cut -d= -f2 | sort -u | wc -l)" = 1 ] &&
		[ "$(grep -c "\"key\": \"$KEY\"" "$SERVER_LOG")" -ge 1 ]
}
test_env_anthropic_variables() {
	set_model qwen-max
	run env --for anthropic --shell dotenv
	expect_rc 0 && grep -q "^ANTHROPIC_AUTH_TOKEN='st-ok-" "$OUT" &&
		expect_out_has "ANTHROPIC_BASE_URL='https://127.0.0.1:$PORT_MAIN/apps/anthropic'" &&
		expect_out_has "ANTHROPIC_MODEL='qwen-max'" && ! grep -q OPENAI "$OUT"
}
test_env_json_is_versioned_object() {
	run env --shell json --for openai
	expect_rc 0 && python3 - "$OUT" <<'EOF2'
import json, re, sys, datetime
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["profile"] == "work" and d["region"] == "ap-southeast-1", d
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["expires_at"]), d
exp = datetime.datetime.strptime(d["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
assert int(exp.timestamp()) == int(d["env"]["DASHSCOPE_CREDENTIAL_EXPIRES_AT"]), d
assert d["env"]["OPENAI_API_KEY"].startswith("st-ok-"), d
EOF2
}
# a value JSON cannot carry is refused, never silently left out
test_env_json_refuses_a_value_that_is_not_utf8() {
	DASHSCOPE_CREDENTIAL_ENDPOINT=$'https://h\xff\xfe.example' run env --shell json --no-key
	expect_rejected && expect_err_has 'not valid UTF-8'
}
test_env_refuses_value_with_newline() {         # 29
	# a model name with LF cannot come from our INI file; a CR-free
	# control character can, and dotenv/pam refuse those
	set_model $'tab\there'
	run env --for openai --shell dotenv
	expect_rc 2 && expect_out_empty && expect_err_one_line && expect_err_has 'OPENAI_MODEL'
}
test_env_pam_no_key_needs_no_network_or_store() {
	printf '[profile work]\nregion = eu\nworkspace = ws-7\n' >"$CONF"
	rm -rf "$HOME/.local/share/dashscope-credential"
	DASHSCOPE_CREDENTIAL_ENDPOINT= DASHSCOPE_CREDENTIAL_STORE=secret-service run env --shell pam --no-key -p work --for dashscope,openai,anthropic
	expect_rc 0 && ! grep -qE 'KEY|TOKEN' "$OUT" &&
		expect_out_has 'DASHSCOPE_API_REGION=eu-central-1' &&
		expect_out_has 'OPENAI_BASE_URL=https://ws-7.eu-central-1.maas.aliyuncs.com/compatible-mode/v1' &&
		expect_out_has 'ANTHROPIC_BASE_URL=https://ws-7.eu-central-1.maas.aliyuncs.com/apps/anthropic' &&
		expect_out_has 'DASHSCOPE_CREDENTIAL_PROFILE=work'
}
test_env_no_key_with_region_only() {
	rm -rf "$HOME/.local/share/dashscope-credential"
	DASHSCOPE_CREDENTIAL_ENDPOINT= run env --shell pam --no-key -r tokyo -w llm-1
	expect_rc 0 && expect_out_has 'DASHSCOPE_HTTP_BASE_URL=https://llm-1.ap-northeast-1.maas.aliyuncs.com/api/v1' &&
		! grep -q 'DASHSCOPE_CREDENTIAL_PROFILE' "$OUT"
}
test_env_failure_prints_nothing() {
	add_key bad sk-test-e401-env --region sg || return 1
	run env -p bad
	expect_rc 4 && expect_out_empty
}
test_token_stdout_is_exactly_one_line() {
	run token
	expect_rc 0 && [ "$(wc -c <"$OUT")" -gt 3 ] && [ "$(wc -l <"$OUT")" = 1 ] &&
		grep -qx 'st-ok-[0-9]*-[0-9]*' "$OUT" && [ ! -s "$ERR" ]
}
test_exec_sets_variables_and_removes_conflicts() {
	ANTHROPIC_API_KEY=stale OPENAI_API_KEY=stale run exec --for openai,anthropic -- sh -c 'printf "%s|%s|%s|%s\n" "${ANTHROPIC_API_KEY-unset}" "$OPENAI_API_KEY" "$ANTHROPIC_AUTH_TOKEN" "$ANTHROPIC_BASE_URL"'
	expect_rc 0 && grep -qx "unset|st-ok-[0-9]*-[0-9]*|st-ok-[0-9]*-[0-9]*|https://127.0.0.1:$PORT_MAIN/apps/anthropic" "$OUT"
}
# SPEC 13 (amended): a long-lived ANTHROPIC_AUTH_TOKEN left beside the
# fresh key would win inside Claude Code, whatever --for says
test_exec_removes_family_variables_it_does_not_set() {
	ANTHROPIC_AUTH_TOKEN=sk-long-lived-1 ANTHROPIC_API_KEY=mine run exec -- sh -c 'printf "%s|%s\n" "${ANTHROPIC_AUTH_TOKEN-unset}" "${ANTHROPIC_API_KEY-unset}"'
	expect_rc 0 && expect_out_has 'unset|unset'
}
# the key file is renewed, a variable is not: none holds a key that dies
test_exec_key_file_leaves_no_key_in_a_variable() {
	run exec --key-file -- sh -c 'printf "%s|%s|%s\n" "${OPENAI_API_KEY-unset}" "${DASHSCOPE_API_KEY-unset}" "$(cat "$DASHSCOPE_API_KEY_FILE_PATH")"'
	expect_rc 0 && grep -qx 'unset|unset|st-ok-.*' "$OUT"
}
test_exec_passes_exit_status() {
	run exec -- sh -c 'exit 42'
	expect_rc 42
}
test_exec_child_killed_by_signal_gives_128_plus_n() {
	{ run exec -- sh -c 'kill -TERM $$'; } 2>/dev/null
	expect_rc 143
}
test_exec_missing_command_exits_127() {
	run exec -- /nonexistent/command
	expect_rc 127 && expect_err_one_line && expect_out_empty
}
# exec --key-file runs CMD beside the helper (base/child.c): the PATH
# search is done before fork, so a command that cannot run is reported by
# the helper itself, with execvp's exit codes, and no key file is left.
test_exec_key_file_missing_command_exits_127_with_one_line() {
	run exec --key-file -- no-such-command-here
	expect_rc 127 && expect_err_one_line && expect_err_has 'Cannot run no-such-command-here' &&
		expect_out_empty
}
# Between fork and exec the child makes async-signal-safe calls only: an
# exec that fails (here: the script's interpreter is missing) reaches the
# helper as an errno, and the helper words it, not the child.
test_exec_key_file_child_writes_no_message_of_its_own() {
	local helper writer
	# LeakSanitizer cannot run under ptrace
	[ -z "${DS_SANITIZERS:-}" ] || { diag "strace and the sanitizers exclude each other"; return 77; }
	command -v strace >/dev/null || { diag "strace is not installed"; return 77; }
	printf '#!/no/such/interpreter\n' >"$TMPROOT/bad-interp"
	chmod 755 "$TMPROOT/bad-interp"
	strace -f -qq -e trace=write -o "$TMPROOT/strace" "$DS" exec --key-file -- "$TMPROOT/bad-interp" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 127 && expect_err_one_line || return 1
	# the helper is the process that wrote the key file
	helper=$(grep -m1 '"st-' "$TMPROOT/strace" | awk '{print $1}')
	writer=$(grep -m1 'Cannot run' "$TMPROOT/strace" | awk '{print $1}')
	[ -n "$helper" ] && [ "$writer" = "$helper" ] ||
		{ diag "the message was written by pid ${writer:-none}, the helper is ${helper:-unknown}"; return 1; }
	# and a child did try to run it
	grep -v "^$helper " "$TMPROOT/strace" | grep -q 'write(' ||
		{ diag "no child reported its exec failure"; return 1; }
}
test_exec_key_file_command_not_executable_exits_126() {
	printf 'not a program\n' >"$TMPROOT/plain"
	chmod 644 "$TMPROOT/plain"
	run exec --key-file -- "$TMPROOT/plain"
	expect_rc 126 && expect_err_one_line && expect_out_empty
}
test_exec_key_file_runs_a_script_without_interpreter_line_with_sh() {
	printf 'printf "%%s\\n" "ran $1"\n' >"$TMPROOT/bin-script"
	chmod 755 "$TMPROOT/bin-script"
	PATH="$TMPROOT:$PATH" run exec --key-file -- bin-script first
	expect_rc 0 && expect_out_has 'ran first'
}
test_exec_key_file_finds_the_command_on_path() {
	mkdir -p "$TMPROOT/pathdir"
	printf '#!/bin/sh\nprintf "%%s\\n" "$DASHSCOPE_API_KEY_FILE_PATH"\n' >"$TMPROOT/pathdir/show-path"
	chmod 755 "$TMPROOT/pathdir/show-path"
	PATH="$TMPROOT/pathdir:$PATH" run exec --key-file -- show-path
	expect_rc 0 && grep -q '/' "$OUT"
}
# SPEC 13: no command runs $SHELL (here /bin/sh reading the commands below)
test_exec_without_command_runs_the_shell() {
	run_in 'printf "%s\n" "${OPENAI_API_KEY%%-*}"; exit 7' exec --for openai
	expect_rc 7 && expect_out_has st
}
test_exec_key_not_in_child_argv() {
	run exec -- sh -c 'cat /proc/$$/cmdline | tr "\0" " "'
	expect_rc 0 && ! grep -q 'st-ok-' "$OUT"
}
test_env_rejects_unknown_shell_and_for() {
	run env --shell powershell
	expect_rc 2 && expect_err_one_line || return 1
	run env --for azure
	expect_rc 2 && expect_err_one_line
}
test_options_of_other_commands_are_refused() {
	run token --json
	expect_rc 2 && expect_out_empty
}

# ---- exec gives the child the caller's world (outside review of issue 11) ----
# add_sg: the profile these cases use besides work, sg (Singapore)
KEY_SG=sk-test-ok-review-sg01
add_sg() { add_key sg "$KEY_SG" --region singapore; }
test_exec_child_gets_callers_umask() {
	add_sg || return 1
	(umask 022 && "$DS" exec -p sg -- sh -c umask) >"$OUT" 2>"$ERR"
	grep -qx '0022' "$OUT" || { diag "umask $(cat "$OUT")"; return 1; }
}
test_exec_child_gets_callers_core_limit() {
	local want got
	want=$(bash -c 'ulimit -S -c 1234 2>/dev/null && ulimit -S -c')
	[ "$want" = 1234 ] || return 77
	add_sg || return 1
	# under ASan its own disable_coredump would lower the limit first
	got=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0" bash -c "ulimit -S -c 1234; exec \"$DS\" exec -p sg -- bash -c 'echo \$(ulimit -S -c) \$(ulimit -H -c)'" 2>"$ERR")
	[ "$got" = "1234 $(bash -c 'ulimit -H -c')" ] || { diag "limits in the child: $got"; return 1; }
}
test_exec_options_after_the_command_are_its_own() {
	add_sg || return 1
	"$DS" exec -p sg echo hi --profile prod -l 5 >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && [ "$(cat "$OUT")" = "hi --profile prod -l 5" ]
}
test_exec_removes_stale_family_variables() {
	add_sg || return 1
	OPENAI_MODEL=stale-model DASHSCOPE_HTTP_BASE_URL=https://stale.example/api/v1 \
		DASHSCOPE_CREDENTIAL_EXPIRES_AT=1 ANTHROPIC_MODEL=kept-not-chosen \
		"$DS" exec -p sg --for dashscope,openai -- env >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && ! grep -q 'stale' "$OUT" && grep -q '^ANTHROPIC_MODEL=kept-not-chosen$' "$OUT" &&
		grep -q '^DASHSCOPE_HTTP_BASE_URL=https://127.0.0.1' "$OUT" &&
		! grep -qx 'DASHSCOPE_CREDENTIAL_EXPIRES_AT=1' "$OUT"
}
test_exec_child_gets_default_sigpipe() {
	# SigIgn of the child itself: bit 12 is SIGPIPE (13)
	local ign
	add_sg || return 1
	ign=$("$DS" exec -p sg -- sh -c 'sed -n "s/^SigIgn:\t//p" /proc/$$/status' 2>"$ERR")
	[ -n "$ign" ] && [ $(( 0x$ign & 0x1000 )) = 0 ] || { diag "SigIgn $ign"; return 1; }
}

# ---- output that did not arrive is a failure ----
test_output_to_dev_full_exits_1() {
	local args
	add_sg || return 1
	for args in "list --json" "list" "regions --json" "token -p sg" "env -p sg" "capability"; do
		# shellcheck disable=SC2086
		"$DS" $args >/dev/full 2>"$ERR"
		RC=$?
		expect_rc 1 && expect_err_one_line || { diag "command $args"; return 1; }
	done
}
test_output_to_closed_stdout_exits_1() {
	# the binary itself: a wrapper (valgrind) would take fd 1 for its log
	"$DS_REAL" regions >&- 2>"$ERR"
	RC=$?
	expect_rc 1 && expect_err_has 'it is closed'
}
test_closed_stdout_is_never_reused_for_a_file() {
	# with fd 1 closed, the next open would get it: the key file's temporary
	# copy must not become standard output
	printf 'sk-aaaaaaaa11\n' | "$DS_REAL" add reuse --region sg >&- 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q "^reuse	ap-southeast-1		payg	sk-aaaaaaaa11\$" "$KEYFILE" &&
		[ -z "$(find "$(dirname "$KEYFILE")" -name 'keys.*' ! -name keys.lock)" ]
}

# Issue 16: what never talks to the API never loads libcurl (the network
# module is loaded on the first mint), so the PAM module's call stays cheap.
loaded_libs() { LD_DEBUG=libs "$DS_REAL" "$@" </dev/null 2>&1 >/dev/null | grep -o 'calling init: [^ ]*' ; }
test_env_no_key_does_not_load_libcurl() {
	loaded_libs env --shell pam --no-key >"$OUT"
	grep -q 'libjansson' "$OUT" && ! grep -q 'libcurl\|dscred-net' "$OUT" ||
		{ diag "$(tr '\n' ' ' <"$OUT")"; return 1; }
}
test_list_and_regions_do_not_load_libcurl() {
	loaded_libs list >"$OUT"
	loaded_libs regions >>"$OUT"
	! grep -q 'libcurl' "$OUT"
}
test_token_loads_the_network_module() {
	# the other side: a mint does load it, from the build tree
	loaded_libs token >"$OUT"
	grep -q 'dscred-net.so' "$OUT" && grep -q 'libcurl' "$OUT"
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
for sh in sh dash bash zsh fish tcsh; do
	shell_test "$sh"
done
finish

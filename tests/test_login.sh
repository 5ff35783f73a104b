#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_dashscope in real logins: a private OpenSSH sshd on a free loopback
# port (its own host key, config and PAM service), a throw-away user with
# an authorized key and a profile, and real `ssh` logins. Nothing of the
# machine's own sshd or /etc/pam.d/sshd is touched; everything made here is
# removed on every exit path. Root only (users, /etc/pam.d); skipped
# otherwise.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (a user, a PAM service file, sshd)"
for tool in "$(command -v sshd || echo /usr/sbin/sshd)" ssh ssh-keygen useradd groupadd runuser python3; do
	command -v "$tool" >/dev/null || skip_all "$tool is not installed (install-deps.sh)"
done
if [ -n "${DS_SANITIZERS:-}" ]; then
	# sshd is not built with ASan, so it cannot load an ASan module
	skip_all "sshd cannot dlopen a module built with ASan"
fi
MOD="$abs_top_builddir/.libs/pam_dashscope.so"
[ -f "$MOD" ] || bail_out "pam_dashscope.so is not built"

. "$(dirname "$0")/sshd-lib.sh"
sshd_start || bail_out "could not start sshd"

helper() { printf '#!/bin/sh\n%s\n' "$2" >"$L/bin/$1"; chmod 755 "$L/bin/$1"; }
# hangs for an hour: a login that completes at all was let through by the
# module's timeout, not by the helper ending
helper hang 'exec sleep 3600'
helper fail 'echo "no profile for this user" >&2; exit 1'
helper flood 'head -c 2000000 /dev/zero | tr "\0" A; echo; echo DASHSCOPE_API_REGION=cn-beijing'

# The session's variables of our families, sorted.
ours() { grep -E '^(DASHSCOPE|OPENAI|ANTHROPIC)_' "$OUT" | sort; }
expect_vars() {
	local want
	want=$(printf '%s\n' "$@" | sort)
	[ "$(ours)" = "$want" ] && return 0
	diag "session has: $(ours | tr '\n' ' ')"
	diag "expected:    $(echo $want)"
	return 1
}
expect_no_key() {
	if grep -qE '^(DASHSCOPE_API_KEY|OPENAI_API_KEY|ANTHROPIC_AUTH_TOKEN|ANTHROPIC_API_KEY)=|=s[kt]-' "$OUT" ||
		grep -qsF -- "$KEY" "$OUT" "$ERR" "$L/sshd.log" "$SYSLOG"; then
		diag "a key reached the session or a log"
		return 1
	fi
}
# Timing is bench/login's; these tests assert conditions. A login that
# must not wait out the module's timeout runs with the longest timeout
# (60 s) and is capped well below it: it fails only if the module waited.
NO_WAIT="timeout=60"
NO_WAIT_CAP=45
hang_runs() { ps -o args= -u "$ID" | grep -q '^sleep 3600'; }
expect_logged_in() {
	[ "$RC" = 0 ] && grep -qx "LOGGED_IN" "$OUT" && return 0
	diag "ssh exit $RC: $(head -c 300 "$ERR")"
	return 1
}
W=https://ws-login.ap-northeast-1.maas.aliyuncs.com

test_login_session_has_exactly_the_profile_endpoints_and_no_key() {
	pam_service "session optional $MOD helper=$DS_REAL conf=$L/system.conf for=dashscope,openai,anthropic"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_no_key && expect_vars \
		DASHSCOPE_API_REGION=ap-northeast-1 \
		"DASHSCOPE_HTTP_BASE_URL=$W/api/v1" \
		"DASHSCOPE_COMPATIBLE_BASE_URL=$W/compatible-mode/v1" \
		"OPENAI_BASE_URL=$W/compatible-mode/v1" \
		OPENAI_MODEL=qwen-max \
		"ANTHROPIC_BASE_URL=$W/apps/anthropic" \
		ANTHROPIC_MODEL=qwen-max \
		DASHSCOPE_CREDENTIAL_PROFILE=team
}
test_login_default_families_are_dashscope_and_openai() {
	pam_service "session optional $MOD helper=$DS_REAL conf=$L/system.conf"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_no_key && expect_vars \
		DASHSCOPE_API_REGION=ap-northeast-1 \
		"DASHSCOPE_HTTP_BASE_URL=$W/api/v1" \
		"DASHSCOPE_COMPATIBLE_BASE_URL=$W/compatible-mode/v1" \
		"OPENAI_BASE_URL=$W/compatible-mode/v1" \
		OPENAI_MODEL=qwen-max \
		DASHSCOPE_CREDENTIAL_PROFILE=team
}
test_login_pam_rule_for_the_user_chooses_region() {
	printf '[pam]\n@%s = region=us\n%s = region=frankfurt workspace=ws-user\n* = region=cn\n' \
		"$ID" "$ID" >"$L/system.conf"
	pam_service "session optional $MOD helper=$DS_REAL conf=$L/system.conf for=dashscope"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_no_key && expect_vars \
		DASHSCOPE_API_REGION=eu-central-1 \
		DASHSCOPE_HTTP_BASE_URL=https://ws-user.eu-central-1.maas.aliyuncs.com/api/v1 \
		DASHSCOPE_COMPATIBLE_BASE_URL=https://ws-user.eu-central-1.maas.aliyuncs.com/compatible-mode/v1
}
test_login_pam_rule_for_the_group_chooses_region() {
	printf '[pam]\n@%sx = region=singapore\n@%s = region=us\n* = region=cn\n' "$ID" "$ID" >"$L/system.conf"
	pam_service "session optional $MOD helper=$DS_REAL conf=$L/system.conf for=openai"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_no_key && expect_vars \
		OPENAI_BASE_URL=https://dashscope-us.aliyuncs.com/compatible-mode/v1
}
test_login_pam_star_rule_applies_to_others() {
	printf '[pam]\n@%sx = region=singapore\nsomeone-else = region=us\n* = region=hk\n' "$ID" >"$L/system.conf"
	pam_service "session optional $MOD helper=$DS_REAL conf=$L/system.conf for=dashscope"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars \
		DASHSCOPE_API_REGION=cn-hongkong \
		DASHSCOPE_HTTP_BASE_URL=https://cn-hongkong.dashscope.aliyuncs.com/api/v1 \
		DASHSCOPE_COMPATIBLE_BASE_URL=https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1
}
# pam_dashscope(8): a login never waits longer than timeout. The helper
# hangs for an hour and the login is capped at a minute: it completes only
# because the module gave up on the helper.
test_login_with_hanging_helper_goes_through_after_timeout() {
	pam_service "session optional $MOD helper=$L/bin/hang timeout=2"
	LOGIN_CAP=60 login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars
}
test_login_with_hanging_helper_leaves_no_process_behind() {
	pam_service "session optional $MOD helper=$L/bin/hang timeout=1"
	LOGIN_CAP=60 login 'echo LOGGED_IN'
	expect_logged_in || return 1
	# the module kills what it started; what it left would sleep an hour
	wait_for -t 30 not hang_runs || { diag "the helper's process outlived the login"; return 1; }
}
test_login_with_failing_helper_goes_through() {
	pam_service "session optional $MOD helper=$L/bin/fail $NO_WAIT"
	LOGIN_CAP=$NO_WAIT_CAP login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars
}
test_login_with_failing_helper_and_strict_is_refused() {
	pam_service "session required $MOD helper=$L/bin/fail strict $NO_WAIT"
	LOGIN_CAP=$NO_WAIT_CAP login 'echo LOGGED_IN'
	if [ "$RC" = 0 ] || grep -q LOGGED_IN "$OUT"; then
		diag "the login went through (ssh exit $RC)"
		return 1
	fi
	# refused by the module at once, not by the cap
	[ "$RC" != 124 ] || { diag "the login was still waiting after $NO_WAIT_CAP s"; return 1; }
}
expect_logged() { # TEXT: the module logged a line with TEXT
	grep -F "pam_dashscope" "$SYSLOG" 2>/dev/null | grep -qF -- "$1" && return 0
	diag "no log line with '$1': $(grep pam_dashscope "$SYSLOG" 2>/dev/null | tail -3)"
	return 1
}
test_login_logs_helper_reason_when_strict_refuses() {
	pam_service "session required $MOD helper=$L/bin/fail strict"
	login 'echo LOGGED_IN'
	[ "$RC" != 0 ] && expect_logged "$L/bin/fail failed (exit 1) for user $ID: no profile for this user"
}
test_login_logs_hanging_helper_killed() {
	pam_service "session optional $MOD helper=$L/bin/hang timeout=1"
	login 'echo LOGGED_IN'
	expect_logged_in && expect_logged "$L/bin/hang did not finish within 1 s; killed"
}
test_login_with_flooding_helper_goes_through_without_variables() {
	pam_service "session optional $MOD helper=$L/bin/flood $NO_WAIT"
	LOGIN_CAP=$NO_WAIT_CAP login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars
}
test_login_with_unmapped_user_is_ignored() {
	printf '[pam]\nsomeone-else = region=us\n' >"$L/system.conf"
	pam_service "session optional $MOD helper=$DS_REAL conf=$L/system.conf"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars
}

for f in $(declare -F | awk '$3 ~ /^test_login_/ && $3 !~ /_logs_/ {print $3}'); do
	: >"$L/system.conf"
	t "$f"
done
for f in test_login_logs_helper_reason_when_strict_refuses test_login_logs_hanging_helper_killed; do
	if [ -n "$SYSLOG_PID" ]; then
		t "$f"
	else
		skip "$f" "/dev/log belongs to the machine's syslog"
	fi
done
# the server's view, for a failing run's log
grep -E 'pam_dashscope|PAM|session' "$L/sshd.log" | head -20 | sed 's/^/# sshd: /'
finish

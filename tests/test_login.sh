#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_dashscope in real logins: a private OpenSSH sshd on a free loopback
# port (its own host key, config and PAM service), a throw-away user with
# an authorized key and a profile, and real `ssh` logins. Nothing of the
# machine's own sshd or /etc/pam.d/sshd is touched; everything made here is
# removed on every exit path. Root only (users, /etc/pam.d); skipped
# otherwise.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "# SKIP: needs root (a user, a PAM service file, sshd)"; exit 77; }
SSHD_BIN=$(command -v sshd || echo /usr/sbin/sshd)
for tool in "$SSHD_BIN" ssh ssh-keygen useradd groupadd runuser python3; do
	command -v "$tool" >/dev/null || { echo "# SKIP: $tool is not installed (install-deps.sh)"; exit 77; }
done
if [ -n "${DS_SANITIZERS:-}" ]; then
	# sshd is not built with ASan, so it cannot load an ASan module
	echo "# SKIP: sshd cannot dlopen a module built with ASan"
	exit 77
fi
MOD="$abs_top_builddir/.libs/pam_dashscope.so"
[ -f "$MOD" ] || { echo "pam_dashscope.so is not built"; exit 99; }

# sshd names its PAM service after its program name (OpenSSH's
# SSHD_PAM_SERVICE is __progname; this OpenSSH has no PAMServiceName), so
# a link with our own name gives it a PAM service of our own.
ID="dslogin$$"
SERVICE="ds-login-test-$$"
PAMFILE="/etc/pam.d/$SERVICE"
L="$TMPROOT/login"
SSHD_PID=""
SYSLOG_PID=""
MADE_PRIVSEP=""
login_cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	if [ -n "$SYSLOG_PID" ]; then
		kill "$SYSLOG_PID" 2>/dev/null && wait "$SYSLOG_PID" 2>/dev/null
		rm -f /dev/log
	fi
	# whatever the user still runs (a killed helper's leftovers), by pid
	for pid in $(ps -o pid= -u "$ID" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	rm -f "$PAMFILE"
	userdel "$ID" 2>/dev/null
	groupdel "$ID" 2>/dev/null
	groupdel "${ID}x" 2>/dev/null
	[ -n "$MADE_PRIVSEP" ] && rmdir /run/sshd 2>/dev/null
	cleanup
}
trap login_cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$L/bin" "$L/home/.ssh"
chmod 755 "$TMPROOT" "$L" "$L/bin"
# the helper runs as the user: it must be able to reach the binary
chmod o+x "$(dirname "$DS_REAL")" 2>/dev/null

groupadd "$ID" && groupadd "${ID}x" || { echo "groupadd failed"; exit 99; }
useradd -M -d "$L/home" -s /bin/sh -g "$ID" "$ID" || { echo "useradd failed"; exit 99; }
ssh-keygen -q -t ed25519 -N '' -f "$L/hostkey" -C host || exit 99
ssh-keygen -q -t ed25519 -N '' -f "$L/client" -C client || exit 99
cp "$L/client.pub" "$L/home/.ssh/authorized_keys"
chmod 700 "$L/home/.ssh"
chmod 600 "$L/home/.ssh/authorized_keys"

# the user's own profile, in the file store, added by the user
KEY="sk-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$L/home/.config/dashscope-credential"
printf '[defaults]\nstore = file\n[profile team]\nmodel = qwen-max\n' \
	>"$L/home/.config/dashscope-credential/config"
chown -R "$ID:$ID" "$L/home"
chmod 755 "$L/home"
printf '%s\n' "$KEY" | runuser -u "$ID" -- env -i HOME="$L/home" PATH=/usr/bin:/bin \
	DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG=/dev/null \
	"$DS_REAL" add team --region tokyo --workspace ws-login >/dev/null 2>"$L/add.err" ||
	{ echo "add failed: $(cat "$L/add.err")"; exit 99; }

helper() { printf '#!/bin/sh\n%s\n' "$2" >"$L/bin/$1"; chmod 755 "$L/bin/$1"; }
helper hang 'exec sleep 100'
helper fail 'echo "no profile for this user" >&2; exit 1'
helper flood 'head -c 2000000 /dev/zero | tr "\0" A; echo; echo DASHSCOPE_API_REGION=cn-beijing'
: >"$L/system.conf"
chmod 644 "$L/system.conf"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$L/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $L/hostkey
PidFile $L/sshd.pid
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $ID
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel VERBOSE
EOF
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$L/hostkey.pub")" >"$L/known_hosts"

# pam_service LINE: the PAM stack of our sshd, with the module's line
pam_service() {
	printf '%s\n' 'auth required pam_deny.so' 'account required pam_permit.so' \
		'password required pam_deny.so' 'session required pam_permit.so' "$1" >"$PAMFILE"
}
pam_service "session optional $MOD conf=$L/system.conf"

# The module's log lines: a listener on /dev/log when the machine has no
# syslog there (containers, CI); with a syslog of its own the log checks
# are reported skipped.
SYSLOG="$L/syslog"
SYSLOG_PID=""
if [ ! -e /dev/log ]; then
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
out = open(sys.argv[1], "ab", buffering=0)
print("ready", flush=True)
while True:
    out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
' "$SYSLOG" >"$L/syslog.ready" &
	SYSLOG_PID=$!
	for _ in $(seq 100); do
		[ -s "$L/syslog.ready" ] && break
		sleep 0.05
	done
fi

if [ ! -d /run/sshd ]; then
	mkdir -m 755 /run/sshd && MADE_PRIVSEP=1
fi
ln -s "$SSHD_BIN" "$L/$SERVICE"
"$L/$SERVICE" -D -f "$L/sshd_config" -E "$L/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do
	grep -q "Server listening" "$L/sshd.log" 2>/dev/null && break
	kill -0 "$SSHD_PID" 2>/dev/null || break
	sleep 0.05
done
grep -q "Server listening" "$L/sshd.log" 2>/dev/null ||
	{ echo "sshd did not start: $(head -c 600 "$L/sshd.log")"; exit 99; }

# login CMD...: one real ssh login; sets RC, OUT, ERR and TOOK (seconds)
login() {
	local t0=$EPOCHREALTIME
	ssh -F /dev/null -p "$PORT" -i "$L/client" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o UserKnownHostsFile="$L/known_hosts" -o StrictHostKeyChecking=yes \
		-o LogLevel=ERROR "$ID@127.0.0.1" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	TOOK=$(python3 -c "print('%.2f' % ($EPOCHREALTIME - $t0))")
}
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
		grep -qF -- "$KEY" "$OUT" "$ERR" "$L/sshd.log"; then
		diag "a key reached the session or a log"
		return 1
	fi
}
expect_took() { # MIN MAX seconds
	python3 -c "import sys; sys.exit(not ($1 <= $TOOK < $2))" && return 0
	diag "the login took $TOOK s, expected $1 to $2 s"
	return 1
}
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
# pam_dashscope(8): a login never waits longer than timeout
test_login_with_hanging_helper_goes_through_after_timeout() {
	pam_service "session optional $MOD helper=$L/bin/hang timeout=2"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars && expect_took 1.9 4.5
}
test_login_with_hanging_helper_leaves_no_process_behind() {
	pam_service "session optional $MOD helper=$L/bin/hang timeout=1"
	login 'echo LOGGED_IN'
	expect_logged_in || return 1
	sleep 0.3
	if ps -o pid=,args= -u "$ID" | grep -q 'sleep 100'; then
		diag "the helper's process outlived the login"
		return 1
	fi
}
test_login_with_failing_helper_goes_through() {
	pam_service "session optional $MOD helper=$L/bin/fail"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars && expect_took 0 1.5
}
test_login_with_failing_helper_and_strict_is_refused() {
	pam_service "session required $MOD helper=$L/bin/fail strict"
	login 'echo LOGGED_IN'
	if [ "$RC" = 0 ] || grep -q LOGGED_IN "$OUT"; then
		diag "the login went through (ssh exit $RC)"
		return 1
	fi
	expect_took 0 1.5
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
	pam_service "session optional $MOD helper=$L/bin/flood timeout=5"
	login 'env; echo LOGGED_IN'
	expect_logged_in && expect_vars && expect_took 0 2.5
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

# SPDX-License-Identifier: MIT
# A private OpenSSH sshd for real logins through pam_dashscope, shared by
# tests/test_login.sh and bench/login (sourced after tests/lib.sh, as root,
# with MOD set to the module). sshd_start makes a throw-away user and group
# ($ID, and "${ID}x" it is not in) with an authorized key and a profile
# (tokyo, workspace ws-login, model qwen-max, file store), a host key, a
# config and a PAM service of our own, and starts sshd on a free loopback
# port. Nothing of the machine's own sshd or /etc/pam.d/sshd is touched;
# sshd_cleanup (run on EXIT) removes all of it.

# sshd names its PAM service after its program name (OpenSSH's
# SSHD_PAM_SERVICE is __progname; this OpenSSH has no PAMServiceName), so
# a link with our own name gives it a PAM service of our own.
SSHD_BIN=$(command -v sshd || echo /usr/sbin/sshd)
ID="dslogin$$"
SERVICE="ds-login-test-$$"
PAMFILE="/etc/pam.d/$SERVICE"
L="$TMPROOT/login"
SSHD_PID=""
SYSLOG_PID=""
MADE_PRIVSEP=""
sshd_cleanup() {
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
trap sshd_cleanup EXIT
trap 'exit 1' INT TERM HUP

# Receives syslog datagrams on /dev/log and appends them to a file.
SYSLOG_LISTENER='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
out = open(sys.argv[1], "ab", buffering=0)
print("ready", flush=True)
while True:
    out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
'

# pam_service LINE: the PAM stack of our sshd, with the module's line
pam_service() {
	printf '%s\n' 'auth required pam_deny.so' 'account required pam_permit.so' \
		'password required pam_deny.so' 'session required pam_permit.so' "$1" >"$PAMFILE"
}
# sshd said it listens, or it has exited (its log says why)
sshd_listening_or_gone() {
	grep -q "Server listening" "$L/sshd.log" 2>/dev/null || pid_gone "$SSHD_PID"
}
sshd_start() {
	mkdir -p "$L/bin" "$L/home/.ssh"
	chmod 755 "$TMPROOT" "$L" "$L/bin"
	# the helper runs as the user: it must be able to reach the binary
	chmod o+x "$(dirname "$DS_REAL")" 2>/dev/null

	groupadd "$ID" && groupadd "${ID}x" || { echo "groupadd failed"; return 1; }
	useradd -M -d "$L/home" -s /bin/sh -g "$ID" "$ID" || { echo "useradd failed"; return 1; }
	ssh-keygen -q -t ed25519 -N '' -f "$L/hostkey" -C host || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$L/client" -C client || return 1
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
	: >"$L/system.conf"
	chmod 644 "$L/system.conf"
	printf '%s\n' "$KEY" | runuser -u "$ID" -- env -i HOME="$L/home" PATH=/usr/bin:/bin \
		DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$L/system.conf" \
		"$DS_REAL" add team --region tokyo --workspace ws-login >/dev/null 2>"$L/add.err" ||
		{ echo "add failed: $(cat "$L/add.err")"; return 1; }

	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$L/sshd_config" <<-EOF
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

	pam_service "session optional $MOD conf=$L/system.conf"

	# The module's log lines: a listener on /dev/log when the machine has no
	# syslog there (containers, CI); with a syslog of its own the log checks
	# are reported skipped.
	SYSLOG="$L/syslog"
	SYSLOG_PID=""
	if [ ! -e /dev/log ]; then
		python3 -c "$SYSLOG_LISTENER" "$SYSLOG" >"$L/syslog.ready" &
		SYSLOG_PID=$!
		wait_file "$L/syslog.ready" || return 1
	fi

	if [ ! -d /run/sshd ]; then
		mkdir -m 755 /run/sshd && MADE_PRIVSEP=1
	fi
	ln -s "$SSHD_BIN" "$L/$SERVICE"
	"$L/$SERVICE" -D -f "$L/sshd_config" -E "$L/sshd.log" &
	SSHD_PID=$!
	wait_for sshd_listening_or_gone
	grep -q "Server listening" "$L/sshd.log" 2>/dev/null ||
		{ echo "sshd did not start: $(head -c 600 "$L/sshd.log")"; return 1; }
}

# login CMD...: one real ssh login; sets RC, OUT, ERR and TOOK (seconds,
# for bench/login; tests assert conditions, never times). A login still
# running after LOGIN_CAP seconds (120 unless set) is killed: RC 124.
login() {
	local t0=$EPOCHREALTIME
	timeout -k 5 "${LOGIN_CAP:-120}" ssh -F /dev/null -p "$PORT" -i "$L/client" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o UserKnownHostsFile="$L/known_hosts" -o StrictHostKeyChecking=yes \
		-o LogLevel=ERROR "$ID@127.0.0.1" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	TOOK=$(python3 -c "print('%.4f' % ($EPOCHREALTIME - $t0))")
}

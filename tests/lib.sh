# SPDX-License-Identifier: MIT
# Shared harness for the integration tests (sourced by bash scripts).
# Each test is a function named after the behaviour it checks; `t NAME`
# runs it and prints "ok - NAME" or "not ok - NAME" with the reason.
# The output is TAP, read by automake's tap-driver.sh: every other line on
# stdout is a "#" comment, finish() prints the plan ("1..N") and a
# "# N passed, N failed, N skipped" comment and exits non-zero on failure,
# and a script that cannot run here at all calls skip_all REASON.

set -u
# Check programs a script runs (tests/pam_test) write their usual report;
# the suite's own TAP stream is this script's
unset CK_TAP_LOG_FILE_NAME
: "${abs_top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${abs_top_srcdir:=$abs_top_builddir}"
DS="$abs_top_builddir/dashscope-credential"
DS_REAL="$DS"
TESTS_SRC="$abs_top_srcdir/tests"
passed=0 failed=0 skipped=0
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/ds-test.XXXXXX")

# python3 is found once, here: a version manager's python3 (pyenv's shim,
# a shell script) can take seconds a start on a loaded machine, and a
# test script starts python3 hundreds of times. The interpreter the shim
# would run goes first on PATH, under its own name (child processes, the
# servers and raw clients included, run the same one).
if _py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$_py" ] &&
	[ "$(command -v python3)" != "$_py" ]; then
	mkdir "$TMPROOT/pybin" && ln -s "$_py" "$TMPROOT/pybin/python3" && PATH="$TMPROOT/pybin:$PATH"
	export PATH
fi
unset _py

# Under `make check-valgrind` every run of the helper goes through the
# wrapper (valgrind); a memory error or a definite leak makes that run exit
# 99, which fails its test, and finish() fails on any report left behind.
if [ -n "${DS_TEST_WRAPPER:-}" ]; then
	DS_VALGRIND_LOGS="$TMPROOT/valgrind"
	export DS_VALGRIND_LOGS
	mkdir "$TMPROOT/bin" "$DS_VALGRIND_LOGS"
	DS="$TMPROOT/bin/dashscope-credential"
	# the log directory is written into the wrapper: tests that run the
	# helper as another user in a clean environment still log there
	printf '#!/bin/sh\nDS_VALGRIND_LOGS=%s; export DS_VALGRIND_LOGS\nexec %s "%s" "$@"\n' \
		"$DS_VALGRIND_LOGS" "$DS_TEST_WRAPPER" "$DS_REAL" >"$DS"
	# tests that run the helper as other users (the broker's) need to run
	# the wrapper and let valgrind write its log
	chmod 755 "$DS"
	chmod 1777 "$DS_VALGRIND_LOGS"
fi
SERVER_PID=""

cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	rm -rf "$TMPROOT"
}
trap cleanup EXIT

# A fresh, isolated user: its own HOME, file store, empty system config.
fresh_user() {
	HOME="$TMPROOT/home.$RANDOM$RANDOM"
	mkdir -p "$HOME"
	export HOME
	unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_RUNTIME_DIR DBUS_SESSION_BUS_ADDRESS DISPLAY \
		DASHSCOPE_CREDENTIAL_CONFIG DASHSCOPE_CREDENTIAL_KEYFILE DASHSCOPE_CREDENTIAL_PROFILE \
		DASHSCOPE_CREDENTIAL_ENDPOINT DASHSCOPE_CREDENTIAL_CA_FILE \
		https_proxy HTTPS_PROXY http_proxy HTTP_PROXY all_proxy ALL_PROXY
	export DASHSCOPE_CREDENTIAL_STORE=file
	# env takes its default syntax from $SHELL: tests that eval it in sh
	export SHELL=/bin/sh
	export DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$HOME/system.conf"
	: > "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	KEYFILE="$HOME/.local/share/dashscope-credential/keys"
}

# run_in INPUT ARGS...: runs the binary with INPUT on stdin.
# Sets RC, OUT (stdout file), ERR (stderr file).
OUT="$TMPROOT/out" ERR="$TMPROOT/err"
run_in() {
	local input=$1
	shift
	printf '%s' "$input" | "$DS" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}
run() {
	"$DS" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
}
# run_limited ARGS...: runs the helper like run, killed after LIMIT (30) s;
# fails when it had to be killed. A FIFO nobody writes or a device that
# never ends holds whoever opens or reads it for good: a run that ends by
# itself did not wait on one. (How soon is not asked: load decides that,
# not the helper.)
LIMIT=30
run_limited() {
	timeout -k 5 "$LIMIT" "$DS" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	[ "$RC" != 124 ] || { diag "the helper waited until killed"; return 1; }
}

diag() { printf '#   %s\n' "$*"; }

expect_rc() {
	[ "$RC" = "$1" ] && return 0
	diag "exit status $RC, expected $1"
	diag "stderr: $(head -c 400 "$ERR")"
	return 1
}
expect_out_empty() {
	[ ! -s "$OUT" ] && return 0
	diag "stdout not empty: $(head -c 200 "$OUT" | tr '\n' '|')"
	return 1
}
expect_err_one_line() {
	local n
	n=$(wc -l <"$ERR")
	[ "$n" = 1 ] && return 0
	diag "stderr has $n lines, expected 1: $(head -c 300 "$ERR")"
	return 1
}
expect_out_has() {
	grep -qxF -- "$1" "$OUT" && return 0
	diag "stdout lacks line '$1': $(head -c 600 "$OUT" | tr '\n' '|')"
	return 1
}
expect_out_lacks() {
	grep -q -- "$1" "$OUT" || return 0
	diag "stdout has '$1'"
	return 1
}
expect_err_has() {
	grep -qF -- "$1" "$ERR" && return 0
	diag "stderr lacks '$1': $(head -c 400 "$ERR")"
	return 1
}
# The given secret must appear in neither stream.
expect_no_leak() {
	if grep -qF -- "$1" "$OUT" "$ERR"; then
		diag "the secret appeared in the output"
		return 1
	fi
	return 0
}
# A rejected request: exit 2, one line on stderr, nothing on stdout.
expect_rejected() {
	expect_rc 2 && expect_out_empty && expect_err_one_line
}

store_sum() {
	if [ -e "$KEYFILE" ]; then sha256sum <"$KEYFILE"; else echo none; fi
}
expect_store_unchanged() {
	local now
	now=$(store_sum)
	[ "$now" = "$1" ] && return 0
	diag "the key file changed"
	return 1
}

# snapshot_home: later tests each start from this state of $HOME.
SNAPSHOT=""
snapshot_home() {
	SNAPSHOT="$TMPROOT/snapshot"
	rm -rf "$SNAPSHOT"
	cp -a "$HOME" "$SNAPSHOT"
}

t() {
	local name=$1 out rc
	if [ -n "$SNAPSHOT" ]; then
		rm -rf "$HOME"
		cp -a "$SNAPSHOT" "$HOME"
	fi
	# what the case prints is diagnostics: no line of it may read as a
	# result, so each goes out as a comment (its own file: a process the
	# case left behind may still write to it)
	out="$TMPROOT/t.$((passed + failed + skipped)).out"
	( "$name" ) >"$out"
	rc=$?
	# (left for the exit trap: a sed and an rm a case add up over a suite)
	[ ! -s "$out" ] || tap_comment <"$out"
	case $rc in
	0)
		printf 'ok - %s\n' "$name"
		passed=$((passed + 1))
		;;
	77)
		# the test said it cannot run here: counted as skipped, never passed
		printf 'ok - %s # SKIP\n' "$name"
		skipped=$((skipped + 1))
		;;
	*)
		printf 'not ok - %s\n' "$name"
		failed=$((failed + 1))
		;;
	esac
}

skip() {
	printf 'ok - %s # SKIP %s\n' "$1" "$2"
	skipped=$((skipped + 1))
}

# skip_all REASON: nothing in this script can run here. Call it before
# the first case; the TAP driver reports the script skipped, with REASON.
skip_all() {
	printf '1..0 # SKIP %s\n' "$1"
	exit 0
}

# bail_out REASON: the script cannot go on (its setup failed); the TAP
# driver reports an error with REASON's first line, the rest follows as
# comments.
bail_out() {
	printf '%s\n' "$1" | {
		IFS= read -r first
		printf 'Bail out! %s\n' "$first"
		tap_comment
	}
	exit 99
}

# Copies stdin to stdout as TAP comments (lines that are one already stay).
tap_comment() {
	sed '/^#/!s/^/# /'
}

# check_tap_results FILE: each case of a Check program's TAP file
# (CK_TAP_LOG_FILE_NAME=FILE) as a result of this script, under its test
# function's name; a failure's message follows as a comment.
check_tap_results() {
	local line name msg
	[ -f "$1" ] || return 0
	while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*) ;;
		*) continue ;;
		esac
		# "ok 3 - FILE:TCASE:TEST: MESSAGE"
		msg=${line#* - }
		msg=${msg#*:}
		msg=${msg#*:}
		name=${msg%%:*}
		msg=${msg#*: }
		if [ "${line%% *}" = ok ]; then
			printf 'ok - %s\n' "$name"
			passed=$((passed + 1))
		else
			printf 'not ok - %s\n' "$name"
			diag "$msg"
			failed=$((failed + 1))
		fi
	done <"$1"
}

finish() {
	if [ -n "${DS_VALGRIND_LOGS:-}" ] && [ -n "$(find "$DS_VALGRIND_LOGS" -type f -size +0 2>/dev/null)" ]; then
		printf 'not ok - valgrind_reports_nothing\n'
		find "$DS_VALGRIND_LOGS" -type f -size +0 -exec sed 's/^/#   /' {} + | head -60
		failed=$((failed + 1))
	fi
	# the plan at the end (TAP allows it): the number of cases is known
	# only once they ran; a script that dies before here has no plan, and
	# the driver reports that as an error
	printf '1..%d\n' $((passed + failed + skipped))
	printf '# %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
	[ "$failed" = 0 ] || exit 1
	exit 0
}

# add_key PROFILE KEY ARGS...: stores a key through `add` (key on stdin).
add_key() {
	local name=$1 key=$2
	shift 2
	printf '%s\n' "$key" | "$DS" add "$name" "$@" >/dev/null 2>&1
}

# ---- waiting for a condition ----
# A test never sleeps a fixed time: it waits for what it needs to see,
# polling every 0.05 s, with a cap generous enough for a loaded machine
# (WAIT_CAP seconds, 60 unless set). A cap that runs out fails the test
# and says what it waited for; load can only make a passing run slower.
# wait_for [-t SECONDS] CMD...: until CMD succeeds.
wait_for() {
	local cap=${WAIT_CAP:-60}
	if [ "${1:-}" = -t ]; then
		cap=$2
		shift 2
	fi
	local end=$((SECONDS + cap))
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			diag "still not true after ${cap} s: $*"
			return 1
		fi
		sleep 0.05
	done
}
# wait_file [-t SECONDS] PATH: until PATH exists and is not empty.
wait_file() {
	if [ "${1:-}" = -t ]; then
		wait_for -t "$2" test -s "$3"
	else
		wait_for test -s "$1"
	fi
}
# wait_grep [-t SECONDS] PATTERN FILE: until FILE has a line matching
# PATTERN (grep -E).
wait_grep() {
	local cap=${WAIT_CAP:-60}
	if [ "${1:-}" = -t ]; then
		cap=$2
		shift 2
	fi
	wait_for -t "$cap" grep -qsE -- "$1" "$2"
}
# pid_gone PID: the process has exited (and, if ours, been reaped).
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
# wait_gone [-t SECONDS] PID: until the process has exited.
wait_gone() {
	if [ "${1:-}" = -t ]; then
		wait_for -t "$2" pid_gone "$3"
	else
		wait_for pid_gone "$1"
	fi
}
# not CMD...: succeeds when CMD fails (for wait_for).
not() { ! "$@"; }

# server_certs DIR: copies into DIR the certificates of tests/make-certs.sh.
# They are made once for a run of the suite (five RSA keys take seconds on
# a loaded machine, and a dozen scripts want them), in tests/certs of the
# build tree, under a lock so that scripts run in parallel make them once;
# made again when a day old (they are valid for two days; the expired one
# ended yesterday either way).
server_certs() {
	local cache="$abs_top_builddir/tests/certs"
	(
		flock 9 || exit 1
		if [ -z "$(find "$cache/done" -mmin -1440 2>/dev/null)" ]; then
			rm -rf "$cache" && mkdir -p "$cache" &&
				sh "$TESTS_SRC/make-certs.sh" "$cache" && : >"$cache/done" || exit 1
		fi
	) 9>"$abs_top_builddir/tests/certs.lock" || return 1
	cp "$cache"/*.pem "$cache"/*.key "$1"/
}

# Starts tests/token_server.py with the suite's certificates; sets PORT_*
# and exports the endpoint and CA file.
start_server() {
	SRV="$TMPROOT/srv"
	mkdir -p "$SRV"
	server_certs "$SRV" || return 1
	python3 "$TESTS_SRC/token_server.py" "$SRV" </dev/null &
	SERVER_PID=$!
	wait_file "$SRV/ports.json" || return 1
	eval "$(python3 -c 'import json,sys; [print("PORT_%s=%d" % (k.upper(), v)) for k, v in json.load(open(sys.argv[1])).items()]' "$SRV/ports.json")"
	CA="$SRV/ca.pem"
	SERVER_LOG="$SRV/requests.log"
}
use_server() {
	export DASHSCOPE_CREDENTIAL_ENDPOINT="https://127.0.0.1:${1:-$PORT_MAIN}"
	export DASHSCOPE_CREDENTIAL_CA_FILE="$CA"
}

# readme_block NAME: the fenced block that follows "<!-- recipe: NAME" in
# README.md, as written.
readme_block() {
	awk -v name="$1" '
		index($0, "<!-- recipe: " name " ") == 1 || $0 == "<!-- recipe: " name " -->" { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$abs_top_srcdir/README.md"
}

# ---- what every test of this machine shares ----
# machine_lock NAME: holds a lock of this machine named NAME until the script
# exits (waiting for it): scripts that use one thing of the machine, such
# as the standalone proxy's fixed port, run one at a time even under
# make -j or beside another tree's suite.
machine_lock() {
	local dir=/run/lock fd
	[ -d "$dir" ] && [ -w "$dir" ] || dir=/tmp
	exec {fd}>>"$dir/ds-test-$1.lock" || return 1
	# (a cap: a process some run left behind may hold it open)
	flock -w 900 -x "$fd"
}

# ---- the package's service user ----
# test_broker.sh and test_install.sh use the system user the package
# runs its broker as, and may run at once (make -j, or suites of other
# trees on the same machine). Each holds a shared lock on it while it
# runs, takes the lock alone to make the user (or to let make install make
# it), and removes a user it made only when no other script holds the
# lock; else the user stays, as a package's system user stays after a
# purge.
SVC=dashscope-credential
SVC_FD=""
# svc_lock MODE: takes the lock, shared (-s) or alone (-x), waiting for it
svc_lock() {
	local dir=/run/lock
	[ -d "$dir" ] && [ -w "$dir" ] || dir=/tmp
	[ -n "$SVC_FD" ] || exec {SVC_FD}>>"$dir/ds-test-service-user.lock" || return 1
	flock -w 900 "$1" "$SVC_FD"
}
# svc_remove_if_made MADE: at exit, removes the user if MADE is not empty
# and no other script holds the lock
svc_remove_if_made() {
	[ -n "$SVC_FD" ] || return 0
	[ -n "$1" ] && flock -n -x "$SVC_FD" && userdel "$SVC" 2>/dev/null
	exec {SVC_FD}>&-
	SVC_FD=""
}

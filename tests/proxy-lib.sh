# SPDX-License-Identifier: MIT
# What the proxy tests share (sourced after tests/lib.sh): starting and
# stopping the standalone proxy.

# A proxy script's start: a fresh user, the loopback token server, and a
# long-lived key LONG_KEY (sk-test-ok-NAME...) stored as profile work.
proxy_suite_start() {
	command -v curl >/dev/null || skip_all "curl is not installed"
	fresh_user
	start_server || bail_out "could not start the test server"
	use_server
	LONG_KEY="sk-test-ok-$1$RANDOM$RANDOM"
	add_key work "$LONG_KEY" --region singapore || bail_out "add failed"
}

# start_proxy ARGS: the standalone proxy on a port the kernel picks; sets
# PROXY_PID, PLOG (its stderr) and, from --print-env, OPENAI_BASE_URL,
# OPENAI_API_KEY (the proxy key) and PORT.
start_proxy() {
	PENV="$TMPROOT/penv.$RANDOM" PLOG="$TMPROOT/plog.$RANDOM"
	"$DS" proxy --listen 127.0.0.1:0 --print-env "$@" >"$PENV" 2>"$PLOG" </dev/null &
	PROXY_PID=$!
	wait_for penv_written "$*" || { diag "proxy did not start: $(head -c 300 "$PLOG")"; return 1; }
	case "$*" in *--shell*) return 0 ;; esac
	eval "$(grep -E '^(OPENAI_BASE_URL|OPENAI_API_KEY)=' "$PENV")"
	PORT=${OPENAI_BASE_URL#http://127.0.0.1:}
	PORT=${PORT%%/*}
	BASE="http://127.0.0.1:$PORT"
}
# penv_written ARGS: the proxy printed its whole environment (with
# --shell json, a document that parses) or exited
penv_written() {
	case "$1" in
	*--shell\ json*) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$PENV" 2>/dev/null ;;
	*) grep -q 'OPENAI_API_KEY' "$PENV" 2>/dev/null ;;
	esac || pid_gone "$PROXY_PID"
}
stop_proxy() {
	kill -TERM "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
}
# post PATH [CURL ARGS]: POST {} through the proxy with the proxy key;
# prints the status code, the body goes to $TMPROOT/body.
post() {
	local path=$1
	shift
	curl -sS -o "$TMPROOT/body" -w '%{http_code}' -H "Authorization: Bearer $OPENAI_API_KEY" \
		-H 'Content-Type: application/json' -d '{"model":"qwen-plus"}' "$@" "$BASE$path"
}
chat_count() { grep -c "\"path\": \"$CHAT\"" "$SERVER_LOG" 2>/dev/null || true; }
# program NAME ARGS: the small program tests/servers/NAME.py (a server or
# a raw client) with ARGS, in the foreground (put in the background, a
# function is a subshell, and $! would not be the program: start those
# with python3 "$TESTS_SRC/servers/NAME.py" itself)
program() { python3 "$TESTS_SRC/servers/$1.py" "${@:2}"; }
# raw_client NAME ARGS: the raw client tests/servers/NAME.py against the
# proxy started last: its port and key, then ARGS
raw_client() { program "$1" "$PORT" "$OPENAI_API_KEY" "${@:2}"; }
# server_log QUESTION ARGS: asks the test server's log
# (tests/servers/server_log.py)
server_log() { program server_log "$SERVER_LOG" "$@"; }

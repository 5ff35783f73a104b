#!/bin/bash
# SPDX-License-Identifier: MIT
# The proxy as an event loop (issue 28): a connection waiting on its
# client or on upstream costs no thread, one waiting request holds back
# no other, a client that hangs up cancels its upstream transfer, and a
# mint (on the key worker) stalls nothing the loop serves meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

proxy_suite_start loop
snapshot_home
CHAT=/compatible-mode/v1/chat/completions

proxy_threads() { awk '/^Threads:/ {print $2}' "/proc/$PROXY_PID/status"; }
wait_logged() { wait_for grep -q -- "$1" "$SERVER_LOG"; }
logged() {
	local n
	n=$(grep -c -- "$1" "$SERVER_LOG" 2>/dev/null)
	echo "${n:-0}"
}
# logged_at_least N PATTERN: the server logged N lines matching PATTERN
logged_at_least() { [ "$(logged "$2")" -ge "$1" ]; }
# events_at_least N FILE: FILE holds N SSE events
events_at_least() { [ "$(grep -c '^data:' "$2")" -ge "$1" ]; }

# hold_connections N MODE: N keep-alive connections, each of which has had
# one answer (MODE idle) or has a request waiting on an upstream head that
# comes after an hour (MODE waiting); prints "ready" once they are all
# open, then holds them until its stdin closes.
hold_connections() {
	cat >"$TMPROOT/hold.py" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import raw_http
port, key, chat, n, mode = int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
held = []
for i in range(n):
    c = raw_http.Conn(port, timeout=120)
    if mode == "idle":
        c.send(raw_http.request(port, key, "POST", chat, b"{}"))
        r = c.response()
        assert r is not None and r[0] == 200, r
    else:
        c.send(raw_http.request(port, key, "POST", chat + "?mode=slowhead&id=held%d&ms=3600000" % i, b"{}"))
    held.append(c)
print("ready", flush=True)
sys.stdin.read()
for c in held:
    c.close()
PY
	python3 "$TMPROOT/hold.py" "$TESTS_SRC" "$PORT" "$OPENAI_API_KEY" "$CHAT" "$1" "$2"
}

# threads_with_held N MODE: the proxy's thread count while N connections
# of MODE are held (printed as "BEFORE AFTER")
threads_with_held() {
	local before after fifo="$TMPROOT/hold.$RANDOM" holder
	post $CHAT >/dev/null
	before=$(proxy_threads)
	mkfifo "$fifo"
	hold_connections "$1" "$2" <"$fifo" >"$fifo.out" &
	holder=$!
	exec 9>"$fifo"
	if ! wait_for grep -q ready "$fifo.out"; then
		exec 9>&-
		wait "$holder"
		echo "$before none"
		return 1
	fi
	[ "$2" = idle ] || wait_for logged_at_least "$1" '"waiting": "held' >&2 ||
		diag "$(logged '"waiting": "held') of them reached upstream" >&2
	after=$(proxy_threads)
	exec 9>&-
	wait "$holder"
	echo "$before $after"
}

# no_thread_added N MODE: N connections of MODE (hold_connections) leave
# the proxy's thread count where it was
no_thread_added() {
	start_proxy --quiet || return 1
	local t before after
	t=$(threads_with_held "$1" "$2")
	stop_proxy
	diag "threads before and with $1 $2 connections: $t"
	read -r before after <<<"$t"
	[ "$after" != none ] && [ "$after" -le "$before" ] || { diag "the connections cost threads"; return 1; }
}
test_loop_idle_keep_alive_connections_add_no_thread() { no_thread_added 100 idle; }
test_loop_requests_waiting_on_upstream_add_no_thread() { no_thread_added 40 waiting; }

test_loop_a_slow_upstream_holds_back_no_other_request() {
	start_proxy --quiet || return 1
	local client code
	curl -sS -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" -d '{}' \
		"$BASE$CHAT?mode=slowhead&id=slow1&ms=3600000" 2>/dev/null &
	client=$!
	wait_logged '"waiting": "slow1"' || { kill "$client"; stop_proxy; diag "never reached upstream"; return 1; }
	# answered while the other waits for an hour: a loop it blocked would
	# answer nothing before curl's cap
	code=$(post "$CHAT?mode=sum&id=fast1" --max-time 60)
	local aborted
	aborted=$(logged '"aborted": "slow1"')
	kill "$client"
	wait "$client" 2>/dev/null
	stop_proxy
	[ "$code" = 200 ] || { diag "the other request got $code"; return 1; }
	[ "$aborted" = 0 ] || { diag "the slow request was cut"; return 1; }
}

# The client leaves while its stream waits on upstream (suspended) and,
# in a second stream, while the proxy's buffer for it is full (the
# transfer paused): both upstream transfers end.
test_loop_a_client_that_hangs_up_mid_stream_cancels_the_upstream_transfer() {
	start_proxy --quiet || return 1
	local c1 c2 code fifo="$TMPROOT/unread.$RANDOM"
	curl -sS -N -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" -d '{}' \
		"$BASE$CHAT?mode=slowsse&id=hang1&n=100000&ms=200" 2>/dev/null &
	c1=$!
	# the second client writes into a pipe nobody reads: it stops
	# reading once the pipe is full
	mkfifo "$fifo"
	exec 8<>"$fifo"
	curl -sS -N -H "Authorization: Bearer $OPENAI_API_KEY" -d '{}' \
		"$BASE$CHAT?mode=endless&id=hang2" >"$fifo" 2>/dev/null &
	c2=$!
	wait_logged '"sse": "hang1", "n": 2' && wait_logged '"endless": "hang2"' ||
		{ kill "$c1" "$c2"; stop_proxy; diag "the streams never started"; return 1; }
	kill -KILL "$c1" "$c2"
	wait "$c1" "$c2" 2>/dev/null
	exec 8<&-
	wait_logged '"aborted": "hang1"' && wait_logged '"aborted": "hang2"'
	local rc=$?
	code=$(post "$CHAT?mode=sum&id=afterhang")
	stop_proxy
	[ "$rc" = 0 ] || { diag "upstream went on: $(grep -c hang "$SERVER_LOG") lines"; return 1; }
	[ "$code" = 200 ] || { diag "the next request got $code"; return 1; }
}

# A mint that takes its time runs on the key worker: meanwhile a stream
# that has its key keeps flowing and requests that need none are answered.
test_loop_a_mint_in_progress_stalls_no_other_client() {
	add_key slow "sk-test-slowmint-4000-loop$RANDOM" --region singapore || return 1
	# 10-second keys: the first is minted at start, the next 5 s later
	mkdir -p "$HOME/.config/dashscope-credential"
	printf '[defaults]\nlifetime = 10\n' >"$HOME/.config/dashscope-credential/config"
	start_proxy -p slow --quiet || return 1
	local stream waiter code404 n0 n1 codew
	curl -sS -N -o "$TMPROOT/stream" -H "Authorization: Bearer $OPENAI_API_KEY" -d '{}' \
		"$BASE$CHAT?mode=slowsse&id=mintstream&n=100000&ms=100" 2>/dev/null &
	stream=$!
	wait_logged '"sse": "mintstream", "n": 1' || { kill "$stream"; stop_proxy; return 1; }
	# a request once the key is due: it waits for the second mint
	wait_for logged_at_least 55 '"sse": "mintstream"'
	curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OPENAI_API_KEY" -d '{}' \
		"$BASE$CHAT?mode=sum&id=mintwait" >"$TMPROOT/waiter" 2>/dev/null &
	waiter=$!
	wait_for logged_at_least 2 '"minting": ' || { kill "$stream" "$waiter"; stop_proxy; diag "no second mint"; return 1; }
	n0=$(grep -c '^data:' "$TMPROOT/stream")
	# while the mint runs: a request the proxy answers itself ...
	code404=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 \
		-H "Authorization: Bearer $OPENAI_API_KEY" "$BASE/not/forwarded")
	# ... and the stream's next events reach its client
	wait_for events_at_least $((n0 + 5)) "$TMPROOT/stream"
	n1=$(grep -c '^data:' "$TMPROOT/stream")
	local during
	during=$(logged '"minted": "st-slowmint-2-')
	wait "$waiter"
	kill "$stream"
	wait "$stream" 2>/dev/null
	stop_proxy
	[ "$code404" = 404 ] || { diag "the request during the mint got $code404"; return 1; }
	[ "$during" = 0 ] || { diag "the mint had ended before the stream moved on"; return 1; }
	[ "$n1" -ge $((n0 + 5)) ] || { diag "the stream stalled during the mint: $n0 then $n1 events"; return 1; }
	codew=$(cat "$TMPROOT/waiter")
	[ "$codew" = 200 ] || { diag "the request that waited for the mint got $codew"; return 1; }
}

for t_name in ${ONLY:-$(declare -F | awk '{print $3}' | grep -E '^test_')}; do
	t "$t_name"
done
finish

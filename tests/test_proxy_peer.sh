#!/bin/bash
# SPDX-License-Identifier: MIT
# The proxy and the other users of the machine (SPEC section 10, issue 21):
# the kernel's word on the peer's uid before anything is spent on a
# connection, the port held by someone else, store and policy read again
# while the proxy runs, and the limits on what it holds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

# the standalone proxy's fixed port (127.0.0.1:8418) is used here: one
# such script at a time
machine_lock port-8418 || bail_out "could not lock the port 8418"
proxy_suite_start peer
snapshot_home
CHAT=/compatible-mode/v1/chat/completions
PEER_CLIENT="$TESTS_SRC/peer_client.py"

log_lines() { grep -c ' in=' "$PLOG" 2>/dev/null || true; }
# until_status CODE PATH: posts until the answer is CODE (a generous cap)
until_status() {
	wait_for -t 120 status_is "$1" "$2" || { diag "still not $1: $(head -c 300 "$TMPROOT/body")"; return 1; }
}
status_is() { [ "$(post "$2")" = "$1" ]; }

# ---- another user ----
# Made once, by the script (each case runs in a subshell), when root.

OTHER="" OTHER_DIR="" OTHER_UID=""
peer_cleanup() {
	[ -z "$OTHER" ] || userdel "$OTHER" 2>/dev/null
	[ -z "$OTHER_DIR" ] || rm -rf "$OTHER_DIR"
	cleanup
}
trap peer_cleanup EXIT
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null && command -v setpriv >/dev/null &&
	useradd -M -N -d /nonexistent -s /usr/sbin/nologin "dspeer$$" 2>/dev/null; then
	OTHER="dspeer$$"
	OTHER_UID=$(id -u "$OTHER")
	OTHER_DIR=$(mktemp -d /tmp/ds-peer.XXXXXX)
	chmod 1777 "$OTHER_DIR"
fi

# other_user: 77 (skipped) when there is no second user to test with
other_user() {
	[ -n "$OTHER" ] || { echo "# not root, or no useradd/setpriv: no second user"; return 77; }
}
# as_other ARGS: runs peer_client.py ARGS as the other user, in place of
# the subshell it is called in ($(...) or &), so that $! is the client
# itself and killing it leaves nothing behind
as_other() {
	exec setpriv --reuid="$OTHER_UID" --regid="$(id -g "$OTHER")" --clear-groups \
		/usr/bin/python3 "$PEER_CLIENT" "$@"
}

# ---- who may connect ----

test_proxy_closes_a_connection_of_another_uid_with_no_log_line_and_no_upstream_request() {
	other_user || return
	start_proxy || return 1
	local before said
	before=$(chat_count)
	# the other user even holds the right proxy key
	said=$(as_other request "$PORT" "$OPENAI_API_KEY")
	[ "$said" = closed ] || { stop_proxy; diag "the other uid got: $said"; return 1; }
	[ "$(log_lines)" = 0 ] || { stop_proxy; diag "log: $(cat "$PLOG")"; return 1; }
	[ "$(chat_count)" = "$before" ] || { stop_proxy; diag "it went upstream"; return 1; }
	local code
	code=$(post $CHAT)
	stop_proxy
	[ "$code" = 200 ] || { diag "the owner got $code"; return 1; }
	[ "$(log_lines)" = 1 ] || { diag "log: $(cat "$PLOG")"; return 1; }
}

test_proxy_answers_its_owner_beside_1100_idle_connections_of_another_uid() {
	other_user || return
	start_proxy --quiet || return 1
	as_other idle "$PORT" 1100 >"$OTHER_DIR/idle" 2>&1 &
	local idler=$!
	wait_for -t 300 eval 'grep -q ready "$OTHER_DIR/idle"' || { stop_proxy; diag "the idler did not start"; return 1; }
	local code
	code=$(post $CHAT)
	# and every one of them was closed by the proxy
	wait_for -t 300 eval 'tail -n 1 "$OTHER_DIR/idle" | grep -qx "closed 1100"'
	local closed=$?
	kill "$idler" 2>/dev/null
	wait "$idler" 2>/dev/null
	stop_proxy
	[ "$code" = 200 ] || { diag "the owner got $code"; return 1; }
	[ "$closed" = 0 ] || { diag "idler: $(tail -n 1 "$OTHER_DIR/idle")"; return 1; }
}

# ---- the port held by another user ----

test_proxy_standalone_exits_1_naming_the_uid_that_holds_its_port() {
	other_user || return
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 8418))' 2>/dev/null ||
		{ echo "# port 8418 is in use here"; return 77; }
	as_other squat 8418 "$OTHER_DIR/keys" >"$OTHER_DIR/squat" 2>&1 &
	local squatter=$!
	wait_for -t 300 eval 'grep -q listening "$OTHER_DIR/squat"' || { diag "no squatter"; return 1; }
	run proxy
	local prc=$RC perr
	perr=$(cat "$ERR")
	run status
	local sout
	sout=$(cat "$OUT")
	run doctor
	kill "$squatter"
	wait "$squatter" 2>/dev/null
	[ "$prc" = 1 ] || { diag "proxy exit $prc: $perr"; return 1; }
	grep -q "uid $OTHER_UID ($OTHER)" <<<"$perr" || { diag "proxy said: $perr"; return 1; }
	grep -q "held by uid $OTHER_UID ($OTHER)" <<<"$sout" || { diag "status: $sout"; return 1; }
	grep -q "FAIL.*8418 is held by uid $OTHER_UID ($OTHER)" "$OUT" || { diag "doctor: $(cat "$OUT")"; return 1; }
}

test_proxy_key_a_squatter_collected_is_useless_against_the_owners_proxy() {
	other_user || return
	local sport
	sport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	as_other squat "$sport" "$OTHER_DIR/keys" >"$OTHER_DIR/squat" 2>&1 &
	local squatter=$!
	wait_for -t 300 eval 'grep -q listening "$OTHER_DIR/squat"' || { diag "no squatter"; return 1; }
	start_proxy || return 1
	# a tool configured for the squatted port hands it the proxy key
	curl -sS -o /dev/null -H "Authorization: Bearer $OPENAI_API_KEY" -d '{}' \
		"http://127.0.0.1:$sport$CHAT" || true
	kill "$squatter"
	wait "$squatter" 2>/dev/null
	local collected before said
	collected=$(head -n 1 "$OTHER_DIR/keys" 2>/dev/null)
	[ "$collected" = "$OPENAI_API_KEY" ] || { stop_proxy; diag "the squatter got no key"; return 1; }
	before=$(chat_count)
	said=$(as_other request "$PORT" "$collected")
	stop_proxy
	[ "$said" = closed ] || { diag "the squatter got: $said"; return 1; }
	[ "$(chat_count)" = "$before" ] || { diag "it went upstream"; return 1; }
	[ "$(log_lines)" = 0 ] || { diag "log: $(cat "$PLOG")"; return 1; }
}

# ---- store and policy, read again ----
# A 2-second lifetime makes the renewal margin one second.

short_lifetime() {
	mkdir -p "$HOME/.config/dashscope-credential"
	printf '[defaults]\nlifetime = 2\n' >"$HOME/.config/dashscope-credential/config"
}

test_proxy_stops_injecting_a_coding_plan_key_once_it_is_removed() {
	add_key coding "sk-sp-test-coding$RANDOM$RANDOM" --region singapore || return 1
	short_lifetime
	start_proxy -p coding --quiet || return 1
	local first
	first=$(post /v1/chat/completions)
	"$DS" remove coding >/dev/null 2>&1 || { stop_proxy; diag "remove failed"; return 1; }
	until_status 502 /v1/chat/completions
	local rc=$?
	stop_proxy
	# the test server has no Coding Plan chat: 404 is its answer
	[ "$first" = 404 ] || { diag "before: $first"; return 1; }
	[ "$rc" = 0 ] && grep -q 'coding' "$TMPROOT/body"
}

test_proxy_stops_injecting_a_coding_plan_key_under_a_new_require_temporary() {
	add_key coding "sk-sp-test-coding$RANDOM$RANDOM" --region singapore || return 1
	short_lifetime
	start_proxy -p coding --quiet || return 1
	local first
	first=$(post /v1/chat/completions)
	printf '[policy]\nrequire_temporary = yes\n' >"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	until_status 502 /v1/chat/completions
	local rc=$?
	stop_proxy
	[ "$first" = 404 ] || { diag "before: $first"; return 1; }
	[ "$rc" = 0 ] && grep -q 'require_temporary' "$TMPROOT/body"
}

test_proxy_stops_minting_once_the_policy_drops_the_region() {
	short_lifetime
	start_proxy -p work --quiet || return 1
	local first
	first=$(post $CHAT)
	printf '[policy]\nallowed_regions = beijing\n' >"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	until_status 502 $CHAT
	local rc=$?
	stop_proxy
	[ "$first" = 200 ] || { diag "before: $first"; return 1; }
	[ "$rc" = 0 ] && grep -qi 'region' "$TMPROOT/body"
}

test_proxy_stops_minting_once_the_profile_is_erased() {
	short_lifetime
	start_proxy -p work --quiet || return 1
	local first
	first=$(post $CHAT)
	printf 'profile=work\npassword=%s\n\n' "$LONG_KEY" | "$DS" erase >/dev/null 2>&1
	"$DS" list 2>/dev/null | grep -q work && { stop_proxy; diag "erase left the profile"; return 1; }
	until_status 502 $CHAT
	local rc=$?
	stop_proxy
	[ "$first" = 200 ] || { diag "before: $first"; return 1; }
	[ "$rc" = 0 ]
}

# ---- limits ----

test_proxy_keeps_8_concurrent_30_mib_bodies_under_the_total_body_cap() {
	# ASan's shadow memory and quarantine, or valgrind, inflate RSS beyond
	# what the proxy holds: the bound means something in a plain build only
	[ -z "${DS_SANITIZERS:-}${DS_TEST_WRAPPER:-}" ] || { diag "RSS is not the proxy's own under sanitizers or valgrind"; return 77; }
	start_proxy --quiet || return 1
	head -c $((30 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$TMPROOT/big"
	local i pids="" codes peak
	for i in 1 2 3 4 5 6 7 8; do
		curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $OPENAI_API_KEY" \
			--data-binary @"$TMPROOT/big" "$BASE$CHAT?mode=sum&id=big$i" >"$TMPROOT/code.$i" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$PROXY_PID/status")
	stop_proxy
	codes=$(cat "$TMPROOT"/code.* | sort | uniq -c | tr -s ' ' | tr '\n' ';')
	# the default cap is 128 MiB; the proxy's own memory is the 32 MiB
	[ "$peak" -lt $(((128 + 32) * 1024)) ] || { diag "peak RSS $peak KiB; answers $codes"; return 1; }
	! grep -qvE '^(200|503)$' "$TMPROOT"/code.* || { diag "answers: $codes"; return 1; }
	grep -q '^200$' "$TMPROOT"/code.* || { diag "none answered: $codes"; return 1; }
}

test_proxy_503_over_the_total_body_cap_says_when_to_retry() {
	mkdir -p "$HOME/.config/dashscope-credential"
	printf '[defaults]\nproxy_max_total_body = 100000\n' >"$HOME/.config/dashscope-credential/config"
	start_proxy --quiet || return 1
	head -c 200000 /dev/zero | tr '\0' 'a' >"$TMPROOT/mid"
	local code small
	code=$(curl -sS -D "$TMPROOT/h" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OPENAI_API_KEY" \
		--data-binary @"$TMPROOT/mid" "$BASE$CHAT")
	small=$(post $CHAT)
	stop_proxy
	[ "$code $small" = "503 200" ] || { diag "got $code, then $small"; return 1; }
	grep -qi '^retry-after: ' "$TMPROOT/h" || { diag "head: $(cat "$TMPROOT/h")"; return 1; }
}

test_proxy_503_beyond_proxy_max_connections() {
	mkdir -p "$HOME/.config/dashscope-credential"
	printf '[defaults]\nproxy_max_connections = 2\n' >"$HOME/.config/dashscope-credential/config"
	start_proxy --quiet || return 1
	# two connections of our own held open, the third is refused
	exec 7<>"/dev/tcp/127.0.0.1/$PORT" 8<>"/dev/tcp/127.0.0.1/$PORT"
	local code
	code=$(post $CHAT)
	exec 7>&- 8>&-
	until_status 200 $CHAT
	local after=$?
	stop_proxy
	[ "$code $after" = "503 0" ] || { diag "got $code, then no 200 once they closed"; return 1; }
}

test_proxy_replays_after_a_401_whose_body_never_ends() {
	start_proxy --quiet || return 1
	local code
	code=$(post "$CHAT?mode=401endless&id=e401")
	stop_proxy
	[ "$code" = 200 ] || { diag "got $code: $(head -c 200 "$TMPROOT/body")"; return 1; }
	grep -q '"endless401": "e401"' "$SERVER_LOG" || { diag "no endless 401"; return 1; }
}

for t_name in ${ONLY:-$(declare -F | awk '{print $3}' | grep -E '^test_')}; do
	t "$t_name"
done
finish

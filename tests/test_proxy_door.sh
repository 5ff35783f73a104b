#!/bin/bash
# SPDX-License-Identifier: MIT
# What the proxy lets through its door (SPEC section 10): strict HTTP/1.1
# requests and upstream answers, the canonical-path rule, a clean log.
# The upstream is tests/servers/split_at_cr.py, a hostile server whose
# parser splits lines at a bare CR and keeps connections alive: whatever
# the proxy lets through, it would act on, and it logs every request it
# parsed, so "nothing upstream" is counted there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed"
fresh_user
UP="$TMPROOT/up"
mkdir -p "$UP"
python3 "$TESTS_SRC/servers/split_at_cr.py" "$UP" </dev/null &
SERVER_PID=$!
wait_file "$UP/port" || bail_out "could not start the hostile upstream"
export DASHSCOPE_CREDENTIAL_ENDPOINT="http://127.0.0.1:$(cat "$UP/port")"
UPLOG="$UP/requests.log"
LONG_KEY="sk-test-door$RANDOM$RANDOM"
add_key work "$LONG_KEY" --region singapore || bail_out "add failed"
CHAT=/compatible-mode/v1/chat/completions
# one proxy for every case: each refusal must leave it serving the next
start_proxy || bail_out "could not start the proxy"

# Requests the upstream parsed other than the proxy's mints (a mint
# carries the long-lived key), and bytes it could not parse.
upstream_count() {
	[ -f "$UPLOG" ] || { echo 0; return; }
	grep -cvF "\"key\": \"$LONG_KEY\"" "$UPLOG"
}

# request METHOD TARGET [HEADER-LINES [BODY]]: a request's bytes with Host
# and the proxy key; HEADER-LINES is a printf format (each line ends \r\n).
request() {
	local body=${4-}
	printf "%s %s HTTP/1.1\r\nHost: 127.0.0.1:$PORT\r\nAuthorization: Bearer $OPENAI_API_KEY\r\n${3-}" "$1" "$2"
	[ -z "$body" ] || printf 'Content-Length: %d\r\n' "${#body}"
	printf '\r\n%s' "$body"
}
# send: stdin to the proxy as it is; prints "STATUS close|open" or "none"
send() { python3 "$TESTS_SRC/raw_http.py" "$PORT"; }

# expect_refused WANT: stdin (a request) gets WANT ("400 close": the
# status and the connection closed; "404": the status) and the upstream
# parses nothing.
expect_refused() {
	local before got
	before=$(upstream_count)
	got=$(send)
	case $1 in *" "*) ;; *) got=${got%% *} ;; esac
	[ "$got" = "$1" ] || { diag "got '$got', expected '$1'"; return 1; }
	[ "$(upstream_count)" = "$before" ] || { diag "the upstream parsed a request: $(tail -2 "$UPLOG")"; return 1; }
}

# ---- a strict request goes through ----

test_proxy_forwards_a_strict_request() {
	local before got
	before=$(upstream_count)
	got=$(request POST "$CHAT" 'X-Tag: plain\r\nX-Obs: caf\351\r\n' '{}' | send)
	[ "$got" = "200 open" ] || { diag "got '$got'"; return 1; }
	[ "$(upstream_count)" = $((before + 1)) ] || { diag "the upstream did not get it once"; return 1; }
}

# ---- malformed requests: 400, the connection closed, nothing upstream ----

test_proxy_refuses_a_bare_cr_in_a_header_value() {
	request POST "$CHAT" 'X-Tag: a\rX-Other: b\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_bare_lf_as_a_line_end() {
	request POST "$CHAT" 'X-Tag: a\nX-Other: b\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_bare_lf_after_the_request_line() {
	printf "POST $CHAT HTTP/1.1\nHost: 127.0.0.1:$PORT\r\nAuthorization: Bearer $OPENAI_API_KEY\r\nContent-Length: 2\r\n\r\n{}" |
		expect_refused "400 close"
}
test_proxy_refuses_a_nul_in_a_header_value() {
	request POST "$CHAT" 'X-Tag: a\0b\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_control_byte_in_a_header_value() {
	request POST "$CHAT" 'X-Tag: a\001b\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_del_in_a_header_value() {
	request POST "$CHAT" 'X-Tag: a\177b\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_space_before_the_colon() {
	request POST "$CHAT" 'X-Tag : a\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_an_obs_fold_line() {
	request POST "$CHAT" 'X-Tag: a\r\n folded\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_method_that_is_not_a_token() {
	request 'PO(ST' "$CHAT" '' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_control_byte_in_the_method() {
	request $'PO\001ST' "$CHAT" '' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_header_name_that_is_not_a_token() {
	request POST "$CHAT" 'X(Tag): a\r\n' '{}' | expect_refused "400 close"
}
test_proxy_refuses_a_duplicate_host() {
	request POST "$CHAT" "Host: 127.0.0.1:$PORT\r\n" '{}' | expect_refused "400 close"
}
test_proxy_refuses_content_length_with_transfer_encoding() {
	request POST "$CHAT" 'Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n' |
		expect_refused "400 close"
}
test_proxy_refuses_a_transfer_coding_list() {
	request POST "$CHAT" 'Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n' |
		expect_refused "400 close"
}
test_proxy_refuses_two_content_lengths() {
	request POST "$CHAT" 'Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}' | expect_refused "400 close"
}
test_proxy_refuses_two_spaces_in_the_request_line() {
	request POST " $CHAT" '' '{}' | expect_refused "400 close"
}

# ---- the token endpoint and '..', by any spelling: refused, nothing upstream ----

test_proxy_refuses_the_token_endpoint_with_a_fragment() {
	request POST '/api/v1/tokens#x' | expect_refused "400 close"
}
test_proxy_refuses_the_token_endpoint_after_a_double_slash() {
	request POST '/api/v1//tokens' | expect_refused "400 close"
}
test_proxy_refuses_the_token_endpoint_with_a_semicolon() {
	request POST '/api/v1/tokens;' | expect_refused "400 close"
}
test_proxy_refuses_the_token_endpoint_in_another_letter_case() {
	request POST '/api/v1/Tokens' | expect_refused "404" &&
		request POST '/api/v1/TOKENS?expire_in_seconds=60' | expect_refused "404"
}
test_proxy_refuses_the_token_endpoint_with_percent_encoded_letters() {
	request POST '/api/v1/%74okens' | expect_refused "400 close" &&
		request POST '/api/v1/%2574okens' | expect_refused "400 close"
}
test_proxy_refuses_the_token_endpoint_with_a_trailing_dot() {
	request POST '/api/v1/tokens.' | expect_refused "400 close"
}
test_proxy_refuses_the_token_endpoint_with_an_encoded_separator() {
	request POST '/api/v1/tokens%3f' | expect_refused "400 close" &&
		request POST '/api/v1/tokens%23' | expect_refused "400 close" &&
		request POST '/api/v1/tokens%20' | expect_refused "400 close"
}
test_proxy_refuses_the_token_endpoint_glued_to_a_delimiter() {
	request POST '/api/v1/tokens:mint' | expect_refused "404"
}
test_proxy_refuses_the_token_endpoint_with_a_backslash() {
	request POST '/api/v1\tokens' | expect_refused "400 close"
}
test_proxy_refuses_dot_dot_with_a_path_parameter() {
	request POST "/compatible-mode/v1/..;/api/v1/tokens" | expect_refused "400 close"
}
test_proxy_refuses_dot_dot_double_encoded() {
	request POST "/compatible-mode/v1/%252e%252e/api/v1/tokens" | expect_refused "400 close"
}
test_proxy_refuses_dot_dot_in_unicode_escapes() {
	request POST "/compatible-mode/v1/%u002e%u002e/api/v1/tokens" | expect_refused "400 close"
}

# ---- upstream answers: strict too ----

test_proxy_answers_502_to_an_upstream_answer_with_both_framings() {
	local got
	got=$(request POST "$CHAT?mode=tecl" '' '{}' | send)
	[ "$got" = "502 open" ] || { diag "got '$got'"; return 1; }
	got=$(request POST "$CHAT" 'X-Tag: after\r\n' '{}' | send)
	[ "$got" = "200 open" ] || { diag "the next request got '$got'"; return 1; }
}
test_proxy_answers_502_to_two_upstream_content_lengths() {
	local got
	got=$(request POST "$CHAT?mode=twocl" '' '{}' | send)
	[ "$got" = "502 open" ] || { diag "got '$got'"; return 1; }
}
test_proxy_answers_502_to_a_bare_cr_in_an_upstream_header() {
	local got
	got=$(request POST "$CHAT?mode=crhead" '' '{}' | send)
	[ "$got" = "502 open" ] || { diag "got '$got'"; return 1; }
}

# ---- smuggling over a pooled upstream connection ----

# The first client hides a second request behind bare CRs in a header
# value: an upstream that splits at CR would answer it on the pooled
# connection, with the proxy's temporary key, and the next client could
# read its answer. The proxy refuses it; the next client gets its own.
test_proxy_keeps_a_smuggled_request_off_the_pooled_connection() {
	local before got tag
	before=$(upstream_count)
	got=$(request POST "$CHAT" 'X-Tag: a\r\rPOST /api/v1/tokens?expire_in_seconds=60 HTTP/1.1\rX-Tag: smuggled\rX-Pad: \r\n' '{}' | send)
	[ "$got" = "400 close" ] || { diag "the smuggling request got '$got'"; return 1; }
	curl -sS -o "$TMPROOT/next" -H "Authorization: Bearer $OPENAI_API_KEY" -H 'X-Tag: next' \
		-d '{}' "$BASE$CHAT" || return 1
	tag=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["tag"], d["path"])' "$TMPROOT/next")
	[ "$tag" = "next $CHAT" ] || { diag "the next client read '$tag'"; return 1; }
	[ "$(upstream_count)" = $((before + 1)) ] ||
		{ diag "the upstream parsed more than the next client's request: $(tail -3 "$UPLOG")"; return 1; }
	! grep -q '"tag": "smuggled"' "$UPLOG" || { diag "the smuggled request reached upstream"; return 1; }
}

# ---- the log ----

test_proxy_log_holds_no_control_byte() {
	request $'PO\033[2J\007ST' "$CHAT" '' '{}' | send >/dev/null
	request POST $'/compatible-mode/v1/\033[31mred' '' '{}' | send >/dev/null
	request POST '/compatible-mode/v1/%1b%5b31m' '' '{}' | send >/dev/null
	# the log line of the last request is written when it completes:
	# wait for it (a line naming the last path), not for a time
	wait_grep '%1b%5b31m' "$PLOG" || { diag "no log line: $(cat -v "$PLOG")"; return 1; }
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$PLOG"; then
		diag "a control byte reached the log: $(cat -v "$PLOG" | tail -3)"
		return 1
	fi
	grep -q 'PO\\x1b\[2J\\x07ST' "$PLOG" ||
		{ diag "the method is not shown escaped: $(tail -3 "$PLOG")"; return 1; }
}

for f in $(declare -F | awk '$3 ~ /^test_/ { print $3 }'); do
	t "$f"
done
stop_proxy
finish

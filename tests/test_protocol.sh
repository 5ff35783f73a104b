#!/bin/bash
# SPDX-License-Identifier: MIT
# The credential protocol (SPEC section 4) against every hostile input 1-22
# of reference/protocol-and-threats.md, with the real binary and a file
# store: request parsing, host matching, erase by place.
# A rejected request: exit 2, one line on stderr, nothing on stdout, and the
# key file byte for byte unchanged.
. "$(dirname "$0")/lib.sh"

fresh_user
start_server || bail_out "could not start the test server"
use_server
WORK_KEY=sk-test-ok-protocolwork1
CP_KEY=sk-sp-codingplan0001
add_key work "$WORK_KEY" --region singapore || bail_out "could not store a test key"
add_key cp "$CP_KEY" --default || bail_out "could not store a test key"
SUM=$(store_sum)
snapshot_home

# reject: runs `get` (or the action in $2) with input $1 and checks it.
reject() {
	run_in "$1" "${2:-get}"
	expect_rejected && expect_store_unchanged "$SUM" && expect_no_leak "$WORK_KEY" &&
		expect_no_leak "$CP_KEY"
}
# nothing: exit 0 and no output (no match).
nothing() {
	run_in "$1" "${2:-get}"
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}

test_get_refuses_duplicate_host() {               # 1
	reject $'protocol=https\nhost=dashscope-intl.aliyuncs.com\nhost=dashscope.aliyuncs.com\n\n'
}
test_store_refuses_duplicate_password() {         # 1
	reject $'profile=x\nregion=sg\npassword=sk-aaaaaaaa1\npassword=sk-bbbbbbbb2\n\n' store
}
test_get_refuses_bare_cr() {                      # 2
	reject $'protocol=https\nhost=evil.example\rhost=dashscope-intl.aliyuncs.com\n\n'
}
test_get_refuses_crlf_line_ends() {               # 3
	reject $'protocol=https\r\nhost=dashscope-intl.aliyuncs.com\r\n\r\n'
}
test_get_refuses_nul_in_line() {                  # 4
	local f="$TMPROOT/nul"
	printf 'protocol=https\nhost=dashscope-intl.aliyuncs.com\0evil\n\n' >"$f"
	"$DS" get <"$f" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rejected && expect_store_unchanged "$SUM"
}
test_get_refuses_70000_byte_line() {              # 5
	reject "protocol=https"$'\n'"host=$(head -c 70000 /dev/zero | tr '\0' a)"$'\n\n'
}
test_get_long_wwwauth_line_stays_one_attribute() { # 6
	nothing "protocol=https"$'\n'"wwwauth[]=$(head -c 1001 /dev/zero | tr '\0' x)host=dashscope-intl.aliyuncs.com"$'\n\n'
}
test_get_refuses_line_without_equals() {          # 7
	reject $'protocol=https\nhost\n\n'
}
test_get_ignores_empty_and_spaced_names() {       # 8
	# were "=..." or " host=" mapped onto host, a key would be minted
	nothing $'protocol=https\n=dashscope-intl.aliyuncs.com\n host=dashscope-intl.aliyuncs.com\nhost =dashscope-intl.aliyuncs.com\n\n'
}
test_password_value_keeps_every_equals_sign() {   # 9
	printf '[policy]\nallow_long_lived = yes\n' >"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	run_in $'profile=eq\nregion=sg\npassword=sk-a=b=c=d1234\n\n' store
	expect_rc 0 || return 1
	run_in $'profile=eq\nlifetime=0\n\n' get
	expect_rc 0 && expect_out_has 'password=sk-a=b=c=d1234'
}
test_get_empty_input_prints_nothing() {           # 10
	nothing ''
}
test_erase_empty_input_is_refused() {             # 10
	reject '' erase
}
test_erase_blank_line_only_is_refused() {         # 10
	reject $'\n' erase
}
test_get_accepts_input_without_final_empty_line() { # 11
	run_in 'profile=cp' get
	expect_rc 0 && expect_out_has "password=$CP_KEY"
}
test_get_ignores_data_after_empty_line() {        # 12
	run_in $'profile=cp\n\nhost=evil.example\ncapability[]=authtype\n' get
	expect_rc 0 && expect_out_has 'host=coding.dashscope.aliyuncs.com' &&
		expect_out_lacks '^authtype='
}
test_get_refuses_100000_lines() {                 # 13
	local f="$TMPROOT/many"
	yes 'x=1' | head -n 100000 >"$f"
	"$DS" get <"$f" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rejected && expect_err_has '256 lines'
}
test_get_accepts_256_lines() {                    # 13 (the boundary)
	local f="$TMPROOT/max"
	{ yes 'x=1' | head -n 255; printf 'profile=cp\n\n'; } >"$f"
	"$DS" get <"$f" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_out_has 'profile=cp'
}
test_get_refuses_invalid_utf8() {                 # 14
	reject $'profile=cp\nworkspace=\xff\xfe\n\n'
}
test_store_refuses_invalid_utf8_label() {         # 14
	reject $'profile=\xc3\x28\nregion=sg\npassword=sk-aaaaaaaa1\n\n' store
}
test_place_without_host_matches_nothing() {       # 15
	nothing $'protocol=https\n\n'
}
test_place_with_empty_host_matches_nothing() {    # 15
	nothing $'protocol=https\nhost=\n\n'
}
test_place_over_http_matches_nothing() {          # 15
	nothing $'protocol=http\nhost=dashscope.aliyuncs.com\n\n'
}
test_place_unknown_host_matches_nothing() {       # 15
	nothing $'protocol=https\nhost=evil.example\n\n'
}
test_place_path_only_matches_nothing() {          # 15
	nothing $'path=compatible-mode/v1\n\n'
}
test_get_refuses_bad_ports() {                    # 16
	local p
	for p in 99999 abc -1 '' 0 +443; do
		reject "protocol=https"$'\n'"host=dashscope-intl.aliyuncs.com:$p"$'\n\n' || { diag "port '$p'"; return 1; }
	done
}
test_get_host_with_port_443_and_mixed_case() {    # 16 (what is accepted)
	run_in $'protocol=https\nhost=Coding.DashScope.Aliyuncs.COM:443\n\n' get
	expect_rc 0 && expect_out_has 'profile=cp'
}
test_erase_keeps_key_on_other_password() {        # 17
	run_in $'profile=work\npassword=sk-not-the-stored-key\n\n' erase
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}
test_erase_keeps_key_on_temporary_key() {         # 17
	run_in $'protocol=https\nhost=dashscope-intl.aliyuncs.com\nusername=work\npassword=st-abc123\n\n' erase
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}
test_store_ignores_ephemeral() {                  # 18
	run_in $'profile=new\nregion=sg\npassword=sk-newkey12345\nephemeral=1\n\n' store
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}
test_store_ignores_temporary_key() {              # 18
	run_in $'profile=work\nregion=sg\npassword=st-temporary-key\n\n' store
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}
test_get_refuses_bad_lifetimes() {                # 19
	local l
	for l in abc -5 0 1801 99999999999999999999 '' ' 60' 60s; do
		reject "profile=work"$'\n'"lifetime=$l"$'\n\n' || { diag "lifetime '$l'"; return 1; }
	done
}
test_get_omits_gated_lines_without_authtype() {   # 20
	run_in $'profile=cp\n\n' get
	expect_rc 0 && expect_out_has "password=$CP_KEY" && expect_out_lacks '^authtype=' &&
		expect_out_lacks '^credential=' && expect_out_lacks '^ephemeral=' &&
		expect_out_lacks '^capability'
}
test_get_adds_gated_lines_with_authtype() {       # 20 (the other side)
	run_in $'profile=cp\ncapability[]=authtype\n\n' get
	expect_rc 0 && expect_out_has 'capability[]=authtype' && expect_out_has 'authtype=Bearer' &&
		expect_out_has "credential=$CP_KEY" && expect_out_has 'ephemeral=1'
}
test_refuses_control_characters_in_profile() {    # 21
	reject $'profile=wo\x1b[31mrk\n\n'
}
test_refuses_control_characters_in_workspace() {  # 21
	reject $'profile=cp\nworkspace=ws\x07x\n\n'
}
test_store_refuses_control_characters_in_name() { # 21
	reject $'profile=a\x1bb\nregion=sg\npassword=sk-aaaaaaaa1\n\n' store
}
test_add_refuses_control_characters_in_name() {   # 21
	printf 'sk-aaaaaaaa1\n' | "$DS" add $'x\x1by' --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rejected && expect_store_unchanged "$SUM" && ! grep -q $'\x1b' "$ERR"
}
test_get_refuses_encoded_lf_in_url() {            # 22
	reject $'url=https://a.example?%0ahost=dashscope-intl.aliyuncs.com\n\n'
}
test_get_refuses_encoded_cr_in_url() {            # 22
	reject $'url=https://example%0d.com/\n\n'
}
test_get_url_selects_its_host() {                 # 22 (a clean url works)
	run_in $'url=https://coding.dashscope.aliyuncs.com/v1\n\n' get
	expect_rc 0 && expect_out_has 'profile=cp'
}

# The rest of SPEC section 4.
test_unknown_action_is_an_error_and_reads_nothing() {
	# a FIFO nobody writes to: reading it would hang the test
	mkfifo "$HOME/in"
	timeout 5 "$DS" frobnicate <"$HOME/in" >"$OUT" 2>"$ERR" &
	local pid=$!
	exec 3>"$HOME/in"
	wait $pid
	RC=$?
	exec 3>&-
	expect_rejected && expect_err_has "Unknown command 'frobnicate'"
}
test_capability_prints_version_and_authtype() {
	run capability
	expect_rc 0 && [ "$(cat "$OUT")" = $'version 0\ncapability authtype' ]
}
test_get_explicit_profile_must_agree() {
	run_in $'profile=cp\nregion=us\n\n' get
	expect_rc 1 && expect_out_empty
}
test_get_username_is_profile_alias() {
	run_in $'username=cp\n\n' get
	expect_rc 0 && expect_out_has 'profile=cp'
}
test_get_profile_and_username_must_agree() {
	reject $'profile=cp\nusername=work\n\n'
}
test_get_unknown_profile_prints_nothing() {
	nothing $'profile=nosuch\n\n'
}
test_get_ambiguous_without_default_names_profiles() {
	printf '[defaults]\n' >"$HOME/c1"
	DASHSCOPE_CREDENTIAL_CONFIG="$HOME/c1" run_in $'lifetime=60\n' get
	expect_rc 1 && expect_out_empty && expect_err_has 'cp, work'
}
test_get_no_criteria_uses_default() {
	run_in $'capability[]=authtype\n\n' get
	expect_rc 0 && expect_out_has 'profile=cp'
}
test_store_then_erase_by_profile() {
	run_in $'profile=tmp1\nregion=us\npassword=sk-temp-erase-1\n\n' store
	expect_rc 0 || return 1
	run list
	grep -q '^  tmp1 ' "$OUT" || { diag "tmp1 not listed"; return 1; }
	run_in $'profile=tmp1\npassword=sk-temp-erase-1\n\n' erase
	expect_rc 0 || return 1
	run list
	! grep -q 'tmp1' "$OUT" && expect_store_unchanged "$SUM"
}
test_store_needs_region() {
	reject $'profile=x\npassword=sk-aaaaaaaa1\n\n' store
}
test_store_for_other_host_does_nothing() {
	run_in $'protocol=https\nhost=github.com\nusername=me\npassword=sk-aaaaaaaa1\n\n' store
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}
test_store_never_echoes_key() {
	run_in $'profile=echo\nregion=sg\npassword=sk-not-echoed-99\n\n' store
	expect_rc 0 && expect_out_empty && expect_no_leak sk-not-echoed-99 || return 1
	run_in $'profile=echo\n\n' erase
	expect_rc 0 && expect_store_unchanged "$SUM"
}

# ---- erase by place (outside review of issue 11, class 1) ----
# An erase by a place that selects no region erases nothing.
# sg_and_cn: replaces the store with the one these cases start from, two
# payg profiles: sg (Singapore) and cn (Beijing, the default); SUM is its
# sum.
KEY_SG=sk-test-ok-review-sg01
KEY_CN=sk-test-ok-review-cn01
sg_and_cn() {
	rm -f "$KEYFILE" "$HOME/.config/dashscope-credential/config"
	add_key sg "$KEY_SG" --region singapore && add_key cn "$KEY_CN" --region beijing --default &&
		SUM=$(store_sum)
}
test_erase_by_endpoint_host_erases_nothing() {
	sg_and_cn || return 1
	run_in "protocol=https"$'\n'"host=127.0.0.1:$PORT_MAIN"$'\n\n' erase
	expect_rc 0 && expect_out_empty && expect_store_unchanged "$SUM"
}
test_git_credential_reject_with_endpoint_url_erases_nothing() {
	command -v git >/dev/null || return 77
	sg_and_cn || return 1
	printf 'url=https://127.0.0.1:%s/api/v1\n\n' "$PORT_MAIN" |
		git -c credential.helper= -c "credential.helper=!$DS" credential reject >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_store_unchanged "$SUM" || { diag "$(cat "$ERR")"; return 1; }
}
test_erase_by_dashscope_host_erases_only_its_region() {
	sg_and_cn || return 1
	run_in $'protocol=https\nhost=dashscope-intl.aliyuncs.com\n\n' erase
	expect_rc 0 || return 1
	run list
	! grep -q '^  sg ' "$OUT" && grep -q '^\* cn ' "$OUT"
}
test_erase_by_endpoint_host_and_profile_erases_that_profile() {
	sg_and_cn || return 1
	run_in "protocol=https"$'\n'"host=127.0.0.1:$PORT_MAIN"$'\nusername=sg\n\n' erase
	expect_rc 0 || return 1
	run list
	! grep -q '^  sg ' "$OUT" && grep -q '^\* cn ' "$OUT"
}

# ---- a request for another place is no match, however odd (class 11) ----
test_other_host_with_email_username_is_no_match() {
	for action in get store erase; do
		run_in $'protocol=https\nhost=github.com\nusername=me@corp.com\npassword=sk-aaaaaaaa11\n\n' "$action"
		expect_rc 0 && expect_out_empty && [ ! -s "$ERR" ] && expect_store_unchanged "$SUM" ||
			{ diag "action $action"; return 1; }
	done
}
test_ipv6_literal_host_is_no_match() {
	run_in $'protocol=https\nhost=[::1]\nusername=me@corp.com\n\n' get
	expect_rc 0 && expect_out_empty && [ ! -s "$ERR" ]
}
test_dashscope_host_with_other_port_is_no_match() {
	run_in $'protocol=https\nhost=dashscope-intl.aliyuncs.com:8443\nusername=x y\n\n' get
	expect_rc 0 && expect_out_empty && [ ! -s "$ERR" ]
}
# a message quoting input never carries a C1 control (CSI is U+009B, or a
# raw 0x9b byte on an 8-bit terminal) nor bytes that are not UTF-8 (threat 21)
test_c1_controls_in_quoted_input_never_reach_stderr() {
	run_in $'protocol=https\nhost=ev\xc2\x9b2Jil:abc\n\n' get
	expect_rejected && ! grep -q $'\xc2\x9b' "$ERR" || return 1
	run token -r $'x\x9b2J\xff'
	expect_rc 2 && ! grep -q $'[\x80-\xff]' "$ERR" && expect_err_has "Unknown region 'x?2J?'"
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish

#!/bin/bash
# SPDX-License-Identifier: MIT
# The Secret Service store against a real gnome-keyring-daemon on a private
# D-Bus session bus that this script starts itself; and the failure paths
# (no bus, no provider, locked keyring).
. "$(dirname "$0")/lib.sh"

if [ -z "${DS_IN_SESSION:-}" ]; then
	for tool in dbus-run-session gnome-keyring-daemon secret-tool; do
		command -v "$tool" >/dev/null || skip_all "$tool is not installed"
	done
	fresh_user
	export DS_IN_SESSION=1 HOME
	# unlock first: anything touching the bus before would start a
	# locked daemon by D-Bus activation
	exec dbus-run-session -- sh -c '
		eval "$(printf %s test-keyring-pw | gnome-keyring-daemon --unlock --components=secrets)"
		export GNOME_KEYRING_CONTROL
		exec bash "$0"' "$0" 2> >(grep -v 'Failed to set fd limit' >&2)
fi

export DASHSCOPE_CREDENTIAL_STORE=secret-service
export DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$HOME/system.conf"
: >"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
KEYFILE="$HOME/.local/share/dashscope-credential/keys"
start_server || bail_out "could not start the test server"
use_server

ss_clear() { secret-tool clear xdg:schema io.github.dashscope_credential.Key >/dev/null 2>&1; true; }

test_add_stores_key_in_secret_not_attributes() {
	ss_clear
	add_key work sk-test-ok-ss-work1 --region singapore -w ws-abc || return 1
	[ "$(secret-tool lookup profile work)" = sk-test-ok-ss-work1 ] || { diag "lookup"; return 1; }
	secret-tool search --all profile work >"$OUT" 2>&1
	grep -q '^attribute.region = ap-southeast-1$' "$OUT" && grep -q '^attribute.workspace = ws-abc$' "$OUT" &&
		grep -q '^attribute.plan = payg$' "$OUT" && grep -q '^label = DashScope key work (ap-southeast-1)$' "$OUT" &&
		grep -q '^schema = io.github.dashscope_credential.Key$' "$OUT" &&
		! grep '^attribute' "$OUT" | grep -qF sk-test-ok-ss-work1 && [ ! -e "$KEYFILE" ]
}
test_list_shows_profiles_from_keyring() {
	ss_clear
	add_key work sk-test-ok-ss-work1 --region sg || return 1
	add_key cp sk-sp-ss-coding-9999 --default || return 1
	run list
	expect_rc 0 && grep -q '^\* cp  *cn-beijing  *-  *coding  *secret-service  *sk-…9999$' "$OUT" &&
		grep -q '^  work  *ap-southeast-1 .*secret-service  *sk-…ork1$' "$OUT" && expect_no_leak sk-test-ok-ss-work1
}
test_get_selects_by_host_and_mints() {
	ss_clear
	add_key work sk-test-ok-ss-get --region sg || return 1
	add_key cn sk-test-ok-ss-cn --region beijing || return 1
	run_in $'protocol=https\nhost=dashscope-intl.aliyuncs.com\n\n' get
	expect_rc 0 && expect_out_has 'profile=work' && grep -q '^password=st-ok-' "$OUT" &&
		grep -q '"key": "sk-test-ok-ss-get"' "$SERVER_LOG" && expect_no_leak sk-test-ok-ss-get
}
test_store_replaces_same_profile_in_another_region() {
	ss_clear
	run_in $'profile=move\nregion=sg\npassword=sk-move-one-1\n\n' store
	expect_rc 0 || return 1
	run_in $'profile=move\nregion=us\npassword=sk-move-two-2\n\n' store
	expect_rc 0 || return 1
	secret-tool search --all profile move >"$OUT" 2>&1
	[ "$(grep -c '^attribute.profile = move$' "$OUT")" = 1 ] && grep -q 'attribute.region = us-east-1' "$OUT" &&
		[ "$(secret-tool lookup profile move)" = sk-move-two-2 ]
}
test_erase_with_matching_password_removes() {
	ss_clear
	add_key gone sk-erase-me-12 --region sg || return 1
	run_in $'profile=gone\npassword=sk-erase-me-12\n\n' erase
	expect_rc 0 && [ -z "$(secret-tool lookup profile gone)" ]
}
test_erase_with_other_password_keeps() {
	ss_clear
	add_key kept sk-keep-me-123 --region sg || return 1
	run_in $'profile=kept\npassword=sk-something-else\n\n' erase
	expect_rc 0 && [ "$(secret-tool lookup profile kept)" = sk-keep-me-123 ]
}
test_rejected_request_leaves_keyring_alone() {
	ss_clear
	add_key kept sk-keep-me-123 --region sg || return 1
	run_in $'profile=kept\nprofile=kept\n\n' erase
	expect_rejected && [ "$(secret-tool lookup profile kept)" = sk-keep-me-123 ]
}
test_remove_deletes_item() {
	ss_clear
	add_key r sk-remove-me-1 --region sg || return 1
	run remove r
	expect_rc 0 && [ -z "$(secret-tool lookup profile r)" ]
}
test_foreign_items_under_schema_are_skipped() {
	ss_clear
	printf 'sk-foreign-1234' | secret-tool store --label=x xdg:schema io.github.dashscope_credential.Key profile $'bad\x1bname' region sg plan payg workspace ""
	add_key ok1 sk-test-ok-fine1 --region sg || return 1
	run list
	expect_rc 0 && [ "$(grep -c secret-service "$OUT")" = 1 ] && ! grep -q $'\x1b' "$OUT"
}
test_auto_uses_secret_service_when_it_answers() {
	ss_clear
	DASHSCOPE_CREDENTIAL_STORE=auto add_key auto1 sk-auto-store-1 --region sg || return 1
	[ "$(secret-tool lookup profile auto1)" = sk-auto-store-1 ] && [ ! -e "$KEYFILE" ]
}
test_no_session_bus_exits_3_with_fix() {
	env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY -u XDG_RUNTIME_DIR "$DS" list >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has 'No D-Bus session bus' && expect_err_has 'store = file' && expect_err_one_line
}
test_no_session_bus_auto_falls_back_to_file() {
	printf 'sk-fallback-12\n' | env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY -u XDG_RUNTIME_DIR \
		DASHSCOPE_CREDENTIAL_STORE=auto "$DS" add fb --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q '^fb	' "$KEYFILE" && rm -f "$KEYFILE"
}
test_no_provider_exits_3_with_fix() {
	local conf="$TMPROOT/empty-bus.conf"
	cat >"$conf" <<'EOF2'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF2
	dbus-run-session --config-file="$conf" -- sh -c '"$0" list >"$1" 2>"$2"' "$DS" "$OUT" "$ERR" >/dev/null 2>&1
	RC=$?
	expect_rc 3 && expect_err_has 'No Secret Service provider' && expect_err_has 'gnome-keyring-daemon' && expect_out_empty
}
# The Secret Service store is a module loaded on first use; a binary that
# cannot find it (copied away from its build tree, nothing installed in
# PKGLIBDIR) must say so, and auto must fall back to the file store.
test_missing_module_exits_3_and_auto_falls_back() {
	local lone="$TMPROOT/lone"
	mkdir -p "$lone" && cp "$DS_REAL" "$lone/" || return 1
	DASHSCOPE_CREDENTIAL_STORE=secret-service "$lone/dashscope-credential" list >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has 'Secret Service support cannot be loaded' && expect_out_empty || return 1
	printf 'sk-test-ok-lone1\n' | DASHSCOPE_CREDENTIAL_STORE=auto "$lone/dashscope-credential" add lone --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && grep -q '^lone	' "$KEYFILE" && rm -f "$KEYFILE"
}
test_locked_keyring_exits_3_not_empty() {
	# a daemon started by activation without --unlock has no login keyring
	env -u GNOME_KEYRING_CONTROL dbus-run-session -- sh -c '"$0" list >"$1" 2>"$2"' "$DS" "$OUT" "$ERR" >/dev/null 2>&1
	RC=$?
	expect_rc 3 && expect_err_has 'keyring' && expect_out_empty
}
# doctor: keys in the store that is not in use are never found
test_doctor_warns_about_keys_in_the_unused_file_store() {
	ss_clear
	rm -f "$KEYFILE"
	add_key inss sk-test-ok-ss-doc1 --region sg || return 1
	DASHSCOPE_CREDENTIAL_STORE=file add_key infile sk-test-ok-file-doc2 --region sg || return 1
	run doctor
	rm -f "$KEYFILE"
	expect_rc 0 && grep -q '^\[warn\] 1 profile in the file store is not used: infile; fix: set .store = file.' "$OUT" &&
		expect_no_leak sk-test-ok-file-doc2
}
test_doctor_warns_about_keys_in_the_unused_secret_service() {
	ss_clear
	rm -f "$KEYFILE"
	add_key inss sk-test-ok-ss-doc1 --region sg || return 1
	DASHSCOPE_CREDENTIAL_STORE=file add_key infile sk-test-ok-file-doc2 --region sg || return 1
	DASHSCOPE_CREDENTIAL_STORE=file run doctor
	rm -f "$KEYFILE"
	expect_rc 0 && grep -q '^\[warn\] 1 profile in the secret-service store is not used: inss; fix: set .store = secret-service.' "$OUT"
}
test_doctor_says_nothing_when_the_other_store_is_empty() {
	ss_clear
	rm -f "$KEYFILE"
	add_key inss sk-test-ok-ss-doc1 --region sg || return 1
	run doctor
	expect_rc 0 && ! grep -q 'is not used\|are not used' "$OUT"
}

# SPEC section 3: a key read from the keyring passes the checks of add
# before it is used; a planted item never reaches a header or stdout.
plant_item() { # PROFILE PLAN SECRET
	printf '%s' "$3" | secret-tool store --label planted xdg:schema io.github.dashscope_credential.Key \
		profile "$1" region ap-southeast-1 workspace '' plan "$2"
}
test_planted_item_with_crlf_is_refused_naming_profile() {
	ss_clear
	plant_item evil payg $'sk-evil-planted-1\r\nX-Injected: yes' || return 1
	run token -p evil
	expect_rc 3 && expect_out_empty && expect_err_has 'evil' &&
		! grep -q 'evil-planted' "$SERVER_LOG" && ! grep -qi 'x-injected' "$SERVER_LOG"
}
test_planted_coding_item_is_never_printed() {
	ss_clear
	plant_item cp coding $'not a key at all\n' || return 1
	run token -p cp
	expect_rc 3 && expect_out_empty && expect_no_leak 'not a key'
}
# store.c takes the key from the entry the profile was listed from: a
# second item of the name for another region is never mixed in
test_planted_duplicate_item_never_lends_its_key() {
	ss_clear
	add_key work sk-test-ok-real-1111 --region sg || return 1
	printf '%s' sk-test-ok-planted-9999 | secret-tool store --label planted \
		xdg:schema io.github.dashscope_credential.Key profile work region us-east-1 workspace '' plan payg
	run list
	local tail
	tail=$(grep -o 'sk-…[^ ]*$' "$OUT" | sed 's/sk-…//')
	[ -n "$tail" ] || return 1
	run token -p work
	if [ "$RC" = 0 ]; then
		# the key sent is the one whose tail list showed
		tail -n 3 "$SERVER_LOG" | grep -q "\"key\": \"sk-test-ok-[a-z]*-$tail\"" || { diag "list showed $tail"; return 1; }
	else
		expect_rc 3 && expect_err_has 'another region' && expect_out_empty
	fi
}
test_list_marks_an_invalid_stored_key() {
	ss_clear
	plant_item odd payg 'sk-has space inside' || return 1
	run list
	expect_rc 0 && grep -q '^[* ] odd .*(invalid key)$' "$OUT" && expect_no_leak 'space inside'
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish

#!/bin/bash
# SPDX-License-Identifier: MIT
# The file store (SPEC section 3): modes, refusals, atomic and locked
# writes, and a crash between write and rename; every stored record checked
# before it is used (planted keys, names that look like keys); key file
# paths that are a FIFO, too long, or through another user's link. (The
# Secret Service store is test_secret_service.sh.)
. "$(dirname "$0")/lib.sh"

fresh_user
# a planted key must never reach the (test) token endpoint
start_server || bail_out "could not start the test server"
use_server
snapshot_home

test_add_creates_0700_dir_and_0600_file() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	[ "$(stat -c %a "$(dirname "$KEYFILE")")" = 700 ] && [ "$(stat -c %a "$KEYFILE")" = 600 ]
}
test_add_says_file_is_protected_by_permissions_only() {
	printf 'sk-aaaaaaaa11\n' | "$DS" add a --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_err_has 'protected by file permissions only' && expect_no_leak sk-aaaaaaaa11
}
test_key_is_in_file_not_output() {
	add_key a sk-secret-abcd --region sg || return 1
	run list
	expect_rc 0 && expect_no_leak sk-secret-abcd && grep -q 'sk-…abcd' "$OUT" && grep -qF sk-secret-abcd "$KEYFILE"
}
test_refuses_group_readable_file() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	chmod 640 "$KEYFILE"
	run list
	expect_rc 3 && expect_err_has 'chmod 600' && expect_out_empty
}
test_refuses_world_readable_file_for_get() {
	add_key a sk-sp-aaaaaaaa11 || return 1
	chmod 604 "$KEYFILE"
	run_in $'profile=a\n\n' get
	expect_rc 3 && expect_out_empty && expect_no_leak sk-sp-aaaaaaaa11
}
test_refuses_file_owned_by_someone_else() {
	[ "$(id -u)" = 0 ] || { echo "# needs root to chown"; return 77; }
	add_key a sk-aaaaaaaa11 --region sg || return 1
	chown nobody "$KEYFILE"
	run list
	expect_rc 3 && expect_err_has 'owned by another user'
}
test_refuses_symlinked_file() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	mv "$KEYFILE" "$KEYFILE.real"
	ln -s "$KEYFILE.real" "$KEYFILE"
	run list
	expect_rc 3 && expect_err_has 'symbolic link'
}
test_refuses_directory_writable_by_others() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	chmod 777 "$(dirname "$KEYFILE")"
	run list
	expect_rc 3 && expect_err_has 'chmod 700'
}
test_malformed_file_is_reported_with_line() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	printf 'garbage line\n' >>"$KEYFILE"
	run list
	expect_rc 3 && expect_err_has 'keys:3'
}
test_same_profile_replaces() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	add_key a sk-bbbbbbbb22 --region us || return 1
	[ "$(grep -c '^a	' "$KEYFILE")" = 1 ] && grep -q '^a	us-east-1		payg	sk-bbbbbbbb22$' "$KEYFILE"
}
test_twenty_concurrent_adds_all_survive() {
	local i
	for i in $(seq 1 20); do
		add_key "p$i" "sk-concurrent-$i-xx" --region sg &
	done
	wait
	run list --json
	expect_rc 0 || return 1
	[ "$(grep -c '"profile": "p' "$OUT")" = 20 ] || { diag "$(grep -c '"profile"' "$OUT") profiles"; return 1; }
	for i in $(seq 1 20); do
		grep -q "^p$i	ap-southeast-1		payg	sk-concurrent-$i-xx\$" "$KEYFILE" || { diag "p$i lost"; return 1; }
	done
}
test_crash_before_rename_keeps_old_file() {
	local shim="$abs_top_builddir/tests/.libs/crash_rename.so"
	[ -e "$shim" ] || shim="$abs_top_builddir/tests/crash_rename.so"
	[ -e "$shim" ] || { diag "no crash shim built"; return 1; }
	add_key a sk-aaaaaaaa11 --region sg || return 1
	local before
	before=$(store_sum)
	{ printf 'sk-bbbbbbbb22\n' | LD_PRELOAD="$shim" "$DS" add b --region sg >/dev/null 2>&1; RC=$?; } 2>/dev/null
	[ "$RC" = 137 ] || { diag "exit $RC: the shim did not crash it"; return 1; }
	expect_store_unchanged "$before" && run list && grep -q '^. a ' "$OUT" && ! grep -q '^. b ' "$OUT"
}
# erase with password= deletes only that key (git's "reject"): a key
# stored in its place while erase waited for the key file's lock stays
# (the comparison is made again under the lock).
test_erase_keeps_a_key_stored_while_it_waited_for_the_lock() {
	local old=sk-erase-old-aaaa11 new=sk-erase-new-bbbb22 pid
	add_key w "$old" --region sg || return 1
	exec 9>"$KEYFILE.lock"
	flock 9 || { exec 9>&-; diag "could not take the lock"; return 1; }
	# the wait below is seen in /proc/locks; some sandboxes' is not ours
	grep -q ":$(stat -c %i "$KEYFILE.lock") " /proc/locks ||
		{ exec 9>&-; echo "# /proc/locks does not show this lock"; return 77; }
	printf 'profile=w\npassword=%s\n\n' "$old" | "$DS" erase >"$OUT" 2>"$ERR" 9>&- &
	pid=$!
	# erase has read the file and compared; it now waits for the lock
	wait_for grep -qE "^[0-9]+: -> FLOCK +ADVISORY +WRITE +$pid " /proc/locks ||
		{ exec 9>&-; wait "$pid"; return 1; }
	# another program stores a new key for w meanwhile, under the lock
	sed "s/$old/$new/" "$KEYFILE" >"$KEYFILE.next" && cat "$KEYFILE.next" >"$KEYFILE" && rm -f "$KEYFILE.next"
	exec 9>&-
	wait "$pid"
	RC=$?
	expect_rc 0 && expect_out_empty && expect_no_leak "$old" && expect_no_leak "$new" || return 1
	grep -q "^w	.*	$new\$" "$KEYFILE" || { diag "the new key was erased"; return 1; }
}
# a profile written twice behind the helper's back is used by its last
# record: erase with that key takes the profile out, as before 426dc1d
test_erase_of_a_profile_written_twice_goes_by_the_key_in_use() {
	add_key w sk-twice-aaaaaaaa11 --region sg || return 1
	plant w payg sk-twice-bbbbbbbb22
	run_in $'profile=w\npassword=sk-twice-bbbbbbbb22\n\n' erase
	expect_rc 0 && expect_out_empty || return 1
	! grep -q "^w	" "$KEYFILE" || { diag "the profile is still there: $(cut -f1,4 "$KEYFILE")"; return 1; }
}
test_remove_deletes_one_profile() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	add_key b sk-bbbbbbbb22 --region sg || return 1
	run remove a
	expect_rc 0 && run list && ! grep -q '^. a ' "$OUT" && grep -q '^. b ' "$OUT"
}
test_remove_unknown_profile_exits_1() {
	run remove nosuch
	expect_rc 1 && expect_err_one_line
}
test_add_refuses_bad_keys_and_stores_nothing() {
	local k
	for k in short sk-has\ space xx-abcdefgh "sk-$(head -c 600 /dev/zero | tr '\0' a)" st-temporary1; do
		printf '%s\n' "$k" | "$DS" add a --region sg >"$OUT" 2>"$ERR"
		RC=$?
		expect_rc 2 && expect_err_one_line && [ ! -e "$KEYFILE" ] || { diag "key '${k:0:12}'"; return 1; }
	done
}
test_add_payg_key_needs_region() {
	printf 'sk-aaaaaaaa11\n' | "$DS" add a >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 2 && expect_err_has '--region' && [ ! -e "$KEYFILE" ]
}
test_add_plan_must_match_key() {
	printf 'sk-aaaaaaaa11\n' | "$DS" add a --region sg --plan coding >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 2 || return 1
	printf 'sk-sp-aaaaaaaa11\n' | "$DS" add a --region sg --plan payg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 2 && [ ! -e "$KEYFILE" ]
}
test_add_frankfurt_needs_workspace() {
	printf 'sk-aaaaaaaa11\n' | "$DS" add a --region eu >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 2 && expect_err_has 'workspace' && [ ! -e "$KEYFILE" ]
}
test_add_default_writes_user_config() {
	mkdir -p "$HOME/.config/dashscope-credential"
	printf '# mine\n[defaults]\nprofile = old\nlifetime = 90\n\n[profile x]\nmodel = m\n' >"$HOME/.config/dashscope-credential/config"
	add_key a sk-aaaaaaaa11 --region sg --default || return 1
	diff - "$HOME/.config/dashscope-credential/config" <<EOF2
# mine
[defaults]
profile = a
lifetime = 90

[profile x]
model = m
EOF2
}
test_list_json_marks_default() {
	add_key a sk-aaaaaaaa11 --region sg || return 1
	add_key b sk-bbbbbbbb22 --region us --default || return 1
	run list --json
	expect_rc 0 && python3 - "$OUT" <<'EOF2'
import json, sys
items = json.load(open(sys.argv[1]))
assert [(i["profile"], i["default"], i["store"], i["key"]) for i in items] == \
    [("a", False, "file", "sk-…aa11"), ("b", True, "file", "sk-…bb22")], items
EOF2
}
test_keyfile_override_is_used() {
	export DASHSCOPE_CREDENTIAL_KEYFILE="$HOME/elsewhere/k"
	add_key a sk-aaaaaaaa11 --region sg || return 1
	[ -e "$HOME/elsewhere/k" ] && [ ! -e "$KEYFILE" ]
}

# ---- records planted behind the helper's back (outside review, issue 11) ----
# sg_and_cn: the store these cases start from, profiles sg (Singapore) and
# cn (Beijing, the default); SUM is the key file's sum then.
KEY_SG=sk-test-ok-review-sg01
KEY_CN=sk-test-ok-review-cn01
sg_and_cn() {
	add_key sg "$KEY_SG" --region singapore && add_key cn "$KEY_CN" --region beijing --default &&
		SUM=$(store_sum)
}
cfg() { printf '%s' "$HOME/.config/dashscope-credential/config"; }
theirs() { # DIR: a directory of another user (nobody), for root's tests
	mkdir -p "$1" && chown nobody "$1"
}

# a stored key is checked before it is used (SPEC 3)
plant() { # NAME PLAN KEY: a record written behind the helper's back
	printf '%s\tap-southeast-1\t\t%s\t%s\n' "$1" "$2" "$3" >>"$KEYFILE"
}
test_planted_key_with_cr_is_refused_naming_profile() {
	sg_and_cn || return 1
	plant evil payg $'sk-evil-key-1\rX-Injected: 1'
	run token -p evil
	expect_rc 3 && expect_out_empty && expect_err_has 'evil' &&
		! grep -q 'evil-key' "$SERVER_LOG"
}
test_planted_coding_key_is_never_printed() {
	sg_and_cn || return 1
	plant cp coding 'sk-sp-has space'
	run token -p cp
	expect_rc 3 && expect_out_empty && expect_err_has 'cp' && expect_no_leak 'has space'
}
# a second entry of a name, for another region, never lends its key to the
# profile list showed (a planted or stale duplicate)
test_duplicate_entry_never_lends_its_key_to_the_listed_profile() {
	sg_and_cn || return 1
	printf 'sg\tus-east-1\t\tpayg\tsk-test-ok-planted-dup9\n' >>"$KEYFILE"
	run token -p sg
	expect_rc 0 && ! grep -q 'planted-dup9' "$SERVER_LOG" || return 1
	run_in $'profile=sg\npassword=sk-test-ok-planted-dup9\n\n' erase
	expect_rc 0 && grep -q "^sg	ap-southeast-1		payg	$KEY_SG\$" "$KEYFILE"
}
test_planted_temporary_key_is_refused() {
	sg_and_cn || return 1
	plant stk payg 'st-not-a-long-lived-key'
	run token -p stk
	expect_rc 3 && expect_out_empty
}

# ---- a profile name that looks like a key is refused (SPEC 3) ----
test_add_refuses_key_like_profile_name() {
	local name
	sg_and_cn || return 1
	for name in sk-abcdefgh12345 ST-abcdefgh Sk-x; do
		printf 'sk-aaaaaaaa11\n' | "$DS" add "$name" --region sg >"$OUT" 2>"$ERR"
		RC=$?
		expect_rejected && expect_store_unchanged "$SUM" || { diag "name $name"; return 1; }
	done
}
test_store_refuses_key_like_profile_name() {
	sg_and_cn || return 1
	run_in $'username=sk-pasted-as-name1\nregion=sg\npassword=sk-aaaaaaaa11\n\n' store
	expect_rejected && expect_store_unchanged "$SUM"
}
# ...wherever a name comes in: a stored record (planted, or kept by a
# version that allowed such names) and the configuration
test_stored_key_like_profile_name_is_never_shown() {
	sg_and_cn || return 1
	plant sk-pasted-as-name-9876 payg sk-aaaaaaaa11
	run list
	expect_rc 0 && expect_no_leak pasted-as-name || return 1
	run list --json
	expect_rc 0 && expect_no_leak pasted-as-name || return 1
	run doctor
	expect_no_leak pasted-as-name
}
test_config_key_like_default_profile_never_reaches_the_environment() {
	sg_and_cn || return 1
	mkdir -p "$(dirname "$(cfg)")"
	printf '[defaults]\nprofile = sk-pasted-as-name-9876\n[profile sk-pasted-as-name-9876]\nregion = sg\n' >"$(cfg)"
	run env --shell pam --no-key
	expect_rejected && expect_err_has 'looks like a key' && expect_no_leak pasted-as-name || return 1
	rm "$(cfg)"; DASHSCOPE_CREDENTIAL_PROFILE=sk-pasted-as-name-9876 \
		run env --shell pam --no-key -r sg
	expect_rejected && expect_no_leak pasted-as-name
}

# ---- key file paths (SPEC 3) ----
# a FIFO is refused, never waited on
test_fifo_key_file_is_refused_at_once() {
	sg_and_cn || return 1
	rm -f "$KEYFILE"
	mkfifo -m 600 "$KEYFILE"
	run_limited list || return 1
	expect_rc 3 && expect_err_has 'not a regular file'
}
# a path that does not fit is an error, never cut short
test_overlong_key_file_path_is_an_error() {
	local long
	long="$HOME/$(printf 'd%.0s' $(seq 5000))/keys"
	DASHSCOPE_CREDENTIAL_KEYFILE=$long run list
	[ "$RC" != 0 ] && expect_out_empty && expect_err_has 'longer than this system allows'
}
# never through a link another user owns (root's case)
test_key_file_through_another_users_link_is_refused() {
	[ "$(id -u)" = 0 ] || return 77
	sg_and_cn || return 1
	local dir="$TMPROOT/nobody-keys"
	theirs "$dir"
	ln -s "$(dirname "$KEYFILE")" "$dir/mine" && chown -h nobody "$dir/mine"
	printf 'sk-aaaaaaaa11\n' | DASHSCOPE_CREDENTIAL_KEYFILE="$dir/mine/keys" "$DS" add x --region sg >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has 'belongs to another user' && expect_store_unchanged "$SUM"
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish

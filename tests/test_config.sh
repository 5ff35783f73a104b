#!/bin/bash
# SPDX-License-Identifier: MIT
# The configuration (SPEC sections 3 and 6): which files are read and
# trusted (never a FIFO or a device, never one another user can change),
# HOME and paths that do not fit, and add --default editing the user's
# config (through a symlink, duplicate lines, CRLF, never where another
# user owns a directory on the way). Most cases are regression tests of the
# outside review of issue 11 (classes 7, 8, 9 and 14).
. "$(dirname "$0")/lib.sh"

fresh_user
start_server || bail_out "could not start the test server"
use_server
KEY_SG=sk-test-ok-review-sg01
KEY_CN=sk-test-ok-review-cn01
add_key sg "$KEY_SG" --region singapore || bail_out "could not store a test key"
add_key cn "$KEY_CN" --region beijing --default || bail_out "could not store a test key"
SUM=$(store_sum)
snapshot_home

# the user's config file
cfg() { printf '%s' "$HOME/.config/dashscope-credential/config"; }
# theirs DIR: a directory of another user (nobody), for root's tests
theirs() {
	mkdir -p "$1" && chown nobody "$1"
}

# ---- FIFOs and devices are refused, never waited on (SPEC 3) ----
test_fifo_user_config_is_refused_at_once() {
	mkfifo "$HOME/cfg.fifo"
	DASHSCOPE_CREDENTIAL_CONFIG="$HOME/cfg.fifo" run_limited list || return 1
	expect_rc 2 && expect_err_has 'not a regular file'
}
test_fifo_system_config_is_refused_at_once() {
	mkfifo "$HOME/sys.fifo"
	DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$HOME/sys.fifo" run_limited token -p sg || return 1
	expect_rc 2 && expect_out_empty
}
test_device_as_config_is_refused() {
	DASHSCOPE_CREDENTIAL_CONFIG=/dev/zero run_limited list || return 1
	expect_rc 2 && expect_err_has 'not a regular file'
}
test_add_default_refuses_a_device_as_config() {
	local dev="$HOME/fake-null"
	if [ "$(id -u)" = 0 ]; then
		mknod "$dev" c 1 3 || return 1
	else
		mkfifo "$dev"
	fi
	printf 'sk-aaaaaaaa11\n' | DASHSCOPE_CREDENTIAL_CONFIG=$dev timeout -k 5 "$LIMIT" "$DS" add x --region sg --default >"$OUT" 2>"$ERR"
	RC=$?
	[ "$RC" != 0 ] && [ "$RC" != 124 ] && { [ -c "$dev" ] || [ -p "$dev" ]; } &&
		expect_err_has 'not a regular file'
}

# ---- a path that does not fit is an error, never cut short (SPEC 3) ----
test_overlong_config_home_is_an_error() {
	local long
	long="$HOME/$(printf 'c%.0s' $(seq 5000))"
	printf 'sk-aaaaaaaa11\n' | XDG_CONFIG_HOME=$long "$DS" add x --region sg --default >"$OUT" 2>"$ERR"
	RC=$?
	[ "$RC" != 0 ] && expect_err_has 'longer than this system allows' &&
		[ -z "$(find "$HOME" -maxdepth 1 -name 'ccc*')" ]
}

# ---- HOME must be absolute and the user's own (SPEC 3) ----
test_home_of_another_user_is_refused_and_left_untouched() {
	local other="$TMPROOT/other-home"
	mkdir -p "$other"
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$other"
	else
		other=/ # owned by root, so not ours
	fi
	printf 'sk-aaaaaaaa11\n' | HOME=$other DASHSCOPE_CREDENTIAL_STORE=file "$DS" add x --region sg --default >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has 'belongs to another user' &&
		[ ! -e "$other/.local" ] && [ ! -e "$other/.config" ]
}
test_relative_home_is_refused() {
	HOME=relative/home run list
	expect_rc 3 && expect_err_has 'absolute'
}
test_unset_home_uses_the_passwd_entry() {
	env -u HOME DASHSCOPE_CREDENTIAL_KEYFILE="$KEYFILE" DASHSCOPE_CREDENTIAL_CONFIG="$HOME/none" \
		"$DS" list </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	# the user file named is missing: an error naming it, not a crash
	[ "$RC" = 2 ] && expect_err_has "$HOME/none"
}

# ---- add --default edits the config it should, as it should (SPEC 6) ----
test_add_default_writes_through_a_symlink() {
	mkdir -p "$(dirname "$(cfg)")" "$HOME/dotfiles"
	printf '[defaults]\nprofile = cn\n# keep me\n' >"$HOME/dotfiles/ds.conf"
	chmod 640 "$HOME/dotfiles/ds.conf"
	ln -sf "$HOME/dotfiles/ds.conf" "$(cfg)"
	printf 'sk-aaaaaaaa11\n' | "$DS" add new --region sg --default >"$OUT" 2>"$ERR" ||
		{ diag "$(cat "$ERR")"; return 1; }
	[ -L "$(cfg)" ] && grep -qx 'profile = new' "$HOME/dotfiles/ds.conf" &&
		grep -qx '# keep me' "$HOME/dotfiles/ds.conf" &&
		[ "$(stat -c %a "$HOME/dotfiles/ds.conf")" = 640 ]
}
test_add_default_replaces_every_duplicate_profile_line() {
	mkdir -p "$(dirname "$(cfg)")"
	printf '[defaults]\nprofile = cn\nlifetime = 60\nprofile = sg\n[profile sg]\nmodel = m\n' >"$(cfg)"
	add_key new sk-aaaaaaaa11 --region sg --default || return 1
	run_in $'capability[]=authtype\n\n' get
	[ "$(grep -c '^ *profile *=' "$(cfg)")" = 1 ] && grep -qx 'profile = new' "$(cfg)" &&
		grep -qx 'model = m' "$(cfg)" && expect_out_has 'profile=new'
}
test_add_default_replaces_the_profile_line_of_a_crlf_file() {
	mkdir -p "$(dirname "$(cfg)")"
	printf '[defaults]\r\nprofile = cn\r\nlifetime = 60\r\n' >"$(cfg)"
	add_key new sk-aaaaaaaa11 --region sg --default || return 1
	[ "$(grep -c '^ *profile *=' "$(cfg)")" = 1 ] && grep -qx 'profile = new' "$(cfg)" &&
		[ "$(grep -c '^\[defaults\]' "$(cfg)")" = 1 ]
}

# ---- another user's files and directories ----
# add --default never writes where another user owns a directory on the
# way, however the path was chosen (XDG_CONFIG_HOME,
# DASHSCOPE_CREDENTIAL_CONFIG): such a user could point a link at any file
# root owns
test_root_add_default_never_writes_through_another_users_link() {
	[ "$(id -u)" = 0 ] || return 77
	local dir="$TMPROOT/nobody-cfg" victim="$TMPROOT/root-owned.conf"
	theirs "$dir"
	printf '# root owns this\n' >"$victim"
	ln -s "$victim" "$dir/config" && chown -h nobody "$dir/config"
	printf 'sk-aaaaaaaa11\n' | DASHSCOPE_CREDENTIAL_CONFIG="$dir/config" "$DS" add x --region sg --default >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has 'belongs to another user' &&
		[ "$(cat "$victim")" = '# root owns this' ]
}
test_root_add_default_leaves_nothing_in_another_users_config_dir() {
	[ "$(id -u)" = 0 ] || return 77
	local xdg="$TMPROOT/nobody-home/.config"
	theirs "$TMPROOT/nobody-home" && theirs "$xdg" && theirs "$xdg/dashscope-credential"
	printf 'sk-aaaaaaaa11\n' | XDG_CONFIG_HOME=$xdg "$DS" add x --region sg --default >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has 'belongs to another user' &&
		[ -z "$(ls -A "$xdg/dashscope-credential")" ]
}
# a config decides where the long-lived key is sent (endpoint): one that
# another user can change is not used
test_config_writable_by_others_is_not_used() {
	mkdir -p "$(dirname "$(cfg)")"
	printf '[defaults]\nendpoint = https://127.0.0.1:%s\n' "$PORT_OTHER" >"$(cfg)"
	chmod 666 "$(cfg)"
	run token -p sg
	expect_rejected && expect_err_has 'another user can change it' &&
		! grep -q '"listener": "other"' "$SERVER_LOG" || return 1
	chmod 644 "$(cfg)"
	printf '[defaults]\nendpoint = https://127.0.0.1:%s\n' "$PORT_OTHER" >"$HOME/sys-ww.conf"
	chmod 646 "$HOME/sys-ww.conf"
	DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$HOME/sys-ww.conf" run token -p sg
	expect_rejected && expect_err_has 'sys-ww.conf'
}
test_config_of_another_user_is_not_used() {
	[ "$(id -u)" = 0 ] || return 77
	mkdir -p "$(dirname "$(cfg)")"
	printf '[defaults]\nlifetime = 60\n' >"$(cfg)"
	chown nobody "$(cfg)"
	run token -p sg
	expect_rejected && expect_err_has 'another user can change it'
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish

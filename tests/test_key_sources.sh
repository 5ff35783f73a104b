#!/bin/bash
# SPDX-License-Identifier: MIT
# Keys from the systems that already manage secrets (SPEC section 15):
# key_file and key_credential on a profile, the file replaced the way
# Kubernetes, Vault Agent and an editor replace it and seen by the next
# `token`, by a running proxy at its next mint and by the broker; files
# that are empty, half-written, writable by others, FIFOs or another
# user's refused naming the profile; the sourced profile read-only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

CHAT=/compatible-mode/v1/chat/completions
fresh_user
start_server || bail_out "could not start the test server"
use_server
CONF="$HOME/.config/dashscope-credential/config"
mkdir -p "${CONF%/*}"
printf '[defaults]\ntimeout = 3\n[policy]\nallow_long_lived = yes\n' >"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
snapshot_home

# newkey: a fresh test key the token server mints from
newkey() { printf 'sk-test-ok-%s%s' "$RANDOM" "$RANDOM"; }
mints_of() {
	local n
	n=$(grep -c "\"key\": \"$1\"" "$SERVER_LOG" 2>/dev/null)
	echo "${n:-0}"
}
# source_profile PATH: profile p takes its key from key_file PATH
source_profile() {
	printf '[profile p]\nregion = singapore\nkey_file = %s\n' "$1" >>"$CONF"
}
# token_with KEY [ARGS]: `token -p p` succeeds, and minted from KEY
token_with() {
	local key=$1 before
	shift
	before=$(mints_of "$key")
	run token -p p "$@"
	expect_rc 0 && expect_no_leak "$key" || return 1
	[ "$(mints_of "$key")" -gt "$before" ] && return 0
	diag "the token was not minted from the expected key"
	return 1
}
# refused WORDS: `token -p p` exits 3 naming the profile and WORDS, prints
# no key
refused() {
	run_limited token -p p -l 0 || return 1
	expect_rc 3 && expect_out_empty && expect_err_has "Profile p" && expect_err_has "$1"
}

# A Kubernetes secret volume: KEY in a timestamped directory, ..data a
# link to it, the file a link through ..data.
K8S="$HOME/k8s"
k8s_write() {
	local d="..2026_12_04_$RANDOM$RANDOM"
	mkdir -p "$K8S/$d"
	printf '%s\n' "$1" >"$K8S/$d/api_key"
	chmod 644 "$K8S/$d/api_key"
	ln -s "$d" "$K8S/..data_tmp"
	mv -T "$K8S/..data_tmp" "$K8S/..data"
	[ -L "$K8S/api_key" ] || ln -s ..data/api_key "$K8S/api_key"
}

test_key_file_is_read_by_token() {
	local k
	k=$(newkey)
	mkdir -m 700 "$HOME/vault" && printf '%s\n' "$k" >"$HOME/vault/key" && chmod 600 "$HOME/vault/key"
	source_profile "$HOME/vault/key"
	token_with "$k" && grep -q '^st-' "$OUT"
}
test_key_file_surrounding_whitespace_is_ignored() {
	local k
	k=$(newkey)
	printf '  %s \r\n\n' "$k" >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	run token -p p -l 0
	expect_rc 0 && expect_out_has "$k"
}
test_kubernetes_symlink_swap_is_seen_by_the_next_token() {
	local k1 k2
	k1=$(newkey) k2=$(newkey)
	k8s_write "$k1"
	source_profile "$K8S/api_key"
	token_with "$k1" || return 1
	k8s_write "$k2"
	token_with "$k2" && [ "$(mints_of "$k1")" = 1 ]
}
test_vault_agent_rename_is_seen_by_the_next_token() {
	local k1 k2
	k1=$(newkey) k2=$(newkey)
	mkdir -m 700 "$HOME/sink"
	printf '%s\n' "$k1" >"$HOME/sink/key" && chmod 600 "$HOME/sink/key"
	source_profile "$HOME/sink/key"
	token_with "$k1" || return 1
	(umask 077 && printf '%s\n' "$k2" >"$HOME/sink/.key.tmp") && mv "$HOME/sink/.key.tmp" "$HOME/sink/key"
	token_with "$k2"
}
test_in_place_rewrite_is_seen_by_the_next_token() {
	local k1 k2
	k1=$(newkey) k2="${k1%?}x"
	printf '%s\n' "$k1" >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	token_with "$k1" || return 1
	# same size, same inode: only the content (and mtime) differ
	printf '%s\n' "$k2" >"$HOME/key"
	token_with "$k2"
}
# proxy_minted_from KEY [N]: a request through the proxy succeeds and the
# proxy has minted from KEY (N times) by now
proxy_minted_from() {
	[ "$(post "$CHAT")" = 200 ] && [ "$(mints_of "$1")" -ge "${2:-1}" ]
}
test_running_proxy_mints_with_the_new_key_at_its_next_mint() {
	local k1 k2 n1
	k1=$(newkey) k2=$(newkey)
	k8s_write "$k1"
	source_profile "$K8S/api_key"
	start_proxy -p p --lifetime 2 || return 1
	[ "$(post "$CHAT")" = 200 ] || { stop_proxy; diag "first request failed"; return 1; }
	k8s_write "$k2"
	wait_for proxy_minted_from "$k2" || { stop_proxy; return 1; }
	n1=$(mints_of "$k1")
	# from now on only the new key mints
	wait_for proxy_minted_from "$k2" 2
	local rc=$?
	stop_proxy
	[ "$rc" = 0 ] && [ "$(mints_of "$k1")" = "$n1" ]
}
test_empty_file_is_an_error_naming_the_profile() {
	: >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	refused "$HOME/key is empty"
}
test_file_emptied_after_use_is_an_error_never_the_old_key() {
	local k
	k=$(newkey)
	printf '%s\n' "$k" >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	token_with "$k" || return 1
	: >"$HOME/key"
	refused "is empty" && expect_no_leak "$k"
}
test_half_written_file_is_an_error_naming_the_profile() {
	printf 'sk-te' >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	refused "not a valid Model Studio key"
}
test_vanished_file_is_an_error_naming_profile_and_path() {
	source_profile "$HOME/gone/key"
	refused "$HOME/gone/key"
}
test_file_writable_by_others_is_refused() {
	newkey >"$HOME/key" && chmod 622 "$HOME/key"
	source_profile "$HOME/key"
	refused "other users can write it"
}
test_file_in_a_directory_others_can_write_is_refused() {
	mkdir "$HOME/open" && chmod 777 "$HOME/open"
	newkey >"$HOME/open/key" && chmod 600 "$HOME/open/key"
	source_profile "$HOME/open/key"
	refused "writable by other users"
}
test_fifo_is_refused_without_waiting() {
	mkfifo -m 600 "$HOME/key"
	source_profile "$HOME/key"
	refused "not a regular file"
}
test_file_owned_by_another_user_is_refused() {
	[ "$(id -u)" = 0 ] || { diag "needs root to give a file to another user"; return 77; }
	newkey >"$HOME/key" && chmod 600 "$HOME/key" && chown 65534 "$HOME/key"
	source_profile "$HOME/key"
	refused "belongs to another user"
}
test_key_credential_reads_the_credentials_directory() {
	local k
	k=$(newkey)
	# as systemd sets it up: a directory of the unit's credentials, 0400 files
	mkdir -m 500 "$TMPROOT/creds.$$" 2>/dev/null || true
	chmod 700 "$TMPROOT/creds.$$"
	printf '%s' "$k" >"$TMPROOT/creds.$$/dashscope-credential.p" && chmod 400 "$TMPROOT/creds.$$/dashscope-credential.p"
	chmod 500 "$TMPROOT/creds.$$"
	printf '[profile p]\nregion = singapore\nkey_credential = dashscope-credential.p\n' >>"$CONF"
	CREDENTIALS_DIRECTORY="$TMPROOT/creds.$$" token_with "$k"
}
test_key_credential_without_credentials_directory_says_so() {
	printf '[profile p]\nregion = singapore\nkey_credential = dashscope-credential.p\n' >>"$CONF"
	unset CREDENTIALS_DIRECTORY
	run token -p p
	expect_rc 3 && expect_out_empty && expect_err_has "CREDENTIALS_DIRECTORY is not set"
}
test_add_remove_store_erase_on_a_sourced_profile_exit_6_naming_the_file() {
	local k sum
	k=$(newkey)
	printf '%s\n' "$k" >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	sum=$(store_sum)
	run_in "$(newkey)" add p --region singapore
	expect_rc 6 && expect_err_has "$HOME/key" || return 1
	run remove p
	expect_rc 6 && expect_err_has "$HOME/key" || return 1
	run_in "$(printf 'profile=p\nregion=singapore\npassword=%s\n\n' "$(newkey)")" store
	expect_rc 6 && expect_err_has "$HOME/key" || return 1
	run_in "$(printf 'profile=p\npassword=%s\n\n' "$k")" erase
	expect_rc 6 && expect_err_has "$HOME/key" || return 1
	expect_store_unchanged "$sum" && [ "$(cat "$HOME/key")" = "$k" ]
}
test_sourced_profile_shadows_a_stored_one() {
	local k ks
	k=$(newkey) ks=$(newkey)
	add_key p "$ks" --region singapore || return 1
	printf '%s\n' "$k" >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	token_with "$k" && [ "$(mints_of "$ks")" = 0 ]
}
test_key_file_needs_a_region() {
	printf '[profile p]\nkey_file = %s\n' "$HOME/key" >>"$CONF"
	run list
	expect_rc 2 && expect_err_has "config:2:" && expect_err_has "region"
}
test_key_file_must_be_absolute() {
	printf '[profile p]\nregion = singapore\nkey_file = key\n' >>"$CONF"
	run list
	expect_rc 2 && expect_err_has "config:3: 'key_file' must be an absolute path"
}
test_user_key_file_refused_where_policy_allows_only_the_broker() {
	printf '[policy]\nallowed_stores = broker\n' >>"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	newkey >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	run token -p p
	expect_rc 6 && expect_out_empty && expect_err_has "allowed_stores"
}
test_list_and_status_show_the_source() {
	local k
	k=$(newkey)
	printf '%s\n' "$k" >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	run list
	expect_rc 0 && grep -q "^\* p .* key_file .*  $HOME/key\$" "$OUT" || { diag "$(cat "$OUT")"; return 1; }
	run list --json
	expect_rc 0 && python3 -c 'import json,sys; p = json.load(open(sys.argv[1]))[0]
sys.exit(0 if p["store"] == "key_file" and p["source"] == sys.argv[2] else 1)' "$OUT" "$HOME/key" || return 1
	run status
	expect_rc 0 && grep -q " p .*from key_file $HOME/key\$" "$OUT" && expect_no_leak "$k"
}
test_doctor_checks_the_key_file() {
	newkey >"$HOME/key" && chmod 600 "$HOME/key"
	source_profile "$HOME/key"
	run doctor
	grep -q "^\[ok\] *profile p: key_file $HOME/key is readable and holds a well-formed key" "$OUT" ||
		{ diag "$(cat "$OUT")"; return 1; }
	printf 'sk-te' >"$HOME/key"
	run doctor
	[ "$RC" != 0 ] && grep -q "^\[FAIL\] *Profile p: the key in $HOME/key is not a valid" "$OUT" ||
		{ diag "$(cat "$OUT")"; return 1; }
}

# ---- the broker: the administrator's key file, swapped under it ----
SVC=dashscope-credential
MADE_SVC=""
BROKER_PID=""
teardown() {
	[ -n "$MADE_SVC" ] && userdel "$SVC" 2>/dev/null
	cleanup
}
trap teardown EXIT
socket_listens() { ss -xlH 2>/dev/null | grep -qF -- " $1 "; }
broker_can_run() {
	[ "$(id -u)" = 0 ] || { echo "needs root (runs the broker as its service user)"; return 1; }
	local tool
	for tool in setpriv useradd ss systemd-socket-activate; do
		command -v "$tool" >/dev/null || { echo "$tool is missing"; return 1; }
	done
}
# with_broker FUNC: runs FUNC, then stops the broker it started
with_broker() {
	local rc
	"$1"
	rc=$?
	[ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
	return $rc
}
test_broker_mints_with_the_new_key_after_a_swap() { with_broker broker_swap; }
# start_key_broker SOURCE-LINE [ACTIVATE ARGS]: the broker as its service
# user, under systemd-socket-activate, serving profile org (root may use
# it) from SOURCE-LINE (-: from the system config $BCONF as it is); the
# client side set to ask it
BCONF="$TMPROOT/broker.conf"
start_key_broker() {
	local line=$1
	shift
	chmod 711 "$TMPROOT" "$HOME" && chmod -R a+rX "$SRV"
	SOCK="$TMPROOT/run/broker.sock" BLOG="$TMPROOT/broker.log"
	mkdir -p "$TMPROOT/run" "$TMPROOT/var" && chown "$SVC" "$TMPROOT/run" "$TMPROOT/var" && chmod 700 "$TMPROOT/var"
	[ "$line" = - ] ||
		printf '[defaults]\ntimeout = 3\nstore = broker\n[broker]\nroot = org\n[profile org]\nregion = singapore\n%s\n' \
			"$line" >"$BCONF"
	chmod 644 "$BCONF"
	systemd-socket-activate -l "$SOCK" "$@" -E PATH=/usr/bin:/bin -E HOME=/nonexistent \
		-E DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$BCONF" \
		-E DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE="$TMPROOT/var/keys" \
		-E DASHSCOPE_CREDENTIAL_ENDPOINT="$DASHSCOPE_CREDENTIAL_ENDPOINT" -E DASHSCOPE_CREDENTIAL_CA_FILE="$CA" \
		"$(command -v setpriv)" --reuid="$SVC" --regid="$SVC" --init-groups -- \
		"$DS" broker --log-stderr --idle-timeout 0 2>"$BLOG" </dev/null &
	BROKER_PID=$!
	wait_for socket_listens "$SOCK" || { diag "$(cat "$BLOG")"; return 1; }
	chmod 666 "$SOCK"
	export DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$BCONF" DASHSCOPE_CREDENTIAL_BROKER="$SOCK"
	unset DASHSCOPE_CREDENTIAL_STORE
}
broker_swap() {
	local k1 k2
	k1=$(newkey) k2=$(newkey)
	K8S="$TMPROOT/k8s.$$"
	k8s_write "$k1"
	chmod 755 "$K8S"
	start_key_broker "key_file = $K8S/api_key" || return 1
	local blog=$BLOG
	run token -p org -l 60
	expect_rc 0 && expect_no_leak "$k1" && [ "$(mints_of "$k1")" = 1 ] || { diag "$(cat "$blog")"; return 1; }
	k8s_write "$k2"
	# another lifetime: the broker's next mint, not its cache
	run token -p org -l 61
	expect_rc 0 && expect_no_leak "$k2" && [ "$(mints_of "$k2")" = 1 ] && [ "$(mints_of "$k1")" = 1 ] ||
		{ diag "$(cat "$blog")"; return 1; }
	# emptied: refused naming the profile, never the old key
	: >"$(readlink -f "$K8S/api_key")"
	run token -p org -l 62
	[ "$RC" != 0 ] && expect_out_empty && [ "$(mints_of "$k1")" = 1 ] && [ "$(mints_of "$k2")" = 1 ]
}

if broker_can_run >/dev/null && ! getent passwd "$SVC" >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SVC" ||
		bail_out "could not create $SVC"
	MADE_SVC=1
fi
# A key sealed with the host key (systemd-creds encrypt), opened into the
# service's credentials directory as LoadCredentialEncrypted= does
# (systemd-creds decrypt, the service user's 0400 file in its 0500
# directory), served by the broker through key_credential.
test_broker_sealed_credential_round_trip() { with_broker sealed_round_trip; }
sealed_round_trip() {
	local k creds=$TMPROOT/credentials/dashscope-credential-broker.service
	k=$(newkey)
	printf '%s' "$k" | systemd-creds encrypt --with-key=host --name=dashscope-credential.org - "$TMPROOT/sealed" 2>"$TMPROOT/creds.err" ||
		{ diag "$(cat "$TMPROOT/creds.err")"; return 1; }
	if grep -qF -- "$k" "$TMPROOT/sealed" || grep -qF -- "${k#sk-}" <(base64 -d "$TMPROOT/sealed" 2>/dev/null); then
		diag "the sealed file holds the key in plain text"
		return 1
	fi
	mkdir -p "$creds"
	systemd-creds decrypt --name=dashscope-credential.org "$TMPROOT/sealed" "$creds/dashscope-credential.org" 2>"$TMPROOT/creds.err" ||
		{ diag "$(cat "$TMPROOT/creds.err")"; return 1; }
	chmod 711 "$TMPROOT/credentials"
	chown -R "$SVC" "$creds" && chmod 400 "$creds/dashscope-credential.org" && chmod 500 "$creds"
	start_key_broker "key_credential = dashscope-credential.org" -E CREDENTIALS_DIRECTORY="$creds" || return 1
	run token -p org -l 60
	expect_rc 0 && expect_no_leak "$k" && grep -q '^st-' "$OUT" && [ "$(mints_of "$k")" = 1 ] ||
		{ diag "$(cat "$BLOG")"; return 1; }
}

# ---- add --system --sealed: the key sealed for the broker's service ----
# systemd's files go under a root of the test's own
# (DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT), never the machine's /etc; the host
# key seals (DASHSCOPE_CREDENTIAL_SEAL_WITH), whether or not a TPM2 is here.
SEALED=/etc/credstore.encrypted/dashscope-credential.org
DROPIN=/etc/systemd/system/dashscope-credential-broker.service.d/dashscope-credential.org.conf
sealed_root() {
	SROOT=$(mktemp -d "$TMPROOT/sysroot.XXXXXX") && chmod 755 "$SROOT" || return 1
	export DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT=$SROOT DASHSCOPE_CREDENTIAL_SEAL_WITH=host
	# (remove --system of a profile that is not sealed goes to the key file)
	export DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE="$TMPROOT/var.$RANDOM/keys"
	mkdir -p "${DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE%/*}"
	unset CREDENTIALS_DIRECTORY
}
# seal KEY [PROFILE [ARGS]]: add --system --sealed, the key on stdin
seal() {
	local k=$1 name=${2:-org}
	shift
	[ $# = 0 ] || shift
	run_in "$k" add --system --sealed "$name" --region singapore "$@"
}
# sealed_state: every file under the root and the system config, with
# modes and sums (what "nothing changed" compares)
sealed_state() {
	# (a directory's mtime changes when one made in it is taken back)
	(cd "$SROOT" && find . \( -type f -printf '%p %M %s %T@\n' \) -o \( ! -type f -printf '%p %M\n' \) | sort)
	sha256sum "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" 2>/dev/null
}
expect_state() {
	[ "$(sealed_state)" = "$1" ] && return 0
	diag "the files changed: $(sealed_state | tr '\n' '|')"
	return 1
}
# opened NAME PATH: what systemd-creds opens PATH to, as the service would
opened() { systemd-creds decrypt --name="$1" "$2" - 2>/dev/null; }

test_sealed_add_writes_the_sealed_key_the_drop_in_and_the_config() {
	local k
	k=$(newkey)
	sealed_root || return 1
	seal "$k" || return 1
	expect_rc 0 && expect_no_leak "$k" && expect_out_empty || return 1
	[ "$(stat -c '%U %a' "$SROOT$SEALED")" = "root 600" ] &&
		[ "$(stat -c '%U %a' "$SROOT$DROPIN")" = "root 644" ] ||
		{ diag "modes: $(stat -c '%n %U %a' "$SROOT$SEALED" "$SROOT$DROPIN")"; return 1; }
	[ "$(opened dashscope-credential.org "$SROOT$SEALED")" = "$k" ] || { diag "the sealed file does not open to the key"; return 1; }
	grep -qx "LoadCredentialEncrypted=dashscope-credential.org:$SEALED" "$SROOT$DROPIN" &&
		grep -qx '\[Service\]' "$SROOT$DROPIN" || { diag "drop-in: $(cat "$SROOT$DROPIN")"; return 1; }
	grep -qx 'key_credential = dashscope-credential.org' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" &&
		grep -qx '\[profile org\]' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" || { diag "config: $(cat "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")"; return 1; }
	# what the config now says parses, and names the source
	run list
	expect_rc 0 && grep -q "^. org .* key_credential .*dashscope-credential.org" "$OUT" || { diag "$(cat "$OUT")"; return 1; }
}
# Every program started on the way (systemd-creds above all) gets the key
# on a pipe: it is in no argv and no environment strace sees at execve.
test_sealed_key_is_in_no_argv_or_environment() {
	local k trace=$TMPROOT/trace.$$
	command -v strace >/dev/null || { diag "strace is missing"; return 77; }
	[ -z "${DS_SANITIZERS:-}" ] || { diag "strace and the sanitizers exclude each other"; return 77; }
	k=$(newkey)
	sealed_root || return 1
	printf '%s\n' "$k" | strace -f -qq -v -s 65536 -e trace=execve -o "$trace" \
		"$DS" add --system --sealed org --region singapore >"$OUT" 2>"$ERR"
	RC=$?
	grep -q "execve(\"$DS\"" "$trace" 2>/dev/null || { diag "strace cannot trace here: $(head -c 200 "$ERR")"; return 77; }
	expect_rc 0 && grep -q 'execve("[^"]*systemd-creds", \[[^]]*"encrypt"' "$trace" ||
		{ diag "systemd-creds was not seen: $(grep -c execve "$trace") execve"; return 1; }
	if grep -qF -- "${k#sk-}" "$trace"; then
		diag "the key is in an argv or environment"
		return 1
	fi
}
test_sealed_file_does_not_hold_the_key_in_plain_text() {
	local k
	k=$(newkey)
	sealed_root && seal "$k" && expect_rc 0 || return 1
	if grep -qF -- "${k#sk-}" "$SROOT$SEALED" || grep -qF -- "${k#sk-}" <(base64 -d "$SROOT$SEALED" 2>/dev/null); then
		diag "the sealed file holds the key in plain text"
		return 1
	fi
}
test_sealed_add_keeps_the_other_lines_of_the_system_config() {
	local k
	k=$(newkey)
	sealed_root || return 1
	printf '[profile org]\nlifetime = 120\nregion = eu\nworkspace = ws-old\n\n[profile other]\nregion = eu\n' >>"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	seal "$k" && expect_rc 0 || return 1
	python3 - "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" <<-'PY' || { diag "$(cat "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")"; return 1; }
		import configparser, sys
		c = configparser.ConfigParser(inline_comment_prefixes=("#",))
		c.read(sys.argv[1])
		org, other = c["profile org"], c["profile other"]
		assert dict(org) == {"lifetime": "120", "region": "ap-southeast-1",
		                     "key_credential": "dashscope-credential.org"}, dict(org)
		assert dict(other) == {"region": "eu"}, dict(other)
		assert c["defaults"]["timeout"] == "3" and c["policy"]["allow_long_lived"] == "yes"
	PY
	run remove --system org
	expect_rc 0 && grep -qx 'lifetime = 120' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" &&
		! grep -q 'key_credential\|ap-southeast-1' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" &&
		grep -qx '\[profile other\]' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" ||
		{ diag "$(cat "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")"; return 1; }
}
test_sealed_remove_system_removes_the_sealed_key_drop_in_and_config() {
	local k before
	k=$(newkey)
	sealed_root || return 1
	before=$(sha256sum <"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")
	seal "$k" && expect_rc 0 || return 1
	run remove --system org
	expect_rc 0 && expect_err_has "$SROOT$SEALED" && expect_err_has "$SROOT$DROPIN" || return 1
	[ ! -e "$SROOT$SEALED" ] && [ ! -e "$SROOT$DROPIN" ] ||
		{ diag "left: $(cd "$SROOT" && find . -type f)"; return 1; }
	[ "$(sha256sum <"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")" = "$before" ] ||
		{ diag "config: $(cat "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")"; return 1; }
	# and nothing is left to remove
	run remove --system org
	expect_rc 1 && expect_err_has "No stored profile is named org"
}
test_sealed_adds_at_once_lose_no_profile() {
	local i pids=""
	sealed_root || return 1
	for i in 1 2 3 4 5 6; do
		newkey | "$DS" add --system --sealed "p$i" --region singapore >/dev/null 2>"$TMPROOT/add.$i.err" &
		pids="$pids $!"
	done
	for i in $pids; do
		wait "$i" || { diag "$(cat "$TMPROOT"/add.*.err)"; return 1; }
	done
	for i in 1 2 3 4 5 6; do
		grep -qx "key_credential = dashscope-credential.p$i" "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" &&
			[ -s "$SROOT/etc/credstore.encrypted/dashscope-credential.p$i" ] ||
			{ diag "p$i was lost: $(cat "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG")"; return 1; }
	done
}
test_sealed_doctor_opens_a_good_one_and_names_the_fix_for_a_corrupted_one() {
	local k
	k=$(newkey)
	sealed_root && seal "$k" && expect_rc 0 || return 1
	run doctor
	expect_no_leak "$k" &&
		grep -q "^\[ok\] *profile org: the sealed credential $SROOT$SEALED opens and holds a well-formed key" "$OUT" ||
		{ diag "$(grep -i sealed "$OUT")"; return 1; }
	# one character of the sealed text changed: it no longer opens
	python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); i = len(b) // 2
b[i] = ord("A") if b[i] != ord("A") else ord("B"); open(p, "wb").write(b)' "$SROOT$SEALED"
	run doctor
	[ "$RC" != 0 ] && expect_no_leak "$k" &&
		grep -q "^\[FAIL\] *profile org: the sealed credential $SROOT$SEALED: systemd-creds cannot open it.*; fix: seal the key again: 'sudo dashscope-credential add --system --sealed org --region ap-southeast-1'" "$OUT" ||
		{ diag "$(grep -i sealed "$OUT")"; return 1; }
}
test_sealed_doctor_refuses_a_sealed_non_key() {
	sealed_root || return 1
	printf '[profile org]\nregion = singapore\nkey_credential = dashscope-credential.org\n' >>"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	mkdir -p "$SROOT${SEALED%/*}"
	printf 'not a key\r\n' | systemd-creds encrypt --with-key=host --name=dashscope-credential.org - "$SROOT$SEALED" 2>/dev/null || return 1
	run doctor
	[ "$RC" != 0 ] && grep -q "^\[FAIL\] *profile org: the sealed credential .*holds no valid Model Studio key" "$OUT" ||
		{ diag "$(grep -i sealed "$OUT")"; return 1; }
}
test_sealed_doctor_as_another_user_says_it_cannot_check() {
	local k
	k=$(newkey)
	sealed_root && seal "$k" && expect_rc 0 || return 1
	chmod 711 "$TMPROOT" "$HOME" && chmod 644 "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	mkdir -m 700 "$TMPROOT/nobody.$$" && chown 65534 "$TMPROOT/nobody.$$"
	setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TMPROOT/nobody.$$" \
		"$DS" doctor </dev/null >"$OUT" 2>"$ERR"
	grep -q "^\[warn\] *profile org: the sealed credential dashscope-credential.org can be checked by root only; fix: run 'sudo dashscope-credential doctor'" "$OUT" &&
		! grep -q '^\[FAIL\].*sealed' "$OUT" || { diag "$(cat "$OUT")"; return 1; }
}
# seal_fails_cleanly WORDS: add --system --sealed exits 3 naming WORDS,
# and every file is as it was
seal_fails_cleanly() {
	local k before
	k=$(newkey)
	before=$(sealed_state)
	seal "$k"
	expect_rc 3 && expect_no_leak "$k" && expect_err_has "$1" && expect_state "$before"
}
test_sealed_add_refused_before_writing_when_a_directory_cannot_be_made() {
	sealed_root || return 1
	# the drop-in's directory cannot be made: its parent is a file
	mkdir -p "$SROOT/etc/systemd" && : >"$SROOT/etc/systemd/system"
	seal_fails_cleanly "/etc/systemd/system"
}
# A directory that turns out not to be there only when it is written to
# (a link to nowhere: root may write anywhere, so permissions cannot
# stand in): what was written before is taken back, directories too.
test_sealed_add_failing_at_the_drop_in_leaves_nothing_behind() {
	sealed_root || return 1
	mkdir -p "$SROOT/etc" && ln -s "$SROOT/nowhere/systemd" "$SROOT/etc/systemd"
	seal_fails_cleanly "$SROOT/etc/systemd/system"
}
test_sealed_add_failing_at_the_config_leaves_nothing_behind() {
	sealed_root || return 1
	mkdir -p "$SROOT/etc" && ln -s "$SROOT/nowhere/config.d" "$SROOT/etc/dashscope-credential"
	export DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$SROOT/etc/dashscope-credential/config"
	seal_fails_cleanly "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
}
test_sealed_add_refuses_names_that_leave_the_directory() {
	local k before name
	k=$(newkey)
	sealed_root || return 1
	before=$(sealed_state)
	# (the name follows a prefix: "dashscope-credential.." stays inside)
	for name in ../org org/x ./../../x $'org\nx' 'sk-looks-like-a-key'; do
		seal "$k" "$name"
		expect_rc 2 && expect_no_leak "$k" && expect_state "$before" || { diag "name: $name"; return 1; }
	done
}
test_sealed_add_refuses_a_symlink_or_fifo_where_it_writes() {
	local k before
	k=$(newkey)
	sealed_root || return 1
	mkdir -p "$SROOT${SEALED%/*}" "$SROOT${DROPIN%/*}"
	: >"$TMPROOT/victim"
	ln -s "$TMPROOT/victim" "$SROOT$SEALED"
	before=$(sealed_state)
	seal "$k"
	expect_rc 3 && expect_err_has "$SROOT$SEALED" && expect_state "$before" && [ ! -s "$TMPROOT/victim" ] || return 1
	rm "$SROOT$SEALED" && mkfifo "$SROOT$DROPIN"
	before=$(sealed_state)
	printf '%s' "$k" | timeout -k 5 "$LIMIT" "$DS" add --system --sealed org --region singapore >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has "not a regular file" && expect_state "$before"
}
test_sealed_add_refuses_a_directory_another_user_owns() {
	local k before
	k=$(newkey)
	sealed_root || return 1
	mkdir -p "$SROOT/etc" "$TMPROOT/theirs.$$" && chown 65534 "$TMPROOT/theirs.$$"
	ln -s "$TMPROOT/theirs.$$" "$SROOT/etc/credstore.encrypted"
	before=$(sealed_state)
	seal "$k"
	expect_rc 3 && expect_err_has "belongs to another user" && expect_state "$before" &&
		[ -z "$(ls -A "$TMPROOT/theirs.$$")" ]
}
test_sealed_add_refused_where_the_system_config_names_a_key_file() {
	local k before
	k=$(newkey)
	sealed_root || return 1
	printf '[profile org]\nregion = singapore\nkey_file = /run/secrets/org\n' >>"$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	before=$(sealed_state)
	seal "$k"
	expect_rc 6 && expect_err_has "/run/secrets/org" && expect_state "$before"
}
test_add_sealed_without_system_is_a_usage_error() {
	sealed_root || return 1
	run_in "$(newkey)" add --sealed org --region singapore
	expect_rc 2 && expect_err_has "--system" && expect_out_empty
}
test_non_root_sealed_add_is_refused_in_one_sentence() {
	local k before
	k=$(newkey)
	sealed_root || return 1
	before=$(sealed_state)
	if [ "$(id -u)" = 0 ]; then
		chmod 711 "$TMPROOT" "$HOME" && chmod 644 "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
		printf '%s\n' "$k" | setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/nonexistent \
			"$DS" add --system --sealed org --region singapore >"$OUT" 2>"$ERR"
	else
		printf '%s\n' "$k" | "$DS" add --system --sealed org --region singapore >"$OUT" 2>"$ERR"
	fi
	RC=$?
	expect_rc 6 && expect_out_empty && expect_err_one_line && expect_err_has "needs root" &&
		expect_no_leak "$k" && expect_state "$before"
}
test_non_root_remove_system_is_refused_in_one_sentence() {
	local before
	sealed_root || return 1
	before=$(sealed_state)
	if [ "$(id -u)" = 0 ]; then
		chmod 711 "$TMPROOT" "$HOME" && chmod 644 "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
		setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/nonexistent \
			"$DS" remove --system org </dev/null >"$OUT" 2>"$ERR"
	else
		"$DS" remove --system org </dev/null >"$OUT" 2>"$ERR"
	fi
	RC=$?
	expect_rc 6 && expect_out_empty && expect_err_one_line && expect_err_has "needs root" &&
		expect_state "$before"
}
# ---- one key a profile: sealed or plain, never both ----
# The broker's key file (add --system without --sealed) is its service
# user's: that user must exist and reach it.
plain_root() {
	getent passwd "$SVC" >/dev/null || { diag "needs the service user $SVC"; return 77; }
	sealed_root && chmod 711 "$TMPROOT" || return 1
	KF=$DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE
}
# add_plain KEY [PROFILE]: add --system without --sealed, the key on stdin
add_plain() { run_in "$1" add --system "${2:-org}" --region singapore; }
# plain_has PROFILE: the broker's key file holds a plain key of PROFILE
plain_has() { grep -q "^$1	" "$KF" 2>/dev/null; }
# plain_beside_sealed KEY: a plain key of org beside its sealed one, as
# sealing before it took the plain copy out left them (added where no
# sealed key is seen: another systemd root, an empty system config)
plain_beside_sealed() {
	local other
	other=$(mktemp -d "$TMPROOT/other.XXXXXX") && chmod 755 "$other" || return 1
	DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT=$other DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG=/dev/null add_plain "$1"
	expect_rc 0 && plain_has org && [ -e "$SROOT$SEALED" ]
}
test_sealed_add_takes_out_the_plain_key_of_the_profile() {
	local k1 k2 k3
	k1=$(newkey) k2=$(newkey) k3=$(newkey)
	plain_root || return $?
	add_plain "$k1" && expect_rc 0 && add_plain "$k3" other && expect_rc 0 || return 1
	seal "$k2"
	expect_rc 0 && expect_no_leak "$k1" && expect_no_leak "$k2" || return 1
	[ "$(grep -c plain "$ERR")" = 1 ] &&
		expect_err_has "Removed the plain copy of profile org's key from the broker's key file $KF" || return 1
	! plain_has org && ! grep -qF -- "$k1" "$KF" && plain_has other && grep -qF -- "$k3" "$KF" ||
		{ diag "key file: $(cut -f1 "$KF" | tr '\n' '|')"; return 1; }
	# still the service user's file, as the file store keeps it
	[ "$(stat -c '%U %a' "$KF")" = "$SVC 600" ] || { diag "$(stat -c '%U %a' "$KF")"; return 1; }
	[ "$(opened dashscope-credential.org "$SROOT$SEALED")" = "$k2" ]
}
test_sealed_add_failing_at_the_plain_key_keeps_it_and_seals_nothing() {
	local k1 k2 before sum
	k1=$(newkey) k2=$(newkey)
	plain_root || return $?
	add_plain "$k1" && expect_rc 0 || return 1
	# the service user can read its key file but not replace it: the
	# last step fails, after the sealed key, drop-in and config
	chmod 500 "${KF%/*}"
	before=$(sealed_state) sum=$(sha256sum <"$KF")
	seal "$k2"
	expect_rc 3 && expect_no_leak "$k1" && expect_no_leak "$k2" && expect_err_has "$KF" &&
		expect_state "$before" || return 1
	[ "$(sha256sum <"$KF")" = "$sum" ] && plain_has org || { diag "the plain key was lost"; return 1; }
}
test_sealed_add_refuses_a_plain_key_file_that_is_a_symlink_or_fifo() {
	local k1 k2 before sum
	k1=$(newkey) k2=$(newkey)
	plain_root || return $?
	add_plain "$k1" && expect_rc 0 || return 1
	mv "$KF" "$TMPROOT/plain.$$" && ln -s "$TMPROOT/plain.$$" "$KF"
	before=$(sealed_state) sum=$(sha256sum <"$TMPROOT/plain.$$")
	seal "$k2"
	expect_rc 3 && expect_err_has "$KF" && expect_err_has "symbolic link" && expect_no_leak "$k1" &&
		expect_no_leak "$k2" && expect_state "$before" || return 1
	[ -L "$KF" ] && [ "$(sha256sum <"$TMPROOT/plain.$$")" = "$sum" ] || { diag "the link or its target changed"; return 1; }
	rm "$KF" && mkfifo -m 600 "$KF" && chown "$SVC" "$KF"
	before=$(sealed_state)
	printf '%s' "$k2" | timeout -k 5 "$LIMIT" "$DS" add --system --sealed org --region singapore >"$OUT" 2>"$ERR"
	RC=$?
	[ "$RC" != 124 ] || { diag "the helper waited on the FIFO until killed"; return 1; }
	expect_rc 3 && expect_err_has "$KF" && expect_err_has "not a regular file" && expect_no_leak "$k2" &&
		expect_state "$before" && [ -p "$KF" ]
}
test_sealed_plain_add_over_a_sealed_profile_is_refused_naming_the_sealed_key() {
	local k1 k2 before
	k1=$(newkey) k2=$(newkey)
	plain_root || return $?
	seal "$k2" && expect_rc 0 || return 1
	before=$(sealed_state)
	add_plain "$k1"
	expect_rc 6 && expect_out_empty && expect_err_one_line && expect_err_has "$SROOT$SEALED" &&
		expect_err_has "remove --system org" && expect_no_leak "$k1" && expect_state "$before" &&
		! plain_has org
}
test_sealed_plain_add_refused_where_only_the_sealed_files_are_left() {
	local k1 k2
	k1=$(newkey) k2=$(newkey)
	plain_root || return $?
	seal "$k2" && expect_rc 0 || return 1
	# the config's line taken out by hand: the drop-in still loads the key
	sed -i '/^key_credential/d' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG"
	add_plain "$k1"
	expect_rc 6 && expect_err_has "$SROOT$SEALED" && expect_no_leak "$k1" && ! plain_has org
}
test_sealed_remove_system_takes_out_a_plain_key_left_beside_it() {
	local k1 k2
	k1=$(newkey) k2=$(newkey)
	plain_root || return $?
	seal "$k2" && expect_rc 0 && plain_beside_sealed "$k1" || return 1
	run remove --system org
	expect_rc 0 && expect_err_has "the plain copy of the key in $KF" && expect_no_leak "$k1" || return 1
	! plain_has org && [ ! -e "$SROOT$SEALED" ] || { diag "left: $(cut -f1 "$KF" | tr '\n' '|')"; return 1; }
	# nothing takes over: the profile is gone
	run remove --system org
	expect_rc 1 && expect_err_has "No stored profile is named org"
}
test_sealed_doctor_reports_a_plain_key_beside_the_sealed_one() {
	local k1 k2
	k1=$(newkey) k2=$(newkey)
	plain_root || return $?
	seal "$k2" && expect_rc 0 && plain_beside_sealed "$k1" || return 1
	run doctor
	[ "$RC" != 0 ] && expect_no_leak "$k1" && expect_no_leak "$k2" &&
		grep -q "^\[FAIL\] *profile org has a sealed key and a plain copy of a key in the broker's key file $KF.*; fix: seal the key again, which takes the plain copy out: 'sudo dashscope-credential add --system --sealed org --region ap-southeast-1'" "$OUT" ||
		{ diag "$(grep -i 'org' "$OUT")"; return 1; }
	seal "$k2" && expect_rc 0 || return 1
	run doctor
	! grep -q "plain copy" "$OUT" || { diag "$(grep 'plain copy' "$OUT")"; return 1; }
}
test_sealed_remove_system_removes_the_drop_in_directory_it_emptied() {
	local k
	k=$(newkey)
	sealed_root || return 1
	seal "$k" && expect_rc 0 || return 1
	run remove --system org
	expect_rc 0 || return 1
	[ ! -e "$SROOT${DROPIN%/*}" ] || { diag "left: $(ls -A "$SROOT${DROPIN%/*}")"; return 1; }
	# systemd's shared directory stays, and so does a directory with an
	# administrator's override in it
	[ -d "$SROOT${SEALED%/*}" ] || { diag "$SROOT${SEALED%/*} was removed"; return 1; }
	seal "$k" && expect_rc 0 || return 1
	printf '[Service]\nEnvironment=X=1\n' >"$SROOT${DROPIN%/*}/override.conf"
	run remove --system org
	expect_rc 0 && [ -f "$SROOT${DROPIN%/*}/override.conf" ] && [ ! -e "$SROOT$DROPIN" ]
}
test_sealed_and_plain_adds_at_once_never_leave_both() {
	local i pids=""
	plain_root || return $?
	for i in 1 2 3 4; do
		newkey | "$DS" add --system org --region singapore >/dev/null 2>"$TMPROOT/plain.$i.err" &
		pids="$pids $!"
		newkey | "$DS" add --system --sealed org --region singapore >/dev/null 2>"$TMPROOT/sealed.$i.err" &
		pids="$pids $!"
	done
	# (a plain add after a sealed one is refused: exit 6)
	for i in $pids; do wait "$i"; done
	[ -e "$SROOT$SEALED" ] && grep -qx 'key_credential = dashscope-credential.org' "$DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG" ||
		{ diag "$(cat "$TMPROOT"/sealed.*.err)"; return 1; }
	! plain_has org || { diag "a plain key is left beside the sealed one"; return 1; }
}

# The broker, started as systemd starts it for the drop-in add wrote:
# LoadCredentialEncrypted= opened into the service's credentials
# directory, the system config as add left it.
test_broker_sealed_by_add_serves_a_temporary_key() { with_broker sealed_add_serves; }
sealed_add_serves() {
	local k line creds=$TMPROOT/credentials/dashscope-credential-broker.service
	k=$(newkey)
	sealed_root || return 1
	printf '[defaults]\ntimeout = 3\nstore = broker\n[broker]\nroot = org\n' >"$BCONF"
	DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG=$BCONF seal "$k"
	expect_rc 0 && expect_no_leak "$k" || return 1
	line=$(sed -n 's/^LoadCredentialEncrypted=//p' "$SROOT$DROPIN")
	mkdir -p "$creds"
	systemd-creds decrypt --name="${line%%:*}" "$SROOT${line#*:}" "$creds/${line%%:*}" 2>"$TMPROOT/creds.err" ||
		{ diag "$(cat "$TMPROOT/creds.err")"; return 1; }
	chmod 711 "$TMPROOT/credentials"
	chown -R "$SVC" "$creds" && chmod 400 "$creds/${line%%:*}" && chmod 500 "$creds"
	start_key_broker - -E CREDENTIALS_DIRECTORY="$creds" || return 1
	run token -p org -l 60
	expect_rc 0 && expect_no_leak "$k" && grep -q '^st-' "$OUT" && [ "$(mints_of "$k")" = 1 ] ||
		{ diag "$(cat "$BLOG")"; return 1; }
}

# systemd_creds_works: prints why not when systemd-creds cannot seal here
systemd_creds_works() {
	command -v systemd-creds >/dev/null || { echo "systemd-creds is missing"; return 1; }
	command -v systemd-socket-activate >/dev/null || { echo "systemd-socket-activate is missing"; return 1; }
	local out
	out=$(printf x | systemd-creds encrypt --with-key=host --name=probe - - 2>&1 >/dev/null) ||
		{ echo "systemd-creds encrypt --with-key=host fails here: $(printf %s "$out" | head -c 200)"; return 1; }
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	case $f in
	test_broker_*)
		why=$(broker_can_run) || { skip "$f" "$why"; continue; } ;;&
	test_broker_sealed_*)
		why=$(systemd_creds_works) || { skip "$f" "$why"; continue; } ;;
	test_sealed_*)
		[ "$(id -u)" = 0 ] || { skip "$f" "needs root (add --system)"; continue; }
		why=$(systemd_creds_works) || { skip "$f" "$why"; continue; } ;;
	esac
	t "$f"
done
finish

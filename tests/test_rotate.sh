#!/bin/bash
# SPDX-License-Identifier: MIT
# `rotate` (SPEC section 16) against the loopback double of Model
# Studio's key-management API and the ECS metadata service
# (tests/servers/modelstudio.py), which shares its state with the token
# server (a deleted key gets 401 InvalidApiKey there): a rotation end to
# end, each failure point ending in SPEC 16's state with nothing lost,
# the metadata path with no AccessKey anywhere, a bad signature refused,
# the quota, `rotate --check`, `add --access-key`, and no secret in any
# output.
. "$(dirname "$0")/lib.sh"

fresh_user
unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET ALIBABA_CLOUD_SECURITY_TOKEN \
	ALIBABA_CLOUD_ECS_METADATA ALIBABA_CLOUD_ECS_METADATA_DISABLED
start_server || bail_out "could not start the test server"
use_server
python3 "$TESTS_SRC/servers/modelstudio.py" "$SRV" </dev/null &
wait_file "$SRV/modelstudio-ports.json" || bail_out "could not start the key-management double"
eval "$(python3 -c 'import json,sys; [print("MS_%s=%d" % (k.upper(), v)) for k, v in json.load(open(sys.argv[1])).items()]' "$SRV/modelstudio-ports.json")"
export DASHSCOPE_CREDENTIAL_MANAGEMENT_ENDPOINT="https://127.0.0.1:$MS_API"
export DASHSCOPE_CREDENTIAL_METADATA_ENDPOINT="http://127.0.0.1:$MS_METADATA"
STATE="$SRV/modelstudio-state.json"
FAULTS="$SRV/faults.json"
MSLOG="$SRV/modelstudio.log"
AK_ID=LTAItestrotate
AK_SECRET="rotate-secret-$RANDOM$RANDOM$RANDOM"
WS=ws-rot
OLD_ID=11
mkdir -p "$HOME/.config/dashscope-credential"
printf '[defaults]\ntimeout = 5\n' >"$HOME/.config/dashscope-credential/config"
snapshot_home

# ms_reset: the double's state as each case starts: the test AccessKey,
# no keys, no role, no faults, an empty log.
ms_reset() {
	python3 - "$STATE" "$AK_ID" "$AK_SECRET" <<'EOF'
import json, os, sys
tmp = sys.argv[1] + ".tmp"
json.dump({"access_keys": {sys.argv[2]: sys.argv[3]}, "workspaces": {}}, open(tmp, "w"))
os.rename(tmp, sys.argv[1])
EOF
	rm -f "$FAULTS"
	: >"$MSLOG"
}
# ms_seed ID VALUE [AUTH_JSON]: a key of workspace $WS, as made in the console.
ms_seed() {
	python3 - "$STATE" "$WS" "$1" "$2" "${3:-}" <<'EOF'
import json, os, sys
path, ws, kid, value, auth = sys.argv[1:6]
st = json.load(open(path))
key = {"id": int(kid), "value": value, "description": "ci bot", "created": 1764000000000}
if auth:
    key["auth_out"] = json.loads(auth)
st.setdefault("workspaces", {}).setdefault(ws, []).append(key)
tmp = path + ".tmp"
json.dump(st, open(tmp, "w"))
os.rename(tmp, path)
EOF
}
# ms_set KEY JSON: one top-level field of the state (the metadata role).
ms_set() {
	python3 - "$STATE" "$1" "$2" <<'EOF'
import json, os, sys
st = json.load(open(sys.argv[1]))
st[sys.argv[2]] = json.loads(sys.argv[3])
json.dump(st, open(sys.argv[1] + ".tmp", "w"))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
EOF
}
fault() { printf '%s\n' "$1" >"$FAULTS"; }
# ms_keys: "ID VALUE" of every live key of $WS.
ms_keys() {
	python3 -c 'import json,sys; [print(k["id"], k["value"]) for k in json.load(open(sys.argv[1])).get("workspaces", {}).get(sys.argv[2], [])]' "$STATE" "$WS"
}
ms_has_id() { ms_keys | grep "^$1 " >/dev/null; }
ms_log_has() { grep -q -- "$1" "$MSLOG"; }

# A profile p holding a console-made key (id $OLD_ID), and the AccessKey
# in the environment.
setup_old() {
	ms_reset
	OLD="sk-test-ok-$RANDOM$RANDOM$RANDOM"
	ms_seed "$OLD_ID" "$OLD" "${1:-}"
	add_key p "$OLD" --region singapore --workspace "$WS" || { diag "add failed"; return 1; }
	BEFORE=$(store_sum)
}
use_env_access_key() {
	export ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" ALIBABA_CLOUD_ACCESS_KEY_SECRET="$AK_SECRET"
}
rotate() {
	run_limited rotate "$@"
}
# field N of profile p's line in the key file (5: key, 6: key id)
stored() { awk -F'\t' -v n="$1" '$1 == "p" { print $n }' "$KEYFILE"; }
# mints KEY: the token endpoint takes KEY (exit 0), or refuses it (4).
mints_with() {
	add_key probe "$1" --region singapore --workspace "$WS" || return 1
	"$DS" token -p probe </dev/null >/dev/null 2>&1
}
no_secret_shown() {
	local s
	for s in "$OLD" "$AK_SECRET" $(ms_keys | awk '{ print $2 }'); do
		expect_no_leak "$s" || return 1
	done
}
# The state every failure before the store must leave: the key file as
# it was, the old key in the workspace and still minting.
old_key_in_use() {
	expect_store_unchanged "$BEFORE" && ms_has_id "$OLD_ID" && mints_with "$OLD" ||
		{ diag "the old key is not in use as before"; return 1; }
}

test_rotation_replaces_the_key_end_to_end() {
	setup_old && use_env_access_key || return 1
	rotate p
	expect_rc 0 && expect_err_has "old key (id $OLD_ID) is deleted" || return 1
	local new_id new_value
	new_id=$(stored 6)
	new_value=$(stored 5)
	# the store holds the new key and its id, as the service made them
	[ -n "$new_id" ] && [ "$new_id" != "$OLD_ID" ] && ms_has_id "$new_id" &&
		[ "$(ms_keys | awk -v id="$new_id" '$1 == id { print $2 }')" = "$new_value" ] ||
		{ diag "the store does not hold the new key and id ($new_id)"; return 1; }
	! ms_has_id "$OLD_ID" || { diag "the old key was not deleted"; return 1; }
	no_secret_shown || return 1
	# the old key no longer mints (401), the new one does
	run token -p p
	expect_rc 0 || return 1
	mints_with "$OLD"
	[ $? = 4 ] || { diag "the old key still mints"; return 1; }
}

test_rotation_checks_the_new_key_with_a_one_second_mint() {
	setup_old && use_env_access_key || return 1
	rotate p
	expect_rc 0 || return 1
	grep -q '"query": "expire_in_seconds=1", "key": "'"$(stored 5)"'"' "$SERVER_LOG" ||
		{ diag "no 1-second mint with the new key"; return 1; }
}

test_rotation_copies_description_and_ip_limits() {
	setup_old '{"type": "Custom", "accessIps": ["10.0.0.1", "192.168.1.0/24"]}' &&
		use_env_access_key || return 1
	rotate p
	expect_rc 0 || return 1
	grep '"action": "CreateApiKey"' "$MSLOG" | grep '"description": "ci bot"' |
		grep -q '"auth.type": "Custom", "auth.accessIps.1": "10.0.0.1", "auth.accessIps.2": "192.168.1.0/24"' ||
		{ diag "create did not copy the old key's limits: $(grep CreateApiKey "$MSLOG")"; return 1; }
}

test_second_rotation_uses_the_stored_key_id() {
	setup_old && use_env_access_key || return 1
	rotate p
	expect_rc 0 || return 1
	local first
	first=$(stored 6)
	: >"$MSLOG"
	rotate p
	expect_rc 0 || return 1
	# found by id (a list filtered on it), and the first new key deleted
	grep '"action": "DeleteApiKey"' "$MSLOG" | grep -q "\"id\": $first" &&
		! ms_has_id "$first" && [ "$(stored 6)" != "$first" ] ||
		{ diag "the second rotation did not replace key $first"; return 1; }
}

test_old_key_found_on_the_second_page_of_the_list() {
	setup_old && use_env_access_key || return 1
	# twelve older keys first: the double's pages hold ten
	python3 - "$STATE" "$WS" "$OLD_ID" <<'EOF' || return 1
import json, os, sys
st = json.load(open(sys.argv[1]))
keys = st["workspaces"][sys.argv[2]]
old = [k for k in keys if k["id"] == int(sys.argv[3])]
st["workspaces"][sys.argv[2]] = [{"id": 100 + i, "value": "sk-other-%04dxyzw" % i, "description": "x",
                                  "created": 1} for i in range(12)] + old
json.dump(st, open(sys.argv[1] + ".tmp", "w"))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
EOF
	rotate p
	expect_rc 0 && ! ms_has_id "$OLD_ID" && grep -q '"start": 10' "$MSLOG" ||
		{ diag "the second page was not read"; return 1; }
}

test_create_refused_leaves_the_old_key_in_use() {
	setup_old && use_env_access_key || return 1
	fault '{"CreateApiKey": "refuse"}'
	rotate p
	expect_rc 4 && expect_err_one_line && expect_err_has "old key (id $OLD_ID) stays in use" &&
		old_key_in_use && no_secret_shown || return 1
	[ "$(ms_keys | wc -l)" = 1 ] || { diag "a key was made"; return 1; }
}

test_create_answer_lost_leaves_the_old_key_in_use() {
	setup_old && use_env_access_key || return 1
	fault '{"CreateApiKey": "lose"}'
	rotate p
	# the double made a key whose value nobody received: the message says
	# where to find it; the old key is untouched
	expect_rc 5 && expect_err_has "CreateApiKey got no answer" &&
		expect_err_has "'ci bot'" && expect_err_has "old key (id $OLD_ID) stays in use" &&
		old_key_in_use && no_secret_shown || return 1
	[ "$(grep -c '"action": "CreateApiKey"' "$MSLOG")" = 1 ] ||
		{ diag "CreateApiKey was sent again"; return 1; }
}

test_store_failure_deletes_the_new_key_and_keeps_the_old() {
	setup_old && use_env_access_key || return 1
	local shim="$abs_top_builddir/tests/.libs/fail_rename.so"
	[ -e "$shim" ] || shim="$abs_top_builddir/tests/fail_rename.so"
	[ -e "$shim" ] || { diag "no $shim"; return 1; }
	LD_PRELOAD="$shim" timeout -k 5 "$LIMIT" "$DS" rotate p </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 3 && expect_err_has "could not be stored" && expect_err_has "deleted again" &&
		expect_err_has "old key (id $OLD_ID) stays in use" && old_key_in_use &&
		no_secret_shown || return 1
	# the key nobody holds is gone again
	[ "$(ms_keys | wc -l)" = 1 ] && ms_log_has '"action": "DeleteApiKey"' ||
		{ diag "the new key was left behind: $(ms_keys | awk '{print $1}' | tr '\n' ' ')"; return 1; }
}

test_verify_mint_failure_keeps_the_old_key_and_names_it() {
	setup_old && use_env_access_key || return 1
	fault '{"mint": "refuse"}'
	rotate p
	# after the store: the new key is the profile's, the old one is not
	# deleted and its id is given for the console
	expect_rc 4 && expect_err_has "could not mint" &&
		expect_err_has "old key (id $OLD_ID) was not deleted" && no_secret_shown || return 1
	ms_has_id "$OLD_ID" && ms_has_id "$(stored 6)" && [ "$(stored 5)" != "$OLD" ] &&
		mints_with "$OLD" || { diag "not the state SPEC 16 says"; return 1; }
}

test_delete_failure_names_the_old_key() {
	setup_old && use_env_access_key || return 1
	fault '{"DeleteApiKey": "refuse"}'
	rotate p
	expect_rc 4 && expect_err_has "old key (id $OLD_ID) could not be deleted" &&
		no_secret_shown || return 1
	ms_has_id "$OLD_ID" && [ "$(stored 5)" != "$OLD" ] && ms_has_id "$(stored 6)" ||
		{ diag "not the state SPEC 16 says"; return 1; }
	run token -p p
	expect_rc 0
}

test_metadata_role_rotates_with_no_access_key_anywhere() {
	setup_old || return 1
	ms_set role '"rotate-role"'
	rotate p
	expect_rc 0 && no_secret_shown || return 1
	# IMDSv2: a token, the role's name, its credentials; and the STS
	# token went with the signed calls
	ms_log_has '"metadata": "token"' && ms_log_has '"metadata": "role"' &&
		ms_log_has '"metadata": "credentials"' &&
		grep '"action": "CreateApiKey"' "$MSLOG" | grep -q '"sts": true' ||
		{ diag "the role's credentials were not used: $(head -c 600 "$MSLOG")"; return 1; }
}

# The double refuses what the service refuses (each case signed by
# tests/servers/ms_probe.py; "ok" shows that the probe itself signs right).
probe() {
	PROBE=$(python3 "$TESTS_SRC/servers/ms_probe.py" "$SRV" "$AK_ID" "$AK_SECRET" "$1")
	[ "$PROBE" = "$2" ] || { diag "$1: got '$PROBE', want '$2'"; return 1; }
}
test_double_takes_a_well_signed_request() {
	ms_reset
	probe ok "200 "
}
test_double_refuses_a_replayed_nonce() {
	ms_reset
	probe replay "400 SignatureNonceUsed"
}
test_double_refuses_a_date_outside_15_minutes() {
	ms_reset
	probe stale "400 InvalidTimeStamp.Expired"
}
test_double_takes_role_credentials_with_their_token_only() {
	ms_reset
	ms_set role '"probe-role"'
	probe sts "200 " && probe sts-without-token "400 InvalidSecurityToken.Mismatch"
}
test_double_refuses_a_body_that_is_not_the_one_hashed() {
	ms_reset
	probe body-changed "400 InvalidContentSha256"
}

test_no_credentials_anywhere_is_a_clear_error() {
	setup_old || return 1
	rotate p
	expect_rc 1 && expect_err_one_line && expect_err_has "add --access-key p" &&
		old_key_in_use
}

test_bad_signature_is_refused_by_the_double() {
	setup_old || return 1
	export ALIBABA_CLOUD_ACCESS_KEY_ID="$AK_ID" ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-$AK_SECRET"
	rotate p
	expect_rc 1 && expect_err_has "SignatureDoesNotMatch" && old_key_in_use &&
		expect_no_leak "not-$AK_SECRET"
}

test_quota_full_is_refused_before_anything_is_made() {
	setup_old && use_env_access_key || return 1
	local i
	for i in $(seq 1 19); do
		ms_seed $((200 + i)) "sk-fill-$i-abcdefgh" || return 1
	done
	rotate p
	expect_rc 1 && expect_err_has "holds 20 keys" && expect_err_has "old key (id $OLD_ID) stays in use" &&
		old_key_in_use || return 1
	! ms_log_has '"action": "CreateApiKey"' || { diag "a key was asked for"; return 1; }
}

test_stored_access_key_is_used_and_kept_out_of_listings() {
	setup_old || return 1
	printf '%s\n%s\n' "$AK_ID" "$AK_SECRET" | "$DS" add --access-key p >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_no_leak "$AK_SECRET" || return 1
	! grep -rqF -- "$AK_SECRET" "$HOME/.config" || { diag "the secret is in a config file"; return 1; }
	run list
	expect_rc 0 && expect_out_lacks "access-key" && expect_no_leak "$AK_SECRET" || return 1
	rotate p
	expect_rc 0 && no_secret_shown
}

test_add_access_key_needs_the_profile() {
	printf '%s\n%s\n' "$AK_ID" "$AK_SECRET" | "$DS" add --access-key nosuch >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 1 && expect_err_has "No stored profile is named nosuch" && [ ! -e "$KEYFILE" ]
}

test_remove_takes_the_access_key_along() {
	setup_old || return 1
	printf '%s\n%s\n' "$AK_ID" "$AK_SECRET" | "$DS" add --access-key p >/dev/null 2>&1 || return 1
	run remove p
	expect_rc 0 || return 1
	! grep -qF -- "$AK_SECRET" "$KEYFILE" || { diag "the AccessKey outlived its profile"; return 1; }
}

test_add_learns_the_key_id_when_credentials_are_at_hand() {
	ms_reset
	OLD="sk-test-ok-$RANDOM$RANDOM$RANDOM"
	ms_seed "$OLD_ID" "$OLD"
	use_env_access_key
	printf '%s\n' "$OLD" | "$DS" add p --region singapore --workspace "$WS" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 && expect_err_has "Its id in Model Studio is $OLD_ID" && [ "$(stored 6)" = "$OLD_ID" ] &&
		no_secret_shown
}

test_add_without_credentials_stores_no_id() {
	ms_reset
	OLD="sk-test-ok-$RANDOM$RANDOM$RANDOM"
	ms_seed "$OLD_ID" "$OLD"
	unset DASHSCOPE_CREDENTIAL_METADATA_ENDPOINT
	printf '%s\n' "$OLD" | "$DS" add p --region singapore --workspace "$WS" >"$OUT" 2>"$ERR"
	RC=$?
	# nothing at hand: no call at all, the key stored as always
	expect_rc 0 && [ -z "$(stored 6)" ] && [ "$(stored 5)" = "$OLD" ] &&
		[ ! -s "$MSLOG" ] && ! grep -q "note" "$ERR"
}

test_rotate_check_says_when_the_key_was_made() {
	setup_old && use_env_access_key || return 1
	BEFORE=$(store_sum)
	run_limited rotate --check
	expect_rc 0 && grep -qE "^p +key id $OLD_ID +created 2025-11-24 " "$OUT" &&
		old_key_in_use && ! ms_log_has '"action": "CreateApiKey"' ||
		{ diag "stdout: $(cat "$OUT")"; return 1; }
}

test_rotate_refuses_a_coding_plan_profile() {
	ms_reset
	add_key cp "sk-sp-test-$RANDOM$RANDOM" --region singapore || return 1
	use_env_access_key
	rotate cp
	expect_rc 2 && expect_err_has "Coding Plan" && ! ms_log_has CreateApiKey
}

test_rotate_of_an_unknown_profile_fails() {
	ms_reset
	use_env_access_key
	rotate nosuch
	expect_rc 1 && expect_err_has "No stored profile is named nosuch"
}

# system_org TOOLS...: root with the service user (made when missing:
# MADE=1), TOOLS at hand (else 77), and a broker profile org holding a
# console-made key (id $OLD_ID) in a system key file under $TMPROOT.
system_org() {
	[ "$(id -u)" = 0 ] || return 77
	local tool
	for tool in useradd "$@"; do
		command -v "$tool" >/dev/null || return 77
	done
	MADE=""
	svc_lock -x || return 1
	if ! getent passwd "$SVC" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			"$SVC" || return 1
		MADE=1
	fi
	svc_lock -s
	# the service user reaches the CA file, the key directory and the socket
	chmod 711 "$TMPROOT" && chmod -R a+rX "$SRV" || return 1
	mkdir -p "$TMPROOT/var/lib" "$TMPROOT/run/svc" && chmod 755 "$TMPROOT/var" "$TMPROOT/var/lib" &&
		chown "$SVC" "$TMPROOT/run/svc" || return 1
	export DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE="$TMPROOT/var/lib/dashscope-credential/keys"
	ms_reset
	OLD="sk-test-ok-sys$RANDOM$RANDOM"
	ms_seed "$OLD_ID" "$OLD"
	printf '%s\n' "$OLD" | "$DS" add --system org --region singapore --workspace "$WS" >"$OUT" 2>"$ERR" ||
		{ diag "add --system: $(cat "$ERR")"; return 1; }
}

# rotate --system while the broker serves the profile: the broker's next
# mint uses the new key, which the rotation stored in the system key file
# as the service user. Root only (the service user, setpriv).
test_rotate_system_while_a_broker_serves() {
	local made sock blog bconf new broker
	system_org setpriv ss || return $?
	made=$MADE
	bconf="$TMPROOT/broker.conf"
	printf '[defaults]\ntimeout = 5\n[broker]\nroot = org\nrate = 1000/min\n' >"$bconf"
	chmod 644 "$bconf"
	sock="$TMPROOT/run/svc/broker.sock"
	blog="$TMPROOT/broker.log"
	HOME=/nonexistent DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$bconf" \
		setpriv --reuid="$SVC" --regid="$SVC" --init-groups "$DS" broker --listen "$sock" \
		--log-stderr 2>"$blog" &
	broker=$!
	wait_for sh -c "ss -xlH 2>/dev/null | grep -qF -- ' $sock '" || { kill "$broker"; return 1; }
	client() {
		DASHSCOPE_CREDENTIAL_STORE=broker DASHSCOPE_CREDENTIAL_BROKER="$sock" \
			DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG="$bconf" run token -p org "$@"
	}
	client -l 61
	expect_rc 0 || { kill "$broker"; diag "broker: $(tail -c 300 "$blog")"; return 1; }
	use_env_access_key
	rotate --system org
	expect_rc 0 && no_secret_shown || { kill "$broker"; return 1; }
	new=$(awk -F'\t' '$1 == "org" { print $5 }' "$DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE")
	[ -n "$new" ] && [ "$new" != "$OLD" ] && [ "$(stat -c %U "$DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE")" = "$SVC" ] ||
		{ kill "$broker"; diag "the system key file does not hold the new key as $SVC's"; return 1; }
	# another lifetime: not a cached key, a mint with the new long-lived key
	client -l 62
	kill "$broker"
	wait "$broker" 2>/dev/null
	[ -z "$made" ] || svc_remove_if_made "$made"
	expect_rc 0 && grep -q '"query": "expire_in_seconds=62", "key": "'"$new"'"' "$SERVER_LOG" ||
		{ diag "the broker did not mint with the new key"; return 1; }
}

# rotate --system while add --system --sealed seals the same profile:
# rotate waits for the lock sealing holds (held here, as a sealing add
# holds it), sends Model Studio nothing meanwhile, then finds the profile
# sealed and refuses as a plain add --system does (exit 6): no plain new
# key beside the sealed one, and the old key, which the sealed copy
# holds, not deleted. Root only (the service user).
SEALED=/etc/credstore.encrypted/dashscope-credential.org
# waits_or_ended PID DIR: process PID has DIR (where the sealing lock is)
# open, or has ended (a zombie of ours until waited for)
waits_or_ended() {
	local fd state
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" != "$2" ] || return 0
	done
	read -r _ _ state _ <"/proc/$1/stat" 2>/dev/null || return 0
	[ "$state" = Z ]
}
test_rotate_system_waits_for_sealing_and_refuses_the_sealed_profile() {
	local sroot lk pid before
	command -v flock >/dev/null || return 77
	system_org || return $?
	sroot=$(mktemp -d "$TMPROOT/sysroot.XXXXXX") && chmod 755 "$sroot" || return 1
	export DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT=$sroot
	use_env_access_key
	: >"$MSLOG"
	before=$(sha256sum <"$DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE")
	exec {lk}<"$sroot"
	flock -x "$lk" || return 1
	# (without the lock's descriptor, which would hold the lock for it)
	"$DS" rotate --system org </dev/null >"$OUT" 2>"$ERR" {lk}<&- &
	pid=$!
	wait_for waits_or_ended "$pid" "$sroot" || return 1
	if [ "$(awk '{ print $3 }' "/proc/$pid/stat")" = Z ] || ms_log_has '"action"'; then
		exec {lk}<&-
		wait "$pid"
		diag "rotate went on while the profile was being sealed: $(head -c 300 "$ERR")"
		return 1
	fi
	# sealed meanwhile: the sealed file, as add --system --sealed leaves it
	mkdir -p "$sroot${SEALED%/*}" && printf 'sealed\n' >"$sroot$SEALED" || return 1
	exec {lk}<&-
	wait "$pid"
	RC=$?
	expect_rc 6 && expect_out_empty && expect_err_one_line && expect_err_has "$sroot$SEALED" &&
		no_secret_shown || return 1
	[ "$(sha256sum <"$DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE")" = "$before" ] ||
		{ diag "the system key file changed"; return 1; }
	ms_has_id "$OLD_ID" && [ "$(ms_keys | wc -l)" = 1 ] && ! ms_log_has CreateApiKey &&
		! ms_log_has DeleteApiKey || { diag "Model Studio changed: $(cat "$MSLOG")"; return 1; }
	svc_remove_if_made "$MADE"
}

# The README's monthly timer: two units that systemd-analyze verify takes
# as they are written (the binary's path made this build's).
test_readme_rotate_timer_units_verify() {
	command -v systemd-analyze >/dev/null || return 77
	local dir="$TMPROOT/units" out
	mkdir -p "$dir"
	readme_block rotate-timer | sed "s|/usr/bin/dashscope-credential|$DS_REAL|" |
		awk -v dir="$dir" '/^# \/etc\/systemd\/system\// { f = dir "/" substr($2, 21); next } f { print > f }'
	[ -s "$dir/dashscope-credential-rotate.service" ] && [ -s "$dir/dashscope-credential-rotate.timer" ] ||
		{ diag "the README has not the two units"; return 1; }
	grep -q "rotate --system org" "$dir/dashscope-credential-rotate.service" &&
		grep -qx "OnCalendar=monthly" "$dir/dashscope-credential-rotate.timer" || return 1
	out=$(cd "$dir" && systemd-analyze verify --man=no ./dashscope-credential-rotate.timer \
		./dashscope-credential-rotate.service 2>&1)
	[ -z "$out" ] || { diag "$out"; return 1; }
}

t test_rotation_replaces_the_key_end_to_end
t test_rotation_checks_the_new_key_with_a_one_second_mint
t test_rotation_copies_description_and_ip_limits
t test_second_rotation_uses_the_stored_key_id
t test_old_key_found_on_the_second_page_of_the_list
t test_create_refused_leaves_the_old_key_in_use
t test_create_answer_lost_leaves_the_old_key_in_use
t test_store_failure_deletes_the_new_key_and_keeps_the_old
t test_verify_mint_failure_keeps_the_old_key_and_names_it
t test_delete_failure_names_the_old_key
t test_metadata_role_rotates_with_no_access_key_anywhere
t test_no_credentials_anywhere_is_a_clear_error
t test_double_takes_a_well_signed_request
t test_double_refuses_a_replayed_nonce
t test_double_refuses_a_date_outside_15_minutes
t test_double_takes_role_credentials_with_their_token_only
t test_double_refuses_a_body_that_is_not_the_one_hashed
t test_bad_signature_is_refused_by_the_double
t test_quota_full_is_refused_before_anything_is_made
t test_stored_access_key_is_used_and_kept_out_of_listings
t test_add_access_key_needs_the_profile
t test_remove_takes_the_access_key_along
t test_add_learns_the_key_id_when_credentials_are_at_hand
t test_add_without_credentials_stores_no_id
t test_rotate_check_says_when_the_key_was_made
t test_rotate_refuses_a_coding_plan_profile
t test_rotate_of_an_unknown_profile_fails
t test_rotate_system_while_a_broker_serves
t test_rotate_system_waits_for_sealing_and_refuses_the_sealed_profile
t test_readme_rotate_timer_units_verify
finish

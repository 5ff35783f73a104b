#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_dashscope through a real PAM stack: libpamtest under pam_wrapper with
# service files made here with absolute paths, the real helper and fake
# ones, a test user when run as root; plus the dlopen/export check.
. "$(dirname "$0")/lib.sh"

MOD="$abs_top_builddir/.libs/pam_dashscope.so"
WRAPPER=$(ls /usr/lib/*/libpam_wrapper.so /usr/lib/libpam_wrapper.so 2>/dev/null | head -n1)
PAMTEST="$abs_top_builddir/tests/pam_test"
[ -x "$PAMTEST" ] && [ -n "$WRAPPER" ] || skip_all "libpamtest or pam_wrapper is not installed"

test_module_loads_with_rtld_now_and_exports_only_hooks() {
	"$abs_top_builddir/tests/pam_dlopen" "$MOD" || return 1
	local exported
	exported=$(nm -D --defined-only "$MOD" | awk '{print $3}' | grep -v '^pam_sm_' || true)
	[ -z "$exported" ] || { diag "also exported: $exported"; return 1; }
}
test_module_links_neither_libsecret_nor_libcurl() {
	! ldd "$MOD" | grep -E 'libsecret|libcurl|libjansson'
}
# only the read side of the common code: no protocol reader, shell
# quoting, config or file writer, key handling or profile selection
test_module_carries_only_the_read_side() {
	local found
	found=$(nm "$MOD" | awk '{print $NF}' | grep -E '^(request_|proto_|shell_|conf_set_default_profile$|write_atomic$|secret_|key_check$|key_tail$|profile_list_|select_profile$)' || true)
	[ -z "$found" ] || { diag "the module carries: $(echo $found)"; return 1; }
}
# SPEC section 8: under su/sudo the environment is the caller's
test_module_takes_nothing_from_the_environment() {
	local found
	found=$(nm -D --undefined-only "$MOD" | grep -E ' (secure_)?getenv(@|$)' || true)
	[ -z "$found" ] || { diag "the module calls: $found"; return 1; }
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done

# everything the module or the helper (maybe as another user) reads
D="$TMPROOT/pam"
mkdir -p "$D/services" "$D/bin"
chmod 755 "$TMPROOT" "$D" "$D/bin"
helper() { printf '#!/bin/sh\n%s\n' "$2" >"$D/bin/$1"; chmod 755 "$D/bin/$1"; }
helper fake-ok 'echo DASHSCOPE_API_REGION=ap-southeast-1; echo OPENAI_BASE_URL=https://dashscope-intl.aliyuncs.com/compatible-mode/v1'
helper fake-fail 'echo DASHSCOPE_API_REGION=cn-beijing; exit 1'
# a helper that hangs sleeps an hour: a session that returns at all was
# ended by the module, not by the helper
helper fake-sleep 'exec sleep 3600'
helper fake-names 'cat <<X
LD_PRELOAD=/tmp/evil.so
PATH=/evil
DASHSCOPE_API_KEY=sk-leaked-1234
OPENAI_API_KEY=st-leaked-5678
ANTHROPIC_AUTH_TOKEN=whatever
OPENAI_MODEL=sk-looks-like-a-key
ANTHROPIC_BASE_URL=https://x/$(printf "\033")[31m
DASHSCOPE_API_REGION=us-east-1
X'
helper fake-flood 'head -c 2000000 /dev/zero | tr "\0" A; echo; echo DASHSCOPE_API_REGION=cn-beijing'
helper fake-closed 'exec >&- 2>&-; exec sleep 3600'
helper fake-args 'r=none; while [ $# -gt 0 ]; do [ "$1" = --region ] && r=$2; shift; done; echo DASHSCOPE_API_REGION=$r'
helper fake-reason 'printf "store unavailable: key sk-abcdef123456 \033[31mred\nsecond line\n" >&2; exit 3'
helper fake-uid 'echo DASHSCOPE_CREDENTIAL_PROFILE=$(id -u)
if /usr/bin/setpriv --reuid=0 --regid=0 --clear-groups true 2>/dev/null; then echo DASHSCOPE_API_REGION=regain-worked; else echo DASHSCOPE_API_REGION=regain-failed; fi'

svc() { # name module-options...
	local name=$1
	shift
	printf 'session required %s %s\n' "$MOD" "$*" >"$D/services/$name"
}
printf 'auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n' >"$D/services/other"
svc ds-ok "helper=$D/bin/fake-ok"
svc ds-fail "helper=$D/bin/fake-fail"
svc ds-fail-strict "helper=$D/bin/fake-fail strict"
svc ds-sleep "helper=$D/bin/fake-sleep timeout=1"
svc ds-names "helper=$D/bin/fake-names"
svc ds-flood "helper=$D/bin/fake-flood timeout=60"
svc ds-closed "helper=$D/bin/fake-closed timeout=1"
svc ds-uid "helper=$D/bin/fake-uid"
svc ds-args "helper=$D/bin/fake-args timeout=1"
svc ds-reason "helper=$D/bin/fake-reason"
nopidfd() { # the module built without pidfd_open
	printf 'session required %s %s\n' "$abs_top_builddir/tests/.libs/pam_dashscope_nopidfd.so" "$2" >"$D/services/$1"
}
nopidfd ds-ok-nopidfd "helper=$D/bin/fake-ok"
nopidfd ds-closed-nopidfd "helper=$D/bin/fake-closed timeout=1"
nopidfd ds-reason-nopidfd "helper=$D/bin/fake-reason"
# config files the module must refuse or not trust
export DS_PAM_ENV_RULES="$D/env-rules.conf" DS_PAM_FIFO="$D/conf.fifo"
printf '[pam]\n%s = region=us\n* = region=us\n' "$(id -un)" >"$DS_PAM_ENV_RULES"
mkfifo "$DS_PAM_FIFO"
svc ds-conf-fifo "helper=$D/bin/fake-ok conf=$DS_PAM_FIFO timeout=1"
svc ds-conf-fifo-strict "helper=$D/bin/fake-ok conf=$DS_PAM_FIFO timeout=1 strict"
printf '[pam]\nsomeone-else = region=us\n' >"$D/unmapped.conf"
svc ds-unmapped "helper=$D/bin/fake-ok conf=$D/unmapped.conf"
: >"$D/system.conf"
svc ds-real "helper=$DS_REAL conf=$D/system.conf profile=team region=eu workspace=ws-pam for=dashscope,openai,anthropic"

export DS_PAM_USER
DS_PAM_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then
	# a real unprivileged user with a home and a user config of its own
	TEST_USER="dstest$$"
	useradd -M -d "$D/home" -s /bin/sh "$TEST_USER" || bail_out "useradd failed"
	trap 'userdel "$TEST_USER" 2>/dev/null; cleanup' EXIT
	mkdir -p "$D/home/.config/dashscope-credential"
	printf '[profile team]\nmodel = qwen-plus\n' >"$D/home/.config/dashscope-credential/config"
	chown -R "$TEST_USER" "$D/home"
	chmod 755 "$(dirname "$DS_REAL")" 2>/dev/null
	printf '[pam]\n@nosuchgroup = region=us\n%s = region=tokyo workspace=ws-tokyo\n* = region=cn\n' "$TEST_USER" >"$D/rules.conf"
	svc ds-rules "helper=$DS_REAL conf=$D/rules.conf"
	# rules that would map the user, in files the module must not trust
	printf '[pam]\n%s = region=us\n' "$TEST_USER" >"$D/userowned.conf"
	chown "$TEST_USER" "$D/userowned.conf"
	svc ds-conf-userowned "helper=$D/bin/fake-args conf=$D/userowned.conf"
	printf '[pam]\n%s = region=us\n' "$TEST_USER" >"$D/groupw.conf"
	chmod 664 "$D/groupw.conf"
	svc ds-conf-groupw "helper=$D/bin/fake-args conf=$D/groupw.conf"
	printf '[pam]\n%s = region=us\n' "$TEST_USER" >"$D/target.conf"
	ln -s "$D/target.conf" "$D/symlink.conf"
	svc ds-conf-symlink "helper=$D/bin/fake-args conf=$D/symlink.conf"
	printf 'TOPSECRETWORD and more\n' >"$D/garbage.conf"
	svc ds-conf-garbage "helper=$D/bin/fake-args conf=$D/garbage.conf"
	printf '[pam]\n%s = region=SECRETREGION\n' "$TEST_USER" >"$D/badrule.conf"
	svc ds-conf-badrule "helper=$D/bin/fake-args conf=$D/badrule.conf"
	chmod 644 "$D"/*.conf
	chmod 664 "$D/groupw.conf"
	export DS_PAM_REAL_USER="$TEST_USER" DS_PAM_REAL_UID
	DS_PAM_REAL_UID=$(id -u "$TEST_USER")
fi

if [ -n "${DS_SANITIZERS:-}" ]; then
	# pam_wrapper dlopens libpam with RTLD_DEEPBIND, which ASan refuses
	# (google/sanitizers#611); the plain and valgrind runs cover it
	skip "pam_test (libpamtest suite)" "pam_wrapper's RTLD_DEEPBIND cannot run under ASan"
else
	# each case of the suite is a result of this script
	env LD_PRELOAD="$WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$D/services" \
		CK_DEFAULT_TIMEOUT=30 CK_TAP_LOG_FILE_NAME="$TMPROOT/pam_test.tap" \
		"$PAMTEST" >"$TMPROOT/pam_test.out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || tap_comment <"$TMPROOT/pam_test.out"
	check_tap_results "$TMPROOT/pam_test.tap"
	# a run that failed without a failing case (it refused, or crashed)
	if [ "$rc" != 0 ] && ! grep -q '^not ok' "$TMPROOT/pam_test.tap" 2>/dev/null; then
		printf 'not ok - pam_test_runs_to_the_end\n'
		failed=$((failed + 1))
	fi
fi
# the root-only cases pam_test could not run count as skipped
while IFS= read -r line; do
	name=${line#SKIP }
	skip "${name%%:*}" "${name#*: }"
done < <(grep '^SKIP ' "$TMPROOT/pam_test.out" 2>/dev/null)
test_pam_test_refuses_to_run_without_wrapper() {
	"$PAMTEST" >/dev/null 2>&1
	[ $? = 99 ]
}
t test_pam_test_refuses_to_run_without_wrapper
finish

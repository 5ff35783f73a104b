#!/bin/bash
# SPDX-License-Identifier: MIT
# pam_dashscope through a real PAM stack: libpamtest under pam_wrapper with
# service files made here with absolute paths, the real helper and fake
# ones, a test user when run as root; plus the dlopen/export check.
. "$(dirname "$0")/lib.sh"

MOD="$abs_top_builddir/.libs/pam_dashscope.so"
WRAPPER=$(ls /usr/lib/*/libpam_wrapper.so /usr/lib/libpam_wrapper.so 2>/dev/null | head -n1)
PAMTEST="$abs_top_builddir/tests/pam_test"
[ -x "$PAMTEST" ] && [ -n "$WRAPPER" ] || { echo "# SKIP: libpamtest or pam_wrapper is not installed"; exit 77; }

test_module_loads_with_rtld_now_and_exports_only_hooks() {
	"$abs_top_builddir/tests/pam_dlopen" "$MOD" || return 1
	local exported
	exported=$(nm -D --defined-only "$MOD" | awk '{print $3}' | grep -v '^pam_sm_' || true)
	[ -z "$exported" ] || { diag "also exported: $exported"; return 1; }
}
test_module_links_neither_libsecret_nor_libcurl() {
	! ldd "$MOD" | grep -E 'libsecret|libcurl|libjansson'
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
helper fake-sleep 'exec sleep 100'
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
helper fake-closed 'exec >&- 2>&-; sleep 100'
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
svc ds-flood "helper=$D/bin/fake-flood"
svc ds-closed "helper=$D/bin/fake-closed timeout=1"
svc ds-uid "helper=$D/bin/fake-uid"
printf '[pam]\nsomeone-else = region=us\n' >"$D/unmapped.conf"
svc ds-unmapped "helper=$D/bin/fake-ok conf=$D/unmapped.conf"
: >"$D/system.conf"
svc ds-real "helper=$DS_REAL conf=$D/system.conf profile=team region=eu workspace=ws-pam for=dashscope,openai,anthropic"

export DS_PAM_USER
DS_PAM_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then
	# a real unprivileged user with a home and a user config of its own
	TEST_USER="dstest$$"
	useradd -M -d "$D/home" -s /bin/sh "$TEST_USER" || { echo "useradd failed"; exit 99; }
	trap 'userdel "$TEST_USER" 2>/dev/null; cleanup' EXIT
	mkdir -p "$D/home/.config/dashscope-credential"
	printf '[profile team]\nmodel = qwen-plus\n' >"$D/home/.config/dashscope-credential/config"
	chown -R "$TEST_USER" "$D/home"
	chmod 755 "$(dirname "$DS_REAL")" 2>/dev/null
	printf '[pam]\n@nosuchgroup = region=us\n%s = region=tokyo workspace=ws-tokyo\n* = region=cn\n' "$TEST_USER" >"$D/rules.conf"
	svc ds-rules "helper=$DS_REAL conf=$D/rules.conf"
	export DS_PAM_REAL_USER="$TEST_USER" DS_PAM_REAL_UID
	DS_PAM_REAL_UID=$(id -u "$TEST_USER")
fi

if [ -n "${DS_SANITIZERS:-}" ]; then
	# pam_wrapper dlopens libpam with RTLD_DEEPBIND, which ASan refuses
	# (google/sanitizers#611); the plain and valgrind runs cover it
	skip "pam_test (libpamtest suite)" "pam_wrapper's RTLD_DEEPBIND cannot run under ASan"
elif env LD_PRELOAD="$WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$D/services" \
	CK_DEFAULT_TIMEOUT=30 "$PAMTEST"; then
	echo "ok - pam_test (libpamtest suite)"
	passed=$((passed + 1))
else
	echo "not ok - pam_test (libpamtest suite)"
	failed=$((failed + 1))
fi
test_pam_test_refuses_to_run_without_wrapper() {
	"$PAMTEST" >/dev/null 2>&1
	[ $? = 99 ]
}
t test_pam_test_refuses_to_run_without_wrapper
finish

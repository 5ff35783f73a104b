#!/bin/bash
# SPDX-License-Identifier: MIT
# Every build is hardened, not only the Debian package's: the program, the
# modules and the PAM module pass hardening-check (devscripts): stack
# protector, _FORTIFY_SOURCE, RELRO with immediate binding, PIE. Control
# flow integrity is not required (the C runtime's own objects decide it),
# and stack clash protection is reported "unknown" by the tool when no
# function needs a probe. Skipped when hardening-check is missing or the
# build is not optimised (_FORTIFY_SOURCE needs -O).
. "$(dirname "$0")/lib.sh"

command -v hardening-check >/dev/null || skip_all "hardening-check (devscripts) is not installed"
[ -f "$abs_top_builddir/config.h" ] || bail_out "no config.h in $abs_top_builddir"
grep -q -- '-D_FORTIFY_SOURCE' "$abs_top_builddir/Makefile" ||
	skip_all "configured without _FORTIFY_SOURCE (not optimising, or the caller set it)"

# hardening_ok FILE: hardening-check is content with FILE.
hardening_ok() {
	local f=$abs_top_builddir/$1
	[ -f "$f" ] || { diag "$1 was not built"; return 1; }
	hardening-check --nocfprotection "$f" >"$OUT" 2>&1 && return 0
	diag "$(grep -v ': yes' "$OUT" | tr '\n' ' ')"
	return 1
}
test_program_is_hardened() { hardening_ok dashscope-credential; }
test_network_module_is_hardened() { hardening_ok .libs/dscred-net.so; }
test_proxy_module_is_hardened() { hardening_ok .libs/dscred-proxy.so; }
test_secret_service_module_is_hardened() { hardening_ok .libs/dscred-secret-service.so; }
test_pam_module_is_hardened() { hardening_ok .libs/pam_dashscope.so; }

t test_program_is_hardened
t test_network_module_is_hardened
t test_proxy_module_is_hardened
t test_secret_service_module_is_hardened
t test_pam_module_is_hardened
finish

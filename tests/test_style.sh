# SPDX-License-Identifier: MIT
# Style is checked by tools, not by review: every C file is as
# .clang-format makes it, and cppcheck (style checks included) is quiet.
# Skipped (77) only when the tool is not installed; install-deps.sh
# installs both.
. "$(dirname "$0")/lib.sh"

cd "$abs_top_srcdir" || bail_out "cannot enter $abs_top_srcdir"
# tests/e2e holds the npm-installed clients (Node's and sharp's headers among them)
C_FILES=$(find helper pam tests -path tests/e2e -prune -o \( -name '*.c' -o -name '*.h' \) -print | sort)

test_c_files_follow_clang_format() {
	clang-format --dry-run --Werror $C_FILES >"$OUT" 2>"$ERR" && return 0
	diag "not formatted (run make format): $(grep -o '^[^:]*:[0-9]*' "$ERR" | sort -u | head -5 | tr '\n' ' ')"
	return 1
}
test_cppcheck_reports_nothing() {
	cppcheck -q --error-exitcode=1 --enable=warning,style,portability,performance \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem \
		-D_GNU_SOURCE -DBINDIR='"/usr/bin"' -DSYSCONFDIR='"/etc"' \
		-I helper -I pam -I "$abs_top_builddir" $C_FILES >"$OUT" 2>"$ERR" && return 0
	diag "$(head -c 600 "$ERR")"
	return 1
}

# Every library result is checked (issue 11, class 18): a curl option or
# global init whose result is dropped would let a request go out without
# verification, or through a proxy. The result must be assigned, tested
# or returned; the SETOPT macro of token_api.c does the first.
test_every_curl_setup_result_is_checked() {
	grep -nE '^[[:space:]]*(curl_easy_setopt|curl_global_init|curl_easy_getinfo|curl_share_setopt|curl_multi_setopt)\(' \
		$(find helper -name '*.c') >"$OUT"
	[ ! -s "$OUT" ] && return 0
	diag "unchecked: $(head -c 400 "$OUT")"
	return 1
}

for tool in clang-format cppcheck; do
	command -v "$tool" >/dev/null || skip_all "$tool is not installed"
done
t test_c_files_follow_clang_format
t test_cppcheck_reports_nothing
t test_every_curl_setup_result_is_checked
finish

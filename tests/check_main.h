/* SPDX-License-Identifier: MIT */
/* One main for every Check suite: each file defines suite_make(). */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H
#include <check.h>
#include <stdlib.h>

Suite *suite_make(void);

/* Under `make check` (CK_TAP_LOG_FILE_NAME=-) every case is a TAP line
 * on stdout for automake's tap-driver.sh, and nothing else is: the
 * stream carries the verdict, so the exit status says only whether the
 * program ran to the end (a crash, or valgrind's 99, is an error of its
 * own). Run by hand, a suite prints Check's usual report and its exit
 * status counts failures. */
int main(void)
{
	const char *tap = getenv("CK_TAP_LOG_FILE_NAME");
	int tap_stdout = tap && tap[0] == '-' && tap[1] == '\0';
	SRunner *sr = srunner_create(suite_make());
	int failed;

	srunner_run_all(sr, tap_stdout ? CK_SILENT : CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed && !tap_stdout ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define ADD(tc, fn) tcase_add_test(tc, fn)
#endif

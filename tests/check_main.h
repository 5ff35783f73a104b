/* SPDX-License-Identifier: MIT */
/* One main for every Check suite: each file defines suite_make(). */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H
#include <check.h>
#include <stdlib.h>

Suite *suite_make(void);

int main(void)
{
	SRunner *sr = srunner_create(suite_make());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define ADD(tc, fn) tcase_add_test(tc, fn)
#endif

/* SPDX-License-Identifier: MIT */
/* The rules rotate leans on without the network: which listed key is the
 * stored one (the console's masked form), what a key id and a stored
 * AccessKey may be. */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include "core/keymgmt.h"
#include "core/store.h"

static int fits(const char *masked, const char *key)
{
	return apikey_mask_matches(masked, key, strlen(key));
}

START_TEST(test_mask_matches_start_and_end_around_the_stars)
{
	ck_assert(fits("sk-ws-djI.8O7d*****2aICctnid4u4", "sk-ws-djI.8O7dSECRETPART2aICctnid4u4"));
	ck_assert(fits("sk-test-ok*****3456", "sk-test-ok-abcdef123456"));
	ck_assert(fits("sk-a***z9", "sk-abcdz9"));
}
END_TEST

START_TEST(test_mask_refuses_another_start_or_end)
{
	ck_assert(!fits("sk-test-ok*****3456", "sk-test-no-abcdef123456"));
	ck_assert(!fits("sk-test-ok*****3456", "sk-test-ok-abcdef123457"));
}
END_TEST

START_TEST(test_mask_must_hide_something_and_show_both_ends)
{
	/* the stars stand for at least one character */
	ck_assert(!fits("sk-test*****3456", "sk-test3456"));
	/* no stars, or too little shown, says nothing about the key */
	ck_assert(!fits("sk-test-ok-abcdef123456", "sk-test-ok-abcdef123456"));
	ck_assert(!fits("*****3456", "sk-test-ok-3456"));
	ck_assert(!fits("sk-test*****", "sk-test-ok-3456"));
	ck_assert(!fits("", "sk-test-ok-3456"));
}
END_TEST

START_TEST(test_key_id_is_1_to_20_digits)
{
	ck_assert(store_key_id_valid("1"));
	ck_assert(store_key_id_valid("12345678901234567890"));
	ck_assert(!store_key_id_valid(""));
	ck_assert(!store_key_id_valid("123456789012345678901"));
	ck_assert(!store_key_id_valid("12a"));
	ck_assert(!store_key_id_valid("-1"));
	ck_assert(!store_key_id_valid("1\t2"));
}
END_TEST

static int ak_valid(const char *s)
{
	return store_access_key_valid(s, strlen(s));
}

START_TEST(test_access_key_is_id_colon_secret_without_spaces)
{
	ck_assert(ak_valid("LTAI5tExample:s3cr3t"));
	ck_assert(ak_valid("STS.abc:se:cret")); /* the secret may hold ':' */
	ck_assert(!ak_valid(":secret"));
	ck_assert(!ak_valid("LTAI:"));
	ck_assert(!ak_valid("LTAI"));
	ck_assert(!ak_valid("LTAI:sec ret"));
	ck_assert(!ak_valid("LTAI:sec\tret"));
	ck_assert(!ak_valid("LTAI:sec\nret"));
	ck_assert(!store_access_key_valid("LTAI:secret\0x", 13));
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("keymgmt");
	TCase *tc = tcase_create("rules");

	ADD(tc, test_mask_matches_start_and_end_around_the_stars);
	ADD(tc, test_mask_refuses_another_start_or_end);
	ADD(tc, test_mask_must_hide_something_and_show_both_ends);
	ADD(tc, test_key_id_is_1_to_20_digits);
	ADD(tc, test_access_key_is_id_colon_secret_without_spaces);
	suite_add_tcase(s, tc);
	return s;
}

/* SPDX-License-Identifier: MIT */
/* Key validation, shell quoting and the token response parser (hostile
 * inputs 24, 25); profile selection is tests/check_selection.c. */
#include "config.h"
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/key.h"
#include "base/shell_quote.h"
#include "core/token.h"

static int check_key(const char *k, enum plan *plan, int given, enum key_kind *kind)
{
	return key_check(k, strlen(k), plan, given, kind, NULL);
}

START_TEST(test_key_shapes)
{
	enum plan plan = PLAN_PAYG;
	enum key_kind kind;

	ck_assert_int_eq(check_key("sk-abcdef12", &plan, 0, &kind), DS_OK);
	ck_assert_int_eq(plan, PLAN_PAYG);
	ck_assert_int_eq(check_key("sk-sp-abcdef12", &plan, 0, &kind), DS_OK);
	ck_assert_int_eq(plan, PLAN_CODING);
	ck_assert_int_eq(check_key("st-anything", &plan, 0, &kind), DS_OK);
	ck_assert_int_eq(kind, KEY_TEMPORARY);
	ck_assert_int_eq(check_key("sk-short", &plan, 0, &kind), DS_OK); /* 8 bytes */
	ck_assert_int_eq(check_key("sk-shor", &plan, 0, &kind), DS_EINPUT);
	ck_assert_int_eq(check_key("sk-has space", &plan, 0, &kind), DS_EINPUT);
	ck_assert_int_eq(check_key("sk-has\ttab1", &plan, 0, &kind), DS_EINPUT);
	ck_assert_int_eq(check_key("sk-\xc3\xa9\xc3\xa9\xc3\xa9", &plan, 0, &kind), DS_EINPUT);
	ck_assert_int_eq(check_key("ak-abcdefgh", &plan, 0, &kind), DS_EINPUT);
	plan = PLAN_CODING;
	ck_assert_int_eq(check_key("sk-abcdef12", &plan, 1, &kind), DS_EINPUT);
	plan = PLAN_PAYG;
	ck_assert_int_eq(check_key("sk-sp-abcdef12", &plan, 1, &kind), DS_EINPUT);
	{
		char big[600];

		memset(big, 'a', sizeof(big));
		memcpy(big, "sk-", 3);
		big[512] = '\0';
		ck_assert_int_eq(check_key(big, &plan, 0, &kind), DS_OK);
		big[512] = 'a';
		big[513] = '\0';
		ck_assert_int_eq(check_key(big, &plan, 0, &kind), DS_EINPUT);
	}
}
END_TEST

START_TEST(test_key_tail_shows_last_four)
{
	char tail[32];

	key_tail("sk-0123456789abcd", 17, tail, sizeof(tail));
	ck_assert_str_eq(tail, "sk-\xe2\x80\xa6"
			       "abcd");
}
END_TEST

static char *assign(enum shell_kind kind, const char *value, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	*rc = shell_assign(out, kind, "V", value);
	fclose(out);
	return buf;
}

START_TEST(test_shell_quoting_forms)
{
	int rc;
	char *s;

	s = assign(SHELL_SH, "a'b", &rc);
	ck_assert_str_eq(s, "V='a'\\''b'; export V;\n");
	free(s);
	s = assign(SHELL_FISH, "a'b\\c", &rc);
	ck_assert_str_eq(s, "set -gx V 'a\\'b\\\\c';\n");
	free(s);
	s = assign(SHELL_CSH, "a!b'c", &rc);
	ck_assert_str_eq(s, "setenv V 'a\\!b'\\''c';\n");
	free(s);
	s = assign(SHELL_DOTENV, "a b$c", &rc);
	ck_assert_str_eq(s, "V='a b$c'\n");
	free(s);
	s = assign(SHELL_PAM, "https://x/y", &rc);
	ck_assert_str_eq(s, "V=https://x/y\n");
	free(s);
}
END_TEST

START_TEST(test_shell_refuses_line_breaks)
{
	static const enum shell_kind kinds[] = { SHELL_SH, SHELL_FISH, SHELL_CSH, SHELL_DOTENV,
						 SHELL_PAM };
	int rc;

	for (size_t i = 0; i < 5; i++) {
		char *s = assign(kinds[i], "a\nb", &rc);

		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(s, "");
		free(s);
		s = assign(kinds[i], "a\rb", &rc);
		ck_assert_int_eq(rc, -1);
		free(s);
	}
	free(assign(SHELL_DOTENV, "it's", &rc));
	ck_assert_int_eq(rc, -1);
	free(assign(SHELL_PAM, "a\x1b", &rc));
	ck_assert_int_eq(rc, -1);
}
END_TEST

static int parse_token(const char *body, unsigned long lifetime)
{
	struct minted m;
	struct ds_err err;
	int rc = token_parse_success(body, strlen(body), 1000000, lifetime, &m, &err);

	if (rc == DS_OK)
		secret_free(m.token);
	return rc;
}

START_TEST(test_token_response_accepts_good_answers)
{
	struct minted m;
	static const char body[] =
		"{\"token\": \"st-abc.DEF_123-~+/=\", \"expires_at\": 1000060, \"x\": 1}";

	ck_assert_int_eq(token_parse_success(body, strlen(body), 1000000, 60, &m, NULL), DS_OK);
	ck_assert_str_eq(m.token->data, "st-abc.DEF_123-~+/=");
	ck_assert_int_eq(m.expires_at, 1000060);
	secret_free(m.token);
	ck_assert_int_eq(parse_token("{\"token\": \"nost-prefix\", \"expires_at\": 1000360}", 60),
			 DS_OK);
}
END_TEST

START_TEST(test_token_response_refuses_bad_answers)
{
	static const char *const bad[] = {
		"<html>",
		"",
		"[]",
		"\"st-a\"",
		"{\"code\": \"SystemError\"}",
		"{\"expires_at\": 1000060}",
		"{\"token\": 5, \"expires_at\": 1000060}",
		"{\"token\": \"\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a\\nb\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a\\rb\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a'b\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a\\\"b\", \"expires_at\": 1000060}",
		"{\"token\": \"st-$(id)\", \"expires_at\": 1000060}",
		"{\"token\": \"st-`id`\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a;b\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a b\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a\\\\b\", \"expires_at\": 1000060}",
		"{\"token\": \"st-\\u00e9\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a\\u0000b\", \"expires_at\": 1000060}",
		"{\"token\": \"st-a\"}",
		"{\"token\": \"st-a\", \"expires_at\": \"1000060\"}",
		"{\"token\": \"st-a\", \"expires_at\": 1000060.5}",
		"{\"token\": \"st-a\", \"expires_at\": 999999}",
		"{\"token\": \"st-a\", \"expires_at\": 1000000}",
		"{\"token\": \"st-a\", \"expires_at\": 1000361}",
		"{\"token\": \"st-a\", \"token\": \"st-b\", \"expires_at\": 1000060}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_token(bad[i], 60) == DS_ENET, "accepted: %s", bad[i]);
}
END_TEST

START_TEST(test_token_error_fields_are_cleaned)
{
	char code[64], msg[64], rid[64];
	static const char body[] =
		"{\"code\": \"Invalid\\u001b[31mKey\", \"message\": \"m\\n2\", \"request_id\": \"r-1\"}";

	token_parse_error(body, strlen(body), code, msg, rid, sizeof(code));
	ck_assert_str_eq(code, "Invalid?[31mKey");
	ck_assert_str_eq(msg, "m?2");
	ck_assert_str_eq(rid, "r-1");
	token_parse_error("nope", 4, code, msg, rid, sizeof(code));
	ck_assert_str_eq(code, "");
}
END_TEST

START_TEST(test_renewal_margin_follows_the_lifetime)
{
	/* 45 s into a 60 s key, 1 s into a 2 s key (SPEC section 10) */
	ck_assert(token_renewal_margin(60) == 15);
	ck_assert(token_renewal_margin(2) == 1);
	ck_assert(token_renewal_margin(20) == 10);
	ck_assert(token_renewal_margin(40) == 15);
	ck_assert(token_renewal_margin(1800) == 450);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("units");

	token_json_init();
	ADD(tc, test_key_shapes);
	ADD(tc, test_key_tail_shows_last_four);
	ADD(tc, test_shell_quoting_forms);
	ADD(tc, test_shell_refuses_line_breaks);
	ADD(tc, test_token_response_accepts_good_answers);
	ADD(tc, test_token_response_refuses_bad_answers);
	ADD(tc, test_token_error_fields_are_cleaned);
	ADD(tc, test_renewal_margin_follows_the_lifetime);
	suite_add_tcase(s, tc);
	return s;
}

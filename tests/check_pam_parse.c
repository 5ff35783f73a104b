/* SPDX-License-Identifier: MIT */
/* The PAM module's reason cleaner (pam/pam_parse.c): what of the helper's
 * stderr may reach a log line. Holds the fuzz_pam_output finding of issue
 * 24 (control bytes that, deleted, joined a key-shaped word). */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include "pam/pam_parse.h"

static const char *clean(const char *in, size_t len)
{
	static char out[PAM_DS_REASON_MAX + 1];

	pam_reason_clean(in, len, out);
	return out;
}

static int alnum_byte(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int word_byte(char c)
{
	return alnum_byte(c) || c == '-' || c == '_' || c == '.';
}

/* The mask's promise, as the fuzz target states it: no "sk-"/"st-" word
 * (any case) unless a letter or digit comes right before it. */
static int has_exposed_key(const char *s)
{
	for (size_t i = 0; s[i]; i++) {
		int key = (s[i] == 's' || s[i] == 'S') &&
			  (s[i + 1] == 'k' || s[i + 1] == 'K' || s[i + 1] == 't' ||
			   s[i + 1] == 'T') &&
			  s[i + 2] == '-' && word_byte(s[i + 3]);

		if (key && (i == 0 || !alnum_byte(s[i - 1])))
			return 1;
	}
	return 0;
}

/* a string literal, without its NUL */
#define CLEAN(lit) clean(lit, sizeof(lit) - 1)

START_TEST(test_reason_control_bytes_cannot_join_a_key_word)
{
	/* the fuzz_pam_output crash: deleting the \x14 made "sk-s" */
	ck_assert_str_eq(CLEAN("s\x14\x14\x14\x14k-s"), "s????k-s");
}
END_TEST

START_TEST(test_reason_control_byte_becomes_one_question_mark)
{
	ck_assert_str_eq(CLEAN("a\tb\x1b[31mc\x7f"), "a?b?[31mc?");
	ck_assert_str_eq(CLEAN("caf\xc3\xa9"), "caf??");
}
END_TEST

START_TEST(test_reason_masks_a_key_after_a_control_byte)
{
	ck_assert_str_eq(CLEAN("\x1bsk-abc123 left"), "?[key] left");
	ck_assert_str_eq(CLEAN("key=ST-abc.def_1-2!"), "key=[key]!");
}
END_TEST

START_TEST(test_reason_keeps_a_key_shape_inside_a_longer_word)
{
	ck_assert_str_eq(CLEAN("risk-averse"), "risk-averse");
}
END_TEST

START_TEST(test_reason_is_the_first_line_only)
{
	ck_assert_str_eq(CLEAN("first\nsk-second\n"), "first");
}
END_TEST

START_TEST(test_reason_is_capped_and_a_key_is_masked_before_the_cap)
{
	char in[PAM_DS_REASON_MAX + 64];

	memset(in, 'x', sizeof(in));
	memcpy(in + PAM_DS_REASON_MAX - 4, " sk-0123456789", 14);
	ck_assert_uint_eq(strlen(clean(in, sizeof(in))), PAM_DS_REASON_MAX);
	ck_assert_ptr_null(strstr(clean(in, sizeof(in)), "sk-"));
}
END_TEST

/* Every input of up to 5 bytes over the bytes that matter (key letters,
 * '-', a letter, a space, control bytes, a high byte): the output never
 * shows a key-shaped word, whatever cleaning did around it. */
START_TEST(test_reason_never_exposes_a_key_for_any_short_input)
{
	static const char alphabet[] = "skStK-a \x14\x1b\t\x7f\x80";
	const size_t n = sizeof(alphabet) - 1;
	char in[5];

	for (size_t len = 1; len <= sizeof(in); len++) {
		size_t total = 1;

		for (size_t k = 0; k < len; k++)
			total *= n;
		for (size_t v = 0; v < total; v++) {
			size_t x = v;

			for (size_t k = 0; k < len; k++, x /= n)
				in[k] = alphabet[x % n];
			if (has_exposed_key(clean(in, len)))
				ck_abort_msg("key-shaped word exposed for input of %zu bytes: %s",
					     len, clean(in, len));
		}
	}
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("pam_parse");
	TCase *tc = tcase_create("reason");

	ADD(tc, test_reason_control_bytes_cannot_join_a_key_word);
	ADD(tc, test_reason_control_byte_becomes_one_question_mark);
	ADD(tc, test_reason_masks_a_key_after_a_control_byte);
	ADD(tc, test_reason_keeps_a_key_shape_inside_a_longer_word);
	ADD(tc, test_reason_is_the_first_line_only);
	ADD(tc, test_reason_is_capped_and_a_key_is_masked_before_the_cap);
	ADD(tc, test_reason_never_exposes_a_key_for_any_short_input);
	suite_add_tcase(s, tc);
	return s;
}

/* SPDX-License-Identifier: MIT */
/* The proxy's door (helper/proxy/proxy_rules.h, SPEC section 10): which
 * paths go upstream, which request and answer heads are strict, and what
 * the log prints of a client's bytes. */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include "proxy/proxy_rules.h"

static unsigned path(const char *t)
{
	const char *why = NULL;
	unsigned st = rules_path(t, strlen(t), 0, &why);

	ck_assert_msg(st == 0 || why != NULL, "%s refused without a reason", t);
	return st;
}

/* A head line as MHD leaves it: "Name" NUL gap value NUL NUL. */
static const char *in_place(char *buf, const char *raw, size_t rawlen, size_t nlen, size_t voff,
			    size_t vlen)
{
	memcpy(buf, raw, rawlen);
	return rules_header_in_place(buf, nlen, buf + voff, vlen);
}

START_TEST(test_path_forwards_the_api_prefixes)
{
	ck_assert_uint_eq(path("/compatible-mode/v1/chat/completions"), 0);
	ck_assert_uint_eq(path("/compatible-mode/v1/chat/completions?a=b&c=%20d"), 0);
	ck_assert_uint_eq(path("/apps/anthropic/v1/messages"), 0);
	ck_assert_uint_eq(path("/api/v1/services/aigc/text-generation/generation"), 0);
	ck_assert_uint_eq(path("/api/v1/tasks/0a1b-c2d3"), 0);
	ck_assert_uint_eq(path("/api/v1/tokensets"), 0); /* another name */
	ck_assert_uint_eq(path("/api/v1/files/caf%C3%A9"), 0); /* needed escapes stay */
}
END_TEST

START_TEST(test_path_refuses_the_token_endpoint_in_any_spelling)
{
	static const char *const spellings[] = {
		"/api/v1/tokens",      "/api/v1/tokens/",   "/api/v1/tokens/x",
		"/API/v1/Tokens",      "/api/V1/TOKENS",    "/api/v1/tokens?expire_in_seconds=60",
		"/api/v1/tokens:mint", "/api/v1/tokens@x",  "/api/v1/tokens~",
		"/api/v1/tokens!",     "/api/v1/tokens%7C",
	};

	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
		ck_assert_msg(path(spellings[i]) == 404, "%s went upstream", spellings[i]);
	ck_assert_uint_eq(rules_path("/api/v1/tokens", 14, 1, &(const char *){ 0 }), 404);
}
END_TEST

START_TEST(test_path_refuses_other_spellings_as_malformed)
{
	static const char *const bad[] = {
		"/api/v1/tokens#x",
		"/api/v1//tokens",
		"/api/v1/tokens;",
		"/api/v1/tokens;x=1",
		"/api/v1/%74okens",
		"/api/v1%2ftokens",
		"/api/v1%2Ftokens",
		"/api/v1/./tokens",
		"/api/v1/x/../tokens",
		"/api/v1/tokens.",
		"/api/v1/tokens/.",
		"/api/v1/tokens/..",
		"/api/v1\\tokens",
		"/api/v1/%5ctokens",
		"/api/v1/tokens%2e",
		"/api/v1/tokens%00",
		"/api/v1/tokens%20",
		"/api/v1/tokens%3b",
		"/api/v1/tokens%23",
		"/api/v1/tokens%3F",
		"/api/v1/tokens%25",
		"/api/v1/tokens%",
		"/api/v1/tokens%2",
		"/api/v1/tokens%zz",
		"/compatible-mode/v1/../../api/v1/tokens",
		"/compatible-mode/%2e%2e/api/v1/tokens",
		"/compatible-mode/v1/...",
		"/api/v1/tok ens",
		"/api/v1/tok\rens",
		"/api/v1/tok\nens",
		"/api/v1/tok\tens",
		"/api/v1/t\x7fokens",
		"/api/v1/t\xc3\xa9",
		"api/v1/tokens",
		"http://x/api/v1/tokens",
		"*",
		"",
		"/compatible-mode/v1/x?a#b",
		"/compatible-mode/v1/x?a\rb",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(path(bad[i]) == 400, "%s was not refused as malformed", bad[i]);
	/* a NUL in the target, as a length sees it */
	ck_assert_uint_eq(rules_path("/api/v1/x\0y", 11, 0, &(const char *){ 0 }), 400);
}
END_TEST

/* an upstream that decodes UTF-8 and folds case reads U+017F as 's' and
 * U+212A as 'k' (attack review) */
START_TEST(test_path_refuses_percent_encoded_bytes_over_0x7f_in_its_first_segments)
{
	ck_assert_uint_eq(path("/api/v1/toke%C5%BF"), 400);
	ck_assert_uint_eq(path("/api/v1/to%E2%84%AAens"), 400);
	ck_assert_uint_eq(path("/compatible-mode/v1/%C3%A9"), 400);
	ck_assert_uint_eq(path("/api/v1/files/caf%C3%A9"), 0);
}
END_TEST

START_TEST(test_path_answers_404_outside_the_prefixes)
{
	ck_assert_uint_eq(path("/v2/anything"), 404);
	ck_assert_uint_eq(path("/"), 404);
	ck_assert_uint_eq(path("/COMPATIBLE-MODE/v1/chat/completions"),
			  404); /* prefixes: exact case */
	ck_assert_uint_eq(path("/v1/chat/completions"), 404); /* payg: no /v1/ */
	ck_assert_uint_eq(rules_path("/v1/chat/completions", 20, 1, &(const char *){ 0 }), 0);
	ck_assert_uint_eq(rules_path("/api/v1/x", 9, 1, &(const char *){ 0 }), 404);
}
END_TEST

START_TEST(test_token_and_field_value)
{
	ck_assert(rules_token("POST", 4));
	ck_assert(rules_token("X-Custom_1!", 11));
	ck_assert(!rules_token("", 0));
	ck_assert(!rules_token("PO ST", 5));
	ck_assert(!rules_token("PO(ST", 5));
	ck_assert(!rules_token("PO\x01ST", 5));
	ck_assert(!rules_token("X-A:", 4));
	ck_assert(rules_field_value("a\tb caf\xc3\xa9", 9));
	ck_assert(!rules_field_value("a\rb", 3));
	ck_assert(!rules_field_value("a\nb", 3));
	ck_assert(!rules_field_value("a\0b", 3));
	ck_assert(!rules_field_value("a\x01", 2));
	ck_assert(!rules_field_value("a\x7f", 2));
}
END_TEST

START_TEST(test_header_in_place_takes_a_strict_line)
{
	char b[64];
	const char *next;

	/* "X-A: a b\r\nY" as MHD leaves it */
	next = in_place(b, "X-A\0 a b\0\0Y", 11, 3, 5, 3);
	ck_assert_ptr_eq(next, b + 10);
	next = in_place(b, "X-A\0a\0\0", 7, 3, 4, 1); /* no space after the colon */
	ck_assert_ptr_eq(next, b + 7);
	next = in_place(b, "X-A\0\t\0\0", 7, 3, 5, 0); /* an empty value */
	ck_assert_ptr_eq(next, b + 7);
}
END_TEST

START_TEST(test_header_in_place_refuses_what_mhd_forgave)
{
	char b[64];

	/* a bare LF: one NUL, then the next line */
	ck_assert_ptr_null(in_place(b, "X-A\0 a\0Y: b", 11, 3, 5, 1));
	/* a NUL in the value: MHD's length stops at it */
	ck_assert_ptr_null(in_place(b, "X-A\0 a\0b\0\0", 10, 3, 5, 1));
	/* a bare CR and a control byte in the value */
	ck_assert_ptr_null(in_place(b, "X-A\0 a\rb\0\0", 10, 3, 5, 3));
	ck_assert_ptr_null(in_place(b, "X-A\0 a\x01\0\0", 9, 3, 5, 2));
	/* "X-A : a": the name holds the space */
	ck_assert_ptr_null(in_place(b, "X-A \0 a\0\0", 9, 4, 6, 1));
	/* a name that is no token */
	ck_assert_ptr_null(in_place(b, "X(A)\0 a\0\0", 9, 4, 6, 1));
	ck_assert_ptr_null(in_place(b, "\0 a\0\0", 5, 0, 2, 1));
	/* something other than spaces between the colon and the value */
	ck_assert_ptr_null(in_place(b, "X-A\0x a\0\0", 9, 3, 6, 1));
}
END_TEST

static const char *framing(const char *const *fields, size_t n, int http10)
{
	struct rules_framing f;

	memset(&f, 0, sizeof(f));
	for (size_t i = 0; i + 1 < n; i += 2)
		rules_framing_add(&f, fields[i], strlen(fields[i]), fields[i + 1],
				  strlen(fields[i + 1]));
	return rules_request_framing(&f, http10);
}

#define FRAMING(http10, ...)                          \
	framing((const char *const[]){ __VA_ARGS__ }, \
		sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *), http10)

START_TEST(test_request_framing)
{
	ck_assert_ptr_null(FRAMING(0, "Host", "a", "Content-Length", "12"));
	ck_assert_ptr_null(FRAMING(0, "host", "a", "Transfer-Encoding", "chunked"));
	/* MHD would not see "chunked " as chunked (attack review) */
	ck_assert_ptr_nonnull(FRAMING(0, "Host", "a", "Transfer-Encoding", "Chunked "));
	ck_assert_ptr_nonnull(FRAMING(0, "Host", "a", "Transfer-Encoding", "chunked\t"));
	ck_assert_ptr_nonnull(FRAMING(0, "Host", "a", "HOST", "b"));
	ck_assert_ptr_nonnull(FRAMING(0, "Content-Length", "2", "Transfer-Encoding", "chunked"));
	ck_assert_ptr_nonnull(FRAMING(0, "Transfer-Encoding", "chunked, identity"));
	ck_assert_ptr_nonnull(FRAMING(0, "Transfer-Encoding", "gzip, chunked"));
	ck_assert_ptr_nonnull(FRAMING(0, "Transfer-Encoding", "identity"));
	ck_assert_ptr_nonnull(
		FRAMING(0, "Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"));
	ck_assert_ptr_nonnull(FRAMING(0, "Content-Length", "2", "Content-Length", "2"));
	ck_assert_ptr_nonnull(FRAMING(0, "Content-Length", "+2"));
	ck_assert_ptr_nonnull(FRAMING(0, "Content-Length", "2, 2"));
	ck_assert_ptr_nonnull(FRAMING(0, "Content-Length", ""));
	ck_assert_ptr_nonnull(FRAMING(1, "Transfer-Encoding", "chunked"));
}
END_TEST

static int line(const char *s)
{
	return rules_response_line(s, strlen(s));
}

START_TEST(test_response_lines)
{
	struct rules_framing f;

	ck_assert(line("HTTP/1.1 200 OK\r\n"));
	ck_assert(line("HTTP/1.1 204\r\n"));
	ck_assert(line("Content-Type: application/json\r\n"));
	ck_assert(line("X-Empty:\r\n"));
	ck_assert(line("\r\n"));
	ck_assert(!line("Content-Type: a\n")); /* a bare LF */
	ck_assert(!line("X-Odd: a\rSet-Cookie: b\r\n"));
	ck_assert(!line("X-Odd : a\r\n"));
	ck_assert(!line(" folded\r\n"));
	ck_assert(!rules_response_line("X-Nul: a\0b\r\n", 12));
	ck_assert(!line("HTTP/1.1 2000 OK\r\n"));
	ck_assert(!line("HTTP/2 200\r\n"));
	ck_assert(!line("no colon\r\n"));

	memset(&f, 0, sizeof(f));
	rules_framing_add(&f, "Transfer-Encoding", 17, "chunked", 7);
	ck_assert_ptr_null(rules_response_framing(&f));
	rules_framing_add(&f, "Content-Length", 14, "5", 1);
	ck_assert_ptr_nonnull(rules_response_framing(&f));
	memset(&f, 0, sizeof(f));
	rules_framing_add(&f, "Content-Length", 14, "5", 1);
	rules_framing_add(&f, "Content-Length", 14, "6", 1);
	ck_assert_ptr_nonnull(rules_response_framing(&f));
}
END_TEST

START_TEST(test_log_clean_leaves_no_control_byte)
{
	char out[64];

	rules_log_clean(out, sizeof(out), "PO\x1b[2JST\r\n\x7f\x9b\\", 13);
	ck_assert_str_eq(out, "PO\\x1b[2JST\\x0d\\x0a\\x7f\\x9b\\x5c");
	rules_log_clean(out, sizeof(out), "a\0b", 3);
	ck_assert_str_eq(out, "a\\x00b");
	/* cut, never in the middle of an escape */
	rules_log_clean(out, 6, "ab\x01", 3);
	ck_assert_str_eq(out, "ab");
	rules_log_clean(out, 4, "abcdef", 6);
	ck_assert_str_eq(out, "abc");
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("proxy_rules");
	TCase *tc = tcase_create("door");

	ADD(tc, test_path_forwards_the_api_prefixes);
	ADD(tc, test_path_refuses_the_token_endpoint_in_any_spelling);
	ADD(tc, test_path_refuses_other_spellings_as_malformed);
	ADD(tc, test_path_answers_404_outside_the_prefixes);
	ADD(tc, test_token_and_field_value);
	ADD(tc, test_header_in_place_takes_a_strict_line);
	ADD(tc, test_header_in_place_refuses_what_mhd_forgave);
	ADD(tc, test_path_refuses_percent_encoded_bytes_over_0x7f_in_its_first_segments);
	ADD(tc, test_request_framing);
	ADD(tc, test_response_lines);
	ADD(tc, test_log_clean_leaves_no_control_byte);
	suite_add_tcase(s, tc);
	return s;
}

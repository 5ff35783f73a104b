/* SPDX-License-Identifier: MIT */
/* The request parser on its own: framing rules and hostile inputs 1-14,
 * 21, 22 of reference/protocol-and-threats.md. */
#include "config.h"
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/protocol.h"

static int parse(const char *buf, size_t len, struct request *req)
{
	struct ds_err err = { 0, "" };
	int rc;

	request_init(req);
	{
		FILE *in = len ? fmemopen((void *)buf, len, "r") : fopen("/dev/null", "r");

		ck_assert_ptr_nonnull(in);
		rc = request_read(in, req, &err);
		fclose(in);
	}
	if (!rc)
		rc = request_apply_url(req, &err);
	if (rc)
		ck_assert_msg(strchr(err.msg, '\n') == NULL, "message must be one line");
	return rc;
}

static int parse_str(const char *s, struct request *req)
{
	return parse(s, strlen(s), req);
}

static int read_stream(const char *buf, size_t len, struct request *req)
{
	FILE *fp = fmemopen((void *)buf, len, "r");
	struct ds_err err;
	int rc;

	request_init(req);
	rc = request_read(fp, req, &err);
	fclose(fp);
	return rc;
}

START_TEST(test_parses_names_values_and_equals_in_values)
{
	struct request r;

	ck_assert_int_eq(parse_str("profile=work\npassword=a=b=c\nregion=sg\n\n", &r), DS_OK);
	ck_assert_str_eq(request_get(&r, ATTR_PROFILE), "work");
	ck_assert_str_eq(request_get(&r, ATTR_PASSWORD), "a=b=c");
	ck_assert_str_eq(request_get(&r, ATTR_REGION), "sg");
	request_free(&r);
}
END_TEST

START_TEST(test_refuses_duplicate_scalar)
{
	struct request r;

	ck_assert_int_eq(parse_str("host=a\nhost=b\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("password=a\npassword=a\n", &r), DS_EINPUT);
	request_free(&r);
}
END_TEST

START_TEST(test_refuses_bare_cr_and_crlf)
{
	struct request r;

	ck_assert_int_eq(parse_str("host=a\rhost=b\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("host=a\r\n\r\n", &r), DS_EINPUT);
	request_free(&r);
}
END_TEST

START_TEST(test_refuses_nul)
{
	struct request r;
	static const char buf[] = "host=a\0host=b\n";

	ck_assert_int_eq(parse(buf, sizeof(buf) - 1, &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(read_stream(buf, sizeof(buf) - 1, &r), DS_EINPUT);
	request_free(&r);
}
END_TEST

START_TEST(test_refuses_line_over_65535_bytes_without_splitting)
{
	struct request r;
	size_t n = 70000;
	char *buf = malloc(n + 32);

	memcpy(buf, "path=", 5);
	memset(buf + 5, 'a', n - 5);
	memcpy(buf + n - 12, "\nhost=victim", 12);
	memcpy(buf + n - 12, "host=victim\n", 12); /* inside the long line */
	ck_assert_int_eq(read_stream(buf, n, &r), DS_EINPUT);
	ck_assert_ptr_null(request_get(&r, ATTR_HOST));
	request_free(&r);
	/* exactly 65535 bytes is allowed */
	memset(buf, 'a', 65535);
	memcpy(buf, "path=", 5);
	buf[65535] = '\n';
	ck_assert_int_eq(read_stream(buf, 65536, &r), DS_OK);
	ck_assert_uint_eq(strlen(request_get(&r, ATTR_PATH)), 65530);
	request_free(&r);
	free(buf);
}
END_TEST

START_TEST(test_long_wwwauth_line_is_one_attribute)
{
	struct request r;
	char buf[1200];

	memcpy(buf, "wwwauth[]=", 10);
	memset(buf + 10, 'x', 1001);
	strcpy(buf + 1011, "host=victim\n\n");
	ck_assert_int_eq(read_stream(buf, strlen(buf), &r), DS_OK);
	ck_assert_ptr_null(request_get(&r, ATTR_HOST));
	request_free(&r);
}
END_TEST

START_TEST(test_refuses_line_without_equals)
{
	struct request r;

	ck_assert_int_eq(parse_str("host\n", &r), DS_EINPUT);
	request_free(&r);
}
END_TEST

START_TEST(test_ignores_empty_and_spaced_names)
{
	struct request r;

	ck_assert_int_eq(parse_str("=x\n host=a\nhost =b\nHOST=c\nunknown=d\n", &r), DS_OK);
	ck_assert_ptr_null(request_get(&r, ATTR_HOST));
	request_free(&r);
}
END_TEST

START_TEST(test_stops_at_empty_line_and_accepts_missing_one)
{
	struct request r;

	ck_assert_int_eq(read_stream("host=a\n\nhost=b\nx\n", 19, &r), DS_OK);
	ck_assert_str_eq(request_get(&r, ATTR_HOST), "a");
	request_free(&r);
	ck_assert_int_eq(read_stream("host=a", 6, &r), DS_OK);
	ck_assert_str_eq(request_get(&r, ATTR_HOST), "a");
	request_free(&r);
	ck_assert_int_eq(read_stream("", 0, &r), DS_OK);
	ck_assert_uint_eq(r.lines, 0);
	request_free(&r);
}
END_TEST

START_TEST(test_refuses_more_than_256_lines)
{
	struct request r;
	char *buf = malloc(257 * 4 + 1), *p = buf;

	for (int i = 0; i < 257; i++) {
		memcpy(p, "x=1\n", 4);
		p += 4;
	}
	ck_assert_int_eq(read_stream(buf, 256 * 4, &r), DS_OK);
	request_free(&r);
	ck_assert_int_eq(read_stream(buf, 257 * 4, &r), DS_EINPUT);
	request_free(&r);
	free(buf);
}
END_TEST

START_TEST(test_refuses_invalid_utf8)
{
	static const char *const bad[] = {
		"host=\xff\xfe\n", "host=\xc3\x28\n",	  "host=\xe2\x82\n",
		"host=\xc0\xaf\n", "host=\xed\xa0\x80\n", "host=\xf4\x90\x80\x80\n",
		"x\x80=1\n",
	};
	struct request r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_str(bad[i], &r) == DS_EINPUT, "case %zu", i);
		request_free(&r);
	}
	ck_assert_int_eq(parse_str("model=\xe9\x80\x9a\xe4\xb9\x89 \xf0\x9f\x98\x80\n", &r), DS_OK);
	request_free(&r);
}
END_TEST

START_TEST(test_capability_list_and_clear)
{
	struct request r;

	ck_assert_int_eq(parse_str("capability[]=authtype\ncapability[]=state\n", &r), DS_OK);
	ck_assert(request_has_capability(&r, "authtype"));
	request_free(&r);
	ck_assert_int_eq(parse_str("capability[]=authtype\ncapability[]=\n", &r), DS_OK);
	ck_assert(!request_has_capability(&r, "authtype"));
	request_free(&r);
}
END_TEST

START_TEST(test_url_is_split_and_checked)
{
	struct request r;

	ck_assert_int_eq(parse_str("url=https://me@Dashscope.aliyuncs.com:443/api/v1?x#y\n", &r),
			 DS_OK);
	ck_assert_str_eq(request_get(&r, ATTR_PROTOCOL), "https");
	ck_assert_str_eq(request_get(&r, ATTR_HOST), "Dashscope.aliyuncs.com:443");
	ck_assert_str_eq(request_get(&r, ATTR_USERNAME), "me");
	ck_assert_str_eq(request_get(&r, ATTR_PATH), "api/v1");
	request_free(&r);
	ck_assert_int_eq(parse_str("url=https://a.example?%0ahost=b\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("url=https://example%0d.com/\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("url=https://a%00b/\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("url=https://a%zz/\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("url=https://u:sk-secret@a/\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("url=nohost\n", &r), DS_EINPUT);
	request_free(&r);
	ck_assert_int_eq(parse_str("url=https://a.example/\nhost=b.example\n", &r), DS_EINPUT);
	request_free(&r);
}
END_TEST

START_TEST(test_writer_refuses_line_breaks)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_int_eq(proto_write(out, "a", "ok"), 0);
	ck_assert_int_eq(proto_write(out, "b", ""), 0);
	ck_assert_int_eq(proto_write(out, "c", "x\ny"), -1);
	ck_assert_int_eq(proto_write(out, "d", "x\ry"), -1);
	fclose(out);
	ck_assert_str_eq(buf, "a=ok\n");
	free(buf);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc = tcase_create("protocol");

	ADD(tc, test_parses_names_values_and_equals_in_values);
	ADD(tc, test_refuses_duplicate_scalar);
	ADD(tc, test_refuses_bare_cr_and_crlf);
	ADD(tc, test_refuses_nul);
	ADD(tc, test_refuses_line_over_65535_bytes_without_splitting);
	ADD(tc, test_long_wwwauth_line_is_one_attribute);
	ADD(tc, test_refuses_line_without_equals);
	ADD(tc, test_ignores_empty_and_spaced_names);
	ADD(tc, test_stops_at_empty_line_and_accepts_missing_one);
	ADD(tc, test_refuses_more_than_256_lines);
	ADD(tc, test_refuses_invalid_utf8);
	ADD(tc, test_capability_list_and_clear);
	ADD(tc, test_url_is_split_and_checked);
	ADD(tc, test_writer_refuses_line_breaks);
	suite_add_tcase(s, tc);
	return s;
}

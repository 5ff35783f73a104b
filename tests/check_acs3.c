/* SPDX-License-Identifier: MIT */
/* ACS3-HMAC-SHA256 (helper/net/acs3.c): the published test vector of
 * Alibaba Cloud's own client, and the canonicalisation of query, headers
 * and path that the vector does not reach. */
#include "config.h"
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "net/acs3.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_encoded(const char *in, int keep_slash, const char *want)
{
	char *e = acs3_encode(in, strlen(in), keep_slash);

	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, want);
	free(e);
}

static void expect_canonical(const char *method, const char *path, const struct acs3_field *q,
			     size_t nq, const struct acs3_field *h, size_t nh, const char *want,
			     const char *want_names)
{
	char *canonical, *names;

	ck_assert_int_eq(acs3_canonical_request(method, path, q, nq, h, nh, "HASH", &canonical,
						&names),
			 0);
	ck_assert_str_eq(canonical, want);
	ck_assert_str_eq(names, want_names);
	free(canonical);
	free(names);
}

/* aliyun/darabonba-openapi, golang/utils/client_test.go, Test_GetAuthorization:
 * no method, an empty path, an empty query value, and one header name
 * given in two letter cases (its values sorted and joined) */
START_TEST(test_published_vector_of_get_authorization)
{
	const struct acs3_field q[] = { { "test", "ok" }, { "empty", "" } };
	const struct acs3_field h[] = { { "x-acs-test", "http" }, { "x-acs-TEST", "https" } };
	char *auth =
		acs3_authorization("", "", q, N(q), h, N(h),
				   "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
				   "acesskey", "secret", 6);

	ck_assert_ptr_nonnull(auth);
	ck_assert_str_eq(auth,
			 "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3");
	free(auth);
}
END_TEST

/* a CreateApiKey request as rotate sends it, signed by Python's hmac and
 * hashlib over the canonical request written out by hand */
START_TEST(test_create_request_signature_matches_an_independent_one)
{
	const char *body = "auth.type=All";
	char hash[ACS3_HEX_LEN + 1], *auth;
	const struct acs3_field q[] = { { "workspaceId", "ws-1" }, { "description", "ci bot*~" } };
	struct acs3_field h[] = { { "host", "modelstudio.cn-beijing.aliyuncs.com" },
				  { "x-acs-action", "CreateApiKey" },
				  { "x-acs-version", "2026-02-10" },
				  { "x-acs-date", "2026-12-05T08:00:00Z" },
				  { "x-acs-signature-nonce", "n1" },
				  { "x-acs-content-sha256", NULL },
				  { "x-acs-security-token", "STS.tok" },
				  { "Content-Type", "application/x-www-form-urlencoded" },
				  { "Accept", "application/json" },
				  { "User-Agent", "dashscope-credential" } };

	acs3_sha256_hex(body, strlen(body), hash);
	ck_assert_str_eq(hash, "c35af6332781e05730f08e3820d1b27e43f6948f7f814332dce05c1fe7a152db");
	h[5].value = hash;
	auth = acs3_authorization("POST", "/modelstudio/apikeys", q, N(q), h, N(h), hash,
				  "LTAIexample", "s3cr3t", 6);
	ck_assert_ptr_nonnull(auth);
	ck_assert_str_eq(auth,
			 "ACS3-HMAC-SHA256 Credential=LTAIexample,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=67c60bf2833a7dfd287a5a76bd0728d73e61834a2100fd1e6e009d72a079963f");
	free(auth);
}
END_TEST

START_TEST(test_sha256_of_the_empty_body)
{
	char hash[ACS3_HEX_LEN + 1];

	acs3_sha256_hex("", 0, hash);
	ck_assert_str_eq(hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_encoding_keeps_only_unreserved_bytes)
{
	expect_encoded("aZ09-_.~", 0, "aZ09-_.~");
	expect_encoded("a b", 0, "a%20b");
	expect_encoded("a*b", 0, "a%2Ab");
	expect_encoded("a+b=c&d", 0, "a%2Bb%3Dc%26d");
	expect_encoded("/x/", 0, "%2Fx%2F");
	expect_encoded("%7E", 0, "%257E");
	expect_encoded("\xe4\xb8\xad", 0, "%E4%B8%AD");
	expect_encoded("", 0, "");
}
END_TEST

START_TEST(test_path_segments_are_encoded_and_slashes_kept)
{
	expect_canonical("DELETE", "/modelstudio/apikeys/12", NULL, 0, NULL, 0,
			 "DELETE\n/modelstudio/apikeys/12\n\n\n\nHASH", "");
	expect_canonical("GET", "/a b/c*~/d+e", NULL, 0, NULL, 0,
			 "GET\n/a%20b/c%2A~/d%2Be\n\n\n\nHASH", "");
	expect_canonical("GET", "", NULL, 0, NULL, 0, "GET\n/\n\n\n\nHASH", "");
}
END_TEST

START_TEST(test_query_is_sorted_bytewise_and_values_encoded)
{
	const struct acs3_field q[] = { { "nextToken", "a/b=" },
					{ "maxResults", "20" },
					{ "Zeta", "" },
					{ "description", "team bot" },
					{ "apiKeyId", NULL } };

	/* upper case sorts before lower case; an empty value keeps its "=" */
	expect_canonical("GET", "/modelstudio/apikeys", q, N(q), NULL, 0,
			 "GET\n/modelstudio/apikeys\nZeta=&apiKeyId=&description=team%20bot&maxResults=20&nextToken=a%2Fb%3D\n\n\nHASH",
			 "");
}
END_TEST

START_TEST(test_only_host_content_type_and_acs_headers_are_signed)
{
	const struct acs3_field h[] = { { "X-Acs-Version", "2026-02-10" },
					{ "Accept", "application/json" },
					{ "user-agent", "x" },
					{ "HOST", "  127.0.0.1:8443\t" },
					{ "x-acs-action", " ListApiKeys " },
					{ "authorization", "no" },
					{ "x-other", "no" } };

	expect_canonical("GET", "/", NULL, 0, h, N(h),
			 "GET\n/\n\nhost:127.0.0.1:8443\nx-acs-action:ListApiKeys\nx-acs-version:2026-02-10\n\nhost;x-acs-action;x-acs-version\nHASH",
			 "host;x-acs-action;x-acs-version");
}
END_TEST

START_TEST(test_a_changed_secret_or_header_changes_the_signature)
{
	const struct acs3_field h[] = { { "x-acs-date", "2026-12-05T08:00:00Z" } };
	const struct acs3_field h2[] = { { "x-acs-date", "2026-12-05T08:00:01Z" } };
	char *a = acs3_authorization("GET", "/", NULL, 0, h, 1, "HASH", "id", "one", 3);
	char *b = acs3_authorization("GET", "/", NULL, 0, h, 1, "HASH", "id", "two", 3);
	char *c = acs3_authorization("GET", "/", NULL, 0, h2, 1, "HASH", "id", "one", 3);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(a, c);
	free(a);
	free(b);
	free(c);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("acs3");
	TCase *tc = tcase_create("sign");

	ADD(tc, test_published_vector_of_get_authorization);
	ADD(tc, test_create_request_signature_matches_an_independent_one);
	ADD(tc, test_sha256_of_the_empty_body);
	ADD(tc, test_encoding_keeps_only_unreserved_bytes);
	ADD(tc, test_path_segments_are_encoded_and_slashes_kept);
	ADD(tc, test_query_is_sorted_bytewise_and_values_encoded);
	ADD(tc, test_only_host_content_type_and_acs_headers_are_signed);
	ADD(tc, test_a_changed_secret_or_header_changes_the_signature);
	suite_add_tcase(s, tc);
	return s;
}

/* SPDX-License-Identifier: MIT */
/* Region table: every region x plan x workspace, URL derivation, the
 * reverse host mapping (mixed case, :443), endpoint overrides. */
#include "config.h"
#include "check_main.h"
#include <stdio.h>
#include <string.h>
#include "conf/region.h"
#include "conf/place.h"
#include "conf/names.h"

static void expect_place(const char *region, const char *ws, enum plan plan, const char *host,
			 int ok)
{
	struct place pl = { region_find(region), "", plan };
	struct endpoints ep;
	struct ds_err err;
	int rc;

	ck_assert_ptr_nonnull(pl.region);
	snprintf(pl.workspace, sizeof(pl.workspace), "%s", ws);
	rc = place_endpoints(&pl, NULL, &ep, &err);
	if (!ok) {
		ck_assert_int_eq(rc, DS_EINPUT);
		return;
	}
	ck_assert_int_eq(rc, DS_OK);
	ck_assert_str_eq(ep.host, host);
	if (plan == PLAN_CODING) {
		char want[600];

		snprintf(want, sizeof(want), "https://%s/v1", host);
		ck_assert_str_eq(ep.base_url, want);
		ck_assert_str_eq(ep.native_base_url, "");
		ck_assert_str_eq(ep.token_url, "");
	} else {
		char want[600];

		snprintf(want, sizeof(want), "https://%s/compatible-mode/v1", host);
		ck_assert_str_eq(ep.base_url, want);
		snprintf(want, sizeof(want), "https://%s/api/v1", host);
		ck_assert_str_eq(ep.native_base_url, want);
		snprintf(want, sizeof(want), "https://%s/api/v1/tokens", host);
		ck_assert_str_eq(ep.token_url, want);
	}
	{
		char want[600];
		struct place back;

		snprintf(want, sizeof(want), "https://%s/apps/anthropic", host);
		ck_assert_str_eq(ep.anthropic_base_url, want);
		/* and back again */
		ck_assert_int_eq(place_from_host(host, &back), 1);
		ck_assert_ptr_eq(back.region, pl.region);
		ck_assert_int_eq(back.plan, plan);
		ck_assert_str_eq(back.workspace, plan == PLAN_CODING ? "" : ws);
	}
}

START_TEST(test_every_region_plan_and_workspace)
{
	expect_place("cn-beijing", "", PLAN_PAYG, "dashscope.aliyuncs.com", 1);
	expect_place("cn-beijing", "ws-1", PLAN_PAYG, "ws-1.cn-beijing.maas.aliyuncs.com", 1);
	expect_place("cn-beijing", "", PLAN_CODING, "coding.dashscope.aliyuncs.com", 1);
	expect_place("cn-beijing", "ws-1", PLAN_CODING, "coding.dashscope.aliyuncs.com", 1);
	expect_place("ap-southeast-1", "", PLAN_PAYG, "dashscope-intl.aliyuncs.com", 1);
	expect_place("ap-southeast-1", "llm-x", PLAN_PAYG, "llm-x.ap-southeast-1.maas.aliyuncs.com",
		     1);
	expect_place("ap-southeast-1", "", PLAN_CODING, "coding-intl.dashscope.aliyuncs.com", 1);
	expect_place("ap-southeast-1", "llm-x", PLAN_CODING, "coding-intl.dashscope.aliyuncs.com",
		     1);
	expect_place("us-east-1", "", PLAN_PAYG, "dashscope-us.aliyuncs.com", 1);
	expect_place("us-east-1", "w", PLAN_PAYG, "w.us-east-1.maas.aliyuncs.com", 1);
	expect_place("us-east-1", "", PLAN_CODING, NULL, 0);
	expect_place("us-east-1", "w", PLAN_CODING, NULL, 0);
	expect_place("cn-hongkong", "", PLAN_PAYG, "cn-hongkong.dashscope.aliyuncs.com", 1);
	expect_place("cn-hongkong", "w", PLAN_PAYG, "w.cn-hongkong.maas.aliyuncs.com", 1);
	expect_place("cn-hongkong", "", PLAN_CODING, NULL, 0);
	expect_place("cn-hongkong", "w", PLAN_CODING, NULL, 0);
	expect_place("eu-central-1", "", PLAN_PAYG, NULL, 0);
	expect_place("eu-central-1", "ws-9", PLAN_PAYG, "ws-9.eu-central-1.maas.aliyuncs.com", 1);
	expect_place("eu-central-1", "", PLAN_CODING, NULL, 0);
	expect_place("eu-central-1", "ws-9", PLAN_CODING, NULL, 0);
	expect_place("ap-northeast-1", "", PLAN_PAYG, NULL, 0);
	expect_place("ap-northeast-1", "ws-9", PLAN_PAYG, "ws-9.ap-northeast-1.maas.aliyuncs.com",
		     1);
	expect_place("ap-northeast-1", "", PLAN_CODING, NULL, 0);
	expect_place("ap-northeast-1", "ws-9", PLAN_CODING, NULL, 0);
}
END_TEST

START_TEST(test_aliases_are_case_insensitive)
{
	static const char *const pairs[][2] = {
		{ "BeiJing", "cn-beijing" },
		{ "CN", "cn-beijing" },
		{ "china", "cn-beijing" },
		{ "Singapore", "ap-southeast-1" },
		{ "SG", "ap-southeast-1" },
		{ "intl", "ap-southeast-1" },
		{ "International", "ap-southeast-1" },
		{ "virginia", "us-east-1" },
		{ "US", "us-east-1" },
		{ "hongkong", "cn-hongkong" },
		{ "HK", "cn-hongkong" },
		{ "frankfurt", "eu-central-1" },
		{ "de", "eu-central-1" },
		{ "EU", "eu-central-1" },
		{ "tokyo", "ap-northeast-1" },
		{ "jp", "ap-northeast-1" },
		{ "AP-SOUTHEAST-1", "ap-southeast-1" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const struct region *r = region_find(pairs[i][0]);

		ck_assert_msg(r != NULL, "%s", pairs[i][0]);
		ck_assert_str_eq(r->id, pairs[i][1]);
	}
	ck_assert_ptr_null(region_find("mars"));
	ck_assert_ptr_null(region_find(""));
	ck_assert_ptr_null(region_find("cn-beijing "));
}
END_TEST

START_TEST(test_reverse_mapping_mixed_case_and_port_443)
{
	struct place pl;

	ck_assert_int_eq(place_from_host("DashScope-Intl.Aliyuncs.COM:443", &pl), 1);
	ck_assert_str_eq(pl.region->id, "ap-southeast-1");
	ck_assert_int_eq(pl.plan, PLAN_PAYG);
	ck_assert_int_eq(place_from_host("WS-ABC.EU-CENTRAL-1.MAAS.ALIYUNCS.COM", &pl), 1);
	ck_assert_str_eq(pl.region->id, "eu-central-1");
	ck_assert_str_eq(pl.workspace, "ws-abc");
	ck_assert_int_eq(place_from_host("coding-intl.dashscope.aliyuncs.com", &pl), 1);
	ck_assert_int_eq(pl.plan, PLAN_CODING);
	ck_assert_int_eq(place_from_host("cn-hongkong.dashscope.aliyuncs.com:443", &pl), 1);
	ck_assert_str_eq(pl.region->id, "cn-hongkong");
}
END_TEST

START_TEST(test_unknown_hosts_match_nothing)
{
	static const char *const hosts[] = {
		"evil.example",
		"dashscope.aliyuncs.com.evil.example",
		"evil.dashscope.aliyuncs.com",
		"dashscope.aliyuncs.com:8443",
		"dashscope.aliyuncs.com:",
		"dashscope.aliyuncs.com:abc",
		"dashscope.aliyuncs.com:-1",
		"dashscope.aliyuncs.com:99999",
		"",
		":443",
		"ws.mars-1.maas.aliyuncs.com",
		"a.b.cn-beijing.maas.aliyuncs.com",
		"-ws.cn-beijing.maas.aliyuncs.com",
		".cn-beijing.maas.aliyuncs.com",
		"maas.aliyuncs.com",
		"ws.cn-beijing.maas.aliyuncs.com.",
		"dashscope.aliyuncs.com.",
	};

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct place pl;

		ck_assert_msg(place_from_host(hosts[i], &pl) == 0, "%s matched", hosts[i]);
	}
}
END_TEST

START_TEST(test_host_split_is_strict)
{
	char name[64];
	unsigned port;

	ck_assert_int_eq(host_split("a.b:443", name, sizeof(name), &port), 0);
	ck_assert_uint_eq(port, 0);
	ck_assert_int_eq(host_split("A.b:8443", name, sizeof(name), &port), 0);
	ck_assert_str_eq(name, "a.b");
	ck_assert_uint_eq(port, 8443);
	ck_assert_int_eq(host_split("a.b:", name, sizeof(name), &port), -1);
	ck_assert_int_eq(host_split("a.b:0", name, sizeof(name), &port), -1);
	ck_assert_int_eq(host_split("a.b:65536", name, sizeof(name), &port), -1);
	ck_assert_int_eq(host_split("a.b:+1", name, sizeof(name), &port), -1);
	ck_assert_int_eq(host_split("a.b: 1", name, sizeof(name), &port), -1);
}
END_TEST

START_TEST(test_endpoint_override_replaces_origin)
{
	struct place pl = { region_find("sg"), "", PLAN_PAYG };
	struct endpoints ep;

	ck_assert_int_eq(place_endpoints(&pl, "https://gw.example.internal", &ep, NULL), DS_OK);
	ck_assert_str_eq(ep.base_url, "https://gw.example.internal/compatible-mode/v1");
	ck_assert_str_eq(ep.token_url, "https://gw.example.internal/api/v1/tokens");
	ck_assert_str_eq(ep.host, "dashscope-intl.aliyuncs.com");
}
END_TEST

START_TEST(test_endpoint_check_allows_http_only_on_loopback)
{
	char hp[128];

	ck_assert_int_eq(endpoint_check("https://gw.example:8443", hp, sizeof(hp), NULL), DS_OK);
	ck_assert_str_eq(hp, "gw.example:8443");
	ck_assert_int_eq(endpoint_check("https://GW.example:443", hp, sizeof(hp), NULL), DS_OK);
	ck_assert_str_eq(hp, "gw.example");
	ck_assert_int_eq(endpoint_check("http://127.0.0.1:8080", hp, sizeof(hp), NULL), DS_OK);
	ck_assert_int_eq(endpoint_check("http://127.1.2.3", hp, sizeof(hp), NULL), DS_OK);
	ck_assert_int_eq(endpoint_check("http://localhost:1", hp, sizeof(hp), NULL), DS_OK);
	ck_assert_int_eq(endpoint_check("http://[::1]:8080", hp, sizeof(hp), NULL), DS_OK);
	ck_assert_str_eq(hp, "[::1]:8080");
	ck_assert_int_eq(endpoint_check("http://example.com", hp, sizeof(hp), NULL), DS_EINPUT);
	ck_assert_int_eq(endpoint_check("http://127.0.0.1.evil.example", hp, sizeof(hp), NULL),
			 DS_EINPUT);
	ck_assert_int_eq(endpoint_check("http://10.0.0.1", hp, sizeof(hp), NULL), DS_EINPUT);
	ck_assert_int_eq(endpoint_check("ftp://gw", hp, sizeof(hp), NULL), DS_EINPUT);
	ck_assert_int_eq(endpoint_check("https://gw/path", hp, sizeof(hp), NULL), DS_EINPUT);
	ck_assert_int_eq(endpoint_check("https://user@gw", hp, sizeof(hp), NULL), DS_EINPUT);
	ck_assert_int_eq(endpoint_check("https://gw:99999", hp, sizeof(hp), NULL), DS_EINPUT);
}
END_TEST

START_TEST(test_names_and_workspaces)
{
	ck_assert(profile_name_valid("work"));
	ck_assert(profile_name_valid("a.b_c-D9"));
	ck_assert(!profile_name_valid(""));
	ck_assert(!profile_name_valid("a b"));
	ck_assert(!profile_name_valid("a\x1b"));
	ck_assert(!profile_name_valid("a/b"));
	ck_assert(profile_name_valid(
		"0123456789012345678901234567890123456789012345678901234567890123"));
	ck_assert(!profile_name_valid(
		"01234567890123456789012345678901234567890123456789012345678901234"));
	ck_assert(workspace_valid("ws-abc"));
	ck_assert(workspace_valid("LLM-1"));
	ck_assert(!workspace_valid("-ws"));
	ck_assert(!workspace_valid("ws-"));
	ck_assert(!workspace_valid("a.b"));
	ck_assert(!workspace_valid("ws\x07"));
	ck_assert(!workspace_valid(""));
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("region");

	ADD(tc, test_every_region_plan_and_workspace);
	ADD(tc, test_aliases_are_case_insensitive);
	ADD(tc, test_reverse_mapping_mixed_case_and_port_443);
	ADD(tc, test_unknown_hosts_match_nothing);
	ADD(tc, test_host_split_is_strict);
	ADD(tc, test_endpoint_override_replaces_origin);
	ADD(tc, test_endpoint_check_allows_http_only_on_loopback);
	ADD(tc, test_names_and_workspaces);
	suite_add_tcase(s, tc);
	return s;
}

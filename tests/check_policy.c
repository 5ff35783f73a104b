/* SPDX-License-Identifier: MIT */
/* The system policy's gate (SPEC section 6, conf/policy.c) and the one
 * lifetime rule (want_lifetime, core/cred.c) that comes before its cap. */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include "conf/conf.h"
#include "core/app.h"
#include "conf/policy.h"

/* c holds the system file text; the test frees it. */
static void load(struct conf *c, const char *text)
{
	struct ds_err err;

	conf_init(c);
	ck_assert_msg(conf_load_buffer(c, text, strlen(text), 1, &err) == DS_OK, "%s", err.msg);
}

static int lifetime_check(const char *policy, enum plan plan, unsigned long *lifetime, int *lowered,
			  struct ds_err *err)
{
	struct conf c;
	int rc;

	load(&c, policy);
	rc = policy_check_lifetime(&c.policy, "work", plan, lifetime, lowered, err);
	conf_free(&c);
	return rc;
}

START_TEST(test_policy_without_allowed_regions_allows_every_region)
{
	struct conf c;

	load(&c, "");
	for (size_t i = 0; i < region_count(); i++)
		ck_assert_int_eq(policy_check_region(&c.policy, region_at(i), NULL), DS_OK);
	conf_free(&c);
}
END_TEST

START_TEST(test_policy_allows_a_region_on_allowed_regions)
{
	struct conf c;

	load(&c, "[policy]\nallowed_regions = eu-central-1, sg\n");
	ck_assert_int_eq(policy_check_region(&c.policy, region_find("eu-central-1"), NULL), DS_OK);
	ck_assert_int_eq(policy_check_region(&c.policy, region_find("ap-southeast-1"), NULL),
			 DS_OK);
	conf_free(&c);
}
END_TEST

START_TEST(test_policy_refuses_a_region_outside_allowed_regions)
{
	struct conf c;
	struct ds_err err;

	load(&c, "[policy]\nallowed_regions = eu-central-1\n");
	ck_assert_int_eq(policy_check_region(&c.policy, region_find("cn"), &err), DS_EPOLICY);
	ck_assert_msg(strstr(err.msg, "allowed_regions does not include cn-beijing") != NULL, "%s",
		      err.msg);
	conf_free(&c);
}
END_TEST

START_TEST(test_policy_refuses_the_long_lived_key_without_allow_long_lived)
{
	unsigned long lifetime = 0;
	struct ds_err err;

	ck_assert_int_eq(lifetime_check("", PLAN_PAYG, &lifetime, NULL, &err), DS_EINPUT);
	ck_assert_msg(strstr(err.msg, "allow_long_lived = yes") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_policy_allows_the_long_lived_key_with_allow_long_lived)
{
	unsigned long lifetime = 0;

	ck_assert_int_eq(lifetime_check("[policy]\nallow_long_lived = yes\n", PLAN_PAYG, &lifetime,
					NULL, NULL),
			 DS_OK);
	ck_assert_uint_eq(lifetime, 0);
}
END_TEST

START_TEST(test_policy_require_temporary_refuses_the_long_lived_key)
{
	unsigned long lifetime = 0;
	struct ds_err err;

	ck_assert_int_eq(lifetime_check("[policy]\nallow_long_lived = yes\nrequire_temporary = yes\n",
					PLAN_PAYG, &lifetime, NULL, &err),
			 DS_EPOLICY);
	ck_assert_msg(strstr(err.msg,
			     "require_temporary refuses the long-lived key of profile work") !=
			      NULL,
		      "%s", err.msg);
}
END_TEST

START_TEST(test_policy_require_temporary_refuses_a_coding_plan_profile)
{
	unsigned long lifetime = 60;
	struct ds_err err;

	/* a Coding Plan key has no temporary keys: only its long-lived key */
	ck_assert_int_eq(lifetime_check("[policy]\nrequire_temporary = yes\n", PLAN_CODING,
					&lifetime, NULL, &err),
			 DS_EPOLICY);
}
END_TEST

START_TEST(test_policy_require_temporary_allows_a_temporary_key)
{
	unsigned long lifetime = 60;

	ck_assert_int_eq(lifetime_check("[policy]\nrequire_temporary = yes\n", PLAN_PAYG, &lifetime,
					NULL, NULL),
			 DS_OK);
	ck_assert_uint_eq(lifetime, 60);
}
END_TEST

START_TEST(test_policy_max_lifetime_lowers_a_longer_lifetime)
{
	unsigned long lifetime = 1800;
	int lowered = 0;

	ck_assert_int_eq(lifetime_check("[policy]\nmax_lifetime = 300\n", PLAN_PAYG, &lifetime,
					&lowered, NULL),
			 DS_OK);
	ck_assert_uint_eq(lifetime, 300);
	ck_assert_int_eq(lowered, 1);
}
END_TEST

START_TEST(test_policy_max_lifetime_keeps_a_lifetime_within_it)
{
	unsigned long lifetime = 300;
	int lowered = 1;

	ck_assert_int_eq(lifetime_check("[policy]\nmax_lifetime = 300\n", PLAN_PAYG, &lifetime,
					&lowered, NULL),
			 DS_OK);
	ck_assert_uint_eq(lifetime, 300);
	ck_assert_int_eq(lowered, 0);
}
END_TEST

START_TEST(test_policy_without_max_lifetime_keeps_the_lifetime)
{
	unsigned long lifetime = 1800;

	ck_assert_int_eq(lifetime_check("", PLAN_PAYG, &lifetime, NULL, NULL), DS_OK);
	ck_assert_uint_eq(lifetime, 1800);
}
END_TEST

START_TEST(test_policy_refuses_a_store_outside_allowed_stores)
{
	struct conf c;
	struct ds_err err;

	load(&c, "[policy]\nallowed_stores = secret-service\n");
	ck_assert_int_eq(policy_check_store(&c.policy, STORE_SECRET_SERVICE, NULL), DS_OK);
	ck_assert_int_eq(policy_check_store(&c.policy, STORE_FILE, &err), DS_EPOLICY);
	ck_assert_msg(strstr(err.msg, "allowed_stores forbids the file store") != NULL, "%s",
		      err.msg);
	conf_free(&c);
}
END_TEST

/* store = auto never picks a store the policy forbids (SPEC 3, 6). */
START_TEST(test_policy_store_auto_picks_only_allowed_stores)
{
	static const struct {
		const char *policy;
		enum store_kind kind;
		int file_after;
	} cases[] = {
		{ "", STORE_SECRET_SERVICE, 1 },
		{ "[policy]\nallowed_stores = secret-service\n", STORE_SECRET_SERVICE, 0 },
		{ "[policy]\nallowed_stores = file, broker\n", STORE_FILE, 0 },
		{ "[policy]\nallowed_stores = broker\n", STORE_BROKER, 0 },
	};
	struct store_choice ch;
	struct conf c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load(&c, cases[i].policy);
		ck_assert_int_eq(policy_store_choice(&c.policy, STORE_AUTO, NULL, &ch, NULL),
				 DS_OK);
		ck_assert_int_eq(ch.kind, cases[i].kind);
		ck_assert_int_eq(ch.file_after, cases[i].file_after);
		conf_free(&c);
	}
}
END_TEST

START_TEST(test_policy_store_choice_refuses_a_configured_store_it_forbids)
{
	struct store_choice ch;
	struct ds_err err;
	struct conf c;

	load(&c, "[policy]\nallowed_stores = broker\n");
	ck_assert_int_eq(policy_store_choice(&c.policy, STORE_FILE, "the environment", &ch, &err),
			 DS_EPOLICY);
	ck_assert_msg(strstr(err.msg, "forbids the file store") != NULL, "%s", err.msg);
	ck_assert_int_eq(policy_store_choice(&c.policy, STORE_BROKER, "the environment", &ch, &err),
			 DS_OK);
	ck_assert_str_eq(ch.why, "store = broker is set in the environment");
	conf_free(&c);
}
END_TEST

/* The lifetime rule: request, else [profile NAME], else [defaults], else 60. */
static const char lifetimes[] = "[defaults]\nlifetime = 90\n[profile work]\nlifetime = 120\n";

START_TEST(test_lifetime_takes_the_request_first)
{
	struct conf c;
	struct want w = { 0 };

	load(&c, lifetimes);
	w.lifetime_given = 1;
	w.lifetime = 30;
	ck_assert_uint_eq(want_lifetime(&c, &w, "work"), 30);
	conf_free(&c);
}
END_TEST

START_TEST(test_lifetime_keeps_a_requested_zero_for_the_policy_to_judge)
{
	struct conf c;
	struct want w = { 0 };

	load(&c, lifetimes);
	w.lifetime_given = 1;
	w.lifetime = 0;
	ck_assert_uint_eq(want_lifetime(&c, &w, "work"), 0);
	conf_free(&c);
}
END_TEST

START_TEST(test_lifetime_takes_the_profile_setting_without_a_request)
{
	struct conf c;
	struct want w = { 0 };

	load(&c, lifetimes);
	ck_assert_uint_eq(want_lifetime(&c, &w, "work"), 120);
	conf_free(&c);
}
END_TEST

START_TEST(test_lifetime_takes_the_defaults_for_a_profile_without_one)
{
	struct conf c;
	struct want w = { 0 };

	load(&c, lifetimes);
	ck_assert_uint_eq(want_lifetime(&c, &w, "other"), 90);
	ck_assert_uint_eq(want_lifetime(&c, &w, NULL), 90);
	conf_free(&c);
}
END_TEST

START_TEST(test_lifetime_is_60_seconds_when_nothing_sets_it)
{
	struct conf c;
	struct want w = { 0 };

	load(&c, "[profile work]\nmodel = qwen-plus\n");
	ck_assert_uint_eq(want_lifetime(&c, &w, "work"), 60);
	conf_free(&c);
}
END_TEST

START_TEST(test_lifetime_is_then_capped_by_the_policy)
{
	struct conf c;
	struct want w = { 0 };
	unsigned long lifetime;
	int lowered = 0;

	load(&c, "[defaults]\nlifetime = 900\n[policy]\nmax_lifetime = 300\n");
	lifetime = want_lifetime(&c, &w, "work");
	ck_assert_uint_eq(lifetime, 900);
	ck_assert_int_eq(policy_check_lifetime(&c.policy, "work", PLAN_PAYG, &lifetime, &lowered,
					       NULL),
			 DS_OK);
	ck_assert_uint_eq(lifetime, 300);
	ck_assert_int_eq(lowered, 1);
	conf_free(&c);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("policy");
	TCase *tp = tcase_create("policy");
	TCase *tl = tcase_create("lifetime");

	ADD(tp, test_policy_without_allowed_regions_allows_every_region);
	ADD(tp, test_policy_allows_a_region_on_allowed_regions);
	ADD(tp, test_policy_refuses_a_region_outside_allowed_regions);
	ADD(tp, test_policy_refuses_the_long_lived_key_without_allow_long_lived);
	ADD(tp, test_policy_allows_the_long_lived_key_with_allow_long_lived);
	ADD(tp, test_policy_require_temporary_refuses_the_long_lived_key);
	ADD(tp, test_policy_require_temporary_refuses_a_coding_plan_profile);
	ADD(tp, test_policy_require_temporary_allows_a_temporary_key);
	ADD(tp, test_policy_max_lifetime_lowers_a_longer_lifetime);
	ADD(tp, test_policy_max_lifetime_keeps_a_lifetime_within_it);
	ADD(tp, test_policy_without_max_lifetime_keeps_the_lifetime);
	ADD(tp, test_policy_refuses_a_store_outside_allowed_stores);
	ADD(tp, test_policy_store_auto_picks_only_allowed_stores);
	ADD(tp, test_policy_store_choice_refuses_a_configured_store_it_forbids);
	suite_add_tcase(s, tp);
	ADD(tl, test_lifetime_takes_the_request_first);
	ADD(tl, test_lifetime_keeps_a_requested_zero_for_the_policy_to_judge);
	ADD(tl, test_lifetime_takes_the_profile_setting_without_a_request);
	ADD(tl, test_lifetime_takes_the_defaults_for_a_profile_without_one);
	ADD(tl, test_lifetime_is_60_seconds_when_nothing_sets_it);
	ADD(tl, test_lifetime_is_then_capped_by_the_policy);
	suite_add_tcase(s, tl);
	return s;
}

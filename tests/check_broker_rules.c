/* SPDX-License-Identifier: MIT */
/* The [broker] rules (SPEC section 12): parsing, errors naming file and
 * line, and who may use which profile (the union of a caller's lines). */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include "conf/conf.h"

static const char *const devs_groups[] = { "users", "devs" };
static const struct broker_caller alice = { "alice", NULL, 0 };
static const struct broker_caller bob_in_devs = { "bob", devs_groups, 2 };
static const struct broker_caller carol = { "carol", NULL, 0 };

static int load(struct conf *c, const char *text, int is_system, struct ds_err *err)
{
	conf_init(c);
	return conf_load_buffer(c, text, strlen(text), is_system, err);
}

START_TEST(test_user_rule_allows_only_its_profiles)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nalice = org, research\n", 1, &err), DS_OK);
	ck_assert(broker_rules_name(&c.broker, &alice));
	ck_assert(broker_rules_allow(&c.broker, &alice, "org"));
	ck_assert(broker_rules_allow(&c.broker, &alice, "research"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "other"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "rg"));
	conf_free(&c);
}
END_TEST

START_TEST(test_unnamed_user_is_named_by_no_rule)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nalice = org\n@devs = team\n", 1, &err), DS_OK);
	ck_assert(!broker_rules_name(&c.broker, &carol));
	ck_assert(!broker_rules_allow(&c.broker, &carol, "org"));
	conf_free(&c);
}
END_TEST

START_TEST(test_group_rule_matches_members)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\n@devs = team\n", 1, &err), DS_OK);
	ck_assert(broker_rules_name(&c.broker, &bob_in_devs));
	ck_assert(broker_rules_allow(&c.broker, &bob_in_devs, "team"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "team"));
	conf_free(&c);
}
END_TEST

START_TEST(test_caller_gets_union_of_user_group_and_star_rules)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nbob = own\n@devs = team\n* = org\n", 1, &err), DS_OK);
	ck_assert(broker_rules_allow(&c.broker, &bob_in_devs, "own"));
	ck_assert(broker_rules_allow(&c.broker, &bob_in_devs, "team"));
	ck_assert(broker_rules_allow(&c.broker, &bob_in_devs, "org"));
	ck_assert(broker_rules_allow(&c.broker, &carol, "org"));
	ck_assert(!broker_rules_allow(&c.broker, &carol, "team"));
	conf_free(&c);
}
END_TEST

START_TEST(test_max_lifetime_and_rate_are_read)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nmax_lifetime = 120\nrate = 5/min\n", 1, &err), DS_OK);
	ck_assert_uint_eq(c.broker.max_lifetime, 120);
	ck_assert_uint_eq(broker_rate(&c.broker), 5);
	conf_free(&c);
	ck_assert_int_eq(load(&c, "[broker]\n", 1, &err), DS_OK);
	ck_assert_uint_eq(broker_rate(&c.broker), BROKER_RATE_DEFAULT);
	conf_free(&c);
}
END_TEST

START_TEST(test_bad_lines_name_file_and_line)
{
	static const char *const bad[] = {
		"[broker]\n\nrate = 5\n",      "[broker]\n\nrate = 0/min\n",
		"[broker]\n\nrate = 5/hour\n", "[broker]\n\nmax_lifetime = 1801\n",
		"[broker]\n\nalice = \n",      "[broker]\n\nalice = org, sk-abc!\n",
		"[broker]\n\n-bad = org\n",    "[broker]\n\n@ = org\n",
		"[broker]\n\nal ice = org\n",  "[broker]\n\nmax_lifetime = abc\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf c;
		struct ds_err err;

		ck_assert_int_eq(load(&c, bad[i], 1, &err), DS_EINPUT);
		ck_assert_msg(strstr(err.msg, "system-config:3:") != NULL, "%s -> %s", bad[i],
			      err.msg);
		conf_free(&c);
	}
}
END_TEST

START_TEST(test_user_file_cannot_grant_broker_rules)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\n* = org\nrate = 1000/min\n", 0, &err), DS_OK);
	ck_assert_ptr_null(c.broker.rules);
	ck_assert_int_eq(c.user_policy_ignored, 1);
	ck_assert_uint_eq(broker_rate(&c.broker), BROKER_RATE_DEFAULT);
	conf_free(&c);
}
END_TEST

START_TEST(test_store_broker_parses)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[defaults]\nstore = broker\n[policy]\nallowed_stores = broker\n",
			      1, &err),
			 DS_OK);
	ck_assert_int_eq(c.store, STORE_BROKER);
	ck_assert_uint_eq(c.policy.allowed_stores, 1u << STORE_BROKER);
	ck_assert_str_eq(store_kind_name(STORE_BROKER), "broker");
	conf_free(&c);
}
END_TEST

START_TEST(test_user_rule_does_not_match_a_group_of_that_name)
{
	static const char *const alice_groups[] = { "alice" };
	static const struct broker_caller bob_in_alice = { "bob", alice_groups, 1 };
	static const struct broker_caller devs_user = { "devs", NULL, 0 };
	struct conf c;
	struct ds_err err;

	/* "alice" names the user, "@devs" the group: never the other */
	ck_assert_int_eq(load(&c, "[broker]\nalice = org\n@devs = team\n", 1, &err), DS_OK);
	ck_assert(!broker_rules_name(&c.broker, &bob_in_alice));
	ck_assert(!broker_rules_allow(&c.broker, &bob_in_alice, "org"));
	ck_assert(!broker_rules_allow(&c.broker, &devs_user, "team"));
	conf_free(&c);
}
END_TEST

START_TEST(test_two_lines_of_one_user_add_up)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nalice = org\nalice = research\n", 1, &err), DS_OK);
	ck_assert(broker_rules_allow(&c.broker, &alice, "org"));
	ck_assert(broker_rules_allow(&c.broker, &alice, "research"));
	conf_free(&c);
}
END_TEST

START_TEST(test_profiles_match_whole_names_only)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nalice = org.eu\n", 1, &err), DS_OK);
	ck_assert(broker_rules_allow(&c.broker, &alice, "org.eu"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "org"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "org.e"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "org.eu2"));
	ck_assert(!broker_rules_allow(&c.broker, &alice, "ORG.EU"));
	conf_free(&c);
}
END_TEST

START_TEST(test_rate_and_max_lifetime_limits_are_inclusive)
{
	static const char *const bad[] = {
		"[broker]\nrate = 1000001/min\n",
		"[broker]\nmax_lifetime = 0\n",
		"[broker]\nrate = -1/min\n",
	};
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, "[broker]\nrate = 1000000/min\nmax_lifetime = 1800\n", 1, &err),
			 DS_OK);
	ck_assert_uint_eq(broker_rate(&c.broker), 1000000);
	ck_assert_uint_eq(c.broker.max_lifetime, 1800);
	conf_free(&c);
	ck_assert_int_eq(load(&c, "[broker]\nrate = 1/min\nmax_lifetime = 1\n", 1, &err), DS_OK);
	ck_assert_uint_eq(broker_rate(&c.broker), 1);
	conf_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(load(&c, bad[i], 1, &err) == DS_EINPUT, "accepted: %s", bad[i]);
		conf_free(&c);
	}
}
END_TEST

START_TEST(test_slip_of_a_setting_is_an_error_naming_it)
{
	static const char *const slips[] = { "max-lifetime", "Max_Lifetime", "max_lifetme",
					     "maxlifetime",  "RATE",	     "max.lifetime" };
	struct conf c;
	struct ds_err err;
	char text[128];

	for (size_t i = 0; i < sizeof(slips) / sizeof(slips[0]); i++) {
		snprintf(text, sizeof(text), "[broker]\nalice = org\n%s = 60\n", slips[i]);
		ck_assert_msg(load(&c, text, 1, &err) == DS_EINPUT, "accepted: %s", slips[i]);
		ck_assert_msg(strstr(err.msg, ":3:") &&
				      (strstr(err.msg, "did you mean max_lifetime?") ||
				       strstr(err.msg, "did you mean rate?")),
			      "%s: %s", slips[i], err.msg);
		conf_free(&c);
	}
}
END_TEST

START_TEST(test_user_names_near_a_short_setting_are_rules)
{
	static const char *const users[] = { "kate", "nate", "rates", "max" };
	struct conf c;
	struct ds_err err;
	char text[128];

	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		snprintf(text, sizeof(text), "[broker]\n%s = org\n", users[i]);
		ck_assert_msg(load(&c, text, 1, &err) == DS_OK, "%s: %s", users[i], err.msg);
		conf_free(&c);
	}
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("broker_rules");
	TCase *tc = tcase_create("rules");

	ADD(tc, test_user_rule_allows_only_its_profiles);
	ADD(tc, test_unnamed_user_is_named_by_no_rule);
	ADD(tc, test_group_rule_matches_members);
	ADD(tc, test_caller_gets_union_of_user_group_and_star_rules);
	ADD(tc, test_max_lifetime_and_rate_are_read);
	ADD(tc, test_bad_lines_name_file_and_line);
	ADD(tc, test_user_file_cannot_grant_broker_rules);
	ADD(tc, test_store_broker_parses);
	ADD(tc, test_user_rule_does_not_match_a_group_of_that_name);
	ADD(tc, test_two_lines_of_one_user_add_up);
	ADD(tc, test_profiles_match_whole_names_only);
	ADD(tc, test_rate_and_max_lifetime_limits_are_inclusive);
	ADD(tc, test_slip_of_a_setting_is_an_error_naming_it);
	ADD(tc, test_user_names_near_a_short_setting_are_rules);
	suite_add_tcase(s, tc);
	return s;
}

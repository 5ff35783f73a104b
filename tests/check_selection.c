/* SPDX-License-Identifier: MIT */
/* Credential selection (SPEC section 4, core/profile.c): an explicit
 * profile, region/workspace/plan criteria, the default among several. */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include "core/profile.h"

static struct profile mk(const char *name, const char *region, const char *ws, enum plan plan)
{
	struct profile p;

	memset(&p, 0, sizeof(p));
	strcpy(p.name, name);
	p.place.region = region_find(region);
	strcpy(p.place.workspace, ws);
	p.place.plan = plan;
	return p;
}

/* a and b in Singapore (b with a workspace), c and d in Beijing (d
 * Coding Plan): every rule below is read against this list. */
static struct profile_list sample(void)
{
	struct profile_list l = { 0 };
	const struct profile ps[] = {
		mk("a", "sg", "", PLAN_PAYG),
		mk("b", "sg", "ws-1", PLAN_PAYG),
		mk("c", "cn", "", PLAN_PAYG),
		mk("d", "cn", "", PLAN_CODING),
	};

	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		ck_assert_int_eq(profile_list_add(&l, &ps[i]), 0);
	return l;
}

/* Selects from the sample; *name is the profile chosen, "" for none. */
static int pick(const struct criteria *cr, const char *def, const char **name, struct ds_err *err)
{
	struct profile_list l = sample();
	const struct profile *p = NULL;
	static char chosen[DS_PROFILE_MAX];
	int rc = select_profile(&l, cr, def, &p, err);

	strcpy(chosen, p ? p->name : "");
	*name = chosen;
	profile_list_free(&l);
	return rc;
}

START_TEST(test_selection_takes_the_explicit_profile)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.profile = "b";
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "b");
}
END_TEST

START_TEST(test_selection_refuses_an_explicit_profile_that_disagrees_with_the_region)
{
	struct criteria cr = { 0 };
	struct ds_err err;
	const char *name;

	cr.profile = "b";
	cr.region = region_find("cn");
	ck_assert_int_eq(pick(&cr, NULL, &name, &err), DS_EFAIL);
	ck_assert_str_eq(name, "");
	ck_assert_msg(strstr(err.msg, "Profile b is for ") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_selection_refuses_an_explicit_profile_of_another_plan)
{
	struct criteria cr = { 0 };
	struct ds_err err;
	const char *name;

	cr.profile = "c";
	cr.has_plan = 1;
	cr.plan = PLAN_CODING;
	ck_assert_int_eq(pick(&cr, NULL, &name, &err), DS_EFAIL);
}
END_TEST

START_TEST(test_selection_of_an_unknown_explicit_profile_is_no_match)
{
	struct criteria cr = { 0 };
	const char *name;

	/* the default is not a stand-in for a profile that was named */
	cr.profile = "zz";
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "");
}
END_TEST

START_TEST(test_selection_prefers_the_default_profile_among_several_matches)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.region = region_find("sg");
	ck_assert_int_eq(pick(&cr, "b", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "b");
}
END_TEST

START_TEST(test_selection_names_every_match_when_several_match_and_none_is_the_default)
{
	struct criteria cr = { 0 };
	struct ds_err err;
	const char *name;

	cr.region = region_find("sg");
	ck_assert_int_eq(pick(&cr, NULL, &name, &err), DS_EFAIL);
	ck_assert_str_eq(name, "");
	ck_assert_msg(strstr(err.msg, "Several profiles match (a, b)") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_selection_ignores_a_default_that_is_not_among_the_matches)
{
	struct criteria cr = { 0 };
	struct ds_err err;
	const char *name;

	cr.region = region_find("sg");
	ck_assert_int_eq(pick(&cr, "c", &name, &err), DS_EFAIL);
	ck_assert_str_eq(name, "");
}
END_TEST

START_TEST(test_selection_by_region_takes_its_only_profile)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.region = region_find("cn");
	cr.has_plan = 1;
	cr.plan = PLAN_PAYG;
	ck_assert_int_eq(pick(&cr, NULL, &name, NULL), DS_OK);
	ck_assert_str_eq(name, "c");
}
END_TEST

START_TEST(test_selection_by_workspace_takes_the_profile_of_that_workspace)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.workspace = "ws-1";
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "b");
}
END_TEST

START_TEST(test_selection_by_no_workspace_leaves_out_profiles_with_one)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.region = region_find("sg");
	cr.workspace = "";
	ck_assert_int_eq(pick(&cr, NULL, &name, NULL), DS_OK);
	ck_assert_str_eq(name, "a");
}
END_TEST

START_TEST(test_selection_by_plan_takes_the_coding_plan_profile)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.has_plan = 1;
	cr.plan = PLAN_CODING;
	ck_assert_int_eq(pick(&cr, "c", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "d");
}
END_TEST

START_TEST(test_selection_without_criteria_takes_the_default_profile)
{
	struct criteria cr = { 0 };
	const char *name;

	ck_assert_int_eq(pick(&cr, "c", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "c");
}
END_TEST

START_TEST(test_selection_without_criteria_or_default_refuses_several_profiles)
{
	struct criteria cr = { 0 };
	struct ds_err err;
	const char *name;

	ck_assert_int_eq(pick(&cr, NULL, &name, &err), DS_EFAIL);
	ck_assert_msg(strstr(err.msg, "(a, b, c, d)") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_selection_with_a_default_naming_a_missing_profile_says_so)
{
	struct criteria cr = { 0 };
	struct ds_err err;
	const char *name;

	ck_assert_int_eq(pick(&cr, "gone", &name, &err), DS_EFAIL);
	ck_assert_str_eq(name, "");
	ck_assert_msg(strstr(err.msg, "The default profile gone does not exist") != NULL, "%s",
		      err.msg);
}
END_TEST

START_TEST(test_selection_takes_the_only_profile_when_the_default_names_a_missing_one)
{
	struct profile_list l = { 0 };
	struct profile one = mk("solo", "us", "", PLAN_PAYG);
	struct criteria cr = { 0 };
	const struct profile *p;

	ck_assert_int_eq(profile_list_add(&l, &one), 0);
	ck_assert_int_eq(select_profile(&l, &cr, "gone", &p, NULL), DS_OK);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->name, "solo");
	profile_list_free(&l);
}
END_TEST

START_TEST(test_selection_matching_nothing_is_no_match)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.region = region_find("us");
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "");
}
END_TEST

START_TEST(test_selection_from_no_profiles_is_no_match)
{
	struct profile_list l = { 0 };
	struct criteria cr = { 0 };
	const struct profile *p = &(struct profile){ 0 };

	ck_assert_int_eq(select_profile(&l, &cr, "a", &p, NULL), DS_OK);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_selection_for_a_place_we_do_not_serve_never_falls_back_to_the_default)
{
	struct criteria cr = { 0 };
	const char *name;

	/* git CVE-2020-11008: an unknown host is nobody's, not the default's */
	cr.place_request = 1;
	cr.place_ok = 0;
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "");
	cr.profile = "a";
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "");
}
END_TEST

START_TEST(test_selection_for_a_place_we_serve_follows_its_criteria)
{
	struct criteria cr = { 0 };
	const char *name;

	cr.place_request = 1;
	cr.place_ok = 1;
	cr.region = region_find("cn");
	cr.has_plan = 1;
	cr.plan = PLAN_CODING;
	ck_assert_int_eq(pick(&cr, "a", &name, NULL), DS_OK);
	ck_assert_str_eq(name, "d");
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("selection");
	TCase *tc = tcase_create("selection");

	ADD(tc, test_selection_takes_the_explicit_profile);
	ADD(tc, test_selection_refuses_an_explicit_profile_that_disagrees_with_the_region);
	ADD(tc, test_selection_refuses_an_explicit_profile_of_another_plan);
	ADD(tc, test_selection_of_an_unknown_explicit_profile_is_no_match);
	ADD(tc, test_selection_prefers_the_default_profile_among_several_matches);
	ADD(tc, test_selection_names_every_match_when_several_match_and_none_is_the_default);
	ADD(tc, test_selection_ignores_a_default_that_is_not_among_the_matches);
	ADD(tc, test_selection_by_region_takes_its_only_profile);
	ADD(tc, test_selection_by_workspace_takes_the_profile_of_that_workspace);
	ADD(tc, test_selection_by_no_workspace_leaves_out_profiles_with_one);
	ADD(tc, test_selection_by_plan_takes_the_coding_plan_profile);
	ADD(tc, test_selection_without_criteria_takes_the_default_profile);
	ADD(tc, test_selection_without_criteria_or_default_refuses_several_profiles);
	ADD(tc, test_selection_with_a_default_naming_a_missing_profile_says_so);
	ADD(tc, test_selection_takes_the_only_profile_when_the_default_names_a_missing_one);
	ADD(tc, test_selection_matching_nothing_is_no_match);
	ADD(tc, test_selection_from_no_profiles_is_no_match);
	ADD(tc, test_selection_for_a_place_we_do_not_serve_never_falls_back_to_the_default);
	ADD(tc, test_selection_for_a_place_we_serve_follows_its_criteria);
	suite_add_tcase(s, tc);
	return s;
}

/* SPDX-License-Identifier: MIT */
/* Config parsing: good files, bad files (errors name file and line), and
 * the system-only [policy] and [pam] sections. */
#include "config.h"
#include "check_main.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conf/conf.h"

static int load(struct conf *c, const char *text, int is_system, struct ds_err *err)
{
	conf_init(c);
	return conf_load_buffer(c, text, strlen(text), is_system, err);
}

START_TEST(test_reads_the_spec_example)
{
	struct conf c;
	struct ds_err err;
	const struct profile_conf *p;
	static const char text[] = "[defaults]\n"
				   "profile = work          # default profile\n"
				   "store = auto            ; comment\n"
				   "lifetime = 60\n"
				   "endpoint = https://gw.example.internal\n"
				   "ca_file = /etc/ssl/private-ca.pem\n"
				   "timeout = 10\n"
				   "\n"
				   "[profile work]\n"
				   "lifetime = 120\n"
				   "model = qwen-plus\n"
				   "[policy]\n"
				   "allowed_regions = eu-central-1, sg\n"
				   "max_lifetime = 300\n"
				   "allow_long_lived = no\n"
				   "require_temporary = yes\n"
				   "allowed_stores = secret-service\n"
				   "[pam]\n"
				   "alice = region=eu workspace=ws-1\n"
				   "@devs = profile=team\n";

	ck_assert_int_eq(load(&c, text, 1, &err), DS_OK);
	ck_assert_str_eq(c.default_profile, "work");
	ck_assert_int_eq(c.store, STORE_AUTO);
	ck_assert_uint_eq(c.lifetime, 60);
	ck_assert_str_eq(c.endpoint, "https://gw.example.internal");
	ck_assert_str_eq(c.ca_file, "/etc/ssl/private-ca.pem");
	p = conf_profile(&c, "work");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->lifetime, 120);
	ck_assert_str_eq(p->model, "qwen-plus");
	ck_assert(policy_allows_region(&c.policy, region_find("eu")));
	ck_assert(policy_allows_region(&c.policy, region_find("singapore")));
	ck_assert(!policy_allows_region(&c.policy, region_find("cn-beijing")));
	ck_assert_uint_eq(c.policy.max_lifetime, 300);
	ck_assert_int_eq(c.policy.require_temporary, 1);
	ck_assert_uint_eq(c.policy.allowed_stores, 1u << STORE_SECRET_SERVICE);
	ck_assert_ptr_nonnull(c.pam_rules);
	ck_assert_str_eq(c.pam_rules->who, "alice");
	ck_assert_str_eq(c.pam_rules->settings, "region=eu workspace=ws-1");
	ck_assert_str_eq(c.pam_rules->next->who, "@devs");
	conf_free(&c);
}
END_TEST

START_TEST(test_user_file_cannot_set_policy_or_pam)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c,
			      "[policy]\nallow_long_lived = yes\nmax_lifetime = 5\n[pam]\nx = y\n",
			      0, &err),
			 DS_OK);
	ck_assert_int_eq(c.policy.allow_long_lived, 0);
	ck_assert_uint_eq(c.policy.max_lifetime, 0);
	ck_assert_ptr_null(c.pam_rules);
	ck_assert_int_eq(c.user_policy_ignored, 1);
	conf_free(&c);
}
END_TEST

START_TEST(test_quoted_values_keep_comment_characters)
{
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c,
			      "[profile m]\nmodel = \"a # b ; \\\"c\\\" \\\\ $d\"  # trailing\n", 0,
			      &err),
			 DS_OK);
	ck_assert_str_eq(conf_profile(&c, "m")->model, "a # b ; \"c\" \\ $d");
	conf_free(&c);
	ck_assert_int_eq(load(&c, "[profile m]\nmodel = x#y\n", 0, &err), DS_OK);
	ck_assert_str_eq(conf_profile(&c, "m")->model, "x#y");
	conf_free(&c);
}
END_TEST

static void expect_bad(const char *text, const char *fragment)
{
	struct conf c;
	struct ds_err err = { 0, "" };

	ck_assert_msg(load(&c, text, 1, &err) == DS_EINPUT, "accepted: %s", text);
	ck_assert_msg(strstr(err.msg, fragment) != NULL, "'%s' lacks '%s'", err.msg, fragment);
	conf_free(&c);
}

START_TEST(test_bad_files_name_file_and_line)
{
	expect_bad("[defaults]\nlifetime = 0\n", "system-config:2:");
	expect_bad("[defaults]\nlifetime = 1801\n", ":2:");
	expect_bad("[defaults]\nlifetime = abc\n", "lifetime");
	expect_bad("[defaults]\n\n\nstore = keychain\n", ":4:");
	expect_bad("[defaults]\nendpoint = http://example.com\n", "loopback");
	expect_bad("[defaults]\ntimeout = 0\n", "timeout");
	expect_bad("[defaults]\nlifetme = 5\n", "not a setting");
	expect_bad("[defaults]\nprofile = a b\n", "profile");
	expect_bad("[defualts]\nprofile = a\n", "unknown section");
	expect_bad("x = 1\n", "outside any");
	expect_bad("[defaults\n", "without ']'");
	expect_bad("[defaults]\njust words\n", "name = value");
	expect_bad("[defaults]\n= v\n", "empty name");
	expect_bad("[profile a/b]\nlifetime = 5\n", "profile");
	expect_bad("[profile a]\nregion = mars\n", "region");
	expect_bad("[profile a]\nworkspace = -x\n", "workspace");
	expect_bad("[profile a]\nmodel = \"open\n", "quoted");
	expect_bad("[policy]\nallowed_regions = mars\n", "allowed_regions");
	expect_bad("[policy]\nallowed_stores = auto\n", "allowed_stores");
	expect_bad("[policy]\nallow_long_lived = maybe\n", "yes or no");
	expect_bad("[defaults]\nprofile = \x1b[31m\n", "control");
	expect_bad("[defaults]\nprofile = \xff\n", "UTF-8");
}
END_TEST

/* Found by fuzz_config: a tab in a setting name reached the terminal. */
START_TEST(test_error_messages_carry_no_control_characters)
{
	static const char text[] = "[defaults]\npro\tfile = a\n";
	struct conf c;
	struct ds_err err;

	ck_assert_int_eq(load(&c, text, 0, &err), DS_EINPUT);
	ck_assert_msg(strstr(err.msg, "'pro?file'"), "message: %s", err.msg);
	conf_free(&c);
}
END_TEST

START_TEST(test_later_file_overrides_earlier)
{
	struct conf c;
	struct ds_err err;

	conf_init(&c);
	static const char sys[] = "[defaults]\nlifetime = 100\nprofile = a\n";
	static const char usr[] = "[defaults]\nlifetime = 200\n";

	ck_assert_int_eq(conf_load_buffer(&c, sys, strlen(sys), 1, &err), DS_OK);
	ck_assert_int_eq(conf_load_buffer(&c, usr, strlen(usr), 0, &err), DS_OK);
	ck_assert_uint_eq(c.lifetime, 200);
	ck_assert_str_eq(c.default_profile, "a");
	conf_free(&c);
}
END_TEST

/* SPEC section 15: key_file and key_credential, one source a profile. */
START_TEST(test_key_sources_parse_and_check)
{
	static const char text[] = "[profile a]\nregion = singapore\nkey_file = /run/secrets/a\n"
				   "[profile b]\nregion = singapore\nkey_file = /x\n"
				   "key_credential = dashscope-credential.b\n";
	const struct profile_conf *p;
	struct conf c;
	struct ds_err err;

	ck_assert_msg(load(&c, text, 0, &err) == DS_OK, "%s", err.msg);
	p = conf_profile(&c, "a");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->key_file, "/run/secrets/a");
	ck_assert_ptr_null(p->key_credential);
	ck_assert_int_eq(p->source_system, 0);
	p = conf_profile(&c, "b");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(p->key_file);
	ck_assert_str_eq(p->key_credential, "dashscope-credential.b");
	ck_assert_uint_eq(p->source_line, 7);
	conf_free(&c);
	expect_bad("[profile a]\nregion = sg\nkey_file = run/secrets/a\n",
		   ":3: 'key_file' must be an absolute path");
	expect_bad("[profile a]\nregion = sg\nkey_credential = ../a\n", ":3: 'key_credential'");
	expect_bad("[profile a]\nregion = sg\nkey_credential = ..\n", "key_credential");
	expect_bad("[profile a]\nkey_file = /a\n",
		   ":2: [profile a] takes its key from key_file but names no region");
}
END_TEST

/* conf_profile_source_text on a file holding text: the text it would
 * write (the caller frees it). */
static char *rewritten(const char *text, const char *name, const char *settings)
{
	char path[] = "/tmp/ds-conf.XXXXXX", target[PATH_MAX], *out = NULL;
	size_t len = 0;
	struct ds_err err;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	ck_assert_msg(conf_profile_source_text(path, name, settings, target, sizeof(target), &out,
					       &len, &err) == DS_OK,
		      "%s", err.msg);
	unlink(path);
	ck_assert_str_eq(target, path);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

#define SEALED_SETTINGS "region = ap-southeast-1\nkey_credential = dashscope-credential.org\n"

START_TEST(test_sealed_source_is_added_in_a_section_of_its_own)
{
	char *out = rewritten("[defaults]\ntimeout = 3\n", "org", SEALED_SETTINGS);

	ck_assert_str_eq(out, "[defaults]\ntimeout = 3\n\n[profile org]\n" SEALED_SETTINGS);
	free(out);
	out = rewritten("", "org", SEALED_SETTINGS);
	ck_assert_str_eq(out, "[profile org]\n" SEALED_SETTINGS);
	free(out);
}
END_TEST

START_TEST(test_sealed_source_replaces_the_place_and_source_keeping_the_rest)
{
	char *out = rewritten("# org's key\n[ profile   org ] # ours\nregion = eu\nlifetime = 120\n"
			      "key_file = /run/secrets/org\n\n[profile org2]\nregion = eu\n"
			      "[profile org]\nworkspace = ws\nmodel = qwen-plus\n",
			      "org", SEALED_SETTINGS);

	ck_assert_str_eq(out, "# org's key\n[ profile   org ] # ours\n" SEALED_SETTINGS
			      "lifetime = 120\n\n[profile org2]\nregion = eu\n"
			      "[profile org]\nmodel = qwen-plus\n");
	free(out);
}
END_TEST

START_TEST(test_sealed_source_removed_takes_an_emptied_section_along)
{
	char *out = rewritten("[defaults]\ntimeout = 3\n\n[profile org]\n" SEALED_SETTINGS
			      "\n[profile other]\nregion = eu\n",
			      "org", NULL);

	ck_assert_str_eq(out, "[defaults]\ntimeout = 3\n\n[profile other]\nregion = eu\n");
	free(out);
	out = rewritten("[profile org]\nlifetime = 120\n" SEALED_SETTINGS, "org", NULL);
	ck_assert_str_eq(out, "[profile org]\nlifetime = 120\n");
	free(out);
	/* added, then removed: the file as it was */
	out = rewritten("[defaults]\ntimeout = 3\n", "org", SEALED_SETTINGS);
	{
		char *back = rewritten(out, "org", NULL);

		ck_assert_str_eq(back, "[defaults]\ntimeout = 3\n");
		free(back);
	}
	free(out);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	ADD(tc, test_reads_the_spec_example);
	ADD(tc, test_user_file_cannot_set_policy_or_pam);
	ADD(tc, test_quoted_values_keep_comment_characters);
	ADD(tc, test_bad_files_name_file_and_line);
	ADD(tc, test_error_messages_carry_no_control_characters);
	ADD(tc, test_later_file_overrides_earlier);
	ADD(tc, test_key_sources_parse_and_check);
	ADD(tc, test_sealed_source_is_added_in_a_section_of_its_own);
	ADD(tc, test_sealed_source_replaces_the_place_and_source_keeping_the_rest);
	ADD(tc, test_sealed_source_removed_takes_an_emptied_section_along);
	suite_add_tcase(s, tc);
	return s;
}

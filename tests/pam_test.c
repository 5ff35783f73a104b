/* SPDX-License-Identifier: MIT */
/* pam_dashscope under pam_wrapper with libpamtest: the real helper and
 * fake ones, through a real PAM stack. tests/test_pam.sh prepares the
 * service files and helpers and runs this with the wrapper preloaded. */
#include "config.h"
#include <check.h>
#include <libpamtest.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *user;

/* Runs open_session and getenvlist on service; returns the open_session
 * result and the environment (free with pamtest_free_env). */
static int session(const char *service, const char *who, char ***env)
{
	char err_buf[4][512], info_buf[4][512];
	char *errs[5] = { err_buf[0], err_buf[1], err_buf[2], err_buf[3], NULL };
	char *infos[5] = { info_buf[0], info_buf[1], info_buf[2], info_buf[3], NULL };
	struct pamtest_conv_data conv = { .out_err = errs, .out_info = infos };
	int results[] = { PAM_SUCCESS, PAM_SESSION_ERR, PAM_IGNORE, PAM_PERM_DENIED,
			  PAM_SYSTEM_ERR };

	memset(err_buf, 0, sizeof(err_buf));
	memset(info_buf, 0, sizeof(info_buf));
	/* libpamtest wants the expected result up front: try each */
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		struct pam_testcase cases[] = {
			pam_test(PAMTEST_OPEN_SESSION, results[i]),
			pam_test(PAMTEST_GETENVLIST, PAM_SUCCESS),
		};
		enum pamtest_err perr = run_pamtest(service, who ? who : user, &conv, cases, NULL);

		if (perr == PAMTEST_ERR_OK) {
			*env = cases[1].case_out.envlist;
			return results[i];
		}
		if (getenv("DS_PAM_DEBUG")) {
			const struct pam_testcase *f = pamtest_failed_case(cases);

			printf("# %s: expect %d: err %d, failed case %d rv %d\n", service,
			       results[i], perr, f ? (int)f->pam_operation : -1, f ? f->op_rv : -1);
		}
		if (cases[1].case_out.envlist)
			pamtest_free_env(cases[1].case_out.envlist);
	}
	*env = NULL;
	return -1;
}

/* What the module logged during the last session_logged() (pam_wrapper
 * prints pam_syslog lines on stderr). */
static char logged[16384];

static int session_logged(const char *service, const char *who, char ***env)
{
	FILE *tmp = tmpfile();
	int saved, rc;
	size_t n;

	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fileno(tmp), 2), 2);
	rc = session(service, who, env);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	rewind(tmp);
	n = fread(logged, 1, sizeof(logged) - 1, tmp);
	logged[n] = '\0';
	fclose(tmp);
	printf("# log of %s:\n%s", service, logged);
	return rc;
}

static double now_s(void);

static const char *env_get(char **env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static size_t env_count(char **env)
{
	size_t n = 0;

	while (env && env[n])
		n++;
	return n;
}

static void print_env(const char *title, char **env)
{
	printf("# %s:\n", title);
	for (size_t i = 0; env && env[i]; i++)
		printf("#   %s\n", env[i]);
}

START_TEST(test_real_helper_sets_exact_variables)
{
	char **env;
	const char *u = getenv("DS_PAM_REAL_USER");

	ck_assert_int_eq(session("ds-real", u, &env), PAM_SUCCESS);
	print_env("session environment (ds-real)", env);
	ck_assert_uint_eq(env_count(env), 8);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "eu-central-1");
	ck_assert_str_eq(env_get(env, "DASHSCOPE_HTTP_BASE_URL"),
			 "https://ws-pam.eu-central-1.maas.aliyuncs.com/api/v1");
	ck_assert_str_eq(env_get(env, "DASHSCOPE_COMPATIBLE_BASE_URL"),
			 "https://ws-pam.eu-central-1.maas.aliyuncs.com/compatible-mode/v1");
	ck_assert_str_eq(env_get(env, "OPENAI_BASE_URL"),
			 "https://ws-pam.eu-central-1.maas.aliyuncs.com/compatible-mode/v1");
	ck_assert_str_eq(env_get(env, "ANTHROPIC_BASE_URL"),
			 "https://ws-pam.eu-central-1.maas.aliyuncs.com/apps/anthropic");
	ck_assert_str_eq(env_get(env, "OPENAI_MODEL"), "qwen-plus");
	ck_assert_str_eq(env_get(env, "ANTHROPIC_MODEL"), "qwen-plus");
	ck_assert_str_eq(env_get(env, "DASHSCOPE_CREDENTIAL_PROFILE"), "team");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_pam_rule_maps_user_to_region)
{
	char **env;
	const char *u = getenv("DS_PAM_REAL_USER");

	ck_assert_int_eq(session("ds-rules", u, &env), PAM_SUCCESS);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "ap-northeast-1");
	ck_assert_str_eq(env_get(env, "OPENAI_BASE_URL"),
			 "https://ws-tokyo.ap-northeast-1.maas.aliyuncs.com/compatible-mode/v1");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_unmapped_user_is_ignored)
{
	char **env;
	int rc = session("ds-unmapped", NULL, &env);

	/* a stack whose only module ignores the session denies it */
	ck_assert_msg(rc == PAM_IGNORE || rc == PAM_PERM_DENIED, "rc %d", rc);
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_fake_helper_success_exports_allowed_names)
{
	char **env;

	ck_assert_int_eq(session("ds-ok", NULL, &env), PAM_SUCCESS);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "ap-southeast-1");
	ck_assert_str_eq(env_get(env, "OPENAI_BASE_URL"),
			 "https://dashscope-intl.aliyuncs.com/compatible-mode/v1");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_failing_helper_is_soft_by_default)
{
	char **env;

	ck_assert_int_eq(session("ds-fail", NULL, &env), PAM_SUCCESS);
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_failing_helper_with_strict_fails_session)
{
	char **env;

	ck_assert_int_eq(session("ds-fail-strict", NULL, &env), PAM_SESSION_ERR);
	pamtest_free_env(env);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * No case here asserts how long a session took: that is bench/'s. A helper
 * that would hang sleeps an hour, and the test case's own timeout (30 s)
 * fails a session that waits for it, so returning at all shows the module
 * gave up on the helper. A helper that must not be waited for runs with
 * timeout=60, which the 30 s cap catches.
 */
START_TEST(test_sleeping_helper_returns_within_timeout)
{
	char **env;

	ck_assert_int_eq(session("ds-sleep", NULL, &env), PAM_SUCCESS);
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_names_outside_allow_list_and_keys_are_dropped)
{
	char **env;

	ck_assert_int_eq(session("ds-names", NULL, &env), PAM_SUCCESS);
	print_env("session environment (ds-names)", env);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "us-east-1");
	ck_assert_ptr_null(env_get(env, "LD_PRELOAD"));
	ck_assert_ptr_null(env_get(env, "PATH"));
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_KEY"));
	ck_assert_ptr_null(env_get(env, "OPENAI_API_KEY"));
	ck_assert_ptr_null(env_get(env, "ANTHROPIC_AUTH_TOKEN"));
	ck_assert_ptr_null(env_get(env, "OPENAI_MODEL")); /* value looks like a key */
	ck_assert_ptr_null(env_get(env, "ANTHROPIC_BASE_URL")); /* control character */
	ck_assert_uint_eq(env_count(env), 1);
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_flooding_helper_is_capped)
{
	char **env;

	/* timeout=60: a module that stopped reading and waited for the
	 * blocked helper would meet the case's 30 s cap */
	ck_assert_int_eq(session("ds-flood", NULL, &env), PAM_SUCCESS);
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_helper_closing_stdout_and_running_is_killed)
{
	char **env;

	ck_assert_int_eq(session("ds-closed", NULL, &env), PAM_SUCCESS);
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_helper_runs_as_target_user_and_cannot_regain_root)
{
	char **env;
	const char *u = getenv("DS_PAM_REAL_USER"), *uid = getenv("DS_PAM_REAL_UID");

	ck_assert_int_eq(session("ds-uid", u, &env), PAM_SUCCESS);
	print_env("session environment (ds-uid)", env);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_CREDENTIAL_PROFILE"), uid);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "regain-failed");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_close_session_succeeds_without_open)
{
	struct pam_testcase cases[] = { pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS) };

	ck_assert_int_eq(run_pamtest("ds-ok", user, NULL, cases, NULL), PAMTEST_ERR_OK);
}
END_TEST

START_TEST(test_other_service_denies)
{
	char **env;

	/* pam_deny answers PAM_SESSION_ERR for session management */
	ck_assert_int_eq(session("no-such-service", NULL, &env), PAM_SESSION_ERR);
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

/* ---- the system config (SPEC section 8, issue 11 defect 16) ---- */

START_TEST(test_system_config_path_from_environment_is_not_used)
{
	char **env;

	/* under su/sudo the environment is the caller's: rules it points
	 * at must not choose the region */
	setenv("DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG", getenv("DS_PAM_ENV_RULES"), 1);
	ck_assert_int_eq(session("ds-args", NULL, &env), PAM_SUCCESS);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "none");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_fifo_named_by_environment_does_not_hold_login)
{
	char **env;

	/* a FIFO without a writer blocks whoever opens it: returning at all
	 * shows nobody did */
	setenv("DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG", getenv("DS_PAM_FIFO"), 1);
	ck_assert_int_eq(session("ds-args", NULL, &env), PAM_SUCCESS);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "none");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_fifo_as_conf_is_refused_within_timeout)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-conf-fifo", NULL, &env), PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, "is not a regular file"));
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_user_owned_config_rules_are_not_obeyed)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-conf-userowned", getenv("DS_PAM_REAL_USER"), &env),
			 PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, "is not owned by root"));
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_group_writable_config_is_refused)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-conf-groupw", getenv("DS_PAM_REAL_USER"), &env),
			 PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, "is writable by group or others"));
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_symlinked_config_is_refused)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-conf-symlink", getenv("DS_PAM_REAL_USER"), &env),
			 PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, "is a symbolic link"));
	ck_assert_ptr_null(env_get(env, "DASHSCOPE_API_REGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_bad_config_with_strict_fails_session)
{
	char **env;

	ck_assert_int_eq(session("ds-conf-fifo-strict", NULL, &env), PAM_SESSION_ERR);
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_config_parse_error_is_not_echoed_to_syslog)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-conf-garbage", getenv("DS_PAM_REAL_USER"), &env),
			 PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, "garbage.conf:1: not valid"));
	ck_assert_ptr_null(strstr(logged, "TOPSECRETWORD"));
	pamtest_free_env(env);
	ck_assert_int_eq(session_logged("ds-conf-badrule", getenv("DS_PAM_REAL_USER"), &env),
			 PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, "badrule.conf:2: the [pam] rule that applies to"));
	ck_assert_ptr_null(strstr(logged, "SECRETREGION"));
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_helper_failure_log_gives_its_reason)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-reason", NULL, &env), PAM_SUCCESS);
	/* its first line, control characters removed, the key masked */
	ck_assert_ptr_nonnull(strstr(logged, "(exit 3) for user "));
	ck_assert_ptr_nonnull(strstr(logged, ": store unavailable: key [key] ?[31mred"));
	ck_assert_ptr_null(strstr(logged, "sk-abcdef123456"));
	ck_assert_ptr_null(strstr(logged, "\033"));
	ck_assert_ptr_null(strstr(logged, "second line"));
	pamtest_free_env(env);
}
END_TEST

/* ---- the same without pidfd_open (kernels before 5.3) ---- */

START_TEST(test_without_pidfd_success_exports_allowed_names)
{
	char **env;

	ck_assert_int_eq(session("ds-ok-nopidfd", NULL, &env), PAM_SUCCESS);
	ck_assert_str_eq(env_get(env, "DASHSCOPE_API_REGION"), "ap-southeast-1");
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_without_pidfd_helper_closing_stdout_is_killed_at_timeout)
{
	char **env;
	double t0 = now_s(), took;

	ck_assert_int_eq(session("ds-closed-nopidfd", NULL, &env), PAM_SUCCESS);
	took = now_s() - t0;
	/* killed at the timeout, not before it: a lower bound that load can
	 * only make easier to meet; the helper would sleep an hour, so
	 * returning at all shows it was killed */
	ck_assert_msg(took >= 0.9, "returned after %.2f s, before timeout=1", took);
	pamtest_free_env(env);
}
END_TEST

START_TEST(test_without_pidfd_failing_helper_reason_is_logged)
{
	char **env;

	ck_assert_int_eq(session_logged("ds-reason-nopidfd", NULL, &env), PAM_SUCCESS);
	ck_assert_ptr_nonnull(strstr(logged, ": store unavailable: key [key] ?[31mred"));
	pamtest_free_env(env);
}
END_TEST

/* Root-only tests run when tests/test_pam.sh could make a user and
 * root-owned files; otherwise each is reported as skipped, never passed. */
#define ROOT_TEST(tc, fn)                                                                     \
	do {                                                                                  \
		if (root)                                                                     \
			tcase_add_test(tc, fn);                                               \
		else                                                                          \
			printf("SKIP %s: needs root (a test user, root-owned files)\n", #fn); \
	} while (0)

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed, root = getenv("DS_PAM_REAL_USER") != NULL;

	/* without the preload the system's stacks would answer and the
	 * module would never load: refuse to "pass" that way */
	if (!getenv("PAM_WRAPPER") || !getenv("PAM_WRAPPER_SERVICE_DIR") || !getenv("LD_PRELOAD") ||
	    !strstr(getenv("LD_PRELOAD"), "pam_wrapper")) {
		fprintf(stderr,
			"pam_test: pam_wrapper is not active; run it through tests/test_pam.sh\n");
		return 99;
	}
	user = getenv("DS_PAM_USER");
	if (!user) {
		fprintf(stderr, "pam_test: DS_PAM_USER is not set\n");
		return 99;
	}
	/* made after the checks, so a refusal leaks nothing */
	s = suite_create("pam");
	tc = tcase_create("pam");
	tcase_set_timeout(tc, 30);
	ROOT_TEST(tc, test_real_helper_sets_exact_variables);
	ROOT_TEST(tc, test_pam_rule_maps_user_to_region);
	ROOT_TEST(tc, test_unmapped_user_is_ignored);
	tcase_add_test(tc, test_fake_helper_success_exports_allowed_names);
	tcase_add_test(tc, test_failing_helper_is_soft_by_default);
	tcase_add_test(tc, test_failing_helper_with_strict_fails_session);
	tcase_add_test(tc, test_sleeping_helper_returns_within_timeout);
	tcase_add_test(tc, test_names_outside_allow_list_and_keys_are_dropped);
	tcase_add_test(tc, test_flooding_helper_is_capped);
	tcase_add_test(tc, test_helper_closing_stdout_and_running_is_killed);
	ROOT_TEST(tc, test_helper_runs_as_target_user_and_cannot_regain_root);
	tcase_add_test(tc, test_close_session_succeeds_without_open);
	tcase_add_test(tc, test_other_service_denies);
	tcase_add_test(tc, test_system_config_path_from_environment_is_not_used);
	tcase_add_test(tc, test_fifo_named_by_environment_does_not_hold_login);
	tcase_add_test(tc, test_fifo_as_conf_is_refused_within_timeout);
	tcase_add_test(tc, test_bad_config_with_strict_fails_session);
	ROOT_TEST(tc, test_user_owned_config_rules_are_not_obeyed);
	ROOT_TEST(tc, test_group_writable_config_is_refused);
	ROOT_TEST(tc, test_symlinked_config_is_refused);
	ROOT_TEST(tc, test_config_parse_error_is_not_echoed_to_syslog);
	tcase_add_test(tc, test_helper_failure_log_gives_its_reason);
	tcase_add_test(tc, test_without_pidfd_success_exports_allowed_names);
	tcase_add_test(tc, test_without_pidfd_helper_closing_stdout_is_killed_at_timeout);
	tcase_add_test(tc, test_without_pidfd_failing_helper_reason_is_logged);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/* The broker's key cache and rate window (SPEC section 12), in process: a
 * fake minting store stands in for the API, and the clocks are given. */
#include "config.h"
#include "check_main.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "broker/broker_int.h"

/* The fake store: profiles org and team in sg, a counter of mints, and
 * a failure to return instead of a key when fail is set. */
static unsigned mints;
static int mint_fail;

static int fake_open(const struct store_params *p, void **state, struct ds_err *err)
{
	(void)p;
	(void)err;
	*state = NULL;
	return DS_OK;
}

static void fake_close(void *state)
{
	(void)state;
}

static int fake_list(void *state, const char *only, int with_secret, store_record_fn each,
		     void *ctx, struct ds_err *err)
{
	static const char *const names[] = { "org", "team" };

	(void)state;
	(void)with_secret;
	(void)err;
	for (size_t i = 0; i < 2; i++) {
		struct store_record r = { names[i], "sg", "", "payg", NULL, 0, 0, NULL };
		int rc;

		if (only && strcmp(only, names[i]))
			continue;
		rc = each(ctx, &r);
		if (rc)
			return rc;
	}
	return DS_OK;
}

/* Each mint is a new key, alive for the lifetime asked for. */
static int fake_mint(void *state, const char *name, unsigned long lifetime, store_record_fn each,
		     void *ctx, struct ds_err *err)
{
	char key[32];
	struct store_record r = { name, "sg", "", "payg", key, 0, 0, NULL };

	(void)state;
	if (mint_fail)
		return ds_err_set(err, DS_ENET, "The token endpoint answered 503.");
	snprintf(key, sizeof(key), "st-mint-%u", ++mints);
	r.secret_len = strlen(key);
	r.expires_at = (long long)time(NULL) + (long long)lifetime;
	return each(ctx, &r);
}

static const struct store_ops fake_ops = {
	STORE_BACKEND_ABI, "fake", fake_open, fake_close, fake_list, NULL, NULL, NULL, fake_mint,
};

/* The cache's wall clock: the real one moved on by skew seconds. */
static time_t skew;

static time_t skewed_clock(void)
{
	return time(NULL) + skew;
}

static struct app app;
static struct broker b;

static void setup_with(const char *system_conf)
{
	struct store_params params = { NULL, NULL, 0, NULL, 0, NULL, 0 };
	pthread_condattr_t ca;
	struct ds_err err;

	memset(&app, 0, sizeof(app));
	conf_init(&app.conf);
	ck_assert_int_eq(conf_load_buffer(&app.conf, system_conf, strlen(system_conf), 1, &err),
			 DS_OK);
	app.store.kind = STORE_BROKER;
	ck_assert_int_eq(store_open_ops(&app.store, &fake_ops, &params, &err), DS_OK);
	app.store_ready = 1;
	memset(&b, 0, sizeof(b));
	b.app = &app;
	b.wall_clock = skewed_clock;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.changed, &ca);
	pthread_condattr_destroy(&ca);
	mints = 0;
	mint_fail = 0;
	skew = 0;
}

static void setup(void)
{
	setup_with("[broker]\n* = org, team\nrate = 3/min\n");
}

static void teardown(void)
{
	broker_cache_free(&b);
	broker_rate_free(&b);
	pthread_cond_destroy(&b.changed);
	pthread_mutex_destroy(&b.lock);
	store_close(&app.store);
	conf_free(&app.conf);
}

/* broker_cache_get for uid, profile and lifetime; *key_out gets the key's
 * text ("" on error). */
static int get(uid_t uid, const char *profile, unsigned long lifetime, int *cached, char *key_out)
{
	struct profile p;
	struct secret *key = NULL;
	long long expires_at = 0;
	struct ds_err err;
	int rc;

	memset(&p, 0, sizeof(p));
	strcpy(p.name, profile);
	p.place.region = region_find("sg");
	rc = broker_cache_get(&b, &app, uid, &p, lifetime, &key, &expires_at, cached, &err);
	strcpy(key_out, key ? key->data : "");
	secret_free(key);
	return rc;
}

START_TEST(test_cache_hands_the_same_key_again_while_it_is_fresh)
{
	char k1[32], k2[32];
	int cached;

	ck_assert_int_eq(get(1000, "org", 60, &cached, k1), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_str_eq(k1, "st-mint-1");
	skew = 44; /* 16 s left of 60: more than the 15 s margin */
	ck_assert_int_eq(get(1000, "org", 60, &cached, k2), DS_OK);
	ck_assert_int_eq(cached, 1);
	ck_assert_str_eq(k2, k1);
	ck_assert_uint_eq(mints, 1);
}
END_TEST

START_TEST(test_cache_mints_again_within_the_renewal_margin)
{
	char k1[32], k2[32];
	int cached;

	ck_assert_int_eq(get(1000, "org", 60, &cached, k1), DS_OK);
	skew = 46; /* 14 s left of 60: inside the 15 s margin */
	ck_assert_int_eq(get(1000, "org", 60, &cached, k2), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_str_eq(k2, "st-mint-2");
	ck_assert_uint_eq(mints, 2);
}
END_TEST

START_TEST(test_cache_never_hands_out_an_expired_key)
{
	char k1[32], k2[32];
	int cached;

	ck_assert_int_eq(get(1000, "org", 60, &cached, k1), DS_OK);
	skew = 3600;
	ck_assert_int_eq(get(1000, "org", 60, &cached, k2), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_str_ne(k2, k1);
}
END_TEST

START_TEST(test_cache_keeps_each_uid_apart)
{
	char k1[32], k2[32];
	int cached;

	ck_assert_int_eq(get(1000, "org", 60, &cached, k1), DS_OK);
	ck_assert_int_eq(get(1001, "org", 60, &cached, k2), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_str_ne(k2, k1);
	ck_assert_uint_eq(mints, 2);
}
END_TEST

START_TEST(test_cache_keeps_each_profile_and_lifetime_apart)
{
	char k[32];
	int cached;

	ck_assert_int_eq(get(1000, "org", 60, &cached, k), DS_OK);
	ck_assert_int_eq(get(1000, "team", 60, &cached, k), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_int_eq(get(1000, "org", 120, &cached, k), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_uint_eq(mints, 3);
	ck_assert_int_eq(get(1000, "team", 60, &cached, k), DS_OK);
	ck_assert_int_eq(cached, 1);
	ck_assert_str_eq(k, "st-mint-2");
}
END_TEST

START_TEST(test_cache_keeps_nothing_from_a_failed_mint)
{
	char k[32];
	int cached;

	mint_fail = 1;
	ck_assert_int_eq(get(1000, "org", 60, &cached, k), DS_ENET);
	ck_assert_str_eq(k, "");
	mint_fail = 0;
	ck_assert_int_eq(get(1000, "org", 60, &cached, k), DS_OK);
	ck_assert_int_eq(cached, 0);
	ck_assert_str_eq(k, "st-mint-1");
}
END_TEST

/* broker_rate_take at now_ms for uid; the rate is 3 a minute. */
static int take(uid_t uid, long long now_ms, struct ds_err *err)
{
	return broker_rate_take(&b, broker_rate(&app.conf.broker), uid, now_ms, err);
}

START_TEST(test_rate_refuses_the_request_over_the_rate)
{
	struct ds_err err;

	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000100, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000200, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000300, &err), DS_EPOLICY);
	ck_assert_msg(strstr(err.msg, "rate limit: at most 3 requests a minute") != NULL, "%s",
		      err.msg);
}
END_TEST

START_TEST(test_rate_says_when_the_next_request_is_let_through)
{
	struct ds_err err;

	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1030000, &err), DS_EPOLICY);
	ck_assert_msg(strstr(err.msg, "try again in 31 s") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_rate_lets_a_request_through_once_its_minute_has_passed)
{
	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1059000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1059500, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1060999, NULL), DS_EPOLICY);
	/* the request at 1000 s has left the window; the two at 1059 s have not */
	ck_assert_int_eq(take(1000, 1061000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1061500, NULL), DS_EPOLICY);
}
END_TEST

START_TEST(test_rate_no_60_second_span_holds_more_than_the_rate)
{
	/* a window that restarts each minute would let 3 more through at
	 * 1060.5 s, 5 in the 1.5 s from 1059 s */
	ck_assert_int_eq(take(1000, 1000500, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1059000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1059500, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1060500, NULL), DS_EPOLICY);
	ck_assert_int_eq(take(1000, 1060600, NULL), DS_EPOLICY);
}
END_TEST

/* The case: 100 requests over 20 s at rate = 30/min, across a
 * minute's edge (from 50 s): 30 let through, never more than 30 in any
 * 60-second span, then 30 again once the first has left the window. */
START_TEST(test_rate_100_requests_over_20_s_never_pass_30_in_60_s)
{
	long long passed[200];
	size_t n = 0;

	teardown();
	setup_with("[broker]\n* = org\nrate = 30/min\n");
	for (int i = 0; i < 100; i++) {
		long long t = 1050000 + i * 200;

		if (take(1000, t, NULL) == DS_OK)
			passed[n++] = t;
	}
	ck_assert_uint_eq(n, 30);
	for (int i = 0; i < 100; i++) {
		long long t = 1110000 + i * 200;

		if (take(1000, t, NULL) == DS_OK)
			passed[n++] = t;
	}
	for (size_t i = 0; i < n; i++) {
		size_t in = 0;

		for (size_t j = i; j < n && passed[j] < passed[i] + 60000; j++)
			in++;
		ck_assert_uint_le(in, 30);
	}
	ck_assert_uint_gt(n, 30);
}
END_TEST

START_TEST(test_rate_does_not_count_refused_requests)
{
	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1030000, NULL), DS_OK);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(take(1000, 1040000 + i, NULL), DS_EPOLICY);
	/* the two of 1000 s have left; the one of 1030 s and no refusal remain */
	ck_assert_int_eq(take(1000, 1061000, NULL), DS_OK);
}
END_TEST

START_TEST(test_rate_counts_each_uid_apart)
{
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(take(1000, 1000000, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1000000, NULL), DS_EPOLICY);
	ck_assert_int_eq(take(1001, 1000000, NULL), DS_OK);
}
END_TEST

START_TEST(test_rate_default_is_60_a_minute)
{
	teardown();
	setup_with("[broker]\n* = org\n");
	for (int i = 0; i < BROKER_RATE_DEFAULT; i++)
		ck_assert_int_eq(take(1000, 1000000 + i * 100, NULL), DS_OK);
	ck_assert_int_eq(take(1000, 1059000, NULL), DS_EPOLICY);
}
END_TEST

START_TEST(test_connections_are_capped_per_uid_and_a_closed_one_frees_a_place)
{
	pthread_mutex_lock(&b.lock);
	ck_assert_int_eq(broker_rate_conn_open(&b, 1000, 2), DS_OK);
	ck_assert_int_eq(broker_rate_conn_open(&b, 1000, 2), DS_OK);
	ck_assert_int_eq(broker_rate_conn_open(&b, 1000, 2), DS_ENET);
	ck_assert_int_eq(broker_rate_conn_open(&b, 1001, 2), DS_OK);
	broker_rate_conn_close(&b, 1000);
	ck_assert_int_eq(broker_rate_conn_open(&b, 1000, 2), DS_OK);
	pthread_mutex_unlock(&b.lock);
}
END_TEST

START_TEST(test_audit_quote_escapes_control_bytes_quotes_and_backslashes)
{
	char out[64];

	broker_audit_quote(out, sizeof(out), "a\x1b[2K\r\x07\" uid=0\\\xc2\x85");
	ck_assert_str_eq(out, "\"a\\x1b[2K\\x0d\\x07\\\" uid=0\\\\\\xc2\\x85\"");
}
END_TEST

START_TEST(test_audit_quote_cuts_between_escapes_and_closes_the_quote)
{
	char out[8];

	broker_audit_quote(out, sizeof(out), "ab\001cdef");
	ck_assert_str_eq(out, "\"ab\"");
}
END_TEST

START_TEST(test_audit_line_quotes_every_field_the_caller_wrote)
{
	struct caller c = { 1000, 42, "alice", NULL, 0 };
	struct outcome o = { "denied",
			     "org\" uid=0",
			     "x request_id FAKE",
			     0,
			     0,
			     "Unknown region x request_id FAKE",
			     0 };
	char line[BROKER_AUDIT_LINE];

	broker_audit_format(line, sizeof(line), &c, "get\nuid=0", &o, 1);
	ck_assert_str_eq(line,
			 "action=\"get\\x0auid=0\" uid=1000 user=\"alice\" pid=42 profile=\"org\\\" uid=0\" region=\"x request_id FAKE\" lifetime=0 result=denied expires=0 request_id=- reason=\"Unknown region x request_id FAKE\"");
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("broker");
	TCase *tc = tcase_create("cache");
	TCase *tr = tcase_create("rate");
	TCase *ta = tcase_create("audit");

	tcase_add_checked_fixture(tc, setup, teardown);
	ADD(tc, test_cache_hands_the_same_key_again_while_it_is_fresh);
	ADD(tc, test_cache_mints_again_within_the_renewal_margin);
	ADD(tc, test_cache_never_hands_out_an_expired_key);
	ADD(tc, test_cache_keeps_each_uid_apart);
	ADD(tc, test_cache_keeps_each_profile_and_lifetime_apart);
	ADD(tc, test_cache_keeps_nothing_from_a_failed_mint);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tr, setup, teardown);
	ADD(tr, test_rate_refuses_the_request_over_the_rate);
	ADD(tr, test_rate_says_when_the_next_request_is_let_through);
	ADD(tr, test_rate_lets_a_request_through_once_its_minute_has_passed);
	ADD(tr, test_rate_no_60_second_span_holds_more_than_the_rate);
	ADD(tr, test_rate_100_requests_over_20_s_never_pass_30_in_60_s);
	ADD(tr, test_rate_does_not_count_refused_requests);
	ADD(tr, test_rate_counts_each_uid_apart);
	ADD(tr, test_rate_default_is_60_a_minute);
	ADD(tr, test_connections_are_capped_per_uid_and_a_closed_one_frees_a_place);
	suite_add_tcase(s, tr);
	ADD(ta, test_audit_quote_escapes_control_bytes_quotes_and_backslashes);
	ADD(ta, test_audit_quote_cuts_between_escapes_and_closes_the_quote);
	ADD(ta, test_audit_line_quotes_every_field_the_caller_wrote);
	suite_add_tcase(s, ta);
	return s;
}

/* SPDX-License-Identifier: MIT */
/* The store records boundary (core/store.c) against a fake backend: what
 * a backend hands back passes the rules of `add` before anything uses it. */
#include "config.h"
#include "check_main.h"
#include <string.h>
#include <time.h>
#include "core/store.h"

#define KEY "sk-0123456789abcdef"
#define KEY2 "sk-fedcba9876543210"
#define CODING_KEY "sk-sp-0123456789abcdef"

/* What the fake backend holds for the running case. */
struct fake {
	const struct store_record *recs;
	size_t n;
	int puts; /* put calls that reached the backend */
	int fail; /* a status every call returns, with fail_msg */
	const char *fail_msg;
};

static struct fake fake;

static int fake_open(const struct store_params *p, void **state, struct ds_err *err)
{
	(void)p;
	if (fake.fail)
		return ds_err_set(err, fake.fail, "%s", fake.fail_msg);
	*state = &fake;
	return DS_OK;
}

static void fake_close(void *state)
{
	(void)state;
}

static int fake_walk(struct fake *f, const char *only, int with_secret, store_record_fn each,
		     void *ctx, struct ds_err *err)
{
	if (f->fail)
		return ds_err_set(err, f->fail, "%s", f->fail_msg);
	for (size_t i = 0; i < f->n; i++) {
		struct store_record r = f->recs[i];
		int rc;

		if (only && (!r.name || strcmp(r.name, only)))
			continue;
		if (!with_secret) {
			r.secret = NULL;
			r.secret_len = 0;
		}
		rc = each(ctx, &r);
		if (rc)
			return rc;
	}
	return DS_OK;
}

static int fake_list(void *state, const char *only, int with_secret, store_record_fn each,
		     void *ctx, struct ds_err *err)
{
	return fake_walk(state, only, with_secret, each, ctx, err);
}

static int fake_get(void *state, const char *name, store_record_fn each, void *ctx,
		    struct ds_err *err)
{
	return fake_walk(state, name, 1, each, ctx, err);
}

static int fake_put(void *state, const struct store_record *rec, struct ds_err *err)
{
	(void)rec;
	(void)err;
	((struct fake *)state)->puts++;
	return DS_OK;
}

static int fake_del(void *state, const char *name, const char *secret, size_t secret_len,
		    int *found, struct ds_err *err)
{
	(void)state;
	(void)name;
	(void)secret;
	(void)secret_len;
	(void)err;
	*found = 0;
	return DS_OK;
}

/* A minting store hands its records back as temporary keys. */
static int fake_mint(void *state, const char *name, unsigned long lifetime, store_record_fn each,
		     void *ctx, struct ds_err *err)
{
	(void)lifetime;
	return fake_walk(state, name, 1, each, ctx, err);
}

static const struct store_ops fake_ops = {
	STORE_BACKEND_ABI, "fake",   fake_open, fake_close, fake_list,
	fake_get,	   fake_put, fake_del,	NULL,
};

static const struct store_ops fake_minting_ops = {
	STORE_BACKEND_ABI, "fake",   fake_open, fake_close, fake_list,
	fake_get,	   fake_put, fake_del,	fake_mint,
};

/* A record with a key; the cases that need another length spell it out. */
#define REC(name, region, ws, plan, secret)                             \
	{                                                               \
		name, region, ws, plan, secret, strlen(secret), 0, NULL \
	}

static void open_fake(struct store *st, const struct store_ops *ops,
		      const struct store_record *recs, size_t n)
{
	struct store_params params = { NULL, NULL, 0, NULL, 0, NULL, 0 };
	struct ds_err err;

	memset(&fake, 0, sizeof(fake));
	fake.recs = recs;
	fake.n = n;
	memset(st, 0, sizeof(*st));
	ck_assert_int_eq(store_open_ops(st, ops, &params, &err), DS_OK);
}

/* The names store_list gives for recs, comma-separated. */
static const char *listed(const struct store_record *recs, size_t n)
{
	static char names[512];
	struct profile_list l;
	struct store st;

	open_fake(&st, &fake_ops, recs, n);
	ck_assert_int_eq(store_list(&st, NULL, &l, 0, NULL), DS_OK);
	names[0] = '\0';
	for (size_t i = 0; i < l.n; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? "," : "",
			 l.items[i].name);
	profile_list_free(&l);
	store_close(&st);
	return names;
}

#define LISTED(recs) listed(recs, sizeof(recs) / sizeof(recs[0]))

/* store_get_key for profile "work" in sg (payg, no workspace) over recs. */
static int get_work(const struct store_record *recs, size_t n, struct secret **key,
		    struct ds_err *err)
{
	struct profile p;
	struct store st;
	int rc;

	memset(&p, 0, sizeof(p));
	strcpy(p.name, "work");
	p.place.region = region_find("sg");
	p.place.plan = PLAN_PAYG;
	open_fake(&st, &fake_ops, recs, n);
	rc = store_get_key(&st, &p, key, err);
	store_close(&st);
	return rc;
}

START_TEST(test_store_lists_good_records_sorted_by_name)
{
	const struct store_record recs[] = {
		REC("zeta", "sg", "", "payg", KEY),
		REC("alpha", "cn-beijing", "ws-1", "coding", CODING_KEY),
		REC("mid.dle_-1", "us", NULL, "payg", KEY),
	};

	ck_assert_str_eq(LISTED(recs), "alpha,mid.dle_-1,zeta");
}
END_TEST

START_TEST(test_store_skips_records_with_bad_names)
{
	static const char long_name[] =
		"a123456789b123456789c123456789d123456789e123456789f123456789g1234";
	const struct store_record recs[] = {
		REC("good", "sg", "", "payg", KEY),	  REC(NULL, "sg", "", "payg", KEY),
		REC("", "sg", "", "payg", KEY),		  REC("has space", "sg", "", "payg", KEY),
		REC("../up", "sg", "", "payg", KEY),	  REC("line\nbreak", "sg", "", "payg", KEY),
		REC("esc\x1b[0m", "sg", "", "payg", KEY), REC("caf\xc3\xa9", "sg", "", "payg", KEY),
		REC(long_name, "sg", "", "payg", KEY),
	};

	ck_assert_uint_eq(strlen(long_name), DS_PROFILE_MAX);
	ck_assert_str_eq(LISTED(recs), "good");
}
END_TEST

START_TEST(test_store_skips_names_that_look_like_keys)
{
	const struct store_record recs[] = {
		REC("sk-0123456789abcdef", "sg", "", "payg", KEY),
		REC("ST-abcdefgh", "sg", "", "payg", KEY),
		REC("Sk-sp-abcdefgh", "sg", "", "payg", KEY),
		REC("skeleton", "sg", "", "payg", KEY),
	};

	ck_assert_str_eq(LISTED(recs), "skeleton");
}
END_TEST

START_TEST(test_store_skips_records_with_bad_region_or_plan)
{
	const struct store_record recs[] = {
		REC("good", "sg", "", "payg", KEY),	 REC("no-region", NULL, "", "payg", KEY),
		REC("mars", "mars-1", "", "payg", KEY),	 REC("empty-region", "", "", "payg", KEY),
		REC("no-plan", "sg", "", NULL, KEY),	 REC("free", "sg", "", "free", KEY),
		REC("nl-plan", "sg", "", "payg\n", KEY),
	};

	ck_assert_str_eq(LISTED(recs), "good");
}
END_TEST

START_TEST(test_store_skips_records_with_bad_workspaces)
{
	static const char long_ws[] =
		"w123456789a123456789b123456789c123456789d123456789e123456789f123";
	const struct store_record recs[] = {
		REC("good", "sg", "ws-1", "payg", KEY),
		REC("space", "sg", "ws 1", "payg", KEY),
		REC("dash", "sg", "-ws", "payg", KEY),
		REC("dot", "sg", "ws.evil.com", "payg", KEY),
		REC("slash", "sg", "ws/x", "payg", KEY),
		REC("long", "sg", long_ws, "payg", KEY),
	};

	ck_assert_uint_eq(strlen(long_ws), 64);
	ck_assert_str_eq(LISTED(recs), "good");
}
END_TEST

START_TEST(test_store_lists_a_name_once_when_two_records_carry_it)
{
	const struct store_record recs[] = {
		REC("work", "sg", "", "payg", KEY),
		REC("work", "cn", "", "payg", KEY2),
	};
	struct profile_list l;
	struct store st;

	open_fake(&st, &fake_ops, recs, 2);
	ck_assert_int_eq(store_list(&st, NULL, &l, 0, NULL), DS_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].place.region->id, "ap-southeast-1");
	profile_list_free(&l);
	store_close(&st);
}
END_TEST

START_TEST(test_store_list_with_tails_marks_an_invalid_key)
{
	const struct store_record recs[] = {
		REC("bad", "sg", "", "payg", "sk-0123\r\n456789"),
		REC("good", "sg", "", "payg", KEY),
	};
	struct profile_list l;
	struct store st;

	open_fake(&st, &fake_ops, recs, 2);
	ck_assert_int_eq(store_list(&st, NULL, &l, 1, NULL), DS_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.items[0].key_tail, "(invalid key)");
	ck_assert_str_eq(l.items[1].key_tail, "sk-\xe2\x80\xa6"
					      "cdef");
	profile_list_free(&l);
	store_close(&st);
}
END_TEST

START_TEST(test_store_get_returns_a_good_key)
{
	const struct store_record recs[] = { REC("work", "sg", "", "payg", KEY) };
	struct secret *key = NULL;

	ck_assert_int_eq(get_work(recs, 1, &key, NULL), DS_OK);
	ck_assert_ptr_nonnull(key);
	ck_assert_str_eq(key->data, KEY);
	secret_free(key);
}
END_TEST

START_TEST(test_store_get_of_an_absent_profile_is_no_key)
{
	const struct store_record recs[] = { REC("other", "sg", "", "payg", KEY) };
	struct secret *key = (struct secret *)&fake;

	ck_assert_int_eq(get_work(recs, 1, &key, NULL), DS_OK);
	ck_assert_ptr_null(key);
}
END_TEST

/* A key that fails the rules of `add` is exit 3 naming the profile, and
 * the key itself is in no message. */
static void assert_key_refused(const char *secret, size_t len)
{
	const struct store_record recs[] = {
		{ "work", "sg", "", "payg", secret, len, 0, NULL },
	};
	struct secret *key = NULL;
	struct ds_err err;

	ck_assert_int_eq(get_work(recs, 1, &key, &err), DS_ESTORE);
	ck_assert_ptr_null(key);
	ck_assert_msg(strstr(err.msg, "profile work") != NULL, "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "sk-0123") == NULL, "the key is in: %s", err.msg);
}

START_TEST(test_store_get_refuses_a_key_with_cr_or_lf)
{
	assert_key_refused("sk-0123456789\r\nX-Evil: 1", strlen("sk-0123456789\r\nX-Evil: 1"));
	assert_key_refused("sk-0123456789\nabc", strlen("sk-0123456789\nabc"));
	assert_key_refused("sk-0123456789\rabc", strlen("sk-0123456789\rabc"));
}
END_TEST

START_TEST(test_store_get_refuses_a_key_with_control_bytes_or_spaces)
{
	static const char *const bad[] = {
		"sk-0123456789\x1b[2J", "sk-0123456789\tabc",	 "sk-0123456789\x7f",
		"sk-0123 456789abc",	"sk-0123456789\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_key_refused(bad[i], strlen(bad[i]));
}
END_TEST

START_TEST(test_store_get_refuses_a_key_with_a_nul_inside)
{
	/* the backend says 20 bytes; C string functions would see 7 */
	assert_key_refused("sk-0123\0"
			   "456789abcdef",
			   20);
}
END_TEST

START_TEST(test_store_get_refuses_a_key_of_the_wrong_shape)
{
	assert_key_refused("st-0123456789abcdef", 19); /* a temporary key, not ours to keep */
	assert_key_refused("ak-0123456789abcdef", 19);
	assert_key_refused("sk-0123", 7); /* shorter than any real key */
	assert_key_refused("", 0);
	assert_key_refused(NULL, 0);
}
END_TEST

START_TEST(test_store_get_refuses_a_coding_plan_key_under_payg)
{
	assert_key_refused(CODING_KEY, strlen(CODING_KEY));
}
END_TEST

START_TEST(test_store_get_never_takes_the_key_of_a_second_record_for_another_region)
{
	/* the profile was listed from the sg record; a planted cn record of
	 * the same name must not lend it a key */
	const struct store_record recs[] = {
		REC("work", "sg", "", "payg", "sk-bad\nkey-0123"),
		REC("work", "cn", "", "payg", KEY2),
	};
	struct secret *key = NULL;
	struct ds_err err;

	ck_assert_int_eq(get_work(recs, 2, &key, &err), DS_ESTORE);
	ck_assert_ptr_null(key);
	ck_assert_msg(strstr(err.msg, "second entry") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_store_get_refuses_a_profile_only_another_region_holds)
{
	const struct store_record recs[] = { REC("work", "cn", "", "payg", KEY2) };
	struct secret *key = NULL;
	struct ds_err err;

	ck_assert_int_eq(get_work(recs, 1, &key, &err), DS_ESTORE);
	ck_assert_ptr_null(key);
}
END_TEST

START_TEST(test_store_get_takes_the_key_of_the_record_of_its_own_place)
{
	const struct store_record recs[] = {
		REC("work", "cn", "", "payg", KEY2),
		REC("work", "sg", "ws-1", "payg", KEY2),
		REC("work", "sg", "", "coding", CODING_KEY),
		REC("work", "sg", "", "payg", KEY),
	};
	struct secret *key = NULL;

	ck_assert_int_eq(get_work(recs, 4, &key, NULL), DS_OK);
	ck_assert_ptr_nonnull(key);
	ck_assert_str_eq(key->data, KEY);
	secret_free(key);
}
END_TEST

START_TEST(test_store_put_refuses_a_bad_key_before_the_backend_sees_it)
{
	struct profile p;
	struct store st;
	struct secret *key = secret_new("sk-0123\r\n456789", 15);
	struct ds_err err;

	memset(&p, 0, sizeof(p));
	strcpy(p.name, "work");
	p.place.region = region_find("sg");
	open_fake(&st, &fake_ops, NULL, 0);
	ck_assert_int_eq(store_put(&st, &p, key, &err), DS_EINPUT);
	ck_assert_int_eq(fake.puts, 0);
	secret_free(key);
	key = secret_new(KEY, strlen(KEY));
	ck_assert_int_eq(store_put(&st, &p, key, &err), DS_OK);
	ck_assert_int_eq(fake.puts, 1);
	secret_free(key);
	store_close(&st);
}
END_TEST

START_TEST(test_store_cleans_control_bytes_from_a_backend_message)
{
	struct store_params params = { NULL, NULL, 0, NULL, 0, NULL, 0 };
	struct store st;
	struct ds_err err;

	memset(&fake, 0, sizeof(fake));
	fake.fail = DS_ESTORE;
	fake.fail_msg = "locked\x1b]0;pwned\x07 keyring\n";
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(store_open_ops(&st, &fake_ops, &params, &err), DS_ESTORE);
	ck_assert_ptr_null(st.ops);
	ck_assert_int_eq(err.code, DS_ESTORE);
	for (const char *c = err.msg; *c; c++)
		ck_assert_msg((unsigned char)*c >= 0x20 && *c != 0x7f, "control byte in: %s",
			      err.msg);
}
END_TEST

/* store_mint over one record that the fake hands back as the minted key. */
static int mint_work(const char *name, const char *secret, size_t len, long long expires_in,
		     struct secret **key)
{
	const struct store_record recs[] = {
		{ name, "sg", "", "payg", secret, len, (long long)time(NULL) + expires_in, NULL },
	};
	struct store st;
	long long expires_at = 0;
	int rc;

	open_fake(&st, &fake_minting_ops, recs, 1);
	ck_assert(store_mints(&st));
	rc = store_mint(&st, "work", 60, key, &expires_at, NULL);
	store_close(&st);
	return rc;
}

START_TEST(test_store_mint_takes_a_well_formed_temporary_key)
{
	struct secret *key = NULL;

	ck_assert_int_eq(mint_work("work", "st-abc.DEF_123", 14, 60, &key), DS_OK);
	ck_assert_str_eq(key->data, "st-abc.DEF_123");
	secret_free(key);
}
END_TEST

START_TEST(test_store_mint_refuses_a_malformed_temporary_key)
{
	struct secret *key = NULL;

	ck_assert_int_eq(mint_work("work", "st-a\r\nb", 7, 60, &key), DS_ENET);
	ck_assert_int_eq(mint_work("work", "st-a'b", 6, 60, &key), DS_ENET);
	ck_assert_int_eq(mint_work("work", "st-a\0b", 6, 60, &key), DS_ENET);
	ck_assert_int_eq(mint_work("work", "", 0, 60, &key), DS_ENET);
	ck_assert_ptr_null(key);
}
END_TEST

START_TEST(test_store_mint_refuses_an_expiry_outside_the_lifetime)
{
	struct secret *key = NULL;

	/* already dead, or alive far longer than the 60 s asked for */
	ck_assert_int_eq(mint_work("work", "st-abc", 6, 0, &key), DS_ENET);
	ck_assert_int_eq(mint_work("work", "st-abc", 6, 3600, &key), DS_ENET);
	ck_assert_ptr_null(key);
}
END_TEST

START_TEST(test_store_mint_refuses_a_key_for_another_profile)
{
	struct secret *key = NULL;

	ck_assert_int_eq(mint_work("other", "st-abc", 6, 60, &key), DS_ENET);
	ck_assert_ptr_null(key);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("store");
	TCase *tl = tcase_create("list");
	TCase *tg = tcase_create("get");
	TCase *tw = tcase_create("put_and_mint");

	ADD(tl, test_store_lists_good_records_sorted_by_name);
	ADD(tl, test_store_skips_records_with_bad_names);
	ADD(tl, test_store_skips_names_that_look_like_keys);
	ADD(tl, test_store_skips_records_with_bad_region_or_plan);
	ADD(tl, test_store_skips_records_with_bad_workspaces);
	ADD(tl, test_store_lists_a_name_once_when_two_records_carry_it);
	ADD(tl, test_store_list_with_tails_marks_an_invalid_key);
	suite_add_tcase(s, tl);
	ADD(tg, test_store_get_returns_a_good_key);
	ADD(tg, test_store_get_of_an_absent_profile_is_no_key);
	ADD(tg, test_store_get_refuses_a_key_with_cr_or_lf);
	ADD(tg, test_store_get_refuses_a_key_with_control_bytes_or_spaces);
	ADD(tg, test_store_get_refuses_a_key_with_a_nul_inside);
	ADD(tg, test_store_get_refuses_a_key_of_the_wrong_shape);
	ADD(tg, test_store_get_refuses_a_coding_plan_key_under_payg);
	ADD(tg, test_store_get_never_takes_the_key_of_a_second_record_for_another_region);
	ADD(tg, test_store_get_refuses_a_profile_only_another_region_holds);
	ADD(tg, test_store_get_takes_the_key_of_the_record_of_its_own_place);
	suite_add_tcase(s, tg);
	ADD(tw, test_store_put_refuses_a_bad_key_before_the_backend_sees_it);
	ADD(tw, test_store_cleans_control_bytes_from_a_backend_message);
	ADD(tw, test_store_mint_takes_a_well_formed_temporary_key);
	ADD(tw, test_store_mint_refuses_a_malformed_temporary_key);
	ADD(tw, test_store_mint_refuses_an_expiry_outside_the_lifetime);
	ADD(tw, test_store_mint_refuses_a_key_for_another_profile);
	suite_add_tcase(s, tw);
	return s;
}

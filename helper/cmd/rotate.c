/* SPDX-License-Identifier: MIT */
/* `rotate` (SPEC section 16): replaces a profile's long-lived key through
 * Model Studio's key-management API (core/rotate.c does the steps);
 * `rotate --check` says when each key was made; `add --access-key` keeps
 * the AccessKey the API is called with beside the profile. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "core/rotate.h"
#include "conf/names.h"
#include "broker/broker.h"
#include "broker/system_sealed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The store of the profile: the user's, or with --system the broker's
 * system key file (as the service user). */
static int rotate_store(struct app *app, struct ds_err *err)
{
	int rc;

	if (app->o.system)
		return system_keys_open(app, err);
	rc = app_refuse_broker_write(app, err);
	return rc ? rc : app_store(app, err);
}

/* The store opened (rotate_store) and the profile named in it; usage is
 * the sentence for a missing name. */
static int profile_named(struct app *app, const char *name, const char *usage, struct profile *p,
			 struct ds_err *err)
{
	struct profile_list l;
	size_t n;
	int rc;

	if (!name)
		return ds_err_set(err, DS_EINPUT, "Usage: dashscope-credential %s", usage);
	if (!profile_name_valid(name))
		return ds_err_set(err, DS_EINPUT, "'%.70s' is not a valid profile name.",
				  ds_has_control(name) ? "?" : name);
	rc = rotate_store(app, err);
	if (!rc)
		rc = store_list(&app->store, name, &l, 1, err);
	if (rc)
		return rc;
	n = l.n;
	if (n == 1)
		*p = l.items[0];
	profile_list_free(&l);
	if (n != 1)
		return ds_err_set(err, DS_EFAIL, "No stored profile is named %s.", name);
	return DS_OK;
}

/* What rotate cannot replace: a key a secret manager keeps, a Coding
 * Plan key (not managed by this API). */
static int rotatable(const struct app *app, const struct profile *p, struct ds_err *err)
{
	const char *what, *from = store_profile_from(&app->store, p->name, &what);

	if (what)
		return ds_err_set(err, DS_EPOLICY,
				  "Profile %s takes its key from %s %s; rotate it where that is made.",
				  p->name, from, what);
	if (p->place.plan == PLAN_CODING)
		return ds_err_set(err, DS_EINPUT,
				  "Profile %s holds a Coding Plan key, which the key-management API does not manage.",
				  p->name);
	return DS_OK;
}

static void created_words(long long ms, char *out, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];

	if (ms <= 0 || !gmtime_r(&t, &tm)) {
		snprintf(out, n, "created at an unknown time");
		return;
	}
	strftime(day, sizeof(day), "%Y-%m-%d %H:%M UTC", &tm);
	snprintf(out, n, "created %s (%lld days ago)", day,
		 ((long long)time(NULL) - (long long)t) / 86400);
}

/* One line for profile p: its key's id and when it was made. */
static int check_one(struct app *app, struct profile *p, struct ds_err *err)
{
	struct keymgmt km;
	struct apikey k;
	struct secret *key = NULL;
	char when[96];
	int rc = rotatable(app, p, err);

	if (!rc)
		rc = store_get_key(&app->store, p, &key, err);
	if (!rc && !key)
		rc = ds_err_set(err, DS_EFAIL, "No stored profile is named %s.", p->name);
	if (!rc)
		rc = keymgmt_open(&km, &app->conf, &app->store, p, err);
	if (rc) {
		secret_free(key);
		return rc;
	}
	rc = rotate_find(&km, p, key, &k, err);
	secret_free(key);
	keymgmt_close(&km);
	if (rc)
		return rc;
	created_words(k.created_ms, when, sizeof(when));
	printf("%-20s key id %-12s %s%s\n", p->name, k.id, when,
	       p->key_id[0] ? "" : " (id found by its masked value)");
	return DS_OK;
}

static int rotate_check(struct app *app, const char *name, struct ds_err *err)
{
	struct profile_list l;
	size_t failed = 0;
	int rc = rotate_store(app, err), last = DS_OK;

	if (!rc)
		rc = store_list(&app->store, name, &l, 1, err);
	if (rc)
		return rc;
	if (name && l.n == 0)
		rc = ds_err_set(err, DS_EFAIL, "No stored profile is named %s.", name);
	for (size_t i = 0; !rc && i < l.n; i++) {
		struct ds_err e;
		int one = check_one(app, &l.items[i], &e);

		if (one) {
			printf("%-20s unknown: %s\n", l.items[i].name, e.msg);
			failed++;
			last = one;
		}
	}
	if (!rc && fflush(stdout) != 0)
		rc = ds_err_set(err, DS_EFAIL, "Could not write the output.");
	if (!rc && failed)
		rc = ds_err_set(err, last, "%zu of %zu profiles could not be checked.", failed,
				l.n);
	profile_list_free(&l);
	return rc;
}

int cmd_rotate(struct app *app, struct ds_err *err)
{
	const char *name = app->o.nrest == 1 ? app->o.rest[0] : app->o.profile;
	struct rotate_result r;
	struct keymgmt km;
	struct profile p;
	int lock = -1, rc = DS_OK;

	if (app->o.check)
		return rotate_check(app, name, err);
	/* a plain new key beside a sealed one would undo the sealing, and
	 * the old key deleted may be the one sealed: the lock add --system
	 * --sealed takes is held, from before the switch to the service user
	 * until the old key is deleted, and a sealed profile refused */
	if (app->o.system && name && profile_name_valid(name))
		rc = system_sealed_refuse_plain(&app->conf, name, &lock, err);
	if (!rc)
		rc = profile_named(app, name, "rotate [--system] PROFILE", &p, err);
	if (!rc)
		rc = rotatable(app, &p, err);
	if (!rc)
		rc = keymgmt_open(&km, &app->conf, &app->store, &p, err);
	if (!rc) {
		rc = rotate_profile(&km, &app->store, &p, &app->conf, &r, err);
		keymgmt_close(&km);
	}
	system_sealed_unlock(lock);
	if (rc)
		return rc;
	fprintf(stderr,
		"Rotated profile %s: the new key (id %s) is stored and works; the old key (id %s) is deleted. Temporary keys minted from the old key may live until they expire (at most 30 minutes).\n",
		p.name, r.new_key.id, r.old_key.id);
	return DS_OK;
}

/* Whether credentials for the key-management API are at hand without
 * probing the network: add does not wait on a metadata service that a
 * desktop does not have. */
static int cred_at_hand(struct app *app, const struct profile *p)
{
	struct secret *ak = NULL;
	struct ds_err e;
	const char *v = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");

	if ((v && *v) || app->conf.metadata_endpoint ||
	    ((v = getenv("ALIBABA_CLOUD_ECS_METADATA")) && *v))
		return 1;
	if (store_get_access_key(&app->store, p, &ak, &e) != DS_OK || !ak)
		return 0;
	secret_free(ak);
	return 1;
}

void add_learn_key_id(struct app *app, struct profile *p, const struct secret *key)
{
	struct keymgmt km;
	struct apikey k;
	struct ds_err e;
	int rc;

	if (p->place.plan == PLAN_CODING || !cred_at_hand(app, p))
		return;
	rc = keymgmt_open(&km, &app->conf, &app->store, p, &e);
	if (rc == DS_OK) {
		rc = rotate_find(&km, p, key, &k, &e);
		keymgmt_close(&km);
	}
	if (rc == DS_OK) {
		snprintf(p->key_id, sizeof(p->key_id), "%s", k.id);
		rc = store_put(&app->store, p, key, &e);
	}
	if (rc == DS_OK)
		fprintf(stderr, "Its id in Model Studio is %s (for rotate).\n", p->key_id);
	else
		fprintf(stderr,
			"dashscope-credential: note: the key's id was not learnt (%s); rotate looks it up again.\n",
			e.msg);
}

int cmd_add_access_key(struct app *app, struct ds_err *err)
{
	const char *name = app->o.nrest == 1 ? app->o.rest[0] : app->o.profile;
	struct secret *id = NULL, *secret = NULL, *both = NULL;
	struct profile p;
	char *buf;
	int rc;

	rc = profile_named(app, name, "add --access-key [--system] PROFILE", &p, err);
	if (!rc)
		rc = tty_read_key("AccessKey ID (input hidden): ", &id, err);
	if (!rc)
		rc = tty_read_key("AccessKey secret (input hidden): ", &secret, err);
	if (rc)
		goto out;
	buf = malloc(id->len + secret->len + 2);
	if (!buf) {
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
		goto out;
	}
	snprintf(buf, id->len + secret->len + 2, "%s:%s", id->data, secret->data);
	both = secret_new(buf, id->len + secret->len + 1);
	secret_wipe_str(buf);
	rc = both ? store_put_access_key(&app->store, &p, both, err)
		  : ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (!rc)
		fprintf(stderr,
			"Stored an AccessKey for rotating profile %s beside its key; grant it only modelstudio:ListApiKeys, CreateApiKey and DeleteApiKey.\n",
			p.name);
out:
	secret_free(id);
	secret_free(secret);
	secret_free(both);
	return rc;
}

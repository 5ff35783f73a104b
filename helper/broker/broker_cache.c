/* SPDX-License-Identifier: MIT */
/* The broker's key cache (SPEC section 12): temporary keys per (uid,
 * profile, lifetime), handed again while more than the renewal margin
 * remains; concurrent callers of one key share one mint (single flight). */
#include "config.h"
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_WAIT_MS 1000 /* a waiter looks again this often; a mint has its own timeouts */

/* A cached temporary key of one (uid, profile, lifetime), or the mint in
 * flight for it: callers that find minting set wait on `changed`. */
struct broker_cache_entry {
	uid_t uid;
	char profile[DS_PROFILE_MAX];
	unsigned long lifetime;
	struct secret *token; /* NULL: none yet */
	long long expires_at; /* Unix time, as the API gave it */
	int minting;
	unsigned long fails; /* bumped on each failed mint */
	struct ds_err fail; /* the last failure, for the callers that waited */
	struct broker_cache_entry *next;
};

/* Expiry is the API's Unix time: it is compared with the wall clock
 * (the one tests set in struct broker). */
static time_t cache_now(const struct broker *b)
{
	return b->wall_clock ? b->wall_clock() : time(NULL);
}

/* The entry of (uid, profile, lifetime), made when missing; lock must be
 * held. */
static struct broker_cache_entry *cache_find(struct broker *b, uid_t uid, const char *profile,
					     unsigned long lifetime)
{
	long long now = (long long)cache_now(b);
	struct broker_cache_entry *e;

	/* dead keys are wiped as the walk passes them */
	for (e = b->cache; e; e = e->next)
		if (e->token && e->expires_at <= now) {
			secret_free(e->token);
			e->token = NULL;
		}
	for (e = b->cache; e; e = e->next)
		if (e->uid == uid && e->lifetime == lifetime && !strcmp(e->profile, profile))
			return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->uid = uid;
	ds_strcpy(e->profile, sizeof(e->profile), profile);
	e->lifetime = lifetime;
	e->next = b->cache;
	b->cache = e;
	return e;
}

static int cache_fresh(const struct broker_cache_entry *e, time_t now)
{
	return e->token &&
	       (double)(e->expires_at - (long long)now) > token_renewal_margin(e->lifetime);
}

/* Mints outside the lock; the entry's minting flag keeps other callers of
 * the same key waiting on `changed` instead of minting too. */
static int cache_mint(struct broker *b, struct app *app, struct broker_cache_entry *e,
		      const struct profile *p, struct ds_err *err)
{
	struct want w;
	struct credential cred;
	int found = 0, rc;

	memset(&w, 0, sizeof(w));
	w.cr.profile = p->name;
	w.lifetime_given = 1;
	w.lifetime = e->lifetime;
	rc = credential_obtain(app, &w, &cred, &found, err);
	if (rc == DS_OK && !found)
		rc = ds_err_set(err, DS_EFAIL, "Profile %s is no longer in the system key file.",
				p->name);
	if (rc == DS_OK && cred.long_lived) /* never: checked before, kept as a guard */
		rc = ds_err_set(err, DS_EPOLICY, "The broker hands out temporary keys only.");
	pthread_mutex_lock(&b->lock);
	e->minting = 0;
	if (rc == DS_OK) {
		secret_free(e->token);
		e->token = cred.key;
		cred.key = NULL;
		e->expires_at = cred.expires_at;
	} else {
		e->fails++;
		e->fail = *err;
	}
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	if (found)
		credential_free(&cred);
	return rc;
}

/* A copy of e's key; lock must be held. */
static int cache_copy(const struct broker_cache_entry *e, struct secret **key,
		      long long *expires_at, struct ds_err *err)
{
	*key = secret_new(e->token->data, e->token->len);
	*expires_at = e->expires_at;
	return *key ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
}

int broker_cache_get(struct broker *b, struct app *app, uid_t uid, const struct profile *p,
		     unsigned long lifetime, struct secret **key, long long *expires_at,
		     int *cached, struct ds_err *err)
{
	struct broker_cache_entry *e;
	unsigned long fails_seen;
	int rc = DS_OK;

	*key = NULL;
	pthread_mutex_lock(&b->lock);
	e = cache_find(b, uid, p->name, lifetime);
	if (!e) {
		pthread_mutex_unlock(&b->lock);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	fails_seen = e->fails;
	*cached = 1;
	for (;;) {
		if (cache_fresh(e, cache_now(b))) {
			rc = cache_copy(e, key, expires_at, err);
			break;
		}
		if (e->fails != fails_seen) { /* the mint we waited for failed */
			*err = e->fail;
			rc = e->fail.code ? e->fail.code : DS_EFAIL;
			break;
		}
		if (!e->minting) {
			e->minting = 1;
			*cached = 0;
			pthread_mutex_unlock(&b->lock);
			rc = cache_mint(b, app, e, p, err);
			pthread_mutex_lock(&b->lock);
			if (rc == DS_OK && e->token)
				rc = cache_copy(e, key, expires_at, err);
			break;
		}
		broker_wait_changed(b, CACHE_WAIT_MS);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void broker_cache_free(struct broker *b)
{
	while (b->cache) {
		struct broker_cache_entry *n = b->cache->next;

		secret_free(b->cache->token);
		free(b->cache);
		b->cache = n;
	}
}

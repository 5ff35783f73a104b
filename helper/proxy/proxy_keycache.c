/* SPDX-License-Identifier: MIT */
/* The proxy's one cached temporary key: judged against the wall clock on
 * every request (a laptop that slept must not reuse a dead key), renewed
 * single-flight through credential_obtain, the path `token` takes, with
 * store and policy read again at each mint and once a renewal margin. */
#include "config.h"
#include "base/clock.h"
#include "conf/policy.h"
#include "proxy/proxy_keys.h"

#include <string.h>
#include <time.h>

int keycache_init(struct keycache *kc, struct app *app, struct ds_err *err)
{
	const struct policy *pol = &app->conf.policy;
	unsigned long lifetime;
	int found = 0, rc;

	memset(kc, 0, sizeof(*kc));
	kc->app = app;
	rc = want_from_options(app, &kc->want, err);
	if (!rc)
		rc = app_select(app, &kc->want, &kc->profile, &found, err);
	if (!rc && !found)
		rc = app_no_profile(&kc->want, err);
	if (rc)
		return rc;
	/* the gate credential_obtain passes, checked before anything listens
	 * (a Coding Plan profile under require_temporary, say, exits 6) */
	lifetime = 1;
	rc = policy_check_region(pol, kc->profile.place.region, err);
	if (!rc)
		rc = policy_check_lifetime(pol, kc->profile.name, kc->profile.place.plan, &lifetime,
					   NULL, err);
	if (rc)
		return rc;
	/* every later mint is for this profile, whatever else matches then */
	kc->want.cr.profile = kc->profile.name;
	if (pthread_mutex_init(&kc->lock, NULL) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot create a lock.");
	return DS_OK;
}

void keycache_free(struct keycache *kc)
{
	secret_free(kc->key);
	kc->key = NULL;
	pthread_mutex_destroy(&kc->lock);
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Called with the lock held. */
static int keycache_fresh(const struct keycache *kc)
{
	if (!kc->key)
		return 0;
	if (kc->long_lived)
		return 1;
	return (double)kc->expires_at - now_real() > token_renewal_margin(kc->lifetime);
}

#define RECHECK_MAX_MS 60000 /* SPEC 10: a Coding Plan key, at least this often */

/* Whether store and policy are due for another look: once a renewal
 * margin of the key's lifetime, and at least every minute. */
static int keycache_recheck_due(const struct keycache *kc)
{
	long long every = (long long)(token_renewal_margin(kc->lifetime) * 1000);

	if (every <= 0 || every > RECHECK_MAX_MS)
		every = RECHECK_MAX_MS;
	return clock_now_ms() - kc->checked_at >= every;
}

/* The policy as the configuration files say it now (the administrator
 * may have changed it since the proxy started). Called with the lock
 * held: only the key cache reads app->conf.policy once the server runs. */
static int keycache_policy_reload(struct keycache *kc, struct ds_err *err)
{
	struct conf fresh;
	int rc;

	memset(&fresh, 0, sizeof(fresh));
	rc = conf_load(&fresh, err);
	if (!rc)
		kc->app->conf.policy = fresh.policy;
	conf_free(&fresh);
	return rc;
}

/* Store and policy without a mint: the profile is still stored and the
 * policy still lets it be used. Called with the lock held. */
static int keycache_check(struct keycache *kc, struct ds_err *err)
{
	const struct policy *pol = &kc->app->conf.policy;
	struct profile p;
	unsigned long lifetime = kc->lifetime ? kc->lifetime : 1;
	int found = 0, rc = keycache_policy_reload(kc, err);

	if (!rc)
		rc = app_select(kc->app, &kc->want, &p, &found, err);
	if (!rc && !found)
		rc = app_no_profile(&kc->want, err);
	if (!rc)
		rc = policy_check_region(pol, p.place.region, err);
	if (!rc)
		rc = policy_check_lifetime(pol, p.name, p.place.plan, &lifetime, NULL, err);
	return rc;
}

/* Called with the lock held. */
static int keycache_mint(struct keycache *kc, struct ds_err *err)
{
	struct credential c;
	int found = 0, rc;

	rc = keycache_policy_reload(kc, err);
	if (!rc)
		rc = credential_obtain(kc->app, &kc->want, &c, &found, err);
	if (!rc && !found)
		rc = app_no_profile(&kc->want, err);
	if (rc) {
		if (found)
			credential_free(&c);
		return rc;
	}
	secret_free(kc->key);
	kc->key = c.key;
	c.key = NULL;
	kc->expires_at = c.expires_at;
	kc->lifetime = c.lifetime;
	kc->long_lived = c.long_lived;
	kc->generation++;
	kc->checked_at = clock_now_ms();
	credential_free(&c);
	return DS_OK;
}

int keycache_get(struct keycache *kc, unsigned long refused, struct secret **out,
		 unsigned long *gen, struct ds_err *err)
{
	int rc = DS_OK;

	*out = NULL;
	pthread_mutex_lock(&kc->lock);
	if (refused && refused == kc->generation && kc->key) {
		secret_free(kc->key);
		kc->key = NULL;
	}
	if (kc->key && keycache_recheck_due(kc)) {
		/* a long-lived key is read again: it may be gone or replaced */
		rc = kc->long_lived ? keycache_mint(kc, err) : keycache_check(kc, err);
		if (rc) {
			secret_free(kc->key);
			kc->key = NULL;
		} else {
			kc->checked_at = clock_now_ms();
		}
	}
	if (!rc && !keycache_fresh(kc))
		rc = keycache_mint(kc, err);
	if (!rc) {
		*out = secret_new(kc->key->data, kc->key->len);
		*gen = kc->generation;
		if (!*out)
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	pthread_mutex_unlock(&kc->lock);
	return rc;
}

int keycache_peek(struct keycache *kc, unsigned long refused, struct secret **out,
		  unsigned long *gen)
{
	int rc = 1;

	*out = NULL;
	if (pthread_mutex_trylock(&kc->lock) != 0)
		return 1;
	if (kc->key && !(refused && refused == kc->generation) && !keycache_recheck_due(kc) &&
	    keycache_fresh(kc)) {
		*out = secret_new(kc->key->data, kc->key->len);
		*gen = kc->generation;
		rc = *out ? 0 : 1;
	}
	pthread_mutex_unlock(&kc->lock);
	return rc;
}

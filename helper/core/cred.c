/* SPDX-License-Identifier: MIT */
/* From a request or the command line to a credential: criteria, lifetime,
 * policy (SPEC sections 4, 6, 7), key lookup and minting. */
#include "config.h"
#include "base/debug.h"
#include "core/app.h"
#include "conf/policy.h"
#include "conf/place.h"
#include "conf/names.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int app_refuse_broker_write(const struct app *app, struct ds_err *err)
{
	struct store_choice choice;
	int rc = policy_store_choice(&app->conf.policy, app->conf.store, app->conf.store_from,
				     &choice, err);

	if (rc)
		return rc;
	if (!store_kind_read_only(choice.kind))
		return DS_OK;
	return ds_err_set(err, DS_EPOLICY,
			  "The store is the broker: the administrator holds the keys (sudo dashscope-credential add --system).");
}

int app_store(struct app *app, struct ds_err *err)
{
	int rc;

	if (app->store_ready)
		return DS_OK;
	rc = store_open_conf(&app->conf, &app->store, !app->o.no_key, err);
	if (rc == DS_OK && (rc = store_open_sources(&app->store, &app->conf, err)))
		store_close(&app->store);
	if (rc == DS_OK)
		app->store_ready = 1;
	return rc;
}

static int parse_lifetime(const char *s, struct want *w, const char *what, struct ds_err *err)
{
	unsigned long v;

	if (lifetime_parse(s, 1, &v) != 0)
		return ds_err_set(err, DS_EINPUT, "%s must be a number of seconds from 1 to 1800.",
				  what);
	w->lifetime_given = 1;
	w->lifetime = v;
	return DS_OK;
}

static int set_region(const char *s, struct want *w, struct ds_err *err)
{
	const char *names[64], *near;
	char low[48];
	size_t n = 0;

	w->cr.region = region_find(s);
	if (w->cr.region)
		return DS_OK;
	for (size_t i = 0; i < region_count() && n < 58; i++) {
		const struct region *r = region_at(i);

		names[n++] = r->id;
		for (size_t a = 0; r->aliases[a]; a++)
			names[n++] = r->aliases[a];
	}
	/* region names are lower case; a typo may not be */
	snprintf(low, sizeof(low), "%s", s);
	ds_ascii_lower(low);
	near = ds_has_control(s) ? NULL : ds_closest(low, names, n);
	if (near)
		return ds_err_set(err, DS_EINPUT,
				  "Unknown region '%.40s'; did you mean %s? 'dashscope-credential regions' lists them.",
				  s, near);
	return ds_err_set(err, DS_EINPUT,
			  "Unknown region '%.40s'; 'dashscope-credential regions' lists them.",
			  ds_has_control(s) ? "?" : s);
}

static int set_workspace(const char *s, struct want *w, struct ds_err *err)
{
	if (!workspace_valid(s))
		return ds_err_set(err, DS_EINPUT,
				  "A workspace id must be a DNS label (letters, digits and '-', at most 63).");
	ds_strcpy(w->workspace, sizeof(w->workspace), s);
	ds_ascii_lower(w->workspace);
	w->cr.workspace = w->workspace;
	return DS_OK;
}

static int set_plan(const char *s, struct want *w, struct ds_err *err)
{
	if (plan_parse(s, &w->cr.plan))
		return ds_err_set(err, DS_EINPUT, "The plan must be payg or coding.");
	w->cr.has_plan = 1;
	return DS_OK;
}

static int set_profile(const char *s, struct want *w, struct ds_err *err)
{
	if (!profile_name_valid(s))
		return ds_err_set(err, DS_EINPUT,
				  "A profile name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'.");
	w->cr.profile = s;
	return DS_OK;
}

int want_from_options(const struct app *app, struct want *w, struct ds_err *err)
{
	const struct opts *o = &app->o;
	int rc = DS_OK;

	memset(w, 0, sizeof(*w));
	if (o->profile)
		rc = set_profile(o->profile, w, err);
	if (!rc && o->region)
		rc = set_region(o->region, w, err);
	if (!rc && o->workspace)
		rc = set_workspace(o->workspace, w, err);
	if (!rc && o->plan)
		rc = set_plan(o->plan, w, err);
	if (!rc && o->lifetime)
		rc = parse_lifetime(o->lifetime, w, "--lifetime", err);
	return rc;
}

/* A request for a place we serve (place_is_ours said so): a DashScope
 * host selects its region, workspace and plan; the endpoint's host
 * selects nothing more. */
static int want_place(const struct request *req, struct want *w)
{
	const char *host = request_get(req, ATTR_HOST);
	struct place pl;

	w->cr.place_request = 1;
	w->cr.place_ok = 0;
	if (!place_from_host(host, &pl)) {
		w->cr.place_ok = 1;
		return DS_OK;
	}
	/* a host that disagrees with an explicit region/workspace/plan is a
	 * request for some other place: no match */
	if ((w->cr.region && w->cr.region != pl.region) ||
	    (w->cr.workspace && strcmp(w->cr.workspace, pl.workspace)) ||
	    (w->cr.has_plan && w->cr.plan != pl.plan))
		return DS_OK;
	w->cr.region = pl.region;
	ds_strcpy(w->workspace, sizeof(w->workspace), pl.workspace);
	w->cr.workspace = w->workspace;
	w->cr.plan = pl.plan;
	w->cr.has_plan = 1;
	w->cr.place_ok = 1;
	return DS_OK;
}

/* Whether a request for a place names one we serve: https and a DashScope
 * host of section 2 or the configured endpoint's host. Judged before any
 * other attribute: git shows helpers every URL, and a request for some
 * other place is "no match" however odd the rest of it is. */
static int place_is_ours(const struct app *app, const struct request *req, int *ours,
			 struct ds_err *err)
{
	const char *proto = request_get(req, ATTR_PROTOCOL);
	const char *host = request_get(req, ATTR_HOST);
	char name[DS_HOST_MAX], ephost[DS_HOST_MAX + 8], given[DS_HOST_MAX + 8];
	struct place pl;
	unsigned port;

	*ours = 0;
	if (!host || !*host || *host == '[' || !proto || strcmp(proto, "https") != 0)
		return DS_OK;
	if (host_split(host, name, sizeof(name), &port) != 0)
		return ds_err_set(err, DS_EINPUT,
				  "Malformed request: host '%.80s' has a bad port; nothing was done.",
				  ds_has_control(host) ? "?" : host);
	snprintf(given, sizeof(given), port ? "%s:%u" : "%s", name, port);
	*ours = place_from_host(host, &pl) ||
		(app->conf.endpoint &&
		 endpoint_check(app->conf.endpoint, ephost, sizeof(ephost), NULL) == DS_OK &&
		 !strcmp(given, ephost));
	return DS_OK;
}

int want_from_request(const struct app *app, const struct request *req, struct want *w,
		      struct ds_err *err)
{
	const char *profile = request_get(req, ATTR_PROFILE);
	const char *user = request_get(req, ATTR_USERNAME);
	const char *v;
	int rc, ours;

	memset(w, 0, sizeof(*w));
	if (request_get(req, ATTR_PROTOCOL) || request_get(req, ATTR_HOST) ||
	    request_get(req, ATTR_URL) || request_get(req, ATTR_PATH)) {
		rc = place_is_ours(app, req, &ours, err);
		if (rc || !ours) {
			w->cr.place_request = 1;
			return rc;
		}
	}
	if (profile && user && strcmp(profile, user) != 0)
		return ds_err_set(err, DS_EINPUT,
				  "Malformed request: profile and username disagree; nothing was done.");
	if (!profile)
		profile = user;
	if (profile && *profile && (rc = set_profile(profile, w, err)))
		return rc;
	if ((v = request_get(req, ATTR_REGION)) && (rc = set_region(v, w, err)))
		return rc;
	if ((v = request_get(req, ATTR_WORKSPACE)) && *v && (rc = set_workspace(v, w, err)))
		return rc;
	if ((v = request_get(req, ATTR_PLAN)) && (rc = set_plan(v, w, err)))
		return rc;
	if ((v = request_get(req, ATTR_LIFETIME)) &&
	    (rc = parse_lifetime(v, w, "The request's lifetime", err)))
		return rc;
	if (w->lifetime_given && w->lifetime == 0 && !app->conf.policy.allow_long_lived)
		return ds_err_set(err, DS_EINPUT,
				  "lifetime=0 (the long-lived key) is allowed only where the system policy sets allow_long_lived = yes.");
	if (request_get(req, ATTR_PROTOCOL) || request_get(req, ATTR_HOST) ||
	    request_get(req, ATTR_URL) || request_get(req, ATTR_PATH))
		return want_place(req, w);
	return DS_OK;
}

int app_select(struct app *app, const struct want *w, struct profile *out, int *found,
	       struct ds_err *err)
{
	struct profile_list l;
	const struct profile *p;
	int rc;

	*found = 0;
	if (w->cr.place_request && !w->cr.place_ok)
		return DS_OK; /* not ours: do not even open the store */
	rc = app_store(app, err);
	if (!rc)
		rc = store_list(&app->store, w->cr.profile, &l, 0, err);
	if (rc)
		return rc;
	rc = select_profile(&l, &w->cr,
			    app->conf.default_profile[0] ? app->conf.default_profile : NULL, &p,
			    err);
	ds_debug("profile selection: profile %s, region %s, workspace %s, plan %s, default %s, %zu stored: %s",
		 w->cr.profile ? w->cr.profile : "any", w->cr.region ? w->cr.region->id : "any",
		 w->cr.workspace ? w->cr.workspace : "any",
		 w->cr.has_plan ? plan_name(w->cr.plan) : "any",
		 app->conf.default_profile[0] ? app->conf.default_profile : "none", l.n,
		 rc  ? "refused"
		 : p ? p->name
		     : "no match");
	if (rc == DS_OK && p) {
		*out = *p;
		*found = 1;
	}
	profile_list_free(&l);
	return rc;
}

int app_no_profile(const struct want *w, struct ds_err *err)
{
	if (w->cr.profile)
		return ds_err_set(err, DS_EFAIL,
				  "No stored profile is named %s; 'dashscope-credential list' shows them, 'add' stores one.",
				  w->cr.profile);
	return ds_err_set(err, DS_EFAIL,
			  "No stored profile matches; add a key with 'dashscope-credential add --region REGION'.");
}

unsigned long want_lifetime(const struct conf *conf, const struct want *w, const char *profile)
{
	return lifetime_for(conf, profile, w->lifetime_given, w->lifetime);
}

/* Everything the configuration and the policy say of the profile chosen,
 * before any key is touched: its region allowed, its URLs, its lifetime
 * and the policy's cap. A profile the broker did not list (no region)
 * gets the lifetime only. */
static int credential_plan(const struct conf *conf, const struct want *w, struct credential *cred,
			   struct ds_err *err)
{
	const struct place *place = &cred->profile.place;
	int rc;

	if (place->region && (rc = policy_check_region(&conf->policy, place->region, err)))
		return rc;
	cred->pconf = conf_profile(conf, cred->profile.name);
	cred->lifetime_asked =
		lifetime_for(conf, cred->profile.name, w->lifetime_given, w->lifetime);
	cred->lifetime = cred->lifetime_asked;
	rc = policy_check_lifetime(&conf->policy, cred->profile.name, place->plan, &cred->lifetime,
				   &cred->lifetime_lowered, err);
	if (rc)
		return rc;
	ds_debug("lifetime %lu s", cred->lifetime);
	return place->region ? place_endpoints(place, conf->endpoint, &cred->ep, err) : DS_OK;
}

/* The key the plan asks for: a temporary key from a store that mints
 * (the broker), else the stored key, kept where the plan wants the
 * long-lived key and minted from otherwise. */
static int credential_key(struct app *app, struct credential *cred, struct ds_err *err)
{
	const char *name = cred->profile.name;
	struct secret *key = NULL;
	struct token_request tr;
	struct minted m;
	int long_lived = cred->lifetime == 0 || cred->profile.place.plan == PLAN_CODING;
	int rc;

	if (store_mints(&app->store) && !store_source_of(&app->store, name)) {
		/* the keys are the administrator's: temporary keys only */
		if (long_lived)
			return ds_err_set(err, DS_EPOLICY,
					  "The %s store hands out temporary keys only; profile %s cannot have its long-lived key.",
					  app->store.ops->name, name);
		return store_mint(&app->store, name, cred->lifetime, &cred->key, &cred->expires_at,
				  err);
	}
	rc = store_get_key(&app->store, &cred->profile, &key, err);
	if (rc)
		return rc;
	if (!key)
		return ds_err_set(err, DS_ESTORE,
				  "The key of profile %s could not be read from the store; add it again.",
				  name);
	if (long_lived) {
		cred->key = key;
		cred->long_lived = 1;
		return DS_OK;
	}
	tr.token_url = cred->ep.token_url;
	tr.ca_file = app->conf.ca_file;
	tr.timeout = app->conf.timeout;
	tr.lifetime = cred->lifetime;
	tr.key = key;
	rc = token_mint(&tr, &m, err);
	secret_free(key);
	if (rc)
		return rc;
	cred->key = m.token;
	cred->expires_at = m.expires_at;
	return DS_OK;
}

/* One line: the selection, the plan, the key. A profile a minting store
 * (the broker) did not list is still asked for by name, so that the
 * broker refuses it (code 6) and its audit records the attempt; it can
 * only be granted if the rules changed between the two requests. */
int credential_obtain(struct app *app, const struct want *w, struct credential *cred, int *found,
		      struct ds_err *err)
{
	int unlisted, rc;

	memset(cred, 0, sizeof(*cred));
	rc = app_select(app, w, &cred->profile, found, err);
	if (rc)
		return rc;
	unlisted = !*found && store_mints(&app->store) && w->cr.profile && !w->cr.place_request;
	if (!*found && !unlisted)
		return DS_OK;
	if (unlisted)
		ds_strcpy(cred->profile.name, sizeof(cred->profile.name), w->cr.profile);
	rc = credential_plan(&app->conf, w, cred, err);
	if (!rc)
		rc = credential_key(app, cred, err);
	if (rc || !unlisted)
		return rc;
	credential_free(cred);
	return ds_err_set(err, DS_EFAIL,
			  "The broker's rules changed while profile %s was asked for; try again.",
			  w->cr.profile);
}

void credential_free(struct credential *cred)
{
	secret_free(cred->key);
	cred->key = NULL;
}

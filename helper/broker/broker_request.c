/* SPDX-License-Identifier: MIT */
/* One request to the broker (SPEC section 12), from the caller's identity
 * to the audit line: the [broker] rules and [policy], the profile and the
 * lifetime, then the answer: a temporary key, the list, or an error. */
#include "config.h"
#include "broker/broker_int.h"
#include "store/broker_wire.h"
#include "base/clock.h"

#include <string.h>

/* The profiles of the system key file that the caller may use. */
static int allowed_list(struct app *app, const struct caller *c, struct profile_list *out,
			struct ds_err *err)
{
	struct broker_caller bc = broker_caller_rules(c);
	size_t kept = 0;
	int rc = store_list(&app->store, NULL, out, 0, err);

	if (rc)
		return rc;
	for (size_t i = 0; i < out->n; i++)
		if (broker_rules_allow(&app->conf.broker, &bc, out->items[i].name))
			out->items[kept++] = out->items[i];
	out->n = kept;
	for (size_t i = 0; i < out->n; i++)
		out->items[i].key_tail[0] = '\0';
	return DS_OK;
}

static int allowed_select(struct app *app, const struct caller *c, const struct want *w,
			  struct profile *out, struct ds_err *err)
{
	struct broker_caller bc = broker_caller_rules(c);
	const struct conf *conf = &app->conf;
	const char *def = conf->default_profile[0] ? conf->default_profile : NULL;
	const struct profile *p = NULL;
	struct profile_list l;
	int rc;

	/* refused whether or not it exists: a caller learns nothing about
	 * profiles that are not theirs */
	if (w->cr.profile && !broker_rules_allow(&conf->broker, &bc, w->cr.profile))
		return ds_err_set(err, DS_EPOLICY, "denied: profile %s is not one %s may use.",
				  w->cr.profile, c->user);
	rc = allowed_list(app, c, &l, err);
	if (rc)
		return rc;
	if (def && !profile_list_find(&l, def))
		def = NULL;
	rc = select_profile(&l, &w->cr, def, &p, err);
	if (rc == DS_OK && !p)
		rc = ds_err_set(err, DS_EFAIL, "No profile that %s may use matches the request.",
				c->user);
	if (rc == DS_OK)
		*out = *p;
	profile_list_free(&l);
	return rc;
}

/* The lifetime rule every caller follows (want_lifetime), then the
 * broker's cap and the policy's. */
static unsigned long lifetime_effective(const struct conf *conf, const struct want *w,
					const char *profile)
{
	unsigned long l = want_lifetime(conf, w, profile);

	if (conf->broker.max_lifetime && l > conf->broker.max_lifetime)
		l = conf->broker.max_lifetime;
	if (conf->policy.max_lifetime && l > conf->policy.max_lifetime)
		l = conf->policy.max_lifetime;
	return l;
}

static int handle_list(struct app *app, int fd, const struct caller *c, struct outcome *o,
		       struct ds_err *err)
{
	struct profile_list l;
	int rc = allowed_list(app, c, &l, err);

	if (rc)
		return rc;
	rc = broker_conn_answer_list(fd, &l, err);
	if (rc == DS_OK) {
		o->result = "listed";
		snprintf(o->reason, sizeof(o->reason), "%zu profiles", l.n);
	}
	profile_list_free(&l);
	return rc;
}

static int handle_get(struct broker *b, struct app *app, int fd, const struct caller *c,
		      const struct request *req, struct outcome *o, struct ds_err *err)
{
	struct profile p;
	struct secret *key = NULL;
	struct want w;
	int cached = 0, rc;

	rc = want_from_request(app, req, &w, err);
	/* the number, not its spelling: lifetime=00 is lifetime=0; and
	 * whatever [policy] allow_long_lived says */
	if (!rc && w.lifetime_given && w.lifetime == 0)
		return ds_err_set(err, DS_EPOLICY,
				  "denied: the broker hands out temporary keys only (lifetime=0).");
	if (!rc)
		rc = broker_rate_take(b, broker_rate(&app->conf.broker), c->uid, clock_now_ms(),
				      err);
	if (!rc)
		rc = allowed_select(app, c, &w, &p, err);
	if (rc)
		return rc;
	ds_strcpy(o->profile, sizeof(o->profile), p.name);
	o->region = p.place.region->id;
	if (p.place.plan == PLAN_CODING)
		return ds_err_set(err, DS_EPOLICY,
				  "denied: profile %s is a Coding Plan key, which has no temporary keys; the broker never hands out a long-lived key.",
				  p.name);
	o->lifetime = lifetime_effective(&app->conf, &w, p.name);
	rc = broker_cache_get(b, app, c->uid, &p, o->lifetime, &key, &o->expires_at, &cached, err);
	o->mint_failed = rc != DS_OK;
	if (rc)
		return rc;
	broker_conn_answer_key(fd, &p, key, o->expires_at, app->conf.endpoint);
	secret_free(key);
	o->result = cached ? "cached" : "minted";
	return DS_OK;
}

/* The action asked for: get when none was named. */
static int handle_action(const struct request *req, char *action, struct ds_err *err)
{
	/* a caller that connects and closes asked for nothing */
	if (!action[0] && req->lines == 0)
		return ds_err_set(err, DS_EINPUT, "The request was empty.");
	if (!action[0])
		ds_strcpy(action, BROKER_ACTION_MAX, BROKER_ACTION_GET);
	if (strcmp(action, BROKER_ACTION_GET) && strcmp(action, BROKER_ACTION_LIST))
		return ds_err_set(err, DS_EINPUT, "Malformed request: action must be get or list.");
	return DS_OK;
}

/* Allowed traffic (a caller some rule names) is what keeps the broker
 * from its quiet exit: start 1 when such a request begins, 0 when it ends. */
static void request_mark_allowed(struct broker *b, int start)
{
	pthread_mutex_lock(&b->lock);
	if (start)
		b->active_allowed++;
	else
		b->active_allowed--;
	b->last_activity = clock_now_ms();
	pthread_mutex_unlock(&b->lock);
}

/* The rules of the configuration as it is now name the caller. */
static int request_named(const struct app *app, const struct caller *c, struct ds_err *err)
{
	struct broker_caller bc = broker_caller_rules(c);

	if (!broker_rules_name(&app->conf.broker, &bc))
		return ds_err_set(err, DS_EPOLICY,
				  "denied: no [broker] rule names user %s; ask your administrator.",
				  c->user);
	return DS_OK;
}

/* What the caller asked for, for the audit line of a request refused
 * before it was served (audit quotes it as it came). */
static void request_asked(const struct request *req, struct outcome *o)
{
	const char *profile = request_get(req, ATTR_PROFILE);

	if (profile)
		snprintf(o->profile, sizeof(o->profile), "%s", profile);
	o->region = request_get(req, ATTR_REGION);
}

void broker_request_serve(struct broker *b, int fd)
{
	struct caller c;
	struct request req;
	struct outcome o;
	struct ds_err err = { 0, "" };
	struct broker_config *held = NULL;
	struct app app;
	char action[BROKER_ACTION_MAX] = "";
	int rc, allowed = 0, busy;

	memset(&o, 0, sizeof(o));
	o.result = "failed";
	request_init(&req);
	rc = broker_caller_identify(fd, &c, &err);
	busy = rc == DS_ENET;
	if (!rc)
		rc = broker_conn_read(fd, &req, action, &err);
	request_asked(&req, &o);
	if (!rc)
		rc = handle_action(&req, action, &err);
	if (!rc)
		rc = broker_config_take(b, &app, &held, &err);
	if (!rc)
		rc = request_named(&app, &c, &err);
	if (!rc) {
		allowed = 1;
		request_mark_allowed(b, 1);
		rc = !strcmp(action, BROKER_ACTION_LIST)
			     ? handle_list(&app, fd, &c, &o, &err)
			     : handle_get(b, &app, fd, &c, &req, &o, &err);
	}
	if (rc) {
		o.result = rc == DS_EPOLICY || busy ? "denied" : "failed";
		ds_strcpy(o.reason, sizeof(o.reason), err.msg);
	}
	if (busy) {
		broker_conn_refuse(fd, &err);
	} else if (rc) {
		broker_conn_answer_error(fd, &err);
		broker_conn_drain(fd);
	}
	broker_audit_log(b, &c, action[0] ? action : "?", &o);
	if (allowed)
		request_mark_allowed(b, 0);
	if (held)
		broker_config_release(b, held);
	request_free(&req);
	broker_caller_free(&c);
}

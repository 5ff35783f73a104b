/* SPDX-License-Identifier: MIT */
/* The protocol actions get, store, erase and capability (SPEC section 4).
 * A request is read and checked whole before any store is opened. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "conf/policy.h"
#include "core/key.h"
#include "conf/place.h"
#include "conf/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_request(struct app *app, struct request *req, struct want *w, struct ds_err *err)
{
	int rc;

	request_init(req);
	rc = request_read(stdin, req, err);
	if (!rc)
		rc = request_apply_url(req, err);
	if (!rc)
		rc = want_from_request(app, req, w, err);
	return rc;
}

static int emit_get(const struct request *req, const struct credential *c, struct ds_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	const struct profile *p = &c->profile;
	int bad = 0;

	if (!out)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	bad |= proto_write(out, "profile", p->name);
	bad |= proto_write(out, "region", p->place.region->id);
	bad |= proto_write(out, "workspace", p->place.workspace);
	bad |= proto_write(out, "plan", plan_name(p->place.plan));
	bad |= proto_write(out, "protocol", "https");
	bad |= proto_write(out, "host", c->ep.host);
	bad |= proto_write(out, "username", p->name);
	bad |= proto_write(out, "password", c->key->data);
	if (c->expires_at) {
		char num[32];

		snprintf(num, sizeof(num), "%lld", c->expires_at);
		bad |= proto_write(out, "password_expiry_utc", num);
	}
	bad |= proto_write(out, "base_url", c->ep.base_url);
	bad |= proto_write(out, "anthropic_base_url", c->ep.anthropic_base_url);
	bad |= proto_write(out, "native_base_url", c->ep.native_base_url);
	/* capability-gated lines only for callers that announced them (20) */
	if (request_has_capability(req, "authtype")) {
		bad |= proto_write(out, "capability[]", "authtype");
		bad |= proto_write(out, "authtype", "Bearer");
		bad |= proto_write(out, "credential", c->key->data);
		bad |= proto_write(out, "ephemeral", "1");
	}
	fclose(out);
	if (bad) {
		explicit_bzero(buf, len);
		free(buf);
		return ds_err_set(err, DS_EFAIL, "Refusing to write a value with a line break.");
	}
	return app_emit(buf, len, err);
}

int cmd_get(struct app *app, struct ds_err *err)
{
	struct request req;
	struct want w;
	struct credential c;
	int found = 0, rc;

	rc = read_request(app, &req, &w, err);
	/* an empty request asks for nothing (threats 10); "no criteria" means
	 * a request whose lines select nothing, e.g. only capability[] */
	if (!rc && req.lines > 0)
		rc = credential_obtain(app, &w, &c, &found, err);
	if (!rc && found) {
		cmd_note_lowered(app, &c);
		rc = emit_get(&req, &c, err);
	}
	if (found)
		credential_free(&c);
	request_free(&req);
	return rc;
}

/* The place of a store request: region or host, workspace, plan. */
static int store_place(const struct want *w, const struct request *req, struct place *pl,
		       int *plan_given, struct ds_err *err)
{
	memset(pl, 0, sizeof(*pl));
	pl->region = w->cr.region;
	if (!pl->region)
		return ds_err_set(err, DS_EINPUT,
				  "store needs region= or a DashScope host=; nothing was stored.");
	if (w->cr.workspace)
		ds_strcpy(pl->workspace, sizeof(pl->workspace), w->cr.workspace);
	*plan_given = w->cr.has_plan;
	pl->plan = w->cr.plan;
	(void)req;
	return DS_OK;
}

int cmd_store(struct app *app, struct ds_err *err)
{
	struct request req;
	struct want w;
	struct profile p;
	enum key_kind kind;
	int plan_given = 0, rc;

	rc = read_request(app, &req, &w, err);
	if (!rc)
		rc = app_refuse_broker_write(app, err);
	if (rc)
		goto out;
	/* git stores whatever get returned: a temporary key, which is never
	 * kept (18); and ephemeral=1 asks us to keep nothing */
	if (!req.password ||
	    (request_get(&req, ATTR_EPHEMERAL) && !strcmp(request_get(&req, ATTR_EPHEMERAL), "1")))
		goto out;
	if (w.cr.place_request && !w.cr.place_ok)
		goto out; /* a request for some other host is not for us */
	if (req.password->len >= 3 && !memcmp(req.password->data, "st-", 3))
		goto out;
	if (!w.cr.profile) {
		rc = ds_err_set(err, DS_EINPUT,
				"store needs profile= (or username=); nothing was stored.");
		goto out;
	}
	if (key_like_name(w.cr.profile)) {
		rc = ds_err_set(err, DS_EINPUT,
				"The profile name looks like a key (sk-/st-); nothing was stored.");
		goto out;
	}
	memset(&p, 0, sizeof(p));
	ds_strcpy(p.name, sizeof(p.name), w.cr.profile);
	rc = store_place(&w, &req, &p.place, &plan_given, err);
	if (!rc)
		rc = key_check(req.password->data, req.password->len, &p.place.plan, plan_given,
			       &kind, err);
	if (!rc && p.place.plan == PLAN_CODING && !p.place.region->coding_host)
		rc = ds_err_set(err, DS_EINPUT,
				"Region %s has no Coding Plan endpoint; nothing was stored.",
				p.place.region->id);
	if (!rc && p.place.plan == PLAN_PAYG && !p.place.workspace[0] &&
	    !p.place.region->shared_host)
		rc = ds_err_set(err, DS_EINPUT, "Region %s needs workspace=; nothing was stored.",
				p.place.region->id);
	if (!rc)
		rc = policy_check_region(&app->conf.policy, p.place.region, err);
	if (!rc)
		rc = app_store(app, err);
	if (!rc)
		rc = store_put(&app->store, &p, req.password, err);
out:
	request_free(&req);
	return rc;
}

static int erase_one(struct app *app, const struct profile *p, const struct secret *pw,
		     struct ds_err *err)
{
	struct secret *stored = NULL;
	int found;

	if (pw) {
		int rc;

		/* erase only the key that was reported as failing (git 2023) */
		rc = store_get_key(&app->store, p, &stored, err);
		if (rc)
			return rc;
		found = stored && secret_equal(stored, pw->data, pw->len);
		secret_free(stored);
		if (!found)
			return DS_OK;
	}
	return store_delete(&app->store, p->name, pw, &found, err);
}

int cmd_erase(struct app *app, struct ds_err *err)
{
	struct request req;
	struct want w;
	struct profile_list l;
	int rc;

	rc = read_request(app, &req, &w, err);
	if (!rc)
		rc = app_refuse_broker_write(app, err);
	if (rc)
		goto out;
	/* an empty pattern would erase everything (10) */
	if (!w.cr.profile && !w.cr.region && !w.cr.place_request) {
		rc = ds_err_set(err, DS_EINPUT,
				"erase needs profile=, region= or host=; nothing was erased.");
		goto out;
	}
	if (w.cr.place_request && !w.cr.place_ok)
		goto out;
	/* a place that selects no region (the configured endpoint's own host)
	 * would match every profile: it erases nothing unless one is named */
	if (!w.cr.profile && !w.cr.region)
		goto out;
	/* a temporary key is never stored, so it can never match (17) */
	if (req.password && req.password->len >= 3 && !memcmp(req.password->data, "st-", 3))
		goto out;
	rc = app_store(app, err);
	if (!rc)
		rc = store_list(&app->store, w.cr.profile, &l, 0, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < l.n && !rc; i++) {
		if (profile_matches(&l.items[i], &w.cr))
			rc = erase_one(app, &l.items[i], req.password, err);
	}
	profile_list_free(&l);
out:
	request_free(&req);
	return rc;
}

int cmd_capability(struct app *app, struct ds_err *err)
{
	(void)app;
	(void)err;
	fputs("version 0\ncapability authtype\n", stdout);
	return DS_OK;
}

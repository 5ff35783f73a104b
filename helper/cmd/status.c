/* SPDX-License-Identifier: MIT */
/* status: what the helper would do now and why, like `gh auth status`:
 * the profile and its source, the store and why, every profile, the
 * policy, the broker and proxy, and variables that would win over it. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "cmd/tools.h"
#include "store/broker_wire.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct status {
	struct ds_err conf_err; /* code 0: the configuration parses */
	int store_ok;
	struct ds_err store_err;
	struct profile_list l;
	int listed;
	struct profile chosen;
	int found;
	const char *source; /* why chosen */
	char problem[640]; /* why none is chosen */
	char default_missing[200];
	struct endpoints ep; /* the chosen profile's; ep_why says whose URLs */
	const char *ep_why;
	int broker, proxy;
	char proxy_holder[300]; /* another uid listening on the proxy's port */
	char broker_path[PATH_MAX];
	const struct winner *win[8];
	size_t nwin;
};

static void status_select(struct app *app, struct status *s)
{
	struct want w;
	struct ds_err e = { 0, "" };
	int rc;

	rc = want_from_options(app, &w, &e);
	if (!rc)
		rc = app_select(app, &w, &s->chosen, &s->found, &e);
	/* a default that names nothing is the first thing to fix */
	if (!w.cr.profile && app->conf.default_profile[0] && s->listed &&
	    !profile_list_find(&s->l, app->conf.default_profile))
		snprintf(s->default_missing, sizeof(s->default_missing),
			 "the default profile %s (from %s) is not stored",
			 app->conf.default_profile, tools_default_source(&app->conf, NULL));
	if (rc) {
		snprintf(s->problem, sizeof(s->problem), "%s",
			 s->default_missing[0] ? s->default_missing : e.msg);
		return;
	}
	if (!s->found) {
		if (w.cr.profile)
			snprintf(s->problem, sizeof(s->problem), "no stored profile is named %s",
				 w.cr.profile);
		else if (app->conf.default_profile[0])
			snprintf(s->problem, sizeof(s->problem),
				 "the default profile %s (from %s) is not stored",
				 app->conf.default_profile, tools_default_source(&app->conf, NULL));
		else if (s->listed && s->l.n == 0)
			snprintf(s->problem, sizeof(s->problem),
				 "no profile is stored; add one with 'dashscope-credential add --region REGION'");
		else if (s->listed && s->l.n > 1 && !w.cr.region && !w.cr.workspace &&
			 !w.cr.has_plan)
			snprintf(s->problem, sizeof(s->problem),
				 "%zu profiles and no default; choose one with -p or 'add --default'",
				 s->l.n);
		else
			snprintf(s->problem, sizeof(s->problem), "no stored profile matches");
		return;
	}
	if (place_endpoints(&s->chosen.place, app->conf.endpoint, &s->ep, &e) == DS_OK)
		s->ep_why = !app->conf.endpoint ? "the region's"
			    : getenv("DASHSCOPE_CREDENTIAL_ENDPOINT")
				    ? "overridden by DASHSCOPE_CREDENTIAL_ENDPOINT"
				    : "overridden by 'endpoint' in the configuration";
	if (w.cr.profile)
		s->source = "option";
	else if (app->conf.default_profile[0] && !strcmp(app->conf.default_profile, s->chosen.name))
		s->source = tools_default_source(&app->conf, NULL);
	else if (w.cr.region || w.cr.workspace || w.cr.has_plan)
		s->source = "match";
	else
		s->source = "only";
}

static void status_gather(struct app *app, struct status *s)
{
	memset(s, 0, sizeof(*s));
	/* status loads the configuration itself: one that does not parse is
	 * shown, and the rest still reported (exit 0, SPEC 13) */
	if (conf_load(&app->conf, &s->conf_err) == DS_OK)
		s->conf_err.code = 0;
	s->store_ok = app_store(app, &s->store_err) == DS_OK;
	if (s->store_ok && store_list(&app->store, NULL, &s->l, 1, &s->store_err) == DS_OK)
		s->listed = 1;
	if (s->store_ok)
		status_select(app, s);
	else
		snprintf(s->problem, sizeof(s->problem), "the store cannot be opened");
	broker_socket_path(s->broker_path, sizeof(s->broker_path));
	s->broker = tools_unix_answers(s->broker_path);
	s->proxy = tools_tcp_answers(TOOLS_PROXY_HOST, TOOLS_PROXY_PORT);
	if (!tools_proxy_port_holder(s->proxy_holder, sizeof(s->proxy_holder)))
		s->proxy_holder[0] = 0;
	s->nwin = tools_winners(s->win, sizeof(s->win) / sizeof(s->win[0]));
}

/* "a, b" of the regions (or stores) a policy mask allows. */
static void mask_regions(unsigned mask, char *out, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < region_count(); i++)
		if ((mask >> i) & 1u)
			snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? ", " : "",
				 region_at(i)->id);
}

static void mask_stores(unsigned mask, char *out, size_t n)
{
	out[0] = '\0';
	for (int k = STORE_SECRET_SERVICE; k <= STORE_BROKER; k++)
		if ((mask >> k) & 1u)
			snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? ", " : "",
				 store_kind_name((enum store_kind)k));
}

/* The machine word of status --json, and the words for people. */
static const char *source_json(const char *src)
{
	if (!strcmp(src, "user config"))
		return "user";
	if (!strcmp(src, "system config"))
		return "system";
	if (!strcmp(src, "DASHSCOPE_CREDENTIAL_PROFILE"))
		return "environment";
	return src;
}

static void source_words(const struct app *app, const char *src, char *out, size_t n)
{
	if (!strcmp(src, "user config"))
		snprintf(out, n, "the default in %s", app->conf.user_path);
	else if (!strcmp(src, "system config"))
		snprintf(out, n, "the default in %s", app->conf.system_path);
	else if (!strcmp(src, "DASHSCOPE_CREDENTIAL_PROFILE"))
		snprintf(out, n, "DASHSCOPE_CREDENTIAL_PROFILE");
	else if (!strcmp(src, "option"))
		snprintf(out, n, "--profile");
	else if (!strcmp(src, "match"))
		snprintf(out, n, "the only profile matching the options given");
	else
		snprintf(out, n, "the only profile stored");
}

static void print_policy(const struct policy *pol)
{
	const char *sep = "";
	char buf[256];

	fputs("Policy:   ", stdout);
	if (pol->allowed_regions) {
		mask_regions(pol->allowed_regions, buf, sizeof(buf));
		printf("%sallowed_regions = %s", sep, buf);
		sep = "; ";
	}
	if (pol->allowed_stores) {
		mask_stores(pol->allowed_stores, buf, sizeof(buf));
		printf("%sallowed_stores = %s", sep, buf);
		sep = "; ";
	}
	if (pol->max_lifetime) {
		printf("%smax_lifetime = %lu", sep, pol->max_lifetime);
		sep = "; ";
	}
	if (pol->allow_long_lived) {
		printf("%sallow_long_lived = yes", sep);
		sep = "; ";
	}
	if (pol->require_temporary) {
		printf("%srequire_temporary = yes", sep);
		sep = "; ";
	}
	puts(*sep ? "" : "none (no [policy] in the system configuration)");
}

static void status_text(const struct app *app, const struct status *s)
{
	if (s->conf_err.code)
		printf("Config:   does not parse: %s\n", s->conf_err.msg);
	else
		printf("Config:   %s, %s\n", app->conf.system_path, app->conf.user_path);
	if (s->found) {
		char why[PATH_MAX + 64];

		source_words(app, s->source, why, sizeof(why));
		printf("Profile:  %s (%s), chosen by %s%s%s\n", s->chosen.name,
		       s->chosen.place.region->id, why, s->default_missing[0] ? "; " : "",
		       s->default_missing);
	} else
		printf("Profile:  none: %s\n", s->problem);
	if (s->found && s->ep_why)
		printf("Endpoint: %s (%s)\n", s->ep.token_url[0] ? s->ep.token_url : s->ep.base_url,
		       s->ep_why);
	if (s->store_ok)
		printf("Store:    %s (%s)%s%s\n", store_kind_name(app->store.kind), app->store.why,
		       app->store.kind == STORE_FILE ? ", " : "",
		       app->store.kind == STORE_FILE ? app->store.path : "");
	else
		printf("Store:    unavailable: %s\n", s->store_err.msg);
	if (s->listed) {
		printf("Profiles: %zu\n", s->l.n);
		for (size_t i = 0; i < s->l.n; i++) {
			const struct profile *p = &s->l.items[i];
			const char *what, *from = store_profile_from(&app->store, p->name, &what);

			printf("  %c %-20s %-15s %-7s %-20s %s%s%s%s%s\n",
			       s->found && !strcmp(p->name, s->chosen.name) ? '*' : ' ', p->name,
			       p->place.region->id, plan_name(p->place.plan),
			       p->place.workspace[0] ? p->place.workspace : "-", p->key_tail,
			       what ? "  from " : "", what ? from : "", what ? " " : "",
			       what ? what : "");
		}
	}
	print_policy(&app->conf.policy);
	printf("Broker:   %s at %s\n", s->broker ? "answers" : "not running", s->broker_path);
	if (s->proxy_holder[0])
		printf("Proxy:    %s:%u is held by %s, not you: a tool configured for it hands that user its proxy key and prompts\n",
		       TOOLS_PROXY_HOST, TOOLS_PROXY_PORT, s->proxy_holder);
	else
		printf("Proxy:    %s at %s:%u\n", s->proxy ? "answers" : "not running",
		       TOOLS_PROXY_HOST, TOOLS_PROXY_PORT);
	if (!s->nwin)
		puts("Environment: no variable wins over the helper");
	for (size_t i = 0; i < s->nwin; i++) {
		const char *v = getenv(s->win[i]->name);
		long long at = tools_helper_set_expiry(v), left = at - (long long)time(NULL);

		if (at && left > 0)
			printf("Environment: %s holds a temporary key from 'env' or 'exec', valid for %lld s more.\n",
			       s->win[i]->name, left);
		else if (at)
			printf("Environment: %s holds a temporary key from 'env' or 'exec' that expired %lld s ago; tools still send it. Unset it, or use 'exec'.\n",
			       s->win[i]->name, -left);
		else
			printf("Environment: %s holds %s: %s; unset it.\n", s->win[i]->name,
			       tools_key_kind(v), s->win[i]->why);
	}
}

static json_t *mask_json(unsigned mask, int stores)
{
	json_t *a;

	if (!mask)
		return json_null();
	a = json_array();
	if (stores) {
		for (int k = STORE_SECRET_SERVICE; k <= STORE_BROKER; k++)
			if ((mask >> k) & 1u)
				json_array_append_new(a, json_string(store_kind_name(
								 (enum store_kind)k)));
	} else {
		for (size_t i = 0; i < region_count(); i++)
			if ((mask >> i) & 1u)
				json_array_append_new(a, json_string(region_at(i)->id));
	}
	return a;
}

static json_t *status_json(const struct app *app, const struct status *s)
{
	const struct policy *pol = &app->conf.policy;
	json_t *root = json_object(), *profiles = json_array(), *env = json_array(), *o;
	char proxy[64];

	json_object_set_new(root, "config",
			    json_pack("{s:s, s:s, s:s?}", "system", app->conf.system_path, "user",
				      app->conf.user_path, "error",
				      s->conf_err.code ? s->conf_err.msg : NULL));
	if (s->found)
		o = json_pack("{s:s, s:s, s:s, s:s?}", "name", s->chosen.name, "region",
			      s->chosen.place.region->id, "source", source_json(s->source),
			      "problem", s->default_missing[0] ? s->default_missing : NULL);
	else
		o = json_pack("{s:n, s:s}", "name", "problem", s->problem);
	json_object_set_new(root, "profile", o);
	json_object_set_new(root, "endpoint",
			    s->found && s->ep_why
				    ? json_pack("{s:s, s:s, s:s}", "token_url", s->ep.token_url,
						"base_url", s->ep.base_url, "why", s->ep_why)
				    : json_null());
	if (s->store_ok)
		o = json_pack("{s:s, s:s, s:s?}", "kind", store_kind_name(app->store.kind), "why",
			      app->store.why, "path",
			      app->store.kind == STORE_FILE ? app->store.path : NULL);
	else
		o = json_pack("{s:n, s:s}", "kind", "error", s->store_err.msg);
	json_object_set_new(root, "store", o);
	for (size_t i = 0; s->listed && i < s->l.n; i++) {
		const struct profile *p = &s->l.items[i];

		json_array_append_new(profiles, app_profile_json(app, p));
	}
	json_object_set_new(root, "profiles", profiles);
	o = json_pack("{s:o, s:o, s:o, s:b, s:b}", "allowed_regions",
		      mask_json(pol->allowed_regions, 0), "allowed_stores",
		      mask_json(pol->allowed_stores, 1), "max_lifetime",
		      pol->max_lifetime ? json_integer((json_int_t)pol->max_lifetime) : json_null(),
		      "allow_long_lived", pol->allow_long_lived, "require_temporary",
		      pol->require_temporary);
	json_object_set_new(root, "policy", o);
	json_object_set_new(root, "broker",
			    json_pack("{s:s, s:b}", "socket", s->broker_path, "answers",
				      s->broker));
	snprintf(proxy, sizeof(proxy), "%s:%u", TOOLS_PROXY_HOST, TOOLS_PROXY_PORT);
	json_object_set_new(root, "proxy",
			    json_pack("{s:s, s:b, s:s?}", "address", proxy, "answers", s->proxy,
				      "held_by", s->proxy_holder[0] ? s->proxy_holder : NULL));
	for (size_t i = 0; i < s->nwin; i++) {
		long long at = tools_helper_set_expiry(getenv(s->win[i]->name));

		json_array_append_new(env,
				      json_pack("{s:s, s:s, s:s, s:o}", "name", s->win[i]->name,
						"holds", tools_key_kind(getenv(s->win[i]->name)),
						"why", s->win[i]->why, "expires_at",
						at ? json_integer(at) : json_null()));
	}
	json_object_set_new(root, "environment", env);
	return root;
}

int cmd_status(struct app *app, struct ds_err *err)
{
	struct status s;
	int rc = DS_OK;

	status_gather(app, &s);
	if (app->o.json) {
		json_t *root = status_json(app, &s);
		char *out = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

		json_decref(root);
		if (!out)
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
		else
			puts(out);
		token_json_free(out);
	} else {
		status_text(app, &s);
	}
	if (s.listed)
		profile_list_free(&s.l);
	if (!rc && (fflush(stdout) != 0 || ferror(stdout)))
		rc = ds_err_set(err, DS_EFAIL, "Cannot write to standard output.");
	/* a script asks status whether anything would work (as gh auth status) */
	if (!rc && !s.found)
		rc = ds_err_set(err, DS_EFAIL, "No profile is usable: %s%s", s.problem,
				s.problem[0] && s.problem[strlen(s.problem) - 1] == '.' ? "" : ".");
	return rc;
}

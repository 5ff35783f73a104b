/* SPDX-License-Identifier: MIT */
/* Commands that explain: regions (the table) and doctor (what is wrong and
 * how to fix it). */
#include "config.h"
#include "app.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *region_json(const struct region *r)
{
	json_t *aliases = json_array();

	for (size_t a = 0; r->aliases[a]; a++)
		json_array_append_new(aliases, json_string(r->aliases[a]));
	return json_pack("{s:s, s:o, s:s?, s:s?}", "id", r->id, "aliases", aliases, "shared_host",
			 r->shared_host, "coding_host", r->coding_host);
}

int cmd_regions(struct app *app, struct ds_err *err)
{
	if (app->o.json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < region_count(); i++) {
			const struct region *r = region_at(i);
			json_t *o = region_json(r);
			char ws[128];

			region_workspace_pattern(r, ws, sizeof(ws));
			json_object_set_new(o, "workspace_host", json_string(ws));
			json_array_append_new(arr, o);
		}
		return app_print_json(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER, err);
	}
	printf("%-15s %-34s %-36s %-40s %s\n", "REGION", "ALIASES", "SHARED HOST", "WORKSPACE HOST",
	       "CODING PLAN HOST");
	for (size_t i = 0; i < region_count(); i++) {
		const struct region *r = region_at(i);
		char aliases[128] = "", ws[128];

		for (size_t a = 0; r->aliases[a]; a++)
			snprintf(aliases + strlen(aliases), sizeof(aliases) - strlen(aliases),
				 "%s%s", a ? "," : "", r->aliases[a]);
		region_workspace_pattern(r, ws, sizeof(ws));
		printf("%-15s %-34s %-36s %-40s %s\n", r->id, aliases,
		       r->shared_host ? r->shared_host : "(workspace id required)", ws,
		       r->coding_host ? r->coding_host : "-");
	}
	return DS_OK;
}

struct doctor {
	int problems;
};

static void say(struct doctor *d, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct doctor *d, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "[ok]  " : "[FAIL]");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		d->problems++;
}

static void doctor_file_modes(struct doctor *d, const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0) {
		say(d, 1, "key file %s does not exist yet", path);
		return;
	}
	say(d, S_ISREG(sb.st_mode) && sb.st_uid == geteuid() && !(sb.st_mode & 077),
	    "key file %s is a regular file of yours with mode 0600", path);
}

static void doctor_profile(struct app *app, struct doctor *d, const struct profile *p)
{
	struct endpoints ep;
	struct ds_err e;
	char line[900];

	if (place_endpoints(&p->place, app->conf.endpoint, &ep, &e)) {
		say(d, 0, "profile %s: %s", p->name, e.msg);
		return;
	}
	snprintf(line, sizeof(line), "%s/%s %s, key %s, base_url %s", p->place.region->id,
		 p->place.workspace[0] ? p->place.workspace : "-", plan_name(p->place.plan),
		 p->key_tail, ep.base_url);
	say(d, policy_allows_region(&app->conf.policy, p->place.region), "profile %s: %s", p->name,
	    line);
	if (app->o.online && p->place.plan == PLAN_PAYG) {
		struct want w;
		struct credential c;
		int found, rc;

		memset(&w, 0, sizeof(w));
		w.cr.profile = p->name;
		w.lifetime_given = 1;
		w.lifetime = 1;
		rc = credential_obtain(app, &w, &c, &found, &e);
		if (rc == DS_OK && found)
			credential_free(&c);
		say(d, rc == DS_OK, "profile %s: minting a temporary key %s", p->name,
		    rc == DS_OK ? "works" : e.msg);
	}
}

int cmd_doctor(struct app *app, struct ds_err *err)
{
	struct doctor d = { 0 };
	struct profile_list l;
	struct ds_err e;

	/* doctor loads the configuration itself, so that a file that does not
	 * parse is a finding, not the end of the run */
	if (conf_load(&app->conf, &e) != DS_OK) {
		say(&d, 0, "configuration: %s", e.msg);
		return ds_err_set(err, DS_EFAIL,
				  "doctor found a problem: the configuration does not parse.");
	}
	say(&d, 1, "configuration parses (system %s, user %s)", app->conf.system_path,
	    app->conf.user_path);
	if (app->conf.user_policy_ignored)
		say(&d, 0,
		    "the user file %s has [policy] or [pam], which only the system file may set",
		    app->conf.user_path);
	if (app_store(app, &e) != DS_OK) {
		say(&d, 0, "store: %s", e.msg);
	} else {
		say(&d, 1, "store %s in use: %s", store_kind_name(app->store.kind), app->store.why);
		if (app->store.kind == STORE_FILE)
			doctor_file_modes(&d, app->store.path);
		if (store_list(&app->store, NULL, &l, 1, &e) != DS_OK) {
			say(&d, 0, "listing profiles: %s", e.msg);
		} else {
			if (l.n == 0)
				say(&d, 0,
				    "no profiles stored: add one with 'dashscope-credential add --region REGION'");
			for (size_t i = 0; i < l.n; i++)
				doctor_profile(app, &d, &l.items[i]);
			profile_list_free(&l);
		}
	}
	if (d.problems)
		return ds_err_set(err, DS_EFAIL, "doctor found %d problem%s.", d.problems,
				  d.problems == 1 ? "" : "s");
	return DS_OK;
}

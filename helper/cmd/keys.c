/* SPDX-License-Identifier: MIT */
/* Commands for people that manage stored keys: add, list, remove. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "conf/policy.h"
#include "broker/broker.h"
#include "broker/system_sealed.h"
#include "core/key.h"
#include "conf/place.h"
#include "conf/names.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_verify(struct app *app, const struct profile *p, const struct secret *key,
		      struct ds_err *err)
{
	struct endpoints ep;
	struct token_request tr;
	struct minted m;
	int rc;

	if (p->place.plan == PLAN_CODING)
		return ds_err_set(err, DS_EINPUT,
				  "--verify cannot check a Coding Plan key: no temporary keys exist for it. Add it without --verify.");
	rc = place_endpoints(&p->place, app->conf.endpoint, &ep, err);
	if (rc)
		return rc;
	tr.token_url = ep.token_url;
	tr.ca_file = app->conf.ca_file;
	tr.timeout = app->conf.timeout;
	tr.lifetime = 1; /* a temporary key cannot be revoked: make it die at once */
	tr.key = key;
	rc = token_mint(&tr, &m, err);
	if (rc == DS_EAUTH) {
		/* the message is rebuilt from a copy: formatting a buffer into
		 * itself is undefined (found by check-valgrind) */
		char why[sizeof(err->msg)];

		memcpy(why, err->msg, sizeof(why));
		return ds_err_set(err, DS_EAUTH, "The key was not stored: %s", why);
	}
	if (rc)
		return rc;
	secret_free(m.token);
	return DS_OK;
}

/* Everything the command line says is checked before the key is asked
 * for: a typo must not cost the user a second paste. */
static int add_check_options(struct app *app, struct want *w, struct ds_err *err)
{
	struct place pl;
	struct endpoints ep;
	int rc;

	rc = want_from_options(app, w, err);
	if (rc || !w->cr.region)
		return rc;
	rc = policy_check_region(&app->conf.policy, w->cr.region, err);
	if (rc)
		return rc;
	memset(&pl, 0, sizeof(pl));
	pl.region = w->cr.region;
	pl.plan = w->cr.has_plan ? w->cr.plan : PLAN_PAYG;
	if (w->cr.workspace)
		ds_strcpy(pl.workspace, sizeof(pl.workspace), w->cr.workspace);
	return place_endpoints(&pl, NULL, &ep, err);
}

/* At a terminal without --region: a numbered menu, as `gh auth login`
 * asks for the host, read before the key. */
static int add_region_menu(struct app *app, struct want *w, struct ds_err *err)
{
	char line[64];

	fputs("Which region is this key for? (keys work only in their own region)\n", stderr);
	for (size_t i = 0; i < region_count(); i++) {
		const struct region *r = region_at(i);

		if (policy_check_region(&app->conf.policy, r, NULL) == DS_OK)
			fprintf(stderr, "  %zu) %-15s %s%s\n", i + 1, r->id, r->aliases[0],
				r->shared_host || w->cr.workspace ? "" : " (needs --workspace)");
	}
	for (int tries = 0; tries < 3; tries++) {
		unsigned long n;
		size_t len;

		fprintf(stderr, "Region [1-%zu or a name]: ", region_count());
		if (!fgets(line, sizeof(line), stdin))
			break;
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (!ds_parse_ulong(line, region_count(), &n) && n >= 1)
			w->cr.region = region_at(n - 1);
		else if (len)
			w->cr.region = region_find(line);
		if (w->cr.region &&
		    policy_check_region(&app->conf.policy, w->cr.region, NULL) == DS_OK &&
		    (w->cr.region->shared_host || w->cr.workspace))
			return DS_OK;
		w->cr.region = NULL;
	}
	return ds_err_set(err, DS_EINPUT,
			  "No region was chosen; give it with --region (e.g. --region singapore).");
}

static int add_place(struct app *app, const struct want *w, const struct secret *key,
		     struct profile *p, struct ds_err *err)
{
	enum key_kind kind;
	int rc;

	p->place.plan = w->cr.plan;
	rc = key_check(key->data, key->len, &p->place.plan, w->cr.has_plan, &kind, err);
	if (rc)
		return rc;
	if (kind == KEY_TEMPORARY)
		return ds_err_set(err, DS_EINPUT,
				  "This is a temporary key (st-...); store the long-lived sk- key it came from.");
	p->place.region = w->cr.region;
	if (!p->place.region) {
		if (p->place.plan != PLAN_CODING)
			return ds_err_set(err, DS_EINPUT,
					  "Give the key's region with --region (e.g. --region singapore); keys work only in their own region.");
		/* documented: Coding Plan keys default to the Beijing site */
		p->place.region = region_find("cn-beijing");
		fputs("dashscope-credential: note: no --region given; using cn-beijing (coding.dashscope.aliyuncs.com). Use --region singapore for the international Coding Plan.\n",
		      stderr);
	}
	if (w->cr.workspace)
		ds_strcpy(p->place.workspace, sizeof(p->place.workspace), w->cr.workspace);
	rc = policy_check_region(&app->conf.policy, p->place.region, err);
	if (rc)
		return rc;
	{
		struct endpoints ep;

		return place_endpoints(&p->place, NULL, &ep, err);
	}
}

/* What systemd was told: reloaded, not running, or why not. */
static void sealed_report_reload(const struct sealed_report *rep)
{
	if (rep->reloaded == 1)
		fputs("Reloaded systemd (systemctl daemon-reload) and restarted the broker if it was running (try-restart).\n",
		      stderr);
	else if (rep->reloaded == 0)
		fputs("systemd is not running here: no daemon-reload was done; restart the broker yourself.\n",
		      stderr);
	else if (rep->reloaded == -1)
		fputs("The files are under DASHSCOPE_CREDENTIAL_SYSTEMD_ROOT: no daemon-reload was done.\n",
		      stderr);
	else
		fprintf(stderr,
			"dashscope-credential: warning: %s; run 'systemctl daemon-reload' and 'systemctl try-restart " SEALED_SERVICE
			"' yourself.\n",
			rep->reload_why);
}

/* add --system --sealed: the key sealed for the broker's service. */
static int add_sealed(struct app *app, const struct profile *p, const struct secret *key,
		      struct ds_err *err)
{
	struct sealed_report rep;
	int rc = system_sealed_add(&app->conf, p, key, &rep, err);

	if (rc)
		return rc;
	fprintf(stderr,
		"Sealed the key of profile %s (%s) with systemd-creds (--with-key=%s) into %s; the drop-in %s loads it into the broker's service as the credential %s, and %s names it (key_credential).\n",
		p->name, p->place.region->id, rep.with_key, rep.sealed, rep.dropin, rep.cred,
		rep.config);
	if (rep.had_plain)
		fprintf(stderr,
			"Removed the plain copy of profile %s's key from the broker's key file %s: the sealed key is its only key now.\n",
			p->name, rep.plain);
	sealed_report_reload(&rep);
	return DS_OK;
}

/* What a profile of this name holds now, so add can say what it replaced. */
static int add_previous(struct app *app, const char *name, struct profile *old, int *had)
{
	struct profile_list l;
	struct ds_err e;

	*had = 0;
	if (store_list(&app->store, name, &l, 1, &e) != DS_OK)
		return 0;
	if (l.n == 1) {
		*old = l.items[0];
		*had = 1;
	}
	profile_list_free(&l);
	return 0;
}

static void add_report(const struct app *app, const struct profile *p, const struct profile *old,
		       int had)
{
	if (had)
		fprintf(stderr, "Replaced profile %s (was %s%s%s, %s, key %s).\n", p->name,
			old->place.region->id, old->place.workspace[0] ? "/" : "",
			old->place.workspace, plan_name(old->place.plan), old->key_tail);
	if (app->o.system)
		fprintf(stderr,
			"Stored profile %s (%s) in the broker's key file %s; only the user " BROKER_USER
			" can read it.\n",
			p->name, p->place.region->id, app->store.path);
	else if (app->store.kind == STORE_FILE)
		fprintf(stderr,
			"Stored profile %s (%s) in %s; it is protected by file permissions only.\n",
			p->name, p->place.region->id, app->store.path);
	else
		fprintf(stderr, "Stored profile %s (%s) in the Secret Service.\n", p->name,
			p->place.region->id);
}

int cmd_add(struct app *app, struct ds_err *err)
{
	struct profile p, old;
	struct secret *key = NULL;
	struct want w;
	const char *name = app->o.nrest > 0 ? app->o.rest[0] : app->o.profile;
	int had = 0, lock = -1, rc;

	if (app->o.access_key)
		return cmd_add_access_key(app, err);
	if (!name)
		name = "default";
	if (!profile_name_valid(name))
		return ds_err_set(err, DS_EINPUT,
				  "A profile name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'.");
	if (key_like_name(name))
		return ds_err_set(err, DS_EINPUT,
				  "The profile name looks like a key (sk-/st-); names are shown in clear, so give a plain name such as 'work'.");
	if (app->o.system && app->o.make_default)
		return ds_err_set(err, DS_EINPUT,
				  "--default does not apply to --system; set 'profile =' in [defaults] of the system config.");
	if (app->o.sealed && !app->o.system)
		return ds_err_set(err, DS_EINPUT,
				  "--sealed seals a key for the broker's service: give it with --system.");
	if (app->o.system && geteuid() != 0)
		return ds_err_set(err, DS_EPOLICY,
				  "--system changes the broker's keys and needs root (sudo).");
	if (!app->o.system && (rc = app_refuse_broker_write(app, err)))
		return rc;
	/* -p NAME names the profile here; it selects nothing */
	if (app->o.nrest == 0)
		app->o.profile = NULL;
	rc = add_check_options(app, &w, err);
	/* a plain key beside a sealed one is refused before the key is asked
	 * for (and again, under the lock, before it is stored) */
	if (!rc && app->o.system && !app->o.sealed)
		rc = system_sealed_refuse_plain(&app->conf, name, NULL, err);
	if (!rc && !w.cr.region && !(w.cr.has_plan && w.cr.plan == PLAN_CODING) &&
	    isatty(STDIN_FILENO))
		rc = add_region_menu(app, &w, err);
	if (rc)
		return rc;
	memset(&p, 0, sizeof(p));
	ds_strcpy(p.name, sizeof(p.name), name);
	rc = tty_read_key("Model Studio API key (input hidden): ", &key, err);
	if (!rc)
		rc = add_place(app, &w, key, &p, err);
	if (!rc && app->o.verify)
		rc = add_verify(app, &p, key, err);
	if (!rc && app->o.sealed) {
		rc = add_sealed(app, &p, key, err);
		secret_free(key);
		return rc;
	}
	/* the lock outlives the switch to the service user, and is let go
	 * once the key and its id are stored: learning the id stores the key
	 * again, which must not bring back a plain key a sealing add took
	 * out meanwhile */
	if (!rc && app->o.system)
		rc = system_sealed_refuse_plain(&app->conf, p.name, &lock, err);
	if (!rc)
		rc = app->o.system ? system_keys_open(app, err) : app_store(app, err);
	if (!rc) {
		add_previous(app, p.name, &old, &had);
		rc = store_put(&app->store, &p, key, err);
	}
	if (!rc) {
		add_report(app, &p, &old, had);
		add_learn_key_id(app, &p, key);
	}
	system_sealed_unlock(lock);
	secret_free(key);
	if (rc)
		return rc;
	if (app->o.make_default) {
		rc = conf_set_default_profile(&app->conf, p.name, err);
		if (!rc)
			fprintf(stderr, "Profile %s is now the default (%s).\n", p.name,
				app->conf.user_path);
	}
	return rc;
}

static const char *default_name(const struct app *app, const struct profile_list *l)
{
	if (app->conf.default_profile[0])
		return app->conf.default_profile;
	return l->n == 1 ? l->items[0].name : "";
}

static int list_json(const struct app *app, const struct profile_list *l, struct ds_err *err)
{
	json_t *arr = json_array();
	const char *def = default_name(app, l);

	for (size_t i = 0; i < l->n; i++) {
		const struct profile *p = &l->items[i];

		json_t *o = app_profile_json(app, p);

		json_object_set_new(o, "default", json_boolean(!strcmp(def, p->name)));
		json_array_append_new(arr, o);
	}
	return app_print_json(arr, JSON_INDENT(2), err);
}

int cmd_list(struct app *app, struct ds_err *err)
{
	struct profile_list l;
	const char *def;
	int rc;

	rc = app->o.system ? system_keys_open(app, err) : app_store(app, err);
	if (!rc)
		rc = store_list(&app->store, NULL, &l, 1, err);
	if (rc)
		return rc;
	if (app->o.json) {
		rc = list_json(app, &l, err);
		profile_list_free(&l);
		return rc;
	}
	def = default_name(app, &l);
	if (l.n == 0)
		fputs("No profiles stored; add one with 'dashscope-credential add --region REGION'.\n",
		      stderr);
	else
		printf("  %-20s %-15s %-20s %-7s %-15s %s\n", "PROFILE", "REGION", "WORKSPACE",
		       "PLAN", "STORE", "KEY");
	for (size_t i = 0; i < l.n; i++) {
		const struct profile *p = &l.items[i];

		const char *what, *from = store_profile_from(&app->store, p->name, &what);

		printf("%c %-20s %-15s %-20s %-7s %-15s %s%s%s\n", strcmp(def, p->name) ? ' ' : '*',
		       p->name, p->place.region->id,
		       p->place.workspace[0] ? p->place.workspace : "-", plan_name(p->place.plan),
		       from, p->key_tail[0] ? p->key_tail : "-", what ? "  " : "",
		       what ? what : "");
	}
	profile_list_free(&l);
	return DS_OK;
}

/* remove --system of a sealed profile: *found 0 when it is not one. */
static int remove_sealed(struct app *app, const char *name, int *found, struct ds_err *err)
{
	struct sealed_report rep;
	int rc = system_sealed_remove(&app->conf, name, found, &rep, err);

	if (rc || !*found)
		return rc;
	fprintf(stderr, "Removed the sealed key of profile %s:", name);
	if (rep.had_config)
		fprintf(stderr, " its entry in %s;", rep.config);
	if (rep.had_dropin)
		fprintf(stderr, " the drop-in %s;", rep.dropin);
	if (rep.had_sealed)
		fprintf(stderr, " the sealed file %s;", rep.sealed);
	if (rep.removed_dir)
		fprintf(stderr, " the directory %s, empty now;", rep.dropin_dir);
	if (rep.had_plain)
		fprintf(stderr, " the plain copy of the key in %s;", rep.plain);
	if (rep.had_access_key)
		fprintf(stderr, " its AccessKey in %s;", rep.plain);
	fputs(" done.\n", stderr);
	sealed_report_reload(&rep);
	return DS_OK;
}

int cmd_remove(struct app *app, struct ds_err *err)
{
	/* main allows at most one argument; -p NAME serves as well */
	const char *name = app->o.nrest == 1 ? app->o.rest[0] : app->o.profile;
	int found, rc;

	if (!name)
		return ds_err_set(err, DS_EINPUT, "Usage: dashscope-credential remove PROFILE");
	if (!profile_name_valid(name))
		return ds_err_set(err, DS_EINPUT, "'%.70s' is not a valid profile name.",
				  ds_has_control(name) ? "?" : name);
	/* a sealed key first: its files are root's, the key file the
	 * service user's (system_keys_open gives up root for good) */
	if (app->o.system) {
		rc = remove_sealed(app, name, &found, err);
		if (rc || found)
			return rc;
	}
	rc = app->o.system ? system_keys_open(app, err) : app_refuse_broker_write(app, err);
	if (!rc && !app->o.system)
		rc = app_store(app, err);
	if (!rc)
		rc = store_delete(&app->store, name, NULL, &found, err);
	/* the AccessKey kept for rotate goes with its profile */
	if (!rc && found && !store_source_of(&app->store, name))
		rc = store_delete_access_key(&app->store, name, err);
	if (rc)
		return rc;
	if (!found)
		return ds_err_set(err, DS_EFAIL, "No stored profile is named %s.", name);
	fprintf(stderr, "Removed profile %s.\n", name);
	return DS_OK;
}

/* SPDX-License-Identifier: MIT */
/* env: the variables of SPEC section 5 for a shell, a dotenv file, JSON or
 * the PAM module; the same variables for exec and for the proxy's CMD. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "conf/policy.h"
#include "conf/envvars.h"
#include "base/shell_quote.h"
#include "conf/place.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int env_parse_for(const char *list, unsigned *mask, struct ds_err *err)
{
	if (!list)
		list = "dashscope,openai";
	if (envvar_families_parse(list, mask))
		return ds_err_set(err, DS_EINPUT,
				  "--for takes a list of dashscope, openai and anthropic.");
	return DS_OK;
}

static void add(struct varset *vs, const char *name, const char *value, int is_key)
{
	if (!value || !*value || vs->n == MAX_VARS)
		return;
	vs->v[vs->n].name = name;
	vs->v[vs->n].value = value;
	vs->v[vs->n].is_key = is_key;
	vs->n++;
}

/* A shell that ran `eval "$(env)"` must follow a later `add --default`:
 * the profile is pinned there only when -p chose it (SPEC 13). The PAM
 * form keeps it: a login's rule chose that profile. */
static void env_unpin_profile(const struct app *app, enum shell_kind kind, struct varset *vs)
{
	size_t k = 0;

	if (app->o.profile || kind == SHELL_PAM)
		return;
	for (size_t i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].name, "DASHSCOPE_CREDENTIAL_PROFILE"))
			vs->v[k++] = vs->v[i];
	vs->n = k;
}

/* The variables of SPEC section 5, from the table in envvars.c; key is
 * NULL for --no-key. */
void env_build_vars(struct varset *vs, unsigned mask, const struct profile *p,
		    const struct endpoints *ep, const char *model, const char *key,
		    long long expires_at)
{
	size_t n;
	const struct envvar *t = envvar_table(&n);

	memset(vs, 0, sizeof(*vs));
	if (expires_at)
		snprintf(vs->expires, sizeof(vs->expires), "%lld", expires_at);
	for (size_t i = 0; i < n; i++) {
		const char *v = NULL;

		if (!(t[i].family & (mask | ENVVAR_ALWAYS)))
			continue;
		switch (t[i].value) {
		case EV_KEY:
			v = key;
			break;
		case EV_NATIVE_BASE_URL:
			v = ep->native_base_url;
			break;
		case EV_BASE_URL:
			v = ep->base_url;
			break;
		case EV_ANTHROPIC_BASE_URL:
			v = ep->anthropic_base_url;
			break;
		case EV_REGION:
			v = p->place.region->id;
			break;
		case EV_MODEL:
			v = model;
			break;
		case EV_PROFILE:
			v = p->name;
			break;
		case EV_EXPIRES_AT:
			v = vs->expires;
			break;
		case EV_NONE:
			break;
		}
		add(vs, t[i].name, v, t[i].is_key);
	}
}

static int render_json(FILE *out, const struct varset *vs, const struct profile *p,
		       long long expires_at, struct ds_err *err)
{
	json_t *env = json_object(), *root;
	char when[32] = "";
	char *s;

	if (!env)
		return -1;
	/* a value JSON cannot carry (not UTF-8) is refused, never left out */
	for (size_t i = 0; i < vs->n; i++) {
		if (json_object_set_new(env, vs->v[i].name, json_string(vs->v[i].value)) != 0) {
			json_decref(env);
			ds_err_set(err, DS_EINPUT,
				   "The value of %s is not valid UTF-8, which JSON cannot carry; nothing was printed.",
				   vs->v[i].name);
			return -1;
		}
	}
	if (expires_at) {
		time_t t = (time_t)expires_at;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	root = json_pack("{s:i, s:s, s:s, s:o}", "version", 1, "profile", p->name, "region",
			 p->place.region->id, "env", env);
	if (!root)
		return -1;
	if (when[0])
		json_object_set_new(root, "expires_at", json_string(when));
	else
		json_object_set_new(root, "expires_at", json_null());
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return -1;
	fputs(s, out);
	fputc('\n', out);
	token_json_free(s);
	return 0;
}

static int render(enum shell_kind kind, const struct varset *vs, const struct profile *p,
		  long long expires_at, struct ds_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int bad = 0;

	if (!out)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (kind == SHELL_JSON) {
		bad = render_json(out, vs, p, expires_at, err);
	} else {
		for (size_t i = 0; i < vs->n && !bad; i++) {
			bad = shell_assign(out, kind, vs->v[i].name, vs->v[i].value);
			if (bad)
				ds_err_set(err, DS_EINPUT,
					   "The value of %s cannot be quoted safely for this shell (line break, control character or quote); nothing was printed.",
					   vs->v[i].name);
		}
	}
	fclose(out);
	if (bad) {
		explicit_bzero(buf, len);
		free(buf);
		return err && err->code ? err->code : ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	return app_emit(buf, len, err);
}

const char *env_model_of(const struct profile_conf *pc)
{
	return pc ? pc->model : NULL;
}

/* --no-key: only the place is needed, so a locked keyring or a user who
 * has not added a key yet still gets the region's URLs. */
static int place_without_key(struct app *app, const struct want *w, struct profile *p,
			     const struct profile_conf **pc, struct ds_err *err)
{
	struct ds_err why = { 0, "" };
	int found = 0, selected;
	const char *name = w->cr.profile ? w->cr.profile : app->conf.default_profile;
	const struct profile_conf *named = *name ? conf_profile(&app->conf, name) : NULL;

	memset(p, 0, sizeof(*p));
	*pc = NULL;
	selected = app_select(app, w, p, &found, &why);
	if (selected == DS_OK && found) {
		*pc = conf_profile(&app->conf, p->name);
		return DS_OK;
	}
	/* the profile's own [profile] metadata, unless the caller's region
	 * says otherwise; a default profile of another region is not named */
	if (named && named->region && (!w->cr.region || w->cr.region == named->region)) {
		*pc = named;
		ds_strcpy(p->name, sizeof(p->name), name);
		p->place.region = named->region;
		ds_strcpy(p->place.workspace, sizeof(p->place.workspace), named->workspace);
		p->place.plan = named->has_plan ? named->plan : PLAN_PAYG;
	} else if (w->cr.region) {
		if (w->cr.profile) {
			*pc = named;
			ds_strcpy(p->name, sizeof(p->name), w->cr.profile);
		}
		p->place.region = w->cr.region;
		p->place.plan = PLAN_PAYG;
	} else if (selected != DS_OK && store_kind_read_only(app->conf.store)) {
		/* the broker's own reason (refused, not running): no key of
		 * the user's would help */
		*err = why;
		return selected;
	} else {
		return app_no_profile(w, err);
	}
	if (w->cr.workspace)
		ds_strcpy(p->place.workspace, sizeof(p->place.workspace), w->cr.workspace);
	if (w->cr.has_plan)
		p->place.plan = w->cr.plan;
	return DS_OK;
}

static int env_no_key(struct app *app, enum shell_kind kind, unsigned mask, struct ds_err *err)
{
	struct want w;
	struct profile p;
	const struct profile_conf *pc;
	struct endpoints ep;
	struct varset vs;
	int rc;

	rc = want_from_options(app, &w, err);
	if (!rc)
		rc = place_without_key(app, &w, &p, &pc, err);
	if (!rc)
		rc = policy_check_region(&app->conf.policy, p.place.region, err);
	if (!rc)
		rc = place_endpoints(&p.place, app->conf.endpoint, &ep, err);
	if (rc)
		return rc;
	env_build_vars(&vs, mask, &p, &ep, env_model_of(pc), NULL, 0);
	env_unpin_profile(app, kind, &vs);
	return render(kind, &vs, &p, 0, err);
}

/* The syntax of the user's login shell, as ssh-agent chooses it: a fish
 * or tcsh user who forgets --shell must not get sh syntax (their shell
 * would print the failed line, key and all). */
static enum shell_kind shell_from_env(void)
{
	const char *sh = getenv("SHELL");
	const char *base = sh ? strrchr(sh, '/') : NULL;

	base = base ? base + 1 : sh;
	if (!base)
		return SHELL_SH;
	if (!strcmp(base, "fish"))
		return SHELL_FISH;
	if (!strcmp(base, "csh") || !strcmp(base, "tcsh"))
		return SHELL_CSH;
	return SHELL_SH;
}

/* At a terminal, say when the key dies: eval'd keys fail silently later. */
void env_note_expiry(const struct credential *c, const char *what)
{
	time_t t = (time_t)c->expires_at;
	long long left = c->expires_at - (long long)time(NULL);
	struct tm tm;
	char when[16];

	if (!c->expires_at || !isatty(STDERR_FILENO) || !localtime_r(&t, &tm))
		return;
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr,
		"dashscope-credential: %s expires in %lld s (at %s); for longer sessions use 'exec' (fresh key per run) or 'proxy'.\n",
		what, left > 0 ? left : 0, when);
}

int cmd_env(struct app *app, struct ds_err *err)
{
	enum shell_kind kind = shell_from_env();
	struct credential c;
	struct varset vs;
	unsigned mask;
	int rc;

	if (app->o.shell && shell_parse(app->o.shell, &kind))
		return ds_err_set(err, DS_EINPUT,
				  "--shell takes sh, fish, csh, dotenv, json or pam.");
	rc = env_parse_for(app->o.for_list, &mask, err);
	if (rc)
		return rc;
	if (app->o.no_key)
		return env_no_key(app, kind, mask, err);
	rc = cmd_obtain(app, &c, err);
	if (rc)
		return rc;
	env_build_vars(&vs, mask, &c.profile, &c.ep, env_model_of(c.pconf), c.key->data,
		       c.expires_at);
	env_unpin_profile(app, kind, &vs);
	rc = render(kind, &vs, &c.profile, c.expires_at, err);
	if (!rc)
		env_note_expiry(&c, "this key");
	credential_free(&c);
	return rc;
}

int env_for_proxy(const char *for_list, const struct profile *p, const char *model,
		  const char *origin, const char *key, int kind, int set_env, struct ds_err *err)
{
	struct endpoints ep;
	struct varset vs;
	unsigned mask;
	int rc;

	rc = env_parse_for(for_list ? for_list : "dashscope,openai,anthropic", &mask, err);
	if (!rc)
		rc = place_endpoints(&p->place, origin, &ep, err);
	if (rc)
		return rc;
	env_build_vars(&vs, mask, p, &ep, model, key, 0);
	if (!set_env)
		return render((enum shell_kind)kind, &vs, p, 0, err);
	return env_set_vars(&vs, mask, err);
}

/* Every variable of the chosen families goes before ours are set: a stale
 * OPENAI_MODEL or another region's DASHSCOPE_HTTP_BASE_URL must not
 * survive, and a stale ANTHROPIC_API_KEY would win over the fresh key. */
static void env_clear_families(unsigned mask)
{
	size_t n;
	const struct envvar *t = envvar_table(&n);

	for (size_t i = 0; i < n; i++)
		if (t[i].family & (mask | ENVVAR_ALWAYS))
			unsetenv(t[i].name);
}

int env_set_vars(const struct varset *vs, unsigned mask, struct ds_err *err)
{
	env_clear_families(mask);
	for (size_t i = 0; i < vs->n; i++)
		if (setenv(vs->v[i].name, vs->v[i].value, 1) != 0)
			return ds_err_set(err, DS_EFAIL, "Cannot set %s.", vs->v[i].name);
	return DS_OK;
}

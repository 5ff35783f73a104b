/* SPDX-License-Identifier: MIT */
/* doctor: every check on one line, [ok], [warn] or [FAIL], each problem
 * with its fix (SPEC sections 5 and 13); --json gives the same checks. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "conf/pam_rules.h"
#include "conf/policy.h"
#include "base/files.h"
#include "cmd/tools.h"
#include "conf/place.h"
#include "proxy/proxy_keys.h"
#include "cmd/toml_edit.h"
#include "broker/system_sealed.h"

#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum level { LEVEL_OK, LEVEL_WARN, LEVEL_FAIL };

struct doctor {
	int json;
	json_t *checks; /* --json */
	int problems, warnings;
};

static void say(struct doctor *d, enum level lv, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void say(struct doctor *d, enum level lv, const char *fix, const char *fmt, ...)
{
	static const char *const tags[] = { "[ok]  ", "[warn]", "[FAIL]" };
	static const char *const words[] = { "ok", "warn", "fail" };
	char msg[PATH_MAX + 1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ds_sanitize(msg);
	/* a sentence passed on ends in '.': not before "; fix:" */
	if (fix && msg[0] && msg[strlen(msg) - 1] == '.')
		msg[strlen(msg) - 1] = '\0';
	if (d->json)
		json_array_append_new(d->checks, json_pack("{s:s, s:s, s:s?}", "status", words[lv],
							   "message", msg, "fix", fix));
	else if (fix)
		printf("%s %s; fix: %s\n", tags[lv], msg, fix);
	else
		printf("%s %s\n", tags[lv], msg);
	if (lv == LEVEL_FAIL)
		d->problems++;
	else if (lv == LEVEL_WARN)
		d->warnings++;
}

static void doctor_file_modes(struct doctor *d, const char *path)
{
	struct stat sb;
	char fix[PATH_MAX + 64];

	if (lstat(path, &sb) != 0) {
		say(d, LEVEL_OK, NULL, "key file %s does not exist yet", path);
		return;
	}
	snprintf(fix, sizeof(fix), "chmod 600 %s (and consider the keys in it leaked)", path);
	if (S_ISREG(sb.st_mode) && sb.st_uid == geteuid() && !(sb.st_mode & 077))
		say(d, LEVEL_OK, NULL, "key file %s is a regular file of yours with mode 0600",
		    path);
	else
		say(d, LEVEL_FAIL, fix, "key file %s is not a regular file of yours with mode 0600",
		    path);
}

/* A key source (SPEC section 15): its file readable, its key well-formed. */
static void doctor_source(struct app *app, struct doctor *d, const struct profile *p)
{
	const char *what, *from = store_profile_from(&app->store, p->name, &what);
	struct secret *key = NULL;
	struct ds_err e;

	if (!what)
		return;
	/* a credential outside its service: doctor_sealed checks the
	 * sealed file it comes from */
	if (!strcmp(from, "key_credential") && !getenv("CREDENTIALS_DIRECTORY"))
		return;
	if (store_get_key(&app->store, p, &key, &e) != DS_OK) {
		size_t len = strlen(e.msg);

		if (len && e.msg[len - 1] == '.')
			e.msg[len - 1] = '\0';
		say(d, LEVEL_FAIL, "fix the file, or the secret manager that writes it", "%s",
		    e.msg);
	} else if (key)
		say(d, LEVEL_OK, NULL, "profile %s: %s %s is readable and holds a well-formed key",
		    p->name, from, what);
	secret_free(key);
}

/* A sealed profile with a plain copy of its key in the broker's key file
 * (left by a version whose sealing did not take it out): readable there,
 * and in force again once the sealed key is removed. */
static void doctor_sealed_plain(struct doctor *d, const struct profile_conf *pc)
{
	char cred[128], path[PATH_MAX], fix[PATH_MAX + 200];
	struct ds_err e;
	int present;

	snprintf(cred, sizeof(cred), SEALED_CRED_PREFIX "%s", pc->name);
	if (strcmp(pc->key_credential, cred))
		return; /* not sealed by add --system --sealed */
	if (system_sealed_plain_check(pc->name, &present, path, sizeof(path), &e) != DS_OK)
		say(d, LEVEL_FAIL, "fix the broker's key file",
		    "profile %s: cannot look for a plain copy of its sealed key: %s", pc->name,
		    e.msg);
	else if (present) {
		snprintf(fix, sizeof(fix),
			 "seal the key again, which takes the plain copy out: 'sudo dashscope-credential add --system --sealed %s --region %s'",
			 pc->name, pc->region ? pc->region->id : "REGION");
		say(d, LEVEL_FAIL, fix,
		    "profile %s has a sealed key and a plain copy of a key in the broker's key file %s, readable there and in force again once the sealed key is removed",
		    pc->name, path);
	}
}

/* Each key_credential of the system file whose key is sealed in
 * /etc/credstore.encrypted: as root, that systemd-creds opens it and
 * finds a well-formed key (which goes nowhere), and that no plain copy
 * is left beside it; as anyone else, that it cannot be checked. */
static void doctor_sealed(struct app *app, struct doctor *d)
{
	for (const struct profile_conf *pc = app->conf.profiles; pc; pc = pc->next) {
		char path[PATH_MAX], fix[PATH_MAX + 200];
		struct ds_err e;
		int present, rc;

		if (!pc->key_credential || !pc->source_system)
			continue;
		if (geteuid() != 0) {
			say(d, LEVEL_WARN, "run 'sudo dashscope-credential doctor' to check it",
			    "profile %s: the sealed credential %s can be checked by root only",
			    pc->name, pc->key_credential);
			continue;
		}
		rc = system_sealed_check(pc, &present, path, sizeof(path), &e);
		doctor_sealed_plain(d, pc);
		if (!present && !rc)
			continue; /* loaded from elsewhere (LoadCredential=) */
		snprintf(fix, sizeof(fix),
			 "seal the key again: 'sudo dashscope-credential add --system --sealed %s --region %s'",
			 pc->name, pc->region ? pc->region->id : "REGION");
		if (rc)
			say(d, LEVEL_FAIL, fix, "profile %s: the sealed credential %s: %s",
			    pc->name, path[0] ? path : pc->key_credential, e.msg);
		else
			say(d, LEVEL_OK, NULL,
			    "profile %s: the sealed credential %s opens and holds a well-formed key",
			    pc->name, path);
	}
}

static void doctor_profile(struct app *app, struct doctor *d, const struct profile *p)
{
	const struct policy *pol = &app->conf.policy;
	struct endpoints ep;
	struct ds_err e;
	int refused = 0;

	if (place_endpoints(&p->place, app->conf.endpoint, &ep, &e)) {
		say(d, LEVEL_FAIL, "add the key again with the right --region and --workspace",
		    "profile %s: %s", p->name, e.msg);
		return;
	}
	unsigned long lifetime = DS_LIFETIME_DEFAULT;
	struct ds_err pe;

	/* the policy's own gate and words (policy.c), rule included */
	if (policy_check_region(pol, p->place.region, &pe) != DS_OK ||
	    (p->place.plan == PLAN_CODING &&
	     policy_check_lifetime(pol, p->name, p->place.plan, &lifetime, NULL, &pe) != DS_OK)) {
		size_t len = strlen(pe.msg);

		/* the gate's sentence names the rule and the fix */
		if (len && pe.msg[len - 1] == '.')
			pe.msg[len - 1] = '\0';
		refused = 1;
		say(d, LEVEL_FAIL, NULL, "profile %s (%s) is refused: %s", p->name,
		    p->place.region->id, pe.msg);
	} else
		say(d, LEVEL_OK, NULL, "profile %s: %s/%s %s, key %s, base_url %s", p->name,
		    p->place.region->id, p->place.workspace[0] ? p->place.workspace : "-",
		    plan_name(p->place.plan), p->key_tail, ep.base_url);
	doctor_source(app, d, p);
	if (app->o.online && p->place.plan == PLAN_PAYG && !refused) {
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
		if (rc == DS_OK)
			say(d, LEVEL_OK, NULL, "profile %s: minting a temporary key works",
			    p->name);
		else
			say(d, LEVEL_FAIL, "check the key's region and workspace, or add it again",
			    "profile %s: %s", p->name, e.msg);
	}
}

/* The default profile must exist, or every command without -p fails. */
static void doctor_default(struct app *app, struct doctor *d, const struct profile_list *l)
{
	const char *def = app->conf.default_profile;
	const char *from = app->conf.default_from;
	char fix[PATH_MAX + 300];

	if (!def[0])
		return;
	if (profile_list_find(l, def)) {
		say(d, LEVEL_OK, NULL, "the default profile %s is stored", def);
		return;
	}
	if (from && !strcmp(from, "DASHSCOPE_CREDENTIAL_PROFILE"))
		snprintf(fix, sizeof(fix),
			 "unset DASHSCOPE_CREDENTIAL_PROFILE, or 'dashscope-credential add %s --region REGION'",
			 def);
	else
		snprintf(fix, sizeof(fix),
			 "'dashscope-credential add %s --region REGION', or 'add OTHER --default', or remove 'profile = %s' from %s",
			 def, def,
			 from && !strcmp(from, "system config") ? app->conf.system_path
								: app->conf.user_path);
	say(d, LEVEL_FAIL, fix, "the default profile %s (from %s) is not stored", def,
	    from ? from : "the configuration");
}

static void doctor_lifetime(struct app *app, struct doctor *d)
{
	unsigned long cap = app->conf.policy.max_lifetime;

	if (cap && app->conf.lifetime > cap)
		say(d, LEVEL_WARN, "lower 'lifetime' in your configuration",
		    "lifetime = %lu is lowered to %lu seconds by the system policy (max_lifetime)",
		    app->conf.lifetime, cap);
	for (const struct profile_conf *p = app->conf.profiles; p; p = p->next)
		if (cap && p->lifetime > cap)
			say(d, LEVEL_WARN, "lower 'lifetime' in that [profile] section",
			    "[profile %s] lifetime = %lu is lowered to %lu seconds by the system policy (max_lifetime)",
			    p->name, p->lifetime, cap);
}

struct rule_report {
	char what[300];
};

static void rule_report(void *ctx, const char *what, const char *item)
{
	struct rule_report *r = ctx;

	if (!r->what[0])
		snprintf(r->what, sizeof(r->what), "%s %s", what, item);
}

/* A rule's who: a user name, "@group" or "*". 0 when it names nobody. */
static int who_exists(const char *who)
{
	if (!strcmp(who, "*"))
		return 1;
	return who[0] == '@' ? getgrnam(who + 1) != NULL : getpwnam(who) != NULL;
}

static void doctor_pam_rules(struct app *app, struct doctor *d)
{
	int n = 0, bad = 0;

	for (const struct pam_rule *r = app->conf.pam_rules; r; r = r->next) {
		struct rule_report rep = { "" };
		struct pam_place place;
		char *buf = strdup(r->settings);

		n++;
		if (!buf) {
			say(d, LEVEL_FAIL, NULL, "out of memory");
			return;
		}
		if (pam_rule_parse(buf, &place, rule_report, &rep) != 0) {
			bad++;
			say(d, LEVEL_FAIL, "correct it; see pam_dashscope(8)",
			    "%s:%u: the [pam] rule for %s does not parse: %s", r->file, r->line,
			    r->who, rep.what);
		} else if (!who_exists(r->who)) {
			say(d, LEVEL_WARN, "correct the name, or remove the rule",
			    "%s:%u: the [pam] rule names %s %s, which does not exist", r->file,
			    r->line, r->who[0] == '@' ? "group" : "user",
			    r->who[0] == '@' ? r->who + 1 : r->who);
		}
		free(buf);
	}
	if (n && !bad)
		say(d, LEVEL_OK, NULL, "%d [pam] rule%s in %s parse", n, n == 1 ? "" : "s",
		    app->conf.system_path);
}

/* [broker] rules that do not parse stop the configuration from loading
 * (reported above); here, rules for users and groups that do not exist. */
static void doctor_broker_rules(struct app *app, struct doctor *d)
{
	int n = 0, bad = 0;

	for (const struct broker_rule *r = app->conf.broker.rules; r; r = r->next) {
		n++;
		if (who_exists(r->who))
			continue;
		bad++;
		say(d, LEVEL_WARN, "correct the name, or remove the rule",
		    "%s:%u: the [broker] rule names %s %s, which does not exist", r->file, r->line,
		    r->who[0] == '@' ? "group" : "user", r->who[0] == '@' ? r->who + 1 : r->who);
	}
	if (n && !bad)
		say(d, LEVEL_OK, NULL,
		    "%d [broker] rule%s in %s parse and name existing users and groups", n,
		    n == 1 ? "" : "s", app->conf.system_path);
}

/* Keys in the store that is not in use are keys the helper never finds. */
static void doctor_other_store(struct app *app, struct doctor *d)
{
	struct store_choice other = { STORE_FILE, 0, "the store not in use" };
	struct store st;
	struct profile_list l;
	struct ds_err e;

	/* the broker's keys are the administrator's: nothing of the user's
	 * to find elsewhere */
	if (app->store.kind == STORE_BROKER)
		return;
	if (app->store.kind == STORE_FILE)
		other.kind = STORE_SECRET_SERVICE;
	if (store_open(&other, &st, 0, &e) != DS_OK)
		return;
	if (store_list(&st, NULL, &l, 0, &e) == DS_OK) {
		char names[300] = "", fix[200];

		for (size_t i = 0; i < l.n; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", l.items[i].name);
		snprintf(fix, sizeof(fix),
			 "set 'store = %s' to use them, or add them again to the %s store and remove them there",
			 store_kind_name(other.kind), store_kind_name(app->store.kind));
		if (l.n)
			say(d, LEVEL_WARN, fix, "%zu profile%s in the %s store %s not used: %s",
			    l.n, l.n == 1 ? "" : "s", store_kind_name(other.kind),
			    l.n == 1 ? "is" : "are", names);
		profile_list_free(&l);
	}
	store_close(&st);
}

static void doctor_environment(struct doctor *d)
{
	const struct winner *win[8];
	size_t n = tools_winners(win, sizeof(win) / sizeof(win[0]));

	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(win[i]->name);
		long long at = tools_helper_set_expiry(v), left = at - (long long)time(NULL);
		char fix[120];

		snprintf(fix, sizeof(fix), "unset %s", win[i]->name);
		/* a key `env` set on purpose is fine until it dies */
		if (at && left > 0)
			say(d, LEVEL_OK, NULL,
			    "%s holds a temporary key from 'env' or 'exec', valid for %lld s more",
			    win[i]->name, left);
		else if (at)
			say(d, LEVEL_WARN,
			    "unset it, or run tools under 'dashscope-credential exec'",
			    "%s holds a temporary key from 'env' or 'exec' that expired %lld s ago",
			    win[i]->name, -left);
		else
			say(d, LEVEL_WARN, fix, "%s holds %s: %s", win[i]->name, tools_key_kind(v),
			    win[i]->why);
	}
	if (!n)
		say(d, LEVEL_OK, NULL, "no variable in the environment wins over the helper");
}

/* The command of an apiKeyHelper is ours when its program is named
 * dashscope-credential and it prints a key: token, or the standalone
 * proxy's key (setup claude-code). */
static int helper_is_ours(const char *cmd)
{
	size_t len = strcspn(cmd, " \t");
	const char *base = cmd;

	for (size_t i = 0; i < len; i++)
		if (cmd[i] == '/')
			base = cmd + i + 1;
	return (size_t)(cmd + len - base) == strlen(PACKAGE_NAME) &&
	       !strncmp(base, PACKAGE_NAME, strlen(PACKAGE_NAME)) &&
	       (strstr(cmd, " token") || strstr(cmd, " proxy --print-key"));
}

/* The profile a helper command names with -p, or "" (the default). */
static void helper_profile(const char *cmd, char *out, size_t n)
{
	const char *p = strstr(cmd, " -p ");
	size_t len;

	out[0] = '\0';
	if (!p)
		return;
	p += 4;
	len = strcspn(p, " \t");
	if (len < n) {
		memcpy(out, p, len);
		out[len] = '\0';
	}
}

/* A URL at the standalone proxy's address. */
static int at_proxy(const char *url)
{
	char pfx[64];

	snprintf(pfx, sizeof(pfx), "http://%s:%u/", TOOLS_PROXY_HOST, TOOLS_PROXY_PORT);
	return url && !strncmp(url, pfx, strlen(pfx));
}

/* A tool pointed at the standalone proxy waits on a port nobody answers. */
static void doctor_tool_proxy(struct doctor *d, const char *path, const char *what)
{
	if (tools_tcp_answers(TOOLS_PROXY_HOST, TOOLS_PROXY_PORT))
		return;
	say(d, LEVEL_FAIL,
	    "systemctl --user enable --now dashscope-credential-proxy.socket, or run 'dashscope-credential proxy'",
	    "%s points %s at the standalone proxy on %s:%u, which does not answer", path, what,
	    TOOLS_PROXY_HOST, TOOLS_PROXY_PORT);
}

/* A helper naming a profile: it must exist, and the base URL beside it be
 * that profile's (re-added in another region, it moved). tool is what
 * `setup` calls it; a base URL is compared with the profile's, Anthropic
 * (anthropic) or OpenAI-compatible. */
static void doctor_helper_profile(struct app *app, struct doctor *d, const char *path,
				  const char *name, const char *base_url, const char *tool,
				  int anthropic)
{
	char fix[200];
	struct profile_list l;
	const struct profile *p;
	struct endpoints ep;
	struct ds_err e;

	if (!name[0] || !app->store_ready || store_list(&app->store, NULL, &l, 1, &e) != DS_OK)
		return;
	p = profile_list_find(&l, name);
	snprintf(fix, sizeof(fix), "'dashscope-credential setup %s' with the profile to use", tool);
	if (!p)
		say(d, LEVEL_FAIL, fix, "%s: the helper names profile %s, which is not stored",
		    path, name);
	else if (base_url && !at_proxy(base_url) &&
		 place_endpoints(&p->place, app->conf.endpoint, &ep, &e) == DS_OK &&
		 strcmp(base_url, ep.anthropic_base_url) && strcmp(base_url, ep.base_url))
		say(d, LEVEL_FAIL, fix,
		    "%s: the base URL %s is not profile %s's (%s, %s): the key would go to another region",
		    path, base_url, name, p->place.region->id,
		    anthropic ? ep.anthropic_base_url : ep.base_url);
	profile_list_free(&l);
}

/* One Claude Code settings file: a key in its env wins over the helper
 * and the proxy (in a project's file too); the helper and the URL
 * setup wrote must still hold. */
static int doctor_claude_file(struct app *app, struct doctor *d, const char *path, int user)
{
	struct ds_err e;
	json_t *root = NULL, *env;
	const char *helper, *key, *url;
	int ours, bad = 0;

	if (tools_json_read(path, &root, &e) != DS_OK) {
		say(d, LEVEL_WARN, "correct the file; Claude Code ignores it as it is", "%s",
		    e.msg);
		return 0;
	}
	if (!root)
		return 0;
	helper = json_string_value(json_object_get(root, "apiKeyHelper"));
	ours = helper && helper_is_ours(helper);
	env = json_object_get(root, "env");
	url = json_string_value(json_object_get(env, "ANTHROPIC_BASE_URL"));
	key = tools_claude_env_key(root);
	if (key) {
		const char *v = json_string_value(json_object_get(env, key));
		char fix[120];

		bad++;
		snprintf(fix, sizeof(fix), "remove env.%s from that file", key);
		say(d, ours || !user || !strncmp(v, "sk-", 3) ? LEVEL_FAIL : LEVEL_WARN, fix,
		    "%s sets env.%s (%s), which Claude Code sends in place of apiKeyHelper's key",
		    path, key, tools_key_kind(v));
	}
	if (user && !helper)
		say(d, LEVEL_WARN, "'dashscope-credential setup claude-code'",
		    "%s has no apiKeyHelper: Claude Code does not use the helper", path);
	else if (helper && !ours)
		say(d, LEVEL_WARN, "'dashscope-credential setup claude-code'",
		    "%s: apiKeyHelper runs another program, not dashscope-credential", path);
	else if (helper && !bad)
		say(d, LEVEL_OK, NULL, "%s: apiKeyHelper runs dashscope-credential", path);
	if (ours) {
		char name[DS_PROFILE_MAX + 1];

		helper_profile(helper, name, sizeof(name));
		doctor_helper_profile(app, d, path, name, url, "claude-code", 1);
	}
	if (at_proxy(url))
		doctor_tool_proxy(d, path, "Claude Code");
	json_decref(root);
	return 1;
}

static void doctor_claude(struct app *app, struct doctor *d)
{
	char files[CLAUDE_FILES][PATH_MAX];
	struct ds_err e;

	if (tools_claude_files(files, &e)) {
		say(d, LEVEL_WARN, NULL, "Claude Code's settings: %s", e.msg);
		return;
	}
	for (int i = 0; i < CLAUDE_FILES; i++)
		doctor_claude_file(app, d, files[i], i == CLAUDE_USER);
}

/* Qwen Code as setup qwen-code left it: the proxy must answer, and with
 * the key the file holds (proxy --new-key changes it). */
static void doctor_qwen(struct doctor *d)
{
	char path[PATH_MAX];
	struct ds_err e;
	json_t *root = NULL, *auth;
	const char *url, *key;

	if (tools_qwen_settings(path, sizeof(path), &e) || tools_json_read(path, &root, &e)) {
		say(d, LEVEL_WARN, NULL, "Qwen Code's settings: %s", e.msg);
		return;
	}
	auth = json_object_get(json_object_get(root, "security"), "auth");
	url = json_string_value(json_object_get(auth, "baseUrl"));
	key = json_string_value(json_object_get(auth, "apiKey"));
	if (at_proxy(url)) {
		struct secret *pk = NULL;

		doctor_tool_proxy(d, path, "Qwen Code");
		if (key && proxy_key_load(0, &pk, &e) == DS_OK && strcmp(key, pk->data))
			say(d, LEVEL_FAIL,
			    "'dashscope-credential setup qwen-code' writes the current one",
			    "%s holds a proxy key the standalone proxy no longer takes (proxy --new-key replaced it)",
			    path);
		else if (key && pk)
			say(d, LEVEL_OK, NULL,
			    "%s: Qwen Code uses the standalone proxy with its key", path);
		secret_free(pk);
	} else if (key && !strncmp(key, "sk-", 3)) {
		say(d, LEVEL_WARN, "'dashscope-credential setup qwen-code'",
		    "%s holds %s, which never expires", path, tools_key_kind(key));
	}
	json_decref(root);
}

/* The profile Codex's auth command names: -p NAME, -pNAME, --profile NAME
 * or --profile=NAME; "" for the default. */
static void codex_args_profile(char *const *args, char *out, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; args && args[i]; i++) {
		const char *v = NULL;

		if ((!strcmp(args[i], "-p") || !strcmp(args[i], "--profile")) && args[i + 1])
			v = args[i + 1];
		else if (!strncmp(args[i], "--profile=", 10))
			v = args[i] + 10;
		else if (!strncmp(args[i], "-p", 2) && args[i][2] != '-')
			v = args[i] + 2;
		if (v)
			snprintf(out, n, "%s", v);
	}
}

/* Where a command Codex runs is found: a path as it is, a bare name on
 * PATH, as Codex runs it. 0 when nothing executable is there. */
static int command_found(const char *cmd)
{
	const char *path = getenv("PATH");
	char full[PATH_MAX];

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	for (const char *p = path ? path : ""; *p;) {
		size_t len = strcspn(p, ":");

		if (len &&
		    (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)len, p, cmd) <
			    sizeof(full) &&
		    access(full, X_OK) == 0)
			return 1;
		p += len + (p[len] == ':');
	}
	return 0;
}

/* The provider setup codex wrote, read back from a parsed config.toml. */
static void doctor_codex_provider(struct app *app, struct doctor *d, const char *path,
				  const struct toml_doc *doc)
{
	char *cmd = NULL, *url = NULL, **args = NULL, name[DS_PROFILE_MAX + 1] = "";
	struct ds_err e;

	if (toml_get_string(doc, "model_providers.dashscope.auth.command", &cmd, &e) ||
	    toml_get_strings(doc, "model_providers.dashscope.auth.args", &args, &e) ||
	    toml_get_string(doc, "model_providers.dashscope.base_url", &url, &e)) {
		say(d, LEVEL_WARN, "'dashscope-credential setup codex'", "%s: %s", path, e.msg);
	} else if (cmd) {
		const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;

		codex_args_profile(args, name, sizeof(name));
		if (strcmp(base, PACKAGE_NAME))
			say(d, LEVEL_WARN, "'dashscope-credential setup codex'",
			    "%s: Codex's provider dashscope runs %s, not dashscope-credential",
			    path, cmd);
		else if (!command_found(cmd))
			say(d, LEVEL_FAIL,
			    "'dashscope-credential setup codex' writes this program's path",
			    "%s: Codex's provider dashscope runs %s, which does not exist", path,
			    cmd);
		else
			say(d, LEVEL_OK, NULL, "%s: Codex's provider dashscope runs %s", path, cmd);
		if (!strcmp(base, PACKAGE_NAME))
			doctor_helper_profile(app, d, path, name, url, "codex", 0);
	}
	free(cmd);
	free(url);
	toml_strings_free(args);
}

/* A TOML file of Codex's, read and parsed; *buf NULL when it does not
 * exist. Free doc (when parsed) and buf. */
static int codex_read(const char *path, char **buf, struct toml_doc *doc, struct ds_err *e)
{
	size_t len = 0;
	int rc = file_read(path, 0, TOOLS_SETTINGS_MAX, "Codex's settings", DS_EINPUT, buf, &len,
			   NULL, e);

	if (rc || !*buf)
		return rc;
	return toml_parse(*buf, len, doc, e);
}

/* What selects the provider: the profile file setup codex writes, or
 * model_provider at the top of config.toml. Codex 0.171 refuses the two
 * older ways. */
static void doctor_codex_selection(struct doctor *d, const char *home, const char *path,
				   const struct toml_doc *doc)
{
	char prof[PATH_MAX], *top = NULL, *sel = NULL, *pbuf = NULL;
	struct toml_doc pdoc;
	struct ds_err e;
	int rc;

	if (toml_has(doc, "profiles.dashscope"))
		say(d, LEVEL_FAIL, "'dashscope-credential setup codex' removes it",
		    "%s has a [profiles.dashscope] table, with which Codex 0.171 refuses 'codex --profile dashscope'",
		    path);
	if (toml_has(doc, "profile") && !toml_get_string(doc, "profile", &sel, &e))
		say(d, LEVEL_FAIL, "remove it; select a profile with 'codex --profile NAME'",
		    "%s sets profile at the top, which Codex 0.171 refuses (\"legacy profile config\"): Codex does not start",
		    path);
	free(sel);
	sel = NULL;
	if (toml_get_string(doc, "model_provider", &top, &e) == DS_OK && top &&
	    !strcmp(top, "dashscope")) {
		free(top);
		return;
	}
	free(top);
	if (path_format(prof, sizeof(prof), &e, "%s/dashscope.config.toml", home))
		return;
	rc = codex_read(prof, &pbuf, &pdoc, &e);
	if (!rc && pbuf) {
		if (toml_get_string(&pdoc, "model_provider", &sel, &e))
			sel = NULL;
		toml_doc_free(&pdoc);
	}
	if (!sel || strcmp(sel, "dashscope"))
		say(d, LEVEL_WARN, "'dashscope-credential setup codex'",
		    "%s: nothing selects the provider dashscope ('codex --profile dashscope' reads model_provider from %s)",
		    path, prof);
	free(sel);
	free(pbuf);
}

/* Codex's config.toml ($CODEX_HOME or ~/.codex), when it has our provider. */
static void doctor_codex(struct app *app, struct doctor *d)
{
	char home[PATH_MAX], path[PATH_MAX];
	struct toml_doc doc;
	struct ds_err e;
	char *buf = NULL;
	int rc;

	if (tools_codex_home(home, sizeof(home), &e) ||
	    path_format(path, sizeof(path), &e, "%s/config.toml", home)) {
		say(d, LEVEL_WARN, NULL, "Codex's settings: %s", e.msg);
		return;
	}
	rc = codex_read(path, &buf, &doc, &e);
	if (rc == DS_OK && buf) {
		if (toml_has(&doc, "model_providers.dashscope")) {
			doctor_codex_provider(app, d, path, &doc);
			doctor_codex_selection(d, home, path, &doc);
		}
		toml_doc_free(&doc);
	} else if (rc && (!buf || strstr(buf, "dashscope"))) {
		say(d, LEVEL_WARN, "correct the file", "%s: %s", path, e.msg);
	}
	free(buf);
}

/* The standalone proxy's port held by another user: tools configured for
 * it would hand that user the proxy key and every prompt. */
static void doctor_proxy_port(struct doctor *d)
{
	char who[300];

	if (tools_proxy_port_holder(who, sizeof(who)))
		say(d, LEVEL_FAIL,
		    "find out why that user listens there; start your proxy with --listen on another port and point your tools at it",
		    "proxy: %s:%u is held by %s, not you", TOOLS_PROXY_HOST, TOOLS_PROXY_PORT, who);
}

static void doctor_store(struct app *app, struct doctor *d)
{
	struct profile_list l;
	struct ds_err e;

	if (app_store(app, &e) != DS_OK) {
		say(d, LEVEL_FAIL, NULL, "store: %s", e.msg);
		return;
	}
	say(d, LEVEL_OK, NULL, "store %s in use: %s", store_kind_name(app->store.kind),
	    app->store.why);
	if (app->store.kind == STORE_FILE)
		doctor_file_modes(d, app->store.path);
	if (store_list(&app->store, NULL, &l, 1, &e) != DS_OK) {
		say(d, LEVEL_FAIL, NULL, "listing profiles: %s", e.msg);
		return;
	}
	if (l.n == 0)
		say(d, LEVEL_FAIL, "'dashscope-credential add --region REGION'",
		    "no profile is stored");
	for (size_t i = 0; i < l.n; i++)
		doctor_profile(app, d, &l.items[i]);
	doctor_default(app, d, &l);
	profile_list_free(&l);
	doctor_other_store(app, d);
}

int cmd_doctor(struct app *app, struct ds_err *err)
{
	struct doctor d = { app->o.json, NULL, 0, 0 };
	struct ds_err e = { 0, "" };
	int rc = DS_OK;

	if (d.json)
		d.checks = json_array();
	/* doctor loads the configuration itself: a file that does not parse
	 * is its first finding, not a reason to stop */
	if (conf_load(&app->conf, &e) != DS_OK) {
		say(&d, LEVEL_FAIL, "correct that line", "configuration: %s", e.msg);
	} else {
		say(&d, LEVEL_OK, NULL, "configuration parses (system %s, user %s)",
		    app->conf.system_path, app->conf.user_path);
		if (app->conf.user_policy_ignored)
			say(&d, LEVEL_WARN, "move those sections to the system file",
			    "the user file %s has [policy] or [pam], which only the system file may set",
			    app->conf.user_path);
		doctor_pam_rules(app, &d);
		doctor_broker_rules(app, &d);
		doctor_lifetime(app, &d);
		doctor_store(app, &d);
		doctor_sealed(app, &d);
	}
	doctor_environment(&d);
	doctor_proxy_port(&d);
	doctor_claude(app, &d);
	doctor_qwen(&d);
	doctor_codex(app, &d);
	if (d.json) {
		json_t *root = json_pack("{s:o, s:i, s:i}", "checks", d.checks, "problems",
					 d.problems, "warnings", d.warnings);
		char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

		json_decref(root);
		if (s)
			puts(s);
		else
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
		token_json_free(s);
	}
	if (!rc && (fflush(stdout) != 0 || ferror(stdout)))
		rc = ds_err_set(err, DS_EFAIL, "Cannot write to standard output.");
	if (!rc && d.problems)
		rc = ds_err_set(err, DS_EFAIL, "doctor found %d problem%s.", d.problems,
				d.problems == 1 ? "" : "s");
	return rc;
}

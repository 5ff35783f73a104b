/* SPDX-License-Identifier: MIT */
/* setup TOOL: points a tool at the helper (SPEC section 13). Claude Code
 * and Qwen Code settings are edited with jansson, keeping every other
 * setting and a backup; Codex gets the config.toml section to paste. */
#include "config.h"
#include "cmd/cmd_int.h"
#include "conf/policy.h"
#include "cmd/tools.h"
#include "proxy/proxy_keys.h"
#include "base/files.h"
#include "base/file_write.h"
#include "conf/place.h"
#include "cmd/toml_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CODING_MODEL "qwen3-coder-plus"

/* What a tool needs to know about the chosen profile. */
struct target {
	struct profile p;
	const struct profile_conf *pc;
	struct endpoints ep;
	unsigned long lifetime;
	char self[PATH_MAX]; /* this program, absolute */
};

static int target_get(struct app *app, struct target *t, struct ds_err *err)
{
	const struct policy *pol = &app->conf.policy;
	struct want w;
	int found = 0, rc;
	ssize_t n;

	memset(t, 0, sizeof(*t));
	rc = want_from_options(app, &w, err);
	if (!rc)
		rc = app_select(app, &w, &t->p, &found, err);
	if (!rc && !found)
		rc = app_no_profile(&w, err);
	if (!rc)
		rc = policy_check_region(pol, t->p.place.region, err);
	if (!rc)
		rc = place_endpoints(&t->p.place, app->conf.endpoint, &t->ep, err);
	if (rc)
		return rc;
	t->pc = conf_profile(&app->conf, t->p.name);
	t->lifetime = w.lifetime_given		 ? w.lifetime
		      : t->pc && t->pc->lifetime ? t->pc->lifetime
		      : app->conf.lifetime	 ? app->conf.lifetime
						 : DS_LIFETIME_DEFAULT;
	rc = policy_check_lifetime(pol, t->p.name, t->p.place.plan, &t->lifetime, NULL, err);
	if (rc)
		return rc;
	n = readlink("/proc/self/exe", t->self, sizeof(t->self) - 1);
	if (n <= 0)
		return ds_err_set(err, DS_EFAIL, "Cannot find this program's own path.");
	t->self[n] = '\0';
	return DS_OK;
}

/* This program's path, quoted for /bin/sh when it needs it, then tail. */
static void helper_command(const struct target *t, const char *tail, char *out, size_t n)
{
	int plain = 1;
	size_t o = 0;

	for (const char *s = t->self; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-",
			    *s))
			plain = 0;
	if (plain) {
		o = (size_t)snprintf(out, n, "%s", t->self);
	} else {
		out[o++] = '\'';
		for (const char *s = t->self; *s && o + 5 < n; s++) {
			if (*s == '\'') {
				memcpy(out + o, "'\\''", 4);
				o += 4;
			} else {
				out[o++] = *s;
			}
		}
		out[o++] = '\'';
		out[o] = '\0';
	}
	if (o < n)
		snprintf(out + o, n - o, " %s", tail);
}

/* A tool's JSON settings file: its bytes as read (for the backup) and
 * the object they hold. */
struct settings {
	const char *path;
	char *raw; /* NULL: the file does not exist yet */
	size_t len;
	mode_t mode;
	json_t *root;
};

static void settings_free(struct settings *st)
{
	if (st->raw) {
		explicit_bzero(st->raw, st->len);
		free(st->raw);
	}
	json_decref(st->root);
	memset(st, 0, sizeof(*st));
}

/* Reads a tool's file through the shared reader (regular files only,
 * never blocking), keeping its bytes for the backup; raw stays NULL when
 * the file does not exist. */
static int settings_read(const char *path, struct settings *st, struct ds_err *err)
{
	struct stat sb;
	int rc;

	memset(st, 0, sizeof(*st));
	st->path = path;
	st->mode = 0600;
	rc = file_read(path, 0, TOOLS_SETTINGS_MAX, "settings file", DS_EINPUT, &st->raw, &st->len,
		       &sb, err);
	if (!rc && st->raw)
		st->mode = sb.st_mode & 0777;
	return rc;
}

/* A JSON settings file; a missing file is an empty object. */
static int settings_load(const char *path, struct settings *st, struct ds_err *err)
{
	json_error_t je;
	int rc = settings_read(path, st, err);

	if (rc)
		return rc;
	if (!st->raw) {
		st->root = json_object();
		return st->root ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	st->root = json_loadb(st->raw, st->len, 0, &je);
	if (!st->root)
		return ds_err_set(err, DS_EINPUT,
				  "%s is not valid JSON (line %d: %s); fix it first, nothing was changed.",
				  path, je.line, je.text);
	if (!json_is_object(st->root))
		return ds_err_set(err, DS_EINPUT,
				  "%s is not a JSON object; fix it first, nothing was changed.",
				  path);
	return DS_OK;
}

/* The object member name of parent, created when missing. */
static json_t *object_member(json_t *parent, const char *name)
{
	json_t *o = json_object_get(parent, name);

	if (json_is_object(o))
		return o;
	o = json_object();
	if (!o || json_object_set_new(parent, name, o))
		return NULL;
	return o;
}

/* The shared atomic writer (file_write.h), through a symbolic link to its
 * target, the directory made when missing. A tool's file is not a store:
 * failing to write it is exit 1. */
static int write_file(const char *path, const char *data, size_t len, mode_t mode,
		      struct ds_err *err)
{
	char real[PATH_MAX], dir[PATH_MAX];
	const char *target = realpath(path, real) ? real : path;
	int rc;

	file_dir_of(target, dir, sizeof(dir));
	rc = file_mkdirs(dir, err);
	if (!rc)
		rc = file_write_atomic(target, mode, data, len, err);
	if (rc && err)
		err->code = DS_EFAIL;
	return rc ? DS_EFAIL : DS_OK;
}

/* Writes text over a tool's file (or prints it with --dry-run); the old
 * bytes go to PATH.bak-YYYYmmdd-HHMMSS first. Text the file already holds
 * is not written again, and leaves no backup. mode is for a new file. */
static int settings_write(const struct app *app, const struct settings *st, const char *text,
			  size_t len, mode_t mode, struct ds_err *err)
{
	char bpath[PATH_MAX + 40] = "";
	int rc = DS_OK;

	if (app->o.dry_run) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
			return ds_err_set(err, DS_EFAIL, "Cannot write to standard output.");
		fprintf(stderr, "dashscope-credential: --dry-run: %s was not changed.\n", st->path);
		return DS_OK;
	}
	/* the same bytes again: nothing to write, no backup to pile up */
	if (st->raw && st->len == len && !memcmp(st->raw, text, len)) {
		fprintf(stderr, "%s already says this; nothing was changed.\n", st->path);
		return DS_OK;
	}
	if (st->raw) {
		time_t now = time(NULL);
		struct tm tm;
		char ts[32];

		mode = st->mode;
		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
		rc = path_format(bpath, sizeof(bpath), err, "%s.bak-%s", st->path, ts);
		if (!rc)
			rc = write_file(bpath, st->raw, st->len, st->mode, err);
	}
	if (!rc)
		rc = write_file(st->path, text, len, mode, err);
	if (!rc)
		fprintf(stderr, "Wrote %s%s%s.\n", st->path,
			bpath[0] ? "; the old file is in " : "", bpath);
	return rc;
}

/* The JSON settings, two-space indented as the tools write them. */
static int settings_save(const struct app *app, struct settings *st, mode_t mode,
			 struct ds_err *err)
{
	char *s = json_dumps(st->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t len;
	char *text;
	int rc;

	if (!s)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	len = strlen(s);
	text = malloc(len + 2);
	if (!text) {
		token_json_free(s);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	memcpy(text, s, len);
	text[len] = '\n';
	rc = settings_write(app, st, text, len + 1, mode, err);
	explicit_bzero(text, len + 1);
	free(text);
	token_json_free(s);
	return rc;
}

static const char *const winning_keys[] = { "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN" };

/* A key set where Claude Code would take it over apiKeyHelper. */
static void note_shell_winners(const char *const *names, size_t n, const char *tool)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);

		if (v && *v)
			fprintf(stderr,
				"dashscope-credential: note: %s is set in this shell; %s started from it uses that instead of the helper. Unset it.\n",
				names[i], tool);
	}
}

/* The settings' env beats apiKeyHelper: setting the helper up beside a
 * key there would look done and change nothing. */
static int claude_check_env(const struct settings *st, struct ds_err *err)
{
	const char *key = tools_claude_env_key(st->root);

	if (key)
		return ds_err_set(err, DS_EFAIL,
				  "%s sets env.%s, which Claude Code sends in place of apiKeyHelper's key; remove it from that file and run setup again (nothing was changed).",
				  st->path, key);
	return DS_OK;
}

/* Claude Code at the standalone proxy, its apiKeyHelper answering the
 * proxy key. Claude Code 2.1 answers a request after an idle gap with the
 * helper's cached value and refreshes it afterwards: a temporary key
 * there would go upstream expired (401, a second mint, a retry). The
 * proxy key does not expire, and the proxy puts a fresh temporary key on
 * every request; the TTL variable an earlier setup wrote goes. */
static int claude_apply(const struct target *t, json_t *root, const char *cmd, const char *base_url)
{
	json_t *env = object_member(root, "env");

	if (!env || json_object_set_new(root, "apiKeyHelper", json_string(cmd)) ||
	    json_object_set_new(env, "ANTHROPIC_BASE_URL", json_string(base_url)))
		return -1;
	json_object_del(env, "CLAUDE_CODE_API_KEY_HELPER_TTL_MS");
	if (t->pc && t->pc->model &&
	    json_object_set_new(env, "ANTHROPIC_MODEL", json_string(t->pc->model)))
		return -1;
	return 0;
}

/* Where a tool reaches the standalone proxy: the URLs of section 2 on its
 * own address. */
static int proxy_endpoints(const struct target *t, struct endpoints *pep, struct ds_err *err)
{
	char base[64];

	snprintf(base, sizeof(base), "http://%s:%u", TOOLS_PROXY_HOST, TOOLS_PROXY_PORT);
	return place_endpoints(&t->p.place, base, pep, err);
}

/* How to start the standalone proxy for the profile setup was given. */
static void note_start_proxy(const struct app *app, const struct target *t)
{
	fprintf(stderr,
		"Start the proxy with\n"
		"  systemctl --user enable --now dashscope-credential-proxy.socket\n"
		"or run 'dashscope-credential proxy%s%s%s%s' in a terminal.\n",
		app->o.profile ? " -p " : "", app->o.profile ? t->p.name : "",
		app->o.lifetime ? " -l " : "", app->o.lifetime ? app->o.lifetime : "");
}

static int setup_claude_code(struct app *app, struct ds_err *err)
{
	struct target t;
	struct settings st;
	struct endpoints pep;
	char path[PATH_MAX];
	int rc;

	rc = tools_claude_settings(path, sizeof(path), err);
	if (rc)
		return rc;
	rc = settings_load(path, &st, err);
	if (!rc)
		rc = claude_check_env(&st, err);
	if (!rc)
		rc = target_get(app, &t, err);
	if (!rc)
		rc = proxy_endpoints(&t, &pep, err);
	if (!rc) {
		char cmd[PATH_MAX + 200];

		helper_command(&t, "proxy --print-key", cmd, sizeof(cmd));
		if (claude_apply(&t, st.root, cmd, pep.anthropic_base_url))
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	if (!rc)
		rc = settings_save(app, &st, 0600, err);
	settings_free(&st);
	if (rc)
		return rc;
	if (!app->o.dry_run) {
		fprintf(stderr, "Claude Code now talks to the proxy at %s (profile %s, %s).\n",
			pep.anthropic_base_url, t.p.name, t.p.place.region->id);
		note_start_proxy(app, &t);
	}
	note_shell_winners(winning_keys, 2, "Claude Code");
	return DS_OK;
}

/* The standalone proxy's key (SPEC section 10), read or made by the
 * proxy's own code, so the tool and the proxy agree from the first start. */
static int proxy_key(char *out, size_t n, struct ds_err *err)
{
	struct secret *k = NULL;
	int rc = proxy_key_load(0, &k, err);

	if (rc)
		return rc;
	if (k->len >= n) {
		secret_free(k);
		return ds_err_set(err, DS_EFAIL, "The proxy key is too long.");
	}
	memcpy(out, k->data, k->len + 1);
	secret_free(k);
	return DS_OK;
}

static int qwen_apply(json_t *root, const char *key, const char *base_url, const char *model)
{
	json_t *sec = object_member(root, "security");
	json_t *auth = sec ? object_member(sec, "auth") : NULL;
	json_t *mod = object_member(root, "model");

	return !auth || !mod || json_object_set_new(auth, "selectedType", json_string("openai")) ||
	       json_object_set_new(auth, "apiKey", json_string(key)) ||
	       json_object_set_new(auth, "baseUrl", json_string(base_url)) ||
	       json_object_set_new(mod, "name", json_string(model));
}

static int setup_qwen_code(struct app *app, struct ds_err *err)
{
	static const char *const winners[] = { "OPENAI_API_KEY" };
	struct target t;
	struct settings st;
	struct endpoints pep;
	char path[PATH_MAX], key[128] = "";
	const char *model = DEFAULT_CODING_MODEL;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = target_get(app, &t, err);
	if (!rc)
		rc = tools_qwen_settings(path, sizeof(path), err);
	if (!rc)
		rc = settings_load(path, &st, err);
	if (!rc)
		rc = proxy_endpoints(&t, &pep, err);
	if (!rc && !app->o.dry_run)
		rc = proxy_key(key, sizeof(key), err);
	if (!rc) {
		if (t.pc && t.pc->model)
			model = t.pc->model;
		if (qwen_apply(st.root, app->o.dry_run ? "<the proxy key>" : key, pep.base_url,
			       model))
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	explicit_bzero(key, sizeof(key));
	/* the file now holds the proxy key: only its owner may read it */
	st.mode = 0600;
	if (!rc)
		rc = settings_save(app, &st, 0600, err);
	settings_free(&st);
	if (rc || app->o.dry_run)
		return rc;
	fprintf(stderr, "Qwen Code now talks to the proxy at %s (model %s).\n", pep.base_url,
		model);
	note_start_proxy(app, &t);
	note_shell_winners(winners, 1, "Qwen Code");
	return DS_OK;
}

/* A TOML basic string; our paths and names never need more than \" and
 * \\, and a control character is refused. */
static int toml_string(const char *s, char *out, size_t n)
{
	size_t o = 0;

	if (ds_has_control(s))
		return -1;
	out[o++] = '"';
	for (; *s && o + 3 < n; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	if (*s)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

/* Codex's names for what setup writes: the provider's tables in
 * config.toml, and the profile that selects it (`codex --profile
 * dashscope`), a file of its own. Codex 0.171 refuses a [profiles.NAME]
 * table when --profile NAME is given, and a root `profile = NAME` always
 * ("legacy ... no longer supported"), so an old [profiles.dashscope] goes. */
#define CODEX_ID "dashscope"
static const char *const codex_tables[] = { "model_providers." CODEX_ID,
					    "model_providers." CODEX_ID ".auth",
					    "profiles." CODEX_ID };
static const char *const codex_keys[] = { "model_provider", "model" };

/* The provider's two tables. */
static int codex_provider_block(const struct app *app, const struct target *t, char **out)
{
	char self[PATH_MAX * 2 + 4], name[DS_PROFILE_MAX * 2 + 4];

	if (toml_string(t->self, self, sizeof(self)) || toml_string(t->p.name, name, sizeof(name)))
		return -1;
	return asprintf(out,
			"[model_providers." CODEX_ID "]\n"
			"name = \"DashScope (%s)\"\n"
			"base_url = \"%s\"\n"
			"wire_api = \"responses\"\n\n"
			"[model_providers." CODEX_ID ".auth]\n"
			"command = %s\n"
			"args = [\"token\", \"-p\", %s%s%s%s]\n"
			"refresh_interval_ms = %lu\n",
			t->p.name, t->ep.base_url, self, name,
			app->o.lifetime ? ", \"-l\", \"" : "",
			app->o.lifetime ? app->o.lifetime : "", app->o.lifetime ? "\"" : "",
			(t->lifetime - (unsigned long)token_renewal_margin(t->lifetime)) * 1000UL) <
			       0
		       ? -1
		       : 0;
}

/* One TOML file of Codex's: what it says now, with block put in place of
 * our tables (root: our root keys); written, or printed under --dry-run.
 * fresh is the text of a file that does not exist yet. */
static int codex_edit(const struct app *app, const char *path, int root, const char *block,
		      const char *fresh, struct ds_err *err)
{
	struct settings st;
	struct toml_doc doc;
	char *text = NULL;
	size_t len = 0;
	int rc = settings_read(path, &st, err);

	if (!rc && !st.raw && fresh) {
		text = strdup(fresh);
		len = text ? strlen(text) : 0;
		if (!text)
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	} else if (!rc) {
		rc = toml_parse(st.raw ? st.raw : "", st.len, &doc, err);
		if (!rc) {
			rc = root ? toml_replace_root_keys(&doc, codex_keys, 2, block, &text, &len,
							   err)
				  : toml_replace_tables(&doc, codex_tables, 3, block, &text, &len,
							err);
			toml_doc_free(&doc);
		}
		if (rc == DS_EINPUT) {
			char why[sizeof(err->msg)];

			snprintf(why, sizeof(why), "%s", err->msg);
			rc = ds_err_set(err, DS_EINPUT,
					"%s: %s; setup cannot edit it safely, nothing was changed. Correct it, or move it away and run setup again.",
					path, why);
		}
	}
	if (!rc && app->o.dry_run)
		printf("==> %s <==\n", path);
	if (!rc)
		rc = settings_write(app, &st, text, len, 0600, err);
	free(text);
	settings_free(&st);
	return rc;
}

static int setup_codex(struct app *app, struct ds_err *err)
{
	struct target t;
	char home[PATH_MAX], conf[PATH_MAX], prof[PATH_MAX], model[300];
	const char *model_name;
	char *block = NULL, *keys = NULL, *fresh = NULL;
	int rc;

	rc = target_get(app, &t, err);
	if (!rc)
		rc = tools_codex_home(home, sizeof(home), err);
	if (!rc)
		rc = path_format(conf, sizeof(conf), err, "%s/config.toml", home);
	if (!rc)
		rc = path_format(prof, sizeof(prof), err, "%s/" CODEX_ID ".config.toml", home);
	if (rc)
		return rc;
	model_name = t.pc && t.pc->model ? t.pc->model : DEFAULT_CODING_MODEL;
	if (toml_string(model_name, model, sizeof(model)) || codex_provider_block(app, &t, &block))
		return ds_err_set(err, DS_EINPUT,
				  "This program's path, the profile or the model has a control character; it cannot go into config.toml.");
	if (asprintf(&keys, "model_provider = \"" CODEX_ID "\"\nmodel = %s\n", model) < 0 ||
	    asprintf(&fresh,
		     "# codex --profile " CODEX_ID
		     ": Model Studio through dashscope-credential (setup codex)\n%s",
		     keys) < 0) {
		keys = fresh = NULL;
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	/* the provider first: the profile names it */
	if (!rc)
		rc = codex_edit(app, conf, 0, block, NULL, err);
	if (!rc)
		rc = codex_edit(app, prof, 1, keys, fresh, err);
	free(block);
	free(keys);
	free(fresh);
	if (rc)
		return rc;
	fprintf(stderr,
		"Codex has the provider " CODEX_ID " (profile %s, %s, model %s). Select it with\n"
		"  codex --profile " CODEX_ID "\n"
		"or make it Codex's default: model_provider = \"" CODEX_ID
		"\" and model = %s at the top of %s, above every [table].\n",
		t.p.name, t.p.place.region->id, model_name, model, conf);
	return DS_OK;
}

int cmd_setup(struct app *app, struct ds_err *err)
{
	static const char *const tools[] = { "claude-code", "qwen-code", "codex" };
	const char *tool = app->o.nrest == 1 ? app->o.rest[0] : NULL;
	const char *near;

	if (!tool)
		return ds_err_set(err, DS_EINPUT,
				  "Usage: dashscope-credential setup claude-code|qwen-code|codex [-p PROFILE] [--dry-run]");
	if (!strcmp(tool, "claude-code"))
		return setup_claude_code(app, err);
	if (!strcmp(tool, "qwen-code"))
		return setup_qwen_code(app, err);
	if (!strcmp(tool, "codex"))
		return setup_codex(app, err);
	near = ds_has_control(tool) ? NULL : ds_closest(tool, tools, 3);
	for (size_t i = 0; !near && *tool && i < 3; i++)
		if (!strncmp(tools[i], tool, strlen(tool)))
			near = tools[i];
	if (near)
		return ds_err_set(err, DS_EINPUT, "Unknown tool '%.40s'; did you mean %s?", tool,
				  near);
	return ds_err_set(err, DS_EINPUT,
			  "Unknown tool '%.40s'; setup knows claude-code, qwen-code and codex.",
			  ds_has_control(tool) ? "?" : tool);
}

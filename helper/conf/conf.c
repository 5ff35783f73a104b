/* SPDX-License-Identifier: MIT */
/* Gives the INI names their meaning and checks every value, naming file and
 * line on error; applies the environment overrides last. */
#include "config.h"
#include "conf/conf.h"
#include "base/ini.h"
#include "base/files.h"
#include "conf/place.h"
#include "conf/names.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct load_ctx {
	struct conf *c;
	int is_system;
};

void conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout = 10;
}

void conf_free(struct conf *c)
{
	struct profile_conf *p = c->profiles;
	struct pam_rule *r = c->pam_rules;

	while (p) {
		struct profile_conf *next = p->next;

		free(p->model);
		free(p->key_file);
		free(p->key_credential);
		free(p);
		p = next;
	}
	while (r) {
		struct pam_rule *next = r->next;

		free(r->who);
		free(r->settings);
		free(r);
		r = next;
	}
	broker_conf_free(&c->broker);
	free(c->endpoint);
	free(c->management_endpoint);
	free(c->metadata_endpoint);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

int store_kind_parse(const char *s, enum store_kind *out)
{
	if (strcmp(s, "auto") == 0)
		*out = STORE_AUTO;
	else if (strcmp(s, "secret-service") == 0)
		*out = STORE_SECRET_SERVICE;
	else if (strcmp(s, "file") == 0)
		*out = STORE_FILE;
	else if (strcmp(s, "broker") == 0)
		*out = STORE_BROKER;
	else
		return -1;
	return 0;
}

const char *store_kind_name(enum store_kind k)
{
	switch (k) {
	case STORE_SECRET_SERVICE:
		return "secret-service";
	case STORE_FILE:
		return "file";
	case STORE_BROKER:
		return "broker";
	default:
		return "auto";
	}
}

int policy_allows_region(const struct policy *p, const struct region *r)
{
	if (!p->allowed_regions)
		return 1;
	for (size_t i = 0; i < region_count(); i++)
		if (region_at(i) == r)
			return (p->allowed_regions >> i) & 1u;
	return 0;
}

const struct profile_conf *conf_profile(const struct conf *c, const char *name)
{
	for (const struct profile_conf *p = c->profiles; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* A name that looks like a key would be shown, and put in every session's
 * environment by the PAM module (DASHSCOPE_CREDENTIAL_PROFILE). */
#define KEY_LIKE_WHY \
	"looks like a key (sk-/st-); names are shown in clear, so use a plain name such as 'work'"

static int bad(struct ds_err *err, const char *file, unsigned line, const char *name,
	       const char *why)
{
	return ds_err_set(err, DS_EINPUT, "%s:%u: '%s' %s.", file, line, name, why);
}

static int parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int replace_str(char **dst, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

static int region_bit(const char *item, void *ctx)
{
	unsigned *mask = ctx;
	const struct region *r = region_find(item);

	if (!r)
		return 1;
	for (size_t i = 0; i < region_count(); i++)
		if (region_at(i) == r)
			*mask |= 1u << i;
	return 0;
}

static int store_bit(const char *item, void *ctx)
{
	unsigned *mask = ctx;
	enum store_kind k;

	if (store_kind_parse(item, &k) || k == STORE_AUTO)
		return 1;
	*mask |= 1u << k;
	return 0;
}

static int set_defaults(struct conf *c, const char *name, const char *v, const char *file,
			unsigned line, struct ds_err *err)
{
	unsigned long n;

	if (!strcmp(name, "profile")) {
		if (!profile_name_valid(v))
			return bad(err, file, line, name,
				   "must be a profile name of [A-Za-z0-9._-], 1 to 64 characters");
		if (key_like_name(v))
			return bad(err, file, line, name, KEY_LIKE_WHY);
		ds_strcpy(c->default_profile, sizeof(c->default_profile), v);
	} else if (!strcmp(name, "store")) {
		if (store_kind_parse(v, &c->store))
			return bad(err, file, line, name,
				   "must be auto, secret-service, file or broker");
	} else if (!strcmp(name, "lifetime")) {
		if (lifetime_parse(v, 0, &n))
			return bad(err, file, line, name,
				   "must be a number of seconds from 1 to 1800");
		c->lifetime = n;
	} else if (!strcmp(name, "timeout")) {
		if (ds_parse_ulong(v, 300, &n) || n == 0)
			return bad(err, file, line, name,
				   "must be a number of seconds from 1 to 300");
		c->timeout = n;
	} else if (!strcmp(name, "proxy_max_body")) {
		if (ds_parse_ulong(v, 1UL << 30, &n) || n == 0)
			return bad(err, file, line, name,
				   "must be a number of bytes from 1 to 1073741824");
		c->proxy_max_body = n;
	} else if (!strcmp(name, "proxy_idle_timeout")) {
		if (ds_parse_ulong(v, 86400, &n) || n == 0)
			return bad(err, file, line, name,
				   "must be a number of seconds from 1 to 86400");
		c->proxy_idle_timeout = n;
	} else if (!strcmp(name, "proxy_max_total_body")) {
		if (ds_parse_ulong(v, 1UL << 34, &n) || n == 0)
			return bad(err, file, line, name,
				   "must be a number of bytes from 1 to 17179869184");
		c->proxy_max_total_body = n;
	} else if (!strcmp(name, "proxy_max_connections")) {
		if (ds_parse_ulong(v, 16384, &n) || n == 0)
			return bad(err, file, line, name, "must be a number from 1 to 16384");
		c->proxy_max_connections = n;
	} else if (!strcmp(name, "endpoint") || !strcmp(name, "management_endpoint")) {
		struct ds_err e2;

		if (endpoint_check(v, NULL, 0, &e2))
			return ds_err_set(err, DS_EINPUT, "%s:%u: %s", file, line, e2.msg);
		if (replace_str(name[0] == 'e' ? &c->endpoint : &c->management_endpoint, v))
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
	} else if (!strcmp(name, "ca_file")) {
		if (!*v || replace_str(&c->ca_file, v))
			return bad(err, file, line, name, "must name a file");
	} else {
		return bad(err, file, line, name, "is not a setting of [defaults]");
	}
	return DS_OK;
}

static struct profile_conf *profile_get(struct conf *c, const char *name)
{
	struct profile_conf *p;

	for (p = c->profiles; p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	ds_strcpy(p->name, sizeof(p->name), name);
	p->next = c->profiles;
	c->profiles = p;
	return p;
}

/* A systemd credential's name: a file name in $CREDENTIALS_DIRECTORY. */
static int credential_name_valid(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 255 || !strcmp(v, ".") || !strcmp(v, ".."))
		return 0;
	return strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@:+-") ==
	       n;
}

/* key_file or key_credential: one source per profile, the later line's. */
static int set_source(struct profile_conf *p, const char *name, const char *v, int is_system,
		      const char *file, unsigned line, struct ds_err *err)
{
	int is_file = !strcmp(name, "key_file");

	if (is_file && *v != '/')
		return bad(err, file, line, name,
			   "must be an absolute path (the file your secret manager writes)");
	if (is_file && strlen(v) >= PATH_MAX)
		return bad(err, file, line, name, "is longer than this system allows");
	if (!is_file && !credential_name_valid(v))
		return bad(err, file, line, name,
			   "must be a systemd credential name (letters, digits and ._@:+-, no '/')");
	if (replace_str(is_file ? &p->key_file : &p->key_credential, v))
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	free(is_file ? p->key_credential : p->key_file);
	if (is_file)
		p->key_credential = NULL;
	else
		p->key_file = NULL;
	p->source_system = is_system;
	snprintf(p->source_file, sizeof(p->source_file), "%s", file);
	p->source_line = line;
	return DS_OK;
}

static int set_profile(struct conf *c, int is_system, const char *pname, const char *name,
		       const char *v, const char *file, unsigned line, struct ds_err *err)
{
	struct profile_conf *p;
	unsigned long n;

	if (!profile_name_valid(pname))
		return ds_err_set(err, DS_EINPUT,
				  "%s:%u: [profile %s] is not a valid profile name.", file, line,
				  pname);
	if (key_like_name(pname))
		return ds_err_set(err, DS_EINPUT, "%s:%u: the [profile] section's name %s.", file,
				  line, KEY_LIKE_WHY);
	p = profile_get(c, pname);
	if (!p)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (!strcmp(name, "lifetime")) {
		if (lifetime_parse(v, 0, &n))
			return bad(err, file, line, name,
				   "must be a number of seconds from 1 to 1800");
		p->lifetime = n;
	} else if (!strcmp(name, "model")) {
		if (replace_str(&p->model, v))
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
	} else if (!strcmp(name, "region")) {
		p->region = region_find(v);
		if (!p->region)
			return bad(err, file, line, name,
				   "is not a known region (see 'dashscope-credential regions')");
	} else if (!strcmp(name, "workspace")) {
		if (!workspace_valid(v))
			return bad(err, file, line, name,
				   "must be a DNS label (letters, digits, '-')");
		ds_strcpy(p->workspace, sizeof(p->workspace), v);
		ds_ascii_lower(p->workspace);
	} else if (!strcmp(name, "plan")) {
		if (plan_parse(v, &p->plan))
			return bad(err, file, line, name, "must be payg or coding");
		p->has_plan = 1;
	} else if (!strcmp(name, "key_file") || !strcmp(name, "key_credential")) {
		return set_source(p, name, v, is_system, file, line, err);
	} else {
		return bad(err, file, line, name, "is not a setting of a [profile] section");
	}
	return DS_OK;
}

static int set_policy(struct policy *pol, const char *name, const char *v, const char *file,
		      unsigned line, struct ds_err *err)
{
	unsigned long n;

	if (!strcmp(name, "allowed_regions")) {
		pol->allowed_regions = 0;
		if (ds_list_each(v, region_bit, &pol->allowed_regions) || !pol->allowed_regions)
			return bad(err, file, line, name, "must list known regions");
	} else if (!strcmp(name, "allowed_stores")) {
		pol->allowed_stores = 0;
		if (ds_list_each(v, store_bit, &pol->allowed_stores) || !pol->allowed_stores)
			return bad(err, file, line, name,
				   "must list secret-service, file and/or broker");
	} else if (!strcmp(name, "max_lifetime")) {
		if (lifetime_parse(v, 0, &n))
			return bad(err, file, line, name,
				   "must be a number of seconds from 1 to 1800");
		pol->max_lifetime = n;
	} else if (!strcmp(name, "allow_long_lived")) {
		if (parse_bool(v, &pol->allow_long_lived))
			return bad(err, file, line, name, "must be yes or no");
	} else if (!strcmp(name, "require_temporary")) {
		if (parse_bool(v, &pol->require_temporary))
			return bad(err, file, line, name, "must be yes or no");
	} else {
		return bad(err, file, line, name, "is not a setting of [policy]");
	}
	return DS_OK;
}

static int add_pam_rule(struct conf *c, const char *who, const char *v, const char *file,
			unsigned line, struct ds_err *err)
{
	struct pam_rule *r = calloc(1, sizeof(*r)), **tail;

	if (!r || !(r->who = strdup(who)) || !(r->settings = strdup(v))) {
		if (r)
			free(r->who);
		free(r);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	snprintf(r->file, sizeof(r->file), "%s", file);
	r->line = line;
	for (tail = &c->pam_rules; *tail; tail = &(*tail)->next)
		;
	*tail = r;
	return DS_OK;
}

static int on_setting(void *vctx, const char *section, const char *name, const char *v,
		      const char *file, unsigned line, struct ds_err *err)
{
	struct load_ctx *ctx = vctx;
	struct conf *c = ctx->c;

	if (!strcmp(section, "defaults")) {
		const char *from = ctx->is_system ? "system config" : "user config";

		if (!strcmp(name, "profile"))
			c->default_from = from;
		else if (!strcmp(name, "store"))
			c->store_from = from;
		return set_defaults(c, name, v, file, line, err);
	}
	if (!strncmp(section, "profile ", 8))
		return set_profile(c, ctx->is_system, section + 8, name, v, file, line, err);
	if (!strcmp(section, "policy") || !strcmp(section, "pam") || !strcmp(section, "broker")) {
		/* a user cannot loosen the administrator's rules */
		if (!ctx->is_system) {
			c->user_policy_ignored = 1;
			return DS_OK;
		}
		if (!strcmp(section, "pam"))
			return add_pam_rule(c, name, v, file, line, err);
		if (!strcmp(section, "broker"))
			return broker_conf_set(&c->broker, name, v, file, line, err);
		return set_policy(&c->policy, name, v, file, line, err);
	}
	if (!*section)
		return ds_err_set(err, DS_EINPUT, "%s:%u: '%s' is outside any [section].", file,
				  line, name);
	return ds_err_set(err, DS_EINPUT, "%s:%u: unknown section [%s].", file, line, section);
}

int conf_user_path(char *out, size_t n, struct ds_err *err)
{
	const char *over = getenv("DASHSCOPE_CREDENTIAL_CONFIG");

	if (over && *over)
		return path_format(out, n, err, "%s", over);
	return path_xdg("XDG_CONFIG_HOME", ".config", "dashscope-credential/config", out, n, err);
}

int conf_system_path(char *out, size_t n, struct ds_err *err)
{
	const char *over = getenv("DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG");

	if (over && *over)
		return path_format(out, n, err, "%s", over);
	return path_format(out, n, err, "%s", DS_SYSTEM_CONFIG);
}

/* An endpoint override from the environment variable name, checked as
 * the config's are (SPEC sections 2 and 16). */
static int env_endpoint(const char *name, char **out, struct ds_err *err)
{
	const char *v = getenv(name);
	struct ds_err e2;

	if (!v || !*v)
		return DS_OK;
	if (endpoint_check(v, NULL, 0, &e2))
		return ds_err_set(err, DS_EINPUT, "%s: %s", name, e2.msg);
	if (replace_str(out, v))
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	return DS_OK;
}

static int apply_env(struct conf *c, struct ds_err *err)
{
	const char *v;
	int rc;

	v = getenv("DASHSCOPE_CREDENTIAL_PROFILE");
	if (v && *v) {
		if (!profile_name_valid(v))
			return ds_err_set(err, DS_EINPUT,
					  "DASHSCOPE_CREDENTIAL_PROFILE is not a valid profile name.");
		if (key_like_name(v))
			return ds_err_set(err, DS_EINPUT, "DASHSCOPE_CREDENTIAL_PROFILE %s.",
					  KEY_LIKE_WHY);
		ds_strcpy(c->default_profile, sizeof(c->default_profile), v);
		c->default_from = "DASHSCOPE_CREDENTIAL_PROFILE";
	}
	v = getenv("DASHSCOPE_CREDENTIAL_STORE");
	if (v && *v && store_kind_parse(v, &c->store))
		return ds_err_set(err, DS_EINPUT,
				  "DASHSCOPE_CREDENTIAL_STORE must be auto, secret-service, file or broker.");
	if (v && *v)
		c->store_from = "DASHSCOPE_CREDENTIAL_STORE";
	rc = env_endpoint("DASHSCOPE_CREDENTIAL_ENDPOINT", &c->endpoint, err);
	if (!rc)
		rc = env_endpoint("DASHSCOPE_CREDENTIAL_MANAGEMENT_ENDPOINT",
				  &c->management_endpoint, err);
	if (!rc)
		rc = env_endpoint("DASHSCOPE_CREDENTIAL_METADATA_ENDPOINT", &c->metadata_endpoint,
				  err);
	if (rc)
		return rc;
	v = getenv("DASHSCOPE_CREDENTIAL_CA_FILE");
	if (v && *v && replace_str(&c->ca_file, v))
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	return DS_OK;
}

/* A profile whose key comes from a source has its place in the config:
 * the region at least (SPEC section 15). */
static int check_sources(const struct conf *c, struct ds_err *err)
{
	for (const struct profile_conf *p = c->profiles; p; p = p->next)
		if ((p->key_file || p->key_credential) && !p->region)
			return ds_err_set(err, DS_EINPUT,
					  "%s:%u: [profile %s] takes its key from %s but names no region; add 'region = REGION' to the section.",
					  p->source_file, p->source_line, p->name,
					  p->key_file ? "key_file" : "key_credential");
	return DS_OK;
}

int conf_load(struct conf *c, struct ds_err *err)
{
	struct load_ctx sys = { c, 1 }, usr = { c, 0 };
	const char *over = getenv("DASHSCOPE_CREDENTIAL_CONFIG");
	int rc;

	conf_init(c);
	rc = conf_system_path(c->system_path, sizeof(c->system_path), err);
	if (!rc)
		rc = ini_parse_file(c->system_path, 0, on_setting, &sys, err);
	if (rc)
		return rc;
	rc = conf_user_path(c->user_path, sizeof(c->user_path), err);
	if (rc)
		return rc;
	rc = ini_parse_file(c->user_path, over && *over, on_setting, &usr, err);
	if (!rc)
		rc = check_sources(c, err);
	if (rc)
		return rc;
	return apply_env(c, err);
}

int conf_load_system(struct conf *c, const char *path, struct ds_err *err)
{
	struct load_ctx sys = { c, 1 };

	return ini_parse_file(path, 0, on_setting, &sys, err);
}

int conf_load_system_stream(struct conf *c, FILE *fp, const char *path, struct ds_err *err)
{
	struct load_ctx sys = { c, 1 };

	return ini_parse_stream(fp, path, on_setting, &sys, err);
}

int conf_load_buffer(struct conf *c, const char *buf, size_t len, int is_system, struct ds_err *err)
{
	struct load_ctx ctx = { c, is_system };

	int rc = ini_parse_buffer(buf, len, is_system ? "system-config" : "config", on_setting,
				  &ctx, err);

	return rc ? rc : check_sources(c, err);
}

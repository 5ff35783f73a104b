/* SPDX-License-Identifier: MIT */
/* Parses and matches the [broker] rules: "alice = org, research",
 * "@devs = org", "* = org", "max_lifetime = N", "rate = N/min". A caller
 * may use the union of the profiles its lines name. */
#include "config.h"
#include "conf/broker_rules.h"
#include "conf/lifetime.h"
#include "conf/region.h"
#include "conf/names.h"

#include <stdlib.h>
#include <string.h>

static int bad(struct ds_err *err, const char *file, unsigned line, const char *name,
	       const char *why)
{
	return ds_err_set(err, DS_EINPUT, "%s:%u: [broker] '%.40s' %s.", file, line, name, why);
}

/* A user or group name as useradd(8) accepts it, without the odd ones:
 * 1..32 bytes of [A-Za-z0-9._-], not starting with '-'. */
static int account_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || s[0] == '-')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int who_valid(const char *who)
{
	if (!strcmp(who, "*"))
		return 1;
	return account_name_valid(who[0] == '@' ? who + 1 : who);
}

static int item_is_profile(const char *item, void *ctx)
{
	(void)ctx;
	return !profile_name_valid(item);
}

static int set_rate(struct broker_conf *b, const char *v)
{
	const char *slash = strchr(v, '/');
	char num[24];
	unsigned long n;

	if (!slash || strcmp(slash, "/min") || (size_t)(slash - v) >= sizeof(num))
		return -1;
	memcpy(num, v, (size_t)(slash - v));
	num[slash - v] = '\0';
	if (ds_parse_ulong(num, 1000000, &n) || n == 0)
		return -1;
	b->rate = n;
	return 0;
}

static int add_rule(struct broker_conf *b, const char *who, const char *v, const char *file,
		    unsigned line, struct ds_err *err)
{
	struct broker_rule *r, **tail;

	if (!who_valid(who))
		return bad(err, file, line, who,
			   "is neither a user name, @group nor *; rules read 'alice = org' or '@devs = org'");
	if (!*v || ds_list_each(v, item_is_profile, NULL))
		return bad(err, file, line, who,
			   "must list profile names ([A-Za-z0-9._-], 1 to 64)");
	r = calloc(1, sizeof(*r));
	if (!r || !(r->profiles = strdup(v))) {
		free(r);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	ds_strcpy(r->who, sizeof(r->who), who);
	ds_strcpy(r->file, sizeof(r->file), file);
	r->line = line;
	for (tail = &b->rules; *tail; tail = &(*tail)->next)
		;
	*tail = r;
	return DS_OK;
}

static const char *const broker_settings[] = { "max_lifetime", "rate" };

/* The setting name is a typo of, or NULL when it reads as a user name.
 * Case and '-' or '.' for '_' never make a user name ("Max-Lifetime");
 * other slips count only against long settings, as a short one is one
 * edit away from real user names ("rate", "kate"). */
const char *broker_setting_closest(const char *name)
{
	char norm[65];
	size_t i;

	for (i = 0; i < sizeof(norm) - 1 && name[i]; i++)
		norm[i] = name[i] == '-' || name[i] == '.'   ? '_'
			  : name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a')
							     : name[i];
	norm[i] = '\0';
	for (size_t k = 0; k < sizeof(broker_settings) / sizeof(broker_settings[0]); k++) {
		const char *s = broker_settings[k];

		if (!strcmp(norm, s) && strcmp(name, s))
			return s;
		if (strlen(s) >= 8 && strcmp(name, s) && ds_edit_distance(norm, s) <= 2)
			return s;
	}
	return NULL;
}

int broker_conf_set(struct broker_conf *b, const char *name, const char *v, const char *file,
		    unsigned line, struct ds_err *err)
{
	const char *closest = broker_setting_closest(name);
	unsigned long n;

	if (closest)
		return ds_err_set(err, DS_EINPUT,
				  "%s:%u: [broker] '%.40s' is no setting: did you mean %s? (a rule for a user reads 'alice = org').",
				  file, line, name, closest);

	if (!strcmp(name, "max_lifetime")) {
		if (lifetime_parse(v, 0, &n))
			return bad(err, file, line, name,
				   "must be a number of seconds from 1 to 1800");
		b->max_lifetime = n;
		return DS_OK;
	}
	if (!strcmp(name, "rate")) {
		if (set_rate(b, v))
			return bad(err, file, line, name,
				   "must read N/min with N from 1 to 1000000 (e.g. 60/min)");
		return DS_OK;
	}
	return add_rule(b, name, v, file, line, err);
}

void broker_conf_free(struct broker_conf *b)
{
	struct broker_rule *r = b->rules;

	while (r) {
		struct broker_rule *next = r->next;

		free(r->profiles);
		free(r);
		r = next;
	}
	memset(b, 0, sizeof(*b));
}

static int rule_names(const struct broker_rule *r, const struct broker_caller *who)
{
	if (!strcmp(r->who, "*"))
		return 1;
	if (r->who[0] != '@')
		return who->user && !strcmp(r->who, who->user);
	for (size_t i = 0; i < who->ngroups; i++)
		if (who->groups[i] && !strcmp(r->who + 1, who->groups[i]))
			return 1;
	return 0;
}

int broker_rules_name(const struct broker_conf *b, const struct broker_caller *who)
{
	for (const struct broker_rule *r = b->rules; r; r = r->next)
		if (rule_names(r, who))
			return 1;
	return 0;
}

static int item_is(const char *item, void *ctx)
{
	return !strcmp(item, (const char *)ctx);
}

int broker_rules_allow(const struct broker_conf *b, const struct broker_caller *who,
		       const char *profile)
{
	for (const struct broker_rule *r = b->rules; r; r = r->next)
		if (rule_names(r, who) && ds_list_each(r->profiles, item_is, (void *)profile))
			return 1;
	return 0;
}

unsigned long broker_rate(const struct broker_conf *b)
{
	return b->rate ? b->rate : BROKER_RATE_DEFAULT;
}

/* SPDX-License-Identifier: MIT */
/* The one table of environment variables that `env`/`exec` write and the
 * PAM module's allow-list is drawn from. */
#include "config.h"
#include "conf/envvars.h"
#include "base/util.h"

#include <string.h>

static const struct envvar table[] = {
	{ "DASHSCOPE_API_KEY", ENVVAR_DASHSCOPE, EV_KEY, 1, 0 },
	{ "DASHSCOPE_HTTP_BASE_URL", ENVVAR_DASHSCOPE, EV_NATIVE_BASE_URL, 0, 1 },
	{ "DASHSCOPE_COMPATIBLE_BASE_URL", ENVVAR_DASHSCOPE, EV_BASE_URL, 0, 1 },
	{ "DASHSCOPE_API_REGION", ENVVAR_DASHSCOPE, EV_REGION, 0, 1 },
	{ "OPENAI_API_KEY", ENVVAR_OPENAI, EV_KEY, 1, 0 },
	{ "OPENAI_BASE_URL", ENVVAR_OPENAI, EV_BASE_URL, 0, 1 },
	{ "OPENAI_MODEL", ENVVAR_OPENAI, EV_MODEL, 0, 1 },
	{ "ANTHROPIC_AUTH_TOKEN", ENVVAR_ANTHROPIC, EV_KEY, 1, 0 },
	/* Claude Code prefers it over ANTHROPIC_AUTH_TOKEN: a stale one
	 * would win over the fresh key, so exec removes it */
	{ "ANTHROPIC_API_KEY", ENVVAR_ANTHROPIC, EV_NONE, 1, 0 },
	{ "ANTHROPIC_BASE_URL", ENVVAR_ANTHROPIC, EV_ANTHROPIC_BASE_URL, 0, 1 },
	{ "ANTHROPIC_MODEL", ENVVAR_ANTHROPIC, EV_MODEL, 0, 1 },
	{ "DASHSCOPE_CREDENTIAL_PROFILE", ENVVAR_ALWAYS, EV_PROFILE, 0, 1 },
	{ "DASHSCOPE_CREDENTIAL_EXPIRES_AT", ENVVAR_ALWAYS, EV_EXPIRES_AT, 0, 0 },
};

const struct envvar *envvar_table(size_t *n)
{
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}

static int family_bit(const char *item, void *ctx)
{
	unsigned *mask = ctx;

	if (!strcmp(item, "dashscope"))
		*mask |= ENVVAR_DASHSCOPE;
	else if (!strcmp(item, "openai"))
		*mask |= ENVVAR_OPENAI;
	else if (!strcmp(item, "anthropic"))
		*mask |= ENVVAR_ANTHROPIC;
	else
		return 1;
	return 0;
}

int envvar_families_parse(const char *list, unsigned *mask)
{
	*mask = 0;
	return ds_list_each(list, family_bit, mask) || !*mask ? -1 : 0;
}

int envvar_pam_allowed(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].pam_allowed && strlen(table[i].name) == len &&
		    !memcmp(table[i].name, name, len))
			return 1;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The one place a lifetime is read as a number (conf/lifetime.h): every
 * later check compares numbers, never the text the caller wrote. */
#include "config.h"
#include "conf/lifetime.h"
#include "conf/conf.h"
#include "base/util.h"

int lifetime_parse(const char *s, int allow_zero, unsigned long *out)
{
	unsigned long n;

	if (ds_parse_ulong(s, DS_LIFETIME_MAX, &n) != 0 || (n == 0 && !allow_zero))
		return -1;
	*out = n;
	return 0;
}

unsigned long lifetime_for(const struct conf *c, const char *profile, int given,
			   unsigned long asked)
{
	const struct profile_conf *pc = profile ? conf_profile(c, profile) : NULL;

	if (given)
		return asked;
	if (pc && pc->lifetime)
		return pc->lifetime;
	if (c->lifetime)
		return c->lifetime;
	return DS_LIFETIME_DEFAULT;
}

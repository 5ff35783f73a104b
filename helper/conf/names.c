/* SPDX-License-Identifier: MIT */
/* What a profile may be called (conf/names.h). */
#include "config.h"
#include "conf/names.h"

#include <string.h>
#include <strings.h>

int profile_name_valid(const char *s)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789._-";
	size_t len = strlen(s);

	return len >= 1 && len <= 64 && strspn(s, allowed) == len;
}

int key_like_name(const char *name)
{
	return strncasecmp(name, "sk-", 3) == 0 || strncasecmp(name, "st-", 3) == 0;
}

/* SPDX-License-Identifier: MIT */
/* The one region table (SPEC section 2) and everything derived from it:
 * hosts, base URLs, token endpoint, and the reverse host -> place map. */
#include "config.h"
#include "conf/region.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct region regions[] = {
	{ "cn-beijing",
	  { "beijing", "cn", "china", NULL },
	  "dashscope.aliyuncs.com",
	  "coding.dashscope.aliyuncs.com" },
	{ "ap-southeast-1",
	  { "singapore", "sg", "intl", "international", NULL },
	  "dashscope-intl.aliyuncs.com",
	  "coding-intl.dashscope.aliyuncs.com" },
	{ "us-east-1", { "virginia", "us", NULL }, "dashscope-us.aliyuncs.com", NULL },
	{ "cn-hongkong", { "hongkong", "hk", NULL }, "cn-hongkong.dashscope.aliyuncs.com", NULL },
	{ "eu-central-1", { "frankfurt", "de", "eu", NULL }, NULL, NULL },
	{ "ap-northeast-1", { "tokyo", "jp", NULL }, NULL, NULL },
};

#define MANAGEMENT_HOST "modelstudio.%s.aliyuncs.com"
#define METADATA_BASE "http://100.100.100.200"

static int base_copy(const char *override, char *out, size_t n, int len)
{
	if (override && *override) {
		len = snprintf(out, n, "%s", override);
		/* schemes compare case-insensitively: HTTPS:// is https:// */
		for (char *c = out; *c && *c != ':'; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

int region_management_base(const struct region *r, const char *override, char *out, size_t n)
{
	return base_copy(override, out, n, snprintf(out, n, "https://" MANAGEMENT_HOST, r->id));
}

int region_metadata_base(const char *override, char *out, size_t n)
{
	return base_copy(override, out, n, snprintf(out, n, "%s", METADATA_BASE));
}

size_t region_count(void)
{
	return sizeof(regions) / sizeof(regions[0]);
}

const struct region *region_at(size_t i)
{
	return i < region_count() ? &regions[i] : NULL;
}

const struct region *region_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < region_count(); i++) {
		if (strcasecmp(name, regions[i].id) == 0)
			return &regions[i];
		for (size_t a = 0; regions[i].aliases[a]; a++)
			if (strcasecmp(name, regions[i].aliases[a]) == 0)
				return &regions[i];
	}
	return NULL;
}

int plan_parse(const char *s, enum plan *out)
{
	if (strcasecmp(s, "payg") == 0)
		*out = PLAN_PAYG;
	else if (strcasecmp(s, "coding") == 0)
		*out = PLAN_CODING;
	else
		return -1;
	return 0;
}

const char *plan_name(enum plan p)
{
	return p == PLAN_CODING ? "coding" : "payg";
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int workspace_valid(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

void region_workspace_pattern(const struct region *r, char *out, size_t n)
{
	snprintf(out, n, "{ws}.%s" DS_WS_SUFFIX, r->id);
}

/* SPDX-License-Identifier: MIT */
/* The region table of SPEC section 2, in one place: ids, aliases, hosts,
 * plans and workspace ids. Addresses built from it are conf/place.h's. */
#ifndef DS_REGION_H
#define DS_REGION_H

#include <stddef.h>
#include "base/util.h"

enum plan { PLAN_PAYG = 0, PLAN_CODING = 1 };

struct region {
	const char *id;
	const char *aliases[5]; /* NULL-terminated */
	const char *shared_host; /* NULL: a workspace id is required */
	const char *coding_host; /* NULL: no Coding Plan here */
};

#define DS_WORKSPACE_MAX 64 /* a DNS label is at most 63 bytes */
#define DS_HOST_MAX 256
#define DS_URL_MAX 600
/* a workspace host: WORKSPACE.REGION then this */
#define DS_WS_SUFFIX ".maas.aliyuncs.com"

size_t region_count(void);
const struct region *region_at(size_t i);

/* Looks a region up by id or alias, case-insensitively; NULL if unknown. */
const struct region *region_find(const char *name);

int plan_parse(const char *s, enum plan *out);
const char *plan_name(enum plan p);

/* 1 when s is a workspace id we accept: a DNS label, 1..63 bytes of
 * [A-Za-z0-9-], not starting or ending with '-'. */
int workspace_valid(const char *s);

/* "https://modelstudio.<region>.aliyuncs.com", the key-management API of
 * the region (SPEC section 16), or the override (endpoint_check'ed) when
 * set. -1 when it does not fit n. */
int region_management_base(const struct region *r, const char *override, char *out, size_t n);

/* "http://100.100.100.200", the ECS metadata service, or the override. */
int region_metadata_base(const char *override, char *out, size_t n);

/* "{ws}.<region>.maas.aliyuncs.com": the workspace host pattern, for
 * people (regions). */
void region_workspace_pattern(const struct region *r, char *out, size_t n);

#endif

/* SPDX-License-Identifier: MIT */
/* A profile (one long-lived key's name and place) and a list of them, as
 * the stores return them and profile selection reads them. */
#ifndef DS_PROFILE_H
#define DS_PROFILE_H

#include <stddef.h>
#include "conf/conf.h"
#include "conf/region.h"
#include "conf/place.h"

struct profile {
	char name[DS_PROFILE_MAX];
	struct place place;
	char key_tail[32]; /* "sk-…abcd", filled by store_list with tails */
	/* the key's id in the key-management API (SPEC section 16), stored
	 * beside it; "" when not known */
	char key_id[24];
};

struct profile_list {
	struct profile *items;
	size_t n;
};

void profile_list_free(struct profile_list *l);
int profile_list_add(struct profile_list *l, const struct profile *p);
void profile_list_sort(struct profile_list *l);
const struct profile *profile_list_find(const struct profile_list *l, const char *name);

/* What a request or the command line asks for. */
struct criteria {
	const char *profile; /* explicit profile, or NULL */
	const struct region *region; /* NULL: any */
	const char *workspace; /* NULL: any; "" : none */
	int has_plan;
	enum plan plan;
	int place_request; /* protocol, host, url or path was given */
	int place_ok; /* ...and it names a DashScope place we serve */
};

/* 1 when p is what cr names: its profile, region, workspace and plan
 * where given (the one rule for get, erase and the broker). */
int profile_matches(const struct profile *p, const struct criteria *cr);

/* Chooses a profile (SPEC section 4). DS_OK with *out NULL means "no
 * match"; an explicit profile that disagrees with the other criteria, or
 * several matches without the default among them, is DS_EFAIL. */
int select_profile(const struct profile_list *l, const struct criteria *cr,
		   const char *default_name, const struct profile **out, struct ds_err *err);

#endif

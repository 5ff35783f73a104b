/* SPDX-License-Identifier: MIT */
/* Profile lists and the selection rules of SPEC section 4. */
#include "config.h"
#include "core/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void profile_list_free(struct profile_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

int profile_list_add(struct profile_list *l, const struct profile *p)
{
	struct profile *items = realloc(l->items, (l->n + 1) * sizeof(*items));

	if (!items)
		return -1;
	items[l->n++] = *p;
	l->items = items;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct profile *)a)->name, ((const struct profile *)b)->name);
}

void profile_list_sort(struct profile_list *l)
{
	if (l->n > 1)
		qsort(l->items, l->n, sizeof(*l->items), by_name);
}

const struct profile *profile_list_find(const struct profile_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].name, name))
			return &l->items[i];
	return NULL;
}

int profile_matches(const struct profile *p, const struct criteria *cr)
{
	if (cr->profile && strcmp(p->name, cr->profile) != 0)
		return 0;
	if (cr->region && p->place.region != cr->region)
		return 0;
	if (cr->workspace && strcmp(p->place.workspace, cr->workspace) != 0)
		return 0;
	if (cr->has_plan && p->place.plan != cr->plan)
		return 0;
	return 1;
}

int select_profile(const struct profile_list *l, const struct criteria *cr,
		   const char *default_name, const struct profile **out, struct ds_err *err)
{
	const struct profile *found = NULL, *def = NULL;
	char names[400] = "";
	size_t count = 0;

	*out = NULL;
	/* a place we do not serve matches nothing, never the default
	 * (git CVE-2020-11008) */
	if (cr->place_request && !cr->place_ok)
		return DS_OK;
	if (cr->profile) {
		const struct profile *p = profile_list_find(l, cr->profile);

		if (!p)
			return DS_OK;
		if (!profile_matches(p, cr))
			return ds_err_set(err, DS_EFAIL,
					  "Profile %s is for %s%s%s (%s), which is not what was asked for; drop the profile or the region/workspace/plan.",
					  p->name, p->place.region->id,
					  p->place.workspace[0] ? "/" : "", p->place.workspace,
					  plan_name(p->place.plan));
		*out = p;
		return DS_OK;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!profile_matches(&l->items[i], cr))
			continue;
		count++;
		found = &l->items[i];
		if (default_name && !strcmp(found->name, default_name))
			def = found;
		if (strlen(names) + strlen(found->name) + 3 < sizeof(names))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 count > 1 ? ", " : "", found->name);
	}
	if (count <= 1) {
		*out = found;
		return DS_OK;
	}
	if (def) {
		*out = def;
		return DS_OK;
	}
	/* the default is the thing to fix, not the choice among several */
	if (default_name && !profile_list_find(l, default_name))
		return ds_err_set(err, DS_EFAIL,
				  "The default profile %s does not exist; store it with 'add %s --region REGION', or choose another with --profile or 'add OTHER --default'.",
				  default_name, default_name);
	return ds_err_set(err, DS_EFAIL,
			  "Several profiles match (%s); choose one with --profile or set a default with 'add --default'.",
			  names);
}

/* SPDX-License-Identifier: MIT */
/* regions: the region table, for people and as JSON. */
#include "config.h"
#include "cmd/cmd_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *region_json(const struct region *r)
{
	json_t *aliases = json_array();

	for (size_t a = 0; r->aliases[a]; a++)
		json_array_append_new(aliases, json_string(r->aliases[a]));
	return json_pack("{s:s, s:o, s:s?, s:s?}", "id", r->id, "aliases", aliases, "shared_host",
			 r->shared_host, "coding_host", r->coding_host);
}

int cmd_regions(struct app *app, struct ds_err *err)
{
	if (app->o.json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < region_count(); i++) {
			const struct region *r = region_at(i);
			json_t *o = region_json(r);
			char ws[128];

			region_workspace_pattern(r, ws, sizeof(ws));
			json_object_set_new(o, "workspace_host", json_string(ws));
			json_array_append_new(arr, o);
		}
		return app_print_json(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER, err);
	}
	printf("%-15s %-34s %-36s %-40s %s\n", "REGION", "ALIASES", "SHARED HOST", "WORKSPACE HOST",
	       "CODING PLAN HOST");
	for (size_t i = 0; i < region_count(); i++) {
		const struct region *r = region_at(i);
		char aliases[128] = "", ws[128];

		for (size_t a = 0; r->aliases[a]; a++)
			snprintf(aliases + strlen(aliases), sizeof(aliases) - strlen(aliases),
				 "%s%s", a ? "," : "", r->aliases[a]);
		region_workspace_pattern(r, ws, sizeof(ws));
		printf("%-15s %-34s %-36s %-40s %s\n", r->id, aliases,
		       r->shared_host ? r->shared_host : "(workspace id required)", ws,
		       r->coding_host ? r->coding_host : "-");
	}
	return DS_OK;
}

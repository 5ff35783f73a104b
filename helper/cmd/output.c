/* SPDX-License-Identifier: MIT */
/* Standard output, for every command that prints: a key goes out in one
 * write and is wiped, JSON in the one shape list and status share. */
#include "config.h"
#include "cmd/cmd_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int app_emit(char *buf, size_t len, struct ds_err *err)
{
	size_t off = 0;
	int rc = DS_OK;

	while (off < len) {
		ssize_t w = write(STDOUT_FILENO, buf + off, len - off);

		if (w <= 0) {
			rc = ds_err_set(err, DS_EFAIL, "Cannot write to standard output.");
			break;
		}
		off += (size_t)w;
	}
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

int app_print_json(json_t *v, size_t flags, struct ds_err *err)
{
	char *s = json_dumps(v, flags);

	json_decref(v);
	if (!s)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	puts(s);
	token_json_free(s);
	return DS_OK;
}

json_t *app_profile_json(const struct app *app, const struct profile *p)
{
	const char *what, *from = store_profile_from(&app->store, p->name, &what);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "profile", p->name, "region",
			 p->place.region->id, "workspace", p->place.workspace, "plan",
			 plan_name(p->place.plan), "store", from, "key", p->key_tail, "source",
			 what);
}

void cmd_note_lowered(const struct app *app, const struct credential *c)
{
	/* said, not done silently: a user who asked for 1800 s and gets
	 * 300 s must know why the key dies early */
	if (c->lifetime_lowered)
		fprintf(stderr,
			"dashscope-credential: note: the system policy (max_lifetime = %lu) lowers the lifetime from %lu to %lu seconds.\n",
			app->conf.policy.max_lifetime, c->lifetime_asked, c->lifetime);
}

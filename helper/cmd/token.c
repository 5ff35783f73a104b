/* SPDX-License-Identifier: MIT */
/* token: one temporary key on stdout, for Claude Code's apiKeyHelper and
 * Codex CLI's auth command; and the one way a command obtains a key. */
#include "config.h"
#include "cmd/cmd_int.h"

#include <stdlib.h>
#include <string.h>

int cmd_obtain(struct app *app, struct credential *c, struct ds_err *err)
{
	struct want w;
	int found = 0, rc;

	rc = want_from_options(app, &w, err);
	if (!rc)
		rc = credential_obtain(app, &w, c, &found, err);
	if (!rc && !found)
		rc = app_no_profile(&w, err);
	if (rc && found)
		credential_free(c);
	if (!rc)
		cmd_note_lowered(app, c);
	return rc;
}

int cmd_token(struct app *app, struct ds_err *err)
{
	struct credential c;
	char *buf;
	int rc;

	rc = cmd_obtain(app, &c, err);
	if (rc)
		return rc;
	buf = malloc(c.key->len + 2);
	if (!buf) {
		credential_free(&c);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	memcpy(buf, c.key->data, c.key->len);
	buf[c.key->len] = '\n';
	rc = app_emit(buf, c.key->len + 1, err);
	credential_free(&c);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* The system key file of the broker (SPEC section 12): `add`, `list` and
 * `remove` with --system. Root makes the directory for the service user,
 * then becomes that user for good, so the file store's own checks (owner,
 * modes, no symlinks) and its atomic writer apply unchanged. */
#include "config.h"
#include "core/app.h"
#include "broker/broker.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

void system_keyfile_path(char *out, size_t n)
{
	const char *over = getenv("DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE");

	if (over && *over)
		snprintf(out, n, "%s", over);
	else
		snprintf(out, n, "%s/lib/dashscope-credential/keys", LOCALSTATEDIR);
}

/* The key directory, 0700 and owned by the service user; made here when
 * missing (its parent must exist: /var/lib, say). */
static int keydir_prepare(const char *path, const struct passwd *pw, struct ds_err *err)
{
	char dir[512], *slash;
	struct stat sb;

	if (ds_strcpy(dir, sizeof(dir), path))
		return ds_err_set(err, DS_EINPUT, "The system key file path is too long.");
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return ds_err_set(err, DS_EINPUT, "The system key file %s has no directory.", path);
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ds_err_set(err, DS_ESTORE, "Cannot create %s: %s.", dir, strerror(errno));
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return ds_err_set(err, DS_ESTORE, "%s is not a directory.", dir);
	if (sb.st_uid != pw->pw_uid && sb.st_uid != 0)
		return ds_err_set(err, DS_ESTORE,
				  "Refusing %s: it belongs to neither root nor " BROKER_USER ".",
				  dir);
	if (chown(dir, pw->pw_uid, pw->pw_gid) != 0 || chmod(dir, 0700) != 0)
		return ds_err_set(err, DS_ESTORE, "Cannot give %s to " BROKER_USER ": %s.", dir,
				  strerror(errno));
	return DS_OK;
}

static int service_user(struct passwd **pw, struct ds_err *err)
{
	*pw = getpwnam(BROKER_USER);
	if (!*pw)
		return ds_err_set(err, DS_EFAIL,
				  "The service user " BROKER_USER
				  " does not exist; create it with 'systemd-sysusers' (the package installs its sysusers.d file) and try again.");
	return DS_OK;
}

/* Becomes the service user: groups, gid, uid, each checked, for good. */
static int become(const struct passwd *pw, struct ds_err *err)
{
	if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot switch to the user " BROKER_USER ": %s.",
				  strerror(errno));
	return DS_OK;
}

/* Root, and the service user's entry: what every change to the broker's
 * keys starts with. */
static int root_with_service_user(struct passwd **pw, struct ds_err *err)
{
	if (geteuid() != 0)
		return ds_err_set(err, DS_EPOLICY,
				  "--system changes the broker's keys and needs root (sudo).");
	return service_user(pw, err);
}

int system_keys_as_service(struct system_ids *saved, struct ds_err *err)
{
	struct passwd *pw;
	int e, rc;

	rc = root_with_service_user(&pw, err);
	if (rc)
		return rc;
	saved->gid = getegid();
	saved->ngroups =
		getgroups((int)(sizeof(saved->groups) / sizeof(saved->groups[0])), saved->groups);
	if (saved->ngroups < 0)
		return ds_err_set(err, DS_EFAIL, "Cannot read root's groups: %s.", strerror(errno));
	if (setgroups(1, &pw->pw_gid) == 0 && setegid(pw->pw_gid) == 0 && seteuid(pw->pw_uid) == 0)
		return DS_OK;
	e = errno;
	/* what did change goes back; the sentence is about the switch */
	(void)system_keys_as_root(saved, NULL);
	return ds_err_set(err, DS_EFAIL, "Cannot act as the user " BROKER_USER ": %s.",
			  strerror(e));
}

int system_keys_as_root(const struct system_ids *saved, struct ds_err *err)
{
	if (seteuid(0) != 0 || setegid(saved->gid) != 0 ||
	    setgroups((size_t)saved->ngroups, saved->groups) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot become root again: %s.", strerror(errno));
	return DS_OK;
}

int system_keys_open(struct app *app, struct ds_err *err)
{
	char path[PATH_MAX];
	struct passwd *pw;
	int rc;

	rc = root_with_service_user(&pw, err);
	if (rc)
		return rc;
	system_keyfile_path(path, sizeof(path));
	rc = keydir_prepare(path, pw, err);
	if (!rc)
		rc = become(pw, err);
	if (!rc)
		rc = store_open_file(&app->store, path, "--system: the broker's key file", err);
	if (!rc && (rc = store_open_sources(&app->store, &app->conf, err)))
		store_close(&app->store);
	if (!rc)
		app->store_ready = 1;
	return rc;
}

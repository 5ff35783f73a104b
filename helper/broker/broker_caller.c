/* SPDX-License-Identifier: MIT */
/* Who is calling (SPEC section 12): the uid of the connection (SO_PEERCRED,
 * fixed at connect time), the user name of that uid and the groups the
 * group database gives that name now (getgrouplist), never the peer's
 * effective gid: a setgid copy or an old newgrp shell keeps that one after
 * the administrator removed the user from the group. */
#include "config.h"
#include "broker/broker_int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CALLER_BUF_START 16384
#define CALLER_BUF_MAX (64L * 1024 * 1024) /* no entry is bigger: a broken NSS is */
#define CALLER_GIDS_START 64
#define CALLER_GIDS_MAX 65536 /* NGROUPS_MAX of Linux */

void broker_caller_free(struct caller *c)
{
	for (size_t i = 0; i < c->ngroups; i++)
		free(c->groups[i]);
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
}

/* The group entry of g, whatever its size (a big LDAP or sssd group is
 * far over the usual 8 KiB): *name is the caller's to free, NULL when g
 * has no entry. DS_OK, or DS_EFAIL when the database cannot say. */
static int caller_group_name(gid_t g, char **name)
{
	struct group gr, *res = NULL;
	size_t size = CALLER_BUF_START;
	char *buf = NULL;
	int rc = DS_EFAIL, e;

	*name = NULL;
	for (;;) {
		char *nb = realloc(buf, size);

		if (!nb)
			goto out;
		buf = nb;
		e = getgrgid_r(g, &gr, buf, size, &res);
		if (e != ERANGE)
			break;
		if (size >= CALLER_BUF_MAX)
			goto out;
		size *= 2;
	}
	if (e == 0 && res && !(*name = strdup(gr.gr_name)))
		goto out;
	rc = e == 0 || e == ENOENT || e == ESRCH ? DS_OK : DS_EFAIL;
out:
	free(buf);
	return rc;
}

/* The user's groups in the group database, its primary one first:
 * *gids is the caller's to free. */
static int caller_group_ids(const char *user, gid_t primary, gid_t **gids, int *n)
{
	int cap = CALLER_GIDS_START;
	gid_t *g = NULL;

	for (;;) {
		gid_t *ng = realloc(g, (size_t)cap * sizeof(*g));
		int want = cap;

		if (!ng) {
			free(g);
			return DS_EFAIL;
		}
		g = ng;
		if (getgrouplist(user, primary, g, &want) >= 0) {
			*gids = g;
			*n = want;
			return DS_OK;
		}
		/* want is how many there are; some libcs leave it: double */
		if (cap >= CALLER_GIDS_MAX) {
			free(g);
			return DS_EFAIL;
		}
		cap = want > cap ? want : cap * 2;
		if (cap > CALLER_GIDS_MAX)
			cap = CALLER_GIDS_MAX;
	}
}

static int caller_has_group(const struct caller *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i], name))
			return 1;
	return 0;
}

static int caller_add_groups(struct caller *c, const char *user, gid_t primary, struct ds_err *err)
{
	gid_t *gids = NULL;
	int n = 0, rc = caller_group_ids(user, primary, &gids, &n);

	if (rc == DS_OK && !(c->groups = calloc((size_t)n + 1, sizeof(*c->groups))))
		rc = DS_EFAIL;
	for (int i = 0; rc == DS_OK && i < n; i++) {
		char *name;

		rc = caller_group_name(gids[i], &name);
		if (rc == DS_OK && name && caller_has_group(c, name))
			free(name);
		else if (rc == DS_OK && name)
			c->groups[c->ngroups++] = name;
	}
	free(gids);
	if (rc != DS_OK)
		return ds_err_set(err, DS_EFAIL, "The groups of user %s are unknown.", user);
	return DS_OK;
}

/* The passwd entry of uid into c->user, and its primary gid. */
static int caller_passwd(uid_t uid, struct caller *c, gid_t *primary, struct ds_err *err)
{
	struct passwd pw, *res = NULL;
	size_t size = CALLER_BUF_START;
	char *buf = NULL;
	int rc, e;

	for (;;) {
		char *nb = realloc(buf, size);

		if (!nb) {
			free(buf);
			return ds_err_set(err, DS_EFAIL, "Out of memory.");
		}
		buf = nb;
		errno = 0;
		e = getpwuid_r(uid, &pw, buf, size, &res);
		/* glibc's files backend says "not found" when it could not
		 * open the file: errno tells */
		if (e == 0 && !res && (errno == EMFILE || errno == ENFILE))
			e = errno;
		if (e != ERANGE || size >= CALLER_BUF_MAX)
			break;
		size *= 2;
	}
	if (e == 0 && res) {
		ds_strcpy(c->user, sizeof(c->user), pw.pw_name);
		*primary = pw.pw_gid;
		rc = DS_OK;
	} else if (e == EMFILE || e == ENFILE || e == ENOMEM) {
		/* out of descriptors or memory for now: busy, tried again by
		 * the client, never "no such user" */
		rc = ds_err_set(err, DS_ENET,
				"The broker is busy (out of descriptors); try again.");
	} else if (e == 0 || e == ENOENT || e == ESRCH) {
		rc = ds_err_set(err, DS_EPOLICY, "uid %lu has no passwd entry.",
				(unsigned long)uid);
	} else {
		rc = ds_err_set(err, DS_EFAIL, "The passwd entry of uid %lu cannot be read: %s.",
				(unsigned long)uid, strerror(e));
	}
	free(buf);
	return rc;
}

/* The user name and groups are looked up on every request: a user the
 * administrator removed from a group loses it at the next one. DS_ENET
 * when the broker is too short of descriptors to look (busy). */
int broker_caller_identify(int fd, struct caller *c, struct ds_err *err)
{
	struct ucred uc;
	socklen_t sl = sizeof(uc);
	gid_t primary = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0)
		return ds_err_set(err, DS_EFAIL, "The caller's credentials are unknown.");
	c->uid = uc.uid;
	c->pid = uc.pid;
	rc = caller_passwd(uc.uid, c, &primary, err);
	if (rc == DS_OK)
		rc = caller_add_groups(c, c->user, primary, err);
	return rc;
}

/* The caller as the [broker] rules see it (conf/broker_rules.h); it
 * points into c. */
struct broker_caller broker_caller_rules(const struct caller *c)
{
	struct broker_caller bc = { c->user, (const char *const *)c->groups, c->ngroups };

	return bc;
}

/* SPDX-License-Identifier: MIT */
/* Who is calling (SPEC section 12): the kernel's credentials of the
 * connection (SO_PEERCRED, fixed at connect time), the user name of that
 * uid and the groups the group database gives it now (getgrouplist). */
#include "config.h"
#include "broker/broker_int.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void broker_caller_free(struct caller *c)
{
	for (size_t i = 0; i < c->ngroups; i++)
		free(c->groups[i]);
	c->ngroups = 0;
}

static void caller_add_group(struct caller *c, gid_t g)
{
	struct group gr, *res = NULL;
	char buf[8192];

	if (c->ngroups == BROKER_MAX_GROUPS || getgrgid_r(g, &gr, buf, sizeof(buf), &res) || !res)
		return;
	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i], gr.gr_name))
			return;
	c->groups[c->ngroups] = strdup(gr.gr_name);
	if (c->groups[c->ngroups])
		c->ngroups++;
}

/* The user name and groups are looked up on every request: a user the
 * administrator removed from a group loses it at the next one. */
int broker_caller_identify(int fd, struct caller *c, struct ds_err *err)
{
	struct ucred uc;
	socklen_t sl = sizeof(uc);
	struct passwd pw, *res = NULL;
	char buf[8192];
	gid_t gids[BROKER_MAX_GROUPS];
	int n = BROKER_MAX_GROUPS;

	memset(c, 0, sizeof(*c));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0)
		return ds_err_set(err, DS_EFAIL, "The caller's credentials are unknown.");
	c->uid = uc.uid;
	c->gid = uc.gid;
	c->pid = uc.pid;
	if (getpwuid_r(uc.uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return ds_err_set(err, DS_EPOLICY, "uid %lu has no passwd entry.",
				  (unsigned long)uc.uid);
	ds_strcpy(c->user, sizeof(c->user), pw.pw_name);
	caller_add_group(c, uc.gid);
	if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) < 0)
		n = BROKER_MAX_GROUPS; /* more than we look at: the first ones */
	for (int i = 0; i < n; i++)
		caller_add_group(c, gids[i]);
	return DS_OK;
}

/* The caller as the [broker] rules see it (conf/broker_rules.h); it
 * points into c. */
struct broker_caller broker_caller_rules(const struct caller *c)
{
	struct broker_caller bc = { c->user, (const char *const *)c->groups, c->ngroups };

	return bc;
}

/* SPDX-License-Identifier: MIT */
/* Keys sealed for the broker's service (SPEC section 15): `add --system
 * --sealed` encrypts the key with systemd-creds into
 * /etc/credstore.encrypted/dashscope-credential.PROFILE, adds the drop-in
 * that loads it (LoadCredentialEncrypted=) and names it in the system
 * config (key_credential); `remove --system` takes all three away;
 * `doctor` checks that a sealed key opens (system_sealed.c). */
#ifndef DS_SYSTEM_SEALED_H
#define DS_SYSTEM_SEALED_H

#include <limits.h>
#include "conf/conf.h"
#include "core/profile.h"
#include "base/secret.h"
#include "base/util.h"

#define SEALED_CRED_PREFIX "dashscope-credential."
#define SEALED_SERVICE "dashscope-credential-broker.service"

/* What was changed, for the command's report. */
struct sealed_report {
	char sealed[PATH_MAX]; /* the sealed file, as the system sees it */
	char dropin[PATH_MAX];
	char config[PATH_MAX];
	char cred[128]; /* the credential's name */
	const char *with_key; /* --with-key= given to systemd-creds */
	int had_sealed, had_dropin, had_config; /* remove: what was there */
	/* the profile's plain key (add and remove) and its AccessKey (remove)
	 * taken out of the broker's key file plain */
	int had_plain, had_access_key;
	char plain[PATH_MAX];
	int removed_dir; /* remove: the drop-in's directory dropin_dir went too */
	char dropin_dir[PATH_MAX];
	/* systemctl daemon-reload and try-restart of the broker: 1 done, 0
	 * systemd not running, -1 under a test root, -2 failed (reload_why
	 * says why) */
	int reloaded;
	char reload_why[sizeof(((struct ds_err *)0)->msg)];
};

/* Seals key for profile p (root only; DS_EPOLICY otherwise): the three
 * files written as one, or none of them. c is the loaded configuration
 * (its system file is the one changed). */
int system_sealed_add(const struct conf *c, const struct profile *p, const struct secret *key,
		      struct sealed_report *rep, struct ds_err *err);

/* Removes profile name's sealed key, drop-in and config entry (root
 * only); *found is 0, and nothing changed, when it has none of them. */
int system_sealed_remove(const struct conf *c, const char *name, int *found,
			 struct sealed_report *rep, struct ds_err *err);

/* `add --system` of a plain key for profile name (root): DS_EPOLICY,
 * naming it, when the profile has a sealed key (its sealed file, its
 * drop-in, or key_credential naming it in the system config), for a
 * plain copy beside a sealed key is what sealing takes away. With lock,
 * the check is made under the lock add and remove --system --sealed
 * take, and *lock holds it until system_sealed_unlock, once the plain key
 * is stored. */
int system_sealed_refuse_plain(const struct conf *c, const char *name, int *lock,
			       struct ds_err *err);
void system_sealed_unlock(int lock);

/* Doctor's look (root only) for a plain copy of profile name's key in the
 * broker's key file (path, in path): *present 1 when there is one. The
 * file is read as its owner, with the file store's checks; no key leaves. */
int system_sealed_plain_check(const char *name, int *present, char *path, size_t n,
			      struct ds_err *err);

/* Doctor's check of the credential cred of profile pc (root only): whether
 * /etc/credstore.encrypted/cred exists (*present, its path in path), and
 * when it does, that systemd-creds opens it and it holds a well-formed
 * key. The key goes to a pipe and is wiped, never written or shown. */
int system_sealed_check(const struct profile_conf *pc, int *present, char *path, size_t n,
			struct ds_err *err);

#endif

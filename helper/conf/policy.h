/* SPDX-License-Identifier: MIT */
/* The system policy's one gate: a check per rule, each with one wording. */
#ifndef DS_POLICY_H
#define DS_POLICY_H

#include "conf/conf.h"
#include "conf/region.h"
#include "base/util.h"

/* allowed_regions: DS_EPOLICY when r is not allowed. */
int policy_check_region(const struct policy *p, const struct region *r, struct ds_err *err);

/* allowed_stores: DS_EPOLICY when store k is not allowed. */
int policy_check_store(const struct policy *p, enum store_kind k, struct ds_err *err);

/* A key source (SPEC section 15) for the profile named: one the system
 * file names is the administrator's; one the user file names is a key
 * the user holds, refused (DS_EPOLICY) where allowed_stores leaves users
 * only the broker. */
int policy_check_source(const struct policy *p, int from_system, const char *profile,
			struct ds_err *err);

/* Which store to open for the configured one (SPEC sections 3 and 6). */
struct store_choice {
	enum store_kind kind; /* never STORE_AUTO */
	int file_after; /* auto: the file store when no Secret Service answers */
	char why[160]; /* how it was chosen, for status and doctor */
};

/* The store configured as k (from names where it was set; NULL: the
 * defaults) under allowed_stores: DS_EPOLICY when the policy forbids k.
 * auto never picks a store the policy forbids: the Secret Service, then
 * the file store when no Secret Service answers; the file store alone
 * where the Secret Service is forbidden; the broker where it alone is
 * allowed. */
int policy_store_choice(const struct policy *p, enum store_kind k, const char *from,
			struct store_choice *out, struct ds_err *err);

/* allow_long_lived, require_temporary and max_lifetime for a key of the
 * profile named (plan given) with *lifetime (0: the long-lived key); a
 * lifetime over max_lifetime is lowered, and *lowered (when not NULL)
 * says so. */
int policy_check_lifetime(const struct policy *p, const char *profile, enum plan plan,
			  unsigned long *lifetime, int *lowered, struct ds_err *err);

#endif

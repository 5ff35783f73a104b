/* SPDX-License-Identifier: MIT */
/* The system policy's one gate (SPEC section 6): every command asks here,
 * and each rule has one wording wherever it refuses. */
#include "config.h"
#include "conf/policy.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

int policy_check_region(const struct policy *p, const struct region *r, struct ds_err *err)
{
	if (policy_allows_region(p, r))
		return DS_OK;
	return ds_err_set(err, DS_EPOLICY,
			  "Policy allowed_regions does not include %s; use a profile of an allowed region or ask your administrator.",
			  r->id);
}

int policy_check_store(const struct policy *p, enum store_kind k, struct ds_err *err)
{
	if (!p->allowed_stores || ((p->allowed_stores >> k) & 1u))
		return DS_OK;
	return ds_err_set(err, DS_EPOLICY,
			  "Policy allowed_stores forbids the %s store; choose another store or ask your administrator.",
			  store_kind_name(k));
}

int policy_check_source(const struct policy *p, int from_system, const char *profile,
			struct ds_err *err)
{
	if (from_system || policy_check_store(p, STORE_FILE, NULL) == DS_OK ||
	    policy_check_store(p, STORE_SECRET_SERVICE, NULL) == DS_OK)
		return DS_OK;
	return ds_err_set(err, DS_EPOLICY,
			  "Policy allowed_stores keeps keys with the administrator's broker; remove key_file/key_credential of profile %s from your config.",
			  profile);
}

int policy_store_choice(const struct policy *p, enum store_kind k, const char *from,
			struct store_choice *out, struct ds_err *err)
{
	memset(out, 0, sizeof(*out));
	if (k != STORE_AUTO) {
		int rc = policy_check_store(p, k, err);

		if (rc)
			return rc;
		out->kind = k;
		snprintf(out->why, sizeof(out->why), "store = %s is set in %s", store_kind_name(k),
			 from ? from : "the configuration");
		return DS_OK;
	}
	if (policy_check_store(p, STORE_SECRET_SERVICE, NULL) == DS_OK) {
		out->kind = STORE_SECRET_SERVICE;
		out->file_after = policy_check_store(p, STORE_FILE, NULL) == DS_OK;
		snprintf(out->why, sizeof(out->why),
			 "store = auto: trying the Secret Service first");
	} else if (policy_check_store(p, STORE_FILE, NULL) == DS_OK) {
		out->kind = STORE_FILE;
		snprintf(out->why, sizeof(out->why),
			 "store = auto and the policy forbids the Secret Service");
	} else {
		out->kind = STORE_BROKER;
		snprintf(out->why, sizeof(out->why),
			 "store = auto and the policy allows only the broker");
	}
	return DS_OK;
}

int policy_check_lifetime(const struct policy *p, const char *profile, enum plan plan,
			  unsigned long *lifetime, int *lowered, struct ds_err *err)
{
	if (lowered)
		*lowered = 0;
	if (*lifetime == 0 && !p->allow_long_lived)
		return ds_err_set(err, DS_EINPUT,
				  "Lifetime 0 (the long-lived key) is allowed only where the system policy sets allow_long_lived = yes.");
	if (p->require_temporary && (plan == PLAN_CODING || *lifetime == 0))
		return ds_err_set(err, DS_EPOLICY,
				  "Policy require_temporary refuses the long-lived key of profile %s (Coding Plan keys cannot mint temporary keys).",
				  profile);
	if (p->max_lifetime && *lifetime > p->max_lifetime) {
		*lifetime = p->max_lifetime;
		if (lowered)
			*lowered = 1;
	}
	return DS_OK;
}

/* SPDX-License-Identifier: MIT */
/* Rotating a profile's long-lived key through the key-management API
 * (SPEC section 16), in its order: find the old key's id, create the new
 * key like it, store key and id together, mint a 1-second key with the
 * new one, delete the old one. Before the store every failure leaves the
 * old key in use; after it every failure names the old key's id. */
#ifndef DS_ROTATE_H
#define DS_ROTATE_H

#include "core/keymgmt.h"

struct rotate_result {
	struct apikey old_key; /* as the list showed it */
	struct apikey new_key; /* id and place; never the value */
};

/* Finds the key stored for p in the API's list: by the id stored beside
 * it, else the one entry whose masked value fits it. */
int rotate_find(struct keymgmt *km, const struct profile *p, const struct secret *key,
		struct apikey *out, struct ds_err *err);

/* Rotates p's key; p->key_id is the new id on success. c gives the token
 * endpoint (its override), CA file and timeout for the check mint. */
int rotate_profile(struct keymgmt *km, struct store *st, struct profile *p, const struct conf *c,
		   struct rotate_result *r, struct ds_err *err);

#endif

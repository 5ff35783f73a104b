/* SPDX-License-Identifier: MIT */
/* `rotate` (rotate.h): the steps of SPEC section 16 and the state each
 * failure leaves, worded once here with the ids the console needs. */
#include "config.h"
#include "core/rotate.h"
#include "core/key.h"
#include "core/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* err's sentence, kept aside so a new one can quote it. */
static void why_of(const struct ds_err *err, char *why, size_t n)
{
	size_t len = strnlen(err->msg, sizeof(err->msg));

	if (len >= n)
		len = n - 1;
	memcpy(why, err->msg, len);
	why[len] = '\0';
	/* quoted mid-sentence: without its full stop */
	if (*why && why[strlen(why) - 1] == '.')
		why[strlen(why) - 1] = '\0';
}

static int find_by_id(struct keymgmt *km, const struct profile *p, struct apikey *out,
		      struct ds_err *err)
{
	struct apikey_list l;
	int rc = keymgmt_list(km, p->place.workspace, p->key_id, &l, err);

	if (rc)
		return rc;
	rc = ds_err_set(err, DS_EFAIL,
			"The key id %s stored for profile %s is not in Model Studio's list (deleted in the console, or another account's?); nothing was changed.",
			p->key_id, p->name);
	for (size_t i = 0; i < l.n; i++)
		if (!strcmp(l.items[i].id, p->key_id)) {
			*out = l.items[i];
			rc = DS_OK;
			break;
		}
	apikey_list_free(&l);
	return rc;
}

int rotate_find(struct keymgmt *km, const struct profile *p, const struct secret *key,
		struct apikey *out, struct ds_err *err)
{
	struct apikey_list l;
	size_t hits = 0;
	int rc;

	if (p->key_id[0])
		return find_by_id(km, p, out, err);
	rc = keymgmt_list(km, p->place.workspace, NULL, &l, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < l.n; i++)
		if (apikey_mask_matches(l.items[i].masked, key->data, key->len) && hits++ == 0)
			*out = l.items[i];
	apikey_list_free(&l);
	if (hits == 1)
		return DS_OK;
	if (hits == 0)
		return ds_err_set(err, DS_EFAIL,
				  "No key in Model Studio's list matches the key of profile %s (%s); it may belong to another account or workspace. Nothing was changed.",
				  p->name, p->key_tail[0] ? p->key_tail : "its last characters");
	return ds_err_set(err, DS_EFAIL,
			  "%zu keys in Model Studio's list look like the key of profile %s as the console masks them; rotate it in the console. Nothing was changed.",
			  hits, p->name);
}

/* Create-then-delete needs a free place in the workspace. */
static int quota_check(struct keymgmt *km, const struct apikey *old, struct ds_err *err)
{
	struct apikey_list l;
	size_t n;
	int rc = keymgmt_list(km, old->workspace, NULL, &l, err);

	if (rc)
		return rc;
	n = l.n > l.total ? l.n : l.total;
	apikey_list_free(&l);
	if (n < KEYMGMT_QUOTA)
		return DS_OK;
	return ds_err_set(err, DS_EFAIL,
			  "Workspace %s holds %zu keys, the most Model Studio allows, and rotate makes the new key before it deletes the old one: delete an unused key in the console, then rotate again. The old key (id %s) stays in use.",
			  old->workspace[0] ? old->workspace : "(default)", n, old->id);
}

static int create_failed(const struct rotate_result *r, int rc, int maybe, struct ds_err *err)
{
	char why[400];

	why_of(err, why, sizeof(why));
	if (maybe)
		return ds_err_set(err, rc,
				  "CreateApiKey got no answer (%s): a key may have been made that nothing holds; delete any key described '%.60s' made just now in the console. The old key (id %s) stays in use.",
				  why, r->old_key.description, r->old_key.id);
	return ds_err_set(err, rc, "No new key was made: %s. The old key (id %s) stays in use.",
			  why, r->old_key.id);
}

/* The new key could not be stored: nothing may hold it, so it goes. */
static int store_failed(struct keymgmt *km, const struct rotate_result *r, int rc,
			struct ds_err *err)
{
	struct ds_err e2;
	char why[400];

	why_of(err, why, sizeof(why));
	if (keymgmt_delete(km, &r->new_key, &e2) == DS_OK)
		return ds_err_set(err, rc,
				  "The new key could not be stored (%s); it was deleted again, and the old key (id %s) stays in use.",
				  why, r->old_key.id);
	return ds_err_set(err, rc,
			  "The new key could not be stored (%s) nor deleted again: delete key id %s in the console. The old key (id %s) stays in use.",
			  why, r->new_key.id, r->old_key.id);
}

static int verify_mint(const struct profile *p, const struct conf *c, const struct secret *key,
		       struct ds_err *err)
{
	struct endpoints ep;
	struct token_request tr;
	struct minted m;
	int rc = place_endpoints(&p->place, c->endpoint, &ep, err);

	if (rc)
		return rc;
	tr.token_url = ep.token_url;
	tr.ca_file = c->ca_file;
	tr.timeout = c->timeout;
	tr.lifetime = 1; /* a temporary key cannot be revoked: make it die at once */
	tr.key = key;
	rc = token_mint(&tr, &m, err);
	if (!rc)
		secret_free(m.token);
	return rc;
}

int rotate_profile(struct keymgmt *km, struct store *st, struct profile *p, const struct conf *c,
		   struct rotate_result *r, struct ds_err *err)
{
	struct secret *old = NULL, *value = NULL;
	struct profile np;
	char why[400];
	int maybe = 0, rc;

	memset(r, 0, sizeof(*r));
	rc = store_get_key(st, p, &old, err);
	if (!rc && !old)
		rc = ds_err_set(err, DS_EFAIL, "No stored profile is named %s.", p->name);
	if (!rc)
		rc = rotate_find(km, p, old, &r->old_key, err);
	secret_free(old);
	if (!rc)
		rc = quota_check(km, &r->old_key, err);
	if (rc)
		return rc;
	rc = keymgmt_create(km, &r->old_key, &r->new_key, &value, &maybe, err);
	if (rc)
		return create_failed(r, rc, maybe, err);
	np = *p;
	snprintf(np.key_id, sizeof(np.key_id), "%s", r->new_key.id);
	rc = store_put(st, &np, value, err);
	if (rc) {
		secret_free(value);
		return store_failed(km, r, rc, err);
	}
	/* from here on the new key is the one in use */
	*p = np;
	rc = verify_mint(p, c, value, err);
	secret_free(value);
	if (rc) {
		why_of(err, why, sizeof(why));
		return ds_err_set(err, rc,
				  "The new key (id %s) is stored but could not mint a temporary key (%s); the old key (id %s) was not deleted: delete it in the console once the new key works.",
				  r->new_key.id, why, r->old_key.id);
	}
	rc = keymgmt_delete(km, &r->old_key, err);
	if (rc) {
		why_of(err, why, sizeof(why));
		return ds_err_set(err, rc,
				  "The new key (id %s) is stored and works, but the old key (id %s) could not be deleted (%s): delete it in the console.",
				  r->new_key.id, r->old_key.id, why);
	}
	return DS_OK;
}

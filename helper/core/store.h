/* SPDX-License-Identifier: MIT */
/* The key stores of SPEC section 3 behind one interface: a profile is a
 * long-lived key plus its place (region, workspace, plan). This is the one
 * place where what a backend returns is checked (store_backend.h). */
#ifndef DS_STORE_H
#define DS_STORE_H

#include <limits.h>
#include <stddef.h>
#include "conf/conf.h"
#include "conf/policy.h"
#include "core/profile.h"
#include "conf/region.h"
#include "base/secret.h"
#include "store/store_backends.h"
#include "base/util.h"

struct store {
	enum store_kind kind; /* never STORE_AUTO once opened */
	char why[160]; /* how it was chosen, for doctor */
	char path[PATH_MAX]; /* the file store's file */
	int system; /* the broker's system key file (store_open_file): fixes say --system */
	const struct store_ops *ops;
	void *state; /* the backend's, behind ops */
	/* the configuration's key sources (SPEC section 15), a backend of
	 * their own asked first for the profiles they name: a sourced
	 * profile shadows a stored one of the same name */
	const struct store_ops *src_ops;
	void *src_state;
	struct store_source *sources;
	size_t nsources;
};

/* Connects to the store chosen (policy_store_choice): auto tries the
 * Secret Service, then the file store when no provider answers. may_prompt
 * 0 never shows an unlock prompt (at login, a locked keyring must not hold
 * things up). */
int store_open(const struct store_choice *choice, struct store *st, int may_prompt,
	       struct ds_err *err);
/* The choice for a configuration, then store_open (doctor's look at
 * another configuration's store). */
int store_open_conf(const struct conf *c, struct store *st, int may_prompt, struct ds_err *err);
void store_close(struct store *st);

/* Connects st, whose kind and path the caller set, to the backend ops
 * with params: every open above ends here, and tests hand it a backend
 * of their own (tests/check_store.c). */
int store_open_ops(struct store *st, const struct store_ops *ops, const struct store_params *params,
		   struct ds_err *err);

/* Opens the file store on the key file at path, whatever is configured
 * (the broker's system key file). */
int store_open_file(struct store *st, const char *path, const char *why, struct ds_err *err);

/* Adds the key sources of configuration c (key_file, key_credential) to
 * the open store st: they answer for their profiles from then on, and
 * refuse put and delete (DS_EPOLICY naming the file). A user file's
 * source where the policy keeps keys with the administrator is
 * DS_EPOLICY. */
int store_open_sources(struct store *st, const struct conf *c, struct ds_err *err);

/* The key source of the profile named, or NULL when the store holds it. */
const struct store_source *store_source_of(const struct store *st, const char *name);

/* Where the profile named takes its key from, for list, status and
 * doctor: "key_file" or "key_credential" with *what the file or the
 * credential's name; else the store's kind name and *what NULL. */
const char *store_profile_from(const struct store *st, const char *name, const char **what);

/* Every stored profile, sorted by name; only the one named when only is
 * not NULL. Records whose name or attributes fail the checks are left out.
 * with_tails also reads each key to fill key_tail. */
int store_list(struct store *st, const char *only, struct profile_list *out, int with_tails,
	       struct ds_err *err);

/* The key of profile p (as store_list gave it); *key is NULL (and DS_OK
 * returned) when absent. A stored key that fails the checks of `add`, or
 * that only an entry of the same name for another place holds (a planted
 * or stale duplicate), is DS_ESTORE naming the profile: it never reaches a
 * header or stdout, and a key is never sent to another entry's place. */
int store_get_key(struct store *st, const struct profile *p, struct secret **key,
		  struct ds_err *err);

/* Stores or replaces a profile (same name replaces). */
int store_put(struct store *st, const struct profile *p, const struct secret *key,
	      struct ds_err *err);

/* 1 when s is a key id of the key-management API: 1 to 20 digits. */
int store_key_id_valid(const char *s);

/* The record of profile NAME's AccessKey (below) is NAME followed by this. */
#define STORE_ACCESS_KEY_SUFFIX "@access-key"

/* The AccessKey that the key-management API is called with for profile
 * p (SPEC section 16, `add --access-key`), kept in the same store as the
 * key, as "ID:SECRET" under the record "NAME@access-key" (a name no
 * profile can have, so no listing shows it). *idsecret is NULL (and DS_OK
 * returned) when none is stored. */
int store_get_access_key(struct store *st, const struct profile *p, struct secret **idsecret,
			 struct ds_err *err);
int store_put_access_key(struct store *st, const struct profile *p, const struct secret *idsecret,
			 struct ds_err *err);
/* Removes profile p's AccessKey, if any (remove). */
int store_delete_access_key(struct store *st, const char *name, struct ds_err *err);

/* 1 when s is "ID:SECRET": printable ASCII without spaces, each part 1
 * to 128 bytes, ID without ':'. */
int store_access_key_valid(const char *s, size_t len);

/* Deletes a profile; with only non-NULL, only while its stored key is
 * that one (compared again under the file store's lock). *found tells
 * whether it was deleted. */
int store_delete(struct store *st, const char *name, const struct secret *only, int *found,
		 struct ds_err *err);

/* 1 when the store mints temporary keys itself (the broker): its
 * long-lived keys cannot be read. */
/* Whether the store of kind k holds keys only its administrator changes
 * (the broker's): add, remove, store and erase refuse it. */
int store_kind_read_only(enum store_kind k);

int store_mints(const struct store *st);

/* A temporary key for the profile named from a store that mints, checked
 * as a token endpoint's answer is (SPEC section 7). */
int store_mint(struct store *st, const char *name, unsigned long lifetime, struct secret **key,
	       long long *expires_at, struct ds_err *err);

/* Validates a long-lived key as `add` does (SPEC section 3); plan, when
 * not NULL, must agree with it. */
int store_key_valid(const char *key, size_t len, const enum plan *plan);

#endif

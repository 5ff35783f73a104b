/* SPDX-License-Identifier: MIT */
/* The key stores of SPEC section 3 behind one interface: a profile is a
 * long-lived key plus its place (region, workspace, plan). */
#ifndef DS_STORE_H
#define DS_STORE_H

#include <stddef.h>
#include "conf.h"
#include "profile.h"
#include "region.h"
#include "secret.h"
#include "util.h"

struct store {
	enum store_kind kind; /* never STORE_AUTO once opened */
	char why[160]; /* how it was chosen, for doctor */
	char path[512]; /* the file store's file */
	void *ss; /* SecretService *, for the secret-service store */
	int may_prompt; /* may ask the desktop to unlock the keyring */
	int ss_ready; /* the default keyring was found unlocked */
	void *ss_paths; /* GHashTable: profile name -> D-Bus path of its item */
};

/* Resolves the configured store (auto probes the session bus), applies the
 * policy's allowed_stores, and connects. may_prompt 0 never shows an
 * unlock prompt (at login, a locked keyring must not hold things up). */
int store_open(const struct conf *c, struct store *st, int may_prompt, struct ds_err *err);
void store_close(struct store *st);

/* Every stored profile, sorted by name; only the one named only when it is
 * not NULL (the Secret Service then reads one item, not all of them).
 * with_tails also reads each key to fill key_tail. */
int store_list(struct store *st, const char *only, struct profile_list *out, int with_tails,
	       struct ds_err *err);

/* The key of one profile; *key is NULL (and DS_OK returned) when absent. */
int store_get_key(struct store *st, const char *name, struct secret **key, struct ds_err *err);

/* Stores or replaces a profile (same name replaces). */
int store_put(struct store *st, const struct profile *p, const struct secret *key,
	      struct ds_err *err);

/* Deletes a profile; *found tells whether it existed. */
int store_delete(struct store *st, const char *name, int *found, struct ds_err *err);

/* The file store's path from the environment (tests, doctor). */
void store_file_path(char *out, size_t n);

/* Parses a key file image without touching the disk (fuzzer): the status
 * a read would give and how many records it holds. */
int store_file_parse(const char *buf, size_t len, size_t *nrecs, struct ds_err *err);

/* Backends; store.c dispatches to them. */
int store_file_list(struct store *st, struct profile_list *out, int with_tails, struct ds_err *err);
int store_file_get(struct store *st, const char *name, struct secret **key, struct ds_err *err);
int store_file_put(struct store *st, const struct profile *p, const struct secret *key,
		   struct ds_err *err);
int store_file_delete(struct store *st, const char *name, int *found, struct ds_err *err);

/* The Secret Service store (store_secret.c) is a module,
 * dscred-secret-service.so, loaded by store.c only when that store is
 * used: the file store never loads GLib and libsecret (bench/analysis.md).
 * Its one exported symbol is this table. connect fails with DS_ESTORE,
 * the cause and the fix (no session bus, no provider); the default
 * keyring (missing, locked) is checked before writes and listings and
 * whenever a read finds nothing. */
#define SECRET_MODULE "dscred-secret-service.so"
#define SECRET_MODULE_ABI PACKAGE_VERSION "/1"
struct secret_backend {
	const char *abi; /* SECRET_MODULE_ABI of the build that made it */
	size_t store_size; /* sizeof(struct store) there */
	int (*connect)(struct store *st, struct ds_err *err);
	void (*close)(struct store *st);
	int (*list)(struct store *st, const char *only, struct profile_list *out, int with_tails,
		    struct ds_err *err);
	int (*get)(struct store *st, const char *name, struct secret **key, struct ds_err *err);
	int (*put)(struct store *st, const struct profile *p, const struct secret *key,
		   struct ds_err *err);
	int (*del)(struct store *st, const char *name, int *found, struct ds_err *err);
};
extern const struct secret_backend dscred_secret_backend;
/* The module links its own copy of libdscommon, region table included:
 * struct region pointers it returns are not ours (store_list maps them by
 * id), and it must compare regions by id, never by pointer. */

#endif

/* SPDX-License-Identifier: MIT */
/* The boundary between store.c and the key store backends (file, Secret
 * Service, broker): plain records of a name, attributes and secret bytes.
 * A backend keeps its state behind an opaque pointer and knows nothing of
 * profiles, regions or key rules; store.c alone turns records into
 * profiles and checks every name, attribute and key that comes back. Only
 * C types and struct ds_err (filled directly, no function of ours) cross,
 * so a backend built as a module needs none of our code. */
#ifndef DS_STORE_BACKEND_H
#define DS_STORE_BACKEND_H

#include <stddef.h>
#include "base/util.h"

#define STORE_BACKEND_ABI "dscred-store/6"

/* One stored profile as a backend sees it. Strings are NUL-terminated and
 * unchecked; they belong to the backend and live only during the callback
 * that receives them. secret is NULL unless it was asked for. */
struct store_record {
	const char *name, *region, *workspace, *plan;
	const char *secret;
	size_t secret_len;
	long long expires_at; /* mint only: Unix seconds */
	/* the key's id in Model Studio's key-management API (SPEC section
	 * 16), kept beside it; NULL or "" when not known */
	const char *key_id;
};

/* Receives records; a non-zero return stops the walk and is returned. */
typedef int (*store_record_fn)(void *ctx, const struct store_record *rec);

/* A key that a secret manager keeps in a file (SPEC section 15): the
 * record the key source backend answers for name, read from path, or
 * from $CREDENTIALS_DIRECTORY/credential (one of them is NULL). */
struct store_source {
	const char *name, *region, *workspace, *plan;
	const char *path, *credential;
};

struct store_params {
	const char *path; /* the file store's key file; NULL: its default */
	const char *socket; /* the broker's socket; NULL: its default */
	int may_prompt; /* may show the desktop's unlock prompt */
	/* out: the file or socket the backend opened (for status and doctor);
	 * left as it was where it has none. */
	char *where;
	size_t where_len;
	/* the key source backend's files; the strings outlive the state */
	const struct store_source *sources;
	size_t nsources;
};

struct store_ops {
	const char *abi; /* STORE_BACKEND_ABI */
	const char *name;
	int (*open)(const struct store_params *p, void **state, struct ds_err *err);
	void (*close)(void *state);
	/* every record, or those named only; with_secret adds the keys */
	int (*list)(void *state, const char *only, int with_secret, store_record_fn each, void *ctx,
		    struct ds_err *err);
	/* the record named, with its secret; each is not called when absent */
	int (*get)(void *state, const char *name, store_record_fn each, void *ctx,
		   struct ds_err *err);
	int (*put)(void *state, const struct store_record *rec, struct ds_err *err);
	/* Deletes the record named; with secret non-NULL, only while its key
	 * is those bytes (git's erase of the key that failed). A backend with
	 * a lock compares under it, so a key stored meanwhile stays; one with
	 * none (the Secret Service) deletes by name, erase having compared
	 * just before. *found: whether it deleted one. */
	int (*del)(void *state, const char *name, const char *secret, size_t secret_len, int *found,
		   struct ds_err *err);
	/* For stores whose keys the user cannot read (the broker): a
	 * temporary key for the profile named, as a record whose secret is
	 * that key. NULL for stores that hand out long-lived keys. */
	int (*mint)(void *state, const char *name, unsigned long lifetime, store_record_fn each,
		    void *ctx, struct ds_err *err);
};

/* The Secret Service module's one export. */
#define SECRET_MODULE "dscred-secret-service.so"
#define SECRET_MODULE_SYMBOL "dscred_secret_store"

#endif

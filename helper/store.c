/* SPDX-License-Identifier: MIT */
/* Chooses and dispatches to a key store, and keeps the profile list type. */
#include "config.h"
#include "store.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct secret_backend *backend;

/* Loads the Secret Service module: from the build tree when this binary
 * runs uninstalled (make check), else from PKGLIBDIR. A module of another
 * build is refused: the table layout and struct store must match. */
static int backend_load(struct ds_err *err)
{
	char exe[PATH_MAX], path[PATH_MAX + 64] = PKGLIBDIR "/" SECRET_MODULE;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const struct secret_backend *b;
	void *h = NULL;

	if (backend)
		return DS_OK;
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			char here[PATH_MAX + 64];

			*slash = '\0';
			snprintf(here, sizeof(here), "%s/.libs/" SECRET_MODULE, exe);
			h = dlopen(here, RTLD_NOW | RTLD_LOCAL);
			if (h)
				snprintf(path, sizeof(path), "%s", here);
		}
	}
	if (!h)
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return ds_err_set(err, DS_ESTORE,
				  "The Secret Service support cannot be loaded (%s); reinstall dashscope-credential or set 'store = file'.",
				  dlerror());
	b = dlsym(h, "dscred_secret_backend");
	if (!b || strcmp(b->abi, SECRET_MODULE_ABI) || b->store_size != sizeof(struct store)) {
		dlclose(h);
		return ds_err_set(err, DS_ESTORE,
				  "The Secret Service support in %s belongs to another version; reinstall dashscope-credential or set 'store = file'.",
				  path);
	}
	backend = b;
	return DS_OK;
}

static int store_allowed(const struct conf *c, enum store_kind k)
{
	return !c->policy.allowed_stores || ((c->policy.allowed_stores >> k) & 1u);
}

static int open_kind(struct store *st, enum store_kind k, struct ds_err *err)
{
	st->kind = k;
	if (k == STORE_FILE) {
		store_file_path(st->path, sizeof(st->path));
		return DS_OK;
	}
	if (backend_load(err) != DS_OK)
		return DS_ESTORE;
	return backend->connect(st, err);
}

int store_open(const struct conf *c, struct store *st, int may_prompt, struct ds_err *err)
{
	struct ds_err ss_err;

	memset(st, 0, sizeof(*st));
	st->may_prompt = may_prompt;
	if (c->store != STORE_AUTO) {
		if (!store_allowed(c, c->store))
			return ds_err_set(err, DS_EPOLICY,
					  "Policy allowed_stores forbids the %s store; ask your administrator or choose another store.",
					  store_kind_name(c->store));
		snprintf(st->why, sizeof(st->why), "store = %s is configured",
			 store_kind_name(c->store));
		return open_kind(st, c->store, err);
	}
	if (store_allowed(c, STORE_SECRET_SERVICE)) {
		int rc = open_kind(st, STORE_SECRET_SERVICE, &ss_err);

		if (rc == DS_OK) {
			snprintf(st->why, sizeof(st->why),
				 "store = auto and a Secret Service answers");
			return DS_OK;
		}
		/* a provider that answers but is locked is still the user's
		 * store: falling back would split keys across two stores */
		if (st->ss || !store_allowed(c, STORE_FILE)) {
			store_close(st);
			if (err)
				*err = ss_err;
			return rc;
		}
		store_close(st);
		snprintf(st->why, sizeof(st->why), "store = auto and no Secret Service answers");
		return open_kind(st, STORE_FILE, err);
	}
	snprintf(st->why, sizeof(st->why), "policy allows only the file store");
	return open_kind(st, STORE_FILE, err);
}

void store_close(struct store *st)
{
	if (st->kind == STORE_SECRET_SERVICE && backend)
		backend->close(st);
}

int store_list(struct store *st, const char *only, struct profile_list *out, int with_tails,
	       struct ds_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = st->kind == STORE_FILE ? store_file_list(st, out, with_tails, err)
				    : backend->list(st, only, out, with_tails, err);
	if (rc != DS_OK)
		return rc;
	/* the module links its own copy of the region table: regions are
	 * compared by pointer here, so map its entries onto ours by id */
	for (size_t i = 0; i < out->n; i++)
		out->items[i].place.region = region_find(out->items[i].place.region->id);
	if (only) {
		size_t kept = 0;

		for (size_t i = 0; i < out->n; i++)
			if (!strcmp(out->items[i].name, only))
				out->items[kept++] = out->items[i];
		out->n = kept;
	}
	profile_list_sort(out);
	return DS_OK;
}

int store_get_key(struct store *st, const char *name, struct secret **key, struct ds_err *err)
{
	*key = NULL;
	return st->kind == STORE_FILE ? store_file_get(st, name, key, err)
				      : backend->get(st, name, key, err);
}

int store_put(struct store *st, const struct profile *p, const struct secret *key,
	      struct ds_err *err)
{
	return st->kind == STORE_FILE ? store_file_put(st, p, key, err)
				      : backend->put(st, p, key, err);
}

int store_delete(struct store *st, const char *name, int *found, struct ds_err *err)
{
	*found = 0;
	return st->kind == STORE_FILE ? store_file_delete(st, name, found, err)
				      : backend->del(st, name, found, err);
}

/* SPDX-License-Identifier: MIT */
/* Chooses a key store, dispatches to its backend, and checks every record
 * that comes back: names, attributes and keys pass the rules of `add`
 * here, once, whatever the backend (store_backend.h). */
#include "config.h"
#include "base/debug.h"
#include "core/store.h"
#include "store/broker_wire.h"
#include "core/key.h"
#include "base/module.h"
#include "conf/policy.h"
#include "core/token.h"
#include "conf/place.h"
#include "conf/names.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct store_ops *secret_ops;

/* The Secret Service store is a module: the file store never loads GLib
 * and libsecret (module.h). */
static int secret_module_load(struct ds_err *err)
{
	if (!secret_ops)
		secret_ops = module_load(SECRET_MODULE, SECRET_MODULE_SYMBOL, STORE_BACKEND_ABI,
					 DS_ESTORE, "Secret Service", err);
	if (!secret_ops) {
		/* the store's own advice comes with it */
		size_t l = err ? strlen(err->msg) : 0;

		if (err && l > 1 && err->msg[l - 1] == '.')
			snprintf(err->msg + l - 1, sizeof(err->msg) - l + 1,
				 ", or set 'store = file'.");
		return DS_ESTORE;
	}
	return DS_OK;
}

/* A backend's message may quote a library's text: no control characters
 * reach the terminal, whatever it said. */
static int backend_status(int rc, struct ds_err *err)
{
	if (rc != DS_OK && err) {
		ds_sanitize(err->msg);
		err->code = rc;
	}
	return rc;
}

int store_open_ops(struct store *st, const struct store_ops *ops, const struct store_params *params,
		   struct ds_err *err)
{
	int rc = ops->open(params, &st->state, err);

	st->ops = rc ? NULL : ops;
	return backend_status(rc, err);
}

static int open_kind(struct store *st, enum store_kind k, int may_prompt, struct ds_err *err)
{
	struct store_params params = { NULL, NULL, may_prompt, st->path, sizeof(st->path), NULL, 0 };
	const struct store_ops *ops;
	int rc;

	st->kind = k;
	st->path[0] = '\0';
	ds_debug("store %s: %s", store_kind_name(k), st->why);
	if (k == STORE_FILE) {
		ops = &store_file_ops;
	} else if (k == STORE_BROKER) {
		ops = &store_broker_ops;
	} else {
		rc = secret_module_load(err);
		if (rc)
			return rc;
		ops = secret_ops;
	}
	return store_open_ops(st, ops, &params, err);
}

int store_open(const struct store_choice *choice, struct store *st, int may_prompt,
	       struct ds_err *err)
{
	struct ds_err ss_err;
	int rc;

	memset(st, 0, sizeof(*st));
	snprintf(st->why, sizeof(st->why), "%s", choice->why);
	if (choice->kind != STORE_SECRET_SERVICE || !choice->file_after)
		return open_kind(st, choice->kind, may_prompt, err);
	rc = open_kind(st, STORE_SECRET_SERVICE, may_prompt, &ss_err);
	if (rc == DS_OK) {
		snprintf(st->why, sizeof(st->why), "store = auto and a Secret Service answers");
		return DS_OK;
	}
	ds_debug("Secret Service: %s", ss_err.msg);
	/* open fails only when no provider answers (a locked keyring opens
	 * and fails later, so its keys are never split across two stores) */
	snprintf(st->why, sizeof(st->why), "store = auto and no Secret Service answers");
	return open_kind(st, STORE_FILE, may_prompt, err);
}

int store_open_conf(const struct conf *c, struct store *st, int may_prompt, struct ds_err *err)
{
	struct store_choice choice;
	int rc = policy_store_choice(&c->policy, c->store, c->store_from, &choice, err);

	return rc ? rc : store_open(&choice, st, may_prompt, err);
}

int store_open_file(struct store *st, const char *path, const char *why, struct ds_err *err)
{
	struct store_params params = { NULL, NULL, 0, NULL, 0, NULL, 0 };

	memset(st, 0, sizeof(*st));
	st->kind = STORE_FILE;
	if (ds_strcpy(st->path, sizeof(st->path), path))
		return ds_err_set(err, DS_EINPUT, "The key file path %.80s... is too long.", path);
	snprintf(st->why, sizeof(st->why), "%s", why);
	st->system = 1;
	params.path = st->path;
	return store_open_ops(st, &store_file_ops, &params, err);
}

static void sources_free(struct store *st)
{
	for (size_t i = 0; i < st->nsources; i++) {
		struct store_source *s = &st->sources[i];

		free((char *)s->name);
		free((char *)s->region);
		free((char *)s->workspace);
		free((char *)s->plan);
		free((char *)s->path);
		free((char *)s->credential);
	}
	free(st->sources);
	st->sources = NULL;
	st->nsources = 0;
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;

	*oom |= s && !d;
	return d;
}

/* Whether profile p's key source serves st: a client of the broker
 * leaves the system file's sources to the broker, which reads the same
 * file (and the user, as a rule, cannot read the key). */
static int source_here(const struct store *st, const struct profile_conf *p)
{
	return (p->key_file || p->key_credential) &&
	       !(st->kind == STORE_BROKER && p->source_system);
}

int store_open_sources(struct store *st, const struct conf *c, struct ds_err *err)
{
	struct store_params params = { NULL, NULL, 0, NULL, 0, NULL, 0 };
	const struct profile_conf *p;
	size_t n = 0;
	int oom = 0, rc;

	for (p = c->profiles; p; p = p->next)
		if (source_here(st, p)) {
			rc = policy_check_source(&c->policy, p->source_system, p->name, err);
			if (rc)
				return rc;
			n++;
		}
	if (!n || st->src_ops)
		return DS_OK;
	st->sources = calloc(n, sizeof(*st->sources));
	if (!st->sources)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	for (p = c->profiles; p; p = p->next) {
		struct store_source *s;

		if (!source_here(st, p))
			continue;
		s = &st->sources[st->nsources++];
		s->name = dup_or_null(p->name, &oom);
		s->region = dup_or_null(p->region->id, &oom);
		s->workspace = dup_or_null(p->workspace, &oom);
		s->plan = dup_or_null(plan_name(p->has_plan ? p->plan : PLAN_PAYG), &oom);
		s->path = dup_or_null(p->key_file, &oom);
		s->credential = dup_or_null(p->key_credential, &oom);
	}
	if (oom) {
		sources_free(st);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	params.sources = st->sources;
	params.nsources = st->nsources;
	rc = store_source_ops.open(&params, &st->src_state, err);
	if (rc) {
		sources_free(st);
		return backend_status(rc, err);
	}
	st->src_ops = &store_source_ops;
	return DS_OK;
}

const struct store_source *store_source_of(const struct store *st, const char *name)
{
	for (size_t i = 0; i < st->nsources; i++)
		if (!strcmp(st->sources[i].name, name))
			return &st->sources[i];
	return NULL;
}

const char *store_profile_from(const struct store *st, const char *name, const char **what)
{
	const struct store_source *src = store_source_of(st, name);

	*what = src ? (src->path ? src->path : src->credential) : NULL;
	if (!src)
		return store_kind_name(st->kind);
	return src->path ? "key_file" : "key_credential";
}

void store_close(struct store *st)
{
	if (st->ops)
		st->ops->close(st->state);
	if (st->src_ops)
		st->src_ops->close(st->src_state);
	sources_free(st);
	st->ops = NULL;
	st->state = NULL;
	st->src_ops = NULL;
	st->src_state = NULL;
}

int store_key_valid(const char *key, size_t len, const enum plan *plan)
{
	enum plan pl = plan ? *plan : PLAN_PAYG;
	enum key_kind kind;

	return key && strlen(key) == len &&
	       key_check(key, len, &pl, plan != NULL, &kind, NULL) == DS_OK &&
	       kind == KEY_LONG_LIVED;
}

/* A record's name and attributes as a profile; -1 when any fails the
 * rules of user input (a record planted by another program, or named with
 * a key by a version that allowed it, is skipped: never listed). */
static int record_profile(const struct store_record *rec, struct profile *p)
{
	memset(p, 0, sizeof(*p));
	if (!rec->name || !rec->region || !rec->plan || !profile_name_valid(rec->name) ||
	    key_like_name(rec->name))
		return -1;
	p->place.region = region_find(rec->region);
	if (!p->place.region || plan_parse(rec->plan, &p->place.plan))
		return -1;
	if (rec->workspace && *rec->workspace) {
		if (!workspace_valid(rec->workspace))
			return -1;
		ds_strcpy(p->place.workspace, sizeof(p->place.workspace), rec->workspace);
	}
	ds_strcpy(p->name, sizeof(p->name), rec->name);
	return 0;
}

struct list_ctx {
	struct profile_list *out;
	const char *only;
	int oom;
};

static int list_one(void *vctx, const struct store_record *rec)
{
	struct list_ctx *ctx = vctx;
	struct profile p;

	if (record_profile(rec, &p) != 0 || profile_list_find(ctx->out, p.name))
		return 0;
	if (ctx->only && strcmp(p.name, ctx->only))
		return 0;
	if (rec->key_id && store_key_id_valid(rec->key_id))
		ds_strcpy(p.key_id, sizeof(p.key_id), rec->key_id);
	if (rec->secret && store_key_valid(rec->secret, rec->secret_len, &p.place.plan))
		key_tail(rec->secret, rec->secret_len, p.key_tail, sizeof(p.key_tail));
	else if (rec->secret)
		snprintf(p.key_tail, sizeof(p.key_tail), "(invalid key)");
	ctx->oom = profile_list_add(ctx->out, &p) != 0;
	return ctx->oom ? DS_EFAIL : 0;
}

int store_list(struct store *st, const char *only, struct profile_list *out, int with_tails,
	       struct ds_err *err)
{
	struct list_ctx ctx;
	int rc;

	memset(out, 0, sizeof(*out));
	ctx.out = out;
	ctx.only = only;
	ctx.oom = 0;
	rc = st->src_ops ? st->src_ops->list(st->src_state, only, with_tails, list_one, &ctx, err)
			 : DS_OK;
	if (!rc && !ctx.oom && !(only && profile_list_find(out, only)))
		rc = st->ops->list(st->state, only, with_tails, list_one, &ctx, err);
	if (ctx.oom)
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (rc) {
		profile_list_free(out);
		return backend_status(rc, err);
	}
	profile_list_sort(out);
	return DS_OK;
}

struct get_ctx {
	const struct profile *want;
	struct secret *key;
	int bad, oom;
};

static int same_place(const struct place *a, const struct place *b)
{
	return a->region == b->region && a->plan == b->plan && !strcmp(a->workspace, b->workspace);
}

static int get_one(void *vctx, const struct store_record *rec)
{
	struct get_ctx *ctx = vctx;
	struct profile p;

	if (!rec->name || strcmp(rec->name, ctx->want->name))
		return 0;
	/* the key must belong to the entry the profile was listed from: a
	 * second entry of the name (another region) is not that profile */
	if (record_profile(rec, &p) != 0 || !same_place(&p.place, &ctx->want->place) ||
	    !rec->secret || !store_key_valid(rec->secret, rec->secret_len, &p.place.plan)) {
		ctx->bad = 1;
		return 0;
	}
	secret_free(ctx->key);
	ctx->key = secret_new(rec->secret, rec->secret_len);
	ctx->oom = !ctx->key;
	return ctx->oom ? DS_EFAIL : 0;
}

int store_get_key(struct store *st, const struct profile *p, struct secret **key,
		  struct ds_err *err)
{
	struct get_ctx ctx = { p, NULL, 0, 0 };
	const struct store_source *src = store_source_of(st, p->name);
	const char *name = p->name;
	int rc;

	*key = NULL;
	if (src)
		rc = st->src_ops->get(st->src_state, name, get_one, &ctx, err);
	else
		rc = st->ops->get(st->state, name, get_one, &ctx, err);
	if (ctx.oom)
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	else if (rc == DS_OK && !ctx.key && ctx.bad && src)
		rc = ds_err_set(err, DS_ESTORE,
				"Profile %s: the key in %s%s is not a valid Model Studio key (half-written, not a key, or an sk-sp- key without 'plan = coding'); it was not used.",
				name, src->path ? src->path : "the systemd credential ",
				src->path ? "" : src->credential);
	else if (rc == DS_OK && !ctx.key && ctx.bad)
		rc = ds_err_set(err, DS_ESTORE,
				"The key stored for profile %s is not a valid Model Studio key, or belongs to a second entry of that name for another region (a corrupted, planted or stale entry); it was not used. Store it again with '%sdashscope-credential add %s%s'.",
				name, st->system ? "sudo " : "", st->system ? "--system " : "",
				name);
	if (rc) {
		secret_free(ctx.key);
		return backend_status(rc, err);
	}
	*key = ctx.key;
	return DS_OK;
}

int store_put(struct store *st, const struct profile *p, const struct secret *key,
	      struct ds_err *err)
{
	struct store_record rec = { p->name,
				    p->place.region->id,
				    p->place.workspace,
				    plan_name(p->place.plan),
				    key->data,
				    key->len,
				    0,
				    p->key_id };

	if (store_source_of(st, p->name))
		return backend_status(st->src_ops->put(st->src_state, &rec, err), err);
	if (!store_key_valid(key->data, key->len, &p->place.plan))
		return ds_err_set(err, DS_EINPUT, "The key is not a valid Model Studio key.");
	return backend_status(st->ops->put(st->state, &rec, err), err);
}

int store_key_id_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n >= 1 && n <= 20 && s[n] == '\0';
}

static int access_key_name(const char *profile, char *out, size_t n, struct ds_err *err)
{
	if ((size_t)snprintf(out, n, "%s" STORE_ACCESS_KEY_SUFFIX, profile) >= n)
		return ds_err_set(err, DS_EINPUT, "The profile name is too long.");
	return DS_OK;
}

int store_access_key_valid(const char *s, size_t len)
{
	const char *colon = s ? memchr(s, ':', len) : NULL;

	if (!colon || strlen(s) != len || colon == s || (size_t)(colon - s) > 128 ||
	    len - (size_t)(colon - s) - 1 < 1 || len - (size_t)(colon - s) - 1 > 128)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

struct ak_ctx {
	const char *name;
	struct secret *idsecret;
	int bad, oom;
};

static int ak_one(void *vctx, const struct store_record *rec)
{
	struct ak_ctx *ctx = vctx;

	if (!rec->name || strcmp(rec->name, ctx->name) || !rec->secret)
		return 0;
	if (!store_access_key_valid(rec->secret, rec->secret_len)) {
		ctx->bad = 1;
		return 0;
	}
	secret_free(ctx->idsecret);
	ctx->idsecret = secret_new(rec->secret, rec->secret_len);
	ctx->oom = !ctx->idsecret;
	return ctx->oom ? DS_EFAIL : 0;
}

int store_get_access_key(struct store *st, const struct profile *p, struct secret **idsecret,
			 struct ds_err *err)
{
	char name[DS_PROFILE_MAX + sizeof(STORE_ACCESS_KEY_SUFFIX)];
	struct ak_ctx ctx = { name, NULL, 0, 0 };
	int rc = access_key_name(p->name, name, sizeof(name), err);

	*idsecret = NULL;
	if (rc)
		return rc;
	rc = st->ops->get(st->state, name, ak_one, &ctx, err);
	if (ctx.oom)
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	else if (rc == DS_OK && !ctx.idsecret && ctx.bad)
		rc = ds_err_set(err, DS_ESTORE,
				"The AccessKey stored for profile %s is malformed; store it again with 'dashscope-credential add --access-key %s'.",
				p->name, p->name);
	if (rc) {
		secret_free(ctx.idsecret);
		return backend_status(rc, err);
	}
	*idsecret = ctx.idsecret;
	return DS_OK;
}

int store_put_access_key(struct store *st, const struct profile *p, const struct secret *idsecret,
			 struct ds_err *err)
{
	char name[DS_PROFILE_MAX + sizeof(STORE_ACCESS_KEY_SUFFIX)];
	struct store_record rec = { name,
				    p->place.region->id,
				    p->place.workspace,
				    "access-key",
				    idsecret->data,
				    idsecret->len,
				    0,
				    NULL };
	int rc = access_key_name(p->name, name, sizeof(name), err);

	if (rc)
		return rc;
	if (!store_access_key_valid(idsecret->data, idsecret->len))
		return ds_err_set(err, DS_EINPUT,
				  "An AccessKey is its id and its secret, each 1 to 128 printable characters without spaces.");
	return backend_status(st->ops->put(st->state, &rec, err), err);
}

int store_delete_access_key(struct store *st, const char *name, struct ds_err *err)
{
	char ak[DS_PROFILE_MAX + sizeof(STORE_ACCESS_KEY_SUFFIX)];
	int found = 0, rc = access_key_name(name, ak, sizeof(ak), err);

	if (rc)
		return rc;
	return backend_status(st->ops->del(st->state, ak, NULL, 0, &found, err), err);
}

int store_delete(struct store *st, const char *name, const struct secret *only, int *found,
		 struct ds_err *err)
{
	const char *key = only ? only->data : NULL;
	size_t len = only ? only->len : 0;

	*found = 0;
	if (store_source_of(st, name))
		return backend_status(st->src_ops->del(st->src_state, name, key, len, found, err),
				      err);
	return backend_status(st->ops->del(st->state, name, key, len, found, err), err);
}

int store_kind_read_only(enum store_kind k)
{
	return k == STORE_BROKER;
}

int store_mints(const struct store *st)
{
	return st->ops && st->ops->mint;
}

struct mint_ctx {
	const char *name;
	unsigned long lifetime;
	time_t asked;
	struct secret *key;
	long long expires_at;
	int bad, oom;
};

/* A minted key passes the checks of a token endpoint's answer (SPEC
 * section 7) before anything prints or sends it. */
static int mint_one(void *vctx, const struct store_record *rec)
{
	struct mint_ctx *ctx = vctx;

	if (!rec->name || strcmp(rec->name, ctx->name) || !rec->secret || !rec->secret_len ||
	    strlen(rec->secret) != rec->secret_len ||
	    !token_chars_safe(rec->secret, rec->secret_len) || rec->expires_at <= ctx->asked ||
	    rec->expires_at >
		    (long long)ctx->asked + (long long)ctx->lifetime + TOKEN_EXPIRY_SLACK) {
		ctx->bad = 1;
		return 0;
	}
	secret_free(ctx->key);
	ctx->key = secret_new(rec->secret, rec->secret_len);
	ctx->expires_at = rec->expires_at;
	ctx->oom = !ctx->key;
	return ctx->oom ? DS_EFAIL : 0;
}

int store_mint(struct store *st, const char *name, unsigned long lifetime, struct secret **key,
	       long long *expires_at, struct ds_err *err)
{
	struct mint_ctx ctx = { name, lifetime, time(NULL), NULL, 0, 0, 0 };
	int rc;

	*key = NULL;
	rc = st->ops->mint(st->state, name, lifetime, mint_one, &ctx, err);
	if (ctx.oom)
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	else if (rc == DS_OK && !ctx.key)
		rc = ds_err_set(err, DS_ENET,
				"The %s store sent a malformed temporary key for profile %s; nothing was used.",
				st->ops->name, name);
	if (rc) {
		secret_free(ctx.key);
		return backend_status(rc, err);
	}
	*key = ctx.key;
	*expires_at = ctx.expires_at;
	return DS_OK;
}

/* SPDX-License-Identifier: MIT */
/* The key-management OpenAPI's calls (keymgmt.h): each one signed by the
 * network module with the credentials of keymgmt_cred.c, its JSON answer
 * read here, every failure worded once with the action, the HTTP status
 * and the service's code, message and request id. */
#include "config.h"
#include "core/keymgmt.h"
#include "base/debug.h"
#include "core/token.h"
#include "net/net.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_VERSION "2026-02-10"
#define API_PATH "/modelstudio/apikeys"
#define MAX_ATTEMPTS 3
#define PAGE_SIZE "20"
#define MAX_PAGES 50 /* a service that never ends its list is not followed for ever */

int keymgmt_open(struct keymgmt *km, const struct conf *c, struct store *st,
		 const struct profile *p, struct ds_err *err)
{
	int rc;

	memset(km, 0, sizeof(*km));
	if (region_management_base(p->place.region, c->management_endpoint, km->base,
				   sizeof(km->base)) ||
	    region_metadata_base(c->metadata_endpoint, km->metadata, sizeof(km->metadata)))
		return ds_err_set(err, DS_EINPUT, "The management endpoint is too long.");
	rc = net_ca_read(c->ca_file, &km->ca, &km->ca_len, err);
	if (rc)
		return rc;
	km->timeout = c->timeout ? c->timeout : 10;
	km->store = st;
	km->profile = p;
	return DS_OK;
}

void keymgmt_close(struct keymgmt *km)
{
	acs_cred_clear(&km->cred);
	free(km->ca);
	memset(km, 0, sizeof(*km));
}

void apikey_list_free(struct apikey_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* The service's own words on a failure: code, message, request id. */
static void error_words(const char *body, size_t len, char *out, size_t n)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *code = NULL, *msg = NULL, *rid = NULL;

	out[0] = '\0';
	if (json_is_object(root)) {
		code = json_string_value(json_object_get(root, "code"));
		if (!code)
			code = json_string_value(json_object_get(root, "Code"));
		msg = json_string_value(json_object_get(root, "message"));
		if (!msg)
			msg = json_string_value(json_object_get(root, "Message"));
		rid = json_string_value(json_object_get(root, "requestId"));
		if (!rid)
			rid = json_string_value(json_object_get(root, "RequestId"));
	}
	snprintf(out, n, "%.80s%s%.160s%s%.64s", code ? code : "", code && msg ? ": " : "",
		 msg ? msg : "", rid ? "; requestId " : "", rid ? rid : "");
	ds_sanitize(out);
	json_decref(root);
}

static int answer_error(const struct keymgmt *km, const char *action, const struct net_answer *a,
			struct ds_err *err)
{
	char words[400];
	int rc;

	if (a->result != NET_OK)
		return ds_err_set(err, DS_ENET,
				  "Could not reach the key-management API %s (%s): %s.", km->base,
				  action, a->reason);
	if (a->status == 401 || a->status == 403)
		rc = DS_EAUTH;
	else if (a->status == 429 || a->status >= 500)
		rc = DS_ENET;
	else
		rc = DS_EFAIL;
	error_words(a->body, a->len, words, sizeof(words));
	/* an echo of the STS token is shown nowhere */
	if (km->cred.token &&
	    token_error_holds_key(a->body, a->len, km->cred.token->data, km->cred.token->len))
		snprintf(words, sizeof(words),
			 "its message held the security token, so it is not shown");
	return ds_err_set(err, rc, "The key-management API %s answered HTTP %ld to %s%s%s%s.",
			  km->base, a->status, action, words[0] ? " (" : "", words,
			  words[0] ? ")" : "");
}

/* One signed call, retried (when retry) on 429, 5xx and a dropped
 * connection. *a is the answer; DS_OK only for HTTP 200. */
static int call(struct keymgmt *km, const char *method, const char *action, const char *path,
		const struct net_field *query, size_t nquery, const char *body, int retry,
		struct net_answer *a, struct ds_err *err)
{
	const struct net_ops *net = net_module(err);
	struct net_signer sign;
	struct net_call req;
	int rc = DS_ENET;

	if (!net)
		return DS_EFAIL;
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		int again;

		rc = keymgmt_cred(km, err);
		if (rc)
			return rc;
		sign = (struct net_signer){ action,
					    API_VERSION,
					    km->cred.id,
					    km->cred.secret->data,
					    km->cred.secret->len,
					    km->cred.token ? km->cred.token->data : NULL,
					    (long long)time(NULL) };
		req = (struct net_call){ method,
					 km->base,
					 path,
					 query,
					 nquery,
					 NULL,
					 0,
					 body,
					 body ? strlen(body) : 0,
					 "application/x-www-form-urlencoded",
					 km->ca,
					 km->ca_len,
					 km->timeout * 1000UL,
					 &sign };
		net->call(&req, a);
		ds_debug("%s %s%s (%s): %s %ld in %lld ms", method, km->base, path, action,
			 a->result == NET_OK ? "HTTP" : a->reason, a->status, a->elapsed_ms);
		if (a->result == NET_OK && a->status == 200)
			return DS_OK;
		rc = answer_error(km, action, a, err);
		again = a->result == NET_UNREACHABLE ||
			(a->result == NET_OK && (a->status == 429 || a->status >= 500));
		if (!retry || !again || attempt + 1 == MAX_ATTEMPTS)
			break;
		net_backoff(attempt, a->retry_after);
	}
	return rc;
}

static void copy_str(char *out, size_t n, json_t *v)
{
	const char *s = json_string_value(v);

	snprintf(out, n, "%s", s ? s : "");
	ds_sanitize(out);
}

/* apiKeyId is an integer in the answers (a string is taken too). */
static int copy_id(char *out, size_t n, json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
	else
		copy_str(out, n, v);
	return store_key_id_valid(out) ? 0 : -1;
}

/* "auth.a.b=v&..." for one value of the auth object at prefix. */
static void form_add(char *out, size_t n, const char *name, const char *value)
{
	size_t len = strlen(out);

	if (len + 1 >= n)
		return;
	snprintf(out + len, n - len, "%s%s=", len ? "&" : "", name);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		len = strlen(out);
		if (len + 4 >= n)
			return;
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			out[len] = (char)*p, out[len + 1] = '\0';
		else
			snprintf(out + len, n - len, "%%%02X", *p);
	}
}

/* Flattens auth ({"type", "accessIps": [], "modelAccessScope": {...}})
 * into Create's form fields (auth.accessIps.1=...), so a rotated key keeps
 * the old one's IP and model limits. */
static void auth_flatten(json_t *v, const char *prefix, char *out, size_t n)
{
	char name[160], num[32];

	if (json_is_object(v)) {
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
			snprintf(name, sizeof(name), "%s.%s", prefix, json_object_iter_key(it));
			auth_flatten(json_object_iter_value(it), name, out, n);
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			snprintf(name, sizeof(name), "%s.%zu", prefix, i + 1);
			auth_flatten(json_array_get(v, i), name, out, n);
		}
	} else if (json_is_string(v)) {
		form_add(out, n, prefix, json_string_value(v));
	} else if (json_is_boolean(v)) {
		form_add(out, n, prefix, json_is_true(v) ? "true" : "false");
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		form_add(out, n, prefix, num);
	}
}

static int key_read(json_t *o, struct apikey *k)
{
	json_t *created;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(o) || copy_id(k->id, sizeof(k->id), json_object_get(o, "apiKeyId")))
		return -1;
	copy_str(k->description, sizeof(k->description), json_object_get(o, "description"));
	copy_str(k->workspace, sizeof(k->workspace), json_object_get(o, "workspaceId"));
	created = json_object_get(o, "gmtCreate");
	k->created_ms = json_is_integer(created) ? (long long)json_integer_value(created) : 0;
	if (json_is_string(json_object_get(o, "apiKeyValue")))
		copy_str(k->masked, sizeof(k->masked), json_object_get(o, "apiKeyValue"));
	if (json_is_object(json_object_get(o, "auth")))
		auth_flatten(json_object_get(o, "auth"), "auth", k->auth_form,
			     sizeof(k->auth_form));
	return 0;
}

static int malformed(const struct keymgmt *km, const char *action, struct ds_err *err)
{
	return ds_err_set(err, DS_ENET,
			  "The key-management API %s sent a malformed answer to %s; check the management_endpoint setting.",
			  km->base, action);
}

/* Adds one page's keys to out; *next is its nextToken ("" at the end). */
static int list_page(const struct keymgmt *km, const struct net_answer *a, struct apikey_list *out,
		     char *next, size_t n, struct ds_err *err)
{
	json_t *root = json_loadb(a->body, a->len, 0, NULL), *keys, *item;
	size_t i;
	int rc = DS_OK;

	keys = json_object_get(root, "apiKeys");
	if (!json_is_array(keys)) {
		json_decref(root);
		return malformed(km, "ListApiKeys", err);
	}
	copy_str(next, n, json_object_get(root, "nextToken"));
	if (json_is_integer(json_object_get(root, "totalCount")))
		out->total = (size_t)json_integer_value(json_object_get(root, "totalCount"));
	json_array_foreach(keys, i, item)
	{
		struct apikey *more = realloc(out->items, (out->n + 1) * sizeof(*more));

		if (!more) {
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
			break;
		}
		out->items = more;
		if (key_read(item, &out->items[out->n]) == 0)
			out->n++;
	}
	json_decref(root);
	return rc;
}

int keymgmt_list(struct keymgmt *km, const char *workspace, const char *key_id,
		 struct apikey_list *out, struct ds_err *err)
{
	struct net_answer *a = malloc(sizeof(*a));
	char next[256] = "";
	struct net_field q[4];
	int rc = DS_OK;

	memset(out, 0, sizeof(*out));
	if (!a)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	for (int page = 0; !rc && page < MAX_PAGES; page++) {
		size_t nq = 0;

		q[nq++] = (struct net_field){ "maxResults", PAGE_SIZE };
		if (workspace && *workspace)
			q[nq++] = (struct net_field){ "workspaceId", workspace };
		if (key_id)
			q[nq++] = (struct net_field){ "apiKeyId", key_id };
		if (next[0])
			q[nq++] = (struct net_field){ "nextToken", next };
		rc = call(km, "GET", "ListApiKeys", API_PATH, q, nq, NULL, 1, a, err);
		if (!rc)
			rc = list_page(km, a, out, next, sizeof(next), err);
		if (!next[0])
			break;
	}
	free(a);
	if (rc)
		apikey_list_free(out);
	return rc;
}

/* Create's answer: the new key's id and value (the only place it is). */
static int create_read(const struct keymgmt *km, const struct net_answer *a, struct apikey *out,
		       struct secret **value, struct ds_err *err)
{
	json_t *root = json_loadb(a->body, a->len, 0, NULL);
	json_t *key = json_object_get(root, "apiKey");
	const char *v = json_string_value(json_object_get(key, "apiKeyValue"));
	int rc = DS_OK;

	if (key_read(key, out) || !v || !store_key_valid(v, strlen(v), NULL))
		rc = malformed(km, "CreateApiKey", err);
	else if (!(*value = secret_new(v, strlen(v))))
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	out->masked[0] = '\0';
	json_decref(root);
	return rc;
}

int keymgmt_create(struct keymgmt *km, const struct apikey *like, struct apikey *out,
		   struct secret **value, int *maybe_created, struct ds_err *err)
{
	struct net_answer *a = malloc(sizeof(*a));
	struct net_field q[2] = { { "workspaceId", like->workspace },
				  { "description", like->description } };
	int rc;

	*value = NULL;
	*maybe_created = 0;
	if (!a)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	/* not idempotent: never sent twice */
	rc = call(km, "POST", "CreateApiKey", API_PATH, q, 2,
		  like->auth_form[0] ? like->auth_form : NULL, 0, a, err);
	/* a request that went out and got no answer may have made a key */
	if (rc && (a->result == NET_UNREACHABLE || a->result == NET_TIMEOUT ||
		   (a->result == NET_OK && a->status >= 500)))
		*maybe_created = 1;
	if (!rc)
		rc = create_read(km, a, out, value, err);
	explicit_bzero(a, sizeof(*a));
	free(a);
	return rc;
}

int keymgmt_delete(struct keymgmt *km, const struct apikey *key, struct ds_err *err)
{
	struct net_answer *a = malloc(sizeof(*a));
	struct net_field q[1] = { { "workspaceId", key->workspace } };
	char path[sizeof(API_PATH) + sizeof(key->id) + 1];
	int rc;

	if (!a)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	snprintf(path, sizeof(path), API_PATH "/%s", key->id);
	rc = call(km, "DELETE", "DeleteApiKey", path, q, key->workspace[0] ? 1 : 0, NULL, 1, a,
		  err);
	free(a);
	return rc;
}

int apikey_mask_matches(const char *masked, const char *key, size_t len)
{
	const char *star = strchr(masked, '*'), *last = strrchr(masked, '*');
	size_t head, tail;

	if (!star)
		return 0;
	head = (size_t)(star - masked);
	tail = strlen(last + 1);
	/* both ends must say something, and the stars must hide something */
	return head >= 3 && tail >= 2 && head + tail < len && !strncmp(key, masked, head) &&
	       !strcmp(key + len - tail, last + 1);
}

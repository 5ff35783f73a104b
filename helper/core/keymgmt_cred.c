/* SPDX-License-Identifier: MIT */
/* Credentials for the key-management OpenAPI, in SPEC 16's order, as
 * Alibaba Cloud's own credentials chain finds them: the ECS instance's RAM
 * role from the metadata service (IMDSv2: a token, then the role's name,
 * then its temporary credentials; no long-lived secret on the machine),
 * the ALIBABA_CLOUD_* variables, then the AccessKey stored under the
 * profile. Temporary credentials are kept until KEYMGMT_CRED_MARGIN
 * seconds before they expire. */
#include "config.h"
#include "core/keymgmt.h"
#include "base/debug.h"
#include "core/token.h"
#include "net/net.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define METADATA_TIMEOUT_MS 1000UL /* as the official chain: 1 s a call */
#define METADATA_TOKEN_TTL "21600"
#define ROLE_PATH "/latest/meta-data/ram/security-credentials/"

void acs_cred_clear(struct acs_cred *c)
{
	secret_free(c->secret);
	secret_free(c->token);
	memset(c, 0, sizeof(*c));
}

/* One unsigned call to the metadata service; DS_OK only for HTTP 200. */
static int metadata_call(struct keymgmt *km, const char *method, const char *path,
			 const struct net_field *hdr, struct net_answer *a, struct ds_err *err)
{
	const struct net_ops *net = net_module(err);
	struct net_call req = {
		method, km->metadata,	     path, NULL, 0, hdr, 1, NULL, 0, NULL, NULL,
		0,	METADATA_TIMEOUT_MS, NULL
	};

	if (!net)
		return DS_EFAIL;
	net->call(&req, a);
	ds_debug("%s %s%s: %s %ld in %lld ms", method, km->metadata, path,
		 a->result == NET_OK ? "HTTP" : a->reason, a->status, a->elapsed_ms);
	return a->result == NET_OK && a->status == 200 ? DS_OK : DS_ENET;
}

/* "2026-12-05T09:00:00Z" as Unix seconds; 0 when it is not that. */
static long long expiration_parse(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	return end && !*end ? (long long)timegm(&tm) : 0;
}

static int cred_set(struct acs_cred *c, const char *id, const char *secret, const char *token,
		    long long expires_at, const char *source)
{
	acs_cred_clear(c);
	if (!id || !*id || strlen(id) >= sizeof(c->id) || !secret || !*secret)
		return -1;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->secret = secret_new(secret, strlen(secret));
	c->token = token && *token ? secret_new(token, strlen(token)) : NULL;
	c->expires_at = expires_at;
	snprintf(c->source, sizeof(c->source), "%s", source);
	if (!c->secret || (token && *token && !c->token)) {
		acs_cred_clear(c);
		return -1;
	}
	return 0;
}

/* The role's credentials from their JSON answer. */
static int role_cred_read(const struct net_answer *a, const char *role, struct acs_cred *out,
			  struct ds_err *err)
{
	json_t *root = json_loadb(a->body, a->len, 0, NULL);
	const char *code = json_string_value(json_object_get(root, "Code"));
	long long exp = expiration_parse(json_string_value(json_object_get(root, "Expiration")));
	char source[128];
	int rc = DS_OK;

	snprintf(source, sizeof(source), "the ECS instance's RAM role %.64s", role);
	ds_sanitize(source);
	if (!code || strcmp(code, "Success") || exp <= (long long)time(NULL) ||
	    cred_set(out, json_string_value(json_object_get(root, "AccessKeyId")),
		     json_string_value(json_object_get(root, "AccessKeySecret")),
		     json_string_value(json_object_get(root, "SecurityToken")), exp, source))
		rc = ds_err_set(err, DS_ENET,
				"The ECS metadata service answered for the RAM role %.64s without usable credentials.",
				role);
	json_decref(root);
	return rc;
}

int keymgmt_cred_metadata(struct keymgmt *km, struct acs_cred *out, int *found, struct ds_err *err)
{
	struct net_answer *a = malloc(sizeof(*a));
	struct net_field ttl = { "X-aliyun-ecs-metadata-token-ttl-seconds", METADATA_TOKEN_TTL };
	struct net_field tok = { "X-aliyun-ecs-metadata-token", NULL };
	const char *env_role = getenv("ALIBABA_CLOUD_ECS_METADATA");
	char token[256], role[128], path[sizeof(ROLE_PATH) + sizeof(role)];
	int rc;

	*found = 0;
	if (!a)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	/* IMDSv2 (hardened mode) first: a token for the calls that follow;
	 * no answer here means no metadata service: the next source */
	rc = metadata_call(km, "PUT", "/latest/api/token", &ttl, a, err);
	if (rc || a->len == 0 || a->len >= sizeof(token) || strpbrk(a->body, "\r\n")) {
		rc = DS_OK;
		goto out;
	}
	memcpy(token, a->body, a->len + 1);
	tok.value = token;
	if (env_role && *env_role) {
		snprintf(role, sizeof(role), "%s", env_role);
	} else {
		if (metadata_call(km, "GET", ROLE_PATH, &tok, a, err) || a->len == 0 ||
		    a->len >= sizeof(role))
			goto out; /* no role attached to this instance */
		memcpy(role, a->body, a->len + 1);
		role[strcspn(role, "\r\n")] = '\0';
	}
	if (!*role || strpbrk(role, "/?#%") || ds_has_control(role))
		goto out;
	snprintf(path, sizeof(path), ROLE_PATH "%s", role);
	rc = metadata_call(km, "GET", path, &tok, a, err);
	if (rc)
		rc = ds_err_set(err, DS_ENET,
				"The ECS metadata service %s did not give the credentials of the RAM role %.64s (HTTP %ld).",
				km->metadata, role, a->status);
	else
		rc = role_cred_read(a, role, out, err);
	*found = rc == DS_OK;
out:
	explicit_bzero(token, sizeof(token));
	explicit_bzero(a, sizeof(*a));
	free(a);
	return rc;
}

static int cred_env(struct acs_cred *out)
{
	const char *id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
	const char *secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");

	if (!id || !*id || !secret || !*secret)
		return 0;
	return cred_set(out, id, secret, getenv("ALIBABA_CLOUD_SECURITY_TOKEN"), 0,
			"ALIBABA_CLOUD_ACCESS_KEY_ID") == 0;
}

static int cred_stored(struct keymgmt *km, struct acs_cred *out, int *found, struct ds_err *err)
{
	struct secret *ak = NULL;
	char source[128], *colon;
	int rc = store_get_access_key(km->store, km->profile, &ak, err);

	*found = 0;
	if (rc || !ak)
		return rc;
	colon = strchr(ak->data, ':');
	*colon = '\0';
	snprintf(source, sizeof(source), "the AccessKey stored for profile %s", km->profile->name);
	*found = cred_set(out, ak->data, colon + 1, NULL, 0, source) == 0;
	secret_free(ak);
	return *found ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
}

static int metadata_disabled(void)
{
	const char *v = getenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED");

	return v && !strcasecmp(v, "true");
}

int keymgmt_cred(struct keymgmt *km, struct ds_err *err)
{
	int found = 0, rc;

	if (km->have_cred && (!km->cred.expires_at ||
			      km->cred.expires_at - (long long)time(NULL) > KEYMGMT_CRED_MARGIN))
		return DS_OK;
	km->have_cred = 0;
	acs_cred_clear(&km->cred);
	if (!metadata_disabled()) {
		rc = keymgmt_cred_metadata(km, &km->cred, &found, err);
		if (rc)
			return rc;
	}
	if (!found)
		found = cred_env(&km->cred);
	if (!found) {
		rc = cred_stored(km, &km->cred, &found, err);
		if (rc)
			return rc;
	}
	if (!found)
		return ds_err_set(err, DS_EFAIL,
				  "No credentials for Model Studio's key-management API: run on an ECS instance with a RAM role, set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or store an AccessKey with 'dashscope-credential add --access-key %s'.",
				  km->profile->name);
	ds_debug("key-management credentials: %s", km->cred.source);
	km->have_cred = 1;
	return DS_OK;
}

/* SPDX-License-Identifier: MIT */
/* Model Studio's key-management OpenAPI (SPEC section 16): the
 * credentials it is called with (keymgmt_cred.c: the ECS instance's RAM
 * role, the environment, the AccessKey stored under the profile) and its
 * calls, ListApiKeys, CreateApiKey and DeleteApiKey (keymgmt.c), over the
 * network module, which signs them (net/acs3.h). */
#ifndef DS_KEYMGMT_H
#define DS_KEYMGMT_H

#include <stddef.h>
#include "base/secret.h"
#include "base/util.h"
#include "conf/conf.h"
#include "conf/place.h"
#include "core/profile.h"
#include "core/store.h"

#define KEYMGMT_QUOTA 20 /* keys a workspace holds (reference: may be outdated) */
#define KEYMGMT_CRED_MARGIN 180 /* seconds: temporary credentials renewed before */

/* Credentials for the OpenAPI. Owned by struct keymgmt. */
struct acs_cred {
	char id[132];
	struct secret *secret;
	struct secret *token; /* an STS security token, or NULL */
	long long expires_at; /* Unix seconds; 0: never */
	char source[128]; /* for messages: where they came from */
};

/* One key as ListApiKeys or CreateApiKey describe it. */
struct apikey {
	char id[24];
	char masked[160]; /* List: the value as the console masks it */
	char description[256];
	char workspace[128];
	long long created_ms; /* gmtCreate, Unix milliseconds */
	char auth_form[2048]; /* its auth settings as Create's form body ("" : none) */
};

struct apikey_list {
	struct apikey *items;
	size_t n;
	size_t total; /* totalCount of the last page read */
};

/* One session with the OpenAPI for one profile's region. */
struct keymgmt {
	char base[DS_URL_MAX]; /* https://modelstudio.<region>.aliyuncs.com, or the override */
	char metadata[DS_URL_MAX]; /* the ECS metadata service */
	char *ca;
	size_t ca_len;
	unsigned long timeout; /* seconds for one call */
	struct store *store; /* where the profile's AccessKey may be */
	const struct profile *profile;
	struct acs_cred cred;
	int have_cred;
};

/* Sets km up for profile p (its region), the config's overrides, CA file
 * and timeout; no call is made yet. keymgmt_close frees it. */
int keymgmt_open(struct keymgmt *km, const struct conf *c, struct store *st,
		 const struct profile *p, struct ds_err *err);
void keymgmt_close(struct keymgmt *km);

/* Credentials in SPEC 16's order, kept until KEYMGMT_CRED_MARGIN seconds
 * before they expire (keymgmt_cred.c). */
int keymgmt_cred(struct keymgmt *km, struct ds_err *err);

/* Reads the ECS metadata service's role credentials (IMDSv2): DS_OK with
 * *found 0 when no metadata service or no role answers. */
int keymgmt_cred_metadata(struct keymgmt *km, struct acs_cred *out, int *found, struct ds_err *err);

void acs_cred_clear(struct acs_cred *c);

/* Every key of the workspace (NULL: every one the caller may see), or the
 * one of key_id (not NULL), all pages read. */
int keymgmt_list(struct keymgmt *km, const char *workspace, const char *key_id,
		 struct apikey_list *out, struct ds_err *err);
void apikey_list_free(struct apikey_list *l);

/* Creates a key like `like` (workspace, description, auth). *value is the
 * new key (owned by the caller). Never retried: *maybe_created is set when
 * the answer was lost after the request may have reached the service. */
int keymgmt_create(struct keymgmt *km, const struct apikey *like, struct apikey *out,
		   struct secret **value, int *maybe_created, struct ds_err *err);

int keymgmt_delete(struct keymgmt *km, const struct apikey *key, struct ds_err *err);

/* 1 when the console's masked form (start, stars, end) fits key. */
int apikey_mask_matches(const char *masked, const char *key, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/* The configuration of SPEC section 6: system file, then user file, then
 * environment. [policy], [pam] and [broker] are read from the system file
 * only. */
#ifndef DS_CONF_H
#define DS_CONF_H

#include <stdio.h>
#include "conf/broker_rules.h"
#include "conf/lifetime.h"
#include "conf/region.h"
#include "base/util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
/* The system file, as built in; the PAM module reads no other unless
 * its conf= option names one. */
#define DS_SYSTEM_CONFIG SYSCONFDIR "/dashscope-credential/config"

#define DS_PROFILE_MAX 65

enum store_kind { STORE_AUTO = 0, STORE_SECRET_SERVICE = 1, STORE_FILE = 2, STORE_BROKER = 3 };

struct profile_conf {
	char name[DS_PROFILE_MAX];
	unsigned long lifetime; /* 0: not set */
	char *model; /* NULL: not set */
	const struct region *region; /* fallback metadata (PAM, locked keyring) */
	char workspace[DS_WORKSPACE_MAX];
	int has_plan;
	enum plan plan;
	/* a key source (SPEC section 15): the key is read from key_file, or
	 * from $CREDENTIALS_DIRECTORY/key_credential; at most one is set (the
	 * later line wins), source_file and source_line name it */
	char *key_file, *key_credential;
	int source_system; /* set in the system file */
	char source_file[256];
	unsigned source_line;
	struct profile_conf *next;
};

struct policy {
	unsigned allowed_regions; /* bit i: region_at(i); 0: all */
	unsigned long max_lifetime; /* 0: no cap beyond 1800 */
	int allow_long_lived;
	int require_temporary;
	unsigned allowed_stores; /* bit (1 << store_kind); 0: all */
};

/* One "who = settings" line of the system file's [pam] section, kept raw;
 * the PAM module gives it meaning. */
struct pam_rule {
	char *who;
	char *settings;
	char file[256];
	unsigned line;
	struct pam_rule *next;
};

struct conf {
	char default_profile[DS_PROFILE_MAX]; /* "" when none */
	enum store_kind store;
	unsigned long lifetime; /* 0: not set */
	char *endpoint; /* NULL: not set */
	/* the key-management API's and the ECS metadata service's overrides
	 * (SPEC section 16); NULL: not set */
	char *management_endpoint, *metadata_endpoint;
	char *ca_file;
	unsigned long timeout; /* seconds */
	unsigned long proxy_max_body; /* bytes; 0: the default */
	unsigned long proxy_idle_timeout; /* seconds; 0: the default */
	unsigned long proxy_max_total_body; /* bytes, all connections; 0: the default */
	unsigned long proxy_max_connections; /* 0: the default */
	struct profile_conf *profiles;
	struct policy policy;
	struct pam_rule *pam_rules;
	struct broker_conf broker; /* [broker], system file only */
	char system_path[4096];
	char user_path[4096];
	int user_policy_ignored; /* the user file had a [policy], [pam] or [broker] */
	/* where default_profile and store came from, for status and doctor:
	 * "system config", "user config" or the variable's name; NULL: unset */
	const char *default_from, *store_from;
};

/* Loads system file, user file and environment into c. On error c is
 * left valid (free it) and err names file and line. */
int conf_load(struct conf *c, struct ds_err *err);

/* Parses only one buffer as a user file would be (fuzzer, tests). */
int conf_load_buffer(struct conf *c, const char *buf, size_t len, int is_system,
		     struct ds_err *err);

/* Loads only the given file, as the system file. */
int conf_load_system(struct conf *c, const char *path, struct ds_err *err);

/* The same from a stream the caller opened and checked (the PAM module);
 * path is used in messages only. */
int conf_load_system_stream(struct conf *c, FILE *fp, const char *path, struct ds_err *err);

void conf_init(struct conf *c);
void conf_free(struct conf *c);

const struct profile_conf *conf_profile(const struct conf *c, const char *name);

int store_kind_parse(const char *s, enum store_kind *out);
const char *store_kind_name(enum store_kind k);

/* 1 when the policy allows region r. */
int policy_allows_region(const struct policy *p, const struct region *r);

/* Sets "profile = name" in [defaults] of the user config file, keeping
 * every other line; written atomically (conf_write.c). */
int conf_set_default_profile(const struct conf *c, const char *name, struct ds_err *err);

/* The text the config file path (a symbolic link: its target, put in
 * target) would hold with the place and key source of [profile name] set
 * to settings ("region = ...\n" lines; NULL: taken out, and a section
 * left empty with them), every other line kept. *out (NUL-terminated) is
 * the caller's to free; nothing is written (conf_write.c). */
int conf_profile_source_text(const char *path, const char *name, const char *settings, char *target,
			     size_t tn, char **out, size_t *outlen, struct ds_err *err);

/* Paths from the environment and the build: */
int conf_user_path(char *out, size_t n, struct ds_err *err);
int conf_system_path(char *out, size_t n, struct ds_err *err);

#endif

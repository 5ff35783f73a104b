/* SPDX-License-Identifier: MIT */
/* What every command shares: parsed options, configuration, the store, and
 * the path from "what is wanted" to a usable credential. */
#ifndef DS_APP_H
#define DS_APP_H

#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include "conf/conf.h"
#include "core/profile.h"
#include "core/protocol.h"
#include "conf/region.h"
#include "conf/place.h"
#include "core/store.h"
#include "core/token.h"
#include "base/util.h"

struct opts {
	const char *profile, *region, *workspace, *plan, *lifetime;
	const char *shell, *for_list;
	int json, verify, make_default, no_key, online, help, dry_run;
	const char *listen, *idle; /* broker, proxy; broker */
	int log_stderr, system; /* broker; add/list/remove --system */
	int print_env, new_key, quiet, key_file; /* proxy; exec --key-file */
	const char *log; /* proxy --log */
	int print_key; /* proxy --print-key */
	int sealed; /* add --system --sealed */
	int check, access_key; /* rotate --check; add --access-key */
	char **rest; /* positional arguments after the command */
	int nrest;
};

struct app {
	struct opts o;
	/* the caller's, for the program exec runs (ours are hardened) */
	mode_t caller_umask;
	struct rlimit caller_core;
	struct rlimit caller_nofile; /* restored for a command the proxy runs */
	struct conf conf;
	struct store store;
	int store_ready;
};

/* What a command or request asks for. */
struct want {
	struct criteria cr;
	char workspace[DS_WORKSPACE_MAX];
	int lifetime_given;
	unsigned long lifetime; /* 0 with lifetime_given: the long-lived key */
};

/* A usable credential: the profile, its URLs, and a key. */
struct credential {
	struct profile profile;
	const struct profile_conf *pconf; /* may be NULL */
	struct endpoints ep;
	struct secret *key; /* temporary, or long-lived where allowed */
	long long expires_at; /* 0 for a long-lived key */
	unsigned long lifetime; /* the lifetime asked for (policy applied) */
	unsigned long lifetime_asked; /* before the policy */
	int long_lived;
	int lifetime_lowered; /* max_lifetime lowered what was asked for */
};

int app_store(struct app *app, struct ds_err *err);

int want_from_options(const struct app *app, struct want *w, struct ds_err *err);
int want_from_request(const struct app *app, const struct request *req, struct want *w,
		      struct ds_err *err);

/* Selects the profile of w. DS_OK with *found 0 is "no match". */
int app_select(struct app *app, const struct want *w, struct profile *out, int *found,
	       struct ds_err *err);

/* Selection, policy, key lookup and minting. DS_OK with *found 0 is "no
 * match" (get prints nothing); other commands turn it into an error. */
int credential_obtain(struct app *app, const struct want *w, struct credential *cred, int *found,
		      struct ds_err *err);
void credential_free(struct credential *cred);

/* The lifetime w asks for, the one rule (SPEC section 6): the request's
 * or --lifetime, else the profile's lifetime, else the config's, else
 * 60 s. Caps (the policy's max_lifetime, the broker's) come after. */
unsigned long want_lifetime(const struct conf *conf, const struct want *w, const char *profile);

/* The error for "nothing matched", for commands that need a profile. */
int app_no_profile(const struct want *w, struct ds_err *err);

/* --system: root only; opens the broker's key file and becomes the service
 * user (system_keys.c). */
int system_keys_open(struct app *app, struct ds_err *err);

/* DS_EPOLICY when the store in use is the broker, whose keys only the
 * administrator changes (add, remove, store, erase). */
int app_refuse_broker_write(const struct app *app, struct ds_err *err);

#endif

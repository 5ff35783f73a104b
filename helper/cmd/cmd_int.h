/* SPDX-License-Identifier: MIT */
/* What the commands share among themselves and nothing outside cmd/ may
 * use: the variable set of env/exec/proxy, obtaining a key for a command,
 * and the edges where output and key material leave the program. */
#ifndef DS_CMD_INT_H
#define DS_CMD_INT_H

#include <jansson.h>
#include <stdio.h>
#include "cmd/cmd.h"
#include "core/app.h"
#include "conf/place.h"

#define FOR_DASHSCOPE ENVVAR_DASHSCOPE
#define FOR_OPENAI ENVVAR_OPENAI
#define FOR_ANTHROPIC ENVVAR_ANTHROPIC
#define MAX_VARS 16

struct var {
	const char *name;
	const char *value;
	int is_key;
};

struct varset {
	struct var v[MAX_VARS];
	size_t n;
	char expires[32];
};

/* --for LIST (NULL: dashscope,openai) as a mask of envvar families. */
int env_parse_for(const char *list, unsigned *mask, struct ds_err *err);

/* The variables of SPEC section 5, from the table in envvars.c; key is
 * NULL for --no-key. */
void env_build_vars(struct varset *vs, unsigned mask, const struct profile *p,
		    const struct endpoints *ep, const char *model, const char *key,
		    long long expires_at);

/* Clears every variable of mask's families, then sets vs (exec, proxy). */
int env_set_vars(const struct varset *vs, unsigned mask, struct ds_err *err);

/* The profile's model setting, if it has one. */
const char *env_model_of(const struct profile_conf *pc);

/* At a terminal, says when the key dies (what: "this key"). */
void env_note_expiry(const struct credential *c, const char *what);

/* A key for the command line's choice of profile: selection, policy,
 * minting; "nothing matched" is an error here. */
int cmd_obtain(struct app *app, struct credential *c, struct ds_err *err);

/* Sets (set_env) or prints in kind's syntax the variables of for_list
 * (NULL: all three families) pointing at the proxy at origin, each key
 * variable holding key (SPEC section 10). */
int env_for_proxy(const char *for_list, const struct profile *p, const char *model,
		  const char *origin, const char *key, int kind, int set_env, struct ds_err *err);

/* After add: the stored key's id in the key-management API, when
 * credentials are at hand and ListApiKeys finds it without ambiguity,
 * stored beside it (rotate.c); a note on stderr otherwise. */
void add_learn_key_id(struct app *app, struct profile *p, const struct secret *key);

/* Reads a key from the terminal without echo, or one line from a
 * non-terminal standard input. */
int tty_read_key(const char *prompt, struct secret **out, struct ds_err *err);

/* A profile as list --json and status --json show it (new reference). */
json_t *app_profile_json(const struct app *app, const struct profile *p);

/* Prints v (taken) as JSON with flags, and a newline. */
int app_print_json(json_t *v, size_t flags, struct ds_err *err);

/* Writes buf to stdout in one piece and wipes it; the edge for every
 * output that carries a key, so a failure leaves stdout empty. */
int app_emit(char *buf, size_t len, struct ds_err *err);

/* The note that the policy lowered the lifetime asked for, on stderr: made
 * here, at the edge, never by the threads that also obtain keys. */
void cmd_note_lowered(const struct app *app, const struct credential *c);

#endif

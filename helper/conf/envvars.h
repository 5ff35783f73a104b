/* SPDX-License-Identifier: MIT */
/* The environment variables of SPEC sections 5 and 8, in one table: which
 * family (--for) each belongs to, which value it carries, whether it holds
 * a key, and whether the PAM module may put it into a session. */
#ifndef DS_ENVVARS_H
#define DS_ENVVARS_H

#include <stddef.h>

/* Families, as bits of a --for mask. */
#define ENVVAR_DASHSCOPE 1u
#define ENVVAR_OPENAI 2u
#define ENVVAR_ANTHROPIC 4u
#define ENVVAR_ALWAYS 8u /* written whatever --for says */

/* Which value a variable carries. */
enum envvar_value {
	EV_NONE, /* never written: a conflicting variable that is only removed */
	EV_KEY,
	EV_NATIVE_BASE_URL,
	EV_BASE_URL,
	EV_ANTHROPIC_BASE_URL,
	EV_REGION,
	EV_MODEL,
	EV_PROFILE,
	EV_EXPIRES_AT,
};

struct envvar {
	const char *name;
	unsigned family;
	enum envvar_value value;
	unsigned is_key : 1;
	unsigned pam_allowed : 1;
};

/* The table, in the order `env` prints; n receives its length. */
const struct envvar *envvar_table(size_t *n);

/* Parses a --for list ("dashscope,openai") into a mask of families;
 * returns 0, or -1 on an unknown or empty item. */
int envvar_families_parse(const char *list, unsigned *mask);

/* 1 when the len bytes at name are a variable the PAM module may set. */
int envvar_pam_allowed(const char *name, size_t len);

#endif

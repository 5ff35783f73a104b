/* SPDX-License-Identifier: MIT */
/* Checks on long-lived keys (SPEC section 3) and the tail shown by list. */
#ifndef DS_KEY_H
#define DS_KEY_H

#include <stddef.h>
#include "conf/region.h"
#include "base/util.h"

enum key_kind { KEY_LONG_LIVED, KEY_TEMPORARY };

/* Validates a key to be stored. On success *plan_io is the plan the key
 * implies (sk-sp- is Coding Plan) when plan_given is 0, or checked against
 * it when 1. A temporary (st-) key returns KEY_TEMPORARY in *kind and
 * DS_OK: callers must not store it. */
int key_check(const char *key, size_t len, enum plan *plan_io, int plan_given, enum key_kind *kind,
	      struct ds_err *err);

/* Writes "sk-…" plus the last four characters into out (at least 16
 * bytes). */
void key_tail(const char *key, size_t len, char *out, size_t n);

#endif

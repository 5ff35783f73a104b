/* SPDX-License-Identifier: MIT */
/* What a profile may be called: the rule every name that comes in passes
 * (add, store, a config section, a request, a stored record). */
#ifndef DS_NAMES_H
#define DS_NAMES_H

/* 1 when s is a profile name: [A-Za-z0-9._-]{1,64}. */
int profile_name_valid(const char *s);

/* 1 when a profile name looks like a key (sk- or st-, any case): names
 * are kept in clear attributes, shown by list and put in environments,
 * so a key pasted as a name is refused wherever a name comes in. */
int key_like_name(const char *name);

#endif

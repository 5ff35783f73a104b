/* SPDX-License-Identifier: MIT */
/* The bounds of a temporary key's lifetime (SPEC sections 3 and 7), in
 * seconds: what the config, the [broker] rules and a request are checked
 * against. A leaf: it includes nothing. */
#ifndef DS_LIFETIME_H
#define DS_LIFETIME_H

#define DS_LIFETIME_DEFAULT 60
#define DS_LIFETIME_MAX 1800

#endif

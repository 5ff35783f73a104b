/* SPDX-License-Identifier: MIT */
/* A temporary key's lifetime (SPEC sections 3 and 7), in seconds: its
 * bounds, and the one parser that the config, the [broker] rules, the
 * command line and a request all use, so that "00" is 0 everywhere. */
#ifndef DS_LIFETIME_H
#define DS_LIFETIME_H

#define DS_LIFETIME_DEFAULT 60
#define DS_LIFETIME_MAX 1800

/* s as a number of seconds from 0 (allow_zero: the long-lived key) or 1
 * to DS_LIFETIME_MAX into *out: 0, or -1 when it is not one. */
int lifetime_parse(const char *s, int allow_zero, unsigned long *out);

struct conf;

/* The lifetime a caller gets, the one rule (SPEC section 6): the one it
 * asked for (given: the request's or --lifetime), else the profile's
 * lifetime, else the configuration's, else DS_LIFETIME_DEFAULT. Caps (the
 * policy's max_lifetime, the broker's) come after. */
unsigned long lifetime_for(const struct conf *c, const char *profile, int given,
			   unsigned long asked);

#endif

/* SPDX-License-Identifier: MIT */
/* The [broker] section of the system config (SPEC section 12): who may use
 * which profiles through the broker, the lifetime cap and the rate limit.
 * Parsing and matching only: no I/O, so it is unit-tested on its own. A
 * leaf of conf/: conf.h holds a struct broker_conf, this file knows
 * nothing of conf.h. */
#ifndef DS_BROKER_RULES_H
#define DS_BROKER_RULES_H

#include <stddef.h>
#include "base/util.h"

#define BROKER_RATE_DEFAULT 60 /* requests a minute per uid */
#define BROKER_NAME_MAX 33 /* user and group names: 1..32 bytes */

/* One "who = profiles" line: who is a user name, "@group" or "*". */
struct broker_rule {
	char who[BROKER_NAME_MAX + 1];
	char *profiles; /* the raw list, every item a valid profile name */
	char file[256];
	unsigned line;
	struct broker_rule *next;
};

struct broker_conf {
	struct broker_rule *rules; /* in file order */
	unsigned long max_lifetime; /* 0: no cap of its own */
	unsigned long rate; /* per uid per minute; 0: the default */
};

/* The setting (max_lifetime, rate) that name is a slip of ("max-lifetime",
 * "max_lifetme"), or NULL when name is one or reads as a user name. */
const char *broker_setting_closest(const char *name);

/* Takes one setting of [broker]; errors name file and line (DS_EINPUT),
 * and a slip of a setting's name is one, naming the setting. */
int broker_conf_set(struct broker_conf *b, const char *name, const char *value, const char *file,
		    unsigned line, struct ds_err *err);
void broker_conf_free(struct broker_conf *b);

/* Who is asking: a user name and the names of its groups. */
struct broker_caller {
	const char *user;
	const char *const *groups;
	size_t ngroups;
};

/* 1 when at least one rule names the caller (by name, group or "*"). */
int broker_rules_name(const struct broker_conf *b, const struct broker_caller *who);

/* 1 when the union of the caller's rules holds profile. */
int broker_rules_allow(const struct broker_conf *b, const struct broker_caller *who,
		       const char *profile);

/* The rate in force: the configured one or BROKER_RATE_DEFAULT. */
unsigned long broker_rate(const struct broker_conf *b);

#endif

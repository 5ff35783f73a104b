/* SPDX-License-Identifier: MIT */
/* The [pam] section's rules of the system config (SPEC section 9): which
 * profile, region and workspace a user's or group's sessions get. Parsing
 * only, no PAM calls: `doctor` and the PAM module both use it. */
#ifndef DS_PAM_RULES_H
#define DS_PAM_RULES_H

/* Which profile, region and workspace a session gets; NULL: not set.
 * Strings point into argv or into a rule kept by the caller. */
struct pam_place {
	const char *profile, *region, *workspace;
};

/* Reports one problem with an option or a rule (for pam_syslog). */
typedef void (*pam_report_fn)(void *ctx, const char *what, const char *item);

/* The value of "NAME=VALUE" in arg, or NULL when arg is not about name. */
const char *pam_opt_value(const char *arg, const char *name);

/* Takes one place item (profile=, region=, workspace=) into pl: 0 when
 * taken, 1 when its value is bad (reported), -1 when arg is no place
 * item. */
int pam_place_item(struct pam_place *pl, const char *arg, pam_report_fn report, void *ctx);

/* Parses one [pam] rule's settings ("profile=a region=b workspace=c")
 * into place; buf is a writable copy that place points into. Returns 0,
 * or -1 (reported) on a bad setting. */
int pam_rule_parse(char *buf, struct pam_place *place, pam_report_fn report, void *ctx);

/* Fills the fields of dst that are NULL from src. */
void pam_place_merge(struct pam_place *dst, const struct pam_place *src);

#endif

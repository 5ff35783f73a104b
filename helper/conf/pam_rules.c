/* SPDX-License-Identifier: MIT */
/* The [pam] section's rules (SPEC section 9) and the place items they and
 * the PAM module's options share (profile=, region=, workspace=). Conf
 * owns them: `doctor` checks the rules, the module applies them. */
#include "config.h"
#include "conf/pam_rules.h"
#include "conf/region.h"
#include "conf/names.h"

#include <string.h>

const char *pam_opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int pam_place_item(struct pam_place *pl, const char *arg, pam_report_fn report, void *ctx)
{
	const char *v;

	if ((v = pam_opt_value(arg, "profile"))) {
		if (!profile_name_valid(v))
			return report(ctx, "bad profile name in", arg), 1;
		pl->profile = v;
	} else if ((v = pam_opt_value(arg, "region"))) {
		if (!region_find(v))
			return report(ctx, "unknown region in", arg), 1;
		pl->region = v;
	} else if ((v = pam_opt_value(arg, "workspace"))) {
		if (!workspace_valid(v))
			return report(ctx, "bad workspace id in", arg), 1;
		pl->workspace = v;
	} else {
		return -1; /* not a place item */
	}
	return 0;
}

int pam_rule_parse(char *buf, struct pam_place *place, pam_report_fn report, void *ctx)
{
	char *save = NULL;

	memset(place, 0, sizeof(*place));
	for (char *tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		int rc = pam_place_item(place, tok, report, ctx);

		if (rc < 0)
			report(ctx, "unknown setting in [pam] rule:", tok);
		if (rc)
			return -1;
	}
	return 0;
}

void pam_place_merge(struct pam_place *dst, const struct pam_place *src)
{
	if (!dst->profile)
		dst->profile = src->profile;
	if (!dst->region)
		dst->region = src->region;
	if (!dst->workspace)
		dst->workspace = src->workspace;
}

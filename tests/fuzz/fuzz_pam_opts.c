/* SPDX-License-Identifier: MIT */
/* Fuzzes pam_dashscope's option parser and its [pam] rule parser. The
 * input is split at NUL or LF into up to 32 module arguments; the whole
 * input, as a string, is also parsed as one rule. */
#include "config.h"
#include "fuzz.h"
#include "pam/pam_parse.h"
#include "conf/region.h"
#include "conf/names.h"
#include "base/util.h"

#include <string.h>

#define FUZZ_ARGS_MAX 32

static void report_nothing(void *ctx, const char *what, const char *item)
{
	(void)what;
	(void)item;
	++*(unsigned *)ctx;
}

static void check_place(const struct pam_place *pl)
{
	if (pl->profile)
		FUZZ_ASSERT(profile_name_valid(pl->profile));
	if (pl->region)
		FUZZ_ASSERT(region_find(pl->region) != NULL);
	if (pl->workspace)
		FUZZ_ASSERT(workspace_valid(pl->workspace));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	const char *argv[FUZZ_ARGS_MAX];
	struct pam_opts o;
	struct pam_place pl;
	unsigned reports = 0;
	int argc = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = copy;
	for (size_t i = 0; i < size && argc < FUZZ_ARGS_MAX; i++) {
		if (copy[i] == '\n' || copy[i] == '\0') {
			copy[i] = '\0';
			argv[argc++] = copy + i + 1;
		}
	}
	pam_opts_parse(&o, argc, argv, report_nothing, &reports);
	check_place(&o.place);
	FUZZ_ASSERT(o.timeout >= 1 && o.timeout <= 60);
	FUZZ_ASSERT(o.helper[0] == '/' && !ds_has_control(o.helper));
	FUZZ_ASSERT(!o.conf || (o.conf[0] == '/' && !ds_has_control(o.conf)));

	memcpy(copy, data, size);
	copy[size] = '\0';
	if (pam_rule_parse(copy, &pl, report_nothing, &reports) == 0)
		check_place(&pl);
	free(copy);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Fuzzes how pam_dashscope reads its helper's output: only allow-listed
 * NAME=VALUE lines with clean values may reach the session, never a key. */
#include "config.h"
#include "fuzz.h"
#include "pam_parse.h"
#include "util.h"

#include <string.h>

static int check_line(void *ctx, const char *line)
{
	const char *eq = strchr(line, '=');

	++*(unsigned *)ctx;
	FUZZ_ASSERT(eq && pam_name_allowed(line, (size_t)(eq - line)));
	FUZZ_ASSERT(strncmp(eq + 1, "sk-", 3) && strncmp(eq + 1, "st-", 3));
	FUZZ_ASSERT(!ds_has_control(eq + 1));
	FUZZ_ASSERT(strlen(eq + 1) <= PAM_DS_VALUE_MAX);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned lines = 0;
	int fn_rc;

	if (size > PAM_DS_OUTPUT_MAX)
		return 0; /* the module never reads more */
	pam_output_each((const char *)data, size, check_line, &lines, &fn_rc);
	FUZZ_ASSERT(fn_rc == 0);
	return 0;
}

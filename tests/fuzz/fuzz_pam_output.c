/* SPDX-License-Identifier: MIT */
/* Fuzzes how pam_dashscope reads its helper's output: only allow-listed
 * NAME=VALUE lines with clean values may reach the session, never a key. */
#include "config.h"
#include "conf/envvars.h"
#include "fuzz.h"
#include "pam/pam_parse.h"
#include "base/util.h"

#include <string.h>
#include <strings.h>

static int check_line(void *ctx, const char *line)
{
	const char *eq = strchr(line, '=');

	++*(unsigned *)ctx;
	FUZZ_ASSERT(eq && envvar_pam_allowed(line, (size_t)(eq - line)));
	FUZZ_ASSERT(strncmp(eq + 1, "sk-", 3) && strncmp(eq + 1, "st-", 3));
	FUZZ_ASSERT(!ds_has_control(eq + 1));
	FUZZ_ASSERT(strlen(eq + 1) <= PAM_DS_VALUE_MAX);
	return 0;
}

static int alnum_byte(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int word_byte(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '-' || c == '_' || c == '.';
}

static int looks_like_key(const char *s)
{
	return (!strncasecmp(s, "sk-", 3) || !strncasecmp(s, "st-", 3)) && word_byte(s[3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned lines = 0;
	int fn_rc;
	char reason[PAM_DS_REASON_MAX + 1];

	if (size > PAM_DS_OUTPUT_MAX)
		return 0; /* the module never reads more */
	pam_output_each((const char *)data, size, check_line, &lines, &fn_rc);
	FUZZ_ASSERT(fn_rc == 0);
	/* the same bytes as the helper's stderr: one clean line, no key */
	pam_reason_clean((const char *)data, size, reason);
	FUZZ_ASSERT(strlen(reason) <= PAM_DS_REASON_MAX && !ds_has_control(reason));
	for (size_t i = 0; reason[i]; i++) {
		FUZZ_ASSERT((unsigned char)reason[i] < 0x80);
		/* a key-shaped word may only survive right after a letter
		 * or digit (inside a longer word) */
		if (looks_like_key(reason + i))
			FUZZ_ASSERT(i > 0 && alnum_byte(reason[i - 1]));
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Long-lived key shape rules: printable ASCII, no spaces, 8..512 bytes,
 * sk- prefix; sk-sp- means Coding Plan and only Coding Plan. */
#include "config.h"
#include "core/key.h"

#include <stdio.h>
#include <string.h>

int key_check(const char *key, size_t len, enum plan *plan_io, int plan_given, enum key_kind *kind,
	      struct ds_err *err)
{
	int coding;

	*kind = KEY_LONG_LIVED;
	if (len >= 3 && !memcmp(key, "st-", 3)) {
		*kind = KEY_TEMPORARY;
		return DS_OK;
	}
	if (len < 8 || len > 512)
		return ds_err_set(err, DS_EINPUT,
				  "The key must be 8 to 512 characters long; check that you pasted all of it.");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f)
			return ds_err_set(err, DS_EINPUT,
					  "The key must be printable ASCII without spaces; check what you pasted.");
	if (len >= 9 && !memcmp(key, "sk-local-", 9))
		return ds_err_set(err, DS_EINPUT,
				  "That is a proxy key, not a Model Studio key; add the key from the Model Studio console.");
	if (memcmp(key, "sk-", 3) != 0)
		return ds_err_set(err, DS_EINPUT,
				  "A Model Studio API key starts with 'sk-'; this one does not.");
	coding = len >= 6 && !memcmp(key, "sk-sp-", 6);
	if (plan_given) {
		if (*plan_io == PLAN_CODING && !coding)
			return ds_err_set(err, DS_EINPUT,
					  "Plan coding needs a Coding Plan key (sk-sp-...); this is a pay-as-you-go key.");
		if (*plan_io == PLAN_PAYG && coding)
			return ds_err_set(err, DS_EINPUT,
					  "An sk-sp- key is a Coding Plan key; use --plan coding or leave the plan out.");
	}
	*plan_io = coding ? PLAN_CODING : PLAN_PAYG;
	return DS_OK;
}

void key_tail(const char *key, size_t len, char *out, size_t n)
{
	/* "sk-" + U+2026 + four characters: enough to tell keys apart */
	if (len < 8) {
		snprintf(out, n, "sk-\xe2\x80\xa6");
		return;
	}
	snprintf(out, n, "sk-\xe2\x80\xa6%.4s", key + len - 4);
}

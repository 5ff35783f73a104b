/* SPDX-License-Identifier: MIT */
/* Fuzzes the file store's reader (SPEC section 3): a damaged or edited
 * key file must give one clear error, never a crash or a partial load. */
#include "config.h"
#include "fuzz.h"
#include "core/store.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ds_err err = { 0, "" };
	size_t n;

	if (store_file_parse((const char *)data, size, &n, &err) != DS_OK) {
		FUZZ_ASSERT(err.code == DS_ESTORE || err.code == DS_EFAIL);
		FUZZ_ASSERT(n == 0);
		FUZZ_ASSERT(!ds_has_control(err.msg));
	}
	return 0;
}

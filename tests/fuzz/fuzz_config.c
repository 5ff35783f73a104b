/* SPDX-License-Identifier: MIT */
/* Fuzzes the configuration parser (SPEC section 6). The first byte picks
 * whether the text is read as the system file (with [policy] and [pam])
 * or as a user file. */
#include "config.h"
#include "fuzz.h"
#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	struct ds_err err = { 0, "" };
	int is_system;

	if (size == 0)
		return 0;
	is_system = data[0] & 1;
	conf_init(&c);
	if (conf_load_buffer(&c, (const char *)data + 1, size - 1, is_system, &err) != DS_OK) {
		FUZZ_ASSERT(err.msg[0] != '\0');
		FUZZ_ASSERT(!ds_has_control(err.msg));
	} else {
		FUZZ_ASSERT(c.lifetime <= 1800);
	}
	conf_free(&c);
	return 0;
}

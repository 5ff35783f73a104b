/* SPDX-License-Identifier: MIT */
/* Fuzzes the credential-protocol reader the binary runs (request_read,
 * SPEC section 4) with whole stdin images: framing, caps, URL splitting and the output writer. */
#include "config.h"
#include "fuzz.h"
#include "core/protocol.h"

#include <string.h>

static void check_message(const struct ds_err *err)
{
	/* Messages go to a terminal: hostile bytes must not reach it. */
	FUZZ_ASSERT(!ds_has_control(err->msg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct request req;
	struct ds_err err = { 0, "" };
	FILE *in;
	int rc;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	/* the reader the binary runs on standard input, not a test framer */
	in = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	FUZZ_ASSERT(in != NULL);
	request_init(&req);
	rc = request_read(in, &req, &err);
	fclose(in);
	if (rc == DS_OK) {
		FUZZ_ASSERT(req.lines <= PROTO_LINES_MAX);
		if (request_apply_url(&req, &err) != DS_OK)
			check_message(&err);
		for (int a = 0; a < ATTR_COUNT; a++) {
			const char *v = request_get(&req, (enum attr)a);

			/* A value that was accepted is one line. */
			if (v) {
				FUZZ_ASSERT(!strchr(v, '\n') && !strchr(v, '\r'));
				proto_write(devnull, "x", v);
			}
		}
		if (req.password)
			FUZZ_ASSERT(strlen(req.password->data) == req.password->len);
	} else {
		FUZZ_ASSERT(err.code == DS_EINPUT || err.code == DS_EFAIL);
		check_message(&err);
	}
	request_free(&req);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Fuzzes the reading of the token endpoint's answers (SPEC section 7):
 * a success must yield a printable, shell-safe token with a sane expiry,
 * and an error answer's fields must reach the terminal clean. */
#include "config.h"
#include "fuzz.h"
#include "core/token.h"

#include <string.h>

#define FUZZ_NOW 1800000000
#define FUZZ_LIFETIME 60

/* Printable, and any key-shaped text masked: "sk-" or "st-" is followed
 * by "***" or by something a key cannot hold. */
static void check_clean(const char *s, size_t n)
{
	FUZZ_ASSERT(strlen(s) < n);
	for (const char *p = s; *p; p++) {
		FUZZ_ASSERT((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
		if (p[0] == 's' && (p[1] == 'k' || p[1] == 't') && p[2] == '-')
			FUZZ_ASSERT(
				!p[3] || !strncmp(p + 3, "***", 3) ||
				!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
					p[3]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct minted m;
	struct ds_err err = { 0, "" };
	char code[64], message[256], request_id[64];

	if (!ready) {
		token_json_init();
		ready = 1;
	}
	if (token_parse_success((const char *)data, size, FUZZ_NOW, FUZZ_LIFETIME, &m, &err) ==
	    DS_OK) {
		FUZZ_ASSERT(m.token && token_chars_safe(m.token->data, m.token->len));
		FUZZ_ASSERT(m.expires_at > FUZZ_NOW &&
			    m.expires_at <= FUZZ_NOW + FUZZ_LIFETIME + TOKEN_EXPIRY_SLACK);
		secret_free(m.token);
	} else {
		FUZZ_ASSERT(err.code == DS_ENET || err.code == DS_EFAIL);
		FUZZ_ASSERT(m.token == NULL);
	}
	/* The three fields share one size here; main uses the same call. */
	token_parse_error((const char *)data, size, code, message, request_id, sizeof(code));
	check_clean(code, sizeof(code));
	check_clean(message, sizeof(code));
	check_clean(request_id, sizeof(code));
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Minting temporary keys: the calls over the network module (net.c) and
 * the parsing and validation of its answers (token_response.c, no network:
 * fuzzable). */
#ifndef DS_TOKEN_H
#define DS_TOKEN_H

#include <stddef.h>
#include <time.h>
#include "base/secret.h"
#include "base/util.h"

#define TOKEN_RESPONSE_MAX (64 * 1024)
#define TOKEN_EXPIRY_SLACK 300 /* seconds the server may add to a lifetime */

struct minted {
	struct secret *token; /* owned: secret_free */
	long long expires_at; /* Unix seconds, from the server */
};

struct token_request {
	const char *token_url; /* https://H/api/v1/tokens (no query) */
	const char *ca_file; /* NULL: system CAs */
	unsigned long timeout; /* seconds for one attempt, connect included */
	unsigned long lifetime; /* 1..1800 */
	const struct secret *key;
};

/* Installs jansson allocators that wipe every block on free, so key
 * material parsed from a response does not linger on the heap. */
void token_json_init(void);

/* Frees (and wipes) a string made by json_dumps after token_json_init. */
void token_json_free(void *p);

/* Loads the network module and sets libcurl up (once; a program that
 * starts threads calls it first). */
int token_global_init(struct ds_err *err);

/* Releases libcurl if a mint set it up (at exit). */
void token_global_cleanup(void);

struct net_ops;

/* The network module (loaded and set up on first use), for calls other
 * than the token endpoint's (keymgmt.c); NULL with err set. */
const struct net_ops *net_module(struct ds_err *err);

/* Reads the CA file (NULL: none; *ca NULL) as every file of ours is read. */
int net_ca_read(const char *ca_file, char **ca, size_t *len, struct ds_err *err);

/* Waits before attempt+1 of a call: Retry-After when given, else 250 ms
 * doubled with jitter. */
void net_backoff(int attempt, long retry_after);

/* POSTs to the token endpoint with retries (SPEC section 7). */
int token_mint(const struct token_request *tr, struct minted *out, struct ds_err *err);

/* Validates a 200 answer: {"token": safe string, "expires_at": integer in
 * (now, now + lifetime + 300]}. DS_ENET with the reason otherwise. */
int token_parse_success(const char *body, size_t len, time_t now, unsigned long lifetime,
			struct minted *out, struct ds_err *err);

/* Extracts code, message and request_id of an error answer, with control
 * characters replaced, each cut to fit; empty strings when absent. */
void token_parse_error(const char *body, size_t len, char *code, char *message, char *request_id,
		       size_t n);

/* 1 when text holds the key in a common encoding: literally in any
 * letter case, percent-encoded, base64 or base64url at any alignment. A
 * server message that does is not shown at all (SPEC section 7). */
int token_text_holds_key(const char *text, size_t len, const char *key, size_t klen);

/* Seconds before expiry at which a cached temporary key of this lifetime
 * is replaced (SPEC section 10): max(15 s, lifetime / 4), never more than
 * lifetime / 2. The proxy, the rotating key file and the broker share it. */
double token_renewal_margin(unsigned long lifetime);

/* 1 when an error answer would show the key: the raw body, or a field
 * shown to the user once its JSON escapes are decoded, holds it
 * (token_text_holds_key). */
int token_error_holds_key(const char *body, size_t len, const char *key, size_t klen);

/* 1 when s is safe to print and to put in any shell or protocol line:
 * printable ASCII without space, quotes, $, backquote, ; or backslash. */
int token_chars_safe(const char *s, size_t len);

#endif

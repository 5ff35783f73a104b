/* SPDX-License-Identifier: MIT */
/* Reading the token endpoint's answers. Nothing here trusts the server:
 * the token is checked character by character before anyone prints it. */
#include "config.h"
#include "core/token.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Each block carries its size in front so free can wipe it. */
static void *wipe_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(size_t) * 2);

	if (!p)
		return NULL;
	p[0] = n;
	return p + 2;
}

static void wipe_free(void *ptr)
{
	size_t *p;

	if (!ptr)
		return;
	p = (size_t *)ptr - 2;
	explicit_bzero(ptr, p[0]);
	free(p);
}

void token_json_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

void token_json_free(void *p)
{
	json_free_t free_fn;

	json_get_alloc_funcs(NULL, &free_fn);
	free_fn(p);
}

int token_chars_safe(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("'\"$`;\\", c))
			return 0;
	}
	return 1;
}

static int malformed(struct ds_err *err, const char *why)
{
	return ds_err_set(err, DS_ENET,
			  "The token endpoint sent a malformed answer (%s); nothing was printed. Check the endpoint setting or try again later.",
			  why);
}

int token_parse_success(const char *body, size_t len, time_t now, unsigned long lifetime,
			struct minted *out, struct ds_err *err)
{
	json_error_t jerr;
	json_t *root, *tok, *exp;
	const char *ts;
	size_t tlen;
	json_int_t e;
	int rc = DS_OK;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return malformed(err, "not JSON, or a duplicated key");
	if (!json_is_object(root)) {
		json_decref(root);
		return malformed(err, "not a JSON object");
	}
	tok = json_object_get(root, "token");
	exp = json_object_get(root, "expires_at");
	if (!tok || !json_is_string(tok)) {
		rc = malformed(err, "no token string");
		goto out;
	}
	ts = json_string_value(tok);
	tlen = json_string_length(tok);
	if (tlen > 4096 || strlen(ts) != tlen || !token_chars_safe(ts, tlen)) {
		rc = malformed(err, "the token is empty, too long or has unsafe characters");
		goto out;
	}
	if (!exp || !json_is_integer(exp)) {
		rc = malformed(err, "no integer expires_at");
		goto out;
	}
	e = json_integer_value(exp);
	if (e <= (json_int_t)now) {
		rc = malformed(err, "expires_at is in the past; is this machine's clock right?");
		goto out;
	}
	if (e > (json_int_t)now + (json_int_t)lifetime + TOKEN_EXPIRY_SLACK) {
		rc = malformed(err,
			       "expires_at is later than the lifetime asked for; is this machine's clock right?");
		goto out;
	}
	out->token = secret_new(ts, tlen);
	if (!out->token) {
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
		goto out;
	}
	out->expires_at = (long long)e;
out:
	json_decref(root);
	return rc;
}

static int key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* Copies a server string for a terminal: controls and non-ASCII become
 * '?', so an answer cannot disguise itself as our output (CVE-2024-50349),
 * and anything shaped like a key (a server echoing our Authorization
 * header) becomes "sk-***", so it cannot reach a log through stderr. */
static void copy_clean(char *dst, size_t n, const char *src)
{
	size_t o = 0;

	for (; src && *src && o + 1 < n; src++) {
		/* any letter case: a cut-off "SK-..." is still part of a key */
		char c1 = (char)(src[1] | 0x20);

		if ((*src | 0x20) == 's' && (c1 == 'k' || c1 == 't') && src[2] == '-' &&
		    key_char(src[3])) {
			for (const char *r = c1 == 'k' ? "sk-***" : "st-***"; *r && o + 1 < n; r++)
				dst[o++] = *r;
			for (src += 3; key_char(src[1]); src++)
				;
			continue;
		}
		dst[o++] = ((unsigned char)*src < 0x20 || (unsigned char)*src >= 0x7f) ? '?' : *src;
	}
	dst[o] = '\0';
}

/* The fields of an error answer that are shown to the user. */
static const char *const error_fields[] = { "code", "message", "request_id" };

void token_parse_error(const char *body, size_t len, char *code, char *message, char *request_id,
		       size_t n)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	char *const dsts[] = { code, message, request_id };

	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_is_object(root) ? json_object_get(root, error_fields[i]) : NULL;

		dsts[i][0] = '\0';
		if (json_is_string(v))
			copy_clean(dsts[i], n, json_string_value(v));
	}
	json_decref(root);
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The base64 characters of key that do not depend on the bytes around
 * it, as the key looks after skip (0..2) other bytes: every way it can
 * appear inside a longer encoded text. */
static size_t b64_core(const char *key, size_t len, size_t skip, int url, char *out, size_t n)
{
	size_t total = skip + len, groups = total / 3, o = 0;

	for (size_t g = skip ? 1 : 0; g < groups && o + 4 < n; g++) {
		unsigned char b[3];
		unsigned v;

		for (int k = 0; k < 3; k++) {
			size_t at = g * 3 + (size_t)k;

			b[k] = at < skip ? 0 : (unsigned char)key[at - skip];
		}
		v = (unsigned)b[0] << 16 | (unsigned)b[1] << 8 | b[2];
		for (int k = 3; k >= 0; k--) {
			char c = b64_std[(v >> (6 * k)) & 63];

			if (url && c == '+')
				c = '-';
			else if (url && c == '/')
				c = '_';
			out[o++] = c;
		}
	}
	out[o] = '\0';
	return o;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int token_text_holds_key(const char *text, size_t len, const char *key, size_t klen)
{
	char *dec = malloc(len + 1), core[1024];
	size_t d = 0;
	int found = 0;

	if (!dec || klen < 4)
		goto out;
	/* percent-decoded, then any letter case */
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (text[i] == '%' && i + 2 < len && (hi = hex_val(text[i + 1])) >= 0 &&
		    (lo = hex_val(text[i + 2])) >= 0) {
			dec[d++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dec[d++] = text[i];
		}
	}
	dec[d] = '\0';
	for (size_t i = 0; !found && i + klen <= d; i++)
		found = strncasecmp(dec + i, key, klen) == 0;
	/* base64 and base64url at each alignment (case matters there) */
	for (size_t skip = 0; !found && skip < 3; skip++) {
		for (int url = 0; !found && url < 2; url++) {
			size_t cl = b64_core(key, klen, skip, url, core, sizeof(core));

			found = cl >= 8 && memmem(text, len, core, cl) != NULL;
		}
	}
out:
	if (dec) {
		explicit_bzero(dec, d);
		free(dec);
	}
	return found;
}

double token_renewal_margin(unsigned long lifetime)
{
	double quarter = (double)lifetime / 4, half = (double)lifetime / 2;
	double m = quarter > 15 ? quarter : 15;

	return m > half ? half : m;
}

int token_error_holds_key(const char *body, size_t len, const char *key, size_t klen)
{
	json_t *root;
	int found = token_text_holds_key(body, len, key, klen);

	/* JSON escapes ("\/" in base64, "\u0053K-...") hide an echo from the
	 * raw body, not from the text shown: judge that text as well */
	root = found ? NULL : json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	for (size_t i = 0; !found && i < 3; i++) {
		json_t *v = json_is_object(root) ? json_object_get(root, error_fields[i]) : NULL;

		if (json_is_string(v))
			found = token_text_holds_key(json_string_value(v), json_string_length(v),
						     key, klen);
	}
	json_decref(root);
	return found;
}

/* SPDX-License-Identifier: MIT */
/* ACS3-HMAC-SHA256 (acs3.h): OpenSSL's SHA-256 and HMAC over the
 * canonical request that Alibaba Cloud's OpenAPI documents. Nothing here
 * reads a clock or a random source: the caller's headers carry the date
 * and the nonce. */
#include "config.h"
#include "net/acs3.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex_lower(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void acs3_sha256_hex(const void *data, size_t len, char out[ACS3_HEX_LEN + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	hex_lower(md, sizeof(md), out);
}

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

char *acs3_encode(const char *in, size_t len, int keep_slash)
{
	char *out = malloc(3 * len + 1), *p = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (unreserved(c) || (keep_slash && c == '/'))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return out;
}

/* A growing string; on failure it is freed and stays NULL. */
struct buf {
	char *s;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (!b->s)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = 2 * (b->len + n + 1);
		char *s2 = realloc(b->s, cap);

		if (!s2) {
			free(b->s);
			b->s = NULL;
			return;
		}
		b->s = s2;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_encoded(struct buf *b, const char *s, int keep_slash)
{
	char *e = acs3_encode(s, strlen(s), keep_slash);

	if (!e) {
		free(b->s);
		b->s = NULL;
		return;
	}
	buf_str(b, e);
	free(e);
}

static int buf_init(struct buf *b)
{
	b->cap = 256;
	b->len = 0;
	b->s = malloc(b->cap);
	if (b->s)
		b->s[0] = '\0';
	return b->s ? 0 : -1;
}

/* One signed header: its name in lower case and its value trimmed. */
struct hdr {
	char *name;
	const char *value;
	size_t vlen;
};

static int cmp_bytes(const char *a, const char *b)
{
	return strcmp(a, b); /* strcmp compares as unsigned char: bytewise */
}

static int cmp_query(const void *a, const void *b)
{
	return cmp_bytes(((const struct acs3_field *)a)->name,
			 ((const struct acs3_field *)b)->name);
}

static int cmp_hdr(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = cmp_bytes(x->name, y->name);
	size_t n = x->vlen < y->vlen ? x->vlen : y->vlen;

	/* a repeated name's values in byte order, as the official client */
	if (c == 0)
		c = memcmp(x->value, y->value, n);
	if (c == 0)
		c = x->vlen < y->vlen ? -1 : x->vlen > y->vlen;
	return c;
}

static int signed_name(const char *lower)
{
	return !strcmp(lower, "host") || !strcmp(lower, "content-type") ||
	       !strncmp(lower, "x-acs-", 6);
}

static void query_add(struct buf *b, const struct acs3_field *query, size_t nquery)
{
	struct acs3_field *q = nquery ? malloc(nquery * sizeof(*q)) : NULL;

	if (nquery && !q) {
		free(b->s);
		b->s = NULL;
		return;
	}
	if (nquery) {
		memcpy(q, query, nquery * sizeof(*q));
		qsort(q, nquery, sizeof(*q), cmp_query);
	}
	for (size_t i = 0; i < nquery; i++) {
		if (i)
			buf_str(b, "&");
		buf_encoded(b, q[i].name, 0);
		buf_str(b, "=");
		buf_encoded(b, q[i].value ? q[i].value : "", 0);
	}
	free(q);
}

char *acs3_canonical_query(const struct acs3_field *query, size_t nquery)
{
	struct buf b = { NULL, 0, 0 };

	if (buf_init(&b))
		return NULL;
	query_add(&b, query, nquery);
	return b.s;
}

static size_t hdrs_collect(const struct acs3_field *headers, size_t nheaders, struct hdr *h)
{
	size_t n = 0;

	for (size_t i = 0; i < nheaders; i++) {
		char *lower = strdup(headers[i].name);
		const char *v = headers[i].value ? headers[i].value : "";
		size_t vlen;

		if (!lower)
			return (size_t)-1;
		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!signed_name(lower)) {
			free(lower);
			continue;
		}
		while (*v == ' ' || *v == '\t')
			v++;
		vlen = strlen(v);
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		h[n++] = (struct hdr){ lower, v, vlen };
	}
	return n;
}

/* "name:v1,v2\n" for each signed name, and "name;name2" beside it. */
static void hdrs_add(struct buf *b, struct buf *names, struct hdr *h, size_t n)
{
	qsort(h, n, sizeof(*h), cmp_hdr);
	for (size_t i = 0; i < n; i++) {
		int first = i == 0 || strcmp(h[i - 1].name, h[i].name);
		int last = i + 1 == n || strcmp(h[i + 1].name, h[i].name);

		if (first) {
			buf_str(b, h[i].name);
			buf_str(b, ":");
			if (names->len)
				buf_str(names, ";");
			buf_str(names, h[i].name);
		} else {
			buf_str(b, ",");
		}
		buf_add(b, h[i].value, h[i].vlen);
		if (last)
			buf_str(b, "\n");
	}
}

int acs3_canonical_request(const char *method, const char *path, const struct acs3_field *query,
			   size_t nquery, const struct acs3_field *headers, size_t nheaders,
			   const char *payload_hash, char **canonical, char **signed_headers)
{
	struct buf b = { NULL, 0, 0 }, names = { NULL, 0, 0 };
	struct hdr *h = malloc((nheaders ? nheaders : 1) * sizeof(*h));
	size_t n;

	*canonical = *signed_headers = NULL;
	if (!h || buf_init(&b) || buf_init(&names)) {
		free(h);
		free(b.s);
		free(names.s);
		return -1;
	}
	buf_str(&b, method);
	buf_str(&b, "\n");
	if (path && *path)
		buf_encoded(&b, path, 1);
	else
		buf_str(&b, "/");
	buf_str(&b, "\n");
	query_add(&b, query, nquery);
	buf_str(&b, "\n");
	n = hdrs_collect(headers, nheaders, h);
	if (n == (size_t)-1) {
		n = 0;
		free(b.s);
		b.s = NULL;
	}
	hdrs_add(&b, &names, h, n);
	buf_str(&b, "\n");
	buf_str(&b, names.s ? names.s : "");
	buf_str(&b, "\n");
	buf_str(&b, payload_hash);
	for (size_t i = 0; i < n; i++)
		free(h[i].name);
	free(h);
	if (!b.s || !names.s) {
		free(b.s);
		free(names.s);
		return -1;
	}
	*canonical = b.s;
	*signed_headers = names.s;
	return 0;
}

char *acs3_authorization(const char *method, const char *path, const struct acs3_field *query,
			 size_t nquery, const struct acs3_field *headers, size_t nheaders,
			 const char *payload_hash, const char *key_id, const char *secret,
			 size_t secret_len)
{
	char *canonical, *names, *auth = NULL;
	char to_sign[sizeof(ACS3_ALGORITHM) + ACS3_HEX_LEN + 1], sig[ACS3_HEX_LEN + 1];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t len;

	if (acs3_canonical_request(method, path, query, nquery, headers, nheaders, payload_hash,
				   &canonical, &names))
		return NULL;
	memcpy(to_sign, ACS3_ALGORITHM "\n", sizeof(ACS3_ALGORITHM));
	acs3_sha256_hex(canonical, strlen(canonical), to_sign + sizeof(ACS3_ALGORITHM));
	free(canonical);
	if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)to_sign,
		  strlen(to_sign), mac, &mac_len) ||
	    mac_len != SHA256_DIGEST_LENGTH) {
		free(names);
		return NULL;
	}
	hex_lower(mac, mac_len, sig);
	len = strlen(ACS3_ALGORITHM) + strlen(key_id) + strlen(names) + ACS3_HEX_LEN + 48;
	auth = malloc(len);
	if (auth)
		snprintf(auth, len, ACS3_ALGORITHM " Credential=%s,SignedHeaders=%s,Signature=%s",
			 key_id, names, sig);
	free(names);
	return auth;
}

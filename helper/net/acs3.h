/* SPDX-License-Identifier: MIT */
/* Alibaba Cloud's ACS3-HMAC-SHA256 request signature (the OpenAPI's V3
 * signature, as aliyun/darabonba-openapi computes it): the canonical
 * request, the string to sign and the Authorization value. Pure functions
 * of their arguments (the caller supplies the date, the nonce and every
 * header), so that the published test vector checks them
 * (tests/check_acs3.c). Used by the network module only. */
#ifndef DS_ACS3_H
#define DS_ACS3_H

#include <stddef.h>

#define ACS3_ALGORITHM "ACS3-HMAC-SHA256"
#define ACS3_HEX_LEN 64 /* a lower-hex SHA-256 */

/* One query parameter or header: NUL-terminated, unencoded. */
struct acs3_field {
	const char *name;
	const char *value;
};

/* RFC 3986 percent-encoding (the unreserved A-Z a-z 0-9 - _ . ~ kept,
 * every other byte %XX in upper case: space %20, * %2A); with keep_slash
 * "/" is kept too, for a path. A new string the caller frees, or NULL. */
char *acs3_encode(const char *in, size_t len, int keep_slash);

/* The canonical query string ("a=1&b=x%20y", names sorted bytewise), also
 * the query a signed request's URL carries. A new string, or NULL. */
char *acs3_canonical_query(const struct acs3_field *query, size_t nquery);

/* out: the lower-hex SHA-256 of len bytes, NUL-terminated. */
void acs3_sha256_hex(const void *data, size_t len, char out[ACS3_HEX_LEN + 1]);

/* The canonical request of METHOD, PATH (unencoded; "" is "/"), the query
 * and the headers (host, content-type and x-acs-* are signed, names in
 * lower case, values trimmed, sorted; a repeated name's values joined by
 * ","), and the payload's hash. *canonical and *signed_headers are new
 * strings the caller frees; -1 (both NULL) when out of memory. */
int acs3_canonical_request(const char *method, const char *path, const struct acs3_field *query,
			   size_t nquery, const struct acs3_field *headers, size_t nheaders,
			   const char *payload_hash, char **canonical, char **signed_headers);

/* The Authorization header's value for that request, signed with the
 * AccessKey secret (secret_len bytes): "ACS3-HMAC-SHA256
 * Credential=ID,SignedHeaders=...,Signature=HEX". A new string the caller
 * frees, or NULL. */
char *acs3_authorization(const char *method, const char *path, const struct acs3_field *query,
			 size_t nquery, const struct acs3_field *headers, size_t nheaders,
			 const char *payload_hash, const char *key_id, const char *secret,
			 size_t secret_len);

#endif

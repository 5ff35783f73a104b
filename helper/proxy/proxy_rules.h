/* SPDX-License-Identifier: MIT */
/* What the proxy lets through its door (SPEC section 10), as plain
 * functions of bytes: strict HTTP/1.1 fields for requests and upstream
 * answers, the canonical-path rule, and the log's cleaning. No
 * libmicrohttpd and no libcurl here, so tests/check_proxy_rules.c runs
 * every rule on its own. */
#ifndef DS_PROXY_RULES_H
#define DS_PROXY_RULES_H

#include <stddef.h>

#define RULES_METHOD_MAX 15 /* longest method forwarded */

/* Whether the n bytes are an RFC 9110 token (a method or a field name). */
int rules_token(const char *s, size_t n);

/* Whether a field value's n bytes hold no control byte (HTAB aside): no
 * CR, LF, NUL or DEL. Bytes >= 0x80 (obs-text) are allowed. */
int rules_field_value(const char *v, size_t n);

/* One request header as libmicrohttpd 0.9.75 left it in its read buffer,
 * which it parses in place: the name's colon and the line's CR and LF
 * became NULs. Checks the name (a token, the colon right after it), the
 * gap to the value (spaces and tabs only), the value (rules_field_value;
 * vlen is the length MHD recorded, so a NUL inside shows as a short
 * value) and the line end (CRLF: two NULs). Returns where the next line
 * must begin, or NULL when the line was not strict. */
const char *rules_header_in_place(const char *name, size_t nlen, const char *value, size_t vlen);

/* What the request's framing headers said, gathered one header at a time
 * (rules_request_framing); zero it before the first. */
struct rules_framing {
	int hosts; /* Host headers seen */
	int lengths; /* Content-Length headers seen */
	int codings; /* Transfer-Encoding headers seen */
	int bad; /* one of them was malformed */
	int coding_blank; /* Transfer-Encoding ended in blanks */
};

/* Adds one header to f (its name is a token already). */
void rules_framing_add(struct rules_framing *f, const char *name, size_t nlen, const char *value,
		       size_t vlen);

/* Whether the framing of a request is unambiguous: one Host, at most
 * one Content-Length of digits only, a Transfer-Encoding only alone and
 * only exactly "chunked" (and never in HTTP/1.0). NULL when it is, else
 * why not, in a sentence. */
const char *rules_request_framing(const struct rules_framing *f, int http10);

/* The same for an upstream answer's head: no Host count, and a response
 * may carry neither Content-Length nor Transfer-Encoding (it then ends at
 * close). */
const char *rules_response_framing(const struct rules_framing *f);

/* One line of an upstream answer's head as libcurl hands it over (n bytes,
 * the line end included): the status line or a header line, strict:
 * CRLF at the end, no obs-fold, a token name with the colon right after
 * it, a clean value. 1 when it is. */
int rules_response_line(const char *line, size_t n);

/* The path rule of SPEC section 10, on the request target exactly as it
 * will be sent upstream (its path is the part before the first '?').
 * Returns 0 when the path may go upstream, 400 when no upstream may see
 * it (the rule in man/dashscope-credential.1), 404 when it is well formed
 * but outside the forwarded prefixes or at the token endpoint. coding:
 * the profile is a Coding Plan one. *why is set to a sentence on refusal. */
unsigned rules_path(const char *target, size_t n, int coding, const char **why);

/* Copies n bytes of src into dst (size dsize, always terminated) for the
 * log: printable ASCII as is, every other byte (controls, DEL, bytes
 * >= 0x80, a backslash) as \xNN, so nothing a client or an upstream sent
 * can move a terminal's cursor or forge a line. Cut at dsize. */
void rules_log_clean(char *dst, size_t dsize, const char *src, size_t n);

#endif

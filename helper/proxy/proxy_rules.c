/* SPDX-License-Identifier: MIT */
/* The proxy's door (proxy_rules.h): strict HTTP/1.1 fields (RFC 9110,
 * 9112), the canonical-path rule of SPEC section 10 and the cleaning of
 * what the log prints. Plain functions of bytes, shared by the server,
 * the upstream transfer and tests/check_proxy_rules.c. */
#include "config.h"
#include "proxy/proxy_rules.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int rules_token(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

int rules_field_value(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

const char *rules_header_in_place(const char *name, size_t nlen, const char *value, size_t vlen)
{
	const char *p;

	if (!rules_token(name, nlen) || name[nlen] != 0)
		return NULL; /* "Name :" or a name MHD cut short */
	if (value <= name + nlen)
		return NULL;
	for (p = name + nlen + 1; p < value; p++)
		if (*p != ' ' && *p != '\t')
			return NULL;
	if (!rules_field_value(value, vlen))
		return NULL;
	/* CRLF became two NULs; a bare LF one, and a NUL inside the value
	 * leaves the rest of the value after the first */
	if (value[vlen] != 0 || value[vlen + 1] != 0)
		return NULL;
	return value + vlen + 2;
}

static int digits(const char *v, size_t n)
{
	if (n == 0 || n > 18) /* 18 digits: an exabyte, never a sane body */
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

void rules_framing_add(struct rules_framing *f, const char *name, size_t nlen, const char *value,
		       size_t vlen)
{
	size_t full = vlen;

	/* the value without its trailing spaces (RFC 9110 5.5: not part of it) */
	while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	if (nlen == 4 && !strncasecmp(name, "host", 4)) {
		f->hosts++;
	} else if (nlen == 14 && !strncasecmp(name, "content-length", 14)) {
		f->lengths++;
		if (!digits(value, vlen))
			f->bad = 1;
	} else if (nlen == 17 && !strncasecmp(name, "transfer-encoding", 17)) {
		f->codings++;
		/* chunked alone: a list ("chunked, identity", "gzip, chunked")
		 * is read one way here and another way upstream */
		if (vlen != 7 || strncasecmp(value, "chunked", 7))
			f->bad = 1;
		if (full != vlen)
			f->coding_blank = 1;
	}
}

static const char *framing_common(const struct rules_framing *f)
{
	if (f->lengths && f->codings)
		return "The request has both Content-Length and Transfer-Encoding.";
	if (f->lengths > 1)
		return "The request has more than one Content-Length.";
	if (f->codings > 1)
		return "The request has more than one Transfer-Encoding.";
	if (f->bad)
		return "The request's Content-Length is not a number, or its transfer coding is not chunked alone.";
	return NULL;
}

const char *rules_request_framing(const struct rules_framing *f, int http10)
{
	const char *why = framing_common(f);

	if (why)
		return why;
	if (f->hosts > 1)
		return "The request has more than one Host header.";
	if (http10 && f->codings)
		return "An HTTP/1.0 request cannot have a transfer coding.";
	/* libmicrohttpd 0.9.75 keeps the blanks and then does not see
	 * "chunked": it would read the body to the end of the connection,
	 * a pipelined request included */
	if (f->coding_blank)
		return "The request's Transfer-Encoding ends in blanks.";
	return NULL;
}

const char *rules_response_framing(const struct rules_framing *f)
{
	if (f->lengths && f->codings)
		return "the upstream's answer has both Content-Length and Transfer-Encoding.";
	if (f->lengths > 1)
		return "the upstream's answer has more than one Content-Length.";
	if (f->codings > 1)
		return "the upstream's answer has more than one Transfer-Encoding.";
	if (f->bad)
		return "the upstream's answer has a malformed Content-Length or a transfer coding other than chunked.";
	return NULL;
}

static int status_line(const char *s, size_t n)
{
	/* HTTP/1.x SP 3DIGIT SP reason (the reason may be empty) */
	if (n < 12 || strncmp(s, "HTTP/1.", 7) || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
		return 0;
	for (size_t i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	if (n == 12)
		return 1;
	return s[12] == ' ' && rules_field_value(s + 13, n - 13);
}

int rules_response_line(const char *line, size_t n)
{
	const char *colon;
	size_t nlen;

	if (n < 2 || line[n - 2] != '\r' || line[n - 1] != '\n')
		return 0; /* a bare LF, or a line cut short */
	n -= 2;
	if (n == 0)
		return 1; /* the end of the head */
	if (n >= 5 && !strncmp(line, "HTTP/", 5))
		return status_line(line, n);
	colon = memchr(line, ':', n);
	if (!colon)
		return 0;
	nlen = (size_t)(colon - line);
	/* a token name rules out obs-fold (a leading space) and "Name :" */
	return rules_token(line, nlen) && rules_field_value(colon + 1, n - nlen - 1);
}

/* ---- paths ---- */

static int is_unreserved(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* A byte a path may hold as it is: RFC 3986 pchar and '/', less ';'
 * (path parameters: Tomcat and Spring cut the segment there). */
static int path_literal(unsigned char c)
{
	return is_unreserved(c) || (c && strchr("!$&'()*+,=:@/", c) != NULL);
}

/* A byte a path may hold percent-encoded: one that has no literal
 * spelling here (space aside) and that no server decodes into a
 * separator. Encoded letters, digits, dots, slashes, backslashes, ';',
 * '#', '?' and '%' itself are each another spelling of something this
 * rule looks at, so they are refused. */
static int path_encodable(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f || is_unreserved(c))
		return 0;
	return strchr("/\\;#?%", c) == NULL;
}

static int query_byte(unsigned char c)
{
	/* visible ASCII, no fragment: curl would cut the URL at '#' */
	return c > 0x20 && c < 0x7f && c != '#';
}

/* 400 checks: bytes, escapes, segments. */
static const char *path_malformed(const char *t, size_t n, size_t plen)
{
	size_t seg = 1; /* where the current segment starts */
	unsigned segs = 0; /* slashes so far: the segment's number */

	if (plen == 0 || t[0] != '/')
		return "The request target is not a path.";
	for (size_t i = plen; i < n; i++)
		if (!query_byte((unsigned char)t[i]))
			return "The query holds a control byte, a space or a fragment.";
	for (size_t i = 0; i < plen; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == '%') {
			int hi = i + 2 < plen ? ds_hexval(t[i + 1]) : -1;
			int lo = hi >= 0 ? ds_hexval(t[i + 2]) : -1;

			if (lo < 0 || !path_encodable((unsigned char)(hi * 16 + lo)))
				return "The path has a percent-encoding that is not needed or that hides a separator.";
			/* no encoded byte over 0x7f where a prefix or the token
			 * endpoint is spelled: an upstream that decodes UTF-8 and
			 * folds case reads U+017F as 's', U+212A as 'k' */
			if (hi >= 8 && segs <= 3)
				return "The path has a percent-encoded byte over 0x7f in its first three segments.";
			i += 2;
			continue;
		}
		if (!path_literal(c))
			return "The path has a byte no path may hold: a control byte, a space, a backslash, ';' or '#'.";
		if (c != '/')
			continue;
		segs++;
		if (i > 0 && i == seg)
			return "The path has an empty segment ('//').";
		if (i > seg && t[i - 1] == '.')
			return "The path has a dot segment or a segment that ends with a dot.";
		seg = i + 1;
	}
	if (plen > seg && t[plen - 1] == '.')
		return "The path has a dot segment or a segment that ends with a dot.";
	return NULL;
}

static int prefix(const char *t, size_t plen, const char *p)
{
	size_t n = strlen(p);

	return plen >= n && !strncmp(t, p, n);
}

/* The token endpoint in any letter case, and anything under it or
 * glued to it by a byte that is not part of a name. */
static int token_endpoint(const char *t, size_t plen)
{
	static const char ep[] = "/api/v1/tokens";
	size_t n = sizeof(ep) - 1;
	unsigned char c;

	if (plen < n || strncasecmp(t, ep, n))
		return 0;
	if (plen == n)
		return 1;
	c = (unsigned char)t[n];
	return !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		 c == '-' || c == '_');
}

unsigned rules_path(const char *target, size_t n, int coding, const char **why)
{
	const char *q = memchr(target, '?', n);
	size_t plen = q ? (size_t)(q - target) : n;
	const char *bad = path_malformed(target, n, plen);

	if (bad) {
		*why = bad;
		return 400;
	}
	*why = "This proxy forwards only the Model Studio API paths.";
	if (token_endpoint(target, plen))
		return 404; /* never a door to the token endpoint */
	if (prefix(target, plen, "/apps/anthropic/"))
		return 0;
	if (coding)
		return prefix(target, plen, "/v1/") ? 0 : 404;
	return prefix(target, plen, "/compatible-mode/") || prefix(target, plen, "/api/v1/") ? 0
											     : 404;
}

/* ---- the log ---- */

void rules_log_clean(char *dst, size_t dsize, const char *src, size_t n)
{
	size_t j = 0;

	if (dsize == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (j + 1 >= dsize)
				break;
			dst[j++] = (char)c;
		} else {
			if (j + 5 >= dsize)
				break;
			snprintf(dst + j, dsize - j, "\\x%02x", c);
			j += 4;
		}
	}
	dst[j] = 0;
}

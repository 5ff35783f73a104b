/* SPDX-License-Identifier: MIT */
/* Small helpers with no dependencies: the error carrier, strict number
 * parsing, UTF-8 validation and list splitting. */
#include "config.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte that would move the cursor or end a line on a terminal. */
static int is_control(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

int ds_err_set(struct ds_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		/* Messages quote names, lines and server text; none of it may
		 * move the cursor or start a new line on the user's terminal. */
		ds_sanitize(err->msg);
	}
	return code;
}

void ds_sanitize(char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

		/* C1 controls (CSI is U+009B) act like ESC sequences on many
		 * terminals, and so does a raw 0x80..0x9f byte on 8-bit ones:
		 * only whole UTF-8 characters of U+00A0 and above stay */
		if (c < 0x80 ? is_control((char)c)
			     : (len > n - i || !ds_utf8_valid(s + i, len) ||
				(c == 0xc2 && (unsigned char)s[i + 1] < 0xa0))) {
			s[i++] = '?';
			continue;
		}
		i += len;
	}
}

int ds_strcpy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n) {
		if (n)
			dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int ds_parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	/* strtoul accepts signs, spaces and wraps "-5"; we accept digits only */
	if (!s || !*s || strlen(s) > 20)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (ULONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int ds_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + need >= n)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

int ds_has_control(const char *s)
{
	for (; *s; s++)
		if (is_control(*s))
			return 1;
	return 0;
}

void ds_ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int ds_list_each(const char *list, int (*fn)(const char *item, void *ctx), void *ctx)
{
	char item[256];

	while (*list) {
		size_t len = strcspn(list, ", \t");
		int rc;

		if (len == 0) {
			list++;
			continue;
		}
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, list, len);
		item[len] = '\0';
		rc = fn(item, ctx);
		if (rc)
			return rc;
		list += strcspn(list, ", \t");
	}
	return 0;
}

size_t ds_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

const char *ds_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3; /* at most two edits away */

	for (size_t i = 0; i < n; i++) {
		size_t d = ds_edit_distance(word, cands[i]);

		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	return best;
}

int ds_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

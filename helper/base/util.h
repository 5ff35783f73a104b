/* SPDX-License-Identifier: MIT */
/* Status codes, the error carrier, and small string helpers shared by the
 * helper, the PAM module and the tests. Status codes are the exit codes of
 * SPEC section 7, so a status can travel unchanged from a store to exit(). */
#ifndef DS_UTIL_H
#define DS_UTIL_H

#include <stddef.h>
#include <stdarg.h>

enum ds_status {
	DS_OK = 0,
	DS_EFAIL = 1, /* no usable profile, ambiguous, other failure */
	DS_EINPUT = 2, /* usage, malformed request, bad config */
	DS_ESTORE = 3, /* store unavailable or unreadable */
	DS_EAUTH = 4, /* the API refused the key */
	DS_ENET = 5, /* network or API failure */
	DS_EPOLICY = 6, /* refused by policy */
};

/* One human sentence and its status, made where the failure is understood
 * and printed once, at the edge (main or the PAM module's log). */
struct ds_err {
	int code;
	char msg[640];
};

/* Sets err (when not NULL) and returns code, so callers can write
 * `return ds_err_set(err, DS_EINPUT, "...")`. Control characters in the
 * message (from quoted input) become "?". */
int ds_err_set(struct ds_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copies src into dst of size n; returns -1 (and leaves dst empty) when it
 * does not fit, so a truncated name can never be used by mistake. */
int ds_strcpy(char *dst, size_t n, const char *src);

/* Parses a decimal number with no sign, no spaces and no overflow.
 * Returns 0 on success, -1 otherwise. */
int ds_parse_ulong(const char *s, unsigned long max, unsigned long *out);

/* Returns 1 when the n bytes at s are valid UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
int ds_utf8_valid(const char *s, size_t n);

/* Returns 1 when s has a byte below 0x20 or 0x7f. */
int ds_has_control(const char *s);

/* Replaces, in place, every byte a terminal could act on with '?': C0
 * controls, DEL, C1 controls (U+0080..U+009F) and bytes that are not
 * UTF-8. Every error message passes here. */
void ds_sanitize(char *s);

/* Lower-cases ASCII letters in place. */
void ds_ascii_lower(char *s);

/* Splits a list of items separated by commas and/or spaces. Calls fn for
 * each non-empty item; stops and returns its first non-zero result. */
int ds_list_each(const char *list, int (*fn)(const char *item, void *ctx), void *ctx);

/* The edits that turn a into b (Levenshtein); 64 or more for names of
 * 63 bytes or longer, which are nobody's typo. */
size_t ds_edit_distance(const char *a, const char *b);

/* The value of one hex digit, or -1. */
int ds_hexval(char c);

/* The candidate at most two edits from word (case-sensitive), for "did
 * you mean"; NULL when none is that close. */
const char *ds_closest(const char *word, const char *const *cands, size_t n);

#endif

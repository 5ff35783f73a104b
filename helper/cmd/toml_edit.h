/* SPDX-License-Identifier: MIT */
/* What setup codex and doctor need of a TOML file (Codex's config.toml),
 * and no more: where each statement and table header is and which key it
 * names, so that our own tables or root keys can be replaced while every
 * other byte stays; and the string values of a few keys. A file it cannot
 * read with certainty (a header it cannot parse, a string or array left
 * open, a key of ours defined another way) is refused, never guessed. */
#ifndef DS_TOML_EDIT_H
#define DS_TOML_EDIT_H

#include <stddef.h>
#include "base/util.h"

enum toml_kind {
	TOML_BLANK, /* an empty line, or only spaces */
	TOML_COMMENT, /* a line with only a comment */
	TOML_TABLE, /* [a.b] */
	TOML_ARRAY_TABLE, /* [[a.b]] */
	TOML_KEYVAL, /* key = value, the value's lines included */
};

/* A key path: its segments, decoded, joined by this byte (a key with a
 * control character in it is refused, so it cannot be one of them). */
#define TOML_SEP '\x1f'

struct toml_item {
	enum toml_kind kind;
	size_t start, end; /* its bytes; end is past its last newline */
	unsigned line; /* where it starts, from 1 */
	char *path; /* a header: its table; a key/value: the key's full path */
	size_t table_len; /* a key/value: how much of path is its table's, the
			     separator after it included; 0 in the root table */
	size_t value; /* a key/value: where its value starts */
};

/* A parsed file; the text is the caller's and must outlive it. */
struct toml_doc {
	const char *text;
	size_t len;
	struct toml_item *items;
	size_t n;
};

/* Splits text into items. DS_EINPUT, with the line, when it cannot. */
int toml_parse(const char *text, size_t len, struct toml_doc *doc, struct ds_err *err);
void toml_doc_free(struct toml_doc *doc);

/* The text with the tables named (dotted bare keys, "a.b") removed, each
 * from its header to its last statement and the blank lines after it,
 * and block put where the first of them was, or at the end when none
 * was there. Other tables, comments and lines are kept byte for byte; so
 * are subtables of ours that are not named. DS_EINPUT when the file
 * defines a named table another way (a dotted key, an inline table, an
 * array of tables). *out is NUL-terminated; free() it. */
int toml_replace_tables(const struct toml_doc *doc, const char *const *tables, size_t n,
			const char *block, char **out, size_t *out_len, struct ds_err *err);

/* The same for keys of the root table (before the first header): the
 * statements of the keys named are removed and block put where the first
 * was, or after the root table's last statement, or at the top; never
 * after a header. */
int toml_replace_root_keys(const struct toml_doc *doc, const char *const *keys, size_t n,
			   const char *block, char **out, size_t *out_len, struct ds_err *err);

/* The value of a key (dotted bare keys, "a.b.c", its last statement):
 * a string (*out, free() it), or an array of strings (*out NULL-ended,
 * free each and the array). 0 and *out NULL when the key is not there;
 * DS_EINPUT when its value is of another kind. */
int toml_get_string(const struct toml_doc *doc, const char *key, char **out, struct ds_err *err);
int toml_get_strings(const struct toml_doc *doc, const char *key, char ***out, struct ds_err *err);
void toml_strings_free(char **v);

/* 1 when the file says anything of key (dotted bare keys): a header or a
 * statement of it or below it. */
int toml_has(const struct toml_doc *doc, const char *key);

#endif

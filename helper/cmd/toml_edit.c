/* SPDX-License-Identifier: MIT */
/* A small TOML reader and editor for Codex's config.toml (toml_edit.h).
 * It knows headers, keys, strings, arrays and comments well enough that a
 * "[" inside a string or an array is never taken for a header; values it
 * only skips, except the strings doctor asks for. */
#include "config.h"
#include "cmd/toml_edit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing byte buffer; oom is sticky, checked once at the end. */
struct buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void buf_addn(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void buf_reset(struct buf *b)
{
	b->n = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void buf_addc(struct buf *b, char c)
{
	buf_addn(b, &c, 1);
}

struct scan {
	const char *s;
	size_t len, pos;
	unsigned line;
	struct ds_err *err;
	int in_table; /* past the first header */
};

static int scan_fail(struct scan *sc, const char *what)
{
	return ds_err_set(sc->err, DS_EINPUT, "line %u: %s", sc->line, what);
}

static int at(const struct scan *sc, size_t off, char c)
{
	return sc->pos + off < sc->len && sc->s[sc->pos + off] == c;
}

static void skip_ws(struct scan *sc)
{
	while (at(sc, 0, ' ') || at(sc, 0, '\t'))
		sc->pos++;
}

/* Past the end of this line, its newline included. */
static void skip_line(struct scan *sc)
{
	const char *nl = memchr(sc->s + sc->pos, '\n', sc->len - sc->pos);

	sc->pos = nl ? (size_t)(nl - sc->s) + 1 : sc->len;
	if (nl)
		sc->line++;
}

/* Nothing but a comment up to the end of the line (then skipped). */
static int expect_eol(struct scan *sc)
{
	skip_ws(sc);
	if (at(sc, 0, '#')) {
		skip_line(sc);
		return 1;
	}
	if (at(sc, 0, '\r'))
		sc->pos++;
	if (sc->pos >= sc->len)
		return 1;
	if (!at(sc, 0, '\n'))
		return 0;
	skip_line(sc);
	return 1;
}

/* \uXXXX or \UXXXXXXXX at sc->pos (past the backslash and letter) as
 * UTF-8. */
static int decode_unicode(struct scan *sc, int digits, struct buf *out)
{
	uint32_t cp = 0;
	char u[4];

	for (int i = 0; i < digits; i++) {
		int h = sc->pos < sc->len ? ds_hexval(sc->s[sc->pos]) : -1;

		if (h < 0)
			return scan_fail(sc, "a \\u escape without its hex digits");
		cp = cp * 16 + (uint32_t)h;
		sc->pos++;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return scan_fail(sc, "a \\u escape that is not a character");
	if (cp < 0x80) {
		buf_addc(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_addn(out, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_addn(out, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		buf_addn(out, u, 4);
	}
	return DS_OK;
}

/* A one-line string, basic ("...", escapes decoded) or literal ('...'),
 * appended to out. */
static int decode_string(struct scan *sc, struct buf *out)
{
	static const char esc_in[] = "btnfr\"\\", esc_out[] = "\b\t\n\f\r\"\\";
	char q = sc->s[sc->pos];

	if (at(sc, 1, q) && at(sc, 2, q))
		return scan_fail(sc, "a multi-line string where a one-line string was expected");
	for (sc->pos++;; sc->pos++) {
		char c = sc->pos < sc->len ? sc->s[sc->pos] : '\n';
		const char *e;

		if (c == '\n')
			return scan_fail(sc, "a string that is not closed on its line");
		if (c == q) {
			sc->pos++;
			return DS_OK;
		}
		if (c != '\\' || q == '\'') {
			buf_addc(out, c);
			continue;
		}
		sc->pos++;
		c = sc->pos < sc->len ? sc->s[sc->pos] : '\n';
		if (c == 'u' || c == 'U') {
			int rc;

			sc->pos++;
			rc = decode_unicode(sc, c == 'u' ? 4 : 8, out);
			if (rc)
				return rc;
			sc->pos--;
		} else if (c != '\0' && (e = strchr(esc_in, c)) != NULL) {
			buf_addc(out, esc_out[e - esc_in]);
		} else {
			return scan_fail(sc, "a string with an escape TOML does not have");
		}
	}
}

/* Past a string of any of the four kinds, which may span lines. */
static int skip_string(struct scan *sc)
{
	char q = sc->s[sc->pos];
	unsigned from = sc->line;

	if (!(at(sc, 1, q) && at(sc, 2, q))) {
		struct buf ignored = { 0 };
		int rc = decode_string(sc, &ignored);

		free(ignored.p);
		return rc;
	}
	for (sc->pos += 3; sc->pos < sc->len; sc->pos++) {
		char c = sc->s[sc->pos];

		if (c == '\n') {
			sc->line++;
		} else if (c == '\\' && q == '"') {
			if (at(sc, 1, '\n'))
				sc->line++;
			sc->pos++;
		} else if (c == q && at(sc, 1, q) && at(sc, 2, q)) {
			sc->pos += 3;
			/* up to two quotes of the content may touch the closing ones */
			for (int i = 0; i < 2 && at(sc, 0, q); i++)
				sc->pos++;
			return DS_OK;
		}
	}
	sc->line = from;
	return scan_fail(sc, "a multi-line string that is never closed");
}

static int bare_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* A dotted key (a.b."c d"), its segments appended to path, each after a
 * separator but the first. */
static int parse_key(struct scan *sc, struct buf *path)
{
	for (int first = 1;; first = 0) {
		size_t seg;

		skip_ws(sc);
		if (!first)
			buf_addc(path, TOML_SEP);
		seg = path->n;
		if (at(sc, 0, '"') || at(sc, 0, '\'')) {
			int rc = decode_string(sc, path);

			if (rc)
				return rc;
		} else {
			while (sc->pos < sc->len && bare_key_char(sc->s[sc->pos]))
				buf_addc(path, sc->s[sc->pos++]);
			if (path->n == seg)
				return scan_fail(sc, "a key was expected");
		}
		for (size_t i = seg; i < path->n && !path->oom; i++)
			if ((unsigned char)path->p[i] < 0x20 || path->p[i] == 0x7f)
				return scan_fail(sc, "a key with a control character");
		skip_ws(sc);
		if (!at(sc, 0, '.'))
			return DS_OK;
		sc->pos++;
	}
}

/* [a.b] or [[a.b]]; table gets its path. */
static int parse_header(struct scan *sc, struct toml_item *it, struct buf *table)
{
	int array = at(sc, 1, '[');
	int rc;

	it->kind = array ? TOML_ARRAY_TABLE : TOML_TABLE;
	sc->pos += array ? 2 : 1;
	buf_reset(table);
	rc = parse_key(sc, table);
	if (rc)
		return rc;
	if (!at(sc, 0, ']') || (array && !at(sc, 1, ']')))
		return scan_fail(sc, "a table header that is not closed");
	sc->pos += array ? 2 : 1;
	if (!expect_eol(sc))
		return scan_fail(sc, "something after a table header");
	return DS_OK;
}

/* key = value: the value is skipped, over as many lines as its strings,
 * arrays and inline tables take. */
static int parse_keyval(struct scan *sc, struct toml_item *it, const struct buf *table,
			struct buf *path)
{
	int depth = 0, seen = 0, rc;

	it->kind = TOML_KEYVAL;
	buf_reset(path);
	if (sc->in_table) {
		buf_addn(path, table->p ? table->p : "", table->n);
		buf_addc(path, TOML_SEP);
	}
	it->table_len = path->n;
	rc = parse_key(sc, path);
	if (rc)
		return rc;
	if (!at(sc, 0, '='))
		return scan_fail(sc, "a line that is neither a table header nor key = value");
	sc->pos++;
	skip_ws(sc);
	it->value = sc->pos;
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];

		if (c == '\n') {
			sc->pos++;
			sc->line++;
			if (!depth)
				break;
		} else if (c == '#') {
			const char *nl = memchr(sc->s + sc->pos, '\n', sc->len - sc->pos);

			sc->pos = nl ? (size_t)(nl - sc->s) : sc->len;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			sc->pos++;
		} else if (c == '"' || c == '\'') {
			seen = 1;
			rc = skip_string(sc);
			if (rc)
				return rc;
		} else {
			seen = 1;
			if (c == '[' || c == '{')
				depth++;
			else if ((c == ']' || c == '}') && depth-- == 0)
				return scan_fail(sc, "a ']' or '}' that closes nothing");
			sc->pos++;
		}
	}
	if (depth)
		return ds_err_set(sc->err, DS_EINPUT,
				  "line %u: an array or inline table is never closed", it->line);
	if (!seen)
		return ds_err_set(sc->err, DS_EINPUT, "line %u: a key without a value", it->line);
	return DS_OK;
}

void toml_doc_free(struct toml_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++)
		free(doc->items[i].path);
	free(doc->items);
	memset(doc, 0, sizeof(*doc));
}

static int parse_item(struct scan *sc, struct toml_item *it, struct buf *table, struct buf *path)
{
	it->start = sc->pos;
	it->line = sc->line;
	skip_ws(sc);
	if (sc->pos >= sc->len || at(sc, 0, '\n') || (at(sc, 0, '\r') && at(sc, 1, '\n'))) {
		it->kind = TOML_BLANK;
		skip_line(sc);
		return DS_OK;
	}
	if (at(sc, 0, '#')) {
		it->kind = TOML_COMMENT;
		skip_line(sc);
		return DS_OK;
	}
	if (at(sc, 0, '[')) {
		sc->in_table = 1;
		return parse_header(sc, it, table);
	}
	return parse_keyval(sc, it, table, path);
}

int toml_parse(const char *text, size_t len, struct toml_doc *doc, struct ds_err *err)
{
	struct scan sc = { text, len, 0, 1, err, 0 };
	struct buf table = { 0 }, path = { 0 };
	size_t cap = 0;
	int rc = DS_OK;

	memset(doc, 0, sizeof(*doc));
	doc->text = text;
	doc->len = len;
	if (memchr(text, '\0', len))
		return ds_err_set(err, DS_EINPUT, "the file has a NUL byte");
	while (!rc && sc.pos < len) {
		struct toml_item *it;

		if (doc->n == cap) {
			struct toml_item *items =
				realloc(doc->items, (cap ? cap * 2 : 32) * sizeof(*it));

			if (!items) {
				rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
				break;
			}
			doc->items = items;
			cap = cap ? cap * 2 : 32;
		}
		it = &doc->items[doc->n];
		memset(it, 0, sizeof(*it));
		rc = parse_item(&sc, it, &table, &path);
		it->end = sc.pos;
		if (rc)
			break;
		doc->n++;
		if (it->kind == TOML_BLANK || it->kind == TOML_COMMENT)
			continue;
		/* an empty key ("") is a key: its path may be "" */
		it->path = it->kind == TOML_KEYVAL ? strndup(path.p ? path.p : "", path.n)
						   : strndup(table.p ? table.p : "", table.n);
		if (!it->path || table.oom || path.oom)
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	free(table.p);
	free(path.p);
	if (rc)
		toml_doc_free(doc);
	return rc;
}

/* "a.b" (bare keys) as a path. */
static char *path_of(const char *dotted)
{
	char *p = strdup(dotted);

	for (char *c = p; c && *c; c++)
		if (*c == '.')
			*c = TOML_SEP;
	return p;
}

/* a is b, or a table above it (segment by segment). */
static int path_within(const char *b, const char *a)
{
	size_t la = strlen(a);

	return !strncmp(a, b, la) && (b[la] == '\0' || b[la] == TOML_SEP);
}

static int path_related(const char *a, const char *b)
{
	return path_within(a, b) || path_within(b, a);
}

/* An item kept beside ours that would make ours a redefinition (a table
 * defined twice is an error to Codex). root: ours is a key of the root
 * table; else a table. */
static int item_conflicts(const struct toml_item *it, const char *ours, int root)
{
	switch (it->kind) {
	case TOML_KEYVAL:
		/* only a key of a table above ours can define ours */
		return (it->table_len == 0 || (it->table_len <= strlen(ours) &&
					       !strncmp(it->path, ours, it->table_len))) &&
		       path_related(it->path, ours);
	case TOML_TABLE:
		return root && path_within(it->path, ours);
	case TOML_ARRAY_TABLE:
		return root ? path_within(it->path, ours) : path_within(ours, it->path);
	default:
		return 0;
	}
}

static void path_print(const char *path, char *out, size_t n)
{
	snprintf(out, n, "%s", path);
	for (char *c = out; *c; c++)
		if (*c == TOML_SEP)
			*c = '.';
}

/* Marks item i and, when it is a table header, its statements and the
 * blank lines after them (a root key's are left: edit_build puts one
 * before a header only where none is). Returns the index past what was
 * marked. */
static size_t mark_region(const struct toml_doc *doc, size_t i, unsigned char *drop)
{
	size_t last = i, j = i + 1;
	int table = doc->items[i].kind == TOML_TABLE;

	if (table)
		for (; j < doc->n && doc->items[j].kind != TOML_TABLE &&
		       doc->items[j].kind != TOML_ARRAY_TABLE;
		     j++)
			if (doc->items[j].kind == TOML_KEYVAL)
				last = j;
	for (j = i; j <= last; j++)
		drop[j] = 1;
	while (table && j < doc->n && doc->items[j].kind == TOML_BLANK)
		drop[j++] = 1;
	return j;
}

struct edit {
	const struct toml_doc *doc;
	char **ours;
	size_t n;
	int root;
	unsigned char *drop;
	size_t first; /* the first item dropped, or doc->n */
};

static int is_ours(const struct edit *ed, const struct toml_item *it)
{
	if (ed->root ? it->kind != TOML_KEYVAL || it->table_len : it->kind != TOML_TABLE)
		return 0;
	for (size_t k = 0; k < ed->n; k++)
		if (!strcmp(it->path, ed->ours[k]))
			return 1;
	return 0;
}

static int edit_mark(struct edit *ed, struct ds_err *err)
{
	const struct toml_doc *doc = ed->doc;

	ed->first = doc->n;
	for (size_t i = 0; i < doc->n;) {
		const struct toml_item *it = &doc->items[i];

		/* the root table ends at the first header */
		if (ed->root && (it->kind == TOML_TABLE || it->kind == TOML_ARRAY_TABLE))
			break;
		if (!is_ours(ed, it)) {
			i++;
			continue;
		}
		if (ed->first == doc->n)
			ed->first = i;
		i = mark_region(doc, i, ed->drop);
	}
	for (size_t i = 0; i < doc->n; i++)
		for (size_t k = 0; k < ed->n && !ed->drop[i]; k++)
			if (item_conflicts(&doc->items[i], ed->ours[k], ed->root)) {
				char name[200];

				path_print(ed->ours[k], name, sizeof(name));
				return ds_err_set(err, DS_EINPUT,
						  "line %u defines %s%s%s in a way setup does not edit (a dotted key, an inline table or an array of tables)",
						  doc->items[i].line, ed->root ? "" : "[", name,
						  ed->root ? "" : "]");
			}
	return DS_OK;
}

/* Where the block goes when nothing of ours was there: a table at the
 * end; a root key after the root table's last statement, or at the top. */
static size_t edit_fallback(const struct edit *ed)
{
	size_t after = 0;

	if (!ed->root)
		return ed->doc->n;
	for (size_t i = 0; i < ed->doc->n; i++) {
		enum toml_kind k = ed->doc->items[i].kind;

		if (k == TOML_TABLE || k == TOML_ARRAY_TABLE)
			break;
		if (k == TOML_KEYVAL)
			after = i + 1;
	}
	return after;
}

static void emit_item(const struct toml_doc *doc, size_t i, struct buf *out)
{
	buf_addn(out, doc->text + doc->items[i].start, doc->items[i].end - doc->items[i].start);
}

/* The kept items, the block before item ins: tables get a blank line
 * before them when a statement is above, and one after them when
 * something follows (the blank lines after our tables are ours); root
 * keys one when a header follows at once. So running again gives the
 * same bytes. */
static void edit_build(const struct edit *ed, size_t ins, const char *block, struct buf *out)
{
	const struct toml_doc *doc = ed->doc;
	enum toml_kind above = TOML_BLANK;
	size_t i;

	for (i = 0; i < ins && i < doc->n; i++) {
		if (ed->drop[i])
			continue;
		emit_item(doc, i, out);
		above = doc->items[i].kind;
	}
	if (out->n && out->p[out->n - 1] != '\n')
		buf_addc(out, '\n');
	/* a comment above is the user's note on what follows: left touching */
	if (!ed->root && out->n && above != TOML_BLANK && above != TOML_COMMENT)
		buf_addc(out, '\n');
	buf_addn(out, block, strlen(block));
	for (size_t j = i; j < doc->n; j++)
		if (!ed->drop[j]) {
			enum toml_kind k = doc->items[j].kind;

			/* root keys are apart only from the first table */
			if (ed->root ? k == TOML_TABLE || k == TOML_ARRAY_TABLE : k != TOML_BLANK)
				buf_addc(out, '\n');
			break;
		}
	for (; i < doc->n; i++)
		if (!ed->drop[i])
			emit_item(doc, i, out);
}

static int edit_run(const struct toml_doc *doc, const char *const *names, size_t n, int root,
		    const char *block, char **out, size_t *out_len, struct ds_err *err)
{
	struct edit ed = { doc,	 calloc(n ? n : 1, sizeof(char *)), n,
			   root, calloc(doc->n ? doc->n : 1, 1),    0 };
	struct buf b = { 0 };
	int rc = DS_OK;

	*out = NULL;
	*out_len = 0;
	for (size_t k = 0; ed.ours && k < n; k++)
		if (!(ed.ours[k] = path_of(names[k])))
			rc = DS_EFAIL;
	if (!ed.ours || !ed.drop || rc)
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (!rc)
		rc = edit_mark(&ed, err);
	if (!rc) {
		edit_build(&ed, ed.first < doc->n ? ed.first : edit_fallback(&ed), block, &b);
		if (b.oom)
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	if (!rc) {
		*out = b.p;
		*out_len = b.n;
	} else {
		free(b.p);
	}
	for (size_t k = 0; ed.ours && k < n; k++)
		free(ed.ours[k]);
	free(ed.ours);
	free(ed.drop);
	return rc;
}

int toml_replace_tables(const struct toml_doc *doc, const char *const *tables, size_t n,
			const char *block, char **out, size_t *out_len, struct ds_err *err)
{
	return edit_run(doc, tables, n, 0, block, out, out_len, err);
}

int toml_replace_root_keys(const struct toml_doc *doc, const char *const *keys, size_t n,
			   const char *block, char **out, size_t *out_len, struct ds_err *err)
{
	return edit_run(doc, keys, n, 1, block, out, out_len, err);
}

/* The last statement of key, or NULL. */
static const struct toml_item *find_key(const struct toml_doc *doc, const char *key)
{
	const struct toml_item *found = NULL;
	char *path = path_of(key);

	for (size_t i = 0; path && i < doc->n; i++)
		if (doc->items[i].kind == TOML_KEYVAL && !strcmp(doc->items[i].path, path))
			found = &doc->items[i];
	free(path);
	return found;
}

/* A scanner over one value, for the messages' line numbers. */
static void value_scan(const struct toml_doc *doc, const struct toml_item *it, struct scan *sc,
		       struct ds_err *err)
{
	sc->s = doc->text;
	sc->len = it->end;
	sc->pos = it->value;
	sc->line = it->line;
	sc->err = err;
	sc->in_table = 0;
}

static int value_string(struct scan *sc, const char *key, char **out)
{
	struct buf b = { 0 };
	int rc;

	if (!at(sc, 0, '"') && !at(sc, 0, '\''))
		return ds_err_set(sc->err, DS_EINPUT, "line %u: %s is not a string", sc->line, key);
	rc = decode_string(sc, &b);
	if (!rc && (b.oom || !(*out = b.p ? b.p : strdup(""))))
		rc = ds_err_set(sc->err, DS_EFAIL, "Out of memory.");
	if (rc)
		free(b.p);
	return rc;
}

int toml_get_string(const struct toml_doc *doc, const char *key, char **out, struct ds_err *err)
{
	const struct toml_item *it = find_key(doc, key);
	struct scan sc;

	*out = NULL;
	if (!it)
		return DS_OK;
	value_scan(doc, it, &sc, err);
	return value_string(&sc, key, out);
}

/* Past spaces, newlines and comments inside an array. */
static void skip_blanks(struct scan *sc)
{
	for (;;) {
		skip_ws(sc);
		if (at(sc, 0, '#')) {
			const char *nl = memchr(sc->s + sc->pos, '\n', sc->len - sc->pos);

			sc->pos = nl ? (size_t)(nl - sc->s) : sc->len;
		} else if (at(sc, 0, '\r')) {
			sc->pos++;
		} else if (at(sc, 0, '\n')) {
			sc->pos++;
			sc->line++;
		} else {
			return;
		}
	}
}

void toml_strings_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int toml_get_strings(const struct toml_doc *doc, const char *key, char ***out, struct ds_err *err)
{
	const struct toml_item *it = find_key(doc, key);
	char **v = NULL;
	size_t n = 0;
	struct scan sc;
	int rc = DS_OK;

	*out = NULL;
	if (!it)
		return DS_OK;
	value_scan(doc, it, &sc, err);
	if (!at(&sc, 0, '['))
		return ds_err_set(err, DS_EINPUT, "line %u: %s is not a list", sc.line, key);
	sc.pos++;
	for (;;) {
		char **grown;

		skip_blanks(&sc);
		if (at(&sc, 0, ']'))
			break;
		grown = realloc(v, (n + 2) * sizeof(*v));
		if (!grown) {
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
			break;
		}
		v = grown;
		v[n] = NULL;
		rc = value_string(&sc, key, &v[n]);
		if (rc)
			break;
		v[++n] = NULL;
		skip_blanks(&sc);
		if (at(&sc, 0, ','))
			sc.pos++;
		else if (!at(&sc, 0, ']')) {
			rc = ds_err_set(err, DS_EINPUT, "line %u: %s is not a list of strings",
					sc.line, key);
			break;
		}
	}
	if (!rc && !v && !(v = calloc(1, sizeof(*v))))
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (rc) {
		toml_strings_free(v);
		return rc;
	}
	*out = v;
	return DS_OK;
}

int toml_has(const struct toml_doc *doc, const char *key)
{
	char *path = path_of(key);
	int found = 0;

	for (size_t i = 0; path && !found && i < doc->n; i++)
		found = doc->items[i].path && path_within(doc->items[i].path, path);
	free(path);
	return found;
}

/* SPDX-License-Identifier: MIT */
/* The INI syntax of SPEC section 6. Errors name the file and the line;
 * meaning (which sections and names exist) belongs to config.c. */
#include "config.h"
#include "base/ini.h"
#include "base/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Reads a quoted value in place; returns NULL when unterminated or when
 * anything but a comment follows the closing quote. */
static char *unquote(char *s)
{
	char *out = s, *in = s + 1;

	for (; *in && *in != '"'; in++) {
		if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
			in++;
		*out++ = *in;
	}
	if (*in != '"')
		return NULL;
	in++;
	while (*in == ' ' || *in == '\t')
		in++;
	if (*in && *in != '#' && *in != ';')
		return NULL;
	*out = '\0';
	return s;
}

/* A # or ; that follows a blank starts a comment; one inside a word
 * (e.g. a URL fragment) does not. */
static void strip_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if ((*p == '#' || *p == ';') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static int bad_line(struct ds_err *err, const char *file, unsigned line, const char *what)
{
	return ds_err_set(err, DS_EINPUT, "%s:%u: %s.", file, line, what);
}

static int parse_section(char *s, char *section, size_t n, const char *file, unsigned line,
			 struct ds_err *err)
{
	char *end = strchr(s, ']');
	char *name;

	if (!end)
		return bad_line(err, file, line, "section header without ']'");
	*end = '\0';
	strip_comment(end + 1);
	if (*trim(end + 1))
		return bad_line(err, file, line, "text after the section header");
	name = trim(s + 1);
	/* collapse "profile   work" to "profile work" */
	{
		char tmp[INI_LINE_MAX], *o = tmp;
		int blank = 0;

		for (char *p = name; *p; p++) {
			if (*p == ' ' || *p == '\t') {
				blank = 1;
				continue;
			}
			if (blank && o != tmp)
				*o++ = ' ';
			blank = 0;
			*o++ = *p;
		}
		*o = '\0';
		if (!tmp[0])
			return bad_line(err, file, line, "empty section name");
		if (ds_strcpy(section, n, tmp))
			return bad_line(err, file, line, "section name too long");
	}
	return DS_OK;
}

static int parse_line(char *raw, char *section, size_t n, const char *file, unsigned line,
		      ini_fn fn, void *ctx, struct ds_err *err)
{
	char *s = trim(raw), *eq, *name, *value;

	if (!*s || *s == '#' || *s == ';')
		return DS_OK;
	if (*s == '[')
		return parse_section(s, section, n, file, line, err);
	eq = strchr(s, '=');
	if (!eq)
		return bad_line(err, file, line, "expected 'name = value'");
	*eq = '\0';
	name = trim(s);
	if (!*name)
		return bad_line(err, file, line, "empty name before '='");
	value = trim(eq + 1);
	if (*value == '"') {
		if (!unquote(value))
			return bad_line(err, file, line, "unterminated or malformed quoted value");
	} else {
		strip_comment(value);
		value = trim(value);
	}
	return fn(ctx, section, name, value, file, line, err);
}

int ini_parse_buffer(const char *buf, size_t len, const char *file, ini_fn fn, void *ctx,
		     struct ds_err *err)
{
	char section[128] = "";
	char linebuf[INI_LINE_MAX + 1];
	unsigned line = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		int rc;

		line++;
		if (llen > INI_LINE_MAX)
			return bad_line(err, file, line, "line too long");
		memcpy(linebuf, buf + pos, llen);
		linebuf[llen] = '\0';
		/* cppcheck-suppress knownConditionTrueFalse ; an empty line has llen 0 */
		if (llen && linebuf[llen - 1] == '\r')
			linebuf[--llen] = '\0';
		if (memchr(linebuf, '\0', llen) || !ds_utf8_valid(linebuf, llen))
			return bad_line(err, file, line, "NUL byte or invalid UTF-8");
		for (size_t i = 0; i < llen; i++)
			if (((unsigned char)linebuf[i] < 0x20 && linebuf[i] != '\t') ||
			    linebuf[i] == 0x7f)
				return bad_line(err, file, line, "control character");
		rc = parse_line(linebuf, section, sizeof(section), file, line, fn, ctx, err);
		if (rc)
			return rc;
		pos = nl ? (size_t)(nl - buf) + 1 : len;
	}
	return DS_OK;
}

int ini_parse_stream(FILE *fp, const char *file, ini_fn fn, void *ctx, struct ds_err *err)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			char *nb;

			if (cap > INI_FILE_MAX) {
				free(buf);
				return ds_err_set(err, DS_EINPUT, "%s: file larger than 1 MiB.",
						  file);
			}
			nb = realloc(buf, cap + 8192);
			if (!nb) {
				free(buf);
				return ds_err_set(err, DS_EFAIL, "Out of memory reading %s.", file);
			}
			buf = nb;
			cap += 8192;
		}
		got = fread(buf + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		free(buf);
		return ds_err_set(err, DS_EINPUT, "%s: read error.", file);
	}
	rc = ini_parse_buffer(buf ? buf : "", len, file, fn, ctx, err);
	free(buf);
	return rc;
}

int ini_parse_file(const char *path, int required, ini_fn fn, void *ctx, struct ds_err *err)
{
	char *buf;
	size_t len;
	struct stat sb;
	int rc;

	/* /dev/null is an empty file, as ssh -F /dev/null and git's
	 * GIT_CONFIG_GLOBAL=/dev/null mean it */
	if (!strcmp(path, "/dev/null"))
		return DS_OK;
	/* never blocks on a FIFO and takes regular files only (files.h) */
	rc = file_read(path, required ? FILE_REQUIRED : 0, INI_FILE_MAX, "config file", DS_EINPUT,
		       &buf, &len, &sb, err);
	if (rc || !buf)
		return rc;
	/* a config decides where keys are sent (endpoint, ca_file): one that
	 * another user can change is theirs, as ssh judges ~/.ssh/config */
	if ((sb.st_uid != geteuid() && sb.st_uid != 0) || (sb.st_mode & 022))
		rc = ds_err_set(err, DS_EINPUT,
				"The config file %s is not used: it decides where keys are sent, and another user can change it (it must be yours or root's, without group or other write permission: chmod go-w).",
				path);
	else
		rc = ini_parse_buffer(buf, len, path, fn, ctx, err);
	free(buf);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* One assignment per line, quoted so that the shell reads back exactly the
 * bytes we meant: sh/bash/zsh/dash, fish, csh/tcsh, dotenv files, PAM. */
#include "config.h"
#include "base/shell_quote.h"

#include <string.h>

int shell_parse(const char *s, enum shell_kind *out)
{
	static const struct {
		const char *name;
		enum shell_kind kind;
	} names[] = {
		{ "sh", SHELL_SH },    { "bash", SHELL_SH },	   { "zsh", SHELL_SH },
		{ "dash", SHELL_SH },  { "fish", SHELL_FISH },	   { "csh", SHELL_CSH },
		{ "tcsh", SHELL_CSH }, { "dotenv", SHELL_DOTENV }, { "json", SHELL_JSON },
		{ "pam", SHELL_PAM },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*out = names[i].kind;
			return 0;
		}
	}
	return -1;
}

static int quotable(enum shell_kind kind, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '\n' || *p == '\r')
			return 0;
		if ((kind == SHELL_DOTENV || kind == SHELL_PAM) && (*p < 0x20 || *p == 0x7f))
			return 0;
		/* dotenv readers disagree on escapes inside quotes */
		if (kind == SHELL_DOTENV && (*p == '\'' || *p == '\\'))
			return 0;
	}
	return 1;
}

/* POSIX: inside '...' every byte is literal; a ' is closed, escaped and
 * reopened. */
static void put_sh(FILE *out, const char *v)
{
	fputc('\'', out);
	for (; *v; v++) {
		if (*v == '\'')
			fputs("'\\''", out);
		else
			fputc(*v, out);
	}
	fputc('\'', out);
}

/* fish: inside '...' only \\ and \' are escapes. */
static void put_fish(FILE *out, const char *v)
{
	fputc('\'', out);
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			fputc('\\', out);
		fputc(*v, out);
	}
	fputc('\'', out);
}

/* csh: like sh, but history expansion sees ! even inside '...', and only
 * a backslash stops it. */
static void put_csh(FILE *out, const char *v)
{
	fputc('\'', out);
	for (; *v; v++) {
		if (*v == '\'')
			fputs("'\\''", out);
		else if (*v == '!')
			fputs("\\!", out);
		else
			fputc(*v, out);
	}
	fputc('\'', out);
}

int shell_assign(FILE *out, enum shell_kind kind, const char *name, const char *value)
{
	if (!quotable(kind, value))
		return -1;
	switch (kind) {
	case SHELL_SH:
		fprintf(out, "%s=", name);
		put_sh(out, value);
		fprintf(out, "; export %s;\n", name);
		break;
	case SHELL_FISH:
		fprintf(out, "set -gx %s ", name);
		put_fish(out, value);
		fputs(";\n", out);
		break;
	case SHELL_CSH:
		fprintf(out, "setenv %s ", name);
		put_csh(out, value);
		fputs(";\n", out);
		break;
	case SHELL_DOTENV:
		fprintf(out, "%s='%s'\n", name, value);
		break;
	case SHELL_PAM:
		fprintf(out, "%s=%s\n", name, value);
		break;
	case SHELL_JSON:
		return -1;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Fuzzes the shell quoting of `env` (hostile input 29): whatever the
 * value, an accepted assignment is one line that reads back as exactly
 * that value under each shell's single-quote rules. The first byte picks
 * the shell. */
#include "config.h"
#include "fuzz.h"
#include "base/shell_quote.h"

#include <string.h>

/* Reads back '...' as sh does, with fish's \\ and \' and csh's \! inside; returns the value
 * or NULL when the text is not one run of quoted pieces. */
static char *read_back(const char *s, enum shell_kind kind)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	while (*s) {
		if (*s == '\\' && s[1] && kind != SHELL_FISH) {
			*o++ = s[1];
			s += 2;
		} else if (*s == '\'') {
			for (s++; *s && *s != '\''; s++) {
				if (kind == SHELL_FISH && *s == '\\' &&
				    (s[1] == '\\' || s[1] == '\''))
					s++;
				else if (kind == SHELL_CSH && *s == '\\' && s[1] == '!')
					s++; /* tcsh drops the backslash that hid a ! */
				else if (kind == SHELL_CSH && *s == '!')
					goto bad; /* history expansion would see it */
				*o++ = *s;
			}
			if (*s++ != '\'')
				goto bad;
		} else {
			goto bad;
		}
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum shell_kind kinds[] = { SHELL_SH, SHELL_FISH, SHELL_CSH, SHELL_DOTENV,
						 SHELL_PAM };
	static const char *const prefix[] = { "V=", "set -gx V ", "setenv V ", "V=", "V=" };
	static const char *const suffix[] = { "; export V;\n", ";\n", ";\n", "\n", "\n" };
	enum shell_kind kind;
	char *value, *text = NULL, *body, *back;
	size_t tlen = 0, plen, slen;
	unsigned k;
	FILE *fp;
	int rc;

	if (size == 0)
		return 0;
	k = data[0] % (sizeof(kinds) / sizeof(kinds[0]));
	kind = kinds[k];
	value = malloc(size);
	if (!value)
		return 0;
	memcpy(value, data + 1, size - 1);
	value[size - 1] = '\0';
	fp = open_memstream(&text, &tlen);
	if (!fp) {
		free(value);
		return 0;
	}
	rc = shell_assign(fp, kind, "V", value);
	fclose(fp);
	if (rc != 0) {
		FUZZ_ASSERT(tlen == 0);
		FUZZ_ASSERT(strpbrk(value, "\r\n") || kind == SHELL_DOTENV || kind == SHELL_PAM);
		goto out;
	}
	FUZZ_ASSERT(!strpbrk(value, "\r\n"));
	/* one line, made of the fixed frame around the quoted value */
	FUZZ_ASSERT(strchr(text, '\n') == text + tlen - 1);
	plen = strlen(prefix[k]);
	slen = strlen(suffix[k]);
	FUZZ_ASSERT(tlen >= plen + slen && !strncmp(text, prefix[k], plen) &&
		    !strcmp(text + tlen - slen, suffix[k]));
	body = text + plen;
	body[tlen - plen - slen] = '\0';
	if (kind == SHELL_PAM) {
		FUZZ_ASSERT(!strcmp(body, value));
	} else {
		back = read_back(body, kind == SHELL_DOTENV ? SHELL_SH : kind);
		FUZZ_ASSERT(back && !strcmp(back, value));
		free(back);
	}
out:
	free(text);
	free(value);
	return 0;
}

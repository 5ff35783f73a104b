/* SPDX-License-Identifier: MIT */
/* Quoting variable assignments for each shell `env` can speak. */
#ifndef DS_SHELL_QUOTE_H
#define DS_SHELL_QUOTE_H

#include <stdio.h>

enum shell_kind { SHELL_SH, SHELL_FISH, SHELL_CSH, SHELL_DOTENV, SHELL_JSON, SHELL_PAM };

int shell_parse(const char *s, enum shell_kind *out);

/* Writes one assignment NAME=value in the syntax of kind (not JSON).
 * Returns -1, writing nothing, for a value that cannot be quoted safely:
 * LF, CR or NUL anywhere (they would end or forge a line), and for dotenv
 * and pam any other control character, ' or backslash. */
int shell_assign(FILE *out, enum shell_kind kind, const char *name, const char *value);

#endif

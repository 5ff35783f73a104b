/* SPDX-License-Identifier: MIT */
/* A small INI reader: [section], name = value, # and ; comments, optional
 * double-quoted values. It knows no names; a callback gives them meaning. */
#ifndef DS_INI_H
#define DS_INI_H

#include <stdio.h>
#include "base/util.h"

#define INI_LINE_MAX 4096

/* Called for each "name = value"; section is "" before any header. A
 * non-zero return stops parsing and is returned by ini_parse_*; the
 * callback fills err, naming file and line from the arguments. */
typedef int (*ini_fn)(void *ctx, const char *section, const char *name, const char *value,
		      const char *file, unsigned line, struct ds_err *err);

#define INI_FILE_MAX (1u << 20)

/* Parses an open stream; file is used in messages only. */
int ini_parse_stream(FILE *fp, const char *file, ini_fn fn, void *ctx, struct ds_err *err);

/* Opens and parses path (a regular file, opened without blocking). A
 * missing file is an error only when required. */
int ini_parse_file(const char *path, int required, ini_fn fn, void *ctx, struct ds_err *err);

/* Parses a whole buffer (for the fuzzer and unit tests). */
int ini_parse_buffer(const char *buf, size_t len, const char *file, ini_fn fn, void *ctx,
		     struct ds_err *err);

#endif

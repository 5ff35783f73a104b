/* SPDX-License-Identifier: MIT */
/* Running a program as a filter (systemd-creds): bytes in on its standard
 * input, its standard output read back, its standard error kept for the
 * message. A secret crosses on a pipe, never in argv or a file. */
#ifndef DS_RUN_FILTER_H
#define DS_RUN_FILTER_H

#include <stddef.h>
#include "base/util.h"

struct run_filter {
	const char *const *argv; /* argv[0] an absolute path; no PATH search */
	const char *in; /* what the program reads on stdin (at most 4096 bytes) */
	size_t inlen;
	size_t max_out; /* more output than this is an error */
	long long timeout_ms; /* the whole run; the program is killed after it */
	/* out: stdout in a NUL-terminated heap buffer, which the caller wipes
	 * (it may be a key) and frees; the exit status (-1: killed by a
	 * signal); stderr's last line, control bytes replaced */
	char *out;
	size_t outlen;
	int status;
	char errline[200];
};

/* Runs f->argv with a clean signal mask and the process's environment.
 * DS_OK when the program ran to an end (its status in f->status);
 * DS_EFAIL naming what when it could not start, ran too long or wrote
 * too much (then f->out is NULL). */
int run_filter(struct run_filter *f, struct ds_err *err);

/* Wipes and frees f->out. */
void run_filter_free(struct run_filter *f);

#endif

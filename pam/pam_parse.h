/* SPDX-License-Identifier: MIT */
/* The PAM module's parsers, kept apart from PAM calls so that tests and
 * fuzzers can drive them: module options and the helper's output. */
#ifndef DS_PAM_PARSE_H
#define DS_PAM_PARSE_H

#include <stddef.h>
#include "conf/pam_rules.h"

#define PAM_DS_HELPER_DEFAULT BINDIR "/dashscope-credential"
#define PAM_DS_TIMEOUT_DEFAULT 5
#define PAM_DS_OUTPUT_MAX (16 * 1024)
#define PAM_DS_VALUE_MAX 1024
#define PAM_DS_REASON_MAX 200 /* bytes of the helper's reason in a log line */

struct pam_opts {
	struct pam_place place;
	const char *for_list;
	const char *helper;
	const char *conf;
	unsigned timeout; /* seconds */
	int strict, debug, quiet;
};

/* Parses module options. Unknown options and bad values are reported
 * and ignored; never fails. */
void pam_opts_parse(struct pam_opts *o, int argc, const char **argv, pam_report_fn report,
		    void *ctx);

/* Walks the helper's output (len bytes, at most PAM_DS_OUTPUT_MAX) and
 * calls fn with each "NAME=VALUE" line (NUL-terminated copy) whose name
 * is allowed and whose value is safe. Returns how many lines were
 * dropped. A trailing line without LF is dropped: it may be cut. */
int pam_output_each(const char *buf, size_t len, int (*fn)(void *ctx, const char *line), void *ctx,
		    int *fn_rc);

/* Makes the helper's one-line reason for a log line from len bytes of
 * its stderr: the first line only, each byte outside printable ASCII
 * (control characters too) as '?', every word that looks like a key
 * (sk-..., st-..., any case, not preceded by a letter or digit) replaced
 * by "[key]", at most
 * PAM_DS_REASON_MAX bytes. out must hold PAM_DS_REASON_MAX + 1 bytes. */
void pam_reason_clean(const char *in, size_t len, char *out);

#endif

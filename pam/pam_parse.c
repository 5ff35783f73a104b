/* SPDX-License-Identifier: MIT */
/* Parsing for pam_dashscope: its options and the helper's NAME=VALUE
 * lines ([pam] rules are conf/pam_rules.c's). Everything the helper
 * prints is untrusted here. */
#include "config.h"
#include "conf/envvars.h"
#include "conf/pam_rules.h"
#include "pam/pam_parse.h"
#include "conf/region.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

void pam_opts_parse(struct pam_opts *o, int argc, const char **argv, pam_report_fn report,
		    void *ctx)
{
	memset(o, 0, sizeof(*o));
	o->helper = PAM_DS_HELPER_DEFAULT;
	o->timeout = PAM_DS_TIMEOUT_DEFAULT;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		unsigned long n;

		if (!a)
			continue;
		if (pam_place_item(&o->place, a, report, ctx) >= 0)
			continue;
		if (!strcmp(a, "strict"))
			o->strict = 1;
		else if (!strcmp(a, "debug"))
			o->debug = 1;
		else if (!strcmp(a, "quiet"))
			o->quiet = 1;
		else if ((v = pam_opt_value(a, "for"))) {
			unsigned mask;

			if (envvar_families_parse(v, &mask))
				report(ctx, "bad list in", a);
			else
				o->for_list = v;
		} else if ((v = pam_opt_value(a, "helper"))) {
			/* an absolute path: no PATH lookup during login */
			if (v[0] != '/' || ds_has_control(v))
				report(ctx, "helper must be an absolute path:", a);
			else
				o->helper = v;
		} else if ((v = pam_opt_value(a, "timeout"))) {
			if (ds_parse_ulong(v, 60, &n) || n == 0)
				report(ctx, "timeout must be 1..60 seconds:", a);
			else
				o->timeout = (unsigned)n;
		} else if ((v = pam_opt_value(a, "conf"))) {
			if (v[0] != '/' || ds_has_control(v))
				report(ctx, "conf must be an absolute path:", a);
			else
				o->conf = v;
		} else {
			report(ctx, "unknown option", a);
		}
	}
}

static int value_safe(const char *v, size_t len)
{
	if (len > PAM_DS_VALUE_MAX)
		return 0;
	/* a key must never reach the environment, whatever the helper says */
	if (len >= 3 && (!memcmp(v, "sk-", 3) || !memcmp(v, "st-", 3)))
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return ds_utf8_valid(v, len);
}

int pam_output_each(const char *buf, size_t len, int (*fn)(void *ctx, const char *line), void *ctx,
		    int *fn_rc)
{
	size_t pos = 0;
	int dropped = 0;

	*fn_rc = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		const char *line = buf + pos, *eq;
		size_t llen;
		char copy[PAM_DS_VALUE_MAX + 64];

		if (!nl) {
			dropped++;
			break;
		}
		llen = (size_t)(nl - line);
		pos = (size_t)(nl - buf) + 1;
		eq = memchr(line, '=', llen);
		if (!eq || !envvar_pam_allowed(line, (size_t)(eq - line)) ||
		    !value_safe(eq + 1, llen - (size_t)(eq - line) - 1) || llen >= sizeof(copy)) {
			dropped++;
			continue;
		}
		memcpy(copy, line, llen);
		copy[llen] = '\0';
		*fn_rc = fn(ctx, copy);
		if (*fn_rc)
			break;
	}
	return dropped;
}

static int key_word_at(const char *s, size_t left)
{
	return left > 3 && (s[0] == 's' || s[0] == 'S') &&
	       (s[1] == 'k' || s[1] == 'K' || s[1] == 't' || s[1] == 'T') && s[2] == '-';
}

static int alnum_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int word_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '-' || c == '_' || c == '.';
}

/* Invariant, for every input: the output holds no key-shaped word ("sk-"
 * or "st-", any case, then a word byte) unless a letter or digit comes
 * right before it. It holds because cleaning maps byte to byte: every
 * byte outside printable ASCII becomes '?', never nothing, so cleaning
 * cannot join two words ("s\x14k-" stays "s?k-") and keeps whether the
 * byte before a word is a letter or digit; so a key-shaped word in the
 * output was one in the input, at a place where the mask below took it.
 * The mask itself ends at a byte that is not a word byte. */
void pam_reason_clean(const char *in, size_t len, char *out)
{
	const char *nl = memchr(in, '\n', len);
	size_t o = 0, i = 0;

	if (nl)
		len = (size_t)(nl - in);
	while (i < len && o < PAM_DS_REASON_MAX) {
		unsigned char c = (unsigned char)in[i];

		/* masked before the cap, so no part of a key survives it */
		if (key_word_at(in + i, len - i) &&
		    (i == 0 || !alnum_byte((unsigned char)in[i - 1]))) {
			static const char mask[] = "[key]";

			while (i < len && word_byte((unsigned char)in[i]))
				i++;
			for (size_t k = 0; mask[k] && o < PAM_DS_REASON_MAX; k++)
				out[o++] = mask[k];
			continue;
		}
		i++;
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

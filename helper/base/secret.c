/* SPDX-License-Identifier: MIT */
/* Key material lives in struct secret and is wiped on free; the process is
 * made undumpable before any key is read. */
#include "config.h"
#include "base/secret.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

struct secret *secret_new(const char *s, size_t len)
{
	struct secret *sec = calloc(1, sizeof(*sec));

	if (!sec)
		return NULL;
	sec->data = malloc(len + 1);
	if (!sec->data) {
		free(sec);
		return NULL;
	}
	memcpy(sec->data, s, len);
	sec->data[len] = '\0';
	sec->len = len;
	return sec;
}

void secret_free(struct secret *sec)
{
	if (!sec)
		return;
	if (sec->data) {
		explicit_bzero(sec->data, sec->len);
		free(sec->data);
	}
	explicit_bzero(sec, sizeof(*sec));
	free(sec);
}

void secret_wipe_str(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

int secret_equal(const struct secret *a, const char *b, size_t blen)
{
	unsigned char diff = 0;

	if (!a || !b || a->len != blen)
		return 0;
	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)(a->data[i] ^ b[i]);
	return diff == 0;
}

void secret_harden_process(struct rlimit *saved)
{
	struct rlimit rl = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* only the soft limit: a lowered hard limit could not be given back
	 * to a program that exec runs */
	if (getrlimit(RLIMIT_CORE, saved) == 0) {
		rl.rlim_max = saved->rlim_max;
		setrlimit(RLIMIT_CORE, &rl);
	}
}

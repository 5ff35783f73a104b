/* SPDX-License-Identifier: MIT */
/* The type that holds key material. Whoever creates a struct secret owns it
 * and must release it with secret_free, which wipes the bytes first. */
#ifndef DS_SECRET_H
#define DS_SECRET_H

#include <stddef.h>
#include <sys/resource.h>

struct secret {
	char *data; /* NUL-terminated */
	size_t len;
};

/* Copies len bytes of s; NULL on allocation failure. */
struct secret *secret_new(const char *s, size_t len);
void secret_free(struct secret *sec);

/* Wipes and frees a NUL-terminated heap string that held key material. */
void secret_wipe_str(char *s);

/* Constant-time comparison of two secrets; 1 when equal. */
int secret_equal(const struct secret *a, const char *b, size_t blen);

/* Makes the process undumpable and disables core files, so a crash or a
 * same-user ptrace cannot lift a key from memory. */
void secret_harden_process(struct rlimit *saved);

#endif

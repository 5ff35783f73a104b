/* SPDX-License-Identifier: MIT */
/* The program's side of the proxy: the one cached temporary key the
 * server asks for on each request (proxy_keycache.c, through
 * credential_obtain), and the local proxy key callers present
 * (proxy_key.c). */
#ifndef DS_PROXY_KEYS_H
#define DS_PROXY_KEYS_H

#include <pthread.h>
#include "core/app.h"

/* The one cached temporary key of a proxy. `lock` guards every field and
 * is held across a mint, so concurrent requests wait for one mint. */
struct keycache {
	pthread_mutex_t lock;
	struct app *app;
	struct want want; /* names the profile chosen at start */
	struct profile profile;
	struct secret *key; /* NULL: none yet, or dropped after a 401 */
	long long expires_at;
	unsigned long lifetime;
	int long_lived;
	unsigned long generation; /* counts mints; 0 is "no key" */
	long long checked_at; /* clock_now_ms of the last look at store and policy */
};

/* Selects the profile (no key read, no mint) and checks the policy: a
 * Coding Plan profile under require_temporary is refused (DS_EPOLICY). */
int keycache_init(struct keycache *kc, struct app *app, struct ds_err *err);
void keycache_free(struct keycache *kc);

/* Copies into *out (secret_free it) a key with more than the renewal
 * margin left, minting one first when needed. Store and policy are read
 * again at each mint and at least once a renewal margin (60 s at most):
 * once they refuse the profile (erased, require_temporary, its region no
 * longer allowed) the cached key is dropped and each call fails. refused: the generation of
 * a key upstream answered 401 to (0: none); it is dropped if still cached.
 * *gen receives the generation of the key handed out. */
int keycache_get(struct keycache *kc, unsigned long refused, struct secret **out,
		 unsigned long *gen, struct ds_err *err);

/* keycache_get without waiting: 0 with a copy of the cached key when it
 * is fresh, not the refused generation and no look at store and policy
 * is due; 1 otherwise (also while a mint holds the lock): keycache_get
 * then. */
int keycache_peek(struct keycache *kc, unsigned long refused, struct secret **out,
		  unsigned long *gen);

/* The local proxy key: fresh (CMD runs) or kept in
 * $XDG_CONFIG_HOME/dashscope-credential/proxy-key (standalone). */
int proxy_key_new(struct secret **out, struct ds_err *err);
int proxy_key_load(int replace, struct secret **out, struct ds_err *err);

#endif

/* SPDX-License-Identifier: MIT */
/* The key-injecting loopback proxy of SPEC section 10: the boundary
 * between the program (cmd/proxy.c, with the cached temporary key of
 * proxy_keycache.c and the local proxy key of proxy_key.c) and the module
 * dscred-proxy.so (the server, proxy_server.c; the upstream transfer,
 * proxy_upstream.c; its connection pool, proxy_pool.c), loaded only by
 * `proxy`. The program hands the module plain settings and a small table
 * of callbacks; the module needs none of the program's code. */
#ifndef DS_PROXY_H
#define DS_PROXY_H

#include <stddef.h>
#include "base/secret.h"
#include "base/util.h"

#define PROXY_DEFAULT_PORT 8418
#define PROXY_MAX_BODY (32UL * 1024 * 1024)
#define PROXY_MAX_TOTAL_BODY (128UL * 1024 * 1024) /* bodies held, all connections */
#define PROXY_MAX_CONNECTIONS 512
#define PROXY_IDLE_TIMEOUT 300 /* seconds without a byte either way */
#define PROXY_STREAM_BUF (64 * 1024) /* body read ahead of a client, about */
#define PROXY_BUF_MAX (4 * 1024 * 1024) /* body held for a client, at most */
#define PROXY_HEAD_MAX (32 * 1024) /* an upstream response head, at most */
#define PROXY_ORIGIN_MAX 600
#define PROXY_KEY_PREFIX "sk-local-"
#define PROXY_MODULE "dscred-proxy.so"
#define PROXY_MODULE_SYMBOL "dscred_proxy"
#define PROXY_ABI PACKAGE_VERSION "/proxy-4"

/* Read-only settings every request sees; the server keeps a copy. The
 * strings and the proxy key belong to the program and outlive the
 * server. */
struct proxy_conf {
	char origin[PROXY_ORIGIN_MAX]; /* upstream scheme://host[:port] */
	const char *ca_file; /* NULL: the system's CAs */
	unsigned long connect_timeout;
	unsigned long idle_timeout;
	size_t max_body;
	size_t max_total_body; /* request bodies held across all connections */
	unsigned max_connections; /* beyond: 503 and the connection closes */
	int coding; /* Coding Plan: /v1/ instead of /compatible-mode/, no /api/v1/ */
	int quiet;
	char listen_host[64]; /* the address as a Host header names it */
	unsigned port;
	const struct secret *proxy_key;
};

/* What the program lends the server: key_peek and log are called from
 * its event loop (so they must not block), key_get from its key worker
 * thread. */
struct proxy_host {
	void *ctx;
	/* As key_get, without blocking: 0 with the cached key when it is
	 * fresh (and not the refused one) and no look at store or policy is
	 * due; else 1 (ask key_get), also when a mint holds the cache. */
	int (*key_peek)(void *ctx, unsigned long refused, struct secret **out, unsigned long *gen);
	/* Copies into *out (secret_free it) a temporary key with more than
	 * the renewal margin left, minting one first when needed. refused:
	 * the generation of a key upstream answered 401 to (0: none), dropped
	 * if still cached. *gen receives the generation of the key handed
	 * out. On failure err says why, in one sentence. */
	int (*key_get)(void *ctx, unsigned long refused, struct secret **out, unsigned long *gen,
		       struct ds_err *err);
	/* One line of the access log (no newline). */
	void (*log)(void *ctx, const char *line);
};

/* The server, as the module exports it: start serves listen_fd (which it
 * then owns) with copies of pc and host, in an event loop thread of its
 * own (and a key worker thread), until stop. */
struct proxy;
struct proxy_ops {
	const char *abi; /* PROXY_ABI */
	int (*start)(const struct proxy_conf *pc, const struct proxy_host *host, int listen_fd,
		     struct proxy **out, struct ds_err *err);
	void (*stop)(struct proxy *px);
};
extern const struct proxy_ops dscred_proxy;

#endif

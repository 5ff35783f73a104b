/* SPDX-License-Identifier: MIT */
/* The proxy module's upstream connection pool (proxy_pool.c): idle
 * transfer handles that keep their upstream connections open between
 * requests, and one share object for DNS and TLS sessions. */
#ifndef DS_PROXY_POOL_H
#define DS_PROXY_POOL_H

#include <curl/curl.h>

/* A multi handle keeps the connections of its transfers in its own cache:
 * pooled with its easy handle, it carries one warm upstream connection
 * from one request to the next. */
struct upstream_conn {
	CURLM *multi;
	CURL *easy;
	long long idle_since; /* clock_now_ms, while pooled */
};

struct upstream_pool;

struct upstream_pool *upstream_pool_new(void);
void upstream_pool_free(struct upstream_pool *pool);

/* The share object every easy handle of the pool uses (CURLOPT_SHARE). */
CURLSH *upstream_pool_share(struct upstream_pool *pool);

/* An idle pair (its connection still open) or a new one; NULL when out
 * of memory. Pairs idle for idle_timeout seconds or longer are closed on
 * the way. */
struct upstream_conn *upstream_pool_take(struct upstream_pool *pool, unsigned long idle_timeout);

/* Takes c back: kept when reusable (only a transfer that ended cleanly
 * leaves a reusable connection) and there is room, else closed. */
void upstream_pool_give(struct upstream_pool *pool, struct upstream_conn *c, int reusable,
			unsigned long idle_timeout);

#endif

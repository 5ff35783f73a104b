/* SPDX-License-Identifier: MIT */
/* The proxy module's transfer handles (proxy_pool.c): idle easy handles
 * whose options that never change (TLS, timeouts, callbacks) were set
 * once, when the handle was made. The upstream connections themselves
 * live in the one multi handle's connection cache (proxy_upstream.c). */
#ifndef DS_PROXY_POOL_H
#define DS_PROXY_POOL_H

#include <curl/curl.h>
#include "proxy/proxy.h"

struct upstream_pool;

/* The callbacks every handle calls, with their data set per transfer. */
struct pool_callbacks {
	curl_write_callback on_header;
	curl_write_callback on_body;
	curl_xferinfo_callback on_progress;
};

struct upstream_pool *upstream_pool_new(const struct proxy_conf *pc,
					const struct pool_callbacks *cb);
void upstream_pool_free(struct upstream_pool *pool);

/* An idle handle, or a new one with the fixed options set; NULL when out
 * of memory or an option is refused. */
CURL *upstream_pool_take(struct upstream_pool *pool);

/* Takes h back: kept when reusable and there is room, else cleaned up. */
void upstream_pool_give(struct upstream_pool *pool, CURL *h, int reusable);

#endif

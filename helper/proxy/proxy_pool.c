/* SPDX-License-Identifier: MIT */
/* The proxy module's transfer handles (proxy_pool.h): a stack of idle
 * easy handles, each set up once (about twenty options) rather than reset
 * and set up again for every request, and one share object for DNS and
 * TLS sessions. Only the event loop's thread uses it: no lock. */
#include "config.h"
#include "proxy/proxy_pool.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POOL_MAX 64

struct upstream_pool {
	const struct proxy_conf *pc;
	struct pool_callbacks cb;
	CURL *idle[POOL_MAX];
	size_t n;
	CURLSH *share;
};

struct upstream_pool *upstream_pool_new(const struct proxy_conf *pc,
					const struct pool_callbacks *cb)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));
	CURLSHcode rc = CURLSHE_OK;

	if (!p)
		return NULL;
	p->pc = pc;
	p->cb = *cb;
	p->share = curl_share_init();
	if (!p->share) {
		upstream_pool_free(p);
		return NULL;
	}
	rc |= curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	rc |= curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (rc != CURLSHE_OK) {
		upstream_pool_free(p);
		return NULL;
	}
	return p;
}

void upstream_pool_free(struct upstream_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	if (p->share)
		curl_share_cleanup(p->share);
	free(p);
}

#define SET(h, opt, val)                                             \
	do {                                                         \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) \
			goto out;                                    \
	} while (0)

/* The options no request changes. */
static CURL *handle_new(struct upstream_pool *p)
{
	const struct proxy_conf *pc = p->pc;
	int http = !strncasecmp(pc->origin, "http://", 7);
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	/* the path goes as the server checked it (rules_path), never
	 * rewritten: no dot segments removed, no fragment cut */
	SET(h, CURLOPT_PATH_AS_IS, 1L);
	SET(h, CURLOPT_PROTOCOLS_STR, http ? "http" : "https");
	SET(h, CURLOPT_FOLLOWLOCATION, 0L);
	SET(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(h, CURLOPT_SSL_VERIFYPEER, 1L);
	SET(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (pc->ca_file)
		SET(h, CURLOPT_CAINFO, pc->ca_file);
	/* a loopback http:// endpoint never goes through a proxy (SPEC 2) */
	if (http)
		SET(h, CURLOPT_NOPROXY, "*");
	SET(h, CURLOPT_NOSIGNAL, 1L);
	SET(h, CURLOPT_SHARE, p->share);
	/* no total timeout on a stream; an idle one is closed (the loop's
	 * sweep); an upstream connection idle that long is not reused */
	SET(h, CURLOPT_CONNECTTIMEOUT, (long)pc->connect_timeout);
	SET(h, CURLOPT_MAXAGE_CONN, (long)pc->idle_timeout);
	SET(h, CURLOPT_HEADERFUNCTION, p->cb.on_header);
	SET(h, CURLOPT_WRITEFUNCTION, p->cb.on_body);
	SET(h, CURLOPT_XFERINFOFUNCTION, p->cb.on_progress);
	SET(h, CURLOPT_NOPROGRESS, 0L);
	return h;
out:
	curl_easy_cleanup(h);
	return NULL;
}

CURL *upstream_pool_take(struct upstream_pool *p)
{
	if (p->n)
		return p->idle[--p->n];
	return handle_new(p);
}

void upstream_pool_give(struct upstream_pool *p, CURL *h, int reusable)
{
	if (!h)
		return;
	if (reusable && p->n < POOL_MAX) {
		p->idle[p->n++] = h;
		return;
	}
	curl_easy_cleanup(h);
}

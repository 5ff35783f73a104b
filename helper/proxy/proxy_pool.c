/* SPDX-License-Identifier: MIT */
/* The proxy module's upstream connection pool (proxy_pool.h): idle
 * multi/easy pairs, newest on top, closed once idle for idle_timeout so
 * the descriptors a burst of requests opened do not stay open for good. */
#include "config.h"
#include "base/clock.h"
#include "proxy/proxy_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 256

struct upstream_pool {
	pthread_mutex_t lock; /* guards idle[] and n */
	struct upstream_conn *idle[POOL_MAX];
	size_t n;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct upstream_pool *p = ctx;

	(void)h;
	(void)access;
	pthread_mutex_lock(&p->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct upstream_pool *p = ctx;

	(void)h;
	pthread_mutex_unlock(&p->share_locks[data]);
}

struct upstream_pool *upstream_pool_new(void)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));
	CURLSHcode rc = CURLSHE_OK;

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->share_locks[i], NULL);
	p->share = curl_share_init();
	if (!p->share) {
		upstream_pool_free(p);
		return NULL;
	}
	rc |= curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock);
	rc |= curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	rc |= curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
	rc |= curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	rc |= curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (rc != CURLSHE_OK) {
		upstream_pool_free(p);
		return NULL;
	}
	return p;
}

CURLSH *upstream_pool_share(struct upstream_pool *p)
{
	return p->share;
}

static void conn_free(struct upstream_conn *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi); /* closes its connections */
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c);
}

void upstream_pool_free(struct upstream_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		conn_free(p->idle[i]);
	if (p->share)
		curl_share_cleanup(p->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->share_locks[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Moves the pairs idle for idle_timeout or longer (the oldest are at the
 * bottom) into stale[], for the caller to free outside the lock. */
static size_t pool_expire(struct upstream_pool *p, unsigned long idle_timeout,
			  struct upstream_conn **stale)
{
	long long now = clock_now_ms(), limit = (long long)idle_timeout * 1000;
	size_t k = 0;

	while (k < p->n && now - p->idle[k]->idle_since >= limit)
		stale[k] = p->idle[k], k++;
	if (k) {
		memmove(p->idle, p->idle + k, (p->n - k) * sizeof(p->idle[0]));
		p->n -= k;
	}
	return k;
}

static void conn_free_all(struct upstream_conn **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		conn_free(list[i]);
}

struct upstream_conn *upstream_pool_take(struct upstream_pool *p, unsigned long idle_timeout)
{
	struct upstream_conn *c = NULL, *stale[POOL_MAX];
	size_t k;

	pthread_mutex_lock(&p->lock);
	k = pool_expire(p, idle_timeout, stale);
	if (p->n)
		c = p->idle[--p->n];
	pthread_mutex_unlock(&p->lock);
	conn_free_all(stale, k);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (c && (!(c->multi = curl_multi_init()) || !(c->easy = curl_easy_init()))) {
		conn_free(c);
		c = NULL;
	}
	return c;
}

void upstream_pool_give(struct upstream_pool *p, struct upstream_conn *c, int reusable,
			unsigned long idle_timeout)
{
	struct upstream_conn *stale[POOL_MAX];
	size_t k = 0;

	if (reusable) {
		c->idle_since = clock_now_ms();
		pthread_mutex_lock(&p->lock);
		k = pool_expire(p, idle_timeout, stale);
		if (p->n < POOL_MAX) {
			p->idle[p->n++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&p->lock);
	}
	conn_free_all(stale, k);
	conn_free(c);
}

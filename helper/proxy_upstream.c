/* SPDX-License-Identifier: MIT */
/* One request's trip upstream: a thread runs a blocking libcurl transfer
 * with a temporary key in its headers, hands the final response head to
 * the connection thread and pushes the body through a bounded ring
 * buffer. A 401 before any byte reached the client drops the key and the
 * request is replayed once with a new one. */
#include "config.h"
#include "proxy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define WAIT_SLICE_MS 200 /* how often a blocked side looks at the abort flag */

/* ---- the pool: idle handles keep their connections ---- */

#define POOL_MAX 256

struct upstream_pool {
	pthread_mutex_t lock; /* guards idle[] and n */
	CURL *idle[POOL_MAX];
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

void upstream_pool_free(struct upstream_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	if (p->share)
		curl_share_cleanup(p->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->share_locks[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* An idle handle (its connection still open) or a new one. */
static CURL *pool_take(struct upstream_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n)
		h = p->idle[--p->n];
	pthread_mutex_unlock(&p->lock);
	if (h) {
		curl_easy_reset(h); /* options go; the connection stays */
		return h;
	}
	return curl_easy_init();
}

/* Only a transfer that ended cleanly leaves a reusable connection. */
static void pool_give(struct upstream_pool *p, CURL *h, int reusable)
{
	if (reusable) {
		pthread_mutex_lock(&p->lock);
		if (p->n < POOL_MAX) {
			p->idle[p->n++] = h;
			h = NULL;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (h)
		curl_easy_cleanup(h);
}

/* ---- waiting ---- */

/* 1 when the client hung up (its half of the connection is closed). */
static int client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	if (fd < 0)
		return 0;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits on cv for at most one slice; called with m held. */
static void wait_slice(struct upstream *u)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&u->cv, &u->m, &ts);
}

static void set_aborted(struct upstream *u)
{
	u->aborted = 1;
	pthread_cond_broadcast(&u->cv);
}

int upstream_wait_head(struct upstream *u, int client_fd)
{
	int rc;

	pthread_mutex_lock(&u->m);
	for (;;) {
		if (u->head_ready) {
			rc = 1;
			break;
		}
		if (u->failed || u->done) {
			rc = 0;
			break;
		}
		/* a poll of no time, under the lock: no wake-up can slip by */
		if (client_gone(client_fd)) {
			set_aborted(u);
			rc = -1;
			break;
		}
		wait_slice(u);
	}
	pthread_mutex_unlock(&u->m);
	return rc;
}

long upstream_read(struct upstream *u, char *buf, size_t max, int client_fd)
{
	long n = -1;

	pthread_mutex_lock(&u->m);
	for (;;) {
		if (u->len) {
			size_t take = u->len < max ? u->len : max;
			size_t first = PROXY_BUF_SIZE - u->head;

			if (first > take)
				first = take;
			memcpy(buf, u->ring + u->head, first);
			memcpy(buf + first, u->ring, take - first);
			u->head = (u->head + take) % PROXY_BUF_SIZE;
			u->len -= take;
			pthread_cond_broadcast(&u->cv);
			n = (long)take;
			break;
		}
		if (u->aborted || u->failed)
			break;
		if (u->done) {
			n = 0;
			break;
		}
		if (client_gone(client_fd)) {
			set_aborted(u);
			break;
		}
		wait_slice(u);
	}
	pthread_mutex_unlock(&u->m);
	return n;
}

/* ---- libcurl callbacks (upstream thread) ---- */

static int is_hop_by_hop(const char *name, size_t n)
{
	static const char *const hop[] = { "connection",
					   "keep-alive",
					   "te",
					   "trailer",
					   "transfer-encoding",
					   "upgrade",
					   "content-length",
					   "proxy-connection",
					   "proxy-authenticate",
					   "proxy-authorization" };

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strlen(hop[i]) == n && !strncasecmp(name, hop[i], n))
			return 1;
	/* no CORS header ever reaches a browser from us */
	return n >= 15 && !strncasecmp(name, "access-control-", 15);
}

static void id_take(char *dst, size_t n, const char *v, size_t vlen)
{
	size_t j = 0;

	for (size_t i = 0; i < vlen && j + 1 < n; i++)
		if (v[i] > 0x20 && v[i] < 0x7f)
			dst[j++] = v[i];
	dst[j] = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct upstream *u = ctx;
	size_t n = size * nmemb, len = n;
	const char *colon;
	struct curl_slist *l;
	char *line;

	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (a 1xx is followed by another): start over */
		const char *sp = memchr(data, ' ', len);

		curl_slist_free_all(u->cur_headers);
		u->cur_headers = NULL;
		u->cur_length = -1;
		u->cur_id[0] = 0;
		u->cur_status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	if (len == 0) {
		if (u->cur_status < 200)
			return n; /* end of a 1xx head */
		if (u->cur_status == 401 && u->replay_allowed) {
			u->held_401 = 1; /* not shown: the request is replayed */
			return n;
		}
		pthread_mutex_lock(&u->m);
		u->status = u->cur_status;
		u->resp_headers = u->cur_headers;
		u->cur_headers = NULL;
		u->content_length = u->cur_length;
		memcpy(u->request_id, u->cur_id, sizeof(u->request_id));
		u->head_ready = 1;
		pthread_cond_broadcast(&u->cv);
		pthread_mutex_unlock(&u->m);
		return n;
	}
	colon = memchr(data, ':', len);
	if (!colon || colon == data)
		return n;
	size_t nlen = (size_t)(colon - data);
	const char *v = colon + 1;
	size_t vlen = len - nlen - 1;

	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	if (nlen == 14 && !strncasecmp(data, "content-length", 14))
		u->cur_length = strtoll(v, NULL, 10);
	if (nlen == 17 && !strncasecmp(data, "transfer-encoding", 17))
		u->cur_length = -2; /* chunked or otherwise framed: length unknown */
	if ((nlen == 12 && !strncasecmp(data, "x-request-id", 12)) ||
	    (nlen == 10 && !strncasecmp(data, "request-id", 10)) ||
	    (nlen == 6 && !strncasecmp(data, "req-id", 6)))
		id_take(u->cur_id, sizeof(u->cur_id), v, vlen);
	if (is_hop_by_hop(data, nlen))
		return n;
	line = strndup(data, len);
	if (!line)
		return 0;
	l = curl_slist_append(u->cur_headers, line);
	free(line);
	if (!l)
		return 0;
	u->cur_headers = l;
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct upstream *u = ctx;
	size_t n = size * nmemb, off = 0;

	if (u->held_401)
		return n; /* the body of a 401 we replay is dropped */
	pthread_mutex_lock(&u->m);
	while (off < n && !u->aborted) {
		size_t space = PROXY_BUF_SIZE - u->len;

		if (!space) {
			/* a slow client holds back only its own upstream */
			wait_slice(u);
			continue;
		}
		size_t take = n - off < space ? n - off : space;
		size_t tail = (u->head + u->len) % PROXY_BUF_SIZE;
		size_t first = PROXY_BUF_SIZE - tail;

		if (first > take)
			first = take;
		memcpy(u->ring + tail, data + off, first);
		memcpy(u->ring, data + off + first, take - first);
		u->len += take;
		off += take;
		pthread_cond_broadcast(&u->cv);
	}
	pthread_mutex_unlock(&u->m);
	return off == n ? n : 0;
}

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* libcurl calls this at least once a second: the abort flag and the idle
 * limit are looked at here (a byte counted either way resets the latter;
 * libcurl's LOW_SPEED averages and so misses a stream gone quiet). */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct upstream *u = ctx;
	time_t now = mono_now();
	int stop;

	(void)dt;
	(void)ut;
	if (dn != u->seen_down || un != u->seen_up) {
		u->seen_down = dn;
		u->seen_up = un;
		u->last_byte = now;
	}
	if (now - u->last_byte >= (time_t)u->pc->idle_timeout)
		u->idle = 1;
	pthread_mutex_lock(&u->m);
	stop = u->aborted || u->idle;
	pthread_mutex_unlock(&u->m);
	return stop;
}

/* ---- one attempt ---- */

#define SET(h, opt, val)                                             \
	do {                                                         \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) \
			goto out;                                    \
	} while (0)

static void wipe_list(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

/* The client's headers plus ours; NULL when out of memory. */
static struct curl_slist *request_headers(const struct upstream *u, const struct secret *key)
{
	struct curl_slist *list = NULL, *l;
	size_t alen = key->len + 32;
	char *line = malloc(alen);
	int ok = line != NULL;

	for (const struct curl_slist *h = u->headers; ok && h; h = h->next)
		ok = (l = curl_slist_append(list, h->data)) != NULL && (list = l);
	if (ok) {
		snprintf(line, alen, "Authorization: Bearer %s", key->data);
		ok = (l = curl_slist_append(list, line)) != NULL && (list = l);
	}
	if (ok && u->anthropic) {
		snprintf(line, alen, "x-api-key: %s", key->data);
		ok = (l = curl_slist_append(list, line)) != NULL && (list = l);
	}
	/* no 100-continue round trip; no defaults the client did not send */
	if (ok)
		ok = (l = curl_slist_append(list, "Expect:")) != NULL && (list = l);
	if (line) {
		explicit_bzero(line, alen);
		free(line);
	}
	if (!ok) {
		wipe_list(list);
		return NULL;
	}
	return list;
}

static int has_header(const struct curl_slist *list, const char *name)
{
	size_t n = strlen(name);

	for (; list; list = list->next)
		if (!strncasecmp(list->data, name, n) && list->data[n] == ':')
			return 1;
	return 0;
}

static CURLcode attempt(struct upstream *u, const struct secret *key, char *errbuf)
{
	const struct proxy_conf *pc = u->pc;
	int http = !strncasecmp(u->url, "http://", 7);
	struct curl_slist *hdrs = request_headers(u, key), *l;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	CURL *h = pool_take(pc->pool);

	if (!h || !hdrs)
		goto out;
	/* curl adds these for a POST unless told not to */
	if (!has_header(u->headers, "Content-Type")) {
		if (!(l = curl_slist_append(hdrs, "Content-Type:")))
			goto out;
		hdrs = l;
	}
	if (!has_header(u->headers, "Accept")) {
		if (!(l = curl_slist_append(hdrs, "Accept:")))
			goto out;
		hdrs = l;
	}
	cc = CURLE_BAD_FUNCTION_ARGUMENT;
	SET(h, CURLOPT_URL, u->url);
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
	SET(h, CURLOPT_SHARE, pc->pool->share);
	/* no total timeout on a stream; an idle one is closed (on_progress) */
	SET(h, CURLOPT_CONNECTTIMEOUT, (long)pc->connect_timeout);
	SET(h, CURLOPT_HTTPHEADER, hdrs);
	SET(h, CURLOPT_ERRORBUFFER, errbuf);
	SET(h, CURLOPT_HEADERFUNCTION, on_header);
	SET(h, CURLOPT_HEADERDATA, u);
	SET(h, CURLOPT_WRITEFUNCTION, on_body);
	SET(h, CURLOPT_WRITEDATA, u);
	SET(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(h, CURLOPT_XFERINFODATA, u);
	SET(h, CURLOPT_NOPROGRESS, 0L);
	if (!strcmp(u->method, "HEAD")) {
		SET(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(u->method, "GET") && !u->body_len) {
		SET(h, CURLOPT_HTTPGET, 1L);
	} else {
		SET(h, CURLOPT_POSTFIELDS, u->body ? u->body : "");
		SET(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)u->body_len);
		if (strcmp(u->method, "POST"))
			SET(h, CURLOPT_CUSTOMREQUEST, u->method);
	}
	cc = curl_easy_perform(h);
	/* the handle must not point at this request's headers once pooled */
	if (curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL) != CURLE_OK)
		cc = CURLE_FAILED_INIT;
out:
	if (h)
		pool_give(pc->pool, h, cc == CURLE_OK);
	wipe_list(hdrs);
	return cc;
}

static void fail(struct upstream *u, const char *what, const char *why)
{
	pthread_mutex_lock(&u->m);
	if (!u->reason[0])
		snprintf(u->reason, sizeof(u->reason), "%s%s", what, why);
	u->failed = 1;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->m);
}

static void *upstream_run(void *arg)
{
	struct upstream *u = arg;
	char errbuf[CURL_ERROR_SIZE];
	unsigned long gen = 0;
	CURLcode cc = CURLE_OK;

	for (int round = 0; round < 2; round++) {
		struct ds_err err = { 0, "" };
		struct secret *key;

		if (keycache_get(u->pc->keys, round ? gen : 0, &key, &gen, &err)) {
			fail(u, "Minting a temporary key failed: ", err.msg);
			return NULL;
		}
		errbuf[0] = 0;
		u->held_401 = 0;
		u->seen_down = u->seen_up = 0;
		u->last_byte = mono_now();
		u->replay_allowed = round == 0;
		cc = attempt(u, key, errbuf);
		secret_free(key);
		pthread_mutex_lock(&u->m);
		int stop = !u->held_401 || u->aborted;
		pthread_mutex_unlock(&u->m);
		if (stop)
			break;
	}
	curl_slist_free_all(u->cur_headers);
	u->cur_headers = NULL;
	if (cc != CURLE_OK) {
		fail(u,
		     "The upstream request failed: ", errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return NULL;
	}
	pthread_mutex_lock(&u->m);
	u->done = 1;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->m);
	return NULL;
}

int upstream_start(struct upstream *u)
{
	u->content_length = -1;
	if (pthread_mutex_init(&u->m, NULL) != 0)
		return -1;
	if (pthread_cond_init(&u->cv, NULL) != 0) {
		pthread_mutex_destroy(&u->m);
		return -1;
	}
	if (pthread_create(&u->thread, NULL, upstream_run, u) != 0) {
		pthread_cond_destroy(&u->cv);
		pthread_mutex_destroy(&u->m);
		return -1;
	}
	u->started = 1;
	return 0;
}

void upstream_finish(struct upstream *u, int graceful)
{
	if (u->started) {
		pthread_mutex_lock(&u->m);
		/* the client has it all: let libcurl finish reading the end of
		 * the response, so the connection can be reused, for a while */
		for (int i = 0; graceful && i < 5 && !u->done && !u->failed && !u->aborted; i++)
			wait_slice(u);
		set_aborted(u);
		pthread_mutex_unlock(&u->m);
		pthread_join(u->thread, NULL);
		pthread_cond_destroy(&u->cv);
		pthread_mutex_destroy(&u->m);
		u->started = 0;
	}
	curl_slist_free_all(u->resp_headers);
	curl_slist_free_all(u->cur_headers);
	curl_slist_free_all(u->headers);
	u->resp_headers = u->cur_headers = u->headers = NULL;
	free(u->url);
	u->url = NULL;
}

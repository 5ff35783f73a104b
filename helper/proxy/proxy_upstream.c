/* SPDX-License-Identifier: MIT */
/* One request's trip upstream, driven by the event loop
 * (proxy_upstream.h): an easy handle of the one multi handle carries it
 * with a temporary key in its headers; the request is told of its head,
 * of each piece of body (a slow client holds back only its own upstream:
 * the transfer pauses past PROXY_STREAM_BUF) and of its end. A 401
 * before any byte reached the client drops the key and the request is
 * replayed once with a new one; a request that died on upstream
 * connections kept from earlier requests, before any answer, goes once
 * more on a new connection. */
#include "config.h"
#include "base/clock.h"
#include "proxy/proxy_upstream.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define UPSTREAM_MAXCONNECTS 64 /* upstream connections kept warm */
#define DRAIN_MS 1000 /* the end of an answer the client has whole, read for reuse */
/* SPEC 10: the body of a 401 before the replay is read for at most this
 * much or this long (an endless one must not hold the request) */
#define HELD_401_MAX_BYTES (64 * 1024)
#define HELD_401_MAX_MS 5000

/* ---- the client's side ---- */

/* 1 when the client hung up (its half of the connection is closed). */
static int client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	if (fd < 0)
		return 0;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static void fail(struct upstream *u, const char *what, const char *why)
{
	if (!u->reason[0])
		snprintf(u->reason, sizeof(u->reason), "%s%s", what, why);
	u->failed = 1;
}

static void tell(struct upstream *u)
{
	if (u->owner)
		u->env->notify(u->env->notify_ctx, u);
}

/* ---- libcurl callbacks ---- */

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

int header_listed(const char *list, const char *name, size_t n)
{
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		const char *e = p;

		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		if ((size_t)(e - p) == n && !strncasecmp(p, name, n))
			return 1;
		p = e;
	}
	return 0;
}

/* Drops from the head the headers its Connection headers name (they are
 * hop-by-hop too, RFC 9110 7.6.1); the names may come after the headers. */
static int drop_connection_named(struct upstream *u)
{
	struct curl_slist *kept = NULL, *l;

	if (!u->cur_connection)
		return 0;
	for (struct curl_slist *h = u->cur_headers; h; h = h->next) {
		if (header_listed(u->cur_connection, h->data, strcspn(h->data, ":")))
			continue;
		if (!(l = curl_slist_append(kept, h->data))) {
			curl_slist_free_all(kept);
			return -1;
		}
		kept = l;
	}
	curl_slist_free_all(u->cur_headers);
	u->cur_headers = kept;
	return 0;
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
	char small[1024], *line;

	/* strict, as requests are (SPEC 10): a line the client's parser
	 * could read otherwise than ours is a 502, and the connection, whose
	 * framing is then unknown, is not reused (the transfer fails) */
	if (!rules_response_line(data, n)) {
		fail(u, "The upstream request failed: ",
		     "the upstream's answer has a malformed head line.");
		return 0;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (a 1xx is followed by another): start over */
		const char *sp = memchr(data, ' ', len);

		curl_slist_free_all(u->cur_headers);
		u->cur_headers = NULL;
		free(u->cur_connection);
		u->cur_connection = NULL;
		u->cur_head_bytes = n;
		u->cur_length = -1;
		u->cur_id[0] = 0;
		memset(&u->cur_framing, 0, sizeof(u->cur_framing));
		u->cur_status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	/* the client gets a 502, not a head its server cannot hold */
	u->cur_head_bytes += n;
	if (u->cur_head_bytes > PROXY_HEAD_MAX && !u->head_ready) {
		fail(u, "The upstream request failed: ",
		     "the upstream's response head is over 32 KiB.");
		return 0;
	}
	if (len == 0) {
		const char *why = rules_response_framing(&u->cur_framing);

		if (why && !u->head_ready) {
			fail(u, "The upstream request failed: ", why);
			return 0;
		}
		if (u->cur_status < 200)
			return n; /* end of a 1xx head */
		if (u->cur_status == 401 && u->round == 0) {
			u->held_401 = 1; /* not shown: the request is replayed */
			u->held_401_at = clock_now_ms();
			return n;
		}
		if (drop_connection_named(u))
			return 0;
		u->status = u->cur_status;
		u->resp_headers = u->cur_headers;
		u->cur_headers = NULL;
		u->content_length = u->cur_length;
		memcpy(u->request_id, u->cur_id, sizeof(u->request_id));
		u->head_ready = 1;
		tell(u);
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
	rules_framing_add(&u->cur_framing, data, nlen, v, vlen);
	if (nlen == 14 && !strncasecmp(data, "content-length", 14))
		u->cur_length = strtoll(v, NULL, 10);
	if (nlen == 10 && !strncasecmp(data, "connection", 10)) {
		char *joined;

		if (asprintf(&joined, "%s,%.*s", u->cur_connection ? u->cur_connection : "",
			     (int)vlen, v) < 0)
			return 0;
		free(u->cur_connection);
		u->cur_connection = joined;
	}
	if (nlen == 17 && !strncasecmp(data, "transfer-encoding", 17))
		u->cur_length = -2; /* chunked or otherwise framed: length unknown */
	if ((nlen == 12 && !strncasecmp(data, "x-request-id", 12)) ||
	    (nlen == 10 && !strncasecmp(data, "request-id", 10)) ||
	    (nlen == 6 && !strncasecmp(data, "req-id", 6)))
		id_take(u->cur_id, sizeof(u->cur_id), v, vlen);
	if (is_hop_by_hop(data, nlen))
		return n;
	/* a line of the usual size is made on the stack */
	line = len < sizeof(small) ? small : malloc(len + 1);
	if (!line)
		return 0;
	memcpy(line, data, len);
	line[len] = 0;
	l = curl_slist_append(u->cur_headers, line);
	if (line != small)
		free(line);
	if (!l)
		return 0;
	u->cur_headers = l;
	return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct upstream *u = ctx;
	size_t n = size * nmemb;

	if (u->held_401) {
		/* the body of a 401 we replay: dropped, and cut short when long */
		u->held_401_bytes += n;
		return u->held_401_bytes > HELD_401_MAX_BYTES ? 0 : n;
	}
	if (u->draining)
		return n; /* the body of one nobody reads */
	/* Past PROXY_STREAM_BUF not yet read by the client, libcurl keeps
	 * this piece and reads no more until upstream_read resumes it. */
	if (u->len && u->len + n > PROXY_STREAM_BUF && n <= PROXY_BUF_MAX) {
		u->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (n > PROXY_BUF_MAX - u->len)
		return 0;
	if (u->len + n > u->cap) {
		/* a small answer of known length: one allocation of its size */
		size_t cap = u->cap ? u->cap
			     : u->content_length > 0 && u->content_length < 16384
				     ? (size_t)u->content_length
				     : 16384;
		char *b;

		while (cap < u->len + n)
			cap *= 2;
		b = realloc(u->buf, cap);
		if (!b)
			return 0;
		u->buf = b;
		u->cap = cap;
	}
	memcpy(u->buf + u->len, data, n);
	u->len += n;
	tell(u);
	return n;
}

/* libcurl calls this each time the transfer runs: a byte counted either
 * way resets the idle clock (libcurl's LOW_SPEED averages and so misses
 * a stream gone quiet); the loop's sweep looks at it too, for a
 * transfer libcurl has no reason to run. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct upstream *u = ctx;
	long long now = clock_now_ms();

	(void)dt;
	(void)ut;
	if (dn != u->seen_down || un != u->seen_up) {
		u->seen_down = dn;
		u->seen_up = un;
		u->last_byte = now;
	}
	if (now - u->last_byte >= (long long)u->env->pc->idle_timeout * 1000)
		u->idle = 1;
	if (u->held_401 && now - u->held_401_at >= HELD_401_MAX_MS)
		return 1; /* a 401's body that does not end: replay now */
	return u->idle;
}

/* ---- the request's headers: built once, the key added per attempt ---- */

static void wipe_list(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static int has_header(const struct curl_slist *list, const char *name)
{
	size_t n = strlen(name);

	for (; list; list = list->next)
		if (!strncasecmp(list->data, name, n) && list->data[n] == ':')
			return 1;
	return 0;
}

static int append(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return -1;
	*list = l;
	return 0;
}

/* Once a request: no 100-continue round trip, and none of the defaults
 * curl adds (for a POST) that the client did not send. */
static int headers_finish(struct upstream *u)
{
	if (append(&u->headers, "Expect:"))
		return -1;
	if (!has_header(u->headers, "Content-Type") && append(&u->headers, "Content-Type:"))
		return -1;
	if (!has_header(u->headers, "Accept") && append(&u->headers, "Accept:"))
		return -1;
	for (u->tail = u->headers; u->tail->next; u->tail = u->tail->next)
		;
	return 0;
}

/* The key's lines, after u->tail (wiped when they go). */
static int headers_key_add(struct upstream *u, const struct secret *key)
{
	struct curl_slist *k = NULL;
	size_t alen = key->len + 32;
	char *line = malloc(alen);
	int ok = line != NULL;

	if (ok) {
		snprintf(line, alen, "Authorization: Bearer %s", key->data);
		ok = append(&k, line) == 0;
	}
	if (ok && u->anthropic) {
		snprintf(line, alen, "x-api-key: %s", key->data);
		ok = append(&k, line) == 0;
	}
	if (line) {
		explicit_bzero(line, alen);
		free(line);
	}
	if (!ok) {
		wipe_list(k);
		return -1;
	}
	u->tail->next = k;
	return 0;
}

static void headers_key_drop(struct upstream *u)
{
	if (u->tail) {
		wipe_list(u->tail->next);
		u->tail->next = NULL;
	}
}

/* ---- one attempt ---- */

#define SET(h, opt, val)                                             \
	do {                                                         \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) \
			goto out;                                    \
	} while (0)

/* Sets the handle up for this attempt (the options that differ from one
 * request to the next; the pool set the rest) and adds it to the multi
 * handle; the key goes only into the header list's tail. */
static int attempt_setup(struct upstream *u, const struct secret *key)
{
	CURL *h = u->easy;

	if (headers_key_add(u, key))
		return -1;
	SET(h, CURLOPT_URL, u->url);
	SET(h, CURLOPT_HTTPHEADER, u->headers);
	SET(h, CURLOPT_ERRORBUFFER, u->errbuf);
	SET(h, CURLOPT_HEADERDATA, u);
	SET(h, CURLOPT_WRITEDATA, u);
	SET(h, CURLOPT_XFERINFODATA, u);
	SET(h, CURLOPT_PRIVATE, u);
	/* (the pool's handles keep their options: set either way) */
	SET(h, CURLOPT_FRESH_CONNECT, u->fresh ? 1L : 0L);
	SET(h, CURLOPT_CUSTOMREQUEST, NULL);
	if (!strcmp(u->method, "HEAD")) {
		SET(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(u->method, "GET") && !u->body_len) {
		SET(h, CURLOPT_HTTPGET, 1L);
	} else {
		SET(h, CURLOPT_NOBODY, 0L);
		SET(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)u->body_len);
		SET(h, CURLOPT_POSTFIELDS, u->body ? u->body : "");
		if (strcmp(u->method, "POST"))
			SET(h, CURLOPT_CUSTOMREQUEST, u->method);
	}
	if (curl_multi_add_handle(u->env->multi, h) != CURLM_OK)
		return -1;
	u->attached = 1;
	return 0;
out:
	return -1;
}

/* Detaches the easy handle; mid-transfer, that closes its connection. The
 * handle must then not point at this request's memory. */
static void attempt_detach(struct upstream *u)
{
	if (u->attached) {
		if (curl_multi_remove_handle(u->env->multi, u->easy) != CURLM_OK)
			u->reusable_lost = 1;
		u->attached = 0;
	}
	if (u->easy) {
		if (curl_easy_setopt(u->easy, CURLOPT_HTTPHEADER, NULL) != CURLE_OK)
			u->reusable_lost = 1;
		if (curl_easy_setopt(u->easy, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK)
			u->reusable_lost = 1;
	}
	headers_key_drop(u);
}

static void handle_give(struct upstream *u)
{
	if (u->easy)
		upstream_pool_give(u->env->pool, u->easy, !u->reusable_lost);
	u->easy = NULL;
}

/* Starts an attempt with key (which it frees). */
static void attempt_go(struct upstream *u, struct secret *key, unsigned long gen)
{
	int rc;

	u->gen = gen;
	u->errbuf[0] = 0;
	u->held_401 = 0;
	u->held_401_bytes = 0;
	u->cur_status = 0;
	u->seen_down = u->seen_up = 0;
	u->last_byte = clock_now_ms();
	if (!u->easy)
		u->easy = upstream_pool_take(u->env->pool);
	rc = u->easy ? attempt_setup(u, key) : -1;
	secret_free(key);
	if (rc) {
		attempt_detach(u);
		fail(u, "The upstream request could not be set up: ", "out of memory.");
		handle_give(u);
		tell(u);
	}
}

static void worker_queue(struct upstream *u)
{
	struct upstream_env *env = u->env;

	u->in_worker = 1;
	u->knext = NULL;
	pthread_mutex_lock(&env->klock);
	if (env->kq_tail)
		env->kq_tail->knext = u;
	else
		env->kq = u;
	env->kq_tail = u;
	pthread_cond_signal(&env->kcv);
	pthread_mutex_unlock(&env->klock);
}

/* Takes a key (after a 401, one newer than refused, the generation
 * upstream refused; else 0) and starts an attempt with it: from the cache
 * at once when it holds a fresh one, else once the key worker has
 * minted. */
static void attempt_start(struct upstream *u, unsigned long refused)
{
	const struct proxy_host *host = u->env->host;
	unsigned long gen = 0;
	struct secret *key = NULL;

	if (host->key_peek(host->ctx, refused, &key, &gen) == 0) {
		attempt_go(u, key, gen);
		return;
	}
	u->krefused = refused;
	worker_queue(u);
}

/* Whether the first attempt was refused as a 401 is, however its transfer
 * then ended. A server that refuses a request by its head may answer
 * before it reads the upload and close: libcurl then ends in a send
 * error, mostly before it has read the answer (its bytes are left in the
 * socket, under TLS). A send error before any answer, with the body not
 * all sent, counts as such a refusal: the upstream cannot have had the
 * whole request, so the replay cannot repeat it. The status line alone,
 * or the code libcurl parsed, count too. */
static int answered_401(struct upstream *u, CURLcode cc)
{
	curl_off_t sent = 0;
	long code = 0;

	if (u->round != 0 || u->aborted)
		return 0;
	if (u->held_401)
		return 1;
	if (cc == CURLE_OK)
		return 0;
	if (curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	if (u->cur_status == 401 || code == 401)
		return 1;
	if (cc != CURLE_SEND_ERROR || u->cur_status != 0 || !u->body_len)
		return 0;
	if (curl_easy_getinfo(u->easy, CURLINFO_SIZE_UPLOAD_T, &sent) != CURLE_OK)
		return 0;
	return sent >= 0 && (unsigned long long)sent < u->body_len;
}

/* Whether the attempt died on upstream connections libcurl kept from
 * earlier requests before a byte of an answer came. An upstream closes a
 * connection left idle (nginx after keepalive_timeout, 75 s by default)
 * with a TLS close_notify; libcurl 7.88 takes a cached connection with
 * that alert unread for a live one (it peeks one byte and sees one),
 * sends on it, and when it dies tries the next cached one, as dead:
 * after five it gives up ("Connection died, tried 5 times before giving
 * up", reported as the first send error). The request goes once more, on
 * a new connection: the upstream closed those connections before it read
 * a request on them, which is why libcurl itself sends a request again
 * after one such connection. */
static int died_on_reuse(struct upstream *u, CURLcode cc)
{
	long connects = -1;

	if (u->fresh || u->aborted || u->held_401 || u->cur_status != 0)
		return 0;
	if (cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR && cc != CURLE_GOT_NOTHING)
		return 0;
	if (curl_easy_getinfo(u->easy, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK)
		return 0;
	return connects == 0;
}

static void upstream_free(struct upstream *u);

/* The attempt's transfer ended with cc: replay it once after a 401,
 * else record how it ended and tell the request. */
static void attempt_end(struct upstream *u, CURLcode cc)
{
	/* a connection that died says nothing of the key: asked first */
	int again = died_on_reuse(u, cc);
	int replay = !again && answered_401(u, cc);

	attempt_detach(u);
	if (u->draining || !u->owner) {
		/* the end of an answer nobody reads: its connection is reused
		 * when it ended cleanly (the multi handle keeps it) */
		u->done = cc == CURLE_OK;
		upstream_free(u);
		return;
	}
	if (again) {
		u->fresh = 1;
		attempt_start(u, 0);
		return;
	}
	if (replay) {
		u->round = 1;
		attempt_start(u, u->gen);
		return;
	}
	curl_slist_free_all(u->cur_headers);
	u->cur_headers = NULL;
	u->result = cc;
	if (cc == CURLE_ABORTED_BY_CALLBACK && u->idle)
		fail(u, "The upstream request failed: ", "the upstream sent nothing for too long.");
	else if (cc != CURLE_OK)
		fail(u, "The upstream request failed: ",
		     u->errbuf[0] ? u->errbuf : curl_easy_strerror(cc));
	else if (!u->head_ready)
		fail(u, "The upstream answered nothing.", "");
	else
		u->done = 1;
	handle_give(u);
	tell(u);
}

/* ---- the loop's events ---- */

/* The loop's record of one of curl's sockets, by descriptor: kept when
 * curl lets go of a socket whose connection it caches, so that the next
 * transfer on it costs no epoll_ctl (two a request otherwise). */
struct curl_sock {
	struct loop_tag tag;
	unsigned registered; /* the events it is in the epoll set for; 0: not in it */
	int wanted; /* curl watches it */
};

static struct curl_sock *curl_sock_of(struct upstream_env *env, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= env->nsocks) {
		size_t n = env->nsocks ? env->nsocks : 64;
		struct curl_sock **v;

		while (n <= (size_t)fd)
			n *= 2;
		v = realloc(env->socks, n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + env->nsocks, 0, (n - env->nsocks) * sizeof(*v));
		env->socks = v;
		env->nsocks = n;
	}
	if (!env->socks[fd]) {
		env->socks[fd] = calloc(1, sizeof(struct curl_sock));
		if (!env->socks[fd])
			return NULL;
		env->socks[fd]->tag.kind = LOOP_CURL;
		env->socks[fd]->tag.fd = fd;
	}
	return env->socks[fd];
}

static void curl_sock_drop(struct upstream_env *env, struct curl_sock *cs)
{
	if (cs->registered)
		(void)epoll_ctl(env->epfd, EPOLL_CTL_DEL, cs->tag.fd, NULL);
	cs->registered = 0;
}

static void transfers_ended(struct upstream_env *env)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(env->multi, &left))) {
		struct upstream *u = NULL;
		CURLcode cc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&u) !=
			    CURLE_OK ||
		    !u || !u->attached)
			continue;
		attempt_end(u, cc);
	}
}

void upstream_on_socket(struct upstream_env *env, int fd, unsigned events)
{
	struct curl_sock *cs = (size_t)fd < env->nsocks ? env->socks[fd] : NULL;
	int mask = 0, running;

	if (cs && !cs->wanted) {
		curl_sock_drop(env, cs); /* a cached connection, closing */
		return;
	}

	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(env->multi, fd, mask, &running);
	transfers_ended(env);
}

void upstream_on_timer(struct upstream_env *env)
{
	int running;

	env->timer_at = -1;
	(void)curl_multi_socket_action(env->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	transfers_ended(env);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *ctx, void *sockp)
{
	struct upstream_env *env = ctx;
	struct curl_sock *cs = curl_sock_of(env, s);
	struct epoll_event ev;
	unsigned want;

	(void)e;
	(void)sockp;
	if (!cs)
		return -1;
	if (what == CURL_POLL_REMOVE) {
		/* left in the set: an event on it while curl does not watch
		 * it takes it out (upstream_on_socket); a close takes it out */
		cs->wanted = 0;
		return 0;
	}
	cs->wanted = 1;
	want = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (cs->registered == want)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = &cs->tag;
	/* registered may be stale: the descriptor was closed and reused */
	if (cs->registered && epoll_ctl(env->epfd, EPOLL_CTL_MOD, s, &ev) == 0) {
		cs->registered = want;
		return 0;
	}
	if (epoll_ctl(env->epfd, EPOLL_CTL_ADD, s, &ev) != 0 &&
	    (errno != EEXIST || epoll_ctl(env->epfd, EPOLL_CTL_MOD, s, &ev) != 0))
		return -1;
	cs->registered = want ? want : EPOLLIN;
	return 0;
}

static int on_timer(CURLM *m, long ms, void *ctx)
{
	struct upstream_env *env = ctx;

	(void)m;
	env->timer_at = ms < 0 ? -1 : clock_now_ms() + ms;
	return 0;
}

/* Transfers libcurl has no reason to run: an upstream silent for
 * proxy_idle_timeout, a 401's body that does not end, a drain past its
 * second. */
void upstream_sweep(struct upstream_env *env)
{
	long long now = clock_now_ms(), idle = (long long)env->pc->idle_timeout * 1000;
	struct upstream *u, *next;

	for (u = env->live; u; u = next) {
		next = u->next;
		if (!u->attached)
			continue;
		if (u->draining && now >= u->drain_until) {
			attempt_end(u, CURLE_ABORTED_BY_CALLBACK);
		} else if (u->held_401 && now - u->held_401_at >= HELD_401_MAX_MS) {
			attempt_end(u, CURLE_ABORTED_BY_CALLBACK);
		} else if (!u->paused && now - u->last_byte >= idle) {
			u->idle = 1;
			attempt_end(u, CURLE_ABORTED_BY_CALLBACK);
		}
	}
}

/* ---- the key worker ---- */

static void *key_worker(void *arg)
{
	struct upstream_env *env = arg;
	const struct proxy_host *host = env->host;

	pthread_mutex_lock(&env->klock);
	for (;;) {
		struct upstream *u;
		struct ds_err err = { 0, "" };
		uint64_t one = 1;

		while (!env->kq && !env->kstop)
			pthread_cond_wait(&env->kcv, &env->klock);
		if (env->kstop)
			break;
		u = env->kq;
		env->kq = u->knext;
		if (!env->kq)
			env->kq_tail = NULL;
		pthread_mutex_unlock(&env->klock);
		u->krc = host->key_get(host->ctx, u->krefused, &u->kkey, &u->kgen, &err);
		if (u->krc)
			ds_strcpy(u->kreason, sizeof(u->kreason), err.msg);
		pthread_mutex_lock(&env->klock);
		u->knext = env->kdone;
		env->kdone = u;
		if (write(env->keys.fd, &one, sizeof(one)) < 0) {
			/* the counter is full: the loop has a wake-up pending anyway */
		}
	}
	pthread_mutex_unlock(&env->klock);
	return NULL;
}

void upstream_on_keys(struct upstream_env *env)
{
	struct upstream *list, *rev = NULL, *u;
	uint64_t n;

	if (read(env->keys.fd, &n, sizeof(n)) < 0) {
		/* nothing to read: another pass took it */
	}
	pthread_mutex_lock(&env->klock);
	list = env->kdone;
	env->kdone = NULL;
	pthread_mutex_unlock(&env->klock);
	while (list) { /* oldest first */
		u = list;
		list = u->knext;
		u->knext = rev;
		rev = u;
	}
	while ((u = rev)) {
		struct secret *key = u->kkey;

		rev = u->knext;
		u->kkey = NULL;
		u->in_worker = 0;
		if (!u->owner || u->aborted) {
			secret_free(key);
			if (!u->owner)
				upstream_free(u);
			continue;
		}
		if (u->krc) {
			fail(u, "Minting a temporary key failed: ", u->kreason);
			tell(u);
		} else if (client_gone(u->client_fd)) {
			/* gone while its key was minted: no upstream request
			 * (a completion nobody reads is still billed) */
			secret_free(key);
			u->aborted = 1;
			tell(u);
		} else {
			attempt_go(u, key, u->kgen);
		}
	}
}

/* ---- set-up ---- */

int upstream_env_init(struct upstream_env *env, const struct proxy_conf *pc,
		      const struct proxy_host *host, int epfd)
{
	static const struct pool_callbacks cb = { on_header, on_body, on_progress };
	struct epoll_event ev;
	int mc = CURLM_OK;

	memset(env, 0, sizeof(*env));
	env->pc = pc;
	env->host = host;
	env->epfd = epfd;
	env->timer_at = -1;
	env->keys.kind = LOOP_KEYS;
	env->keys.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (env->keys.fd < 0)
		return -1;
	pthread_mutex_init(&env->klock, NULL);
	pthread_cond_init(&env->kcv, NULL);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &env->keys;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, env->keys.fd, &ev) != 0)
		return -1;
	env->pool = upstream_pool_new(pc, &cb);
	env->multi = curl_multi_init();
	if (!env->pool || !env->multi)
		return -1;
	mc |= curl_multi_setopt(env->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	mc |= curl_multi_setopt(env->multi, CURLMOPT_SOCKETDATA, env);
	mc |= curl_multi_setopt(env->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	mc |= curl_multi_setopt(env->multi, CURLMOPT_TIMERDATA, env);
	/* the warm upstream connections kept between requests */
	mc |= curl_multi_setopt(env->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_MAXCONNECTS);
	if (mc != CURLM_OK)
		return -1;
	if (pthread_create(&env->worker, NULL, key_worker, env) != 0)
		return -1;
	env->worker_started = 1;
	return 0;
}

void upstream_env_free(struct upstream_env *env)
{
	if (env->worker_started) {
		pthread_mutex_lock(&env->klock);
		env->kstop = 1;
		pthread_cond_signal(&env->kcv);
		pthread_mutex_unlock(&env->klock);
		pthread_join(env->worker, NULL);
		env->worker_started = 0;
	}
	/* what the worker answered or never took */
	for (struct upstream *u = env->kdone; u; u = u->knext)
		secret_free(u->kkey), u->kkey = NULL, u->in_worker = 0;
	for (struct upstream *u = env->kq; u; u = u->knext)
		u->in_worker = 0;
	env->kdone = env->kq = env->kq_tail = NULL;
	while (env->live) {
		env->live->owner = NULL;
		upstream_free(env->live);
	}
	if (env->multi)
		curl_multi_cleanup(env->multi);
	for (size_t i = 0; i < env->nsocks; i++)
		free(env->socks[i]);
	free(env->socks);
	env->socks = NULL;
	env->nsocks = 0;
	upstream_pool_free(env->pool);
	if (env->keys.fd >= 0) {
		close(env->keys.fd);
		pthread_cond_destroy(&env->kcv);
		pthread_mutex_destroy(&env->klock);
	}
	env->multi = NULL;
	env->pool = NULL;
	env->keys.fd = -1;
}

/* ---- one request's transfer ---- */

struct upstream *upstream_new(struct upstream_env *env, void *owner)
{
	struct upstream *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->env = env;
	u->owner = owner;
	u->client_fd = -1;
	u->content_length = -1;
	u->next = env->live;
	if (env->live)
		env->live->prev = u;
	env->live = u;
	return u;
}

static void upstream_free(struct upstream *u)
{
	struct upstream_env *env = u->env;

	if (u->in_worker) {
		u->owner = NULL; /* freed when the worker hands it back */
		return;
	}
	attempt_detach(u);
	handle_give(u);
	if (u->prev)
		u->prev->next = u->next;
	else
		env->live = u->next;
	if (u->next)
		u->next->prev = u->prev;
	if (u->buf) {
		explicit_bzero(u->buf, u->len);
		free(u->buf);
	}
	free(u->cur_connection);
	curl_slist_free_all(u->resp_headers);
	curl_slist_free_all(u->cur_headers);
	curl_slist_free_all(u->headers);
	free(u->url);
	secret_free(u->kkey);
	free(u);
}

void upstream_start(struct upstream *u)
{
	if (headers_finish(u)) {
		fail(u, "The upstream request could not be set up: ", "out of memory.");
		return;
	}
	attempt_start(u, 0);
}

int upstream_whole(const struct upstream *u)
{
	if (!u->done || u->off || strcmp(u->method, "HEAD") == 0)
		return 0;
	if (u->status == 204 || u->status == 304 || u->status < 200)
		return 0;
	return u->content_length < 0 || (unsigned long long)u->content_length == u->len;
}

/* Lets libcurl go on after on_body paused it; it may hand over the piece
 * it kept at once. */
static int resume(struct upstream *u)
{
	if (!u->paused || !u->attached)
		return 0;
	u->paused = 0;
	if (curl_easy_pause(u->easy, CURLPAUSE_CONT) != CURLE_OK) {
		fail(u, "The upstream request failed: ", "it could not be resumed.");
		return -1;
	}
	return 0;
}

long upstream_read(struct upstream *u, char *buf, size_t max)
{
	for (int pass = 0; pass < 2; pass++) {
		if (u->off < u->len) {
			size_t take = u->len - u->off < max ? u->len - u->off : max;

			memcpy(buf, u->buf + u->off, take);
			u->off += take;
			return (long)take;
		}
		u->off = u->len = 0;
		if (u->done)
			return 0;
		if (u->failed || u->aborted || !u->attached)
			return -1;
		if (resume(u))
			return -1;
	}
	return UPSTREAM_LATER;
}

void upstream_abort(struct upstream *u)
{
	u->aborted = 1;
	if (u->attached)
		attempt_detach(u);
	handle_give(u);
}

void upstream_release(struct upstream *u, int graceful)
{
	u->owner = NULL;
	if (graceful && u->attached && !u->done && !u->failed) {
		u->draining = 1;
		u->drain_until = clock_now_ms() + DRAIN_MS;
		if (!resume(u))
			return;
	}
	upstream_free(u);
}

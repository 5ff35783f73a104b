/* SPDX-License-Identifier: MIT */
/* One request's trip upstream, run by the connection thread itself
 * (proxy_upstream.h): libcurl's multi interface drives a transfer with a
 * temporary key in its headers until the response head is known, then
 * again each time the client wants more of the body (so a slow client
 * holds back only its own upstream). A 401 before any byte reached the
 * client drops the key and the request is replayed once with a new one. */
#include "config.h"
#include "base/clock.h"
#include "proxy/proxy_upstream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SLICE_MS 200 /* how often a waiting thread looks at the client's socket */
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

/* Whether a slice has passed since the client's socket was last looked
 * at. It runs on each wake-up of a busy transfer (each chunk of a
 * stream), so it reads the coarse clock on purpose rather than
 * clock_now_ms: the kernel's last tick, no hardware timer read, and a
 * tick of a few ms is precise enough for a 200 ms slice. */
static int client_check_due(struct upstream *u)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	ms = (long long)(now.tv_sec - u->client_checked.tv_sec) * 1000 +
	     (now.tv_nsec - u->client_checked.tv_nsec) / 1000000;
	if (ms < SLICE_MS)
		return 0;
	u->client_checked = now;
	return 1;
}

static void fail(struct upstream *u, const char *what, const char *why)
{
	if (!u->reason[0])
		snprintf(u->reason, sizeof(u->reason), "%s%s", what, why);
	u->failed = 1;
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
	char *line;

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
	size_t n = size * nmemb;

	if (u->held_401) {
		/* the body of a 401 we replay: dropped, and cut short when long */
		u->held_401_bytes += n;
		return u->held_401_bytes > HELD_401_MAX_BYTES ? 0 : n;
	}
	if (u->draining)
		return n; /* the body of one nobody reads */
	/* The thread runs the transfer only while the client has nothing
	 * left to read, but one run of it reads as long as the socket has
	 * bytes (a megabyte and more): past PROXY_STREAM_BUF libcurl keeps
	 * this piece and reads no more until upstream_read resumes it. */
	if (u->len && u->len + n > PROXY_STREAM_BUF && n <= PROXY_BUF_MAX) {
		u->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (n > PROXY_BUF_MAX - u->len)
		return 0;
	if (u->len + n > u->cap) {
		size_t cap = u->cap ? u->cap : 16384;
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
	return n;
}

/* libcurl calls this each time the transfer runs: the idle limit is
 * looked at here (a byte counted either way resets the latter;
 * libcurl's LOW_SPEED averages and so misses a stream gone quiet). */
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

/* Sets the pair's easy handle up for this attempt and adds it to its
 * multi handle; the key goes only into u->sent. */
static int attempt_setup(struct upstream *u, const struct secret *key)
{
	const struct proxy_conf *pc = u->env->pc;
	int http = !strncasecmp(u->url, "http://", 7);
	CURL *h = u->conn->easy;
	struct curl_slist *l;

	u->sent = request_headers(u, key);
	if (!u->sent)
		return -1;
	/* curl adds these for a POST unless told not to */
	if (!has_header(u->headers, "Content-Type")) {
		if (!(l = curl_slist_append(u->sent, "Content-Type:")))
			return -1;
		u->sent = l;
	}
	if (!has_header(u->headers, "Accept")) {
		if (!(l = curl_slist_append(u->sent, "Accept:")))
			return -1;
		u->sent = l;
	}
	curl_easy_reset(h); /* options go; the multi handle keeps the connection */
	SET(h, CURLOPT_URL, u->url);
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
	SET(h, CURLOPT_SHARE, upstream_pool_share(u->env->pool));
	/* no total timeout on a stream; an idle one is closed (on_progress) */
	SET(h, CURLOPT_CONNECTTIMEOUT, (long)pc->connect_timeout);
	SET(h, CURLOPT_HTTPHEADER, u->sent);
	SET(h, CURLOPT_ERRORBUFFER, u->errbuf);
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
	if (curl_multi_add_handle(u->conn->multi, h) != CURLM_OK)
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
		if (curl_multi_remove_handle(u->conn->multi, u->conn->easy) != CURLM_OK)
			u->reusable_lost = 1;
		u->attached = 0;
	}
	if (curl_easy_setopt(u->conn->easy, CURLOPT_HTTPHEADER, NULL) != CURLE_OK)
		u->reusable_lost = 1;
	if (curl_easy_setopt(u->conn->easy, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK)
		u->reusable_lost = 1;
	wipe_list(u->sent);
	u->sent = NULL;
}

/* Takes a key (minting one when needed; after a 401, one newer than the
 * refused one) and starts an attempt with it. */
static int attempt_start(struct upstream *u)
{
	const struct proxy_host *host = u->env->host;
	struct ds_err err = { 0, "" };
	struct secret *key;
	int rc;

	if (host->key_get(host->ctx, u->round ? u->gen : 0, &key, &u->gen, &err)) {
		fail(u, "Minting a temporary key failed: ", err.msg);
		return -1;
	}
	/* a mint takes a while: a client gone meanwhile costs no upstream
	 * request (a completion nobody reads is still billed) */
	if (client_gone(u->client_fd)) {
		secret_free(key);
		u->aborted = 1;
		return -1;
	}
	u->errbuf[0] = 0;
	u->held_401 = 0;
	u->held_401_bytes = 0;
	u->cur_status = 0;
	u->seen_down = u->seen_up = 0;
	u->last_byte = clock_now_ms();
	rc = attempt_setup(u, key);
	secret_free(key);
	if (rc) {
		attempt_detach(u);
		fail(u, "The upstream request could not be set up: ", "out of memory.");
	}
	return rc;
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
	if (curl_easy_getinfo(u->conn->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	if (u->cur_status == 401 || code == 401)
		return 1;
	if (cc != CURLE_SEND_ERROR || u->cur_status != 0 || !u->body_len)
		return 0;
	if (curl_easy_getinfo(u->conn->easy, CURLINFO_SIZE_UPLOAD_T, &sent) != CURLE_OK)
		return 0;
	return sent >= 0 && (unsigned long long)sent < u->body_len;
}

/* The attempt's transfer ended with cc: replay it once after a 401,
 * else record how it ended. */
static void attempt_end(struct upstream *u, CURLcode cc)
{
	int replay = answered_401(u, cc);

	attempt_detach(u);
	if (replay) {
		u->round = 1;
		(void)attempt_start(u); /* a failure is recorded in u */
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
}

static int head_known(const struct upstream *u)
{
	return u->head_ready;
}

static int body_buffered(const struct upstream *u)
{
	return u->off < u->len;
}

static int never(const struct upstream *u)
{
	(void)u;
	return 0;
}

static int ended(const struct upstream *u)
{
	return u->done || u->failed || u->aborted || !u->attached;
}

/* Runs the transfer until ready(u) holds or it ended (0), the client went
 * away (-1), or for at most limit_ms (0; negative: no limit). */
static int drive(struct upstream *u, int client_fd, int (*ready)(const struct upstream *),
		 long limit_ms)
{
	CURLM *m = u->conn->multi;
	long long until = limit_ms >= 0 ? clock_deadline_in(limit_ms) : 0;

	for (;;) {
		int running, n = 0, left;
		CURLMsg *msg;

		if (ready(u) || ended(u))
			return 0;
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			attempt_end(u, CURLE_FAILED_INIT);
			return 0;
		}
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE && u->attached)
				attempt_end(u, msg->data.result);
		if (ready(u) || ended(u) || (limit_ms >= 0 && clock_now_ms() >= until))
			return 0;
		if (curl_multi_poll(m, NULL, 0, SLICE_MS, &n) != CURLM_OK) {
			attempt_end(u, CURLE_FAILED_INIT);
			return 0;
		}
		if ((n == 0 || client_check_due(u)) && client_gone(client_fd)) {
			u->aborted = 1;
			return -1;
		}
	}
}

int upstream_begin(struct upstream *u, int client_fd)
{
	u->client_fd = client_fd;
	u->content_length = -1;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &u->client_checked);
	u->conn = upstream_pool_take(u->env->pool, u->env->pc->idle_timeout);
	if (!u->conn) {
		fail(u, "The upstream request could not be set up: ", "out of memory.");
		return 0;
	}
	if (attempt_start(u) == 0 && drive(u, client_fd, head_known, -1) < 0)
		return -1;
	return u->aborted ? -1 : u->head_ready;
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
	if (!u->paused)
		return 0;
	u->paused = 0;
	if (curl_easy_pause(u->conn->easy, CURLPAUSE_CONT) != CURLE_OK) {
		fail(u, "The upstream request failed: ", "it could not be resumed.");
		return -1;
	}
	return 0;
}

long upstream_read(struct upstream *u, char *buf, size_t max, int client_fd)
{
	if (!body_buffered(u) && !ended(u)) {
		u->off = u->len = 0;
		if (resume(u) || drive(u, client_fd, body_buffered, -1) < 0)
			return -1;
	}
	if (body_buffered(u)) {
		size_t take = u->len - u->off < max ? u->len - u->off : max;
		memcpy(buf, u->buf + u->off, take);
		u->off += take;
		return (long)take;
	}
	return u->done ? 0 : -1;
}

void upstream_finish(struct upstream *u, int graceful)
{
	if (u->conn) {
		/* the client has it all: let libcurl read the end of the
		 * response, so the connection can be reused, for a while */
		if (graceful && !ended(u)) {
			u->draining = 1;
			if (!resume(u))
				(void)drive(u, -1, never, 1000);
		}
		attempt_detach(u);
		upstream_pool_give(u->env->pool, u->conn, u->done && !u->reusable_lost,
				   u->env->pc->idle_timeout);
		u->conn = NULL;
	}
	if (u->buf) {
		explicit_bzero(u->buf, u->len);
		free(u->buf);
	}
	u->buf = NULL;
	u->off = u->len = u->cap = 0;
	free(u->cur_connection);
	u->cur_connection = NULL;
	curl_slist_free_all(u->resp_headers);
	curl_slist_free_all(u->cur_headers);
	curl_slist_free_all(u->headers);
	u->resp_headers = u->cur_headers = u->headers = NULL;
	free(u->url);
	u->url = NULL;
}

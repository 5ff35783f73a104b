/* SPDX-License-Identifier: MIT */
/* The proxy module's upstream transfer (proxy_upstream.c): one request's
 * trip upstream, driven by the connection thread itself. A pooled multi
 * handle (proxy_pool.h, which keeps its upstream connection between
 * requests) runs the transfer while the thread waits for the response
 * head, and again each time the client wants more body. No second thread
 * and no hand-over: a request costs no thread start and no wake-up. */
#ifndef DS_PROXY_UPSTREAM_H
#define DS_PROXY_UPSTREAM_H

#include <curl/curl.h>
#include <stddef.h>
#include <time.h>
#include "proxy/proxy.h"
#include "proxy/proxy_pool.h"
#include "proxy/proxy_rules.h"

/* What every transfer of one server shares, read-only: its settings, the
 * program's key source and the connection pool. */
struct upstream_env {
	const struct proxy_conf *pc;
	const struct proxy_host *host;
	struct upstream_pool *pool;
};

struct upstream {
	/* set before upstream_begin, read-only after */
	const struct upstream_env *env;
	char *url;
	char method[16];
	struct curl_slist *headers; /* the client's end-to-end headers */
	const char *body;
	size_t body_len;
	int anthropic;

	/* the transfer */
	struct upstream_conn *conn; /* from the pool; NULL when none */
	struct curl_slist *sent; /* this attempt's request headers, key included */
	char errbuf[CURL_ERROR_SIZE];
	int round; /* 0, then 1 for the replay after a 401 */
	unsigned long gen; /* generation of the key in use */
	int client_fd; /* the client's socket, looked at after a mint */
	int attached; /* the easy handle is in the multi handle */
	int reusable_lost; /* a handle could not be cleaned: do not pool it */
	int head_ready, done, failed, aborted, draining;
	int paused; /* on_body paused the transfer: PROXY_STREAM_BUF is full */
	CURLcode result;
	long status;
	struct curl_slist *resp_headers; /* the final response's end-to-end headers */
	long long content_length; /* -1: unknown */
	char request_id[80];
	char reason[512]; /* failed before a head: why (a 502 body) */
	char *buf; /* body received and not yet read: buf[off, len) */
	size_t off, len, cap;
	struct timespec client_checked; /* last look at the client's socket (COARSE) */

	/* the response head being parsed */
	long cur_status;
	struct curl_slist *cur_headers;
	char *cur_connection; /* its Connection headers' values, comma-joined */
	long long cur_length;
	size_t cur_head_bytes; /* its size so far */
	char cur_id[80];
	struct rules_framing cur_framing; /* its Content-Length and Transfer-Encoding */
	int held_401; /* a 401 head came in round 0: the request is replayed */
	long long held_401_at; /* clock_now_ms of that head */
	size_t held_401_bytes; /* its body, read and dropped */
	curl_off_t seen_down, seen_up; /* progress counters last seen */
	long long last_byte; /* clock_now_ms */
	int idle;
};

/* Whether a Connection header's value (a list of names) holds the name
 * of n bytes. */
int header_listed(const char *list, const char *name, size_t n);

/* Starts the transfer and runs it until the response head is known (1),
 * the transfer failed before one (0, u->reason says why) or client_fd's
 * peer went away (-1, also when it left while a key was minted). */
int upstream_begin(struct upstream *u, int client_fd);

/* Whether the whole answer is in u->buf (the transfer ended cleanly
 * with a body that is the one to send), so no reading is needed. */
int upstream_whole(const struct upstream *u);

/* Copies up to max body bytes: >0, 0 at the end, -1 on failure or when
 * client_fd's peer went away. Runs the transfer until one of those. */
long upstream_read(struct upstream *u, char *buf, size_t max, int client_fd);

/* Ends the transfer (graceful: after up to a second for it to finish by
 * itself, as it does once the client has had every byte, so that its
 * connection can be reused), returns the handles and frees everything. */
void upstream_finish(struct upstream *u, int graceful);

#endif

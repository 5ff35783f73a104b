/* SPDX-License-Identifier: MIT */
/* The proxy module's upstream side (proxy_upstream.c), run by the one
 * event loop (proxy_server.c): every transfer is an easy handle of one
 * libcurl multi handle driven through its socket interface, so a request
 * waiting on upstream costs no thread. The key a request needs comes
 * from the key cache without blocking when it is fresh; a mint (which
 * waits on the network and the store) runs on one key worker thread,
 * which wakes the loop through an eventfd. */
#ifndef DS_PROXY_UPSTREAM_H
#define DS_PROXY_UPSTREAM_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include "proxy/proxy.h"
#include "proxy/proxy_pool.h"
#include "proxy/proxy_rules.h"

/* What the loop's epoll set hands back: the first member of every
 * structure registered in it. */
enum loop_kind { LOOP_STOP, LOOP_MHD, LOOP_KEYS, LOOP_CURL, LOOP_CLIENT };
struct loop_tag {
	enum loop_kind kind;
	int fd;
};

struct upstream;
struct curl_sock;

/* What every transfer of one server shares; the loop's thread alone
 * touches it, but for the key worker's queue (klock). */
struct upstream_env {
	const struct proxy_conf *pc;
	const struct proxy_host *host;
	struct upstream_pool *pool;
	CURLM *multi;
	int epfd; /* the loop's epoll set: curl's sockets go in it */
	long long timer_at; /* curl's timeout, clock_now_ms; -1: none */
	struct upstream *live; /* every transfer not yet freed */
	struct curl_sock **socks; /* by descriptor: curl's sockets in the epoll set */
	size_t nsocks;
	/* told when a transfer has news for its request: its head, some
	 * body, its end or failure */
	void (*notify)(void *ctx, struct upstream *u);
	void *notify_ctx;

	/* the key worker */
	pthread_t worker;
	int worker_started;
	pthread_mutex_t klock;
	pthread_cond_t kcv;
	struct upstream *kq, *kq_tail; /* waiting for a key, oldest first */
	struct upstream *kdone; /* answered, for the loop */
	int kstop;
	struct loop_tag keys; /* an eventfd: the worker answered */
};

struct upstream {
	/* set before upstream_start, read-only after */
	struct upstream_env *env;
	void *owner; /* the request; NULL once it is gone */
	char *url;
	char method[16];
	struct curl_slist *headers; /* the client's end-to-end headers, ours added once */
	const char *body;
	size_t body_len;
	int anthropic;
	int client_fd; /* looked at after a mint */

	/* bookkeeping */
	struct upstream *prev, *next; /* env->live */
	struct upstream *knext; /* the worker's lists */
	int in_worker;
	unsigned long krefused;
	struct secret *kkey;
	unsigned long kgen;
	int krc;
	char kreason[300];

	/* the transfer */
	CURL *easy; /* from the pool; NULL when none */
	struct curl_slist *tail; /* the last node of headers before the key's */
	char errbuf[CURL_ERROR_SIZE];
	int round; /* 0, then 1 for the replay after a 401 */
	int fresh; /* sent again on a new connection (died_on_reuse): once */
	unsigned long gen; /* generation of the key in use */
	int attached; /* the easy handle is in the multi handle */
	int reusable_lost; /* a handle could not be cleaned: do not pool it */
	int head_ready, done, failed, aborted, draining;
	long long drain_until;
	int paused; /* on_body paused the transfer: PROXY_STREAM_BUF is full */
	CURLcode result;
	long status;
	struct curl_slist *resp_headers; /* the final response's end-to-end headers */
	long long content_length; /* -1: unknown */
	char request_id[80];
	char reason[512]; /* failed before a head: why (a 502 body) */
	char *buf; /* body received and not yet read: buf[off, len) */
	size_t off, len, cap;

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

/* The multi handle, the pool and the key worker; 0 or -1. */
int upstream_env_init(struct upstream_env *env, const struct proxy_conf *pc,
		      const struct proxy_host *host, int epfd);
/* Stops the key worker (waiting for a mint under way) and frees every
 * transfer left. */
void upstream_env_free(struct upstream_env *env);

/* A transfer for owner, to fill in (url, method, headers, body) before
 * upstream_start; NULL when out of memory. */
struct upstream *upstream_new(struct upstream_env *env, void *owner);

/* Starts it: a key (from the cache, or the worker), then the transfer.
 * Whatever happens next is told through env->notify. */
void upstream_start(struct upstream *u);

/* The loop's events: a curl socket, curl's timer, the key worker's
 * eventfd, and the sweep (idle transfers, held 401s, drains) it runs
 * about twice a second. */
void upstream_on_socket(struct upstream_env *env, int fd, unsigned events);
void upstream_on_timer(struct upstream_env *env);
void upstream_on_keys(struct upstream_env *env);
void upstream_sweep(struct upstream_env *env);

/* Whether the whole answer is in u->buf (the transfer ended cleanly
 * with a body that is the one to send), so no reading is needed. */
int upstream_whole(const struct upstream *u);

#define UPSTREAM_LATER (-2)
/* Copies up to max body bytes: >0, 0 at the end, -1 on failure,
 * UPSTREAM_LATER when nothing is there yet (env->notify tells when). */
long upstream_read(struct upstream *u, char *buf, size_t max);

/* The client went away: the transfer is cancelled (a mint under way
 * still ends, and its key is then dropped). */
void upstream_abort(struct upstream *u);

/* The request is done with u: freed, or (graceful, the client had
 * every byte) left to read the end of its answer for up to a second so
 * that its upstream connection can be reused. */
void upstream_release(struct upstream *u, int graceful);

#endif

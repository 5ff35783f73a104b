/* SPDX-License-Identifier: MIT */
/* The key-injecting loopback proxy of SPEC section 10, in four parts: the
 * server (proxy.c, libmicrohttpd), one upstream transfer per request
 * (proxy_upstream.c, libcurl), the cached temporary key (proxy_keycache.c)
 * and the local proxy key callers present (proxy_key.c). The first two are
 * the module dscred-proxy.so (module.h), loaded only by `proxy`; they call
 * back into the program for keys (keycache_get). */
#ifndef DS_PROXY_H
#define DS_PROXY_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>
#include "core/app.h"

#define PROXY_DEFAULT_PORT 8418
#define PROXY_MAX_BODY (32UL * 1024 * 1024)
#define PROXY_IDLE_TIMEOUT 300 /* seconds without a byte either way */
#define PROXY_STREAM_BUF (64 * 1024) /* body read ahead of a client, about */
#define PROXY_BUF_MAX (4 * 1024 * 1024) /* body held for a client, at most */
#define PROXY_HEAD_MAX (32 * 1024) /* an upstream response head, at most */
#define PROXY_KEY_PREFIX "sk-local-"
#define PROXY_MODULE "dscred-proxy.so"
#define PROXY_MODULE_SYMBOL "dscred_proxy"
#define PROXY_ABI PACKAGE_VERSION "/proxy-1"

/* The one cached temporary key of a proxy. `lock` guards every field and
 * is held across a mint, so concurrent requests wait for one mint. */
struct keycache {
	pthread_mutex_t lock;
	struct app *app;
	struct want want; /* names the profile chosen at start */
	struct profile profile;
	struct secret *key; /* NULL: none yet, or dropped after a 401 */
	long long expires_at;
	unsigned long lifetime;
	int long_lived;
	unsigned long generation; /* counts mints; 0 is "no key" */
};

/* Selects the profile (no key read, no mint) and checks the policy: a
 * Coding Plan profile under require_temporary is refused (DS_EPOLICY). */
int keycache_init(struct keycache *kc, struct app *app, struct ds_err *err);
void keycache_free(struct keycache *kc);

/* Copies into *out (secret_free it) a key with more than the renewal
 * margin left, minting one first when needed. refused: the generation of
 * a key upstream answered 401 to (0: none); it is dropped if still cached.
 * *gen receives the generation of the key handed out. */
int keycache_get(struct keycache *kc, unsigned long refused, struct secret **out,
		 unsigned long *gen, struct ds_err *err);

/* Read-only settings every request sees. */
struct proxy_conf {
	char origin[DS_URL_MAX]; /* upstream scheme://host[:port] */
	const char *ca_file;
	unsigned long connect_timeout;
	unsigned long idle_timeout;
	size_t max_body;
	int coding; /* Coding Plan: /v1/ instead of /compatible-mode/, no /api/v1/ */
	int quiet;
	char listen_host[64]; /* the address as a Host header names it */
	unsigned port;
	const struct secret *proxy_key;
	struct keycache *keys;
	struct upstream_pool *pool; /* upstream connections, reused across requests */
};

/* One request's trip upstream, driven by the connection thread itself:
 * a pooled multi handle (which keeps its upstream connection between
 * requests) runs the transfer while the thread waits for the response
 * head, and again each time the client wants more body. No second thread
 * and no hand-over: a request costs no thread start and no wake-up. */
struct upstream {
	/* set before upstream_begin, read-only after */
	const struct proxy_conf *pc;
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
	struct timespec client_checked; /* last look at the client's socket */

	/* the response head being parsed */
	long cur_status;
	struct curl_slist *cur_headers;
	char *cur_connection; /* its Connection headers' values, comma-joined */
	long long cur_length;
	size_t cur_head_bytes; /* its size so far */
	char cur_id[80];
	int held_401;
	curl_off_t seen_down, seen_up; /* progress counters last seen */
	time_t last_byte; /* CLOCK_MONOTONIC seconds */
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

/* Idle transfer handles (a multi handle, whose cache keeps the upstream
 * connection open, and its easy handle), and a share object for DNS and
 * TLS sessions. */
struct upstream_pool *upstream_pool_new(void);
void upstream_pool_free(struct upstream_pool *pool);

/* The server, as the module exports it: start serves listen_fd (which it
 * then owns) with a copy of pc, in threads of its own, until stop. */
struct proxy;
struct proxy_ops {
	const char *abi; /* PROXY_ABI */
	int (*start)(const struct proxy_conf *pc, int listen_fd, struct proxy **out,
		     struct ds_err *err);
	void (*stop)(struct proxy *px);
};
extern const struct proxy_ops dscred_proxy;

/* The local proxy key: fresh (CMD runs) or kept in
 * $XDG_CONFIG_HOME/dashscope-credential/proxy-key (standalone). */
int proxy_key_new(struct secret **out, struct ds_err *err);
int proxy_key_load(int replace, struct secret **out, struct ds_err *err);

#endif

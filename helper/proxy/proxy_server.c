/* SPDX-License-Identifier: MIT */
/* The proxy's server side on libmicrohttpd, and its one event loop: an
 * epoll set holds libmicrohttpd's own (external epoll mode, no thread of
 * its own), libcurl's sockets (proxy_upstream.h), the key worker's
 * eventfd and, for each request waiting on upstream, its client's socket
 * (a hang-up cancels the transfer). A request waiting on upstream is
 * suspended and resumed when its transfer has news; a connection costs
 * no thread. Here too: who may call (the kernel's word on the peer's
 * uid, before anything is spent on a connection; then proxy key, Host),
 * the limits (connections, bodies held), what is forwarded (paths,
 * size), and one log line per request, handed to the program (proxy.h). */
#include "config.h"
#include "base/clock.h"
#include "base/peer_uid.h"
#include "proxy/proxy.h"
#include "proxy/proxy_rules.h"
#include "proxy/proxy_upstream.h"

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BLOCK (16 * 1024)

struct proxy {
	struct proxy_conf pc; /* copies of what start was given */
	struct proxy_host host;
	struct upstream_env env; /* the two, the multi handle and the key worker */
	struct MHD_Daemon *daemon;
	int epfd; /* the loop's epoll set */
	struct loop_tag mhd; /* libmicrohttpd's epoll descriptor, in it */
	struct loop_tag stop; /* an eventfd: stop */
	pthread_t loop;
	int loop_started;
	int mhd_due; /* MHD has work: an event on its descriptor, a resumed request */
	struct sockaddr_storage listen_addr; /* the local end of every connection */
	uid_t uid; /* the only uid whose connections are served */
	/* `limits` guards the two counts (the loop's thread alone changes
	 * them now; the lock costs nothing uncontended) */
	pthread_mutex_t limits;
	unsigned connections;
	size_t body_held; /* request body bytes reserved, all connections */
};

/* One client connection's socket in the loop's epoll set, for all its
 * life (EPOLLRDHUP, edge-triggered: no epoll_ctl a request): a hang-up
 * cancels the transfer of a request suspended on upstream, which MHD
 * does not look at. */
struct client_watch {
	struct loop_tag tag;
	struct preq *rq; /* the request in progress */
	int hup; /* the client has hung up */
};

/* One request, from its first line to its completion. */
struct preq {
	struct client_watch *cw;
	struct proxy *px;
	struct MHD_Connection *conn;
	int suspended;
	char *uri; /* raw, as the client sent it */
	const char *uri_in_place; /* where MHD has it, in its read buffer */
	long long t0; /* clock_now_ms at the first line */
	char method[16];
	int started;
	int refuse; /* status to answer once the body is read (413, 503) */
	int close_after; /* over the connection cap: the connection closes */
	char *body;
	size_t body_len, body_cap;
	size_t body_reserved; /* counted in px->body_held */
	int client_fd;
	unsigned status;
	unsigned long long bytes_out;
	struct upstream *up; /* once the request goes upstream */
	char request_id[80]; /* the upstream's, for the log */
};

/* ---- answers made here ---- */

static enum MHD_Result answer_error(struct MHD_Connection *c, struct preq *rq, unsigned status,
				    const char *code, const char *message)
{
	json_t *o =
		json_pack("{s:s, s:s, s:s}", "code", code, "message", message, "request_id", "");
	/* a message is at most u->reason's 511 bytes, 6 a byte escaped */
	char s[4096];
	size_t n = o ? json_dumpb(o, s, sizeof(s), JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(o);
	if (n == 0 || n > sizeof(s))
		return MHD_NO;
	r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, "Content-Type", "application/json") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	/* a request that was not strict leaves the connection unframed */
	if (status == 400 && MHD_add_response_header(r, "Connection", "close") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	if (status == 405 &&
	    MHD_add_response_header(r, "Allow", "GET, POST, PUT, PATCH, DELETE, HEAD") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	if ((status == 503 && MHD_add_response_header(r, "Retry-After", "1") != MHD_YES) ||
	    (rq->close_after && MHD_add_response_header(r, "Connection", "close") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rq->status = status;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- who may call, and what ---- */

static int host_allowed(const struct proxy_conf *pc, const char *host)
{
	char want[80];
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };

	if (!host)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "%s:%u", names[i], pc->port);
		if (!strcasecmp(host, want))
			return 1;
	}
	snprintf(want, sizeof(want), "%s:%u", pc->listen_host, pc->port);
	return !strcasecmp(host, want);
}

static int key_matches(const struct proxy_conf *pc, const char *v)
{
	return v && secret_equal(pc->proxy_key, v, strlen(v));
}

static int caller_allowed(const struct proxy_conf *pc, struct MHD_Connection *c)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *xkey = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
	int ok = 0;

	if (auth && !strncasecmp(auth, "Bearer ", 7))
		ok |= key_matches(pc, auth + 7);
	ok |= key_matches(pc, xkey);
	return ok;
}

/* The request head, strict (RFC 9112, SPEC section 10). libmicrohttpd
 * 0.9.75 forgives much: a bare LF as a line end, "Name : value", obs-fold
 * (which it joins wrongly), a NUL in a value (which cuts it), control
 * bytes, any method. It parses the head in place, turning each line's CR
 * and LF into NULs, and the method, target, version, names and values it
 * hands over point into that buffer: so the head is walked line by line
 * where it lies, and a line that does not sit exactly where a strict
 * head would put it is refused. Nothing MHD did not see this way goes
 * upstream: the upstream request is made of these fields only. */
struct head_walk {
	const char *next; /* where the next line must begin; NULL: refused */
	struct rules_framing framing;
};

static enum MHD_Result on_head_field(void *cls, enum MHD_ValueKind kind, const char *name,
				     size_t nlen, const char *value, size_t vlen)
{
	struct head_walk *w = cls;

	(void)kind;
	if (name != w->next) {
		w->next = NULL; /* a bare LF, a folded line, a line MHD moved */
		return MHD_NO;
	}
	w->next = rules_header_in_place(name, nlen, value, vlen);
	if (!w->next)
		return MHD_NO;
	rules_framing_add(&w->framing, name, nlen, value, vlen);
	return MHD_YES;
}

static const char *head_malformed(struct MHD_Connection *c, const struct preq *rq,
				  const char *method, const char *version)
{
	size_t mlen = strlen(method);
	struct head_walk w;
	const char *why;

	/* METHOD SP target SP HTTP/1.x CRLF, one space each */
	if (!rules_token(method, mlen) || mlen > RULES_METHOD_MAX)
		return "The method is not a token.";
	if (!rq->uri_in_place || method + mlen + 1 != rq->uri_in_place ||
	    rq->uri_in_place + strlen(rq->uri) + 1 != version)
		return "The request line is not METHOD, one space, a path, one space, a version.";
	if (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0"))
		return "The request is not HTTP/1.1.";
	if (version[8] != 0 || version[9] != 0)
		return "A line of the request does not end with CRLF.";
	memset(&w, 0, sizeof(w));
	w.next = version + 10;
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, on_head_field, &w);
	if (!w.next || w.next[0] != 0 || w.next[1] != 0)
		return "A header line is malformed: a control byte in a value, a space before the colon, a folded line, or a line end other than CRLF.";
	why = rules_request_framing(&w.framing, version[7] == '0');
	return why;
}

/* ---- the kernel's word, and the limits ---- */

/* MHD's accept policy: runs in the listening thread for each accepted
 * connection, before MHD gives it a thread or a buffer. The client's
 * socket must be ours in the kernel's word; a lookup that fails refuses
 * too. Nothing is logged: another user must not fill our log. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct proxy *px = cls;
	uid_t uid;

	if (!addr || addrlen < sizeof(struct sockaddr_in))
		return MHD_NO;
	if (peer_uid_of_socket(addr, (const struct sockaddr *)&px->listen_addr, &uid) != 0)
		return MHD_NO;
	return uid == px->uid ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct proxy *px = cls;
	struct client_watch *cw = *socket_ctx;

	pthread_mutex_lock(&px->limits);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		px->connections++;
	else if (px->connections)
		px->connections--;
	pthread_mutex_unlock(&px->limits);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct epoll_event ev;

		cw = calloc(1, sizeof(*cw));
		if (!cw || !ci)
			goto none;
		cw->tag.kind = LOOP_CLIENT;
		cw->tag.fd = ci->connect_fd;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLRDHUP | EPOLLET;
		ev.data.ptr = &cw->tag;
		if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, cw->tag.fd, &ev) != 0)
			goto none;
		*socket_ctx = cw;
		return;
	none:
		/* unwatched: a hang-up is seen once the answer comes */
		free(cw);
		*socket_ctx = NULL;
		return;
	}
	if (cw) {
		(void)epoll_ctl(px->epfd, EPOLL_CTL_DEL, cw->tag.fd, NULL);
		if (cw->rq)
			cw->rq->cw = NULL;
		free(cw);
		*socket_ctx = NULL;
	}
}

static int connections_over(struct proxy *px)
{
	int over;

	pthread_mutex_lock(&px->limits);
	over = px->connections > px->pc.max_connections;
	pthread_mutex_unlock(&px->limits);
	return over;
}

/* Counts n more body bytes against proxy_max_total_body: 0, or -1 when
 * they would go over it. */
static int body_reserve(struct preq *rq, size_t n)
{
	struct proxy *px = rq->px;
	int ok;

	pthread_mutex_lock(&px->limits);
	ok = n <= px->pc.max_total_body - px->body_held;
	if (ok)
		px->body_held += n;
	pthread_mutex_unlock(&px->limits);
	if (!ok)
		return -1;
	rq->body_reserved += n;
	return 0;
}

/* Wipes and frees the body and gives its bytes back. */
static void body_drop(struct preq *rq)
{
	struct proxy *px = rq->px;

	if (rq->body) {
		explicit_bzero(rq->body, rq->body_len);
		free(rq->body);
	}
	rq->body = NULL;
	rq->body_len = rq->body_cap = 0;
	pthread_mutex_lock(&px->limits);
	px->body_held -= rq->body_reserved;
	pthread_mutex_unlock(&px->limits);
	rq->body_reserved = 0;
}

/* ---- the client's headers, for upstream ---- */

struct hdr_ctx {
	struct curl_slist *list;
	const char *connection; /* the Connection header: names more hop-by-hop headers */
	int oom;
};

static int header_dropped(const char *name, const char *connection)
{
	static const char *const drop[] = {
		"host",	   "authorization",	"x-api-key", "connection",     "keep-alive", "te",
		"trailer", "transfer-encoding", "upgrade",   "content-length", "expect"
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strcasecmp(name, drop[i]))
			return 1;
	return !strncasecmp(name, "proxy-", 6) || header_listed(connection, name, strlen(name));
}

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *name,
				 const char *value)
{
	struct hdr_ctx *h = cls;
	struct curl_slist *l;
	char *line;

	(void)kind;
	if (header_dropped(name, h->connection))
		return MHD_YES;
	if (asprintf(&line, "%s: %s", name, value ? value : "") < 0) {
		h->oom = 1;
		return MHD_NO;
	}
	l = curl_slist_append(h->list, line);
	free(line);
	if (!l) {
		h->oom = 1;
		return MHD_NO;
	}
	h->list = l;
	return MHD_YES;
}

/* ---- waiting on upstream: suspended, the client's socket watched ---- */

/* 0, or -1 when the client has hung up already: its transfer is then
 * cancelled and the request not suspended. */
static int suspend(struct preq *rq)
{
	if (rq->cw && rq->cw->hup) {
		upstream_abort(rq->up);
		return -1;
	}
	MHD_suspend_connection(rq->conn);
	rq->suspended = 1;
	return 0;
}

static void resume(struct preq *rq)
{
	if (!rq->suspended)
		return;
	rq->suspended = 0;
	rq->px->mhd_due = 1;
	MHD_resume_connection(rq->conn);
}

/* The transfer has news: its request, if suspended, looks again. */
static void on_upstream_news(void *ctx, struct upstream *u)
{
	(void)ctx;
	if (u->owner)
		resume(u->owner);
}

/* The client hung up: a request waiting on upstream ends. */
static void on_client_gone(struct client_watch *cw)
{
	struct preq *rq = cw->rq;

	cw->hup = 1;
	if (!rq || !rq->suspended)
		return; /* MHD sees it, or suspend will */
	if (rq->up)
		upstream_abort(rq->up);
	resume(rq);
}

/* ---- the response ---- */

static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct preq *rq = cls;
	long n;

	(void)pos;
	n = upstream_read(rq->up, buf, max);
	if (n > 0) {
		rq->bytes_out += (unsigned long long)n;
		return n;
	}
	if (n == UPSTREAM_LATER && suspend(rq) == 0)
		return 0; /* resumed by on_upstream_news */
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

/* The head is known: the answer goes out. */
static enum MHD_Result answer_upstream(struct MHD_Connection *c, struct preq *rq)
{
	struct upstream *u = rq->up;
	uint64_t size = MHD_SIZE_UNKNOWN;
	struct MHD_Response *r;
	enum MHD_Result ret;

	memcpy(rq->request_id, u->request_id, sizeof(rq->request_id));
	/* A HEAD or a 304 answer keeps the upstream's length and sends no
	 * body (MHD sends none for either). Its size must still be known:
	 * MHD 0.9.75 ends a body-less answer of unknown size with a last
	 * chunk, bytes a client reads as the start of its next answer on the
	 * connection. Without an upstream length it says Content-Length: 0.
	 * (A 204 gets no length header at all: MHD leaves it out.) */
	if (u->content_length >= 0)
		size = (uint64_t)u->content_length;
	else if (!strcmp(rq->method, "HEAD") || u->status == 304)
		size = 0;
	if (upstream_whole(u)) {
		/* the answer came whole with its head (a small non-streamed
		 * one): MHD sends head and body in one write */
		r = MHD_create_response_from_buffer(u->len, u->buf, MHD_RESPMEM_MUST_COPY);
		rq->bytes_out = u->len;
	} else {
		r = MHD_create_response_from_callback(size, READ_BLOCK, on_read, rq, NULL);
	}
	if (!r)
		return MHD_NO;
	for (struct curl_slist *l = u->resp_headers; l; l = l->next) {
		char *colon = strchr(l->data, ':');
		const char *v;

		if (!colon)
			continue;
		*colon = 0;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		/* MHD refuses a few names it manages itself; those are dropped */
		(void)MHD_add_response_header(r, l->data, v);
		*colon = ':';
	}
	rq->status = (unsigned)u->status;
	ret = MHD_queue_response(c, (unsigned)u->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Called again each time the suspended request is resumed. */
static enum MHD_Result answer_when_known(struct MHD_Connection *c, struct preq *rq)
{
	struct upstream *u = rq->up;

	if (u->aborted)
		return MHD_NO; /* the client went away */
	if (u->head_ready)
		return answer_upstream(c, rq);
	if (u->failed || u->done)
		return answer_error(c, rq, 502, "ProxyUpstreamError",
				    u->reason[0] ? u->reason : "The upstream answered nothing.");
	return suspend(rq) == 0 ? MHD_YES : MHD_NO;
}

static int upstream_prepare(struct preq *rq, struct MHD_Connection *c)
{
	const struct proxy_conf *pc = &rq->px->pc;
	struct hdr_ctx h = { NULL, NULL, 0 };
	struct upstream *u = upstream_new(&rq->px->env, rq);

	if (!u)
		return -1;
	rq->up = u;
	h.connection = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
	MHD_get_connection_values(c, MHD_HEADER_KIND, on_header, &h);
	u->headers = h.list;
	if (h.oom)
		return -1;
	if (asprintf(&u->url, "%s%s", pc->origin, rq->uri) < 0) {
		u->url = NULL;
		return -1;
	}
	ds_strcpy(u->method, sizeof(u->method), rq->method);
	u->body = rq->body;
	u->body_len = rq->body_len;
	u->anthropic = !strncmp(rq->uri, "/apps/anthropic/", 16);
	u->client_fd = rq->client_fd;
	return 0;
}

/* ---- the access handler ---- */

static unsigned check_request(const struct proxy_conf *pc, struct MHD_Connection *c,
			      const struct preq *rq, const char *method, const char *version,
			      const char **code, const char **msg)
{
	const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *why = head_malformed(c, rq, method, version);
	unsigned path;

	if (why) {
		*code = "BadRequest";
		*msg = why;
		return 400;
	}

	if (!strcmp(rq->method, "OPTIONS") || !strcmp(rq->method, "CONNECT") ||
	    !strcmp(rq->method, "TRACE")) {
		*code = "MethodNotAllowed",
		*msg = "This proxy answers no preflight or tunnel requests.";
		return 405;
	}
	if (!host_allowed(pc, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"))) {
		*code = "MisdirectedRequest";
		*msg = "The Host header does not name this proxy's address.";
		return 421;
	}
	path = rules_path(rq->uri, strlen(rq->uri), pc->coding, &why);
	if (path == 400) {
		*code = "BadRequest";
		*msg = why;
		return 400;
	}
	if (!caller_allowed(pc, c)) {
		*code = "InvalidApiKey";
		*msg = "The proxy key is missing or wrong; use the key dashscope-credential proxy gave you.";
		return 401;
	}
	if (path) {
		*code = "NotFound";
		*msg = why;
		return 404;
	}
	if (clen && strtoull(clen, NULL, 10) > pc->max_body) {
		*code = "RequestTooLarge";
		*msg = "The request body is larger than proxy_max_body.";
		return 413;
	}
	return 0;
}

/* 0, 413 over proxy_max_body, 503 over proxy_max_total_body (the
 * memory is counted before it is taken). */
static int body_append(struct preq *rq, const char *data, size_t n, size_t max)
{
	if (n > max - rq->body_len)
		return 413;
	if (rq->body_len + n > rq->body_cap) {
		size_t cap = rq->body_cap ? rq->body_cap : 16384;
		char *b;

		while (cap < rq->body_len + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		if (cap > rq->body_reserved && body_reserve(rq, cap - rq->body_reserved))
			return 503;
		b = realloc(rq->body, cap);
		if (!b)
			return 503;
		rq->body = b;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **ctx)
{
	struct proxy *px = cls;
	struct preq *rq = *ctx;
	const char *code, *msg;

	(void)url;
	if (!rq)
		return MHD_NO;
	if (!rq->started) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		rq->started = 1;
		const union MHD_ConnectionInfo *si =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		rq->conn = c;
		rq->cw = si ? si->socket_context : NULL;
		if (rq->cw)
			rq->cw->rq = rq;
		rq->client_fd = ci ? ci->connect_fd : -1;
		ds_strcpy(rq->method, sizeof(rq->method), method);
		if (connections_over(px)) {
			rq->close_after = 1;
			return answer_error(c, rq, 503, "ProxyBusy",
					    "The proxy has proxy_max_connections connections open.");
		}
		unsigned status = check_request(&px->pc, c, rq, method, version, &code, &msg);

		if (status)
			return answer_error(c, rq, status, code, msg);
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->refuse)
			rq->refuse = body_append(rq, upload, *upload_size, px->pc.max_body);
		if (rq->refuse)
			body_drop(rq); /* the rest is read and dropped */
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->up)
		return answer_when_known(c, rq);
	if (rq->refuse == 503)
		return answer_error(c, rq, 503, "ProxyBusy",
				    "The proxy holds proxy_max_total_body of request bodies; retry shortly.");
	if (rq->refuse)
		return answer_error(c, rq, 413, "RequestTooLarge",
				    "The request body is larger than proxy_max_body.");
	if (upstream_prepare(rq, c))
		return answer_error(c, rq, 500, "ProxyError", "Out of memory.");
	upstream_start(rq->up);
	return answer_when_known(c, rq);
}

/* ---- request bookkeeping and the log ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct preq *rq = calloc(1, sizeof(*rq));

	(void)c;
	if (!rq)
		return NULL;
	rq->px = cls;
	/* MHD hands over no target for a request line "GET " */
	rq->uri = strdup(uri ? uri : "");
	rq->uri_in_place = uri;
	rq->client_fd = -1;
	rq->t0 = clock_now_ms();
	if (!rq->uri) {
		free(rq);
		return NULL;
	}
	return rq;
}

/* The URL stays as the client sent it: encoded separators must be seen
 * (and refused), and the query goes upstream byte for byte. */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void log_line(const struct preq *rq)
{
	const struct proxy_host *host = &rq->px->host;
	time_t now = time(NULL);
	struct tm tm;
	char when[32], method[4 * 16], path[4 * 200], line[2560], why[4 * 160] = "";
	size_t plen = strcspn(rq->uri, "?");
	double secs = (double)(clock_now_ms() - rq->t0) / 1e3;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* the method and the path are the client's: no byte of theirs
	 * reaches a terminal as a control (rules_log_clean) */
	rules_log_clean(method, sizeof(method), rq->method, strlen(rq->method));
	rules_log_clean(path, sizeof(path), rq->uri, plen < 200 ? plen : 200);
	/* why the proxy answered 502 itself: a failed mint says what failed */
	if (rq->status == 502 && rq->up && rq->up->reason[0])
		rules_log_clean(why, sizeof(why), rq->up->reason, strnlen(rq->up->reason, 160));
	snprintf(line, sizeof(line), "%s %s %s %u in=%zu out=%llu %.3fs%s%s%s%s", when,
		 method[0] ? method : "-", path, rq->status, rq->body_len, rq->bytes_out, secs,
		 rq->request_id[0] ? " request_id=" : "", rq->request_id, why[0] ? " error: " : "",
		 why);
	host->log(host->ctx, line);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	struct proxy *px = cls;
	struct preq *rq = *ctx;

	(void)c;
	if (!rq)
		return;
	rq->suspended = 0; /* (only when the server stops) */
	if (rq->cw)
		rq->cw->rq = NULL;
	/* the line first: a 502's reason is the upstream's */
	if (!px->pc.quiet && rq->started)
		log_line(rq);
	if (rq->up)
		upstream_release(rq->up, why == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	rq->up = NULL;
	body_drop(rq);
	free(rq->uri);
	free(rq);
	*ctx = NULL;
}

/* ---- the event loop ---- */

#define SWEEP_MS 500

static int loop_timeout(struct proxy *px, long long next_sweep)
{
	long long now = clock_now_ms(), until = next_sweep;
	MHD_UNSIGNED_LONG_LONG mt;

	if (px->env.timer_at >= 0 && px->env.timer_at < until)
		until = px->env.timer_at;
	if (MHD_get_timeout(px->daemon, &mt) == MHD_YES && now + (long long)mt < until)
		until = now + (long long)mt;
	return until <= now ? 0 : (int)(until - now);
}

static int mhd_timeout_now(struct proxy *px)
{
	MHD_UNSIGNED_LONG_LONG mt;

	return MHD_get_timeout(px->daemon, &mt) == MHD_YES && mt == 0;
}

/* Resumes every suspended request (MHD may not stop with one) after
 * cancelling its transfer. */
static void loop_end(struct proxy *px)
{
	for (struct upstream *u = px->env.live; u; u = u->next) {
		struct preq *rq = u->owner;

		if (rq && rq->suspended) {
			upstream_abort(u);
			resume(rq);
		}
	}
}

static void *loop_run(void *arg)
{
	struct proxy *px = arg;
	long long next_sweep = clock_now_ms() + SWEEP_MS;
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(px->epfd, evs, 64, loop_timeout(px, next_sweep));

		for (int i = 0; i < n; i++) {
			struct loop_tag *t = evs[i].data.ptr;

			switch (t->kind) {
			case LOOP_STOP:
				loop_end(px);
				return NULL;
			case LOOP_MHD:
				px->mhd_due = 1;
				break;
			case LOOP_KEYS:
				upstream_on_keys(&px->env);
				break;
			case LOOP_CURL:
				upstream_on_socket(&px->env, t->fd, evs[i].events);
				break;
			case LOOP_CLIENT:
				on_client_gone((struct client_watch *)t);
				break;
			}
		}
		if (px->env.timer_at >= 0 && clock_now_ms() >= px->env.timer_at)
			upstream_on_timer(&px->env);
		if (clock_now_ms() >= next_sweep) {
			upstream_sweep(&px->env);
			next_sweep = clock_now_ms() + SWEEP_MS;
		}
		if (px->mhd_due || mhd_timeout_now(px)) {
			px->mhd_due = 0;
			(void)MHD_run(px->daemon);
		}
	}
}

static void proxy_stop(struct proxy *px)
{
	uint64_t one = 1;

	if (!px)
		return;
	if (px->loop_started) {
		if (write(px->stop.fd, &one, sizeof(one)) < 0) {
			/* an eventfd write fails only on overflow */
		}
		pthread_join(px->loop, NULL);
	}
	if (px->daemon)
		MHD_stop_daemon(px->daemon);
	upstream_env_free(&px->env);
	curl_global_cleanup();
	if (px->stop.fd >= 0)
		close(px->stop.fd);
	if (px->epfd >= 0)
		close(px->epfd);
	pthread_mutex_destroy(&px->limits);
	free(px);
}

static int loop_add(struct proxy *px, struct loop_tag *t)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = t;
	return epoll_ctl(px->epfd, EPOLL_CTL_ADD, t->fd, &ev);
}

static int proxy_start(const struct proxy_conf *pc, const struct proxy_host *host, int listen_fd,
		       struct proxy **out, struct ds_err *err)
{
	struct proxy *px = calloc(1, sizeof(*px));
	socklen_t sl = sizeof(px->listen_addr);
	const union MHD_DaemonInfo *di;

	*out = NULL;
	if (!px) {
		close(listen_fd);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	px->pc = *pc;
	px->host = *host;
	px->uid = geteuid();
	px->epfd = px->stop.fd = -1;
	px->env.keys.fd = -1;
	if (getsockname(listen_fd, (struct sockaddr *)&px->listen_addr, &sl) != 0 ||
	    pthread_mutex_init(&px->limits, NULL) != 0) {
		free(px);
		close(listen_fd);
		return ds_err_set(err, DS_EFAIL, "The proxy's listening socket cannot be used.");
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		pthread_mutex_destroy(&px->limits);
		free(px);
		close(listen_fd);
		return ds_err_set(err, DS_EFAIL, "libcurl could not be initialised.");
	}
	px->epfd = epoll_create1(EPOLL_CLOEXEC);
	px->stop.kind = LOOP_STOP;
	px->stop.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (px->epfd < 0 || px->stop.fd < 0 || loop_add(px, &px->stop) ||
	    upstream_env_init(&px->env, &px->pc, &px->host, px->epfd)) {
		close(listen_fd);
		proxy_stop(px);
		return ds_err_set(err, DS_EFAIL, "The proxy's event loop could not start.");
	}
	px->env.notify = on_upstream_news;
	px->env.notify_ctx = px;
	px->daemon =
		MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, on_accept, px,
				 on_request, px, MHD_OPTION_LISTEN_SOCKET, listen_fd,
				 MHD_OPTION_URI_LOG_CALLBACK, on_uri, px,
				 MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, px,
				 MHD_OPTION_NOTIFY_COMPLETED, on_completed, px,
				 MHD_OPTION_NOTIFY_CONNECTION, on_connection, px,
				 /* past the cap a connection is answered 503; further ones are
		 * not even taken */
				 MHD_OPTION_CONNECTION_LIMIT, pc->max_connections + 64,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)pc->idle_timeout,
				 /* MHD's default: a request head up to about 16 KiB; the pool
		 * is cleared after each request */
				 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
				 /* MHD's own checks (Host, spaces in the target); head_malformed
		 * does the rest */
				 MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
	if (!px->daemon) {
		close(listen_fd);
		proxy_stop(px);
		return ds_err_set(err, DS_EFAIL, "The proxy's HTTP server could not start.");
	}
	di = MHD_get_daemon_info(px->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	px->mhd.kind = LOOP_MHD;
	px->mhd.fd = di ? di->epoll_fd : -1;
	if (px->mhd.fd < 0 || loop_add(px, &px->mhd) ||
	    pthread_create(&px->loop, NULL, loop_run, px) != 0) {
		proxy_stop(px);
		return ds_err_set(err, DS_EFAIL, "The proxy's event loop could not start.");
	}
	px->loop_started = 1;
	*out = px;
	return DS_OK;
}

const struct proxy_ops dscred_proxy = { PROXY_ABI, proxy_start, proxy_stop };

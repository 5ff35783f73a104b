/* SPDX-License-Identifier: MIT */
/* The broker store (SPEC section 12), the client side of the broker: one
 * request per connection to its Unix socket, every step under a deadline,
 * the answer split into records for store.c, which checks them. The
 * keys are the administrator's: get, put and del are refused. */
#include "config.h"
#include "base/clock.h"
#include "base/debug.h"
#include "store/broker_wire.h"
#include "store/store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void broker_socket_path(char *out, size_t n)
{
	const char *over = getenv(BROKER_SOCKET_ENV);

	snprintf(out, n, "%s", over && *over ? over : BROKER_SOCKET_DEFAULT);
}

static int unreachable(const char *sock, const char *why, struct ds_err *err)
{
	return ds_err_set(err, DS_ESTORE,
			  "The broker at %s does not answer (%s); ask your administrator, or check 'systemctl status dashscope-credential-broker.socket'.",
			  sock, why);
}

/* Sends req and reads the whole answer (the broker closes after it), by
 * deadline. */
static int exchange(const char *sock, const char *req, long long deadline, char **answer,
		    size_t *alen, struct ds_err *err)
{
	struct sockaddr_un sa;
	size_t len = strlen(req), off = 0, cap = BROKER_ANSWER_MAX;
	char *buf;
	int fd, rc = DS_OK;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (ds_strcpy(sa.sun_path, sizeof(sa.sun_path), sock))
		return ds_err_set(err, DS_EINPUT, "The broker socket path is too long.");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return unreachable(sock, strerror(errno), err);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		rc = unreachable(sock, strerror(errno), err);
		close(fd);
		return rc;
	}
	while (off < len) {
		ssize_t w;

		if (clock_wait_fd(fd, POLLOUT, deadline)) {
			close(fd);
			return unreachable(sock, "timed out", err);
		}
		w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* a broker that answers at once (busy) and closes may have
		 * left its answer to read */
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (w < 0) {
			rc = unreachable(sock, strerror(errno), err);
			close(fd);
			return rc;
		}
		off += (size_t)w;
	}
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	off = 0;
	for (;;) {
		ssize_t got;

		if (clock_wait_fd(fd, POLLIN, deadline)) {
			rc = unreachable(sock, "no answer in time", err);
			break;
		}
		got = recv(fd, buf + off, cap - off, 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* a broker that answers busy at once and closes before our
		 * request arrived resets the connection behind its answer:
		 * what came is the whole answer */
		if (got < 0 && errno == ECONNRESET && off > 0)
			break;
		if (got < 0) {
			rc = unreachable(sock, strerror(errno), err);
			break;
		}
		if (got == 0)
			break;
		off += (size_t)got;
		if (off == cap) {
			rc = ds_err_set(err, DS_ESTORE, "The broker's answer is too long.");
			break;
		}
	}
	close(fd);
	if (rc) {
		explicit_bzero(buf, off);
		free(buf);
		return rc;
	}
	buf[off] = '\0';
	*answer = buf;
	*alen = off;
	return DS_OK;
}

#define BUSY_BACKOFF_FIRST_MS 20
#define BUSY_BACKOFF_MAX_MS 1000

/* exchange, tried again while the broker answers busy (one uid's 16
 * connections in use: a parallel build's callers wait their turn), with
 * its --debug line: the socket, the action and the time */
static int traced_exchange(const char *sock, const char *action, const char *req, char **answer,
			   size_t *alen, struct ds_err *err)
{
	/* the broker's mint may take three attempts plus backoff */
	long long t0 = clock_now_ms(), deadline = t0 + BROKER_CLIENT_TIMEOUT * 1000;
	int rc, backoff = BUSY_BACKOFF_FIRST_MS, tries = 1;

	for (;;) {
		rc = exchange(sock, req, deadline, answer, alen, err);
		if (rc || *alen < strlen(BROKER_BUSY_PREFIX) ||
		    memcmp(*answer, BROKER_BUSY_PREFIX, strlen(BROKER_BUSY_PREFIX)) ||
		    clock_left_ms(deadline, 0) <= backoff)
			break;
		free(*answer);
		*answer = NULL;
		poll(NULL, 0, backoff);
		backoff = backoff * 2 > BUSY_BACKOFF_MAX_MS ? BUSY_BACKOFF_MAX_MS : backoff * 2;
		tries++;
	}
	ds_debug("broker %s: action=%s: %s in %lld ms (%d %s)", sock, action,
		 rc ? "failed" : "answered", clock_now_ms() - t0, tries,
		 tries == 1 ? "try" : "tries");
	return rc;
}

/* One answer, split into lines in place. */
struct answer {
	const char *status, *code, *message;
	const char *name, *region, *workspace, *plan, *password, *expiry;
	char *lines[300];
	size_t nlines;
};

static int answer_parse(char *buf, size_t len, struct answer *a, struct ds_err *err)
{
	char *p = buf, *end = buf + len;

	memset(a, 0, sizeof(*a));
	if (memchr(buf, '\0', len) || memchr(buf, '\r', len) || !ds_utf8_valid(buf, len))
		return ds_err_set(err, DS_ESTORE, "The broker's answer is malformed.");
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		const char **slot = NULL;

		if (!nl)
			return ds_err_set(err, DS_ESTORE, "The broker's answer is truncated.");
		*nl = '\0';
		eq = strchr(p, '=');
		if (!eq)
			return ds_err_set(err, DS_ESTORE, "The broker's answer is malformed.");
		*eq = '\0';
		if (!strcmp(p, BROKER_FIELD_STATUS))
			slot = &a->status;
		else if (!strcmp(p, BROKER_FIELD_CODE))
			slot = &a->code;
		else if (!strcmp(p, BROKER_FIELD_MESSAGE))
			slot = &a->message;
		else if (!strcmp(p, BROKER_FIELD_PROFILE))
			slot = &a->name;
		else if (!strcmp(p, BROKER_FIELD_REGION))
			slot = &a->region;
		else if (!strcmp(p, BROKER_FIELD_WORKSPACE))
			slot = &a->workspace;
		else if (!strcmp(p, BROKER_FIELD_PLAN))
			slot = &a->plan;
		else if (!strcmp(p, BROKER_FIELD_PASSWORD))
			slot = &a->password;
		else if (!strcmp(p, BROKER_FIELD_EXPIRY))
			slot = &a->expiry;
		else if (!strcmp(p, BROKER_FIELD_LIST_ITEM) &&
			 a->nlines < sizeof(a->lines) / sizeof(a->lines[0]))
			a->lines[a->nlines++] = eq + 1;
		if (slot) {
			if (*slot) /* a repeated scalar: never pick one of two */
				return ds_err_set(err, DS_ESTORE,
						  "The broker's answer is malformed.");
			*slot = eq + 1;
		}
		p = nl + 1;
	}
	if (!a->status)
		return ds_err_set(err, DS_ESTORE, "The broker's answer has no status.");
	if (!strcmp(a->status, BROKER_STATUS_OK))
		return DS_OK;
	{
		unsigned long code = DS_EFAIL;

		if (!a->code || ds_parse_ulong(a->code, DS_EPOLICY, &code) || code == 0)
			code = DS_EFAIL;
		return ds_err_set(err, (int)code, "The broker refused: %.500s",
				  a->message ? a->message : "no reason given.");
	}
}

static int broker_open(const struct store_params *p, void **state, struct ds_err *err)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (p->socket ? ds_strcpy(path, sizeof(path), p->socket) != 0
		      : (broker_socket_path(path, sizeof(path)), strlen(path) + 1 >= sizeof(path)))
		return ds_err_set(err, DS_EINPUT, "The broker socket path is too long.");
	if (p->where)
		ds_strcpy(p->where, p->where_len, path);
	*state = strdup(path);
	return *state ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
}

static void broker_close(void *state)
{
	free(state);
}

/* "NAME,REGION,WORKSPACE,PLAN" as a record (store.c checks the fields). */
static int list_item(char *s, struct store_record *rec)
{
	char *f[4];

	memset(rec, 0, sizeof(*rec));
	for (int i = 0; i < 4; i++) {
		f[i] = s;
		s = i < 3 ? strchr(s, BROKER_LIST_SEP[0]) : NULL;
		if (i < 3 && !s)
			return -1;
		if (s)
			*s++ = '\0';
	}
	rec->name = f[0];
	rec->region = f[1];
	rec->workspace = f[2];
	rec->plan = f[3];
	return 0;
}

static int broker_list(void *state, const char *only, int with_secret, store_record_fn each,
		       void *ctx, struct ds_err *err)
{
	struct answer a;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	(void)with_secret; /* the broker never sends a long-lived key */
	rc = traced_exchange(state, BROKER_ACTION_LIST,
			     BROKER_FIELD_ACTION "=" BROKER_ACTION_LIST "\n\n", &buf, &len, err);
	if (rc)
		return rc;
	rc = answer_parse(buf, len, &a, err);
	for (size_t i = 0; rc == DS_OK && i < a.nlines; i++) {
		struct store_record rec;

		if (list_item(a.lines[i], &rec))
			rc = ds_err_set(err, DS_ESTORE, "The broker's profile list is malformed.");
		else if (!only || !strcmp(rec.name, only))
			rc = each(ctx, &rec);
	}
	free(buf);
	return rc;
}

static int holds_keys(struct ds_err *err)
{
	return ds_err_set(err, DS_EPOLICY,
			  "The store is the broker: the administrator holds the keys (sudo dashscope-credential add --system).");
}

static int broker_get(void *state, const char *name, store_record_fn each, void *ctx,
		      struct ds_err *err)
{
	(void)state;
	(void)name;
	(void)each;
	(void)ctx;
	return holds_keys(err);
}

static int broker_put(void *state, const struct store_record *rec, struct ds_err *err)
{
	(void)state;
	(void)rec;
	return holds_keys(err);
}

static int broker_del(void *state, const char *name, const char *secret, size_t secret_len,
		      int *found, struct ds_err *err)
{
	(void)state;
	(void)name;
	(void)secret;
	(void)secret_len;
	*found = 0;
	return holds_keys(err);
}

static int broker_mint(void *state, const char *name, unsigned long lifetime, store_record_fn each,
		       void *ctx, struct ds_err *err)
{
	struct answer a;
	struct store_record rec;
	char req[160], *buf = NULL;
	size_t len = 0;
	unsigned long exp = 0;
	int rc;

	snprintf(req, sizeof(req),
		 BROKER_FIELD_ACTION "=" BROKER_ACTION_GET "\n" BROKER_FIELD_PROFILE
				     "=%s\n" BROKER_FIELD_LIFETIME "=%lu\n\n",
		 name, lifetime);
	rc = traced_exchange(state, BROKER_ACTION_GET, req, &buf, &len, err);
	if (rc)
		return rc;
	rc = answer_parse(buf, len, &a, err);
	/* whatever the broker says, a long-lived key is never taken from it */
	if (rc == DS_OK && (!a.password || strncmp(a.password, "st-", 3) || !a.expiry ||
			    ds_parse_ulong(a.expiry, ~0ul, &exp)))
		rc = ds_err_set(err, DS_ESTORE, "The broker's answer for profile %s is malformed.",
				name);
	if (rc == DS_OK) {
		memset(&rec, 0, sizeof(rec));
		rec.name = a.name;
		rec.region = a.region;
		rec.workspace = a.workspace;
		rec.plan = a.plan;
		rec.secret = a.password;
		rec.secret_len = strlen(a.password);
		rec.expires_at = (long long)exp;
		rc = each(ctx, &rec);
	}
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

const struct store_ops store_broker_ops = {
	STORE_BACKEND_ABI, "broker",   broker_open, broker_close, broker_list,
	broker_get,	   broker_put, broker_del,  broker_mint,
};

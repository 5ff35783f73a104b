/* SPDX-License-Identifier: MIT */
/* One connection's I/O (SPEC section 12): the request read within its
 * deadline, in the line format and limits of section 4, and the answers
 * written in the wire format of store/broker_wire.h. */
#include "config.h"
#include "broker/broker_int.h"
#include "store/broker_wire.h"
#include "base/clock.h"
#include "conf/place.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_SLICE_MS 250 /* how long a read waits before it looks at the stop flag */
/* status=error, code=, message=; a profile[] line: name, region,
 * workspace, plan */
#define CONN_ERROR_FORMAT                                                  \
	BROKER_FIELD_STATUS "=" BROKER_STATUS_ERROR "\n" BROKER_FIELD_CODE \
			    "=%d\n" BROKER_FIELD_MESSAGE "=%s\n"
#define CONN_LIST_ITEM_FORMAT                                                                  \
	BROKER_FIELD_LIST_ITEM "=%s" BROKER_LIST_SEP "%s" BROKER_LIST_SEP "%s" BROKER_LIST_SEP \
			       "%s\n"

/* Feeds one line: action= is the broker's own; the rest goes to the
 * protocol reader, with its limits (SPEC section 4). */
static int conn_feed(struct request *req, char *action, const char *line, size_t len, int *end,
		     struct ds_err *err)
{
	static const char name[] = BROKER_FIELD_ACTION "=";
	const size_t nlen = sizeof(name) - 1;

	if (len >= nlen && !memcmp(line, name, nlen)) {
		if (action[0])
			return ds_err_set(err, DS_EINPUT,
					  "Malformed request: 'action' appears twice; nothing was done.");
		if (len - nlen >= BROKER_ACTION_MAX || memchr(line, '\0', len))
			return ds_err_set(err, DS_EINPUT,
					  "Malformed request: action must be get or list.");
		memcpy(action, line + nlen, len - nlen);
		action[len - nlen] = '\0';
		return DS_OK;
	}
	return request_feed_line(req, line, len, end, err);
}

/* Reads one request, up to the empty line or the end of input, giving up
 * BROKER_READ_TIMEOUT seconds after the call. A request over
 * BROKER_REQUEST_MAX bytes is refused as soon as its bytes say so: it never
 * costs more memory than that, whoever sends it (the rules come later). */
int broker_conn_read(int fd, struct request *req, char *action, struct ds_err *err)
{
	long long deadline = clock_deadline_in(BROKER_READ_TIMEOUT * 1000);
	char *line = malloc(BROKER_REQUEST_MAX + 1), chunk[4096];
	size_t len = 0, total = 0;
	int rc = DS_OK, end = 0;

	if (!line)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	while (!end && rc == DS_OK) {
		ssize_t got;

		if (clock_left_ms(deadline, 0) == 0) {
			rc = ds_err_set(err, DS_EINPUT, "No complete request within %d seconds.",
					BROKER_READ_TIMEOUT);
			break;
		}
		if (broker_stopping()) {
			rc = ds_err_set(err, DS_ENET, "The broker is stopping; try again.");
			break;
		}
		/* in slices, so that a stopping broker does not wait out a
		 * silent caller */
		if (clock_wait_fd(fd, POLLIN,
				  clock_deadline_in(clock_left_ms(deadline, CONN_SLICE_MS))))
			continue; /* the checks above end it */
		got = recv(fd, chunk, sizeof(chunk), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = ds_err_set(err, DS_EINPUT, "The request could not be read.");
			break;
		}
		if (got == 0) { /* end of input ends the request */
			if (len)
				rc = conn_feed(req, action, line, len, &end, err);
			break;
		}
		total += (size_t)got;
		if (total > BROKER_REQUEST_MAX) {
			rc = ds_err_set(err, DS_EINPUT,
					"Request too large: the broker reads at most %d bytes; nothing was done.",
					BROKER_REQUEST_MAX);
			break;
		}
		for (ssize_t i = 0; i < got && !end && rc == DS_OK; i++) {
			if (chunk[i] != '\n') {
				line[len++] = chunk[i];
				continue;
			}
			rc = conn_feed(req, action, line, len, &end, err);
			explicit_bzero(line, len);
			len = 0;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	explicit_bzero(line, BROKER_REQUEST_MAX + 1);
	free(line);
	return rc;
}

static void conn_send(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the caller went away or stopped reading */
		buf += w;
		len -= (size_t)w;
	}
}

void broker_conn_answer_error(int fd, const struct ds_err *e)
{
	char buf[800];
	int n = snprintf(buf, sizeof(buf), CONN_ERROR_FORMAT, e->code ? e->code : DS_EFAIL, e->msg);

	conn_send(fd, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The get fields of SPEC section 4, never a long-lived key (the caller
 * checked): nothing is sent when one cannot be written. */
void broker_conn_answer_key(int fd, const struct profile *p, const struct secret *key,
			    long long expires_at, const char *endpoint)
{
	struct endpoints ep;
	char *buf = NULL, num[32];
	size_t len = 0;
	FILE *out;
	int bad = 0;

	if (place_endpoints(&p->place, endpoint, &ep, NULL) != DS_OK)
		memset(&ep, 0, sizeof(ep));
	out = open_memstream(&buf, &len);
	if (!out)
		return;
	snprintf(num, sizeof(num), "%lld", expires_at);
	bad |= proto_write(out, BROKER_FIELD_STATUS, BROKER_STATUS_OK);
	bad |= proto_write(out, BROKER_FIELD_PROFILE, p->name);
	bad |= proto_write(out, BROKER_FIELD_REGION, p->place.region->id);
	bad |= proto_write(out, BROKER_FIELD_WORKSPACE, p->place.workspace);
	bad |= proto_write(out, BROKER_FIELD_PLAN, plan_name(p->place.plan));
	bad |= proto_write(out, BROKER_FIELD_PROTOCOL, "https");
	bad |= proto_write(out, BROKER_FIELD_HOST, ep.host);
	bad |= proto_write(out, BROKER_FIELD_USERNAME, p->name);
	bad |= proto_write(out, BROKER_FIELD_PASSWORD, key->data);
	bad |= proto_write(out, BROKER_FIELD_EXPIRY, num);
	bad |= proto_write(out, BROKER_FIELD_BASE_URL, ep.base_url);
	bad |= proto_write(out, BROKER_FIELD_ANTHROPIC_BASE_URL, ep.anthropic_base_url);
	bad |= proto_write(out, BROKER_FIELD_NATIVE_BASE_URL, ep.native_base_url);
	fclose(out);
	if (!bad)
		conn_send(fd, buf, len);
	explicit_bzero(buf, len);
	free(buf);
}

/* status=ok and one profile[] line per profile. */
int broker_conn_answer_list(int fd, const struct profile_list *l, struct ds_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	fputs(BROKER_FIELD_STATUS "=" BROKER_STATUS_OK "\n", out);
	for (size_t i = 0; i < l->n; i++)
		fprintf(out, CONN_LIST_ITEM_FORMAT, l->items[i].name, l->items[i].place.region->id,
			l->items[i].place.workspace, plan_name(l->items[i].place.plan));
	fclose(out);
	conn_send(fd, buf, len);
	free(buf);
	return DS_OK;
}

/* For at most a second and 1 MiB, after an early answer. */
void broker_conn_drain(int fd)
{
	long long deadline = clock_deadline_in(1000);
	size_t total = 0;
	char buf[4096];

	shutdown(fd, SHUT_WR);
	while (total < (1u << 20)) {
		ssize_t got;

		if (clock_wait_fd(fd, POLLIN, deadline))
			break;
		got = recv(fd, buf, sizeof(buf), 0);
		if (got <= 0)
			break;
		total += (size_t)got;
	}
	explicit_bzero(buf, sizeof(buf));
}

/* The busy answer (BROKER_BUSY_PREFIX); what the caller already sent is
 * read without waiting for more: the accept loop does not wait on anyone. */
void broker_conn_refuse(int fd, const struct ds_err *e)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), BROKER_BUSY_PREFIX BROKER_FIELD_MESSAGE "=%s\n", e->msg);

	conn_send(fd, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	n = 16;
	while (n-- > 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	explicit_bzero(buf, sizeof(buf));
}

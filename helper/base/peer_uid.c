/* SPDX-License-Identifier: MIT */
/* The owner of a TCP socket, asked of the kernel over NETLINK_SOCK_DIAG:
 * one exact inet_diag_req_v2 for the socket's 4-tuple, one answer with
 * its uid. Any user may ask; a socket the kernel does not find is no
 * answer. */
#include "config.h"
#include "base/clock.h"
#include "base/peer_uid.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PEER_UID_TIMEOUT_MS 1000 /* the kernel answers in microseconds */

/* Writes addr's address and port into the request's half; the family
 * the request must carry goes to *family (v4-mapped: AF_INET). */
static int peer_uid_put(const struct sockaddr *sa, __be32 addr[4], __be16 *port, int *family)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(addr, &in->sin_addr, 4);
		*port = in->sin_port;
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(addr, &in6->sin6_addr.s6_addr[12], 4);
			*family = AF_INET;
		} else {
			memcpy(addr, &in6->sin6_addr, 16);
			*family = AF_INET6;
		}
		*port = in6->sin6_port;
		return 0;
	}
	errno = EAFNOSUPPORT;
	return -1;
}

static int peer_uid_request(const struct sockaddr *local, const struct sockaddr *remote,
			    struct inet_diag_req_v2 *req)
{
	int lf, rf;

	memset(req, 0, sizeof(*req));
	if (peer_uid_put(local, req->id.idiag_src, &req->id.idiag_sport, &lf))
		return -1;
	rf = lf;
	if (remote && peer_uid_put(remote, req->id.idiag_dst, &req->id.idiag_dport, &rf))
		return -1;
	if (lf != rf) {
		errno = EINVAL;
		return -1;
	}
	req->sdiag_family = (__u8)lf;
	req->sdiag_protocol = IPPROTO_TCP;
	/* every state but TIME_WAIT: a socket there belongs to nobody any
	 * more, and the kernel reports it as uid 0 (a client that sent and
	 * closed before the accept would pass as root's) */
	req->idiag_states = ~0U & ~(1U << TCP_TIME_WAIT);
	req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	return 0;
}

/* Reads the one answer: a diag message with the uid, or an error. */
static int peer_uid_answer(int fd, __u32 seq, uid_t *uid)
{
	unsigned long ans[8192 / sizeof(unsigned long)]; /* aligned for nlmsghdr */
	ssize_t n = recv(fd, ans, sizeof(ans), 0);
	const struct nlmsghdr *h = (const void *)ans;
	size_t left;

	if (n < 0)
		return -1; /* errno from recv (EAGAIN past the timeout) */
	left = (size_t)n;
	for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
		if (h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			errno = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? -e->error
										     : EPROTO;
			return -1;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (m->idiag_state == TCP_TIME_WAIT) {
				errno = ENOENT;
				return -1;
			}
			*uid = (uid_t)m->idiag_uid;
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

int peer_uid_of_socket(const struct sockaddr *local, const struct sockaddr *remote, uid_t *uid)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = { PEER_UID_TIMEOUT_MS / 1000, (PEER_UID_TIMEOUT_MS % 1000) * 1000 };
	int fd = -1, rc = -1, e;

	memset(&msg, 0, sizeof(msg));
	if (peer_uid_request(local, remote, &msg.req))
		return -1;
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;
	msg.nlh.nlmsg_seq = (__u32)clock_now_ms() | 1;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		goto out;
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) !=
	    (ssize_t)sizeof(msg))
		goto out;
	rc = peer_uid_answer(fd, msg.nlh.nlmsg_seq, uid);
out:
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* base/: the loopback rule, the monotonic deadline and the kernel's word
 * on who owns a socket, in process. */
#include "config.h"
#include "check_main.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/loopback.h"
#include "base/peer_uid.h"

START_TEST(test_loopback_names_are_localhost_v6_one_and_127_quads)
{
	ck_assert(loopback_name("localhost"));
	ck_assert(loopback_name("LocalHost"));
	ck_assert(loopback_name("[::1]"));
	ck_assert(loopback_name("127.0.0.1"));
	ck_assert(loopback_name("127.255.3.4"));
}
END_TEST

START_TEST(test_loopback_names_refuse_what_only_looks_like_loopback)
{
	/* a resolver would look these up as names */
	ck_assert(!loopback_name("127.0.0.999"));
	ck_assert(!loopback_name("127.0.0.08"));
	ck_assert(!loopback_name("127.1"));
	ck_assert(!loopback_name("0x7f.0.0.1"));
	ck_assert(!loopback_name("localhost.example.com"));
	ck_assert(!loopback_name("128.0.0.1"));
	ck_assert(!loopback_name("::1")); /* a URL writes it in brackets */
	ck_assert(!loopback_name(""));
}
END_TEST

START_TEST(test_loopback_addresses_by_family)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	v4.sin_addr.s_addr = htonl(0x7f000001);
	ck_assert(loopback_sockaddr((struct sockaddr *)&v4));
	v4.sin_addr.s_addr = htonl(0x0a000001);
	ck_assert(!loopback_sockaddr((struct sockaddr *)&v4));
	v6.sin6_addr = in6addr_loopback;
	ck_assert(loopback_sockaddr((struct sockaddr *)&v6));
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:127.0.0.2", &v6.sin6_addr), 1);
	ck_assert(loopback_sockaddr((struct sockaddr *)&v6));
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:10.0.0.1", &v6.sin6_addr), 1);
	ck_assert(!loopback_sockaddr((struct sockaddr *)&v6));
	ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr), 1);
	ck_assert(!loopback_sockaddr((struct sockaddr *)&v6));
}
END_TEST

START_TEST(test_deadline_left_is_zero_once_passed_and_capped_when_asked)
{
	long long past = clock_now_ms() - 1, future = clock_deadline_in(60000);

	ck_assert_int_eq(clock_left_ms(past, 0), 0);
	ck_assert_int_gt(clock_left_ms(future, 0), 250);
	ck_assert_int_eq(clock_left_ms(future, 250), 250);
}
END_TEST

START_TEST(test_deadline_wait_times_out_on_a_silent_descriptor)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(clock_wait_fd(p[0], POLLIN, clock_deadline_in(20)), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(clock_wait_fd(p[0], POLLIN, clock_deadline_in(60000)), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* A listener on the loopback address of family, a client connected to it
 * and the accepted end; the addresses as each end sees itself. */
struct tcp_pair {
	int lfd, cfd, afd;
	struct sockaddr_storage laddr, caddr;
};

static int tcp_pair_make(int family, struct tcp_pair *p)
{
	socklen_t sl = sizeof(p->laddr);
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	struct sockaddr *a = family == AF_INET ? (struct sockaddr *)&v4 : (struct sockaddr *)&v6;
	socklen_t alen = family == AF_INET ? sizeof(v4) : sizeof(v6);

	v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	v6.sin6_addr = in6addr_loopback;
	p->lfd = socket(family, SOCK_STREAM, 0);
	if (p->lfd < 0 || bind(p->lfd, a, alen) != 0 || listen(p->lfd, 1) != 0 ||
	    getsockname(p->lfd, (struct sockaddr *)&p->laddr, &sl) != 0)
		return -1;
	p->cfd = socket(family, SOCK_STREAM, 0);
	if (p->cfd < 0 || connect(p->cfd, (struct sockaddr *)&p->laddr, sl) != 0)
		return -1;
	sl = sizeof(p->caddr);
	if (getsockname(p->cfd, (struct sockaddr *)&p->caddr, &sl) != 0)
		return -1;
	p->afd = accept(p->lfd, NULL, NULL);
	return p->afd < 0 ? -1 : 0;
}

static void tcp_pair_close(struct tcp_pair *p)
{
	close(p->afd);
	close(p->cfd);
	close(p->lfd);
}

START_TEST(test_peer_uid_names_the_owner_of_a_loopback_v4_client)
{
	struct tcp_pair p;
	uid_t uid = (uid_t)-1;

	ck_assert_int_eq(tcp_pair_make(AF_INET, &p), 0);
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.caddr,
					    (struct sockaddr *)&p.laddr, &uid),
			 0);
	ck_assert_int_eq(uid, getuid());
	tcp_pair_close(&p);
}
END_TEST

START_TEST(test_peer_uid_names_the_owner_of_a_loopback_v6_client)
{
	struct tcp_pair p;
	uid_t uid = (uid_t)-1;

	if (tcp_pair_make(AF_INET6, &p) != 0)
		return; /* no IPv6 here */
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.caddr,
					    (struct sockaddr *)&p.laddr, &uid),
			 0);
	ck_assert_int_eq(uid, getuid());
	tcp_pair_close(&p);
}
END_TEST

START_TEST(test_peer_uid_names_the_owner_of_a_listener)
{
	struct tcp_pair p;
	uid_t uid = (uid_t)-1;

	ck_assert_int_eq(tcp_pair_make(AF_INET, &p), 0);
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.laddr, NULL, &uid), 0);
	ck_assert_int_eq(uid, getuid());
	tcp_pair_close(&p);
}
END_TEST

START_TEST(test_peer_uid_finds_nothing_for_a_tuple_no_socket_has)
{
	struct tcp_pair p;
	uid_t uid = 4242;

	ck_assert_int_eq(tcp_pair_make(AF_INET, &p), 0);
	/* the client's port, but another peer: no such connection */
	((struct sockaddr_in *)&p.laddr)->sin_port ^= htons(1);
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.caddr,
					    (struct sockaddr *)&p.laddr, &uid),
			 -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(uid, 4242);
	tcp_pair_close(&p);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");

	ADD(tc, test_loopback_names_are_localhost_v6_one_and_127_quads);
	ADD(tc, test_loopback_names_refuse_what_only_looks_like_loopback);
	ADD(tc, test_loopback_addresses_by_family);
	ADD(tc, test_deadline_left_is_zero_once_passed_and_capped_when_asked);
	ADD(tc, test_deadline_wait_times_out_on_a_silent_descriptor);
	ADD(tc, test_peer_uid_names_the_owner_of_a_loopback_v4_client);
	ADD(tc, test_peer_uid_names_the_owner_of_a_loopback_v6_client);
	ADD(tc, test_peer_uid_names_the_owner_of_a_listener);
	ADD(tc, test_peer_uid_finds_nothing_for_a_tuple_no_socket_has);
	suite_add_tcase(s, tc);
	return s;
}

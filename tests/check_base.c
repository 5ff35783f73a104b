/* SPDX-License-Identifier: MIT */
/* base/: the loopback rule and the monotonic deadline, in process. */
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

Suite *suite_make(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");

	ADD(tc, test_loopback_names_are_localhost_v6_one_and_127_quads);
	ADD(tc, test_loopback_names_refuse_what_only_looks_like_loopback);
	ADD(tc, test_loopback_addresses_by_family);
	ADD(tc, test_deadline_left_is_zero_once_passed_and_capped_when_asked);
	ADD(tc, test_deadline_wait_times_out_on_a_silent_descriptor);
	suite_add_tcase(s, tc);
	return s;
}

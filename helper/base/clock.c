/* SPDX-License-Identifier: MIT */
/* The monotonic clock and the deadline wait (clock.h). */
#include "config.h"
#include "base/clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

long long clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_deadline_in(long long ms)
{
	return clock_now_ms() + ms;
}

int clock_left_ms(long long deadline, int cap)
{
	long long left = deadline - clock_now_ms();

	if (left <= 0)
		return 0;
	if (cap > 0 && left > cap)
		return cap;
	return left > INT_MAX ? INT_MAX : (int)left;
}

int clock_wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		int left = clock_left_ms(deadline, 0), r;

		if (left == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

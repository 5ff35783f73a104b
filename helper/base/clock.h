/* SPDX-License-Identifier: MIT */
/* The one monotonic clock and the one deadline wait, for every part that
 * waits on a descriptor: the broker and its client, the proxy, the PAM
 * module, the child runner. A deadline is an absolute CLOCK_MONOTONIC time
 * in milliseconds, so a loop that retries after EINTR never extends it. */
#ifndef DS_CLOCK_H
#define DS_CLOCK_H

/* CLOCK_MONOTONIC now, in milliseconds. */
long long clock_now_ms(void);

/* The deadline ms milliseconds from now. */
long long clock_deadline_in(long long ms);

/* Milliseconds left until deadline, as a poll(2) timeout: 0 when it has
 * passed, at most cap when cap > 0 (for waits taken in slices). */
int clock_left_ms(long long deadline, int cap);

/* Waits until fd is ready for events or deadline passes, retrying on
 * EINTR. 0 when ready, -1 with errno ETIMEDOUT at the deadline or errno
 * from poll(2). */
int clock_wait_fd(int fd, short events, long long deadline);

#endif

/* SPDX-License-Identifier: MIT */
/* Running CMD beside a long-running helper: one place for the fork, the
 * signal forwarding and the exit status. */
#include "config.h"
#include "base/child.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void wait_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
}

int child_signals_block(sigset_t *saved)
{
	sigset_t set;

	wait_set(&set);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || sigprocmask(SIG_BLOCK, &set, saved) != 0)
		return -1;
	return 0;
}

int child_start(char **argv, const sigset_t *saved, mode_t caller_umask,
		const struct rlimit *caller_core, const struct rlimit *caller_nofile, pid_t *pid,
		struct ds_err *err)
{
	fflush(NULL);
	*pid = fork();
	if (*pid < 0)
		return ds_err_set(err, DS_EFAIL, "Cannot start %.200s: %s.", argv[0],
				  strerror(errno));
	if (*pid == 0) {
		int e;

		umask(caller_umask);
		setrlimit(RLIMIT_CORE, caller_core);
		setrlimit(RLIMIT_NOFILE, caller_nofile);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, saved, NULL);
		execvp(argv[0], argv);
		e = errno;
		fprintf(stderr, "dashscope-credential: Cannot run %.200s: %s.\n", argv[0],
			strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	return DS_OK;
}

static long ms_left(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* 1 with *status when pid has ended. */
static int reap(pid_t pid, int *status)
{
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);

	if (r != pid)
		return 0;
	*status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
	return 1;
}

int child_wait(pid_t pid, long timeout_ms, int *status)
{
	struct timespec end;
	sigset_t set;

	wait_set(&set);
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (timeout_ms >= 0) {
		end.tv_sec += timeout_ms / 1000;
		end.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (end.tv_nsec >= 1000000000L) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000L;
		}
	}
	*status = 0;
	for (;;) {
		struct timespec slice = { 1, 0 };
		long left = timeout_ms >= 0 ? ms_left(&end) : 1000;
		int sig;

		if (pid > 0 && reap(pid, status))
			return 1;
		if (left <= 0)
			return 0;
		if (left < 1000) {
			slice.tv_sec = 0;
			slice.tv_nsec = left * 1000000L;
		}
		sig = sigtimedwait(&set, NULL, &slice);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		if (pid > 0)
			kill(pid, sig);
		else if (sig != SIGHUP)
			return 1;
	}
}

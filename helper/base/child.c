/* SPDX-License-Identifier: MIT */
/* Running CMD beside a long-running helper: one place for the fork, the
 * signal forwarding and the exit status. Between fork and exec the child
 * makes async-signal-safe calls only (threads may hold locks then). */
#include "config.h"
#include "base/child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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

/* name as execvp(3) would find it, searched before fork: a PATH walk
 * allocates, and after fork in a threaded program only async-signal-safe
 * calls may run. 0 with out set, else -1 with *e as execvp would give. */
static int child_find(const char *name, char *out, size_t n, int *e)
{
	const char *path = getenv("PATH"), *p;
	int found_denied = 0;

	*e = ENOENT;
	if (!*name)
		return -1;
	if (strchr(name, '/')) {
		if (ds_strcpy(out, n, name) == 0)
			return 0;
		*e = ENAMETOOLONG;
		return -1;
	}
	if (!path || !*path)
		path = "/bin:/usr/bin"; /* glibc's default */
	for (p = path;; p++) {
		const char *end = strchr(p, ':');
		int len = end ? (int)(end - p) : (int)strlen(p);
		struct stat sb;

		/* an empty element is the current directory */
		if (snprintf(out, n, "%.*s%s%s", len, p, len ? "/" : "", name) < (int)n &&
		    stat(out, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (access(out, X_OK) == 0)
				return 0;
			found_denied = 1;
		}
		if (!end)
			break;
		p = end;
	}
	if (found_denied)
		*e = EACCES;
	return -1;
}

/* The child's side: async-signal-safe calls only. An exec that fails
 * sends its errno to the parent through errfd (close-on-exec, so a
 * successful exec sends nothing). */
static void child_exec(const char *path, char *const argv[], char *const sh_argv[],
		       char *const envp[], const sigset_t *saved, mode_t caller_umask,
		       const struct rlimit *caller_core, const struct rlimit *caller_nofile,
		       int errfd)
{
	struct sigaction dfl;
	int e;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	umask(caller_umask);
	setrlimit(RLIMIT_CORE, caller_core);
	setrlimit(RLIMIT_NOFILE, caller_nofile);
	sigaction(SIGPIPE, &dfl, NULL);
	sigprocmask(SIG_SETMASK, saved, NULL);
	execve(path, argv, envp);
	/* as execvp does: a file the kernel cannot run is a shell script */
	if (errno == ENOEXEC)
		execve("/bin/sh", sh_argv, envp);
	e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		e = 0;
	_exit(127);
}

int child_start(char **argv, const sigset_t *saved, mode_t caller_umask,
		const struct rlimit *caller_core, const struct rlimit *caller_nofile, pid_t *pid,
		struct ds_err *err)
{
	char path[PATH_MAX], **sh_argv;
	size_t argc = 0;
	int pfd[2], e = 0, rc = DS_OK;
	ssize_t got;

	/* everything the child needs is made here, before fork */
	if (child_find(argv[0], path, sizeof(path), &e) != 0)
		goto cannot_run;
	while (argv[argc])
		argc++;
	sh_argv = calloc(argc + 2, sizeof(*sh_argv));
	if (!sh_argv)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	sh_argv[0] = (char *)"/bin/sh";
	sh_argv[1] = path;
	for (size_t i = 1; i < argc; i++)
		sh_argv[i + 1] = argv[i];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		free(sh_argv);
		return ds_err_set(err, DS_EFAIL, "Cannot start %.200s: %s.", argv[0],
				  strerror(errno));
	}
	fflush(NULL);
	*pid = fork();
	if (*pid == 0)
		child_exec(path, argv, sh_argv, environ, saved, caller_umask, caller_core,
			   caller_nofile, pfd[1]);
	e = errno;
	close(pfd[1]);
	free(sh_argv);
	if (*pid < 0) {
		close(pfd[0]);
		return ds_err_set(err, DS_EFAIL, "Cannot start %.200s: %s.", argv[0], strerror(e));
	}
	do
		got = read(pfd[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(pfd[0]);
	if (got != sizeof(e))
		return rc; /* it runs */
	while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
		;
	*pid = -1;
cannot_run:
	return ds_err_set(err, e == ENOENT ? 127 : 126, "Cannot run %.200s: %s.", argv[0],
			  strerror(e));
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

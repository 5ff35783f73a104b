/* SPDX-License-Identifier: MIT */
/* run_filter.h: posix_spawn (nothing of ours runs between fork and exec),
 * the input written into the pipe before the program starts (it is small,
 * so no SIGPIPE can reach us), stdout read under a deadline, stderr kept
 * in an anonymous memory file for the message (its last line). */
#include "config.h"
#include "base/run_filter.h"
#include "base/clock.h"
#include "base/file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_IN_MAX 4096 /* below any pipe's capacity: written before the start */

extern char **environ;

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The last line of what the program wrote on stderr: tools warn first
 * and say why they failed last. */
static void errline_read(int fd, char *out, size_t n)
{
	char buf[4096], *end, *start;
	off_t size = lseek(fd, 0, SEEK_END);
	ssize_t got;

	out[0] = '\0';
	if (size <= 0 ||
	    lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0, SEEK_SET) <
		    0)
		return;
	got = read(fd, buf, sizeof(buf) - 1);
	if (got <= 0)
		return;
	buf[got] = '\0';
	end = buf + got;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	got = end - start < (ssize_t)n - 1 ? end - start : (ssize_t)n - 1;
	memcpy(out, start, (size_t)got);
	out[got] = '\0';
	ds_sanitize(out);
}

/* Reads fd to its end into f->out; -1 with errno ETIMEDOUT or EFBIG. */
static int read_all(int fd, struct run_filter *f, long long deadline)
{
	size_t cap = f->max_out + 1;

	f->out = malloc(cap + 1);
	if (!f->out)
		return -1;
	f->outlen = 0;
	for (;;) {
		ssize_t got;

		if (clock_wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		got = read(fd, f->out + f->outlen, cap - f->outlen);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		f->outlen += (size_t)got;
		if (f->outlen > f->max_out) {
			errno = EFBIG;
			return -1;
		}
	}
	f->out[f->outlen] = '\0';
	return 0;
}

static int spawn(struct run_filter *f, int in, int out, int errfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int e;

	sigemptyset(&none);
	sigfillset(&dfl);
	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		return e;
	if ((e = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	/* the program starts with default dispositions (we ignore SIGPIPE)
	 * and nothing blocked, whatever this process holds */
	e = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	if (!e)
		e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!e)
		e = posix_spawnattr_setsigmask(&attr, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (!e)
		e = posix_spawn(pid, f->argv[0], &fa, &attr, (char *const *)f->argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}

int run_filter(struct run_filter *f, struct ds_err *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errfd = -1, e, st, rc = DS_OK;
	long long deadline = clock_deadline_in(f->timeout_ms);
	pid_t pid = -1;

	f->out = NULL;
	f->outlen = 0;
	f->status = -1;
	f->errline[0] = '\0';
	if (f->inlen > RUN_IN_MAX)
		return ds_err_set(err, DS_EFAIL, "Too much input for %s.", f->argv[0]);
	/* POSIX lets posix_spawn report a program it cannot execute as a child
	 * that exits 127 instead of an error (glibc's error comes back through
	 * memory the child shares with us, which valgrind's fork does not
	 * share): asked first, a program that cannot start is DS_EFAIL either
	 * way */
	if (faccessat(AT_FDCWD, f->argv[0], X_OK, AT_EACCESS) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot run %s: %s.", f->argv[0], strerror(errno));
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    (errfd = memfd_create("stderr", MFD_CLOEXEC)) < 0) {
		rc = ds_err_set(err, DS_EFAIL, "Cannot run %s: %s.", f->argv[0], strerror(errno));
		goto out;
	}
	if (file_write_all(in[1], f->in, f->inlen) != 0) {
		rc = ds_err_set(err, DS_EFAIL, "Cannot run %s: %s.", f->argv[0], strerror(errno));
		goto out;
	}
	close_fd(&in[1]);
	e = spawn(f, in[0], out[1], errfd, &pid);
	close_fd(&in[0]);
	close_fd(&out[1]);
	if (e) {
		pid = -1;
		rc = ds_err_set(err, DS_EFAIL, "Cannot run %s: %s.", f->argv[0], strerror(e));
		goto out;
	}
	if (read_all(out[0], f, deadline) != 0) {
		e = errno;
		kill(pid, SIGKILL);
		rc = ds_err_set(err, DS_EFAIL, "%s %s; it was stopped.", f->argv[0],
				e == ETIMEDOUT ? "did not finish in time"
				: e == EFBIG   ? "wrote more than expected"
					       : strerror(e));
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!rc)
		f->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	errline_read(errfd, f->errline, sizeof(f->errline));
out:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&errfd);
	if (rc)
		run_filter_free(f);
	return rc;
}

void run_filter_free(struct run_filter *f)
{
	if (f->out) {
		explicit_bzero(f->out, f->outlen);
		free(f->out);
	}
	f->out = NULL;
	f->outlen = 0;
}

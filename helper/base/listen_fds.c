/* SPDX-License-Identifier: MIT */
/* The socket passed by systemd (listen_fds.h): how many were passed, from
 * libsystemd or the environment, and whether the one is a listener we can
 * keep from our children. */
#include "config.h"
#include "base/listen_fds.h"
#include "base/util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* LISTEN_PID and LISTEN_FDS read by hand, as sd_listen_fds(3) reads them,
 * where libsystemd is not there. */
static int listen_fds_env(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	unsigned long v = 0, p = 0;
	int n = 0;

	if (pid && fds && !ds_parse_ulong(pid, 1ul << 30, &p) && (pid_t)p == getpid() &&
	    !ds_parse_ulong(fds, 64, &v))
		n = (int)v;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n;
}

/* sd_listen_fds from libsystemd, loaded here and only here: other
 * commands never pay for libsystemd and what it links (it is not linked
 * into the program). */
static int listen_fds_count(void)
{
#ifdef HAVE_LIBSYSTEMD
	void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	__typeof__(sd_listen_fds) *fn = NULL;

	if (h)
		*(void **)&fn = dlsym(h, "sd_listen_fds");
	if (fn)
		return fn(1); /* the handle stays: the program is a service now */
	if (h)
		dlclose(h);
#endif
	return listen_fds_env();
}

/* A stream socket in the listening state: what socket activation with
 * Accept=no passes. */
static int listen_fds_is_listener(int fd)
{
	int type = 0, acc = 0;
	socklen_t tl = sizeof(type), al = sizeof(acc);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc;
}

int listen_fds_take(const char *hint, int *fd, struct ds_err *err)
{
	const int first = 3; /* SD_LISTEN_FDS_START */
	int n = listen_fds_count();

	*fd = -1;
	if (n <= 0)
		return DS_OK;
	if (n > 1)
		return ds_err_set(err, DS_EINPUT,
				  "systemd passed %d sockets where one is wanted; %s.", n, hint);
	if (!listen_fds_is_listener(first))
		return ds_err_set(err, DS_EINPUT,
				  "The socket systemd passed is not a listening stream socket; %s.",
				  hint);
	if (fcntl(first, F_SETFD, FD_CLOEXEC) != 0)
		return ds_err_set(err, DS_EFAIL, "Cannot use the socket systemd passed: %s.",
				  strerror(errno));
	*fd = first;
	return DS_OK;
}
